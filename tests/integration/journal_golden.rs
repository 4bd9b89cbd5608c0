//! Golden journals: files written by earlier hubup builds that every later build must still
//! open, verify and decode to the same entries. Each file is frozen once written, with its
//! expected content frozen in the code that reads it here:
//!
//! - `tests/golden/journal-v1.redb`: format 1, every op kind of its day ([`every_op`]);
//! - `tests/golden/journal-v1-all-ops.redb`: format 1, the first [`ALL_OPS_V1`] ops of
//!   [`all_ops`], which hold every variant of every journaled enum when it was written
//!   (`SqlOp::CreateLogin` and `SqlOp::BackupDatabase` joined after golden v1).
//!
//! A new variant (appended last, as the journal stores variant indexes) gets an example at the
//! end of [`all_ops`] and a new golden file holding it, added to [`GOLDENS`];
//! `the_golden_journals_hold_every_variant` fails until then. A new format version gets a new
//! golden file too; the old ones stay. Write a golden file (only a new one, or one whose
//! content must change for a reason other than a format change) with its name:
//!
//! ```sh
//! HUBUP_REGENERATE_GOLDEN=journal-v1-all-ops.redb cargo test --test integration journal_golden
//! ```

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::support::journal::{
    all_ops, all_ops_run_batches, every_op, full_run_batches, journaled_variants, run_started,
    step, variants_in_op, variants_in_payload,
};
use hubup::{Entry, JOURNAL_FORMAT, Journal, OpOutcome, Payload, RunId, RunOutcome, Version};

const MACHINE: &str = "HUB01";
const FIRST_MS: u64 = 1_795_980_304_000;
const FINISHED_RUN: RunId = RunId(*b"golden-v1-run-01");
const UNFINISHED_RUN: RunId = RunId(*b"golden-v1-run-02");

/// Set to the name of a golden file to write it again (see the module docs).
const REGENERATE_ENV: &str = "HUBUP_REGENERATE_GOLDEN";

/// How many ops of [`all_ops`] `journal-v1-all-ops.redb` holds (all there were when it was
/// written; later ones are appended after them and go into a newer golden file).
const ALL_OPS_V1: usize = 25;

/// A golden journal: its file under `tests/golden/` and the batches it was written from.
struct Golden {
    file: &'static str,
    batches: fn() -> Vec<(RunId, Vec<Payload>)>,
}

/// Every golden journal, oldest first.
const GOLDENS: [Golden; 2] = [
    Golden {
        file: "journal-v1.redb",
        batches: golden_v1_batches,
    },
    Golden {
        file: "journal-v1-all-ops.redb",
        batches: golden_v1_all_ops_batches,
    },
];

fn golden_v1() -> &'static Golden {
    &GOLDENS[0]
}

impl Golden {
    fn path(&self) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/golden")
            .join(self.file)
    }
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

