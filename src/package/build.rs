//! Writing update packages: a [`PackageBuilder`] collects what one step changes (files with
//! their content, deletions, renames, settings changes, the target's inventory) and writes the
//! zip exactly as `manifest.rs` documents it, with deterministic bytes (fixed timestamps and
//! permissions, entries in path order, the manifest last). File content is streamed from a
//! callback, so no whole file is held in memory. A builder given a key signs the manifest
//! (`signature.rs`); [`sign_package`] signs a package that was written before.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

use crate::digest::Digest;
use crate::package::{
    Deletion, FolderRename, InventoryEntry, MANIFEST_ENTRY, MANIFEST_FORMAT, MAX_MANIFEST_BYTES,
    Manifest, Package, PackageError, PackageFile, PluginUpdate, SIGNATURE_ENTRY, SettingsEdit,
    Signer, SigningKey,
};
use crate::relpath::RelPath;
use crate::version::Step;

/// Produces a file's content.
pub type ContentFn<'a> = Box<dyn Fn(&mut dyn Write) -> io::Result<()> + Send + Sync + 'a>;

/// Collects one step's changes and writes its package.
pub struct PackageBuilder<'a> {
    manifest: Manifest,
    contents: Vec<ContentFn<'a>>,
    /// The key that signs the manifest, and the signer's name for itself.
    signing: Option<(&'a SigningKey, Option<String>)>,
}

/// A package could not be written.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("cannot write package {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("cannot write package {path}: {source}")]
    Zip {
        path: PathBuf,
        source: zip::result::ZipError,
    },
}

impl<'a> PackageBuilder<'a> {
    pub fn new(step: Step) -> PackageBuilder<'a> {
        PackageBuilder {
            manifest: Manifest {
                format: MANIFEST_FORMAT,
                from: step.from,
                to: step.to,
                renames: Vec::new(),
                deletions: Vec::new(),
                files: Vec::new(),
                new_components: Vec::new(),
                settings: Vec::new(),
                plugins: Vec::new(),
                inventory: Vec::new(),
            },
            contents: Vec::new(),
            signing: None,
        }
    }

    /// Signs the package with `key` when it is written; `signer` is the name the signature
    /// gives (shown by `hubup package verify`, never trusted).
    pub fn sign_with(&mut self, key: &'a SigningKey, signer: Option<&str>) -> &mut Self {
        self.signing = Some((key, signer.map(str::to_string)));
        self
    }

    pub fn rename(&mut self, from: RelPath, to: RelPath) -> &mut Self {
        self.manifest.renames.push(FolderRename { from, to });
        self
    }

    pub fn delete(&mut self, path: RelPath, expected: Digest) -> &mut Self {
        self.manifest.deletions.push(Deletion { path, expected });
        self
    }

    /// A file whose size and digest the caller knows, with its content callback.
    pub fn file(
        &mut self,
        path: RelPath,
        size: u64,
        digest: Digest,
        replaces: Option<Digest>,
        content: ContentFn<'a>,
    ) -> &mut Self {
        self.manifest.files.push(PackageFile {
            path,
            size,
            digest,
            replaces,
        });
        self.contents.push(content);
        self
    }

    /// A file given as bytes.
    pub fn file_bytes(
        &mut self,
        path: RelPath,
        bytes: Vec<u8>,
        replaces: Option<Digest>,
    ) -> &mut Self {
        let size = bytes.len() as u64;
        let digest = Digest::of(&bytes);
        self.file(
            path,
            size,
            digest,
            replaces,
            Box::new(move |out| out.write_all(&bytes)),
        )
    }

    pub fn new_component(&mut self, folder: &str) -> &mut Self {
        self.manifest.new_components.push(folder.to_string());
        self
    }

    pub fn settings(&mut self, edit: SettingsEdit) -> &mut Self {
        self.manifest.settings.push(edit);
        self
    }

    pub fn plugin(&mut self, name: &str, from: &str, to: &str) -> &mut Self {
        self.manifest.plugins.push(PluginUpdate {
            name: name.to_string(),
            from: from.to_string(),
            to: to.to_string(),
        });
        self
    }

    pub fn inventory(&mut self, path: RelPath, size: u64, digest: Digest) -> &mut Self {
        self.manifest
            .inventory
            .push(InventoryEntry { path, size, digest });
        self
    }

    /// The manifest as it will be written (lists sorted by path).
    pub fn manifest(&self) -> Manifest {
        let mut manifest = self.manifest.clone();
        sort_manifest(&mut manifest);
        manifest
    }

    /// Writes the package to `out`. On error a partial file may remain at `out`.
    pub fn write(self, out: &Path) -> Result<Manifest, BuildError> {
        let io_err = |source| BuildError::Io {
            path: out.to_path_buf(),
            source,
        };
        let zip_err = |source| BuildError::Zip {
            path: out.to_path_buf(),
            source,
        };
        let mut manifest = self.manifest;
        let mut order: Vec<usize> = (0..manifest.files.len()).collect();
        order.sort_by(|a, b| {
            manifest.files[*a]
                .path
                .as_str()
                .as_bytes()
                .cmp(manifest.files[*b].path.as_str().as_bytes())
        });
        let file = File::create(out).map_err(io_err)?;
        let mut zip = ZipWriter::new(BufWriter::new(file));
        let options = entry_options();
        for &i in &order {
            let entry = &manifest.files[i];
            let options = options.large_file(entry.size >= u32::MAX as u64);
            zip.start_file(entry.entry_name(), options)
                .map_err(zip_err)?;
            (self.contents[i])(&mut zip).map_err(io_err)?;
        }
        sort_manifest(&mut manifest);
        let json = serde_json::to_vec_pretty(&manifest).map_err(|e| io_err(io::Error::other(e)))?;
        zip.start_file(MANIFEST_ENTRY, options).map_err(zip_err)?;
        zip.write_all(&json).map_err(io_err)?;
        if let Some((key, signer)) = &self.signing {
            zip.start_file(SIGNATURE_ENTRY, options).map_err(zip_err)?;
            zip.write_all(&key.sign_manifest(&json, signer.as_deref()))
                .map_err(io_err)?;
        }
        let mut inner = zip.finish().map_err(zip_err)?;
        inner.flush().map_err(io_err)?;
        Ok(manifest)
    }
}

