//! Who may steer hubup. hubup runs as an administrator and does what three kinds of files
//! tell it: the config (its command templates), the journal (resume and rollback run the
//! journaled ops) and the packages. This module checks that nobody but administrators (root,
//! or the account running hubup) can change those files, and creates hubup's own folders so
//! that nobody else can.
//!
//! What is checked ([`check_access_paths`], given the paths by `config::check_config_paths`,
//! since this module knows paths, not configs): the config file and its folder, the journal
//! file and its folder, the packages folder and the output folder (the SQL script a DBA runs)
//! are *targets*: nobody untrusted may write, create, delete or rename anything in them, or
//! change their permissions or owner. Every folder above a target, up to the root of the file
//! system, is an *ancestor*: an untrusted user may add entries there (`/tmp`'s sticky bit,
//! `C:\ProgramData`'s "Users may create folders") but must not be able to remove, rename or
//! replace the entries of others or change the folder's permissions, since replacing any
//! folder on the way replaces everything below it. On Unix the resolved path (symbolic links
//! followed) is checked as well as the path as written. This is OpenSSH's StrictModes idea,
//! carried to the root because hubup's files do not live under a home folder, and with the
//! sticky-bit pass that a shared parent needs. Paths that do not exist yet are not targets
//! (hubup creates them privately); their existing ancestors are checked.
//!
//! The decisions are platform-free (`unix.rs` over owner and mode bits, `acl.rs` over a
//! Windows security descriptor parsed from SDDL by `sddl.rs`), so both are unit-tested on any
//! platform; `windows.rs` holds the Win32 calls that fetch a descriptor and create folders with
//! hubup's ACL (SYSTEM and Administrators full control, inheritance off).
//!
//! The CLI refuses a changing command (`upgrade`, `resume`, `rollback`) when any problem is
//! found, and warns on reading ones; each problem names the path, who can write it and the
//! command that fixes it.

// The Windows decisions run on Windows; elsewhere only their tests use them.
#[cfg_attr(not(windows), allow(dead_code))]
mod acl;
#[cfg_attr(not(windows), allow(dead_code))]
mod sddl;
// Likewise the Unix decisions on Windows.
#[cfg_attr(not(unix), allow(dead_code))]
mod unix;
#[cfg(windows)]
mod windows;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// How strictly a path is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// One of hubup's own files or folders: nobody untrusted may change it at all.
    Target,
    /// A folder above one: others may add entries, but not replace or remove them.
    Ancestor,
}

/// Someone other than an administrator who can change a path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessWriter {
    /// `S-1-5-32-545`, `uid:1000`, `gid:50` or `everyone`.
    pub id: String,
    /// A readable name (`BUILTIN\Users (S-1-5-32-545)`, `bob (uid 1000)`).
    pub name: String,
    /// What they can do (`create files in it`, `write it (mode 666)`).
    pub can: String,
}

/// A path that steers hubup and that others can change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessProblem {
    pub path: PathBuf,
    /// What the path is to hubup: `config file`, `journal folder`, `folder above the journal`.
    pub what: String,
    pub writers: Vec<AccessWriter>,
    /// The command (icacls, chmod, chown) that fixes it.
    pub fix: String,
}

impl fmt::Display for AccessProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who: Vec<String> = self
            .writers
            .iter()
            .map(|w| format!("{} can {}", w.name, w.can))
            .collect();
        write!(
            f,
            "{} {}: {}; fix: {}",
            self.what,
            self.path.display(),
            who.join("; "),
            self.fix
        )
    }
}

/// The result of checking the paths that steer hubup.
#[derive(Clone, Debug, Default)]
pub struct AccessReport {
    pub problems: Vec<AccessProblem>,
}

impl AccessReport {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    /// The refusal of a changing command (`action`: "upgrade", "resume", ...).
    pub fn refusal(&self, action: &str) -> String {
        format!(
            "refusing to {action}: {} path(s) that steer hubup (its config, journal and \
             packages) can be changed by others than administrators, who could make hubup run \
             their programs; nothing was changed. Fix each, then run the command again:{}",
            self.problems.len(),
            self.list()
        )
    }

