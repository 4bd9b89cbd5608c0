//! T-SQL text for each database op, for the script a DBA runs: identifiers quoted with `[` `]`
//! (a `]` doubled), string literals with `'` doubled and the `N` prefix, and every statement
//! guarded so the script can run twice. A name with `]`, `'` or `;` in it stays a name.

use crate::op::{Principal, SqlOp};
use crate::sql::migrations;

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

use crate::sql::statements::HISTORY_TABLE as HISTORY;

/// The script for one op: batches separated by `GO` lines. Idempotent.
pub fn script_for(op: &SqlOp) -> String {
    match op {
        SqlOp::CreateDatabase { database } => format!(
            "IF DB_ID({lit}) IS NULL\n    CREATE DATABASE {id};\nGO\n",
            lit = quote_literal(database),
            id = quote_ident(database)
        ),
        SqlOp::ApplyMigration {
            database,
            id,
            checksum,
        } => {
            let text = migrations::find(id).map(|m| m.text).unwrap_or("");
            let mut out = format!(
                "USE {db};\nGO\n{create};\nGO\n\
                 -- Skip the migration if it is already recorded (SET NOEXEC spans the batches).\n\
                 IF EXISTS (SELECT 1 FROM {HISTORY} WHERE [id] = {lit}) SET NOEXEC ON;\nGO\n",
                db = quote_ident(database),
                lit = quote_literal(id),
                create = crate::sql::statements::CREATE_HISTORY,
            );
            for batch in migrations::split_batches(text) {
                out.push_str(batch.trim_end());
                out.push_str("\nGO\n");
            }
            out.push_str(&format!(
                "INSERT INTO {HISTORY} ([id], [checksum], [state]) VALUES ({}, '{}', N'applied');\nGO\nSET NOEXEC OFF;\nGO\n",
                quote_literal(id),
                checksum.to_hex()
            ));
            out
        }
        SqlOp::CreateUser {
            database,
            principal,
        } => {
            let name = principal_name(principal);
            format!(
                "USE {db};\nGO\nIF DATABASE_PRINCIPAL_ID({lit}) IS NULL\n    CREATE USER {id} FOR LOGIN {id};\nGO\n",
                db = quote_ident(database),
                lit = quote_literal(name),
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
        } => format!(
            "USE {db};\nGO\nIF IS_ROLEMEMBER({role_lit}, {lit}) = 0\n    ALTER ROLE {role} ADD MEMBER {id};\nGO\n",
            db = quote_ident(database),
            role_lit = quote_literal(role),
            lit = quote_literal(principal_name(principal)),
            role = quote_ident(role),
            id = quote_ident(principal_name(principal))
        ),
        SqlOp::GrantExecute {
            database,
            principal,
        } => format!(
            "USE {db};\nGO\nGRANT EXECUTE TO {id};\nGO\n",
            db = quote_ident(database),
            id = quote_ident(principal_name(principal))
        ),
        // Running it twice only overwrites the same file (INIT).
        SqlOp::BackupDatabase { database, file } => format!(
            "BACKUP DATABASE {id} TO DISK = {file} WITH COPY_ONLY, INIT, CHECKSUM;\nGO\n",
            id = quote_ident(database),
            file = quote_literal(file)
        ),
    }
}

/// The script that reverses one op (for the DBA, after a rollback in script mode).
pub fn undo_script_for(op: &SqlOp) -> String {
    match op {
        SqlOp::CreateDatabase { database } => format!(
            "IF DB_ID({lit}) IS NOT NULL\nBEGIN\n    ALTER DATABASE {id} SET SINGLE_USER WITH ROLLBACK IMMEDIATE;\n    DROP DATABASE {id};\nEND\nGO\n",
            lit = quote_literal(database),
            id = quote_ident(database)
        ),
        SqlOp::ApplyMigration { database, id, .. } => format!(
            "-- Migration {id} of {db} is undone by dropping the database it was applied to.\n",
            db = quote_ident(database)
        ),
        SqlOp::CreateUser {
            database,
            principal,
        } => format!(
            "USE {db};\nGO\nIF DATABASE_PRINCIPAL_ID({lit}) IS NOT NULL\n    DROP USER {id};\nGO\n",
            db = quote_ident(database),
            lit = quote_literal(principal_name(principal)),
            id = quote_ident(principal_name(principal))
        ),
        SqlOp::CreateLogin { login } => format!(
            "IF SUSER_ID({lit}) IS NOT NULL\n    DROP LOGIN {id};\nGO\n",
            lit = quote_literal(login),
            id = quote_ident(login)
        ),
        SqlOp::AddRoleMember {
            database,
            role,
            principal,
        } => format!(
            "USE {db};\nGO\nALTER ROLE {role} DROP MEMBER {id};\nGO\n",
            db = quote_ident(database),
            role = quote_ident(role),
            id = quote_ident(principal_name(principal))
        ),
        SqlOp::GrantExecute {
            database,
            principal,
        } => format!(
            "USE {db};\nGO\nREVOKE EXECUTE TO {id};\nGO\n",
            db = quote_ident(database),
            id = quote_ident(principal_name(principal))
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
    use crate::digest::Digest;

    #[test]
    fn hostile_names_stay_names() {
        let op = SqlOp::CreateDatabase {
            database: "x]; DROP DATABASE master; --'".into(),
        };
        let script = script_for(&op);
        assert_eq!(
            script,
            "IF DB_ID(N'x]; DROP DATABASE master; --''') IS NULL\n    CREATE DATABASE [x]]; DROP DATABASE master; --'];\nGO\n"
        );
    }

    #[test]
    fn migration_script_is_guarded_and_recorded() {
        let m = migrations::find("4.2/NotificationCenterDB/001_notifications.sql").unwrap();
        let script = script_for(&SqlOp::ApplyMigration {
            database: "NotificationCenterDB".into(),
            id: m.id.into(),
            checksum: m.checksum(),
        });
        assert!(script.starts_with("USE [NotificationCenterDB];\nGO\n"));
        assert!(script.contains("SET NOEXEC ON"));
        assert!(script.contains("CREATE TABLE [dbo].[NotificationRecipient]"));
        assert!(script.contains(&m.checksum().to_hex()));
        assert!(script.ends_with("SET NOEXEC OFF;\nGO\n"));
        let _ = Digest::ZERO;
    }

    #[test]
    fn a_backup_file_is_a_literal_not_text() {
        let script = script_for(&SqlOp::BackupDatabase {
            database: "a]b".into(),
            file: r"D:\it's\a]b_4.0_20261129T192504Z.bak".into(),
        });
        assert_eq!(
            script,
            "BACKUP DATABASE [a]]b] TO DISK = N'D:\\it''s\\a]b_4.0_20261129T192504Z.bak' WITH COPY_ONLY, INIT, CHECKSUM;\nGO\n"
        );
    }

    #[test]
    fn windows_logins_are_created_from_windows() {
        let script = script_for(&SqlOp::CreateLogin {
            login: r"IIS APPPOOL\Blue Prism - License Manager".into(),
        });
        assert!(script.starts_with(
            "IF SUSER_ID(N'IIS APPPOOL\\Blue Prism - License Manager') IS NULL\n    CREATE LOGIN [IIS APPPOOL\\Blue Prism - License Manager] FROM WINDOWS;"
        ));
    }
}
