//! Edits to the text of a settings file, each one splice of the original bytes: remove a
//! member, append a member, rename a member, replace a value. Everything outside the splice
//! stays byte for byte; comments are found with the parser's rules (a comma inside
//! `/* old, unused */` is not a separator).
//!
//! New text follows the habits of the object it goes into: the indentation of that object's own
//! members (the most common one, so one stray line does not decide), its key/value separator,
//! and the file's line ends. Only where the object has no members yet does the file-wide
//! indentation step apply.

use std::collections::BTreeMap;

use super::syntax::{Gap, GapKind, Kind, Member, Node, gaps};

/// A value to write: text kept as it is (moved from elsewhere in the file, or a scalar from a
/// change), or an object or array laid out in the file's style.
#[derive(Clone, Debug)]
pub(super) enum Fragment {
    /// Source text. `indent` is the indentation of the line it came from, so its inner lines
    /// can be shifted to the new place; `None` for single-line text.
    Raw {
        text: String,
        indent: Option<String>,
    },
    Object(Vec<FragmentMember>),
    Array(Vec<Fragment>),
}

/// A member of a [`Fragment::Object`], with the comments that end its line.
#[derive(Clone, Debug)]
pub(super) struct FragmentMember {
    pub name: String,
    pub value: Fragment,
    pub comment: Option<String>,
}

impl Fragment {
    /// A change's value: scalars as written (a 23-digit number stays 23 digits), containers
    /// laid out afresh.
    pub fn of_value(text: &str, node: &Node) -> Fragment {
        match &node.kind {
            Kind::Object(members) => Fragment::Object(
                members
                    .iter()
                    .map(|m| FragmentMember {
                        name: m.key.clone(),
                        value: Fragment::of_value(text, &m.value),
                        comment: None,
                    })
                    .collect(),
            ),
            Kind::Array(items) => {
                Fragment::Array(items.iter().map(|i| Fragment::of_value(text, i)).collect())
            }
            _ => Fragment::Raw {
                text: text[node.start..node.end].to_string(),
                indent: None,
            },
        }
    }

    /// `self` inside objects named by `names` (outermost first), `comment` on the line of the
    /// innermost name.
    pub fn wrapped(self, names: &[String], comment: Option<String>) -> Fragment {
        let mut comment = comment;
        names.iter().rev().fold(self, |inner, name| {
            Fragment::Object(vec![FragmentMember {
                name: name.clone(),
                value: inner,
                comment: comment.take(),
            }])
        })
    }
}

/// JSON text of a name.
pub(super) fn quote(name: &str) -> String {
    serde_json::Value::String(name.to_string()).to_string()
}

/// The file's habits where an object gives no example of its own.
pub(super) struct Style {
    newline: &'static str,
    /// One level of indentation, the most common step from an object's line to its members.
    unit: String,
    separator: String,
}

impl Style {
    pub fn of(text: &str, root: &Node) -> Style {
        let crlf = text.matches("\r\n").count();
        let newline = if crlf * 2 > text.matches('\n').count() {
            "\r\n"
        } else {
            "\n"
        };
        let mut steps = Tally::default();
        let mut separators = Tally::default();
        survey(text, root, &mut steps, &mut separators);
        Style {
            newline,
            unit: steps.most_common().unwrap_or_else(|| "  ".to_string()),
            separator: separators.most_common().unwrap_or_else(|| ": ".to_string()),
        }
    }
}

/// Counts of candidate strings; the most common wins, ties going to the one seen last.
#[derive(Default)]
struct Tally {
    counts: BTreeMap<String, (usize, usize)>,
    seen: usize,
}

impl Tally {
    fn add(&mut self, value: String) {
        self.seen += 1;
        let entry = self.counts.entry(value).or_insert((0, 0));
        entry.0 += 1;
        entry.1 = self.seen;
    }

    fn most_common(&self) -> Option<String> {
        self.counts
            .iter()
            .max_by_key(|(_, (count, last))| (*count, *last))
            .map(|(value, _)| value.clone())
    }
}

fn survey(text: &str, node: &Node, steps: &mut Tally, separators: &mut Tally) {
    match &node.kind {
        Kind::Object(members) => {
            let layout = Layout::of_members(text, node, members);
            if let Some(step) = layout.own_step() {
                steps.add(step);
            }
            for member in members {
                if let Some(sep) = separator_of(text, member) {
                    separators.add(sep);
                }
                survey(text, &member.value, steps, separators);
            }
        }
        Kind::Array(items) => items
            .iter()
            .for_each(|i| survey(text, i, steps, separators)),
        _ => {}
    }
}

