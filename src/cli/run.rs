//! The commands that plan and change an install: `plan`, `check`, `upgrade`, `resume`,
//! `rollback`, `sql-script`. They share one set-up (config, journal, SQL adapter:
//! `with_engine`, in a `Phase`); their exit codes come from `exit.rs`. `upgrade --to` and
//! `rollback --to` without `--yes` first run a read-only preview that shows the summary and asks
//! on the terminal (off one they are refused), so a declined or refused run writes nothing.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Args;
use hubup::{
    Config, DatabaseBackups, Engine, EngineError, Event, Faults, InstallLock, Journal,
    LocalChangePolicy, Op, PrepareError, PreparedRun, PrerequisiteReport, RangeError, RunEnd,
    SqlError, SqlTarget, UpgradeRequest, Verdict, Version,
};
use serde_json::json;

use super::{Cause, CommandResult, Exit, Failure, Outcome};

/// Options every engine command takes.
#[derive(Args, Debug, Clone)]
pub(crate) struct CommonArgs {
    /// The config file (what the vendor wizard asks, and where things are).
    #[arg(long, env = "HUBUP_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print one JSON object (machine-readable) instead of text.
    #[arg(long)]
    pub json: bool,
}

/// What to do with product files an administrator changed.
#[derive(Args, Debug, Clone)]
#[group(multiple = false)]
pub(crate) struct LocalChangeArgs {
    /// Leave locally changed product files as they are (each one is journaled).
    #[arg(long)]
    pub keep_local_changes: bool,
    /// Replace locally changed product files (they go to backup_4.n like everything else).
    #[arg(long)]
    pub overwrite_local_changes: bool,
}

impl LocalChangeArgs {
    fn policy(&self) -> LocalChangePolicy {
        if self.keep_local_changes {
            LocalChangePolicy::Keep
        } else if self.overwrite_local_changes {
            LocalChangePolicy::Overwrite
        } else {
            LocalChangePolicy::Refuse
        }
    }
}

