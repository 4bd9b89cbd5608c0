//! The `hubup fixture` commands: generate fixture installs and update packages.

use clap::Subcommand;

use super::{CommandResult, Exit, Failure};

#[derive(Subcommand, Debug)]
pub(crate) enum FixtureCommand {
    /// Not built yet.
    Todo,
}

pub(crate) fn run(command: FixtureCommand) -> CommandResult {
    match command {
        FixtureCommand::Todo => Err(Failure::new(Exit::Failure, "not built yet")),
    }
}
