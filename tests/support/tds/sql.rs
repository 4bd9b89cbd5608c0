//! Statement recognition: maps a statement text onto one of the statements hubup sends
//! (`src/sql/statements.rs` lists them), extracting its bracket-quoted identifiers, and says
//! which parameters each expects. Texts must match exactly; anything else is not understood.

use std::collections::BTreeSet;

use super::reply::Value;

pub const SRV_ROLES: &str = "SELECT IS_SRVROLEMEMBER(N'sysadmin'), IS_SRVROLEMEMBER(N'dbcreator')";
pub const DB_ID: &str = "SELECT DB_ID(@P1)";
pub const SUSER_ID: &str = "SELECT SUSER_ID(@P1)";
pub const PRINCIPAL_ID: &str = "SELECT DATABASE_PRINCIPAL_ID(@P1)";
pub const IS_ROLEMEMBER: &str = "SELECT IS_ROLEMEMBER(@P1, @P2)";
pub const EXECUTE_GRANTED: &str = "SELECT COUNT(*) FROM sys.database_permissions AS p JOIN \
     sys.database_principals AS u ON p.grantee_principal_id = u.principal_id WHERE u.name = @P1 \
     AND p.class = 0 AND p.permission_name = N'EXECUTE' AND p.state = N'G'";
pub const HISTORY_SELECT: &str =
    "SELECT [checksum], [state] FROM [dbo].[__hubup_migrations] WHERE [id] = @P1";
pub const PROPERTY_SELECT: &str = "SELECT CAST([value] AS NVARCHAR(200)) FROM \
     sys.extended_properties WHERE [class] = 0 AND [name] = N'hubup_created_by'";
pub const GET_APPLOCK: &str = "DECLARE @result INT; EXEC @result = sp_getapplock @Resource = \
     @P1, @LockMode = N'Exclusive', @LockOwner = N'Session', @LockTimeout = @P2; SELECT @result";
pub const HISTORY_CREATE: &str = "IF OBJECT_ID(N'dbo.__hubup_migrations', N'U') IS NULL CREATE \
     TABLE [dbo].[__hubup_migrations] ([id] NVARCHAR(400) NOT NULL PRIMARY KEY, [checksum] \
     CHAR(64) NOT NULL, [state] NVARCHAR(16) NOT NULL, [applied_at] DATETIME2 NOT NULL DEFAULT \
     (SYSUTCDATETIME()))";
/// The history table's creation as a DBA script writes it (with its `;`).
pub const CREATE_HISTORY_SCRIPT: &str = "IF OBJECT_ID(N'dbo.__hubup_migrations', N'U') IS NULL \
     CREATE TABLE [dbo].[__hubup_migrations] ([id] NVARCHAR(400) NOT NULL PRIMARY KEY, [checksum] \
     CHAR(64) NOT NULL, [state] NVARCHAR(16) NOT NULL, [applied_at] DATETIME2 NOT NULL DEFAULT \
     (SYSUTCDATETIME()));";
pub const HISTORY_INSERT: &str = "INSERT INTO [dbo].[__hubup_migrations] ([id], [checksum], \
     [state]) VALUES (@P1, @P2, N'applying')";
pub const HISTORY_UPDATE: &str =
    "UPDATE [dbo].[__hubup_migrations] SET [state] = N'applied' WHERE [id] = @P1";
pub const ADD_PROPERTY: &str =
    "EXEC sys.sp_addextendedproperty @name = N'hubup_created_by', @value = @P1";
pub const USER_FOR_LOGIN: &str =
    "SELECT [name] FROM sys.database_principals WHERE [sid] = SUSER_SID(@P1)";
pub const USER_PERMISSION: &str = "SELECT HAS_PERMS_BY_NAME(@P1, N'DATABASE', N'ALTER ANY USER')";
pub const SERVER_TIME: &str = "SELECT CONVERT(NVARCHAR(23), GETDATE(), 121)";
pub const CREATED_SINCE: &str = "SELECT COUNT(*) FROM sys.databases WHERE [name] = @P1 AND \
     [owner_sid] = SUSER_SID() AND [create_date] >= CONVERT(DATETIME, @P2, 121)";
