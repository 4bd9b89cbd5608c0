//! `hubup report`: one run's receipt (`hubup::RunReport`, built from the journal opened
//! read-only) as a self-contained HTML page (`--html FILE`, `-` for standard output: inline
//! CSS, no scripts, images or links to fetch, so it reads from a USB stick or an email), as one
//! JSON object (`--json`), or as a short text summary. Every value from the journal is
//! HTML-escaped: site names, paths and error texts are the administrator's, not markup.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::Args;
use hubup::{
    FileChange, FileChangeKind, Journal, MachineId, OpStatus, RunReport, RunResult, SqlChange,
    StepOutcome, StepReport,
};

use super::journal::{Location, open, print_lines, resolve_run};
use super::{Cause, CommandResult, Failure};

#[derive(Args, Debug)]
pub(crate) struct ReportArgs {
    #[command(flatten)]
    location: Location,
    /// The run: its id or a unique prefix of it [default: the last run].
    #[arg(long, value_name = "ID")]
    run: Option<String>,
    /// Write the receipt as one self-contained HTML page to FILE (`-`: standard output).
    #[arg(long, value_name = "FILE", conflicts_with = "json")]
    html: Option<PathBuf>,
    /// Print the receipt as one JSON object (schema in README.md, "Receipts and audits").
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: ReportArgs) -> CommandResult {
    let journal = open(args.location)?;
    let report = receipt(&journal, args.run.as_deref())?;
    match (&args.html, args.json) {
        (Some(path), _) if path.as_os_str() == "-" => print_lines([html(&report)]),
        (Some(path), _) => {
            std::fs::write(path, html(&report)).map_err(|e| {
                Cause::Output(format!(
                    "cannot write the receipt to {}: {e}",
                    path.display()
                ))
            })?;
            print_lines([format!(
                "receipt of run {} written to {}",
                report.run,
                path.display()
            )])
        }
        (None, true) => print_lines([json(&report)?]),
        (None, false) => print_lines(summary(&report)),
    }
}

/// The receipt of the run `--run` names, or of the last run.
fn receipt(journal: &Journal, run: Option<&str>) -> Result<RunReport, Failure> {
    let entries = journal.entries()?;
    let empty = || {
        Failure::of(Cause::Argument(format!(
            "the journal {} holds no run yet: there is nothing to report",
            journal.path().display()
        )))
    };
    let (Some(head), Some(last)) = (journal.head(), journal.last_run()?) else {
        return Err(empty());
    };
    let run = match run {
        Some(prefix) => resolve_run(&entries, prefix)?,
        None => last.run,
    };
    let path = journal.path().display().to_string();
    let machine_id = journal.machine_id().map(MachineId::to_hex);
    Ok(RunReport::build(&entries, run, head, &path, machine_id)?)
}

fn json(report: &RunReport) -> Result<String, Failure> {
    serde_json::to_string(report)
        .map_err(|e| Failure::of(Cause::Output(format!("cannot write the receipt: {e}"))))
}

fn outcome_text(report: &RunReport) -> String {
    match report.outcome {
        RunResult::Completed { version } => format!("completed at {version}"),
        RunResult::RolledBack { version } => format!("rolled back to {version}"),
        RunResult::Unfinished => "unfinished".to_string(),
    }
}

fn operator_text(report: &RunReport) -> &str {
    report
        .operator
        .as_deref()
        .unwrap_or("not recorded (the hubup of this run did not record it)")
}

/// How to check the receipt against the machine's journal.
fn verify_sentence(report: &RunReport) -> String {
    format!(
        "To check this receipt, run `hubup journal verify --journal {}` on the machine: it \
         recomputes every entry's hash and must end at head {} {} (or at a later head, if \
         entries were added since; then the line of entry {} in `hubup journal export --json` has this same \
         hash). Keep the head hash somewhere the machine's administrators cannot write: it \
         anchors every entry up to it.",
        report.journal.path,
        report.journal.head_seq,
        report.journal.head_hash,
        report.journal.head_seq,
    )
}

