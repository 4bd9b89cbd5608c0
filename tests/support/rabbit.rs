//! A private RabbitMQ broker for a test: Debian's `rabbitmq-server` (installed by
//! `scripts/setup.sh`), started with every file under a temp dir (database, logs, config,
//! Erlang cookie), on free 127.0.0.1 ports, with the management plugin, and with chosen
//! feature flags enabled (a new node enables only those `RABBITMQ_FEATURE_FLAGS` lists).
//! Stopped when dropped. Not on Windows: the Windows test run (Wine) has no broker.

use crate::support::StartRetrying;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Broker {
    dir: tempfile::TempDir,
    node: String,
    management_port: u16,
    /// The management API's https listener, when started with one.
    https_port: Option<u16>,
    epmd_port: u16,
    child: Child,
}

/// The user every test broker has (reachable from 127.0.0.1 only).
pub const USER: &str = "guest";
pub const PASSWORD: &str = "guest";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// The broker's own scripts, not Debian's `/usr/sbin` wrappers: those switch to the
/// `rabbitmq` user, whose home (`/var/lib/rabbitmq`) would get the cookie and crash dumps.
fn program(name: &str) -> PathBuf {
    let own = Path::new("/usr/lib/rabbitmq/bin").join(name);
    if own.exists() {
        own
    } else {
        PathBuf::from(name)
    }
}

impl Broker {
    /// Starts a broker; `quorum_queue` says whether that feature flag starts enabled.
    pub fn start(quorum_queue: bool) -> Broker {
        Broker::start_with(quorum_queue, false)
    }

    /// Starts a broker whose management API also listens on https, with a certificate for
    /// `localhost` issued by a test CA ([`Broker::ca_file`]).
    pub fn start_https(quorum_queue: bool) -> Broker {
        Broker::start_with(quorum_queue, true)
    }

    fn start_with(quorum_queue: bool, https: bool) -> Broker {
        let dir = tempfile::tempdir().expect("temp dir");
        let management_port = free_port();
        let mut conf = format!(
            "listeners.tcp.default = 127.0.0.1:{}\nmanagement.tcp.ip = 127.0.0.1\n\
             management.tcp.port = {management_port}\nloopback_users = none\n",
            free_port()
        );
        let https_port = https.then(free_port);
        if let Some(port) = https_port {
            crate::support::tds::tls::Issued::for_names(&["localhost"]).write_pem_files(dir.path());
            let pem = |name: &str| dir.path().join(name).display().to_string();
            conf.push_str(&format!(
                "management.ssl.ip = 127.0.0.1\nmanagement.ssl.port = {port}\n\
                 management.ssl.cacertfile = {}\nmanagement.ssl.certfile = {}\n\
                 management.ssl.keyfile = {}\n",
                pem("ca.pem"),
                pem("cert.pem"),
                pem("key.pem")
            ));
        }
        std::fs::write(dir.path().join("rabbitmq.conf"), conf).unwrap();
        std::fs::write(
            dir.path().join("enabled_plugins"),
            "[rabbitmq_management].\n",
        )
        .unwrap();
        let node = format!(
            "hubup-test-{}-{}@localhost",
            std::process::id(),
            free_port()
        );
        let mut broker = Broker {
            child: Command::new("true").spawn().unwrap(),
            dir,
            node,
            management_port,
            https_port,
            epmd_port: free_port(),
        };
        let mut flags = vec![
            "implicit_default_bindings",
            "maintenance_mode_status",
            "virtual_host_metadata",
        ];
        if quorum_queue {
            flags.push("quorum_queue");
        }
        let log = std::fs::File::create(broker.dir.path().join("server.out")).unwrap();
        let mut command = Command::new(program("rabbitmq-server"));
        broker.environment(&mut command);
        command
            .env("RABBITMQ_FEATURE_FLAGS", flags.join(","))
            .env("RABBITMQ_DIST_PORT", free_port().to_string())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        broker.child = command.spawn_retrying().unwrap_or_else(|e| {
            panic!("cannot start rabbitmq-server ({e}): run scripts/setup.sh to install it")
        });
        broker.wait_until_ready();
        broker
    }

    /// Environment shared by the server and `rabbitmqctl`: node, files, cookie, epmd port.
    fn environment(&self, command: &mut Command) {
        let dir = self.dir.path();
        command
            .env("RABBITMQ_NODENAME", &self.node)
            .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
            .env("RABBITMQ_MNESIA_BASE", dir.join("mnesia"))
            .env("RABBITMQ_LOG_BASE", dir.join("log"))
            .env("RABBITMQ_CONFIG_FILE", dir.join("rabbitmq"))
            .env("RABBITMQ_ENABLED_PLUGINS_FILE", dir.join("enabled_plugins"))
            .env("RABBITMQ_PID_FILE", dir.join("pid"))
            .env("ERL_EPMD_PORT", self.epmd_port.to_string())
            .env("ERL_CRASH_DUMP", dir.join("erl_crash.dump"))
            .env("HOME", dir)
            .current_dir(dir);
    }

    fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(90);
        while Instant::now() < deadline {
            if self.request("GET", "/api/overview").0 == 200 {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("rabbitmq-server exited ({status}):\n{}", self.output());
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        panic!(
            "rabbitmq-server did not start within 90 s:\n{}",
            self.output()
        );
    }

    fn output(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.out")).unwrap_or_default()
    }

    /// `https://localhost:<port>`, the management API's https listener.
    pub fn https_url(&self) -> String {
        format!(
            "https://localhost:{}",
            self.https_port.expect("started with start_https")
        )
    }

    /// The PEM file of the CA that issued the https listener's certificate.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// `http://127.0.0.1:<port>`, the management API.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.management_port)
    }

    /// Turns the quorum_queue feature flag on, as `rabbitmqctl enable_feature_flag` would.
    pub fn enable_quorum_queue(&self) {
        let (status, body) = self.request("PUT", "/api/feature-flags/quorum_queue/enable");
        assert!(
            status == 204 || status == 200,
            "enable: HTTP {status}: {body}"
        );
    }

    /// Whether the broker lists `quorum_queue` as enabled.
    pub fn quorum_queue_enabled(&self) -> bool {
        let (status, body) = self.request("GET", "/api/feature-flags");
        assert_eq!(status, 200, "feature flags: {body}");
        let flags: serde_json::Value = serde_json::from_str(&body).expect("feature flags JSON");
        flags
            .as_array()
            .expect("a list of flags")
            .iter()
            .any(|f| f["name"] == "quorum_queue" && f["state"] == "enabled")
    }

    /// One HTTP/1.0 request as the test user: (status, body); status 0 if nobody answers.
    fn request(&self, method: &str, path: &str) -> (u16, String) {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.management_port)) else {
            return (0, String::new());
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
        // base64("guest:guest")
        let request = format!(
            "{method} {path} HTTP/1.0\r\nAuthorization: Basic Z3Vlc3Q6Z3Vlc3Q=\r\n\
             Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{{}}"
        );
        if stream.write_all(request.as_bytes()).is_err() {
            return (0, String::new());
        }
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        let status = answer
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
        (status, body)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let mut stop = Command::new(program("rabbitmqctl"));
        self.environment(&mut stop);
        let _ = stop
            .args(["-n", &self.node, "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        // The server script ends with its node; kill it only if it does not.
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline && matches!(self.child.try_wait(), Ok(None)) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The node started its own epmd on the test's port: stop it too.
        let _ = Command::new("epmd")
            .args(["-port", &self.epmd_port.to_string(), "-kill"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
