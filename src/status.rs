//! What `hubup status` reports about an install, as typed data: the detected version and
//! components, the product-file digest, IIS's sites, the backup folders, the drift of the
//! product files from what the installed version ships, whether a run is unfinished, and the
//! machine outside the tree that hubup's host ops touch (the Blue Prism sites, pools and
//! services, the sites' SSL bindings, the installed-version registry value), each observed
//! now, with a digest of them all. Reads only; changes nothing. The CLI renders it as text or
//! JSON.
//!
//! Drift is defined here: the product files compared with the inventory of the package that
//! produced the installed version (`changed`: shipped, present, other content; `missing`:
//! shipped, absent; `extra`: present, not shipped and not a settings file). Settings files
//! are the administrator's and never drift.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::apphost::{self, AppHostError, Site};
use crate::config::Config;
use crate::digest::Digest;
use crate::host::{HostAdapter, host_adapter};
use crate::install::{
    self, BackupFolder, DetectError, DetectedInstall, ScanError, ScannedFile, digest_of_entries,
};
use crate::install_lock::{LOCK_FILE, install_lock_holder};
use crate::journal::{Journal, UnfinishedRun};
use crate::model::is_settings_file;
use crate::op::{HostObject, HostState};
use crate::package::{InventoryEntry, Package};
use crate::relpath::RelPath;
use crate::version::{Step, Version};

/// Where `status` looks: the install root, and optionally IIS's config and hubup's config
/// (which names the packages, for drift, and the journal, for an unfinished run).
#[derive(Clone, Copy, Debug)]
pub struct StatusSources<'a> {
    pub root: &'a Path,
    pub apphost: Option<&'a Path>,
    pub config: Option<&'a Config>,
}

/// Everything `status` reports.
#[derive(Debug)]
pub struct InstallStatus {
    pub root: PathBuf,
    /// The detected version and components, or why detection failed.
    pub detected: Result<DetectedInstall, DetectError>,
    pub product_files: usize,
    /// The install-tree digest (as `install::tree_digest` defines it).
    pub tree_digest: Digest,
    /// IIS's config, if one was given.
    pub apphost: Option<AppHostStatus>,
    /// The `backup_*` folders; `None` if they could not be listed.
    pub backups: Option<Vec<BackupFolder>>,
    pub drift: Drift,
    /// Whether a run is in progress (the install lock is held) or unfinished; `None` without
    /// a config when no hubup holds the install (no journal to look in).
    pub run: Option<RunStatus>,
    /// The machine outside the tree, with a config (which names the host adapter) and IIS's
    /// config.
    pub machine: Option<MachineStatus>,
}

/// The objects hubup's host ops touch, each as observed now (or why it could not be), and a
/// digest of them all: two statuses with the same digest saw the same machine state (an
/// auditor compares the one before a run with the one after it, or after a rollback).
#[derive(Debug)]
pub struct MachineStatus {
    pub objects: Vec<(HostObject, Result<HostState, String>)>,
    /// blake3 over each object and its state (or its error) in words, one per line, in order.
    pub digest: Digest,
}

/// IIS's `applicationHost.config`: its digest and the sites in it.
#[derive(Debug)]
pub struct AppHostStatus {
    pub digest: Digest,
    pub sites: Vec<Site>,
}

/// The product files against the inventory of the package that produced the installed
/// version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Drift {
    Checked {
        /// The package whose inventory was compared.
        against: PathBuf,
        /// Shipped and present, with other content.
        changed: Vec<RelPath>,
        /// Shipped and absent.
        missing: Vec<RelPath>,
        /// Present, not shipped, not a settings file.
        extra: Vec<RelPath>,
    },
    /// Drift could not be checked, and why (in words for the operator).
    NotChecked { reason: String },
}

/// What the journal says about runs.
#[derive(Debug)]
pub enum RunStatus {
    /// The journal holds no unfinished run (or there is no journal yet).
    NoneUnfinished,
    Unfinished(UnfinishedRun),
    /// Another hubup holds the journal: a run is in progress.
    InProgress {
        detail: String,
    },
    /// The journal could not be read (the error, in words).
    Unreadable {
        error: String,
    },
}

