//! Issue 16: `hubup init` asks what the vendor's screens ask and writes a commented
//! `hubup.toml` that the loader reads back; each answer is checked as the loader checks it
//! (asked again on a terminal, refused by its flag off one), certificates come from the
//! machine's store, the SQL connection is tested against a real TDS server (the stand-in),
//! and nothing is written unless all of it is right (an existing file only with --force).

use std::path::Path;

use crate::support::tds::StandIn;
use crate::support::{Run, Scenario, StartRetrying, hubup_asking};

const ADMIN: &str = "hubup_admin";
/// Distinctive, so a grep finds any leak of it.
const PASSWORD: &str = "Init-Test-Pa55word-73";
const PASSWORD_VAR: &str = "HUBUP_INIT_TEST_SQL_PASSWORD";

/// `hubup init --out <scenario>/new.toml <args>`, the sandbox's tree given by flags, in the
/// sandbox's folder, standard input not a terminal.
fn init(scenario: &Scenario, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = init_command(scenario, args);
    for (k, v) in env {
        command.env(k, v);
    }
    Run::from_output(command.output_retrying().expect("run hubup init"))
}

fn init_command(scenario: &Scenario, args: &[&str]) -> std::process::Command {
    let mut command = hubup_asking();
    command
        .current_dir(scenario.path())
        .args(["init", "--out", "new.toml"])
        .args(["--root", "install/Blue Prism"])
        .args(["--apphost", "inetsrv/applicationHost.config"])
        .args(["--packages", "packages", "--sandbox-state", "machine.json"])
        .args(args)
        .env_remove(PASSWORD_VAR);
    command
}

fn written(scenario: &Scenario) -> Option<String> {
    std::fs::read_to_string(scenario.path().join("new.toml")).ok()
}

fn load(scenario: &Scenario) -> hubup::Config {
    hubup::Config::load(&scenario.path().join("new.toml")).expect("the written config loads")
}

const CERTIFICATES: [&str; 4] = [
    "--site-certificate",
    "license_manager=DemoLicenseManagerCert",
    "--site-certificate",
    "notification_center=DemoNotificationCenterCert",
];

#[test]
fn flags_alone_write_a_commented_config_the_loader_reads_back_with_every_answer() {
    let scenario = Scenario::new();
    let mut args = vec![
        "--sql-server",
        r"SQL01\HUB,1433",
        "--site-port",
        "license_manager=8443",
        "--site-name",
        "notification_center=BP Notifications",
        "--site-no-start",
        "notification_center",
        "--database",
        "license_manager=LM_Prod",
        "--database",
        "email_service=Mail_Prod",
        "--control-room-api-url",
        "https://bpapi.corp.example.com:8080",
        "--machines",
        "WEB02, WEB03",
    ];
    args.extend(CERTIFICATES);
    let run = init(&scenario, &args, &[]).expect(0);
    assert!(run.stdout.contains("wrote new.toml"), "{}", run.stdout);
    assert!(
        run.stderr.contains("found Hub and Interact 4.0"),
        "{}",
        run.stderr
    );
    let text = written(&scenario).unwrap();
    assert!(
        text.contains("# The License Manager IIS setup screen"),
        "{text}"
    );
    assert!(text.contains("# The SQL connection screens."), "{text}");

    let config = load(&scenario);
    assert_eq!(config.sql.server, r"SQL01\HUB,1433");
    assert_eq!(config.sql.databases["license_manager"], "LM_Prod");
    assert_eq!(config.sql.databases["email_service"], "Mail_Prod");
    // A default stays out of the file, so the loader's default applies.
    assert!(!config.sql.databases.contains_key("iada"), "{text}");
    let lm = config.site(hubup::Component::LicenseManager);
    assert_eq!((lm.host.as_str(), lm.port), ("licensemanager.local", 8443));
    assert_eq!(lm.certificate.as_deref(), Some("DemoLicenseManagerCert"));
    let nc = config.site(hubup::Component::NotificationCenter);
    assert_eq!(nc.name, "BP Notifications");
    assert!(!nc.start);
    assert_eq!(config.install.machines, ["WEB02", "WEB03"]);
    assert_eq!(
        config.optional.control_room_api_url.as_deref(),
        Some("https://bpapi.corp.example.com:8080")
    );
    assert_eq!(
        config.install.root,
        scenario.path().join("install/Blue Prism")
    );

    // Written to standard output with `--out -`, the same text.
    let command = init_command(&scenario, &args);
    let position = command
        .get_args()
        .position(|a| a == "new.toml")
        .expect("--out given");
    let mut again: Vec<std::ffi::OsString> = command.get_args().map(Into::into).collect();
    again[position] = "-".into();
    let mut stdout = hubup_asking();
    stdout.current_dir(scenario.path()).args(again);
    let printed = Run::from_output(stdout.output_retrying().unwrap()).expect(0);
    assert_eq!(printed.stdout, text);
}

