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
    // The first host op's observation (a pool's stop), later ones (earlier host ops applied):
    // a service's stop (12: after the 9 Blue Prism pools and 2 services), the SSL binding (13)
    // and a key ACL (14).
    for (target, n) in [
        ("rollback", 1),
        ("resume", 1),
        ("rollback", 3),
        ("resume", 4),
        ("rollback", 12),
        ("resume", 13),
        ("rollback", 14),
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

fn service_state<'m>(m: &'m Value, name: &str) -> &'m Value {
    &m["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap()["state"]
}

fn pool_running(m: &Value, name: &str) -> bool {
    m["app_pools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap()["running"]
        .as_bool()
        .unwrap()
}

fn set_entry(m: &mut Value, list: &str, name: &str, key: &str, value: Value) {
    let entry = m[list]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|e| e["name"] == name)
        .unwrap();
    entry[key] = value;
}

fn commands_log(s: &Scenario) -> String {
    std::fs::read_to_string(s.path().join("commands.log")).unwrap_or_default()
}

#[test]
fn blue_prism_pools_and_services_stop_before_the_files_and_start_after_only_if_they_ran() {
    let s = at_4_1();
    let mut m = s.machine();
    set_entry(
        &mut m,
        "services",
        "Blue Prism - Log Service",
        "state",
        json!("stopped"),
    );
    set_entry(
        &mut m,
        "services",
        "Blue Prism - Log Service",
        "start_mode",
        json!("Manual"),
    );
    set_entry(
        &mut m,
        "app_pools",
        "Blue Prism - Interact",
        "running",
        json!(false),
    );
    s.save_machine(&m);
    let original = s.machine();

    // The plan: the stops come before the backup and every file op, the starts after them.
    let plan = s.run(&["plan", "--to", "4.2"]).expect(0).stdout;
    let line_of = |needle: &str| {
        plan.lines()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle:?} is not in the plan:\n{plan}"))
    };
    let stop = line_of("stop service \"Blue Prism - Audit Service Listener\"");
    let pool_stop = line_of("stop app pool \"Blue Prism - Hub\"");
    let backup = line_of("back up ");
    let write = line_of("delete Audit Service Listener/");
    let start = line_of("start service \"Blue Prism - Audit Service Listener\"");
    let pool_start = line_of("start app pool \"Blue Prism - Hub\"");
    assert!(
        stop < backup && pool_stop < backup && backup < write,
        "{plan}"
    );
    assert!(write < pool_start && write < start, "{plan}");
    assert!(!plan.contains("Default Web Site"), "{plan}");
    assert!(!plan.contains("DefaultAppPool"), "{plan}");

    s.run_playing_dba(&["upgrade", "--to", "4.2"]).expect(0);
    let after = s.machine();
    assert_eq!(service_state(&after, "Blue Prism - Log Service"), "stopped");
    assert_eq!(
        service_state(&after, "Blue Prism - Audit Service Listener"),
        "running"
    );
    assert_eq!(
        service_state(&after, "Blue Prism - Submit Form Manager"),
        "running"
    );
    assert!(
        !pool_running(&after, "Blue Prism - Interact"),
        "stays stopped"
    );
    assert!(pool_running(&after, "Blue Prism - Hub"));
    assert!(pool_running(&after, "DefaultAppPool"));
    let log = commands_log(&s);
    for ran in [
        "sc stop \"Blue Prism - Audit Service Listener\"",
        "sc start \"Blue Prism - Audit Service Listener\"",
        "appcmd stop apppool \"Blue Prism - Hub\"",
        "appcmd start apppool \"Blue Prism - Hub\"",
    ] {
        assert!(log.contains(ran), "{ran}:\n{log}");
    }
    for never in [
        "sc stop \"Blue Prism - Log Service\"",
        "sc start \"Blue Prism - Log Service\"",
        "appcmd start apppool \"Blue Prism - Interact\"",
        "Default Web Site",
        "DefaultAppPool",
    ] {
        assert!(!log.contains(never), "{never}:\n{log}");
    }
    let journal = s.run(&["journal", "show"]).expect(0).stdout;
    assert!(journal.contains("host_observed"), "{journal}");

    s.run(&["rollback", "--to", "4.1"]).expect(0);
    assert_eq!(
        s.machine(),
        original,
        "what ran runs, what was stopped is stopped"
    );
    assert!(!commands_log(&s).contains("Blue Prism - Log Service"));
}