/// The text between a member's name and its value, if it is plain (`": "`, `" : "`).
fn separator_of(text: &str, member: &Member) -> Option<String> {
    let between = &text[member.key_end..member.value.start];
    (between.trim_matches([' ', '\t']) == ":").then(|| between.to_string())
}

/// How one object is laid out.
struct Layout {
    /// Indentation of the line the object opens on.
    open_indent: String,
    /// Indentation of its members that stand at the start of a line, most common first.
    member_indent: Option<String>,
    separator: Option<String>,
}

impl Layout {
    fn of_members(text: &str, object: &Node, members: &[Member]) -> Layout {
        let mut indents = Tally::default();
        let mut separators = Tally::default();
        for member in members {
            if let Some(indent) = indent_before(text, member.key_start) {
                indents.add(indent.to_string());
            }
            if let Some(sep) = separator_of(text, member) {
                separators.add(sep);
            }
        }
        Layout {
            open_indent: line_indent(text, object.start).to_string(),
            member_indent: indents.most_common(),
            separator: separators.most_common(),
        }
    }

    fn of(text: &str, object: &Node) -> Layout {
        match &object.kind {
            Kind::Object(members) => Layout::of_members(text, object, members),
            _ => Layout::of_members(text, object, &[]),
        }
    }

    /// The step from the object's line to its members, if the object shows one.
    fn own_step(&self) -> Option<String> {
        let member = self.member_indent.as_ref()?;
        (member.len() > self.open_indent.len() && member.starts_with(&self.open_indent))
            .then(|| member[self.open_indent.len()..].to_string())
    }

    fn unit(&self, style: &Style) -> String {
        self.own_step().unwrap_or_else(|| style.unit.clone())
    }

    fn indent(&self, style: &Style) -> String {
        self.member_indent
            .clone()
            .unwrap_or_else(|| format!("{}{}", self.open_indent, self.unit(style)))
    }

    fn separator(&self, style: &Style) -> String {
        self.separator
            .clone()
            .unwrap_or_else(|| style.separator.clone())
    }
}

/// The whitespace before `at` on its line, if nothing else precedes `at` there.
pub(super) fn indent_before(text: &str, at: usize) -> Option<&str> {
    let start = line_start(text, at);
    let before = &text[start..at];
    before
        .bytes()
        .all(|b| b == b' ' || b == b'\t')
        .then_some(before)
}

fn line_start(text: &str, at: usize) -> usize {
    text[..at].rfind(['\n', '\r']).map(|i| i + 1).unwrap_or(0)
}

/// The leading whitespace of the line holding `at`.
fn line_indent(text: &str, at: usize) -> &str {
    let start = line_start(text, at);
    let line = &text[start..];
    &line[..line.len() - line.trim_start_matches([' ', '\t']).len()]
}

/// Renders `fragment` as the value of a member whose line is indented by `indent`.
fn render(fragment: &Fragment, indent: &str, unit: &str, separator: &str, newline: &str) -> String {
    match fragment {
        Fragment::Raw { text, indent: from } => match from {
            Some(from) => reindent(text, from, indent),
            None => text.clone(),
        },
        Fragment::Object(members) if members.is_empty() => "{}".to_string(),
        Fragment::Array(items) if items.is_empty() => "[]".to_string(),
        Fragment::Object(members) => {
            let inner = format!("{indent}{unit}");
            let last = members.len() - 1;
            let lines: Vec<String> = members
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    format!(
                        "{inner}{}{separator}{}{}{}",
                        quote(&m.name),
                        render(&m.value, &inner, unit, separator, newline),
                        if i == last { "" } else { "," },
                        m.comment
                            .as_ref()
                            .map(|c| format!(" {c}"))
                            .unwrap_or_default()
                    )
                })
                .collect();
            format!("{{{newline}{}{newline}{indent}}}", lines.join(newline))
        }
        Fragment::Array(items) => {
            let inner = format!("{indent}{unit}");
            let lines: Vec<String> = items
                .iter()
                .map(|value| format!("{inner}{}", render(value, &inner, unit, separator, newline)))
                .collect();
            format!(
                "[{newline}{}{newline}{indent}]",
                lines.join(&format!(",{newline}"))
            )
        }
    }
}

/// Moves every line after the first from indentation `from` to `to` (the value keeps its
/// shape relative to its key). Lines that do not start with `from` stay as they are.
fn reindent(text: &str, from: &str, to: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
            if let Some(rest) = line.strip_prefix(from) {
                out.push_str(to);
                out.push_str(rest);
                continue;
            }
        }
        out.push_str(line);
    }
    out
}

