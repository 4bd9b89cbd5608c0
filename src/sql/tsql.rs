//! T-SQL text for each database op, for the scripts a DBA runs (`hubup-database.sql`, its
//! rollback script, `hubup sql-script`): identifiers quoted with `[` `]` (a `]` doubled),
//! string literals with `'` doubled and the `N` prefix, every statement guarded so a script
//! can run again after a fix. A name with `]`, `'` or `;` in it stays a name.
//!
//! Scripts are made for `sqlcmd -b -i FILE` (or SSMS in SQLCMD mode): the header stops at the
//! first error (`:on error exit`, and `-b`) and refuses to run outside SQLCMD mode (where
//! `:on error exit` means nothing and a failed migration would be followed by its history
//! row). Each migration runs with its history row in one transaction under `XACT_ABORT ON`,
//! so an error anywhere in it rolls back all of it, the row included.
//!
//! Guards never skip silently on NULL: `IS_ROLEMEMBER` is NULL when the user does not exist
//! (its `CREATE USER` failed), so role guards test `ISNULL(..., 0) = 0` and the statement
//! runs and fails visibly. Users are found by the login's SID, as execution mode does, and the
//! database owner (`dbo`) needs no user, role or grant. The rollback script drops only
//! databases that carry this machine's creator mark (so one machine's rollback script never
//! drops another machine's database; their users, roles and grants go with them) and leaves
//! logins, which other databases or machines may use.

use crate::op::{Principal, SqlOp};
use crate::sql::migrations;
use crate::sql::statements::HISTORY_TABLE as HISTORY;

/// `[name]`, with `]` doubled.
pub fn quote_ident(name: &str) -> String {
    format!("[{}]", name.replace(']', "]]"))
}

/// `N'text'`, with `'` doubled.
pub fn quote_literal(text: &str) -> String {
    format!("N'{}'", text.replace('\'', "''"))
}

pub fn principal_name(principal: &Principal) -> &str {
    match principal {
        Principal::Windows(name) | Principal::SqlLogin(name) => name,
    }
}

/// The sqlcmd variable the header sets to `OFF`. Outside SQLCMD mode it is not replaced: the
/// header's guard then turns `NOEXEC` on, and the `SET NOEXEC $(HubupNoexec)` that ends each
/// migration block (how a skipped migration's batches end) is a syntax error there instead of
/// turning it off again, so nothing of the script runs.
pub const SQLCMD_VARIABLE: &str = "HubupNoexec";

/// What a script's header says and what its blocks need: which machine's mark its
/// `CREATE DATABASE` writes and its drops require, and (for people) the run, steps and time.
#[derive(Clone, Debug, Default)]
pub struct ScriptHeader {
    /// What the script is (`database work`, `rollback of the database work`).
    pub title: String,
    /// The machine id (the journal's).
    pub machine: String,
    /// The run id, if the script belongs to a run.
    pub run: Option<String>,
    /// The steps it covers, as text (`4.1 -> 4.2`).
    pub steps: String,
    /// When it was written (UTC, ISO 8601).
    pub written: String,
}

impl ScriptHeader {
    /// The header: what the script is for and how to run it, then the sqlcmd settings and the
    /// batch that disables the rest of the script outside SQLCMD mode.
    pub fn render(&self) -> String {
        let run = self
            .run
            .as_deref()
            .map(|run| format!("-- run:      {run}\n"))
            .unwrap_or_default();
        format!(
            "-- hubup: {title}, for a DBA.\n\
             -- Run it with sqlcmd, which stops at the first error:\n\
             --     sqlcmd -b -S <server> -E -i <this file>\n\
             -- (or in SSMS with Query > SQLCMD Mode on). After a fix it can run again: every\n\
             -- block is guarded, and a failed migration rolls back whole.\n\
             {run}\
             -- machine:  {machine}\n\
             -- steps:    {steps}\n\
             -- written:  {written}\n\
             :on error exit\n\
             :setvar {SQLCMD_VARIABLE} \"OFF\"\n\
             GO\n\
             {guard}\
             GO\n",
            title = self.title,
            machine = self.machine,
            steps = self.steps,
            written = self.written,
            guard = sqlcmd_guard(),
        )
    }

