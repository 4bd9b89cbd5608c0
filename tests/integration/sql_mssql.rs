//! Tests against a real SQL Server. They run only when `HUBUP_TEST_MSSQL` holds an ADO-style
//! connection string for a login with `sysadmin` (or `dbcreator` and `securityadmin`), for
//! example:
//!
//! ```text
//! docker run -e ACCEPT_EULA=Y -e MSSQL_SA_PASSWORD='Hubup-Test-2026' -p 1433:1433 \
//!     mcr.microsoft.com/mssql/server:2022-latest
//! HUBUP_TEST_MSSQL='Server=127.0.0.1,1433;User Id=sa;Password=Hubup-Test-2026;Encrypt=on;TrustServerCertificate=true' \
//!     cargo test --test integration sql_mssql
//! ```
//!
//! Everything they create carries a unique `hubup_test_` prefix and is dropped at the end
//! (backup files excepted: they go to `HUBUP_TEST_MSSQL_BACKUP_DIR`, a folder on the server,
//! by default `/var/opt/mssql/data`, which the Linux image has).
//! Without the variable they are compiled as ignored tests, so `cargo test` reports them as
//! ignored, not as passed: `build.rs` sets `cfg(hubup_test_mssql)` when the variable is set
//! (and cargo rebuilds when it changes).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hubup::{
    ExecuteTarget, Found, OpOutcome, Principal, Secret, Session, SqlAuth, SqlMode, SqlOp,
    SqlSettings, SqlTarget,
};

/// The settings and password from `HUBUP_TEST_MSSQL`. These tests run only in a build made
/// with the variable set; a run without it (`--ignored`) fails rather than passes untested.
fn server() -> (SqlSettings, Secret) {
    let Ok(text) = std::env::var("HUBUP_TEST_MSSQL") else {
        panic!("HUBUP_TEST_MSSQL is not set: these tests need a real SQL Server");
    };
    let mut settings = SqlSettings {
        mode: SqlMode::Execute,
        auth: SqlAuth::Sql,
        ..SqlSettings::default()
    };
    let mut password = None;
    for part in text.split(';').filter(|p| !p.trim().is_empty()) {
        let (key, value) = part
            .split_once('=')
            .expect("HUBUP_TEST_MSSQL: key=value pairs");
        let value = value.trim().to_string();
        match key.trim().to_ascii_lowercase().as_str() {
            "server" | "data source" => {
                settings.server = value.trim_start_matches("tcp:").to_string()
            }
            "user id" | "uid" | "user" => settings.user = Some(value),
            "password" | "pwd" => password = Some(Secret::new(value)),
            "encrypt" => {
                settings.encrypt = match value.to_ascii_lowercase().as_str() {
                    "false" | "no" | "off" => "off".into(),
                    "strict" | "required" => "required".into(),
                    _ => "on".into(),
                }
            }
            "trustservercertificate" => {
                settings.trust_server_certificate = value.eq_ignore_ascii_case("true")
            }
            _ => {}
        }
    }
    (settings, password.expect("HUBUP_TEST_MSSQL: Password=..."))
}

fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("hubup_test_{prefix}_{}_{nanos}", std::process::id())
}

fn target(settings: &SqlSettings, password: &Secret, identity: &str) -> ExecuteTarget {
    let session = Session::with_password(settings, password.clone()).expect("session");
    ExecuteTarget::with_session(session, identity, Duration::from_secs(5))
}

