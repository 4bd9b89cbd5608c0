//! The command line: clap definitions of every subcommand, dispatch, and the mapping from
//! outcomes and errors to exit codes. Each subcommand group lives in its own file here and
//! only calls the library's public API.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod fixture;
mod journal;
mod package;
mod status;

/// Exit codes, stable and documented in README.md.
// Some codes are only produced by commands that land later.
#[allow(dead_code)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exit {
    /// The command did what was asked.
    Ok = 0,
    /// An unexpected failure (I/O error, bug); the message says what and where.
    Failure = 1,
    /// Bad input: usage, config, version, package or a failed prerequisite. Nothing changed.
    BadInput = 2,
    /// A step failed and was rolled back to its source version; earlier steps stay committed.
    RolledBack = 3,
    /// A run is unfinished (interrupted, cancelled, or its rollback could not complete):
    /// run `hubup resume` or `hubup rollback`.
    NeedsResume = 4,
    /// The journal failed verification: an entry was changed, dropped or reordered.
    JournalCorrupt = 5,
    /// Another hubup process holds the journal.
    Busy = 6,
}

/// A command's failure: the exit code and a message for the operator.
#[derive(Debug)]
pub(crate) struct Failure {
    pub code: Exit,
    pub message: String,
}

impl Failure {
    pub(crate) fn new(code: Exit, message: impl Into<String>) -> Failure {
        Failure {
            code,
            message: message.into(),
        }
    }
}

pub(crate) type CommandResult = Result<Exit, Failure>;

/// hubup upgrades a Blue Prism Hub and Interact installation from 4.0 ... 4.4 to any later
/// version up to 4.5, one journaled, reversible step at a time.
#[derive(Parser, Debug)]
#[command(name = "hubup", version, about, long_about = None, max_term_width = 100)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Show the installed version, components, sites, backups and the install's digest.
    Status(status::StatusArgs),
    /// Verify, show and export the journal of changes hubup made on this machine.
    #[command(subcommand)]
    Journal(journal::JournalCommand),
    /// Generate fixture installs and update packages (for tests, benchmarks and the demo).
    #[command(subcommand)]
    Fixture(fixture::FixtureCommand),
    /// Check update packages (BluePrismHubAndInteractUpdate4.n.bin) without changing anything.
    #[command(subcommand)]
    Package(package::PackageCommand),
}

/// Parses the command line, runs the command and returns its exit code.
pub(crate) fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: CommandResult = match cli.command {
        Command::Status(args) => status::run(args),
        Command::Journal(command) => journal::run(command),
        Command::Fixture(command) => fixture::run(command),
        Command::Package(command) => package::run(command),
    };
    match result {
        Ok(code) => ExitCode::from(code as u8),
        Err(failure) => {
            eprintln!("hubup: {}", failure.message);
            ExitCode::from(failure.code as u8)
        }
    }
}
