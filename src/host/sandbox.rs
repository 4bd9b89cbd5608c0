//! The sandbox machine: a JSON state file standing in for a Windows server's IIS run state,
//! services, http.sys SSL bindings, certificate store, key and folder ACLs and registry. The
//! demo and the tests use it. It answers as the real tools do, with their messages: a second
//! binding for a host name and port is netsh's error 183, a certificate that is not in the
//! store is netsh's error 1312, an unknown service is sc's 1060, stopping a stopped service is
//! sc's 1062, starting a started one 1056; appcmd refuses to start a started site. A service
//! marked `fail_stop` refuses to stop (as a hung service does), for the tests.
//!
//! Sites and pools are IIS's: one that the install's applicationHost.config defines but the
//! state file does not list (a site a step created) runs, as IIS starts a new site and its
//! pool. Changed, it gets an entry marked `implicit`, which goes again once it runs: the file
//! is byte-equal after a rollback puts everything back.
//!
//! Every change is written back durably (temp file, flush, rename) before the adapter answers,
//! and appended to `commands.log` beside the state file, as the command the Windows adapter
//! would run, so the demo shows what would happen on a server.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::fsx;
use crate::op::{AclEntry, HostChange, HostObject, HostState, SslBinding};

use super::certificates::Certificate;
use super::{HostAdapter, HostError, HostScope, HostSetup, InstalledRuntimes};

/// The state file's format version.
pub const SANDBOX_FORMAT: u32 = 1;

/// The sandbox machine's whole state, as its file holds it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxMachine {
    pub format: u32,
    #[serde(default)]
    pub certificates: Vec<Certificate>,
    #[serde(default)]
    pub bindings: Vec<SandboxBinding>,
    #[serde(default)]
    pub sites: Vec<SiteState>,
    #[serde(default)]
    pub app_pools: Vec<SiteState>,
    #[serde(default)]
    pub services: Vec<SandboxService>,
    /// Private-key ACL entries, by certificate thumbprint.
    #[serde(default)]
    pub key_acls: Vec<SandboxAce>,
    /// Folder ACL entries, by folder (relative to the install root).
    #[serde(default)]
    pub folder_acls: Vec<SandboxAce>,
    #[serde(default)]
    pub registry: Vec<SandboxValue>,
    /// Host names and the addresses they resolve to (DNS and the hosts file together); a
    /// name not here does not resolve.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dns: BTreeMap<String, Vec<String>>,
    /// Sites' current connections (IIS's counter); a site not here has none.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub site_connections: BTreeMap<String, u64>,
    /// The .NET runtimes and IIS module, as the `runtime_list` template lists them
    /// (`Microsoft.AspNetCore.App 3.1.32`, `AspNetCoreModuleV2 installed`).
    #[serde(default)]
    pub runtimes: Vec<String>,
}

/// An http.sys SSL binding of an SNI host name and port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxBinding {
    pub host: String,
    pub port: u16,
    #[serde(flatten)]
    pub binding: SslBinding,
}

/// A site's or pool's run state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteState {
    pub name: String,
    pub running: bool,
    /// Not in the file until changed: a site or pool of applicationHost.config only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub implicit: bool,
}

/// A Windows service.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxService {
    pub name: String,
    pub state: ServiceState,
    /// `Auto`, `Manual`, `Disabled`.
    pub start_mode: String,
    /// Refuses to stop (for tests: a hung service).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fail_stop: bool,
}

/// A service's run state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServiceState {
    Running,
    Stopped,
}

/// One ACL entry: of the key of certificate `on` (its thumbprint), or of folder `on`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxAce {
    pub on: String,
    pub principal: String,
    /// icacls notation, as icacls shows it: `(F)`, `(OI)(CI)(F)`, `(I)(RX)`.
    pub rights: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deny: bool,
}

/// A registry value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxValue {
    pub key: String,
    pub name: String,
    pub value: String,
}

