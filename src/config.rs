//! hubup's configuration file (TOML): everything the vendor's wizards ask on their screens
//! (SQL Server, site names, host names, ports, certificates, optional URLs), where things are
//! (install root, IIS config, packages, journal, output folder), and the command templates for
//! Windows actions. Loading validates every value, so bad input is refused before anything
//! changes, with a message that names the key and what to do.
//!
//! Relative paths in the file are relative to the file's own folder.

mod init_file;
mod journal_path;
mod probes;
mod steering_paths;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::components::{COMPONENTS, Component, ComponentInfo};
use crate::journal::default_journal_path;
use crate::version::Version;

pub use crate::host::{CommandTemplates, PLACEHOLDERS, Template, render_part};
pub use init_file::{InitAnswers, InitSql, render_init_config};
pub use journal_path::{ConfigPathError, journal_path_from_config};
pub use probes::{DISCOVERY_PATH, ProbeConfig, SiteProbe};
pub use steering_paths::check_config_paths;

/// The config view's key for `[install] machines` (the end-of-run checklist reads it).
pub const MACHINES_KEY: &str = "install.machines";

/// A loaded, validated configuration.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub install: InstallConfig,
    #[serde(default)]
    pub journal: JournalConfig,
    #[serde(default)]
    pub output: OutputConfig,
    #[serde(default)]
    pub sql: crate::sql::SqlConfig,
    /// The message broker's management API, for the quorum-queue check.
    #[serde(default)]
    pub rabbitmq: crate::rabbitmq::RabbitMqConfig,
    /// Per-component sites (the IIS setup screen), keyed by component key
    /// (`license_manager`, ...). Missing entries take the vendor's defaults.
    #[serde(default)]
    pub sites: BTreeMap<String, SiteConfig>,
    #[serde(default)]
    pub optional: OptionalConfig,
    #[serde(default)]
    pub windows_auth: WindowsAuthConfig,
    #[serde(default)]
    pub commands: CommandTemplates,
    /// Which host adapter changes the machine outside the install tree (`[host]`).
    #[serde(default)]
    pub host: crate::host::HostConfig,
    /// Which package signers hubup trusts (`[packages] trusted_keys`, `allow_unsigned`).
    #[serde(default)]
    pub packages: crate::package::PackageTrust,
    /// How `hubup probe` asks the sites whether they answer (`[probes]`).
    #[serde(default)]
    pub probes: ProbeConfig,
    /// Where the file was loaded from (not part of the file).
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InstallConfig {
    /// The installation location (`C:\Program Files (x86)\Blue Prism`).
    pub root: PathBuf,
    /// How IIS's config spells the installation location in physical paths. Defaults to
    /// `root` as written; differs when the install is reached through another path.
    #[serde(default)]
    pub iis_location: Option<String>,
    /// IIS's `applicationHost.config`.
    #[serde(default = "default_apphost")]
    pub apphost: PathBuf,
    /// Folder holding the `BluePrismHubAndInteractUpdate4.n.bin` packages.
    #[serde(default = "default_packages")]
    pub packages: PathBuf,
    /// Rename the `Email Sender` folder to `Email Service` at 4.3 (the guide renames the site;
    /// the folder rename is ours and can be turned off).
    #[serde(default = "yes")]
    pub rename_email_folder: bool,
    /// Name recorded in the journal; defaults to the computer's name.
    #[serde(default)]
    pub machine: Option<String>,
    /// The installation's other machines (web servers with Hub), named in the end-of-run
    /// checklist as still to upgrade.
    #[serde(default)]
    pub machines: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JournalConfig {
    /// Defaults to `%ProgramData%\hubup\journal.redb` on Windows, `/var/lib/hubup/journal.redb`
    /// elsewhere.
    pub path: Option<PathBuf>,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    /// Where hubup writes SQL scripts, receipts and reports. Defaults to the journal's folder.
    pub dir: Option<PathBuf>,
}

/// What the wizard's "IIS setup" screen asks for a site.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SiteConfig {
    pub name: Option<String>,
    pub host: Option<String>,
    pub port: Option<u16>,
    /// The SSL certificate: its thumbprint (40 hex characters) or friendly name.
    pub certificate: Option<String>,
    /// The wizard's "Start Website".
    pub start: Option<bool>,
}

