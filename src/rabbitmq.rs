//! RabbitMQ, as far as an upgrade needs it: the `[rabbitmq]` table of the config and the check the guide's
//! troubleshooting asks for. From 4.1 on, Hub declares quorum queues; after the upgrade from
//! 4.1, a broker whose `quorum_queue` feature flag is off creates none of them ("the
//! 'quorum_queue' feature is disabled" in Hub's logs). hubup asks the broker's management API
//! (`GET /api/feature-flags`) before anything changes and refuses with the guide's fix.
//!
//! The management API is asked through hubup's one HTTP client (`net.rs`), over https (the
//! usual production listener, `https://broker:15671`, its certificate verified against the
//! machine's roots and `ca_file`) or plain http (`http://broker:15672`). The password comes
//! from an environment variable and never leaves this module except in the Authorization
//! header.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::secret::Secret;

/// The feature flag Hub's queues need from 4.1 on.
pub const QUORUM_QUEUE_FLAG: &str = "quorum_queue";

/// The `[rabbitmq]` table.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RabbitMqConfig {
    /// The management API, `http://host:15672`; unset: the check is skipped with a warning.
    #[serde(default)]
    pub management_url: Option<String>,
    /// A management user allowed to read feature flags (the `monitoring` tag is enough).
    #[serde(default)]
    pub user: Option<String>,
    /// The environment variable holding that user's password.
    #[serde(default)]
    pub password_env: Option<String>,
    /// A PEM file with the CA that issued an https management listener's certificate,
    /// trusted besides the machine's roots.
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
    /// The server the broker runs on (unset: the management URL's host, else this machine).
    /// The guide's "Restart the RabbitMQ Service" runs here only when that is this machine.
    #[serde(default)]
    pub host: Option<String>,
}

/// The broker could not be asked, or said no. Never contains the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RabbitMqError {
    #[error("rabbitmq.{key}: {problem}")]
    Config { key: &'static str, problem: String },
    #[error("cannot reach the RabbitMQ management API at {url}: {problem}")]
    Unreachable { url: String, problem: String },
    #[error(
        "the RabbitMQ management API at {url} refused the user {user} (HTTP {status}); check rabbitmq.user and the password in {password_env}"
    )]
    Refused {
        url: String,
        user: String,
        status: u16,
        password_env: String,
    },
    #[error("the RabbitMQ management API at {url} answered HTTP {status} to {path}")]
    Http {
        url: String,
        status: u16,
        path: String,
    },
    #[error("the RabbitMQ management API at {url} sent an answer hubup cannot read: {problem}")]
    Answer { url: String, problem: String },
}

/// Where the management API listens, from `management_url`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Endpoint {
    /// https.
    tls: bool,
    host: String,
    port: u16,
    /// Path prefix (a management API behind a reverse proxy), without a trailing `/`.
    prefix: String,
}

impl Endpoint {
    /// `scheme://host:port/prefix`, to which API paths are appended.
    fn base(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!("{scheme}://{host}:{}{}", self.port, self.prefix)
    }
}

impl RabbitMqConfig {
    /// The broker's server when it is not this machine (`None`: it runs here, so hubup
    /// restarts its service itself).
    pub fn remote_host(&self) -> Option<String> {
        let host = match &self.host {
            Some(host) => host.trim().to_string(),
            None => endpoint(self.management_url.as_deref()?).ok()?.host,
        };
        (!is_this_machine(&host)).then_some(host)
    }

    /// Checks the table at config load: a usable URL, and a user and password source with it.
    pub fn validate(&self) -> Result<(), RabbitMqError> {
        let Some(url) = &self.management_url else {
            return Ok(());
        };
        endpoint(url)?;
        if self.user.as_deref().is_none_or(|u| u.trim().is_empty()) {
            return Err(config_error("user", "the management user is missing"));
        }
        if self
            .password_env
            .as_deref()
            .is_none_or(|v| v.trim().is_empty())
        {
            return Err(config_error(
                "password_env",
                "name the environment variable that holds the management user's password",
            ));
        }
        Ok(())
    }

    /// Whether the broker's `quorum_queue` feature flag is enabled; `None` if no management
    /// URL is configured.
    pub fn quorum_queues_enabled(&self, timeout: Duration) -> Result<Option<bool>, RabbitMqError> {
        let Some(url) = &self.management_url else {
            return Ok(None);
        };
        self.feature_flag_enabled(url, QUORUM_QUEUE_FLAG, timeout)
            .map(Some)
    }

