//! Test helper shared by the `package_*` tests: builds update packages from a small list of
//! files with the zip crate (valid ones, and variants that break one rule each), and patches
//! zip headers in place for the breakages a well-behaved writer refuses to produce.

use std::fs;
use std::io::{Cursor, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use hubup::{
    Deletion, Digest, InventoryEntry, MANIFEST_ENTRY, MANIFEST_FORMAT, Manifest, PackageFile,
    RelPath, Step, Version,
};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::rng::Rng;

/// The step the sample package is for.
pub const STEP: Step = Step {
    from: Version::V4_1,
    to: Version::V4_2,
};

/// One file of a package: its path below the install root and its content.
#[derive(Clone, Debug)]
pub struct SampleFile {
    pub path: String,
    pub content: Vec<u8>,
}

/// Deterministic bytes that do not compress (so they never look like a bomb).
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    (0..len).map(|_| (rng.next() >> 24) as u8).collect()
}

/// Text that compresses like real configuration and script files (about 5:1).
pub fn text(len: usize, seed: u64) -> Vec<u8> {
    let words = [
        "Hub",
        "Interact",
        "connection",
        "Server=",
        "Database=",
        "true",
        "false",
        "plugin",
        "\"Logging\"",
        "{",
        "}",
        "\n",
        "  ",
        "function",
        "return",
        "const",
    ];
    let picks = noise(len, seed);
    let mut out = Vec::with_capacity(len + 16);
    let mut i = 0;
    while out.len() < len {
        let pick = usize::from(picks.get(i % picks.len().max(1)).copied().unwrap_or(0));
        out.extend_from_slice(words[pick % words.len()].as_bytes());
        out.push(b' ');
        i += 1;
    }
    out.truncate(len);
    out
}

/// A handful of files shaped like a step's payload: binaries, text, an empty file, nesting,
/// spaces and a non-ASCII name.
pub fn sample_files() -> Vec<SampleFile> {
    let file = |path: &str, content: Vec<u8>| SampleFile {
        path: path.to_string(),
        content,
    };
    vec![
        file("Hub/BluePrism.Hub.dll", noise(150_000, 1)),
        file("Hub/appsettings.Production.json", text(3_000, 2)),
        file(
            "License Manager/BluePrism.LicenseManager.dll",
            noise(40_000, 3),
        ),
        file("License Manager/wwwroot/js/app.min.js", text(90_000, 4)),
        file("Notification Center/empty.marker", Vec::new()),
        file("Hub/Plugins/Control Room/1.2.0/plugin.json", text(700, 5)),
        file("Hub/wwwroot/i18n/français.json", text(1_200, 6)),
    ]
}

/// The manifest for `files` as the package for `step`: every file new, one deletion, the
/// inventory listing the files.
pub fn manifest_for(step: Step, files: &[SampleFile]) -> Manifest {
    let listed: Vec<PackageFile> = files
        .iter()
        .map(|f| PackageFile {
            path: RelPath::new(&f.path).expect("sample paths are valid"),
            size: f.content.len() as u64,
            digest: Digest::of(&f.content),
            replaces: None,
        })
        .collect();
    let inventory = listed
        .iter()
        .map(|f| InventoryEntry {
            path: f.path.clone(),
            size: f.size,
            digest: f.digest,
        })
        .collect();
    Manifest {
        format: MANIFEST_FORMAT,
        from: step.from,
        to: step.to,
        renames: Vec::new(),
        deletions: vec![Deletion {
            path: RelPath::new("Hub/Obsolete.dll").expect("valid"),
            expected: Digest::of(b"old"),
        }],
        files: listed,
        new_components: vec!["License Manager".to_string()],
        settings: Vec::new(),
        plugins: Vec::new(),
        inventory,
    }
}

/// What kind of zip entry to write.
#[derive(Clone, Debug)]
pub enum Kind {
    File,
    Dir,
    Symlink(String),
}

/// One zip entry to write.
#[derive(Clone, Debug)]
pub struct Entry {
    pub name: String,
    pub data: Vec<u8>,
    pub method: CompressionMethod,
    pub kind: Kind,
}

impl Entry {
    pub fn file(name: &str, data: Vec<u8>) -> Entry {
        Entry {
            name: name.to_string(),
            data,
            method: CompressionMethod::Deflated,
            kind: Kind::File,
        }
    }

    pub fn stored(name: &str, data: Vec<u8>) -> Entry {
        Entry {
            method: CompressionMethod::Stored,
            ..Entry::file(name, data)
        }
    }

