//! The crash lab (issue 13): crashes at every journal boundary of the step that holds every op
//! kind, at seeded boundaries across the rest of a full run, and power losses on a file system
//! that forgets what was not flushed. The lab's modules are in this folder (see `mod.rs`); this
//! file is its harness.
//!
//! It is the one test binary besides `tests/integration/` (`tests/integration/harness.rs`
//! names it as the exception), for two reasons: its harness is libtest-mimic, so a section that
//! cannot run here (FUSE missing) is reported as ignored rather than passed, and its trials
//! run for minutes apart from the suite. It shares `tests/support/` with the suite. Linux only:
//! the power-loss file system is FUSE and the sandboxes are copied with `cp -a`; elsewhere
//! (the Windows build) every section is reported as ignored.

// The lab uses a few of the suite's helpers (Scenario, Run); the rest of `support` and its
// re-exports are the suite's, unused here.
#[cfg(target_os = "linux")]
#[allow(dead_code, unused_imports)]
#[path = "../support/mod.rs"]
mod support;

#[cfg(target_os = "linux")]
#[path = "mod.rs"]
mod lab;

#[cfg(target_os = "linux")]
fn main() {
    lab::main();
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("crash lab: Linux only (FUSE, cp -a); every section is reported as ignored");
    let trials = SECTIONS
        .iter()
        .map(|name| libtest_mimic::Trial::test(*name, || Ok(())).with_ignored_flag(true))
        .collect();
    libtest_mimic::run(&libtest_mimic::Arguments::from_args(), trials).exit();
}

/// The lab's sections (one test each), in the order they run.
pub const SECTIONS: [&str; 4] = [
    "every_boundary_of_the_steps_holding_every_op_kind",
    "seeded_boundaries_across_the_rest_of_a_full_run",
    "lossy_fs_forgets_exactly_what_was_not_flushed",
    "power_loss_at_seeded_cuts_of_a_full_run",
];
