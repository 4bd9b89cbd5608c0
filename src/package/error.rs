//! What can be wrong with an update package: [`PackageError`] (one variant per kind of
//! problem, each naming the package file and, where there is one, the entry or path) and
//! [`EntryProblem`] (what is wrong with one zip entry).
//!
//! Messages are written for an administrator at 2 a.m.: they say what is wrong and what to do.
//! A damaged or altered package has one remedy, so those messages end with it: download the
//! package again.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::relpath::RelPath;
use crate::version::Step;

use super::limits::{BOMB_MIN_SIZE, BOMB_RATIO};
use super::manifest::{MANIFEST_ENTRY, PAYLOAD_PREFIX};
use super::signature::SIGNATURE_ENTRY;

/// The remedy for a package that is damaged, truncated or was altered.
const DOWNLOAD_AGAIN: &str = "the package is damaged or not genuine: download it again";

/// Why an update package was refused, or why reading a file from it failed.
///
/// Whatever the variant, nothing was written to the install: opening and verifying a package
/// only reads it.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// The package file cannot be opened (missing, no permission).
    #[error(
        "cannot open update package {}: {source}; check the path and that this account may read it",
        .package.display()
    )]
    Open {
        package: PathBuf,
        #[source]
        source: io::Error,
    },

    /// Reading the package file failed part way (an I/O error, not a content problem).
    #[error("reading update package {} failed: {source}", .package.display())]
    Read {
        package: PathBuf,
        #[source]
        source: io::Error,
    },

    /// The file is not a zip archive, or its zip structure is broken (truncated, garbled).
    #[error(
        "{} is not a readable update package (not a zip archive, or truncated: {detail}); {DOWNLOAD_AGAIN}",
        .package.display()
    )]
    NotZip { package: PathBuf, detail: String },

    /// More entries (or central-directory records) than any real package has.
    #[error(
        "{} holds {found} zip directory records, more than the {limit} hubup accepts; {DOWNLOAD_AGAIN}",
        .package.display()
    )]
    TooManyEntries {
        package: PathBuf,
        found: u64,
        limit: u64,
    },

    /// The zip directory lists the same entry name more than once.
    #[error(
        "{} lists an entry name more than once, so what would be installed is ambiguous; {DOWNLOAD_AGAIN}",
        .package.display()
    )]
    DuplicateEntries { package: PathBuf },

    /// The zip's local headers disagree with its central directory, entries overlap, or data
    /// hides outside the listed entries.
    #[error("{} is inconsistent ({detail}); {DOWNLOAD_AGAIN}", .package.display())]
    Inconsistent { package: PathBuf, detail: String },

    /// One entry of the zip is unacceptable.
    #[error("{}: entry {entry:?} {problem}; {DOWNLOAD_AGAIN}", .package.display())]
    Entry {
        package: PathBuf,
        entry: String,
        /// Boxed to keep every `Result<_, PackageError>` small.
        problem: Box<EntryProblem>,
    },

    /// There is no `manifest.json`.
    #[error(
        "{} has no {MANIFEST_ENTRY}, so it is not a hubup update package; {DOWNLOAD_AGAIN}",
        .package.display()
    )]
    MissingManifest { package: PathBuf },

    /// The manifest is larger than [`crate::MAX_MANIFEST_BYTES`].
    #[error(
        "{}: {MANIFEST_ENTRY} is {size} bytes, more than the {limit} bytes hubup reads; {DOWNLOAD_AGAIN}",
        .package.display()
    )]
    ManifestTooLarge {
        package: PathBuf,
        size: u64,
        limit: u64,
    },

    /// The manifest is not valid JSON, or not a manifest (unknown fields, unsafe paths, unknown
    /// versions, ...).
    #[error("{}: {MANIFEST_ENTRY} is not a valid manifest ({detail}); {DOWNLOAD_AGAIN}", .package.display())]
    BadManifest { package: PathBuf, detail: String },

    /// The manifest was written in a format this build does not read.
    #[error(
        "{}: the manifest is in format {found}, but this hubup reads format {supported}: \
         use the hubup release that came with this package",
        .package.display()
    )]
    UnknownFormat {
        package: PathBuf,
        found: u32,
        supported: u32,
    },

    /// The package is genuine but for another step than the one the run needs.
    /// (`expected` is the step of the run this file's name stands for, which need not be the
    /// install's next one: a run from 4.0 reads the 4.2 package for its step 4.1 -> 4.2.)
    #[error(
        "{} is the package for {found}, not for step {expected}: use {} (the package for \
         {expected})",
        .package.display(),
        .expected.to.package_file_name()
    )]
    WrongStep {
        package: PathBuf,
        found: Step,
        expected: Step,
    },

    /// The package's `signature.json` is malformed or does not verify over its manifest.
    #[error(
        "{}: its signature is not valid ({detail}); the package was altered after it was \
         signed, or is damaged: get it again from its publisher",
        .package.display()
    )]
    BadSignature { package: PathBuf, detail: String },

    /// The package is not signed, and the config does not allow unsigned packages.
    #[error(
        "{} is not signed; hubup installs only packages signed by a key in the config's \
         [packages] trusted_keys ({expected}). Get the signed package from its publisher (a \
         publisher signs with `hubup package sign`)",
        .package.display()
    )]
    Unsigned { package: PathBuf, expected: String },

    /// The package is signed, but by a key the config does not trust.
    #[error(
        "{} is signed by {signer}, which the config does not trust; expected a signature by \
         {expected} ([packages] trusted_keys)",
        .package.display()
    )]
    UntrustedSigner {
        package: PathBuf,
        signer: String,
        expected: String,
    },

    /// The manifest is well-formed but contradicts itself (duplicate paths, paths that collide
    /// on Windows, a file that is also deleted, renames that overlap, ...).
    #[error("{}: the manifest contradicts itself: {detail}; {DOWNLOAD_AGAIN}", .package.display())]
    ManifestConflict { package: PathBuf, detail: String },

    /// The manifest's files add up to more than [`crate::MAX_PAYLOAD_BYTES`].
    #[error(
        "{}: the manifest lists {total} bytes of files, more than the {limit} bytes hubup accepts; \
         {DOWNLOAD_AGAIN}",
        .package.display()
    )]
    PayloadTooLarge {
        package: PathBuf,
        total: u64,
        limit: u64,
    },

    /// A file the manifest lists has no payload entry.
    #[error(
        "{}: the manifest lists {path} but the package has no entry {PAYLOAD_PREFIX}{path}; {DOWNLOAD_AGAIN}",
        .package.display()
    )]
    MissingPayload { package: PathBuf, path: RelPath },

    /// A caller asked for a file the manifest does not list (a bug in the caller).
    #[error("{} holds no file {path} (it is not in the manifest)", .package.display())]
    NotInPackage { package: PathBuf, path: RelPath },

    /// Writing a file's content to its destination failed (the package itself is fine).
    #[error("copying {path} out of {} failed while writing it: {source}", .package.display())]
    Destination {
        package: PathBuf,
        path: RelPath,
        #[source]
        source: io::Error,
    },
}

