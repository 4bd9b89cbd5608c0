//! The executor: the only code that changes an install and the only code that appends to the
//! journal.
//!
//! A run is a chain of steps; each step is a transaction: its plan is journaled
//! (`StepPlanned`), then its ops run under the write-ahead rule (intent durable before the
//! effect, done recorded only after the effect is durable, many of them per commit), then it
//! is committed (`StepCommitted`). If an op fails, every op with an intent is undone in reverse
//! order and the restored install is checked against the digests recorded before the step
//! (`StepRolledBack`). Resume and rollback rebuild the run from the journal alone
//! ([`state::RunState`]) and continue from there.
//!
//! In script mode a step with database work stops before its first site start
//! ([`RunEnd::AwaitingDba`]) until a DBA ran its script; resume goes on once the work is
//! checked on the server, or on the operator's word ([`DbaWork`]), as the journal records.
//!
//! Files: `prepare.rs` (detection, packages, planning, prerequisites: everything before the
//! first change), `step.rs` (running and rolling back one step), `apply.rs` (each op kind),
//! `recorder.rs` (group commit), `state.rs` (a run from its entries), `commands.rs`,
//! `faults.rs` (test-only fault injection).

pub mod apply;
pub mod commands;
pub mod faults;
mod prepare;
mod recorder;
pub mod state;
mod step;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use crate::config::Config;
use crate::journal::{Journal, JournalError, Payload, RunId, RunOutcome};
use crate::plan::{LocalChangePolicy, StepPlan};
use crate::sql::{DatabaseBackups, DatabasePlanning, SqlTarget};
use crate::version::{Step, Version};

pub use prepare::{Finding, PreparedRun, PrerequisiteReport};
use state::RunState;
use step::StepEnd;

/// Something the executor tells the operator while it works.
#[derive(Clone, Debug)]
pub enum Event {
    StepStarted { step: Step, ops: usize },
    StepCommitted { step: Step },
    RollbackStarted { step: Step, reason: String },
    StepRolledBack { step: Step, verified: bool },
    Note { text: String },
}

/// How a run (or a resume or rollback) ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunEnd {
    /// Every step committed; the install is at `version`.
    Completed { run: RunId, version: Version },
    /// A step failed and was rolled back; the install is at `version` (earlier steps stay).
    RolledBack {
        run: RunId,
        version: Version,
        step: Step,
        error: String,
    },
    /// A rollback asked for by the operator finished; the install is at `version`.
    RolledBackOnRequest { run: RunId, version: Version },
    /// Ctrl-C: stopped at a safe point; resume or roll back.
    Cancelled { run: RunId, step: Option<Step> },
    /// Script mode: `step` stopped before starting its sites; a DBA must run `script`, then
    /// `hubup resume` checks the work and goes on.
    AwaitingDba {
        run: RunId,
        step: Step,
        script: PathBuf,
    },
}

/// True if the step stopped for its DBA and has not heard back (nor failed since).
fn waits_for_dba(open: &state::StepState) -> bool {
    open.awaiting_dba.is_some() && !open.dba_done && open.failed.is_none() && !open.rollback_started
}

/// How `resume` learns that the DBA's work of a step waiting for it is done.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DbaWork {
    /// Check it on the server, reading only (the `[sql]` server and login).
    #[default]
    Check,
    /// The operator confirms the script ran without errors (`--dba-confirmed`): journaled as
    /// not checked.
    Confirmed,
}

