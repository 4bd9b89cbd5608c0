//! A TLS server on 127.0.0.1 with a certificate for the names a test gives, issued by a CA
//! made for it: what a service such as Decision's model service answers. It completes each
//! handshake and closes the connection; it stops when dropped.

use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use crate::support::tds::tls::Tls;

pub struct TlsServer {
    port: u16,
    ca_pem: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TlsServer {
    /// Listens on an ephemeral port of 127.0.0.1 with a certificate for `names`.
    pub fn start(names: &[&str]) -> TlsServer {
        let tls = Tls::for_names(names);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let config = tls.config.clone();
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    answer(stream, config.clone());
                }
            }
        });
        TlsServer {
            port,
            ca_pem: tls.ca_pem,
            stop,
            thread: Some(thread),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The CA's certificate (PEM), for a client's CA file.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }
}

/// One handshake (a client that refuses the certificate ends it early), then close.
fn answer(mut stream: TcpStream, config: Arc<rustls::ServerConfig>) {
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(10)));
    let Ok(mut tls) = rustls::ServerConnection::new(config) else {
        return;
    };
    while tls.is_handshaking() {
        if tls.complete_io(&mut stream).is_err() {
            return;
        }
    }
    tls.send_close_notify();
    let _ = tls.complete_io(&mut stream);
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the stop.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
