//! `hubup report` and `hubup audit diff` through the real binary: the receipt of an upgraded
//! sandbox names what an auditor needs (versions, machine, every step, file digests as the
//! disk has them, the journal head), escapes every value, leaves the journal's bytes as they
//! were (write-protected, even immutable), renders in a real browser when one is installed,
//! and two machines' receipts or exports compare as the machines differ.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::journal_golden::golden_copy;
use crate::journal_golden_variants::GOLDENS;
use crate::support::{Run, Scenario, StartRetrying, WriteProtected, hubup};

/// A 4.0 sandbox upgraded to `to` (playing the DBA at each database step).
fn upgraded(to: &str) -> Scenario {
    let scenario = Scenario::new();
    scenario.run_playing_dba(&["upgrade", "--to", to]).expect(0);
    scenario
}

fn journal_file(scenario: &Scenario) -> PathBuf {
    scenario.path().join("journal").join("hubup.redb")
}

fn digest_of(file: &Path) -> String {
    hubup::Digest::of(&std::fs::read(file).unwrap()).to_hex()
}

/// `hubup <args>` without a config (`audit diff` takes files only).
fn hubup_run(args: &[&str]) -> Run {
    Run::from_output(hubup().args(args).output_retrying().unwrap())
}

/// The journal's head as `journal verify` reports it: (seq, hash).
fn verified_head(scenario: &Scenario) -> (String, String) {
    let run = scenario.run(&["journal", "verify"]).expect(0);
    let words: Vec<&str> = run.stdout.split_whitespace().collect();
    let at = words.iter().position(|w| *w == "head").expect("a head");
    (words[at + 1].to_string(), words[at + 2].to_string())
}

/// The `machine.id` the run recorded, from the export (not from the receipt).
fn recorded_machine_id(scenario: &Scenario) -> String {
    let started = scenario
        .journal()
        .into_iter()
        .find(|e| e["payload"]["kind"] == "run_started")
        .expect("a run_started entry");
    started["payload"]["config"]
        .as_array()
        .unwrap()
        .iter()
        .find(|pair| pair[0] == "machine.id")
        .map(|pair| pair[1].as_str().unwrap().to_string())
        .expect("machine.id in the config view")
}

/// A file the last step wrote, and its digest as read from the disk.
fn a_written_file(scenario: &Scenario) -> (String, String) {
    let plan = scenario
        .journal()
        .into_iter()
        .rev()
        .find(|e| e["payload"]["kind"] == "step_planned")
        .expect("a step plan");
    let path = plan["payload"]["ops"]
        .as_array()
        .unwrap()
        .iter()
        .find_map(|op| op["WriteFile"]["path"].as_str().map(str::to_string))
        .expect("a write_file op in the last step");
    let mut file = scenario.root();
    file.extend(path.split('/'));
    (path, digest_of(&file))
}

