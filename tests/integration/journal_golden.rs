//! Golden journals: files written by earlier hubup builds, at least one per journal format
//! version, that every later build must still open, verify and decode to the same entries.
//!
//! `tests/golden/journal-v1.redb` was written by this build (format 1). Regenerate it only
//! when its content must change for a reason other than a format change (the variable names
//! the file; `journal_golden_variants` has the golden file with every op variant):
//!
//! ```sh
//! HUBUP_REGENERATE_GOLDEN=journal-v1.redb cargo test --test integration journal_golden
//! ```
//!
//! A new format version gets a new golden file next to it; the old ones stay, with their
//! expected content frozen in the test that reads them. Entry kinds appended to format 1 later
//! (new variants at the end, which old files simply do not hold) get a golden file of their
//! own, written by the build that added them: `journal-v1-sql.redb` (issue 12: what database
//! ops found before their change, a step waiting for its DBA, the DBA's work done) and
//! `journal-v1-recovery.redb` (issue 13: backup removal and repair records).
//! `journal_golden_variants` checks that together the golden files hold every payload kind
//! and every op variant.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::support::journal::{every_op, full_run_batches, path, run_started, step};
use hubup::{
    Digest, Entry, FileRepair, FoundFile, JOURNAL_FORMAT, Journal, Payload, RunId, RunOutcome,
    Version,
};

const MACHINE: &str = "HUB01";
const FIRST_MS: u64 = 1_795_980_304_000;
const FINISHED_RUN: RunId = RunId(*b"golden-v1-run-01");
const UNFINISHED_RUN: RunId = RunId(*b"golden-v1-run-02");
const RECOVERED_RUN: RunId = RunId(*b"golden-v1-run-03");

/// Set to the name of a golden file to write it again (see the module docs).
const REGENERATE_ENV: &str = "HUBUP_REGENERATE_GOLDEN";

/// A golden journal: its file under `tests/golden/` and the batches it was written from.
pub struct Golden {
    pub file: &'static str,
    pub batches: fn() -> Vec<(RunId, Vec<Payload>)>,
}

pub const GOLDEN_V1: Golden = Golden {
    file: "journal-v1.redb",
    batches: golden_v1_batches,
};

/// The second golden file of format 1: the payload kinds appended after `journal-v1.redb` was
/// written by issue 12 (what database ops found before their change, a step waiting for its
/// DBA, the DBA's work done) and the SQL ops `every_op` lacks (logins, backups).
pub const GOLDEN_V1_SQL: Golden = Golden {
    file: "journal-v1-sql.redb",
    batches: golden_v1_sql_batches,
};

/// The third golden file of format 1: the payload kinds appended by issue 13 (a backup
/// removal as its own phase, lost files planned for repair and rewritten).
pub const GOLDEN_V1_RECOVERY: Golden = Golden {
    file: "journal-v1-recovery.redb",
    batches: golden_v1_recovery_batches,
};

fn golden_path(golden: &Golden) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(golden.file)
}

/// What golden v1-recovery holds: a run 4.0 -> 4.1 whose step was rolled back and whose
/// backup removal a crash cut short, finished by the next hubup; then a run that ended
/// uncleanly and had two lost files rewritten from their package. Frozen like the above.
fn golden_v1_recovery_batches() -> Vec<(RunId, Vec<Payload>)> {
    let s = step(Version::V4_0);
    let mut batches: Vec<(RunId, Vec<Payload>)> = full_run_batches(Version::V4_0, Version::V4_1)
        .into_iter()
        .take(2)
        .map(|batch| (FINISHED_RUN, batch))
        .collect();
    batches.push((
        FINISHED_RUN,
        vec![
            Payload::RollbackStarted {
                step: s,
                reason: "op 3 failed".into(),
                target: s.from,
            },
            Payload::StepRolledBack {
                step: s,
                tree_after: Digest::of(b"tree 4.0"),
                apphost_after: Digest::of(b"apphost 4.0"),
                verified: true,
            },
        ],
    ));
    batches.push((FINISHED_RUN, vec![Payload::BackupRemoved { step: s }]));
    batches.push((
        FINISHED_RUN,
        vec![Payload::RunFinished {
            outcome: RunOutcome::RolledBack { version: s.from },
        }],
    ));
    let repair = |file: &str, found: Option<FoundFile>| FileRepair {
        step: s,
        path: path(file),
        entry: format!("payload/{file}"),
        size: 1234,
        digest: Digest::of(file.as_bytes()),
        found,
    };
    batches.push((
        RECOVERED_RUN,
        vec![run_started(
            Version::V4_0,
            Version::V4_1,
            hubup::ConfigRecord::from_pairs([("sql.server", "SQL01")]),
        )],
    ));
    batches.push((
        RECOVERED_RUN,
        vec![Payload::RepairPlanned {
            files: vec![
                repair(
                    "Hub/BluePrism.Hub.dll",
                    Some(FoundFile {
                        size: 0,
                        digest: Digest::of(b""),
                    }),
                ),
                repair("Hub/BluePrism.Hub.deps.json", None),
            ],
        }],
    ));
    batches.push((RECOVERED_RUN, vec![Payload::RepairDone { files: 2 }]));
    batches
}

