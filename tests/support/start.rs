//! Starting the programs a test runs, retried when the start failed before any process
//! existed: under load `CreateProcess` answers ERROR_INTERNAL_ERROR (1359) or
//! ERROR_NOT_ENOUGH_MEMORY (8) under Wine, and `fork` answers EAGAIN on Unix. Nothing ran, so
//! a second try cannot run anything twice; hubup's own starts retry the same way
//! (`src/process.rs`). Any other error, and everything a started program does, is the test's.

use std::io;
use std::process::{Child, Command, Output};
use std::time::Duration;

/// `output` and `spawn` that try a momentarily refused start again.
pub trait StartRetrying {
    fn output_retrying(&mut self) -> io::Result<Output>;
    fn spawn_retrying(&mut self) -> io::Result<Child>;
}

impl StartRetrying for Command {
    fn output_retrying(&mut self) -> io::Result<Output> {
        retrying(|| self.output())
    }

    fn spawn_retrying(&mut self) -> io::Result<Child> {
        retrying(|| self.spawn())
    }
}

fn retrying<T>(mut start: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    let mut pause = Duration::from_millis(100);
    for _ in 0..5 {
        match start() {
            Err(e) if is_transient(&e) => {
                eprintln!("could not start a program ({e}); trying again");
                std::thread::sleep(pause);
                pause *= 2;
            }
            other => return other,
        }
    }
    start()
}

fn is_transient(e: &io::Error) -> bool {
    let code = e.raw_os_error();
    if cfg!(windows) {
        matches!(code, Some(1359) | Some(8))
    } else {
        code == Some(11)
    }
}
