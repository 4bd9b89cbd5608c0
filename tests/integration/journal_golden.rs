//! Golden journals: files written by earlier hubup builds, one per journal format version,
//! that every later build must still open, verify and decode to the same entries.
//!
//! `tests/golden/journal-v1.redb` was written by this build (format 1). Regenerate it only
//! when its content must change for a reason other than a format change:
//!
//! ```sh
//! HUBUP_REGENERATE_GOLDEN=1 cargo test --test integration journal_golden
//! ```
//!
//! A new format version gets a new golden file next to it; the old ones stay, with their
//! expected content frozen in the test that reads them.

use std::path::{Path, PathBuf};

use crate::support;
use crate::support::journal::{full_run_batches, run_started, step};
use hubup::{Entry, JOURNAL_FORMAT, Journal, Payload, RunId, Version};

const MACHINE: &str = "HUB01";
const FIRST_MS: u64 = 1_795_980_304_000;
const FINISHED_RUN: RunId = RunId(*b"golden-v1-run-01");
const UNFINISHED_RUN: RunId = RunId(*b"golden-v1-run-02");

fn golden_v1() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/journal-v1.redb")
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
                ops: support::journal::every_op(),
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
    let mut journal = Journal::create(file).unwrap();
    journal.set_machine(MACHINE);
    for (number, (run, payloads)) in golden_v1_batches().into_iter().enumerate() {
        let now = batch_ms(number);
        journal.set_clock(move || now);
        journal.append(run, &payloads).unwrap();
    }
}

/// The entries golden v1 must decode to (hashes excepted, which verify checks).
fn expected_v1() -> Vec<(u64, u64, RunId, Payload)> {
    let mut seq = 0;
    let mut out = Vec::new();
    for (number, (run, payloads)) in golden_v1_batches().into_iter().enumerate() {
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
    let golden = golden_v1();
    if std::env::var_os("HUBUP_REGENERATE_GOLDEN").is_some() {
        // Both tests come here; write the file once.
        static REGENERATED: std::sync::Once = std::sync::Once::new();
        REGENERATED.call_once(|| regenerate(&golden));
    }
    let copy = dir.join("journal-v1.redb");
    std::fs::copy(&golden, &copy).unwrap_or_else(|e| {
        panic!(
            "cannot read {} ({e}); regenerate it with HUBUP_REGENERATE_GOLDEN=1",
            golden.display()
        )
    });
    copy
}

fn regenerate(golden: &Path) {
    let _ = std::fs::remove_file(golden);
    std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
    write_golden(golden);
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
