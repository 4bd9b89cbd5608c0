//! The end-of-run checklist: what the guide leaves to the administrator once the upgrade
//! itself is done, said for this run (its versions and the config view it recorded), printed
//! by `upgrade` when it completes and kept in the run's receipt.
//!
//! It is made from the run's versions and its config view only (the key/value pairs
//! `Config::journal_view` gives and the journal records), so `hubup report` says the same
//! weeks later, from the journal alone.

use crate::config::MACHINES_KEY;
use crate::version::{Step, Version, steps_between};

/// What is left to the administrator after a run that upgraded `from` -> `to`, in the
/// order of doing it. Empty when nothing was upgraded.
pub fn end_of_run_checklist(
    from: Version,
    to: Version,
    config: &[(String, String)],
) -> Vec<String> {
    let Ok(steps) = steps_between(from, to) else {
        return Vec::new();
    };
    if steps.is_empty() {
        return Vec::new();
    }
    let value = |key: &str| {
        config
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.trim().is_empty())
    };
    let mut items = Vec::new();
    if steps.iter().any(|s| s.to == Version::V4_1) {
        items.push(
            "log in to Hub, open the plugin repository, select All and click Complete \
             updating: the 4.1 plugins are installed that way (from 4.2 on they update \
             themselves)"
                .to_string(),
        );
    }
    items.push(
        "before users come back, check that every site answers: `hubup probe` asks each over \
         HTTPS (the Authentication Server by its discovery document)"
            .to_string(),
    );
    items.push(
        "ask every user to log in to Hub and clear the browser cache with Ctrl+F5, so that \
         the pages of the new version load"
            .to_string(),
    );
    items.push(match value(MACHINES_KEY) {
        Some(machines) => format!(
            "upgrade the other machines on which Hub is installed to {to}, with the same \
             packages: {machines}"
        ),
        None => format!(
            "upgrade every other machine on which Hub is installed to {to}, with the same \
             packages (name them in [install] machines to have them listed here)"
        ),
    });
    items.push(format!(
        "update the Interact API VBO in the Blue Prism interactive client: `hubup vbo \
         --release-zip <the {to} Interact API Service release zip>` writes a release holding \
         only \"Utility - Interact API\"; import it with File > Import > Release/Skill (the \
         guide's \"Upgrade Interact API VBO\")"
    ));
    if to >= Version::V4_3 && value("optional.control_room_api_url").is_none() {
        items.push(
            "if you use the Control Room plugin (Blue Prism 7.0 or later), set the Blue Prism \
             API URL in Hub's configuration: none was given ([optional] control_room_api_url)"
                .to_string(),
        );
    }
    items.push(backups_item(&steps, from));
    items
}

/// The backups the run made: kept for `hubup rollback`, and to be moved away before the next
/// upgrade (which refuses to start while a backup of the same version is in the install).
fn backups_item(steps: &[Step], from: Version) -> String {
    let folders: Vec<String> = steps.iter().map(|s| s.from.backup_folder_name()).collect();
    format!(
        "keep {} in the install location while you may want to go back (`hubup rollback --to \
         {from}` restores from them); once the applications are proven, `hubup backups prune` \
         removes them (journaled): the guide asks for them to be removed before the next \
         upgrade",
        folders.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_run_through_4_1_asks_for_the_plugin_update_and_names_every_backup() {
        let items = end_of_run_checklist(Version::V4_0, Version::V4_5, &[]);
        assert!(items[0].contains("Complete updating"), "{items:?}");
        assert!(items.iter().any(|i| i.contains("Ctrl+F5")));
        assert!(items.iter().any(|i| i.contains("hubup probe")));
        assert!(items.iter().any(|i| i.contains("control_room_api_url")));
        let backups = items.last().unwrap();
        for version in ["4.0", "4.1", "4.2", "4.3", "4.4"] {
            assert!(backups.contains(&format!("backup_{version}")), "{backups}");
        }
        assert!(backups.contains("rollback --to 4.0"), "{backups}");
    }

    #[test]
    fn later_runs_skip_what_does_not_apply_and_name_the_other_machines() {
        let config = view(&[
            (MACHINES_KEY, "HUBWEB02, HUBWEB03"),
            ("optional.control_room_api_url", "https://bpapi.corp.local"),
        ]);
        let items = end_of_run_checklist(Version::V4_2, Version::V4_4, &config);
        assert!(!items.iter().any(|i| i.contains("Complete updating")));
        assert!(!items.iter().any(|i| i.contains("control_room_api_url")));
        assert!(items.iter().any(|i| i.contains("HUBWEB02, HUBWEB03")));
        let backups = items.last().unwrap();
        assert!(backups.contains("backup_4.2, backup_4.3"), "{backups}");
        assert!(!backups.contains("backup_4.4"), "{backups}");
    }

    #[test]
    fn nothing_upgraded_leaves_nothing_to_do() {
        assert!(end_of_run_checklist(Version::V4_5, Version::V4_5, &[]).is_empty());
        assert!(end_of_run_checklist(Version::V4_5, Version::V4_0, &[]).is_empty());
    }
}
