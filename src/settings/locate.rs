//! Where a .NET key lives in the text. One key can be written in many places (`"A": {"B": 1}`,
//! `"a:b": 1`, two objects named `A`), so a section is a list of **slots**: the members (or
//! array elements) whose path is at or below it. A new key goes into the deepest object that
//! already exists on its path.

use super::dotnet::{segments, starts_with};
use super::syntax::{Kind, Member, Node};

/// A member of an object, or an element of an array, with the path it has for .NET.
pub(super) struct Slot<'d> {
    /// The object or array holding it.
    pub container: &'d Node,
    pub container_path: Vec<String>,
    /// Its position in the container.
    pub index: usize,
    pub path: Vec<String>,
}

impl<'d> Slot<'d> {
    pub fn member(&self) -> Option<&'d Member> {
        match &self.container.kind {
            Kind::Object(members) => members.get(self.index),
            _ => None,
        }
    }

    pub fn value(&self) -> &'d Node {
        match &self.container.kind {
            Kind::Object(members) => &members[self.index].value,
            Kind::Array(items) => &items[self.index],
            _ => unreachable!("slots are only made for containers"),
        }
    }
}

/// The children of a container with their paths.
fn children<'d>(node: &'d Node, path: &[String]) -> Vec<Slot<'d>> {
    let with = |index: usize, own: Vec<String>| Slot {
        container: node,
        container_path: path.to_vec(),
        index,
        path: path.iter().cloned().chain(own).collect(),
    };
    match &node.kind {
        Kind::Object(members) => members
            .iter()
            .enumerate()
            .map(|(i, m)| with(i, segments(&[&m.key])))
            .collect(),
        Kind::Array(items) => (0..items.len())
            .map(|i| with(i, vec![i.to_string()]))
            .collect(),
        _ => Vec::new(),
    }
}

/// Every slot whose path is at or below `section`, in document order (slots inside a slot
/// found are not listed separately).
pub(super) fn slots_in<'d>(root: &'d Node, section: &[String]) -> Vec<Slot<'d>> {
    let mut out = Vec::new();
    walk(root, &[], section, &mut out);
    out
}

fn walk<'d>(node: &'d Node, path: &[String], section: &[String], out: &mut Vec<Slot<'d>>) {
    for child in children(node, path) {
        if starts_with(&child.path, section) {
            out.push(child);
        } else if starts_with(section, &child.path) {
            walk(child.value(), &child.path, section, out);
        }
    }
}

/// Where a new key goes: into `object` (at `object_path`), named by the rest of the path.
pub(super) struct InsertPoint<'d> {
    pub object: &'d Node,
    #[cfg(test)]
    pub object_path: Vec<String>,
    /// The segments of the key below `object_path`.
    pub rest: Vec<String>,
    /// Write the rest as one flat `A:B` name rather than as nested objects: the way down is
    /// blocked by a value (or an array) that already has the name, and a second member of the
    /// same name would be a duplicate in the eyes of every JSON tool but .NET.
    pub flat: bool,
}

/// The deepest object on `path` that exists (the last one in the file where the same key is
/// written twice), and how the rest of the path is written in it.
pub(super) fn insert_point<'d>(root: &'d Node, path: &[String]) -> InsertPoint<'d> {
    let (mut object, mut object_path) = (root, Vec::new());
    let (mut node, mut node_path) = (root, Vec::new());
    loop {
        let next = children(node, &node_path).into_iter().rev().find(|c| {
            c.path.len() < path.len() && starts_with(path, &c.path) && c.value().is_container()
        });
        let Some(next) = next else { break };
        node = next.value();
        node_path = next.path;
        if matches!(node.kind, Kind::Object(_)) {
            object = node;
            object_path = node_path.clone();
        }
    }
    let rest = path[object_path.len()..].to_vec();
    let blocked = children(object, &object_path)
        .iter()
        .any(|c| c.path.len() < path.len() && starts_with(path, &c.path));
    InsertPoint {
        object,
        #[cfg(test)]
        object_path,
        flat: rest.len() > 1 && (!std::ptr::eq(node, object) || blocked),
        rest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::syntax::parse_document;

    fn path(s: &str) -> Vec<String> {
        segments(&[s])
    }

    fn keys(text: &str, section: &str) -> Vec<String> {
        let root = parse_document(text).unwrap();
        slots_in(&root, &path(section))
            .iter()
            .map(|s| s.path.join(":"))
            .collect()
    }

    #[test]
    fn a_section_is_found_in_every_spelling_and_form() {
        let text = r#"{"EmailSender": {"Url": 1}, "x": 0, "emailsender:Port": 2, "EMAILSENDER": {"a": {"b": 3}}}"#;
        assert_eq!(
            keys(text, "EmailSender"),
            ["EmailSender", "emailsender:Port", "EMAILSENDER"]
        );
        assert_eq!(keys(text, "emailSender:a:B"), ["EMAILSENDER:a:b"]);
        assert_eq!(
            keys(r#"{"L": [{"x": 1}, 2]}"#, "L:0:x"),
            ["L:0:x"],
            "through arrays"
        );
        assert!(keys(text, "EmailSenderX").is_empty());
    }

    fn point(text: &str, key: &str) -> (String, String, bool) {
        let root = parse_document(text).unwrap();
        let p = insert_point(&root, &path(key));
        (p.object_path.join(":"), p.rest.join(":"), p.flat)
    }

    #[test]
    fn new_keys_go_into_the_deepest_existing_object() {
        assert_eq!(point(r#"{}"#, "A:B:C"), ("".into(), "A:B:C".into(), false));
        assert_eq!(
            point(r#"{"a": {"b": {}}}"#, "A:B:C"),
            ("a:b".into(), "C".into(), false)
        );
        assert_eq!(
            point(r#"{"A": {"x": 1}, "a": {"y": 2}}"#, "A:z"),
            ("a".into(), "z".into(), false),
            "the last of two same-named objects"
        );
        assert_eq!(
            point(r#"{"A:B": {}}"#, "a:b:c"),
            ("A:B".into(), "c".into(), false)
        );
        assert_eq!(
            point(r#"{"A": "scalar"}"#, "A:B"),
            ("".into(), "A:B".into(), true),
            "a value in the way: a flat key"
        );
        assert_eq!(
            point(r#"{"L": [1]}"#, "L:1:x"),
            ("".into(), "L:1:x".into(), true),
            "an array in the way: a flat key"
        );
        assert_eq!(
            point(r#"{"L": [{"x": 1}]}"#, "L:0:y"),
            ("L:0".into(), "y".into(), false)
        );
    }
}
