//! Windows security descriptors as data: a parser of the SDDL text form
//! (`O:BAG:SYD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)`) into a [`SecurityDescriptor`] holding
//! what the access decisions need: the owner and the DACL's entries in order.
//!
//! Parsing is ours and platform-free, so the decisions in `acl.rs` are tested on Linux with
//! descriptors written as SDDL; on Windows the real descriptor of a path is fetched and turned
//! into SDDL by Windows itself (`windows.rs`), then parsed here, so both paths share one model.
//!
//! The grammar (Microsoft's "Security Descriptor String Format"):
//! `[O:sid][G:sid][D:flags(ace)...][S:flags(ace)...]`, an ACE being
//! `(type;flags;rights;object guid;inherit object guid;sid[;resource attribute])`. Rights are
//! hexadecimal (`0x1200a9`) or two-letter aliases (`FA`, `GW`, `DCLC`...). SIDs are `S-1-...`
//! strings or two-letter aliases; well-known aliases are turned into their SID strings, and
//! domain-relative ones (`LA`, `DU`...) are kept as `alias:XX`.

use std::fmt;

/// A security identifier as text: `S-1-5-18`, or `alias:LA` for a domain-relative alias.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Sid(pub String);

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Well-known SIDs the decisions name.
pub const SYSTEM: &str = "S-1-5-18";
pub const ADMINISTRATORS: &str = "S-1-5-32-544";
pub const TRUSTED_INSTALLER: &str =
    "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464";
pub const CREATOR_OWNER: &str = "S-1-3-0";
pub const OWNER_RIGHTS: &str = "S-1-3-4";

/// SDDL's two-letter SID aliases that stand for one fixed SID on every machine.
const SID_ALIASES: &[(&str, &str)] = &[
    ("AC", "S-1-15-2-1"),
    ("AN", "S-1-5-7"),
    ("AO", "S-1-5-32-548"),
    ("AU", "S-1-5-11"),
    ("BA", ADMINISTRATORS),
    ("BG", "S-1-5-32-546"),
    ("BO", "S-1-5-32-551"),
    ("BU", "S-1-5-32-545"),
    ("CG", "S-1-3-1"),
    ("CO", CREATOR_OWNER),
    ("ED", "S-1-5-9"),
    ("IU", "S-1-5-4"),
    ("LS", "S-1-5-19"),
    ("LW", "S-1-16-4096"),
    ("ME", "S-1-16-8192"),
    ("HI", "S-1-16-12288"),
    ("SI", "S-1-16-16384"),
    ("NO", "S-1-5-32-556"),
    ("NS", "S-1-5-20"),
    ("NU", "S-1-5-2"),
    ("OW", OWNER_RIGHTS),
    ("PO", "S-1-5-32-550"),
    ("PS", "S-1-5-10"),
    ("PU", "S-1-5-32-547"),
    ("RC", "S-1-5-12"),
    ("RD", "S-1-5-32-555"),
    ("RE", "S-1-5-32-552"),
    ("RU", "S-1-5-32-554"),
    ("SO", "S-1-5-32-549"),
    ("SU", "S-1-5-6"),
    ("SY", SYSTEM),
    ("WD", "S-1-1-0"),
    ("WR", "S-1-5-33"),
];

/// SDDL's rights aliases and their access-mask bits (file objects use the same bits under
/// the directory-service names: `DC` is FILE_WRITE_DATA / FILE_ADD_FILE, and so on).
const RIGHTS_ALIASES: &[(&str, u32)] = &[
    ("GA", 0x1000_0000),
    ("GR", 0x8000_0000),
    ("GW", 0x4000_0000),
    ("GX", 0x2000_0000),
    ("RC", 0x0002_0000),
    ("SD", 0x0001_0000),
    ("WD", 0x0004_0000),
    ("WO", 0x0008_0000),
    ("RP", 0x0000_0010),
    ("WP", 0x0000_0020),
    ("CC", 0x0000_0001),
    ("DC", 0x0000_0002),
    ("LC", 0x0000_0004),
    ("SW", 0x0000_0008),
    ("LO", 0x0000_0080),
    ("DT", 0x0000_0040),
    ("CR", 0x0000_0100),
    ("FA", 0x001F_01FF),
    ("FR", 0x0012_0089),
    ("FW", 0x0012_0116),
    ("FX", 0x0012_00A0),
    ("KA", 0x000F_003F),
    ("KR", 0x0002_0019),
    ("KW", 0x0002_0006),
    ("KX", 0x0002_0019),
];

