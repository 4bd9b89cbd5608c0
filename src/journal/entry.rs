//! Journal entries: the [`Entry`] and [`Payload`] types, the run id, the secret-free config
//! record, and the canonical byte encoding that the hash chain is computed over.
//!
//! # Stored record, format version 1
//!
//! Each entry is one redb value, keyed by its sequence number (`u64`, first entry 1, no gaps).
//! The value is a fixed 66-byte header followed by the body:
//!
//! ```text
//! offset  size  field
//! 0       2     format version, u16 little-endian (1 for this layout)
//! 2       32    prev: hash of the entry with seq - 1 (32 zero bytes for seq 1)
//! 34      32    hash: blake3(prev[32] || seq as u64 little-endian || body)
//! 66      n     body: bincode 2, config::standard() (little-endian, varint integers), of
//!               (format: u16, timestamp_ms: u64, run: [u8; 16], machine: String, payload: Payload)
//! ```
//!
//! The hash is computed over the stored body bytes, never over a re-encoding, so a reader
//! recomputes it without decoding anything. The body repeats the format version so that the
//! version is covered by the hash; a header and body that disagree make the entry undecodable.
//!
//! The body is decoded with a byte limit of [`MAX_ENTRY_BYTES`] (64 MiB), and `append` refuses
//! an entry whose body is larger, so every entry the journal accepts can be read back. A plan
//! for a 20,000-file step is a few MB; a hostile value claiming a multi-gigabyte string fails
//! with an error instead of allocating it.
//!
//! # Compatibility
//!
//! bincode encodes an enum variant as its index and a struct as its fields in order, so the
//! payload types here and the op types in `op.rs` may only ever grow at the end: new variants
//! after the last one, new fields never. A change that needs more is a new format version,
//! with a golden journal of the old one kept under `tests/golden/` and read by every later
//! hubup.

use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::op::{FileRepair, HostState, Op, OpOutcome, SqlBefore};
use crate::version::{Step, Version};

/// Format version of the entries this build writes (see the module documentation).
pub const JOURNAL_FORMAT: u16 = 1;

/// Largest body, in bytes, that an entry may have; also the decoder's allocation limit.
pub const MAX_ENTRY_BYTES: usize = 64 * 1024 * 1024;

/// Length of the fixed header in front of every stored body.
pub(crate) const HEADER_LEN: usize = 2 + 32 + 32;

/// The bincode configuration of bodies: standard, with the allocation limit.
fn body_config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_ENTRY_BYTES>()
}

/// Identifies one run (one invocation that takes a machine from version A to version B).
///
/// 16 random bytes; shown as 32 lowercase hex characters, and as the first 8 in listings.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunId(pub [u8; 16]);

impl RunId {
    /// A fresh run id. Unique, not secret: mixes the process's random hash keys (seeded by
    /// the OS), the time, the pid and a counter through blake3.
    pub fn random() -> RunId {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let mut hasher = blake3::Hasher::new();
        for _ in 0..2 {
            let mut keyed = std::collections::hash_map::RandomState::new().build_hasher();
            keyed.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
            hasher.update(&keyed.finish().to_le_bytes());
        }
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        hasher.update(&nanos.to_le_bytes());
        hasher.update(&std::process::id().to_le_bytes());
        let mut id = [0u8; 16];
        id.copy_from_slice(&hasher.finalize().as_bytes()[..16]);
        RunId(id)
    }

    /// 32 lowercase hex characters.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// The first 8 hex characters, as listings show it.
    pub fn short(&self) -> String {
        hex(&self.0[..4])
    }

    /// True if the hex form starts with `prefix` (case-insensitive): how `--run` matches.
    pub fn matches_prefix(&self, prefix: &str) -> bool {
        self.to_hex().starts_with(&prefix.to_ascii_lowercase())
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RunId({})", self.short())
    }
}

/// Text that is not a run id (32 hex characters).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a run id (expected 32 hex characters): {0:?}")]
pub struct BadRunId(pub String);

impl FromStr for RunId {
    type Err = BadRunId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadRunId(s.to_string());
        if s.len() != 32 || !s.is_ascii() {
            return Err(bad());
        }
        let mut out = [0u8; 16];
        for (slot, pair) in out.iter_mut().zip(s.as_bytes().chunks_exact(2)) {
            let text = std::str::from_utf8(pair).map_err(|_| bad())?;
            *slot = u8::from_str_radix(text, 16).map_err(|_| bad())?;
        }
        Ok(RunId(out))
    }
}

