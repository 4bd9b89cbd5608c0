//! Component settings files (`appsettings.json`): merging the changes a package describes into
//! the administrator's file, keeping every value they set and the file's formatting and key
//! order wherever a change does not touch it.
//!
//! The file is parsed by a small tokenizer that records byte spans (serde_json would lose the
//! formatting); each change is then spliced into the original bytes. What .NET's configuration
//! reader accepts is accepted here too: `//` and `/* */` comments and trailing commas. A UTF-8
//! BOM and CRLF line ends are kept. New keys go at the end of their object, indented like their
//! siblings. Applying the same changes twice gives the same bytes as applying them once.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A path to a value inside a settings file: object keys from the top, e.g.
/// `["Logging", "LogLevel", "Default"]`.
pub type KeyPath = Vec<String>;

/// One change to a settings file, as a package's manifest (or hubup's config) describes it.
/// Values are JSON text, so the journal's binary encoding stays schema-free.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SettingsChange {
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

/// Limits that keep a hostile or broken file from costing more than a settings file should.
const MAX_BYTES: usize = 16 * 1024 * 1024;
const MAX_DEPTH: usize = 64;

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
    #[error("{}: {problem}", show_key(.key))]
    Key { key: KeyPath, problem: String },
    #[error("the value given for {} is not valid JSON: {problem}", show_key(.key))]
    BadValue { key: KeyPath, problem: String },
}

fn show_key(key: &KeyPath) -> String {
    if key.is_empty() {
        "(top level)".to_string()
    } else {
        key.join(":")
    }
}

/// Merges `changes`, in order, into the settings file `original`.
pub fn apply_settings_changes(
    original: &[u8],
    changes: &[SettingsChange],
) -> Result<Vec<u8>, SettingsError> {
    let mut text = decode(original)?.to_string();
    for change in changes {
        text = apply_one(&text, change)?;
    }
    let mut out = Vec::with_capacity(text.len() + 3);
    if original.starts_with(BOM) {
        out.extend_from_slice(BOM);
    }
    out.extend_from_slice(text.as_bytes());
    Ok(out)
}

/// The value at `key`, or `None` if the key is absent.
pub fn settings_value(bytes: &[u8], key: &KeyPath) -> Result<Option<Value>, SettingsError> {
    let text = decode(bytes)?;
    let root = parse(text)?;
    Ok(find(&root, key)?.map(|node| node.to_value(text)))
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

fn decode(bytes: &[u8]) -> Result<&str, SettingsError> {
    if bytes.len() > MAX_BYTES {
        return Err(SettingsError::TooLarge);
    }
    let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
    std::str::from_utf8(bytes).map_err(|e| {
        let (line, column) = position(bytes, e.valid_up_to());
        SettingsError::Syntax {
            line,
            column,
            problem: "not UTF-8 text".into(),
        }
    })
}

fn position(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let column = before.iter().rev().take_while(|b| **b != b'\n').count() + 1;
    (line, column)
}

// ---------------------------------------------------------------------------------------
// The span tree

#[derive(Debug)]
enum Kind {
    Object(Vec<Member>),
    Array(Vec<Node>),
    Scalar,
}

/// A value and the bytes `[start, end)` it occupies.
#[derive(Debug)]
struct Node {
    start: usize,
    end: usize,
    kind: Kind,
}

#[derive(Debug)]
struct Member {
    key: String,
    /// Span of the key token, quotes included.
    key_start: usize,
    key_end: usize,
    value: Node,
}

impl Node {
    fn to_value(&self, text: &str) -> Value {
        match &self.kind {
            Kind::Object(members) => Value::Object(
                members
                    .iter()
                    .map(|m| (m.key.clone(), m.value.to_value(text)))
                    .collect(),
            ),
            Kind::Array(items) => Value::Array(items.iter().map(|i| i.to_value(text)).collect()),
            Kind::Scalar => {
                serde_json::from_str(&text[self.start..self.end]).unwrap_or(Value::Null)
            }
        }
    }
}

struct Parser<'t> {
    text: &'t str,
    bytes: &'t [u8],
    at: usize,
}

