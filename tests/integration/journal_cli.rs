//! The `hubup journal` commands, driven through the real binary: exit codes, messages, the show
//! lines, the export schema, `--config` resolution and the busy message.

use crate::support::StartRetrying;
use std::path::Path;
use std::process::Output;

use crate::support;
use crate::support::journal::{HEADER_LEN, record, tamper, write_sample_journal};
use hubup::{Journal, RunId};
use redb::ReadableDatabase;

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn hubup(args: &[&str]) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = crate::support::hubup()
        .args(args)
        .output_retrying()
        .unwrap();
    Run {
        code: status.code().expect("hubup was killed by a signal"),
        stdout: String::from_utf8(stdout).unwrap(),
        stderr: String::from_utf8(stderr).unwrap(),
    }
}

fn text(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn is_hex(text: &str, len: usize) -> bool {
    text.len() == len
        && text
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

#[test]
fn verify_prints_one_summary_line_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("journal.redb");
    let entries = write_sample_journal(&file, 1);
    let head = Journal::open(&file).unwrap().head().unwrap();

    let run = hubup(&["journal", "verify", "--journal", text(&file)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.lines().count(), 1, "{}", run.stdout);
    let line = run.stdout.trim_end();
    assert!(line.contains(&format!("{entries} entries")), "{line}");
    assert!(line.contains(", 1 run, "), "{line}");
    assert!(
        line.ends_with(&format!("head {} {}", head.seq, head.hash)),
        "{line}"
    );
    assert!(
        !dir.path().join("journal.redb.pid").exists(),
        "pid file left behind"
    );
}

#[test]
fn verify_of_a_tampered_journal_exits_5_naming_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("journal.redb");
    write_sample_journal(&file, 1);
    tamper(&file, |table| {
        let mut bytes = record(table, 12);
        let last = bytes.len() - 1;
        bytes[last] ^= 0x40;
        table.insert(12, bytes.as_slice()).unwrap();
    });
    let run = hubup(&["journal", "verify", "--journal", text(&file)]);
    assert_eq!(run.code, 5, "{}", run.stderr);
    assert!(run.stdout.is_empty());
    assert!(
        run.stderr.contains("payload changed at entry 12"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains(text(&file)), "{}", run.stderr);

    // show and export refuse it too, with the same diagnosis.
    for args in [&["show"][..], &["export", "--json"][..]] {
        let mut full = vec!["journal"];
        full.extend_from_slice(args);
        full.extend(["--journal", text(&file)]);
        let run = hubup(&full);
        assert_eq!(run.code, 5, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains("entry 12"), "{}", run.stderr);
    }
}

#[test]
fn verify_reports_a_removed_entry_and_a_cut_off_end() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("journal.redb");
    let entries = write_sample_journal(&file, 1);
    let cut = dir.path().join("cut.redb");
    std::fs::copy(&file, &cut).unwrap();

    tamper(&file, |table| {
        table.remove(30).unwrap();
    });
    let run = hubup(&["journal", "verify", "--journal", text(&file)]);
    assert_eq!(run.code, 5);
    assert!(
        run.stderr.contains("entry missing at entry 30"),
        "{}",
        run.stderr
    );

    tamper(&cut, |table| {
        table.remove(entries).unwrap();
    });
    let run = hubup(&["journal", "verify", "--journal", text(&cut)]);
    assert_eq!(run.code, 5);
    assert!(
        run.stderr
            .contains(&format!("head mismatch at entry {entries}")),
        "{}",
        run.stderr
    );
}

#[test]
fn missing_and_foreign_files_and_bad_flags_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.redb");
    let run = hubup(&["journal", "verify", "--journal", text(&missing)]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("no journal at"), "{}", run.stderr);
    assert!(!missing.exists(), "verify created the journal");

    let foreign = dir.path().join("foreign.redb");
    std::fs::write(
        &foreign,
        b"these are not the bytes of a database".repeat(200),
    )
    .unwrap();
    let run = hubup(&["journal", "show", "--journal", text(&foreign)]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("is not a hubup journal"),
        "{}",
        run.stderr
    );

    let run = hubup(&["journal", "show", "--journal", "a", "--config", "b"]);
    assert_eq!(run.code, 2, "conflicting flags");
    let run = hubup(&["journal", "export", "--journal", text(&missing)]);
    assert_eq!(run.code, 2, "export without a format");
    let run = hubup(&["journal", "show", "--tail", "many"]);
    assert_eq!(run.code, 2);
}

