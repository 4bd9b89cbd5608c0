//! A TLS server on 127.0.0.1 with a certificate for the names a test gives, issued by a CA
//! made for it: what a service such as Decision's model service answers (each handshake,
//! then close), or, with a handler, what an IIS site answers over HTTPS (one HTTP/1.1 request
//! per connection: the handler gets the Host header and the path, and gives the status and
//! body). It stops when dropped.

use std::io::{Read, Write};
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
        TlsServer::serving(names, None)
    }

    /// An HTTPS server: each request's (Host, path) goes to `handler`, which gives the
    /// status and body.
    pub fn https(
        names: &[&str],
        handler: impl Fn(&str, &str) -> (u16, String) + Send + Sync + 'static,
    ) -> TlsServer {
        TlsServer::serving(names, Some(Arc::new(handler)))
    }

    fn serving(names: &[&str], handler: Option<Arc<Handler>>) -> TlsServer {
        let tls = Tls::for_names(names);
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let config = tls.config.clone();
        let handler = handler.clone();
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    answer(stream, config.clone(), handler.as_deref());
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

/// What an HTTPS server answers: (Host, path) -> (status, body).
type Handler = dyn Fn(&str, &str) -> (u16, String) + Send + Sync;

/// One handshake (a client that refuses the certificate ends it early), one request if there
/// is a handler, then close.
fn answer(mut stream: TcpStream, config: Arc<rustls::ServerConfig>, handler: Option<&Handler>) {
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(10)));
    let Ok(mut tls) = rustls::ServerConnection::new(config) else {
        return;
    };
    while tls.is_handshaking() {
        if tls.complete_io(&mut stream).is_err() {
            return;
        }
    }
    if let Some(handler) = handler {
        let mut session = rustls::Stream::new(&mut tls, &mut stream);
        let mut request = Vec::new();
        let mut byte = [0u8; 1];
        while !request.ends_with(b"\r\n\r\n") && request.len() < 64 * 1024 {
            match session.read(&mut byte) {
                Ok(1) => request.push(byte[0]),
                _ => return,
            }
        }
        let text = String::from_utf8_lossy(&request);
        let path = text.split_whitespace().nth(1).unwrap_or("/").to_string();
        let host = text
            .lines()
            .find_map(|l| {
                l.strip_prefix("Host: ")
                    .or_else(|| l.strip_prefix("host: "))
            })
            .unwrap_or("")
            .trim()
            .to_string();
        let (status, body) = handler(&host, &path);
        let reply = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = session.write_all(reply.as_bytes());
        let _ = session.flush();
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
