//! Paths relative to the install root, validated once so that nothing built from them can
//! escape the root on any platform.
//!
//! A [`RelPath`] is `/`-separated, non-empty, and every component is a plain name: no `.`/`..`,
//! no `\`, no `:` (drive letters, NTFS streams), no NUL or other control characters, no
//! trailing dot or space (Windows silently strips them, so `a.` and `a` would be the same file),
//! and no Windows device name (`CON`, `NUL`, `COM1`, ...). These rules hold on every platform,
//! because packages are built on one system and installed on another.
//!
//! Windows compares names case-insensitively, so [`RelPath::case_key`] gives the key under which
//! two paths collide there.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Why a string is not an acceptable relative path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsafe path {path:?}: {reason}")]
pub struct UnsafePath {
    pub path: String,
    pub reason: &'static str,
}

/// A validated path relative to the install root, always with `/` separators.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RelPath(String);

const DEVICE_NAMES: [&str; 6] = ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"];

impl RelPath {
    /// Validates `text` (which must already use `/` separators).
    pub fn new(text: &str) -> Result<RelPath, UnsafePath> {
        let fail = |reason| {
            Err(UnsafePath {
                path: text.to_string(),
                reason,
            })
        };
        if text.is_empty() {
            return fail("empty path");
        }
        if text.starts_with('/') {
            return fail("absolute path");
        }
        if text.contains('\\') {
            return fail("backslash in path (Windows separator or traversal)");
        }
        for component in text.split('/') {
            if let Err(reason) = check_component(component) {
                return fail(reason);
            }
        }
        Ok(RelPath(text.to_string()))
    }

    /// Joins validated paths: `self/child`.
    pub fn join(&self, child: &str) -> Result<RelPath, UnsafePath> {
        RelPath::new(&format!("{}/{}", self.0, child))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The components, first to last.
    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }

    /// The first component (the component folder, for product files).
    pub fn first(&self) -> &str {
        self.components().next().expect("a RelPath has a component")
    }

    /// The last component.
    pub fn file_name(&self) -> &str {
        self.0
            .rsplit('/')
            .next()
            .expect("a RelPath has a component")
    }

    /// The parent path, or `None` for a single component.
    pub fn parent(&self) -> Option<RelPath> {
        self.0.rsplit_once('/').map(|(p, _)| RelPath(p.to_string()))
    }

    /// True if `self` is `prefix` or lies under it.
    pub fn starts_with(&self, prefix: &RelPath) -> bool {
        self.0 == prefix.0
            || (self.0.starts_with(&prefix.0) && self.0.as_bytes()[prefix.0.len()] == b'/')
    }

    /// `self` with its leading `from` replaced by `to` (for folder renames), or `None` if `self`
    /// is not under `from`.
    pub fn rebase(&self, from: &RelPath, to: &RelPath) -> Option<RelPath> {
        if !self.starts_with(from) {
            return None;
        }
        Some(RelPath(format!("{}{}", to.0, &self.0[from.0.len()..])))
    }

    /// The key under which Windows considers two paths the same file.
    pub fn case_key(&self) -> String {
        self.0.to_lowercase()
    }

    /// This path under `root`, with the platform's separators.
    pub fn under(&self, root: &Path) -> PathBuf {
        let mut out = root.to_path_buf();
        for component in self.components() {
            out.push(component);
        }
        out
    }
}

fn check_component(component: &str) -> Result<(), &'static str> {
    match component {
        "" => return Err("empty path component (doubled or trailing '/')"),
        "." | ".." => return Err("'.' or '..' component (traversal)"),
        _ => {}
    }
    if component.contains(':') {
        return Err("':' in path (drive letter or alternate data stream)");
    }
    if component.chars().any(|c| c.is_control()) {
        return Err("control character in path");
    }
    if component.contains(['<', '>', '"', '|', '?', '*']) {
        return Err("character Windows does not allow in file names");
    }
    if component.ends_with('.') || component.ends_with(' ') {
        return Err("name ends with '.' or ' ' (Windows strips it)");
    }
    let stem = component
        .split('.')
        .next()
        .unwrap_or("")
        .to_ascii_uppercase();
    let is_numbered_device = (stem.starts_with("COM") || stem.starts_with("LPT"))
        && stem.len() == 4
        && stem.as_bytes()[3].is_ascii_digit();
    if DEVICE_NAMES.contains(&stem.as_str()) || is_numbered_device {
        return Err("Windows device name");
    }
    Ok(())
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

impl Serialize for RelPath {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for RelPath {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        RelPath::new(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_product_paths() {
        for ok in [
            "Hub/BluePrism.Hub.dll",
            "Authentication Server/wwwroot/js/app.min.js",
            "IMS/appsettings.json",
            "Hub/Plugins/Control Room/1.2.0/plugin.json",
            "a",
            "COMMON/console.txt/x",
            "Hub/COM10.log",
        ] {
            RelPath::new(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    #[test]
    fn refuses_every_escape_and_windows_trap() {
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "Hub/../../x",
            "Hub/./x",
            "Hub//x",
            "Hub/",
            "C:/Windows/x",
            "C:x",
            "Hub\\..\\x",
            "..\\x",
            "Hub/file.dll:stream",
            "Hub/CON",
            "Hub/nul.txt",
            "Hub/COM1.log",
            "Hub/lpt9",
            "Hub/name.",
            "Hub/name ",
            "Hub/a\0b",
            "Hub/a\nb",
            "Hub/a*b",
        ] {
            assert!(RelPath::new(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn prefix_rebase_and_case_key() {
        let ims = RelPath::new("IMS").unwrap();
        let auth = RelPath::new("Authentication Server").unwrap();
        let file = RelPath::new("IMS/bin/x.dll").unwrap();
        assert!(file.starts_with(&ims));
        assert!(!RelPath::new("IMSX/a").unwrap().starts_with(&ims));
        assert_eq!(
            file.rebase(&ims, &auth).unwrap().as_str(),
            "Authentication Server/bin/x.dll"
        );
        assert_eq!(
            RelPath::new("Hub/A.dll").unwrap().case_key(),
            RelPath::new("hub/a.DLL").unwrap().case_key()
        );
        assert_eq!(file.parent().unwrap().as_str(), "IMS/bin");
        assert_eq!(file.file_name(), "x.dll");
        assert_eq!(file.first(), "IMS");
    }
}
