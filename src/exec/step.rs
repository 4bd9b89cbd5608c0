//! One step as a transaction: executing its journaled plan under the write-ahead rule with
//! group commit, resuming it after an interruption, and rolling it back.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};

use crate::digest::Digest;
use crate::exec::apply::{self, OpContext, OpError};
use crate::exec::host;
use crate::exec::prepare::PrepareError;
use crate::exec::recorder::Recorder;
use crate::exec::recovery::{self, Scope};
use crate::exec::sql_lock::SqlLocked;
use crate::exec::state::{RunState, StepState};
use crate::exec::{Engine, EngineError, Event, Finding, PlannedStep};
use crate::fsx::{DirtyDirs, Staging};
use crate::install;
use crate::journal::{Payload, RunId};
use crate::model::InstallModel;
use crate::op::{HostState, Op, OpOutcome, SqlBefore};
use crate::package::{Package, PackageFile};
use crate::version::{Step, Version};

/// How a step ended.
pub(super) enum StepEnd {
    Committed,
    RolledBack {
        error: String,
    },
    Cancelled,
    /// Script mode: stopped before the step's sites start, until a DBA runs the script.
    AwaitingDba {
        script: std::path::PathBuf,
    },
}

/// File ops run in batches: one commit for the batch's intents, one folder flush per folder,
/// one commit (shared with the next intents) for its done records.
const BATCH_OPS: usize = 1000;
const BATCH_BYTES: u64 = 256 * 1024 * 1024;

fn is_file_op(op: &Op) -> bool {
    matches!(op, Op::WriteFile(_) | Op::DeleteFile(_))
}

fn op_bytes(op: &Op) -> u64 {
    match op {
        Op::WriteFile(w) => w.size,
        _ => 0,
    }
}

pub(super) fn has_sql(ops: &[Op]) -> bool {
    ops.iter().any(|op| matches!(op, Op::Sql(_)))
}

pub(super) fn files_by_entry(package: &Package) -> BTreeMap<String, PackageFile> {
    package
        .manifest()
        .files
        .iter()
        .map(|f| (f.entry_name(), f.clone()))
        .collect()
}

fn progress_bar(engine: &Engine<'_>, step: Step, len: usize, verb: &str) -> ProgressBar {
    if !engine.progress {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len as u64);
    let style = ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ops ({eta})")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(format!("{verb} {step}"));
    bar
}

/// How a run of ops ended.
enum OpsEnd {
    Completed,
    Cancelled,
    Failed {
        index: u32,
        error: String,
    },
    AwaitingDba {
        script: std::path::PathBuf,
    },
    /// Every op is done, but a site does not answer as it must (`[probes] after_steps`).
    Unhealthy(String),
}

/// What [`run_ops`] needs besides the engine.
struct OpsRun<'x> {
    run: RunId,
    step: Step,
    ops: &'x [Op],
    /// Ops already done (resume): skipped.
    done: &'x BTreeMap<u32, OpOutcome>,
    /// Ops that had an intent before this process started (resume): checked before applying.
    prior_intents: &'x BTreeSet<u32>,
    /// What host ops found before their change, journaled by an earlier process (resume).
    observed: &'x BTreeMap<u32, HostState>,
    /// What database ops recorded about the server before their change (resume).
    sql_before: &'x BTreeMap<u32, SqlBefore>,
    /// The DBA's work of the step is done (script mode): its sites may start.
    dba_done: bool,
    package: &'x Package,
}