#[test]
fn a_failing_service_stop_rolls_the_step_back_and_leaves_every_service_as_it_was() {
    let s = at_4_1();
    let mut m = s.machine();
    // The last service the step stops: the pools and the two services before it are stopped
    // by then.
    set_entry(
        &mut m,
        "services",
        "Blue Prism - Submit Form Manager",
        "fail_stop",
        json!(true),
    );
    s.save_machine(&m);
    let original = s.machine();
    let digests = s.digests();
    let run = s.run(&["upgrade", "--to", "4.2"]).expect(3);
    assert!(
        run.stderr.contains("Blue Prism - Submit Form Manager"),
        "{}",
        run.stderr
    );
    assert_eq!(s.machine(), original, "every pool and service as it was");
    assert_eq!(s.digests(), digests, "nothing of the install changed");
    let log = commands_log(&s);
    assert!(
        log.contains("sc stop \"Blue Prism - Audit Service Listener\""),
        "{log}"
    );
}

fn registry_version(m: &Value) -> Option<String> {
    m["registry"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["key"] == hubup::INSTALLED_VERSION_KEY && v["name"] == "Version")
        .map(|v| v["value"].as_str().unwrap().to_string())
}

#[test]
fn the_registry_version_is_an_observed_op_that_rollback_puts_back() {
    // The demo's machine has the installer's value; an older machine may have none.
    for had_value in [true, false] {
        let s = at_4_1();
        let mut m = s.machine();
        assert_eq!(registry_version(&m).as_deref(), Some("4.1"));
        if !had_value {
            m["registry"] = json!([]);
            s.save_machine(&m);
        }
        let original = s.machine();
        s.run_playing_dba(&["upgrade", "--to", "4.2"]).expect(0);
        assert_eq!(registry_version(&s.machine()).as_deref(), Some("4.2"));
        let log = commands_log(&s);
        assert!(
            log.contains(&format!(
                "reg add \"{}\" /v Version /t REG_SZ /d \"4.2\" /f",
                hubup::INSTALLED_VERSION_KEY
            )),
            "{log}"
        );
        let journal = s.run(&["journal", "show"]).expect(0).stdout;
        assert!(journal.contains("registry"), "{journal}");
        s.run(&["rollback", "--to", "4.1"]).expect(0);
        assert_eq!(
            s.machine(),
            original,
            "the value as it was (had one: {had_value})"
        );
    }
}

#[test]
fn the_broker_restarts_here_only_when_it_runs_here_else_the_run_names_its_server() {
    // Read from the journal, not commands.log: the restart is a command template, which the
    // demo runs through a shell that appends to the log, and under Wine that shell
    // (powershell.exe) is a stub that writes nothing.
    const RESTARTED: &str = "restart service \"RabbitMQ\"";
    // The demo's broker is this machine's: the step to 4.2 (the guide asks from 4.1 on)
    // restarts it.
    let s = at_4_1();
    let run = s.run_playing_dba(&["upgrade", "--to", "4.2"]).expect(0);
    let journal = s.run(&["journal", "show"]).expect(0).stdout;
    assert!(journal.contains(RESTARTED), "{journal}");
    assert!(!run.stdout.contains("reminder"), "{}", run.stdout);

    // On another server: no restart here, a reminder naming that server.
    let s = at_4_1();
    let mut config = std::fs::read_to_string(s.config()).unwrap();
    config.push_str("\n[rabbitmq]\nhost = \"mq01.corp.local\"\n");
    std::fs::write(s.config(), config).unwrap();
    let plan = s.run(&["plan", "--to", "4.2"]).expect(0).stdout;
    assert!(plan.contains("mq01.corp.local"), "{plan}");
    assert!(!plan.contains(RESTARTED), "{plan}");
    let run = s.run_playing_dba(&["upgrade", "--to", "4.2"]).expect(0);
    let journal = s.run(&["journal", "show"]).expect(0).stdout;
    assert!(!journal.contains(RESTARTED), "{journal}");
    let said = format!("{}{}", run.stdout, run.stderr);
    assert!(
        said.contains("reminder") && said.contains("mq01.corp.local"),
        "{said}"
    );
}

