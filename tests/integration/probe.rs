//! Issue 15: `hubup probe` asks every Blue Prism site of the installed version over HTTPS at
//! its configured binding (host name as SNI and Host header, connecting to `[probes]
//! address`), against real local HTTPS servers: healthy, a 500, a wrong issuer, slow to
//! start (healthy after retries), an untrusted certificate and a refused connection, each
//! with its outcome and exit code.

use std::collections::HashMap;
use std::fs;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use crate::support::Scenario;
use crate::support::tls_server::TlsServer;

/// How a test's sites answer, by host: the status and body each request gets; `slow` hosts
/// answer 503 that many times first.
#[derive(Default)]
struct Answers {
    status: HashMap<String, u16>,
    issuer: Option<String>,
    slow: HashMap<String, u32>,
}

fn sites_server(answers: Arc<Mutex<Answers>>) -> TlsServer {
    let hosts = hubup::all_component_hosts();
    TlsServer::https(&hosts, move |host, path| {
        let host = host.split(':').next().unwrap_or(host).to_string();
        let mut answers = answers.lock().unwrap();
        if let Some(left) = answers.slow.get_mut(&host)
            && *left > 0
        {
            *left -= 1;
            return (503, "warming up".into());
        }
        if path == hubup::DISCOVERY_PATH {
            let issuer = answers.issuer.clone().unwrap_or_default();
            return (
                200,
                format!("{{\"issuer\":\"{issuer}\",\"jwks_uri\":\"{issuer}/jwks\"}}"),
            );
        }
        (
            answers.status.get(&host).copied().unwrap_or(200),
            "{}".into(),
        )
    })
}

/// The sandbox's config with every site bound to `port`, probed at 127.0.0.1 and trusting
/// `ca` (when given).
fn configure(scenario: &Scenario, port: u16, ca: Option<&str>) {
    let mut config = fs::read_to_string(scenario.config()).unwrap();
    for info in hubup::COMPONENTS.iter() {
        let header = format!("[sites.{}]\n", info.key);
        if config.contains(&header) {
            config = config.replacen(&header, &format!("{header}port = {port}\n"), 1);
        } else {
            config.push_str(&format!("\n{header}port = {port}\n"));
        }
    }
    config.push_str("\n[probes]\naddress = \"127.0.0.1\"\nwait_secs = 2\n");
    if let Some(ca) = ca {
        fs::write(scenario.path().join("sites-ca.pem"), ca).unwrap();
        config.push_str("ca_file = \"sites-ca.pem\"\n");
    }
    fs::write(scenario.config(), config).unwrap();
}

#[test]
fn every_site_is_probed_and_each_kind_of_unhealthy_is_named() {
    let answers = Arc::new(Mutex::new(Answers::default()));
    let server = sites_server(answers.clone());
    let port = server.port();
    answers.lock().unwrap().issuer = Some(format!("https://ims.local:{port}"));
    let scenario = Scenario::new();
    configure(&scenario, port, Some(server.ca_pem()));

    let healthy = scenario.run(&["probe"]).expect(0);
    assert_eq!(
        healthy.stdout.matches("[ ok ]").count(),
        9,
        "{}",
        healthy.stdout
    );
    assert!(
        healthy.stdout.contains(&format!(
            "[ ok ] Blue Prism - IMS https://ims.local:{port}/.well-known/openid-configuration: \
             HTTP 200, issuer https://ims.local:{port}"
        )),
        "{}",
        healthy.stdout
    );
    let json = scenario.run(&["probe", "--json"]).expect(0).json();
    assert_eq!(json["ok"], true);

    {
        let mut a = answers.lock().unwrap();
        a.status.insert("hub.local".into(), 500);
        a.issuer = Some("https://someone-else.local".into());
        a.slow.insert("interact.local".into(), 2);
    }
    let run = scenario.run(&["probe", "--wait", "10"]).expect(9);
    assert!(
        run.stdout.contains(&format!(
            "[FAIL] Blue Prism - Hub https://hub.local:{port}/: HTTP 500"
        )),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!(
            "but the issuer is https://someone-else.local, not https://ims.local:{port}"
        )),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains(&format!(
            "[ ok ] Blue Prism - Interact https://interact.local:{port}/: HTTP 200 (3 attempts"
        )),
        "slow to start, healthy after retries: {}",
        run.stdout
    );
    assert!(
        run.stderr.contains("2 of 9 site(s) do not answer"),
        "{}",
        run.stderr
    );
    let json = scenario
        .run(&["probe", "--json", "--site", "hub"])
        .expect(9)
        .json();
    assert_eq!(json["ok"], false);
    assert_eq!(json["probes"].as_array().unwrap().len(), 1, "{json}");
}

