//! Execution mode: hubup does the database work itself over a [`Session`], the way the vendor
//! wizard does, and better: every op first looks at the server, so apply is idempotent and
//! says whether it changed something (`Applied`) or found it done (`AlreadyPresent`, for
//! example a database another machine of the installation created).
//!
//! Undo reverses only what this machine did: a database is dropped if the op's done record
//! says `Applied` or the database carries this machine's `hubup_created_by` mark (its journal's
//! machine id, set right after `CREATE DATABASE`, so a crash that lost the done record still
//! finds its owner). `CREATE DATABASE` commits on its own, so before it the op journals its
//! intent with the server's clock and a creation token ([`SqlBefore`]): a database found
//! without a mark, owned by hubup's login and created since that time, is the op's own, cut
//! off before its mark (resume marks it, undo drops it). A login is dropped if its op says
//! `Applied` or its journaled pre-state says it did not exist; users, role memberships and
//! grants only if their op says `Applied`.
//! Migrations are not undone one by one: they live in databases this machine created, which
//! rollback drops. Database backups (`--backup-databases`) are never undone: the file stays.
//!
//! Each migration runs in one transaction together with its `applied` mark in
//! `[dbo].[__hubup_migrations]`; an `applying` row left behind means a migration was cut off
//! (its transaction rolled back by the server). In a database this machine created, resume
//! runs it again; anywhere else hubup refuses to guess.

use std::time::Duration;

use crate::op::{OpOutcome, Principal, SqlBefore, SqlOp};
use crate::sql::config::SqlConfig;
use crate::sql::migrations;
use crate::sql::session::{Param, Session};
use crate::sql::statements as st;
use crate::sql::tsql::principal_name;
use crate::sql::{SqlError, SqlTarget};

/// SQL Server's error number for "Invalid object name" (a missing history table).
const INVALID_OBJECT_NAME: u32 = 208;
/// "Database already exists" (another machine created it between our check and create).
const DATABASE_EXISTS: u32 = 1801;
/// "The server principal already exists".
const LOGIN_EXISTS: u32 = 15025;

pub struct ExecuteTarget {
    session: Session,
    /// Who this machine is (its journal's machine id), as stored in the `hubup_created_by`
    /// mark on the databases it creates.
    identity: String,
    lock_wait: Duration,
}

/// What the server holds for one op.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    Done,
    Missing,
    /// Present but not as planned (an applied migration whose file changed); the text says
    /// what and what to do.
    Conflict(String),
    /// A migration's row says `applying`: a run was cut off inside it (SQL Server rolled its
    /// transaction back when the connection died). Re-run only in a database this machine
    /// created, under the installation lock; anywhere else, refused.
    Interrupted(String),
}

impl ExecuteTarget {
    pub fn new(sql: &SqlConfig, identity: &str) -> Result<ExecuteTarget, SqlError> {
        Ok(ExecuteTarget::with_session(
            Session::new(sql)?,
            identity,
            Duration::from_secs(sql.lock_timeout_secs),
        ))
    }

    /// A target over an existing session (tests against a real server build their own).
    pub fn with_session(session: Session, identity: &str, lock_wait: Duration) -> ExecuteTarget {
        ExecuteTarget {
            session,
            identity: identity.to_string(),
            lock_wait,
        }
    }

    /// The session, for statements outside hubup's own (test setup).
    pub fn session(&mut self) -> &mut Session {
        &mut self.session
    }

    fn database_exists(&mut self, database: &str) -> Result<bool, SqlError> {
        Ok(self
            .session
            .query_int(st::DATABASE_ID, &[Param::Text(database)])?
            .is_some())
    }

    /// Who created `database`, from its `hubup_created_by` property.
    fn creator_of(&mut self, database: &str) -> Result<Option<String>, SqlError> {
        self.session.use_database(database)?;
        let row = self.session.query_texts(st::CREATED_BY, &[])?;
        self.session.use_database("master")?;
        Ok(row.and_then(|r| r.into_iter().next().flatten()))
    }