/// What golden v1 holds, batch by batch: a finished run 4.0 -> 4.2 that uses every payload
/// kind and every op kind, then an unfinished run 4.2 -> 4.3 interrupted after an intent.
fn golden_v1_batches() -> Vec<(RunId, Vec<Payload>)> {
    let mut batches: Vec<(RunId, Vec<Payload>)> = full_run_batches(Version::V4_0, Version::V4_2)
        .into_iter()
        .map(|batch| (FINISHED_RUN, batch))
        .collect();
    let s = step(Version::V4_2);
    batches.push((
        UNFINISHED_RUN,
        vec![run_started(
            Version::V4_2,
            Version::V4_3,
            hubup::ConfigRecord::from_pairs([("sql.server", "SQL01")]),
        )],
    ));
    batches.push((
        UNFINISHED_RUN,
        vec![
            Payload::StepPlanned {
                step: s,
                ops: every_op(),
                package: hubup::Digest::of(b"package 4.3"),
                tree_before: hubup::Digest::of(b"tree 4.2"),
                apphost_before: hubup::Digest::of(b"apphost 4.2"),
            },
            Payload::OpIntent { step: s, index: 0 },
        ],
    ));
    batches
}

const SQL_RUN: RunId = RunId(*b"golden-v1-sql-01");

/// What golden v1-sql holds, batch by batch. Frozen like `golden_v1_batches`.
fn golden_v1_sql_batches() -> Vec<(RunId, Vec<Payload>)> {
    use hubup::{CommandLine, CommandOp, CommandPurpose, Op, OpOutcome, SqlBefore, SqlOp};
    let s = step(Version::V4_1);
    let ops = vec![
        Op::Sql(SqlOp::BackupDatabase {
            database: "HubDB".into(),
            file: r"D:\SQLBackups\HubDB_4.1_20261201T190000Z.bak".into(),
        }),
        Op::Sql(SqlOp::CreateDatabase {
            database: "LicenseManagerDB".into(),
        }),
        Op::Sql(SqlOp::CreateLogin {
            login: r"IIS APPPOOL\Blue Prism - License Manager".into(),
        }),
        Op::Command(CommandOp {
            purpose: CommandPurpose::StartSite {
                site: "Blue Prism - License Manager".into(),
            },
            apply: CommandLine {
                program: "appcmd.exe".into(),
                args: vec!["start".into(), "site".into()],
            },
            check: None,
            undo: None,
        }),
    ];
    let done = |index| Payload::OpDone {
        step: s,
        index,
        outcome: OpOutcome::Applied,
    };
    vec![
        (
            SQL_RUN,
            vec![run_started(
                Version::V4_1,
                Version::V4_2,
                hubup::ConfigRecord::from_pairs([(
                    "machine.id",
                    "0123456789abcdef0123456789abcdef",
                )]),
            )],
        ),
        (
            SQL_RUN,
            vec![Payload::StepPlanned {
                step: s,
                ops,
                package: hubup::Digest::of(b"package 4.2"),
                tree_before: hubup::Digest::of(b"tree 4.1"),
                apphost_before: hubup::Digest::of(b"apphost 4.1"),
            }],
        ),
        (SQL_RUN, vec![Payload::OpIntent { step: s, index: 0 }]),
        (
            SQL_RUN,
            vec![done(0), Payload::OpIntent { step: s, index: 1 }],
        ),
        (
            SQL_RUN,
            vec![Payload::SqlBefore {
                step: s,
                index: 1,
                before: SqlBefore::DatabaseAbsent {
                    server_time: "2026-12-01 19:00:00.003".into(),
                    token: "fedcba9876543210fedcba9876543210".into(),
                },
            }],
        ),
        (
            SQL_RUN,
            vec![done(1), Payload::OpIntent { step: s, index: 2 }],
        ),
        (
            SQL_RUN,
            vec![Payload::SqlBefore {
                step: s,
                index: 2,
                before: SqlBefore::Login { existed: false },
            }],
        ),
        (
            SQL_RUN,
            vec![
                done(2),
                Payload::AwaitingDba {
                    step: s,
                    script: r"C:\ProgramData\hubup\output\hubup-database.sql".into(),
                },
            ],
        ),
        (
            SQL_RUN,
            vec![
                Payload::RunResumed {},
                Payload::DbaWorkDone {
                    step: s,
                    verified: true,
                    how: "checked on SQL Server SQL01 (read only): 3 database op(s) done".into(),
                },
            ],
        ),
        (
            SQL_RUN,
            vec![
                Payload::DbaWorkDone {
                    step: s,
                    verified: false,
                    how: "confirmed by the operator".into(),
                },
                Payload::OpIntent { step: s, index: 3 },
            ],
        ),
    ]
}

