//! `hubup init`: asks what the vendor's upgrade wizards ask on their screens and writes a
//! commented `hubup.toml` that `hubup check` reads back. The screens are those of the steps
//! the install still has ahead (its installed version is read when the install location is
//! on this machine): the SQL connection with its connection test, the new databases' names,
//! License Manager's and Notification Center's IIS setup (lowercase host names whose first
//! part stays the vendor's, ports, certificates offered from the machine's store), the Blue
//! Prism API URL and Decision. Existing sites' host names and ports are read from IIS.
//!
//! Each answer is checked as the config loader checks it and asked again when refused. Flags
//! answer in advance; off a terminal, or with `--non-interactive`, the flags and the
//! defaults are the answers and a refused one stops `init`, naming its flag. Nothing is
//! written unless the whole file loads; an existing file is replaced only with `--force`.

use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use hubup::{
    AdapterKind, COMPONENTS, Certificate, CommandTemplates, ComponentInfo, ConfiguredSite,
    DecisionConfig, HostConfig, HostSetup, InitAnswers, InitSql, ServerAddress, Session,
    SiteConfig, SqlAuth, SqlConfig, SqlMode, Version, resolve_certificate,
};

use super::{Cause, CommandResult, Exit, Failure};

/// The vendor's installation location.
const DEFAULT_ROOT: &str = r"C:\Program Files (x86)\Blue Prism";
const DEFAULT_APPHOST: &str = r"C:\Windows\System32\inetsrv\config\applicationHost.config";
const DEFAULT_PASSWORD_ENV: &str = "HUBUP_SQL_PASSWORD";