    fn created_here(&mut self, database: &str) -> Result<bool, SqlError> {
        Ok(self
            .creator_of(database)?
            .is_some_and(|mark| mark_machine(&mark) == Some(self.identity.as_str())))
    }

    /// The mark this machine writes on a database it creates.
    fn mark_text(&self, token: &str) -> String {
        format!("machine={};creation={token}", self.identity)
    }

    /// True if `database` (which exists) has no mark but is the op's own creation, cut off
    /// before its mark: hubup's login owns it and it was created since the op's intent.
    fn created_unmarked_by(
        &mut self,
        database: &str,
        before: Option<&SqlBefore>,
    ) -> Result<bool, SqlError> {
        let Some(SqlBefore::DatabaseAbsent { server_time, .. }) = before else {
            return Ok(false);
        };
        if self.creator_of(database)?.is_some() {
            return Ok(false);
        }
        Ok(self
            .session
            .query_int(
                st::CREATED_SINCE,
                &[Param::Text(database), Param::Text(server_time)],
            )?
            .unwrap_or(0)
            > 0)
    }

    fn mark(&mut self, database: &str, before: Option<&SqlBefore>) -> Result<(), SqlError> {
        let token = match before {
            Some(SqlBefore::DatabaseAbsent { token, .. }) => token.clone(),
            _ => crate::journal::RunId::random().to_hex(),
        };
        let mark = self.mark_text(&token);
        self.session.use_database("master")?;
        self.session
            .execute(&st::mark_database(database), &[Param::Text(&mark)])?;
        Ok(())
    }

    /// Enters `database` if it exists; `false` if it does not.
    fn enter(&mut self, database: &str) -> Result<bool, SqlError> {
        self.session.use_database("master")?;
        if !self.database_exists(database)? {
            return Ok(false);
        }
        self.session.use_database(database)?;
        Ok(true)
    }

    /// What the server holds for `op` (no changes).
    pub fn find(&mut self, op: &SqlOp) -> Result<Found, SqlError> {
        self.find_with(op, None)
    }

    /// What the server holds for `op`, knowing what the op journaled before its change: a
    /// database the op created but did not mark yet is not done (resume marks it).
    fn find_with(&mut self, op: &SqlOp, before: Option<&SqlBefore>) -> Result<Found, SqlError> {
        let present = |yes: bool| if yes { Found::Done } else { Found::Missing };
        match op {
            SqlOp::CreateDatabase { database } => {
                self.session.use_database("master")?;
                Ok(present(
                    self.database_exists(database)?
                        && !self.created_unmarked_by(database, before)?,
                ))
            }
            SqlOp::CreateLogin { login } => Ok(present(self.login_exists(login)?)),
            SqlOp::ApplyMigration {
                database,
                id,
                checksum,
            } => {
                if !self.enter(database)? {
                    return Ok(Found::Missing);
                }
                self.migration_state(database, id, &checksum.to_hex())
            }
            SqlOp::CreateUser {
                database,
                principal,
            } => Ok(present(
                self.enter(database)? && self.user_of(principal_name(principal))?.is_some(),
            )),
            SqlOp::AddRoleMember {
                database,
                role,
                principal,
            } => Ok(present(
                self.enter(database)?
                    && match self.user_of(principal_name(principal))? {
                        Some(user) => is_owner(&user) || self.is_member(role, &user)?,
                        None => false,
                    },
            )),
            SqlOp::GrantExecute {
                database,
                principal,
            } => Ok(present(
                self.enter(database)?
                    && match self.user_of(principal_name(principal))? {
                        Some(user) => is_owner(&user) || self.has_execute(&user)?,
                        None => false,
                    },
            )),
            SqlOp::BackupDatabase { database, file } => {
                self.session.use_database("master")?;
                Ok(present(self.backup_recorded(database, file)?))
            }
        }
    }

    /// True if SQL Server's backup history records a completed copy-only backup of
    /// `database` in `file` (a backup cut off by a crash leaves no record).
    fn backup_recorded(&mut self, database: &str, file: &str) -> Result<bool, SqlError> {
        Ok(self
            .session
            .query_int(
                st::BACKUP_RECORDED,
                &[Param::Text(database), Param::Text(file)],
            )?
            .unwrap_or(0)
            > 0)
    }

