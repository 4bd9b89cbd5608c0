//! Certificates of the machine's Personal store (LocalMachine\My): resolving the name a config
//! gives (a thumbprint, or a friendly name that must be unique), and what makes one unusable
//! for a site (expired, no private key, not for the site's host name), each with what to do.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A certificate of LocalMachine\My, as the adapter lists it. Holds no key material.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Certificate {
    /// SHA-1 thumbprint, 40 hex digits, upper case.
    pub thumbprint: String,
    #[serde(default)]
    pub friendly_name: String,
    /// `CN=hub.example.com, O=...`.
    pub subject: String,
    /// The subject alternative names of type DNS.
    #[serde(default)]
    pub dns_names: Vec<String>,
    /// Expiry, UTC, `yyyy-mm-ddThh:mm:ssZ`.
    pub not_after: String,
    pub has_private_key: bool,
    /// The private key's file (under `%ProgramData%\Microsoft\Crypto`), whose ACL grants
    /// access to the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<String>,
}

/// Why a configured certificate cannot be used. Each says what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CertificateProblem {
    Missing {
        name: String,
        present: Vec<String>,
    },
    Ambiguous {
        name: String,
        thumbprints: Vec<String>,
    },
    Expired {
        name: String,
        thumbprint: String,
        not_after: String,
    },
    NoPrivateKey {
        name: String,
        thumbprint: String,
    },
    DoesNotCover {
        name: String,
        thumbprint: String,
        host: String,
        names: Vec<String>,
    },
}

impl fmt::Display for CertificateProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CertificateProblem::Missing { name, present } => {
                write!(
                    f,
                    "certificate {name:?} is not in the machine's Personal store \
                     (LocalMachine\\My): import it with its private key, or name a certificate \
                     that is there by its thumbprint or friendly name"
                )?;
                if !present.is_empty() {
                    write!(f, " (the store holds: {})", present.join(", "))?;
                }
                Ok(())
            }
            CertificateProblem::Ambiguous { name, thumbprints } => write!(
                f,
                "{} certificates in LocalMachine\\My have the friendly name {name:?} ({}): name \
                 the one to use by its thumbprint in the config",
                thumbprints.len(),
                thumbprints.join(", ")
            ),
            CertificateProblem::Expired {
                name,
                thumbprint,
                not_after,
            } => write!(
                f,
                "certificate {name:?} ({thumbprint}) expired on {not_after}: import a renewed \
                 certificate and name it in the config"
            ),
            CertificateProblem::NoPrivateKey { name, thumbprint } => write!(
                f,
                "certificate {name:?} ({thumbprint}) has no private key in LocalMachine\\My: \
                 import it from its .pfx file, with the key"
            ),
            CertificateProblem::DoesNotCover {
                name,
                thumbprint,
                host,
                names,
            } => write!(
                f,
                "certificate {name:?} ({thumbprint}) is for {}, not {host}: use a certificate \
                 whose subject or subject alternative names cover {host}",
                if names.is_empty() {
                    "no host name".to_string()
                } else {
                    names.join(", ")
                }
            ),
        }
    }
}

/// Whether `name` is written as a thumbprint (40 hex digits; spaces, as the certificate
/// dialog shows them, are ignored).
fn as_thumbprint(name: &str) -> Option<String> {
    let digits: String = name.chars().filter(|c| !c.is_whitespace()).collect();
    (digits.len() == 40 && digits.chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| digits.to_ascii_uppercase())
}

/// The certificate a config names: by thumbprint, else by friendly name, which must name
/// exactly one (case-insensitive, as the certificate dialogs compare).
pub fn resolve_certificate<'c>(
    certificates: &'c [Certificate],
    name: &str,
) -> Result<&'c Certificate, CertificateProblem> {
    if let Some(thumbprint) = as_thumbprint(name)
        && let Some(found) = certificates
            .iter()
            .find(|c| c.thumbprint.eq_ignore_ascii_case(&thumbprint))
    {
        return Ok(found);
    }
    let named: Vec<&Certificate> = certificates
        .iter()
        .filter(|c| c.friendly_name.eq_ignore_ascii_case(name.trim()))
        .collect();
    match named.as_slice() {
        [one] => Ok(one),
        [] => Err(CertificateProblem::Missing {
            name: name.to_string(),
            present: certificates
                .iter()
                .take(12)
                .map(|c| {
                    if c.friendly_name.is_empty() {
                        format!("{} ({})", c.thumbprint, c.subject)
                    } else {
                        format!("{:?} ({})", c.friendly_name, c.thumbprint)
                    }
                })
                .collect(),
        }),
        many => Err(CertificateProblem::Ambiguous {
            name: name.to_string(),
            thumbprints: many.iter().map(|c| c.thumbprint.clone()).collect(),
        }),
    }
}

