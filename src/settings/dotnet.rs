//! What an application reads from a settings file: the key/value pairs .NET's JSON
//! configuration provider builds from it (`Microsoft.Extensions.Configuration.Json`,
//! `JsonConfigurationFileParser`), here called the file's **view**.
//!
//! The provider's rules, as its source and documentation state them (read, not copied):
//! - Every leaf value gets a key: the property names from the root down, joined with `:`
//!   (`ConfigurationPath.KeyDelimiter`); array elements take their index (`0`, `1`, ...) as
//!   their name. So a property named `"Kestrel:Limits"` is the same key as `Limits` inside
//!   `Kestrel`: a flat `A:B` name is a path.
//! - Keys live in a `Dictionary` built with `StringComparer.OrdinalIgnoreCase`: keys that differ
//!   only in case are one key.
//! - A leaf key that is already present throws `FormatException("A duplicate key '...' was
//!   found.")`, and the application does not start. Two objects with the same name are *not*
//!   an error when their leaves differ: their keys simply all go into the dictionary, which
//!   merges them.
//! - A string's value is its unescaped text; a number's is its text exactly as written;
//!   `true`/`false` become `True`/`False` (`JsonElement.ToString()`).
//! - An empty object (not the root) is recorded as its key with a null value (since .NET 5,
//!   dotnet/runtime#40829), written with the dictionary's indexer, so it overwrites rather
//!   than throws; later releases record an empty array the same way (as an empty string).
//!   Where that would silently discard a value the file gave (`"A": 1, "A": {}`), hubup refuses
//!   the file rather than guess which one the administrator meant.
//!   JSON `null` has been read as an empty string or as null depending on the release.
//!   The view keeps these four cases apart ([`Leaf`]), so two views that are equal here are
//!   equal for every release.
//!
//! Also here: the case folding `OrdinalIgnoreCase` compares with, and the paths of keys.

use std::collections::BTreeMap;

use super::SettingsError;
use super::syntax::{self, Kind, Node};

/// A leaf of the view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Leaf {
    /// A string's content, a number's text, or `True` / `False`.
    Text(String),
    /// JSON `null`.
    Null,
    /// `{}` below the root.
    EmptyObject,
    /// `[]`.
    EmptyArray,
}

impl Leaf {
    /// True for the marks .NET records for empty objects and arrays (no value of their own).
    pub fn is_marker(&self) -> bool {
        matches!(self, Leaf::EmptyObject | Leaf::EmptyArray)
    }

    /// The leaf as the application reads it: .NET records `{}` and `[]` alike, as a key with
    /// a null value, so the two marks are one (shown as the empty object).
    pub fn as_read(&self) -> Leaf {
        match self {
            Leaf::EmptyArray => Leaf::EmptyObject,
            other => other.clone(),
        }
    }
}

/// One key of the view: its path as first spelled in the file, and its leaf.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Entry {
    pub path: String,
    pub leaf: Leaf,
}

/// The configuration a file gives an application: folded path -> entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct View {
    entries: BTreeMap<String, Entry>,
}

/// `OrdinalIgnoreCase` as a key: each character mapped to its simple upper case (the
/// invariant per-character mapping .NET's ordinal comparison uses). Where Unicode has only a
/// multi-character upper case (`ß` -> `SS`), the character stays as it is, as in .NET.
pub(super) fn fold(text: &str) -> String {
    text.chars()
        .map(|c| {
            let mut upper = c.to_uppercase();
            match (upper.next(), upper.next()) {
                (Some(u), None) => u,
                _ => c,
            }
        })
        .collect()
}

/// True if the two names are one key to .NET.
pub(super) fn same_key(a: &str, b: &str) -> bool {
    fold(a) == fold(b)
}

/// The segments of a path: the parts of a [`KeyPath`](super::KeyPath), each split at `:` as
/// .NET splits them.
pub(super) fn segments<S: AsRef<str>>(parts: &[S]) -> Vec<String> {
    if parts.is_empty() {
        return Vec::new();
    }
    let joined: Vec<&str> = parts.iter().map(|p| p.as_ref()).collect();
    joined.join(":").split(':').map(str::to_string).collect()
}

/// True if `prefix` is the start of `path`, segment by segment, ignoring case.
pub(super) fn starts_with(path: &[String], prefix: &[String]) -> bool {
    path.len() >= prefix.len() && path.iter().zip(prefix).all(|(a, b)| same_key(a, b))
}

/// The folded key of a path, and the folded key of the section prefix `P:`.
fn folded_path(path: &[String]) -> String {
    fold(&path.join(":"))
}

impl View {
    /// The view of a whole settings file (its parsed root object).
    ///
    /// Fails as .NET fails on a duplicate leaf key, naming the key and where it was found.
    pub fn of_document(text: &str, root: &Node) -> Result<View, SettingsError> {
        let mut view = View::default();
        let Kind::Object(members) = &root.kind else {
            unreachable!("syntax::parse_document returns an object");
        };
        for member in members {
            view.visit(text, &member.key, member.key_start, &member.value)?;
        }
        Ok(view)
    }

