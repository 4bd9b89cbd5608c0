//! IIS's `applicationHost.config`: reading the sites, app pools and bindings hubup cares about,
//! and making minimal edits to it (rename a site and its physical path, add a site with its app
//! pool and HTTPS binding) that leave every other byte of the file as it was.
//!
//! A new site's pool may run as an existing pool does (`AddSiteWithPoolIdentity`): the
//! identity attributes of that pool's `processModel`, the encrypted password among them, are
//! copied as the file holds them. hubup never decrypts or holds a pool's password: it only
//! moves the encrypted text within this file.
//!
//! The file is read with quick-xml for structure and byte positions; edits are spliced into the
//! original bytes (never a re-serialization of the document), indented and line-ended like
//! their neighbours. Editing is pure (bytes in, bytes out) so the planner can compute the digest
//! of the result without writing anything. Applying an edit that is already done returns the
//! same bytes.

use quick_xml::events::Event;
use quick_xml::reader::Reader;
use serde::{Deserialize, Serialize};

/// One minimal edit of `applicationHost.config`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AppHostEdit {
    /// Rename a site (`<site name=...>`) and, when its folder is renamed too, the physical path
    /// of its root application. The app pool, bindings and id stay as they are.
    RenameSite {
        from: String,
        to: String,
        /// Old and new physical path (Windows form, as written in the file), if the folder moves.
        physical_path: Option<(String, String)>,
    },
    /// Add a site, its application pool and its HTTPS binding.
    AddSite(NewSite),
    /// Add a site as `AddSite` does, its new pool running as the existing pool
    /// `identity_from_pool` does: that pool's `processModel` `identityType`, `userName` and
    /// `password` (encrypted by IIS) are copied as written. (Appended last: journals store the
    /// variant index.)
    AddSiteWithPoolIdentity {
        site: NewSite,
        identity_from_pool: String,
    },
}

/// Everything a new site needs, as the vendor wizard asks it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewSite {
    pub name: String,
    pub app_pool: String,
    /// Physical path in Windows form, e.g. `C:\Program Files (x86)\Blue Prism\License Manager`.
    pub physical_path: String,
    /// Lowercase host name for the SNI binding.
    pub host: String,
    pub port: u16,
    /// Start the site automatically (the wizard's "Start Website").
    pub start: bool,
}

/// A site as the file describes it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Site {
    pub name: String,
    pub id: Option<u32>,
    /// The root application's pool.
    pub app_pool: String,
    /// The root application's root virtual directory.
    pub physical_path: Option<String>,
    pub bindings: Vec<Binding>,
    /// `serverAutoStart` (IIS's default is true).
    pub auto_start: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Binding {
    pub protocol: String,
    pub information: String,
    pub ssl_flags: Option<String>,
}

/// An application pool. Passwords are never read (only whether one is set).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct AppPool {
    pub name: String,
    /// `processModel identityType`, if set.
    pub identity_type: Option<String>,
    /// `processModel userName`, for a specific user.
    pub user_name: Option<String>,
    /// Whether `processModel` carries a `password` attribute (IIS keeps it encrypted).
    pub has_password: bool,
    /// `autoStart` (IIS's default is true): WAS starts the pool when IIS starts.
    pub auto_start: bool,
}

/// The built-in identities of an application pool and the Windows principal each one is.
/// `SpecificUser` is the pool's `userName`; `ApplicationPoolIdentity` is `IIS APPPOOL\<pool>`.
pub fn pool_principal(pool: &str, identity_type: &str, user_name: Option<&str>) -> Option<String> {
    match identity_type.to_ascii_lowercase().as_str() {
        "specificuser" => user_name.map(str::to_string),
        "applicationpoolidentity" => Some(format!("IIS APPPOOL\\{pool}")),
        "networkservice" => Some("NT AUTHORITY\\NETWORK SERVICE".to_string()),
        "localservice" => Some("NT AUTHORITY\\LOCAL SERVICE".to_string()),
        "localsystem" => Some("NT AUTHORITY\\SYSTEM".to_string()),
        _ => None,
    }
}

