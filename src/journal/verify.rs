//! Verifying the hash chain: the walk every reader does over the stored entries, and the
//! diagnosis of what is wrong when it breaks ([`ChainFault`]).
//!
//! The walk checks, entry by entry in key order: the sequence numbers run 1, 2, 3, ... without
//! gaps; the header decodes and names a known format; the stored hash equals
//! blake3(prev || seq || body); `prev` equals the hash of the entry before; the body decodes.
//! At the end, the last entry must be the head recorded in the `meta` table.
//!
//! The hot path allocates nothing per entry beyond what decoding the payload needs. Telling
//! "changed" from "reordered" from "missing" needs more work (searching for where an entry
//! belongs), which is only done once the chain has already failed.

use std::collections::HashSet;
use std::fmt;

use redb::{ReadableTable, StorageError};

use super::entry::{self, Header, RunId, Undecodable};
use super::store::Head;
use crate::digest::Digest;

/// What is wrong with a journal's hash chain, at the first entry where it goes wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChainFault {
    /// The entry's stored hash does not match its contents: its payload (or header) changed.
    Changed { seq: u64 },
    /// The entry's hash matches its contents but it does not link to the entry before it:
    /// one of the two was rewritten with its hash recomputed.
    BrokenLink { seq: u64 },
    /// There is no entry `seq`; `found` is the entry that follows `seq - 1` in its place.
    Missing { seq: u64, found: u64 },
    /// Position `seq` holds the entry that belongs at `belongs_at`.
    Reordered { seq: u64, belongs_at: u64 },
    /// The head recorded with the last commit does not match the last entry present.
    HeadMismatch {
        seq: u64,
        recorded: Option<Head>,
        found: Option<Head>,
    },
    /// The stored record cannot be decoded (bad header, bad encoding, unknown format).
    Undecodable { seq: u64, reason: String },
}

impl ChainFault {
    /// The first sequence number at which the journal is wrong.
    pub fn seq(&self) -> u64 {
        match self {
            ChainFault::Changed { seq }
            | ChainFault::BrokenLink { seq }
            | ChainFault::Missing { seq, .. }
            | ChainFault::Reordered { seq, .. }
            | ChainFault::HeadMismatch { seq, .. }
            | ChainFault::Undecodable { seq, .. } => *seq,
        }
    }

    /// The kind of fault in a few words, as `journal verify` reports it.
    pub fn kind(&self) -> &'static str {
        match self {
            ChainFault::Changed { .. } | ChainFault::BrokenLink { .. } => "payload changed",
            ChainFault::Missing { .. } => "entry missing",
            ChainFault::Reordered { .. } => "entries reordered",
            ChainFault::HeadMismatch { .. } => "head mismatch",
            ChainFault::Undecodable { .. } => "undecodable entry",
        }
    }
}

impl fmt::Display for ChainFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at entry {}: ", self.kind(), self.seq())?;
        match self {
            ChainFault::Changed { seq } => write!(
                f,
                "the stored hash of entry {seq} does not match its contents"
            ),
            ChainFault::BrokenLink { seq } => write!(
                f,
                "entry {seq} does not link to entry {} although its own hash is consistent: one \
                 of them was rewritten and its hash recomputed",
                seq.saturating_sub(1)
            ),
            ChainFault::Missing { seq, found } if *seq <= 1 => {
                write!(f, "the journal starts at entry {found} instead of entry 1")
            }
            ChainFault::Missing { seq, found } => write!(
                f,
                "entry {found} follows entry {} in the chain, so entries from {seq} were removed",
                seq - 1
            ),
            ChainFault::Reordered { seq, belongs_at } => write!(
                f,
                "position {seq} holds entry {belongs_at}, which was written at position {belongs_at}"
            ),
            ChainFault::HeadMismatch {
                recorded, found, ..
            } => f.write_str(&head_mismatch_detail(*recorded, *found)),
            ChainFault::Undecodable { reason, .. } => f.write_str(reason),
        }
    }
}

