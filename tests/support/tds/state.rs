//! The server's state (databases, logins, what was received) and the effect of each
//! recognised statement on it, including the errors SQL Server would give. Also the undo
//! record a transaction keeps so a rollback or a lost connection can restore what it changed.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::reply::{self, Reply, SqlError, Value, int_col, known, not_found, text_col};
use super::sql::{self, Statement};

#[derive(Clone, Debug, Default)]
pub struct ServerState {
    /// User databases; key: name as created. The system databases are not listed.
    pub databases: BTreeMap<String, Database>,
    /// SQL logins given at start + Windows logins created.
    pub logins: BTreeMap<String, Login>,
    /// Statements not understood.
    pub rejected: Vec<String>,
    /// Every statement text received, in order (params not included).
    pub statements: Vec<String>,
    /// Every `@Pn` string parameter value received.
    pub params_seen: Vec<String>,
    /// Completed database backups, oldest first: what `msdb`'s backup history holds.
    pub backups: Vec<Backup>,
    /// Folders that exist on the server's disk; a backup anywhere else fails with 3201.
    pub backup_folders: BTreeSet<String>,
    /// The server's clock: milliseconds since midnight of [`CLOCK_DATE`], 10 ms further with
    /// every statement received (so each statement has its own time).
    pub clock_ms: u64,
}

/// The date the stand-in's clock shows (its time of day comes from `clock_ms`).
pub const CLOCK_DATE: &str = "2026-12-01";

