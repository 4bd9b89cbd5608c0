//! The planner: turns one step's catalog entry, its package manifest, the config and the
//! install model into the ordered ops of that step, and the model after it.
//!
//! Planning is pure: it reads only the [`InstallModel`] (observed beforehand) and writes
//! nothing. Because it also returns the model after the step, a whole chain can be planned,
//! shown (`hubup plan`) and checked for local changes before the first change is made.
//!
//! Op order within a step, and why:
//! 1. stop every site (the vendor's upgrader does; files in use cannot be replaced);
//! 2. back up everything the step will change (`backup_4.n`), durable before any change;
//! 3. database work (the likeliest to fail on a network hiccup, so it fails early), starting
//!    with the backups of the existing databases when asked (sites are stopped by then, so
//!    nothing writes to them);
//! 4. folder renames, deletions, file writes, settings merges (the package's manifest);
//! 5. IIS: site renames, new sites, their SSL bindings and, with Windows authentication, pool
//!    identities, certificate key access and folder permissions;
//! 6. record the installed version, start sites, restart RabbitMQ, recycle pools, restart IIS.

use std::collections::BTreeMap;
use std::fmt;

use crate::apphost::{self, Edit, NewSite};
use crate::catalog::{self, NewDatabase, OptionalSetting, StepSpec};
use crate::components::{self, Component, RABBITMQ_SERVICE};
use crate::config::{Config, Template, render_part};
use crate::digest::Digest;
use crate::model::{FileFact, InstallModel, is_settings_file};
use crate::op::*;
use crate::package::{FolderRename, Manifest};
use crate::relpath::RelPath;
use crate::settings::{self, Change};
use crate::sql;
use crate::version::Step;

/// What to do with product files an administrator changed (issue 6; dpkg's conffile rule).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LocalChangePolicy {
    /// Stop before any change and list them (the default).
    #[default]
    Refuse,
    /// Leave those files as they are; the journal records each one kept.
    Keep,
    /// Replace them anyway; they go to `backup_4.n` like everything else.
    Overwrite,
}

/// How applications reach their databases, which decides who gets database permissions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DatabaseUsers {
    /// Windows authentication: the identity of each component's app pool.
    AppPoolIdentities,
    /// SQL authentication: this SQL login.
    SqlLogin(String),
}

/// License Manager's database permission (the guide offers both).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum LicenseManagerPermission {
    #[default]
    DbOwner,
    ReadWriteAndExecute,
}

/// Database choices the planner needs.
#[derive(Clone, Debug)]
pub struct DatabasePlanning {
    pub users: DatabaseUsers,
    pub license_manager: LicenseManagerPermission,
    /// Database names by catalog config key; missing keys take the catalog's default.
    pub names: BTreeMap<String, String>,
}

/// Everything the planner reads besides the model and the manifest.
pub struct PlanSettings<'a> {
    pub config: &'a Config,
    pub databases: &'a DatabasePlanning,
    pub local_changes: LocalChangePolicy,
    /// Back up the existing databases in this step (set for a run's first step only).
    pub backups: Option<&'a sql::DatabaseBackups>,
}

/// The content of the settings files a package ships whole (a new component's first
/// `appsettings.json`), by path in the package's layout: later steps merge into them.
pub type ShippedSettings = BTreeMap<RelPath, Vec<u8>>;

/// A product file that is not what the package expects to find.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalChange {
    pub path: RelPath,
    pub kind: LocalChangeKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LocalChangeKind {
    /// The file differs from the one the package replaces or deletes.
    Modified { expected: Digest, found: Digest },
    /// The file the package replaces is missing.
    Missing { expected: Digest },
    /// A file exists where the package adds a new one.
    Unexpected { found: Digest },
}

impl fmt::Display for LocalChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            LocalChangeKind::Modified { expected, found } => write!(
                f,
                "{}: changed locally (expected {}, found {})",
                self.path,
                expected.short(),
                found.short()
            ),
            LocalChangeKind::Missing { expected } => {
                write!(f, "{}: missing (expected {})", self.path, expected.short())
            }
            LocalChangeKind::Unexpected { found } => write!(
                f,
                "{}: present but not part of the installed version (found {})",
                self.path,
                found.short()
            ),
        }
    }
}

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
        source: settings::SettingsError,
    },
    #[error(
        "step {step}: settings file {path} is missing, so the package's changes to it cannot be merged; restore it from a backup of this machine"
    )]
    SettingsFileMissing { step: Step, path: RelPath },
}

