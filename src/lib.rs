//! hubup: a crash-safe, journaled upgrader for Blue Prism Hub and Interact 4.0 ... 4.5.
//!
//! The library holds every concept (versions, the journal, packages, fixtures, the planner and
//! executor); the `hubup` binary (`src/main.rs`, `src/cli/`) only parses arguments, calls into
//! it and maps errors to exit codes. The public API is flat: everything a caller needs is
//! re-exported here, and the modules themselves stay private. See ARCHITECTURE.md for the map.

mod access;
mod apphost;
mod catalog;
mod components;
mod config;
mod digest;
mod exec;
mod fixture;
mod fsx;
mod host;
mod install;
mod install_lock;
mod journal;
mod model;
mod net;
mod op;
mod package;
mod plan;
mod probe;
mod process;
mod rabbitmq;
mod relpath;
mod report;
mod secret;
mod settings;
mod sql;
mod status;
#[cfg(test)]
mod tidy;
mod tls_probe;
mod version;

pub use access::{
    AccessProblem, AccessReport, AccessWriter, check_access_paths, create_private_dir_all,
    make_private_file,
};
pub use apphost::{
    AppHostEdit, AppHostError, AppPool, Binding, NewSite, Site, app_pools, apphost_sites,
    apply_apphost_edit, default_pool_identity_type, pool_principal, validate_new_site,
};
pub use catalog::{NewDatabase, OptionalSetting, Prerequisite, STEPS, StepSpec, step_spec};
pub use components::info as component_info;
pub use components::{
    COMPONENTS, Component, ComponentInfo, INSTALLED_VERSION_KEY, INSTALLED_VERSION_VALUE,
    LIVE_DATA_FOLDERS, LIVE_DATA_PREFIX, RABBITMQ_SERVICE,
};
pub use config::{
    CommandTemplates, Config, ConfigError, ConfigPathError, ConfiguredSite, DISCOVERY_PATH,
    DecisionConfig, InitAnswers, InitSql, PLACEHOLDERS, ProbeConfig, SiteConfig, SiteProbe,
    Template, check_config_paths, journal_path_from_config, render_init_config, render_part,
    validate_https_url, validate_site,
};
pub use digest::{BadDigest, Digest};
pub use exec::{
    BackupUse, DbaWork, Engine, EngineError, Event, Finding, PlannedStep, PrepareError,
    PreparedRun, PrerequisiteReport, PruneReport, RunEnd, UpgradeRequest, Verdict,
    apply::BACKUP_MANIFEST,
    commands::CommandMismatch,
    faults::Faults,
    missing_package_detail,
    state::{RunState, StateError},
};
pub use fixture::{
    BLUE_PRISM_SERVICES, DEFAULT_IIS_LOCATION, FixtureError, FixtureSize, FixtureWritten,
    all_component_hosts, answer_settings, application_host_config, expected_files,
    generate_install, generate_package, generate_packages, sandbox_machine, sandbox_thumbprint,
};
pub use fsx::{FLUSH_VAR, check_flush_setting};
pub use host::{
    ASPNETCORE_RUNTIME, AdapterKind, Certificate, CertificateProblem, HostAdapter, HostConfig,
    HostError, HostScope, HostSetup, IIS_MODULE_LINE, InstalledRuntimes, MissingRuntime,
    SANDBOX_FORMAT, SandboxAce, SandboxBinding, SandboxHost, SandboxMachine, SandboxService,
    SandboxValue, ServiceState, SiteState, WINDOWS_DESKTOP_RUNTIME, WindowsHost, host_adapter,
    parse_utc, resolve_certificate,
};
pub use install::{
    BackupFolder, DetectError, DetectedInstall, FoundComponent, ScanError, ScannedFile,
    backup_folders, detect, digest_of_entries, scan_product_files, tree_digest,
};
pub use install_lock::{
    InstallLock, InstallLockError, LOCK_FILE, LockHolder, install_lock_holder, refuse_if_held,
};
pub use journal::{
    BadRunId, ChainFault, ConfigRecord, Entry, Head, Holder, JOURNAL_FORMAT, Journal, JournalError,
    MACHINE_ID_KEY, MAX_ENTRY_BYTES, MachineId, OPERATOR_KEY, PAYLOAD_KINDS, Payload, PlanIndex,
    REDACTED, RunId, RunOutcome, UnfinishedRun, VerifyReport, compact_utc, default_journal_path,
    export_json, format_utc, local_machine_name, local_operator_name, names_a_secret, now_ms,
    show_line,
};
pub use model::{FileFact, InstallModel, ObserveError, is_settings_file};
pub use op::{
    AclEntry, BackedUpFile, BackupOp, BrokerOp, CommandLine, CommandOp, CommandPurpose,
    DeleteFileOp, EditAppHostOp, EditSettingsOp, ExternalFile, FileRepair, FoundFile, HostChange,
    HostObject, HostOp, HostState, Op, OpOutcome, Principal, RenameFolderOp, SqlBefore, SqlOp,
    SslBinding, WriteFileOp,
};
pub use package::{
    Acceptance, BadKey, FIXTURE_SIGNER, KeyFileError, MAX_SIGNATURE_BYTES, PackageTrust, PublicKey,
    SIGNATURE_ENTRY, SIGNATURE_FORMAT, SIGNED_CONTEXT, SignError, Signer, SigningKey,
    fixture_signing_key, sign_package,
};
pub use package::{
    BOMB_MIN_SIZE, BOMB_RATIO, BuildError, ContentFn, Deletion, EntryProblem, FolderRename,
    InventoryEntry, MANIFEST_ENTRY, MANIFEST_FORMAT, MAX_MANIFEST_BYTES, MAX_PAYLOAD_BYTES,
    MAX_RENAMES, MAX_ZIP_RECORDS, Manifest, PAYLOAD_PREFIX, Package, PackageBuilder, PackageError,
    PackageFile, PluginUpdate, SettingsEdit,
};
pub use package::{
    INTERACT_RELEASE_ENTRY, INTERACT_VBO, MAX_RELEASE_BYTES, ReleaseComponent, VboError,
    VboRelease, interact_vbo_release, single_object_release,
};
pub use plan::{
    LocalChange, LocalChangeKind, LocalChangePolicy, PlanError, PlanInputs, ShippedSettings,
    StepPlan, broker_reminder, plan_step,
};
pub use probe::{Expect, ProbeResult, ProbeTarget, probe, probe_all, probe_targets};
pub use rabbitmq::{RabbitMqConfig, RabbitMqError};
pub use relpath::{RelPath, UnsafePath};
pub use report::{
    ConfigValue, FileChange, FileChangeKind, JournalProof, MachineState, OpReport, OpStatus, Probe,
    REPORT_FORMAT, ReceiptError, ReportError, ReportMachine, RunReport, RunResult, SetDiff,
    SettingsFileChange, SqlChange, StateDiff, StepOutcome, StepReport, ValueDiff,
    end_of_run_checklist, read_receipts,
};
pub use secret::{BadPassword, Secret};
pub use settings::{
    KeyPath, MergedSettings, SettingsChange, SettingsError, apply_settings_changes, merge_settings,
    settings_dotnet_view, settings_overlay_changes, settings_value,
};
pub use sql::{
    BackupFolderError, DATABASE_KEYS, DatabaseBackups, DatabasePlanning, DatabaseUsers,
    ExecuteTarget, Found, LicenseManagerChoice, LicenseManagerPermission, MIGRATIONS, Migration,
    PREVIOUS_DIR, Param, PreprovisionedTarget, ROLLBACK_FILE, SCRIPT_FILE, ScriptHeader,
    ScriptTarget, ServerAddress, ServerRoles, Session, SqlAuth, SqlConfig, SqlConfigError,
    SqlError, SqlMode, SqlTarget, migrations_for, quote_ident, quote_literal, render_script,
    script_for, split_batches, sql_target, undo_script_for,
};
pub use status::{
    AppHostStatus, Drift, InstallStatus, MachineStatus, RunStatus, StatusError, StatusSources,
    install_status, journal_run_status,
};
pub use tls_probe::{TlsAnswer, TlsProblem, TlsTarget, check_tls};
pub use version::{HUBUP_VERSION, RangeError, Step, UnknownVersion, Version, steps_between};
