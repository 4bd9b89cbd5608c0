//! Secrets never reach the journal: a run's config record built from a config with passwords
//! (in every form the config module might hand over) leaves no trace of them in the journal
//! file, in `journal show`, in `journal export` or in `report`, with a plan of every op kind
//! ([`all_ops`]) journaled and rendered next to it.

use crate::support::StartRetrying;

use crate::support::journal::{all_ops, run_started, step};
use hubup::{ConfigRecord, Journal, OpOutcome, Payload, REDACTED, RunId, Version};

const PASSWORDS: [&str; 5] = [
    "Hunter2-Sql-Pa55",
    "Rabbit-Pa55word",
    "ConnPa55-xyzzy",
    "Api-Token-0451",
    "Inline-Pa55-42",
];

fn config_with_secrets() -> ConfigRecord {
    ConfigRecord::from_pairs([
        ("sql.server", "SQL01"),
        ("sql.user", "hubsvc"),
        ("sql.password", PASSWORDS[0]),
        ("rabbitmq.Pwd", PASSWORDS[1]),
        (
            "hub.ConnectionString",
            &format!(
                "Server=SQL01;Database=HubDB;User Id=hubsvc;Password={}",
                PASSWORDS[2]
            )[..],
        ),
        ("decision.api_token", PASSWORDS[3]),
        // A key that does not look secret, holding a connection string with a password.
        (
            "custom.database",
            &format!("Server=SQL01;Uid=sa;Pwd={}", PASSWORDS[4])[..],
        ),
    ])
}

#[test]
fn secret_values_are_redacted_but_their_keys_kept() {
    let record = config_with_secrets();
    assert_eq!(record.get("sql.server"), Some("SQL01"));
    assert_eq!(record.get("sql.user"), Some("hubsvc"));
    for key in [
        "sql.password",
        "rabbitmq.Pwd",
        "hub.ConnectionString",
        "decision.api_token",
        "custom.database",
    ] {
        assert_eq!(record.get(key), Some(REDACTED), "{key}");
    }
}

#[test]
fn a_config_with_passwords_produces_journal_bytes_without_them() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("journal.redb");
    let run = RunId([5; 16]);
    {
        let mut journal = Journal::create(&file).unwrap();
        journal
            .append(
                run,
                &[run_started(
                    Version::V4_1,
                    Version::V4_5,
                    config_with_secrets(),
                )],
            )
            .unwrap();
        // A plan of every op kind, each op done, so that show and export render every one.
        let s = step(Version::V4_1);
        let mut plan = vec![Payload::StepPlanned {
            step: s,
            ops: all_ops(),
            package: hubup::Digest::of(b"package"),
            tree_before: hubup::Digest::of(b"tree"),
            apphost_before: hubup::Digest::ZERO,
        }];
        plan.extend((0..all_ops().len() as u32).map(|index| Payload::OpDone {
            step: s,
            index,
            outcome: OpOutcome::Applied,
        }));
        journal.append(run, &plan).unwrap();
        // Many more commits, so that redb rewrites and frees pages: no copy may survive there.
        for i in 0..50 {
            journal
                .append(
                    run,
                    &[Payload::Note {
                        step: None,
                        text: format!("note {i}"),
                    }],
                )
                .unwrap();
        }
    }
    let bytes = std::fs::read(&file).unwrap();
    // The config did reach the file (the test would pass vacuously otherwise)...
    assert!(contains(&bytes, b"SQL01"));
    assert!(contains(&bytes, b"sql.password"));
    assert!(contains(&bytes, REDACTED.as_bytes()));
    // ...its secrets did not.
    for password in PASSWORDS {
        assert!(
            !contains(&bytes, password.as_bytes()),
            "{password} is in the journal file"
        );
    }

    for args in [&["show"][..], &["export", "--json"][..]] {
        let output = crate::support::hubup()
            .arg("journal")
            .args(args)
            .args(["--journal", file.to_str().unwrap()])
            .output_retrying()
            .unwrap();
        assert!(output.status.success(), "{args:?}");
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(text.contains("run_started"), "{text}");
        if args == ["show"] {
            for op in all_ops() {
                assert!(text.contains(&op.describe()), "show lacks {op:?}:\n{text}");
            }
        }
        for password in PASSWORDS {
            assert!(!text.contains(password), "{args:?} printed {password}");
        }
    }
    // A receipt shows the config view and every op, never a secret.
    for args in [&[][..], &["--json"][..], &["--html", "-"][..]] {
        let output = crate::support::hubup()
            .arg("report")
            .args(args)
            .args(["--journal", file.to_str().unwrap()])
            .output_retrying()
            .unwrap();
        assert!(output.status.success(), "report {args:?}");
        let text = String::from_utf8_lossy(&output.stdout);
        if !args.is_empty() {
            // Positive control: the config view and the ops are in it.
            assert!(
                text.contains("sql.password") && text.contains("SQL01"),
                "{text}"
            );
            assert!(text.contains("custom.database"), "{text}");
        }
        for password in PASSWORDS {
            assert!(
                !text.contains(password),
                "report {args:?} printed {password}"
            );
        }
    }
    let exported = crate::support::hubup()
        .args([
            "journal",
            "export",
            "--json",
            "--journal",
            file.to_str().unwrap(),
        ])
        .output_retrying()
        .unwrap();
    let first: serde_json::Value = serde_json::from_str(
        String::from_utf8_lossy(&exported.stdout)
            .lines()
            .next()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        first["payload"]["config"][2],
        serde_json::json!(["sql.password", REDACTED])
    );
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}
