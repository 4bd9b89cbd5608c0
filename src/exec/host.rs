//! Host ops under the write-ahead rule: observe the object, journal what was found
//! (`HostObserved`, durable before the change), change it through the host adapter, observe
//! again to verify, then done. Undo puts back what was observed and changes nothing when the
//! object already was as wanted, so a binding, an ACL entry or a stopped site that was there
//! before hubup stays as it was.
//!
//! On resume, an op whose observation is journaled keeps it: the state before the change is
//! what the journal says, not what the machine shows after a change that may have happened.
//! An op with an intent but no observation never started its change.

use std::collections::BTreeMap;

use crate::host::{HostAdapter, HostError, is_running, satisfies};
use crate::op::{HostChange, HostObject, HostOp, HostState, OpOutcome};

/// Whether the op must change anything, given what its object was before it
/// (`observations`: what the step's earlier host ops found, by op index).
fn needed(op: &HostOp, before: &HostState, observations: &BTreeMap<u32, HostState>) -> bool {
    match &op.change {
        HostChange::Start { stop_op } => {
            let was_running = observations
                .get(stop_op)
                .and_then(is_running)
                .unwrap_or(false);
            was_running && is_running(before) == Some(false)
        }
        HostChange::Restart => is_running(before) == Some(true),
        HostChange::RestartIis => true,
        change => !satisfies(change, before),
    }
}

/// Whether a change can be seen in the object's state afterwards (a restart cannot).
fn verifiable(change: &HostChange) -> bool {
    !matches!(change, HostChange::Restart | HostChange::RestartIis)
}

/// Applies `op` whose object was `before` (observed now, or journaled by an earlier process).
pub fn apply(
    host: &mut dyn HostAdapter,
    op: &HostOp,
    before: &HostState,
    observations: &BTreeMap<u32, HostState>,
) -> Result<OpOutcome, HostError> {
    if !needed(op, before, observations) {
        return Ok(match &op.change {
            HostChange::Start { stop_op } if is_running(before) == Some(true) => {
                OpOutcome::Skipped {
                    reason: format!("it already runs again (op {stop_op} stopped it)"),
                }
            }
            HostChange::Start { stop_op } => OpOutcome::Skipped {
                reason: format!("op {stop_op} found it not running: it stays as it was"),
            },
            HostChange::Restart => OpOutcome::Skipped {
                reason: "it does not run".into(),
            },
            _ => OpOutcome::AlreadyPresent,
        });
    }
    let now = host.observe(&op.object)?;
    // An earlier process may have made the change before it stopped.
    if &now != before && verifiable(&op.change) && satisfies(&op.change, &now) {
        return Ok(OpOutcome::Applied);
    }
    match (&op.change, &now) {
        // http.sys keeps one binding per host name and port (netsh's error 183 for a second
        // one): another certificate's binding is replaced, and undo puts it back.
        (HostChange::Bind(wanted), HostState::Binding(Some(_))) => {
            host.restore(&op.object, &HostState::Binding(Some(wanted.clone())))?
        }
        _ => host.change(&op.object, &op.change)?,
    }
    if op.change == HostChange::RestartIis
        && let HostState::Sites(_) = before
    {
        host.restore(&HostObject::Iis, before)?;
    }
    if verifiable(&op.change) {
        let after = host.observe(&op.object)?;
        if !satisfies(&op.change, &after) {
            return Err(HostError::NotAsWanted {
                object: op.object.describe(),
                wanted: op.describe(),
                found: after.describe(),
            });
        }
    }
    Ok(OpOutcome::Applied)
}

/// Undoes `op`: puts back `before`, what it observed; nothing if it observed nothing (its
/// change never started) or if its object already was as wanted.
pub fn undo(
    host: &mut dyn HostAdapter,
    op: &HostOp,
    before: Option<&HostState>,
) -> Result<(), HostError> {
    let Some(before) = before else {
        return Ok(());
    };
    match &op.change {
        HostChange::Restart => Ok(()),
        HostChange::RestartIis | HostChange::Start { .. } | HostChange::Stop => {
            host.restore(&op.object, before)
        }
        change if satisfies(change, before) => Ok(()),
        _ => host.restore(&op.object, before),
    }
}

/// Whether `object` exists only after the step's change: the new name of a site the step
/// renames, which its plan starts by the stop of the old name (a `Start` whose `stop_op`
/// names another object). Rollback leaves it to the old name, which stands for it.
fn exists_only_after(ops: &[crate::op::Op], object: &HostObject) -> bool {
    ops.iter().any(|op| match op {
        crate::op::Op::Host(HostOp {
            object: o,
            change: HostChange::Start { stop_op },
        }) if o == object => !matches!(
            ops.get(*stop_op as usize),
            Some(crate::op::Op::Host(stop)) if &stop.object == object
        ),
        _ => false,
    })
}

/// The host objects a step's ops observed, each with the state its first observation found:
/// the host state before the step, what rollback verification compares. An object that
/// exists only after the step's change ([`exists_only_after`]) is left out.
pub fn states_before(
    ops: &[crate::op::Op],
    observed: &BTreeMap<u32, HostState>,
) -> Vec<(HostObject, HostState)> {
    let mut first: BTreeMap<HostObject, HostState> = BTreeMap::new();
    for (index, state) in observed {
        if let Some(crate::op::Op::Host(op)) = ops.get(*index as usize)
            && !matches!(op.change, HostChange::Restart | HostChange::RestartIis)
            && !exists_only_after(ops, &op.object)
        {
            first
                .entry(op.object.clone())
                .or_insert_with(|| state.clone());
        }
    }
    first.into_iter().collect()
}

/// Every object a step's host ops touch, once each, in order: what the step's
/// `HostStateBefore` digests. Left out, as in [`states_before`]: restarts (they leave the
/// state as it was) and a start of an object other than the one its stop stopped (a renamed
/// site, which exists only after the step's change).
pub fn touched_objects(ops: &[crate::op::Op]) -> Vec<HostObject> {
    let mut objects: Vec<HostObject> = ops
        .iter()
        .filter_map(|op| match op {
            crate::op::Op::Host(host) => Some(host),
            _ => None,
        })
        .filter(|op| !matches!(op.change, HostChange::Restart | HostChange::RestartIis))
        .filter(|op| !exists_only_after(ops, &op.object))
        .map(|op| op.object.clone())
        .collect();
    objects.sort();
    objects.dedup();
    objects
}

/// The objects of `before` whose state now differs from it, each with what it is now.
pub fn differences(
    host: &mut dyn HostAdapter,
    before: &[(HostObject, HostState)],
) -> Result<Vec<(HostObject, HostState, HostState)>, HostError> {
    let mut out = Vec::new();
    for (object, state) in before {
        let now = host.observe(object)?;
        if &now != state {
            out.push((object.clone(), state.clone(), now));
        }
    }
    Ok(out)
}