/// The sandbox adapter: the state file at `path`.
pub struct SandboxHost {
    path: PathBuf,
    log: PathBuf,
    /// The install's applicationHost.config: the sites and pools IIS has.
    apphost: Option<PathBuf>,
}

fn refused(action: impl Into<String>, answer: impl Into<String>) -> HostError {
    HostError::Refused {
        action: action.into(),
        answer: answer.into(),
    }
}

impl SandboxHost {
    pub fn new(setup: &HostSetup<'_>) -> SandboxHost {
        let path = setup
            .host
            .state
            .clone()
            .unwrap_or_else(|| PathBuf::from("machine.json"));
        SandboxHost {
            apphost: Some(setup.apphost.to_path_buf()),
            ..SandboxHost::at(&path)
        }
    }

    /// The sandbox machine of the state file `path`.
    pub fn at(path: &Path) -> SandboxHost {
        let log = path.parent().unwrap_or(Path::new(".")).join("commands.log");
        SandboxHost {
            path: path.to_path_buf(),
            log,
            apphost: None,
        }
    }

    fn state_error(&self, problem: impl ToString) -> HostError {
        HostError::StateFile {
            path: self.path.clone(),
            problem: problem.to_string(),
        }
    }

    /// The machine's state now.
    pub fn load(&self) -> Result<SandboxMachine, HostError> {
        let text = std::fs::read_to_string(&self.path).map_err(|e| self.state_error(e))?;
        let machine: SandboxMachine =
            serde_json::from_str(&text).map_err(|e| self.state_error(e))?;
        if machine.format != SANDBOX_FORMAT {
            return Err(self.state_error(format!(
                "format {} (this hubup reads format {SANDBOX_FORMAT})",
                machine.format
            )));
        }
        let mut machine = machine;
        self.add_implicit(&mut machine);
        Ok(machine)
    }

    /// Adds a running, `implicit` entry for each site and pool of applicationHost.config that
    /// the file does not list. An unreadable config adds none (the tests' bare machines).
    fn add_implicit(&self, machine: &mut SandboxMachine) {
        let Some(bytes) = self.apphost.as_ref().and_then(|p| std::fs::read(p).ok()) else {
            return;
        };
        let sites = crate::apphost::apphost_sites(&bytes).unwrap_or_default();
        let pools = crate::apphost::app_pools(&bytes).unwrap_or_default();
        add_missing(&mut machine.sites, sites.into_iter().map(|s| s.name));
        add_missing(&mut machine.app_pools, pools.into_iter().map(|p| p.name));
    }

    /// Writes `machine` durably as the state file (an implicit entry only while it is not
    /// running).
    pub fn save(&self, machine: &SandboxMachine) -> Result<(), HostError> {
        let mut machine = machine.clone();
        for list in [&mut machine.sites, &mut machine.app_pools] {
            list.retain(|s| !(s.implicit && s.running));
        }
        let mut text = serde_json::to_string_pretty(&machine).expect("JSON of plain data");
        text.push('\n');
        fsx::write_bytes(&self.path, text.as_bytes()).map_err(|e| self.state_error(e))?;
        Ok(())
    }

    fn logged(&self, line: &str) -> Result<(), HostError> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| self.state_error(format!("{}: {e}", self.log.display())))?;
        writeln!(file, "{line}")
            .map_err(|e| self.state_error(format!("{}: {e}", self.log.display())))
    }

    fn edit(
        &self,
        line: String,
        change: impl FnOnce(&mut SandboxMachine) -> Result<(), HostError>,
    ) -> Result<(), HostError> {
        let mut machine = self.load()?;
        change(&mut machine)?;
        self.save(&machine)?;
        self.logged(&line)
    }
}

fn add_missing(list: &mut Vec<SiteState>, names: impl Iterator<Item = String>) {
    for name in names {
        if !list.iter().any(|s| s.name.eq_ignore_ascii_case(&name)) {
            list.push(SiteState {
                name,
                running: true,
                implicit: true,
            });
        }
    }
}