/// `clock_ms` as `CONVERT(NVARCHAR(23), GETDATE(), 121)` writes a time.
pub fn clock_text(ms: u64) -> String {
    let ms = ms % 86_400_000;
    format!(
        "{CLOCK_DATE} {:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// The inverse of [`clock_text`]; `None` for a time in another form.
fn parse_clock(text: &str) -> Option<u64> {
    let time = text.strip_prefix(CLOCK_DATE)?.strip_prefix(' ')?;
    let (hms, millis) = time.split_once('.')?;
    let mut parts = hms.split(':').map(|p| p.parse::<u64>().ok());
    let (h, m, s) = (parts.next()??, parts.next()??, parts.next()??);
    Some(((h * 60 + m) * 60 + s) * 1000 + millis.parse::<u64>().ok()?)
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backup {
    /// The database's name as stored.
    pub database: String,
    pub file: String,
    pub copy_only: bool,
}

#[derive(Clone, Debug, Default)]
pub struct Database {
    pub id: i32,
    /// The login that created it (its `dbo`); empty for databases set up by a test.
    pub owner: String,
    /// `create_date`, on the server's clock (`ServerState::clock_ms`).
    pub created_ms: u64,
    /// user -> login
    pub users: BTreeMap<String, String>,
    /// (role, user)
    pub role_members: BTreeSet<(String, String)>,
    /// Users with GRANT EXECUTE.
    pub execute_grants: BTreeSet<String>,
    /// migration id -> (checksum, state); meaningful when `has_history_table`.
    pub history: BTreeMap<String, (String, String)>,
    pub has_history_table: bool,
    /// Tables/procedures created by migration batches (the `X` of `[dbo].[X]`).
    pub objects: BTreeSet<String>,
    /// Migration batch texts applied, in order.
    pub migration_batches: Vec<String>,
    /// Extended properties.
    pub properties: BTreeMap<String, String>,
    /// Statements run with this as current database (kept by rollbacks: it is a log).
    pub statements: Vec<String>,
}

#[derive(Clone, Debug, Default)]
pub struct Login {
    pub password: Option<String>,
    pub server_roles: BTreeSet<String>,
    pub windows: bool,
}

#[derive(Clone, Debug, Default)]
pub struct Faults {
    pub refuse_logins: bool,
    /// Close the connection, without replying, when the Nth statement (counted from 1 over all
    /// connections, from the moment the faults are set) arrives. It is still recorded in
    /// `statements`; the connection's open transaction is undone before the socket closes.
    pub drop_at_statement: Option<u64>,
    /// Answer the Nth statement with this error number (use the real message for known numbers,
    /// else a generic one) instead of running it.
    pub fail_at_statement: Option<(u64, u32)>,
    /// Answer every statement whose text starts with this with that error number.
    pub fail_matching: Option<(String, u32)>,
    /// Close the connection, without replying, at the first statement whose text starts with
    /// this (then the fault is spent).
    pub drop_matching: Option<String>,
    /// After `drop_matching` dropped a connection, refuse every login (a server gone away).
    pub refuse_logins_after_drop: bool,
    /// Wait this long before answering every statement.
    pub delay: Option<Duration>,
}

/// The system databases and their ids; they always exist and are never in `databases`.
pub const SYSTEM_DATABASES: [(&str, i32); 4] =
    [("master", 1), ("tempdb", 2), ("model", 3), ("msdb", 4)];

/// Database roles that always exist, with their principal ids.
const FIXED_ROLES: [(&str, i32); 5] = [
    ("db_owner", 16384),
    ("db_accessadmin", 16385),
    ("db_backupoperator", 16389),
    ("db_datareader", 16390),
    ("db_datawriter", 16391),
];

const HISTORY: &str = "dbo.__hubup_migrations";
const PROPERTY: &str = "hubup_created_by";

/// SQL Server's default collation compares names case-insensitively.
pub fn same_name(a: &str, b: &str) -> bool {
    a == b || a.to_lowercase() == b.to_lowercase()
}

/// The key of `map` that names `name`, ignoring case.
pub fn find_key<'m, V>(map: &'m BTreeMap<String, V>, name: &str) -> Option<&'m String> {
    map.keys().find(|k| same_name(k, name))
}

pub fn system_database(name: &str) -> Option<(&'static str, i32)> {
    SYSTEM_DATABASES
        .iter()
        .copied()
        .find(|(n, _)| same_name(n, name))
}

fn fixed_role(name: &str) -> Option<(&'static str, i32)> {
    FIXED_ROLES
        .iter()
        .copied()
        .find(|(n, _)| same_name(n, name))
}

/// A stable principal id from a name (the state has no id fields for logins and users).
fn stable_id(name: &str) -> i32 {
    let hash = name.to_lowercase().bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    256 + (hash % 1_000_000) as i32
}

impl ServerState {
    /// The id of a database, system or user.
    pub fn db_id(&self, name: &str) -> Option<i32> {
        system_database(name)
            .map(|(_, id)| id)
            .or_else(|| find_key(&self.databases, name).map(|k| self.databases[k].id))
    }

    /// Gives every database without a proper id (<= 4, e.g. set up by hand) a fresh one.
    pub fn assign_ids(&mut self) {
        let first = self
            .databases
            .values()
            .map(|d| d.id)
            .max()
            .unwrap_or(0)
            .max(4)
            + 1;
        let unassigned = self.databases.values_mut().filter(|d| d.id <= 4);
        for (id, database) in (first..).zip(unassigned) {
            database.id = id;
        }
    }
}

/// What a transaction changed, to put back: entries as they were before their first change
/// (`None`: did not exist).
#[derive(Debug, Default)]
pub struct Undo {
    databases: BTreeMap<String, Option<Database>>,
    logins: BTreeMap<String, Option<Login>>,
}

impl Undo {
    fn save_database(&mut self, state: &ServerState, key: &str) {
        self.databases
            .entry(key.to_string())
            .or_insert_with(|| state.databases.get(key).cloned());
    }

    fn save_login(&mut self, state: &ServerState, key: &str) {
        self.logins
            .entry(key.to_string())
            .or_insert_with(|| state.logins.get(key).cloned());
    }

    /// Puts back what the transaction changed; statement logs keep what was received.
    pub fn restore(self, state: &mut ServerState) {
        for (key, before) in self.databases {
            let log = state.databases.remove(&key).map(|d| d.statements);
            if let Some(mut database) = before {
                database.statements = log.unwrap_or_default();
                state.databases.insert(key, database);
            }
        }
        for (key, before) in self.logins {
            state.logins.remove(&key);
            if let Some(login) = before {
                state.logins.insert(key, login);
            }
        }
    }
}

/// The connection a statement runs for.
pub struct Ctx<'a> {
    /// The statement's text, for rejections.
    pub text: &'a str,
    /// The login's name as stored.
    pub login: &'a str,
    /// The current database's name as stored (or a system database).
    pub database: &'a str,
    /// Databases other connections (or this one) have as current database.
    pub in_use: &'a [String],
    /// Set inside a transaction.
    pub undo: Option<&'a mut Undo>,
}

