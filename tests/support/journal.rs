//! Shared by the journal's integration tests: realistic payloads (every op and payload kind),
//! sample journals, and direct access to the redb tables for tampering.
//! [`all_ops`] holds an example of every op variant (`journal_golden_variants` checks it).

use std::path::Path;

use hubup::{
    AclEntry, AppHostEdit, BackedUpFile, BackupOp, CommandLine, CommandOp, CommandPurpose,
    ConfigRecord, DeleteFileOp, Digest, EditAppHostOp, EditSettingsOp, ExternalFile, Journal,
    KeyPath, NewSite, Op, OpOutcome, Payload, Principal, RelPath, RenameFolderOp, RunId,
    RunOutcome, SettingsChange, SqlOp, SslBinding, Step, Version, WriteFileOp,
};
use hubup::{HostChange, HostObject, HostOp, HostState};

/// The journal's tables, as `store.rs` documents them (what an attacker with redb would use).
pub const ENTRIES: redb::TableDefinition<u64, &[u8]> = redb::TableDefinition::new("entries");
pub const META: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("meta");
/// Length of the stored header in front of each body (entry.rs).
pub const HEADER_LEN: usize = 66;

pub fn path(text: &str) -> RelPath {
    RelPath::new(text).unwrap()
}

pub fn backed_up(text: &str) -> BackedUpFile {
    BackedUpFile {
        path: path(text),
        digest: Digest::of(text.as_bytes()),
        size: text.len() as u64,
    }
}

