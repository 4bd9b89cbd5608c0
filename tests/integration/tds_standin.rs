//! Tests of the SQL Server stand-in (`tests/support/tds`) with tiberius as the client, the
//! way hubup talks to SQL Server: logins, each statement of the contract with its errors,
//! transactions, applocks, faults, hostile names and long (PLP) parameters. Statement texts
//! are written out here as the contract gives them, independently of the stand-in's own.

use std::fmt::Debug;
use std::time::{Duration, Instant};

use crate::support::tds::{Database, Faults, StandIn};
use tiberius::{AuthMethod, Client, Config, EncryptionLevel, ToSql};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

type Conn = Client<Compat<TcpStream>>;

const ADMIN: &str = "hubup_admin";
const ADMIN_PASSWORD: &str = "S3cret!pw";

const SRV_ROLES: &str = "SELECT IS_SRVROLEMEMBER(N'sysadmin'), IS_SRVROLEMEMBER(N'dbcreator')";
const DB_ID: &str = "SELECT DB_ID(@P1)";
const SUSER_ID: &str = "SELECT SUSER_ID(@P1)";
const PRINCIPAL_ID: &str = "SELECT DATABASE_PRINCIPAL_ID(@P1)";
const IS_ROLEMEMBER: &str = "SELECT IS_ROLEMEMBER(@P1, @P2)";
const EXECUTE_GRANTED: &str = "SELECT COUNT(*) FROM sys.database_permissions AS p JOIN sys.database_principals AS u ON p.grantee_principal_id = u.principal_id WHERE u.name = @P1 AND p.class = 0 AND p.permission_name = N'EXECUTE' AND p.state = N'G'";
const HISTORY_SELECT: &str =
    "SELECT [checksum], [state] FROM [dbo].[__hubup_migrations] WHERE [id] = @P1";
const PROPERTY_SELECT: &str = "SELECT CAST([value] AS NVARCHAR(200)) FROM sys.extended_properties WHERE [class] = 0 AND [name] = N'hubup_created_by'";
const GET_APPLOCK: &str = "DECLARE @result INT; EXEC @result = sp_getapplock @Resource = @P1, @LockMode = N'Exclusive', @LockOwner = N'Session', @LockTimeout = @P2; SELECT @result";
const HISTORY_CREATE: &str = "IF OBJECT_ID(N'dbo.__hubup_migrations', N'U') IS NULL CREATE TABLE [dbo].[__hubup_migrations] ([id] NVARCHAR(400) NOT NULL PRIMARY KEY, [checksum] CHAR(64) NOT NULL, [state] NVARCHAR(16) NOT NULL, [applied_at] DATETIME2 NOT NULL DEFAULT (SYSUTCDATETIME()))";
const HISTORY_INSERT: &str = "INSERT INTO [dbo].[__hubup_migrations] ([id], [checksum], [state]) VALUES (@P1, @P2, N'applying')";
const HISTORY_UPDATE: &str =
    "UPDATE [dbo].[__hubup_migrations] SET [state] = N'applied' WHERE [id] = @P1";
const ADD_PROPERTY: &str =
    "EXEC sys.sp_addextendedproperty @name = N'hubup_created_by', @value = @P1";
const RELEASE_APPLOCK: &str = "EXEC sp_releaseapplock @Resource = @P1, @LockOwner = N'Session'";

fn standin() -> StandIn {
    StandIn::start(&[
        (ADMIN, ADMIN_PASSWORD, &["sysadmin"]),
        ("creator", "creat0r", &["dbcreator"]),
        ("plain", "pl@in", &[]),
    ])
}

async fn connect(
    standin: &StandIn,
    user: &str,
    password: &str,
    setup: impl FnOnce(&mut Config),
) -> tiberius::Result<Conn> {
    let mut config = Config::new();
    config.host("127.0.0.1");
    config.port(standin.port());
    config.authentication(AuthMethod::sql_server(user, password));
    config.encryption(EncryptionLevel::NotSupported);
    setup(&mut config);
    let tcp = TcpStream::connect(("127.0.0.1", standin.port())).await?;
    tcp.set_nodelay(true)?;
    Client::connect(config, tcp.compat_write()).await
}

async fn login(standin: &StandIn, user: &str, password: &str) -> tiberius::Result<Conn> {
    connect(standin, user, password, |_| {}).await
}

async fn admin(standin: &StandIn) -> Conn {
    login(standin, ADMIN, ADMIN_PASSWORD)
        .await
        .expect("admin login")
}

/// A statement without parameters, sent as a batch (as hubup sends them).
async fn batch(client: &mut Conn, sql: &str) -> tiberius::Result<()> {
    client.simple_query(sql).await?.into_results().await?;
    Ok(())
}

/// A statement with parameters via sp_executesql; its row counts.
async fn exec(client: &mut Conn, sql: &str, params: &[&dyn ToSql]) -> tiberius::Result<Vec<u64>> {
    Ok(client.execute(sql, params).await?.rows_affected().to_vec())
}

/// The rows of a query as text cells (`None` for NULL), via sp_executesql.
async fn rows(
    client: &mut Conn,
    sql: &str,
    params: &[&dyn ToSql],
) -> tiberius::Result<Vec<Vec<Option<String>>>> {
    let rows = client.query(sql, params).await?.into_first_result().await?;
    Ok(rows
        .iter()
        .map(|row| (0..row.len()).map(|i| cell(row, i)).collect())
        .collect())
}

fn cell(row: &tiberius::Row, index: usize) -> Option<String> {
    match row.try_get::<i32, _>(index) {
        Ok(value) => value.map(|v| v.to_string()),
        Err(_) => row.get::<&str, _>(index).map(str::to_string),
    }
}

/// The one INT a query answers.
async fn int(client: &mut Conn, sql: &str, params: &[&dyn ToSql]) -> Option<i32> {
    let row = client
        .query(sql, params)
        .await
        .expect(sql)
        .into_row()
        .await
        .expect(sql)
        .expect("one row");
    assert_eq!(row.len(), 1, "{sql}: one column");
    row.get::<i32, _>(0)
}