#[derive(Args, Debug)]
pub(crate) struct PlanArgs {
    /// The version to upgrade to (4.1 ... 4.5).
    #[arg(long, value_name = "VERSION")]
    pub to: Version,
    #[command(flatten)]
    pub local: LocalChangeArgs,
    #[command(flatten)]
    pub backup: BackupArgs,
    #[command(flatten)]
    pub checks: CheckArgs,
    #[command(flatten)]
    pub broker: BrokerArgs,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// What the run may do to the message broker.
#[derive(Args, Debug, Clone)]
pub(crate) struct BrokerArgs {
    /// The step from 4.1 enables RabbitMQ's quorum_queue feature flag through the management
    /// API ([rabbitmq] with an administrator user), journaled, before Hub's sites start (the
    /// guide's `rabbitmqctl enable_feature_flag quorum_queue`). A feature flag cannot be
    /// disabled again: a rollback leaves it enabled.
    #[arg(long)]
    pub enable_quorum_queue: bool,
}

/// How strict the prerequisite check is.
#[derive(Args, Debug, Clone)]
pub(crate) struct CheckArgs {
    /// Fail the check (and refuse the upgrade) while anyone is connected to the
    /// Authentication Server (IMS); without it, the connections are a warning.
    #[arg(long)]
    pub require_logged_out: bool,
}

/// `hubup plan`: the plan options, and where to save the plan.
#[derive(Args, Debug)]
pub(crate) struct PlanCommandArgs {
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Also save the plan, with the digests of the config, install and packages it was made
    /// from, to FILE (`-`: standard output), for `hubup upgrade --plan FILE`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// `hubup upgrade`: to a version, or exactly the plan `hubup plan --out` saved.
#[derive(Args, Debug)]
pub(crate) struct UpgradeArgs {
    /// The version to upgrade to (4.1 ... 4.5).
    #[arg(long, value_name = "VERSION", required_unless_present = "plan")]
    pub to: Option<Version>,
    /// Apply the plan saved by `hubup plan --out FILE` (its version and options); refused,
    /// with nothing changed, if the config, install or packages changed since.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["keep_local_changes", "overwrite_local_changes", "backup_databases", "enable_quorum_queue"])]
    pub plan: Option<PathBuf>,
    #[command(flatten)]
    pub local: LocalChangeArgs,
    #[command(flatten)]
    pub backup: BackupArgs,
    #[command(flatten)]
    pub checks: CheckArgs,
    #[command(flatten)]
    pub broker: BrokerArgs,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Database backups before the first change.
#[derive(Args, Debug, Clone)]
pub(crate) struct BackupArgs {
    /// Back up every existing database (BACKUP DATABASE ... WITH COPY_ONLY) into DIR, a folder
    /// on the SQL Server machine, before the first change; overrides sql.backup_databases.
    #[arg(long, value_name = "DIR")]
    pub backup_databases: Option<String>,
}

impl BackupArgs {
    /// The backups asked for by the flag or the config, stamped with the current time.
    fn backups(&self, config: &Config) -> Result<Option<DatabaseBackups>, Failure> {
        let Some(folder) = self
            .backup_databases
            .as_ref()
            .or(config.sql.backup_databases.as_ref())
        else {
            return Ok(None);
        };
        Ok(Some(DatabaseBackups::new(folder, hubup::now_ms())?))
    }
}

/// For an administrator who changed a [commands] template on purpose during a run.
#[derive(Args, Debug, Clone)]
pub(crate) struct JournaledCommandArgs {
    /// Run journaled command lines even where the config's [commands] templates now render
    /// them differently (each is noted in the journal). Without it, such a line stops the
    /// command before anything runs.
    #[arg(long)]
    pub accept_changed_commands: bool,
}

#[derive(Args, Debug)]
pub(crate) struct ResumeArgs {
    #[command(flatten)]
    pub local: LocalChangeArgs,
    /// Script mode: the DBA ran the step's script without errors, and hubup cannot check it
    /// on the server (no sql.server, or no login for it). Journaled as not checked.
    #[arg(long)]
    pub dba_confirmed: bool,
    #[command(flatten)]
    pub commands: JournaledCommandArgs,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Args, Debug)]
pub(crate) struct RollbackArgs {
    /// Go back across committed steps of the latest run to this version (default: undo only
    /// the interrupted step).
    #[arg(long, value_name = "VERSION")]
    pub to: Option<Version>,
    #[command(flatten)]
    pub commands: JournaledCommandArgs,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Set when Ctrl-C is pressed; the engine stops at its next safe point.
static CANCEL: AtomicBool = AtomicBool::new(false);

/// Set while a rollback runs: the engine does not stop one halfway (that would leave a step
/// half undone), so Ctrl-C says so instead of promising a stop.
static ROLLING_BACK: AtomicBool = AtomicBool::new(false);

/// What Ctrl-C makes hubup do, in the operator's words.
fn ctrl_c_message(again: bool) -> &'static str {
    match (ROLLING_BACK.load(Ordering::SeqCst), again) {
        (true, _) => {
            "hubup: Ctrl-C: a rollback is never stopped halfway (that would leave the install \
             between versions): hubup finishes undoing, then exits"
        }
        (false, false) => "hubup: Ctrl-C: stopping at the next safe point...",
        (false, true) => {
            "hubup: stopping at the next safe point (pressing Ctrl-C again has no further effect)"
        }
    }
}

/// The config file to use: the flag, `HUBUP_CONFIG`, or the platform default.
pub(crate) fn config_path(given: &Option<PathBuf>) -> PathBuf {
    given
        .clone()
        .unwrap_or_else(|| hubup::default_journal_path().with_file_name("hubup.toml"))
}

pub(crate) fn load_config(given: &Option<PathBuf>) -> Result<Config, Failure> {
    let path = config_path(given);
    Config::load(&path).map_err(|error| {
        let hint = if given.is_none() {
            " (give one with --config FILE or HUBUP_CONFIG)"
        } else {
            ""
        };
        Failure::of(Cause::Config { error, hint })
    })
}

/// Opens (creating it if `create`) the config's journal, recording the config's machine name.
/// Without `create`, the journal is opened read-only, and without a journal on disk a scratch
/// journal in a temp folder stands in (planning and checking write nothing to the machine).
fn open_journal(
    config: &Config,
    create: bool,
) -> Result<(Journal, Option<tempfile::TempDir>), Failure> {
    let path = config.journal_path();
    let (mut journal, scratch) = if create {
        (Journal::create(&path)?, None)
    } else if path.exists() {
        // Planning and checking only read the journal: its file stays as it was.
        (Journal::open_read_only(&path)?, None)
    } else {
        let dir = tempfile::tempdir()
            .map_err(|e| Cause::Output(format!("cannot make a temp folder: {e}")))?;
        let journal = Journal::create(dir.path().join("scratch.redb"))?;
        (journal, Some(dir))
    };
    if let Some(machine) = &config.install.machine {
        journal.set_machine(machine.clone());
    }
    Ok((journal, scratch))
}

/// Who this machine is on SQL Server (the mark on databases it creates): the random id made
/// with its journal, never the config's display name or a path (configs get copied between
/// servers; two installs on one host have two journals).
fn machine_identity(journal: &Journal) -> String {
    journal
        .machine_id()
        .map(|m| m.to_hex())
        .unwrap_or_else(|| hubup::RunId::random().to_hex())
}

/// What a command does with the install, as far as `with_engine` is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Phase {
    /// Reads only (`plan`, `check`, `sql-script`).
    Read,
    /// The first phase of a changing command that asks before it starts (`upgrade`, `rollback
    /// --to`): every refusal of the change phase that needs no lock, then the plan to show,
    /// reading only. Nothing is created: no lock, no journal, no log.
    Preview,
    /// Changes the install (`upgrade`, `resume`, `rollback`): the lock, the journal, the log.
    Change,
}

/// Runs `body` with an engine set up from the config. `command` names the log file of
/// commands that change the install (`Phase::Change`); `journaled` is given by the commands
/// that run journaled command lines (`resume`, `rollback`).
pub(super) fn with_engine<T>(
    common: &CommonArgs,
    command: &str,
    phase: Phase,
    journaled: Option<&JournaledCommandArgs>,
    body: impl FnOnce(&mut Engine<'_>) -> Result<T, Failure>,
) -> Result<T, Failure> {
    let changes = phase == Phase::Change;
    let config = load_config(&common.config)?;
    // Before anything is created or run: only administrators may steer hubup.
    super::access::guard(&config, command, phase != Phase::Read, command == "check")?;
    let faults = Faults::from_env().map_err(Cause::Faults)?;
    hubup::check_flush_setting().map_err(Cause::Argument)?;
    // Refusals that need no lock come before anything is created (no lock file, no log).
    if phase != Phase::Read {
        config.sql.password().map_err(SqlError::from)?;
    }
    // Before anything else: one hubup at a time changes an install, whatever its journal;
    // the reading commands do not read an install while another hubup changes it.
    let lock = if changes {
        let lock = InstallLock::acquire(&config.install.root, &config.journal_path())?;
        faults.while_holding_lock();
        Some(lock)
    } else {
        hubup::refuse_if_held(&config.install.root)?;
        None
    };
    // What a refusal before the first journal entry removes again: recorded before the log
    // and the journal are created.
    let creation = changes.then(|| super::refused::JournalCreation::before(&config.journal_path()));
    // A preview starts no logging: the change phase after it starts the log (once a process).
    if phase != Phase::Preview {
        super::log::start(&config.journal_path(), command, changes);
    }
    let (mut journal, _scratch) = open_journal(&config, changes)?;
    if phase != Phase::Read {
        journal.refuse_if_copied()?;
    }
    ROLLING_BACK.store(command == "rollback", Ordering::SeqCst);
    let mut progress =
        changes.then(|| super::progress::Writer::start(&config.journal_path(), command));
    let identity = machine_identity(&journal);
    let mut sql: Box<dyn SqlTarget> =
        hubup::sql_target(&config.sql, &config.output_dir(), &identity)?;
    let json = common.json;
    let global = super::global();
    let events = move |event: Event| {
        if let Some(progress) = progress.as_mut() {
            progress.observe(&event);
        }
        match &event {
            Event::RollbackStarted { .. } => ROLLING_BACK.store(true, Ordering::SeqCst),
            Event::StepRolledBack { .. } => ROLLING_BACK.store(false, Ordering::SeqCst),
            Event::Progress { .. } => return,
            _ => {}
        }
        let (text, warning) = event_text(&event);
        if warning {
            tracing::warn!("{text}");
        } else {
            tracing::info!("{text}");
        }
        // -q: warnings only (they ask the operator to act); the result line comes at the end.
        if !json && (warning || !global.quiet) {
            errln!("{text}");
        }
    };
    // Installed only once the change phase starts: before it (the confirmation), Ctrl-C ends
    // hubup at once, and nothing was written.
    if changes {
        let _ = ctrlc::set_handler(|| {
            let again = CANCEL.swap(true, Ordering::SeqCst);
            errln!("{}", ctrl_c_message(again));
        });
    }
    // The bar would be torn by -v's op lines on the same stream; -q shows no progress.
    let bar = !json && !global.quiet && global.verbose == 0 && std::io::stderr().is_terminal();
    let mut engine = Engine::new(&config, &mut journal, sql.as_mut())
        .with_cancel(&CANCEL)
        .with_progress(bar)
        .with_events(events)
        .with_faults(faults)
        .with_accept_changed_commands(journaled.is_some_and(|j| j.accept_changed_commands));
    if let Some(lock) = &lock {
        engine = engine.with_install_lock(lock);
    }
    // Planning or starting on top of a run that waits for resume or rollback would describe
    // an install that is between versions: every command answers it the same way. A run
    // that only lacks its end is no such run: `upgrade` closes it itself.
    if matches!(command, "plan" | "check" | "upgrade" | "sql-script") {
        refuse_if_unfinished(&engine, common)?;
    }
    let outcome = body(&mut engine);
    drop(engine);
    let nothing_journaled = journal.head().is_none();
    drop(journal);
    match (outcome, creation) {
        (Err(mut failure), Some(creation))
            if nothing_journaled && creation.undo(super::log::discard) =>
        {
            failure.message = super::refused::without_log_line(&failure.message);
            Err(failure)
        }
        (outcome, _) => outcome,
    }
}

/// What the operator reads about an event (on stderr, and in the log), and whether it is a
/// warning.
fn event_text(event: &Event) -> (String, bool) {
    match event {
        Event::StepStarted { step, ops } => (format!("step {step}: {ops} ops"), false),
        Event::StepCommitted { step } => (format!("step {step}: committed"), false),
        Event::RollbackStarted { step, reason } => {
            (format!("step {step}: rolling back ({reason})"), true)
        }
        Event::StepRolledBack { step, verified } => (
            format!(
                "step {step}: rolled back{}",
                if *verified {
                    ", install verified against its state before the step"
                } else {
                    " but NOT verified"
                }
            ),
            !*verified,
        ),
        Event::Note { text } => (format!("note: {text}"), false),
        Event::Progress {
            step, done, total, ..
        } => (format!("step {step}: op {done}/{total}"), false),
        Event::Warning { text } => (format!("warning: {text}"), true),
    }
}

/// Refuses with where the unfinished run stopped, if one waits for resume or rollback
/// (exit 4).
fn refuse_if_unfinished(engine: &Engine<'_>, common: &CommonArgs) -> Result<(), Failure> {
    match engine.run_needing_choice()? {
        Some(run) => Err(Failure::of(Cause::Unfinished {
            run: Box::new(run),
            hint: config_hint(common),
        })),
        None => Ok(()),
    }
}

/// Why there is nothing to do, when a refusal means exactly that: the install is already at
/// the version asked for, or there is no unfinished run to resume or roll back.
fn nothing_to_do(error: &EngineError) -> Option<String> {
    match error {
        EngineError::Prepare(PrepareError::Range(RangeError::AlreadyAt { installed, .. })) => {
            Some(format!("the install is already at {installed}"))
        }
        EngineError::NothingToDo { action } => {
            Some(format!("there is no unfinished run to {action}"))
        }
        _ => None,
    }
}

/// Prints "nothing to do" (text or JSON) and returns its exit code (0).
fn report_nothing_to_do(reason: &str, json: bool) -> Exit {
    tracing::info!("nothing to do: {reason}");
    if json {
        outln!(
            "{}",
            json!({ "outcome": "nothing_to_do", "ok": true, "changed": false, "reason": reason })
        );
    } else {
        outln!("nothing to do: {reason}");
    }
    super::exit::code(Outcome::NothingToDo)
}

/// The engine's result, with "nothing to do" refusals turned into that outcome.
fn or_nothing_to_do<T>(
    result: Result<T, EngineError>,
    json: bool,
    done: impl FnOnce(T) -> Exit,
) -> CommandResult {
    match result {
        Ok(value) => Ok(done(value)),
        Err(error) => match nothing_to_do(&error) {
            Some(reason) => Ok(report_nothing_to_do(&reason, json)),
            None => Err(Failure::from(error)),
        },
    }
}

pub(crate) fn plan(command: PlanCommandArgs) -> CommandResult {
    let args = command.plan;
    let out = command.out;
    let config_file = config_path(&args.common.config);
    with_engine(&args.common, "plan", Phase::Read, None, |engine| {
        let request = UpgradeRequest {
            to: args.to,
            local_changes: args.local.policy(),
            backups: args.backup.backups(engine.config())?,
            enable_quorum_queue: args.broker.enable_quorum_queue,
        };
        let json = args.common.json;
        let prepared = match engine.prepare(&request) {
            Ok(prepared) => prepared,
            Err(error) => return or_nothing_to_do(Err(error), json, |()| Exit::Ok),
        };
        if let Some(out) = &out {
            let inputs = super::saved_plan::inputs_now(
                &config_file,
                engine.config(),
                prepared.from,
                prepared.to,
            )?;
            let saved = super::saved_plan::SavedPlan::new(
                &prepared,
                inputs,
                &request,
                plan_json(&prepared),
            );
            super::saved_plan::write(out, &saved)?;
            if out.as_os_str() == "-" {
                return Ok(Exit::Ok);
            }
            errln!(
                "saved the plan to {}; apply exactly it with `hubup upgrade --plan {}`",
                out.display(),
                out.display()
            );
        }
        if json {
            outln!("{}", plan_json(&prepared));
        } else {
            out!("{}", plan_text(&prepared));
        }
        Ok(Exit::Ok)
    })
}

pub(crate) fn check(args: PlanArgs) -> CommandResult {
    with_engine(&args.common, "check", Phase::Read, None, |engine| {
        engine.set_require_logged_out(args.checks.require_logged_out);
        let request = UpgradeRequest {
            to: args.to,
            local_changes: args.local.policy(),
            backups: args.backup.backups(engine.config())?,
            enable_quorum_queue: args.broker.enable_quorum_queue,
        };
        let (from, report) = match engine.prepare(&request) {
            Ok(prepared) => (Some(prepared.from), engine.check_prerequisites(&prepared)),
            // Every missing package is a FAIL of its own, as the other prerequisites are.
            Err(EngineError::Prepare(PrepareError::PackageMissing { missing })) => {
                (None, missing_packages_report(&missing))
            }
            Err(error) => return or_nothing_to_do(Err(error), args.common.json, |()| Exit::Ok),
        };
        if args.common.json {
            outln!(
                "{}",
                json!({ "from": from, "to": args.to, "ok": report.all_ok(),
                        "changed": false, "findings": report.findings })
            );
        } else {
            out!("{}", report_text(&report));
        }
        Ok(super::exit::code(Outcome::Checked(&report)))
    })
}

/// The check's report when packages are missing: one FAIL per package (the other
/// prerequisites are checked against the packages' plans, so they wait for the packages).
fn missing_packages_report(missing: &[(hubup::Step, PathBuf)]) -> PrerequisiteReport {
    PrerequisiteReport {
        findings: missing
            .iter()
            .map(|(step, path)| {
                hubup::Finding::failed(
                    format!("package for {step}"),
                    hubup::missing_package_detail(*step, path),
                )
            })
            .collect(),
    }
}

/// Whether the operator approved a change before it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Approval {
    /// `--yes`, a saved plan, or the demo's own sandbox: go on.
    Given,
    /// Show the summary and ask on a terminal; refuse, changing nothing, elsewhere.
    Ask,
}

impl Approval {
    /// `--yes` on the command line, or else ask.
    pub(crate) fn from_command_line() -> Approval {
        if super::global().yes {
            Approval::Given
        } else {
            Approval::Ask
        }
    }
}

/// Refuses `action` when standard input is no terminal to ask on (a script, a scheduled task,
/// a pipe): nothing was changed, and `--yes` is the way to apply without asking.
pub(super) fn refuse_unless_terminal(action: &str) -> Result<(), Failure> {
    if std::io::stdin().is_terminal() {
        return Ok(());
    }
    Err(Failure::of(Cause::Argument(format!(
        "refusing to {action} without confirmation: standard input is not a terminal, so \
         hubup cannot ask; nothing was changed. Give --yes (-y) to apply without asking \
         (review first with `hubup plan`)"
    ))))
}

/// Shows `summary` and asks for `yes` on the terminal (standard error, so that `--json`'s
/// standard output stays one object). True only for exactly `yes`.
pub(super) fn confirmed(summary: &str) -> bool {
    errln!("{summary}");
    super::output::err(format_args!("Apply this plan? Only 'yes' is accepted: "));
    let mut answer = String::new();
    match std::io::stdin().read_line(&mut answer) {
        Ok(_) => answer.trim() == "yes",
        Err(_) => false,
    }
}

/// The operator declined at the prompt: nothing was created or changed (exit 130).
fn report_declined(version: Version, json: bool) -> Exit {
    let text = format!("cancelled, nothing changed (the install is at {version})");
    if json {
        outln!(
            "{}",
            json!({ "outcome": "cancelled_before_start", "ok": false, "changed": false,
                    "version": version, "message": text })
        );
    } else {
        errln!("hubup: {text}");
    }
    Exit::CancelledBeforeStart
}

/// The request `upgrade` makes: the saved plan's (checked against now), or the flags'.
fn upgrade_request(
    engine: &Engine<'_>,
    args: &UpgradeArgs,
    config_file: &std::path::Path,
    saved: Option<&(&PathBuf, super::saved_plan::SavedPlan)>,
) -> Result<UpgradeRequest, Failure> {
    Ok(match saved {
        Some((path, plan)) => saved_request(engine, config_file, path, plan, args.to)?,
        None => UpgradeRequest {
            to: args.to.expect("clap requires --to without --plan"),
            local_changes: args.local.policy(),
            backups: args.backup.backups(engine.config())?,
            enable_quorum_queue: args.broker.enable_quorum_queue,
        },
    })
}

pub(crate) fn upgrade(args: UpgradeArgs) -> CommandResult {
    upgrade_with(args, Approval::from_command_line())
}

/// `hubup upgrade`; unless `approval` is given (or the plan is a saved one), first a
/// read-only phase shows the plan's summary and asks.
pub(crate) fn upgrade_with(args: UpgradeArgs, approval: Approval) -> CommandResult {
    let config_hint = config_hint(&args.common);
    let config_file = config_path(&args.common.config);
    let saved = args
        .plan
        .as_ref()
        .map(|path| super::saved_plan::SavedPlan::read(path).map(|plan| (path, plan)))
        .transpose()?;
    if saved.is_none()
        && let Some(exit) = answer_without_journal(&args.common, "upgrade", args.to)?
    {
        return Ok(exit);
    }
    // A saved plan was reviewed when it was made, and is refused if anything changed since.
    if saved.is_none() && approval == Approval::Ask {
        refuse_unless_terminal("upgrade")?;
        let json = args.common.json;
        let asked = with_engine(&args.common, "upgrade", Phase::Preview, None, |engine| {
            let request = upgrade_request(engine, &args, &config_file, None)?;
            refuse_downgrade(engine, request.to, &config_hint)?;
            match engine.prepare(&request) {
                Ok(prepared) => {
                    let summary = format!(
                        "Plan: {} -> {} in {} step(s) (`hubup plan --to {}` lists every op).\n{}",
                        prepared.from,
                        prepared.to,
                        prepared.steps.len(),
                        prepared.to,
                        plan_summary(&prepared).trim_end()
                    );
                    Ok((!confirmed(&summary)).then(|| report_declined(prepared.from, json)))
                }
                Err(error) => or_nothing_to_do(Err(error), json, |()| Exit::Ok).map(Some),
            }
        })?;
        if let Some(exit) = asked {
            return Ok(exit);
        }
    }
    with_engine(&args.common, "upgrade", Phase::Change, None, |engine| {
        engine.set_require_logged_out(args.checks.require_logged_out);
        let request = upgrade_request(engine, &args, &config_file, saved.as_ref())?;
        refuse_downgrade(engine, request.to, &config_hint)?;
        let end = engine.upgrade(&request);
        finish_run(engine, end, args.common.json, &config_hint)
    })
}

pub(crate) fn resume(args: ResumeArgs) -> CommandResult {
    let config_hint = config_hint(&args.common);
    if let Some(exit) = answer_without_journal(&args.common, "resume", None)? {
        return Ok(exit);
    }
    with_engine(
        &args.common,
        "resume",
        Phase::Change,
        Some(&args.commands),
        |engine| {
            let dba = if args.dba_confirmed {
                hubup::DbaWork::Confirmed
            } else {
                hubup::DbaWork::Check
            };
            let end = engine.resume(args.local.policy(), dba);
            finish_run(engine, end, args.common.json, &config_hint)
        },
    )
}

pub(crate) fn rollback(args: RollbackArgs) -> CommandResult {
    let config_hint = config_hint(&args.common);
    if let Some(exit) = answer_without_journal(&args.common, "rollback", args.to)? {
        return Ok(exit);
    }
    // Plain rollback finishes what was started (undoes the interrupted step): it does not ask.
    if let Some(target) = args.to
        && Approval::from_command_line() == Approval::Ask
    {
        refuse_unless_terminal("roll back")?;
        let json = args.common.json;
        let asked = with_engine(
            &args.common,
            "rollback",
            Phase::Preview,
            Some(&args.commands),
            |engine| {
                if let Some(reason) = already_at_target(engine, args.to)? {
                    return Ok(Some(report_nothing_to_do(&reason, json)));
                }
                let undo = engine.rollback_preview(target)?;
                let installed = hubup::detect(&engine.config().install.root)
                    .map(|found| found.version)
                    .unwrap_or(target);
                let steps: Vec<String> = undo.iter().map(|(step, _)| step.to_string()).collect();
                let summary = format!(
                    "Rollback to {target}: undo {} step(s), newest first: {}.\n{}",
                    steps.len(),
                    steps.join(", "),
                    ops_summary(undo.iter().flat_map(|(_, ops)| ops)).trim_end()
                );
                Ok((!confirmed(&summary)).then(|| report_declined(installed, json)))
            },
        )?;
        if let Some(exit) = asked {
            return Ok(exit);
        }
    }
    with_engine(
        &args.common,
        "rollback",
        Phase::Change,
        Some(&args.commands),
        |engine| {
            let journal_path = engine.journal().path().display().to_string();
            let json = args.common.json;
            if let Some(reason) = already_at_target(engine, args.to)? {
                return Ok(report_nothing_to_do(&reason, json));
            }
            or_nothing_to_do(engine.rollback(args.to), json, |end| {
                report_end(&end, json, &journal_path, &config_hint, None, &[])
            })
        },
    )
}

/// The answer of a command that changes the install when there is no journal yet, before
/// the journal and its log are created (a refusal or "nothing to do" leaves the machine as it
/// was, without an empty journal): with no journal there is no run of hubup's, so nothing to
/// resume or roll back, and an install newer than the target cannot go back by hubup at all.
/// `None` to go on.
fn answer_without_journal(
    common: &CommonArgs,
    command: &str,
    to: Option<Version>,
) -> Result<Option<Exit>, Failure> {
    let config = load_config(&common.config)?;
    if config.journal_path().exists() {
        return Ok(None);
    }
    super::access::guard(&config, command, true, true)?;
    // Another hubup changing the install is the answer first, whatever its journal.
    hubup::refuse_if_held(&config.install.root)?;
    let installed = hubup::detect(&config.install.root)
        .ok()
        .map(|found| found.version);
    let json = common.json;
    let nothing = |reason: String| Ok(Some(report_nothing_to_do(&reason, json)));
    match (command, to) {
        ("resume", _) | ("rollback", None) => nothing(format!(
            "there is no unfinished run to {} (hubup has no journal here yet: {})",
            if command == "resume" {
                "resume"
            } else {
                "roll back"
            },
            config.journal_path().display()
        )),
        ("upgrade" | "rollback", Some(target)) if installed == Some(target) => {
            nothing(format!("the install is already at {target}"))
        }
        ("upgrade", Some(target)) => match installed {
            Some(installed) if installed > target => Err(downgrade_refusal(
                installed,
                target,
                Err("hubup has no journal here, so no run of its own to undo".into()),
                &config_hint(common),
            )),
            _ => Ok(None),
        },
        ("rollback", Some(target)) => {
            Err(Failure::of(Cause::Engine(EngineError::RollbackTarget {
                target,
                reason: format!(
                    "hubup has no journal here ({}), so no run of its own to undo; nothing \
                     was changed. To return to {target}, restore the backup made before the \
                     upgrade, or reinstall {target} with the vendor's installer",
                    config.journal_path().display()
                ),
            })))
        }
        _ => Ok(None),
    }
}

/// Refuses `upgrade --to` an older version than the install's, naming the way back that
/// exists.
fn refuse_downgrade(engine: &Engine<'_>, target: Version, hint: &str) -> Result<(), Failure> {
    let Ok(found) = hubup::detect(&engine.config().install.root) else {
        return Ok(());
    };
    if found.version <= target {
        return Ok(());
    }
    let reach = engine.rollback_reaches(target).map_err(|e| match e {
        EngineError::RollbackTarget { reason, .. } => {
            reason.trim_end_matches("; nothing was changed").to_string()
        }
        other => other.to_string(),
    });
    Err(downgrade_refusal(found.version, target, reach, hint))
}

/// hubup has no downgrade: `rollback --to` undoes its own steps when the journal's runs reach
/// the target (`reach`), and otherwise the way back is the backup or the vendor's installer.
fn downgrade_refusal(
    installed: Version,
    target: Version,
    reach: Result<(), String>,
    hint: &str,
) -> Failure {
    let way = match reach {
        Ok(()) => {
            format!("to go back, `hubup rollback --to {target}{hint}` undoes hubup's own steps")
        }
        Err(why) => format!(
            "`hubup rollback --to {target}` cannot go back either ({why}); to return to \
             {target}, restore the backup made before the upgrade, or reinstall {target} with \
             the vendor's installer"
        ),
    };
    Failure::of(Cause::Argument(format!(
        "the install is at {installed}, which is newer than the requested {target}; hubup only \
         upgrades, and nothing was changed: {way}"
    )))
}

/// The request of a saved plan, if everything it was made from is unchanged (otherwise
/// refused, nothing changed).
fn saved_request(
    engine: &Engine<'_>,
    config_file: &std::path::Path,
    path: &std::path::Path,
    plan: &super::saved_plan::SavedPlan,
    to: Option<Version>,
) -> Result<UpgradeRequest, Failure> {
    let refuse = |problem: String| {
        Failure::of(Cause::Argument(format!(
            "refusing the plan {}: {problem}; nothing was changed. Make a new one with \
             `hubup plan --to {} --out {}`",
            path.display(),
            plan.to,
            path.display()
        )))
    };
    if let Some(to) = to.filter(|to| *to != plan.to) {
        return Err(refuse(format!("it goes to {}, not {to}", plan.to)));
    }
    let now = super::saved_plan::inputs_now(config_file, engine.config(), plan.from, plan.to)?;
    let installed = hubup::detect(&engine.config().install.root).map(|found| found.version);
    if installed.as_ref().ok() != Some(&plan.from) {
        return Err(refuse(format!(
            "it starts at {}, and the install is not at {} now",
            plan.from, plan.from
        )));
    }
    let changed = super::saved_plan::differences(&plan.inputs, &now);
    if !changed.is_empty() {
        return Err(refuse(format!("since it was made, {}", changed.join(", "))));
    }
    let backups = match &plan.backup_databases {
        Some(folder) => Some(DatabaseBackups::new(folder, hubup::now_ms())?),
        None => None,
    };
    Ok(UpgradeRequest {
        to: plan.to,
        local_changes: plan.policy()?,
        backups,
        enable_quorum_queue: plan.enable_quorum_queue,
    })
}

/// `rollback --to` the version the install is at, with no run unfinished: nothing to undo.
fn already_at_target(engine: &Engine<'_>, to: Option<Version>) -> Result<Option<String>, Failure> {
    let Some(target) = to else {
        return Ok(None);
    };
    if engine.journal().unfinished_run()?.is_some() {
        return Ok(None);
    }
    Ok(match hubup::detect(&engine.config().install.root) {
        Ok(found) if found.version == target => Some(format!("the install is already at {target}")),
        _ => None,
    })
}

fn config_hint(common: &CommonArgs) -> String {
    match &common.config {
        Some(path) => format!(" --config {}", path.display()),
        None => String::new(),
    }
}

/// Prints how a run ended and returns its exit code.
/// `broker`: the server the message broker runs on when it is not this machine (a completed
/// run that went past 4.1 reminds the administrator to restart it there).
/// How `upgrade` and `resume` end: the run's end (with the broker reminder and the
/// checklist of a completed run), "nothing to do", or the failure.
fn finish_run(
    engine: &Engine<'_>,
    end: Result<RunEnd, EngineError>,
    json: bool,
    config_hint: &str,
) -> CommandResult {
    let journal_path = engine.journal().path().display().to_string();
    let broker = engine.config().rabbitmq.remote_host();
    let checklist = end
        .as_ref()
        .map(|end| checklist(engine, end))
        .unwrap_or_default();
    or_nothing_to_do(end, json, |end| {
        report_end(&end, json, &journal_path, config_hint, broker, &checklist)
    })
}

/// What the guide leaves to the administrator after `end`, a run that completed (its run's
/// versions from the journal, the config's view): nothing for any other end.
fn checklist(engine: &Engine<'_>, end: &RunEnd) -> Vec<String> {
    let RunEnd::Completed { .. } = end else {
        return Vec::new();
    };
    match engine.journal().last_run() {
        Ok(Some(run)) => {
            hubup::end_of_run_checklist(run.from, run.to, &engine.config().journal_view())
        }
        _ => Vec::new(),
    }
}

fn report_end(
    end: &RunEnd,
    json: bool,
    journal: &str,
    config_hint: &str,
    broker: Option<String>,
    checklist: &[String],
) -> Exit {
    let code = super::exit::code(Outcome::Run(end));
    let (text, value) = match end {
        RunEnd::Completed { run, version } => {
            let mut text = format!("upgraded to {version} (run {run}); journal: {journal}");
            let mut value = json!({ "outcome": "completed", "ok": true, "changed": true,
                    "run": run.to_string(), "version": version });
            if let Some(server) = broker.filter(|_| *version > Version::V4_1) {
                let reminder = hubup::broker_reminder(&server);
                text.push_str(&format!("\n  reminder: {reminder}"));
                value["reminder"] = json!(reminder);
            }
            if !checklist.is_empty() {
                text.push_str("\n  still to do (the guide):");
                for item in checklist {
                    text.push_str(&format!("\n  - {item}"));
                }
                value["checklist"] = json!(checklist);
            }
            (text, value)
        }
        RunEnd::RolledBack {
            run,
            version,
            step,
            error,
        } => (
            format!(
                "step {step} failed and was rolled back; the install is at {version} \
                 (earlier steps stay committed).\n  cause: {error}\n  journal: {journal} (run {run}): \
                 `hubup journal show --run {run}{config_hint}`"
            ),
            json!({ "outcome": "rolled_back", "ok": false, "changed": true,
                    "run": run.to_string(), "version": version,
                    "failed_step": step.to_string(), "error": error }),
        ),
        RunEnd::RolledBackOnRequest { run, version } => (
            format!("rolled back to {version} (run {run}); journal: {journal}"),
            json!({ "outcome": "rolled_back_on_request", "ok": true, "changed": true,
                    "run": run.to_string(), "version": version }),
        ),
        RunEnd::AwaitingDba { run, step, script } => (
            format!(
                "step {step} is waiting for its database work (sql.mode = \"script\"): its files \
                 are in place and its sites are not started yet.\n  give {} (run {run}, step \
                 {step}) to your DBA, to run with `sqlcmd -b -i`,\n  then run `hubup \
                 resume{config_hint}`: it checks, reading only, that the work is done, starts the \
                 sites and goes on.",
                script.display()
            ),
            json!({ "outcome": "awaiting_dba", "run": run.to_string(),
                    "step": step.to_string(), "script": script.display().to_string() }),
        ),
        RunEnd::Cancelled { run, step } => (
            format!(
                "cancelled at a safe point{} (run {run}). Next, either:\n  hubup resume{config_hint}     \
                 (finish the upgrade)\n  hubup rollback{config_hint}   (undo the interrupted step)",
                step.map(|s| format!(" during step {s}"))
                    .unwrap_or_default()
            ),
            json!({ "outcome": "cancelled", "ok": false, "changed": true, "run": run.to_string(),
                    "step": step.map(|s| s.to_string()) }),
        ),
        RunEnd::CancelledBeforeStart { version } => (
            format!(
                "cancelled before the first change: nothing was changed and nothing is pending \
                 (the install is at {version})"
            ),
            json!({ "outcome": "cancelled_before_start", "ok": false, "changed": false,
                    "version": version }),
        ),
    };
    let mut value = value;
    value["message"] = json!(text);
    let (text, value) = match super::log::path() {
        Some(log) => {
            let mut value = value;
            value["log"] = json!(log.display().to_string());
            (format!("{text}\n  log: {}", log.display()), value)
        }
        None => (text, value),
    };
    if code == Exit::Ok {
        tracing::info!("{text}");
    } else {
        tracing::warn!("{text}");
    }
    if json {
        outln!("{value}");
    } else if code == Exit::Ok {
        outln!("{text}");
    } else {
        errln!("hubup: {text}");
    }
    code
}

fn plan_text(prepared: &PreparedRun) -> String {
    let mut out = format!(
        "Plan: {} -> {} in {} step(s). Nothing has been changed.\n",
        prepared.from,
        prepared.to,
        prepared.steps.len()
    );
    out.push_str(&plan_summary(prepared));
    for planned in &prepared.steps {
        let plan = &planned.plan;
        out.push_str(&format!(
            "\nStep {} ({} ops, writes {} KiB, package {}):\n",
            plan.step,
            plan.ops.len(),
            plan.bytes_to_write / 1024,
            planned.package.digest().short()
        ));
        for (i, op) in plan.ops.iter().enumerate() {
            out.push_str(&format!("  {i:>5}  {}\n", op.describe()));
        }
        for change in &plan.local_changes {
            out.push_str(&format!("  local change: {change}\n"));
        }
        for note in &plan.notes {
            out.push_str(&format!("  note: {note}\n"));
        }
        if !plan.extra_files.is_empty() {
            out.push_str(&format!(
                "  {} file(s) in product folders belong to no version; they are left alone\n",
                plan.extra_files.len()
            ));
        }
    }
    out
}

/// The plan's totals by op kind, over every step ("Summary: 1200 ops: 800 replace_file, ...").
fn plan_summary(prepared: &PreparedRun) -> String {
    ops_summary(prepared.steps.iter().flat_map(|planned| &planned.plan.ops))
}

/// Totals by op kind, most first ("Summary: 1200 ops: 800 replace_file, ...").
fn ops_summary<'a>(ops: impl IntoIterator<Item = &'a Op>) -> String {
    let mut totals: std::collections::BTreeMap<String, usize> = Default::default();
    for op in ops {
        *totals.entry(op.kind().to_string()).or_default() += 1;
    }
    let all: usize = totals.values().sum();
    let mut by_count: Vec<(String, usize)> = totals.into_iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let kinds: Vec<String> = by_count.iter().map(|(k, n)| format!("{n} {k}")).collect();
    format!("Summary: {all} ops: {}\n", kinds.join(", "))
}

