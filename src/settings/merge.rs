//! How each change edits the text, given what it means (`meaning.rs`) and where its keys are
//! written (`locate.rs`). Every edit is one splice (`edit.rs`) followed by a fresh parse, so no
//! step works from stale positions.
//!
//! - Add: appends the key to the deepest object on its path that exists.
//! - Set: replaces the value in place when the key is written once; otherwise removes every
//!   place it is written and adds it once.
//! - Remove: removes every member that holds part of the section.
//! - Rename: renames a member in place when the new name fits the same object (the key keeps
//!   its position, and a flat `A:B` name stays flat); otherwise moves the value's source text,
//!   with its comments, to the new path. Where the new path already holds something, it moves
//!   the parts underneath one by one, and a value whose new place is taken by one the file
//!   already had is dropped and reported (`meaning.rs` states the rule).

use super::SettingsError;
use super::dotnet::{View, segments, starts_with};
use super::edit::{self, Fragment, Style};
use super::locate::{self, Slot};
use super::meaning::Meaning;
use super::syntax::{self, Kind, Node};

/// A parsed text and its view.
pub(super) struct Doc {
    pub root: Node,
    pub view: View,
}

impl Doc {
    pub fn parse(text: &str) -> Result<Doc, SettingsError> {
        let root = syntax::parse_document(text)?;
        let view = View::of_document(text, &root)?;
        Ok(Doc { root, view })
    }
}

/// Applies one change to `text` (whose parse is `doc`); notes for the plan go to `notes`.
pub(super) fn apply(
    text: &str,
    doc: &Doc,
    meaning: &Meaning,
    notes: &mut Vec<String>,
) -> Result<String, SettingsError> {
    if meaning.is_no_op(&doc.view) {
        return Ok(text.to_string());
    }
    match meaning {
        Meaning::Add { path, value } => insert(
            text,
            &doc.root,
            path,
            Fragment::of_value(&value.text, &value.node),
            None,
        ),
        Meaning::Set { path, value, .. } => {
            let fragment = Fragment::of_value(&value.text, &value.node);
            let slots = locate::slots_in(&doc.root, path);
            if let [slot] = slots.as_slice()
                && slot.path.len() == path.len()
            {
                let style = Style::of(text, &doc.root);
                return Ok(edit::replace_value(
                    text,
                    slot.container,
                    slot.value(),
                    &fragment,
                    &style,
                ));
            }
            let removed = remove_all(text, path)?;
            let root = syntax::parse_document(&removed)?;
            insert(&removed, &root, path, fragment, None)
        }
        Meaning::Remove { path } => remove_all(text, path),
        Meaning::Rename { from, to } => rename(text, doc, from, to, notes),
    }
}

/// Writes `fragment` at `path`, which holds nothing yet.
fn insert(
    text: &str,
    root: &Node,
    path: &[String],
    fragment: Fragment,
    comment: Option<&str>,
) -> Result<String, SettingsError> {
    let point = locate::insert_point(root, path);
    let (name, value, comment) = if point.flat || point.rest.len() == 1 {
        (point.rest.join(":"), fragment, comment)
    } else {
        let value = fragment.wrapped(&point.rest[1..], comment.map(str::to_string));
        (point.rest[0].clone(), value, None)
    };
    let style = Style::of(text, root);
    Ok(edit::insert_member(
        text,
        point.object,
        &name,
        &value,
        comment,
        &style,
    ))
}

/// An error for a path that reaches into an array: hubup adds and replaces array elements
/// but does not remove or move them (the elements after would change their keys).
fn array_element(path: &[String]) -> SettingsError {
    SettingsError::Key {
        key: path.to_vec(),
        problem: "is an element of an array; hubup does not remove or move array elements".into(),
    }
}

/// Removes every member that holds part of the section `path`.
fn remove_all(text: &str, path: &[String]) -> Result<String, SettingsError> {
    let mut text = text.to_string();
    loop {
        let root = syntax::parse_document(&text)?;
        let slots = locate::slots_in(&root, path);
        let Some(slot) = slots.first() else {
            return Ok(text);
        };
        if slot.member().is_none() {
            return Err(array_element(&slot.path));
        }
        text = remove_slot(&text, slot)?;
    }
}

