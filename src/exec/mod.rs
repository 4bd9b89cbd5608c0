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
//! Before any of that, a changing command finishes what an unclean end left behind
//! (`recovery.rs`): pending backup removals, a run that only lacks its end, and product files
//! whose content a power cut lost.
//!
//! Files: `prepare.rs` (detection, packages, planning, prerequisites: everything before the
//! first change), `step.rs` (running and rolling back one step), `apply.rs` (each op kind),
//! `recorder.rs` (every journal append, group commit), `recovery.rs` (after an unclean end),
//! `state.rs` (a run from its entries), `commands.rs`, `faults.rs` (test-only fault
//! injection).

pub mod apply;
pub mod commands;
mod error;
pub mod faults;
mod host;
mod prepare;
mod prune;
mod recorder;
mod recovery;
mod sql_lock;
pub mod state;
mod step;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use crate::config::Config;
use crate::host::HostAdapter;
use crate::install_lock::InstallLock;
use crate::journal::{Journal, JournalError, Payload, RunId, RunOutcome, UnfinishedRun};
use crate::op::Op;
use crate::plan::{LocalChangePolicy, StepPlan};
use crate::sql::{DatabaseBackups, DatabasePlanning, SqlTarget};
use crate::version::{Step, Version};

pub use error::EngineError;
pub use prepare::{
    Finding, PrepareError, PreparedRun, PrerequisiteReport, Verdict, missing_package_detail,
};
pub use prune::{BackupUse, PruneReport};
use sql_lock::SqlLocked;
use state::RunState;
use step::StepEnd;

/// Something the executor tells the operator while it works.
#[derive(Clone, Debug)]
pub enum Event {
    StepStarted {
        step: Step,
        ops: usize,
    },
    StepCommitted {
        step: Step,
    },
    RollbackStarted {
        step: Step,
        reason: String,
    },
    StepRolledBack {
        step: Step,
        verified: bool,
    },
    Note {
        text: String,
    },
    /// `done` of the step's `total` ops are applied (or, `undoing`, undone): where a run
    /// stands, for `status` while it runs. Sent after each batch of ops.
    Progress {
        step: Step,
        done: usize,
        total: usize,
        undoing: bool,
    },
    /// Something the operator should act on, though the command goes on (a backup folder
    /// that could not be removed, files repaired after a lost write).
    Warning {
        text: String,
    },
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
    /// Ctrl-C before the first change (while packages were verified or prerequisites
    /// checked): nothing was journaled or changed, nothing is pending; the install is at
    /// `version`.
    CancelledBeforeStart { version: Version },
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

/// What an upgrade is asked to do.
#[derive(Clone, Debug)]
pub struct UpgradeRequest {
    pub to: Version,
    pub local_changes: LocalChangePolicy,
    /// Back up the existing databases before the first change (`--backup-databases`).
    pub backups: Option<DatabaseBackups>,
    /// `--enable-quorum-queue`: the step from 4.1 enables RabbitMQ's `quorum_queue` feature
    /// flag (journaled, through the management API).
    pub enable_quorum_queue: bool,
}

/// The executor and what it works with. Built with [`Engine::new`]; the other inputs have
/// defaults a caller changes with the `with_*` methods.
pub struct Engine<'a> {
    config: &'a Config,
    journal: &'a mut Journal,
    sql: &'a mut dyn SqlTarget,
    /// Database names and who gets permissions (from the config's `[sql]`).
    databases: DatabasePlanning,
    /// Secrets the settings merges write (read from the environment once).
    secrets: crate::plan::app_values::SettingsSecrets,
    /// Set by the Ctrl-C handler; checked at safe points.
    cancel: &'a AtomicBool,
    /// Draw progress bars (only when the output is a terminal).
    progress: bool,
    events: Box<dyn FnMut(Event) + 'a>,
    faults: faults::Faults,
    /// Run journaled command lines that the config no longer renders the same way (the
    /// administrator changed a template on purpose); each is noted in the journal.
    accept_changed_commands: bool,
    /// `--require-logged-out`: connections to the Authentication Server fail the check
    /// instead of warning.
    require_logged_out: bool,
    /// The machine outside the install tree (the config's `[host]` adapter).
    host: Box<dyn HostAdapter + 'a>,
    /// The install lock; upgrade, resume and rollback refuse to run without it.
    lock: Option<&'a InstallLock>,
}