pub const HISTORY_DELETE: &str =
    "DELETE FROM [dbo].[__hubup_migrations] WHERE [id] = @P1 AND [state] = N'applying'";
pub const RELEASE_APPLOCK: &str = "EXEC sp_releaseapplock @Resource = @P1, @LockOwner = N'Session'";
pub const LOGIN_PERMISSION: &str = "SELECT HAS_PERMS_BY_NAME(NULL, NULL, N'ALTER ANY LOGIN')";
pub const BACKUP_PERMISSION: &str =
    "SELECT HAS_PERMS_BY_NAME(@P1, N'DATABASE', N'BACKUP DATABASE')";
pub const BACKUP_RECORDED: &str = "SELECT COUNT(*) FROM msdb.dbo.backupset AS s JOIN \
     msdb.dbo.backupmediafamily AS m ON m.media_set_id = s.media_set_id WHERE s.database_name = \
     @P1 AND m.physical_device_name = @P2 AND s.is_copy_only = 1";

/// A recognised statement; identifiers are unquoted names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Statement {
    SrvRoles,
    DbId,
    SuserId,
    PrincipalId,
    IsRoleMember,
    ExecuteGranted,
    HistorySelect,
    PropertySelect,
    GetAppLock,
    LoginPermission,
    BackupPermission,
    BackupRecorded,
    /// `BACKUP DATABASE [x] TO DISK = @P1 WITH COPY_ONLY, INIT, CHECKSUM`.
    BackupDatabase(String),
    CreateDatabase(String),
    /// `EXEC [x].sys.sp_addextendedproperty @name = N'hubup_created_by', @value = @P1`: the
    /// creator's mark on database `x` (from any current database).
    MarkDatabase(String),
    /// The server's clock (`yyyy-mm-dd hh:mi:ss.mmm`).
    ServerTime,
    /// `@P1` login -> the name of its user in the current database (`dbo` for the owner).
    UserForLogin,
    /// `@P1` database -> whether the login may create users there.
    UserPermission,
    /// `@P1` database, `@P2` time: owned by the login and created since then (1 or 0).
    CreatedSince,
    DropDatabase(String),
    /// `ALTER DATABASE [x] SET SINGLE_USER WITH ROLLBACK IMMEDIATE; DROP DATABASE [x]`: the
    /// other connections in it are closed (their transactions rolled back), then it is dropped.
    DropDatabaseSingleUser(String),
    Use(String),
    CreateWindowsLogin(String),
    DropLogin(String),
    CreateUser {
        user: String,
        login: String,
    },
    DropUser(String),
    AlterRole {
        role: String,
        user: String,
        add: bool,
    },
    Execute {
        user: String,
        grant: bool,
    },
    HistoryCreate,
    HistoryInsert,
    HistoryUpdate,
    HistoryDelete,
    AddProperty,
    ReleaseAppLock,
    Begin,
    Commit,
    Rollback,
    /// A batch of a migration file, with its text.
    MigrationBatch(String),
}

/// The kind of value a parameter must hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Param {
    Str,
    Int,
}

