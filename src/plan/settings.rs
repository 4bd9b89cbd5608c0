//! Settings merges: the package's changes to the applications' `appsettings.json` files, plus
//! the values the wizard's screens set (`app_values.rs`), merged into the bytes the install
//! has: one op per file, the package's changes first.

use crate::digest::Digest;
use crate::op::*;
use crate::package::Manifest;
use crate::relpath::RelPath;
use crate::settings::{self, SettingsChange};

use super::layout::Layout;
use super::{PlanError, Planner, app_values};

impl Planner<'_> {
    /// Settings merges from the manifest, plus the optional URLs the config gives.
    pub(super) fn settings(
        &mut self,
        manifest: &Manifest,
        layout: &Layout,
    ) -> Result<(), PlanError> {
        let mut edits: Vec<(RelPath, Vec<SettingsChange>)> = manifest
            .settings
            .iter()
            .map(|e| (layout.actual(&e.path), e.changes.clone()))
            .collect();
        let wizard = app_values::wizard_changes(self.spec, self.config()).map_err(|source| {
            PlanError::AppValues {
                step: self.step,
                source,
            }
        })?;
        for (path, changes) in wizard {
            let path = layout.actual(&path);
            match edits.iter_mut().find(|(p, _)| *p == path) {
                Some((_, list)) => list.extend(changes),
                None => edits.push((path, changes)),
            }
        }
        for (path, changes) in edits {
            let Some(current) = self.after.settings.get(&path).cloned() else {
                return Err(PlanError::SettingsFileMissing {
                    step: self.step,
                    path,
                });
            };
            self.merge_settings(layout, &path, &current, changes.clone())?;
            // The environment overlays beside it override it key by key: the same renames and
            // removals apply to them (issue 19), each its own journaled edit.
            for overlay in self.after.settings_overlays(&path) {
                let bytes = self.after.settings[&overlay].clone();
                let kept = settings::settings_overlay_changes(&bytes, &changes)
                    .map_err(|source| self.settings_error(&overlay, source))?;
                self.notes.push(match kept.len() {
                    0 => format!(
                        "settings overlay {overlay}: holds none of the keys {path}'s changes \
                         name; left as it is"
                    ),
                    n => format!("settings overlay {overlay}: {n} of {path}'s changes apply"),
                });
                self.merge_settings(layout, &overlay, &bytes, kept)?;
            }
        }
        Ok(())
    }

    fn settings_error(&self, path: &RelPath, source: settings::SettingsError) -> PlanError {
        PlanError::Settings {
            step: self.step,
            path: path.clone(),
            source,
        }
    }

    /// Plans one settings edit: merges `changes` into `current` (the bytes of `path` before
    /// the edit), backs the file up and advances the model.
    fn merge_settings(
        &mut self,
        layout: &Layout,
        path: &RelPath,
        current: &[u8],
        changes: Vec<SettingsChange>,
    ) -> Result<(), PlanError> {
        // The journaled changes keep their secret markers; the bytes (and so the digests) are
        // those the executor will write, password included. Without the password (`hubup
        // plan` before it is set), the marker stands in and `check` says what is missing.
        let resolved = match app_values::resolve_secrets(&changes, self.inputs.secrets) {
            Ok(resolved) => resolved,
            Err(missing) => {
                self.notes.push(format!("{path}: {missing}"));
                changes.clone()
            }
        };
        let merged = settings::merge_settings(current, &resolved)
            .map_err(|source| self.settings_error(path, source))?;
        self.notes
            .extend(merged.notes.iter().map(|note| format!("{path}: {note}")));
        if merged.bytes == current {
            return Ok(());
        }
        let source = layout.source(path);
        if let Some(fact) = self.before.files.get(&source) {
            self.backup.insert(source.clone(), *fact);
        }
        let before = Digest::of(current);
        let after = Digest::of(&merged.bytes);
        self.after.put_settings(path, merged.bytes);
        self.body.push(Op::EditSettings(EditSettingsOp {
            path: path.clone(),
            changes,
            before,
            after,
        }));
        Ok(())
    }
}
