//! The Windows commands hubup runs, as overridable templates (the config's `[commands]`): a
//! program and its arguments with `{placeholders}`, rendered into a [`CommandLine`] without a
//! shell, so a value with spaces stays one argument.
//!
//! The Windows host adapter (`windows/`) observes with the `*_state`, `*_show`, `*_list` and
//! `service_config` templates and changes with the others; the defaults are the tools of a
//! stock Windows Server 2019/2022 with IIS (appcmd, netsh, sc, icacls, reg, iisreset, and
//! Windows PowerShell for the certificate store). A few templates (`app_pool_identity_*`,
//! `certificate_key_grant`/`_revoke`, `certificate_check`, `installed_version_set`) are only
//! used to resume or roll back runs journaled by earlier hubup builds, whose plans held command
//! lines instead of host ops.
//!
//! Every value put into a template must be [`plain`]: nothing a shell or PowerShell template
//! could be broken out of. The adapter refuses anything else before running a command.

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::op::CommandLine;

/// A command line template: program and arguments, each of which may hold `{placeholders}`.
/// No shell is involved, so values with spaces or quotes stay one argument.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(transparent)]
pub struct Template(pub Vec<String>);

impl Template {
    fn of(parts: &[&str]) -> Template {
        Template(parts.iter().map(|p| p.to_string()).collect())
    }
}

const APPCMD: &str = r"C:\Windows\System32\inetsrv\appcmd.exe";
const NETSH: &str = r"C:\Windows\System32\netsh.exe";
const ICACLS: &str = r"C:\Windows\System32\icacls.exe";
const POWERSHELL: &str = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe";
const IISRESET: &str = r"C:\Windows\System32\iisreset.exe";
const REG: &str = r"C:\Windows\System32\reg.exe";
const SC: &str = r"C:\Windows\System32\sc.exe";

/// The application id IIS registers its http.sys SSL bindings under.
pub const IIS_APP_ID: &str = "{4dc3e181-e14b-4a21-b022-59fc669b0914}";

/// Lists LocalMachine\My as `Key=Value` lines, one block per certificate, blank line between
/// (parsed by `windows::parse::certificates`): thumbprint, friendly name, subject, expiry (UTC,
/// invariant culture), whether it has a private key, its DNS names, and the file of its
/// private key (CSP keys under `RSA\MachineKeys`, CNG keys under `Keys`).
/// Each shared framework's versions in `dotnet --list-runtimes`' form, read from the folders
/// the installers make (servers with only the Hosting Bundle may have no `dotnet` on the
/// path), and the IIS module's line when `aspnetcorev2.dll` is there.
const RUNTIME_LIST: &str = "$s = Join-Path $env:ProgramFiles 'dotnet\\shared'; \
foreach ($f in 'Microsoft.NETCore.App', 'Microsoft.AspNetCore.App', 'Microsoft.WindowsDesktop.App') { \
Get-ChildItem -LiteralPath (Join-Path $s $f) -Directory -ErrorAction SilentlyContinue | \
ForEach-Object { $f + ' ' + $_.Name + ' [' + (Join-Path $s $f) + ']' } }; \
if (Test-Path -LiteralPath (Join-Path $env:windir 'System32\\inetsrv\\aspnetcorev2.dll')) { 'AspNetCoreModuleV2 installed' }";

