//! Reading update packages: a valid package round-trips; every kind of hostile or damaged
//! package is refused with the right error, a message that names the problem, and nothing
//! written; files are re-checked when they are copied out.

use crate::support::package::*;
use hubup::{
    Digest, EntryProblem, MANIFEST_ENTRY, Manifest, Package, PackageError, RelPath, Step, Version,
};

/// Opens `bytes` as a package for [`STEP`], expecting a refusal; checks that the message
/// names the package file and that nothing was written next to it.
fn refuse(bytes: &[u8]) -> PackageError {
    refuse_for(bytes, STEP)
}

fn refuse_for(bytes: &[u8], step: Step) -> PackageError {
    let (dir, path) = package_in_temp(bytes);
    let before = listing(dir.path());
    let err = Package::open(&path, step).expect_err("the package must be refused");
    assert_eq!(listing(dir.path()), before, "opening wrote something");
    assert_eq!(err.package(), path);
    let message = err.to_string();
    assert!(
        message.contains(&path.display().to_string()),
        "message does not name the package: {message}"
    );
    err
}

/// The entry and problem of an `Entry` error (fails the test for any other error).
fn entry_problem(err: PackageError) -> (String, EntryProblem) {
    match err {
        PackageError::Entry { entry, problem, .. } => (entry, *problem),
        other => panic!("expected an entry problem, got: {other}"),
    }
}

/// The sample package with `extra` entries appended.
fn with_extra_entries(extra: Vec<Entry>) -> Vec<u8> {
    let files = sample_files();
    let manifest = manifest_for(STEP, &files);
    let mut entries = entries_for(&manifest, &files);
    entries.extend(extra);
    write_zip(&entries)
}

/// The sample package written from an edited manifest (payload unchanged).
fn with_manifest(edit: impl FnOnce(&mut Manifest)) -> Vec<u8> {
    let files = sample_files();
    let mut manifest = manifest_for(STEP, &files);
    edit(&mut manifest);
    write_zip(&entries_for(&manifest, &files))
}

#[test]
fn valid_package_round_trips() {
    let (manifest, files, bytes) = valid_package(STEP);
    let (_dir, path) = package_in_temp(&bytes);
    let package = Package::open(&path, STEP).unwrap();
    assert_eq!(package.manifest(), &manifest);
    assert_eq!(package.digest(), Digest::of(&bytes));
    assert_eq!(package.path(), path);
    for (listed, sample) in package.manifest().files.iter().zip(&files) {
        let mut out = Vec::new();
        let written = package.copy_file_to(listed, &mut out).unwrap();
        assert_eq!(written, sample.content.len() as u64);
        assert_eq!(out, sample.content, "{}", sample.path);
    }
    // Reading again, in reverse order, gives the same content.
    for (listed, sample) in package.manifest().files.iter().zip(&files).rev() {
        let mut out = Vec::new();
        package.copy_file_to(listed, &mut out).unwrap();
        assert_eq!(out, sample.content);
    }
}

#[test]
fn folder_entries_under_payload_are_tolerated() {
    let files = sample_files();
    let manifest = manifest_for(STEP, &files);
    let mut entries = vec![Entry::dir("payload/"), Entry::dir("payload/Hub/")];
    entries.extend(entries_for(&manifest, &files));
    entries.push(Entry::dir("payload/Empty Folder/"));
    let (_dir, path) = package_in_temp(&write_zip(&entries));
    let package = Package::open(&path, STEP).unwrap();
    assert_eq!(package.manifest(), &manifest);
}