fn site<'m>(
    list: &'m mut [SiteState],
    kind: &str,
    name: &str,
) -> Result<&'m mut SiteState, HostError> {
    list.iter_mut()
        .find(|s| s.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| {
            refused(
                format!("appcmd {} {name:?}", kind.to_ascii_lowercase()),
                format!("ERROR ( message:Cannot find {kind} object with identifier \"{name}\". )"),
            )
        })
}

fn service<'m>(
    machine: &'m mut SandboxMachine,
    name: &str,
) -> Result<&'m mut SandboxService, HostError> {
    machine
        .services
        .iter_mut()
        .find(|s| s.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| {
            refused(
                format!("sc {name}"),
                "[SC] OpenService FAILED 1060: The specified service does not exist as an installed service.",
            )
        })
}

/// Sets a site's or pool's run state as appcmd does: refusing a start of a started one and a
/// stop of a stopped one.
fn set_running(entry: &mut SiteState, kind: &str, running: bool) -> Result<(), HostError> {
    if entry.running == running {
        let (verb, code, message) = if running {
            (
                "start",
                "80070420",
                "An instance of the service is already running.",
            )
        } else {
            ("stop", "80070426", "The service has not been started.")
        };
        return Err(refused(
            format!(
                "appcmd {verb} {} {:?}",
                kind.to_ascii_lowercase(),
                entry.name
            ),
            format!("ERROR ( hresult:{code}, message:Command execution failed.\n{message} )"),
        ));
    }
    entry.running = running;
    Ok(())
}

fn set_service(entry: &mut SandboxService, running: bool) -> Result<(), HostError> {
    let name = entry.name.clone();
    match (entry.state, running) {
        (ServiceState::Running, true) => Err(refused(
            format!("sc start {name}"),
            "[SC] StartService FAILED 1056: An instance of the service is already running.",
        )),
        (ServiceState::Stopped, false) => Err(refused(
            format!("sc stop {name}"),
            "[SC] ControlService FAILED 1062: The service has not been started.",
        )),
        (ServiceState::Running, false) if entry.fail_stop => Err(HostError::Timeout {
            object: format!("service {name:?}"),
            wanted: "stopped",
            secs: 120,
        }),
        (ServiceState::Stopped, true) if entry.start_mode.eq_ignore_ascii_case("Disabled") => {
            Err(refused(
                format!("sc start {name}"),
                "[SC] StartService FAILED 1058: The service cannot be started, either because it \
                 is disabled or because it has no enabled devices associated with it.",
            ))
        }
        _ => {
            entry.state = if running {
                ServiceState::Running
            } else {
                ServiceState::Stopped
            };
            Ok(())
        }
    }
}

fn acl_entries(list: &[SandboxAce], on: &str, principal: &str) -> Vec<AclEntry> {
    list.iter()
        .filter(|a| a.on.eq_ignore_ascii_case(on) && a.principal.eq_ignore_ascii_case(principal))
        .map(|a| AclEntry {
            rights: a.rights.clone(),
            deny: a.deny,
        })
        .collect()
}

/// `icacls /grant`: the principal's explicit allow entry becomes `rights` (icacls merges a
/// grant with the explicit entry of the same inheritance).
fn grant(list: &mut Vec<SandboxAce>, on: &str, principal: &str, rights: &str) {
    let stored = super::acl::stored_rights(rights);
    if list.iter().any(|a| {
        a.on.eq_ignore_ascii_case(on)
            && a.principal.eq_ignore_ascii_case(principal)
            && !a.deny
            && a.rights == stored
    }) {
        return;
    }
    list.push(SandboxAce {
        on: on.to_string(),
        principal: principal.to_string(),
        rights: stored,
        deny: false,
    });
}

/// `icacls /remove:g`: every explicit allow entry of the principal goes; inherited ones stay.
fn remove_grants(list: &mut Vec<SandboxAce>, on: &str, principal: &str) {
    let removed = |a: &SandboxAce| {
        let explicit = !super::acl::is_inherited(&AclEntry {
            rights: a.rights.clone(),
            deny: false,
        });
        a.on.eq_ignore_ascii_case(on)
            && a.principal.eq_ignore_ascii_case(principal)
            && !a.deny
            && explicit
    };
    list.retain(|a| !removed(a));
}