const CERTIFICATE_LIST: &str = "$inv = [Globalization.CultureInfo]::InvariantCulture; \
Get-ChildItem Cert:\\LocalMachine\\My | ForEach-Object { \
$k = ''; \
if ($_.HasPrivateKey) { \
$n = $null; \
try { $n = $_.PrivateKey.CspKeyContainerInfo.UniqueKeyContainerName } catch { }; \
if (-not $n) { try { $n = [System.Security.Cryptography.X509Certificates.RSACertificateExtensions]::GetRSAPrivateKey($_).Key.UniqueName } catch { } }; \
if ($n) { foreach ($d in @('Microsoft\\Crypto\\RSA\\MachineKeys', 'Microsoft\\Crypto\\Keys')) { \
$p = Join-Path (Join-Path $env:ProgramData $d) $n; if (Test-Path -LiteralPath $p) { $k = $p } } } }; \
'Thumbprint=' + $_.Thumbprint; \
'FriendlyName=' + $_.FriendlyName; \
'Subject=' + $_.Subject; \
'NotAfter=' + $_.NotAfter.ToUniversalTime().ToString('yyyy-MM-ddTHH:mm:ssZ', $inv); \
'HasPrivateKey=' + $_.HasPrivateKey; \
foreach ($dns in $_.DnsNameList) { 'DnsName=' + $dns.Unicode }; \
'KeyFile=' + $k; \
'' }";

/// The Windows actions hubup takes, as overridable templates. Placeholders: see
/// [`PLACEHOLDERS`]. New fields go at the end (the digest covers them in order).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct CommandTemplates {
    pub stop_site: Template,
    pub start_site: Template,
    pub ssl_binding_add: Template,
    /// Shows one binding (`netsh http show sslcert hostnameport=...`): the observation.
    pub ssl_binding_check: Template,
    pub ssl_binding_remove: Template,
    pub app_pool_identity_set: Template,
    pub app_pool_identity_reset: Template,
    pub certificate_key_grant: Template,
    pub certificate_key_revoke: Template,
    pub certificate_check: Template,
    pub folder_acl_grant: Template,
    pub folder_acl_revoke: Template,
    pub service_restart: Template,
    pub app_pool_recycle: Template,
    pub iis_restart: Template,
    pub installed_version_set: Template,
    /// A site's current connections (IIS's `Web Service` performance counter), as a number.
    pub site_connections: Template,
    /// The .NET runtimes and IIS's ASP.NET Core Module V2, one per line (`runtimes.rs`).
    pub runtime_list: Template,
    pub site_state: Template,
    pub site_list: Template,
    pub app_pool_state: Template,
    pub app_pool_start: Template,
    pub app_pool_stop: Template,
    pub service_state: Template,
    pub service_config: Template,
    pub service_start: Template,
    pub service_stop: Template,
    pub certificate_list: Template,
    pub key_acl_show: Template,
    pub key_acl_grant: Template,
    pub key_acl_revoke: Template,
    pub folder_acl_show: Template,
    pub registry_show: Template,
    pub registry_set: Template,
    pub registry_delete: Template,
    /// Puts back an observed binding of another application id or store.
    pub ssl_binding_restore: Template,
    /// Grants a folder ACL entry with the given rights (putting back an observed one).
    pub folder_acl_put: Template,
}

