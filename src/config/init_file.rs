//! The config file `hubup init` writes: an administrator's answers to the vendor's screens
//! ([`InitAnswers`]) as a commented `hubup.toml` ([`render_init_config`]) that says what each
//! value is for and where the vendor's default applies. The text is checked by the loader's
//! own validation before anyone writes it ([`InitAnswers::to_config_text`]), so a file
//! `init` writes always loads.
//!
//! Only what was answered is written; everything else stays out and takes the loader's
//! defaults, so a later hubup with better defaults is not pinned to this one's.

use std::collections::BTreeMap;
use std::path::Path;

use crate::components::COMPONENTS;
use crate::sql::{SqlAuth, SqlMode};

use super::{Config, ConfigError, DecisionConfig, SiteConfig};

/// What `hubup init` asked and was told. Paths are written as given (relative ones are then
/// relative to the config file's folder, as the loader reads them).
#[derive(Clone, Debug, Default)]
pub struct InitAnswers {
    pub root: String,
    pub apphost: Option<String>,
    pub packages: Option<String>,
    pub machine: Option<String>,
    pub machines: Vec<String>,
    pub journal: Option<String>,
    pub output: Option<String>,
    pub sql: InitSql,
    /// Per component key: the IIS setup screen's answers (only the fields answered).
    pub sites: BTreeMap<String, SiteConfig>,
    pub control_room_api_url: Option<String>,
    pub decision: Option<DecisionConfig>,
    /// `[host]`: `Some(state)` for a sandbox machine's state file, `None` for this server.
    pub sandbox_state: Option<String>,
    /// `[packages] trusted_keys`.
    pub trusted_keys: Vec<String>,
}

/// The SQL connection screens' answers.
#[derive(Clone, Debug, Default)]
pub struct InitSql {
    pub mode: SqlMode,
    pub server: String,
    pub auth: SqlAuth,
    pub user: Option<String>,
    pub password_env: Option<String>,
    pub encrypt: Option<String>,
    pub ca_file: Option<String>,
    pub trust_server_certificate: bool,
    /// Database names by `[sql.databases]` key, only those not left at the default.
    pub databases: BTreeMap<String, String>,
}

impl InitAnswers {
    /// The commented config text, checked as `Config::load` would check it (`origin` names
    /// the file in errors). Nothing is written here.
    pub fn to_config_text(&self, origin: &Path) -> Result<String, ConfigError> {
        let text = render_init_config(self);
        Config::parse(&text, origin)?;
        Ok(text)
    }
}

/// A TOML string literal (escaped as TOML needs; Windows paths keep their backslashes).
fn quoted(text: &str) -> String {
    toml::Value::String(text.to_string()).to_string()
}

fn line(out: &mut String, key: &str, value: &str) {
    out.push_str(&format!("{key} = {}\n", quoted(value)));
}

/// The commented text of `answers`. Use [`InitAnswers::to_config_text`], which checks it.
pub fn render_init_config(answers: &InitAnswers) -> String {
    let mut out = String::from(
        "# hubup's configuration, written by `hubup init` from the answers to the vendor's\n\
         # screens. Check it with `hubup check --to 4.5 --config <this file>`; see the plan with\n\
         # `hubup plan`. Relative paths are relative to this file's folder. Keys left out take\n\
         # the vendor's defaults (README.md, \"Configuration\", lists every key).\n\n",
    );
    render_install(&mut out, answers);
    render_sql(&mut out, &answers.sql);
    render_sites(&mut out, &answers.sites);
    render_optional(&mut out, answers);
    render_host_and_packages(&mut out, answers);
    out
}

