//! Building a [`RunReport`] from a run's journal entries: one pass over them in journal order,
//! each entry moving the state of its step or op on; the changes (files, databases, grants,
//! settings) are then read off each step's journaled plan with the state its ops reached.

use crate::journal::{
    Entry, Head, MACHINE_ID_KEY, OPERATOR_KEY, Payload, PlanIndex, RunId, RunOutcome,
    describe_before, describe_outcome, format_utc, show_line,
};
use crate::op::{Op, SqlOp};
use crate::version::Step;

use super::{
    ConfigValue, FileChange, FileChangeKind, JournalProof, OpReport, OpStatus, Probe,
    REPORT_FORMAT, ReportMachine, RunReport, RunResult, SettingsFileChange, SqlChange, StepOutcome,
    StepReport,
};

/// Why no receipt can be made for a run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    /// The entries hold none of the run, or not its first one (`RunStarted`): a journal cut
    /// or an export filtered with `--tail`.
    #[error(
        "{source_name} holds no run_started entry of run {run}: a receipt needs the run from \
         its first entry (export the whole journal, without --tail)"
    )]
    NotStarted { run: RunId, source_name: String },
}

/// A step as the pass builds it: its report and its journaled plan.
struct Draft {
    report: StepReport,
    ops: Vec<Op>,
}

impl RunReport {
    /// The receipt of `run`, from `entries` (the journal's, oldest first: every entry of the
    /// run must be there; other runs' entries are skipped). `head` is the journal's head,
    /// `source_name` where the entries were read (shown in the receipt), `machine_id` the
    /// journal's id for runs that did not record it in their config view.
    pub fn build(
        entries: &[Entry],
        run: RunId,
        head: Head,
        source_name: &str,
        machine_id: Option<String>,
    ) -> Result<RunReport, ReportError> {
        let not_started = || ReportError::NotStarted {
            run,
            source_name: source_name.to_string(),
        };
        let mine: Vec<&Entry> = entries.iter().filter(|e| e.run == run).collect();
        let (first, last) = match (mine.first(), mine.last()) {
            (Some(first), Some(last)) => (*first, *last),
            _ => return Err(not_started()),
        };
        let mut report = started(first, head, source_name, machine_id).ok_or_else(not_started)?;
        report.journal.run_entries = mine.len() as u64;
        report.journal.run_last_seq = last.seq;
        report.journal.run_last_hash = last.hash;
        let plans = PlanIndex::new(entries);
        let mut drafts: Vec<Draft> = Vec::new();
        for entry in &mine[1..] {
            observe(&mut report, &mut drafts, entry, &plans);
        }
        for draft in drafts {
            read_changes(&mut report, &draft);
            report.steps.push(draft.report);
        }
        if let RunResult::Completed { .. } = report.outcome {
            let view: Vec<(String, String)> = report
                .config
                .iter()
                .map(|c| (c.key.clone(), c.value.clone()))
                .collect();
            report.checklist = super::end_of_run_checklist(report.from, report.to, &view);
        }
        Ok(report)
    }
}

/// The report as the run's first entry starts it; `None` if that entry is not `RunStarted`.
fn started(
    first: &Entry,
    head: Head,
    source_name: &str,
    machine_id: Option<String>,
) -> Option<RunReport> {
    let Payload::RunStarted {
        from,
        to,
        install_root,
        hubup_version,
        config,
    } = &first.payload
    else {
        return None;
    };
    let recorded = |key: &str| config.get(key).map(str::to_string);
    Some(RunReport {
        format: REPORT_FORMAT.to_string(),
        run: first.run,
        machine: ReportMachine {
            name: first.machine.clone(),
            id: recorded(MACHINE_ID_KEY).or(machine_id),
        },
        operator: recorded(OPERATOR_KEY),
        started: format_utc(first.timestamp_ms),
        ended: None,
        from: *from,
        to: *to,
        outcome: RunResult::Unfinished,
        hubup_version: hubup_version.clone(),
        install_root: install_root.clone(),
        config: config
            .pairs()
            .iter()
            .map(|(key, value)| ConfigValue {
                key: key.clone(),
                value: value.clone(),
            })
            .collect(),
        steps: Vec::new(),
        files: Vec::new(),
        databases: Vec::new(),
        grants: Vec::new(),
        settings: Vec::new(),
        probes: Vec::new(),
        checklist: Vec::new(),
        events: Vec::new(),
        journal: JournalProof {
            path: source_name.to_string(),
            run_entries: 0,
            run_last_seq: first.seq,
            run_last_hash: first.hash,
            head_seq: head.seq,
            head_hash: head.hash,
        },
    })
}