#[test]
fn package_for_another_step_names_the_right_one() {
    let other = Step {
        from: Version::V4_3,
        to: Version::V4_4,
    };
    let (_, _, bytes) = valid_package(other);
    let err = refuse_for(&bytes, STEP);
    assert!(
        matches!(err, PackageError::WrongStep { found, expected, .. } if found == other && expected == STEP),
        "{err}"
    );
    let message = err.to_string();
    assert!(message.contains("package for 4.3 -> 4.4"), "{message}");
    assert!(message.contains("not for step 4.1 -> 4.2"), "{message}");
    assert!(
        message.contains("use BluePrismHubAndInteractUpdate4.2.bin"),
        "{message}"
    );
    // The same package opens for its own step, and for inspection.
    let (_dir, path) = package_in_temp(&bytes);
    Package::open(&path, other).unwrap();
    let any = Package::open_any_step(&path).unwrap();
    assert_eq!(
        (any.manifest().from, any.manifest().to),
        (other.from, other.to)
    );
}

#[test]
fn parent_traversal_entries_are_refused() {
    for name in [
        "payload/../evil.dll",
        "payload/Hub/../../evil.dll",
        "../evil.dll",
    ] {
        let bytes = with_extra_entries(vec![Entry::file(name, b"x".to_vec())]);
        let (entry, problem) = entry_problem(refuse(&bytes));
        assert_eq!(entry, name);
        assert!(
            matches!(problem, EntryProblem::UnsafeName { .. }),
            "{name}: {problem}"
        );
        assert!(problem.to_string().contains("traversal"), "{problem}");
    }
}

#[test]
fn absolute_entries_are_refused() {
    for name in ["/etc/passwd", "/payload/Hub/a.dll"] {
        let bytes = with_extra_entries(vec![Entry::file(name, b"x".to_vec())]);
        let err = refuse(&bytes);
        assert!(err.to_string().contains("absolute path"), "{err}");
        let (entry, problem) = entry_problem(err);
        assert_eq!(entry, name);
        assert!(matches!(problem, EntryProblem::UnsafeName { .. }));
    }
}

#[test]
fn drive_letter_entries_are_refused() {
    for name in [
        "C:/Windows/evil.dll",
        "payload/C:/evil.dll",
        "payload/Hub/a.dll:stream",
    ] {
        let bytes = with_extra_entries(vec![Entry::file(name, b"x".to_vec())]);
        let err = refuse(&bytes);
        assert!(err.to_string().contains("drive letter"), "{err}");
        assert!(matches!(
            entry_problem(err).1,
            EntryProblem::UnsafeName { .. }
        ));
    }
}

#[test]
fn backslash_traversal_entries_are_refused() {
    for name in ["payload\\..\\..\\evil.dll", "payload/Hub\\..\\..\\evil.dll"] {
        let bytes = with_extra_entries(vec![Entry::file(name, b"x".to_vec())]);
        let err = refuse(&bytes);
        assert!(err.to_string().contains("backslash"), "{err}");
        assert!(matches!(
            entry_problem(err).1,
            EntryProblem::UnsafeName { .. }
        ));
    }
}

#[test]
fn symlink_entries_are_refused() {
    let bytes = with_extra_entries(vec![Entry {
        kind: Kind::Symlink("../../../Windows/System32/evil.dll".to_string()),
        ..Entry::file("payload/Hub/link.dll", Vec::new())
    }]);
    let err = refuse(&bytes);
    assert!(err.to_string().contains("symbolic link"), "{err}");
    let (entry, problem) = entry_problem(err);
    assert_eq!(entry, "payload/Hub/link.dll");
    assert_eq!(problem, EntryProblem::Symlink);

    // A listed file whose zip entry is marked as a link (S_IFLNK) is refused the same way.
    let (_, _, mut bytes) = valid_package(STEP);
    let name = "payload/Hub/appsettings.Production.json";
    set_external_attributes(&mut bytes, name, (0o120_777) << 16);
    assert_eq!(entry_problem(refuse(&bytes)).1, EntryProblem::Symlink);
}

