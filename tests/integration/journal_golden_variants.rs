//! The golden journals together hold every variant of every enum a journal entry is made of,
//! so a build that could not decode one fails here; and [`all_ops`], which the property, crash
//! and secrets tests use, holds every variant an op can be made of. The variants the types
//! have come from their own derived deserializers (`support::variants`), so nobody has to list
//! them; `support::variants::variants_in_op` names them with exhaustive matches, so a new
//! variant does not compile until it is named there.
//!
//! `tests/golden/journal-v1-all-ops.redb` (format 1) holds the first [`ALL_OPS_V1`] ops of
//! [`all_ops`]: every variant when it was written (`SqlOp::CreateLogin` and
//! `SqlOp::BackupDatabase` joined after golden v1); the payload kinds appended after it (and
//! `SqlBefore`'s variants) are in `journal-v1-sql.redb` and `journal-v1-recovery.redb`
//! (`journal_golden`); the host ops and `host_observed` (issue 14) in `journal-v1-host.redb`.
//! A new variant (appended last, as the
//! journal stores variant indexes) gets an example at the end of [`all_ops`] and a new golden
//! file holding it, listed in [`GOLDENS`] and written once with
//! `HUBUP_REGENERATE_GOLDEN=<file name> cargo test --test integration journal_golden`;
//! `the_golden_journals_hold_every_variant` fails until then.

use std::collections::BTreeSet;

use super::journal_golden::{
    GOLDEN_V1, GOLDEN_V1_RECOVERY, GOLDEN_V1_SQL, Golden, assert_written_the_same, golden_copy,
    open_and_check,
};
use crate::support::journal::{all_ops, host_states, run_batches_planned_with, run_started, step};
use crate::support::variants::{journaled_variants, variants_in_op, variants_in_payload};
use hubup::{Entry, Journal, OpOutcome, PAYLOAD_KINDS, Payload, RunId, RunOutcome, Version};

/// How many ops of [`all_ops`] `journal-v1-all-ops.redb` holds (all there were when it was
/// written; later ones are appended after them and go into a newer golden file).
const ALL_OPS_V1: usize = 25;

const GOLDEN_V1_ALL_OPS: Golden = Golden {
    file: "journal-v1-all-ops.redb",
    batches: golden_v1_all_ops_batches,
};

/// Golden v1-host (issue 14): the ops of [`all_ops`] after the first [`ALL_OPS_V1`] (an IIS
/// site whose pool runs as another does, and a host op of every object and change kind) and
/// `host_observed` with a host state of every kind.
const GOLDEN_V1_HOST: Golden = Golden {
    file: "journal-v1-host.redb",
    batches: golden_v1_host_batches,
};

/// The machine's digest before a step (`host_state_before`, issue 14), journaled with the
/// step's plan.
const GOLDEN_V1_HOST_DIGEST: Golden = Golden {
    file: "journal-v1-host-digest.redb",
    batches: golden_v1_host_digest_batches,
};

/// `hubup backups prune` (issue 15): `backup_pruning` on a finished run, then the removal.
const GOLDEN_V1_PRUNE: Golden = Golden {
    file: "journal-v1-prune.redb",
    batches: golden_v1_prune_batches,
};

/// The broker's feature-flag op (issue 15, `--enable-quorum-queue`).
const GOLDEN_V1_BROKER: Golden = Golden {
    file: "journal-v1-broker.redb",
    batches: golden_v1_broker_batches,
};

/// Every golden journal, oldest first.
pub const GOLDENS: [&Golden; 8] = [
    &GOLDEN_V1,
    &GOLDEN_V1_ALL_OPS,
    &GOLDEN_V1_SQL,
    &GOLDEN_V1_RECOVERY,
    &GOLDEN_V1_HOST,
    &GOLDEN_V1_HOST_DIGEST,
    &GOLDEN_V1_PRUNE,
    &GOLDEN_V1_BROKER,
];