/// The text summary: who, what, when, and how to get the rest.
fn summary(report: &RunReport) -> Vec<String> {
    let ops: Vec<&hubup::OpReport> = report.steps.iter().flat_map(|s| &s.ops).collect();
    let count = |status| ops.iter().filter(|op| op.status == status).count();
    // A failed op is undone with its step: it counts as failed and as undone.
    let failed = ops.iter().filter(|op| op.error.is_some()).count();
    let committed = report
        .steps
        .iter()
        .filter(|s| s.outcome == StepOutcome::Committed)
        .count();
    let mut lines = vec![
        format!(
            "run {} on {} (machine id {}) by {}",
            report.run,
            report.machine.name,
            report.machine.id.as_deref().unwrap_or("not recorded"),
            operator_text(report)
        ),
        format!(
            "  {} -> {}: {}; started {}, ended {}",
            report.from,
            report.to,
            outcome_text(report),
            report.started,
            report.ended.as_deref().unwrap_or("-")
        ),
        format!(
            "  {} step(s), {committed} committed; {} op(s): {} done, {} failed, {} undone",
            report.steps.len(),
            ops.len(),
            count(OpStatus::Done),
            failed,
            count(OpStatus::Undone)
        ),
        format!(
            "  {} file change(s), {} database op(s), {} grant(s), {} settings file merge(s)",
            report.files.len(),
            report.databases.len(),
            report.grants.len(),
            report.settings.len()
        ),
        format!(
            "  journal {} head {} {}",
            report.journal.path, report.journal.head_seq, report.journal.head_hash
        ),
    ];
    if !report.checklist.is_empty() {
        lines.push("  still to do (the guide):".to_string());
        lines.extend(report.checklist.iter().map(|item| format!("  - {item}")));
    }
    lines.push("  the whole receipt: hubup report --html FILE (or --json)".to_string());
    lines
}

/// Text as HTML text or attribute value: `&`, `<`, `>`, `"` and `'` as entities.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Inline styles only: the page must render with nothing else at hand.
const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1150px;\
color:#1d1d1f;padding:0 1em}h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:2px solid \
#ddd;padding-bottom:.2em;margin-top:1.8em}h3{margin-bottom:.3em}table{border-collapse:collapse;\
width:100%;margin:.4em 0 1em}th,td{border:1px solid #ddd;padding:3px 7px;text-align:left;\
vertical-align:top}th{background:#f4f4f6}td.hash,code{font-family:ui-monospace,monospace;\
font-size:12px;word-break:break-all}.done,.committed,.completed{color:#0a6b2d;font-weight:600}\
.failed,.rolled_back{color:#a3000b;font-weight:600}.undone,.unfinished,.open,.started{color:\
#8a5a00;font-weight:600}.planned{color:#666}.facts th{width:14em}.note{background:#f7f7e8;\
border:1px solid #e2e2b8;padding:.6em 1em}";

/// The whole page.
fn html(report: &RunReport) -> String {
    let mut page = String::new();
    let title = format!(
        "hubup receipt: run {} on {}",
        report.run, report.machine.name
    );
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        esc(&title),
        esc(&title)
    );
    facts(&mut page, report);
    checklist(&mut page, report);
    overview(&mut page, report);
    proof(&mut page, report);
    for step in &report.steps {
        step_section(&mut page, step);
    }
    files(&mut page, &report.files);
    sql(&mut page, "Databases", &report.databases);
    sql(&mut page, "Grants", &report.grants);
    settings(&mut page, report);
    probes(&mut page, report);
    events(&mut page, report);
    config(&mut page, report);
    page.push_str("</body>\n</html>");
    page
}

/// `<tr><th>` header cells of a table.
fn head_row(page: &mut String, names: &[&str]) {
    page.push_str("<table>\n<tr>");
    for name in names {
        let _ = write!(page, "<th>{}</th>", esc(name));
    }
    page.push_str("</tr>\n");
}

/// One row; cells given as (class, text), the text escaped here.
fn row(page: &mut String, cells: &[(&str, &str)]) {
    page.push_str("<tr>");
    for (class, text) in cells {
        if class.is_empty() {
            let _ = write!(page, "<td>{}</td>", esc(text));
        } else {
            let _ = write!(page, "<td class=\"{class}\">{}</td>", esc(text));
        }
    }
    page.push_str("</tr>\n");
}

fn facts(page: &mut String, report: &RunReport) {
    let ended = report.ended.as_deref().unwrap_or("not ended");
    let id = report.machine.id.as_deref().unwrap_or("not recorded");
    let outcome = outcome_text(report);
    let rows: [(&str, &str, &str); 11] = [
        ("Run", "hash", &report.run.to_hex()),
        ("Machine", "", &report.machine.name),
        ("Machine id", "hash", id),
        ("Run by", "", operator_text(report)),
        ("Started (UTC)", "", &report.started),
        ("Ended (UTC)", "", ended),
        ("From version", "", &report.from.to_string()),
        ("To version", "", &report.to.to_string()),
        ("Outcome", outcome_class(report), &outcome),
        ("hubup", "", &report.hubup_version),
        ("Install root", "", &report.install_root),
    ];
    page.push_str("<table class=\"facts\">\n");
    for (name, class, value) in rows {
        let _ = write!(page, "<tr><th>{}</th>", esc(name));
        row_cells(page, class, value);
    }
    page.push_str("</table>\n");
}

fn row_cells(page: &mut String, class: &str, value: &str) {
    if class.is_empty() {
        let _ = writeln!(page, "<td>{}</td></tr>", esc(value));
    } else {
        let _ = writeln!(page, "<td class=\"{class}\">{}</td></tr>", esc(value));
    }
}

fn outcome_class(report: &RunReport) -> &'static str {
    match report.outcome {
        RunResult::Completed { .. } => "completed",
        RunResult::RolledBack { .. } => "rolled_back",
        RunResult::Unfinished => "unfinished",
    }
}