/// Runs a statement that only touches the state (not USE, transactions or applocks).
pub fn run(state: &mut ServerState, ctx: &mut Ctx, statement: &Statement, args: &[Value]) -> Reply {
    query(state, ctx, statement, args)
        .unwrap_or_else(|| change(state, ctx, statement, args))
        .unwrap_or_else(Reply::Error)
}

/// A statement that only reads; `None` for one that changes something.
fn query(
    state: &ServerState,
    ctx: &Ctx,
    statement: &Statement,
    args: &[Value],
) -> Option<Result<Reply, SqlError>> {
    let name = str_arg(args, 0);
    let reply = match statement {
        Statement::SrvRoles => server_roles(state, ctx),
        Statement::DbId => {
            Reply::scalar(int_col(""), Value::int(name.and_then(|n| state.db_id(n))))
        }
        Statement::SuserId => suser_id(state, name),
        Statement::PrincipalId => principal_id(state, ctx, name),
        Statement::IsRoleMember => is_role_member(state, ctx, args),
        Statement::ExecuteGranted => execute_granted(state, ctx, name),
        Statement::HistorySelect => return Some(history_select(state, ctx, name)),
        Statement::PropertySelect => property_select(state, ctx),
        Statement::ServerTime => {
            Reply::scalar(text_col(""), Value::Str(clock_text(state.clock_ms)))
        }
        Statement::CreatedSince => created_since(state, ctx, args),
        Statement::UserForLogin => Reply::Rows {
            columns: vec![text_col("name")],
            rows: name
                .and_then(|login| user_for_login(state, ctx, login))
                .map(|user| vec![Value::Str(user)])
                .into_iter()
                .collect(),
        },
        Statement::UserPermission => {
            let allowed = name.and_then(|db| may_alter_users(state, ctx, db));
            Reply::scalar(int_col(""), Value::int(allowed.map(i32::from)))
        }
        Statement::LoginPermission => {
            let allowed = has_server_role(state, ctx, "sysadmin")
                || has_server_role(state, ctx, "securityadmin");
            Reply::scalar(int_col(""), Value::Int(i64::from(allowed)))
        }
        Statement::BackupPermission => {
            let allowed = name.and_then(|n| may_back_up(state, ctx, n));
            Reply::scalar(int_col(""), Value::int(allowed.map(i32::from)))
        }
        Statement::BackupRecorded => {
            let file = str_arg(args, 1).unwrap_or_default();
            let count = state
                .backups
                .iter()
                .filter(|b| name.is_some_and(|n| same_name(&b.database, n)))
                .filter(|b| b.file == file && b.copy_only)
                .count();
            Reply::scalar(int_col(""), Value::Int(count as i64))
        }
        _ => return None,
    };
    Some(Ok(reply))
}

