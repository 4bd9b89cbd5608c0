//! Power losses: a full 4.0 -> 4.5 upgrade runs on [`lossy_fs`] (the whole sandbox: install,
//! applicationHost.config, packages, config, the journal's redb file and the run log); at a
//! seeded changing operation the file system loses power (it refuses everything from then
//! on), hubup is killed, the file system is brought back in the state the cut leaves (what
//! was not flushed dropped, torn or reordered, by a seeded [`Loss`]) and mounted again. Then:
//! - whatever hubup had reported before the cut holds: each step it said was committed is
//!   committed in the journal, and an upgrade that said "upgraded" needs nothing more;
//! - `resume` (or, every other trial, `rollback`) reaches exactly the digests of an
//!   uninterrupted run (or of the interrupted step's start), and the journal verifies with no
//!   unfinished run.
//!
//! A journal lost whole (its file's folder never flushed) is allowed only while the install is
//! untouched.

use crate::support::StartRetrying;
use std::io::Read;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::lab::boundaries::expect_finished;
use crate::lab::lossy_fs::{self, Loss, Mounted, State};
use crate::lab::sandbox::{
    DBA_CONFIRMED, Digests, UPGRADE, World, committed_steps, kinds, open_step,
};
use crate::lab::{Rng, Tally, in_parallel, say, scaled, trial_seed};
use crate::support::{AWAITING_DBA, Scenario, hubup};

/// A mount of `state` on a fresh temp folder, which is then the sandbox of a scenario.
struct Trial {
    // Unmounted before the folder is removed (fields drop in order).
    mounted: Option<Mounted>,
    scenario: Scenario,
}

impl Trial {
    fn mount(dir: tempfile::TempDir, state: State, cut_at: Option<u64>) -> Trial {
        let mounted =
            lossy_fs::mount(dir.path(), state, cut_at).expect("mount the lossy file system");
        Trial {
            scenario: Scenario { dir },
            mounted: Some(mounted),
        }
    }

    fn spawn(&self, args: &[&str]) -> Child {
        hubup()
            .args(args)
            .arg("--config")
            .arg(self.scenario.config())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn_retrying()
            .expect("spawn hubup")
    }

    fn mounted(&self) -> &Mounted {
        self.mounted.as_ref().expect("mounted")
    }

    /// Unmounts and gives the state the file system is left in.
    fn unmount(mut self) -> (tempfile::TempDir, State) {
        let state = self.mounted.take().expect("mounted").unmount();
        (self.scenario.dir, state)
    }
}

/// The sandbox image every trial starts from: the lab's 4.0 template, loaded whole (all of
/// it durable), its config pointing at `mount`.
fn image(world: &World, mount: &Path) -> State {
    let mut state = State::from_dir(world.template.path()).expect("load the template");
    let from = world.template.path().display().to_string();
    let to = mount.display().to_string();
    state.edit_file("hubup.toml", |bytes| {
        String::from_utf8(bytes)
            .expect("utf-8 config")
            .replace(&from, &to)
            .into_bytes()
    });
    state
}

/// What an interrupted upgrade printed, and how it ended.
struct Interrupted {
    /// Exit code if it ended by itself before the cut (0: it reported success).
    code: Option<i32>,
    stderr: String,
    frozen: bool,
}

/// Runs the upgrade (playing the DBA at each step that waits for one, as a full run does)
/// until it ends or the file system loses power; then kills it.
fn run_until_cut(trial: &Trial) -> Interrupted {
    let mut args = UPGRADE.to_vec();
    let mut stderr = String::new();
    let deadline = Instant::now() + Duration::from_secs(300);
    for _ in 0..6 {
        let (code, text) = run_one_until_cut(trial, &args, deadline);
        stderr.push_str(&text);
        let frozen = trial.mounted().frozen();
        if frozen || code != Some(AWAITING_DBA) {
            return Interrupted {
                code: if frozen { None } else { code },
                stderr,
                frozen,
            };
        }
        args = DBA_CONFIRMED.to_vec();
    }
    Interrupted {
        code: Some(AWAITING_DBA),
        stderr,
        frozen: false,
    }
}

