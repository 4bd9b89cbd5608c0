//! Writing update packages: a [`PackageBuilder`] collects what one step changes (files with
//! their content, deletions, renames, settings changes, the target's inventory) and writes the
//! zip exactly as `manifest.rs` documents it, with deterministic bytes (fixed timestamps and
//! permissions, entries in path order, the manifest last). File content is streamed from a
//! callback, so no whole file is held in memory.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

use crate::digest::Digest;
use crate::package::{
    Deletion, FolderRename, InventoryEntry, MANIFEST_ENTRY, MANIFEST_FORMAT, Manifest, PackageFile,
    PluginUpdate, SettingsEdit,
};
use crate::relpath::RelPath;
use crate::version::Step;

/// Produces a file's content.
pub type ContentFn<'a> = Box<dyn Fn(&mut dyn Write) -> io::Result<()> + Send + Sync + 'a>;

/// Collects one step's changes and writes its package.
pub struct PackageBuilder<'a> {
    manifest: Manifest,
    contents: Vec<ContentFn<'a>>,
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
        }
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
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .compression_level(Some(1))
            .last_modified_time(DateTime::default())
            .unix_permissions(0o644)
            // zip's default "made by" is the host (DOS on Windows): fixed, so a package is
            // byte-identical whichever platform built it.
            .system(zip::System::Unix)
            .large_file(false);
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
        let mut inner = zip.finish().map_err(zip_err)?;
        inner.flush().map_err(io_err)?;
        Ok(manifest)
    }
}

fn sort_manifest(manifest: &mut Manifest) {
    let by_path = |a: &RelPath, b: &RelPath| a.as_str().as_bytes().cmp(b.as_str().as_bytes());
    manifest.files.sort_by(|a, b| by_path(&a.path, &b.path));
    manifest.deletions.sort_by(|a, b| by_path(&a.path, &b.path));
    manifest.inventory.sort_by(|a, b| by_path(&a.path, &b.path));
    manifest.settings.sort_by(|a, b| by_path(&a.path, &b.path));
}