/// Removes a member. If that leaves its object empty while the object's key is written
/// elsewhere too (`"A": 1, "A": {"x": 2}`), the empty object goes as well: .NET would record
/// it as a null value that overwrites the other one. Otherwise an emptied object stays (it may
/// hold the administrator's comments).
///
/// An emptied object inside an array (`"A": ["x"], "A": [{"x": 2}]`) cannot go by itself, as
/// the elements after it would change their keys; the member holding the array goes instead
/// when nothing in it holds a value, and the change is refused when something does.
fn remove_slot(text: &str, slot: &Slot<'_>) -> Result<String, SettingsError> {
    let mut out = edit::remove_member(text, slot.container, slot.index);
    // Removal happens inside the object, so its opening brace keeps its offset.
    let mut open = slot.container.start;
    loop {
        let root = syntax::parse_document(&out)?;
        let chain = steps_to(&root, open);
        let Some(emptied) = chain.last() else {
            return Ok(out);
        };
        if !matches!(&emptied.node().kind, Kind::Object(m) if m.is_empty()) {
            return Ok(out);
        }
        // The nearest member at or above the emptied object that holds no value at all.
        let hollow = chain
            .iter()
            .rev()
            .take_while(|step| is_hollow(step.node()))
            .find(|step| matches!(step.container.kind, Kind::Object(_)));
        let Some(hollow) = hollow else {
            return refuse_if_it_hides_a_value(&root, emptied, out);
        };
        let trial = edit::remove_member(&out, hollow.container, hollow.index);
        // A trial .NET would misread (it empties an object beside a same-named value) is not
        // taken: `out` reads as the change wants.
        let still_written = Doc::parse(&trial).is_ok_and(|doc| doc.view.has_section(&emptied.path));
        if !still_written {
            return Ok(out);
        }
        open = hollow.container.start;
        out = trial;
    }
}

/// A step down the document: element `index` of `container`, at `path`.
struct Step<'d> {
    container: &'d Node,
    index: usize,
    path: Vec<String>,
}

impl<'d> Step<'d> {
    fn node(&self) -> &'d Node {
        match &self.container.kind {
            Kind::Object(members) => &members[self.index].value,
            Kind::Array(items) => &items[self.index],
            _ => unreachable!("only containers hold elements"),
        }
    }
}

/// The steps from the root to the container that opens at byte `open`, outermost first.
fn steps_to<'d>(root: &'d Node, open: usize) -> Vec<Step<'d>> {
    let mut out: Vec<Step<'d>> = Vec::new();
    let mut node = root;
    loop {
        let path = out.last().map(|s| s.path.clone()).unwrap_or_default();
        let children: Vec<(usize, &Node, Vec<String>)> = match &node.kind {
            Kind::Object(members) => members
                .iter()
                .enumerate()
                .map(|(i, m)| (i, &m.value, segments(&[&m.key])))
                .collect(),
            Kind::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| (i, item, vec![i.to_string()]))
                .collect(),
            _ => return Vec::new(),
        };
        let Some((index, child, own)) = children
            .into_iter()
            .find(|(_, child, _)| child.start <= open && open < child.end)
        else {
            return Vec::new();
        };
        out.push(Step {
            container: node,
            index,
            path: path.into_iter().chain(own).collect(),
        });
        if child.start == open {
            return out;
        }
        node = child;
    }
}

/// A container with nothing but empty containers in it gives .NET no value.
fn is_hollow(node: &Node) -> bool {
    match &node.kind {
        Kind::Object(members) => members.iter().all(|m| is_hollow(&m.value)),
        Kind::Array(items) => items.iter().all(is_hollow),
        _ => false,
    }
}

/// An emptied object inside an array that comes after a plain value with the same key would
/// overwrite that value with null, and hubup does not remove array elements: refuse. Otherwise
/// (nothing written there before, or only objects and arrays, whose keys below survive) keep
/// `out`.
fn refuse_if_it_hides_a_value(
    root: &Node,
    emptied: &Step<'_>,
    out: String,
) -> Result<String, SettingsError> {
    let open = emptied.node().start;
    let hides = locate::slots_in(root, &emptied.path).iter().any(|slot| {
        slot.path.len() == emptied.path.len()
            && !slot.value().is_container()
            && slot.value().start < open
    });
    if hides {
        return Err(array_element(&emptied.path));
    }
    Ok(out)
}
/// A value to write at a path as part of a move.
struct Move {
    path: Vec<String>,
    fragment: Fragment,
    comment: Option<String>,
}

