//! Crash test: a child process appends batches to a journal in a loop and reports each batch
//! once `append` has returned; the parent kills it (SIGKILL on Unix, TerminateProcess on
//! Windows) at seeded random moments, at least 50 times, on the same journal. After every kill
//! the journal must open, verify, hold every batch the child reported, and hold no batch in
//! part.
//!
//! The child is this test binary again, running this same test with `HUBUP_CRASH_CHILD` set.
//! Set `HUBUP_CRASH_SEED` to replay a failing seed (the test prints the one it uses).

use crate::support::StartRetrying;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use crate::support::alone;
use crate::support::journal::{all_ops, step};
use crate::support::rng::Rng;
use hubup::{Digest, Journal, Payload, RunId, Version};

const CHILD_ENV: &str = "HUBUP_CRASH_CHILD";
const ROUND_ENV: &str = "HUBUP_CRASH_ROUND";
const KILLS: u32 = 60;
const DEFAULT_SEED: u64 = 0x6875_6275_7021;

#[test]
fn killed_appenders_lose_no_acknowledged_batch() {
    if let Some(journal) = std::env::var_os(CHILD_ENV) {
        append_until_killed(Path::new(&journal));
    }
    let seed = std::env::var("HUBUP_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    eprintln!("crash test seed {seed} (replay with HUBUP_CRASH_SEED={seed})");
    let mut rng = Rng::new(seed);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("journal.redb");
    let mut reported: BTreeMap<(u32, u32), u32> = BTreeMap::new();
    let mut last_head = 0;
    for round in 0..KILLS {
        let acknowledged = run_child_and_kill(&file, round, &mut rng);
        reported.extend(acknowledged);
        last_head = check_journal(&file, &reported, last_head, round);
    }
    eprintln!(
        "{KILLS} kills: {} batches acknowledged, {last_head} entries in the journal",
        reported.len()
    );
    assert!(
        reported.len() as u32 >= KILLS,
        "the children acknowledged only {} batches in {KILLS} rounds: the kills came too early \
         to test much",
        reported.len()
    );
}

/// The child: appends batches forever, printing `committed ROUND BATCH SIZE` after each.
fn append_until_killed(file: &Path) -> ! {
    let round: u32 = std::env::var(ROUND_ENV).unwrap().parse().unwrap();
    let mut journal = Journal::create(file).unwrap();
    let run = RunId([round as u8; 16]);
    let stdout = std::io::stdout();
    for batch in 0u32.. {
        let payloads = batch_payloads(round, batch);
        journal.append(run, &payloads).unwrap();
        let mut out = stdout.lock();
        writeln!(out, "committed {round} {batch} {}", payloads.len()).unwrap();
        out.flush().unwrap();
    }
    unreachable!("the loop only ends when the process is killed")
}

/// Batch sizes vary from 1 to 120 entries; every fourth batch carries a plan of 100 ops.
fn batch_payloads(round: u32, batch: u32) -> Vec<Payload> {
    let size = 1 + (batch.wrapping_mul(7919) ^ round.wrapping_mul(104_729)) % 120;
    let s = step(Version::V4_1);
    (0..size)
        .map(|i| {
            if i == 0 && batch % 4 == 3 {
                Payload::StepPlanned {
                    step: s,
                    ops: all_ops().into_iter().cycle().take(100).collect(),
                    package: plan_digest(batch),
                    tree_before: Digest::of(&round.to_le_bytes()),
                    apphost_before: Digest::ZERO,
                }
            } else {
                Payload::Note {
                    step: Some(s),
                    text: format!("round {round} batch {batch} entry {i} of {size}"),
                }
            }
        })
        .collect()
}

/// Starts a child on `file`, kills it at a random moment, and returns the batches it
/// reported committed: (round, batch) -> size.
fn run_child_and_kill(file: &Path, round: u32, rng: &mut Rng) -> BTreeMap<(u32, u32), u32> {
    let test = alone::test_name(
        module_path!(),
        "killed_appenders_lose_no_acknowledged_batch",
    );
    let mut child = alone::this_binary_running(&test)
        .env(CHILD_ENV, file)
        .env(ROUND_ENV, round.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn_retrying()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines, received) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.starts_with("committed ") && lines.send(line).is_err() {
                break;
            }
        }
    });
    // Half of the kills come while the child opens the journal or its first commits are in
    // flight; the other half after it has committed for a while.
    let mut acknowledged = BTreeMap::new();
    if rng.below(2) == 0 {
        std::thread::sleep(Duration::from_millis(rng.below(40)));
    } else {
        let wanted = 1 + rng.below(12);
        while (acknowledged.len() as u64) < wanted {
            match received.recv_timeout(Duration::from_secs(60)) {
                Ok(line) => record(&mut acknowledged, &line),
                Err(_) => break,
            }
        }
        std::thread::sleep(Duration::from_micros(rng.below(5_000)));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    reader.join().unwrap();
    for line in received.try_iter() {
        record(&mut acknowledged, &line);
    }
    acknowledged
}

fn record(acknowledged: &mut BTreeMap<(u32, u32), u32>, line: &str) {
    let numbers: Vec<u32> = line
        .split_whitespace()
        .skip(1)
        .map(|n| n.parse().unwrap())
        .collect();
    if let [round, batch, size] = numbers[..] {
        acknowledged.insert((round, batch), size);
    }
}

/// Opens the journal after a kill and checks it; returns its head.
fn check_journal(
    file: &Path,
    reported: &BTreeMap<(u32, u32), u32>,
    previous_head: u64,
    round: u32,
) -> u64 {
    if !file.exists() {
        assert!(reported.is_empty(), "round {round}: the journal is gone");
        return 0;
    }
    let journal = Journal::open(file)
        .unwrap_or_else(|e| panic!("round {round}: the journal does not open after a kill: {e}"));
    let report = journal
        .verify()
        .unwrap_or_else(|e| panic!("round {round}: the journal does not verify after a kill: {e}"));
    let head = report.head.map_or(0, |h| h.seq);
    assert!(head >= previous_head, "round {round}: entries were lost");

    // Count the entries of each batch present.
    let mut present: BTreeMap<(u32, u32), u32> = BTreeMap::new();
    for entry in journal.entries().unwrap() {
        let round_of_run = u32::from(entry.run.0[0]);
        let batch = match &entry.payload {
            Payload::StepPlanned { package, .. } => batch_of_plan(package),
            Payload::Note { text, .. } => text.split_whitespace().nth(3).unwrap().parse().unwrap(),
            other => panic!("round {round}: unexpected entry {other:?}"),
        };
        *present.entry((round_of_run, batch)).or_default() += 1;
    }
    for (&(r, b), &count) in &present {
        let expected = batch_payloads(r, b).len() as u32;
        assert_eq!(
            count, expected,
            "round {round}: batch {b} of round {r} is in the journal in part"
        );
    }
    for (&(r, b), &size) in reported {
        assert_eq!(
            present.get(&(r, b)),
            Some(&size),
            "round {round}: batch {b} of round {r} was acknowledged but is not in the journal"
        );
    }
    head
}

/// A plan's package digest carries its batch number in its first four bytes.
fn plan_digest(batch: u32) -> Digest {
    let mut bytes = [0u8; 32];
    bytes[..4].copy_from_slice(&batch.to_le_bytes());
    Digest(bytes)
}

fn batch_of_plan(package: &Digest) -> u32 {
    u32::from_le_bytes(package.0[..4].try_into().unwrap())
}
