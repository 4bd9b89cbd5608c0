//! The batches of hubup's DBA scripts (`src/sql/tsql.rs`), as a DBA's sqlcmd sends them one by
//! one (full-line comments dropped, `$(var)` replaced): recognised by template, with their
//! bracket-quoted names and `N'...'` literals, only when a test asked for it
//! ([`super::StandIn::accept_scripts`]), so execution mode's contract stays exact. Their
//! effects go through the same state functions as execution mode's statements; `SET NOEXEC`
//! and `SET XACT_ABORT` are the connection's (`session.rs`).

use super::sql::{CREATE_HISTORY_SCRIPT, parse_ident};

/// A recognised script batch; names unquoted, literals unescaped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScriptBatch {
    /// The header's check of sqlcmd mode: `value` is what `$(HubupNoexec)` became.
    SqlcmdGuard {
        value: String,
    },
    Use(String),
    HistoryCreate,
    /// `IF EXISTS (... [state] = N'applied') SET NOEXEC ON;`
    SkipIfApplied(String),
    /// `SET XACT_ABORT ON; BEGIN TRANSACTION;`
    BeginMigration,
    /// `INSERT ... N'applied'); COMMIT TRANSACTION;`
    RecordApplied {
        id: String,
        checksum: String,
    },
    NoexecOff,
    CreateDatabase {
        name: String,
        mark: String,
    },
    CreateLogin(String),
    CreateUser(String),
    AddRoleMember {
        role: String,
        login: String,
    },
    GrantExecute(String),
    Backup {
        name: String,
        file: String,
    },
    /// The rollback script's drop, guarded by the creator mark (`machine=<id>;%`).
    DropIfMarked {
        name: String,
        pattern: String,
    },
}

type Build = fn(Vec<String>) -> Option<ScriptBatch>;

/// Templates: `{id}` a bracket-quoted name, `{lit}` an `N'...'` literal, `{str}` a `'...'`
/// literal. A name repeated in one template must be the same each time.
const TEMPLATES: &[(&str, Build)] = &[
    (
        "IF N'{raw}' <> N'OFF'\nBEGIN\n    RAISERROR(N'hubup: run this script with sqlcmd -b -i, or in SSMS in SQLCMD mode; nothing was done', 16, 1);\n    SET NOEXEC ON;\nEND",
        |p| Some(ScriptBatch::SqlcmdGuard { value: first(p) }),
    ),
    ("USE {id};", |p| Some(ScriptBatch::Use(first(p)))),
    (
        "IF EXISTS (SELECT 1 FROM [dbo].[__hubup_migrations] WHERE [id] = {lit} AND [state] = N'applied') SET NOEXEC ON;",
        |p| Some(ScriptBatch::SkipIfApplied(first(p))),
    ),
    ("SET XACT_ABORT ON;\nBEGIN TRANSACTION;", |_| {
        Some(ScriptBatch::BeginMigration)
    }),
    (
        "INSERT INTO [dbo].[__hubup_migrations] ([id], [checksum], [state]) VALUES ({lit}, {str}, N'applied');\nCOMMIT TRANSACTION;",
        |p| {
            let [id, checksum] = two(p);
            Some(ScriptBatch::RecordApplied { id, checksum })
        },
    ),
    ("SET NOEXEC OFF;", |_| Some(ScriptBatch::NoexecOff)),
    (
        "IF DB_ID({lit}) IS NULL\nBEGIN\n    CREATE DATABASE {id};\n    EXEC {id}.sys.sp_addextendedproperty @name = N'hubup_created_by', @value = {lit};\nEND",
        |p| {
            let [a, b, c, mark] = four(p);
            same([&a, &b, &c]).then_some(ScriptBatch::CreateDatabase { name: a, mark })
        },
    ),
    (
        "IF SUSER_ID({lit}) IS NULL\n    CREATE LOGIN {id} FROM WINDOWS;",
        |p| {
            let [a, b] = two(p);
            same([&a, &b]).then_some(ScriptBatch::CreateLogin(a))
        },
    ),
    (
        "IF NOT EXISTS (SELECT 1 FROM sys.database_principals WHERE [sid] = SUSER_SID({lit}))\n    CREATE USER {id} FOR LOGIN {id};",
        |p| {
            let [a, b, c] = three(p);
            same([&a, &b, &c]).then_some(ScriptBatch::CreateUser(a))
        },
    ),
    (
        "IF ISNULL(IS_ROLEMEMBER({lit}, {lit}), 0) = 0 AND NOT EXISTS (SELECT 1 FROM sys.database_principals WHERE [sid] = SUSER_SID({lit}) AND [name] = N'dbo')\n    ALTER ROLE {id} ADD MEMBER {id};",
        |p| {
            let [role, login, l2, role2, l3] = five(p);
            (same([&login, &l2, &l3]) && role == role2)
                .then_some(ScriptBatch::AddRoleMember { role, login })
        },
    ),
    (
        "IF NOT EXISTS (SELECT 1 FROM sys.database_principals WHERE [sid] = SUSER_SID({lit}) AND [name] = N'dbo')\n    GRANT EXECUTE TO {id};",
        |p| {
            let [a, b] = two(p);
            same([&a, &b]).then_some(ScriptBatch::GrantExecute(a))
        },
    ),
    (
        "BACKUP DATABASE {id} TO DISK = {lit} WITH COPY_ONLY, INIT, CHECKSUM;",
        |p| {
            let [name, file] = two(p);
            Some(ScriptBatch::Backup { name, file })
        },
    ),
    (
        "IF DB_ID({lit}) IS NOT NULL\nBEGIN\n    DECLARE @mark NVARCHAR(200) = NULL;\n    EXEC {id}.sys.sp_executesql N'SELECT @mark = CAST([value] AS NVARCHAR(200)) FROM sys.extended_properties WHERE [class] = 0 AND [name] = N''hubup_created_by''', N'@mark NVARCHAR(200) OUTPUT', @mark = @mark OUTPUT;\n    IF @mark LIKE {lit}\n    BEGIN\n        ALTER DATABASE {id} SET SINGLE_USER WITH ROLLBACK IMMEDIATE;\n        DROP DATABASE {id};\n    END\n    ELSE\n        PRINT {lit};\nEND",
        |p| {
            let mut p = p.into_iter();
            let name = p.next()?;
            let exec = p.next()?;
            let pattern = p.next()?;
            let (alter, drop) = (p.next()?, p.next()?);
            same([&name, &exec, &alter, &drop])
                .then_some(ScriptBatch::DropIfMarked { name, pattern })
        },
    ),
];