    /// The warning of a reading command.
    pub fn warning(&self) -> String {
        format!(
            "warning: {} path(s) that steer hubup can be changed by others than \
             administrators; `upgrade`, `resume` and `rollback` will refuse to run until they \
             are fixed:{}",
            self.problems.len(),
            self.list()
        )
    }

    fn list(&self) -> String {
        self.problems.iter().map(|p| format!("\n  - {p}")).collect()
    }
}

/// Checks each `(what, path)` as a target and every existing folder above it as an ancestor.
/// Reads only.
pub fn check_access_paths(paths: &[(&str, PathBuf)]) -> AccessReport {
    let mut checks: Vec<(PathBuf, Scope, String)> = Vec::new();
    let mut add = |path: PathBuf, scope: Scope, what: String| {
        match checks.iter_mut().find(|(p, _, _)| *p == path) {
            // A path that is some item's target is checked as one, whoever else it is above.
            Some(existing) if scope == Scope::Target && existing.1 == Scope::Ancestor => {
                *existing = (path, scope, what)
            }
            Some(_) => {}
            None => checks.push((path, scope, what)),
        }
    };
    for (what, path) in paths {
        for chain in chains(path) {
            if chain.exists() {
                add(chain.clone(), Scope::Target, what.to_string());
            }
            for above in chain
                .ancestors()
                .skip(1)
                .filter(|p| !p.as_os_str().is_empty())
            {
                if above.exists() {
                    add(
                        above.to_path_buf(),
                        Scope::Ancestor,
                        format!("folder above the {what}"),
                    );
                }
            }
        }
    }
    let problems = checks
        .into_iter()
        .filter_map(|(path, scope, what)| problem_of(&path, scope, what))
        .collect();
    AccessReport { problems }
}

/// The absolute path as written and, on Unix, the path with symbolic links resolved.
fn chains(path: &Path) -> Vec<PathBuf> {
    let written = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = vec![written.clone()];
    // Windows's canonical form is a \\?\ path that names the same objects; on Unix a link on
    // the way can lead somewhere else entirely.
    if cfg!(unix)
        && let Ok(resolved) = std::fs::canonicalize(&written)
        && resolved != written
    {
        out.push(resolved);
    }
    out
}

fn problem_of(path: &Path, scope: Scope, what: String) -> Option<AccessProblem> {
    match writers_of(path, scope) {
        Ok((writers, _)) if writers.is_empty() => None,
        Ok((writers, fix)) => Some(AccessProblem {
            path: path.to_path_buf(),
            what,
            writers,
            fix,
        }),
        // Unknown is not safe: say so, and how to look.
        Err(e) => Some(AccessProblem {
            path: path.to_path_buf(),
            what,
            writers: vec![AccessWriter {
                id: "unknown".into(),
                name: "hubup cannot tell who".into(),
                can: format!("change it (its permissions cannot be read: {e})"),
            }],
            fix: if cfg!(windows) {
                format!("icacls \"{}\" (run as an administrator)", path.display())
            } else {
                format!("ls -ld '{}' (run as root)", path.display())
            },
        }),
    }
}

#[cfg(unix)]
fn writers_of(path: &Path, scope: Scope) -> io::Result<(Vec<AccessWriter>, String)> {
    let facts = unix::facts(path)?;
    let me = unix::current_uid();
    let writers = unix::untrusted_writers(&facts, scope, &[0, me]);
    let owner = unix::user_name(me);
    let owner = owner.split(' ').next().unwrap_or("root").to_string();
    let fix = unix::fix_command(path, &facts, scope, &writers, &owner);
    Ok((writers, fix))
}

#[cfg(windows)]
fn writers_of(path: &Path, scope: Scope) -> io::Result<(Vec<AccessWriter>, String)> {
    let sd = windows::descriptor(path)?;
    let is_dir = path.is_dir();
    let trusted = acl::Trusted::with_user(windows::current_user());
    let writers = acl::untrusted_writers(&sd, is_dir, scope, &trusted);
    let fix = acl::fix_command(path, is_dir, scope, &writers);
    Ok((writers, fix))
}

/// Creates `dir` and its missing parents; each folder hubup creates gets hubup's own access
/// (Unix: mode 0700, owned by the account running hubup; Windows: SYSTEM and Administrators
/// full control, inheritance off). Folders that exist are left as they are (the checks report
/// them). Each folder that gained an entry is flushed.
pub fn create_private_dir_all(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_private_dir_all(parent)?;
    }
    match create_private_dir(dir) {
        Ok(()) => crate::fsx::sync_parent(dir),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    unix::create_private_dir(dir)
}

