//! Run summaries: folding a run's entries into what resume, rollback and `status` need to know
//! about it, above all "the unfinished run, if any".

use super::entry::{Entry, Payload, RunId};
use crate::version::{Step, Version};

/// A run as its entries summarize it. A run is *unfinished* when it started and its last
/// lifecycle entry is not `RunFinished` (a `RunResumed` after a `RunFinished` reopens it: that
/// is how `rollback --to` goes back across a finished run): what resume and rollback start from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnfinishedRun {
    pub run: RunId,
    pub from: Version,
    pub to: Version,
    /// The machine that started it.
    pub machine: String,
    /// When it started (ms since the Unix epoch, UTC) and its `RunStarted` entry.
    pub started_ms: u64,
    pub started_seq: u64,
    /// The step of its last `StepPlanned`, if any.
    pub last_planned: Option<Step>,
    /// How many ops that step's plan holds (0 before any `StepPlanned`).
    pub planned_ops: usize,
    /// How many of them are recorded done (`OpDone`): where the step stands ("op 17/120").
    /// A resume records only the ops not yet done, so each op counts once.
    pub done_ops: usize,
    /// The step of its last `StepCommitted`, if any.
    pub last_committed: Option<Step>,
    /// A step whose rollback started and has not completed.
    pub rolling_back: Option<Step>,
    /// True if the last thing it recorded about itself was a cancellation (a later
    /// `RunResumed` clears it).
    pub cancelled: bool,
    /// Its last entry.
    pub last_seq: u64,
}

impl UnfinishedRun {
    /// Where the run stopped, in the operator's words, as `status`, `check`, `plan` and
    /// `upgrade` all say it: "step 4.3 -> 4.4 interrupted at op 17/120", "the rollback of
    /// step ... was interrupted", "cancelled after step ... committed".
    pub fn where_it_stopped(&self) -> String {
        let how = if self.cancelled {
            "cancelled"
        } else {
            "interrupted"
        };
        if let Some(step) = self.rolling_back {
            return format!("the rollback of step {step} was {how}");
        }
        match (self.last_planned, self.last_committed) {
            (Some(open), committed) if committed != Some(open) => format!(
                "step {open} {how} at op {}/{}",
                self.done_ops, self.planned_ops
            ),
            (_, Some(committed)) => format!(
                "{how} after step {committed} committed (the install is at {})",
                committed.to
            ),
            _ => format!(
                "{how} before its first step (the install is at {})",
                self.from
            ),
        }
    }
}

/// Folds entries, in journal order, into the unfinished runs.
#[derive(Default)]
pub(crate) struct RunTracker {
    open: Vec<UnfinishedRun>,
    finished: Vec<UnfinishedRun>,
}

impl RunTracker {
    pub(crate) fn observe(&mut self, entry: &Entry) {
        if let Payload::RunStarted { from, to, .. } = &entry.payload {
            self.open.retain(|r| r.run != entry.run);
            self.open.push(UnfinishedRun {
                run: entry.run,
                from: *from,
                to: *to,
                machine: entry.machine.clone(),
                started_ms: entry.timestamp_ms,
                started_seq: entry.seq,
                last_planned: None,
                planned_ops: 0,
                done_ops: 0,
                last_committed: None,
                rolling_back: None,
                cancelled: false,
                last_seq: entry.seq,
            });
            return;
        }
        if let Payload::RunResumed {} = entry.payload
            && let Some(index) = self.finished.iter().position(|r| r.run == entry.run)
        {
            let reopened = self.finished.remove(index);
            self.open.push(reopened);
        }
        let Some(index) = self.open.iter().position(|r| r.run == entry.run) else {
            return;
        };
        if let Payload::RunFinished { .. } = entry.payload {
            let mut done = self.open.remove(index);
            done.last_seq = entry.seq;
            done.rolling_back = None;
            self.finished.push(done);
            return;
        }
        let Some(run) = self.open.get_mut(index) else {
            return;
        };
        run.last_seq = entry.seq;
        match &entry.payload {
            Payload::StepPlanned { step, ops, .. } => {
                run.last_planned = Some(*step);
                run.planned_ops = ops.len();
                run.done_ops = 0;
            }
            Payload::OpDone { step, .. } if run.last_planned == Some(*step) => {
                run.done_ops += 1;
            }
            Payload::StepCommitted { step, .. } => run.last_committed = Some(*step),
            Payload::RollbackStarted { step, .. } => run.rolling_back = Some(*step),
            Payload::StepRolledBack { step, .. } if run.rolling_back == Some(*step) => {
                run.rolling_back = None;
            }
            Payload::RunCancelled { .. } => run.cancelled = true,
            Payload::RunResumed {} => run.cancelled = false,
            _ => {}
        }
    }

    /// The most recently started unfinished run. (hubup never starts a run while another is
    /// unfinished, so there is at most one unless the journal was written by something else.)
    pub(crate) fn latest(mut self) -> Option<UnfinishedRun> {
        self.open.pop()
    }

    /// Every run, finished or not, oldest first.
    pub(crate) fn all(self) -> Vec<UnfinishedRun> {
        let mut runs: Vec<UnfinishedRun> = self.open.into_iter().chain(self.finished).collect();
        runs.sort_by_key(|r| r.started_seq);
        runs
    }

    /// The most recently started run, finished or not.
    pub(crate) fn last_started(self) -> Option<UnfinishedRun> {
        self.open
            .into_iter()
            .chain(self.finished)
            .max_by_key(|r| r.started_seq)
    }
}
