//! `hubup demo`: a sandbox on this machine to see hubup work with nothing external running.
//! It writes a 4.0 install (small fixture) with its applicationHost.config, the five packages,
//! a config file whose Windows commands only log what they would run, and a journal, all under
//! one folder; then (unless `--setup-only`) upgrades it to 4.5 and prints the audit. Afterwards
//! every command works on it with `--config DIR/hubup.toml`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::Args;
use hubup::{
    DEFAULT_IIS_LOCATION, FixtureSize, Journal, SCRIPT_FILE, Version, fixture_signing_key,
    generate_install, generate_packages,
};

use super::run::{
    BackupArgs, BrokerArgs, CheckArgs, CommonArgs, JournaledCommandArgs, LocalChangeArgs,
    ResumeArgs, UpgradeArgs,
};
use super::{Cause, CommandResult, Exit, Failure};

#[derive(Args, Debug)]
pub(crate) struct DemoArgs {
    /// The sandbox folder (created; must be empty if it exists).
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// Build the sandbox but do not upgrade it.
    #[arg(long)]
    setup_only: bool,
    /// The version the sandbox install starts at.
    #[arg(long, default_value = "4.0", value_name = "VERSION")]
    from: Version,
    /// small (a few hundred files: seconds) or large (about 18,000 files and 800 MiB, a
    /// production-sized install: to see hubup's progress and speed on it).
    #[arg(long, default_value = "small")]
    size: FixtureSize,
}

pub(crate) fn run(args: DemoArgs) -> CommandResult {
    let dir = absolute(&args.dir)?;
    if dir.read_dir().is_ok_and(|mut d| d.next().is_some()) {
        return Err(Cause::Argument(format!(
            "{} is not empty; give a new folder for the demo",
            dir.display()
        ))
        .into());
    }
    let root = dir.join("install").join("Blue Prism");
    let apphost = dir.join("inetsrv").join("applicationHost.config");
    let failed = |e: &dyn std::fmt::Display| Failure::of(Cause::Sandbox(e.to_string()));
    generate_install(args.from, args.size, &root, &apphost, DEFAULT_IIS_LOCATION)
        .map_err(|e| failed(&e))?;
    generate_packages(args.size, &dir.join("packages")).map_err(|e| failed(&e))?;
    write_sandbox_machine(&dir, &apphost, args.from).map_err(|e| failed(&e))?;
    let config = dir.join("hubup.toml");
    std::fs::write(&config, demo_config(&dir)).map_err(|e| failed(&e))?;
    hubup::make_private_file(&config).map_err(|e| failed(&e))?;
    outln!(
        "Sandbox ready in {}:\n  install   {}\n  IIS       {}\n  packages  {}\n  config    {}",
        dir.display(),
        root.display(),
        apphost.display(),
        dir.join("packages").display(),
        config.display()
    );
    if args.setup_only {
        outln!(
            "\nNext: hubup plan --to 4.5 --config {c}\n  hubup upgrade --to 4.5 --config {c} \
             stops (exit 7) at each step with database work, for a DBA to run its script; with \
             no SQL Server here, go on with hubup resume --dba-confirmed --config {c}",
            c = config.display()
        );
        return Ok(Exit::Ok);
    }
    outln!("\nUpgrading {} -> 4.5 ...", args.from);
    let local = || LocalChangeArgs {
        keep_local_changes: false,
        overwrite_local_changes: false,
    };
    let common = || CommonArgs {
        config: Some(config.clone()),
        json: false,
    };
    // The sandbox is the demo's own, made just now: asking would only stop the show.
    let mut code = super::run::upgrade_with(
        UpgradeArgs {
            to: Some(Version::LATEST),
            plan: None,
            local: local(),
            backup: BackupArgs {
                backup_databases: None,
            },
            checks: CheckArgs {
                require_logged_out: false,
            },
            broker: BrokerArgs {
                enable_quorum_queue: false,
            },
            common: common(),
        },
        super::run::Approval::Given,
    )?;
    // Script mode stops each step with database work before its sites start, for a DBA to
    // run the script. The sandbox has no SQL Server: the demo plays the DBA, saying so, with
    // the documented command for a DBA's word (journaled as not checked on a server).
    while code == Exit::AwaitingDba {
        outln!(
            "\nDemo: playing the DBA. There is no SQL Server in this sandbox, so nobody runs the \
             script; the demo confirms it as run with `hubup resume --dba-confirmed` (the journal \
             records that it was not checked on a server)."
        );
        code = super::run::resume(ResumeArgs {
            local: local(),
            dba_confirmed: true,
            commands: JournaledCommandArgs {
                accept_changed_commands: false,
            },
            common: common(),
        })?;
    }
    out!("{}", audit(&dir, &config)?);
    Ok(code)
}