impl Certificate {
    /// The host names it is for: the subject's CN and the DNS subject alternative names.
    pub fn host_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .subject
            .split(',')
            .filter_map(|part| part.trim().strip_prefix("CN="))
            .map(|cn| cn.trim().to_string())
            .collect();
        for dns in &self.dns_names {
            if !names.iter().any(|n| n.eq_ignore_ascii_case(dns)) {
                names.push(dns.clone());
            }
        }
        names
    }

    /// Whether it is for `host`: an exact name, or a wildcard (`*.example.com`) for one label.
    pub fn covers(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        self.host_names().iter().any(|name| {
            let name = name.to_ascii_lowercase();
            match name.strip_prefix("*.") {
                Some(domain) => host
                    .split_once('.')
                    .is_some_and(|(label, rest)| !label.is_empty() && rest == domain),
                None => name == host,
            }
        })
    }

    /// Whether it has expired at `now_ms` (or its expiry cannot be read).
    pub fn expired_at(&self, now_ms: u64) -> bool {
        parse_utc(&self.not_after).is_none_or(|t| t <= now_ms)
    }

    /// The checks a site's certificate must pass, as its first problem: expired, no private
    /// key, not for `host`.
    pub fn problem_for(
        &self,
        name: &str,
        host: Option<&str>,
        now_ms: u64,
    ) -> Option<CertificateProblem> {
        if self.expired_at(now_ms) {
            return Some(CertificateProblem::Expired {
                name: name.to_string(),
                thumbprint: self.thumbprint.clone(),
                not_after: self.not_after.clone(),
            });
        }
        if !self.has_private_key {
            return Some(CertificateProblem::NoPrivateKey {
                name: name.to_string(),
                thumbprint: self.thumbprint.clone(),
            });
        }
        if let Some(host) = host
            && !self.covers(host)
        {
            return Some(CertificateProblem::DoesNotCover {
                name: name.to_string(),
                thumbprint: self.thumbprint.clone(),
                host: host.to_string(),
                names: self.host_names(),
            });
        }
        None
    }
}

/// Milliseconds since the Unix epoch of `yyyy-mm-ddThh:mm:ssZ` (UTC), or `None`.
pub fn parse_utc(text: &str) -> Option<u64> {
    let text = text.trim();
    let (date, time) = text.strip_suffix('Z')?.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (year, month, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.split(':').map(|p| p.parse::<i64>().ok());
    let (hour, minute, second) = (t.next()??, t.next()??, t.next()??);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second;
    u64::try_from(seconds).ok().map(|s| s * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert(thumb: char, friendly: &str, subject: &str, dns: &[&str]) -> Certificate {
        Certificate {
            thumbprint: thumb.to_string().repeat(40),
            friendly_name: friendly.into(),
            subject: subject.into(),
            dns_names: dns.iter().map(|d| d.to_string()).collect(),
            not_after: "2031-06-30T12:00:00Z".into(),
            has_private_key: true,
            key_file: None,
        }
    }

    #[test]
    fn a_friendly_name_becomes_a_thumbprint_and_an_ambiguous_one_is_refused() {
        let store = [
            cert('A', "LicenseManager", "CN=licensemanager.local", &[]),
            cert('B', "Shared", "CN=a.local", &[]),
            cert('C', "shared", "CN=b.local", &[]),
        ];
        assert_eq!(
            resolve_certificate(&store, "LicenseManager")
                .unwrap()
                .thumbprint,
            "A".repeat(40)
        );
        let spaced = "bb bb bb bb bb bb bb bb bb bb bb bb bb bb bb bb bb bb bb bb";
        assert_eq!(
            resolve_certificate(&store, spaced).unwrap().thumbprint,
            "B".repeat(40)
        );
        let err = resolve_certificate(&store, "Shared").unwrap_err();
        assert!(matches!(err, CertificateProblem::Ambiguous { .. }), "{err}");
        assert!(err.to_string().contains("thumbprint"), "{err}");
        let err = resolve_certificate(&store, "Nope").unwrap_err();
        assert!(err.to_string().contains("LicenseManager"), "{err}");
    }

    #[test]
    fn expiry_key_and_host_names_are_checked() {
        let now = parse_utc("2026-11-01T00:00:00Z").unwrap();
        let mut c = cert(
            'A',
            "x",
            "CN=hub.example.com, O=Contoso",
            &["*.corp.example.com"],
        );
        assert!(c.covers("hub.example.com"));
        assert!(c.covers("licensemanager.corp.example.com"));
        assert!(!c.covers("a.b.corp.example.com"));
        assert!(!c.covers("licensemanager.local"));
        assert_eq!(c.problem_for("x", Some("hub.example.com"), now), None);
        assert!(matches!(
            c.problem_for("x", Some("licensemanager.local"), now),
            Some(CertificateProblem::DoesNotCover { .. })
        ));
        c.has_private_key = false;
        assert!(matches!(
            c.problem_for("x", None, now),
            Some(CertificateProblem::NoPrivateKey { .. })
        ));
        c.not_after = "2025-01-01T00:00:00Z".into();
        assert!(matches!(
            c.problem_for("x", None, now),
            Some(CertificateProblem::Expired { .. })
        ));
    }

    #[test]
    fn utc_times_parse() {
        assert_eq!(parse_utc("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_utc("2000-03-01T00:00:01Z"), Some(951_868_801_000));
        assert_eq!(parse_utc("2000-13-01T00:00:00Z"), None);
        assert_eq!(parse_utc("yesterday"), None);
    }
}
