//! Update packages (`BluePrismHubAndInteractUpdate4.n.bin`): the manifest format
//! (`manifest.rs`), writing and signing packages (`build.rs`), signatures and which signers
//! are trusted (`signature.rs`), and reading a package safely: verifying it
//! in full before use and streaming its files out (`read.rs`, with the zip-level checks in
//! `archive.rs`, the manifest rules in `validate.rs`, the limits in `limits.rs` and the errors
//! in `error.rs`); and the vendor's other zip, the Interact API Service release, from which
//! `vbo.rs` takes the Interact API VBO.

mod archive;
mod build;
mod error;
mod limits;
mod manifest;
mod read;
mod signature;
mod validate;
mod vbo;

pub use build::{BuildError, ContentFn, PackageBuilder, SignError, sign_package};
pub use error::{EntryProblem, PackageError};
pub use limits::{BOMB_MIN_SIZE, BOMB_RATIO, MAX_PAYLOAD_BYTES, MAX_RENAMES, MAX_ZIP_RECORDS};
pub use manifest::{
    Deletion, FolderRename, InventoryEntry, MANIFEST_ENTRY, MANIFEST_FORMAT, MAX_MANIFEST_BYTES,
    Manifest, PAYLOAD_PREFIX, PackageFile, PluginUpdate, SettingsEdit,
};
pub use read::Package;
pub use signature::{
    Acceptance, BadKey, FIXTURE_SIGNER, KeyFileError, MAX_SIGNATURE_BYTES, PackageTrust, PublicKey,
    SIGNATURE_ENTRY, SIGNATURE_FORMAT, SIGNED_CONTEXT, Signer, SigningKey, fixture_signing_key,
};
pub use vbo::{
    INTERACT_RELEASE_ENTRY, INTERACT_VBO, MAX_RELEASE_BYTES, ReleaseComponent, VboError,
    VboRelease, interact_vbo_release, single_object_release,
};