    fn backup_database(&mut self, database: &str, file: &str) -> Result<OpOutcome, SqlError> {
        self.session.use_database("master")?;
        if self.backup_recorded(database, file)? {
            return Ok(OpOutcome::AlreadyPresent);
        }
        self.session
            .execute(&st::backup_database(database), &[Param::Text(file)])?;
        Ok(OpOutcome::Applied)
    }

    /// What stands in the way of the backups among `ops`: a database that does not exist
    /// (the config names it wrongly) or one the login may not back up.
    pub(super) fn backup_problems(&mut self, ops: &[SqlOp]) -> Result<Vec<String>, SqlError> {
        let mut problems = Vec::new();
        self.session.use_database("master")?;
        for op in ops {
            let SqlOp::BackupDatabase { database, .. } = op else {
                continue;
            };
            match self
                .session
                .query_int(st::BACKUP_PERMISSION, &[Param::Text(database)])?
            {
                Some(1) => {}
                None => problems.push(format!(
                    "database [{database}] (to back up before the upgrade) does not exist; if \
                     the installation named it differently, give its name under [sql.databases]"
                )),
                Some(_) => problems.push(format!(
                    "the login {} may not back up database [{database}] (it needs sysadmin, \
                     db_owner or db_backupoperator there)",
                    self.session.login_name()
                )),
            }
        }
        Ok(problems)
    }

    fn login_exists(&mut self, login: &str) -> Result<bool, SqlError> {
        Ok(self
            .session
            .query_int(st::LOGIN_ID, &[Param::Text(login)])?
            .is_some())
    }

    /// The user `login` maps to in the current database, found by the login's SID (so a
    /// user a DBA created under another name counts); `dbo` when the login owns the database
    /// (hubup's own login, in the databases it creates).
    fn user_of(&mut self, login: &str) -> Result<Option<String>, SqlError> {
        let row = self
            .session
            .query_texts(st::USER_FOR_LOGIN, &[Param::Text(login)])?;
        Ok(row.and_then(|r| r.into_iter().next().flatten()))
    }

    /// The user `login` maps to in the current database, or an error saying it has none.
    fn user_or_fail(&mut self, database: &str, login: &str) -> Result<String, SqlError> {
        self.user_of(login)?.ok_or_else(|| SqlError::Migration {
            problem: format!("the login [{login}] has no user in database [{database}]"),
        })
    }

    fn is_member(&mut self, role: &str, user: &str) -> Result<bool, SqlError> {
        Ok(self
            .session
            .query_int(st::IS_ROLE_MEMBER, &[Param::Text(role), Param::Text(user)])?
            == Some(1))
    }

    fn has_execute(&mut self, user: &str) -> Result<bool, SqlError> {
        Ok(self
            .session
            .query_int(st::HAS_EXECUTE_GRANT, &[Param::Text(user)])?
            .unwrap_or(0)
            > 0)
    }

    /// The migration's row in the current database's history.
    fn migration_state(
        &mut self,
        database: &str,
        id: &str,
        checksum: &str,
    ) -> Result<Found, SqlError> {
        let row = match self
            .session
            .query_texts(st::MIGRATION_STATE, &[Param::Text(id)])
        {
            Ok(row) => row,
            Err(SqlError::Server { number, .. }) if number == INVALID_OBJECT_NAME => {
                return Ok(Found::Missing);
            }
            Err(e) => return Err(e),
        };
        let Some(row) = row else {
            return Ok(Found::Missing);
        };
        let recorded = row.first().cloned().flatten().unwrap_or_default();
        let state = row.get(1).cloned().flatten().unwrap_or_default();
        if state.trim() != "applied" {
            return Ok(Found::Interrupted(format!(
                "migration {id} in database [{database}] was interrupted (its row in \
                 {history} says {state:?}); SQL Server rolled its transaction back, but hubup \
                 does not re-run it blindly: check the database, then delete that row from \
                 {history} or roll back",
                history = st::HISTORY_TABLE
            )));
        }
        if recorded.trim() != checksum {
            return Ok(Found::Conflict(format!(
                "migration {id} was applied to database [{database}] with checksum {} but \
                 hubup's copy of it has checksum {}: the file changed after it was applied; \
                 refusing to continue (restore the original migration or ask the vendor)",
                short(recorded.trim()),
                short(checksum)
            )));
        }
        Ok(Found::Done)
    }