/// Whether an ACE grants or denies; other kinds (audit, labels) do not decide access here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AceKind {
    Allow,
    Deny,
}

/// One access-control entry of a DACL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ace {
    pub kind: AceKind,
    /// `IO`: the entry is only inherited by children and does not apply to this object.
    pub inherit_only: bool,
    /// `ID`: the entry was inherited from the parent folder.
    pub inherited: bool,
    pub mask: u32,
    pub sid: Sid,
}

/// What the decisions need of a security descriptor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityDescriptor {
    pub owner: Option<Sid>,
    /// `None` is a NULL DACL (`D:NO_ACCESS_CONTROL`, or no `D:` part): everyone has full
    /// access. `Some(vec![])` is an empty DACL: nobody but the owner.
    pub dacl: Option<Vec<Ace>>,
    /// `D:P`: inheritance from the parent is off.
    pub protected: bool,
}

/// SDDL text that does not parse, with the position and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("security descriptor {text:?} is not valid SDDL at character {at}: {problem}")]
pub struct SddlError {
    pub text: String,
    pub at: usize,
    pub problem: String,
}

impl SecurityDescriptor {
    /// Parses SDDL text.
    pub fn parse(text: &str) -> Result<SecurityDescriptor, SddlError> {
        Parser { text, at: 0 }.descriptor()
    }
}

