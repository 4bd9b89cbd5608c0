//! Product versions of Hub and Interact that hubup knows (4.0 ... 4.5), and the upgrade steps
//! between them.
//!
//! A [`Version`] is only ever one of the known versions: parsing anything else fails with an
//! error that lists the versions hubup supports. A [`Step`] is one vendor upgrade (4.n -> 4.n+1);
//! [`steps_between`] turns "from A to B" into the chain of steps a run executes.

/// hubup's own version and the commit it was built from (`build.rs`), as `--version`, the
/// logs and each run's journal record show it.
pub const HUBUP_VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("HUBUP_COMMIT"), ")");

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Minor versions hubup knows, all of major version 4.
const KNOWN_MINORS: std::ops::RangeInclusive<u8> = 0..=5;

/// One released version of Hub and Interact, 4.0 ... 4.5.
///
/// Ordering is release order. Serialized as `{ major, minor }` in binary formats and as the
/// string `"4.n"` in human-readable ones (JSON, TOML).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    major: u8,
    minor: u8,
}

impl Version {
    pub const V4_0: Version = Version { major: 4, minor: 0 };
    pub const V4_1: Version = Version { major: 4, minor: 1 };
    pub const V4_2: Version = Version { major: 4, minor: 2 };
    pub const V4_3: Version = Version { major: 4, minor: 3 };
    pub const V4_4: Version = Version { major: 4, minor: 4 };
    pub const V4_5: Version = Version { major: 4, minor: 5 };

    /// The oldest version hubup upgrades from.
    pub const OLDEST: Version = Version::V4_0;
    /// The newest version hubup upgrades to.
    pub const LATEST: Version = Version::V4_5;

    /// Every known version, oldest first.
    pub fn all() -> impl Iterator<Item = Version> {
        KNOWN_MINORS.map(|minor| Version { major: 4, minor })
    }

    pub fn major(self) -> u8 {
        self.major
    }

    pub fn minor(self) -> u8 {
        self.minor
    }

    /// The version after this one, or `None` for the latest.
    pub fn next(self) -> Option<Version> {
        let minor = self.minor + 1;
        KNOWN_MINORS
            .contains(&minor)
            .then_some(Version { major: 4, minor })
    }

    /// The version before this one, or `None` for the oldest.
    pub fn previous(self) -> Option<Version> {
        let minor = self.minor.checked_sub(1)?;
        Some(Version { major: 4, minor })
    }

    /// Name of the folder the step *from* this version backs up into: `backup_4.n`.
    pub fn backup_folder_name(self) -> String {
        format!("backup_{self}")
    }

    /// Name of the update package that upgrades *to* this version.
    pub fn package_file_name(self) -> String {
        format!("BluePrismHubAndInteractUpdate{self}.bin")
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// A version string that is not one hubup knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown version {given:?}: hubup knows 4.0, 4.1, 4.2, 4.3, 4.4 and 4.5")]
pub struct UnknownVersion {
    pub given: String,
}

impl FromStr for Version {
    type Err = UnknownVersion;

    /// Accepts `4.n` and, for convenience, `4.n.0` (the form .NET file versions take).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || UnknownVersion {
            given: s.to_string(),
        };
        let parts: Vec<&str> = s.trim().split('.').collect();
        let (major, minor) = match parts.as_slice() {
            [major, minor] | [major, minor, "0"] => (*major, *minor),
            _ => return Err(err()),
        };
        if major != "4" || minor.len() != 1 {
            return Err(err());
        }
        let minor: u8 = minor.parse().map_err(|_| err())?;
        if !KNOWN_MINORS.contains(&minor) {
            return Err(err());
        }
        Ok(Version { major: 4, minor })
    }
}

impl Serialize for Version {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            (self.major, self.minor).serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let text = if deserializer.is_human_readable() {
            String::deserialize(deserializer)?
        } else {
            let (major, minor) = <(u8, u8)>::deserialize(deserializer)?;
            format!("{major}.{minor}")
        };
        text.parse().map_err(D::Error::custom)
    }
}