/// Runs the ops not yet done, in order, batching file ops.
fn run_ops(engine: &mut Engine<'_>, x: OpsRun<'_>) -> Result<OpsEnd, EngineError> {
    let files = files_by_entry(x.package);
    let bar = progress_bar(engine, x.step, x.ops.len(), "upgrading");
    bar.set_position(x.done.len() as u64);
    let mut rec = Recorder::new(&mut *engine.journal, &engine.faults, x.run);
    let mut dirty = DirtyDirs::default();
    let mut staging = Staging::default();
    let mut observed = x.observed.clone();
    let mut i = 0usize;
    while i < x.ops.len() {
        if engine.cancel.load(std::sync::atomic::Ordering::SeqCst) {
            rec.now([Payload::RunCancelled { step: Some(x.step) }])?;
            bar.abandon();
            return Ok(OpsEnd::Cancelled);
        }
        let index = i as u32;
        if x.done.contains_key(&index) {
            i += 1;
            continue;
        }
        if let Some(script) = dba_stop(&*engine.sql, &x, i) {
            rec.now([Payload::AwaitingDba {
                step: x.step,
                script: script.display().to_string(),
            }])?;
            bar.abandon();
            return Ok(OpsEnd::AwaitingDba { script });
        }
        let end = batch_end(x.ops, i, x.done);
        rec.now((i..end).map(|j| Payload::OpIntent {
            step: x.step,
            index: j as u32,
        }))?;
        let mut completed = Vec::new();
        let mut failure = None;
        // A host op observes its object and journals what it found before it changes it.
        if let Op::Host(h) = &x.ops[i]
            && !observed.contains_key(&index)
        {
            let found = engine
                .faults
                .before_apply(x.step, index)
                .map_err(OpError::from)
                .and_then(|()| Ok(engine.host.observe(&h.object)?));
            match found {
                Ok(state) => {
                    rec.now([Payload::HostObserved {
                        step: x.step,
                        index,
                        state: state.clone(),
                    }])?;
                    observed.insert(index, state);
                    engine.faults.after_observed();
                }
                Err(e) => {
                    tracing::warn!("step {} op {index}: {} failed: {e}", x.step, h.describe());
                    failure = Some((index, e.to_string()));
                }
            }
        }
        let mut ctx = OpContext {
            step: x.step,
            root: &engine.config.install.root,
            apphost: &engine.config.install.apphost,
            package: Some(x.package),
            package_files: &files,
            sql: &mut *engine.sql,
            secrets: &engine.secrets,
            sql_before: None,
            dirty: &mut dirty,
            staging: &mut staging,
            broker: &engine.config.rabbitmq,
        };
        for j in i..end {
            if failure.is_some() {
                break;
            }
            let index = j as u32;
            let op = &x.ops[j];
            let mut ready = engine
                .faults
                .before_apply(x.step, index)
                .map_err(OpError::from);
            if ready.is_ok()
                && let Op::Sql(sql) = op
            {
                ready = record_sql_before(&mut ctx, &mut rec, &x, index, sql)?;
            }
            let result = ready.and_then(|()| {
                if let Op::Host(h) = op {
                    let before = observed.get(&index).ok_or_else(|| {
                        OpError::HostOpElsewhere(format!("{} (not observed)", h.describe()))
                    })?;
                    Ok(host::apply(engine.host.as_mut(), h, before, &observed)?)
                } else if x.prior_intents.contains(&index) && apply::check(&mut ctx, op)? {
                    Ok(OpOutcome::AlreadyPresent)
                } else {
                    apply::apply(&mut ctx, op)
                }
            });
            match result {
                Ok(outcome) => {
                    engine.faults.after_effect();
                    tracing::debug!(
                        "step {} op {index}: {} ({outcome:?})",
                        x.step,
                        op.describe()
                    );
                    completed.push((index, outcome));
                }
                Err(e) => {
                    tracing::warn!("step {} op {index}: {} failed: {e}", x.step, op.describe());
                    failure = Some((index, e.to_string()));
                    break;
                }
            }
        }
        // Effects of the completed ops must be durable before their done records. After a
        // failure nothing staged is put in place (their intents make rollback look at them).
        if failure.is_some() {
            staging.abandon();
            completed.retain(|(index, _)| !matches!(x.ops[*index as usize], Op::WriteFile(_)));
        } else if let Err(e) = staging.commit(&mut dirty) {
            staging.abandon();
            failure = Some((
                end as u32 - 1,
                format!("putting written files in place: {e}"),
            ));
            completed.clear();
        }
        if let Err(e) = dirty.sync_all() {
            failure.get_or_insert((
                completed.last().map(|c| c.0).unwrap_or(index),
                format!("flushing folders: {e}"),
            ));
            completed.clear();
        }
        for (index, outcome) in completed {
            rec.later(Payload::OpDone {
                step: x.step,
                index,
                outcome,
            });
        }
        if let Some((index, error)) = failure {
            rec.now([Payload::OpFailed {
                step: x.step,
                index,
                error: error.clone(),
            }])?;
            bar.abandon();
            return Ok(OpsEnd::Failed { index, error });
        }
        bar.set_position(end as u64);
        (engine.events)(Event::Progress {
            step: x.step,
            done: end,
            total: x.ops.len(),
            undoing: false,
        });
        i = end;
    }
    rec.flush()?;
    bar.finish_and_clear();
    Ok(OpsEnd::Completed)
}

