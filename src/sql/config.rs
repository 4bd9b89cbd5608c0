//! The `[sql]` table of hubup's config: what the vendor wizard's "SQL connection" screens ask
//! (server, authentication, database names), how hubup does the database work (execute it,
//! write it as a script for a DBA, or check that a DBA already did it), and the License
//! Manager permission choice.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::secret::{BadPassword, Secret};

/// How hubup does the database work.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SqlMode {
    /// Connect to SQL Server and run every statement (the vendor wizard's way).
    Execute,
    /// Write the exact T-SQL for a DBA into the output folder and journal it.
    #[default]
    Script,
    /// A DBA created everything beforehand: verify it exists, refuse with a list if not.
    Preprovisioned,
}

/// How hubup and the applications log in to SQL Server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SqlAuth {
    /// Windows authentication; the applications use their app pool identities.
    #[default]
    Windows,
    /// SQL authentication with a user name and password.
    Sql,
}

/// The License Manager's database permission (the guide offers both).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LicenseManagerChoice {
    #[default]
    DbOwner,
    GrantExecute,
}

/// The `[sql]` table.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SqlConfig {
    #[serde(default)]
    pub mode: SqlMode,
    /// `host`, `host\instance` or `host,port`.
    #[serde(default)]
    pub server: String,
    #[serde(default)]
    pub auth: SqlAuth,
    /// SQL authentication: the login hubup uses (it needs dbcreator or sysadmin).
    #[serde(default)]
    pub user: Option<String>,
    /// SQL authentication: the environment variable holding the password (never the file).
    #[serde(default)]
    pub password_env: Option<String>,
    /// SQL authentication: the login the applications use; defaults to `user`.
    #[serde(default)]
    pub app_login: Option<String>,
    /// Encrypt the connection (`off`, `on`, `required`). `off` still encrypts the login (the
    /// password), as every SQL Server client does with Encrypt=False; only the statements
    /// after it travel in clear.
    #[serde(default = "default_encrypt")]
    pub encrypt: String,
    /// Accept the server's certificate without checking it (only on a network you trust).
    #[serde(default)]
    pub trust_server_certificate: bool,
    /// A PEM file with the certificate of the CA that issued the server's certificate (or the
    /// server's own, self-signed, certificate), trusted besides the system's store.
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
    /// 0: no limit (creating databases and BACKUP can take long).
    #[serde(default)]
    pub command_timeout_secs: u64,
    /// How long to wait for another machine's upgrade to release hubup's lock on the server.
    #[serde(default = "default_lock_timeout")]
    pub lock_timeout_secs: u64,
    #[serde(default)]
    pub license_manager_permission: LicenseManagerChoice,
    /// Database names by key: the component keys of the existing databases
    /// (`authentication_server`, `hub`, `audit_service`, `file_service`, `interact`) and the
    /// catalog keys of the new ones (`license_manager`, `notification_center`, `iada`,
    /// `email_service`, `decision`); missing ones take the defaults.
    #[serde(default)]
    pub databases: BTreeMap<String, String>,
    /// Back up the existing databases into this folder on the SQL Server machine before the
    /// first change (`--backup-databases` overrides it).
    #[serde(default)]
    pub backup_databases: Option<String>,
}

fn default_encrypt() -> String {
    "on".to_string()
}

fn default_connect_timeout() -> u64 {
    15
}

fn default_lock_timeout() -> u64 {
    600
}

impl Default for SqlConfig {
    fn default() -> Self {
        SqlConfig {
            mode: SqlMode::default(),
            server: String::new(),
            auth: SqlAuth::default(),
            user: None,
            password_env: None,
            app_login: None,
            encrypt: default_encrypt(),
            trust_server_certificate: false,
            ca_file: None,
            connect_timeout_secs: default_connect_timeout(),
            command_timeout_secs: 0,
            lock_timeout_secs: default_lock_timeout(),
            license_manager_permission: LicenseManagerChoice::default(),
            databases: BTreeMap::new(),
            backup_databases: None,
        }
    }
}

/// A `[sql]` table that cannot be used. Never contains a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SqlConfigError {
    #[error("sql.{key}: {problem}")]
    Invalid { key: &'static str, problem: String },
    #[error(
        "sql.password_env: the environment variable {var} is not set; set it to the SQL password before running hubup"
    )]
    PasswordMissing { var: String },
    #[error("sql.password_env ({var}): {source}")]
    BadPassword { var: String, source: BadPassword },
}