#[derive(Args, Debug)]
pub(crate) struct InitArgs {
    /// Where to write the config; `-` writes it to standard output.
    #[arg(long, default_value = "hubup.toml")]
    pub out: PathBuf,
    /// Replace the file at --out if there is one.
    #[arg(long)]
    pub force: bool,
    /// Ask nothing: the flags and the defaults are the answers (also the case when standard
    /// input is not a terminal).
    #[arg(long)]
    pub non_interactive: bool,
    /// The installation location [default: C:\Program Files (x86)\Blue Prism].
    #[arg(long)]
    pub root: Option<String>,
    /// IIS's applicationHost.config.
    #[arg(long)]
    pub apphost: Option<String>,
    /// The folder holding the update packages [default: the config's folder].
    #[arg(long)]
    pub packages: Option<String>,
    /// The journal file [default: the platform's].
    #[arg(long)]
    pub journal: Option<String>,
    /// The other web servers with Hub, comma-separated (the end-of-run checklist names them).
    #[arg(long, value_delimiter = ',')]
    pub machines: Vec<String>,
    /// How hubup does the database work [default: script].
    #[arg(long, value_enum)]
    pub sql_mode: Option<ModeArg>,
    /// The SQL Server: host, host\instance or host,port.
    #[arg(long)]
    pub sql_server: Option<String>,
    /// How hubup and the applications log in to SQL Server [default: windows].
    #[arg(long, value_enum)]
    pub sql_auth: Option<AuthArg>,
    /// SQL authentication: the login hubup uses (dbcreator or sysadmin).
    #[arg(long)]
    pub sql_user: Option<String>,
    /// SQL authentication: the environment variable holding the password [default:
    /// HUBUP_SQL_PASSWORD]. The password itself is never written.
    #[arg(long)]
    pub sql_password_env: Option<String>,
    /// Encrypt the SQL connection: off, on or required.
    #[arg(long)]
    pub sql_encrypt: Option<String>,
    /// A PEM file with the CA certificate that issued the SQL Server's certificate.
    #[arg(long)]
    pub sql_ca_file: Option<String>,
    /// Do not test the SQL connection (execute and preprovisioned modes test it).
    #[arg(long)]
    pub skip_connection_test: bool,
    /// A database's name, KEY=NAME (license_manager, notification_center, iada,
    /// email_service, decision); repeatable.
    #[arg(long = "database", value_name = "KEY=NAME")]
    pub databases: Vec<String>,
    /// A new site's IIS site name, COMPONENT=NAME (license_manager, notification_center).
    #[arg(long = "site-name", value_name = "COMPONENT=NAME")]
    pub site_names: Vec<String>,
    /// A new site's host name, COMPONENT=HOST (lowercase; only the `.local` part may change).
    #[arg(long = "site-host", value_name = "COMPONENT=HOST")]
    pub site_hosts: Vec<String>,
    /// A new site's HTTPS port, COMPONENT=PORT.
    #[arg(long = "site-port", value_name = "COMPONENT=PORT")]
    pub site_ports: Vec<String>,
    /// A new site's SSL certificate (thumbprint or friendly name), COMPONENT=CERTIFICATE.
    #[arg(long = "site-certificate", value_name = "COMPONENT=CERTIFICATE")]
    pub site_certificates: Vec<String>,
    /// Do not start this new site at the end of its step (the wizard's "Start Website").
    #[arg(long = "site-no-start", value_name = "COMPONENT")]
    pub site_no_start: Vec<String>,
    /// The Blue Prism API URL, for the Control Room plugin (4.3, optional).
    #[arg(long)]
    pub control_room_api_url: Option<String>,
    /// Blue Prism Decision's model service, https://<FQDN>:<port> (4.5, optional).
    #[arg(long, requires = "decision_certificate")]
    pub decision_url: Option<String>,
    /// The model service's SSL certificate (thumbprint or friendly name).
    #[arg(long, requires = "decision_url")]
    pub decision_certificate: Option<String>,
    /// A PEM file with the CA that issued the model service's certificate (`check` verifies
    /// its TLS against the machine's roots and this CA).
    #[arg(long, requires = "decision_url")]
    pub decision_ca_file: Option<String>,
    /// A sandbox machine's state file instead of this server (the demo's `machine.json`).
    #[arg(long)]
    pub sandbox_state: Option<String>,
    /// A package signer's public key to trust; repeatable.
    #[arg(long = "trusted-key")]
    pub trusted_keys: Vec<String>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum ModeArg {
    Execute,
    Script,
    Preprovisioned,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum AuthArg {
    Windows,
    Sql,
}

/// `hubup init`.
pub(crate) fn run(args: InitArgs) -> CommandResult {
    let to_stdout = args.out.as_os_str() == "-";
    if !to_stdout && args.out.exists() && !args.force {
        return Err(argument(format!(
            "{} exists: give --force to replace it, or --out to write another file; nothing \
             was written",
            args.out.display()
        )));
    }
    let interactive = !args.non_interactive && std::io::stdin().is_terminal();
    let mut asker = Asker { interactive };
    if interactive {
        errln!(
            "hubup init: the vendor's screens, one question at a time. Enter keeps the value \
             in [brackets]; Ctrl-D stops without writing anything."
        );
    }
    let answers = Interview::new(&args, &mut asker)?.answers()?;
    let origin = if to_stdout {
        PathBuf::from("hubup.toml")
    } else {
        args.out.clone()
    };
    let text = answers.to_config_text(&origin).map_err(|error| {
        Failure::of(Cause::Config {
            error,
            hint: "; nothing was written",
        })
    })?;
    if to_stdout {
        out!("{text}");
    } else {
        super::output::write_file_atomically(&args.out, text.as_bytes())?;
        outln!(
            "wrote {}; next: hubup check --to 4.5 --config {}",
            args.out.display(),
            args.out.display()
        );
    }
    Ok(Exit::Ok)
}

fn argument(message: String) -> Failure {
    Failure::of(Cause::Argument(message))
}

/// Asks on the terminal, or takes the given answer when there is no one to ask.
struct Asker {
    interactive: bool,
}

/// One question: its words, the flag that answers it, the answer given in advance and the
/// default.
struct Question<'a> {
    text: &'a str,
    flag: &'a str,
    given: Option<String>,
    default: Option<String>,
}

impl Asker {
    /// The answer to `question`, checked by `check` (which may turn it into any value). A
    /// refused answer is asked again on a terminal; off one, it stops `init`.
    fn ask<T>(
        &mut self,
        question: Question<'_>,
        check: impl Fn(&str) -> Result<T, String>,
    ) -> Result<T, Failure> {
        let mut given = question.given.clone();
        loop {
            let answer = match given.take() {
                Some(answer) => answer,
                None if self.interactive => self.read(&question)?,
                None => question.default.clone().unwrap_or_default(),
            };
            match check(answer.trim()) {
                Ok(value) => return Ok(value),
                Err(problem) if self.interactive => errln!("  {problem}"),
                Err(problem) => {
                    return Err(argument(format!(
                        "{}: {problem}; nothing was written",
                        question.flag
                    )));
                }
            }
        }
    }

