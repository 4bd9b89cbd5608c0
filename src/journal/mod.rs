//! The journal: an append-only, hash-chained log of everything hubup does to a machine, in one
//! redb file per machine, outside the install location. It is the single source of truth for
//! resume, rollback and audit.
//!
//! - [`Journal::append`] writes a batch of entries in one durable commit (group commit): when
//!   it returns `Ok`, all of them survive a crash; after a crash during it, none of them is
//!   there.
//! - Each entry's hash covers the previous entry's hash, its sequence number and its body
//!   (byte layout in `entry.rs`), so [`Journal::verify`] detects any changed, removed or
//!   reordered entry, and the head recorded with each commit detects entries cut off the end.
//! - Only one process holds the journal at a time; another one is refused with
//!   [`JournalError::Busy`], naming the holder's pid.
//! - Every reader verifies the chain as it reads: nothing is returned from a journal that does
//!   not verify.
//!
//! A chain that anyone with write access to the file can recompute proves nothing on its own:
//! anchor the head off the machine (receipt, SQL Server) to make it evidence.

mod entry;
mod error;
mod holder;
mod location;
mod render;
mod store;
mod summary;
mod verify;

use std::collections::VecDeque;
use std::ops::Range;
use std::path::Path;

pub use entry::{
    BadRunId, ConfigRecord, Entry, JOURNAL_FORMAT, MACHINE_ID_KEY, MAX_ENTRY_BYTES, OPERATOR_KEY,
    PAYLOAD_KINDS, Payload, REDACTED, RunId, RunOutcome, names_a_secret, now_ms,
};
pub use error::JournalError;
pub use holder::Holder;
pub use location::default_journal_path;
pub use render::{PlanIndex, compact_utc, export_json, format_utc, show_line};
pub(crate) use render::{describe_before, describe_outcome};
pub use store::{Head, MachineId};
pub use summary::UnfinishedRun;
pub use verify::{ChainFault, VerifyReport};

use entry::{EncodeFailure, NewBody};
use store::{ENTRIES, Store};
use summary::RunTracker;
use verify::WalkError;

/// A clock giving milliseconds since the Unix epoch (UTC).
type Clock = Box<dyn Fn() -> u64 + Send>;

/// An open journal, held exclusively by this process until dropped.
pub struct Journal {
    store: Store,
    head: Option<Head>,
    /// The identity recorded with the journal (`None` only for an old journal opened to read).
    machine_id: Option<MachineId>,
    machine: String,
    clock: Clock,
    /// Reused between batches: the encoded records and where each one is in it.
    buffer: Vec<u8>,
    spans: Vec<(u64, Range<usize>)>,
}

impl Journal {
    /// Opens the existing journal at `path` (readers, resume, rollback).
    ///
    /// Fails with [`JournalError::NotFound`] if there is none (it is not created),
    /// [`JournalError::Busy`] if another process holds it, [`JournalError::NotAJournal`] or
    /// [`JournalError::Damaged`] if the file is not an intact redb database. The file is
    /// unchanged by a failure; a successful open may rewrite redb's own bookkeeping (its
    /// integrity check commits), never an entry.
    pub fn open(path: impl AsRef<Path>) -> Result<Journal, JournalError> {
        Journal::with_store(Store::open(path.as_ref(), false)?)
    }

    /// Opens the existing journal at `path` for reading only: every command that only reads
    /// (`journal verify|show|export`, `status`, `plan`, `check`) uses it. Leaves every byte of
    /// the file as it was and works on a write-protected file. Fails as [`Journal::open`]
    /// does; appending to it is refused with [`JournalError::Storage`].
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Journal, JournalError> {
        Journal::with_store(Store::open_read_only(path.as_ref())?)
    }

    /// Opens the journal at `path`, creating it (and its folder) if it does not exist: how a
    /// run starts. Fails as [`Journal::open`] does, and if the folder cannot be created.
    pub fn create(path: impl AsRef<Path>) -> Result<Journal, JournalError> {
        Journal::with_store(Store::open(path.as_ref(), true)?)
    }

    fn with_store(store: Store) -> Result<Journal, JournalError> {
        let head = store.read_head(&store.begin_read()?)?;
        let machine_id = store.read_machine()?;
        Ok(Journal {
            store,
            head,
            machine_id,
            machine: local_machine_name(),
            clock: Box::new(entry::now_ms),
            buffer: Vec::new(),
            spans: Vec::new(),
        })
    }

    /// The journal's file.
    pub fn path(&self) -> &Path {
        self.store.path()
    }

    /// The last entry, as of the last commit; `None` for an empty journal.
    pub fn head(&self) -> Option<Head> {
        self.head
    }

    /// The machine's identity: a random id made with the journal (unique without the
    /// administrator's help, unlike the config's display name) and the computer it was made
    /// on. `None` only for a journal of an older hubup opened with [`Journal::open`].
    pub fn machine_id(&self) -> Option<&MachineId> {
        self.machine_id.as_ref()
    }