/// The server error a result carries; panics on success or a non-server error.
#[track_caller]
fn server_error<T: Debug>(result: tiberius::Result<T>) -> (u32, String) {
    match result {
        Err(tiberius::error::Error::Server(e)) => (e.code(), e.message().to_string()),
        other => panic!("expected a server error, got {other:?}"),
    }
}

#[track_caller]
fn expect_code<T: Debug>(result: tiberius::Result<T>, code: u32) -> String {
    let (got, message) = server_error(result);
    assert_eq!(got, code, "error code (message: {message})");
    message
}

#[tokio::test]
async fn logins_succeed_or_fail_with_18456() {
    let standin = standin();
    let mut client = admin(&standin).await;
    let roles = rows(&mut client, SRV_ROLES, &[]).await.unwrap();
    assert_eq!(roles, [[Some("1".to_string()), Some("0".to_string())]]);
    let mut creator = login(&standin, "CREATOR", "creat0r")
        .await
        .expect("names ignore case");
    let row = creator
        .simple_query(SRV_ROLES)
        .await
        .unwrap()
        .into_row()
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (row.get::<i32, _>(0), row.get::<i32, _>(1)),
        (Some(0), Some(1))
    );

    let message = expect_code(login(&standin, ADMIN, "wrong").await, 18456);
    assert_eq!(message, format!("Login failed for user '{ADMIN}'."));
    expect_code(login(&standin, "nobody", "x").await, 18456);
    expect_code(
        login(&standin, ADMIN, &ADMIN_PASSWORD.to_uppercase()).await,
        18456,
    );

    standin.set_faults(Faults {
        refuse_logins: true,
        ..Faults::default()
    });
    expect_code(login(&standin, ADMIN, ADMIN_PASSWORD).await, 18456);
    standin.set_faults(Faults::default());
    admin(&standin).await;

    let missing = connect(&standin, ADMIN, ADMIN_PASSWORD, |c| c.database("NoSuchDb")).await;
    expect_code(missing, 4060);
    let mut in_master = connect(&standin, ADMIN, ADMIN_PASSWORD, |c| c.database("MASTER"))
        .await
        .expect("a system database as login database");
    assert_eq!(int(&mut in_master, DB_ID, &[&"tempdb"]).await, Some(2));
}

/// `EncryptionLevel::Off`: the TLS handshake inside PRELOGIN packets, the login inside TLS,
/// everything after it in clear; the certificate is checked against the stand-in's CA.
#[tokio::test]
async fn login_only_encryption_hides_the_login_and_then_talks_in_clear() {
    let standin = standin();
    let untrusted = connect(&standin, ADMIN, ADMIN_PASSWORD, |c| {
        c.encryption(EncryptionLevel::Off)
    })
    .await;
    assert!(
        matches!(&untrusted, Err(tiberius::error::Error::Tls(m)) if m.contains("UnknownIssuer")),
        "{untrusted:?}"
    );
    let ca = standin.ca_file();
    let mut client = connect(&standin, ADMIN, ADMIN_PASSWORD, |c| {
        c.encryption(EncryptionLevel::Off);
        c.trust_cert_ca(ca.display());
    })
    .await
    .expect("login over TLS");
    assert_eq!(int(&mut client, DB_ID, &[&"master"]).await, Some(1));
    let wire = standin.received_bytes();
    let utf16 = |t: &str| -> Vec<u8> { t.encode_utf16().flat_map(|u| u.to_le_bytes()).collect() };
    let has = |needle: &[u8]| wire.windows(needle.len()).any(|w| w == needle);
    assert!(!has(&utf16(ADMIN)), "the login packet is encrypted");
    assert!(has(&utf16(DB_ID)), "statements after the login are not");
    let wrong = connect(&standin, ADMIN, "wrong", |c| {
        c.encryption(EncryptionLevel::Off);
        c.trust_cert_ca(ca.display());
    })
    .await;
    expect_code(wrong, 18456);
}

#[tokio::test]
async fn encryption_is_refused_with_a_closed_connection() {
    let standin = standin();
    let encrypted = connect(&standin, ADMIN, ADMIN_PASSWORD, |c| {
        c.encryption(EncryptionLevel::Required)
    })
    .await;
    assert!(
        !matches!(encrypted, Ok(_) | Err(tiberius::error::Error::Server(_))),
        "{encrypted:?}"
    );
    admin(&standin).await;
}

#[tokio::test]
async fn create_database_then_db_id_and_1801() {
    let standin = standin();
    let mut client = admin(&standin).await;
    assert_eq!(int(&mut client, DB_ID, &[&"Hub"]).await, None);
    batch(&mut client, "CREATE DATABASE [Hub]").await.unwrap();
    let id = int(&mut client, DB_ID, &[&"hub"])
        .await
        .expect("Hub has an id");
    assert!(id > 4, "user database ids follow the system ones: {id}");
    assert_eq!(int(&mut client, DB_ID, &[&"master"]).await, Some(1));
    assert_eq!(int(&mut client, DB_ID, &[&"msdb"]).await, Some(4));

    let message = expect_code(batch(&mut client, "CREATE DATABASE [HUB]").await, 1801);
    assert_eq!(
        message,
        "Database 'HUB' already exists. Choose a different database name."
    );
    expect_code(batch(&mut client, "CREATE DATABASE [master]").await, 1801);

    batch(&mut client, "CREATE DATABASE [Second]")
        .await
        .unwrap();
    let second = int(&mut client, DB_ID, &[&"Second"]).await.unwrap();
    assert_ne!(second, id);
    assert_eq!(
        int(&mut client, DB_ID, &[&"Hub"]).await,
        Some(id),
        "ids are stable"
    );

    standin.with_state(|s| s.databases.insert("ByHand".into(), Database::default()));
    let by_hand = int(&mut client, DB_ID, &[&"ByHand"]).await.unwrap();
    assert!(
        by_hand > second,
        "a database set up by hand gets a fresh id"
    );

    let state = standin.state();
    let names: Vec<_> = state.databases.keys().cloned().collect();
    assert_eq!(
        names,
        ["ByHand", "Hub", "Second"],
        "system databases are not listed"
    );
    assert!(
        state
            .statements
            .contains(&"CREATE DATABASE [Hub]".to_string())
    );
    assert!(state.rejected.is_empty());
}

