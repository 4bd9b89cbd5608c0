//! Test support shared by the integration tests that drive the real `hubup` binary: one helper
//! builds a scenario (a sandbox install, its packages, config and journal, via
//! `hubup demo --setup-only`), others run commands and read results.
#![allow(dead_code)]

pub mod rabbit;
pub mod tds;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The binary under test.
pub fn hubup() -> Command {
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
                .output()
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
        Run::from(command.output().expect("run hubup"))
    }

    /// `hubup status --json` of this scenario.
    /// `hubup status --json` of this scenario (exit 0: nothing pending, or 4: a run is
    /// unfinished; both are a status read in full).
    pub fn status(&self) -> Value {
        let run = self.run(&["status", "--json"]);
        let code = if run.code == 4 { 4 } else { 0 };
        run.expect(code).json()
    }

    /// (version, install-tree digest, applicationHost.config digest).
    pub fn digests(&self) -> (String, String, String) {
        let status = self.status();
        (
            status["version"].as_str().unwrap_or_default().to_string(),
            status["tree_digest"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            status["apphost_digest"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        )
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
        let status = Run::from(command.output().expect("run hubup status"))
            .expect(0)
            .json();
        (
            status["version"].as_str().unwrap_or_default().to_string(),
            status["tree_digest"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            status["apphost_digest"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        )
    }

    /// Waits (up to 10 s) until no process holds the journal. After hubup is SIGKILLed, a
    /// command it was starting can still share the journal's open file (and so its lock)
    /// between fork and exec; that ends by itself within moments.
    #[allow(dead_code)]
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
            .output()
            .expect("run hubup fixture gen"),
    )
    .expect(0);
    let status = Run::from(
        hubup()
            .args(["status", "--json", "--root"])
            .arg(dir.path().join("Blue Prism"))
            .arg("--apphost")
            .arg(dir.path().join("inetsrv").join("applicationHost.config"))
            .output()
            .expect("run hubup status"),
    )
    .expect(0)
    .json();
    status["tree_digest"]
        .as_str()
        .expect("status has tree_digest")
        .to_string()
}
