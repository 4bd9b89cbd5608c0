//! Issue 16: `upgrade` and `rollback --to` ask before they change anything (on a terminal),
//! refuse off one without `--yes`, and a refused or declined run leaves every file of the
//! sandbox (install, IIS config, journal folder, config) byte for byte as it was; the global
//! options (`--yes`, `-q`, `-v`) are taken before or after the command.

use std::collections::BTreeMap;
use std::path::Path;

use crate::support::StartRetrying;
use crate::support::{AWAITING_DBA, Run, Scenario, hubup_asking};

/// Every file under `dir` (relative path) with its blake3, and every folder (no digest).
fn files_and_digests(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let name = path.strip_prefix(dir).unwrap().display().to_string();
            if entry.file_type().unwrap().is_dir() {
                out.insert(format!("{name}/"), String::new());
                folders.push(path);
            } else {
                let (digest, _) = hubup::Digest::of_file(&path).unwrap();
                out.insert(name, digest.to_hex());
            }
        }
    }
    out
}

/// `hubup <args> --config <scenario>` without `--yes`, standard input not a terminal.
fn asking(scenario: &Scenario, args: &[&str]) -> Run {
    let output = hubup_asking()
        .args(args)
        .arg("--config")
        .arg(scenario.config())
        .output_retrying()
        .expect("run hubup");
    Run::from_output(output)
}