/// Script mode: the step stops before its first start of a site, pool or service until a DBA
/// has run the script of its database work (they would start against databases that do not
/// exist yet).
fn dba_stop(
    sql: &dyn crate::sql::SqlTarget,
    x: &OpsRun<'_>,
    index: usize,
) -> Option<std::path::PathBuf> {
    let starts = match &x.ops[index] {
        Op::Command(c) => matches!(c.purpose, crate::op::CommandPurpose::StartSite { .. }),
        Op::Host(h) => matches!(h.change, crate::op::HostChange::Start { .. }),
        _ => false,
    };
    if x.dba_done || !starts || !has_sql(x.ops) {
        return None;
    }
    sql.dba_script()
}

/// Before a database op changes the server: what it finds there, journaled (durable) before
/// the change, or what an earlier attempt journaled (resume). The outer error is the journal's
/// (the run stops); the inner one is the op's (it fails, and the step rolls back).
fn record_sql_before(
    ctx: &mut OpContext<'_>,
    rec: &mut Recorder<'_>,
    x: &OpsRun<'_>,
    index: u32,
    op: &crate::op::SqlOp,
) -> Result<Result<(), OpError>, EngineError> {
    if let Some(before) = x.sql_before.get(&index) {
        ctx.sql_before = Some(before.clone());
        return Ok(Ok(()));
    }
    match ctx.sql.prepare(op) {
        Ok(before) => {
            if let Some(before) = &before {
                rec.now([Payload::SqlBefore {
                    step: x.step,
                    index,
                    before: before.clone(),
                }])?;
            }
            ctx.sql_before = before;
            Ok(Ok(()))
        }
        Err(e) => Ok(Err(e.into())),
    }
}

/// The end (exclusive) of the batch starting at `start`.
fn batch_end(ops: &[Op], start: usize, done: &BTreeMap<u32, OpOutcome>) -> usize {
    if !is_file_op(&ops[start]) {
        return start + 1;
    }
    let mut end = start;
    let mut bytes = 0u64;
    while end < ops.len()
        && is_file_op(&ops[end])
        && !done.contains_key(&(end as u32))
        && end - start < BATCH_OPS
        && (end == start || bytes + op_bytes(&ops[end]) <= BATCH_BYTES)
    {
        bytes += op_bytes(&ops[end]);
        end += 1;
    }
    end
}