impl Serialize for RunId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            self.0.serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for RunId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        if deserializer.is_human_readable() {
            let text = String::deserialize(deserializer)?;
            text.parse().map_err(serde::de::Error::custom)
        } else {
            Ok(RunId(<[u8; 16]>::deserialize(deserializer)?))
        }
    }
}

/// Key of `RunStarted`'s config record naming the journal's machine id (which marks the
/// databases the run creates: the audit's link to them).
pub const MACHINE_ID_KEY: &str = "machine.id";

/// Key of `RunStarted`'s config record naming the account that started the run (the
/// receipt's "who ran it").
pub const OPERATOR_KEY: &str = "run.operator";

/// The value recorded in place of anything that names or looks like a secret.
pub const REDACTED: &str = "<redacted>";

/// The effective configuration of a run, as ordered `(key, value)` text pairs, without secrets.
///
/// Built by the config module from the merged config file and flags. As a second line of
/// defence, every constructor replaces the value of a key that names a secret (password, pwd,
/// secret, token, credential, connection string, ...) and of a value that looks like a
/// connection string with a password (`...Password=...`) by [`REDACTED`]: the key stays, so an
/// auditor sees that a password was configured, but its value never reaches the journal.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConfigRecord {
    pairs: Vec<(String, String)>,
}

impl ConfigRecord {
    /// An empty record.
    pub fn new() -> ConfigRecord {
        ConfigRecord::default()
    }

    /// A record of `pairs`, in order, with secrets redacted.
    pub fn from_pairs<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> ConfigRecord
    where
        K: Into<String>,
        V: Into<String>,
    {
        let mut record = ConfigRecord::new();
        for (key, value) in pairs {
            record.push(key, value);
        }
        record
    }

    /// Appends one pair, redacting its value if the key names a secret or the value looks
    /// like a connection string with a password.
    pub fn push(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let key = key.into();
        let value = value.into();
        let value = if names_a_secret(&key) || holds_a_password(&value) {
            REDACTED.to_string()
        } else {
            value
        };
        self.pairs.push((key, value));
    }