impl SqlConfig {
    /// Checks the table as the wizard would, before anything changes.
    pub fn validate(&self) -> Result<(), SqlConfigError> {
        let invalid = |key, problem: &str| {
            Err(SqlConfigError::Invalid {
                key,
                problem: problem.to_string(),
            })
        };
        if self.mode != SqlMode::Script && self.server.trim().is_empty() {
            return invalid(
                "server",
                "missing: the SQL Server host name or IP address (host, host\\instance or host,port)",
            );
        }
        if self.auth == SqlAuth::Sql {
            if self.user.as_deref().is_none_or(|u| u.trim().is_empty()) {
                return invalid("user", "SQL authentication needs the login name");
            }
            if self.mode != SqlMode::Script && self.password_env.is_none() {
                return invalid(
                    "password_env",
                    "SQL authentication needs the name of the environment variable that holds the password",
                );
            }
        }
        if !matches!(self.encrypt.as_str(), "off" | "on" | "required") {
            return invalid("encrypt", "must be off, on or required");
        }
        if self.ca_file.is_some() && self.trust_server_certificate {
            return invalid(
                "ca_file",
                "trust_server_certificate = true accepts any certificate, so a CA file means \
                 nothing with it: set one or the other",
            );
        }
        if let Some(folder) = &self.backup_databases {
            // The same check `--backup-databases` gets; its message names both.
            crate::sql::DatabaseBackups::new(folder, 0).map_err(|e| SqlConfigError::Invalid {
                key: "backup_databases",
                problem: e.problem,
            })?;
        }
        for (key, name) in &self.databases {
            if !DATABASE_KEYS.contains(&key.as_str()) {
                return invalid(
                    "databases",
                    &format!(
                        "unknown database key {key:?}; known: {}",
                        DATABASE_KEYS.join(", ")
                    ),
                );
            }
            if name.trim().is_empty() || name.len() > 128 {
                return invalid(
                    "databases",
                    &format!("{key}: a database name has 1 to 128 characters"),
                );
            }
        }
        Ok(())
    }

    /// The password, from the environment variable the config names, checked against the
    /// vendor's rule. `None` for Windows authentication.
    pub fn password(&self) -> Result<Option<Secret>, SqlConfigError> {
        if self.auth != SqlAuth::Sql {
            return Ok(None);
        }
        let Some(var) = &self.password_env else {
            return Ok(None);
        };
        let value =
            std::env::var(var).map_err(|_| SqlConfigError::PasswordMissing { var: var.clone() })?;
        Secret::new_sql_password(value)
            .map(Some)
            .map_err(|source| SqlConfigError::BadPassword {
                var: var.clone(),
                source,
            })
    }

    /// What the planner needs: database names and who gets permissions.
    pub fn database_planning(&self) -> DatabasePlanning {
        DatabasePlanning {
            users: match self.auth {
                SqlAuth::Windows => DatabaseUsers::AppPoolIdentities,
                SqlAuth::Sql => DatabaseUsers::SqlLogin(
                    self.app_login
                        .clone()
                        .or_else(|| self.user.clone())
                        .unwrap_or_default(),
                ),
            },
            license_manager: match self.license_manager_permission {
                LicenseManagerChoice::DbOwner => LicenseManagerPermission::DbOwner,
                LicenseManagerChoice::GrantExecute => LicenseManagerPermission::ReadWriteAndExecute,
            },
            names: self.databases.clone(),
        }
    }
}

/// How applications reach their databases, which decides who gets database permissions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseUsers {
    /// Windows authentication: the identity of each component's app pool.
    AppPoolIdentities,
    /// SQL authentication: this SQL login.
    SqlLogin(String),
}

/// License Manager's database permission (the guide offers both).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LicenseManagerPermission {
    #[default]
    DbOwner,
    ReadWriteAndExecute,
}

/// Database choices the planner needs.
#[derive(Clone, Debug)]
pub struct DatabasePlanning {
    pub users: DatabaseUsers,
    pub license_manager: LicenseManagerPermission,
    /// Database names by catalog config key; missing keys take the catalog's default.
    pub names: BTreeMap<String, String>,
}

/// Keys of `[sql.databases]`: the databases an installation has from 4.0 (named by their
/// component), then those the upgrade steps create (named as in the catalog).
pub const DATABASE_KEYS: [&str; 10] = [
    "authentication_server",
    "hub",
    "audit_service",
    "file_service",
    "interact",
    "license_manager",
    "notification_center",
    "iada",
    "email_service",
    "decision",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_auth_needs_a_user_and_a_password_source() {
        let mut s = SqlConfig {
            mode: SqlMode::Execute,
            server: "SQL01".into(),
            auth: SqlAuth::Sql,
            ..SqlConfig::default()
        };
        assert!(s.validate().unwrap_err().to_string().contains("sql.user"));
        s.user = Some("sqladmin".into());
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("password_env")
        );
        s.password_env = Some("HUBUP_TEST_PW_UNSET_VAR".into());
        s.validate().unwrap();
        assert!(matches!(
            s.password(),
            Err(SqlConfigError::PasswordMissing { .. })
        ));
    }

    #[test]
    fn database_keys_are_checked() {
        let mut s = SqlConfig::default();
        s.databases.insert("licence_manager".into(), "LM".into());
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("license_manager")
        );
    }
}
