//! Update packages (`BluePrismHubAndInteractUpdate4.n.bin`): the manifest format (`manifest.rs`),
//! writing packages (`build.rs`), and verifying a package in full and reading its payload
//! safely (`read.rs`).

mod build;
mod manifest;
mod read;

pub use build::{BuildError, ContentFn, PackageBuilder};
pub use manifest::{
    Deletion, FolderRename, InventoryEntry, MANIFEST_ENTRY, MANIFEST_FORMAT, MAX_MANIFEST_BYTES,
    Manifest, PAYLOAD_PREFIX, PackageFile, PluginUpdate, SettingsEdit,
};
pub use read::{MAX_RATIO, Package, PackageError};
