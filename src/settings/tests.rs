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
        Some("https://bpapi.corp.local".to_string())
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

/// Found by the property test: the object a removal empties lies where another member of the
/// same name left an empty array. .NET records both as the same null key, so the merge is
/// right; the check once told `{}` from `[]` and called it a bug in hubup.
#[test]
fn remove_that_empties_an_object_where_an_empty_array_was() {
    let text = "{\n  \"CacheDb\":[{ \"Legacy\":{  }, \"a:Url\":-1.50e3, }, []],\n  \"CacheDb\":[5672, { \"a:Url\":[\"HubDB\", null,], }],\n}\n";
    let out = apply(
        text,
        &[SettingsChange::Remove {
            key: key(&["CacheDb:1:a:Url"]),
        }],
    );
    assert_eq!(out, text.replace("{ \"a:Url\":[\"HubDB\", null,], }", "{}"));
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
        Some("HubDB".to_string())
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
fn a_key_below_an_existing_value_is_added_as_a_flat_name() {
    // .NET reads "Database" and "Database:Inner" as two keys; nesting would need a second
    // member named "Database".
    let out = apply(REAL, &[add(&["Database", "Inner"], "1")]);
    assert!(out.contains("  \"Database:Inner\": 1\n}"), "{out}");
    assert_eq!(
        settings_value(out.as_bytes(), &key(&["database"])).unwrap(),
        Some("HubDB".into())
    );
    assert_eq!(
        settings_value(out.as_bytes(), &key(&["database", "inner"])).unwrap(),
        Some("1".into())
    );
}

#[test]
fn errors_name_the_key_and_the_place() {
    let err = apply_settings_changes(
        b"{\"Serilog\": {\"WriteTo\": [\"Console\", \"File\"]}}",
        &[SettingsChange::Remove {
            key: key(&["Serilog", "WriteTo", "0"]),
        }],
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Serilog:WriteTo:0: is an element of an array; hubup does not remove or move array elements"
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
            // Whatever was accepted stays valid for .NET's reader.
            prop_assert!(settings_dotnet_view(&out).is_ok());
        }
    }
}

// ---------------------------------------------------------------------------------------
// Issue 19: each defect found by trying the merger on real files, as a test that failed
// before the fix. The files are read as .NET's configuration provider reads them.

fn rename(from: &[&str], to: &[&str]) -> SettingsChange {
    SettingsChange::Rename {
        from: key(from),
        to: key(to),
    }
}

fn remove(parts: &[&str]) -> SettingsChange {
    SettingsChange::Remove { key: key(parts) }
}

/// The merge result as text, checked to load again.
fn merged(text: &str, changes: &[SettingsChange]) -> String {
    let out = apply(text, changes);
    settings_value(out.as_bytes(), &key(&[])).unwrap_or_else(|e| panic!("{e}\n{out}"));
    out
}

fn count_ci(haystack: &str, needle: &str) -> usize {
    haystack
        .to_ascii_lowercase()
        .matches(&needle.to_ascii_lowercase())
        .count()
}

#[test]
fn issue19_1_a_camel_case_email_sender_is_renamed() {
    let out = merged(
        "{\n  \"emailSender\": {\n    \"Url\": \"https://mail.corp\"\n  }\n}\n",
        &[rename(&["EmailSender"], &["EmailService"])],
    );
    assert_eq!(
        out,
        "{\n  \"EmailService\": {\n    \"Url\": \"https://mail.corp\"\n  }\n}\n"
    );
}

#[test]
fn issue19_1_a_lower_case_legacy_cache_db_is_moved() {
    let out = merged(
        "{\n  \"legacy\": {\n    \"cacheDb\": \"HubCacheDB\"\n  }\n}\n",
        &[
            rename(&["Legacy", "CacheDb"], &["Cache", "Database"]),
            remove(&["Legacy"]),
        ],
    );
    assert_eq!(
        out,
        "{\n  \"Cache\": {\n    \"Database\": \"HubCacheDB\"\n  }\n}\n"
    );
}

#[test]
fn issue19_1_two_spellings_of_one_key_are_both_moved() {
    let out = merged(
        "{\n  \"EmailSender\": { \"Url\": \"https://mail.corp\" },\n  \"emailsender\": { \"Port\": 25 }\n}\n",
        &[rename(&["EmailSender"], &["EmailService"])],
    );
    assert_eq!(count_ci(&out, "emailsender"), 0, "{out}");
    assert!(
        out.contains("https://mail.corp") && out.contains("25"),
        "{out}"
    );
}

