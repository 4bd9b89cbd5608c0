//! The progress record: a small JSON file next to the journal (`<journal>.progress`) that a
//! changing hubup (`upgrade`, `resume`, `rollback`) rewrites as it works: its pid, command,
//! step and op i/n. `status` reads it while another hubup holds the journal, so it can say
//! what is happening without opening the journal or reading an install whose files are
//! being replaced.
//!
//! The record only describes; it decides nothing. It is believed only while the journal is
//! held by another process: one left behind by a hubup that crashed is stale, and the journal
//! (then free) says where the run stopped. It is replaced by rename, so a reader sees the old
//! record or the new one, never half of one; failing to write it costs only `status` detail.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hubup::{Event, format_utc, now_ms};
use serde::{Deserialize, Serialize};

/// How often, at most, the record is rewritten between step boundaries: often enough for a
/// person watching `status`, rarely enough to cost nothing next to the ops themselves.
const EVERY: Duration = Duration::from_millis(250);

/// What the running hubup says about itself.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Progress {
    pub pid: u32,
    pub command: String,
    pub started: String,
    pub updated: String,
    /// "preparing", "applying", "rolling back" or "between steps".
    pub phase: String,
    /// The step being applied or rolled back, as "4.3 -> 4.4".
    pub step: Option<String>,
    /// Ops of that step applied (or undone, when rolling back) so far, of `total`.
    pub done: usize,
    pub total: usize,
}

/// Where the record of the journal at `journal` is.
pub(crate) fn path(journal: &Path) -> PathBuf {
    let mut name = journal.as_os_str().to_owned();
    name.push(".progress");
    PathBuf::from(name)
}

/// The record next to `journal`, if there is a readable one.
pub(crate) fn read(journal: &Path) -> Option<Progress> {
    let bytes = std::fs::read(path(journal)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Keeps the record of this process up to date; removes it when dropped (the command ended,
/// however it ended short of a crash).
pub(crate) struct Writer {
    path: PathBuf,
    progress: Progress,
    written: Option<Instant>,
    warned: bool,
}

impl Writer {
    /// Starts the record of `command` on the journal at `journal` ("preparing").
    pub(crate) fn start(journal: &Path, command: &str) -> Writer {
        let now = format_utc(now_ms());
        let mut writer = Writer {
            path: path(journal),
            progress: Progress {
                pid: std::process::id(),
                command: command.to_string(),
                started: now.clone(),
                updated: now,
                phase: "preparing".into(),
                ..Progress::default()
            },
            written: None,
            warned: false,
        };
        writer.write();
        writer
    }

    /// Takes in what the engine reports; rewrites the record at step boundaries and at most
    /// every [`EVERY`] in between.
    pub(crate) fn observe(&mut self, event: &Event) {
        let p = &mut self.progress;
        let boundary = match event {
            Event::StepStarted { step, ops } => {
                (p.phase, p.step, p.done, p.total) =
                    ("applying".into(), Some(step.to_string()), 0, *ops);
                true
            }
            Event::StepCommitted { .. } | Event::StepRolledBack { .. } => {
                (p.phase, p.step, p.done, p.total) = ("between steps".into(), None, 0, 0);
                true
            }
            Event::RollbackStarted { step, .. } => {
                (p.phase, p.step, p.done) = ("rolling back".into(), Some(step.to_string()), 0);
                true
            }
            Event::Progress {
                step,
                done,
                total,
                undoing,
            } => {
                p.phase = if *undoing { "rolling back" } else { "applying" }.into();
                (p.step, p.done, p.total) = (Some(step.to_string()), *done, *total);
                false
            }
            Event::Note { .. } | Event::Warning { .. } => return,
        };
        let due = self.written.is_none_or(|at| at.elapsed() >= EVERY);
        if boundary || due {
            self.write();
        }
    }

    fn write(&mut self) {
        self.progress.updated = format_utc(now_ms());
        let mut temp = self.path.as_os_str().to_owned();
        temp.push(".tmp");
        let temp = PathBuf::from(temp);
        let result = serde_json::to_vec(&self.progress)
            .map_err(std::io::Error::other)
            .and_then(|bytes| std::fs::write(&temp, bytes))
            .and_then(|()| std::fs::rename(&temp, &self.path));
        match result {
            Ok(()) => self.written = Some(Instant::now()),
            Err(e) if !self.warned => {
                self.warned = true;
                tracing::warn!(
                    "cannot write the progress record {} (only `status` detail is lost): {e}",
                    self.path.display()
                );
            }
            Err(_) => {}
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Progress {
    /// One line for the operator: "pid 4242 (upgrade, since ...): step 4.3 -> 4.4, applying
    /// op 17/120 (as of ...)".
    pub(crate) fn describe(&self) -> String {
        let at = match &self.step {
            Some(step) => format!(
                "step {step}, {} op {}/{}",
                self.phase, self.done, self.total
            ),
            None => self.phase.clone(),
        };
        format!(
            "pid {} ({}, since {}): {at} (as of {})",
            self.pid, self.command, self.started, self.updated
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hubup::{Step, Version};

    fn step() -> Step {
        Step::from_version(Version::V4_3).unwrap()
    }

    #[test]
    fn the_record_follows_the_run_and_is_gone_when_the_command_ends() {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("hubup.redb");
        let mut writer = Writer::start(&journal, "upgrade");
        assert_eq!(read(&journal).unwrap().phase, "preparing");
        writer.observe(&Event::StepStarted {
            step: step(),
            ops: 120,
        });
        let started = read(&journal).unwrap();
        assert_eq!(started.step.as_deref(), Some("4.3 -> 4.4"));
        assert_eq!((started.done, started.total), (0, 120));
        assert_eq!(started.pid, std::process::id());
        writer.observe(&Event::RollbackStarted {
            step: step(),
            reason: "op 3 failed".into(),
        });
        let rolling = read(&journal).unwrap();
        assert_eq!(rolling.phase, "rolling back");
        assert!(
            rolling
                .describe()
                .contains("step 4.3 -> 4.4, rolling back op 0/120"),
            "{}",
            rolling.describe()
        );
        drop(writer);
        assert!(read(&journal).is_none());
        assert!(!path(&journal).exists());
    }
}
