//! The access guard every command that reads a config or a journal passes first: a changing
//! command (`upgrade`, `resume`, `rollback`) is refused with exit 2 when anyone but
//! administrators can change the files that steer hubup; a reading one warns and goes on.
//! The checks themselves are the library's (`hubup::check_config_paths`); the exit code is
//! `exit.rs`'s.

use std::path::PathBuf;

use hubup::{AccessReport, Config};

use super::{Cause, Failure};

/// Refuses `action` (a changing command) or warns (a reading one) about the config's paths.
/// `quiet` skips the warning where the command reports it itself (`check`).
pub(crate) fn guard(
    config: &Config,
    action: &str,
    changes: bool,
    quiet: bool,
) -> Result<(), Failure> {
    verdict(&hubup::check_config_paths(config), action, changes, quiet)
}

/// Warns about a journal (and the config naming it, if any) that others can change: for the
/// `journal` and `status` commands, which only read.
pub(crate) fn warn_about(paths: &[(&str, PathBuf)]) {
    let report = hubup::check_access_paths(paths);
    let _ = verdict(&report, "read", false, false);
}

fn verdict(report: &AccessReport, action: &str, changes: bool, quiet: bool) -> Result<(), Failure> {
    if report.is_clean() {
        return Ok(());
    }
    if changes {
        tracing::error!("{}", report.refusal(action));
        return Err(Cause::AccessRefused {
            action: action.to_string(),
            report: report.clone(),
        }
        .into());
    }
    if !quiet {
        errln!("hubup: {}", report.warning());
    }
    Ok(())
}
