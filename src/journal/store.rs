//! The journal's redb file: opening it (one holder at a time), its two tables, and the write
//! transaction that makes a batch of entries and the new head durable together.
//!
//! # Tables
//!
//! - `entries`: `u64` sequence number -> stored record (`&[u8]`, layout in `entry.rs`).
//! - `meta`: `&str` -> `&[u8]`; key `head` holds the last entry's sequence number (u64
//!   little-endian) followed by its hash (32 bytes). It is written in the same transaction as
//!   the entries, so a journal whose last entries were removed no longer matches its head.
//!   Key `machine` holds the machine's identity ([`MachineId`]): 16 random bytes, then the
//!   computer's name as it was when the journal was made (UTF-8). It is written with the
//!   tables when the journal is created (or, for a journal made by an older hubup, at its
//!   first open for writing) and never changed afterwards.
//!
//! Every open runs redb's integrity check (page checksums, structure) first: a file changed
//! outside redb is reported as damaged instead of trusted, which a plain redb open does not
//! promise. It reads the whole file once; a journal of a million entries takes about a second.

use std::fs;
use std::io;
use std::ops::Range;
use std::path::{Path, PathBuf};

use redb::{
    Database, DatabaseError, Durability, ReadTransaction, ReadableDatabase, ReadableTable,
    StorageError, TableDefinition,
};

use super::error::JournalError;
use super::holder::{Holder, PidFile};
use super::verify::ChainFault;
use crate::digest::Digest;

pub(crate) const ENTRIES: TableDefinition<u64, &[u8]> = TableDefinition::new("entries");
pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const HEAD_KEY: &str = "head";
const HEAD_LEN: usize = 8 + 32;
const MACHINE_KEY: &str = "machine";

/// Who this journal belongs to: a machine id that is unique without anyone's help (random,
/// made with the journal: the journal is per machine), and the computer it was made on, so a
/// journal copied to another computer (same id, other name) is recognised.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MachineId {
    pub id: [u8; 16],
    /// The computer's name when the journal was made ([`super::local_machine_name`]).
    pub computer: String,
}

impl MachineId {
    /// A fresh id for this computer.
    pub(crate) fn new_here() -> MachineId {
        MachineId {
            id: super::entry::RunId::random().0,
            computer: super::local_machine_name(),
        }
    }

    /// The id as 32 lowercase hex characters (how SQL Server marks carry it).
    pub fn to_hex(&self) -> String {
        super::entry::hex(&self.id)
    }

    fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.id.to_vec();
        out.extend_from_slice(self.computer.as_bytes());
        out
    }

    fn from_bytes(bytes: &[u8]) -> Option<MachineId> {
        let (id, computer) = bytes.split_first_chunk::<16>()?;
        Some(MachineId {
            id: *id,
            computer: String::from_utf8(computer.to_vec()).ok()?,
        })
    }
}

/// The last entry of a journal: its sequence number and hash.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    pub seq: u64,
    pub hash: Digest,
}

impl Head {
    fn to_bytes(self) -> [u8; HEAD_LEN] {
        let mut out = [0u8; HEAD_LEN];
        let (seq, hash) = out.split_at_mut(8);
        seq.copy_from_slice(&self.seq.to_le_bytes());
        hash.copy_from_slice(self.hash.as_bytes());
        out
    }

    fn from_bytes(bytes: &[u8]) -> Option<Head> {
        let (seq, hash) = bytes.split_first_chunk::<8>()?;
        let hash: [u8; 32] = hash.try_into().ok()?;
        Some(Head {
            seq: u64::from_le_bytes(*seq),
            hash: Digest(hash),
        })
    }
}

/// An open journal file, held exclusively by this process until dropped.
pub(crate) struct Store {
    // Field order is drop order: close the database before removing the pid file.
    db: Database,
    path: PathBuf,
    _pid_file: PidFile,
    poisoned: bool,
}

