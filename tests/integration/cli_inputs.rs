//! Bad input and prerequisites through the real binary: each gets a clear message naming the
//! problem and what to do, exits non-zero, and changes nothing. Also Ctrl-C, and `check`.

use std::fs;

use crate::support::{Scenario, StartRetrying};

/// Replaces `from` with `to` in the scenario's config.
fn edit_config(scenario: &Scenario, from: &str, to: &str) {
    let text = fs::read_to_string(scenario.config()).unwrap();
    assert!(text.contains(from), "config holds {from:?}");
    fs::write(scenario.config(), text.replacen(from, to, 1)).unwrap();
}

/// Runs `args`, expects `code`, a message holding every needle, and no change at all.
#[track_caller]
fn refused(
    scenario: &Scenario,
    args: &[&str],
    env: &[(&str, &str)],
    code: i32,
    needles: &[&str],
) -> String {
    let before = scenario.digests_without_config();
    let run = scenario.run_with_env(args, env).expect(code);
    for needle in needles {
        assert!(
            run.stderr.contains(needle),
            "{needle:?} in:\n{}",
            run.stderr
        );
    }
    assert_eq!(scenario.digests_without_config(), before, "nothing changed");
    assert!(!scenario.root().join("backup_4.0").exists());
    run.stderr
}

#[test]
fn check_reports_every_prerequisite() {
    let scenario = Scenario::new();
    let run = scenario.run(&["check", "--to", "4.5"]).expect(0);
    for needle in [
        "disk space",
        "backup folder",
        ".NET Core 3.1.11",
        "certificate of Blue Prism - License Manager",
        "SQL Server",
        "All prerequisites are met",
    ] {
        assert!(
            run.stdout.contains(needle),
            "{needle:?} in:\n{}",
            run.stdout
        );
    }
    let json = scenario
        .run(&["check", "--to", "4.5", "--json"])
        .expect(0)
        .json();
    assert_eq!(json["ok"], true);
}

#[test]
fn an_uppercase_host_name_is_refused_with_the_lowercase_one() {
    let scenario = Scenario::new();
    edit_config(
        &scenario,
        "[sites.license_manager]\n",
        "[sites.license_manager]\nhost = \"LicenseManager.local\"\n",
    );
    refused(
        &scenario,
        &["upgrade", "--to", "4.5"],
        &[],
        2,
        &["uppercase", "licensemanager.local"],
    );
}

#[test]
fn a_missing_certificate_is_refused_naming_the_setting() {
    let scenario = Scenario::new();
    edit_config(&scenario, "certificate = \"DemoLicenseManagerCert\"\n", "");
    refused(
        &scenario,
        &["upgrade", "--to", "4.5"],
        &[],
        2,
        &[
            "Blue Prism - License Manager",
            "sites.license_manager.certificate",
        ],
    );
}

// The demo's command templates are `sh` on Unix and PowerShell on Windows; these two tests
// edit the `sh` ones.
#[cfg(unix)]
#[test]
fn a_certificate_not_in_the_store_fails_the_check() {
    let scenario = Scenario::new();
    edit_config(
        &scenario,
        "certificate_check = [\"sh\", \"-c\", \"exit 0\"]",
        "certificate_check = [\"sh\", \"-c\", \"exit 1\"]",
    );
    refused(
        &scenario,
        &["upgrade", "--to", "4.5"],
        &[],
        2,
        &[
            "DemoLicenseManagerCert",
            "not in the machine's Personal store",
        ],
    );
}

#[test]
fn a_full_disk_is_refused_before_anything_changes() {
    let scenario = Scenario::new();
    refused(
        &scenario,
        &["upgrade", "--to", "4.5"],
        &[("HUBUP_TEST_FAULTS", "free-space=1000")],
        2,
        &["disk space", "free at least"],
    );
}

/// The sandbox machine's runtime listing with `from` replaced by `to`.
fn edit_runtimes(scenario: &Scenario, from: &str, to: &str) {
    let path = scenario.path().join("machine.json");
    let mut machine: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    let runtimes = machine["runtimes"].as_array_mut().unwrap();
    let at = runtimes
        .iter()
        .position(|r| r == from)
        .unwrap_or_else(|| panic!("machine.json lists {from:?}: {runtimes:?}"));
    if to.is_empty() {
        runtimes.remove(at);
    } else {
        runtimes[at] = to.into();
    }
    fs::write(&path, serde_json::to_string_pretty(&machine).unwrap()).unwrap();
}