    /// The `hubup_created_by` mark the script's `CREATE DATABASE` writes.
    fn mark(&self) -> String {
        format!("machine={};creation=dba-script", self.machine)
    }
}

/// The batch that turns the rest of the script off outside SQLCMD mode (where the variable is
/// not replaced): `SET NOEXEC ON` compiles without executing.
pub fn sqlcmd_guard() -> String {
    format!(
        "IF N'$({SQLCMD_VARIABLE})' <> N'OFF'\nBEGIN\n    RAISERROR(N'hubup: run this script with sqlcmd -b -i, or in SSMS in SQLCMD mode; nothing was done', 16, 1);\n    SET NOEXEC ON;\nEND\n"
    )
}

/// `SUSER_SID(login)` matches a user of the current database.
fn user_of(login: &str) -> String {
    format!(
        "SELECT 1 FROM sys.database_principals WHERE [sid] = SUSER_SID({})",
        quote_literal(login)
    )
}

/// True in T-SQL when the login does not own the current database (the owner is `dbo`, who
/// needs no role or grant, and to whom none can be given).
fn not_owner(login: &str) -> String {
    format!("NOT EXISTS ({} AND [name] = N'dbo')", user_of(login))
}

/// The script for one op: batches separated by `GO` lines. Idempotent.
pub fn script_for(op: &SqlOp, header: &ScriptHeader) -> String {
    match op {
        SqlOp::CreateDatabase { database } => format!(
            "IF DB_ID({lit}) IS NULL\nBEGIN\n    CREATE DATABASE {id};\n    EXEC {id}.sys.sp_addextendedproperty @name = N'hubup_created_by', @value = {mark};\nEND\nGO\n",
            lit = quote_literal(database),
            id = quote_ident(database),
            mark = quote_literal(&header.mark()),
        ),
        SqlOp::ApplyMigration {
            database,
            id,
            checksum,
        } => migration_script(database, id, &checksum.to_hex()),
        SqlOp::CreateUser {
            database,
            principal,
        } => {
            let name = principal_name(principal);
            format!(
                "USE {db};\nGO\nIF NOT EXISTS ({user})\n    CREATE USER {id} FOR LOGIN {id};\nGO\n",
                db = quote_ident(database),
                user = user_of(name),
                id = quote_ident(name)
            )
        }
        SqlOp::CreateLogin { login } => format!(
            "IF SUSER_ID({lit}) IS NULL\n    CREATE LOGIN {id} FROM WINDOWS;\nGO\n",
            lit = quote_literal(login),
            id = quote_ident(login)
        ),
        SqlOp::AddRoleMember {
            database,
            role,
            principal,
        } => {
            let name = principal_name(principal);
            format!(
                "USE {db};\nGO\nIF ISNULL(IS_ROLEMEMBER({role_lit}, {lit}), 0) = 0 AND {not_owner}\n    ALTER ROLE {role} ADD MEMBER {id};\nGO\n",
                db = quote_ident(database),
                role_lit = quote_literal(role),
                lit = quote_literal(name),
                not_owner = not_owner(name),
                role = quote_ident(role),
                id = quote_ident(name)
            )
        }
        SqlOp::GrantExecute {
            database,
            principal,
        } => {
            let name = principal_name(principal);
            format!(
                "USE {db};\nGO\nIF {not_owner}\n    GRANT EXECUTE TO {id};\nGO\n",
                db = quote_ident(database),
                not_owner = not_owner(name),
                id = quote_ident(name)
            )
        }
        // Running it twice only overwrites the same file (INIT).
        SqlOp::BackupDatabase { database, file } => format!(
            "BACKUP DATABASE {id} TO DISK = {file} WITH COPY_ONLY, INIT, CHECKSUM;\nGO\n",
            id = quote_ident(database),
            file = quote_literal(file)
        ),
    }
}