struct Parser<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Parser<'a> {
    fn fail<T>(&self, problem: impl Into<String>) -> Result<T, SddlError> {
        Err(SddlError {
            text: self.text.to_string(),
            at: self.at,
            problem: problem.into(),
        })
    }

    fn rest(&self) -> &'a str {
        &self.text[self.at..]
    }

    fn descriptor(mut self) -> Result<SecurityDescriptor, SddlError> {
        let mut sd = SecurityDescriptor {
            owner: None,
            dacl: None,
            protected: false,
        };
        while !self.rest().is_empty() {
            let part = &self.rest()[..2.min(self.rest().len())];
            self.at += part.len();
            match part {
                "O:" => sd.owner = Some(self.sid()?),
                "G:" => {
                    self.sid()?;
                }
                "D:" => {
                    let (protected, null) = self.acl_flags();
                    sd.protected = protected;
                    let aces = self.aces()?;
                    sd.dacl = if null { None } else { Some(aces) };
                }
                "S:" => {
                    self.acl_flags();
                    self.aces()?;
                }
                _ => {
                    self.at -= part.len();
                    return self.fail("expected O:, G:, D: or S:");
                }
            }
        }
        Ok(sd)
    }

    /// `P`, `AI`, `AR`, `NO_ACCESS_CONTROL` in any order; returns (protected, null DACL).
    fn acl_flags(&mut self) -> (bool, bool) {
        let (mut protected, mut null) = (false, false);
        loop {
            let rest = self.rest();
            if let Some(after) = rest.strip_prefix("NO_ACCESS_CONTROL") {
                null = true;
                self.at = self.text.len() - after.len();
            } else if rest.starts_with("AI") || rest.starts_with("AR") {
                self.at += 2;
            } else if rest.starts_with('P') {
                protected = true;
                self.at += 1;
            } else {
                return (protected, null);
            }
        }
    }

    fn aces(&mut self) -> Result<Vec<Ace>, SddlError> {
        let mut aces = Vec::new();
        while self.rest().starts_with('(') {
            let Some(end) = self.rest().find(')') else {
                return self.fail("an ACE without its closing ')'");
            };
            let body = &self.rest()[1..end];
            if let Some(ace) = self.ace(body)? {
                aces.push(ace);
            }
            self.at += end + 1;
        }
        Ok(aces)
    }

    /// One ACE's text between the parentheses; `None` for kinds that do not decide access.
    fn ace(&self, body: &str) -> Result<Option<Ace>, SddlError> {
        let fields: Vec<&str> = body.split(';').collect();
        if fields.len() < 6 {
            return self.fail(format!(
                "ACE ({body}) has {} fields, expected 6",
                fields.len()
            ));
        }
        let kind = match fields[0] {
            // Object and callback variants grant or deny like the plain ones, as far as
            // "who can write this file" goes.
            "A" | "OA" | "XA" | "ZA" => AceKind::Allow,
            "D" | "OD" | "XD" => AceKind::Deny,
            "AU" | "AL" | "OU" | "OL" | "ML" | "XU" | "RA" | "SP" | "SC" => return Ok(None),
            other => return self.fail(format!("unknown ACE type {other:?}")),
        };
        let flags = fields[1];
        if flags.len() % 2 != 0 {
            return self.fail(format!("ACE flags {flags:?} are not two-letter codes"));
        }
        let codes: Vec<&str> = (0..flags.len())
            .step_by(2)
            .map(|i| &flags[i..i + 2])
            .collect();
        let mask = self.rights(fields[2])?;
        let sid = self.sid_text(fields[5])?;
        Ok(Some(Ace {
            kind,
            inherit_only: codes.contains(&"IO"),
            inherited: codes.contains(&"ID"),
            mask,
            sid,
        }))
    }

    fn rights(&self, text: &str) -> Result<u32, SddlError> {
        if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
            return u32::from_str_radix(hex, 16)
                .or_else(|_| self.fail(format!("rights {text:?} are not hexadecimal")));
        }
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            return text
                .parse()
                .or_else(|_| self.fail(format!("rights {text:?} are too large")));
        }
        if text.len() % 2 != 0 {
            return self.fail(format!("rights {text:?} are not two-letter codes"));
        }
        let mut mask = 0;
        for i in (0..text.len()).step_by(2) {
            let code = &text[i..i + 2];
            match RIGHTS_ALIASES.iter().find(|(alias, _)| *alias == code) {
                Some((_, bits)) => mask |= bits,
                None => return self.fail(format!("unknown rights code {code:?}")),
            }
        }
        Ok(mask)
    }

    /// A SID in the O: or G: part, which runs until the next part's marker.
    fn sid(&mut self) -> Result<Sid, SddlError> {
        let rest = self.rest();
        let len = if rest.starts_with("S-") {
            rest.find(|c: char| !(c.is_ascii_digit() || c == '-' || c == 'S'))
                .unwrap_or(rest.len())
        } else {
            2.min(rest.len())
        };
        let sid = self.sid_text(&rest[..len])?;
        self.at += len;
        Ok(sid)
    }

    fn sid_text(&self, text: &str) -> Result<Sid, SddlError> {
        if let Some(numbers) = text.strip_prefix("S-") {
            let sound = !numbers.is_empty()
                && numbers
                    .split('-')
                    .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
            return if sound {
                Ok(Sid(text.to_string()))
            } else {
                self.fail(format!("{text:?} is not a SID"))
            };
        }
        if text.len() != 2 || !text.bytes().all(|b| b.is_ascii_uppercase()) {
            return self.fail(format!("{text:?} is not a SID or a SID alias"));
        }
        Ok(Sid(SID_ALIASES
            .iter()
            .find(|(alias, _)| *alias == text)
            .map(|(_, sid)| sid.to_string())
            .unwrap_or_else(|| format!("alias:{text}"))))
    }
}

