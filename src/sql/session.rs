//! One connection to SQL Server, as the execution and pre-provisioned modes use it: where the
//! server is (`host`, `host\instance`, `host,port`), how hubup logs in, and blocking calls
//! (`query_int`, `query_texts`, `execute`) on top of tiberius's async client, run on a private
//! single-threaded tokio runtime so the rest of hubup stays synchronous.
//!
//! The session remembers the connection's current database and whether it holds the
//! installation lock. A broken connection is dropped; the next call connects again, goes back
//! to the current database and takes the lock again, so a rollback can follow a dropped
//! connection. Errors name the server and what failed, never the password.

use std::time::Duration;

use tiberius::{AuthMethod, Client, Config, EncryptionLevel, ToSql};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

use crate::secret::Secret;
use crate::sql::SqlError;
use crate::sql::config::{SqlAuth, SqlConfig};
use crate::sql::statements as st;

/// Where the server is, parsed from `sql.server`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerAddress {
    pub host: String,
    pub instance: Option<String>,
    pub port: Option<u16>,
}

impl ServerAddress {
    /// `host`, `host\instance`, `host,port` (the forms SQL Server tools take).
    pub fn parse(text: &str) -> Result<ServerAddress, String> {
        let text = text.trim();
        let (rest, port) = match text.split_once(',') {
            Some((rest, port)) => {
                let port = port.trim().parse::<u16>().map_err(|_| {
                    format!("{text:?}: the part after ',' must be a TCP port number")
                })?;
                (rest.trim(), Some(port))
            }
            None => (text, None),
        };
        let (host, instance) = match rest.split_once('\\') {
            Some((host, instance)) => (host, Some(instance.to_string())),
            None => (rest, None),
        };
        if host.is_empty() || instance.as_deref() == Some("") {
            return Err(format!(
                "{text:?}: expected host, host\\instance or host,port"
            ));
        }
        Ok(ServerAddress {
            host: host.to_string(),
            instance,
            port,
        })
    }
}

/// The server roles of the login a connection test used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerRoles {
    pub sysadmin: bool,
    pub dbcreator: bool,
}

impl ServerRoles {
    /// Whether the login may create the new databases (`dbcreator` or `sysadmin`).
    pub fn may_create_databases(&self) -> bool {
        self.sysadmin || self.dbcreator
    }
}

/// A value passed as a statement parameter.
#[derive(Clone, Copy, Debug)]
pub enum Param<'a> {
    Text(&'a str),
    Int(i32),
}

type Connection = Client<Compat<TcpStream>>;

pub struct Session {
    sql: SqlConfig,
    address: ServerAddress,
    password: Option<Secret>,
    runtime: tokio::runtime::Runtime,
    client: Option<Connection>,
    /// The database the connection is in (a new connection starts in the login's default).
    current: Option<String>,
    /// How many nested holders the installation lock has (a run holds it, and each step of
    /// it); taken again after a reconnect while above zero.
    lock_depth: u32,
}

impl Session {
    /// A session for the `[sql]` table; it connects on first use, reading the password
    /// from the environment variable it names only then (so `plan` and `status` need none).
    pub fn new(sql: &SqlConfig) -> Result<Session, SqlError> {
        Session::open_with(sql, None)
    }

    /// A session with the password given directly (tests, tools that prompt for it).
    pub fn with_password(sql: &SqlConfig, password: Secret) -> Result<Session, SqlError> {
        Session::open_with(sql, Some(password))
    }