/// Why the file cannot be read or edited as asked. Nothing is written when this is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppHostError {
    #[error("not readable XML at byte {offset}: {problem}")]
    Xml { offset: usize, problem: String },
    #[error("there is no <sites> section under <system.applicationHost>")]
    NoSites,
    #[error("site {0:?} is not in the file")]
    SiteNotFound(String),
    #[error("cannot rename site {from:?} to {to:?}: a site of that name already exists")]
    NameTaken { from: String, to: String },
    #[error(
        "site {site:?} has physical path {found:?}, not the expected {expected:?}; it was \
         changed by hand, so hubup will not move it"
    )]
    PhysicalPath {
        site: String,
        found: String,
        expected: String,
    },
    #[error(
        "site {0:?} already exists with other settings (path or binding); remove or rename it first"
    )]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
}

// ---------------------------------------------------------------------------------------
// Reading

/// A tag's attribute: name, unescaped value and the byte span of the raw value in the file.
#[derive(Debug, Clone)]
struct Attr {
    name: String,
    value: String,
    start: usize,
    end: usize,
}

/// An element of interest: its attributes and byte spans.
#[derive(Debug, Clone)]
struct Element {
    attrs: Vec<Attr>,
    /// From `<` of the start tag to after `>` of the end tag (or of the empty tag).
    start: usize,
    end: usize,
}

impl Element {
    fn attr(&self, name: &str) -> Option<&Attr> {
        self.attrs.iter().find(|a| a.name == name)
    }

    fn value(&self, name: &str) -> Option<&str> {
        self.attr(name).map(|a| a.value.as_str())
    }
}

#[derive(Debug, Clone)]
struct SiteElement {
    element: Element,
    /// True while the reader is inside the site's root application (`path="/"`).
    in_root_app: bool,
    root_app: Option<Element>,
    root_vdir: Option<Element>,
    bindings: Vec<Element>,
}

#[derive(Debug, Clone)]
struct PoolElement {
    element: Element,
    process_model: Option<Element>,
}

/// The parts of the document hubup reads and edits.
#[derive(Debug, Default)]
struct Document {
    sites: Vec<SiteElement>,
    pools: Vec<PoolElement>,
    /// Spans of the `<sites>` and `<applicationPools>` elements.
    sites_section: Option<Element>,
    pools_section: Option<Element>,
    /// `applicationPoolDefaults/processModel`: the identity of pools that set none.
    pool_defaults_process_model: Option<Element>,
}

fn xml_error(offset: usize, problem: impl ToString) -> AppHostError {
    AppHostError::Xml {
        offset,
        problem: problem.to_string(),
    }
}

/// Reads the attributes of the tag `text[start..end]` with their value spans.
fn scan_attributes(text: &str, start: usize, end: usize) -> Result<Vec<Attr>, AppHostError> {
    let tag = &text[start..end];
    let bytes = tag.as_bytes();
    // Skip `<name`.
    let mut i = 1;
    while i < bytes.len() && !bytes[i].is_ascii_whitespace() && bytes[i] != b'/' && bytes[i] != b'>'
    {
        i += 1;
    }
    let mut attrs = Vec::new();
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= bytes.len() || bytes[i] == b'/' || bytes[i] == b'>' {
            return Ok(attrs);
        }
        let name_start = i;
        while i < bytes.len() && bytes[i] != b'=' && !bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let name = tag[name_start..i].to_string();
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if bytes.get(i) != Some(&b'=') {
            return Err(xml_error(
                start + i,
                format!("attribute {name} has no value"),
            ));
        }
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        let quote = *bytes
            .get(i)
            .filter(|q| **q == b'"' || **q == b'\'')
            .ok_or_else(|| xml_error(start + i, "attribute value without quotes"))?;
        let value_start = i + 1;
        let close = tag[value_start..]
            .find(quote as char)
            .ok_or_else(|| xml_error(start + i, "unterminated attribute value"))?;
        let value_end = value_start + close;
        let raw = &tag[value_start..value_end];
        let value = quick_xml::escape::unescape(raw)
            .map_err(|e| xml_error(start + value_start, e))?
            .into_owned();
        attrs.push(Attr {
            name,
            value,
            start: start + value_start,
            end: start + value_end,
        });
        i = value_end + 1;
    }
}