/// The cancel flag of an engine nobody can cancel: never set.
static NEVER_CANCELLED: AtomicBool = AtomicBool::new(false);

/// What the host adapter needs of the config.
pub fn host_setup(config: &Config) -> crate::host::HostSetup<'_> {
    config.host_setup()
}

impl<'a> Engine<'a> {
    /// An engine that works on the install `config` describes, journals into `journal` and
    /// does database work through `sql`. By default it cannot be cancelled, draws no
    /// progress, drops its events and injects no faults.
    pub fn new(config: &'a Config, journal: &'a mut Journal, sql: &'a mut dyn SqlTarget) -> Self {
        Engine {
            config,
            journal,
            sql,
            databases: config.sql.database_planning(),
            secrets: crate::plan::app_values::SettingsSecrets::from_config(config),
            cancel: &NEVER_CANCELLED,
            progress: false,
            events: Box::new(|_| {}),
            faults: faults::Faults::default(),
            accept_changed_commands: false,
            require_logged_out: false,
            host: crate::host::host_adapter(&host_setup(config)),
            lock: None,
        }
    }

    /// Work on the machine through `host` instead of the config's `[host]` adapter.
    pub fn with_host(mut self, host: Box<dyn HostAdapter + 'a>) -> Self {
        self.host = host;
        self
    }

    /// The install lock this process holds ([`InstallLock::acquire`] on the config's install
    /// root, taken before the journal is opened): upgrade, resume and rollback change the
    /// install only while it is held.
    pub fn with_install_lock(mut self, lock: &'a InstallLock) -> Self {
        self.lock = Some(lock);
        self
    }

    /// Stop at the next safe point once `cancel` is set (the Ctrl-C handler sets it).
    pub fn with_cancel(mut self, cancel: &'a AtomicBool) -> Self {
        self.cancel = cancel;
        self
    }

    /// Draw progress bars (only sensible when the output is a terminal).
    pub fn with_progress(mut self, progress: bool) -> Self {
        self.progress = progress;
        self
    }

    /// Where the engine reports what it is doing.
    pub fn with_events(mut self, events: impl FnMut(Event) + 'a) -> Self {
        self.events = Box::new(events);
        self
    }

    /// Faults to inject (tests only; see `HUBUP_TEST_FAULTS`).
    pub fn with_faults(mut self, faults: faults::Faults) -> Self {
        self.faults = faults;
        self
    }

    /// Run journaled command lines that the config's templates no longer render the same way
    /// (`--accept-changed-commands`: the administrator changed a template on purpose), noting
    /// each in the journal, instead of refusing them with [`EngineError::ChangedCommands`].
    /// `--require-logged-out`: the prerequisite check fails while anyone is connected to the
    /// Authentication Server (otherwise it warns).
    pub fn set_require_logged_out(&mut self, require: bool) {
        self.require_logged_out = require;
    }

    pub fn with_accept_changed_commands(mut self, accept: bool) -> Self {
        self.accept_changed_commands = accept;
        self
    }

    /// The config the engine works from.
    pub fn config(&self) -> &'a Config {
        self.config
    }

    /// The journal the engine appends to.
    pub fn journal(&self) -> &Journal {
        self.journal
    }
}

