//! `hubup status`: what is installed, and whether a run is unfinished.

use clap::Args;

use super::{CommandResult, Exit, Failure};

#[derive(Args, Debug)]
pub(crate) struct StatusArgs {}

pub(crate) fn run(_args: StatusArgs) -> CommandResult {
    Err(Failure::new(Exit::Failure, "not built yet"))
}
