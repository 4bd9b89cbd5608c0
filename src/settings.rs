//! Component settings files (`appsettings.json`): merging the changes a package describes into
//! the administrator's file, keeping every value they set and the file's formatting and key
//! order wherever a change does not touch it.

use serde::{Deserialize, Serialize};

/// A path to a value inside a settings file: object keys from the top, e.g.
/// `["Logging", "LogLevel", "Default"]`.
pub type KeyPath = Vec<String>;

/// One change to a settings file, as a package's manifest (or hubup's config) describes it.
/// Values are JSON text, so the journal's binary encoding stays schema-free.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    /// Add a key with a default value; a value the administrator already set is kept.
    Add { key: KeyPath, value_json: String },
    /// Move or rename a key, keeping its value.
    Rename { from: KeyPath, to: KeyPath },
    /// Remove a key.
    Remove { key: KeyPath },
    /// Set a value; with `only_if_json`, only when the current value equals it (so a value the
    /// administrator changed on purpose is kept).
    Set {
        key: KeyPath,
        value_json: String,
        only_if_json: Option<String>,
    },
}
