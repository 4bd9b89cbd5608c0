//! Test support shared by every module of the integration test binary
//! (`tests/integration/main.rs`). This file builds a scenario (a sandbox install, its
//! packages, config and journal, via `hubup demo --setup-only`) and runs the real `hubup`
//! binary on it; the submodules hold the rest:
//!
//! - `journal`: realistic journal payloads (every op and payload kind), sample journals and
//!   direct access to the redb tables for tampering; `variants`: the variants of every
//!   journaled enum, named by exhaustive matches and by the types themselves;
//! - `package`: update packages built from a few files, and zip header patching;
//! - `tds`: a SQL Server stand-in speaking TDS on 127.0.0.1;
//! - `rabbit`: a private RabbitMQ broker (Unix only);
//! - `rng`: the one seeded random-number generator of the tests;
//! - `alloc`: the counting global allocator, and `alone`: running one test in a process of
//!   its own (for measurements that other tests running in parallel would disturb);
//! - `snapshot`: comparing output with committed snapshot files;
//! - `start`: starting programs, retried when the system refused the start for a moment;
//! - `sqlcmd`: a DBA's `sqlcmd -i FILE` (batches at `GO`, `:on error exit`, `$(NAME)`), for
//!   the real-server tests.

pub mod alloc;
pub mod alone;
pub mod journal;
pub mod package;
// The broker is a Linux package; the Windows test run (Wine) has none, and its tests are Unix only.
#[cfg(unix)]
pub mod rabbit;
pub mod rng;
pub mod snapshot;
pub mod sqlcmd;
pub mod start;
pub mod tds;
#[cfg(unix)]
pub mod terminal;
pub mod tls_server;
pub mod variants;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
#[cfg(unix)]
use std::time::Duration;

use serde_json::Value;

pub use start::StartRetrying;

/// The exit code of a step that waits for its DBA (script mode).
pub const AWAITING_DBA: i32 = 7;

/// The binary under test, with `--yes`: tests run it off a terminal, where `upgrade` and
/// `rollback --to` refuse without it (`confirmation.rs` tests the refusal and the prompt,
/// starting the binary without this).
pub fn hubup() -> Command {
    let mut command = hubup_asking();
    command.arg("--yes");
    command
}

/// The binary under test without `--yes`.
pub fn hubup_asking() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hubup"));
    command
        .env_remove("HUBUP_CONFIG")
        .env_remove("HUBUP_TEST_FAULTS");
    command
}

/// A sandbox: install, IIS config, packages, config file and journal under one temp dir.
pub struct Scenario {
    pub dir: tempfile::TempDir,
}

