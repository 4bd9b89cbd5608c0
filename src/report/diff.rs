//! What two machines' receipts say differs (`hubup audit diff`): each side's receipts are
//! folded into a [`MachineState`], the state the journal can vouch for, and the two states
//! compared key by key.
//!
//! The state holds: the version the last run left; every product file the runs' committed
//! steps wrote (its digest) or deleted, with folder renames applied, so a file written by one
//! run and replaced by a later one counts once, as the later one left it; the sites and the
//! rest of the config view of the last run; the settings keys and the database grants of
//! committed steps. Files hubup never touched are not in any journal, so they are not
//! compared (`hubup status` compares an install with its packages). The machine's id and
//! name are not compared: they always differ, and say which machine each side is.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::journal::MACHINE_ID_KEY;

use super::{FileChangeKind, OpStatus, ReportMachine, RunReport, StepOutcome};

/// What a machine's receipts vouch for.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MachineState {
    /// The machine of the last run, if any.
    pub machine: Option<ReportMachine>,
    /// The version the last run left (`unfinished (4.0 -> 4.5)` while it runs), or `none`.
    pub version: String,
    /// Product file -> its digest as written, or `deleted`.
    pub files: BTreeMap<String, String>,
    /// `sites.*` keys of the last run's config view.
    pub sites: BTreeMap<String, String>,
    /// The rest of that config view (without the machine id).
    pub config: BTreeMap<String, String>,
    /// `path: change` of every settings key committed steps changed.
    pub settings: BTreeSet<String>,
    /// Every login, user, role membership and grant committed steps made.
    pub grants: BTreeSet<String>,
}

/// A key whose value differs; `None` on a side where the key is absent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValueDiff {
    pub key: String,
    pub a: Option<String>,
    pub b: Option<String>,
}

/// The members of two sets that are not in both.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetDiff {
    pub only_in_a: Vec<String>,
    pub only_in_b: Vec<String>,
}

/// Everything that differs between two machine states; empty when they agree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateDiff {
    pub version: Option<ValueDiff>,
    pub files: Vec<ValueDiff>,
    pub sites: Vec<ValueDiff>,
    pub config: Vec<ValueDiff>,
    pub settings: SetDiff,
    pub grants: SetDiff,
}

impl MachineState {
    /// The state `reports` (one machine's, oldest first) leave.
    pub fn of(reports: &[RunReport]) -> MachineState {
        let mut state = MachineState {
            version: "none".to_string(),
            ..MachineState::default()
        };
        for report in reports {
            state.add(report);
        }
        state
    }

    fn add(&mut self, report: &RunReport) {
        self.machine = Some(report.machine.clone());
        self.version = report.final_version().map_or_else(
            || format!("unfinished ({} -> {})", report.from, report.to),
            |v| v.to_string(),
        );
        self.sites.clear();
        self.config.clear();
        for pair in &report.config {
            if pair.key == MACHINE_ID_KEY {
                continue;
            }
            let into = if pair.key.starts_with("sites.") {
                &mut self.sites
            } else {
                &mut self.config
            };
            into.insert(pair.key.clone(), pair.value.clone());
        }
        let committed = |step| {
            report
                .steps
                .iter()
                .rev()
                .find(|s| s.step == step)
                .is_some_and(|s| s.outcome == StepOutcome::Committed)
        };
        let done = |status| status == OpStatus::Done;
        for file in report
            .files
            .iter()
            .filter(|f| committed(f.step) && done(f.status))
        {
            match (file.change, &file.renamed_to) {
                (FileChangeKind::Written, _) => {
                    let digest = file.digest.map_or_else(String::new, |d| d.to_hex());
                    self.files.insert(file.path.clone(), digest);
                }
                (FileChangeKind::Deleted, _) => {
                    self.files.insert(file.path.clone(), "deleted".to_string());
                }
                (FileChangeKind::Renamed, Some(to)) => self.rename(&file.path, to),
                (FileChangeKind::Renamed, None) => {}
            }
        }
        for change in report
            .settings
            .iter()
            .filter(|s| committed(s.step) && done(s.status))
        {
            for key in &change.changes {
                self.settings.insert(format!("{}: {key}", change.path));
            }
        }
        for grant in report
            .grants
            .iter()
            .filter(|g| committed(g.step) && done(g.status))
        {
            self.grants.insert(grant.description.clone());
        }
    }

