//! Who, besides root and the account running hubup, can change a file or folder on Unix: the
//! decision over an owner, a group and mode bits (platform-free, so it is unit-tested
//! anywhere), the `chown`/`chmod` command that fixes it, and (on Unix) reading those facts
//! and creating private folders.
//!
//! The rules, and why:
//! - Trusted owners: root and the effective user running hubup. An untrusted owner can
//!   `chmod` its file at will, so it counts as a writer whatever the mode says.
//! - Group and world write bits make the group's members or everyone writers. A group is not
//!   trusted even when it is root's: hubup cannot tell who is in it. (With POSIX ACLs, the
//!   group bits show the ACL mask, so a named user granted write shows up here too.)
//! - For the folders above hubup's own ([`Scope::Ancestor`]) the sticky bit makes group and
//!   world write harmless: others can add entries to `/tmp` but cannot rename or remove the
//!   entries of others, such as hubup's folder in it. hubup's own files and folders
//!   ([`Scope::Target`]) get no such pass: a journal folder others can add files to lets them
//!   plant the names hubup creates next (the journal's temporary file, its pid file, logs).

use std::path::Path;

use super::{AccessWriter, Scope};

const STICKY: u32 = 0o1000;
const GROUP_WRITE: u32 = 0o020;
const OTHER_WRITE: u32 = 0o002;

/// What the decision reads of a file or folder.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnixFacts {
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
    pub is_dir: bool,
}

/// Everyone untrusted who can change the object, with what they can do.
pub fn untrusted_writers(
    facts: &UnixFacts,
    scope: Scope,
    trusted_uids: &[u32],
) -> Vec<AccessWriter> {
    let mut out = Vec::new();
    if !trusted_uids.contains(&facts.uid) {
        out.push(AccessWriter {
            id: format!("uid:{}", facts.uid),
            name: user_name(facts.uid),
            can: "owns it (an owner can always change its mode)".into(),
        });
    }
    let sticky_pass = scope == Scope::Ancestor && facts.is_dir && facts.mode & STICKY != 0;
    if sticky_pass {
        return out;
    }
    let can = |mode: u32| {
        let what = if facts.is_dir {
            "create, delete and rename entries in it"
        } else {
            "write it"
        };
        format!("{what} (mode {:o})", mode & 0o7777)
    };
    if facts.mode & GROUP_WRITE != 0 {
        out.push(AccessWriter {
            id: format!("gid:{}", facts.gid),
            name: format!("members of {}", group_name(facts.gid)),
            can: can(facts.mode),
        });
    }
    if facts.mode & OTHER_WRITE != 0 {
        out.push(AccessWriter {
            id: "everyone".into(),
            name: "everyone".into(),
            can: can(facts.mode),
        });
    }
    out
}

/// The command that leaves the object to `owner` (a user name) alone: for hubup's own
/// files `chmod 600`, folders `chmod 700`; for a folder above them, no group or world write.
pub fn fix_command(
    path: &Path,
    facts: &UnixFacts,
    scope: Scope,
    writers: &[AccessWriter],
    owner: &str,
) -> String {
    let quoted = shell_quote(&path.display().to_string());
    let mut commands = Vec::new();
    if writers.iter().any(|w| w.id.starts_with("uid:")) {
        commands.push(format!("chown {owner} {quoted}"));
    }
    let mode_is_open = writers.iter().any(|w| !w.id.starts_with("uid:"));
    if mode_is_open || scope == Scope::Target {
        commands.push(match (scope, facts.is_dir) {
            (Scope::Target, true) => format!("chmod 700 {quoted}"),
            (Scope::Target, false) => format!("chmod 600 {quoted}"),
            (Scope::Ancestor, _) => format!("chmod go-w {quoted}"),
        });
    }
    commands.join(" && ")
}

