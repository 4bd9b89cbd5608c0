//! What the wizard's screens ask, carried into the applications' settings: each new site's
//! public URL (`https://host[:port]`) and IIS site name in its own settings file and its URL
//! in every component that calls it (the catalog's `url_readers`), each new database's name
//! and connection string in the settings of the component that uses it, and the optional
//! screens' answers (Control Room API URL, Decision model service URL and certificate).
//!
//! All of them are `Set` changes merged by the ordinary settings-merge op, after the
//! package's own changes to the same file, so they are journaled, undone byte for byte and
//! leave the administrator's other values alone.
//!
//! Passwords: with SQL authentication a connection string holds the applications' password.
//! The journaled change holds the marker [`APP_PASSWORD_MARKER`] in its place; the planner
//! (to compute the file's bytes and digest) and the executor (to write them) put the password
//! in with [`resolve_secrets`], only in values under `ConnectionStrings`. So the password is
//! in the settings file, where the applications read it, and never in the journal, the plan
//! or the log. The journal does hold the digest of the edited file, like every edit's: it
//! covers the whole file, whose other bytes (encrypted connection strings and keys) are not
//! in the journal, and whoever can read the file reads the password anyway.

use std::collections::BTreeMap;

use crate::catalog::{self, NewDatabase, OptionalSetting, StepSpec};
use crate::components::{self, Component};
use crate::config::{Config, ConfiguredSite};
use crate::relpath::RelPath;
use crate::secret::Secret;
use crate::settings::SettingsChange;
use crate::sql::{SqlAuth, SqlConfig};

/// Stands for the applications' SQL password in a journaled connection string.
pub const APP_PASSWORD_MARKER: &str = "{secret:sql.app_password}";

/// The secrets a settings merge may need, read from the environment when hubup starts. A
/// secret that could not be read keeps the reason (never the value) for the message.
#[derive(Clone, Debug, Default)]
pub struct SettingsSecrets {
    app_password: Option<Result<Secret, String>>,
}

impl SettingsSecrets {
    /// The secrets `config` names (the applications' SQL password with SQL authentication).
    pub fn from_config(config: &Config) -> SettingsSecrets {
        let sql = &config.sql;
        let app_password = match sql.auth {
            SqlAuth::Windows => None,
            SqlAuth::Sql => Some(match sql.application_password() {
                Ok(Some(secret)) => Ok(secret),
                Ok(None) => Err(format!(
                    "the applications log in as {:?}, whose password hubup must write into the \
                     new databases' connection strings: set sql.app_password_env to the name \
                     of the environment variable that holds it",
                    sql.application_login().unwrap_or_default()
                )),
                Err(e) => Err(format!(
                    "the applications' SQL password for the new databases' connection strings: \
                     {e}"
                )),
            }),
        };
        SettingsSecrets { app_password }
    }

    /// Secrets given directly (tests, and callers that read them elsewhere).
    pub fn with_app_password(password: Secret) -> SettingsSecrets {
        SettingsSecrets {
            app_password: Some(Ok(password)),
        }
    }
}

/// A change needs a secret that hubup could not read: says which and what to do.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{problem}")]
pub struct MissingSecret {
    pub problem: String,
}

/// True if a change holds a secret marker (its journaled value is not what gets written).
pub fn holds_secret(change: &SettingsChange) -> bool {
    match change {
        SettingsChange::Set {
            key, value_json, ..
        }
        | SettingsChange::Add { key, value_json } => {
            under_connection_strings(key) && value_json.contains(APP_PASSWORD_MARKER)
        }
        _ => false,
    }
}

