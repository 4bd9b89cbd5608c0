//! Who, besides administrators, can change a Windows file or folder: the decision over a
//! parsed [`SecurityDescriptor`], and the `icacls` command that fixes it. Platform-free, so
//! it is tested on Linux with descriptors written as SDDL (`sddl.rs`).
//!
//! The rules, and why:
//! - Trusted: SYSTEM, Administrators, TrustedInstaller, the local Administrator account,
//!   Domain and Enterprise Admins, and the account running hubup. Everyone else is not.
//! - An untrusted owner can always rewrite the DACL (owners have implicit WRITE_DAC), so it
//!   counts as a writer whatever the entries say.
//! - Inherit-only entries (`IO`) do not apply to the object itself and are skipped.
//! - A deny entry only takes bits away from the same SID, and only from allow entries after
//!   it (Windows evaluates in order). A deny for one group is not credited against a member
//!   reached through another group: hubup cannot see group memberships here, so it is strict.
//! - A NULL DACL grants everything to everyone.
//! - For hubup's own files and folders ([`Scope::Target`]) any right that changes content,
//!   adds entries, deletes, or changes permissions or owner is a write. For the folders above
//!   them ([`Scope::Ancestor`]) only rights that replace or remove what a folder holds, or
//!   change the folder's permissions, count: `C:\ProgramData` lets Users create entries, but
//!   not delete or rename the entries of others, so hubup's protected folder in it is safe
//!   (the Windows twin of Unix's sticky bit).

use std::path::Path;

use super::sddl::{
    ADMINISTRATORS, AceKind, CREATOR_OWNER, OWNER_RIGHTS, SYSTEM, SecurityDescriptor, Sid,
    TRUSTED_INSTALLER, well_known_name,
};
use super::{AccessWriter, Scope};

const GENERIC_ALL: u32 = 0x1000_0000;
const GENERIC_WRITE: u32 = 0x4000_0000;
const FILE_ALL_ACCESS: u32 = 0x001F_01FF;
const FILE_GENERIC_WRITE: u32 = 0x0012_0116;
const WRITE_DATA: u32 = 0x2;
const APPEND_DATA: u32 = 0x4;
const DELETE_CHILD: u32 = 0x40;
const DELETE: u32 = 0x0001_0000;
const WRITE_DAC: u32 = 0x0004_0000;
const WRITE_OWNER: u32 = 0x0008_0000;

/// The principals hubup trusts to steer it.
#[derive(Clone, Debug)]
pub struct Trusted {
    sids: Vec<Sid>,
}

impl Trusted {
    /// The administrators' SIDs, plus `user` (the account running hubup) if known.
    pub fn with_user(user: Option<Sid>) -> Trusted {
        let mut sids: Vec<Sid> = [
            SYSTEM,
            ADMINISTRATORS,
            TRUSTED_INSTALLER,
            "alias:LA",
            "alias:DA",
            "alias:EA",
        ]
        .iter()
        .map(|s| Sid(s.to_string()))
        .collect();
        sids.extend(user);
        Trusted { sids }
    }

    fn trusts(&self, sid: &Sid) -> bool {
        // CREATOR OWNER in an effective entry matches nobody; OWNER RIGHTS is the owner,
        // whose trust is decided on its own.
        self.sids.contains(sid) || sid.0 == CREATOR_OWNER || sid.0 == OWNER_RIGHTS
    }
}

/// Everyone untrusted who can change the object `sd` describes, with what they can do.
pub fn untrusted_writers(
    sd: &SecurityDescriptor,
    is_dir: bool,
    scope: Scope,
    trusted: &Trusted,
) -> Vec<AccessWriter> {
    let mut out = Vec::new();
    if let Some(owner) = sd.owner.as_ref().filter(|o| !trusted.trusts(o)) {
        out.push(writer(
            owner,
            "owns it (an owner can always change its permissions)",
        ));
    }
    let Some(dacl) = &sd.dacl else {
        out.push(AccessWriter {
            id: "S-1-1-0".into(),
            name: "Everyone".into(),
            can: "do anything (it has no access list at all)".into(),
        });
        return out;
    };
    // Per SID, in the order first seen: the bits denied so far and the bits granted.
    let mut rights: Vec<(Sid, u32, u32)> = Vec::new();
    for ace in dacl.iter().filter(|a| !a.inherit_only) {
        let index = match rights.iter().position(|(sid, _, _)| *sid == ace.sid) {
            Some(i) => i,
            None => {
                rights.push((ace.sid.clone(), 0, 0));
                rights.len() - 1
            }
        };
        let entry = &mut rights[index];
        let mask = specific(ace.mask);
        match ace.kind {
            AceKind::Deny => entry.1 |= mask,
            AceKind::Allow => entry.2 |= mask & !entry.1,
        }
    }
    for (sid, _, granted) in rights {
        if trusted.trusts(&sid) {
            continue;
        }
        let relevant = granted & relevant_rights(is_dir, scope);
        if relevant != 0 {
            out.push(writer(&sid, &describe_rights(relevant, is_dir)));
        }
    }
    out
}

