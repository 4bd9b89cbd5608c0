//! Reading an update package safely. [`Package::open`] verifies a package in full before
//! anything uses it: the zip structure and every entry's metadata, the manifest (format, step,
//! consistency), one payload entry per listed file and nothing else, and the size and blake3 of
//! every file's content. [`Package::copy_file_to`] then streams one file out, checking its
//! size and digest again on the way, because the file on disk may change after verification.
//!
//! Memory does not grow with the size of the files: content is only ever streamed through a
//! fixed buffer. It grows with the number of entries (the manifest and the zip directory),
//! within the bounds in `limits.rs`. Nothing here writes anywhere but to the writer a caller
//! passes to [`Package::copy_file_to`].

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use zip::ZipArchive;
use zip::result::ZipError;

use crate::digest::Digest;
use crate::relpath::RelPath;
use crate::version::Step;

use super::archive::{Layout, open_archive, scan_entries};
use super::error::{EntryProblem, PackageError};
use super::limits::MAX_ZIP_RECORDS;
use super::manifest::{MANIFEST_ENTRY, MAX_MANIFEST_BYTES, Manifest, PAYLOAD_PREFIX, PackageFile};
use super::signature::{self, MAX_SIGNATURE_BYTES, SIGNATURE_ENTRY, Signer};
use super::validate::{parse_manifest, printable};

/// Size of the buffer content is streamed through.
const CHUNK: usize = 64 * 1024;

type Archive = ZipArchive<BufReader<File>>;

/// A verified update package, open for reading its files.
///
/// Holding a `Package` keeps the file open. On Windows it is opened without write or delete
/// sharing, so nobody can change, rename or delete it while hubup holds it; on other systems
/// that cannot be enforced, which is why [`Package::copy_file_to`] checks every file again.
pub struct Package {
    path: PathBuf,
    manifest: Manifest,
    digest: Digest,
    /// Who signed the manifest (the signature verified); `None` for an unsigned package.
    signer: Option<Signer>,
    /// For each listed file: its index in `manifest.files` and its zip entry index.
    entries: HashMap<RelPath, (usize, usize)>,
    archive: Mutex<Archive>,
}

impl Package {
    /// Opens the package at `path` and verifies it in full for the step `expected`.
    ///
    /// Checks, in this order: the file can be read and its blake3 computed; the zip structure
    /// is sound; every entry is a safe, unencrypted, stored or deflated regular file or folder,
    /// with no bomb ratio and no name colliding with another on Windows; the manifest is there,
    /// bounded, well-formed, of a known format, for `expected`, and consistent; every listed
    /// file has exactly one payload entry and there are no others; every file's declared size,
    /// actual size and blake3 match the manifest.
    ///
    /// On failure nothing was written anywhere and the error names the package, the entry or
    /// path, the problem and what to do.
    pub fn open(path: &Path, expected: Step) -> Result<Package, PackageError> {
        Package::open_checked(path, Some(expected))
    }

    /// Like [`Package::open`], but accepts whichever step the manifest states (for operators
    /// inspecting a package; an upgrade always uses [`Package::open`]). Every other check is
    /// the same, and a failure likewise leaves nothing written.
    pub fn open_any_step(path: &Path) -> Result<Package, PackageError> {
        Package::open_checked(path, None)
    }

    /// Reads only the manifest of the package at `path` (structure, entries and manifest
    /// checked as [`Package::open`] does, contents not verified): for reports such as drift in
    /// `hubup status`, never for changing an install.
    pub fn read_manifest(path: &Path, expected: Step) -> Result<Manifest, PackageError> {
        let file = open_for_reading(path).map_err(|source| PackageError::Open {
            package: path.to_path_buf(),
            source,
        })?;
        let mut archive = open_archive(BufReader::new(file), path)?;
        let layout = scan_entries(&archive, path)?;
        let manifest_index = layout
            .manifest
            .ok_or_else(|| PackageError::MissingManifest {
                package: path.to_path_buf(),
            })?;
        let bytes = read_manifest(&mut archive, manifest_index, path)?;
        parse_manifest(&bytes, path, Some(expected))
    }

