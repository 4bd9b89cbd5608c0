//! The catalog: what each vendor upgrade step does, as data (DOMAIN.md's table and the guide).
//!
//! The planner turns a [`StepSpec`] plus the step's package, the config and the observed
//! install into ops; nothing step-specific lives in engine code. Adding 4.6 means adding an
//! entry here, a package and its migrations.

use crate::components::Component;
use crate::version::{Step, Version};

/// What one step does beyond the file changes its package describes.
#[derive(Debug)]
pub struct StepSpec {
    pub step: Step,
    /// Sites the step adds, each with its app pool, folder, binding and certificate.
    pub new_sites: &'static [Component],
    /// Sites the step renames (IMS -> Authentication Server, Email Sender -> Email Service).
    /// The folder renames come from the package's manifest; the app pool and URL stay.
    pub site_renames: &'static [Component],
    /// Databases the step creates, with who gets which permissions.
    pub new_databases: &'static [NewDatabase],
    /// Optional settings the wizard asks on this step.
    pub optional_settings: &'static [OptionalSetting],
    /// What must hold before the step changes anything (besides the exact source version, a
    /// verified package and no unexpected local changes, which every step checks).
    pub prerequisites: &'static [Prerequisite],
}

/// A database a step creates.
#[derive(Debug)]
pub struct NewDatabase {
    /// Default name (the config may rename it).
    pub default_name: &'static str,
    /// Key in the config's `[sql.databases]` table.
    pub config_key: &'static str,
    /// The component whose app pool identity (Windows authentication) or SQL login uses it.
    pub used_by: Component,
    /// Whether the License Manager permission choice applies (db_owner, or reader/writer plus
    /// `GRANT EXECUTE`); otherwise `db_datareader` + `db_datawriter`.
    pub license_manager_permissions: bool,
    /// Created only when this optional feature is configured.
    pub only_with: Option<OptionalSetting>,
    /// Where `used_by`'s settings file names the database (the wizard's database name).
    pub name_setting: &'static [&'static str],
    /// The entry under `ConnectionStrings` that `used_by` connects to it with.
    pub connection_string: &'static str,
}

/// A settings key that holds a site's public URL (`https://host[:port]`), in the settings
/// file of `component`.
#[derive(Debug)]
pub struct UrlSetting {
    pub component: Component,
    pub key: &'static [&'static str],
}

/// Where a new site's own settings file holds its public URL and its IIS site name.
pub const PUBLIC_URL_KEY: &[&str] = &["PublicUrl"];
pub const SITE_NAME_KEY: &[&str] = &["SiteName"];

/// The components that call a site, and the key that holds its URL in their settings (the
/// site's own `PublicUrl` is not listed). Every new site of a step must be here.
pub fn url_readers(site: Component) -> &'static [UrlSetting] {
    match site {
        Component::LicenseManager => &[UrlSetting {
            component: Component::Hub,
            key: &["LicenseManagerUrl"],
        }],
        Component::NotificationCenter => &[UrlSetting {
            component: Component::Hub,
            key: &["NotificationCenterUrl"],
        }],
        _ => &[],
    }
}

/// The database name and connection string of a component's own database.
const OWN_DATABASE_NAME: &[&str] = &["DatabaseName"];
const OWN_CONNECTION: &str = "DefaultConnection";

/// An optional value the wizard asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptionalSetting {
    /// Blue Prism API URL for the Control Room plugin (4.3).
    ControlRoomApiUrl,
    /// Blue Prism Decision: model service URL and certificate (4.5).
    Decision,
}

/// A prerequisite checked before a step changes anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prerequisite {
    /// Free space on the install's disk, in bytes (the guide asks 2.5 GB from 4.2 on). hubup
    /// also checks the space its own writes need.
    FreeDisk { bytes: u64 },
    /// The ASP.NET Core hosting bundle and desktop runtime of at least this version (4.4).
    AspNetCoreRuntime { version: &'static str },
    /// The account creating databases has `dbcreator` or `sysadmin`.
    DatabaseCreator,
    /// The SSL certificates of the new sites are in the machine's store.
    SiteCertificates,
    /// The new sites' host names resolve (the guide: DNS records for License Manager and
    /// Notification Center; not required on a single machine).
    DnsRecords,
    /// The message broker's `quorum_queue` feature flag is enabled: after the upgrade from
    /// 4.1, Hub's new queues are quorum queues (the guide's troubleshooting).
    QuorumQueues,
}

/// Where the optional answers land: (settings file, key path). The Blue Prism API URL is read
/// by Hub's Control Room plugin; Decision's model service by Hub's Decision plugin.
pub const CONTROL_ROOM_API_URL_SETTING: (&str, &[&str]) =
    ("Hub/appsettings.json", &["BluePrismApi", "Url"]);
pub const DECISION_URL_SETTING: (&str, &[&str]) =
    ("Hub/appsettings.json", &["Decision", "ModelServiceUrl"]);
