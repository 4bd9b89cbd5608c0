//! `hubup status`: renders the library's [`InstallStatus`] (version, components, IIS sites,
//! backups, digests, drift, an unfinished run) as text or JSON. Reads only; changes nothing.
//!
//! While another hubup holds the install lock or the journal, status reads that hubup's progress record (pid,
//! step, op i/n) instead of the install, whose files are being replaced. Its exit code says
//! what is pending: 0 nothing, 4 an unfinished run, 6 a run in progress (`exit.rs`).

use std::path::PathBuf;

use clap::Args;
use hubup::{
    Config, Drift, InstallStatus, LOCK_FILE, MachineStatus, RelPath, RunStatus, StatusSources,
    UnfinishedRun, format_utc, install_lock_holder, install_status, journal_run_status,
};
use serde_json::{Value, json};

use super::exit::Pending;
use super::progress;
use super::run::load_config;
use super::{CommandResult, Outcome};

#[derive(Args, Debug)]
pub(crate) struct StatusArgs {
    /// The config file (install root, IIS config, packages, journal).
    #[arg(
        long,
        env = "HUBUP_CONFIG",
        value_name = "FILE",
        conflicts_with = "root"
    )]
    config: Option<PathBuf>,
    /// The install root, without a config file.
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// IIS's applicationHost.config, with --root.
    #[arg(long, value_name = "FILE", requires = "root")]
    apphost: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(args: StatusArgs) -> CommandResult {
    let config;
    let sources = match &args.root {
        Some(root) => StatusSources {
            root,
            apphost: args.apphost.as_deref(),
            config: None,
        },
        None => {
            config = load_config(&args.config)?;
            super::access::guard(&config, "status", false, false)?;
            if let Some(detail) = in_progress(&config) {
                return Ok(report_in_progress(&config, &detail, args.json));
            }
            StatusSources {
                root: &config.install.root,
                apphost: Some(&config.install.apphost),
                config: Some(&config),
            }
        }
    };
    let status = install_status(sources)?;
    if args.json {
        outln!("{}", json(&status));
    } else {
        out!("{}", text(&status));
    }
    Ok(super::exit::code(Outcome::Status(pending(&status.run))))
}

/// Why a run is in progress, if one is: another hubup holds the install lock (whatever
/// journal it writes to) or this config's journal. `status` then reads neither the install
/// nor the journal, only the running hubup's progress record.
fn in_progress(config: &Config) -> Option<String> {
    let root = &config.install.root;
    if let Ok(Some(holder)) = install_lock_holder(root) {
        return Some(format!(
            "the install is being changed by another hubup ({holder}; from {})",
            root.join(LOCK_FILE).display()
        ));
    }
    match journal_run_status(&config.journal_path()) {
        RunStatus::InProgress { detail } => Some(detail),
        _ => None,
    }
}

fn pending(run: &Option<RunStatus>) -> Pending {
    match run {
        None | Some(RunStatus::NoneUnfinished) => Pending::Nothing,
        Some(RunStatus::Unfinished(_)) => Pending::Unfinished,
        Some(RunStatus::InProgress { .. }) => Pending::InProgress,
        Some(RunStatus::Unreadable { .. }) => Pending::Unknown,
    }
}

fn pending_name(pending: Pending) -> &'static str {
    match pending {
        Pending::Nothing => "nothing",
        Pending::Unfinished => "unfinished_run",
        Pending::InProgress => "run_in_progress",
        Pending::Unknown => "unknown",
    }
}

