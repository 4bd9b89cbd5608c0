//! Issue 15: `hubup vbo` takes the Interact API VBO out of the Interact API Service release
//! zip: a release holding only "Utility - Interact API", byte for byte, so the client's import
//! shows no other component; a zip without the release or the object, a release that is no
//! release, and hostile zips (as for update packages) are refused and nothing is written.

use std::path::Path;

use crate::support::package::{Entry, write_zip};
use crate::support::{Run, StartRetrying, hubup};

/// A release as the vendor's client exports one: a process, the VBO and another object.
fn release(vbo_name: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<bpr:release xmlns:bpr="http://www.blueprism.co.uk/product/release">
  <bpr:name>Interact API Release</bpr:name>
  <bpr:release-notes>VBO for Interact 4.5</bpr:release-notes>
  <bpr:created>2024-05-01 10:00:00Z</bpr:created>
  <bpr:package-id>12</bpr:package-id>
  <bpr:package-name>Interact API</bpr:package-name>
  <bpr:user-created-by>admin</bpr:user-created-by>
  <bpr:contents count="3">
    <process id="7d0c1b8e" name="Interact - Submit Form Example" xmlns="http://www.blueprism.co.uk/product/process">
      <process name="Interact - Submit Form Example" version="1.0" bpversion="7.1.2"><stage stageid="s1" name="Start" type="Start" /></process>
    </process>
    <object id="9a4e55f2" name="{vbo_name}" xmlns="http://www.blueprism.co.uk/product/process">
      <process name="{vbo_name}" version="1.0" bpversion="7.1.2" type="object" narrative="Calls the Interact API &amp; its forms"><stage stageid="s2" name="Start" type="Start" /></process>
    </object>
    <object id="51b0e7aa" name="Utility - JSON" xmlns="http://www.blueprism.co.uk/product/process">
      <process name="Utility - JSON" version="1.0" type="object" />
    </object>
  </bpr:contents>
</bpr:release>
"#
    )
}

const ENTRY: &str = "Interact API Service 4.5/Interact API Release.bprelease";

fn zip_at(dir: &Path, entries: &[Entry]) -> std::path::PathBuf {
    let path = dir.join("InteractAPIService4.5.zip");
    std::fs::write(&path, write_zip(entries)).unwrap();
    path
}

fn vbo(zip: &Path, extra: &[&str]) -> Run {
    let mut command = hubup();
    command.arg("vbo").arg("--release-zip").arg(zip).args(extra);
    Run::from_output(command.output_retrying().expect("run hubup vbo"))
}

#[test]
fn only_the_interact_api_object_is_written_and_the_result_is_a_release_of_one() {
    let dir = tempfile::tempdir().unwrap();
    let zip = zip_at(
        dir.path(),
        &[
            Entry::dir("Interact API Service 4.5/"),
            Entry::file(ENTRY, release("Utility - Interact API").into_bytes()),
            Entry::file(
                "Interact API Service 4.5/BluePrism.InteractApi.dll",
                vec![7; 4096],
            ),
        ],
    );
    let run = vbo(&zip, &[]).expect(0);
    let out = dir.path().join("Utility - Interact API.bprelease");
    assert!(
        run.stdout.contains("only \"Utility - Interact API\""),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(
            "left out: process \"Interact - Submit Form Example\", object \"Utility - JSON\""
        ),
        "{}",
        run.stdout
    );
    let written = std::fs::read_to_string(&out).unwrap();
    assert!(written.contains("<bpr:contents count=\"1\">"), "{written}");
    assert!(
        written.contains(r#"narrative="Calls the Interact API &amp; its forms""#),
        "the object byte for byte: {written}"
    );
    assert!(written.contains("<bpr:package-name>Interact API</bpr:package-name>"));
    assert!(!written.contains("Utility - JSON"), "{written}");
    assert!(!written.contains("Submit Form Example"), "{written}");
    // What it wrote is itself a release holding exactly the VBO.
    let again = hubup::single_object_release(&written, hubup::INTERACT_VBO).unwrap();
    assert_eq!(again.components.len(), 1);

    // An existing file stays unless --force.
    let refused = vbo(&zip, &[]).expect(2);
    assert!(refused.stderr.contains("--force"), "{}", refused.stderr);
    let other = dir.path().join("vbo.bprelease");
    let json = vbo(&zip, &["--out", other.to_str().unwrap(), "--json"])
        .expect(0)
        .json();
    assert_eq!(json["left_out"].as_array().unwrap().len(), 2, "{json}");
    assert_eq!(std::fs::read_to_string(&other).unwrap(), written);
}

#[test]
fn a_zip_without_the_release_or_the_object_or_a_hostile_zip_is_refused_writing_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = vec![0u8; 64 * 1024 * 1024];
    let cases: Vec<(Vec<Entry>, &str)> = vec![
        (
            vec![Entry::file("readme.txt", b"no release here".to_vec())],
            "holds no Interact API Release.bprelease (it holds readme.txt)",
        ),
        (
            vec![Entry::file(
                ENTRY,
                release("Utility - Other API").into_bytes(),
            )],
            "no business object \"Utility - Interact API\"",
        ),
        (
            vec![Entry::file(
                ENTRY,
                br#"<bpr:release xmlns:bpr="http://www.blueprism.co.uk/product/release"><bpr:contents count="1"><object name="x"></bpr:contents></bpr:release>"#.to_vec(),
            )],
            "not well-formed XML",
        ),
        (
            vec![Entry::file(
                "../Interact API Release.bprelease",
                release("Utility - Interact API").into_bytes(),
            )],
            "../Interact API Release.bprelease",
        ),
        (vec![Entry::file(ENTRY, bomb)], "zip bomb"),
    ];
    for (entries, words) in cases {
        let zip = zip_at(dir.path(), &entries);
        let run = vbo(&zip, &[]).expect(2);
        assert!(run.stderr.contains(words), "{words}: {}", run.stderr);
        assert!(run.stderr.contains("nothing was written"), "{}", run.stderr);
        assert!(!dir.path().join("Utility - Interact API.bprelease").exists());
    }
    let not_zip = dir.path().join("notes.zip");
    std::fs::write(&not_zip, b"this is not a zip archive").unwrap();
    let run = vbo(&not_zip, &[]).expect(2);
    assert!(
        run.stderr
            .contains("not a usable Interact API Service release zip"),
        "{}",
        run.stderr
    );
}