/// Runs one process of the upgrade until it ends or the file system loses power.
fn run_one_until_cut(trial: &Trial, args: &[&str], deadline: Instant) -> (Option<i32>, String) {
    let mut child = trial.spawn(args);
    let mut stderr = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let code = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status.code();
        }
        if trial.mounted().frozen() || Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    (code, reader.join().unwrap_or_default())
}

/// Steps the interrupted process reported as committed (`step 4.0 -> 4.1: committed`).
fn reported_committed(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("step ")?.strip_suffix(": committed"))
        .map(str::to_string)
        .collect()
}

pub fn power_loss_at_seeded_cuts_of_a_full_run() -> Result<(), String> {
    let started = Instant::now();
    let world = World::get();
    // The reference: a full run on the lossy file system, counting its changing operations.
    let dir = crate::lab::sandbox::scratch();
    let image = image(world, dir.path());
    let reference = Trial::mount(dir, image, None);
    reference.scenario.run_playing_dba(&UPGRADE).expect(0);
    let digests = reference.scenario.digests();
    let changes = reference.mounted().changes();
    drop(reference);
    if digests != world.finished {
        return Err(format!(
            "an uninterrupted run on the lossy file system reached {digests:?}, not {:?}",
            world.finished
        ));
    }
    say(&format!(
        "crash lab [power loss]: a full run makes {changes} changing file operations on the lossy file system"
    ));
    let trials = scaled(50);
    let tally = Tally::new("power loss");
    in_parallel((0..trials).collect(), |index| {
        let seed = trial_seed(3, index);
        let mut rng = Rng::new(seed);
        // A few cuts fall after the end: the run reported success, then power went.
        let cut = 1 + rng.below(changes + changes / 25 + 1);
        let loss = Loss::ALL[rng.below(3) as usize];
        let resume = index % 2 == 0;
        if let Err(e) = power_loss_trial(world, cut, loss, resume, &mut rng, &tally) {
            tally.fail(format!(
                "cut at change {cut} of {changes}, {loss:?}, then {} (seed {seed:#x}): {e}",
                if resume { "resume" } else { "rollback" }
            ));
        }
    });
    tally.finish(trials, started.elapsed())
}

