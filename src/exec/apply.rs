//! How each op kind is applied, checked and undone. Every function here is idempotent:
//! applying an applied op, or undoing an undone (or never applied) one, changes nothing.
//!
//! The executor calls these under the write-ahead rule (the op's intent is already durable);
//! file effects are flushed here, and the folders they touched are collected in
//! [`OpContext::dirty`] for the executor to flush before it records the op as done.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::apphost;
use crate::digest::Digest;
use crate::exec::commands::{self, CommandError};
use crate::fsx::{self, DirtyDirs, Staging, WriteError};
use crate::op::*;
use crate::package::{Package, PackageError, PackageFile};
use crate::plan::app_values::{MissingSecret, SettingsSecrets, resolve_secrets};
use crate::relpath::RelPath;
use crate::settings;
use crate::sql::{SqlError, SqlTarget};
use crate::version::Step;

/// Name of the file in a backup folder that lists what it holds (for people and for `check`).
pub const BACKUP_MANIFEST: &str = "hubup-backup.json";
/// Folder inside a backup folder where hubup keeps content-addressed copies of the config
/// files it edits (each edit's "before" content, so undo restores exact bytes).
pub const BLOBS_DIR: &str = ".hubup-blobs";

/// What the op functions work on.
pub struct OpContext<'a> {
    pub step: Step,
    pub root: &'a Path,
    pub apphost: &'a Path,
    /// This step's package, with its files by entry name (needed to apply file writes).
    pub package: Option<&'a Package>,
    pub package_files: &'a BTreeMap<String, PackageFile>,
    pub sql: &'a mut dyn SqlTarget,
    /// What settings merges put in place of their secret markers.
    pub secrets: &'a SettingsSecrets,
    /// For the database op at hand: what it found on the server before its change (its
    /// journaled `SqlBefore` entry), if it recorded one.
    pub sql_before: Option<SqlBefore>,
    pub dirty: &'a mut DirtyDirs,
    /// File writes wait here until the executor commits the batch (one flush for all).
    pub staging: &'a mut Staging,
    /// The message broker's management API (the config's `[rabbitmq]`), for broker ops.
    pub broker: &'a crate::rabbitmq::RabbitMqConfig,
}

impl OpContext<'_> {
    fn backup_dir(&self) -> PathBuf {
        self.root.join(self.step.from.backup_folder_name())
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.backup_dir().join(BLOBS_DIR).join(digest.to_hex())
    }
}

impl From<crate::host::HostError> for OpError {
    fn from(e: crate::host::HostError) -> Self {
        OpError::Host(Box::new(e))
    }
}

