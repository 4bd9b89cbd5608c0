//! What hubup knows of an install at a point in time: its product files (path, size, digest),
//! the bytes of its settings files, and IIS's `applicationHost.config`.
//!
//! The planner reads an [`InstallModel`] and produces the model after the step, so a whole
//! chain (4.0 -> 4.5) can be planned, and checked for local changes, before anything changes.
//! The executor keeps its model in step with what it writes (every write is digest-verified),
//! so the install is hashed in full once per run, not once per step.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::install::{self, ScanError};
use crate::relpath::RelPath;
use crate::version::Version;

/// Size and content digest of one product file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileFact {
    pub size: u64,
    pub digest: Digest,
}

/// The planner's view of an install.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstallModel {
    pub version: Version,
    /// Every product file (settings files included; live data and `backup_*` excluded).
    pub files: BTreeMap<RelPath, FileFact>,
    /// The bytes of every settings file (`appsettings*.json`), for merges.
    pub settings: BTreeMap<RelPath, Vec<u8>>,
    /// The bytes of `applicationHost.config`.
    pub apphost: Vec<u8>,
}

/// Reading the install failed.
#[derive(Debug, thiserror::Error)]
pub enum ObserveError {
    #[error(transparent)]
    Scan(#[from] ScanError),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// True for the files an administrator configures and packages merge into rather than replace.
pub fn is_settings_file(path: &RelPath) -> bool {
    let name = path.file_name().to_ascii_lowercase();
    name.starts_with("appsettings") && name.ends_with(".json")
}

/// The environment a settings overlay is for: `Production` for
/// `appsettings.Production.json`. ASP.NET Core loads `appsettings.{Environment}.json` over
/// `appsettings.json` (the environment comes from `ASPNETCORE_ENVIRONMENT`); Windows file
/// names ignore case, so the name is matched without regard to it.
pub fn settings_overlay_environment(path: &RelPath) -> Option<&str> {
    let name = path.file_name();
    let lower = name.to_ascii_lowercase();
    let inner = lower.strip_prefix("appsettings.")?.strip_suffix(".json")?;
    (!inner.is_empty()).then(|| &name["appsettings.".len()..name.len() - ".json".len()])
}

impl InstallModel {
    /// The environment overlays of the settings file `base` (`Hub/appsettings.json`): the
    /// `appsettings.{Environment}.json` files beside it, in path order.
    pub fn settings_overlays(&self, base: &RelPath) -> Vec<RelPath> {
        if !base.file_name().eq_ignore_ascii_case("appsettings.json") {
            return Vec::new();
        }
        self.settings
            .keys()
            .filter(|path| path.parent() == base.parent())
            .filter(|path| settings_overlay_environment(path).is_some())
            .cloned()
            .collect()
    }

    /// Reads the install under `root` (hashing every product file) and IIS's config.
    pub fn observe(
        root: &Path,
        apphost: &Path,
        version: Version,
    ) -> Result<InstallModel, ObserveError> {
        let mut files = BTreeMap::new();
        let mut settings = BTreeMap::new();
        for entry in install::scan_product_files(root)? {
            if is_settings_file(&entry.path) {
                let full = entry.path.under(root);
                let bytes = std::fs::read(&full)
                    .map_err(|source| ObserveError::Read { path: full, source })?;
                settings.insert(entry.path.clone(), bytes);
            }
            files.insert(
                entry.path,
                FileFact {
                    size: entry.size,
                    digest: entry.digest,
                },
            );
        }
        let apphost_bytes = std::fs::read(apphost).map_err(|source| ObserveError::Read {
            path: apphost.to_path_buf(),
            source,
        })?;
        Ok(InstallModel {
            version,
            files,
            settings,
            apphost: apphost_bytes,
        })
    }

    /// The install-tree digest of this model: the same value `install::tree_digest` computes
    /// from disk for the same files.
    pub fn tree_digest(&self) -> Digest {
        install::digest_of_entries(
            self.files
                .iter()
                .map(|(path, fact)| (path, fact.size, fact.digest)),
        )
    }

    pub fn apphost_digest(&self) -> Digest {
        Digest::of(&self.apphost)
    }

    /// Sets a settings file's new bytes (and its file fact).
    pub fn put_settings(&mut self, path: &RelPath, bytes: Vec<u8>) {
        self.files.insert(
            path.clone(),
            FileFact {
                size: bytes.len() as u64,
                digest: Digest::of(&bytes),
            },
        );
        self.settings.insert(path.clone(), bytes);
    }

    /// Moves every file under `from` to `to` (a folder rename).
    pub fn rename_folder(&mut self, from: &RelPath, to: &RelPath) {
        self.files = std::mem::take(&mut self.files)
            .into_iter()
            .map(|(path, fact)| (path.rebase(from, to).unwrap_or(path), fact))
            .collect();
        self.settings = std::mem::take(&mut self.settings)
            .into_iter()
            .map(|(path, bytes)| (path.rebase(from, to).unwrap_or(path), bytes))
            .collect();
    }

    /// True if any product file lies under `folder`.
    pub fn has_folder(&self, folder: &RelPath) -> bool {
        self.files.keys().any(|path| path.starts_with(folder))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> RelPath {
        RelPath::new(p).unwrap()
    }

    #[test]
    fn overlays_are_the_environment_files_beside_the_base_file() {
        assert_eq!(
            settings_overlay_environment(&path("Hub/appsettings.Production.json")),
            Some("Production")
        );
        assert_eq!(
            settings_overlay_environment(&path("Hub/AppSettings.STAGING.JSON")),
            Some("STAGING")
        );
        assert_eq!(
            settings_overlay_environment(&path("Hub/appsettings.json")),
            None
        );
        assert_eq!(
            settings_overlay_environment(&path("Hub/appsettings..json")),
            None
        );
        assert_eq!(
            settings_overlay_environment(&path("Hub/appsettingsX.json")),
            None
        );
        let mut model = InstallModel {
            version: Version::V4_0,
            files: BTreeMap::new(),
            settings: BTreeMap::new(),
            apphost: Vec::new(),
        };
        for p in [
            "Hub/appsettings.json",
            "Hub/appsettings.Production.json",
            "Hub/appsettings.Development.json",
            "Hub/sub/appsettings.Production.json",
            "Audit Service/appsettings.Production.json",
        ] {
            model.put_settings(&path(p), b"{}".to_vec());
        }
        assert_eq!(
            model.settings_overlays(&path("Hub/appsettings.json")),
            [
                path("Hub/appsettings.Development.json"),
                path("Hub/appsettings.Production.json")
            ]
        );
        assert!(
            model
                .settings_overlays(&path("Hub/appsettings.Production.json"))
                .is_empty()
        );
    }
}
