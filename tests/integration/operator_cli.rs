//! The operator's view through the real binary (issue 16): after an interrupted run `status`,
//! `check`, `plan` and `upgrade` say the same thing; `status` works while another hubup holds
//! the journal; Ctrl-C before the first change leaves nothing pending; re-running a command
//! whose work is done exits 0 "nothing to do"; `--json` prints one object for every outcome.
//!
//! Each test builds its sandbox with `hubup demo --setup-only` in a temp dir (the sandbox an
//! operator would try first), and runs the binary through `crate::support::hubup`.

use crate::support::StartRetrying;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::support::{AWAITING_DBA, WriteProtected, hubup};

struct Ran {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Ran {
    /// `hubup args` with no sandbox around it.
    fn hubup<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Ran {
        Ran::of(hubup().args(args).output_retrying().unwrap())
    }

    fn of(output: Output) -> Ran {
        Ran {
            code: output.status.code(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    #[track_caller]
    fn expect(self, code: i32) -> Ran {
        assert_eq!(
            self.code,
            Some(code),
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout,
            self.stderr
        );
        self
    }

    /// Standard output as exactly one JSON object.
    #[track_caller]
    fn json(&self) -> Value {
        let lines: Vec<&str> = self
            .stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert_eq!(
            lines.len(),
            1,
            "one JSON object on stdout:\n{}",
            self.stdout
        );
        serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("not JSON ({e}): {}", lines[0]))
    }
}

struct Sandbox {
    dir: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        Ran::of(
            hubup()
                .args(["demo", "--setup-only", "--dir"])
                .arg(dir.path())
                .output_retrying()
                .unwrap(),
        )
        .expect(0);
        Sandbox { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn config(&self) -> PathBuf {
        self.path().join("hubup.toml")
    }

    fn journal(&self) -> PathBuf {
        self.path().join("journal").join("hubup.redb")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = hubup();
        command.args(args).arg("--config").arg(self.config());
        command
    }

    fn run(&self, args: &[&str]) -> Ran {
        Ran::of(self.command(args).output_retrying().unwrap())
    }

    fn run_with_faults(&self, args: &[&str], faults: &str) -> Ran {
        Ran::of(
            self.command(args)
                .env("HUBUP_TEST_FAULTS", faults)
                .output_retrying()
                .unwrap(),
        )
    }

    /// Runs `args`, then plays the DBA while a step waits for its database work: the demo is
    /// in script mode, so each step with database work stops at exit 7 until `resume
    /// --dba-confirmed` (with `--json` if `args` had it). The last command's result.
    fn run_playing_dba(&self, args: &[&str]) -> Ran {
        let mut resume = vec!["resume", "--dba-confirmed"];
        if args.contains(&"--json") {
            resume.push("--json");
        }
        let mut ran = self.run(args);
        let mut rounds = 0;
        while ran.code == Some(AWAITING_DBA) {
            rounds += 1;
            assert!(rounds <= 5, "more DBA stops than steps: {}", ran.stderr);
            ran = self.run(&resume);
        }
        ran
    }

    /// Replaces the config line starting with `key =` by `line`.
    #[cfg(unix)] // only the Unix tests (signals, gated commands) need it
    fn set_config_line(&self, key: &str, line: &str) {
        let text = std::fs::read_to_string(self.config()).unwrap();
        let prefix = format!("{key} =");
        assert!(
            text.lines().any(|l| l.starts_with(&prefix)),
            "{key} in config"
        );
        let edited: Vec<String> = text
            .lines()
            .map(|l| {
                if l.starts_with(&prefix) {
                    line.to_string()
                } else {
                    l.to_string()
                }
            })
            .collect();
        std::fs::write(self.config(), edited.join("\n") + "\n").unwrap();
    }

    /// (install-tree digest, applicationHost.config digest), read without the journal.
    fn install_digests(&self) -> (Value, Value) {
        let ran = Ran::of(
            hubup()
                .args(["status", "--json", "--root"])
                .arg(self.path().join("install").join("Blue Prism"))
                .arg("--apphost")
                .arg(self.path().join("inetsrv").join("applicationHost.config"))
                .output_retrying()
                .unwrap(),
        )
        .expect(0);
        let status = ran.json();
        (
            status["tree_digest"].clone(),
            status["apphost_digest"].clone(),
        )
    }

    /// The journal's entries (`journal export --json`), one object each.
    fn entries(&self) -> Vec<Value> {
        if !self.journal().exists() {
            return Vec::new();
        }
        let ran = self.run(&["journal", "export", "--json"]).expect(0);
        ran.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[cfg(unix)] // only the Unix tests (signals, gated commands) need it
    fn entry_kinds(&self) -> Vec<String> {
        self.entries()
            .iter()
            .map(|e| {
                e["kind"]
                    .as_str()
                    .or_else(|| e["payload"]["kind"].as_str())
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    }

    #[cfg(unix)] // only the Unix tests (signals, gated commands) need it
    fn journal_text(&self) -> String {
        self.entries()
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// A sandbox whose upgrade was cut off (like a power loss) in the middle of a step.
fn interrupted() -> Sandbox {
    let sandbox = Sandbox::new();
    let ran = sandbox.run_with_faults(&["upgrade", "--to", "4.5"], "crash-after=300");
    assert_ne!(ran.code, Some(0), "the run was cut off: {}", ran.stderr);
    sandbox
}

/// The words every command uses for where an interrupted run stopped.
fn where_it_stopped(text: &str) -> String {
    let start = text.find("step ").expect("names the step");
    let rest = &text[start..];
    let end = rest.find(';').expect("then the advice");
    rest[..end].to_string()
}

#[test]
fn after_an_interrupted_run_status_check_plan_and_upgrade_say_the_same_thing() {
    let sandbox = interrupted();
    let before = sandbox.install_digests();
    let journal_before = sandbox.entries().len();

    let status = sandbox.run(&["status"]).expect(4);
    let line = status
        .stdout
        .lines()
        .find(|l| l.starts_with("UNFINISHED RUN"))
        .unwrap_or_else(|| panic!("status names the unfinished run:\n{}", status.stdout));
    let stopped = where_it_stopped(line);
    assert!(stopped.contains("interrupted at op "), "{stopped}");
    assert!(stopped.contains('/'), "op i/n: {stopped}");
    assert!(line.contains("hubup resume") && line.contains("hubup rollback"));
    let version_line = status
        .stdout
        .lines()
        .find(|l| l.starts_with("version:"))
        .unwrap();
    assert!(version_line.contains(&stopped), "{version_line}");

    for args in [
        &["check", "--to", "4.5"][..],
        &["plan", "--to", "4.5"],
        &["upgrade", "--to", "4.5"],
        &["sql-script", "--to", "4.5"],
    ] {
        let ran = sandbox.run(args).expect(4);
        assert!(
            ran.stderr.contains(&stopped),
            "{args:?} says {stopped:?}:\n{}",
            ran.stderr
        );
        assert!(
            ran.stderr.contains("hubup resume --config"),
            "{}",
            ran.stderr
        );
        assert!(
            ran.stderr.contains("hubup rollback --config"),
            "{}",
            ran.stderr
        );
        assert!(
            !ran.stdout.contains("All prerequisites are met") && !ran.stdout.contains("Plan:"),
            "{args:?} plans or checks nothing on top of an unfinished run:\n{}",
            ran.stdout
        );
        let mut json_args = args.to_vec();
        json_args.push("--json");
        let ran = sandbox.run(&json_args).expect(4);
        let error = ran.json();
        assert_eq!(error["outcome"], "error");
        assert_eq!(error["code"], 4);
        assert!(error["message"].as_str().unwrap().contains(&stopped));
    }

    let status = sandbox.run(&["status", "--json"]).expect(4).json();
    assert_eq!(status["pending"], "unfinished_run");
    assert_eq!(status["unfinished_run"]["where"], stopped.as_str());
    assert!(status["unfinished_run"]["planned_ops"].as_u64().unwrap() > 0);

    assert_eq!(sandbox.install_digests(), before, "nothing changed");
    assert_eq!(sandbox.entries().len(), journal_before, "nothing journaled");

    // The advice works: resume finishes, and then everyone agrees nothing is pending.
    sandbox.run_playing_dba(&["resume"]).expect(0);
    let status = sandbox.run(&["status", "--json"]).expect(0).json();
    assert_eq!(status["pending"], "nothing");
    assert_eq!(status["version"], "4.5");
}

#[test]
fn re_running_a_command_whose_work_is_done_exits_0_nothing_to_do() {
    let sandbox = Sandbox::new();
    let done = sandbox
        .run_playing_dba(&["upgrade", "--to", "4.5", "--json"])
        .expect(0)
        .json();
    assert_eq!(done["outcome"], "completed");
    assert_eq!(
        (done["ok"].clone(), done["changed"].clone()),
        (true.into(), true.into())
    );
    let before = sandbox.install_digests();
    let entries = sandbox.entries().len();

    for args in [
        &["upgrade", "--to", "4.5"][..],
        &["resume"],
        &["rollback"],
        &["rollback", "--to", "4.5"],
        &["plan", "--to", "4.5"],
        &["check", "--to", "4.5"],
    ] {
        let ran = sandbox.run(args).expect(0);
        assert!(
            ran.stdout.starts_with("nothing to do: "),
            "{args:?}:\n{}\n{}",
            ran.stdout,
            ran.stderr
        );
        let mut json_args = args.to_vec();
        json_args.push("--json");
        let value = sandbox.run(&json_args).expect(0).json();
        assert_eq!(value["outcome"], "nothing_to_do", "{args:?}");
        assert_eq!(value["ok"], true);
        assert_eq!(value["changed"], false);
    }
    assert_eq!(
        sandbox.run(&["upgrade", "--to", "4.5"]).stdout.trim(),
        "nothing to do: the install is already at 4.5"
    );
    assert_eq!(sandbox.install_digests(), before, "nothing changed");
    assert_eq!(sandbox.entries().len(), entries, "nothing journaled");
    sandbox.run(&["status"]).expect(0);
}

#[test]
fn a_downgrade_is_still_refused_with_exit_2_and_a_json_error() {
    let sandbox = Sandbox::new();
    sandbox
        .run_playing_dba(&["upgrade", "--to", "4.2"])
        .expect(0);
    let error = sandbox
        .run(&["upgrade", "--to", "4.1", "--json"])
        .expect(2)
        .json();
    assert_eq!(error["outcome"], "error");
    assert_eq!(error["ok"], false);
    assert_eq!(error["changed"], false);
    assert!(
        error["message"].as_str().unwrap().contains("4.2"),
        "{error}"
    );
    assert!(!error["hint"].as_str().unwrap().is_empty());
}

#[test]
fn the_downgrade_hint_names_a_way_back_that_works() {
    let sandbox = Sandbox::new();
    sandbox
        .run_playing_dba(&["upgrade", "--to", "4.2"])
        .expect(0);
    // The journal's run went from 4.0: rollback reaches 4.1, and the hint says so.
    let refused = sandbox.run(&["upgrade", "--to", "4.1"]).expect(2);
    assert!(
        refused
            .stderr
            .contains("`hubup rollback --to 4.1 --config "),
        "{}",
        refused.stderr
    );
    sandbox.run(&["rollback", "--to", "4.1"]).expect(0);
    assert_eq!(sandbox.run(&["status", "--json"]).json()["version"], "4.1");
}

#[test]
fn without_a_journal_a_downgrade_points_to_the_backup_and_nothing_is_created() {
    let sandbox = Sandbox::new();
    sandbox
        .run_playing_dba(&["upgrade", "--to", "4.2"])
        .expect(0);
    // The same install as one upgraded by the vendor's wizards: no journal of hubup's.
    std::fs::remove_dir_all(sandbox.path().join("journal")).unwrap();
    let before = sandbox.install_digests();
    let refused = sandbox.run(&["upgrade", "--to", "4.1"]).expect(2);
    assert!(
        refused
            .stderr
            .contains("restore the backup made before the upgrade"),
        "{}",
        refused.stderr
    );
    assert!(
        !refused.stderr.contains("use `hubup rollback"),
        "{}",
        refused.stderr
    );
    let refused = sandbox.run(&["rollback", "--to", "4.1"]).expect(2);
    assert!(refused.stderr.contains("no journal"), "{}", refused.stderr);
    for args in [
        &["upgrade", "--to", "4.2"][..],
        &["rollback", "--to", "4.2"],
        &["resume"],
        &["rollback"],
    ] {
        let ran = sandbox.run(args).expect(0);
        assert!(
            ran.stdout.starts_with("nothing to do: "),
            "{args:?}: {}",
            ran.stdout
        );
    }
    assert!(
        !sandbox.path().join("journal").exists(),
        "a refusal or nothing to do made a journal or a log"
    );
    assert_eq!(sandbox.install_digests(), before, "nothing changed");
}

#[test]
fn check_lists_every_missing_package_as_a_fail() {
    let sandbox = Sandbox::new();
    let packages = sandbox.path().join("packages");
    for version in ["4.2", "4.4"] {
        std::fs::remove_file(packages.join(format!("BluePrismHubAndInteractUpdate{version}.bin")))
            .unwrap();
    }
    let ran = sandbox.run(&["check", "--to", "4.5"]).expect(2);
    let fails: Vec<&str> = ran
        .stdout
        .lines()
        .filter(|l| l.starts_with("[FAIL]"))
        .collect();
    assert_eq!(fails.len(), 2, "{}", ran.stdout);
    assert!(
        fails[0].contains("BluePrismHubAndInteractUpdate4.2.bin"),
        "{}",
        fails[0]
    );
    assert!(
        fails[1].contains("BluePrismHubAndInteractUpdate4.4.bin"),
        "{}",
        fails[1]
    );
    let value = sandbox
        .run(&["check", "--to", "4.5", "--json"])
        .expect(2)
        .json();
    assert_eq!(value["ok"], false);
    assert_eq!(value["findings"].as_array().unwrap().len(), 2, "{value}");
    // upgrade names both too, and changes nothing.
    let refused = sandbox.run(&["upgrade", "--to", "4.5"]).expect(2);
    assert!(
        refused.stderr.contains("4.2.bin") && refused.stderr.contains("4.4.bin"),
        "{}",
        refused.stderr
    );
}

#[test]
fn a_package_of_another_step_is_named_with_the_step_that_needs_it() {
    let sandbox = Sandbox::new();
    let packages = sandbox.path().join("packages");
    std::fs::copy(
        packages.join("BluePrismHubAndInteractUpdate4.3.bin"),
        packages.join("BluePrismHubAndInteractUpdate4.2.bin"),
    )
    .unwrap();
    let refused = sandbox.run(&["check", "--to", "4.5"]).expect(2);
    // The install is at 4.0; the file stands for step 4.1 -> 4.2 of the run.
    assert!(
        refused
            .stderr
            .contains("is the package for 4.2 -> 4.3, not for step 4.1 -> 4.2"),
        "{}",
        refused.stderr
    );
    assert!(
        !refused.stderr.contains("install is at 4.1"),
        "{}",
        refused.stderr
    );
}

#[test]
fn a_port_out_of_range_is_named_by_its_key() {
    let sandbox = Sandbox::new();
    let mut config = std::fs::read_to_string(sandbox.config()).unwrap();
    config.push_str("\n[sites.hub]\nport = 70000\n");
    std::fs::write(sandbox.config(), config).unwrap();
    let refused = sandbox.run(&["check", "--to", "4.5"]).expect(2);
    assert!(
        refused.stderr.contains("`sites.hub.port` (line "),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("a number from 0 to 65535"),
        "{}",
        refused.stderr
    );
}

#[test]
fn the_run_record_names_the_sql_server_and_broker_the_run_used() {
    let sandbox = Sandbox::new();
    sandbox
        .run_playing_dba(&["upgrade", "--to", "4.1"])
        .expect(0);
    let config: Vec<(String, String)> = sandbox
        .entries()
        .iter()
        .find_map(|e| serde_json::from_value(e["payload"]["config"].clone()).ok())
        .expect("a run_started entry with the config view");
    let value = |key: &str| {
        config
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(value("sql.server"), Some("SQL01"), "{config:?}");
    assert_eq!(value("sql.mode"), Some("script"));
    assert_eq!(value("sql.auth"), Some("windows"));
    assert_eq!(value("host.adapter"), Some("sandbox"));
    assert!(
        config
            .iter()
            .any(|(k, _)| k.starts_with("packages.trusted_keys"))
    );
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let out = hubup().arg("--version").output_retrying().unwrap();
    let ran = Ran::of(out).expect(0);
    let line = ran.stdout.trim();
    let stamp = line
        .strip_prefix(&format!("hubup {} (", env!("CARGO_PKG_VERSION")))
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{line}"));
    let commit = stamp.trim_end_matches("-modified");
    assert!(
        commit == "unknown"
            || (commit.len() == 12 && commit.chars().all(|c| c.is_ascii_hexdigit())),
        "{line}"
    );
}

#[test]
fn completions_and_man_pages_come_from_the_commands_hubup_has() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let ran = Ran::hubup(&["completions", shell]).expect(0);
        for command in [
            "upgrade", "resume", "rollback", "status", "journal", "check",
        ] {
            assert!(ran.stdout.contains(command), "{shell} lacks {command}");
        }
    }
    #[cfg(unix)]
    {
        // The bash script is valid bash, and registers a completion for hubup.
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("hubup.bash");
        let ran = Ran::hubup(&["completions", "bash"]).expect(0);
        std::fs::write(&script, ran.stdout).unwrap();
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!(
                "source '{}' && complete -p hubup",
                script.display()
            ))
            .output_retrying()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("hubup"));
    }
    let page = Ran::hubup(&["man"]).expect(0);
    assert!(page.stdout.contains(".TH hubup 1"), "{}", page.stdout);
    assert!(page.stdout.contains("rollback"));
    let page = Ran::hubup(&["man", "upgrade"]).expect(0);
    assert!(
        page.stdout.contains(".TH hubup-upgrade 1"),
        "{}",
        page.stdout
    );
    assert!(page.stdout.contains("\\-\\-to"), "{}", page.stdout);
    let refused = Ran::hubup(&["man", "nope"]).expect(2);
    assert!(
        refused.stderr.contains("no command \"nope\""),
        "{}",
        refused.stderr
    );
}

#[test]
fn config_and_json_may_come_before_the_command() {
    let sandbox = Sandbox::new();
    let after = sandbox.run(&["status", "--json"]).expect(0).json();
    let before = Ran::of(
        hubup()
            .arg("--config")
            .arg(sandbox.config())
            .args(["--json", "status"])
            .output_retrying()
            .unwrap(),
    )
    .expect(0)
    .json();
    assert_eq!(before, after);
    let mut equals = std::ffi::OsString::from("--config=");
    equals.push(sandbox.config());
    let plan = Ran::of(
        hubup()
            .arg(equals)
            .args(["plan", "--to", "4.1"])
            .output_retrying()
            .unwrap(),
    );
    plan.expect(0);
}

#[test]
fn json_failures_print_one_object_on_stdout() {
    let sandbox = Sandbox::new();
    let missing = sandbox.path().join("nowhere.toml");
    for args in [
        &["status", "--json"][..],
        &["check", "--to", "4.5", "--json"],
        &["upgrade", "--to", "4.5", "--json"],
        &["plan", "--to", "4.5", "--json"],
    ] {
        let ran = Ran::of(
            hubup()
                .args(args)
                .arg("--config")
                .arg(&missing)
                .output_retrying()
                .unwrap(),
        )
        .expect(2);
        let error = ran.json();
        assert_eq!(error["code"], 2, "{args:?}");
        assert!(
            error["message"].as_str().unwrap().contains("nowhere.toml"),
            "{args:?}: {error}"
        );
        assert!(!ran.stderr.is_empty(), "the message is on stderr too");
    }
    // A usage error with --json is one object too.
    let ran = Ran::of(
        hubup()
            .args(["upgrade", "--to", "4.9", "--json"])
            .output_retrying()
            .unwrap(),
    )
    .expect(2);
    assert_eq!(ran.json()["code"], 2);
}

#[cfg(unix)]
mod unix {
    use super::*;
    use std::time::{Duration, Instant};

    /// A `sh` command line for a config template that records it started, then waits until
    /// the test creates `gate`.
    fn gated(started: &Path, gate: &Path) -> String {
        format!(
            "[\"sh\", \"-c\", '''touch '{}'; while [ ! -f '{}' ]; do sleep 0.02; done''']",
            started.display(),
            gate.display()
        )
    }

    fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(120);
        while !done() {
            assert!(Instant::now() < deadline, "waited too long for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn interrupt(pid: u32) {
        let ok = Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }

    #[test]
    fn status_while_a_run_holds_the_journal_says_who_and_where_and_exits_6() {
        let sandbox = Sandbox::new();
        let started = sandbox.path().join("restart-started");
        let gate = sandbox.path().join("restart-gate");
        // The run's first command (4.1 -> 4.2's folder ACL grant; sites are host ops).
        sandbox.set_config_line(
            "folder_acl_grant",
            &format!("folder_acl_grant = {}", gated(&started, &gate)),
        );
        let child = sandbox
            .command(&["upgrade", "--to", "4.5"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn_retrying()
            .unwrap();
        wait_for("the run to reach its first command", || started.exists());

        let status = sandbox.run(&["status"]).expect(6);
        assert!(
            status.stdout.contains("A RUN IS IN PROGRESS"),
            "{}",
            status.stdout
        );
        assert!(
            status.stdout.contains(&format!("pid {}", child.id())),
            "{}",
            status.stdout
        );
        assert!(
            status.stdout.contains("(upgrade, since "),
            "{}",
            status.stdout
        );
        assert!(status.stdout.contains("step 4."), "{}", status.stdout);
        assert!(status.stdout.contains(" op "), "{}", status.stdout);
        assert!(!status.stderr.contains("os error"), "{}", status.stderr);
        let json = sandbox.run(&["status", "--json"]).expect(6).json();
        assert_eq!(json["pending"], "run_in_progress");
        assert_eq!(json["in_progress"]["pid"], child.id());
        assert_eq!(json["in_progress"]["command"], "upgrade");
        assert!(json["in_progress"]["total"].as_u64().unwrap() > 0, "{json}");

        std::fs::write(&gate, "").unwrap();
        let output = child.wait_with_output().unwrap();
        // Script mode: the run may stop for its DBA after the gated restart.
        if output.status.code() == Some(AWAITING_DBA) {
            sandbox
                .run_playing_dba(&["resume", "--dba-confirmed"])
                .expect(0);
        } else {
            assert_eq!(output.status.code(), Some(0));
        }
        let json = sandbox.run(&["status", "--json"]).expect(0).json();
        assert_eq!(json["pending"], "nothing");
        assert!(
            !progress_record(&sandbox).exists(),
            "the record goes with the run"
        );
    }

    /// `hubup plan | head`: the reader leaves before hubup wrote its answer.
    #[test]
    fn a_reader_that_leaves_early_ends_the_output_quietly_with_the_commands_own_code() {
        let sandbox = Sandbox::new();
        sandbox.run(&["upgrade", "--to", "4.1"]).expect(0);
        for args in [
            &["plan", "--to", "4.5"][..],
            &["plan", "--to", "4.5", "--json"],
            &["check", "--to", "4.5"],
            &["status"],
            &["status", "--json"],
            &["sql-script", "--to", "4.5"],
            &["journal", "show"],
            &["upgrade", "--to", "4.1"],
        ] {
            let mut child = sandbox
                .command(args)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn_retrying()
                .unwrap();
            // The reader is gone before the first byte: every write meets a closed pipe.
            drop(child.stdout.take());
            let ran = Ran::of(child.wait_with_output().unwrap());
            assert!(
                !ran.stderr.contains("panicked") && !ran.stderr.contains("Broken pipe"),
                "{args:?}: {}",
                ran.stderr
            );
            ran.expect(0);
        }
    }

    /// Standard output that cannot be written for another reason than a closed pipe: the
    /// answer is missing, so the command does not claim success.
    #[test]
    fn standard_output_on_a_full_disk_exits_1_naming_it() {
        let sandbox = Sandbox::new();
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let ran = Ran::of(
            sandbox
                .command(&["plan", "--to", "4.5"])
                .stdout(full)
                .output_retrying()
                .unwrap(),
        )
        .expect(1);
        assert!(
            ran.stderr.contains("cannot write to standard output"),
            "{}",
            ran.stderr
        );
        assert!(!ran.stderr.contains("panicked"), "{}", ran.stderr);
    }

    #[test]
    fn ctrl_c_before_the_first_change_leaves_nothing_pending() {
        let sandbox = Sandbox::new();
        let before = sandbox.install_digests();
        let started = sandbox.path().join("check-started");
        let gate = sandbox.path().join("check-gate");
        // The certificate check runs among the prerequisites, before anything is journaled.
        sandbox.set_config_line(
            "certificate_check",
            &format!("certificate_check = {}", gated(&started, &gate)),
        );
        let child = sandbox
            .command(&["upgrade", "--to", "4.5", "--json"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn_retrying()
            .unwrap();
        wait_for("the prerequisite checks", || started.exists());
        interrupt(child.id());
        std::fs::write(&gate, "").unwrap();
        let ran = Ran::of(child.wait_with_output().unwrap()).expect(130);
        let end = ran.json();
        assert_eq!(end["outcome"], "cancelled_before_start");
        assert_eq!(end["changed"], false);
        let message = end["message"].as_str().unwrap();
        assert!(message.contains("nothing was changed"), "{message}");
        assert!(message.contains("nothing is pending"), "{message}");

        assert_eq!(sandbox.install_digests(), before);
        let kinds = sandbox.entry_kinds();
        assert!(
            !sandbox.journal_text().contains("run_started"),
            "no run was journaled: {kinds:?}"
        );
        let status = sandbox.run(&["status", "--json"]).expect(0).json();
        assert_eq!(status["pending"], "nothing");
        // And the upgrade simply runs when asked again.
        std::fs::write(&gate, "").unwrap();
        sandbox
            .run_playing_dba(&["upgrade", "--to", "4.5"])
            .expect(0);
    }
}

/// Where a sandbox's progress record is.
#[cfg(unix)]
fn progress_record(sandbox: &Sandbox) -> PathBuf {
    let mut name = sandbox.journal().into_os_string();
    name.push(".progress");
    PathBuf::from(name)
}

fn digest_of(file: &Path) -> hubup::Digest {
    hubup::Digest::of(&std::fs::read(file).unwrap())
}

/// Runs each reading command on `journal` and checks that not one byte of it changed.
#[track_caller]
fn reads_leave_it_as_it_was(journal: &Path, commands: &[Vec<String>]) {
    let before = digest_of(journal);
    let mut pid = journal.as_os_str().to_owned();
    pid.push(".pid");
    let pid = PathBuf::from(pid);
    let pid_before = std::fs::read(&pid).ok();
    let _protected = WriteProtected::new(journal);
    for args in commands {
        let ran = Ran::hubup(args);
        assert!(
            !ran.stderr.contains("not permitted") && !ran.stderr.contains("denied"),
            "{args:?}: {}",
            ran.stderr
        );
        assert!(
            !ran.stderr.contains("cannot open journal"),
            "{args:?}: {}",
            ran.stderr
        );
        assert_eq!(digest_of(journal), before, "{args:?} changed the journal");
    }
    assert_eq!(
        std::fs::read(&pid).ok(),
        pid_before,
        "a reader records no holder"
    );
}

fn journal_commands(location: &[&str]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for sub in [&["verify"][..], &["show"], &["export", "--json"]] {
        let mut args = vec!["journal".to_string()];
        args.extend(sub.iter().map(|s| s.to_string()));
        args.extend(location.iter().map(|s| s.to_string()));
        out.push(args);
    }
    out
}

#[test]
fn reading_the_golden_journal_leaves_every_byte_as_it_was_even_write_protected() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("journal-v1.redb");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/journal-v1.redb"),
        &copy,
    )
    .unwrap();
    let location = ["--journal", copy.to_str().unwrap()];
    for args in journal_commands(&location) {
        Ran::hubup(&args).expect(0);
    }
    reads_leave_it_as_it_was(&copy, &journal_commands(&location));
}

#[test]
fn every_reading_command_leaves_a_crashed_runs_journal_as_it_was() {
    let sandbox = Sandbox::new();
    let ran = sandbox.run_with_faults(&["upgrade", "--to", "4.5"], "crash-after=40");
    assert_ne!(ran.code, Some(0));
    let config = sandbox.config().display().to_string();
    let mut commands = journal_commands(&["--config", &config]);
    for args in [
        &["status"][..],
        &["status", "--json"],
        &["plan", "--to", "4.5"],
        &["check", "--to", "4.5"],
        &["sql-script", "--to", "4.5"],
    ] {
        let mut args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        args.extend(["--config".to_string(), config.clone()]);
        commands.push(args);
    }
    reads_leave_it_as_it_was(&sandbox.journal(), &commands);
    // And what they read is right: the run is unfinished, and the journal verifies.
    sandbox.run(&["journal", "verify"]).expect(0);
    sandbox.run(&["status"]).expect(4);
}

/// Some product file of the sandbox's install (a `.dll`).
fn a_product_file(sandbox: &Sandbox) -> PathBuf {
    let mut folders = vec![sandbox.path().join("install").join("Blue Prism")];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "dll") {
                return path;
            }
        }
    }
    panic!("the install has a dll");
}

#[test]
fn upgrade_applies_a_saved_plan_only_while_its_inputs_are_unchanged() {
    let sandbox = Sandbox::new();
    let plan = sandbox.path().join("plan.json");
    let ran = sandbox
        .run(&["plan", "--to", "4.2", "--out", plan.to_str().unwrap()])
        .expect(0);
    assert!(ran.stdout.contains("Summary: "), "{}", ran.stdout);
    let saved: Value = serde_json::from_slice(&std::fs::read(&plan).unwrap()).unwrap();
    assert_eq!(saved["to"], "4.2");
    assert_eq!(saved["inputs"]["packages"].as_array().unwrap().len(), 2);

    // `-` is standard output, and only the plan is there.
    let ran = sandbox
        .run(&["plan", "--to", "4.2", "--out", "-"])
        .expect(0);
    let listed: Value = serde_json::from_str(&ran.stdout).unwrap();
    assert_eq!(listed["inputs"], saved["inputs"]);
    assert!(!sandbox.path().join("-").exists());

    // A product file changed since the plan was made: refused, nothing changed.
    let file = a_product_file(&sandbox);
    let original = std::fs::read(&file).unwrap();
    std::fs::write(&file, b"patched by hand").unwrap();
    let before = sandbox.install_digests();
    let ran = sandbox
        .run(&["upgrade", "--plan", plan.to_str().unwrap()])
        .expect(2);
    assert!(
        ran.stderr.contains("product files changed"),
        "{}",
        ran.stderr
    );
    assert!(ran.stderr.contains("nothing was changed"), "{}", ran.stderr);
    assert_eq!(sandbox.install_digests(), before);
    // Another version than the plan's: refused.
    std::fs::write(&file, &original).unwrap();
    let ran = sandbox
        .run(&["upgrade", "--to", "4.5", "--plan", plan.to_str().unwrap()])
        .expect(2);
    assert!(ran.stderr.contains("not 4.5"), "{}", ran.stderr);

    // Unchanged again: the plan is applied.
    let done = sandbox
        .run_playing_dba(&["upgrade", "--plan", plan.to_str().unwrap(), "--json"])
        .expect(0)
        .json();
    assert_eq!(done["outcome"], "completed");
    assert_eq!(done["version"], "4.2");
    // The install moved on: the plan no longer applies.
    let ran = sandbox
        .run(&["upgrade", "--plan", plan.to_str().unwrap()])
        .expect(2);
    assert!(ran.stderr.contains("starts at 4.0"), "{}", ran.stderr);
}

/// A script with what differs between two renderings of the same work made fixed: the time
/// it was written, and the machine id (a sandbox without a journal yet has no lasting one, so
/// each command makes its own), wherever it appears (header, marks, drop guards).
fn same_script(script: &str) -> String {
    let field = |name: &str| {
        script
            .lines()
            .find_map(|l| l.strip_prefix(&format!("-- {name}:")))
            .unwrap_or_else(|| panic!("the header has its {name}:\n{script}"))
            .trim()
            .to_string()
    };
    let (machine, written) = (field("machine"), field("written"));
    assert!(!machine.is_empty() && !written.is_empty(), "{script}");
    script
        .replace(&machine, "<machine>")
        .replace(&written, "<written>")
}

#[test]
fn sql_script_json_is_one_object_and_out_dash_is_standard_output() {
    let sandbox = Sandbox::new();
    let text = sandbox.run(&["sql-script", "--to", "4.5"]).expect(0).stdout;
    let json = sandbox
        .run(&["sql-script", "--to", "4.5", "--json"])
        .expect(0)
        .json();
    let script = json["script"].as_str().expect("the script, as a string");
    assert_eq!(same_script(script), same_script(&text));
    let dash = sandbox
        .run(&["sql-script", "--to", "4.5", "--out", "-"])
        .expect(0)
        .stdout;
    assert_eq!(same_script(&dash), same_script(&text));
    assert!(!sandbox.path().join("-").exists());
}

#[test]
fn journal_commands_take_the_config_from_hubup_config_like_every_other_command() {
    let sandbox = Sandbox::new();
    sandbox
        .run_playing_dba(&["upgrade", "--to", "4.1"])
        .expect(0);
    let ran = Ran::of(
        hubup()
            .args(["journal", "verify"])
            .env("HUBUP_CONFIG", sandbox.config())
            .output_retrying()
            .unwrap(),
    )
    .expect(0);
    assert!(
        ran.stdout
            .contains(&sandbox.journal().display().to_string()),
        "{}",
        ran.stdout
    );
}
