//! What an unclean end (a crash, a power cut, a kill) can leave behind besides an
//! interrupted step, and how hubup finishes it before it goes on:
//!
//! - **A backup folder to remove.** After a verified rollback the step's `backup_4.n` is no
//!   longer needed. Removing it is its own phase, after `StepRolledBack` is durable: it is
//!   idempotent (a folder half removed, or already gone, is finished off), journaled as done
//!   (`BackupRemoved`), and a file that cannot be deleted is a warning saying what to do, never
//!   a stuck run. A removal that did not finish is *pending* until a later hubup that holds
//!   the install finishes it ([`finish_pending_removals`], at the start of every changing
//!   command).
//! - **A run that only lacks its end.** A crash right before `RunFinished`, or during the
//!   backup removal, leaves a run with nothing left to do ([`RunState::settled_outcome`]);
//!   `upgrade` checks its files and closes it instead of refusing.
//! - **Lost writes.** A disk or file system that does not keep what was flushed (a FUSE or
//!   network file system, a lying disk cache) can lose the content of files that committed
//!   steps wrote. After an unclean end, [`repair_lost_writes`] compares every product file the
//!   run's committed steps wrote (and, on resume, the done ops of the interrupted step) with
//!   the size and digest their ops recorded, and rewrites the missing or damaged ones from the
//!   package of the step that wrote them: journaled first (`RepairPlanned`, with what was
//!   found), then written and flushed, then `RepairDone`. A file that cannot be rewritten (its
//!   package gone or changed, a merged settings file) refuses the command by name, before
//!   anything is written, and so does a file a done delete removed that is there again (a
//!   lost unlink, or a file put back: the administrator decides). IIS's `applicationHost.config` is not covered: commands (appcmd)
//!   change it too, so the journal holds no digest for it to be checked against.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::exec::state::{RunState, StepState};
use crate::exec::{Engine, EngineError, Event};
use crate::fsx::{self, DirtyDirs, Staging};
use crate::journal::{Entry, Payload, RunId};
use crate::op::{FileRepair, FoundFile, Op, OpOutcome};
use crate::package::Package;
use crate::relpath::RelPath;
use crate::version::{Step, Version};

/// Removes the backup folder of `step` after its verified rollback (its `StepRolledBack` is
/// durable), then journals `BackupRemoved`. A folder that cannot be removed entirely is
/// reported (journal note and warning) and stays pending; only a journal failure is an error.
pub(super) fn remove_backup(
    engine: &mut Engine<'_>,
    run: RunId,
    step: Step,
) -> Result<(), EngineError> {
    let root = engine.root();
    let folder = root.join(step.from.backup_folder_name());
    let removed = remove_tree(&folder, |_| engine.faults.before_backup_file_removal(step))
        .and_then(|()| fsx::sync_dir(&root).map_err(|e| (root.clone(), e)));
    match removed {
        Ok(()) => engine.record(run, &[Payload::BackupRemoved { step }])?,
        Err((path, error)) => {
            let text = format!(
                "step {step} was rolled back and verified, but its backup folder {} could not \
                 be removed ({}: {error}). The folder is no longer needed: delete it by hand. \
                 hubup tries again at its next upgrade, resume or rollback, and an upgrade \
                 through this step waits until it is gone.",
                folder.display(),
                path.display()
            );
            tracing::warn!("{text}");
            engine.record(
                run,
                &[Payload::Note {
                    step: Some(step),
                    text: text.clone(),
                }],
            )?;
            (engine.events)(Event::Warning { text });
        }
    }
    Ok(())
}

