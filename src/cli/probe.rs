//! `hubup probe`: asks each Blue Prism site of the installed version whether it answers, as
//! an administrator does after an upgrade before users come back (the library's `probe.rs`
//! says how: HTTPS at the configured binding, the Authentication Server's discovery document
//! with its issuer, retries while IIS warms up). The sites are asked in parallel. Reads only.

use std::time::Duration;

use clap::Args;
use serde_json::json;

use super::run::{CommonArgs, Phase, with_engine};
use super::{Cause, CommandResult, Failure, Outcome};

#[derive(Args, Debug)]
pub(crate) struct ProbeArgs {
    /// How long each site may take to answer as it must, in seconds [default: the config's
    /// probes.wait_secs, 180].
    #[arg(long, value_name = "SECS")]
    pub wait: Option<u64>,
    /// Probe only this component's site (hub, authentication_server, ...); repeatable.
    #[arg(long = "site", value_name = "COMPONENT")]
    pub sites: Vec<String>,
    #[command(flatten)]
    pub common: CommonArgs,
}

pub(crate) fn run(args: ProbeArgs) -> CommandResult {
    let results = with_engine(&args.common, "probe", Phase::Read, None, |engine| {
        let config = engine.config();
        let version = hubup::detect(&config.install.root)
            .map_err(|e| Failure::of(Cause::Argument(e.to_string())))?
            .version;
        let mut targets = hubup::probe_targets(config, version);
        if !args.sites.is_empty() {
            let known: Vec<&str> = hubup::COMPONENTS.iter().map(|c| c.key).collect();
            if let Some(bad) = args.sites.iter().find(|s| !known.contains(&s.as_str())) {
                return Err(Failure::of(Cause::Argument(format!(
                    "--site {bad:?}: not a component of {version}; known: {}",
                    known.join(", ")
                ))));
            }
            targets.retain(|t| {
                args.sites
                    .iter()
                    .any(|s| hubup::component_info(t.component).key == s.as_str())
            });
        }
        let wait = Duration::from_secs(args.wait.unwrap_or(config.probes.wait_secs).max(1));
        let ca_file = config.probes.ca_file.as_deref();
        Ok(hubup::probe_all(&targets, ca_file, wait))
    })?;
    let unhealthy = results.iter().filter(|r| !r.healthy).count();
    let message = (unhealthy > 0).then(|| {
        format!(
            "{unhealthy} of {} site(s) do not answer as they must; look at the site's \
             application pool and its logs, then probe again",
            results.len()
        )
    });
    if args.common.json {
        outln!(
            "{}",
            json!({ "ok": unhealthy == 0, "probes": results, "message": message })
        );
    } else {
        for r in &results {
            outln!("{}", r.line());
        }
        if let Some(message) = &message {
            errln!("hubup: {message}");
        }
    }
    Ok(super::exit::code(Outcome::Probed {
        healthy: unhealthy == 0,
    }))
}
