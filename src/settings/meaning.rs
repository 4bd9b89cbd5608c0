//! What each [`SettingsChange`] means for the file's .NET view, independent of how the text is
//! edited: the merge's specification. `settings::merge` computes the expected view of every
//! change from the view before it and checks the merged text against it, so a merge that
//! would give the application anything else is an error, never a written file.
//!
//! In .NET's terms (paths compared without regard to case, `A:B` names as paths):
//! - **Add** P = v: if the section P holds anything, nothing changes (the administrator's
//!   value wins, in whatever spelling or form it is written); else v's keys appear under P.
//! - **Set** P = v (only if P = w): if w is given and the section P is not exactly w, nothing
//!   changes; else the section P becomes exactly v.
//! - **Remove** P: the section P is gone.
//! - **Rename** F -> T: the section F is gone; each of its keys F:R appears as T:R, unless the
//!   section T:R already held something before the rename: then the value already under the
//!   new name wins and the old one is dropped (the planner states it as a note). This is the
//!   documented conflict rule: a rename never produces a duplicate key.
//!
//! One allowance: removing keys can leave the object that held them empty (`"Legacy": {}`),
//! which .NET records as a key with a null value. The merge keeps such objects (they may hold
//! the administrator's comments), so the check accepts an empty object at a proper prefix of a
//! removed path.

use super::dotnet::{self, Leaf, View, segments};
use super::syntax::{self, Node};
use super::{KeyPath, SettingsChange, SettingsError};

/// A value a change carries: its JSON text, parsed, and its view at the change's path.
#[derive(Debug)]
pub(super) struct Value {
    pub text: String,
    pub node: Node,
    pub view: View,
}

/// A change with its paths split into segments and its values read.
#[derive(Debug)]
pub(super) enum Meaning {
    Add {
        path: Vec<String>,
        value: Value,
    },
    Set {
        path: Vec<String>,
        value: Value,
        only_if: Option<Value>,
    },
    Remove {
        path: Vec<String>,
    },
    Rename {
        from: Vec<String>,
        to: Vec<String>,
    },
}

/// The view a change must produce, and the empty objects it may leave behind.
pub(super) struct Expected {
    pub view: View,
    husks: Vec<String>,
}

pub(super) fn resolve(change: &SettingsChange) -> Result<Meaning, SettingsError> {
    Ok(match change {
        SettingsChange::Add { key, value_json } => {
            let path = path_of(key)?;
            let value = read_value(key, &path, value_json)?;
            Meaning::Add { path, value }
        }
        SettingsChange::Set {
            key,
            value_json,
            only_if_json,
        } => {
            let path = path_of(key)?;
            let value = read_value(key, &path, value_json)?;
            let only_if = only_if_json
                .as_ref()
                .map(|json| read_value(key, &path, json))
                .transpose()?;
            Meaning::Set {
                path,
                value,
                only_if,
            }
        }
        SettingsChange::Remove { key } => Meaning::Remove {
            path: path_of(key)?,
        },
        SettingsChange::Rename { from, to } => {
            let (from_path, to_path) = (path_of(from)?, path_of(to)?);
            let same =
                from_path.len() == to_path.len() && dotnet::starts_with(&from_path, &to_path);
            if !same
                && (dotnet::starts_with(&from_path, &to_path)
                    || dotnet::starts_with(&to_path, &from_path))
            {
                return Err(SettingsError::Key {
                    key: from.clone(),
                    problem: format!("cannot be moved into or out of itself ({})", to.join(":")),
                });
            }
            Meaning::Rename {
                from: from_path,
                to: to_path,
            }
        }
    })
}

fn path_of(key: &KeyPath) -> Result<Vec<String>, SettingsError> {
    if key.is_empty() {
        return Err(SettingsError::Key {
            key: key.clone(),
            problem: "a change must name a key, not the whole file".into(),
        });
    }
    Ok(segments(key))
}

