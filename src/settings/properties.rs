//! Property tests of the merge: random settings files in random styles (indentation, line
//! ends, separators, trailing commas, comments holding commas and braces, one-line objects,
//! flat `A:B` names, names differing only in case, same-named objects, BOMs and UTF-16), random
//! change lists; each change is merged and the result read back with .NET's rules.
//!
//! - The result's view equals the view before the change with the change applied, computed
//!   here by a model written separately from `meaning.rs` (a plain map with string prefixes).
//! - Root members no change names stay byte for byte, in their order; a merge that changes
//!   nothing returns the input bytes.
//! - Each change applied a second time changes nothing; the encoding is kept.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::dotnet::{Leaf, View, fold};
use super::*;

// ---------------------------------------------------------------------------------------
// Random documents

#[derive(Clone, Debug)]
enum Value {
    Text(String),
    Number(&'static str),
    Bool(bool),
    Null,
    Array(Vec<Value>, bool),
    Object(Object),
}

#[derive(Clone, Debug)]
struct Object {
    members: Vec<Member>,
    inline: bool,
    trailing_comma: bool,
    inner_comment: Option<&'static str>,
}

#[derive(Clone, Debug)]
struct Member {
    name: &'static str,
    value: Value,
    lead_comment: Option<&'static str>,
    tail_comment: Option<(&'static str, bool)>,
}

#[derive(Clone, Debug)]
struct Style {
    unit: &'static str,
    newline: &'static str,
    separator: &'static str,
    encoding: u8,
}

const NAMES: &[&str] = &[
    "A",
    "a",
    "B",
    "Url",
    "url",
    "Port",
    "EmailSender",
    "emailSender",
    "EmailService",
    "Legacy",
    "CacheDb",
    "Cache",
    "Database",
    "X",
    "A:B",
    "a:Url",
    "Legacy:CacheDb",
];
const COMMENTS: &[&str] = &[
    "// note",
    "/* old, unused */",
    "// \"X\": {\"Y\": 1},",
    "/* } ] , */",
];
const TEXTS: &[&str] = &[
    "x",
    "HubDB",
    "CfDJ8aZ-_9",
    "",
    "a, b // no comment",
    "/* nor */",
    "Zoë 𝄞 \"q\"",
];
const NUMBERS: &[&str] = &["0", "5672", "12345678901234567890123", "-1.50e3"];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(TEXTS).prop_map(|t| Value::Text(t.to_string())),
        prop::sample::select(NUMBERS).prop_map(Value::Number),
        any::<bool>().prop_map(Value::Bool),
        Just(Value::Null),
    ]
}

fn comment() -> impl Strategy<Value = Option<&'static str>> {
    prop::option::weighted(0.25, prop::sample::select(COMMENTS))
}

fn object(value: impl Strategy<Value = Value>) -> impl Strategy<Value = Object> {
    let member = (
        prop::sample::select(NAMES),
        value,
        comment(),
        (comment(), any::<bool>()),
    )
        .prop_map(|(name, value, lead_comment, (tail, before_comma))| Member {
            name,
            value,
            lead_comment,
            tail_comment: tail.map(|t| (t, before_comma)),
        });
    (
        prop::collection::vec(member, 0..6),
        prop::bool::weighted(0.2),
        any::<bool>(),
        comment(),
    )
        .prop_map(|(members, inline, trailing_comma, inner_comment)| Object {
            members,
            inline,
            trailing_comma,
            inner_comment,
        })
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            2 => object(inner.clone()).prop_map(Value::Object),
            1 => (prop::collection::vec(inner, 0..3), any::<bool>())
                .prop_map(|(items, trailing)| Value::Array(items, trailing)),
        ]
    })
}

fn style() -> impl Strategy<Value = Style> {
    (
        prop::sample::select(&["  ", "    ", "\t"][..]),
        prop::sample::select(&["\n", "\r\n"][..]),
        prop::sample::select(&[": ", ":", " : "][..]),
        0u8..4,
    )
        .prop_map(|(unit, newline, separator, encoding)| Style {
            unit,
            newline,
            separator,
            encoding,
        })
}

