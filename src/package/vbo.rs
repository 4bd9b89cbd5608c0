//! The Interact API VBO (`hubup vbo`): the vendor ships `Interact API Release.bprelease`
//! inside the Interact API Service release zip, and the guide has the administrator import
//! only its "Utility - Interact API" business object, setting every other component of the
//! release to "Don't import". This reads the zip with the checks an update package gets (any
//! hostile zip is refused the same way), checks that the release is a well-formed Blue Prism
//! release holding that object exactly once, and makes a release that holds only it, so the
//! client's import shows no other conflict to resolve.
//!
//! A release is XML: `<bpr:release xmlns:bpr="http://www.blueprism.co.uk/product/release">`
//! with its name, notes and package, and `<bpr:contents count="N">` holding one element per
//! component (`<process>`, `<object>`, `<work-queue>`, ...; a business object is
//! `<object id=".." name="..">`). The new release keeps everything around the contents as it
//! was, and the object's element byte for byte; only the contents' count changes.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use quick_xml::events::{BytesStart, Event};
use quick_xml::reader::Reader;

use super::archive::{open_archive, scan_plain_entries};
use super::error::PackageError;

/// The release file inside the Interact API Service release zip.
pub const INTERACT_RELEASE_ENTRY: &str = "Interact API Release.bprelease";
/// The one business object the guide imports from it.
pub const INTERACT_VBO: &str = "Utility - Interact API";
/// The namespace of a Blue Prism release's own elements.
const RELEASE_NAMESPACE: &str = "http://www.blueprism.co.uk/product/release";
/// The largest release file read (real ones are a few MiB).
pub const MAX_RELEASE_BYTES: u64 = 256 * 1024 * 1024;

/// A component of a release: its element (`object`, `process`, ...) and name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReleaseComponent {
    pub kind: String,
    pub name: String,
}

impl fmt::Display for ReleaseComponent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", self.kind, self.name)
    }
}

/// The VBO's release, made from the vendor's.
#[derive(Clone, Debug)]
pub struct VboRelease {
    /// The components of the vendor's release, in its order.
    pub components: Vec<ReleaseComponent>,
    /// The release holding only [`INTERACT_VBO`], as XML text.
    pub text: String,
}

/// Why no VBO release could be made; each says what to do. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum VboError {
    #[error("{}: not a usable Interact API Service release zip: {source}", .zip.display())]
    Zip {
        zip: PathBuf,
        #[source]
        source: PackageError,
    },
    #[error(
        "{} holds no {INTERACT_RELEASE_ENTRY}{}: give the Interact API Service release zip from \
         the Blue Prism Portal",
        .zip.display(),
        if .found.is_empty() { String::new() } else { format!(" (it holds {})", .found.join(", ")) }
    )]
    NoRelease { zip: PathBuf, found: Vec<String> },
    #[error("{} holds {INTERACT_RELEASE_ENTRY} more than once: {}", .zip.display(), .entries.join(", "))]
    SeveralReleases { zip: PathBuf, entries: Vec<String> },
    #[error("{}: {entry}: {problem}; download the release zip again", .zip.display())]
    Release {
        zip: PathBuf,
        entry: String,
        problem: String,
    },
}

/// Reads the zip at `zip` and makes the VBO's release (see the module's doc).
pub fn interact_vbo_release(zip: &Path) -> Result<VboRelease, VboError> {
    let zip_error = |source| VboError::Zip {
        zip: zip.to_path_buf(),
        source,
    };
    let file = File::open(zip).map_err(|source| {
        zip_error(PackageError::Read {
            package: zip.to_path_buf(),
            source,
        })
    })?;
    let mut archive = open_archive(file, zip).map_err(zip_error)?;
    let files = scan_plain_entries(&archive, zip).map_err(zip_error)?;
    let (entry, index) = release_entry(zip, &files)?;
    let release_error = |problem: String| VboError::Release {
        zip: zip.to_path_buf(),
        entry: entry.clone(),
        problem,
    };
    let mut bytes = Vec::new();
    archive
        .by_index(index)
        .map_err(|e| release_error(e.to_string()))?
        .take(MAX_RELEASE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| release_error(e.to_string()))?;
    if bytes.len() as u64 > MAX_RELEASE_BYTES {
        return Err(release_error(format!(
            "larger than {} MiB, which no release is",
            MAX_RELEASE_BYTES >> 20
        )));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| release_error("not UTF-8 text (a release is UTF-8 XML)".into()))?;
    single_object_release(&text, INTERACT_VBO).map_err(release_error)
}

