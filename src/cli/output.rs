//! Standard output and standard error for readers that may leave early (`hubup plan | head`,
//! a closed terminal or ssh session). A closed pipe ends that stream's output quietly and the
//! command goes on to its own end and exit code: never a panic, and never a run stopped
//! halfway because nobody reads its messages any more. Any other failure to write standard
//! output (a full disk under `> file`) is remembered, so a command that otherwise did what
//! was asked exits 1 naming it instead of 0 with its output cut short.
//!
//! Every command prints through `outln!`/`out!`/`errln!` (defined in `cli/mod.rs`), never
//! `println!`, which panics on a closed pipe.
//!
//! Colour: only on a terminal, and never when `NO_COLOR` is set to anything but empty
//! (no-color.org), so a log piped to a file or a scheduled task's output holds no escape codes.

use std::fmt::Arguments;
use std::io::{self, Write};
use std::sync::OnceLock;

/// The first error standard output gave, other than a closed pipe.
static STDOUT_FAILED: OnceLock<String> = OnceLock::new();

/// Writes to standard output (see the module doc).
pub(crate) fn out(args: Arguments<'_>) {
    if let Err(error) = write_all(io::stdout().lock(), args) {
        let _ = STDOUT_FAILED.set(error.to_string());
    }
}

/// Writes to standard error; nowhere to report its own failure, so none is reported.
pub(crate) fn err(args: Arguments<'_>) {
    let _ = write_all(io::stderr().lock(), args);
}

/// Writes and flushes `args`; a closed pipe is no error (the reader left on purpose).
fn write_all(mut stream: impl Write, args: Arguments<'_>) -> io::Result<()> {
    match stream.write_fmt(args).and_then(|()| stream.flush()) {
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Whether standard error may be coloured (see the module doc).
pub(crate) fn stderr_coloured() -> bool {
    use std::io::IsTerminal;
    colour_wanted(
        io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    )
}

/// Colour on a terminal unless `NO_COLOR` holds a value.
fn colour_wanted(terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    terminal && no_color.is_none_or(|value| value.is_empty())
}

/// Why standard output could not be written, if it could not (a closed pipe aside).
pub(crate) fn stdout_failure() -> Option<&'static str> {
    STDOUT_FAILED.get().map(String::as_str)
}

/// Writes `bytes` to a new file beside `path` and renames it over `path`, so a crash leaves
/// the old file or the new one, never half of one (`init`'s config, `vbo`'s release).
pub(crate) fn write_file_atomically(
    path: &std::path::Path,
    bytes: &[u8],
) -> Result<(), super::Failure> {
    let cannot = |e: io::Error| {
        super::Failure::of(super::Cause::Output(format!(
            "cannot write {}: {e}; nothing was written",
            path.display()
        )))
    };
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let mut temp = tempfile::NamedTempFile::new_in(folder).map_err(cannot)?;
    temp.write_all(bytes).map_err(cannot)?;
    temp.as_file().sync_all().map_err(cannot)?;
    temp.persist(path).map_err(|e| cannot(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stream that fails every write with `kind`.
    struct Failing(io::ErrorKind);

    impl Write for Failing {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from(self.0))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_closed_pipe_is_no_error_and_other_failures_are() {
        assert!(write_all(Failing(io::ErrorKind::BrokenPipe), format_args!("x")).is_ok());
        let full = write_all(Failing(io::ErrorKind::StorageFull), format_args!("x"));
        assert_eq!(full.unwrap_err().kind(), io::ErrorKind::StorageFull);
        let mut fine = Vec::new();
        write_all(&mut fine, format_args!("a{}", 1)).unwrap();
        assert_eq!(fine, b"a1");
    }

    #[test]
    fn colour_only_on_a_terminal_and_not_when_no_color_holds_a_value() {
        assert!(colour_wanted(true, None));
        assert!(colour_wanted(true, Some(std::ffi::OsStr::new(""))));
        assert!(!colour_wanted(true, Some(std::ffi::OsStr::new("1"))));
        assert!(!colour_wanted(false, None));
        assert!(!colour_wanted(false, Some(std::ffi::OsStr::new(""))));
    }
}