impl PackageError {
    /// An [`PackageError::Entry`] error.
    pub(crate) fn entry(package: &Path, entry: impl Into<String>, problem: EntryProblem) -> Self {
        PackageError::Entry {
            package: package.to_path_buf(),
            entry: entry.into(),
            problem: Box::new(problem),
        }
    }

    /// The entry and what is wrong with it, for [`PackageError::Entry`] errors.
    pub fn entry_problem(&self) -> Option<(&str, &EntryProblem)> {
        match self {
            PackageError::Entry { entry, problem, .. } => Some((entry, problem)),
            _ => None,
        }
    }

    /// The package file the error is about.
    pub fn package(&self) -> &Path {
        match self {
            PackageError::Open { package, .. }
            | PackageError::Read { package, .. }
            | PackageError::NotZip { package, .. }
            | PackageError::TooManyEntries { package, .. }
            | PackageError::DuplicateEntries { package, .. }
            | PackageError::Inconsistent { package, .. }
            | PackageError::Entry { package, .. }
            | PackageError::MissingManifest { package }
            | PackageError::ManifestTooLarge { package, .. }
            | PackageError::BadManifest { package, .. }
            | PackageError::UnknownFormat { package, .. }
            | PackageError::WrongStep { package, .. }
            | PackageError::ManifestConflict { package, .. }
            | PackageError::PayloadTooLarge { package, .. }
            | PackageError::MissingPayload { package, .. }
            | PackageError::NotInPackage { package, .. }
            | PackageError::Destination { package, .. }
            | PackageError::BadSignature { package, .. }
            | PackageError::Unsigned { package, .. }
            | PackageError::UntrustedSigner { package, .. } => package,
        }
    }