fn proof(page: &mut String, report: &RunReport) {
    let j = &report.journal;
    page.push_str("<h2>Journal</h2>\n<table class=\"facts\">\n");
    let rows = [
        ("File", "", j.path.clone()),
        ("Head", "hash", format!("{} {}", j.head_seq, j.head_hash)),
        (
            "Run's last entry",
            "hash",
            format!("{} {}", j.run_last_seq, j.run_last_hash),
        ),
        ("Run's entries", "", j.run_entries.to_string()),
    ];
    for (name, class, value) in rows {
        let _ = write!(page, "<tr><th>{}</th>", esc(name));
        row_cells(page, class, &value);
    }
    page.push_str("</table>\n");
    let _ = writeln!(
        page,
        "<p class=\"note\">{}</p>",
        esc(&verify_sentence(report))
    );
}

/// One line per step, before the details: what an auditor reads first.
fn overview(page: &mut String, report: &RunReport) {
    page.push_str("<h2>Steps</h2>\n");
    head_row(
        page,
        &["step", "outcome", "ops done", "ops failed", "ops undone"],
    );
    for step in &report.steps {
        let count = |status| step.ops.iter().filter(|op| op.status == status).count();
        let failed = step.ops.iter().filter(|op| op.error.is_some()).count();
        let class = step_class(step.outcome);
        row(
            page,
            &[
                ("", &step.step.to_string()),
                (class, &class.replace('_', " ")),
                (
                    "",
                    &format!("{} of {}", count(OpStatus::Done), step.ops.len()),
                ),
                ("", &failed.to_string()),
                ("", &count(OpStatus::Undone).to_string()),
            ],
        );
    }
    page.push_str("</table>\n");
}

fn step_class(outcome: StepOutcome) -> &'static str {
    match outcome {
        StepOutcome::Committed => "committed",
        StepOutcome::RolledBack => "rolled_back",
        StepOutcome::Open => "open",
    }
}

fn status_class(status: OpStatus) -> &'static str {
    match status {
        OpStatus::Planned => "planned",
        OpStatus::Started => "started",
        OpStatus::Done => "done",
        OpStatus::Failed => "failed",
        OpStatus::Undone => "undone",
    }
}

fn digest_text(digest: Option<hubup::Digest>) -> String {
    digest.map_or_else(|| "-".to_string(), |d| d.to_hex())
}

fn step_section(page: &mut String, step: &StepReport) {
    let class = step_class(step.outcome);
    let _ = writeln!(
        page,
        "<h2>Step {}: <span class=\"{class}\">{}</span></h2>",
        esc(&step.step.to_string()),
        class.replace('_', " ")
    );
    page.push_str("<table class=\"facts\">\n");
    let mut rows = vec![
        ("Package", step.package.to_hex()),
        ("Install tree before", step.tree_before.to_hex()),
        ("Install tree after", digest_text(step.tree_after)),
        (
            "applicationHost.config before",
            step.apphost_before.to_hex(),
        ),
        (
            "applicationHost.config after",
            digest_text(step.apphost_after),
        ),
    ];
    if let Some((digest, objects)) = step.host_state_before {
        rows.push((
            "Machine before (host objects)",
            format!("{} ({objects} objects)", digest.to_hex()),
        ));
    }
    if let Some(reason) = &step.rollback_reason {
        rows.push(("Rolled back because", reason.clone()));
    }
    if let Some(verified) = step.restored_verified {
        let text = if verified {
            "the restored install matches the digests before the step"
        } else {
            "THE RESTORED INSTALL DOES NOT MATCH the digests before the step"
        };
        rows.push(("Restored state", text.to_string()));
    }
    for (name, value) in rows {
        let _ = write!(page, "<tr><th>{}</th>", esc(name));
        row_cells(page, "hash", &value);
    }
    page.push_str("</table>\n");
    head_row(page, &["#", "kind", "op", "outcome", "detail"]);
    for op in &step.ops {
        // A failed op is undone with the rest: say both.
        let (class, outcome) = match (&op.error, op.status) {
            (Some(_), OpStatus::Undone) => ("failed", "failed, undone"),
            (_, status) => (status_class(status), status_class(status)),
        };
        let detail = [op.detail.as_deref(), op.error.as_deref()]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("; ");
        row(
            page,
            &[
                ("", &op.index.to_string()),
                ("", &op.kind),
                ("", &op.description),
                (class, outcome),
                ("", &detail),
            ],
        );
    }
    page.push_str("</table>\n");
}

