//! The command ops that bracket a step: stopping every site first; at the end, recording the
//! installed version, starting the sites and the guide's restarts (RabbitMQ, app pools, IIS).

use crate::apphost::{self, apphost_sites};
use crate::components::RABBITMQ_SERVICE;
use crate::op::*;

use super::{PlanError, Planner, render};

impl Planner<'_> {
    pub(super) fn stop_sites(&mut self) -> Result<(), PlanError> {
        let sites = apphost_sites(&self.before.apphost).map_err(|e| self.apphost_error(e))?;
        let templates = self.inputs.config.commands.clone();
        for site in sites {
            let values = [("site", site.name.as_str())];
            let mut op = self.command(
                CommandPurpose::StopSite {
                    site: site.name.clone(),
                },
                &templates.stop_site,
                &values,
            );
            op.undo = Some(render(&templates.start_site, &values));
            self.head.push(Op::Command(op));
        }
        Ok(())
    }

    /// Installed version, site starts and the guide's restarts.
    pub(super) fn finish(&mut self) -> Result<(), PlanError> {
        let templates = self.config().commands.clone();
        let version = self.step.to.to_string();
        self.body.push(Op::Command(self.command(
            CommandPurpose::SetInstalledVersion {
                version: self.step.to,
            },
            &templates.installed_version_set,
            &[("version", version.as_str())],
        )));
        let sites = apphost_sites(&self.after.apphost).map_err(|e| self.apphost_error(e))?;
        for site in &sites {
            if !site.auto_start {
                continue;
            }
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
        self.body.push(Op::Command(self.command(
            CommandPurpose::RestartService {
                service: RABBITMQ_SERVICE.to_string(),
            },
            &templates.service_restart,
            &[("service", RABBITMQ_SERVICE)],
        )));
        let pools = apphost::app_pools(&self.after.apphost).map_err(|e| self.apphost_error(e))?;
        for pool in pools {
            self.body.push(Op::Command(self.command(
                CommandPurpose::RecycleAppPool {
                    app_pool: pool.name.clone(),
                },
                &templates.app_pool_recycle,
                &[("app_pool", pool.name.as_str())],
            )));
        }
        self.body.push(Op::Command(self.command(
            CommandPurpose::RestartIis,
            &templates.iis_restart,
            &[],
        )));
        Ok(())
    }
}
