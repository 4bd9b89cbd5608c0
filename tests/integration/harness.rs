//! The shape of the test suite itself: every test lives in this one binary. A file directly
//! under `tests/` would become a test binary of its own (linked and started separately, and
//! outside the Windows run's single binary), and a module file here or in `tests/support/` that
//! no `mod` line names is never compiled, so its tests would silently not run.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

/// The `.rs` files in `dir` (not below it), by name without the extension.
fn rust_files(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|entry| entry.expect("dir entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "rs"))
        .map(|path| path.file_stem().unwrap().to_string_lossy().into_owned())
        .collect()
}

/// The modules `file` declares with a `mod name;` line (any visibility, any attributes above).
fn declared_modules(file: &Path) -> BTreeSet<String> {
    std::fs::read_to_string(file)
        .unwrap_or_else(|e| panic!("read {}: {e}", file.display()))
        .lines()
        .filter_map(|line| {
            let line = line.trim().trim_start_matches("pub ");
            line.strip_prefix("mod ")?
                .strip_suffix(';')
                .map(str::to_string)
        })
        .collect()
}

/// The one test binary besides this one: the crash lab. It needs a harness of its own
/// (libtest-mimic reports its power-loss trials as ignored where FUSE cannot be mounted, which
/// libtest cannot) and its trials run for minutes, apart from the suite. Cargo.toml names it.
const CRASH_LAB: &str = "crash_lab";

/// What is wrong with the shape of the test folder `tests`: files directly under it, and
/// folders with a `main.rs` other than `integration` and the crash lab.
fn stray_binaries(tests: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let stray = rust_files(tests);
    if !stray.is_empty() {
        problems.push(format!(
            "test files directly under tests/ make binaries of their own: {stray:?}; move them \
             to tests/integration/ and name them in its main.rs"
        ));
    }
    for entry in std::fs::read_dir(tests).unwrap() {
        let dir = entry.unwrap().path();
        let allowed = dir
            .file_name()
            .is_some_and(|n| n == "integration" || n == CRASH_LAB);
        if dir.is_dir() && !allowed && dir.join("main.rs").exists() {
            problems.push(format!(
                "{} is a test binary of its own; its tests belong in tests/integration/",
                dir.display()
            ));
        }
    }
    problems
}

#[test]
fn there_is_one_test_binary() {
    let problems = stray_binaries(&tests_dir());
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_crash_lab_is_the_only_other_binary_and_cargo_names_it() {
    assert!(tests_dir().join(CRASH_LAB).join("main.rs").exists());
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .expect("Cargo.toml");
    assert!(
        manifest.contains("path = \"tests/crash_lab/main.rs\""),
        "Cargo.toml names the crash lab's binary (harness = false)"
    );
}

#[test]
fn a_stray_binary_beside_the_crash_lab_is_found() {
    let tests = tempfile::tempdir().expect("temp dir");
    for dir in ["integration", CRASH_LAB, "support", "other"] {
        std::fs::create_dir(tests.path().join(dir)).unwrap();
    }
    for file in ["integration/main.rs", "crash_lab/main.rs", "support/mod.rs"] {
        std::fs::write(tests.path().join(file), "").unwrap();
    }
    assert_eq!(stray_binaries(tests.path()), Vec::<String>::new());

    std::fs::write(tests.path().join("other/main.rs"), "").unwrap();
    std::fs::write(tests.path().join("loose.rs"), "").unwrap();
    let problems = stray_binaries(tests.path());
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(problems[0].contains("\"loose\""), "{problems:?}");
    assert!(problems[1].contains("other"), "{problems:?}");
}

#[test]
fn every_module_file_is_compiled() {
    for (dir, root) in [("integration", "main"), ("support", "mod")] {
        let dir = tests_dir().join(dir);
        let mut files = rust_files(&dir);
        files.remove(root);
        let declared = declared_modules(&dir.join(format!("{root}.rs")));
        let missing: Vec<&String> = files.difference(&declared).collect();
        assert!(
            missing.is_empty(),
            "{} has files no `mod` line of {root}.rs names, so they are never compiled: \
             {missing:?}",
            dir.display()
        );
    }
}
