//! Issue 5 through the real binary: `sql.mode = "execute"` against the TDS stand-in
//! (`tests/support/tds`), which keeps the state a SQL Server would and rejects any statement
//! hubup is not known to send. Full upgrade and rollback, two machines sharing one server,
//! refused logins, a dropped connection mid-step, a changed or interrupted migration, the
//! pre-provisioned mode, hostile database names, the installation lock, database backups
//! (`--backup-databases`), and a grep for the password in everything hubup wrote or printed.

mod support;

use std::fs;
use std::path::Path;

use serde_json::Value;
use support::Scenario;
use support::tds::{Faults, StandIn};

const ADMIN: &str = "hubup_admin";
/// Distinctive, so a grep finds any leak of it.
const PASSWORD: &str = "Xq7-Upgrade-Pa55word-91";
const PASSWORD_VAR: &str = "HUBUP_TEST_SQL_PASSWORD";
const APP_LOGIN: &str = "hub_app";

const ALL_DATABASES: [&str; 5] = [
    "DecisionDB",
    "EmailServiceDB",
    "IadaDB",
    "LicenseManagerDB",
    "NotificationCenterDB",
];

fn server() -> StandIn {
    StandIn::start(&[
        (ADMIN, PASSWORD, &["dbcreator"]),
        (APP_LOGIN, "app-login-password-unused", &[]),
    ])
}

/// A sandbox whose config does the database work on `server`, with Decision configured (so
/// 4.5 creates its database) and `extra` lines added to `[sql]`.
fn scenario_on(server: &StandIn, mode: &str, extra: &str) -> Scenario {
    let scenario = Scenario::new();
    let mut config = fs::read_to_string(scenario.config()).unwrap();
    let sql = format!(
        "[sql]\nmode = \"{mode}\"\nserver = \"{}\"\nauth = \"sql\"\nuser = \"{ADMIN}\"\n\
         password_env = \"{PASSWORD_VAR}\"\napp_login = \"{APP_LOGIN}\"\nencrypt = \"off\"\n\
         app_password_env = \"{PASSWORD_VAR}\"\n\
         connect_timeout_secs = 5\n{extra}",
        server.server()
    );
    config = config.replacen(
        "[sql]\nmode = \"script\"\nserver = \"SQL01\"\nauth = \"windows\"\n",
        &sql,
        1,
    );
    assert!(config.contains("mode = \"execute\"") || mode != "execute");
    config = config.replacen(
        "[commands]",
        "[optional.decision]\nmodel_service_url = \"https://decision.corp.local:50051\"\n\
         certificate = \"DecisionCert\"\n\n[commands]",
        1,
    );
    fs::write(scenario.config(), config).unwrap();
    scenario
}

/// The backup folder on the stand-in's disk.
const BACKUPS: &str = r"D:\SQLBackups";

/// A server with the databases a 4.0 installation has (the vendor's installer created them),
/// the upgrade login allowed to back them up (a user in `db_backupoperator`), and a backup
/// folder.
fn server_with_vendor_databases() -> StandIn {
    let server = server();
    server.with_state(|state| {
        for name in VENDOR_DATABASES {
            let mut database = support::tds::Database::default();
            database.users.insert("upgrade".into(), ADMIN.into());
            database
                .role_members
                .insert(("db_backupoperator".into(), "upgrade".into()));
            state.databases.insert(name.to_string(), database);
        }
        state.backup_folders.insert(BACKUPS.to_string());
    });
    server
}

const VENDOR_DATABASES: [&str; 5] = ["AuditDB", "FileServiceDB", "HubDB", "ImsDB", "InteractDB"];

/// (database, file) of each backup the server recorded, in order.
fn backups(server: &StandIn) -> Vec<(String, String)> {
    server
        .state()
        .backups
        .iter()
        .map(|b| {
            assert!(b.copy_only, "{b:?}");
            (b.database.clone(), b.file.clone())
        })
        .collect()
}

fn run(scenario: &Scenario, args: &[&str]) -> support::Run {
    scenario.run_with_env(args, &[(PASSWORD_VAR, PASSWORD)])
}

fn database_names(server: &StandIn) -> Vec<String> {
    server.state().databases.keys().cloned().collect()
}

/// OpDone outcomes of the journal's SQL ops, as (description-ish kind, outcome) texts.
fn sql_outcomes(journal: &[Value]) -> Vec<String> {
    journal
        .iter()
        .filter(|e| e["payload"]["kind"] == "op_done")
        .map(|e| e["payload"]["outcome"].to_string())
        .collect()
}

