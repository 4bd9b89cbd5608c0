//! Golden journals: files written by earlier hubup builds, one per journal format version,
//! that every later build must still open, verify and decode to the same entries.
//!
//! `tests/golden/journal-v1.redb` was written by this build (format 1). Regenerate it only
//! when its content must change for a reason other than a format change:
//!
//! ```sh
//! HUBUP_REGENERATE_GOLDEN=1 cargo test --test journal_golden     # or =FILE for one of them
//! ```
//!
//! A new format version gets a new golden file next to it; the old ones stay, with their
//! expected content frozen in the test that reads them. Entry kinds added to format 1 later
//! (appended variants, which old files simply do not hold) get a golden file of their own,
//! written by the build that added them: `journal-v1-sql.redb` (what database ops found
//! before their change, a step waiting for its DBA, the DBA's work done) and
//! `journal-v1-recovery.redb` (backup removal and repair records); together the golden files
//! hold every payload kind.

mod journal_common;

use std::path::{Path, PathBuf};

use hubup::{
    Digest, Entry, FileRepair, FoundFile, JOURNAL_FORMAT, Journal, PAYLOAD_KINDS, Payload, RunId,
    RunOutcome, Version,
};
use journal_common::{full_run_batches, run_started, step};

const MACHINE: &str = "HUB01";
const FIRST_MS: u64 = 1_795_980_304_000;
const FINISHED_RUN: RunId = RunId(*b"golden-v1-run-01");
const UNFINISHED_RUN: RunId = RunId(*b"golden-v1-run-02");
const RECOVERED_RUN: RunId = RunId(*b"golden-v1-run-03");

fn golden_v1() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/journal-v1.redb")
}

fn golden_v1_recovery() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/journal-v1-recovery.redb")
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
        path: journal_common::path(file),
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
                ops: journal_common::every_op(),
                package: hubup::Digest::of(b"package 4.3"),
                tree_before: hubup::Digest::of(b"tree 4.2"),
                apphost_before: hubup::Digest::of(b"apphost 4.2"),
            },
            Payload::OpIntent { step: s, index: 0 },
        ],
    ));
    batches
}

/// The batch number's timestamp: one second apart.
fn batch_ms(batch: usize) -> u64 {
    FIRST_MS + 1000 * batch as u64
}

/// Writes the golden content to a new journal at `file`.
fn write_golden(file: &Path) {
    write_batches(file, golden_v1_batches());
}

fn write_batches(file: &Path, batches: Vec<(RunId, Vec<Payload>)>) {
    let mut journal = Journal::create(file).unwrap();
    journal.set_machine(MACHINE);
    for (number, (run, payloads)) in batches.into_iter().enumerate() {
        let now = batch_ms(number);
        journal.set_clock(move || now);
        journal.append(run, &payloads).unwrap();
    }
}

/// The entries golden v1 must decode to (hashes excepted, which verify checks).
fn expected_v1() -> Vec<(u64, u64, RunId, Payload)> {
    expected_entries(golden_v1_batches())
}

fn expected_entries(batches: Vec<(RunId, Vec<Payload>)>) -> Vec<(u64, u64, RunId, Payload)> {
    let mut seq = 0;
    let mut out = Vec::new();
    for (number, (run, payloads)) in batches.into_iter().enumerate() {
        for payload in payloads {
            seq += 1;
            out.push((seq, batch_ms(number), run, payload));
        }
    }
    out
}

/// A copy of golden v1 in a temp dir (opening a journal lets redb update its bookkeeping, and
/// the committed file must stay as it was written).
fn golden_copy(dir: &Path) -> PathBuf {
    copy_of_golden(dir, &golden_v1(), golden_v1_batches)
}

/// A copy of the golden file `golden` (written from `batches` when regenerating).
fn copy_of_golden(
    dir: &Path,
    golden: &Path,
    batches: fn() -> Vec<(RunId, Vec<Payload>)>,
) -> PathBuf {
    // `HUBUP_REGENERATE_GOLDEN=1` writes every golden file, `=journal-v1-recovery.redb` one.
    let asked = std::env::var("HUBUP_REGENERATE_GOLDEN").ok();
    let name = golden.file_name().unwrap().to_string_lossy();
    if asked.is_some_and(|asked| asked == "1" || asked == name) {
        // Several tests come here; write each file once.
        static REGENERATED: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());
        let mut done = REGENERATED.lock().unwrap();
        if !done.contains(&golden.to_path_buf()) {
            regenerate(golden, batches());
            done.push(golden.to_path_buf());
        }
    }
    let copy = dir.join(golden.file_name().unwrap());
    std::fs::copy(golden, &copy).unwrap_or_else(|e| {
        panic!(
            "cannot read {} ({e}); regenerate it with HUBUP_REGENERATE_GOLDEN=1",
            golden.display()
        )
    });
    copy
}

