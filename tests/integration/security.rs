//! Only an administrator steers hubup (issue 20), through the real binary: the config, the
//! journal, their folders and the packages folder must not be writable by others (a changing
//! command is refused with exit 2 and nothing changed, a reading one warns); hubup's own
//! folders are created private; packages must be signed by a trusted key; journaled command
//! lines are checked against the config before resume or rollback runs them.

use crate::support::StartRetrying;
use std::fs;
use std::path::Path;

use crate::support::{Run, Scenario, hubup};

/// Runs `args`, expects exit 2, every needle in stderr, and no change to the install, the IIS
/// config or the journal's entries.
#[track_caller]
fn refused(scenario: &Scenario, args: &[&str], needles: &[&str]) -> String {
    let before = scenario.digests_without_config();
    let entries_before = journal_entries(scenario);
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
    assert_eq!(
        journal_entries(scenario),
        entries_before,
        "nothing journaled"
    );
    run.stderr
}

/// How many entries the scenario's journal holds (0 without a journal), read without the
/// config (which a test may have made unusable).
fn journal_entries(scenario: &Scenario) -> usize {
    let journal = scenario.path().join("journal").join("hubup.redb");
    if !journal.exists() {
        return 0;
    }
    let run = Run::from_output(
        hubup()
            .args(["journal", "export", "--json", "--journal"])
            .arg(&journal)
            .output_retrying()
            .unwrap(),
    )
    .expect(0);
    run.stdout.lines().filter(|l| !l.trim().is_empty()).count()
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
        scenario
            .run_playing_dba(&["upgrade", "--to", "4.5"])
            .expect(0);
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
                .output_retrying()
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
                    .output_retrying()
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
        scenario
            .run_playing_dba(&["upgrade", "--to", "4.2"])
            .expect(0);
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

mod signatures {
    use super::*;

    fn package(scenario: &Scenario, to: &str) -> std::path::PathBuf {
        scenario
            .path()
            .join("packages")
            .join(format!("BluePrismHubAndInteractUpdate{to}.bin"))
    }

    /// Rewrites the zip at `path` without its `signature.json`, or with `replacement` instead.
    fn replace_signature(path: &Path, replacement: Option<&[u8]>) {
        use std::io::Write;
        let bytes = fs::read(path).unwrap();
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let mut out = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for index in 0..archive.len() {
            let entry = archive.by_index_raw(index).unwrap();
            if entry.name_raw() != hubup::SIGNATURE_ENTRY.as_bytes() {
                out.raw_copy_file(entry).unwrap();
            }
        }
        if let Some(signature) = replacement {
            out.start_file(
                hubup::SIGNATURE_ENTRY,
                zip::write::SimpleFileOptions::default(),
            )
            .unwrap();
            out.write_all(signature).unwrap();
        }
        fs::write(path, out.finish().unwrap().into_inner()).unwrap();
    }

    fn signature_of(path: &Path) -> Vec<u8> {
        use std::io::Read;
        let mut archive = zip::ZipArchive::new(fs::File::open(path).unwrap()).unwrap();
        let mut bytes = Vec::new();
        archive
            .by_name(hubup::SIGNATURE_ENTRY)
            .unwrap()
            .read_to_end(&mut bytes)
            .unwrap();
        bytes
    }

    fn fixture_key() -> String {
        hubup::fixture_signing_key().public().to_string()
    }

    #[test]
    fn an_unsigned_package_is_refused_before_any_change_naming_the_expected_key() {
        let scenario = Scenario::new();
        replace_signature(&package(&scenario, "4.3"), None);
        for command in ["upgrade", "plan", "check"] {
            refused(
                &scenario,
                &[command, "--to", "4.5"],
                &[
                    "BluePrismHubAndInteractUpdate4.3.bin is not signed",
                    "[packages] trusted_keys",
                    &fixture_key(),
                ],
            );
        }
        // Still readable: `package verify` reports it unsigned.
        let run = Run::from_output(
            hubup()
                .args(["package", "verify"])
                .arg(package(&scenario, "4.3"))
                .output_retrying()
                .unwrap(),
        )
        .expect(0);
        assert!(
            run.stdout.contains("signature:      unsigned"),
            "{}",
            run.stdout
        );
        // An administrator may allow unsigned packages; check says it loudly.
        let config = fs::read_to_string(scenario.config()).unwrap();
        fs::write(
            scenario.config(),
            config.replace("[packages]\n", "[packages]\nallow_unsigned = true\n"),
        )
        .unwrap();
        let check = scenario.run(&["check", "--to", "4.5"]).expect(0);
        assert!(
            check
                .stdout
                .contains("[warn] 4.2 -> 4.3: package signature: unsigned"),
            "{}",
            check.stdout
        );
        scenario
            .run_playing_dba(&["upgrade", "--to", "4.5"])
            .expect(0);
    }

    #[test]
    fn a_package_signed_by_an_untrusted_key_or_with_a_foreign_signature_is_refused() {
        let scenario = Scenario::new();
        let key = scenario.path().join("other.key");
        let made = Run::from_output(
            hubup()
                .args(["package", "keygen", "--out"])
                .arg(&key)
                .output_retrying()
                .unwrap(),
        )
        .expect(0);
        let public = made
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("public key: "))
            .expect("keygen prints the public key")
            .to_string();
        Run::from_output(
            hubup()
                .args(["package", "sign", "--signer", "Mallory", "--key"])
                .arg(&key)
                .arg(package(&scenario, "4.2"))
                .output_retrying()
                .unwrap(),
        )
        .expect(0);
        refused(
            &scenario,
            &["upgrade", "--to", "4.5"],
            &[
                "BluePrismHubAndInteractUpdate4.2.bin is signed by key",
                &public,
                "\"Mallory\"",
                "which the config does not trust",
                &format!("expected a signature by one of {}", fixture_key()),
            ],
        );

        // A genuine signature, but of another package's manifest.
        let scenario = Scenario::new();
        let foreign = signature_of(&package(&scenario, "4.1"));
        replace_signature(&package(&scenario, "4.4"), Some(&foreign));
        refused(
            &scenario,
            &["upgrade", "--to", "4.5"],
            &[
                "BluePrismHubAndInteractUpdate4.4.bin: its signature is not valid",
                "does not match the manifest",
            ],
        );
    }

    #[test]
    fn package_verify_reports_the_signer_and_with_a_config_whether_it_is_trusted() {
        let scenario = Scenario::new();
        let verify = |extra: &[&str], code: i32| {
            let mut command = hubup();
            command
                .args(["package", "verify"])
                .args(extra)
                .arg(package(&scenario, "4.1"));
            Run::from_output(command.output_retrying().unwrap()).expect(code)
        };
        let run = verify(&[], 0);
        assert!(
            run.stdout.contains(&format!(
                "signature:      signed by key {} (\"{}\")",
                fixture_key(),
                hubup::FIXTURE_SIGNER
            )),
            "{}",
            run.stdout
        );
        let config = scenario.config();
        let config = config.to_str().unwrap();
        let run = verify(&["--config", config], 0);
        assert!(
            run.stdout.contains("trusted by the config"),
            "{}",
            run.stdout
        );
        let json = verify(&["--config", config, "--json"], 0).json();
        assert_eq!(json["signer"]["key"], fixture_key());
        assert_eq!(json["trusted"], true);
        // A config that trusts another key refuses it.
        let other = hubup::SigningKey::from_seed([9; 32]).public().to_string();
        let text = fs::read_to_string(scenario.config()).unwrap();
        fs::write(scenario.config(), text.replace(&fixture_key(), &other)).unwrap();
        let run = verify(&["--config", config], 2);
        assert!(run.stderr.contains("does not trust"), "{}", run.stderr);
    }

    #[test]
    fn a_publisher_key_made_with_keygen_signs_packages_a_config_can_trust() {
        let scenario = Scenario::new();
        let key = scenario.path().join("publisher.key");
        let made = Run::from_output(
            hubup()
                .args(["package", "keygen", "--out"])
                .arg(&key)
                .output_retrying()
                .unwrap(),
        )
        .expect(0);
        let public = made
            .stdout
            .lines()
            .find_map(|l| l.strip_prefix("public key: "))
            .unwrap()
            .to_string();
        #[cfg(unix)]
        assert_eq!(modes::mode(&key), 0o600, "the secret key is private");
        for to in ["4.1", "4.2", "4.3", "4.4", "4.5"] {
            Run::from_output(
                hubup()
                    .args(["package", "sign", "--key"])
                    .arg(&key)
                    .arg(package(&scenario, to))
                    .output_retrying()
                    .unwrap(),
            )
            .expect(0);
        }
        // Still trusting only the fixture key: refused.
        refused(&scenario, &["upgrade", "--to", "4.5"], &[&public]);
        let text = fs::read_to_string(scenario.config()).unwrap();
        fs::write(scenario.config(), text.replace(&fixture_key(), &public)).unwrap();
        scenario
            .run_playing_dba(&["upgrade", "--to", "4.5"])
            .expect(0);
    }
}

