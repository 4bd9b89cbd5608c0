//! Fault injection for tests: make the executor fail an op, fail or cut short a journal
//! append, or die at a chosen point (after an op's effect, after or before any journal
//! append, in the middle of removing a backup), so tests can prove rollback and resume at any
//! boundary. The crash lab drives `crash-after-append=N` over every N of a run.
//!
//! Read once from the environment variable `HUBUP_TEST_FAULTS` (comma-separated):
//! - `fail=4.2:17`: op 17 of the step from 4.2 fails instead of running;
//! - `fail-undo=4.2:5`: undoing op 5 of the step from 4.2 fails;
//! - `fail-backup-removal=4.2`: removing the step from 4.2's backup folder after a verified
//!   rollback fails before any file of it is removed (a file that cannot be deleted);
//! - `crash-in-backup-removal=4.2:K`: the process aborts after removing K files of that
//!   backup folder (a backup left half removed);
//! - `free-space=N`: the install's disk reports N bytes free (to test the disk check);
//! - `crash-after=N`: the process aborts right after the N-th op effect of this process
//!   (1-based), before its "done" is journaled;
//! - `crash-observed=N`: the process aborts right after the N-th host op's observation is
//!   journaled, before its change;
//! - `crash-after-append=N`: the process aborts right after the N-th journal append (one
//!   durable commit) of this process;
//! - `crash-before-append=N`: aborts right before the N-th append (after the effects that
//!   precede it, with nothing of its batch in the journal);
//! - `crash-after-entry=KIND` or `KIND:N`: aborts right after the commit that holds the N-th
//!   (default first) entry of that kind (`step_rolled_back`, `op_done`, ...) of this process;
//! - `crash-before-entry=KIND` or `KIND:N`: aborts right before that commit (nothing of its
//!   batch is in the journal);
//! - `fail-append=N`: the N-th journal append of this process fails as a full disk would, and
//!   writes nothing;
//! - `hold-lock=FILE`: once the install lock is held, create FILE and wait (at most 10
//!   minutes) until the test removes it, so a second hubup meets a held lock for certain.
//!
//! "Aborts" means `std::process::abort`: no destructors run and nothing is flushed, which for
//! hubup's files is what a power cut or SIGKILL leaves (the page cache survives; the crash
//! lab's file system models what it does not).
//!
//! Unset in production; a malformed value is refused at start-up rather than ignored.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::journal::{JournalError, Payload};
use crate::version::{Step, Version};

/// The environment variable tests set.
pub const FAULTS_VAR: &str = "HUBUP_TEST_FAULTS";

/// An entry kind and which of its occurrences (1-based) a fault waits for.
type EntryPoint = (String, u64);

#[derive(Debug, Default)]
pub struct Faults {
    fail: Option<(Version, u32)>,
    fail_undo: Option<(Version, u32)>,
    fail_backup_removal: Option<Version>,
    crash_in_backup_removal: Option<(Version, u64)>,
    crash_after: Option<u64>,
    crash_observed: Option<u64>,
    crash_after_append: Option<u64>,
    crash_before_append: Option<u64>,
    crash_after_entry: Option<EntryPoint>,
    crash_before_entry: Option<EntryPoint>,
    fail_append: Option<u64>,
    hold_lock: Option<PathBuf>,
    free_space: Option<u64>,
    effects: Cell<u64>,
    appends: Cell<u64>,
    /// Host op observations journaled so far by this process (for `crash-observed`).
    observations: Cell<u64>,
    /// Entries of each kind appended so far by this process (for `crash-after-entry`).
    kinds: RefCell<BTreeMap<&'static str, u64>>,
    /// Files removed so far from the backup folder being removed.
    removed: Cell<u64>,
}

/// An injected failure, reported like any op failure.
#[derive(Debug, thiserror::Error)]
#[error("injected test fault ({FAULTS_VAR}) at op {index} of step {step}")]
pub struct InjectedFault {
    pub step: Step,
    pub index: u32,
}

impl Faults {
    /// Faults from `HUBUP_TEST_FAULTS`, or none.
    pub fn from_env() -> Result<Faults, String> {
        match std::env::var(FAULTS_VAR) {
            Ok(text) => Faults::parse(&text),
            Err(_) => Ok(Faults::default()),
        }
    }

