//! The upgrade engine end to end, through the real binary on the small fixture: full and
//! partial chains, refusals, an injected failure with automatic rollback and retry, and
//! `rollback --to` across committed steps.

use std::fs;
use std::path::Path;

use crate::support::{Run, Scenario, expected_tree_digest};

/// Every file under `dir` with its content, relative path first (for live-data comparisons).
fn files_under(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.push((rel, fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// The live data of an install: `Files`, `DataProtectionKeys` and every `Logs_*` folder, keyed
/// by the log folder's name (its component folder may be renamed by the upgrade).
fn live_data(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for top in ["Files", "DataProtectionKeys"] {
        for (rel, bytes) in files_under(&root.join(top)) {
            out.push((format!("{top}/{rel}"), bytes));
        }
    }
    for component in fs::read_dir(root).unwrap().flatten() {
        let Ok(inner) = fs::read_dir(component.path()) else {
            continue;
        };
        for entry in inner.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("Logs_") && entry.path().is_dir() {
                for (rel, bytes) in files_under(&entry.path()) {
                    out.push((format!("{name}/{rel}"), bytes));
                }
            }
        }
    }
    out.sort();
    out
}

#[test]
fn full_chain_4_0_to_4_5_matches_the_expected_tree() {
    let scenario = Scenario::new();
    let live_before = live_data(&scenario.root());
    assert!(!live_before.is_empty(), "the fixture has live data");

    let run = scenario
        .run_playing_dba(&["upgrade", "--to", "4.5"])
        .expect(0);
    assert!(run.stdout.contains("upgraded to 4.5"), "{}", run.stdout);

    let (version, tree, _) = scenario.digests();
    assert_eq!(version, "4.5");
    assert_eq!(tree, expected_tree_digest("4.5"));

    let apphost = fs::read_to_string(scenario.apphost()).unwrap();
    for site in [
        "Blue Prism - Authentication Server",
        "Blue Prism - Email Service",
        "Blue Prism - License Manager",
        "Blue Prism - Notification Center",
        "Blue Prism - Hub",
    ] {
        assert!(
            apphost.contains(&format!("<site name=\"{site}\"")),
            "{site} in applicationHost.config"
        );
    }
    assert!(!apphost.contains("<site name=\"Blue Prism - IMS\""));
    assert!(!apphost.contains("<site name=\"Blue Prism - Email Sender\""));
    // The renamed sites keep their app pools (the guide: app pool and URL unchanged).
    assert!(apphost.contains("applicationPool=\"Blue Prism - IMS\""));
    assert!(apphost.contains("licensemanager.local"));

    scenario.run(&["journal", "verify"]).expect(0);

    let sql = sql_output(&scenario);
    for needle in [
        "CREATE DATABASE [LicenseManagerDB]",
        "CREATE DATABASE [NotificationCenterDB]",
        "CREATE DATABASE [IadaDB]",
        "CREATE DATABASE [EmailServiceDB]",
        "CREATE LOGIN [IIS APPPOOL\\Blue Prism - License Manager] FROM WINDOWS",
        "CREATE USER [IIS APPPOOL\\Blue Prism - Notification Center]",
        "ALTER ROLE [db_datareader] ADD MEMBER [IIS APPPOOL\\Blue Prism - Email Sender]",
        "ALTER ROLE [db_datawriter] ADD MEMBER [IIS APPPOOL\\Blue Prism - IADA]",
        "GRANT EXECUTE TO [IIS APPPOOL\\Blue Prism - License Manager]",
        "[dbo].[__hubup_migrations]",
    ] {
        assert!(sql.contains(needle), "SQL output holds {needle}");
    }
    for migration in hubup::MIGRATIONS
        .iter()
        .filter(|m| !m.id.starts_with("4.5/"))
    {
        assert!(
            sql.contains(&migration.checksum().to_hex()),
            "{} is recorded with its checksum",
            migration.id
        );
    }
    assert!(
        !sql.contains("DecisionDB"),
        "Decision is not configured in the demo"
    );

    assert_eq!(
        live_data(&scenario.root()),
        live_before,
        "live data untouched"
    );
    for version in ["4.0", "4.1", "4.2", "4.3", "4.4"] {
        let listing = scenario
            .root()
            .join(format!("backup_{version}"))
            .join("hubup-backup.json");
        assert!(
            listing.is_file(),
            "backup of the step from {version} is kept for rollback"
        );
    }
}

/// Everything the SQL adapter wrote in script mode.
fn sql_output(scenario: &Scenario) -> String {
    let mut text = String::new();
    for (rel, bytes) in files_under(&scenario.path().join("output")) {
        if rel.ends_with(".sql") {
            text.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    text
}

#[test]
fn partial_chain_4_2_to_4_4() {
    let scenario = Scenario::at_version("4.2");
    scenario
        .run_playing_dba(&["upgrade", "--to", "4.4"])
        .expect(0);
    let (version, tree, _) = scenario.digests();
    assert_eq!(version, "4.4");
    assert_eq!(tree, expected_tree_digest("4.4"));
}

#[test]
fn nothing_to_do_exits_0_and_downgrades_and_unknown_versions_are_refused() {
    let scenario = Scenario::at_version("4.5");
    let before = scenario.digests();
    let run = scenario.run(&["upgrade", "--to", "4.5"]).expect(0);
    assert!(run.stdout.contains("nothing to do"), "{}", run.stdout);
    assert!(run.stdout.contains("already at 4.5"), "{}", run.stdout);
    let run = scenario.run(&["upgrade", "--to", "4.3"]).expect(2);
    assert!(run.stderr.contains("newer"), "{}", run.stderr);
    let run = scenario.run(&["upgrade", "--to", "4.7"]).expect(2);
    assert!(run.stderr.contains("4.7"), "{}", run.stderr);
    assert_eq!(scenario.digests(), before, "nothing changed");
}

/// The index of an op in the middle of a step's plan, from `hubup plan --json`.
fn middle_op(scenario: &Scenario, to: &str, step: &str) -> usize {
    let plan = scenario
        .run(&["plan", "--to", to, "--json"])
        .expect(0)
        .json();
    let step = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == step)
        .unwrap_or_else(|| panic!("step {step} in plan"));
    let ops = step["ops"].as_array().unwrap();
    let writes: Vec<usize> = ops
        .iter()
        .filter(|op| op["kind"] == "write_file")
        .map(|op| op["index"].as_u64().unwrap() as usize)
        .collect();
    writes[writes.len() / 2]
}

#[test]
fn failure_in_the_middle_of_4_3_rolls_back_exactly_and_a_retry_succeeds() {
    let scenario = Scenario::new();
    scenario
        .run_playing_dba(&["upgrade", "--to", "4.2"])
        .expect(0);
    let at_4_2 = scenario.digests();
    let index = middle_op(&scenario, "4.5", "4.2 -> 4.3");

    let fault = format!("fail={}:{index}", "4.2");
    let run = scenario.run_with_env(
        &["upgrade", "--to", "4.5"],
        &[("HUBUP_TEST_FAULTS", &fault)],
    );
    let run = run.expect(3);
    assert!(run.stderr.contains("4.2 -> 4.3"), "{}", run.stderr);
    assert!(run.stderr.contains("journal"), "{}", run.stderr);
    assert_eq!(
        scenario.digests(),
        at_4_2,
        "exact 4.2 tree and applicationHost.config"
    );
    assert!(
        !scenario.root().join("backup_4.2").exists(),
        "backup removed after verified rollback"
    );
    scenario.run(&["journal", "verify"]).expect(0);

    scenario
        .run_playing_dba(&["upgrade", "--to", "4.5"])
        .expect(0);
    let (version, tree, _) = scenario.digests();
    assert_eq!(
        (version.as_str(), tree),
        ("4.5", expected_tree_digest("4.5"))
    );
}

#[test]
fn rollback_to_4_0_after_a_full_run_gives_back_the_pristine_install() {
    let scenario = Scenario::new();
    let pristine = scenario.digests();
    scenario
        .run_playing_dba(&["upgrade", "--to", "4.5"])
        .expect(0);
    assert_ne!(scenario.digests(), pristine);
    scenario.run(&["rollback", "--to", "4.0"]).expect(0);
    assert_eq!(scenario.digests(), pristine);
    scenario.run(&["journal", "verify"]).expect(0);
    let status = scenario.status();
    assert_eq!(status["unfinished_run"], serde_json::Value::Null);
}

#[test]
fn an_unfinished_run_blocks_a_new_upgrade_until_resumed() {
    let scenario = Scenario::new();
    let index = middle_op(&scenario, "4.1", "4.0 -> 4.1");
    let fault = format!("crash-after={}", index + 1);
    let run = scenario.run_with_env(
        &["upgrade", "--to", "4.1"],
        &[("HUBUP_TEST_FAULTS", &fault)],
    );
    assert_ne!(run.code, 0, "the simulated crash ends the process");
    let run = scenario.run(&["upgrade", "--to", "4.5"]).expect(4);
    assert!(run.stderr.contains("hubup resume"), "{}", run.stderr);
    scenario.run_playing_dba(&["resume"]).expect(0);
    let (version, tree, _) = scenario.digests();
    assert_eq!(
        (version.as_str(), tree),
        ("4.1", expected_tree_digest("4.1"))
    );
}

/// A run that stopped after `RunStarted`, before its first step was planned (a power cut
/// between the two commits): resume must still take the database backups the run asked for,
/// into the files the run's stamp names, because resume trusts only the journal.
#[test]
fn a_run_stopped_before_its_first_step_still_takes_its_backups_on_resume() {
    let scenario = Scenario::new();
    let mut journal = hubup::Journal::create(scenario.path().join("journal/hubup.redb")).unwrap();
    let mut config = hubup::ConfigRecord::new();
    config.push("sql.backup_databases", r"D:\SQLBackups");
    config.push("sql.backup_stamp", "20261129T010203Z");
    let started = hubup::Payload::RunStarted {
        from: hubup::Version::V4_0,
        to: hubup::Version::V4_2,
        install_root: scenario.root().display().to_string(),
        hubup_version: "test".into(),
        config,
    };
    journal.append(hubup::RunId::random(), &[started]).unwrap();
    drop(journal);
    scenario.run_playing_dba(&["resume"]).expect(0);
    let script = sql_output(&scenario);
    let backups: Vec<&str> = script
        .lines()
        .filter(|l| l.starts_with("BACKUP DATABASE"))
        .collect();
    assert_eq!(backups.len(), 5, "{script}");
    assert!(
        backups[0].starts_with(
            r"BACKUP DATABASE [ImsDB] TO DISK = N'D:\SQLBackups\ImsDB_4.0_20261129T010203Z.bak'"
        ),
        "{backups:?}"
    );
    assert_eq!(scenario.digests().0, "4.2");
}

/// Asserts that a failure after the install changed says so: exit 4 (the run is unfinished),
/// never 2 ("nothing was changed"), naming `path` and what to run next.
#[track_caller]
fn unfinished_after_a_change(run: Run, path: &str) -> Run {
    let run = run.expect(4);
    assert!(run.stderr.contains(path), "names {path}: {}", run.stderr);
    assert!(
        !run.stderr.contains("nothing was changed"),
        "something was changed: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("hubup resume") && run.stderr.contains("hubup rollback"),
        "{}",
        run.stderr
    );
    run
}

/// Replaces a command template in the scenario's config.
#[cfg(unix)]
fn set_command(scenario: &Scenario, key: &str, value: &str) {
    let text = fs::read_to_string(scenario.config()).unwrap();
    let text: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with(&format!("{key} =")) {
                format!("{key} = {value}")
            } else {
                l.to_string()
            }
        })
        .collect();
    fs::write(scenario.config(), text.join("\n")).unwrap();
}

/// A symbolic link that a command put into the install tree during the step 4.1 -> 4.2 (its
/// folder ACL grant, the first command of a step; stopping sites is a host op): the install can
/// no longer be digested (an install holds no links), after the step has changed it. Returns
/// the link and the grant's op index.
#[cfg(unix)]
fn link_in_the_tree_when_folders_are_granted(scenario: &Scenario) -> (std::path::PathBuf, u64) {
    let link = scenario.root().join("Hub").join("hubup-test-link");
    let script = format!("ln -sf /dev/null '{}'", link.display());
    let template = format!("[\"sh\", \"-c\", {:?}]", script);
    set_command(scenario, "folder_acl_grant", &template);
    let plan = scenario
        .run(&["plan", "--to", "4.2", "--json"])
        .expect(0)
        .json();
    let grant = plan["steps"][0]["ops"]
        .as_array()
        .unwrap()
        .iter()
        .find(|op| op["description"].as_str().unwrap().contains("full control"))
        .expect("a folder ACL grant in 4.1 -> 4.2");
    (link, grant["index"].as_u64().unwrap())
}

#[cfg(unix)]
#[test]
fn an_install_that_cannot_be_read_after_a_rollback_leaves_the_run_unfinished() {
    let scenario = Scenario::at_version("4.1");
    let pristine = scenario.digests();
    let (link, grant) = link_in_the_tree_when_folders_are_granted(&scenario);
    let fault = format!("fail=4.1:{}", grant + 2);
    let run = scenario.run_with_env(
        &["upgrade", "--to", "4.2"],
        &[("HUBUP_TEST_FAULTS", &fault)],
    );
    unfinished_after_a_change(run, "hubup-test-link");

    fs::remove_file(&link).unwrap();
    scenario.run(&["rollback"]).expect(0);
    assert_eq!(scenario.digests(), pristine);
    assert!(scenario.status()["unfinished_run"].is_null());
}

#[cfg(unix)]
#[test]
fn an_install_that_cannot_be_read_after_a_resumed_step_leaves_the_run_unfinished() {
    let scenario = Scenario::at_version("4.1");
    let (link, grant) = link_in_the_tree_when_folders_are_granted(&scenario);
    let fault = format!("crash-after={}", grant + 1);
    let run = scenario.run_with_env(
        &["upgrade", "--to", "4.2"],
        &[("HUBUP_TEST_FAULTS", &fault)],
    );
    assert_ne!(run.code, 0, "the simulated crash ends the process");
    scenario.wait_for_journal();
    // Script mode: the resumed step waits for its DBA before it commits (and reads the tree).
    unfinished_after_a_change(scenario.run_playing_dba(&["resume"]), "hubup-test-link");

    fs::remove_file(&link).unwrap();
    scenario.run_playing_dba(&["resume"]).expect(0);
    assert_eq!(
        scenario.digests().1,
        expected_tree_digest("4.2"),
        "the resumed step committed"
    );
}

#[test]
fn a_resume_that_finished_a_step_but_cannot_plan_the_next_leaves_the_run_unfinished() {
    let scenario = Scenario::new();
    let index = middle_op(&scenario, "4.2", "4.0 -> 4.1");
    let fault = format!("crash-after={}", index + 1);
    let run = scenario.run_with_env(
        &["upgrade", "--to", "4.2"],
        &[("HUBUP_TEST_FAULTS", &fault)],
    );
    assert_ne!(run.code, 0, "the simulated crash ends the process");
    scenario.wait_for_journal();
    let package = scenario
        .path()
        .join("packages")
        .join("BluePrismHubAndInteractUpdate4.2.bin");
    let aside = scenario.path().join("aside.bin");
    fs::rename(&package, &aside).unwrap();

    unfinished_after_a_change(
        scenario.run(&["resume"]),
        "BluePrismHubAndInteractUpdate4.2.bin",
    );
    assert_eq!(
        scenario.digests().0,
        "4.1",
        "the interrupted step committed"
    );

    fs::rename(&aside, &package).unwrap();
    scenario.run_playing_dba(&["resume"]).expect(0);
    assert_eq!(scenario.digests().1, expected_tree_digest("4.2"));
}
