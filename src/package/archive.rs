//! The zip level of a package: opening the archive with its structural checks, and checking
//! every entry's metadata before any content is read (names, file types, encryption,
//! compression, bomb ratio, names that collide on Windows), which yields the [`Layout`]: where
//! the manifest and each payload file are.
//!
//! The zip crate's own name handling is not relied on: `enclosed_name()` rewrites hostile names
//! instead of refusing them, so every name goes through [`RelPath::new`] here.

use std::collections::HashMap;
use std::io::{self, Read, Seek};
use std::path::Path;

use zip::result::ZipError;
use zip::{CompressionMethod, ZipArchive};

use crate::relpath::RelPath;

use super::error::{EntryProblem, PackageError};
use super::limits::looks_like_bomb;
use super::manifest::{MANIFEST_ENTRY, PAYLOAD_PREFIX};
use super::signature::{MAX_SIGNATURE_BYTES, SIGNATURE_ENTRY};
use super::validate::printable;

/// Unix file-type bits (`st_mode & S_IFMT`) in the upper half of a zip's external attributes.
const S_IFMT: u32 = 0o170_000;
const S_IFREG: u32 = 0o100_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFLNK: u32 = 0o120_000;
/// DOS/Windows attribute bits in the lower half.
const DOS_DIRECTORY: u32 = 0x10;
const DOS_REPARSE_POINT: u32 = 0x400;

/// Where the parts of a package are, by zip entry index.
#[derive(Debug)]
pub(crate) struct Layout {
    /// The `manifest.json` entry, if there is one.
    pub manifest: Option<usize>,
    /// The `signature.json` entry of a signed package.
    pub signature: Option<usize>,
    /// Payload files by their path below `payload/` (directory entries are left out).
    pub payload: HashMap<String, usize>,
}

/// Opens the zip structure of `reader` and checks it as a whole: no data before the archive,
/// no duplicate names, local headers that agree with the central directory, no overlapping
/// entries and no entries hidden outside the directory.
pub(crate) fn open_archive<R: Read + Seek>(
    reader: R,
    package: &Path,
) -> Result<ZipArchive<R>, PackageError> {
    let mut archive = ZipArchive::new(reader).map_err(|e| structure_error(e, package, false))?;
    if archive.offset() != 0 {
        return Err(PackageError::NotZip {
            package: package.to_path_buf(),
            detail: format!(
                "{} bytes of other data before the archive",
                archive.offset()
            ),
        });
    }
    if archive.has_duplicate_names() {
        return Err(PackageError::DuplicateEntries {
            package: package.to_path_buf(),
        });
    }
    archive
        .validate_header_consistency()
        .map_err(|e| structure_error(e, package, true))?;
    Ok(archive)
}

/// Maps a zip error about the archive's structure to the package error that explains it.
fn structure_error(error: ZipError, package: &Path, after_directory: bool) -> PackageError {
    let package = package.to_path_buf();
    match error {
        ZipError::Io(e) if e.kind() != io::ErrorKind::UnexpectedEof => {
            PackageError::Read { package, source: e }
        }
        other if after_directory => PackageError::Inconsistent {
            package,
            detail: printable(&other.to_string()),
        },
        other => PackageError::NotZip {
            package,
            detail: printable(&other.to_string()),
        },
    }
}

/// Checks every entry's metadata and returns where the manifest and payload files are.
pub(crate) fn scan_entries<R: Read + Seek>(
    archive: &ZipArchive<R>,
    package: &Path,
) -> Result<Layout, PackageError> {
    let mut layout = Layout {
        manifest: None,
        signature: None,
        payload: HashMap::new(),
    };
    each_entry(archive, package, |index, name, facts| {
        match classify(name, facts)? {
            Role::Manifest => layout.manifest = Some(index),
            Role::Signature => layout.signature = Some(index),
            Role::PayloadFile(path) => {
                layout.payload.insert(path.as_str().to_string(), index);
            }
            Role::Folder => {}
        }
        Ok(())
    })?;
    Ok(layout)
}

/// Every file entry of a zip that is no update package (the vendor's Interact API Service
/// release), as (name, index), after the checks a package's entries get: safe names, regular
/// files and folders only, no encryption, stored or deflate, no bomb, no names that collide
/// on Windows. Any names are allowed.
pub(crate) fn scan_plain_entries<R: Read + Seek>(
    archive: &ZipArchive<R>,
    zip: &Path,
) -> Result<Vec<(String, usize)>, PackageError> {
    let mut files = Vec::new();
    each_entry(archive, zip, |index, name, facts| {
        RelPath::new(name.strip_suffix('/').unwrap_or(name))
            .map_err(|e| EntryProblem::UnsafeName { reason: e.reason })?;
        check_facts(facts, true)?;
        if !facts.is_dir {
            files.push((name.to_string(), index));
        }
        Ok(())
    })?;
    Ok(files)
}

