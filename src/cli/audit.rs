//! `hubup audit diff A B`: what differs between two machines, from their receipts
//! (`hubup report --json`) or journal exports (`hubup journal export --json`), as text or one
//! JSON object. Exit 0 when they agree, 8 when they differ, 2 for an input that is neither
//! (`exit.rs`). Reads the two files only.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use hubup::{MachineState, SetDiff, StateDiff, ValueDiff, read_receipts};
use serde_json::json;

use super::exit::Outcome;
use super::journal::print_lines;
use super::{CommandResult, Failure};

#[derive(Subcommand, Debug)]
pub(crate) enum AuditCommand {
    /// List what differs between two machines: versions, file digests, sites, config and
    /// settings keys, grants. Exits 0 when nothing does, 8 when something does.
    Diff(DiffArgs),
}

#[derive(Args, Debug)]
pub(crate) struct DiffArgs {
    /// Machine A: a `hubup report --json` receipt or a `hubup journal export --json` file.
    a: PathBuf,
    /// Machine B: the same, from the other machine.
    b: PathBuf,
    /// Print one JSON object (`identical`, `a`, `b`, `diff`).
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(command: AuditCommand) -> CommandResult {
    match command {
        AuditCommand::Diff(args) => diff(args),
    }
}

fn diff(args: DiffArgs) -> CommandResult {
    let a = state_of(&args.a)?;
    let b = state_of(&args.b)?;
    let diff = a.diff(&b);
    let identical = diff.is_empty();
    let lines = if args.json {
        vec![
            json!({
                "identical": identical,
                "a": side_json(&args.a, &a),
                "b": side_json(&args.b, &b),
                "diff": diff,
            })
            .to_string(),
        ]
    } else {
        text(&args, &a, &b, &diff)
    };
    print_lines(lines)?;
    Ok(super::exit::code(Outcome::Audited { identical }))
}

fn state_of(path: &Path) -> Result<MachineState, Failure> {
    Ok(MachineState::of(&read_receipts(path)?))
}

fn side_json(path: &Path, state: &MachineState) -> serde_json::Value {
    json!({
        "file": path.display().to_string(),
        "machine": state.machine,
        "version": state.version,
    })
}

fn side_text(name: &str, path: &Path, state: &MachineState) -> String {
    let machine = state.machine.as_ref().map_or_else(
        || "no run".to_string(),
        |m| {
            format!(
                "{}, id {}",
                m.name,
                m.id.as_deref().unwrap_or("not recorded")
            )
        },
    );
    format!(
        "{name}: {} ({machine}), version {}",
        path.display(),
        state.version
    )
}

fn text(args: &DiffArgs, a: &MachineState, b: &MachineState, diff: &StateDiff) -> Vec<String> {
    let mut lines = vec![side_text("A", &args.a, a), side_text("B", &args.b, b)];
    if let Some(version) = &diff.version {
        lines.push(format!("version: {}", values(version)));
    }
    section(&mut lines, "files", &diff.files);
    section(&mut lines, "sites", &diff.sites);
    section(&mut lines, "config", &diff.config);
    set_section(&mut lines, "settings keys", &diff.settings);
    set_section(&mut lines, "grants", &diff.grants);
    let count = usize::from(diff.version.is_some())
        + diff.files.len()
        + diff.sites.len()
        + diff.config.len()
        + [&diff.settings, &diff.grants]
            .iter()
            .map(|s| s.only_in_a.len() + s.only_in_b.len())
            .sum::<usize>();
    lines.push(if count == 0 {
        "identical: the receipts agree on everything compared".to_string()
    } else {
        format!("{count} difference(s)")
    });
    lines
}

/// `A vs B`, or which side alone has it.
fn values(diff: &ValueDiff) -> String {
    match (&diff.a, &diff.b) {
        (Some(a), Some(b)) => format!("{a} (A) vs {b} (B)"),
        (Some(a), None) => format!("only in A ({a})"),
        (None, Some(b)) => format!("only in B ({b})"),
        (None, None) => "absent from both".to_string(),
    }
}

fn section(lines: &mut Vec<String>, title: &str, diffs: &[ValueDiff]) {
    if diffs.is_empty() {
        return;
    }
    lines.push(format!("{title} ({}):", diffs.len()));
    lines.extend(diffs.iter().map(|d| format!("  {}: {}", d.key, values(d))));
}

fn set_section(lines: &mut Vec<String>, title: &str, diff: &SetDiff) {
    if diff.only_in_a.is_empty() && diff.only_in_b.is_empty() {
        return;
    }
    lines.push(format!(
        "{title} ({}):",
        diff.only_in_a.len() + diff.only_in_b.len()
    ));
    lines.extend(diff.only_in_a.iter().map(|x| format!("  only in A: {x}")));
    lines.extend(diff.only_in_b.iter().map(|x| format!("  only in B: {x}")));
}