/// Why an op could not be applied, checked or undone.
#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error(transparent)]
    Package(#[from] PackageError),
    #[error("{path}: {source}")]
    AppHost {
        path: PathBuf,
        source: apphost::AppHostError,
    },
    #[error("{path}: {source}")]
    Settings {
        path: PathBuf,
        source: settings::SettingsError,
    },
    /// A settings merge needs a secret hubup could not read (checked before the first change
    /// of a run; a resume may meet it).
    #[error("{}: {missing}", path.display())]
    Secret {
        path: PathBuf,
        missing: MissingSecret,
    },
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error(transparent)]
    Sql(#[from] SqlError),
    /// Boxed: a tool's answer can be long, and this enum is returned everywhere.
    #[error(transparent)]
    Host(Box<crate::host::HostError>),
    /// A host op reached the file-op functions: the executor runs host ops itself
    /// (`exec::host`), since each journals what it observes before its change.
    #[error(transparent)]
    Broker(#[from] crate::rabbitmq::RabbitMqError),
    #[error("op {0} is a host op, run by the executor with its observation")]
    HostOpElsewhere(String),
    #[error(transparent)]
    Injected(#[from] crate::exec::faults::InjectedFault),
    /// A resumed backup finds another backup's copy in the step's backup folder.
    #[error(
        "{} already holds a different {file} ({}); it is not this step's backup: move the \
         folder away and try again",
        folder.display(),
        found.map(|d| d.short()).unwrap_or_default()
    )]
    ForeignBackup {
        folder: PathBuf,
        file: RelPath,
        found: Option<Digest>,
    },
    /// A file to back up has another size than when the plan was made (checked before the
    /// step's first change, so nothing of it has happened).
    #[error(
        "{} changed since the plan was made (expected {expected} bytes, found {}); nothing \
         of this step has been changed yet",
        path.display(),
        found.map(|s| format!("{s} bytes")).unwrap_or_else(|| "no file".into())
    )]
    SizeChangedSincePlan {
        path: PathBuf,
        expected: u64,
        found: Option<u64>,
    },
    /// A file to delete or edit has other content than when the plan was made.
    #[error(
        "{} changed since the plan was made (expected {}, found {})",
        path.display(),
        expected.short(),
        found.short()
    )]
    ChangedSincePlan {
        path: PathBuf,
        expected: Digest,
        found: Digest,
    },
    /// A file whose "before" content the backup saves changed since the plan was made
    /// (checked before the step's first change).
    #[error(
        "{} changed since the plan was made; nothing of this step has been changed yet",
        path.display()
    )]
    ChangedBeforeBackup { path: PathBuf },
    /// A file write ran without the step's package (undo paths open none).
    #[error("no package is open to write {path}")]
    NoPackage { path: RelPath },
    /// The package lacks the entry the plan names for a file.
    #[error("the package has no entry {entry:?} for {path}")]
    NotInPackage { entry: String, path: RelPath },
    /// A folder rename finds both its source and its target.
    #[error(
        "both {} and {} exist; move one of them away, then resume",
        from.display(),
        to.display()
    )]
    RenameBothExist { from: PathBuf, to: PathBuf },
    /// A folder rename finds neither its source nor its target.
    #[error("neither {} nor {} exists", from.display(), to.display())]
    RenameNeitherExists { from: PathBuf, to: PathBuf },
    /// Applying a planned edit gave other bytes than the planner computed.
    #[error(
        "editing {} gave different bytes than planned; nothing was written",
        path.display()
    )]
    EditMismatch { path: PathBuf },
    /// Undoing an edit finds the file neither as hubup left it nor as it was before. Boxed:
    /// its two paths and digests (129 bytes with Windows paths) would make every
    /// `Result<_, OpError>` that large.
    #[error(transparent)]
    ChangedSinceEdit(Box<ChangedSinceEdit>),
    /// The saved "before" copy of an edited file does not match its digest.
    #[error("the saved copy {} is damaged", blob.display())]
    DamagedBlob { blob: PathBuf },
    /// The backup copy a restore needs is not there.
    #[error(
        "the backup copy {} is missing, so {} cannot be restored",
        copy.display(),
        target.display()
    )]
    BackupCopyMissing { copy: PathBuf, target: PathBuf },
}