/// `changes` with every secret marker in a `ConnectionStrings` value replaced by the secret.
/// Other changes, and markers anywhere else, are left as they are.
pub fn resolve_secrets(
    changes: &[SettingsChange],
    secrets: &SettingsSecrets,
) -> Result<Vec<SettingsChange>, MissingSecret> {
    changes
        .iter()
        .map(|change| {
            if !holds_secret(change) {
                return Ok(change.clone());
            }
            let password = match &secrets.app_password {
                Some(Ok(secret)) => secret,
                Some(Err(problem)) => {
                    return Err(MissingSecret {
                        problem: problem.clone(),
                    });
                }
                None => {
                    return Err(MissingSecret {
                        problem: "a connection string needs the applications' SQL password, \
                                  but the config uses Windows authentication"
                            .into(),
                    });
                }
            };
            let put = |value_json: &str| -> String {
                // Values are JSON strings; the password goes in as text, escaped as JSON.
                let text: String = serde_json::from_str(value_json).unwrap_or_default();
                let text = text.replace(APP_PASSWORD_MARKER, password.expose());
                serde_json::Value::String(text).to_string()
            };
            Ok(match change {
                SettingsChange::Set {
                    key,
                    value_json,
                    only_if_json,
                } => SettingsChange::Set {
                    key: key.clone(),
                    value_json: put(value_json),
                    only_if_json: only_if_json.clone(),
                },
                SettingsChange::Add { key, value_json } => SettingsChange::Add {
                    key: key.clone(),
                    value_json: put(value_json),
                },
                other => other.clone(),
            })
        })
        .collect()
}

fn under_connection_strings(key: &[String]) -> bool {
    key.first()
        .and_then(|k| k.split(':').next())
        .is_some_and(|k| k.eq_ignore_ascii_case("ConnectionStrings"))
}

/// Why the wizard's answers cannot be written into the settings. Nothing has changed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AppValuesError {
    #[error(
        "sql.server is empty, but the new database {database} needs a connection string naming \
         its server: set sql.server (host, host\\instance or host,port) even in script mode"
    )]
    NoServer { database: String },
}

/// The settings changes the wizard's answers make in `spec`'s step, by settings file (paths
/// in the step's target layout, as the package names them), in the order they apply.
pub fn wizard_changes(
    spec: &StepSpec,
    config: &Config,
) -> Result<Vec<(RelPath, Vec<SettingsChange>)>, AppValuesError> {
    let mut out: BTreeMap<RelPath, Vec<SettingsChange>> = BTreeMap::new();
    let to = spec.step.to;
    let file_of = |component: Component| {
        RelPath::new(&format!(
            "{}/appsettings.json",
            components::info(component).folder(to)
        ))
        .expect("component folders are valid paths")
    };
    for &component in spec.new_sites {
        let site = config.site(component);
        let url = site_url(&site);
        let own = out.entry(file_of(component)).or_default();
        own.push(set(catalog::PUBLIC_URL_KEY, &url));
        own.push(set(catalog::SITE_NAME_KEY, &site.name));
        for reader in catalog::url_readers(component) {
            out.entry(file_of(reader.component))
                .or_default()
                .push(set(reader.key, &url));
        }
    }
    for database in spec.new_databases {
        if database
            .only_with
            .is_some_and(|feature| !optional_configured(feature, config))
        {
            continue;
        }
        let name = database_name(&config.sql, database);
        if config.sql.server.trim().is_empty() {
            return Err(AppValuesError::NoServer { database: name });
        }
        let changes = out.entry(file_of(database.used_by)).or_default();
        changes.push(set(database.name_setting, &name));
        changes.push(set(
            &["ConnectionStrings", database.connection_string],
            &connection_string(&config.sql, &name),
        ));
    }
    for optional in spec.optional_settings {
        for (path, changes) in optional_changes(*optional, config) {
            out.entry(path).or_default().extend(changes);
        }
    }
    Ok(out.into_iter().collect())
}

/// `https://host` on port 443, `https://host:port` otherwise.
pub fn site_url(site: &ConfiguredSite) -> String {
    if site.port == 443 {
        format!("https://{}", site.host)
    } else {
        format!("https://{}:{}", site.host, site.port)
    }
}

/// The name `[sql.databases]` gives `database`, or its default.
pub fn database_name(sql: &SqlConfig, database: &NewDatabase) -> String {
    sql.databases
        .get(database.config_key)
        .cloned()
        .unwrap_or_else(|| database.default_name.to_string())
}

