//! Durable file primitives: the only way hubup changes a file.
//!
//! DESIGN.md's durability rules, in one place: an installed file is never modified in place.
//! New content goes to a temp file in the target's own folder, is flushed (fsync /
//! `FlushFileBuffers`), then renamed over the target (`rename` / `MoveFileEx` with replace), and
//! the folder is flushed so the rename itself survives a power cut. A failed flush is an error,
//! never ignored.
//!
//! Folder flushes are the caller's to batch: many writes into one folder need one
//! [`sync_dir`] after the last rename, so these functions return and [`DirtyDirs`] collects
//! the folders to flush.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::digest::Digest;

/// Suffix of the temp files hubup writes next to their targets. A leftover one (after a crash)
/// is never a product file and is removed by the next write of the same target.
pub(crate) const TEMP_SUFFIX: &str = ".hubup-tmp";

/// The temp path used for writing `target`.
pub(crate) fn temp_path_for(target: &Path) -> PathBuf {
    let mut name = target
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(TEMP_SUFFIX);
    target.with_file_name(name)
}

/// What a streamed write produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Written {
    pub size: u64,
    pub digest: Digest,
}

/// Why a write failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WriteError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "{path}: the content written ({got_size} bytes, {got}) is not what was expected \
         ({want_size} bytes, {want}); the target was left unchanged"
    )]
    Mismatch {
        path: PathBuf,
        got: Digest,
        got_size: u64,
        want: Digest,
        want_size: u64,
    },
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> WriteError + '_ {
    move |source| WriteError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Something that writes a file's content.
pub(crate) type Producer<'p> = &'p mut dyn FnMut(&mut dyn Write) -> io::Result<()>;

/// Writes what `produce` yields into `target` durably (temp file, flush, rename). If `expected`
/// is given, the content must have exactly that size and digest, or the target is left
/// unchanged.
///
/// On error the target is unchanged and the temp file is removed (best effort). On success the
/// file itself is durable; the caller must still [`sync_dir`] the target's folder (or hand it
/// to [`DirtyDirs`]) before recording the write as done.
pub(crate) fn write_file(
    target: &Path,
    produce: Producer<'_>,
    expected: Option<(u64, Digest)>,
) -> Result<Written, WriteError> {
    let (temp, written) = write_temp(target, produce, expected, true)?;
    if let Err(source) = fs::rename(&temp, target) {
        let _ = fs::remove_file(&temp);
        return Err(WriteError::Io {
            path: target.to_path_buf(),
            source,
        });
    }
    Ok(written)
}

/// Writes `target`'s temp file (flushed if `flush`) and checks it against `expected`. On error
/// the temp file is removed (best effort) and the target is untouched.
fn write_temp(
    target: &Path,
    produce: Producer<'_>,
    expected: Option<(u64, Digest)>,
    flush: bool,
) -> Result<(PathBuf, Written), WriteError> {
    let temp = temp_path_for(target);
    let result = fill_temp(target, &temp, produce, expected, flush);
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result.map(|written| (temp, written))
}

fn fill_temp(
    target: &Path,
    temp: &Path,
    produce: Producer<'_>,
    expected: Option<(u64, Digest)>,
    flush: bool,
) -> Result<Written, WriteError> {
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(temp)
        .map_err(io_at(temp))?;
    let mut out = HashingWriter {
        inner: io::BufWriter::with_capacity(256 * 1024, file),
        hasher: blake3::Hasher::new(),
        size: 0,
    };
    produce(&mut out).map_err(io_at(target))?;
    let written = Written {
        size: out.size,
        digest: out.hasher.finalize().into(),
    };
    if let Some((want_size, want)) = expected
        && (written.size != want_size || written.digest != want)
    {
        return Err(WriteError::Mismatch {
            path: target.to_path_buf(),
            got: written.digest,
            got_size: written.size,
            want,
            want_size,
        });
    }
    let file = out
        .inner
        .into_inner()
        .map_err(|e| io_at(temp)(e.into_error()))?;
    if flush {
        file.sync_all().map_err(io_at(temp))?;
    }
    Ok(written)
}

