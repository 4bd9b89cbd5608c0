//! Receipts: what one run did to a machine, as typed data built from the run's journal entries
//! alone (`hubup report`), read back from a receipt or a journal export (`import.rs`), and
//! compared between two machines (`diff.rs`, `hubup audit diff`).
//!
//! A receipt is for an auditor who has no access to the machine: it names the machine (the
//! journal's random id and the computer's name), who ran the run and when, the versions, the
//! whole config view the run recorded (secret-free by construction: `ConfigRecord` redacts
//! on the way into the journal, and nothing here reads anything else), every step and op with
//! its outcome, the files, databases, grants and settings keys it changed, what host ops found
//! before changing things, and the journal head that anchors it all. It is built from the
//! journal only, never from the install, so it says what the journal can prove. The CLI
//! renders it as HTML, text or JSON; the JSON form is [`RunReport`] as serde writes it, with
//! `format` = [`REPORT_FORMAT`].
//!
//! Building reads only: the caller opens the journal read-only.

mod build;
mod checklist;
mod diff;
mod import;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::journal::RunId;
use crate::version::{Step, Version};

pub use build::ReportError;
pub use checklist::end_of_run_checklist;
pub use diff::{MachineState, SetDiff, StateDiff, ValueDiff};
pub use import::{ReceiptError, read_receipts};

/// The `format` of every receipt this build writes; a receipt of another format is refused
/// when read back (its fields may mean something else).
pub const REPORT_FORMAT: &str = "hubup-report/1";

/// One run's receipt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunReport {
    /// Always [`REPORT_FORMAT`].
    pub format: String,
    pub run: RunId,
    pub machine: ReportMachine,
    /// The account that started the run, as the run recorded it (`run.operator` in the
    /// config view); `None` for runs of a hubup that did not record it.
    pub operator: Option<String>,
    /// When the run started and ended (UTC, ISO 8601); no end while it is unfinished.
    pub started: String,
    pub ended: Option<String>,
    pub from: Version,
    pub to: Version,
    pub outcome: RunResult,
    pub hubup_version: String,
    pub install_root: String,
    /// The run's config view, in the order it was recorded.
    pub config: Vec<ConfigValue>,
    pub steps: Vec<StepReport>,
    pub files: Vec<FileChange>,
    pub databases: Vec<SqlChange>,
    pub grants: Vec<SqlChange>,
    pub settings: Vec<SettingsFileChange>,
    /// What host and database ops found before they changed anything.
    pub probes: Vec<Probe>,
    /// The run's other entries (resumes, cancellations, DBA work, repairs, rollbacks, notes,
    /// its end), one `journal show` line each, in order.
    pub events: Vec<String>,
    /// What the guide leaves to the administrator after a completed run
    /// ([`end_of_run_checklist`]); empty for any other outcome and in older receipts.
    #[serde(default)]
    pub checklist: Vec<String>,
    pub journal: JournalProof,
}

/// The machine a run was on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportMachine {
    /// The computer's name, as the run's first entry recorded it.
    pub name: String,
    /// The journal's random machine id (32 hex characters), which marks the databases the
    /// machine created; `None` for journals of a hubup that had none.
    pub id: Option<String>,
}

/// How the run ended, if it did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RunResult {
    /// Every step committed; the install is at `version`.
    Completed { version: Version },
    /// A step failed or the operator went back; the install is at `version`.
    RolledBack { version: Version },
    /// The journal holds no end for it yet (interrupted, cancelled, waiting for a DBA).
    Unfinished,
}

/// One key of the config view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigValue {
    pub key: String,
    pub value: String,
}

/// One step as planned, and how it ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepReport {
    pub step: Step,
    /// The package's digest and the digests the step started from.
    pub package: Digest,
    pub tree_before: Digest,
    pub apphost_before: Digest,
    pub outcome: StepOutcome,
    /// The digests it left (committed) or restored (rolled back).
    pub tree_after: Option<Digest>,
    pub apphost_after: Option<Digest>,
    /// Why it was rolled back, and whether the restored state matched `tree_before`.
    pub rollback_reason: Option<String>,
    pub restored_verified: Option<bool>,
    /// The digest of the machine outside the tree that the step's host ops touch, and how
    /// many objects, observed before its first change (journals before issue 14's digest
    /// have none).
    #[serde(default)]
    pub host_state_before: Option<(Digest, u32)>,
    pub ops: Vec<OpReport>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepOutcome {
    Committed,
    RolledBack,
    /// Neither yet: the run stopped in it.
    Open,
}

/// One op of a step's plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpReport {
    pub index: u32,
    /// `Op::kind`: `write_file`, `sql`, ...
    pub kind: String,
    /// `Op::describe`: what it changes, in one line.
    pub description: String,
    pub status: OpStatus,
    /// How it was done (`applied`, `already present`, `skipped: ...`).
    pub detail: Option<String>,
    /// Why it failed, if it did (kept when it is undone afterwards).
    pub error: Option<String>,
}

/// The last thing the journal says about an op.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OpStatus {
    /// In the plan; never started.
    Planned,
    /// Its intent is journaled, its end is not (the run stopped during it).
    Started,
    Done,
    Failed,
    Undone,
}

/// A product file or folder an op changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileChange {
    pub step: Step,
    pub change: FileChangeKind,
    /// The file (or folder, for a rename) in the install, relative to its root.
    pub path: String,
    /// A renamed folder's new path.
    pub renamed_to: Option<String>,
    /// What a written file holds; what a deleted file held.
    pub digest: Option<Digest>,
    pub size: Option<u64>,
    /// What a replaced file held.
    pub previous: Option<Digest>,
    pub status: OpStatus,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileChangeKind {
    Written,
    Deleted,
    Renamed,
}

/// A database op (`databases`: databases, migrations, backups; `grants`: logins, users, role
/// memberships, EXECUTE grants).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SqlChange {
    pub step: Step,
    /// The database it is in (`None` for a server login).
    pub database: Option<String>,
    pub description: String,
    pub status: OpStatus,
}

/// A settings file merge: its keys only (values can be secrets).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsFileChange {
    pub step: Step,
    pub path: String,
    /// `set Key:Path`, `add ...`, `rename A to B`, `remove ...`.
    pub changes: Vec<String>,
    pub before: Digest,
    pub after: Digest,
    pub status: OpStatus,
}

/// What an op found before its change (`HostObserved`, `SqlBefore`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Probe {
    pub step: Step,
    pub index: u32,
    /// What the op is about (its description).
    pub object: String,
    pub found: String,
}

/// Where the receipt's facts are anchored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalProof {
    /// The journal file the receipt was made from (or the export it was read from).
    pub path: String,
    /// The run's entries, and its last one's position and hash.
    pub run_entries: u64,
    pub run_last_seq: u64,
    pub run_last_hash: Digest,
    /// The journal's head when the receipt was made: it covers every entry above.
    pub head_seq: u64,
    pub head_hash: Digest,
}

impl RunReport {
    /// The version the run left the install at (`None` while it is unfinished).
    pub fn final_version(&self) -> Option<Version> {
        match self.outcome {
            RunResult::Completed { version } | RunResult::RolledBack { version } => Some(version),
            RunResult::Unfinished => None,
        }
    }

    /// The value of a config-view key.
    pub fn config_value(&self, key: &str) -> Option<&str> {
        self.config
            .iter()
            .find(|c| c.key == key)
            .map(|c| c.value.as_str())
    }
}
