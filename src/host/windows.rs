//! The Windows adapter: the real tools of the server, run from the config's `[commands]`
//! templates without a shell (appcmd for sites and pools, sc for services, netsh for http.sys
//! bindings, icacls for key and folder ACLs, reg for the registry, Windows PowerShell for the
//! certificate store), their output read by `parse.rs`.
//!
//! Every value put into a template must be [`plain`]; anything else is refused before a
//! command runs. A service is waited for (`sc queryex` until it leaves its pending state)
//! for at most `[host] service_timeout_secs`.

mod parse;

use std::time::{Duration, Instant};

use crate::op::{AclEntry, CommandLine, HostChange, HostObject, HostState};

use super::certificates::Certificate;
use super::commands::{CommandTemplates, IIS_APP_ID, Template, plain, render};
use super::{HostAdapter, HostError, HostScope, HostSetup, InstalledRuntimes};

/// The real tools of this server.
pub struct WindowsHost {
    commands: CommandTemplates,
    iis_location: String,
    timeout: Duration,
    certificates: Option<Vec<Certificate>>,
}

/// A finished command: whether it exited 0, and its output (stdout then stderr).
struct Ran {
    success: bool,
    output: String,
}

fn line_text(line: &CommandLine) -> String {
    crate::op::command_line_text(line)
}

impl WindowsHost {
    pub fn new(setup: &HostSetup<'_>) -> WindowsHost {
        WindowsHost {
            commands: setup.commands.clone(),
            iis_location: setup.iis_location.trim_end_matches('\\').to_string(),
            timeout: Duration::from_secs(setup.host.service_timeout_secs),
            certificates: None,
        }
    }

