//! Journal benchmarks: append throughput with one durable commit per entry versus group
//! commits of 1,000 entries, verify throughput on a journal of 1,000,000 entries, and the
//! time to open that journal (redb's integrity check reads the whole file). The file size per
//! entry is printed (criterion measures time only).
//!
//! Run: `cargo bench --bench journal` (add `-- verify` etc. to pick one).
//! Targets (issue 2): >= 100,000 entries/s appended with group commit, >= 1,000,000 entries/s
//! verified.

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use hubup::{
    BackedUpFile, Digest, Journal, Op, OpOutcome, Payload, RelPath, RunId, Step, Version,
    WriteFileOp,
};

const GROUP: usize = 1_000;
const VERIFY_ENTRIES: u64 = 1_000_000;

fn step() -> Step {
    Step::from_version(Version::V4_1).unwrap()
}

/// The bulk of a file-heavy step: op intents and dones, alternating.
fn op_entries(first_index: u32, count: usize) -> Vec<Payload> {
    (0..count as u32)
        .map(|i| {
            let index = first_index + i / 2;
            if i % 2 == 0 {
                Payload::OpIntent {
                    step: step(),
                    index,
                }
            } else {
                Payload::OpDone {
                    step: step(),
                    index,
                    outcome: OpOutcome::Applied,
                }
            }
        })
        .collect()
}

/// A plan of `files` file writes, as a 4.1 -> 4.2 step would journal it.
fn plan(files: usize) -> Payload {
    let ops = (0..files)
        .map(|i| {
            let path = RelPath::new(&format!("Hub/wwwroot/js/chunk-{i:05}.js")).unwrap();
            Op::WriteFile(WriteFileOp {
                entry: format!("payload/{path}"),
                size: 10_000 + i as u64,
                digest: Digest::of(path.as_str().as_bytes()),
                replaces: Some(BackedUpFile {
                    path: path.clone(),
                    digest: Digest::of(&(i as u64).to_le_bytes()),
                    size: 9_000,
                }),
                path,
            })
        })
        .collect();
    Payload::StepPlanned {
        step: step(),
        ops,
        package: Digest::of(b"package"),
        tree_before: Digest::of(b"tree"),
        apphost_before: Digest::of(b"apphost"),
    }
}

fn bench_append(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::create(dir.path().join("append.redb")).unwrap();
    let run = RunId([1; 16]);
    let single = op_entries(0, 1);
    let batch = op_entries(0, GROUP);

    let mut group = c.benchmark_group("append");
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(1));
    group.bench_function("one entry per commit", |b| {
        b.iter(|| journal.append(run, black_box(&single)).unwrap())
    });
    group.throughput(Throughput::Elements(GROUP as u64));
    group.bench_function("group commit of 1000", |b| {
        b.iter(|| journal.append(run, black_box(&batch)).unwrap())
    });
    group.finish();
    report_size("append benchmark (intents and dones)", &journal);
}

/// A journal of `entries` entries: plans of 1,000 files, each followed by its 2,000 intents
/// and dones, in group commits of 10,000 entries.
fn build_large_journal(file: &Path, entries: u64) -> Journal {
    let mut journal = Journal::create(file).unwrap();
    let run = RunId([2; 16]);
    let mut pending: Vec<Payload> = Vec::with_capacity(10_000);
    let mut written = 0u64;
    while written < entries {
        pending.push(plan(1_000));
        pending.extend(op_entries(0, 2_000));
        if pending.len() >= 10_000 || written + pending.len() as u64 >= entries {
            let keep = (entries - written).min(pending.len() as u64) as usize;
            pending.truncate(keep);
            journal.append(run, &pending).unwrap();
            written += pending.len() as u64;
            pending.clear();
        }
    }
    journal
}

fn bench_verify(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("verify.redb");
    let journal = build_large_journal(&file, VERIFY_ENTRIES);
    report_size("1,000,000-entry journal (plans of 1,000 files)", &journal);

    let mut group = c.benchmark_group("verify");
    // Each iteration takes most of a second: one iteration per sample.
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.throughput(Throughput::Elements(VERIFY_ENTRIES));
    group.bench_function("1,000,000 entries", |b| {
        b.iter(|| {
            let report = journal.verify().unwrap();
            assert_eq!(report.entries, VERIFY_ENTRIES);
        })
    });
    drop(journal);
    group.bench_function("open (integrity check) of 1,000,000 entries", |b| {
        b.iter(|| black_box(Journal::open(&file).unwrap()))
    });
    group.finish();
}

fn report_size(what: &str, journal: &Journal) {
    let entries = journal.head().map_or(0, |h| h.seq);
    let bytes = journal.file_size().unwrap();
    eprintln!(
        "journal file size, {what}: {bytes} bytes for {entries} entries = {:.1} bytes/entry",
        bytes as f64 / entries.max(1) as f64
    );
}

criterion_group!(benches, bench_append, bench_verify);
criterion_main!(benches);
