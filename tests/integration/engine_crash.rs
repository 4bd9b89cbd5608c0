//! Crash safety of the whole engine: `hubup upgrade` is SIGKILLed at seeded random moments
//! across a 4.0 -> 4.5 run. After each kill, `resume` must exit 0 and reach exactly the digests
//! of an uninterrupted run, and, on a copy of the interrupted sandbox, `rollback` must exit 0
//! and reach exactly the digests the interrupted step started from. Where there is nothing to
//! resume (killed before the first entry or after the last), both must say so with exit 2.
#![cfg(unix)]

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::Scenario;
use crate::support::rng::Rng;
use serde_json::Value;

/// Where the kills landed (printed at the end, for a reader of `--nocapture`).
#[derive(Debug, Default)]
struct Kills {
    /// hubup had finished (exit 0) before the kill.
    exited: u32,
    before_the_journal: u32,
    /// Before the first step was planned, or between two steps.
    between_steps: u32,
    after_the_end: u32,
}

/// A step as the export writes it (`{"from": "4.2", "to": "4.3"}`), as text: `4.2 -> 4.3`.
fn step_text(step: &Value) -> Option<String> {
    Some(format!(
        "{} -> {}",
        step["from"].as_str()?,
        step["to"].as_str()?
    ))
}

/// For each step of the journal's last run: the digests recorded before it started.
fn step_starts(journal: &[Value]) -> BTreeMap<String, (String, String)> {
    let mut out = BTreeMap::new();
    for entry in journal {
        let payload = &entry["payload"];
        if payload["kind"] == "step_planned" {
            out.insert(
                step_text(&payload["step"]).unwrap_or_default(),
                (
                    payload["tree_before"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    payload["apphost_before"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                ),
            );
        }
    }
    out
}

/// The step the journal says was interrupted: planned, neither committed nor rolled back.
fn interrupted_step(journal: &[Value]) -> Option<String> {
    let mut open: Option<String> = None;
    for entry in journal {
        let payload = &entry["payload"];
        let step = step_text(&payload["step"]);
        match payload["kind"].as_str() {
            Some("step_planned") => open = step,
            Some("step_committed") | Some("step_rolled_back") => open = None,
            _ => {}
        }
    }
    open
}

/// Where the runs back up the databases (script mode: the BACKUP statements go into the
/// DBA's script), so the backup op joins the kills.
const BACKUPS: &str = r"D:\SQLBackups";

/// The databases a 4.0 install has, each backed up once by a finished run.
const VENDOR_DATABASES: [&str; 5] = ["ImsDB", "HubDB", "AuditDB", "FileServiceDB", "InteractDB"];

/// The BACKUP statements in the scenario's DBA scripts (the current one and those of earlier
/// steps, moved into `previous/`), one per database backed up.
fn backups_in_script(scenario: &Scenario) -> Vec<String> {
    let output = scenario.path().join("output");
    let mut scripts = vec![output.join("hubup-database.sql")];
    if let Ok(previous) = std::fs::read_dir(output.join("previous")) {
        scripts.extend(previous.map(|e| e.unwrap().path()));
    }
    scripts
        .iter()
        .filter(|p| !p.to_string_lossy().contains("rollback"))
        .flat_map(|p| {
            std::fs::read_to_string(p)
                .unwrap_or_default()
                .lines()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter(|l| l.starts_with("BACKUP DATABASE"))
        .collect()
}

#[track_caller]
fn assert_each_database_backed_up_once(scenario: &Scenario) {
    let backups = backups_in_script(scenario);
    assert_eq!(backups.len(), VENDOR_DATABASES.len(), "{backups:?}");
    for database in VENDOR_DATABASES {
        let prefix = format!("BACKUP DATABASE [{database}] TO DISK = N'{BACKUPS}\\{database}_4.0_");
        assert!(
            backups.iter().any(|b| b.starts_with(&prefix)),
            "{backups:?}"
        );
    }
}

/// Whether the journal's last run has finished (its last entry is `run_finished`).
fn run_finished(journal: &[Value]) -> bool {
    journal
        .last()
        .is_some_and(|entry| entry["payload"]["kind"] == "run_finished")
}

/// A copy of the whole sandbox (install, IIS config, journal) in a new temp dir.
fn copy_of(scenario: &Scenario) -> Scenario {
    let copy = tempfile::tempdir().unwrap();
    copy_dir(scenario.path(), copy.path());
    Scenario { dir: copy }
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", from.display()))
        .arg(to)
        .status()
        .expect("cp");
    assert!(status.success());
}

#[test]
fn sigkill_at_random_moments_then_resume_or_rollback_converges() {
    let reference = Scenario::new();
    let started = Instant::now();
    reference
        .run_playing_dba(&["upgrade", "--to", "4.5", "--backup-databases", BACKUPS])
        .expect(0);
    let duration = started.elapsed();
    assert_each_database_backed_up_once(&reference);
    let final_digests = reference.digests();
    let starts = step_starts(&reference.journal());
    assert_eq!(starts.len(), 5, "the reference run planned five steps");

    let mut rng = Rng::new(0x5eed_1234_abcd_0001);
    let mut seen = Kills::default();
    let mut interrupted = 0;
    let mut attempts = 0;
    while interrupted < 32 {
        attempts += 1;
        assert!(attempts < 200, "the kills keep missing the run");
        let scenario = Scenario::new();
        let delay = Duration::from_micros(rng.below(duration.as_micros() as u64));
        let finished = scenario.run_killed_after(
            &["upgrade", "--to", "4.5", "--backup-databases", BACKUPS],
            &[],
            delay,
        );
        if finished {
            seen.exited += 1;
            continue;
        }
        let journal = scenario.journal();
        if journal.is_empty() {
            // Killed before anything was journaled: nothing may have changed, and there is
            // nothing to resume or roll back (exit 2: nothing changed).
            let (_, tree, apphost) = scenario.digests();
            let first = starts.values().next().expect("five steps");
            assert_eq!((&tree, &apphost), (&first.0, &first.1), "delay {delay:?}");
            scenario.run(&["resume"]).expect(2);
            scenario.run(&["rollback"]).expect(2);
            seen.before_the_journal += 1;
            continue;
        }
        let Some(step) = interrupted_step(&journal) else {
            if run_finished(&journal) {
                // Killed after the run's last entry: it is complete, nothing to resume.
                assert_eq!(scenario.digests(), final_digests, "delay {delay:?}");
                scenario.run(&["resume"]).expect(2);
                seen.after_the_end += 1;
                continue;
            }
            // Killed before the first step was planned, or between steps: rollback (on a
            // copy) has no interrupted step to undo and leaves the install as it is; resume
            // must finish the run.
            let copy = copy_of(&scenario);
            let before = copy.digests();
            copy.run(&["rollback"]).expect(0);
            assert_eq!(
                copy.digests(),
                before,
                "rollback between steps, delay {delay:?}"
            );
            copy.run(&["journal", "verify"]).expect(0);
            scenario.run_playing_dba(&["resume"]).expect(0);
            assert_eq!(scenario.digests(), final_digests, "delay {delay:?}");
            // Before the first step, the backups come from the run's journaled request.
            assert_each_database_backed_up_once(&scenario);
            scenario.run(&["journal", "verify"]).expect(0);
            seen.between_steps += 1;
            continue;
        };
        interrupted += 1;

        let copy = copy_of(&scenario);

        scenario.run_playing_dba(&["resume"]).expect(0);
        assert_eq!(
            scenario.digests(),
            final_digests,
            "resume after a kill at {delay:?} during step {step}"
        );
        assert_each_database_backed_up_once(&scenario);
        scenario.run(&["journal", "verify"]).expect(0);

        copy.run(&["rollback"]).expect(0);
        let (_, tree, apphost) = copy.digests();
        let (want_tree, want_apphost) = &starts[&step];
        assert_eq!(
            (&tree, &apphost),
            (want_tree, want_apphost),
            "rollback after a kill at {delay:?} during step {step}"
        );
        copy.run(&["journal", "verify"]).expect(0);
    }
    eprintln!("{attempts} kills: {interrupted} during a step, {seen:?}");
}