/// Removes `folder` and everything in it, a file at a time (`before_file` is asked first,
/// for the test faults), then the folders deepest first. A folder that is already gone, or
/// parts of it, is fine. Fails naming the first path that cannot be removed.
fn remove_tree(
    folder: &Path,
    mut before_file: impl FnMut(&Path) -> io::Result<()>,
) -> Result<(), (PathBuf, io::Error)> {
    let mut folders = Vec::new();
    let mut stack = vec![folder.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err((dir, e)),
        };
        folders.push(dir.clone());
        for entry in entries {
            let entry = entry.map_err(|e| (dir.clone(), e))?;
            let path = entry.path();
            let kind = entry.file_type().map_err(|e| (path.clone(), e))?;
            if kind.is_dir() {
                stack.push(path);
                continue;
            }
            before_file(&path).map_err(|e| (path.clone(), e))?;
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err((path, e)),
            }
        }
    }
    // Parents were pushed before their children: the reverse is deepest first.
    for dir in folders.iter().rev() {
        match fs::remove_dir(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err((dir.clone(), e)),
        }
    }
    Ok(())
}

/// The backup removals the journal holds as pending: a verified rollback with no
/// `BackupRemoved` after it, not superseded by a later plan of a step from the same version
/// (which may make a new `backup_4.n` that must not be touched).
fn pending_removals(entries: &[Entry]) -> Vec<(RunId, Step)> {
    let mut pending: BTreeMap<Version, (RunId, Step)> = BTreeMap::new();
    for entry in entries {
        match &entry.payload {
            Payload::StepRolledBack {
                step,
                verified: true,
                ..
            } => {
                pending.insert(step.from, (entry.run, *step));
            }
            // An unverified rollback keeps its backup for the comparison; a new plan of a
            // step from that version owns the folder name from then on.
            Payload::StepRolledBack { step, .. } | Payload::StepPlanned { step, .. } => {
                pending.remove(&step.from);
            }
            // `hubup backups prune`: the committed step's backup goes from now on.
            Payload::BackupPruning { step } => {
                pending.insert(step.from, (entry.run, *step));
            }
            Payload::BackupRemoved { step }
                if pending.get(&step.from) == Some(&(entry.run, *step)) =>
            {
                pending.remove(&step.from);
            }
            _ => {}
        }
    }
    pending.into_values().collect()
}

/// Finishes every pending backup removal (see [`pending_removals`]).
pub(super) fn finish_pending_removals(engine: &mut Engine<'_>) -> Result<(), EngineError> {
    let entries = engine.journal.entries()?;
    for (run, step) in pending_removals(&entries) {
        remove_backup(engine, run, step)?;
    }
    Ok(())
}

/// Which of a run's files [`repair_lost_writes`] checks.
#[derive(Clone, Copy, Debug)]
pub(super) enum Scope {
    /// Before a resume continues (or an upgrade closes a settled run): what the committed
    /// steps wrote, and what the interrupted step's done ops wrote, except the paths of its
    /// ops still in flight (intent, no done), which resume checks and applies itself.
    Resume,
    /// Before the interrupted step is rolled back: what the committed steps wrote, except
    /// every path the interrupted step touched (its undo restores them from its backup).
    Rollback,
    /// After `step`'s undo, when the install does not match its state before the step: what
    /// the committed steps before it wrote. Files that cannot be repaired are then reported,
    /// not refused (the undo has already changed the install).
    AfterUndo(Step),
}

/// What a product file must hold according to the journal.
#[derive(Clone, Debug)]
enum Expected {
    /// This content, from `source`.
    Holds(Content),
    /// Nothing: a done `DeleteFile` op of `step` removed it. A file there again is a delete
    /// the disk lost (or one put back since); the backup holds what was deleted.
    Absent { step: Step },
}

/// A file's content as the journal recorded it, and where it comes from.
#[derive(Clone, Debug)]
struct Content {
    size: Option<u64>,
    digest: Digest,
    source: Source,
}

#[derive(Clone, Debug)]
enum Source {
    /// Written by a `WriteFile` op of `step`: payload `entry` of its package.
    Package {
        step: Step,
        package: Digest,
        entry: String,
    },
    /// A settings file merged by `step` (its content is no package entry).
    Merge { step: Step },
}

