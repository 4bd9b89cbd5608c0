//! The fixture generator and its packages agree: for every version 4.n, the 4.0 install with
//! packages 4.1 ... 4.n applied file by file (renames, deletions, writes, settings merges) is
//! exactly the generator's expected install of 4.n; and everything is deterministic.

use std::fs;
use std::path::Path;

use hubup::{
    DEFAULT_IIS_LOCATION, Digest, FixtureSize, Package, Step, Version, apply_settings_changes,
    detect, digest_of_entries, expected_files, generate_install, generate_packages, tree_digest,
};

fn expected_digest(version: Version) -> Digest {
    let files = expected_files(version, FixtureSize::Small);
    digest_of_entries(files.iter().map(|(p, s, d)| (p, *s, *d)))
}

/// Applies a verified package the simple way: no journal, no backup.
fn apply_filewise(root: &Path, package: &Package) {
    let manifest = package.manifest();
    for rename in &manifest.renames {
        fs::rename(rename.from.under(root), rename.to.under(root)).unwrap();
    }
    for deletion in &manifest.deletions {
        let path = deletion.path.under(root);
        assert_eq!(
            Digest::of_file(&path).unwrap().0,
            deletion.expected,
            "{}",
            deletion.path
        );
        fs::remove_file(path).unwrap();
    }
    for file in &manifest.files {
        let path = file.path.under(root);
        if let Some(expected) = file.replaces {
            assert_eq!(Digest::of_file(&path).unwrap().0, expected, "{}", file.path);
        } else {
            assert!(!path.exists(), "{} is new", file.path);
        }
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        let mut out = fs::File::create(&path).unwrap();
        package.copy_file_to(file, &mut out).unwrap();
    }
    for edit in &manifest.settings {
        let path = edit.path.under(root);
        let merged = apply_settings_changes(&fs::read(&path).unwrap(), &edit.changes).unwrap();
        fs::write(path, merged).unwrap();
    }
}

#[test]
fn packages_applied_file_by_file_give_every_expected_tree() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Blue Prism");
    let apphost = dir.path().join("inetsrv/applicationHost.config");
    let packages = dir.path().join("packages");
    generate_install(
        Version::V4_0,
        FixtureSize::Small,
        &root,
        &apphost,
        DEFAULT_IIS_LOCATION,
    )
    .unwrap();
    generate_packages(FixtureSize::Small, &packages).unwrap();
    assert_eq!(tree_digest(&root).unwrap(), expected_digest(Version::V4_0));
    let mut at = Version::V4_0;
    while let Some(step) = Step::from_version(at) {
        let package = Package::open(&packages.join(step.to.package_file_name()), step).unwrap();
        apply_filewise(&root, &package);
        assert_eq!(detect(&root).unwrap().version, step.to);
        assert_eq!(
            tree_digest(&root).unwrap(),
            expected_digest(step.to),
            "after {step}"
        );
        at = step.to;
    }
}

#[test]
fn generation_is_byte_identical_and_pinned() {
    let one = tempfile::tempdir().unwrap();
    let two = tempfile::tempdir().unwrap();
    for dir in [&one, &two] {
        generate_install(
            Version::V4_0,
            FixtureSize::Small,
            &dir.path().join("Blue Prism"),
            &dir.path().join("applicationHost.config"),
            DEFAULT_IIS_LOCATION,
        )
        .unwrap();
        generate_packages(FixtureSize::Small, &dir.path().join("packages")).unwrap();
    }
    let tree = |d: &tempfile::TempDir| tree_digest(&d.path().join("Blue Prism")).unwrap();
    assert_eq!(tree(&one), tree(&two));
    for version in ["4.1", "4.2", "4.3", "4.4", "4.5"] {
        let name = format!("packages/BluePrismHubAndInteractUpdate{version}.bin");
        let a = Digest::of_file(&one.path().join(&name)).unwrap().0;
        let b = Digest::of_file(&two.path().join(&name)).unwrap().0;
        assert_eq!(a, b, "{name} is deterministic");
    }
    // Pinned: a change of these values is a change of the fixture, to be made on purpose
    // (update fixtures/README.md's note on what changed).
    assert_eq!(tree(&one).to_hex(), PINNED_4_0_TREE);
}

const PINNED_4_0_TREE: &str = "38929a5cef6c61119c37b700923cd5daed45624aa4827505e2cc03f3b0255884";

#[test]
fn every_version_is_detected_from_a_generated_install() {
    for version in Version::all() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("Blue Prism");
        generate_install(
            version,
            FixtureSize::Small,
            &root,
            &dir.path().join("a.config"),
            DEFAULT_IIS_LOCATION,
        )
        .unwrap();
        let found = detect(&root).unwrap();
        assert_eq!(found.version, version);
        assert!(found.components.len() >= 12, "{:?}", found.components);
        assert_eq!(tree_digest(&root).unwrap(), expected_digest(version));
    }
}
