//! The quorum-queue prerequisite against a real RabbitMQ 3.10 broker (`tests/support/rabbit.rs`
//! starts a private one): a broker with the `quorum_queue` feature flag off stops the upgrade
//! from 4.1 before any change, with the guide's fix; a refused management login and an
//! unreachable broker are named; once the flag is on, the upgrade goes through. Unix only:
//! the Windows test run has no broker.
#![cfg(unix)]

use std::fs;

use crate::support::Scenario;
use crate::support::rabbit::{self, Broker};

const PASSWORD_VAR: &str = "HUBUP_TEST_RABBITMQ_PASSWORD";

fn with_broker(scenario: &Scenario, url: &str) {
    let mut config = fs::read_to_string(scenario.config()).unwrap();
    config.push_str(&format!(
        "\n[rabbitmq]\nmanagement_url = \"{url}\"\nuser = \"{}\"\npassword_env = \"{PASSWORD_VAR}\"\n",
        rabbit::USER
    ));
    fs::write(scenario.config(), config).unwrap();
}

#[test]
fn the_quorum_queue_flag_is_checked_before_the_upgrade_from_4_1() {
    let broker = Broker::start(false);
    let scenario = Scenario::at_version("4.1");
    with_broker(&scenario, &broker.url());
    let env = [(PASSWORD_VAR, rabbit::PASSWORD)];
    let before = scenario.digests();

    let check = scenario.run_with_env(&["check", "--to", "4.2"], &env);
    assert_eq!(check.code, 2, "{}", check.stdout);
    assert!(
        check
            .stdout
            .contains("[FAIL] 4.1 -> 4.2: RabbitMQ quorum_queue feature flag: disabled")
            && check
                .stdout
                .contains("rabbitmqctl enable_feature_flag quorum_queue"),
        "{}",
        check.stdout
    );
    let upgrade = scenario.run_with_env(&["upgrade", "--to", "4.5"], &env);
    assert_eq!(upgrade.code, 2, "{}", upgrade.stderr);
    assert!(
        upgrade.stderr.contains("quorum_queue"),
        "{}",
        upgrade.stderr
    );
    assert_eq!(scenario.digests(), before, "nothing changed");

    // A wrong password is named as such, without the password.
    let wrong = "not-the-Passw0rd";
    let refused = scenario.run_with_env(&["check", "--to", "4.2"], &[(PASSWORD_VAR, wrong)]);
    assert_eq!(refused.code, 2);
    assert!(
        refused.stdout.contains("refused the user guest (HTTP 401)")
            && refused.stdout.contains(PASSWORD_VAR),
        "{}",
        refused.stdout
    );
    assert!(!refused.stdout.contains(wrong) && !refused.stderr.contains(wrong));

    broker.enable_quorum_queue();
    let check = scenario
        .run_with_env(&["check", "--to", "4.5"], &env)
        .expect(0);
    assert!(
        check
            .stdout
            .contains("[ ok ] 4.1 -> 4.2: RabbitMQ quorum_queue feature flag: enabled"),
        "{}",
        check.stdout
    );
    scenario
        .run_with_env_playing_dba(&["upgrade", "--to", "4.5"], &env)
        .expect(0);
    assert_eq!(scenario.digests().0, "4.5");
}

#[test]
fn an_unreachable_broker_or_no_broker_config_is_reported() {
    let scenario = Scenario::at_version("4.1");
    // Without [rabbitmq], the check cannot run: a warning that says what to do.
    let check = scenario.run(&["check", "--to", "4.2"]).expect(0);
    assert!(
        check
            .stdout
            .contains("[warn] 4.1 -> 4.2: RabbitMQ quorum_queue feature flag: not checked"),
        "{}",
        check.stdout
    );
    // A closed port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    with_broker(&scenario, &format!("http://127.0.0.1:{port}"));
    let env = [(PASSWORD_VAR, "whatever")];
    let check = scenario.run_with_env(&["check", "--to", "4.2"], &env);
    assert_eq!(check.code, 2);
    assert!(
        check
            .stdout
            .contains("cannot reach the RabbitMQ management API"),
        "{}",
        check.stdout
    );
    // The step from 4.0 does not need the flag.
    let older = Scenario::new();
    let check = older.run(&["check", "--to", "4.1"]).expect(0);
    assert!(!check.stdout.contains("quorum_queue"), "{}", check.stdout);
}