const FIXED: &[(&str, Statement)] = &[
    (SRV_ROLES, Statement::SrvRoles),
    (DB_ID, Statement::DbId),
    (SUSER_ID, Statement::SuserId),
    (PRINCIPAL_ID, Statement::PrincipalId),
    (IS_ROLEMEMBER, Statement::IsRoleMember),
    (EXECUTE_GRANTED, Statement::ExecuteGranted),
    (HISTORY_SELECT, Statement::HistorySelect),
    (PROPERTY_SELECT, Statement::PropertySelect),
    (GET_APPLOCK, Statement::GetAppLock),
    (HISTORY_CREATE, Statement::HistoryCreate),
    (HISTORY_INSERT, Statement::HistoryInsert),
    (HISTORY_UPDATE, Statement::HistoryUpdate),
    (HISTORY_DELETE, Statement::HistoryDelete),
    (ADD_PROPERTY, Statement::AddProperty),
    (RELEASE_APPLOCK, Statement::ReleaseAppLock),
    (LOGIN_PERMISSION, Statement::LoginPermission),
    (BACKUP_PERMISSION, Statement::BackupPermission),
    (BACKUP_RECORDED, Statement::BackupRecorded),
    (SERVER_TIME, Statement::ServerTime),
    (USER_FOR_LOGIN, Statement::UserForLogin),
    (USER_PERMISSION, Statement::UserPermission),
    (CREATED_SINCE, Statement::CreatedSince),
    ("BEGIN TRANSACTION", Statement::Begin),
    ("COMMIT TRANSACTION", Statement::Commit),
    ("ROLLBACK TRANSACTION", Statement::Rollback),
];

/// hubup's DROP DATABASE: other connections closed first, in the same batch.
pub const DROP_SINGLE_USER: &str =
    "ALTER DATABASE {} SET SINGLE_USER WITH ROLLBACK IMMEDIATE; DROP DATABASE {}";

/// Templates: `{}` is one bracket-quoted identifier.
type Build = fn(Vec<String>) -> Statement;
const TEMPLATES: &[(&str, Build)] = &[
    ("CREATE DATABASE {}", |n| Statement::CreateDatabase(one(n))),
    (
        "EXEC {}.sys.sp_addextendedproperty @name = N'hubup_created_by', @value = @P1",
        |n| Statement::MarkDatabase(one(n)),
    ),
    ("DROP DATABASE {}", |n| Statement::DropDatabase(one(n))),
    (
        "BACKUP DATABASE {} TO DISK = @P1 WITH COPY_ONLY, INIT, CHECKSUM",
        |n| Statement::BackupDatabase(one(n)),
    ),
    ("USE {}", |n| Statement::Use(one(n))),
    ("CREATE LOGIN {} FROM WINDOWS", |n| {
        Statement::CreateWindowsLogin(one(n))
    }),
    ("DROP LOGIN {}", |n| Statement::DropLogin(one(n))),
    ("CREATE USER {} FOR LOGIN {}", |n| {
        let [user, login] = two(n);
        Statement::CreateUser { user, login }
    }),
    ("DROP USER {}", |n| Statement::DropUser(one(n))),
    ("ALTER ROLE {} ADD MEMBER {}", |n| role(n, true)),
    ("ALTER ROLE {} DROP MEMBER {}", |n| role(n, false)),
    ("GRANT EXECUTE TO {}", |n| Statement::Execute {
        user: one(n),
        grant: true,
    }),
    ("REVOKE EXECUTE TO {}", |n| Statement::Execute {
        user: one(n),
        grant: false,
    }),
];

fn one(names: Vec<String>) -> String {
    names.into_iter().next().unwrap_or_default()
}

fn two(names: Vec<String>) -> [String; 2] {
    let mut names = names.into_iter();
    [
        names.next().unwrap_or_default(),
        names.next().unwrap_or_default(),
    ]
}

fn role(names: Vec<String>, add: bool) -> Statement {
    let [role, user] = two(names);
    Statement::AlterRole { role, user, add }
}

/// The statement `text` is, if it is one hubup sends. `batches` holds the migration batches.
pub fn recognize(text: &str, batches: &BTreeSet<String>) -> Option<Statement> {
    if let Some((_, statement)) = FIXED.iter().find(|(fixed, _)| *fixed == text) {
        return Some(statement.clone());
    }
    if let Some(names) = match_template(text, DROP_SINGLE_USER) {
        let [altered, dropped] = two(names);
        return (altered.eq_ignore_ascii_case(&dropped))
            .then_some(Statement::DropDatabaseSingleUser(dropped));
    }
    for (pattern, build) in TEMPLATES {
        if let Some(names) = match_template(text, pattern) {
            return Some(build(names));
        }
    }
    batches
        .contains(text)
        .then(|| Statement::MigrationBatch(text.to_string()))
}

