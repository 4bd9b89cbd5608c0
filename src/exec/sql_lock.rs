//! SQL Server's installation lock, held by the executor around its database work: one guard
//! that takes it and gives it back when dropped, on every path out (success, error, early
//! return), so no stretch of work can forget the release.
//!
//! The lock is re-entrant ([`SqlTarget::lock`]): an upgrade holds it for the whole run and
//! each step takes it again inside, so a step run within an upgrade never waits for itself,
//! and a resumed or rolled-back step (no run-wide guard) still holds it for its own work.

use std::ops::{Deref, DerefMut};

use crate::exec::Engine;
use crate::sql::{SqlError, SqlTarget};

/// What owns the SQL target the lock is taken on: the engine (and a stand-in in the tests).
pub(super) trait HoldsSql {
    fn sql(&mut self) -> &mut dyn SqlTarget;
}

impl HoldsSql for Engine<'_> {
    fn sql(&mut self) -> &mut dyn SqlTarget {
        &mut *self.sql
    }
}

/// The engine while it holds the installation lock (if the work needed it): derefs to the
/// engine, and releases the lock when dropped.
pub(super) struct SqlLocked<'e, E: HoldsSql> {
    holder: &'e mut E,
    held: bool,
}

impl<'e, E: HoldsSql> SqlLocked<'e, E> {
    /// Takes the lock if `needed` (work without database ops runs without it, so a machine
    /// whose SQL Server is out of reach can still run a step that does not touch it). On an
    /// error nothing is held.
    pub(super) fn take(holder: &'e mut E, needed: bool) -> Result<Self, SqlError> {
        if needed {
            holder.sql().lock()?;
        }
        Ok(SqlLocked {
            holder,
            held: needed,
        })
    }
}

impl<E: HoldsSql> Deref for SqlLocked<'_, E> {
    type Target = E;

    fn deref(&self) -> &E {
        self.holder
    }
}

impl<E: HoldsSql> DerefMut for SqlLocked<'_, E> {
    fn deref_mut(&mut self) -> &mut E {
        self.holder
    }
}

impl<E: HoldsSql> Drop for SqlLocked<'_, E> {
    /// A failed release is only logged: it cannot undo the work done under the lock, and
    /// SQL Server releases a session's application lock when the connection closes, which
    /// happens when hubup exits.
    fn drop(&mut self) {
        if !self.held {
            return;
        }
        if let Err(e) = self.holder.sql().unlock() {
            tracing::warn!(
                "releasing the SQL Server installation lock failed: {e}; SQL Server releases \
                 it when hubup's connection closes"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::{OpOutcome, SqlBefore, SqlOp};

    /// Counts lock depth like the execution target; its lock can be made to fail.
    #[derive(Default)]
    struct Counting {
        depth: u32,
        refuse: bool,
    }

    impl SqlTarget for Counting {
        fn preflight(&mut self, _: &[SqlOp]) -> Result<(), SqlError> {
            Ok(())
        }
        fn lock(&mut self) -> Result<(), SqlError> {
            if self.refuse {
                return Err(SqlError::Migration {
                    problem: "refused".into(),
                });
            }
            self.depth += 1;
            Ok(())
        }
        fn unlock(&mut self) -> Result<(), SqlError> {
            self.depth -= 1;
            Ok(())
        }
        fn verify_dba_work(&mut self, _: &[SqlOp]) -> Result<(), SqlError> {
            Ok(())
        }
        fn apply(&mut self, _: &SqlOp, _: Option<&SqlBefore>) -> Result<OpOutcome, SqlError> {
            Ok(OpOutcome::Applied)
        }
        fn check(&mut self, _: &SqlOp, _: Option<&SqlBefore>) -> Result<bool, SqlError> {
            Ok(true)
        }
        fn undo(
            &mut self,
            _: &SqlOp,
            _: Option<&OpOutcome>,
            _: Option<&SqlBefore>,
        ) -> Result<(), SqlError> {
            Ok(())
        }
    }

    impl HoldsSql for Counting {
        fn sql(&mut self) -> &mut dyn SqlTarget {
            self
        }
    }

    fn fails_inside(target: &mut Counting) -> Result<(), SqlError> {
        let locked = SqlLocked::take(target, true)?;
        assert_eq!(locked.depth, 1);
        Err(SqlError::Migration {
            problem: "an op failed".into(),
        })
    }

    #[test]
    fn released_on_every_way_out_and_nested_guards_balance() {
        let mut target = Counting::default();
        assert!(fails_inside(&mut target).is_err());
        assert_eq!(target.depth, 0, "released after an error");
        {
            let mut outer = SqlLocked::take(&mut target, true).unwrap();
            let inner = SqlLocked::take(&mut *outer, true).unwrap();
            assert_eq!(inner.depth, 2, "re-entrant");
        }
        assert_eq!(target.depth, 0, "both released");
    }

    #[test]
    fn not_taken_when_not_needed_or_refused() {
        let mut target = Counting::default();
        drop(SqlLocked::take(&mut target, false).unwrap());
        assert_eq!(target.depth, 0);
        target.refuse = true;
        assert!(SqlLocked::take(&mut target, true).is_err());
        assert_eq!(target.depth, 0, "nothing to release after a refusal");
    }
}