pub const DECISION_CERTIFICATE_SETTING: (&str, &[&str]) =
    ("Hub/appsettings.json", &["Decision", "Certificate"]);

const GB_2_5: u64 = 2_500_000_000;

/// Every step, oldest first.
pub const STEPS: [StepSpec; 5] = [
    StepSpec {
        step: Step {
            from: Version::V4_0,
            to: Version::V4_1,
        },
        new_sites: &[],
        site_renames: &[],
        new_databases: &[],
        optional_settings: &[],
        prerequisites: &[],
    },
    StepSpec {
        step: Step {
            from: Version::V4_1,
            to: Version::V4_2,
        },
        new_sites: &[Component::LicenseManager, Component::NotificationCenter],
        site_renames: &[],
        new_databases: &[
            NewDatabase {
                default_name: "LicenseManagerDB",
                config_key: "license_manager",
                used_by: Component::LicenseManager,
                license_manager_permissions: true,
                only_with: None,
                name_setting: OWN_DATABASE_NAME,
                connection_string: OWN_CONNECTION,
            },
            NewDatabase {
                default_name: "NotificationCenterDB",
                config_key: "notification_center",
                used_by: Component::NotificationCenter,
                license_manager_permissions: false,
                only_with: None,
                name_setting: OWN_DATABASE_NAME,
                connection_string: OWN_CONNECTION,
            },
            NewDatabase {
                default_name: "IadaDB",
                config_key: "iada",
                used_by: Component::Iada,
                license_manager_permissions: false,
                only_with: None,
                name_setting: OWN_DATABASE_NAME,
                connection_string: OWN_CONNECTION,
            },
        ],
        optional_settings: &[],
        prerequisites: &[
            Prerequisite::FreeDisk { bytes: GB_2_5 },
            Prerequisite::DatabaseCreator,
            Prerequisite::SiteCertificates,
            Prerequisite::DnsRecords,
            Prerequisite::QuorumQueues,
        ],
    },
    StepSpec {
        step: Step {
            from: Version::V4_2,
            to: Version::V4_3,
        },
        new_sites: &[],
        site_renames: &[Component::AuthenticationServer, Component::EmailService],
        new_databases: &[NewDatabase {
            default_name: "EmailServiceDB",
            config_key: "email_service",
            used_by: Component::EmailService,
            license_manager_permissions: false,
            only_with: None,
            name_setting: OWN_DATABASE_NAME,
            connection_string: OWN_CONNECTION,
        }],
        optional_settings: &[OptionalSetting::ControlRoomApiUrl],
        prerequisites: &[
            Prerequisite::FreeDisk { bytes: GB_2_5 },
            Prerequisite::DatabaseCreator,
        ],
    },
    StepSpec {
        step: Step {
            from: Version::V4_3,
            to: Version::V4_4,
        },
        new_sites: &[],
        site_renames: &[],
        new_databases: &[],
        optional_settings: &[],
        prerequisites: &[
            Prerequisite::FreeDisk { bytes: GB_2_5 },
            Prerequisite::AspNetCoreRuntime { version: "3.1.11" },
        ],
    },
    StepSpec {
        step: Step {
            from: Version::V4_4,
            to: Version::V4_5,
        },
        new_sites: &[],
        site_renames: &[],
        new_databases: &[NewDatabase {
            default_name: "DecisionDB",
            config_key: "decision",
            used_by: Component::Hub,
            license_manager_permissions: false,
            only_with: Some(OptionalSetting::Decision),
            name_setting: &["Decision", "DatabaseName"],
            connection_string: "DecisionConnection",
        }],
        optional_settings: &[OptionalSetting::Decision],
        prerequisites: &[
            Prerequisite::FreeDisk { bytes: GB_2_5 },
            Prerequisite::DatabaseCreator,
        ],
    },
];

/// The catalog entry of `step`.
pub fn step_spec(step: Step) -> &'static StepSpec {
    STEPS
        .iter()
        .find(|s| s.step == step)
        .expect("every step between known versions is in the catalog")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_covers_every_step_in_order() {
        let mut at = Version::OLDEST;
        for spec in STEPS.iter() {
            assert_eq!(spec.step.from, at);
            assert_eq!(Some(spec.step.to), at.next());
            at = spec.step.to;
        }
        assert_eq!(at, Version::LATEST);
    }

    #[test]
    fn databases_match_the_guide() {
        let names = |from: Version| -> Vec<&str> {
            step_spec(Step::from_version(from).unwrap())
                .new_databases
                .iter()
                .map(|d| d.default_name)
                .collect()
        };
        assert_eq!(
            names(Version::V4_1),
            ["LicenseManagerDB", "NotificationCenterDB", "IadaDB"]
        );
        assert_eq!(names(Version::V4_2), ["EmailServiceDB"]);
        assert_eq!(names(Version::V4_4), ["DecisionDB"]);
        assert!(names(Version::V4_0).is_empty() && names(Version::V4_3).is_empty());
    }
}