    /// Enables feature flag `flag` on the broker at `url` (`PUT
    /// /api/feature-flags/<flag>/enable`, which needs a user with the administrator tag),
    /// then reads it back: `Ok` only once the broker says it is enabled.
    pub fn enable_feature_flag(
        &self,
        url: &str,
        flag: &str,
        timeout: Duration,
    ) -> Result<(), RabbitMqError> {
        let path = format!("/api/feature-flags/{flag}/enable");
        self.call(url, "PUT", &path, timeout)?;
        if self.feature_flag_enabled(url, flag, timeout)? {
            Ok(())
        } else {
            Err(RabbitMqError::Answer {
                url: url.to_string(),
                problem: format!(
                    "the broker accepted enabling {flag}, but does not list it as enabled"
                ),
            })
        }
    }

    /// Whether feature flag `flag` of the broker at `url` is enabled.
    pub fn feature_flag_enabled(
        &self,
        url: &str,
        flag: &str,
        timeout: Duration,
    ) -> Result<bool, RabbitMqError> {
        let flags = self.call(url, "GET", "/api/feature-flags", timeout)?;
        let flags: Vec<FeatureFlag> =
            serde_json::from_slice(&flags).map_err(|e| RabbitMqError::Answer {
                url: url.to_string(),
                problem: e.to_string(),
            })?;
        Ok(flags.iter().any(|f| f.name == flag && f.state == "enabled"))
    }

    fn password(&self) -> Result<Secret, RabbitMqError> {
        let var = self.password_env.clone().unwrap_or_default();
        std::env::var(&var).map(Secret::new).map_err(|_| {
            config_error(
                "password_env",
                &format!("the environment variable {var} is not set; set it to the management user's password"),
            )
        })
    }

    /// `method path` (GET, or PUT with an empty JSON object) with basic authentication, through hubup's one
    /// HTTP client (http or https, trusting the system's roots and `ca_file`); the body of a
    /// 2xx answer.
    fn call(
        &self,
        url: &str,
        method: &str,
        path: &str,
        timeout: Duration,
    ) -> Result<Vec<u8>, RabbitMqError> {
        let endpoint = endpoint(url)?;
        let user = self.user.clone().unwrap_or_default();
        let password = self.password()?;
        let unreachable = |problem: String| RabbitMqError::Unreachable {
            url: url.to_string(),
            problem,
        };
        let agent =
            crate::net::http_agent(self.ca_file.as_deref(), timeout).map_err(unreachable)?;
        let credentials = base64(format!("{user}:{}", password.expose()).as_bytes());
        let target = format!("{}{path}", endpoint.base());
        let authorization = format!("Basic {credentials}");
        let sent = if method == "PUT" {
            // The management API takes a JSON body on PUT, even an empty object.
            agent
                .put(&target)
                .header("Authorization", &authorization)
                .header("Content-Type", "application/json")
                .send("{}")
        } else {
            agent
                .get(&target)
                .header("Authorization", &authorization)
                .header("Accept", "application/json")
                .call()
        };
        let mut answer = sent.map_err(|e| unreachable(e.to_string()))?;
        let status = answer.status().as_u16();
        match status {
            200..=299 => answer
                .body_mut()
                .with_config()
                .limit(16 * 1024 * 1024)
                .read_to_vec()
                .map_err(|e| RabbitMqError::Answer {
                    url: url.to_string(),
                    problem: e.to_string(),
                }),
            401 | 403 => Err(RabbitMqError::Refused {
                url: url.to_string(),
                user,
                status,
                password_env: self.password_env.clone().unwrap_or_default(),
            }),
            _ => Err(RabbitMqError::Http {
                url: url.to_string(),
                status,
                path: path.to_string(),
            }),
        }
    }
}

#[derive(Deserialize)]
struct FeatureFlag {
    name: String,
    state: String,
}

fn config_error(key: &'static str, problem: &str) -> RabbitMqError {
    RabbitMqError::Config {
        key,
        problem: problem.to_string(),
    }
}