/// Reads each entry's name and metadata, refuses names that are no text or that collide on
/// Windows, and gives the rest to `visit` (whose refusal names the entry).
fn each_entry<R: Read + Seek>(
    archive: &ZipArchive<R>,
    package: &Path,
    mut visit: impl FnMut(usize, &str, &EntryFacts) -> Result<(), EntryProblem>,
) -> Result<(), PackageError> {
    // Windows key (lowercase, no trailing '/') -> the name first seen with it.
    let mut seen: HashMap<String, String> = HashMap::new();
    for index in 0..archive.len() {
        let entry = archive
            .by_index_data(index)
            .map_err(|e| structure_error(e, package, true))?;
        let fail = |entry: &str, problem| PackageError::entry(package, entry, problem);
        let name = match entry.name() {
            Ok(name) => name.into_owned(),
            Err(_) => {
                let raw = String::from_utf8_lossy(entry.name_raw()).into_owned();
                return Err(fail(
                    &raw,
                    EntryProblem::UnsafeName {
                        reason: "name is not valid text",
                    },
                ));
            }
        };
        let facts = EntryFacts {
            is_dir: name.ends_with('/'),
            attributes: entry.external_attributes(),
            unix: matches!(entry.system(), zip::System::Unix),
            encrypted: entry.encrypted(),
            method: entry.compression(),
            size: entry.size(),
            compressed: entry.compressed_size(),
        };
        visit(index, &name, &facts).map_err(|problem| fail(&name, problem))?;
        let key = name.trim_end_matches('/').to_lowercase();
        if let Some(other) = seen.insert(key, name.clone()) {
            return Err(fail(&name, EntryProblem::CaseCollision { other }));
        }
    }
    Ok(())
}

/// What the zip says about one entry, besides its name.
struct EntryFacts {
    is_dir: bool,
    attributes: u32,
    unix: bool,
    encrypted: bool,
    method: CompressionMethod,
    size: u64,
    compressed: u64,
}

/// What an acceptable entry is.
enum Role {
    Manifest,
    Signature,
    PayloadFile(RelPath),
    Folder,
}

/// Decides what an entry is, or why it is refused.
fn classify(name: &str, facts: &EntryFacts) -> Result<Role, EntryProblem> {
    let path = name.strip_suffix('/').unwrap_or(name);
    let role = if name == MANIFEST_ENTRY {
        Role::Manifest
    } else if name == SIGNATURE_ENTRY {
        Role::Signature
    } else if name == PAYLOAD_PREFIX {
        Role::Folder
    } else if let Some(rest) = name.strip_prefix(PAYLOAD_PREFIX) {
        payload_role(rest, facts.is_dir)?
    } else {
        // Say "unsafe" rather than "unexpected" when the name is also a traversal attempt.
        return Err(match RelPath::new(path) {
            Err(e) => EntryProblem::UnsafeName { reason: e.reason },
            Ok(_) => EntryProblem::Unexpected,
        });
    };
    // The manifest is read through its own bound (MAX_MANIFEST_BYTES), which gives the clearer
    // error; the bomb ratio guards the payload, whose total is only bounded by the manifest.
    check_facts(facts, !matches!(role, Role::Manifest))?;
    if matches!(role, Role::Signature) && facts.size > MAX_SIGNATURE_BYTES {
        return Err(EntryProblem::Corrupt {
            detail: format!(
                "a signature of {} bytes; signatures are at most {MAX_SIGNATURE_BYTES}",
                facts.size
            ),
        });
    }
    Ok(role)
}

/// The checks of an entry's metadata whatever it is: a regular file or folder, not encrypted,
/// a folder holding no data, stored or deflate, and (with `bomb`) no bomb ratio.
fn check_facts(facts: &EntryFacts, bomb: bool) -> Result<(), EntryProblem> {
    check_type(facts)?;
    if facts.encrypted {
        return Err(EntryProblem::Encrypted);
    }
    if facts.is_dir {
        if facts.size != 0 || facts.compressed > 2 {
            // An empty deflate stream is 2 bytes; anything more is data hiding in a folder.
            return Err(EntryProblem::Corrupt {
                detail: "a folder entry that holds data".to_string(),
            });
        }
        return Ok(());
    }
    check_compression(facts)?;
    if bomb && looks_like_bomb(facts.size, facts.compressed) {
        return Err(EntryProblem::Bomb {
            size: facts.size,
            compressed: facts.compressed,
        });
    }
    Ok(())
}