    /// `CREATE DATABASE`, then its mark. A database already there is this machine's if it
    /// carries its mark or is the op's own creation cut off before the mark (marked now).
    fn create_database(
        &mut self,
        database: &str,
        before: Option<&SqlBefore>,
    ) -> Result<OpOutcome, SqlError> {
        self.session.use_database("master")?;
        if self.database_exists(database)? {
            if self.created_unmarked_by(database, before)? {
                self.mark(database, before)?;
                return Ok(OpOutcome::Applied);
            }
            return Ok(if self.created_here(database)? {
                OpOutcome::Applied
            } else {
                OpOutcome::AlreadyPresent
            });
        }
        match self.session.batch(&st::create_database(database)) {
            Ok(()) => {}
            Err(SqlError::Server { number, .. }) if number == DATABASE_EXISTS => {
                return Ok(OpOutcome::AlreadyPresent);
            }
            Err(e) => return Err(e),
        }
        self.mark(database, before)?;
        Ok(OpOutcome::Applied)
    }

    /// The server's clock now (its local time, as `sys.databases` records creation times).
    fn server_time(&mut self) -> Result<String, SqlError> {
        self.session.use_database("master")?;
        let row = self.session.query_texts(st::SERVER_TIME, &[])?;
        row.and_then(|r| r.into_iter().next().flatten())
            .ok_or_else(|| SqlError::Server {
                server: self.session.server().to_string(),
                statement: st::SERVER_TIME.to_string(),
                number: 0,
                message: "no time in the answer".to_string(),
            })
    }

    fn apply_migration(
        &mut self,
        database: &str,
        id: &str,
        checksum: &crate::digest::Digest,
    ) -> Result<OpOutcome, SqlError> {
        let migration = migrations::find(id).ok_or_else(|| SqlError::Migration {
            problem: format!("migration {id} is not part of this hubup"),
        })?;
        if migration.checksum() != *checksum {
            return Err(SqlError::Migration {
                problem: format!(
                    "migration {id}: the plan expects checksum {} but this hubup carries {}",
                    checksum.short(),
                    migration.checksum().short()
                ),
            });
        }
        if !self.enter(database)? {
            return Err(SqlError::Migration {
                problem: format!("database [{database}] does not exist for migration {id}"),
            });
        }
        self.session.batch(st::CREATE_HISTORY)?;
        let hex = checksum.to_hex();
        match self.migration_state(database, id, &hex)? {
            Found::Done => return Ok(OpOutcome::AlreadyPresent),
            Found::Conflict(problem) => return Err(SqlError::Migration { problem }),
            Found::Interrupted(problem) => {
                if !self.created_here(database)? {
                    return Err(SqlError::Migration { problem });
                }
                // This machine's own attempt, cut off: its transaction is gone, and the
                // installation lock keeps everyone else out. Clear the mark and run it again.
                self.session.use_database(database)?;
                self.session
                    .execute(st::MIGRATION_ABANDONED, &[Param::Text(id)])?;
            }
            Found::Missing => {}
        }
        self.session
            .execute(st::MIGRATION_STARTED, &[Param::Text(id), Param::Text(&hex)])?;
        match self.run_migration(id, &migration.batches()) {
            Ok(()) => Ok(OpOutcome::Applied),
            Err(e) => {
                // On a live connection, undo the attempt fully so a retry starts clean; a lost
                // connection leaves the `applying` row as the mark of an interrupted migration.
                if !matches!(e, SqlError::ConnectionLost { .. })
                    && self.session.batch(st::ROLLBACK).is_ok()
                {
                    let _ = self
                        .session
                        .execute(st::MIGRATION_ABANDONED, &[Param::Text(id)]);
                }
                Err(e)
            }
        }
    }

