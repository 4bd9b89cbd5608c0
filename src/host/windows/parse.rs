//! Reading the Windows tools' output: `netsh http show sslcert`, `sc queryex` and `sc qc`,
//! `appcmd list site|apppool`, `icacls`, `reg query`, and the `Key=Value` blocks of hubup's
//! own certificate listing. Each parser is tested on output in the format Microsoft documents
//! for the tool (the page is named at each test).

use crate::op::{AclEntry, SslBinding};

use super::super::certificates::Certificate;

/// `Name : value` lines (netsh, sc), as (name, value), names trimmed.
fn fields(output: &str) -> impl Iterator<Item = (&str, &str)> {
    output.lines().filter_map(|line| {
        let (name, value) = line.split_once(" : ").or_else(|| {
            let (n, v) = line.split_once(':')?;
            Some((n, v))
        })?;
        Some((name.trim(), value.trim()))
    })
}

/// The binding `netsh http show sslcert hostnameport=...` shows, or `None` when it shows none
/// ("The system cannot find the file specified", exit 1, or no hash).
pub fn ssl_binding(output: &str) -> Result<Option<SslBinding>, String> {
    let mut thumbprint = None;
    let mut app_id = None;
    let mut store = None;
    for (name, value) in fields(output) {
        match name {
            "Certificate Hash" => thumbprint = Some(value.to_ascii_uppercase()),
            "Application ID" => app_id = Some(value.to_string()),
            "Certificate Store Name" => store = Some(value.to_string()),
            _ => {}
        }
    }
    match (thumbprint, app_id) {
        (Some(thumbprint), Some(app_id)) => {
            if thumbprint.len() != 40 || !thumbprint.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(format!(
                    "certificate hash {thumbprint:?} is not 40 hex digits"
                ));
            }
            Ok(Some(SslBinding {
                thumbprint,
                app_id,
                store: store
                    .filter(|s| s != "(null)" && !s.is_empty())
                    .unwrap_or_else(|| "MY".to_string()),
            }))
        }
        (None, None)
            if output.contains("cannot find the file specified") || !output.contains(':') =>
        {
            Ok(None)
        }
        (None, None) => Ok(None),
        _ => Err("a binding without its certificate hash or application id".into()),
    }
}

/// Whether `sc queryex` says the service runs: `STATE : 4  RUNNING`. Pending states count
/// as what they are heading to.
pub fn service_running(output: &str) -> Result<bool, String> {
    let state = fields(output)
        .find(|(name, _)| *name == "STATE")
        .map(|(_, v)| v)
        .ok_or("no STATE line")?;
    let word = state.split_whitespace().nth(1).unwrap_or("");
    match word {
        "RUNNING" | "START_PENDING" | "CONTINUE_PENDING" | "PAUSED" | "PAUSE_PENDING" => Ok(true),
        "STOPPED" | "STOP_PENDING" => Ok(false),
        other => Err(format!("unknown state {other:?}")),
    }
}

/// Whether `sc queryex` shows a settled state (not a `*_PENDING` one).
pub fn service_settled(output: &str) -> bool {
    fields(output)
        .find(|(name, _)| *name == "STATE")
        .is_some_and(|(_, v)| !v.contains("PENDING"))
}

/// The start mode `sc qc` shows (`START_TYPE : 2   AUTO_START`), as PowerShell names it:
/// `Auto`, `Manual`, `Disabled`, `Boot`, `System`; a delayed auto start is `Auto (delayed)`.
pub fn service_start_mode(output: &str) -> Result<String, String> {
    let value = fields(output)
        .find(|(name, _)| *name == "START_TYPE")
        .map(|(_, v)| v)
        .ok_or("no START_TYPE line")?;
    let mode = match value.split_whitespace().nth(1).unwrap_or("") {
        "AUTO_START" if value.contains("DELAYED") => "Auto (delayed)",
        "AUTO_START" => "Auto",
        "DEMAND_START" => "Manual",
        "DISABLED" => "Disabled",
        "BOOT_START" => "Boot",
        "SYSTEM_START" => "System",
        other => return Err(format!("unknown start type {other:?}")),
    };
    Ok(mode.to_string())
}

