//! Saved plans: `hubup plan --out FILE` writes the plan with the digests of everything it was
//! made from (the config file, the install tree, IIS's config, each package file) and the
//! options it was made with; `hubup upgrade --plan FILE` applies that plan, and refuses
//! (exit 2, nothing changed) if any of those inputs differs now.
//!
//! Planning is a function of exactly those inputs and options, so equal digests mean the
//! upgrade plans the ops the file lists (database backup names carry the time of the run and
//! are the one difference).

use std::path::{Path, PathBuf};

use hubup::{Config, Digest, LocalChangePolicy, PreparedRun, Version, format_utc, now_ms};
use serde::{Deserialize, Serialize};

use super::{Cause, Failure};

/// The format of a saved plan file.
const FORMAT: u32 = 1;

/// What a saved plan was made from. Equal inputs plan equal ops.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Inputs {
    pub config: Digest,
    pub tree: Digest,
    pub apphost: Digest,
    /// Each step's package file, as "4.1 -> 4.2" and the blake3 of the whole file.
    pub packages: Vec<(String, Digest)>,
}

/// A plan file.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct SavedPlan {
    pub format: u32,
    pub hubup_version: String,
    pub created: String,
    pub from: Version,
    pub to: Version,
    /// "refuse", "keep" or "overwrite".
    pub local_changes: String,
    pub backup_databases: Option<String>,
    /// `--enable-quorum-queue` (plans saved before it existed had none).
    #[serde(default)]
    pub enable_quorum_queue: bool,
    pub inputs: Inputs,
    /// The plan as `plan --json` prints it.
    pub plan: serde_json::Value,
}

fn policy_name(policy: LocalChangePolicy) -> &'static str {
    match policy {
        LocalChangePolicy::Refuse => "refuse",
        LocalChangePolicy::Keep => "keep",
        LocalChangePolicy::Overwrite => "overwrite",
    }
}

impl SavedPlan {
    pub(crate) fn new(
        prepared: &PreparedRun,
        inputs: Inputs,
        request: &hubup::UpgradeRequest,
        plan: serde_json::Value,
    ) -> SavedPlan {
        SavedPlan {
            format: FORMAT,
            hubup_version: hubup::HUBUP_VERSION.to_string(),
            created: format_utc(now_ms()),
            from: prepared.from,
            to: prepared.to,
            local_changes: policy_name(request.local_changes).into(),
            backup_databases: request.backups.as_ref().map(|b| b.folder.clone()),
            enable_quorum_queue: request.enable_quorum_queue,
            inputs,
            plan,
        }
    }

    /// Reads a plan file; anything else is refused naming the file.
    pub(crate) fn read(path: &Path) -> Result<SavedPlan, Failure> {
        let refused = |problem: String| {
            Failure::of(Cause::Argument(format!(
                "cannot use the plan {}: {problem}",
                path.display()
            )))
        };
        let bytes = std::fs::read(path).map_err(|e| refused(e.to_string()))?;
        let plan: SavedPlan = serde_json::from_slice(&bytes)
            .map_err(|e| refused(format!("it is no hubup plan file ({e})")))?;
        if plan.format != FORMAT {
            return Err(refused(format!(
                "plan format {} (this hubup reads {FORMAT}); make it again with `hubup plan --out`",
                plan.format
            )));
        }
        Ok(plan)
    }

    pub(crate) fn policy(&self) -> Result<LocalChangePolicy, Failure> {
        match self.local_changes.as_str() {
            "refuse" => Ok(LocalChangePolicy::Refuse),
            "keep" => Ok(LocalChangePolicy::Keep),
            "overwrite" => Ok(LocalChangePolicy::Overwrite),
            other => Err(Failure::of(Cause::Argument(format!(
                "the plan's local_changes is {other:?}: expected refuse, keep or overwrite"
            )))),
        }
    }
}

/// The digests of what a plan from `from` to `to` is made from, as they are now.
pub(crate) fn inputs_now(
    config_file: &Path,
    config: &Config,
    from: Version,
    to: Version,
) -> Result<Inputs, Failure> {
    let digest = |path: &Path| {
        Digest::of_file(path).map(|(d, _)| d).map_err(|e| {
            Failure::of(Cause::Argument(format!(
                "cannot read {}: {e}",
                path.display()
            )))
        })
    };
    let steps = hubup::steps_between(from, to).unwrap_or_default();
    let mut packages = Vec::new();
    for step in steps {
        packages.push((step.to_string(), digest(&config.package_path(step.to))?));
    }
    Ok(Inputs {
        config: digest(config_file)?,
        tree: hubup::tree_digest(&config.install.root).map_err(hubup::StatusError::from)?,
        apphost: digest(&config.install.apphost)?,
        packages,
    })
}

/// What differs between the inputs a plan was made from and the inputs now (empty: none).
pub(crate) fn differences(then: &Inputs, now: &Inputs) -> Vec<String> {
    let mut out = Vec::new();
    let mut compare = |what: &str, a: &Digest, b: &Digest| {
        if a != b {
            out.push(format!("{what} changed ({} -> {})", a.short(), b.short()));
        }
    };
    compare("the config file", &then.config, &now.config);
    compare("the install's product files", &then.tree, &now.tree);
    compare("IIS's applicationHost.config", &then.apphost, &now.apphost);
    for ((step, a), (_, b)) in then.packages.iter().zip(&now.packages) {
        compare(&format!("the package of step {step}"), a, b);
    }
    if then.packages.len() != now.packages.len() {
        out.push("the installed version changed".into());
    }
    out
}

/// Writes `plan` to `out` (`-`: standard output).
pub(crate) fn write(out: &PathBuf, plan: &SavedPlan) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(plan)
        .map_err(|e| Failure::of(Cause::Output(format!("cannot encode the plan: {e}"))))?;
    if out.as_os_str() == "-" {
        outln!("{text}");
        return Ok(());
    }
    std::fs::write(out, text + "\n").map_err(|e| {
        Failure::of(Cause::Output(format!(
            "cannot write {}: {e}",
            out.display()
        )))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> Inputs {
        Inputs {
            config: Digest::of(b"config"),
            tree: Digest::of(b"tree"),
            apphost: Digest::of(b"apphost"),
            packages: vec![("4.0 -> 4.1".into(), Digest::of(b"p1"))],
        }
    }

    #[test]
    fn equal_inputs_differ_in_nothing_and_each_change_is_named() {
        assert!(differences(&inputs(), &inputs()).is_empty());
        let mut now = inputs();
        now.tree = Digest::of(b"other");
        now.packages[0].1 = Digest::of(b"p1 again");
        let found = differences(&inputs(), &now);
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].starts_with("the install's product files changed"));
        assert!(found[1].starts_with("the package of step 4.0 -> 4.1 changed"));
    }
}
