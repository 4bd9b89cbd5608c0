//! hubup: a crash-safe, journaled upgrader for Blue Prism Hub and Interact 4.0 ... 4.5.
//!
//! The library holds every concept (versions, the journal, packages, fixtures, the planner and
//! executor); the `hubup` binary (`src/main.rs`, `src/cli/`) only parses arguments, calls into
//! it and maps errors to exit codes. The public API is flat: everything a caller needs is
//! re-exported here, and the modules themselves stay private. See ARCHITECTURE.md for the map.

mod apphost;
mod digest;
mod op;
mod package;
mod relpath;
mod secret;
mod settings;
mod version;

pub use apphost::{Edit as AppHostEdit, NewSite};
pub use digest::{BadDigest, Digest};
pub use op::{
    BackedUpFile, BackupOp, CommandLine, CommandOp, CommandPurpose, DeleteFileOp, EditAppHostOp,
    EditSettingsOp, ExternalFile, Op, OpOutcome, Principal, RenameFolderOp, SqlOp, WriteFileOp,
};
pub use package::{
    BOMB_MIN_SIZE, BOMB_RATIO, Deletion, EntryProblem, FolderRename, InventoryEntry,
    MANIFEST_ENTRY, MANIFEST_FORMAT, MAX_MANIFEST_BYTES, MAX_PAYLOAD_BYTES, MAX_RENAMES,
    MAX_ZIP_RECORDS, Manifest, PAYLOAD_PREFIX, Package, PackageError, PackageFile, PluginUpdate,
    SettingsEdit,
};
pub use relpath::{RelPath, UnsafePath};
pub use secret::{BadPassword, Secret};
pub use settings::{Change as SettingsChange, KeyPath};
pub use version::{RangeError, Step, UnknownVersion, Version, steps_between};
