//! The install lock: one hubup at a time changes an install, whichever journal it uses.
//!
//! The journal's own lock (redb's) only keeps two hubups off one journal; two administrators,
//! or `HUBUP_CONFIG` against the default config, can point two runs with different journals at
//! the same install. So every changing command (`upgrade`, `resume`, `rollback`) first takes
//! an OS file lock on [`LOCK_FILE`] in the install root, before it opens its journal or
//! changes anything, and holds it until it exits; a second hubup is refused (exit 6) naming
//! the holder's pid and journal, which the holder writes into the lock file once it has the
//! lock. The reading commands (`status`, `plan`, `check`, `sql-script`) ask
//! [`install_lock_holder`] and report "a run is in progress" instead of reading a half-changed
//! install.
//!
//! The lock is the operating system's, never the file's existence: `flock` on Unix (through
//! fs4), `LockFileEx` on Windows. The OS releases it when the process ends, however it ends,
//! so a crash never leaves it stale; the file itself stays (removing it would let a process
//! that opened the old file and one that made a new one both "hold" the lock). Windows locks
//! are mandatory (locked bytes cannot be read by others), so there the lock covers one byte
//! far beyond the file's content, and the holder's pid and journal stay readable.
//!
//! The lock file is not part of the install: the install-tree digest, the product-file scan
//! and drift skip it (`install.rs`), as they skip `backup_4.n`.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

/// Name of the lock file in the install root.
pub const LOCK_FILE: &str = "hubup.lock";

/// How long a changing command waits for a reading command's momentary check to end
/// before it calls the install busy (readers hold the lock, shared, for microseconds).
const RETRIES: u32 = 40;
const RETRY_PAUSE: std::time::Duration = std::time::Duration::from_millis(25);

/// The install lock, held by this process until dropped (or until it exits).
#[derive(Debug)]
pub struct InstallLock {
    file: File,
    root: PathBuf,
    path: PathBuf,
}

/// What the lock file says about the process that holds the lock.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LockHolder {
    pub pid: Option<u32>,
    /// The journal the holder's run writes to.
    pub journal: Option<String>,
}

impl fmt::Display for LockHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.pid, &self.journal) {
            (Some(pid), Some(journal)) => write!(f, "pid {pid}, journal {journal}"),
            (Some(pid), None) => write!(f, "pid {pid}"),
            (None, _) => f.write_str("pid unknown: it has not recorded itself yet"),
        }
    }
}

/// The install lock could not be taken, or asked about.
#[derive(Debug, thiserror::Error)]
pub enum InstallLockError {
    /// Another process holds the lock: a run is in progress.
    #[error(
        "the install {} is being changed by another hubup ({holder}; from {}): a run is in \
         progress. Wait for it to finish, then try again",
        root.display(),
        lock.display()
    )]
    Held {
        root: PathBuf,
        lock: PathBuf,
        holder: LockHolder,
    },
    /// The install root is not a folder.
    #[error(
        "no install at {}: {source}; check install.root in the config",
        root.display()
    )]
    NoInstall {
        root: PathBuf,
        #[source]
        source: io::Error,
    },
    /// The lock file cannot be opened or locked.
    #[error("cannot take the install lock {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl InstallLockError {
    /// True if another process holds the lock (a run is in progress).
    pub fn is_held(&self) -> bool {
        matches!(self, InstallLockError::Held { .. })
    }
}

impl InstallLock {
    /// Takes the lock of the install under `root` for this process and records this process
    /// and `journal` in the lock file. Creates the lock file if needed; changes nothing else.
    ///
    /// Fails with [`InstallLockError::Held`] if another process holds it (after waiting
    /// about a second for a reading command's momentary check to end),
    /// [`InstallLockError::NoInstall`] if `root` is not a folder. Failing to record the
    /// holder only makes a refused process's message vaguer, and is not an error.
    pub fn acquire(root: &Path, journal: &Path) -> Result<InstallLock, InstallLockError> {
        let path = lock_path(root)?;
        let io_error = |source| InstallLockError::Io {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_error)?;
        let mut attempt = 0;
        while !os::try_lock(&file, true).map_err(io_error)? {
            attempt += 1;
            if attempt >= RETRIES {
                return Err(InstallLockError::Held {
                    root: root.to_path_buf(),
                    holder: read_holder(&mut file),
                    lock: path,
                });
            }
            std::thread::sleep(RETRY_PAUSE);
        }
        if let Err(e) = record_holder(&mut file, journal) {
            tracing::warn!(
                "could not write {} (it only names the install's holder): {e}",
                path.display()
            );
        }
        Ok(InstallLock {
            file,
            root: root.to_path_buf(),
            path,
        })
    }