    /// A yes/no question; `default` when Enter is pressed.
    fn confirm(&mut self, text: &str, given: Option<bool>, default: bool) -> Result<bool, Failure> {
        if let Some(given) = given {
            return Ok(given);
        }
        let shown = if default { "Y/n" } else { "y/N" };
        self.ask(
            Question {
                text: &format!("{text} ({shown})"),
                flag: "",
                given: None,
                default: Some(if default { "y" } else { "n" }.into()),
            },
            |answer| match answer.to_ascii_lowercase().as_str() {
                "" => Ok(default),
                "y" | "yes" => Ok(true),
                "n" | "no" => Ok(false),
                _ => Err("answer y or n".into()),
            },
        )
    }

    fn read(&mut self, question: &Question<'_>) -> Result<String, Failure> {
        match &question.default {
            Some(d) if !d.is_empty() => {
                super::output::err(format_args!("{} [{d}]: ", question.text))
            }
            _ => super::output::err(format_args!("{}: ", question.text)),
        }
        let mut line = String::new();
        let read = std::io::stdin().lock().read_line(&mut line);
        match read {
            Ok(0) | Err(_) => Err(Failure::of(Cause::Argument(
                "init stopped before the last answer; nothing was written".into(),
            ))),
            Ok(_) if line.trim().is_empty() => Ok(question.default.clone().unwrap_or_default()),
            Ok(_) => Ok(line.trim().to_string()),
        }
    }
}

/// `KEY=VALUE` flags by key, each key checked against `keys`.
fn keyed(flag: &str, values: &[String], keys: &[&str]) -> Result<Vec<(String, String)>, Failure> {
    values
        .iter()
        .map(|pair| {
            let (key, value) = pair.split_once('=').ok_or_else(|| {
                argument(format!(
                    "{flag} {pair:?}: expected KEY=VALUE; nothing was written"
                ))
            })?;
            if !keys.contains(&key) {
                return Err(argument(format!(
                    "{flag} {pair:?}: unknown key {key:?}; known: {}; nothing was written",
                    keys.join(", ")
                )));
            }
            Ok((key.to_string(), value.to_string()))
        })
        .collect()
}

fn lookup(pairs: &[(String, String)], key: &str) -> Option<String> {
    pairs
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
}

/// The questions of `hubup init` and the answers so far.
struct Interview<'a> {
    args: &'a InitArgs,
    asker: &'a mut Asker,
    databases: Vec<(String, String)>,
    site_names: Vec<(String, String)>,
    site_hosts: Vec<(String, String)>,
    site_ports: Vec<(String, String)>,
    site_certificates: Vec<(String, String)>,
    /// The machine's certificates, when its store can be listed.
    certificates: Option<Vec<Certificate>>,
    answers: InitAnswers,
}

/// The components whose sites the wizard creates (the only IIS setup screens).
const NEW_SITES: [&str; 2] = ["license_manager", "notification_center"];