/// Many file writes made durable together: each file is written to its temp file, then the
/// batch is made durable, then each is renamed over its target. Where the file system is
/// known to honour `syncfs` ([`FlushMode::SyncFs`]), one `syncfs` per file system covers the
/// whole batch instead of one `fsync` per file (tens of thousands of fsyncs are what make a
/// durable upgrade slow); elsewhere ([`FlushMode::PerFile`]) each temp file is flushed as it
/// is written. The folders of the renames go to [`DirtyDirs`] for the caller's folder flush.
#[derive(Default, Debug)]
pub(crate) struct Staging {
    staged: Vec<Staged>,
}

#[derive(Debug)]
struct Staged {
    temp: PathBuf,
    target: PathBuf,
    /// Flushed when written (per-file mode); otherwise the commit's `syncfs` flushes it.
    flushed: bool,
}

impl Staging {
    /// Writes `target`'s new content to its temp file. Nothing is visible at `target` yet.
    pub(crate) fn stage(
        &mut self,
        target: &Path,
        produce: Producer<'_>,
        expected: Option<(u64, Digest)>,
    ) -> Result<Written, WriteError> {
        let flush_now = flush_mode(target) == FlushMode::PerFile;
        let (temp, written) = write_temp(target, produce, expected, flush_now)?;
        self.staged.push(Staged {
            temp,
            target: target.to_path_buf(),
            flushed: flush_now,
        });
        Ok(written)
    }

    /// Makes every staged file durable and renames it over its target. On error, what was
    /// not yet renamed stays staged (for [`Staging::abandon`]).
    pub(crate) fn commit(&mut self, dirty: &mut DirtyDirs) -> Result<(), WriteError> {
        let unflushed: Vec<&Path> = self
            .staged
            .iter()
            .filter(|s| !s.flushed)
            .map(|s| s.temp.as_path())
            .collect();
        if let Some(first) = unflushed.first() {
            let first = first.to_path_buf();
            flush_file_systems(&unflushed).map_err(|source| WriteError::Io {
                path: first,
                source,
            })?;
            for staged in &mut self.staged {
                staged.flushed = true;
            }
        }
        while let Some(staged) = self.staged.pop() {
            if let Err(source) = fs::rename(&staged.temp, &staged.target) {
                let target = staged.target.clone();
                self.staged.push(staged);
                return Err(WriteError::Io {
                    path: target,
                    source,
                });
            }
            dirty.touch(&staged.target);
        }
        Ok(())
    }

    /// Removes the temp files of everything still staged.
    pub(crate) fn abandon(&mut self) {
        for staged in self.staged.drain(..) {
            let _ = fs::remove_file(staged.temp);
        }
    }
}

/// How written files and changed folders are made durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FlushMode {
    /// One `syncfs` per file system for a whole batch (Linux, where the file system is known
    /// to honour it).
    SyncFs,
    /// `fsync` (`FlushFileBuffers` on Windows) of each file and each folder: correct on every
    /// file system, including those where `syncfs` flushes nothing (FUSE, NFS, CIFS).
    PerFile,
}

/// The environment variable that overrides how files are flushed: `auto` (the default: by
/// file system), `per-file`, or `syncfs` (on Linux, even where the file system is not known
/// to honour it; elsewhere it means `per-file`). For tests and for measuring both ways.
pub const FLUSH_VAR: &str = "HUBUP_FLUSH";

/// The override `HUBUP_FLUSH` asks for (`None`: choose by file system), or why its value
/// is refused.
fn flush_override() -> Result<Option<FlushMode>, String> {
    static CHOSEN: std::sync::OnceLock<Result<Option<FlushMode>, String>> =
        std::sync::OnceLock::new();
    CHOSEN
        .get_or_init(|| parse_flush_override(std::env::var(FLUSH_VAR).ok().as_deref()))
        .clone()
}

fn parse_flush_override(value: Option<&str>) -> Result<Option<FlushMode>, String> {
    match value.map(str::trim) {
        None | Some("") | Some("auto") => Ok(None),
        Some("per-file") => Ok(Some(FlushMode::PerFile)),
        Some("syncfs") if cfg!(target_os = "linux") => Ok(Some(FlushMode::SyncFs)),
        Some("syncfs") => Ok(Some(FlushMode::PerFile)),
        Some(other) => Err(format!(
            "{FLUSH_VAR}={other:?} is not a flush mode: use auto, per-file or syncfs"
        )),
    }
}

