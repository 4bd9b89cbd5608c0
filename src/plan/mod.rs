//! The planner: turns one step's catalog entry, its package manifest, the config and the
//! install model into the ordered ops of that step, and the model after it.
//!
//! Planning is pure: it reads only the [`InstallModel`] (observed beforehand) and writes
//! nothing. Because it also returns the model after the step, a whole chain can be planned,
//! shown (`hubup plan`) and checked for local changes before the first change is made.
//!
//! Op order within a step, and why:
//! 1. stop Blue Prism's sites, their app pools and Blue Prism's Windows services (files in use
//!    cannot be replaced); other sites and pools of the server are not touched;
//! 2. back up everything the step will change (`backup_4.n`), durable before any change;
//! 3. database work (the likeliest to fail on a network hiccup, so it fails early), starting
//!    with the backups of the existing databases when asked (sites are stopped by then, so
//!    nothing writes to them);
//! 4. folder renames, deletions, file writes, settings merges (the package's manifest);
//! 5. IIS: site renames, new sites, their SSL bindings and, with Windows authentication, pool
//!    identities, certificate key access and folder permissions;
//! 6. record the installed version; start the pools, sites and services that ran before the
//!    step (and the new sites); restart RabbitMQ (from 4.1 on, only where `[rabbitmq] host` is
//!    this machine; otherwise a note and the run's end name its server); restart IIS only if `[host] restart_iis`.
//!
//! One file per group: `commands.rs` (1 and 6), `databases.rs` (3), `files.rs` and
//! `local_changes.rs` (4: the manifest's file ops and the files an administrator changed),
//! `settings.rs` (4: merges into the applications' settings files, with the wizard's answers
//! from `app_values.rs`), `iis.rs` (5), and
//! `layout.rs` (where the package's paths live in this install). This file holds the
//! `Planner` they all extend, the backup op (2) and the plan's types.

pub mod app_values;
mod broker;
mod commands;
pub use commands::broker_reminder;
mod databases;
mod files;
mod iis;
mod layout;
mod local_changes;
mod settings;

use std::collections::BTreeMap;

use crate::apphost;
use crate::catalog::{self, StepSpec};
use crate::config::{Config, Template, render_part};
use crate::model::{FileFact, InstallModel};
use crate::op::*;
use crate::package::Manifest;
use crate::relpath::RelPath;
use crate::settings::SettingsError;
use crate::sql::{self, DatabasePlanning};
use crate::version::Step;

pub use databases::existing_databases;
use files::extra_files;
use layout::Layout;
use local_changes::local_changes_message;
pub use local_changes::{LocalChange, LocalChangeKind, LocalChangePolicy};

/// Everything the planner reads besides the model and the manifest.
pub struct PlanInputs<'a> {
    pub config: &'a Config,
    pub databases: &'a DatabasePlanning,
    pub local_changes: LocalChangePolicy,
    /// Back up the existing databases in this step (set for a run's first step only).
    pub backups: Option<&'a sql::DatabaseBackups>,
    /// The secrets settings merges put in place of their markers (the applications' SQL
    /// password in connection strings).
    pub secrets: &'a app_values::SettingsSecrets,
    /// The certificates of the machine's LocalMachine\My (from the host adapter), that the
    /// config's certificate names resolve to; and the time their expiry is checked at.
    pub certificates: &'a [crate::host::Certificate],
    pub now_ms: u64,
    /// The Blue Prism Windows services installed on the machine (of
    /// [`crate::components::BLUE_PRISM_SERVICES`]; an Interact-only server has fewer).
    pub services: &'a [String],
    /// `--enable-quorum-queue`: the step from 4.1 enables RabbitMQ's `quorum_queue`.
    pub enable_quorum_queue: bool,
}

/// The content of the settings files a package ships whole (a new component's first
/// `appsettings.json`), by path in the package's layout: later steps merge into them.
pub type ShippedSettings = BTreeMap<RelPath, Vec<u8>>;