fn render_install(out: &mut String, answers: &InitAnswers) {
    out.push_str("[install]\n# The installation location of Hub and Interact.\n");
    line(out, "root", &answers.root);
    if let Some(apphost) = &answers.apphost {
        out.push_str("# IIS's configuration file.\n");
        line(out, "apphost", apphost);
    }
    if let Some(packages) = &answers.packages {
        out.push_str("# The folder holding BluePrismHubAndInteractUpdate4.n.bin.\n");
        line(out, "packages", packages);
    }
    if let Some(machine) = &answers.machine {
        out.push_str("# The name the journal records for this machine.\n");
        line(out, "machine", machine);
    }
    if !answers.machines.is_empty() {
        out.push_str(
            "# The other web servers with Hub: the end-of-run checklist names them as still to\n\
             # upgrade.\n",
        );
        let names: Vec<String> = answers.machines.iter().map(|m| quoted(m)).collect();
        out.push_str(&format!("machines = [{}]\n", names.join(", ")));
    }
    if let Some(journal) = &answers.journal {
        out.push_str("\n[journal]\n# Where hubup records every change it makes.\n");
        line(out, "path", journal);
    }
    if let Some(output) = &answers.output {
        out.push_str("\n[output]\n# SQL scripts, receipts and reports.\n");
        line(out, "dir", output);
    }
}

fn mode_name(mode: SqlMode) -> &'static str {
    match mode {
        SqlMode::Execute => "execute",
        SqlMode::Script => "script",
        SqlMode::Preprovisioned => "preprovisioned",
    }
}

fn render_sql(out: &mut String, sql: &InitSql) {
    out.push_str(
        "\n# The SQL connection screens. mode: execute (hubup connects and creates the new\n\
         # databases, as the wizard does), script (hubup writes the T-SQL for a DBA) or\n\
         # preprovisioned (a DBA created them; hubup checks).\n[sql]\n",
    );
    line(out, "mode", mode_name(sql.mode));
    out.push_str("# host, host\\instance or host,port.\n");
    line(out, "server", &sql.server);
    match sql.auth {
        SqlAuth::Windows => {
            out.push_str(
                "# Windows authentication: the applications use their app pools' identities.\n",
            );
            line(out, "auth", "windows");
        }
        SqlAuth::Sql => {
            out.push_str("# SQL authentication. The password is never in this file: it is read from the\n# environment variable password_env names.\n");
            line(out, "auth", "sql");
            if let Some(user) = &sql.user {
                line(out, "user", user);
            }
            if let Some(var) = &sql.password_env {
                line(out, "password_env", var);
            }
        }
    }
    if let Some(encrypt) = &sql.encrypt {
        out.push_str("# Encrypt the connection: off, on or required.\n");
        line(out, "encrypt", encrypt);
    }
    if let Some(ca_file) = &sql.ca_file {
        out.push_str("# The CA certificate (PEM) that issued the server's certificate.\n");
        line(out, "ca_file", ca_file);
    }
    if sql.trust_server_certificate {
        out.push_str("# Any server certificate is accepted: only on a network you trust.\ntrust_server_certificate = true\n");
    }
    if !sql.databases.is_empty() {
        out.push_str(
            "\n# Database names that differ from the vendor's defaults.\n[sql.databases]\n",
        );
        for (key, name) in &sql.databases {
            line(out, key, name);
        }
    }
}

fn render_sites(out: &mut String, sites: &BTreeMap<String, SiteConfig>) {
    // In the vendor's order, as the screens come.
    for info in COMPONENTS.iter() {
        let Some(site) = sites.get(info.key) else {
            continue;
        };
        out.push_str(&format!(
            "\n# The {} IIS setup screen (defaults: {:?}, https://{}:443).\n[sites.{}]\n",
            info.site_from_4_3.trim_start_matches("Blue Prism - "),
            info.site_from_4_3,
            info.host,
            info.key
        ));
        if let Some(name) = &site.name {
            line(out, "name", name);
        }
        if let Some(host) = &site.host {
            line(out, "host", host);
        }
        if let Some(port) = site.port {
            out.push_str(&format!("port = {port}\n"));
        }
        if let Some(certificate) = &site.certificate {
            out.push_str(
                "# The SSL certificate in LocalMachine\\My: thumbprint or friendly name.\n",
            );
            line(out, "certificate", certificate);
        }
        if let Some(start) = site.start {
            out.push_str(&format!(
                "# The wizard's \"Start Website\".\nstart = {start}\n"
            ));
        }
    }
}

