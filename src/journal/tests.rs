//! Unit tests of the journal API: appends, reopening, the readers and the run summary.

use super::*;
use crate::digest::Digest;
use crate::op::OpOutcome;
use crate::version::{Step, Version};

fn step(from: Version) -> Step {
    Step::from_version(from).unwrap()
}

fn run_started(from: Version, to: Version) -> Payload {
    Payload::RunStarted {
        from,
        to,
        install_root: r"C:\Program Files (x86)\Blue Prism".to_string(),
        hubup_version: "0.1.0".to_string(),
        config: ConfigRecord::from_pairs([("sql.server", "SQL01")]),
    }
}

fn planned(step: Step) -> Payload {
    Payload::StepPlanned {
        step,
        ops: Vec::new(),
        package: Digest::of(b"package"),
        tree_before: Digest::of(b"tree"),
        apphost_before: Digest::of(b"apphost"),
    }
}

fn temp_journal() -> (tempfile::TempDir, Journal) {
    let dir = tempfile::tempdir().unwrap();
    let mut journal = Journal::create(dir.path().join("journal.redb")).unwrap();
    journal.set_machine("HUB01");
    journal.set_clock(|| 1_700_000_000_000);
    (dir, journal)
}

#[test]
fn appends_survive_reopen_and_chain_links() {
    let (dir, mut journal) = temp_journal();
    let run = RunId([1; 16]);
    assert_eq!(journal.head(), None);
    let first = journal
        .append(run, &[run_started(Version::V4_0, Version::V4_2)])
        .unwrap()
        .unwrap();
    assert_eq!(first.seq, 1);
    let s = step(Version::V4_0);
    let head = journal
        .append(run, &[planned(s), Payload::OpIntent { step: s, index: 0 }])
        .unwrap()
        .unwrap();
    assert_eq!(head.seq, 3);
    assert_eq!(journal.append(run, &[]).unwrap(), Some(head));
    drop(journal);

    let journal = Journal::open(dir.path().join("journal.redb")).unwrap();
    assert_eq!(journal.head(), Some(head));
    let entries = journal.entries().unwrap();
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[0].prev, Digest::ZERO);
    assert_eq!(entries[1].prev, entries[0].hash);
    assert_eq!(entries[2].prev, entries[1].hash);
    assert_eq!(entries[2].hash, head.hash);
    assert_eq!(entries[2].machine, "HUB01");
    assert_eq!(entries[2].timestamp_ms, 1_700_000_000_000);
    let report = journal.verify().unwrap();
    assert_eq!(report.entries, 3);
    assert_eq!(report.runs, 1);
    assert_eq!(report.head, Some(head));
}

#[test]
fn readers_filter_by_run_step_and_tail() {
    let (_dir, mut journal) = temp_journal();
    let (a, b) = (RunId([0xa; 16]), RunId([0xb; 16]));
    let s0 = step(Version::V4_0);
    let s1 = step(Version::V4_1);
    journal
        .append(a, &[run_started(Version::V4_0, Version::V4_2), planned(s0)])
        .unwrap();
    journal
        .append(
            b,
            &[Payload::Note {
                step: None,
                text: "other run".into(),
            }],
        )
        .unwrap();
    journal
        .append(a, &[Payload::OpIntent { step: s0, index: 0 }, planned(s1)])
        .unwrap();
    assert_eq!(journal.run_entries(a).unwrap().len(), 4);
    assert_eq!(journal.run_entries(b).unwrap().len(), 1);
    let step_entries = journal.step_entries(a, s0).unwrap();
    assert_eq!(
        step_entries.iter().map(|e| e.seq).collect::<Vec<_>>(),
        [2, 4]
    );
    let tail = journal.tail(2).unwrap();
    assert_eq!(tail.iter().map(|e| e.seq).collect::<Vec<_>>(), [4, 5]);
    assert!(journal.tail(0).unwrap().is_empty());
    assert_eq!(journal.tail(100).unwrap().len(), 5);
    assert_eq!(journal.verify().unwrap().runs, 2);
}