/// `status` while another hubup holds the journal: what its progress record says, and
/// nothing read from the install it is changing (exit 6).
fn report_in_progress(config: &Config, detail: &str, json: bool) -> super::Exit {
    let record = progress::read(&config.journal_path());
    let root = config.install.root.display().to_string();
    if json {
        outln!(
            "{}",
            json!({
                "root": root,
                "pending": pending_name(Pending::InProgress),
                "in_progress": record.as_ref().map_or(Value::Null, to_json),
                "detail": detail,
                "version": Value::Null,
                "tree_digest": Value::Null,
                // The shape `unfinished_run` has whenever a run is in progress.
                "unfinished_run": run_json(&RunStatus::InProgress { detail: detail.to_string() }),
            })
        );
    } else {
        let what = record.map_or_else(
            || format!("another hubup holds the journal ({detail})"),
            |p| p.describe(),
        );
        out!(
            "install:   {root}
A RUN IS IN PROGRESS: {what}
  the install is being changed: \
             its version, digests and drift are shown once the run ends (run `hubup status` \
             again)
"
        );
    }
    super::exit::code(Outcome::Status(Pending::InProgress))
}

/// The JSON object of `status --json`.
fn json(status: &InstallStatus) -> Value {
    let (version, components, detect_error) = match &status.detected {
        Ok(found) => (
            json!(found.version),
            to_json(&found.components),
            Value::Null,
        ),
        Err(e) => (Value::Null, Value::Null, json!(e.to_string())),
    };
    let (sites, apphost_digest) = match &status.apphost {
        Some(apphost) => (to_json(&apphost.sites), json!(apphost.digest)),
        None => (Value::Null, Value::Null),
    };
    json!({
        "root": status.root.display().to_string(),
        "version": version,
        "detect_error": detect_error,
        "components": components,
        "product_files": status.product_files,
        "tree_digest": status.tree_digest,
        "apphost_digest": apphost_digest,
        "sites": sites,
        "backups": status.backups.as_ref().map_or(Value::Null, to_json),
        "drift": drift_json(&status.drift),
        "machine": status.machine.as_ref().map_or(Value::Null, machine_json),
        "unfinished_run": status.run.as_ref().map_or(Value::Null, run_json),
        "pending": pending_name(pending(&status.run)),
    })
}

/// A library value as JSON (its `Serialize` shape).
fn to_json<T: serde::Serialize + ?Sized>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

fn drift_json(drift: &Drift) -> Value {
    let names = |paths: &[RelPath]| paths.iter().map(|p| p.to_string()).collect::<Vec<_>>();
    match drift {
        Drift::Checked {
            against,
            changed,
            missing,
            extra,
        } => json!({
            "checked": true,
            "against": against.display().to_string(),
            "changed": names(changed),
            "missing": names(missing),
            "extra": names(extra),
        }),
        Drift::NotChecked { reason } => json!({ "checked": false, "reason": reason }),
    }
}

/// The machine outside the tree: its digest and each object's state (or why it could not be
/// observed), in words and, for a state, as the journal records it.
fn machine_json(machine: &MachineStatus) -> Value {
    let objects: Vec<Value> = machine
        .objects
        .iter()
        .map(|(object, state)| match state {
            Ok(state) => json!({
                "object": object.describe(),
                "state": state.describe(),
                "observed": to_json(state),
            }),
            Err(e) => json!({ "object": object.describe(), "error": e }),
        })
        .collect();
    json!({ "digest": machine.digest, "objects": objects })
}

fn machine_text(machine: &MachineStatus) -> String {
    let mut out = format!(
        "machine: {} object(s) hubup's host ops touch, digest {}\n",
        machine.objects.len(),
        machine.digest
    );
    for (object, state) in &machine.objects {
        let state = match state {
            Ok(state) => state.describe(),
            Err(e) => format!("NOT OBSERVED: {e}"),
        };
        out.push_str(&format!("  {}: {state}\n", object.describe()));
    }
    out
}

fn run_json(run: &RunStatus) -> Value {
    match run {
        RunStatus::NoneUnfinished => Value::Null,
        RunStatus::Unfinished(run) => unfinished_json(run),
        RunStatus::InProgress { detail } => json!({ "in_progress": true, "detail": detail }),
        RunStatus::Unreadable { error } => json!({ "error": error }),
    }
}