impl Engine<'_> {
    fn root(&self) -> PathBuf {
        self.config.install.root.clone()
    }

    /// Appends `payloads` to `run` in one durable commit (every executor append comes here or
    /// through a `Recorder`, where the test faults hook in).
    fn record(&mut self, run: RunId, payloads: &[Payload]) -> Result<(), JournalError> {
        recorder::append(self.journal, &self.faults, run, payloads)
    }

    /// Refuses to change an install whose lock this process does not hold.
    fn require_lock(&self) -> Result<(), EngineError> {
        let root = &self.config.install.root;
        match self.lock {
            Some(lock) if lock.root() == root.as_path() => Ok(()),
            _ => Err(EngineError::InstallNotLocked { root: root.clone() }),
        }
    }

    /// The unfinished run that needs the operator's choice (`resume` or `rollback`), if one
    /// does. A run that only lacks its end (nothing left to do or undo) does not: the next
    /// `upgrade` closes it after checking its files, so planning on top of it is planning
    /// from a settled install.
    pub fn run_needing_choice(&self) -> Result<Option<UnfinishedRun>, EngineError> {
        let Some(summary) = self.journal.unfinished_run()? else {
            return Ok(None);
        };
        let state = self.load_run(summary.run)?;
        Ok(state.settled_outcome().is_none().then_some(summary))
    }

    /// Before a new run: an unfinished run that only lacks its end (a crash right before
    /// `RunFinished`, or while its verified rollback removed the backup) is closed, after
    /// its committed files are checked (and repaired) against the journal; any other
    /// unfinished run refuses the upgrade.
    fn close_settled_run(&mut self) -> Result<(), EngineError> {
        let Some(summary) = self.journal.unfinished_run()? else {
            return Ok(());
        };
        let state = self.load_run(summary.run)?;
        let Some(outcome) = state.settled_outcome() else {
            return Err(EngineError::Unfinished {
                run: summary.run,
                from: summary.from,
                to: summary.to,
            });
        };
        recovery::repair_lost_writes(self, &state, recovery::Scope::Resume)?;
        let text = format!(
            "run {} ended without recording its end (an unclean end) with nothing left to do;              its committed files were checked against the journal, and it is closed",
            state.run
        );
        self.record(
            state.run,
            &[
                Payload::Note {
                    step: None,
                    text: text.clone(),
                },
                Payload::RunFinished { outcome },
            ],
        )?;
        (self.events)(Event::Note { text });
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
    /// Before the first change: refuses if a run is unfinished (one that only lacks its end
    /// is closed instead, after its files are checked and repaired), finishes pending backup
    /// removals, detects the version, verifies every package, plans every step and checks
    /// every prerequisite; any failure there leaves the install unchanged. Afterwards, a
    /// failing step is rolled back (earlier steps stay committed) and the run ends with
    /// [`RunEnd::RolledBack`]; Ctrl-C ends it at a safe point with [`RunEnd::Cancelled`].
    pub fn upgrade(&mut self, request: &UpgradeRequest) -> Result<RunEnd, EngineError> {
        self.require_lock()?;
        self.close_settled_run()?;
        recovery::finish_pending_removals(self)?;
        let prepared = self.prepare(request)?;
        let report = self.check_prerequisites(&prepared);
        if !report.all_ok() {
            return Err(EngineError::Prerequisites(report.findings));
        }
        // The last safe point before the first journal entry: a Ctrl-C during verification
        // or checks leaves nothing pending.
        if self.cancel.load(std::sync::atomic::Ordering::SeqCst) {
            return Ok(RunEnd::CancelledBeforeStart {
                version: prepared.from,
            });
        }
        let run = RunId::random();
        let mut config = crate::journal::ConfigRecord::from_pairs(self.config.journal_view());
        // Which machine id marks the databases this run creates (the audit's link to them).
        if let Some(machine) = self.journal.machine_id() {
            config.push(crate::journal::MACHINE_ID_KEY, machine.to_hex());
        }
        // Who started it, for the receipt (`hubup report`).
        config.push(
            crate::journal::OPERATOR_KEY,
            crate::journal::local_operator_name(),
        );
        // Resume reads the backups back from here if the run stops before its first step.
        if let Some(backups) = &request.backups {
            config.push(state::BACKUP_FOLDER_KEY, backups.folder.clone());
            config.push(state::BACKUP_STAMP_KEY, backups.stamp.clone());
        }
        if request.enable_quorum_queue {
            config.push(state::ENABLE_QUORUM_QUEUE_KEY, "true".to_string());
        }
        let started = Payload::RunStarted {
            from: prepared.from,
            to: request.to,
            install_root: self.root().display().to_string(),
            hubup_version: crate::version::HUBUP_VERSION.to_string(),
            config,
        };
        // Several machines of one installation may upgrade at once: hold the installation lock
        // on SQL Server for the whole run, taken before anything is journaled, so a machine
        // that cannot get it stops with nothing changed.
        let sql = prepared.steps.iter().any(|p| step::has_sql(&p.plan.ops));
        let mut locked = SqlLocked::take(self, sql).map_err(|e| {
            EngineError::Prerequisites(vec![Finding::failed(
                "SQL Server application lock",
                e.to_string(),
            )])
        })?;
        // Nothing is journaled yet: a journal that cannot take the run's first entry (a full
        // disk) means no run exists, not an unfinished one.
        locked
            .record(run, &[started])
            .map_err(|source| match EngineError::from(source) {
                EngineError::Journal(source) => EngineError::NotStarted { source },
                other => other,
            })?;
        locked.run_prepared(run, prepared)
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
        self.record(run, &[Payload::RunFinished { outcome }])?;
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
    ///
    /// Before it continues, the files the run's committed steps (and the interrupted step's
    /// done ops) wrote are checked against the journal and lost or damaged ones rewritten
    /// from their packages; one that cannot be rewritten refuses the resume, naming it, with
    /// nothing changed ([`EngineError::LostFiles`]).
    pub fn resume(
        &mut self,
        local_changes: LocalChangePolicy,
        dba: DbaWork,
    ) -> Result<RunEnd, EngineError> {
        self.require_lock()?;
        recovery::finish_pending_removals(self)?;
        let summary = self
            .journal
            .unfinished_run()?
            .ok_or(EngineError::NothingToDo { action: "resume" })?;
        let mut state = self.load_run(summary.run)?;
        let run = state.run;
        self.check_journaled_commands(run, &lines_a_resume_runs(&state))?;
        // Checked before anything is journaled or repaired: a refusal changes nothing.
        let dba_done = match state.open_step() {
            Some(open) if waits_for_dba(open) => Some(self.dba_work_done(open, dba)?),
            _ => None,
        };
        let rolls_back = state.rollback_target.is_some()
            || state
                .open_step()
                .is_some_and(|open| open.failed.is_some() || open.rollback_started);
        let scope = if rolls_back {
            recovery::Scope::Rollback
        } else {
            recovery::Scope::Resume
        };
        recovery::repair_lost_writes(self, &state, scope)?;
        if let Some(done) = dba_done {
            self.record(run, &[Payload::RunResumed {}, done])?;
            state = self.load_run(run)?;
        } else {
            self.record(run, &[Payload::RunResumed {}])?;
        }
        if let Some(target) = state.rollback_target {
            return self.roll_back_run(&state, target);
        }
        // The interrupted step, once this resume has committed it.
        let mut committed = None;
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
                StepEnd::Committed => committed = Some(open.step),
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
            enable_quorum_queue: state.enable_quorum_queue,
        };
        // Once this resume has committed a step, a refusal here no longer means "nothing
        // changed": the run is unfinished at a later version than it was.
        let prepared = self.prepare(&request).map_err(|e| match (committed, e) {
            (Some(committed), EngineError::Prepare(source)) => EngineError::RemainingSteps {
                run,
                committed,
                source,
            },
            (_, e) => e,
        })?;
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
    ///
    /// Without `to`, the files of the run's committed steps are first checked and repaired as
    /// [`Engine::resume`] does (except those the interrupted step changed: its undo restores
    /// them).
    pub fn rollback(&mut self, to: Option<Version>) -> Result<RunEnd, EngineError> {
        self.require_lock()?;
        recovery::finish_pending_removals(self)?;
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
            let undone = undo_lines(to_undo(&state, target));
            self.check_journaled_commands(state.run, &undone)?;
            recovery::repair_lost_writes(self, &state, recovery::Scope::Rollback)?;
            self.record(state.run, &[Payload::RunResumed {}])?;
            return self.roll_back_run(&state, target);
        };
        let runs = self.runs_to_roll_back(target)?;
        let involved: Vec<&state::StepState> = runs
            .iter()
            .flat_map(|state| to_undo(state, target))
            .collect();
        step::check_backups(self, &involved, target)?;
        for state in &runs {
            let undone = undo_lines(to_undo(state, target));
            self.check_journaled_commands(state.run, &undone)?;
        }
        let mut end = None;
        for state in &runs {
            self.record(state.run, &[Payload::RunResumed {}])?;
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

    /// Whether `rollback --to target` could reach `target` from what the journal holds
    /// (`Ok`), or why not; reads only.
    pub fn rollback_reaches(&self, target: Version) -> Result<(), EngineError> {
        self.runs_to_roll_back(target).map(|_| ())
    }

    /// What `rollback --to target` would undo, newest first: each step and its ops that have
    /// an intent and are not undone yet (what the confirmation shows). Reads only: a failure
    /// (the journal's runs do not reach `target`, or it cannot be read) changes nothing.
    pub fn rollback_preview(&self, target: Version) -> Result<Vec<(Step, Vec<Op>)>, EngineError> {
        let runs = self.runs_to_roll_back(target)?;
        Ok(runs
            .iter()
            .flat_map(|state| to_undo(state, target))
            .map(|step| {
                let ops = step
                    .to_undo()
                    .into_iter()
                    .filter_map(|i| step.ops.get(i as usize).cloned())
                    .collect();
                (step.step, ops)
            })
            .collect())
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

impl Engine<'_> {
    /// Refuses (nothing changed) if any journaled command line that is about to be run
    /// differs from what the config renders (`commands::verify_journaled`); with
    /// `accept_changed_commands`, notes each such line in the run's journal and goes on.
    fn check_journaled_commands(
        &mut self,
        run: RunId,
        steps: &[(&state::StepState, commands::LinesToRun)],
    ) -> Result<(), EngineError> {
        let mismatches: Vec<commands::CommandMismatch> = steps
            .iter()
            .flat_map(|(s, lines)| commands::verify_journaled(self.config, s.step, &s.ops, *lines))
            .collect();
        if mismatches.is_empty() {
            return Ok(());
        }
        if !self.accept_changed_commands {
            return Err(EngineError::ChangedCommands(mismatches));
        }
        let notes: Vec<Payload> = mismatches
            .iter()
            .map(|m| Payload::Note {
                step: Some(m.step),
                text: format!(
                    "--accept-changed-commands: op {} runs its journaled {} command {} (the \
                     config's {} renders {})",
                    m.index, m.role, m.journaled, m.template, m.expected
                ),
            })
            .collect();
        for m in &mismatches {
            (self.events)(Event::Note {
                text: format!("accepted a changed command: {m}"),
            });
        }
        self.record(run, &notes)?;
        Ok(())
    }
}

/// What a resume may run: the undo lines of the steps an interrupted rollback undoes, or the
/// open step's lines (all of them, since a failing op rolls the step back; undo only if the
/// step already failed).
fn lines_a_resume_runs(state: &RunState) -> Vec<(&state::StepState, commands::LinesToRun)> {
    if let Some(target) = state.rollback_target {
        return undo_lines(to_undo(state, target));
    }
    match state.open_step() {
        Some(open) if open.failed.is_some() || open.rollback_started => {
            vec![(open, commands::LinesToRun::UndoOnly)]
        }
        Some(open) => vec![(open, commands::LinesToRun::All)],
        None => Vec::new(),
    }
}

fn undo_lines(steps: Vec<&state::StepState>) -> Vec<(&state::StepState, commands::LinesToRun)> {
    steps
        .into_iter()
        .map(|s| (s, commands::LinesToRun::UndoOnly))
        .collect()
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
