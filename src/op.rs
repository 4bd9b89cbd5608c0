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
use crate::version::{Step, Version};

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
    /// A change to the machine outside the install tree (a site, pool or service's run state,
    /// an SSL binding, a private-key or folder ACL entry, a registry value) through the host
    /// adapter: observed and journaled before the change, verified after it, undone to what
    /// was observed. (Appended last: journals store the variant index.)
    Host(HostOp),
    /// A RabbitMQ feature flag the step enables through the broker's management API (the
    /// guide's `rabbitmqctl enable_feature_flag quorum_queue` for the step from 4.1, asked
    /// for with `--enable-quorum-queue`). RabbitMQ cannot disable a feature flag, so undo
    /// leaves it enabled, which the versions before it do not mind. (Appended last.)
    Broker(BrokerOp),
}

/// Enable feature flag `flag` on the broker whose management API is `management_url` (the
/// config's at planning time, recorded so the audit says which broker).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerOp {
    pub flag: String,
    pub management_url: String,
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
    pub edit: crate::apphost::AppHostEdit,
    /// Digest of the whole file before and after this edit (computed by the planner).
    pub before: Digest,
    pub after: Digest,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EditSettingsOp {
    pub path: RelPath,
    pub changes: Vec<crate::settings::SettingsChange>,
    pub before: Digest,
    pub after: Digest,
}

/// One product file a repair rewrites from a package (`Payload::RepairPlanned`). Not an op of
/// a plan: a repair restores what a committed step's `WriteFile` op already recorded, after a
/// lost write (a power cut on a disk or file system that did not keep flushed data). It has
/// no undo of its own: what it replaces is damage, and a later rollback of the step undoes
/// the step's write from the backup whatever the file holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRepair {
    /// The committed step whose op wrote the file; its package holds the content.
    pub step: Step,
    pub path: RelPath,
    /// Name of the payload entry in that package.
    pub entry: String,
    pub size: u64,
    pub digest: Digest,
    /// What the file held instead, or `None` if it was missing.
    pub found: Option<FoundFile>,
}

/// A file's size and content digest as found on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FoundFile {
    pub size: u64,
    pub digest: Digest,
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
    RecycleAppPool {
        app_pool: String,
    },
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
    /// A server login for a Windows identity (an app pool's), before its database users.
    /// Rollback drops it only if this run created it. (Last variant: journals store the index.)
    CreateLogin {
        login: String,
    },
    /// A `COPY_ONLY` backup of an existing database to a file on the SQL Server machine,
    /// before the run's first change (`--backup-databases`). Undo keeps the file: it is the
    /// administrator's safety net. (Appended last: journals store the variant index.)
    BackupDatabase {
        database: String,
        /// The backup file, as SQL Server sees it (`D:\SQLBackups\HubDB_4.0_<stamp>.bak`).
        file: String,
    },
}