fn unfinished_json(run: &UnfinishedRun) -> Value {
    json!({
        "run": run.run.to_string(),
        "from": run.from,
        "to": run.to,
        "machine": run.machine,
        "started": format_utc(run.started_ms),
        "last_planned": run.last_planned.map(|s| s.to_string()),
        "last_committed": run.last_committed.map(|s| s.to_string()),
        "rolling_back": run.rolling_back.map(|s| s.to_string()),
        "cancelled": run.cancelled,
        "planned_ops": run.planned_ops,
        "done_ops": run.done_ops,
        "where": run.where_it_stopped(),
    })
}

/// The text of `status`, for people.
fn text(status: &InstallStatus) -> String {
    let mut out = String::new();
    out.push_str(&format!("install:   {}\n", status.root.display()));
    match &status.detected {
        Ok(found) => {
            out.push_str(&format!("version:   {}", found.version));
            if let Some(RunStatus::Unfinished(run)) = &status.run {
                out.push_str(&format!(
                    " (as its files say; but run {} -> {} is unfinished: {})",
                    run.from,
                    run.to,
                    run.where_it_stopped()
                ));
            }
            out.push('\n');
            let names: Vec<&str> = found.components.iter().map(|c| c.folder.as_str()).collect();
            out.push_str(&format!("components: {}\n", names.join(", ")));
        }
        Err(e) => out.push_str(&format!("version:   unknown ({e})\n")),
    }
    out.push_str(&format!(
        "product files: {}  tree digest: {}\n",
        status.product_files, status.tree_digest
    ));
    if let Some(apphost) = &status.apphost {
        out.push_str(&format!(
            "applicationHost.config digest: {}\n",
            apphost.digest
        ));
        out.push_str("sites:\n");
        for site in &apphost.sites {
            let bindings: Vec<&str> = site
                .bindings
                .iter()
                .map(|b| b.information.as_str())
                .collect();
            out.push_str(&format!(
                "  {}  (pool {}, {}, {})\n",
                site.name,
                site.app_pool,
                site.physical_path.as_deref().unwrap_or("null"),
                bindings.join(" ")
            ));
        }
    }
    for b in status.backups.iter().flatten() {
        out.push_str(&format!(
            "backup: {} ({} files, {} bytes)\n",
            b.name, b.files, b.bytes
        ));
    }
    out.push_str(&drift_text(&status.drift));
    if let Some(machine) = &status.machine {
        out.push_str(&machine_text(machine));
    }
    out.push_str(&match &status.run {
        None | Some(RunStatus::NoneUnfinished) => "no unfinished run\n".to_string(),
        Some(RunStatus::InProgress { detail }) => format!("a run is in progress: {detail}\n"),
        Some(RunStatus::Unreadable { error }) => {
            format!("cannot tell whether a run is unfinished: {error}\n")
        }
        Some(RunStatus::Unfinished(run)) => format!(
            "UNFINISHED RUN {} ({} -> {}, started {}): {}; run `hubup resume` or `hubup \
             rollback`\n",
            run.run,
            run.from,
            run.to,
            format_utc(run.started_ms),
            run.where_it_stopped()
        ),
    });
    out
}

fn drift_text(drift: &Drift) -> String {
    let (changed, missing, extra) = match drift {
        Drift::Checked {
            changed,
            missing,
            extra,
            ..
        } => (changed, missing, extra),
        Drift::NotChecked { reason } => return format!("drift: not checked ({reason})\n"),
    };
    let mut out = format!(
        "drift: {} changed, {} missing, {} extra product file(s)\n",
        changed.len(),
        missing.len(),
        extra.len()
    );
    for (kind, paths) in [("changed", changed), ("missing", missing), ("extra", extra)] {
        for path in paths.iter().take(20) {
            out.push_str(&format!("  {kind}: {path}\n"));
        }
    }
    out
}
