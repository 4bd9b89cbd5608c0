//! Where the journal lives by default: the path per OS.
//!
//! The journal is kept outside the install location, so that rolling back the install tree
//! never touches it.

use std::path::PathBuf;

/// The default journal path: `%ProgramData%\hubup\journal.redb` on Windows (falling back to
/// `C:\ProgramData` when the variable is unset), `/var/lib/hubup/journal.redb` elsewhere.
pub fn default_journal_path() -> PathBuf {
    default_folder().join("journal.redb")
}

#[cfg(windows)]
fn default_folder() -> PathBuf {
    let program_data = std::env::var_os("ProgramData")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(r"C:\ProgramData"));
    program_data.join("hubup")
}

#[cfg(not(windows))]
fn default_folder() -> PathBuf {
    PathBuf::from("/var/lib/hubup")
}
