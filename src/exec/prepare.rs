//! Everything before the first change: detect the installed version, verify every package of
//! the chain in full, plan every step (each on the model the previous one leaves, so local
//! changes anywhere in the chain are found up front), and check the prerequisites.

use std::path::PathBuf;

use crate::catalog::{self, Prerequisite};
use crate::exec::commands;
use crate::exec::{Engine, PlannedStep};
use crate::install::{self, DetectError};
use crate::model::is_settings_file;
use crate::model::{InstallModel, ObserveError};
use crate::op::{Op, SqlOp};
use crate::package::{Package, PackageError};
use crate::plan::{
    PlanError, PlanInputs, ShippedSettings, app_values, existing_databases, plan_step, render,
};
use crate::version::{RangeError, Step, Version, steps_between};

/// A run that is planned and ready to execute.
pub struct PreparedRun {
    pub from: Version,
    pub to: Version,
    /// The install as observed before the first step.
    pub model: InstallModel,
    pub steps: Vec<PlannedStep>,
}

/// Why a run could not be prepared. Nothing has changed.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error(transparent)]
    Detect(#[from] DetectError),
    #[error(transparent)]
    Range(#[from] RangeError),
    #[error(transparent)]
    Observe(#[from] ObserveError),
    /// Every step's package that is not in the packages folder (all of them, not the first).
    #[error("{}", missing_packages_message(.missing))]
    PackageMissing { missing: Vec<(Step, PathBuf)> },
    #[error(transparent)]
    Package(#[from] PackageError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Scan(#[from] crate::install::ScanError),
    /// The machine's certificates could not be listed (nothing was changed).
    #[error("reading the machine's certificates: {0}")]
    Host(crate::host::HostError),
    #[error(
        "the package {path} changed since the step was planned (journaled {expected}, now \
         {found}); put the original package back, or run `hubup rollback`"
    )]
    PackageChanged {
        path: PathBuf,
        expected: crate::digest::Digest,
        found: crate::digest::Digest,
    },
}

/// What a step's missing package is, and what to do: one line per package.
pub fn missing_package_detail(step: Step, path: &std::path::Path) -> String {
    format!(
        "the package for step {step} is missing: expected {}; put {} in the packages folder \
         (install.packages in the config)",
        path.display(),
        step.to.package_file_name()
    )
}

fn missing_packages_message(missing: &[(Step, PathBuf)]) -> String {
    let lines: Vec<String> = missing
        .iter()
        .map(|(step, path)| missing_package_detail(*step, path))
        .collect();
    lines.join("; ")
}

/// How one prerequisite came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Met.
    Ok,
    /// Reported, but it does not stop the run.
    Warning,
    /// Not met: the run does not start.
    Failed,
}

/// One prerequisite's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub what: String,
    pub verdict: Verdict,
    pub detail: String,
}

impl Finding {
    pub fn ok(what: impl Into<String>, detail: impl Into<String>) -> Finding {
        Finding::new(what, Verdict::Ok, detail)
    }

    pub fn warning(what: impl Into<String>, detail: impl Into<String>) -> Finding {
        Finding::new(what, Verdict::Warning, detail)
    }

    pub fn failed(what: impl Into<String>, detail: impl Into<String>) -> Finding {
        Finding::new(what, Verdict::Failed, detail)
    }

    fn new(what: impl Into<String>, verdict: Verdict, detail: impl Into<String>) -> Finding {
        Finding {
            what: what.into(),
            verdict,
            detail: detail.into(),
        }
    }

    pub fn is_failed(&self) -> bool {
        self.verdict == Verdict::Failed
    }
}

/// `hubup check --json` shows a finding as `{what, ok, warning, detail}` (`ok` is false only
/// for a failed one; a warning is `ok` and `warning`): the shape it has always had.
impl serde::Serialize for Finding {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct Shown<'a> {
            what: &'a str,
            ok: bool,
            warning: bool,
            detail: &'a str,
        }
        Shown {
            what: &self.what,
            ok: self.verdict != Verdict::Failed,
            warning: self.verdict == Verdict::Warning,
            detail: &self.detail,
        }
        .serialize(serializer)
    }
}

