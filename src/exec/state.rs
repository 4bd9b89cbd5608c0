//! A run's state as its journal entries tell it: which steps were planned (with their ops),
//! which ops have intents, done records and undo records, what failed, and how each step
//! ended. Resume and rollback start from this and from nothing else (they trust only the
//! journal).

use std::collections::{BTreeMap, BTreeSet};

use crate::digest::Digest;
use crate::journal::{Entry, Payload, RunId, RunOutcome};
use crate::op::{HostState, Op, OpOutcome, SqlBefore};
use crate::sql::DatabaseBackups;
use crate::version::{Step, Version};

/// One planned step of a run.
#[derive(Clone, Debug)]
pub struct StepState {
    pub step: Step,
    pub ops: Vec<Op>,
    pub package: Digest,
    pub tree_before: Digest,
    pub apphost_before: Digest,
    pub intents: BTreeSet<u32>,
    pub done: BTreeMap<u32, OpOutcome>,
    /// What database ops found on the server before their change.
    pub sql_before: BTreeMap<u32, SqlBefore>,
    /// What each host op found before its change (what its undo puts back).
    pub observed: BTreeMap<u32, HostState>,
    /// The digest of every object the step's host ops touch, observed before the step began
    /// (`HostStateBefore`; none in journals written before it existed).
    pub host_before: Option<Digest>,
    pub undone: BTreeSet<u32>,
    pub failed: Option<(u32, String)>,
    /// Script mode: the script a DBA must run before the step goes on.
    pub awaiting_dba: Option<String>,
    /// The DBA's work for the step is done (checked, or confirmed by the operator).
    pub dba_done: bool,
    pub rollback_started: bool,
    pub committed: bool,
    pub rolled_back: bool,
    /// Its rollback's restored state matched the digests recorded before the step.
    pub rollback_verified: bool,
    /// Its backup folder's removal after a verified rollback is journaled as done.
    pub backup_removed: bool,
    /// `hubup backups prune` took (or is taking) its backup: no rollback past it.
    pub backup_pruned: bool,
}

impl StepState {
    /// A step as its `StepPlanned` entry leaves it: planned, nothing done yet.
    pub fn planned(
        step: Step,
        ops: Vec<Op>,
        package: Digest,
        tree_before: Digest,
        apphost_before: Digest,
    ) -> StepState {
        StepState {
            step,
            ops,
            package,
            tree_before,
            apphost_before,
            intents: BTreeSet::new(),
            done: BTreeMap::new(),
            sql_before: BTreeMap::new(),
            observed: BTreeMap::new(),
            host_before: None,
            undone: BTreeSet::new(),
            failed: None,
            awaiting_dba: None,
            dba_done: false,
            rollback_started: false,
            committed: false,
            rolled_back: false,
            rollback_verified: false,
            backup_removed: false,
            backup_pruned: false,
        }
    }

    /// Neither committed nor rolled back.
    pub fn is_open(&self) -> bool {
        !self.committed && !self.rolled_back
    }

    /// Ops with an intent that have not been undone, newest first: what a rollback undoes.
    pub fn to_undo(&self) -> Vec<u32> {
        self.intents
            .iter()
            .rev()
            .filter(|i| !self.undone.contains(i))
            .copied()
            .collect()
    }
}

/// A run, rebuilt from its entries.
#[derive(Clone, Debug)]
pub struct RunState {
    pub run: RunId,
    pub from: Version,
    pub to: Version,
    pub steps: Vec<StepState>,
    pub cancelled: bool,
    /// How the run last ended, if its last lifecycle entry is `RunFinished`.
    pub finished: Option<RunOutcome>,
    /// The version a rollback that is under way goes back to.
    pub rollback_target: Option<Version>,
    /// The database backups the run was asked to take (from its `RunStarted` config).
    pub backups: Option<DatabaseBackups>,
    /// Whether the run was asked to enable RabbitMQ's `quorum_queue` (`--enable-quorum-queue`,
    /// from its `RunStarted` config), for the steps a resume still plans.
    pub enable_quorum_queue: bool,
}

/// Keys of `RunStarted`'s config record under which a run keeps its database backups.
pub const BACKUP_FOLDER_KEY: &str = "sql.backup_databases";
pub const BACKUP_STAMP_KEY: &str = "sql.backup_stamp";
/// Key of `RunStarted`'s config record that says the run enables `quorum_queue` ("true").
pub const ENABLE_QUORUM_QUEUE_KEY: &str = "rabbitmq.enable_quorum_queue";

/// The entries do not describe a run hubup can continue (a damaged or foreign journal).
#[derive(Debug, thiserror::Error)]
#[error("journal entry {seq}: {problem}")]
pub struct StateError {
    pub seq: u64,
    pub problem: String,
}

impl RunState {
    /// Rebuilds a run from its entries, oldest first.
    pub fn from_entries(entries: &[Entry]) -> Result<RunState, StateError> {
        let first = entries.first().ok_or(StateError {
            seq: 0,
            problem: "the run has no entries".into(),
        })?;
        let Payload::RunStarted {
            from, to, config, ..
        } = &first.payload
        else {
            return Err(StateError {
                seq: first.seq,
                problem: "a run must begin with RunStarted".into(),
            });
        };
        let mut state = RunState {
            run: first.run,
            from: *from,
            to: *to,
            steps: Vec::new(),
            cancelled: false,
            finished: None,
            rollback_target: None,
            backups: config.get(BACKUP_FOLDER_KEY).map(|folder| DatabaseBackups {
                folder: folder.to_string(),
                stamp: config.get(BACKUP_STAMP_KEY).unwrap_or_default().to_string(),
            }),
            enable_quorum_queue: config.get(ENABLE_QUORUM_QUEUE_KEY) == Some("true"),
        };
        for entry in &entries[1..] {
            state.apply(entry)?;
        }
        Ok(state)
    }