impl Store {
    /// Opens the journal at `path`; with `create`, makes it (and its folder) if missing.
    pub(crate) fn open(path: &Path, create: bool) -> Result<Store, JournalError> {
        if create && let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            // hubup's own folder: nobody but administrators may plant a journal in it.
            crate::access::create_private_dir_all(parent).map_err(|source| {
                JournalError::Unreadable {
                    path: path.to_path_buf(),
                    source,
                }
            })?;
        }
        refuse_if_emptied(path)?;
        if create {
            create_whole(path)?;
        }
        let db = builder().open(path).map_err(|e| open_error(path, e))?;
        let store = Store {
            db,
            path: path.to_path_buf(),
            _pid_file: PidFile::write(path),
            poisoned: false,
        };
        store.ensure_tables()?;
        if create {
            store.ensure_machine()?;
        }
        Ok(store)
    }

    /// The machine identity recorded in `meta`, if the journal has one (a journal made by an
    /// older hubup and only ever opened for reading has none).
    pub(crate) fn read_machine(&self) -> Result<Option<MachineId>, JournalError> {
        let txn = self.begin_read()?;
        let meta = txn
            .open_table(META)
            .map_err(|e| self.storage("opening the meta table", e.into()))?;
        let Some(stored) = meta
            .get(MACHINE_KEY)
            .map_err(|e| self.storage("reading the machine id", e.into()))?
        else {
            return Ok(None);
        };
        MachineId::from_bytes(stored.value())
            .map(Some)
            .ok_or_else(|| JournalError::Damaged {
                path: self.path.clone(),
                detail: "the machine id in the meta table is malformed".to_string(),
            })
    }

    /// Gives a journal made by an older hubup its machine identity (this computer's).
    fn ensure_machine(&self) -> Result<(), JournalError> {
        if self.read_machine()?.is_some() {
            return Ok(());
        }
        write_machine(&self.db, &MachineId::new_here())
            .map_err(|e| self.storage("recording the machine id", e))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Creates the tables of a journal that lacks them (one made by an older hubup), so
    /// readers can always open them.
    fn ensure_tables(&self) -> Result<(), JournalError> {
        let has_tables = {
            let txn = self.begin_read()?;
            txn.open_table(ENTRIES).is_ok() && txn.open_table(META).is_ok()
        };
        if has_tables {
            return Ok(());
        }
        create_tables(&self.db).map_err(|e| self.storage("creating the tables", e))
    }

    pub(crate) fn begin_read(&self) -> Result<ReadTransaction, JournalError> {
        self.db
            .begin_read()
            .map_err(|e| self.storage("starting a read", e.into()))
    }

    /// The head recorded in `meta`, or `None` for an empty journal.
    pub(crate) fn read_head(&self, txn: &ReadTransaction) -> Result<Option<Head>, JournalError> {
        let meta = txn
            .open_table(META)
            .map_err(|e| self.storage("opening the meta table", e.into()))?;
        let Some(stored) = meta
            .get(HEAD_KEY)
            .map_err(|e| self.storage("reading the head", e.into()))?
        else {
            return Ok(None);
        };
        match Head::from_bytes(stored.value()) {
            Some(head) => Ok(Some(head)),
            None => Err(JournalError::Corrupt {
                path: self.path.clone(),
                fault: Box::new(ChainFault::HeadMismatch {
                    seq: 0,
                    recorded: None,
                    found: None,
                }),
            }),
        }
    }

    /// Writes `records` (each a sequence number and its span in `buffer`) and the new head in
    /// one durable transaction. `expected` is the head the batch extends; if the file does not
    /// end there (its entries were removed or added behind our back), nothing is written.
    ///
    /// On `Ok`, the whole batch is durable (one fsync). On any error before the commit,
    /// nothing of it was written. If the commit itself fails, redb guarantees the batch is
    /// all there or not there at all, but not which: the store then refuses further writes
    /// ([`JournalError::Poisoned`]) until it is reopened.
    pub(crate) fn write_batch(
        &mut self,
        expected: Option<Head>,
        buffer: &[u8],
        records: &[(u64, Range<usize>)],
        new_head: Head,
    ) -> Result<(), JournalError> {
        if self.poisoned {
            return Err(JournalError::Poisoned {
                path: self.path.clone(),
            });
        }
        let fail = |e: redb::Error| self.storage("appending a batch", e);
        let mut txn = self.db.begin_write().map_err(|e| fail(e.into()))?;
        txn.set_durability(Durability::Immediate)
            .map_err(|e| fail(e.into()))?;
        // Quick repair commits in two phases: a damaged primary commit slot is then reported
        // as damage instead of redb silently falling back to the previous commit (which would
        // drop the last batch and its head together, unnoticed). Its other half, the saved
        // allocator state, is unused here since every open checks the whole file. Cost: about
        // 0.4 ms instead of 0.2 ms per commit on the development machine.
        txn.set_quick_repair(true);
        {
            let mut entries = txn.open_table(ENTRIES).map_err(|e| fail(e.into()))?;
            self.check_extends(&entries, expected)?;
            for (seq, span) in records {
                let bytes = buffer.get(span.clone()).unwrap_or_default();
                entries.insert(seq, bytes).map_err(|e| fail(e.into()))?;
            }
            let mut meta = txn.open_table(META).map_err(|e| fail(e.into()))?;
            meta.insert(HEAD_KEY, new_head.to_bytes().as_slice())
                .map_err(|e| fail(e.into()))?;
        }
        if let Err(e) = txn.commit() {
            self.poisoned = true;
            return Err(self.storage("committing a batch", e.into()));
        }
        Ok(())
    }

    /// Refuses to write if the file's last entry is not `expected`.
    fn check_extends(
        &self,
        entries: &impl ReadableTable<u64, &'static [u8]>,
        expected: Option<Head>,
    ) -> Result<(), JournalError> {
        let last = entries
            .last()
            .map_err(|e| self.storage("reading the last entry", e.into()))?;
        let found = last.map(|(seq, value)| Head {
            seq: seq.value(),
            hash: super::entry::split_record(value.value())
                .map(|(header, _)| header.hash)
                .unwrap_or(Digest::ZERO),
        });
        if found == expected {
            return Ok(());
        }
        Err(JournalError::Corrupt {
            path: self.path.clone(),
            fault: Box::new(ChainFault::HeadMismatch {
                seq: found.map_or(1, |h| h.seq),
                recorded: expected,
                found,
            }),
        })
    }

    pub(crate) fn storage(&self, action: &'static str, error: redb::Error) -> JournalError {
        storage_error(&self.path, action, error)
    }

    /// Size of the file in bytes.
    pub(crate) fn file_len(&self) -> Result<u64, JournalError> {
        fs::metadata(&self.path)
            .map(|m| m.len())
            .map_err(|e| storage_error(&self.path, "reading the file size", e.into()))
    }
}