/// The product files `scope` covers, with what each must hold.
fn expected_files(state: &RunState, scope: Scope) -> BTreeMap<RelPath, Expected> {
    let mut files = BTreeMap::new();
    for step in &state.steps {
        if let Scope::AfterUndo(undone) = scope
            && step.step == undone
        {
            break;
        }
        if step.committed {
            fold_done_ops(&mut files, step);
        }
    }
    let Some(open) = state.open_step() else {
        return files;
    };
    let in_flight: Vec<u32> = match scope {
        Scope::Resume => {
            fold_done_ops(&mut files, open);
            open.intents
                .iter()
                .filter(|i| !open.done.contains_key(i))
                .copied()
                .collect()
        }
        Scope::Rollback => open.intents.iter().copied().collect(),
        Scope::AfterUndo(_) => Vec::new(),
    };
    let touched: Vec<&RelPath> = in_flight
        .iter()
        .filter_map(|i| open.ops.get(*i as usize))
        .flat_map(paths_touched)
        .collect();
    files.retain(|path, _| !touched.iter().any(|t| path.starts_with(t)));
    files
}

/// Folds the done ops of `step`, in op order, into what each file must hold.
fn fold_done_ops(files: &mut BTreeMap<RelPath, Expected>, step: &StepState) {
    for (index, op) in step.ops.iter().enumerate() {
        let Some(outcome) = step.done.get(&(index as u32)) else {
            continue;
        };
        if matches!(outcome, OpOutcome::Skipped { .. }) {
            // A kept local change: the file holds the administrator's content.
            for path in paths_touched(op) {
                files.remove(path);
            }
            continue;
        }
        match op {
            Op::WriteFile(w) => {
                let source = Source::Package {
                    step: step.step,
                    package: step.package,
                    entry: w.entry.clone(),
                };
                files.insert(
                    w.path.clone(),
                    Expected::Holds(Content {
                        size: Some(w.size),
                        digest: w.digest,
                        source,
                    }),
                );
            }
            Op::DeleteFile(d) => {
                files.insert(d.path.clone(), Expected::Absent { step: step.step });
            }
            Op::RenameFolder(r) => {
                let moved: Vec<RelPath> = files
                    .keys()
                    .filter(|p| p.starts_with(&r.from))
                    .cloned()
                    .collect();
                for path in moved {
                    if let (Some(expected), Some(to)) =
                        (files.remove(&path), path.rebase(&r.from, &r.to))
                    {
                        files.insert(to, expected);
                    }
                }
            }
            Op::EditSettings(e) => {
                files.insert(
                    e.path.clone(),
                    Expected::Holds(Content {
                        size: None,
                        digest: e.after,
                        source: Source::Merge { step: step.step },
                    }),
                );
            }
            // Host and broker ops change the machine outside the tree, never a product file.
            Op::Backup(_)
            | Op::EditAppHost(_)
            | Op::Command(_)
            | Op::Sql(_)
            | Op::Host(_)
            | Op::Broker(_) => {}
        }
    }
}

/// The install paths an op changes (a folder rename: both folders).
fn paths_touched(op: &Op) -> Vec<&RelPath> {
    match op {
        Op::WriteFile(w) => vec![&w.path],
        Op::DeleteFile(d) => vec![&d.path],
        Op::RenameFolder(r) => vec![&r.from, &r.to],
        Op::EditSettings(e) => vec![&e.path],
        Op::Backup(_)
        | Op::EditAppHost(_)
        | Op::Command(_)
        | Op::Sql(_)
        | Op::Host(_)
        | Op::Broker(_) => Vec::new(),
    }
}

/// A file that differs from what the journal says it must hold.
struct Damaged {
    path: RelPath,
    expected: Expected,
    found: Option<FoundFile>,
}