/// Matches `text` against `pattern`; returns the identifiers standing for its `{}`s.
fn match_template(text: &str, pattern: &str) -> Option<Vec<String>> {
    let mut literals = pattern.split("{}");
    let mut rest = text.strip_prefix(literals.next()?)?;
    let mut names = Vec::new();
    for literal in literals {
        let (name, after) = parse_ident(rest)?;
        names.push(name);
        rest = after.strip_prefix(literal)?;
    }
    rest.is_empty().then_some(names)
}

/// `[name]` at the start of `text`, with `]]` standing for `]`; the name and what follows.
pub(super) fn parse_ident(text: &str) -> Option<(String, &str)> {
    let body = text.strip_prefix('[')?;
    let mut name = String::new();
    let mut chars = body.char_indices();
    while let Some((at, c)) = chars.next() {
        if c != ']' {
            name.push(c);
        } else if body[at + 1..].starts_with(']') {
            name.push(']');
            chars.next();
        } else {
            return Some((name, &body[at + 1..]));
        }
    }
    None
}

impl Statement {
    /// The `@P1..` parameters the statement needs, in order.
    pub fn params(&self) -> &'static [Param] {
        use Statement::*;
        match self {
            DbId | SuserId | PrincipalId | ExecuteGranted | HistorySelect | HistoryUpdate
            | HistoryDelete | AddProperty | ReleaseAppLock | BackupPermission
            | BackupDatabase(_) | MarkDatabase(_) | UserForLogin | UserPermission => &[Param::Str],
            IsRoleMember | HistoryInsert | BackupRecorded | CreatedSince => {
                &[Param::Str, Param::Str]
            }
            GetAppLock => &[Param::Str, Param::Int],
            _ => &[],
        }
    }

    /// The identifiers in the statement.
    pub fn idents(&self) -> Vec<&str> {
        use Statement::*;
        match self {
            CreateDatabase(n)
            | MarkDatabase(n)
            | BackupDatabase(n)
            | DropDatabase(n)
            | DropDatabaseSingleUser(n)
            | Use(n)
            | CreateWindowsLogin(n)
            | DropLogin(n)
            | DropUser(n) => vec![n],
            CreateUser { user, login } => vec![user, login],
            AlterRole { role, user, .. } => vec![role, user],
            Execute { user, .. } => vec![user],
            _ => Vec::new(),
        }
    }
}

/// Why `args` do not fit `params`, if they do not. NULL fits any kind.
pub fn check_args(params: &[Param], args: &[Value]) -> Result<(), String> {
    if params.len() != args.len() {
        return Err(format!(
            "{} parameter(s) given, {} expected",
            args.len(),
            params.len()
        ));
    }
    for (index, (param, arg)) in params.iter().zip(args).enumerate() {
        let fits = matches!(
            (param, arg),
            (_, Value::Null) | (Param::Str, Value::Str(_)) | (Param::Int, Value::Int(_))
        );
        if !fits {
            return Err(format!("@P{} is {arg:?}, expected {param:?}", index + 1));
        }
    }
    Ok(())
}

/// The names in `CREATE TABLE [dbo].[X]` and `CREATE PROCEDURE [dbo].[X]` lines of a batch.
pub fn created_objects(batch: &str) -> Vec<String> {
    let mut names = Vec::new();
    for line in batch.lines() {
        for prefix in ["CREATE TABLE [dbo].", "CREATE PROCEDURE [dbo]."] {
            if let Some((name, _)) = line.trim().strip_prefix(prefix).and_then(parse_ident) {
                names.push(name);
            }
        }
    }
    names
}