    fn run(&self, template: &Template, values: &[(&str, &str)]) -> Result<Ran, HostError> {
        for (what, value) in values {
            if !plain(value) {
                return Err(HostError::UnsafeValue {
                    what: placeholder_name(what),
                    value: value.to_string(),
                });
            }
        }
        let line = render(template, values);
        tracing::info!(target: "hubup::command", "{}", line_text(&line));
        let output =
            crate::process::output(&line.program, &line.args).map_err(|e| HostError::Spawn {
                program: line.program.clone(),
                problem: e.to_string(),
            })?;
        let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stderr));
        Ok(Ran {
            success: output.status.success(),
            output: text,
        })
    }

    /// Runs a change: an error with the tool's answer unless it exits 0.
    fn must(&self, template: &Template, values: &[(&str, &str)]) -> Result<(), HostError> {
        let ran = self.run(template, values)?;
        if ran.success {
            return Ok(());
        }
        Err(HostError::Refused {
            action: line_text(&render(template, values)),
            answer: tail(&ran.output),
        })
    }

    fn unreadable(
        template: &Template,
        values: &[(&str, &str)],
        problem: String,
        output: &str,
    ) -> HostError {
        HostError::Unreadable {
            action: line_text(&render(template, values)),
            problem,
            output: tail(output),
        }
    }

    fn key_file(&mut self, thumbprint: &str) -> Result<String, HostError> {
        let certificates = self.certificates()?;
        certificates
            .iter()
            .find(|c| c.thumbprint.eq_ignore_ascii_case(thumbprint))
            .and_then(|c| c.key_file.clone())
            .ok_or_else(|| HostError::Refused {
                action: format!("find the private key of certificate {thumbprint}"),
                answer: "the certificate or its private key file is not in LocalMachine\\My".into(),
            })
    }

    fn folder_path(&self, folder: &crate::relpath::RelPath) -> String {
        format!(
            "{}\\{}",
            self.iis_location,
            folder.as_str().replace('/', "\\")
        )
    }

    fn acl_of(
        &mut self,
        path: &str,
        principal: &str,
        show: &Template,
        key: &str,
    ) -> Result<Vec<AclEntry>, HostError> {
        let values = [(key, path)];
        let ran = self.run(show, &values)?;
        if !ran.success {
            return Err(HostError::Refused {
                action: line_text(&render(show, &values)),
                answer: tail(&ran.output),
            });
        }
        Ok(parse::icacls_entries(&ran.output, path, principal))
    }

    fn service_running(&self, name: &str) -> Result<(bool, bool), HostError> {
        let values = [("service", name)];
        let ran = self.run(&self.commands.service_state, &values)?;
        if !ran.success {
            return Err(HostError::Refused {
                action: line_text(&render(&self.commands.service_state, &values)),
                answer: tail(&ran.output),
            });
        }
        let running = parse::service_running(&ran.output)
            .map_err(|p| Self::unreadable(&self.commands.service_state, &values, p, &ran.output))?;
        Ok((running, parse::service_settled(&ran.output)))
    }

    fn wait_service(&self, name: &str, running: bool) -> Result<(), HostError> {
        let start = Instant::now();
        loop {
            let (now, settled) = self.service_running(name)?;
            if settled && now == running {
                return Ok(());
            }
            if start.elapsed() >= self.timeout {
                return Err(HostError::Timeout {
                    object: format!("service {name:?}"),
                    wanted: if running { "running" } else { "stopped" },
                    secs: self.timeout.as_secs(),
                });
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn set_running(&mut self, object: &HostObject, running: bool) -> Result<(), HostError> {
        let c = self.commands.clone();
        match object {
            HostObject::Site { name } => {
                let t = if running { &c.start_site } else { &c.stop_site };
                self.must(t, &[("site", name)])
            }
            HostObject::AppPool { name } => {
                let t = if running {
                    &c.app_pool_start
                } else {
                    &c.app_pool_stop
                };
                self.must(t, &[("app_pool", name)])
            }
            HostObject::Service { name } => {
                let t = if running {
                    &c.service_start
                } else {
                    &c.service_stop
                };
                self.must(t, &[("service", name)])?;
                self.wait_service(name, running)
            }
            other => Err(HostError::CannotRestore {
                object: other.describe(),
                state: if running { "running" } else { "stopped" }.into(),
                what: "it has no run state".into(),
            }),
        }
    }

    fn put_acl(
        &mut self,
        object: &HostObject,
        path: &str,
        principal: &str,
        entries: &[AclEntry],
        key_file: bool,
    ) -> Result<(), HostError> {
        let c = self.commands.clone();
        let (revoke, grant, key) = if key_file {
            (&c.key_acl_revoke, &c.key_acl_grant, "file")
        } else {
            (&c.folder_acl_revoke, &c.folder_acl_put, "folder")
        };
        let mut grants = Vec::new();
        for entry in entries.iter().filter(|e| !super::acl::is_inherited(e)) {
            grants.push(
                super::acl::grant_spec(entry).ok_or_else(|| HostError::CannotRestore {
                    object: object.describe(),
                    state: HostState::Acl(entries.to_vec()).describe(),
                    what: "a deny entry; put it back with icacls /deny".into(),
                })?,
            );
        }
        self.must(revoke, &[(key, path), ("identity", principal)])?;
        for spec in grants {
            self.must(
                grant,
                &[
                    (key, path),
                    ("identity", principal),
                    ("rights", spec.as_str()),
                ],
            )?;
        }
        Ok(())
    }

    fn bind(
        &self,
        host: &str,
        port: u16,
        binding: &crate::op::SslBinding,
    ) -> Result<(), HostError> {
        let port = port.to_string();
        let template = if binding.app_id == IIS_APP_ID && binding.store.eq_ignore_ascii_case("MY") {
            &self.commands.ssl_binding_add
        } else {
            &self.commands.ssl_binding_restore
        };
        self.must(
            template,
            &[
                ("host", host),
                ("port", port.as_str()),
                ("certificate", binding.thumbprint.as_str()),
                ("appid", binding.app_id.as_str()),
                ("store", binding.store.as_str()),
            ],
        )
    }
}

/// The static name of a placeholder, for errors.
fn placeholder_name(name: &str) -> &'static str {
    super::commands::PLACEHOLDERS
        .iter()
        .find(|p| **p == name)
        .copied()
        .unwrap_or("value")
}

fn tail(output: &str) -> String {
    let lines: Vec<&str> = output
        .trim()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let start = lines.len().saturating_sub(5);
    lines[start..].join(" | ")
}

impl HostAdapter for WindowsHost {
    fn describe(&self) -> String {
        "this server".into()
    }

    fn certificates(&mut self) -> Result<Vec<Certificate>, HostError> {
        if let Some(list) = &self.certificates {
            return Ok(list.clone());
        }
        let template = self.commands.certificate_list.clone();
        let ran = self.run(&template, &[])?;
        if !ran.success {
            return Err(HostError::Refused {
                action: "list the certificates of LocalMachine\\My".into(),
                answer: tail(&ran.output),
            });
        }
        let list = parse::certificates(&ran.output)
            .map_err(|p| Self::unreadable(&template, &[], p, &ran.output))?;
        self.certificates = Some(list.clone());
        Ok(list)
    }

    fn service_installed(&mut self, name: &str) -> Result<bool, HostError> {
        let ran = self.run(&self.commands.service_state, &[("service", name)])?;
        Ok(ran.success)
    }

    fn resolve(&mut self, host: &str) -> Result<Vec<String>, HostError> {
        use std::net::ToSocketAddrs;
        tracing::info!(target: "hubup::command", "resolve {host}");
        let addresses = (host, 443)
            .to_socket_addrs()
            .map_err(|e| HostError::Refused {
                action: format!("resolve {host}"),
                answer: e.to_string(),
            })?;
        let mut found: Vec<String> = addresses.map(|a| a.ip().to_string()).collect();
        found.dedup();
        Ok(found)
    }

    fn site_connections(&mut self, site: &str) -> Result<u64, HostError> {
        let template = &self.commands.site_connections;
        let values = [("site", site)];
        let ran = self.run(template, &values)?;
        if !ran.success {
            return Err(HostError::Refused {
                action: format!("read the current connections of {site}"),
                answer: ran.output.trim().to_string(),
            });
        }
        parse::counter_value(&ran.output)
            .map_err(|p| Self::unreadable(template, &values, p, &ran.output))
    }

    fn runtimes(&mut self) -> Result<InstalledRuntimes, HostError> {
        let ran = self.run(&self.commands.runtime_list, &[])?;
        if !ran.success {
            return Err(HostError::Refused {
                action: "list the .NET runtimes".into(),
                answer: ran.output.trim().to_string(),
            });
        }
        Ok(InstalledRuntimes::parse(&ran.output))
    }

    fn observe(&mut self, object: &HostObject) -> Result<HostState, HostError> {
        let c = self.commands.clone();
        match object {
            HostObject::Site { name } | HostObject::AppPool { name } => {
                let (template, key) = match object {
                    HostObject::Site { .. } => (&c.site_state, "site"),
                    _ => (&c.app_pool_state, "app_pool"),
                };
                let values = [(key, name.as_str())];
                let ran = self.run(template, &values)?;
                let started = parse::appcmd_started(&ran.output)
                    .map_err(|p| Self::unreadable(template, &values, p, &ran.output))?;
                Ok(HostState::Running(started))
            }
            HostObject::Service { name } => {
                let (running, _) = self.service_running(name)?;
                let values = [("service", name.as_str())];
                let ran = self.run(&c.service_config, &values)?;
                let start_mode = parse::service_start_mode(&ran.output)
                    .map_err(|p| Self::unreadable(&c.service_config, &values, p, &ran.output))?;
                Ok(HostState::Service {
                    running,
                    start_mode,
                })
            }
            HostObject::SslBinding { host, port } => {
                let port = port.to_string();
                let values = [("host", host.as_str()), ("port", port.as_str())];
                let ran = self.run(&c.ssl_binding_check, &values)?;
                let binding = parse::ssl_binding(&ran.output)
                    .map_err(|p| Self::unreadable(&c.ssl_binding_check, &values, p, &ran.output))?;
                Ok(HostState::Binding(binding))
            }
            HostObject::CertificateKey {
                thumbprint,
                principal,
                ..
            } => {
                let file = self.key_file(thumbprint)?;
                Ok(HostState::Acl(self.acl_of(
                    &file,
                    principal,
                    &c.key_acl_show,
                    "file",
                )?))
            }
            HostObject::FolderAcl { folder, principal } => {
                let path = self.folder_path(folder);
                if !std::path::Path::new(&path).exists() {
                    return Ok(HostState::Acl(Vec::new()));
                }
                Ok(HostState::Acl(self.acl_of(
                    &path,
                    principal,
                    &c.folder_acl_show,
                    "folder",
                )?))
            }
            HostObject::RegistryValue { key, name } => {
                let ran = self.run(&c.registry_show, &[("key", key), ("name", name)])?;
                Ok(HostState::Value(if ran.success {
                    parse::reg_value(&ran.output, name)
                } else {
                    None
                }))
            }
            HostObject::Iis => {
                let ran = self.run(&c.site_list, &[])?;
                let sites = parse::appcmd_sites(&ran.output)
                    .map_err(|p| Self::unreadable(&c.site_list, &[], p, &ran.output))?;
                Ok(HostState::Sites(sites))
            }
        }
    }

    fn change(&mut self, object: &HostObject, change: &HostChange) -> Result<(), HostError> {
        let c = self.commands.clone();
        match (object, change) {
            (_, HostChange::Stop) => self.set_running(object, false),
            (_, HostChange::Start { .. }) => self.set_running(object, true),
            (HostObject::AppPool { name }, HostChange::Restart) => {
                self.must(&c.app_pool_recycle, &[("app_pool", name)])
            }
            (HostObject::Service { name }, HostChange::Restart) => {
                self.must(&c.service_restart, &[("service", name)])
            }
            (HostObject::SslBinding { host, port }, HostChange::Bind(binding)) => {
                self.bind(host, *port, binding)
            }
            (
                HostObject::CertificateKey {
                    thumbprint,
                    principal,
                    ..
                },
                HostChange::Grant { rights },
            ) => {
                let file = self.key_file(thumbprint)?;
                self.must(
                    &c.key_acl_grant,
                    &[
                        ("file", file.as_str()),
                        ("identity", principal),
                        ("rights", rights),
                    ],
                )
            }
            (HostObject::FolderAcl { folder, principal }, HostChange::Grant { rights }) => {
                let path = self.folder_path(folder);
                self.must(
                    &c.folder_acl_put,
                    &[
                        ("folder", path.as_str()),
                        ("identity", principal),
                        ("rights", rights),
                    ],
                )
            }
            (HostObject::RegistryValue { key, name }, HostChange::SetValue { value }) => self.must(
                &c.registry_set,
                &[("key", key), ("name", name), ("value", value)],
            ),
            (HostObject::Iis, HostChange::RestartIis) => self.must(&c.iis_restart, &[]),
            (object, change) => Err(HostError::Refused {
                action: object.describe(),
                answer: format!("no tool does {change:?} to it"),
            }),
        }
    }

    fn restore(&mut self, object: &HostObject, state: &HostState) -> Result<(), HostError> {
        let current = self.observe(object)?;
        if &current == state {
            return Ok(());
        }
        let c = self.commands.clone();
        match (object, state) {
            (HostObject::Site { .. } | HostObject::AppPool { .. }, HostState::Running(r))
            | (HostObject::Service { .. }, HostState::Service { running: r, .. }) => {
                self.set_running(object, *r)
            }
            (HostObject::SslBinding { host, port }, HostState::Binding(wanted)) => {
                if matches!(current, HostState::Binding(Some(_))) {
                    let port_text = port.to_string();
                    self.must(
                        &c.ssl_binding_remove,
                        &[("host", host.as_str()), ("port", port_text.as_str())],
                    )?;
                }
                match wanted {
                    Some(b) => self.bind(host, *port, b),
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
            ) => {
                let file = self.key_file(thumbprint)?;
                self.put_acl(object, &file, principal, entries, true)
            }
            (HostObject::FolderAcl { folder, principal }, HostState::Acl(entries)) => {
                let path = self.folder_path(folder);
                self.put_acl(object, &path, principal, entries, false)
            }
            (HostObject::RegistryValue { key, name }, HostState::Value(value)) => match value {
                Some(v) => self.must(
                    &c.registry_set,
                    &[("key", key), ("name", name), ("value", v)],
                ),
                None => self.must(&c.registry_delete, &[("key", key), ("name", name)]),
            },
            (HostObject::Iis, HostState::Sites(sites)) => {
                for (name, running) in sites {
                    let site = HostObject::Site { name: name.clone() };
                    if self.observe(&site)? != HostState::Running(*running) {
                        self.set_running(&site, *running)?;
                    }
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

    fn listing(&mut self, scope: &HostScope) -> Result<Vec<(HostObject, HostState)>, HostError> {
        let mut out = Vec::new();
        for object in &scope.objects {
            out.push((object.clone(), self.observe(object)?));
        }
        Ok(out)
    }
}