    /// The install root this lock is on.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for InstallLock {
    fn drop(&mut self) {
        // Forget the holder first, so nobody reads a pid that is gone; then let go. (The OS
        // lets go anyway when the file closes or the process ends.)
        let _ = self.file.set_len(0);
        let _ = os::unlock(&self.file);
    }
}

/// Who holds the lock of the install under `root`, if anyone: `None` when no hubup is
/// changing it. Takes and at once releases a shared lock; changes nothing (a missing lock
/// file means no hubup ever held the install, and is not created).
pub fn install_lock_holder(root: &Path) -> Result<Option<LockHolder>, InstallLockError> {
    let path = lock_path(root)?;
    let mut file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(InstallLockError::Io { path, source }),
    };
    let free = os::try_lock(&file, false).map_err(|source| InstallLockError::Io {
        path: path.clone(),
        source,
    })?;
    if free {
        let _ = os::unlock(&file);
        return Ok(None);
    }
    Ok(Some(read_holder(&mut file)))
}

/// For the reading commands: [`InstallLockError::Held`] if a hubup holds the lock of the
/// install under `root` (a run is in progress, so what they would read is half changed).
/// Anything else (no install there, a lock file that cannot be read) is left to the
/// command's own reading of the install to report.
pub fn refuse_if_held(root: &Path) -> Result<(), InstallLockError> {
    match install_lock_holder(root) {
        Ok(Some(holder)) => Err(InstallLockError::Held {
            root: root.to_path_buf(),
            lock: root.join(LOCK_FILE),
            holder,
        }),
        Ok(None) | Err(_) => Ok(()),
    }
}

/// The lock file of the install under `root`, which must be a folder.
fn lock_path(root: &Path) -> Result<PathBuf, InstallLockError> {
    match std::fs::metadata(root) {
        Ok(meta) if meta.is_dir() => Ok(root.join(LOCK_FILE)),
        Ok(_) => Err(InstallLockError::NoInstall {
            root: root.to_path_buf(),
            source: io::Error::other("it is not a folder"),
        }),
        Err(source) => Err(InstallLockError::NoInstall {
            root: root.to_path_buf(),
            source,
        }),
    }
}

/// Writes `pid N` and `journal PATH` lines over the lock file's content.
fn record_holder(file: &mut File, journal: &Path) -> io::Result<()> {
    let text = format!(
        "hubup install lock: held by\npid {}\njournal {}\n",
        std::process::id(),
        journal.display()
    );
    file.set_len(0)?;
    file.rewind()?;
    file.write_all(text.as_bytes())?;
    file.flush()
}

/// Reads the holder from the lock file; anything unreadable is left unknown.
fn read_holder(file: &mut File) -> LockHolder {
    let mut text = String::new();
    let read = file
        .rewind()
        .and_then(|()| file.take(64 * 1024).read_to_string(&mut text));
    if read.is_err() {
        return LockHolder::default();
    }
    parse_holder(&text)
}

fn parse_holder(text: &str) -> LockHolder {
    let mut holder = LockHolder::default();
    for line in text.lines() {
        if let Some(pid) = line.strip_prefix("pid ") {
            holder.pid = pid.trim().parse().ok();
        } else if let Some(journal) = line.strip_prefix("journal ") {
            holder.journal = Some(journal.trim_end().to_string());
        }
    }
    holder
}

/// `flock` through fs4: advisory, whole file; the content stays readable.
#[cfg(unix)]
mod os {
    use std::fs::File;
    use std::io;

    /// Takes the lock without waiting: `Ok(false)` if another process holds it.
    pub(super) fn try_lock(file: &File, exclusive: bool) -> io::Result<bool> {
        let result = if exclusive {
            fs4::FileExt::try_lock(file)
        } else {
            fs4::FileExt::try_lock_shared(file)
        };
        match result {
            Ok(()) => Ok(true),
            Err(fs4::TryLockError::WouldBlock) => Ok(false),
            Err(fs4::TryLockError::Error(e)) => Err(e),
        }
    }

    pub(super) fn unlock(file: &File) -> io::Result<()> {
        fs4::FileExt::unlock(file)
    }
}

