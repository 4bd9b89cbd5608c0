//! Update packages (`BluePrismHubAndInteractUpdate4.n.bin`): the manifest format, and (planned)
//! verifying a package in full and extracting its payload safely.

mod manifest;

pub use manifest::{
    Deletion, FolderRename, InventoryEntry, MANIFEST_ENTRY, MANIFEST_FORMAT, MAX_MANIFEST_BYTES,
    Manifest, PAYLOAD_PREFIX, PackageFile, PluginUpdate, SettingsEdit,
};
