//! Reading receipts back for `hubup audit diff`: a `hubup report --json` receipt (one
//! [`RunReport`] object), or a `hubup journal export --json` file (one entry object a line,
//! each turned back into an [`Entry`] and every run in it into a receipt).
//!
//! An export cannot be re-hashed (the chain hashes the stored bincode bytes, which it does not
//! carry), so what is checked here is that its entries are in order and each one's `prev` is
//! the hash of the entry before it; the chain itself is checked on the machine with
//! `hubup journal verify`. A file that is neither form is refused naming the file and the
//! line, never half read.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::digest::Digest;
use crate::journal::{Entry, Head, PAYLOAD_KINDS, Payload, RunId};

use super::{REPORT_FORMAT, RunReport};

/// A file `audit diff` cannot read as a receipt or an export.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot read {} as a hubup receipt or journal export: {problem}; give the output of \
     `hubup report --json` or `hubup journal export --json`",
    path.display()
)]
pub struct ReceiptError {
    pub path: PathBuf,
    pub problem: String,
}

/// The receipts in `path`: the one of a `report --json` file, or one per run of a
/// `journal export --json` file, oldest first. Reads only.
pub fn read_receipts(path: &Path) -> Result<Vec<RunReport>, ReceiptError> {
    let fail = |problem: String| ReceiptError {
        path: path.to_path_buf(),
        problem,
    };
    let bytes = std::fs::read(path).map_err(|e| fail(format!("cannot read it ({e})")))?;
    let text = String::from_utf8(bytes).map_err(|_| fail("it is not UTF-8 text".to_string()))?;
    if text.trim().is_empty() {
        return Err(fail("it is empty".to_string()));
    }
    // A receipt is one object (on one line, or pretty-printed); an export has a numeric
    // `format` in each of its lines.
    if let Ok(value) = serde_json::from_str::<Value>(&text)
        && value.get("format").is_some_and(Value::is_string)
    {
        return read_receipt(value).map(|r| vec![r]).map_err(fail);
    }
    let entries = read_export(&text).map_err(fail)?;
    reports_of_export(&entries, path).map_err(fail)
}

fn read_receipt(value: Value) -> Result<RunReport, String> {
    match value.get("format").and_then(Value::as_str) {
        Some(REPORT_FORMAT) => {}
        other => {
            return Err(format!(
                "its format is {other:?}, this hubup reads receipts of format {REPORT_FORMAT:?}"
            ));
        }
    }
    serde_json::from_value(value).map_err(|e| format!("it is not a complete receipt ({e})"))
}

/// The entries of an export, in order, with their links checked.
fn read_export(text: &str) -> Result<Vec<Entry>, String> {
    let mut entries: Vec<Entry> = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let entry = entry_of_line(line).map_err(|e| format!("line {}: {e}", n + 1))?;
        if let Some(before) = entries.last() {
            check_link(before, &entry).map_err(|e| format!("line {}: {e}", n + 1))?;
        }
        entries.push(entry);
    }
    Ok(entries)
}

/// `--run` and `--tail` exports skip entries, so only neighbours by sequence number must link.
fn check_link(before: &Entry, entry: &Entry) -> Result<(), String> {
    if entry.seq <= before.seq {
        return Err(format!(
            "entry {} comes after entry {}: the export is out of order",
            entry.seq, before.seq
        ));
    }
    if entry.seq == before.seq + 1 && entry.prev != before.hash {
        return Err(format!(
            "entry {}'s prev is not the hash of entry {}: the export was changed",
            entry.seq, before.seq
        ));
    }
    Ok(())
}

/// One export line (`journal::export_json`'s object) as the entry it was made from.
fn entry_of_line(line: &str) -> Result<Entry, String> {
    let value: Value =
        serde_json::from_str(line).map_err(|e| format!("not a JSON object ({e})"))?;
    let field = |name: &str| {
        value
            .get(name)
            .ok_or_else(|| format!("no {name:?}: not a journal export entry"))
    };
    let number = |name: &str| {
        field(name)?
            .as_u64()
            .ok_or_else(|| format!("{name:?} is not a number"))
    };
    let text = |name: &str| {
        field(name)?
            .as_str()
            .ok_or_else(|| format!("{name:?} is not text"))
    };
    let digest = |name: &str| {
        text(name)?
            .parse::<Digest>()
            .map_err(|e| format!("{name:?}: {e}"))
    };
    Ok(Entry {
        seq: number("seq")?,
        prev: digest("prev")?,
        hash: digest("hash")?,
        format: u16::try_from(number("format")?).map_err(|_| "\"format\" is too large")?,
        timestamp_ms: number("timestamp_ms")?,
        run: text("run")?
            .parse::<RunId>()
            .map_err(|e| format!("\"run\": {e}"))?,
        machine: text("machine")?.to_string(),
        payload: payload_of(field("payload")?)?,
    })
}

/// `{"kind": "op_done", ...fields}` back into the payload: serde's enum form is
/// `{"OpDone": {fields}}`, and a kind's variant name is its name in CamelCase.
fn payload_of(value: &Value) -> Result<Payload, String> {
    let mut fields: Map<String, Value> = value
        .as_object()
        .cloned()
        .ok_or("\"payload\" is not an object")?;
    let kind = fields
        .remove("kind")
        .and_then(|k| k.as_str().map(str::to_string))
        .ok_or("the payload has no \"kind\"")?;
    if !PAYLOAD_KINDS.contains(&kind.as_str()) {
        return Err(format!(
            "payload kind {kind:?} is unknown to this hubup (written by a newer one?)"
        ));
    }
    let mut tagged = Map::new();
    tagged.insert(camel_case(&kind), Value::Object(fields));
    serde_json::from_value(Value::Object(tagged)).map_err(|e| format!("{kind} payload: {e}"))
}

fn camel_case(kind: &str) -> String {
    kind.split('_')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_ascii_uppercase().to_string() + chars.as_str()
            })
        })
        .collect()
}

/// A receipt per run of the export, in the order the runs started.
fn reports_of_export(entries: &[Entry], path: &Path) -> Result<Vec<RunReport>, String> {
    let Some(last) = entries.last() else {
        return Ok(Vec::new());
    };
    let head = Head {
        seq: last.seq,
        hash: last.hash,
    };
    let mut runs: Vec<RunId> = Vec::new();
    for entry in entries {
        if !runs.contains(&entry.run) {
            runs.push(entry.run);
        }
    }
    let name = path.display().to_string();
    runs.into_iter()
        .map(|run| RunReport::build(entries, run, head, &name, None).map_err(|e| e.to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_become_variant_names() {
        assert_eq!(camel_case("run_started"), "RunStarted");
        assert_eq!(camel_case("op_done"), "OpDone");
        assert_eq!(camel_case("note"), "Note");
    }

    #[test]
    fn a_payload_reads_back_from_its_export_form() {
        let payload = Payload::RunResumed {};
        let exported = crate::journal::export_json(&Entry {
            seq: 1,
            prev: Digest::ZERO,
            hash: Digest::ZERO,
            format: 1,
            timestamp_ms: 5,
            run: RunId([3; 16]),
            machine: "HUB01".into(),
            payload: payload.clone(),
        });
        let entry = entry_of_line(&exported.to_string()).unwrap();
        assert_eq!(entry.payload, payload);
        assert_eq!(entry.machine, "HUB01");
    }
}
