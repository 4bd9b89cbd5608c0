//! Whether the Blue Prism sites answer: each is asked over HTTPS at its configured binding,
//! with its host name as SNI and Host header, connecting to `[probes] address` (127.0.0.1 by
//! default: the sites are on this machine) instead of what DNS says. The Authentication
//! Server must serve its OpenID discovery document (`/.well-known/openid-configuration`,
//! JSON whose `issuer` is its own URL); the others a status below 500 on `/` (another path
//! and the statuses accepted can be set per site). A site is asked again with backoff until
//! it answers as it must or `[probes] wait_secs` have passed, since IIS starts an
//! application on its first request and warms slowly. Certificates are verified against the
//! machine's roots and `[probes] ca_file`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::components::{COMPONENTS, Component};
use crate::config::{Config, DISCOVERY_PATH};
use crate::version::Version;

/// What a healthy site answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Any status below 500.
    BelowServerError,
    /// One of these statuses.
    Statuses(Vec<u16>),
    /// A discovery document whose `issuer` is this URL.
    Issuer(String),
}

/// One site to probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProbeTarget {
    pub component: Component,
    pub site: String,
    /// `https://host[:port]/path`.
    pub url: String,
    pub host: String,
    pub port: u16,
    /// Where the connection goes.
    pub address: SocketAddr,
    pub expect: Expect,
}

/// How a probe ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProbeResult {
    pub site: String,
    pub url: String,
    pub healthy: bool,
    /// What the site last answered (`HTTP 200, issuer ...`, or why there was no answer).
    pub answer: String,
    pub attempts: u32,
    pub elapsed_ms: u64,
}

/// The sites of the components the install has at `version`, as configured.
pub fn probe_targets(config: &Config, version: Version) -> Vec<ProbeTarget> {
    COMPONENTS
        .iter()
        .filter(|info| info.exists_at(version))
        .map(|info| {
            let site = config.site(info.component);
            let custom = config
                .probes
                .sites
                .get(info.key)
                .cloned()
                .unwrap_or_default();
            let origin = if site.port == 443 {
                format!("https://{}", site.host)
            } else {
                format!("https://{}:{}", site.host, site.port)
            };
            let authentication = info.component == Component::AuthenticationServer;
            let path = custom
                .path
                .clone()
                .unwrap_or_else(|| if authentication { DISCOVERY_PATH } else { "/" }.to_string());
            let expect = match (authentication && custom.path.is_none(), custom.statuses) {
                (true, _) => Expect::Issuer(origin.clone()),
                (false, statuses) if !statuses.is_empty() => Expect::Statuses(statuses),
                _ => Expect::BelowServerError,
            };
            ProbeTarget {
                component: info.component,
                site: info.site_name(version).to_string(),
                url: format!("{origin}{path}"),
                host: site.host,
                port: site.port,
                address: SocketAddr::new(config.probes.connect_address(), site.port),
                expect,
            }
        })
        .collect()
}

/// Probes every target at once (one thread each), each for up to `wait`.
pub fn probe_all(
    targets: &[ProbeTarget],
    ca_file: Option<&std::path::Path>,
    wait: Duration,
) -> Vec<ProbeResult> {
    std::thread::scope(|scope| {
        let running: Vec<_> = targets
            .iter()
            .map(|target| scope.spawn(move || probe(target, ca_file, wait, std::thread::sleep)))
            .collect();
        running
            .into_iter()
            .map(|r| r.join().expect("a probe thread does not panic"))
            .collect()
    })
}

impl ProbeResult {
    /// One line for a person: the verdict, the site, its URL and what it answered.
    pub fn line(&self) -> String {
        format!(
            "[{}] {} {}: {} ({} attempt{}, {:.1} s)",
            if self.healthy { " ok " } else { "FAIL" },
            self.site,
            self.url,
            self.answer,
            self.attempts,
            if self.attempts == 1 { "" } else { "s" },
            self.elapsed_ms as f64 / 1000.0
        )
    }
}

/// Connects every request to one address, whatever the URL's host (which stays the SNI and
/// the Host header): `curl --resolve` for ureq.
#[derive(Debug)]
struct FixedAddress(SocketAddr);

impl ureq::unversioned::resolver::Resolver for FixedAddress {
    fn resolve(
        &self,
        _uri: &ureq::http::Uri,
        _config: &ureq::config::Config,
        _timeout: ureq::unversioned::transport::NextTimeout,
    ) -> Result<ureq::unversioned::resolver::ResolvedSocketAddrs, ureq::Error> {
        let mut addresses = self.empty();
        addresses.push(self.0);
        Ok(addresses)
    }
}

/// Probes `target` until it answers as it must or `wait` has passed, sleeping with `sleep`
/// between attempts (1 s, doubling, at most 15 s).
pub fn probe(
    target: &ProbeTarget,
    ca_file: Option<&std::path::Path>,
    wait: Duration,
    mut sleep: impl FnMut(Duration),
) -> ProbeResult {
    let started = Instant::now();
    let mut attempts = 0;
    let mut pause = Duration::from_secs(1);
    let agent = crate::net::http_agent(ca_file, Duration::from_secs(30)).map(|agent| {
        ureq::Agent::with_parts(
            agent.config().clone(),
            ureq::unversioned::transport::DefaultConnector::new(),
            FixedAddress(target.address),
        )
    });
    loop {
        attempts += 1;
        let (healthy, answer) = match &agent {
            Ok(agent) => ask(agent, target),
            Err(e) => (false, e.clone()),
        };
        let elapsed = started.elapsed();
        if healthy || elapsed + pause > wait {
            return ProbeResult {
                site: target.site.clone(),
                url: target.url.clone(),
                healthy,
                answer,
                attempts,
                elapsed_ms: elapsed.as_millis() as u64,
            };
        }
        sleep(pause);
        pause = (pause * 2).min(Duration::from_secs(15));
    }
}

/// One request: whether the answer is healthy, and the answer in words.
fn ask(agent: &ureq::Agent, target: &ProbeTarget) -> (bool, String) {
    let mut response = match agent.get(&target.url).call() {
        Ok(response) => response,
        Err(e) => return (false, format!("no answer from {}: {e}", target.address)),
    };
    let status = response.status().as_u16();
    match &target.expect {
        Expect::BelowServerError => (status < 500, format!("HTTP {status}")),
        Expect::Statuses(wanted) => (wanted.contains(&status), format!("HTTP {status}")),
        Expect::Issuer(issuer) => {
            if status != 200 {
                return (false, format!("HTTP {status} for the discovery document"));
            }
            let body = response
                .body_mut()
                .with_config()
                .limit(1024 * 1024)
                .read_to_vec()
                .unwrap_or_default();
            let found = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|json| json["issuer"].as_str().map(str::to_string));
            match found {
                Some(found) if found.trim_end_matches('/') == issuer => {
                    (true, format!("HTTP 200, issuer {found}"))
                }
                Some(found) => (
                    false,
                    format!("HTTP 200, but the issuer is {found}, not {issuer}"),
                ),
                None => (
                    false,
                    "HTTP 200, but no JSON discovery document with an issuer".into(),
                ),
            }
        }
    }
}
