//! A pseudo-terminal for the commands that ask (`upgrade`'s confirmation, `hubup init`):
//! standard input and error on a terminal on which the test types its answers ahead, standard
//! output piped. Unix only: the Windows build's tests run under Wine, which has no pty.

use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::process::{Command, Stdio};

use crate::support::{Run, StartRetrying};

/// A new pseudo-terminal: (controller, terminal).
fn pty() -> (std::fs::File, OwnedFd) {
    let (mut controller, mut terminal) = (-1, -1);
    // SAFETY: openpty writes two new descriptors into the two ints it is given; the other
    // arguments may be null.
    let rc = unsafe {
        libc::openpty(
            &mut controller,
            &mut terminal,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: both descriptors are new and owned by nothing else.
    unsafe {
        (
            std::fs::File::from_raw_fd(controller),
            OwnedFd::from_raw_fd(terminal),
        )
    }
}

/// Runs `command` with standard input and error on a terminal on which `typed` is typed
/// ahead. Its stderr is what the terminal showed (the typed answers' echo included).
pub fn run_on_terminal(mut command: Command, typed: &str) -> Run {
    let (mut controller, terminal) = pty();
    command
        .stdin(Stdio::from(terminal.try_clone().unwrap()))
        .stderr(Stdio::from(terminal))
        .stdout(Stdio::piped());
    let mut child = command.spawn_retrying().expect("spawn hubup");
    // Only the child holds the terminal now: reading ends when it exits.
    drop(command);
    // Typed ahead: the terminal keeps it until the command reads its answers.
    controller.write_all(typed.as_bytes()).unwrap();
    let shown = std::thread::spawn(move || {
        let mut shown = Vec::new();
        let mut buffer = [0u8; 4096];
        // EIO once every holder of the terminal closed it.
        while let Ok(n @ 1..) = controller.read(&mut buffer) {
            shown.extend_from_slice(&buffer[..n]);
        }
        String::from_utf8_lossy(&shown).into_owned()
    });
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let status = child.wait().unwrap();
    Run {
        code: status.code().unwrap_or(-1),
        stdout,
        stderr: shown.join().unwrap(),
    }
}