fn head_mismatch_detail(recorded: Option<Head>, found: Option<Head>) -> String {
    match (recorded, found) {
        (None, None) => "the recorded head is malformed".to_string(),
        (None, Some(found)) => format!(
            "no head is recorded, but the journal holds entries up to {}",
            found.seq
        ),
        (Some(recorded), None) => format!(
            "the recorded head is entry {}, but the journal holds no entries (they were removed)",
            recorded.seq
        ),
        (Some(recorded), Some(found)) if found.seq < recorded.seq => format!(
            "the recorded head is entry {}, but the last entry is {}: entries {}..={} were \
             removed from the end",
            recorded.seq,
            found.seq,
            found.seq + 1,
            recorded.seq
        ),
        (Some(recorded), Some(found)) if found.seq > recorded.seq => format!(
            "the recorded head is entry {}, but entries up to {} follow it: they were added \
             outside hubup",
            recorded.seq, found.seq
        ),
        (Some(recorded), Some(found)) => format!(
            "the last entry {} has hash {}, but the recorded head says {}: it was replaced",
            found.seq,
            found.hash.short(),
            recorded.hash.short()
        ),
    }
}

/// What a successful `journal verify` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// Number of entries.
    pub entries: u64,
    /// Number of distinct runs.
    pub runs: u64,
    /// The last entry, or `None` for an empty journal.
    pub head: Option<Head>,
}

/// Why a walk stopped: a broken chain, or redb could not read.
pub(crate) enum WalkError {
    Fault(ChainFault),
    Storage(StorageError),
}

impl From<StorageError> for WalkError {
    fn from(error: StorageError) -> Self {
        WalkError::Storage(error)
    }
}

/// Walks every entry in order, checking the chain, and hands each verified one to `visit`,
/// which decodes it (and reports an undecodable body). Returns the last entry.
pub(crate) fn walk<T>(
    table: &T,
    recorded: Option<Head>,
    mut visit: impl FnMut(u64, &Header, &[u8]) -> Result<(), Undecodable>,
) -> Result<Option<Head>, WalkError>
where
    T: ReadableTable<u64, &'static [u8]>,
{
    let mut expected_seq: u64 = 1;
    let mut expected_prev = Digest::ZERO;
    let mut last = None;
    for item in table.iter()? {
        let (key, value) = item?;
        let seq = key.value();
        let bytes = value.value();
        if seq != expected_seq {
            return Err(WalkError::Fault(out_of_sequence(expected_seq, seq)));
        }
        let undecodable = |reason: Undecodable| {
            WalkError::Fault(ChainFault::Undecodable {
                seq,
                reason: reason.to_string(),
            })
        };
        let (header, body) = entry::split_record(bytes).map_err(undecodable)?;
        if entry::entry_hash(&header.prev, seq, body) != header.hash {
            return Err(WalkError::Fault(diagnose_changed(
                table,
                seq,
                expected_prev,
                &header,
                body,
            )?));
        }
        if header.prev != expected_prev {
            return Err(WalkError::Fault(diagnose_broken_link(table, seq, &header)?));
        }
        visit(seq, &header, body).map_err(undecodable)?;
        last = Some(Head {
            seq,
            hash: header.hash,
        });
        expected_prev = header.hash;
        expected_seq = seq.saturating_add(1);
    }
    if last != recorded {
        let seq = match (recorded, last) {
            (Some(r), Some(l)) if r.seq != l.seq => r.seq.min(l.seq).saturating_add(1),
            (_, Some(l)) => l.seq,
            (Some(_), None) => 1,
            (None, None) => 0,
        };
        return Err(WalkError::Fault(ChainFault::HeadMismatch {
            seq,
            recorded,
            found: last,
        }));
    }
    Ok(last)
}

