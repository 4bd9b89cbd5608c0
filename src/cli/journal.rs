//! The `hubup journal` commands: verify, show and export the journal.

use std::io::{self, Write};
use std::path::PathBuf;

use clap::{Args, Subcommand};
use hubup::{
    Entry, Journal, PlanIndex, RunId, default_journal_path, export_json, journal_path_from_config,
    show_line,
};

use super::{Cause, CommandResult, Exit, Failure};

#[derive(Subcommand, Debug)]
pub(crate) enum JournalCommand {
    /// Recompute the hash chain and check the recorded head. Exits 0 with a one-line summary,
    /// or 5 naming the first bad entry and what is wrong with it.
    Verify(Location),
    /// Print the journal for people: one line per entry (sequence number, UTC time, run, kind,
    /// key facts).
    Show {
        #[command(flatten)]
        location: Location,
        #[command(flatten)]
        filter: Filter,
    },
    /// Print the journal for machines: one JSON object per line (schema in README.md).
    Export {
        #[command(flatten)]
        location: Location,
        #[command(flatten)]
        filter: Filter,
        /// Write JSON lines (the only format so far; required so that others can be added).
        #[arg(long, required = true)]
        json: bool,
    },
}

/// Where the journal is. Without either flag: the default path of this OS.
#[derive(Args, Debug)]
pub(crate) struct Location {
    /// The journal file [default: /var/lib/hubup/journal.redb, on Windows
    /// %ProgramData%\hubup\journal.redb]
    #[arg(long, value_name = "FILE", conflicts_with = "config")]
    journal: Option<PathBuf>,
    /// Take the journal's path from this config file (`[journal] path`; a relative path is
    /// relative to the config file's folder). Without either flag, `HUBUP_CONFIG` names it.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub(crate) struct Filter {
    /// Only this run's entries: its id or a unique prefix of it (`show` prints the first 8
    /// characters).
    #[arg(long, value_name = "ID")]
    run: Option<String>,
    /// Only the last N entries (after --run).
    #[arg(long, value_name = "N")]
    tail: Option<usize>,
}

pub(crate) fn run(command: JournalCommand) -> CommandResult {
    match command {
        JournalCommand::Verify(location) => verify(location),
        JournalCommand::Show { location, filter } => print_entries(location, filter, Format::Text),
        JournalCommand::Export {
            location, filter, ..
        } => print_entries(location, filter, Format::Json),
    }
}

fn verify(location: Location) -> CommandResult {
    let journal = open(location)?;
    let report = journal.verify()?;
    let head = match report.head {
        Some(head) => format!("head {} {}", head.seq, head.hash),
        None => "empty".to_string(),
    };
    print_lines([format!(
        "journal {} ok: {}, {}, {head}",
        journal.path().display(),
        count(report.entries, "entry", "entries"),
        count(report.runs, "run", "runs")
    )])
}

fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

enum Format {
    Text,
    Json,
}

fn print_entries(location: Location, filter: Filter, format: Format) -> CommandResult {
    let journal = open(location)?;
    let entries = journal.entries()?;
    let selected = select(&entries, &filter)?;
    match format {
        Format::Text => {
            let plans = PlanIndex::new(&entries);
            print_lines(selected.iter().map(|entry| show_line(entry, &plans)))
        }
        Format::Json => print_lines(selected.iter().map(|entry| export_json(entry).to_string())),
    }
}

/// The entries `--run` and `--tail` select, in journal order.
fn select<'a>(entries: &'a [Entry], filter: &Filter) -> Result<Vec<&'a Entry>, Failure> {
    let run = match &filter.run {
        Some(prefix) => Some(resolve_run(entries, prefix)?),
        None => None,
    };
    let mut selected: Vec<&Entry> = entries
        .iter()
        .filter(|entry| run.is_none_or(|run| entry.run == run))
        .collect();
    if let Some(tail) = filter.tail {
        let skip = selected.len().saturating_sub(tail);
        selected.drain(..skip);
    }
    Ok(selected)
}

/// The one run whose id starts with `prefix`.
pub(crate) fn resolve_run(entries: &[Entry], prefix: &str) -> Result<RunId, Failure> {
    let bad = |message: String| Failure::of(Cause::Argument(message));
    if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_hexdigit()) || prefix.len() > 32 {
        return Err(bad(format!(
            "--run {prefix:?} is not a run id: expected up to 32 hex characters"
        )));
    }
    let mut runs: Vec<RunId> = entries.iter().map(|e| e.run).collect();
    runs.sort();
    runs.dedup();
    let matching: Vec<RunId> = runs
        .iter()
        .copied()
        .filter(|run| run.matches_prefix(prefix))
        .collect();
    match matching.as_slice() {
        [run] => Ok(*run),
        [] => Err(bad(format!(
            "no run in the journal has an id starting with {prefix}; its runs are: {}",
            list_runs(&runs)
        ))),
        several => Err(bad(format!(
            "--run {prefix} matches {} runs ({}): give more characters",
            several.len(),
            list_runs(several)
        ))),
    }
}

fn list_runs(runs: &[RunId]) -> String {
    if runs.is_empty() {
        return "none".to_string();
    }
    runs.iter()
        .map(RunId::to_hex)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Writes lines to stdout; a closed pipe (`| head`) ends the output quietly.
pub(crate) fn print_lines(lines: impl IntoIterator<Item = String>) -> CommandResult {
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let written = lines
        .into_iter()
        .try_for_each(|line| writeln!(out, "{line}"))
        .and_then(|()| out.flush());
    match written {
        Ok(()) => Ok(Exit::Ok),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(Exit::Ok),
        Err(e) => Err(Cause::Output(format!("cannot write to standard output: {e}")).into()),
    }
}

/// Opens the journal `location` names, read-only (every `journal` command and `report`).
pub(crate) fn open(location: Location) -> Result<Journal, Failure> {
    let path = match (location.journal, location.config) {
        (Some(path), _) => path,
        (None, Some(config)) => journal_path_from_config(&config)?,
        // Like every other command: HUBUP_CONFIG names the config when no flag does (read
        // here, not by clap, so that `--journal` still wins over the variable).
        (None, None) => match std::env::var_os("HUBUP_CONFIG").filter(|v| !v.is_empty()) {
            Some(config) => journal_path_from_config(std::path::Path::new(&config))?,
            None => default_journal_path(),
        },
    };
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), PathBuf::from);
    super::access::warn_about(&[("journal", path.clone()), ("journal folder", folder)]);
    Ok(Journal::open_read_only(&path)?)
}
