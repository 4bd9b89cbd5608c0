//! Everything SQL Server: the `[sql]` table of the config, the migrations compiled into the binary, the
//! T-SQL text of each database op, and the [`SqlTarget`] adapter the executor drives, one
//! implementation per mode: `script.rs` writes the T-SQL for a DBA, `execute.rs` runs it over a
//! `session.rs` connection (tiberius), `preprovisioned.rs` only verifies a DBA's work.
//! `statements.rs` lists every statement the execution mode sends; `backup.rs` names the
//! database backups `--backup-databases` takes.
//!
//! The executor never builds SQL itself; it hands `SqlOp`s to a target. Identifiers are always
//! quoted and values are literals or parameters, never spliced text. An op whose change a
//! crash could orphan (`CREATE DATABASE`, `CREATE LOGIN`) first says what it finds
//! ([`SqlTarget::prepare`]); the executor journals that before the change and hands it back to
//! `apply`, `check` and `undo`. Which machine created a database is the journal's machine id.

mod backup;
mod config;
mod execute;
mod migrations;
mod preprovisioned;
mod script;
mod session;
pub mod statements;
mod tsql;

use std::path::{Path, PathBuf};

use crate::op::{OpOutcome, SqlBefore, SqlOp};
use crate::version::Step;

pub use backup::{BackupFolderError, DatabaseBackups};
pub use config::{
    DATABASE_KEYS, DatabasePlanning, DatabaseUsers, LicenseManagerChoice, LicenseManagerPermission,
    SqlAuth, SqlConfig, SqlConfigError, SqlMode,
};
pub use execute::{ExecuteTarget, Found};
pub use migrations::{MIGRATIONS, Migration, migrations_for, split_batches};
pub use preprovisioned::PreprovisionedTarget;
pub use script::{PREVIOUS_DIR, ROLLBACK_FILE, SCRIPT_FILE, ScriptTarget};
pub use session::{Param, ServerAddress, ServerRoles, Session};
pub use tsql::{ScriptHeader, quote_ident, quote_literal, script_for, undo_script_for};

/// Database work failed. Messages never contain a password (values travel as parameters and
/// errors quote statements, not parameters).
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    #[error("cannot write {path}: {problem}")]
    Output { path: PathBuf, problem: String },
    #[error(transparent)]
    InvalidConfig(#[from] SqlConfigError),
    #[error("sql.{key}: {problem}")]
    Config { key: &'static str, problem: String },
    #[error("cannot connect to SQL Server {server}: {problem}")]
    Connect { server: String, problem: String },
    #[error(
        "the encrypted connection to SQL Server {server} failed: {problem}. hubup checks the \
         server's certificate (the login is encrypted even with sql.encrypt = \"off\"): set \
         sql.ca_file to a PEM file with the certificate of the CA that issued the server's \
         certificate (or the server's own certificate, if it is self-signed), or, only on a \
         network you trust, sql.trust_server_certificate = true"
    )]
    Tls { server: String, problem: String },
    #[error("SQL Server {server} refused the login {login}: {message}; {hint}")]
    LoginRefused {
        server: String,
        login: String,
        message: String,
        hint: String,
    },
    #[error(
        "SQL Server {server}: the login {login} lacks {need}; ask a DBA for it, or use sql.mode = \"script\" and let a DBA run the T-SQL"
    )]
    Permission {
        server: String,
        login: String,
        need: String,
    },
    #[error("SQL Server {server} answered error {number} to `{statement}`: {message}")]
    Server {
        server: String,
        statement: String,
        number: u32,
        message: String,
    },
    #[error("lost the connection to SQL Server {server} during `{statement}`: {problem}")]
    ConnectionLost {
        server: String,
        statement: String,
        problem: String,
    },
    #[error(
        "another machine holds hubup's upgrade lock on SQL Server {server} (waited {waited_secs} s, sp_getapplock returned {result}); let its upgrade finish, then run hubup again"
    )]
    Locked {
        server: String,
        waited_secs: u64,
        result: i32,
    },
    #[error("{problem}")]
    Migration { problem: String },
    #[error("SQL Server {server} is not ready for the upgrade:\n  - {}", problems.join("\n  - "))]
    NotReady {
        server: String,
        problems: Vec<String>,
    },
    #[error("sql.mode = \"preprovisioned\", but the database work is not done yet (a DBA can run `hubup sql-script`):\n  - {}", problems.join("\n  - "))]
    NotProvisioned { problems: Vec<String> },
    #[error(
        "the database work in {} is not done on the server yet:\n  - {}\nGive the script to your DBA (sqlcmd -b -i FILE), then run `hubup resume` again",
        script.display(), problems.join("\n  - ")
    )]
    DbaWorkMissing {
        script: PathBuf,
        problems: Vec<String>,
    },
    #[error(
        "hubup does not check that the DBA ran {} ({why}). Once the DBA confirms the script \
         ran without errors, run `hubup resume --dba-confirmed` (journaled as not checked); or \
         give hubup a login that may read on sql.server and set sql.check_dba_work = true so \
         `hubup resume` checks",
        script.display()
    )]
    NotVerifiable { script: PathBuf, why: String },
}