/// One op of every kind (and every command purpose and SQL op) that existed when golden v1 was
/// written, as a plan would hold them. It lacks `SqlOp::CreateLogin` and
/// `SqlOp::BackupDatabase`, which came later: use [`all_ops`] everywhere but golden v1.
///
/// Frozen: the golden journal `tests/golden/journal-v1.redb` is written from this and
/// [`full_run_batches`]; changing either changes what the golden test expects. New op kinds go
/// into [`all_ops`] (and into a new golden file).
pub fn every_op() -> Vec<Op> {
    let login = Principal::Windows(r"IIS APPPOOL\Blue Prism - License Manager".to_string());
    let cmd = |program: &str, args: &[&str]| CommandLine {
        program: program.to_string(),
        args: args.iter().map(|a| a.to_string()).collect(),
    };
    let purposes = vec![
        CommandPurpose::StopSite {
            site: "Blue Prism - Hub".into(),
        },
        CommandPurpose::StartSite {
            site: "Blue Prism - Hub".into(),
        },
        CommandPurpose::SetSslBinding {
            site: "Blue Prism - License Manager".into(),
            host: "license.local".into(),
            port: 443,
        },
        CommandPurpose::SetAppPoolIdentity {
            app_pool: "Blue Prism - License Manager".into(),
        },
        CommandPurpose::GrantCertificateKeyAccess {
            certificate: "BPC_SQL_CERTIFICATE".into(),
            identity: r"IIS APPPOOL\Blue Prism - Hub".into(),
        },
        CommandPurpose::SetFolderAcl {
            folder: path("License Manager"),
            identity: r"IIS APPPOOL\Blue Prism - License Manager".into(),
        },
        CommandPurpose::RestartService {
            service: "RabbitMQ".into(),
        },
        CommandPurpose::RecycleAppPool {
            app_pool: "Blue Prism - Hub".into(),
        },
        CommandPurpose::RestartIis,
        CommandPurpose::SetInstalledVersion {
            version: Version::V4_2,
        },
    ];
    let mut ops = vec![
        Op::Backup(BackupOp {
            folder: path("backup_4.1"),
            files: vec![
                backed_up("Hub/BluePrism.Hub.dll"),
                backed_up("Hub/web.config"),
            ],
            external: vec![(ExternalFile::AppHostConfig, Digest::of(b"applicationHost"))],
        }),
        Op::WriteFile(WriteFileOp {
            path: path("Hub/BluePrism.Hub.dll"),
            entry: "payload/Hub/BluePrism.Hub.dll".into(),
            size: 123_456,
            digest: Digest::of(b"new dll"),
            replaces: Some(backed_up("Hub/BluePrism.Hub.dll")),
        }),
        Op::WriteFile(WriteFileOp {
            path: path("License Manager/appsettings.json"),
            entry: "payload/License Manager/appsettings.json".into(),
            size: 900,
            digest: Digest::of(b"new settings"),
            replaces: None,
        }),
        Op::DeleteFile(DeleteFileOp {
            path: path("Hub/obsolete.dll"),
            old: backed_up("Hub/obsolete.dll"),
        }),
        Op::RenameFolder(RenameFolderOp {
            from: path("IMS"),
            to: path("Authentication Server"),
        }),
        Op::EditAppHost(EditAppHostOp {
            edit: AppHostEdit::RenameSite {
                from: "Blue Prism - IMS".into(),
                to: "Blue Prism - Authentication Server".into(),
                physical_path: Some((
                    r"C:\Program Files (x86)\Blue Prism\IMS".into(),
                    r"C:\Program Files (x86)\Blue Prism\Authentication Server".into(),
                )),
            },
            before: Digest::of(b"apphost 0"),
            after: Digest::of(b"apphost 1"),
        }),
        Op::EditAppHost(EditAppHostOp {
            edit: AppHostEdit::AddSite(NewSite {
                name: "Blue Prism - License Manager".into(),
                app_pool: "Blue Prism - License Manager".into(),
                physical_path: r"C:\Program Files (x86)\Blue Prism\License Manager".into(),
                host: "license.local".into(),
                port: 443,
                start: true,
            }),
            before: Digest::of(b"apphost 1"),
            after: Digest::of(b"apphost 2"),
        }),
        Op::EditSettings(EditSettingsOp {
            path: path("Hub/appsettings.json"),
            changes: vec![
                SettingsChange::Add {
                    key: key(&["Features", "Decision"]),
                    value_json: "false".into(),
                },
                SettingsChange::Rename {
                    from: key(&["Ims"]),
                    to: key(&["AuthenticationServer"]),
                },
                SettingsChange::Remove {
                    key: key(&["Legacy"]),
                },
                SettingsChange::Set {
                    key: key(&["Logging", "LogLevel", "Default"]),
                    value_json: "\"Warning\"".into(),
                    only_if_json: Some("\"Information\"".into()),
                },
            ],
            before: Digest::of(b"settings 0"),
            after: Digest::of(b"settings 1"),
        }),
    ];
    ops.extend(purposes.into_iter().map(|purpose| {
        Op::Command(CommandOp {
            purpose,
            apply: cmd(r"C:\Windows\System32\inetsrv\appcmd.exe", &["stop", "site"]),
            check: Some(cmd("appcmd.exe", &["list", "site"])),
            undo: None,
        })
    }));
    ops.extend([
        Op::Sql(SqlOp::CreateDatabase {
            database: "LicenseManagerDB".into(),
        }),
        Op::Sql(SqlOp::ApplyMigration {
            database: "LicenseManagerDB".into(),
            id: "4.2/LicenseManagerDB/001_create.sql".into(),
            checksum: Digest::of(b"migration"),
        }),
        Op::Sql(SqlOp::CreateUser {
            database: "LicenseManagerDB".into(),
            principal: login.clone(),
        }),
        Op::Sql(SqlOp::AddRoleMember {
            database: "LicenseManagerDB".into(),
            role: "db_owner".into(),
            principal: Principal::SqlLogin("hubsvc".into()),
        }),
        Op::Sql(SqlOp::GrantExecute {
            database: "LicenseManagerDB".into(),
            principal: login,
        }),
    ]);
    ops
}

/// One op of every kind and of every variant inside ops (SQL op, command purpose, IIS edit,
/// settings change, principal, external file): [`every_op`] and then the variants added since
/// golden v1, in the order they were added. Append an example of each new variant here;
/// `journal_golden_variants::all_ops_hold_every_variant` fails until there is one.
pub fn all_ops() -> Vec<Op> {
    let mut ops = every_op();
    ops.extend([
        Op::Sql(SqlOp::CreateLogin {
            login: r"IIS APPPOOL\Blue Prism - License Manager".into(),
        }),
        Op::Sql(SqlOp::BackupDatabase {
            database: "HubDB".into(),
            file: r"D:\SQLBackups\HubDB_4.0_20260301T101500Z.bak".into(),
        }),
    ]);
    ops.extend(host_ops());
    // Issue 15: the broker's feature flag (golden v1-broker).
    ops.push(Op::Broker(hubup::BrokerOp {
        flag: "quorum_queue".into(),
        management_url: "https://rabbit01.corp.local:15671".into(),
    }));
    ops
}