fn absolute(dir: &Path) -> Result<PathBuf, Failure> {
    // The sandbox holds its config and journal: private, like hubup's own folders.
    hubup::create_private_dir_all(dir)
        .map_err(|e| Cause::Argument(format!("cannot create {}: {e}", dir.display())))?;
    std::path::absolute(dir)
        .map_err(|e| Cause::Argument(format!("cannot resolve {}: {e}", dir.display())).into())
}

/// The audit a newcomer sees: what the journal recorded, per step, and where everything is.
fn audit(dir: &Path, config: &Path) -> Result<String, Failure> {
    let journal_path = dir.join("journal").join("hubup.redb");
    let journal = Journal::open_read_only(&journal_path)?;
    let report = journal.verify()?;
    let mut out = String::new();
    let _ = writeln!(out, "\n== Audit: {} ==", journal_path.display());
    let entries = journal.entries()?;
    let mut ops_done = 0usize;
    for entry in &entries {
        use hubup::Payload;
        match &entry.payload {
            Payload::OpDone { .. } => ops_done += 1,
            Payload::OpIntent { .. } => {}
            Payload::StepPlanned { step, ops, .. } => {
                let _ = writeln!(
                    out,
                    "  #{:<5} step {step} planned: {} ops",
                    entry.seq,
                    ops.len()
                );
            }
            other => {
                let _ = writeln!(out, "  #{:<5} {}", entry.seq, other.kind());
            }
        }
    }
    let _ = writeln!(
        out,
        "  {} entries ({ops_done} ops done), chain verified, head {}",
        entries.len(),
        report.head.map(|h| h.hash.to_hex()).unwrap_or_default()
    );
    let commands = std::fs::read_to_string(dir.join("commands.log")).unwrap_or_default();
    let _ = writeln!(
        out,
        "  Windows commands (logged, not run, in this sandbox): {} in {}",
        commands.lines().count(),
        dir.join("commands.log").display()
    );
    let _ = writeln!(
        out,
        "  Database work (script mode, for a DBA): the last step's in {}, earlier ones in {}",
        dir.join("output").join(SCRIPT_FILE).display(),
        dir.join("output").join(hubup::PREVIOUS_DIR).display()
    );
    let c = config.display();
    let _ = writeln!(
        out,
        "\nTry next:\n  hubup status --config {c}\n  hubup journal show --config {c}\n  \
         hubup journal verify --config {c}\n  hubup rollback --to 4.0 --config {c}"
    );
    Ok(out)
}

/// The sandbox machine (`machine.json`): IIS run state, services, and the demo's
/// certificates (each site's, and the SQL certificate of Windows authentication), and the
/// installed version in the registry, as the vendor's installer leaves it.
fn write_sandbox_machine(dir: &Path, apphost: &Path, version: Version) -> Result<(), String> {
    let bytes = std::fs::read(apphost).map_err(|e| format!("{}: {e}", apphost.display()))?;
    let hosts = hubup::all_component_hosts();
    let machine = hubup::sandbox_machine(
        &bytes,
        &[
            ("DemoLicenseManagerCert", &hosts),
            ("DemoNotificationCenterCert", &hosts),
            ("BPC_SQL_CERTIFICATE", &[]),
        ],
    )
    .map_err(|e| e.to_string())?;
    let mut machine = machine;
    machine.registry.push(hubup::SandboxValue {
        key: hubup::INSTALLED_VERSION_KEY.to_string(),
        name: hubup::INSTALLED_VERSION_VALUE.to_string(),
        value: version.to_string(),
    });
    hubup::SandboxHost::at(&dir.join("machine.json"))
        .save(&machine)
        .map_err(|e| e.to_string())
}

