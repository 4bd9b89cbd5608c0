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
//! expected content frozen in the test that reads them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::support::journal::{every_op, full_run_batches, run_started, step};
use hubup::{Entry, JOURNAL_FORMAT, Journal, Payload, RunId, Version};

const MACHINE: &str = "HUB01";
const FIRST_MS: u64 = 1_795_980_304_000;
const FINISHED_RUN: RunId = RunId(*b"golden-v1-run-01");
const UNFINISHED_RUN: RunId = RunId(*b"golden-v1-run-02");

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

fn golden_path(golden: &Golden) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(golden.file)
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