/// The connection string an application uses for `database`, in SqlClient's syntax: the
/// server as `[sql]` names it, Windows authentication (`Integrated Security`) or the
/// applications' SQL login with [`APP_PASSWORD_MARKER`] for its password, and `[sql]`'s
/// encryption choice.
pub fn connection_string(sql: &SqlConfig, database: &str) -> String {
    let mut parts = vec![
        format!("Server={}", quoted(&sql.server)),
        format!("Database={}", quoted(database)),
    ];
    match sql.application_login() {
        None => parts.push("Integrated Security=True".into()),
        Some(login) => {
            parts.push(format!("User ID={}", quoted(login)));
            parts.push(format!("Password={APP_PASSWORD_MARKER}"));
        }
    }
    let encrypt = sql.encrypt != "off";
    parts.push(format!(
        "Encrypt={}",
        if encrypt { "True" } else { "False" }
    ));
    parts.push(format!(
        "TrustServerCertificate={}",
        if sql.trust_server_certificate {
            "True"
        } else {
            "False"
        }
    ));
    parts.join(";")
}

/// A connection-string value as SqlClient reads it: as it is, or in double quotes (inner
/// ones doubled) when it holds `;`, a quote, or space at either end.
fn quoted(value: &str) -> String {
    let needs = value.contains([';', '\'', '"']) || value.trim() != value;
    if needs {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

fn set(key: &[&str], value: &str) -> SettingsChange {
    SettingsChange::Set {
        key: key.iter().map(|k| k.to_string()).collect(),
        value_json: serde_json::Value::String(value.to_string()).to_string(),
        only_if_json: None,
    }
}

pub(super) fn optional_configured(feature: OptionalSetting, config: &Config) -> bool {
    match feature {
        OptionalSetting::ControlRoomApiUrl => config.optional.control_room_api_url.is_some(),
        OptionalSetting::Decision => config.optional.decision.is_some(),
    }
}

/// The settings changes an optional screen's answers make.
fn optional_changes(
    feature: OptionalSetting,
    config: &Config,
) -> Vec<(RelPath, Vec<SettingsChange>)> {
    let path = |file: &str| RelPath::new(file).expect("catalog path");
    let mut out = Vec::new();
    match feature {
        OptionalSetting::ControlRoomApiUrl => {
            if let Some(url) = &config.optional.control_room_api_url {
                let (file, key) = catalog::CONTROL_ROOM_API_URL_SETTING;
                out.push((path(file), vec![set(key, url)]));
            }
        }
        OptionalSetting::Decision => {
            if let Some(decision) = &config.optional.decision {
                let (file, url_key) = catalog::DECISION_URL_SETTING;
                let (_, cert_key) = catalog::DECISION_CERTIFICATE_SETTING;
                out.push((
                    path(file),
                    vec![
                        set(url_key, &decision.model_service_url),
                        set(cert_key, &decision.certificate),
                    ],
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::step_spec;
    use crate::version::{Step, Version};
    use std::path::Path;

    fn config(extra: &str) -> Config {
        let text = format!("[install]\nroot = 'C:\\\\BP'\n{extra}");
        Config::parse(&text, Path::new("hubup.toml")).unwrap()
    }

    fn step_to(to: Version) -> &'static StepSpec {
        step_spec(Step::from_version(to.previous().unwrap()).unwrap())
    }

    fn value_of(changes: &[(RelPath, Vec<SettingsChange>)], file: &str, key: &str) -> String {
        let (_, list) = changes
            .iter()
            .find(|(p, _)| p.as_str() == file)
            .unwrap_or_else(|| panic!("no changes for {file}"));
        list.iter()
            .rev()
            .find_map(|c| match c {
                SettingsChange::Set {
                    key: k, value_json, ..
                } if k.join(":") == key => serde_json::from_str(value_json).ok(),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{file} has no change of {key}"))
    }

    const LM_PROD: &str = "[sql]\nserver = 'SQL01'\n[sql.databases]\nlicense_manager = 'LM_Prod'\n\
         [sites.license_manager]\nhost = 'licensemanager.corp.example.com'\nport = 8443\n";

    #[test]
    fn a_non_default_license_manager_reaches_hub_and_its_own_settings() {
        let changes = wizard_changes(step_to(Version::V4_2), &config(LM_PROD)).unwrap();
        let url = "https://licensemanager.corp.example.com:8443";
        assert_eq!(
            value_of(&changes, "Hub/appsettings.json", "LicenseManagerUrl"),
            url
        );
        let lm = "License Manager/appsettings.json";
        assert_eq!(value_of(&changes, lm, "PublicUrl"), url);
        assert_eq!(value_of(&changes, lm, "DatabaseName"), "LM_Prod");
        assert_eq!(
            value_of(&changes, lm, "ConnectionStrings:DefaultConnection"),
            "Server=SQL01;Database=LM_Prod;Integrated Security=True;Encrypt=True;\
             TrustServerCertificate=False"
        );
        assert_eq!(
            value_of(&changes, "Hub/appsettings.json", "NotificationCenterUrl"),
            "https://notificationcenter.local"
        );
        assert_eq!(
            value_of(&changes, "IADA/appsettings.json", "DatabaseName"),
            "IadaDB"
        );
    }

    #[test]
    fn sql_authentication_writes_the_login_and_a_marker_never_the_password() {
        let sql = "[sql]\nserver = 'SQL01,1444'\nauth = 'sql'\nuser = 'hubup'\n\
                   password_env = 'HUBUP_APPVALUES_UNSET'\napp_login = 'hub_app'\n\
                   app_password_env = 'HUBUP_APPVALUES_UNSET2'\n";
        let changes = wizard_changes(step_to(Version::V4_3), &config(sql)).unwrap();
        let conn = value_of(
            &changes,
            "Email Service/appsettings.json",
            "ConnectionStrings:DefaultConnection",
        );
        assert_eq!(
            conn,
            format!(
                "Server=SQL01,1444;Database=EmailServiceDB;User ID=hub_app;\
                 Password={APP_PASSWORD_MARKER};Encrypt=True;TrustServerCertificate=False"
            )
        );
        let (_, list) = &changes[0];
        let resolved = resolve_secrets(
            list,
            &SettingsSecrets::with_app_password(Secret::new("Pa55\\w")),
        )
        .unwrap();
        let text = format!("{resolved:?}");
        assert!(text.contains("Password=Pa55\\\\\\\\w;"), "{text}");
        assert!(!text.contains(APP_PASSWORD_MARKER), "{text}");
        let err = resolve_secrets(list, &SettingsSecrets::from_config(&config(sql))).unwrap_err();
        assert!(err.problem.contains("HUBUP_APPVALUES_UNSET2"), "{err}");
    }

    #[test]
    fn markers_resolve_only_under_connection_strings() {
        let elsewhere = set(&["Notes"], APP_PASSWORD_MARKER);
        let secrets = SettingsSecrets::with_app_password(Secret::new("x"));
        assert_eq!(
            resolve_secrets(std::slice::from_ref(&elsewhere), &secrets).unwrap(),
            vec![elsewhere]
        );
    }

    #[test]
    fn values_with_separators_are_quoted_as_sqlclient_reads_them() {
        assert_eq!(quoted("SQL01\\HUB"), "SQL01\\HUB");
        assert_eq!(quoted("Odd;Name"), "\"Odd;Name\"");
        assert_eq!(quoted("Say \"hi\""), "\"Say \"\"hi\"\"\"");
    }

    #[test]
    fn script_mode_without_a_server_is_refused_naming_the_database() {
        let err = wizard_changes(step_to(Version::V4_2), &config("")).unwrap_err();
        assert!(err.to_string().contains("LicenseManagerDB"), "{err}");
    }
}
