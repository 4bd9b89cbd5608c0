//! Tests of the settings merge: exact outputs per change kind, formatting kept, idempotence,
//! and no panic on any input.

use super::*;
use proptest::prelude::*;

const REAL: &str = r#"{
  "ConnectionStrings": {
    "HubDbContext": "CfDJ8NfW6Ds2RSpPnSAiqZvAbm4Lhj1yKRIGh3v0GN2F-uZyhZ8C4T3fyx2Zb7Q"
  },
  "Database": "HubDB",
  // The administrator turned logging up while chasing an issue.
  "Logging": {
    "LogLevel": {
      "Default": "Debug",
      "Microsoft": "Warning"
    }
  },
  "IdentityServerUrl": "https://ims.local",
  "RabbitMq": { "Host": "rabbit01.corp.local", "Port": 5672 }
}
"#;

fn key(parts: &[&str]) -> KeyPath {
    parts.iter().map(|p| p.to_string()).collect()
}

fn apply(text: &str, changes: &[SettingsChange]) -> String {
    String::from_utf8(apply_settings_changes(text.as_bytes(), changes).unwrap()).unwrap()
}

fn add(parts: &[&str], value: &str) -> SettingsChange {
    SettingsChange::Add {
        key: key(parts),
        value_json: value.to_string(),
    }
}

fn set(parts: &[&str], value: &str, only_if: Option<&str>) -> SettingsChange {
    SettingsChange::Set {
        key: key(parts),
        value_json: value.to_string(),
        only_if_json: only_if.map(str::to_string),
    }
}

#[test]
fn add_goes_last_in_its_object_indented_like_its_siblings() {
    let out = apply(
        REAL,
        &[add(
            &["Logging", "LogLevel", "Hub.Plugins"],
            "\"Information\"",
        )],
    );
    let want = REAL.replace(
        "      \"Microsoft\": \"Warning\"\n",
        "      \"Microsoft\": \"Warning\",\n      \"Hub.Plugins\": \"Information\"\n",
    );
    assert_eq!(out, want);
}

#[test]
fn add_keeps_an_administrators_value() {
    let out = apply(
        REAL,
        &[add(&["Logging", "LogLevel", "Default"], "\"Information\"")],
    );
    assert_eq!(out, REAL);
}

#[test]
fn add_creates_intermediate_objects() {
    let out = apply(
        REAL,
        &[add(
            &["Decision", "ModelServiceUrl"],
            "\"https://decision.corp.local:50051\"",
        )],
    );
    let want = REAL.replace(
        "  \"RabbitMq\": { \"Host\": \"rabbit01.corp.local\", \"Port\": 5672 }\n",
        "  \"RabbitMq\": { \"Host\": \"rabbit01.corp.local\", \"Port\": 5672 },\n  \"Decision\": {\n    \"ModelServiceUrl\": \"https://decision.corp.local:50051\"\n  }\n",
    );
    assert_eq!(out, want);
}

#[test]
fn add_inline_into_a_one_line_object() {
    let out = apply(REAL, &[add(&["RabbitMq", "VirtualHost"], "\"/hub\"")]);
    assert!(
        out.contains(
            r#""RabbitMq": { "Host": "rabbit01.corp.local", "Port": 5672, "VirtualHost": "/hub" }"#
        ),
        "{out}"
    );
}

#[test]
fn set_respects_only_if() {
    let renamed = apply(REAL, &[set(&["Database"], "\"HubDB2\"", Some("\"HubDB\""))]);
    assert_eq!(renamed, REAL.replace("\"HubDB\"", "\"HubDB2\""));
    let kept = apply(
        REAL,
        &[set(&["Database"], "\"X\"", Some("\"SomethingElse\""))],
    );
    assert_eq!(kept, REAL);
    let created = apply(
        REAL,
        &[set(
            &["BluePrismApi", "Url"],
            "\"https://bpapi.corp.local\"",
            None,
        )],
    );
    assert_eq!(
        settings_value(created.as_bytes(), &key(&["BluePrismApi", "Url"])).unwrap(),
        Some(Value::String("https://bpapi.corp.local".into()))
    );
}