/// Why the executor stopped without a clean end. Each says what state it leaves.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Nothing has changed.
    #[error(transparent)]
    Prepare(#[from] prepare::PrepareError),
    /// Nothing has changed.
    #[error("{}", prerequisites_message(.0))]
    Prerequisites(Vec<Finding>),
    #[error(
        "run {run} is unfinished (started {from} -> {to}); run `hubup resume` to finish it or \
         `hubup rollback` to undo its interrupted step"
    )]
    Unfinished {
        run: RunId,
        from: Version,
        to: Version,
    },
    #[error("there is no unfinished run to {action}")]
    NothingToDo { action: &'static str },
    #[error(
        "the journal could not be written: {0}; the run is unfinished: fix the cause, then run `hubup resume` or `hubup rollback`"
    )]
    Journal(#[from] JournalError),
    #[error("the journal does not describe a run hubup can continue: {0}")]
    State(#[from] state::StateError),
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
    #[error("cannot roll back to {target}: {reason}")]
    RollbackTarget { target: Version, reason: String },
    /// Script mode: the DBA's work of the waiting step is not there yet; nothing changed.
    #[error("step {step} still waits for its database work: {error}")]
    DbaWorkMissing { step: Step, error: String },
}

fn prerequisites_message(findings: &[Finding]) -> String {
    let failed: Vec<&Finding> = findings.iter().filter(|f| !f.ok).collect();
    let mut text = format!(
        "{} prerequisite(s) not met; nothing was changed:",
        failed.len()
    );
    for f in failed {
        text.push_str(&format!("\n  - {}: {}", f.what, f.detail));
    }
    text
}

/// What an upgrade is asked to do.
#[derive(Clone, Debug)]
pub struct UpgradeRequest {
    pub to: Version,
    pub local_changes: LocalChangePolicy,
    /// Back up the existing databases before the first change (`--backup-databases`).
    pub backups: Option<DatabaseBackups>,
}

/// The executor and what it works with.
pub struct Engine<'a> {
    pub config: &'a Config,
    pub journal: &'a mut Journal,
    pub sql: &'a mut dyn SqlTarget,
    /// Database names and who gets permissions (from the config's `[sql]`).
    pub databases: DatabasePlanning,
    /// Set by the Ctrl-C handler; checked at safe points.
    pub cancel: &'a AtomicBool,
    /// Draw progress bars (only when the output is a terminal).
    pub progress: bool,
    pub events: &'a mut dyn FnMut(Event),
    pub faults: faults::Faults,
}

