//! Everything SQL Server: the `[sql]` settings, the migrations compiled into the binary, the
//! T-SQL text of each database op, and the [`SqlTarget`] adapter the executor drives, one
//! implementation per mode (`script.rs` writes the T-SQL for a DBA).
//!
//! The executor never builds SQL itself; it hands `SqlOp`s to a target. Identifiers are always
//! quoted and values are literals or parameters, never spliced text.

mod migrations;
mod script;
mod settings;
mod tsql;

use std::path::{Path, PathBuf};

use crate::op::{OpOutcome, SqlOp};
use crate::version::Step;

pub use migrations::{MIGRATIONS, Migration, migrations_for, split_batches};
pub use script::{ROLLBACK_FILE, SCRIPT_FILE, ScriptTarget};
pub use settings::{
    DATABASE_KEYS, LicenseManagerChoice, SqlAuth, SqlMode, SqlSettings, SqlSettingsError,
};
pub use tsql::{quote_ident, quote_literal, script_for, undo_script_for};

/// Database work failed. Messages never contain a password.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    #[error("cannot write {path}: {problem}")]
    Output { path: PathBuf, problem: String },
    #[error(transparent)]
    Settings(#[from] SqlSettingsError),
    #[error("{0}")]
    Unsupported(String),
}

/// The database side of an upgrade, as the executor drives it.
pub trait SqlTarget {
    /// Checks, before any change, that the work can be done (connection, permissions, output).
    fn preflight(&mut self, ops: &[SqlOp]) -> Result<(), SqlError>;
    /// Takes the installation-wide lock around a step's database work (several machines may
    /// upgrade at once).
    fn lock(&mut self) -> Result<(), SqlError>;
    fn unlock(&mut self) -> Result<(), SqlError>;
    /// Does the op; says whether it changed something or found it done.
    fn apply(&mut self, op: &SqlOp) -> Result<OpOutcome, SqlError>;
    /// True if the op's post-state already holds.
    fn check(&mut self, op: &SqlOp) -> Result<bool, SqlError>;
    /// Reverses the op if this machine's run did it (`outcome` is what its done record said).
    fn undo(&mut self, op: &SqlOp, outcome: Option<&OpOutcome>) -> Result<(), SqlError>;
}

/// The target the settings ask for, writing into `output_dir` where it writes files.
pub fn sql_target(
    settings: &SqlSettings,
    output_dir: &Path,
) -> Result<Box<dyn SqlTarget>, SqlError> {
    settings.validate()?;
    match settings.mode {
        SqlMode::Script => Ok(Box::new(ScriptTarget::new(output_dir))),
        SqlMode::Execute | SqlMode::Preprovisioned => Err(SqlError::Unsupported(format!(
            "sql.mode = \"{}\" is not available in this build of hubup; use sql.mode = \"script\" \
             (hubup writes the T-SQL for a DBA into {})",
            if settings.mode == SqlMode::Execute {
                "execute"
            } else {
                "preprovisioned"
            },
            output_dir.display()
        ))),
    }
}

/// The whole chain's database work as one script, step by step (`hubup sql-script`).
pub fn render_script(steps: &[(Step, Vec<SqlOp>)]) -> String {
    let mut out = String::from(
        "-- Database work of a hubup upgrade, for a DBA to run (sqlcmd -i or SSMS in SQLCMD\n\
         -- mode). Every block is guarded and can safely run twice.\n",
    );
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
            out.push_str(&script_for(op));
        }
    }
    out
}