fn assert_no_password_anywhere(dir: &Path, printed: &[&support::Run], server: &StandIn) {
    for entry in walk(dir) {
        let bytes = fs::read(&entry).unwrap();
        assert!(
            !contains(&bytes, PASSWORD.as_bytes()),
            "the password is in {}",
            entry.display()
        );
    }
    for run in printed {
        assert!(!run.stdout.contains(PASSWORD) && !run.stderr.contains(PASSWORD));
    }
    let state = server.state();
    assert!(
        state
            .statements
            .iter()
            .chain(&state.params_seen)
            .all(|s| !s.contains(PASSWORD)),
        "the password was sent as statement text or a parameter"
    );
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn full_upgrade_creates_every_database_migration_user_and_grant_then_rollback_drops_them() {
    let server = server();
    let scenario = scenario_on(&server, "execute", "");
    let before = scenario.digests();
    let check = run(&scenario, &["check", "--to", "4.5"]).expect(0);
    let check_json = run(&scenario, &["check", "--to", "4.5", "--json"]).expect(0);
    let upgrade = run(&scenario, &["upgrade", "--to", "4.5"]).expect(0);
    // The log lists the connection and each statement sent (text only).
    let log = log_named_in(&upgrade.stdout);
    assert!(
        log.contains(&format!("connected to {} as {ADMIN}", server.server()))
            && log.contains("CREATE DATABASE [LicenseManagerDB]; EXEC")
            && log.contains("INSERT INTO [dbo].[__hubup_migrations]"),
        "{log}"
    );
    let state = server.state();
    assert!(state.rejected.is_empty(), "{:?}", state.rejected);
    assert_eq!(database_names(&server), ALL_DATABASES);
    for migration in hubup::MIGRATIONS {
        let database = &state.databases[migration.database()];
        let (checksum, status) = &database.history[migration.id];
        assert_eq!(checksum, &migration.checksum().to_hex());
        assert_eq!(status, "applied");
        for batch in migration.batches() {
            assert!(
                database
                    .migration_batches
                    .contains(&batch.trim().to_string())
            );
        }
    }
    for (name, database) in &state.databases {
        assert_eq!(
            database.users.get(APP_LOGIN).map(String::as_str),
            Some(APP_LOGIN)
        );
        for role in ["db_datareader", "db_datawriter"] {
            assert!(
                database
                    .role_members
                    .contains(&(role.to_string(), APP_LOGIN.to_string())),
                "{name}: {role}"
            );
        }
        // The demo config chooses GRANT EXECUTE for the License Manager (the guide's option).
        assert_eq!(
            database.execute_grants.contains(APP_LOGIN),
            name == "LicenseManagerDB",
            "{name}"
        );
    }
    // The journal holds each migration with its content hash, and every op as applied.
    let journal = scenario.journal();
    let text = serde_json::to_string(&journal).unwrap();
    for migration in hubup::MIGRATIONS {
        assert!(
            text.contains(&migration.checksum().to_hex()),
            "{}",
            migration.id
        );
    }
    assert!(
        !sql_outcomes(&journal)
            .iter()
            .any(|o| o.contains("AlreadyPresent"))
    );

    let export = run(&scenario, &["journal", "export", "--json"]).expect(0);
    let rollback = run(&scenario, &["rollback", "--to", "4.0", "--json"]).expect(0);
    assert!(
        database_names(&server).is_empty(),
        "rollback drops what it created"
    );
    assert_eq!(scenario.digests(), before);
    assert!(server.state().rejected.is_empty());
    let printed = [&check, &check_json, &upgrade, &export, &rollback];
    assert_no_password_anywhere(scenario.path(), &printed, &server);
}

#[test]
fn two_machines_share_one_server_and_each_database_is_created_once() {
    let server = server();
    let first = scenario_on(&server, "execute", "");
    let second = scenario_on(&server, "execute", "");
    run(&first, &["upgrade", "--to", "4.5"]).expect(0);
    run(&second, &["upgrade", "--to", "4.5"]).expect(0);
    let state = server.state();
    for name in ALL_DATABASES {
        let creates = state
            .statements
            .iter()
            .filter(|s| s.starts_with(&format!("CREATE DATABASE [{name}];")))
            .count();
        assert_eq!(creates, 1, "{name} created once");
    }
    let outcomes = sql_outcomes(&second.journal());
    let present = outcomes
        .iter()
        .filter(|o| o.contains("AlreadyPresent"))
        .count();
    // Every database op of the second machine found its work done: 5 databases, 6
    // migrations, 5 users, 10 role memberships and one grant.
    assert_eq!(present, 5 + 6 + 5 + 10 + 1);

    // Rolling back the second machine drops nothing the first created.
    run(&second, &["rollback", "--to", "4.0"]).expect(0);
    assert_eq!(database_names(&server), ALL_DATABASES);
    let state = server.state();
    assert!(
        state.databases["LicenseManagerDB"]
            .users
            .contains_key(APP_LOGIN)
    );
    run(&first, &["rollback", "--to", "4.0"]).expect(0);
    assert!(database_names(&server).is_empty());
    assert!(server.state().rejected.is_empty());
}

#[test]
fn a_refused_login_stops_before_any_change_with_a_clear_error() {
    let server = server();
    let scenario = scenario_on(&server, "execute", "");
    let before = scenario.digests();
    let wrong = scenario.run_with_env(
        &["upgrade", "--to", "4.5"],
        &[(PASSWORD_VAR, "not-the-password")],
    );
    assert_eq!(wrong.code, 2, "{}", wrong.stderr);
    assert!(
        wrong.stderr.contains("refused the login hubup_admin"),
        "{}",
        wrong.stderr
    );
    assert!(wrong.stderr.contains("18456"), "{}", wrong.stderr);
    assert!(wrong.stderr.contains(PASSWORD_VAR), "{}", wrong.stderr);
    assert!(!wrong.stderr.contains("not-the-password"));
    assert_eq!(scenario.digests(), before);
    assert!(
        scenario
            .journal()
            .iter()
            .all(|e| e["payload"]["kind"] != "step_planned")
    );

    server.set_faults(Faults {
        refuse_logins: true,
        ..Faults::default()
    });
    let refused = run(&scenario, &["upgrade", "--to", "4.5"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert_eq!(scenario.digests(), before);
    assert!(database_names(&server).is_empty());
}

#[test]
fn an_unreachable_server_and_a_missing_permission_are_named() {
    let server = server();
    let scenario = scenario_on(&server, "execute", "");
    let port = server.port();
    drop(server);
    let unreachable = run(&scenario, &["check", "--to", "4.2"]);
    assert_eq!(unreachable.code, 2, "{}", unreachable.stdout);
    // `check` reports on stdout, one line per prerequisite.
    assert!(
        unreachable.stdout.contains(&format!("127.0.0.1,{port}")),
        "{}",
        unreachable.stdout
    );
    assert!(
        unreachable
            .stdout
            .contains("[FAIL] SQL Server: cannot connect"),
        "{}",
        unreachable.stdout
    );

    let weak = StandIn::start(&[(ADMIN, PASSWORD, &[]), (APP_LOGIN, "x", &[])]);
    let scenario = scenario_on(&weak, "execute", "");
    let before = scenario.digests();
    let denied = run(&scenario, &["upgrade", "--to", "4.5"]);
    assert_eq!(denied.code, 2);
    assert!(denied.stderr.contains("dbcreator"), "{}", denied.stderr);
    assert_eq!(scenario.digests(), before);
}

#[test]
fn a_connection_dropped_mid_step_rolls_the_step_back_including_its_databases() {
    let server = server();
    let scenario = scenario_on(&server, "execute", "");
    run(&scenario, &["upgrade", "--to", "4.1"]).expect(0);
    let at_4_1 = scenario.digests();
    // Statements of step 4.2 are counted from here; drop the connection in the middle of the
    // License Manager migrations (after CREATE DATABASE and its mark).
    server.set_faults(Faults {
        drop_at_statement: Some(20),
        ..Faults::default()
    });
    let failed = run(&scenario, &["upgrade", "--to", "4.2"]);
    assert_eq!(failed.code, 3, "{}\n{}", failed.stdout, failed.stderr);
    assert!(
        failed.stderr.contains("lost the connection"),
        "{}",
        failed.stderr
    );
    assert_eq!(
        scenario.digests(),
        at_4_1,
        "files and IIS config rolled back"
    );
    assert!(database_names(&server).is_empty(), "databases rolled back");
    server.set_faults(Faults::default());
    run(&scenario, &["upgrade", "--to", "4.2"]).expect(0);
    assert_eq!(
        database_names(&server),
        ["IadaDB", "LicenseManagerDB", "NotificationCenterDB"]
    );
    assert!(server.state().rejected.is_empty());
}

#[test]
fn a_failed_statement_rolls_the_step_back_and_names_the_error() {
    let server = server();
    let scenario = scenario_on(&server, "execute", "");
    run(&scenario, &["upgrade", "--to", "4.1"]).expect(0);
    let at_4_1 = scenario.digests();
    server.set_faults(Faults {
        fail_at_statement: Some((12, 262)),
        ..Faults::default()
    });
    let failed = run(&scenario, &["upgrade", "--to", "4.2"]);
    assert_eq!(failed.code, 3, "{}", failed.stderr);
    assert!(failed.stderr.contains("error 262"), "{}", failed.stderr);
    assert_eq!(scenario.digests(), at_4_1);
    assert!(database_names(&server).is_empty());
    // The run's log, named in the message, says which statement failed and how.
    let log = log_named_in(&failed.stderr);
    assert!(
        log.contains("failed: SQL Server") && log.contains("262") && log.contains("rolling back"),
        "{log}"
    );
}

/// The log file whose path follows `log: ` in a command's output.
fn log_named_in(output: &str) -> String {
    let path = output
        .lines()
        .find_map(|l| l.trim().strip_prefix("log: "))
        .unwrap_or_else(|| panic!("no log named in: {output}"));
    fs::read_to_string(path).unwrap()
}

#[test]
fn a_changed_or_interrupted_migration_is_refused_before_any_change() {
    let server = server();
    let first = scenario_on(&server, "execute", "");
    run(&first, &["upgrade", "--to", "4.2"]).expect(0);
    let id = "4.2/LicenseManagerDB/001_licenses.sql";
    server.with_state(|s| {
        let row = s.databases.get_mut("LicenseManagerDB").unwrap();
        row.history.get_mut(id).unwrap().0 = "0".repeat(64);
    });
    let second = scenario_on(&server, "execute", "");
    let before = second.digests();
    let refused = run(&second, &["upgrade", "--to", "4.2"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains(id), "{}", refused.stderr);
    assert!(
        refused.stderr.contains("file changed"),
        "{}",
        refused.stderr
    );
    assert_eq!(second.digests(), before);

    server.with_state(|s| {
        let row = s.databases.get_mut("LicenseManagerDB").unwrap();
        *row.history.get_mut(id).unwrap() = (
            hubup::MIGRATIONS
                .iter()
                .find(|m| m.id == id)
                .unwrap()
                .checksum()
                .to_hex(),
            "applying".to_string(),
        );
    });
    let interrupted = run(&second, &["upgrade", "--to", "4.2"]);
    assert_eq!(interrupted.code, 2, "{}", interrupted.stderr);
    assert!(
        interrupted.stderr.contains("interrupted"),
        "{}",
        interrupted.stderr
    );
    assert_eq!(second.digests(), before);
}

#[test]
fn preprovisioned_mode_lists_what_is_missing_and_changes_nothing_on_the_server() {
    let server = server();
    let scenario = scenario_on(&server, "preprovisioned", "");
    let before = scenario.digests();
    let refused = run(&scenario, &["upgrade", "--to", "4.2"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    for name in ["LicenseManagerDB", "NotificationCenterDB", "IadaDB"] {
        assert!(
            refused
                .stderr
                .contains(&format!("missing: create database [{name}]")),
            "{}",
            refused.stderr
        );
    }
    assert_eq!(scenario.digests(), before);
    // A DBA (here: another machine in execute mode) provisions; then the upgrade goes through
    // and its rollback leaves the DBA's work in place.
    let provisioner = scenario_on(&server, "execute", "");
    run(&provisioner, &["upgrade", "--to", "4.2"]).expect(0);
    let statements = server.state().statements.len();
    run(&scenario, &["upgrade", "--to", "4.2"]).expect(0);
    run(&scenario, &["rollback", "--to", "4.0"]).expect(0);
    let state = server.state();
    assert_eq!(database_names(&server).len(), 3);
    let changes = state.statements[statements..]
        .iter()
        .filter(|s| !s.starts_with("SELECT") && !s.starts_with("USE"))
        .collect::<Vec<_>>();
    assert!(
        changes.is_empty(),
        "pre-provisioned mode changed the server: {changes:?}"
    );
}

#[test]
fn hostile_database_names_stay_names() {
    let server = server();
    let hostile = "x]; DROP DATABASE master; --'";
    let scenario = scenario_on(&server, "execute", "");
    let mut config = fs::read_to_string(scenario.config()).unwrap();
    // A TOML basic string: the name holds no `"` or `\`, so it goes in as it is.
    config.push_str(&format!(
        "\n[sql.databases]\nlicense_manager = \"{hostile}\"\n"
    ));
    fs::write(scenario.config(), config).unwrap();
    run(&scenario, &["upgrade", "--to", "4.2"]).expect(0);
    let state = server.state();
    assert!(state.rejected.is_empty(), "{:?}", state.rejected);
    assert!(
        state.databases.contains_key(hostile),
        "{:?}",
        state.databases.keys()
    );
    assert!(state.databases[hostile].users.contains_key(APP_LOGIN));
    run(&scenario, &["rollback", "--to", "4.0"]).expect(0);
    assert!(database_names(&server).is_empty());
}

#[test]
fn a_second_machine_waits_for_the_lock_and_gives_up_clearly() {
    let server = server();
    let scenario = scenario_on(&server, "execute", "lock_timeout_secs = 1\n");
    let before = scenario.digests();
    // Another machine holds the installation lock.
    let sql = hubup::SqlConfig {
        mode: hubup::SqlMode::Execute,
        server: server.server(),
        auth: hubup::SqlAuth::Sql,
        user: Some(ADMIN.into()),
        encrypt: "off".into(),
        ..hubup::SqlConfig::default()
    };
    let mut holder = hubup::Session::with_password(&sql, hubup::Secret::new(PASSWORD)).unwrap();
    holder.lock(std::time::Duration::from_secs(1)).unwrap();
    run(&scenario, &["upgrade", "--to", "4.1"]).expect(0);
    let at_4_1 = scenario.digests();
    assert_ne!(at_4_1, before);
    let blocked = run(&scenario, &["upgrade", "--to", "4.2"]);
    assert_eq!(blocked.code, 2, "{}", blocked.stderr);
    assert!(
        blocked.stderr.contains("another machine holds"),
        "{}",
        blocked.stderr
    );
    assert_eq!(scenario.digests(), at_4_1);
    drop(holder);
    run(&scenario, &["upgrade", "--to", "4.2"]).expect(0);
}

/// What the server holds, in a form two runs can be compared by (ids are not compared).
#[cfg(unix)]
fn server_summary(server: &StandIn) -> Vec<String> {
    let state = server.state();
    state
        .databases
        .iter()
        .map(|(name, db)| {
            format!(
                "{name}: users {:?} roles {:?} grants {:?} history {:?} objects {:?}",
                db.users, db.role_members, db.execute_grants, db.history, db.objects
            )
        })
        .collect()
}

/// Every file of the install but its backups, with the stand-in's address (named by the new
/// connection strings) replaced by `SERVER`, so installs upgraded against different
/// stand-ins compare equal.
#[cfg(unix)]
fn install_files(scenario: &Scenario, server: &StandIn) -> Vec<(String, Vec<u8>)> {
    let address = server.server();
    let mut out = Vec::new();
    let mut stack = vec![scenario.root()];
    while let Some(dir) = stack.pop() {
        for entry in fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let rel = path
                .strip_prefix(scenario.root())
                .unwrap()
                .display()
                .to_string();
            if rel.starts_with("backup_") {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                let text = String::from_utf8_lossy(&fs::read(&path).unwrap()).into_owned();
                out.push((rel, text.replace(&address, "SERVER").into_bytes()));
            }
        }
    }
    out.sort();
    out
}

/// SIGKILLs `hubup upgrade --to 4.2 --backup-databases` (the step with three new databases,
/// after the backups of the five existing ones) at seeded moments; afterwards `resume`
/// reaches the reference end state with every backup taken (or, when a migration was cut off
/// mid-transaction somewhere it must not guess, rolls the step back), and `rollback` brings
/// back 4.1 with only the vendor's databases left. Killing the process drops its connection, so the
/// stand-in rolls back any open transaction and releases the lock, as SQL Server would.
#[cfg(unix)]
#[test]
fn kills_during_a_database_step_resume_or_roll_back_to_a_consistent_server() {
    let upgrade = ["upgrade", "--to", "4.2", "--backup-databases", BACKUPS];
    let reference_server = server_with_vendor_databases();
    let reference = scenario_on(&reference_server, "execute", "");
    run(&reference, &["upgrade", "--to", "4.1"]).expect(0);
    let at_4_1 = reference.digests();
    let started = std::time::Instant::now();
    run(&reference, &upgrade).expect(0);
    let duration = started.elapsed().as_micros() as u64;
    let want_digests = reference.digests();
    let want_install = install_files(&reference, &reference_server);
    let want_server = server_summary(&reference_server);

    let mut interrupted = 0;
    let mut seed: u64 = 0x5ee0_0000_0000_0042;
    // Kills land anywhere in the run, many before its first journal entry: go on until five
    // of them interrupted one (a fixed count of attempts was flaky on a loaded machine).
    let mut attempt = 0;
    while interrupted < 5 {
        assert!(
            attempt < 40,
            "only {interrupted} of {attempt} kills interrupted a run"
        );
        attempt += 1;
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let delay = std::time::Duration::from_micros((seed >> 33) % duration.max(1));
        let server = server_with_vendor_databases();
        let scenario = scenario_on(&server, "execute", "");
        run(&scenario, &["upgrade", "--to", "4.1"]).expect(0);
        let mut child = support::hubup()
            .args(upgrade)
            .arg("--config")
            .arg(scenario.config())
            .env(PASSWORD_VAR, PASSWORD)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn hubup");
        std::thread::sleep(delay);
        let _ = child.kill();
        let _ = child.wait();
        scenario.wait_for_journal();
        let unfinished = !scenario.status()["unfinished_run"].is_null();
        interrupted += usize::from(unfinished);
        if attempt % 2 == 0 {
            // Each stand-in listens on its own port, which the new connection strings name.
            let same_install = |scenario: &Scenario| {
                let (version, _, apphost) = scenario.digests();
                (version, apphost) == (want_digests.0.clone(), want_digests.2.clone())
                    && install_files(scenario, &server) == want_install
            };
            let finished_before_the_kill = !unfinished && same_install(&scenario);
            let end = if unfinished {
                run(&scenario, &["resume"])
            } else if finished_before_the_kill {
                run(&scenario, &["status"])
            } else {
                run(&scenario, &upgrade)
            };
            if end.code == 3 {
                assert_eq!(scenario.digests(), at_4_1, "kill at {delay:?}");
                assert_eq!(
                    database_names(&server),
                    VENDOR_DATABASES,
                    "kill at {delay:?}"
                );
                continue;
            }
            assert_eq!(end.code, 0, "kill at {delay:?}: {}", end.stderr);
            assert!(
                same_install(&scenario),
                "kill at {delay:?}: not the reference install"
            );
            assert_eq!(server_summary(&server), want_server, "kill at {delay:?}");
            let mut backed_up: Vec<String> = backups(&server).into_iter().map(|(d, _)| d).collect();
            backed_up.sort();
            backed_up.dedup();
            assert_eq!(backed_up, VENDOR_DATABASES, "kill at {delay:?}");
        } else {
            if unfinished {
                run(&scenario, &["rollback"]).expect(0);
            } else if scenario.digests() != at_4_1 {
                run(&scenario, &["rollback", "--to", "4.1"]).expect(0);
            }
            assert_eq!(scenario.digests(), at_4_1, "kill at {delay:?}");
            assert_eq!(
                database_names(&server),
                VENDOR_DATABASES,
                "kill at {delay:?}: only the vendor's databases stay"
            );
        }
        scenario.run(&["journal", "verify"]).expect(0);
        assert!(server.state().rejected.is_empty());
    }
}

#[test]
fn the_plan_needs_neither_the_password_nor_the_server() {
    let server = server();
    let scenario = scenario_on(&server, "execute", "");
    drop(server);
    let plan = scenario.run(&["plan", "--to", "4.5"]).expect(0);
    assert!(
        plan.stdout.contains("create database [LicenseManagerDB]"),
        "{}",
        plan.stdout
    );
}

#[test]
fn existing_databases_are_backed_up_before_the_first_change_and_kept_after_rollback() {
    let server = server_with_vendor_databases();
    let scenario = scenario_on(&server, "execute", "");
    let before = scenario.digests();
    let plan = run(
        &scenario,
        &["plan", "--to", "4.2", "--backup-databases", BACKUPS],
    )
    .expect(0);
    assert!(
        plan.stdout
            .contains(r"back up database [HubDB] to D:\SQLBackups\HubDB_4.0_"),
        "{}",
        plan.stdout
    );
    run(
        &scenario,
        &["upgrade", "--to", "4.2", "--backup-databases", BACKUPS],
    )
    .expect(0);
    let taken = backups(&server);
    let databases: Vec<&str> = taken.iter().map(|(d, _)| d.as_str()).collect();
    assert_eq!(
        databases,
        ["ImsDB", "HubDB", "AuditDB", "FileServiceDB", "InteractDB"],
        "each existing database once, at the run's first step only"
    );
    for (database, file) in &taken {
        assert!(
            file.starts_with(&format!(r"{BACKUPS}\{database}_4.0_")) && file.ends_with("Z.bak"),
            "{file}"
        );
    }
    // Before anything else changed on the server: the first backup precedes the first
    // CREATE DATABASE.
    let statements = server.state().statements;
    let first = |prefix: &str| {
        statements
            .iter()
            .position(|s| s.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix}"))
    };
    assert!(first("BACKUP DATABASE") < first("CREATE DATABASE"));
    // The journal says where each backup went.
    let journal = serde_json::to_string(&scenario.journal()).unwrap();
    for (_, file) in &taken {
        assert!(journal.contains(&file.replace('\\', "\\\\")), "{file}");
    }

    // The next run backs up what exists at 4.2, including the databases 4.2 created (the
    // upgrade login owns those).
    run(
        &scenario,
        &["upgrade", "--to", "4.5", "--backup-databases", BACKUPS],
    )
    .expect(0);
    let second: Vec<String> = backups(&server)[5..]
        .iter()
        .map(|(d, _)| d.clone())
        .collect();
    assert_eq!(
        second,
        [
            "ImsDB",
            "HubDB",
            "AuditDB",
            "FileServiceDB",
            "LicenseManagerDB",
            "NotificationCenterDB",
            "InteractDB",
            "IadaDB"
        ]
    );
    assert!(
        backups(&server)[5..]
            .iter()
            .all(|(_, f)| f.contains("_4.2_"))
    );

    run(&scenario, &["rollback", "--to", "4.0"]).expect(0);
    assert_eq!(scenario.digests(), before);
    assert_eq!(
        database_names(&server),
        VENDOR_DATABASES,
        "the vendor's stay"
    );
    assert_eq!(
        backups(&server).len(),
        13,
        "a rollback takes and removes no backup"
    );
    assert!(server.state().rejected.is_empty());
}

#[test]
fn a_backup_that_cannot_be_taken_stops_the_upgrade_with_the_install_unchanged() {
    let server = server_with_vendor_databases();
    let scenario = scenario_on(&server, "execute", "");
    let before = scenario.digests();

    // A relative folder: refused before anything is looked at.
    let relative = run(
        &scenario,
        &["upgrade", "--to", "4.1", "--backup-databases", "backups"],
    );
    assert_eq!(relative.code, 2, "{}", relative.stderr);
    assert!(
        relative.stderr.contains("must be absolute"),
        "{}",
        relative.stderr
    );

    // A database the config names but the server lacks, and one the login may not back up:
    // both named by preflight, before any change.
    let mut config = fs::read_to_string(scenario.config()).unwrap();
    config.push_str("\n[sql.databases]\ninteract = \"InteractProd\"\n");
    fs::write(scenario.config(), config).unwrap();
    server.with_state(|state| {
        state
            .databases
            .get_mut("HubDB")
            .unwrap()
            .role_members
            .clear();
    });
    let refused = run(
        &scenario,
        &["upgrade", "--to", "4.1", "--backup-databases", BACKUPS],
    );
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("database [InteractProd] (to back up before the upgrade) does not exist")
            && refused.stderr.contains("[sql.databases]"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains(&format!(
            "the login {ADMIN} may not back up database [HubDB]"
        )),
        "{}",
        refused.stderr
    );
    assert_eq!(scenario.digests(), before);
    assert!(backups(&server).is_empty());

    // Named right and allowed, but the folder does not exist on the server: the BACKUP fails
    // (3201), the step rolls back, the install is as before.
    server.with_state(|state| {
        let interact = state.databases.remove("InteractDB").unwrap();
        state.databases.insert("InteractProd".into(), interact);
        let hub = state.databases.get_mut("HubDB").unwrap();
        hub.role_members
            .insert(("db_owner".into(), "upgrade".into()));
        state.backup_folders.clear();
    });
    let failed = run(
        &scenario,
        &["upgrade", "--to", "4.1", "--backup-databases", BACKUPS],
    );
    assert_eq!(failed.code, 3, "{}", failed.stderr);
    assert!(
        failed.stderr.contains("3201") && failed.stderr.contains(r"D:\SQLBackups\ImsDB_4.0_"),
        "{}",
        failed.stderr
    );
    assert_eq!(scenario.digests(), before);

    // With the folder there, the same upgrade goes through; sql.backup_databases in the
    // config asks for the backups as the flag does.
    server.with_state(|state| {
        state.backup_folders.insert(BACKUPS.to_string());
    });
    let mut config = fs::read_to_string(scenario.config()).unwrap();
    config = config.replacen(
        "connect_timeout_secs = 5\n",
        "connect_timeout_secs = 5\nbackup_databases = 'D:\\SQLBackups'\n",
        1,
    );
    fs::write(scenario.config(), config).unwrap();
    run(&scenario, &["upgrade", "--to", "4.1"]).expect(0);
    let taken: Vec<String> = backups(&server).into_iter().map(|(d, _)| d).collect();
    assert_eq!(
        taken,
        ["ImsDB", "HubDB", "AuditDB", "FileServiceDB", "InteractProd"]
    );
    assert!(server.state().rejected.is_empty());
}

#[test]
fn preprovisioned_mode_takes_the_backups_it_is_asked_for() {
    let server = server_with_vendor_databases();
    let scenario = scenario_on(&server, "preprovisioned", "");
    run(
        &scenario,
        &["upgrade", "--to", "4.1", "--backup-databases", BACKUPS],
    )
    .expect(0);
    assert_eq!(backups(&server).len(), 5);
    let state = server.state();
    let changes: Vec<&String> = state
        .statements
        .iter()
        .filter(|s| !s.starts_with("SELECT") && !s.starts_with("USE"))
        .filter(|s| !s.starts_with("BACKUP DATABASE"))
        .filter(|s| !s.contains("sp_getapplock") && !s.contains("sp_releaseapplock"))
        .collect();
    assert!(changes.is_empty(), "{changes:?}");
}

/// The `[sql]` table of hubup's own login on `server`.
fn admin_sql_config(server: &StandIn) -> hubup::SqlConfig {
    hubup::SqlConfig {
        mode: hubup::SqlMode::Execute,
        server: server.server(),
        auth: hubup::SqlAuth::Sql,
        user: Some(ADMIN.into()),
        encrypt: "off".into(),
        ..hubup::SqlConfig::default()
    }
}

#[test]
fn rollback_drops_a_database_while_an_application_is_still_connected_to_it() {
    let server = server();
    let scenario = scenario_on(&server, "execute", "");
    run(&scenario, &["upgrade", "--to", "4.2"]).expect(0);
    // Stopping a site leaves its app pool's pooled connections open in the database.
    let mut application =
        hubup::Session::with_password(&admin_sql_config(&server), hubup::Secret::new(PASSWORD))
            .unwrap();
    application.use_database("LicenseManagerDB").unwrap();
    run(&scenario, &["rollback", "--to", "4.0"]).expect(0);
    assert!(database_names(&server).is_empty());
    assert!(server.state().rejected.is_empty());
}

#[test]
fn windows_logins_need_securityadmin_and_are_dropped_only_if_created_here() {
    let server = server();
    let login = r"IIS APPPOOL\Blue Prism - License Manager";
    let op = hubup::SqlOp::CreateLogin {
        login: login.into(),
    };
    let target = |server: &StandIn| {
        let session =
            hubup::Session::with_password(&admin_sql_config(server), hubup::Secret::new(PASSWORD))
                .unwrap();
        hubup::ExecuteTarget::with_session(session, "machine-a", std::time::Duration::from_secs(1))
    };
    use hubup::SqlTarget;
    let mut machine = target(&server);
    let refused = machine
        .preflight(std::slice::from_ref(&op))
        .unwrap_err()
        .to_string();
    assert!(
        refused.contains("securityadmin") && refused.contains(login),
        "{refused}"
    );
    server.with_state(|state| {
        let roles = &mut state.logins.get_mut(ADMIN).unwrap().server_roles;
        roles.insert("securityadmin".into());
    });
    machine.preflight(std::slice::from_ref(&op)).unwrap();
    assert!(!machine.check(&op).unwrap());
    assert_eq!(machine.apply(&op).unwrap(), hubup::OpOutcome::Applied);
    assert!(machine.check(&op).unwrap());
    // Another machine finds it present, and its rollback leaves it.
    let mut other = target(&server);
    assert_eq!(other.apply(&op).unwrap(), hubup::OpOutcome::AlreadyPresent);
    other
        .undo(&op, Some(&hubup::OpOutcome::AlreadyPresent))
        .unwrap();
    assert!(machine.check(&op).unwrap());
    machine.undo(&op, Some(&hubup::OpOutcome::Applied)).unwrap();
    assert!(!machine.check(&op).unwrap());
    // Once the login exists, preflight does not ask for securityadmin.
    server.with_state(|state| {
        state
            .logins
            .get_mut(ADMIN)
            .unwrap()
            .server_roles
            .remove("securityadmin");
        state.logins.insert(
            login.into(),
            support::tds::Login {
                windows: true,
                ..Default::default()
            },
        );
    });
    machine.preflight(std::slice::from_ref(&op)).unwrap();
    assert!(server.state().rejected.is_empty());
}