/// A site as configured, with the vendor's defaults filled in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfiguredSite {
    pub component: Component,
    pub name: String,
    pub host: String,
    pub port: u16,
    pub certificate: Option<String>,
    pub start: bool,
}

/// The optional screens: Blue Prism API URL (4.3) and Blue Prism Decision (4.5).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OptionalConfig {
    /// URL of the Blue Prism API, for the Control Room plugin (Blue Prism 7.0+).
    pub control_room_api_url: Option<String>,
    pub decision: Option<DecisionConfig>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionConfig {
    /// `https://<FQDN>:<port>`; the FQDN must match the certificate.
    pub model_service_url: String,
    /// The SSL certificate for the model service (thumbprint or friendly name).
    pub certificate: String,
    /// A PEM file with the CA that issued the model service's certificate, trusted besides
    /// the machine's roots when `check` verifies its TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

impl DecisionConfig {
    /// The model service's FQDN and port, from its URL (`https://<FQDN>:<port>`, as loading
    /// checked).
    pub fn host_and_port(&self) -> (String, u16) {
        let rest = self
            .model_service_url
            .trim_start_matches("https://")
            .split('/')
            .next()
            .unwrap_or("");
        match rest.rsplit_once(':') {
            Some((host, port)) => (host.to_string(), port.parse().unwrap_or(443)),
            None => (rest.to_string(), 443),
        }
    }
}

/// Extra work the guide asks for when the applications use Windows authentication.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WindowsAuthConfig {
    /// The identity the new app pools run as (the guide: the same as the existing Hub pools).
    /// `None`: read it from the Hub site's app pool in applicationHost.config.
    pub app_pool_identity: Option<String>,
    /// The certificate whose private key the pool identities need (the guide: full control).
    pub sql_certificate: String,
}

impl Default for WindowsAuthConfig {
    fn default() -> Self {
        WindowsAuthConfig {
            app_pool_identity: None,
            sql_certificate: "BPC_SQL_CERTIFICATE".to_string(),
        }
    }
}

fn default_apphost() -> PathBuf {
    PathBuf::from(r"C:\Windows\System32\inetsrv\config\applicationHost.config")
}

fn default_packages() -> PathBuf {
    PathBuf::from(".")
}

fn yes() -> bool {
    true
}

/// A configuration that cannot be used. Nothing has changed when this is returned.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config file {path}: {key}: {problem}")]
    Invalid {
        path: PathBuf,
        key: String,
        problem: String,
    },
}