/// The role of an entry named `payload/<rest>`.
fn payload_role(rest: &str, is_dir: bool) -> Result<Role, EntryProblem> {
    let path = if is_dir {
        rest.strip_suffix('/').unwrap_or(rest)
    } else {
        rest
    };
    let checked = RelPath::new(path).map_err(|e| EntryProblem::UnsafeName { reason: e.reason })?;
    Ok(if is_dir {
        Role::Folder
    } else {
        Role::PayloadFile(checked)
    })
}

/// Only regular files and folders, and the type bits must agree with the name.
fn check_type(facts: &EntryFacts) -> Result<(), EntryProblem> {
    if facts.attributes & DOS_REPARSE_POINT != 0 {
        return Err(EntryProblem::Symlink);
    }
    let mode = if facts.unix {
        facts.attributes >> 16
    } else {
        0
    };
    let marked_dir = match mode & S_IFMT {
        0 => facts.attributes & DOS_DIRECTORY != 0,
        S_IFDIR => true,
        S_IFREG => false,
        S_IFLNK => return Err(EntryProblem::Symlink),
        _ => return Err(EntryProblem::SpecialFile { mode }),
    };
    if marked_dir != facts.is_dir {
        let detail = if marked_dir {
            "marked as a folder but named like a file"
        } else {
            "named like a folder but marked as a file"
        };
        return Err(EntryProblem::Corrupt {
            detail: detail.to_string(),
        });
    }
    Ok(())
}

/// Stored or deflate only, with sizes that agree for stored entries.
fn check_compression(facts: &EntryFacts) -> Result<(), EntryProblem> {
    match facts.method {
        CompressionMethod::Stored if facts.size != facts.compressed => {
            return Err(EntryProblem::Corrupt {
                detail: format!(
                    "stored without compression, yet {} bytes are declared as {} compressed",
                    facts.size, facts.compressed
                ),
            });
        }
        CompressionMethod::Stored | CompressionMethod::Deflated => {}
        other => {
            return Err(EntryProblem::Compression {
                method: format!("{other:?}"),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(size: u64) -> EntryFacts {
        EntryFacts {
            is_dir: false,
            attributes: (S_IFREG | 0o644) << 16,
            unix: true,
            encrypted: false,
            method: CompressionMethod::Deflated,
            size,
            compressed: size / 2,
        }
    }

    #[test]
    fn roles_of_acceptable_names() {
        assert!(matches!(
            classify("manifest.json", &file(10)),
            Ok(Role::Manifest)
        ));
        assert!(matches!(
            classify("payload/Hub/a.dll", &file(10)),
            Ok(Role::PayloadFile(p)) if p.as_str() == "Hub/a.dll"
        ));
        let dir = EntryFacts {
            is_dir: true,
            attributes: (S_IFDIR | 0o755) << 16,
            size: 0,
            compressed: 0,
            ..file(0)
        };
        assert!(matches!(classify("payload/", &dir), Ok(Role::Folder)));
        assert!(matches!(classify("payload/Hub/", &dir), Ok(Role::Folder)));
    }

    #[test]
    fn hostile_names_are_unsafe_not_merely_unexpected() {
        for name in [
            "../x",
            "/etc/passwd",
            "C:/x",
            "..\\x",
            "payload/../x",
            "payload/Hub/../../x",
            "payload//x",
            "payload/C:/x",
            "payload/Hub\\..\\..\\x",
        ] {
            assert!(
                matches!(
                    classify(name, &file(1)),
                    Err(EntryProblem::UnsafeName { .. })
                ),
                "{name}"
            );
        }
        assert!(matches!(
            classify("readme.txt", &file(1)),
            Err(EntryProblem::Unexpected)
        ));
    }

    #[test]
    fn types_other_than_file_and_folder_are_refused() {
        let link = EntryFacts {
            attributes: (S_IFLNK | 0o777) << 16,
            ..file(4)
        };
        assert_eq!(
            classify("payload/l", &link).err(),
            Some(EntryProblem::Symlink)
        );
        let reparse = EntryFacts {
            attributes: DOS_REPARSE_POINT,
            unix: false,
            ..file(4)
        };
        assert_eq!(
            classify("payload/l", &reparse).err(),
            Some(EntryProblem::Symlink)
        );
        let fifo = EntryFacts {
            attributes: 0o010_644 << 16,
            ..file(4)
        };
        assert!(matches!(
            classify("payload/f", &fifo),
            Err(EntryProblem::SpecialFile { .. })
        ));
    }
}