fn binding_key(host: &str, port: u16) -> impl Fn(&SandboxBinding) -> bool + '_ {
    move |b| b.host.eq_ignore_ascii_case(host) && b.port == port
}

fn add_binding(
    machine: &mut SandboxMachine,
    host: &str,
    port: u16,
    binding: &SslBinding,
) -> Result<(), HostError> {
    let action = format!("netsh http add sslcert hostnameport={host}:{port}");
    if machine.bindings.iter().any(binding_key(host, port)) {
        return Err(refused(
            action,
            "SSL Certificate add failed, Error: 183 Cannot create a file when that file already exists.",
        ));
    }
    let known = machine
        .certificates
        .iter()
        .any(|c| c.thumbprint.eq_ignore_ascii_case(&binding.thumbprint) && c.has_private_key);
    if !known {
        return Err(refused(
            action,
            "SSL Certificate add failed, Error: 1312 A specified logon session does not exist. \
             It may already have been terminated.",
        ));
    }
    machine.bindings.push(SandboxBinding {
        host: host.to_string(),
        port,
        binding: binding.clone(),
    });
    Ok(())
}

fn delete_binding(machine: &mut SandboxMachine, host: &str, port: u16) -> Result<(), HostError> {
    let before = machine.bindings.len();
    machine.bindings.retain(|b| !binding_key(host, port)(b));
    if machine.bindings.len() == before {
        return Err(refused(
            format!("netsh http delete sslcert hostnameport={host}:{port}"),
            "SSL Certificate deletion failed, Error: 2 The system cannot find the file specified.",
        ));
    }
    Ok(())
}

fn set_value(machine: &mut SandboxMachine, key: &str, name: &str, value: Option<&str>) {
    machine
        .registry
        .retain(|v| !(v.key.eq_ignore_ascii_case(key) && v.name.eq_ignore_ascii_case(name)));
    if let Some(value) = value {
        machine.registry.push(SandboxValue {
            key: key.to_string(),
            name: name.to_string(),
            value: value.to_string(),
        });
    }
}

impl SandboxMachine {
    fn observe(&self, object: &HostObject) -> Result<HostState, HostError> {
        let mut copy = self.clone();
        Ok(match object {
            HostObject::Site { name } => {
                HostState::Running(site(&mut copy.sites, "SITE", name)?.running)
            }
            HostObject::AppPool { name } => {
                HostState::Running(site(&mut copy.app_pools, "APPPOOL", name)?.running)
            }
            HostObject::Service { name } => {
                let s = service(&mut copy, name)?;
                HostState::Service {
                    running: s.state == ServiceState::Running,
                    start_mode: s.start_mode.clone(),
                }
            }
            HostObject::SslBinding { host, port } => HostState::Binding(
                self.bindings
                    .iter()
                    .find(|b| binding_key(host, *port)(b))
                    .map(|b| b.binding.clone()),
            ),
            HostObject::CertificateKey {
                thumbprint,
                principal,
                ..
            } => HostState::Acl(acl_entries(&self.key_acls, thumbprint, principal)),
            HostObject::FolderAcl { folder, principal } => {
                HostState::Acl(acl_entries(&self.folder_acls, folder.as_str(), principal))
            }
            HostObject::RegistryValue { key, name } => HostState::Value(
                self.registry
                    .iter()
                    .find(|v| v.key.eq_ignore_ascii_case(key) && v.name.eq_ignore_ascii_case(name))
                    .map(|v| v.value.clone()),
            ),
            HostObject::Iis => HostState::Sites(
                self.sites
                    .iter()
                    .map(|s| (s.name.clone(), s.running))
                    .collect(),
            ),
        })
    }

