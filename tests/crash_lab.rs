//! The crash lab (issue 13): crashes at every journal boundary of the step that holds every op
//! kind, at seeded boundaries across the rest of a full run, and power losses on a file system
//! that forgets what was not flushed. The lab lives in `tests/crash_lab/` (see its `mod.rs`);
//! this file is its harness (libtest-mimic, so a section that cannot run here, FUSE missing,
//! is reported as ignored rather than passed). Linux only: the power-loss file system is FUSE,
//! and the sandboxes are copied with `cp -a`.

#[cfg(target_os = "linux")]
mod support;

#[cfg(target_os = "linux")]
#[path = "crash_lab/mod.rs"]
mod lab;

#[cfg(target_os = "linux")]
fn main() {
    lab::main();
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("crash lab: Linux only (FUSE, cp -a); nothing to run here");
    libtest_mimic::run(&libtest_mimic::Arguments::from_args(), Vec::new()).exit();
}