fn parse(text: &str) -> Result<Node, SettingsError> {
    let mut parser = Parser {
        text,
        bytes: text.as_bytes(),
        at: 0,
    };
    parser.skip_blank()?;
    let root = parser.value(0)?;
    parser.skip_blank()?;
    if parser.at != parser.bytes.len() {
        return Err(parser.error("unexpected text after the end of the document"));
    }
    if !matches!(root.kind, Kind::Object(_)) {
        return Err(SettingsError::Syntax {
            line: 1,
            column: 1,
            problem: "a settings file must be a JSON object".into(),
        });
    }
    Ok(root)
}

impl Parser<'_> {
    fn error(&self, problem: &str) -> SettingsError {
        let (line, column) = position(self.bytes, self.at);
        SettingsError::Syntax {
            line,
            column,
            problem: problem.to_string(),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    /// Skips whitespace and comments.
    fn skip_blank(&mut self) -> Result<(), SettingsError> {
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\r' | b'\n') => self.at += 1,
                Some(b'/') if self.bytes.get(self.at + 1) == Some(&b'/') => {
                    while self.peek().is_some_and(|b| b != b'\n') {
                        self.at += 1;
                    }
                }
                Some(b'/') if self.bytes.get(self.at + 1) == Some(&b'*') => {
                    let rest = &self.text[self.at + 2..];
                    let close = rest
                        .find("*/")
                        .ok_or_else(|| self.error("unclosed /* comment"))?;
                    self.at += 2 + close + 2;
                }
                _ => return Ok(()),
            }
        }
    }

    fn value(&mut self, depth: usize) -> Result<Node, SettingsError> {
        if depth > MAX_DEPTH {
            return Err(self.error("nested too deeply"));
        }
        let start = self.at;
        match self.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => {
                self.string()?;
                Ok(Node {
                    start,
                    end: self.at,
                    kind: Kind::Scalar,
                })
            }
            Some(b) if b == b'-' || b.is_ascii_alphanumeric() => {
                while self
                    .peek()
                    .is_some_and(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.'))
                {
                    self.at += 1;
                }
                let token = &self.text[start..self.at];
                if serde_json::from_str::<Value>(token).is_err() {
                    self.at = start;
                    return Err(self.error("not a JSON value"));
                }
                Ok(Node {
                    start,
                    end: self.at,
                    kind: Kind::Scalar,
                })
            }
            Some(_) => Err(self.error("expected a value")),
            None => Err(self.error("unexpected end of file")),
        }
    }

    /// Reads a string token and returns its unescaped content.
    fn string(&mut self) -> Result<String, SettingsError> {
        let start = self.at;
        self.at += 1;
        loop {
            match self.peek() {
                Some(b'"') => {
                    self.at += 1;
                    break;
                }
                Some(b'\\') => self.at += 2,
                Some(b'\n') | None => {
                    self.at = start;
                    return Err(self.error("unterminated string"));
                }
                Some(_) => self.at += 1,
            }
        }
        let token = self
            .text
            .get(start..self.at)
            .ok_or_else(|| self.error("broken string"))?;
        match serde_json::from_str::<String>(token) {
            Ok(content) => Ok(content),
            Err(_) => {
                self.at = start;
                Err(self.error("invalid string escape"))
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Node, SettingsError> {
        let start = self.at;
        self.at += 1;
        let mut members = Vec::new();
        loop {
            self.skip_blank()?;
            match self.peek() {
                Some(b'}') => break,
                Some(b'"') => {}
                _ => return Err(self.error("expected a key in quotes or '}'")),
            }
            let key_start = self.at;
            let key = self.string()?;
            let key_end = self.at;
            if members.iter().any(|m: &Member| m.key == key) {
                self.at = key_start;
                return Err(self.error(&format!("duplicate key {key:?}")));
            }
            self.skip_blank()?;
            if self.peek() != Some(b':') {
                return Err(self.error("expected ':' after the key"));
            }
            self.at += 1;
            self.skip_blank()?;
            let value = self.value(depth + 1)?;
            members.push(Member {
                key,
                key_start,
                key_end,
                value,
            });
            self.skip_blank()?;
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b'}') => break,
                _ => return Err(self.error("expected ',' or '}'")),
            }
        }
        self.at += 1;
        Ok(Node {
            start,
            end: self.at,
            kind: Kind::Object(members),
        })
    }

    fn array(&mut self, depth: usize) -> Result<Node, SettingsError> {
        let start = self.at;
        self.at += 1;
        let mut items = Vec::new();
        loop {
            self.skip_blank()?;
            if self.peek() == Some(b']') {
                break;
            }
            items.push(self.value(depth + 1)?);
            self.skip_blank()?;
            match self.peek() {
                Some(b',') => self.at += 1,
                Some(b']') => break,
                _ => return Err(self.error("expected ',' or ']'")),
            }
        }
        self.at += 1;
        Ok(Node {
            start,
            end: self.at,
            kind: Kind::Array(items),
        })
    }
}

