//! Property test: random sequences of batches (random payloads, random runs, random batch
//! sizes) with the journal closed and reopened at random points. After every action the
//! journal verifies, and it holds exactly the acknowledged entries, in order.

use crate::support::journal::all_ops;
use hubup::{ConfigRecord, Digest, Entry, Journal, OpOutcome, Payload, RunId, Step, Version};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Action {
    Append { run: u8, payloads: Vec<Payload> },
    Reopen,
}

fn step_of(n: u8) -> Step {
    let from = Version::all().nth(usize::from(n % 5)).unwrap();
    Step::from_version(from).unwrap()
}

fn outcome() -> impl Strategy<Value = OpOutcome> {
    prop_oneof![
        Just(OpOutcome::Applied),
        Just(OpOutcome::AlreadyPresent),
        ".{0,20}".prop_map(|reason| OpOutcome::Skipped { reason }),
        any::<[u8; 32]>().prop_map(|d| OpOutcome::BackedUp {
            manifest: Digest(d)
        }),
    ]
}

fn payload() -> impl Strategy<Value = Payload> {
    prop_oneof![
        (any::<Option<u8>>(), ".{0,60}").prop_map(|(step, text)| Payload::Note {
            step: step.map(step_of),
            text
        }),
        (any::<u8>(), any::<u32>()).prop_map(|(s, index)| Payload::OpIntent {
            step: step_of(s),
            index
        }),
        (any::<u8>(), any::<u32>(), outcome()).prop_map(|(s, index, outcome)| Payload::OpDone {
            step: step_of(s),
            index,
            outcome
        }),
        (any::<u8>(), any::<u32>(), ".{0,40}").prop_map(|(s, index, error)| {
            Payload::OpFailed {
                step: step_of(s),
                index,
                error,
            }
        }),
        (
            any::<u8>(),
            proptest::sample::subsequence(all_ops(), 0..=all_ops().len()),
            any::<[u8; 32]>()
        )
            .prop_map(|(s, ops, d)| Payload::StepPlanned {
                step: step_of(s),
                ops,
                package: Digest(d),
                tree_before: Digest::of(&d),
                apphost_before: Digest::ZERO,
            }),
        (any::<u8>(), any::<bool>()).prop_map(|(s, verified)| Payload::StepRolledBack {
            step: step_of(s),
            tree_after: Digest::of(b"t"),
            apphost_after: Digest::of(b"a"),
            verified
        }),
        proptest::collection::vec(("[a-z.]{1,12}", ".{0,16}"), 0..6).prop_map(|pairs| {
            Payload::RunStarted {
                from: Version::V4_0,
                to: Version::V4_5,
                install_root: r"D:\Blue Prism".into(),
                hubup_version: "0.1.0".into(),
                config: ConfigRecord::from_pairs(pairs),
            }
        }),
        Just(Payload::RunResumed {}),
        any::<Option<u8>>().prop_map(|s| Payload::RunCancelled {
            step: s.map(step_of)
        }),
    ]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        4 => (0u8..3, proptest::collection::vec(payload(), 1..40))
            .prop_map(|(run, payloads)| Action::Append { run, payloads }),
        1 => Just(Action::Reopen),
    ]
}

fn check(journal: &Journal, acknowledged: &[(RunId, Payload)]) -> Result<(), TestCaseError> {
    let report = journal
        .verify()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(report.entries, acknowledged.len() as u64);
    prop_assert_eq!(report.head, journal.head());
    let entries: Vec<Entry> = journal
        .entries()
        .map_err(|e| TestCaseError::fail(e.to_string()))?;
    prop_assert_eq!(entries.len(), acknowledged.len());
    for (i, (entry, (run, payload))) in entries.iter().zip(acknowledged).enumerate() {
        prop_assert_eq!(entry.seq, i as u64 + 1);
        prop_assert_eq!(entry.run, *run);
        prop_assert_eq!(&entry.payload, payload);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn batches_and_reopens_keep_every_acknowledged_entry(
        actions in proptest::collection::vec(action(), 1..14)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("journal.redb");
        let mut journal = Journal::create(&file).unwrap();
        let mut acknowledged: Vec<(RunId, Payload)> = Vec::new();
        for action in actions {
            match action {
                Action::Append { run, payloads } => {
                    let run = RunId([run; 16]);
                    let head = journal.append(run, &payloads).unwrap().unwrap();
                    acknowledged.extend(payloads.into_iter().map(|p| (run, p)));
                    prop_assert_eq!(head.seq, acknowledged.len() as u64);
                }
                Action::Reopen => {
                    let head = journal.head();
                    drop(journal);
                    journal = Journal::open(&file).unwrap();
                    prop_assert_eq!(journal.head(), head);
                }
            }
            check(&journal, &acknowledged)?;
        }
        drop(journal);
        check(&Journal::open(&file).unwrap(), &acknowledged)?;
    }
}
