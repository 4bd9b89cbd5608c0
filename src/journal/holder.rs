//! Who holds the journal: the advisory pid file next to it (`journal.redb.pid`).
//!
//! The lock itself is redb's: a process that has the journal open holds an exclusive lock on
//! the file, and any other open (even read-only) fails. That lock says nothing about *who*
//! holds it, so the holder writes its pid into a sidecar file after opening and removes it when
//! it closes; a refused opener reads it to tell the operator which process to wait for.
//!
//! The sidecar is advisory. After a crash it stays behind (the lock does not: the OS releases
//! it with the process), so it is only read when redb reports the journal in use, is
//! overwritten by the next holder, and the message says where the pid came from.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

/// The sidecar path of a journal: the journal's path with `.pid` appended.
pub(crate) fn pid_path(journal: &Path) -> PathBuf {
    let mut name = journal.as_os_str().to_owned();
    name.push(".pid");
    PathBuf::from(name)
}

/// What the sidecar says about the process that holds a journal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Holder {
    /// The pid recorded in the sidecar file at `pid_file`.
    Pid { pid: u32, pid_file: PathBuf },
    /// No readable sidecar: the holder has not written it yet, or is not hubup.
    Unknown,
}

impl Holder {
    /// Reads the sidecar of `journal`. Never fails: anything unreadable is `Unknown`.
    pub(crate) fn of(journal: &Path) -> Holder {
        let pid_file = pid_path(journal);
        let pid = fs::read_to_string(&pid_file)
            .ok()
            .and_then(|text| text.trim().parse::<u32>().ok());
        match pid {
            Some(pid) => Holder::Pid { pid, pid_file },
            None => Holder::Unknown,
        }
    }
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Holder::Pid { pid, pid_file } => write!(
                f,
                "pid {pid}, according to {}; if no such process exists, that file is left \
                 over from a crash and another program holds the journal",
                pid_file.display()
            ),
            Holder::Unknown => f.write_str("pid unknown: it has not recorded one"),
        }
    }
}

/// The sidecar this process wrote; removed when dropped (when the journal closes).
#[derive(Debug)]
pub(crate) struct PidFile {
    path: PathBuf,
    pid: u32,
}

impl PidFile {
    /// Records this process as the holder of `journal`. Call only while holding redb's lock.
    /// Failing to write it is not an error: it only makes a refused opener's message vaguer.
    pub(crate) fn write(journal: &Path) -> PidFile {
        let path = pid_path(journal);
        let pid = std::process::id();
        if let Err(error) = fs::write(&path, format!("{pid}\n")) {
            tracing::warn!(
                "could not write {} (it only names the journal's holder): {error}",
                path.display()
            );
        }
        PidFile { path, pid }
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        // Remove it only if it still names us; another holder may have replaced a stale one.
        let ours = fs::read_to_string(&self.path)
            .map(|text| text.trim() == self.pid.to_string())
            .unwrap_or(false);
        if ours {
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_read_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("journal.redb");
        assert_eq!(Holder::of(&journal), Holder::Unknown);
        let file = PidFile::write(&journal);
        match Holder::of(&journal) {
            Holder::Pid { pid, pid_file } => {
                assert_eq!(pid, std::process::id());
                assert_eq!(pid_file, dir.path().join("journal.redb.pid"));
            }
            other => panic!("expected a pid, got {other:?}"),
        }
        drop(file);
        assert!(!pid_path(&journal).exists());
    }

    #[test]
    fn garbage_sidecar_is_unknown_and_a_foreign_one_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("j.redb");
        fs::write(pid_path(&journal), "not a pid").unwrap();
        assert_eq!(Holder::of(&journal), Holder::Unknown);
        let file = PidFile::write(&journal);
        fs::write(pid_path(&journal), "999999999\n").unwrap();
        drop(file);
        assert!(pid_path(&journal).exists());
    }
}