/// The node at `key`, or `None` if some key on the way is absent.
fn find<'n>(root: &'n Node, key: &KeyPath) -> Result<Option<&'n Node>, SettingsError> {
    let mut node = root;
    for (depth, part) in key.iter().enumerate() {
        let Kind::Object(members) = &node.kind else {
            return Err(SettingsError::Key {
                key: key.clone(),
                problem: format!("{} is not an object", show_key(&key[..depth].to_vec())),
            });
        };
        match members.iter().find(|m| &m.key == part) {
            Some(member) => node = &member.value,
            None => return Ok(None),
        }
    }
    Ok(Some(node))
}

// ---------------------------------------------------------------------------------------
// Changes

fn apply_one(text: &str, change: &SettingsChange) -> Result<String, SettingsError> {
    match change {
        SettingsChange::Add { key, value_json } => {
            let value = parse_value(key, value_json)?;
            let root = parse(text)?;
            if find(&root, key)?.is_some() {
                return Ok(text.to_string());
            }
            insert(text, &root, key, &value)
        }
        SettingsChange::Set {
            key,
            value_json,
            only_if_json,
        } => {
            let value = parse_value(key, value_json)?;
            let root = parse(text)?;
            let current = find(&root, key)?;
            let current_value = current.map(|n| n.to_value(text));
            if let Some(only_if) = only_if_json {
                let expected = parse_value(key, only_if)?;
                if current_value.as_ref() != Some(&expected) {
                    return Ok(text.to_string());
                }
            }
            match current {
                Some(_) if current_value.as_ref() == Some(&value) => Ok(text.to_string()),
                Some(node) => {
                    let style = Style::of(text);
                    let depth = key.len();
                    let rendered = render_value(&value, &style, depth);
                    Ok(splice(text, node.start, node.end, &rendered))
                }
                None => insert(text, &root, key, &value),
            }
        }
        SettingsChange::Remove { key } => {
            let root = parse(text)?;
            remove(text, &root, key)
        }
        SettingsChange::Rename { from, to } => rename(text, from, to),
    }
}

fn parse_value(key: &KeyPath, json: &str) -> Result<Value, SettingsError> {
    serde_json::from_str(json).map_err(|e| SettingsError::BadValue {
        key: key.clone(),
        problem: e.to_string(),
    })
}

fn splice(text: &str, start: usize, end: usize, replacement: &str) -> String {
    let mut out = String::with_capacity(text.len() + replacement.len());
    out.push_str(&text[..start]);
    out.push_str(replacement);
    out.push_str(&text[end..]);
    out
}

/// The file's formatting habits, read from the file itself.
struct Style {
    newline: &'static str,
    /// One level of indentation.
    unit: String,
    /// Between a key and its value, e.g. `": "`.
    separator: String,
}

impl Style {
    fn of(text: &str) -> Style {
        let newline = if text.contains("\r\n") { "\r\n" } else { "\n" };
        let unit = text
            .lines()
            .map(|l| &l[..l.len() - l.trim_start_matches([' ', '\t']).len()])
            .filter(|indent| !indent.is_empty())
            .min_by_key(|indent| indent.len())
            .unwrap_or("  ")
            .to_string();
        let separator = parse(text)
            .ok()
            .and_then(|root| match root.kind {
                Kind::Object(members) => members
                    .first()
                    .map(|m| text[m.key_end..m.value.start].to_string()),
                _ => None,
            })
            .filter(|s| s.trim() == ":")
            .unwrap_or_else(|| ": ".to_string());
        Style {
            newline,
            unit,
            separator,
        }
    }

    fn indent(&self, depth: usize) -> String {
        self.unit.repeat(depth)
    }
}

