//! Turning `manifest.json` bytes into a [`Manifest`] hubup can trust: the JSON shape (serde,
//! which also validates every path as a [`RelPath`]), the format version, the step, and the
//! rules the shape cannot express (no path listed twice or colliding on Windows, no file that
//! is also a folder or also deleted, renames that do not overlap, sizes within limits).

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use crate::relpath::RelPath;
use crate::version::Step;

use super::error::PackageError;
use super::limits::{MAX_PAYLOAD_BYTES, MAX_RENAMES};
use super::manifest::{MANIFEST_FORMAT, Manifest};

/// Just the format field, read first so that a newer format gets its own message rather than
/// a confusing "unknown field" from the full parse.
#[derive(Deserialize)]
struct FormatOnly {
    format: u32,
}

/// Parses and checks a manifest. With `expected`, the manifest must be for that step.
pub(crate) fn parse_manifest(
    bytes: &[u8],
    package: &Path,
    expected: Option<Step>,
) -> Result<Manifest, PackageError> {
    let bad = |detail: String| PackageError::BadManifest {
        package: package.to_path_buf(),
        detail: printable(&detail),
    };
    if let Ok(FormatOnly { format }) = serde_json::from_slice::<FormatOnly>(bytes)
        && format != MANIFEST_FORMAT
    {
        return Err(PackageError::UnknownFormat {
            package: package.to_path_buf(),
            found: format,
            supported: MANIFEST_FORMAT,
        });
    }
    let manifest: Manifest = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
    let found = match Step::from_version(manifest.from) {
        Some(step) if step.to == manifest.to => step,
        _ => {
            return Err(bad(format!(
                "it says from {} to {}, which is not one upgrade step",
                manifest.from, manifest.to
            )));
        }
    };
    if let Some(expected) = expected
        && found != expected
    {
        return Err(PackageError::WrongStep {
            package: package.to_path_buf(),
            found,
            expected,
        });
    }
    check_consistency(&manifest).map_err(|detail| PackageError::ManifestConflict {
        package: package.to_path_buf(),
        detail,
    })?;
    let total = manifest
        .files
        .iter()
        .try_fold(0u64, |sum, file| sum.checked_add(file.size));
    match total {
        Some(total) if total <= MAX_PAYLOAD_BYTES => Ok(manifest),
        _ => Err(PackageError::PayloadTooLarge {
            package: package.to_path_buf(),
            total: total.unwrap_or(u64::MAX),
            limit: MAX_PAYLOAD_BYTES,
        }),
    }
}

/// The rules between the manifest's lists; the error says which paths break which rule.
fn check_consistency(manifest: &Manifest) -> Result<(), String> {
    let files = unique_case_keys("files", manifest.files.iter().map(|f| &f.path))?;
    no_file_is_a_folder(&files)?;
    let deletions = unique_case_keys("deletions", manifest.deletions.iter().map(|d| &d.path))?;
    for (key, path) in &deletions {
        if let Some(file) = files.get(key) {
            return Err(format!("{path} is deleted but {file} is also written"));
        }
    }
    let inventory = unique_case_keys("inventory", manifest.inventory.iter().map(|i| &i.path))?;
    for (key, path) in &deletions {
        if inventory.contains_key(key) {
            return Err(format!(
                "{path} is deleted but listed in the new version's inventory"
            ));
        }
    }
    check_files_match_inventory(manifest)?;
    check_renames(manifest)?;
    for name in &manifest.new_components {
        match RelPath::new(name) {
            Ok(path) if !path.as_str().contains('/') => {}
            _ => return Err(format!("new component {name:?} is not a plain folder name")),
        }
    }
    Ok(())
}

/// Maps each path's Windows key to the path; fails on the first path listed twice (or twice
/// up to letter case).
fn unique_case_keys<'a>(
    list: &str,
    paths: impl Iterator<Item = &'a RelPath>,
) -> Result<HashMap<String, &'a RelPath>, String> {
    let mut seen = HashMap::new();
    for path in paths {
        if let Some(earlier) = seen.insert(path.case_key(), path) {
            return Err(if earlier == path {
                format!("{path} is listed twice in {list}")
            } else {
                format!("{earlier} and {path} in {list} name the same file on Windows")
            });
        }
    }
    Ok(seen)
}