    fn open_checked(path: &Path, expected: Option<Step>) -> Result<Package, PackageError> {
        let read_error = |source| PackageError::Read {
            package: path.to_path_buf(),
            source,
        };
        let mut file = open_for_reading(path).map_err(|source| PackageError::Open {
            package: path.to_path_buf(),
            source,
        })?;
        let (digest, records) = hash_and_count_records(&mut file).map_err(read_error)?;
        if records > MAX_ZIP_RECORDS {
            return Err(PackageError::TooManyEntries {
                package: path.to_path_buf(),
                found: records,
                limit: MAX_ZIP_RECORDS,
            });
        }
        file.rewind().map_err(read_error)?;
        let mut archive = open_archive(BufReader::new(file), path)?;
        let layout = scan_entries(&archive, path)?;
        let manifest_index = layout
            .manifest
            .ok_or_else(|| PackageError::MissingManifest {
                package: path.to_path_buf(),
            })?;
        let manifest_bytes = read_manifest(&mut archive, manifest_index, path)?;
        // The signature is checked before the manifest is believed, let alone parsed.
        let signer = match layout.signature {
            Some(index) => {
                let bytes = read_signature(&mut archive, index, path)?;
                Some(signature::verify(&bytes, &manifest_bytes, path)?)
            }
            None => None,
        };
        let manifest = parse_manifest(&manifest_bytes, path, expected)?;
        drop(manifest_bytes);
        let entries = match_payload(&manifest, layout, &archive, path)?;
        verify_contents(&mut archive, &manifest, &entries, path)?;
        Ok(Package {
            path: path.to_path_buf(),
            manifest,
            digest,
            signer,
            entries,
            archive: Mutex::new(archive),
        })
    }

    /// The verified manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Who signed the package (its signature verified over the manifest), or `None` if it is
    /// unsigned. Whether that signer is trusted is [`crate::PackageTrust::accept`]'s call.
    pub fn signer(&self) -> Option<&Signer> {
        self.signer.as_ref()
    }

    /// The blake3 of the whole package file, as it was read by [`Package::open`].
    pub fn digest(&self) -> Digest {
        self.digest
    }

    /// The package file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Streams the content of `file` (an entry of this package's manifest) into `out`,
    /// checking its size and blake3 again on the way; returns the number of bytes written.
    ///
    /// On failure, `out` may already hold part (or all) of the content: the caller must
    /// discard it (write to a temp file and rename it into place only after `Ok`). The
    /// package itself is never changed. Files read in manifest order are read sequentially,
    /// without reopening or rescanning the archive.
    pub fn copy_file_to<W: Write + ?Sized>(
        &self,
        file: &PackageFile,
        out: &mut W,
    ) -> Result<u64, PackageError> {
        let not_in_package = || PackageError::NotInPackage {
            package: self.path.clone(),
            path: file.path.clone(),
        };
        let &(listed_index, entry_index) =
            self.entries.get(&file.path).ok_or_else(not_in_package)?;
        let listed = self
            .manifest
            .files
            .get(listed_index)
            .filter(|listed| *listed == file)
            .ok_or_else(not_in_package)?;
        // A poisoned lock only means another thread panicked mid-read; every read seeks to
        // its entry first, so the archive is still usable.
        let mut archive = self.archive.lock().unwrap_or_else(PoisonError::into_inner);
        stream_entry(&mut archive, entry_index, listed, &self.path, out)
    }
}

impl fmt::Debug for Package {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Package")
            .field("path", &self.path)
            .field(
                "step",
                &format_args!("{} -> {}", self.manifest.from, self.manifest.to),
            )
            .field("files", &self.manifest.files.len())
            .field("digest", &self.digest)
            .field("signer", &self.signer)
            .finish()
    }
}

/// Opens the package for reading; on Windows, without sharing write or delete access.
#[cfg(windows)]
fn open_for_reading(path: &Path) -> io::Result<File> {
    use std::os::windows::fs::OpenOptionsExt;
    /// Others may read the package while hubup holds it, but not change, rename or delete it.
    const FILE_SHARE_READ: u32 = 0x0000_0001;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .share_mode(FILE_SHARE_READ)
        .open(path)?;
    refuse_non_files(file)
}

/// Opens the package for reading (other systems have no mandatory sharing modes).
#[cfg(not(windows))]
fn open_for_reading(path: &Path) -> io::Result<File> {
    refuse_non_files(File::open(path)?)
}

fn refuse_non_files(file: File) -> io::Result<File> {
    if file.metadata()?.is_file() {
        Ok(file)
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "it is a folder or device, not a file",
        ))
    }
}

/// The blake3 of the whole file, and how many central-directory signatures it contains (an
/// upper bound on the number of entries the zip reader can decode; see `limits.rs`).
fn hash_and_count_records(file: &mut File) -> io::Result<(Digest, u64)> {
    let mut hasher = blake3::Hasher::new();
    let mut counter = SignatureCounter::default();
    let mut buf = vec![0u8; 4 * CHUNK];
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let chunk = buf.get(..n).unwrap_or_default();
        hasher.update(chunk);
        counter.feed(chunk);
    }
    Ok((hasher.finalize().into(), counter.count))
}