#[test]
fn remove_middle_last_and_only_members() {
    let out = apply(
        REAL,
        &[SettingsChange::Remove {
            key: key(&["Database"]),
        }],
    );
    assert_eq!(out, REAL.replace("  \"Database\": \"HubDB\",\n", ""));
    let out = apply(
        REAL,
        &[SettingsChange::Remove {
            key: key(&["Logging", "LogLevel", "Microsoft"]),
        }],
    );
    assert_eq!(
        out,
        REAL.replace(
            "\"Debug\",\n      \"Microsoft\": \"Warning\"\n",
            "\"Debug\"\n"
        )
    );
    let out = apply(
        REAL,
        &[SettingsChange::Remove {
            key: key(&["ConnectionStrings", "HubDbContext"]),
        }],
    );
    assert!(
        out.starts_with("{\n  \"ConnectionStrings\": {},\n"),
        "{out}"
    );
    let missing = apply(
        REAL,
        &[SettingsChange::Remove {
            key: key(&["Nope", "Nothing"]),
        }],
    );
    assert_eq!(missing, REAL);
}

#[test]
fn rename_in_place_and_across_objects() {
    let out = apply(
        REAL,
        &[SettingsChange::Rename {
            from: key(&["IdentityServerUrl"]),
            to: key(&["AuthenticationServerUrl"]),
        }],
    );
    assert_eq!(
        out,
        REAL.replace("\"IdentityServerUrl\"", "\"AuthenticationServerUrl\"")
    );
    let moved = apply(
        REAL,
        &[SettingsChange::Rename {
            from: key(&["Database"]),
            to: key(&["ConnectionStrings", "DatabaseName"]),
        }],
    );
    assert_eq!(
        settings_value(
            moved.as_bytes(),
            &key(&["ConnectionStrings", "DatabaseName"])
        )
        .unwrap(),
        Some(Value::String("HubDB".into()))
    );
    assert_eq!(
        settings_value(moved.as_bytes(), &key(&["Database"])).unwrap(),
        None
    );
    assert!(moved.contains("CfDJ8NfW6Ds2RSpPnSAiqZvAbm4Lhj1yKRIGh3v0GN2F-uZyhZ8C4T3fyx2Zb7Q"));
}

#[test]
fn every_change_is_idempotent() {
    let changes = vec![
        add(&["Logging", "LogLevel", "Hub.Plugins"], "\"Information\""),
        add(&["Decision", "ModelServiceUrl"], "\"\""),
        set(
            &["IdentityServerUrl"],
            "\"https://ims.corp.local\"",
            Some("\"https://ims.local\""),
        ),
        SettingsChange::Remove {
            key: key(&["Database"]),
        },
        SettingsChange::Rename {
            from: key(&["RabbitMq"]),
            to: key(&["MessageBroker"]),
        },
    ];
    let once = apply(REAL, &changes);
    let twice = apply(&once, &changes);
    assert_eq!(once, twice);
    assert!(once.contains("// The administrator turned logging up"));
}

#[test]
fn crlf_bom_tabs_and_trailing_commas_are_kept() {
    let text = "\u{feff}{\r\n\t\"A\": 1,\r\n\t\"B\": { \"C\": true, },\r\n}\r\n";
    let out = apply_settings_changes(text.as_bytes(), &[add(&["D"], "2")]).unwrap();
    let out = String::from_utf8(out).unwrap();
    assert_eq!(
        out,
        "\u{feff}{\r\n\t\"A\": 1,\r\n\t\"B\": { \"C\": true, },\r\n\t\"D\": 2,\r\n}\r\n"
    );
}

#[test]
fn errors_name_the_key_and_the_place() {
    let err =
        apply_settings_changes(REAL.as_bytes(), &[add(&["Database", "Inner"], "1")]).unwrap_err();
    assert!(
        err.to_string().contains("Database is not an object"),
        "{err}"
    );
    let err =
        apply_settings_changes(b"{\n  \"a\": 1,\n  \"b\" 2\n}", &[add(&["x"], "1")]).unwrap_err();
    assert!(err.to_string().contains("line 3"), "{err}");
    let err = apply_settings_changes(REAL.as_bytes(), &[add(&["x"], "not json")]).unwrap_err();
    assert!(matches!(err, SettingsError::BadValue { .. }), "{err}");
}

proptest! {
    #[test]
    fn never_panics_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = apply_settings_changes(&bytes, &[add(&["A", "B"], "1")]);
        let _ = settings_value(&bytes, &key(&["A"]));
    }

    #[test]
    fn never_panics_on_mutations_of_a_real_file(at in 0usize..REAL.len(), byte in any::<u8>()) {
        let mut bytes = REAL.as_bytes().to_vec();
        bytes[at] = byte;
        if let Ok(out) = apply_settings_changes(&bytes, &[add(&["Logging", "X"], "1"), SettingsChange::Remove { key: key(&["Database"]) }]) {
            // Whatever was accepted stays valid for the parser.
            prop_assert!(parse(std::str::from_utf8(out.strip_prefix(BOM).unwrap_or(&out)).unwrap()).is_ok());
        }
    }
}
