//! The machine outside the install tree: IIS sites' and pools' run state, Windows services,
//! http.sys SSL bindings, the certificate store, private-key and folder ACL entries, registry
//! values. One adapter ([`HostAdapter`]) observes and changes them, with two implementations:
//! `windows/` (the real tools, their output parsed by `windows/parse.rs`) and `sandbox.rs` (a
//! state file that answers as those tools do, for the demo and the tests).
//!
//! The adapter is deliberately dumb: it observes one object, makes one change, or puts one
//! observed state back. What a change wants and whether a state already has it
//! ([`rules`]) are the same for both implementations; when to observe, journal and verify is
//! the executor's (`exec/host.rs`), so the write-ahead rule holds whatever the adapter.
//!
//! Files: `commands.rs` (the config's `[commands]` templates), `rules.rs` (what a change wants
//! and whether a state has it),
//! `acl.rs` (icacls' rights notation), `runtimes.rs` (the .NET runtimes and IIS module the
//! guide asks for, and what is missing), `certificates.rs` (the store's certificates: resolving
//! a configured name, expiry, host names), `sandbox.rs`, `windows/`.

mod acl;
mod certificates;
mod commands;
mod rules;
mod runtimes;
mod sandbox;
mod windows;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::op::{HostChange, HostObject, HostState};

pub use certificates::{Certificate, CertificateProblem, parse_utc, resolve_certificate};
pub use commands::{CommandTemplates, IIS_APP_ID, PLACEHOLDERS, Template, render_part};
pub use rules::{is_running, satisfies};
pub use runtimes::{
    ASPNETCORE_RUNTIME, IIS_MODULE_LINE, InstalledRuntimes, MissingRuntime, WINDOWS_DESKTOP_RUNTIME,
};
pub use sandbox::{
    SANDBOX_FORMAT, SandboxAce, SandboxBinding, SandboxHost, SandboxMachine, SandboxService,
    SandboxValue, ServiceState, SiteState,
};
pub use windows::WindowsHost;

/// The `[host]` table: which adapter works on the machine, and how.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    /// `windows` (the default: the real tools of this server) or `sandbox` (a state file).
    #[serde(default)]
    pub adapter: AdapterKind,
    /// The sandbox machine's state file (relative paths: to the config's folder).
    #[serde(default)]
    pub state: Option<PathBuf>,
    /// Restart IIS (`iisreset`) at the end of each step, as the vendor's guide does. Off by
    /// default: stopping and starting the step's Blue Prism pools already restarts them, and
    /// an IIS restart restarts every site of the server (hubup then puts each back in the
    /// state it had).
    #[serde(default)]
    pub restart_iis: bool,
    /// How long a service may take to stop or start, in seconds.
    #[serde(default = "default_service_timeout")]
    pub service_timeout_secs: u64,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            adapter: AdapterKind::default(),
            state: None,
            restart_iis: false,
            service_timeout_secs: default_service_timeout(),
        }
    }
}

fn default_service_timeout() -> u64 {
    120
}

/// Which host adapter a config asks for.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum AdapterKind {
    #[default]
    Windows,
    Sandbox,
}

impl HostConfig {
    /// Checks the table on its own; `Err((key, problem))`.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.adapter == AdapterKind::Sandbox && self.state.is_none() {
            return Err((
                "state",
                "adapter = \"sandbox\" needs the sandbox machine's state file: state = \"machine.json\""
                    .into(),
            ));
        }
        if self.service_timeout_secs == 0 {
            return Err(("service_timeout_secs", "must be at least 1".into()));
        }
        Ok(())
    }
}

/// Where the adapter works: the config's parts it needs.
pub struct HostSetup<'a> {
    pub host: &'a HostConfig,
    pub commands: &'a CommandTemplates,
    pub apphost: &'a Path,
    pub root: &'a Path,
    /// How IIS's config spells the install location (folder ACLs are named under it).
    pub iis_location: String,
}

/// Objects, each with its state as observed or why it could not be.
pub type Observed = Vec<(HostObject, Result<HostState, String>)>;

/// Each of `objects` as observed now (or why it could not be), and a digest of them all:
/// blake3 over each object and its state (or its error) in words, one per line, in the given
/// order. Two observations with the same digest saw the same states. Reads only.
pub fn observe_digest(
    host: &mut dyn HostAdapter,
    objects: Vec<HostObject>,
) -> (Observed, crate::digest::Digest) {
    let mut lines = String::new();
    let observed: Vec<(HostObject, Result<HostState, String>)> = objects
        .into_iter()
        .map(|object| {
            let state = host.observe(&object).map_err(|e| e.to_string());
            let described = match &state {
                Ok(state) => state.describe(),
                Err(e) => format!("not observed: {e}"),
            };
            lines.push_str(&format!("{}\t{described}\n", object.describe()));
            (object, state)
        })
        .collect();
    (observed, crate::digest::Digest::of(lines.as_bytes()))
}

