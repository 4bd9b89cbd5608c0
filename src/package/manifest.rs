//! The manifest of an update package (`BluePrismHubAndInteractUpdate4.n.bin`): what one step
//! changes in the install's files, as data. This is a public interface; its JSON form is
//! documented here and in README.md ("Package format").
//!
//! # Package layout
//!
//! A package is a zip archive holding exactly:
//!
//! - `manifest.json`: a [`Manifest`] as JSON (UTF-8, at most [`MAX_MANIFEST_BYTES`]);
//! - `payload/<path>` for every entry of [`Manifest::files`], nothing else. Directories may
//!   appear as explicit entries (`payload/Hub/`) and are ignored.
//!
//! # Path semantics
//!
//! Every path is a [`RelPath`] (relative to the install root, `/`-separated). The step applies
//! in this order, and paths are written accordingly:
//!
//! 1. [`Manifest::renames`]: folder renames, `from` in the source version's layout;
//! 2. [`Manifest::deletions`] and [`Manifest::files`]: paths in the target version's layout
//!    (after the renames);
//! 3. [`Manifest::settings`]: changes merged into settings files (target layout), which the
//!    package never carries whole.
//!
//! For every file a step replaces or deletes, the manifest states the digest it expects to find
//! (the source version's file): a different file there is a local change.
//! [`Manifest::inventory`] lists every product file of the target version with its digest, so
//! that drift can be reported at any time after the step.

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::relpath::RelPath;
use crate::settings::SettingsChange;
use crate::version::Version;

/// Format version of the manifest written by this build.
pub const MANIFEST_FORMAT: u32 = 1;
/// Name of the manifest entry in the zip.
pub const MANIFEST_ENTRY: &str = "manifest.json";
/// Prefix of every payload entry in the zip.
pub const PAYLOAD_PREFIX: &str = "payload/";
/// Upper bound on the manifest's size: a larger one is refused before it is parsed.
pub const MAX_MANIFEST_BYTES: u64 = 64 * 1024 * 1024;

/// What one update package changes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`MANIFEST_FORMAT`] of the writer.
    pub format: u32,
    /// The version this package upgrades from.
    pub from: Version,
    /// The version it upgrades to; always `from.next()`.
    pub to: Version,
    /// Folder renames, applied first.
    #[serde(default)]
    pub renames: Vec<FolderRename>,
    /// Product files removed by the step.
    #[serde(default)]
    pub deletions: Vec<Deletion>,
    /// Product files written by the step (new or replacing), each with a payload entry.
    pub files: Vec<PackageFile>,
    /// Component folders the step adds (e.g. `License Manager` at 4.2).
    #[serde(default)]
    pub new_components: Vec<String>,
    /// Changes merged into settings files.
    #[serde(default)]
    pub settings: Vec<SettingsEdit>,
    /// Hub plugins the step updates (their files are in `files`/`deletions`).
    #[serde(default)]
    pub plugins: Vec<PluginUpdate>,
    /// Every product file of the target version (settings files excluded) with its digest.
    pub inventory: Vec<InventoryEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FolderRename {
    pub from: RelPath,
    pub to: RelPath,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deletion {
    pub path: RelPath,
    /// Digest of the source version's file at `path`.
    pub expected: Digest,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackageFile {
    pub path: RelPath,
    pub size: u64,
    pub digest: Digest,
    /// Digest of the source version's file at `path`, or `None` if the file is new.
    pub replaces: Option<Digest>,
}

impl PackageFile {
    /// The zip entry that holds this file's content.
    pub fn entry_name(&self) -> String {
        format!("{PAYLOAD_PREFIX}{}", self.path)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsEdit {
    /// The settings file, e.g. `Hub/appsettings.json`.
    pub path: RelPath,
    pub changes: Vec<SettingsChange>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PluginUpdate {
    pub name: String,
    pub from: String,
    pub to: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryEntry {
    pub path: RelPath,
    pub size: u64,
    pub digest: Digest,
}