fn rename(
    text: &str,
    doc: &Doc,
    from: &[String],
    to: &[String],
    notes: &mut Vec<String>,
) -> Result<String, SettingsError> {
    let original = &doc.view;
    let mut text = text.to_string();
    let mut dropped = Vec::new();
    loop {
        let current = Doc::parse(&text)?;
        let slots = locate::slots_in(&current.root, from);
        let Some(slot) = slots.first() else { break };
        let Some(member) = slot.member() else {
            return Err(array_element(&slot.path));
        };
        let rest = &slot.path[from.len()..];
        let target: Vec<String> = to.iter().chain(rest).cloned().collect();
        if !current.view.has_section(&target)
            && let Some(name) = in_place_name(slot, &target)
        {
            text = edit::rename_member(&text, member, &name);
            continue;
        }
        let mut moves = Vec::new();
        plan_moves(
            &text,
            &current.view,
            original,
            &member.value,
            Origin {
                indent: edit::member_indent(&text, member),
                comment: edit::trailing_comments(&text, slot.container, slot.index),
            },
            target,
            &mut moves,
            &mut dropped,
        );
        text = remove_slot(&text, slot)?;
        for step in moves {
            let root = syntax::parse_document(&text)?;
            text = insert(
                &text,
                &root,
                &step.path,
                step.fragment,
                step.comment.as_deref(),
            )?;
        }
    }
    if !dropped.is_empty() {
        notes.push(format!(
            "{} -> {}: the file already had {}; kept those values and removed the old ones",
            from.join(":"),
            to.join(":"),
            dropped.join(", ")
        ));
    }
    Ok(text)
}

/// The new name of a member renamed in place, if the target fits its object: the object's
/// path starts the target, and the new name is one segment or the old one was flat already.
fn in_place_name(slot: &Slot<'_>, target: &[String]) -> Option<String> {
    let member = slot.member()?;
    if !starts_with(target, &slot.container_path) {
        return None;
    }
    let name = &target[slot.container_path.len()..];
    let was_flat = segments(&[&member.key]).len() > 1;
    (name.len() == 1 || was_flat).then(|| name.join(":"))
}

/// Where a moved value came from: its line's indentation and the comments after it.
struct Origin {
    indent: Option<String>,
    comment: Option<String>,
}

/// The writes that move `node` to `target`: whole where the target is free, else its parts.
#[allow(clippy::too_many_arguments)]
fn plan_moves(
    text: &str,
    current: &View,
    original: &View,
    node: &Node,
    origin: Origin,
    target: Vec<String>,
    moves: &mut Vec<Move>,
    dropped: &mut Vec<String>,
) {
    let occupied = current.has_section(&target);
    match &node.kind {
        Kind::Object(members) if occupied && !members.is_empty() => {
            for (index, member) in members.iter().enumerate() {
                let child: Vec<String> = target
                    .iter()
                    .cloned()
                    .chain(segments(&[&member.key]))
                    .collect();
                let origin = Origin {
                    indent: edit::member_indent(text, member),
                    comment: edit::trailing_comments(text, node, index),
                };
                plan_moves(
                    text,
                    current,
                    original,
                    &member.value,
                    origin,
                    child,
                    moves,
                    dropped,
                );
            }
        }
        Kind::Array(items) if occupied && !items.is_empty() => {
            for (index, item) in items.iter().enumerate() {
                let mut child = target.clone();
                child.push(index.to_string());
                let origin = Origin {
                    indent: edit::item_indent(text, item),
                    comment: None,
                };
                plan_moves(text, current, original, item, origin, child, moves, dropped);
            }
        }
        _ if !original.has_section(&target) => moves.push(Move {
            path: target,
            fragment: Fragment::Raw {
                text: text[node.start..node.end].to_string(),
                indent: origin.indent,
            },
            comment: origin.comment,
        }),
        _ if node.is_empty_container() => {}
        _ => dropped.push(target.join(":")),
    }
}