fn read_value(key: &KeyPath, path: &[String], json: &str) -> Result<Value, SettingsError> {
    let bad = |problem: String| SettingsError::BadValue {
        key: key.clone(),
        problem,
    };
    let node = syntax::parse_value(json).map_err(|e| bad(e.to_string()))?;
    // Written nested, the value sits inside one object per segment (the root included).
    if path.len() + depth(&node) > syntax::MAX_DEPTH {
        return Err(SettingsError::Key {
            key: key.clone(),
            problem: format!(
                "with its value this would nest more than {} levels deep, which .NET refuses",
                syntax::MAX_DEPTH
            ),
        });
    }
    let view = View::of_value(json, path, &node).map_err(|e| bad(e.to_string()))?;
    Ok(Value {
        text: json.to_string(),
        node,
        view,
    })
}

/// The objects and arrays nested in `node`, itself included.
fn depth(node: &Node) -> usize {
    match &node.kind {
        syntax::Kind::Object(members) => {
            1 + members.iter().map(|m| depth(&m.value)).max().unwrap_or(0)
        }
        syntax::Kind::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

impl Meaning {
    /// True if the change leaves a file with view `before` as it is.
    pub fn is_no_op(&self, before: &View) -> bool {
        match self {
            Meaning::Add { path, .. } => before.has_section(path),
            Meaning::Set {
                path,
                value,
                only_if,
            } => {
                let current = section_leaves(before, path);
                only_if
                    .as_ref()
                    .is_some_and(|w| current != section_leaves(&w.view, path))
                    || current == section_leaves(&value.view, path)
            }
            Meaning::Remove { path } => !before.has_section(path),
            Meaning::Rename { from, to } => {
                !before.has_section(from)
                    || (from.len() == to.len() && dotnet::starts_with(from, to))
            }
        }
    }

    /// The view the change must produce from `before`.
    pub fn expected(&self, before: &View) -> Expected {
        if self.is_no_op(before) {
            return Expected {
                view: before.clone(),
                husks: Vec::new(),
            };
        }
        match self {
            Meaning::Add { value, .. } => Expected {
                view: union(before.clone(), &value.view),
                husks: Vec::new(),
            },
            Meaning::Set { path, value, .. } => Expected {
                view: union(before.without_section(path), &value.view),
                husks: proper_prefixes(path),
            },
            Meaning::Remove { path } => Expected {
                view: before.without_section(path),
                husks: proper_prefixes(path),
            },
            Meaning::Rename { from, to } => {
                let mut view = before.without_section(from);
                for entry in before.section(from).values() {
                    let rest = &segments(&[&entry.path])[from.len()..];
                    let target: Vec<String> = to.iter().chain(rest).cloned().collect();
                    if !before.has_section(&target) {
                        view.insert(target.join(":"), entry.leaf.clone());
                    }
                }
                Expected {
                    view,
                    husks: proper_prefixes(from),
                }
            }
        }
    }
}

/// The section's leaves as the application tells them apart, keyed relative to `path`.
fn section_leaves(view: &View, path: &[String]) -> Vec<(String, Leaf)> {
    let mut section = View::default();
    for (relative, entry) in view.section(path) {
        section.insert(relative, entry.leaf);
    }
    section.normalized().into_iter().collect()
}

fn union(mut view: View, added: &View) -> View {
    for (_, entry) in added.entries() {
        view.insert(entry.path.clone(), entry.leaf.clone());
    }
    view
}

fn proper_prefixes(path: &[String]) -> Vec<String> {
    (1..path.len())
        .map(|n| dotnet::fold(&path[..n].join(":")))
        .collect()
}

/// Checks a merged file's view against the expectation. The error names the first key that
/// differs, never a value (values can be secrets).
pub(super) fn check(after: &View, expected: &Expected) -> Result<(), String> {
    // Emptied objects the change may leave are set aside first: they must not count as the
    // children of an empty-object mark either.
    let wanted = expected.view.normalized();
    let mut kept = View::default();
    for (key, entry) in after.entries() {
        let husk = entry.leaf == Leaf::EmptyObject
            && expected.husks.contains(key)
            && expected.view.section(&segments(&[&entry.path])).is_empty();
        if !husk {
            kept.insert(entry.path.clone(), entry.leaf.clone());
        }
    }
    let got = kept.normalized();
    let name = |key: &String| {
        after
            .entries()
            .chain(expected.view.entries())
            .find(|(k, _)| *k == key)
            .map(|(_, e)| e.path.clone())
            .unwrap_or_else(|| key.clone())
    };
    for (key, leaf) in &wanted {
        match got.get(key) {
            Some(found) if found == leaf => {}
            Some(_) => return Err(format!("{} would have a different value", name(key))),
            None => return Err(format!("{} would be missing", name(key))),
        }
    }
    match got.keys().find(|key| !wanted.contains_key(*key)) {
        Some(key) => Err(format!("{} would appear", name(key))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(text: &str) -> View {
        View::of_document(text, &syntax::parse_document(text).unwrap()).unwrap()
    }

    fn key(parts: &[&str]) -> KeyPath {
        parts.iter().map(|p| p.to_string()).collect()
    }

    fn expected(text: &str, change: SettingsChange) -> View {
        resolve(&change).unwrap().expected(&view(text)).view
    }

    #[test]
    fn add_keeps_a_value_in_any_spelling_or_form() {
        let add = || SettingsChange::Add {
            key: key(&["Kestrel", "Limits", "MaxRequestBodySize"]),
            value_json: "52428800".into(),
        };
        for text in [
            r#"{"kestrel": {"limits": {"maxrequestbodysize": 1}}}"#,
            r#"{"Kestrel:Limits:MaxRequestBodySize": 1}"#,
            r#"{"Kestrel": {"Limits:MaxRequestBodySize": {}}}"#,
        ] {
            assert_eq!(expected(text, add()), view(text), "{text}");
        }
        assert_eq!(
            expected("{}", add()),
            view(r#"{"Kestrel": {"Limits": {"MaxRequestBodySize": 52428800}}}"#)
        );
    }

    #[test]
    fn rename_keeps_what_the_new_name_already_has() {
        let got = expected(
            r#"{"EmailSender": {"Url": "old", "Port": 25}, "emailService": {"url": "new"}}"#,
            SettingsChange::Rename {
                from: key(&["EmailSender"]),
                to: key(&["EmailService"]),
            },
        );
        assert_eq!(
            got.normalized(),
            view(r#"{"emailService": {"url": "new", "Port": 25}}"#).normalized()
        );
    }

    #[test]
    fn set_only_if_compares_what_dotnet_reads() {
        let set = |only_if: &str| SettingsChange::Set {
            key: key(&["Port"]),
            value_json: "5673".into(),
            only_if_json: Some(only_if.into()),
        };
        // 5672 and "5672" are the same string to .NET.
        assert_eq!(
            expected(r#"{"port": "5672"}"#, set("5672")),
            view(r#"{"Port": 5673}"#)
        );
        assert_eq!(
            expected(r#"{"port": 1}"#, set("5672")),
            view(r#"{"port": 1}"#)
        );
    }

    #[test]
    fn a_change_deeper_than_dotnet_reads_is_refused() {
        let deep = |n: usize, value: &str| SettingsChange::Add {
            key: (0..n).map(|i| format!("K{i}")).collect(),
            value_json: value.into(),
        };
        assert!(resolve(&deep(64, "1")).is_ok());
        let err = resolve(&deep(64, "{}")).unwrap_err();
        assert!(err.to_string().contains("more than 64 levels"), "{err}");
        assert!(resolve(&deep(63, "{}")).is_ok());
    }

    #[test]
    fn a_rename_into_itself_is_refused() {
        let err = resolve(&SettingsChange::Rename {
            from: key(&["A"]),
            to: key(&["a", "B"]),
        })
        .unwrap_err();
        assert!(err.to_string().contains("into or out of itself"), "{err}");
    }

    #[test]
    fn check_allows_only_empty_objects_left_by_a_removal() {
        let change = resolve(&SettingsChange::Remove {
            key: key(&["Legacy", "CacheDb"]),
        })
        .unwrap();
        let before = view(r#"{"Legacy": {"CacheDb": "x"}}"#);
        let want = change.expected(&before);
        assert_eq!(check(&view(r#"{"Legacy": {}}"#), &want), Ok(()));
        assert_eq!(check(&view(r#"{}"#), &want), Ok(()));
        assert_eq!(
            check(&view(r#"{"Legacy": {"CacheDb": "y"}}"#), &want),
            Err("Legacy:CacheDb would appear".into())
        );
        assert_eq!(
            check(&view(r#"{"Other": {}}"#), &want),
            Err("Other would appear".into())
        );
    }
}