/// Counts `PK\x01\x02` in a byte stream fed in chunks of any size.
#[derive(Default)]
struct SignatureCounter {
    /// The last (up to 3) bytes seen, for signatures that straddle two chunks.
    tail: [u8; 3],
    tail_len: usize,
    count: u64,
}

const CENTRAL_HEADER_SIGNATURE: [u8; 4] = *b"PK\x01\x02";

impl SignatureCounter {
    fn feed(&mut self, chunk: &[u8]) {
        // Every 4-byte window of tail + head straddles the boundary: tail and head are at
        // most 3 bytes each.
        let head = &chunk[..chunk.len().min(3)];
        let mut joint = [0u8; 6];
        joint[..self.tail_len].copy_from_slice(&self.tail[..self.tail_len]);
        joint[self.tail_len..self.tail_len + head.len()].copy_from_slice(head);
        let joint = &joint[..self.tail_len + head.len()];
        self.count += count_signatures(joint) + count_signatures(chunk);
        let source = if chunk.len() >= 3 { chunk } else { joint };
        let keep = source.len().min(3);
        self.tail[..keep].copy_from_slice(&source[source.len() - keep..]);
        self.tail_len = keep;
    }
}

fn count_signatures(bytes: &[u8]) -> u64 {
    let mut count = 0;
    let mut rest = bytes;
    // Jump from one 'P' to the next: much faster than comparing every window.
    while let Some(at) = rest.iter().position(|&b| b == b'P') {
        if rest.get(at..at + 4) == Some(&CENTRAL_HEADER_SIGNATURE[..]) {
            count += 1;
        }
        rest = rest.get(at + 1..).unwrap_or_default();
    }
    count
}

/// Reads `signature.json`, bounded by [`MAX_SIGNATURE_BYTES`] whatever its header declares.
fn read_signature(
    archive: &mut Archive,
    index: usize,
    package: &Path,
) -> Result<Vec<u8>, PackageError> {
    let mut entry = archive
        .by_index(index)
        .map_err(|e| entry_error(e, package, SIGNATURE_ENTRY))?;
    let mut bytes = Vec::new();
    (&mut entry)
        .take(MAX_SIGNATURE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| content_error(e, package, SIGNATURE_ENTRY))?;
    if bytes.len() as u64 > MAX_SIGNATURE_BYTES {
        return Err(PackageError::BadSignature {
            package: package.to_path_buf(),
            detail: format!("{SIGNATURE_ENTRY} is larger than {MAX_SIGNATURE_BYTES} bytes"),
        });
    }
    Ok(bytes)
}

/// Reads `manifest.json`, bounded by [`MAX_MANIFEST_BYTES`] whatever its header declares.
fn read_manifest(
    archive: &mut Archive,
    index: usize,
    package: &Path,
) -> Result<Vec<u8>, PackageError> {
    let too_large = |size| PackageError::ManifestTooLarge {
        package: package.to_path_buf(),
        size,
        limit: MAX_MANIFEST_BYTES,
    };
    let mut entry = archive
        .by_index(index)
        .map_err(|e| entry_error(e, package, MANIFEST_ENTRY))?;
    let declared = entry.size();
    if declared > MAX_MANIFEST_BYTES {
        return Err(too_large(declared));
    }
    let mut bytes = Vec::new();
    (&mut entry)
        .take(MAX_MANIFEST_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| content_error(e, package, MANIFEST_ENTRY))?;
    let actual = bytes.len() as u64;
    if actual > MAX_MANIFEST_BYTES {
        return Err(too_large(actual));
    }
    if actual != declared {
        return Err(PackageError::entry(
            package,
            MANIFEST_ENTRY,
            EntryProblem::Corrupt {
                detail: format!("it holds {actual} bytes but its zip header declares {declared}"),
            },
        ));
    }
    Ok(bytes)
}

/// Pairs every listed file with its payload entry (whose declared size must match); fails on
/// a missing entry or an entry the manifest does not list.
fn match_payload(
    manifest: &Manifest,
    mut layout: Layout,
    archive: &Archive,
    package: &Path,
) -> Result<HashMap<RelPath, (usize, usize)>, PackageError> {
    let mut entries = HashMap::with_capacity(manifest.files.len());
    for (listed_index, file) in manifest.files.iter().enumerate() {
        let entry_index = layout.payload.remove(file.path.as_str()).ok_or_else(|| {
            PackageError::MissingPayload {
                package: package.to_path_buf(),
                path: file.path.clone(),
            }
        })?;
        let declared = archive
            .by_index_data(entry_index)
            .map_err(|e| entry_error(e, package, &file.entry_name()))?
            .size();
        if declared != file.size {
            return Err(PackageError::entry(
                package,
                file.entry_name(),
                EntryProblem::SizeMismatch {
                    expected: file.size,
                    found: declared,
                    declared: true,
                },
            ));
        }
        entries.insert(file.path.clone(), (listed_index, entry_index));
    }
    if let Some((path, _)) = layout.payload.iter().min_by_key(|(_, index)| **index) {
        return Err(PackageError::entry(
            package,
            format!("{PAYLOAD_PREFIX}{path}"),
            EntryProblem::NotListed,
        ));
    }
    Ok(entries)
}