/// A file cannot also be a folder holding another file.
///
/// Sorting the Windows keys with `/` replaced by NUL (which no path contains) puts every path
/// right after the paths that are its folders, so comparing neighbours is enough: linear after
/// the sort, whatever the depth of the paths.
fn no_file_is_a_folder(files: &HashMap<String, &RelPath>) -> Result<(), String> {
    let mut keys: Vec<(String, &RelPath)> = files
        .iter()
        .map(|(key, path)| (key.replace('/', "\0"), *path))
        .collect();
    keys.sort_unstable();
    for pair in keys.windows(2) {
        if let [(folder_key, folder), (key, path)] = pair
            && key
                .strip_prefix(folder_key.as_str())
                .is_some_and(|rest| rest.starts_with('\0'))
        {
            return Err(format!("{folder} is a file but also the folder of {path}"));
        }
    }
    Ok(())
}

/// A written file that the inventory also lists must be listed with the same content.
fn check_files_match_inventory(manifest: &Manifest) -> Result<(), String> {
    let inventory: HashMap<&RelPath, (u64, _)> = manifest
        .inventory
        .iter()
        .map(|entry| (&entry.path, (entry.size, entry.digest)))
        .collect();
    for file in &manifest.files {
        if let Some(&(size, digest)) = inventory.get(&file.path)
            && (size, digest) != (file.size, file.digest)
        {
            return Err(format!(
                "{} is written with {} bytes (blake3 {}) but the inventory lists {size} bytes \
                 (blake3 {})",
                file.path,
                file.size,
                file.digest.short(),
                digest.short()
            ));
        }
    }
    Ok(())
}