    fn key_exists(&self, thumbprint: &str) -> Result<(), HostError> {
        match self
            .certificates
            .iter()
            .find(|c| c.thumbprint.eq_ignore_ascii_case(thumbprint))
        {
            Some(c) if c.has_private_key => Ok(()),
            _ => Err(refused(
                format!("icacls (private key of {thumbprint})"),
                "The system cannot find the file specified.",
            )),
        }
    }

    fn change(&mut self, object: &HostObject, change: &HostChange) -> Result<(), HostError> {
        match (object, change) {
            (HostObject::Site { name }, HostChange::Stop | HostChange::Start { .. }) => {
                let running = !matches!(change, HostChange::Stop);
                set_running(site(&mut self.sites, "SITE", name)?, "SITE", running)
            }
            (HostObject::AppPool { name }, HostChange::Stop | HostChange::Start { .. }) => {
                let running = !matches!(change, HostChange::Stop);
                set_running(
                    site(&mut self.app_pools, "APPPOOL", name)?,
                    "APPPOOL",
                    running,
                )
            }
            (HostObject::AppPool { name }, HostChange::Restart) => {
                site(&mut self.app_pools, "APPPOOL", name).map(|_| ())
            }
            (HostObject::Service { name }, HostChange::Stop | HostChange::Start { .. }) => {
                let running = !matches!(change, HostChange::Stop);
                set_service(service(self, name)?, running)
            }
            (HostObject::Service { name }, HostChange::Restart) => {
                let s = service(self, name)?;
                set_service(s, false)?;
                set_service(s, true)
            }
            (HostObject::SslBinding { host, port }, HostChange::Bind(binding)) => {
                add_binding(self, host, *port, binding)
            }
            (
                HostObject::CertificateKey {
                    thumbprint,
                    principal,
                    ..
                },
                HostChange::Grant { rights },
            ) => {
                self.key_exists(thumbprint)?;
                grant(&mut self.key_acls, thumbprint, principal, rights);
                Ok(())
            }
            (HostObject::FolderAcl { folder, principal }, HostChange::Grant { rights }) => {
                grant(&mut self.folder_acls, folder.as_str(), principal, rights);
                Ok(())
            }
            (HostObject::RegistryValue { key, name }, HostChange::SetValue { value }) => {
                set_value(self, key, name, Some(value));
                Ok(())
            }
            // iisreset: every site starts again if its auto-start says so; the sandbox keeps
            // each site's state, as hubup puts it back afterwards anyway.
            (HostObject::Iis, HostChange::RestartIis) => Ok(()),
            (object, change) => Err(refused(
                object.describe(),
                format!("the sandbox cannot do {change:?} to it"),
            )),
        }
    }

    fn restore(&mut self, object: &HostObject, state: &HostState) -> Result<(), HostError> {
        let current = self.observe(object)?;
        if &current == state {
            return Ok(());
        }
        match (object, state) {
            (HostObject::Site { .. } | HostObject::AppPool { .. }, HostState::Running(r))
            | (HostObject::Service { .. }, HostState::Service { running: r, .. }) => {
                let change = if *r {
                    HostChange::Start { stop_op: 0 }
                } else {
                    HostChange::Stop
                };
                self.change(object, &change)
            }
            (HostObject::SslBinding { host, port }, HostState::Binding(wanted)) => {
                if matches!(current, HostState::Binding(Some(_))) {
                    delete_binding(self, host, *port)?;
                }
                match wanted {
                    Some(b) => add_binding(self, host, *port, b),
                    None => Ok(()),
                }
            }
            (
                HostObject::CertificateKey {
                    thumbprint,
                    principal,
                    ..
                },
                HostState::Acl(entries),
            ) => restore_acl(&mut self.key_acls, object, thumbprint, principal, entries),
            (HostObject::FolderAcl { folder, principal }, HostState::Acl(entries)) => restore_acl(
                &mut self.folder_acls,
                object,
                folder.as_str(),
                principal,
                entries,
            ),
            (HostObject::RegistryValue { key, name }, HostState::Value(value)) => {
                set_value(self, key, name, value.as_deref());
                Ok(())
            }
            (HostObject::Iis, HostState::Sites(sites)) => {
                for (name, running) in sites {
                    let entry = site(&mut self.sites, "SITE", name)?;
                    entry.running = *running;
                }
                Ok(())
            }
            (object, state) => Err(HostError::CannotRestore {
                object: object.describe(),
                state: state.describe(),
                what: "the observed state does not belong to this kind of object".into(),
            }),
        }
    }
}

