//! `hubup status`: what is installed (version, components, IIS sites, backups, digests), how
//! the product files compare with what the installed version ships (drift), and whether a run
//! is unfinished. Reads only; changes nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Args;
use hubup::{
    Config, Digest, Journal, Package, RelPath, Step, UnfinishedRun, apphost_sites, backup_folders,
    detect, digest_of_entries, format_utc, is_settings_file, scan_product_files,
};
use serde_json::{Value, json};

use super::run::load_config;
use super::{CommandResult, Exit, Failure};

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

/// Where to look, from the flags or the config.
struct Sources {
    root: PathBuf,
    apphost: Option<PathBuf>,
    config: Option<Config>,
}

pub(crate) fn run(args: StatusArgs) -> CommandResult {
    let sources = match &args.root {
        Some(root) => Sources {
            root: root.clone(),
            apphost: args.apphost.clone(),
            config: None,
        },
        None => {
            let config = load_config(&args.config)?;
            super::access::guard(&config, "status", false, false)?;
            Sources {
                root: config.install.root.clone(),
                apphost: Some(config.install.apphost.clone()),
                config: Some(config),
            }
        }
    };
    let report = gather(&sources)?;
    if args.json {
        println!("{report}");
    } else {
        print!("{}", text(&report));
    }
    Ok(Exit::Ok)
}