/// Moves the report on by one entry of the run.
fn observe(report: &mut RunReport, drafts: &mut Vec<Draft>, entry: &Entry, plans: &PlanIndex) {
    match &entry.payload {
        Payload::StepPlanned {
            step,
            ops,
            package,
            tree_before,
            apphost_before,
        } => drafts.push(Draft {
            report: StepReport {
                step: *step,
                package: *package,
                tree_before: *tree_before,
                apphost_before: *apphost_before,
                outcome: StepOutcome::Open,
                tree_after: None,
                apphost_after: None,
                rollback_reason: None,
                restored_verified: None,
                host_state_before: None,
                ops: ops.iter().zip(0u32..).map(planned).collect(),
            },
            ops: ops.clone(),
        }),
        Payload::OpIntent { step, index } => {
            set_op(draft(drafts, *step), *index, OpStatus::Started, None);
        }
        Payload::OpDone {
            step,
            index,
            outcome,
        } => set_op(
            draft(drafts, *step),
            *index,
            OpStatus::Done,
            Some(describe_outcome(outcome)),
        ),
        Payload::OpFailed { step, index, error } => {
            set_op(draft(drafts, *step), *index, OpStatus::Failed, None);
            if let Some(op) = op_mut(draft(drafts, *step), *index) {
                op.error = Some(error.clone());
            }
        }
        Payload::OpUndone { step, index } => {
            set_op(draft(drafts, *step), *index, OpStatus::Undone, None);
        }
        Payload::HostStateBefore {
            step,
            digest,
            objects,
        } => {
            if let Some(step) = draft(drafts, *step) {
                step.host_state_before = Some((*digest, *objects));
            }
        }
        Payload::HostObserved { step, index, state } => {
            report
                .probes
                .push(probe(draft(drafts, *step), *step, *index, state.describe()));
        }
        Payload::SqlBefore {
            step,
            index,
            before,
        } => report.probes.push(probe(
            draft(drafts, *step),
            *step,
            *index,
            describe_before(before),
        )),
        Payload::StepCommitted {
            step,
            tree_after,
            apphost_after,
        } => {
            if let Some(step) = draft(drafts, *step) {
                step.outcome = StepOutcome::Committed;
                step.tree_after = Some(*tree_after);
                step.apphost_after = Some(*apphost_after);
            }
        }
        Payload::StepRolledBack {
            step,
            tree_after,
            apphost_after,
            verified,
        } => {
            if let Some(step) = draft(drafts, *step) {
                step.outcome = StepOutcome::RolledBack;
                step.tree_after = Some(*tree_after);
                step.apphost_after = Some(*apphost_after);
                step.restored_verified = Some(*verified);
            }
            report.events.push(show_line(entry, plans));
        }
        Payload::RollbackStarted { step, reason, .. } => {
            if let Some(step) = draft(drafts, *step) {
                step.rollback_reason = Some(reason.clone());
            }
            report.events.push(show_line(entry, plans));
        }
        Payload::RunFinished { outcome } => {
            report.outcome = match outcome {
                RunOutcome::Completed { version } => RunResult::Completed { version: *version },
                RunOutcome::RolledBack { version } => RunResult::RolledBack { version: *version },
            };
            report.ended = Some(format_utc(entry.timestamp_ms));
            report.events.push(show_line(entry, plans));
        }
        // `rollback --to` reopens a finished run: it has no end again until its next one.
        Payload::RunResumed {} => {
            report.outcome = RunResult::Unfinished;
            report.ended = None;
            report.events.push(show_line(entry, plans));
        }
        Payload::RunStarted { .. }
        | Payload::RunCancelled { .. }
        | Payload::Note { .. }
        | Payload::AwaitingDba { .. }
        | Payload::DbaWorkDone { .. }
        | Payload::BackupRemoved { .. }
        | Payload::BackupPruning { .. }
        | Payload::RepairPlanned { .. }
        | Payload::RepairDone { .. } => report.events.push(show_line(entry, plans)),
    }
}