    /// The pairs, in the order they were added.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// The value of the first pair with this key.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Words that, in a config key, mean its value is a secret. Matched on the lowercased key with
/// separators removed, so `sql.Password`, `sql_password` and `SqlPassword` all match.
const SECRET_KEY_WORDS: [&str; 10] = [
    "password",
    "passwd",
    "pwd",
    "secret",
    "connectionstring",
    "token",
    "apikey",
    "credential",
    "privatekey",
    "passphrase",
];

/// True if a config key names a secret (see [`ConfigRecord`]).
pub fn names_a_secret(key: &str) -> bool {
    let squashed: String = key
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect();
    SECRET_KEY_WORDS.iter().any(|word| squashed.contains(word))
}

/// True if a value looks like a connection string that carries a password.
fn holds_a_password(value: &str) -> bool {
    let lower = value.to_lowercase();
    ["password=", "pwd=", "password =", "pwd ="]
        .iter()
        .any(|needle| lower.contains(needle))
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunOutcome {
    /// Every step committed; the install is at `version`.
    Completed { version: Version },
    /// A step failed and was rolled back (or the operator rolled back); the install is at
    /// `version`.
    RolledBack { version: Version },
}

/// What an entry records. Append-only enum: new kinds go at the end (see the module docs).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Payload {
    /// A run begins: what it upgrades, where, with which hubup and which (secret-free) config.
    RunStarted {
        from: Version,
        to: Version,
        install_root: String,
        hubup_version: String,
        config: ConfigRecord,
    },
    /// A step's plan, journaled before its first op runs, with the digests of the state it
    /// starts from (what rollback must restore).
    StepPlanned {
        step: Step,
        ops: Vec<Op>,
        package: Digest,
        tree_before: Digest,
        apphost_before: Digest,
    },
    /// Op `index` of the step's plan is about to run (durable before its effect starts).
    OpIntent { step: Step, index: u32 },
    /// Op `index` ran and its effect is durable.
    OpDone {
        step: Step,
        index: u32,
        outcome: OpOutcome,
    },
    /// Op `index` failed; `error` is the operator-facing message (never holds a secret).
    OpFailed {
        step: Step,
        index: u32,
        error: String,
    },
    /// Op `index` was undone during a rollback.
    OpUndone { step: Step, index: u32 },
    /// The step is complete; the digests of the state it left.
    StepCommitted {
        step: Step,
        tree_after: Digest,
        apphost_after: Digest,
    },
    /// A rollback of `step` begins.
    /// `target` is the version the whole rollback goes back to (the step's source version
    /// for an automatic rollback).
    RollbackStarted {
        step: Step,
        reason: String,
        target: Version,
    },
    /// The rollback of `step` is complete; `verified` if the restored state matches the
    /// digests recorded in its `StepPlanned`.
    StepRolledBack {
        step: Step,
        tree_after: Digest,
        apphost_after: Digest,
        verified: bool,
    },
    /// An interrupted run continues (`hubup resume`).
    RunResumed {},
    /// The operator cancelled the run (Ctrl-C), during `step` if one was running.
    RunCancelled { step: Option<Step> },
    /// The run is over.
    RunFinished { outcome: RunOutcome },
    /// Free text for the audit, about the run or one of its steps.
    Note { step: Option<Step>, text: String },
    /// What database op `index` found on the server before changing it (after its intent,
    /// before its change): what lets check and undo tell the op's own change from what was
    /// there (see [`SqlBefore`]).
    SqlBefore {
        step: Step,
        index: u32,
        before: SqlBefore,
    },
    /// Script mode: the step stopped before starting its sites, until a DBA runs `script`
    /// (the database work of the step) and `hubup resume` finds it done.
    AwaitingDba { step: Step, script: String },
    /// The DBA's work for the step is done: `verified` if hubup checked it on the server
    /// (`how` says where), otherwise the operator's word (`hubup resume --dba-confirmed`).
    DbaWorkDone {
        step: Step,
        verified: bool,
        how: String,
    },
    /// The backup folder of `step`, whose rollback was verified, is gone (removed, or found
    /// already gone). Until this entry the removal is pending, and the next hubup that holds
    /// the install finishes it (removing a backup is idempotent).
    BackupRemoved { step: Step },
    /// Product files that committed steps wrote were found missing or damaged after an
    /// unclean end; each is rewritten from the package of the step that wrote it. Journaled,
    /// with what was found, before the first of them is written.
    RepairPlanned { files: Vec<FileRepair> },
    /// The files of the run's last `RepairPlanned` are rewritten and durable.
    RepairDone { files: u32 },
    /// Host op `index` observed its object before changing it: the state undo puts back.
    /// Durable before the change starts (after the op's intent). (Appended last: bodies store
    /// the variant index.)
    HostObserved {
        step: Step,
        index: u32,
        state: HostState,
    },
    /// Every object the step's host ops touch (`exec::host::touched_objects`), observed
    /// before the step's first change and journaled with its plan: a digest of them all and
    /// how many, which rollback compares with the machine it leaves. (Appended last.)
    HostStateBefore {
        step: Step,
        digest: Digest,
        objects: u32,
    },
    /// `hubup backups prune` removes the backup folder of `step`, a committed step of this
    /// (finished) run: from this entry the removal is pending, finished by the next hubup
    /// that holds the install if it is cut short, and `BackupRemoved` follows it; the install
    /// cannot be rolled back to `step`'s source version any more. (Appended last.)
    BackupPruning { step: Step },
}

/// Every entry kind's name ([`Payload::kind`]), in variant order.
pub const PAYLOAD_KINDS: [&str; 22] = [
    "run_started",
    "step_planned",
    "op_intent",
    "op_done",
    "op_failed",
    "op_undone",
    "step_committed",
    "rollback_started",
    "step_rolled_back",
    "run_resumed",
    "run_cancelled",
    "run_finished",
    "note",
    "sql_before",
    "awaiting_dba",
    "dba_work_done",
    "backup_removed",
    "repair_planned",
    "repair_done",
    "host_observed",
    "host_state_before",
    "backup_pruning",
];

impl Payload {
    /// The kind's stable name, as `journal show` and `journal export` write it.
    pub fn kind(&self) -> &'static str {
        match self {
            Payload::RunStarted { .. } => "run_started",
            Payload::StepPlanned { .. } => "step_planned",
            Payload::OpIntent { .. } => "op_intent",
            Payload::OpDone { .. } => "op_done",
            Payload::OpFailed { .. } => "op_failed",
            Payload::OpUndone { .. } => "op_undone",
            Payload::StepCommitted { .. } => "step_committed",
            Payload::RollbackStarted { .. } => "rollback_started",
            Payload::StepRolledBack { .. } => "step_rolled_back",
            Payload::RunResumed {} => "run_resumed",
            Payload::RunCancelled { .. } => "run_cancelled",
            Payload::RunFinished { .. } => "run_finished",
            Payload::Note { .. } => "note",
            Payload::SqlBefore { .. } => "sql_before",
            Payload::AwaitingDba { .. } => "awaiting_dba",
            Payload::DbaWorkDone { .. } => "dba_work_done",
            Payload::BackupRemoved { .. } => "backup_removed",
            Payload::RepairPlanned { .. } => "repair_planned",
            Payload::RepairDone { .. } => "repair_done",
            Payload::HostObserved { .. } => "host_observed",
            Payload::HostStateBefore { .. } => "host_state_before",
            Payload::BackupPruning { .. } => "backup_pruning",
        }
    }