/// The one entry named [`INTERACT_RELEASE_ENTRY`] (in any folder, any case).
fn release_entry(zip: &Path, files: &[(String, usize)]) -> Result<(String, usize), VboError> {
    let matching: Vec<&(String, usize)> = files
        .iter()
        .filter(|(name, _)| {
            name.rsplit('/')
                .next()
                .is_some_and(|file| file.eq_ignore_ascii_case(INTERACT_RELEASE_ENTRY))
        })
        .collect();
    match matching.as_slice() {
        [one] => Ok((one.0.clone(), one.1)),
        [] => Err(VboError::NoRelease {
            zip: zip.to_path_buf(),
            found: files.iter().take(10).map(|(n, _)| n.clone()).collect(),
        }),
        many => Err(VboError::SeveralReleases {
            zip: zip.to_path_buf(),
            entries: many.iter().map(|(n, _)| n.clone()).collect(),
        }),
    }
}

/// Where the release's parts are in its text.
#[derive(Default)]
struct Outline {
    /// Byte offsets of the `<bpr:contents ...>` start tag and of its end tag.
    contents_start: Option<(usize, usize)>,
    contents_end: Option<usize>,
    /// Each component with its element's byte range.
    components: Vec<(ReleaseComponent, std::ops::Range<usize>)>,
}

/// The release `text` reduced to the object named `object` (see the module's doc).
pub fn single_object_release(text: &str, object: &str) -> Result<VboRelease, String> {
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    let outline = outline(body)?;
    let (Some((open_at, open_end)), Some(close_at)) =
        (outline.contents_start, outline.contents_end)
    else {
        return Err("a release without <bpr:contents>".into());
    };
    let components: Vec<ReleaseComponent> =
        outline.components.iter().map(|(c, _)| c.clone()).collect();
    let wanted: Vec<&std::ops::Range<usize>> = outline
        .components
        .iter()
        .filter(|(c, _)| c.kind == "object" && c.name == object)
        .map(|(_, range)| range)
        .collect();
    let range = match wanted.as_slice() {
        [one] => (*one).clone(),
        [] => {
            let listed: Vec<String> = components.iter().map(ToString::to_string).collect();
            return Err(format!(
                "the release holds no business object {object:?} (it holds {})",
                if listed.is_empty() {
                    "nothing".to_string()
                } else {
                    listed.join(", ")
                }
            ));
        }
        _ => {
            return Err(format!(
                "the release holds the object {object:?} more than once"
            ));
        }
    };
    let open_tag = with_count_one(&body[open_at..open_end]);
    let text = format!(
        "{}{open_tag}\n    {}\n  {}",
        &body[..open_at],
        &body[range],
        &body[close_at..]
    );
    Ok(VboRelease { components, text })
}

/// The contents' start tag with `count="1"`.
fn with_count_one(tag: &str) -> String {
    match tag.find("count=") {
        Some(at) => {
            let rest = &tag[at + "count=".len()..];
            let quote = rest.chars().next().unwrap_or('"');
            let end = rest[1..].find(quote).map_or(rest.len(), |e| e + 2);
            format!("{}count=\"1\"{}", &tag[..at], &rest[end..])
        }
        None => tag.replacen("<bpr:contents", "<bpr:contents count=\"1\"", 1),
    }
}

