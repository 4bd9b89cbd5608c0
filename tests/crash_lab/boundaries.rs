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

use serde_json::Value;

use crate::lab::sandbox::{
    BACKUPS, Digests, OP_KINDS, World, copy_of, crashed, crashed_full_run, run_faulty_playing_dba,
};
use crate::lab::{Rng, Tally, in_parallel, say, scaled, trial_seed};
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

    /// The same boundary counted from `offset` appends on (in a later process of a chain).
    pub fn shifted(&self, offset: u64) -> Boundary {
        Boundary {
            append: self.append - offset,
            side: self.side,
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

/// Every boundary, both sides, of the steps whose plans together hold every op kind
/// ([`World::swept`]: one step when one holds them all).
pub fn every_boundary_of_the_steps_holding_every_op_kind() -> Result<(), String> {
    let started = Instant::now();
    let world = World::get();
    let mut covered: Vec<&str> = Vec::new();
    for swept in &world.swept {
        let kinds = &world.step_kinds[&swept.step];
        say(&format!(
            "crash lab [every boundary]: step {} holds {} op kinds ({})",
            swept.step,
            kinds.len(),
            kinds.join(", ")
        ));
        covered.extend(kinds.iter().map(String::as_str));
    }
    let missing: Vec<&str> = OP_KINDS
        .iter()
        .copied()
        .filter(|k| !covered.contains(k))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "no step of the fixture's run holds the op kinds {missing:?}, so no crash test \
             covers their boundaries"
        ));
    }
    let mut points = Vec::new();
    for swept in &world.swept {
        let (first, last) = swept.appends;
        for append in first..=last {
            for side in [Side::Before, Side::After] {
                points.push(Boundary { append, side });
            }
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
    let ranges: Vec<String> = world
        .swept
        .iter()
        .map(|s| format!("{} ({}..={})", s.step, s.appends.0, s.appends.1))
        .collect();
    say(&format!(
        "crash lab [every boundary]: every kind ({}); appends of {} of {} in a full run, both sides",
        OP_KINDS.len(),
        ranges.join(", "),
        world.total_appends
    ));
    tally.finish(trials, started.elapsed())
}

/// 200 seeded boundaries (times `HUBUP_CRASH_LAB_TRIALS`) across the rest of a full run.
pub fn seeded_boundaries_across_the_run() -> Result<(), String> {
    let started = Instant::now();
    let world = World::get();
    let trials = scaled(200);
    let tally = Tally::new("seeded boundaries");
    in_parallel((0..trials).collect(), |index| {
        let seed = trial_seed(2, index);
        let mut rng = Rng::new(seed);
        // Outside the swept steps (every one of their boundaries is the other test's).
        let boundary = loop {
            let b = Boundary::random(&mut rng, world.total_appends);
            if !world.is_swept(b.append) {
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
    let (crashed_run, run) = crashed_full_run(world, boundary);
    if !crashed(&run) {
        return Err(format!(
            "the upgrade did not crash at its boundary: exit {}\n{}",
            run.code, run.stderr
        ));
    }
    let status = crashed_run.status();
    let unfinished = &status["unfinished_run"];
    if unfinished.is_null() {
        // Before the first append nothing may have changed; after the last, all is done.
        let finished = digests_of(&status) == world.finished;
        if !finished {
            expect_digests(
                &status,
                &world.pristine,
                "after a crash with no run in the journal",
            )?;
        }
        tally.count(if finished {
            "crashed after the run's last append"
        } else {
            "crashed before the run began"
        });
        return Ok(());
    }
    let open = open_step(unfinished);
    let copy = copy_of(&crashed_run);
    resume_side(world, &crashed_run, boundary, &mut rng, tally)
        .map_err(|e| format!("resume: {e}"))?;
    rollback_side(world, &copy, open, &mut rng, tally).map_err(|e| format!("rollback: {e}"))
}

/// The step an unfinished run (as `status --json` reports it) left open: planned last and
/// not committed.
fn open_step(unfinished: &Value) -> Option<String> {
    let planned = unfinished["last_planned"].as_str()?;
    (unfinished["last_committed"].as_str() != Some(planned)).then(|| planned.to_string())
}

fn digests_of(status: &Value) -> Digests {
    let text = |key: &str| status[key].as_str().unwrap_or_default().to_string();
    (text("version"), text("tree_digest"), text("apphost_digest"))
}

/// `resume` (crashed at a random boundary of its own, then run again) reaches the digests of an
/// uninterrupted run.
fn resume_side(
    world: &World,
    scenario: &Scenario,
    first: Boundary,
    rng: &mut Rng,
    tally: &Tally,
) -> Result<(), String> {
    // A resume makes about as many appends as the run had left, plus its own.
    let budget = world.total_appends.saturating_sub(first.append) + 4;
    let second = Boundary::random(rng, budget);
    finish_after_second_crash(scenario, "resume", &second, tally)?;
    let status = expect_finished(scenario)?;
    expect_digests(&status, &world.finished, "after resume")?;
    expect_each_database_backed_up_once(scenario)
}

/// `rollback` (crashed at a random boundary of its own, then run again) reaches the digests the
/// interrupted step started from; with no step open there is nothing to undo, and the install
/// must stay as it is.
fn rollback_side(
    world: &World,
    scenario: &Scenario,
    open: Option<String>,
    rng: &mut Rng,
    tally: &Tally,
) -> Result<(), String> {
    let Some(step) = open else {
        let before = scenario.digests();
        let run = scenario.run(&["rollback"]);
        tally.count(&format!("rollback with no step open: exit {}", run.code));
        if ![0, 2].contains(&run.code) {
            return Err(format!(
                "with no step open: exit {}\n{}{}",
                run.code, run.stdout, run.stderr
            ));
        }
        let status = scenario.status();
        return expect_digests(&status, &before, "rollback with no step open");
    };
    // A rollback's appends: its start, the undone ops in batches, its end, the backup removal.
    let second = Boundary::random(rng, 24);
    finish_after_second_crash(scenario, "rollback", &second, tally)?;
    let status = expect_finished(scenario)?;
    let (tree, apphost) = &world.step_starts[&step];
    let (_, got_tree, got_apphost) = digests_of(&status);
    if (&got_tree, &got_apphost) != (tree, apphost) {
        return Err(format!(
            "step {step} rolled back to tree {got_tree} / apphost {got_apphost}, \
             not the digests it started from ({tree} / {apphost})"
        ));
    }
    Ok(())
}

/// Runs `command` crashed at `second`; if it crashed, runs it again, which must finish (or,
/// if the crash came after its last append, say there is nothing left to do).
fn finish_after_second_crash(
    scenario: &Scenario,
    command: &str,
    second: &Boundary,
    tally: &Tally,
) -> Result<(), String> {
    let run = run_faulty_playing_dba(scenario, &[command], &second.fault());
    if crashed(&run) {
        let again = scenario.run_playing_dba(&[command]);
        // Nothing left to do is exit 0 with "nothing to do" (issue 16: re-running is safe).
        if again.code == 0
            && again
                .stdout
                .contains("nothing to do: there is no unfinished run")
        {
            tally.count(&format!("{command} crashed after its last append"));
        } else if again.code == 0 {
            tally.count(&format!("{command} crashed a second time"));
        } else {
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

fn expect_digests(status: &Value, want: &Digests, when: &str) -> Result<(), String> {
    let got = digests_of(status);
    if &got == want {
        Ok(())
    } else {
        Err(format!("{when}: digests {got:?}, expected {want:?}"))
    }
}

/// The journal verifies and holds no unfinished run; gives the status (with the digests).
pub fn expect_finished(scenario: &Scenario) -> Result<Value, String> {
    let verify = scenario.run(&["journal", "verify"]);
    if verify.code != 0 {
        return Err(format!(
            "journal verify: exit {}\n{}{}",
            verify.code, verify.stdout, verify.stderr
        ));
    }
    let status = scenario.status();
    if !status["unfinished_run"].is_null() {
        return Err(format!(
            "an unfinished run is left: {}",
            status["unfinished_run"]
        ));
    }
    Ok(status)
}

/// The databases a 4.0 install has; a finished run backs each up exactly once.
const VENDOR_DATABASES: [&str; 5] = ["ImsDB", "HubDB", "AuditDB", "FileServiceDB", "InteractDB"];

fn expect_each_database_backed_up_once(scenario: &Scenario) -> Result<(), String> {
    // The DBA's scripts: the last step's, and the earlier steps' that hubup moved aside.
    let output = scenario.path().join("output");
    let mut files = vec![output.join("hubup-database.sql")];
    if let Ok(entries) = std::fs::read_dir(output.join("previous")) {
        files.extend(entries.flatten().map(|e| e.path()));
    }
    let script: String = files
        .iter()
        .map(|f| std::fs::read_to_string(f).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
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