    /// The step this payload is about, if any.
    pub fn step(&self) -> Option<Step> {
        match self {
            Payload::StepPlanned { step, .. }
            | Payload::OpIntent { step, .. }
            | Payload::OpDone { step, .. }
            | Payload::OpFailed { step, .. }
            | Payload::OpUndone { step, .. }
            | Payload::StepCommitted { step, .. }
            | Payload::RollbackStarted { step, .. }
            | Payload::StepRolledBack { step, .. }
            | Payload::SqlBefore { step, .. }
            | Payload::AwaitingDba { step, .. }
            | Payload::DbaWorkDone { step, .. }
            | Payload::BackupRemoved { step }
            | Payload::BackupPruning { step }
            | Payload::HostObserved { step, .. }
            | Payload::HostStateBefore { step, .. } => Some(*step),
            Payload::RunCancelled { step } | Payload::Note { step, .. } => *step,
            Payload::RunStarted { .. }
            | Payload::RunResumed {}
            | Payload::RunFinished { .. }
            | Payload::RepairPlanned { .. }
            | Payload::RepairDone { .. } => None,
        }
    }
}

/// One journal entry, as readers return it (verified and decoded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Position in the journal: 1 for the first entry, no gaps.
    pub seq: u64,
    /// Hash of the entry before it ([`Digest::ZERO`] for the first).
    pub prev: Digest,
    /// This entry's hash (see the module docs for what it covers).
    pub hash: Digest,
    /// Format version it was written in.
    pub format: u16,
    /// When it was appended: milliseconds since the Unix epoch, UTC.
    pub timestamp_ms: u64,
    pub run: RunId,
    /// Name of the machine that wrote it.
    pub machine: String,
    pub payload: Payload,
}

/// The fixed header in front of a stored body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub format: u16,
    pub prev: Digest,
    pub hash: Digest,
}

/// Why stored bytes are not an entry this build can read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Undecodable {
    Short { len: usize },
    UnknownFormat { format: u16 },
    Body { reason: String },
    FormatMismatch { header: u16, body: u16 },
    TrailingBytes { extra: usize },
}

impl fmt::Display for Undecodable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Undecodable::Short { len } => write!(
                f,
                "the stored record is {len} bytes, shorter than the {HEADER_LEN}-byte header"
            ),
            Undecodable::UnknownFormat { format } => write!(
                f,
                "journal format {format} is unknown to this hubup (it reads format \
                 {JOURNAL_FORMAT}): written by a newer hubup, or damaged"
            ),
            Undecodable::Body { reason } => write!(f, "the body does not decode: {reason}"),
            Undecodable::FormatMismatch { header, body } => write!(
                f,
                "the header says format {header} but the body says format {body}"
            ),
            Undecodable::TrailingBytes { extra } => {
                write!(f, "{extra} unexpected bytes after the body")
            }
        }
    }
}

