//! Tamper tests: a journal of more than 200 entries is changed through redb (as anyone with
//! write access to the file could), one entry at a time, in every way the issue names; verify
//! must catch every single case, name the right entry and, where it can tell, the right kind.

use std::path::{Path, PathBuf};

use crate::support::journal::{HEADER_LEN, META, record, tamper, write_sample_journal};
use hubup::{ChainFault, Head, Journal, JournalError};

struct Sample {
    _dir: tempfile::TempDir,
    pristine: PathBuf,
    entries: u64,
    work: tempfile::TempDir,
}

impl Sample {
    fn new() -> Sample {
        let dir = tempfile::tempdir().unwrap();
        let pristine = dir.path().join("pristine.redb");
        let entries = write_sample_journal(&pristine, 200);
        assert!(entries >= 200, "only {entries} entries");
        Sample {
            _dir: dir,
            pristine,
            entries,
            work: tempfile::tempdir().unwrap(),
        }
    }

    /// A fresh copy of the pristine journal.
    fn copy(&self, name: &str) -> PathBuf {
        let file = self.work.path().join(format!("{name}.redb"));
        std::fs::copy(&self.pristine, &file).unwrap();
        file
    }
}

/// The fault verify reports for `file`; panics if it verifies.
fn fault_of(file: &Path) -> ChainFault {
    let journal = Journal::open(file).unwrap();
    match journal.verify() {
        Err(JournalError::Corrupt { fault, .. }) => {
            // Readers refuse a journal that does not verify, with the same diagnosis.
            match journal.entries() {
                Err(JournalError::Corrupt { fault: read, .. }) => assert_eq!(read, fault),
                other => panic!("entries() of a tampered journal: {other:?}"),
            }
            *fault
        }
        other => panic!("tampering was not detected: {other:?}"),
    }
}

#[test]
fn pristine_sample_verifies() {
    let sample = Sample::new();
    let journal = Journal::open(sample.copy("pristine")).unwrap();
    let report = journal.verify().unwrap();
    assert_eq!(report.entries, sample.entries);
    assert_eq!(report.head.map(|h| h.seq), Some(sample.entries));
}

#[test]
fn every_changed_payload_byte_is_detected() {
    let sample = Sample::new();
    for seq in 1..=sample.entries {
        let file = sample.copy("changed");
        tamper(&file, |table| {
            let mut bytes = record(table, seq);
            // A byte in the middle of the payload (the payload starts 32 bytes into the body:
            // format, timestamp, run id and machine name come first).
            let payload_start = HEADER_LEN + 32;
            let at = payload_start + (bytes.len() - payload_start) / 2;
            bytes[at] ^= 0x01;
            table.insert(seq, bytes.as_slice()).unwrap();
        });
        assert_eq!(fault_of(&file), ChainFault::Changed { seq }, "entry {seq}");
    }
}

#[test]
fn every_deleted_entry_is_detected() {
    let sample = Sample::new();
    for seq in 1..=sample.entries {
        let file = sample.copy("deleted");
        tamper(&file, |table| {
            table.remove(seq).unwrap();
        });
        let fault = fault_of(&file);
        if seq < sample.entries {
            assert_eq!(
                fault,
                ChainFault::Missing {
                    seq,
                    found: seq + 1
                },
                "entry {seq}"
            );
        } else {
            // Removing the last entry leaves a valid chain: only the recorded head tells.
            assert!(
                matches!(fault, ChainFault::HeadMismatch { seq: s, recorded: Some(Head { seq: r, .. }), .. }
                    if s == seq && r == seq),
                "entry {seq}: {fault:?}"
            );
        }
    }
}

#[test]
fn every_swap_with_the_next_entry_is_detected_as_reordering() {
    let sample = Sample::new();
    for seq in 1..sample.entries {
        let file = sample.copy("swapped");
        tamper(&file, |table| {
            let here = record(table, seq);
            let next = record(table, seq + 1);
            table.insert(seq, next.as_slice()).unwrap();
            table.insert(seq + 1, here.as_slice()).unwrap();
        });
        assert_eq!(
            fault_of(&file),
            ChainFault::Reordered {
                seq,
                belongs_at: seq + 1
            },
            "entries {seq} and {}",
            seq + 1
        );
    }
}

