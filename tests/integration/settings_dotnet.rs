//! Issue 19 through the real binary: settings merges as .NET reads the files. Environment
//! overlays (`appsettings.{Environment}.json`) get the package's renames and removals, are
//! listed by `plan`, journaled, and rolled back byte for byte; an installed file written in
//! another spelling, with flat `A:B` keys and in UTF-16 is upgraded to what the new version
//! reads.

use std::fs;

use crate::support::Scenario;
use hubup::settings_dotnet_view;

const HUB: &str = "Hub/appsettings.json";
const PRODUCTION: &str = "Hub/appsettings.Production.json";
const STAGING: &str = "Hub/AppSettings.STAGING.json";

fn utf16le_with_bom(text: &str) -> Vec<u8> {
    let mut bytes = vec![0xFF, 0xFE];
    for unit in text.encode_utf16() {
        bytes.extend_from_slice(&unit.to_le_bytes());
    }
    bytes
}

/// The production override an administrator keeps beside the base file: camelCase keys, a
/// flat name, comments, CRLF.
const PRODUCTION_TEXT: &str = "{\r\n  // Production relay.\r\n  \"emailSender\": {\r\n    \"Url\": \"https://mail.prod.corp\" // since 2023\r\n  },\r\n  \"Legacy:CacheDb\": \"ProdCacheDB\",\r\n  \"Logging\": { \"LogLevel\": { \"Default\": \"Error\" } }\r\n}\r\n";

/// .NET's view of a file, keys in lower case for comparison.
fn view(bytes: &[u8]) -> Vec<(String, Option<String>)> {
    let mut pairs: Vec<(String, Option<String>)> = settings_dotnet_view(bytes)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|(k, v)| (k.to_lowercase(), v))
        .collect();
    pairs.sort();
    pairs
}

fn pair(key: &str, value: &str) -> (String, Option<String>) {
    (key.to_lowercase(), Some(value.to_string()))
}

fn notes_of(plan: &serde_json::Value) -> Vec<String> {
    plan["steps"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["notes"].as_array().unwrap().clone())
        .map(|n| n.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn an_overlay_is_migrated_journaled_and_rolled_back_byte_for_byte() {
    let scenario = Scenario::new();
    let production = scenario.root().join(PRODUCTION);
    let original = utf16le_with_bom(PRODUCTION_TEXT);
    fs::write(&production, &original).unwrap();

    let plan = scenario
        .run(&["plan", "--to", "4.4", "--json"])
        .expect(0)
        .json();
    let notes = notes_of(&plan);
    assert!(
        notes.iter().any(|n| n.contains(PRODUCTION)),
        "plan lists the overlay: {notes:?}"
    );
    let text = scenario.run(&["plan", "--to", "4.4"]).expect(0).stdout;
    assert!(
        text.contains(&format!("into {PRODUCTION}")),
        "plan shows the overlay's merge:\n{text}"
    );

    scenario
        .run_playing_dba(&["upgrade", "--to", "4.4"])
        .expect(0);
    let after = fs::read(&production).unwrap();
    assert_eq!(&after[..2], b"\xFF\xFE", "still UTF-16 with its BOM");
    assert_eq!(
        view(&after),
        vec![
            pair("Cache:Database", "ProdCacheDB"),
            pair("EmailService:Url", "https://mail.prod.corp"),
            pair("Logging:LogLevel:Default", "Error"),
        ],
        "renamed and moved as in the base file; no defaults added to the override"
    );
    let decoded = String::from_utf16(
        &after[2..]
            .chunks(2)
            .map(|p| u16::from_le_bytes([p[0], p[1]]))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    assert!(decoded.contains("// Production relay."), "{decoded}");
    assert!(decoded.contains("// since 2023"), "{decoded}");

    let journal = serde_json::to_string(&scenario.journal()).unwrap();
    assert!(
        journal.contains("appsettings.Production.json"),
        "the overlay's edit is journaled"
    );

    scenario.run(&["rollback", "--to", "4.0"]).expect(0);
    assert_eq!(fs::read(&production).unwrap(), original);
}

#[test]
fn an_overlay_without_the_keys_is_listed_and_left_alone() {
    let scenario = Scenario::new();
    let staging = scenario.root().join(STAGING);
    let text = "{ \"Logging\": { \"LogLevel\": { \"Default\": \"Information\" } } }";
    fs::write(&staging, text).unwrap();
    let plan = scenario
        .run(&["plan", "--to", "4.5", "--json"])
        .expect(0)
        .json();
    assert!(
        notes_of(&plan).iter().any(|n| n.contains(STAGING)),
        "{:?}",
        notes_of(&plan)
    );
    let ops = serde_json::to_string(&plan["steps"]).unwrap();
    assert!(!ops.contains("into Hub/AppSettings.STAGING.json"), "{ops}");
    scenario
        .run_playing_dba(&["upgrade", "--to", "4.5"])
        .expect(0);
    assert_eq!(fs::read_to_string(&staging).unwrap(), text);
}

#[test]
fn a_base_file_in_other_spellings_and_forms_upgrades_to_what_the_new_version_reads() {
    let scenario = Scenario::new();
    let path = scenario.root().join(HUB);
    let installed = fs::read_to_string(&path).unwrap();
    // The administrator's hand: camelCase, a flat name, the Kestrel limit already set.
    let edited = installed
        .replace("\"EmailSender\"", "\"emailSender\"")
        .replace(
            "  \"Legacy\": {\r\n    \"CacheDb\": \"HubCacheDB\"\r\n  }",
            "  \"legacy:cacheDb\": \"HubCacheDB\",\r\n  \"kestrel:limits:maxRequestBodySize\": 1000",
        );
    assert_ne!(edited, installed);
    fs::write(&path, &edited).unwrap();
    let plan = scenario.run(&["plan", "--to", "4.5"]).expect(0);
    assert!(
        plan.stdout.contains("into Hub/appsettings.json"),
        "{}",
        plan.stdout
    );
    scenario
        .run_playing_dba(&["upgrade", "--to", "4.5"])
        .expect(0);
    let after = fs::read(&path).unwrap();
    let pairs = view(&after);
    let get = |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| *k == key.to_lowercase())
            .and_then(|(_, v)| v.clone())
    };
    assert_eq!(
        get("EmailService:Url").as_deref(),
        Some("https://email.local")
    );
    assert_eq!(get("Cache:Database").as_deref(), Some("HubCacheDB"));
    assert_eq!(
        get("Kestrel:Limits:MaxRequestBodySize").as_deref(),
        Some("1000"),
        "the administrator's limit is kept, not duplicated"
    );
    assert!(get("EmailSender:Url").is_none() && get("Legacy:CacheDb").is_none());
    scenario.run(&["rollback", "--to", "4.0"]).expect(0);
    assert_eq!(fs::read_to_string(&path).unwrap(), edited);
}