/// What a database op found on the server just before it changed it, journaled (entry
/// `SqlBefore`) after the op's intent and before its change, so that a check or an undo after
/// a crash knows what was there before and what is the op's own doing. (Journaled: grows at
/// the end only, like the ops.)
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SqlBefore {
    /// `CREATE DATABASE`: the database did not exist when the server's clock read
    /// `server_time` (its local time, `yyyy-mm-dd hh:mi:ss.mmm`). The mark this attempt writes
    /// carries `token`. A database found later without a mark, owned by hubup's login and
    /// created at or after `server_time`, is this attempt's, cut off before its mark.
    DatabaseAbsent { server_time: String, token: String },
    /// `CREATE LOGIN`: whether the login existed before the op.
    Login { existed: bool },
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

impl Op {
    /// One line saying what the op changes, for plans, progress and the journal's text view.
    pub fn describe(&self) -> String {
        match self {
            Op::Backup(b) => format!(
                "back up {} file(s){} to {}",
                b.files.len(),
                if b.external.is_empty() {
                    ""
                } else {
                    " and applicationHost.config"
                },
                b.folder
            ),
            Op::WriteFile(w) => match &w.replaces {
                Some(old) => format!(
                    "replace {} ({} -> {}, {} bytes)",
                    w.path,
                    old.digest.short(),
                    w.digest.short(),
                    w.size
                ),
                None => format!("add {} ({}, {} bytes)", w.path, w.digest.short(), w.size),
            },
            Op::DeleteFile(d) => format!("delete {} ({})", d.path, d.old.digest.short()),
            Op::RenameFolder(r) => format!("rename folder {} -> {}", r.from, r.to),
            Op::EditAppHost(e) => format!(
                "applicationHost.config: {} ({} -> {})",
                describe_apphost_edit(&e.edit),
                e.before.short(),
                e.after.short()
            ),
            Op::EditSettings(e) => format!(
                "merge {} change(s) into {} ({} -> {})",
                e.changes.len(),
                e.path,
                e.before.short(),
                e.after.short()
            ),
            Op::Command(c) => format!(
                "{}: {}",
                describe_purpose(&c.purpose),
                command_line_text(&c.apply)
            ),
            Op::Sql(s) => describe_sql(s),
            Op::Host(h) => h.describe(),
            Op::Broker(b) => format!(
                "enable the RabbitMQ feature flag {} at {} (it stays enabled on rollback: \
                 RabbitMQ cannot disable one)",
                b.flag, b.management_url
            ),
        }
    }

    /// A short kind name (`write_file`, `sql`, ...), stable for JSON output.
    pub fn kind(&self) -> &'static str {
        match self {
            Op::Backup(_) => "backup",
            Op::WriteFile(_) => "write_file",
            Op::DeleteFile(_) => "delete_file",
            Op::RenameFolder(_) => "rename_folder",
            Op::EditAppHost(_) => "edit_apphost",
            Op::EditSettings(_) => "edit_settings",
            Op::Command(_) => "command",
            Op::Sql(_) => "sql",
            Op::Host(_) => "host",
            Op::Broker(_) => "broker",
        }
    }
}

fn describe_apphost_edit(edit: &crate::apphost::AppHostEdit) -> String {
    match edit {
        crate::apphost::AppHostEdit::RenameSite {
            from,
            to,
            physical_path,
        } => match physical_path {
            Some((old, new)) => format!("rename site {from:?} -> {to:?}, path {old} -> {new}"),
            None => format!("rename site {from:?} -> {to:?}"),
        },
        crate::apphost::AppHostEdit::AddSite(site) => format!(
            "add site {:?} (pool {:?}, https://{}:{}, {})",
            site.name, site.app_pool, site.host, site.port, site.physical_path
        ),
        crate::apphost::AppHostEdit::AddSiteWithPoolIdentity {
            site,
            identity_from_pool,
        } => format!(
            "add site {:?} (pool {:?} running as pool {:?} does, https://{}:{}, {})",
            site.name, site.app_pool, identity_from_pool, site.host, site.port, site.physical_path
        ),
    }
}

fn describe_purpose(purpose: &CommandPurpose) -> String {
    match purpose {
        CommandPurpose::StopSite { site } => format!("stop site {site:?}"),
        CommandPurpose::StartSite { site } => format!("start site {site:?}"),
        CommandPurpose::SetSslBinding { site, host, port } => {
            format!("SSL binding {host}:{port} for {site:?}")
        }
        CommandPurpose::SetAppPoolIdentity { app_pool } => {
            format!("set identity of app pool {app_pool:?}")
        }
        CommandPurpose::GrantCertificateKeyAccess {
            certificate,
            identity,
        } => format!("give {identity} full control of {certificate}'s private key"),
        CommandPurpose::SetFolderAcl { folder, identity } => {
            format!("give {identity} full control of {folder}")
        }
        CommandPurpose::RestartService { service } => format!("restart service {service:?}"),
        CommandPurpose::RecycleAppPool { app_pool } => format!("recycle app pool {app_pool:?}"),
        CommandPurpose::RestartIis => "restart IIS".to_string(),
        CommandPurpose::SetInstalledVersion { version } => {
            format!("record installed version {version}")
        }
    }
}