/// A performance counter's value as `(Get-Counter ...).CounterSamples[0].CookedValue`
/// prints it (`3`, or `0` for an idle site), as a whole number.
pub fn counter_value(output: &str) -> Result<u64, String> {
    let text = output.trim();
    let value: f64 = text
        .parse()
        .map_err(|_| format!("expected a number, got {text:?}"))?;
    if !(0.0..=1e15).contains(&value) {
        return Err(format!("{text:?} is not a count"));
    }
    Ok(value.round() as u64)
}

/// Whether `appcmd list site|apppool /x.name:...` shows the object `state:Started`, from
/// `SITE "Default Web Site" (id:1,bindings:http/*:80:,state:Started)`.
pub fn appcmd_started(output: &str) -> Result<bool, String> {
    let line = output
        .lines()
        .find(|l| l.starts_with("SITE \"") || l.starts_with("APPPOOL \""))
        .ok_or("no SITE or APPPOOL line")?;
    let state = line
        .rsplit_once("state:")
        .map(|(_, s)| s.trim_end_matches(')').trim())
        .ok_or("no state")?;
    match state {
        "Started" | "Starting" => Ok(true),
        "Stopped" | "Stopping" => Ok(false),
        other => Err(format!("unknown state {other:?}")),
    }
}

/// Every site `appcmd list site` shows, with whether it runs.
pub fn appcmd_sites(output: &str) -> Result<Vec<(String, bool)>, String> {
    output
        .lines()
        .filter(|l| l.starts_with("SITE \""))
        .map(|line| {
            let name = line["SITE \"".len()..]
                .split_once('"')
                .map(|(n, _)| n.to_string())
                .ok_or("an unterminated site name")?;
            Ok((name, appcmd_started(line)?))
        })
        .collect()
}

/// The entries of `principal` in `icacls <path>` output: the first line starts with the path,
/// then `principal:(flags)(rights)` one per line, then a summary line.
pub fn icacls_entries(output: &str, path: &str, principal: &str) -> Vec<AclEntry> {
    let mut out = Vec::new();
    for (i, line) in output.lines().enumerate() {
        let mut text = line.trim_start();
        if i == 0 {
            text = text.strip_prefix(path).unwrap_or(text).trim_start();
        }
        if text.starts_with("Successfully processed") || text.is_empty() {
            continue;
        }
        let Some(at) = text.find(":(") else { continue };
        let (who, rights) = (&text[..at], &text[at + 1..]);
        if !who.trim().eq_ignore_ascii_case(principal) {
            continue;
        }
        let deny = rights.contains("(DENY)");
        out.push(AclEntry {
            rights: rights.replace("(DENY)", "").trim().to_string(),
            deny,
        });
    }
    out
}

/// The value `reg query <key> /v <name>` shows (`    Version    REG_SZ    4.2`), or `None`.
pub fn reg_value(output: &str, name: &str) -> Option<String> {
    output.lines().find_map(|line| {
        let trimmed = line.trim_start();
        let rest = trimmed.strip_prefix(name)?;
        let rest = rest.trim_start();
        let (kind, value) = rest.split_once("    ")?;
        kind.starts_with("REG_").then(|| value.trim().to_string())
    })
}

