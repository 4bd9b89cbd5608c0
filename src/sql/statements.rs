//! Every statement the execution mode sends to SQL Server, in one place, so a reviewer (or a
//! DBA) can read exactly what hubup does to a server. Texts are sent as written: the test
//! stand-in (`tests/support/tds`) accepts these texts and rejects anything else, so a new or
//! changed statement cannot pass untested.
//!
//! Values always travel as parameters (`@P1`, `@P2`: tiberius sends them through
//! `sp_executesql`); the only text built at run time is a bracket-quoted identifier
//! ([`quote_ident`]), because T-SQL does not take identifiers as parameters.

pub use crate::sql::tsql::quote_ident;

/// Server roles of the connected login: (sysadmin, dbcreator), 1 or 0 each.
pub const SERVER_ROLES: &str =
    "SELECT IS_SRVROLEMEMBER(N'sysadmin'), IS_SRVROLEMEMBER(N'dbcreator')";
/// 1 if the connected login may create logins (securityadmin or sysadmin), else 0.
pub const LOGIN_PERMISSION: &str = "SELECT HAS_PERMS_BY_NAME(NULL, NULL, N'ALTER ANY LOGIN')";
/// `@P1` database name -> its id or NULL.
pub const DATABASE_ID: &str = "SELECT DB_ID(@P1)";
/// `@P1` login name -> its id or NULL.
pub const LOGIN_ID: &str = "SELECT SUSER_ID(@P1)";
/// `@P1` login -> the name of the user it maps to in the current database (found by the
/// login's SID, whatever the user's name: `dbo` for the database's owner), or no row.
pub const USER_FOR_LOGIN: &str =
    "SELECT [name] FROM sys.database_principals WHERE [sid] = SUSER_SID(@P1)";
/// `@P1` name -> the id of the database principal of that name in the current database, or
/// NULL (a user of that name that is not the login's would make CREATE USER fail).
pub const USER_ID: &str = "SELECT DATABASE_PRINCIPAL_ID(@P1)";
/// `@P1` database -> 1 if the connected login may create users there, 0 if not, NULL if
/// there is no such database.
pub const USER_PERMISSION: &str = "SELECT HAS_PERMS_BY_NAME(@P1, N'DATABASE', N'ALTER ANY USER')";
/// `@P1` role, `@P2` user -> 1, 0, or NULL when either is unknown (current database).
pub const IS_ROLE_MEMBER: &str = "SELECT IS_ROLEMEMBER(@P1, @P2)";
/// `@P1` user -> 1 if EXECUTE is granted to it on the current database, else 0.
pub const HAS_EXECUTE_GRANT: &str = "SELECT COUNT(*) FROM sys.database_permissions AS p JOIN sys.database_principals AS u ON p.grantee_principal_id = u.principal_id WHERE u.name = @P1 AND p.class = 0 AND p.permission_name = N'EXECUTE' AND p.state = N'G'";

/// The migration history of a database: one row per migration, `applying` while its
/// transaction runs (a row left `applying` marks an interrupted migration), `applied` after.
pub const HISTORY_TABLE: &str = "[dbo].[__hubup_migrations]";
pub const CREATE_HISTORY: &str = "IF OBJECT_ID(N'dbo.__hubup_migrations', N'U') IS NULL CREATE TABLE [dbo].[__hubup_migrations] ([id] NVARCHAR(400) NOT NULL PRIMARY KEY, [checksum] CHAR(64) NOT NULL, [state] NVARCHAR(16) NOT NULL, [applied_at] DATETIME2 NOT NULL DEFAULT (SYSUTCDATETIME()))";
/// `@P1` migration id -> its (checksum, state), or no row. Error 208 if there is no table.
pub const MIGRATION_STATE: &str =
    "SELECT [checksum], [state] FROM [dbo].[__hubup_migrations] WHERE [id] = @P1";
/// `@P1` id, `@P2` checksum (hex).
pub const MIGRATION_STARTED: &str = "INSERT INTO [dbo].[__hubup_migrations] ([id], [checksum], [state]) VALUES (@P1, @P2, N'applying')";
/// `@P1` id; runs inside the migration's transaction.
pub const MIGRATION_APPLIED: &str =
    "UPDATE [dbo].[__hubup_migrations] SET [state] = N'applied' WHERE [id] = @P1";
/// `@P1` id; after the migration's transaction was rolled back on a live connection.
pub const MIGRATION_ABANDONED: &str =
    "DELETE FROM [dbo].[__hubup_migrations] WHERE [id] = @P1 AND [state] = N'applying'";

pub const BEGIN: &str = "BEGIN TRANSACTION";
pub const COMMIT: &str = "COMMIT TRANSACTION";
pub const ROLLBACK: &str = "ROLLBACK TRANSACTION";

/// Which machine created a database: a database-level extended property
/// (`machine=<id>;creation=<token>`, [`mark_database`]), so a rollback drops only databases
/// this machine created even when its journal lost the op's done record. `CREATE DATABASE`
/// commits on its own, so the mark comes in a second statement; a database cut off between
/// the two is recognised by its journaled intent ([`SERVER_TIME`], [`CREATED_SINCE`]).
/// The current database's creator, or no row.
pub const CREATED_BY: &str = "SELECT CAST([value] AS NVARCHAR(200)) FROM sys.extended_properties WHERE [class] = 0 AND [name] = N'hubup_created_by'";

