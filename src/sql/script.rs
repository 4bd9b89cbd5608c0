//! Script mode: instead of executing database work, hubup writes the exact T-SQL for a DBA into
//! `hubup-database.sql` in the output folder, one guarded block per op, each headed by a comment
//! naming the op. Applying an op appends its block; undoing it removes the block and appends
//! the reversing T-SQL to `hubup-database-rollback.sql`. Every change to the files is atomic
//! (temp file, flush, rename), so the script always holds whole blocks.

use std::fs;
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::fsx;
use crate::op::{OpOutcome, SqlBefore, SqlOp};
use crate::sql::tsql;
use crate::sql::{SqlError, SqlTarget};

/// The script file's name in the output folder.
pub const SCRIPT_FILE: &str = "hubup-database.sql";
/// The file collecting the reversing T-SQL of undone ops.
pub const ROLLBACK_FILE: &str = "hubup-database-rollback.sql";

pub struct ScriptTarget {
    dir: PathBuf,
}

impl ScriptTarget {
    pub fn new(dir: &Path) -> ScriptTarget {
        ScriptTarget {
            dir: dir.to_path_buf(),
        }
    }

    fn script_path(&self) -> PathBuf {
        self.dir.join(SCRIPT_FILE)
    }

    fn read(&self, path: &Path) -> Result<String, SqlError> {
        match fs::read_to_string(path) {
            Ok(text) => Ok(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(SqlError::Output {
                path: path.to_path_buf(),
                problem: e.to_string(),
            }),
        }
    }

    fn write(&self, path: &Path, text: &str) -> Result<(), SqlError> {
        fsx::create_dir_all(&self.dir).map_err(|e| SqlError::Output {
            path: self.dir.clone(),
            problem: e.to_string(),
        })?;
        fsx::write_bytes(path, text.as_bytes()).map_err(|e| SqlError::Output {
            path: path.to_path_buf(),
            problem: e.to_string(),
        })?;
        Ok(())
    }
}

/// The marker line that opens an op's block: its description and a digest of the op, so the
/// same op is found again (check, undo) and a DBA sees what each block is for.
fn marker(op: &SqlOp) -> String {
    let encoded = serde_json::to_vec(op).unwrap_or_default();
    format!(
        "-- hubup {}: {}\n",
        Digest::of(&encoded).short(),
        crate::op::Op::Sql(op.clone()).describe()
    )
}

fn block(op: &SqlOp) -> String {
    format!("{}{}\n", marker(op), tsql::script_for(op))
}

impl SqlTarget for ScriptTarget {
    fn preflight(&mut self, _ops: &[SqlOp]) -> Result<(), SqlError> {
        // Nothing to connect to; the output folder must be writable.
        fsx::create_dir_all(&self.dir).map_err(|e| SqlError::Output {
            path: self.dir.clone(),
            problem: e.to_string(),
        })
    }

    fn lock(&mut self) -> Result<(), SqlError> {
        Ok(())
    }

    fn unlock(&mut self) -> Result<(), SqlError> {
        Ok(())
    }

    fn apply(&mut self, op: &SqlOp, _before: Option<&SqlBefore>) -> Result<OpOutcome, SqlError> {
        let path = self.script_path();
        let mut text = self.read(&path)?;
        if text.contains(&marker(op)) {
            return Ok(OpOutcome::AlreadyPresent);
        }
        if text.is_empty() {
            text.push_str(
                "-- Database work of a hubup upgrade, for a DBA to run (sqlcmd -i or SSMS in\n\
                 -- SQLCMD mode). Every block is guarded and can safely run twice.\n\n",
            );
        }
        text.push_str(&block(op));
        self.write(&path, &text)?;
        Ok(OpOutcome::Applied)
    }

    fn check(&mut self, op: &SqlOp, _before: Option<&SqlBefore>) -> Result<bool, SqlError> {
        Ok(self.read(&self.script_path())?.contains(&marker(op)))
    }

    fn undo(
        &mut self,
        op: &SqlOp,
        _outcome: Option<&OpOutcome>,
        _before: Option<&SqlBefore>,
    ) -> Result<(), SqlError> {
        let path = self.script_path();
        let text = self.read(&path)?;
        let whole = block(op);
        if !text.contains(&whole) {
            return Ok(());
        }
        let rollback_path = self.dir.join(ROLLBACK_FILE);
        let mut rollback = self.read(&rollback_path)?;
        rollback.push_str(&marker(op).replacen("-- hubup", "-- hubup undo", 1));
        rollback.push_str(&tsql::undo_script_for(op));
        rollback.push('\n');
        self.write(&rollback_path, &rollback)?;
        self.write(&path, &text.replacen(&whole, "", 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_check_undo_keep_the_script_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut target = ScriptTarget::new(dir.path());
        let op = SqlOp::CreateDatabase {
            database: "LicenseManagerDB".into(),
        };
        assert!(!target.check(&op, None).unwrap());
        assert_eq!(target.apply(&op, None).unwrap(), OpOutcome::Applied);
        assert_eq!(target.apply(&op, None).unwrap(), OpOutcome::AlreadyPresent);
        assert!(target.check(&op, None).unwrap());
        let script = fs::read_to_string(dir.path().join(SCRIPT_FILE)).unwrap();
        assert!(script.contains("CREATE DATABASE [LicenseManagerDB]"));
        target.undo(&op, None, None).unwrap();
        assert!(!target.check(&op, None).unwrap());
        let rollback = fs::read_to_string(dir.path().join(ROLLBACK_FILE)).unwrap();
        assert!(rollback.contains("DROP DATABASE [LicenseManagerDB]"));
    }
}
