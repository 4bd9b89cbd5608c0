//! The components of a Hub and Interact install (DOMAIN.md's table): each one's IIS site name,
//! folder, default host name and database, per version. The catalog, the planner and the
//! config defaults read these facts here and nowhere else.

use serde::{Deserialize, Serialize};

use crate::version::Version;

/// A web component of Hub or Interact, with its own IIS site and folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Component {
    AuthenticationServer,
    Hub,
    EmailService,
    AuditService,
    FileService,
    SignalR,
    LicenseManager,
    NotificationCenter,
    Interact,
    Iada,
    InteractRemoteApi,
}

/// Facts about one component. Names are the vendor's defaults; the config may override site
/// names and host names.
#[derive(Clone, Copy, Debug)]
pub struct ComponentInfo {
    pub component: Component,
    /// Key used in config files (`[sites.<key>]`).
    pub key: &'static str,
    /// First version that has it.
    pub since: Version,
    /// Site name before and after the 4.3 renames (equal for most components).
    pub site_before_4_3: &'static str,
    pub site_from_4_3: &'static str,
    /// Folder name before and after the 4.3 renames.
    pub folder_before_4_3: &'static str,
    pub folder_from_4_3: &'static str,
    /// Default host name (lowercase; only its `.local` part may be changed).
    pub host: &'static str,
    /// Default database name, if the component has one, and the version that created it.
    pub database: Option<(&'static str, Version)>,
}

impl ComponentInfo {
    /// The IIS site name at `version`.
    pub fn site_name(&self, version: Version) -> &'static str {
        if version >= Version::V4_3 {
            self.site_from_4_3
        } else {
            self.site_before_4_3
        }
    }

    /// The folder name at `version`.
    pub fn folder(&self, version: Version) -> &'static str {
        if version >= Version::V4_3 {
            self.folder_from_4_3
        } else {
            self.folder_before_4_3
        }
    }

    /// True if the component exists at `version`.
    pub fn exists_at(&self, version: Version) -> bool {
        version >= self.since
    }
}

const fn same(
    component: Component,
    key: &'static str,
    since: Version,
    name: &'static str,
    folder: &'static str,
    host: &'static str,
    database: Option<(&'static str, Version)>,
) -> ComponentInfo {
    ComponentInfo {
        component,
        key,
        since,
        site_before_4_3: name,
        site_from_4_3: name,
        folder_before_4_3: folder,
        folder_from_4_3: folder,
        host,
        database,
    }
}

/// Every component, in the order the vendor lists them.
pub const COMPONENTS: [ComponentInfo; 11] = [
    ComponentInfo {
        component: Component::AuthenticationServer,
        key: "authentication_server",
        since: Version::V4_0,
        site_before_4_3: "Blue Prism - IMS",
        site_from_4_3: "Blue Prism - Authentication Server",
        folder_before_4_3: "IMS",
        folder_from_4_3: "Authentication Server",
        // The URL stays ims.local after the rename (the guide).
        host: "ims.local",
        database: Some(("ImsDB", Version::V4_0)),
    },
    same(
        Component::Hub,
        "hub",
        Version::V4_0,
        "Blue Prism - Hub",
        "Hub",
        "hub.local",
        Some(("HubDB", Version::V4_0)),
    ),
    ComponentInfo {
        component: Component::EmailService,
        key: "email_service",
        since: Version::V4_0,
        site_before_4_3: "Blue Prism - Email Sender",
        site_from_4_3: "Blue Prism - Email Service",
        folder_before_4_3: "Email Sender",
        folder_from_4_3: "Email Service",
        host: "email.local",
        database: Some(("EmailServiceDB", Version::V4_3)),
    },
    same(
        Component::AuditService,
        "audit_service",
        Version::V4_0,
        "Blue Prism - Audit Service",
        "Audit Service",
        "audit.local",
        Some(("AuditDB", Version::V4_0)),
    ),
    same(
        Component::FileService,
        "file_service",
        Version::V4_0,
        "Blue Prism - File Service",
        "File Service",
        "file.local",
        Some(("FileServiceDB", Version::V4_0)),
    ),
    same(
        Component::SignalR,
        "signalr",
        Version::V4_0,
        "Blue Prism - SignalR",
        "SignalR",
        "signalr.local",
        None,
    ),
    same(
        Component::LicenseManager,
        "license_manager",
        Version::V4_2,
        "Blue Prism - License Manager",
        "License Manager",
        "licensemanager.local",
        Some(("LicenseManagerDB", Version::V4_2)),
    ),
    same(
        Component::NotificationCenter,
        "notification_center",
        Version::V4_2,
        "Blue Prism - Notification Center",
        "Notification Center",
        "notificationcenter.local",
        Some(("NotificationCenterDB", Version::V4_2)),
    ),
    same(
        Component::Interact,
        "interact",
        Version::V4_0,
        "Blue Prism - Interact",
        "Interact",
        "interact.local",
        Some(("InteractDB", Version::V4_0)),
    ),
    same(
        Component::Iada,
        "iada",
        Version::V4_0,
        "Blue Prism - IADA",
        "IADA",
        "iada.local",
        Some(("IadaDB", Version::V4_2)),
    ),
    same(
        Component::InteractRemoteApi,
        "interact_remote_api",
        Version::V4_0,
        "Blue Prism - Interact Remote API",
        "Interact Remote API",
        "interactremoteapi.local",
        None,
    ),
];

/// Facts about `component`.
pub fn info(component: Component) -> &'static ComponentInfo {
    COMPONENTS
        .iter()
        .find(|c| c.component == component)
        .expect("every component is in COMPONENTS")
}