/// Every entry's options: fixed, so the same content always gives the same bytes.
fn entry_options() -> SimpleFileOptions {
    SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(1))
        .last_modified_time(DateTime::default())
        .unix_permissions(0o644)
        // zip's default "made by" is the host (DOS on Windows): fixed, so a package is
        // byte-identical whichever platform built it.
        .system(zip::System::Unix)
        .large_file(false)
}

/// A package could not be signed. The package file is unchanged.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The package does not verify: a publisher signs only sound packages.
    #[error("will not sign it: {0}")]
    Package(#[from] PackageError),
    #[error(transparent)]
    Build(#[from] BuildError),
}

/// Signs the package at `path` with `key`, replacing any signature it had: verifies it in
/// full first, writes the signed copy beside it (every entry copied as it is, the signature
/// after them), flushes it, renames it over the original and verifies the result.
///
/// On failure the original package is unchanged (a leftover `<name>.signing` may remain).
pub fn sign_package(
    path: &Path,
    key: &SigningKey,
    signer: Option<&str>,
) -> Result<Signer, SignError> {
    Package::open_any_step(path)?;
    let mut temp = path.as_os_str().to_owned();
    temp.push(".signing");
    let temp = PathBuf::from(temp);
    write_signed_copy(path, &temp, key, signer)?;
    crate::fsx::rename(&temp, path).map_err(|source| BuildError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let signed = Package::open_any_step(path)?;
    Ok(signed
        .signer()
        .cloned()
        .expect("a package just signed has a signer"))
}

fn write_signed_copy(
    path: &Path,
    out: &Path,
    key: &SigningKey,
    signer: Option<&str>,
) -> Result<(), BuildError> {
    use std::io::Read;
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BuildError::Io {
            path: path.clone(),
            source,
        }
    };
    let zip_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| BuildError::Zip {
            path: path.clone(),
            source,
        }
    };
    let input = File::open(path).map_err(io_err(path))?;
    let mut archive = zip::ZipArchive::new(io::BufReader::new(input)).map_err(zip_err(path))?;
    let mut manifest = Vec::new();
    archive
        .by_name(MANIFEST_ENTRY)
        .map_err(zip_err(path))?
        .take(MAX_MANIFEST_BYTES)
        .read_to_end(&mut manifest)
        .map_err(io_err(path))?;
    let file = File::create(out).map_err(io_err(out))?;
    let mut zip = ZipWriter::new(BufWriter::new(file));
    for index in 0..archive.len() {
        let entry = archive.by_index_raw(index).map_err(zip_err(path))?;
        if entry.name_raw() == SIGNATURE_ENTRY.as_bytes() {
            continue;
        }
        zip.raw_copy_file(entry).map_err(zip_err(out))?;
    }
    zip.start_file(SIGNATURE_ENTRY, entry_options())
        .map_err(zip_err(out))?;
    zip.write_all(&key.sign_manifest(&manifest, signer))
        .map_err(io_err(out))?;
    let inner = zip.finish().map_err(zip_err(out))?;
    let file = inner
        .into_inner()
        .map_err(|e| io_err(out)(e.into_error()))?;
    file.sync_all().map_err(io_err(out))
}

fn sort_manifest(manifest: &mut Manifest) {
    let by_path = |a: &RelPath, b: &RelPath| a.as_str().as_bytes().cmp(b.as_str().as_bytes());
    manifest.files.sort_by(|a, b| by_path(&a.path, &b.path));
    manifest.deletions.sort_by(|a, b| by_path(&a.path, &b.path));
    manifest.inventory.sort_by(|a, b| by_path(&a.path, &b.path));
    manifest.settings.sort_by(|a, b| by_path(&a.path, &b.path));
}
