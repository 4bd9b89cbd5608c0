//! The journal's error type: every way opening, appending to or reading the journal can fail,
//! each naming the journal file and, where there is one, the entry.

use std::io;
use std::path::PathBuf;

use super::holder::Holder;
use super::verify::ChainFault;

/// A journal operation failed. Every variant names the journal file.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The file does not exist (readers never create it).
    #[error(
        "no journal at {}: nothing has been journaled on this machine yet, or the path is wrong \
         (pass --journal FILE, or --config FILE with [journal] path)",
        path.display()
    )]
    NotFound { path: PathBuf },

    /// Another process has the journal open (redb's exclusive lock).
    #[error(
        "journal {} is in use by another hubup ({holder}): a run is in progress. Wait for it to \
         finish, then try again",
        path.display()
    )]
    Busy { path: PathBuf, holder: Holder },

    /// The file (or its folder) cannot be opened: permissions, a folder in its place, ...
    #[error("cannot open journal {}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The file is not a redb database at all.
    #[error(
        "{} is not a hubup journal ({detail}): check that --journal or the config's \
         [journal] path points at the journal",
        path.display()
    )]
    NotAJournal { path: PathBuf, detail: String },

    /// redb found the file damaged below the level of entries (page checksums, structure).
    #[error(
        "journal {} is damaged ({detail}): it was changed outside hubup or by a disk fault. \
         Keep a copy of the file for investigation; do not resume or roll back from it",
        path.display()
    )]
    Damaged { path: PathBuf, detail: String },

    /// The file holds no bytes, or only zero bytes: whatever it held is gone (a disk or file
    /// system fault), or its creation was cut short by an older hubup. It is never made again
    /// in place: a run it recorded would be forgotten.
    #[error(
        "journal {} is empty ({size} bytes, all zero): its content is lost (a disk or file \
         system fault) or it was never written. hubup will not start a new journal in its \
         place. If no hubup run was in progress on this machine, move the file aside and run \
         the command again; otherwise keep it for investigation and compare the install with \
         `hubup status`",
        path.display()
    )]
    Empty { path: PathBuf, size: u64 },

    /// The hash chain does not hold: an entry was changed, removed, reordered or cannot be
    /// decoded, or the recorded head does not match the last entry.
    #[error(
        "journal {} failed verification: {fault}. The journal was changed outside hubup (or is \
         damaged): keep a copy of the file for the audit, and do not resume or roll back from it",
        path.display()
    )]
    Corrupt {
        path: PathBuf,
        /// Boxed: a head mismatch carries two heads, and errors travel by value.
        fault: Box<ChainFault>,
    },

    /// An entry of a batch is larger than [`MAX_ENTRY_BYTES`](super::MAX_ENTRY_BYTES).
    #[error(
        "journal {}: entry {seq} would be {size} bytes, more than the limit of {limit}; nothing \
         of the batch was written",
        path.display()
    )]
    EntryTooLarge {
        path: PathBuf,
        seq: u64,
        size: usize,
        limit: usize,
    },

    /// An entry of a batch could not be encoded (a bug: every payload type encodes).
    #[error(
        "journal {}: entry {seq} could not be encoded ({reason}); nothing of the batch was written",
        path.display()
    )]
    Encode {
        path: PathBuf,
        seq: u64,
        reason: String,
    },

    /// An earlier commit failed; the handle refuses more appends.
    #[error(
        "journal {}: an earlier commit failed, so this handle accepts no more entries; reopen the \
         journal (its head then shows whether that batch was written)",
        path.display()
    )]
    Poisoned { path: PathBuf },

    /// The journal was made on another computer (copied with a config, or a restored image).
    #[error(
        "journal {} belongs to the computer {made_on} (machine id {id}), but this computer is \
         {here}: a copied journal would make hubup treat the other machine's databases as its \
         own. Give this machine its own journal ([journal] path in the config, or move the \
         copy away); keep the copy only to read it (`hubup journal show --journal FILE`)",
        path.display()
    )]
    Copied {
        path: PathBuf,
        made_on: String,
        here: String,
        id: String,
    },

    /// Any other I/O or storage failure, with what was being done.
    #[error("journal {}: {action} failed: {detail}", path.display())]
    Storage {
        path: PathBuf,
        action: &'static str,
        detail: String,
    },
}

impl JournalError {
    /// True if another hubup process holds the journal (a run is in progress).
    pub fn is_busy(&self) -> bool {
        matches!(self, JournalError::Busy { .. })
    }

    /// True if the journal cannot be trusted: it failed verification ([`Corrupt`]), its
    /// file is damaged ([`Damaged`]) or its content is gone ([`Empty`]). Nothing may resume or
    /// roll back from such a journal; every command answers it the same way (exit 5, this
    /// error's own advice).
    ///
    /// [`Corrupt`]: JournalError::Corrupt
    /// [`Damaged`]: JournalError::Damaged
    /// [`Empty`]: JournalError::Empty
    pub fn is_untrusted(&self) -> bool {
        matches!(
            self,
            JournalError::Corrupt { .. }
                | JournalError::Damaged { .. }
                | JournalError::Empty { .. }
        )
    }

    /// The chain fault, if this is a verification failure.
    pub fn fault(&self) -> Option<&ChainFault> {
        match self {
            JournalError::Corrupt { fault, .. } => Some(fault),
            _ => None,
        }
    }
}