#[tokio::test]
async fn create_database_needs_dbcreator_or_sysadmin() {
    let standin = standin();
    let mut plain = login(&standin, "plain", "pl@in").await.unwrap();
    let message = expect_code(batch(&mut plain, "CREATE DATABASE [Hub]").await, 262);
    assert_eq!(
        message,
        "CREATE DATABASE permission denied in database 'master'."
    );
    assert!(standin.state().databases.is_empty());

    let mut creator = login(&standin, "creator", "creat0r").await.unwrap();
    batch(&mut creator, "CREATE DATABASE [Hub]").await.unwrap();
    assert!(standin.state().databases.contains_key("Hub"));
}

#[tokio::test]
async fn use_and_drop_database() {
    let standin = standin();
    let mut a = admin(&standin).await;
    let mut b = admin(&standin).await;
    let message = expect_code(batch(&mut a, "USE [Gone]").await, 911);
    assert_eq!(
        message,
        "Database 'Gone' does not exist. Make sure that the name is entered correctly."
    );
    batch(&mut a, "CREATE DATABASE [Gone]").await.unwrap();
    batch(&mut a, "USE [gone]").await.unwrap();
    expect_code(batch(&mut a, "DROP DATABASE [Gone]").await, 3702);
    expect_code(batch(&mut b, "DROP DATABASE [Gone]").await, 3702);
    // `execute` without parameters is sp_executesql with an empty declaration; a USE in it
    // lasts only for that call, as on SQL Server.
    a.execute("USE [master]", &[]).await.unwrap();
    expect_code(batch(&mut b, "DROP DATABASE [Gone]").await, 3702);
    batch(&mut a, "USE [master]").await.unwrap();
    batch(&mut b, "DROP DATABASE [Gone]").await.unwrap();
    let message = expect_code(batch(&mut b, "DROP DATABASE [Gone]").await, 3701);
    assert_eq!(
        message,
        "Cannot drop the database 'Gone', because it does not exist or you do not have permission."
    );
    expect_code(batch(&mut b, "DROP DATABASE [master]").await, 3708);
    assert_eq!(int(&mut b, DB_ID, &[&"master"]).await, Some(1));
    assert!(standin.state().databases.is_empty());
}

const SVC: &str = r"CORP\svc-hub";

/// Database [Hub] as current database, with Windows login and user `CORP\svc-hub`.
async fn hub_with_user(standin: &StandIn) -> Conn {
    let mut c = admin(standin).await;
    for sql in [
        "CREATE DATABASE [Hub]",
        "USE [Hub]",
        r"CREATE LOGIN [CORP\svc-hub] FROM WINDOWS",
        r"CREATE USER [CORP\svc-hub] FOR LOGIN [CORP\svc-hub]",
    ] {
        batch(&mut c, sql).await.expect(sql);
    }
    c
}

#[tokio::test]
async fn windows_logins_and_database_users() {
    let standin = standin();
    let mut c = admin(&standin).await;
    batch(&mut c, "CREATE DATABASE [Hub]").await.unwrap();
    batch(&mut c, "USE [Hub]").await.unwrap();
    assert_eq!(int(&mut c, SUSER_ID, &[&SVC]).await, None);
    batch(&mut c, r"CREATE LOGIN [CORP\svc-hub] FROM WINDOWS")
        .await
        .unwrap();
    assert!(int(&mut c, SUSER_ID, &[&SVC]).await.is_some());
    let again = batch(&mut c, r"CREATE LOGIN [corp\SVC-hub] FROM WINDOWS").await;
    let message = expect_code(again, 15025);
    assert_eq!(
        message,
        r"The server principal 'corp\SVC-hub' already exists."
    );

    assert_eq!(int(&mut c, PRINCIPAL_ID, &[&SVC]).await, None);
    assert_eq!(int(&mut c, PRINCIPAL_ID, &[&"dbo"]).await, Some(1));
    assert!(
        int(&mut c, PRINCIPAL_ID, &[&"db_datareader"])
            .await
            .is_some()
    );
    let create_user = r"CREATE USER [CORP\svc-hub] FOR LOGIN [CORP\svc-hub]";
    batch(&mut c, create_user).await.unwrap();
    assert!(int(&mut c, PRINCIPAL_ID, &[&SVC]).await.is_some());
    expect_code(batch(&mut c, create_user).await, 15023);
    let no_login = batch(&mut c, r"CREATE USER [other] FOR LOGIN [CORP\nobody]").await;
    let message = expect_code(no_login, 15007);
    assert_eq!(
        message,
        r"'CORP\nobody' is not a valid login or you do not have permission."
    );
    let state = standin.state();
    assert_eq!(state.databases["Hub"].users[SVC], SVC);
    assert!(state.logins[SVC].windows && state.logins[SVC].password.is_none());

    batch(&mut c, r"DROP USER [CORP\svc-hub]").await.unwrap();
    expect_code(batch(&mut c, r"DROP USER [CORP\svc-hub]").await, 15151);
    batch(&mut c, r"DROP LOGIN [CORP\svc-hub]").await.unwrap();
    let message = expect_code(batch(&mut c, r"DROP LOGIN [CORP\svc-hub]").await, 15151);
    let expected = r"Cannot drop the login 'CORP\svc-hub', because it does not exist or you do not have permission.";
    assert_eq!(message, expected);
    assert!(!standin.state().logins.contains_key(SVC));
    assert!(standin.state().databases["Hub"].users.is_empty());
}