fn render_optional(out: &mut String, answers: &InitAnswers) {
    if answers.control_room_api_url.is_none() && answers.decision.is_none() {
        return;
    }
    out.push_str("\n# The optional screens.\n[optional]\n");
    if let Some(url) = &answers.control_room_api_url {
        out.push_str("# The Blue Prism API URL, for the Control Room plugin (4.3).\n");
        line(out, "control_room_api_url", url);
    }
    if let Some(decision) = &answers.decision {
        out.push_str(
            "\n# Blue Prism Decision (4.5): the model service, https://<FQDN>:<port>, and its\n\
             # certificate, which must be for that FQDN.\n[optional.decision]\n",
        );
        line(out, "model_service_url", &decision.model_service_url);
        line(out, "certificate", &decision.certificate);
        if let Some(ca_file) = &decision.ca_file {
            out.push_str("# The CA (PEM) that issued the model service's certificate.\n");
            line(out, "ca_file", &ca_file.display().to_string());
        }
    }
}

fn render_host_and_packages(out: &mut String, answers: &InitAnswers) {
    if let Some(state) = &answers.sandbox_state {
        out.push_str(
            "\n# A sandbox machine: IIS, services, bindings and certificates are this state file.\n\
             [host]\nadapter = \"sandbox\"\n",
        );
        line(out, "state", state);
    }
    if !answers.trusted_keys.is_empty() {
        out.push_str(
            "\n# The keys whose signatures on update packages hubup accepts.\n[packages]\n",
        );
        let keys: Vec<String> = answers.trusted_keys.iter().map(|k| quoted(k)).collect();
        out.push_str(&format!("trusted_keys = [{}]\n", keys.join(", ")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers() -> InitAnswers {
        let mut sites = BTreeMap::new();
        sites.insert(
            "license_manager".to_string(),
            SiteConfig {
                host: Some("licensemanager.corp.example.com".into()),
                port: Some(8443),
                certificate: Some("LM \"Prod\" cert".into()),
                start: Some(false),
                ..SiteConfig::default()
            },
        );
        InitAnswers {
            root: r"C:\Program Files (x86)\Blue Prism".into(),
            machines: vec!["WEB02".into()],
            sql: InitSql {
                mode: SqlMode::Execute,
                server: r"SQL01\HUB,1433".into(),
                auth: SqlAuth::Sql,
                user: Some("hubup".into()),
                password_env: Some("HUBUP_SQL_PASSWORD".into()),
                databases: [("license_manager".to_string(), "LM_Prod".to_string())].into(),
                ..InitSql::default()
            },
            sites,
            control_room_api_url: Some("https://bpapi.corp.example.com".into()),
            decision: Some(DecisionConfig {
                model_service_url: "https://decision.corp.example.com:50051".into(),
                certificate: "DecisionCert".into(),
                ca_file: None,
            }),
            ..InitAnswers::default()
        }
    }

    #[test]
    fn every_answer_reads_back_through_the_loader() {
        let text = answers().to_config_text(Path::new("hubup.toml")).unwrap();
        let config = Config::parse(&text, Path::new("hubup.toml")).unwrap();
        assert_eq!(
            config.install.root,
            Path::new(r"C:\Program Files (x86)\Blue Prism")
        );
        assert_eq!(config.install.machines, ["WEB02"]);
        assert_eq!(config.sql.server, r"SQL01\HUB,1433");
        assert_eq!(config.sql.databases["license_manager"], "LM_Prod");
        let lm = config.site(crate::components::Component::LicenseManager);
        assert_eq!(lm.host, "licensemanager.corp.example.com");
        assert_eq!(lm.port, 8443);
        assert_eq!(lm.certificate.as_deref(), Some("LM \"Prod\" cert"));
        assert!(!lm.start);
        assert_eq!(
            config.optional.decision.unwrap().model_service_url,
            "https://decision.corp.example.com:50051"
        );
        assert!(
            text.contains("# The License Manager IIS setup screen"),
            "{text}"
        );
    }

    #[test]
    fn an_answer_the_loader_refuses_is_refused_by_key() {
        let mut bad = answers();
        bad.sites.get_mut("license_manager").unwrap().host = Some("LicenseManager.local".into());
        let err = bad.to_config_text(Path::new("hubup.toml")).unwrap_err();
        assert!(
            err.to_string().contains("sites.license_manager.host"),
            "{err}"
        );
    }
}