    fn step_mut(&mut self, seq: u64, step: Step) -> Result<&mut StepState, StateError> {
        self.steps
            .iter_mut()
            .rev()
            .find(|s| s.step == step)
            .ok_or(StateError {
                seq,
                problem: format!("entry for step {step}, which was never planned"),
            })
    }

    fn apply(&mut self, entry: &Entry) -> Result<(), StateError> {
        let seq = entry.seq;
        match &entry.payload {
            Payload::RunStarted { .. } => {
                return Err(StateError {
                    seq,
                    problem: "a second RunStarted in one run".into(),
                });
            }
            Payload::StepPlanned {
                step,
                ops,
                package,
                tree_before,
                apphost_before,
            } => self.steps.push(StepState::planned(
                *step,
                ops.clone(),
                *package,
                *tree_before,
                *apphost_before,
            )),
            Payload::OpIntent { step, index } => {
                let s = self.step_mut(seq, *step)?;
                check_index(seq, s, *index)?;
                s.intents.insert(*index);
            }
            Payload::OpDone {
                step,
                index,
                outcome,
            } => {
                let s = self.step_mut(seq, *step)?;
                check_index(seq, s, *index)?;
                s.done.insert(*index, outcome.clone());
            }
            Payload::OpFailed { step, index, error } => {
                let s = self.step_mut(seq, *step)?;
                s.failed = Some((*index, error.clone()));
            }
            Payload::OpUndone { step, index } => {
                let s = self.step_mut(seq, *step)?;
                s.undone.insert(*index);
            }
            Payload::StepCommitted { step, .. } => {
                let s = self.step_mut(seq, *step)?;
                s.committed = true;
            }
            Payload::RollbackStarted { step, target, .. } => {
                self.rollback_target = Some(*target);
                self.finished = None;
                let s = self.step_mut(seq, *step)?;
                s.rollback_started = true;
            }
            Payload::StepRolledBack { step, verified, .. } => {
                let s = self.step_mut(seq, *step)?;
                s.rolled_back = true;
                s.committed = false;
                s.rollback_verified = *verified;
            }
            Payload::BackupRemoved { step } => self.step_mut(seq, *step)?.backup_removed = true,
            Payload::BackupPruning { step } => self.step_mut(seq, *step)?.backup_pruned = true,
            Payload::RunResumed {} => {
                self.cancelled = false;
                self.finished = None;
            }
            Payload::RunCancelled { .. } => self.cancelled = true,
            Payload::RunFinished { outcome } => {
                self.finished = Some(outcome.clone());
                self.rollback_target = None;
            }
            Payload::Note { .. } | Payload::RepairPlanned { .. } | Payload::RepairDone { .. } => {}
            Payload::SqlBefore {
                step,
                index,
                before,
            } => {
                let s = self.step_mut(seq, *step)?;
                check_index(seq, s, *index)?;
                s.sql_before.insert(*index, before.clone());
            }
            Payload::AwaitingDba { step, script } => {
                self.step_mut(seq, *step)?.awaiting_dba = Some(script.clone());
            }
            Payload::DbaWorkDone { step, .. } => self.step_mut(seq, *step)?.dba_done = true,
            Payload::HostStateBefore { step, digest, .. } => {
                self.step_mut(seq, *step)?.host_before = Some(*digest);
            }
            Payload::HostObserved { step, index, state } => {
                let s = self.step_mut(seq, *step)?;
                check_index(seq, s, *index)?;
                s.observed.insert(*index, state.clone());
            }
        }
        Ok(())
    }

    /// The step that is neither committed nor rolled back, if any (at most one).
    pub fn open_step(&self) -> Option<&StepState> {
        self.steps.iter().rev().find(|s| s.is_open())
    }

    /// How the run ends if nothing is left to do but record its end: no step is open, and
    /// either its rollback has undone every step it was to undo, or every step to its target
    /// is committed. `None` while work remains (an open step, steps still to run or to undo).
    /// A run in this state ended without `RunFinished` (a crash right before it, or during
    /// the removal of a backup after a verified rollback).
    pub fn settled_outcome(&self) -> Option<RunOutcome> {
        if self.open_step().is_some() {
            return None;
        }
        match self.rollback_target {
            Some(target) => {
                let undone = !self
                    .steps
                    .iter()
                    .any(|s| s.committed && s.step.from >= target);
                undone.then_some(RunOutcome::RolledBack {
                    version: self.current_version(),
                })
            }
            None => (self.current_version() == self.to)
                .then_some(RunOutcome::Completed { version: self.to }),
        }
    }

    /// The version the install is at according to the journal.
    pub fn current_version(&self) -> Version {
        self.steps
            .iter()
            .rev()
            .find(|s| s.committed)
            .map(|s| s.step.to)
            .unwrap_or(self.from)
    }
}

fn check_index(seq: u64, step: &StepState, index: u32) -> Result<(), StateError> {
    if (index as usize) < step.ops.len() {
        Ok(())
    } else {
        Err(StateError {
            seq,
            problem: format!(
                "op {index} of step {}, which has only {} ops",
                step.step,
                step.ops.len()
            ),
        })
    }
}