/// A value as JSON text for a member at `depth` (the depth of its key, 1 for top-level keys).
fn render_value(value: &Value, style: &Style, depth: usize) -> String {
    match value {
        Value::Object(map) if !map.is_empty() => {
            let mut out = String::from("{");
            let last = map.len() - 1;
            for (i, (k, v)) in map.iter().enumerate() {
                out.push_str(style.newline);
                out.push_str(&style.indent(depth + 1));
                out.push_str(&Value::String(k.clone()).to_string());
                out.push_str(&style.separator);
                out.push_str(&render_value(v, style, depth + 1));
                if i != last {
                    out.push(',');
                }
            }
            out.push_str(style.newline);
            out.push_str(&style.indent(depth));
            out.push('}');
            out
        }
        Value::Array(items) if !items.is_empty() => {
            let mut out = String::from("[");
            let last = items.len() - 1;
            for (i, v) in items.iter().enumerate() {
                out.push_str(style.newline);
                out.push_str(&style.indent(depth + 1));
                out.push_str(&render_value(v, style, depth + 1));
                if i != last {
                    out.push(',');
                }
            }
            out.push_str(style.newline);
            out.push_str(&style.indent(depth));
            out.push(']');
            out
        }
        other => other.to_string(),
    }
}

/// Inserts `key` with `value`, creating missing intermediate objects.
fn insert(text: &str, root: &Node, key: &KeyPath, value: &Value) -> Result<String, SettingsError> {
    // Walk down to the deepest existing object on the way.
    let mut node = root;
    let mut depth = 0;
    while depth < key.len() - 1 {
        let Kind::Object(members) = &node.kind else {
            break;
        };
        match members.iter().find(|m| m.key == key[depth]) {
            Some(m) => {
                node = &m.value;
                depth += 1;
            }
            None => break,
        }
    }
    let Kind::Object(members) = &node.kind else {
        return Err(SettingsError::Key {
            key: key.clone(),
            problem: format!("{} is not an object", show_key(&key[..depth].to_vec())),
        });
    };
    // The rest of the path becomes nested objects around the value.
    let mut nested = value.clone();
    for part in key[depth + 1..].iter().rev() {
        let mut map = serde_json::Map::new();
        map.insert(part.clone(), nested);
        nested = Value::Object(map);
    }
    let style = Style::of(text);
    let member_depth = depth + 1;
    let member = format!(
        "{}{}{}",
        Value::String(key[depth].clone()),
        style.separator,
        render_value(&nested, &style, member_depth)
    );
    Ok(insert_member(
        text,
        node,
        members,
        &member,
        member_depth,
        &style,
    ))
}

fn insert_member(
    text: &str,
    object: &Node,
    members: &[Member],
    member: &str,
    member_depth: usize,
    style: &Style,
) -> String {
    let Some(last) = members.last() else {
        // Empty object: open it up on its own lines.
        let inside = format!(
            "{nl}{indent}{member}{nl}{close}",
            nl = style.newline,
            indent = style.indent(member_depth),
            close = style.indent(member_depth - 1)
        );
        return splice(text, object.start + 1, object.end - 1, &inside);
    };
    let indent = line_indent(text, last.key_start)
        .filter(|i| !i.is_empty() || member_depth == 0)
        .unwrap_or_else(|| style.indent(member_depth));
    let after_value = last.value.end;
    let rest = &text[after_value..object.end - 1];
    let has_trailing_comma = rest.trim_start_matches([' ', '\t']).starts_with(',');
    // The new member goes on a line of its own after the last member's line (keeping a comment
    // that ends that line with it); the comma goes right after the last value.
    let line_end = rest
        .find('\n')
        .map(|i| after_value + i + 1)
        .filter(|end| !text[after_value..*end].contains("/*"));
    match line_end {
        Some(end) if end < object.end => {
            let addition = format!(
                "{indent}{member}{comma}{nl}",
                comma = if has_trailing_comma { "," } else { "" },
                nl = style.newline
            );
            let with_member = splice(text, end, end, &addition);
            if has_trailing_comma {
                with_member
            } else {
                splice(&with_member, after_value, after_value, ",")
            }
        }
        _ => {
            // Everything on one line (`{"a": 1}`): insert inline.
            let insertion = if has_trailing_comma {
                format!(" {member},")
            } else {
                format!(", {member}")
            };
            let at = if has_trailing_comma {
                after_value + rest.find(',').map(|i| i + 1).unwrap_or(0)
            } else {
                after_value
            };
            splice(text, at, at, &insertion)
        }
    }
}