/// The Windows services whose files the steps replace (the guide's list): stopped before a
/// step's file changes, started again afterwards if they were running.
pub const BLUE_PRISM_SERVICES: [&str; 3] = [
    "Blue Prism - Audit Service Listener",
    "Blue Prism - Log Service",
    "Blue Prism - Submit Form Manager",
];

/// Where Blue Prism's installer records the installed version, which its tools read: the
/// registry value `Version` of this key.
pub const INSTALLED_VERSION_KEY: &str = r"HKLM\SOFTWARE\Blue Prism Limited\Hub and Interact";
/// The value of [`INSTALLED_VERSION_KEY`] that holds the version (`4.2`).
pub const INSTALLED_VERSION_VALUE: &str = "Version";

/// The message broker's Windows service (DOMAIN.md), restarted at the steps the guide names.
pub const RABBITMQ_SERVICE: &str = "RabbitMQ";

/// Top-level folders and folder-name prefixes that hold live data: written by the running
/// applications, never deleted or rolled back by hubup, and left out of install digests.
pub const LIVE_DATA_FOLDERS: [&str; 2] = ["Files", "DataProtectionKeys"];
pub const LIVE_DATA_PREFIX: &str = "Logs_";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renames_happen_at_4_3_only_for_ims_and_email() {
        let renamed: Vec<&str> = COMPONENTS
            .iter()
            .filter(|c| c.site_name(Version::V4_2) != c.site_name(Version::V4_3))
            .map(|c| c.key)
            .collect();
        assert_eq!(renamed, ["authentication_server", "email_service"]);
        let ims = info(Component::AuthenticationServer);
        assert_eq!(ims.folder(Version::V4_2), "IMS");
        assert_eq!(ims.folder(Version::V4_5), "Authentication Server");
    }

    #[test]
    fn new_components_arrive_at_4_2_and_hosts_are_lowercase() {
        let at_4_1 = COMPONENTS
            .iter()
            .filter(|c| c.exists_at(Version::V4_1))
            .count();
        let at_4_2 = COMPONENTS
            .iter()
            .filter(|c| c.exists_at(Version::V4_2))
            .count();
        assert_eq!((at_4_1, at_4_2), (9, 11));
        for c in COMPONENTS {
            assert_eq!(c.host, c.host.to_lowercase());
        }
    }
}
