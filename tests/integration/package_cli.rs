//! `hubup package verify`, driven through the real binary: exit codes (0 sound, 2 refused),
//! what it prints, and that it changes nothing.

use crate::support::StartRetrying;
use std::process::Output;

use crate::support::package::*;
use hubup::{Digest, Step, Version};

fn hubup(args: &[&str]) -> Output {
    crate::support::hubup()
        .args(args)
        .output_retrying()
        .expect("run hubup")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_sound_package_verifies_with_exit_0() {
    let (manifest, _, bytes) = valid_package(STEP);
    let (dir, path) = package_in_temp(&bytes);
    let before = listing(dir.path());
    let out = hubup(&["package", "verify", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("ok:"), "{stdout}");
    assert!(stdout.contains("sound package for 4.1 -> 4.2"), "{stdout}");
    assert!(
        stdout.contains(&format!("files:          {}", manifest.files.len())),
        "{stdout}"
    );
    assert!(
        stdout.contains("new components: License Manager"),
        "{stdout}"
    );
    assert!(stdout.contains(&Digest::of(&bytes).to_hex()), "{stdout}");
    assert_eq!(listing(dir.path()), before, "verify wrote something");

    let out = hubup(&[
        "package",
        "verify",
        "--expect-step",
        "4.2",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = hubup(&[
        "package",
        "verify",
        "--expect-step",
        "4.1-4.2",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

#[test]
fn json_output_describes_the_package() {
    let (manifest, _, bytes) = valid_package(STEP);
    let (_dir, path) = package_in_temp(&bytes);
    let out = hubup(&["package", "verify", "--json", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(json["ok"], true);
    assert_eq!(json["step"]["from"], "4.1");
    assert_eq!(json["step"]["to"], "4.2");
    assert_eq!(json["files"], manifest.files.len());
    let total: u64 = manifest.files.iter().map(|f| f.size).sum();
    assert_eq!(json["bytes"], total);
    assert_eq!(json["digest"], Digest::of(&bytes).to_hex());
}

#[test]
fn a_package_for_another_step_exits_2_and_names_the_right_one() {
    let other = Step {
        from: Version::V4_3,
        to: Version::V4_4,
    };
    let (_, _, bytes) = valid_package(other);
    let (_dir, path) = package_in_temp(&bytes);
    let out = hubup(&[
        "package",
        "verify",
        "--expect-step",
        "4.2",
        path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("package for 4.3 -> 4.4"), "{stderr}");
    assert!(
        stderr.contains("use BluePrismHubAndInteractUpdate4.2.bin"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn a_tampered_package_exits_2_naming_the_entry() {
    let (_, _, mut bytes) = valid_package(STEP);
    tamper_stored(&mut bytes, "payload/Hub/BluePrism.Hub.dll", 500, true);
    let (dir, path) = package_in_temp(&bytes);
    let before = listing(dir.path());
    let out = hubup(&["package", "verify", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.starts_with("hubup: "), "{stderr}");
    assert!(stderr.contains("payload/Hub/BluePrism.Hub.dll"), "{stderr}");
    assert!(stderr.contains("wrong content"), "{stderr}");
    assert!(stderr.contains("download it again"), "{stderr}");
    assert_eq!(listing(dir.path()), before);

    let out = hubup(&["package", "verify", "--json", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(json["ok"], false);
    assert!(json["error"].as_str().unwrap().contains("wrong content"));
}

#[test]
fn a_hostile_entry_exits_2() {
    let files = sample_files();
    let manifest = manifest_for(STEP, &files);
    let mut entries = entries_for(&manifest, &files);
    entries.push(Entry::file("payload/../../evil.dll", b"MZ".to_vec()));
    let (_dir, path) = package_in_temp(&write_zip(&entries));
    let out = hubup(&["package", "verify", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("payload/../../evil.dll"), "{stderr}");
    assert!(stderr.contains("unsafe name"), "{stderr}");
}

#[test]
fn a_missing_file_or_bad_step_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("BluePrismHubAndInteractUpdate4.2.bin");
    let out = hubup(&["package", "verify", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("cannot open update package"));

    let out = hubup(&[
        "package",
        "verify",
        "--expect-step",
        "4.9",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("unknown version"),
        "{}",
        text(&out.stderr)
    );
}
