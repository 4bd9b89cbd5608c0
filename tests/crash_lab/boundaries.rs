//! Crashes at journal boundaries, with the executor's own fault injection: the process aborts
//! right after journal append N (`crash-after-append=N`: the batch is durable, nothing after
//! it happened) or right before it (`crash-before-append=N`: the effects that precede the
//! batch happened, the batch is not in the journal). What an abort leaves of hubup's files is
//! what a SIGKILL or a power cut with an honest disk leaves; `power_loss` covers a disk that
//! forgets.
//!
//! Every trial: a full 4.0 -> 4.5 upgrade crashed at its boundary; then on the crashed sandbox
//! `resume`, itself crashed at a random boundary of its own and run again, must reach exactly
//! the digests of an uninterrupted run; on a copy, `rollback`, crashed and run again the same
//! way, must reach exactly the digests the interrupted step started from. Both journals must
//! verify and hold no unfinished run.

use std::time::Instant;

use crate::lab::sandbox::{
    BACKUPS, Digests, UPGRADE, World, copy_of, crashed, kinds, open_step, run_faulty,
};
use crate::lab::{Rng, Tally, in_parallel, say, scale, trial_seed};
use crate::support::Scenario;

/// Which side of a journal append the crash is on.
#[derive(Clone, Copy, Debug)]
pub enum Side {
    Before,
    After,
}

/// One crash point: a side of the N-th journal append of the process.
#[derive(Clone, Copy, Debug)]
pub struct Boundary {
    pub append: u64,
    pub side: Side,
}

impl Boundary {
    pub fn fault(&self) -> String {
        match self.side {
            Side::Before => format!("crash-before-append={}", self.append),
            Side::After => format!("crash-after-append={}", self.append),
        }
    }

    fn random(rng: &mut Rng, appends: u64) -> Boundary {
        Boundary {
            append: 1 + rng.below(appends),
            side: if rng.coin() {
                Side::After
            } else {
                Side::Before
            },
        }
    }
}

/// The op kinds hubup has (`op.rs`), as the plan names them.
const OP_KINDS: [&str; 8] = [
    "backup",
    "command",
    "delete_file",
    "edit_apphost",
    "edit_settings",
    "rename_folder",
    "sql",
    "write_file",
];

/// Every boundary, both sides, of the step whose plan holds the most op kinds.
pub fn every_boundary_of_the_widest_step() -> Result<(), String> {
    let started = Instant::now();
    let world = World::get();
    let (step, step_kinds) = world.widest_step();
    let missing: Vec<&str> = OP_KINDS
        .iter()
        .copied()
        .filter(|k| !step_kinds.iter().any(|s| s == k))
        .collect();
    say(&format!(
        "crash lab [every boundary]: step {step} holds {} op kinds ({}){}",
        step_kinds.len(),
        step_kinds.join(", "),
        if missing.is_empty() {
            ", every kind".to_string()
        } else {
            format!("; missing: {}", missing.join(", "))
        }
    ));
    if !missing.is_empty() {
        return Err(format!(
            "no step of the fixture's run holds every op kind (widest: {step}, missing {missing:?})"
        ));
    }
    let (first, last) = world.widest_appends;
    let mut points = Vec::new();
    for append in first..=last {
        for side in [Side::Before, Side::After] {
            points.push(Boundary { append, side });
        }
    }
    let tally = Tally::new("every boundary");
    let trials = points.len() as u64;
    let indexed: Vec<(u64, Boundary)> = (0..trials).zip(points).collect();
    in_parallel(indexed, |(index, boundary)| {
        let seed = trial_seed(1, index);
        if let Err(e) = trial(world, boundary, seed, &tally) {
            tally.fail(format!("{} (seed {seed:#x}): {e}", boundary.fault()));
        }
    });
    say(&format!(
        "crash lab [every boundary]: appends {first}..={last} of {} in a full run, both sides",
        world.total_appends
    ));
    tally.finish(trials, started.elapsed())
}

/// 200 seeded boundaries (times `HUBUP_CRASH_LAB_TRIALS`) across the rest of a full run.
pub fn seeded_boundaries_across_the_run() -> Result<(), String> {
    let started = Instant::now();
    let world = World::get();
    let (first, last) = world.widest_appends;
    let trials = 200 * scale();
    let tally = Tally::new("seeded boundaries");
    in_parallel((0..trials).collect(), |index| {
        let seed = trial_seed(2, index);
        let mut rng = Rng::new(seed);
        // Outside the swept step (every one of its boundaries is the other test's).
        let boundary = loop {
            let b = Boundary::random(&mut rng, world.total_appends);
            if !(first..=last).contains(&b.append) {
                break b;
            }
        };
        if let Err(e) = trial(world, boundary, seed, &tally) {
            tally.fail(format!("{} (seed {seed:#x}): {e}", boundary.fault()));
        }
    });
    tally.finish(trials, started.elapsed())
}

/// One crash, then both ways out, each crashed once more and finished.
fn trial(world: &World, boundary: Boundary, seed: u64, tally: &Tally) -> Result<(), String> {
    let mut rng = Rng::new(seed);
    let crashed_run = copy_of(&world.template);
    let run = run_faulty(&crashed_run, &UPGRADE, &boundary.fault());
    if !crashed(&run) {
        return Err(format!(
            "the upgrade did not crash at its boundary: exit {}\n{}",
            run.code, run.stderr
        ));
    }
    let journal = crashed_run.journal();
    if journal.is_empty() {
        // Before the first append: nothing may have changed.
        tally.count("crashed before the run began");
        return expect_digests(
            &crashed_run,
            &world.pristine,
            "after a crash before any entry",
        );
    }
    let copy = copy_of(&crashed_run);
    resume_side(world, &crashed_run, &journal, boundary, &mut rng, tally)
        .map_err(|e| format!("resume: {e}"))?;
    rollback_side(world, &copy, &journal, &mut rng, tally).map_err(|e| format!("rollback: {e}"))
}

