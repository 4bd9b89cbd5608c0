//! The `hubup journal` commands: verify, show and export the journal.

use clap::Subcommand;

use super::{CommandResult, Exit, Failure};

#[derive(Subcommand, Debug)]
pub(crate) enum JournalCommand {
    /// Not built yet.
    Todo,
}

pub(crate) fn run(command: JournalCommand) -> CommandResult {
    match command {
        JournalCommand::Todo => Err(Failure::new(Exit::Failure, "not built yet")),
    }
}
