//! A SQL Server stand-in that speaks enough TDS for tiberius 0.13, for tests of hubup's SQL
//! "execute" mode on machines without SQL Server. It understands exactly the statements
//! hubup sends (`src/sql/statements.rs`), keeps their effects in a [`ServerState`]
//! tests can read and set up, rejects everything else loudly (error 50000, `rejected`,
//! stderr), and can inject faults (refused logins, dropped connections, errors, delays).
//!
//! TCP on 127.0.0.1 with an OS-chosen port; a client that asks for `ENCRYPT_OFF` gets the
//! login inside TLS and the rest in clear (`tls.rs`), one that asks for `ENCRYPT_NOT_SUP`
//! everything in clear; every byte received is kept ([`StandIn::received_bytes`]); one accept thread and one thread per
//! connection. This file owns the public API and the accept loop; `session` serves a
//! connection, `wire` the bytes, `sql` statement recognition, `state` the effects,
//! `locks` the applocks, `reply` answers and the error catalogue.

mod locks;
mod reply;
mod script;
mod session;
mod sql;
mod state;
pub mod tls;
mod wire;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

pub use state::{Database, Faults, Login, ServerState};

/// A running stand-in. Dropping it stops accepting and closes every connection.
pub struct StandIn {
    shared: Arc<Shared>,
    port: u16,
    accept: Option<JoinHandle<()>>,
    /// Holds [`StandIn::ca_file`].
    ca_dir: tempfile::TempDir,
}

/// What the accept thread, the connections and the handle share.
struct Shared {
    state: Mutex<ServerState>,
    /// The faults and how many statements arrived since they were set.
    faults: Mutex<(Faults, u64)>,
    locks: locks::AppLocks,
    stop: AtomicBool,
    /// Open connections: a handle to close them and their current database.
    sessions: Mutex<BTreeMap<u64, SessionEntry>>,
    /// Every batch of every migration, trimmed as hubup sends them.
    batches: BTreeSet<String>,
    /// Also accept the batches of hubup's DBA scripts ([`StandIn::accept_scripts`]).
    scripts: AtomicBool,
    /// TLS for the login (clients that ask for `ENCRYPT_OFF`).
    tls: tls::Tls,
    /// Every byte every client sent, as it crossed the wire.
    received: Mutex<Vec<u8>>,
}

struct SessionEntry {
    stream: TcpStream,
    database: String,
    /// Set when another connection's SINGLE_USER WITH ROLLBACK IMMEDIATE closes this one.
    killed: bool,
}

/// Locks a mutex even if a connection thread panicked while holding it: the other
/// connections and the test should still see the state.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    /// Counts one statement; its number since the faults were set, and the faults.
    fn count_statement(&self) -> (u64, Faults) {
        let mut faults = lock(&self.faults);
        faults.1 += 1;
        (faults.1, faults.0.clone())
    }

    fn databases_in_use(&self) -> Vec<String> {
        lock(&self.sessions)
            .values()
            .map(|s| s.database.clone())
            .collect()
    }
}

fn migration_batches() -> BTreeSet<String> {
    hubup::MIGRATIONS
        .iter()
        .flat_map(|m| hubup::split_batches(m.text))
        .map(|batch| batch.trim().to_string())
        .collect()
}

impl StandIn {
    /// Starts on 127.0.0.1:0. `logins`: (name, password, server roles like "dbcreator"/"sysadmin").
    pub fn start(logins: &[(&str, &str, &[&str])]) -> StandIn {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the TDS stand-in");
        let port = listener.local_addr().expect("stand-in address").port();
        let mut state = ServerState::default();
        for (name, password, roles) in logins {
            let login = Login {
                password: Some(password.to_string()),
                server_roles: roles.iter().map(|r| r.to_string()).collect(),
                windows: false,
            };
            state.logins.insert(name.to_string(), login);
        }
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            faults: Mutex::default(),
            locks: locks::AppLocks::default(),
            stop: AtomicBool::new(false),
            sessions: Mutex::default(),
            batches: migration_batches(),
            scripts: AtomicBool::new(false),
            tls: tls::Tls::new(),
            received: Mutex::default(),
        });
        let accept = thread::spawn({
            let shared = shared.clone();
            move || accept_loop(listener, shared)
        });
        let ca_dir = tempfile::tempdir().expect("a folder for the CA certificate");
        std::fs::write(ca_dir.path().join("ca.pem"), &shared.tls.ca_pem).expect("CA file");
        StandIn {
            shared,
            port,
            accept: Some(accept),
            ca_dir,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `host,port` as hubup's config takes it: "127.0.0.1,<port>".
    pub fn server(&self) -> String {
        format!("127.0.0.1,{}", self.port)
    }

    /// A snapshot of the state.
    pub fn state(&self) -> ServerState {
        lock(&self.shared.state).clone()
    }

    /// Replaces the current faults; statements are counted from 1 again.
    pub fn set_faults(&self, faults: Faults) {
        *lock(&self.shared.faults) = (faults, 0);
    }

    /// Sets up state by hand (e.g. a database another machine created). Databases added
    /// without an id (or with one of the system ids 1..=4) get a fresh one.
    pub fn with_state<R>(&self, f: impl FnOnce(&mut ServerState) -> R) -> R {
        let mut state = lock(&self.shared.state);
        let result = f(&mut state);
        state.assign_ids();
        result
    }

    /// A PEM file holding the certificate of the CA that issued the stand-in's TLS
    /// certificate, for a client's `sql.ca_file` (lives as long as the stand-in).
    pub fn ca_file(&self) -> std::path::PathBuf {
        self.ca_dir.path().join("ca.pem")
    }

    /// Every byte the clients sent so far, as it crossed the wire (encrypted where it was).
    pub fn received_bytes(&self) -> Vec<u8> {
        lock(&self.shared.received).clone()
    }

    /// From now on, also accept the batches of hubup's DBA scripts (a DBA running
    /// `hubup-database.sql` with sqlcmd), besides execution mode's statements.
    pub fn accept_scripts(&self) {
        self.shared.scripts.store(true, Ordering::SeqCst);
    }

    /// How many client connections are open (accepted and not yet ended).
    pub fn open_connections(&self) -> usize {
        lock(&self.shared.sessions).len()
    }

    /// Waits until at most `count` connections are open; a connection's end (its rollback
    /// and lock release) happens on the stand-in's thread, after the client let go.
    pub fn wait_for_connections(&self, count: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.open_connections() > count {
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(10));
        }
        true
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for (id, stream) in (1u64..).zip(listener.incoming()) {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        let Ok(handle) = stream.try_clone() else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        // Registered here, before the thread runs, so Drop sees every connection.
        let entry = SessionEntry {
            stream: handle,
            database: "master".to_string(),
            killed: false,
        };
        lock(&shared.sessions).insert(id, entry);
        let shared = shared.clone();
        thread::spawn(move || session::serve(shared, stream, id));
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // accept() blocks: one last connection wakes it to see `stop`.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        for entry in lock(&self.shared.sessions).values() {
            let _ = entry.stream.shutdown(Shutdown::Both);
        }
        self.shared.locks.wake_all();
    }
}