/// `resume` (crashed at a random boundary of its own, then run again) reaches the digests of an
/// uninterrupted run.
fn resume_side(
    world: &World,
    scenario: &Scenario,
    journal: &[serde_json::Value],
    first: Boundary,
    rng: &mut Rng,
    tally: &Tally,
) -> Result<(), String> {
    if kinds(journal).last().map(String::as_str) == Some("run_finished") {
        tally.count("finished before the crash");
    } else {
        // A resume makes about as many appends as the run had left, plus its own.
        let budget = world.total_appends.saturating_sub(first.append) + 4;
        let second = Boundary::random(rng, budget.max(2));
        finish_after_second_crash(scenario, "resume", &second, tally)?;
    }
    expect_digests(scenario, &world.finished, "after resume")?;
    expect_clean_journal(scenario)?;
    expect_each_database_backed_up_once(scenario)
}

/// `rollback` (crashed at a random boundary of its own, then run again) reaches the digests the
/// interrupted step started from; with no step open there is nothing to undo, and the install
/// must stay as it is.
fn rollback_side(
    world: &World,
    scenario: &Scenario,
    journal: &[serde_json::Value],
    rng: &mut Rng,
    tally: &Tally,
) -> Result<(), String> {
    let Some(step) = open_step(journal) else {
        let before = scenario.digests();
        let run = scenario.run(&["rollback"]);
        tally.count(&format!("rollback with no step open: exit {}", run.code));
        if ![0, 2].contains(&run.code) {
            return Err(format!(
                "with no step open: exit {}\n{}{}",
                run.code, run.stdout, run.stderr
            ));
        }
        return expect_digests(scenario, &before, "rollback with no step open");
    };
    let ops = journal
        .iter()
        .filter(|e| e["payload"]["kind"] == "op_intent")
        .filter(|e| super::sandbox::step_text(&e["payload"]["step"]).as_deref() == Some(&step))
        .count() as u64;
    let second = Boundary::random(rng, ops + 4);
    finish_after_second_crash(scenario, "rollback", &second, tally)?;
    let (tree, apphost) = &world.step_starts[&step];
    let (_, got_tree, got_apphost) = scenario.digests();
    if (&got_tree, &got_apphost) != (tree, apphost) {
        return Err(format!(
            "step {step} rolled back to tree {got_tree} / apphost {got_apphost}, \
             not the digests it started from ({tree} / {apphost})"
        ));
    }
    expect_clean_journal(scenario)
}

/// Runs `command` crashed at `second`; if it crashed, runs it again, which must succeed.
fn finish_after_second_crash(
    scenario: &Scenario,
    command: &str,
    second: &Boundary,
    tally: &Tally,
) -> Result<(), String> {
    let run = run_faulty(scenario, &[command], &second.fault());
    if crashed(&run) {
        if scenario.status()["unfinished_run"].is_null() {
            // Crashed after its last append: nothing is left to do (the next command would
            // say so with exit 2).
            tally.count(&format!("{command} crashed after its last append"));
            return Ok(());
        }
        tally.count(&format!("{command} crashed a second time"));
        let again = scenario.run(&[command]);
        if again.code != 0 {
            return Err(format!(
                "after a second crash at {}: exit {}\n{}{}",
                second.fault(),
                again.code,
                again.stdout,
                again.stderr
            ));
        }
    } else if run.code != 0 {
        return Err(format!(
            "exit {} (second crash {} not reached)\n{}{}",
            run.code,
            second.fault(),
            run.stdout,
            run.stderr
        ));
    } else {
        tally.count(&format!("{command} finished before its second crash point"));
    }
    Ok(())
}

fn expect_digests(scenario: &Scenario, want: &Digests, when: &str) -> Result<(), String> {
    let got = scenario.digests();
    if &got == want {
        Ok(())
    } else {
        Err(format!("{when}: digests {got:?}, expected {want:?}"))
    }
}

/// The journal verifies and holds no unfinished run.
pub fn expect_clean_journal(scenario: &Scenario) -> Result<(), String> {
    let verify = scenario.run(&["journal", "verify"]);
    if verify.code != 0 {
        return Err(format!(
            "journal verify: exit {}\n{}{}",
            verify.code, verify.stdout, verify.stderr
        ));
    }
    let status = scenario.status();
    if !status["unfinished_run"].is_null() {
        return Err(format!("an unfinished run is left: {status}"));
    }
    Ok(())
}

/// The databases a 4.0 install has; a finished run backs each up exactly once.
const VENDOR_DATABASES: [&str; 5] = ["ImsDB", "HubDB", "AuditDB", "FileServiceDB", "InteractDB"];

fn expect_each_database_backed_up_once(scenario: &Scenario) -> Result<(), String> {
    let script = std::fs::read_to_string(scenario.path().join("output/hubup-database.sql"))
        .unwrap_or_default();
    let backups: Vec<&str> = script
        .lines()
        .filter(|l| l.starts_with("BACKUP DATABASE"))
        .collect();
    for database in VENDOR_DATABASES {
        let prefix = format!("BACKUP DATABASE [{database}] TO DISK = N'{BACKUPS}\\{database}_4.0_");
        let n = backups.iter().filter(|b| b.starts_with(&prefix)).count();
        if n != 1 {
            return Err(format!(
                "database {database} backed up {n} times in the DBA script: {backups:?}"
            ));
        }
    }
    Ok(())
}