    /// Files already recorded under folder `from` move under `to`.
    fn rename(&mut self, from: &str, to: &str) {
        let prefix = format!("{from}/");
        let moved: Vec<String> = self
            .files
            .keys()
            .filter(|path| path.starts_with(&prefix))
            .cloned()
            .collect();
        for path in moved {
            if let Some(value) = self.files.remove(&path) {
                self.files
                    .insert(format!("{to}/{}", &path[prefix.len()..]), value);
            }
        }
    }

    /// What differs between this state (A) and `other` (B).
    pub fn diff(&self, other: &MachineState) -> StateDiff {
        StateDiff {
            version: (self.version != other.version).then(|| ValueDiff {
                key: "version".to_string(),
                a: Some(self.version.clone()),
                b: Some(other.version.clone()),
            }),
            files: map_diff(&self.files, &other.files),
            sites: map_diff(&self.sites, &other.sites),
            config: map_diff(&self.config, &other.config),
            settings: set_diff(&self.settings, &other.settings),
            grants: set_diff(&self.grants, &other.grants),
        }
    }
}

impl StateDiff {
    /// True when the two states agree on everything compared.
    pub fn is_empty(&self) -> bool {
        self.version.is_none()
            && self.files.is_empty()
            && self.sites.is_empty()
            && self.config.is_empty()
            && self.settings.only_in_a.is_empty()
            && self.settings.only_in_b.is_empty()
            && self.grants.only_in_a.is_empty()
            && self.grants.only_in_b.is_empty()
    }
}

fn map_diff(a: &BTreeMap<String, String>, b: &BTreeMap<String, String>) -> Vec<ValueDiff> {
    let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|key| a.get(*key) != b.get(*key))
        .map(|key| ValueDiff {
            key: key.clone(),
            a: a.get(key).cloned(),
            b: b.get(key).cloned(),
        })
        .collect()
}

fn set_diff(a: &BTreeSet<String>, b: &BTreeSet<String>) -> SetDiff {
    SetDiff {
        only_in_a: a.difference(b).cloned().collect(),
        only_in_b: b.difference(a).cloned().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(files: &[(&str, &str)]) -> MachineState {
        MachineState {
            version: "4.5".into(),
            files: files
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..MachineState::default()
        }
    }

    #[test]
    fn equal_states_have_an_empty_diff() {
        let a = state(&[("Hub/a.dll", "aa")]);
        assert!(a.diff(&a.clone()).is_empty());
    }

    #[test]
    fn a_diff_names_changed_and_one_sided_files() {
        let a = state(&[("Hub/a.dll", "aa"), ("Hub/only-a.dll", "11")]);
        let b = state(&[("Hub/a.dll", "bb"), ("Hub/only-b.dll", "22")]);
        let diff = a.diff(&b);
        assert!(!diff.is_empty());
        let keys: Vec<(&str, Option<&str>, Option<&str>)> = diff
            .files
            .iter()
            .map(|d| (d.key.as_str(), d.a.as_deref(), d.b.as_deref()))
            .collect();
        assert_eq!(
            keys,
            [
                ("Hub/a.dll", Some("aa"), Some("bb")),
                ("Hub/only-a.dll", Some("11"), None),
                ("Hub/only-b.dll", None, Some("22")),
            ]
        );
    }

    #[test]
    fn a_folder_rename_moves_the_files_recorded_under_it() {
        let mut a = state(&[("IMS/x.dll", "aa"), ("IMSX/y.dll", "bb")]);
        a.rename("IMS", "Authentication Server");
        assert_eq!(
            a.files.keys().collect::<Vec<_>>(),
            ["Authentication Server/x.dll", "IMSX/y.dll"]
        );
    }
}