/// The ops of one step, and what the planner noticed.
#[derive(Clone, Debug)]
pub struct StepPlan {
    pub step: Step,
    pub ops: Vec<Op>,
    /// Local changes found, and kept or overwritten as the policy said.
    pub local_changes: Vec<LocalChange>,
    /// Files in product folders that neither version ships: reported, left alone.
    pub extra_files: Vec<RelPath>,
    /// Things worth journaling as notes (kept files, skipped optional work).
    pub notes: Vec<String>,
    /// Bytes the step writes (new and replaced files).
    pub bytes_to_write: u64,
    /// The Hub plugins the step's package updates (name, from, to; `-` for a new one), as its
    /// manifest lists them; their files are among the ops.
    pub plugins: Vec<crate::package::PluginUpdate>,
}

/// Why a step cannot be planned. Nothing has changed.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("step {step} needs the install at {}, but it is at {found}", step.from)]
    WrongVersion {
        step: Step,
        found: crate::version::Version,
    },
    #[error("{}", local_changes_message(.step, .changes))]
    LocalChanges {
        step: Step,
        changes: Vec<LocalChange>,
    },
    #[error(
        "step {step}: the new site {site:?} needs an SSL certificate: set \
         sites.{key}.certificate (thumbprint or friendly name) in the config"
    )]
    MissingCertificate {
        step: Step,
        site: String,
        key: &'static str,
    },
    /// A configured certificate cannot be used (missing, ambiguous, expired, no private key,
    /// not for the host name); `problem` says what to do. Nothing was changed.
    #[error("step {step}: {key} in the config: {problem}")]
    Certificate {
        step: Step,
        key: String,
        problem: String,
    },
    #[error("step {step}: applicationHost.config: {source}")]
    AppHost {
        step: Step,
        source: apphost::AppHostError,
    },
    #[error("step {step}: the site of {component} ({folder}) is not in applicationHost.config")]
    SiteNotFound {
        step: Step,
        component: &'static str,
        folder: String,
    },
    #[error("step {step}: settings file {path}: {source}")]
    Settings {
        step: Step,
        path: RelPath,
        source: SettingsError,
    },
    #[error("step {step}: {source}")]
    AppValues {
        step: Step,
        source: app_values::AppValuesError,
    },
    #[error(
        "step {step}: settings file {path} is missing, so the package's changes to it cannot be merged; restore it from a backup of this machine"
    )]
    SettingsFileMissing { step: Step, path: RelPath },
    #[error(
        "step {step}: --enable-quorum-queue needs the broker's management API: set [rabbitmq] \
         management_url, user (with the administrator tag) and password_env in the config"
    )]
    BrokerNotConfigured { step: Step },
}

/// Plans one step (`manifest.from -> manifest.to`) on `model`. Returns the plan and the model
/// after the step. Pure: no I/O.
pub fn plan_step(
    model: &InstallModel,
    manifest: &Manifest,
    shipped: &ShippedSettings,
    inputs: &PlanInputs<'_>,
) -> Result<(StepPlan, InstallModel), PlanError> {
    let step = Step {
        from: manifest.from,
        to: manifest.to,
    };
    if model.version != step.from {
        return Err(PlanError::WrongVersion {
            step,
            found: model.version,
        });
    }
    let mut planner = Planner::new(step, model, inputs);
    planner.stop_sites()?;
    let layout = Layout::new(manifest, inputs.config);
    planner.files(manifest, shipped, &layout)?;
    planner.settings(manifest, &layout)?;
    planner.databases()?;
    planner.broker()?;
    planner.iis(&layout)?;
    planner.finish()?;
    planner.into_plan(manifest, &layout)
}

/// The planning of one step under way: the model before it and after the ops so far, the ops
/// (`head` runs before the backup op, `body` after it), the files to back up, and what was
/// noticed. Each file of this module adds the ops of one group.
struct Planner<'a> {
    step: Step,
    spec: &'static StepSpec,
    before: &'a InstallModel,
    after: InstallModel,
    inputs: &'a PlanInputs<'a>,
    head: Vec<Op>,
    body: Vec<Op>,
    backup: BTreeMap<RelPath, FileFact>,
    local_changes: Vec<LocalChange>,
    notes: Vec<String>,
    bytes_to_write: u64,
}