/// `http[s]://host[:port][/prefix]` (default ports: the management plugin's, 15672 for http
/// and 15671 for https).
fn endpoint(url: &str) -> Result<Endpoint, RabbitMqError> {
    let bad = |problem: &str| config_error("management_url", &format!("{url:?}: {problem}"));
    let (tls, rest) = match (url.strip_prefix("https://"), url.strip_prefix("http://")) {
        (Some(rest), _) => (true, rest),
        (None, Some(rest)) => (false, rest),
        (None, None) => return Err(bad("must start with https:// or http://")),
    };
    let (authority, prefix) = match rest.find('/') {
        Some(at) => (&rest[..at], rest[at..].trim_end_matches('/')),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err(bad(
            "put the user in rabbitmq.user and the password in rabbitmq.password_env, not in the URL",
        ));
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || authority.starts_with('[') => (
            host,
            port.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| bad("the port must be 1-65535"))?,
        ),
        _ => (authority, if tls { 15671 } else { 15672 }),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(bad("the host is missing"));
    }
    Ok(Endpoint {
        tls,
        host: host.to_string(),
        port,
        prefix: prefix.to_string(),
    })
}

/// Standard base64 with padding (for the Authorization header).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_rfc_examples() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn management_urls_are_parsed_or_refused_with_the_reason() {
        let e = endpoint("http://rabbit01.corp.local").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.prefix.as_str()),
            ("rabbit01.corp.local", 15672, "")
        );
        let e = endpoint("http://10.0.0.5:8080/rabbitmq/").unwrap();
        assert_eq!(
            (e.host.as_str(), e.port, e.prefix.as_str()),
            ("10.0.0.5", 8080, "/rabbitmq")
        );
        let e = endpoint("http://[::1]:15672").unwrap();
        assert_eq!((e.host.as_str(), e.port), ("::1", 15672));
        assert_eq!(e.base(), "http://[::1]:15672");
        let e = endpoint("https://rabbit01.corp.local/mq").unwrap();
        assert_eq!(e.base(), "https://rabbit01.corp.local:15671/mq");
        for (url, reason) in [
            ("rabbit:15672", "must start with https:// or http://"),
            ("ftp://rabbit", "must start with https:// or http://"),
            ("http://guest:guest@rabbit", "not in the URL"),
            ("http://rabbit:0", "1-65535"),
            ("http://:15672", "host is missing"),
        ] {
            let error = endpoint(url).unwrap_err().to_string();
            assert!(error.contains(reason), "{url}: {error}");
        }
    }

    #[test]
    fn a_url_needs_a_user_and_a_password_source() {
        let mut s = RabbitMqConfig {
            management_url: Some("http://rabbit01:15672".into()),
            ..RabbitMqConfig::default()
        };
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("rabbitmq.user")
        );
        s.user = Some("hubup".into());
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("password_env")
        );
        s.password_env = Some("HUBUP_RABBITMQ_PASSWORD".into());
        s.validate().unwrap();
        assert!(RabbitMqConfig::default().validate().is_ok());
    }
}

/// This machine's name (`COMPUTERNAME` on Windows, the kernel's host name elsewhere). Read
/// here, not through `journal`, which sits above this module.
fn this_machine() -> String {
    std::env::var("COMPUTERNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// Whether `host` names this machine: a loopback name or address, or this machine's name
/// (alone or as the first label of its DNS name).
fn is_this_machine(host: &str) -> bool {
    let host = host.trim().trim_start_matches('[').trim_end_matches(']');
    let here = this_machine();
    let first_label = host.split('.').next().unwrap_or(host);
    host.is_empty()
        || ["localhost", "127.0.0.1", "::1", "."]
            .iter()
            .any(|l| host.eq_ignore_ascii_case(l))
        || host.eq_ignore_ascii_case(&here)
        || (host.parse::<std::net::IpAddr>().is_err() && first_label.eq_ignore_ascii_case(&here))
}

#[cfg(test)]
mod broker_host_tests {
    use super::*;

    fn with_host(host: Option<&str>, url: Option<&str>) -> RabbitMqConfig {
        RabbitMqConfig {
            host: host.map(str::to_string),
            management_url: url.map(str::to_string),
            ..RabbitMqConfig::default()
        }
    }

    #[test]
    fn loopback_and_this_machine_are_here_another_server_is_remote() {
        let here = this_machine();
        for local in ["localhost", "127.0.0.1", "::1", "[::1]", here.as_str()] {
            assert_eq!(with_host(Some(local), None).remote_host(), None, "{local}");
        }
        assert_eq!(with_host(None, None).remote_host(), None);
        assert_eq!(
            with_host(Some("mq01.corp.local"), None)
                .remote_host()
                .as_deref(),
            Some("mq01.corp.local")
        );
        assert_eq!(
            with_host(None, Some("http://mq02:15672"))
                .remote_host()
                .as_deref(),
            Some("mq02")
        );
        assert_eq!(
            with_host(Some("localhost"), Some("http://mq02:15672")).remote_host(),
            None,
            "host wins over the management URL"
        );
    }
}