impl<'a> Interview<'a> {
    fn new(args: &'a InitArgs, asker: &'a mut Asker) -> Result<Interview<'a>, Failure> {
        for component in &args.site_no_start {
            if !NEW_SITES.contains(&component.as_str()) {
                return Err(argument(format!(
                    "--site-no-start {component:?}: known: {}; nothing was written",
                    NEW_SITES.join(", ")
                )));
            }
        }
        Ok(Interview {
            databases: keyed("--database", &args.databases, &NEW_DATABASES)?,
            site_names: keyed("--site-name", &args.site_names, &NEW_SITES)?,
            site_hosts: keyed("--site-host", &args.site_hosts, &NEW_SITES)?,
            site_ports: keyed("--site-port", &args.site_ports, &NEW_SITES)?,
            site_certificates: keyed("--site-certificate", &args.site_certificates, &NEW_SITES)?,
            args,
            asker,
            certificates: None,
            answers: InitAnswers::default(),
        })
    }

    fn answers(mut self) -> Result<InitAnswers, Failure> {
        let installed = self.install()?;
        self.host_adapter_and_certificates();
        self.existing_sites();
        self.sql()?;
        let ahead = |version: Version| installed.is_none_or(|v| v < version);
        if ahead(Version::V4_2) {
            for key in ["license_manager", "notification_center", "iada"] {
                self.database_name(key)?;
            }
            for info in COMPONENTS.iter().filter(|c| NEW_SITES.contains(&c.key)) {
                self.new_site(info)?;
            }
        }
        if ahead(Version::V4_3) {
            self.database_name("email_service")?;
            self.control_room_api_url()?;
        }
        if ahead(Version::V4_5) {
            self.decision()?;
        }
        self.machines()?;
        self.answers.trusted_keys = self.args.trusted_keys.clone();
        Ok(self.answers)
    }

    /// The install location, IIS's config and the packages; the installed version if the
    /// install is on this machine (it decides which screens are still ahead).
    fn install(&mut self) -> Result<Option<Version>, Failure> {
        let root = self.asker.ask(
            Question {
                text: "Installation location of Hub and Interact",
                flag: "--root",
                given: self.args.root.clone(),
                default: Some(DEFAULT_ROOT.into()),
            },
            non_empty,
        )?;
        let installed = match hubup::detect(&self.local(&root)) {
            Ok(found) => {
                errln!("  found Hub and Interact {} there", found.version);
                Some(found.version)
            }
            Err(e) => {
                errln!("  note: {e}; asking every step's screens");
                None
            }
        };
        let apphost = self.asker.ask(
            Question {
                text: "IIS's applicationHost.config",
                flag: "--apphost",
                given: self.args.apphost.clone(),
                default: Some(DEFAULT_APPHOST.into()),
            },
            non_empty,
        )?;
        let packages = self.asker.ask(
            Question {
                text: "Folder holding the update packages (BluePrismHubAndInteractUpdate4.n.bin)",
                flag: "--packages",
                given: self.args.packages.clone(),
                default: Some(".".into()),
            },
            non_empty,
        )?;
        self.answers.root = root;
        self.answers.apphost = (apphost != DEFAULT_APPHOST).then_some(apphost);
        self.answers.packages = (packages != ".").then_some(packages);
        self.answers.journal = self.args.journal.clone();
        self.answers.sandbox_state = self.args.sandbox_state.clone();
        Ok(installed)
    }

    /// A path as written in the config, as this process reaches it (relative to the config's
    /// folder, as the loader reads it).
    fn local(&self, written: &str) -> PathBuf {
        let path = PathBuf::from(written);
        if path.is_absolute() || written.get(1..3) == Some(":\\") {
            return path;
        }
        match self.args.out.parent() {
            Some(folder) if self.args.out.as_os_str() != "-" => folder.join(path),
            _ => path,
        }
    }

    /// IIS's config as this process reaches it: the answer, else the vendor's path.
    fn apphost_path(&self) -> PathBuf {
        self.local(self.answers.apphost.as_deref().unwrap_or(DEFAULT_APPHOST))
    }

    /// Lists the machine's certificates to offer them (a note if the store cannot be read).
    fn host_adapter_and_certificates(&mut self) {
        let host = HostConfig {
            adapter: if self.answers.sandbox_state.is_some() {
                AdapterKind::Sandbox
            } else {
                AdapterKind::Windows
            },
            state: self.answers.sandbox_state.as_deref().map(|s| self.local(s)),
            ..HostConfig::default()
        };
        let commands = CommandTemplates::default();
        let root = self.local(&self.answers.root);
        let apphost = self.apphost_path();
        let setup = HostSetup {
            host: &host,
            commands: &commands,
            apphost: &apphost,
            root: &root,
            iis_location: self.answers.root.clone(),
        };
        match hubup::host_adapter(&setup).certificates() {
            Ok(list) => self.certificates = Some(list),
            Err(e) => errln!(
                "  note: cannot list the machine's certificates ({e}); certificates are taken \
                 as typed and checked by `hubup check`"
            ),
        }
    }

    /// The existing sites' host names and ports as IIS has them, where they differ from the
    /// vendor's defaults (the applications' settings name them).
    fn existing_sites(&mut self) {
        let path = self.apphost_path();
        let Ok(sites) = std::fs::read(&path).map(|b| hubup::apphost_sites(&b)) else {
            return;
        };
        let Ok(sites) = sites else {
            return;
        };
        for info in COMPONENTS.iter().filter(|c| !NEW_SITES.contains(&c.key)) {
            let Some((host, port)) = sites
                .iter()
                .find(|s| s.name == info.site_before_4_3 || s.name == info.site_from_4_3)
                .and_then(https_binding)
            else {
                continue;
            };
            if host == info.host && port == 443 {
                continue;
            }
            errln!(
                "  found in IIS: {} at https://{host}:{port}",
                info.site_from_4_3
            );
            self.answers.sites.insert(
                info.key.to_string(),
                SiteConfig {
                    host: Some(host),
                    port: (port != 443).then_some(port),
                    ..SiteConfig::default()
                },
            );
        }
    }

    fn sql(&mut self) -> Result<(), Failure> {
        loop {
            let sql = self.sql_answers()?;
            if !self.connection_tested(&sql)? {
                continue;
            }
            self.answers.sql = sql;
            return Ok(());
        }
    }

    fn sql_answers(&mut self) -> Result<InitSql, Failure> {
        let mode = self.asker.ask(
            Question {
                text: "Database work: execute (hubup creates the databases), script (T-SQL for \
                       a DBA) or preprovisioned (a DBA created them)",
                flag: "--sql-mode",
                given: self.args.sql_mode.map(|m| mode_arg_name(m).into()),
                default: Some("script".into()),
            },
            |answer| match answer {
                "execute" => Ok(SqlMode::Execute),
                "script" => Ok(SqlMode::Script),
                "preprovisioned" => Ok(SqlMode::Preprovisioned),
                _ => Err("answer execute, script or preprovisioned".into()),
            },
        )?;
        let server = self.asker.ask(
            Question {
                text: "SQL Server host name or IP address (host, host\\instance or host,port)",
                flag: "--sql-server",
                given: self.args.sql_server.clone(),
                default: None,
            },
            |answer| {
                if answer.is_empty() {
                    return Err("the SQL Server is needed (the connection strings name it)".into());
                }
                ServerAddress::parse(answer).map(|_| answer.to_string())
            },
        )?;
        let auth = self.asker.ask(
            Question {
                text: "Authentication: windows or sql",
                flag: "--sql-auth",
                given: self.args.sql_auth.map(|a| auth_arg_name(a).into()),
                default: Some("windows".into()),
            },
            |answer| match answer {
                "windows" => Ok(SqlAuth::Windows),
                "sql" => Ok(SqlAuth::Sql),
                _ => Err("answer windows or sql".into()),
            },
        )?;
        let (user, password_env) = match auth {
            SqlAuth::Windows => (None, None),
            SqlAuth::Sql => self.sql_login()?,
        };
        Ok(InitSql {
            mode,
            server,
            auth,
            user,
            password_env,
            encrypt: self.args.sql_encrypt.clone(),
            ca_file: self.args.sql_ca_file.clone(),
            trust_server_certificate: false,
            databases: self.answers.sql.databases.clone(),
        })
    }

    fn sql_login(&mut self) -> Result<(Option<String>, Option<String>), Failure> {
        let user = self.asker.ask(
            Question {
                text: "SQL login that creates the databases (dbcreator or sysadmin)",
                flag: "--sql-user",
                given: self.args.sql_user.clone(),
                default: None,
            },
            non_empty,
        )?;
        let var = self.asker.ask(
            Question {
                text: "Environment variable that will hold its password",
                flag: "--sql-password-env",
                given: self.args.sql_password_env.clone(),
                default: Some(DEFAULT_PASSWORD_ENV.into()),
            },
            |answer| {
                let valid = !answer.is_empty()
                    && !answer.starts_with(|c: char| c.is_ascii_digit())
                    && answer
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_');
                if valid {
                    Ok(answer.to_string())
                } else {
                    Err(
                        "an environment variable's name: letters, digits and _ (the password \
                         itself never goes into the file)"
                            .into(),
                    )
                }
            },
        )?;
        Ok((Some(user), Some(var)))
    }

    /// The wizard's "Test connection to proceed" where hubup connects (execute and
    /// preprovisioned). False: ask the SQL answers again.
    fn connection_tested(&mut self, answers: &InitSql) -> Result<bool, Failure> {
        if answers.mode == SqlMode::Script || self.args.skip_connection_test {
            return Ok(true);
        }
        let sql = SqlConfig {
            mode: answers.mode,
            server: answers.server.clone(),
            auth: answers.auth,
            user: answers.user.clone(),
            password_env: answers.password_env.clone(),
            encrypt: answers
                .encrypt
                .clone()
                .unwrap_or_else(|| SqlConfig::default().encrypt),
            ca_file: answers.ca_file.as_deref().map(|f| self.local(f)),
            ..SqlConfig::default()
        };
        let problem = match connection_problem(&sql, answers.mode) {
            None => {
                errln!("  connection test: {} answered", answers.server);
                return Ok(true);
            }
            Some(problem) => problem,
        };
        if !self.asker.interactive {
            return Err(argument(format!(
                "the SQL connection test failed: {problem}; fix the --sql-* answers or give \
                 --skip-connection-test; nothing was written"
            )));
        }
        errln!("  connection test failed: {problem}");
        let again =
            self.asker
                .confirm("Change the SQL answers (n: keep them untested)", None, true)?;
        Ok(!again)
    }

    fn database_name(&mut self, key: &str) -> Result<(), Failure> {
        let default = database_default(key);
        let name = self.asker.ask(
            Question {
                text: &format!("{} database name", database_title(key)),
                flag: "--database",
                given: lookup(&self.databases, key),
                default: Some(default.into()),
            },
            |answer| {
                if answer.is_empty() || answer.len() > 128 {
                    Err("a database name has 1 to 128 characters".into())
                } else {
                    Ok(answer.to_string())
                }
            },
        )?;
        if name != default {
            self.answers.sql.databases.insert(key.to_string(), name);
        }
        Ok(())
    }

    /// A new site's IIS setup screen.
    fn new_site(&mut self, info: &ComponentInfo) -> Result<(), Failure> {
        let title = info.site_from_4_3.trim_start_matches("Blue Prism - ");
        let key = info.key;
        let name = self.asker.ask(
            Question {
                text: &format!("{title}: IIS site name"),
                flag: "--site-name",
                given: lookup(&self.site_names, key),
                default: Some(info.site_from_4_3.into()),
            },
            |answer| site_check(info, |s| s.name = answer.to_string(), "name"),
        )?;
        let host = self.asker.ask(
            Question {
                text: &format!(
                    "{title}: host name (lowercase; only the part after {:?} may change)",
                    info.host.split('.').next().unwrap_or(info.host)
                ),
                flag: "--site-host",
                given: lookup(&self.site_hosts, key),
                default: Some(info.host.into()),
            },
            |answer| site_check(info, |s| s.host = answer.to_string(), "host"),
        )?;
        let port = self.asker.ask(
            Question {
                text: &format!("{title}: port"),
                flag: "--site-port",
                given: lookup(&self.site_ports, key),
                default: Some("443".into()),
            },
            |answer| {
                let port = answer
                    .parse::<u16>()
                    .map_err(|_| format!("{answer:?} is not a port number from 1 to 65535"))?;
                site_check(info, |s| s.port = port, "port").map(|_| port)
            },
        )?;
        let certificate = self.certificate(
            &format!("{title}: SSL certificate"),
            "--site-certificate",
            lookup(&self.site_certificates, key),
            &host.host,
        )?;
        let start = self.asker.confirm(
            &format!("{title}: start the website at the end of the step"),
            self.args
                .site_no_start
                .iter()
                .any(|c| c == key)
                .then_some(false),
            true,
        )?;
        let site = SiteConfig {
            name: (name.name != info.site_from_4_3).then_some(name.name),
            host: (host.host != info.host).then_some(host.host),
            port: (port != 443).then_some(port),
            certificate,
            start: (!start).then_some(false),
        };
        self.answers.sites.insert(key.to_string(), site);
        Ok(())
    }

    /// A certificate for `host`, from the machine's store when it can be listed (by number,
    /// thumbprint or friendly name); `None` when left blank.
    fn certificate(
        &mut self,
        text: &str,
        flag: &str,
        given: Option<String>,
        host: &str,
    ) -> Result<Option<String>, Failure> {
        let offered = self.certificates.clone().unwrap_or_default();
        if self.asker.interactive && given.is_none() && !offered.is_empty() {
            errln!("  certificates in LocalMachine\\My:");
            for (n, c) in offered.iter().enumerate() {
                let usable = if c.covers(host) {
                    ""
                } else {
                    " (not for this host)"
                };
                errln!(
                    "   {}. {} {} {}, expires {}{usable}",
                    n + 1,
                    c.thumbprint,
                    if c.friendly_name.is_empty() {
                        "-"
                    } else {
                        &c.friendly_name
                    },
                    c.subject,
                    c.not_after
                );
            }
        }
        let listed = self.certificates.is_some();
        self.asker.ask(
            Question {
                text: &format!("{text} (number, thumbprint or friendly name; blank: none yet)"),
                flag,
                given,
                default: None,
            },
            |answer| {
                if answer.is_empty() {
                    return Ok(None);
                }
                if !listed {
                    return Ok(Some(answer.to_string()));
                }
                let chosen = match answer.parse::<usize>() {
                    Ok(n) if (1..=offered.len()).contains(&n) => &offered[n - 1],
                    _ => resolve_certificate(&offered, answer).map_err(|p| p.to_string())?,
                };
                if let Some(problem) = chosen.problem_for(answer, Some(host), hubup::now_ms()) {
                    return Err(problem.to_string());
                }
                // By number: the thumbprint, which names it whatever is added to the store.
                Ok(Some(if answer.parse::<usize>().is_ok() {
                    chosen.thumbprint.clone()
                } else {
                    answer.to_string()
                }))
            },
        )
    }

    fn control_room_api_url(&mut self) -> Result<(), Failure> {
        self.answers.control_room_api_url = self.asker.ask(
            Question {
                text: "Blue Prism API URL for the Control Room plugin (optional; blank: none)",
                flag: "--control-room-api-url",
                given: self.args.control_room_api_url.clone(),
                default: None,
            },
            |answer| optional_url(answer, false),
        )?;
        Ok(())
    }

    /// The Blue Prism Decision (Optional) screen and, when used, its database's name.
    fn decision(&mut self) -> Result<(), Failure> {
        let given = self.args.decision_url.is_some().then_some(true);
        let default_no = !self.asker.interactive && given.is_none();
        if default_no
            || !self
                .asker
                .confirm("Use Blue Prism Decision", given, false)?
        {
            return Ok(());
        }
        let url = self.asker.ask(
            Question {
                text: "Decision model service URL (https://<FQDN>:<port>)",
                flag: "--decision-url",
                given: self.args.decision_url.clone(),
                default: None,
            },
            |answer| {
                hubup::validate_https_url(answer, true)?;
                Ok(answer.to_string())
            },
        )?;
        let fqdn = url_host(&url);
        let certificate = loop {
            let chosen = self.certificate(
                "Decision model service certificate",
                "--decision-certificate",
                self.args.decision_certificate.clone(),
                &fqdn,
            )?;
            match chosen {
                Some(chosen) => break chosen,
                None if self.asker.interactive => errln!("  Decision needs its certificate"),
                None => {
                    return Err(argument(
                        "--decision-certificate: Decision needs its certificate".into(),
                    ));
                }
            }
        };
        self.answers.decision = Some(DecisionConfig {
            model_service_url: url,
            certificate,
            ca_file: self.args.decision_ca_file.as_ref().map(PathBuf::from),
        });
        self.database_name("decision")
    }

    fn machines(&mut self) -> Result<(), Failure> {
        let given = (!self.args.machines.is_empty()).then(|| self.args.machines.join(","));
        self.answers.machines = self.asker.ask(
            Question {
                text: "Other web servers with Hub still to upgrade (comma-separated; blank: none)",
                flag: "--machines",
                given,
                default: None,
            },
            |answer| {
                let names: Vec<String> = answer
                    .split(',')
                    .map(|m| m.trim().to_string())
                    .filter(|m| !m.is_empty())
                    .collect();
                Ok(names)
            },
        )?;
        Ok(())
    }
}