fn first(parts: Vec<String>) -> String {
    parts.into_iter().next().unwrap_or_default()
}

fn take<const N: usize>(parts: Vec<String>) -> [String; N] {
    let mut parts = parts.into_iter();
    std::array::from_fn(|_| parts.next().unwrap_or_default())
}

fn two(p: Vec<String>) -> [String; 2] {
    take(p)
}

fn three(p: Vec<String>) -> [String; 3] {
    take(p)
}

fn four(p: Vec<String>) -> [String; 4] {
    take(p)
}

fn five(p: Vec<String>) -> [String; 5] {
    take(p)
}

/// SQL Server compares names case-insensitively.
fn same<const N: usize>(names: [&String; N]) -> bool {
    names.iter().all(|n| n.eq_ignore_ascii_case(names[0]))
}

/// `text` without the comment and blank lines it starts with (the op markers of a script).
pub fn without_leading_comments(text: &str) -> &str {
    let mut rest = text.trim_start();
    while rest.starts_with("--") {
        rest = rest
            .split_once('\n')
            .map_or("", |(_, after)| after)
            .trim_start();
    }
    rest.trim_end()
}

/// The script batch `text` is, if it is one hubup writes.
pub fn recognize(text: &str) -> Option<ScriptBatch> {
    if text == CREATE_HISTORY_SCRIPT {
        return Some(ScriptBatch::HistoryCreate);
    }
    TEMPLATES
        .iter()
        .find_map(|(pattern, build)| match_parts(text, pattern).and_then(build))
}

/// Matches `text` against `pattern`; the values standing for its placeholders.
fn match_parts(text: &str, pattern: &str) -> Option<Vec<String>> {
    let mut values = Vec::new();
    let mut rest_text = text;
    let mut rest_pattern = pattern;
    loop {
        let Some(at) = rest_pattern.find('{') else {
            return (rest_text == rest_pattern).then_some(values);
        };
        let (literal, after) = rest_pattern.split_at(at);
        rest_text = rest_text.strip_prefix(literal)?;
        let close = after.find('}')?;
        let (value, remaining) = match &after[1..close] {
            "id" => parse_ident(rest_text)?,
            "lit" => parse_literal(rest_text.strip_prefix('N')?)?,
            "str" => parse_literal(rest_text)?,
            // Everything up to the pattern's next quote (a replaced sqlcmd variable).
            "raw" => {
                let end = rest_text.find('\'')?;
                (rest_text[..end].to_string(), &rest_text[end..])
            }
            _ => return None,
        };
        values.push(value);
        rest_text = remaining;
        rest_pattern = &after[close + 1..];
    }
}

/// `'text'` at the start of `text`, with `''` standing for `'`; the text and what follows.
fn parse_literal(text: &str) -> Option<(String, &str)> {
    let body = text.strip_prefix('\'')?;
    let mut value = String::new();
    let mut chars = body.char_indices();
    while let Some((at, c)) = chars.next() {
        if c != '\'' {
            value.push(c);
        } else if body[at + 1..].starts_with('\'') {
            value.push('\'');
            chars.next();
        } else {
            return Some((value, &body[at + 1..]));
        }
    }
    None
}

/// T-SQL `LIKE` for the patterns the scripts use: literal text ending in `%`.
pub fn like(value: &str, pattern: &str) -> bool {
    match pattern.strip_suffix('%') {
        Some(prefix) => value.to_lowercase().starts_with(&prefix.to_lowercase()),
        None => value.eq_ignore_ascii_case(pattern),
    }
}
