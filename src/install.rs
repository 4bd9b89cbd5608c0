//! Reading an installed system from its files: which product files it has (and their
//! digests), the install-tree digest, and which version is installed.
//!
//! # What the install-tree digest covers
//!
//! Every regular file under the install root, except:
//! - top-level folders named `backup_*` (hubup's and the vendor's backups);
//! - the top-level file `hubup.lock` (`install_lock::LOCK_FILE`: the install lock, which
//!   holds the pid and journal of the hubup changing the install, never product content);
//! - live data, written by the running applications and never touched by hubup: the
//!   top-level `Files` and `DataProtectionKeys` folders, and every folder named `Logs_*` at any
//!   depth.
//!
//! Folders themselves (empty or not) do not count; a symbolic link anywhere is refused (a
//! Windows install has none, and following one could leave the root). For each file, sorted by
//! its `/`-separated relative path (byte order), the digest absorbs the path's UTF-8 bytes, a
//! 0 byte, the size as 8 little-endian bytes and the file's 32-byte blake3 digest. Two installs
//! have the same digest exactly when they hold the same product files with the same content.
//!
//! # Where the version lives
//!
//! Each component folder holds its main assembly's `<Assembly>.deps.json` (as every .NET Core
//! application does), whose `libraries` table names the assembly as a project with its version
//! (`"BluePrism.Hub/4.2.0": { "type": "project" }`). Every component must agree.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::components::{LIVE_DATA_FOLDERS, LIVE_DATA_PREFIX};
use crate::digest::Digest;
use crate::install_lock::LOCK_FILE;
use crate::relpath::RelPath;
use crate::version::Version;

/// One product file, as found on disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScannedFile {
    pub path: RelPath,
    pub size: u64,
    pub digest: Digest,
}

/// The install could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path} is a symbolic link; an install holds none, so hubup will not follow it")]
    Symlink { path: PathBuf },
    #[error("{path}: {problem}")]
    BadName { path: PathBuf, problem: String },
}

/// True for a top-level folder that is not part of the install tree (backups, live data).
fn skipped_top_level(name: &str) -> bool {
    name.starts_with("backup_") || LIVE_DATA_FOLDERS.contains(&name)
}

/// True for a live-data folder at any depth.
fn is_log_folder(name: &str) -> bool {
    name.starts_with(LIVE_DATA_PREFIX)
}

/// Lists the product files under `root` (not hashed yet), sorted by path.
fn list_product_files(root: &Path) -> Result<Vec<(RelPath, PathBuf)>, ScanError> {
    let mut out = Vec::new();
    let mut stack = vec![(root.to_path_buf(), None::<RelPath>)];
    while let Some((dir, rel)) = stack.pop() {
        let entries = fs::read_dir(&dir).map_err(|source| ScanError::Io {
            path: dir.clone(),
            source,
        })?;
        for entry in entries {
            let entry = entry.map_err(|source| ScanError::Io {
                path: dir.clone(),
                source,
            })?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            let kind = entry.file_type().map_err(|source| ScanError::Io {
                path: path.clone(),
                source,
            })?;
            if kind.is_symlink() {
                return Err(ScanError::Symlink { path });
            }
            if kind.is_dir()
                && ((rel.is_none() && skipped_top_level(&name)) || is_log_folder(&name))
            {
                continue;
            }
            if rel.is_none() && !kind.is_dir() && name == LOCK_FILE {
                continue;
            }
            let child = match &rel {
                Some(parent) => parent.join(&name),
                None => RelPath::new(&name),
            }
            .map_err(|e| ScanError::BadName {
                path: path.clone(),
                problem: e.reason.to_string(),
            })?;
            if kind.is_dir() {
                stack.push((path, Some(child)));
            } else {
                out.push((child, path));
            }
        }
    }
    out.sort_by(|a, b| a.0.as_str().as_bytes().cmp(b.0.as_str().as_bytes()));
    Ok(out)
}

/// Every product file under `root` with its size and digest, sorted by path. Files are hashed
/// on all cores.
pub fn scan_product_files(root: &Path) -> Result<Vec<ScannedFile>, ScanError> {
    let files = list_product_files(root)?;
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(8);
    let chunk = files.len().div_ceil(workers).max(1);
    let results: Vec<Result<Vec<ScannedFile>, ScanError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| scope.spawn(move || hash_all(part)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Ok(Vec::new())))
            .collect()
    });
    let mut out = Vec::with_capacity(files.len());
    for part in results {
        out.extend(part?);
    }
    Ok(out)
}

