//! What the wizard asks reaches the applications (issue 15): a non-default License Manager
//! host, port and database name end up in Hub's `LicenseManagerUrl`, License Manager's own
//! `PublicUrl`, its database name and a connection string; with SQL authentication the
//! applications' password is in the settings file and nowhere else (journal, log, plan,
//! output); a rollback gives every settings file back byte for byte; an environment overlay
//! holding an answered key gets the answer too; `check` names the databases to back up.

use std::fs;
use std::path::Path;

use crate::support::Scenario;

const LM_HOST: &str = "licensemanager.corp.example.com";
const LM_URL: &str = "https://licensemanager.corp.example.com:8443";

/// Puts `lines` at the top of the config table `[table]`.
fn add_to_table(scenario: &Scenario, table: &str, lines: &str) {
    let path = scenario.config();
    let text = fs::read_to_string(&path).unwrap();
    let header = format!("[{table}]\n");
    assert!(text.contains(&header), "the demo config has [{table}]");
    fs::write(
        &path,
        text.replacen(&header, &format!("{header}{lines}\n"), 1),
    )
    .unwrap();
}

fn append(scenario: &Scenario, text: &str) {
    let path = scenario.config();
    let mut config = fs::read_to_string(&path).unwrap();
    config.push_str(text);
    fs::write(&path, config).unwrap();
}

/// The settings file as the application reads it (the fixture's comments are whole lines).
fn settings(root: &Path, file: &str) -> serde_json::Value {
    let text = fs::read_to_string(root.join(file)).unwrap();
    let json: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    serde_json::from_str(&json).unwrap_or_else(|e| panic!("{file}: {e}\n{text}"))
}

fn non_default_license_manager(scenario: &Scenario) {
    add_to_table(
        scenario,
        "sites.license_manager",
        &format!("host = \"{LM_HOST}\"\nport = 8443"),
    );
    append(
        scenario,
        "\n[sql.databases]\nlicense_manager = \"LM_Prod\"\n",
    );
    certificate_covers(scenario, "DemoLicenseManagerCert", LM_HOST);
}

/// Adds `host` to the DNS names of the sandbox machine's certificate `friendly`, as an
/// administrator who moves a site to a new host name first gets a certificate for it (hubup
/// refuses a certificate that does not cover its site's host).
fn certificate_covers(scenario: &Scenario, friendly: &str, host: &str) {
    let mut machine = scenario.machine();
    let certificate = machine["certificates"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|c| c["friendly_name"] == friendly)
        .expect("the demo machine has the certificate");
    certificate["dns_names"]
        .as_array_mut()
        .unwrap()
        .push(host.into());
    scenario.save_machine(&machine);
}