/// A sandbox upgraded to 4.5 (with `--yes`), for `rollback --to`.
fn upgraded() -> Scenario {
    let scenario = Scenario::new();
    let run = scenario.run_playing_dba(&["upgrade", "--to", "4.5"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    scenario
}

#[test]
fn upgrade_off_a_terminal_without_yes_is_refused_naming_yes_and_changes_no_file() {
    let scenario = Scenario::new();
    let before = files_and_digests(scenario.path());
    let run = asking(&scenario, &["upgrade", "--to", "4.5"]).expect(2);
    assert!(run.stderr.contains("--yes"), "{}", run.stderr);
    assert!(run.stderr.contains("nothing was changed"), "{}", run.stderr);
    assert!(!run.stderr.contains("Apply this plan?"), "{}", run.stderr);
    assert_eq!(files_and_digests(scenario.path()), before);
    // A saved plan is the approval: it runs without --yes.
    let saved = scenario.path().join("saved-plan.json");
    scenario
        .run(&["plan", "--to", "4.1", "--out", saved.to_str().unwrap()])
        .expect(0);
    let run = asking(&scenario, &["upgrade", "--plan", saved.to_str().unwrap()]);
    assert!(
        run.code == 0 || run.code == AWAITING_DBA,
        "{}\n{}",
        run.stdout,
        run.stderr
    );
}

#[test]
fn a_missing_sql_password_is_refused_before_the_lock_file_and_the_log_are_made() {
    let scenario = Scenario::new();
    let config = std::fs::read_to_string(scenario.config()).unwrap();
    let edited = config.replacen(
        "auth = \"windows\"",
        "auth = \"sql\"\nuser = \"sqladmin\"\npassword_env = \"HUBUP_TEST_NO_SUCH_PW\"",
        1,
    );
    assert_ne!(
        edited, config,
        "the sandbox's config has auth = \"windows\""
    );
    std::fs::write(scenario.config(), edited).unwrap();
    let before = files_and_digests(scenario.path());
    let run = scenario.run(&["upgrade", "--to", "4.5"]).expect(2);
    assert!(
        run.stderr.contains("HUBUP_TEST_NO_SUCH_PW"),
        "{}",
        run.stderr
    );
    assert_eq!(files_and_digests(scenario.path()), before);
}

#[test]
fn rollback_to_off_a_terminal_without_yes_is_refused_and_plain_rollback_does_not_ask() {
    let scenario = upgraded();
    let before = files_and_digests(scenario.path());
    let run = asking(&scenario, &["rollback", "--to", "4.0"]).expect(2);
    assert!(run.stderr.contains("--yes"), "{}", run.stderr);
    assert_eq!(files_and_digests(scenario.path()), before);
    // Nothing interrupted: plain rollback answers without asking (nothing to do).
    let run = asking(&scenario, &["rollback"]).expect(0);
    assert!(run.stdout.contains("nothing to do"), "{}", run.stdout);
    // The same command with --yes, given before the command, runs.
    let run = Run::from_output(
        hubup_asking()
            .args(["-y", "--config"])
            .arg(scenario.config())
            .args(["rollback", "--to", "4.0"])
            .output_retrying()
            .unwrap(),
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.contains("rolled back to 4.0"), "{}", run.stdout);
}

#[test]
fn quiet_prints_no_step_lines_and_verbose_prints_each_op() {
    let quiet = Scenario::new();
    let run = Run::from_output(
        hubup_asking()
            .args(["-q", "upgrade", "--to", "4.1", "--config"])
            .arg(quiet.config())
            .arg("--yes")
            .output_retrying()
            .unwrap(),
    );
    assert!(run.code == 0 || run.code == AWAITING_DBA, "{}", run.stderr);
    assert!(!run.stderr.contains(" ops\n"), "{}", run.stderr);
    assert!(!run.stderr.contains(" op 0: "), "{}", run.stderr);
    // The result line is still there (stdout on success, stderr when the DBA is waited for).
    assert!(
        run.stdout.contains("upgraded to 4.1") || run.stderr.contains("waiting for its database"),
        "{}\n{}",
        run.stdout,
        run.stderr
    );

    let verbose = Scenario::new();
    let run = Run::from_output(
        hubup_asking()
            .args(["upgrade", "-v", "--to", "4.1", "-y", "--config"])
            .arg(verbose.config())
            .output_retrying()
            .unwrap(),
    );
    assert!(run.code == 0 || run.code == AWAITING_DBA, "{}", run.stderr);
    assert!(run.stderr.contains(" ops\n"), "{}", run.stderr);
    assert!(
        run.stderr.contains("step 4.0 -> 4.1 op 0: "),
        "{}",
        run.stderr
    );
}

/// `upgrade` with `-v` or `-vv` from 4.1 (whose step runs commands), standard error a pipe.
fn upgraded_verbosely(flag: &str) -> Run {
    let scenario = Scenario::at_version("4.1");
    let run = Run::from_output(
        hubup_asking()
            .args([flag, "-y", "upgrade", "--to", "4.2", "--config"])
            .arg(scenario.config())
            .output_retrying()
            .unwrap(),
    );
    assert!(run.code == 0 || run.code == AWAITING_DBA, "{}", run.stderr);
    run
}

#[test]
fn very_verbose_adds_each_command_run_and_no_output_off_a_terminal_is_coloured() {
    let verbose = upgraded_verbosely("-v");
    let very = upgraded_verbosely("-vv");
    // 4.1 -> 4.2 grants the new sites' pools their folders with icacls: -v names the op,
    // -vv also logs the command line as it runs it (an INFO record of `hubup::command`).
    let runs_icacls = |stderr: &str| {
        stderr
            .lines()
            .filter(|line| line.contains("INFO") && line.contains("icacls"))
            .count()
    };
    assert_eq!(runs_icacls(&very.stderr), 2, "{}", very.stderr);
    assert_eq!(runs_icacls(&verbose.stderr), 0, "{}", verbose.stderr);
    assert!(
        very.stderr.contains("step 4.1 -> 4.2 op 0: "),
        "{}",
        very.stderr
    );
    // Standard error is a pipe here: no terminal escape codes, at any verbosity.
    for run in [&verbose, &very] {
        assert!(!run.stderr.contains('\u{1b}'), "{:?}", run.stderr);
    }
}

#[test]
fn a_damaged_package_with_yes_is_refused_leaving_no_journal_and_no_log() {
    let scenario = Scenario::new();
    let package = scenario
        .path()
        .join("packages/BluePrismHubAndInteractUpdate4.3.bin");
    let mut bytes = std::fs::read(&package).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&package, bytes).unwrap();
    let before = files_and_digests(scenario.path());
    let run = scenario.run(&["upgrade", "--to", "4.5"]).expect(2);
    assert!(run.stderr.contains("4.3.bin"), "{}", run.stderr);
    assert!(!run.stderr.contains("log:"), "{}", run.stderr);
    // The install lock's file stays (install_lock.rs says why); nothing else is new.
    let mut after = files_and_digests(scenario.path());
    after.retain(|name, _| !name.ends_with("hubup.lock"));
    assert_eq!(after, before);
}

/// The prompt, on a pseudo-terminal (Unix only: the Windows build's tests run under Wine).
#[cfg(unix)]
mod on_a_terminal {
    use super::*;

    /// Runs `hubup <args> --config <scenario>` without `--yes`, standard input and error on a
    /// terminal on which `answer` is typed. Returns its result; stderr is what the terminal
    /// showed (the answer's echo included).
    fn answered(scenario: &Scenario, args: &[&str], answer: &str) -> Run {
        let mut command = hubup_asking();
        command.args(args).arg("--config").arg(scenario.config());
        crate::support::terminal::run_on_terminal(command, answer)
    }

    #[test]
    fn answering_no_cancels_with_130_and_leaves_every_file_as_it_was() {
        let scenario = Scenario::new();
        let before = files_and_digests(scenario.path());
        // Ctrl-D at the start of a line: the end of input, which is no `yes` either.
        for answer in ["no\n", "y\n", "YES please\n", "\u{4}"] {
            let run = answered(&scenario, &["upgrade", "--to", "4.5"], answer);
            assert_eq!(run.code, 130, "{answer:?}: {}\n{}", run.stdout, run.stderr);
            assert!(run.stderr.contains("Summary: "), "{}", run.stderr);
            assert!(
                run.stderr
                    .contains("Apply this plan? Only 'yes' is accepted:"),
                "{}",
                run.stderr
            );
            assert!(
                run.stderr.contains("cancelled, nothing changed"),
                "{}",
                run.stderr
            );
            assert_eq!(files_and_digests(scenario.path()), before, "{answer:?}");
        }
    }

    #[test]
    fn answering_yes_runs_and_rollback_to_asks_the_same_way() {
        let scenario = Scenario::new();
        let run = answered(&scenario, &["upgrade", "--to", "4.1"], "yes\n");
        assert!(
            run.code == 0 || run.code == AWAITING_DBA,
            "{}\n{}",
            run.stdout,
            run.stderr
        );
        assert!(run.stderr.contains("Plan: 4.0 -> 4.1"), "{}", run.stderr);
        assert!(scenario.path().join("journal").join("hubup.redb").exists());
        let finished = scenario.run_playing_dba(&["resume"]);
        assert_eq!(finished.code, 0, "{}", finished.stderr);

        let before = files_and_digests(scenario.path());
        let run = answered(&scenario, &["rollback", "--to", "4.0"], "no\n");
        assert_eq!(run.code, 130, "{}\n{}", run.stdout, run.stderr);
        assert!(run.stderr.contains("Rollback to 4.0"), "{}", run.stderr);
        assert_eq!(files_and_digests(scenario.path()), before);
        let run = answered(&scenario, &["rollback", "--to", "4.0"], "yes\n");
        assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
        assert!(run.stdout.contains("rolled back to 4.0"), "{}", run.stdout);
    }
}