fn splice(text: &str, start: usize, end: usize, replacement: &str) -> String {
    let mut out = String::with_capacity(text.len() + replacement.len());
    out.push_str(&text[..start]);
    out.push_str(replacement);
    out.push_str(&text[end..]);
    out
}

/// Applies splices that do not overlap, from the last to the first.
fn splices(text: &str, mut edits: Vec<(usize, usize, String)>) -> String {
    edits.sort_by_key(|(start, _, _)| std::cmp::Reverse(*start));
    edits
        .into_iter()
        .fold(text.to_string(), |t, (s, e, r)| splice(&t, s, e, &r))
}

/// What follows a value up to the end of its line: spaces, comments and its comma.
struct Tail {
    /// Just after the last comment or comma (spaces not included).
    end: usize,
    /// Just after the line end, if the line ends before the next token.
    line_end: Option<usize>,
    /// The comments found, in order.
    comments: Vec<Gap>,
    /// The position of the comma, if it lies in the tail.
    comma: Option<usize>,
    /// Just after the spaces that follow `end`.
    spaces_end: usize,
}

fn tail(text: &str, from: usize, limit: usize) -> Tail {
    let mut out = Tail {
        end: from,
        line_end: None,
        comments: Vec::new(),
        comma: None,
        spaces_end: from,
    };
    for gap in gaps(text, from, limit) {
        match gap.kind {
            GapKind::Space => out.spaces_end = gap.end,
            GapKind::Newline => {
                out.line_end = Some(gap.end);
                break;
            }
            GapKind::LineComment | GapKind::BlockComment => {
                out.comments.push(gap);
                out.end = gap.end;
                out.spaces_end = gap.end;
            }
            GapKind::Comma => {
                out.comma = Some(gap.start);
                out.end = gap.end;
                out.spaces_end = gap.end;
            }
            GapKind::Token => break,
        }
    }
    out
}

fn members_of(object: &Node) -> &[Member] {
    match &object.kind {
        Kind::Object(members) => members,
        _ => &[],
    }
}

/// The comments on the same line after member `index`'s value (they travel with a moved value).
pub(super) fn trailing_comments(text: &str, object: &Node, index: usize) -> Option<String> {
    let member = &members_of(object)[index];
    let t = tail(text, member.value.end, object.end - 1);
    (!t.comments.is_empty()).then(|| {
        t.comments
            .iter()
            .map(|g| &text[g.start..g.end])
            .collect::<Vec<_>>()
            .join(" ")
    })
}

/// Removes member `index` of `object`: its line when it has one to itself, else just its text;
/// the comma that separated it goes with it; comments after it on its line go with it, comments
/// on other lines stay. An object left with nothing but whitespace becomes `{}`.
pub(super) fn remove_member(text: &str, object: &Node, index: usize) -> String {
    let members = members_of(object);
    let member = &members[index];
    let close = object.end - 1;
    let limit = members.get(index + 1).map_or(close, |next| next.key_start);
    let t = tail(text, member.value.end, limit);
    let line_start = indent_before(text, member.key_start).map(|i| member.key_start - i.len());
    let mut edits = Vec::new();
    // The member's comma, when it lies on a later line than the value.
    if let (Some(comma), None) = (member.comma, t.comma) {
        edits.push((comma, comma + 1, String::new()));
    }
    let is_last = index + 1 == members.len();
    match (line_start, t.line_end) {
        (Some(start), Some(end)) => edits.push((start, end, String::new())),
        _ if !is_last => {
            if t.line_end.is_some() {
                // Not alone on its line, but last on it: take the spaces before it instead.
                let before = text[..member.key_start].trim_end_matches([' ', '\t']).len();
                edits.push((before, t.end, String::new()));
            } else {
                edits.push((member.key_start, t.spaces_end, String::new()));
            }
        }
        // The last member, with a closing brace or more on its line.
        _ if member.comma.is_some() => edits.push((member.key_start, t.spaces_end, String::new())),
        _ => edits.push((member.key_start, t.end, String::new())),
    }
    if is_last && member.comma.is_none() && index > 0 {
        // The previous member's comma would now trail: take it, and the blank between it and
        // this member when nothing else is there.
        let previous = members[index - 1]
            .comma
            .expect("members are comma-separated");
        let between = &text[previous + 1..member.key_start];
        let only_blank = between.bytes().all(|b| b.is_ascii_whitespace());
        let inline = !matches!((line_start, t.line_end), (Some(_), Some(_)));
        if inline && only_blank {
            edits.retain(|(start, _, _)| *start < previous);
            edits.push((previous, t.end, String::new()));
        } else {
            edits.push((previous, previous + 1, String::new()));
        }
    }
    let out = splices(text, edits);
    collapse_if_blank(out, object.start)
}