/// Every file under `dir` (relative path, bytes), for before/after comparisons.
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().display().to_string();
                // The install lock is not part of the install (hubup's digest skips it too).
                if rel == hubup::LOCK_FILE {
                    continue;
                }
                out.push((rel, fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

fn settings_files(root: &Path) -> Vec<(String, Vec<u8>)> {
    tree(root)
        .into_iter()
        .filter(|(p, _)| p.ends_with("appsettings.json") && !p.starts_with("backup_"))
        .collect()
}

#[test]
fn a_non_default_license_manager_reaches_hub_and_its_own_settings() {
    let scenario = Scenario::at_version("4.1");
    non_default_license_manager(&scenario);
    let hub_before = fs::read_to_string(scenario.root().join("Hub/appsettings.json")).unwrap();

    scenario
        .run_playing_dba(&["upgrade", "--to", "4.2"])
        .expect(0);

    let root = scenario.root();
    let hub = settings(&root, "Hub/appsettings.json");
    assert_eq!(hub["LicenseManagerUrl"], LM_URL);
    assert_eq!(
        hub["NotificationCenterUrl"],
        "https://notificationcenter.local"
    );
    let lm = settings(&root, "License Manager/appsettings.json");
    assert_eq!(lm["PublicUrl"], LM_URL);
    assert_eq!(lm["SiteName"], "Blue Prism - License Manager");
    assert_eq!(lm["DatabaseName"], "LM_Prod");
    assert_eq!(
        lm["ConnectionStrings"]["DefaultConnection"],
        "Server=SQL01;Database=LM_Prod;Integrated Security=True;Encrypt=True;\
         TrustServerCertificate=False"
    );
    let nc = settings(&root, "Notification Center/appsettings.json");
    assert_eq!(nc["DatabaseName"], "NotificationCenterDB");
    assert!(
        nc["ConnectionStrings"]["DefaultConnection"]
            .as_str()
            .unwrap()
            .contains("Database=NotificationCenterDB;Integrated Security=True")
    );
    // The administrator's values and comments stay.
    let hub_text = fs::read_to_string(root.join("Hub/appsettings.json")).unwrap();
    assert!(hub_text.contains("// Tuned on this server"), "{hub_text}");
    let kept = hub_before
        .lines()
        .find(|l| l.contains("DefaultConnection"))
        .unwrap();
    assert!(hub_text.contains(kept), "{hub_text}");
    // The database the settings name is the one created.
    let script = fs::read_to_string(scenario.path().join("output/hubup-database.sql")).unwrap();
    assert!(
        script.contains("[LM_Prod]"),
        "the DBA script creates LM_Prod"
    );
}

#[test]
fn rollback_gives_every_settings_file_back_byte_for_byte() {
    let scenario = Scenario::at_version("4.1");
    non_default_license_manager(&scenario);
    let before = settings_files(&scenario.root());
    scenario
        .run_playing_dba(&["upgrade", "--to", "4.2"])
        .expect(0);
    assert_ne!(settings_files(&scenario.root()), before);
    scenario
        .run_playing_dba(&["rollback", "--to", "4.1"])
        .expect(0);
    assert_eq!(settings_files(&scenario.root()), before);
}

const APP_PASSWORD: &str = "Hub-App-Pa55-7731";
const APP_PASSWORD_VAR: &str = "HUBUP_TEST_APP_PASSWORD";

fn sql_authentication(scenario: &Scenario) {
    add_to_table(
        scenario,
        "sql",
        &format!(
            "user = \"hubup_admin\"\napp_login = \"hub_app\"\n\
             app_password_env = \"{APP_PASSWORD_VAR}\""
        ),
    );
    let path = scenario.config();
    let text = fs::read_to_string(&path).unwrap();
    fs::write(&path, text.replace("auth = \"windows\"", "auth = \"sql\"")).unwrap();
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[test]
fn the_applications_sql_password_is_in_their_settings_and_nowhere_else() {
    let scenario = Scenario::at_version("4.2");
    sql_authentication(&scenario);
    let env = [(APP_PASSWORD_VAR, APP_PASSWORD)];

    let plan = scenario.run_with_env(&["plan", "--to", "4.3", "--json"], &env);
    let plan = plan.expect(0);
    assert!(
        !plan.stdout.contains(APP_PASSWORD),
        "plan shows the password"
    );
    assert!(plan.stdout.contains("{secret:sql.app_password}"));

    let run = scenario
        .run_with_env_playing_dba(&["upgrade", "--to", "4.3"], &env)
        .expect(0);
    assert!(!run.stdout.contains(APP_PASSWORD) && !run.stderr.contains(APP_PASSWORD));

    let email = settings(&scenario.root(), "Email Service/appsettings.json");
    assert_eq!(
        email["ConnectionStrings"]["DefaultConnection"],
        format!(
            "Server=SQL01;Database=EmailServiceDB;User ID=hub_app;Password={APP_PASSWORD};\
             Encrypt=True;TrustServerCertificate=False"
        )
    );
    // Nowhere else: the journal file, its export, the log, the SQL script, the backups.
    let journal_dir = scenario.path().join("journal");
    for (path, bytes) in tree(&journal_dir)
        .into_iter()
        .chain(tree(&scenario.path().join("output")))
    {
        assert!(!contains(&bytes, APP_PASSWORD), "{path} holds the password");
    }
    let export = scenario.run(&["journal", "export", "--json"]).expect(0);
    assert!(!export.stdout.contains(APP_PASSWORD));
    assert!(export.stdout.contains("{secret:sql.app_password}"));
}

#[test]
fn without_the_applications_password_upgrade_refuses_and_changes_nothing() {
    let scenario = Scenario::at_version("4.2");
    sql_authentication(&scenario);
    let before = tree(&scenario.root());

    let run = scenario.run(&["upgrade", "--to", "4.3"]).expect(2);
    let said = format!("{}{}", run.stdout, run.stderr);
    assert!(said.contains(APP_PASSWORD_VAR), "{said}");
    assert!(said.contains("Email Service/appsettings.json"), "{said}");
    assert_eq!(tree(&scenario.root()), before);

    // `check` says the same; `plan` still shows the plan.
    let check = scenario.run(&["check", "--to", "4.3"]).expect(2);
    assert!(check.stdout.contains("application connection strings"));
    scenario.run(&["plan", "--to", "4.3"]).expect(0);
}

/// The guide recommends backing up the databases first: without `--backup-databases`, `check`
/// warns and names every database this install has at its version (as the config names them).
#[test]
fn check_without_database_backups_warns_naming_each_database() {
    let scenario = Scenario::at_version("4.2");
    append(&scenario, "\n[sql.databases]\nhub = \"Hub_Prod\"\n");
    let check = scenario.run(&["check", "--to", "4.3"]).expect(0);
    let line = check
        .stdout
        .lines()
        .find(|l| l.contains("database backups"))
        .unwrap_or_else(|| panic!("no backup warning:\n{}", check.stdout));
    assert!(line.contains("warn"), "{line}");
    for name in [
        "ImsDB",
        "Hub_Prod",
        "AuditDB",
        "FileServiceDB",
        "InteractDB",
        "LicenseManagerDB",
        "NotificationCenterDB",
        "IadaDB",
    ] {
        assert!(line.contains(name), "{name} missing: {line}");
    }
    assert!(
        !line.contains("EmailServiceDB"),
        "not there before 4.3: {line}"
    );
    assert!(line.contains("--backup-databases"), "{line}");

    let dir = if cfg!(windows) {
        r"D:\SQLBackups"
    } else {
        "/var/opt/mssql/backup"
    };
    let check = scenario
        .run(&["check", "--to", "4.3", "--backup-databases", dir])
        .expect(0);
    assert!(
        !check
            .stdout
            .lines()
            .any(|l| l.contains("database backups") && l.contains("warn")),
        "{}",
        check.stdout
    );
}

/// An environment overlay that holds a key the wizard's answers set would override it (.NET
/// reads the overlay last): the answer is written there too, so the application reads it.
#[test]
fn an_overlay_holding_a_connection_string_gets_the_new_one_too() {
    let scenario = Scenario::at_version("4.1");
    let overlay = scenario.root().join("IADA/appsettings.Production.json");
    fs::write(
        &overlay,
        "{\r\n  // this server's own\r\n  \"ConnectionStrings\": {\r\n    \"DefaultConnection\": \
         \"Server=OLD01;Database=Interact\"\r\n  },\r\n  \"Logging\": { \"LogLevel\": { \
         \"Default\": \"Error\" } }\r\n}\r\n",
    )
    .unwrap();
    scenario
        .run_playing_dba(&["upgrade", "--to", "4.2"])
        .expect(0);
    let text = fs::read_to_string(&overlay).unwrap();
    assert!(
        text.contains(
            "\"DefaultConnection\": \"Server=SQL01;Database=IadaDB;Integrated Security=True;\
             Encrypt=True;TrustServerCertificate=False\""
        ),
        "{text}"
    );
    assert!(
        text.contains("// this server's own") && text.contains("\"Error\""),
        "{text}"
    );
    // The base file gets the answers as well.
    let iada = settings(&scenario.root(), "IADA/appsettings.json");
    assert_eq!(iada["DatabaseName"], "IadaDB");
    assert_eq!(
        iada["ConnectionStrings"]["DefaultConnection"],
        "Server=SQL01;Database=IadaDB;Integrated Security=True;Encrypt=True;TrustServerCertificate=False"
    );
}

/// The demo names SQL Server `SQL01` (the applications' connection strings need a server)
/// but has none: its config says hubup does not check the DBA's work there, so a plain
/// `resume` of a step waiting for its DBA connects to nothing and says how to go on. The
/// server here is a local listener that records any connection.
#[test]
fn the_sandbox_resume_never_connects_to_its_sql_server() {
    let scenario = Scenario::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let path = scenario.config();
    let text = fs::read_to_string(&path).unwrap();
    assert!(text.contains("server = \"SQL01\"\n"), "{text}");
    fs::write(
        &path,
        text.replacen(
            "server = \"SQL01\"\n",
            &format!("server = \"127.0.0.1,{port}\"\n"),
            1,
        ),
    )
    .unwrap();

    scenario.run(&["upgrade", "--to", "4.1"]).expect(0);
    let stopped = scenario.run(&["upgrade", "--to", "4.2"]);
    assert_eq!(stopped.code, 7, "{}", stopped.stderr);
    let entries = scenario.journal().len();
    let resumed = scenario.run(&["resume"]);
    assert_eq!(resumed.code, 7, "{}", resumed.stderr);
    assert!(
        resumed.stderr.contains("hubup resume --dba-confirmed")
            && resumed.stderr.contains("check_dba_work"),
        "{}",
        resumed.stderr
    );
    assert_eq!(scenario.journal().len(), entries, "nothing journaled");
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "script mode connected to the SQL Server"
    );
    // The operator's word goes on, as the demo does.
    scenario.run(&["resume", "--dba-confirmed"]).expect(0);
}