/// Hashes every file of `files` (on all cores) and returns those that differ.
fn find_damaged(
    root: &Path,
    files: &BTreeMap<RelPath, Expected>,
) -> Result<Vec<Damaged>, (PathBuf, io::Error)> {
    let list: Vec<(&RelPath, &Expected)> = files.iter().collect();
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(8);
    let chunk = list.len().div_ceil(workers).max(1);
    let parts: Vec<Result<Vec<Damaged>, (PathBuf, io::Error)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = list
            .chunks(chunk)
            .map(|part| scope.spawn(move || damaged_in(root, part)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Ok(Vec::new())))
            .collect()
    });
    let mut out = Vec::new();
    for part in parts {
        out.extend(part?);
    }
    Ok(out)
}

fn damaged_in(
    root: &Path,
    files: &[(&RelPath, &Expected)],
) -> Result<Vec<Damaged>, (PathBuf, io::Error)> {
    let mut out = Vec::new();
    for (path, expected) in files {
        let on_disk = path.under(root);
        let found = match Digest::of_file(&on_disk) {
            Ok((digest, size)) => Some(FoundFile { size, digest }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err((on_disk, e)),
        };
        let intact = match expected {
            Expected::Holds(content) => found.is_some_and(|f| {
                f.digest == content.digest && content.size.is_none_or(|size| size == f.size)
            }),
            Expected::Absent { .. } => found.is_none(),
        };
        if !intact {
            out.push(Damaged {
                path: (*path).clone(),
                expected: (*expected).clone(),
                found,
            });
        }
    }
    Ok(out)
}

/// What [`repair_lost_writes`] did.
#[derive(Debug, Default)]
pub(super) struct RepairReport {
    /// Files rewritten from their packages.
    pub repaired: usize,
    /// Files that differ and could not be rewritten, each with why (only with
    /// [`Scope::AfterUndo`]; the other scopes refuse instead).
    pub unrepairable: Vec<String>,
}

/// Checks the files `scope` covers against the journal and rewrites the missing or damaged
/// ones from their packages (see the module documentation).
///
/// If a damaged file cannot be rewritten, nothing is written: with [`Scope::Resume`] and
/// [`Scope::Rollback`] the command is refused ([`EngineError::LostFiles`], nothing changed);
/// with [`Scope::AfterUndo`] the report names them. A failure while writing leaves the run
/// unfinished ([`EngineError::AfterChange`]); the next resume or rollback repairs again.
pub(super) fn repair_lost_writes(
    engine: &mut Engine<'_>,
    state: &RunState,
    scope: Scope,
) -> Result<RepairReport, EngineError> {
    let root = engine.root();
    let expected = expected_files(state, scope);
    if expected.is_empty() {
        return Ok(RepairReport::default());
    }
    let damaged = find_damaged(&root, &expected).map_err(|(path, source)| match scope {
        Scope::AfterUndo(step) => EngineError::AfterChange {
            step,
            action: "reading",
            path,
            source: Box::new(source),
        },
        Scope::Resume | Scope::Rollback => EngineError::Prepare(crate::exec::PrepareError::Scan(
            crate::install::ScanError::Io { path, source },
        )),
    })?;
    if damaged.is_empty() {
        return Ok(RepairReport::default());
    }
    let (repairs, packages, unrepairable) = plan_repairs(engine, &damaged);
    if !unrepairable.is_empty() {
        return match scope {
            Scope::AfterUndo(_) => Ok(RepairReport {
                repaired: 0,
                unrepairable,
            }),
            Scope::Resume | Scope::Rollback => Err(EngineError::LostFiles {
                run: state.run,
                files: unrepairable,
            }),
        };
    }
    write_repairs(engine, state.run, &repairs, &packages)?;
    Ok(RepairReport {
        repaired: repairs.len(),
        unrepairable: Vec::new(),
    })
}

/// The repair of each damaged file and the packages they need, or why a file cannot be
/// repaired (in words, naming the file).
fn plan_repairs(
    engine: &Engine<'_>,
    damaged: &[Damaged],
) -> (Vec<FileRepair>, BTreeMap<Step, Package>, Vec<String>) {
    let mut repairs = Vec::new();
    let mut packages: BTreeMap<Step, Result<Package, String>> = BTreeMap::new();
    let mut unrepairable = Vec::new();
    for file in damaged {
        let found = file.found.map_or_else(
            || "missing".to_string(),
            |f| format!("found {} bytes, {}", f.size, f.digest.short()),
        );
        let content = match &file.expected {
            Expected::Holds(content) => content,
            Expected::Absent { step } => {
                // Deleting is not a repair hubup journals: the file may be one the
                // administrator put back, so they decide.
                unrepairable.push(format!(
                    "{} (deleted by step {step}, {found}): the delete was lost or the file \
                     was put back since; if it is the old version's file, delete it (the \
                     step's backup holds a copy), then run the command again",
                    file.path
                ));
                continue;
            }
        };
        match &content.source {
            Source::Merge { step } => unrepairable.push(format!(
                "{} (merged by step {step}, {found}): a merged settings file has no copy in \
                 a package; restore it by hand (the step's changes are in `hubup journal \
                 show`), then run the command again",
                file.path
            )),
            Source::Package {
                step,
                package,
                entry,
            } => {
                let opened = packages
                    .entry(*step)
                    .or_insert_with(|| open_package(engine, *step, *package));
                match opened {
                    Ok(_) => repairs.push(FileRepair {
                        step: *step,
                        path: file.path.clone(),
                        entry: entry.clone(),
                        size: content.size.unwrap_or_default(),
                        digest: content.digest,
                        found: file.found,
                    }),
                    Err(why) => unrepairable.push(format!(
                        "{} (written by step {step}, {found}): {why}",
                        file.path
                    )),
                }
            }
        }
    }
    let packages = packages
        .into_iter()
        .filter_map(|(step, p)| p.ok().map(|p| (step, p)))
        .collect();
    (repairs, packages, unrepairable)
}

/// The package of `step`, verified in full, if it is the one the step was planned with.
fn open_package(engine: &Engine<'_>, step: Step, planned: Digest) -> Result<Package, String> {
    let path = engine.config.package_path(step.to);
    if !path.is_file() {
        return Err(format!(
            "its package {} is missing: put it back (blake3 {planned}), then run the command \
             again",
            path.display()
        ));
    }
    let package = Package::open(&path, step).map_err(|e| e.to_string())?;
    if package.digest() != planned {
        return Err(format!(
            "its package {} changed since the step was planned (journaled {}, now {}): put \
             the original back, then run the command again",
            path.display(),
            planned.short(),
            package.digest().short()
        ));
    }
    Ok(package)
}

/// Journals the repairs, rewrites each file from its package (temp file, flush, rename),
/// flushes their folders, and journals that they are done.
fn write_repairs(
    engine: &mut Engine<'_>,
    run: RunId,
    repairs: &[FileRepair],
    packages: &BTreeMap<Step, Package>,
) -> Result<(), EngineError> {
    engine.record(
        run,
        &[Payload::RepairPlanned {
            files: repairs.to_vec(),
        }],
    )?;
    let root = engine.root();
    let mut staging = Staging::default();
    let mut dirty = DirtyDirs::default();
    let steps: BTreeSet<Step> = repairs.iter().map(|r| r.step).collect();
    for step in steps {
        let package = &packages[&step];
        let entries = super::step::files_by_entry(package);
        for repair in repairs.iter().filter(|r| r.step == step) {
            let target = repair.path.under(&root);
            let failed =
                |source: Box<dyn std::error::Error + Send + Sync>| EngineError::AfterChange {
                    step,
                    action: "rewriting a lost or damaged file",
                    path: target.clone(),
                    source,
                };
            let Some(file) = entries.get(&repair.entry) else {
                return Err(failed(
                    format!("the package has no entry {:?}", repair.entry).into(),
                ));
            };
            if let Some(parent) = target.parent() {
                fsx::create_dir_all(parent).map_err(|e| failed(e.into()))?;
            }
            let mut produce = |out: &mut dyn io::Write| {
                package
                    .copy_file_to(file, out)
                    .map(|_| ())
                    .map_err(io::Error::other)
            };
            staging
                .stage(&target, &mut produce, Some((repair.size, repair.digest)))
                .map_err(|e| failed(e.into()))?;
        }
    }
    let settled = staging
        .commit(&mut dirty)
        .map_err(io::Error::other)
        .and_then(|()| dirty.sync_all());
    if let Err(e) = settled {
        staging.abandon();
        return Err(EngineError::AfterChange {
            step: repairs[0].step,
            action: "putting repaired files in place under",
            path: root,
            source: Box::new(e),
        });
    }
    let text = format!(
        "rewrote {} lost or damaged product file(s) from their packages",
        repairs.len()
    );
    engine.record(
        run,
        &[Payload::RepairDone {
            files: repairs.len() as u32,
        }],
    )?;
    (engine.events)(Event::Warning { text });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::{DeleteFileOp, RenameFolderOp, WriteFileOp};

    fn path(text: &str) -> RelPath {
        RelPath::new(text).unwrap()
    }

    fn step(from: Version) -> Step {
        Step::from_version(from).unwrap()
    }

    fn write(to: &str, content: &[u8]) -> Op {
        Op::WriteFile(WriteFileOp {
            path: path(to),
            entry: format!("payload/{to}"),
            size: content.len() as u64,
            digest: Digest::of(content),
            replaces: None,
        })
    }

    fn step_state(s: Step, ops: Vec<Op>, done: &[u32], intents: &[u32]) -> StepState {
        let mut state =
            StepState::planned(s, ops, Digest::of(b"package"), Digest::ZERO, Digest::ZERO);
        state.intents = intents.iter().copied().collect();
        state.done = done.iter().map(|i| (*i, OpOutcome::Applied)).collect();
        state
    }

    fn run_state(steps: Vec<StepState>) -> RunState {
        RunState {
            run: RunId([1; 16]),
            from: Version::V4_0,
            to: Version::V4_3,
            steps,
            cancelled: false,
            finished: None,
            rollback_target: None,
            backups: None,
            enable_quorum_queue: false,
        }
    }

    #[test]
    fn expected_files_follow_writes_deletes_and_renames_in_order() {
        let mut first = step_state(
            step(Version::V4_0),
            vec![
                write("IMS/a.dll", b"a1"),
                write("Hub/b.dll", b"b1"),
                write("Hub/gone.dll", b"g"),
            ],
            &[0, 1, 2],
            &[0, 1, 2],
        );
        first.committed = true;
        let mut second = step_state(
            step(Version::V4_1),
            vec![
                Op::RenameFolder(RenameFolderOp {
                    from: path("IMS"),
                    to: path("Authentication Server"),
                }),
                Op::DeleteFile(DeleteFileOp {
                    path: path("Hub/gone.dll"),
                    old: crate::op::BackedUpFile {
                        path: path("Hub/gone.dll"),
                        digest: Digest::of(b"g"),
                        size: 1,
                    },
                }),
                write("Hub/b.dll", b"b2"),
            ],
            &[0, 1, 2],
            &[0, 1, 2],
        );
        second.committed = true;
        let files = expected_files(&run_state(vec![first, second]), Scope::Resume);
        let names: Vec<&str> = files.keys().map(RelPath::as_str).collect();
        assert_eq!(
            names,
            ["Authentication Server/a.dll", "Hub/b.dll", "Hub/gone.dll"]
        );
        assert!(
            matches!(&files[&path("Hub/b.dll")], Expected::Holds(c) if c.digest == Digest::of(b"b2"))
        );
        assert!(
            matches!(files[&path("Hub/gone.dll")], Expected::Absent { step: s } if s == step(Version::V4_1)),
            "a committed delete must stay deleted"
        );
    }

    /// Found by the crash lab with `HUBUP_FLUSH=syncfs` on its lossy file system: a power cut
    /// undid unlinks of committed steps, and resume exited 0 at 4.5 over a tree with files
    /// the steps had deleted.
    #[test]
    fn a_file_a_committed_step_deleted_is_damage_when_it_is_there_again() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("Hub")).unwrap();
        std::fs::write(dir.path().join("Hub/back.dll"), b"old").unwrap();
        let absent = Expected::Absent {
            step: step(Version::V4_1),
        };
        let files = [
            (&path("Hub/back.dll"), &absent),
            (&path("Hub/gone.dll"), &absent),
        ];
        let damaged = damaged_in(dir.path(), &files).unwrap();
        assert_eq!(damaged.len(), 1, "only the file that is there again");
        assert_eq!(damaged[0].path, path("Hub/back.dll"));
        assert_eq!(damaged[0].found.map(|f| f.size), Some(3));
    }

    #[test]
    fn an_interrupted_step_counts_only_its_done_ops_and_never_its_ops_in_flight() {
        let mut first = step_state(
            step(Version::V4_0),
            vec![write("Hub/a.dll", b"a"), write("Hub/b.dll", b"b")],
            &[0, 1],
            &[0, 1],
        );
        first.committed = true;
        let open = step_state(
            step(Version::V4_1),
            vec![
                write("Hub/c.dll", b"c"),
                write("Hub/a.dll", b"a2"),
                write("Hub/d.dll", b"d"),
            ],
            &[0],
            &[0, 1],
        );
        let state = run_state(vec![first, open]);
        let resume: Vec<String> = expected_files(&state, Scope::Resume)
            .keys()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(resume, ["Hub/b.dll", "Hub/c.dll"], "a.dll is in flight");
        let rollback: Vec<String> = expected_files(&state, Scope::Rollback)
            .keys()
            .map(|p| p.to_string())
            .collect();
        assert_eq!(
            rollback,
            ["Hub/b.dll"],
            "what the open step touched is restored"
        );
        let after_undo = expected_files(&state, Scope::AfterUndo(step(Version::V4_1)));
        assert_eq!(after_undo.len(), 2, "every file of the steps before it");
    }

    #[test]
    fn a_backup_removal_is_pending_until_done_or_superseded() {
        let s = step(Version::V4_0);
        let run = RunId([2; 16]);
        let entry = |seq, payload| Entry {
            seq,
            prev: Digest::ZERO,
            hash: Digest::ZERO,
            format: 1,
            timestamp_ms: 0,
            run,
            machine: "m".into(),
            payload,
        };
        let rolled = Payload::StepRolledBack {
            step: s,
            tree_after: Digest::ZERO,
            apphost_after: Digest::ZERO,
            verified: true,
        };
        let planned = Payload::StepPlanned {
            step: s,
            ops: Vec::new(),
            package: Digest::ZERO,
            tree_before: Digest::ZERO,
            apphost_before: Digest::ZERO,
        };
        let pending = [entry(1, rolled.clone())];
        assert_eq!(pending_removals(&pending), [(run, s)]);
        let done = [
            entry(1, rolled.clone()),
            entry(2, Payload::BackupRemoved { step: s }),
        ];
        assert!(pending_removals(&done).is_empty());
        let superseded = [entry(1, rolled), entry(2, planned)];
        assert!(pending_removals(&superseded).is_empty());
    }

    #[test]
    fn remove_tree_finishes_a_half_removed_folder_and_names_what_it_cannot_remove() {
        let dir = tempfile::tempdir().unwrap();
        let backup = dir.path().join("backup_4.0");
        fs::create_dir_all(backup.join("Hub/bin")).unwrap();
        fs::write(backup.join("Hub/bin/a.dll"), b"a").unwrap();
        fs::write(backup.join("Hub/b.dll"), b"b").unwrap();
        let (path, _) = remove_tree(&backup, |p| {
            if p.ends_with("b.dll") {
                Err(io::Error::other("in use"))
            } else {
                Ok(())
            }
        })
        .unwrap_err();
        assert!(path.ends_with("Hub/b.dll"), "{}", path.display());
        remove_tree(&backup, |_| Ok(())).unwrap();
        assert!(!backup.exists());
        remove_tree(&backup, |_| Ok(())).unwrap();
    }
}