    pub fn dir(name: &str) -> Entry {
        Entry {
            kind: Kind::Dir,
            ..Entry::file(name, Vec::new())
        }
    }
}

/// The manifest as the JSON a package holds.
pub fn manifest_json(manifest: &Manifest) -> Vec<u8> {
    serde_json::to_vec_pretty(manifest).expect("a manifest serializes")
}

/// The entries of a valid package: the manifest first, then every file (binaries stored,
/// the rest deflated, as a real packager would choose).
pub fn entries_for(manifest: &Manifest, files: &[SampleFile]) -> Vec<Entry> {
    let mut entries = vec![Entry::file(MANIFEST_ENTRY, manifest_json(manifest))];
    for f in files {
        let name = format!("payload/{}", f.path);
        entries.push(if f.path.ends_with(".dll") {
            Entry::stored(&name, f.content.clone())
        } else {
            Entry::file(&name, f.content.clone())
        });
    }
    entries
}

/// Writes `entries` as a zip, in order.
pub fn write_zip(entries: &[Entry]) -> Vec<u8> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    for entry in entries {
        // "Made by Unix" on every host, so the Unix modes (a link's S_IFLNK) count everywhere.
        let options = SimpleFileOptions::default()
            .compression_method(entry.method)
            .unix_permissions(0o644)
            .system(zip::System::Unix);
        match &entry.kind {
            Kind::File => {
                zip.start_file(entry.name.as_str(), options)
                    .expect("start entry");
                zip.write_all(&entry.data).expect("write entry");
            }
            Kind::Dir => zip
                .add_directory(entry.name.as_str(), options.unix_permissions(0o755))
                .expect("add directory"),
            Kind::Symlink(target) => zip
                .add_symlink(entry.name.as_str(), target.as_str(), options)
                .expect("add symlink"),
        }
    }
    zip.finish().expect("finish zip").into_inner()
}

/// A valid package for `step` made of the sample files: its manifest, files and bytes.
pub fn valid_package(step: Step) -> (Manifest, Vec<SampleFile>, Vec<u8>) {
    let files = sample_files();
    let manifest = manifest_for(step, &files);
    let bytes = write_zip(&entries_for(&manifest, &files));
    (manifest, files, bytes)
}

/// Writes `bytes` as the package file in a fresh temp dir.
pub fn package_in_temp(bytes: &[u8]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join(STEP.to.package_file_name());
    fs::write(&path, bytes).expect("write package");
    (dir, path)
}

/// Every path under `dir`, sorted (to show that opening a package wrote nothing).
pub fn listing(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(current) = stack.pop() {
        for entry in fs::read_dir(&current).expect("read dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path.clone());
            }
            out.push(path);
        }
    }
    out.sort();
    out
}

// ---- Patching zip headers in place ----------------------------------------------------

const LOCAL_SIGNATURE: &[u8; 4] = b"PK\x03\x04";
const CENTRAL_SIGNATURE: &[u8; 4] = b"PK\x01\x02";

/// Where one entry's headers are: the offsets of its local and central header.
#[derive(Debug, Clone, Copy)]
pub struct Headers {
    pub local: usize,
    pub central: usize,
}

fn read_u16(bytes: &[u8], at: usize) -> usize {
    usize::from(u16::from_le_bytes([bytes[at], bytes[at + 1]]))
}

fn write_u16(bytes: &mut [u8], at: usize, value: u16) {
    bytes[at..at + 2].copy_from_slice(&value.to_le_bytes());
}

fn write_u32(bytes: &mut [u8], at: usize, value: u32) {
    bytes[at..at + 4].copy_from_slice(&value.to_le_bytes());
}

/// Finds the local and central header of the entry called `name` (test data only: assumes
/// no payload contains header signatures followed by that name).
pub fn headers(bytes: &[u8], name: &str) -> Headers {
    let find = |signature: &[u8; 4], name_len_at: usize, name_at: usize| {
        (0..bytes.len().saturating_sub(name_at))
            .find(|&p| {
                &bytes[p..p + 4] == signature
                    && read_u16(bytes, p + name_len_at) == name.len()
                    && bytes.get(p + name_at..p + name_at + name.len()) == Some(name.as_bytes())
            })
            .unwrap_or_else(|| panic!("no header for {name}"))
    };
    Headers {
        local: find(LOCAL_SIGNATURE, 26, 30),
        central: find(CENTRAL_SIGNATURE, 28, 46),
    }
}