fn render_value(value: &Value, style: &Style, depth: usize, inline: bool) -> String {
    match value {
        Value::Text(t) => serde_json::to_string(t).unwrap(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
        Value::Array(items, trailing) => {
            let parts: Vec<String> = items
                .iter()
                .map(|i| render_value(i, style, depth, true))
                .collect();
            let comma = if *trailing && !items.is_empty() {
                ","
            } else {
                ""
            };
            format!("[{}{comma}]", parts.join(", "))
        }
        Value::Object(o) => render_object(o, style, depth, inline),
    }
}

fn render_object(o: &Object, style: &Style, depth: usize, inline: bool) -> String {
    let (nl, sep) = (style.newline, style.separator);
    if o.inline || inline {
        // One line: only block comments can stand inside.
        let parts: Vec<String> = o
            .members
            .iter()
            .map(|m| {
                let lead = m
                    .lead_comment
                    .filter(|c| c.starts_with("/*"))
                    .map(|c| format!("{c} "))
                    .unwrap_or_default();
                format!(
                    "{lead}{}{sep}{}",
                    serde_json::to_string(m.name).unwrap(),
                    render_value(&m.value, style, depth + 1, true)
                )
            })
            .collect();
        let comma = if o.trailing_comma && !o.members.is_empty() {
            ","
        } else {
            ""
        };
        return format!("{{ {}{comma} }}", parts.join(", "));
    }
    let indent = style.unit.repeat(depth + 1);
    let close = style.unit.repeat(depth);
    if o.members.is_empty() {
        return match o.inner_comment {
            Some(c) => format!("{{{nl}{indent}{c}{nl}{close}}}"),
            None => "{}".into(),
        };
    }
    let mut out = format!("{{{nl}");
    for (i, m) in o.members.iter().enumerate() {
        if let Some(c) = m.lead_comment {
            out.push_str(&format!("{indent}{c}{nl}"));
        }
        let has_comma = i + 1 < o.members.len() || o.trailing_comma;
        let comma = if has_comma { "," } else { "" };
        let value = render_value(&m.value, style, depth + 1, false);
        let name = serde_json::to_string(m.name).unwrap();
        let tail = match m.tail_comment {
            Some((c, true)) if c.starts_with("/*") => format!(" {c}{comma}"),
            Some((c, _)) => format!("{comma} {c}"),
            None => comma.to_string(),
        };
        out.push_str(&format!("{indent}{name}{sep}{value}{tail}{nl}"));
    }
    out.push_str(&format!("{close}}}"));
    out
}

fn encode(style: &Style, text: &str) -> Vec<u8> {
    let encoding = match style.encoding {
        0 => encoding::Encoding::Utf8,
        1 => encoding::Encoding::Utf8Bom,
        2 => encoding::Encoding::Utf16Le,
        _ => encoding::Encoding::Utf16Be,
    };
    encoding::encode(encoding, text)
}

/// A file .NET loads, its text, and changes aimed at it.
fn case() -> impl Strategy<Value = ((Vec<u8>, String), Vec<SettingsChange>)> {
    document().prop_flat_map(|(bytes, text)| {
        let known: Vec<String> = settings_dotnet_view(&bytes)
            .unwrap()
            .into_iter()
            .map(|(path, _)| path)
            .collect();
        (
            Just((bytes, text)),
            prop::collection::vec(change(known), 1..5),
        )
    })
}

/// A file .NET loads: members that would make it refuse the file are left out.
fn document() -> impl Strategy<Value = (Vec<u8>, String)> {
    (object(value()), style()).prop_map(|(root, style)| {
        let mut kept = Object {
            members: Vec::new(),
            inline: false,
            ..root.clone()
        };
        for member in root.members {
            kept.members.push(member);
            if settings_dotnet_view(render_object(&kept, &style, 0, false).as_bytes()).is_err() {
                kept.members.pop();
            }
        }
        let text = format!(
            "{}{}",
            render_object(&kept, &style, 0, false),
            style.newline
        );
        (encode(&style, &text), text)
    })
}

// ---------------------------------------------------------------------------------------
// Random changes

const SEGMENTS: &[&str] = &[
    "A",
    "a",
    "B",
    "Url",
    "url",
    "Port",
    "EmailSender",
    "EmailService",
    "emailservice",
    "Legacy",
    "CacheDb",
    "Cache",
    "Database",
    "X",
    "0",
    "a:B",
];
const VALUES: &[&str] = &[
    "1",
    "\"v\"",
    "12345678901234567890123",
    "{\"X\": 1}",
    "{}",
    "[]",
    "[1, \"two\"]",
    "true",
    "null",
    "{\"Url\": \"u\", \"Port\": 2}",
    "\"x\"",
];

fn random_key_path() -> impl Strategy<Value = KeyPath> {
    prop::collection::vec(
        prop::sample::select(SEGMENTS).prop_map(str::to_string),
        1..4,
    )
}

/// A key the document has (or a section of one), spelled in another case and split
/// differently (`["legacy:CACHEDB"]` for `Legacy` -> `CacheDb`), or a random key.
fn key_path(known: Vec<String>) -> BoxedStrategy<KeyPath> {
    if known.is_empty() {
        return random_key_path().boxed();
    }
    let respelled = (
        prop::sample::select(known),
        0usize..3,
        0u8..3,
        any::<bool>(),
    )
        .prop_map(|(path, cut, case, split)| {
            let parts: Vec<&str> = path.split(':').collect();
            let keep = parts.len().saturating_sub(cut).max(1);
            let parts: Vec<String> = parts[..keep]
                .iter()
                .map(|p| match case {
                    0 => p.to_string(),
                    1 => p.to_uppercase(),
                    _ => p.to_lowercase(),
                })
                .collect();
            if split { parts } else { vec![parts.join(":")] }
        });
    prop_oneof![2 => respelled, 1 => random_key_path()].boxed()
}

fn change(known: Vec<String>) -> impl Strategy<Value = SettingsChange> {
    let json = || prop::sample::select(VALUES).prop_map(str::to_string);
    let key_path = move || key_path(known.clone());
    prop_oneof![
        (key_path(), json()).prop_map(|(key, value_json)| SettingsChange::Add { key, value_json }),
        (key_path(), json(), prop::option::of(json())).prop_map(
            |(key, value_json, only_if_json)| {
                SettingsChange::Set {
                    key,
                    value_json,
                    only_if_json,
                }
            }
        ),
        key_path().prop_map(|key| SettingsChange::Remove { key }),
        (key_path(), key_path()).prop_map(|(from, to)| SettingsChange::Rename { from, to }),
    ]
}

// ---------------------------------------------------------------------------------------
// The model: a change applied to a view, written without the merge's code

type Map = BTreeMap<String, (String, Leaf)>;

fn map_of(bytes: &[u8]) -> Map {
    let (_, text) = encoding::decode(bytes).unwrap();
    let root = syntax::parse_document(&text).unwrap();
    let view = View::of_document(&text, &root).unwrap();
    view.entries()
        .map(|(k, e)| (k.clone(), (e.path.clone(), e.leaf.clone())))
        .collect()
}

fn joined(key: &KeyPath) -> String {
    key.join(":")
}

/// Keys of `map` at or below `path`, with the rest of their spelled path (`""` or `":x"`).
fn section(map: &Map, path: &str) -> Vec<(String, String, Leaf)> {
    let p = fold(path);
    map.iter()
        .filter(|(k, _)| **k == p || k.starts_with(&format!("{p}:")))
        .map(|(k, (spelled, leaf))| {
            let depth = path.split(':').count();
            let rest: Vec<&str> = spelled.split(':').skip(depth).collect();
            let rest = if rest.is_empty() {
                String::new()
            } else {
                format!(":{}", rest.join(":"))
            };
            (k.clone(), rest, leaf.clone())
        })
        .collect()
}

/// What the application tells apart: empty-object/array marks with keys below are dropped.
fn normalize(map: &Map) -> BTreeMap<String, Leaf> {
    map.iter()
        .filter(|(k, (_, leaf))| {
            !(matches!(leaf, Leaf::EmptyObject | Leaf::EmptyArray)
                && map.keys().any(|other| other.starts_with(&format!("{k}:"))))
        })
        .map(|(k, (_, leaf))| (k.clone(), leaf.as_read()))
        .collect()
}

/// The value a change carries, as keys at `path` (read through a flat name, as .NET does).
fn value_map(path: &str, json: &str) -> Map {
    let doc = format!("{{{}: {json}}}", serde_json::to_string(path).unwrap());
    map_of(doc.as_bytes())
}

fn relative(entries: &[(String, String, Leaf)]) -> BTreeMap<String, Leaf> {
    let map: Map = entries
        .iter()
        .map(|(_, rest, leaf)| (fold(rest), (rest.clone(), leaf.clone())))
        .collect();
    normalize(&map)
}

/// The expected map after `change`, and the keys where an emptied object may remain.
fn model(before: &Map, change: &SettingsChange) -> (Map, Vec<String>) {
    let without = |map: &Map, path: &str| -> Map {
        let doomed: Vec<String> = section(map, path).into_iter().map(|(k, _, _)| k).collect();
        map.iter()
            .filter(|(k, _)| !doomed.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    };
    let prefixes = |path: &str| -> Vec<String> {
        let parts: Vec<&str> = path.split(':').collect();
        (1..parts.len())
            .map(|n| fold(&parts[..n].join(":")))
            .collect()
    };
    match change {
        SettingsChange::Add { key, value_json } => {
            let path = joined(key);
            if !section(before, &path).is_empty() {
                return (before.clone(), vec![]);
            }
            let mut after = before.clone();
            after.extend(value_map(&path, value_json));
            (after, vec![])
        }
        SettingsChange::Set {
            key,
            value_json,
            only_if_json,
        } => {
            let path = joined(key);
            let current = relative(&section(before, &path));
            let wanted = relative(&section(&value_map(&path, value_json), &path));
            let guard = only_if_json
                .as_ref()
                .map(|w| relative(&section(&value_map(&path, w), &path)));
            if guard.is_some_and(|g| g != current) || current == wanted {
                return (before.clone(), vec![]);
            }
            let mut after = without(before, &path);
            after.extend(value_map(&path, value_json));
            (after, prefixes(&path))
        }
        SettingsChange::Remove { key } => {
            let path = joined(key);
            (without(before, &path), prefixes(&path))
        }
        SettingsChange::Rename { from, to } => {
            let (from, to) = (joined(from), joined(to));
            if fold(&from) == fold(&to) {
                return (before.clone(), vec![]);
            }
            let mut after = without(before, &from);
            for (_, rest, leaf) in section(before, &from) {
                let target = format!("{to}{rest}");
                if section(before, &target).is_empty() {
                    after.insert(fold(&target), (target, leaf));
                }
            }
            (after, prefixes(&from))
        }
    }
}

fn assert_matches(got: &Map, want: &Map, husks: &[String]) -> Result<(), TestCaseError> {
    let got: Map = got
        .iter()
        .filter(|(k, (_, leaf))| {
            !(*leaf == Leaf::EmptyObject && husks.contains(k) && !want.contains_key(*k))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    prop_assert_eq!(normalize(&got), normalize(want));
    Ok(())
}

/// The root members no change names: their text must survive byte for byte.
fn untouched_members(text: &str, changes: &[SettingsChange]) -> Vec<String> {
    let named: Vec<String> = changes
        .iter()
        .flat_map(|c| match c {
            SettingsChange::Add { key, .. }
            | SettingsChange::Set { key, .. }
            | SettingsChange::Remove { key } => {
                vec![key.clone()]
            }
            SettingsChange::Rename { from, to } => vec![from.clone(), to.clone()],
        })
        .map(|k| fold(joined(&k).split(':').next().unwrap()))
        .collect();
    let root = syntax::parse_document(text).unwrap();
    let syntax::Kind::Object(members) = &root.kind else {
        unreachable!()
    };
    members
        .iter()
        .filter(|m| !named.contains(&fold(m.key.split(':').next().unwrap())))
        .map(|m| text[m.key_start..m.value.end].to_string())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn merges_give_dotnet_the_changes_and_nothing_else(((bytes, text), changes) in case()) {
        let mut current = bytes.clone();
        let mut applied = Vec::new();
        for change in &changes {
            let before = map_of(&current);
            let merged = match merge_settings(&current, std::slice::from_ref(change)) {
                Ok(m) => m.bytes,
                // Refused on purpose: array elements are not removed or moved, and nothing
                // moves into itself.
                Err(SettingsError::Key { .. }) => break,
                Err(e) => return Err(TestCaseError::fail(format!("{e}\n{change:?}"))),
            };
            let (want, husks) = model(&before, change);
            assert_matches(&map_of(&merged), &want, &husks)?;
            let again = apply_settings_changes(&merged, std::slice::from_ref(change)).unwrap();
            prop_assert!(again == merged, "not idempotent: {:?}", change);
            if normalize(&want) == normalize(&before) && want == before {
                prop_assert!(merged == current, "a change that means nothing edited the file");
            }
            current = merged;
            applied.push(change.clone());
        }
        prop_assert_eq!(encoding::decode(&current).unwrap().0, encoding::decode(&bytes).unwrap().0);
        let (_, out) = encoding::decode(&current).unwrap();
        let mut from = 0;
        for kept in untouched_members(&text, &applied) {
            let at = out[from..].find(&kept);
            prop_assert!(at.is_some(), "lost or reordered: {}\n--- before\n{}\n--- after\n{}", kept, text, out);
            from += at.unwrap() + kept.len();
        }
    }

    #[test]
    fn a_file_dotnet_refuses_is_refused_and_one_it_loads_is_not(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        // Whatever the bytes, the merge either refuses or gives a file the reader accepts.
        if let Ok(out) = apply_settings_changes(&bytes, &[SettingsChange::Add { key: vec!["A".into()], value_json: "1".into() }]) {
            prop_assert!(settings_dotnet_view(&out).is_ok());
        }
    }
}