/// The whole verification: the walk, decoding every body and counting runs.
pub(crate) fn verify<T>(table: &T, recorded: Option<Head>) -> Result<VerifyReport, WalkError>
where
    T: ReadableTable<u64, &'static [u8]>,
{
    let mut entries = 0u64;
    let mut runs: HashSet<RunId> = HashSet::new();
    let mut last_run = None;
    let head = walk(table, recorded, |_, header, body| {
        let view = entry::decode_view(header, body)?;
        entries += 1;
        // Runs come in long stretches: look up the set only when the run changes.
        if last_run != Some(view.run) {
            runs.insert(view.run);
            last_run = Some(view.run);
        }
        Ok(())
    })?;
    Ok(VerifyReport {
        entries,
        runs: runs.len() as u64,
        head,
    })
}

fn out_of_sequence(expected: u64, found: u64) -> ChainFault {
    if found > expected {
        ChainFault::Missing {
            seq: expected,
            found,
        }
    } else {
        ChainFault::Undecodable {
            seq: found,
            reason: format!("sequence number {found} where {expected} was expected"),
        }
    }
}

/// The entry at `seq` does not hash to its stored hash. If it hashes correctly under another
/// sequence number, it was moved: reordered if the entry that belongs at `seq` is elsewhere in
/// the journal, else the entries between were removed and the rest renumbered.
fn diagnose_changed<T>(
    table: &T,
    seq: u64,
    expected_prev: Digest,
    header: &Header,
    body: &[u8],
) -> Result<ChainFault, StorageError>
where
    T: ReadableTable<u64, &'static [u8]>,
{
    let last_key = table.last()?.map_or(seq, |(key, _)| key.value());
    let Some(written_at) = original_position(header, body, seq, last_key.max(seq)) else {
        return Ok(ChainFault::Changed { seq });
    };
    if written_at < seq || holds_original(table, seq, expected_prev)? {
        return Ok(ChainFault::Reordered {
            seq,
            belongs_at: written_at,
        });
    }
    Ok(ChainFault::Missing {
        seq,
        found: written_at,
    })
}

/// The sequence number the entry was written under, searched outwards from `seq`.
fn original_position(header: &Header, body: &[u8], seq: u64, limit: u64) -> Option<u64> {
    let hashes_as =
        |candidate: u64| entry::entry_hash(&header.prev, candidate, body) == header.hash;
    let reach = limit.saturating_add(1);
    (1..=reach).find_map(|distance| {
        let above = seq.checked_add(distance).filter(|s| *s <= reach);
        let below = seq.checked_sub(distance).filter(|s| *s >= 1);
        if above.is_none() && below.is_none() {
            return Some(None);
        }
        [above, below]
            .into_iter()
            .flatten()
            .find(|s| hashes_as(*s))
            .map(Some)
    })?
}

/// True if some entry after `seq` is the one written at `seq` (links to `prev`, hashes as `seq`).
fn holds_original<T>(table: &T, seq: u64, prev: Digest) -> Result<bool, StorageError>
where
    T: ReadableTable<u64, &'static [u8]>,
{
    for item in table.range(seq.saturating_add(1)..)? {
        let (_, value) = item?;
        if let Ok((header, body)) = entry::split_record(value.value())
            && header.prev == prev
            && entry::entry_hash(&prev, seq, body) == header.hash
        {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The entry at `seq` is intact but links elsewhere than to its predecessor. Linking to an
/// entry further back means the entries between are not the ones it followed.
fn diagnose_broken_link<T>(table: &T, seq: u64, header: &Header) -> Result<ChainFault, StorageError>
where
    T: ReadableTable<u64, &'static [u8]>,
{
    for item in table.range(..seq.saturating_sub(1))? {
        let (key, value) = item?;
        if let Ok((earlier, _)) = entry::split_record(value.value())
            && earlier.hash == header.prev
        {
            return Ok(ChainFault::Missing {
                seq: key.value().saturating_add(1),
                found: seq,
            });
        }
    }
    Ok(ChainFault::BrokenLink { seq })
}