    fn run_migration(&mut self, id: &str, batches: &[String]) -> Result<(), SqlError> {
        self.session.batch(st::BEGIN)?;
        for batch in batches {
            self.session.batch(batch.trim())?;
        }
        self.session
            .execute(st::MIGRATION_APPLIED, &[Param::Text(id)])?;
        self.session.batch(st::COMMIT)
    }

    fn create_login(&mut self, login: &str) -> Result<OpOutcome, SqlError> {
        if self.login_exists(login)? {
            return Ok(OpOutcome::AlreadyPresent);
        }
        match self.session.batch(&st::create_windows_login(login)) {
            Ok(()) => Ok(OpOutcome::Applied),
            Err(SqlError::Server { number, .. }) if number == LOGIN_EXISTS => {
                Ok(OpOutcome::AlreadyPresent)
            }
            Err(e) => Err(e),
        }
    }

    fn create_user(
        &mut self,
        database: &str,
        principal: &Principal,
    ) -> Result<OpOutcome, SqlError> {
        let login = principal_name(principal);
        self.enter_or_fail(database)?;
        if self.user_of(login)?.is_some() {
            return Ok(OpOutcome::AlreadyPresent);
        }
        self.session.batch(&st::create_user(login))?;
        Ok(OpOutcome::Applied)
    }

    fn enter_or_fail(&mut self, database: &str) -> Result<(), SqlError> {
        if self.enter(database)? {
            Ok(())
        } else {
            Err(SqlError::Migration {
                problem: format!("database [{database}] does not exist"),
            })
        }
    }

    /// `CREATE LOGIN` needs `securityadmin` (ALTER ANY LOGIN), which `dbcreator` does not
    /// give: checked only if some Windows login the chain needs is not there yet.
    fn login_permission_problem(&mut self, ops: &[SqlOp]) -> Result<Option<String>, SqlError> {
        let mut missing = Vec::new();
        for op in ops {
            if let SqlOp::CreateLogin { login } = op
                && !self.login_exists(login)?
            {
                missing.push(login.as_str());
            }
        }
        if missing.is_empty() || self.session.query_int(st::LOGIN_PERMISSION, &[])? == Some(1) {
            return Ok(None);
        }
        Ok(Some(self.lacks(&format!(
            "securityadmin (ALTER ANY LOGIN) to create the logins {}",
            missing.join(", ")
        ))))
    }

    /// The problem of a missing server permission, in words for the administrator.
    fn lacks(&self, need: &str) -> String {
        SqlError::Permission {
            server: self.session.server().to_string(),
            login: self.session.login_name(),
            need: need.to_string(),
        }
        .to_string()
    }

    /// `dbcreator` (or `sysadmin`) where the chain creates databases.
    fn creator_problem(&mut self, ops: &[SqlOp]) -> Result<Option<String>, SqlError> {
        if !ops
            .iter()
            .any(|op| matches!(op, SqlOp::CreateDatabase { .. }))
        {
            return Ok(None);
        }
        let roles = self
            .session
            .query_texts(st::SERVER_ROLES, &[])?
            .unwrap_or_default();
        let has = |i: usize| roles.get(i).cloned().flatten().as_deref() == Some("1");
        Ok((!has(0) && !has(1))
            .then(|| self.lacks("dbcreator (or sysadmin) to create the new databases")))
    }