fn plan_json(prepared: &PreparedRun) -> serde_json::Value {
    let steps: Vec<serde_json::Value> = prepared
        .steps
        .iter()
        .map(|planned| {
            let plan = &planned.plan;
            let ops: Vec<serde_json::Value> = plan
                .ops
                .iter()
                .enumerate()
                .map(|(i, op)| op_json(i, op))
                .collect();
            json!({
                "step": plan.step.to_string(),
                "package": planned.package.digest(),
                "bytes_to_write": plan.bytes_to_write,
                "ops": ops,
                "local_changes": plan.local_changes.iter().map(|c| c.to_string()).collect::<Vec<_>>(),
                "notes": plan.notes,
                "plugins": plan.plugins,
                "extra_files": plan.extra_files.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "from": prepared.from, "to": prepared.to, "steps": steps })
}

fn op_json(index: usize, op: &Op) -> serde_json::Value {
    json!({
        "index": index,
        "kind": op.kind(),
        "description": op.describe(),
        "op": serde_json::to_value(op).unwrap_or(serde_json::Value::Null),
    })
}

fn report_text(report: &PrerequisiteReport) -> String {
    let mut out = String::new();
    for f in &report.findings {
        let mark = match f.verdict {
            Verdict::Failed => "FAIL",
            Verdict::Warning => "warn",
            Verdict::Ok => " ok ",
        };
        out.push_str(&format!("[{mark}] {}: {}\n", f.what, f.detail));
    }
    out.push_str(if report.all_ok() {
        "All prerequisites are met.\n"
    } else {
        "Some prerequisites are not met; `hubup upgrade` would refuse to start.\n"
    });
    out
}

#[derive(Args, Debug)]
pub(crate) struct SqlScriptArgs {
    /// The version to upgrade to (4.1 ... 4.5).
    #[arg(long, value_name = "VERSION")]
    pub to: Version,
    /// Write the script here instead of to standard output (`-`: standard output).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub backup: BackupArgs,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `hubup sql-script`: the whole chain's database work as T-SQL for a DBA. Changes nothing.
pub(crate) fn sql_script(args: SqlScriptArgs) -> CommandResult {
    with_engine(&args.common, "sql-script", Phase::Read, None, |engine| {
        let request = UpgradeRequest {
            to: args.to,
            local_changes: LocalChangePolicy::Keep,
            backups: args.backup.backups(engine.config())?,
            enable_quorum_queue: false,
        };
        let prepared = engine.prepare(&request)?;
        let steps: Vec<(hubup::Step, Vec<hubup::SqlOp>)> = prepared
            .steps
            .iter()
            .map(|planned| {
                let ops = planned
                    .plan
                    .ops
                    .iter()
                    .filter_map(|op| match op {
                        Op::Sql(sql) => Some(sql.clone()),
                        _ => None,
                    })
                    .collect();
                (planned.plan.step, ops)
            })
            .collect();
        let script = hubup::render_script(&machine_identity(engine.journal()), &steps);
        let to_file = args.out.as_ref().filter(|path| path.as_os_str() != "-");
        if let Some(path) = to_file {
            std::fs::write(path, &script)
                .map_err(|e| Cause::Output(format!("cannot write {}: {e}", path.display())))?;
        }
        match (args.common.json, to_file) {
            (true, Some(path)) => outln!(
                "{}",
                json!({ "ok": true, "changed": false, "written": path.display().to_string() })
            ),
            (true, None) => {
                outln!(
                    "{}",
                    json!({ "ok": true, "changed": false, "script": script })
                )
            }
            (false, Some(path)) => outln!("wrote {}", path.display()),
            (false, None) => out!("{script}"),
        }
        Ok(Exit::Ok)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctrl_c_during_a_rollback_says_it_finishes_instead_of_promising_a_stop() {
        ROLLING_BACK.store(false, Ordering::SeqCst);
        assert!(ctrl_c_message(false).contains("stopping at the next safe point"));
        ROLLING_BACK.store(true, Ordering::SeqCst);
        let text = ctrl_c_message(false);
        assert!(text.contains("never stopped halfway"), "{text}");
        assert!(text.contains("finishes undoing"), "{text}");
        assert!(!text.contains("stopping at the next safe point"), "{text}");
        ROLLING_BACK.store(false, Ordering::SeqCst);
    }
}
