//! `hubup backups list` and `hubup backups prune`: the install's `backup_4.n` folders, which
//! run made each, and removing those of committed steps (journaled on their runs; the engine's
//! `exec/prune.rs` says how). `prune` first lists what it would remove, reading only, and asks
//! on a terminal (`--yes` in scripts, as `upgrade` does); with nothing to remove it creates
//! nothing.

use clap::{Args, Subcommand};
use serde_json::json;

use hubup::{BackupUse, Engine, PruneReport};

use super::package::human_bytes;
use super::run::{CommonArgs, Phase, confirmed, refuse_unless_terminal, with_engine};
use super::{CommandResult, Exit, Failure, Outcome};

#[derive(Subcommand, Debug)]
pub(crate) enum BackupsCommand {
    /// List the backup_4.n folders of the install: size, which run and step made each, and
    /// whether `prune` removes it. Changes nothing.
    List(BackupsArgs),
    /// Remove the backup folders of committed steps (the guide: remove the backups of previous
    /// upgrades before the next one). Journaled; afterwards the install cannot be rolled back
    /// past those steps. Refused while a run is unfinished.
    Prune(BackupsArgs),
}

#[derive(Args, Debug)]
pub(crate) struct BackupsArgs {
    #[command(flatten)]
    pub common: CommonArgs,
}

pub(crate) fn run(command: BackupsCommand) -> CommandResult {
    match command {
        BackupsCommand::List(args) => list(&args.common),
        BackupsCommand::Prune(args) => prune(&args.common),
    }
}

fn list(common: &CommonArgs) -> CommandResult {
    let uses = with_engine(common, "backups", Phase::Read, None, |engine| {
        engine.backup_uses().map_err(Failure::from)
    })?;
    if common.json {
        outln!("{}", json!({ "ok": true, "backups": uses_json(&uses) }));
    } else if uses.is_empty() {
        outln!("no backup folders in the install");
    } else {
        for usage in &uses {
            outln!("{}", use_line(usage));
        }
    }
    Ok(Exit::Ok)
}

fn prune(common: &CommonArgs) -> CommandResult {
    // Read first: with nothing to remove, nothing is created (no lock, journal or log).
    let uses = with_engine(common, "backups", Phase::Read, None, |engine| {
        engine.backup_uses().map_err(Failure::from)
    })?;
    let prunable: Vec<&BackupUse> = uses.iter().filter(|u| u.prunable).collect();
    if prunable.is_empty() {
        return nothing_to_prune(&uses, common.json);
    }
    if !super::global().yes {
        refuse_unless_terminal("remove backups")?;
        let mut summary = String::from(
            "Remove these backups? The install can then not be rolled back past their steps.\n",
        );
        for usage in &prunable {
            summary.push_str(&format!("  {}\n", use_line(usage)));
        }
        if !confirmed(summary.trim_end()) {
            errln!("hubup: cancelled, nothing removed");
            return Ok(Exit::CancelledBeforeStart);
        }
    }
    let report = with_engine(
        common,
        "prune",
        Phase::Change,
        None,
        |engine: &mut Engine| engine.prune_backups().map_err(Failure::from),
    )?;
    print_report(&report, common.json);
    Ok(Exit::Ok)
}

/// Nothing prunable: say why for each folder (exit 4 when an unfinished run keeps them, as
/// every command that meets one does).
fn nothing_to_prune(uses: &[BackupUse], json: bool) -> CommandResult {
    let unfinished = uses.iter().find_map(|u| {
        u.kept_because
            .as_deref()
            .filter(|r| r.contains("unfinished"))
    });
    if json {
        outln!(
            "{}",
            json!({ "ok": unfinished.is_none(), "removed": [], "kept": uses_json(uses) })
        );
    } else {
        for usage in uses {
            errln!("{}", use_line(usage));
        }
        errln!("hubup: nothing to prune");
    }
    Ok(if unfinished.is_some() {
        super::exit::code(Outcome::Status(super::exit::Pending::Unfinished))
    } else {
        Exit::Ok
    })
}

fn print_report(report: &PruneReport, json: bool) {
    if json {
        let removed: Vec<_> = report
            .removed
            .iter()
            .map(|(folder, step)| {
                json!({ "name": folder.name, "step": step.to_string(), "files": folder.files,
                        "bytes": folder.bytes })
            })
            .collect();
        outln!(
            "{}",
            json!({ "ok": true, "removed": removed, "kept": uses_json(&report.kept),
                    "bytes_freed": report.bytes_freed() })
        );
        return;
    }
    for (folder, step) in &report.removed {
        errln!(
            "removed {} (the backup of step {step}, {} files)",
            folder.name,
            folder.files
        );
    }
    for usage in &report.kept {
        errln!("{}", use_line(usage));
    }
    outln!(
        "removed {} backup folder(s), {} freed; journaled (`hubup journal show`)",
        report.removed.len(),
        human_bytes(report.bytes_freed())
    );
}

fn use_line(usage: &BackupUse) -> String {
    let made_by = match usage.made_by {
        Some((run, step)) => format!("step {step} of run {run}"),
        None => "not made by hubup".to_string(),
    };
    let verdict = match &usage.kept_because {
        None => "prune removes it".to_string(),
        Some(reason) => format!("kept: {reason}"),
    };
    format!(
        "{}  {} files, {}  {made_by}  {verdict}",
        usage.folder.name,
        usage.folder.files,
        human_bytes(usage.folder.bytes)
    )
}

fn uses_json(uses: &[BackupUse]) -> Vec<serde_json::Value> {
    uses.iter()
        .map(|u| {
            json!({
                "name": u.folder.name,
                "files": u.folder.files,
                "bytes": u.folder.bytes,
                "run": u.made_by.map(|(run, _)| run.to_hex()),
                "step": u.made_by.map(|(_, step)| step.to_string()),
                "prunable": u.prunable,
                "kept_because": u.kept_because,
            })
        })
        .collect()
}
