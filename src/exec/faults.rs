//! Fault injection for tests: make the executor fail an op, or die right after an op's
//! effect (before its "done" is journaled), so tests can prove rollback and resume at any op.
//!
//! Read once from the environment variable `HUBUP_TEST_FAULTS` (comma-separated):
//! - `fail=4.2:17`: op 17 of the step from 4.2 fails instead of running;
//! - `fail-undo=4.2:5`: undoing op 5 of the step from 4.2 fails;
//! - `fail-backup-removal=4.2`: removing the step from 4.2's backup folder after a verified
//!   rollback fails (an I/O failure after the step changed the install);
//! - `free-space=N`: the install's disk reports N bytes free (to test the disk check);
//! - `crash-after=N`: the process aborts (no destructors, like a power cut as far as hubup's
//!   files are concerned) right after the N-th op effect of this process (1-based);
//! - `crash-observed=N`: the process aborts right after the N-th host op's observation is
//!   journaled, before its change.
//!
//! Unset in production; a malformed value is refused at start-up rather than ignored.

use std::cell::Cell;

use crate::version::{Step, Version};

/// The environment variable tests set.
pub const FAULTS_VAR: &str = "HUBUP_TEST_FAULTS";

#[derive(Debug, Default)]
pub struct Faults {
    fail: Option<(Version, u32)>,
    fail_undo: Option<(Version, u32)>,
    fail_backup_removal: Option<Version>,
    crash_after: Option<u64>,
    crash_observed: Option<u64>,
    free_space: Option<u64>,
    effects: Cell<u64>,
    observations: Cell<u64>,
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
            match key {
                "fail" => faults.fail = Some(parse_op(value).ok_or_else(bad)?),
                "fail-undo" => faults.fail_undo = Some(parse_op(value).ok_or_else(bad)?),
                "fail-backup-removal" => {
                    faults.fail_backup_removal = Some(value.parse().map_err(|_| bad())?)
                }
                "crash-after" => faults.crash_after = Some(value.parse().map_err(|_| bad())?),
                "crash-observed" => faults.crash_observed = Some(value.parse().map_err(|_| bad())?),
                "free-space" => faults.free_space = Some(value.parse().map_err(|_| bad())?),
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

    /// Called before removing the backup folder of `step` after a verified rollback.
    pub fn before_backup_removal(&self, step: Step) -> std::io::Result<()> {
        if self.fail_backup_removal == Some(step.from) {
            return Err(std::io::Error::other(format!(
                "injected test fault ({FAULTS_VAR}) removing the backup of step {step}"
            )));
        }
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
            eprintln!("hubup: {FAULTS_VAR}: simulated crash after op effect {count}");
            std::process::abort();
        }
    }
}

fn parse_op(value: &str) -> Option<(Version, u32)> {
    let (version, index) = value.rsplit_once(':')?;
    Some((version.parse().ok()?, index.parse().ok()?))
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
}