/// `status` could not read what it was pointed at. Nothing has changed.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error(transparent)]
    Scan(#[from] ScanError),
    #[error("cannot read {}: {source}", path.display())]
    ReadAppHost {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    ParseAppHost { path: PathBuf, source: AppHostError },
}

/// Reads the status of the install `sources` point at. A failure to read the product files
/// or IIS's config is an error; everything else that cannot be read (detection, backups,
/// drift, the journal) is reported in the status instead.
pub fn install_status(sources: StatusSources<'_>) -> Result<InstallStatus, StatusError> {
    let root = sources.root;
    let detected = install::detect(root);
    let files = install::scan_product_files(root)?;
    let tree_digest = digest_of_entries(files.iter().map(|f| (&f.path, f.size, f.digest)));
    let apphost = sources.apphost.map(read_apphost).transpose()?;
    let machine = match (sources.config, &apphost) {
        (Some(config), Some(apphost)) => Some(machine_status(config, &apphost.sites)),
        _ => None,
    };
    let drift = match (&detected, sources.config) {
        (Ok(found), Some(config)) => drift(config, found.version, &files),
        (Err(_), _) => Drift::NotChecked {
            reason: "the installed version is not known (see above)".into(),
        },
        (Ok(_), None) => Drift::NotChecked {
            reason: "needs a config (--config FILE) for the packages folder".into(),
        },
    };
    Ok(InstallStatus {
        root: root.to_path_buf(),
        detected,
        product_files: files.len(),
        tree_digest,
        apphost,
        backups: install::backup_folders(root).ok(),
        machine,
        drift,
        run: match install_lock_holder(root) {
            // Another hubup is changing the install, whatever journal it writes to.
            Ok(Some(holder)) => Some(RunStatus::InProgress {
                detail: format!(
                    "the install is being changed by another hubup ({holder}; from {})",
                    root.join(LOCK_FILE).display()
                ),
            }),
            Ok(None) | Err(_) => sources
                .config
                .map(|c| journal_run_status(&c.journal_path())),
        },
    })
}

fn read_apphost(path: &Path) -> Result<AppHostStatus, StatusError> {
    let bytes = std::fs::read(path).map_err(|source| StatusError::ReadAppHost {
        path: path.to_path_buf(),
        source,
    })?;
    let sites = apphost::apphost_sites(&bytes).map_err(|source| StatusError::ParseAppHost {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(AppHostStatus {
        digest: Digest::of(&bytes),
        sites,
    })
}

/// The drift of `files` from the inventory of the package that installed `version`.
fn drift(config: &Config, version: Version, files: &[ScannedFile]) -> Drift {
    let Some(step) = version.previous().and_then(Step::from_version) else {
        return Drift::NotChecked {
            reason: format!(
                "no package describes {version} (it is installed by the vendor's installer)"
            ),
        };
    };
    let path = config.package_path(step.to);
    match Package::read_manifest(&path, step) {
        Ok(manifest) => compare(path, &manifest.inventory, files),
        Err(e) => Drift::NotChecked {
            reason: e.to_string(),
        },
    }
}

/// Compares the product files with an inventory (see the module doc for the definition).
fn compare(against: PathBuf, inventory: &[InventoryEntry], files: &[ScannedFile]) -> Drift {
    let shipped: BTreeMap<&RelPath, Digest> =
        inventory.iter().map(|e| (&e.path, e.digest)).collect();
    let present: BTreeMap<&RelPath, Digest> = files.iter().map(|f| (&f.path, f.digest)).collect();
    let changed = shipped
        .iter()
        .filter(|(p, d)| present.get(*p).is_some_and(|found| found != *d))
        .map(|(p, _)| (*p).clone())
        .collect();
    let missing = shipped
        .keys()
        .filter(|p| !present.contains_key(*p))
        .map(|p| (*p).clone())
        .collect();
    let extra = present
        .keys()
        .filter(|p| !shipped.contains_key(*p) && !is_settings_file(p))
        .map(|p| (*p).clone())
        .collect();
    Drift::Checked {
        against,
        changed,
        missing,
        extra,
    }
}

/// What the journal at `journal` says about runs, without reading the install: `status`
/// asks it first, so it never reads files another hubup is replacing.
pub fn journal_run_status(journal: &Path) -> RunStatus {
    if !journal.exists() {
        return RunStatus::NoneUnfinished;
    }
    match Journal::open_read_only(journal).and_then(|j| j.unfinished_run()) {
        Ok(Some(run)) => RunStatus::Unfinished(run),
        Ok(None) => RunStatus::NoneUnfinished,
        Err(e) if e.is_busy() => RunStatus::InProgress {
            detail: e.to_string(),
        },
        Err(e) => RunStatus::Unreadable {
            error: e.to_string(),
        },
    }
}

/// The objects of the machine that hubup's host ops touch on this install, observed now
/// through the config's host adapter (read-only).
pub fn machine_status(config: &Config, sites: &[Site]) -> MachineStatus {
    let mut host = host_adapter(&config.host_setup());
    let mut objects = Vec::new();
    for site in sites.iter().filter(|s| config.is_blue_prism_site(s)) {
        objects.push(HostObject::Site {
            name: site.name.clone(),
        });
        objects.push(HostObject::AppPool {
            name: site.app_pool.clone(),
        });
        for binding in site.bindings.iter().filter(|b| b.protocol == "https") {
            if let Some((port, host_name)) = sni_binding(&binding.information) {
                objects.push(HostObject::SslBinding {
                    host: host_name,
                    port,
                });
            }
        }
    }
    let pools: Vec<&str> = sites
        .iter()
        .filter(|s| config.is_blue_prism_site(s))
        .map(|s| s.app_pool.as_str())
        .collect();
    objects.extend(sql_key_entries(config, host.as_mut(), &pools));
    objects.sort();
    objects.dedup();
    for name in crate::components::BLUE_PRISM_SERVICES {
        if host.service_installed(name).unwrap_or(true) {
            objects.push(HostObject::Service {
                name: name.to_string(),
            });
        }
    }
    objects.push(HostObject::RegistryValue {
        key: crate::components::INSTALLED_VERSION_KEY.to_string(),
        name: crate::components::INSTALLED_VERSION_VALUE.to_string(),
    });
    observe_all(host.as_mut(), objects)
}

/// The entries of each of `pools`' identities in the ACL of the SQL certificate's private key
/// (what Windows authentication grants). None when the certificate or applicationHost.config's
/// pools cannot be read: the rest of the status still reports.
fn sql_key_entries(config: &Config, host: &mut dyn HostAdapter, pools: &[&str]) -> Vec<HostObject> {
    let Ok(bytes) = std::fs::read(&config.install.apphost) else {
        return Vec::new();
    };
    let (Ok(all), Ok(certificates)) = (apphost::app_pools(&bytes), host.certificates()) else {
        return Vec::new();
    };
    let name = &config.windows_auth.sql_certificate;
    let Ok(certificate) = crate::host::resolve_certificate(&certificates, name) else {
        return Vec::new();
    };
    let default = apphost::default_pool_identity_type(&bytes)
        .unwrap_or_else(|_| "ApplicationPoolIdentity".to_string());
    all.iter()
        .filter(|p| pools.iter().any(|n| n.eq_ignore_ascii_case(&p.name)))
        .filter_map(|p| {
            let kind = p.identity_type.as_deref().unwrap_or(&default);
            apphost::pool_principal(&p.name, kind, p.user_name.as_deref())
        })
        .map(|principal| HostObject::CertificateKey {
            thumbprint: certificate.thumbprint.clone(),
            certificate: name.clone(),
            principal,
        })
        .collect()
}

/// `*:443:hub.local` -> (443, `hub.local`): an SNI binding's port and host name.
fn sni_binding(information: &str) -> Option<(u16, String)> {
    let mut parts = information.splitn(3, ':');
    let _address = parts.next()?;
    let port = parts.next()?.parse().ok()?;
    let host = parts.next().filter(|h| !h.is_empty())?;
    Some((port, host.to_string()))
}

fn observe_all(host: &mut dyn HostAdapter, objects: Vec<HostObject>) -> MachineStatus {
    let (objects, digest) = crate::host::observe_digest(host, objects);
    MachineStatus { objects, digest }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_sni_binding_gives_its_port_and_host_name_and_others_none() {
        assert_eq!(
            sni_binding("*:443:hub.local"),
            Some((443, "hub.local".into()))
        );
        assert_eq!(
            sni_binding("10.0.0.5:8443:lm.corp.example.com"),
            Some((8443, "lm.corp.example.com".into()))
        );
        assert_eq!(
            sni_binding("*:443:"),
            None,
            "no host name: not an SNI binding"
        );
        assert_eq!(sni_binding("*:x:hub.local"), None);
    }

    fn path(text: &str) -> RelPath {
        RelPath::new(text).unwrap()
    }

    fn scanned(text: &str, content: &[u8]) -> ScannedFile {
        ScannedFile {
            path: path(text),
            size: content.len() as u64,
            digest: Digest::of(content),
        }
    }

    fn shipped(text: &str, content: &[u8]) -> InventoryEntry {
        InventoryEntry {
            path: path(text),
            size: content.len() as u64,
            digest: Digest::of(content),
        }
    }

    #[test]
    fn drift_names_changed_missing_and_extra_files_but_never_settings_files() {
        let inventory = [
            shipped("Hub/a.dll", b"a"),
            shipped("Hub/b.dll", b"b"),
            shipped("Hub/c.dll", b"c"),
        ];
        let files = [
            scanned("Hub/a.dll", b"a"),
            scanned("Hub/b.dll", b"changed"),
            scanned("Hub/extra.dll", b"x"),
            scanned("Hub/appsettings.json", b"{}"),
        ];
        let drift = compare(PathBuf::from("p.bin"), &inventory, &files);
        assert_eq!(
            drift,
            Drift::Checked {
                against: PathBuf::from("p.bin"),
                changed: vec![path("Hub/b.dll")],
                missing: vec![path("Hub/c.dll")],
                extra: vec![path("Hub/extra.dll")],
            }
        );
    }

    #[test]
    fn an_install_matching_its_inventory_has_no_drift() {
        let inventory = [shipped("Hub/a.dll", b"a")];
        let files = [scanned("Hub/a.dll", b"a")];
        let Drift::Checked {
            changed,
            missing,
            extra,
            ..
        } = compare(PathBuf::new(), &inventory, &files)
        else {
            panic!("checked");
        };
        assert!(changed.is_empty() && missing.is_empty() && extra.is_empty());
    }
}