impl Config {
    /// Reads and validates the config file at `path`; relative paths in it are resolved
    /// against its folder.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config = Config::parse(&text, path)?;
        // Absolute, so the journal and messages name real places whatever the current folder.
        let folder = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        // std::path::absolute, not canonicalize: on Windows the latter gives \\?\ paths.
        let base = std::path::absolute(folder).unwrap_or_else(|_| folder.to_path_buf());
        config.resolve_relative_paths(&base);
        config.source = Some(path.to_path_buf());
        Ok(config)
    }

    /// Parses and validates config text; `origin` names it in errors. Paths stay as written.
    pub fn parse(text: &str, origin: &Path) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_path_buf(),
            message: parse_error_summary(text, &e),
        })?;
        config.validate(origin)?;
        Ok(config)
    }

    fn resolve_relative_paths(&mut self, base: &Path) {
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() && !looks_like_windows_absolute(p) {
                // Rebuilt from its components so a `/` written in the file becomes the
                // platform's separator.
                *p = base.join(&*p).components().collect();
            }
        };
        resolve(&mut self.install.root);
        resolve(&mut self.install.apphost);
        resolve(&mut self.install.packages);
        if let Some(p) = self.journal.path.as_mut() {
            resolve(p);
        }
        if let Some(p) = self.output.dir.as_mut() {
            resolve(p);
        }
        if let Some(p) = self.host.state.as_mut() {
            resolve(p);
        }
        if let Some(p) = self.sql.ca_file.as_mut() {
            resolve(p);
        }
        if let Some(p) = self.rabbitmq.ca_file.as_mut() {
            resolve(p);
        }
        if let Some(p) = self.probes.ca_file.as_mut() {
            resolve(p);
        }
        if let Some(p) = self
            .optional
            .decision
            .as_mut()
            .and_then(|d| d.ca_file.as_mut())
        {
            resolve(p);
        }
    }

    fn validate(&self, origin: &Path) -> Result<(), ConfigError> {
        let invalid = |key: String, problem: String| ConfigError::Invalid {
            path: origin.to_path_buf(),
            key,
            problem,
        };
        if let Some(blank) = self
            .install
            .machines
            .iter()
            .position(|m| m.trim().is_empty())
        {
            return Err(invalid(
                format!("install.machines[{blank}]"),
                "empty: name each other machine on which Hub is installed, or leave it out".into(),
            ));
        }
        for key in self.sites.keys() {
            if !COMPONENTS.iter().any(|c| c.key == key) {
                let known: Vec<&str> = COMPONENTS.iter().map(|c| c.key).collect();
                return Err(invalid(
                    format!("sites.{key}"),
                    format!("unknown component; known: {}", known.join(", ")),
                ));
            }
        }
        for info in COMPONENTS.iter() {
            let site = self.site(info.component);
            validate_site(info, &site).map_err(|(field, problem)| {
                invalid(format!("sites.{}.{field}", info.key), problem)
            })?;
        }
        if let Some(url) = &self.optional.control_room_api_url {
            validate_https_url(url, false)
                .map_err(|p| invalid("optional.control_room_api_url".into(), p))?;
        }
        if let Some(decision) = &self.optional.decision {
            validate_https_url(&decision.model_service_url, true)
                .map_err(|p| invalid("optional.decision.model_service_url".into(), p))?;
            if decision.certificate.trim().is_empty() {
                return Err(invalid(
                    "optional.decision.certificate".into(),
                    "missing: Decision needs the SSL certificate of its model service".into(),
                ));
            }
        }
        self.sql
            .validate()
            .map_err(|e| invalid("sql".into(), e.to_string()))?;
        self.rabbitmq
            .validate()
            .map_err(|e| invalid("rabbitmq".into(), e.to_string()))?;
        self.commands
            .validate()
            .map_err(|(key, problem)| invalid(format!("commands.{key}"), problem))?;
        self.host
            .validate()
            .map_err(|(key, problem)| invalid(format!("host.{key}"), problem))?;
        self.probes
            .validate()
            .map_err(|(key, problem)| invalid(format!("probes.{key}"), problem))?;
        Ok(())
    }

    /// `component`'s site: the config's values over the vendor's defaults.
    pub fn site(&self, component: Component) -> ConfiguredSite {
        let info = crate::components::info(component);
        let given = self.sites.get(info.key).cloned().unwrap_or_default();
        ConfiguredSite {
            component,
            name: given
                .name
                .unwrap_or_else(|| info.site_name(Version::LATEST).to_string()),
            host: given.host.unwrap_or_else(|| info.host.to_string()),
            port: given.port.unwrap_or(443),
            certificate: given.certificate,
            start: given.start.unwrap_or(true),
        }
    }

    /// Whether `site` is Blue Prism's: a component's site by its names before and after the
    /// 4.3 renames or this config's, or a site with its files under the install location.
    /// Only these are stopped, started and reported; every other site on the server is the
    /// administrator's.
    pub fn is_blue_prism_site(&self, site: &crate::apphost::Site) -> bool {
        let location = self.iis_location().to_lowercase();
        let location = location.trim_end_matches('\\');
        let under_install = site.physical_path.as_deref().is_some_and(|p| {
            p.to_lowercase()
                .strip_prefix(location)
                .is_some_and(|rest| rest.starts_with('\\'))
        });
        under_install
            || COMPONENTS.iter().any(|c| {
                [
                    c.site_before_4_3,
                    c.site_from_4_3,
                    &self.site(c.component).name,
                ]
                .iter()
                .any(|n| n.eq_ignore_ascii_case(&site.name))
            })
    }

    /// What the host adapter needs of this config.
    pub fn host_setup(&self) -> crate::host::HostSetup<'_> {
        crate::host::HostSetup {
            host: &self.host,
            commands: &self.commands,
            apphost: &self.install.apphost,
            root: &self.install.root,
            iis_location: self.iis_location(),
        }
    }

    /// How physical paths in applicationHost.config spell the install location.
    pub fn iis_location(&self) -> String {
        self.install
            .iis_location
            .clone()
            .unwrap_or_else(|| self.install.root.display().to_string())
    }

    /// The journal file: the config's, or the platform default.
    pub fn journal_path(&self) -> PathBuf {
        self.journal
            .path
            .clone()
            .unwrap_or_else(default_journal_path)
    }

    /// The output folder: the config's, or the journal's folder.
    pub fn output_dir(&self) -> PathBuf {
        self.output.dir.clone().unwrap_or_else(|| {
            self.journal_path()
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("."))
        })
    }

    /// The package that upgrades to `to`.
    pub fn package_path(&self, to: Version) -> PathBuf {
        self.install.packages.join(to.package_file_name())
    }

    /// The secret-free view of this config that the journal records at the start of a run,
    /// as ordered key/value pairs.
    pub fn journal_view(&self) -> Vec<(String, String)> {
        let mut out = vec![
            (
                "install.root".to_string(),
                self.install.root.display().to_string(),
            ),
            (
                "install.apphost".to_string(),
                self.install.apphost.display().to_string(),
            ),
            (
                "install.packages".to_string(),
                self.install.packages.display().to_string(),
            ),
            ("install.iis_location".to_string(), self.iis_location()),
            (
                "install.rename_email_folder".to_string(),
                self.install.rename_email_folder.to_string(),
            ),
        ];
        if !self.install.machines.is_empty() {
            out.push((MACHINES_KEY.to_string(), self.install.machines.join(", ")));
        }
        for info in COMPONENTS.iter() {
            let site = self.site(info.component);
            let prefix = format!("sites.{}", info.key);
            out.push((format!("{prefix}.name"), site.name));
            out.push((format!("{prefix}.host"), site.host));
            out.push((format!("{prefix}.port"), site.port.to_string()));
            if let Some(cert) = site.certificate {
                out.push((format!("{prefix}.certificate"), cert));
            }
        }
        if let Some(url) = &self.optional.control_room_api_url {
            out.push(("optional.control_room_api_url".into(), url.clone()));
        }
        if let Some(d) = &self.optional.decision {
            out.push((
                "optional.decision.model_service_url".into(),
                d.model_service_url.clone(),
            ));
            out.push((
                "optional.decision.certificate".into(),
                d.certificate.clone(),
            ));
        }
        out.push(("commands.digest".into(), self.commands.digest().to_hex()));
        // The tables an auditor needs to tell which SQL Server, databases, broker, identities
        // and trust a run used, every key of them (the config holds no secret: passwords are
        // named by the environment variables that hold them).
        let tables = serde_json::json!({
            "sql": self.sql,
            "rabbitmq": self.rabbitmq,
            "windows_auth": self.windows_auth,
            "host": self.host,
            "packages": self.packages,
            "probes": self.probes,
            "journal": self.journal,
            "output": self.output,
        });
        flatten_into("", &tables, &mut out);
        out
    }
}

