//! What hubup's network clients share: the roots a TLS connection trusts (the operating
//! system's store and, where the administrator gives one, a PEM file of CA certificates) and
//! the one HTTP client every HTTP call goes through (ureq over rustls with the aws-lc crypto
//! that tiberius already brings), with a time limit on the whole call and a status code as
//! an answer to read rather than an error.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// The system's trusted roots (those webpki can use) and every certificate of `ca_file`.
/// `Err` names what is wrong with the CA file.
pub fn trusted_roots(ca_file: Option<&Path>) -> Result<Vec<CertificateDer<'static>>, String> {
    // Certificates of the store that cannot be parsed are skipped, as browsers do.
    let mut roots = rustls_native_certs::load_native_certs().certs;
    if let Some(path) = ca_file {
        let unreadable =
            |problem: String| format!("cannot read the CA file {}: {problem}", path.display());
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .map_err(|e| unreadable(e.to_string()))?
            .collect::<Result<_, _>>()
            .map_err(|e| unreadable(e.to_string()))?;
        if certs.is_empty() {
            return Err(unreadable("it holds no PEM certificate".into()));
        }
        roots.extend(certs);
    }
    Ok(roots)
}

/// An HTTP client that trusts [`trusted_roots`] and gives up on a call after `timeout`.
pub fn http_agent(ca_file: Option<&Path>, timeout: Duration) -> Result<ureq::Agent, String> {
    let roots: Vec<ureq::tls::Certificate<'static>> = trusted_roots(ca_file)?
        .iter()
        .map(|der| ureq::tls::Certificate::from_der(der.as_ref()).to_owned())
        .collect();
    let tls = ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::Rustls)
        .root_certs(ureq::tls::RootCerts::new_with_certs(&roots))
        .unversioned_rustls_crypto_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .build();
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent("hubup")
        .tls_config(tls)
        .build();
    Ok(config.into())
}