fn change(
    state: &mut ServerState,
    ctx: &mut Ctx,
    statement: &Statement,
    args: &[Value],
) -> Result<Reply, SqlError> {
    match statement {
        Statement::CreateDatabase(name) => create_database(state, ctx, name),
        Statement::MarkDatabase(name) => mark_database(state, name, args),
        Statement::DropDatabase(name) | Statement::DropDatabaseSingleUser(name) => {
            drop_database(state, ctx, name)
        }
        Statement::BackupDatabase(name) => backup_database(state, ctx, name, str_arg(args, 0)),
        Statement::CreateWindowsLogin(name) => create_login(state, ctx, name),
        Statement::DropLogin(name) => drop_login(state, ctx, name),
        Statement::MigrationBatch(text) => migration_batch(state, ctx, text),
        Statement::CreateUser { user, login } => create_user(state, ctx, user, login),
        Statement::DropUser(user) => drop_user(state, ctx, user),
        Statement::AlterRole { role, user, add } => alter_role(state, ctx, role, user, *add),
        Statement::Execute { user, grant } => execute_permission(state, ctx, user, *grant),
        Statement::HistoryCreate => current_mut(state, ctx).map(|d| {
            d.has_history_table = true;
            Reply::Done(0)
        }),
        Statement::HistoryInsert => history_insert(state, ctx, args),
        Statement::HistoryUpdate => history_update(state, ctx, str_arg(args, 0)),
        Statement::HistoryDelete => history_delete(state, ctx, str_arg(args, 0)),
        Statement::AddProperty => add_property(state, ctx, args),
        _ => Err(outside_contract(
            state,
            ctx,
            "handled by the connection, not the state",
        )),
    }
}

/// Rejects the statement loudly, like one not understood (`rejected`, stderr, error 50000).
fn outside_contract(state: &mut ServerState, ctx: &Ctx, why: &str) -> SqlError {
    eprintln!("TDS stand-in: rejected ({why}): {}", ctx.text);
    state.rejected.push(ctx.text.to_string());
    reply::not_understood(ctx.text)
}

fn str_arg(args: &[Value], index: usize) -> Option<&str> {
    match args.get(index) {
        Some(Value::Str(s)) => Some(s),
        _ => None,
    }
}

/// The current database for reading; a system database reads as empty.
fn current<'s>(state: &'s ServerState, ctx: &Ctx) -> Option<&'s Database> {
    state.databases.get(ctx.database)
}

/// The current database for a change, saved first inside a transaction. The system databases
/// hold nothing hubup creates, so changing them is outside the contract.
fn current_mut<'s>(
    state: &'s mut ServerState,
    ctx: &mut Ctx,
) -> Result<&'s mut Database, SqlError> {
    if !state.databases.contains_key(ctx.database) {
        let why = format!(
            "changes database '{}' (a system database or gone)",
            ctx.database
        );
        return Err(outside_contract(state, ctx, &why));
    }
    if let Some(undo) = ctx.undo.as_deref_mut() {
        undo.save_database(state, ctx.database);
    }
    Ok(state
        .databases
        .get_mut(ctx.database)
        .expect("checked above"))
}

fn server_roles(state: &ServerState, ctx: &Ctx) -> Reply {
    let roles = state.logins.get(ctx.login).map(|l| &l.server_roles);
    let has = |role: &str| {
        Value::Int(i64::from(
            roles.is_some_and(|r| r.iter().any(|x| same_name(x, role))),
        ))
    };
    Reply::Rows {
        columns: vec![int_col(""), int_col("")],
        rows: vec![vec![has("sysadmin"), has("dbcreator")]],
    }
}

fn suser_id(state: &ServerState, name: Option<&str>) -> Reply {
    let id = name
        .and_then(|n| find_key(&state.logins, n))
        .map(|k| stable_id(k));
    Reply::scalar(int_col(""), Value::int(id))
}

/// A database principal's id: user `dbo`, the fixed roles, or a user of the current database.
fn principal(state: &ServerState, ctx: &Ctx, name: &str) -> Option<i32> {
    if same_name(name, "dbo") {
        return Some(1);
    }
    if let Some((_, id)) = fixed_role(name) {
        return Some(id);
    }
    let users = &current(state, ctx)?.users;
    find_key(users, name).map(|k| stable_id(k))
}