/// `value`'s leaves as dotted keys (`sql.databases.hub`); an array is one value, in JSON.
fn flatten_into(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, String)>) {
    let key = |name: &str| {
        if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}.{name}")
        }
    };
    match value {
        serde_json::Value::Object(map) => {
            for (name, child) in map {
                flatten_into(&key(name), child, out);
            }
        }
        serde_json::Value::Null => {}
        serde_json::Value::String(text) => out.push((prefix.to_string(), text.clone())),
        other => out.push((prefix.to_string(), other.to_string())),
    }
}

/// "line N, column M: what" without the quoted source line: toml's own message quotes the
/// offending line, which may hold a password.
/// The key the error is at comes first when it can be told (`sites.hub.port`), and serde's
/// type names are said in words (`expected u16` means a number from 0 to 65535).
pub(crate) fn parse_error_summary(text: &str, error: &toml::de::Error) -> String {
    let position = error.span().map(|span| {
        let before = text.get(..span.start).unwrap_or("");
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        match key_at(text, span.start) {
            Some(key) => format!("`{key}` (line {line}, column {column}): "),
            None => format!("line {line}, column {column}: "),
        }
    });
    let message = error
        .message()
        .replace("expected u16", "expected a number from 0 to 65535")
        .replace(
            "expected u32",
            "expected a whole number from 0 to 4294967295",
        )
        .replace("expected u64", "expected a whole number of 0 or more");
    let suggestion = did_you_mean(&message)
        .map(|near| format!("; did you mean `{near}`?"))
        .unwrap_or_default();
    format!("{}{message}{suggestion}", position.unwrap_or_default())
}