/// Splits a stored record into its header and body.
pub(crate) fn split_record(bytes: &[u8]) -> Result<(Header, &[u8]), Undecodable> {
    let short = || Undecodable::Short { len: bytes.len() };
    let (head, body) = bytes.split_at_checked(HEADER_LEN).ok_or_else(short)?;
    let (format, rest) = head.split_first_chunk::<2>().ok_or_else(short)?;
    let (prev, hash) = rest.split_first_chunk::<32>().ok_or_else(short)?;
    let hash: &[u8; 32] = hash.try_into().map_err(|_| short())?;
    let format = u16::from_le_bytes(*format);
    if format != JOURNAL_FORMAT {
        return Err(Undecodable::UnknownFormat { format });
    }
    Ok((
        Header {
            format,
            prev: Digest(*prev),
            hash: Digest(*hash),
        },
        body,
    ))
}

/// The chain hash of an entry: blake3(prev || seq as u64 LE || body).
pub(crate) fn entry_hash(prev: &Digest, seq: u64, body: &[u8]) -> Digest {
    let mut hasher = blake3::Hasher::new();
    hasher.update(prev.as_bytes());
    hasher.update(&seq.to_le_bytes());
    hasher.update(body);
    Digest::from(hasher.finalize())
}

#[derive(Serialize)]
struct BodyOut<'a> {
    format: u16,
    timestamp_ms: u64,
    run: RunId,
    machine: &'a str,
    payload: &'a Payload,
}

#[derive(Deserialize)]
struct BodyIn {
    format: u16,
    timestamp_ms: u64,
    run: RunId,
    machine: String,
    payload: Payload,
}

/// The body fields a verifier needs, decoded without copying the machine name.
#[derive(Deserialize)]
pub(crate) struct BodyView<'a> {
    format: u16,
    _timestamp_ms: u64,
    pub run: RunId,
    _machine: &'a str,
    _payload: Payload,
}

/// What a new entry's body holds, before it is encoded.
pub(crate) struct NewBody<'a> {
    pub timestamp_ms: u64,
    pub run: RunId,
    pub machine: &'a str,
    pub payload: &'a Payload,
}

/// Why an entry could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EncodeFailure {
    TooLarge { size: usize },
    Bincode(String),
}

/// Appends the stored record of entry `seq` (header and body) to `out` and returns its hash.
/// On failure `out` is left as it was.
pub(crate) fn encode_record(
    out: &mut Vec<u8>,
    seq: u64,
    prev: &Digest,
    body: &NewBody<'_>,
) -> Result<Digest, EncodeFailure> {
    let start = out.len();
    out.extend_from_slice(&JOURNAL_FORMAT.to_le_bytes());
    out.extend_from_slice(prev.as_bytes());
    out.extend_from_slice(&[0u8; 32]);
    let body_start = out.len();
    let encoded = bincode::serde::encode_into_std_write(
        BodyOut {
            format: JOURNAL_FORMAT,
            timestamp_ms: body.timestamp_ms,
            run: body.run,
            machine: body.machine,
            payload: body.payload,
        },
        out,
        bincode::config::standard(),
    );
    let failure = match encoded {
        Ok(size) if size > MAX_ENTRY_BYTES => Some(EncodeFailure::TooLarge { size }),
        Ok(_) => None,
        Err(e) => Some(EncodeFailure::Bincode(e.to_string())),
    };
    if let Some(failure) = failure {
        out.truncate(start);
        return Err(failure);
    }
    let hash = entry_hash(prev, seq, out.get(body_start..).unwrap_or_default());
    if let Some(slot) = out.get_mut(body_start - 32..body_start) {
        slot.copy_from_slice(hash.as_bytes());
    }
    Ok(hash)
}

/// Decodes a body into an [`Entry`], checking it against its header.
pub(crate) fn decode_entry(seq: u64, header: &Header, body: &[u8]) -> Result<Entry, Undecodable> {
    let (decoded, used): (BodyIn, usize) = bincode::serde::decode_from_slice(body, body_config())
        .map_err(|e| Undecodable::Body {
        reason: e.to_string(),
    })?;
    check_decoded(header, decoded.format, body.len(), used)?;
    Ok(Entry {
        seq,
        prev: header.prev,
        hash: header.hash,
        format: decoded.format,
        timestamp_ms: decoded.timestamp_ms,
        run: decoded.run,
        machine: decoded.machine,
        payload: decoded.payload,
    })
}

/// Decodes a body far enough to prove it is well-formed, without copying its strings where
/// it can (the verifier's hot path).
pub(crate) fn decode_view<'a>(
    header: &Header,
    body: &'a [u8],
) -> Result<BodyView<'a>, Undecodable> {
    let (view, used): (BodyView<'a>, usize) =
        bincode::serde::borrow_decode_from_slice(body, body_config()).map_err(|e| {
            Undecodable::Body {
                reason: e.to_string(),
            }
        })?;
    check_decoded(header, view.format, body.len(), used)?;
    Ok(view)
}

