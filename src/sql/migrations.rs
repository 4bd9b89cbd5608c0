//! The migrations compiled into the binary (the binary runs alone on a Windows server), with
//! their blake3 checksums, listed per (version, database). `migrations/README.md` describes the
//! folder; a test checks that this list and the folder agree.

use crate::digest::Digest;
use crate::version::Version;

/// One migration file.
#[derive(Clone, Copy, Debug)]
pub struct Migration {
    /// `<version>/<database>/NNN_name.sql`, relative to `migrations/`.
    pub id: &'static str,
    pub text: &'static str,
}

impl Migration {
    pub fn checksum(&self) -> Digest {
        Digest::of(self.text.as_bytes())
    }

    /// The version whose step creates the database.
    pub fn version(&self) -> Option<Version> {
        self.id.split('/').next()?.parse().ok()
    }

    /// The database's default name.
    pub fn database(&self) -> &'static str {
        self.id.split('/').nth(1).unwrap_or_default()
    }

    /// The file's batches: split on lines holding only `GO` (any case), empty batches dropped.
    pub fn batches(&self) -> Vec<String> {
        split_batches(self.text)
    }
}

/// Splits a T-SQL script on `GO` lines, as sqlcmd and SSMS do.
pub fn split_batches(text: &str) -> Vec<String> {
    let mut batches = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        if line.trim().eq_ignore_ascii_case("go") {
            if !current.trim().is_empty() {
                batches.push(std::mem::take(&mut current));
            }
            current.clear();
        } else {
            current.push_str(line);
            current.push('\n');
        }
    }
    if !current.trim().is_empty() {
        batches.push(current);
    }
    batches
}

macro_rules! migration {
    ($id:literal) => {
        Migration {
            id: $id,
            text: include_str!(concat!("../../migrations/", $id)),
        }
    };
}

/// Every migration, in the order they apply.
pub const MIGRATIONS: &[Migration] = &[
    migration!("4.2/LicenseManagerDB/001_licenses.sql"),
    migration!("4.2/LicenseManagerDB/002_procedures.sql"),
    migration!("4.2/NotificationCenterDB/001_notifications.sql"),
    migration!("4.2/IadaDB/001_iada.sql"),
    migration!("4.3/EmailServiceDB/001_email.sql"),
    migration!("4.5/DecisionDB/001_decision.sql"),
];

/// The migrations of the database created at `version` under the default name `database`.
pub fn migrations_for(version: Version, database: &str) -> Vec<&'static Migration> {
    MIGRATIONS
        .iter()
        .filter(|m| m.version() == Some(version) && m.database() == database)
        .collect()
}

/// The migration with this id.
pub fn find(id: &str) -> Option<&'static Migration> {
    MIGRATIONS.iter().find(|m| m.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_matches_the_folder() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut on_disk = Vec::new();
        for version in std::fs::read_dir(&root).unwrap().flatten() {
            if !version.path().is_dir() {
                continue;
            }
            for database in std::fs::read_dir(version.path()).unwrap().flatten() {
                for file in std::fs::read_dir(database.path()).unwrap().flatten() {
                    on_disk.push(format!(
                        "{}/{}/{}",
                        version.file_name().to_string_lossy(),
                        database.file_name().to_string_lossy(),
                        file.file_name().to_string_lossy()
                    ));
                }
            }
        }
        on_disk.sort();
        let mut listed: Vec<String> = MIGRATIONS.iter().map(|m| m.id.to_string()).collect();
        listed.sort();
        assert_eq!(
            listed, on_disk,
            "src/sql/migrations.rs must list every file in migrations/"
        );
    }

    #[test]
    fn batches_split_on_go_lines_only() {
        let batches =
            split_batches("CREATE TABLE a (x int);\nGO\n-- going on\nSELECT 1;\n  go  \n\nGO\n");
        assert_eq!(
            batches,
            ["CREATE TABLE a (x int);\n", "-- going on\nSELECT 1;\n"]
        );
        assert_eq!(migrations_for(Version::V4_2, "LicenseManagerDB").len(), 2);
        assert!(
            migrations_for(Version::V4_2, "LicenseManagerDB")[1]
                .batches()
                .len()
                == 2
        );
    }
}