fn principal_id(state: &ServerState, ctx: &Ctx, name: Option<&str>) -> Reply {
    let id = name.and_then(|n| principal(state, ctx, n));
    Reply::scalar(int_col(""), Value::int(id))
}

/// The user `login` maps to in the current database (by its SID: `dbo` for the owner).
fn user_for_login(state: &ServerState, ctx: &Ctx, login: &str) -> Option<String> {
    let database = current(state, ctx)?;
    if same_name(&database.owner, login) {
        return Some("dbo".to_string());
    }
    database
        .users
        .iter()
        .find(|(_, mapped)| same_name(mapped, login))
        .map(|(user, _)| user.clone())
}

/// HAS_PERMS_BY_NAME(db, 'DATABASE', 'ALTER ANY USER'): sysadmin, the owner, or a user in
/// db_owner or db_accessadmin; `None` if there is no such database.
fn may_alter_users(state: &ServerState, ctx: &Ctx, name: &str) -> Option<bool> {
    let database = &state.databases[find_key(&state.databases, name)?];
    let as_user = database
        .users
        .iter()
        .filter(|(_, login)| same_name(login, ctx.login))
        .any(|(user, _)| {
            database.role_members.iter().any(|(role, member)| {
                member == user && (role == "db_owner" || role == "db_accessadmin")
            })
        });
    Some(
        has_server_role(state, ctx, "sysadmin") || same_name(&database.owner, ctx.login) || as_user,
    )
}

/// The stored name of a user of the current database (`dbo` included).
fn user_key(state: &ServerState, ctx: &Ctx, name: &str) -> Option<String> {
    if same_name(name, "dbo") {
        return Some("dbo".to_string());
    }
    find_key(&current(state, ctx)?.users, name).cloned()
}

fn is_role_member(state: &ServerState, ctx: &Ctx, args: &[Value]) -> Reply {
    let role = str_arg(args, 0).and_then(fixed_role);
    let user = str_arg(args, 1).and_then(|u| user_key(state, ctx, u));
    let member = match (role, user) {
        (Some(("db_owner", _)), Some(user)) if user == "dbo" => Some(1),
        (Some((role, _)), Some(user)) => {
            let members = current(state, ctx).map(|d| &d.role_members);
            Some(i32::from(
                members.is_some_and(|m| m.contains(&(role.to_string(), user))),
            ))
        }
        _ => None,
    };
    Reply::scalar(int_col(""), Value::int(member))
}

fn execute_granted(state: &ServerState, ctx: &Ctx, user: Option<&str>) -> Reply {
    let grants = current(state, ctx).map(|d| &d.execute_grants);
    let granted = user.is_some_and(|u| grants.is_some_and(|g| g.iter().any(|x| same_name(x, u))));
    Reply::scalar(int_col(""), Value::Int(i64::from(granted)))
}

/// The history table of the current database, or error 208.
fn history_table<'s>(
    state: &'s ServerState,
    ctx: &Ctx,
) -> Result<&'s BTreeMap<String, (String, String)>, SqlError> {
    match current(state, ctx) {
        Some(d) if d.has_history_table => Ok(&d.history),
        _ => Err(known(208, HISTORY)),
    }
}

fn history_select(state: &ServerState, ctx: &Ctx, id: Option<&str>) -> Result<Reply, SqlError> {
    let history = history_table(state, ctx)?;
    let row = id.and_then(|id| find_key(history, id)).map(|k| &history[k]);
    Ok(Reply::Rows {
        columns: vec![text_col("checksum"), text_col("state")],
        rows: row
            .map(|(checksum, state)| vec![Value::Str(checksum.clone()), Value::Str(state.clone())])
            .into_iter()
            .collect(),
    })
}

fn property_select(state: &ServerState, ctx: &Ctx) -> Reply {
    let value = current(state, ctx).and_then(|d| d.properties.get(PROPERTY));
    Reply::Rows {
        columns: vec![text_col("")],
        // CAST(... AS NVARCHAR(200)) truncates.
        rows: value
            .map(|v| vec![Value::Str(v.chars().take(200).collect())])
            .into_iter()
            .collect(),
    }
}