/// A readable name for a well-known SID, if it has one.
pub fn well_known_name(sid: &Sid) -> Option<&'static str> {
    Some(match sid.0.as_str() {
        SYSTEM => "NT AUTHORITY\\SYSTEM",
        ADMINISTRATORS => "BUILTIN\\Administrators",
        TRUSTED_INSTALLER => "NT SERVICE\\TrustedInstaller",
        CREATOR_OWNER => "CREATOR OWNER",
        OWNER_RIGHTS => "OWNER RIGHTS",
        "S-1-1-0" => "Everyone",
        "S-1-5-11" => "NT AUTHORITY\\Authenticated Users",
        "S-1-5-32-545" => "BUILTIN\\Users",
        "S-1-5-32-546" => "BUILTIN\\Guests",
        "S-1-5-32-547" => "BUILTIN\\Power Users",
        "S-1-5-4" => "NT AUTHORITY\\INTERACTIVE",
        "S-1-5-7" => "NT AUTHORITY\\ANONYMOUS LOGON",
        "S-1-5-19" => "NT AUTHORITY\\LOCAL SERVICE",
        "S-1-5-20" => "NT AUTHORITY\\NETWORK SERVICE",
        "S-1-15-2-1" => "ALL APPLICATION PACKAGES",
        "alias:LA" => "the local Administrator account",
        "alias:DA" => "Domain Admins",
        "alias:EA" => "Enterprise Admins",
        "alias:DU" => "Domain Users",
        "alias:DG" => "Domain Guests",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_data_parses_with_its_five_entries() {
        // C:\ProgramData on Windows Server as shipped (icacls: SYSTEM F, Administrators F,
        // CREATOR OWNER (OI)(CI)(IO)F, Users (OI)(CI)RX, Users (CI)(WD,AD,WEA,WA)).
        let sd = SecurityDescriptor::parse(
            "O:SYG:SYD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICIIO;FA;;;CO)\
             (A;OICI;0x1200a9;;;BU)(A;CI;DCLCRPCR;;;BU)",
        )
        .unwrap();
        assert_eq!(sd.owner, Some(Sid(SYSTEM.into())));
        assert!(sd.protected);
        let dacl = sd.dacl.unwrap();
        assert_eq!(dacl.len(), 5);
        assert!(dacl[2].inherit_only);
        assert_eq!(dacl[3].mask, 0x1200a9);
        assert_eq!(dacl[4].mask, 0x2 | 0x4 | 0x10 | 0x100);
        assert_eq!(dacl[4].sid, Sid("S-1-5-32-545".into()));
    }

    #[test]
    fn numeric_sids_aliases_and_null_dacls() {
        let sd = SecurityDescriptor::parse(
            "O:S-1-5-21-1-2-3-1001D:(A;ID;FA;;;S-1-5-21-1-2-3-1001)(D;;WD;;;WD)(A;;0x1F01FF;;;LA)",
        )
        .unwrap();
        assert_eq!(sd.owner, Some(Sid("S-1-5-21-1-2-3-1001".into())));
        let dacl = sd.dacl.unwrap();
        assert!(dacl[0].inherited);
        assert_eq!(dacl[1].kind, AceKind::Deny);
        assert_eq!(dacl[1].mask, 0x40000, "WD as rights is WRITE_DAC");
        assert_eq!(
            dacl[1].sid,
            Sid("S-1-1-0".into()),
            "WD as a SID is Everyone"
        );
        assert_eq!(dacl[2].sid, Sid("alias:LA".into()));
        assert_eq!(
            SecurityDescriptor::parse("O:BAD:NO_ACCESS_CONTROL")
                .unwrap()
                .dacl,
            None
        );
        assert_eq!(
            SecurityDescriptor::parse("O:BAD:P").unwrap().dacl,
            Some(vec![])
        );
    }

    #[test]
    fn audit_entries_are_skipped_and_garbage_is_named() {
        // A mandatory label's rights (NW: no write-up) are not access rights: skipped whole.
        let sd = SecurityDescriptor::parse("O:BAD:(A;;FA;;;SY)S:AI(AU;SAFA;FA;;;WD)(ML;;NW;;;HI)")
            .unwrap();
        assert_eq!(sd.dacl.unwrap().len(), 1);
        for bad in [
            "X:BA",
            "O:BAD:(A;;FA;;SY)",
            "O:BAD:(Q;;FA;;;SY)",
            "O:BAD:(A;;ZZ;;;SY)",
            "O:S-1-x",
            "O:BAD:(A;;FA;;;SY",
        ] {
            let err = SecurityDescriptor::parse(bad).unwrap_err();
            assert!(err.to_string().contains(bad), "{err}");
        }
    }
}
