//! Build script: tells the tests whether a real SQL Server is configured. With
//! `HUBUP_TEST_MSSQL` set at build time, `cfg(hubup_test_mssql)` is on and the tests in
//! `tests/integration/sql_mssql.rs` run; without it they are compiled as ignored, so a test
//! run reports them as ignored rather than as passed. And it stamps the build with its commit
//! (`HUBUP_COMMIT`, shown by `hubup --version` and in each run's log), so an auditor can tell
//! exactly which hubup changed a machine. Nothing else is built here.

use std::process::Command;

fn main() {
    stamp_commit();
    println!("cargo::rustc-check-cfg=cfg(hubup_test_mssql)");
    // Only this variable decides the output; cargo reruns the script (and rebuilds) when it
    // changes, so setting or clearing it takes effect on the next `cargo test`.
    println!("cargo::rerun-if-env-changed=HUBUP_TEST_MSSQL");
    if std::env::var_os("HUBUP_TEST_MSSQL").is_some_and(|value| !value.is_empty()) {
        println!("cargo::rustc-cfg=hubup_test_mssql");
    }
}

/// `HUBUP_COMMIT`: the short commit hash, with `-modified` when the tracked files differed
/// from it when the script last ran (it reruns when HEAD or its branch moves, not on every
/// edit), or `unknown` outside a git checkout (a source tarball).
fn stamp_commit() {
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git").args(args).output().ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let commit = git(&["rev-parse", "--short=12", "HEAD"]);
    let modified =
        git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty());
    let stamp = match commit {
        Some(c) if modified => format!("{c}-modified"),
        Some(c) => c,
        None => "unknown".to_string(),
    };
    println!("cargo::rustc-env=HUBUP_COMMIT={stamp}");
    // A new commit or checkout moves HEAD or the branch it names. `--git-path` finds each
    // file where it is (a worktree keeps its HEAD apart and shares the refs); only existing
    // files are named, since cargo reruns a script that names a missing one on every build.
    let mut watched = vec!["HEAD".to_string(), "packed-refs".to_string()];
    watched.extend(git(&["symbolic-ref", "-q", "HEAD"]));
    for name in watched {
        if let Some(path) = git(&["rev-parse", "--git-path", &name])
            && std::path::Path::new(&path).exists()
        {
            println!("cargo::rerun-if-changed={path}");
        }
    }
}