/// Reads every listed file in archive order (sequential on disk) and checks it.
fn verify_contents(
    archive: &mut Archive,
    manifest: &Manifest,
    entries: &HashMap<RelPath, (usize, usize)>,
    package: &Path,
) -> Result<(), PackageError> {
    let mut order: Vec<(usize, usize)> = entries
        .values()
        .map(|&(listed, entry)| (entry, listed))
        .collect();
    order.sort_unstable();
    for (entry_index, listed_index) in order {
        if let Some(file) = manifest.files.get(listed_index) {
            stream_entry(archive, entry_index, file, package, &mut io::sink())?;
        }
    }
    Ok(())
}

/// Streams one payload entry into `out` through a fixed buffer, reading at most one byte more
/// than the manifest's size, and checks size and blake3 at the end.
fn stream_entry<W: Write + ?Sized>(
    archive: &mut Archive,
    entry_index: usize,
    file: &PackageFile,
    package: &Path,
    out: &mut W,
) -> Result<u64, PackageError> {
    let name = file.entry_name();
    let problem = |problem| PackageError::entry(package, name.clone(), problem);
    let mut entry = archive
        .by_index(entry_index)
        .map_err(|e| entry_error(e, package, &name))?;
    let mut content = (&mut entry).take(file.size.saturating_add(1));
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; CHUNK];
    let mut total: u64 = 0;
    loop {
        let n = match content.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(content_error(e, package, &name)),
        };
        total = total.saturating_add(n as u64);
        if total > file.size {
            return Err(problem(EntryProblem::Overrun {
                expected: file.size,
            }));
        }
        let chunk = buf.get(..n).unwrap_or_default();
        hasher.update(chunk);
        out.write_all(chunk)
            .map_err(|source| PackageError::Destination {
                package: package.to_path_buf(),
                path: file.path.clone(),
                source,
            })?;
    }
    if total != file.size {
        return Err(problem(EntryProblem::SizeMismatch {
            expected: file.size,
            found: total,
            declared: false,
        }));
    }
    let found = Digest::from(hasher.finalize());
    if found != file.digest {
        return Err(problem(EntryProblem::DigestMismatch {
            expected: file.digest,
            found,
        }));
    }
    Ok(total)
}

/// A zip error while locating or opening one entry.
fn entry_error(error: ZipError, package: &Path, entry: &str) -> PackageError {
    match error {
        ZipError::Io(e) => content_error(e, package, entry),
        other => PackageError::entry(
            package,
            entry.to_string(),
            EntryProblem::Corrupt {
                detail: printable(&other.to_string()),
            },
        ),
    }
}

/// An I/O error while reading an entry: a content problem (bad checksum, bad deflate data,
/// data cut short) or a failure of the machine.
fn content_error(error: io::Error, package: &Path, entry: &str) -> PackageError {
    use io::ErrorKind::{InvalidData, InvalidInput, Other, UnexpectedEof};
    if matches!(
        error.kind(),
        InvalidData | InvalidInput | UnexpectedEof | Other
    ) {
        PackageError::entry(
            package,
            entry.to_string(),
            EntryProblem::Corrupt {
                detail: printable(&error.to_string()),
            },
        )
    } else {
        PackageError::Read {
            package: package.to_path_buf(),
            source: error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count_in_chunks(bytes: &[u8], chunk: usize) -> u64 {
        let mut counter = SignatureCounter::default();
        for piece in bytes.chunks(chunk) {
            counter.feed(piece);
        }
        counter.count
    }

    #[test]
    fn signatures_are_counted_across_any_chunking() {
        let mut bytes = Vec::new();
        for i in 0..50u8 {
            bytes.extend_from_slice(b"xPK\x01\x02PPK");
            bytes.extend(std::iter::repeat_n(i, usize::from(i % 7)));
        }
        bytes.extend_from_slice(b"PK\x01");
        let whole = count_signatures(&bytes);
        assert_eq!(whole, 50);
        for chunk in 1..=13 {
            assert_eq!(count_in_chunks(&bytes, chunk), whole, "chunk {chunk}");
        }
    }
}
