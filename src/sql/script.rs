//! Script mode: instead of executing database work, hubup writes the exact T-SQL for a DBA
//! into `hubup-database.sql` in the output folder, one guarded block per op, each headed by a
//! comment naming the op, under a header naming the run, the machine id, the step and the time
//! (`tsql.rs`). Undoing an op removes its block and appends the reversing T-SQL to
//! `hubup-database-rollback.sql` (same kind of header). A script of another run or step is
//! moved into `previous/` before a new one is started, so no old script is left to be run by
//! mistake. Every change to the files is atomic (temp file, flush, rename).
//!
//! The executor stops a step before it starts the sites that need the database work
//! ([`SqlTarget::dba_script`]); on resume, hubup checks read-only that the work is there
//! ([`SqlTarget::verify_dba_work`]), with the `[sql]` server and login when one is configured.

use std::fs;
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::fsx;
use crate::op::{Op, OpOutcome, SqlBefore, SqlOp};
use crate::sql::execute::Found;
use crate::sql::preprovisioned::PreprovisionedTarget;
use crate::sql::tsql::{self, ScriptHeader};
use crate::sql::{SqlError, SqlTarget};
use crate::version::Step;

/// The script file's name in the output folder.
pub const SCRIPT_FILE: &str = "hubup-database.sql";
/// The file collecting the reversing T-SQL of undone ops.
pub const ROLLBACK_FILE: &str = "hubup-database-rollback.sql";
/// Where scripts of earlier runs and steps go, inside the output folder.
pub const PREVIOUS_DIR: &str = "previous";

pub struct ScriptTarget {
    dir: PathBuf,
    /// The machine id (marks and drop guards).
    machine: String,
    /// The run and step whose work is being written (set by the executor).
    run: Option<String>,
    step: Option<Step>,
    /// A read-only view of the server, when `[sql]` names one: how resume checks the DBA's
    /// work.
    verifier: Option<PreprovisionedTarget>,
}

impl ScriptTarget {
    pub fn new(dir: &Path, machine: &str) -> ScriptTarget {
        ScriptTarget {
            dir: dir.to_path_buf(),
            machine: machine.to_string(),
            run: None,
            step: None,
            verifier: None,
        }
    }

    /// The target with a read-only view of the server to check the DBA's work on resume.
    pub fn with_verifier(mut self, verifier: PreprovisionedTarget) -> ScriptTarget {
        self.verifier = Some(verifier);
        self
    }

    fn script_path(&self) -> PathBuf {
        self.dir.join(SCRIPT_FILE)
    }

    fn header(&self, title: &str) -> ScriptHeader {
        ScriptHeader {
            title: title.to_string(),
            machine: self.machine.clone(),
            run: self.run.clone(),
            steps: self.step.map(|s| s.to_string()).unwrap_or_default(),
            written: crate::journal::format_utc(crate::journal::now_ms()),
        }
    }

    /// The lines that tie a script to its run and step (its header's `run:` and `steps:`).
    fn identity_lines(&self) -> (String, String) {
        (
            format!("-- run:      {}\n", self.run.as_deref().unwrap_or("")),
            format!(
                "-- steps:    {}\n",
                self.step.map(|s| s.to_string()).unwrap_or_default()
            ),
        )
    }

