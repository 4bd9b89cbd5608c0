//! Entries for people and for machines: the one-line form of `journal show`, the JSON object of
//! `journal export --json` (schema in README.md, "Journal"), and UTC time formatting.

use std::collections::HashMap;
use std::fmt::Write;

use serde_json::{Map, Value, json};

use super::entry::{Entry, Payload, RunId, RunOutcome};
use crate::op::{FileRepair, Op, OpOutcome};
use crate::version::Step;

/// The ops of every step plan in a set of entries, so that op entries can say what their op
/// does. Build it from the whole journal, then render any subset of it.
pub struct PlanIndex<'a> {
    plans: HashMap<(RunId, Step), &'a [Op]>,
}

impl<'a> PlanIndex<'a> {
    pub fn new(entries: &'a [Entry]) -> PlanIndex<'a> {
        let plans = entries
            .iter()
            .filter_map(|entry| match &entry.payload {
                Payload::StepPlanned { step, ops, .. } => Some(((entry.run, *step), &ops[..])),
                _ => None,
            })
            .collect();
        PlanIndex { plans }
    }

    fn op(&self, run: RunId, step: Step, index: u32) -> Option<&'a Op> {
        let ops = self.plans.get(&(run, step))?;
        ops.get(usize::try_from(index).ok()?)
    }
}

/// The `journal show` line of an entry:
/// `seq  time  run  kind  facts` (the facts depend on the kind).
pub fn show_line(entry: &Entry, plans: &PlanIndex<'_>) -> String {
    format!(
        "{:>7}  {}  {}  {:<16}  {}",
        entry.seq,
        format_utc(entry.timestamp_ms),
        entry.run.short(),
        entry.payload.kind(),
        facts(entry, plans)
    )
}

fn facts(entry: &Entry, plans: &PlanIndex<'_>) -> String {
    let op = |step: &Step, index: &u32| {
        let what = plans
            .op(entry.run, *step, *index)
            .map_or_else(|| "(op not in the plan)".to_string(), Op::describe);
        format!("{step}  op {index}: {what}")
    };
    match &entry.payload {
        Payload::RunStarted {
            from,
            to,
            install_root,
            hubup_version,
            config,
        } => format!(
            "{from} -> {to}  on {}  install {install_root}  hubup {hubup_version}  config {} settings",
            entry.machine,
            config.pairs().len()
        ),
        Payload::StepPlanned {
            step,
            ops,
            package,
            tree_before,
            apphost_before,
        } => format!(
            "{step}  {} ops  package {}  tree {}  apphost {}",
            ops.len(),
            package.short(),
            tree_before.short(),
            apphost_before.short()
        ),
        Payload::OpIntent { step, index } | Payload::OpUndone { step, index } => op(step, index),
        Payload::OpDone {
            step,
            index,
            outcome,
        } => format!("{}  -> {}", op(step, index), describe_outcome(outcome)),
        Payload::OpFailed { step, index, error } => {
            format!("{}  -> failed: {}", op(step, index), one_line(error))
        }
        Payload::HostStateBefore {
            step,
            digest,
            objects,
        } => format!(
            "{step}  machine before the step: {objects} host object(s), digest {}",
            digest.short()
        ),
        Payload::HostObserved { step, index, state } => {
            format!(
                "{}  -> found {}",
                op(step, index),
                one_line(&state.describe())
            )
        }
        Payload::StepCommitted {
            step,
            tree_after,
            apphost_after,
        } => format!(
            "{step}  tree {}  apphost {}",
            tree_after.short(),
            apphost_after.short()
        ),
        Payload::RollbackStarted {
            step,
            reason,
            target,
        } => format!("{step}  back to {target}: {}", one_line(reason)),
        Payload::StepRolledBack {
            step,
            tree_after,
            apphost_after,
            verified,
        } => format!(
            "{step}  tree {}  apphost {}  {}",
            tree_after.short(),
            apphost_after.short(),
            if *verified {
                "restored state verified"
            } else {
                "RESTORED STATE DOES NOT MATCH"
            }
        ),
        Payload::RunResumed {} => String::new(),
        Payload::RunCancelled { step } => step.map_or_else(String::new, |s| s.to_string()),
        Payload::RunFinished { outcome } => match outcome {
            RunOutcome::Completed { version } => format!("completed at {version}"),
            RunOutcome::RolledBack { version } => format!("rolled back to {version}"),
        },
        Payload::Note { step, text } => match step {
            Some(step) => format!("{step}  {}", one_line(text)),
            None => one_line(text),
        },
        Payload::SqlBefore {
            step,
            index,
            before,
        } => format!("{}  before: {}", op(step, index), describe_before(before)),
        Payload::AwaitingDba { step, script } => format!("{step}  waits for a DBA to run {script}"),
        Payload::DbaWorkDone {
            step,
            verified,
            how,
        } => format!(
            "{step}  database work {}: {}",
            if *verified { "checked" } else { "NOT CHECKED" },
            one_line(how)
        ),
        Payload::BackupRemoved { step } => {
            format!("{step}  {} removed", step.from.backup_folder_name())
        }
        Payload::BackupPruning { step } => format!(
            "{step}  {} to be removed (hubup backups prune): no rollback to {} from now on",
            step.from.backup_folder_name(),
            step.from
        ),
        Payload::RepairPlanned { files } => repair_facts(files),
        Payload::RepairDone { files } => format!("{files} file(s) rewritten and flushed"),
    }
}

