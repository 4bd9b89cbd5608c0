//! The executor's journal appends: every entry the executor writes goes through [`append`]
//! (which gives the test faults their hook at every append: the crash lab cuts the run at each
//! of them), and group commit for ops: entries that may wait (an op's "done", a note) are
//! buffered and become durable together with the next entry that may not wait (an op's
//! intent, a step boundary). One redb commit (one fsync) then carries many entries, which is
//! what keeps journaling cheap on a 20,000-file step without breaking the write-ahead rule:
//! - an intent is durable before its effect starts (`now` returns only after the commit);
//! - a done record is buffered only after its effect is durable (the caller's duty).

use crate::exec::faults::Faults;
use crate::journal::{Journal, JournalError, Payload, RunId};

/// Appends `payloads` to `run` in one durable commit, as [`Journal::append`] does, with the
/// test faults' hooks before and after (`HUBUP_TEST_FAULTS`). An empty batch writes nothing.
pub(super) fn append(
    journal: &mut Journal,
    faults: &Faults,
    run: RunId,
    payloads: &[Payload],
) -> Result<(), JournalError> {
    if payloads.is_empty() {
        return Ok(());
    }
    faults.before_append(journal.path(), payloads)?;
    journal.append(run, payloads)?;
    faults.after_append(payloads);
    Ok(())
}

pub struct Recorder<'j> {
    journal: &'j mut Journal,
    faults: &'j Faults,
    run: RunId,
    pending: Vec<Payload>,
}

impl<'j> Recorder<'j> {
    pub fn new(journal: &'j mut Journal, faults: &'j Faults, run: RunId) -> Recorder<'j> {
        Recorder {
            journal,
            faults,
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
        match append(self.journal, self.faults, self.run, &batch) {
            Ok(()) => Ok(()),
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
