//! Tidy tests: rules about the source tree that the compiler does not check, run with the unit
//! tests (the way rust-analyzer's tidy tests guard its own rules). They read the files from
//! `CARGO_MANIFEST_DIR` as text and name the file, the line and the rule each break.
//!
//! - **Layering** (ARCHITECTURE.md, "Layering"): every library module has a layer in
//!   [`LAYERS`], and uses (`use crate::x` or a `crate::x::` path) only modules of lower layers,
//!   never one of its own layer or above. Paths through the crate root's re-exports
//!   (`crate::Step`) are refused, because they would hide a dependency from this check. The
//!   binary (`src/main.rs`, `src/cli/`) uses only the library's public API.
//! - **Module docs**: every `.rs` file under `src/`, `tests/` and `benches/` starts with a `//!`
//!   comment saying what it owns.
//!
//! The check is textual: a `crate::` inside a string literal counts as a use (none of the
//! library's sources has one; this file's fake sources are not checked).

use std::fmt;
use std::path::{Path, PathBuf};

/// The library's layers, lowest first, each with its modules. A module may use only the
/// modules of the layers below its own. ARCHITECTURE.md states the same list (checked below).
const LAYERS: &[(&str, &[&str])] = &[
    (
        "vocabulary",
        &["version", "digest", "relpath", "secret", "net"],
    ),
    (
        "facts and formats",
        &[
            "components",
            "fsx",
            "process",
            "install_lock",
            "apphost",
            "settings",
            "rabbitmq",
            "tls_probe",
        ],
    ),
    ("access control", &["access"]),
    ("descriptions", &["catalog", "op", "install", "package"]),
    ("records", &["model", "journal"]),
    ("database and machine", &["sql", "host"]),
    ("configuration", &["config"]),
    (
        "planning and reporting",
        &["plan", "status", "report", "probe"],
    ),
    ("doing", &["exec", "fixture"]),
];

/// One rule broken at one place.
#[derive(Debug, PartialEq, Eq)]
struct Violation {
    file: String,
    line: usize,
    rule: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.rule)
    }
}

/// What a file under `src/` belongs to, by its path relative to the crate root.
#[derive(Debug, PartialEq, Eq)]
enum Owner<'p> {
    /// `src/lib.rs`: declares the modules and re-exports the public API.
    LibraryRoot,
    /// `src/main.rs` and `src/cli/`.
    Binary,
    /// This file: test-only, not part of the product.
    Tidy,
    /// A library module, by its name (`src/plan/files.rs` belongs to `plan`).
    Module(&'p str),
}

fn owner(path: &str) -> Owner<'_> {
    let inner = path.strip_prefix("src/").unwrap_or(path);
    let first = inner.split('/').next().unwrap_or(inner);
    match first.strip_suffix(".rs").unwrap_or(first) {
        "lib" => Owner::LibraryRoot,
        "main" | "cli" => Owner::Binary,
        "tidy" => Owner::Tidy,
        module => Owner::Module(module),
    }
}

/// The layer of a library module (its index in [`LAYERS`]) and the layer's name.
fn layer_of(module: &str) -> Option<(usize, &'static str)> {
    LAYERS
        .iter()
        .enumerate()
        .find(|(_, (_, modules))| modules.contains(&module))
        .map(|(index, (name, _))| (index, *name))
}

/// One `crate::<name>` the source refers to, at a 1-based line.
#[derive(Debug, PartialEq, Eq)]
struct CrateUse<'s> {
    name: &'s str,
    line: usize,
}

/// Every first segment after `crate::` in code (not in `//` comments), including each item
/// of a group (`use crate::{a::X, b};`).
fn crate_uses(source: &str) -> Vec<CrateUse<'_>> {
    let mut uses = Vec::new();
    let mut from = 0;
    while let Some(found) = source[from..].find("crate::") {
        let at = from + found;
        from = at + "crate::".len();
        if !is_code(source, at) {
            continue;
        }
        let rest = &source[from..];
        if let Some(group) = rest.strip_prefix('{') {
            let group_start = from + 1;
            for (offset, item) in top_level_items(group) {
                let name = identifier(item.trim_start());
                if !name.is_empty() && name != "self" {
                    let item_at = group_start + offset + (item.len() - item.trim_start().len());
                    uses.push(CrateUse {
                        name,
                        line: line_of(source, item_at),
                    });
                }
            }
        } else {
            let name = identifier(rest);
            if !name.is_empty() {
                uses.push(CrateUse {
                    name,
                    line: line_of(source, at),
                });
            }
        }
    }
    uses
}