#[test]
fn issue19_2_flat_keys_are_paths() {
    let out = merged(
        "{\n  \"EmailSender:Url\": \"https://mail.corp\"\n}\n",
        &[rename(&["EmailSender"], &["EmailService"])],
    );
    assert_eq!(out, "{\n  \"EmailService:Url\": \"https://mail.corp\"\n}\n");
    let out = merged(
        "{\n  \"Legacy:CacheDb\": \"HubCacheDB\"\n}\n",
        &[
            rename(&["Legacy", "CacheDb"], &["Cache", "Database"]),
            remove(&["Legacy"]),
        ],
    );
    assert_eq!(out, "{\n  \"Cache:Database\": \"HubCacheDB\"\n}\n");
    // At any level, and in any spelling.
    let text = "{\n  \"Kestrel\": {\n    \"limits:maxRequestBodySize\": 1000\n  }\n}\n";
    let out = merged(
        text,
        &[add(
            &["Kestrel", "Limits", "MaxRequestBodySize"],
            "52428800",
        )],
    );
    assert_eq!(out, text);
}

#[test]
fn issue19_3_an_add_never_duplicates_a_key_in_another_spelling() {
    for (text, change) in [
        (
            "{\n  \"kestrel\": {\n    \"limits\": {\n      \"maxRequestBodySize\": 1000\n    }\n  }\n}\n",
            add(&["Kestrel", "Limits", "MaxRequestBodySize"], "52428800"),
        ),
        (
            "{\n  \"decision\": {\n    \"modelServiceUrl\": \"https://d\"\n  }\n}\n",
            add(&["Decision", "ModelServiceUrl"], "\"\""),
        ),
        (
            "{\n  \"Kestrel:Limits:MaxRequestBodySize\": 1000\n}\n",
            add(&["Kestrel", "Limits", "MaxRequestBodySize"], "52428800"),
        ),
    ] {
        assert_eq!(merged(text, &[change]), text);
    }
}

#[test]
fn issue19_3_a_move_onto_an_existing_key_keeps_the_new_key_and_makes_no_duplicate() {
    let out = merged(
        "{\n  \"cache\": {\n    \"database\": \"NewCacheDB\"\n  },\n  \"Legacy\": {\n    \"CacheDb\": \"OldCacheDB\"\n  }\n}\n",
        &[
            rename(&["Legacy", "CacheDb"], &["Cache", "Database"]),
            remove(&["Legacy"]),
        ],
    );
    assert_eq!(count_ci(&out, "\"database\""), 1, "{out}");
    assert!(
        out.contains("NewCacheDB") && !out.contains("OldCacheDB"),
        "{out}"
    );
    let out = merged(
        "{\n  \"EmailSender\": {\n    \"Url\": \"old\",\n    \"Port\": 25\n  },\n  \"emailService\": {\n    \"Url\": \"new\"\n  }\n}\n",
        &[rename(&["EmailSender"], &["EmailService"])],
    );
    assert_eq!(count_ci(&out, "\"url\""), 1, "{out}");
    assert_eq!(count_ci(&out, "emailService"), 1, "{out}");
    assert!(out.contains("\"new\"") && out.contains("25"), "{out}");
}

#[test]
fn issue19_4_a_removal_does_not_cut_inside_a_comment() {
    let text = "{\n  \"Legacy\": {\n    \"CacheDb\": \"HubCacheDB\"\n  } /* old, unused */,\n  \"Other\": 1\n}\n";
    let out = merged(text, &[remove(&["Legacy"])]);
    assert!(!out.contains("Legacy"), "{out}");
    assert!(out.contains("\"Other\": 1"), "{out}");
    for text in [
        "{\n  \"A\": 1 /* a, b */,\n  \"Legacy\": 2 // x, y\n}\n",
        "{\n  \"A\": 1 /* a, b */,\n  \"Legacy\": {\n    \"CacheDb\": \"HubCacheDB\"\n  }\n}\n",
    ] {
        let out = merged(text, &[remove(&["Legacy"])]);
        assert!(out.contains("\"A\": 1") && !out.contains("Legacy"), "{out}");
    }
}

#[test]
fn issue19_6_a_moved_value_keeps_its_source_text() {
    let out = merged(
        "{\n  \"Legacy\": {\n    \"CacheDb\": 12345678901234567890123\n  }\n}\n",
        &[rename(&["Legacy", "CacheDb"], &["Cache", "Database"])],
    );
    assert!(
        out.contains("\"Database\": 12345678901234567890123"),
        "{out}"
    );
    let out = merged(
        "{\n  \"Legacy\": {\n    \"CacheDb\": {\n      \"Zeta\": 1, // why\n      \"Alpha\": 2\n    }\n  }\n}\n",
        &[rename(&["Legacy", "CacheDb"], &["Cache", "Database"])],
    );
    assert!(out.contains("\"Zeta\": 1, // why\n"), "{out}");
    assert!(
        out.find("Zeta").unwrap() < out.find("Alpha").unwrap(),
        "{out}"
    );
    let out = merged(
        "{\n  \"Legacy\": {\n    \"CacheDb\": \"HubCacheDB\" // the old cache\n  }\n}\n",
        &[rename(&["Legacy", "CacheDb"], &["Cache", "Database"])],
    );
    assert!(out.contains("\"HubCacheDB\" // the old cache"), "{out}");
}

