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

#[test]
fn there_is_one_test_binary() {
    let stray = rust_files(&tests_dir());
    assert!(
        stray.is_empty(),
        "test files directly under tests/ make binaries of their own: {stray:?}; move them to \
         tests/integration/ and name them in its main.rs"
    );
    for entry in std::fs::read_dir(tests_dir()).unwrap() {
        let dir = entry.unwrap().path();
        if dir.is_dir() && dir.file_name().is_some_and(|n| n != "integration") {
            assert!(
                !dir.join("main.rs").exists(),
                "{} is a test binary of its own; its tests belong in tests/integration/",
                dir.display()
            );
        }
    }
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