/// For serde's "unknown field `X`, expected one of `a`, `b`" (and "unknown variant"), the
/// expected name nearest to `X` when it is near enough to be a typo.
fn did_you_mean(message: &str) -> Option<String> {
    let rest = message
        .strip_prefix("unknown field `")
        .or_else(|| message.strip_prefix("unknown variant `"))?;
    let (given, expected) = rest.split_once('`')?;
    let given = given.to_ascii_lowercase();
    expected
        .split('`')
        .skip(1)
        .step_by(2)
        .filter_map(|name| {
            let lower = name.to_ascii_lowercase();
            let distance = edit_distance(&given, &lower);
            // A typo (a few letters off), or the right name with a word added or left out
            // (`username` for `user`).
            let typo = distance <= (lower.len().max(given.len()) / 3).max(1);
            let part = lower.len().min(given.len()) >= 3
                && (given.starts_with(&lower) || lower.starts_with(&given));
            (typo || part).then_some((distance, name))
        })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| name.to_string())
}

/// Levenshtein distance between two short names.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// The dotted key whose value is on the line of byte `at` (`key = value`), with the table
/// header above it; only names, never the value (it may be a secret).
fn key_at(text: &str, at: usize) -> Option<String> {
    let start = text.get(..at)?.rfind('\n').map_or(0, |i| i + 1);
    let line = text[start..].lines().next()?;
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    let plain = |k: &str| {
        !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '"' | '\''))
    };
    if !plain(key) {
        return None;
    }
    let table = text[..start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|header| {
            header
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_string()
        });
    Some(match table {
        Some(table) if !table.is_empty() => format!("{table}.{key}"),
        _ => key.to_string(),
    })
}

/// Checks one site as the IIS setup screen does (`hubup init` asks with it): `Err((field,
/// problem))`.
pub fn validate_site(
    info: &ComponentInfo,
    site: &ConfiguredSite,
) -> Result<(), (&'static str, String)> {
    if site.name.trim().is_empty() {
        return Err(("name", "empty site name".into()));
    }
    if site.host != site.host.to_lowercase() {
        return Err((
            "host",
            format!(
                "host name {:?} has uppercase letters; IIS host names must be lowercase \
                 (the vendor does not support uppercase in URLs): use {:?}",
                site.host,
                site.host.to_lowercase()
            ),
        ));
    }
    let default_first = info.host.split('.').next().unwrap_or(info.host);
    let given_first = site.host.split('.').next().unwrap_or("");
    if given_first != default_first || !site.host.contains('.') {
        return Err((
            "host",
            format!(
                "host name {:?} changes the first part of the default {:?}; only the part after \
                 {default_first:?} (the \".local\") may be changed, e.g. {default_first}.example.com",
                site.host, info.host
            ),
        ));
    }
    if !site
        .host
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
    {
        return Err((
            "host",
            format!(
                "host name {:?} may only hold a-z, 0-9, '.' and '-'",
                site.host
            ),
        ));
    }
    if site.port == 0 {
        return Err((
            "port",
            "port 0 is not a usable port; the default is 443".into(),
        ));
    }
    Ok(())
}

