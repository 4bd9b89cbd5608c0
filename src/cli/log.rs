//! The run log: one text file per command that changes an install (`upgrade`, `resume`,
//! `rollback`), in `logs/` beside the journal, holding what the journal does not: each SQL
//! statement sent (text only: values are parameters and never logged), each command run and
//! how it exited, connections, warnings and failures with their detail, with timestamps. The
//! journal stays the record of what changed; the log is for finding out why something failed.
//!
//! `HUBUP_LOG` sets the level in `tracing`'s filter syntax (default `hubup=info,warn`;
//! `hubup=debug` adds every op). A log that cannot be written is reported and skipped: it never
//! stops an upgrade. Warnings about the journal's lock also go to standard error, and with
//! `-v` each op, with `-vv` every record at debug level (`on_stderr`).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use tracing::Level;
use tracing::Metadata;
use tracing_subscriber::filter::{EnvFilter, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{Layer, fmt};

/// The environment variable that sets the log level.
pub(crate) const LOG_VAR: &str = "HUBUP_LOG";

/// The file this process logs to, once `start` opened one.
static LOG_PATH: OnceLock<PathBuf> = OnceLock::new();

/// The open log file, which `discard` can close (Windows cannot remove an open folder's
/// file, so the file must be closed before its folder can go).
static LOG_FILE: OnceLock<Arc<LogFile>> = OnceLock::new();

/// The log's file, or nothing once discarded: records after that are dropped.
struct LogFile(Mutex<Option<File>>);

impl Write for &LogFile {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self
            .0
            .lock()
            .map(|mut file| file.as_mut().map(|f| f.write(bytes)))
        {
            Ok(Some(written)) => written,
            _ => Ok(bytes.len()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self
            .0
            .lock()
            .map(|mut file| file.as_mut().map(|f| f.flush()))
        {
            Ok(Some(flushed)) => flushed,
            _ => Ok(()),
        }
    }
}

/// Closes and removes this process's log (a refused run that changed nothing,
/// `cli/refused.rs`). True if there was one.
pub(crate) fn discard() -> bool {
    let (Some(file), Some(path)) = (LOG_FILE.get(), LOG_PATH.get()) else {
        return false;
    };
    if let Ok(mut open) = file.0.lock() {
        open.take();
    }
    let _ = std::fs::remove_file(path);
    true
}

/// Where this process logs, if it does.
pub(crate) fn path() -> Option<&'static Path> {
    LOG_PATH.get().map(PathBuf::as_path)
}

/// Starts logging for `command`: to a new file in `<journal folder>/logs/` when `to_file`,
/// and journal-lock warnings to standard error in every case. Call once, early.
pub(crate) fn start(journal: &Path, command: &str, to_file: bool) {
    let verbose = super::global().verbose;
    let stderr = fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(super::output::stderr_coloured())
        .without_time()
        .with_target(false)
        .with_filter(filter_fn(move |meta| on_stderr(verbose, meta)));
    let file = to_file.then(|| open_log(journal, command)).flatten();
    let file_layer = file.map(|(path, file)| {
        let _ = LOG_PATH.set(path);
        let file = LOG_FILE
            .get_or_init(|| Arc::new(LogFile(Mutex::new(Some(file)))))
            .clone();
        let filter =
            EnvFilter::try_from_env(LOG_VAR).unwrap_or_else(|_| EnvFilter::new("hubup=info,warn"));
        fmt::layer()
            .with_writer(file)
            .with_ansi(false)
            .with_filter(filter)
    });
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(file_layer)
        .try_init();
    if let Some(path) = path() {
        tracing::info!("hubup {} {command}: log {}", super::VERSION, path.display());
    }
}

/// Whether a record goes to standard error: journal-lock warnings always; with `-v` each op
/// (the engine's debug records); with `-vv` everything hubup logs at debug, except the CLI's
/// own records (the lines it prints anyway).
fn on_stderr(verbose: u8, meta: &Metadata<'_>) -> bool {
    let target = meta.target();
    let level = *meta.level();
    let lock_warning = target.starts_with("hubup::journal") && level <= Level::WARN;
    let ours = target == "hubup" || target.starts_with("hubup::");
    match verbose {
        0 => lock_warning,
        1 => lock_warning || (ours && level == Level::DEBUG),
        _ => ours && level <= Level::DEBUG && !target.starts_with("hubup::cli"),
    }
}

/// `logs/hubup-<UTC stamp>-<command>.log` beside the journal, opened for appending.
fn open_log(journal: &Path, command: &str) -> Option<(PathBuf, File)> {
    let folder = journal.parent().unwrap_or(Path::new(".")).join("logs");
    let path = folder.join(format!(
        "hubup-{}-{command}.log",
        hubup::compact_utc(hubup::now_ms())
    ));
    let opened = hubup::create_private_dir_all(&folder)
        .and_then(|()| OpenOptions::new().create(true).append(true).open(&path));
    match opened {
        Ok(file) => Some((path, file)),
        Err(e) => {
            errln!(
                "hubup: warning: cannot write the log {} ({e}); going on without it",
                path.display()
            );
            None
        }
    }
}