#[test]
fn issue19_7_a_comment_in_an_empty_object_is_kept() {
    let text = "{\n  \"Decision\": { // \"ModelServiceUrl\": \"https://decision:50051\"\n  }\n}\n";
    let out = merged(text, &[add(&["Decision", "ModelServiceUrl"], "\"\"")]);
    assert!(
        out.contains("// \"ModelServiceUrl\": \"https://decision:50051\""),
        "{out}"
    );
    assert!(out.contains("\"ModelServiceUrl\": \"\""), "{out}");
}

fn utf16le_with_bom(text: &str) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xFE];
    for unit in text.encode_utf16() {
        bytes.extend_from_slice(&unit.to_le_bytes());
    }
    bytes
}

#[test]
fn issue19_8_utf16_with_a_bom_is_read_and_written_back_in_utf16() {
    let text = "{\r\n  \"Name\": \"Zoë\"\r\n}\r\n";
    let out = apply_settings_changes(&utf16le_with_bom(text), &[add(&["Port"], "5672")]).unwrap();
    assert_eq!(
        out,
        utf16le_with_bom("{\r\n  \"Name\": \"Zoë\",\r\n  \"Port\": 5672\r\n}\r\n")
    );
}

#[test]
fn issue19_8_same_named_objects_are_merged_as_dotnet_does() {
    let text = "{\n  \"A\": { \"x\": 1 },\n  \"A\": { \"y\": 2 }\n}\n";
    let out = merged(text, &[add(&["A", "y"], "3"), add(&["A", "z"], "4")]);
    assert_eq!(count_ci(&out, "\"y\""), 1, "{out}");
    assert!(out.contains("\"z\": 4"), "{out}");
}

#[test]
fn issue19_8_indentation_comes_from_the_parents_own_children() {
    let text =
        "{\n    \"A\": 1,\n    \"B\": {\n        \"C\": 2\n    },\n /* stray */ \"D\": 3\n}\n";
    let out = merged(text, &[add(&["B", "E", "F"], "4")]);
    assert!(
        out.contains(
            "        \"C\": 2,\n        \"E\": {\n            \"F\": 4\n        }\n    },"
        ),
        "{out}"
    );
}

// Cases the property tests found (`properties.rs`), kept as plain tests.

#[test]
fn an_object_emptied_beside_a_same_named_value_goes_too() {
    // Left as `"A": {}`, .NET would overwrite A's value with null.
    let out = merged(
        "{\n  \"A\": 1,\n  \"a\": {\n    \"x\": 2\n  }\n}\n",
        &[remove(&["A", "x"])],
    );
    assert_eq!(out, "{\n  \"A\": 1\n}\n");
    // Alone, the emptied object stays with its comments.
    let out = merged(
        "{\n  \"a\": { // why\n    \"x\": 2\n  }\n}\n",
        &[remove(&["A", "x"])],
    );
    assert_eq!(out, "{\n  \"a\": { // why\n  }\n}\n");
}

#[test]
fn an_emptied_array_element_stays_an_empty_object() {
    let out = merged(
        "{\n  \"A\": {},\n  \"a:Url\": [{ \"a\": null }] /* old, unused */\n}\n",
        &[remove(&["a:Url:0:a"])],
    );
    assert_eq!(
        out,
        "{\n  \"A\": {},\n  \"a:Url\": [{}] /* old, unused */\n}\n"
    );
}

#[test]
fn an_emptied_array_element_beside_a_same_named_value_takes_its_hollow_array_along() {
    // Left as `[{}]`, .NET would overwrite A:0 = "x" with null; the array holds nothing else,
    // so the member holding it goes (comments on other lines stay).
    let out = merged(
        "{\n\t\"A\": [\"x\"], /* old, unused */\n\t\"A\": [{ \"Legacy:CacheDb\": null },]\n}\n",
        &[remove(&["A:0:Legacy:CacheDb"])],
    );
    assert_eq!(out, "{\n\t\"A\": [\"x\"] /* old, unused */\n}\n");
    // When the array still holds a value, the element cannot go (the ones after it would
    // change their keys): the change is refused by name rather than losing A:0.
    let text = "{\n  \"A\": [\"x\"],\n  \"A\": [{ \"L\": null }, 5]\n}\n";
    let err = apply_settings_changes(text.as_bytes(), &[remove(&["A:0:L"])]).unwrap_err();
    assert!(matches!(err, SettingsError::Key { .. }), "{err}");
    assert!(err.to_string().contains("A:0"), "{err}");
}

