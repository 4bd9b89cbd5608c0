//! The executor's error: why an upgrade, resume or rollback stopped without a clean end. Each
//! variant says what state it leaves (nothing changed, the run unfinished, the journal not to
//! be trusted), because that is what the operator must know next and what decides the exit
//! code (`src/cli/exit.rs`).

use std::path::PathBuf;

use crate::exec::commands::CommandMismatch;
use crate::exec::prepare::{Finding, PrepareError};
use crate::exec::state::StateError;
use crate::journal::{JournalError, RunId};
use crate::version::{Step, Version};

/// Why the executor stopped without a clean end. Each says what state it leaves.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Nothing has changed.
    #[error(transparent)]
    Prepare(#[from] PrepareError),
    /// Nothing has changed.
    #[error("{}", prerequisites_message(.0))]
    Prerequisites(Vec<Finding>),
    /// Nothing has changed: an earlier run must be finished first.
    #[error(
        "run {run} is unfinished (started {from} -> {to}); run `hubup resume` to finish it or \
         `hubup rollback` to undo its interrupted step"
    )]
    Unfinished {
        run: RunId,
        from: Version,
        to: Version,
    },
    /// Nothing has changed.
    #[error("there is no unfinished run to {action}")]
    NothingToDo { action: &'static str },
    /// The journal could not be written (or read) while a run was under way; the run is
    /// unfinished. Never a verification failure: that is [`EngineError::JournalUntrusted`].
    #[error(
        "the journal could not be written: {0}; the run is unfinished: fix the cause, then run `hubup resume` or `hubup rollback`"
    )]
    Journal(JournalError),
    /// The journal failed verification (or its file is damaged): nothing in it can be
    /// trusted, so neither resume nor rollback may act on it. The journal error's own text
    /// says what to do; nothing is added to it.
    #[error(transparent)]
    JournalUntrusted(JournalError),
    /// The journal could not take a new run's first entry (a full disk, say): no run exists
    /// and nothing has changed.
    #[error(
        "the run could not start: {source}. Nothing was changed and no run was recorded: fix \
         the cause (free space on the journal's disk), then run `hubup upgrade` again"
    )]
    NotStarted { source: JournalError },
    /// After an unclean end, product files that committed steps wrote are missing or
    /// damaged and cannot be rewritten from their packages. Nothing has changed; the run stays
    /// unfinished.
    #[error("{}", lost_files_message(*.run, .files))]
    LostFiles { run: RunId, files: Vec<String> },
    /// A changing command was started without the install lock (a caller's bug). Nothing has
    /// changed.
    #[error(
        "refusing to change the install at {} without holding its lock (hubup.lock); this is \
         a bug in the caller",
        root.display()
    )]
    InstallNotLocked { root: PathBuf },
    #[error("the journal does not describe a run hubup can continue: {0}")]
    State(#[from] StateError),
    /// The step's rollback stopped at an op; the run stays unfinished.
    #[error(
        "rolling back step {step} stopped at op {index}: {error}\nThe run is unfinished. Fix \
         the cause, then run `hubup rollback` again (it continues where it stopped)."
    )]
    RollbackIncomplete {
        step: Step,
        index: u32,
        error: String,
    },
    /// The rollback finished but the install differs from before the step.
    #[error(
        "step {step} was rolled back, but the install does not match its state before the \
         step ({what}); the backup folder was kept. Compare with `hubup status`."
    )]
    RollbackUnverified { step: Step, what: String },
    /// Nothing has changed.
    #[error("cannot roll back to {target}: {reason}")]
    RollbackTarget { target: Version, reason: String },
    /// An I/O failure after the step changed the install (reading the install back to digest
    /// it, removing the backup folder after a verified rollback). The journal holds the step
    /// as started and not closed, so the run is unfinished; resume or rollback continues
    /// from where it stopped.
    #[error(
        "step {step} changed the install, then {action} {} failed: {source}\nThe run is \
         unfinished: fix the cause, then run `hubup resume` or `hubup rollback` (each \
         continues where it stopped).",
        path.display()
    )]
    AfterChange {
        step: Step,
        /// What was being done, as a phrase that reads before the path ("removing the backup
        /// folder").
        action: &'static str,
        path: PathBuf,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Resume finished and committed the interrupted step, but the run's remaining steps
    /// cannot be prepared (a package missing, ...). The run is unfinished at `version`.
    #[error(
        "step {committed} was finished and committed (the install is at {}), but the rest of \
         run {run} cannot start: {source}\nThe run is unfinished: fix the cause, then run \
         `hubup resume` (or `hubup rollback` to go back)",
        committed.to
    )]
    RemainingSteps {
        run: RunId,
        committed: Step,
        #[source]
        source: PrepareError,
    },
    /// Journaled command lines that resume or rollback would run differ from what the config
    /// renders for their purpose. Nothing has changed.
    #[error("{}", changed_commands_message(.0))]
    ChangedCommands(Vec<CommandMismatch>),
    /// Script mode: the DBA's work of the waiting step is not there yet; nothing changed.
    #[error("step {step} still waits for its database work: {error}")]
    DbaWorkMissing { step: Step, error: String },
}

/// A journal failure inside the executor: a verification failure keeps the journal's own
/// error and advice ([`EngineError::JournalUntrusted`]); any other failure leaves the run
/// unfinished ([`EngineError::Journal`]).
impl From<JournalError> for EngineError {
    fn from(error: JournalError) -> EngineError {
        if error.is_untrusted() {
            EngineError::JournalUntrusted(error)
        } else {
            EngineError::Journal(error)
        }
    }
}

fn changed_commands_message(mismatches: &[CommandMismatch]) -> String {
    let mut text = format!(
        "refusing to run {} journaled command line(s) that the config's [commands] templates do \
         not render for their purpose; nothing was changed. Someone who can write the journal \
         may have changed it, or a template was changed since the run was planned:",
        mismatches.len()
    );
    for m in mismatches {
        text.push_str(&format!("\n  - {m}"));
    }
    text.push_str(
        "\nIf you changed these templates on purpose and the journaled lines are what should \
         run, run the command again with --accept-changed-commands (each line is noted in the \
         journal).",
    );
    text
}

fn lost_files_message(run: RunId, files: &[String]) -> String {
    let mut text = format!(
        "run {run} ended uncleanly, and {} product file(s) its committed steps wrote are \
         missing or damaged (lost writes: the disk or file system did not keep what was \
         flushed) and cannot be rewritten; nothing was changed:",
        files.len()
    );
    for file in files {
        text.push_str(&format!("\n  - {file}"));
    }
    text
}

fn prerequisites_message(findings: &[Finding]) -> String {
    let failed: Vec<&Finding> = findings.iter().filter(|f| f.is_failed()).collect();
    let mut text = format!(
        "{} prerequisite(s) not met; nothing was changed:",
        failed.len()
    );
    for f in failed {
        text.push_str(&format!("\n  - {}: {}", f.what, f.detail));
    }
    text
}