/// Refuses an unknown `HUBUP_FLUSH` value (a command checks it before it changes anything).
pub fn check_flush_setting() -> Result<(), String> {
    flush_override().map(|_| ())
}

/// How to flush what is written at `path` (a file or folder that exists, or whose folder
/// does): the override if one is set, else by the file system holding it.
pub(crate) fn flush_mode(path: &Path) -> FlushMode {
    match flush_override() {
        Ok(Some(mode)) => mode,
        // An unknown value is refused at start-up; should it get here, be safe.
        Err(_) => FlushMode::PerFile,
        Ok(None) => file_system_mode(path),
    }
}

/// `syncfs` where the file system is one known to honour it (it flushes the data and
/// metadata of every file of that file system); per file everywhere else, and when the file
/// system cannot be asked.
#[cfg(target_os = "linux")]
fn file_system_mode(path: &Path) -> FlushMode {
    use std::os::unix::ffi::OsStrExt;
    let existing = std::iter::successors(Some(path), |p| p.parent())
        .find(|p| p.exists())
        .unwrap_or(path);
    let Ok(c_path) = std::ffi::CString::new(existing.as_os_str().as_bytes()) else {
        return FlushMode::PerFile;
    };
    // SAFETY: `c_path` is a NUL-terminated string and `stats` a properly sized, writable
    // buffer, both alive for the call.
    let mut stats: libc::statfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statfs(c_path.as_ptr(), &mut stats) } != 0 {
        return FlushMode::PerFile;
    }
    mode_for_file_system_type(stats.f_type as u64 & 0xFFFF_FFFF)
}

#[cfg(not(target_os = "linux"))]
fn file_system_mode(_path: &Path) -> FlushMode {
    FlushMode::PerFile
}

/// The flush mode for a Linux file system type (statfs's `f_type` magic number).
#[cfg(any(target_os = "linux", test))]
fn mode_for_file_system_type(f_type: u64) -> FlushMode {
    /// File systems whose `syncfs` writes back every dirty page and inode and flushes the
    /// device: ext2/3/4, XFS, Btrfs, F2FS, and tmpfs (memory: nothing to lose to a flush).
    /// Everything else (FUSE, NFS, CIFS/SMB, overlayfs, unknown) is flushed file by file.
    const HONOUR_SYNCFS: [u64; 5] = [
        0xEF53,      // EXT2/3/4_SUPER_MAGIC
        0x5846_5342, // XFS_SUPER_MAGIC
        0x9123_683E, // BTRFS_SUPER_MAGIC
        0xF2F5_2010, // F2FS_SUPER_MAGIC
        0x0102_1994, // TMPFS_MAGIC
    ];
    if HONOUR_SYNCFS.contains(&f_type) {
        FlushMode::SyncFs
    } else {
        FlushMode::PerFile
    }
}