    /// Checks the server before any change: the connection and login (everything else
    /// depends on them), then, each reported whatever the others find, `dbcreator` (or
    /// `sysadmin`) where databases are created, `securityadmin` where logins are, the
    /// application login and its users, migrations already applied with another checksum,
    /// and the backups.
    fn check_before_changes(&mut self, ops: &[SqlOp]) -> Result<(), SqlError> {
        self.session.connect()?;
        let mut problems = Vec::new();
        problems.extend(self.creator_problem(ops)?);
        problems.extend(self.login_permission_problem(ops)?);
        for op in ops {
            match op {
                SqlOp::CreateUser {
                    principal: Principal::SqlLogin(login),
                    ..
                } if !self.login_exists(login)? => problems.push(format!(
                    "the SQL login [{login}] the applications use does not exist on the server \
                     (create it, or set sql.app_login)"
                )),
                SqlOp::CreateUser {
                    database,
                    principal,
                } => problems.extend(self.user_problem(database, principal_name(principal))?),
                SqlOp::ApplyMigration { database, .. } => match self.find(op)? {
                    Found::Conflict(problem) => problems.push(problem),
                    Found::Interrupted(problem) if !self.created_here(database)? => {
                        problems.push(problem)
                    }
                    _ => {}
                },
                _ => {}
            }
        }
        problems.extend(self.backup_problems(ops)?);
        problems.dedup();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(SqlError::NotReady {
                server: self.session.server().to_string(),
                problems,
            })
        }
    }
}

impl ExecuteTarget {
    /// What would make `CREATE USER` for `login` fail in `database`, if it exists already
    /// (a database hubup creates is its own, where it may do anything): a user of the
    /// login's name that belongs to someone else, or a login that may not create users.
    fn user_problem(&mut self, database: &str, login: &str) -> Result<Option<String>, SqlError> {
        if !self.login_exists(login)? || !self.enter(database)? || self.user_of(login)?.is_some() {
            return Ok(None);
        }
        if self
            .session
            .query_int(st::USER_ID, &[Param::Text(login)])?
            .is_some()
        {
            return Ok(Some(format!(
                "database [{database}] has a user [{login}] that is not the login [{login}]'s \
                 (CREATE USER would fail): map it (ALTER USER [{login}] WITH LOGIN = \
                 [{login}]) or drop it"
            )));
        }
        self.session.use_database("master")?;
        if self
            .session
            .query_int(st::USER_PERMISSION, &[Param::Text(database)])?
            != Some(1)
        {
            return Ok(Some(format!(
                "the login {} may not create users in database [{database}] (it needs db_owner \
                 or db_accessadmin there) to give the login [{login}] access",
                self.session.login_name()
            )));
        }
        Ok(None)
    }
}

/// The machine id in a `hubup_created_by` mark (`machine=<id>;creation=<token>`).
fn mark_machine(mark: &str) -> Option<&str> {
    mark.split(';')
        .find_map(|part| part.trim().strip_prefix("machine="))
}

/// True for the database owner's user, which every login that owns a database maps to.
fn is_owner(user: &str) -> bool {
    user.eq_ignore_ascii_case("dbo")
}

/// The statement that reverses a login, user, role or grant op; `user` is the user the op's
/// principal maps to in its database (the one its role membership or grant went to).
fn reversing_statement(op: &SqlOp, user: &str) -> String {
    match op {
        SqlOp::CreateLogin { login } => st::drop_login(login),
        SqlOp::CreateUser { .. } => st::drop_user(user),
        SqlOp::AddRoleMember { role, .. } => st::drop_role_member(role, user),
        SqlOp::GrantExecute { .. } => st::revoke_execute(user),
        SqlOp::CreateDatabase { database } => st::drop_database(database),
        SqlOp::ApplyMigration { .. } | SqlOp::BackupDatabase { .. } => String::new(),
    }
}

fn short(hex: &str) -> &str {
    hex.get(..12).unwrap_or(hex)
}

impl SqlTarget for ExecuteTarget {
    fn preflight(&mut self, ops: &[SqlOp]) -> Result<(), SqlError> {
        self.check_before_changes(ops)
    }

    fn lock(&mut self) -> Result<(), SqlError> {
        self.session.lock(self.lock_wait)
    }

    fn unlock(&mut self) -> Result<(), SqlError> {
        self.session.unlock()
    }

    fn prepare(&mut self, op: &SqlOp) -> Result<Option<SqlBefore>, SqlError> {
        match op {
            SqlOp::CreateDatabase { database } => {
                self.session.use_database("master")?;
                if self.database_exists(database)? {
                    return Ok(None);
                }
                Ok(Some(SqlBefore::DatabaseAbsent {
                    server_time: self.server_time()?,
                    token: crate::journal::RunId::random().to_hex(),
                }))
            }
            SqlOp::CreateLogin { login } => Ok(Some(SqlBefore::Login {
                existed: self.login_exists(login)?,
            })),
            _ => Ok(None),
        }
    }