/// Every prerequisite of a run, checked.
#[derive(Clone, Debug, serde::Serialize)]
pub struct PrerequisiteReport {
    pub findings: Vec<Finding>,
}

impl PrerequisiteReport {
    pub fn all_ok(&self) -> bool {
        !self.findings.iter().any(Finding::is_failed)
    }
}

pub(super) fn prepare(
    engine: &mut Engine<'_>,
    request: &super::UpgradeRequest,
) -> Result<PreparedRun, PrepareError> {
    let config = engine.config;
    let root = &config.install.root;
    let detected = install::detect(root)?;
    let from = detected.version;
    let steps = steps_between(from, request.to)?;
    let start = InstallModel::observe(root, &config.install.apphost, from)?;
    let packages = open_packages(config, &steps)?;
    let mut model = start.clone();
    let mut planned = Vec::new();
    // The machine's certificates, only when a step has something to resolve against them.
    let needs_certificates = steps
        .iter()
        .any(|s| !crate::catalog::step_spec(*s).new_sites.is_empty());
    let certificates = if needs_certificates {
        engine.host.certificates().map_err(PrepareError::Host)?
    } else {
        Vec::new()
    };
    let services = installed_services(engine)?;
    for package in packages {
        let inputs = PlanInputs {
            config,
            databases: &engine.databases,
            local_changes: request.local_changes,
            // One backup of each database, before the run's first change.
            backups: request.backups.as_ref().filter(|_| planned.is_empty()),
            secrets: &engine.secrets,
            certificates: &certificates,
            now_ms: crate::journal::now_ms(),
            services: &services,
            enable_quorum_queue: request.enable_quorum_queue,
        };
        let shipped = shipped_settings(&package)?;
        let (plan, after) = plan_step(&model, package.manifest(), &shipped, &inputs)?;
        model = after.clone();
        planned.push(PlannedStep {
            plan,
            package,
            after,
        });
    }
    Ok(PreparedRun {
        from,
        to: request.to,
        model: start,
        steps: planned,
    })
}

/// The Blue Prism services the machine has: the steps stop and start these (asking the host
/// reads only).
fn installed_services(engine: &mut Engine<'_>) -> Result<Vec<String>, PrepareError> {
    let mut found = Vec::new();
    for name in crate::components::BLUE_PRISM_SERVICES {
        if engine
            .host
            .service_installed(name)
            .map_err(PrepareError::Host)?
        {
            found.push(name.to_string());
        }
    }
    Ok(found)
}

/// Opens (verifies in full) the package of every step, two at a time: verification inflates
/// and hashes every payload byte, and the packages are independent.
fn open_packages(
    config: &crate::config::Config,
    steps: &[Step],
) -> Result<Vec<Package>, PrepareError> {
    let missing: Vec<(Step, PathBuf)> = steps
        .iter()
        .map(|step| (*step, config.package_path(step.to)))
        .filter(|(_, path)| !path.is_file())
        .collect();
    if !missing.is_empty() {
        return Err(PrepareError::PackageMissing { missing });
    }
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 4);
    let mut results: Vec<Option<Result<Package, PackageError>>> =
        steps.iter().map(|_| None).collect();
    for (chunk_steps, chunk_results) in steps.chunks(workers).zip(results.chunks_mut(workers)) {
        std::thread::scope(|scope| {
            let handles: Vec<_> = chunk_steps
                .iter()
                .map(|step| {
                    scope.spawn(move || Package::open(&config.package_path(step.to), *step))
                })
                .collect();
            for (slot, handle) in chunk_results.iter_mut().zip(handles) {
                *slot = handle.join().ok();
            }
        });
    }
    let packages: Vec<Package> = results
        .into_iter()
        .map(|r| {
            r.expect("every package was opened")
                .map_err(PrepareError::from)
        })
        .collect::<Result<_, _>>()?;
    for package in &packages {
        config.packages.accept(package.path(), package.signer())?;
    }
    Ok(packages)
}

/// The settings files the package ships whole, read so that later steps can plan merges into
/// them. They are small (a settings file is at most a few KiB).
fn shipped_settings(package: &Package) -> Result<ShippedSettings, PrepareError> {
    let mut out = ShippedSettings::new();
    for file in &package.manifest().files {
        if is_settings_file(&file.path) {
            let mut bytes = Vec::new();
            package.copy_file_to(file, &mut bytes)?;
            out.insert(file.path.clone(), bytes);
        }
    }
    Ok(out)
}