fn local_changes_message(step: &Step, changes: &[LocalChange]) -> String {
    let mut text = format!(
        "step {step}: {} product file(s) differ from what the package expects (local changes):",
        changes.len()
    );
    for change in changes.iter().take(50) {
        text.push_str(&format!("\n  {change}"));
    }
    if changes.len() > 50 {
        text.push_str(&format!("\n  ... and {} more", changes.len() - 50));
    }
    text.push_str(
        "\nNothing was changed. Choose: --keep-local-changes (leave those files as they are) or \
         --overwrite-local-changes (replace them; the changed files go to the backup folder).",
    );
    text
}

/// Plans one step (`manifest.from -> manifest.to`) on `model`. Returns the plan and the model
/// after the step. Pure: no I/O.
pub fn plan_step(
    model: &InstallModel,
    manifest: &Manifest,
    shipped: &ShippedSettings,
    settings: &PlanSettings<'_>,
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
    let mut planner = Planner::new(step, model, settings);
    planner.stop_sites()?;
    let layout = Layout::new(manifest, settings.config);
    planner.files(manifest, shipped, &layout)?;
    planner.settings(manifest, &layout)?;
    planner.databases()?;
    planner.iis(&layout)?;
    planner.finish()?;
    planner.into_plan(manifest, &layout)
}

/// Maps paths between the package's target layout and this install's actual layout (a folder
/// rename the config turns off keeps its old name) and the source layout (before renames).
struct Layout {
    /// Renames this install performs.
    applied: Vec<FolderRename>,
    /// Renames the package describes but the config turned off.
    skipped: Vec<FolderRename>,
}

impl Layout {
    fn new(manifest: &Manifest, config: &Config) -> Layout {
        let email = components::info(Component::EmailService);
        let (skipped, applied) = manifest.renames.iter().cloned().partition(|r| {
            !config.install.rename_email_folder
                && r.from.as_str() == email.folder_before_4_3
                && r.to.as_str() == email.folder_from_4_3
        });
        Layout { applied, skipped }
    }

    /// Where a target-layout path of the package lives in this install after the step.
    fn actual(&self, target: &RelPath) -> RelPath {
        self.skipped
            .iter()
            .find_map(|r| target.rebase(&r.to, &r.from))
            .unwrap_or_else(|| target.clone())
    }

    /// Where an after-step path of this install lived before the step.
    fn source(&self, actual: &RelPath) -> RelPath {
        self.applied
            .iter()
            .find_map(|r| actual.rebase(&r.to, &r.from))
            .unwrap_or_else(|| actual.clone())
    }

    /// The folder a component lives in after the step.
    fn folder_after(&self, folder_in_package_layout: &str) -> String {
        RelPath::new(folder_in_package_layout)
            .map(|p| self.actual(&p).to_string())
            .unwrap_or_else(|_| folder_in_package_layout.to_string())
    }
}

struct Planner<'a> {
    step: Step,
    spec: &'static StepSpec,
    before: &'a InstallModel,
    after: InstallModel,
    settings: &'a PlanSettings<'a>,
    head: Vec<Op>,
    body: Vec<Op>,
    backup: BTreeMap<RelPath, FileFact>,
    local_changes: Vec<LocalChange>,
    notes: Vec<String>,
    bytes_to_write: u64,
}