fn create_database(state: &mut ServerState, ctx: &Ctx, name: &str) -> Result<Reply, SqlError> {
    let roles = state.logins.get(ctx.login).map(|l| &l.server_roles);
    let allowed = roles.is_some_and(|r| {
        r.iter()
            .any(|x| same_name(x, "sysadmin") || same_name(x, "dbcreator"))
    });
    if !allowed {
        return Err(known(262, name));
    }
    if ctx.undo.is_some() {
        return Err(known(226, "CREATE DATABASE"));
    }
    if state.db_id(name).is_some() {
        return Err(known(1801, name));
    }
    let database = Database {
        owner: ctx.login.to_string(),
        created_ms: state.clock_ms,
        ..Database::default()
    };
    state.databases.insert(name.to_string(), database);
    state.assign_ids();
    Ok(Reply::Done(0))
}

/// HAS_PERMS_BY_NAME(db, 'DATABASE', 'BACKUP DATABASE'): `None` if there is no such
/// database; otherwise whether the login is sysadmin, the database's owner, or mapped to a
/// user there in db_owner or db_backupoperator.
fn may_back_up(state: &ServerState, ctx: &Ctx, name: &str) -> Option<bool> {
    let sysadmin = has_server_role(state, ctx, "sysadmin");
    if system_database(name).is_some() {
        return Some(sysadmin);
    }
    let database = &state.databases[find_key(&state.databases, name)?];
    let as_user = database
        .users
        .iter()
        .filter(|(_, login)| same_name(login, ctx.login))
        .any(|(user, _)| {
            database.role_members.iter().any(|(role, member)| {
                member == user && (role == "db_owner" || role == "db_backupoperator")
            })
        });
    Some(sysadmin || same_name(&database.owner, ctx.login) || as_user)
}

/// BACKUP DATABASE ... TO DISK = @P1 WITH COPY_ONLY: recorded in the backup history if the
/// database exists, the login may back it up and the file's folder exists.
fn backup_database(
    state: &mut ServerState,
    ctx: &Ctx,
    name: &str,
    file: Option<&str>,
) -> Result<Reply, SqlError> {
    if ctx.undo.is_some() {
        return Err(known(3021, ""));
    }
    let key = find_key(&state.databases, name)
        .cloned()
        .ok_or_else(|| known(911, name))?;
    if may_back_up(state, ctx, &key) != Some(true) {
        return Err(reply::permission_denied("BACKUP DATABASE", &key));
    }
    let file = file.unwrap_or_default();
    let folder = file.rfind(['\\', '/']).map(|at| &file[..at]).unwrap_or("");
    if !state.backup_folders.iter().any(|f| same_name(f, folder)) {
        return Err(known(3201, file));
    }
    state.backups.push(Backup {
        database: key,
        file: file.to_string(),
        copy_only: true,
    });
    Ok(Reply::Done(0))
}

fn drop_database(state: &mut ServerState, ctx: &Ctx, name: &str) -> Result<Reply, SqlError> {
    if let Some((system, _)) = system_database(name) {
        return Err(known(3708, system));
    }
    let key = find_key(&state.databases, name)
        .cloned()
        .ok_or_else(|| known(3701, name))?;
    if ctx.undo.is_some() {
        return Err(known(226, "DROP DATABASE"));
    }
    if ctx.in_use.iter().any(|d| same_name(d, &key)) {
        return Err(known(3702, &key));
    }
    state.databases.remove(&key);
    Ok(Reply::Done(0))
}

fn has_server_role(state: &ServerState, ctx: &Ctx, role: &str) -> bool {
    state
        .logins
        .get(ctx.login)
        .is_some_and(|l| l.server_roles.iter().any(|r| same_name(r, role)))
}

