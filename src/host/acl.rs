//! icacls' notation for one ACL entry's rights (learn.microsoft.com/windows-server/
//! administration/windows-commands/icacls): inheritance flags `(I)` inherited, `(OI)` object
//! inherit, `(CI)` container inherit, `(IO)` inherit only, `(NP)` no propagation; then simple
//! rights (`F`, `M`, `RX`, `R`, `W`, `D`) or a comma-separated list of specific rights in
//! parentheses (`(GR,GE)`). icacls shows every group in parentheses (`(OI)(CI)(F)`) and takes
//! simple rights bare in `/grant` (`(OI)(CI)F`); a deny entry shows `(DENY)`.

use std::collections::BTreeSet;

use crate::op::AclEntry;

const FLAGS: [&str; 6] = ["I", "OI", "CI", "IO", "NP", "DENY"];
const SIMPLE: [&str; 6] = ["F", "M", "RX", "R", "W", "D"];

/// An entry's rights split into its flags and its rights.
#[derive(Debug, Default, PartialEq, Eq)]
struct Rights {
    flags: BTreeSet<String>,
    rights: BTreeSet<String>,
}

fn parse(spec: &str) -> Rights {
    let mut out = Rights::default();
    let mut rest = spec.trim();
    while let Some(inner) = rest.strip_prefix('(') {
        let Some(end) = inner.find(')') else { break };
        let group = &inner[..end];
        if FLAGS.contains(&group) {
            out.flags.insert(group.to_string());
        } else {
            out.rights
                .extend(group.split(',').map(|r| r.trim().to_string()));
        }
        rest = &inner[end + 1..];
    }
    if !rest.trim().is_empty() {
        out.rights.insert(rest.trim().to_string());
    }
    out
}

/// Whether `held` includes `wanted` (`F` and `GA` hold everything; `M` holds read, execute,
/// write and delete; `RX` holds `R`).
fn right_holds(held: &BTreeSet<String>, wanted: &str) -> bool {
    let has = |r: &str| held.contains(r);
    has(wanted)
        || has("F")
        || has("GA")
        || (has("M") && ["RX", "R", "W", "D", "X"].contains(&wanted))
        || (has("RX") && ["R", "X"].contains(&wanted))
}

/// Whether `entries` (one principal's) already give `wanted` (grant notation, `(OI)(CI)F`):
/// an allow entry, inherited or not, that applies to the object itself, with at least the
/// wanted inheritance and rights.
pub fn covers_rights(entries: &[AclEntry], wanted: &str) -> bool {
    let wanted = parse(wanted);
    let wanted_flags: BTreeSet<&String> = wanted.flags.iter().filter(|f| *f != "I").collect();
    entries.iter().filter(|e| !e.deny).any(|entry| {
        let held = parse(&entry.rights);
        let applies_here = !held.flags.contains("IO") || wanted.flags.contains("IO");
        applies_here
            && wanted_flags.iter().all(|f| held.flags.contains(*f))
            && wanted.rights.iter().all(|r| right_holds(&held.rights, r))
    })
}

/// The inheritance flags of `rights` in icacls' order, each in its parentheses (`(OI)(CI)`):
/// the same prefix in the `/grant` notation and in what icacls shows.
fn inheritance_flags(rights: &Rights) -> String {
    ["OI", "CI", "IO", "NP"]
        .iter()
        .filter(|f| rights.flags.contains(**f))
        .map(|f| format!("({f})"))
        .collect()
}

/// `/grant` notation (`(OI)(CI)F`) in the form icacls shows (`(OI)(CI)(F)`).
pub fn stored_rights(grant: &str) -> String {
    let parsed = parse(grant);
    let mut out = inheritance_flags(&parsed);
    let rights: Vec<&str> = parsed.rights.iter().map(String::as_str).collect();
    out.push_str(&format!("({})", rights.join(",")));
    out
}

/// The `/grant` notation that gives an entry as icacls showed it back, or `None` for an entry
/// that cannot be granted: an inherited one (it comes from the parent) or a deny entry.
pub fn grant_spec(entry: &AclEntry) -> Option<String> {
    let parsed = parse(&entry.rights);
    if entry.deny || parsed.flags.contains("I") || parsed.flags.contains("DENY") {
        return None;
    }
    let mut out = inheritance_flags(&parsed);
    let rights: Vec<&str> = parsed.rights.iter().map(String::as_str).collect();
    match rights.as_slice() {
        [one] if SIMPLE.contains(one) => out.push_str(one),
        _ => out.push_str(&format!("({})", rights.join(","))),
    }
    Some(out)
}

/// Whether an entry as icacls shows it is inherited.
pub fn is_inherited(entry: &AclEntry) -> bool {
    parse(&entry.rights).flags.contains("I")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(rights: &str) -> AclEntry {
        AclEntry {
            rights: rights.into(),
            deny: false,
        }
    }

    #[test]
    fn coverage_follows_the_rights_and_inheritance() {
        assert!(covers_rights(&[allow("(F)")], "F"));
        assert!(covers_rights(&[allow("(I)(F)")], "F"), "inherited counts");
        assert!(!covers_rights(&[allow("(RX)")], "F"));
        assert!(covers_rights(&[allow("(OI)(CI)(F)")], "(OI)(CI)F"));
        assert!(
            !covers_rights(&[allow("(F)")], "(OI)(CI)F"),
            "no inheritance"
        );
        assert!(
            !covers_rights(&[allow("(OI)(CI)(IO)(F)")], "F"),
            "inherit-only does not apply to the object"
        );
        assert!(covers_rights(&[allow("(M)")], "RX"));
        let deny = AclEntry {
            rights: "(F)".into(),
            deny: true,
        };
        assert!(!covers_rights(&[deny], "F"));
    }

    #[test]
    fn grant_and_show_notations_convert_both_ways() {
        assert_eq!(stored_rights("(OI)(CI)F"), "(OI)(CI)(F)");
        assert_eq!(stored_rights("F"), "(F)");
        assert_eq!(
            grant_spec(&allow("(OI)(CI)(F)")).as_deref(),
            Some("(OI)(CI)F")
        );
        assert_eq!(
            grant_spec(&allow("(OI)(CI)(IO)(GR,GE)")).as_deref(),
            Some("(OI)(CI)(IO)(GE,GR)")
        );
        assert_eq!(grant_spec(&allow("(I)(RX)")), None);
        assert!(is_inherited(&allow("(I)(OI)(CI)(F)")));
    }
}
