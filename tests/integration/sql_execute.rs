//! Issue 5 through the real binary: `sql.mode = "execute"` against the TDS stand-in
//! (`tests/support/tds`), which keeps the state a SQL Server would and rejects any statement
//! hubup is not known to send. Full upgrade and rollback, two machines sharing one server,
//! refused logins, a dropped connection mid-step, a changed or interrupted migration, the
//! pre-provisioned mode, hostile database names, the installation lock, database backups
//! (`--backup-databases`), and a grep for the password in everything hubup wrote or printed.

use crate::support;

use std::fs;
use std::path::Path;

use crate::support::Scenario;
use crate::support::tds::{Faults, StandIn};
use serde_json::Value;

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
    // The server's CA, as an administrator would copy it next to the config.
    let ca_file = scenario.path().join("sql-ca.pem");
    fs::copy(server.ca_file(), &ca_file).unwrap();
    let mut config = fs::read_to_string(scenario.config()).unwrap();
    let sql = format!(
        "[sql]\nmode = \"{mode}\"\nserver = \"{}\"\nauth = \"sql\"\nuser = \"{ADMIN}\"\n\
         password_env = \"{PASSWORD_VAR}\"\napp_login = \"{APP_LOGIN}\"\nencrypt = \"off\"\n\
         app_password_env = \"{PASSWORD_VAR}\"\nca_file = '{}'\nconnect_timeout_secs = 5\n{extra}",
        server.server(),
        ca_file.display()
    );
    config = config.replacen(
        "[sql]\nmode = \"script\"\nserver = \"SQL01\"\nauth = \"windows\"\n",
        &sql,
        1,
    );
    // The demo has no server to check the DBA's work on; this one has.
    assert!(config.contains("check_dba_work = false\n"));
    config = config.replacen("check_dba_work = false\n", "", 1);
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
            && log.contains("CREATE DATABASE [LicenseManagerDB]")
            && log.contains("EXEC [LicenseManagerDB].sys.sp_addextendedproperty")
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
            .filter(|s| **s == format!("CREATE DATABASE [{name}]"))
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
    // Drop the connection as the first License Manager migration starts its transaction
    // (after CREATE DATABASE and its mark).
    server.set_faults(Faults {
        drop_matching: Some("BEGIN TRANSACTION".into()),
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
    // The second database's CREATE fails, after the first one and its migrations.
    server.set_faults(Faults {
        fail_matching: Some(("CREATE DATABASE [NotificationCenterDB]".into(), 262)),
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
    let sql = admin_sql_config(&server);
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
    use crate::support::rng::Rng;
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
    let mut rng = Rng::new(0x5ee0_0000_0000_0042);
    // Kills land anywhere in the run, many before its first journal entry: go on until five
    // of them interrupted one (a fixed count of attempts was flaky on a loaded machine).
    let mut attempt = 0;
    while interrupted < 5 {
        assert!(
            attempt < 40,
            "only {interrupted} of {attempt} kills interrupted a run"
        );
        attempt += 1;
        let delay = std::time::Duration::from_micros(rng.below(duration));
        let server = server_with_vendor_databases();
        let scenario = scenario_on(&server, "execute", "");
        run(&scenario, &["upgrade", "--to", "4.1"]).expect(0);
        scenario.run_killed_after(&upgrade, &[(PASSWORD_VAR, PASSWORD)], delay);
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
        ca_file: Some(server.ca_file()),
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
    assert!(!machine.check(&op, None).unwrap());
    assert_eq!(machine.apply(&op, None).unwrap(), hubup::OpOutcome::Applied);
    assert!(machine.check(&op, None).unwrap());
    // Another machine finds it present, and its rollback leaves it.
    let mut other = target(&server);
    assert_eq!(
        other.apply(&op, None).unwrap(),
        hubup::OpOutcome::AlreadyPresent
    );
    other
        .undo(&op, Some(&hubup::OpOutcome::AlreadyPresent), None)
        .unwrap();
    assert!(machine.check(&op, None).unwrap());
    machine
        .undo(&op, Some(&hubup::OpOutcome::Applied), None)
        .unwrap();
    assert!(!machine.check(&op, None).unwrap());
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

/// The machine id of a scenario's journal, as its first run recorded it (`machine.id`).
fn machine_id_of(scenario: &Scenario) -> String {
    let journal = scenario.journal();
    let started = journal
        .iter()
        .find(|e| e["payload"]["kind"] == "run_started")
        .expect("a run");
    let pairs = started["payload"]["config"].as_array().unwrap();
    pairs
        .iter()
        .find(|p| p[0] == "machine.id")
        .map(|p| p[1].as_str().unwrap().to_string())
        .expect("RunStarted records the machine id")
}

/// Issue 12, finding 1: two machines whose configs are copies (same `machine` display name,
/// same relative journal path) mark their databases with two different ids, made with their
/// journals; a journal copied to another computer is refused before any change.
#[test]
fn databases_carry_the_journals_machine_id_and_a_copied_journal_is_refused() {
    let server = server();
    let first = scenario_on(&server, "execute", "");
    let second = scenario_on(&server, "execute", "");
    // The second machine's config is the first one's, byte for byte.
    fs::copy(first.config(), second.config()).unwrap();
    let config = fs::read_to_string(second.config()).unwrap();
    fs::write(
        second.config(),
        config.replace(
            &first.path().display().to_string(),
            &second.path().display().to_string(),
        ),
    )
    .unwrap();
    run(&first, &["upgrade", "--to", "4.2"]).expect(0);
    run(&second, &["upgrade", "--to", "4.2"]).expect(0);
    let (a, b) = (machine_id_of(&first), machine_id_of(&second));
    assert_eq!(a.len(), 32, "{a}");
    assert_ne!(a, b, "each journal has its own machine id");
    let state = server.state();
    for name in ["IadaDB", "LicenseManagerDB", "NotificationCenterDB"] {
        let mark = &state.databases[name].properties["hubup_created_by"];
        assert!(
            mark.starts_with(&format!("machine={a};creation=")),
            "{mark}"
        );
    }
    // The second machine's rollback leaves the first machine's databases.
    run(&second, &["rollback", "--to", "4.0"]).expect(0);
    assert_eq!(database_names(&server).len(), 3);

    // The first machine's journal copied to another computer: refused, nothing changed.
    let copy = Scenario::new();
    let _ = fs::remove_dir_all(copy.path().join("journal"));
    fs::remove_dir_all(copy.path().join("install")).unwrap();
    for sub in ["journal", "install", "inetsrv"] {
        copy_tree(&first.path().join(sub), &copy.path().join(sub));
    }
    let config = fs::read_to_string(first.config()).unwrap();
    fs::write(
        copy.config(),
        config.replace(
            &first.path().display().to_string(),
            &copy.path().display().to_string(),
        ),
    )
    .unwrap();
    set_journal_computer(&copy.path().join("journal/hubup.redb"), "OTHER-HUB-02");
    let before = copy.digests();
    let statements = server.state().statements.len();
    let refused = run(&copy, &["rollback", "--to", "4.0"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("belongs to the computer OTHER-HUB-02")
            && refused.stderr.contains(&a),
        "{}",
        refused.stderr
    );
    assert_eq!(copy.digests(), before);
    assert_eq!(server.state().statements.len(), statements, "nothing sent");
    assert_eq!(database_names(&server).len(), 3);
    // Reading it stays possible (an auditor's copy).
    copy.run(&["journal", "verify"]).expect(0);
}

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Rewrites the computer name a journal records with its machine id (`meta` key `machine`:
/// 16 id bytes, then the name), as if it had been made on that computer.
fn set_journal_computer(journal: &Path, computer: &str) {
    use redb::ReadableTable;
    const META: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("meta");
    let db = redb::Database::open(journal).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut meta = txn.open_table(META).unwrap();
        let mut record = meta.get("machine").unwrap().unwrap().value()[..16].to_vec();
        record.extend_from_slice(computer.as_bytes());
        meta.insert("machine", record.as_slice()).unwrap();
    }
    txn.commit().unwrap();
}

/// Issue 12, finding 3: `CREATE DATABASE` commits on its own; its mark follows in a second
/// statement. A failure between the two (the mark refused, or the connection lost and the
/// rollback unable to reconnect at first) still leaves no database behind: the op journaled
/// its intent with the server's clock before creating, and undo recognises the unmarked
/// database as its own.
#[test]
fn a_fault_between_create_database_and_its_mark_leaves_no_database_behind() {
    let mark = "EXEC [LicenseManagerDB].sys.sp_addextendedproperty";
    let server = server();
    let scenario = scenario_on(&server, "execute", "");
    run(&scenario, &["upgrade", "--to", "4.1"]).expect(0);
    let at_4_1 = scenario.digests();
    server.set_faults(Faults {
        fail_matching: Some((mark.to_string(), 50001)),
        ..Faults::default()
    });
    let failed = run(&scenario, &["upgrade", "--to", "4.2"]);
    assert_eq!(failed.code, 3, "{}", failed.stderr);
    assert!(failed.stderr.contains("50001"), "{}", failed.stderr);
    assert_eq!(scenario.digests(), at_4_1);
    assert!(
        database_names(&server).is_empty(),
        "the unmarked database is dropped: {:?}",
        database_names(&server)
    );
    let journal = scenario.journal();
    assert!(
        journal.iter().any(|e| e["payload"]["kind"] == "sql_before"
            && e["payload"]["before"]["DatabaseAbsent"]["token"].is_string()),
        "the intent is journaled with the server's clock and a token"
    );

    // The connection drops right after CREATE DATABASE and the server refuses the rollback's
    // reconnect: the run stays unfinished. A later `hubup rollback` drops the database.
    server.set_faults(Faults {
        drop_matching: Some(mark.to_string()),
        refuse_logins_after_drop: true,
        ..Faults::default()
    });
    let cut = run(&scenario, &["upgrade", "--to", "4.2"]);
    assert_eq!(cut.code, 4, "{}\n{}", cut.stdout, cut.stderr);
    assert_eq!(
        database_names(&server),
        ["LicenseManagerDB"],
        "cut off unmarked"
    );
    assert!(
        !server.state().databases["LicenseManagerDB"]
            .properties
            .contains_key("hubup_created_by")
    );
    server.set_faults(Faults::default());
    run(&scenario, &["rollback"]).expect(0);
    assert_eq!(scenario.digests(), at_4_1);
    assert!(
        database_names(&server).is_empty(),
        "{:?}",
        database_names(&server)
    );
    assert!(server.state().rejected.is_empty());
}

/// An execution-mode target on `server` as hubup's own login, for machine `identity`.
fn execute_target(server: &StandIn, identity: &str) -> hubup::ExecuteTarget {
    let session =
        hubup::Session::with_password(&admin_sql_config(server), hubup::Secret::new(PASSWORD))
            .unwrap();
    hubup::ExecuteTarget::with_session(session, identity, std::time::Duration::from_secs(1))
}

/// Finding 3 and the open note on logins, op by op: what an op journals before its change
/// (`prepare`) lets a later process finish or undo it after a crash that lost its done record.
#[test]
fn the_journaled_pre_state_lets_resume_mark_and_undo_drop_what_the_op_itself_created() {
    use hubup::{OpOutcome, SqlBefore, SqlOp, SqlTarget};
    let server = server();
    server.with_state(|state| {
        let roles = &mut state.logins.get_mut(ADMIN).unwrap().server_roles;
        roles.insert("securityadmin".into());
    });
    let create = SqlOp::CreateDatabase {
        database: "LicenseManagerDB".into(),
    };
    let mut machine = execute_target(&server, "machine-a");
    let before = machine
        .prepare(&create)
        .unwrap()
        .expect("absent: journaled");
    let SqlBefore::DatabaseAbsent { token, .. } = &before else {
        panic!("{before:?}")
    };
    server.set_faults(Faults {
        drop_matching: Some("EXEC [LicenseManagerDB].sys.sp_addextendedproperty".into()),
        ..Faults::default()
    });
    assert!(machine.apply(&create, Some(&before)).is_err(), "cut off");
    server.set_faults(Faults::default());
    // Another process of the same machine, with the journaled pre-state.
    let mut resumed = execute_target(&server, "machine-a");
    assert!(
        !resumed.check(&create, Some(&before)).unwrap(),
        "not done while unmarked"
    );
    // Another machine without that intent: present, not its own; its undo leaves it.
    let mut other = execute_target(&server, "machine-b");
    assert!(other.check(&create, None).unwrap());
    other.undo(&create, None, None).unwrap();
    assert_eq!(
        resumed.apply(&create, Some(&before)).unwrap(),
        OpOutcome::Applied
    );
    let mark = server.state().databases["LicenseManagerDB"].properties["hubup_created_by"].clone();
    assert_eq!(mark, format!("machine=machine-a;creation={token}"));
    assert!(resumed.check(&create, Some(&before)).unwrap());

    // A database someone else created after the intent (another owner) is not the op's.
    let late = SqlOp::CreateDatabase {
        database: "NotificationCenterDB".into(),
    };
    let late_before = machine.prepare(&late).unwrap().unwrap();
    server.with_state(|state| {
        let database = support::tds::Database {
            owner: APP_LOGIN.into(),
            created_ms: state.clock_ms,
            ..Default::default()
        };
        state
            .databases
            .insert("NotificationCenterDB".into(), database);
    });
    machine.undo(&late, None, Some(&late_before)).unwrap();
    assert!(database_names(&server).contains(&"NotificationCenterDB".to_string()));
    assert_eq!(
        machine.apply(&late, Some(&late_before)).unwrap(),
        OpOutcome::AlreadyPresent
    );

    // CREATE LOGIN: the pre-state says whether the login existed; undo without a done
    // record drops only a login that did not.
    let login = SqlOp::CreateLogin {
        login: r"IIS APPPOOL\Blue Prism - License Manager".into(),
    };
    let login_before = machine.prepare(&login).unwrap();
    assert_eq!(login_before, Some(SqlBefore::Login { existed: false }));
    machine.apply(&login, login_before.as_ref()).unwrap();
    let there_before = Some(SqlBefore::Login { existed: true });
    other.undo(&login, None, there_before.as_ref()).unwrap();
    assert!(machine.check(&login, None).unwrap(), "someone else's stays");
    machine.undo(&login, None, login_before.as_ref()).unwrap();
    assert!(
        !machine.check(&login, None).unwrap(),
        "the op's own login goes"
    );
    assert!(server.state().rejected.is_empty());
}

/// Issue 12, finding 2: the applications' login defaults to hubup's own (`sql.user`), which
/// owns the databases it creates (`dbo` there): `CREATE USER` for it would fail (15063), so
/// the owner mapping counts as present. A login a DBA mapped to a user of another name is
/// found by its SID. What cannot work is named by `check` before any change.
#[test]
fn app_logins_are_found_by_sid_and_the_owner_mapping_counts_as_present() {
    // The default: app_login unset, so the applications use hubup's login.
    let server = server();
    let scenario = scenario_on(&server, "execute", "");
    let config = fs::read_to_string(scenario.config()).unwrap();
    fs::write(
        scenario.config(),
        config.replace(&format!("app_login = \"{APP_LOGIN}\"\n"), ""),
    )
    .unwrap();
    run(&scenario, &["check", "--to", "4.5"]).expect(0);
    run(&scenario, &["upgrade", "--to", "4.5"]).expect(0);
    let state = server.state();
    assert_eq!(database_names(&server), ALL_DATABASES);
    assert!(
        !state.statements.iter().any(|s| s.starts_with("CREATE USER")
            || s.starts_with("ALTER ROLE")
            || s.starts_with("GRANT")),
        "the owner needs no user, role or grant"
    );
    run(&scenario, &["rollback", "--to", "4.0"]).expect(0);
    assert!(database_names(&server).is_empty());
    assert!(server.state().rejected.is_empty());

    // A DBA created IadaDB and mapped the login to a user of another name.
    let dba_mapped = self::server();
    dba_mapped.with_state(|state| {
        let mut database = support::tds::Database {
            owner: "dba".into(),
            ..Default::default()
        };
        database
            .users
            .insert("hubapp_user".into(), APP_LOGIN.into());
        state.databases.insert("IadaDB".into(), database);
    });
    let server = dba_mapped;
    let scenario = scenario_on(&server, "execute", "");
    run(&scenario, &["upgrade", "--to", "4.2"]).expect(0);
    let iada = &server.state().databases["IadaDB"];
    assert_eq!(iada.users.len(), 1, "{:?}", iada.users);
    for role in ["db_datareader", "db_datawriter"] {
        assert!(
            iada.role_members
                .contains(&(role.to_string(), "hubapp_user".to_string())),
            "{role}: {:?}",
            iada.role_members
        );
    }
    run(&scenario, &["rollback", "--to", "4.0"]).expect(0);
    let iada = &server.state().databases["IadaDB"];
    assert!(
        iada.users.contains_key("hubapp_user"),
        "the DBA's user stays"
    );
    assert!(iada.role_members.is_empty(), "our memberships go");
    assert_eq!(database_names(&server), ["IadaDB"]);
    assert!(server.state().rejected.is_empty());

    // What cannot work is found by check, before any change: a user of the login's name that
    // belongs to another login, and a database where hubup's login may not create users.
    let blocked = self::server();
    blocked.with_state(|state| {
        let mut taken = support::tds::Database {
            owner: "dba".into(),
            ..Default::default()
        };
        taken.users.insert(APP_LOGIN.into(), "someone_else".into());
        state.databases.insert("IadaDB".into(), taken);
        let closed = support::tds::Database {
            owner: "dba".into(),
            ..Default::default()
        };
        state
            .databases
            .insert("NotificationCenterDB".into(), closed);
    });
    let server = blocked;
    let scenario = scenario_on(&server, "execute", "");
    let before = scenario.digests();
    let check = run(&scenario, &["check", "--to", "4.2"]);
    assert_eq!(check.code, 2, "{}", check.stdout);
    assert!(
        check.stdout.contains(&format!(
            "database [IadaDB] has a user [{APP_LOGIN}] that is not"
        )),
        "{}",
        check.stdout
    );
    assert!(
        check.stdout.contains(&format!(
            "the login {ADMIN} may not create users in database [NotificationCenterDB]"
        )),
        "{}",
        check.stdout
    );
    let refused = run(&scenario, &["upgrade", "--to", "4.2"]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert_eq!(scenario.digests(), before);
    assert_eq!(database_names(&server), ["IadaDB", "NotificationCenterDB"]);
}

/// Issue 12, finding 6: in script mode a step with database work stops before it starts its
/// sites (exit 7), naming the script, the run and the step; `resume` checks, reading only,
/// that the DBA's work is there before it goes on; the script has a header.
#[test]
fn script_mode_waits_for_the_dba_and_resume_checks_the_work_read_only() {
    let server = server();
    let scenario = scenario_on(&server, "script", "");
    run(&scenario, &["upgrade", "--to", "4.1"]).expect(0);
    let stopped = run(&scenario, &["upgrade", "--to", "4.2"]);
    assert_eq!(stopped.code, 7, "{}\n{}", stopped.stdout, stopped.stderr);
    let script = scenario.path().join("output").join(hubup::SCRIPT_FILE);
    let journal = scenario.journal();
    let run_id = journal.last().unwrap()["run"].as_str().unwrap().to_string();
    for needed in [
        script.display().to_string(),
        run_id.clone(),
        "step 4.1 -> 4.2".to_string(),
        "hubup resume".to_string(),
        "sqlcmd -b -i".to_string(),
    ] {
        assert!(
            stopped.stderr.contains(&needed),
            "{needed}: {}",
            stopped.stderr
        );
    }
    assert!(
        database_names(&server).is_empty(),
        "script mode sends nothing"
    );
    // No site of the step was started.
    let started_sites = journal.iter().any(|e| {
        e["payload"]["kind"] == "op_intent"
            && e["payload"]["step"]["from"] == "4.1"
            && describe_op(&journal, e).starts_with("start site")
    });
    assert!(!started_sites, "a site was started before the DBA's work");
    assert_eq!(journal.last().unwrap()["payload"]["kind"], "awaiting_dba");
    let text = fs::read_to_string(&script).unwrap();
    for field in [
        format!("-- run:      {run_id}"),
        "-- steps:    4.1 -> 4.2".to_string(),
        "-- machine:  ".to_string(),
        "-- written:  2".to_string(),
        ":on error exit".to_string(),
    ] {
        assert!(text.contains(&field), "{field}: {text}");
    }

    // The DBA has not run it yet: resume says what is missing and changes nothing.
    let entries = scenario.journal().len();
    let early = run(&scenario, &["resume"]);
    assert_eq!(early.code, 7, "{}", early.stderr);
    assert!(
        early
            .stderr
            .contains("not done: create database [LicenseManagerDB]"),
        "{}",
        early.stderr
    );
    assert_eq!(scenario.journal().len(), entries, "nothing journaled");

    // The DBA's work (here done by a provisioning machine), then resume goes on.
    let dba = scenario_on(&server, "execute", "");
    run(&dba, &["upgrade", "--to", "4.2"]).expect(0);
    let statements = server.state().statements.len();
    let resumed = run(&scenario, &["resume"]).expect(0);
    assert!(
        resumed.stdout.contains("upgraded to 4.2"),
        "{}",
        resumed.stdout
    );
    let state = server.state();
    let changes: Vec<&String> = state.statements[statements..]
        .iter()
        .filter(|s| !s.starts_with("SELECT") && !s.starts_with("USE"))
        .collect();
    assert!(changes.is_empty(), "resume only reads: {changes:?}");
    let done = scenario
        .journal()
        .into_iter()
        .find(|e| e["payload"]["kind"] == "dba_work_done")
        .expect("journaled");
    assert_eq!(done["payload"]["verified"], true, "{done}");
    assert_eq!(scenario.digests().0, "4.2");
    assert!(server.state().rejected.is_empty());
}

/// The description of the op an op entry names, from the journal's plan of its step.
fn describe_op(journal: &[Value], entry: &Value) -> String {
    let index = entry["payload"]["index"].as_u64().unwrap() as usize;
    let step = &entry["payload"]["step"];
    let planned = journal
        .iter()
        .rev()
        .find(|e| e["payload"]["kind"] == "step_planned" && e["payload"]["step"] == *step)
        .unwrap();
    let op = &planned["payload"]["ops"][index];
    match (op.get("Command"), op.get("Host")) {
        (Some(command), _) if command["purpose"].get("StartSite").is_some() => "start site".into(),
        // A pool's or service's start (a host op) counts as a start too.
        (_, Some(host)) if host["change"].get("Start").is_some() => "start site (host)".into(),
        _ => op.to_string(),
    }
}

/// The License Manager's database work of step 4.1 -> 4.2 for `principal`, as ops.
fn license_manager_ops(principal: hubup::Principal) -> Vec<hubup::SqlOp> {
    use hubup::SqlOp;
    let database = "LicenseManagerDB".to_string();
    let mut ops = vec![SqlOp::CreateDatabase {
        database: database.clone(),
    }];
    for migration in hubup::migrations_for(hubup::Version::V4_2, "LicenseManagerDB") {
        ops.push(SqlOp::ApplyMigration {
            database: database.clone(),
            id: migration.id.to_string(),
            checksum: migration.checksum(),
        });
    }
    ops.push(SqlOp::CreateUser {
        database: database.clone(),
        principal: principal.clone(),
    });
    for role in ["db_datareader", "db_datawriter"] {
        ops.push(SqlOp::AddRoleMember {
            database: database.clone(),
            role: role.into(),
            principal: principal.clone(),
        });
    }
    ops.push(SqlOp::GrantExecute {
        database,
        principal,
    });
    ops
}

/// Issue 12, findings 5 and 7: the DBA's script, run batch by batch with sqlcmd's semantics
/// (which go on after an error unless told otherwise), stops at its first error by itself
/// (`:on error exit`), and a migration that fails is rolled back with its history row: it is
/// never recorded as applied. Run again after the fix, it finishes; a third time changes
/// nothing. Role guards do not skip on NULL: a missing user makes the membership fail
/// visibly. The rollback script drops only what carries its machine's mark.
#[test]
fn the_dba_script_stops_at_its_first_error_and_never_records_a_failed_migration() {
    let server = server();
    server.accept_scripts();
    let step = hubup::Step::from_version(hubup::Version::V4_1).unwrap();
    let ops = license_manager_ops(hubup::Principal::SqlLogin(APP_LOGIN.into()));
    let machine = "0123456789abcdef0123456789abcdef";
    let script = hubup::render_script(machine, &[(step, ops.clone())]);
    let second = hubup::migrations_for(hubup::Version::V4_2, "LicenseManagerDB")[1];
    let failing = second.batches()[0].trim().to_string();
    let dba = || {
        hubup::Session::with_password(&admin_sql_config(&server), hubup::Secret::new(PASSWORD))
            .unwrap()
    };
    server.set_faults(Faults {
        fail_matching: Some((failing.clone(), 50001)),
        ..Faults::default()
    });
    let first = support::sqlcmd::run(dba(), &script, false);
    assert!(first.stopped, "{first:?}");
    assert_eq!(first.errors.len(), 1, "{:?}", first.errors);
    assert_eq!(
        first.sent.last(),
        Some(&failing),
        "stopped at the failing batch"
    );
    assert!(server.wait_for_connections(0, std::time::Duration::from_secs(5)));
    let state = server.state();
    let lm = &state.databases["LicenseManagerDB"];
    assert!(
        lm.properties["hubup_created_by"].starts_with(&format!("machine={machine};")),
        "{:?}",
        lm.properties
    );
    let first_migration = hubup::migrations_for(hubup::Version::V4_2, "LicenseManagerDB")[0];
    assert_eq!(lm.history[first_migration.id].1, "applied");
    assert!(
        !lm.history.contains_key(second.id),
        "the failed migration is not recorded: {:?}",
        lm.history
    );
    assert!(lm.users.is_empty(), "nothing after the error ran");

    server.set_faults(Faults::default());
    let again = support::sqlcmd::run(dba(), &script, true);
    assert!(again.errors.is_empty(), "{:?}", again.errors);
    let state = server.state();
    let lm = &state.databases["LicenseManagerDB"];
    assert_eq!(lm.history[second.id].1, "applied");
    assert_eq!(lm.users.get(APP_LOGIN).map(String::as_str), Some(APP_LOGIN));
    assert_eq!(lm.role_members.len(), 2);
    assert!(lm.execute_grants.contains(APP_LOGIN));
    let batches_applied = lm.migration_batches.len();
    let third = support::sqlcmd::run(dba(), &script, true);
    assert!(third.errors.is_empty(), "{:?}", third.errors);
    assert_eq!(
        server.state().databases["LicenseManagerDB"]
            .migration_batches
            .len(),
        batches_applied,
        "a third run applies nothing again"
    );

    // Outside SQLCMD mode (no `:setvar`, `$(...)` left as it is) nothing runs at all.
    let plain: String = script
        .lines()
        .filter(|l| !l.starts_with(':'))
        .map(|l| format!("{l}\n"))
        .collect();
    let other = "NotificationCenterDB";
    let renamed = plain.replace("LicenseManagerDB", other);
    let outside = support::sqlcmd::run(dba(), &renamed, false);
    assert!(!outside.errors.is_empty());
    assert!(!database_names(&server).contains(&other.to_string()));

    // A role membership for a login without a user fails visibly (no silent NULL skip).
    let iada = hubup::SqlOp::AddRoleMember {
        database: "LicenseManagerDB".into(),
        role: "db_datareader".into(),
        principal: hubup::Principal::SqlLogin("nobody_mapped".into()),
    };
    server.with_state(|state| {
        state
            .logins
            .insert("nobody_mapped".into(), support::tds::Login::default());
    });
    let role = hubup::render_script(machine, &[(step, vec![iada])]);
    let visible = support::sqlcmd::run(dba(), &role, false);
    assert_eq!(visible.errors.len(), 1, "{visible:?}");
    assert!(visible.errors[0].contains("15151"), "{:?}", visible.errors);

    // Another machine's rollback script leaves the database; this machine's drops it.
    let rollback_of = |machine: &str| {
        let header = hubup::ScriptHeader {
            title: "rollback".into(),
            machine: machine.into(),
            ..Default::default()
        };
        format!(
            "{}{}",
            header.render(),
            hubup::undo_script_for(&ops[0], &header)
        )
    };
    let foreign = support::sqlcmd::run(
        dba(),
        &rollback_of("ffffffffffffffffffffffffffffffff"),
        true,
    );
    assert!(foreign.errors.is_empty(), "{:?}", foreign.errors);
    assert!(database_names(&server).contains(&"LicenseManagerDB".to_string()));
    let own = support::sqlcmd::run(dba(), &rollback_of(machine), true);
    assert!(own.errors.is_empty(), "{:?}", own.errors);
    assert!(!database_names(&server).contains(&"LicenseManagerDB".to_string()));
    assert!(
        server.state().rejected.is_empty(),
        "{:?}",
        server.state().rejected
    );
}

/// `text` as LOGIN7 carries a password: UTF-16LE, each byte's nibbles swapped, then XOR 0xA5
/// (a scrambling anyone can undo: in clear, for all purposes).
fn login7_scrambled(text: &str) -> Vec<u8> {
    text.encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .map(|b| b.rotate_left(4) ^ 0xA5)
        .collect()
}

fn utf16(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
}

/// Issue 12, finding 4: with `encrypt = "off"` the login packet (and its password) still goes
/// inside TLS, as every SQL Server client does with Encrypt=False; only what follows it is in
/// clear. Proven on the bytes the stand-in received.
#[test]
fn with_encrypt_off_the_password_never_crosses_the_wire_in_clear() {
    let server = server();
    let scenario = scenario_on(&server, "execute", "");
    run(&scenario, &["check", "--to", "4.2"]).expect(0);
    let wire = server.received_bytes();
    assert!(!wire.is_empty());
    for (what, bytes) in [
        ("scrambled", login7_scrambled(PASSWORD)),
        ("UTF-16", utf16(PASSWORD)),
        ("UTF-8", PASSWORD.as_bytes().to_vec()),
    ] {
        assert!(
            !contains(&wire, &bytes),
            "the password crossed the wire in clear ({what})"
        );
    }
    assert!(
        !contains(&wire, &utf16(ADMIN)),
        "the whole login packet is inside TLS"
    );
    // After the login, statements travel in clear (encrypt = "off" means just that).
    assert!(contains(&wire, &utf16("SELECT DB_ID(@P1)")));
}

/// Issue 12, finding 8: a certificate hubup cannot check is reported in the administrator's
/// terms (the settings to change, not tiberius's calls), and a failed SQL preflight does not
/// hide the rest of the check, nor its own other problems.
#[test]
fn tls_errors_name_the_settings_and_every_problem_is_reported_at_once() {
    let server = server();
    let scenario = scenario_on(&server, "execute", "");
    let config = fs::read_to_string(scenario.config()).unwrap();
    let ca_line = format!(
        "ca_file = '{}'\n",
        scenario.path().join("sql-ca.pem").display()
    );
    let without_ca = config.replace(&ca_line, "");
    assert_ne!(without_ca, config);
    fs::write(scenario.config(), &without_ca).unwrap();
    let check = run(&scenario, &["check", "--to", "4.2"]);
    assert_eq!(check.code, 2, "{}", check.stdout);
    let line = check
        .stdout
        .lines()
        .find(|l| l.starts_with("[FAIL] SQL Server:"))
        .unwrap_or_else(|| panic!("{}", check.stdout));
    for needed in [
        "certificate was not accepted",
        "sql.ca_file",
        "sql.trust_server_certificate = true",
    ] {
        assert!(line.contains(needed), "{needed}: {line}");
    }
    for developer_words in ["Config::", "trust_cert_ca", "native-tls"] {
        assert!(!line.contains(developer_words), "{developer_words}: {line}");
    }
    assert!(
        check.stdout.contains("[ ok ] disk space"),
        "{}",
        check.stdout
    );
    fs::write(
        scenario.config(),
        without_ca.replace(
            "connect_timeout_secs",
            "trust_server_certificate = true\nconnect_timeout_secs",
        ),
    )
    .unwrap();
    run(&scenario, &["check", "--to", "4.2"]).expect(0);

    // A login without dbcreator and a backup of a database that does not exist: one check
    // names both.
    let weak = StandIn::start(&[(ADMIN, PASSWORD, &[]), (APP_LOGIN, "x", &[])]);
    weak.with_state(|state| {
        state.backup_folders.insert(BACKUPS.to_string());
    });
    let scenario = scenario_on(&weak, "execute", "");
    let check = run(
        &scenario,
        &["check", "--to", "4.2", "--backup-databases", BACKUPS],
    );
    assert_eq!(check.code, 2, "{}", check.stdout);
    assert!(
        check.stdout.contains("dbcreator")
            && check
                .stdout
                .contains("database [HubDB] (to back up before the upgrade) does not exist"),
        "{}",
        check.stdout
    );
}

/// A step that waits for its DBA is checked on resume whatever the config's mode says now:
/// switching to execution mode does not make the missing work count as done.
#[test]
fn a_waiting_step_is_checked_even_after_the_mode_changed() {
    let server = server();
    let scenario = scenario_on(&server, "script", "");
    run(&scenario, &["upgrade", "--to", "4.2"]).expect(7);
    let config = fs::read_to_string(scenario.config()).unwrap();
    fs::write(
        scenario.config(),
        config.replace("mode = \"script\"", "mode = \"execute\""),
    )
    .unwrap();
    let refused = run(&scenario, &["resume"]);
    assert_eq!(refused.code, 7, "{}", refused.stderr);
    assert!(
        refused
            .stderr
            .contains("not done: create database [LicenseManagerDB]"),
        "{}",
        refused.stderr
    );
    assert!(
        !scenario
            .journal()
            .iter()
            .any(|e| e["payload"]["kind"] == "dba_work_done")
    );
}