/// The demo's config: relative paths (the sandbox can be copied), SQL in script mode, and
/// command templates that append what they would run to `commands.log`.
fn demo_config(dir: &Path) -> String {
    let log = dir.join("commands.log");
    let log_cmd = |parts: &[&str]| -> String {
        let mut items = log_prefix(&log);
        items.extend(parts.iter().map(|p| toml_string(p)));
        format!("[{}]", items.join(", "))
    };
    let ok = if cfg!(windows) {
        "[\"cmd.exe\", \"/d\", \"/c\", \"exit 0\"]".to_string()
    } else {
        "[\"sh\", \"-c\", \"exit 0\"]".to_string()
    };
    let missing = if cfg!(windows) {
        "[\"cmd.exe\", \"/d\", \"/c\", \"exit 1\"]".to_string()
    } else {
        "[\"sh\", \"-c\", \"exit 1\"]".to_string()
    };
    format!(
        r#"# hubup demo configuration: a sandbox. Nothing outside this folder is touched: the Windows
# commands below only append what they would run to commands.log.
[install]
root = "install/Blue Prism"
iis_location = '{DEFAULT_IIS_LOCATION}'
apphost = "inetsrv/applicationHost.config"
packages = "packages"
machine = "DEMO-HUB-01"

[journal]
path = "journal/hubup.redb"

[output]
dir = "output"

# Script mode: the T-SQL goes to output/ for a DBA, and each step with database work stops
# before its sites start (exit 7) until `hubup resume` hears the work is done. server names
# the SQL Server in the new databases' connection strings. There is no SQL01 here, so hubup
# never connects (check_dba_work = false): the demo plays the DBA with
# `hubup resume --dba-confirmed`. On a real server, leave check_dba_work out and resume
# reads the server (a login that may read is enough) to check the DBA's work.
[sql]
mode = "script"
server = "SQL01"
auth = "windows"
license_manager_permission = "grant_execute"
check_dba_work = false

[packages]
# The fixture packages are signed by hubup's fixture key, whose secret is public (it is in
# hubup's source): trust it in a sandbox like this one, never on a real server.
trusted_keys = ["{fixture_key}"]

[host]
# The machine outside the install tree (IIS run state, services, SSL bindings, certificates,
# ACLs, registry) is this state file, answering as the Windows tools would.
adapter = "sandbox"
state = "machine.json"

[sites.license_manager]
certificate = "DemoLicenseManagerCert"

[sites.notification_center]
certificate = "DemoNotificationCenterCert"

[commands]
stop_site = {stop_site}
start_site = {start_site}
ssl_binding_add = {ssl_add}
ssl_binding_check = {missing}
ssl_binding_remove = {ssl_remove}
app_pool_identity_set = {identity_set}
app_pool_identity_reset = {identity_reset}
certificate_key_grant = {key_grant}
certificate_key_revoke = {key_revoke}
certificate_check = {ok}
folder_acl_grant = {acl_grant}
folder_acl_revoke = {acl_revoke}
service_restart = {service}
app_pool_recycle = {recycle}
iis_restart = {iisreset}
installed_version_set = {version}
"#,
        stop_site = log_cmd(&["appcmd", "stop", "site", "/site.name:{site}"]),
        start_site = log_cmd(&["appcmd", "start", "site", "/site.name:{site}"]),
        ssl_add = log_cmd(&[
            "netsh",
            "http",
            "add",
            "sslcert",
            "hostnameport={host}:{port}",
            "certhash={certificate}"
        ]),
        ssl_remove = log_cmd(&[
            "netsh",
            "http",
            "delete",
            "sslcert",
            "hostnameport={host}:{port}"
        ]),
        identity_set = log_cmd(&[
            "appcmd",
            "set",
            "apppool",
            "/apppool.name:{app_pool}",
            "/processModel.userName:{identity}"
        ]),
        identity_reset = log_cmd(&[
            "appcmd",
            "set",
            "apppool",
            "/apppool.name:{app_pool}",
            "/processModel.identityType:ApplicationPoolIdentity"
        ]),
        key_grant = log_cmd(&["grant-key-access", "{certificate}", "{identity}"]),
        key_revoke = log_cmd(&["revoke-key-access", "{certificate}", "{identity}"]),
        acl_grant = log_cmd(&["icacls", "{folder}", "/grant", "{identity}:(OI)(CI)F"]),
        acl_revoke = log_cmd(&["icacls", "{folder}", "/remove:g", "{identity}"]),
        service = log_cmd(&["restart-service", "{service}"]),
        recycle = log_cmd(&["appcmd", "recycle", "apppool", "/apppool.name:{app_pool}"]),
        iisreset = log_cmd(&["iisreset", "/restart"]),
        version = log_cmd(&["reg", "add", "Version", "{version}"]),
        fixture_key = fixture_signing_key().public(),
    )
}

/// The start of a logging command: a shell that appends its arguments to `log`.
fn log_prefix(log: &Path) -> Vec<String> {
    let log = log.display().to_string();
    if cfg!(windows) {
        vec![
            toml_string("powershell.exe"),
            toml_string("-NoProfile"),
            toml_string("-Command"),
            toml_string(&format!(
                "Add-Content -Path '{log}' -Value ($args -join ' ')"
            )),
        ]
    } else {
        vec![
            toml_string("sh"),
            toml_string("-c"),
            toml_string(&format!("printf '%s\\n' \"$0 $*\" >> '{log}'")),
        ]
    }
}

fn toml_string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}
