//! The one setting read from a config file without loading the whole config: the journal's
//! path (`[journal] path`), for the `journal` commands, which must work even when the rest of
//! the config does not validate.

use std::path::{Path, PathBuf};

use crate::journal::default_journal_path;

/// Why the journal path could not be read from a config file. Never quotes other settings.
#[derive(Debug, thiserror::Error)]
pub enum ConfigPathError {
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {} is not valid TOML: {message}", path.display())]
    Parse { path: PathBuf, message: String },
    #[error(
        "config file {}: [journal] path must be a non-empty string (a file path; a relative one is \
         relative to the config file's folder)",
        path.display()
    )]
    BadPath { path: PathBuf },
}

/// The journal path a config file names in `[journal] path = "..."`, or the default path
/// if it names none. A relative path is taken relative to the config file's folder.
///
/// Reads only the config file; a failure changes nothing. (The full config module will
/// replace this small reader; the rule for relative paths stays.)
pub fn journal_path_from_config(config_file: &Path) -> Result<PathBuf, ConfigPathError> {
    let text = std::fs::read_to_string(config_file).map_err(|source| ConfigPathError::Read {
        path: config_file.to_path_buf(),
        source,
    })?;
    let document: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        // The message of a parse error quotes the offending line, which may hold a password:
        // keep only the position and the kind of problem.
        ConfigPathError::Parse {
            path: config_file.to_path_buf(),
            message: super::parse_error_summary(&text, &e),
        }
    })?;
    let Some(journal) = document.get("journal") else {
        return Ok(default_journal_path());
    };
    let bad = || ConfigPathError::BadPath {
        path: config_file.to_path_buf(),
    };
    let Some(path) = journal.as_table().ok_or_else(bad)?.get("path") else {
        return Ok(default_journal_path());
    };
    let path = path.as_str().filter(|p| !p.is_empty()).ok_or_else(bad)?;
    let path = Path::new(path);
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    let folder = config_file.parent().unwrap_or(Path::new(""));
    // Rebuilt from its components so a `/` written in the file becomes the platform's
    // separator.
    Ok(folder.join(path).components().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_are_relative_to_the_config_folder() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("hubup.toml");
        std::fs::write(&config, "[journal]\npath = \"state/j.redb\"\n").unwrap();
        assert_eq!(
            journal_path_from_config(&config).unwrap(),
            dir.path().join("state/j.redb")
        );
    }

    #[test]
    fn absent_setting_means_default_and_bad_ones_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("hubup.toml");
        std::fs::write(&config, "[sql]\nserver = \"SQL01\"\n").unwrap();
        assert_eq!(
            journal_path_from_config(&config).unwrap(),
            default_journal_path()
        );
        std::fs::write(&config, "[journal]\npath = 3\n").unwrap();
        assert!(matches!(
            journal_path_from_config(&config),
            Err(ConfigPathError::BadPath { .. })
        ));
    }

    #[test]
    fn parse_errors_do_not_quote_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("hubup.toml");
        std::fs::write(&config, "[sql]\npassword = \"Hunter2Secret\" oops\n").unwrap();
        let err = journal_path_from_config(&config).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
        assert!(!err.contains("Hunter2Secret"), "{err}");
    }
}