fn hash_all(files: &[(RelPath, PathBuf)]) -> Result<Vec<ScannedFile>, ScanError> {
    files
        .iter()
        .map(|(rel, path)| {
            let (digest, size) = Digest::of_file(path).map_err(|source| ScanError::Io {
                path: path.clone(),
                source,
            })?;
            Ok(ScannedFile {
                path: rel.clone(),
                size,
                digest,
            })
        })
        .collect()
}

/// The install-tree digest of files given as (path, size, digest), in path order (see the
/// module documentation for the exact definition).
pub fn digest_of_entries<'a>(
    entries: impl IntoIterator<Item = (&'a RelPath, u64, Digest)>,
) -> Digest {
    let mut sorted: Vec<(&RelPath, u64, Digest)> = entries.into_iter().collect();
    sorted.sort_by(|a, b| a.0.as_str().as_bytes().cmp(b.0.as_str().as_bytes()));
    let mut hasher = blake3::Hasher::new();
    for (path, size, digest) in sorted {
        hasher.update(path.as_str().as_bytes());
        hasher.update(&[0]);
        hasher.update(&size.to_le_bytes());
        hasher.update(digest.as_bytes());
    }
    hasher.finalize().into()
}

/// The install-tree digest of the install under `root`.
pub fn tree_digest(root: &Path) -> Result<Digest, ScanError> {
    let files = scan_product_files(root)?;
    Ok(digest_of_entries(
        files.iter().map(|f| (&f.path, f.size, f.digest)),
    ))
}

/// A component folder and the version its files say.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FoundComponent {
    pub folder: String,
    pub assembly: String,
    pub version: Version,
}

/// What detection found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DetectedInstall {
    pub version: Version,
    pub components: Vec<FoundComponent>,
}

/// The installed version could not be determined. Names what was found.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error("no Hub or Interact install at {root}: {problem}")]
    NoInstall { root: PathBuf, problem: String },
    #[error(
        "the components at {root} are at different versions ({}); finish or repair the \
         earlier upgrade first",
        .found.iter().map(|c| format!("{} {}", c.folder, c.version)).collect::<Vec<_>>().join(", ")
    )]
    Mixed {
        root: PathBuf,
        found: Vec<FoundComponent>,
    },
    #[error("{file}: version {text:?} is not one hubup knows (4.0 ... 4.5)")]
    UnknownVersion { file: PathBuf, text: String },
    #[error("{file}: {problem}")]
    BadVersionFile { file: PathBuf, problem: String },
}

/// Detects the installed version from the components' `*.deps.json` files.
pub fn detect(root: &Path) -> Result<DetectedInstall, DetectError> {
    let entries = fs::read_dir(root).map_err(|e| DetectError::NoInstall {
        root: root.to_path_buf(),
        problem: e.to_string(),
    })?;
    let mut folders: Vec<(String, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .filter(|(name, _)| !skipped_top_level(name))
        .collect();
    folders.sort();
    let mut components = Vec::new();
    for (name, path) in folders {
        if let Some((assembly, version)) = component_version(&path)? {
            components.push(FoundComponent {
                folder: name,
                assembly,
                version,
            });
        }
    }
    let Some(first) = components.first() else {
        return Err(DetectError::NoInstall {
            root: root.to_path_buf(),
            problem: "no component folder holds a BluePrism *.deps.json".into(),
        });
    };
    let version = first.version;
    if components.iter().any(|c| c.version != version) {
        return Err(DetectError::Mixed {
            root: root.to_path_buf(),
            found: components,
        });
    }
    Ok(DetectedInstall {
        version,
        components,
    })
}

/// The main assembly and version of the component in `folder`, if it is one.
fn component_version(folder: &Path) -> Result<Option<(String, Version)>, DetectError> {
    let Ok(entries) = fs::read_dir(folder) else {
        return Ok(None);
    };
    let mut deps: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("BluePrism.") && n.ends_with(".deps.json"))
        })
        .collect();
    deps.sort();
    let Some(file) = deps.first() else {
        return Ok(None);
    };
    let bad = |problem: &str| DetectError::BadVersionFile {
        file: file.clone(),
        problem: problem.to_string(),
    };
    let bytes = fs::read(file).map_err(|e| bad(&e.to_string()))?;
    if bytes.len() > 16 * 1024 * 1024 {
        return Err(bad("larger than a deps.json can be"));
    }
    let json: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| bad(&e.to_string()))?;
    let assembly = file
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".deps.json"))
        .unwrap_or_default()
        .to_string();
    let libraries = json
        .get("libraries")
        .and_then(|l| l.as_object())
        .ok_or_else(|| bad("no \"libraries\" table"))?;
    let key = libraries
        .keys()
        .find(|k| k.split_once('/').is_some_and(|(name, _)| name == assembly))
        .ok_or_else(|| bad(&format!("no library entry for {assembly}")))?;
    let text = key.split_once('/').map(|(_, v)| v).unwrap_or_default();
    let version = text.parse().map_err(|_| DetectError::UnknownVersion {
        file: file.clone(),
        text: text.to_string(),
    })?;
    Ok(Some((assembly, version)))
}

