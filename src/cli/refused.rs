//! What a changing command that is refused before its first journal entry leaves behind:
//! nothing but the install lock's file (which stays by design, see `install_lock.rs`).
//!
//! `upgrade --yes` (and `resume`, `rollback`) take the install lock and open, creating it if
//! need be, the journal and the run log before they verify the packages and plan, because
//! what they verify must not change under them. A refusal there (a damaged package, a missing
//! prerequisite) changed nothing, as the write-ahead rule guarantees: no entry, no change. So
//! a journal this process created and left empty, its folders, and the log it started are
//! removed again, and the refusal no longer names a log that is gone.

use std::path::{Path, PathBuf};

/// The files and folders a changing command is about to create for its journal, recorded
/// before it opens the journal.
pub(super) struct JournalCreation {
    journal: PathBuf,
    /// Whether the journal file was new to this process.
    journal_is_new: bool,
    /// The folders above the journal that did not exist yet, deepest first.
    new_folders: Vec<PathBuf>,
    /// Whether the `logs` folder beside the journal was new.
    logs_folder_is_new: bool,
}

impl JournalCreation {
    /// What exists now of `journal` and the folders above it.
    pub(super) fn before(journal: &Path) -> JournalCreation {
        let new_folders = journal
            .ancestors()
            .skip(1)
            .take_while(|folder| !folder.as_os_str().is_empty() && !folder.exists())
            .map(Path::to_path_buf)
            .collect();
        JournalCreation {
            journal: journal.to_path_buf(),
            journal_is_new: !journal.exists(),
            new_folders,
            logs_folder_is_new: !logs_folder(journal).exists(),
        }
    }

    /// After a refusal with nothing journaled (the journal already closed): removes what
    /// this process created. Returns whether it did, so that the message stops naming the
    /// log. A journal that existed before is kept, and so is its log (the journal's own
    /// history has the runs the log explains).
    pub(super) fn undo(&self, discard_log: impl FnOnce() -> bool) -> bool {
        if !self.journal_is_new {
            return false;
        }
        let _ = std::fs::remove_file(&self.journal);
        discard_log();
        // Only emptied folders go: remove_dir refuses one that still holds anything.
        if self.logs_folder_is_new {
            let _ = std::fs::remove_dir(logs_folder(&self.journal));
        }
        for folder in &self.new_folders {
            let _ = std::fs::remove_dir(folder);
        }
        true
    }
}

/// The run logs' folder beside `journal` (`cli/log.rs` writes there).
fn logs_folder(journal: &Path) -> PathBuf {
    journal.parent().unwrap_or(Path::new(".")).join("logs")
}

/// `message` without the line naming the run log (`exit.rs` adds it to engine failures).
pub(super) fn without_log_line(message: &str) -> String {
    message
        .lines()
        .filter(|line| !line.trim_start().starts_with("log: "))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_journal_its_folders_and_its_log_go_and_an_old_journal_stays() {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("a/b/hubup.redb");
        let creation = JournalCreation::before(&journal);
        std::fs::create_dir_all(journal.parent().unwrap().join("logs")).unwrap();
        std::fs::write(&journal, b"j").unwrap();
        let log = journal.parent().unwrap().join("logs/run.log");
        std::fs::write(&log, b"l").unwrap();
        assert!(creation.undo(|| std::fs::remove_file(&log).is_ok()));
        assert!(!dir.path().join("a").exists());
        assert!(dir.path().exists());

        std::fs::create_dir_all(journal.parent().unwrap()).unwrap();
        std::fs::write(&journal, b"j").unwrap();
        let creation = JournalCreation::before(&journal);
        assert!(!creation.undo(|| unreachable!("a journal that was there keeps its log")));
        assert!(journal.exists());
    }

    #[test]
    fn the_log_line_is_dropped_and_the_rest_kept() {
        let message = "package damaged\n  log: /x/logs/a.log";
        assert_eq!(without_log_line(message), "package damaged");
    }
}