/// The vendor's free-space figure (2.5 GB): hubup's hard-linked backups need far less, so
/// falling short of it is a warning; falling short of what hubup will write is a failure.
pub(super) fn check_prerequisites(
    engine: &mut Engine<'_>,
    prepared: &PreparedRun,
) -> PrerequisiteReport {
    let mut findings = Vec::new();
    let config = engine.config;
    let root = &config.install.root;

    findings.push(access_finding(config));
    findings.extend(signature_findings(config, prepared));

    for planned in &prepared.steps {
        let step = planned.plan.step;
        let backup = root.join(step.from.backup_folder_name());
        findings.push(if backup.exists() {
            Finding::failed(
                format!("{step}: backup folder"),
                format!(
                    "{} already exists (a backup from an earlier upgrade); the guide asks to \
                     remove backups of previous upgrades: move it out of the install location",
                    backup.display()
                ),
            )
        } else {
            Finding::ok(
                format!("{step}: backup folder"),
                format!("{} is free", backup.display()),
            )
        });
    }

    findings.push(disk_finding(engine, prepared));
    findings.push(logged_out_finding(engine, prepared.from));

    for planned in &prepared.steps {
        let step = planned.plan.step;
        for prerequisite in catalog::step_spec(step).prerequisites {
            match prerequisite {
                Prerequisite::AspNetCoreRuntime { version } => {
                    findings.push(runtime_finding(engine, step, version));
                }
                Prerequisite::SiteCertificates => {
                    for component in catalog::step_spec(step).new_sites {
                        let site = config.site(*component);
                        if let Some(certificate) = &site.certificate {
                            findings.push(certificate_finding(
                                engine,
                                format!("{step}: certificate of {}", site.name),
                                certificate,
                            ));
                        }
                    }
                }
                Prerequisite::QuorumQueues => {
                    findings.push(quorum_queue_finding(engine, step, planned))
                }
                Prerequisite::DnsRecords => findings.push(dns_finding(engine, step)),
                Prerequisite::FreeDisk { .. } | Prerequisite::DatabaseCreator => {}
            }
        }
        if step.to == Version::V4_5
            && let Some(decision) = &config.optional.decision
        {
            findings.push(certificate_finding(
                engine,
                format!("{step}: Decision model service certificate"),
                &decision.certificate,
            ));
            findings.push(decision_tls_finding(engine, step, decision));
        }
    }

    let sql_ops: Vec<SqlOp> = prepared
        .steps
        .iter()
        .flat_map(|p| p.plan.ops.iter())
        .filter_map(|op| match op {
            Op::Sql(s) => Some(s.clone()),
            _ => None,
        })
        .collect();
    if !sql_ops.is_empty() {
        findings.push(match engine.sql.preflight(&sql_ops) {
            Ok(()) => Finding::ok("SQL Server", sql_ready_text(engine)),
            Err(e) => Finding::failed("SQL Server", e.to_string()),
        });
    }
    findings.extend(settings_secrets_finding(engine, prepared));
    findings.extend(database_backup_finding(engine, prepared));
    PrerequisiteReport { findings }
}

/// The guide recommends backing up the databases before upgrading: without
/// `--backup-databases`, a warning naming each database the install has.
fn database_backup_finding(engine: &Engine<'_>, prepared: &PreparedRun) -> Option<Finding> {
    let first = prepared.steps.first()?;
    let asked = first
        .plan
        .ops
        .iter()
        .any(|op| matches!(op, Op::Sql(SqlOp::BackupDatabase { .. })));
    let names = existing_databases(&prepared.model, &engine.databases);
    if asked || names.is_empty() {
        return None;
    }
    Some(Finding::warning(
        "database backups",
        format!(
            "the guide recommends backing up the databases before upgrading: back up {} \
             (or pass --backup-databases DIR, a folder on the SQL Server machine, and hubup \
             takes COPY_ONLY backups of them before its first change)",
            names.join(", ")
        ),
    ))
}

