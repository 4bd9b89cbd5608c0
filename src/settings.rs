//! Component settings files (`appsettings.json` and its environment overlays
//! `appsettings.{Environment}.json`): merging the changes a package describes into the
//! administrator's file so that the application reads exactly what the changes say, keeping
//! every other value, comment and byte of formatting.
//!
//! The applications read these files with .NET's JSON configuration provider, so that is the
//! reader the merge is written for (`dotnet.rs`): keys are compared without regard to case, a
//! `"A:B"` name is the path `A` -> `B`, two objects of the same name are merged, a duplicate
//! key stops the application, and comments and trailing commas are allowed (`syntax.rs`).
//!
//! A merge: decode the bytes (`encoding.rs`: UTF-8 with or without BOM, UTF-16, UTF-32),
//! parse with .NET's rules, then for each change: work out what the change means for the
//! file's view (`meaning.rs`), edit the text (`merge.rs`, finding keys with `locate.rs` and
//! splicing with `edit.rs`), parse the result again with .NET's rules and check that its view
//! is the expected one. A merge that does not load, or gives the application anything but the
//! expected view, is an error naming the change: nothing is written. The text goes back in its
//! own encoding; when nothing changes, the original bytes are returned as they were. Applying
//! the same changes twice gives the same bytes as applying them once.

mod dotnet;
mod edit;
mod encoding;
mod locate;
mod meaning;
mod merge;
mod syntax;

use serde::{Deserialize, Serialize};

/// A path to a value inside a settings file: object keys from the top, e.g.
/// `["Logging", "LogLevel", "Default"]`. A part holding `:` is split there, as .NET splits it.
pub type KeyPath = Vec<String>;

/// One change to a settings file, as a package's manifest (or hubup's config) describes it.
/// Values are JSON text, so the journal's binary encoding stays schema-free. Keys match as
/// .NET matches them (any case, nested or flat `A:B` names).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SettingsChange {
    /// Add a key with a default value; a value the administrator already set (in any spelling
    /// or form) is kept.
    Add { key: KeyPath, value_json: String },
    /// Move or rename a key, keeping its value. Where the new key already holds a value, that
    /// value is kept and the old one removed (the plan says so).
    Rename { from: KeyPath, to: KeyPath },
    /// Remove a key.
    Remove { key: KeyPath },
    /// Set a value; with `only_if_json`, only when the current value equals it as .NET reads
    /// it (so a value the administrator changed on purpose is kept).
    Set {
        key: KeyPath,
        value_json: String,
        only_if_json: Option<String>,
    },
}

/// Limits that keep a hostile or broken file from costing more than a settings file should.
const MAX_BYTES: usize = 16 * 1024 * 1024;

/// A settings file or change that cannot be applied. Nothing is written when this is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("not valid JSON at line {line}, column {column}: {problem}")]
    Syntax {
        line: usize,
        column: usize,
        problem: String,
    },
    #[error("the file is larger than {MAX_BYTES} bytes")]
    TooLarge,
    #[error(
        "the key {key:?} appears twice (again at line {line}, column {column}): .NET reads keys \
         without regard to case and a name with ':' as a path, and refuses to load such a file; \
         keep one of them"
    )]
    Duplicate {
        key: String,
        line: usize,
        column: usize,
    },
    #[error(
        "the key {key:?} is given a value and then, at line {line}, column {column}, an empty \
         object or array, which .NET reads as no value (the first one is silently lost); keep \
         one of them"
    )]
    Shadowed {
        key: String,
        line: usize,
        column: usize,
    },
    #[error("{}: {problem}", show_key(.key))]
    Key { key: KeyPath, problem: String },
    #[error("the value given for {} is not valid JSON: {problem}", show_key(.key))]
    BadValue { key: KeyPath, problem: String },
    /// The merge produced text that does not load as planned: a defect in hubup.
    #[error(
        "hubup's merge of \"{change}\" went wrong ({problem}); nothing was written. This is a \
         bug in hubup: please report it with the settings file (remove secrets first)"
    )]
    MergeBug { change: String, problem: String },
}

fn show_key(key: &KeyPath) -> String {
    if key.is_empty() {
        "(top level)".to_string()
    } else {
        key.join(":")
    }
}

/// The result of a merge: the new bytes and what the planner should tell the administrator
/// (for example a rename onto a key the file already had).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MergedSettings {
    pub bytes: Vec<u8>,
    pub notes: Vec<String>,
}

/// Merges `changes`, in order, into the settings file `original`.
pub fn apply_settings_changes(
    original: &[u8],
    changes: &[SettingsChange],
) -> Result<Vec<u8>, SettingsError> {
    merge_settings(original, changes).map(|m| m.bytes)
}

