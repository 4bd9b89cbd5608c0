//! Hostile journal files: random bytes, truncated journals, flipped bytes anywhere in the
//! file, and entries whose (correctly hashed) bodies claim enormous lengths. Each must give a
//! clear error, never a panic, an abort or a huge allocation; a counting allocator checks the
//! last point.

use std::path::{Path, PathBuf};

use crate::support::journal::{ENTRIES, HEADER_LEN, META, write_sample_journal};
use crate::support::{self, alloc, alone, rng::Rng};
use hubup::{ChainFault, Journal};

/// No allocation of these tests may come near this (the decode limit is 64 MiB; redb's page
/// cache is allocated in small pieces). Each test runs in a process of its own so that the
/// counting allocator sees only its allocations.
const ALLOCATION_CEILING: usize = 256 * 1024 * 1024;

/// Opens and, if that works, verifies and reads `file`; returns the error, if any, as text.
/// Every error must be one of the journal's own, with a message naming the file.
fn open_and_read(file: &Path) -> Option<String> {
    let result = Journal::open(file).and_then(|journal| {
        journal.verify()?;
        journal.entries()?;
        journal.unfinished_run()?;
        Ok(())
    });
    let error = result.err()?;
    let message = error.to_string();
    assert!(
        message.contains(file.to_str().unwrap()),
        "the error must name the file: {message}"
    );
    Some(message)
}

fn sample(dir: &Path) -> PathBuf {
    let file = dir.join("sample.redb");
    write_sample_journal(&file, 1);
    file
}

#[test]
fn random_bytes_are_not_a_journal() {
    if !alone::in_own_process(module_path!(), "random_bytes_are_not_a_journal") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng::new(0x5eed_0001);
    for len in [1usize, 7, 100, 511, 4096, 4097, 65_536, 1 << 20] {
        let file = dir.path().join(format!("random-{len}.redb"));
        std::fs::write(&file, rng.bytes(len)).unwrap();
        let error = open_and_read(&file).unwrap_or_else(|| panic!("{len} random bytes opened"));
        assert!(
            error.contains("is not a hubup journal") || error.contains("is damaged"),
            "{len} bytes: {error}"
        );
    }
    assert!(alloc::largest() < ALLOCATION_CEILING);
}