#[tokio::test]
async fn role_membership() {
    let standin = standin();
    let mut c = hub_with_user(&standin).await;
    batch(
        &mut c,
        r"ALTER ROLE [db_datareader] ADD MEMBER [CORP\svc-hub]",
    )
    .await
    .unwrap();
    for (role, user, expected) in [
        ("db_datareader", SVC, Some(1)),
        ("DB_DATAREADER", SVC, Some(1)),
        ("db_datawriter", SVC, Some(0)),
        ("db_nope", SVC, None),
        ("db_owner", "nobody", None),
        ("db_owner", "dbo", Some(1)),
    ] {
        let got = int(&mut c, IS_ROLEMEMBER, &[&role, &user]).await;
        assert_eq!(got, expected, "{role} {user}");
    }
    let unknown = batch(&mut c, r"ALTER ROLE [db_nope] ADD MEMBER [CORP\svc-hub]").await;
    let message = expect_code(unknown, 15151);
    let expected =
        "Cannot alter the role 'db_nope', because it does not exist or you do not have permission.";
    assert_eq!(message, expected);
    expect_code(
        batch(&mut c, "ALTER ROLE [db_owner] ADD MEMBER [nobody]").await,
        15151,
    );
    batch(
        &mut c,
        r"ALTER ROLE [db_datareader] DROP MEMBER [CORP\svc-hub]",
    )
    .await
    .unwrap();
    assert_eq!(
        int(&mut c, IS_ROLEMEMBER, &[&"db_datareader", &SVC]).await,
        Some(0)
    );
    batch(
        &mut c,
        r"ALTER ROLE [db_datawriter] ADD MEMBER [CORP\svc-hub]",
    )
    .await
    .unwrap();

    let members: Vec<_> = standin.state().databases["Hub"]
        .role_members
        .iter()
        .cloned()
        .collect();
    assert_eq!(members, [("db_datawriter".to_string(), SVC.to_string())]);
    batch(&mut c, r"DROP USER [CORP\svc-hub]").await.unwrap();
    assert!(
        standin.state().databases["Hub"].role_members.is_empty(),
        "dropped with the user"
    );
}

#[tokio::test]
async fn execute_grants() {
    let standin = standin();
    let mut c = hub_with_user(&standin).await;
    assert_eq!(int(&mut c, EXECUTE_GRANTED, &[&SVC]).await, Some(0));
    batch(&mut c, r"GRANT EXECUTE TO [CORP\svc-hub]")
        .await
        .unwrap();
    assert_eq!(int(&mut c, EXECUTE_GRANTED, &[&SVC]).await, Some(1));
    assert_eq!(int(&mut c, EXECUTE_GRANTED, &[&"nobody"]).await, Some(0));
    batch(&mut c, r"REVOKE EXECUTE TO [CORP\svc-hub]")
        .await
        .unwrap();
    assert_eq!(int(&mut c, EXECUTE_GRANTED, &[&SVC]).await, Some(0));
    let message = expect_code(batch(&mut c, "GRANT EXECUTE TO [nobody]").await, 15151);
    let expected =
        "Cannot find the user 'nobody', because it does not exist or you do not have permission.";
    assert_eq!(message, expected);
    batch(&mut c, r"GRANT EXECUTE TO [CORP\svc-hub]")
        .await
        .unwrap();

    let state = standin.state();
    let hub = &state.databases["Hub"];
    assert!(hub.execute_grants.contains(SVC));
    assert!(
        hub.statements
            .contains(&r"GRANT EXECUTE TO [CORP\svc-hub]".to_string())
    );
    assert!(
        !hub.statements.contains(&"USE [Hub]".to_string()),
        "USE ran in master"
    );
    batch(&mut c, "USE [master]").await.unwrap();
    assert_eq!(
        int(&mut c, EXECUTE_GRANTED, &[&SVC]).await,
        Some(0),
        "per database"
    );
    batch(&mut c, "USE [Hub]").await.unwrap();
    batch(&mut c, r"DROP USER [CORP\svc-hub]").await.unwrap();
    assert!(
        standin.state().databases["Hub"].execute_grants.is_empty(),
        "dropped with the user"
    );
}

#[tokio::test]
async fn history_table_insert_select_update() {
    let standin = standin();
    let mut c = admin(&standin).await;
    batch(&mut c, "CREATE DATABASE [Hub]").await.unwrap();
    batch(&mut c, "USE [Hub]").await.unwrap();
    let id = "4.2/LicenseManagerDB/001_licenses.sql";
    let checksum = "ab".repeat(32);
    let message = expect_code(rows(&mut c, HISTORY_SELECT, &[&id]).await, 208);
    assert_eq!(message, "Invalid object name 'dbo.__hubup_migrations'.");
    expect_code(
        exec(&mut c, HISTORY_INSERT, &[&id, &checksum.as_str()]).await,
        208,
    );
    assert!(!standin.state().databases["Hub"].has_history_table);

    batch(&mut c, HISTORY_CREATE).await.unwrap();
    batch(&mut c, HISTORY_CREATE)
        .await
        .expect("guarded: runs twice");
    assert!(
        rows(&mut c, HISTORY_SELECT, &[&id])
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        exec(&mut c, HISTORY_INSERT, &[&id, &checksum.as_str()])
            .await
            .unwrap(),
        [1]
    );
    let found = rows(&mut c, HISTORY_SELECT, &[&id]).await.unwrap();
    assert_eq!(
        found,
        [[Some(checksum.clone()), Some("applying".to_string())]]
    );
    let message = expect_code(
        exec(&mut c, HISTORY_INSERT, &[&id.to_uppercase(), &"x"]).await,
        2627,
    );
    assert!(
        message.ends_with(&format!(
            "The duplicate key value is ({}).",
            id.to_uppercase()
        )),
        "{message}"
    );

    assert_eq!(exec(&mut c, HISTORY_UPDATE, &[&id]).await.unwrap(), [1]);
    assert_eq!(
        exec(&mut c, HISTORY_UPDATE, &[&"other"]).await.unwrap(),
        [0]
    );
    let found = rows(&mut c, HISTORY_SELECT, &[&id]).await.unwrap();
    assert_eq!(found[0][1].as_deref(), Some("applied"));

    let hub = &standin.state().databases["Hub"];
    assert!(hub.has_history_table);
    assert_eq!(hub.history[id], (checksum, "applied".to_string()));
    let master_history = {
        batch(&mut c, "USE [master]").await.unwrap();
        rows(&mut c, HISTORY_SELECT, &[&id]).await
    };
    expect_code(master_history, 208);
    // hubup never changes a system database: outside the contract.
    expect_code(batch(&mut c, HISTORY_CREATE).await, 50000);
    assert_eq!(standin.state().rejected, [HISTORY_CREATE]);
}

