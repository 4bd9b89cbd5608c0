//! Whether a service answers TLS with a certificate that is valid for its host name: the
//! guide's condition on Blue Prism Decision's model service ("the FQDN must match the
//! certificate"), checked before the step to 4.5 writes its URL into Hub's settings.
//!
//! The connection goes to the addresses the machine resolves the name to (the host adapter
//! says which, so the sandbox answers for its own names), with the name as SNI; the
//! certificate is verified as any TLS client would (rustls and webpki: chain to a trusted
//! root, validity dates, the host name), against the operating system's trusted roots and,
//! where the administrator gives one, a CA file. Nothing is sent after the handshake.

use std::io;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;

/// What to connect to and whom to trust.
pub struct TlsTarget<'a> {
    pub host: &'a str,
    pub port: u16,
    /// The addresses `host` resolves to, tried in order.
    pub addresses: &'a [String],
    /// A PEM file of CA certificates trusted besides the system's.
    pub ca_file: Option<&'a Path>,
    pub timeout: Duration,
}

/// A handshake that verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsAnswer {
    /// The address that answered.
    pub address: String,
    /// How many certificates the server sent (its own and the intermediates).
    pub chain: usize,
}

/// Why the service does not answer TLS as it must, in words that say what to do.
#[derive(Debug, thiserror::Error)]
pub enum TlsProblem {
    /// The CA file cannot be read (the message names it).
    #[error("{0}")]
    CaFile(String),
    #[error("{host} has no address to connect to")]
    NoAddress { host: String },
    #[error("cannot connect to {host}:{port} ({address}): {source}")]
    Connect {
        host: String,
        port: u16,
        address: String,
        source: io::Error,
    },
    #[error(
        "{host}:{port} ({address}) does not complete a TLS handshake with a certificate valid \
         for {host}: {problem}"
    )]
    Handshake {
        host: String,
        port: u16,
        address: String,
        problem: String,
    },
}

/// Connects to `target` and verifies its certificate (see the module's doc).
pub fn check_tls(target: &TlsTarget<'_>) -> Result<TlsAnswer, TlsProblem> {
    let config = Arc::new(client_config(target.ca_file)?);
    let Some(first) = target.addresses.first() else {
        return Err(TlsProblem::NoAddress {
            host: target.host.to_string(),
        });
    };
    let mut last = None;
    for address in target.addresses {
        match handshake(target, address, config.clone()) {
            Ok(answer) => return Ok(answer),
            // Another address may answer; a certificate problem is the service's answer.
            Err(e @ TlsProblem::Connect { .. }) => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or(TlsProblem::NoAddress {
        host: first.clone(),
    }))
}

fn client_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, TlsProblem> {
    let mut roots = rustls::RootCertStore::empty();
    // Certificates that webpki cannot use are skipped, as browsers do.
    roots
        .add_parsable_certificates(crate::net::trusted_roots(ca_file).map_err(TlsProblem::CaFile)?);
    Ok(rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth())
}

fn handshake(
    target: &TlsTarget<'_>,
    address: &str,
    config: Arc<rustls::ClientConfig>,
) -> Result<TlsAnswer, TlsProblem> {
    let connect_error = |source| TlsProblem::Connect {
        host: target.host.to_string(),
        port: target.port,
        address: address.to_string(),
        source,
    };
    let failed = |problem: String| TlsProblem::Handshake {
        host: target.host.to_string(),
        port: target.port,
        address: address.to_string(),
        problem,
    };
    let ip = address
        .parse()
        .map_err(|_| connect_error(io::Error::other("not an IP address")))?;
    let mut tcp = TcpStream::connect_timeout(&SocketAddr::new(ip, target.port), target.timeout)
        .map_err(connect_error)?;
    tcp.set_read_timeout(Some(target.timeout))
        .and_then(|()| tcp.set_write_timeout(Some(target.timeout)))
        .map_err(connect_error)?;
    let name = ServerName::try_from(target.host.to_string())
        .map_err(|e| failed(format!("{:?} is no host name: {e}", target.host)))?;
    let mut tls = rustls::ClientConnection::new(config, name).map_err(|e| failed(e.to_string()))?;
    while tls.is_handshaking() {
        tls.complete_io(&mut tcp)
            .map_err(|e| failed(handshake_error(&e)))?;
    }
    let chain = tls.peer_certificates().map_or(0, <[_]>::len);
    tls.send_close_notify();
    let _ = tls.complete_io(&mut tcp);
    Ok(TlsAnswer {
        address: address.to_string(),
        chain,
    })
}

/// rustls's certificate errors in an administrator's words.
fn handshake_error(error: &io::Error) -> String {
    let Some(tls) = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    else {
        return error.to_string();
    };
    match tls {
        rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForName)
        | rustls::Error::InvalidCertificate(rustls::CertificateError::NotValidForNameContext {
            ..
        }) => "the certificate is for another name (the URL's FQDN must be in its subject or \
               subject alternative names)"
            .into(),
        rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer) => {
            "the certificate's issuer is not trusted (import its CA into the machine's trusted \
             roots, or give its CA file)"
                .into()
        }
        rustls::Error::InvalidCertificate(rustls::CertificateError::Expired)
        | rustls::Error::InvalidCertificate(rustls::CertificateError::ExpiredContext { .. }) => {
            "the certificate has expired".into()
        }
        other => other.to_string(),
    }
}