fn power_loss_trial(
    world: &World,
    cut: u64,
    loss: Loss,
    resume: bool,
    rng: &mut Rng,
    tally: &Tally,
) -> Result<(), String> {
    let dir = crate::lab::sandbox::scratch();
    let image = image(world, dir.path());
    let trial = Trial::mount(dir, image, Some(cut));
    let interrupted = run_until_cut(&trial);
    let (dir, state) = trial.unmount();
    let after = state.after_power_cut(loss, rng);
    let trial = Trial::mount(dir, after, None);

    let journal = trial.scenario.journal();
    // Nothing reported done that is not on disk.
    let durable = committed_steps(&journal);
    for step in reported_committed(&interrupted.stderr) {
        if !durable.contains(&step) {
            return Err(format!(
                "hubup reported step {step} committed, but after the power cut the journal \
                 does not hold it (it holds {durable:?})"
            ));
        }
    }
    if interrupted.code == Some(0) {
        tally.count("reported success, then power lost");
        if kinds(&journal).last().map(String::as_str) != Some("run_finished") {
            return Err("hubup reported success, but the journal lost run_finished".into());
        }
        expect(
            &trial.scenario.digests(),
            &world.finished,
            "after a reported success",
        )?;
        return expect_finished(&trial.scenario).map(drop);
    }
    if !interrupted.frozen {
        return Err(format!(
            "the upgrade ended by itself before the cut with exit {:?}:\n{}",
            interrupted.code, interrupted.stderr
        ));
    }
    if journal.is_empty() {
        tally.count("journal not yet durable");
        return expect(
            &trial.scenario.digests(),
            &world.pristine,
            "with no durable journal",
        );
    }
    if kinds(&journal).last().map(String::as_str) == Some("run_finished") {
        tally.count("run finished, report lost");
        expect(
            &trial.scenario.digests(),
            &world.finished,
            "after run_finished",
        )?;
        return expect_finished(&trial.scenario).map(drop);
    }
    let verify = trial.scenario.run(&["journal", "verify"]);
    if verify.code != 0 {
        return Err(format!(
            "the journal left by the cut does not verify: exit {}\n{}{}",
            verify.code, verify.stdout, verify.stderr
        ));
    }
    if resume {
        let run = trial.scenario.run_playing_dba(&["resume"]);
        if run.code != 0 {
            return Err(format!(
                "resume: exit {}\n{}{}",
                run.code, run.stdout, run.stderr
            ));
        }
        tally.count(&format!("resumed ({loss:?})"));
        expect(&trial.scenario.digests(), &world.finished, "after resume").map_err(|e| {
            // Which files differ: status compares the product files with the inventory of
            // the package that installed the version (its drift).
            let status = trial.scenario.run(&["status"]);
            format!("{e}\nhubup status:\n{}{}", status.stdout, status.stderr)
        })?;
    } else {
        let open = open_step(&journal);
        let before = trial.scenario.digests();
        let run = trial.scenario.run(&["rollback"]);
        match &open {
            Some(step) => {
                if run.code != 0 {
                    return Err(format!(
                        "rollback of {step}: exit {}\n{}{}",
                        run.code, run.stdout, run.stderr
                    ));
                }
                tally.count(&format!("rolled back ({loss:?})"));
                let (tree, apphost) = &world.step_starts[step];
                let (_, got_tree, got_apphost) = trial.scenario.digests();
                if (&got_tree, &got_apphost) != (tree, apphost) {
                    return Err(format!(
                        "step {step} rolled back to {got_tree} / {got_apphost}, not to the \
                         digests it started from ({tree} / {apphost})"
                    ));
                }
            }
            None => {
                tally.count(&format!("rollback with no step open: exit {}", run.code));
                if ![0, 2].contains(&run.code) {
                    return Err(format!(
                        "rollback with no step open: exit {}\n{}{}",
                        run.code, run.stdout, run.stderr
                    ));
                }
                if run.code == 2 {
                    expect(
                        &trial.scenario.digests(),
                        &before,
                        "rollback with nothing to undo",
                    )?;
                }
            }
        }
    }
    expect_finished(&trial.scenario).map(drop)
}

fn expect(got: &Digests, want: &Digests, when: &str) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{when}: digests {got:?}, expected {want:?}"))
    }
}