#[tokio::test]
async fn extended_property_set_once_and_read() {
    let standin = standin();
    let mut c = admin(&standin).await;
    batch(&mut c, "CREATE DATABASE [Hub]").await.unwrap();
    batch(&mut c, "USE [Hub]").await.unwrap();
    assert!(rows(&mut c, PROPERTY_SELECT, &[]).await.unwrap().is_empty());
    exec(&mut c, ADD_PROPERTY, &[&"hubup on HOST1"])
        .await
        .unwrap();
    let found = rows(&mut c, PROPERTY_SELECT, &[]).await.unwrap();
    assert_eq!(found, [[Some("hubup on HOST1".to_string())]]);
    let via_batch = c
        .simple_query(PROPERTY_SELECT)
        .await
        .unwrap()
        .into_row()
        .await
        .unwrap();
    assert_eq!(via_batch.unwrap().get::<&str, _>(0), Some("hubup on HOST1"));
    let message = expect_code(exec(&mut c, ADD_PROPERTY, &[&"again"]).await, 15233);
    assert_eq!(
        message,
        "Property cannot be added. Property 'hubup_created_by' already exists for 'object specified'."
    );
    assert_eq!(
        standin.state().databases["Hub"].properties["hubup_created_by"],
        "hubup on HOST1"
    );
}

#[tokio::test]
async fn migration_batches_are_accepted_and_recorded() {
    let standin = standin();
    let mut c = admin(&standin).await;
    batch(&mut c, "CREATE DATABASE [LicenseManagerDB]")
        .await
        .unwrap();
    batch(&mut c, "USE [LicenseManagerDB]").await.unwrap();
    let mut sent = Vec::new();
    for migration in &hubup::MIGRATIONS[..2] {
        assert!(
            migration.id.starts_with("4.2/LicenseManagerDB/"),
            "{}",
            migration.id
        );
        for text in migration.batches() {
            batch(&mut c, text.trim()).await.expect(migration.id);
            sent.push(text.trim().to_string());
        }
    }
    let state = standin.state();
    let database = &state.databases["LicenseManagerDB"];
    assert_eq!(database.migration_batches, sent);
    for object in [
        "License",
        "LicenseAssignment",
        "usp_GetActiveLicenses",
        "usp_AssignLicense",
    ] {
        assert!(
            database.objects.contains(object),
            "{object} in {:?}",
            database.objects
        );
    }
    assert!(state.rejected.is_empty());

    let message = expect_code(batch(&mut c, &sent[0]).await, 2714);
    assert_eq!(
        message,
        "There is already an object named 'License' in the database."
    );
    let edited = format!("{}\n-- edited", sent[0]);
    expect_code(batch(&mut c, &edited).await, 50000);
    assert_eq!(standin.state().rejected, [edited]);
}

/// Database [Tx] with the history table, as the current database.
async fn tx_database(standin: &StandIn) -> Conn {
    let mut c = admin(standin).await;
    for sql in ["CREATE DATABASE [Tx]", "USE [Tx]", HISTORY_CREATE] {
        batch(&mut c, sql).await.expect(sql);
    }
    c
}

/// The ids in [Tx]'s history.
fn history_ids(standin: &StandIn) -> Vec<String> {
    standin.state().databases["Tx"]
        .history
        .keys()
        .cloned()
        .collect()
}

#[tokio::test]
async fn transactions_commit_or_roll_back() {
    let standin = standin();
    let mut c = tx_database(&standin).await;
    batch(&mut c, "BEGIN TRANSACTION").await.unwrap();
    exec(&mut c, HISTORY_INSERT, &[&"m1", &"c1"]).await.unwrap();
    batch(&mut c, "COMMIT TRANSACTION").await.unwrap();
    batch(&mut c, "BEGIN TRANSACTION").await.unwrap();
    exec(&mut c, HISTORY_INSERT, &[&"m2", &"c2"]).await.unwrap();
    batch(&mut c, "BEGIN TRANSACTION").await.unwrap();
    exec(&mut c, HISTORY_UPDATE, &[&"m1"]).await.unwrap();
    batch(&mut c, "COMMIT TRANSACTION")
        .await
        .expect("inner commit");
    expect_code(batch(&mut c, "CREATE DATABASE [Inside]").await, 226);
    assert_eq!(
        history_ids(&standin),
        ["m1", "m2"],
        "visible before the end"
    );
    batch(&mut c, "ROLLBACK TRANSACTION").await.unwrap();
    assert_eq!(history_ids(&standin), ["m1"]);
    assert_eq!(standin.state().databases["Tx"].history["m1"].1, "applying");

    expect_code(batch(&mut c, "COMMIT TRANSACTION").await, 3902);
    expect_code(batch(&mut c, "ROLLBACK TRANSACTION").await, 3903);
    expect_code(exec(&mut c, "BEGIN TRANSACTION", &[]).await, 50000);
}

