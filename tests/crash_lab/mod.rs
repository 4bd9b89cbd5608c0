//! The crash lab: hubup cut short at every journal boundary of the step that holds every op
//! kind, at seeded boundaries across the rest of a full 4.0 -> 4.5 run, and at seeded points
//! of a power loss on a file system that forgets what was not flushed; each time `resume` and
//! `rollback` must reach the exact digests, crashed once more on the way and run again.
//! SQLite's crash tests and FoundationDB's simulation are the models: every point where that
//! is cheap enough, a seeded sample (replayable from the printed seed) elsewhere.
//!
//! Sections (one test each, see [`main`]):
//! - [`boundaries`]: the executor's own crashes (`HUBUP_TEST_FAULTS`
//!   `crash-after-append=N` / `crash-before-append=N`);
//! - [`power_loss`]: hubup on [`lossy_fs`], a FUSE file system cut at a seeded operation and
//!   brought back in the state a power cut leaves; skipped (reported as ignored, with the
//!   reason) where FUSE cannot be mounted.
//!
//! Knobs: `HUBUP_CRASH_LAB_TRIALS=F` multiplies the seeded samples (default 1: 200 boundaries
//! and 50 cuts; `4` for a deep run, `0.25` for a quick one; the every-boundary sweep is always
//! whole), `HUBUP_CRASH_LAB_SEED=<hex>`
//! replays another seed. Counts, seeds and failures are printed at the end of each section.

pub mod boundaries;
pub mod lossy_fs;
pub mod power_loss;
pub mod sandbox;

use std::io::Write;
use std::sync::Mutex;

/// The environment variable that scales the seeded samples.
pub const TRIALS_VAR: &str = "HUBUP_CRASH_LAB_TRIALS";
/// The environment variable that replaces the lab's base seed.
pub const SEED_VAR: &str = "HUBUP_CRASH_LAB_SEED";

/// The lab's base seed: fixed, so CI runs the same trials every time; `HUBUP_CRASH_LAB_SEED`
/// explores others.
pub fn base_seed() -> u64 {
    std::env::var(SEED_VAR)
        .ok()
        .and_then(|s| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok())
        .unwrap_or(0x0c4a_5410_ab00_0013)
}

/// The factor on the seeded samples (`HUBUP_CRASH_LAB_TRIALS`, default 1; `4` for a deep
/// run, `0.25` for a quick one).
pub fn scale() -> f64 {
    std::env::var(TRIALS_VAR)
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|n| n.is_finite() && *n > 0.0)
        .unwrap_or(1.0)
}

/// `base` seeded trials, scaled (at least one).
pub fn scaled(base: u64) -> u64 {
    ((base as f64 * scale()).round() as u64).max(1)
}

/// A small deterministic PRNG (xorshift64*): every trial's choices come from its own seed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    pub fn coin(&mut self) -> bool {
        self.next() & 1 == 1
    }
}

/// The seed of trial `index` of a section: printed with each failure, so one trial can be
/// replayed.
pub fn trial_seed(section: u64, index: u64) -> u64 {
    let mut rng = Rng::new(base_seed() ^ section.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ index);
    rng.next();
    rng.next()
}

/// Prints to the terminal even when the test harness captures output.
pub fn say(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{text}");
}

/// What a section's trials gave: counts by outcome, and each failure with its seed.
#[derive(Default)]
pub struct Tally {
    pub name: String,
    counts: Mutex<std::collections::BTreeMap<String, u64>>,
    failures: Mutex<Vec<String>>,
}

impl Tally {
    pub fn new(name: &str) -> Tally {
        Tally {
            name: name.to_string(),
            ..Tally::default()
        }
    }

    /// Counts one trial under `what` (`resumed`, `rolled back`, `finished before the cut`, ...).
    pub fn count(&self, what: &str) {
        *self
            .counts
            .lock()
            .unwrap()
            .entry(what.to_string())
            .or_default() += 1;
    }

    pub fn fail(&self, what: String) {
        say(&format!("crash lab [{}] FAILURE: {what}", self.name));
        self.failures.lock().unwrap().push(what);
    }

    /// Prints the section's summary and fails the test if any trial failed.
    pub fn finish(&self, trials: u64, elapsed: std::time::Duration) -> Result<(), String> {
        let counts = self.counts.lock().unwrap();
        let failures = self.failures.lock().unwrap();
        let counts: Vec<String> = counts.iter().map(|(k, v)| format!("{k}: {v}")).collect();
        say(&format!(
            "crash lab [{}]: {trials} trials, {} failed, base seed {:#018x} ({SEED_VAR}), \
             scale {} ({TRIALS_VAR}), {:.1} s; {}",
            self.name,
            failures.len(),
            base_seed(),
            scale(),
            elapsed.as_secs_f64(),
            counts.join(", ")
        ));
        if failures.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "{} of {trials} trials failed:\n{}",
                failures.len(),
                failures.join("\n")
            ))
        }
    }
}

/// Runs `work` over `items` on as many threads as the machine has cores (each trial is a chain
/// of hubup processes; the lab's time is theirs).
pub fn in_parallel<T: Send, F: Fn(T) + Sync>(items: Vec<T>, work: F) {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .min(items.len().max(1));
    let queue = Mutex::new(items.into_iter());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let next = queue.lock().unwrap().next();
                    match next {
                        Some(item) => work(item),
                        None => break,
                    }
                }
            });
        }
    });
}

/// The lab's tests (`crate::SECTIONS`), for the harness in `main.rs`.
pub fn main() {
    let args = libtest_mimic::Arguments::from_args();
    let fuse = lossy_fs::availability();
    if let Err(why) = &fuse {
        say(&format!(
            "crash lab: the power-loss trials are SKIPPED (reported as ignored): {why}"
        ));
    }
    let trials = vec![
        libtest_mimic::Trial::test(crate::SECTIONS[0], || {
            boundaries::every_boundary_of_the_steps_holding_every_op_kind().map_err(Into::into)
        }),
        libtest_mimic::Trial::test(crate::SECTIONS[1], || {
            boundaries::seeded_boundaries_across_the_run().map_err(Into::into)
        }),
        libtest_mimic::Trial::test(crate::SECTIONS[2], || {
            power_loss::lossy_fs_forgets_exactly_what_was_not_flushed().map_err(Into::into)
        })
        .with_ignored_flag(fuse.is_err()),
        libtest_mimic::Trial::test(crate::SECTIONS[3], || {
            power_loss::power_loss_at_seeded_cuts_of_a_full_run().map_err(Into::into)
        })
        .with_ignored_flag(fuse.is_err()),
    ];
    libtest_mimic::run(&args, trials).exit();
}