#[test]
fn unfinished_run_tracks_steps_cancel_and_finish() {
    let (_dir, mut journal) = temp_journal();
    let run = RunId([7; 16]);
    assert_eq!(journal.unfinished_run().unwrap(), None);
    let s0 = step(Version::V4_0);
    let s1 = step(Version::V4_1);
    journal
        .append(
            run,
            &[
                run_started(Version::V4_0, Version::V4_2),
                planned(s0),
                Payload::OpIntent { step: s0, index: 0 },
                Payload::OpDone {
                    step: s0,
                    index: 0,
                    outcome: OpOutcome::Applied,
                },
                Payload::StepCommitted {
                    step: s0,
                    tree_after: Digest::of(b"t1"),
                    apphost_after: Digest::of(b"a1"),
                },
                planned(s1),
                Payload::RunCancelled { step: Some(s1) },
            ],
        )
        .unwrap();
    let unfinished = journal.unfinished_run().unwrap().unwrap();
    assert_eq!(unfinished.run, run);
    assert_eq!(
        (unfinished.from, unfinished.to),
        (Version::V4_0, Version::V4_2)
    );
    assert_eq!(unfinished.last_planned, Some(s1));
    assert_eq!(unfinished.last_committed, Some(s0));
    assert!(unfinished.cancelled);
    assert_eq!(unfinished.started_seq, 1);
    assert_eq!(unfinished.last_seq, 7);
    assert_eq!(unfinished.machine, "HUB01");

    journal
        .append(
            run,
            &[
                Payload::RunResumed {},
                Payload::RollbackStarted {
                    step: s1,
                    reason: "operator asked".into(),
                    target: s1.from,
                },
            ],
        )
        .unwrap();
    let unfinished = journal.unfinished_run().unwrap().unwrap();
    assert!(!unfinished.cancelled);
    assert_eq!(unfinished.rolling_back, Some(s1));

    journal
        .append(
            run,
            &[Payload::RunFinished {
                outcome: RunOutcome::RolledBack {
                    version: Version::V4_1,
                },
            }],
        )
        .unwrap();
    assert_eq!(journal.unfinished_run().unwrap(), None);
}

#[test]
fn oversized_entry_fails_the_whole_batch() {
    let (_dir, mut journal) = temp_journal();
    let run = RunId([3; 16]);
    journal
        .append(
            run,
            &[Payload::Note {
                step: None,
                text: "kept".into(),
            }],
        )
        .unwrap();
    let before = journal.head();
    let huge = Payload::Note {
        step: None,
        text: "x".repeat(MAX_ENTRY_BYTES + 1),
    };
    let small = Payload::Note {
        step: None,
        text: "lost".into(),
    };
    let err = journal.append(run, &[small, huge]).unwrap_err();
    assert!(
        matches!(err, JournalError::EntryTooLarge { seq: 3, .. }),
        "{err}"
    );
    assert_eq!(journal.head(), before);
    assert_eq!(journal.entries().unwrap().len(), 1);
}

#[test]
fn second_journal_handle_is_busy() {
    let (dir, _journal) = temp_journal();
    let err = Journal::open(dir.path().join("journal.redb"))
        .err()
        .expect("second open must fail");
    let message = err.to_string();
    assert!(matches!(err, JournalError::Busy { .. }), "{message}");
    assert!(
        message.contains(&format!("pid {}", std::process::id())),
        "{message}"
    );
    assert!(message.contains("a run is in progress"), "{message}");
}

#[test]
fn an_empty_journal_verifies_and_has_no_unfinished_run() {
    let (dir, journal) = temp_journal();
    drop(journal);
    let journal = Journal::open(dir.path().join("journal.redb")).unwrap();
    let report = journal.verify().unwrap();
    assert_eq!((report.entries, report.runs, report.head), (0, 0, None));
    assert!(journal.entries().unwrap().is_empty());
    assert_eq!(journal.unfinished_run().unwrap(), None);
}

#[test]
fn a_new_journal_appears_whole_and_an_emptied_one_is_refused_not_made_again() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.redb");
    // What a lost write (or a creation cut short by an older hubup) leaves: zero bytes. Its
    // runs are gone; neither a reader nor a writer may start over in its place.
    for content in [Vec::new(), vec![0u8; 4096]] {
        std::fs::write(&path, &content).unwrap();
        for result in [Journal::create(&path), Journal::open(&path)] {
            match result {
                Err(JournalError::Empty { size, .. }) => assert_eq!(size, content.len() as u64),
                Err(other) => panic!("expected Empty, got {other}"),
                Ok(_) => panic!("an emptied journal was opened"),
            }
        }
        assert_eq!(std::fs::read(&path).unwrap(), content, "left as it was");
    }
    std::fs::remove_file(&path).unwrap();
    std::fs::write(dir.path().join("journal.redb.creating"), b"leftover").unwrap();
    let mut journal = Journal::create(&path).unwrap();
    journal
        .append(
            RunId::random(),
            &[run_started(Version::V4_0, Version::V4_1)],
        )
        .unwrap();
    drop(journal);
    assert_eq!(Journal::open(&path).unwrap().entries().unwrap().len(), 1);
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".pid"))
        .collect();
    assert_eq!(names, ["journal.redb"], "no temporary file is left");

    // A file with content that is not a journal is refused and left as it is.
    let other = dir.path().join("other.redb");
    std::fs::write(&other, b"not a database").unwrap();
    assert!(matches!(
        Journal::create(&other),
        Err(JournalError::NotAJournal { .. })
    ));
    assert_eq!(std::fs::read(&other).unwrap(), b"not a database");
}