#[test]
fn an_untrusted_certificate_or_a_refused_connection_is_unhealthy() {
    let answers = Arc::new(Mutex::new(Answers::default()));
    let server = sites_server(answers);
    let scenario = Scenario::new();
    // No CA file: the sites' certificate is issued by a CA nobody trusts.
    configure(&scenario, server.port(), None);
    let untrusted = scenario.run(&["probe", "--site", "hub"]).expect(9);
    assert!(
        untrusted.stdout.contains("[FAIL] Blue Prism - Hub"),
        "{}",
        untrusted.stdout
    );
    assert!(
        untrusted.stdout.to_lowercase().contains("certificate"),
        "{}",
        untrusted.stdout
    );

    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let other = Scenario::new();
    configure(&other, closed, Some(server.ca_pem()));
    let refused = other.run(&["probe", "--site", "hub"]).expect(9);
    assert!(
        refused
            .stdout
            .contains(&format!("no answer from 127.0.0.1:{closed}")),
        "{}",
        refused.stdout
    );
}

/// `[probes] after_steps`: the sites are probed after a step's restarts and before its
/// commit, the results journaled; an unhealthy site rolls the step back (exit 3, the install
/// as it was); a crash between the probe and the commit is resumed by probing again.
#[test]
fn after_steps_an_unhealthy_site_rolls_the_step_back_and_a_resume_probes_again() {
    let answers = Arc::new(Mutex::new(Answers::default()));
    let server = sites_server(answers.clone());
    let port = server.port();
    answers.lock().unwrap().issuer = Some(format!("https://ims.local:{port}"));
    let probed = |scenario: &Scenario| {
        configure(scenario, port, Some(server.ca_pem()));
        let mut config = fs::read_to_string(scenario.config()).unwrap();
        config = config.replacen("[probes]\n", "[probes]\nafter_steps = true\n", 1);
        fs::write(scenario.config(), config).unwrap();
    };
    let notes = |scenario: &Scenario| -> Vec<String> {
        scenario
            .notes()
            .into_iter()
            .filter(|t| t.starts_with("sites probed before the commit"))
            .collect()
    };

    let healthy = Scenario::new();
    probed(&healthy);
    healthy.run(&["upgrade", "--to", "4.1"]).expect(0);
    let journaled = notes(&healthy);
    assert_eq!(journaled.len(), 1, "{journaled:?}");
    assert!(
        journaled[0].contains("[ ok ] Blue Prism - Hub"),
        "{journaled:?}"
    );

    let crashed = Scenario::new();
    probed(&crashed);
    let run = crashed.run_with_env(
        &["upgrade", "--to", "4.1"],
        &[("HUBUP_TEST_FAULTS", "crash-before-entry=step_committed")],
    );
    assert!(run.stderr.contains("simulated crash"), "{}", run.stderr);
    crashed.wait_for_journal();
    crashed.run(&["resume"]).expect(0);
    assert_eq!(crashed.digests().0, "4.1");
    assert_eq!(notes(&crashed).len(), 2, "probed again on resume");

    answers
        .lock()
        .unwrap()
        .status
        .insert("hub.local".into(), 500);
    let unhealthy = Scenario::new();
    probed(&unhealthy);
    let before = unhealthy.digests();
    let run = unhealthy.run(&["upgrade", "--to", "4.1"]).expect(3);
    assert!(
        run.stderr.contains(&format!(
            "the site Blue Prism - Hub does not answer as it must at https://hub.local:{port}/: \
             HTTP 500"
        )),
        "{}",
        run.stderr
    );
    assert_eq!(unhealthy.digests(), before, "rolled back");
    assert!(notes(&unhealthy)[0].contains("[FAIL] Blue Prism - Hub"));
}