fn parse_document(text: &str) -> Result<Document, AppHostError> {
    let mut reader = Reader::from_str(text);
    reader.config_mut().check_end_names = true;
    let mut doc = Document::default();
    // Open elements: (name, start offset, attributes).
    let mut stack: Vec<(String, usize, Vec<Attr>)> = Vec::new();
    let mut current_site: Option<SiteElement> = None;
    let mut current_pool: Option<PoolElement> = None;
    loop {
        let before = reader.buffer_position() as usize;
        let event = reader
            .read_event()
            .map_err(|e| xml_error(reader.error_position() as usize, e))?;
        let after = reader.buffer_position() as usize;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let is_empty = matches!(event, Event::Empty(_));
                let name = e.name().into_inner().to_string();
                let attrs = scan_attributes(text, before, after)?;
                let path: Vec<&str> = stack.iter().map(|(n, _, _)| n.as_str()).collect();
                let element = Element {
                    attrs: attrs.clone(),
                    start: before,
                    end: after,
                };
                on_open(&path, &name, &element, &mut current_site, &mut current_pool);
                if path.len() == 4
                    && path[..3] == POOLS
                    && path[3] == "applicationPoolDefaults"
                    && name == "processModel"
                {
                    doc.pool_defaults_process_model = Some(element.clone());
                }
                if is_empty {
                    let path_with: Vec<&str> =
                        path.iter().copied().chain([name.as_str()]).collect();
                    on_close(
                        &mut doc,
                        &path_with,
                        element,
                        &mut current_site,
                        &mut current_pool,
                    );
                } else {
                    stack.push((name, before, attrs));
                }
            }
            Event::End(_) => {
                let path: Vec<String> = stack.iter().map(|(n, _, _)| n.clone()).collect();
                let (_, start, attrs) = stack
                    .pop()
                    .ok_or_else(|| xml_error(before, "unexpected end tag"))?;
                let element = Element {
                    attrs,
                    start,
                    end: after,
                };
                let path: Vec<&str> = path.iter().map(String::as_str).collect();
                on_close(
                    &mut doc,
                    &path,
                    element,
                    &mut current_site,
                    &mut current_pool,
                );
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err(xml_error(text.len(), "the document ends inside an element"));
    }
    Ok(doc)
}

const SITES: [&str; 3] = ["configuration", "system.applicationHost", "sites"];
const POOLS: [&str; 3] = [
    "configuration",
    "system.applicationHost",
    "applicationPools",
];

fn under(path: &[&str], prefix: &[&str]) -> bool {
    path.len() >= prefix.len() && path[..prefix.len()] == *prefix
}

/// Called for every start or empty tag, with the path of its ancestors.
fn on_open(
    path: &[&str],
    name: &str,
    element: &Element,
    site: &mut Option<SiteElement>,
    pool: &mut Option<PoolElement>,
) {
    if path == SITES && name == "site" {
        *site = Some(SiteElement {
            element: element.clone(),
            in_root_app: false,
            root_app: None,
            root_vdir: None,
            bindings: Vec::new(),
        });
    }
    if path == POOLS && name == "add" {
        *pool = Some(PoolElement {
            element: element.clone(),
            process_model: None,
        });
    }
    if let Some(site) = site.as_mut()
        && under(path, &SITES)
        && path.len() >= 4
    {
        match (path.len(), name) {
            (4, "application") => {
                site.in_root_app = element.value("path") == Some("/");
                if site.in_root_app {
                    site.root_app = Some(element.clone());
                }
            }
            (5, "virtualDirectory")
                if path[4] == "application"
                    && element.value("path") == Some("/")
                    && site.in_root_app
                    && site.root_vdir.is_none() =>
            {
                site.root_vdir = Some(element.clone());
            }
            (5, "binding") if path[4] == "bindings" => site.bindings.push(element.clone()),
            _ => {}
        }
    }
    if let Some(pool) = pool.as_mut()
        && path.len() == 4
        && under(path, &POOLS)
        && name == "processModel"
    {
        pool.process_model = Some(element.clone());
    }
}