    /// Refuses a journal made on another computer: a copied journal carries the other
    /// machine's id, so this machine would take that machine's databases for its own (and
    /// roll them back). Readers (`journal show`, an auditor's copy) do not call this.
    pub fn refuse_if_copied(&self) -> Result<(), JournalError> {
        let Some(machine) = &self.machine_id else {
            return Ok(());
        };
        let here = local_machine_name();
        if machine.computer.eq_ignore_ascii_case(&here) {
            return Ok(());
        }
        Err(JournalError::Copied {
            path: self.path().to_path_buf(),
            made_on: machine.computer.clone(),
            here,
            id: machine.to_hex(),
        })
    }

    /// The machine name new entries record (by default [`local_machine_name`]).
    pub fn machine(&self) -> &str {
        &self.machine
    }

    /// Sets the machine name new entries record.
    pub fn set_machine(&mut self, machine: impl Into<String>) {
        self.machine = machine.into();
    }

    /// Replaces the clock that timestamps new entries (tests and golden files use a fixed one).
    pub fn set_clock(&mut self, clock: impl Fn() -> u64 + Send + 'static) {
        self.clock = Box::new(clock);
    }

    /// Appends `payloads` as entries of `run`, in order, in one durable commit, all with the
    /// same timestamp. Returns the head after the batch (`None` only for an empty batch on an
    /// empty journal).
    ///
    /// On `Ok`, every entry of the batch is durable. On `Err`, none of them is in the journal
    /// and this handle's head is unchanged, except for a failed commit, where redb keeps the
    /// batch atomic but cannot say whether it landed: the handle then refuses further appends
    /// ([`JournalError::Poisoned`]); reopen the journal and read its head. An entry larger than
    /// [`MAX_ENTRY_BYTES`] fails the batch with [`JournalError::EntryTooLarge`]. If the file no
    /// longer ends at this handle's head (changed outside hubup), nothing is written and the
    /// error is [`JournalError::Corrupt`] with a head mismatch.
    pub fn append(
        &mut self,
        run: RunId,
        payloads: &[Payload],
    ) -> Result<Option<Head>, JournalError> {
        if payloads.is_empty() {
            return Ok(self.head);
        }
        let timestamp_ms = (self.clock)();
        self.buffer.clear();
        self.spans.clear();
        let mut prev = self.head.map_or(crate::digest::Digest::ZERO, |h| h.hash);
        let mut seq = self.head.map_or(0, |h| h.seq);
        for payload in payloads {
            seq = seq.checked_add(1).ok_or_else(|| JournalError::Storage {
                path: self.path().to_path_buf(),
                action: "numbering an entry",
                detail: "the sequence number would overflow".to_string(),
            })?;
            let start = self.buffer.len();
            let body = NewBody {
                timestamp_ms,
                run,
                machine: &self.machine,
                payload,
            };
            prev = entry::encode_record(&mut self.buffer, seq, &prev, &body)
                .map_err(|failure| self.encode_error(seq, failure))?;
            self.spans.push((seq, start..self.buffer.len()));
        }
        let new_head = Head { seq, hash: prev };
        self.store
            .write_batch(self.head, &self.buffer, &self.spans, new_head)?;
        self.head = Some(new_head);
        Ok(self.head)
    }

    fn encode_error(&self, seq: u64, failure: EncodeFailure) -> JournalError {
        let path = self.path().to_path_buf();
        match failure {
            EncodeFailure::TooLarge { size } => JournalError::EntryTooLarge {
                path,
                seq,
                size,
                limit: MAX_ENTRY_BYTES,
            },
            EncodeFailure::Bincode(reason) => JournalError::Encode { path, seq, reason },
        }
    }

    /// Recomputes the whole chain and checks the head. Fails with [`JournalError::Corrupt`]
    /// naming the first bad entry and what is wrong with it. Reads only.
    pub fn verify(&self) -> Result<VerifyReport, JournalError> {
        let txn = self.store.begin_read()?;
        let recorded = self.store.read_head(&txn)?;
        let table = txn
            .open_table(ENTRIES)
            .map_err(|e| self.store.storage("opening the entries table", e.into()))?;
        verify::verify(&table, recorded).map_err(|e| self.walk_error(e))
    }

    /// Every entry, oldest first (the chain is verified while reading; a journal that does not
    /// verify returns [`JournalError::Corrupt`] and no entries).
    pub fn entries(&self) -> Result<Vec<Entry>, JournalError> {
        let mut out = Vec::new();
        self.each_entry(|entry| out.push(entry))?;
        Ok(out)
    }

    /// The entries of one run, oldest first (verified as [`Journal::entries`]).
    pub fn run_entries(&self, run: RunId) -> Result<Vec<Entry>, JournalError> {
        let mut out = Vec::new();
        self.each_entry(|entry| {
            if entry.run == run {
                out.push(entry);
            }
        })?;
        Ok(out)
    }