/// A `backup_*` folder at the top of the install, with its size in bytes (files counted once
/// even when hard-linked with the install).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BackupFolder {
    pub name: String,
    pub files: u64,
    pub bytes: u64,
}

/// The `backup_*` folders at the top of `root`.
pub fn backup_folders(root: &Path) -> Result<Vec<BackupFolder>, ScanError> {
    let mut out = BTreeMap::new();
    let entries = fs::read_dir(root).map_err(|source| ScanError::Io {
        path: root.to_path_buf(),
        source,
    })?;
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with("backup_") || !entry.path().is_dir() {
            continue;
        }
        let (files, bytes) = folder_size(&entry.path())?;
        out.insert(name.clone(), BackupFolder { name, files, bytes });
    }
    Ok(out.into_values().collect())
}

fn folder_size(dir: &Path) -> Result<(u64, u64), ScanError> {
    let mut files = 0;
    let mut bytes = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = fs::read_dir(&d).map_err(|source| ScanError::Io {
            path: d.clone(),
            source,
        })?;
        for entry in entries.filter_map(Result::ok) {
            let meta = entry.metadata().map_err(|source| ScanError::Io {
                path: entry.path(),
                source,
            })?;
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                files += 1;
                bytes += meta.len();
            }
        }
    }
    Ok((files, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, bytes: &[u8]) {
        let path = root.join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, bytes).unwrap();
    }

    fn deps(assembly: &str, version: &str) -> String {
        format!(r#"{{"libraries": {{"{assembly}/{version}": {{"type": "project"}}}}}}"#)
    }

    #[test]
    fn digest_ignores_backups_and_live_data_but_sees_product_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "Hub/BluePrism.Hub.dll", b"dll");
        write(root, "Hub/Logs_Hub/today.log", b"log");
        write(root, "Files/a.pdf", b"pdf");
        let before = tree_digest(root).unwrap();
        write(root, "Hub/Logs_Hub/today.log", b"more log");
        write(root, "DataProtectionKeys/key.xml", b"key");
        write(root, "backup_4.0/Hub/BluePrism.Hub.dll", b"old");
        write(root, LOCK_FILE, b"pid 1\n");
        assert_eq!(tree_digest(root).unwrap(), before);
        assert!(
            scan_product_files(root)
                .unwrap()
                .iter()
                .all(|f| f.path.as_str() != LOCK_FILE),
            "the lock file is no product file (drift, the planner's extra files)"
        );
        write(
            root,
            &format!("Hub/{LOCK_FILE}"),
            b"a product file of that name",
        );
        assert_ne!(
            tree_digest(root).unwrap(),
            before,
            "only the top-level one is skipped"
        );
        fs::remove_file(root.join("Hub").join(LOCK_FILE)).unwrap();
        write(root, "Hub/BluePrism.Hub.dll", b"dlL");
        assert_ne!(tree_digest(root).unwrap(), before);
    }

    #[test]
    fn detects_one_version_and_names_mixed_ones() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(
            root,
            "Hub/BluePrism.Hub.deps.json",
            deps("BluePrism.Hub", "4.2.0").as_bytes(),
        );
        write(
            root,
            "IADA/BluePrism.Iada.deps.json",
            deps("BluePrism.Iada", "4.2.0").as_bytes(),
        );
        write(root, "Files/x", b"");
        assert_eq!(detect(root).unwrap().version, Version::V4_2);
        write(
            root,
            "IADA/BluePrism.Iada.deps.json",
            deps("BluePrism.Iada", "4.3.0").as_bytes(),
        );
        let err = detect(root).unwrap_err().to_string();
        assert!(err.contains("Hub 4.2") && err.contains("IADA 4.3"), "{err}");
        write(
            root,
            "IADA/BluePrism.Iada.deps.json",
            deps("BluePrism.Iada", "4.9.0").as_bytes(),
        );
        let err = detect(root).unwrap_err().to_string();
        assert!(err.contains("4.9.0"), "{err}");
    }

    #[test]
    fn missing_install_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = detect(&dir.path().join("nope")).unwrap_err();
        assert!(matches!(err, DetectError::NoInstall { .. }));
        let err = detect(dir.path()).unwrap_err().to_string();
        assert!(err.contains("no component folder"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "Hub/a.dll", b"a");
        std::os::unix::fs::symlink("/etc", dir.path().join("Hub/etc")).unwrap();
        assert!(matches!(
            tree_digest(dir.path()),
            Err(ScanError::Symlink { .. })
        ));
    }
}