/// Journaled command lines are rendered again from the config before resume or rollback runs
/// them (the SIGKILL-style crash and `sh` templates are Unix-only).
#[cfg(unix)]
mod journaled_commands {
    use super::*;
    use hubup::{CommandLine, Journal, Op, Payload};

    /// A run that stopped part way through the step 4.1 -> 4.2, right after its first command
    /// (a folder ACL grant; stopping sites, pools and services are host ops), with that
    /// command's op index.
    fn interrupted() -> (Scenario, usize) {
        let scenario = Scenario::at_version("4.1");
        let plan = scenario
            .run(&["plan", "--to", "4.2", "--json"])
            .expect(0)
            .json();
        let first_command = plan["steps"][0]["ops"]
            .as_array()
            .unwrap()
            .iter()
            .find(|op| op["kind"] == "command")
            .expect("a command in 4.1 -> 4.2")["index"]
            .as_u64()
            .unwrap() as usize;
        let run = scenario.run_with_env(
            &["upgrade", "--to", "4.2"],
            &[(
                "HUBUP_TEST_FAULTS",
                &format!("crash-after={}", first_command + 1),
            )],
        );
        assert_ne!(run.code, 0, "the simulated crash ends the process");
        scenario.wait_for_journal();
        (scenario, first_command)
    }