    fn read(&self, path: &Path) -> Result<String, SqlError> {
        match fs::read_to_string(path) {
            Ok(text) => Ok(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(output_error(path, e)),
        }
    }

    fn write(&self, path: &Path, text: &str) -> Result<(), SqlError> {
        crate::access::create_private_dir_all(&self.dir).map_err(|e| output_error(&self.dir, e))?;
        fsx::write_bytes(path, text.as_bytes()).map_err(|e| SqlError::Output {
            path: path.to_path_buf(),
            problem: e.to_string(),
        })?;
        Ok(())
    }

    /// The text of the script at `path` for this run and step: what is there if it is this
    /// step's, else a new header (an older script is moved into `previous/` first).
    fn current(&self, path: &Path, title: &str) -> Result<String, SqlError> {
        let text = self.read(path)?;
        let (run, steps) = self.identity_lines();
        if !text.is_empty() && text.contains(&run) && text.contains(&steps) {
            return Ok(text);
        }
        if !text.is_empty() {
            self.move_aside(path, &text)?;
        }
        Ok(format!("{}\n", self.header(title).render()))
    }

    /// Moves an older script into `previous/`, named by the run and step its header names
    /// (or by its digest when it has no header), never over another file.
    fn move_aside(&self, path: &Path, text: &str) -> Result<(), SqlError> {
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("-- {name}:")))
                .map(|v| v.trim().replace(" -> ", "-to-"))
                .filter(|v| !v.is_empty())
        };
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("script");
        let tag = match (field("run"), field("steps")) {
            (Some(run), Some(steps)) => format!("{}-{steps}", run.get(..8).unwrap_or(&run)),
            _ => format!("unlabelled-{}", Digest::of(text.as_bytes()).short()),
        };
        let folder = self.dir.join(PREVIOUS_DIR);
        fsx::create_dir_all(&folder).map_err(|e| output_error(&folder, e))?;
        let mut target = folder.join(format!("{stem}-{tag}.sql"));
        let mut n = 1;
        while target.exists() {
            n += 1;
            target = folder.join(format!("{stem}-{tag}-{n}.sql"));
        }
        fsx::rename(path, &target).map_err(|e| output_error(path, e))
    }

    fn block(&self, op: &SqlOp) -> String {
        format!("{}{}\n", marker(op), tsql::script_for(op, &self.header("")))
    }
}