/// The new databases' `[sql.databases]` keys, in the order the steps create them.
const NEW_DATABASES: [&str; 5] = [
    "license_manager",
    "notification_center",
    "iada",
    "email_service",
    "decision",
];

fn database_default(key: &str) -> &'static str {
    hubup::STEPS
        .iter()
        .flat_map(|s| s.new_databases.iter())
        .find(|d| d.config_key == key)
        .map_or("", |d| d.default_name)
}

fn database_title(key: &str) -> &'static str {
    match key {
        "license_manager" => "License Manager",
        "notification_center" => "Notification Center",
        "iada" => "IADA",
        "email_service" => "Email Service",
        _ => "Blue Prism Decision",
    }
}

fn non_empty(answer: &str) -> Result<String, String> {
    if answer.is_empty() {
        Err("an answer is needed".into())
    } else {
        Ok(answer.to_string())
    }
}

fn optional_url(answer: &str, needs_port: bool) -> Result<Option<String>, String> {
    if answer.is_empty() {
        return Ok(None);
    }
    hubup::validate_https_url(answer, needs_port)?;
    Ok(Some(answer.to_string()))
}

/// The host of an `https://host:port/...` URL.
fn url_host(url: &str) -> String {
    let authority = url
        .trim_start_matches("https://")
        .split('/')
        .next()
        .unwrap_or("");
    authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host)
        .to_string()
}