/// Puts a principal's explicit entries back as observed: `/remove:g`, then a `/grant` per
/// explicit allow entry. A deny entry cannot be put back this way.
fn restore_acl(
    list: &mut Vec<SandboxAce>,
    object: &HostObject,
    on: &str,
    principal: &str,
    entries: &[AclEntry],
) -> Result<(), HostError> {
    let mut grants = Vec::new();
    for entry in entries {
        if super::acl::is_inherited(entry) {
            continue;
        }
        match super::acl::grant_spec(entry) {
            Some(spec) => grants.push(spec),
            None => {
                return Err(HostError::CannotRestore {
                    object: object.describe(),
                    state: HostState::Acl(entries.to_vec()).describe(),
                    what: "a deny entry; put it back with icacls /deny".into(),
                });
            }
        }
    }
    remove_grants(list, on, principal);
    for spec in grants {
        grant(list, on, principal, &spec);
    }
    Ok(())
}

/// The command line the Windows adapter would run for a change, for `commands.log`.
fn command_text(object: &HostObject, change: &HostChange) -> String {
    match (object, change) {
        (HostObject::SslBinding { host, port }, HostChange::Bind(b)) => format!(
            "netsh http add sslcert hostnameport={host}:{port} certhash={} appid={} certstorename={}",
            b.thumbprint, b.app_id, b.store
        ),
        (
            HostObject::CertificateKey {
                thumbprint,
                principal,
                ..
            },
            HostChange::Grant { rights },
        ) => {
            format!("icacls <private key of {thumbprint}> /grant \"{principal}:{rights}\"")
        }
        (HostObject::FolderAcl { folder, principal }, HostChange::Grant { rights }) => {
            format!("icacls \"{folder}\" /grant \"{principal}:{rights}\"")
        }
        (HostObject::Site { name }, HostChange::Stop) => format!("appcmd stop site \"{name}\""),
        (HostObject::Site { name }, HostChange::Start { .. }) => {
            format!("appcmd start site \"{name}\"")
        }
        (HostObject::AppPool { name }, HostChange::Stop) => {
            format!("appcmd stop apppool \"{name}\"")
        }
        (HostObject::AppPool { name }, HostChange::Start { .. }) => {
            format!("appcmd start apppool \"{name}\"")
        }
        (HostObject::AppPool { name }, HostChange::Restart) => {
            format!("appcmd recycle apppool \"{name}\"")
        }
        (HostObject::Service { name }, HostChange::Stop) => format!("sc stop \"{name}\""),
        (HostObject::Service { name }, HostChange::Start { .. }) => format!("sc start \"{name}\""),
        (HostObject::Service { name }, HostChange::Restart) => {
            format!("Restart-Service \"{name}\"")
        }
        (HostObject::RegistryValue { key, name }, HostChange::SetValue { value }) => {
            format!("reg add \"{key}\" /v {name} /t REG_SZ /d \"{value}\" /f")
        }
        (HostObject::Iis, HostChange::RestartIis) => "iisreset /restart".to_string(),
        (object, change) => format!("{change:?} {}", object.describe()),
    }
}

impl HostAdapter for SandboxHost {
    fn describe(&self) -> String {
        format!("the sandbox machine {}", self.path.display())
    }

    fn certificates(&mut self) -> Result<Vec<Certificate>, HostError> {
        Ok(self.load()?.certificates)
    }

    fn service_installed(&mut self, name: &str) -> Result<bool, HostError> {
        Ok(self
            .load()?
            .services
            .iter()
            .any(|s| s.name.eq_ignore_ascii_case(name)))
    }