/// The adapter `setup` asks for. Nothing is run or read yet.
pub fn host_adapter(setup: &HostSetup<'_>) -> Box<dyn HostAdapter> {
    match setup.host.adapter {
        AdapterKind::Windows => Box::new(WindowsHost::new(setup)),
        AdapterKind::Sandbox => Box::new(SandboxHost::new(setup)),
    }
}

/// Why the machine could not be observed or changed. Messages name the object, the tool's
/// answer and, where there is one, what to do; they never hold a password (hubup holds none).
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// A tool refused (or the sandbox, as that tool would): what was asked and its answer.
    #[error("{action}: {answer}")]
    Refused { action: String, answer: String },
    #[error(
        "cannot run {program:?}: {problem} (is it installed? the template is in the config's [commands])"
    )]
    Spawn { program: String, problem: String },
    /// A tool's output is not what hubup reads.
    #[error("{action}: cannot read the output ({problem}): {output}")]
    Unreadable {
        action: String,
        problem: String,
        output: String,
    },
    /// A value that a command could be broken out of; nothing was run.
    #[error(
        "{what} {value:?} holds a character a shell could interpret; hubup never plans such a \
         value, so the journal or the config may have been changed: nothing was run"
    )]
    UnsafeValue { what: &'static str, value: String },
    #[error("the sandbox machine {}: {problem}", path.display())]
    StateFile { path: PathBuf, problem: String },
    /// A service did not reach its state in time.
    #[error("{object} did not become {wanted} within {secs} s; check it in services.msc")]
    Timeout {
        object: String,
        wanted: &'static str,
        secs: u64,
    },
    /// The change ran, but observing again does not show it.
    #[error("{object} is {found} after the change, not {wanted}")]
    NotAsWanted {
        object: String,
        wanted: String,
        found: String,
    },
    /// An observed state cannot be put back this way (a deny entry, say).
    #[error("{object}: cannot put back {state} automatically; {what}")]
    CannotRestore {
        object: String,
        state: String,
        what: String,
    },
}

/// Which objects `status` lists on a machine whose adapter cannot list everything: the Blue
/// Prism install's (the sandbox lists its whole state).
#[derive(Clone, Debug, Default)]
pub struct HostScope {
    pub objects: Vec<HostObject>,
}

/// The machine outside the install tree, as the executor drives it. Every method observes or
/// changes one thing; the rules of when (observe, journal, change, verify, undo to what was
/// observed) are the executor's.
pub trait HostAdapter {
    /// The machine in words, for messages ("the sandbox machine ...", "this server").
    fn describe(&self) -> String;
    /// The certificates of LocalMachine\My.
    fn certificates(&mut self) -> Result<Vec<Certificate>, HostError>;
    /// Whether a Windows service of this name is installed.
    fn service_installed(&mut self, name: &str) -> Result<bool, HostError>;
    /// The addresses `host` resolves to from this machine (DNS or the hosts file), in
    /// words; reads only.
    fn resolve(&mut self, host: &str) -> Result<Vec<String>, HostError>;
    /// A site's current connections (IIS's `Web Service` counter `Current Connections`):
    /// who is still using it; reads only.
    fn site_connections(&mut self, site: &str) -> Result<u64, HostError>;
    /// The .NET runtimes and whether IIS has the ASP.NET Core Module V2 (reads only).
    fn runtimes(&mut self) -> Result<InstalledRuntimes, HostError>;
    /// The object's state now. A folder or binding that does not exist has no entries / no
    /// binding; a site, pool or service that does not exist is an error (the tool's).
    fn observe(&mut self, object: &HostObject) -> Result<HostState, HostError>;
    /// Makes the change. The caller has observed that it is needed: like the real tools, an
    /// adapter may refuse a change that finds the object already as wanted (starting a
    /// started site).
    fn change(&mut self, object: &HostObject, change: &HostChange) -> Result<(), HostError>;
    /// Puts back `state`, observed before a change (the caller has observed that it differs).
    fn restore(&mut self, object: &HostObject, state: &HostState) -> Result<(), HostError>;
    /// What the machine holds for `status`: the sandbox its whole state, Windows the objects
    /// of `scope`.
    fn listing(&mut self, scope: &HostScope) -> Result<Vec<(HostObject, HostState)>, HostError>;
}
