//! Recovery after an unclean end, through the real binary on the small fixture: a crash at
//! the end of a rollback never leaves a stuck run (the backup removal is its own phase), one
//! install admits one hubup whatever its journal (the install lock), lost writes in committed
//! steps are repaired from the packages or refused by name, and an emptied or full journal is
//! reported for what it is. Crashes are the executor's own (`HUBUP_TEST_FAULTS`: it aborts the
//! process at the named journal boundary, as a power cut or SIGKILL would leave hubup's files).

use crate::support::StartRetrying;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::support::{AWAITING_DBA, Run, Scenario, count_of, expected_tree_digest, hubup};
use serde_json::Value;

const FAULTS: &str = "HUBUP_TEST_FAULTS";

/// Copies a folder tree (the sandbox) file by file.
fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A copy of a sandbox, to try a second way out of the same state. The config's paths are
/// relative, except the demo's command templates, which only append to a log.
fn copy_of(scenario: &Scenario) -> Scenario {
    let copy = Scenario {
        dir: tempfile::tempdir().unwrap(),
    };
    copy_tree(scenario.path(), copy.path());
    copy
}

/// The index of an op in the middle of a step's file writes, from `hubup plan --json`.
fn middle_write(scenario: &Scenario, to: &str, step: &str) -> usize {
    let writes = plan_writes(scenario, to, step);
    writes[writes.len() / 2].0
}