pub(crate) fn describe_before(before: &crate::op::SqlBefore) -> String {
    match before {
        crate::op::SqlBefore::DatabaseAbsent { server_time, token } => {
            format!("no such database at {server_time} (server clock); creation {token}")
        }
        crate::op::SqlBefore::Login { existed: true } => "the login existed".to_string(),
        crate::op::SqlBefore::Login { existed: false } => "no such login".to_string(),
    }
}

/// `3 file(s) to rewrite: Hub/a.dll (4.1 -> 4.2: 0 bytes -> 1234 bytes 9f2b7272fb45), ...`
fn repair_facts(files: &[FileRepair]) -> String {
    const SHOWN: usize = 5;
    let mut text = format!("{} file(s) to rewrite:", files.len());
    for (n, file) in files.iter().take(SHOWN).enumerate() {
        let found = file.found.map_or_else(
            || "missing".to_string(),
            |f| format!("{} bytes {}", f.size, f.digest.short()),
        );
        text.push_str(&format!(
            "{} {} ({}: {found} -> {} bytes {})",
            if n == 0 { "" } else { "," },
            file.path,
            file.step,
            file.size,
            file.digest.short()
        ));
    }
    if files.len() > SHOWN {
        text.push_str(&format!(", and {} more", files.len() - SHOWN));
    }
    text
}

/// Text on one line: line breaks shown as `\n`, so one entry stays one line.
fn one_line(text: &str) -> String {
    text.replace('\r', "").replace('\n', "\\n")
}

pub(crate) fn describe_outcome(outcome: &OpOutcome) -> String {
    match outcome {
        OpOutcome::Applied => "applied".to_string(),
        OpOutcome::AlreadyPresent => "already present".to_string(),
        OpOutcome::Skipped { reason } => format!("skipped: {}", one_line(reason)),
        OpOutcome::BackedUp { manifest } => format!("backed up, manifest {}", manifest.short()),
    }
}

/// The `journal export --json` object of an entry (schema: README.md, "Journal").
pub fn export_json(entry: &Entry) -> Value {
    json!({
        "seq": entry.seq,
        "time": format_utc(entry.timestamp_ms),
        "timestamp_ms": entry.timestamp_ms,
        "run": entry.run.to_hex(),
        "machine": entry.machine,
        "format": entry.format,
        "prev": entry.prev.to_hex(),
        "hash": entry.hash.to_hex(),
        "payload": payload_json(&entry.payload),
    })
}

/// `{"kind": ..., ...fields}`: serde's JSON form of the payload's fields, under its kind.
fn payload_json(payload: &Payload) -> Value {
    let mut object = Map::new();
    object.insert("kind".to_string(), Value::from(payload.kind()));
    // serde_json writes an enum variant as {"Variant": {fields}}; keep the fields.
    if let Ok(Value::Object(outer)) = serde_json::to_value(payload)
        && let Some(Value::Object(fields)) = outer.into_iter().next().map(|(_, v)| v)
    {
        object.extend(fields);
    }
    Value::Object(object)
}

/// `2026-11-28T19:45:04.123Z`: ISO 8601, UTC, milliseconds.
pub fn format_utc(timestamp_ms: u64) -> String {
    let seconds = timestamp_ms / 1000;
    let millis = timestamp_ms % 1000;
    let days = seconds / 86_400;
    let of_day = seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    let mut out = String::with_capacity(24);
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    );
    out
}

/// `20261128T194504Z`: the same instant to the second, for file names.
pub fn compact_utc(timestamp_ms: u64) -> String {
    let iso = format_utc(timestamp_ms);
    let mut stamp: String = iso[..19]
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect();
    stamp.push('Z');
    stamp
}

/// Year, month, day of a count of days since 1970-01-01 (Howard Hinnant's civil_from_days,
/// for non-negative day counts; any u64 millisecond timestamp fits without overflow).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_formatting_matches_known_instants() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_utc(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(format_utc(1_795_980_304_123), "2026-11-29T19:25:04.123Z");
        assert_eq!(format_utc(4_107_542_399_999), "2100-02-28T23:59:59.999Z");
        assert_eq!(compact_utc(1_795_980_304_123), "20261129T192504Z");
        // The largest timestamp does not overflow.
        assert!(format_utc(u64::MAX).ends_with('Z'));
    }

    #[test]
    fn payload_json_has_kind_and_fields() {
        let step = Step::from_version(crate::version::Version::V4_2).unwrap();
        let value = payload_json(&Payload::OpDone {
            step,
            index: 3,
            outcome: OpOutcome::Applied,
        });
        assert_eq!(value["kind"], "op_done");
        assert_eq!(value["index"], 3);
        assert_eq!(value["step"]["from"], "4.2");
        assert_eq!(value["outcome"], "Applied");
        let resumed = payload_json(&Payload::RunResumed {});
        assert_eq!(resumed, json!({"kind": "run_resumed"}));
    }
}
