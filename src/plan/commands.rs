//! The ops that bracket a step: first stopping Blue Prism's sites, app pools and Windows
//! services (files in use cannot be replaced); at the end, recording the installed version
//! (the registry value, an observed host op), starting again what was running, the new
//! sites, and the guide's restarts.
//!
//! Only Blue Prism's own sites and pools are touched: a site of a component (by its names
//! before and after the 4.3 renames, or the config's) or with its files under the install
//! location, and those sites' pools. Sites, pools and services are host ops: each stop
//! observes whether the object ran, and its start (`HostChange::Start { stop_op }`) runs only
//! if it did, so what an administrator had stopped stays stopped, and undo puts back what was
//! observed. Only a site the step adds is started by a command (`start_site`).

use std::collections::BTreeSet;

use crate::apphost::{Site, apphost_sites};
use crate::components::{INSTALLED_VERSION_KEY, INSTALLED_VERSION_VALUE, RABBITMQ_SERVICE};
use crate::op::*;

use crate::version::Version;

use super::{PlanError, Planner, render};

/// What the run's end reminds the administrator of when the broker runs on `server`.
pub fn broker_reminder(server: &str) -> String {
    format!(
        "the message broker runs on {server}: restart the RabbitMQ service there (the guide's \
         step; hubup restarts it only when it runs on this machine)"
    )
}

impl Planner<'_> {
    /// The head of the step: stop the Blue Prism sites, then their pools, then the Blue Prism
    /// services (host ops, each observing what it stops).
    pub(super) fn stop_sites(&mut self) -> Result<(), PlanError> {
        let sites = self.blue_prism_sites(&self.before.apphost)?;
        for site in &sites {
            self.head.push(Op::Host(HostOp {
                object: HostObject::Site {
                    name: site.name.clone(),
                },
                change: HostChange::Stop,
            }));
        }
        let pools: BTreeSet<String> = sites.iter().map(|s| s.app_pool.clone()).collect();
        for pool in pools {
            self.head.push(Op::Host(HostOp {
                object: HostObject::AppPool { name: pool },
                change: HostChange::Stop,
            }));
        }
        for service in self.inputs.services {
            self.head.push(Op::Host(HostOp {
                object: HostObject::Service {
                    name: service.clone(),
                },
                change: HostChange::Stop,
            }));
        }
        Ok(())
    }

    /// The sites of `apphost` that are Blue Prism's.
    fn blue_prism_sites(&self, apphost: &[u8]) -> Result<Vec<Site>, PlanError> {
        let sites = apphost_sites(apphost).map_err(|e| self.apphost_error(e))?;
        Ok(sites
            .into_iter()
            .filter(|s| self.config().is_blue_prism_site(s))
            .collect())
    }

    /// Installed version, starts and the guide's restarts.
    pub(super) fn finish(&mut self) -> Result<(), PlanError> {
        let templates = self.config().commands.clone();
        // An observed op: undo puts back the value that was there (or none).
        self.body.push(Op::Host(HostOp {
            object: HostObject::RegistryValue {
                key: INSTALLED_VERSION_KEY.to_string(),
                name: INSTALLED_VERSION_VALUE.to_string(),
            },
            change: HostChange::SetValue {
                value: self.step.to.to_string(),
            },
        }));
        // Pools first (a site whose pool is stopped answers 503), then the sites, then the
        // services.
        self.start_stopped(|o| matches!(o, HostObject::AppPool { .. }));
        self.start_sites(&templates)?;
        self.start_stopped(|o| matches!(o, HostObject::Service { .. }));
        self.restart_broker(&templates);
        if self.config().host.restart_iis {
            self.body.push(Op::Host(HostOp {
                object: HostObject::Iis,
                change: HostChange::RestartIis,
            }));
        }
        Ok(())
    }

    /// The guide's "Restart the RabbitMQ Service": in the steps from 4.1 on (4.0 -> 4.1 does
    /// not ask for it), and only where the broker runs on this machine; on another server it
    /// is left to the administrator, and the run's end names that server.
    fn restart_broker(&mut self, templates: &crate::host::CommandTemplates) {
        if self.step.from < Version::V4_1 {
            return;
        }
        if let Some(server) = self.config().rabbitmq.remote_host() {
            self.notes.push(broker_reminder(&server));
            return;
        }
        self.body.push(Op::Command(self.command(
            CommandPurpose::RestartService {
                service: RABBITMQ_SERVICE.to_string(),
            },
            &templates.service_restart,
            &[("service", RABBITMQ_SERVICE)],
        )));
    }

    /// Each Blue Prism site of the step's result: started again if the head's stop of that
    /// site (the same IIS site id, so a site the 4.3 renames gave a new name counts as the
    /// same site) found it running; a site the step adds is started if IIS would start it
    /// (`serverAutoStart`), by the config's `start_site` command, whose undo is `stop_site`.
    fn start_sites(&mut self, templates: &crate::host::CommandTemplates) -> Result<(), PlanError> {
        let before = self.blue_prism_sites(&self.before.apphost)?;
        for site in self.blue_prism_sites(&self.after.apphost)? {
            let was = before.iter().find(|b| match (b.id, site.id) {
                (Some(a), Some(b)) => a == b,
                _ => b.name.eq_ignore_ascii_case(&site.name),
            });
            let renamed = was.is_some_and(|was| !was.name.eq_ignore_ascii_case(&site.name));
            match was.and_then(|was| self.stop_op_of(&was.name)) {
                Some(stop_op) => {
                    let object = HostObject::Site { name: site.name };
                    if renamed {
                        // Under its new name the site may run already (IIS may start a site
                        // whose config changed): stopped first, it ends as its old name was.
                        self.body.push(Op::Host(HostOp {
                            object: object.clone(),
                            change: HostChange::Stop,
                        }));
                    }
                    self.body.push(Op::Host(HostOp {
                        object,
                        change: HostChange::Start { stop_op },
                    }));
                }
                None if site.auto_start => {
                    let values = [("site", site.name.as_str())];
                    let mut op = self.command(
                        CommandPurpose::StartSite {
                            site: site.name.clone(),
                        },
                        &templates.start_site,
                        &values,
                    );
                    op.undo = Some(render(&templates.stop_site, &values));
                    self.body.push(Op::Command(op));
                }
                None => {}
            }
        }
        Ok(())
    }

    /// The index of the head's stop of the site named `name`.
    fn stop_op_of(&self, name: &str) -> Option<u32> {
        self.head
            .iter()
            .position(|op| {
                matches!(op, Op::Host(HostOp {
                object: HostObject::Site { name: n },
                change: HostChange::Stop,
            }) if n.eq_ignore_ascii_case(name))
            })
            .map(|i| i as u32)
    }

    /// A start, for each object of `kind` the head stops, that runs only if its stop found
    /// it running.
    fn start_stopped(&mut self, kind: impl Fn(&HostObject) -> bool) {
        let starts: Vec<Op> = self
            .head
            .iter()
            .enumerate()
            .filter_map(|(index, op)| match op {
                Op::Host(HostOp {
                    object,
                    change: HostChange::Stop,
                }) if kind(object) => Some(Op::Host(HostOp {
                    object: object.clone(),
                    change: HostChange::Start {
                        stop_op: index as u32,
                    },
                })),
                _ => None,
            })
            .collect();
        self.body.extend(starts);
    }
}