/// Merges `changes`, in order, into the settings file `original`, checking each step against
/// .NET's reading of the result (see the module doc). Pure: reads nothing but its arguments.
pub fn merge_settings(
    original: &[u8],
    changes: &[SettingsChange],
) -> Result<MergedSettings, SettingsError> {
    if original.len() > MAX_BYTES {
        return Err(SettingsError::TooLarge);
    }
    let (encoding, mut text) = encoding::decode(original)?;
    let mut doc = merge::Doc::parse(&text)?;
    let mut notes = Vec::new();
    let mut changed = false;
    for change in changes {
        let meaning = meaning::resolve(change)?;
        let expected = meaning.expected(&doc.view);
        let next = merge::apply(&text, &doc, &meaning, &mut notes)?;
        if next == text {
            continue;
        }
        let bug = |problem: String| SettingsError::MergeBug {
            change: describe(change),
            problem,
        };
        let next_doc = merge::Doc::parse(&next)
            .map_err(|e| bug(format!("the merged text does not load: {e}")))?;
        meaning::check(&next_doc.view, &expected).map_err(bug)?;
        (text, doc, changed) = (next, next_doc, true);
    }
    let bytes = if changed {
        encoding::encode(encoding, &text)
    } else {
        original.to_vec()
    };
    Ok(MergedSettings { bytes, notes })
}

/// A change in words, for messages and receipts (keys only: values can be secrets).
pub(crate) fn describe(change: &SettingsChange) -> String {
    match change {
        SettingsChange::Add { key, .. } => format!("add {}", show_key(key)),
        SettingsChange::Set { key, .. } => format!("set {}", show_key(key)),
        SettingsChange::Remove { key } => format!("remove {}", show_key(key)),
        SettingsChange::Rename { from, to } => {
            format!("rename {} to {}", show_key(from), show_key(to))
        }
    }
}

/// The changes of a package that apply to an environment overlay (`appsettings.Production.json`)
/// of the file they were written for. An overlay overrides the base file key by key, so:
/// renames and removals apply wherever the overlay holds the old key (else the production
/// override would silently stop applying, or keep a key the version dropped); a `Set` applies
/// only where the overlay holds the key (its old value would override the new one); an `Add`
/// never does (a default in the overlay would override the administrator's base value).
pub fn settings_overlay_changes(
    overlay: &[u8],
    changes: &[SettingsChange],
) -> Result<Vec<SettingsChange>, SettingsError> {
    let mut current = overlay.to_vec();
    let mut kept = Vec::new();
    for change in changes {
        let (_, text) = encoding::decode(&current)?;
        let view = merge::Doc::parse(&text)?.view;
        let holds = |key: &KeyPath| view.has_section(&dotnet::segments(key));
        let applies = match change {
            SettingsChange::Add { .. } => false,
            SettingsChange::Set { key, .. } | SettingsChange::Remove { key } => holds(key),
            SettingsChange::Rename { from, .. } => holds(from),
        };
        if applies {
            current = apply_settings_changes(&current, std::slice::from_ref(change))?;
            kept.push(change.clone());
        }
    }
    Ok(kept)
}

/// The value .NET reads for `key` (`configuration["A:B"]`): `None` if the file has no value
/// there (absent, an object, or JSON `null`).
pub fn settings_value(bytes: &[u8], key: &KeyPath) -> Result<Option<String>, SettingsError> {
    Ok(settings_dotnet_view(bytes)?
        .into_iter()
        .find(|(path, _)| dotnet::fold(path) == dotnet::fold(&dotnet::segments(key).join(":")))
        .and_then(|(_, value)| value))
}

/// Every key .NET reads from a settings file, as first spelled in it, with its value (`None`
/// for JSON `null` and empty objects, `""` for empty arrays, as current .NET records them),
/// sorted without regard to case. Fails as .NET fails to load the file.
pub fn settings_dotnet_view(bytes: &[u8]) -> Result<Vec<(String, Option<String>)>, SettingsError> {
    if bytes.len() > MAX_BYTES {
        return Err(SettingsError::TooLarge);
    }
    let (_, text) = encoding::decode(bytes)?;
    let doc = merge::Doc::parse(&text)?;
    Ok(doc
        .view
        .entries()
        .map(|(_, entry)| {
            let value = match &entry.leaf {
                dotnet::Leaf::Text(text) => Some(text.clone()),
                dotnet::Leaf::EmptyArray => Some(String::new()),
                dotnet::Leaf::Null | dotnet::Leaf::EmptyObject => None,
            };
            (entry.path.clone(), value)
        })
        .collect())
}

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
