//! `hubup backups list` and `hubup backups prune`: the `backup_4.n` folders at the top of the
//! install, which run made each, and removing those of committed steps, as the guide asks
//! before the next upgrade ("Remove any backups from any previous upgrades").
//!
//! A backup is the only way back past its step (`rollback --to`), so pruning is journaled on
//! the run that made it: `BackupPruning { step }` first, durable before the first file goes
//! (from then on the removal is pending: a crash or a file that cannot be deleted leaves it to
//! the next hubup that holds the install, as after a verified rollback), then the folder is
//! removed, then `BackupRemoved { step }`. `rollback --to` past a pruned step is refused by
//! name. While a run is unfinished nothing is pruned: its backups are what resume and
//! rollback work from. A folder no journaled step made (the vendor wizard's, a copy) is
//! listed and left alone: no journal entry vouches for what it holds.

use serde::Serialize;

use crate::exec::state::RunState;
use crate::exec::{Engine, EngineError, PrepareError, recovery};
use crate::install::{BackupFolder, backup_folders};
use crate::journal::{Payload, RunId};
use crate::version::Step;

/// A backup folder and what made it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BackupUse {
    pub folder: BackupFolder,
    /// The run and committed step that made it, if a journaled step did.
    pub made_by: Option<(RunId, Step)>,
    /// Whether `backups prune` removes it (a committed step's, no run unfinished).
    pub prunable: bool,
    /// Why not, when it is not.
    pub kept_because: Option<String>,
}

/// What `backups prune` did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PruneReport {
    /// The folders removed, with the step each was the backup of.
    pub removed: Vec<(BackupFolder, Step)>,
    /// The folders left, with why.
    pub kept: Vec<BackupUse>,
}

impl PruneReport {
    /// Bytes the removed folders held (files hard-linked with the install counted once).
    pub fn bytes_freed(&self) -> u64 {
        self.removed.iter().map(|(f, _)| f.bytes).sum()
    }
}

impl Engine<'_> {
    /// Every backup folder of the install and what made it; reads only.
    pub fn backup_uses(&self) -> Result<Vec<BackupUse>, EngineError> {
        let unfinished = self.journal.unfinished_run()?;
        let folders = backup_folders(&self.root())
            .map_err(|e| EngineError::Prepare(PrepareError::Scan(e)))?;
        let runs = self.finished_runs()?;
        Ok(folders
            .into_iter()
            .map(|folder| {
                let made_by = maker(&runs, &folder.name);
                let kept_because = match (&unfinished, made_by) {
                    (Some(run), _) => Some(format!(
                        "run {} ({} -> {}) is unfinished and may need it",
                        run.run, run.from, run.to
                    )),
                    (None, None) => Some(
                        "no journaled step made it (the vendor's upgrader, or a copy): move it \
                         out of the install location by hand if it is no longer needed"
                            .to_string(),
                    ),
                    (None, Some(_)) => None,
                };
                BackupUse {
                    prunable: kept_because.is_none(),
                    folder,
                    made_by,
                    kept_because,
                }
            })
            .collect())
    }

    /// Removes the backup folder of every committed step, journaled on its run (see the
    /// module's doc). Refused with nothing changed while a run is unfinished.
    pub fn prune_backups(&mut self) -> Result<PruneReport, EngineError> {
        self.require_lock()?;
        recovery::finish_pending_removals(self)?;
        if let Some(run) = self.journal.unfinished_run()? {
            return Err(EngineError::Unfinished {
                run: run.run,
                from: run.from,
                to: run.to,
            });
        }
        let mut report = PruneReport::default();
        for usage in self.backup_uses()? {
            match usage.made_by {
                Some((run, step)) if usage.prunable => {
                    self.record(run, &[Payload::BackupPruning { step }])?;
                    recovery::remove_backup(self, run, step)?;
                    if self.root().join(&usage.folder.name).exists() {
                        report.kept.push(BackupUse {
                            prunable: false,
                            kept_because: Some(
                                "it could not be removed entirely (see the warning); hubup \
                                 finishes it at its next upgrade, resume or rollback"
                                    .into(),
                            ),
                            ..usage
                        });
                    } else {
                        report.removed.push((usage.folder, step));
                    }
                }
                _ => report.kept.push(usage),
            }
        }
        Ok(report)
    }

    /// Every finished run, oldest first.
    fn finished_runs(&self) -> Result<Vec<RunState>, EngineError> {
        let mut runs = Vec::new();
        for summary in self.journal.runs()? {
            let state = self.load_run(summary.run)?;
            if state.finished.is_some() {
                runs.push(state);
            }
        }
        Ok(runs)
    }
}

/// The run and step whose backup the folder `name` is: the latest committed step (not
/// rolled back, not already pruned) whose source version names it.
fn maker(runs: &[RunState], name: &str) -> Option<(RunId, Step)> {
    runs.iter()
        .rev()
        .flat_map(|run| run.steps.iter().rev().map(move |step| (run.run, step)))
        .find(|(_, step)| step.step.from.backup_folder_name() == name)
        .filter(|(_, step)| step.committed && !step.backup_removed)
        .map(|(run, step)| (run, step.step))
}