#[test]
fn an_emptied_object_stays_when_taking_it_would_empty_one_beside_a_same_named_value() {
    // Taking the emptied `Cache` would leave `"Legacy": {}` after `"Legacy": false`, which .NET
    // reads as null over false; `"Cache": {}` adds only a null below Legacy.
    let text = "{\r\n  \"Legacy\":false,\r\n  // note\r\n  \"Legacy\":{\r\n    \"Cache\":{\r\n      \"emailSender\":\"\" // note\r\n    } // \"X\": {\"Y\": 1},\r\n  }\r\n}\r\n";
    let out = merged(text, &[remove(&["Legacy:Cache:emailSender"])]);
    assert_eq!(
        out,
        text.replace("{\r\n      \"emailSender\":\"\" // note\r\n    }", "{}")
    );
}

#[test]
fn a_value_dotnet_would_silently_drop_is_refused() {
    let err = apply_settings_changes(
        b"{\n  \"A\": \"x\",\n  \"A\": {}\n}\n",
        &[add(&["a", "B"], "1")],
    )
    .unwrap_err();
    assert!(matches!(err, SettingsError::Shadowed { .. }), "{err}");
}

#[test]
fn hostile_files_are_refused_before_any_change() {
    let deep = format!("{{\"a\": {}1{}}}", "[".repeat(10_000), "]".repeat(10_000));
    let mut utf16_lone = vec![0xFF, 0xFE];
    utf16_lone.extend_from_slice(&[b'{', 0, 0x00, 0xD8, b'}', 0]);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("too large", vec![b' '; 17 * 1024 * 1024]),
        ("deep", deep.into_bytes()),
        ("invalid UTF-8", b"{\"a\": \"\xC3\x28\"}".to_vec()),
        ("lone surrogate escape", br#"{"a": "\ud800"}"#.to_vec()),
        ("lone surrogate in UTF-16", utf16_lone),
        ("array root", b"[1, 2]".to_vec()),
        ("empty", Vec::new()),
        ("duplicate", b"{\"a\": 1, \"A\": 2}".to_vec()),
        ("missing comma", b"{\"a\": 1 \"b\": 2}".to_vec()),
    ];
    for (what, bytes) in cases {
        assert!(
            apply_settings_changes(&bytes, &[add(&["x"], "1")]).is_err(),
            "{what} was accepted"
        );
    }
    // Positive control: the same machinery accepts a file .NET loads.
    assert!(apply_settings_changes(b"{\"a\": 1}", &[add(&["x"], "1")]).is_ok());
}

#[test]
#[ignore = "a measurement: cargo test --release --lib settings::tests::merge_time -- --ignored --nocapture"]
fn merge_time_on_large_files() {
    for members in [100usize, 1000, 10_000] {
        let mut text = String::from("{\n");
        for i in 0..members {
            text.push_str(&format!(
                "  \"Section{i}\": {{ // note, {{ }}\n    \"Url\": \"https://host{i}.corp.local\",\n    \"Port\": {i}\n  }},\n"
            ));
        }
        text.push_str("  \"EmailSender\": { \"Url\": \"https://mail\" },\n  \"Legacy\": { \"CacheDb\": \"HubCacheDB\" }\n}\n");
        let changes = [
            rename(&["EmailSender"], &["EmailService"]),
            rename(&["Legacy", "CacheDb"], &["Cache", "Database"]),
            remove(&["Legacy"]),
            add(&["Kestrel", "Limits", "MaxRequestBodySize"], "52428800"),
            add(&["Decision", "ModelServiceUrl"], "\"\""),
        ];
        let start = std::time::Instant::now();
        let out = apply_settings_changes(text.as_bytes(), &changes).unwrap();
        println!(
            "{} bytes, {} changes: {:?} ({} bytes out)",
            text.len(),
            changes.len(),
            start.elapsed(),
            out.len()
        );
    }
}

#[test]
fn the_deepest_key_dotnet_reads_can_be_added() {
    let parts: Vec<String> = (0..64).map(|i| format!("K{i}")).collect();
    let out = apply_settings_changes(
        b"{}",
        &[SettingsChange::Add {
            key: parts.clone(),
            value_json: "1".into(),
        }],
    )
    .unwrap();
    assert_eq!(settings_value(&out, &parts).unwrap(), Some("1".to_string()));
}
