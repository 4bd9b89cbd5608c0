//! One client connection: the PRELOGIN and LOGIN7 handshake, then requests one at a time,
//! with the connection's own state (login, current database, transaction, applocks) and the
//! injected faults. When the connection ends, its open transaction is undone and its applocks
//! released before the socket closes.

use std::io::{self, Read};
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::thread;

use super::reply::{Reply, SqlError, Value, int_col, known, not_understood};
use super::script::{self, ScriptBatch};
use super::sql::{self, Statement};
use super::state::{self, Ctx, Undo, find_key, system_database};
use super::wire::{self, Message, Request, Tokens};
use super::{Shared, lock};

/// Packet size until the login negotiates one.
const DEFAULT_PACKET: usize = 4096;

struct Session {
    shared: Arc<Shared>,
    stream: TcpStream,
    id: u64,
    packet_size: usize,
    /// The login's name as stored.
    login: String,
    /// The current database's name as stored.
    database: String,
    trancount: u32,
    transactions: u64,
    undo: Option<Undo>,
    /// `SET NOEXEC ON` (DBA scripts): batches are compiled, not run, until it is off.
    noexec: bool,
    /// `SET XACT_ABORT ON` (DBA scripts): an error rolls the open transaction back.
    xact_abort: bool,
}

/// Serves one connection until it ends; protocol problems are printed, not hidden.
pub fn serve(shared: Arc<Shared>, stream: TcpStream, id: u64) {
    let mut session = Session {
        shared,
        stream,
        id,
        packet_size: DEFAULT_PACKET,
        login: String::new(),
        database: "master".to_string(),
        trancount: 0,
        transactions: 0,
        undo: None,
        noexec: false,
        xact_abort: false,
    };
    if let Err(problem) = session.run() {
        eprintln!("TDS stand-in: connection {id} closed: {problem}");
    }
    session.finish();
}

/// Whether an I/O error is just the client going away.
fn is_disconnect(error: &io::Error) -> bool {
    use io::ErrorKind::*;
    matches!(
        error.kind(),
        UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe | NotConnected
    )
}

impl Session {
    /// The whole conversation. `Ok` for an ordinary end (client gone, login refused, fault).
    fn run(&mut self) -> Result<(), String> {
        let Some(over_tls) = self.prelogin()? else {
            return Ok(());
        };
        if !self.login(over_tls)? {
            return Ok(());
        }
        while let Some(message) = self.read()? {
            if !self.request(message)? {
                break;
            }
        }
        Ok(())
    }

    fn read(&mut self) -> Result<Option<Message>, String> {
        if !self.wait_for_data()? {
            return Ok(None);
        }
        match wire::read_message(&mut self.recorded()) {
            Ok(message) => Ok(message),
            Err(e) if is_disconnect(&e) || self.stopping() => Ok(None),
            Err(e) => Err(format!("read: {e}")),
        }
    }