    /// The view of `value` placed at `path` (a change's value).
    pub fn of_value(text: &str, path: &[String], value: &Node) -> Result<View, SettingsError> {
        let mut view = View::default();
        view.visit(text, &path.join(":"), value.start, value)?;
        Ok(view)
    }

    fn visit(
        &mut self,
        text: &str,
        path: &str,
        at: usize,
        node: &Node,
    ) -> Result<(), SettingsError> {
        match &node.kind {
            Kind::Object(members) if members.is_empty() => {
                self.overwrite(text, path, at, Leaf::EmptyObject)?;
            }
            Kind::Object(members) => {
                for member in members {
                    let child = format!("{path}:{}", member.key);
                    self.visit(text, &child, member.key_start, &member.value)?;
                }
            }
            Kind::Array(items) if items.is_empty() => {
                self.overwrite(text, path, at, Leaf::EmptyArray)?;
            }
            Kind::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    self.visit(text, &format!("{path}:{index}"), item.start, item)?;
                }
            }
            scalar => {
                let leaf = match scalar {
                    Kind::String(s) => Leaf::Text(s.clone()),
                    Kind::Number => Leaf::Text(text[node.start..node.end].to_string()),
                    Kind::True => Leaf::Text("True".into()),
                    Kind::False => Leaf::Text("False".into()),
                    _ => Leaf::Null,
                };
                let folded = fold(path);
                if self.entries.contains_key(&folded) {
                    let (line, column) = syntax::position(text, at);
                    return Err(SettingsError::Duplicate {
                        key: self.entries[&folded].path.clone(),
                        line,
                        column,
                    });
                }
                self.entries.insert(
                    folded,
                    Entry {
                        path: path.to_string(),
                        leaf,
                    },
                );
            }
        }
        Ok(())
    }

    /// The dictionary indexer .NET records empty objects and arrays with: it replaces what is
    /// there, keeping the key as first spelled. Where that would silently discard a value the
    /// file gave (`"A": 1, "A": {}`), the file is refused instead: no merge can keep what the
    /// administrator meant there.
    fn overwrite(
        &mut self,
        text: &str,
        path: &str,
        at: usize,
        leaf: Leaf,
    ) -> Result<(), SettingsError> {
        let folded = fold(path);
        match self.entries.get_mut(&folded) {
            Some(existing) if !existing.leaf.is_marker() => {
                let (line, column) = syntax::position(text, at);
                Err(SettingsError::Shadowed {
                    key: existing.path.clone(),
                    line,
                    column,
                })
            }
            Some(existing) => {
                existing.leaf = leaf;
                Ok(())
            }
            None => {
                self.entries.insert(
                    folded,
                    Entry {
                        path: path.to_string(),
                        leaf,
                    },
                );
                Ok(())
            }
        }
    }

    pub fn entries(&self) -> impl Iterator<Item = (&String, &Entry)> {
        self.entries.iter()
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True if the section `path` holds anything: a value at it or any key below it (what
    /// .NET's `GetSection(path)` would find, counting empty objects and arrays as present).
    pub fn has_section(&self, path: &[String]) -> bool {
        let key = folded_path(path);
        let below = format!("{key}:");
        self.entries
            .range(key.clone()..)
            .take_while(|(k, _)| k.starts_with(&key))
            .any(|(k, _)| *k == key || k.starts_with(&below))
    }

    /// The section `path`: its entries keyed by their folded path relative to `path` (`""` for
    /// the value at `path` itself, `":Child"` below it).
    pub fn section(&self, path: &[String]) -> BTreeMap<String, Entry> {
        let key = folded_path(path);
        let below = format!("{key}:");
        self.entries
            .range(key.clone()..)
            .take_while(|(k, _)| k.starts_with(&key))
            .filter(|(k, _)| **k == key || k.starts_with(&below))
            .map(|(k, e)| (k[key.len()..].to_string(), e.clone()))
            .collect()
    }

    /// This view without the section `path`.
    pub fn without_section(&self, path: &[String]) -> View {
        let doomed = self.section(path);
        let key = folded_path(path);
        let mut out = self.clone();
        for relative in doomed.keys() {
            out.entries.remove(&format!("{key}{relative}"));
        }
        out
    }

    /// Adds an entry (replacing one at the same key).
    pub fn insert(&mut self, path: String, leaf: Leaf) {
        self.entries.insert(fold(&path), Entry { path, leaf });
    }

    /// The view as the application can tell it apart: an empty-object or empty-array mark at
    /// a key that also has keys below it adds nothing (the section has children either way),
    /// so it is left out, and the two marks are one ([`Leaf::as_read`]). Keys are folded;
    /// values kept exactly.
    pub fn normalized(&self) -> BTreeMap<String, Leaf> {
        self.entries
            .iter()
            .filter(|(key, entry)| {
                !(entry.leaf.is_marker() && {
                    let below = format!("{key}:");
                    self.entries
                        .range(below.clone()..)
                        .next()
                        .is_some_and(|(k, _)| k.starts_with(&below))
                })
            })
            .map(|(key, entry)| (key.clone(), entry.leaf.as_read()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(text: &str) -> Result<View, SettingsError> {
        let root = syntax::parse_document(text)?;
        View::of_document(text, &root)
    }

    fn pairs(text: &str) -> Vec<(String, Leaf)> {
        view(text)
            .unwrap()
            .entries()
            .map(|(_, e)| (e.path.clone(), e.leaf.clone()))
            .collect()
    }

    fn text(s: &str) -> Leaf {
        Leaf::Text(s.to_string())
    }

    #[test]
    fn keys_are_paths_joined_with_colons_and_arrays_are_indexed() {
        assert_eq!(
            pairs(
                r#"{"Serilog": {"WriteTo": [{"Name": "File"}, "x"]}, "Kestrel:Limits": {"Max": 5}, "On": true, "Off": false, "N": null, "E": {}, "A": []}"#
            ),
            vec![
                ("A".to_string(), Leaf::EmptyArray),
                ("E".to_string(), Leaf::EmptyObject),
                ("Kestrel:Limits:Max".to_string(), text("5")),
                ("N".to_string(), Leaf::Null),
                ("Off".to_string(), text("False")),
                ("On".to_string(), text("True")),
                ("Serilog:WriteTo:0:Name".to_string(), text("File")),
                ("Serilog:WriteTo:1".to_string(), text("x")),
            ]
        );
    }

    #[test]
    fn numbers_keep_their_text() {
        assert_eq!(
            pairs(r#"{"Big": 12345678901234567890123, "F": 1.50, "E": 1E+2}"#),
            vec![
                ("Big".to_string(), text("12345678901234567890123")),
                ("E".to_string(), text("1E+2")),
                ("F".to_string(), text("1.50")),
            ]
        );
    }

    #[test]
    fn duplicates_in_any_spelling_or_form_are_refused_as_dotnet_refuses_them() {
        for dup in [
            r#"{"a": 1, "a": 2}"#,
            r#"{"EmailSender": {"Url": 1}, "emailsender": {"url": 2}}"#,
            r#"{"Kestrel": {"Limits": {"Max": 1}}, "kestrel:limits:max": 2}"#,
            r#"{"A": {"B:C": 1}, "A:b": {"c": 2}}"#,
            r#"{"L": [1], "L:0": 2}"#,
            r#"{"E": {}, "e": 1}"#,
        ] {
            let err = view(dup).unwrap_err();
            assert!(
                matches!(err, SettingsError::Duplicate { .. }),
                "{dup}: {err}"
            );
        }
        let err = view("{\n  \"Url\": 1,\n  \"URL\": 2\n}").unwrap_err();
        assert_eq!(
            err.to_string(),
            "the key \"Url\" appears twice (again at line 3, column 3): .NET reads keys \
             without regard to case and a name with ':' as a path, and refuses to load such a \
             file; keep one of them"
        );
    }

    #[test]
    fn same_named_objects_with_different_leaves_merge() {
        assert_eq!(
            pairs(r#"{"A": {"x": 1}, "a": {"y": 2}, "A:z": 3}"#),
            vec![
                ("A:x".to_string(), text("1")),
                ("a:y".to_string(), text("2")),
                ("A:z".to_string(), text("3")),
            ]
        );
        // An empty object after keys below it is recorded beside them, as in .NET.
        assert_eq!(
            pairs(r#"{"A": {"x": 1}, "A": {}}"#),
            vec![
                ("A".to_string(), Leaf::EmptyObject),
                ("A:x".to_string(), text("1"))
            ]
        );
        // One that would silently discard a value is refused.
        let err = view("{\"A\": 1,\n \"a\": []}").unwrap_err();
        assert_eq!(
            err.to_string(),
            "the key \"A\" is given a value and then, at line 2, column 2, an empty object or \
             array, which .NET reads as no value (the first one is silently lost); keep one of \
             them"
        );
    }

    #[test]
    fn sections_ignore_case_and_respect_segment_boundaries() {
        let v = view(r#"{"Cache": {"Database": "x"}, "CacheSize": 5, "E": {}}"#).unwrap();
        let path = |s: &str| segments(&[s]);
        assert!(v.has_section(&path("cache")));
        assert!(v.has_section(&path("CACHE:database")));
        assert!(!v.has_section(&path("Cache:Size")));
        assert!(v.has_section(&path("e")));
        assert_eq!(
            v.section(&path("cache")).keys().collect::<Vec<_>>(),
            [":DATABASE"]
        );
        let rest = v.without_section(&path("Cache"));
        assert_eq!(rest.len(), 2);
    }

    #[test]
    fn normalized_drops_marks_that_have_children() {
        let v = view(r#"{"A": {}, "A:x": 1, "B": []}"#).unwrap();
        assert_eq!(
            v.normalized().into_iter().collect::<Vec<_>>(),
            vec![
                ("A:X".to_string(), text("1")),
                ("B".to_string(), Leaf::EmptyObject)
            ]
        );
    }

    #[test]
    fn folding_is_ordinal_ignore_case() {
        assert!(same_key("EmailSender", "EMAILSENDER"));
        assert!(same_key("Zoë", "ZOË"));
        assert!(!same_key("straße", "STRASSE"));
        assert!(!same_key("a", "b"));
    }
}