/// What golden v1-broker holds: an unfinished run 4.1 -> 4.2 whose step is planned with the
/// ops of [`all_ops`] after those of v1-all-ops and v1-host (the broker's feature flag), each
/// with its intent and done (4 entries).
fn golden_v1_broker_batches() -> Vec<(RunId, Vec<Payload>)> {
    const RUN: RunId = RunId(*b"golden-v1-brokr1");
    let s = step(Version::V4_1);
    let ops: Vec<hubup::Op> = all_ops()
        .into_iter()
        .skip(ALL_OPS_V1 + crate::support::journal::host_ops().len())
        .collect();
    let config = hubup::ConfigRecord::from_pairs([("rabbitmq.enable_quorum_queue", "true")]);
    let mut batches = vec![
        vec![run_started(Version::V4_1, Version::V4_2, config)],
        vec![Payload::StepPlanned {
            step: s,
            ops: ops.clone(),
            package: hubup::Digest::of(b"package 4.2"),
            tree_before: hubup::Digest::of(b"tree 4.1"),
            apphost_before: hubup::Digest::of(b"apphost 4.1"),
        }],
    ];
    for index in 0..ops.len() as u32 {
        batches.push(vec![Payload::OpIntent { step: s, index }]);
        batches.push(vec![Payload::OpDone {
            step: s,
            index,
            outcome: OpOutcome::Applied,
        }]);
    }
    batches.into_iter().map(|batch| (RUN, batch)).collect()
}

#[test]
fn golden_v1_broker_opens_verifies_and_decodes_to_the_expected_entries() {
    let dir = tempfile::tempdir().unwrap();
    let (_, entries) = open_and_check(&GOLDEN_V1_BROKER, dir.path(), 1);
    assert!(variants_in(&entries).contains("Op::Broker"));
    assert_written_the_same(&GOLDEN_V1_BROKER);
}

/// What golden v1-prune holds: a finished run 4.0 -> 4.1 (the frozen full run), then
/// `hubup backups prune` taking its step's backup: `backup_pruning`, `backup_removed`.
fn golden_v1_prune_batches() -> Vec<(RunId, Vec<Payload>)> {
    const RUN: RunId = RunId(*b"golden-v1-prune1");
    let s = step(Version::V4_0);
    let mut batches = crate::support::journal::full_run_batches(Version::V4_0, Version::V4_1);
    batches.push(vec![Payload::BackupPruning { step: s }]);
    batches.push(vec![Payload::BackupRemoved { step: s }]);
    batches.into_iter().map(|batch| (RUN, batch)).collect()
}

#[test]
fn golden_v1_prune_opens_verifies_and_decodes_to_the_expected_entries() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, entries) = open_and_check(&GOLDEN_V1_PRUNE, dir.path(), 1);
    assert!(variants_in(&entries).contains("Payload::BackupPruning"));
    assert!(
        journal.unfinished_run().unwrap().is_none(),
        "pruning leaves the run finished"
    );
    assert_written_the_same(&GOLDEN_V1_PRUNE);
}

/// What golden v1-host-digest holds: an unfinished run 4.1 -> 4.2 whose step is planned with
/// the host ops of [`all_ops`] and the digest of the machine they touch, in one batch, then the
/// first op's intent (4 entries).
fn golden_v1_host_digest_batches() -> Vec<(RunId, Vec<Payload>)> {
    const RUN: RunId = RunId(*b"golden-v1-hdig01");
    let s = step(Version::V4_1);
    let ops: Vec<hubup::Op> = all_ops()
        .into_iter()
        .filter(|op| matches!(op, hubup::Op::Host(_)))
        .collect();
    let objects = ops.len() as u32;
    let config = hubup::ConfigRecord::from_pairs([("host.adapter", "sandbox")]);
    let batches = vec![
        vec![run_started(Version::V4_1, Version::V4_2, config)],
        vec![
            Payload::StepPlanned {
                step: s,
                ops,
                package: hubup::Digest::of(b"package 4.2"),
                tree_before: hubup::Digest::of(b"tree 4.1"),
                apphost_before: hubup::Digest::of(b"apphost 4.1"),
            },
            Payload::HostStateBefore {
                step: s,
                digest: hubup::Digest::of(b"machine before 4.1 -> 4.2"),
                objects,
            },
        ],
        vec![Payload::OpIntent { step: s, index: 0 }],
    ];
    batches.into_iter().map(|batch| (RUN, batch)).collect()
}

#[test]
fn golden_v1_host_digest_opens_verifies_and_decodes_to_the_expected_entries() {
    let dir = tempfile::tempdir().unwrap();
    let (_, entries) = open_and_check(&GOLDEN_V1_HOST_DIGEST, dir.path(), 1);
    assert!(variants_in(&entries).contains("Payload::HostStateBefore"));
    assert_written_the_same(&GOLDEN_V1_HOST_DIGEST);
}