/// Checks an optional screen's URL: https, a fully qualified host, and a port when
/// `needs_port` (Decision's model service).
pub fn validate_https_url(url: &str, needs_port: bool) -> Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| format!("{url:?} must start with https://"))?;
    let authority = rest.split('/').next().unwrap_or("");
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (authority, None),
    };
    if host.is_empty() || !host.contains('.') {
        return Err(format!(
            "{url:?}: the host must be a fully qualified domain name (it must match the certificate)"
        ));
    }
    match (port, needs_port) {
        (Some(p), _) if p.parse::<u16>().is_ok_and(|p| p > 0) => Ok(()),
        (Some(p), _) => Err(format!(
            "{url:?}: port {p:?} is not a number from 1 to 65535"
        )),
        (None, true) => Err(format!(
            "{url:?} has no port; the format is https://<FQDN>:<port>, e.g. https://decision.example.com:50051"
        )),
        (None, false) => Ok(()),
    }
}

/// A path like `C:\x` is absolute on Windows but relative to Rust on Linux; never join those.
fn looks_like_windows_absolute(path: &Path) -> bool {
    let text = path.to_string_lossy();
    let bytes = text.as_bytes();
    bytes.len() >= 3
        && bytes[0].is_ascii_alphabetic()
        && bytes[1] == b':'
        && (bytes[2] == b'\\' || bytes[2] == b'/')
}