/// Generic rights mapped to the file-specific ones they stand for.
fn specific(mask: u32) -> u32 {
    let mut out = mask & !(GENERIC_ALL | GENERIC_WRITE);
    if mask & GENERIC_ALL != 0 {
        out |= FILE_ALL_ACCESS;
    }
    if mask & GENERIC_WRITE != 0 {
        out |= FILE_GENERIC_WRITE;
    }
    out
}

fn relevant_rights(is_dir: bool, scope: Scope) -> u32 {
    match scope {
        Scope::Target => {
            WRITE_DATA
                | APPEND_DATA
                | DELETE
                | WRITE_DAC
                | WRITE_OWNER
                | if is_dir { DELETE_CHILD } else { 0 }
        }
        Scope::Ancestor => DELETE | WRITE_DAC | WRITE_OWNER | DELETE_CHILD,
    }
}

fn describe_rights(mask: u32, is_dir: bool) -> String {
    let full = WRITE_DATA | APPEND_DATA | DELETE | WRITE_DAC | WRITE_OWNER;
    if mask & full == full {
        return "change it in every way (full control)".into();
    }
    let mut parts = Vec::new();
    let mut say = |bit: u32, text: &'static str| {
        if mask & bit != 0 {
            parts.push(text);
        }
    };
    if is_dir {
        say(WRITE_DATA, "create files in it");
        say(APPEND_DATA, "create folders in it");
        say(DELETE_CHILD, "delete or replace what it holds");
    } else {
        say(WRITE_DATA, "write it");
        say(APPEND_DATA, "append to it");
    }
    say(DELETE, "delete or rename it");
    say(WRITE_DAC, "change its permissions");
    say(WRITE_OWNER, "take ownership of it");
    parts.join(", ")
}

fn writer(sid: &Sid, can: &str) -> AccessWriter {
    let name = match well_known_name(sid) {
        Some(name) => format!("{name} ({sid})"),
        None => sid.to_string(),
    };
    AccessWriter {
        id: sid.to_string(),
        name,
        can: can.to_string(),
    }
}