/// The ops the host branch (issue 14) added after golden v1-all-ops: an IIS site whose pool
/// runs as another pool does, and one host op of every object and change kind (golden
/// v1-host holds them).
pub fn host_ops() -> Vec<Op> {
    let binding = SslBinding {
        thumbprint: "5A0C8E4E0B1B1B8B0E3E5F6A7B8C9D0E1F2A3B4C".into(),
        app_id: "{4dc3e181-e14b-4a21-b022-59fc669b0914}".into(),
        store: "MY".into(),
    };
    let host = |object, change| Op::Host(HostOp { object, change });
    vec![
        Op::EditAppHost(EditAppHostOp {
            edit: AppHostEdit::AddSiteWithPoolIdentity {
                site: NewSite {
                    name: "Blue Prism - Notification Center".into(),
                    app_pool: "Blue Prism - Notification Center".into(),
                    physical_path: r"C:\Program Files (x86)\Blue Prism\Notification Center".into(),
                    host: "notification.local".into(),
                    port: 443,
                    start: true,
                },
                identity_from_pool: "Blue Prism - Hub".into(),
            },
            before: Digest::of(b"apphost 2"),
            after: Digest::of(b"apphost 3"),
        }),
        host(
            HostObject::Site {
                name: "Blue Prism - Hub".into(),
            },
            HostChange::Stop,
        ),
        host(
            HostObject::AppPool {
                name: "Blue Prism - Hub".into(),
            },
            HostChange::Restart,
        ),
        host(
            HostObject::Service {
                name: "Blue Prism - Log Service".into(),
            },
            HostChange::Start { stop_op: 1 },
        ),
        host(
            HostObject::SslBinding {
                host: "licensemanager.local".into(),
                port: 443,
            },
            HostChange::Bind(binding.clone()),
        ),
        host(
            HostObject::CertificateKey {
                thumbprint: binding.thumbprint.clone(),
                certificate: "BPC_SQL_CERTIFICATE".into(),
                principal: r"CORP\svc-hub".into(),
            },
            HostChange::Grant { rights: "F".into() },
        ),
        host(
            HostObject::FolderAcl {
                folder: RelPath::new("License Manager").unwrap(),
                principal: r"IIS APPPOOL\Blue Prism - License Manager".into(),
            },
            HostChange::Grant {
                rights: "(OI)(CI)F".into(),
            },
        ),
        host(
            HostObject::RegistryValue {
                key: r"HKLM\SOFTWARE\Blue Prism Limited\Hub and Interact".into(),
                name: "Version".into(),
            },
            HostChange::SetValue {
                value: "4.2".into(),
            },
        ),
        host(HostObject::Iis, HostChange::RestartIis),
    ]
}

/// A host state of every kind, for the host ops of [`host_ops`] (from its second op on).
pub fn host_states() -> Vec<HostState> {
    vec![
        HostState::Running(false),
        HostState::Running(true),
        HostState::Service {
            running: true,
            start_mode: "Auto".into(),
        },
        HostState::Binding(Some(SslBinding {
            thumbprint: "1111111111111111111111111111111111111111".into(),
            app_id: "{00000000-1111-2222-3333-444444444444}".into(),
            store: "WebHosting".into(),
        })),
        HostState::Acl(vec![AclEntry {
            rights: "(R)".into(),
            deny: false,
        }]),
        HostState::Acl(Vec::new()),
        HostState::Value(Some("4.1".into())),
        HostState::Sites(vec![
            ("Default Web Site".into(), false),
            ("Blue Prism - Hub".into(), true),
        ]),
    ]
}

fn key(parts: &[&str]) -> KeyPath {
    parts.iter().map(|p| p.to_string()).collect()
}

pub fn step(from: Version) -> Step {
    Step::from_version(from).unwrap()
}

pub fn run_started(from: Version, to: Version, config: ConfigRecord) -> Payload {
    Payload::RunStarted {
        from,
        to,
        install_root: r"C:\Program Files (x86)\Blue Prism".into(),
        hubup_version: "0.1.0".into(),
        config,
    }
}

/// The batches of a whole run from `from` to `to` that uses every payload kind: each step is
/// planned with [`every_op`], runs its ops in batches (intent, done; one skipped, one already
/// present); the second step fails once, is rolled back, cancelled, resumed, and finishes.
/// Frozen, like [`every_op`].
pub fn full_run_batches(from: Version, to: Version) -> Vec<Vec<Payload>> {
    run_batches_planned_with(from, to, &every_op())
}