    fn apply(&mut self, op: &SqlOp, before: Option<&SqlBefore>) -> Result<OpOutcome, SqlError> {
        match op {
            SqlOp::CreateDatabase { database } => self.create_database(database, before),
            SqlOp::ApplyMigration {
                database,
                id,
                checksum,
            } => self.apply_migration(database, id, checksum),
            SqlOp::CreateLogin { login } => self.create_login(login),
            SqlOp::CreateUser {
                database,
                principal,
            } => self.create_user(database, principal),
            SqlOp::AddRoleMember {
                database,
                role,
                principal,
            } => {
                self.enter_or_fail(database)?;
                let user = self.user_or_fail(database, principal_name(principal))?;
                // The owner (`dbo`) holds every permission of the database already.
                if is_owner(&user) || self.is_member(role, &user)? {
                    return Ok(OpOutcome::AlreadyPresent);
                }
                self.session.batch(&st::add_role_member(role, &user))?;
                Ok(OpOutcome::Applied)
            }
            SqlOp::GrantExecute {
                database,
                principal,
            } => {
                self.enter_or_fail(database)?;
                let user = self.user_or_fail(database, principal_name(principal))?;
                if is_owner(&user) || self.has_execute(&user)? {
                    return Ok(OpOutcome::AlreadyPresent);
                }
                self.session.batch(&st::grant_execute(&user))?;
                Ok(OpOutcome::Applied)
            }
            SqlOp::BackupDatabase { database, file } => self.backup_database(database, file),
        }
    }

    fn verify_dba_work(&mut self, ops: &[SqlOp]) -> Result<(), SqlError> {
        let script = std::path::PathBuf::from(crate::sql::SCRIPT_FILE);
        crate::sql::script::verify_with(ops, &script, |op| self.find(op))
    }

    fn check(&mut self, op: &SqlOp, before: Option<&SqlBefore>) -> Result<bool, SqlError> {
        Ok(self.find_with(op, before)? == Found::Done)
    }

    fn undo(
        &mut self,
        op: &SqlOp,
        outcome: Option<&OpOutcome>,
        before: Option<&SqlBefore>,
    ) -> Result<(), SqlError> {
        let applied = outcome == Some(&OpOutcome::Applied);
        match op {
            SqlOp::CreateDatabase { database } => {
                self.session.use_database("master")?;
                if self.database_exists(database)?
                    && (applied
                        || self.created_here(database)?
                        || self.created_unmarked_by(database, before)?)
                {
                    self.session.use_database("master")?;
                    self.session.batch(&st::drop_database(database))?;
                }
                Ok(())
            }
            // A login that did not exist before the op is the op's, done record or not.
            SqlOp::CreateLogin { login } => {
                let created = applied || before == Some(&SqlBefore::Login { existed: false });
                if created && self.login_exists(login)? {
                    self.session.batch(&st::drop_login(login))?;
                }
                Ok(())
            }
            // Dropping the database (if this machine created it) removes its migrations.
            SqlOp::ApplyMigration { .. } => Ok(()),
            // The backup file is the administrator's safety net: a rollback keeps it.
            SqlOp::BackupDatabase { .. } => Ok(()),
            // The rest: reversed only if this run did it and it is still there. `find` leaves
            // the connection in the op's database, where the reversing statement runs. An op
            // this run applied never went to the owner (`dbo`), which is found done at once.
            other => {
                if applied && self.find(other)? == Found::Done {
                    let login = match other {
                        SqlOp::CreateUser { principal, .. }
                        | SqlOp::AddRoleMember { principal, .. }
                        | SqlOp::GrantExecute { principal, .. } => principal_name(principal),
                        _ => "",
                    };
                    let user = self.user_of(login)?.unwrap_or_else(|| login.to_string());
                    if !is_owner(&user) {
                        self.session.batch(&reversing_statement(other, &user))?;
                    }
                }
                Ok(())
            }
        }
    }
}
