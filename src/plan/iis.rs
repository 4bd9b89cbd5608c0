//! IIS ops: site renames, new sites with their SSL bindings and, under Windows authentication,
//! their pool identities, certificate key access and folder permissions.

use crate::apphost::{self, AppHostEdit, NewSite, apphost_sites, apply_apphost_edit};
use crate::components::{self, Component};
use crate::digest::Digest;
use crate::host::{CertificateProblem, IIS_APP_ID, resolve_certificate};
use crate::op::*;
use crate::relpath::RelPath;
use crate::sql::DatabaseUsers;

use super::layout::Layout;
use super::{PlanError, Planner, render};

impl Planner<'_> {
    /// The Windows identity a component's app pool runs as, read from applicationHost.config
    /// (after this step's IIS edits, so new sites have their pools). A site this step adds
    /// but has not been planned yet (its databases come first) gets the identity
    /// [`Self::identity_source`] decides for it.
    pub(super) fn pool_identity_of(&self, component: Component) -> Result<String, PlanError> {
        let pool = self.pool_of(component)?;
        if let Some(identity) = &self.config().windows_auth.app_pool_identity {
            return Ok(identity.clone());
        }
        let pools = apphost::app_pools(&self.after.apphost).map_err(|e| self.apphost_error(e))?;
        let found = pools
            .into_iter()
            .find(|p| p.name.eq_ignore_ascii_case(&pool));
        Ok(match found {
            Some(found) => found
                .user_name
                .unwrap_or_else(|| format!("IIS APPPOOL\\{pool}")),
            None => match self.identity_source()? {
                Some((_, user)) => user,
                None => format!("IIS APPPOOL\\{pool}"),
            },
        })
    }

    /// Where a new site's pool gets its identity, decided once for the step: under Windows
    /// authentication with no `windows_auth.app_pool_identity` in the config, a Hub pool that
    /// runs as a domain account (`SpecificUser`) is the source, and the new pool gets that
    /// pool's identity and encrypted password as written (appcmd cannot set an account
    /// without its password, and hubup never reads it). `None`: the new pool runs as its own
    /// ApplicationPoolIdentity. Returns (source pool, account).
    fn identity_source(&self) -> Result<Option<(String, String)>, PlanError> {
        if self.inputs.databases.users != DatabaseUsers::AppPoolIdentities
            || self.config().windows_auth.app_pool_identity.is_some()
        {
            return Ok(None);
        }
        let hub_pool = self.pool_of(Component::Hub)?;
        let pools = apphost::app_pools(&self.before.apphost).map_err(|e| self.apphost_error(e))?;
        Ok(pools
            .into_iter()
            .find(|p| p.name.eq_ignore_ascii_case(&hub_pool))
            .filter(|p| {
                p.identity_type
                    .as_deref()
                    .is_some_and(|t| t.eq_ignore_ascii_case("SpecificUser"))
            })
            .and_then(|p| p.user_name.map(|user| (p.name, user))))
    }

    /// The app pool of a component's site: from applicationHost.config if the site is there
    /// (before or after this step's edits), else the name a new site gets.
    fn pool_of(&self, component: Component) -> Result<String, PlanError> {
        let info = components::info(component);
        for bytes in [&self.after.apphost, &self.before.apphost] {
            let sites = apphost_sites(bytes).map_err(|e| self.apphost_error(e))?;
            let site = sites.iter().find(|s| {
                s.name == info.site_before_4_3
                    || s.name == info.site_from_4_3
                    || s.name == self.config().site(component).name
            });
            if let Some(site) = site {
                return Ok(site.app_pool.clone());
            }
        }
        Ok(self.config().site(component).name)
    }

    pub(super) fn iis(&mut self, layout: &Layout) -> Result<(), PlanError> {
        for component in self.spec.site_renames {
            self.rename_site(*component, layout)?;
        }
        for component in self.spec.new_sites {
            self.add_site(*component, layout)?;
        }
        Ok(())
    }

    fn push_apphost_edit(&mut self, edit: AppHostEdit) -> Result<(), PlanError> {
        let current = self.after.apphost.clone();
        let edited = apply_apphost_edit(&current, &edit).map_err(|e| self.apphost_error(e))?;
        if edited == current {
            return Ok(());
        }
        self.body.push(Op::EditAppHost(EditAppHostOp {
            edit,
            before: Digest::of(&current),
            after: Digest::of(&edited),
        }));
        self.after.apphost = edited;
        Ok(())
    }

    fn rename_site(&mut self, component: Component, layout: &Layout) -> Result<(), PlanError> {
        let info = components::info(component);
        let sites = apphost_sites(&self.after.apphost).map_err(|e| self.apphost_error(e))?;
        let old_folder_suffix = format!("\\{}", info.folder_before_4_3).to_lowercase();
        let site = sites
            .iter()
            .find(|s| {
                s.physical_path.as_deref().is_some_and(|p| {
                    p.to_lowercase()
                        .trim_end_matches('\\')
                        .ends_with(&old_folder_suffix)
                })
            })
            .or_else(|| sites.iter().find(|s| s.name == info.site_before_4_3))
            .ok_or(PlanError::SiteNotFound {
                step: self.step,
                component: info.key,
                folder: info.folder_before_4_3.to_string(),
            })?;
        let new_folder = layout.folder_after(info.folder_from_4_3);
        let physical_path = site.physical_path.as_ref().and_then(|old| {
            let trimmed = old.trim_end_matches('\\');
            let prefix_len = trimmed.len().checked_sub(info.folder_before_4_3.len())?;
            let moved = new_folder != info.folder_before_4_3;
            moved.then(|| {
                (
                    old.clone(),
                    format!("{}{}", &trimmed[..prefix_len], new_folder),
                )
            })
        });
        let edit = AppHostEdit::RenameSite {
            from: site.name.clone(),
            to: self.config().site(component).name,
            physical_path,
        };
        self.push_apphost_edit(edit)
    }

    fn add_site(&mut self, component: Component, layout: &Layout) -> Result<(), PlanError> {
        let info = components::info(component);
        let site = self.config().site(component);
        let certificate = site
            .certificate
            .clone()
            .ok_or(PlanError::MissingCertificate {
                step: self.step,
                site: site.name.clone(),
                key: info.key,
            })?;
        let folder = layout.folder_after(info.folder_from_4_3);
        let new_site = NewSite {
            name: site.name.clone(),
            app_pool: site.name.clone(),
            physical_path: format!(
                "{}\\{}",
                self.config().iis_location().trim_end_matches('\\'),
                folder
            ),
            host: site.host.clone(),
            port: site.port,
            start: site.start,
        };
        apphost::validate_new_site(&new_site).map_err(|e| self.apphost_error(e))?;
        let edit = match self.identity_source()? {
            Some((pool, _)) => AppHostEdit::AddSiteWithPoolIdentity {
                site: new_site,
                identity_from_pool: pool,
            },
            None => AppHostEdit::AddSite(new_site),
        };
        self.push_apphost_edit(edit)?;

        let key = format!("sites.{}.certificate", info.key);
        let thumbprint = self.certificate(&key, &certificate, Some(&site.host))?;
        self.body.push(Op::Host(HostOp {
            object: HostObject::SslBinding {
                host: site.host.clone(),
                port: site.port,
            },
            change: HostChange::Bind(SslBinding {
                thumbprint,
                app_id: IIS_APP_ID.to_string(),
                store: "MY".to_string(),
            }),
        }));

        if self.inputs.databases.users == DatabaseUsers::AppPoolIdentities {
            self.windows_auth_for_new_site(component, &site.name, &folder)?;
        }
        Ok(())
    }

    /// The thumbprint of the certificate the config names at `key` (a thumbprint or a unique
    /// friendly name in LocalMachine\My), checked for expiry, its private key and, with a
    /// host, that it is for that host name.
    pub(super) fn certificate(
        &self,
        key: &str,
        name: &str,
        host: Option<&str>,
    ) -> Result<String, PlanError> {
        let problem = |problem: CertificateProblem| PlanError::Certificate {
            step: self.step,
            key: key.to_string(),
            problem: problem.to_string(),
        };
        let found = resolve_certificate(self.inputs.certificates, name).map_err(problem)?;
        if let Some(p) = found.problem_for(name, host, self.inputs.now_ms) {
            return Err(problem(p));
        }
        Ok(found.thumbprint.clone())
    }

    /// Full control of the BPC_SQL_CERTIFICATE's private key for `identity`, if it lacks it
    /// (observed when the op runs; undo puts back what the identity had).
    fn grant_sql_key(&mut self, thumbprint: &str, certificate: &str, identity: &str) {
        let op = Op::Host(HostOp {
            object: HostObject::CertificateKey {
                thumbprint: thumbprint.to_string(),
                certificate: certificate.to_string(),
                principal: identity.to_string(),
            },
            change: HostChange::Grant {
                rights: "F".to_string(),
            },
        });
        if !self.body.contains(&op) {
            self.body.push(op);
        }
    }

    /// The guide's step 13 for a new site under Windows authentication.
    fn windows_auth_for_new_site(
        &mut self,
        component: Component,
        pool: &str,
        folder: &str,
    ) -> Result<(), PlanError> {
        let templates = self.config().commands.clone();
        let configured = self.config().windows_auth.app_pool_identity.clone();
        let hub_identity = self.pool_identity_of(Component::Hub)?;
        // Copied with the site (`identity_source`), configured, or the pool's own.
        let identity = self.pool_identity_of(component)?;
        // Only a configured account is set by command (a managed service account, whose
        // password Windows keeps); a copied identity came with the site's pool.
        if configured.is_some() && !identity.starts_with("IIS APPPOOL\\") {
            let values = [("app_pool", pool), ("identity", identity.as_str())];
            let mut op = self.command(
                CommandPurpose::SetAppPoolIdentity {
                    app_pool: pool.to_string(),
                },
                &templates.app_pool_identity_set,
                &values,
            );
            op.undo = Some(render(&templates.app_pool_identity_reset, &values));
            self.body.push(Op::Command(op));
        }
        // The guide (4.2, step 13): the new pools' identity, and the Hub and IADA pools'
        // identities, need the SQL certificate's private key.
        let certificate = self.config().windows_auth.sql_certificate.clone();
        let thumbprint = self.certificate("windows_auth.sql_certificate", &certificate, None)?;
        let iada_identity = self.pool_identity_of(Component::Iada)?;
        for principal in [&identity, &hub_identity, &iada_identity] {
            self.grant_sql_key(&thumbprint, &certificate, principal);
        }

        let folder_path = format!(
            "{}\\{}",
            self.config().iis_location().trim_end_matches('\\'),
            folder
        );
        let values = [
            ("folder", folder_path.as_str()),
            ("identity", identity.as_str()),
        ];
        let mut acl = self.command(
            CommandPurpose::SetFolderAcl {
                folder: RelPath::new(folder)
                    .unwrap_or_else(|_| RelPath::new("unknown").expect("valid")),
                identity: identity.clone(),
            },
            &templates.folder_acl_grant,
            &values,
        );
        acl.undo = Some(render(&templates.folder_acl_revoke, &values));
        self.body.push(Op::Command(acl));
        Ok(())
    }
}
