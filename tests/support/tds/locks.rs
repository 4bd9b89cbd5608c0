//! Session-owned application locks (`sp_getapplock` / `sp_releaseapplock`): exclusive,
//! re-entrant per connection, held until released or the connection ends. Waiting uses a
//! Condvar on this table alone, never the server state mutex.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A lock resource: (database, lower-cased; resource name, compared exactly as SQL Server does).
pub type LockKey = (String, String);

#[derive(Default)]
pub struct AppLocks {
    held: Mutex<HashMap<LockKey, Held>>,
    released: Condvar,
}

struct Held {
    owner: u64,
    count: u32,
}

/// Waiters wake at least this often to notice the stand-in stopping.
const POLL: Duration = Duration::from_millis(100);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl AppLocks {
    /// sp_getapplock's result: 0 granted at once, 1 granted after waiting, -1 timed out.
    /// A negative `timeout_ms` waits without limit (until granted or `stop`).
    pub fn acquire(&self, owner: u64, key: LockKey, timeout_ms: i64, stop: &AtomicBool) -> i32 {
        let deadline = u64::try_from(timeout_ms)
            .ok()
            .map(|ms| Instant::now() + Duration::from_millis(ms));
        let mut held = lock(&self.held);
        let mut waited = false;
        loop {
            match held.get_mut(&key) {
                None => {
                    held.insert(key, Held { owner, count: 1 });
                    return i32::from(waited);
                }
                Some(h) if h.owner == owner => {
                    h.count += 1;
                    return 0;
                }
                Some(_) => {}
            }
            let now = Instant::now();
            if stop.load(Ordering::SeqCst) || deadline.is_some_and(|d| now >= d) {
                return -1;
            }
            let wait = deadline.map_or(POLL, |d| (d - now).min(POLL));
            held = self
                .released
                .wait_timeout(held, wait)
                .unwrap_or_else(|e| e.into_inner())
                .0;
            waited = true;
        }
    }

    /// Releases one hold of `owner` on `key`; false if it holds none.
    pub fn release(&self, owner: u64, key: &LockKey) -> bool {
        let mut held = lock(&self.held);
        let Some(h) = held.get_mut(key).filter(|h| h.owner == owner) else {
            return false;
        };
        h.count -= 1;
        if h.count == 0 {
            held.remove(key);
            self.released.notify_all();
        }
        true
    }

    /// Releases everything `owner` holds (its connection ended).
    pub fn release_all(&self, owner: u64) {
        lock(&self.held).retain(|_, h| h.owner != owner);
        self.released.notify_all();
    }

    /// Wakes every waiter (the stand-in is stopping).
    pub fn wake_all(&self) {
        self.released.notify_all();
    }
}