#[tokio::test]
async fn a_dropped_connection_loses_its_transaction() {
    let standin = standin();
    let mut c = tx_database(&standin).await;
    batch(&mut c, "BEGIN TRANSACTION").await.unwrap();
    exec(&mut c, HISTORY_INSERT, &[&"m1", &"c1"]).await.unwrap();
    let migration = hubup::MIGRATIONS[0].batches()[0].trim().to_string();
    batch(&mut c, &migration).await.unwrap();
    standin.set_faults(Faults {
        drop_at_statement: Some(1),
        ..Faults::default()
    });
    let dropped = exec(&mut c, HISTORY_UPDATE, &[&"m1"]).await;
    let closed = !matches!(dropped, Ok(_) | Err(tiberius::error::Error::Server(_)));
    assert!(closed, "closed without a reply: {dropped:?}");
    assert!(standin.wait_for_connections(0, Duration::from_secs(5)));

    let state = standin.state();
    let tx = &state.databases["Tx"];
    assert!(tx.history.is_empty() && tx.migration_batches.is_empty() && tx.objects.is_empty());
    assert!(tx.has_history_table, "created before the transaction");
    let last = state.statements.last().map(String::as_str);
    assert_eq!(
        last,
        Some(HISTORY_UPDATE),
        "the dropped statement was received"
    );
    assert!(
        tx.statements.contains(&migration),
        "the log keeps what was received"
    );

    // The client going away has the same effect.
    standin.set_faults(Faults::default());
    let mut c = admin(&standin).await;
    batch(&mut c, "USE [Tx]").await.unwrap();
    batch(&mut c, "BEGIN TRANSACTION").await.unwrap();
    exec(&mut c, HISTORY_INSERT, &[&"m2", &"c2"]).await.unwrap();
    drop(c);
    assert!(standin.wait_for_connections(0, Duration::from_secs(5)));
    assert!(history_ids(&standin).is_empty());
}

#[tokio::test]
async fn fail_at_statement_answers_with_that_error() {
    let standin = standin();
    let mut c = admin(&standin).await;
    standin.set_faults(Faults {
        fail_at_statement: Some((2, 1801)),
        ..Faults::default()
    });
    assert_eq!(int(&mut c, DB_ID, &[&"master"]).await, Some(1));
    let message = expect_code(batch(&mut c, "CREATE DATABASE [Hub]").await, 1801);
    assert_eq!(
        message,
        "Database 'Hub' already exists. Choose a different database name."
    );
    assert!(standin.state().databases.is_empty(), "not run");
    batch(&mut c, "CREATE DATABASE [Hub]").await.unwrap();

    standin.set_faults(Faults {
        fail_at_statement: Some((1, 424242)),
        ..Faults::default()
    });
    let message = expect_code(exec(&mut c, HISTORY_UPDATE, &[&"m1"]).await, 424242);
    assert!(message.contains("424242"), "{message}");
    standin.set_faults(Faults {
        fail_at_statement: Some((1, 1205)),
        ..Faults::default()
    });
    let message = expect_code(batch(&mut c, "USE [Hub]").await, 1205);
    assert!(message.contains("deadlock victim"), "{message}");
}