/// The guide's ".NET Core 3.1.11 or later" for 4.4: the Hosting Bundle's ASP.NET Core Runtime
/// and IIS module and the Windows Desktop Runtime, each a 3.1 release at or after 3.1.11 (a
/// later .NET 8 beside them does not count); each missing part is named.
#[test]
fn a_missing_or_too_old_runtime_is_refused_naming_each_part_and_the_guides_installers() {
    let scenario = Scenario::new();
    let ok = scenario.run(&["check", "--to", "4.5"]).expect(0);
    assert!(
        ok.stdout.contains(
            "[ ok ] 4.3 -> 4.4: .NET Core 3.1.11 or later (Hosting Bundle, Windows Desktop \
             Runtime): ASP.NET Core Runtime 3.1.32, Windows Desktop Runtime 3.1.32"
        ),
        "{}",
        ok.stdout
    );
    edit_runtimes(
        &scenario,
        "Microsoft.AspNetCore.App 3.1.32",
        "Microsoft.AspNetCore.App 3.1.10",
    );
    refused(
        &scenario,
        &["upgrade", "--to", "4.5"],
        &[],
        2,
        &[
            "the ASP.NET Core Runtime (installed: 3.1.10, 8.0.11)",
            "dotnet-hosting-3.1.11-win.exe",
        ],
    );
    edit_runtimes(
        &scenario,
        "Microsoft.AspNetCore.App 3.1.10",
        "Microsoft.AspNetCore.App 3.1.12",
    );
    edit_runtimes(&scenario, "Microsoft.WindowsDesktop.App 3.1.32", "");
    edit_runtimes(&scenario, hubup::IIS_MODULE_LINE, "");
    let stderr = refused(
        &scenario,
        &["upgrade", "--to", "4.5"],
        &[],
        2,
        &[
            "missing the Windows Desktop Runtime (none installed), IIS's ASP.NET Core Module V2",
            "windowsdesktop-runtime-3.1.11-win-x64.exe",
        ],
    );
    assert!(!stderr.contains("ASP.NET Core Runtime ("), "{stderr}");
}

/// The sandbox machine's state file, changed by `change`.
fn edit_machine(scenario: &Scenario, change: impl FnOnce(&mut serde_json::Value)) {
    let path = scenario.path().join("machine.json");
    let mut machine: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
    change(&mut machine);
    fs::write(&path, serde_json::to_string_pretty(&machine).unwrap()).unwrap();
}

/// The guide's "everyone is logged out of the IMS Server" (Authentication Server from 4.3):
/// IIS's current connections of the site, a warning by default and a failure that refuses
/// the upgrade, changing nothing, with `--require-logged-out`.
#[test]
fn connections_to_the_authentication_server_warn_and_fail_with_require_logged_out() {
    let scenario = Scenario::new();
    let quiet = scenario.run(&["check", "--to", "4.5", "--require-logged-out"]);
    let quiet = quiet.expect(0);
    assert!(
        quiet
            .stdout
            .contains("[ ok ] everyone logged out of Blue Prism - IMS: no current connections"),
        "{}",
        quiet.stdout
    );
    edit_machine(&scenario, |m| {
        m["site_connections"] = serde_json::json!({ "Blue Prism - IMS": 3 });
    });
    let warned = scenario.run(&["check", "--to", "4.5"]).expect(0);
    assert!(
        warned.stdout.contains(
            "[warn] everyone logged out of Blue Prism - IMS: 3 current connections (IIS's \
             Current Connections): ask everyone to log out"
        ),
        "{}",
        warned.stdout
    );
    assert!(
        warned.stdout.contains("--require-logged-out"),
        "{}",
        warned.stdout
    );
    let strict = scenario.run(&["check", "--to", "4.5", "--require-logged-out"]);
    let strict = strict.expect(2);
    assert!(
        strict
            .stdout
            .contains("[FAIL] everyone logged out of Blue Prism - IMS: 3 current connections"),
        "{}",
        strict.stdout
    );
    refused(
        &scenario,
        &["upgrade", "--to", "4.5", "--require-logged-out"],
        &[],
        2,
        &["3 current connections", "Blue Prism - IMS"],
    );

    // From 4.3 the site is the Authentication Server.
    let renamed = Scenario::at_version("4.3");
    edit_machine(&renamed, |m| {
        m["site_connections"] = serde_json::json!({ "Blue Prism - Authentication Server": 1 });
    });
    let run = renamed.run(&["check", "--to", "4.5"]).expect(0);
    assert!(
        run.stdout.contains(
            "[warn] everyone logged out of Blue Prism - Authentication Server: 1 current \
             connection (IIS's"
        ),
        "{}",
        run.stdout
    );
}