/// The batch number's timestamp: one second apart.
fn batch_ms(batch: usize) -> u64 {
    FIRST_MS + 1000 * batch as u64
}

/// Writes the golden content to a new journal at `file`.
fn write_golden(golden: &Golden, file: &Path) {
    let mut journal = Journal::create(file).unwrap();
    journal.set_machine(MACHINE);
    for (number, (run, payloads)) in (golden.batches)().into_iter().enumerate() {
        let now = batch_ms(number);
        journal.set_clock(move || now);
        journal.append(run, &payloads).unwrap();
    }
}

/// The entries a golden file must decode to (hashes excepted, which verify checks).
fn expected(golden: &Golden) -> Vec<(u64, u64, RunId, Payload)> {
    let mut seq = 0;
    let mut out = Vec::new();
    for (number, (run, payloads)) in (golden.batches)().into_iter().enumerate() {
        for payload in payloads {
            seq += 1;
            out.push((seq, batch_ms(number), run, payload));
        }
    }
    out
}

/// A copy of a golden file in a temp dir (opening a journal lets redb update its bookkeeping,
/// and the committed file must stay as it was written).
pub fn golden_copy(golden: &Golden, dir: &Path) -> PathBuf {
    let path = golden_path(golden);
    if std::env::var(REGENERATE_ENV).is_ok_and(|name| name == golden.file) {
        // Several tests come here at once; write the file once, and let none copy it before
        // it is whole (the lock is held while it is written).
        static REGENERATED: Mutex<BTreeSet<&str>> = Mutex::new(BTreeSet::new());
        let mut written = REGENERATED.lock().unwrap();
        if written.insert(golden.file) {
            regenerate(golden, &path);
        }
    }
    let copy = dir.join(golden.file);
    std::fs::copy(&path, &copy).unwrap_or_else(|e| {
        panic!(
            "cannot read {} ({e}); write it with {REGENERATE_ENV}={}",
            path.display(),
            golden.file
        )
    });
    copy
}

fn regenerate(golden: &Golden, file: &Path) {
    let _ = std::fs::remove_file(file);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    write_golden(golden, file);
    // Squeeze out free pages so that the committed file stays small.
    let mut db = redb::Database::open(file).unwrap();
    while db.compact().unwrap() {}
}

