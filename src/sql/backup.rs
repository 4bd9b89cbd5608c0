//! Database backups before an upgrade (`--backup-databases DIR`, or `sql.backup_databases`):
//! the folder on the SQL Server machine where `BACKUP DATABASE` writes, checked as a path, and
//! the name of each backup file. The guide recommends backing up the databases before every
//! step; hubup takes one `COPY_ONLY` backup of each existing database at the start of a run
//! (so the DBA's own backup chain is not disturbed) and journals where each one went.
//!
//! Which databases exist is the planner's business; running the backup is the SQL target's.

use serde::{Deserialize, Serialize};

use crate::version::Version;

/// Where this run's database backups go, and the run's time stamp that makes their names
/// unique (a second run never overwrites the first run's backups).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseBackups {
    /// A folder on the SQL Server machine, as SQL Server will read it.
    pub folder: String,
    /// `20261129T043753Z`: UTC, when the run was prepared.
    pub stamp: String,
}

/// The backup folder cannot be used. Names the setting and what to give instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "--backup-databases (sql.backup_databases) {folder:?}: {problem}; give a folder on the SQL \
     Server machine, such as D:\\SQLBackups, \\\\nas\\sqlbackups or /var/opt/mssql/backup"
)]
pub struct BackupFolderError {
    pub folder: String,
    pub problem: String,
}

/// Characters Windows does not allow in a path (besides the separators and a drive's `:`).
const NOT_IN_PATHS: [char; 6] = ['*', '?', '"', '<', '>', '|'];

fn not_in_paths(c: char) -> bool {
    c.is_control() || NOT_IN_PATHS.contains(&c)
}

/// The longest folder accepted: backup file names add up to about 160 characters, and
/// SQL Server's device names are at most 259 (MAX_PATH) on Windows.
const MAX_FOLDER_CHARS: usize = 100;

impl DatabaseBackups {
    /// Checks `folder` and stamps the run with `now_ms` (milliseconds since the epoch).
    pub fn new(folder: &str, now_ms: u64) -> Result<DatabaseBackups, BackupFolderError> {
        let folder = folder.trim();
        check_folder(folder).map_err(|problem| BackupFolderError {
            folder: folder.to_string(),
            problem: problem.to_string(),
        })?;
        Ok(DatabaseBackups {
            folder: folder.trim_end_matches(['\\', '/']).to_string(),
            stamp: crate::journal::compact_utc(now_ms),
        })
    }

    /// The backup file of `database`, taken before the step from `from`:
    /// `<folder>\<database>_<from>_<stamp>.bak`, with the folder's own separator.
    pub fn file_for(&self, database: &str, from: Version) -> String {
        let separator = if self.folder.starts_with('/') {
            '/'
        } else {
            '\\'
        };
        let name: String = database
            .chars()
            .map(|c| {
                if not_in_paths(c) || matches!(c, '\\' | '/' | ':') {
                    '_'
                } else {
                    c
                }
            })
            .collect();
        format!("{}{separator}{name}_{from}_{}.bak", self.folder, self.stamp)
    }
}

/// Why `folder` is not an absolute folder SQL Server can write to, if it is not.
fn check_folder(folder: &str) -> Result<(), &'static str> {
    if folder.is_empty() {
        return Err("the folder is empty");
    }
    if folder.chars().count() > MAX_FOLDER_CHARS {
        return Err("the folder is longer than 100 characters");
    }
    if folder.chars().any(not_in_paths) {
        return Err(
            "the folder contains a character paths cannot hold (* ? \" < > | or a control character)",
        );
    }
    let bytes = folder.as_bytes();
    let drive = bytes.len() >= 3
        && bytes[0].is_ascii_alphabetic()
        && bytes[1] == b':'
        && matches!(bytes[2], b'\\' | b'/');
    let share = folder.starts_with("\\\\") && folder.chars().skip(2).any(|c| c == '\\');
    let unix = folder.starts_with('/');
    if !(drive || share || unix) {
        return Err(
            "the folder must be absolute (SQL Server would resolve a relative one against its own default backup folder)",
        );
    }
    if folder.chars().skip(2).any(|c| c == ':') {
        return Err("the folder contains ':' after its drive");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_795_980_304_123; // 2026-11-29T19:25:04.123Z

    #[test]
    fn backup_files_are_named_by_database_version_and_run() {
        let backups = DatabaseBackups::new(r"D:\SQLBackups\", NOW).unwrap();
        assert_eq!(backups.stamp, "20261129T192504Z");
        assert_eq!(
            backups.file_for("HubDB", Version::V4_0),
            r"D:\SQLBackups\HubDB_4.0_20261129T192504Z.bak"
        );
        let linux = DatabaseBackups::new("/var/opt/mssql/backup", NOW).unwrap();
        assert_eq!(
            linux.file_for("a/b:c", Version::V4_2),
            "/var/opt/mssql/backup/a_b_c_4.2_20261129T192504Z.bak"
        );
        let share = DatabaseBackups::new(r"\\nas\sql", NOW).unwrap();
        assert!(
            share
                .file_for("x]; DROP DATABASE master; --'", Version::V4_1)
                .starts_with(r"\\nas\sql\x]; DROP DATABASE master; --'_4.1_")
        );
    }

    #[test]
    fn unusable_folders_are_refused_with_the_reason() {
        for (folder, reason) in [
            ("", "empty"),
            ("backups", "absolute"),
            (r"D:backups", "absolute"),
            (r"\\nas", "absolute"),
            (r"D:\a?b", "cannot hold"),
            (r"D:\a:b", "':'"),
        ] {
            let error = DatabaseBackups::new(folder, NOW).unwrap_err().to_string();
            assert!(error.contains(reason), "{folder}: {error}");
            assert!(error.contains("--backup-databases"), "{error}");
        }
        let long = format!(r"D:\{}", "x".repeat(120));
        assert!(DatabaseBackups::new(&long, NOW).is_err());
    }
}