/// The range of the entry's (compressed) data in the file.
pub fn data_range(bytes: &[u8], name: &str) -> Range<usize> {
    let h = headers(bytes, name);
    let start = h.local + 30 + read_u16(bytes, h.local + 26) + read_u16(bytes, h.local + 28);
    let compressed = u32::from_le_bytes(bytes[h.local + 18..h.local + 22].try_into().unwrap());
    start..start + compressed as usize
}

/// Sets bits in the general-purpose flags of both headers (bit 0: encrypted).
pub fn set_flags(bytes: &mut [u8], name: &str, bits: u16) {
    let h = headers(bytes, name);
    for at in [h.local + 6, h.central + 8] {
        let old = read_u16(bytes, at) as u16;
        write_u16(bytes, at, old | bits);
    }
}

/// Sets the compression method in both headers.
pub fn set_method(bytes: &mut [u8], name: &str, method: u16) {
    let h = headers(bytes, name);
    write_u16(bytes, h.local + 8, method);
    write_u16(bytes, h.central + 10, method);
}

/// Sets the declared uncompressed size in both headers.
pub fn set_uncompressed_size(bytes: &mut [u8], name: &str, size: u32) {
    let h = headers(bytes, name);
    write_u32(bytes, h.local + 22, size);
    write_u32(bytes, h.central + 24, size);
}

/// Sets the central directory's external attributes (unix mode in the upper half).
pub fn set_external_attributes(bytes: &mut [u8], name: &str, attributes: u32) {
    let h = headers(bytes, name);
    write_u32(bytes, h.central + 38, attributes);
}

/// Renames an entry in both headers (same length only: nothing moves).
pub fn rename(bytes: &mut [u8], from: &str, to: &str) {
    assert_eq!(from.len(), to.len(), "rename keeps the length");
    let h = headers(bytes, from);
    bytes[h.local + 30..h.local + 30 + to.len()].copy_from_slice(to.as_bytes());
    bytes[h.central + 46..h.central + 46 + to.len()].copy_from_slice(to.as_bytes());
}

/// Renames an entry in its local header only (the central directory keeps the old name).
pub fn rename_local_only(bytes: &mut [u8], from: &str, to: &str) {
    assert_eq!(from.len(), to.len(), "rename keeps the length");
    let h = headers(bytes, from);
    bytes[h.local + 30..h.local + 30 + to.len()].copy_from_slice(to.as_bytes());
}

const CRC_POLY: u32 = 0xEDB8_8320;

fn crc_step(c: u32) -> u32 {
    if c & 1 != 0 {
        (c >> 1) ^ CRC_POLY
    } else {
        c >> 1
    }
}

/// The inverse of `crc_step` (the polynomial's top bit tells which branch was taken).
fn crc_step_back(c: u32) -> u32 {
    if c & 0x8000_0000 != 0 {
        ((c ^ CRC_POLY) << 1) | 1
    } else {
        c << 1
    }
}

/// CRC-32 (IEEE), as zip headers carry it.
pub fn crc32(data: &[u8]) -> u32 {
    let mut register = !0u32;
    for &byte in data {
        register ^= u32::from(byte);
        for _ in 0..8 {
            register = crc_step(register);
        }
    }
    !register
}

/// Overwrites `data[at..at + 4]` so that the CRC-32 of `data` becomes `target` (CRC-32 is
/// linear, so any change can be hidden from it; blake3 is what detects tampering).
pub fn forge_crc(data: &mut [u8], at: usize, target: u32) {
    let mut before = !0u32;
    for &byte in &data[..at] {
        before ^= u32::from(byte);
        for _ in 0..8 {
            before = crc_step(before);
        }
    }
    let mut after = !target;
    for &byte in data[at + 4..].iter().rev() {
        for _ in 0..8 {
            after = crc_step_back(after);
        }
        after ^= u32::from(byte);
    }
    for _ in 0..32 {
        after = crc_step_back(after);
    }
    data[at..at + 4].copy_from_slice(&(after ^ before).to_le_bytes());
}

/// Flips one byte of a stored entry's data. With `hide_from_crc`, four bytes after it are
/// changed too so that the CRC-32 stays the same and only the manifest's blake3 can notice.
pub fn tamper_stored(bytes: &mut [u8], name: &str, offset: usize, hide_from_crc: bool) {
    let range = data_range(bytes, name);
    let data = &mut bytes[range];
    let crc = crc32(data);
    data[offset] ^= 0x55;
    if hide_from_crc {
        forge_crc(data, offset + 8, crc);
        assert_eq!(crc32(data), crc, "forged CRC");
    }
}