/// The database side of an upgrade, as the executor drives it.
pub trait SqlTarget {
    /// Checks, before any change, that the work can be done (connection, permissions, output).
    fn preflight(&mut self, ops: &[SqlOp]) -> Result<(), SqlError>;
    /// Takes the installation-wide lock around a step's database work (several machines may
    /// upgrade at once). Nothing is held after an error.
    ///
    /// Re-entrant: a holder may take it again (an upgrade holds it for the whole run and each
    /// step takes it inside); every successful `lock` is matched by one [`unlock`], and the
    /// lock is released at the outermost one. The executor never calls the pair itself: it
    /// holds the lock through one guard (`exec/sql_lock.rs`) that releases it when dropped.
    /// Targets that need no lock (script, preprovisioned) do nothing.
    ///
    /// [`unlock`]: SqlTarget::unlock
    fn lock(&mut self) -> Result<(), SqlError>;
    /// Gives back one [`lock`](SqlTarget::lock); the lock is released when the last one is
    /// given back. Without a lock held, does nothing.
    fn unlock(&mut self) -> Result<(), SqlError>;
    /// The run (id, hex) and step whose ops follow: script mode heads its scripts with them.
    fn start_step(&mut self, _run: &str, _step: Step) {}
    /// Script mode: the script a DBA must run before the step's sites start (the executor
    /// stops the step there). `None` for the modes that do or verify the work themselves.
    fn dba_script(&self) -> Option<PathBuf> {
        None
    }
    /// On resume of a step that waited for its DBA: checks (reading only) that the work of
    /// `ops` is on the server; the error lists what is not there. (Every mode checks: the
    /// config may have left script mode since the step stopped.)
    fn verify_dba_work(&mut self, ops: &[SqlOp]) -> Result<(), SqlError>;
    /// Reads (changes nothing) what the server holds that applying `op` would change, for
    /// the executor to journal after the op's intent and before its change; `None` when
    /// nothing needs recording. What it returns is handed back to `apply`, `check` and
    /// `undo` (also after a crash, from the journal).
    fn prepare(&mut self, _op: &SqlOp) -> Result<Option<SqlBefore>, SqlError> {
        Ok(None)
    }
    /// Does the op; says whether it changed something or found it done.
    fn apply(&mut self, op: &SqlOp, before: Option<&SqlBefore>) -> Result<OpOutcome, SqlError>;
    /// True if the op's post-state already holds.
    fn check(&mut self, op: &SqlOp, before: Option<&SqlBefore>) -> Result<bool, SqlError>;
    /// Reverses the op if this machine's run did it (`outcome` is what its done record said,
    /// `before` what it found before its change).
    fn undo(
        &mut self,
        op: &SqlOp,
        outcome: Option<&OpOutcome>,
        before: Option<&SqlBefore>,
    ) -> Result<(), SqlError>;
}

/// The target the `[sql]` table asks for, writing into `output_dir` where it writes files.
/// `identity` names this machine on the server (the machine id of its journal: it marks the
/// databases it creates).
pub fn sql_target(
    sql: &SqlConfig,
    output_dir: &Path,
    identity: &str,
) -> Result<Box<dyn SqlTarget>, SqlError> {
    sql.validate()?;
    Ok(match sql.mode {
        SqlMode::Script => {
            let target = ScriptTarget::new(output_dir, identity);
            if sql.server.trim().is_empty() {
                Box::new(target.unverified("sql.server is not set"))
            } else if !sql.check_dba_work {
                Box::new(target.unverified("sql.check_dba_work = false"))
            } else {
                let server = ExecuteTarget::new(sql, identity)?;
                Box::new(target.with_verifier(PreprovisionedTarget::new(server)))
            }
        }
        SqlMode::Execute => Box::new(ExecuteTarget::new(sql, identity)?),
        SqlMode::Preprovisioned => Box::new(PreprovisionedTarget::new(ExecuteTarget::new(
            sql, identity,
        )?)),
    })
}

/// The whole chain's database work as one script, step by step (`hubup sql-script`), for
/// the machine `machine` (its id marks the databases the script creates).
pub fn render_script(machine: &str, steps: &[(Step, Vec<SqlOp>)]) -> String {
    let header = ScriptHeader {
        title: "the database work of an upgrade (hubup sql-script)".to_string(),
        machine: machine.to_string(),
        run: None,
        steps: steps
            .iter()
            .map(|(s, _)| s.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        written: crate::journal::format_utc(crate::journal::now_ms()),
    };
    let mut out = header.render();
    for (step, ops) in steps {
        out.push_str(&format!("\n-- ===== Step {step} =====\n"));
        if ops.is_empty() {
            out.push_str("-- (no database work)\n");
        }
        for op in ops {
            out.push_str(&format!(
                "\n-- {}\n",
                crate::op::Op::Sql(op.clone()).describe()
            ));
            out.push_str(&script_for(op, &header));
        }
    }
    out
}