impl<'a> Planner<'a> {
    fn new(step: Step, model: &'a InstallModel, inputs: &'a PlanInputs<'a>) -> Planner<'a> {
        let mut after = model.clone();
        after.version = step.to;
        Planner {
            step,
            spec: catalog::step_spec(step),
            before: model,
            after,
            inputs,
            head: Vec::new(),
            body: Vec::new(),
            backup: BTreeMap::new(),
            local_changes: Vec::new(),
            notes: Vec::new(),
            bytes_to_write: 0,
        }
    }

    fn config(&self) -> &Config {
        self.inputs.config
    }

    fn apphost_error(&self, source: apphost::AppHostError) -> PlanError {
        PlanError::AppHost {
            step: self.step,
            source,
        }
    }

    fn command(
        &self,
        purpose: CommandPurpose,
        apply: &Template,
        values: &[(&str, &str)],
    ) -> CommandOp {
        CommandOp {
            purpose,
            apply: render(apply, values),
            check: None,
            undo: None,
        }
    }

    fn into_plan(
        self,
        manifest: &Manifest,
        layout: &Layout,
    ) -> Result<(StepPlan, InstallModel), PlanError> {
        if self.inputs.local_changes == LocalChangePolicy::Refuse && !self.local_changes.is_empty()
        {
            return Err(PlanError::LocalChanges {
                step: self.step,
                changes: self.local_changes,
            });
        }
        let edits_apphost = self.body.iter().any(|op| matches!(op, Op::EditAppHost(_)));
        let backup = Op::Backup(BackupOp {
            folder: RelPath::new(&self.step.from.backup_folder_name())
                .expect("backup folder names are valid relative paths"),
            files: self
                .backup
                .iter()
                .map(|(path, fact)| backed_up(path, *fact))
                .collect(),
            external: if edits_apphost {
                vec![(ExternalFile::AppHostConfig, self.before.apphost_digest())]
            } else {
                Vec::new()
            },
        });
        let mut ops = self.head;
        ops.push(backup);
        ops.extend(self.body);
        let extra_files = extra_files(&self.after, manifest, layout);
        let mut notes = self.notes;
        notes.extend(plugin_note(self.step, &manifest.plugins));
        Ok((
            StepPlan {
                step: self.step,
                ops,
                local_changes: self.local_changes,
                extra_files,
                notes,
                bytes_to_write: self.bytes_to_write,
                plugins: manifest.plugins.clone(),
            },
            self.after,
        ))
    }
}

/// The plugins a step updates, as a note the journal keeps with its plan (and the audit
/// shows); for 4.0 -> 4.1 with what Hub needs: the guide's "Complete updating" in Hub's plugin
/// repository, which only Hub's UI does.
fn plugin_note(step: Step, plugins: &[crate::package::PluginUpdate]) -> Option<String> {
    if plugins.is_empty() {
        return None;
    }
    let list: Vec<String> = plugins
        .iter()
        .map(|p| match p.from.as_str() {
            "-" | "" => format!("{} {} (new)", p.name, p.to),
            from => format!("{} {from} -> {}", p.name, p.to),
        })
        .collect();
    let then = if step.from == crate::version::Version::V4_0 {
        "; Hub registers them when an administrator opens the plugin repository, selects All \
         and clicks Complete updating (the end-of-run checklist says so)"
    } else {
        ""
    };
    Some(format!(
        "Hub plugins updated ({}): {}{then}",
        plugins.len(),
        list.join(", ")
    ))
}

fn backed_up(path: &RelPath, fact: FileFact) -> BackedUpFile {
    BackedUpFile {
        path: path.clone(),
        digest: fact.digest,
        size: fact.size,
    }
}

/// Renders a command template with its placeholder values.
pub(crate) fn render(template: &Template, values: &[(&str, &str)]) -> CommandLine {
    let mut parts = template.0.iter().map(|part| render_part(part, values));
    CommandLine {
        program: parts.next().unwrap_or_default(),
        args: parts.collect(),
    }
}