fn create_login(state: &mut ServerState, ctx: &mut Ctx, name: &str) -> Result<Reply, SqlError> {
    if !has_server_role(state, ctx, "sysadmin") && !has_server_role(state, ctx, "securityadmin") {
        return Err(known(15247, ""));
    }
    if find_key(&state.logins, name).is_some() {
        return Err(known(15025, name));
    }
    if let Some(undo) = ctx.undo.as_deref_mut() {
        undo.save_login(state, name);
    }
    let login = Login {
        windows: true,
        ..Login::default()
    };
    state.logins.insert(name.to_string(), login);
    Ok(Reply::Done(0))
}

fn drop_login(state: &mut ServerState, ctx: &mut Ctx, name: &str) -> Result<Reply, SqlError> {
    let key = find_key(&state.logins, name)
        .cloned()
        .ok_or_else(|| not_found("drop the login", name))?;
    if let Some(undo) = ctx.undo.as_deref_mut() {
        undo.save_login(state, &key);
    }
    state.logins.remove(&key);
    Ok(Reply::Done(0))
}

fn create_user(
    state: &mut ServerState,
    ctx: &mut Ctx,
    user: &str,
    login: &str,
) -> Result<Reply, SqlError> {
    if principal(state, ctx, user).is_some() {
        return Err(known(15023, user));
    }
    let login = find_key(&state.logins, login)
        .cloned()
        .ok_or_else(|| known(15007, login))?;
    // A login maps to one user per database: the owner is `dbo` already.
    if user_for_login(state, ctx, &login).is_some() {
        return Err(known(15063, ""));
    }
    current_mut(state, ctx)?
        .users
        .insert(user.to_string(), login);
    Ok(Reply::Done(0))
}

fn drop_user(state: &mut ServerState, ctx: &mut Ctx, user: &str) -> Result<Reply, SqlError> {
    let key = current(state, ctx)
        .and_then(|d| find_key(&d.users, user).cloned())
        .ok_or_else(|| not_found("drop the user", user))?;
    let database = current_mut(state, ctx)?;
    database.users.remove(&key);
    database.role_members.retain(|(_, member)| *member != key);
    database.execute_grants.remove(&key);
    Ok(Reply::Done(0))
}

fn alter_role(
    state: &mut ServerState,
    ctx: &mut Ctx,
    role: &str,
    user: &str,
    add: bool,
) -> Result<Reply, SqlError> {
    let role_key = fixed_role(role).map(|(r, _)| r);
    let user_key = current(state, ctx).and_then(|d| find_key(&d.users, user).cloned());
    let (Some(role_key), Some(user_key)) = (role_key, user_key) else {
        return Err(not_found("alter the role", role));
    };
    let members = &mut current_mut(state, ctx)?.role_members;
    let entry = (role_key.to_string(), user_key);
    if add {
        members.insert(entry);
    } else {
        members.remove(&entry);
    }
    Ok(Reply::Done(0))
}

fn execute_permission(
    state: &mut ServerState,
    ctx: &mut Ctx,
    user: &str,
    grant: bool,
) -> Result<Reply, SqlError> {
    let key = current(state, ctx)
        .and_then(|d| find_key(&d.users, user).cloned())
        .ok_or_else(|| not_found("find the user", user))?;
    let grants = &mut current_mut(state, ctx)?.execute_grants;
    if grant {
        grants.insert(key);
    } else {
        grants.remove(&key);
    }
    Ok(Reply::Done(0))
}

fn history_insert(
    state: &mut ServerState,
    ctx: &mut Ctx,
    args: &[Value],
) -> Result<Reply, SqlError> {
    let history = history_table(state, ctx)?;
    let (Some(id), Some(checksum)) = (str_arg(args, 0), str_arg(args, 1)) else {
        let column = if str_arg(args, 0).is_none() {
            "id"
        } else {
            "checksum"
        };
        return Err(known(515, column));
    };
    if find_key(history, id).is_some() {
        return Err(known(2627, id));
    }
    // CHAR(64) pads with spaces.
    let checksum = format!("{checksum:<64}");
    let row = (checksum, "applying".to_string());
    current_mut(state, ctx)?.history.insert(id.to_string(), row);
    Ok(Reply::Done(1))
}