/// Called when an element closes (an empty tag closes at once), with the path including it.
fn on_close(
    doc: &mut Document,
    path: &[&str],
    element: Element,
    site: &mut Option<SiteElement>,
    pool: &mut Option<PoolElement>,
) {
    if path == SITES {
        doc.sites_section = Some(element);
    } else if path == POOLS {
        doc.pools_section = Some(element);
    } else if path.len() == 4 && path[..3] == SITES && path[3] == "site" {
        if let Some(mut finished) = site.take() {
            finished.element.end = element.end;
            doc.sites.push(finished);
        }
    } else if path.len() == 4 && path[..3] == POOLS && path[3] == "add" {
        if let Some(mut finished) = pool.take() {
            finished.element.end = element.end;
            doc.pools.push(finished);
        }
    }
}

fn decode(bytes: &[u8]) -> Result<&str, AppHostError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    std::str::from_utf8(bytes).map_err(|e| xml_error(e.valid_up_to(), "not UTF-8 text"))
}

fn bom_len(bytes: &[u8]) -> usize {
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    }
}

/// Every site of the file.
pub fn apphost_sites(bytes: &[u8]) -> Result<Vec<Site>, AppHostError> {
    let doc = parse_document(decode(bytes)?)?;
    Ok(doc.sites.iter().map(to_site).collect())
}

fn to_site(s: &SiteElement) -> Site {
    Site {
        name: s.element.value("name").unwrap_or_default().to_string(),
        id: s.element.value("id").and_then(|v| v.parse().ok()),
        app_pool: s
            .root_app
            .as_ref()
            .and_then(|a| a.value("applicationPool"))
            .unwrap_or("DefaultAppPool")
            .to_string(),
        physical_path: s
            .root_vdir
            .as_ref()
            .and_then(|v| v.value("physicalPath"))
            .map(str::to_string),
        bindings: s
            .bindings
            .iter()
            .map(|b| Binding {
                protocol: b.value("protocol").unwrap_or_default().to_string(),
                information: b
                    .value("bindingInformation")
                    .unwrap_or_default()
                    .to_string(),
                ssl_flags: b.value("sslFlags").map(str::to_string),
            })
            .collect(),
        auto_start: s.element.value("serverAutoStart") != Some("false"),
    }
}

/// Every application pool of the file.
pub fn app_pools(bytes: &[u8]) -> Result<Vec<AppPool>, AppHostError> {
    let doc = parse_document(decode(bytes)?)?;
    Ok(doc
        .pools
        .iter()
        .map(|p| AppPool {
            name: p.element.value("name").unwrap_or_default().to_string(),
            identity_type: p
                .process_model
                .as_ref()
                .and_then(|m| m.value("identityType"))
                .map(str::to_string),
            user_name: p
                .process_model
                .as_ref()
                .and_then(|m| m.value("userName"))
                .filter(|u| !u.is_empty())
                .map(str::to_string),
            has_password: p
                .process_model
                .as_ref()
                .and_then(|m| m.value("password"))
                .is_some_and(|v| !v.is_empty()),
            auto_start: p.element.value("autoStart") != Some("false"),
        })
        .collect())
}

/// The identity type of pools that set none (`applicationPoolDefaults`), or IIS's own
/// default, `ApplicationPoolIdentity`.
pub fn default_pool_identity_type(bytes: &[u8]) -> Result<String, AppHostError> {
    let doc = parse_document(decode(bytes)?)?;
    Ok(doc
        .pool_defaults_process_model
        .as_ref()
        .and_then(|m| m.value("identityType"))
        .unwrap_or("ApplicationPoolIdentity")
        .to_string())
}