    fn journal_path(scenario: &Scenario) -> std::path::PathBuf {
        scenario.path().join("journal").join("hubup.redb")
    }

    /// Rewrites the journal as someone who can write its file would: the same entries, with
    /// the first step's ops changed by `edit`, in a consistent new chain.
    fn plant(scenario: &Scenario, edit: impl Fn(&mut Vec<Op>)) {
        let path = journal_path(scenario);
        let entries = Journal::open(&path).unwrap().entries().unwrap();
        fs::remove_file(&path).unwrap();
        let mut journal = Journal::create(&path).unwrap();
        let mut edited = false;
        for entry in entries {
            journal.set_machine(entry.machine.clone());
            let mut payload = entry.payload;
            if let Payload::StepPlanned { ops, .. } = &mut payload
                && !edited
            {
                edit(ops);
                edited = true;
            }
            journal.append(entry.run, &[payload]).unwrap();
        }
        assert!(edited);
    }

    #[test]
    fn a_planted_journal_command_is_refused_by_resume_and_rollback_and_never_runs() {
        let (scenario, grant) = interrupted();
        let pwned = scenario.path().join("PWNED");
        let evil = CommandLine {
            program: "sh".into(),
            args: vec!["-c".into(), format!("touch '{}'", pwned.display())],
        };
        plant(&scenario, |ops| match &mut ops[grant] {
            Op::Command(acl) => acl.undo = Some(evil.clone()),
            other => panic!("op {grant} is a folder ACL grant, not {other:?}"),
        });
        scenario.run(&["journal", "verify"]).expect(0);
        for args in [&["rollback"][..], &["resume"], &["rollback", "--to", "4.1"]] {
            let stderr = refused(
                &scenario,
                args,
                &[
                    "refusing to run 1 journaled command line",
                    &format!("step 4.1 -> 4.2 op {grant} (give "),
                    &format!("journaled: sh -c \"touch '{}'\"", pwned.display()),
                    "the config's [commands] folder_acl_revoke: sh -c",
                    "--accept-changed-commands",
                ],
            );
            assert!(!pwned.exists(), "the planted command never ran\n{stderr}");
        }
    }

    #[test]
    fn a_journaled_value_that_breaks_out_of_quoting_is_refused() {
        let (scenario, _) = interrupted();
        plant(&scenario, |ops| {
            for op in ops.iter_mut() {
                if let Op::Command(command) = op
                    && let hubup::CommandPurpose::StartSite { site } = &mut command.purpose
                {
                    // Rendered from the config's own template, but with a value that would
                    // end a quoted PowerShell string.
                    *site = "Hub'; calc; '".into();
                    let rendered = format!("/site.name:{site}");
                    for line in [&mut command.apply, command.undo.as_mut().unwrap()] {
                        *line.args.last_mut().unwrap() = rendered.clone();
                    }
                    return;
                }
            }
            panic!("a site start by command (a new site) in 4.1 -> 4.2");
        });
        refused(
            &scenario,
            &["rollback"],
            &["a character a shell could interpret"],
        );
    }

    #[test]
    fn a_template_changed_during_a_run_stops_resume_until_the_administrator_accepts_it() {
        let (scenario, _) = interrupted();
        let text = fs::read_to_string(scenario.config()).unwrap();
        let changed = text.replace(
            "\"appcmd\", \"start\", \"site\"",
            "\"appcmd\", \"start\", \"site\", \"/quiet\"",
        );
        assert_ne!(text, changed);
        fs::write(scenario.config(), changed).unwrap();
        let stderr = refused(
            &scenario,
            &["resume"],
            &["journaled: sh", "appcmd start site", "/quiet"],
        );
        assert!(stderr.contains("start_site"), "{stderr}");
        // Script mode: the step then waits for its DBA (exit 7), and the demo plays the DBA.
        let run = scenario
            .run(&["resume", "--accept-changed-commands"])
            .expect(7);
        assert!(
            run.stderr.contains("accepted a changed command"),
            "{}",
            run.stderr
        );
        let notes: Vec<String> = scenario.notes();
        assert!(
            notes
                .iter()
                .any(|n| n.contains("--accept-changed-commands")),
            "{notes:?}"
        );
        // Each command that would run the changed lines needs the acceptance again.
        scenario
            .run(&["resume", "--dba-confirmed", "--accept-changed-commands"])
            .expect(0);
        assert_eq!(scenario.digests().0, "4.2");
    }
}