impl Engine<'_> {
    fn root(&self) -> PathBuf {
        self.config.install.root.clone()
    }

    fn refuse_if_unfinished(&self) -> Result<(), EngineError> {
        if let Some(run) = self.journal.unfinished_run()? {
            return Err(EngineError::Unfinished {
                run: run.run,
                from: run.from,
                to: run.to,
            });
        }
        Ok(())
    }

    /// Everything `upgrade` checks and plans, without changing anything: for `hubup plan` and
    /// `hubup check`.
    pub fn prepare(&mut self, request: &UpgradeRequest) -> Result<PreparedRun, EngineError> {
        Ok(prepare::prepare(self, request)?)
    }

    /// Checks every prerequisite of a prepared run (SQL connection, disk, runtimes,
    /// certificates, leftover backups). Changes nothing.
    pub fn check_prerequisites(&mut self, prepared: &PreparedRun) -> PrerequisiteReport {
        prepare::check_prerequisites(self, prepared)
    }

    /// Upgrades the install to `request.to`, step by step.
    ///
    /// Before the first change: refuses if a run is unfinished, detects the version, verifies
    /// every package, plans every step and checks every prerequisite; any failure there leaves
    /// everything unchanged. Afterwards, a failing step is rolled back (earlier steps stay
    /// committed) and the run ends with [`RunEnd::RolledBack`]; Ctrl-C ends it at a safe point
    /// with [`RunEnd::Cancelled`].
    pub fn upgrade(&mut self, request: &UpgradeRequest) -> Result<RunEnd, EngineError> {
        self.refuse_if_unfinished()?;
        let prepared = self.prepare(request)?;
        let report = self.check_prerequisites(&prepared);
        if !report.all_ok() {
            return Err(EngineError::Prerequisites(report.findings));
        }
        let run = RunId::random();
        let mut config = crate::journal::ConfigRecord::from_pairs(self.config.journal_view());
        // Which machine id marks the databases this run creates (the audit's link to them).
        if let Some(machine) = self.journal.machine_id() {
            config.push(state::MACHINE_ID_KEY, machine.to_hex());
        }
        // Resume reads the backups back from here if the run stops before its first step.
        if let Some(backups) = &request.backups {
            config.push(state::BACKUP_FOLDER_KEY, backups.folder.clone());
            config.push(state::BACKUP_STAMP_KEY, backups.stamp.clone());
        }
        let started = Payload::RunStarted {
            from: prepared.from,
            to: request.to,
            install_root: self.root().display().to_string(),
            hubup_version: env!("CARGO_PKG_VERSION").to_string(),
            config,
        };
        // Several machines of one installation may upgrade at once: hold the installation lock
        // on SQL Server for the whole run, taken before anything is journaled, so a machine
        // that cannot get it stops with nothing changed.
        let sql = prepared.steps.iter().any(|p| step::has_sql(&p.plan.ops));
        if sql {
            self.sql.lock().map_err(|e| {
                EngineError::Prerequisites(vec![Finding::failed(
                    "SQL Server application lock",
                    e.to_string(),
                )])
            })?;
        }
        let result = self
            .journal
            .append(run, &[started])
            .map_err(EngineError::from)
            .and_then(|_| self.run_prepared(run, prepared));
        if sql {
            let _ = self.sql.unlock();
        }
        result
    }

    /// Runs prepared steps in order within `run`.
    fn run_prepared(&mut self, run: RunId, prepared: PreparedRun) -> Result<RunEnd, EngineError> {
        let target = prepared.to;
        let mut model = prepared.model;
        for planned in prepared.steps {
            let step = planned.plan.step;
            match step::execute(self, run, &planned, &model)? {
                StepEnd::Committed => model = planned.after,
                StepEnd::RolledBack { error } => {
                    self.finish(run, RunOutcome::RolledBack { version: step.from })?;
                    return Ok(RunEnd::RolledBack {
                        run,
                        version: step.from,
                        step,
                        error,
                    });
                }
                StepEnd::Cancelled => {
                    return Ok(RunEnd::Cancelled {
                        run,
                        step: Some(step),
                    });
                }
                StepEnd::AwaitingDba { script } => {
                    return Ok(RunEnd::AwaitingDba { run, step, script });
                }
            }
        }
        self.finish(run, RunOutcome::Completed { version: target })?;
        Ok(RunEnd::Completed {
            run,
            version: target,
        })
    }

    fn finish(&mut self, run: RunId, outcome: RunOutcome) -> Result<(), EngineError> {
        self.journal
            .append(run, &[Payload::RunFinished { outcome }])?;
        Ok(())
    }

    fn load_run(&self, run: RunId) -> Result<RunState, EngineError> {
        let entries = self.journal.run_entries(run)?;
        Ok(RunState::from_entries(&entries)?)
    }

    /// Finishes the unfinished run: completes its interrupted step (ops with an intent and no
    /// done record are checked, and applied again if their effect is not there), or finishes
    /// an interrupted rollback, then runs the remaining steps to the run's target.
    ///
    /// A step that waits for its DBA (script mode) goes on only once `dba` says the work is
    /// done: checked on the server, or confirmed by the operator.
    pub fn resume(
        &mut self,
        local_changes: LocalChangePolicy,
        dba: DbaWork,
    ) -> Result<RunEnd, EngineError> {
        let summary = self
            .journal
            .unfinished_run()?
            .ok_or(EngineError::NothingToDo { action: "resume" })?;
        let mut state = self.load_run(summary.run)?;
        let run = state.run;
        if let Some(open) = state.open_step()
            && waits_for_dba(open)
        {
            // Checked before anything is journaled: a refusal changes nothing.
            let done = self.dba_work_done(open, dba)?;
            self.journal.append(run, &[Payload::RunResumed {}, done])?;
            state = self.load_run(run)?;
        } else {
            self.journal.append(run, &[Payload::RunResumed {}])?;
        }
        if let Some(target) = state.rollback_target {
            return self.roll_back_run(&state, target);
        }
        if let Some(open) = state.open_step() {
            if open.failed.is_some() || open.rollback_started {
                let step = open.step;
                let reason = open
                    .failed
                    .as_ref()
                    .map(|(_, e)| e.clone())
                    .unwrap_or_else(|| "interrupted rollback".into());
                step::roll_back(self, run, open, &reason, step.from)?;
                self.finish(run, RunOutcome::RolledBack { version: step.from })?;
                return Ok(RunEnd::RolledBack {
                    run,
                    version: step.from,
                    step,
                    error: reason,
                });
            }
            match step::resume(self, run, open)? {
                StepEnd::Committed => {}
                StepEnd::RolledBack { error } => {
                    let step = open.step;
                    self.finish(run, RunOutcome::RolledBack { version: step.from })?;
                    return Ok(RunEnd::RolledBack {
                        run,
                        version: step.from,
                        step,
                        error,
                    });
                }
                StepEnd::Cancelled => {
                    return Ok(RunEnd::Cancelled {
                        run,
                        step: Some(open.step),
                    });
                }
                StepEnd::AwaitingDba { script } => {
                    return Ok(RunEnd::AwaitingDba {
                        run,
                        step: open.step,
                        script,
                    });
                }
            }
        }
        let current = self.load_run(run)?.current_version();
        if current == state.to {
            self.finish(run, RunOutcome::Completed { version: current })?;
            return Ok(RunEnd::Completed {
                run,
                version: current,
            });
        }
        // Backups belong to a run's first step: asked for again only if none was planned.
        let request = UpgradeRequest {
            to: state.to,
            local_changes,
            backups: state.backups.clone().filter(|_| state.steps.is_empty()),
        };
        let prepared = self.prepare(&request)?;
        self.run_prepared(run, prepared)
    }

    /// The entry saying a waiting step's database work is done, after checking it (or on the
    /// operator's word).
    fn dba_work_done(
        &mut self,
        open: &state::StepState,
        dba: DbaWork,
    ) -> Result<Payload, EngineError> {
        let step = open.step;
        if dba == DbaWork::Confirmed {
            return Ok(Payload::DbaWorkDone {
                step,
                verified: false,
                how: "confirmed by the operator (hubup resume --dba-confirmed); not checked on \
                      the server"
                    .to_string(),
            });
        }
        let ops: Vec<crate::op::SqlOp> = open
            .ops
            .iter()
            .filter_map(|op| match op {
                crate::op::Op::Sql(sql) => Some(sql.clone()),
                _ => None,
            })
            .collect();
        self.sql
            .verify_dba_work(&ops)
            .map_err(|e| EngineError::DbaWorkMissing {
                step,
                error: e.to_string(),
            })?;
        Ok(Payload::DbaWorkDone {
            step,
            verified: true,
            how: format!(
                "checked on SQL Server {} (read only): {} database op(s) done",
                self.config.sql.server,
                ops.len()
            ),
        })
    }

    /// Rolls back: without `to`, the interrupted step of the unfinished run; with `to`, every
    /// step back to version `to`, newest first, across as many runs as that takes (using
    /// their backups and the journal). Every backup copy needed is checked before anything is
    /// undone.
    pub fn rollback(&mut self, to: Option<Version>) -> Result<RunEnd, EngineError> {
        let Some(target) = to else {
            let summary = self
                .journal
                .unfinished_run()?
                .ok_or(EngineError::NothingToDo {
                    action: "roll back",
                })?;
            let state = self.load_run(summary.run)?;
            let target = state
                .open_step()
                .map(|s| s.step.from)
                .unwrap_or_else(|| state.current_version());
            self.journal.append(state.run, &[Payload::RunResumed {}])?;
            return self.roll_back_run(&state, target);
        };
        let runs = self.runs_to_roll_back(target)?;
        let involved: Vec<&state::StepState> = runs
            .iter()
            .flat_map(|state| to_undo(state, target))
            .collect();
        step::check_backups(self, &involved, target)?;
        let mut end = None;
        for state in &runs {
            self.journal.append(state.run, &[Payload::RunResumed {}])?;
            end = Some(self.roll_back_run(state, target.max(state.from))?);
        }
        Ok(match end {
            Some(RunEnd::RolledBackOnRequest { run, .. }) => RunEnd::RolledBackOnRequest {
                run,
                version: target,
            },
            Some(other) => other,
            None => unreachable!("runs_to_roll_back returns at least one run"),
        })
    }

    /// The runs holding steps to undo to reach `target`, newest first.
    fn runs_to_roll_back(&self, target: Version) -> Result<Vec<RunState>, EngineError> {
        let mut out = Vec::new();
        let mut reaches = false;
        for summary in self.journal.runs()?.iter().rev() {
            let state = self.load_run(summary.run)?;
            if !to_undo(&state, target).is_empty() {
                out.push(state.clone());
            }
            if state.from <= target {
                reaches = true;
                break;
            }
        }
        if out.is_empty() {
            return Err(EngineError::RollbackTarget {
                target,
                reason: "the journal has no committed or interrupted step at or after it".into(),
            });
        }
        if !reaches {
            let oldest = out.last().map(|s| s.from).unwrap_or(target);
            return Err(EngineError::RollbackTarget {
                target,
                reason: format!("the journal's runs go back to {oldest} only; nothing was changed"),
            });
        }
        Ok(out)
    }

    /// Undoes the open step (if any) and then committed steps, newest first, down to `target`.
    fn roll_back_run(&mut self, state: &RunState, target: Version) -> Result<RunEnd, EngineError> {
        let run = state.run;
        let steps = to_undo(state, target);
        step::check_backups(self, &steps, target)?;
        for step_state in steps {
            let reason = format!("rollback to {target} requested");
            step::roll_back(self, run, step_state, &reason, target)?;
        }
        self.finish(run, RunOutcome::RolledBack { version: target })?;
        Ok(RunEnd::RolledBackOnRequest {
            run,
            version: target,
        })
    }
}

/// The steps of `state` a rollback to `target` undoes, newest first.
fn to_undo(state: &RunState, target: Version) -> Vec<&state::StepState> {
    state
        .steps
        .iter()
        .rev()
        .filter(|s| (s.committed || s.is_open()) && s.step.from >= target)
        .collect()
}

/// Plans and their packages for one step, ready to execute.
pub struct PlannedStep {
    pub plan: StepPlan,
    pub package: crate::package::Package,
    /// The install model after this step.
    pub after: crate::model::InstallModel,
}