/// A command line as a person would type it.
pub fn command_line_text(line: &CommandLine) -> String {
    let quote = |s: &str| {
        if s.is_empty() || s.contains([' ', '"', '\'']) {
            format!("\"{}\"", s.replace('"', "\\\""))
        } else {
            s.to_string()
        }
    };
    std::iter::once(line.program.as_str())
        .chain(line.args.iter().map(String::as_str))
        .map(quote)
        .collect::<Vec<_>>()
        .join(" ")
}

fn principal_text(principal: &Principal) -> String {
    match principal {
        Principal::Windows(name) => format!("[{name}] (Windows)"),
        Principal::SqlLogin(name) => format!("[{name}] (SQL login)"),
    }
}

fn describe_sql(op: &SqlOp) -> String {
    match op {
        SqlOp::CreateDatabase { database } => format!("create database [{database}]"),
        SqlOp::ApplyMigration {
            database,
            id,
            checksum,
        } => format!(
            "apply migration {id} to [{database}] ({})",
            checksum.short()
        ),
        SqlOp::CreateUser {
            database,
            principal,
        } => format!("create user {} in [{database}]", principal_text(principal)),
        SqlOp::AddRoleMember {
            database,
            role,
            principal,
        } => format!(
            "add {} to {role} in [{database}]",
            principal_text(principal)
        ),
        SqlOp::GrantExecute {
            database,
            principal,
        } => format!(
            "GRANT EXECUTE to {} in [{database}]",
            principal_text(principal)
        ),
        SqlOp::CreateLogin { login } => format!("create login [{login}] FROM WINDOWS"),
        SqlOp::BackupDatabase { database, file } => {
            format!("back up database [{database}] to {file} (COPY_ONLY)")
        }
    }
}

// ---------------------------------------------------------------------------------------
// The machine outside the install tree

/// A change to one thing on the machine outside the install tree. The executor observes the
/// object's state first and journals it with the op's intent (`HostRecord::Observed`), then
/// applies the change through the host adapter and verifies it; undo puts the observed state
/// back, and changes nothing when the object was already as wanted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostOp {
    pub object: HostObject,
    pub change: HostChange,
}

/// Something on the machine that a host op observes and changes. Only Blue Prism's own sites,
/// pools and services are ever named here (the planner's rule).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum HostObject {
    /// An IIS site's run state (its auto-start lives in applicationHost.config).
    Site { name: String },
    /// An IIS application pool's run state (its identity lives in applicationHost.config).
    AppPool { name: String },
    /// A Windows service's run state (and start mode, observed only).
    Service { name: String },
    /// The http.sys SSL binding of an SNI host name and port (`netsh http ... hostnameport=`).
    SslBinding { host: String, port: u16 },
    /// One principal's entries in the ACL of a certificate's private key (LocalMachine\My).
    /// `certificate` is the name the config gives it, for people.
    CertificateKey {
        thumbprint: String,
        certificate: String,
        principal: String,
    },
    /// One principal's entries in the ACL of a folder of the install.
    FolderAcl { folder: RelPath, principal: String },
    /// A registry value (the installed version that Blue Prism's tools read).
    RegistryValue { key: String, name: String },
    /// IIS as a whole: what an IIS restart touches, every site's run state.
    Iis,
}

/// What a host op wants of its object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HostChange {
    /// Not running (a site, pool or service whose files the step replaces).
    Stop,
    /// Running again, if the `Stop` at op `stop_op` of the same step found it running.
    Start { stop_op: u32 },
    /// Restarted (a service) or recycled (a pool), if it runs; nothing to undo.
    Restart,
    /// The binding points at this certificate.
    Bind(SslBinding),
    /// The principal holds these rights (icacls notation: `F`, `(OI)(CI)F`).
    Grant { rights: String },
    /// The value holds this text.
    SetValue { value: String },
    /// IIS restarted, every site left in the run state it had.
    RestartIis,
}

/// An http.sys SSL binding: the certificate (thumbprint, 40 hex digits, upper case), the
/// owning application's GUID and the certificate's store.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SslBinding {
    pub thumbprint: String,
    pub app_id: String,
    pub store: String,
}