/// The whitespace before `at` on its line, if only whitespace precedes it there.
fn line_indent(text: &str, at: usize) -> Option<String> {
    let line_start = text[..at].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let before = &text[line_start..at];
    before
        .chars()
        .all(|c| c == ' ' || c == '\t')
        .then(|| before.to_string())
}

fn remove(text: &str, root: &Node, key: &KeyPath) -> Result<String, SettingsError> {
    let Some((parent_key, last)) = key.split_last().map(|(l, p)| (p.to_vec(), l)) else {
        return Err(SettingsError::Key {
            key: key.clone(),
            problem: "cannot remove the whole file".into(),
        });
    };
    let Some(parent) = find(root, &parent_key)? else {
        return Ok(text.to_string());
    };
    let Kind::Object(members) = &parent.kind else {
        return Err(SettingsError::Key {
            key: key.clone(),
            problem: format!("{} is not an object", show_key(&parent_key)),
        });
    };
    let Some(position) = members.iter().position(|m| &m.key == last) else {
        return Ok(text.to_string());
    };
    let member = &members[position];
    let (start, end) = if let Some(next) = members.get(position + 1) {
        // Remove this member and its comma; with it its own line if it had one, but not the
        // comments above the next member.
        let comma = text[member.value.end..next.key_start]
            .find(',')
            .map(|i| member.value.end + i + 1)
            .unwrap_or(member.value.end);
        let rest_of_line = &text[comma..next.key_start];
        let end = match rest_of_line.find('\n') {
            Some(i) if rest_of_line[..i].trim().is_empty() => comma + i + 1,
            _ => comma + (rest_of_line.len() - rest_of_line.trim_start_matches([' ', '\t']).len()),
        };
        (line_start_if_blank_before(text, member.key_start), end)
    } else if position > 0 {
        // Last member: remove from the end of the previous value (its comma included).
        let previous = &members[position - 1];
        let after = &text[member.value.end..parent.end - 1];
        let trailing = after
            .trim_start_matches([' ', '\t'])
            .starts_with(',')
            .then(|| member.value.end + after.find(',').map(|i| i + 1).unwrap_or(0));
        let end = trailing.unwrap_or(member.value.end);
        let comma = text[previous.value.end..member.key_start]
            .find(',')
            .map(|i| previous.value.end + i)
            .unwrap_or(previous.value.end);
        let keep_comma = trailing.is_some();
        (if keep_comma { comma + 1 } else { comma }, end)
    } else {
        // The only member: empty the object.
        (parent.start + 1, parent.end - 1)
    };
    Ok(splice(text, start, end, ""))
}

/// The start of `at`'s line if only whitespace precedes `at` on it, else `at`.
fn line_start_if_blank_before(text: &str, at: usize) -> usize {
    let line_start = text[..at].rfind('\n').map(|i| i + 1).unwrap_or(0);
    if text[line_start..at].chars().all(|c| c == ' ' || c == '\t') {
        line_start
    } else {
        at
    }
}

fn rename(text: &str, from: &KeyPath, to: &KeyPath) -> Result<String, SettingsError> {
    let root = parse(text)?;
    let Some(node) = find(&root, from)? else {
        return Ok(text.to_string());
    };
    if find(&root, to)?.is_some() {
        // The administrator (or an earlier run) already has the new key: keep it.
        return remove(text, &root, from);
    }
    let same_parent = from.len() == to.len() && from[..from.len() - 1] == to[..to.len() - 1];
    if same_parent {
        let parent = find(&root, &from[..from.len() - 1].to_vec())?
            .expect("the parent of a found key exists");
        if let Kind::Object(members) = &parent.kind
            && let Some(member) = members.iter().find(|m| Some(&m.key) == from.last())
        {
            let new_key = Value::String(to.last().cloned().unwrap_or_default()).to_string();
            return Ok(splice(text, member.key_start, member.key_end, &new_key));
        }
    }
    let value = node.to_value(text);
    let removed = remove(text, &root, from)?;
    let root = parse(&removed)?;
    insert(&removed, &root, to, &value)
}

#[cfg(test)]
mod tests;