/// The certificates of hubup's certificate listing (`Key=Value` lines, a blank line after
/// each certificate).
pub fn certificates(output: &str) -> Result<Vec<Certificate>, String> {
    let mut out = Vec::new();
    let mut current: Option<Certificate> = None;
    for line in output.lines().map(str::trim_end) {
        if line.is_empty() {
            if let Some(c) = current.take() {
                out.push(c);
            }
            continue;
        }
        let (key, value) = line
            .split_once('=')
            .ok_or_else(|| format!("line {line:?} is not Key=Value"))?;
        let c = current.get_or_insert_with(|| Certificate {
            thumbprint: String::new(),
            friendly_name: String::new(),
            subject: String::new(),
            dns_names: Vec::new(),
            not_after: String::new(),
            has_private_key: false,
            key_file: None,
        });
        match key {
            "Thumbprint" => c.thumbprint = value.to_ascii_uppercase(),
            "FriendlyName" => c.friendly_name = value.to_string(),
            "Subject" => c.subject = value.to_string(),
            "NotAfter" => c.not_after = value.to_string(),
            "HasPrivateKey" => c.has_private_key = value.eq_ignore_ascii_case("True"),
            "DnsName" => c.dns_names.push(value.to_string()),
            "KeyFile" => c.key_file = (!value.is_empty()).then(|| value.to_string()),
            _ => {}
        }
    }
    out.extend(current);
    if let Some(bad) = out.iter().find(|c| c.thumbprint.len() != 40) {
        return Err(format!(
            "thumbprint {:?} is not 40 hex digits",
            bad.thumbprint
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(Get-Counter '\Web Service(Blue Prism - IMS)\Current Connections').CounterSamples[0]
    /// .CookedValue` prints a double: `3` for three connections.
    #[test]
    fn a_counter_value_is_a_whole_count() {
        assert_eq!(counter_value("3\r\n"), Ok(3));
        assert_eq!(counter_value("0"), Ok(0));
        assert_eq!(counter_value("2.0000001"), Ok(2));
        assert!(counter_value("Get-Counter : The specified instance is not present.").is_err());
        assert!(counter_value("-1").is_err());
    }

    /// The format of learn.microsoft.com/windows-server/networking/technologies/netsh/
    /// netsh-http ("show sslcert"), for an SNI binding.
    const SSLCERT: &str = "\r\nSSL Certificate bindings:\r\n----------------------------------\r\n\r\n    Hostname:port                : licensemanager.corp.example.com:443\r\n    Certificate Hash             : 5a0c8e4e0b1b1b8b0e3e5f6a7b8c9d0e1f2a3b4c\r\n    Application ID               : {4dc3e181-e14b-4a21-b022-59fc669b0914}\r\n    Certificate Store Name       : My\r\n    Verify Client Certificate Revocation : Enabled\r\n    Verify Revocation Using Cached Client Certificate Only : Disabled\r\n    Usage Check                  : Enabled\r\n    Revocation Freshness Time    : 0\r\n    URL Retrieval Timeout        : 0\r\n    Ctl Identifier               : (null)\r\n    Ctl Store Name               : (null)\r\n    DS Mapper Usage              : Disabled\r\n    Negotiate Client Certificate : Disabled\r\n\r\n";

    #[test]
    fn netsh_show_sslcert() {
        let b = ssl_binding(SSLCERT).unwrap().unwrap();
        assert_eq!(b.thumbprint, "5A0C8E4E0B1B1B8B0E3E5F6A7B8C9D0E1F2A3B4C");
        assert_eq!(b.app_id, "{4dc3e181-e14b-4a21-b022-59fc669b0914}");
        assert_eq!(b.store, "My");
        let none = "\r\nSSL Certificate bindings:\r\n----------------------------------\r\n\r\nThe system cannot find the file specified.\r\n";
        assert_eq!(ssl_binding(none).unwrap(), None);
    }

    /// learn.microsoft.com/windows-server/administration/windows-commands/sc-query (queryex)
    /// and sc-qc.
    #[test]
    fn sc_queryex_and_qc() {
        let running = "\r\nSERVICE_NAME: Spooler\r\n        TYPE               : 110  WIN32_OWN_PROCESS  (interactive)\r\n        STATE              : 4  RUNNING\r\n                                (STOPPABLE, NOT_PAUSABLE, IGNORES_SHUTDOWN)\r\n        WIN32_EXIT_CODE    : 0  (0x0)\r\n        SERVICE_EXIT_CODE  : 0  (0x0)\r\n        CHECKPOINT         : 0x0\r\n        WAIT_HINT          : 0x0\r\n        PID                : 1332\r\n        FLAGS              :\r\n";
        assert!(service_running(running).unwrap());
        assert!(service_settled(running));
        let pending = running.replace("4  RUNNING", "3  STOP_PENDING");
        assert!(!service_running(&pending).unwrap());
        assert!(!service_settled(&pending));
        let qc = "[SC] QueryServiceConfig SUCCESS\r\n\r\nSERVICE_NAME: Spooler\r\n        TYPE               : 110  WIN32_OWN_PROCESS (interactive)\r\n        START_TYPE         : 2   AUTO_START\r\n        ERROR_CONTROL      : 1   NORMAL\r\n        BINARY_PATH_NAME   : C:\\Windows\\System32\\spoolsv.exe\r\n        LOAD_ORDER_GROUP   : SpoolerGroup\r\n        TAG                : 0\r\n        DISPLAY_NAME       : Print Spooler\r\n        DEPENDENCIES       : RPCSS\r\n        SERVICE_START_NAME : LocalSystem\r\n";
        assert_eq!(service_start_mode(qc).unwrap(), "Auto");
        let manual = qc.replace("2   AUTO_START", "3   DEMAND_START");
        assert_eq!(service_start_mode(&manual).unwrap(), "Manual");
        let delayed = qc.replace("2   AUTO_START", "2   AUTO_START  (DELAYED)");
        assert_eq!(service_start_mode(&delayed).unwrap(), "Auto (delayed)");
    }

    /// learn.microsoft.com/iis/get-started/getting-started-with-iis/getting-started-with-appcmdexe
    #[test]
    fn appcmd_list() {
        let sites = "SITE \"Default Web Site\" (id:1,bindings:http/*:80:,state:Started)\r\nSITE \"Blue Prism - Hub\" (id:2,bindings:https/*:443:hub.local,state:Stopped)\r\n";
        assert_eq!(
            appcmd_sites(sites).unwrap(),
            vec![
                ("Default Web Site".to_string(), true),
                ("Blue Prism - Hub".to_string(), false)
            ]
        );
        let pool =
            "APPPOOL \"DefaultAppPool\" (MgdVersion:v4.0,MgdMode:Integrated,state:Started)\r\n";
        assert!(appcmd_started(pool).unwrap());
        assert!(appcmd_started("ERROR ( message:Cannot find SITE object ) ").is_err());
    }

    /// learn.microsoft.com/windows-server/administration/windows-commands/icacls
    #[test]
    fn icacls_output() {
        let path = r"C:\ProgramData\Microsoft\Crypto\RSA\MachineKeys\abc_1234";
        let out = format!(
            "{path} NT AUTHORITY\\SYSTEM:(F)\r\n{pad}BUILTIN\\Administrators:(F)\r\n{pad}CORP\\svc-hub:(R)\r\n{pad}Everyone:(DENY)(W)\r\n\r\nSuccessfully processed 1 files; Failed processing 0 files\r\n",
            pad = " ".repeat(path.len() + 1)
        );
        assert_eq!(
            icacls_entries(&out, path, r"corp\svc-hub"),
            vec![AclEntry {
                rights: "(R)".into(),
                deny: false
            }]
        );
        assert_eq!(
            icacls_entries(&out, path, "Everyone"),
            vec![AclEntry {
                rights: "(W)".into(),
                deny: true
            }]
        );
        assert!(icacls_entries(&out, path, r"IIS APPPOOL\x").is_empty());
    }

    /// learn.microsoft.com/windows-server/administration/windows-commands/reg-query
    #[test]
    fn reg_query() {
        let out = "\r\nHKEY_LOCAL_MACHINE\\SOFTWARE\\Blue Prism Limited\\Hub and Interact\r\n    Version    REG_SZ    4.2\r\n\r\n";
        assert_eq!(reg_value(out, "Version").as_deref(), Some("4.2"));
        assert_eq!(
            reg_value(
                "ERROR: The system was unable to find the specified registry key or value.",
                "Version"
            ),
            None
        );
    }

    #[test]
    fn certificate_listing() {
        let out = "Thumbprint=5a0c8e4e0b1b1b8b0e3e5f6a7b8c9d0e1f2a3b4c\r\nFriendlyName=Hub\r\nSubject=CN=hub.local\r\nNotAfter=2030-01-01T00:00:00Z\r\nHasPrivateKey=True\r\nDnsName=hub.local\r\nDnsName=*.corp.local\r\nKeyFile=C:\\ProgramData\\Microsoft\\Crypto\\Keys\\k1\r\n\r\n";
        let certs = certificates(out).unwrap();
        assert_eq!(certs.len(), 1);
        assert_eq!(
            certs[0].thumbprint,
            "5A0C8E4E0B1B1B8B0E3E5F6A7B8C9D0E1F2A3B4C"
        );
        assert_eq!(certs[0].dns_names.len(), 2);
        assert!(certs[0].has_private_key);
        assert!(certs[0].key_file.is_some());
    }
}