/// The latest attempt at `step`: a step planned again (a resume after its rollback) is a new
/// attempt, and later entries are about it.
fn draft(drafts: &mut [Draft], step: Step) -> Option<&mut StepReport> {
    drafts
        .iter_mut()
        .rev()
        .find(|d| d.report.step == step)
        .map(|d| &mut d.report)
}

fn planned((op, index): (&Op, u32)) -> OpReport {
    OpReport {
        index,
        kind: op.kind().to_string(),
        description: op.describe(),
        status: OpStatus::Planned,
        detail: None,
        error: None,
    }
}

fn op_mut(step: Option<&mut StepReport>, index: u32) -> Option<&mut OpReport> {
    step.and_then(|s| s.ops.iter_mut().find(|op| op.index == index))
}

fn set_op(step: Option<&mut StepReport>, index: u32, status: OpStatus, detail: Option<String>) {
    let Some(op) = op_mut(step, index) else {
        return;
    };
    op.status = status;
    // An undo keeps how the op was done: the auditor sees both.
    if detail.is_some() {
        op.detail = detail;
    }
}

fn probe(step: Option<&mut StepReport>, at: Step, index: u32, found: String) -> Probe {
    let object = step
        .and_then(|s| s.ops.iter().find(|op| op.index == index))
        .map_or_else(
            || "(op not in the plan)".to_string(),
            |op| op.description.clone(),
        );
    Probe {
        step: at,
        index,
        object,
        found,
    }
}

/// The files, databases, grants and settings a step's plan changes, each with the state its
/// op reached.
fn read_changes(report: &mut RunReport, draft: &Draft) {
    let step = draft.report.step;
    for (op, state) in draft.ops.iter().zip(&draft.report.ops) {
        let status = state.status;
        match op {
            Op::WriteFile(w) => report.files.push(FileChange {
                step,
                change: FileChangeKind::Written,
                path: w.path.to_string(),
                renamed_to: None,
                digest: Some(w.digest),
                size: Some(w.size),
                previous: w.replaces.as_ref().map(|old| old.digest),
                status,
            }),
            Op::DeleteFile(d) => report.files.push(FileChange {
                step,
                change: FileChangeKind::Deleted,
                path: d.path.to_string(),
                renamed_to: None,
                digest: Some(d.old.digest),
                size: Some(d.old.size),
                previous: None,
                status,
            }),
            Op::RenameFolder(r) => report.files.push(FileChange {
                step,
                change: FileChangeKind::Renamed,
                path: r.from.to_string(),
                renamed_to: Some(r.to.to_string()),
                digest: None,
                size: None,
                previous: None,
                status,
            }),
            Op::EditSettings(e) => report.settings.push(SettingsFileChange {
                step,
                path: e.path.to_string(),
                changes: e.changes.iter().map(crate::settings::describe).collect(),
                before: e.before,
                after: e.after,
                status,
            }),
            Op::Sql(sql) => {
                let change = SqlChange {
                    step,
                    database: sql_database(sql),
                    description: op.describe(),
                    status,
                };
                if is_grant(sql) {
                    report.grants.push(change);
                } else {
                    report.databases.push(change);
                }
            }
            Op::Backup(_) | Op::EditAppHost(_) | Op::Command(_) | Op::Host(_) | Op::Broker(_) => {}
        }
    }
}

/// Logins, users, role memberships and grants: who may do what (the rest is databases).
fn is_grant(op: &SqlOp) -> bool {
    match op {
        SqlOp::CreateLogin { .. }
        | SqlOp::CreateUser { .. }
        | SqlOp::AddRoleMember { .. }
        | SqlOp::GrantExecute { .. } => true,
        SqlOp::CreateDatabase { .. }
        | SqlOp::ApplyMigration { .. }
        | SqlOp::BackupDatabase { .. } => false,
    }
}

fn sql_database(op: &SqlOp) -> Option<String> {
    match op {
        SqlOp::CreateDatabase { database }
        | SqlOp::ApplyMigration { database, .. }
        | SqlOp::CreateUser { database, .. }
        | SqlOp::AddRoleMember { database, .. }
        | SqlOp::GrantExecute { database, .. }
        | SqlOp::BackupDatabase { database, .. } => Some(database.clone()),
        SqlOp::CreateLogin { .. } => None,
    }
}