/// The file writes of a step's plan: (op index, path).
fn plan_writes(scenario: &Scenario, to: &str, step: &str) -> Vec<(usize, String)> {
    let plan = scenario
        .run(&["plan", "--to", to, "--json"])
        .expect(0)
        .json();
    let step = plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == step)
        .unwrap_or_else(|| panic!("step {step} in the plan"))
        .clone();
    step["ops"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|op| op["kind"] == "write_file")
        .map(|op| {
            (
                op["index"].as_u64().unwrap() as usize,
                op["op"]["WriteFile"]["path"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Runs `hubup <args>` with the test faults `faults`, playing the DBA while a step waits for
/// one (the sandbox is in script mode, exit 7), until the fault aborts the process.
#[track_caller]
fn crash(scenario: &Scenario, args: &[&str], faults: &str) {
    let run = scenario.run_with_env_playing_dba(args, &[(FAULTS, faults)]);
    assert_ne!(
        run.code, 0,
        "the simulated crash ends the process\n{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("simulated crash"),
        "the fault fired: {}",
        run.stderr
    );
    scenario.wait_for_journal();
}

#[track_caller]
fn assert_finished_and_verified(scenario: &Scenario) {
    assert!(
        scenario.status()["unfinished_run"].is_null(),
        "no unfinished run: {}",
        scenario.status()
    );
    scenario.run(&["journal", "verify"]).expect(0);
}

// ---- 1. No stuck state after a crash at the end of a rollback ----

#[test]
fn a_crash_between_step_rolled_back_and_the_backup_removal_leaves_nothing_stuck() {
    let scenario = Scenario::new();
    let pristine = scenario.digests();
    let index = middle_write(&scenario, "4.1", "4.0 -> 4.1");
    crash(
        &scenario,
        &["upgrade", "--to", "4.1"],
        &format!("fail=4.0:{index},crash-after-entry=step_rolled_back"),
    );
    let journal = scenario.kinds();
    assert_eq!(count_of(&journal, "step_rolled_back"), 1, "{journal:?}");
    assert_eq!(count_of(&journal, "run_finished"), 0, "{journal:?}");
    assert!(
        scenario.root().join("backup_4.0").is_dir(),
        "the rollback is journaled before its backup goes"
    );

    let by_rollback = copy_of(&scenario);
    let by_upgrade = copy_of(&scenario);

    scenario.run_playing_dba(&["resume"]).expect(0);
    assert_eq!(scenario.digests(), pristine);
    assert!(!scenario.root().join("backup_4.0").exists());
    assert_eq!(count_of(&scenario.kinds(), "backup_removed"), 1);
    assert_finished_and_verified(&scenario);

    by_rollback.run(&["rollback"]).expect(0);
    assert_eq!(by_rollback.digests(), pristine);
    assert!(!by_rollback.root().join("backup_4.0").exists());
    assert_finished_and_verified(&by_rollback);

    // The run lacked only its end: upgrade closes it and starts the new run.
    let run = by_upgrade.run(&["upgrade", "--to", "4.1"]).expect(0);
    assert!(run.stdout.contains("upgraded to 4.1"), "{}", run.stdout);
    assert_eq!(by_upgrade.digests().1, expected_tree_digest("4.1"));
    assert_finished_and_verified(&by_upgrade);
    let journal = by_upgrade.kinds();
    assert_eq!(count_of(&journal, "run_finished"), 2, "{journal:?}");
}

/// The state the issue found: all ops undone, the backup (half) removed, `step_rolled_back`
/// never journaled (what hubup's earlier order left after a crash).
#[test]
fn a_backup_half_removed_before_its_rollback_was_journaled_does_not_block_the_way_out() {
    let scenario = Scenario::new();
    let pristine = scenario.digests();
    let index = middle_write(&scenario, "4.1", "4.0 -> 4.1");
    crash(
        &scenario,
        &["upgrade", "--to", "4.1"],
        &format!("fail=4.0:{index},crash-before-entry=step_rolled_back"),
    );
    let backup = scenario.root().join("backup_4.0");
    assert!(
        backup.is_dir(),
        "the backup stays until the rollback is journaled"
    );
    remove_half_of(&backup);

    let by_rollback = copy_of(&scenario);
    // The run still has its interrupted step: upgrade points to resume and rollback.
    let run = scenario.run(&["upgrade", "--to", "4.1"]).expect(4);
    assert!(run.stderr.contains("hubup resume"), "{}", run.stderr);

    scenario.run_playing_dba(&["resume"]).expect(0);
    assert_eq!(scenario.digests(), pristine);
    assert!(!backup.exists(), "the rest of the backup is removed");
    assert_finished_and_verified(&scenario);
    scenario.run(&["upgrade", "--to", "4.1"]).expect(0);
    assert_eq!(scenario.digests().1, expected_tree_digest("4.1"));

    by_rollback.run(&["rollback"]).expect(0);
    assert_eq!(by_rollback.digests(), pristine);
    assert_finished_and_verified(&by_rollback);
}

/// Removes every other file under `dir` (a removal cut short).
fn remove_half_of(dir: &Path) {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap().flatten() {
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            } else {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    assert!(files.len() >= 2, "a backup with files: {files:?}");
    for file in files.iter().step_by(2) {
        fs::remove_file(file).unwrap();
    }
}

#[test]
fn a_backup_file_that_cannot_be_deleted_is_a_warning_not_a_stuck_run() {
    let scenario = Scenario::new();
    let pristine = scenario.digests();
    let index = middle_write(&scenario, "4.1", "4.0 -> 4.1");
    let run = scenario
        .run_with_env(
            &["upgrade", "--to", "4.1"],
            &[(FAULTS, &format!("fail=4.0:{index},fail-backup-removal=4.0"))],
        )
        .expect(3);
    assert!(
        run.stderr.contains("warning") && run.stderr.contains("backup_4.0"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("delete it by hand"), "{}", run.stderr);
    assert_eq!(scenario.digests(), pristine, "the install was restored");
    assert_finished_and_verified(&scenario);
    assert!(scenario.root().join("backup_4.0").is_dir());
    let journal = scenario.kinds();
    assert_eq!(count_of(&journal, "backup_removed"), 0, "{journal:?}");

    // The next changing command finishes the removal first; the upgrade then goes through.
    scenario.run(&["upgrade", "--to", "4.1"]).expect(0);
    assert_eq!(scenario.digests().1, expected_tree_digest("4.1"));
    assert_eq!(count_of(&scenario.kinds(), "backup_removed"), 1);
}

#[test]
fn a_crash_while_the_backup_is_being_removed_is_finished_by_the_next_command() {
    let scenario = Scenario::new();
    let pristine = scenario.digests();
    let index = middle_write(&scenario, "4.1", "4.0 -> 4.1");
    crash(
        &scenario,
        &["upgrade", "--to", "4.1"],
        &format!("fail=4.0:{index},crash-in-backup-removal=4.0:3"),
    );
    let backup = scenario.root().join("backup_4.0");
    assert!(backup.is_dir(), "half removed");
    let by_upgrade = copy_of(&scenario);

    scenario.run_playing_dba(&["resume"]).expect(0);
    assert_eq!(scenario.digests(), pristine);
    assert!(!backup.exists());
    assert_finished_and_verified(&scenario);

    // The old backup goes before the new run makes its own backup_4.0 (which it keeps).
    by_upgrade.run(&["upgrade", "--to", "4.1"]).expect(0);
    assert_eq!(by_upgrade.digests().1, expected_tree_digest("4.1"));
    let journal = by_upgrade.kinds();
    let removed = journal.iter().position(|k| k == "backup_removed");
    let planned_again = journal.iter().rposition(|k| k == "step_planned");
    assert!(removed < planned_again, "{journal:?}");
    assert!(removed.is_some(), "{journal:?}");
}

/// A crash after every journal append of a failed step's rollback (from `rollback_started`
/// to `run_finished`): each time, `resume` (or, every other time, `upgrade` after it) must
/// reach the pristine install with nothing left unfinished.
#[test]
fn a_crash_after_any_append_of_a_rollback_is_finished_by_the_next_command() {
    let template = Scenario::new();
    let pristine = template.digests();
    let at_4_1 = expected_tree_digest("4.1");
    let index = middle_write(&template, "4.1", "4.0 -> 4.1");
    let fail = format!("fail=4.0:{index}");
    let probe = copy_of(&template);
    let run = probe.run_with_env(
        &["upgrade", "--to", "4.1"],
        &[(
            FAULTS,
            &format!("{fail},crash-after-entry=rollback_started"),
        )],
    );
    let first: u64 = run
        .stderr
        .split("(journal append ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("the crash names its append: {}", run.stderr));
    let mut boundaries = 0;
    for append in first.. {
        let scenario = copy_of(&template);
        let run = scenario.run_with_env(
            &["upgrade", "--to", "4.1"],
            &[(FAULTS, &format!("{fail},crash-after-append={append}"))],
        );
        if !run.stderr.contains("simulated crash") {
            run.expect(3);
            break;
        }
        boundaries += 1;
        scenario.wait_for_journal();
        // After the last append (`run_finished`) there is nothing left to resume.
        if scenario.kinds().last().map(String::as_str) != Some("run_finished") {
            scenario.run_playing_dba(&["resume"]).expect(0);
        }
        assert_eq!(scenario.digests(), pristine, "crash after append {append}");
        assert_finished_and_verified(&scenario);
        assert!(
            !scenario.root().join("backup_4.0").exists(),
            "append {append}"
        );
        if append % 2 == 0 {
            scenario.run(&["upgrade", "--to", "4.1"]).expect(0);
            assert_eq!(scenario.digests().1, at_4_1, "append {append}");
        }
    }
    assert!(
        boundaries >= 4,
        "the rollback has its boundaries: {boundaries}"
    );
}

// ---- 2. One install, one hubup ----

/// A config for the same install that differs only in its journal.
fn config_with_journal(scenario: &Scenario, journal: &str) -> PathBuf {
    let text = fs::read_to_string(scenario.config()).unwrap();
    let text = text.replace(
        "path = \"journal/hubup.redb\"",
        &format!("path = \"{journal}\""),
    );
    assert!(text.contains(journal), "the demo config names its journal");
    let path = scenario.path().join("other.toml");
    fs::write(&path, text).unwrap();
    path
}

fn run_with_config(config: &Path, args: &[&str]) -> Run {
    let output = hubup()
        .args(args)
        .arg("--config")
        .arg(config)
        .output_retrying()
        .expect("run hubup");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// Waits (at most a minute) until `path` exists.
fn wait_for(path: &Path) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !path.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn a_second_hubup_with_another_journal_is_refused_while_the_first_holds_the_install() {
    let scenario = Scenario::new();
    let pristine = scenario.digests();
    let other = config_with_journal(&scenario, "journal2/other.redb");
    let held = scenario.path().join("held");
    let first = hubup()
        .args(["upgrade", "--to", "4.1", "--config"])
        .arg(scenario.config())
        .env(FAULTS, format!("hold-lock={}", held.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn_retrying()
        .expect("spawn the first hubup");
    wait_for(&held);
    let pid = first.id().to_string();

    for args in [
        &["upgrade", "--to", "4.1"][..],
        &["resume"][..],
        &["rollback"][..],
        &["plan", "--to", "4.1"][..],
        &["check", "--to", "4.1"][..],
    ] {
        let run = run_with_config(&other, args).expect(6);
        assert!(
            run.stderr.contains(&format!("pid {pid}")),
            "{args:?} names the holder: {}",
            run.stderr
        );
        assert!(
            run.stderr
                .contains(&format!("journal{}hubup.redb", std::path::MAIN_SEPARATOR))
                && run.stderr.contains("in progress"),
            "{args:?} names the holder's journal: {}",
            run.stderr
        );
    }
    assert!(
        !scenario.path().join("journal2").exists(),
        "the refused hubup created nothing, not even its journal"
    );
    // A run in progress: status exits 6 (README's exit table) and reads the holder's
    // progress record, not the install whose files it is replacing.
    let status = run_with_config(&other, &["status", "--json"])
        .expect(6)
        .json();
    assert_eq!(status["pending"], "run_in_progress", "{status}");
    assert_eq!(status["unfinished_run"]["in_progress"], true, "{status}");
    assert!(
        status["unfinished_run"]["detail"]
            .as_str()
            .unwrap_or_default()
            .contains(&pid),
        "{status}"
    );
    assert!(
        status["tree_digest"].is_null(),
        "the install is not read while another hubup changes it: {status}"
    );
    // Pointed at the install alone (`--root`), status reads its files, and still exits 6.
    let by_root = Run::from_output(
        hubup()
            .args(["status", "--json", "--root"])
            .arg(scenario.root())
            .output_retrying()
            .expect("run hubup status --root"),
    )
    .expect(6)
    .json();
    assert_eq!(
        by_root["tree_digest"].as_str().unwrap(),
        pristine.1,
        "the holder has not started yet"
    );

    fs::remove_file(&held).unwrap();
    let output = first.wait_with_output().expect("wait for the first hubup");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(scenario.digests().1, expected_tree_digest("4.1"));
    // Released on exit: the other journal's hubup may go on now (playing the DBA at the
    // step that waits for one, as the sandbox is in script mode).
    let mut run = run_with_config(&other, &["upgrade", "--to", "4.2"]);
    while run.code == AWAITING_DBA {
        run = run_with_config(&other, &["resume", "--dba-confirmed"]);
    }
    run.expect(0);
    assert_eq!(scenario.digests().1, expected_tree_digest("4.2"));
}

#[test]
fn the_install_lock_is_never_stale_after_a_crash_and_is_no_product_file() {
    let scenario = Scenario::new();
    let pristine = scenario.digests();
    crash(
        &scenario,
        &["upgrade", "--to", "4.1"],
        "crash-after-entry=step_planned",
    );
    assert!(scenario.root().join(hubup::LOCK_FILE).is_file());
    // The OS released the lock with the process: the next hubup takes it at once.
    scenario.run(&["rollback"]).expect(0);
    assert_eq!(
        scenario.digests(),
        pristine,
        "the lock file is not in the digest"
    );
    let status = scenario.status();
    assert!(status["unfinished_run"].is_null(), "{status}");
}

// ---- 3. Lost writes ----

/// The file writes of every committed step of the journal's last run, as (step, path).
fn committed_writes(scenario: &Scenario) -> Vec<(String, String)> {
    let journal = scenario.journal();
    let mut planned: Vec<(String, Vec<String>)> = Vec::new();
    let mut committed = Vec::new();
    for entry in &journal {
        let payload = &entry["payload"];
        let step = format!(
            "{} -> {}",
            payload["step"]["from"].as_str().unwrap_or_default(),
            payload["step"]["to"].as_str().unwrap_or_default()
        );
        match payload["kind"].as_str() {
            Some("step_planned") => {
                let writes = payload["ops"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter_map(|op| op["WriteFile"]["path"].as_str().map(str::to_string))
                    .collect();
                planned.push((step, writes));
            }
            Some("step_committed") => committed.push(step),
            _ => {}
        }
    }
    planned
        .into_iter()
        .filter(|(step, _)| committed.contains(step))
        .flat_map(|(step, writes)| writes.into_iter().map(move |w| (step.clone(), w)))
        .collect()
}

/// Files the journal's committed steps wrote that no later step rewrote: `per_step` of each
/// step (a `deps.json` first where there is one: version detection reads it).
fn lost_write_victims(scenario: &Scenario, per_step: usize) -> Vec<(String, String)> {
    let writes = committed_writes(scenario);
    let mut victims = Vec::new();
    let steps: Vec<String> = writes.iter().map(|(s, _)| s.clone()).collect();
    for step in steps.iter().collect::<std::collections::BTreeSet<_>>() {
        // Written once, still there, and no settings file (a later step may merge into it).
        let mut mine: Vec<&(String, String)> = writes
            .iter()
            .filter(|(s, path)| {
                s == step
                    && writes.iter().filter(|(_, p)| p == path).count() == 1
                    && !path.contains("appsettings")
                    && scenario.root().join(path).is_file()
            })
            .collect();
        mine.sort_by_key(|(_, p)| !p.ends_with(".deps.json"));
        victims.extend(mine.into_iter().take(per_step).cloned());
    }
    assert!(!victims.is_empty(), "committed steps wrote files");
    victims
}

/// Truncates each file to zero bytes (what a lost write leaves on ext4 and friends).
fn zero(scenario: &Scenario, victims: &[(String, String)]) {
    for (_, path) in victims {
        let file = fs::OpenOptions::new()
            .write(true)
            .open(scenario.root().join(path))
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        file.set_len(0).unwrap();
    }
}

/// The paths a journal's `repair_planned` entries name.
fn repaired_paths(scenario: &Scenario) -> Vec<String> {
    scenario
        .journal()
        .iter()
        .filter(|e| e["payload"]["kind"] == "repair_planned")
        .flat_map(|e| {
            e["payload"]["files"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|f| f["path"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// A 4.0 sandbox upgraded to 4.2 whose run ended without `run_finished` (a crash right
/// before it), then lost the content of some files both steps wrote.
fn unclean_4_2_with_lost_writes() -> (Scenario, Vec<(String, String)>) {
    let scenario = Scenario::new();
    crash(
        &scenario,
        &["upgrade", "--to", "4.2"],
        "crash-before-entry=run_finished",
    );
    let victims = lost_write_victims(&scenario, 3);
    zero(&scenario, &victims);
    assert_ne!(scenario.digests().1, expected_tree_digest("4.2"));
    (scenario, victims)
}

#[test]
fn lost_writes_of_committed_steps_are_repaired_from_the_packages_by_resume() {
    let (scenario, victims) = unclean_4_2_with_lost_writes();
    let run = scenario.run_playing_dba(&["resume"]).expect(0);
    assert!(
        run.stderr.contains("rewrote") && run.stderr.contains("lost or damaged"),
        "{}",
        run.stderr
    );
    assert_eq!(scenario.digests().1, expected_tree_digest("4.2"));
    let mut repaired = repaired_paths(&scenario);
    repaired.sort();
    let mut expected: Vec<String> = victims.iter().map(|(_, p)| p.clone()).collect();
    expected.sort();
    assert_eq!(repaired, expected, "each repair is journaled");
    let journal = scenario.journal();
    let planned = journal
        .iter()
        .find(|e| e["payload"]["kind"] == "repair_planned")
        .unwrap();
    let first = &planned["payload"]["files"][0];
    assert_eq!(
        first["found"]["size"], 0,
        "what was found is recorded: {first}"
    );
    assert_eq!(count_of(&scenario.kinds(), "repair_done"), 1);
    assert_finished_and_verified(&scenario);
}

#[test]
fn an_upgrade_after_an_unclean_end_repairs_the_last_run_then_goes_on() {
    let (scenario, _) = unclean_4_2_with_lost_writes();
    scenario
        .run_playing_dba(&["upgrade", "--to", "4.3"])
        .expect(0);
    assert_eq!(scenario.digests().1, expected_tree_digest("4.3"));
    assert_eq!(count_of(&scenario.kinds(), "repair_done"), 1);
    assert_finished_and_verified(&scenario);
}

#[test]
fn a_lost_file_whose_package_is_gone_is_refused_by_name_and_nothing_changes() {
    let (scenario, victims) = unclean_4_2_with_lost_writes();
    let (step, path) = victims
        .iter()
        .find(|(step, _)| step == "4.1 -> 4.2")
        .expect("a file of the second step")
        .clone();
    let package = scenario
        .path()
        .join("packages/BluePrismHubAndInteractUpdate4.2.bin");
    let aside = scenario.path().join("aside.bin");
    fs::rename(&package, &aside).unwrap();
    let before = scenario.digests();
    let entries_before = scenario.journal().len();

    for args in [&["resume"][..], &["upgrade", "--to", "4.3"][..]] {
        let run = scenario.run(args).expect(2);
        assert!(
            run.stderr.contains(&path),
            "{args:?} names {path}: {}",
            run.stderr
        );
        assert!(
            run.stderr.contains("BluePrismHubAndInteractUpdate4.2.bin")
                && run.stderr.contains(&step)
                && run.stderr.contains("nothing was changed"),
            "{}",
            run.stderr
        );
    }
    assert_eq!(scenario.digests(), before, "nothing was written");
    assert_eq!(
        scenario.journal().len(),
        entries_before,
        "nothing was journaled"
    );
    assert!(
        fs::metadata(scenario.root().join(&path)).unwrap().len() == 0,
        "still the lost content"
    );

    fs::rename(&aside, &package).unwrap();
    scenario.run_playing_dba(&["resume"]).expect(0);
    assert_eq!(scenario.digests().1, expected_tree_digest("4.2"));
}

#[test]
fn a_crash_during_a_repair_is_repaired_again() {
    let (scenario, _) = unclean_4_2_with_lost_writes();
    crash(&scenario, &["resume"], "crash-after-entry=repair_planned");
    scenario.run_playing_dba(&["resume"]).expect(0);
    assert_eq!(scenario.digests().1, expected_tree_digest("4.2"));
    assert_eq!(count_of(&scenario.kinds(), "repair_planned"), 2);
    assert_eq!(count_of(&scenario.kinds(), "repair_done"), 1);
    assert_finished_and_verified(&scenario);
}

/// A sandbox whose upgrade to 4.2 crashed in the middle of the second step's file writes,
/// after some of them were journaled as done; then one file each of the committed first
/// step and of the second step's done writes lost its content.
fn crashed_in_4_1_with_lost_writes() -> (Scenario, Vec<String>) {
    let scenario = Scenario::new();
    let first_ops = scenario
        .run(&["plan", "--to", "4.1", "--json"])
        .expect(0)
        .json()["steps"][0]["ops"]
        .as_array()
        .unwrap()
        .len();
    let writes = plan_writes(&scenario, "4.2", "4.1 -> 4.2");
    // Right after the effect of the first op past the file writes: its intent's commit
    // carried the writes' done records, so they are done, and that op is in flight.
    let ops = scenario
        .run(&["plan", "--to", "4.2", "--json"])
        .expect(0)
        .json()["steps"][1]["ops"]
        .as_array()
        .unwrap()
        .clone();
    let last_write = writes.last().unwrap().0;
    let after_writes = (last_write + 1..ops.len())
        .find(|i| !["write_file", "delete_file"].contains(&ops[*i]["kind"].as_str().unwrap()))
        .expect("ops after the file writes");
    crash(
        &scenario,
        &["upgrade", "--to", "4.2"],
        &format!("crash-after={}", first_ops + after_writes + 1),
    );
    let journal = scenario.journal();
    let done_in_second: Vec<u64> = journal
        .iter()
        .filter(|e| e["payload"]["kind"] == "op_done" && e["payload"]["step"]["from"] == "4.1")
        .map(|e| e["payload"]["index"].as_u64().unwrap())
        .collect();
    let done_write = writes
        .iter()
        .find(|(index, _)| done_in_second.contains(&(*index as u64)))
        .map(|(_, path)| path.clone())
        .expect("a write of the second step was journaled as done");
    // A file of the committed step that the interrupted one does not write.
    let first_step = committed_writes(&scenario)
        .into_iter()
        .find(|(_, path)| {
            !writes.iter().any(|(_, w)| w == path)
                && !path.contains("appsettings")
                && scenario.root().join(path).is_file()
        })
        .expect("a file only the first step wrote");
    let victims = vec![first_step, ("4.1 -> 4.2".into(), done_write)];
    zero(&scenario, &victims);
    (scenario, victims.into_iter().map(|(_, p)| p).collect())
}

#[test]
fn a_resume_inside_a_step_repairs_its_done_writes_and_those_of_committed_steps() {
    let (scenario, victims) = crashed_in_4_1_with_lost_writes();
    scenario.run_playing_dba(&["resume"]).expect(0);
    assert_eq!(scenario.digests().1, expected_tree_digest("4.2"));
    let repaired = repaired_paths(&scenario);
    for victim in &victims {
        assert!(repaired.contains(victim), "{victim} in {repaired:?}");
    }
    assert_finished_and_verified(&scenario);
}

#[test]
fn a_rollback_after_an_unclean_end_repairs_the_committed_steps_it_keeps() {
    let (scenario, victims) = crashed_in_4_1_with_lost_writes();
    scenario.run(&["rollback"]).expect(0);
    let (version, tree, _) = scenario.digests();
    assert_eq!(
        (version.as_str(), tree),
        ("4.1", expected_tree_digest("4.1"))
    );
    assert!(repaired_paths(&scenario).contains(&victims[0]));
    assert_finished_and_verified(&scenario);
}

#[test]
fn flushing_file_by_file_reaches_the_same_tree_and_an_unknown_mode_is_refused() {
    let scenario = Scenario::new();
    let pristine = scenario.digests();
    let run = scenario
        .run_with_env(&["upgrade", "--to", "4.2"], &[("HUBUP_FLUSH", "fast")])
        .expect(2);
    assert!(run.stderr.contains("HUBUP_FLUSH"), "{}", run.stderr);
    assert_eq!(scenario.digests(), pristine, "nothing was changed");
    scenario
        .run_with_env(&["upgrade", "--to", "4.1"], &[("HUBUP_FLUSH", "per-file")])
        .expect(0);
    assert_eq!(scenario.digests().1, expected_tree_digest("4.1"));
    scenario
        .run_with_env_playing_dba(&["upgrade", "--to", "4.2"], &[("HUBUP_FLUSH", "syncfs")])
        .expect(0);
    assert_eq!(scenario.digests().1, expected_tree_digest("4.2"));
}

// ---- 4. An emptied or full journal ----

fn journal_file(scenario: &Scenario) -> PathBuf {
    scenario.path().join("journal").join("hubup.redb")
}

#[test]
fn an_emptied_journal_is_refused_by_every_command_and_left_as_it_is() {
    let scenario = Scenario::new();
    scenario.run(&["upgrade", "--to", "4.1"]).expect(0);
    let at_4_1 = scenario.digests();
    for content in [Vec::new(), vec![0u8; 8192]] {
        fs::write(journal_file(&scenario), &content).unwrap();
        for args in [
            &["resume"][..],
            &["rollback"][..],
            &["rollback", "--to", "4.0"][..],
            &["upgrade", "--to", "4.2"][..],
            &["journal", "verify"][..],
        ] {
            let run = scenario.run(args).expect(5);
            assert!(
                run.stderr.contains("is empty") && run.stderr.contains("move the file aside"),
                "{args:?}: {}",
                run.stderr
            );
        }
        // Exit 1: whether a run is pending is unknown (never 0, "nothing pending").
        let status = scenario.run(&["status"]).expect(1);
        let run_line = status.stdout.lines().last().unwrap_or_default().to_string();
        assert!(
            run_line.contains("cannot tell") && run_line.contains("is empty"),
            "{}",
            status.stdout
        );
        assert!(
            !status.stdout.contains("UNFINISHED RUN null"),
            "{}",
            status.stdout
        );
        let json = scenario.run(&["status", "--json"]).expect(1).json();
        assert!(
            json["unfinished_run"]["error"]
                .as_str()
                .is_some_and(|e| e.contains("is empty")),
            "{json}"
        );
        assert_eq!(
            fs::read(journal_file(&scenario)).unwrap(),
            content,
            "untouched"
        );
        assert_eq!(scenario.digests(), at_4_1, "nothing was changed");
    }
}

#[test]
fn a_journal_that_cannot_take_the_first_entry_claims_no_unfinished_run() {
    let scenario = Scenario::new();
    let pristine = scenario.digests();
    let run = scenario
        .run_with_env(&["upgrade", "--to", "4.1"], &[(FAULTS, "fail-append=1")])
        .expect(1);
    assert!(
        run.stderr.contains("could not start") && run.stderr.contains("Nothing was changed"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("hubup resume") && !run.stderr.contains("is unfinished"),
        "no run exists to resume: {}",
        run.stderr
    );
    assert_eq!(scenario.digests(), pristine);
    assert!(scenario.journal().is_empty());
    assert!(scenario.status()["unfinished_run"].is_null());
    scenario.run(&["upgrade", "--to", "4.1"]).expect(0);
}

#[test]
fn status_says_why_it_cannot_tell_when_the_journal_cannot_be_opened() {
    let scenario = Scenario::new();
    fs::create_dir_all(journal_file(&scenario).parent().unwrap()).unwrap();
    fs::write(journal_file(&scenario), b"this is no database at all").unwrap();
    // Exit 1: whether a run is pending is unknown (never 0, "nothing pending").
    let status = scenario.run(&["status"]).expect(1);
    let run_line = status.stdout.lines().last().unwrap_or_default();
    assert!(
        run_line.starts_with("cannot tell whether a run is unfinished")
            && run_line.contains("not a hubup journal"),
        "{}",
        status.stdout
    );
    assert!(
        !status.stdout.contains("UNFINISHED RUN"),
        "{}",
        status.stdout
    );
    let json: Value = scenario.run(&["status", "--json"]).expect(1).json();
    assert!(json["unfinished_run"]["error"].is_string(), "{json}");
}