/// True if the `crate::` at byte `at` is code: not part of a longer name or `$crate`, and not
/// after a `//` on its line.
fn is_code(source: &str, at: usize) -> bool {
    let before = source[..at].chars().next_back();
    if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$') {
        return false;
    }
    let line_start = source[..at].rfind('\n').map_or(0, |i| i + 1);
    !source[line_start..at].contains("//")
}

/// The items of a `{...}` group up to its closing brace, each with its byte offset in `group`.
fn top_level_items(group: &str) -> Vec<(usize, &str)> {
    let mut items = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push((start, &group[start..i]));
                return items;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push((start, &group[start..i]));
                start = i + 1;
            }
            _ => {}
        }
    }
    items
}

fn identifier(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

fn line_of(source: &str, at: usize) -> usize {
    source[..at].matches('\n').count() + 1
}

/// The layering rule for one file under `src/` (`path` relative to the crate root, with `/`).
fn check_layering(path: &str, source: &str) -> Vec<Violation> {
    let violation = |line, rule: String| Violation {
        file: path.to_string(),
        line,
        rule,
    };
    match owner(path) {
        Owner::LibraryRoot | Owner::Tidy => Vec::new(),
        Owner::Binary => crate_uses(source)
            .into_iter()
            .filter(|u| u.name != "cli")
            .map(|u| {
                violation(
                    u.line,
                    format!(
                        "the binary uses `crate::{}`; it may use only its own `cli` modules \
                         and the library's public API (`hubup::...`)",
                        u.name
                    ),
                )
            })
            .collect(),
        Owner::Module(module) => {
            let Some((layer, layer_name)) = layer_of(module) else {
                return vec![violation(
                    1,
                    format!(
                        "module `{module}` has no layer: add it to LAYERS in src/tidy.rs and to \
                         ARCHITECTURE.md's \"Layering\""
                    ),
                )];
            };
            crate_uses(source)
                .into_iter()
                .filter(|u| u.name != module)
                .filter_map(|u| {
                    let rule = match layer_of(u.name) {
                        None => format!(
                            "`crate::{}` is not a module of the layering (a re-export of the \
                             crate root?); name the module that defines it, so the layering \
                             sees the dependency",
                            u.name
                        ),
                        Some((used, used_name)) if used >= layer => format!(
                            "layering: `{module}` (layer {}, {layer_name}) uses `{}` (layer {}, \
                             {used_name}); a module may use only the layers below its own \
                             (ARCHITECTURE.md, \"Layering\")",
                            layer + 1,
                            u.name,
                            used + 1
                        ),
                        Some(_) => return None,
                    };
                    Some(violation(u.line, rule))
                })
                .collect()
        }
    }
}

/// The module-doc rule for one source file.
fn check_module_doc(path: &str, source: &str) -> Option<Violation> {
    (!source.starts_with("//!")).then(|| Violation {
        file: path.to_string(),
        line: 1,
        rule: "the file does not start with a `//!` comment saying what it owns".to_string(),
    })
}

/// The layering as ARCHITECTURE.md states it, one line per layer.
fn layering_lines() -> Vec<String> {
    LAYERS
        .iter()
        .enumerate()
        .map(|(index, (name, modules))| {
            let modules: Vec<String> = modules.iter().map(|m| format!("`{m}`")).collect();
            format!("{}. {name}: {}", index + 1, modules.join(", "))
        })
        .collect()
}

fn crate_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file below `folder` (relative to the crate root), sorted, as (path with `/`,
/// text).
fn rust_files(folder: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut pending = vec![crate_root().join(folder)];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.expect("a readable folder entry").path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("a readable source file");
                out.push((relative(&path), text));
            }
        }
    }
    out.sort();
    out
}

fn relative(path: &Path) -> String {
    let inner = path.strip_prefix(crate_root()).unwrap_or(path);
    let parts: Vec<String> = inner
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.join("/")
}

fn report(violations: &[Violation]) -> String {
    let lines: Vec<String> = violations.iter().map(|v| v.to_string()).collect();
    lines.join("\n")
}

#[test]
fn modules_use_only_lower_layers() {
    let files = rust_files("src");
    assert!(
        files.len() > 50,
        "found only {} files under src/",
        files.len()
    );
    let violations: Vec<Violation> = files
        .iter()
        .flat_map(|(path, text)| check_layering(path, text))
        .collect();
    assert!(violations.is_empty(), "\n{}", report(&violations));
}