// ---------------------------------------------------------------------------------------
// Editing

/// Applies `edit` to the file; returns the same bytes if it is already applied.
pub fn apply_apphost_edit(bytes: &[u8], edit: &AppHostEdit) -> Result<Vec<u8>, AppHostError> {
    let bom = bom_len(bytes);
    let text = decode(bytes)?;
    let doc = parse_document(text)?;
    let edited = match edit {
        AppHostEdit::RenameSite {
            from,
            to,
            physical_path,
        } => rename_site(text, &doc, from, to, physical_path.as_ref())?,
        AppHostEdit::AddSite(site) => {
            validate_new_site(site)?;
            add_site(text, &doc, site, None)?
        }
        AppHostEdit::AddSiteWithPoolIdentity {
            site,
            identity_from_pool,
        } => {
            validate_new_site(site)?;
            add_site(text, &doc, site, Some(identity_from_pool))?
        }
    };
    let mut out = Vec::with_capacity(bom + edited.len());
    out.extend_from_slice(&bytes[..bom]);
    out.extend_from_slice(edited.as_bytes());
    Ok(out)
}

fn find_site<'d>(doc: &'d Document, name: &str) -> Option<&'d SiteElement> {
    doc.sites.iter().find(|s| {
        s.element
            .value("name")
            .is_some_and(|n| n.eq_ignore_ascii_case(name))
    })
}

/// Replacements `(start, end, text)` applied back to front.
fn splice_all(text: &str, mut edits: Vec<(usize, usize, String)>) -> String {
    edits.sort_by_key(|e| std::cmp::Reverse(e.0));
    let mut out = text.to_string();
    for (start, end, replacement) in edits {
        out.replace_range(start..end, &replacement);
    }
    out
}

fn escape(value: &str) -> String {
    quick_xml::escape::escape(value).into_owned()
}

fn rename_site(
    text: &str,
    doc: &Document,
    from: &str,
    to: &str,
    physical_path: Option<&(String, String)>,
) -> Result<String, AppHostError> {
    let Some(site) = find_site(doc, from) else {
        // Already renamed?
        let done =
            find_site(doc, to).ok_or_else(|| AppHostError::SiteNotFound(from.to_string()))?;
        if let Some((_, new)) = physical_path {
            let found = done
                .root_vdir
                .as_ref()
                .and_then(|v| v.value("physicalPath"))
                .unwrap_or_default();
            if !found.eq_ignore_ascii_case(new) {
                return Err(AppHostError::PhysicalPath {
                    site: to.to_string(),
                    found: found.to_string(),
                    expected: new.clone(),
                });
            }
        }
        return Ok(text.to_string());
    };
    if !from.eq_ignore_ascii_case(to) && find_site(doc, to).is_some() {
        return Err(AppHostError::NameTaken {
            from: from.to_string(),
            to: to.to_string(),
        });
    }
    let name = site.element.attr("name").expect("a found site has a name");
    let mut edits = vec![(name.start, name.end, escape(to))];
    if let Some((old, new)) = physical_path {
        let vdir = site
            .root_vdir
            .as_ref()
            .and_then(|v| v.attr("physicalPath"))
            .ok_or_else(|| {
                AppHostError::Invalid(format!("site {from:?} has no root physical path"))
            })?;
        if vdir.value.eq_ignore_ascii_case(old) {
            edits.push((vdir.start, vdir.end, escape(new)));
        } else if !vdir.value.eq_ignore_ascii_case(new) {
            return Err(AppHostError::PhysicalPath {
                site: from.to_string(),
                found: vdir.value.clone(),
                expected: old.clone(),
            });
        }
    }
    Ok(splice_all(text, edits))
}

/// The indentation of the line that `at` starts on, and one indentation step, read from the
/// file.
fn indentation(text: &str, at: usize) -> String {
    let line_start = text[..at].rfind('\n').map(|i| i + 1).unwrap_or(0);
    text[line_start..at]
        .chars()
        .take_while(|c| *c == ' ' || *c == '\t')
        .collect()
}

