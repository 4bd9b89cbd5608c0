//! The `[probes]` table: how `hubup probe` asks the Blue Prism sites whether they answer
//! (where to connect, how long to wait, whom to trust, and per site what to ask and which
//! statuses are healthy). The probing itself is `probe.rs`'s.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::components::COMPONENTS;

/// The `[probes]` table.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ProbeConfig {
    /// Where the sites are reached (their bindings' address); default 127.0.0.1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// How long a site may take to answer as it must, in seconds.
    #[serde(default = "default_wait")]
    pub wait_secs: u64,
    /// A PEM file of CA certificates trusted besides the machine's roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// Probe the sites at the end of each step, after its restarts and before it is
    /// committed: a site that does not answer as it must rolls the step back. Off by default
    /// for now (the sandbox does not serve its sites yet).
    #[serde(default)]
    pub after_steps: bool,
    /// Per component key: the path to ask and the statuses that count as healthy.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub sites: BTreeMap<String, SiteProbe>,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            address: None,
            after_steps: false,
            wait_secs: default_wait(),
            ca_file: None,
            sites: BTreeMap::new(),
        }
    }
}

fn default_wait() -> u64 {
    180
}

/// How one site is probed, where it differs from the default.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct SiteProbe {
    /// The path asked (default `/`, the Authentication Server's discovery document).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The statuses that count as healthy (default: any below 500).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub statuses: Vec<u16>,
}

/// The discovery document every OpenID provider serves.
pub const DISCOVERY_PATH: &str = "/.well-known/openid-configuration";

impl ProbeConfig {
    /// Checks the table on its own; `Err((key, problem))`.
    pub fn validate(&self) -> Result<(), (String, String)> {
        if let Some(address) = &self.address
            && address.parse::<IpAddr>().is_err()
        {
            return Err((
                "address".into(),
                format!("{address:?} is not an IP address (the sites' bindings' address)"),
            ));
        }
        if self.wait_secs == 0 {
            return Err(("wait_secs".into(), "must be at least 1".into()));
        }
        for (key, site) in &self.sites {
            if !COMPONENTS.iter().any(|c| c.key == key) {
                let known: Vec<&str> = COMPONENTS.iter().map(|c| c.key).collect();
                return Err((
                    format!("sites.{key}"),
                    format!("unknown component; known: {}", known.join(", ")),
                ));
            }
            if site.path.as_deref().is_some_and(|p| !p.starts_with('/')) {
                return Err((format!("sites.{key}.path"), "must start with /".into()));
            }
            if let Some(bad) = site.statuses.iter().find(|s| !(100..=599).contains(*s)) {
                return Err((
                    format!("sites.{key}.statuses"),
                    format!("{bad} is not an HTTP status"),
                ));
            }
        }
        Ok(())
    }

    /// Where the sites are reached: `address`, else 127.0.0.1.
    pub fn connect_address(&self) -> IpAddr {
        self.address
            .as_deref()
            .and_then(|a| a.parse().ok())
            .unwrap_or(IpAddr::from([127, 0, 0, 1]))
    }
}
