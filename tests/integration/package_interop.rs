//! Packages made by other zip tools with the same content read the same: Info-ZIP `zip`
//! (deflated with its extra fields, and stored) and Python's `zipfile` (deflated, stored, and
//! streamed with data descriptors) give the same manifest and the same verified files as a
//! package made by hubup's own test helper.
//!
//! These tests need `zip` and `python3` (installed by `scripts/setup.sh`); without them they
//! fail and say so rather than pass silently. Unix only: the Windows build's tests run under
//! Wine, where those Linux tools cannot be started.
#![cfg(unix)]

use crate::support::StartRetrying;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::support::package::*;
use hubup::{MANIFEST_ENTRY, Manifest, Package};

/// Runs a tool, failing the test with a set-up hint if it is missing or fails.
fn run(command: &mut Command) -> Vec<u8> {
    let program = command.get_program().to_string_lossy().into_owned();
    let out = command
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .output_retrying()
        .unwrap_or_else(|e| {
            panic!("cannot run `{program}` ({e}): run scripts/setup.sh to install the test tools")
        });
    assert!(
        out.status.success(),
        "`{program}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Writes the package's content as a folder tree: `manifest.json` and `payload/...`.
fn write_tree(root: &Path, manifest: &Manifest, files: &[SampleFile]) {
    fs::write(root.join(MANIFEST_ENTRY), manifest_json(manifest)).unwrap();
    for file in files {
        let path = root.join("payload").join(&file.path);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, &file.content).unwrap();
    }
}

fn info_zip(tree: &Path, out: &Path, extra_args: &[&str]) {
    run(Command::new("zip")
        .current_dir(tree)
        .args(["-q", "-r"])
        .args(extra_args)
        .arg(out)
        .args([MANIFEST_ENTRY, "payload"]));
}

const PYTHON_ZIP: &str = r#"
import os, sys, zipfile
tree, out, mode = sys.argv[1], sys.argv[2], sys.argv[3]
method = zipfile.ZIP_STORED if mode == "stored" else zipfile.ZIP_DEFLATED
names = ["manifest.json"]
for folder, dirs, files in os.walk(os.path.join(tree, "payload")):
    dirs.sort()
    for name in sorted(files):
        full = os.path.join(folder, name)
        names.append(os.path.relpath(full, tree).replace(os.sep, "/"))
def write(target):
    with zipfile.ZipFile(target, "w", compression=method) as z:
        for name in names:
            z.write(os.path.join(tree, name), name)
if mode == "stream":
    # An unseekable target makes zipfile write data descriptors after each entry.
    write(sys.stdout.buffer)
else:
    write(out)
"#;

fn python_zip(tree: &Path, out: &Path, mode: &str) {
    let stdout = run(Command::new("python3")
        .arg("-c")
        .arg(PYTHON_ZIP)
        .arg(tree)
        .arg(out)
        .arg(mode));
    if mode == "stream" {
        fs::write(out, stdout).unwrap();
    }
}

/// Opens `path` as the package for `STEP` and returns its manifest and every file's content.
fn read_back(path: &Path) -> (Manifest, Vec<Vec<u8>>) {
    let package = Package::open(path, STEP).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let contents = package
        .manifest()
        .files
        .iter()
        .map(|file| {
            let mut out = Vec::new();
            package.copy_file_to(file, &mut out).unwrap();
            out
        })
        .collect();
    (package.manifest().clone(), contents)
}

#[test]
fn packages_from_info_zip_and_python_read_the_same() {
    let (manifest, files, ours) = valid_package(STEP);
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("tree");
    fs::create_dir(&tree).unwrap();
    write_tree(&tree, &manifest, &files);

    let ours_path = work.path().join("ours.bin");
    fs::write(&ours_path, &ours).unwrap();
    let mut made: Vec<PathBuf> = vec![ours_path];
    let mut add = |name: &str| {
        let path = work.path().join(name);
        made.push(path.clone());
        path
    };
    info_zip(&tree, &add("infozip-deflated.bin"), &[]);
    info_zip(&tree, &add("infozip-stored.bin"), &["-0", "-X"]);
    python_zip(&tree, &add("python-deflated.bin"), "deflated");
    python_zip(&tree, &add("python-stored.bin"), "stored");
    python_zip(&tree, &add("python-stream.bin"), "stream");

    let expected: Vec<Vec<u8>> = files.iter().map(|f| f.content.clone()).collect();
    for path in &made {
        let (read_manifest, contents) = read_back(path);
        assert_eq!(read_manifest, manifest, "{}", path.display());
        assert_eq!(contents, expected, "{}", path.display());
    }
    // The tools really made different archives (else this test would prove little).
    let sizes: std::collections::BTreeSet<u64> = made
        .iter()
        .map(|p| fs::metadata(p).unwrap().len())
        .collect();
    assert!(sizes.len() >= 4, "archives are too alike: {sizes:?}");
}

#[test]
fn a_tampered_info_zip_package_is_refused() {
    let (manifest, files, _) = valid_package(STEP);
    let work = tempfile::tempdir().unwrap();
    let tree = work.path().join("tree");
    fs::create_dir(&tree).unwrap();
    write_tree(&tree, &manifest, &files);
    // The manifest states different content than the tree holds: zip is faithful, hubup is not fooled.
    let changed = tree.join("payload/Hub/BluePrism.Hub.dll");
    let mut content = fs::read(&changed).unwrap();
    content[1234] ^= 1;
    fs::write(&changed, content).unwrap();
    let path = work.path().join("pkg.bin");
    info_zip(&tree, &path, &["-0"]);
    let err = Package::open(&path, STEP).unwrap_err();
    assert!(
        err.to_string().contains("payload/Hub/BluePrism.Hub.dll"),
        "{err}"
    );
    assert!(err.to_string().contains("wrong content"), "{err}");
}