fn indent_unit(text: &str) -> String {
    if text.lines().any(|l| l.starts_with('\t')) {
        return "\t".to_string();
    }
    text.lines()
        .map(|l| l.len() - l.trim_start_matches(' ').len())
        .filter(|n| *n > 0)
        .min()
        .map(|n| " ".repeat(n))
        .unwrap_or_else(|| "    ".to_string())
}

fn newline(text: &str) -> &'static str {
    if text.contains("\r\n") { "\r\n" } else { "\n" }
}

fn binding_information(site: &NewSite) -> String {
    format!("*:{}:{}", site.port, site.host)
}

fn add_site(
    text: &str,
    doc: &Document,
    site: &NewSite,
    identity_from: Option<&str>,
) -> Result<String, AppHostError> {
    if let Some(existing) = find_site(doc, &site.name) {
        let existing = to_site(existing);
        let same = existing
            .physical_path
            .as_deref()
            .is_some_and(|p| p.eq_ignore_ascii_case(&site.physical_path))
            && existing
                .bindings
                .iter()
                .any(|b| b.protocol == "https" && b.information == binding_information(site))
            && doc
                .pools
                .iter()
                .any(|p| p.element.value("name") == Some(site.app_pool.as_str()));
        return if same {
            Ok(text.to_string())
        } else {
            Err(AppHostError::Conflict(site.name.clone()))
        };
    }
    let nl = newline(text);
    let unit = indent_unit(text);
    let mut edits = Vec::new();

    if !doc.pools.iter().any(|p| {
        p.element
            .value("name")
            .is_some_and(|n| n.eq_ignore_ascii_case(&site.app_pool))
    }) {
        edits.push(pool_insertion(text, doc, site, identity_from, nl, &unit)?);
    }

    let sites_section = doc.sites_section.as_ref().ok_or(AppHostError::NoSites)?;
    let next_id = doc
        .sites
        .iter()
        .filter_map(|s| s.element.value("id").and_then(|v| v.parse::<u32>().ok()))
        .max()
        .unwrap_or(0)
        + 1;
    let (at, indent) = match doc.sites.last() {
        Some(last) => (last.element.end, indentation(text, last.element.start)),
        None => (
            sites_section.end - "</sites>".len(),
            format!("{}{unit}", indentation(text, sites_section.start)),
        ),
    };
    let i1 = format!("{indent}{unit}");
    let i2 = format!("{i1}{unit}");
    let element = format!(
        "{nl}{indent}<site name=\"{name}\" id=\"{next_id}\" serverAutoStart=\"{start}\">\
         {nl}{i1}<application path=\"/\" applicationPool=\"{pool}\">\
         {nl}{i2}<virtualDirectory path=\"/\" physicalPath=\"{path}\" />\
         {nl}{i1}</application>\
         {nl}{i1}<bindings>\
         {nl}{i2}<binding protocol=\"https\" bindingInformation=\"{binding}\" sslFlags=\"1\" />\
         {nl}{i1}</bindings>\
         {nl}{indent}</site>",
        name = escape(&site.name),
        start = site.start,
        pool = escape(&site.app_pool),
        path = escape(&site.physical_path),
        binding = escape(&binding_information(site)),
    );
    edits.push((at, at, element));
    Ok(splice_all(text, edits))
}