/// The vendor's site for `info` with one field changed by `change`, checked as the loader
/// checks it; only a problem with `field` is this answer's.
fn site_check(
    info: &ComponentInfo,
    change: impl FnOnce(&mut ConfiguredSite),
    field: &str,
) -> Result<ConfiguredSite, String> {
    let mut site = ConfiguredSite {
        component: info.component,
        name: info.site_from_4_3.to_string(),
        host: info.host.to_string(),
        port: 443,
        certificate: None,
        start: true,
    };
    change(&mut site);
    match hubup::validate_site(info, &site) {
        Err((bad, problem)) if bad == field => Err(problem),
        _ => Ok(site),
    }
}

/// A site's first HTTPS binding, as (host, port).
fn https_binding(site: &hubup::Site) -> Option<(String, u16)> {
    site.bindings
        .iter()
        .filter(|b| b.protocol.eq_ignore_ascii_case("https"))
        .find_map(|b| {
            let mut parts = b.information.rsplitn(2, ':');
            let host = parts.next()?.to_string();
            let port = parts.next()?.rsplit(':').next()?.parse().ok()?;
            (!host.is_empty()).then_some((host, port))
        })
}

/// Why a connection test with `sql` fails, or `None` when it passes.
fn connection_problem(sql: &SqlConfig, mode: SqlMode) -> Option<String> {
    if let Err(e) = sql.password() {
        return Some(e.to_string());
    }
    let roles = Session::new(sql).and_then(|mut s| s.test_connection());
    match roles {
        Err(e) => Some(e.to_string()),
        Ok(roles) if mode == SqlMode::Execute && !roles.may_create_databases() => Some(format!(
            "the login {} may not create databases: it needs dbcreator (or sysadmin) on {}",
            sql.user.as_deref().unwrap_or("(Windows)"),
            sql.server
        )),
        Ok(_) => None,
    }
}