/// The server's clock (its local time, as `sys.databases.create_date` records it), read
/// before `CREATE DATABASE` and journaled with the op's intent.
pub const SERVER_TIME: &str = "SELECT CONVERT(NVARCHAR(23), GETDATE(), 121)";
/// `@P1` database, `@P2` a time from [`SERVER_TIME`] -> 1 if the database is owned by the
/// connected login and was created at or after that time, else 0: how a database cut off
/// before its mark is told apart from one that was there (or someone else's).
pub const CREATED_SINCE: &str = "SELECT COUNT(*) FROM sys.databases WHERE [name] = @P1 AND [owner_sid] = SUSER_SID() AND [create_date] >= CONVERT(DATETIME, @P2, 121)";

/// The installation-wide lock (`@P1` resource, `@P2` timeout in ms) -> 0 or 1 granted,
/// negative refused. Session-owned: SQL Server releases it if the connection dies. Taken in
/// `master`, since application locks are scoped to the current database.
pub const GET_APPLOCK: &str = "DECLARE @result INT; EXEC @result = sp_getapplock @Resource = @P1, @LockMode = N'Exclusive', @LockOwner = N'Session', @LockTimeout = @P2; SELECT @result";
pub const RELEASE_APPLOCK: &str = "EXEC sp_releaseapplock @Resource = @P1, @LockOwner = N'Session'";
/// The lock's resource name: one per SQL Server, shared by every machine of the installation.
pub const APPLOCK_RESOURCE: &str = "hubup: Blue Prism Hub and Interact upgrade";

/// `@P1` database -> 1 if the login may back it up, 0 if not, NULL if there is no such
/// database (one question answers both before any change).
pub const BACKUP_PERMISSION: &str =
    "SELECT HAS_PERMS_BY_NAME(@P1, N'DATABASE', N'BACKUP DATABASE')";
/// `@P1` database, `@P2` file -> how many completed copy-only backups of it SQL Server's
/// history (`msdb`) records in that file: the check that a backup op is done.
pub const BACKUP_RECORDED: &str = "SELECT COUNT(*) FROM msdb.dbo.backupset AS s JOIN msdb.dbo.backupmediafamily AS m ON m.media_set_id = s.media_set_id WHERE s.database_name = @P1 AND m.physical_device_name = @P2 AND s.is_copy_only = 1";

pub fn use_database(name: &str) -> String {
    format!("USE {}", quote_ident(name))
}

/// Creates the database. It commits on its own (SQL Server refuses it in a transaction), so
/// its mark ([`mark_database`]) follows as a second statement.
pub fn create_database(name: &str) -> String {
    format!("CREATE DATABASE {}", quote_ident(name))
}

/// Marks the database with its creator (`@P1`: `machine=<id>;creation=<token>`).
pub fn mark_database(name: &str) -> String {
    format!(
        "EXEC {}.sys.sp_addextendedproperty @name = N'hubup_created_by', @value = @P1",
        quote_ident(name)
    )
}

/// A full backup of the database to the file `@P1` on the server: `COPY_ONLY` so the DBA's
/// differential chain is not reset, `INIT` so a retry after a crash overwrites a partial
/// file, `CHECKSUM` so damaged pages fail the backup instead of being copied silently.
pub fn backup_database(name: &str) -> String {
    format!(
        "BACKUP DATABASE {} TO DISK = @P1 WITH COPY_ONLY, INIT, CHECKSUM",
        quote_ident(name)
    )
}

/// Drops a database this machine created. The applications' pooled connections may still
/// sit in it (stopping a site does not stop its app pool), and DROP DATABASE refuses a
/// database in use (3702): SINGLE_USER WITH ROLLBACK IMMEDIATE closes them first, in the same
/// batch so no application reconnects in between.
pub fn drop_database(name: &str) -> String {
    let id = quote_ident(name);
    format!("ALTER DATABASE {id} SET SINGLE_USER WITH ROLLBACK IMMEDIATE; DROP DATABASE {id}")
}

pub fn create_windows_login(login: &str) -> String {
    format!("CREATE LOGIN {} FROM WINDOWS", quote_ident(login))
}

pub fn drop_login(login: &str) -> String {
    format!("DROP LOGIN {}", quote_ident(login))
}

pub fn create_user(user: &str) -> String {
    format!(
        "CREATE USER {} FOR LOGIN {}",
        quote_ident(user),
        quote_ident(user)
    )
}

pub fn drop_user(user: &str) -> String {
    format!("DROP USER {}", quote_ident(user))
}

pub fn add_role_member(role: &str, user: &str) -> String {
    format!(
        "ALTER ROLE {} ADD MEMBER {}",
        quote_ident(role),
        quote_ident(user)
    )
}

pub fn drop_role_member(role: &str, user: &str) -> String {
    format!(
        "ALTER ROLE {} DROP MEMBER {}",
        quote_ident(role),
        quote_ident(user)
    )
}

pub fn grant_execute(user: &str) -> String {
    format!("GRANT EXECUTE TO {}", quote_ident(user))
}

pub fn revoke_execute(user: &str) -> String {
    format!("REVOKE EXECUTE TO {}", quote_ident(user))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_so_names_cannot_become_statements() {
        assert_eq!(
            create_database("x]; DROP DATABASE master; --'"),
            "CREATE DATABASE [x]]; DROP DATABASE master; --']"
        );
        assert!(mark_database("a]b").starts_with("EXEC [a]]b].sys.sp_addextendedproperty"));
        assert_eq!(create_user("a]b"), "CREATE USER [a]]b] FOR LOGIN [a]]b]");
    }
}