/// A new `<add>` for the site's pool after the last pool, copying the runtime attributes of an
/// existing Hub pool (or the first pool) so it runs the way the others do. With
/// `identity_from`, the pool gets that pool's identity: the identity attributes of its
/// `processModel`, copied as raw text (the password stays as IIS encrypted it).
fn pool_insertion(
    text: &str,
    doc: &Document,
    site: &NewSite,
    identity_from: Option<&str>,
    nl: &str,
    unit: &str,
) -> Result<(usize, usize, String), AppHostError> {
    let template = doc
        .pools
        .iter()
        .find(|p| p.element.value("name") == Some("Blue Prism - Hub"))
        .or_else(|| doc.pools.first());
    let copied: String = template
        .map(|p| {
            p.element
                .attrs
                .iter()
                .filter(|a| {
                    matches!(
                        a.name.as_str(),
                        "managedRuntimeVersion" | "managedPipelineMode" | "startMode"
                    )
                })
                .map(|a| format!(" {}=\"{}\"", a.name, escape(&a.value)))
                .collect()
        })
        .unwrap_or_else(|| " managedRuntimeVersion=\"\"".to_string());
    let (at, indent) = match doc.pools.last() {
        Some(last) => (last.element.end, indentation(text, last.element.start)),
        None => {
            let section = doc.pools_section.as_ref().ok_or_else(|| {
                AppHostError::Invalid("there is no <applicationPools> section".into())
            })?;
            (
                section.end - "</applicationPools>".len(),
                format!("{}{unit}", indentation(text, section.start)),
            )
        }
    };
    let element = match identity_from {
        None => format!(
            "{nl}{indent}<add name=\"{}\"{copied} />",
            escape(&site.app_pool)
        ),
        Some(source) => format!(
            "{nl}{indent}<add name=\"{}\"{copied}>{nl}{indent}{unit}<processModel{} />{nl}{indent}</add>",
            escape(&site.app_pool),
            identity_attributes(text, doc, source)?
        ),
    };
    Ok((at, at, element))
}

/// ` identityType="..." userName="..." password="..."` of pool `source`'s `processModel`, each
/// as the file writes it (raw, still escaped and encrypted).
fn identity_attributes(text: &str, doc: &Document, source: &str) -> Result<String, AppHostError> {
    let pool = doc
        .pools
        .iter()
        .find(|p| {
            p.element
                .value("name")
                .is_some_and(|n| n.eq_ignore_ascii_case(source))
        })
        .ok_or_else(|| {
            AppHostError::Invalid(format!(
                "pool {source:?}, whose identity the new pool copies, is not in the file"
            ))
        })?;
    let model = pool.process_model.as_ref().ok_or_else(|| {
        AppHostError::Invalid(format!(
            "pool {source:?} has no processModel identity to copy"
        ))
    })?;
    let mut out = String::new();
    for name in ["identityType", "userName", "password"] {
        if let Some(attr) = model.attr(name) {
            let raw = &text[attr.start..attr.end];
            // A value the file writes in single quotes may hold a double quote.
            let value = if raw.contains('"') {
                escape(&attr.value)
            } else {
                raw.to_string()
            };
            out.push_str(&format!(" {name}=\"{value}\""));
        }
    }
    Ok(out)
}

/// Checks a new site's name, host, port and path the way the vendor's wizard does.
pub fn validate_new_site(site: &NewSite) -> Result<(), AppHostError> {
    let invalid = |m: String| Err(AppHostError::Invalid(m));
    if site.name.trim().is_empty() {
        return invalid("the site name is empty".into());
    }
    const REFUSED: &[char] = &[
        '\\', '/', '?', ';', ':', '@', '&', '=', '+', '$', ',', '|', '"', '<', '>', '*',
    ];
    if let Some(c) = site.name.chars().find(|c| REFUSED.contains(c)) {
        return invalid(format!(
            "site name {:?} holds {c:?}, which IIS refuses in site names",
            site.name
        ));
    }
    if site.host != site.host.to_lowercase() {
        return invalid(format!(
            "host name {:?} has uppercase letters; IIS host names must be lowercase: use {:?}",
            site.host,
            site.host.to_lowercase()
        ));
    }
    if site.host.is_empty()
        || !site
            .host
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-')
    {
        return invalid(format!(
            "host name {:?} may only hold a-z, 0-9, '.' and '-'",
            site.host
        ));
    }
    if site.port == 0 {
        return invalid("port 0 is not a usable port; the default is 443".into());
    }
    if site.physical_path.trim().is_empty() {
        return invalid(format!("site {:?} has no physical path", site.name));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
