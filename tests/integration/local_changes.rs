//! Issue 6 through the real binary: administrators' settings survive every step and every
//! rollback; a hand-patched product file stops the upgrade before any change; each of the two
//! flags does what it says and the journal records it; drift shows in `status --json`.

use std::fs;

use crate::support::Scenario;

const HUB_SETTINGS: &str = "Hub/appsettings.json";
const PATCHED: &str = "Hub/BluePrism.Hub.dll";

/// The administrator's values in the fixture's Hub settings.
fn admin_values(text: &str) -> Vec<&str> {
    let mut found = Vec::new();
    for needle in [
        "CfDJ8",
        "\"BluePrism\": \"Debug\"",
        "// Tuned on this server",
        "rabbitmq.corp.local",
    ] {
        if text.contains(needle) {
            found.push(needle);
        }
    }
    found
}

#[test]
fn administrator_settings_survive_every_step_and_the_rollback_byte_for_byte() {
    let scenario = Scenario::new();
    let path = scenario.root().join(HUB_SETTINGS);
    let original = fs::read(&path).unwrap();
    assert_eq!(admin_values(&String::from_utf8_lossy(&original)).len(), 4);
    for to in ["4.1", "4.2", "4.3", "4.4", "4.5"] {
        scenario.run_playing_dba(&["upgrade", "--to", to]).expect(0);
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(admin_values(&text).len(), 4, "after {to}:\n{text}");
        // The encrypted connection string is kept exactly.
        let line = |t: &str| t.lines().find(|l| l.contains("CfDJ8")).map(str::to_string);
        assert_eq!(line(&text), line(&String::from_utf8_lossy(&original)));
    }
    let text = fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("\"EmailService\""),
        "the 4.3 rename was merged"
    );
    assert!(text.contains("\"Decision\""), "the 4.5 section was added");
    // Back to 4.0, the file is the administrator's exact bytes again (four runs were made, so
    // roll back each of them, newest first).
    for to in ["4.4", "4.3", "4.2", "4.1", "4.0"] {
        scenario.run(&["rollback", "--to", to]).expect(0);
    }
    assert_eq!(fs::read(&path).unwrap(), original);
}

#[test]
fn optional_urls_from_the_config_land_in_hub_settings() {
    let scenario = Scenario::new();
    let mut config = fs::read_to_string(scenario.config()).unwrap();
    config = config.replacen(
        "[commands]",
        "[optional]\ncontrol_room_api_url = \"https://bpapi.corp.local\"\n\n[optional.decision]\n\
         model_service_url = \"https://decision.corp.local:50051\"\ncertificate = \"DecisionCert\"\n\n[commands]",
        1,
    );
    fs::write(scenario.config(), config).unwrap();
    scenario
        .run_playing_dba(&["upgrade", "--to", "4.5"])
        .expect(0);
    let text = fs::read_to_string(scenario.root().join(HUB_SETTINGS)).unwrap();
    assert!(
        text.contains("\"Url\": \"https://bpapi.corp.local\""),
        "{text}"
    );
    assert!(
        text.contains("\"ModelServiceUrl\": \"https://decision.corp.local:50051\""),
        "{text}"
    );
    assert!(text.contains("\"Certificate\": \"DecisionCert\""), "{text}");
    let sql = fs::read_to_string(scenario.path().join("output/hubup-database.sql")).unwrap();
    assert!(
        sql.contains("CREATE DATABASE [DecisionDB]"),
        "Decision's database is created"
    );
}

#[test]
fn a_hand_patched_dll_stops_the_upgrade_before_any_change() {
    let scenario = Scenario::new();
    fs::write(scenario.root().join(PATCHED), b"hotfix from support").unwrap();
    let before = scenario.digests();
    let run = scenario.run(&["upgrade", "--to", "4.5"]).expect(2);
    assert!(run.stderr.contains(PATCHED), "{}", run.stderr);
    assert!(
        run.stderr.contains("--keep-local-changes"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("--overwrite-local-changes"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("Nothing was changed"), "{}", run.stderr);
    assert_eq!(scenario.digests(), before);
    assert!(!scenario.root().join("backup_4.0").exists());
    let plan = scenario
        .run(&["plan", "--to", "4.5", "--keep-local-changes", "--json"])
        .expect(0)
        .json();
    let changes = plan["steps"][0]["local_changes"].as_array().unwrap();
    assert!(
        changes
            .iter()
            .any(|c| c.as_str().unwrap().contains(PATCHED))
    );
}

#[test]
fn keep_local_changes_leaves_the_file_and_journals_it() {
    let scenario = Scenario::new();
    fs::write(scenario.root().join(PATCHED), b"hotfix from support").unwrap();
    scenario
        .run(&["upgrade", "--to", "4.1", "--keep-local-changes"])
        .expect(0);
    assert_eq!(
        fs::read(scenario.root().join(PATCHED)).unwrap(),
        b"hotfix from support"
    );
    let notes: Vec<String> = scenario.notes();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("kept local change") && n.contains(PATCHED)),
        "{notes:?}"
    );
    let drift = &scenario.status()["drift"];
    assert_eq!(drift["checked"], true);
    assert!(
        drift["changed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == PATCHED),
        "{drift}"
    );
}

#[test]
fn overwrite_local_changes_replaces_backs_up_and_journals_it() {
    let scenario = Scenario::new();
    fs::write(scenario.root().join(PATCHED), b"hotfix from support").unwrap();
    scenario
        .run(&["upgrade", "--to", "4.1", "--overwrite-local-changes"])
        .expect(0);
    assert_ne!(
        fs::read(scenario.root().join(PATCHED)).unwrap(),
        b"hotfix from support"
    );
    assert_eq!(
        fs::read(scenario.root().join("backup_4.0").join(PATCHED)).unwrap(),
        b"hotfix from support",
        "the changed file went to the backup like everything else"
    );
    let notes = serde_json::to_string(&scenario.journal()).unwrap();
    assert!(
        notes.contains("overwriting local change"),
        "journal records the overwrite"
    );
    let drift = &scenario.status()["drift"];
    assert_eq!(drift["changed"].as_array().unwrap().len(), 0, "{drift}");
    // And the rollback brings the hotfix back.
    scenario.run(&["rollback", "--to", "4.0"]).expect(0);
    assert_eq!(
        fs::read(scenario.root().join(PATCHED)).unwrap(),
        b"hotfix from support"
    );
}

#[test]
fn drift_shows_changed_missing_and_extra_files_in_status() {
    let scenario = Scenario::new();
    scenario.run(&["upgrade", "--to", "4.1"]).expect(0);
    assert_eq!(
        scenario.status()["drift"]["changed"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    fs::write(scenario.root().join(PATCHED), b"patched after the upgrade").unwrap();
    fs::remove_file(scenario.root().join("Hub/BluePrism.Hub.exe")).unwrap();
    fs::write(scenario.root().join("Hub/notes.txt"), b"admin's notes").unwrap();
    let drift = scenario.status()["drift"].clone();
    assert!(
        drift["changed"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == PATCHED),
        "{drift}"
    );
    assert!(
        drift["missing"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "Hub/BluePrism.Hub.exe"),
        "{drift}"
    );
    assert!(
        drift["extra"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "Hub/notes.txt"),
        "{drift}"
    );
}