fn regenerate(golden: &Path, batches: Vec<(RunId, Vec<Payload>)>) {
    let _ = std::fs::remove_file(golden);
    std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
    write_batches(golden, batches);
    // Squeeze out free pages so that the committed file stays small.
    let mut db = redb::Database::open(golden).unwrap();
    while db.compact().unwrap() {}
}

#[test]
fn golden_v1_opens_verifies_and_decodes_to_the_expected_entries() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(golden_copy(dir.path())).unwrap();
    let report = journal.verify().unwrap();
    let expected = expected_v1();
    assert_eq!(report.entries, expected.len() as u64);
    assert_eq!(report.runs, 2);

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
    // The head hash covers every byte of every entry: equal heads mean this build encodes the
    // golden content exactly as the build that wrote it. Only meaningful while format 1 is
    // the current one; a new format keeps reading v1 (the test above) but writes differently.
    if JOURNAL_FORMAT != 1 {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let golden_head = Journal::open(golden_copy(dir.path())).unwrap().head();
    let fresh = dir.path().join("fresh.redb");
    write_golden(&fresh);
    let fresh_head = Journal::open(&fresh).unwrap().head();
    assert!(golden_head.is_some());
    assert_eq!(
        fresh_head, golden_head,
        "this build encodes entries differently from golden v1: a format change needs a new \
         JOURNAL_FORMAT and a new golden file, never a rewrite of v1"
    );
}

/// The second golden file of format 1: the payload kinds added after `journal-v1.redb` was
/// written (what database ops found before their change, a step waiting for its DBA, the
/// DBA's work done) and the SQL ops `every_op` lacks (logins, backups). Appended variants
/// keep format 1 readable; this file shows later builds still read them.
fn golden_v1_sql() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/journal-v1-sql.redb")
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

fn golden_v1_sql_copy(dir: &Path) -> PathBuf {
    copy_of_golden(dir, &golden_v1_sql(), golden_v1_sql_batches)
}

#[test]
fn golden_v1_sql_decodes_and_this_build_writes_it_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(golden_v1_sql_copy(dir.path())).unwrap();
    journal.verify().unwrap();
    let entries = journal.entries().unwrap();
    let expected: Vec<Payload> = golden_v1_sql_batches()
        .into_iter()
        .flat_map(|(_, payloads)| payloads)
        .collect();
    assert_eq!(entries.len(), expected.len());
    for (entry, payload) in entries.iter().zip(&expected) {
        assert_eq!(&entry.payload, payload, "entry {}", entry.seq);
        assert_eq!(entry.format, 1);
    }
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
    if JOURNAL_FORMAT == 1 {
        let fresh = dir.path().join("fresh-sql.redb");
        write_batches(&fresh, golden_v1_sql_batches());
        assert_eq!(
            Journal::open(&fresh).unwrap().head(),
            journal.head(),
            "this build encodes the appended payload kinds differently from golden v1-sql"
        );
    }
}

#[test]
fn golden_v1_recovery_decodes_and_the_golden_files_hold_every_payload_kind() {
    let dir = tempfile::tempdir().unwrap();
    let file = copy_of_golden(
        dir.path(),
        &golden_v1_recovery(),
        golden_v1_recovery_batches,
    );
    let journal = Journal::open(&file).unwrap();
    let expected = expected_entries(golden_v1_recovery_batches());
    assert_eq!(journal.verify().unwrap().entries, expected.len() as u64);
    let entries = journal.entries().unwrap();
    assert_eq!(entries.len(), expected.len());
    for (entry, (seq, timestamp_ms, run, payload)) in entries.iter().zip(expected) {
        assert_eq!(entry.seq, seq);
        assert_eq!(entry.format, 1, "entry {seq}");
        assert_eq!(entry.timestamp_ms, timestamp_ms, "entry {seq}");
        assert_eq!(entry.run, run, "entry {seq}");
        assert_eq!(entry.payload, payload, "entry {seq}");
    }
    assert!(
        journal.unfinished_run().unwrap().is_some(),
        "the repaired run goes on"
    );

    let mut kinds: std::collections::BTreeSet<&str> =
        entries.iter().map(|e| e.payload.kind()).collect();
    let v1 = Journal::open(golden_copy(dir.path()))
        .unwrap()
        .entries()
        .unwrap();
    kinds.extend(v1.iter().map(|e| e.payload.kind()));
    let v1_sql = Journal::open(golden_v1_sql_copy(dir.path()))
        .unwrap()
        .entries()
        .unwrap();
    kinds.extend(v1_sql.iter().map(|e| e.payload.kind()));
    let all: std::collections::BTreeSet<&str> = PAYLOAD_KINDS.into_iter().collect();
    assert_eq!(kinds, all, "every payload kind is in a golden journal");
}