fn files(page: &mut String, files: &[FileChange]) {
    let _ = writeln!(page, "<h2>Files changed ({})</h2>", files.len());
    head_row(
        page,
        &[
            "step",
            "change",
            "path",
            "blake3 digest",
            "size",
            "replaced",
            "outcome",
        ],
    );
    for file in files {
        let (change, path) = match (file.change, &file.renamed_to) {
            (FileChangeKind::Written, _) => ("written", file.path.clone()),
            (FileChangeKind::Deleted, _) => ("deleted", file.path.clone()),
            (FileChangeKind::Renamed, to) => (
                "folder renamed",
                format!("{} -> {}", file.path, to.as_deref().unwrap_or("?")),
            ),
        };
        row(
            page,
            &[
                ("", &file.step.to_string()),
                ("", change),
                ("", &path),
                ("hash", &digest_text(file.digest)),
                ("", &file.size.map_or_else(String::new, |s| s.to_string())),
                (
                    "hash",
                    &file.previous.map_or_else(String::new, |d| d.to_hex()),
                ),
                (status_class(file.status), status_class(file.status)),
            ],
        );
    }
    page.push_str("</table>\n");
}

fn sql(page: &mut String, title: &str, changes: &[SqlChange]) {
    let _ = writeln!(page, "<h2>{} ({})</h2>", esc(title), changes.len());
    head_row(page, &["step", "database", "op", "outcome"]);
    for change in changes {
        row(
            page,
            &[
                ("", &change.step.to_string()),
                ("", change.database.as_deref().unwrap_or("(server)")),
                ("", &change.description),
                (status_class(change.status), status_class(change.status)),
            ],
        );
    }
    page.push_str("</table>\n");
}

fn settings(page: &mut String, report: &RunReport) {
    let _ = writeln!(
        page,
        "<h2>Settings files ({})</h2>\n<p>Keys only: values can be secrets.</p>",
        report.settings.len()
    );
    head_row(
        page,
        &["step", "file", "changes", "before", "after", "outcome"],
    );
    for s in &report.settings {
        row(
            page,
            &[
                ("", &s.step.to_string()),
                ("", &s.path),
                ("", &s.changes.join("; ")),
                ("hash", &s.before.to_hex()),
                ("hash", &s.after.to_hex()),
                (status_class(s.status), status_class(s.status)),
            ],
        );
    }
    page.push_str("</table>\n");
}

fn probes(page: &mut String, report: &RunReport) {
    let _ = writeln!(
        page,
        "<h2>Probes ({})</h2>\n<p>What host and database ops found before they changed \
         anything (what a rollback puts back).</p>",
        report.probes.len()
    );
    head_row(page, &["step", "#", "op", "found"]);
    for p in &report.probes {
        row(
            page,
            &[
                ("", &p.step.to_string()),
                ("", &p.index.to_string()),
                ("", &p.object),
                ("", &p.found),
            ],
        );
    }
    page.push_str("</table>\n");
}

/// What the guide leaves to the administrator, near the top: it is what to do next.
fn checklist(page: &mut String, report: &RunReport) {
    if report.checklist.is_empty() {
        return;
    }
    page.push_str("<h2>Still to do (the guide)</h2>\n<ul>\n");
    for item in &report.checklist {
        let _ = writeln!(page, "<li>{}</li>", esc(item));
    }
    page.push_str("</ul>\n");
}

fn events(page: &mut String, report: &RunReport) {
    let _ = writeln!(page, "<h2>Other entries ({})</h2>", report.events.len());
    page.push_str("<table>\n");
    for line in &report.events {
        let _ = writeln!(page, "<tr><td><code>{}</code></td></tr>", esc(line));
    }
    page.push_str("</table>\n");
}

fn config(page: &mut String, report: &RunReport) {
    let _ = writeln!(
        page,
        "<h2>Config ({} keys)</h2>\n<p>The config view the run recorded. Secrets are never \
         recorded: a key that names one shows <code>&lt;redacted&gt;</code>.</p>",
        report.config.len()
    );
    head_row(page, &["key", "value"]);
    for pair in &report.config {
        row(page, &[("", &pair.key), ("", &pair.value)]);
    }
    page.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn markup_in_values_becomes_text() {
        assert_eq!(
            esc(r#"<Hub & "Co">'s"#),
            "&lt;Hub &amp; &quot;Co&quot;&gt;&#39;s"
        );
        assert_eq!(esc("plain"), "plain");
    }
}