#[test]
fn deleting_an_entry_and_renumbering_the_rest_is_detected_as_missing() {
    let sample = Sample::new();
    for seq in 1..sample.entries {
        let file = sample.copy("renumbered");
        tamper(&file, |table| {
            for later in seq..sample.entries {
                let moved = record(table, later + 1);
                table.insert(later, moved.as_slice()).unwrap();
            }
            table.remove(sample.entries).unwrap();
        });
        assert_eq!(
            fault_of(&file),
            ChainFault::Missing {
                seq,
                found: seq + 1
            },
            "entry {seq}"
        );
    }
}

#[test]
fn a_rewritten_entry_with_a_recomputed_hash_breaks_the_next_link() {
    let sample = Sample::new();
    for seq in 1..=sample.entries {
        let file = sample.copy("rehashed");
        tamper(&file, |table| {
            let mut bytes = record(table, seq);
            let last = bytes.len() - 1;
            bytes[last] ^= 0x01;
            // Recompute the hash as the documented layout says: blake3(prev || seq LE || body).
            let mut hasher = blake3::Hasher::new();
            hasher.update(&bytes[2..34]);
            hasher.update(&seq.to_le_bytes());
            hasher.update(&bytes[HEADER_LEN..]);
            bytes[34..66].copy_from_slice(hasher.finalize().as_bytes());
            table.insert(seq, bytes.as_slice()).unwrap();
        });
        let fault = fault_of(&file);
        if seq < sample.entries {
            // The flipped byte may leave a body that no longer decodes (an enum variant
            // index): then the entry itself is reported, which is as good.
            assert!(
                fault == ChainFault::BrokenLink { seq: seq + 1 }
                    || matches!(fault, ChainFault::Undecodable { seq: s, .. } if s == seq),
                "entry {seq}: {fault:?}"
            );
        } else {
            assert!(
                matches!(fault, ChainFault::HeadMismatch { seq: s, .. } if s == seq),
                "entry {seq}: {fault:?}"
            );
        }
    }
}

#[test]
fn header_damage_and_head_record_damage_are_named() {
    let sample = Sample::new();
    let seq = 17;

    let file = sample.copy("format");
    tamper(&file, |table| {
        let mut bytes = record(table, seq);
        bytes[0] = 0x7f;
        table.insert(seq, bytes.as_slice()).unwrap();
    });
    let fault = fault_of(&file);
    assert!(
        matches!(&fault, ChainFault::Undecodable { seq: 17, reason } if reason.contains("format 127")),
        "{fault:?}"
    );

    let file = sample.copy("short");
    tamper(&file, |table| {
        table.insert(seq, [1u8, 0, 0].as_slice()).unwrap();
    });
    assert!(matches!(
        fault_of(&file),
        ChainFault::Undecodable { seq: 17, .. }
    ));

    let file = sample.copy("stored-hash");
    tamper(&file, |table| {
        let mut bytes = record(table, seq);
        bytes[40] ^= 0xff;
        table.insert(seq, bytes.as_slice()).unwrap();
    });
    assert_eq!(fault_of(&file), ChainFault::Changed { seq });

    let file = sample.copy("no-head");
    {
        let db = redb::Database::open(&file).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META).unwrap().remove("head").unwrap();
        txn.commit().unwrap();
    }
    let fault = fault_of(&file);
    assert!(
        matches!(
            fault,
            ChainFault::HeadMismatch {
                recorded: None,
                found: Some(_),
                ..
            }
        ),
        "{fault:?}"
    );
}

#[test]
fn appending_to_a_truncated_journal_is_refused() {
    let sample = Sample::new();
    let file = sample.copy("truncated");
    tamper(&file, |table| {
        table.remove(sample.entries).unwrap();
    });
    let mut journal = Journal::open(&file).unwrap();
    let err = journal
        .append(
            hubup::RunId([1; 16]),
            &[hubup::Payload::Note {
                step: None,
                text: "x".into(),
            }],
        )
        .unwrap_err();
    assert!(
        matches!(err.fault(), Some(ChainFault::HeadMismatch { .. })),
        "{err}"
    );
    drop(journal);
    // Nothing was written: the same diagnosis as before.
    assert!(matches!(fault_of(&file), ChainFault::HeadMismatch { .. }));
}
