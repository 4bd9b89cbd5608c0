//! Issue 15: `hubup backups list` and `hubup backups prune` remove the `backup_4.n` folders of
//! committed steps (the guide: remove the backups of previous upgrades), journaled on the
//! runs that made them; a rollback past a pruned step is refused by name; a prune cut short
//! by a crash is finished by the next hubup; an unfinished run's backups are never touched;
//! a folder hubup did not make is left and named.

use crate::support::{Run, Scenario, StartRetrying, count_of, hubup_asking};

const FAULTS: &str = "HUBUP_TEST_FAULTS";

fn backup_names(scenario: &Scenario) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(scenario.root())
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("backup_"))
        .collect();
    names.sort();
    names
}

fn upgraded_to(version: &str) -> Scenario {
    let scenario = Scenario::new();
    scenario
        .run_playing_dba(&["upgrade", "--to", version])
        .expect(0);
    scenario
}

#[test]
fn prune_removes_a_finished_runs_backups_journaled_and_rollback_past_them_is_refused() {
    let scenario = upgraded_to("4.5");
    let foreign = scenario.root().join("backup_vendor_4.0");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("Hub.dll"), b"the vendor upgrader's copy").unwrap();

    let listed = scenario
        .run(&["backups", "list", "--json"])
        .expect(0)
        .json();
    let backups = listed["backups"].as_array().unwrap();
    assert_eq!(backups.len(), 6, "{listed}");
    let prunable: Vec<&str> = backups
        .iter()
        .filter(|b| b["prunable"] == true)
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        prunable,
        [
            "backup_4.0",
            "backup_4.1",
            "backup_4.2",
            "backup_4.3",
            "backup_4.4"
        ]
    );

    // Off a terminal without --yes: refused, nothing removed.
    let asked = Run::from_output(
        hubup_asking()
            .args(["backups", "prune", "--config"])
            .arg(scenario.config())
            .output_retrying()
            .unwrap(),
    )
    .expect(2);
    assert!(asked.stderr.contains("--yes"), "{}", asked.stderr);
    assert_eq!(backup_names(&scenario).len(), 6);

    let before = scenario.digests();
    let pruned = scenario.run(&["backups", "prune"]).expect(0);
    assert!(
        pruned.stdout.contains("removed 5 backup folder(s)"),
        "{}",
        pruned.stdout
    );
    assert!(
        pruned.stderr.contains("not made by hubup"),
        "{}",
        pruned.stderr
    );
    assert_eq!(backup_names(&scenario), ["backup_vendor_4.0"]);
    assert_eq!(
        scenario.digests(),
        before,
        "the install itself is untouched"
    );
    let journal = scenario.kinds();
    assert_eq!(count_of(&journal, "backup_pruning"), 5, "{journal:?}");
    assert_eq!(count_of(&journal, "backup_removed"), 5, "{journal:?}");
    scenario.run(&["journal", "verify"]).expect(0);

    let refused = scenario.run(&["rollback", "--to", "4.0"]).expect(2);
    assert!(
        refused.stderr.contains("removed by `hubup backups prune`"),
        "{}",
        refused.stderr
    );
    assert_eq!(scenario.digests(), before);

    let again = scenario.run(&["backups", "prune"]).expect(0);
    assert!(
        again.stderr.contains("nothing to prune"),
        "{}",
        again.stderr
    );
    assert_eq!(
        scenario.kinds(),
        journal,
        "nothing journaled the second time"
    );
}

#[test]
fn a_prune_cut_short_by_a_crash_is_finished_by_the_next_command() {
    let scenario = upgraded_to("4.2");
    let crashed = scenario.run_with_env(
        &["backups", "prune"],
        &[(FAULTS, "crash-in-backup-removal=4.0:2")],
    );
    assert_ne!(crashed.code, 0, "{}", crashed.stderr);
    assert!(
        crashed.stderr.contains("simulated crash"),
        "{}",
        crashed.stderr
    );
    scenario.wait_for_journal();
    assert!(scenario.root().join("backup_4.0").is_dir(), "half removed");
    assert_eq!(count_of(&scenario.kinds(), "backup_pruning"), 1);

    // The pending removal goes first, whatever the next changing command is.
    scenario.run(&["backups", "prune"]).expect(0);
    assert!(
        backup_names(&scenario).is_empty(),
        "{:?}",
        backup_names(&scenario)
    );
    let journal = scenario.kinds();
    assert_eq!(count_of(&journal, "backup_pruning"), 2, "{journal:?}");
    assert_eq!(count_of(&journal, "backup_removed"), 2, "{journal:?}");
}

#[test]
fn an_unfinished_runs_backups_are_kept_and_prune_says_to_resume_first() {
    let scenario = Scenario::new();
    let crashed = scenario
        .run_with_env_playing_dba(&["upgrade", "--to", "4.5"], &[(FAULTS, "crash-after=40")]);
    assert_ne!(crashed.code, 0, "{}", crashed.stderr);
    scenario.wait_for_journal();
    let before = backup_names(&scenario);
    assert!(!before.is_empty());
    let journal = scenario.kinds();
    let refused = scenario.run(&["backups", "prune"]).expect(4);
    assert!(refused.stderr.contains("unfinished"), "{}", refused.stderr);
    assert_eq!(backup_names(&scenario), before);
    assert_eq!(scenario.kinds(), journal);
}