/// Opens a copy of the golden file, verifies it, checks that it holds `runs` runs and decodes
/// to exactly the expected entries, and returns the journal and its entries.
pub fn open_and_check(golden: &Golden, dir: &Path, runs: u64) -> (Journal, Vec<Entry>) {
    let journal = Journal::open(golden_copy(golden, dir)).unwrap();
    let report = journal.verify().unwrap();
    let expected = expected(golden);
    assert_eq!(report.entries, expected.len() as u64);
    assert_eq!(report.runs, runs);

    let entries: Vec<Entry> = journal.entries().unwrap();
    assert_eq!(entries.len(), expected.len());
    for (entry, (seq, timestamp_ms, run, payload)) in entries.iter().zip(expected) {
        assert_eq!(entry.seq, seq);
        assert_eq!(entry.format, 1, "entry {seq}");
        assert_eq!(entry.timestamp_ms, timestamp_ms, "entry {seq}");
        assert_eq!(entry.run, run, "entry {seq}");
        assert_eq!(entry.machine, MACHINE, "entry {seq}");
        assert_eq!(entry.payload, payload, "entry {seq}");
    }
    (journal, entries)
}

/// This build writes the golden content byte for byte as the build that wrote the file did.
pub fn assert_written_the_same(golden: &Golden) {
    // The head hash covers every byte of every entry: equal heads mean this build encodes the
    // golden content exactly as the build that wrote it. Only meaningful while format 1 is
    // the current one; a new format keeps reading v1 (the test above) but writes differently.
    if JOURNAL_FORMAT != 1 {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let golden_head = Journal::open(golden_copy(golden, dir.path()))
        .unwrap()
        .head();
    let fresh = dir.path().join("fresh.redb");
    write_golden(golden, &fresh);
    let fresh_head = Journal::open(&fresh).unwrap().head();
    assert!(golden_head.is_some());
    assert_eq!(
        fresh_head, golden_head,
        "this build encodes entries differently from {}: a format change needs a new \
         JOURNAL_FORMAT and a new golden file, never a rewrite of an old one",
        golden.file
    );
}

#[test]
fn golden_v1_opens_verifies_and_decodes_to_the_expected_entries() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, entries) = open_and_check(&GOLDEN_V1, dir.path(), 2);
    let kinds: std::collections::BTreeSet<&str> =
        entries.iter().map(|e| e.payload.kind()).collect();
    assert_eq!(
        kinds.len(),
        13,
        "golden v1 holds every payload kind: {kinds:?}"
    );

    let unfinished = journal.unfinished_run().unwrap().unwrap();
    assert_eq!(unfinished.run, UNFINISHED_RUN);
    assert_eq!(unfinished.last_planned, Some(step(Version::V4_2)));
    assert_eq!(unfinished.last_committed, None);
}

#[test]
fn this_build_still_writes_format_1_byte_for_byte() {
    assert_written_the_same(&GOLDEN_V1);
}

#[test]
fn golden_v1_sql_decodes_and_this_build_writes_it_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let (_, entries) = open_and_check(&GOLDEN_V1_SQL, dir.path(), 1);
    let kinds: std::collections::BTreeSet<&str> =
        entries.iter().map(|e| e.payload.kind()).collect();
    for kind in ["sql_before", "awaiting_dba", "dba_work_done"] {
        assert!(kinds.contains(kind), "{kind}");
    }
    // The run state is rebuilt from it: the step waited for its DBA and heard back.
    let state = hubup::RunState::from_entries(&entries).unwrap();
    let open = state.open_step().unwrap();
    assert!(open.awaiting_dba.is_some() && open.dba_done);
    assert_eq!(open.sql_before.len(), 2);
    assert_written_the_same(&GOLDEN_V1_SQL);
}

#[test]
fn golden_v1_recovery_decodes_and_this_build_writes_it_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, entries) = open_and_check(&GOLDEN_V1_RECOVERY, dir.path(), 2);
    let kinds: std::collections::BTreeSet<&str> =
        entries.iter().map(|e| e.payload.kind()).collect();
    for kind in ["backup_removed", "repair_planned", "repair_done"] {
        assert!(kinds.contains(kind), "{kind}");
    }
    let unfinished = journal.unfinished_run().unwrap();
    assert_eq!(
        unfinished.map(|u| u.run),
        Some(RECOVERED_RUN),
        "the repaired run goes on"
    );
    assert_written_the_same(&GOLDEN_V1_RECOVERY);
}
