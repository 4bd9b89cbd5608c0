//! The commands that plan and change an install: `plan`, `check`, `upgrade`, `resume`,
//! `rollback`, `sql-script`. They share one set-up (config, journal, SQL adapter); their exit
//! codes come from `exit.rs`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use clap::Args;
use hubup::{
    Config, DatabaseBackups, Engine, Event, Faults, InstallLock, Journal, LocalChangePolicy, Op,
    PreparedRun, PrerequisiteReport, RunEnd, SqlError, SqlTarget, UpgradeRequest, Verdict, Version,
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
/// Without `create` and without a journal on disk, a scratch journal in a temp folder stands in
/// (planning and checking write nothing to the machine).
fn open_journal(
    config: &Config,
    create: bool,
) -> Result<(Journal, Option<tempfile::TempDir>), Failure> {
    let path = config.journal_path();
    let (mut journal, scratch) = if create || path.exists() {
        (Journal::create(&path)?, None)
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

/// Runs `body` with an engine set up from the config. `command` names the log file of
/// commands that change the install (`changes`); `journaled` is given by the commands that run
/// journaled command lines (`resume`, `rollback`).
fn with_engine<T>(
    common: &CommonArgs,
    command: &str,
    changes: bool,
    journaled: Option<&JournaledCommandArgs>,
    body: impl FnOnce(&mut Engine<'_>) -> Result<T, Failure>,
) -> Result<T, Failure> {
    let config = load_config(&common.config)?;
    // Before anything is created or run: only administrators may steer hubup.
    super::access::guard(&config, command, changes, command == "check")?;
    let faults = Faults::from_env().map_err(Cause::Faults)?;
    hubup::check_flush_setting().map_err(Cause::Argument)?;
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
    super::log::start(&config.journal_path(), command, changes);
    if changes {
        config.sql.password().map_err(SqlError::from)?;
    }
    let (mut journal, _scratch) = open_journal(&config, changes)?;
    if changes {
        journal.refuse_if_copied()?;
    }
    let identity = machine_identity(&journal);
    let mut sql: Box<dyn SqlTarget> =
        hubup::sql_target(&config.sql, &config.output_dir(), &identity)?;
    let json = common.json;
    let events = move |event: Event| {
        let (text, warning) = event_text(&event);
        if warning {
            tracing::warn!("{text}");
        } else {
            tracing::info!("{text}");
        }
        if !json {
            eprintln!("{text}");
        }
    };
    let _ = ctrlc::set_handler(|| {
        if CANCEL.swap(true, Ordering::SeqCst) {
            eprintln!(
                "hubup: stopping at the next safe point (press Ctrl-C again has no further effect)"
            );
        } else {
            eprintln!("hubup: Ctrl-C: stopping at the next safe point...");
        }
    });
    let mut engine = Engine::new(&config, &mut journal, sql.as_mut())
        .with_cancel(&CANCEL)
        .with_progress(!json && std::io::stderr().is_terminal())
        .with_events(events)
        .with_faults(faults)
        .with_accept_changed_commands(journaled.is_some_and(|j| j.accept_changed_commands));
    if let Some(lock) = &lock {
        engine = engine.with_install_lock(lock);
    }
    body(&mut engine)
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
        Event::Warning { text } => (format!("warning: {text}"), true),
    }
}

pub(crate) fn plan(args: PlanArgs) -> CommandResult {
    with_engine(&args.common, "plan", false, None, |engine| {
        let request = UpgradeRequest {
            to: args.to,
            local_changes: args.local.policy(),
            backups: args.backup.backups(engine.config())?,
        };
        let prepared = engine.prepare(&request)?;
        if args.common.json {
            println!("{}", plan_json(&prepared));
        } else {
            print!("{}", plan_text(&prepared));
        }
        Ok(Exit::Ok)
    })
}

pub(crate) fn check(args: PlanArgs) -> CommandResult {
    with_engine(&args.common, "check", false, None, |engine| {
        let request = UpgradeRequest {
            to: args.to,
            local_changes: args.local.policy(),
            backups: args.backup.backups(engine.config())?,
        };
        let prepared = engine.prepare(&request)?;
        let report = engine.check_prerequisites(&prepared);
        if args.common.json {
            println!(
                "{}",
                json!({ "from": prepared.from, "to": prepared.to, "ok": report.all_ok(), "findings": report.findings })
            );
        } else {
            print!("{}", report_text(&report));
        }
        Ok(super::exit::code(Outcome::Checked(&report)))
    })
}

pub(crate) fn upgrade(args: PlanArgs) -> CommandResult {
    let config_hint = config_hint(&args.common);
    with_engine(&args.common, "upgrade", true, None, |engine| {
        let request = UpgradeRequest {
            to: args.to,
            local_changes: args.local.policy(),
            backups: args.backup.backups(engine.config())?,
        };
        let journal_path = engine.journal().path().display().to_string();
        let end = engine.upgrade(&request)?;
        Ok(report_end(
            &end,
            args.common.json,
            &journal_path,
            &config_hint,
        ))
    })
}

pub(crate) fn resume(args: ResumeArgs) -> CommandResult {
    let config_hint = config_hint(&args.common);
    with_engine(
        &args.common,
        "resume",
        true,
        Some(&args.commands),
        |engine| {
            let journal_path = engine.journal().path().display().to_string();
            let dba = if args.dba_confirmed {
                hubup::DbaWork::Confirmed
            } else {
                hubup::DbaWork::Check
            };
            let end = engine.resume(args.local.policy(), dba)?;
            Ok(report_end(
                &end,
                args.common.json,
                &journal_path,
                &config_hint,
            ))
        },
    )
}

pub(crate) fn rollback(args: RollbackArgs) -> CommandResult {
    let config_hint = config_hint(&args.common);
    with_engine(
        &args.common,
        "rollback",
        true,
        Some(&args.commands),
        |engine| {
            let journal_path = engine.journal().path().display().to_string();
            let end = engine.rollback(args.to)?;
            Ok(report_end(
                &end,
                args.common.json,
                &journal_path,
                &config_hint,
            ))
        },
    )
}

fn config_hint(common: &CommonArgs) -> String {
    match &common.config {
        Some(path) => format!(" --config {}", path.display()),
        None => String::new(),
    }
}

/// Prints how a run ended and returns its exit code.
fn report_end(end: &RunEnd, json: bool, journal: &str, config_hint: &str) -> Exit {
    let code = super::exit::code(Outcome::Run(end));
    let (text, value) = match end {
        RunEnd::Completed { run, version } => (
            format!("upgraded to {version} (run {run}); journal: {journal}"),
            json!({ "outcome": "completed", "run": run.to_string(), "version": version }),
        ),
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
            json!({ "outcome": "rolled_back", "run": run.to_string(), "version": version,
                    "failed_step": step.to_string(), "error": error }),
        ),
        RunEnd::RolledBackOnRequest { run, version } => (
            format!("rolled back to {version} (run {run}); journal: {journal}"),
            json!({ "outcome": "rolled_back_on_request", "run": run.to_string(), "version": version }),
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
            json!({ "outcome": "cancelled", "run": run.to_string(),
                    "step": step.map(|s| s.to_string()) }),
        ),
    };
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
        println!("{value}");
    } else if code == Exit::Ok {
        println!("{text}");
    } else {
        eprintln!("hubup: {text}");
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
    /// Write the script here instead of to standard output.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub backup: BackupArgs,
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `hubup sql-script`: the whole chain's database work as T-SQL for a DBA. Changes nothing.
pub(crate) fn sql_script(args: SqlScriptArgs) -> CommandResult {
    with_engine(&args.common, "sql-script", false, None, |engine| {
        let request = UpgradeRequest {
            to: args.to,
            local_changes: LocalChangePolicy::Keep,
            backups: args.backup.backups(engine.config())?,
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
        match &args.out {
            Some(path) => {
                std::fs::write(path, script)
                    .map_err(|e| Cause::Output(format!("cannot write {}: {e}", path.display())))?;
                println!("wrote {}", path.display());
            }
            None => print!("{script}"),
        }
        Ok(Exit::Ok)
    })
}
