//! Only an administrator steers hubup (issue 20), through the real binary: the config, the
//! journal, their folders and the packages folder must not be writable by others (a changing
//! command is refused with exit 2 and nothing changed, a reading one warns); hubup's own
//! folders are created private; packages must be signed by a trusted key; journaled command
//! lines are checked against the config before resume or rollback runs them.

mod support;

use std::fs;
use std::path::Path;

use support::{Run, Scenario, hubup};

/// Runs `args`, expects exit 2, every needle in stderr, and no change to the install, the IIS
/// config or the journal.
#[track_caller]
fn refused(scenario: &Scenario, args: &[&str], needles: &[&str]) -> String {
    let before = scenario.digests_without_config();
    let journal = scenario.path().join("journal").join("hubup.redb");
    let journal_before = fs::read(&journal).ok();
    let run = scenario.run(args).expect(2);
    for needle in needles {
        assert!(
            run.stderr.contains(needle),
            "{needle:?} in:\n{}",
            run.stderr
        );
    }
    assert_eq!(scenario.digests_without_config(), before, "nothing changed");
    assert!(!scenario.root().join("backup_4.0").exists());
    if journal_before.is_none() {
        assert!(!journal.exists(), "no journal was created");
    }
    run.stderr
}

#[cfg(unix)]
mod modes {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    pub fn chmod(path: &Path, mode: u32) {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
    }

    pub fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().mode() & 0o7777
    }

    #[test]
    fn world_writable_config_journal_folder_and_packages_stop_an_upgrade() {
        let scenario = Scenario::new();
        let config = scenario.config();
        let journal = scenario.path().join("journal");
        let packages = scenario.path().join("packages");
        fs::create_dir(&journal).unwrap();
        chmod(&config, 0o666);
        chmod(&journal, 0o777);
        chmod(&packages, 0o777);
        let stderr = refused(
            &scenario,
            &["upgrade", "--to", "4.5"],
            &[
                "refusing to upgrade",
                "nothing was changed",
                &format!("config file {}", config.display()),
                &format!("journal folder {}", journal.display()),
                &format!("packages folder {}", packages.display()),
                "everyone can write it (mode 666)",
                &format!("chmod 600 {}", config.display()),
                &format!("chmod 700 {}", journal.display()),
                &format!("chmod 700 {}", packages.display()),
            ],
        );
        assert!(stderr.contains("everyone can create"), "{stderr}");
        for command in [&["resume"][..], &["rollback"], &["rollback", "--to", "4.0"]] {
            refused(&scenario, command, &["refusing to", "chmod 600"]);
        }

        // A reading command warns and goes on.
        let plan = scenario.run(&["plan", "--to", "4.5"]).expect(0);
        assert!(plan.stderr.contains("warning:"), "{}", plan.stderr);
        assert!(
            plan.stderr
                .contains(&format!("chmod 600 {}", config.display()))
        );
        // `check` reports it as a failed prerequisite.
        let check = scenario.run(&["check", "--to", "4.5"]).expect(2);
        assert!(
            check.stdout.contains("[FAIL] who can change hubup's files"),
            "{}",
            check.stdout
        );

        // The suggested fixes are enough.
        chmod(&config, 0o600);
        chmod(&journal, 0o700);
        chmod(&packages, 0o700);
        scenario.run(&["upgrade", "--to", "4.5"]).expect(0);
    }

    #[test]
    fn a_config_owned_by_another_account_is_refused_naming_it() {
        let scenario = Scenario::new();
        std::os::unix::fs::chown(scenario.config(), Some(4242), None).unwrap();
        refused(
            &scenario,
            &["upgrade", "--to", "4.5"],
            &["uid 4242", "owns it", "chown root"],
        );
    }

    #[test]
    fn a_world_writable_folder_above_the_sandbox_is_refused_but_a_sticky_one_is_not() {
        let outer = tempfile::tempdir().unwrap();
        let shared = outer.path().join("shared");
        fs::create_dir(&shared).unwrap();
        let run = Run::from_output(
            hubup()
                .args(["demo", "--setup-only", "--dir"])
                .arg(shared.join("sandbox"))
                .output()
                .unwrap(),
        )
        .expect(0);
        drop(run);
        let config = shared.join("sandbox").join("hubup.toml");
        let upgrade = |code: i32| {
            let run = Run::from_output(
                hubup()
                    .args(["upgrade", "--to", "4.1", "--config"])
                    .arg(&config)
                    .output()
                    .unwrap(),
            );
            run.expect(code)
        };
        chmod(&shared, 0o777);
        let run = upgrade(2);
        assert!(
            run.stderr.contains(&format!(
                "folder above the config file {}",
                shared.display()
            )),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains("chmod go-w"), "{}", run.stderr);
        // Like /tmp: others may add entries but not replace the sandbox.
        chmod(&shared, 0o1777);
        upgrade(0);
        chmod(&shared, 0o755);
    }

    #[test]
    fn the_folders_hubup_creates_are_private() {
        let scenario = Scenario::new();
        scenario.run(&["upgrade", "--to", "4.2"]).expect(0);
        let journal = scenario.path().join("journal");
        for folder in [
            journal.clone(),
            journal.join("logs"),
            scenario.path().join("output"),
        ] {
            assert_eq!(mode(&folder), 0o700, "{}", folder.display());
        }
        assert_eq!(mode(&journal.join("hubup.redb")), 0o600);
        assert_eq!(
            mode(&scenario.config()),
            0o600,
            "the demo writes its config private"
        );
    }

    #[test]
    fn journal_commands_warn_about_a_journal_others_can_write() {
        let scenario = Scenario::new();
        scenario.run(&["upgrade", "--to", "4.1"]).expect(0);
        let journal = scenario.path().join("journal");
        chmod(&journal, 0o777);
        let run = scenario.run(&["journal", "verify"]).expect(0);
        assert!(
            run.stderr.contains("warning:")
                && run
                    .stderr
                    .contains(&format!("journal folder {}", journal.display())),
            "{}",
            run.stderr
        );
        chmod(&journal, 0o700);
        let run = scenario.run(&["journal", "verify"]).expect(0);
        assert!(!run.stderr.contains("warning:"), "{}", run.stderr);
    }
}
