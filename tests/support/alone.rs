//! Running one test in a process of its own. The harness runs the tests of this binary in
//! parallel threads of one process; a test that measures the whole process (its allocations)
//! or is killed on purpose needs a process where nothing else runs. Such a test calls
//! [`in_own_process`] first: in the harness it starts this binary again with only that test
//! selected and one test thread, waits for it to pass, and returns `false`; in that child it
//! returns `true` and the test runs its body.

use crate::support::StartRetrying;
use std::process::Command;

/// Set in the child to the test it runs alone.
const ALONE_ENV: &str = "HUBUP_TEST_ALONE";

/// The harness name of test `function` in the module whose `module_path!()` is `module`:
/// the module path without the crate's name (`journal_crash::killed_appenders_...`).
pub fn test_name(module: &str, function: &str) -> String {
    let in_crate = module.split_once("::").map_or("", |(_, rest)| rest);
    if in_crate.is_empty() {
        function.to_string()
    } else {
        format!("{in_crate}::{function}")
    }
}

/// A command that runs this test binary again with only `test` selected, on one thread,
/// output not captured (callers add their own environment and pipes).
pub fn this_binary_running(test: &str) -> Command {
    let mut command = Command::new(std::env::current_exe().expect("the test binary's path"));
    command.args(["--exact", test, "--nocapture", "--test-threads=1"]);
    command
}

/// `true` in the child that runs test `function` of `module` (its `module_path!()`) alone:
/// run the body. In the harness, runs that child, asserts that it ran the test and that it
/// passed, and returns `false` (nothing left to do).
#[track_caller]
pub fn in_own_process(module: &str, function: &str) -> bool {
    let test = &test_name(module, function);
    if std::env::var(ALONE_ENV).is_ok_and(|alone| alone == *test) {
        return true;
    }
    let output = this_binary_running(test)
        .env(ALONE_ENV, test)
        .output_retrying()
        .expect("start the test binary again");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("test result: ok. 1 passed"),
        "{test} in a process of its own: {}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    print!("{stdout}");
    false
}