#[test]
fn a_refused_answer_names_its_flag_and_an_existing_file_needs_force() {
    let scenario = Scenario::new();
    let bad = [
        (
            vec![
                "--sql-server",
                "SQL01",
                "--site-host",
                "license_manager=LicenseManager.local",
            ],
            ["--site-host", "licensemanager.local"],
        ),
        (
            vec![
                "--sql-server",
                "SQL01",
                "--site-host",
                "license_manager=portal.local",
            ],
            ["--site-host", "first part"],
        ),
        (
            vec![
                "--sql-server",
                "SQL01",
                "--site-port",
                "license_manager=70000",
            ],
            ["--site-port", "1 to 65535"],
        ),
        (
            vec!["--sql-server", "SQL01,port"],
            ["--sql-server", "TCP port"],
        ),
        (vec![], ["--sql-server", "SQL Server is needed"]),
        (
            vec![
                "--sql-server",
                "SQL01",
                "--site-certificate",
                "license_manager=NoSuchCert",
            ],
            ["--site-certificate", "NoSuchCert"],
        ),
        (
            vec![
                "--sql-server",
                "SQL01",
                "--control-room-api-url",
                "http://bpapi.local",
            ],
            ["--control-room-api-url", "https://"],
        ),
        (
            vec![
                "--sql-server",
                "SQL01",
                "--decision-url",
                "https://decision.local",
                "--decision-certificate",
                "DemoLicenseManagerCert",
            ],
            ["--decision-url", "no port"],
        ),
        (
            vec!["--sql-server", "SQL01", "--database", "hub_db=HubDB"],
            ["--database", "unknown key"],
        ),
        (
            vec!["--sql-server", "SQL01", "--sql-auth", "sql"],
            ["--sql-user", "an answer is needed"],
        ),
    ];
    for (args, words) in bad {
        let run = init(&scenario, &args, &[]).expect(2);
        for word in words {
            assert!(run.stderr.contains(word), "{args:?}: {}", run.stderr);
        }
        assert!(run.stderr.contains("nothing was written"), "{}", run.stderr);
        assert_eq!(written(&scenario), None, "{args:?}");
    }

    let mut args = vec!["--sql-server", "SQL01"];
    args.extend(CERTIFICATES);
    init(&scenario, &args, &[]).expect(0);
    let first = written(&scenario).unwrap();
    let again = init(&scenario, &["--sql-server", "SQL02"], &[]).expect(2);
    assert!(again.stderr.contains("--force"), "{}", again.stderr);
    assert_eq!(written(&scenario).unwrap(), first);
    args[1] = "SQL02";
    args.push("--force");
    init(&scenario, &args, &[]).expect(0);
    assert_eq!(load(&scenario).sql.server, "SQL02");
}