    fn resolve(&mut self, host: &str) -> Result<Vec<String>, HostError> {
        let machine = self.load()?;
        match machine
            .dns
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(host))
        {
            Some((_, addresses)) if !addresses.is_empty() => Ok(addresses.clone()),
            // What Windows' resolver answers (WSAHOST_NOT_FOUND).
            _ => Err(HostError::Refused {
                action: format!("resolve {host}"),
                answer: "No such host is known. (os error 11001)".into(),
            }),
        }
    }

    fn site_connections(&mut self, site: &str) -> Result<u64, HostError> {
        let machine = self.load()?;
        let Some(state) = machine
            .sites
            .iter()
            .find(|s| s.name.eq_ignore_ascii_case(site))
        else {
            // Get-Counter's answer for a site IIS does not have.
            return Err(HostError::Refused {
                action: format!("read the current connections of {site}"),
                answer: "Get-Counter : The specified instance is not present.".into(),
            });
        };
        // A stopped site serves no one.
        let connections = machine.site_connections.get(&state.name).copied();
        Ok(if state.running {
            connections.unwrap_or(0)
        } else {
            0
        })
    }

    fn runtimes(&mut self) -> Result<InstalledRuntimes, HostError> {
        Ok(InstalledRuntimes::parse(&self.load()?.runtimes.join("\n")))
    }

    fn observe(&mut self, object: &HostObject) -> Result<HostState, HostError> {
        self.load()?.observe(object)
    }

    fn change(&mut self, object: &HostObject, change: &HostChange) -> Result<(), HostError> {
        self.edit(command_text(object, change), |m| m.change(object, change))
    }

    fn restore(&mut self, object: &HostObject, state: &HostState) -> Result<(), HostError> {
        // As the Windows adapter: an object already in that state gets no command.
        if &self.load()?.observe(object)? == state {
            return Ok(());
        }
        let line = format!("restore {} to {}", object.describe(), state.describe());
        self.edit(line, |m| m.restore(object, state))
    }

    fn listing(&mut self, _scope: &HostScope) -> Result<Vec<(HostObject, HostState)>, HostError> {
        let machine = self.load()?;
        let mut out = Vec::new();
        for s in &machine.sites {
            out.push((
                HostObject::Site {
                    name: s.name.clone(),
                },
                HostState::Running(s.running),
            ));
        }
        for s in &machine.app_pools {
            out.push((
                HostObject::AppPool {
                    name: s.name.clone(),
                },
                HostState::Running(s.running),
            ));
        }
        for s in &machine.services {
            out.push((
                HostObject::Service {
                    name: s.name.clone(),
                },
                HostState::Service {
                    running: s.state == ServiceState::Running,
                    start_mode: s.start_mode.clone(),
                },
            ));
        }
        for b in &machine.bindings {
            out.push((
                HostObject::SslBinding {
                    host: b.host.clone(),
                    port: b.port,
                },
                HostState::Binding(Some(b.binding.clone())),
            ));
        }
        for a in &machine.key_acls {
            let certificate = machine
                .certificates
                .iter()
                .find(|c| c.thumbprint.eq_ignore_ascii_case(&a.on))
                .map(|c| c.friendly_name.clone())
                .unwrap_or_default();
            out.push((
                HostObject::CertificateKey {
                    thumbprint: a.on.clone(),
                    certificate,
                    principal: a.principal.clone(),
                },
                HostState::Acl(vec![AclEntry {
                    rights: a.rights.clone(),
                    deny: a.deny,
                }]),
            ));
        }
        for v in &machine.registry {
            out.push((
                HostObject::RegistryValue {
                    key: v.key.clone(),
                    name: v.name.clone(),
                },
                HostState::Value(Some(v.value.clone())),
            ));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const THUMB: &str = "1111111111111111111111111111111111111111";

    fn machine() -> SandboxMachine {
        SandboxMachine {
            format: SANDBOX_FORMAT,
            certificates: vec![Certificate {
                thumbprint: THUMB.into(),
                friendly_name: "Hub".into(),
                subject: "CN=hub.local".into(),
                dns_names: vec![],
                not_after: "2035-01-01T00:00:00Z".into(),
                has_private_key: true,
                key_file: None,
            }],
            sites: vec![SiteState {
                name: "Blue Prism - Hub".into(),
                running: false,
                implicit: false,
            }],
            services: vec![SandboxService {
                name: "Blue Prism - Log Service".into(),
                state: ServiceState::Running,
                start_mode: "Auto".into(),
                fail_stop: false,
            }],
            ..SandboxMachine::default()
        }
    }

    fn binding(thumbprint: &str) -> SslBinding {
        SslBinding {
            thumbprint: thumbprint.into(),
            app_id: super::super::IIS_APP_ID.into(),
            store: "MY".into(),
        }
    }

    #[test]
    fn bindings_answer_as_netsh_does() {
        let mut m = machine();
        let object = HostObject::SslBinding {
            host: "hub.local".into(),
            port: 443,
        };
        m.change(&object, &HostChange::Bind(binding(THUMB)))
            .unwrap();
        let err = m
            .change(&object, &HostChange::Bind(binding(THUMB)))
            .unwrap_err();
        assert!(err.to_string().contains("Error: 183"), "{err}");
        let other = HostObject::SslBinding {
            host: "lm.local".into(),
            port: 443,
        };
        let err = m
            .change(&other, &HostChange::Bind(binding(&"2".repeat(40))))
            .unwrap_err();
        assert!(err.to_string().contains("Error: 1312"), "{err}");
        m.restore(&object, &HostState::Binding(None)).unwrap();
        assert_eq!(m.observe(&object).unwrap(), HostState::Binding(None));
    }

    #[test]
    fn services_and_sites_answer_as_sc_and_appcmd_do() {
        let mut m = machine();
        let svc = HostObject::Service {
            name: "Blue Prism - Log Service".into(),
        };
        m.change(&svc, &HostChange::Stop).unwrap();
        let err = m.change(&svc, &HostChange::Stop).unwrap_err();
        assert!(err.to_string().contains("1062"), "{err}");
        let missing = HostObject::Service {
            name: "Nope".into(),
        };
        assert!(
            m.observe(&missing)
                .unwrap_err()
                .to_string()
                .contains("1060")
        );
        let site = HostObject::Site {
            name: "Blue Prism - Hub".into(),
        };
        let err = m.change(&site, &HostChange::Stop).unwrap_err();
        assert!(err.to_string().contains("80070426"), "{err}");
        m.restore(
            &svc,
            &HostState::Service {
                running: true,
                start_mode: "Auto".into(),
            },
        )
        .unwrap();
        assert!(matches!(
            m.observe(&svc).unwrap(),
            HostState::Service { running: true, .. }
        ));
    }

    #[test]
    fn an_acl_is_put_back_as_observed() {
        let mut m = machine();
        m.key_acls.push(SandboxAce {
            on: THUMB.into(),
            principal: r"CORP\svc-hub".into(),
            rights: "(R)".into(),
            deny: false,
        });
        let object = HostObject::CertificateKey {
            thumbprint: THUMB.into(),
            certificate: "Hub".into(),
            principal: r"CORP\svc-hub".into(),
        };
        let before = m.observe(&object).unwrap();
        m.change(&object, &HostChange::Grant { rights: "F".into() })
            .unwrap();
        assert_ne!(m.observe(&object).unwrap(), before);
        m.restore(&object, &before).unwrap();
        assert_eq!(m.observe(&object).unwrap(), before);
        let unknown = HostObject::CertificateKey {
            thumbprint: "3".repeat(40),
            certificate: "x".into(),
            principal: "p".into(),
        };
        assert!(
            m.change(&unknown, &HostChange::Grant { rights: "F".into() })
                .is_err()
        );
    }
}