/// The guide's DNS records for License Manager and Notification Center before 4.2: a name
/// that does not resolve is a warning naming it, the resolver's answer and the machines that
/// need it (or that a single machine does not need them).
#[test]
fn a_new_sites_host_name_that_does_not_resolve_is_a_warning_naming_it() {
    let scenario = Scenario::new();
    let ok = scenario.run(&["check", "--to", "4.5"]).expect(0);
    assert!(
        ok.stdout.contains(
            "[ ok ] 4.1 -> 4.2: DNS records for the new sites: licensemanager.local -> \
             127.0.0.1; notificationcenter.local -> 127.0.0.1"
        ),
        "{}",
        ok.stdout
    );
    // A name of the reserved .invalid domain, which no resolver answers, with a certificate
    // for it.
    edit_config(
        &scenario,
        "[sites.license_manager]\ncertificate = \"DemoLicenseManagerCert\"\n",
        "[sites.license_manager]\nhost = \"licensemanager.corp.invalid\"\ncertificate = \"CorpLM\"\n",
    );
    edit_machine(&scenario, |m| {
        m["certificates"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({
                "thumbprint": "A1B2C3D4E5F60718293A4B5C6D7E8F9011223344",
                "friendly_name": "CorpLM",
                "subject": "CN=licensemanager.corp.invalid",
                "dns_names": ["licensemanager.corp.invalid"],
                "not_after": "2036-01-01T00:00:00Z",
                "has_private_key": true
            }));
    });
    let single = scenario.run(&["check", "--to", "4.5"]).expect(0);
    assert!(
        single.stdout.contains(
            "[warn] 4.1 -> 4.2: DNS records for the new sites: licensemanager.corp.invalid \
             (resolve licensemanager.corp.invalid: No such host is known. (os error 11001)) \
             does not resolve"
        ),
        "{}",
        single.stdout
    );
    assert!(
        single.stdout.contains("not required on a single machine"),
        "{}",
        single.stdout
    );
    edit_config(
        &scenario,
        "machine = \"DEMO-HUB-01\"\n",
        "machine = \"DEMO-HUB-01\"\nmachines = [\"HUBWEB02\"]\n",
    );
    let several = scenario.run(&["check", "--to", "4.5"]).expect(0);
    assert!(
        several
            .stdout
            .contains("the other machines (HUBWEB02) reach the new sites by these names"),
        "{}",
        several.stdout
    );
}

/// Decision's model service (4.5): its URL must answer TLS with a certificate valid for its
/// FQDN (the guide), trusted through the machine's roots or `optional.decision.ca_file`. A
/// warning otherwise, naming what is wrong: an untrusted issuer, another name, no answer.
#[test]
fn decisions_model_service_must_answer_tls_with_a_certificate_for_its_fqdn() {
    let server = crate::support::tls_server::TlsServer::start(&["decision.corp.invalid"]);
    let elsewhere = crate::support::tls_server::TlsServer::start(&["other.corp.invalid"]);
    let scenario = Scenario::new();
    fs::write(scenario.path().join("decision-ca.pem"), server.ca_pem()).unwrap();
    fs::write(scenario.path().join("other-ca.pem"), elsewhere.ca_pem()).unwrap();
    edit_machine(&scenario, |m| {
        m["dns"]["decision.corp.invalid"] = serde_json::json!(["127.0.0.1"]);
    });
    let decision = |port: u16, ca: &str| {
        format!(
            "[optional.decision]\nmodel_service_url = \"https://decision.corp.invalid:{port}\"\n\
             certificate = \"DemoLicenseManagerCert\"\n{ca}\n[commands]"
        )
    };
    edit_config(
        &scenario,
        "[commands]",
        &decision(server.port(), "ca_file = \"decision-ca.pem\"\n"),
    );
    let what = "4.4 -> 4.5: Decision model service TLS: ";
    let ok = scenario.run(&["check", "--to", "4.5"]).expect(0);
    let expected = format!(
        "[ ok ] {what}https://decision.corp.invalid:{} answers TLS at 127.0.0.1 with a \
         certificate valid for decision.corp.invalid",
        server.port()
    );
    assert!(ok.stdout.contains(&expected), "{}", ok.stdout);

    let cases = [
        (server.port(), "", "the certificate's issuer is not trusted"),
        (
            elsewhere.port(),
            "ca_file = \"other-ca.pem\"\n",
            "the certificate is for another name",
        ),
    ];
    let mut current = decision(server.port(), "ca_file = \"decision-ca.pem\"\n");
    for (port, ca, words) in cases {
        let next = decision(port, ca);
        edit_config(&scenario, &current, &next);
        current = next;
        let run = scenario.run(&["check", "--to", "4.5"]).expect(0);
        assert!(
            run.stdout.contains(&format!("[warn] {what}")),
            "{}",
            run.stdout
        );
        assert!(run.stdout.contains(words), "{words}: {}", run.stdout);
    }
    let port = server.port();
    drop(server);
    edit_config(&scenario, &current, &decision(port, ""));
    let refused = scenario.run(&["check", "--to", "4.5"]).expect(0);
    assert!(
        refused.stdout.contains(&format!(
            "[warn] {what}cannot connect to decision.corp.invalid:{port}"
        )),
        "{}",
        refused.stdout
    );
}