#[test]
fn every_layered_module_exists() {
    for (_, modules) in LAYERS {
        for module in *modules {
            let root = crate_root().join("src");
            assert!(
                root.join(format!("{module}.rs")).is_file() || root.join(module).is_dir(),
                "LAYERS in src/tidy.rs names `{module}`, which has no source under src/"
            );
        }
    }
}

#[test]
fn every_source_file_starts_with_a_module_doc() {
    let violations: Vec<Violation> = ["src", "tests", "benches"]
        .iter()
        .flat_map(|folder| rust_files(folder))
        .filter_map(|(path, text)| check_module_doc(&path, &text))
        .collect();
    assert!(violations.is_empty(), "\n{}", report(&violations));
}

#[test]
fn architecture_md_states_the_layering() {
    let text = std::fs::read_to_string(crate_root().join("ARCHITECTURE.md")).unwrap();
    for line in layering_lines() {
        assert!(
            text.lines().any(|l| l.trim() == line),
            "ARCHITECTURE.md's \"Layering\" lacks the line `{line}` (LAYERS in src/tidy.rs)"
        );
    }
}

// The checker on fake sources: it can fail, and says where and why.

/// Checks that `source` at `path` breaks the layering exactly once, at `line`, with a rule
/// that says `fragment`.
fn assert_one_violation(path: &str, source: &str, line: usize, fragment: &str) {
    let violations = check_layering(path, source);
    assert_eq!(violations.len(), 1, "{violations:?}");
    assert_eq!(violations[0].line, line, "{violations:?}");
    assert!(violations[0].rule.contains(fragment), "{violations:?}");
}

#[test]
fn a_module_using_a_higher_layer_is_named_with_file_line_and_rule() {
    let source = "//! A journal part.\n\nuse crate::digest::Digest;\nuse crate::config::Config;\n";
    let violations = check_layering("src/journal/fake.rs", source);
    assert_eq!(
        report(&violations),
        "src/journal/fake.rs:4: layering: `journal` (layer 5, records) uses `config` (layer 7, \
         configuration); a module may use only the layers below its own (ARCHITECTURE.md, \
         \"Layering\")"
    );
}

#[test]
fn a_module_of_the_same_layer_is_refused_too() {
    let source = "//! x\nfn f() { let _ = crate::fixture::expected_files; }\n";
    assert_one_violation("src/exec/fake.rs", source, 2, "uses `fixture`");
}

#[test]
fn groups_and_inline_paths_are_seen_with_their_lines() {
    let source = "//! x\nuse crate::{\n    version::Step,\n    plan::{self, StepPlan},\n};\n\
                  fn f() { crate::exec::run(); }\n";
    let found: Vec<(usize, bool, bool)> = check_layering("src/sql/fake.rs", source)
        .iter()
        .map(|v| {
            (
                v.line,
                v.rule.contains("uses `plan`"),
                v.rule.contains("uses `exec`"),
            )
        })
        .collect();
    assert_eq!(found, [(4, true, false), (6, false, true)]);
}

#[test]
fn comments_macros_and_own_module_paths_are_not_uses() {
    let source = "//! Links to [`crate::exec::Engine`].\n/// See `crate::plan`.\n\
                  use crate::sql::tsql; // not crate::exec\nmacro_rules! m { () => { $crate::exec }; }\n\
                  use crate::version::Step;\n";
    assert_eq!(check_layering("src/sql/fake.rs", source), []);
}

#[test]
fn paths_through_the_crate_root_are_refused() {
    let source = "//! x\nfn f(step: crate::Step) {}\n";
    assert_one_violation(
        "src/journal/fake.rs",
        source,
        2,
        "`crate::Step` is not a module",
    );
}

#[test]
fn a_module_without_a_layer_is_reported() {
    assert_one_violation("src/drift.rs", "//! x\n", 1, "module `drift` has no layer");
}

#[test]
fn the_binary_uses_only_its_own_modules() {
    let source = "//! x\nuse crate::cli::log;\nuse crate::plan::render;\n";
    assert_one_violation(
        "src/cli/fake.rs",
        source,
        3,
        "the binary uses `crate::plan`",
    );
    assert_eq!(check_layering("src/lib.rs", "use crate::exec;\n"), []);
}

#[test]
fn a_file_without_a_module_doc_is_reported() {
    let violation = check_module_doc("tests/fake.rs", "/// An item doc.\nfn f() {}\n").unwrap();
    assert_eq!(
        violation.to_string(),
        "tests/fake.rs:1: the file does not start with a `//!` comment saying what it owns"
    );
    assert_eq!(check_module_doc("tests/fake.rs", "//! Owns x.\n"), None);
}
