//! Snapshot files: expected output committed under `tests/snapshots/`, so that a change in what
//! hubup prints (op order, wording, numbers) shows in review as a change of that file. A test
//! masks what differs between runs (temp paths) before comparing. A mismatch fails with a line
//! diff; `HUBUP_UPDATE_SNAPSHOTS=1 cargo test --test integration NAME` rewrites the files
//! instead, for review with `git diff`.

use std::path::PathBuf;

/// Set (to anything but `0`) to write the snapshots instead of comparing with them.
pub const UPDATE_ENV: &str = "HUBUP_UPDATE_SNAPSHOTS";

/// At most this many lines of diff go into a failure message.
const SHOWN_LINES: usize = 120;
/// Lines around each change that the diff shows unchanged.
const CONTEXT: usize = 3;
/// A longest-common-subsequence table larger than this many cells is not computed; the diff
/// then shows the changed region as removed and added lines.
const MAX_TABLE_CELLS: usize = 4_000_000;

pub fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("snapshots")
        .join(name)
}

/// Compares `actual` with the snapshot `name` (or writes it, with [`UPDATE_ENV`] set).
#[track_caller]
pub fn assert_matches(name: &str, actual: &str) {
    let file = path(name);
    if std::env::var(UPDATE_ENV).is_ok_and(|v| v != "0") {
        std::fs::create_dir_all(file.parent().expect("snapshots have a folder"))
            .expect("create the snapshot folder");
        std::fs::write(&file, actual).expect("write the snapshot");
        eprintln!("wrote snapshot {}", file.display());
        return;
    }
    let expected = std::fs::read_to_string(&file).unwrap_or_else(|e| {
        panic!(
            "cannot read snapshot {} ({e}); write it with {UPDATE_ENV}=1",
            file.display()
        )
    });
    // A checkout may have turned the line ends into CRLF.
    let expected = expected.replace("\r\n", "\n");
    if expected != actual {
        panic!(
            "output differs from snapshot {} (- snapshot, + now). If the change is intended, \
             rewrite it with {UPDATE_ENV}=1 and review `git diff`.\n{}",
            file.display(),
            line_diff(&expected, actual)
        );
    }
}