#[test]
fn show_prints_one_line_per_entry_with_the_key_facts() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("journal.redb");
    let entries = write_sample_journal(&file, 1);
    let run = hubup(&["journal", "show", "--journal", text(&file)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len() as u64, entries);
    let short_run = RunId([1; 16]).short();
    assert!(
        lines[0]
            .trim_start()
            .starts_with("1  2026-11-29T19:25:05.250Z  "),
        "{}",
        lines[0]
    );
    assert!(lines.iter().all(|l| l.contains(&short_run)));
    assert!(
        lines[0].contains("run_started") && lines[0].contains("4.0 -> 4.3"),
        "{}",
        lines[0]
    );
    let find = |needle: &str| {
        lines
            .iter()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line contains {needle:?}:\n{}", run.stdout))
    };
    let intent = find("op_intent");
    assert!(
        intent.contains("4.0 -> 4.1  op 0: back up 2 file(s) and applicationHost.config"),
        "{intent}"
    );
    let write = find("op 1: replace Hub/BluePrism.Hub.dll");
    assert!(write.contains("op_intent"), "{write}");
    let done = find("-> skipped: --keep-local-changes");
    assert!(done.contains("op_done"), "{done}");
    assert!(find("op_failed").contains("error 18456"));
    assert!(find("step_rolled_back").contains("restored state verified"));
    assert!(find("run_finished").contains("completed at 4.3"));
    assert!(find("GRANT EXECUTE to").contains("op_"));
}