/// One ACL entry of a principal, as icacls shows it: inheritance flags and rights
/// (`(OI)(CI)(F)`, `(I)(RX)`, `(R,W)`); `(I)` marks an inherited entry.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AclEntry {
    pub rights: String,
    pub deny: bool,
}

/// An object's state as observed (journaled before a change; what undo puts back).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HostState {
    /// A site or pool: running (Started) or not.
    Running(bool),
    /// A service: running or not, and its start mode (`Auto`, `Manual`, `Disabled`, ...).
    Service { running: bool, start_mode: String },
    /// An SSL binding, or none.
    Binding(Option<SslBinding>),
    /// A principal's ACL entries (explicit and inherited), in the order the ACL holds them.
    Acl(Vec<AclEntry>),
    /// A registry value's text, or no such value.
    Value(Option<String>),
    /// IIS: every site's name and whether it runs.
    Sites(Vec<(String, bool)>),
}

impl HostObject {
    /// The object in words (`site "Blue Prism - Hub"`, `SSL binding hub.local:443`).
    pub fn describe(&self) -> String {
        match self {
            HostObject::Site { name } => format!("site {name:?}"),
            HostObject::AppPool { name } => format!("app pool {name:?}"),
            HostObject::Service { name } => format!("service {name:?}"),
            HostObject::SslBinding { host, port } => format!("SSL binding {host}:{port}"),
            HostObject::CertificateKey {
                thumbprint,
                certificate,
                principal,
            } => format!(
                "{principal}'s access to the private key of {certificate} ({})",
                short_thumbprint(thumbprint)
            ),
            HostObject::FolderAcl { folder, principal } => {
                format!("{principal}'s access to folder {folder}")
            }
            HostObject::RegistryValue { key, name } => format!("registry {key}\\{name}"),
            HostObject::Iis => "IIS".to_string(),
        }
    }
}

impl HostOp {
    /// One line saying what the op changes.
    pub fn describe(&self) -> String {
        let object = self.object.describe();
        match &self.change {
            HostChange::Stop => format!("stop {object} (if running)"),
            HostChange::Start { stop_op } => {
                format!("start {object} (if op {stop_op} found it running)")
            }
            HostChange::Restart => match self.object {
                HostObject::AppPool { .. } => format!("recycle {object} (if running)"),
                _ => format!("restart {object} (if running)"),
            },
            HostChange::Bind(binding) => format!(
                "{object} -> certificate {} (store {}, app {})",
                binding.thumbprint, binding.store, binding.app_id
            ),
            HostChange::Grant { rights } => format!("{object}: grant {rights} if missing"),
            HostChange::SetValue { value } => format!("{object} = {value:?}"),
            HostChange::RestartIis => {
                "restart IIS (iisreset), then every site back in the state it had".to_string()
            }
        }
    }
}

impl HostState {
    /// The state in words.
    pub fn describe(&self) -> String {
        match self {
            HostState::Running(true) => "running".into(),
            HostState::Running(false) => "stopped".into(),
            HostState::Service {
                running,
                start_mode,
            } => format!(
                "{} (start mode {start_mode})",
                if *running { "running" } else { "stopped" }
            ),
            HostState::Binding(None) => "no binding".into(),
            HostState::Binding(Some(b)) => format!(
                "certificate {} (store {}, app {})",
                b.thumbprint, b.store, b.app_id
            ),
            HostState::Acl(entries) if entries.is_empty() => "no entries".into(),
            HostState::Acl(entries) => entries
                .iter()
                .map(|e| {
                    if e.deny {
                        format!("deny {}", e.rights)
                    } else {
                        e.rights.clone()
                    }
                })
                .collect::<Vec<_>>()
                .join(" "),
            HostState::Value(None) => "no value".into(),
            HostState::Value(Some(v)) => format!("{v:?}"),
            HostState::Sites(sites) => sites
                .iter()
                .map(|(name, running)| {
                    format!("{name:?} {}", if *running { "running" } else { "stopped" })
                })
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

/// The first 8 characters of a thumbprint, as lists show it.
fn short_thumbprint(thumbprint: &str) -> &str {
    thumbprint.get(..8).unwrap_or(thumbprint)
}