/// What golden v1-all-ops holds, batch by batch: a finished run 4.0 -> 4.2 whose steps are
/// planned with the first [`ALL_OPS_V1`] ops of [`all_ops`] and that uses every payload kind
/// and op outcome; a run 4.2 -> 4.3 that fails and is rolled back (the other run outcome); and
/// an unfinished run 4.2 -> 4.3 interrupted after an intent.
fn golden_v1_all_ops_batches() -> Vec<(RunId, Vec<Payload>)> {
    const FINISHED: RunId = RunId(*b"golden-v1-all-01");
    const ROLLED_BACK: RunId = RunId(*b"golden-v1-all-02");
    const UNFINISHED: RunId = RunId(*b"golden-v1-all-03");
    let ops: Vec<hubup::Op> = all_ops().into_iter().take(ALL_OPS_V1).collect();
    assert_eq!(ops.len(), ALL_OPS_V1, "all_ops only grows");
    let mut batches: Vec<(RunId, Vec<Payload>)> = all_ops_run_batches(Version::V4_0, Version::V4_2)
        .into_iter()
        .map(|batch| (FINISHED, batch))
        .collect();
    let s = step(Version::V4_2);
    let config = || hubup::ConfigRecord::from_pairs([("sql.server", "SQL01")]);
    let planned = |package: &[u8]| Payload::StepPlanned {
        step: s,
        ops: ops.clone(),
        package: hubup::Digest::of(package),
        tree_before: hubup::Digest::of(b"tree 4.2"),
        apphost_before: hubup::Digest::of(b"apphost 4.2"),
    };
    batches.push((
        ROLLED_BACK,
        vec![run_started(Version::V4_2, Version::V4_3, config())],
    ));
    batches.push((
        ROLLED_BACK,
        vec![
            planned(b"package 4.3"),
            Payload::OpIntent { step: s, index: 0 },
        ],
    ));
    batches.push((
        ROLLED_BACK,
        vec![
            Payload::OpDone {
                step: s,
                index: 0,
                outcome: OpOutcome::BackedUp {
                    manifest: hubup::Digest::of(b"backup manifest 4.2"),
                },
            },
            Payload::OpIntent { step: s, index: 1 },
            Payload::OpFailed {
                step: s,
                index: 1,
                error: "the disk is full".into(),
            },
        ],
    ));
    batches.push((
        ROLLED_BACK,
        vec![
            Payload::RollbackStarted {
                step: s,
                reason: "op failed".into(),
                target: Version::V4_2,
            },
            Payload::OpUndone { step: s, index: 1 },
            Payload::OpUndone { step: s, index: 0 },
            Payload::StepRolledBack {
                step: s,
                tree_after: hubup::Digest::of(b"tree 4.2"),
                apphost_after: hubup::Digest::of(b"apphost 4.2"),
                verified: true,
            },
            Payload::RunFinished {
                outcome: RunOutcome::RolledBack {
                    version: Version::V4_2,
                },
            },
        ],
    ));
    batches.push((
        UNFINISHED,
        vec![run_started(Version::V4_2, Version::V4_3, config())],
    ));
    batches.push((
        UNFINISHED,
        vec![
            planned(b"package 4.3 again"),
            Payload::OpIntent { step: s, index: 0 },
        ],
    ));
    batches
}

/// The batch number's timestamp: one second apart.
fn batch_ms(batch: usize) -> u64 {
    FIRST_MS + 1000 * batch as u64
}

impl Golden {
    /// Writes the golden content to a new journal at `file`.
    fn write(&self, file: &Path) {
        let mut journal = Journal::create(file).unwrap();
        journal.set_machine(MACHINE);
        for (number, (run, payloads)) in (self.batches)().into_iter().enumerate() {
            let now = batch_ms(number);
            journal.set_clock(move || now);
            journal.append(run, &payloads).unwrap();
        }
    }

    /// The entries the golden file must decode to (hashes excepted, which verify checks).
    fn expected(&self) -> Vec<(u64, u64, RunId, Payload)> {
        let mut seq = 0;
        let mut out = Vec::new();
        for (number, (run, payloads)) in (self.batches)().into_iter().enumerate() {
            for payload in payloads {
                seq += 1;
                out.push((seq, batch_ms(number), run, payload));
            }
        }
        out
    }

    /// A copy of the golden file in a temp dir (opening a journal lets redb update its
    /// bookkeeping, and the committed file must stay as it was written).
    fn copy_in(&self, dir: &Path) -> PathBuf {
        let golden = self.path();
        if std::env::var(REGENERATE_ENV).is_ok_and(|name| name == self.file) {
            // Several tests come here at once; write the file once, and let none read it
            // before it is whole (the lock is held while writing).
            static REGENERATED: std::sync::Mutex<BTreeSet<&str>> =
                std::sync::Mutex::new(BTreeSet::new());
            let mut written = REGENERATED.lock().unwrap();
            if written.insert(self.file) {
                self.regenerate();
            }
        }
        let copy = dir.join(self.file);
        std::fs::copy(&golden, &copy).unwrap_or_else(|e| {
            panic!(
                "cannot read {} ({e}); write it with {REGENERATE_ENV}={}",
                golden.display(),
                self.file
            )
        });
        copy
    }

    fn regenerate(&self) {
        let golden = self.path();
        let _ = std::fs::remove_file(&golden);
        std::fs::create_dir_all(golden.parent().unwrap()).unwrap();
        self.write(&golden);
        // Squeeze out free pages so that the committed file stays small.
        let mut db = redb::Database::open(&golden).unwrap();
        while db.compact().unwrap() {}
    }