fn mode_arg_name(mode: ModeArg) -> &'static str {
    match mode {
        ModeArg::Execute => "execute",
        ModeArg::Script => "script",
        ModeArg::Preprovisioned => "preprovisioned",
    }
}

fn auth_arg_name(auth: AuthArg) -> &'static str {
    match auth {
        AuthArg::Windows => "windows",
        AuthArg::Sql => "sql",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hubup::Component;

    #[test]
    fn a_binding_gives_its_host_and_port() {
        let site = hubup::Site {
            name: "Blue Prism - Hub".into(),
            id: Some(1),
            app_pool: "Blue Prism - Hub".into(),
            physical_path: None,
            bindings: vec![hubup::Binding {
                protocol: "https".into(),
                information: "*:8443:hub.corp.example.com".into(),
                ssl_flags: Some("1".into()),
            }],
            auto_start: true,
        };
        assert_eq!(
            https_binding(&site),
            Some(("hub.corp.example.com".to_string(), 8443))
        );
        assert_eq!(
            url_host("https://decision.example.com:50051/x"),
            "decision.example.com"
        );
    }

    #[test]
    fn a_site_answer_is_checked_as_the_loader_checks_it() {
        let lm = COMPONENTS
            .iter()
            .find(|c| c.component == Component::LicenseManager)
            .unwrap();
        assert!(site_check(lm, |s| s.host = "LicenseManager.local".into(), "host").is_err());
        assert!(site_check(lm, |s| s.host = "portal.local".into(), "host").is_err());
        assert!(site_check(lm, |s| s.host = "licensemanager.corp.com".into(), "host").is_ok());
        assert!(site_check(lm, |s| s.port = 0, "port").is_err());
        assert_eq!(database_default("iada"), "IadaDB");
    }
}