#[test]
fn duplicate_entry_names_are_refused() {
    // A well-behaved writer refuses duplicates, so write two names and make them equal.
    let mut bytes = with_extra_entries(vec![Entry::file(
        "payload/Hub/BluePrism.Hub.dlX",
        b"other".to_vec(),
    )]);
    rename(
        &mut bytes,
        "payload/Hub/BluePrism.Hub.dlX",
        "payload/Hub/BluePrism.Hub.dll",
    );
    let err = refuse(&bytes);
    assert!(
        matches!(err, PackageError::DuplicateEntries { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("more than once"), "{err}");
}

#[test]
fn names_differing_only_in_case_are_refused() {
    let bytes = with_extra_entries(vec![Entry::file(
        "payload/HUB/bluePrism.hub.DLL",
        b"other".to_vec(),
    )]);
    let err = refuse(&bytes);
    assert!(err.to_string().contains("letter case"), "{err}");
    let (entry, problem) = entry_problem(err);
    assert_eq!(entry, "payload/HUB/bluePrism.hub.DLL");
    assert_eq!(
        problem,
        EntryProblem::CaseCollision {
            other: "payload/Hub/BluePrism.Hub.dll".to_string()
        }
    );
}

#[test]
fn declared_size_differing_from_manifest_is_refused() {
    let bytes = with_manifest(|m| {
        m.files[1].size += 1;
        m.inventory[1].size += 1;
    });
    let err = refuse(&bytes);
    assert!(err.to_string().contains("wrong size"), "{err}");
    let (entry, problem) = entry_problem(err);
    assert_eq!(entry, "payload/Hub/appsettings.Production.json");
    assert_eq!(
        problem,
        EntryProblem::SizeMismatch {
            expected: 3_001,
            found: 3_000,
            declared: true
        }
    );
}

#[test]
fn actual_size_differing_from_the_headers_is_refused() {
    let name = "payload/Hub/appsettings.Production.json";
    // Longer than declared: the headers and the manifest say 2,000 bytes, the data holds 3,000.
    let (_, files, _) = valid_package(STEP);
    let mut manifest = manifest_for(STEP, &files);
    manifest.files[1].size = 2_000;
    manifest.inventory[1].size = 2_000;
    let mut bytes = write_zip(&entries_for(&manifest, &files));
    set_uncompressed_size(&mut bytes, name, 2_000);
    let err = refuse(&bytes);
    let (entry, problem) = entry_problem(err);
    assert_eq!(entry, name);
    // The zip reader stops at the declared size itself; hubup's own bound is the fallback.
    assert!(
        match &problem {
            EntryProblem::Overrun { expected } => *expected == 2_000,
            EntryProblem::Corrupt { detail } => detail.contains("larger than its declared"),
            _ => false,
        },
        "{problem}"
    );

    // Shorter than declared: headers and manifest say 4,000 bytes, the data holds 3,000.
    manifest.files[1].size = 4_000;
    manifest.inventory[1].size = 4_000;
    let mut bytes = write_zip(&entries_for(&manifest, &files));
    set_uncompressed_size(&mut bytes, name, 4_000);
    let (entry, problem) = entry_problem(refuse(&bytes));
    assert_eq!(entry, name);
    assert!(
        matches!(
            problem,
            EntryProblem::SizeMismatch {
                expected: 4_000,
                found: 3_000,
                declared: false
            } | EntryProblem::Corrupt { .. }
        ),
        "{problem}"
    );
}

#[test]
fn encrypted_entries_are_refused() {
    let (_, _, mut bytes) = valid_package(STEP);
    set_flags(&mut bytes, "payload/Hub/BluePrism.Hub.dll", 1);
    let err = refuse(&bytes);
    assert!(err.to_string().contains("encrypted"), "{err}");
    let (entry, problem) = entry_problem(err);
    assert_eq!(entry, "payload/Hub/BluePrism.Hub.dll");
    assert_eq!(problem, EntryProblem::Encrypted);
}

#[test]
fn compression_methods_other_than_stored_and_deflate_are_refused() {
    for method in [
        12u16, /* bzip2 */
        14,    /* lzma */
        93,    /* zstd */
        99,    /* aes */
    ] {
        let (_, _, mut bytes) = valid_package(STEP);
        set_method(
            &mut bytes,
            "payload/Hub/appsettings.Production.json",
            method,
        );
        let err = refuse(&bytes);
        assert!(err.to_string().contains("compression method"), "{err}");
        assert!(
            matches!(entry_problem(err).1, EntryProblem::Compression { .. }),
            "method {method}"
        );
    }
}

#[test]
fn bomb_ratios_are_refused_before_decompressing() {
    // 8 MiB of zeros deflate to about 8 KiB: 1000:1.
    let mut files = sample_files();
    files.push(SampleFile {
        path: "Hub/zeros.bin".to_string(),
        content: vec![0; 8 * 1024 * 1024],
    });
    let manifest = manifest_for(STEP, &files);
    let mut entries = entries_for(&manifest, &files);
    for entry in &mut entries {
        entry.method = zip::CompressionMethod::Deflated;
    }
    let err = refuse(&write_zip(&entries));
    assert!(err.to_string().contains("zip bomb"), "{err}");
    let (entry, problem) = entry_problem(err);
    assert_eq!(entry, "payload/Hub/zeros.bin");
    assert!(
        matches!(problem, EntryProblem::Bomb { size, .. } if size == 8 * 1024 * 1024),
        "{problem}"
    );
}

#[test]
fn truncated_packages_are_refused() {
    let (_, _, bytes) = valid_package(STEP);
    for keep in [bytes.len() - 1, bytes.len() - 30, bytes.len() / 2, 10] {
        let err = refuse(&bytes[..keep]);
        assert!(
            matches!(err, PackageError::NotZip { .. }),
            "keeping {keep} bytes: {err}"
        );
        assert!(err.to_string().contains("download it again"), "{err}");
    }
}

#[test]
fn files_that_are_not_zips_are_refused() {
    for bytes in [&b""[..], b"MZ\x90\x00 this is an exe", &[0u8; 5000][..]] {
        let err = refuse(bytes);
        assert!(matches!(err, PackageError::NotZip { .. }), "{err}");
        assert!(err.to_string().contains("not a readable update package"));
    }
}

#[test]
fn data_before_the_archive_is_refused() {
    let (_, _, bytes) = valid_package(STEP);
    let mut prefixed = b"#!/bin/sh\necho self-extracting\n".to_vec();
    prefixed.extend_from_slice(&bytes);
    let err = refuse(&prefixed);
    assert!(matches!(err, PackageError::NotZip { .. }), "{err}");
    assert!(err.to_string().contains("before the archive"), "{err}");
}

#[test]
fn local_headers_that_disagree_with_the_directory_are_refused() {
    let (_, _, mut bytes) = valid_package(STEP);
    rename_local_only(
        &mut bytes,
        "payload/Hub/BluePrism.Hub.dll",
        "payload/Hub/BluePrism.Hub.exe",
    );
    let err = refuse(&bytes);
    assert!(matches!(err, PackageError::Inconsistent { .. }), "{err}");
}

#[test]
fn huge_manifests_are_refused_before_they_are_read() {
    let (_, _, mut bytes) = valid_package(STEP);
    set_uncompressed_size(&mut bytes, MANIFEST_ENTRY, 100 * 1024 * 1024);
    let err = refuse(&bytes);
    assert!(
        matches!(err, PackageError::ManifestTooLarge { size, .. } if size == 100 * 1024 * 1024),
        "{err}"
    );
    assert!(err.to_string().contains("more than the"), "{err}");
}

#[test]
fn malformed_manifests_are_refused() {
    let files = sample_files();
    let manifest = manifest_for(STEP, &files);
    let mut entries = entries_for(&manifest, &files);
    for (json, expect) in [
        (&b"{ this is not json"[..], "key must be a string"),
        (b"[]", "expected struct Manifest"),
        (
            br#"{"format":1,"from":"4.1","to":"4.2","files":[],"inventory":[],"x":1}"#,
            "unknown field",
        ),
        (
            br#"{"format":1,"from":"4.1","to":"4.7","files":[],"inventory":[]}"#,
            "unknown version",
        ),
        (b"\xff\xfe{}", "expected value"),
    ] {
        entries[0] = Entry::file(MANIFEST_ENTRY, json.to_vec());
        let err = refuse(&write_zip(&entries));
        assert!(matches!(err, PackageError::BadManifest { .. }), "{err}");
        assert!(err.to_string().contains(expect), "{err}");
    }
}

#[test]
fn unsafe_paths_in_the_manifest_are_refused() {
    let files = sample_files();
    let mut manifest = serde_json::to_value(manifest_for(STEP, &files)).unwrap();
    manifest["deletions"][0]["path"] = serde_json::json!("..\\..\\Windows\\win.ini");
    let mut entries = entries_for(&manifest_for(STEP, &files), &files);
    entries[0] = Entry::file(MANIFEST_ENTRY, serde_json::to_vec(&manifest).unwrap());
    let err = refuse(&write_zip(&entries));
    assert!(matches!(err, PackageError::BadManifest { .. }), "{err}");
    assert!(err.to_string().contains("unsafe path"), "{err}");
}

#[test]
fn unknown_manifest_formats_ask_for_another_hubup() {
    let bytes = with_manifest(|m| m.format = 7);
    let err = refuse(&bytes);
    assert!(
        matches!(
            err,
            PackageError::UnknownFormat {
                found: 7,
                supported: 1,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("hubup release"), "{err}");
}

#[test]
fn contradictory_manifests_are_refused() {
    let bytes = with_manifest(|m| {
        let mut twin = m.files[0].clone();
        twin.path = RelPath::new("hub/blueprism.hub.DLL").unwrap();
        m.files.push(twin);
    });
    let err = refuse(&bytes);
    assert!(
        matches!(err, PackageError::ManifestConflict { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("same file on Windows"), "{err}");
}

#[test]
fn missing_manifest_is_refused() {
    let (_, files, _) = valid_package(STEP);
    let manifest = manifest_for(STEP, &files);
    let entries = entries_for(&manifest, &files);
    let err = refuse(&write_zip(&entries[1..]));
    assert!(matches!(err, PackageError::MissingManifest { .. }), "{err}");
}

#[test]
fn payload_entries_the_manifest_does_not_list_are_refused() {
    let bytes = with_extra_entries(vec![Entry::file("payload/Hub/extra.dll", b"x".to_vec())]);
    let err = refuse(&bytes);
    assert!(
        err.to_string().contains("not listed in the manifest"),
        "{err}"
    );
    let (entry, problem) = entry_problem(err);
    assert_eq!(entry, "payload/Hub/extra.dll");
    assert_eq!(problem, EntryProblem::NotListed);
}

#[test]
fn entries_outside_manifest_and_payload_are_refused() {
    for name in ["readme.txt", "Payload/Hub/a.dll", "manifest.json.bak"] {
        let bytes = with_extra_entries(vec![Entry::file(name, b"x".to_vec())]);
        let (entry, problem) = entry_problem(refuse(&bytes));
        assert_eq!(entry, name);
        assert_eq!(problem, EntryProblem::Unexpected, "{name}");
    }
}

#[test]
fn listed_files_without_a_payload_entry_are_refused() {
    let files = sample_files();
    let manifest = manifest_for(STEP, &files);
    let mut entries = entries_for(&manifest, &files);
    entries.remove(3);
    let err = refuse(&write_zip(&entries));
    assert!(
        matches!(&err, PackageError::MissingPayload { path, .. } if path.as_str() == "License Manager/BluePrism.LicenseManager.dll"),
        "{err}"
    );
}

#[test]
fn one_tampered_payload_byte_is_detected() {
    let name = "payload/Hub/BluePrism.Hub.dll";
    // As a damaged download would be: the zip's own CRC notices.
    let (_, _, mut bytes) = valid_package(STEP);
    tamper_stored(&mut bytes, name, 70_000, false);
    let (entry, problem) = entry_problem(refuse(&bytes));
    assert_eq!(entry, name);
    assert!(matches!(problem, EntryProblem::Corrupt { .. }), "{problem}");

    // As a deliberate change would be, hidden from the CRC: the manifest's blake3 notices.
    let (manifest, _, mut bytes) = valid_package(STEP);
    tamper_stored(&mut bytes, name, 70_000, true);
    let err = refuse(&bytes);
    assert!(err.to_string().contains("wrong content"), "{err}");
    let (entry, problem) = entry_problem(err);
    assert_eq!(entry, name);
    assert!(
        matches!(problem, EntryProblem::DigestMismatch { expected, .. } if expected == manifest.files[0].digest),
        "{problem}"
    );
}

/// Unix only: on Windows the open package cannot be written at all (sharing violation), which
/// rules this case out there.
#[cfg(unix)]
#[test]
fn copying_rechecks_content_that_changed_after_verification() {
    let name = "payload/Hub/BluePrism.Hub.dll";
    let (manifest, files, mut bytes) = valid_package(STEP);
    let (_dir, path) = package_in_temp(&bytes);
    let package = Package::open(&path, STEP).unwrap();
    // Someone changes the package on disk after it was verified, hiding it from the CRC.
    tamper_stored(&mut bytes, name, 10, true);
    std::fs::write(&path, &bytes).unwrap();
    let mut out = Vec::new();
    let err = package
        .copy_file_to(&manifest.files[0], &mut out)
        .unwrap_err();
    let (entry, problem) = entry_problem(err);
    assert_eq!(entry, name);
    assert!(
        matches!(problem, EntryProblem::DigestMismatch { .. }),
        "{problem}"
    );
    // Other files are still served, and checked.
    let mut out = Vec::new();
    package.copy_file_to(&manifest.files[1], &mut out).unwrap();
    assert_eq!(out, files[1].content);
}

#[test]
fn copying_a_file_from_another_manifest_is_refused() {
    let (manifest, _, bytes) = valid_package(STEP);
    let (_dir, path) = package_in_temp(&bytes);
    let package = Package::open(&path, STEP).unwrap();
    let mut foreign = manifest.files[0].clone();
    foreign.digest = Digest::of(b"something else");
    let err = package.copy_file_to(&foreign, &mut Vec::new()).unwrap_err();
    assert!(matches!(err, PackageError::NotInPackage { .. }), "{err}");
    assert!(!err.is_bad_package());
}

#[test]
fn missing_package_file_is_an_open_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("BluePrismHubAndInteractUpdate4.2.bin");
    let err = Package::open(&path, STEP).unwrap_err();
    assert!(matches!(err, PackageError::Open { .. }), "{err}");
    assert!(
        err.to_string().contains("cannot open update package"),
        "{err}"
    );
    let err = Package::open(dir.path(), STEP).unwrap_err();
    assert!(matches!(err, PackageError::Open { .. }), "{err}");
}

#[test]
fn archives_with_too_many_directory_records_are_refused_before_parsing() {
    // 500,001 central-directory signatures: refused while hashing, before any is decoded.
    let bytes = b"PK\x01\x02".repeat(500_001);
    let err = refuse(&bytes);
    assert!(
        matches!(
            err,
            PackageError::TooManyEntries {
                found: 500_001,
                limit: 500_000,
                ..
            }
        ),
        "{err}"
    );
    // The same count is fine: the limit is not below it.
    let bytes = b"PK\x01\x02".repeat(500_000);
    assert!(matches!(refuse(&bytes), PackageError::NotZip { .. }));
}