#[test]
fn a_tampered_package_is_refused_before_anything_changes() {
    let scenario = Scenario::new();
    let package = scenario
        .path()
        .join("packages/BluePrismHubAndInteractUpdate4.3.bin");
    let mut bytes = fs::read(&package).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    fs::write(&package, bytes).unwrap();
    refused(
        &scenario,
        &["upgrade", "--to", "4.5"],
        &[],
        2,
        &["BluePrismHubAndInteractUpdate4.3.bin"],
    );
}

#[test]
fn a_password_with_a_forbidden_character_is_refused_and_never_shown() {
    let scenario = Scenario::new();
    edit_config(
        &scenario,
        "auth = \"windows\"",
        "auth = \"sql\"\nuser = \"sqladmin\"\npassword_env = \"HUBUP_SQL_PW\"",
    );
    let stderr = refused(
        &scenario,
        &["upgrade", "--to", "4.5"],
        &[("HUBUP_SQL_PW", "Secret=Value;42")],
        2,
        &["HUBUP_SQL_PW", "'='"],
    );
    assert!(!stderr.contains("Secret=Value;42"));
}

#[test]
fn a_wrong_version_is_refused() {
    let scenario = Scenario::new();
    let run = scenario.run(&["upgrade", "--to", "5.0"]).expect(2);
    assert!(run.stderr.contains("4.0, 4.1"), "{}", run.stderr);
}

#[test]
fn mixed_component_versions_are_refused_naming_them() {
    let scenario = Scenario::new();
    let deps = scenario.root().join("IADA/BluePrism.Iada.deps.json");
    let text = fs::read_to_string(&deps).unwrap().replace("4.0.0", "4.1.0");
    fs::write(&deps, text).unwrap();
    refused(
        &scenario,
        &["upgrade", "--to", "4.5"],
        &[],
        2,
        &["IADA 4.1", "Hub 4.0"],
    );
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_at_a_safe_point_and_says_what_to_run() {
    use std::process::Stdio;
    let scenario = Scenario::new();
    // Slow a command down so the interrupt lands mid-run (after the first change: before
    // it, Ctrl-C ends with nothing pending, exit 130), and say when it runs.
    let started = scenario.path().join("restart-started");
    let text = fs::read_to_string(scenario.config()).unwrap();
    let text: Vec<String> = text
        .lines()
        .map(|l| {
            // The first command of the run (4.1 -> 4.2's folder ACL grant): stopping and
            // starting sites are host ops.
            if l.starts_with("folder_acl_grant =") {
                format!(
                    "folder_acl_grant = [\"sh\", \"-c\", \"touch '{}'; sleep 2\"]",
                    started.display()
                )
            } else {
                l.to_string()
            }
        })
        .collect();
    fs::write(scenario.config(), text.join("\n")).unwrap();
    let child = crate::support::hubup()
        .args(["upgrade", "--to", "4.5", "--config"])
        .arg(scenario.config())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn_retrying()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !started.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the run reached its first command"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("cancelled at a safe point"), "{stderr}");
    assert!(
        stderr.contains("hubup resume") && stderr.contains("hubup rollback"),
        "{stderr}"
    );
    scenario.run(&["journal", "verify"]).expect(0);
    assert!(!scenario.status()["unfinished_run"].is_null());
    scenario.run_playing_dba(&["resume"]).expect(0);
    assert_eq!(scenario.digests().0, "4.5");
}

#[test]
fn the_demo_takes_a_size_and_refuses_one_it_does_not_know() {
    let dir = tempfile::tempdir().unwrap();
    let sandbox = dir.path().join("demo");
    let out = crate::support::hubup()
        .args(["demo", "--setup-only", "--size", "huge", "--dir"])
        .arg(&sandbox)
        .output_retrying()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("huge") && stderr.contains("small") && stderr.contains("large"),
        "{stderr}"
    );
    assert!(!sandbox.exists(), "nothing was created");
    let help = crate::support::hubup()
        .args(["demo", "--help"])
        .output_retrying()
        .unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("--size"));
}
