//! Local changes: product files an administrator changed since the installed version, found
//! while planning file ops, and what the policy (refuse / keep / overwrite) does with them.

use std::fmt;

use crate::digest::Digest;
use crate::relpath::RelPath;
use crate::version::Step;

use super::Planner;

/// What to do with product files an administrator changed (issue 6; dpkg's conffile rule).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LocalChangePolicy {
    /// Stop before any change and list them (the default).
    #[default]
    Refuse,
    /// Leave those files as they are; the journal records each one kept.
    Keep,
    /// Replace them anyway; they go to `backup_4.n` like everything else.
    Overwrite,
}

/// A product file that is not what the package expects to find.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalChange {
    pub path: RelPath,
    pub kind: LocalChangeKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LocalChangeKind {
    /// The file differs from the one the package replaces or deletes.
    Modified { expected: Digest, found: Digest },
    /// The file the package replaces is missing.
    Missing { expected: Digest },
    /// A file exists where the package adds a new one.
    Unexpected { found: Digest },
}

impl fmt::Display for LocalChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            LocalChangeKind::Modified { expected, found } => write!(
                f,
                "{}: changed locally (expected {}, found {})",
                self.path,
                expected.short(),
                found.short()
            ),
            LocalChangeKind::Missing { expected } => {
                write!(f, "{}: missing (expected {})", self.path, expected.short())
            }
            LocalChangeKind::Unexpected { found } => write!(
                f,
                "{}: present but not part of the installed version (found {})",
                self.path,
                found.short()
            ),
        }
    }
}

pub(super) fn local_changes_message(step: &Step, changes: &[LocalChange]) -> String {
    let mut text = format!(
        "step {step}: {} product file(s) differ from what the package expects (local changes):",
        changes.len()
    );
    for change in changes.iter().take(50) {
        text.push_str(&format!("\n  {change}"));
    }
    if changes.len() > 50 {
        text.push_str(&format!("\n  ... and {} more", changes.len() - 50));
    }
    text.push_str(
        "\nNothing was changed. Choose: --keep-local-changes (leave those files as they are) or \
         --overwrite-local-changes (replace them; the changed files go to the backup folder).",
    );
    text
}

impl Planner<'_> {
    /// Records a local change; returns true if the op should still be planned (overwrite).
    pub(super) fn accept_local_change(&mut self, path: &RelPath, kind: LocalChangeKind) -> bool {
        let change = LocalChange {
            path: path.clone(),
            kind,
        };
        let plan_it = match self.inputs.local_changes {
            LocalChangePolicy::Refuse => false,
            LocalChangePolicy::Keep => {
                self.notes.push(format!("kept local change: {change}"));
                false
            }
            LocalChangePolicy::Overwrite => {
                self.notes
                    .push(format!("overwriting local change: {change}"));
                true
            }
        };
        self.local_changes.push(change);
        plan_it
    }
}