/// Flushes everything pending on the file systems holding `paths` (one `syncfs` each).
#[cfg(target_os = "linux")]
fn flush_file_systems(paths: &[&Path]) -> io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    use std::os::unix::io::AsRawFd;
    let mut seen = BTreeSet::new();
    for path in paths {
        let file = File::open(path)?;
        if !seen.insert(file.metadata()?.dev()) {
            continue;
        }
        // SAFETY: syncfs only reads the descriptor, which `file` keeps open for the call.
        if unsafe { libc::syncfs(file.as_raw_fd()) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Without `syncfs`: flushes each file (never reached while every mode is per file here, but
/// correct if it is).
#[cfg(not(target_os = "linux"))]
fn flush_file_systems(paths: &[&Path]) -> io::Result<()> {
    for path in paths {
        OpenOptions::new().write(true).open(path)?.sync_all()?;
    }
    Ok(())
}

/// Writes `bytes` to `target` durably, folder flush included.
pub(crate) fn write_bytes(target: &Path, bytes: &[u8]) -> Result<Written, WriteError> {
    let written = write_file(target, &mut |out| out.write_all(bytes), None)?;
    sync_parent(target).map_err(io_at(target))?;
    Ok(written)
}

/// Passes bytes through, hashing and counting them.
struct HashingWriter<W: Write> {
    inner: W,
    hasher: blake3::Hasher,
    size: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Makes `dest` a backup of `source` that no later write to the install can change: a hard
/// link where the file system allows it (hubup replaces installed files by rename, so the
/// backup keeps the old content), else a flushed copy. `dest`'s folder must exist. Returns true
/// if a link was made.
pub(crate) fn link_or_copy(source: &Path, dest: &Path) -> io::Result<bool> {
    match fs::hard_link(source, dest) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(e),
        Err(_) => {
            let mut from = File::open(source)?;
            let temp = temp_path_for(dest);
            let mut to = File::create(&temp)?;
            io::copy(&mut from, &mut to)?;
            to.sync_all()?;
            fs::rename(&temp, dest)?;
            Ok(false)
        }
    }
}

/// Removes a file durably (folder flushed). A missing file is not an error.
pub(crate) fn remove_file(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Ok(()) => sync_parent(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Renames a folder or file durably (both parent folders flushed).
pub(crate) fn rename(from: &Path, to: &Path) -> io::Result<()> {
    fs::rename(from, to)?;
    sync_parent(to)?;
    if from.parent() != to.parent() {
        sync_parent(from)?;
    }
    Ok(())
}

/// Creates `dir` and its missing parents, flushing each folder that gained an entry.
pub(crate) fn create_dir_all(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        create_dir_all(parent)?;
    }
    match fs::create_dir(dir) {
        Ok(()) => sync_parent(dir),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

/// Flushes the folder holding `path`.
pub(crate) fn sync_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => sync_dir(parent),
        _ => sync_dir(Path::new(".")),
    }
}

/// Flushes a folder's entries (creations, renames, removals) to disk.
#[cfg(unix)]
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Flushes a folder's entries to disk. Windows opens folders only with backup semantics;
/// `sync_all` is then `FlushFileBuffers` on the folder handle.
#[cfg(windows)]
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    use std::os::windows::fs::OpenOptionsExt;
    const FILE_FLAG_BACKUP_SEMANTICS: u32 = 0x0200_0000;
    let handle = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(FILE_FLAG_BACKUP_SEMANTICS)
        .open(dir)?;
    match handle.sync_all() {
        // Some Windows file systems refuse to flush a folder handle; the rename itself is
        // already journaled by NTFS, so this is the documented fallback, not a silent skip.
        Err(e) if e.raw_os_error() == Some(5) || e.raw_os_error() == Some(1) => Ok(()),
        other => other,
    }
}

/// Folders whose entries changed and still need a flush; flushing them once per batch is what
/// makes group commit cheap.
#[derive(Default, Debug)]
pub(crate) struct DirtyDirs(BTreeSet<PathBuf>);

impl DirtyDirs {
    /// Notes that the folder holding `path` changed.
    pub(crate) fn touch(&mut self, path: &Path) {
        if let Some(parent) = path.parent() {
            self.0.insert(parent.to_path_buf());
        }
    }

    /// Flushes every noted folder: with one `syncfs` per file system where that is honoured
    /// and more than one folder is noted, else each folder on its own. On error, the ones not
    /// yet flushed stay noted.
    pub(crate) fn sync_all(&mut self) -> io::Result<()> {
        let (batched, single): (Vec<PathBuf>, Vec<PathBuf>) = std::mem::take(&mut self.0)
            .into_iter()
            .partition(|dir| flush_mode(dir) == FlushMode::SyncFs);
        if batched.len() > 1 {
            let dirs: Vec<&Path> = batched.iter().map(PathBuf::as_path).collect();
            if let Err(e) = flush_file_systems(&dirs) {
                self.0.extend(batched);
                self.0.extend(single);
                return Err(e);
            }
        } else {
            self.0.extend(batched);
        }
        self.0.extend(single);
        while let Some(dir) = self.0.pop_first() {
            if let Err(e) = sync_dir(&dir) {
                self.0.insert(dir);
                return Err(e);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_replaces_by_rename_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.dll");
        fs::write(&target, b"old").unwrap();
        let written = write_bytes(&target, b"new content").unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"new content");
        assert_eq!(written.digest, Digest::of(b"new content"));
        assert!(!temp_path_for(&target).exists());
    }

    #[test]
    fn mismatch_leaves_target_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.dll");
        fs::write(&target, b"old").unwrap();
        let err = write_file(
            &target,
            &mut |out| out.write_all(b"evil"),
            Some((4, Digest::of(b"good"))),
        )
        .unwrap_err();
        assert!(matches!(err, WriteError::Mismatch { .. }), "{err}");
        assert_eq!(fs::read(&target).unwrap(), b"old");
        assert!(!temp_path_for(&target).exists());
    }

    #[test]
    fn backup_link_keeps_old_content_after_replacement() {
        let dir = tempfile::tempdir().unwrap();
        let installed = dir.path().join("x.dll");
        let backup = dir.path().join("x.dll.bak");
        fs::write(&installed, b"version 4.0").unwrap();
        link_or_copy(&installed, &backup).unwrap();
        write_bytes(&installed, b"version 4.1").unwrap();
        assert_eq!(fs::read(&backup).unwrap(), b"version 4.0");
        assert_eq!(fs::read(&installed).unwrap(), b"version 4.1");
    }

    #[test]
    fn syncfs_only_where_the_file_system_is_known_to_honour_it() {
        for f_type in [0xEF53, 0x5846_5342, 0x9123_683E, 0x0102_1994] {
            assert_eq!(
                mode_for_file_system_type(f_type),
                FlushMode::SyncFs,
                "{f_type:#x}"
            );
        }
        // FUSE, NFS, CIFS, SMB2, overlayfs, ZFS, something unknown: file by file.
        for f_type in [
            0x6573_5546,
            0x6969,
            0xFF53_4D42,
            0xFE53_4D42,
            0x794C_7630,
            0x2FC1_2FC1,
            0x1234,
        ] {
            assert_eq!(
                mode_for_file_system_type(f_type),
                FlushMode::PerFile,
                "{f_type:#x}"
            );
        }
    }

    #[test]
    fn the_flush_override_is_parsed_and_nonsense_refused() {
        assert_eq!(parse_flush_override(None), Ok(None));
        assert_eq!(parse_flush_override(Some("auto")), Ok(None));
        assert_eq!(
            parse_flush_override(Some("per-file")),
            Ok(Some(FlushMode::PerFile))
        );
        let syncfs = if cfg!(target_os = "linux") {
            FlushMode::SyncFs
        } else {
            FlushMode::PerFile
        };
        assert_eq!(parse_flush_override(Some("syncfs")), Ok(Some(syncfs)));
        let refused = parse_flush_override(Some("fast")).unwrap_err();
        assert!(
            refused.contains(FLUSH_VAR) && refused.contains("per-file"),
            "{refused}"
        );
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_temp_folder_on_this_machine_gets_a_mode_and_staging_works_in_it() {
        let dir = tempfile::tempdir().unwrap();
        let mode = file_system_mode(dir.path());
        // The mode of a path that does not exist yet is that of its nearest existing folder.
        assert_eq!(file_system_mode(&dir.path().join("new/deeper")), mode);
        let mut staging = Staging::default();
        let mut dirty = DirtyDirs::default();
        let target = dir.path().join("a.dll");
        staging
            .stage(&target, &mut |out| out.write_all(b"staged"), None)
            .unwrap();
        assert!(!target.exists(), "nothing visible before the commit");
        staging.commit(&mut dirty).unwrap();
        dirty.sync_all().unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"staged");
    }

    #[test]
    fn dirty_dirs_flush_once_each() {
        let dir = tempfile::tempdir().unwrap();
        let mut dirty = DirtyDirs::default();
        dirty.touch(&dir.path().join("a"));
        dirty.touch(&dir.path().join("b"));
        assert_eq!(dirty.0.len(), 1);
        dirty.sync_all().unwrap();
        assert!(dirty.0.is_empty());
    }
}