#[test]
fn show_and_export_filter_by_run_prefix_and_tail() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("journal.redb");
    let entries = write_sample_journal(&file, 200);
    let per_run = entries / 2;
    let second = RunId([2; 16]);

    let run = hubup(&["journal", "show", "--journal", text(&file), "--tail", "3"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let seqs: Vec<u64> = run
        .stdout
        .lines()
        .map(|l| l.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(seqs, [entries - 2, entries - 1, entries]);

    let prefix = &second.to_hex()[..6];
    let run = hubup(&[
        "journal",
        "export",
        "--json",
        "--journal",
        text(&file),
        "--run",
        prefix,
    ]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.stdout.lines().count() as u64, per_run);
    for line in run.stdout.lines() {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(value["run"], second.to_hex());
    }

    let run = hubup(&[
        "journal",
        "show",
        "--journal",
        text(&file),
        "--run",
        prefix,
        "--tail",
        "1",
    ]);
    assert_eq!(run.stdout.lines().count(), 1);
    assert!(run.stdout.contains("run_finished"), "{}", run.stdout);

    let run = hubup(&["journal", "show", "--journal", text(&file), "--run", "0303"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains(&RunId([1; 16]).to_hex()),
        "lists the runs: {}",
        run.stderr
    );
    let run = hubup(&["journal", "show", "--journal", text(&file), "--run", "0"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("matches 2 runs"), "{}", run.stderr);
    let run = hubup(&["journal", "show", "--journal", text(&file), "--run", "xyz"]);
    assert_eq!(run.code, 2);
}

#[test]
fn export_writes_one_documented_json_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("journal.redb");
    let entries = write_sample_journal(&file, 1);
    let run = hubup(&["journal", "export", "--json", "--journal", text(&file)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let objects: Vec<serde_json::Value> = run
        .stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(objects.len() as u64, entries);
    let mut prev = "0".repeat(64);
    let mut kinds = std::collections::BTreeSet::new();
    for (i, object) in objects.iter().enumerate() {
        let keys: Vec<&str> = object
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "format",
                "hash",
                "machine",
                "payload",
                "prev",
                "run",
                "seq",
                "time",
                "timestamp_ms"
            ]
        );
        assert_eq!(object["seq"], i as u64 + 1);
        assert_eq!(object["format"], 1);
        assert_eq!(object["machine"], "HUB01");
        assert!(is_hex(object["run"].as_str().unwrap(), 32));
        assert!(is_hex(object["hash"].as_str().unwrap(), 64));
        assert_eq!(object["prev"], prev.as_str(), "chain at {}", i + 1);
        assert!(object["time"].as_str().unwrap().ends_with('Z'));
        assert!(object["timestamp_ms"].is_u64());
        prev = object["hash"].as_str().unwrap().to_string();
        kinds.insert(object["payload"]["kind"].as_str().unwrap().to_string());
    }
    assert_eq!(kinds.len(), 13, "every payload kind appears: {kinds:?}");
    let planned = objects
        .iter()
        .find(|o| o["payload"]["kind"] == "step_planned")
        .unwrap();
    assert_eq!(planned["payload"]["step"]["from"], "4.0");
    assert!(is_hex(planned["payload"]["package"].as_str().unwrap(), 64));
    assert_eq!(
        planned["payload"]["ops"][1]["WriteFile"]["path"],
        "Hub/BluePrism.Hub.dll"
    );
    let started = &objects[0]["payload"];
    assert_eq!(started["kind"], "run_started");
    assert_eq!(
        started["config"][1],
        serde_json::json!(["sql.server", "SQL01"])
    );
}

#[test]
fn config_file_names_the_journal_relative_to_its_folder() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("state")).unwrap();
    let file = dir.path().join("state").join("journal.redb");
    let entries = write_sample_journal(&file, 1);
    let config = dir.path().join("hubup.toml");
    std::fs::write(
        &config,
        "[sql]\nserver = \"SQL01\"\n\n[journal]\npath = \"state/journal.redb\"\n",
    )
    .unwrap();
    // Run from another folder: the path must not depend on the working directory.
    let elsewhere = tempfile::tempdir().unwrap();
    let output = crate::support::hubup()
        .args(["journal", "verify", "--config", text(&config)])
        .current_dir(elsewhere.path())
        .output_retrying()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains(&format!("{entries} entries")), "{stdout}");
    assert!(
        stdout.contains(text(&file)),
        "names the resolved file: {stdout}"
    );

    std::fs::write(&config, "[journal]\npath = \"missing/journal.redb\"\n").unwrap();
    let run = hubup(&["journal", "verify", "--config", text(&config)]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains(text(&dir.path().join("missing").join("journal.redb"))),
        "{}",
        run.stderr
    );

    let run = hubup(&[
        "journal",
        "verify",
        "--config",
        text(&dir.path().join("nope.toml")),
    ]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("cannot read config file"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_second_hubup_is_told_a_run_is_in_progress_with_the_holders_pid() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("journal.redb");
    write_sample_journal(&file, 1);
    let held = Journal::open(&file).unwrap();
    for args in [&["verify"][..], &["show"][..], &["export", "--json"][..]] {
        let mut full = vec!["journal"];
        full.extend_from_slice(args);
        full.extend(["--journal", text(&file)]);
        let run = hubup(&full);
        assert_eq!(run.code, 6, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("is in use by another hubup"),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr.contains(&format!("pid {}", std::process::id())),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr.contains("a run is in progress"),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains(text(&file)), "{}", run.stderr);
    }
    drop(held);
    let run = hubup(&["journal", "verify", "--journal", text(&file)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
}

#[test]
fn the_header_length_matches_the_documented_layout() {
    // Guards the constant the tamper tests rely on against the real file.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("journal.redb");
    write_sample_journal(&file, 1);
    let head = Journal::open(&file).unwrap().head().unwrap();
    let db = redb::Database::open(&file).unwrap();
    let txn = db.begin_read().unwrap();
    let table = txn.open_table(support::journal::ENTRIES).unwrap();
    let bytes = table.get(head.seq).unwrap().unwrap().value().to_vec();
    assert_eq!(&bytes[0..2], &1u16.to_le_bytes());
    assert_eq!(&bytes[34..HEADER_LEN], head.hash.as_bytes());
}

/// A journal that fails verification gets one answer from every command that reads it: exit
/// 5 and the journal's own advice (keep a copy, do not resume or roll back from it), never
/// "run `hubup resume`".
#[test]
fn a_tampered_journal_gets_exit_5_and_one_advice_from_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = dir.path().join("sandbox");
    let run = hubup(&["demo", "--setup-only", "--dir", text(&sandbox)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let config = sandbox.join("hubup.toml");
    // An unfinished run: the process dies after its third op.
    let crashed = crate::support::hubup()
        .args(["upgrade", "--to", "4.5", "--config", text(&config)])
        .env("HUBUP_TEST_FAULTS", "crash-after=3")
        .output_retrying()
        .unwrap();
    assert_ne!(crashed.status.code(), Some(0));
    let journal = sandbox.join("journal").join("hubup.redb");
    tamper(&journal, |table| {
        let mut bytes = record(table, 2);
        let last = bytes.len() - 1;
        bytes[last] ^= 0x40;
        table.insert(2, bytes.as_slice()).unwrap();
    });

    let mut first_lines = Vec::new();
    for args in [
        &["resume"][..],
        &["rollback"][..],
        &["upgrade", "--to", "4.5"][..],
        &["journal", "verify"][..],
        &["journal", "show"][..],
    ] {
        let mut full = args.to_vec();
        full.extend(["--config", text(&config)]);
        let run = hubup(&full);
        assert_eq!(run.code, 5, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("do not resume or roll back from it"),
            "{args:?}: {}",
            run.stderr
        );
        assert!(
            !run.stderr.contains("run `hubup resume`"),
            "{args:?} contradicts itself: {}",
            run.stderr
        );
        first_lines.push(run.stderr.lines().next().unwrap_or_default().to_string());
    }
    first_lines.dedup();
    assert_eq!(first_lines.len(), 1, "one message: {first_lines:#?}");
}