/// Renames must each change the name, and no two may touch the same folder tree (their order
/// would matter, and the journal records each as an independent op).
fn check_renames(manifest: &Manifest) -> Result<(), String> {
    if manifest.renames.len() > MAX_RENAMES {
        return Err(format!(
            "{} folder renames, more than the {MAX_RENAMES} accepted",
            manifest.renames.len()
        ));
    }
    for rename in &manifest.renames {
        if related(&rename.from, &rename.to) {
            return Err(format!(
                "rename {} -> {} keeps the folder or moves it into itself",
                rename.from, rename.to
            ));
        }
    }
    for (i, a) in manifest.renames.iter().enumerate() {
        for b in manifest.renames.iter().skip(i + 1) {
            for x in [&a.from, &a.to] {
                for y in [&b.from, &b.to] {
                    if related(x, y) {
                        return Err(format!(
                            "renames {} -> {} and {} -> {} overlap ({x} and {y})",
                            a.from, a.to, b.from, b.to
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

/// True if `a` and `b` are the same folder on Windows or one lies inside the other.
fn related(a: &RelPath, b: &RelPath) -> bool {
    let (a, b) = (a.case_key(), b.case_key());
    let inside = |inner: &str, outer: &str| {
        inner
            .strip_prefix(outer)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    inside(&a, &b) || inside(&b, &a)
}

/// `text` with control characters replaced, so a hostile manifest cannot send escape
/// sequences to the operator's terminal through an error message.
pub(crate) fn printable(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::digest::Digest;
    use crate::version::Version;

    const STEP: Step = Step {
        from: Version::V4_1,
        to: Version::V4_2,
    };

    fn manifest_json(files: &str, extra: &str) -> String {
        format!(r#"{{"format":1,"from":"4.1","to":"4.2","files":[{files}],"inventory":[]{extra}}}"#)
    }

    fn file(path: &str) -> String {
        let digest = Digest::of(path.as_bytes());
        format!(r#"{{"path":"{path}","size":1,"digest":"{digest}","replaces":null}}"#)
    }

    fn parse(json: &str) -> Result<Manifest, PackageError> {
        parse_manifest(json.as_bytes(), Path::new("p.bin"), Some(STEP))
    }

    #[test]
    fn accepts_a_plain_manifest() {
        let json = manifest_json(&[file("Hub/a.dll"), file("Hub/b.dll")].join(","), "");
        assert_eq!(parse(&json).unwrap().files.len(), 2);
    }

    #[test]
    fn newer_format_gets_its_own_error() {
        let json = r#"{"format":2,"from":"4.1","to":"4.2","files":[],"inventory":[],"new":1}"#;
        assert!(matches!(
            parse(json),
            Err(PackageError::UnknownFormat { found: 2, .. })
        ));
    }

    #[test]
    fn versions_must_be_one_step() {
        let json = r#"{"format":1,"from":"4.1","to":"4.3","files":[],"inventory":[]}"#;
        let err = parse(json).unwrap_err();
        assert!(err.to_string().contains("not one upgrade step"), "{err}");
    }

    #[test]
    fn case_duplicates_and_file_folder_clashes_are_conflicts() {
        for files in [
            [file("Hub/a.dll"), file("Hub/a.dll")],
            [file("Hub/a.dll"), file("HUB/A.dll")],
            [file("Hub/a"), file("Hub/A/b.dll")],
        ] {
            let err = parse(&manifest_json(&files.join(","), "")).unwrap_err();
            assert!(
                matches!(err, PackageError::ManifestConflict { .. }),
                "{files:?}: {err}"
            );
        }
        // Names sorting between a folder and its contents do not hide the clash.
        for files in [
            [
                file("Hub/a"),
                file("Hub/a-b"),
                file("Hub/a.c"),
                file("Hub/A/x/y/z.dll"),
            ],
            [
                file("Hub/a/x/y/z.dll"),
                file("Hub/a b"),
                file("Hub/a!"),
                file("HUB/A/X"),
            ],
        ] {
            let err = parse(&manifest_json(&files.join(","), "")).unwrap_err();
            assert!(
                matches!(err, PackageError::ManifestConflict { .. }),
                "{files:?}: {err}"
            );
        }
    }

    #[test]
    fn deleting_a_written_file_is_a_conflict() {
        let digest = Digest::of(b"x");
        let extra = format!(r#","deletions":[{{"path":"hub/A.dll","expected":"{digest}"}}]"#);
        let err = parse(&manifest_json(&file("Hub/a.dll"), &extra)).unwrap_err();
        assert!(err.to_string().contains("is deleted but"), "{err}");
    }

    #[test]
    fn overlapping_or_empty_renames_are_conflicts() {
        for renames in [
            r#"[{"from":"IMS","to":"ims"}]"#,
            r#"[{"from":"IMS","to":"IMS/new"}]"#,
            r#"[{"from":"IMS","to":"Auth"},{"from":"Auth","to":"Other"}]"#,
            r#"[{"from":"IMS","to":"Auth"},{"from":"IMS/x","to":"Y"}]"#,
        ] {
            let extra = format!(r#","renames":{renames}"#);
            let err = parse(&manifest_json("", &extra)).unwrap_err();
            assert!(
                matches!(err, PackageError::ManifestConflict { .. }),
                "{renames}: {err}"
            );
        }
        let ok = r#","renames":[{"from":"IMS","to":"Authentication Server"},{"from":"Email Sender","to":"Email Service"}]"#;
        parse(&manifest_json("", ok)).unwrap();
    }

    #[test]
    fn unsafe_paths_are_refused_by_the_parse() {
        let json = manifest_json(&file("../evil.dll"), "");
        let err = parse(&json).unwrap_err();
        assert!(matches!(err, PackageError::BadManifest { .. }), "{err}");
        assert!(err.to_string().contains("traversal"), "{err}");
    }

    #[test]
    fn printable_replaces_control_characters() {
        assert_eq!(printable("a\u{1b}[31mb\n"), "a?[31mb?");
    }
}