/// `{ <whitespace> }` at `open` becomes `{}`.
fn collapse_if_blank(text: String, open: usize) -> String {
    let inside = &text[open + 1..];
    let blank = inside.len() - inside.trim_start_matches([' ', '\t', '\r', '\n']).len();
    if inside[blank..].starts_with('}') && blank > 0 {
        splice(&text, open + 1, open + 1 + blank, "")
    } else {
        text
    }
}

/// Appends member `name` = `value` to `object`, with `comment` (a moved value's trailing
/// comments) after it on its line.
pub(super) fn insert_member(
    text: &str,
    object: &Node,
    name: &str,
    value: &Fragment,
    comment: Option<&str>,
    style: &Style,
) -> String {
    let layout = Layout::of(text, object);
    let indent = layout.indent(style);
    let unit = layout.unit(style);
    let separator = layout.separator(style);
    let nl = style.newline;
    let member = format!(
        "{}{separator}{}",
        quote(name),
        render(value, &indent, &unit, &separator, nl)
    );
    let close = object.end - 1;
    let Some(last) = members_of(object).last() else {
        return insert_into_empty(text, object, &layout, &indent, &member, comment, nl);
    };
    let comment_text = comment.map(|c| format!(" {c}")).unwrap_or_default();
    // Look for the end of the last member's line after its comma (which may stand on a later
    // line than its value).
    let t = tail(text, last.comma.map_or(last.value.end, |c| c + 1), close);
    let own_comma = last.comma.is_some();
    if let Some(line_end) = t.line_end {
        let comma = if own_comma { "," } else { "" };
        let line = format!("{indent}{member}{comma}{comment_text}{nl}");
        let mut edits = vec![(line_end, line_end, line)];
        if !own_comma {
            edits.push((last.value.end, last.value.end, ",".to_string()));
        }
        return splices(text, edits);
    }
    // Everything up to the closing brace on one line: continue the line.
    let ends_line = comment.is_some_and(|c| c.starts_with("//"));
    let after = if ends_line {
        format!("{nl}{}", layout.open_indent)
    } else {
        String::new()
    };
    if own_comma {
        let at = last.comma.expect("checked") + 1;
        splices(
            text,
            vec![(at, at, format!(" {member},{comment_text}{after}"))],
        )
    } else {
        let at = last.value.end;
        splices(
            text,
            vec![(at, at, format!(", {member}{comment_text}{after}"))],
        )
    }
}

/// Opens up an empty object (keeping any comments in it) for its first member.
fn insert_into_empty(
    text: &str,
    object: &Node,
    layout: &Layout,
    indent: &str,
    member: &str,
    comment: Option<&str>,
    nl: &str,
) -> String {
    let close = object.end - 1;
    let comment_text = comment.map(|c| format!(" {c}")).unwrap_or_default();
    let inside = &text[object.start + 1..close];
    let close_indent = &layout.open_indent;
    if inside.bytes().all(|b| b.is_ascii_whitespace()) {
        let body = format!("{nl}{indent}{member}{comment_text}{nl}{close_indent}");
        return splice(text, object.start + 1, close, &body);
    }
    // Comments inside: the member goes after them, on its own line.
    match indent_before(text, close) {
        Some(before_close) => {
            let at = close - before_close.len();
            splice(text, at, at, &format!("{indent}{member}{comment_text}{nl}"))
        }
        None => {
            let at = text[..close].trim_end_matches([' ', '\t']).len();
            splice(
                text,
                at,
                close,
                &format!("{nl}{indent}{member}{comment_text}{nl}{close_indent}"),
            )
        }
    }
}

/// Gives member `member` a new name, in place.
pub(super) fn rename_member(text: &str, member: &Member, name: &str) -> String {
    splice(text, member.key_start, member.key_end, &quote(name))
}

/// Replaces `node` (a member's value, or an array element) with `value`.
pub(super) fn replace_value(
    text: &str,
    container: &Node,
    node: &Node,
    value: &Fragment,
    style: &Style,
) -> String {
    let layout = Layout::of(text, container);
    let unit = layout.unit(style);
    let indent = indent_before(text, node.start)
        .map(str::to_string)
        .unwrap_or_else(|| line_indent(text, node.start).to_string());
    let separator = layout.separator(style);
    let rendered = render(value, &indent, &unit, &separator, style.newline);
    splice(text, node.start, node.end, &rendered)
}