fn site_running(m: &Value, name: &str) -> Option<bool> {
    m["sites"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .and_then(|p| p["running"].as_bool())
}

#[test]
fn a_site_the_administrator_stopped_stays_stopped_through_upgrade_failure_and_rollback() {
    let s = Scenario::at_version("4.2");
    let mut m = s.machine();
    set_entry(
        &mut m,
        "sites",
        "Blue Prism - Interact",
        "running",
        json!(false),
    );
    s.save_machine(&m);
    let original = s.machine();
    // Stopped, and kept from starting with IIS (auto-start off), as an administrator leaves a
    // site they retired.
    let apphost = std::fs::read_to_string(s.apphost()).unwrap();
    let auto = r#"<site name="Blue Prism - Interact" id="8" serverAutoStart="true">"#;
    let off = r#"<site name="Blue Prism - Interact" id="8" serverAutoStart="false">"#;
    assert!(apphost.contains(auto), "{apphost}");
    std::fs::write(s.apphost(), apphost.replace(auto, off)).unwrap();
    let original_apphost = std::fs::read(s.apphost()).unwrap();

    // A step that fails after its stops: undo puts back what each stop found, no more.
    let plan = s.run(&["plan", "--to", "4.3", "--json"]).expect(0).json();
    let ops = plan["steps"][0]["ops"].as_array().unwrap();
    let last_write = ops.iter().rfind(|op| op["kind"] == "write_file").unwrap()["index"]
        .as_u64()
        .unwrap();
    let fault = format!("fail=4.2:{last_write}");
    s.run_with_env(
        &["upgrade", "--to", "4.3"],
        &[("HUBUP_TEST_FAULTS", &fault)],
    )
    .expect(3);
    assert_eq!(s.machine(), original, "the failed step's undo");
    assert!(!started_interact(&s), "{}", commands_log(&s));

    // The step itself: the stopped site stays stopped, the renamed IMS runs under its new name.
    s.run_playing_dba(&["upgrade", "--to", "4.3"]).expect(0);
    let after = s.machine();
    assert_eq!(site_running(&after, "Blue Prism - Interact"), Some(false));
    assert_eq!(site_running(&after, "Blue Prism - Hub"), Some(true));
    assert_ne!(
        site_running(&after, "Blue Prism - Authentication Server"),
        Some(false),
        "the renamed site runs as IMS did"
    );
    assert!(!started_interact(&s), "{}", commands_log(&s));
    assert!(
        commands_log(&s).contains("appcmd stop site \"Blue Prism - Hub\""),
        "sites are stopped as observed host ops: {}",
        commands_log(&s)
    );

    let after_apphost = std::fs::read_to_string(s.apphost()).unwrap();
    assert!(after_apphost.contains(off), "auto-start stays off");

    s.run(&["rollback", "--to", "4.2"]).expect(0);
    assert_eq!(s.machine(), original, "rollback starts only what ran");
    assert_eq!(std::fs::read(s.apphost()).unwrap(), original_apphost);
    assert!(!started_interact(&s), "{}", commands_log(&s));
}

/// Whether anything (a host op or a command template) started the Interact site.
fn started_interact(s: &Scenario) -> bool {
    commands_log(s)
        .lines()
        .map(|l| l.trim_end_matches('"'))
        .any(|l| l.contains("start site") && l.ends_with("Blue Prism - Interact"))
}

/// The encrypted password IIS keeps for a domain identity (`appcmd` writes it so): its text
/// is a secret of the machine's and must be copied as it is, never shown or journaled.
const ENCRYPTED: &str = "[enc:IISCngProvider:U2VjcmV0UG9vbFBhc3N3b3Jk:enc]";

#[test]
fn a_domain_identity_on_the_hub_pool_is_copied_with_its_encrypted_password_and_used_everywhere() {
    let s = at_4_1();
    let apphost = std::fs::read_to_string(s.apphost()).unwrap();
    let hub = "<add name=\"Blue Prism - Hub\" managedRuntimeVersion=\"\" startMode=\"AlwaysRunning\">\r\n                <processModel identityType=\"ApplicationPoolIdentity\" loadUserProfile=\"true\" />";
    assert!(apphost.contains(hub), "{apphost}");
    let domain = format!(
        "<add name=\"Blue Prism - Hub\" managedRuntimeVersion=\"\" startMode=\"AlwaysRunning\">\r\n                <processModel identityType=\"SpecificUser\" userName=\"CORP\\svc-hub\" password=\"{ENCRYPTED}\" loadUserProfile=\"true\" />"
    );
    std::fs::write(s.apphost(), apphost.replace(hub, &domain)).unwrap();
    let original = std::fs::read(s.apphost()).unwrap();

    let plan = s.run(&["plan", "--to", "4.2"]).expect(0).stdout;
    assert!(!plan.contains(ENCRYPTED), "{plan}");
    let mut printed = vec![plan];
    let run = s.run_playing_dba(&["upgrade", "--to", "4.2"]).expect(0);
    printed.push(format!("{}{}", run.stdout, run.stderr));

    // The new pools run as the Hub pool does, with its encrypted password copied as written.
    let after = std::fs::read_to_string(s.apphost()).unwrap();
    let pools = hubup::app_pools(after.as_bytes()).unwrap();
    for pool in [
        "Blue Prism - License Manager",
        "Blue Prism - Notification Center",
    ] {
        let p = pools.iter().find(|p| p.name == pool).unwrap();
        assert_eq!(p.identity_type.as_deref(), Some("SpecificUser"), "{pool}");
        assert_eq!(p.user_name.as_deref(), Some(r"CORP\svc-hub"), "{pool}");
        assert!(p.has_password, "{pool}");
    }
    assert_eq!(after.matches(ENCRYPTED).count(), 3, "{after}");

    // The same principal for the databases and the certificate key, never the pool's own.
    let script = std::fs::read_to_string(s.path().join("output").join("hubup-database.sql"))
        .unwrap_or_default();
    let journal = s.run(&["journal", "export", "--json"]).expect(0).stdout;
    let sql = format!("{script}{journal}");
    assert!(sql.contains(r"CORP\\svc-hub") || sql.contains(r"CORP\svc-hub"));
    assert!(
        !sql.contains(r"IIS APPPOOL\\Blue Prism - License Manager")
            && !sql.contains(r"IIS APPPOOL\Blue Prism - License Manager"),
        "the License Manager's login is the identity its pool runs as"
    );
    let log = commands_log(&s);
    assert!(log.contains(r#"/grant "CORP\svc-hub:F""#), "{log}");
    assert!(
        !log.contains("/processModel.userName"),
        "no identity command: {log}"
    );

    // The secret appears nowhere hubup wrote or printed, except applicationHost.config itself
    // and its backup.
    printed.push(journal);
    for text in &printed {
        assert!(!text.contains(ENCRYPTED) && !text.contains("U2VjcmV0UG9vbFBhc3N3b3Jk"));
    }
    let backups = s.root().join("backup_4.1");
    assert_no_pool_password_on_disk(&s, Some(&backups));

    s.run(&["rollback", "--to", "4.1"]).expect(0);
    assert_eq!(std::fs::read(s.apphost()).unwrap(), original);
    assert_no_pool_password_on_disk(&s, None);
}

/// No file of the sandbox but applicationHost.config (and the backup of it under `backups`)
/// holds the pool password's encrypted text.
fn assert_no_pool_password_on_disk(s: &Scenario, backups: Option<&std::path::Path>) {
    let needle = b"U2VjcmV0UG9vbFBhc3N3b3Jk";
    for entry in walkdir(s.path()) {
        if entry == s.apphost() || backups.is_some_and(|b| entry.starts_with(b)) {
            continue;
        }
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "the pool password in {}",
            entry.display()
        );
    }
}

/// Every file under `dir`.
fn walkdir(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walkdir(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn status_reports_the_machine_outside_the_tree_and_its_digest_comes_back_after_rollback() {
    let s = at_4_1();
    let mut m = s.machine();
    set_entry(
        &mut m,
        "sites",
        "Blue Prism - Interact",
        "running",
        json!(false),
    );
    s.save_machine(&m);
    let before = s.status()["machine"].clone();
    let objects = before["objects"].as_array().unwrap();
    let state_of = |name: &str| {
        objects
            .iter()
            .find(|o| o["object"] == name)
            .unwrap_or_else(|| panic!("{name} in {before}"))["state"]
            .clone()
    };
    assert_eq!(state_of("site \"Blue Prism - Interact\""), "stopped");
    assert_eq!(state_of("app pool \"Blue Prism - Hub\""), "running");
    assert_eq!(
        state_of("service \"Blue Prism - Log Service\""),
        "running (start mode Auto)"
    );
    assert!(
        objects
            .iter()
            .all(|o| !o["object"].as_str().unwrap().contains("Default Web Site")),
        "only Blue Prism's objects: {before}"
    );
    let text = s.run(&["status"]).expect(0).stdout;
    assert!(
        text.contains(&format!("digest {}", before["digest"].as_str().unwrap())),
        "{text}"
    );

    s.run_playing_dba(&["upgrade", "--to", "4.2"]).expect(0);
    let after = s.status()["machine"].clone();
    assert_ne!(
        after["digest"], before["digest"],
        "new sites, bindings, version"
    );
    // Windows authentication's grant: the Hub identity's access to the SQL certificate's key.
    let hub_key = |m: &Value| {
        m["objects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| {
                let o = o["object"].as_str().unwrap();
                o.starts_with(r"IIS APPPOOL\Blue Prism - Hub's access to the private key")
            })
            .unwrap_or_else(|| panic!("the Hub pool's key access in {m}"))["state"]
            .clone()
    };
    assert_eq!(hub_key(&before), "no entries");
    assert_ne!(hub_key(&after), "no entries", "{after}");
    s.run(&["rollback", "--to", "4.1"]).expect(0);
    assert_eq!(s.status()["machine"], before, "the machine as it was");
}

/// A change to an object the step would have touched but never reached (the registry value,
/// changed by someone else while the step ran, the step failing before its registry op): the
/// per-op observations cannot see it, the machine's digest journaled before the step does,
/// and the rollback says it is not verified.
#[cfg(unix)]
#[test]
fn rollback_compares_every_object_the_step_touches_with_the_digest_taken_before_it() {
    let s = at_4_1();
    let plan = s.run(&["plan", "--to", "4.2", "--json"]).expect(0).json();
    let grant = plan["steps"][0]["ops"]
        .as_array()
        .unwrap()
        .iter()
        .find(|op| op["description"].as_str().unwrap().contains("full control"))
        .unwrap()["index"]
        .as_u64()
        .unwrap();
    let script = format!(
        r#"sed -i 's/"value": "4.1"/"value": "9.9"/' '{}'"#,
        machine_path(&s).display()
    );
    let text = std::fs::read_to_string(s.config()).unwrap();
    let text: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with("folder_acl_grant =") {
                format!("folder_acl_grant = [\"sh\", \"-c\", {script:?}]")
            } else {
                l.to_string()
            }
        })
        .collect();
    std::fs::write(s.config(), text.join("\n")).unwrap();
    let fault = format!("fail=4.1:{}", grant + 2);
    let run = s.run_with_env(
        &["upgrade", "--to", "4.2"],
        &[("HUBUP_TEST_FAULTS", &fault)],
    );
    assert_ne!(run.code, 3, "not a verified rollback: {}", run.stderr);
    assert!(
        run.stderr.contains("recorded before the step") && run.stderr.contains("9.9"),
        "{}",
        run.stderr
    );
    let journal = s.run(&["journal", "show"]).expect(0).stdout;
    assert!(journal.contains("machine before the step"), "{journal}");
}

#[test]
fn a_stopped_site_renamed_in_4_3_stays_stopped_under_its_new_name_and_rollback_puts_it_back() {
    let s = Scenario::at_version("4.2");
    let mut m = s.machine();
    set_entry(&mut m, "sites", "Blue Prism - IMS", "running", json!(false));
    s.save_machine(&m);
    let original = s.machine();
    s.run_playing_dba(&["upgrade", "--to", "4.3"]).expect(0);
    let after = s.machine();
    assert_eq!(
        site_running(&after, "Blue Prism - Authentication Server"),
        Some(false),
        "IMS was stopped: its new name is too"
    );
    assert_ne!(
        site_running(&after, "Blue Prism - Email Service"),
        Some(false),
        "Email Sender ran: its new name does"
    );
    s.run(&["rollback", "--to", "4.2"]).expect(0);
    let back = s.machine();
    assert_eq!(site_running(&back, "Blue Prism - IMS"), Some(false));
    assert_eq!(back, original, "the machine as it was");
}