#[tokio::test]
async fn delay_slows_every_statement() {
    let standin = standin();
    let mut c = admin(&standin).await;
    standin.set_faults(Faults {
        delay: Some(Duration::from_millis(150)),
        ..Faults::default()
    });
    let start = Instant::now();
    assert_eq!(int(&mut c, DB_ID, &[&"master"]).await, Some(1));
    batch(&mut c, "USE [master]").await.unwrap();
    assert!(
        start.elapsed() >= Duration::from_millis(300),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn applock_is_exclusive_per_session_and_freed_by_disconnect() {
    let standin = standin();
    let mut a = admin(&standin).await;
    let mut b = admin(&standin).await;
    let lock = "hubup:upgrade";
    assert_eq!(int(&mut a, GET_APPLOCK, &[&lock, &0i32]).await, Some(0));
    assert_eq!(
        int(&mut a, GET_APPLOCK, &[&lock, &0i32]).await,
        Some(0),
        "re-entrant"
    );

    let start = Instant::now();
    assert_eq!(int(&mut b, GET_APPLOCK, &[&lock, &200i32]).await, Some(-1));
    assert!(start.elapsed() >= Duration::from_millis(200));
    assert_eq!(
        int(&mut b, GET_APPLOCK, &[&"HUBUP:UPGRADE", &0i32]).await,
        Some(0),
        "exact names"
    );
    exec(&mut b, RELEASE_APPLOCK, &[&"HUBUP:UPGRADE"])
        .await
        .unwrap();
    let message = expect_code(exec(&mut b, RELEASE_APPLOCK, &[&lock]).await, 1223);
    assert!(
        message.contains("because it is not currently held"),
        "{message}"
    );

    // Two holds: one release leaves it held.
    exec(&mut a, RELEASE_APPLOCK, &[&lock]).await.unwrap();
    assert_eq!(int(&mut b, GET_APPLOCK, &[&lock, &50i32]).await, Some(-1));

    // B waits while A lets go: granted after waiting (1).
    let params: [&dyn ToSql; 2] = [&lock, &5000i32];
    let waiting = int(&mut b, GET_APPLOCK, &params);
    let release = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        exec(&mut a, RELEASE_APPLOCK, &[&lock]).await.unwrap();
    };
    let (granted, ()) = tokio::join!(waiting, release);
    assert_eq!(granted, Some(1));
    exec(&mut b, RELEASE_APPLOCK, &[&lock]).await.unwrap();

    // A holds it and disconnects without releasing: B gets it.
    assert_eq!(int(&mut a, GET_APPLOCK, &[&lock, &0i32]).await, Some(0));
    assert_eq!(int(&mut b, GET_APPLOCK, &[&lock, &100i32]).await, Some(-1));
    drop(a);
    let start = Instant::now();
    let got = int(&mut b, GET_APPLOCK, &[&lock, &5000i32]).await;
    assert!(matches!(got, Some(0 | 1)), "{got:?}");
    assert!(start.elapsed() < Duration::from_secs(4));
    assert!(standin.state().rejected.is_empty());
}

#[tokio::test]
async fn unknown_statements_are_rejected_with_50000() {
    let standin = standin();
    let mut c = admin(&standin).await;
    let message = expect_code(batch(&mut c, "SELECT 1").await, 50000);
    assert_eq!(message, "TDS stand-in: statement not understood: SELECT 1");
    expect_code(batch(&mut c, "USE [master];").await, 50000);
    expect_code(exec(&mut c, "SELECT DB_ID(@P1)", &[&5i32]).await, 50000);
    expect_code(
        exec(&mut c, "SELECT DB_ID(@P1)", &[&"a", &"b"]).await,
        50000,
    );
    expect_code(exec(&mut c, DB_ID, &[&true]).await, 50000);
    expect_code(exec(&mut c, DB_ID, &[&7i64]).await, 50000);
    let message = expect_code(batch(&mut c, DB_ID).await, 137);
    assert_eq!(message, "Must declare the scalar variable \"@P1\".");
    let state = standin.state();
    assert_eq!(
        state.rejected,
        ["SELECT 1", "USE [master];", DB_ID, DB_ID, DB_ID, DB_ID],
        "rejected statements, in order"
    );
    assert!(!state.rejected.contains(&"DROP".to_string()));
    // Only sp_executesql: an RPC to a named procedure cannot even be decoded.
    let mut command = tiberius::Command::new("dbo.usp_GetActiveLicenses");
    command.bind_param("@x", 1i32);
    let result = async { command.exec(&mut c).await?.into_command_result().await }.await;
    expect_code(result, 50000);
    let rejected = standin.state().rejected.last().cloned().unwrap_or_default();
    assert!(
        rejected.starts_with("<undecodable request: RPC to procedure"),
        "{rejected}"
    );
    // The connection still works after rejections.
    assert_eq!(int(&mut c, DB_ID, &[&"master"]).await, Some(1));
}

#[tokio::test]
async fn hostile_names_round_trip_as_one_name() {
    let standin = standin();
    let mut c = admin(&standin).await;
    let name = "x]; DROP DATABASE master; --'";
    let quoted = hubup::quote_ident(name);
    assert_eq!(quoted, "[x]]; DROP DATABASE master; --']");
    batch(&mut c, &format!("CREATE DATABASE {quoted}"))
        .await
        .unwrap();
    let names: Vec<_> = standin.state().databases.keys().cloned().collect();
    assert_eq!(names, [name]);
    assert!(int(&mut c, DB_ID, &[&name]).await.is_some());
    assert_eq!(int(&mut c, DB_ID, &[&"master"]).await, Some(1));

    batch(&mut c, &format!("USE {quoted}")).await.unwrap();
    batch(&mut c, &format!("CREATE LOGIN {quoted} FROM WINDOWS"))
        .await
        .unwrap();
    batch(&mut c, &format!("CREATE USER {quoted} FOR LOGIN {quoted}"))
        .await
        .unwrap();
    assert!(int(&mut c, PRINCIPAL_ID, &[&name]).await.is_some());
    let state = standin.state();
    assert_eq!(state.databases[name].users[name], name);
    assert!(state.params_seen.iter().any(|p| p == name));
    assert!(state.rejected.is_empty());

    let long = format!("[{}]", "n".repeat(129));
    expect_code(batch(&mut c, &format!("CREATE DATABASE {long}")).await, 103);
    expect_code(batch(&mut c, "CREATE DATABASE []").await, 1038);
}

#[tokio::test]
async fn long_nvarchar_parameters_decode() {
    let standin = standin();
    // A 512-byte packet size makes requests and replies span several packets.
    let mut c = connect(&standin, ADMIN, ADMIN_PASSWORD, |c| c.packet_size(512))
        .await
        .unwrap();
    let long = format!("{}{}😀", "é".repeat(2500), "x".repeat(2500));
    assert!(long.len() > 4000, "tiberius sends it as PLP");
    assert_eq!(int(&mut c, DB_ID, &[&long.as_str()]).await, None);
    assert_eq!(standin.state().params_seen.last(), Some(&long));

    batch(&mut c, "CREATE DATABASE [Hub]").await.unwrap();
    batch(&mut c, "USE [Hub]").await.unwrap();
    exec(&mut c, ADD_PROPERTY, &[&long.as_str()]).await.unwrap();
    let value = rows(&mut c, PROPERTY_SELECT, &[]).await.unwrap();
    let truncated: String = long.chars().take(200).collect();
    assert_eq!(value, [[Some(truncated)]], "CAST(... AS NVARCHAR(200))");
    assert_eq!(
        standin.state().databases["Hub"].properties["hubup_created_by"],
        long
    );

    let unknown = format!("SELECT N'{}'", "y".repeat(300));
    let message = expect_code(batch(&mut c, &unknown).await, 50000);
    assert_eq!(
        message.chars().count(),
        "TDS stand-in: statement not understood: ".len() + 200
    );
    let empty = String::new();
    assert_eq!(int(&mut c, DB_ID, &[&empty.as_str()]).await, None);
    let none: Option<&str> = None;
    assert_eq!(int(&mut c, DB_ID, &[&none]).await, None, "NULL parameter");
}

const BACKUP_PERMISSION: &str = "SELECT HAS_PERMS_BY_NAME(@P1, N'DATABASE', N'BACKUP DATABASE')";
const BACKUP_RECORDED: &str = "SELECT COUNT(*) FROM msdb.dbo.backupset AS s JOIN msdb.dbo.backupmediafamily AS m ON m.media_set_id = s.media_set_id WHERE s.database_name = @P1 AND m.physical_device_name = @P2 AND s.is_copy_only = 1";
const BACKUP: &str = "BACKUP DATABASE [HubDB] TO DISK = @P1 WITH COPY_ONLY, INIT, CHECKSUM";

#[tokio::test]
async fn backups_need_the_database_the_permission_a_folder_and_no_transaction() {
    let standin = standin();
    standin.with_state(|s| {
        s.databases.insert("HubDB".into(), Database::default());
        s.backup_folders.insert(r"D:\SQLBackups".into());
    });
    let file = r"D:\SQLBackups\HubDB_4.0_20261129T044402Z.bak";
    let mut client = admin(&standin).await;
    assert_eq!(
        int(&mut client, BACKUP_PERMISSION, &[&"hubdb"]).await,
        Some(1)
    );
    assert_eq!(
        int(&mut client, BACKUP_PERMISSION, &[&"NoSuchDb"]).await,
        None
    );
    assert_eq!(
        int(&mut client, BACKUP_RECORDED, &[&"HubDB", &file]).await,
        Some(0)
    );

    // A folder the server does not have, a database that does not exist, a transaction.
    let missing = r"E:\nowhere\HubDB.bak";
    let message = expect_code(exec(&mut client, BACKUP, &[&missing]).await, 3201);
    assert!(message.contains(missing), "{message}");
    let other = "BACKUP DATABASE [NoSuchDb] TO DISK = @P1 WITH COPY_ONLY, INIT, CHECKSUM";
    expect_code(exec(&mut client, other, &[&file]).await, 911);
    batch(&mut client, "BEGIN TRANSACTION").await.unwrap();
    expect_code(exec(&mut client, BACKUP, &[&file]).await, 3021);
    batch(&mut client, "ROLLBACK TRANSACTION").await.unwrap();

    exec(&mut client, BACKUP, &[&file]).await.unwrap();
    assert_eq!(
        int(&mut client, BACKUP_RECORDED, &[&"HubDB", &file]).await,
        Some(1)
    );
    assert_eq!(standin.state().backups.len(), 1);

    // A login without sysadmin, ownership or db_backupoperator may not back it up, until it
    // is mapped to a user in db_backupoperator.
    let mut plain = login(&standin, "plain", "pl@in").await.unwrap();
    assert_eq!(
        int(&mut plain, BACKUP_PERMISSION, &[&"HubDB"]).await,
        Some(0)
    );
    let message = expect_code(exec(&mut plain, BACKUP, &[&file]).await, 262);
    assert_eq!(
        message,
        "BACKUP DATABASE permission denied in database 'HubDB'."
    );
    standin.with_state(|s| {
        let hub = s.databases.get_mut("HubDB").unwrap();
        hub.users.insert("plain_user".into(), "plain".into());
        hub.role_members
            .insert(("db_backupoperator".into(), "plain_user".into()));
    });
    assert_eq!(
        int(&mut plain, BACKUP_PERMISSION, &[&"HubDB"]).await,
        Some(1)
    );
    exec(&mut plain, BACKUP, &[&file]).await.unwrap();
    assert_eq!(
        int(&mut plain, BACKUP_RECORDED, &[&"HubDB", &file]).await,
        Some(2)
    );
    assert!(standin.state().rejected.is_empty());
}

const LOGIN_PERMISSION: &str = "SELECT HAS_PERMS_BY_NAME(NULL, NULL, N'ALTER ANY LOGIN')";

#[tokio::test]
async fn creating_logins_needs_securityadmin() {
    let standin = standin();
    let mut creator = login(&standin, "creator", "creat0r").await.unwrap();
    assert_eq!(int(&mut creator, LOGIN_PERMISSION, &[]).await, Some(0));
    let refused = batch(&mut creator, r"CREATE LOGIN [CORP\svc-hub] FROM WINDOWS").await;
    expect_code(refused, 15247);
    standin.with_state(|s| {
        let roles = &mut s.logins.get_mut("creator").unwrap().server_roles;
        roles.insert("securityadmin".into());
    });
    assert_eq!(int(&mut creator, LOGIN_PERMISSION, &[]).await, Some(1));
    batch(&mut creator, r"CREATE LOGIN [CORP\svc-hub] FROM WINDOWS")
        .await
        .unwrap();
    let mut admin = admin(&standin).await;
    assert_eq!(int(&mut admin, LOGIN_PERMISSION, &[]).await, Some(1));
}

#[tokio::test]
async fn single_user_drop_closes_the_connections_in_the_database_first() {
    let standin = standin();
    let mut owner = admin(&standin).await;
    batch(&mut owner, "CREATE DATABASE [Busy]").await.unwrap();
    // An application's pooled connection sits in the database, inside a transaction.
    let mut app = admin(&standin).await;
    batch(&mut app, "USE [Busy]").await.unwrap();
    batch(&mut app, "BEGIN TRANSACTION").await.unwrap();
    batch(&mut app, HISTORY_CREATE).await.unwrap();
    expect_code(batch(&mut owner, "DROP DATABASE [Busy]").await, 3702);
    let drop =
        "ALTER DATABASE [Busy] SET SINGLE_USER WITH ROLLBACK IMMEDIATE; DROP DATABASE [busy]";
    batch(&mut owner, drop).await.unwrap();
    assert!(
        standin.state().databases.is_empty(),
        "dropped, not resurrected by the rollback"
    );
    let after = batch(&mut app, SRV_ROLES).await;
    assert!(
        matches!(&after, Err(e) if !matches!(e, tiberius::error::Error::Server(_))),
        "the app was disconnected: {after:?}"
    );
    // Both names must be the same database, or it is not hubup's statement.
    batch(&mut owner, "CREATE DATABASE [A]").await.unwrap();
    let mixed = "ALTER DATABASE [A] SET SINGLE_USER WITH ROLLBACK IMMEDIATE; DROP DATABASE [B]";
    expect_code(batch(&mut owner, mixed).await, 50000);
    assert_eq!(standin.state().rejected, [mixed]);
}