/// An edited file that undo finds neither as hubup left it nor as it was before: someone
/// changed it since, so undo leaves it alone and names the saved copy to restore by hand.
#[derive(Debug, thiserror::Error)]
#[error(
    "{} changed after hubup edited it (expected {}, found {}); restore it by hand from {}, \
     then run the rollback again",
    path.display(),
    expected.short(),
    found.map(|d| d.short()).unwrap_or_else(|| "no file".into()),
    blob.display()
)]
pub struct ChangedSinceEdit {
    pub path: PathBuf,
    /// What hubup's edit left.
    pub expected: Digest,
    pub found: Option<Digest>,
    /// The saved "before" copy to restore by hand.
    pub blob: PathBuf,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> OpError + '_ {
    move |source| OpError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Digest of the file at `path`, or `None` if there is no file.
fn digest_of(path: &Path) -> Result<Option<Digest>, OpError> {
    match Digest::of_file(path) {
        Ok((digest, _)) => Ok(Some(digest)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(OpError::Io {
            path: path.to_path_buf(),
            source: e,
        }),
    }
}

pub fn apply(ctx: &mut OpContext<'_>, op: &Op) -> Result<OpOutcome, OpError> {
    match op {
        Op::Backup(b) => backup(ctx, b),
        Op::WriteFile(w) => write_file(ctx, w),
        Op::DeleteFile(d) => delete_file(ctx, d),
        Op::RenameFolder(r) => rename_folder(ctx, r),
        Op::EditAppHost(e) => {
            let path = ctx.apphost.to_path_buf();
            edit_file(ctx, &path, e.before, e.after, |bytes| {
                apphost::apply_apphost_edit(bytes, &e.edit).map_err(|source| OpError::AppHost {
                    path: path.clone(),
                    source,
                })
            })
        }
        Op::EditSettings(e) => {
            let path = e.path.under(ctx.root);
            let changes =
                resolve_secrets(&e.changes, ctx.secrets).map_err(|missing| OpError::Secret {
                    path: path.clone(),
                    missing,
                })?;
            edit_file(ctx, &path, e.before, e.after, |bytes| {
                settings::apply_settings_changes(bytes, &changes).map_err(|source| {
                    OpError::Settings {
                        path: path.clone(),
                        source,
                    }
                })
            })
        }
        Op::Command(c) => {
            commands::run(&c.apply)?;
            Ok(OpOutcome::Applied)
        }
        Op::Sql(s) => Ok(ctx.sql.apply(s, ctx.sql_before.as_ref())?),
        Op::Host(h) => Err(OpError::HostOpElsewhere(h.describe())),
        Op::Broker(b) => {
            if ctx
                .broker
                .feature_flag_enabled(&b.management_url, &b.flag, BROKER_TIMEOUT)?
            {
                return Ok(OpOutcome::AlreadyPresent);
            }
            ctx.broker
                .enable_feature_flag(&b.management_url, &b.flag, BROKER_TIMEOUT)?;
            Ok(OpOutcome::Applied)
        }
    }
}

/// How long one call to the broker's management API may take.
const BROKER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// True if the op's post-state already holds (resume uses it for ops with an intent and no
/// done record).
pub fn check(ctx: &mut OpContext<'_>, op: &Op) -> Result<bool, OpError> {
    match op {
        Op::Backup(b) => {
            let manifest = ctx.backup_dir().join(BACKUP_MANIFEST);
            Ok(digest_of(&manifest)? == Some(Digest::of(&backup_manifest_bytes(ctx.step, b))))
        }
        Op::WriteFile(w) => Ok(digest_of(&w.path.under(ctx.root))? == Some(w.digest)),
        Op::DeleteFile(d) => Ok(!d.path.under(ctx.root).exists()),
        Op::RenameFolder(r) => {
            Ok(!r.from.under(ctx.root).exists() && r.to.under(ctx.root).is_dir())
        }
        Op::EditAppHost(e) => Ok(digest_of(ctx.apphost)? == Some(e.after)),
        Op::EditSettings(e) => Ok(digest_of(&e.path.under(ctx.root))? == Some(e.after)),
        Op::Command(c) => match &c.check {
            Some(line) => Ok(commands::check(line)?),
            None => Ok(false),
        },
        Op::Sql(s) => Ok(ctx.sql.check(s, ctx.sql_before.as_ref())?),
        Op::Host(h) => Err(OpError::HostOpElsewhere(h.describe())),
        Op::Broker(b) => {
            Ok(ctx
                .broker
                .feature_flag_enabled(&b.management_url, &b.flag, BROKER_TIMEOUT)?)
        }
    }
}

/// Reverses the op, if it took effect. `outcome` is what its done record said, if it has one.
pub fn undo(ctx: &mut OpContext<'_>, op: &Op, outcome: Option<&OpOutcome>) -> Result<(), OpError> {
    if matches!(outcome, Some(OpOutcome::Skipped { .. })) {
        return Ok(());
    }
    match op {
        // The backup is the rollback's source; the executor removes it after the restored
        // install has been verified.
        Op::Backup(_) => Ok(()),
        Op::WriteFile(w) => undo_write(ctx, w),
        Op::DeleteFile(d) => {
            let target = d.path.under(ctx.root);
            if digest_of(&target)? == Some(d.old.digest) {
                return Ok(());
            }
            restore_from_backup(ctx, &d.old, &target)
        }
        Op::RenameFolder(r) => rename_folder(
            ctx,
            &RenameFolderOp {
                from: r.to.clone(),
                to: r.from.clone(),
            },
        )
        .map(|_| ()),
        Op::EditAppHost(e) => {
            let path = ctx.apphost.to_path_buf();
            restore_blob(ctx, &path, e.before, e.after)
        }
        Op::EditSettings(e) => {
            let path = e.path.under(ctx.root);
            restore_blob(ctx, &path, e.before, e.after)
        }
        Op::Command(c) => match &c.undo {
            Some(line) => Ok(commands::run(line)?),
            None => Ok(()),
        },
        Op::Sql(s) => Ok(ctx.sql.undo(s, outcome, ctx.sql_before.as_ref())?),
        Op::Host(h) => Err(OpError::HostOpElsewhere(h.describe())),
        // RabbitMQ cannot disable a feature flag: it stays enabled, which the earlier versions
        // do not mind (they declare classic queues). The op's description says so.
        Op::Broker(_) => Ok(()),
    }
}

/// The backup folder's own listing: a pure function of the op, so `check` can compare digests.
pub fn backup_manifest_bytes(step: Step, op: &BackupOp) -> Vec<u8> {
    let listing = serde_json::json!({
        "step": step.to_string(),
        "files": op.files,
        "external": op.external.iter().map(|(file, digest)| serde_json::json!({
            "file": format!("{file:?}"),
            "digest": digest,
        })).collect::<Vec<_>>(),
    });
    let mut bytes = serde_json::to_vec_pretty(&listing).expect("JSON of plain data");
    bytes.push(b'\n');
    bytes
}

fn backup(ctx: &mut OpContext<'_>, op: &BackupOp) -> Result<OpOutcome, OpError> {
    let dir = op.folder.under(ctx.root);
    fsx::create_dir_all(&dir).map_err(io_err(&dir))?;
    for file in &op.files {
        let source = file.path.under(ctx.root);
        let dest = file.path.under(&dir);
        if dest.exists() {
            // Resumed: the copy must be this step's (hashing is only paid here).
            match digest_of(&dest)? {
                Some(existing) if existing == file.digest => continue,
                found => {
                    return Err(OpError::ForeignBackup {
                        folder: dir,
                        file: file.path.clone(),
                        found,
                    });
                }
            }
        }
        // The content was hashed when the run started (or written and verified by an earlier
        // step) with every site stopped since; a size check catches a file changed behind our
        // back without reading the install again, and the rollback's final verification
        // compares every digest anyway.
        let size = std::fs::metadata(&source).map(|m| m.len()).ok();
        if size != Some(file.size) {
            return Err(OpError::SizeChangedSincePlan {
                path: source,
                expected: file.size,
                found: size,
            });
        }
        if let Some(parent) = dest.parent() {
            fsx::create_dir_all(parent).map_err(io_err(parent))?;
        }
        fsx::link_or_copy(&source, &dest).map_err(io_err(&dest))?;
        ctx.dirty.touch(&dest);
    }
    for (file, digest) in &op.external {
        match file {
            ExternalFile::AppHostConfig => {
                let path = ctx.apphost.to_path_buf();
                save_blob(ctx, &path, *digest)?;
            }
        }
    }
    ctx.dirty.sync_all().map_err(io_err(&dir))?;
    let listing = backup_manifest_bytes(ctx.step, op);
    let manifest = dir.join(BACKUP_MANIFEST);
    fsx::write_bytes(&manifest, &listing)?;
    Ok(OpOutcome::BackedUp {
        manifest: Digest::of(&listing),
    })
}

fn write_file(ctx: &mut OpContext<'_>, op: &WriteFileOp) -> Result<OpOutcome, OpError> {
    let target = op.path.under(ctx.root);
    let package = ctx.package.ok_or_else(|| OpError::NoPackage {
        path: op.path.clone(),
    })?;
    let file = ctx
        .package_files
        .get(&op.entry)
        .ok_or_else(|| OpError::NotInPackage {
            entry: op.entry.clone(),
            path: op.path.clone(),
        })?;
    if let Some(parent) = target.parent() {
        fsx::create_dir_all(parent).map_err(io_err(parent))?;
    }
    let mut produce = |out: &mut dyn std::io::Write| {
        package
            .copy_file_to(file, out)
            .map(|_| ())
            .map_err(std::io::Error::other)
    };
    ctx.staging
        .stage(&target, &mut produce, Some((op.size, op.digest)))?;
    Ok(OpOutcome::Applied)
}

fn undo_write(ctx: &mut OpContext<'_>, op: &WriteFileOp) -> Result<(), OpError> {
    let target = op.path.under(ctx.root);
    let temp = fsx::temp_path_for(&target);
    fsx::remove_file(&temp).map_err(io_err(&temp))?;
    match &op.replaces {
        Some(old) => {
            if digest_of(&target)? == Some(old.digest) {
                return Ok(());
            }
            restore_from_backup(ctx, old, &target)
        }
        None => {
            fsx::remove_file(&target).map_err(io_err(&target))?;
            Ok(())
        }
    }
}

fn delete_file(ctx: &mut OpContext<'_>, op: &DeleteFileOp) -> Result<OpOutcome, OpError> {
    let target = op.path.under(ctx.root);
    match digest_of(&target)? {
        None => Ok(OpOutcome::AlreadyPresent),
        Some(found) if found == op.old.digest => {
            fs::remove_file(&target).map_err(io_err(&target))?;
            ctx.dirty.touch(&target);
            Ok(OpOutcome::Applied)
        }
        Some(found) => Err(OpError::ChangedSincePlan {
            path: target,
            expected: op.old.digest,
            found,
        }),
    }
}

fn rename_folder(ctx: &mut OpContext<'_>, op: &RenameFolderOp) -> Result<OpOutcome, OpError> {
    let from = op.from.under(ctx.root);
    let to = op.to.under(ctx.root);
    match (from.exists(), to.exists()) {
        (true, false) => {
            if let Some(parent) = to.parent() {
                fsx::create_dir_all(parent).map_err(io_err(parent))?;
            }
            fsx::rename(&from, &to).map_err(io_err(&from))?;
            Ok(OpOutcome::Applied)
        }
        (false, true) => Ok(OpOutcome::AlreadyPresent),
        (true, true) => Err(OpError::RenameBothExist { from, to }),
        (false, false) => Err(OpError::RenameNeitherExists { from, to }),
    }
}

/// Applies an edit of a config file whose before/after digests the planner computed: saves the
/// "before" bytes as a blob first (so undo restores them exactly), then writes durably.
fn edit_file(
    ctx: &mut OpContext<'_>,
    path: &Path,
    before: Digest,
    after: Digest,
    edit: impl FnOnce(&[u8]) -> Result<Vec<u8>, OpError>,
) -> Result<OpOutcome, OpError> {
    let current = fs::read(path).map_err(io_err(path))?;
    let found = Digest::of(&current);
    if found == after {
        return Ok(OpOutcome::AlreadyPresent);
    }
    if found != before {
        return Err(OpError::ChangedSincePlan {
            path: path.to_path_buf(),
            expected: before,
            found,
        });
    }
    let edited = edit(&current)?;
    if Digest::of(&edited) != after {
        return Err(OpError::EditMismatch {
            path: path.to_path_buf(),
        });
    }
    save_blob_bytes(ctx, before, &current)?;
    fsx::write_bytes(path, &edited)?;
    Ok(OpOutcome::Applied)
}

/// Undoes an edit: the file goes back to its "before" bytes, from the blob saved at apply.
fn restore_blob(
    ctx: &mut OpContext<'_>,
    path: &Path,
    before: Digest,
    after: Digest,
) -> Result<(), OpError> {
    // An edit interrupted before its rename leaves only its temp file behind.
    let temp = fsx::temp_path_for(path);
    fsx::remove_file(&temp).map_err(io_err(&temp))?;
    let found = digest_of(path)?;
    if found == Some(before) {
        return Ok(());
    }
    let blob = ctx.blob_path(&before);
    if found != Some(after) {
        return Err(OpError::ChangedSinceEdit(Box::new(ChangedSinceEdit {
            path: path.to_path_buf(),
            expected: after,
            found,
            blob,
        })));
    }
    let bytes = fs::read(&blob).map_err(io_err(&blob))?;
    if Digest::of(&bytes) != before {
        return Err(OpError::DamagedBlob { blob });
    }
    fsx::write_bytes(path, &bytes)?;
    Ok(())
}

fn save_blob(ctx: &mut OpContext<'_>, source: &Path, digest: Digest) -> Result<(), OpError> {
    let bytes = fs::read(source).map_err(io_err(source))?;
    if Digest::of(&bytes) != digest {
        return Err(OpError::ChangedBeforeBackup {
            path: source.to_path_buf(),
        });
    }
    save_blob_bytes(ctx, digest, &bytes)
}

fn save_blob_bytes(ctx: &mut OpContext<'_>, digest: Digest, bytes: &[u8]) -> Result<(), OpError> {
    let blob = ctx.blob_path(&digest);
    if digest_of(&blob)? == Some(digest) {
        return Ok(());
    }
    let dir = ctx.backup_dir().join(BLOBS_DIR);
    fsx::create_dir_all(&dir).map_err(io_err(&dir))?;
    fsx::write_bytes(&blob, bytes)?;
    Ok(())
}

/// Puts the backup's copy of `old` back at `target` (a hard link where possible), durably.
fn restore_from_backup(
    ctx: &mut OpContext<'_>,
    old: &BackedUpFile,
    target: &Path,
) -> Result<(), OpError> {
    let source = old.path.under(&ctx.backup_dir());
    if !source.is_file() {
        return Err(OpError::BackupCopyMissing {
            copy: source,
            target: target.to_path_buf(),
        });
    }
    if let Some(parent) = target.parent() {
        fsx::create_dir_all(parent).map_err(io_err(parent))?;
    }
    let temp = fsx::temp_path_for(target);
    fsx::remove_file(&temp).map_err(io_err(&temp))?;
    fsx::link_or_copy(&source, &temp).map_err(io_err(&temp))?;
    fs::rename(&temp, target).map_err(io_err(target))?;
    ctx.dirty.touch(target);
    Ok(())
}
