//! The stand-in's TLS, as SQL Server does it for a client that asks for `ENCRYPT_OFF`
//! (tiberius `EncryptionLevel::Off`, every client's Encrypt=False): the TLS handshake travels
//! inside PRELOGIN packets, the LOGIN7 packet (with the password) goes inside TLS records,
//! and after it both sides drop TLS and talk in clear. Made with rustls (the library tiberius
//! uses) and a certificate for 127.0.0.1 issued by a test CA made at start-up.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The server side's TLS configuration and the CA that issued its certificate.
pub struct Tls {
    pub config: Arc<rustls::ServerConfig>,
    /// The test CA's certificate (PEM), what a client trusts to accept the server's.
    pub ca_pem: String,
}

impl Tls {
    /// A new CA and a certificate for `127.0.0.1` and `localhost` issued by it.
    pub fn new() -> Tls {
        Tls::for_names(&["127.0.0.1", "localhost"])
    }

    /// A new CA and a certificate for `names` issued by it.
    pub fn for_names(names: &[&str]) -> Tls {
        let issued = Issued::for_names(names);
        let (certificate, key) = (&issued.certificate, &issued.key);
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(certificate.der().to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            )
            .expect("TLS configuration");
        // A session ticket after the handshake would arrive after the client dropped TLS.
        config.send_tls13_tickets = 0;
        Tls {
            config: Arc::new(config),
            ca_pem: issued.ca_pem,
        }
    }
}

/// A test CA's certificate (PEM) and a certificate it issued, with its key.
pub struct Issued {
    pub ca_pem: String,
    pub certificate: rcgen::Certificate,
    pub key: rcgen::KeyPair,
}

impl Issued {
    /// A new CA and a certificate for `names` issued by it.
    pub fn for_names(names: &[&str]) -> Issued {
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "hubup test CA");
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("CA certificate");
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let params = rcgen::CertificateParams::new(names).expect("server certificate parameters");
        let key = rcgen::KeyPair::generate().expect("server key");
        let certificate = params.signed_by(&key, &ca).expect("server certificate");
        Issued {
            ca_pem: ca.pem(),
            certificate,
            key,
        }
    }

    /// Writes `ca.pem`, `cert.pem` and `key.pem` into `dir` (what a server's config names;
    /// the test broker's, Unix only).
    #[cfg(unix)]
    pub fn write_pem_files(&self, dir: &std::path::Path) {
        std::fs::write(dir.join("ca.pem"), &self.ca_pem).unwrap();
        std::fs::write(dir.join("cert.pem"), self.certificate.pem()).unwrap();
        std::fs::write(dir.join("key.pem"), self.key.serialize_pem()).unwrap();
    }
}