fn history_update(
    state: &mut ServerState,
    ctx: &mut Ctx,
    id: Option<&str>,
) -> Result<Reply, SqlError> {
    let history = history_table(state, ctx)?;
    let Some(key) = id.and_then(|id| find_key(history, id)).cloned() else {
        return Ok(Reply::Done(0));
    };
    let row = current_mut(state, ctx)?.history.get_mut(&key);
    if let Some(row) = row {
        row.1 = "applied".to_string();
    }
    Ok(Reply::Done(1))
}

/// Removes the migration's row only while it says `applying`.
fn history_delete(
    state: &mut ServerState,
    ctx: &mut Ctx,
    id: Option<&str>,
) -> Result<Reply, SqlError> {
    let history = history_table(state, ctx)?;
    let Some(key) = id.and_then(|id| find_key(history, id)).cloned() else {
        return Ok(Reply::Done(0));
    };
    if history[&key].1 != "applying" {
        return Ok(Reply::Done(0));
    }
    current_mut(state, ctx)?.history.remove(&key);
    Ok(Reply::Done(1))
}

/// `EXEC [x].sys.sp_addextendedproperty`: the mark on a named database, set once (15233).
/// Marks are not transactional here (hubup never marks inside a transaction).
fn mark_database(state: &mut ServerState, name: &str, args: &[Value]) -> Result<Reply, SqlError> {
    let key = find_key(&state.databases, name)
        .cloned()
        .ok_or_else(|| known(911, name))?;
    let database = state.databases.get_mut(&key).expect("found above");
    if database.properties.contains_key(PROPERTY) {
        return Err(known(15233, PROPERTY));
    }
    let value = str_arg(args, 0).unwrap_or_default().to_string();
    database.properties.insert(PROPERTY.to_string(), value);
    Ok(Reply::Done(0))
}

/// 1 if the database exists, the connected login owns it and it was created at or after the
/// given time, else 0. A time in another form than the clock's is an error (241).
fn created_since(state: &ServerState, ctx: &Ctx, args: &[Value]) -> Reply {
    let Some(since) = str_arg(args, 1).and_then(parse_clock) else {
        return Reply::Error(known(241, ""));
    };
    let found = str_arg(args, 0)
        .and_then(|name| find_key(&state.databases, name))
        .map(|key| &state.databases[key])
        .is_some_and(|d| same_name(&d.owner, ctx.login) && d.created_ms >= since);
    Reply::scalar(int_col(""), Value::Int(i64::from(found)))
}

fn add_property(state: &mut ServerState, ctx: &mut Ctx, args: &[Value]) -> Result<Reply, SqlError> {
    if current(state, ctx).is_some_and(|d| d.properties.contains_key(PROPERTY)) {
        return Err(known(15233, PROPERTY));
    }
    let value = str_arg(args, 0).unwrap_or_default().to_string();
    current_mut(state, ctx)?
        .properties
        .insert(PROPERTY.to_string(), value);
    Ok(Reply::Done(0))
}

/// A migration batch: recorded, and its tables and procedures created (2714 if one exists).
fn migration_batch(state: &mut ServerState, ctx: &mut Ctx, text: &str) -> Result<Reply, SqlError> {
    let created = sql::created_objects(text);
    let existing = current(state, ctx).map(|d| &d.objects);
    let exists = |name: &&String| existing.is_some_and(|o| o.iter().any(|x| same_name(x, name)));
    if let Some(name) = created.iter().find(exists) {
        return Err(known(2714, name));
    }
    let database = current_mut(state, ctx)?;
    database.objects.extend(created);
    database.migration_batches.push(text.to_string());
    Ok(Reply::Done(0))
}