/// A migration with its history row in one transaction (`XACT_ABORT ON`: any error rolls all
/// of it back); skipped when the history says it is applied (`SET NOEXEC` spans the batches).
fn migration_script(database: &str, id: &str, checksum: &str) -> String {
    let text = migrations::find(id).map(|m| m.text).unwrap_or("");
    let lit = quote_literal(id);
    let mut out = format!(
        "USE {db};\nGO\n{create};\nGO\n\
         IF EXISTS (SELECT 1 FROM {HISTORY} WHERE [id] = {lit} AND [state] = N'applied') SET NOEXEC ON;\nGO\n\
         SET XACT_ABORT ON;\nBEGIN TRANSACTION;\nGO\n",
        db = quote_ident(database),
        create = crate::sql::statements::CREATE_HISTORY,
    );
    for batch in migrations::split_batches(text) {
        out.push_str(batch.trim_end());
        out.push_str("\nGO\n");
    }
    out.push_str(&format!(
        "INSERT INTO {HISTORY} ([id], [checksum], [state]) VALUES ({lit}, '{checksum}', N'applied');\nCOMMIT TRANSACTION;\nGO\nSET NOEXEC $({SQLCMD_VARIABLE});\nGO\n"
    ));
    out
}

/// The script that reverses one op (for the DBA, after a rollback in script mode).
pub fn undo_script_for(op: &SqlOp, header: &ScriptHeader) -> String {
    match op {
        SqlOp::CreateDatabase { database } => format!(
            "IF DB_ID({lit}) IS NOT NULL\nBEGIN\n    DECLARE @mark NVARCHAR(200) = NULL;\n    EXEC {id}.sys.sp_executesql N'SELECT @mark = CAST([value] AS NVARCHAR(200)) FROM sys.extended_properties WHERE [class] = 0 AND [name] = N''hubup_created_by''', N'@mark NVARCHAR(200) OUTPUT', @mark = @mark OUTPUT;\n    IF @mark LIKE {pattern}\n    BEGIN\n        ALTER DATABASE {id} SET SINGLE_USER WITH ROLLBACK IMMEDIATE;\n        DROP DATABASE {id};\n    END\n    ELSE\n        PRINT N'hubup: {shown} was not created by machine {machine}; it stays';\nEND\nGO\n",
            lit = quote_literal(database),
            id = quote_ident(database),
            pattern = quote_literal(&format!("machine={};%", header.machine)),
            shown = quote_ident(database).replace('\'', "''"),
            machine = header.machine,
        ),
        SqlOp::ApplyMigration { database, id, .. } => format!(
            "-- Migration {id} of {db} is undone by dropping the database it was applied to.\n",
            db = quote_ident(database)
        ),
        // Inside a database this machine created, the drop above removes them; in one it did
        // not create, another machine may rely on them: left alone either way.
        SqlOp::CreateUser {
            database,
            principal,
        }
        | SqlOp::AddRoleMember {
            database,
            principal,
            ..
        }
        | SqlOp::GrantExecute {
            database,
            principal,
        } => format!(
            "-- {} in {}: goes with the database if this machine created it, else stays.\n",
            quote_ident(principal_name(principal)),
            quote_ident(database)
        ),
        // Other databases or machines may use the login: a DBA drops it by hand if not.
        SqlOp::CreateLogin { login } => format!(
            "-- The login {id} stays (other databases or machines may use it); if nothing else\n\
             -- does: DROP LOGIN {id};\n",
            id = quote_ident(login)
        ),
        SqlOp::BackupDatabase { database, file } => format!(
            "-- Nothing to reverse: the backup of {} in {file} is kept.\n",
            quote_ident(database)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> ScriptHeader {
        ScriptHeader {
            title: "database work".into(),
            machine: "0123456789abcdef0123456789abcdef".into(),
            run: Some("ffffffffffffffffffffffffffffffff".into()),
            steps: "4.1 -> 4.2".into(),
            written: "2026-12-01T19:00:00.000Z".into(),
        }
    }

    #[test]
    fn hostile_names_stay_names() {
        let op = SqlOp::CreateDatabase {
            database: "x]; DROP DATABASE master; --'".into(),
        };
        let script = script_for(&op, &header());
        assert!(
            script.starts_with(
                "IF DB_ID(N'x]; DROP DATABASE master; --''') IS NULL\nBEGIN\n    CREATE DATABASE [x]]; DROP DATABASE master; --'];\n"
            ),
            "{script}"
        );
    }

    #[test]
    fn the_header_stops_at_the_first_error_and_outside_sqlcmd_mode() {
        let text = header().render();
        assert!(text.contains("sqlcmd -b"), "{text}");
        assert!(text.contains("\n:on error exit\n"), "{text}");
        assert!(text.contains("SET NOEXEC ON"), "{text}");
        for field in [
            "ffffffffffffffffffffffffffffffff",
            "0123456789abcdef",
            "4.1 -> 4.2",
        ] {
            assert!(text.contains(field), "{field}: {text}");
        }
    }

    #[test]
    fn a_migration_and_its_history_row_share_one_transaction() {
        let m = migrations::find("4.2/NotificationCenterDB/001_notifications.sql").unwrap();
        let script = script_for(
            &SqlOp::ApplyMigration {
                database: "NotificationCenterDB".into(),
                id: m.id.into(),
                checksum: m.checksum(),
            },
            &header(),
        );
        assert!(script.starts_with("USE [NotificationCenterDB];\nGO\n"));
        let begin = script
            .find("SET XACT_ABORT ON;\nBEGIN TRANSACTION;")
            .unwrap();
        let table = script
            .find("CREATE TABLE [dbo].[NotificationRecipient]")
            .unwrap();
        let insert = script.find("INSERT INTO").unwrap();
        let commit = script.find("COMMIT TRANSACTION;").unwrap();
        assert!(
            begin < table && table < insert && insert < commit,
            "{script}"
        );
        assert!(script.contains(&m.checksum().to_hex()));
        assert!(script.ends_with("SET NOEXEC $(HubupNoexec);\nGO\n"));
    }

    #[test]
    fn role_guards_do_not_skip_on_null_and_spare_the_owner() {
        let op = SqlOp::AddRoleMember {
            database: "IadaDB".into(),
            role: "db_datareader".into(),
            principal: Principal::SqlLogin("hub_app".into()),
        };
        let script = script_for(&op, &header());
        assert!(
            script.contains("IF ISNULL(IS_ROLEMEMBER(N'db_datareader', N'hub_app'), 0) = 0 AND NOT EXISTS (SELECT 1 FROM sys.database_principals WHERE [sid] = SUSER_SID(N'hub_app') AND [name] = N'dbo')"),
            "{script}"
        );
        let user = script_for(
            &SqlOp::CreateUser {
                database: "IadaDB".into(),
                principal: Principal::SqlLogin("hub_app".into()),
            },
            &header(),
        );
        assert!(user.contains("WHERE [sid] = SUSER_SID(N'hub_app'))\n    CREATE USER [hub_app]"));
    }

    #[test]
    fn drops_need_this_machines_mark() {
        let undo = undo_script_for(
            &SqlOp::CreateDatabase {
                database: "LicenseManagerDB".into(),
            },
            &header(),
        );
        let guard = undo
            .find("IF @mark LIKE N'machine=0123456789abcdef0123456789abcdef;%'")
            .unwrap();
        assert!(guard < undo.find("DROP DATABASE").unwrap(), "{undo}");
    }

    #[test]
    fn a_backup_file_is_a_literal_not_text() {
        let script = script_for(
            &SqlOp::BackupDatabase {
                database: "a]b".into(),
                file: r"D:\it's\a]b_4.0_20261129T192504Z.bak".into(),
            },
            &header(),
        );
        assert_eq!(
            script,
            "BACKUP DATABASE [a]]b] TO DISK = N'D:\\it''s\\a]b_4.0_20261129T192504Z.bak' WITH COPY_ONLY, INIT, CHECKSUM;\nGO\n"
        );
    }

    #[test]
    fn windows_logins_are_created_from_windows() {
        let script = script_for(
            &SqlOp::CreateLogin {
                login: r"IIS APPPOOL\Blue Prism - License Manager".into(),
            },
            &header(),
        );
        assert!(script.starts_with(
            "IF SUSER_ID(N'IIS APPPOOL\\Blue Prism - License Manager') IS NULL\n    CREATE LOGIN [IIS APPPOOL\\Blue Prism - License Manager] FROM WINDOWS;"
        ));
    }
}