fn gather(sources: &Sources) -> Result<Value, Failure> {
    let detected = detect(&sources.root);
    let files = scan_product_files(&sources.root)
        .map_err(|e| Failure::new(Exit::BadInput, e.to_string()))?;
    let tree = digest_of_entries(files.iter().map(|f| (&f.path, f.size, f.digest)));
    let (sites, apphost_digest) = match &sources.apphost {
        Some(path) => {
            let bytes = std::fs::read(path).map_err(|e| {
                Failure::new(
                    Exit::BadInput,
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            let sites = apphost_sites(&bytes)
                .map_err(|e| Failure::new(Exit::BadInput, format!("{}: {e}", path.display())))?;
            (
                serde_json::to_value(sites).unwrap_or(Value::Null),
                json!(Digest::of(&bytes)),
            )
        }
        None => (Value::Null, Value::Null),
    };
    let backups = backup_folders(&sources.root)
        .map(|b| serde_json::to_value(b).unwrap_or(Value::Null))
        .unwrap_or(Value::Null);
    let (version, components, detect_error) = match &detected {
        Ok(found) => (
            json!(found.version),
            serde_json::to_value(&found.components).unwrap_or(Value::Null),
            Value::Null,
        ),
        Err(e) => (Value::Null, Value::Null, json!(e.to_string())),
    };
    let drift = match (&detected, &sources.config) {
        (Ok(found), Some(config)) => drift(config, found.version, &files),
        _ => {
            json!({ "checked": false, "reason": "needs a config (for the packages folder) and a detected version" })
        }
    };
    let unfinished = match &sources.config {
        Some(config) => unfinished_run(&config.journal_path()),
        None => Value::Null,
    };
    Ok(json!({
        "root": sources.root.display().to_string(),
        "version": version,
        "detect_error": detect_error,
        "components": components,
        "product_files": files.len(),
        "tree_digest": tree,
        "apphost_digest": apphost_digest,
        "sites": sites,
        "backups": backups,
        "drift": drift,
        "unfinished_run": unfinished,
    }))
}

/// Compares the product files with the inventory of the package that produced the installed
/// version.
fn drift(config: &Config, version: hubup::Version, files: &[hubup::ScannedFile]) -> Value {
    let Some(step) = version.previous().and_then(Step::from_version) else {
        return json!({ "checked": false, "reason": format!("no package describes {version} (it is installed by the vendor's installer)") });
    };
    let path = config.package_path(step.to);
    let manifest = match Package::read_manifest(&path, step) {
        Ok(m) => m,
        Err(e) => return json!({ "checked": false, "reason": e.to_string() }),
    };
    let shipped: BTreeMap<&RelPath, Digest> = manifest
        .inventory
        .iter()
        .map(|e| (&e.path, e.digest))
        .collect();
    let present: BTreeMap<&RelPath, Digest> = files.iter().map(|f| (&f.path, f.digest)).collect();
    let changed: Vec<String> = shipped
        .iter()
        .filter(|(p, d)| present.get(*p).is_some_and(|found| found != *d))
        .map(|(p, _)| p.to_string())
        .collect();
    let missing: Vec<String> = shipped
        .keys()
        .filter(|p| !present.contains_key(*p))
        .map(|p| p.to_string())
        .collect();
    let extra: Vec<String> = present
        .keys()
        .filter(|p| !shipped.contains_key(*p) && !is_settings_file(p))
        .map(|p| p.to_string())
        .collect();
    json!({
        "checked": true,
        "against": path.display().to_string(),
        "changed": changed,
        "missing": missing,
        "extra": extra,
    })
}

fn unfinished_run(journal: &Path) -> Value {
    if !journal.exists() {
        return Value::Null;
    }
    match Journal::open(journal).and_then(|j| j.unfinished_run()) {
        Ok(Some(run)) => run_json(&run),
        Ok(None) => Value::Null,
        Err(e) if e.is_busy() => json!({ "in_progress": true, "detail": e.to_string() }),
        Err(e) => json!({ "error": e.to_string() }),
    }
}

fn run_json(run: &UnfinishedRun) -> Value {
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
    })
}

fn text(report: &Value) -> String {
    let mut out = String::new();
    let s = |v: &Value| {
        v.as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string())
    };
    out.push_str(&format!("install:   {}\n", s(&report["root"])));
    match report["version"].as_str() {
        Some(v) => out.push_str(&format!("version:   {v}\n")),
        None => out.push_str(&format!(
            "version:   unknown ({})\n",
            s(&report["detect_error"])
        )),
    }
    if let Some(components) = report["components"].as_array() {
        let names: Vec<String> = components.iter().map(|c| s(&c["folder"])).collect();
        out.push_str(&format!("components: {}\n", names.join(", ")));
    }
    out.push_str(&format!(
        "product files: {}  tree digest: {}\n",
        report["product_files"],
        s(&report["tree_digest"])
    ));
    if !report["apphost_digest"].is_null() {
        out.push_str(&format!(
            "applicationHost.config digest: {}\n",
            s(&report["apphost_digest"])
        ));
    }
    if let Some(sites) = report["sites"].as_array() {
        out.push_str("sites:\n");
        for site in sites {
            let bindings: Vec<String> = site["bindings"]
                .as_array()
                .map(|b| b.iter().map(|x| s(&x["information"])).collect())
                .unwrap_or_default();
            out.push_str(&format!(
                "  {}  (pool {}, {}, {})\n",
                s(&site["name"]),
                s(&site["app_pool"]),
                s(&site["physical_path"]),
                bindings.join(" ")
            ));
        }
    }
    if let Some(backups) = report["backups"].as_array() {
        for b in backups {
            out.push_str(&format!(
                "backup: {} ({} files, {} bytes)\n",
                s(&b["name"]),
                b["files"],
                b["bytes"]
            ));
        }
    }
    let drift = &report["drift"];
    if drift["checked"] == true {
        let count = |k: &str| drift[k].as_array().map(Vec::len).unwrap_or(0);
        out.push_str(&format!(
            "drift: {} changed, {} missing, {} extra product file(s)\n",
            count("changed"),
            count("missing"),
            count("extra")
        ));
        for kind in ["changed", "missing", "extra"] {
            for path in drift[kind].as_array().into_iter().flatten().take(20) {
                out.push_str(&format!("  {kind}: {}\n", s(path)));
            }
        }
    } else {
        out.push_str(&format!("drift: not checked ({})\n", s(&drift["reason"])));
    }
    match &report["unfinished_run"] {
        Value::Null => out.push_str("no unfinished run\n"),
        run if run["in_progress"] == true => {
            out.push_str(&format!("a run is in progress: {}\n", s(&run["detail"])))
        }
        run => out.push_str(&format!(
            "UNFINISHED RUN {} ({} -> {}, started {}): run `hubup resume` or `hubup rollback`\n",
            s(&run["run"]),
            s(&run["from"]),
            s(&run["to"]),
            s(&run["started"])
        )),
    }
    out
}