fn shell_quote(text: &str) -> String {
    if text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/._-+".contains(&b))
    {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

/// `root (uid 0)`, or `uid N` when the account database does not name it.
pub fn user_name(uid: u32) -> String {
    match lookup_name("/etc/passwd", uid) {
        Some(name) => format!("{name} (uid {uid})"),
        None => format!("uid {uid}"),
    }
}

fn group_name(gid: u32) -> String {
    match lookup_name("/etc/group", gid) {
        Some(name) => format!("group {name} (gid {gid})"),
        None => format!("group gid {gid}"),
    }
}

/// The name for `id` in a `name:x:id:...` file (passwd or group), if it is there.
fn lookup_name(file: &str, id: u32) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let found: u32 = fields.nth(1)?.parse().ok()?;
        (found == id && !name.is_empty()).then(|| name.to_string())
    })
}

/// The facts of `path` (following symbolic links: the chain of the resolved path is checked
/// too).
#[cfg(unix)]
pub(super) fn facts(path: &Path) -> std::io::Result<UnixFacts> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path)?;
    Ok(UnixFacts {
        uid: meta.uid(),
        gid: meta.gid(),
        mode: meta.mode(),
        is_dir: meta.is_dir(),
    })
}

/// The effective user running hubup.
#[cfg(unix)]
pub(super) fn current_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Creates one folder readable and writable by its owner only (0700).
#[cfg(unix)]
pub(super) fn create_private_dir(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().mode(0o700).create(path)
}

/// Makes a file hubup created readable and writable by its owner only (0600).
#[cfg(unix)]
pub(super) fn make_private_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(uid: u32, mode: u32, is_dir: bool) -> UnixFacts {
        UnixFacts {
            uid,
            gid: 0,
            mode,
            is_dir,
        }
    }

    #[test]
    fn world_and_group_write_are_writers_and_the_mode_is_named() {
        let found = untrusted_writers(&facts(0, 0o100666, false), Scope::Target, &[0]);
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!(found[1].name, "everyone");
        assert!(found[1].can.contains("mode 666"), "{found:?}");
        assert_eq!(
            untrusted_writers(&facts(0, 0o100644, false), Scope::Target, &[0]),
            vec![]
        );
    }

    #[test]
    fn an_untrusted_owner_is_a_writer_even_with_a_closed_mode() {
        let found = untrusted_writers(&facts(4242, 0o100600, false), Scope::Target, &[0]);
        assert_eq!(found.len(), 1);
        assert!(found[0].name.contains("4242") && found[0].can.contains("owns it"));
        assert_eq!(
            untrusted_writers(&facts(1000, 0o100600, false), Scope::Target, &[0, 1000]),
            vec![],
            "the account running hubup owns its files"
        );
    }

    #[test]
    fn the_sticky_bit_protects_entries_of_a_parent_only() {
        let tmp = facts(0, 0o041777, true);
        assert_eq!(untrusted_writers(&tmp, Scope::Ancestor, &[0]), vec![]);
        assert_eq!(untrusted_writers(&tmp, Scope::Target, &[0]).len(), 2);
        let open = facts(0, 0o040777, true);
        assert_eq!(untrusted_writers(&open, Scope::Ancestor, &[0]).len(), 2);
        let foreign_tmp = facts(4242, 0o041777, true);
        assert_eq!(
            untrusted_writers(&foreign_tmp, Scope::Ancestor, &[0]).len(),
            1,
            "its owner can still change it"
        );
    }

    #[test]
    fn fixes_match_the_problem() {
        let file = facts(4242, 0o100666, false);
        let writers = untrusted_writers(&file, Scope::Target, &[0]);
        assert_eq!(
            fix_command(
                Path::new("/etc/hubup/hubup.toml"),
                &file,
                Scope::Target,
                &writers,
                "root"
            ),
            "chown root /etc/hubup/hubup.toml && chmod 600 /etc/hubup/hubup.toml"
        );
        let dir = facts(0, 0o040777, true);
        let writers = untrusted_writers(&dir, Scope::Ancestor, &[0]);
        assert_eq!(
            fix_command(
                Path::new("/srv/up grade"),
                &dir,
                Scope::Ancestor,
                &writers,
                "root"
            ),
            "chmod go-w '/srv/up grade'"
        );
    }
}