/// The indentation of the line a member starts on, if it starts the line.
pub(super) fn member_indent(text: &str, member: &Member) -> Option<String> {
    indent_before(text, member.key_start).map(str::to_string)
}

/// The indentation of the line an array element starts on, if it starts the line.
pub(super) fn item_indent(text: &str, item: &Node) -> Option<String> {
    indent_before(text, item.start).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::syntax::parse_document;

    fn remove_at(text: &str, index: usize) -> String {
        let root = parse_document(text).unwrap();
        remove_member(text, &root, index)
    }

    #[test]
    fn removal_takes_the_line_and_the_right_comma() {
        let text = "{\n  \"a\": 1,\n  \"b\": 2, // about b\n  // about c\n  \"c\": 3\n}\n";
        assert_eq!(
            remove_at(text, 0),
            "{\n  \"b\": 2, // about b\n  // about c\n  \"c\": 3\n}\n"
        );
        assert_eq!(
            remove_at(text, 1),
            "{\n  \"a\": 1,\n  // about c\n  \"c\": 3\n}\n"
        );
        assert_eq!(
            remove_at(text, 2),
            "{\n  \"a\": 1,\n  \"b\": 2 // about b\n  // about c\n}\n"
        );
        assert_eq!(remove_at("{\n  \"a\": 1\n}", 0), "{}");
        assert_eq!(remove_at("{ \"a\": 1, \"b\": 2 }", 0), "{ \"b\": 2 }");
        assert_eq!(remove_at("{ \"a\": 1, \"b\": 2 }", 1), "{ \"a\": 1 }");
        assert_eq!(remove_at("{ \"a\": 1, \"b\": 2, }", 1), "{ \"a\": 1, }");
        assert_eq!(
            remove_at("{\"a\": 1 /* x, y */ , \"b\": 2}", 0),
            "{\"b\": 2}"
        );
        assert_eq!(
            remove_at(
                "{\n  \"a\": {\n    \"x\": 1\n  } /* old, unused */,\n  \"b\": 2\n}",
                0
            ),
            "{\n  \"b\": 2\n}"
        );
        assert_eq!(
            remove_at("{\n  \"a\": 1\n  ,\"b\": 2\n}", 0),
            "{\n  \"b\": 2\n}"
        );
        assert_eq!(remove_at("{ // keep\n  \"a\": 1\n}", 0), "{ // keep\n}");
    }

    fn append(text: &str, name: &str, value: &str) -> String {
        let root = parse_document(text).unwrap();
        let style = Style::of(text, &root);
        let node = crate::settings::syntax::parse_value(value).unwrap();
        insert_member(
            text,
            &root,
            name,
            &Fragment::of_value(value, &node),
            None,
            &style,
        )
    }

    #[test]
    fn insertion_follows_the_objects_own_layout() {
        assert_eq!(
            append("{\n  \"a\": 1\n}\n", "b", "2"),
            "{\n  \"a\": 1,\n  \"b\": 2\n}\n"
        );
        assert_eq!(
            append("{\n  \"a\": 1, // c\n}\n", "b", "2"),
            "{\n  \"a\": 1, // c\n  \"b\": 2,\n}\n"
        );
        assert_eq!(
            append("{\n  \"a\": 1 // c\n}\n", "b", "2"),
            "{\n  \"a\": 1, // c\n  \"b\": 2\n}\n"
        );
        assert_eq!(append("{ \"a\": 1 }", "b", "2"), "{ \"a\": 1, \"b\": 2 }");
        assert_eq!(
            append("{}", "b", "{\"c\": [1]}"),
            "{\n  \"b\": {\n    \"c\": [\n      1\n    ]\n  }\n}"
        );
        assert_eq!(
            append("{\r\n\t\"a\" : 1\r\n}", "b", "{\"c\": 2}"),
            "{\r\n\t\"a\" : 1,\r\n\t\"b\" : {\r\n\t\t\"c\" : 2\r\n\t}\r\n}"
        );
        assert_eq!(
            append("{ /* none yet */ }", "b", "2"),
            "{ /* none yet */\n  \"b\": 2\n}"
        );
    }

    #[test]
    fn reindent_keeps_relative_shape() {
        assert_eq!(
            reindent("{\n      \"a\": 1\n    }", "    ", "  "),
            "{\n    \"a\": 1\n  }"
        );
        assert_eq!(reindent("{\n\"a\": 1\n}", "    ", "  "), "{\n\"a\": 1\n}");
    }
}