    /// True if the package itself is at fault (damaged, hostile, or for another step), as
    /// opposed to the machine (unreadable file, I/O error, full disk) or the caller.
    pub fn is_bad_package(&self) -> bool {
        !matches!(
            self,
            PackageError::Open { .. }
                | PackageError::Read { .. }
                | PackageError::NotInPackage { .. }
                | PackageError::Destination { .. }
        )
    }
}

/// What is wrong with one zip entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryProblem {
    /// The name could escape the install root or is not a valid Windows name.
    UnsafeName { reason: &'static str },
    /// A symbolic link (unix mode `S_IFLNK`, or a Windows reparse point).
    Symlink,
    /// A device, pipe, socket or other non-regular file (unix mode shown in octal).
    SpecialFile { mode: u32 },
    /// The entry is encrypted.
    Encrypted,
    /// A compression method other than stored or deflate.
    Compression { method: String },
    /// The entry expands far more than real files do.
    Bomb { size: u64, compressed: u64 },
    /// Not `manifest.json` and not under `payload/`.
    Unexpected,
    /// A payload entry the manifest does not list.
    NotListed,
    /// The name equals another entry's name except for letter case.
    CaseCollision { other: String },
    /// A size differs from the manifest: `declared` is true when the zip header says so,
    /// false when the content actually read differs.
    SizeMismatch {
        expected: u64,
        found: u64,
        declared: bool,
    },
    /// The content goes on past the size the manifest states (reading stopped there).
    Overrun { expected: u64 },
    /// The content's blake3 differs from the manifest.
    DigestMismatch { expected: Digest, found: Digest },
    /// The zip structure of the entry is inconsistent, or its content cannot be decoded.
    Corrupt { detail: String },
}

impl fmt::Display for EntryProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EntryProblem::UnsafeName { reason } => write!(f, "has an unsafe name ({reason})"),
            EntryProblem::Symlink => f.write_str("is a symbolic link; packages hold only files"),
            EntryProblem::SpecialFile { mode } => {
                write!(f, "is not a regular file (unix mode {mode:o})")
            }
            EntryProblem::Encrypted => f.write_str("is encrypted; packages are never encrypted"),
            EntryProblem::Compression { method } => write!(
                f,
                "uses compression method {method}; packages use only stored or deflate"
            ),
            EntryProblem::Bomb { size, compressed } => write!(
                f,
                "expands from {compressed} to {size} bytes, more than {BOMB_RATIO}:1 \
                 (the limit for entries over {BOMB_MIN_SIZE} bytes): refused as a possible zip bomb"
            ),
            EntryProblem::Unexpected => write!(
                f,
                "does not belong in a package (only {MANIFEST_ENTRY}, {SIGNATURE_ENTRY} and {PAYLOAD_PREFIX}... may be there)"
            ),
            EntryProblem::NotListed => f.write_str("is not listed in the manifest"),
            EntryProblem::CaseCollision { other } => write!(
                f,
                "differs only in letter case from {other:?}; Windows would write both to the same file"
            ),
            EntryProblem::SizeMismatch {
                expected,
                found,
                declared,
            } => {
                let how = if *declared {
                    "its zip header declares"
                } else {
                    "it holds"
                };
                write!(
                    f,
                    "has the wrong size: {how} {found} bytes, the manifest says {expected}"
                )
            }
            EntryProblem::Overrun { expected } => write!(
                f,
                "has the wrong size: it holds more than the {expected} bytes the manifest says"
            ),
            EntryProblem::DigestMismatch { expected, found } => write!(
                f,
                "has the wrong content: blake3 {found}, the manifest says {expected}"
            ),
            EntryProblem::Corrupt { detail } => write!(f, "cannot be read ({detail})"),
        }
    }
}