/// Parses the release and finds its contents and components; refuses XML that is not
/// well-formed and a root that is no Blue Prism release.
fn outline(text: &str) -> Result<Outline, String> {
    let mut reader = Reader::from_str(text);
    let mut outline = Outline::default();
    let mut depth = 0usize;
    let mut open: Option<(ReleaseComponent, usize)> = None;
    loop {
        let at = reader.buffer_position() as usize;
        let event = reader
            .read_event()
            .map_err(|e| format!("not well-formed XML at byte {at}: {e}"))?;
        let end = reader.buffer_position() as usize;
        match event {
            Event::Start(tag) => {
                start_element(&mut outline, &mut open, &tag, depth, at, end, false)?;
                depth += 1;
            }
            Event::Empty(tag) => {
                start_element(&mut outline, &mut open, &tag, depth, at, end, true)?
            }
            Event::End(tag) => {
                depth = depth.saturating_sub(1);
                if depth == 2
                    && let Some((component, start)) = open.take()
                {
                    outline.components.push((component, start..end));
                }
                if depth == 1 && tag.name().as_ref() == "bpr:contents" {
                    outline.contents_end = Some(at);
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if depth != 0 {
        return Err("the XML ends inside an element".into());
    }
    Ok(outline)
}

fn start_element(
    outline: &mut Outline,
    open: &mut Option<(ReleaseComponent, usize)>,
    tag: &BytesStart<'_>,
    depth: usize,
    at: usize,
    end: usize,
    empty: bool,
) -> Result<(), String> {
    let name = tag.name().as_ref().to_string();
    match depth {
        0 => check_root(&name, tag),
        1 if name == "bpr:contents" => {
            if empty {
                outline.contents_start = Some((at, end));
                outline.contents_end = Some(end);
                return Ok(());
            }
            outline.contents_start = Some((at, end));
            Ok(())
        }
        2 if outline.contents_start.is_some() && outline.contents_end.is_none() => {
            let component = ReleaseComponent {
                kind: tag.local_name().as_ref().to_string(),
                name: attribute(tag, "name")?.unwrap_or_default(),
            };
            if empty {
                outline.components.push((component, at..end));
            } else {
                *open = Some((component, at));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn check_root(name: &str, tag: &BytesStart<'_>) -> Result<(), String> {
    if name != "bpr:release" {
        return Err(format!(
            "the root element is <{name}>, not a Blue Prism release's <bpr:release>"
        ));
    }
    match attribute(tag, "xmlns:bpr")? {
        Some(ns) if ns == RELEASE_NAMESPACE => Ok(()),
        other => Err(format!(
            "<bpr:release> is not in Blue Prism's release namespace ({RELEASE_NAMESPACE}): \
             xmlns:bpr is {other:?}"
        )),
    }
}

fn attribute(tag: &BytesStart<'_>, key: &str) -> Result<Option<String>, String> {
    for attribute in tag.attributes() {
        let attribute = attribute.map_err(|e| format!("a malformed attribute: {e}"))?;
        if attribute.key.as_ref() == key {
            let value = attribute
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|e| format!("attribute {key}: {e}"))?;
            return Ok(Some(value.into_owned()));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RELEASE: &str = r#"<?xml version="1.0" encoding="utf-8"?>
<bpr:release xmlns:bpr="http://www.blueprism.co.uk/product/release">
  <bpr:name>Interact API 4.5</bpr:name>
  <bpr:release-notes />
  <bpr:package-name>Interact API</bpr:package-name>
  <bpr:contents count="3">
    <process id="1" name="Interact - Example Process" xmlns="http://www.blueprism.co.uk/product/process"><process name="Interact - Example Process" /></process>
    <object id="2" name="Utility - Interact API" xmlns="http://www.blueprism.co.uk/product/process"><process name="Utility - Interact API" type="object">a &amp; b</process></object>
    <object id="3" name="Utility - JSON" xmlns="http://www.blueprism.co.uk/product/process" />
  </bpr:contents>
</bpr:release>
"#;

    #[test]
    fn only_the_vbo_is_kept_byte_for_byte_with_the_header() {
        let vbo = single_object_release(RELEASE, INTERACT_VBO).unwrap();
        assert_eq!(vbo.components.len(), 3);
        assert_eq!(vbo.components[2].name, "Utility - JSON");
        assert!(
            vbo.text.contains("<bpr:contents count=\"1\">"),
            "{}",
            vbo.text
        );
        assert!(
            vbo.text
                .contains(r#"type="object">a &amp; b</process></object>"#)
        );
        assert!(vbo.text.contains("<bpr:name>Interact API 4.5</bpr:name>"));
        assert!(!vbo.text.contains("Example Process"), "{}", vbo.text);
        assert!(!vbo.text.contains("Utility - JSON"), "{}", vbo.text);
        // The result is a release of its own, holding exactly the VBO.
        let again = single_object_release(&vbo.text, INTERACT_VBO).unwrap();
        assert_eq!(again.components.len(), 1);
        assert_eq!(again.text, vbo.text);
    }

    #[test]
    fn a_release_without_the_vbo_or_not_a_release_is_refused_by_what_it_is() {
        let without = RELEASE.replace("Utility - Interact API", "Utility - Other");
        let err = single_object_release(&without, INTERACT_VBO).unwrap_err();
        assert!(
            err.contains("no business object \"Utility - Interact API\""),
            "{err}"
        );
        assert!(err.contains("object \"Utility - Other\""), "{err}");
        let broken = RELEASE.replace("</bpr:contents>", "");
        assert!(single_object_release(&broken, INTERACT_VBO).is_err());
        let other_root = RELEASE.replace("bpr:release", "bpr:package");
        let err = single_object_release(&other_root, INTERACT_VBO).unwrap_err();
        assert!(err.contains("root element"), "{err}");
        let twice = RELEASE.replace("Utility - JSON", INTERACT_VBO);
        let err = single_object_release(&twice, INTERACT_VBO).unwrap_err();
        assert!(err.contains("more than once"), "{err}");
    }
}