fn check_decoded(header: &Header, format: u16, len: usize, used: usize) -> Result<(), Undecodable> {
    if format != header.format {
        return Err(Undecodable::FormatMismatch {
            header: header.format,
            body: format,
        });
    }
    match len.checked_sub(used) {
        Some(0) => Ok(()),
        Some(extra) => Err(Undecodable::TrailingBytes { extra }),
        None => Err(Undecodable::Body {
            reason: "decoder read past the end".to_string(),
        }),
    }
}

/// Milliseconds since the Unix epoch now (0 if the clock is before 1970).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step() -> Step {
        Step::from_version(Version::V4_1).unwrap()
    }

    #[test]
    fn record_round_trips_and_hash_covers_prev_seq_and_body() {
        let payload = Payload::OpDone {
            step: step(),
            index: 7,
            outcome: OpOutcome::Applied,
        };
        let body = NewBody {
            timestamp_ms: 1_700_000_000_000,
            run: RunId([9; 16]),
            machine: "HUB01",
            payload: &payload,
        };
        let prev = Digest::of(b"previous");
        let mut out = Vec::new();
        let hash = encode_record(&mut out, 42, &prev, &body).unwrap();
        let (header, stored_body) = split_record(&out).unwrap();
        assert_eq!(header.prev, prev);
        assert_eq!(header.hash, hash);
        assert_eq!(entry_hash(&prev, 42, stored_body), hash);
        assert_ne!(entry_hash(&prev, 43, stored_body), hash);
        assert_ne!(entry_hash(&Digest::ZERO, 42, stored_body), hash);
        let entry = decode_entry(42, &header, stored_body).unwrap();
        assert_eq!(entry.payload, payload);
        assert_eq!(entry.machine, "HUB01");
        assert_eq!(entry.run, RunId([9; 16]));
        let view = decode_view(&header, stored_body).unwrap();
        assert_eq!(view.run, RunId([9; 16]));
    }

    #[test]
    fn short_records_and_unknown_formats_are_undecodable() {
        assert_eq!(
            split_record(&[1, 0, 3]).unwrap_err(),
            Undecodable::Short { len: 3 }
        );
        let mut record = vec![0u8; HEADER_LEN];
        record[0] = 9;
        assert_eq!(
            split_record(&record).unwrap_err(),
            Undecodable::UnknownFormat { format: 9 }
        );
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let payload = Payload::RunResumed {};
        let body = NewBody {
            timestamp_ms: 1,
            run: RunId([1; 16]),
            machine: "m",
            payload: &payload,
        };
        let mut out = Vec::new();
        encode_record(&mut out, 1, &Digest::ZERO, &body).unwrap();
        out.push(0);
        let (header, stored_body) = split_record(&out).unwrap();
        assert_eq!(
            decode_entry(1, &header, stored_body).unwrap_err(),
            Undecodable::TrailingBytes { extra: 1 }
        );
    }

    #[test]
    fn config_record_redacts_secret_keys_and_password_values() {
        let record = ConfigRecord::from_pairs([
            ("sql.server", "SQL01"),
            ("sql.Password", "hunter2"),
            ("rabbitmq_pwd", "guest"),
            ("hub.connection-string", "Server=x"),
            ("custom", "Server=x;User Id=sa;Password=hunter2"),
            ("client_secret", "s"),
        ]);
        assert_eq!(record.get("sql.server"), Some("SQL01"));
        for key in [
            "sql.Password",
            "rabbitmq_pwd",
            "hub.connection-string",
            "custom",
            "client_secret",
        ] {
            assert_eq!(record.get(key), Some(REDACTED), "{key}");
        }
        assert_eq!(record.pairs().len(), 6);
    }

    #[test]
    fn run_id_hex_round_trip_and_randomness() {
        let id = RunId::random();
        assert_eq!(id.to_hex().parse::<RunId>().unwrap(), id);
        assert_ne!(RunId::random(), RunId::random());
        assert!(id.matches_prefix(&id.short().to_uppercase()));
        assert!("xyz".parse::<RunId>().is_err());
        assert!("é".repeat(16).parse::<RunId>().is_err());
    }
}