/// The `icacls` commands that leave `path` to SYSTEM and Administrators: for hubup's own
/// files and folders, inheritance off, full control for both, the untrusted grants removed
/// and Administrators as owner; for a folder above them, the untrusted grants removed (after
/// turning inherited entries into explicit ones, which `/remove` can then take away).
pub fn fix_command(path: &Path, is_dir: bool, scope: Scope, writers: &[AccessWriter]) -> String {
    let quoted = format!("\"{}\"", path.display());
    let inherit = if is_dir { "(OI)(CI)" } else { "" };
    let removable: Vec<String> = writers
        .iter()
        .filter(|w| w.id.starts_with("S-"))
        .map(|w| format!("*{}", w.id))
        .collect();
    let mut commands = Vec::new();
    match scope {
        Scope::Target => {
            commands.push(format!(
                "icacls {quoted} /inheritance:r /grant:r *{SYSTEM}:{inherit}F *{ADMINISTRATORS}:{inherit}F"
            ));
            if !removable.is_empty() {
                commands.push(format!("icacls {quoted} /remove:g {}", removable.join(" ")));
            }
            commands.push(format!("icacls {quoted} /setowner *{ADMINISTRATORS}"));
        }
        Scope::Ancestor => {
            commands.push(format!("icacls {quoted} /inheritance:d"));
            if !removable.is_empty() {
                commands.push(format!("icacls {quoted} /remove:g {}", removable.join(" ")));
            }
            commands.push(format!("icacls {quoted} /setowner *{ADMINISTRATORS}"));
        }
    }
    commands.join(" && ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROGRAM_DATA: &str = "O:SYG:SYD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)(A;OICIIO;FA;;;CO)\
                                (A;OICI;0x1200a9;;;BU)(A;CI;DCLCRPCR;;;BU)";
    /// What a folder created in C:\ProgramData by an administrator inherits.
    const INHERITED_IN_PROGRAM_DATA: &str = "O:BAG:SYD:AI(A;OICIID;FA;;;SY)(A;OICIID;FA;;;BA)\
        (A;OICIIOID;GA;;;CO)(A;OICIID;0x1200a9;;;BU)(A;CIID;DCLCRPCR;;;BU)";
    /// What hubup gives the folders it creates.
    const PRIVATE: &str = "O:BAG:SYD:PAI(A;OICI;FA;;;SY)(A;OICI;FA;;;BA)";

    fn writers(sddl: &str, is_dir: bool, scope: Scope) -> Vec<AccessWriter> {
        let sd = SecurityDescriptor::parse(sddl).unwrap();
        untrusted_writers(&sd, is_dir, scope, &Trusted::with_user(None))
    }

    #[test]
    fn program_data_is_a_safe_parent_but_no_place_for_hubup_files() {
        assert_eq!(writers(PROGRAM_DATA, true, Scope::Ancestor), vec![]);
        let found = writers(PROGRAM_DATA, true, Scope::Target);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].id, "S-1-5-32-545");
        assert!(found[0].name.contains("BUILTIN\\Users"));
        assert!(found[0].can.contains("create files in it"), "{found:?}");
    }

    #[test]
    fn a_folder_that_inherits_from_program_data_lets_users_plant_files() {
        // The issue's escalation: %ProgramData%\hubup made with default inheritance.
        let found = writers(INHERITED_IN_PROGRAM_DATA, true, Scope::Target);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].can.contains("create files in it"));
        assert_eq!(writers(PRIVATE, true, Scope::Target), vec![]);
        assert_eq!(writers(PRIVATE, false, Scope::Target), vec![]);
    }

    #[test]
    fn owners_null_dacls_and_generic_rights_count() {
        let owned = writers("O:BUD:PAI(A;;FA;;;SY)", false, Scope::Target);
        assert!(owned[0].can.contains("owns it"), "{owned:?}");
        let open = writers("O:BAD:NO_ACCESS_CONTROL", false, Scope::Ancestor);
        assert_eq!(open[0].name, "Everyone");
        let generic = writers("O:BAD:P(A;;GW;;;AU)", false, Scope::Target);
        assert!(generic[0].can.contains("write it"), "{generic:?}");
        let modify = writers("O:BAD:P(A;OICI;0x1301bf;;;WD)", true, Scope::Target);
        assert!(modify[0].can.contains("delete"), "{modify:?}");
        assert_eq!(writers("O:BAD:P(A;;FR;;;WD)", false, Scope::Target), vec![]);
        let full = writers("O:BAD:P(A;OICI;FA;;;BU)", true, Scope::Target);
        assert!(full[0].can.contains("every way"), "{full:?}");
    }

    #[test]
    fn denies_count_only_for_the_same_sid_and_only_before() {
        assert_eq!(
            writers("O:BAD:P(D;;FA;;;BU)(A;;FA;;;BU)", false, Scope::Target),
            vec![]
        );
        let after = writers("O:BAD:P(A;;FA;;;BU)(D;;FW;;;BU)", false, Scope::Target);
        assert_eq!(after.len(), 1, "a deny after the allow comes too late");
        let other = writers("O:BAD:P(D;;FW;;;WD)(A;;FA;;;BU)", false, Scope::Target);
        assert_eq!(
            other.len(),
            1,
            "Everyone denied does not stop Users granted"
        );
    }

    #[test]
    fn the_running_account_and_inherit_only_entries_are_trusted() {
        let me = Sid("S-1-5-21-1-2-3-1001".into());
        let sd = SecurityDescriptor::parse(
            "O:S-1-5-21-1-2-3-1001D:P(A;;FA;;;S-1-5-21-1-2-3-1001)(A;OICIIO;FA;;;WD)",
        )
        .unwrap();
        let trusted = Trusted::with_user(Some(me));
        assert_eq!(
            untrusted_writers(&sd, true, Scope::Target, &trusted),
            vec![]
        );
        assert_eq!(
            untrusted_writers(&sd, true, Scope::Target, &Trusted::with_user(None)).len(),
            2,
            "another account: owner and grant"
        );
    }

    #[test]
    fn ancestors_may_let_others_add_but_not_replace() {
        assert_eq!(
            writers("O:BAD:P(A;;DCLC;;;AU)", true, Scope::Ancestor),
            vec![]
        );
        let replace = writers("O:BAD:P(A;;DT;;;AU)", true, Scope::Ancestor);
        assert!(replace[0].can.contains("delete or replace"), "{replace:?}");
    }

    #[test]
    fn the_fix_names_the_path_and_removes_the_writers() {
        let found = writers(INHERITED_IN_PROGRAM_DATA, true, Scope::Target);
        let fix = fix_command(
            Path::new(r"C:\ProgramData\hubup"),
            true,
            Scope::Target,
            &found,
        );
        assert_eq!(
            fix,
            "icacls \"C:\\ProgramData\\hubup\" /inheritance:r /grant:r *S-1-5-18:(OI)(CI)F \
             *S-1-5-32-544:(OI)(CI)F && icacls \"C:\\ProgramData\\hubup\" /remove:g *S-1-5-32-545 \
             && icacls \"C:\\ProgramData\\hubup\" /setowner *S-1-5-32-544"
        );
    }
}