/// `LockFileEx` on one byte at [`LOCK_OFFSET`]: Windows locks are mandatory, so locking the
/// content would keep a refused process from reading who holds the lock. A range beyond the
/// end of a file may be locked.
#[cfg(windows)]
mod os {
    use std::fs::File;
    use std::io;
    use std::os::windows::io::AsRawHandle;

    use windows_sys::Win32::Foundation::{ERROR_LOCK_VIOLATION, HANDLE};
    use windows_sys::Win32::Storage::FileSystem::{
        LOCKFILE_EXCLUSIVE_LOCK, LOCKFILE_FAIL_IMMEDIATELY, LockFileEx, UnlockFileEx,
    };
    use windows_sys::Win32::System::IO::OVERLAPPED;

    /// Where the locked byte is: far beyond any content the lock file holds.
    const LOCK_OFFSET: u64 = 1 << 62;

    fn at_lock_offset() -> OVERLAPPED {
        let mut overlapped = OVERLAPPED::default();
        overlapped.Anonymous.Anonymous.Offset = LOCK_OFFSET as u32;
        overlapped.Anonymous.Anonymous.OffsetHigh = (LOCK_OFFSET >> 32) as u32;
        overlapped
    }

    /// Takes the lock without waiting: `Ok(false)` if another process holds it.
    pub(super) fn try_lock(file: &File, exclusive: bool) -> io::Result<bool> {
        let mut flags = LOCKFILE_FAIL_IMMEDIATELY;
        if exclusive {
            flags |= LOCKFILE_EXCLUSIVE_LOCK;
        }
        let mut overlapped = at_lock_offset();
        // SAFETY: the handle is open for the call (`file` borrows it) and `overlapped` lives
        // across it; with a synchronous handle LockFileEx completes before returning.
        let ok = unsafe {
            LockFileEx(
                file.as_raw_handle() as HANDLE,
                flags,
                0,
                1,
                0,
                &mut overlapped,
            )
        };
        if ok != 0 {
            return Ok(true);
        }
        let error = io::Error::last_os_error();
        if error.raw_os_error() == Some(ERROR_LOCK_VIOLATION as i32) {
            return Ok(false);
        }
        Err(error)
    }

    pub(super) fn unlock(file: &File) -> io::Result<()> {
        let mut overlapped = at_lock_offset();
        // SAFETY: as in `try_lock`.
        let ok = unsafe { UnlockFileEx(file.as_raw_handle() as HANDLE, 0, 1, 0, &mut overlapped) };
        if ok != 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_naming_the_first_and_the_lock_frees_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        let journal = dir.path().join("a.redb");
        let first = InstallLock::acquire(dir.path(), &journal).unwrap();
        let holder = install_lock_holder(dir.path()).unwrap().expect("held");
        assert_eq!(holder.pid, Some(std::process::id()));
        assert_eq!(holder.journal, Some(journal.display().to_string()));
        // A second handle, as a second hubup would open it (flock and LockFileEx locks
        // belong to the open file, so this conflicts even within one process).
        match InstallLock::acquire(dir.path(), &dir.path().join("b.redb")) {
            Err(InstallLockError::Held { holder, .. }) => {
                assert_eq!(holder.pid, Some(std::process::id()));
                assert!(holder.to_string().contains("a.redb"), "{holder}");
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        drop(first);
        assert_eq!(install_lock_holder(dir.path()).unwrap(), None);
        let again = InstallLock::acquire(dir.path(), &journal).unwrap();
        assert!(again.path().ends_with(LOCK_FILE));
    }

    #[test]
    fn asking_about_an_install_never_locked_creates_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(install_lock_holder(dir.path()).unwrap(), None);
        assert!(!dir.path().join(LOCK_FILE).exists());
        let missing = dir.path().join("nope");
        assert!(matches!(
            InstallLock::acquire(&missing, Path::new("j")),
            Err(InstallLockError::NoInstall { .. })
        ));
        assert!(!missing.exists());
    }

    #[test]
    fn holder_lines_parse_and_garbage_is_unknown() {
        let holder = parse_holder("hubup install lock: held by\npid 42\njournal C:\\x y.redb\n");
        assert_eq!(holder.pid, Some(42));
        assert_eq!(holder.journal.as_deref(), Some("C:\\x y.redb"));
        assert_eq!(parse_holder("junk"), LockHolder::default());
    }
}