impl<'a> Planner<'a> {
    fn new(step: Step, model: &'a InstallModel, settings: &'a PlanSettings<'a>) -> Planner<'a> {
        let mut after = model.clone();
        after.version = step.to;
        Planner {
            step,
            spec: catalog::spec(step),
            before: model,
            after,
            settings,
            head: Vec::new(),
            body: Vec::new(),
            backup: BTreeMap::new(),
            local_changes: Vec::new(),
            notes: Vec::new(),
            bytes_to_write: 0,
        }
    }

    fn config(&self) -> &Config {
        self.settings.config
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

    fn stop_sites(&mut self) -> Result<(), PlanError> {
        let sites = apphost::sites(&self.before.apphost).map_err(|e| self.apphost_error(e))?;
        let templates = self.settings.config.commands.clone();
        for site in sites {
            let values = [("site", site.name.as_str())];
            let mut op = self.command(
                CommandPurpose::StopSite {
                    site: site.name.clone(),
                },
                &templates.stop_site,
                &values,
            );
            op.undo = Some(render(&templates.start_site, &values));
            self.head.push(Op::Command(op));
        }
        Ok(())
    }

    /// Renames, deletions and writes from the manifest, with local-change detection.
    fn files(
        &mut self,
        manifest: &Manifest,
        shipped: &ShippedSettings,
        layout: &Layout,
    ) -> Result<(), PlanError> {
        for rename in &layout.applied {
            if self.before.has_folder(&rename.from) {
                self.after.rename_folder(&rename.from, &rename.to);
                self.body.push(Op::RenameFolder(RenameFolderOp {
                    from: rename.from.clone(),
                    to: rename.to.clone(),
                }));
            } else {
                self.notes.push(format!(
                    "folder {} is not in the install; its rename to {} is skipped",
                    rename.from, rename.to
                ));
            }
        }
        for deletion in &manifest.deletions {
            let path = layout.actual(&deletion.path);
            let source = layout.source(&path);
            let Some(found) = self.before.files.get(&source).copied() else {
                self.notes
                    .push(format!("{path}: already absent (the package deletes it)"));
                continue;
            };
            if found.digest != deletion.expected
                && !self.accept_local_change(
                    &path,
                    LocalChangeKind::Modified {
                        expected: deletion.expected,
                        found: found.digest,
                    },
                )
            {
                continue;
            }
            self.backup.insert(source.clone(), found);
            self.after.files.remove(&path);
            self.body.push(Op::DeleteFile(DeleteFileOp {
                path,
                old: backed_up(&source, found),
            }));
        }
        for file in &manifest.files {
            let path = layout.actual(&file.path);
            let source = layout.source(&path);
            let found = self.before.files.get(&source).copied();
            let change = match (file.replaces, found) {
                (_, Some(f)) if f.digest == file.digest => None,
                (Some(expected), Some(f)) if f.digest != expected => {
                    Some(LocalChangeKind::Modified {
                        expected,
                        found: f.digest,
                    })
                }
                (Some(expected), None) => Some(LocalChangeKind::Missing { expected }),
                (None, Some(f)) => Some(LocalChangeKind::Unexpected { found: f.digest }),
                _ => None,
            };
            if let Some(kind) = change
                && !self.accept_local_change(&path, kind)
            {
                continue;
            }
            let replaces = found.map(|f| backed_up(&source, f));
            if let Some(f) = found {
                self.backup.insert(source.clone(), f);
            }
            self.bytes_to_write += file.size;
            if let Some(bytes) = shipped.get(&file.path) {
                self.after.settings.insert(path.clone(), bytes.clone());
            }
            self.after.files.insert(
                path.clone(),
                FileFact {
                    size: file.size,
                    digest: file.digest,
                },
            );
            self.body.push(Op::WriteFile(WriteFileOp {
                path,
                entry: file.entry_name(),
                size: file.size,
                digest: file.digest,
                replaces,
            }));
        }
        Ok(())
    }

    /// Records a local change; returns true if the op should still be planned (overwrite).
    fn accept_local_change(&mut self, path: &RelPath, kind: LocalChangeKind) -> bool {
        let change = LocalChange {
            path: path.clone(),
            kind,
        };
        let plan_it = match self.settings.local_changes {
            LocalChangePolicy::Refuse => false,
            LocalChangePolicy::Keep => {
                self.notes.push(format!("kept local change: {change}"));
                false
            }
            LocalChangePolicy::Overwrite => {
                self.notes
                    .push(format!("overwriting local change: {change}"));
                true
            }
        };
        self.local_changes.push(change);
        plan_it
    }

    /// Settings merges from the manifest, plus the optional URLs the config gives.
    fn settings(&mut self, manifest: &Manifest, layout: &Layout) -> Result<(), PlanError> {
        let mut edits: Vec<(RelPath, Vec<Change>)> = manifest
            .settings
            .iter()
            .map(|e| (layout.actual(&e.path), e.changes.clone()))
            .collect();
        for optional in self.spec.optional_settings {
            for (path, changes) in optional_changes(*optional, self.config()) {
                edits.push((layout.actual(&path), changes));
            }
        }
        for (path, changes) in edits {
            let Some(current) = self.after.settings.get(&path).cloned() else {
                return Err(PlanError::SettingsFileMissing {
                    step: self.step,
                    path,
                });
            };
            self.merge_settings(layout, &path, &current, changes.clone())?;
            // The environment overlays beside it override it key by key: the same renames and
            // removals apply to them (issue 19), each its own journaled edit.
            for overlay in self.after.settings_overlays(&path) {
                let bytes = self.after.settings[&overlay].clone();
                let kept = settings::overlay_changes(&bytes, &changes)
                    .map_err(|source| self.settings_error(&overlay, source))?;
                self.notes.push(match kept.len() {
                    0 => format!("settings overlay {overlay}: holds none of the keys {path}'s changes name; left as it is"),
                    n => format!("settings overlay {overlay}: {n} of {path}'s changes apply"),
                });
                self.merge_settings(layout, &overlay, &bytes, kept)?;
            }
        }
        Ok(())
    }

    fn settings_error(&self, path: &RelPath, source: settings::SettingsError) -> PlanError {
        PlanError::Settings {
            step: self.step,
            path: path.clone(),
            source,
        }
    }

    /// Plans one settings edit: merges `changes` into `current` (the bytes of `path` before
    /// the edit), backs the file up and advances the model.
    fn merge_settings(
        &mut self,
        layout: &Layout,
        path: &RelPath,
        current: &[u8],
        changes: Vec<Change>,
    ) -> Result<(), PlanError> {
        let merged = settings::merge(current, &changes)
            .map_err(|source| self.settings_error(path, source))?;
        self.notes
            .extend(merged.notes.iter().map(|note| format!("{path}: {note}")));
        if merged.bytes == current {
            return Ok(());
        }
        let source = layout.source(path);
        if let Some(fact) = self.before.files.get(&source) {
            self.backup.insert(source.clone(), *fact);
        }
        let before = Digest::of(current);
        let after = Digest::of(&merged.bytes);
        self.after.put_settings(path, merged.bytes);
        self.body.push(Op::EditSettings(EditSettingsOp {
            path: path.clone(),
            changes,
            before,
            after,
        }));
        Ok(())
    }

    fn databases(&mut self) -> Result<(), PlanError> {
        let mut ops: Vec<Op> = self.database_backups();
        for database in self.spec.new_databases {
            if let Some(feature) = database.only_with
                && !optional_configured(feature, self.config())
            {
                self.notes.push(format!(
                    "database {} skipped: {feature:?} is not configured",
                    database.default_name
                ));
                continue;
            }
            for op in self.database_ops(database)? {
                // Several databases may share one Windows identity: one login op per step.
                if matches!(op, Op::Sql(SqlOp::CreateLogin { .. })) && ops.contains(&op) {
                    continue;
                }
                ops.push(op);
            }
        }
        self.body.splice(0..0, ops);
        Ok(())
    }

    /// One backup op per database the install has before this step, if backups are asked
    /// for: the databases of the components installed here that exist at the step's source
    /// version, named as the config names them (defaults otherwise).
    fn database_backups(&mut self) -> Vec<Op> {
        let Some(backups) = self.settings.backups else {
            return Vec::new();
        };
        let from = self.step.from;
        let mut names: Vec<String> = Vec::new();
        for info in components::COMPONENTS.iter() {
            let Some((default_name, since)) = info.database else {
                continue;
            };
            let installed = [info.folder_before_4_3, info.folder_from_4_3]
                .iter()
                .filter_map(|folder| RelPath::new(folder).ok())
                .any(|folder| self.before.has_folder(&folder));
            if since > from || !installed {
                continue;
            }
            let name = self
                .settings
                .databases
                .names
                .get(info.key)
                .cloned()
                .unwrap_or_else(|| default_name.to_string());
            if !names.iter().any(|n| n.eq_ignore_ascii_case(&name)) {
                names.push(name);
            }
        }
        self.notes.push(format!(
            "{} database(s) backed up to {} before any change (COPY_ONLY: the DBA's backup chain \
             is not reset); the files stay after a rollback",
            names.len(),
            backups.folder
        ));
        names
            .into_iter()
            .map(|database| {
                let file = backups.file_for(&database, from);
                Op::Sql(SqlOp::BackupDatabase { database, file })
            })
            .collect()
    }

    fn database_ops(&self, database: &NewDatabase) -> Result<Vec<Op>, PlanError> {
        let planning = self.settings.databases;
        let name = planning
            .names
            .get(database.config_key)
            .cloned()
            .unwrap_or_else(|| database.default_name.to_string());
        let principal = match &planning.users {
            DatabaseUsers::SqlLogin(login) => Principal::SqlLogin(login.clone()),
            DatabaseUsers::AppPoolIdentities => {
                Principal::Windows(self.pool_identity_of(database.used_by)?)
            }
        };
        let mut ops = vec![SqlOp::CreateDatabase {
            database: name.clone(),
        }];
        for migration in sql::migrations_for(self.step.to, database.default_name) {
            ops.push(SqlOp::ApplyMigration {
                database: name.clone(),
                id: migration.id.to_string(),
                checksum: migration.checksum(),
            });
        }
        if let Principal::Windows(login) = &principal {
            ops.push(SqlOp::CreateLogin {
                login: login.clone(),
            });
        }
        ops.push(SqlOp::CreateUser {
            database: name.clone(),
            principal: principal.clone(),
        });
        let owner = database.license_manager_permissions
            && planning.license_manager == LicenseManagerPermission::DbOwner;
        let roles: &[&str] = if owner {
            &["db_owner"]
        } else {
            &["db_datareader", "db_datawriter"]
        };
        for role in roles {
            ops.push(SqlOp::AddRoleMember {
                database: name.clone(),
                role: role.to_string(),
                principal: principal.clone(),
            });
        }
        if database.license_manager_permissions && !owner {
            ops.push(SqlOp::GrantExecute {
                database: name,
                principal,
            });
        }
        Ok(ops.into_iter().map(Op::Sql).collect())
    }

    /// The Windows identity a component's app pool runs as, read from applicationHost.config
    /// (after this step's IIS edits, so new sites have their pools).
    fn pool_identity_of(&self, component: Component) -> Result<String, PlanError> {
        let pool = self.pool_of(component)?;
        if let Some(identity) = &self.config().windows_auth.app_pool_identity {
            return Ok(identity.clone());
        }
        let pools = apphost::app_pools(&self.after.apphost).map_err(|e| self.apphost_error(e))?;
        let found = pools
            .into_iter()
            .find(|p| p.name.eq_ignore_ascii_case(&pool));
        Ok(match found.and_then(|p| p.user_name) {
            Some(user) => user,
            None => format!("IIS APPPOOL\\{pool}"),
        })
    }

    /// The app pool of a component's site: from applicationHost.config if the site is there
    /// (before or after this step's edits), else the name a new site gets.
    fn pool_of(&self, component: Component) -> Result<String, PlanError> {
        let info = components::info(component);
        for bytes in [&self.after.apphost, &self.before.apphost] {
            let sites = apphost::sites(bytes).map_err(|e| self.apphost_error(e))?;
            let site = sites.iter().find(|s| {
                s.name == info.site_before_4_3
                    || s.name == info.site_from_4_3
                    || s.name == self.config().site(component).name
            });
            if let Some(site) = site {
                return Ok(site.app_pool.clone());
            }
        }
        Ok(self.config().site(component).name)
    }

    fn iis(&mut self, layout: &Layout) -> Result<(), PlanError> {
        for component in self.spec.site_renames {
            self.rename_site(*component, layout)?;
        }
        for component in self.spec.new_sites {
            self.add_site(*component, layout)?;
        }
        Ok(())
    }

    fn push_apphost_edit(&mut self, edit: Edit) -> Result<(), PlanError> {
        let current = self.after.apphost.clone();
        let edited = apphost::apply_edit(&current, &edit).map_err(|e| self.apphost_error(e))?;
        if edited == current {
            return Ok(());
        }
        self.body.push(Op::EditAppHost(EditAppHostOp {
            edit,
            before: Digest::of(&current),
            after: Digest::of(&edited),
        }));
        self.after.apphost = edited;
        Ok(())
    }

    fn rename_site(&mut self, component: Component, layout: &Layout) -> Result<(), PlanError> {
        let info = components::info(component);
        let sites = apphost::sites(&self.after.apphost).map_err(|e| self.apphost_error(e))?;
        let old_folder_suffix = format!("\\{}", info.folder_before_4_3).to_lowercase();
        let site = sites
            .iter()
            .find(|s| {
                s.physical_path.as_deref().is_some_and(|p| {
                    p.to_lowercase()
                        .trim_end_matches('\\')
                        .ends_with(&old_folder_suffix)
                })
            })
            .or_else(|| sites.iter().find(|s| s.name == info.site_before_4_3))
            .ok_or(PlanError::SiteNotFound {
                step: self.step,
                component: info.key,
                folder: info.folder_before_4_3.to_string(),
            })?;
        let new_folder = layout.folder_after(info.folder_from_4_3);
        let physical_path = site.physical_path.as_ref().and_then(|old| {
            let trimmed = old.trim_end_matches('\\');
            let prefix_len = trimmed.len().checked_sub(info.folder_before_4_3.len())?;
            let moved = new_folder != info.folder_before_4_3;
            moved.then(|| {
                (
                    old.clone(),
                    format!("{}{}", &trimmed[..prefix_len], new_folder),
                )
            })
        });
        let edit = Edit::RenameSite {
            from: site.name.clone(),
            to: self.config().site(component).name,
            physical_path,
        };
        self.push_apphost_edit(edit)
    }

    fn add_site(&mut self, component: Component, layout: &Layout) -> Result<(), PlanError> {
        let info = components::info(component);
        let site = self.config().site(component);
        let certificate = site
            .certificate
            .clone()
            .ok_or(PlanError::MissingCertificate {
                step: self.step,
                site: site.name.clone(),
                key: info.key,
            })?;
        let folder = layout.folder_after(info.folder_from_4_3);
        let new_site = NewSite {
            name: site.name.clone(),
            app_pool: site.name.clone(),
            physical_path: format!(
                "{}\\{}",
                self.config().iis_location().trim_end_matches('\\'),
                folder
            ),
            host: site.host.clone(),
            port: site.port,
            start: site.start,
        };
        apphost::validate_new_site(&new_site).map_err(|e| self.apphost_error(e))?;
        self.push_apphost_edit(Edit::AddSite(new_site))?;

        let templates = self.config().commands.clone();
        let port = site.port.to_string();
        let values = [
            ("site", site.name.as_str()),
            ("host", site.host.as_str()),
            ("port", port.as_str()),
            ("certificate", certificate.as_str()),
        ];
        let mut binding = self.command(
            CommandPurpose::SetSslBinding {
                site: site.name.clone(),
                host: site.host.clone(),
                port: site.port,
            },
            &templates.ssl_binding_add,
            &values,
        );
        binding.check = Some(render(&templates.ssl_binding_check, &values));
        binding.undo = Some(render(&templates.ssl_binding_remove, &values));
        self.body.push(Op::Command(binding));

        if self.settings.databases.users == DatabaseUsers::AppPoolIdentities {
            self.windows_auth_for_new_site(component, &site.name, &folder)?;
        }
        Ok(())
    }

    /// The guide's step 13 for a new site under Windows authentication.
    fn windows_auth_for_new_site(
        &mut self,
        component: Component,
        pool: &str,
        folder: &str,
    ) -> Result<(), PlanError> {
        let templates = self.config().commands.clone();
        let configured = self.config().windows_auth.app_pool_identity.clone();
        let hub_identity = self.pool_identity_of(Component::Hub)?;
        let identity = match configured {
            Some(identity) => identity,
            None if !hub_identity.starts_with("IIS APPPOOL\\") => hub_identity,
            None => self.pool_identity_of(component)?,
        };
        if !identity.starts_with("IIS APPPOOL\\") {
            let values = [("app_pool", pool), ("identity", identity.as_str())];
            let mut op = self.command(
                CommandPurpose::SetAppPoolIdentity {
                    app_pool: pool.to_string(),
                },
                &templates.app_pool_identity_set,
                &values,
            );
            op.undo = Some(render(&templates.app_pool_identity_reset, &values));
            self.body.push(Op::Command(op));
        }
        let certificate = self.config().windows_auth.sql_certificate.clone();
        let values = [
            ("certificate", certificate.as_str()),
            ("identity", identity.as_str()),
        ];
        let mut key = self.command(
            CommandPurpose::GrantCertificateKeyAccess {
                certificate: certificate.clone(),
                identity: identity.clone(),
            },
            &templates.certificate_key_grant,
            &values,
        );
        key.undo = Some(render(&templates.certificate_key_revoke, &values));
        self.body.push(Op::Command(key));

        let folder_path = format!(
            "{}\\{}",
            self.config().iis_location().trim_end_matches('\\'),
            folder
        );
        let values = [
            ("folder", folder_path.as_str()),
            ("identity", identity.as_str()),
        ];
        let mut acl = self.command(
            CommandPurpose::SetFolderAcl {
                folder: RelPath::new(folder)
                    .unwrap_or_else(|_| RelPath::new("unknown").expect("valid")),
                identity: identity.clone(),
            },
            &templates.folder_acl_grant,
            &values,
        );
        acl.undo = Some(render(&templates.folder_acl_revoke, &values));
        self.body.push(Op::Command(acl));
        Ok(())
    }

    /// Installed version, site starts and the guide's restarts.
    fn finish(&mut self) -> Result<(), PlanError> {
        let templates = self.config().commands.clone();
        let version = self.step.to.to_string();
        self.body.push(Op::Command(self.command(
            CommandPurpose::SetInstalledVersion {
                version: self.step.to,
            },
            &templates.installed_version_set,
            &[("version", version.as_str())],
        )));
        let sites = apphost::sites(&self.after.apphost).map_err(|e| self.apphost_error(e))?;
        for site in &sites {
            if !site.auto_start {
                continue;
            }
            let values = [("site", site.name.as_str())];
            let mut op = self.command(
                CommandPurpose::StartSite {
                    site: site.name.clone(),
                },
                &templates.start_site,
                &values,
            );
            op.undo = Some(render(&templates.stop_site, &values));
            self.body.push(Op::Command(op));
        }
        self.body.push(Op::Command(self.command(
            CommandPurpose::RestartService {
                service: RABBITMQ_SERVICE.to_string(),
            },
            &templates.service_restart,
            &[("service", RABBITMQ_SERVICE)],
        )));
        let pools = apphost::app_pools(&self.after.apphost).map_err(|e| self.apphost_error(e))?;
        for pool in pools {
            self.body.push(Op::Command(self.command(
                CommandPurpose::RecycleAppPool {
                    app_pool: pool.name.clone(),
                },
                &templates.app_pool_recycle,
                &[("app_pool", pool.name.as_str())],
            )));
        }
        self.body.push(Op::Command(self.command(
            CommandPurpose::RestartIis,
            &templates.iis_restart,
            &[],
        )));
        Ok(())
    }

    fn into_plan(
        self,
        manifest: &Manifest,
        layout: &Layout,
    ) -> Result<(StepPlan, InstallModel), PlanError> {
        if self.settings.local_changes == LocalChangePolicy::Refuse
            && !self.local_changes.is_empty()
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
        Ok((
            StepPlan {
                step: self.step,
                ops,
                local_changes: self.local_changes,
                extra_files,
                notes: self.notes,
                bytes_to_write: self.bytes_to_write,
            },
            self.after,
        ))
    }
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

fn optional_configured(feature: OptionalSetting, config: &Config) -> bool {
    match feature {
        OptionalSetting::ControlRoomApiUrl => config.optional.control_room_api_url.is_some(),
        OptionalSetting::Decision => config.optional.decision.is_some(),
    }
}

/// The settings changes an optional screen's answers make.
fn optional_changes(feature: OptionalSetting, config: &Config) -> Vec<(RelPath, Vec<Change>)> {
    let set = |key: &[&str], value: &str| Change::Set {
        key: key.iter().map(|k| k.to_string()).collect(),
        value_json: serde_json::Value::String(value.to_string()).to_string(),
        only_if_json: None,
    };
    let mut out = Vec::new();
    match feature {
        OptionalSetting::ControlRoomApiUrl => {
            if let Some(url) = &config.optional.control_room_api_url {
                let (file, key) = catalog::CONTROL_ROOM_API_URL_SETTING;
                out.push((
                    RelPath::new(file).expect("catalog path"),
                    vec![set(key, url)],
                ));
            }
        }
        OptionalSetting::Decision => {
            if let Some(decision) = &config.optional.decision {
                let (file, url_key) = catalog::DECISION_URL_SETTING;
                let (_, cert_key) = catalog::DECISION_CERTIFICATE_SETTING;
                out.push((
                    RelPath::new(file).expect("catalog path"),
                    vec![
                        set(url_key, &decision.model_service_url),
                        set(cert_key, &decision.certificate),
                    ],
                ));
            }
        }
    }
    out
}

/// Files in the install after the step that the target version does not ship (and that are
/// not settings files): someone else's, left alone.
fn extra_files(after: &InstallModel, manifest: &Manifest, layout: &Layout) -> Vec<RelPath> {
    let shipped: std::collections::BTreeSet<RelPath> = manifest
        .inventory
        .iter()
        .map(|e| layout.actual(&e.path))
        .collect();
    after
        .files
        .keys()
        .filter(|p| !shipped.contains(p) && !is_settings_file(p))
        .cloned()
        .collect()
}