    /// Waits until the client sends something; `false` if this connection was killed or the
    /// stand-in stops first. Polls (peek with a timeout) rather than relying on another
    /// thread's `shutdown` to wake a blocked read, which Windows (Wine) does not always do.
    fn wait_for_data(&mut self) -> Result<bool, String> {
        let poll = Some(std::time::Duration::from_millis(50));
        self.stream
            .set_read_timeout(poll)
            .map_err(|e| e.to_string())?;
        let mut byte = [0u8; 1];
        let ready = loop {
            if self.stopping() || self.killed() {
                break false;
            }
            match self.stream.peek(&mut byte) {
                Ok(_) => break true,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) if is_disconnect(&e) => break false,
                Err(e) => return Err(format!("read: {e}")),
            }
        };
        self.stream
            .set_read_timeout(None)
            .map_err(|e| e.to_string())?;
        Ok(ready)
    }

    /// The connection's stream as a reader that keeps every byte received.
    fn recorded(&self) -> Recorded<'_> {
        Recorded {
            stream: &self.stream,
            log: &self.shared.received,
        }
    }

    fn killed(&self) -> bool {
        lock(&self.shared.sessions)
            .get(&self.id)
            .is_some_and(|entry| entry.killed)
    }

    fn send(&mut self, kind: u8, payload: &[u8]) -> Result<(), String> {
        let spid = 50 + (self.id % 1000) as u16;
        match wire::write_message(&mut self.stream, kind, payload, self.packet_size, spid) {
            Err(e) if !is_disconnect(&e) && !self.stopping() => Err(format!("write: {e}")),
            _ => Ok(()),
        }
    }

    fn stopping(&self) -> bool {
        self.shared.stop.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The next message, which must be of `kind`; `None` if the client went away.
    fn expect(&mut self, kind: u8, name: &str) -> Result<Option<Message>, String> {
        match self.read()? {
            Some(message) if message.kind != kind => Err(format!(
                "expected {name} (0x{kind:02X}), got packet type 0x{:02X}",
                message.kind
            )),
            other => Ok(other),
        }
    }

    /// PRELOGIN: the login inside TLS (`ENCRYPT_OFF`, what SQL Server does with a client's
    /// Encrypt=False) or no encryption at all (`ENCRYPT_NOT_SUP`); full encryption is not
    /// offered here. `Some(true)`: the login comes inside TLS.
    fn prelogin(&mut self) -> Result<Option<bool>, String> {
        let Some(message) = self.expect(wire::PT_PRELOGIN, "PRELOGIN")? else {
            return Ok(None);
        };
        let encryption = wire::prelogin_encryption(&message.payload)?;
        let login_over_tls = match encryption {
            Some(wire::ENCRYPT_OFF) => true,
            Some(wire::ENCRYPT_NOT_SUP) => false,
            other => {
                return Err(format!(
                    "the client asked for encryption {other:?}; the stand-in encrypts the login \
                     only: use EncryptionLevel::Off (or NotSupported)"
                ));
            }
        };
        let answer = if login_over_tls {
            wire::ENCRYPT_OFF
        } else {
            wire::ENCRYPT_NOT_SUP
        };
        self.send(wire::PT_REPLY, &wire::prelogin_reply(answer))?;
        Ok(Some(login_over_tls))
    }

    /// The TLS handshake (inside PRELOGIN packets), then the LOGIN7 message read out of TLS
    /// records; TLS ends with it (the client turns it off after sending its login).
    fn login_over_tls(&mut self) -> Result<Option<Message>, String> {
        let mut tls = rustls::ServerConnection::new(self.shared.tls.config.clone())
            .map_err(|e| format!("TLS: {e}"))?;
        while tls.is_handshaking() {
            self.send_tls(&mut tls)?;
            if !tls.is_handshaking() {
                break;
            }
            let Some(message) = self.expect(wire::PT_PRELOGIN, "TLS handshake")? else {
                return Ok(None);
            };
            let mut records = &message.payload[..];
            while !records.is_empty() {
                tls.read_tls(&mut records)
                    .map_err(|e| format!("TLS: {e}"))?;
                tls.process_new_packets()
                    .map_err(|e| format!("TLS handshake: {e}"))?;
            }
        }
        self.send_tls(&mut tls)?;
        let mut plain = Vec::new();
        loop {
            if let Some(message) = wire::whole_message(&plain) {
                return Ok(Some(message));
            }
            if !self.wait_for_data()? {
                return Ok(None);
            }
            if tls
                .read_tls(&mut self.recorded())
                .map_err(|e| e.to_string())?
                == 0
            {
                return Ok(None);
            }
            tls.process_new_packets().map_err(|e| format!("TLS: {e}"))?;
            let mut chunk = [0u8; 4096];
            loop {
                match tls.reader().read(&mut chunk) {
                    Ok(0) => break,
                    Ok(n) => plain.extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(format!("TLS: {e}")),
                }
            }
        }
    }

    /// Sends what TLS has to say, inside PRELOGIN packets (the handshake's framing).
    fn send_tls(&mut self, tls: &mut rustls::ServerConnection) -> Result<(), String> {
        let mut out = Vec::new();
        while tls.wants_write() {
            tls.write_tls(&mut out).map_err(|e| format!("TLS: {e}"))?;
        }
        if out.is_empty() {
            return Ok(());
        }
        self.send(wire::PT_PRELOGIN, &out)
    }

    /// LOGIN7: LOGINACK and the database and packet size, or error 18456 and the end.
    fn login(&mut self, over_tls: bool) -> Result<bool, String> {
        let message = if over_tls {
            self.login_over_tls()?
        } else {
            self.expect(wire::PT_LOGIN7, "LOGIN7")?
        };
        let Some(message) = message else {
            return Ok(false);
        };
        if message.kind != wire::PT_LOGIN7 {
            return Err(format!(
                "expected LOGIN7, got packet type 0x{:02X}",
                message.kind
            ));
        }
        let login = wire::parse_login7(&message.payload)?;
        match self.admit(&login) {
            Ok((key, database)) => self.welcome(key, database, login.packet_size),
            Err(errors) => {
                let mut tokens = Tokens::default();
                errors.iter().for_each(|e| tokens.error(e));
                tokens.done_error();
                self.send(wire::PT_REPLY, &tokens.buf)?;
                Ok(false)
            }
        }
    }

    /// The successful login's answer; the packet size is the client's, within TDS's bounds.
    fn welcome(
        &mut self,
        login: String,
        database: String,
        packet_size: u32,
    ) -> Result<bool, String> {
        let size = match packet_size {
            0 => DEFAULT_PACKET,
            n => (n as usize).clamp(512, 32767),
        };
        let mut tokens = Tokens::default();
        tokens.env_text(1, &database, "master");
        tokens.login_ack();
        tokens.env_text(4, &size.to_string(), &DEFAULT_PACKET.to_string());
        tokens.done(0, 0);
        (self.login, self.packet_size) = (login, size);
        self.use_database_name(database);
        self.send(wire::PT_REPLY, &tokens.buf)?;
        Ok(true)
    }

    /// The stored login name and initial database, or the errors refusing the login.
    fn admit(&self, login: &wire::Login7) -> Result<(String, String), Vec<SqlError>> {
        let refused = || vec![known(18456, &login.user)];
        if lock(&self.shared.faults).0.refuse_logins {
            return Err(refused());
        }
        let state = lock(&self.shared.state);
        let key = find_key(&state.logins, &login.user).ok_or_else(refused)?;
        let account = &state.logins[key];
        if account.windows || account.password.as_deref() != Some(login.password.as_str()) {
            return Err(refused());
        }
        let wanted = match login.database.as_str() {
            "" => "master",
            name => name,
        };
        let database = system_database(wanted)
            .map(|(name, _)| name.to_string())
            .or_else(|| find_key(&state.databases, wanted).cloned());
        match database {
            Some(database) => Ok((key.clone(), database)),
            None => Err(vec![known(4060, wanted), known(18456, &login.user)]),
        }
    }

    /// One client message after login. `Ok(false)` ends the connection.
    fn request(&mut self, message: Message) -> Result<bool, String> {
        match message.kind {
            wire::PT_BATCH => self.statement(wire::parse_batch(&message.payload)),
            wire::PT_RPC => self.statement(wire::parse_rpc(&message.payload)),
            wire::PT_ATTENTION => {
                // Requests are answered in full before the next is read: nothing to cancel.
                let mut tokens = Tokens::default();
                tokens.done(wire::DONE_ATTN, 0);
                self.send(wire::PT_REPLY, &tokens.buf).map(|()| true)
            }
            wire::PT_TRANSACTION_MANAGER => {
                let reply = self.reject("<transaction manager request>", "not supported");
                self.reply(&reply)
            }
            other => Err(format!("unexpected packet type 0x{other:02X}")),
        }
    }

    /// A batch or RPC: recorded, then the faults (a dropped statement is never answered, so
    /// the delay comes after that check), then run.
    fn statement(&mut self, parsed: Result<Request, String>) -> Result<bool, String> {
        let (number, faults) = self.shared.count_statement();
        let request = match parsed {
            Ok(request) => request,
            Err(problem) => {
                let text = format!("<undecodable request: {problem}>");
                let reply = self.reject(&text, "cannot decode");
                return self.reply(&reply);
            }
        };
        self.record(&request);
        if faults.drop_at_statement == Some(number) {
            return Ok(false);
        }
        if let Some(prefix) = &faults.drop_matching
            && request.text.starts_with(prefix.as_str())
        {
            let faults = &mut lock(&self.shared.faults).0;
            faults.drop_matching = None;
            faults.refuse_logins |= faults.refuse_logins_after_drop;
            return Ok(false);
        }
        if let Some(delay) = faults.delay {
            thread::sleep(delay);
        }
        let matching = faults
            .fail_matching
            .as_ref()
            .filter(|(prefix, _)| request.text.starts_with(prefix.as_str()));
        let reply = match (faults.fail_at_statement, matching) {
            (Some((at, code)), _) if at == number => known(code, &name_in(&request)).into(),
            (_, Some((_, code))) => known(*code, &name_in(&request)).into(),
            _ => self.execute(&request),
        };
        if matches!(reply, Reply::Error(_)) && self.xact_abort && self.trancount > 0 {
            self.abort_transaction();
        }
        self.reply(&reply)
    }

    fn reply(&mut self, reply: &Reply) -> Result<bool, String> {
        let mut tokens = Tokens::default();
        tokens.reply(reply);
        self.send(wire::PT_REPLY, &tokens.buf).map(|()| true)
    }

    fn record(&self, request: &Request) {
        let mut state = lock(&self.shared.state);
        state.clock_ms += 10;
        state.statements.push(request.text.clone());
        for arg in &request.args {
            if let Value::Str(s) = arg {
                state.params_seen.push(s.clone());
            }
        }
        if let Some(database) = state.databases.get_mut(&self.database) {
            database.statements.push(request.text.clone());
        }
    }

    /// A statement outside the contract: recorded, printed, and answered with error 50000.
    fn reject(&self, text: &str, why: &str) -> Reply {
        eprintln!("TDS stand-in: rejected ({why}): {text}");
        lock(&self.shared.state).rejected.push(text.to_string());
        not_understood(text).into()
    }

    fn scripts(&self) -> bool {
        self.shared
            .scripts
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    fn execute(&mut self, request: &Request) -> Reply {
        if self.noexec {
            // Compiled only; `SET NOEXEC OFF` is the one statement that still acts, and an
            // unreplaced sqlcmd variable is a syntax error even so.
            if request.text.contains("$(") {
                return known(102, "$").into();
            }
            let text = script::without_leading_comments(&request.text);
            if script::recognize(text) == Some(ScriptBatch::NoexecOff) {
                self.noexec = false;
            }
            return Reply::Done(0);
        }
        let Some(statement) = sql::recognize(&request.text, &self.shared.batches) else {
            if self.scripts() && !request.rpc {
                let text = script::without_leading_comments(&request.text);
                if text.is_empty() {
                    return Reply::Done(0);
                }
                if let Some(batch) = script::recognize(text) {
                    return self.script_batch(text, batch);
                }
            }
            return self.reject(&request.text, "not a statement hubup sends");
        };
        if let Err(problem) = sql::check_args(statement.params(), &request.args) {
            if request.args.is_empty() {
                return known(137, "@P1").into();
            }
            return self.reject(&request.text, &problem);
        }
        if let Some(error) = ident_problem(&statement) {
            return error.into();
        }
        match &statement {
            Statement::Use(name) => self.use_database(name, request.rpc),
            Statement::Begin | Statement::Commit | Statement::Rollback if request.rpc => {
                let why = "transaction statements must be batches: inside sp_executesql SQL \
                           Server gives error 266 (transaction count mismatch)";
                self.reject(&request.text, why)
            }
            Statement::Begin => self.begin(),
            Statement::Commit => self.commit(),
            Statement::Rollback => self.rollback(),
            Statement::DropDatabaseSingleUser(name) => {
                self.close_others_in(name);
                self.run_on_state(request, &statement)
            }
            Statement::GetAppLock => self.get_applock(&request.args),
            Statement::ReleaseAppLock => self.release_applock(&request.args),
            _ => self.run_on_state(request, &statement),
        }
    }

    /// A statement run on the state for a script batch, with these arguments.
    fn on_state(&mut self, text: &str, statement: Statement, args: &[&str]) -> Reply {
        let request = Request {
            text: text.to_string(),
            args: args.iter().map(|a| Value::Str(a.to_string())).collect(),
            rpc: false,
        };
        self.run_on_state(&request, &statement)
    }

    /// The first cell of a query's answer, if any.
    fn cell(&mut self, text: &str, statement: Statement, args: &[&str]) -> Option<Value> {
        match self.on_state(text, statement, args) {
            Reply::Rows { rows, .. } => rows.into_iter().next()?.into_iter().next(),
            _ => None,
        }
    }

    /// A batch of a DBA script: its guards evaluated, its statements run as execution mode's.
    fn script_batch(&mut self, text: &str, batch: ScriptBatch) -> Reply {
        let owner = |user: &Option<Value>| matches!(user, Some(Value::Str(u)) if u == "dbo");
        match batch {
            ScriptBatch::SqlcmdGuard { value } => {
                if value == "OFF" {
                    return Reply::Done(0);
                }
                self.noexec = true;
                known(50000, "").into()
            }
            ScriptBatch::Use(name) => self.use_database(&name, false),
            ScriptBatch::HistoryCreate => self.on_state(text, Statement::HistoryCreate, &[]),
            ScriptBatch::SkipIfApplied(id) => {
                let reply = self.on_state(text, Statement::HistorySelect, &[&id]);
                if let Reply::Rows { rows, .. } = &reply
                    && rows
                        .iter()
                        .any(|r| r.get(1) == Some(&Value::Str("applied".into())))
                {
                    self.noexec = true;
                }
                match reply {
                    Reply::Error(e) => e.into(),
                    _ => Reply::Done(0),
                }
            }
            ScriptBatch::BeginMigration => {
                self.xact_abort = true;
                self.begin()
            }
            ScriptBatch::RecordApplied { id, checksum } => {
                for (statement, args) in [
                    (
                        Statement::HistoryInsert,
                        vec![id.as_str(), checksum.as_str()],
                    ),
                    (Statement::HistoryUpdate, vec![id.as_str()]),
                ] {
                    if let Reply::Error(e) = self.on_state(text, statement, &args) {
                        return e.into();
                    }
                }
                self.commit()
            }
            ScriptBatch::NoexecOff => {
                self.noexec = false;
                Reply::Done(0)
            }
            ScriptBatch::CreateDatabase { name, mark } => {
                if self.cell(text, Statement::DbId, &[&name]) != Some(Value::Null) {
                    return Reply::Done(0);
                }
                match self.on_state(text, Statement::CreateDatabase(name.clone()), &[]) {
                    Reply::Error(e) => e.into(),
                    _ => self.on_state(text, Statement::MarkDatabase(name), &[&mark]),
                }
            }
            ScriptBatch::CreateLogin(login) => {
                if self.cell(text, Statement::SuserId, &[&login]) != Some(Value::Null) {
                    return Reply::Done(0);
                }
                self.on_state(text, Statement::CreateWindowsLogin(login), &[])
            }
            ScriptBatch::CreateUser(login) => {
                if self
                    .cell(text, Statement::UserForLogin, &[&login])
                    .is_some()
                {
                    return Reply::Done(0);
                }
                let statement = Statement::CreateUser {
                    user: login.clone(),
                    login,
                };
                self.on_state(text, statement, &[])
            }
            ScriptBatch::AddRoleMember { role, login } => {
                let member = self.cell(text, Statement::IsRoleMember, &[&role, &login]);
                let user = self.cell(text, Statement::UserForLogin, &[&login]);
                if member == Some(Value::Int(1)) || owner(&user) {
                    return Reply::Done(0);
                }
                let statement = Statement::AlterRole {
                    role,
                    user: login,
                    add: true,
                };
                self.on_state(text, statement, &[])
            }
            ScriptBatch::GrantExecute(login) => {
                if owner(&self.cell(text, Statement::UserForLogin, &[&login])) {
                    return Reply::Done(0);
                }
                let statement = Statement::Execute {
                    user: login,
                    grant: true,
                };
                self.on_state(text, statement, &[])
            }
            ScriptBatch::Backup { name, file } => {
                self.on_state(text, Statement::BackupDatabase(name), &[&file])
            }
            ScriptBatch::DropIfMarked { name, pattern } => {
                let marked = {
                    let state = lock(&self.shared.state);
                    find_key(&state.databases, &name)
                        .and_then(|k| state.databases[k].properties.get("hubup_created_by"))
                        .is_some_and(|mark| script::like(mark, &pattern))
                };
                if !marked {
                    return Reply::Done(0);
                }
                self.close_others_in(&name);
                self.on_state(text, Statement::DropDatabaseSingleUser(name), &[])
            }
        }
    }

    fn run_on_state(&mut self, request: &Request, statement: &Statement) -> Reply {
        let in_use = self.shared.databases_in_use();
        let mut state = lock(&self.shared.state);
        let mut ctx = Ctx {
            text: &request.text,
            login: &self.login,
            database: &self.database,
            in_use: &in_use,
            undo: self.undo.as_mut(),
        };
        state::run(&mut state, &mut ctx, statement, &request.args)
    }

    /// SINGLE_USER WITH ROLLBACK IMMEDIATE: closes every other connection whose current
    /// database is `name` and waits (up to 5 s) until each has rolled back and ended.
    fn close_others_in(&mut self, name: &str) {
        let closing: Vec<u64> = lock(&self.shared.sessions)
            .iter_mut()
            .filter(|(id, s)| **id != self.id && state::same_name(&s.database, name))
            .map(|(id, s)| {
                s.killed = true;
                let _ = s.stream.shutdown(Shutdown::Both);
                *id
            })
            .collect();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::time::Instant::now() < deadline {
            let sessions = lock(&self.shared.sessions);
            if closing.iter().all(|id| !sessions.contains_key(id)) {
                return;
            }
            drop(sessions);
            thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// USE; inside sp_executesql it lasts only for that call, as on SQL Server.
    fn use_database(&mut self, name: &str, rpc: bool) -> Reply {
        let target = {
            let state = lock(&self.shared.state);
            system_database(name)
                .map(|(n, _)| n.to_string())
                .or_else(|| find_key(&state.databases, name).cloned())
        };
        let Some(new) = target else {
            return known(911, name).into();
        };
        if rpc {
            eprintln!("TDS stand-in: USE inside sp_executesql does not last (as on SQL Server)");
            let old = self.database.clone();
            return Reply::Database {
                new,
                old,
                reverted: true,
            };
        }
        let old = self.use_database_name(new.clone());
        Reply::Database {
            new,
            old,
            reverted: false,
        }
    }

    /// Switches the current database (also in the registry DROP DATABASE consults).
    fn use_database_name(&mut self, name: String) -> String {
        if let Some(entry) = lock(&self.shared.sessions).get_mut(&self.id) {
            entry.database = name.clone();
        }
        std::mem::replace(&mut self.database, name)
    }

    /// A transaction descriptor, distinct per connection and transaction.
    fn descriptor(&self) -> [u8; 8] {
        ((self.id << 32) | (self.transactions & 0xFFFF_FFFF)).to_le_bytes()
    }

    fn begin(&mut self) -> Reply {
        self.trancount += 1;
        if self.trancount > 1 {
            return Reply::Done(0);
        }
        self.transactions += 1;
        self.undo = Some(Undo::default());
        Reply::BeginTx(self.descriptor())
    }

    fn commit(&mut self) -> Reply {
        match self.trancount {
            0 => known(3902, "").into(),
            1 => {
                self.trancount = 0;
                self.undo = None;
                Reply::CommitTx(self.descriptor())
            }
            _ => {
                self.trancount -= 1;
                Reply::Done(0)
            }
        }
    }

    fn rollback(&mut self) -> Reply {
        if self.trancount == 0 {
            return known(3903, "").into();
        }
        self.abort_transaction();
        Reply::RollbackTx(self.descriptor())
    }

    fn abort_transaction(&mut self) {
        self.trancount = 0;
        if let Some(undo) = self.undo.take() {
            undo.restore(&mut lock(&self.shared.state));
        }
    }

    /// Applocks live in the current database; resource names compare exactly.
    fn lock_key(&self, args: &[Value]) -> Option<(String, String)> {
        match args.first() {
            Some(Value::Str(resource)) => Some((self.database.to_lowercase(), resource.clone())),
            _ => None,
        }
    }

    fn get_applock(&mut self, args: &[Value]) -> Reply {
        let Some(key) = self.lock_key(args) else {
            return self.reject(sql::GET_APPLOCK, "NULL @Resource");
        };
        let timeout = match args.get(1) {
            Some(Value::Int(ms)) => *ms,
            _ => -1,
        };
        let result = self
            .shared
            .locks
            .acquire(self.id, key, timeout, &self.shared.stop);
        Reply::scalar(int_col(""), Value::Int(result.into()))
    }

    fn release_applock(&mut self, args: &[Value]) -> Reply {
        let Some(key) = self.lock_key(args) else {
            return self.reject(sql::RELEASE_APPLOCK, "NULL @Resource");
        };
        if self.shared.locks.release(self.id, &key) {
            Reply::Done(0)
        } else {
            known(1223, &key.1).into()
        }
    }

    /// The connection ends: undo its transaction and free its locks, then close.
    fn finish(&mut self) {
        if self.trancount > 0 {
            self.abort_transaction();
        }
        self.shared.locks.release_all(self.id);
        lock(&self.shared.sessions).remove(&self.id);
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

/// A connection's stream as a reader that appends what it reads to the stand-in's log.
struct Recorded<'a> {
    stream: &'a TcpStream,
    log: &'a std::sync::Mutex<Vec<u8>>,
}

impl Read for Recorded<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.stream.read(buf)?;
        lock(self.log).extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

/// SQL Server refuses identifiers longer than 128 characters and empty ones.
fn ident_problem(statement: &Statement) -> Option<SqlError> {
    let idents = statement.idents();
    if let Some(long) = idents.iter().find(|n| n.chars().count() > 128) {
        let head: String = long.chars().take(128).collect();
        return Some(known(103, &head));
    }
    idents.iter().any(|n| n.is_empty()).then(|| known(1038, ""))
}

/// The name an injected error message mentions: the statement's first identifier, else its
/// first string parameter.
fn name_in(request: &Request) -> String {
    let statement = sql::recognize(&request.text, &Default::default());
    let ident = statement
        .as_ref()
        .and_then(|s| s.idents().first().map(|n| n.to_string()));
    let param = request.args.iter().find_map(|a| match a {
        Value::Str(s) => Some(s.clone()),
        _ => None,
    });
    ident.or(param).unwrap_or_else(|| "stand-in".to_string())
}
