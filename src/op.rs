//! The ops a step's plan is made of, as pure data: what each op changes, with every value it
//! needs to be applied, checked and undone later from the journal alone.
//!
//! These types are journaled (inside `StepPlanned` and the op entries), so they are part of the
//! journal's format: add variants and fields only at the end, never reorder or remove them, and
//! keep a golden journal of each format version (see `journal`). Secrets never appear here:
//! a command that needs a password names a secret (`{secret:NAME}`) that the executor resolves
//! when it runs the command and that is never written down.
//!
//! This module does no I/O. How each op is applied, checked and undone lives in the executor.

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::relpath::RelPath;
use crate::version::Version;

/// One op of a plan. Every op is idempotent: `apply` on an already-applied op changes nothing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// Make the step's backup folder (`backup_4.n`) complete and durable: every install file
    /// the step will replace, delete or edit, plus the external files (IIS config) it edits.
    Backup(BackupOp),
    /// Write a product file from the step's package (new file, or replacing an old one).
    WriteFile(WriteFileOp),
    /// Delete a product file (the package's manifest lists it as removed).
    DeleteFile(DeleteFileOp),
    /// Rename a folder of the install (IMS -> Authentication Server at 4.3).
    RenameFolder(RenameFolderOp),
    /// One minimal edit of IIS's `applicationHost.config`.
    EditAppHost(EditAppHostOp),
    /// A merge of a component's settings file (`appsettings.json`).
    EditSettings(EditSettingsOp),
    /// A command (appcmd, netsh, icacls, sc, iisreset, ...) rendered from a config template.
    Command(CommandOp),
    /// Database work through the SQL adapter (execution or script mode).
    Sql(SqlOp),
}

/// Where a file the step changes is kept in the backup folder, and what it held.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackedUpFile {
    /// Path of the file in the install before the step (source-version layout).
    pub path: RelPath,
    pub digest: Digest,
    pub size: u64,
}

/// A file outside the install root that the step edits (IIS's config).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExternalFile {
    /// IIS's `applicationHost.config`; its location comes from the config.
    AppHostConfig,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupOp {
    /// The backup folder, relative to the install root: `backup_4.n`.
    pub folder: RelPath,
    pub files: Vec<BackedUpFile>,
    pub external: Vec<(ExternalFile, Digest)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteFileOp {
    /// Where the file goes in the install (target-version layout).
    pub path: RelPath,
    /// Name of the payload entry in the package.
    pub entry: String,
    pub size: u64,
    pub digest: Digest,
    /// The file this replaces, if any: its digest and where it is in the backup folder.
    pub replaces: Option<BackedUpFile>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteFileOp {
    pub path: RelPath,
    /// What is deleted, and where the backup holds it.
    pub old: BackedUpFile,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenameFolderOp {
    pub from: RelPath,
    pub to: RelPath,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EditAppHostOp {
    pub edit: crate::apphost::Edit,
    /// Digest of the whole file before and after this edit (computed by the planner).
    pub before: Digest,
    pub after: Digest,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EditSettingsOp {
    pub path: RelPath,
    pub changes: Vec<crate::settings::Change>,
    pub before: Digest,
    pub after: Digest,
}

/// What a command op is for: lets the audit and the plan say it in words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CommandPurpose {
    StopSite {
        site: String,
    },
    StartSite {
        site: String,
    },
    SetSslBinding {
        site: String,
        host: String,
        port: u16,
    },
    SetAppPoolIdentity {
        app_pool: String,
    },
    GrantCertificateKeyAccess {
        certificate: String,
        identity: String,
    },
    SetFolderAcl {
        folder: RelPath,
        identity: String,
    },
    RestartService {
        service: String,
    },
    RestartAppPools,
    RestartIis,
    SetInstalledVersion {
        version: Version,
    },
}

/// A program and its arguments, already rendered from a template.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandLine {
    pub program: String,
    pub args: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandOp {
    pub purpose: CommandPurpose,
    pub apply: CommandLine,
    /// Exit 0 means the post-state already holds. Without one, resume applies again (the
    /// command must be idempotent).
    pub check: Option<CommandLine>,
    /// How to reverse it; `None` when there is nothing to reverse (a restart).
    pub undo: Option<CommandLine>,
}

/// Who a database user is for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Principal {
    /// A Windows login such as `IIS APPPOOL\Blue Prism - License Manager`.
    Windows(String),
    /// A SQL Server login (SQL authentication); never carries the password.
    SqlLogin(String),
}

/// Database work, executed by the SQL adapter or written out as a script for a DBA.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SqlOp {
    CreateDatabase {
        database: String,
    },
    ApplyMigration {
        database: String,
        /// `migrations/<version>/<database>/NNN_name.sql`, relative to `migrations/`.
        id: String,
        checksum: Digest,
    },
    CreateUser {
        database: String,
        principal: Principal,
    },
    AddRoleMember {
        database: String,
        role: String,
        principal: Principal,
    },
    GrantExecute {
        database: String,
        principal: Principal,
    },
}

/// What applying an op found and did, recorded in its `OpDone` entry. Undo reads it: for
/// example, rollback drops a database only if this machine's run created it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpOutcome {
    /// The op changed the install as planned.
    Applied,
    /// The post-state was already there (resume, or another machine did it); nothing changed.
    AlreadyPresent,
    /// The op was skipped on purpose (for example `--keep-local-changes`), with the reason.
    Skipped { reason: String },
    /// The backup is complete: the digest of the backup manifest.
    BackedUp { manifest: Digest },
}