#[test]
#[cfg_attr(
    not(hubup_test_mssql),
    ignore = "needs HUBUP_TEST_MSSQL (a real SQL Server)"
)]
fn a_database_with_migrations_users_and_grants_is_created_checked_and_undone() {
    let (settings, password) = server();
    let database = unique("lm");
    let app_login = unique("app");
    let mut machine = target(&settings, &password, "test-machine-a");
    machine
        .session()
        .batch(&format!(
            "CREATE LOGIN {} WITH PASSWORD = N'Aa1-{}', CHECK_POLICY = OFF",
            hubup::quote_ident(&app_login),
            std::process::id()
        ))
        .expect("create the application's SQL login");
    let principal = Principal::SqlLogin(app_login.clone());
    let mut ops = vec![SqlOp::CreateDatabase {
        database: database.clone(),
    }];
    for migration in hubup::migrations_for("4.2".parse().unwrap(), "LicenseManagerDB") {
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
        database: database.clone(),
        principal: principal.clone(),
    });

    machine.preflight(&ops).expect("preflight");
    machine.lock().expect("lock");
    let mut outcomes = Vec::new();
    for op in &ops {
        assert_eq!(machine.find(op).unwrap(), Found::Missing, "{op:?}");
        outcomes.push(machine.apply(op).expect("apply"));
        assert!(machine.check(op).unwrap(), "{op:?}");
    }
    assert!(outcomes.iter().all(|o| *o == OpOutcome::Applied));
    // Idempotent, and another machine finds everything present.
    let mut other = target(&settings, &password, "test-machine-b");
    for op in &ops {
        // The creator recognizes its own database by its mark; the rest is found present.
        let again = match op {
            SqlOp::CreateDatabase { .. } => OpOutcome::Applied,
            _ => OpOutcome::AlreadyPresent,
        };
        assert_eq!(machine.apply(op).unwrap(), again, "{op:?}");
        assert_eq!(
            other.apply(op).unwrap(),
            OpOutcome::AlreadyPresent,
            "{op:?}"
        );
    }
    // The other machine's rollback leaves the database.
    for op in ops.iter().rev() {
        other.undo(op, Some(&OpOutcome::AlreadyPresent)).unwrap();
    }
    assert!(machine.check(&ops[0]).unwrap());
    for (op, outcome) in ops.iter().zip(&outcomes).rev() {
        machine.undo(op, Some(outcome)).expect("undo");
    }
    assert!(
        !machine.check(&ops[0]).unwrap(),
        "the creator's rollback drops the database"
    );
    machine.unlock().unwrap();
    machine
        .session()
        .batch(&format!("DROP LOGIN {}", hubup::quote_ident(&app_login)))
        .unwrap();
}

#[test]
#[cfg_attr(
    not(hubup_test_mssql),
    ignore = "needs HUBUP_TEST_MSSQL (a real SQL Server)"
)]
fn the_installation_lock_keeps_a_second_session_out() {
    let (settings, password) = server();
    let mut first = Session::with_password(&settings, password.clone()).unwrap();
    let mut second = Session::with_password(&settings, password).unwrap();
    first.lock(Duration::from_secs(5)).unwrap();
    let refused = second.lock(Duration::from_millis(500)).unwrap_err();
    assert!(
        refused.to_string().contains("another machine holds"),
        "{refused}"
    );
    first.unlock().unwrap();
    second.lock(Duration::from_secs(5)).unwrap();
    second.unlock().unwrap();
}

#[test]
#[cfg_attr(
    not(hubup_test_mssql),
    ignore = "needs HUBUP_TEST_MSSQL (a real SQL Server)"
)]
fn a_backup_is_taken_once_recorded_and_kept_by_undo() {
    let (settings, password) = server();
    let folder = std::env::var("HUBUP_TEST_MSSQL_BACKUP_DIR")
        .unwrap_or_else(|_| "/var/opt/mssql/data".to_string());
    let database = unique("backup");
    let mut machine = target(&settings, &password, "test-machine-a");
    let create = SqlOp::CreateDatabase {
        database: database.clone(),
    };
    machine
        .apply(&create)
        .expect("create the database to back up");
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let backups = hubup::DatabaseBackups::new(&folder, stamp).expect("backup folder");
    let backup = SqlOp::BackupDatabase {
        database: database.clone(),
        file: backups.file_for(&database, "4.0".parse().unwrap()),
    };
    let missing = SqlOp::BackupDatabase {
        database: unique("absent"),
        file: backups.file_for("absent", "4.0".parse().unwrap()),
    };
    let refused = machine.preflight(&[missing]).unwrap_err().to_string();
    assert!(refused.contains("does not exist"), "{refused}");
    machine
        .preflight(std::slice::from_ref(&backup))
        .expect("preflight");
    assert_eq!(machine.find(&backup).unwrap(), Found::Missing);
    assert_eq!(machine.apply(&backup).unwrap(), OpOutcome::Applied);
    assert!(machine.check(&backup).unwrap());
    assert_eq!(machine.apply(&backup).unwrap(), OpOutcome::AlreadyPresent);
    machine.undo(&backup, Some(&OpOutcome::Applied)).unwrap();
    assert!(machine.check(&backup).unwrap(), "undo keeps the backup");
    machine.undo(&create, Some(&OpOutcome::Applied)).unwrap();
}