/// Text as the receipt's HTML writes it.
fn html_text(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[test]
fn the_html_receipt_of_an_upgrade_names_versions_machine_steps_digests_and_head() {
    let scenario = upgraded("4.5");
    let page = scenario.path().join("receipt.html");
    scenario
        .run(&["report", "--html", page.to_str().unwrap()])
        .expect(0);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"), "{}", &html[..80]);
    for fact in [
        "From version",
        "4.0",
        "To version",
        "4.5",
        "completed at 4.5",
    ] {
        assert!(html.contains(fact), "{fact} missing");
    }
    assert!(html.contains(&recorded_machine_id(&scenario)));
    assert!(html.contains("DEMO-HUB-01"));
    for step in [
        "4.0 -> 4.1",
        "4.1 -> 4.2",
        "4.2 -> 4.3",
        "4.3 -> 4.4",
        "4.4 -> 4.5",
    ] {
        assert!(
            html.contains(&format!("Step {}", html_text(step))),
            "step {step} missing"
        );
    }
    let (path, digest) = a_written_file(&scenario);
    assert!(html.contains(&html_text(&path)), "{path} missing");
    assert!(html.contains(&digest), "{path}'s digest {digest} missing");
    let (seq, head) = verified_head(&scenario);
    assert!(html.contains(&format!("{seq} {head}")), "head {seq} {head}");
    assert!(html.contains("hubup journal verify --journal"));
    // Self-contained: nothing to fetch, nothing to run (URLs appear only as text).
    for outside in [
        "<script", "<link", "<img", "<iframe", "src=", "href=", "url(", "@import",
    ] {
        assert!(!html.contains(outside), "the page has {outside}");
    }
    // `--html -` is the same page on standard output.
    let stdout = scenario.run(&["report", "--html", "-"]).expect(0).stdout;
    assert_eq!(stdout.trim_end(), html.trim_end());
}

#[test]
fn every_value_in_the_receipt_is_escaped() {
    let scenario = Scenario::new();
    // The machine name entries record comes from the config: make it markup.
    let config = std::fs::read_to_string(scenario.config()).unwrap();
    let hostile = r#"HUB <b>01</b> & "x""#;
    let config = config.replace(
        "machine = \"DEMO-HUB-01\"",
        &format!("machine = '{hostile}'"),
    );
    std::fs::write(scenario.config(), config).unwrap();
    scenario
        .run_playing_dba(&["upgrade", "--to", "4.1"])
        .expect(0);
    let html = scenario.run(&["report", "--html", "-"]).expect(0).stdout;
    assert!(html.contains(&html_text(hostile)), "escaped name missing");
    assert!(!html.contains("<b>01</b>"), "markup reached the page");
    assert!(!html.contains(hostile));
    // Positive control: the JSON form has the name as it is.
    let json = scenario.run(&["report", "--json"]).expect(0).json();
    assert_eq!(json["machine"]["name"], hostile);
}

#[test]
fn reporting_leaves_every_byte_of_the_journal_as_it_was_even_write_protected() {
    let scenario = upgraded("4.2");
    let journal = journal_file(&scenario);
    let before = digest_of(&journal);
    let protected = WriteProtected::new(&journal);
    if !protected.immutable() {
        eprintln!("skipped: chattr +i unavailable here; checked with mode 0444 only");
    }
    let page = scenario.path().join("r.html");
    let page = page.to_str().unwrap();
    for args in [
        &["report"][..],
        &["report", "--json"],
        &["report", "--html", "-"],
        &["report", "--html", page],
    ] {
        scenario.run(args).expect(0);
        assert_eq!(digest_of(&journal), before, "{args:?} changed the journal");
    }
    // Through `--journal` too, not only the config.
    hubup_run(&["report", "--journal", journal.to_str().unwrap()]).expect(0);
    assert_eq!(digest_of(&journal), before);
}

#[test]
fn the_json_receipt_matches_the_journal() {
    let scenario = upgraded("4.5");
    let receipt = scenario.run(&["report", "--json"]).expect(0).json();
    let entries = scenario.journal();
    assert_eq!(receipt["format"], "hubup-report/1");
    assert_eq!(receipt["run"], entries[0]["run"]);
    assert_eq!(receipt["machine"]["id"], recorded_machine_id(&scenario));
    assert_eq!(receipt["from"], "4.0");
    assert_eq!(receipt["to"], "4.5");
    assert_eq!(receipt["outcome"]["state"], "completed");
    assert!(receipt["operator"].is_string());
    let steps = receipt["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 5);
    for step in steps {
        assert_eq!(step["outcome"], "committed");
        for op in step["ops"].as_array().unwrap() {
            assert_eq!(op["status"], "done", "{op}");
        }
    }
    let (seq, head) = verified_head(&scenario);
    assert_eq!(receipt["journal"]["head_seq"].to_string(), seq);
    assert_eq!(receipt["journal"]["head_hash"], head.as_str());
    assert_eq!(
        receipt["journal"]["run_entries"].as_u64().unwrap() as usize,
        entries.len()
    );
    let (path, digest) = a_written_file(&scenario);
    let file = receipt["files"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|f| f["path"] == path.as_str())
        .expect("the written file");
    assert_eq!(file["digest"], digest.as_str());
    // The config view is there, its secrets never (the demo has none; the key is the check).
    let config = receipt["config"].as_array().unwrap();
    assert!(config.iter().any(|c| c["key"] == "sites.hub.name"));
    assert!(!receipt.to_string().to_lowercase().contains("password="));
    // The text summary says the same in short.
    let text = scenario.run(&["report"]).expect(0).stdout;
    assert!(text.contains("completed at 4.5"), "{text}");
    assert!(text.contains(&head), "{text}");
}

#[test]
fn a_run_is_chosen_by_its_id_prefix_and_an_unknown_one_is_refused() {
    let scenario = upgraded("4.1");
    let receipt = scenario.run(&["report", "--json"]).expect(0).json();
    let run = receipt["run"].as_str().unwrap();
    let chosen = scenario
        .run(&["report", "--json", "--run", &run[..8]])
        .expect(0)
        .json();
    assert_eq!(chosen, receipt);
    let refused = scenario
        .run(&["report", "--run", "ffffffffffffffff"])
        .expect(2);
    assert!(refused.stderr.contains("no run"), "{}", refused.stderr);
}

#[test]
fn a_journal_without_runs_has_nothing_to_report() {
    let scenario = Scenario::new();
    let ran = scenario.run(&["report"]);
    assert_eq!(ran.code, 2, "{}", ran.stderr);
}

/// Writes `hubup journal export --json` of `scenario` to `file`.
fn export_to(scenario: &Scenario, file: &Path) {
    let run = scenario.run(&["journal", "export", "--json"]).expect(0);
    std::fs::write(file, run.stdout).unwrap();
}

fn receipt_to(scenario: &Scenario, file: &Path) {
    let run = scenario.run(&["report", "--json"]).expect(0);
    std::fs::write(file, run.stdout).unwrap();
}

fn diff(a: &Path, b: &Path, json: bool) -> Run {
    let mut args = vec!["audit", "diff", a.to_str().unwrap(), b.to_str().unwrap()];
    if json {
        args.push("--json");
    }
    hubup_run(&args)
}

#[test]
fn an_export_compared_with_itself_or_its_own_receipt_is_identical() {
    let scenario = upgraded("4.3");
    let dir = tempfile::tempdir().unwrap();
    let (export, copy, receipt) = (
        dir.path().join("a.jsonl"),
        dir.path().join("a-again.jsonl"),
        dir.path().join("a.json"),
    );
    export_to(&scenario, &export);
    export_to(&scenario, &copy);
    receipt_to(&scenario, &receipt);
    let same = diff(&export, &copy, false).expect(0);
    assert!(same.stdout.contains("identical"), "{}", same.stdout);
    let json = diff(&export, &receipt, true).expect(0).json();
    assert_eq!(json["identical"], true);
    assert_eq!(json["a"]["version"], "4.3");
    diff(&receipt, &receipt, false).expect(0);
}

#[test]
fn two_machines_at_different_versions_differ_in_version_and_files() {
    let (a, b) = (upgraded("4.5"), upgraded("4.3"));
    let dir = tempfile::tempdir().unwrap();
    let (export_a, receipt_b) = (dir.path().join("a.jsonl"), dir.path().join("b.json"));
    export_to(&a, &export_a);
    // B's receipt covers its one run, as its export would.
    receipt_to(&b, &receipt_b);
    let text = diff(&export_a, &receipt_b, false).expect(8);
    assert!(
        text.stdout.contains("version: 4.5 (A) vs 4.3 (B)"),
        "{}",
        text.stdout
    );
    assert!(text.stdout.contains("files ("), "{}", text.stdout);
    assert!(text.stdout.contains("only in A"), "{}", text.stdout);
    let json = diff(&export_a, &receipt_b, true).expect(8).json();
    assert_eq!(json["identical"], false);
    assert_eq!(json["diff"]["version"]["a"], "4.5");
    assert_eq!(json["diff"]["version"]["b"], "4.3");
    // A file the 4.4 -> 4.5 step wrote differs, with A's digest as on A's disk.
    let (path, digest) = a_written_file(&a);
    let files = json["diff"]["files"].as_array().unwrap();
    let entry = files
        .iter()
        .find(|f| f["key"] == path.as_str())
        .unwrap_or_else(|| panic!("{path} not in the file differences"));
    assert_eq!(entry["a"], digest.as_str());
    // Their install roots differ too (two sandboxes): the config says so.
    assert!(
        json["diff"]["config"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["key"] == "install.root")
    );
}

#[test]
fn an_input_that_is_no_receipt_or_export_is_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.json");
    receipt_to(&upgraded("4.1"), &good);
    let cases = [
        ("words.txt", "hello, auditor\n", "line 1"),
        ("other.json", r#"{"format":"something-else/2"}"#, "format"),
        ("empty.json", "", "empty"),
        ("entry.jsonl", "{\"seq\": 1}\n", "line 1"),
    ];
    for (name, content, why) in cases {
        let bad = dir.path().join(name);
        std::fs::write(&bad, content).unwrap();
        let refused = diff(&good, &bad, false).expect(2);
        assert!(refused.stderr.contains(name), "{name}: {}", refused.stderr);
        assert!(refused.stderr.contains(why), "{name}: {}", refused.stderr);
        assert!(
            refused.stderr.contains("hubup journal export --json"),
            "{name}: {}",
            refused.stderr
        );
    }
    let missing = diff(&good, &dir.path().join("none.json"), true).expect(2);
    assert_eq!(missing.json()["code"], 2);
}

/// `chromium` if it runs here.
fn chromium() -> Option<Command> {
    let found = Command::new("chromium")
        .arg("--version")
        .output_retrying()
        .is_ok_and(|o| o.status.success());
    found.then(|| Command::new("chromium"))
}

#[test]
fn the_receipt_renders_in_a_headless_browser() {
    let Some(mut browser) = chromium() else {
        println!("skipped: chromium not installed");
        eprintln!("skipped: chromium not installed");
        return;
    };
    let scenario = upgraded("4.2");
    let page = scenario.path().join("receipt.html");
    scenario
        .run(&["report", "--html", page.to_str().unwrap()])
        .expect(0);
    let profile = scenario.path().join("chromium-profile");
    let url = format!("file://{}", page.display());
    let rendered = browser
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom"])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(&url)
        .output_retrying()
        .unwrap();
    assert!(
        rendered.status.success(),
        "{}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    let dom = String::from_utf8_lossy(&rendered.stdout);
    let (_, head) = verified_head(&scenario);
    for fact in [
        "hubup receipt",
        "completed at 4.2",
        "Step 4.1 -&gt; 4.2",
        "Files changed",
        head.as_str(),
    ] {
        assert!(dom.contains(fact), "{fact} not in the rendered page");
    }
}

/// Every golden journal (together: every payload kind and op variant) gives a receipt for
/// each of its runs, and its export reads back as receipts that agree with themselves.
#[test]
fn every_golden_journal_gives_receipts_and_its_export_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    for golden in GOLDENS {
        let name = golden.file;
        let copy = golden_copy(golden, dir.path());
        let journal = copy.to_str().unwrap();
        let export = hubup_run(&["journal", "export", "--json", "--journal", journal]).expect(0);
        let runs: std::collections::BTreeSet<String> = export
            .stdout
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["run"].to_string())
            .collect();
        assert!(!runs.is_empty(), "{name} has runs");
        for run in &runs {
            let run = run.trim_matches('"');
            let receipt = hubup_run(&["report", "--json", "--run", run, "--journal", journal])
                .expect(0)
                .json();
            assert_eq!(receipt["run"], run, "{name}");
            hubup_run(&["report", "--html", "-", "--run", run, "--journal", journal]).expect(0);
        }
        let exported = dir.path().join(format!("{name}.jsonl"));
        std::fs::write(&exported, &export.stdout).unwrap();
        diff(&exported, &exported, false).expect(0);
    }
}

#[test]
fn the_receipt_of_a_rolled_back_step_shows_the_failure_the_undos_and_the_rollback() {
    let scenario = Scenario::new();
    scenario
        .run_with_env(
            &["upgrade", "--to", "4.1"],
            &[("HUBUP_TEST_FAULTS", "fail=4.0:3")],
        )
        .expect(3);
    let receipt = scenario.run(&["report", "--json"]).expect(0).json();
    assert_eq!(receipt["outcome"]["state"], "rolled_back");
    assert_eq!(receipt["outcome"]["version"], "4.0");
    let step = &receipt["steps"][0];
    assert_eq!(step["outcome"], "rolled_back");
    assert_eq!(step["restored_verified"], true);
    let ops = step["ops"].as_array().unwrap();
    // The failed op is undone with the others, and its failure kept.
    assert_eq!(ops[3]["status"], "undone", "{}", ops[3]);
    let error = ops[3]["error"].as_str().unwrap();
    assert!(error.contains("injected test fault"), "{error}");
    assert!(
        ops[..3].iter().all(|op| op["status"] == "undone"),
        "{ops:?}"
    );
    assert!(ops[4..].iter().all(|op| op["status"] == "planned"));
    let html = scenario.run(&["report", "--html", "-"]).expect(0).stdout;
    assert!(html.contains("rolled back to 4.0"));
    assert!(html.contains("failed, undone"));
    assert!(html.contains("class=\"undone\""));
}

/// Issue 15: the end-of-run checklist. The upgrade's result names what the guide leaves to the
/// administrator for this run (the 4.1 plugin update, Ctrl+F5, the other machines from
/// `[install] machines`, the VBO, the backups), and the receipt keeps the same list.
#[test]
fn a_completed_upgrade_says_what_is_left_to_do_and_its_receipt_keeps_it() {
    let scenario = Scenario::new();
    let config = std::fs::read_to_string(scenario.config()).unwrap();
    let edited = config.replacen(
        "[install]\n",
        "[install]\nmachines = [\"HUBWEB02\", \"HUBWEB03\"]\n",
        1,
    );
    assert_ne!(
        edited, config,
        "the sandbox's config has an [install] table"
    );
    std::fs::write(scenario.config(), edited).unwrap();
    let run = scenario
        .run_playing_dba(&["upgrade", "--to", "4.5"])
        .expect(0);
    for expected in [
        "still to do",
        "Complete updating",
        "Ctrl+F5",
        "HUBWEB02, HUBWEB03",
        "Utility - Interact API",
        "backup_4.0, backup_4.1, backup_4.2, backup_4.3, backup_4.4",
    ] {
        assert!(run.stdout.contains(expected), "{expected}: {}", run.stdout);
    }
    let receipt = scenario.run(&["report", "--json"]).expect(0).json();
    let listed: Vec<&str> = receipt["checklist"]
        .as_array()
        .expect("a checklist in the receipt")
        .iter()
        .map(|item| item.as_str().unwrap())
        .collect();
    for item in &listed {
        assert!(run.stdout.contains(item), "{item}: {}", run.stdout);
    }
    assert!(listed.iter().any(|i| i.contains("HUBWEB02")), "{listed:?}");
    let text = scenario.run(&["report"]).expect(0);
    assert!(text.stdout.contains("Ctrl+F5"), "{}", text.stdout);
}

#[test]
fn a_run_from_4_2_has_no_plugin_step_and_nothing_to_do_has_no_checklist() {
    let scenario = Scenario::at_version("4.2");
    let run = scenario
        .run_playing_dba(&["upgrade", "--to", "4.4"])
        .expect(0);
    assert!(run.stdout.contains("Ctrl+F5"), "{}", run.stdout);
    assert!(!run.stdout.contains("Complete updating"), "{}", run.stdout);
    assert!(
        run.stdout.contains("backup_4.2, backup_4.3 "),
        "{}",
        run.stdout
    );
    let receipt = scenario.run(&["report", "--json"]).expect(0).json();
    let items = receipt["checklist"]
        .as_array()
        .expect("a checklist")
        .clone();
    assert!(
        !items
            .iter()
            .any(|i| i.as_str().unwrap().contains("Complete updating")),
        "{items:?}"
    );
    // Nothing to upgrade: no checklist.
    let again = scenario
        .run(&["upgrade", "--to", "4.4", "--json"])
        .expect(0);
    assert!(again.json().get("checklist").is_none(), "{}", again.stdout);
}

/// The manifest's plugin list (issue 15): shown in the plan (name, from, to), journaled with
/// the step's plan as a note, and in the receipt; for 4.0 -> 4.1 with the guide's "Complete
/// updating" that only Hub's UI does.
#[test]
fn the_plugins_a_step_updates_are_planned_journaled_and_in_the_receipt() {
    let scenario = Scenario::new();
    let plan = scenario
        .run(&["plan", "--to", "4.2", "--json"])
        .expect(0)
        .json();
    let plugins = plan["steps"][0]["plugins"].as_array().unwrap();
    assert!(!plugins.is_empty(), "{plan}");
    let first = &plugins[0];
    let line = format!(
        "{} {} -> {}",
        first["name"].as_str().unwrap(),
        first["from"].as_str().unwrap(),
        first["to"].as_str().unwrap()
    );
    let text = scenario.run(&["plan", "--to", "4.2"]).expect(0).stdout;
    assert!(text.contains(&line), "{line}: {text}");
    assert!(text.contains("Complete updating"), "{text}");

    scenario
        .run_playing_dba(&["upgrade", "--to", "4.2"])
        .expect(0);
    let notes: Vec<String> = scenario
        .journal()
        .iter()
        .filter(|e| e["payload"]["kind"] == "note")
        .map(|e| e.to_string())
        .collect();
    let planned: Vec<&String> = notes
        .iter()
        .filter(|n| n.contains("Hub plugins updated"))
        .collect();
    assert_eq!(planned.len(), 2, "one note per step: {notes:?}");
    assert!(planned[0].contains(&line), "{planned:?}");
    let receipt = scenario.run(&["report", "--json"]).expect(0).stdout;
    assert!(receipt.contains(&line), "{receipt}");
}