#[test]
fn every_truncation_of_a_journal_fails_cleanly() {
    if !alone::in_own_process(
        module_path!(),
        "every_truncation_of_a_journal_fails_cleanly",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let original = std::fs::read(sample(dir.path())).unwrap();
    let file = dir.path().join("truncated.redb");
    let mut failures = 0;
    for len in (1..original.len()).step_by(997) {
        std::fs::write(&file, &original[..len]).unwrap();
        if open_and_read(&file).is_some() {
            failures += 1;
        }
    }
    // Cutting the file loses committed pages: not one truncation may pass for intact.
    assert_eq!(failures, (1..original.len()).step_by(997).count());
    assert!(alloc::largest() < ALLOCATION_CEILING);
}

#[test]
fn flipped_bytes_anywhere_in_the_file_never_panic_and_are_caught_in_entries() {
    if !alone::in_own_process(
        module_path!(),
        "flipped_bytes_anywhere_in_the_file_never_panic_and_are_caught_in_entries",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let original = std::fs::read(sample(dir.path())).unwrap();
    let file = dir.path().join("flipped.redb");
    let mut detected = 0;
    let mut unchanged = 0;
    for at in (0..original.len()).step_by(131) {
        let mut bytes = original.clone();
        bytes[at] ^= 0x5a;
        std::fs::write(&file, &bytes).unwrap();
        match open_and_read(&file) {
            Some(_) => detected += 1,
            // A flip in free space or in redb bookkeeping that it repairs changes no entry.
            None => unchanged += 1,
        }
    }
    assert!(
        detected > 0,
        "no flipped byte was detected ({unchanged} unnoticed)"
    );
    assert!(alloc::largest() < ALLOCATION_CEILING);
}

/// Appends a record with a valid header and hash around `body` as the next entry of `file`,
/// and moves the recorded head to it: only decoding can tell it is wrong.
fn append_raw(file: &Path, body: &[u8]) -> u64 {
    use redb::ReadableTable;
    let db = redb::Database::open(file).unwrap();
    let txn = db.begin_write().unwrap();
    let seq;
    {
        let mut entries = txn.open_table(ENTRIES).unwrap();
        let (last_seq, last_hash) = {
            let (key, value) = entries.last().unwrap().unwrap();
            let mut hash = [0u8; 32];
            hash.copy_from_slice(&value.value()[34..HEADER_LEN]);
            (key.value(), hash)
        };
        seq = last_seq + 1;
        let mut hasher = blake3::Hasher::new();
        hasher.update(&last_hash);
        hasher.update(&seq.to_le_bytes());
        hasher.update(body);
        let hash = *hasher.finalize().as_bytes();
        let mut record = 1u16.to_le_bytes().to_vec();
        record.extend_from_slice(&last_hash);
        record.extend_from_slice(&hash);
        record.extend_from_slice(body);
        entries.insert(seq, record.as_slice()).unwrap();
        let mut head = seq.to_le_bytes().to_vec();
        head.extend_from_slice(&hash);
        txn.open_table(META)
            .unwrap()
            .insert("head", head.as_slice())
            .unwrap();
    }
    txn.commit().unwrap();
    seq
}

/// The body's fixed start: format 1, timestamp 0, a run id.
fn body_start() -> Vec<u8> {
    let mut body = vec![1u8, 0];
    body.extend_from_slice(&[0xab; 16]);
    body
}

/// bincode's varint for a u64 that needs all 8 bytes.
fn huge_varint(value: u64) -> Vec<u8> {
    let mut out = vec![0xfd];
    out.extend_from_slice(&value.to_le_bytes());
    out
}

#[test]
fn huge_length_prefixes_are_refused_without_allocating_them() {
    if !alone::in_own_process(
        module_path!(),
        "huge_length_prefixes_are_refused_without_allocating_them",
    ) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("machine name of 2^64-1 bytes", {
            let mut body = body_start();
            body.extend(huge_varint(u64::MAX));
            body
        }),
        ("machine name of 1 TiB", {
            let mut body = body_start();
            body.extend(huge_varint(1 << 40));
            body
        }),
        ("a plan of 2^40 ops", {
            let mut body = body_start();
            body.extend([1, b'm']); // machine "m"
            body.extend([1, 4, 0, 4, 1]); // StepPlanned, step 4.0 -> 4.1
            body.extend(huge_varint(1 << 40));
            body
        }),
        ("a note of 2^62 bytes", {
            let mut body = body_start();
            body.extend([1, b'm']);
            body.extend([12, 0]); // Note, step None
            body.extend(huge_varint(1 << 62));
            body
        }),
        ("a body cut short", {
            let mut body = body_start();
            body.truncate(5);
            body
        }),
    ];
    for (what, body) in cases {
        let file = sample(dir.path());
        let seq = append_raw(&file, &body);
        let journal = Journal::open(&file).unwrap();
        let error = journal.verify().unwrap_err();
        match error.fault() {
            Some(ChainFault::Undecodable { seq: bad, reason }) => {
                assert_eq!(*bad, seq, "{what}");
                assert!(!reason.is_empty());
            }
            _ => panic!("{what}: {error}"),
        }
        let error = journal.entries().unwrap_err();
        assert!(
            matches!(error.fault(), Some(ChainFault::Undecodable { .. })),
            "{what}: {error}"
        );
        drop(journal);
        std::fs::remove_file(&file).unwrap();
    }
    let largest = alloc::largest();
    assert!(
        largest < ALLOCATION_CEILING,
        "largest allocation: {largest} bytes"
    );
}

/// Replaces entry `seq` by `body` under a correctly recomputed hash (its successor's link
/// then breaks, as it would for anyone who rewrote it).
fn rewrite_raw(file: &Path, seq: u64, body: &[u8]) {
    support::journal::tamper(file, |table| {
        let old = support::journal::record(table, seq);
        let prev = &old[2..34];
        let mut hasher = blake3::Hasher::new();
        hasher.update(prev);
        hasher.update(&seq.to_le_bytes());
        hasher.update(body);
        let mut record = old[..34].to_vec();
        record.extend_from_slice(hasher.finalize().as_bytes());
        record.extend_from_slice(body);
        table.insert(seq, record.as_slice()).unwrap();
    });
}

/// 60 notes of 150 kB each: about nine decoding chunks.
fn write_big_notes(file: &Path) {
    let mut journal = Journal::create(file).unwrap();
    let notes: Vec<hubup::Payload> = (0..60)
        .map(|i| hubup::Payload::Note {
            step: None,
            text: format!("{i:03}").repeat(50_000),
        })
        .collect();
    journal.append(hubup::RunId([1; 16]), &notes).unwrap();
}

#[test]
fn the_first_undecodable_entry_is_named_across_many_decoding_chunks() {
    // Verify decodes on several threads, in chunks of about 1 MiB: plant faults in different
    // chunks and check that the first one in sequence order is reported.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.redb");
    write_big_notes(&file);
    let mut undecodable = body_start();
    undecodable.extend(huge_varint(u64::MAX));
    rewrite_raw(&file, 47, &undecodable);
    rewrite_raw(&file, 31, &undecodable);
    support::journal::tamper(&file, |table| {
        table.remove(55).unwrap();
    });
    let journal = Journal::open(&file).unwrap();
    let error = journal.verify().unwrap_err();
    assert!(
        matches!(error.fault(), Some(ChainFault::Undecodable { seq: 31, .. })),
        "{error}"
    );
    drop(journal);

    // With only the later faults left, the chain fault at 48 (after the undecodable 47) is
    // not reported: 47 comes first.
    let file2 = dir.path().join("big2.redb");
    write_big_notes(&file2);
    rewrite_raw(&file2, 47, &undecodable);
    let fault = Journal::open(&file2).unwrap().verify().unwrap_err();
    assert!(
        matches!(fault.fault(), Some(ChainFault::Undecodable { seq: 47, .. })),
        "{fault}"
    );
}

#[test]
fn an_absurd_sequence_number_does_not_send_the_diagnosis_searching_forever() {
    // Diagnosing a changed entry searches for the position it was written at; a key near
    // u64::MAX must not stretch that search over the whole key space.
    let dir = tempfile::tempdir().unwrap();
    let file = sample(dir.path());
    support::journal::tamper(&file, |table| {
        let mut bytes = support::journal::record(table, 5);
        let last = bytes.len() - 1;
        bytes[last] ^= 0x01;
        table.insert(5, bytes.as_slice()).unwrap();
        table.insert(u64::MAX - 1, bytes.as_slice()).unwrap();
    });
    let error = Journal::open(&file).unwrap().verify().unwrap_err();
    assert_eq!(
        error.fault(),
        Some(&ChainFault::Changed { seq: 5 }),
        "{error}"
    );
}
