//! The machine outside the install tree under the journal, on the sandbox machine
//! (`machine.json` of a demo sandbox): certificates named by friendly name become thumbprints,
//! an ambiguous or missing one is refused before any change, and what was on the machine
//! before a step (an SSL binding, a key ACL entry) is exactly what a rollback leaves, including
//! after a kill between the journaled observation and the change. The golden journal of the
//! host kinds (`journal-v1-host.redb`) is read by `journal_golden_variants`.
//!
//! The demo runs its database work in script mode: a step with migrations stops (exit 7) before
//! its first site start, after its host ops, so the tests play the DBA
//! (`Scenario::run_playing_dba`) wherever a step should run to its end.

use serde_json::{Value, json};

use crate::support::Scenario;

const LM_HOST: &str = "licensemanager.local";

fn machine_path(s: &Scenario) -> std::path::PathBuf {
    s.path().join("machine.json")
}

fn thumbprint_of(m: &Value, friendly: &str) -> String {
    m["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["friendly_name"] == friendly)
        .unwrap()["thumbprint"]
        .as_str()
        .unwrap()
        .to_string()
}

fn lm_binding(m: &Value) -> Option<Value> {
    m["bindings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["host"] == LM_HOST)
        .cloned()
}

/// A 4.1 sandbox: the step to 4.2 adds the License Manager and Notification Center sites.
fn at_4_1() -> Scenario {
    Scenario::at_version("4.1")
}

#[test]
fn a_friendly_name_becomes_the_thumbprint_netsh_gets() {
    let s = at_4_1();
    let thumbprint = thumbprint_of(&s.machine(), "DemoLicenseManagerCert");
    let plan = s.run(&["plan", "--to", "4.2"]).expect(0);
    assert!(
        plan.stdout.contains(&thumbprint),
        "the plan shows the thumbprint:\n{}",
        plan.stdout
    );
    s.run_playing_dba(&["upgrade", "--to", "4.2"]).expect(0);
    let binding = lm_binding(&s.machine()).expect("a binding for the new site");
    assert_eq!(binding["thumbprint"], thumbprint.as_str());
    let log = std::fs::read_to_string(s.path().join("commands.log")).unwrap();
    assert!(
        log.contains(&format!("certhash={thumbprint}")),
        "netsh gets the thumbprint:\n{log}"
    );
    assert!(!log.contains("certhash=DemoLicenseManagerCert"), "{log}");
}

#[test]
fn an_ambiguous_or_missing_certificate_is_refused_before_any_change() {
    let s = at_4_1();
    let before = std::fs::read(machine_path(&s)).unwrap();
    let digests = s.digests();
    let mut m = s.machine();
    let mut twin = m["certificates"][0].clone();
    twin["thumbprint"] = json!("ABCDEF0123456789ABCDEF0123456789ABCDEF01");
    m["certificates"].as_array_mut().unwrap().push(twin);
    s.save_machine(&m);
    let run = s.run(&["upgrade", "--to", "4.2"]).expect(2);
    assert!(
        run.stderr.contains("friendly name") && run.stderr.contains("thumbprint"),
        "{}",
        run.stderr
    );
    assert_eq!(s.digests(), digests, "nothing of the install changed");

    let mut m: Value = serde_json::from_slice(&before).unwrap();
    m["certificates"]
        .as_array_mut()
        .unwrap()
        .retain(|c| c["friendly_name"] != "DemoLicenseManagerCert");
    s.save_machine(&m);
    let run = s.run(&["upgrade", "--to", "4.2"]).expect(2);
    assert!(
        run.stderr.contains("DemoLicenseManagerCert") && run.stderr.contains("import it"),
        "{}",
        run.stderr
    );
    assert_eq!(s.digests(), digests);
    assert_eq!(lm_binding(&s.machine()), None);
}

#[test]
fn an_existing_correct_binding_and_key_access_survive_upgrade_and_rollback() {
    let s = at_4_1();
    let mut m = s.machine();
    let lm = thumbprint_of(&m, "DemoLicenseManagerCert");
    let sql = thumbprint_of(&m, "BPC_SQL_CERTIFICATE");
    m["bindings"] = json!([{
        "host": LM_HOST, "port": 443, "thumbprint": lm,
        "app_id": "{4dc3e181-e14b-4a21-b022-59fc669b0914}", "store": "MY"
    }]);
    m["key_acls"] = json!([
        {"on": sql, "principal": "IIS APPPOOL\\Blue Prism - Hub", "rights": "(F)"},
        {"on": sql, "principal": "IIS APPPOOL\\Blue Prism - IADA", "rights": "(R)"}
    ]);
    s.save_machine(&m);
    let before = std::fs::read(machine_path(&s)).unwrap();

    s.run_playing_dba(&["upgrade", "--to", "4.2"]).expect(0);
    let after = s.machine();
    let acls = after["key_acls"].as_array().unwrap();
    assert!(
        acls.iter()
            .any(|a| a["principal"] == "IIS APPPOOL\\Blue Prism - IADA" && a["rights"] == "(F)"),
        "IADA's pool identity got full control: {acls:?}"
    );
    assert!(
        acls.iter()
            .any(|a| a["principal"] == "IIS APPPOOL\\Blue Prism - License Manager"),
        "{acls:?}"
    );

    s.run(&["rollback", "--to", "4.1"]).expect(0);
    let restored = std::fs::read(machine_path(&s)).unwrap();
    let restored: Value = serde_json::from_slice(&restored).unwrap();
    let original: Value = serde_json::from_slice(&before).unwrap();
    assert_eq!(
        restored["bindings"], original["bindings"],
        "the binding that was there stays"
    );
    assert_eq!(
        restored["key_acls"], original["key_acls"],
        "the Hub identity keeps its access, IADA has exactly what it had"
    );
    assert_eq!(restored, original, "the whole machine as it was");
}

#[test]
fn another_certificates_binding_is_replaced_and_put_back_by_rollback() {
    let s = at_4_1();
    let mut m = s.machine();
    let other = thumbprint_of(&m, "DemoNotificationCenterCert");
    m["bindings"] = json!([{
        "host": LM_HOST, "port": 443, "thumbprint": other,
        "app_id": "{00000000-1111-2222-3333-444444444444}", "store": "WebHosting"
    }]);
    s.save_machine(&m);
    let original = s.machine();
    s.run_playing_dba(&["upgrade", "--to", "4.2"]).expect(0);
    let lm = thumbprint_of(&m, "DemoLicenseManagerCert");
    assert_eq!(lm_binding(&s.machine()).unwrap()["thumbprint"], lm.as_str());
    s.run(&["rollback", "--to", "4.1"]).expect(0);
    assert_eq!(s.machine(), original);
}

#[test]
fn a_kill_between_the_observation_and_the_change_rolls_back_and_resumes_cleanly() {
    // The first host op's observation, and a later one's (earlier host ops applied).
    for (target, n) in [
        ("rollback", 1),
        ("resume", 1),
        ("rollback", 3),
        ("resume", 4),
    ] {
        let s = at_4_1();
        let original = s.machine();
        let digests = s.digests();
        let crashed = s.run_with_env(
            &["upgrade", "--to", "4.2"],
            &[("HUBUP_TEST_FAULTS", &format!("crash-observed={n}"))],
        );
        assert_ne!(crashed.code, 0, "the process was killed");
        assert!(
            crashed
                .stderr
                .contains("simulated crash after host observation"),
            "{}",
            crashed.stderr
        );
        let journal = s.run(&["journal", "show"]).expect(0).stdout;
        assert!(journal.contains("host_observed"), "{journal}");
        match target {
            "rollback" => {
                s.run(&["rollback", "--to", "4.1"]).expect(0);
                assert_eq!(s.machine(), original);
                assert_eq!(s.digests(), digests);
            }
            _ => {
                s.run_playing_dba(&["resume"]).expect(0);
                let lm = thumbprint_of(&original, "DemoLicenseManagerCert");
                assert_eq!(lm_binding(&s.machine()).unwrap()["thumbprint"], lm.as_str());
                s.run(&["rollback", "--to", "4.1"]).expect(0);
                assert_eq!(s.machine(), original);
            }
        }
    }
}

#[test]
fn a_sql_certificate_without_its_private_key_is_refused_before_any_change() {
    let s = at_4_1();
    let mut m = s.machine();
    let certs = m["certificates"].as_array_mut().unwrap();
    let sql = certs
        .iter_mut()
        .find(|c| c["friendly_name"] == "BPC_SQL_CERTIFICATE")
        .unwrap();
    sql["has_private_key"] = json!(false);
    s.save_machine(&m);
    let original = s.machine();
    let digests = s.digests();
    let run = s.run(&["upgrade", "--to", "4.2"]).expect(2);
    assert!(
        run.stderr.contains("windows_auth.sql_certificate") && run.stderr.contains("private key"),
        "{}",
        run.stderr
    );
    assert_eq!(s.machine(), original);
    assert_eq!(s.digests(), digests);
}
