//! Pre-provisioned mode (`sql.mode = "preprovisioned"`): a DBA created the databases, users and
//! grants beforehand (for example with `hubup sql-script`). hubup changes nothing on the server;
//! before any change to the install it verifies that everything the chain needs is there, and
//! refuses with the whole list of what is missing.
//!
//! The one exception is what the administrator asks for explicitly: `--backup-databases`
//! backups are taken as in execution mode (a backup changes no database).

use crate::op::{Op, OpOutcome, SqlBefore, SqlOp};
use crate::sql::execute::{ExecuteTarget, Found};
use crate::sql::{SqlError, SqlTarget};

pub struct PreprovisionedTarget {
    /// Used only for its read-only lookups.
    server: ExecuteTarget,
}

impl PreprovisionedTarget {
    pub fn new(server: ExecuteTarget) -> PreprovisionedTarget {
        PreprovisionedTarget { server }
    }

    /// What the server holds for `op` (reads only).
    pub(crate) fn find(&mut self, op: &SqlOp) -> Result<Found, SqlError> {
        self.server.find(op)
    }

    /// What is missing for `op`, if anything.
    fn missing(&mut self, op: &SqlOp) -> Result<Option<String>, SqlError> {
        Ok(match self.server.find(op)? {
            Found::Done => None,
            Found::Missing => Some(format!("missing: {}", Op::Sql(op.clone()).describe())),
            Found::Conflict(problem) | Found::Interrupted(problem) => Some(problem),
        })
    }
}

impl SqlTarget for PreprovisionedTarget {
    fn preflight(&mut self, ops: &[SqlOp]) -> Result<(), SqlError> {
        let mut problems = self.server.backup_problems(ops)?;
        for op in ops.iter().filter(|op| !is_backup(op)) {
            if let Some(problem) = self.missing(op)? {
                problems.push(problem);
            }
        }
        if problems.is_empty() {
            return Ok(());
        }
        Err(SqlError::NotProvisioned { problems })
    }

    // Nothing is created, so there is nothing to serialize with other machines.
    fn lock(&mut self) -> Result<(), SqlError> {
        Ok(())
    }

    fn unlock(&mut self) -> Result<(), SqlError> {
        Ok(())
    }

    fn apply(&mut self, op: &SqlOp, before: Option<&SqlBefore>) -> Result<OpOutcome, SqlError> {
        if is_backup(op) {
            return self.server.apply(op, before);
        }
        match self.missing(op)? {
            None => Ok(OpOutcome::AlreadyPresent),
            Some(problem) => Err(SqlError::NotProvisioned {
                problems: vec![problem],
            }),
        }
    }

    fn verify_dba_work(&mut self, ops: &[SqlOp]) -> Result<(), SqlError> {
        self.server.verify_dba_work(ops)
    }

    fn check(&mut self, op: &SqlOp, _before: Option<&SqlBefore>) -> Result<bool, SqlError> {
        Ok(self.missing(op)?.is_none())
    }

    /// The DBA's objects stay: hubup did not create them (and backup files are kept).
    fn undo(
        &mut self,
        _op: &SqlOp,
        _outcome: Option<&OpOutcome>,
        _before: Option<&SqlBefore>,
    ) -> Result<(), SqlError> {
        Ok(())
    }
}

fn is_backup(op: &SqlOp) -> bool {
    matches!(op, SqlOp::BackupDatabase { .. })
}