/// Checks, with `find` (reading the server), that the work of every op in `ops` is there.
pub(crate) fn verify_with(
    ops: &[SqlOp],
    script: &Path,
    mut find: impl FnMut(&SqlOp) -> Result<Found, SqlError>,
) -> Result<(), SqlError> {
    let mut problems = Vec::new();
    for op in ops {
        match find(op)? {
            Found::Done => {}
            Found::Missing => {
                problems.push(format!("not done: {}", Op::Sql(op.clone()).describe()))
            }
            Found::Conflict(problem) | Found::Interrupted(problem) => problems.push(problem),
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(SqlError::DbaWorkMissing {
        script: script.to_path_buf(),
        problems,
    })
}

fn output_error(path: &Path, e: impl std::fmt::Display) -> SqlError {
    SqlError::Output {
        path: path.to_path_buf(),
        problem: e.to_string(),
    }
}

/// The marker line that opens an op's block: its description and a digest of the op, so the
/// same op is found again (check, undo) and a DBA sees what each block is for.
fn marker(op: &SqlOp) -> String {
    let encoded = serde_json::to_vec(op).unwrap_or_default();
    format!(
        "-- hubup {}: {}\n",
        Digest::of(&encoded).short(),
        Op::Sql(op.clone()).describe()
    )
}

impl SqlTarget for ScriptTarget {
    fn preflight(&mut self, _ops: &[SqlOp]) -> Result<(), SqlError> {
        // Nothing to connect to; the output folder must be writable.
        crate::access::create_private_dir_all(&self.dir).map_err(|e| output_error(&self.dir, e))
    }

    fn lock(&mut self) -> Result<(), SqlError> {
        Ok(())
    }

    fn unlock(&mut self) -> Result<(), SqlError> {
        Ok(())
    }

    fn start_step(&mut self, run: &str, step: Step) {
        self.run = Some(run.to_string());
        self.step = Some(step);
    }

    fn dba_script(&self) -> Option<PathBuf> {
        Some(self.script_path())
    }

    fn verify_dba_work(&mut self, ops: &[SqlOp]) -> Result<(), SqlError> {
        let script = self.script_path();
        let Some(verifier) = &mut self.verifier else {
            return Err(SqlError::NotVerifiable { script });
        };
        verify_with(ops, &script, |op| verifier.find(op))
    }

    fn apply(&mut self, op: &SqlOp, _before: Option<&SqlBefore>) -> Result<OpOutcome, SqlError> {
        let path = self.script_path();
        let mut text = self.current(&path, "the database work of an upgrade")?;
        if text.contains(&marker(op)) {
            return Ok(OpOutcome::AlreadyPresent);
        }
        text.push_str(&self.block(op));
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
        let whole = self.block(op);
        if !text.contains(&whole) {
            return Ok(());
        }
        let rollback_path = self.dir.join(ROLLBACK_FILE);
        let mut rollback = self.current(&rollback_path, "the rollback of the database work")?;
        rollback.push_str(&marker(op).replacen("-- hubup", "-- hubup undo", 1));
        rollback.push_str(&tsql::undo_script_for(op, &self.header("")));
        rollback.push('\n');
        self.write(&rollback_path, &rollback)?;
        let rest = text.replacen(&whole, "", 1);
        if rest.contains("\n-- hubup ") {
            self.write(&path, &rest)
        } else {
            // No work left in it: nothing for a DBA to run.
            fs::remove_file(&path).map_err(|e| output_error(&path, e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::Version;

    #[test]
    fn apply_check_undo_keep_the_script_whole_and_headed() {
        let dir = tempfile::tempdir().unwrap();
        let mut target = ScriptTarget::new(dir.path(), "0123456789abcdef0123456789abcdef");
        target.start_step(
            "aaaabbbbccccddddaaaabbbbccccdddd",
            Step::from_version(Version::V4_1).unwrap(),
        );
        let op = SqlOp::CreateDatabase {
            database: "LicenseManagerDB".into(),
        };
        assert!(!target.check(&op, None).unwrap());
        assert_eq!(target.apply(&op, None).unwrap(), OpOutcome::Applied);
        assert_eq!(target.apply(&op, None).unwrap(), OpOutcome::AlreadyPresent);
        assert!(target.check(&op, None).unwrap());
        let script = fs::read_to_string(dir.path().join(SCRIPT_FILE)).unwrap();
        assert!(script.contains("CREATE DATABASE [LicenseManagerDB]"));
        assert!(script.contains("-- run:      aaaabbbbccccddddaaaabbbbccccdddd"));
        assert!(script.contains("-- steps:    4.1 -> 4.2"));
        target.undo(&op, None, None).unwrap();
        assert!(!target.check(&op, None).unwrap());
        assert!(!dir.path().join(SCRIPT_FILE).exists(), "no work left in it");
        let rollback = fs::read_to_string(dir.path().join(ROLLBACK_FILE)).unwrap();
        assert!(rollback.contains("DROP DATABASE [LicenseManagerDB]"));
        assert!(rollback.contains("machine=0123456789abcdef0123456789abcdef;%"));
    }

    #[test]
    fn a_script_of_another_step_is_moved_aside_first() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(ROLLBACK_FILE), "DROP DATABASE [X];\n").unwrap();
        let mut target = ScriptTarget::new(dir.path(), "0123456789abcdef0123456789abcdef");
        let run = "aaaabbbbccccddddaaaabbbbccccdddd";
        target.start_step(run, Step::from_version(Version::V4_1).unwrap());
        let op = SqlOp::CreateDatabase {
            database: "LicenseManagerDB".into(),
        };
        target.apply(&op, None).unwrap();
        target.start_step(run, Step::from_version(Version::V4_2).unwrap());
        let email = SqlOp::CreateDatabase {
            database: "EmailServiceDB".into(),
        };
        target.apply(&email, None).unwrap();
        let script = fs::read_to_string(dir.path().join(SCRIPT_FILE)).unwrap();
        assert!(!script.contains("LicenseManagerDB"), "{script}");
        let previous = dir.path().join(PREVIOUS_DIR);
        let moved =
            fs::read_to_string(previous.join("hubup-database-aaaabbbb-4.1-to-4.2.sql")).unwrap();
        assert!(moved.contains("LicenseManagerDB"));
        // The unlabelled rollback script of an older hubup goes too, once one is written.
        target.undo(&email, None, None).unwrap();
        let names: Vec<String> = fs::read_dir(&previous)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            names
                .iter()
                .any(|n| n.starts_with("hubup-database-rollback-unlabelled-")),
            "{names:?}"
        );
    }
}