/// Whether every secret the settings merges write (the applications' SQL password in new
/// connection strings) can be read; none is needed with Windows authentication.
fn settings_secrets_finding(engine: &Engine<'_>, prepared: &PreparedRun) -> Option<Finding> {
    let what = "application connection strings";
    let mut needed = false;
    for planned in &prepared.steps {
        for op in &planned.plan.ops {
            let Op::EditSettings(edit) = op else { continue };
            if !edit.changes.iter().any(app_values::holds_secret) {
                continue;
            }
            needed = true;
            if let Err(missing) = app_values::resolve_secrets(&edit.changes, &engine.secrets) {
                return Some(Finding::failed(what, format!("{}: {missing}", edit.path)));
            }
        }
    }
    needed.then(|| {
        Finding::ok(
            what,
            "the applications' SQL password is set for the new connection strings",
        )
    })
}

/// Whether anyone but administrators can change the files that steer hubup (`upgrade`
/// refuses to start then; `check` says so here too).
fn access_finding(config: &crate::config::Config) -> Finding {
    let report = crate::config::check_config_paths(config);
    if report.is_clean() {
        Finding::ok(
            "who can change hubup's files",
            "only administrators: the config, journal, packages and output folders and the \
             folders above them",
        )
    } else {
        let list: Vec<String> = report.problems.iter().map(|p| p.to_string()).collect();
        Finding::failed("who can change hubup's files", list.join("\n    "))
    }
}

/// Who signed each package, and the warnings an administrator should see: unsigned packages
/// accepted by `allow_unsigned`, and a trusted fixture key (whose secret is public).
fn signature_findings(config: &crate::config::Config, prepared: &PreparedRun) -> Vec<Finding> {
    let mut out = Vec::new();
    for planned in &prepared.steps {
        let what = format!("{}: package signature", planned.plan.step);
        out.push(match planned.package.signer() {
            Some(signer) => Finding::ok(what, format!("signed by {signer}, a trusted key")),
            None => Finding::warning(
                what,
                "unsigned; accepted only because the config says [packages] allow_unsigned = true",
            ),
        });
    }
    // The fixture generator's key, whose secret is public.
    let fixture = crate::package::fixture_signing_key().public();
    if config.packages.trusted_keys.contains(&fixture) {
        out.push(Finding::warning(
            "trusted package keys",
            format!(
                "[packages] trusted_keys holds the fixture key {fixture}, whose secret is in \
                 hubup's source: anyone can sign packages with it. Trust it in sandboxes only"
            ),
        ));
    }
    out
}

/// What a passed SQL preflight checked, which depends on the mode.
fn sql_ready_text(engine: &Engine<'_>) -> String {
    match engine.config.sql.mode {
        crate::sql::SqlMode::Execute => "connection and permissions checked".to_string(),
        crate::sql::SqlMode::Preprovisioned => {
            "connection checked; every database, user and grant the chain needs is there"
                .to_string()
        }
        crate::sql::SqlMode::Script => format!(
            "script mode: no connection; the T-SQL for a DBA goes to {}",
            engine.config.output_dir().display()
        ),
    }
}

/// The broker's `quorum_queue` feature flag, asked of its management API. Without a
/// configured API the check cannot run: a warning that says how to check by hand.
/// The broker's `quorum_queue` before the step from 4.1: enabled, or enabled by the step's
/// own op (`--enable-quorum-queue`), or a failure with the guide's fix.
fn quorum_queue_finding(engine: &Engine<'_>, step: Step, planned: &PlannedStep) -> Finding {
    const FIX: &str = "on the message broker run `rabbitmqctl enable_feature_flag quorum_queue` \
                       (after the upgrade, restart the application pools), or give \
                       --enable-quorum-queue to have hubup enable it in this step (journaled)";
    let what = format!("{step}: RabbitMQ quorum_queue feature flag");
    let enabling = planned
        .plan
        .ops
        .iter()
        .position(|op| matches!(op, crate::op::Op::Broker(b) if b.flag == "quorum_queue"));
    match engine
        .config
        .rabbitmq
        .quorum_queues_enabled(std::time::Duration::from_secs(10))
    {
        Ok(Some(true)) => Finding::ok(what, "enabled"),
        Ok(Some(false)) if enabling.is_some() => Finding::ok(
            what,
            format!(
                "disabled now; op {} of this step enables it through the management API \
                 (--enable-quorum-queue), before Hub's sites start",
                enabling.unwrap_or_default()
            ),
        ),
        Ok(Some(false)) => Finding::failed(
            what,
            format!("disabled: Hub's new queues would not be created after this step; {FIX}"),
        ),
        Ok(None) => Finding::warning(
            what,
            format!(
                "not checked (set [rabbitmq] management_url, user and password_env to have \
                 hubup check it); it must be enabled: {FIX}"
            ),
        ),
        Err(e) => Finding::failed(what, e.to_string()),
    }
}