impl Default for CommandTemplates {
    fn default() -> Self {
        let ps = |script: &str| {
            Template::of(&[
                POWERSHELL,
                "-NoProfile",
                "-NonInteractive",
                "-Command",
                script,
            ])
        };
        CommandTemplates {
            stop_site: Template::of(&[APPCMD, "stop", "site", "/site.name:{site}"]),
            start_site: Template::of(&[APPCMD, "start", "site", "/site.name:{site}"]),
            ssl_binding_add: Template::of(&[
                NETSH,
                "http",
                "add",
                "sslcert",
                "hostnameport={host}:{port}",
                "certhash={certificate}",
                "appid={4dc3e181-e14b-4a21-b022-59fc669b0914}",
                "certstorename=MY",
            ]),
            ssl_binding_check: Template::of(&[
                NETSH,
                "http",
                "show",
                "sslcert",
                "hostnameport={host}:{port}",
            ]),
            ssl_binding_remove: Template::of(&[
                NETSH,
                "http",
                "delete",
                "sslcert",
                "hostnameport={host}:{port}",
            ]),
            app_pool_identity_set: Template::of(&[
                APPCMD,
                "set",
                "apppool",
                "/apppool.name:{app_pool}",
                "/processModel.identityType:SpecificUser",
                "/processModel.userName:{identity}",
            ]),
            app_pool_identity_reset: Template::of(&[
                APPCMD,
                "set",
                "apppool",
                "/apppool.name:{app_pool}",
                "/processModel.identityType:ApplicationPoolIdentity",
            ]),
            certificate_key_grant: ps(
                "$c = Get-ChildItem Cert:\\LocalMachine\\My | Where-Object { $_.FriendlyName -eq '{certificate}' -or $_.Thumbprint -eq '{certificate}' } | Select-Object -First 1; \
                 $k = [System.Security.Cryptography.X509Certificates.RSACertificateExtensions]::GetRSAPrivateKey($c).Key.UniqueName; \
                 icacls \"$env:ProgramData\\Microsoft\\Crypto\\RSA\\MachineKeys\\$k\" /grant '{identity}:F'",
            ),
            certificate_key_revoke: ps(
                "$c = Get-ChildItem Cert:\\LocalMachine\\My | Where-Object { $_.FriendlyName -eq '{certificate}' -or $_.Thumbprint -eq '{certificate}' } | Select-Object -First 1; \
                 $k = [System.Security.Cryptography.X509Certificates.RSACertificateExtensions]::GetRSAPrivateKey($c).Key.UniqueName; \
                 icacls \"$env:ProgramData\\Microsoft\\Crypto\\RSA\\MachineKeys\\$k\" /remove:g '{identity}'",
            ),
            certificate_check: ps(
                "if (Get-ChildItem Cert:\\LocalMachine\\My | Where-Object { $_.FriendlyName -eq '{certificate}' -or $_.Thumbprint -eq '{certificate}' }) { exit 0 } else { exit 1 }",
            ),
            folder_acl_grant: Template::of(&[ICACLS, "{folder}", "/grant", "{identity}:(OI)(CI)F"]),
            folder_acl_revoke: Template::of(&[ICACLS, "{folder}", "/remove:g", "{identity}"]),
            service_restart: ps("Restart-Service -Name '{service}' -Force"),
            app_pool_recycle: Template::of(&[
                APPCMD,
                "recycle",
                "apppool",
                "/apppool.name:{app_pool}",
            ]),
            iis_restart: Template::of(&[IISRESET, "/restart"]),
            installed_version_set: Template::of(&[
                REG,
                "add",
                r"HKLM\SOFTWARE\Blue Prism Limited\Hub and Interact",
                "/v",
                "Version",
                "/d",
                "{version}",
                "/f",
            ]),
            site_connections: ps(
                "(Get-Counter -Counter '\\Web Service({site})\\Current Connections' -ErrorAction Stop).CounterSamples[0].CookedValue",
            ),
            runtime_list: ps(RUNTIME_LIST),
            site_state: Template::of(&[APPCMD, "list", "site", "/site.name:{site}"]),
            site_list: Template::of(&[APPCMD, "list", "site"]),
            app_pool_state: Template::of(&[APPCMD, "list", "apppool", "/apppool.name:{app_pool}"]),
            app_pool_start: Template::of(&[APPCMD, "start", "apppool", "/apppool.name:{app_pool}"]),
            app_pool_stop: Template::of(&[APPCMD, "stop", "apppool", "/apppool.name:{app_pool}"]),
            service_state: Template::of(&[SC, "queryex", "{service}"]),
            service_config: Template::of(&[SC, "qc", "{service}"]),
            service_start: Template::of(&[SC, "start", "{service}"]),
            service_stop: Template::of(&[SC, "stop", "{service}"]),
            certificate_list: ps(CERTIFICATE_LIST),
            key_acl_show: Template::of(&[ICACLS, "{file}"]),
            key_acl_grant: Template::of(&[ICACLS, "{file}", "/grant", "{identity}:{rights}"]),
            key_acl_revoke: Template::of(&[ICACLS, "{file}", "/remove:g", "{identity}"]),
            folder_acl_show: Template::of(&[ICACLS, "{folder}"]),
            registry_show: Template::of(&[REG, "query", "{key}", "/v", "{name}"]),
            registry_set: Template::of(&[
                REG, "add", "{key}", "/v", "{name}", "/t", "REG_SZ", "/d", "{value}", "/f",
            ]),
            registry_delete: Template::of(&[REG, "delete", "{key}", "/v", "{name}", "/f"]),
            ssl_binding_restore: Template::of(&[
                NETSH,
                "http",
                "add",
                "sslcert",
                "hostnameport={host}:{port}",
                "certhash={certificate}",
                "appid={appid}",
                "certstorename={store}",
            ]),
            folder_acl_put: Template::of(&[ICACLS, "{folder}", "/grant", "{identity}:{rights}"]),
        }
    }
}