/// [`full_run_batches`] with each step planned with `ops` (whose first op is a backup).
pub fn run_batches_planned_with(from: Version, to: Version, ops: &[Op]) -> Vec<Vec<Payload>> {
    let config = ConfigRecord::from_pairs([
        ("install.root", r"C:\Program Files (x86)\Blue Prism"),
        ("sql.server", "SQL01"),
        ("sql.authentication", "sql"),
        ("sql.user", "hubsvc"),
    ]);
    let mut batches = vec![vec![run_started(from, to, config)]];
    let mut at = from;
    let mut index = 0;
    while at < to {
        let s = step(at);
        let ops = ops.to_vec();
        let count = ops.len() as u32;
        batches.push(vec![Payload::StepPlanned {
            step: s,
            ops,
            package: Digest::of(s.to.package_file_name().as_bytes()),
            tree_before: Digest::of(format!("tree {}", s.from).as_bytes()),
            apphost_before: Digest::of(format!("apphost {}", s.from).as_bytes()),
        }]);
        for op in 0..count {
            let outcome = match op {
                0 => OpOutcome::BackedUp {
                    manifest: Digest::of(b"backup manifest"),
                },
                3 => OpOutcome::Skipped {
                    reason: "--keep-local-changes".into(),
                },
                5 => OpOutcome::AlreadyPresent,
                _ => OpOutcome::Applied,
            };
            batches.push(vec![
                Payload::OpIntent { step: s, index: op },
                Payload::OpDone {
                    step: s,
                    index: op,
                    outcome,
                },
            ]);
        }
        if index == 1 {
            batches.push(vec![
                Payload::OpFailed {
                    step: s,
                    index: count - 1,
                    error: "SQL Server refused the login (error 18456)".into(),
                },
                Payload::RollbackStarted {
                    step: s,
                    reason: "op failed".into(),
                    target: s.from,
                },
                Payload::OpUndone { step: s, index: 1 },
                Payload::StepRolledBack {
                    step: s,
                    tree_after: Digest::of(format!("tree {}", s.from).as_bytes()),
                    apphost_after: Digest::of(format!("apphost {}", s.from).as_bytes()),
                    verified: true,
                },
                Payload::RunCancelled { step: Some(s) },
            ]);
            batches.push(vec![
                Payload::RunResumed {},
                Payload::Note {
                    step: Some(s),
                    text: "retrying after the DBA granted dbcreator".into(),
                },
            ]);
        }
        batches.push(vec![Payload::StepCommitted {
            step: s,
            tree_after: Digest::of(format!("tree {}", s.to).as_bytes()),
            apphost_after: Digest::of(format!("apphost {}", s.to).as_bytes()),
        }]);
        at = s.to;
        index += 1;
    }
    batches.push(vec![
        Payload::Note {
            step: None,
            text: "clear browser caches (Ctrl+F5)".into(),
        },
        Payload::RunFinished {
            outcome: RunOutcome::Completed { version: to },
        },
    ]);
    batches
}

/// A journal at `file` holding the runs of [`full_run_batches`] until it has at least
/// `min_entries` entries; fixed clock and machine. Returns how many entries it holds.
pub fn write_sample_journal(file: &Path, min_entries: u64) -> u64 {
    let mut journal = Journal::create(file).unwrap();
    journal.set_machine("HUB01");
    let mut clock = 1_795_980_304_000u64;
    let mut run_number = 0u8;
    while journal.head().map_or(0, |h| h.seq) < min_entries {
        run_number += 1;
        let run = RunId([run_number; 16]);
        for batch in full_run_batches(Version::V4_0, Version::V4_3) {
            clock += 1_250;
            let now = clock;
            journal.set_clock(move || now);
            journal.append(run, &batch).unwrap();
        }
    }
    journal.head().unwrap().seq
}

/// Opens `file` with redb directly and runs `change` in one write transaction.
pub fn tamper(file: &Path, change: impl FnOnce(&mut redb::Table<u64, &[u8]>)) {
    let db = redb::Database::open(file).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut table = txn.open_table(ENTRIES).unwrap();
        change(&mut table);
    }
    txn.commit().unwrap();
}

/// The stored record of entry `seq`.
pub fn record(table: &redb::Table<u64, &[u8]>, seq: u64) -> Vec<u8> {
    use redb::ReadableTable;
    table.get(seq).unwrap().unwrap().value().to_vec()
}
