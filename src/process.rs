//! Starting the programs hubup runs (command templates, the Windows tools the host adapter
//! drives), and retrying a start that failed before any process existed.
//!
//! Starting a process can fail for a moment when the machine is short of a resource: `fork`
//! answers `EAGAIN` on Unix, and `CreateProcess` answers `ERROR_INTERNAL_ERROR` (1359) or
//! `ERROR_NOT_ENOUGH_MEMORY` (8) on Windows (Wine under load gives 1359 too). No process was
//! made, so nothing ran and a second try cannot run anything twice. Any other error (the
//! program is missing, access is denied) and every error a running program reports are
//! returned at once: those are for the operator, not for a retry.

use std::io;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// How often a start is tried, and the pause before each further try.
const PAUSES: [Duration; 3] = [
    Duration::from_millis(50),
    Duration::from_millis(250),
    Duration::from_millis(1000),
];

/// Runs `program` with `args` (no input) to completion and captures its output.
pub(crate) fn output(program: &str, args: &[String]) -> io::Result<Output> {
    retrying(|| {
        Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
    })
}

/// Calls `start` until it succeeds, fails for a reason other than [`is_transient`], or has
/// been tried once more than there are [`PAUSES`].
fn retrying<T>(mut start: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    let mut pauses = PAUSES.iter();
    loop {
        match start() {
            Err(e) if is_transient(&e) => match pauses.next() {
                Some(pause) => {
                    tracing::info!(target: "hubup::command", "could not start ({e}); trying again");
                    std::thread::sleep(*pause);
                }
                None => return Err(e),
            },
            other => return other,
        }
    }
}

/// Whether a failed start was the system's momentary shortage rather than the program's fault.
fn is_transient(e: &io::Error) -> bool {
    let code = e.raw_os_error();
    if cfg!(windows) {
        matches!(code, Some(1359) | Some(8))
    } else {
        code == Some(11)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transient() -> io::Error {
        io::Error::from_raw_os_error(if cfg!(windows) { 1359 } else { 11 })
    }

    #[test]
    fn a_start_that_failed_for_a_moment_is_tried_again() {
        let mut calls = 0;
        let got = retrying(|| {
            calls += 1;
            if calls < 3 {
                Err(transient())
            } else {
                Ok(calls)
            }
        });
        assert_eq!(got.unwrap(), 3);
    }

    #[test]
    fn a_missing_program_is_reported_at_once() {
        let mut calls = 0;
        let got: io::Result<()> = retrying(|| {
            calls += 1;
            Err(io::Error::from(io::ErrorKind::NotFound))
        });
        assert_eq!(got.unwrap_err().kind(), io::ErrorKind::NotFound);
        assert_eq!(calls, 1);
    }

    #[test]
    fn a_shortage_that_lasts_is_reported_after_the_last_try() {
        let mut calls = 0;
        let got: io::Result<()> = retrying(|| {
            calls += 1;
            Err(transient())
        });
        assert_eq!(got.unwrap_err().raw_os_error(), transient().raw_os_error());
        assert_eq!(calls, PAUSES.len() + 1);
    }

    #[test]
    fn a_real_program_runs_once_and_its_output_is_kept() {
        let (program, args): (&str, Vec<String>) = if cfg!(windows) {
            (
                "cmd.exe",
                vec!["/d".into(), "/c".into(), "echo hubup".into()],
            )
        } else {
            ("sh", vec!["-c".into(), "echo hubup".into()])
        };
        let out = output(program, &args).unwrap();
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains("hubup"));
    }
}