/// The usual production listener is https: the management API is asked over TLS, its
/// certificate verified against the machine's roots and `rabbitmq.ca_file`; without the CA
/// the answer is an untrusted certificate, named.
#[test]
fn an_https_management_api_is_asked_over_tls_trusting_the_configured_ca() {
    let broker = Broker::start_https(false);
    let scenario = Scenario::at_version("4.1");
    with_broker(&scenario, &broker.https_url());
    let env = [(PASSWORD_VAR, rabbit::PASSWORD)];
    let untrusted = scenario.run_with_env(&["check", "--to", "4.2"], &env);
    assert_eq!(untrusted.code, 2, "{}", untrusted.stdout);
    assert!(
        untrusted
            .stdout
            .contains("cannot reach the RabbitMQ management API at https://localhost:"),
        "{}",
        untrusted.stdout
    );
    let mut config = fs::read_to_string(scenario.config()).unwrap();
    config.push_str(&format!("ca_file = '{}'\n", broker.ca_file().display()));
    fs::write(scenario.config(), config).unwrap();
    let check = scenario.run_with_env(&["check", "--to", "4.2"], &env);
    assert!(
        check
            .stdout
            .contains("[FAIL] 4.1 -> 4.2: RabbitMQ quorum_queue feature flag: disabled"),
        "{}",
        check.stdout
    );
    broker.enable_quorum_queue();
    let check = scenario.run_with_env(&["check", "--to", "4.2"], &env);
    assert!(
        check
            .stdout
            .contains("[ ok ] 4.1 -> 4.2: RabbitMQ quorum_queue feature flag: enabled"),
        "{}",
        check.stdout
    );
}

/// `--enable-quorum-queue` (issue 15): the step from 4.1 enables the flag itself, as a
/// journaled op before Hub's sites start; `check` counts it; a crash after its intent, or
/// after the broker enabled it but before its done record, is finished by `resume`; a
/// rollback leaves the flag enabled (RabbitMQ cannot disable one) and the install as it was.
#[test]
fn enable_quorum_queue_is_a_journaled_op_of_the_step_from_4_1_that_resume_finishes() {
    let env = [(PASSWORD_VAR, rabbit::PASSWORD)];
    for crash in ["crash-after-entry=op_intent", "crash-before-entry=op_done"] {
        let broker = Broker::start(false);
        let scenario = Scenario::at_version("4.1");
        let before = scenario.digests();
        with_broker(&scenario, &broker.url());
        let plan = scenario
            .run_with_env(
                &["plan", "--to", "4.2", "--enable-quorum-queue", "--json"],
                &env,
            )
            .expect(0)
            .json();
        let ops = plan["steps"][0]["ops"].as_array().unwrap();
        let index = ops
            .iter()
            .position(|op| op["kind"] == "broker")
            .unwrap_or_else(|| panic!("a broker op: {plan}"));
        let check = scenario
            .run_with_env(&["check", "--to", "4.2", "--enable-quorum-queue"], &env)
            .expect(0);
        assert!(
            check.stdout.contains(&format!(
                "[ ok ] 4.1 -> 4.2: RabbitMQ quorum_queue feature flag: disabled now; op {index} \
                 of this step enables it"
            )),
            "{}",
            check.stdout
        );
        // The broker op's own intent (or done): the entry of that kind numbered index + 1.
        let fault = format!("{crash}:{}", index + 1);
        let crashed = scenario.run_with_env(
            &["upgrade", "--to", "4.2", "--enable-quorum-queue"],
            &[env[0], ("HUBUP_TEST_FAULTS", &fault)],
        );
        assert!(
            crashed.stderr.contains("simulated crash"),
            "{fault}: {}",
            crashed.stderr
        );
        scenario.wait_for_journal();
        let resumed = scenario.run_with_env_playing_dba(&["resume"], &env);
        assert_eq!(resumed.code, 0, "{fault}: {}", resumed.stderr);
        assert!(broker.quorum_queue_enabled(), "{fault}");
        assert_eq!(scenario.digests().0, "4.2");
        let journal = scenario.journal();
        let broker_done = journal
            .iter()
            .any(|e| e["payload"]["kind"] == "op_done" && e["payload"]["index"] == index as u64);
        assert!(broker_done, "{fault}: the op's done record");

        scenario
            .run_with_env(&["rollback", "--to", "4.1"], &env)
            .expect(0);
        assert_eq!(scenario.digests(), before, "{fault}: the install as it was");
        assert!(
            broker.quorum_queue_enabled(),
            "a feature flag stays enabled"
        );
    }
}

#[test]
fn enable_quorum_queue_without_a_broker_config_is_refused_naming_what_to_set() {
    let scenario = Scenario::at_version("4.1");
    let before = scenario.digests();
    let run = scenario
        .run(&["upgrade", "--to", "4.2", "--enable-quorum-queue"])
        .expect(2);
    assert!(run.stderr.contains("[rabbitmq]"), "{}", run.stderr);
    assert!(run.stderr.contains("management_url"), "{}", run.stderr);
    assert_eq!(scenario.digests(), before);
}