    pub fn parse(text: &str) -> Result<Faults, String> {
        let mut faults = Faults::default();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let bad = || format!("{FAULTS_VAR}: cannot understand {item:?}");
            let (key, value) = item.split_once('=').ok_or_else(bad)?;
            let number = || value.parse::<u64>().map_err(|_| bad());
            match key {
                "fail" => faults.fail = Some(parse_op(value).ok_or_else(bad)?),
                "fail-undo" => faults.fail_undo = Some(parse_op(value).ok_or_else(bad)?),
                "fail-backup-removal" => {
                    faults.fail_backup_removal = Some(value.parse().map_err(|_| bad())?)
                }
                "crash-in-backup-removal" => {
                    let (version, count) = parse_op(value).ok_or_else(bad)?;
                    faults.crash_in_backup_removal = Some((version, u64::from(count)));
                }
                "crash-after" => faults.crash_after = Some(number()?),
                "crash-observed" => faults.crash_observed = Some(number()?),
                "crash-after-append" => faults.crash_after_append = Some(number()?),
                "crash-before-append" => faults.crash_before_append = Some(number()?),
                "crash-after-entry" => {
                    faults.crash_after_entry = Some(parse_entry(value).ok_or_else(bad)?)
                }
                "crash-before-entry" => {
                    faults.crash_before_entry = Some(parse_entry(value).ok_or_else(bad)?)
                }
                "fail-append" => faults.fail_append = Some(number()?),
                "hold-lock" if !value.is_empty() => faults.hold_lock = Some(PathBuf::from(value)),
                "free-space" => faults.free_space = Some(number()?),
                _ => return Err(bad()),
            }
        }
        Ok(faults)
    }

    /// Called before applying op `index` of `step`.
    pub fn before_apply(&self, step: Step, index: u32) -> Result<(), InjectedFault> {
        if self.fail == Some((step.from, index)) {
            return Err(InjectedFault { step, index });
        }
        Ok(())
    }

    /// Called before undoing op `index` of `step`.
    pub fn before_undo(&self, step: Step, index: u32) -> Result<(), InjectedFault> {
        if self.fail_undo == Some((step.from, index)) {
            return Err(InjectedFault { step, index });
        }
        Ok(())
    }

    /// Called before each file is removed from the backup folder of `step` after a verified
    /// rollback.
    pub fn before_backup_file_removal(&self, step: Step) -> std::io::Result<()> {
        if self.fail_backup_removal == Some(step.from) {
            return Err(std::io::Error::other(format!(
                "injected test fault ({FAULTS_VAR}) removing the backup of step {step}"
            )));
        }
        if let Some((version, count)) = self.crash_in_backup_removal
            && version == step.from
            && self.removed.get() == count
        {
            crash(&format!(
                "simulated crash after removing {count} backup file(s)"
            ));
        }
        self.removed.set(self.removed.get() + 1);
        Ok(())
    }

    /// The free space the disk check should see instead of the real one.
    pub fn free_space(&self) -> Option<u64> {
        self.free_space
    }

    /// Called right after a host op's observation is journaled, before its change.
    pub fn after_observed(&self) {
        let count = self.observations.get() + 1;
        self.observations.set(count);
        if self.crash_observed == Some(count) {
            eprintln!("hubup: {FAULTS_VAR}: simulated crash after host observation {count}");
            std::process::abort();
        }
    }

    /// Called right after an op's effect, before its "done" is journaled.
    pub fn after_effect(&self) {
        let count = self.effects.get() + 1;
        self.effects.set(count);
        if self.crash_after == Some(count) {
            crash(&format!("simulated crash after op effect {count}"));
        }
    }

    /// Called before the executor appends `payloads` to the journal at `journal`: may abort
    /// (`crash-before-entry`) or fail the append as a full disk would (`fail-append`).
    pub fn before_append(&self, journal: &Path, payloads: &[Payload]) -> Result<(), JournalError> {
        let append = self.appends.get() + 1;
        if self.crash_before_append == Some(append) {
            crash(&format!("simulated crash before journal append {append}"));
        }
        if let Some((kind, nth)) = &self.crash_before_entry
            && self.reaches(payloads, kind, *nth)
        {
            crash(&format!("simulated crash before appending {kind} #{nth}"));
        }
        if self.fail_append == Some(append) {
            self.appends.set(append);
            return Err(JournalError::Storage {
                path: journal.to_path_buf(),
                action: "appending a batch",
                detail: format!(
                    "injected test fault ({FAULTS_VAR}): no space left on device (append {append})"
                ),
            });
        }
        Ok(())
    }

    /// Called once `payloads` are durable in the journal: counts them, and may abort
    /// (`crash-after-append`, `crash-after-entry`).
    pub fn after_append(&self, payloads: &[Payload]) {
        let append = self.appends.get() + 1;
        self.appends.set(append);
        let crash_here = match &self.crash_after_entry {
            Some((kind, nth)) => self.reaches(payloads, kind, *nth),
            None => false,
        };
        {
            let mut kinds = self.kinds.borrow_mut();
            for payload in payloads {
                *kinds.entry(payload.kind()).or_default() += 1;
            }
        }
        if crash_here {
            let (kind, nth) = self.crash_after_entry.as_ref().expect("checked");
            // The append's number lets a test go on from here with `crash-after-append`.
            crash(&format!(
                "simulated crash after appending {kind} #{nth} (journal append {append})"
            ));
        }
        if self.crash_after_append == Some(append) {
            crash(&format!("simulated crash after journal append {append}"));
        }
    }

    /// True if appending `payloads` brings the count of `kind` to `nth` or past it for the
    /// first time.
    fn reaches(&self, payloads: &[Payload], kind: &str, nth: u64) -> bool {
        let before = self.kinds.borrow().get(kind).copied().unwrap_or(0);
        let adding = payloads.iter().filter(|p| p.kind() == kind).count() as u64;
        before < nth && before + adding >= nth
    }

    /// Called once the install lock is held: with `hold-lock=FILE`, creates FILE and waits
    /// until it is removed (at most 10 minutes, so a failed test cannot leave hubup hanging).
    pub fn while_holding_lock(&self) {
        let Some(signal) = &self.hold_lock else {
            return;
        };
        if let Err(e) = std::fs::write(signal, std::process::id().to_string()) {
            eprintln!(
                "hubup: {FAULTS_VAR}: cannot create {}: {e}",
                signal.display()
            );
            return;
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
        while signal.exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

/// Ends the process the way a power cut ends it for hubup's files: no destructors, no flush.
fn crash(what: &str) -> ! {
    eprintln!("hubup: {FAULTS_VAR}: {what}");
    std::process::abort();
}

fn parse_op(value: &str) -> Option<(Version, u32)> {
    let (version, index) = value.rsplit_once(':')?;
    Some((version.parse().ok()?, index.parse().ok()?))
}

/// `KIND` or `KIND:N` (N >= 1), KIND one of the journal's entry kinds.
fn parse_entry(value: &str) -> Option<EntryPoint> {
    let (kind, nth) = match value.split_once(':') {
        Some((kind, nth)) => (kind, nth.parse().ok().filter(|n| *n > 0)?),
        None => (value, 1),
    };
    crate::journal::PAYLOAD_KINDS
        .contains(&kind)
        .then(|| (kind.to_string(), nth))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind_and_refuses_nonsense() {
        let f = Faults::parse("fail=4.2:17, crash-after=5,fail-undo=4.0:3,fail-backup-removal=4.1")
            .unwrap();
        assert_eq!(f.fail, Some((Version::V4_2, 17)));
        assert_eq!(f.fail_undo, Some((Version::V4_0, 3)));
        assert_eq!(f.fail_backup_removal, Some(Version::V4_1));
        assert_eq!(f.crash_after, Some(5));
        assert!(Faults::parse("fail=4.9:1").is_err());
        assert!(Faults::parse("explode=1").is_err());
        assert!(Faults::parse("fail-backup-removal=4.2:1").is_err());
        assert!(Faults::parse("").unwrap().fail.is_none());
    }

    #[test]
    fn fails_only_the_named_op() {
        let f = Faults::parse("fail=4.2:3").unwrap();
        let step = Step::from_version(Version::V4_2).unwrap();
        assert!(f.before_apply(step, 2).is_ok());
        assert!(f.before_apply(step, 3).is_err());
        let other = Step::from_version(Version::V4_1).unwrap();
        assert!(f.before_apply(other, 3).is_ok());
    }

    #[test]
    fn parses_the_journal_and_lock_faults_and_refuses_unknown_kinds() {
        let f = Faults::parse(
            "crash-after-append=7,crash-before-append=8,crash-after-entry=step_rolled_back,crash-before-entry=op_done:3,\
             fail-append=1,crash-in-backup-removal=4.0:2,hold-lock=/tmp/x",
        )
        .unwrap();
        assert_eq!(f.crash_after_append, Some(7));
        assert_eq!(f.crash_before_append, Some(8));
        assert_eq!(f.crash_after_entry, Some(("step_rolled_back".into(), 1)));
        assert_eq!(f.crash_before_entry, Some(("op_done".into(), 3)));
        assert_eq!(f.fail_append, Some(1));
        assert_eq!(f.crash_in_backup_removal, Some((Version::V4_0, 2)));
        assert_eq!(f.hold_lock, Some(PathBuf::from("/tmp/x")));
        assert!(Faults::parse("crash-after-entry=step_rolledback").is_err());
        assert!(Faults::parse("crash-after-entry=op_done:0").is_err());
        assert!(Faults::parse("hold-lock=").is_err());
    }

    #[test]
    fn an_entry_fault_fires_on_the_batch_that_reaches_its_occurrence() {
        let f = Faults::parse("crash-after-entry=op_undone:3").unwrap();
        let step = Step::from_version(Version::V4_0).unwrap();
        let undone = |index| Payload::OpUndone { step, index };
        assert!(!f.reaches(&[undone(1), undone(2)], "op_undone", 3));
        f.after_append(&[undone(1), undone(2)]);
        assert!(f.reaches(&[undone(3), undone(4)], "op_undone", 3));
        f.after_append(&[Payload::RunResumed {}]);
        assert!(!f.reaches(&[Payload::RunResumed {}], "op_undone", 3));
    }

    #[test]
    fn fail_append_fails_only_the_named_append_and_names_the_journal() {
        let f = Faults::parse("fail-append=2").unwrap();
        let batch = [Payload::RunResumed {}];
        let journal = Path::new("j.redb");
        assert!(f.before_append(journal, &batch).is_ok());
        f.after_append(&batch);
        let error = f.before_append(journal, &batch).unwrap_err();
        assert!(error.to_string().contains("j.redb"), "{error}");
        assert!(f.before_append(journal, &batch).is_ok());
    }
}
