//! Reading update packages safely: [`Package::open`] verifies a package in full (manifest,
//! every entry's name, kind, size and blake3 digest, no extra entries) before anything else
//! looks at it, and [`Package::copy_file_to`] streams one payload file out, checking its size
//! and digest again as it goes (the file on disk could change after verification).
//!
//! Refused, with an error naming the package, the entry and the problem: names with `..`,
//! absolute paths, drive letters, backslashes, device names or other unsafe forms (every name
//! goes through [`RelPath::new`], on every platform); symbolic links; duplicate names and names
//! equal up to case (Windows); encrypted entries; compression other than stored/deflate; sizes
//! that differ from the manifest; entries whose compression ratio exceeds [`MAX_RATIO`] (a zip
//! bomb: more than 1 MiB expanding over 200 times); a truncated or non-zip file; a manifest
//! over [`MAX_MANIFEST_BYTES`] or not exactly the documented format; a package for another step.
//!
//! Memory does not grow with the package: entries are streamed in 64 KiB chunks and never held
//! whole; only the central directory and the manifest are in memory.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use zip::CompressionMethod;
use zip::ZipArchive;
use zip::result::ZipError;

use crate::digest::Digest;
use crate::package::{
    MANIFEST_ENTRY, MANIFEST_FORMAT, MAX_MANIFEST_BYTES, Manifest, PAYLOAD_PREFIX, PackageFile,
};
use crate::relpath::RelPath;
use crate::version::Step;

/// Entries over 1 MiB may not expand more than this many times (zip bombs).
pub const MAX_RATIO: u64 = 200;
const RATIO_FLOOR: u64 = 1024 * 1024;
/// Read buffer for the archive. Every entry starts with a seek, which empties the buffer, so a
/// large one would re-read far more than a small entry holds; inflating reads in its own
/// 32 KiB chunks anyway.
const READ_BUFFER: usize = 32 * 1024;

/// A verified package.
pub struct Package {
    path: PathBuf,
    manifest: Manifest,
    digest: Digest,
    archive: Mutex<ZipArchive<BufReader<File>>>,
}

impl std::fmt::Debug for Package {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Package")
            .field("path", &self.path)
            .field("digest", &self.digest)
            .finish_non_exhaustive()
    }
}

/// A package that cannot be used. Nothing was written anywhere.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("cannot read package {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "{path} is not a readable zip package ({problem}); it may be truncated or damaged: download it again"
    )]
    NotZip { path: PathBuf, problem: String },
    #[error(
        "package {path}: entry {entry:?}: {problem}; this package cannot be trusted: download it again"
    )]
    BadEntry {
        path: PathBuf,
        entry: String,
        problem: String,
    },
    #[error("package {path}: the manifest {problem}; download the package again")]
    BadManifest { path: PathBuf, problem: String },
    #[error(
        "{path} is the package for {found}, but step {expected} needs \
         {}",
        expected.to.package_file_name()
    )]
    WrongStep {
        path: PathBuf,
        expected: Step,
        found: String,
    },
    #[error(
        "package {path}: {entry} does not match its manifest ({problem}); the package is \
         corrupt or was tampered with: download it again"
    )]
    Mismatch {
        path: PathBuf,
        entry: String,
        problem: String,
    },
}

impl Package {
    /// Opens the package at `path` for `expected` and verifies all of it.
    pub fn open(path: &Path, expected: Step) -> Result<Package, PackageError> {
        let io_err = |source| PackageError::Io {
            path: path.to_path_buf(),
            source,
        };
        let (digest, _) = Digest::of_file(path).map_err(io_err)?;
        let file = File::open(path).map_err(io_err)?;
        let mut archive = ZipArchive::new(BufReader::with_capacity(READ_BUFFER, file))
            .map_err(|e| zip_error(path, e))?;
        let entries = check_entries(path, &mut archive)?;
        let manifest = read_manifest(path, &mut archive, &entries)?;
        check_manifest(path, &manifest, expected)?;
        check_payload_set(path, &manifest, &entries)?;
        verify_payload(path, &mut archive, &manifest, &entries)?;
        Ok(Package {
            path: path.to_path_buf(),
            manifest,
            digest,
            archive: Mutex::new(archive),
        })
    }

