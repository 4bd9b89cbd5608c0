//! Settings merges: the package's changes to the applications' `appsettings.json` files, plus
//! the values the optional wizard screens set, merged into the bytes the install has.

use crate::catalog::{self, OptionalSetting};
use crate::config::Config;
use crate::digest::Digest;
use crate::op::*;
use crate::package::Manifest;
use crate::relpath::RelPath;
use crate::settings::{self, SettingsChange};

use super::layout::Layout;
use super::{PlanError, Planner};

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
        for optional in self.spec.optional_settings {
            for (path, changes) in optional_changes(*optional, self.config()) {
                edits.push((layout.actual(&path), changes));
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
        let merged = settings::merge_settings(current, &changes)
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

/// The settings changes an optional screen's answers make.
fn optional_changes(
    feature: OptionalSetting,
    config: &Config,
) -> Vec<(RelPath, Vec<SettingsChange>)> {
    let set = |key: &[&str], value: &str| SettingsChange::Set {
        key: key.iter().map(|k| k.to_string()).collect(),
        value_json: serde_json::Value::String(value.to_string()).to_string(),
        only_if_json: None,
    };
    let mut out = Vec::new();
    match feature {
        OptionalSetting::ControlRoomApiUrl => {
            if let Some(url) = &config.optional.control_room_api_url {
                let (file, key) = catalog::CONTROL_ROOM_API_URL_SETTING;
                out.push((
                    RelPath::new(file).expect("catalog path"),
                    vec![set(key, url)],
                ));
            }
        }
        OptionalSetting::Decision => {
            if let Some(decision) = &config.optional.decision {
                let (file, url_key) = catalog::DECISION_URL_SETTING;
                let (_, cert_key) = catalog::DECISION_CERTIFICATE_SETTING;
                out.push((
                    RelPath::new(file).expect("catalog path"),
                    vec![
                        set(url_key, &decision.model_service_url),
                        set(cert_key, &decision.certificate),
                    ],
                ));
            }
        }
    }
    out
}