    fn open_with(sql: &SqlConfig, password: Option<Secret>) -> Result<Session, SqlError> {
        let address = ServerAddress::parse(&sql.server).map_err(|problem| SqlError::Config {
            key: "server",
            problem,
        })?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| SqlError::Connect {
                server: sql.server.clone(),
                problem: format!("cannot start the network runtime: {e}"),
            })?;
        Ok(Session {
            sql: sql.clone(),
            address,
            password,
            runtime,
            client: None,
            current: None,
            lock_depth: 0,
        })
    }

    pub fn server(&self) -> &str {
        &self.sql.server
    }

    /// The login hubup connects as, for messages (`Windows authentication` when integrated).
    pub fn login_name(&self) -> String {
        match self.sql.auth {
            SqlAuth::Sql => self.sql.user.clone().unwrap_or_default(),
            SqlAuth::Windows => "the Windows account running hubup".to_string(),
        }
    }

    /// Connects now if not connected (the "test connection" check).
    pub fn connect(&mut self) -> Result<(), SqlError> {
        self.connection().map(|_| ())
    }

    /// The wizard's "Test connection to proceed": connects and says which of the server roles
    /// that may create databases the login has.
    pub fn test_connection(&mut self) -> Result<ServerRoles, SqlError> {
        self.connect()?;
        let roles = self.query_texts(st::SERVER_ROLES, &[])?.unwrap_or_default();
        let has = |i: usize| roles.get(i).cloned().flatten().as_deref() == Some("1");
        Ok(ServerRoles {
            sysadmin: has(0),
            dbcreator: has(1),
        })
    }

    fn tiberius_config(&self) -> Result<Config, SqlError> {
        let mut config = Config::new();
        config.host(&self.address.host);
        if let Some(port) = self.address.port {
            config.port(port);
        }
        if let Some(instance) = &self.address.instance {
            config.instance_name(instance);
        }
        config.application_name("hubup");
        config.encryption(encryption_level(&self.sql.encrypt));
        if self.sql.trust_server_certificate {
            config.trust_cert();
        }
        if let Some(ca) = &self.sql.ca_file {
            if !ca.is_file() {
                return Err(SqlError::Config {
                    key: "ca_file",
                    problem: format!(
                        "{} is not a file: give the PEM file with the certificate of the CA \
                         that issued SQL Server's certificate",
                        ca.display()
                    ),
                });
            }
            config.trust_cert_ca(ca.display());
        }
        config.command_timeout(match self.sql.command_timeout_secs {
            0 => None,
            secs => Some(Duration::from_secs(secs)),
        });
        config.authentication(self.auth_method()?);
        Ok(config)
    }

    fn auth_method(&self) -> Result<AuthMethod, SqlError> {
        match self.sql.auth {
            SqlAuth::Sql => {
                let user = self.sql.user.clone().unwrap_or_default();
                let password = self.password.as_ref().map(Secret::expose).unwrap_or("");
                Ok(AuthMethod::sql_server(user, password))
            }
            SqlAuth::Windows => windows_auth(&self.sql.server),
        }
    }

    fn connection(&mut self) -> Result<&mut Connection, SqlError> {
        if self.client.is_none() {
            if self.password.is_none() {
                self.password = self.sql.password()?;
            }
            let config = self.tiberius_config()?;
            let timeout = Duration::from_secs(self.sql.connect_timeout_secs.max(1));
            let named = self.address.instance.is_some() && self.address.port.is_none();
            let client = self
                .runtime
                .block_on(async {
                    tokio::time::timeout(timeout, open(config, named))
                        .await
                        .unwrap_or_else(|_| {
                            Err(OpenError::Unreachable(format!(
                                "no answer within {} s",
                                timeout.as_secs()
                            )))
                        })
                })
                .map_err(|e| self.open_error(e))?;
            tracing::info!(
                target: "hubup::sql",
                "connected to {} as {}",
                self.sql.server,
                self.login_name()
            );
            self.client = Some(client);
            self.restore_context()?;
        }
        Ok(self.client.as_mut().expect("connected above"))
    }

    /// After a reconnect: back to the database the work was in, and the lock if it was held.
    fn restore_context(&mut self) -> Result<(), SqlError> {
        let current = self.current.take();
        if self.lock_depth > 0 {
            self.acquire_lock(Duration::from_secs(self.sql.lock_timeout_secs))?;
        }
        if let Some(database) = current {
            self.use_database(&database)?;
        }
        Ok(())
    }

    fn open_error(&self, error: OpenError) -> SqlError {
        let server = self.sql.server.clone();
        match error {
            OpenError::Unreachable(problem) => SqlError::Connect {
                server,
                problem: format!(
                    "{problem}; check sql.server (host, host\\instance or host,port), that SQL \
                     Server accepts TCP connections and that no firewall blocks the port"
                ),
            },
            OpenError::Refused { code, message } => SqlError::LoginRefused {
                server,
                login: self.login_name(),
                message: format!("{message} (error {code})"),
                hint: match self.sql.auth {
                    SqlAuth::Sql => format!(
                        "check sql.user and the password in the environment variable {}",
                        self.sql.password_env.as_deref().unwrap_or("?")
                    ),
                    SqlAuth::Windows => {
                        "run hubup as a Windows account that has a login on the server".into()
                    }
                },
            },
            OpenError::Tls(problem) => SqlError::Tls {
                server,
                problem: administrator_words(&problem),
            },
            OpenError::Other(problem) => SqlError::Connect { server, problem },
        }
    }

    /// Runs `sql` and returns the first column of its first row (`None` for NULL or no row).
    pub fn query_int(&mut self, sql: &str, params: &[Param<'_>]) -> Result<Option<i32>, SqlError> {
        let rows = self.query(sql, params)?;
        Ok(rows
            .first()
            .and_then(|row| row.first().cloned().flatten())
            .and_then(|v| v.int()))
    }

    /// Runs `sql` and returns its first row as texts (`None` if there is no row).
    pub fn query_texts(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
    ) -> Result<Option<Vec<Option<String>>>, SqlError> {
        let rows = self.query(sql, params)?;
        Ok(rows
            .into_iter()
            .next()
            .map(|row| row.into_iter().map(|v| v.and_then(Value::text)).collect()))
    }

    fn query(
        &mut self,
        sql: &str,
        params: &[Param<'_>],
    ) -> Result<Vec<Vec<Option<Value>>>, SqlError> {
        let owned = OwnedParams::new(params);
        let refs = owned.refs();
        self.connection()?;
        log_statement(sql);
        let client = self.client.as_mut().expect("connected above");
        let result = self.runtime.block_on(async move {
            let rows = client.query(sql, &refs).await?.into_first_result().await?;
            Ok(rows.iter().map(row_values).collect())
        });
        result.map_err(|e| self.statement_error(sql, e))
    }

    /// Runs a statement; returns the rows it affected.
    pub fn execute(&mut self, sql: &str, params: &[Param<'_>]) -> Result<u64, SqlError> {
        let owned = OwnedParams::new(params);
        let refs = owned.refs();
        self.connection()?;
        log_statement(sql);
        let client = self.client.as_mut().expect("connected above");
        let result = self
            .runtime
            .block_on(async move { Ok(client.execute(sql, &refs).await?.total()) });
        result.map_err(|e| self.statement_error(sql, e))
    }

    /// Runs text without parameters as a batch (migration batches, DDL, transactions).
    pub fn batch(&mut self, sql: &str) -> Result<(), SqlError> {
        self.connection()?;
        log_statement(sql);
        let client = self.client.as_mut().expect("connected above");
        let result = self.runtime.block_on(async move {
            client.simple_query(sql).await?.into_results().await?;
            Ok(())
        });
        result.map_err(|e| self.statement_error(sql, e))
    }

    fn statement_error(&mut self, sql: &str, error: tiberius::error::Error) -> SqlError {
        let statement = statement_summary(sql);
        tracing::warn!(target: "hubup::sql", "`{statement}` failed: {error}");
        match error {
            tiberius::error::Error::Server(token) => SqlError::Server {
                server: self.sql.server.clone(),
                statement,
                number: token.code(),
                message: token.message().to_string(),
            },
            other => {
                // The connection is unusable: drop it; the next call connects again.
                self.client = None;
                SqlError::ConnectionLost {
                    server: self.sql.server.clone(),
                    statement,
                    problem: other.to_string(),
                }
            }
        }
    }

    /// `USE [database]`, remembered for reconnects.
    pub fn use_database(&mut self, database: &str) -> Result<(), SqlError> {
        if self.current.as_deref() == Some(database) && self.client.is_some() {
            return Ok(());
        }
        self.batch(&st::use_database(database))?;
        self.current = Some(database.to_string());
        Ok(())
    }

    /// Takes the installation-wide application lock (in `master`), waiting up to `wait`.
    /// Nested calls count; the lock goes when the outermost holder calls [`Session::unlock`].
    pub fn lock(&mut self, wait: Duration) -> Result<(), SqlError> {
        if self.lock_depth == 0 {
            self.acquire_lock(wait)?;
        }
        self.lock_depth += 1;
        Ok(())
    }

    fn acquire_lock(&mut self, wait: Duration) -> Result<(), SqlError> {
        self.use_database("master")?;
        let millis = i32::try_from(wait.as_millis()).unwrap_or(i32::MAX);
        let result = self.query_int(
            st::GET_APPLOCK,
            &[Param::Text(st::APPLOCK_RESOURCE), Param::Int(millis)],
        )?;
        match result {
            Some(0 | 1) => Ok(()),
            other => Err(SqlError::Locked {
                server: self.sql.server.clone(),
                waited_secs: wait.as_secs(),
                result: other.unwrap_or(-999),
            }),
        }
    }

    pub fn unlock(&mut self) -> Result<(), SqlError> {
        match self.lock_depth {
            0 => return Ok(()),
            1 => {}
            _ => {
                self.lock_depth -= 1;
                return Ok(());
            }
        }
        self.lock_depth = 0;
        if self.client.is_none() {
            // The connection is gone, and the server released the lock with it.
            return Ok(());
        }
        self.use_database("master")?;
        self.execute(st::RELEASE_APPLOCK, &[Param::Text(st::APPLOCK_RESOURCE)])?;
        Ok(())
    }
}

/// Logs a statement as sent: its text only (values travel as parameters and are never
/// logged, so no secret reaches the log).
fn log_statement(sql: &str) {
    tracing::info!(target: "hubup::sql", "{}", statement_summary(sql));
}

/// The first line of a statement, shortened, for error messages (statements carry no secrets:
/// values travel as parameters).
fn statement_summary(sql: &str) -> String {
    let line = sql
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    if line.chars().count() > 100 {
        format!("{}...", line.chars().take(100).collect::<String>())
    } else {
        line.to_string()
    }
}

enum OpenError {
    Unreachable(String),
    Refused {
        code: u32,
        message: String,
    },
    /// The TLS handshake failed (most often: the server's certificate is not trusted).
    Tls(String),
    Other(String),
}

/// `sql.encrypt` as tiberius's level. `off` is `Off`, which encrypts the login packet and
/// nothing after it (what every SQL Server client does with Encrypt=False), never
/// `NotSupported`, which would send the password in clear.
fn encryption_level(encrypt: &str) -> EncryptionLevel {
    match encrypt {
        "off" => EncryptionLevel::Off,
        "required" => EncryptionLevel::Required,
        _ => EncryptionLevel::On,
    }
}

/// A TLS failure as tiberius words it, without its advice to programmers (its `Config::`
/// calls); hubup's error says what to set instead.
fn administrator_words(problem: &str) -> String {
    let problem = problem
        .split(" To connect anyway")
        .next()
        .unwrap_or(problem)
        .trim()
        .trim_end_matches('.');
    problem
        .strip_prefix("the server's certificate was rejected during the TLS handshake: ")
        .map(|rest| format!("SQL Server's certificate was not accepted ({rest})"))
        .unwrap_or_else(|| problem.to_string())
}

async fn open(config: Config, named: bool) -> Result<Connection, OpenError> {
    let tcp = if named {
        use tiberius::SqlBrowser;
        TcpStream::connect_named(&config)
            .await
            .map_err(|e| OpenError::Unreachable(format!("SQL Browser lookup failed: {e}")))?
    } else {
        TcpStream::connect(config.get_addr()).await.map_err(|e| {
            OpenError::Unreachable(format!("cannot connect to {}: {e}", config.get_addr()))
        })?
    };
    let _ = tcp.set_nodelay(true);
    Client::connect(config, tcp.compat_write())
        .await
        .map_err(|e| match e {
            tiberius::error::Error::Server(token) => OpenError::Refused {
                code: token.code(),
                message: token.message().to_string(),
            },
            tiberius::error::Error::Tls(message) => OpenError::Tls(message),
            tiberius::error::Error::Io { .. } if is_tls_failure(&e) => {
                OpenError::Tls(e.to_string())
            }
            tiberius::error::Error::Io { .. } => OpenError::Unreachable(e.to_string()),
            other => OpenError::Other(other.to_string()),
        })
}

/// An I/O error that is a TLS handshake's failure (rustls reports them as I/O errors).
fn is_tls_failure(error: &tiberius::error::Error) -> bool {
    let text = error.to_string().to_lowercase();
    ["certificate", "tls", "handshake"]
        .iter()
        .any(|word| text.contains(word))
}

#[cfg(windows)]
fn windows_auth(_server: &str) -> Result<AuthMethod, SqlError> {
    Ok(AuthMethod::Integrated)
}

#[cfg(not(windows))]
fn windows_auth(server: &str) -> Result<AuthMethod, SqlError> {
    Err(SqlError::Connect {
        server: server.to_string(),
        problem: "Windows authentication (sql.auth = \"windows\") needs hubup on Windows; \
                  use sql.auth = \"sql\" here"
            .into(),
    })
}

/// A cell as hubup reads it: the statements above return INTs and texts only.
#[derive(Clone, Debug)]
enum Value {
    Int(i64),
    Text(String),
}

impl Value {
    fn int(self) -> Option<i32> {
        match self {
            Value::Int(v) => i32::try_from(v).ok(),
            Value::Text(t) => t.trim().parse().ok(),
        }
    }

    fn text(self) -> Option<String> {
        match self {
            Value::Int(v) => Some(v.to_string()),
            Value::Text(t) => Some(t),
        }
    }
}

fn row_values(row: &tiberius::Row) -> Vec<Option<Value>> {
    (0..row.len())
        .map(|i| {
            if let Ok(Some(v)) = row.try_get::<i32, _>(i) {
                return Some(Value::Int(v.into()));
            }
            if let Ok(Some(v)) = row.try_get::<i64, _>(i) {
                return Some(Value::Int(v));
            }
            if let Ok(Some(v)) = row.try_get::<&str, _>(i) {
                return Some(Value::Text(v.to_string()));
            }
            None
        })
        .collect()
}

/// Parameters owned for the duration of a call (tiberius borrows them as `&dyn ToSql`).
struct OwnedParams {
    texts: Vec<Option<String>>,
    ints: Vec<Option<i32>>,
}

impl OwnedParams {
    fn new(params: &[Param<'_>]) -> OwnedParams {
        let mut texts = Vec::new();
        let mut ints = Vec::new();
        for p in params {
            match p {
                Param::Text(t) => {
                    texts.push(Some(t.to_string()));
                    ints.push(None);
                }
                Param::Int(i) => {
                    texts.push(None);
                    ints.push(Some(*i));
                }
            }
        }
        OwnedParams { texts, ints }
    }

    fn refs(&self) -> Vec<&dyn ToSql> {
        self.texts
            .iter()
            .zip(&self.ints)
            .map(|(t, i)| match (t, i) {
                (Some(t), _) => t as &dyn ToSql,
                (None, Some(i)) => i as &dyn ToSql,
                (None, None) => unreachable!("every parameter is a text or an int"),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_forms_parse() {
        let a = ServerAddress::parse("SQL01").unwrap();
        assert_eq!((a.host.as_str(), a.instance, a.port), ("SQL01", None, None));
        let a = ServerAddress::parse(r"SQL01\HUB").unwrap();
        assert_eq!(a.instance.as_deref(), Some("HUB"));
        let a = ServerAddress::parse("127.0.0.1,14330").unwrap();
        assert_eq!((a.host.as_str(), a.port), ("127.0.0.1", Some(14330)));
        assert!(ServerAddress::parse("SQL01,notaport").is_err());
        assert!(ServerAddress::parse(r"\HUB").is_err());
    }

    #[test]
    fn encrypt_off_still_encrypts_the_login() {
        assert_eq!(encryption_level("off"), EncryptionLevel::Off);
        assert_eq!(encryption_level("on"), EncryptionLevel::On);
        assert_eq!(encryption_level("required"), EncryptionLevel::Required);
    }

    #[test]
    fn tls_failures_are_told_without_developer_advice() {
        let text = administrator_words(
            "the server's certificate was rejected during the TLS handshake: invalid peer \
             certificate: UnknownIssuer. To connect anyway you can: (1) trust a specific CA \
             certificate with `Config::trust_cert_ca(path)`",
        );
        assert_eq!(
            text,
            "SQL Server's certificate was not accepted (invalid peer certificate: UnknownIssuer)"
        );
    }

    #[test]
    fn statement_summaries_are_one_short_line() {
        assert_eq!(
            statement_summary("\nCREATE TABLE x (\n a INT)"),
            "CREATE TABLE x ("
        );
        assert_eq!(statement_summary(&"A".repeat(300)).len(), 103);
    }
}
