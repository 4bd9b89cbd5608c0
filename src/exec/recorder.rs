//! Group commit for the executor: entries that may wait (an op's "done", a note) are buffered
//! and become durable together with the next entry that may not wait (an op's intent, a step
//! boundary). One redb commit (one fsync) then carries many entries, which is what keeps
//! journaling cheap on a 20,000-file step without breaking the write-ahead rule:
//! - an intent is durable before its effect starts (`now` returns only after the commit);
//! - a done record is buffered only after its effect is durable (the caller's duty).

use crate::journal::{Journal, JournalError, Payload, RunId};

pub struct Recorder<'j> {
    journal: &'j mut Journal,
    run: RunId,
    pending: Vec<Payload>,
}

impl<'j> Recorder<'j> {
    pub fn new(journal: &'j mut Journal, run: RunId) -> Recorder<'j> {
        Recorder {
            journal,
            run,
            pending: Vec::new(),
        }
    }

    /// Buffers an entry; it becomes durable with the next [`Recorder::now`] or
    /// [`Recorder::flush`].
    pub fn later(&mut self, payload: Payload) {
        self.pending.push(payload);
    }

    /// Makes the buffered entries and `payloads` durable in one commit. On error nothing of
    /// this batch is in the journal (the buffer is kept for a retry).
    pub fn now(&mut self, payloads: impl IntoIterator<Item = Payload>) -> Result<(), JournalError> {
        let mut batch = std::mem::take(&mut self.pending);
        batch.extend(payloads);
        if batch.is_empty() {
            return Ok(());
        }
        match self.journal.append(self.run, &batch) {
            Ok(_) => Ok(()),
            Err(e) => {
                self.pending = batch;
                Err(e)
            }
        }
    }

    /// Makes the buffered entries durable.
    pub fn flush(&mut self) -> Result<(), JournalError> {
        self.now(std::iter::empty())
    }
}