/// One line of an edit script.
#[derive(Clone, Copy, PartialEq)]
enum Edit<'a> {
    Same(&'a str),
    Removed(&'a str),
    Added(&'a str),
}

/// A diff of two texts, line by line: changed lines with a few unchanged ones around them, each
/// hunk headed by the line numbers where it starts.
pub fn line_diff(expected: &str, actual: &str) -> String {
    let old: Vec<&str> = expected.lines().collect();
    let new: Vec<&str> = actual.lines().collect();
    let prefix = old.iter().zip(&new).take_while(|(a, b)| a == b).count();
    let suffix = old[prefix..]
        .iter()
        .rev()
        .zip(new[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let mut script: Vec<Edit> = old[..prefix].iter().map(|l| Edit::Same(l)).collect();
    script.extend(edit_script(
        &old[prefix..old.len() - suffix],
        &new[prefix..new.len() - suffix],
    ));
    script.extend(old[old.len() - suffix..].iter().map(|l| Edit::Same(l)));
    if old.len() == new.len() && script.iter().all(|e| matches!(e, Edit::Same(_))) {
        return "(the texts differ only in line ends or a final newline)".to_string();
    }
    render(&script)
}

/// The shortest edit script from `old` to `new` (longest common subsequence), or everything
/// removed then added when the table would be too large.
fn edit_script<'a>(old: &[&'a str], new: &[&'a str]) -> Vec<Edit<'a>> {
    if old.len().saturating_mul(new.len()) > MAX_TABLE_CELLS {
        let removed = old.iter().map(|l| Edit::Removed(l));
        return removed.chain(new.iter().map(|l| Edit::Added(l))).collect();
    }
    // common[i][j]: length of the longest common subsequence of old[i..] and new[j..].
    let width = new.len() + 1;
    let mut common = vec![0u32; (old.len() + 1) * width];
    for i in (0..old.len()).rev() {
        for j in (0..new.len()).rev() {
            common[i * width + j] = if old[i] == new[j] {
                common[(i + 1) * width + j + 1] + 1
            } else {
                common[(i + 1) * width + j].max(common[i * width + j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut script = Vec::with_capacity(old.len() + new.len());
    while i < old.len() || j < new.len() {
        if i < old.len() && j < new.len() && old[i] == new[j] {
            script.push(Edit::Same(old[i]));
            (i, j) = (i + 1, j + 1);
        } else if j < new.len()
            && (i == old.len() || common[i * width + j + 1] > common[(i + 1) * width + j])
        {
            script.push(Edit::Added(new[j]));
            j += 1;
        } else {
            script.push(Edit::Removed(old[i]));
            i += 1;
        }
    }
    script
}

/// The changed lines of `script` with [`CONTEXT`] unchanged lines around them, at most
/// [`SHOWN_LINES`] lines.
fn render(script: &[Edit]) -> String {
    let changed: Vec<usize> = (0..script.len())
        .filter(|&k| !matches!(script[k], Edit::Same(_)))
        .collect();
    let near_a_change = |k: usize| {
        changed
            .iter()
            .any(|&c| c.saturating_sub(CONTEXT) <= k && k <= c + CONTEXT)
    };
    let mut out = Vec::new();
    let (mut old_line, mut new_line) = (1, 1);
    let mut in_hunk = false;
    for (k, edit) in script.iter().enumerate() {
        if near_a_change(k) {
            if !in_hunk {
                out.push(format!(
                    "@@ snapshot line {old_line}, output line {new_line} @@"
                ));
                in_hunk = true;
            }
            out.push(match edit {
                Edit::Same(l) => format!(" {l}"),
                Edit::Removed(l) => format!("-{l}"),
                Edit::Added(l) => format!("+{l}"),
            });
        } else {
            in_hunk = false;
        }
        match edit {
            Edit::Same(_) => (old_line, new_line) = (old_line + 1, new_line + 1),
            Edit::Removed(_) => old_line += 1,
            Edit::Added(_) => new_line += 1,
        }
    }
    let hidden = out.len().saturating_sub(SHOWN_LINES);
    out.truncate(SHOWN_LINES);
    if hidden > 0 {
        out.push(format!("... and {hidden} more line(s) of diff"));
    }
    out.join("\n")
}

/// `value` as JSON text for a snapshot: objects and arrays less than `depth` levels deep are
/// spread over lines (indented by two spaces), deeper ones stay on one line, so that a diff
/// shows which element changed without one line per field.
pub fn json_outline(value: &serde_json::Value, depth: usize) -> String {
    let mut out = String::new();
    outline_into(&mut out, value, depth, 0);
    out.push('\n');
    out
}

fn outline_into(out: &mut String, value: &serde_json::Value, depth: usize, level: usize) {
    use serde_json::Value;
    let indent = |level: usize| "  ".repeat(level);
    let compact = |v: &Value| serde_json::to_string(v).expect("JSON values serialize");
    match value {
        Value::Object(map) if level < depth && !map.is_empty() => {
            out.push_str("{\n");
            for (n, (key, item)) in map.iter().enumerate() {
                out.push_str(&format!(
                    "{}{}: ",
                    indent(level + 1),
                    compact(&key.clone().into())
                ));
                outline_into(out, item, depth, level + 1);
                out.push_str(if n + 1 < map.len() { ",\n" } else { "\n" });
            }
            out.push_str(&format!("{}}}", indent(level)));
        }
        Value::Array(items) if level < depth && !items.is_empty() => {
            out.push_str("[\n");
            for (n, item) in items.iter().enumerate() {
                out.push_str(&indent(level + 1));
                outline_into(out, item, depth, level + 1);
                out.push_str(if n + 1 < items.len() { ",\n" } else { "\n" });
            }
            out.push_str(&format!("{}]", indent(level)));
        }
        other => out.push_str(&compact(other)),
    }
}

#[test]
fn the_diff_shows_changed_lines_in_context() {
    let old = "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl\n";
    let new = "a\nb\nc\nD\ne\nf\ng\nh\ni\nj\nk\nl\nm\n";
    assert_eq!(
        line_diff(old, new),
        "@@ snapshot line 1, output line 1 @@\n a\n b\n c\n-d\n+D\n e\n f\n g\n\
         @@ snapshot line 10, output line 10 @@\n j\n k\n l\n+m"
    );
    assert_eq!(
        line_diff("x\n", "x"),
        "(the texts differ only in line ends or a final newline)"
    );
}

#[test]
fn the_outline_keeps_deep_values_on_one_line() {
    let value = serde_json::json!({"steps": [{"ops": [{"a": 1}, {"b": [2]}]}], "to": "4.5"});
    assert_eq!(
        json_outline(&value, 3),
        "{\n  \"steps\": [\n    {\n      \"ops\": [{\"a\":1},{\"b\":[2]}]\n    }\n  ],\n  \
         \"to\": \"4.5\"\n}\n"
    );
    let parsed: serde_json::Value = serde_json::from_str(&json_outline(&value, 4)).unwrap();
    assert_eq!(parsed, value, "the outline is the same JSON");
}