/// One vendor upgrade: from a version to the one right after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Step {
    pub from: Version,
    pub to: Version,
}

impl Step {
    /// The step that starts at `from`, or `None` if `from` is the latest version.
    pub fn from_version(from: Version) -> Option<Step> {
        Some(Step {
            from,
            to: from.next()?,
        })
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}", self.from, self.to)
    }
}

/// Why a requested upgrade range has no steps.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error("the install is already at {installed}; nothing to upgrade to {target}")]
    AlreadyAt { installed: Version, target: Version },
    #[error(
        "the install is at {installed}, which is newer than the requested {target}; \
         hubup only upgrades"
    )]
    Downgrade { installed: Version, target: Version },
}

/// The chain of steps that takes `from` to `to`, in order.
///
/// Fails if `to` is not strictly newer than `from`.
pub fn steps_between(from: Version, to: Version) -> Result<Vec<Step>, RangeError> {
    if to == from {
        return Err(RangeError::AlreadyAt {
            installed: from,
            target: to,
        });
    }
    if to < from {
        return Err(RangeError::Downgrade {
            installed: from,
            target: to,
        });
    }
    let mut steps = Vec::new();
    let mut at = from;
    while at < to {
        let step = Step::from_version(at).expect("a version older than another has a next");
        steps.push(step);
        at = step.to;
    }
    Ok(steps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_known_versions_and_file_version_form() {
        assert_eq!("4.3".parse::<Version>().unwrap(), Version::V4_3);
        assert_eq!("4.3.0".parse::<Version>().unwrap(), Version::V4_3);
        assert_eq!(" 4.0 ".parse::<Version>().unwrap(), Version::V4_0);
    }

    #[test]
    fn rejects_unknown_versions_with_the_known_list() {
        for bad in [
            "4.6", "3.9", "5.0", "4", "4.", "4.10", "4.1.1", "four", "", "4.-1",
        ] {
            let err = bad.parse::<Version>().unwrap_err();
            assert!(err.to_string().contains("4.0, 4.1"), "{bad}: {err}");
        }
    }

    #[test]
    fn chain_covers_every_step_in_order() {
        let steps = steps_between(Version::V4_0, Version::V4_5).unwrap();
        let names: Vec<String> = steps.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            names,
            [
                "4.0 -> 4.1",
                "4.1 -> 4.2",
                "4.2 -> 4.3",
                "4.3 -> 4.4",
                "4.4 -> 4.5"
            ]
        );
        assert_eq!(
            steps_between(Version::V4_2, Version::V4_4).unwrap().len(),
            2
        );
    }

    #[test]
    fn chain_refuses_same_and_older_targets() {
        assert!(matches!(
            steps_between(Version::V4_5, Version::V4_5),
            Err(RangeError::AlreadyAt { .. })
        ));
        assert!(matches!(
            steps_between(Version::V4_3, Version::V4_1),
            Err(RangeError::Downgrade { .. })
        ));
    }

    #[test]
    fn names_of_backup_folder_and_package() {
        assert_eq!(Version::V4_2.backup_folder_name(), "backup_4.2");
        assert_eq!(
            Version::V4_3.package_file_name(),
            "BluePrismHubAndInteractUpdate4.3.bin"
        );
    }

    #[test]
    fn serde_round_trips_in_both_forms() {
        let json = serde_json::to_string(&Version::V4_4).unwrap();
        assert_eq!(json, "\"4.4\"");
        assert_eq!(
            serde_json::from_str::<Version>(&json).unwrap(),
            Version::V4_4
        );
        let config = bincode::config::standard();
        let bytes = bincode::serde::encode_to_vec(Version::V4_4, config).unwrap();
        let (back, _): (Version, usize) =
            bincode::serde::decode_from_slice(&bytes, config).unwrap();
        assert_eq!(back, Version::V4_4);
    }
}
