//! Snapshots of `hubup plan --to 4.5` on the small 4.0 fixture, as text and as JSON
//! (`tests/snapshots/plan-4.0-to-4.5.txt` and `.json`), so that a change in op order, wording
//! or numbers shows in review as a change of those files. After an intended change:
//!
//! ```sh
//! HUBUP_UPDATE_SNAPSHOTS=1 cargo test --test integration plan_snapshot
//! git diff tests/snapshots
//! ```
//!
//! The scenario's config keeps hubup's default command templates (the demo's log to a file in
//! the sandbox through `sh` or `cmd.exe`, which would differ by platform and by run), and names
//! a RabbitMQ password held in the environment, which must not show anywhere.

use std::fs;

use crate::support::{Run, Scenario, snapshot};

const SECRET_VAR: &str = "HUBUP_SNAPSHOT_RABBITMQ_PASSWORD";
const SECRET: &str = "Snapshot-Pa55-x7Q";
/// What the sandbox's path becomes in a snapshot.
const SANDBOX: &str = "<sandbox>";

/// A 4.0 sandbox whose config has no `[commands]` (so the defaults apply) and a `[rabbitmq]`
/// section with a password from the environment.
fn scenario() -> Scenario {
    let scenario = Scenario::new();
    let config = fs::read_to_string(scenario.config()).expect("read the demo config");
    let mut kept = String::new();
    let mut in_commands = false;
    for line in config.lines() {
        if line.starts_with('[') {
            in_commands = line.trim() == "[commands]";
        }
        if !in_commands {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    assert!(
        !kept
            .lines()
            .any(|l| !l.starts_with('#') && l.contains("commands.log")),
        "the demo config's command templates are all in [commands]"
    );
    kept.push_str(&format!(
        "\n[rabbitmq]\nmanagement_url = \"http://127.0.0.1:9\"\nuser = \"hubup\"\n\
         password_env = \"{SECRET_VAR}\"\n"
    ));
    fs::write(scenario.config(), kept).expect("write the config");
    scenario
}

/// Runs `hubup plan --to 4.5 <extra>` with the secret in the environment; checks that it
/// succeeded and that the secret is in neither output.
fn plan(scenario: &Scenario, extra: &[&str]) -> Run {
    let mut args = vec!["plan", "--to", "4.5"];
    args.extend_from_slice(extra);
    let run = scenario
        .run_with_env(&args, &[(SECRET_VAR, SECRET)])
        .expect(0);
    assert!(
        !run.stdout.contains(SECRET) && !run.stderr.contains(SECRET),
        "the plan printed the password"
    );
    run
}

/// `text` with the sandbox's path, in each form it can be printed in (as given, canonical,
/// with either slash, JSON-escaped), replaced by [`SANDBOX`].
fn masked(scenario: &Scenario, text: &str) -> String {
    let mut forms = Vec::new();
    for path in [
        scenario.path().to_path_buf(),
        scenario.path().canonicalize().expect("the sandbox exists"),
    ] {
        let plain = path.to_string_lossy().into_owned();
        forms.push(plain.replace('\\', "\\\\"));
        forms.push(plain.replace('\\', "/"));
        forms.push(plain);
    }
    // Longest first, so that no form is cut by a shorter one it contains.
    forms.sort_by_key(|form| std::cmp::Reverse(form.len()));
    let mut out = text.to_string();
    for form in forms {
        out = out.replace(&form, SANDBOX);
    }
    out
}

#[test]
fn the_plan_text_matches_its_snapshot() {
    let scenario = scenario();
    let run = plan(&scenario, &[]);
    let text = masked(&scenario, &run.stdout);
    assert!(text.starts_with("Plan: 4.0 -> 4.5 in 5 step(s)."), "{text}");
    snapshot::assert_matches("plan-4.0-to-4.5.txt", &text);
}

#[test]
fn the_plan_json_matches_its_snapshot() {
    let scenario = scenario();
    let run = plan(&scenario, &["--json"]);
    let json: serde_json::Value =
        serde_json::from_str(&masked(&scenario, &run.stdout)).expect("the masked plan is JSON");
    assert_eq!(
        json["steps"].as_array().map(Vec::len),
        Some(5),
        "five steps"
    );
    // The plan, each step and its lists on lines of their own; each op on one line.
    snapshot::assert_matches("plan-4.0-to-4.5.json", &snapshot::json_outline(&json, 4));
}