/// What a finished command gave.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(output: Output) -> Run {
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// What a command run by the caller gave.
    pub fn from_output(output: Output) -> Run {
        Run::from(output)
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(self.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    #[track_caller]
    pub fn expect(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "exit code\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

impl Scenario {
    /// A 4.0 sandbox (small fixture), as `hubup demo --setup-only` builds it.
    pub fn new() -> Scenario {
        Scenario::at_version("4.0")
    }

    /// A sandbox whose install is at `version`.
    pub fn at_version(version: &str) -> Scenario {
        let dir = tempfile::tempdir().expect("temp dir");
        let run = Run::from(
            hubup()
                .args(["demo", "--setup-only", "--from", version, "--dir"])
                .arg(dir.path())
                .output_retrying()
                .expect("run hubup demo"),
        );
        run.expect(0);
        Scenario { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn config(&self) -> PathBuf {
        self.path().join("hubup.toml")
    }

    pub fn root(&self) -> PathBuf {
        self.path().join("install").join("Blue Prism")
    }

    pub fn apphost(&self) -> PathBuf {
        self.path().join("inetsrv").join("applicationHost.config")
    }

    /// Runs `hubup <args> --config <scenario config>`.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_env(args, &[])
    }

    pub fn run_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut command = hubup();
        command.args(args).arg("--config").arg(self.config());
        for (k, v) in env {
            command.env(k, v);
        }
        Run::from(command.output_retrying().expect("run hubup"))
    }

    /// Runs `hubup <args>`, then, while a step waits for its DBA (script mode, exit 7), plays
    /// the DBA as the demo does: `hubup resume --dba-confirmed` (the sandbox has no SQL
    /// Server). Returns the last command's result.
    pub fn run_playing_dba(&self, args: &[&str]) -> Run {
        self.run_with_env_playing_dba(args, &[])
    }

    pub fn run_with_env_playing_dba(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut run = self.run_with_env(args, env);
        let mut rounds = 0;
        while run.code == AWAITING_DBA {
            rounds += 1;
            assert!(rounds <= 5, "more DBA stops than steps: {}", run.stderr);
            run = self.run_with_env(&["resume", "--dba-confirmed"], env);
        }
        run
    }

    /// `hubup status --json` of this scenario (exit 0: nothing pending, 4: a run is
    /// unfinished, or 1: the journal cannot be read, so whether one is pending is unknown;
    /// each is a status of the install read in full).
    pub fn status(&self) -> Value {
        let run = self.run(&["status", "--json"]);
        let code = match run.code {
            4 => 4,
            1 if run.stdout.contains(r#""pending":"unknown""#) => 1,
            _ => 0,
        };
        run.expect(code).json()
    }

    /// (version, install-tree digest, applicationHost.config digest).
    pub fn digests(&self) -> (String, String, String) {
        digests_in(&self.status())
    }

    /// (version, install-tree digest, applicationHost.config digest), read without the config
    /// (for tests that break the config on purpose).
    pub fn digests_without_config(&self) -> (String, String, String) {
        let mut command = hubup();
        command
            .args(["status", "--json", "--root"])
            .arg(self.root())
            .arg("--apphost")
            .arg(self.apphost());
        digests_in(
            &Run::from(command.output_retrying().expect("run hubup status"))
                .expect(0)
                .json(),
        )
    }

    /// Starts `hubup <args> --config <scenario config>` with `env` added, kills it (SIGKILL on
    /// Unix) after `delay`, and waits until it is gone and the journal is free. Returns whether
    /// it had already finished with exit code 0. (The kill tests are Unix only.)
    #[cfg(unix)]
    pub fn run_killed_after(&self, args: &[&str], env: &[(&str, &str)], delay: Duration) -> bool {
        let mut command = hubup();
        command.args(args).arg("--config").arg(self.config());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn_retrying()
            .expect("spawn hubup");
        std::thread::sleep(delay);
        // It may have exited already; then there is nothing to kill and the status says how.
        let _ = child.kill();
        let status = child.wait().expect("wait for hubup");
        self.wait_for_journal();
        status.success()
    }

    /// Waits (up to 10 s) until no process holds the journal. After hubup is SIGKILLed, a
    /// command it was starting can still share the journal's open file (and so its lock)
    /// between fork and exec; that ends by itself within moments.
    pub fn wait_for_journal(&self) {
        let journal = self.path().join("journal").join("hubup.redb");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while journal.exists() && std::time::Instant::now() < deadline {
            if self.run(&["journal", "verify"]).code != 6 {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// The sandbox machine's state (`machine.json`: certificates, bindings, services, ACLs).
    pub fn machine(&self) -> Value {
        serde_json::from_slice(&std::fs::read(self.path().join("machine.json")).unwrap()).unwrap()
    }

    /// Writes the sandbox machine's state back.
    pub fn save_machine(&self, machine: &Value) {
        std::fs::write(
            self.path().join("machine.json"),
            serde_json::to_vec_pretty(machine).unwrap(),
        )
        .unwrap();
    }

    /// The journal's entries as JSON objects (`hubup journal export --json`); none if no
    /// journal file exists yet (a run killed before it wrote anything).
    pub fn journal(&self) -> Vec<Value> {
        if !self.path().join("journal").join("hubup.redb").exists() {
            return Vec::new();
        }
        let run = self.run(&["journal", "export", "--json"]).expect(0);
        run.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).expect("export line is JSON"))
            .collect()
    }

    /// The texts of the journal's `note` entries, in order.
    pub fn notes(&self) -> Vec<String> {
        self.journal()
            .iter()
            .filter(|e| e["payload"]["kind"] == "note")
            .map(|e| {
                e["payload"]["text"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    }

    /// The kinds of the journal's entries, in order (`run_started`, `step_planned`, ...).
    pub fn kinds(&self) -> Vec<String> {
        self.journal()
            .iter()
            .map(|e| {
                e["payload"]["kind"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    }
}

/// How many of `kinds` are `kind`.
pub fn count_of(kinds: &[String], kind: &str) -> usize {
    kinds.iter().filter(|k| *k == kind).count()
}

/// (version, install-tree digest, applicationHost.config digest) of a `status --json` output.
fn digests_in(status: &Value) -> (String, String, String) {
    let field = |name: &str| status[name].as_str().unwrap_or_default().to_string();
    (
        field("version"),
        field("tree_digest"),
        field("apphost_digest"),
    )
}

/// Makes `file` write-protected for as long as the guard lives: immutable (`chattr +i`) where
/// that works (root on ext4: not even root may write it then), otherwise mode 0444.
pub struct WriteProtected {
    file: PathBuf,
    immutable: bool,
}

impl WriteProtected {
    pub fn new(file: &Path) -> WriteProtected {
        let mut permissions = std::fs::metadata(file).unwrap().permissions();
        permissions.set_readonly(true);
        std::fs::set_permissions(file, permissions).unwrap();
        let immutable = Command::new("chattr")
            .arg("+i")
            .arg(file)
            .output_retrying()
            .is_ok_and(|o| o.status.success());
        WriteProtected {
            file: file.to_path_buf(),
            immutable,
        }
    }
}

impl WriteProtected {
    /// True if the file is immutable (`chattr +i` worked), not only mode 0444.
    pub fn immutable(&self) -> bool {
        self.immutable
    }
}

impl Drop for WriteProtected {
    fn drop(&mut self) {
        if self.immutable {
            let _ = Command::new("chattr")
                .arg("-i")
                .arg(&self.file)
                .output_retrying();
        }
    }
}

/// The install-tree digest of the generator's expected install of `version`.
pub fn expected_tree_digest(version: &str) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    Run::from(
        hubup()
            .args([
                "fixture",
                "gen",
                "--size",
                "small",
                "--version",
                version,
                "--out",
            ])
            .arg(dir.path())
            .output_retrying()
            .expect("run hubup fixture gen"),
    )
    .expect(0);
    let status = Run::from(
        hubup()
            .args(["status", "--json", "--root"])
            .arg(dir.path().join("Blue Prism"))
            .arg("--apphost")
            .arg(dir.path().join("inetsrv").join("applicationHost.config"))
            .output_retrying()
            .expect("run hubup status"),
    )
    .expect(0)
    .json();
    status["tree_digest"]
        .as_str()
        .expect("status has tree_digest")
        .to_string()
}