fn disk_finding(engine: &Engine<'_>, prepared: &PreparedRun) -> Finding {
    const VENDOR_FREE_SPACE: u64 = 2_500_000_000;
    let root = &engine.config.install.root;
    let writes: u64 = prepared.steps.iter().map(|p| p.plan.bytes_to_write).sum();
    let need = writes + writes / 10 + 64 * 1024 * 1024;
    let available = match engine.faults.free_space() {
        Some(bytes) => Ok(bytes),
        None => fs4::available_space(root),
    };
    let available = match available {
        Ok(bytes) => bytes,
        Err(e) => {
            return Finding::failed(
                "disk space",
                format!("cannot read the free space of {}: {e}", root.display()),
            );
        }
    };
    let mb = |b: u64| b / (1024 * 1024);
    if available < need {
        return Finding::failed(
            "disk space",
            format!(
                "{} MiB free on the install's disk, but the upgrade writes {} MiB (with margin): \
                 free at least {} MiB and try again",
                mb(available),
                mb(need),
                mb(need - available)
            ),
        );
    }
    if available < VENDOR_FREE_SPACE {
        return Finding::warning(
            "disk space",
            format!(
                "{} MiB free: enough for hubup ({} MiB), though the vendor asks for 2.5 GB",
                mb(available),
                mb(need)
            ),
        );
    }
    Finding::ok(
        "disk space",
        format!("{} MiB free, {} MiB needed", mb(available), mb(need)),
    )
}

/// The guide's "Everyone is logged out of the IMS Server" (Authentication Server from 4.3),
/// which every step lists: checked once, before the run's first step, with IIS's count of the
/// site's current connections. A warning, or a failure with `--require-logged-out`.
fn logged_out_finding(engine: &mut Engine<'_>, from: Version) -> Finding {
    let site =
        crate::components::info(crate::components::Component::AuthenticationServer).site_name(from);
    let what = format!("everyone logged out of {site}");
    let verdict = if engine.require_logged_out {
        Verdict::Failed
    } else {
        Verdict::Warning
    };
    let strict = if engine.require_logged_out {
        ""
    } else {
        " (--require-logged-out makes this a failure)"
    };
    match engine.host.site_connections(site) {
        Ok(0) => Finding::ok(what, "no current connections (IIS's Current Connections)"),
        Ok(n) => Finding::new(
            what,
            verdict,
            format!(
                "{n} current connection{} (IIS's Current Connections): ask everyone to log out \
                 of Hub and Interact and close their browsers before the upgrade (the \
                 guide){strict}",
                if n == 1 { "" } else { "s" }
            ),
        ),
        Err(e) => Finding::new(
            what,
            verdict,
            format!(
                "cannot count the site's connections ({e}): make sure everyone is logged out \
                 before the upgrade (the guide){strict}"
            ),
        ),
    }
}

/// The guide's DNS records for License Manager and Notification Center (4.2): their host
/// names resolve from here. A warning: not required on a single machine, where the hosts
/// file may name them.
fn dns_finding(engine: &mut Engine<'_>, step: Step) -> Finding {
    let config = engine.config;
    let what = format!("{step}: DNS records for the new sites");
    let mut resolved = Vec::new();
    let mut unresolved = Vec::new();
    for component in catalog::step_spec(step).new_sites {
        let host = config.site(*component).host;
        match engine.host.resolve(&host) {
            Ok(addresses) => resolved.push(format!("{host} -> {}", addresses.join(", "))),
            Err(e) => unresolved.push(format!("{host} ({e})")),
        }
    }
    if unresolved.is_empty() {
        return Finding::ok(what, resolved.join("; "));
    }
    let machines = if config.install.machines.is_empty() {
        "not required on a single machine (the guide; [install] machines names no other), but \
         the sites' URLs must resolve wherever Hub and the browsers use them"
            .to_string()
    } else {
        format!(
            "the other machines ({}) reach the new sites by these names",
            config.install.machines.join(", ")
        )
    };
    Finding::warning(
        what,
        format!(
            "{} do{} not resolve: create DNS records for them before this step; {machines}",
            unresolved.join(", "),
            if unresolved.len() == 1 { "es" } else { "" }
        ),
    )
}