/// What golden v1-host holds: an unfinished run 4.1 -> 4.2 whose step is planned with the
/// ops of [`all_ops`] after [`ALL_OPS_V1`]; each op has its intent and done, and each host op
/// its journaled observation (`host_states`, one of every kind) in between.
fn golden_v1_host_batches() -> Vec<(RunId, Vec<Payload>)> {
    const RUN: RunId = RunId(*b"golden-v1-host01");
    let s = step(Version::V4_1);
    let ops: Vec<hubup::Op> = all_ops()
        .into_iter()
        .skip(ALL_OPS_V1)
        .take(crate::support::journal::host_ops().len())
        .collect();
    let config = hubup::ConfigRecord::from_pairs([("host.adapter", "sandbox")]);
    let mut batches = vec![
        vec![run_started(Version::V4_1, Version::V4_2, config)],
        vec![Payload::StepPlanned {
            step: s,
            ops: ops.clone(),
            package: hubup::Digest::of(b"package 4.2"),
            tree_before: hubup::Digest::of(b"tree 4.1"),
            apphost_before: hubup::Digest::of(b"apphost 4.1"),
        }],
    ];
    let mut states = host_states().into_iter();
    for (index, op) in ops.iter().enumerate() {
        let index = index as u32;
        batches.push(vec![Payload::OpIntent { step: s, index }]);
        if matches!(op, hubup::Op::Host(_)) {
            let state = states.next().expect("a state for every host op");
            batches.push(vec![Payload::HostObserved {
                step: s,
                index,
                state,
            }]);
        }
        batches.push(vec![Payload::OpDone {
            step: s,
            index,
            outcome: OpOutcome::Applied,
        }]);
    }
    assert!(states.next().is_none(), "every host state is used");
    batches.into_iter().map(|batch| (RUN, batch)).collect()
}

#[test]
fn golden_v1_host_opens_verifies_and_decodes_to_the_expected_entries() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, entries) = open_and_check(&GOLDEN_V1_HOST, dir.path(), 1);
    let held = variants_in(&entries);
    for added in [
        "Op::Host",
        "Payload::HostObserved",
        "AppHostEdit::AddSiteWithPoolIdentity",
    ] {
        assert!(held.contains(added), "{added}: {held:?}");
    }
    let unfinished = journal.unfinished_run().unwrap().unwrap();
    assert_eq!(unfinished.run, RunId(*b"golden-v1-host01"));
    assert_eq!(unfinished.last_planned, Some(step(Version::V4_1)));
}

#[test]
fn this_build_still_writes_golden_v1_host_byte_for_byte() {
    assert_written_the_same(&GOLDEN_V1_HOST);
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
    let mut batches: Vec<(RunId, Vec<Payload>)> =
        run_batches_planned_with(Version::V4_0, Version::V4_2, &ops)
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

/// The variants of every journaled enum that `entries` hold.
fn variants_in(entries: &[Entry]) -> BTreeSet<String> {
    entries
        .iter()
        .flat_map(|e| variants_in_payload(&e.payload))
        .map(str::to_string)
        .collect()
}

#[test]
fn golden_v1_all_ops_opens_verifies_and_decodes_to_the_expected_entries() {
    let dir = tempfile::tempdir().unwrap();
    let (journal, entries) = open_and_check(&GOLDEN_V1_ALL_OPS, dir.path(), 3);
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
fn this_build_still_writes_golden_v1_all_ops_byte_for_byte() {
    assert_written_the_same(&GOLDEN_V1_ALL_OPS);
}

#[test]
fn the_golden_journals_hold_every_variant() {
    let dir = tempfile::tempdir().unwrap();
    let mut held = BTreeSet::new();
    for golden in GOLDENS {
        let journal = Journal::open(golden_copy(golden, dir.path())).unwrap();
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

#[test]
fn the_golden_journals_hold_every_payload_kind_by_name() {
    // `PAYLOAD_KINDS` (what `journal show` and `export` call each kind) agrees with the kinds
    // the golden journals hold, so a kind without a name or a golden example fails here.
    let dir = tempfile::tempdir().unwrap();
    let mut kinds = BTreeSet::new();
    for golden in GOLDENS {
        let journal = Journal::open(golden_copy(golden, dir.path())).unwrap();
        kinds.extend(journal.entries().unwrap().iter().map(|e| e.payload.kind()));
    }
    let all: BTreeSet<&str> = PAYLOAD_KINDS.into_iter().collect();
    assert_eq!(all.len(), PAYLOAD_KINDS.len(), "no name twice");
    assert_eq!(kinds, all, "every payload kind is in a golden journal");
}

#[test]
fn all_ops_hold_every_variant() {
    let named: BTreeSet<String> = all_ops()
        .iter()
        .flat_map(variants_in_op)
        .map(str::to_string)
        .collect();
    let outside_ops = [
        "Payload::",
        "OpOutcome::",
        "RunOutcome::",
        "SqlBefore::",
        "HostState::",
    ];
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