    /// The entries of one step of one run, oldest first (verified as [`Journal::entries`]).
    pub fn step_entries(
        &self,
        run: RunId,
        step: crate::version::Step,
    ) -> Result<Vec<Entry>, JournalError> {
        let mut out = Vec::new();
        self.each_entry(|entry| {
            if entry.run == run && entry.payload.step() == Some(step) {
                out.push(entry);
            }
        })?;
        Ok(out)
    }

    /// The last `n` entries, oldest first (the whole chain is verified).
    pub fn tail(&self, n: usize) -> Result<Vec<Entry>, JournalError> {
        let mut out = VecDeque::with_capacity(n.min(4096));
        self.each_entry(|entry| {
            if n > 0 {
                if out.len() == n {
                    out.pop_front();
                }
                out.push_back(entry);
            }
        })?;
        Ok(out.into())
    }

    /// The unfinished run (started, not finished), if any: what `resume` and `rollback` start
    /// from. The chain is verified while reading.
    pub fn unfinished_run(&self) -> Result<Option<UnfinishedRun>, JournalError> {
        let mut tracker = RunTracker::default();
        self.each_entry(|entry| tracker.observe(&entry))?;
        Ok(tracker.latest())
    }

    /// The most recently started run, finished or not (what `rollback --to` goes back in).
    pub fn last_run(&self) -> Result<Option<UnfinishedRun>, JournalError> {
        let mut tracker = RunTracker::default();
        self.each_entry(|entry| tracker.observe(&entry))?;
        Ok(tracker.last_started())
    }

    /// Every run in the journal, finished or not, oldest first.
    pub fn runs(&self) -> Result<Vec<UnfinishedRun>, JournalError> {
        let mut tracker = RunTracker::default();
        self.each_entry(|entry| tracker.observe(&entry))?;
        Ok(tracker.all())
    }

    /// Size of the journal file in bytes.
    pub fn file_size(&self) -> Result<u64, JournalError> {
        self.store.file_len()
    }

    /// Walks the verified chain, decoding each entry for `visit`.
    fn each_entry(&self, mut visit: impl FnMut(Entry)) -> Result<(), JournalError> {
        let txn = self.store.begin_read()?;
        let recorded = self.store.read_head(&txn)?;
        let table = txn
            .open_table(ENTRIES)
            .map_err(|e| self.store.storage("opening the entries table", e.into()))?;
        verify::walk(&table, recorded, |seq, header, body| {
            visit(entry::decode_entry(seq, header, body)?);
            Ok(())
        })
        .map(|_| ())
        .map_err(|e| self.walk_error(e))
    }

    fn walk_error(&self, error: WalkError) -> JournalError {
        match error {
            WalkError::Fault(fault) => JournalError::Corrupt {
                path: self.path().to_path_buf(),
                fault: Box::new(fault),
            },
            WalkError::Storage(e) => self.store.storage("reading entries", e.into()),
        }
    }
}

/// This machine's name, as entries record it: `COMPUTERNAME` on Windows, the kernel's host
/// name elsewhere; `unknown` if neither can be read.
pub fn local_machine_name() -> String {
    machine_name_from_os()
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}

/// The account this process runs as, as a run records it (`DOMAIN\user` on Windows, the
/// process's user elsewhere; `unknown` if the system does not say). It names who ran the run
/// for the receipt; it authenticates no one.
pub fn local_operator_name() -> String {
    operator_from_os()
        .map(|name| name.trim().to_string())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown".to_string())
}

#[cfg(windows)]
fn operator_from_os() -> Option<String> {
    let user = std::env::var("USERNAME").ok()?;
    Some(match std::env::var("USERDOMAIN") {
        Ok(domain) if !domain.is_empty() => format!("{domain}\\{user}"),
        _ => user,
    })
}

/// The process's own user (the owner of `/proc/self`, named by `/etc/passwd`) where the
/// system says it, because `USER` is only what the shell was told; else the environment.
#[cfg(not(windows))]
fn operator_from_os() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let from_proc = std::fs::metadata("/proc/self")
        .ok()
        .map(|m| m.uid())
        .map(|uid| {
            let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
            passwd
                .lines()
                .find_map(|line| {
                    let mut fields = line.split(':');
                    let name = fields.next()?;
                    let id = fields.nth(1)?;
                    (id == uid.to_string()).then(|| name.to_string())
                })
                .unwrap_or_else(|| format!("uid {uid}"))
        });
    from_proc.or_else(|| {
        std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .ok()
    })
}

#[cfg(windows)]
fn machine_name_from_os() -> Option<String> {
    std::env::var("COMPUTERNAME").ok()
}

#[cfg(not(windows))]
fn machine_name_from_os() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
}

#[cfg(test)]
mod tests;