/// The guide's "the FQDN must match the certificate" for Decision's model service: it
/// answers TLS at its URL with a certificate valid for its FQDN. A warning: the upgrade only
/// writes the URL into Hub's settings, and the service may come up after it, but Hub's
/// Decision plugin cannot reach it until it does.
fn decision_tls_finding(
    engine: &mut Engine<'_>,
    step: Step,
    decision: &crate::config::DecisionConfig,
) -> Finding {
    let what = format!("{step}: Decision model service TLS");
    let (host, port) = decision.host_and_port();
    let addresses = match engine.host.resolve(&host) {
        Ok(addresses) => addresses,
        Err(e) => {
            return Finding::warning(
                what,
                format!("{host} does not resolve ({e}): Hub cannot reach the model service"),
            );
        }
    };
    let target = crate::tls_probe::TlsTarget {
        host: &host,
        port,
        addresses: &addresses,
        ca_file: decision.ca_file.as_deref(),
        timeout: std::time::Duration::from_secs(10),
    };
    match crate::tls_probe::check_tls(&target) {
        Ok(answer) => Finding::ok(
            what,
            format!(
                "{} answers TLS at {} with a certificate valid for {host}",
                decision.model_service_url, answer.address
            ),
        ),
        Err(problem) => Finding::warning(
            what,
            format!(
                "{problem}; Hub's Decision plugin cannot use the model service until it does \
                 (optional.decision.ca_file trusts a private CA)"
            ),
        ),
    }
}

/// The guide's ".NET Core 3.1.11 or later" (4.4): the Hosting Bundle's ASP.NET Core Runtime
/// and IIS module, and the Windows Desktop Runtime, each a release on `version`'s line at or
/// after it.
fn runtime_finding(engine: &mut Engine<'_>, step: Step, version: &str) -> Finding {
    let what =
        format!("{step}: .NET Core {version} or later (Hosting Bundle, Windows Desktop Runtime)");
    let found = match engine.host.runtimes() {
        Ok(found) => found,
        Err(e) => return Finding::failed(what, format!("cannot list the .NET runtimes: {e}")),
    };
    let missing = found.missing(version);
    if missing.is_empty() {
        let newest = |framework| found.satisfying(framework, version).unwrap_or("?");
        return Finding::ok(
            what,
            format!(
                "ASP.NET Core Runtime {}, Windows Desktop Runtime {}, ASP.NET Core Module V2",
                newest(crate::host::ASPNETCORE_RUNTIME),
                newest(crate::host::WINDOWS_DESKTOP_RUNTIME)
            ),
        );
    }
    let missing: Vec<String> = missing.iter().map(ToString::to_string).collect();
    Finding::failed(
        what,
        format!(
            "missing {}: install the .NET Core 3.1 Windows Server Hosting Bundle ({version} or a \
             later 3.1 release; it brings the ASP.NET Core Runtime and the IIS module) and the \
             Windows Desktop Runtime 3.1 first (the guide: start-process \
             \"C:\\temp\\dotnet-hosting-{version}-win.exe\" /q -wait, then \
             windowsdesktop-runtime-{version}-win-x64.exe)",
            missing.join(", ")
        ),
    )
}

fn certificate_finding(engine: &Engine<'_>, what: String, certificate: &str) -> Finding {
    let line = render(
        &engine.config.commands.certificate_check,
        &[("certificate", certificate)],
    );
    match commands::check(&line) {
        Ok(true) => Finding::ok(what, format!("{certificate:?} found")),
        Ok(false) => Finding::failed(
            what,
            format!(
                "certificate {certificate:?} is not in the machine's Personal store \
                 (LocalMachine\\My); import it first, or fix the name in the config"
            ),
        ),
        Err(e) => Finding::failed(what, e.to_string()),
    }
}