/// Executes a freshly planned step: journals the plan, runs it, commits it or rolls it back.
pub(super) fn execute(
    engine: &mut Engine<'_>,
    run: RunId,
    planned: &PlannedStep,
    model: &InstallModel,
) -> Result<StepEnd, EngineError> {
    let plan = &planned.plan;
    let step = plan.step;
    (engine.events)(Event::StepStarted {
        step,
        ops: plan.ops.len(),
    });
    // The machine outside the tree as the step finds it, journaled with the plan (one
    // append: no crash can fall between them), for rollback to compare.
    let touched = host::touched_objects(&plan.ops);
    let objects = touched.len() as u32;
    let (_, host_digest) = crate::host::observe_digest(engine.host.as_mut(), touched);
    let mut head = vec![
        Payload::StepPlanned {
            step,
            ops: plan.ops.clone(),
            package: planned.package.digest(),
            tree_before: model.tree_digest(),
            apphost_before: model.apphost_digest(),
        },
        Payload::HostStateBefore {
            step,
            digest: host_digest,
            objects,
        },
    ];
    head.extend(plan.notes.iter().map(|text| Payload::Note {
        step: Some(step),
        text: text.clone(),
    }));
    if !plan.extra_files.is_empty() {
        head.push(Payload::Note {
            step: Some(step),
            text: format!(
                "{} file(s) in product folders belong to no version and are left alone: {}",
                plan.extra_files.len(),
                plan.extra_files
                    .iter()
                    .take(20)
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    engine.record(run, &head)?;
    engine.sql.start_step(&run.to_hex(), step);
    let mut engine = lock_for(engine, step, &plan.ops)?;
    let end = run_ops(
        &mut engine,
        OpsRun {
            run,
            step,
            ops: &plan.ops,
            done: &BTreeMap::new(),
            prior_intents: &BTreeSet::new(),
            observed: &BTreeMap::new(),
            sql_before: &BTreeMap::new(),
            dba_done: false,
            package: &planned.package,
        },
    )?;
    finish_ops(
        &mut engine,
        run,
        step,
        end,
        planned.after.tree_digest(),
        planned.after.apphost_digest(),
    )
}

/// The engine holding the SQL Server installation lock if `ops` do database work; released
/// when the returned guard goes out of scope.
fn lock_for<'e, 'a>(
    engine: &'e mut Engine<'a>,
    step: Step,
    ops: &[Op],
) -> Result<SqlLocked<'e, Engine<'a>>, EngineError> {
    SqlLocked::take(engine, has_sql(ops)).map_err(|e| {
        EngineError::Prerequisites(vec![Finding::failed(
            format!("{step}: SQL Server application lock"),
            e.to_string(),
        )])
    })
}

/// Commits, reports cancellation, or rolls back after a failure.
fn finish_ops(
    engine: &mut Engine<'_>,
    run: RunId,
    step: Step,
    end: OpsEnd,
    tree_after: Digest,
    apphost_after: Digest,
) -> Result<StepEnd, EngineError> {
    let end = match end {
        OpsEnd::Completed => match probe_sites(engine, run, step)? {
            Some(unhealthy) => OpsEnd::Unhealthy(unhealthy),
            None => OpsEnd::Completed,
        },
        other => other,
    };
    match end {
        OpsEnd::Unhealthy(reason) => {
            let state = RunState::from_entries(&engine.journal.run_entries(run)?)?;
            let open = state
                .open_step()
                .expect("a step whose sites were just probed is open")
                .clone();
            roll_back(engine, run, &open, &reason, step.from)?;
            Ok(StepEnd::RolledBack { error: reason })
        }
        OpsEnd::Completed => {
            engine.record(
                run,
                &[Payload::StepCommitted {
                    step,
                    tree_after,
                    apphost_after,
                }],
            )?;
            (engine.events)(Event::StepCommitted { step });
            Ok(StepEnd::Committed)
        }
        OpsEnd::Cancelled => Ok(StepEnd::Cancelled),
        OpsEnd::AwaitingDba { script } => Ok(StepEnd::AwaitingDba { script }),
        OpsEnd::Failed { index, error } => {
            let state = RunState::from_entries(&engine.journal.run_entries(run)?)?;
            let open = state
                .open_step()
                .expect("a step whose op just failed is open")
                .clone();
            let reason = format!("op {index} failed: {error}");
            roll_back(engine, run, &open, &reason, step.from)?;
            Ok(StepEnd::RolledBack { error: reason })
        }
    }
}

/// With `[probes] after_steps`: every site of the step's target version is probed after the
/// step's restarts and before it is committed; the results are journaled (a note with one
/// line per site) before anything else happens, and the first unhealthy site, in words, is
/// returned: the step is then rolled back.
fn probe_sites(
    engine: &mut Engine<'_>,
    run: RunId,
    step: Step,
) -> Result<Option<String>, EngineError> {
    let probes = &engine.config.probes;
    if !probes.after_steps {
        return Ok(None);
    }
    let targets = crate::probe::probe_targets(engine.config, step.to);
    let wait = std::time::Duration::from_secs(probes.wait_secs);
    let results = crate::probe::probe_all(&targets, probes.ca_file.as_deref(), wait);
    let lines: Vec<String> = results.iter().map(|r| r.line()).collect();
    engine.record(
        run,
        &[Payload::Note {
            step: Some(step),
            text: format!("sites probed before the commit:\n{}", lines.join("\n")),
        }],
    )?;
    for line in &lines {
        tracing::info!("{line}");
    }
    Ok(results.iter().find(|r| !r.healthy).map(|r| {
        format!(
            "the site {} does not answer as it must at {}: {} (the sites were probed after \
             the step's restarts; `hubup probe` asks them again)",
            r.site, r.url, r.answer
        )
    }))
}

/// Continues an interrupted step from the journal: done ops are skipped, ops with an intent
/// are checked first, the rest are applied.
pub(super) fn resume(
    engine: &mut Engine<'_>,
    run: RunId,
    open: &StepState,
) -> Result<StepEnd, EngineError> {
    let step = open.step;
    let path = engine.config.package_path(step.to);
    let package = Package::open(&path, step).map_err(PrepareError::from)?;
    // The journal names the package by digest only: a journal written by someone else could
    // name a package they made, so its signer is checked as an upgrade checks it.
    engine
        .config
        .packages
        .accept(package.path(), package.signer())
        .map_err(PrepareError::from)?;
    if package.digest() != open.package {
        return Err(EngineError::Prepare(PrepareError::PackageChanged {
            path,
            expected: open.package,
            found: package.digest(),
        }));
    }
    (engine.events)(Event::StepStarted {
        step,
        ops: open.ops.len(),
    });
    engine.sql.start_step(&run.to_hex(), step);
    let mut engine = lock_for(engine, step, &open.ops)?;
    let end = run_ops(
        &mut engine,
        OpsRun {
            run,
            step,
            ops: &open.ops,
            done: &open.done,
            prior_intents: &open.intents,
            observed: &open.observed,
            sql_before: &open.sql_before,
            dba_done: open.dba_done,
            package: &package,
        },
    )?;
    match end {
        OpsEnd::Completed => {
            let (tree, apphost) = digests_after_change(&engine, step)?;
            finish_ops(&mut engine, run, step, OpsEnd::Completed, tree, apphost)
        }
        other => finish_ops(&mut engine, run, step, other, Digest::ZERO, Digest::ZERO),
    }
}

/// The install-tree and applicationHost.config digests, read after `step` changed the
/// install: a failure here leaves the run unfinished, never "nothing changed".
fn digests_after_change(engine: &Engine<'_>, step: Step) -> Result<(Digest, Digest), EngineError> {
    let root = &engine.config.install.root;
    let tree = install::tree_digest(root).map_err(|source| EngineError::AfterChange {
        step,
        action: "digesting the install tree under",
        path: root.clone(),
        source: Box::new(source),
    })?;
    let apphost = &engine.config.install.apphost;
    let apphost_digest =
        Digest::of_file(apphost)
            .map(|(d, _)| d)
            .map_err(|source| EngineError::AfterChange {
                step,
                action: "digesting",
                path: apphost.clone(),
                source: Box::new(source),
            })?;
    Ok((tree, apphost_digest))
}

/// Before rolling back: every backup copy the steps' remaining undos need must be there (or
/// its file must already hold what the copy would restore). A step whose ops are all undone
/// needs nothing, whatever its backup folder still holds (a removal cut short by a crash).
pub(super) fn check_backups(
    engine: &Engine<'_>,
    steps: &[&StepState],
    target: Version,
) -> Result<(), EngineError> {
    let root = &engine.config.install.root;
    for state in steps {
        let backup_done = state
            .ops
            .iter()
            .enumerate()
            .any(|(i, op)| matches!(op, Op::Backup(_)) && state.done.contains_key(&(i as u32)));
        if !backup_done {
            continue;
        }
        if state.backup_pruned {
            return Err(EngineError::RollbackTarget {
                target,
                reason: format!(
                    "the backup of step {} ({}) was removed by `hubup backups prune`, so the \
                     install cannot go back to {} or earlier; nothing was changed",
                    state.step,
                    state.step.from.backup_folder_name(),
                    state.step.from
                ),
            });
        }
        let folder = root.join(state.step.from.backup_folder_name());
        for index in state.to_undo() {
            let (target_path, old) = match &state.ops[index as usize] {
                Op::WriteFile(w) => match &w.replaces {
                    Some(old) => (&w.path, old),
                    None => continue,
                },
                Op::DeleteFile(d) => (&d.path, &d.old),
                _ => continue,
            };
            let copy = old.path.under(&folder);
            let size = std::fs::metadata(&copy).map(|m| m.len()).ok();
            if size == Some(old.size) {
                continue;
            }
            let restored = Digest::of_file(&target_path.under(root))
                .is_ok_and(|(digest, _)| digest == old.digest);
            if !restored {
                return Err(EngineError::RollbackTarget {
                    target,
                    reason: format!(
                        "the backup copy {} is missing or damaged; nothing was changed",
                        copy.display()
                    ),
                });
            }
        }
    }
    Ok(())
}

/// Undoes every op of `state` that has an intent and no undo record, newest first; then checks
/// the install against the digests recorded before the step, journals the step as rolled back,
/// and then removes the backup folder.
pub(super) fn roll_back(
    engine: &mut Engine<'_>,
    run: RunId,
    state: &StepState,
    reason: &str,
    target: Version,
) -> Result<(), EngineError> {
    let step = state.step;
    (engine.events)(Event::RollbackStarted {
        step,
        reason: reason.to_string(),
    });
    if !state.rollback_started {
        engine.record(
            run,
            &[Payload::RollbackStarted {
                step,
                reason: reason.to_string(),
                target,
            }],
        )?;
    }
    engine.sql.start_step(&run.to_hex(), step);
    {
        let mut engine = lock_for(engine, step, &state.ops)?;
        undo_ops(&mut engine, run, state)?;
    }
    remove_created_folders(&engine.config.install.root, state);
    verify_rollback(engine, run, state)
}

fn undo_ops(engine: &mut Engine<'_>, run: RunId, state: &StepState) -> Result<(), EngineError> {
    let step = state.step;
    let to_undo = state.to_undo();
    let bar = progress_bar(engine, step, to_undo.len(), "rolling back");
    let empty = BTreeMap::new();
    let mut rec = Recorder::new(&mut *engine.journal, &engine.faults, run);
    let mut dirty = DirtyDirs::default();
    let mut staging = Staging::default();
    let mut undone = Vec::new();
    // Makes the undone file ops durable, then records them: before any other kind of op runs
    // (a folder rename would move the folders still to be flushed) and every BATCH_OPS ops.
    let settle =
        |dirty: &mut DirtyDirs, rec: &mut Recorder<'_>, undone: &mut Vec<u32>, index: u32| {
            dirty
                .sync_all()
                .map_err(|e| EngineError::RollbackIncomplete {
                    step,
                    index,
                    error: format!("flushing folders: {e}"),
                })?;
            rec.now(
                undone
                    .drain(..)
                    .map(|i| Payload::OpUndone { step, index: i }),
            )?;
            Ok::<(), EngineError>(())
        };
    for (n, index) in to_undo.iter().copied().enumerate() {
        let op = &state.ops[index as usize];
        if !is_file_op(op) {
            settle(&mut dirty, &mut rec, &mut undone, index)?;
        }
        let mut ctx = OpContext {
            step,
            root: &engine.config.install.root,
            apphost: &engine.config.install.apphost,
            package: None,
            package_files: &empty,
            sql: &mut *engine.sql,
            secrets: &engine.secrets,
            sql_before: state.sql_before.get(&index).cloned(),
            dirty: &mut dirty,
            staging: &mut staging,
            broker: &engine.config.rabbitmq,
        };
        let result = engine
            .faults
            .before_undo(step, index)
            .map_err(OpError::from)
            .and_then(|()| match op {
                Op::Host(h) => Ok(host::undo(
                    engine.host.as_mut(),
                    h,
                    state.observed.get(&index),
                )?),
                _ => apply::undo(&mut ctx, op, state.done.get(&index)),
            });
        match result {
            Ok(()) => undone.push(index),
            // A command's undo (start a site, remove a binding) failing must not strand the
            // restored files: note it for the operator and go on.
            Err(e) if matches!(op, Op::Command(_) | Op::Host(_)) => {
                rec.later(Payload::Note {
                    step: Some(step),
                    text: format!("undo of op {index} failed and needs doing by hand: {e}"),
                });
                undone.push(index);
            }
            Err(e) => {
                if dirty.sync_all().is_ok() {
                    for i in undone.drain(..) {
                        rec.later(Payload::OpUndone { step, index: i });
                    }
                }
                rec.flush()?;
                bar.abandon();
                return Err(EngineError::RollbackIncomplete {
                    step,
                    index,
                    error: e.to_string(),
                });
            }
        }
        if undone.len() >= BATCH_OPS || !is_file_op(op) {
            settle(&mut dirty, &mut rec, &mut undone, index)?;
        }
        bar.set_position(n as u64 + 1);
        (engine.events)(Event::Progress {
            step,
            done: n + 1,
            total: to_undo.len(),
            undoing: true,
        });
    }
    settle(&mut dirty, &mut rec, &mut undone, 0)?;
    bar.finish_and_clear();
    Ok(())
}

/// Folders the step's new files created are removed again once they are empty.
fn remove_created_folders(root: &Path, state: &StepState) {
    let mut folders = BTreeSet::new();
    for op in &state.ops {
        if let Op::WriteFile(w) = op
            && w.replaces.is_none()
        {
            let mut parent = w.path.parent();
            while let Some(folder) = parent {
                parent = folder.parent();
                folders.insert(folder);
            }
        }
    }
    // Deepest first: a folder empties only after its children are gone.
    let mut ordered: Vec<_> = folders.into_iter().collect();
    ordered.sort_by_key(|f| std::cmp::Reverse(f.components().count()));
    for folder in ordered {
        let path = folder.under(root);
        if std::fs::read_dir(&path).is_ok_and(|mut entries| entries.next().is_none()) {
            let _ = std::fs::remove_dir(&path);
        }
    }
}

/// Compares the restored install with the digests recorded before the step (repairing lost
/// writes of the steps before it first, if it differs), journals `StepRolledBack` and only
/// then, if it matched, removes the backup folder as its own phase
/// ([`recovery::remove_backup`]): a crash between the two leaves a rolled-back step whose
/// backup removal is pending, never a step that cannot be rolled back for want of its backup.
fn verify_rollback(
    engine: &mut Engine<'_>,
    run: RunId,
    state: &StepState,
) -> Result<(), EngineError> {
    let step = state.step;
    let (mut tree, mut apphost) = digests_after_change(engine, step)?;
    let mut unrepairable = Vec::new();
    if tree != state.tree_before {
        let run_state = RunState::from_entries(&engine.journal.run_entries(run)?)?;
        let report = recovery::repair_lost_writes(engine, &run_state, Scope::AfterUndo(step))?;
        if report.repaired > 0 {
            (tree, apphost) = digests_after_change(engine, step)?;
        }
        unrepairable = report.unrepairable;
    }
    let host_before = host::states_before(&state.ops, &state.observed);
    // The machine outside the tree: each object the step's host ops observed, as first found.
    let mut host_problems: Vec<String> = match host::differences(engine.host.as_mut(), &host_before)
    {
        Ok(differences) => differences
            .iter()
            .map(|(object, before, now)| {
                format!(
                    "{} is {} instead of {}",
                    object.describe(),
                    now.describe(),
                    before.describe()
                )
            })
            .collect(),
        Err(e) => vec![format!("the machine could not be observed again: {e}")],
    };
    // Every object the step touches, also those whose ops never ran, against the digest
    // journaled before the step began.
    if let Some(before) = state.host_before {
        let (now, digest) =
            crate::host::observe_digest(engine.host.as_mut(), host::touched_objects(&state.ops));
        if digest != before && host_problems.is_empty() {
            host_problems.push(format!(
                "the {} host object(s) the step touches have digest {} instead of {} recorded \
                 before the step (`hubup status` lists them: {})",
                now.len(),
                digest.short(),
                before.short(),
                now.iter()
                    .map(|(o, s)| format!(
                        "{} {}",
                        o.describe(),
                        s.as_ref().map_or_else(|e| e.clone(), |s| s.describe())
                    ))
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
    }
    let verified =
        tree == state.tree_before && apphost == state.apphost_before && host_problems.is_empty();
    let mut entries = vec![Payload::StepRolledBack {
        step,
        tree_after: tree,
        apphost_after: apphost,
        verified,
    }];
    if !unrepairable.is_empty() {
        entries.push(Payload::Note {
            step: Some(step),
            text: format!(
                "lost or damaged file(s) of earlier steps that could not be repaired: {}",
                unrepairable.join("; ")
            ),
        });
    }
    engine.record(run, &entries)?;
    (engine.events)(Event::StepRolledBack { step, verified });
    if verified {
        return recovery::remove_backup(engine, run, step);
    }
    let mut what = Vec::new();
    if tree != state.tree_before {
        what.push(format!(
            "install tree {} instead of {}",
            tree.short(),
            state.tree_before.short()
        ));
    }
    if apphost != state.apphost_before {
        what.push(format!(
            "applicationHost.config {} instead of {}",
            apphost.short(),
            state.apphost_before.short()
        ));
    }
    what.extend(host_problems);
    what.extend(unrepairable);
    Err(EngineError::RollbackUnverified {
        step,
        what: what.join(", "),
    })
}