    /// Opens, verifies and decodes a copy of the golden file, checks every entry against the
    /// expected ones, and returns the journal and its entries.
    fn open_and_check(&self, dir: &Path) -> (Journal, Vec<Entry>) {
        let journal = Journal::open(self.copy_in(dir)).unwrap();
        let report = journal.verify().unwrap();
        let expected = self.expected();
        assert_eq!(report.entries, expected.len() as u64, "{}", self.file);
        let entries: Vec<Entry> = journal.entries().unwrap();
        assert_eq!(entries.len(), expected.len(), "{}", self.file);
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
}

/// The variants of every journaled enum that `entries` hold.
fn variants_in(entries: &[Entry]) -> BTreeSet<String> {
    entries
        .iter()
        .flat_map(|e| variants_in_payload(&e.payload))
        .map(str::to_string)
        .collect()
}

#[test]
fn golden_v1_opens_verifies_and_decodes_to_the_expected_entries() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, entries) = golden_v1().open_and_check(dir.path());
    assert_eq!(journal.verify().unwrap().runs, 2);
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
fn golden_v1_all_ops_opens_verifies_and_decodes_to_the_expected_entries() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, entries) = GOLDENS[1].open_and_check(dir.path());
    assert_eq!(journal.verify().unwrap().runs, 3);
    let held = variants_in(&entries);
    for added_after_v1 in ["SqlOp::CreateLogin", "SqlOp::BackupDatabase"] {
        assert!(held.contains(added_after_v1), "{added_after_v1}: {held:?}");
    }
    let unfinished = journal.unfinished_run().unwrap().unwrap();
    assert_eq!(unfinished.run, RunId(*b"golden-v1-all-03"));
    assert_eq!(unfinished.last_planned, Some(step(Version::V4_2)));
    assert_eq!(unfinished.last_committed, None);
}

#[test]
fn this_build_still_writes_format_1_byte_for_byte() {
    // The head hash covers every byte of every entry: equal heads mean this build encodes the
    // golden content exactly as the build that wrote it. Only meaningful while format 1 is
    // the current one; a new format keeps reading v1 (the tests above) but writes differently.
    if JOURNAL_FORMAT != 1 {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for golden in &GOLDENS {
        let golden_head = Journal::open(golden.copy_in(dir.path())).unwrap().head();
        let fresh = dir.path().join(format!("fresh-{}", golden.file));
        golden.write(&fresh);
        let fresh_head = Journal::open(&fresh).unwrap().head();
        assert!(golden_head.is_some());
        assert_eq!(
            fresh_head, golden_head,
            "this build encodes entries differently from {}: a format change needs a new \
             JOURNAL_FORMAT and a new golden file, never a rewrite of an old one",
            golden.file
        );
    }
}

/// Every variant of every enum a journal entry is made of is in a golden file, so a build that
/// could not decode it fails here. A new variant fails this until a new golden holds it.
#[test]
fn the_golden_journals_hold_every_variant() {
    let dir = tempfile::tempdir().unwrap();
    let mut held = BTreeSet::new();
    for golden in &GOLDENS {
        let journal = Journal::open(golden.copy_in(dir.path())).unwrap();
        held.extend(variants_in(&journal.entries().unwrap()));
    }
    let all = journaled_variants();
    let missing: Vec<&String> = all.difference(&held).collect();
    assert!(
        missing.is_empty(),
        "no golden journal holds {missing:?}: give all_ops an example (appended last) and add \
         a golden file holding it to GOLDENS (see the module docs)"
    );
    assert_eq!(held, all, "the helper names variants the types do not have");
}

/// [`all_ops`], which the property, crash and secrets tests use, has every variant an op can
/// be made of, and names only variants that exist.
#[test]
fn all_ops_hold_every_variant() {
    let named: BTreeSet<String> = all_ops()
        .iter()
        .flat_map(variants_in_op)
        .map(str::to_string)
        .collect();
    let outside_ops = ["Payload::", "OpOutcome::", "RunOutcome::"];
    let of_ops: BTreeSet<String> = journaled_variants()
        .into_iter()
        .filter(|v| !outside_ops.iter().any(|prefix| v.starts_with(prefix)))
        .collect();
    let missing: Vec<&String> = of_ops.difference(&named).collect();
    assert!(missing.is_empty(), "all_ops has no example of {missing:?}");
    assert_eq!(
        named, of_ops,
        "variants_in_op names variants the types do not have"
    );
}
