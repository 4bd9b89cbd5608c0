//! The paths a config names that steer hubup (the config file and its folder, the journal and
//! its folder, the packages and output folders) and the check that nobody but administrators
//! can change them. The check itself is `access`'s, which knows paths, not configs.

use std::path::{Path, PathBuf};

use crate::access::{AccessReport, check_access_paths};

use super::Config;

/// Checks the config's file, journal, packages and output folders and the folders above them
/// (see `access`'s module doc). Reads only.
pub fn check_config_paths(config: &Config) -> AccessReport {
    check_access_paths(&steering_paths(config))
}

/// Each path that steers hubup, with what it is to hubup (`config file`, `journal folder`,
/// ...): the targets `access` checks, with every folder above them.
fn steering_paths(config: &Config) -> Vec<(&'static str, PathBuf)> {
    let mut paths: Vec<(&'static str, PathBuf)> = Vec::new();
    if let Some(source) = &config.source {
        paths.push(("config file", source.clone()));
        paths.push(("config folder", parent_of(source)));
    }
    let journal = config.journal_path();
    paths.push(("journal folder", parent_of(&journal)));
    paths.push(("journal", journal));
    paths.push(("packages folder", config.install.packages.clone()));
    paths.push(("output folder", config.output_dir()));
    paths
}

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}
