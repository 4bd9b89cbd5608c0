//! Verifying the hash chain: the walk every reader does over the stored entries, and the
//! diagnosis of what is wrong when it breaks ([`ChainFault`]).
//!
//! The walk checks, entry by entry in key order: the sequence numbers run 1, 2, 3, ... without
//! gaps; the header decodes and names a known format; the stored hash equals
//! blake3(prev || seq || body); `prev` equals the hash of the entry before; the body decodes.
//! At the end, the last entry must be the head recorded in the `meta` table.
//!
//! The hot path allocates nothing per entry beyond what decoding the payload needs, and
//! `journal verify` decodes on other threads while the chain is checked. Telling
//! "changed" from "reordered" from "missing" needs more work (searching for where an entry
//! belongs), which is only done once the chain has already failed.

use std::collections::HashSet;
use std::fmt;
use std::ops::Range;
use std::sync::{Mutex, mpsc};

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
                recorded,
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

/// Bodies go to the decoding threads in chunks of about this many bytes.
const CHUNK_BYTES: usize = 1 << 20;
/// Chunks waiting for a decoder before the walk waits for one (bounds the memory used).
const CHUNKS_IN_FLIGHT: usize = 8;
/// At most this many decoding threads: beyond it, the walk itself is the bottleneck.
const MAX_DECODERS: usize = 4;

/// The whole verification: the walk checks the chain on this thread while decoding threads
/// (one per core, at most [`MAX_DECODERS`]) decode every body and count the runs. Decoding
/// costs about three times what hashing does (a plan holds thousands of ops), so they
/// overlap. The first fault in sequence order is reported, as a single-threaded walk would.
pub(crate) fn verify<T>(table: &T, recorded: Option<Head>) -> Result<VerifyReport, WalkError>
where
    T: ReadableTable<u64, &'static [u8]>,
{
    let decoders = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, MAX_DECODERS);
    let (send, receive) = mpsc::sync_channel::<Chunk>(CHUNKS_IN_FLIGHT);
    let (recycle, recycled) = mpsc::channel::<Chunk>();
    let receive = Mutex::new(receive);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..decoders)
            .map(|_| {
                let (receive, recycle) = (&receive, recycle.clone());
                scope.spawn(move || decode_chunks(receive, recycle))
            })
            .collect();
        drop(recycle);
        let mut chunk = Chunk::default();
        let mut entries = 0u64;
        let walked = walk(table, recorded, |seq, header, body| {
            entries += 1;
            chunk.push(seq, header, body);
            if chunk.bytes.len() >= CHUNK_BYTES {
                let next = recycled.try_recv().unwrap_or_default();
                // Sends cannot fail: the decoders run until this sender is dropped.
                let _ = send.send(std::mem::replace(&mut chunk, next));
            }
            Ok(())
        });
        if !chunk.entries.is_empty() {
            let _ = send.send(chunk);
        }
        drop(send);
        let mut decoded = Decoded::default();
        for worker in workers {
            match worker.join() {
                Ok(part) => decoded.merge(part),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        match (walked, decoded.first_fault) {
            (Err(WalkError::Fault(fault)), Some(undecodable))
                if undecodable.seq() <= fault.seq() =>
            {
                Err(WalkError::Fault(undecodable))
            }
            (Err(error), _) => Err(error),
            (Ok(_), Some(undecodable)) => Err(WalkError::Fault(undecodable)),
            (Ok(head), None) => Ok(VerifyReport {
                entries,
                runs: decoded.runs.len() as u64,
                head,
            }),
        }
    })
}

/// Entries on their way to a decoder: their bodies, back to back, and where each one is.
#[derive(Default)]
struct Chunk {
    bytes: Vec<u8>,
    entries: Vec<(u64, Header, Range<usize>)>,
}

impl Chunk {
    fn push(&mut self, seq: u64, header: &Header, body: &[u8]) {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(body);
        self.entries.push((seq, *header, start..self.bytes.len()));
    }
}

/// What the decoders found: the runs, and the undecodable entry with the lowest seq.
#[derive(Default)]
struct Decoded {
    runs: HashSet<RunId>,
    first_fault: Option<ChainFault>,
}

impl Decoded {
    fn merge(&mut self, other: Decoded) {
        self.runs.extend(other.runs);
        if let Some(fault) = other.first_fault
            && self
                .first_fault
                .as_ref()
                .is_none_or(|f| fault.seq() < f.seq())
        {
            self.first_fault = Some(fault);
        }
    }
}

/// A decoding thread: takes chunks until the walk is done, decodes every body (skipping those
/// after an undecodable one it already found: only the first matters), counts the runs, and
/// hands emptied chunks back for reuse.
fn decode_chunks(chunks: &Mutex<mpsc::Receiver<Chunk>>, recycle: mpsc::Sender<Chunk>) -> Decoded {
    let mut decoded = Decoded::default();
    let mut last_run = None;
    loop {
        // The lock is held only to take the next chunk; a poisoned lock means another decoder
        // panicked, which the join reports.
        let next = match chunks.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => break,
        };
        let Ok(mut chunk) = next else { break };
        for (seq, header, span) in &chunk.entries {
            if decoded.first_fault.as_ref().is_some_and(|f| f.seq() < *seq) {
                break;
            }
            let body = chunk.bytes.get(span.clone()).unwrap_or_default();
            match entry::decode_view(header, body) {
                // Runs come in long stretches: look up the set only when the run changes.
                Ok(view) if last_run != Some(view.run) => {
                    decoded.runs.insert(view.run);
                    last_run = Some(view.run);
                }
                Ok(_) => {}
                Err(reason) => {
                    decoded.first_fault = Some(ChainFault::Undecodable {
                        seq: *seq,
                        reason: reason.to_string(),
                    });
                }
            }
        }
        chunk.bytes.clear();
        chunk.entries.clear();
        let _ = recycle.send(chunk);
    }
    decoded
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
    recorded: Option<Head>,
) -> Result<ChainFault, StorageError>
where
    T: ReadableTable<u64, &'static [u8]>,
{
    // An entry cannot have been written past the recorded head (or the number of entries, if
    // the head was changed too); the search is also capped, since a hostile file can claim
    // any sequence number.
    let written = table.len()?.max(recorded.map_or(0, |h| h.seq));
    let last_key = table.last()?.map_or(seq, |(key, _)| key.value());
    let limit = last_key
        .min(written.saturating_add(1))
        .max(seq)
        .min(seq.saturating_add(SEARCH_LIMIT));
    let Some(written_at) = original_position(header, body, seq, limit) else {
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

/// How far from its position a moved entry is searched for (one hash per candidate).
const SEARCH_LIMIT: u64 = 10_000_000;

/// The sequence number the entry was written under, searched outwards from `seq` up to `limit`.
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