/// The lossy file system loses exactly what it should, through the real kernel mount: a file
/// flushed with its folder survives; one whose folder was not flushed is gone; unflushed
/// content, renames and unlinks are undone; and a cut refuses every later change.
pub fn lossy_fs_forgets_exactly_what_was_not_flushed() -> Result<(), String> {
    use std::fs;
    let seed_dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    fs::write(seed_dir.path().join("old"), b"old").unwrap();
    fs::write(seed_dir.path().join("gone"), b"still here").unwrap();
    fs::write(seed_dir.path().join("patched"), b"1111").unwrap();
    let sync_dir = |d: &Path| fs::File::open(d).and_then(|f| f.sync_all());
    let write_synced = |p: &Path, data: &[u8]| -> std::io::Result<()> {
        use std::io::Write;
        let mut f = fs::File::create(p)?;
        f.write_all(data)?;
        f.sync_all()
    };

    for loss in Loss::ALL {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let state = State::from_dir(seed_dir.path()).map_err(|e| e.to_string())?;
        let mounted = lossy_fs::mount(dir.path(), state, None).map_err(|e| e.to_string())?;
        let m = dir.path();
        let io = |what: &str, r: std::io::Result<()>| r.map_err(|e| format!("{what}: {e}"));
        io("a", write_synced(&m.join("kept"), b"kept"))?;
        io("b", write_synced(&m.join("entry-unflushed"), b"x"))?;
        io("c", fs::write(m.join("data-unflushed"), b"data"))?;
        io("d", fs::rename(m.join("old"), m.join("renamed")))?;
        io("e", fs::remove_file(m.join("gone")))?;
        io("f", fs::create_dir(m.join("sub")))?;
        io("g", write_synced(&m.join("sub/inner"), b"inner"))?;
        io("h", sync_dir(&m.join("sub")))?;
        // The root's entries so far become durable; what follows is not flushed.
        io("i", sync_dir(m))?;
        io("j", fs::write(m.join("patched"), b"2222"))?;
        io("k", fs::rename(m.join("kept"), m.join("kept-renamed")))?;
        io("l", fs::write(m.join("late"), b"late"))?;
        let mut rng = Rng::new(7);
        let after = mounted.unmount().after_power_cut(loss, &mut rng);
        let files = after.files();
        let get = |p: &str| {
            files
                .get(Path::new(p))
                .map(|v| String::from_utf8_lossy(v).into_owned())
        };
        let check = |cond: bool, what: &str| {
            if cond {
                Ok(())
            } else {
                Err(format!(
                    "{loss:?}: {what}; files after the cut: {:?}",
                    files.keys()
                ))
            }
        };
        check(
            get("sub/inner").as_deref() == Some("inner"),
            "a flushed file in a flushed new folder survives",
        )?;
        check(
            get("renamed").is_some() && get("old").is_none(),
            "a flushed rename holds",
        )?;
        check(get("gone").is_none(), "a flushed unlink holds")?;
        check(
            get("entry-unflushed").as_deref() == Some("x"),
            "a file flushed, then its folder, survives",
        )?;
        let data = get("data-unflushed");
        check(
            data.is_some(),
            "an unflushed file's name survives its folder's flush",
        )?;
        match loss {
            Loss::Drop => {
                check(
                    get("kept").as_deref() == Some("kept"),
                    "a flushed file in a flushed folder survives",
                )?;
                check(data.as_deref() == Some(""), "unflushed data is dropped")?;
                check(
                    get("patched").as_deref() == Some("1111"),
                    "an unflushed overwrite is dropped",
                )?;
                check(
                    get("kept-renamed").is_none(),
                    "an unflushed rename is undone",
                )?;
                check(get("late").is_none(), "an unflushed create is undone")?;
            }
            Loss::Torn => {
                check(
                    "data".starts_with(data.as_deref().unwrap_or("?")),
                    "torn data is a prefix of what was written",
                )?;
                check(
                    get("kept").as_deref() == Some("kept"),
                    "a flushed file in a flushed folder survives",
                )?;
                check(
                    get("kept-renamed").is_none(),
                    "an unflushed rename is undone",
                )?;
            }
            Loss::Reorder => {
                // The root keeps all or none of its unflushed changes.
                let all = get("kept-renamed").as_deref() == Some("kept")
                    && get("late").is_some()
                    && get("kept").is_none();
                let none = get("kept").as_deref() == Some("kept")
                    && get("late").is_none()
                    && get("kept-renamed").is_none();
                check(
                    all || none,
                    "a folder keeps all or none of its unflushed changes",
                )?;
            }
        }
    }

    // A cut: the third change and every one after it are refused.
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let state = State::from_dir(seed_dir.path()).map_err(|e| e.to_string())?;
    let mounted = lossy_fs::mount(dir.path(), state, Some(3)).map_err(|e| e.to_string())?;
    let m = dir.path();
    let first = fs::create_dir(m.join("one"));
    let second = fs::create_dir(m.join("two"));
    let third = fs::create_dir(m.join("three"));
    let fourth = fs::remove_file(m.join("old"));
    if first.is_err() || second.is_err() || third.is_ok() || fourth.is_ok() || !mounted.frozen() {
        return Err(format!(
            "a cut at the third change: {first:?} {second:?} {third:?} {fourth:?} frozen {}",
            mounted.frozen()
        ));
    }
    drop(mounted);
    say("crash lab [lossy fs]: the file system's own checks passed (3 loss modes, a cut)");
    Ok(())
}
