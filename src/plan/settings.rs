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
            let source = layout.source(&path);
            let Some(current) = self.after.settings.get(&path).cloned() else {
                return Err(PlanError::SettingsFileMissing {
                    step: self.step,
                    path,
                });
            };
            let merged =
                settings::apply_settings_changes(&current, &changes).map_err(|source| {
                    PlanError::Settings {
                        step: self.step,
                        path: path.clone(),
                        source,
                    }
                })?;
            if merged == current {
                continue;
            }
            if let Some(fact) = self.before.files.get(&source) {
                self.backup.insert(source.clone(), *fact);
            }
            let before = Digest::of(&current);
            let after = Digest::of(&merged);
            self.after.put_settings(&path, merged);
            self.body.push(Op::EditSettings(EditSettingsOp {
                path,
                changes,
                before,
                after,
            }));
        }
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