    /// Reads only the manifest of the package at `path` (bounded, well-formed, the expected
    /// step), without verifying the payload: for reports such as drift in `hubup status`,
    /// never for changing an install.
    pub fn read_manifest(path: &Path, expected: Step) -> Result<Manifest, PackageError> {
        let file = File::open(path).map_err(|source| PackageError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut archive = ZipArchive::new(BufReader::with_capacity(READ_BUFFER, file))
            .map_err(|e| zip_error(path, e))?;
        let entries = check_entries(path, &mut archive)?;
        let manifest = read_manifest(path, &mut archive, &entries)?;
        check_manifest(path, &manifest, expected)?;
        Ok(manifest)
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// blake3 of the whole package file.
    pub fn digest(&self) -> Digest {
        self.digest
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Streams `file`'s content into `out`, checking size and digest as it goes. On a mismatch
    /// the error comes after the bytes were written: the caller must not use them (the
    /// executor writes into a temp file and renames only after success).
    pub fn copy_file_to(
        &self,
        file: &PackageFile,
        out: &mut dyn Write,
    ) -> Result<(), PackageError> {
        let mut archive = self.archive.lock().unwrap_or_else(|e| e.into_inner());
        let name = file.entry_name();
        let mut entry = archive
            .by_name(&name)
            .map_err(|e| zip_error(&self.path, e))?;
        let (size, digest) =
            stream(&mut entry, file.size, out).map_err(|e| PackageError::Mismatch {
                path: self.path.clone(),
                entry: name.clone(),
                problem: e.to_string(),
            })?;
        check_content(&self.path, &name, file, size, digest)
    }
}

fn zip_error(path: &Path, error: ZipError) -> PackageError {
    match error {
        ZipError::Io(source) => PackageError::Io {
            path: path.to_path_buf(),
            source,
        },
        other => PackageError::NotZip {
            path: path.to_path_buf(),
            problem: other.to_string(),
        },
    }
}

/// What the central directory says of one entry.
#[derive(Debug)]
struct EntryInfo {
    index: usize,
    size: u64,
}

/// Checks every entry's name and kind; returns the files by name (directories left out).
fn check_entries(
    path: &Path,
    archive: &mut ZipArchive<BufReader<File>>,
) -> Result<BTreeMap<String, EntryInfo>, PackageError> {
    let mut files = BTreeMap::new();
    let mut folded = BTreeSet::new();
    for index in 0..archive.len() {
        let entry = archive
            .by_index_raw(index)
            .map_err(|e| zip_error(path, e))?;
        let name = match entry.name() {
            Ok(name) => name.to_string(),
            Err(_) => {
                return Err(PackageError::BadEntry {
                    path: path.to_path_buf(),
                    entry: String::from_utf8_lossy(entry.name_raw()).into_owned(),
                    problem: "has a name that is not valid text".into(),
                });
            }
        };
        let bad = |problem: &str| PackageError::BadEntry {
            path: path.to_path_buf(),
            entry: name.clone(),
            problem: problem.to_string(),
        };
        if entry
            .unix_mode()
            .is_some_and(|mode| mode & 0o170000 == 0o120000)
        {
            return Err(bad("is a symbolic link"));
        }
        if entry.encrypted() {
            return Err(bad("is encrypted"));
        }
        if !matches!(
            entry.compression(),
            CompressionMethod::Stored | CompressionMethod::Deflated
        ) {
            return Err(bad(
                "uses a compression method other than stored or deflate",
            ));
        }
        let is_dir = name.ends_with('/');
        let relative = if name == MANIFEST_ENTRY {
            None
        } else if let Some(rest) = name.strip_prefix(PAYLOAD_PREFIX) {
            Some(rest.trim_end_matches('/'))
        } else {
            return Err(bad("is neither manifest.json nor under payload/"));
        };
        if let Some(rest) = relative
            && !(is_dir && rest.is_empty())
        {
            RelPath::new(rest).map_err(|e| bad(&format!("unsafe name: {}", e.reason)))?;
        }
        if is_dir {
            if entry.size() != 0 {
                return Err(bad("is a folder with content"));
            }
            continue;
        }
        if !folded.insert(name.to_lowercase()) {
            return Err(bad(if files.contains_key(&name) {
                "appears twice"
            } else {
                "differs from another entry only in case (the same file on Windows)"
            }));
        }
        let size = entry.size();
        let compressed = entry.compressed_size().max(1);
        if size > RATIO_FLOOR && size / compressed > MAX_RATIO {
            return Err(bad(&format!(
                "expands {size} bytes from {compressed} (over {MAX_RATIO} times): a zip bomb"
            )));
        }
        files.insert(name, EntryInfo { index, size });
    }
    Ok(files)
}

fn read_manifest(
    path: &Path,
    archive: &mut ZipArchive<BufReader<File>>,
    entries: &BTreeMap<String, EntryInfo>,
) -> Result<Manifest, PackageError> {
    let bad = |problem: String| PackageError::BadManifest {
        path: path.to_path_buf(),
        problem,
    };
    let info = entries
        .get(MANIFEST_ENTRY)
        .ok_or_else(|| bad("is missing (no manifest.json in the package)".into()))?;
    if info.size > MAX_MANIFEST_BYTES {
        return Err(bad(format!("is larger than {MAX_MANIFEST_BYTES} bytes")));
    }
    let entry = archive
        .by_index(info.index)
        .map_err(|e| zip_error(path, e))?;
    let mut bytes = Vec::new();
    entry
        .take(MAX_MANIFEST_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| bad(format!("cannot be read: {e}")))?;
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(bad(format!("is larger than {MAX_MANIFEST_BYTES} bytes")));
    }
    serde_json::from_slice(&bytes).map_err(|e| bad(format!("is not in the documented format: {e}")))
}

fn check_manifest(path: &Path, manifest: &Manifest, expected: Step) -> Result<(), PackageError> {
    let bad = |problem: String| PackageError::BadManifest {
        path: path.to_path_buf(),
        problem,
    };
    if manifest.format != MANIFEST_FORMAT {
        return Err(bad(format!(
            "has format {}, but this hubup reads format {MANIFEST_FORMAT}: use the hubup that \
             came with the package",
            manifest.format
        )));
    }
    if manifest.from != expected.from || manifest.to != expected.to {
        return Err(PackageError::WrongStep {
            path: path.to_path_buf(),
            expected,
            found: format!("{} -> {}", manifest.from, manifest.to),
        });
    }
    if manifest.from.next() != Some(manifest.to) {
        return Err(bad("does not describe one step".into()));
    }
    unique(path, "files", manifest.files.iter().map(|f| &f.path))?;
    unique(
        path,
        "deletions",
        manifest.deletions.iter().map(|d| &d.path),
    )?;
    unique(
        path,
        "inventory",
        manifest.inventory.iter().map(|e| &e.path),
    )?;
    for rename in &manifest.renames {
        if rename.from == rename.to || rename.to.starts_with(&rename.from) {
            return Err(bad(format!("renames {} into itself", rename.from)));
        }
    }
    Ok(())
}

fn unique<'m>(
    path: &Path,
    list: &str,
    paths: impl Iterator<Item = &'m RelPath>,
) -> Result<(), PackageError> {
    let mut seen = BTreeSet::new();
    for p in paths {
        if !seen.insert(p.case_key()) {
            return Err(PackageError::BadManifest {
                path: path.to_path_buf(),
                problem: format!(
                    "lists {p} twice in {list} (names are compared ignoring case, as on Windows)"
                ),
            });
        }
    }
    Ok(())
}

/// Every manifest file has its entry with the declared size; no entry is unlisted.
fn check_payload_set(
    path: &Path,
    manifest: &Manifest,
    entries: &BTreeMap<String, EntryInfo>,
) -> Result<(), PackageError> {
    let mut listed = BTreeSet::new();
    for file in &manifest.files {
        let name = file.entry_name();
        let info = entries.get(&name).ok_or_else(|| PackageError::Mismatch {
            path: path.to_path_buf(),
            entry: name.clone(),
            problem: "listed in the manifest but missing from the package".into(),
        })?;
        if info.size != file.size {
            return Err(PackageError::Mismatch {
                path: path.to_path_buf(),
                entry: name,
                problem: format!(
                    "{} bytes in the zip, {} in the manifest",
                    info.size, file.size
                ),
            });
        }
        listed.insert(name);
    }
    for name in entries.keys() {
        if name != MANIFEST_ENTRY && !listed.contains(name) {
            return Err(PackageError::BadEntry {
                path: path.to_path_buf(),
                entry: name.clone(),
                problem: "is not listed in the manifest".into(),
            });
        }
    }
    Ok(())
}

/// Decompresses and hashes every payload entry (in archive order, which reads sequentially).
fn verify_payload(
    path: &Path,
    archive: &mut ZipArchive<BufReader<File>>,
    manifest: &Manifest,
    entries: &BTreeMap<String, EntryInfo>,
) -> Result<(), PackageError> {
    let mut files: Vec<(&PackageFile, usize)> = manifest
        .files
        .iter()
        .filter_map(|f| entries.get(&f.entry_name()).map(|info| (f, info.index)))
        .collect();
    files.sort_by_key(|(_, index)| *index);
    for (file, index) in files {
        let name = file.entry_name();
        let mut entry = archive.by_index(index).map_err(|e| zip_error(path, e))?;
        let (size, digest) =
            stream(&mut entry, file.size, &mut io::sink()).map_err(|e| PackageError::Mismatch {
                path: path.to_path_buf(),
                entry: name.clone(),
                problem: e.to_string(),
            })?;
        check_content(path, &name, file, size, digest)?;
    }
    Ok(())
}

/// Copies at most `limit + 1` bytes, hashing them: a longer entry is caught without reading
/// (or inflating) more than one byte past its declared size.
fn stream(entry: &mut dyn Read, limit: u64, out: &mut dyn Write) -> io::Result<(u64, Digest)> {
    let mut limited = entry.take(limit + 1);
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = match limited.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n])?;
        size += n as u64;
    }
    Ok((size, hasher.finalize().into()))
}

fn check_content(
    path: &Path,
    name: &str,
    file: &PackageFile,
    size: u64,
    digest: Digest,
) -> Result<(), PackageError> {
    let mismatch = |problem: String| PackageError::Mismatch {
        path: path.to_path_buf(),
        entry: name.to_string(),
        problem,
    };
    if size > file.size {
        return Err(mismatch(format!(
            "longer than the {} bytes the manifest says",
            file.size
        )));
    }
    if size < file.size {
        return Err(mismatch(format!(
            "{size} bytes, the manifest says {}",
            file.size
        )));
    }
    if digest != file.digest {
        return Err(mismatch(format!(
            "content digest {}, the manifest says {}",
            digest.short(),
            file.digest.short()
        )));
    }
    Ok(())
}