impl CommandTemplates {
    /// Every template with its key, in field order.
    pub fn all(&self) -> [(&'static str, &Template); 37] {
        [
            ("stop_site", &self.stop_site),
            ("start_site", &self.start_site),
            ("ssl_binding_add", &self.ssl_binding_add),
            ("ssl_binding_check", &self.ssl_binding_check),
            ("ssl_binding_remove", &self.ssl_binding_remove),
            ("app_pool_identity_set", &self.app_pool_identity_set),
            ("app_pool_identity_reset", &self.app_pool_identity_reset),
            ("certificate_key_grant", &self.certificate_key_grant),
            ("certificate_key_revoke", &self.certificate_key_revoke),
            ("certificate_check", &self.certificate_check),
            ("folder_acl_grant", &self.folder_acl_grant),
            ("folder_acl_revoke", &self.folder_acl_revoke),
            ("service_restart", &self.service_restart),
            ("app_pool_recycle", &self.app_pool_recycle),
            ("iis_restart", &self.iis_restart),
            ("installed_version_set", &self.installed_version_set),
            ("site_connections", &self.site_connections),
            ("runtime_list", &self.runtime_list),
            ("site_state", &self.site_state),
            ("site_list", &self.site_list),
            ("app_pool_state", &self.app_pool_state),
            ("app_pool_start", &self.app_pool_start),
            ("app_pool_stop", &self.app_pool_stop),
            ("service_state", &self.service_state),
            ("service_config", &self.service_config),
            ("service_start", &self.service_start),
            ("service_stop", &self.service_stop),
            ("certificate_list", &self.certificate_list),
            ("key_acl_show", &self.key_acl_show),
            ("key_acl_grant", &self.key_acl_grant),
            ("key_acl_revoke", &self.key_acl_revoke),
            ("folder_acl_show", &self.folder_acl_show),
            ("registry_show", &self.registry_show),
            ("registry_set", &self.registry_set),
            ("registry_delete", &self.registry_delete),
            ("ssl_binding_restore", &self.ssl_binding_restore),
            ("folder_acl_put", &self.folder_acl_put),
        ]
    }

    /// The first template that is empty or uses an unknown placeholder: its key and what is
    /// wrong.
    pub fn validate(&self) -> Result<(), (String, String)> {
        for (key, template) in self.all() {
            if template.0.first().is_none_or(|p| p.trim().is_empty()) {
                return Err((
                    key.to_string(),
                    "empty command: give at least the program".into(),
                ));
            }
            for part in &template.0 {
                if let Some(name) = unknown_placeholder(part) {
                    return Err((
                        key.to_string(),
                        format!(
                            "unknown placeholder {{{name}}}; known: {}",
                            PLACEHOLDERS.join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Digest of every template, so the journal records which commands a run used.
    pub fn digest(&self) -> Digest {
        let mut hasher = blake3::Hasher::new();
        for (key, template) in self.all() {
            hasher.update(key.as_bytes());
            for part in &template.0 {
                hasher.update(&(part.len() as u64).to_le_bytes());
                hasher.update(part.as_bytes());
            }
        }
        hasher.finalize().into()
    }
}

/// Placeholders a template may use.
pub const PLACEHOLDERS: [&str; 16] = [
    "site",
    "app_pool",
    "host",
    "port",
    "certificate",
    "identity",
    "folder",
    "service",
    "version",
    "appid",
    "store",
    "file",
    "rights",
    "key",
    "name",
    "value",
];

/// The first `{name}` in `part` that is not a known placeholder. PowerShell braces such as
/// `{ $_.Name }` (with a space or `$` inside) are not placeholders.
pub fn unknown_placeholder(part: &str) -> Option<String> {
    let mut rest = part;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        let Some(end) = after.find('}') else { break };
        let name = &after[..end];
        let is_identifier =
            !name.is_empty() && name.chars().all(|c| c.is_ascii_lowercase() || c == '_');
        if is_identifier && !PLACEHOLDERS.contains(&name) {
            return Some(name.to_string());
        }
        rest = &after[end + 1..];
    }
    None
}

/// Fills `{placeholders}` in a template part from `values`; unknown ones stay as written.
pub fn render_part(part: &str, values: &[(&str, &str)]) -> String {
    let mut out = part.to_string();
    for (name, value) in values {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

/// Renders a command template with its placeholder values.
pub fn render(template: &Template, values: &[(&str, &str)]) -> CommandLine {
    let mut parts = template.0.iter().map(|part| render_part(part, values));
    CommandLine {
        program: parts.next().unwrap_or_default(),
        args: parts.collect(),
    }
}

/// A value that no shell or PowerShell quoting in a template can be broken out of: no quote,
/// `$`, `;`, `|`, `&`, `<`, `>`, `%`, `^`, backtick or line break.
pub fn plain(value: &str) -> bool {
    !value.chars().any(|c| {
        matches!(
            c,
            '\'' | '"' | '`' | '$' | ';' | '|' | '&' | '<' | '>' | '%' | '^' | '\n' | '\r' | '\0'
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_render_one_argument_per_part() {
        let t = CommandTemplates::default();
        t.validate().unwrap();
        let line = render(
            &t.ssl_binding_add,
            &[
                ("host", "licensemanager.local"),
                ("port", "443"),
                ("certificate", "0123456789ABCDEF0123456789ABCDEF01234567"),
            ],
        );
        assert_eq!(line.program, NETSH);
        assert_eq!(
            line.args,
            [
                "http",
                "add",
                "sslcert",
                "hostnameport=licensemanager.local:443",
                "certhash=0123456789ABCDEF0123456789ABCDEF01234567",
                "appid={4dc3e181-e14b-4a21-b022-59fc669b0914}",
                "certstorename=MY"
            ]
        );
        let line = render(
            &t.folder_acl_put,
            &[
                (
                    "folder",
                    r"C:\Program Files (x86)\Blue Prism\License Manager",
                ),
                ("identity", r"IIS APPPOOL\Blue Prism - License Manager"),
                ("rights", "(OI)(CI)F"),
            ],
        );
        assert_eq!(
            line.args,
            [
                r"C:\Program Files (x86)\Blue Prism\License Manager",
                "/grant",
                r"IIS APPPOOL\Blue Prism - License Manager:(OI)(CI)F"
            ]
        );
    }

    #[test]
    fn plain_values_and_placeholders() {
        assert!(plain(r"IIS APPPOOL\Blue Prism - Hub"));
        assert!(plain(r"C:\Program Files (x86)\Blue Prism\Hub"));
        assert!(!plain("x'; Remove-Item C:\\ -Recurse; '"));
        assert!(!plain("a & calc"));
        assert_eq!(unknown_placeholder("if (x) { exit 0 }"), None);
        assert_eq!(unknown_placeholder("{nope}"), Some("nope".into()));
        assert_eq!(
            render_part("/site.name:{site}", &[("site", "Blue Prism - Hub")]),
            "/site.name:Blue Prism - Hub"
        );
    }
}