#[cfg(windows)]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    windows::create_private_dir(dir)
}

/// Makes a file hubup created (the journal, a signing key) readable and writable by its
/// owner only. On Windows the file already has its folder's inheritable entries, which in
/// hubup's folders are SYSTEM and Administrators only.
pub fn make_private_file(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        unix::make_private_file(path)
    }
    #[cfg(windows)]
    {
        let _ = path;
        Ok(())
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn private_folders_are_0700_and_pass_the_check() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("a").join("b");
        create_private_dir_all(&dir).unwrap();
        for folder in [temp.path().join("a"), dir.clone()] {
            let mode = std::fs::metadata(&folder).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700, "{}", folder.display());
        }
        let report = check_access_paths(&[("journal folder", dir)]);
        assert!(report.is_clean(), "{:?}", report.problems);
    }

    #[test]
    fn a_world_writable_target_or_parent_is_named_with_its_fix() {
        let temp = tempfile::tempdir().unwrap();
        let open = temp.path().join("open");
        let inner = open.join("inner");
        std::fs::create_dir_all(&inner).unwrap();
        chmod(&open, 0o777);
        let report = check_access_paths(&[("packages folder", inner.clone())]);
        assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
        let problem = &report.problems[0];
        assert_eq!(problem.path, open);
        assert_eq!(problem.what, "folder above the packages folder");
        assert!(problem.fix.starts_with("chmod go-w"), "{}", problem.fix);
        // The sticky bit makes a shared parent safe, but never a target.
        chmod(&open, 0o1777);
        assert!(check_access_paths(&[("packages folder", inner)]).is_clean());
        let report = check_access_paths(&[("packages folder", open.clone())]);
        assert_eq!(report.problems.len(), 1);
        assert!(report.problems[0].fix.contains("chmod 700"));
        chmod(&open, 0o755);
    }

    #[test]
    fn a_symbolic_link_is_checked_where_it_leads() {
        let temp = tempfile::tempdir().unwrap();
        let elsewhere = temp.path().join("elsewhere");
        std::fs::create_dir(&elsewhere).unwrap();
        chmod(&elsewhere, 0o777);
        let safe = temp.path().join("safe");
        std::fs::create_dir(&safe).unwrap();
        let link = safe.join("packages");
        std::os::unix::fs::symlink(&elsewhere, &link).unwrap();
        let report = check_access_paths(&[("packages folder", link)]);
        assert!(
            report.problems.iter().any(|p| p.path == elsewhere),
            "{:?}",
            report.problems
        );
    }
}

/// The real Win32 calls (run under Wine by `scripts/test-windows.sh`).
#[cfg(all(test, windows))]
mod windows_tests {
    use super::*;

    /// Wine keeps no ACL a folder is created with: it reports one made from the Unix mode
    /// (SYSTEM and the owner for 0700), so the exact ACL is checked on Windows only.
    fn under_wine() -> bool {
        Path::new(r"C:\windows\system32\winecfg.exe").exists()
    }

    #[test]
    fn a_private_folder_gets_hubup_s_acl_and_passes_as_a_target() {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().join("hubup").join("journal");
        create_private_dir_all(&dir).unwrap();
        // The real calls: the descriptor is fetched, turned into SDDL by Windows and parsed.
        let sd = windows::descriptor(&dir).unwrap();
        let (writers, _) = writers_of(&dir, Scope::Target).unwrap();
        assert_eq!(writers, vec![], "{sd:?}");
        assert!(windows::current_user().is_some_and(|sid| sid.0.starts_with("S-1-")));
        if under_wine() {
            return;
        }
        assert!(sd.protected, "inheritance is off: {sd:?}");
        let dacl = sd.dacl.clone().expect("a DACL");
        let sids: Vec<&str> = dacl.iter().map(|a| a.sid.0.as_str()).collect();
        assert_eq!(sids, vec![sddl::SYSTEM, sddl::ADMINISTRATORS], "{sd:?}");
        assert!(dacl.iter().all(|a| a.mask & 0x1F01FF == 0x1F01FF));
    }
}