impl fmt::Display for ConfiguredSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (https://{}:{})", self.name, self.host, self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("hubup.toml"))
    }

    const MINIMAL: &str = "[install]\nroot = 'C:\\Program Files (x86)\\Blue Prism'\n";

    #[test]
    fn a_mistyped_key_or_value_gets_a_did_you_mean() {
        let err = parse(&format!("{MINIMAL}[sql]\nusername = 'hubup'\n")).unwrap_err();
        assert!(err.to_string().contains("did you mean `user`?"), "{err}");
        let err = parse(&format!("{MINIMAL}[sql]\nmode = 'scrpt'\n")).unwrap_err();
        assert!(err.to_string().contains("did you mean `script`?"), "{err}");
        let err = parse(&format!("{MINIMAL}[sql]\nchek_dba_work = false\n")).unwrap_err();
        assert!(
            err.to_string().contains("did you mean `check_dba_work`?"),
            "{err}"
        );
        // Nothing near: no guess.
        let err = parse(&format!("{MINIMAL}[sql]\nzzzzzz = 1\n")).unwrap_err();
        assert!(!err.to_string().contains("did you mean"), "{err}");
    }

    #[test]
    fn the_journal_view_names_the_sql_server_databases_and_broker_and_no_secret() {
        let text = format!(
            "{MINIMAL}[sql]\nmode = 'execute'\nserver = 'SQL01,1433'\nauth = 'sql'\nuser = 'hubup'\n\
             password_env = 'HUBUP_SQL_PW'\n[sql.databases]\nhub = 'HubDB2'\n\
             [rabbitmq]\nmanagement_url = 'http://mq.local:15672'\nuser = 'monitor'\n\
             password_env = 'HUBUP_MQ_PW'\n"
        );
        let config = parse(&text).unwrap();
        let view: BTreeMap<String, String> = config.journal_view().into_iter().collect();
        assert_eq!(view["sql.server"], "SQL01,1433");
        assert_eq!(view["sql.mode"], "execute");
        assert_eq!(view["sql.user"], "hubup");
        assert_eq!(view["sql.password_env"], "HUBUP_SQL_PW");
        assert_eq!(view["sql.databases.hub"], "HubDB2");
        assert_eq!(view["rabbitmq.management_url"], "http://mq.local:15672");
        assert!(view.contains_key("sql.encrypt"), "{view:?}");
        assert_eq!(view["rabbitmq.user"], "monitor");
        assert!(view.keys().any(|k| k.starts_with("host.")), "{view:?}");
    }

    #[test]
    fn a_value_of_the_wrong_range_is_named_by_its_key_and_in_words() {
        let err = parse(&format!("{MINIMAL}[sites.hub]\nport = 70000\n")).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("`sites.hub.port` (line "), "{text}");
        assert!(text.contains("expected a number from 0 to 65535"), "{text}");
        assert!(!text.contains("u16"), "{text}");
    }

    #[test]
    fn a_probe_table_is_checked_by_key() {
        let with = |table: &str| parse(&format!("{MINIMAL}[probes]\n{table}"));
        with("address = \"10.0.0.5\"\nwait_secs = 30\n").unwrap();
        let err = with("address = \"localhost\"\n").unwrap_err().to_string();
        assert!(err.contains("probes.address"), "{err}");
        let err = with("[probes.sites.hubb]\npath = \"/\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("probes.sites.hubb"), "{err}");
        let err = with("[probes.sites.hub]\npath = \"health\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("must start with /"), "{err}");
        let err = with("[probes.sites.hub]\nstatuses = [700]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("700 is not an HTTP status"), "{err}");
    }

    #[test]
    fn minimal_config_takes_vendor_defaults() {
        let config = parse(MINIMAL).unwrap();
        let lm = config.site(Component::LicenseManager);
        assert_eq!(lm.name, "Blue Prism - License Manager");
        assert_eq!(lm.host, "licensemanager.local");
        assert_eq!(lm.port, 443);
        assert!(lm.start);
        assert_eq!(config.commands, CommandTemplates::default());
    }

    #[test]
    fn uppercase_host_is_refused_with_the_lowercase_suggestion() {
        let text = format!("{MINIMAL}[sites.license_manager]\nhost = 'LicenseManager.local'\n");
        let err = parse(&text).unwrap_err().to_string();
        assert!(err.contains("sites.license_manager.host"), "{err}");
        assert!(err.contains("licensemanager.local"), "{err}");
    }

    #[test]
    fn only_the_local_part_of_a_host_may_change() {
        let ok = format!("{MINIMAL}[sites.hub]\nhost = 'hub.corp.example.com'\n");
        parse(&ok).unwrap();
        let bad = format!("{MINIMAL}[sites.hub]\nhost = 'portal.local'\n");
        let err = parse(&bad).unwrap_err().to_string();
        assert!(err.contains("first part"), "{err}");
    }

    #[test]
    fn unknown_keys_components_and_placeholders_are_named() {
        let err = parse(&format!("{MINIMAL}[sites.hubb]\nport = 1\n"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("sites.hubb") && err.contains("license_manager"),
            "{err}"
        );
        let err = parse(&format!("{MINIMAL}colour = 'blue'\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("colour"), "{err}");
        let err = parse(&format!(
            "{MINIMAL}[commands]\niis_restart = ['iisreset', '{{sitee}}']\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("commands.iis_restart") && err.contains("sitee"),
            "{err}"
        );
    }

    #[test]
    fn parse_errors_do_not_quote_the_line() {
        let err = parse(&format!(
            "{MINIMAL}[optional]\ncontrol_room_api_url = \"Hunter2Secret\" oops\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("line 4"), "{err}");
        assert!(!err.contains("Hunter2Secret"), "{err}");
    }

    #[test]
    fn decision_url_needs_https_fqdn_and_port() {
        let with = |url: &str| {
            parse(&format!(
                "{MINIMAL}[optional.decision]\nmodel_service_url = '{url}'\ncertificate = 'DecisionCert'\n"
            ))
        };
        with("https://decision.example.com:50051").unwrap();
        assert!(with("http://decision.example.com:50051").is_err());
        assert!(with("https://decision.example.com").is_err());
        assert!(with("https://decision:50051").is_err());
    }

    #[test]
    fn relative_paths_resolve_against_the_config_folder() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hubup.toml");
        std::fs::write(
            &path,
            "[install]\nroot = 'install/Blue Prism'\napphost = 'iis/applicationHost.config'\n[journal]\npath = 'j.redb'\n",
        )
        .unwrap();
        let config = Config::load(&path).unwrap();
        assert_eq!(config.install.root, dir.path().join("install/Blue Prism"));
        assert_eq!(config.journal_path(), dir.path().join("j.redb"));
        assert_eq!(config.output_dir(), dir.path());
    }
}