/// The "Test connection to proceed" against a TDS server: a refused login and a login
/// without dbcreator stop `init` with the server's answer (never the password); the right
/// one writes the file, which names the variable and not the password.
#[test]
fn the_sql_connection_is_tested_before_anything_is_written() {
    let server = StandIn::start(&[(ADMIN, PASSWORD, &["dbcreator"]), ("weak", PASSWORD, &[])]);
    let scenario = Scenario::new();
    let ca_file = scenario.path().join("sql-ca.pem");
    std::fs::copy(server.ca_file(), &ca_file).unwrap();
    let address = server.server();
    let sql = |user: &'static str| -> Vec<String> {
        [
            "--sql-mode",
            "execute",
            "--sql-server",
            &address,
            "--sql-auth",
            "sql",
            "--sql-user",
            user,
            "--sql-password-env",
            PASSWORD_VAR,
            "--sql-encrypt",
            "off",
            "--sql-ca-file",
            "sql-ca.pem",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain(CERTIFICATES.iter().map(|s| s.to_string()))
        .collect()
    };
    let args = sql(ADMIN);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    let unset = init(&scenario, &args, &[]).expect(2);
    assert!(unset.stderr.contains(PASSWORD_VAR), "{}", unset.stderr);
    assert!(
        unset.stderr.contains("--skip-connection-test"),
        "{}",
        unset.stderr
    );

    let wrong = init(&scenario, &args, &[(PASSWORD_VAR, "not-the-password")]).expect(2);
    assert!(
        wrong.stderr.contains("connection test failed"),
        "{}",
        wrong.stderr
    );
    assert!(wrong.stderr.contains(ADMIN), "{}", wrong.stderr);
    assert!(
        !wrong.stderr.contains("not-the-password"),
        "{}",
        wrong.stderr
    );
    assert_eq!(written(&scenario), None);

    let weak = sql("weak");
    let weak: Vec<&str> = weak.iter().map(String::as_str).collect();
    let denied = init(&scenario, &weak, &[(PASSWORD_VAR, PASSWORD)]).expect(2);
    assert!(denied.stderr.contains("dbcreator"), "{}", denied.stderr);
    assert_eq!(written(&scenario), None);

    let right = init(&scenario, &args, &[(PASSWORD_VAR, PASSWORD)]).expect(0);
    assert!(
        right.stderr.contains("connection test:"),
        "{}",
        right.stderr
    );
    let text = written(&scenario).unwrap();
    assert!(!text.contains(PASSWORD), "{text}");
    let config = load(&scenario);
    assert_eq!(config.sql.password_env.as_deref(), Some(PASSWORD_VAR));
    assert_eq!(config.sql.user.as_deref(), Some(ADMIN));
    assert_eq!(config.sql.ca_file, Some(ca_file));

    // The server gone: refused, unless the test is skipped.
    drop(server);
    std::fs::remove_file(scenario.path().join("new.toml")).unwrap();
    let gone = init(&scenario, &args, &[(PASSWORD_VAR, PASSWORD)]).expect(2);
    assert!(gone.stderr.contains(&address), "{}", gone.stderr);
    let mut skipped = args.clone();
    skipped.push("--skip-connection-test");
    init(&scenario, &skipped, &[]).expect(0);
    assert!(Path::new(&scenario.path().join("new.toml")).exists());
}

/// On a terminal: every question, a refused answer asked again with the loader's reason, the
/// machine's certificates offered by number, Ctrl-D leaving nothing written.
#[cfg(unix)]
mod on_a_terminal {
    use super::*;
    use crate::support::terminal::run_on_terminal;

    #[test]
    fn each_screen_is_asked_and_a_refused_answer_is_asked_again() {
        let scenario = Scenario::new();
        let typed = [
            "execute\n",              // database work
            "127.0.0.1,1\n",          // server: nothing listens there
            "windows\n",              // authentication
            "n\n",                    // the connection test failed: keep the answers untested
            "LM_Prod\n",              // License Manager database
            "\n",                     // Notification Center database: the default
            "\n",                     // IADA database
            "\n",                     // License Manager site name
            "LicenseManager.local\n", // refused: uppercase
            "licensemanager.local\n", // host
            "70000\n",                // refused: no port
            "8443\n",                 // port
            "NoSuchCert\n",           // refused: not in the store
            "DemoLicenseManagerCert\n",
            "\n", // start the website: yes
            "\n", // Notification Center site name
            "\n", // host
            "\n", // port
            "DemoNotificationCenterCert\n",
            "n\n",                  // do not start it
            "\n",                   // Email Service database
            "http://bpapi.local\n", // refused: not https
            "\n",                   // no Blue Prism API URL
            "n\n",                  // no Decision
            "WEB02\n",              // other machines
        ]
        .concat();
        let run = run_on_terminal(init_command(&scenario, &[]), &typed).expect(0);
        assert!(
            run.stderr.contains("has uppercase letters"),
            "{}",
            run.stderr
        );
        assert!(run.stderr.contains("not a port number"), "{}", run.stderr);
        assert!(run.stderr.contains("\"NoSuchCert\""), "{}", run.stderr);
        assert!(
            run.stderr.contains("must start with https://"),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr.contains("certificates in LocalMachine\\My"),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr.contains("connection test failed"),
            "{}",
            run.stderr
        );
        let config = load(&scenario);
        assert_eq!(config.sql.mode, hubup::SqlMode::Execute);
        assert_eq!(config.sql.databases["license_manager"], "LM_Prod");
        let lm = config.site(hubup::Component::LicenseManager);
        assert_eq!(lm.port, 8443);
        assert_eq!(lm.certificate.as_deref(), Some("DemoLicenseManagerCert"));
        assert!(!config.site(hubup::Component::NotificationCenter).start);
        assert_eq!(config.install.machines, ["WEB02"]);
        assert!(config.optional.control_room_api_url.is_none());
    }

    #[test]
    fn ctrl_d_before_the_last_answer_writes_nothing() {
        let scenario = Scenario::new();
        let run = run_on_terminal(init_command(&scenario, &[]), "script\nSQL01\n\u{4}");
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(run.stderr.contains("nothing was written"), "{}", run.stderr);
        assert_eq!(written(&scenario), None);
    }
}