/// The database builder every journal is opened with.
fn builder() -> redb::Builder {
    let mut builder = Database::builder();
    builder.set_check_integrity_on_open(true);
    // The default cache is 1 GiB; the journal is read sequentially and rarely.
    builder.set_cache_size(64 * 1024 * 1024);
    builder
}

fn create_tables(db: &Database) -> Result<(), redb::Error> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    txn.open_table(ENTRIES)?;
    txn.open_table(META)?;
    txn.commit()?;
    Ok(())
}

/// Records `machine` in `meta`, unless a machine id is there already (never replaced).
fn write_machine(db: &Database, machine: &MachineId) -> Result<(), redb::Error> {
    let mut txn = db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    {
        let mut meta = txn.open_table(META)?;
        if meta.get(MACHINE_KEY)?.is_none() {
            meta.insert(MACHINE_KEY, machine.to_bytes().as_slice())?;
        }
    }
    txn.commit()?;
    Ok(())
}

/// Refuses a journal file that holds nothing but zero bytes ([`JournalError::Empty`]), for
/// readers and writers alike: its entries are gone, and making a fresh journal in its place
/// would forget a run it may have recorded (resume would then find nothing to finish).
fn refuse_if_emptied(path: &Path) -> Result<(), JournalError> {
    let Ok(meta) = fs::metadata(path) else {
        return Ok(());
    };
    if !meta.is_file() {
        return Ok(());
    }
    match only_zeros(path) {
        Ok(true) => Err(JournalError::Empty {
            path: path.to_path_buf(),
            size: meta.len(),
        }),
        Ok(false) => Ok(()),
        Err(source) => Err(JournalError::Unreadable {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Makes the journal at `path` if there is none, so that it appears whole or not at all: a
/// crash while redb writes a new file's header would otherwise leave a file that is no
/// database, and every later run would stop at it. The journal is built with its tables
/// under a temporary name, then hard-linked into place (which, unlike a rename, never
/// replaces a journal another hubup made meanwhile).
fn create_whole(path: &Path) -> Result<(), JournalError> {
    let unreadable = |source: io::Error| JournalError::Unreadable {
        path: path.to_path_buf(),
        source,
    };
    if path.exists() {
        return Ok(());
    }
    let mut temp = path.as_os_str().to_owned();
    temp.push(".creating");
    let temp = PathBuf::from(temp);
    // A crashed creation's leftover; if another hubup is creating right now, it loses the
    // link race below and simply opens the journal this one links.
    let _ = fs::remove_file(&temp);
    {
        let db = builder().create(&temp).map_err(|e| open_error(&temp, e))?;
        create_tables(&db)
            .and_then(|()| write_machine(&db, &MachineId::new_here()))
            .map_err(|e| JournalError::Storage {
                path: path.to_path_buf(),
                action: "creating the tables",
                detail: e.to_string(),
            })?;
    }
    crate::access::make_private_file(&temp).map_err(unreadable)?;
    let linked = match fs::hard_link(&temp, path) {
        Ok(()) => crate::fsx::sync_parent(path).map_err(unreadable),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(unreadable(e)),
    };
    let _ = fs::remove_file(&temp);
    linked
}

/// True if the file holds nothing but zero bytes (or nothing). Stops at the first other
/// byte, which for a real journal is its first (redb's magic number).
fn only_zeros(path: &Path) -> io::Result<bool> {
    use std::io::Read;
    let mut file = fs::File::open(path)?;
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = file.read(&mut chunk)?;
        if n == 0 {
            return Ok(true);
        }
        if chunk[..n].iter().any(|b| *b != 0) {
            return Ok(false);
        }
    }
}

/// Maps a failed open to what the operator needs to hear.
fn open_error(path: &Path, error: DatabaseError) -> JournalError {
    let path_buf = path.to_path_buf();
    match error {
        DatabaseError::DatabaseAlreadyOpen | DatabaseError::LockProtocolMismatch => {
            JournalError::Busy {
                path: path_buf,
                holder: Holder::of(path),
            }
        }
        DatabaseError::Storage(StorageError::Io(io)) => match io.kind() {
            io::ErrorKind::NotFound => JournalError::NotFound { path: path_buf },
            io::ErrorKind::InvalidData => JournalError::NotAJournal {
                path: path_buf,
                detail: io.to_string(),
            },
            _ => JournalError::Unreadable {
                path: path_buf,
                source: io,
            },
        },
        DatabaseError::Storage(StorageError::Corrupted(detail)) => JournalError::Damaged {
            path: path_buf,
            detail,
        },
        DatabaseError::UpgradeRequired(version) => JournalError::NotAJournal {
            path: path_buf,
            detail: format!("redb file format {version}, older than this hubup reads"),
        },
        other => storage_error(path, "opening", other.into()),
    }
}

/// Maps any other redb failure, keeping damage apart from plain I/O trouble.
fn storage_error(path: &Path, action: &'static str, error: redb::Error) -> JournalError {
    match error {
        redb::Error::Corrupted(detail) => JournalError::Damaged {
            path: path.to_path_buf(),
            detail,
        },
        other => JournalError::Storage {
            path: path.to_path_buf(),
            action,
            detail: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_bytes_round_trip_and_refuse_wrong_lengths() {
        let head = Head {
            seq: 77,
            hash: Digest::of(b"h"),
        };
        assert_eq!(Head::from_bytes(&head.to_bytes()), Some(head));
        assert_eq!(Head::from_bytes(&[0; 39]), None);
        assert_eq!(Head::from_bytes(&[0; 41]), None);
    }

    #[test]
    fn second_open_is_busy_and_names_this_pid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join("journal.redb");
        let _first = Store::open(&path, true).unwrap();
        match Store::open(&path, false) {
            Err(JournalError::Busy {
                holder: Holder::Pid { pid, .. },
                ..
            }) => assert_eq!(pid, std::process::id()),
            Err(other) => panic!("expected busy, got {other}"),
            Ok(_) => panic!("second open succeeded"),
        }
    }

    #[test]
    fn missing_and_foreign_files_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.redb");
        assert!(matches!(
            Store::open(&missing, false),
            Err(JournalError::NotFound { .. })
        ));
        assert!(!missing.exists(), "a reader must not create the journal");
        let foreign = dir.path().join("notes.txt");
        fs::write(&foreign, vec![b'x'; 8192]).unwrap();
        assert!(matches!(
            Store::open(&foreign, false),
            Err(JournalError::NotAJournal { .. })
        ));
    }
}
