//! Running the command ops' programs (appcmd, netsh, icacls, sc, iisreset, or whatever the
//! config's templates say), with their output captured for errors and the journal; and
//! checking journaled command lines against the config before resume or rollback runs them.
//!
//! # Journaled commands are not trusted blindly
//!
//! Resume and rollback run the command lines journaled in each [`CommandOp`]. The journal's
//! hash chain has no key, so whoever can write the journal can journal any program; resume
//! would then run it as administrator. So before a resume or rollback runs anything, every
//! command line it may run is rendered again from the op's purpose and the *current* config
//! ([`verify_journaled`]): the program and every fixed argument must be the config's
//! template's, and each placeholder value must be the purpose's (site, pool, host, port,
//! certificate, identity, service, version) or the config's (the SSL certificate of a site, a
//! configured pool identity, the folder under `iis_location`). The only values taken from the
//! journaled line itself are the two the purpose does not record when the config does not
//! hold them either (a site's certificate, a pool identity read from IIS), and those, like
//! every value the journal supplies, must be plain: no quote, `$`, `;`, `|`, `&`, `<`, `>`,
//! `%`, `^`, backtick or line break that a shell or PowerShell template could be broken out of.
//! A mismatch stops the command before anything runs, naming both lines; an administrator
//! who changed a template on purpose accepts the journaled lines with a flag.

use crate::config::{CommandTemplates, Config, Template, render_part};
use crate::op::{CommandLine, CommandOp, CommandPurpose, Op};
use crate::version::Step;

/// A command that could not run or exited non-zero.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    #[error(
        "cannot run {program:?}: {source} (is it installed? the template is in the config's [commands])"
    )]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("{line} exited with {status}{}", output_tail(.output))]
    Failed {
        line: String,
        status: String,
        output: String,
    },
}

fn output_tail(output: &str) -> String {
    let trimmed = output.trim();
    if trimmed.is_empty() {
        return String::new();
    }
    let tail: Vec<&str> = trimmed.lines().rev().take(5).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    format!(": {}", tail.join(" | "))
}

/// The command line as a person would type it (for messages and the plan).
pub use crate::op::command_line_text as display;

/// Runs `line` to completion; Ok(exit code 0) or an error with the output's last lines.
pub fn run(line: &CommandLine) -> Result<(), CommandError> {
    let shown = display(line);
    tracing::info!(target: "hubup::command", "{shown}");
    let output = crate::process::output(&line.program, &line.args).map_err(|source| {
        CommandError::Spawn {
            program: line.program.clone(),
            source,
        }
    })?;
    if output.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    tracing::info!(
        target: "hubup::command",
        "exited with {}{}",
        output.status,
        output_tail(&text)
    );
    Err(CommandError::Failed {
        line: shown,
        status: output.status.to_string(),
        output: text,
    })
}

/// Runs a check command: true if it exits 0, false if it exits non-zero; an error only if it
/// cannot run at all.
pub fn check(line: &CommandLine) -> Result<bool, CommandError> {
    match run(line) {
        Ok(()) => Ok(true),
        Err(CommandError::Failed { .. }) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Which of an op's command lines a resume or rollback may run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinesToRun {
    /// Apply, check and undo (a step that is resumed may also be rolled back).
    All,
    /// Undo only (a rollback).
    UndoOnly,
}

/// One of an op's lines: its role, the journaled line if any, and the template it comes from.
type Role<'a> = (
    &'static str,
    Option<&'a CommandLine>,
    Option<(&'static str, &'a Template)>,
);

/// A journaled command line that the current config does not render the same way.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandMismatch {
    pub step: Step,
    pub index: u32,
    /// What the op is for, in words.
    pub purpose: String,
    /// `apply`, `check` or `undo`, and the template it comes from.
    pub role: &'static str,
    pub template: &'static str,
    pub journaled: String,
    /// What the config renders, or why the journaled line cannot be its rendering.
    pub expected: String,
}

impl std::fmt::Display for CommandMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "step {} op {} ({}), its {} command:\n      journaled: {}\n      the config's [commands] {}: {}",
            self.step,
            self.index,
            self.purpose,
            self.role,
            self.journaled,
            self.template,
            self.expected
        )
    }
}

/// Every command line of `ops` that a resume or rollback may run (`lines`) and that the
/// current config does not render from the op's purpose (see the module doc). Pure.
pub fn verify_journaled(
    config: &Config,
    step: Step,
    ops: &[Op],
    lines: LinesToRun,
) -> Vec<CommandMismatch> {
    let mut out = Vec::new();
    for (index, op) in ops.iter().enumerate() {
        let Op::Command(command) = op else { continue };
        let sources = TemplateSources::of(&command.purpose, &config.commands);
        let values = Values::of(&command.purpose, config);
        let roles: [Role<'_>; 3] = [
            ("apply", Some(&command.apply), Some(sources.apply)),
            ("check", command.check.as_ref(), sources.check),
            ("undo", command.undo.as_ref(), sources.undo),
        ];
        for (role, line, source) in roles {
            if lines == LinesToRun::UndoOnly && role != "undo" {
                continue;
            }
            let Some(line) = line else { continue };
            let mismatch = |template: &'static str, expected: String| CommandMismatch {
                step,
                index: index as u32,
                purpose: describe(command),
                role,
                template,
                journaled: display(line),
                expected,
            };
            match source {
                None => out.push(mismatch(
                    "(none)",
                    "no template renders this command for this purpose".into(),
                )),
                Some((name, template)) => {
                    if let Err(expected) = matches_template(line, template, &values) {
                        out.push(mismatch(name, expected));
                    }
                }
            }
        }
    }
    out
}

fn describe(command: &CommandOp) -> String {
    let text = Op::Command(command.clone()).describe();
    match text.split_once(": ") {
        Some((purpose, _)) => purpose.to_string(),
        None => text,
    }
}

/// The templates each purpose's lines are rendered from (the planner's choice, in one place).
struct TemplateSources<'a> {
    apply: (&'static str, &'a Template),
    check: Option<(&'static str, &'a Template)>,
    undo: Option<(&'static str, &'a Template)>,
}

impl<'a> TemplateSources<'a> {
    fn of(purpose: &CommandPurpose, t: &'a CommandTemplates) -> TemplateSources<'a> {
        let only = |apply| TemplateSources {
            apply,
            check: None,
            undo: None,
        };
        let with_undo = |apply, undo| TemplateSources {
            apply,
            check: None,
            undo: Some(undo),
        };
        match purpose {
            CommandPurpose::StopSite { .. } => {
                with_undo(("stop_site", &t.stop_site), ("start_site", &t.start_site))
            }
            CommandPurpose::StartSite { .. } => {
                with_undo(("start_site", &t.start_site), ("stop_site", &t.stop_site))
            }
            CommandPurpose::SetSslBinding { .. } => TemplateSources {
                apply: ("ssl_binding_add", &t.ssl_binding_add),
                check: Some(("ssl_binding_check", &t.ssl_binding_check)),
                undo: Some(("ssl_binding_remove", &t.ssl_binding_remove)),
            },
            CommandPurpose::SetAppPoolIdentity { .. } => with_undo(
                ("app_pool_identity_set", &t.app_pool_identity_set),
                ("app_pool_identity_reset", &t.app_pool_identity_reset),
            ),
            CommandPurpose::GrantCertificateKeyAccess { .. } => with_undo(
                ("certificate_key_grant", &t.certificate_key_grant),
                ("certificate_key_revoke", &t.certificate_key_revoke),
            ),
            CommandPurpose::SetFolderAcl { .. } => with_undo(
                ("folder_acl_grant", &t.folder_acl_grant),
                ("folder_acl_revoke", &t.folder_acl_revoke),
            ),
            CommandPurpose::RestartService { .. } => only(("service_restart", &t.service_restart)),
            CommandPurpose::RecycleAppPool { .. } => {
                only(("app_pool_recycle", &t.app_pool_recycle))
            }
            CommandPurpose::RestartIis => only(("iis_restart", &t.iis_restart)),
            CommandPurpose::SetInstalledVersion { .. } => {
                only(("installed_version_set", &t.installed_version_set))
            }
        }
    }
}

/// Placeholder values for re-rendering: `known` from the purpose or the config, `free` the
/// ones only the journaled line holds.
struct Values {
    /// (name, value, whether the journal supplied it: such values must be plain).
    known: Vec<(&'static str, String, bool)>,
    free: Vec<&'static str>,
}

impl Values {
    fn of(purpose: &CommandPurpose, config: &Config) -> Values {
        let mut v = Values {
            known: Vec::new(),
            free: Vec::new(),
        };
        let mut journal = |name: &'static str, value: &str| {
            v.known.push((name, value.to_string(), true));
        };
        match purpose {
            CommandPurpose::StopSite { site } | CommandPurpose::StartSite { site } => {
                journal("site", site)
            }
            CommandPurpose::SetSslBinding { site, host, port } => {
                journal("site", site);
                journal("host", host);
                journal("port", &port.to_string());
                let certificate = crate::components::COMPONENTS
                    .iter()
                    .map(|info| config.site(info.component))
                    .find(|s| s.name == *site)
                    .and_then(|s| s.certificate);
                match certificate {
                    Some(certificate) => v.known.push(("certificate", certificate, false)),
                    None => v.free.push("certificate"),
                }
            }
            CommandPurpose::SetAppPoolIdentity { app_pool } => {
                journal("app_pool", app_pool);
                match &config.windows_auth.app_pool_identity {
                    Some(identity) => v.known.push(("identity", identity.clone(), false)),
                    None => v.free.push("identity"),
                }
            }
            CommandPurpose::GrantCertificateKeyAccess {
                certificate,
                identity,
            } => {
                journal("certificate", certificate);
                journal("identity", identity);
            }
            CommandPurpose::SetFolderAcl { folder, identity } => {
                journal("identity", identity);
                if !plain(folder.as_str()) {
                    // Flagged by the check below through a value that cannot match.
                    journal("folder", folder.as_str());
                } else {
                    let path = format!(
                        "{}\\{}",
                        config.iis_location().trim_end_matches('\\'),
                        folder
                    );
                    v.known.push(("folder", path, false));
                }
            }
            CommandPurpose::RestartService { service } => journal("service", service),
            CommandPurpose::RecycleAppPool { app_pool } => journal("app_pool", app_pool),
            CommandPurpose::RestartIis => {}
            CommandPurpose::SetInstalledVersion { version } => {
                journal("version", &version.to_string())
            }
        }
        v
    }
}

/// A value from the journal that no shell or PowerShell quoting in a template can be broken
/// out of.
fn plain(value: &str) -> bool {
    !value.chars().any(|c| {
        matches!(
            c,
            '\'' | '"' | '`' | '$' | ';' | '|' | '&' | '<' | '>' | '%' | '^' | '\n' | '\r' | '\0'
        )
    })
}

/// Ok if `line` is `template` rendered with `values` (free placeholders taken from the line,
/// consistently); otherwise what the config renders, or why the line cannot be its rendering.
fn matches_template(
    line: &CommandLine,
    template: &Template,
    values: &Values,
) -> Result<(), String> {
    for (name, value, from_journal) in &values.known {
        if *from_journal
            && !plain(value)
            && template
                .0
                .iter()
                .any(|p| p.contains(&format!("{{{name}}}")))
        {
            return Err(format!(
                "the journaled value {value:?} for {{{name}}} holds a character a shell could \
                 interpret; hubup never plans such a value"
            ));
        }
    }
    let known: Vec<(&str, &str)> = values
        .known
        .iter()
        .map(|(n, v, _)| (*n, v.as_str()))
        .collect();
    let rendered: Vec<String> = template.0.iter().map(|p| render_part(p, &known)).collect();
    let journaled: Vec<&str> = std::iter::once(line.program.as_str())
        .chain(line.args.iter().map(String::as_str))
        .collect();
    let expected_text = || {
        let mut parts = rendered.iter();
        display(&CommandLine {
            program: parts.next().cloned().unwrap_or_default(),
            args: parts.cloned().collect(),
        })
    };
    if rendered.len() != journaled.len() {
        return Err(expected_text());
    }
    let mut captured: Vec<(&str, String)> = Vec::new();
    for (pattern, actual) in rendered.iter().zip(&journaled) {
        if !match_part(pattern, actual, &values.free, &mut captured) {
            return Err(expected_text());
        }
    }
    for (name, value) in &captured {
        if !plain(value) {
            return Err(format!(
                "{} (the journaled value {value:?} for {{{name}}} holds a character a shell \
                 could interpret)",
                expected_text()
            ));
        }
    }
    Ok(())
}

/// Matches one rendered template part against a journaled argument; free placeholders capture
/// what stands in their place, and the same name must capture the same text everywhere.
fn match_part<'f>(
    pattern: &str,
    actual: &str,
    free: &[&'f str],
    captured: &mut Vec<(&'f str, String)>,
) -> bool {
    let next = free
        .iter()
        .filter_map(|name| pattern.find(&format!("{{{name}}}")).map(|at| (at, *name)))
        .min();
    let Some((at, name)) = next else {
        return pattern == actual;
    };
    let (prefix, rest) = pattern.split_at(at);
    let rest = &rest[name.len() + 2..];
    let Some(after_prefix) = actual.strip_prefix(prefix) else {
        return false;
    };
    if let Some((_, value)) = captured.iter().find(|(n, _)| *n == name) {
        let value = value.clone();
        return after_prefix
            .strip_prefix(value.as_str())
            .is_some_and(|tail| match_part(rest, tail, free, captured));
    }
    // Try every split: the shortest value that lets the rest match.
    for end in (0..=after_prefix.len()).filter(|i| after_prefix.is_char_boundary(*i)) {
        let mut attempt = captured.clone();
        attempt.push((name, after_prefix[..end].to_string()));
        if match_part(rest, &after_prefix[end..], free, &mut attempt) {
            *captured = attempt;
            return true;
        }
    }
    false
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn line(program: &str, args: &[&str]) -> CommandLine {
        CommandLine {
            program: program.to_string(),
            args: args.iter().map(|a| a.to_string()).collect(),
        }
    }

    #[test]
    fn success_failure_and_missing_program() {
        run(&line("true", &[])).unwrap();
        let err = run(&line("sh", &["-c", "echo boom >&2; exit 3"])).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("boom") && text.contains('3'), "{text}");
        assert!(!check(&line("false", &[])).unwrap());
        let err = run(&line("/nonexistent/appcmd.exe", &[])).unwrap_err();
        assert!(err.to_string().contains("appcmd.exe"), "{err}");
    }

    #[test]
    fn display_quotes_arguments_with_spaces() {
        assert_eq!(
            display(&line(
                "appcmd",
                &["stop", "site", "/site.name:Blue Prism - Hub"]
            )),
            "appcmd stop site \"/site.name:Blue Prism - Hub\""
        );
    }
}

#[cfg(test)]
mod journaled_tests {
    use super::*;
    use crate::relpath::RelPath;

    fn config(extra: &str) -> Config {
        Config::parse(
            &format!("[install]\nroot = 'C:\\Blue Prism'\n{extra}"),
            std::path::Path::new("hubup.toml"),
        )
        .unwrap()
    }

    fn render(template: &Template, values: &[(&str, &str)]) -> CommandLine {
        let mut parts = template.0.iter().map(|p| render_part(p, values));
        CommandLine {
            program: parts.next().unwrap(),
            args: parts.collect(),
        }
    }

    fn op(purpose: CommandPurpose, apply: CommandLine, undo: Option<CommandLine>) -> Op {
        Op::Command(CommandOp {
            purpose,
            apply,
            check: None,
            undo,
        })
    }

    fn step() -> Step {
        Step::from_version(crate::version::Version::V4_1).unwrap()
    }

    #[test]
    fn lines_the_config_renders_pass_and_others_are_named() {
        let config = config("");
        let t = &config.commands;
        let site = [("site", "Blue Prism - Hub")];
        let good = op(
            CommandPurpose::StopSite {
                site: "Blue Prism - Hub".into(),
            },
            render(&t.stop_site, &site),
            Some(render(&t.start_site, &site)),
        );
        assert_eq!(
            verify_journaled(
                &config,
                step(),
                std::slice::from_ref(&good),
                LinesToRun::All
            ),
            vec![]
        );
        let mut evil = good;
        if let Op::Command(c) = &mut evil {
            c.undo = Some(CommandLine {
                program: "C:\\Users\\Public\\x.exe".into(),
                args: vec![],
            });
        }
        let found = verify_journaled(&config, step(), &[evil.clone()], LinesToRun::UndoOnly);
        assert_eq!(found.len(), 1);
        assert_eq!((found[0].role, found[0].template), ("undo", "start_site"));
        assert!(found[0].journaled.contains("x.exe"));
        assert!(found[0].expected.contains("appcmd.exe start site"));
        assert!(
            found[0]
                .to_string()
                .contains("stop site \"Blue Prism - Hub\"")
        );
    }

    #[test]
    fn a_site_name_other_than_the_purpose_is_refused() {
        let config = config("");
        let t = &config.commands;
        let line = op(
            CommandPurpose::RecycleAppPool {
                app_pool: "Blue Prism - Hub".into(),
            },
            render(&t.app_pool_recycle, &[("app_pool", "Other Pool")]),
            None,
        );
        assert_eq!(
            verify_journaled(&config, step(), &[line], LinesToRun::All).len(),
            1
        );
    }

    #[test]
    fn values_the_purpose_lacks_come_from_the_config_or_plainly_from_the_line() {
        // The SSL binding's certificate: from [sites] when configured ...
        let config = config("[sites.license_manager]\ncertificate = 'LmCert'\n");
        let t = &config.commands;
        let purpose = CommandPurpose::SetSslBinding {
            site: "Blue Prism - License Manager".into(),
            host: "licensemanager.local".into(),
            port: 443,
        };
        let with = |certificate: &str| {
            let values = [
                ("site", "Blue Prism - License Manager"),
                ("host", "licensemanager.local"),
                ("port", "443"),
                ("certificate", certificate),
            ];
            op(
                purpose.clone(),
                render(&t.ssl_binding_add, &values),
                Some(render(&t.ssl_binding_remove, &values)),
            )
        };
        assert_eq!(
            verify_journaled(&config, step(), &[with("LmCert")], LinesToRun::All),
            vec![]
        );
        assert_eq!(
            verify_journaled(&config, step(), &[with("Other")], LinesToRun::All).len(),
            1
        );
        // ... and from the line when the config does not say, if it is plain.
        let bare = self::config("");
        assert_eq!(
            verify_journaled(&bare, step(), &[with("Other")], LinesToRun::All),
            vec![]
        );
        let found = verify_journaled(&bare, step(), &[with("x\" & calc")], LinesToRun::All);
        assert!(found[0].expected.contains("shell"), "{found:?}");
    }

    #[test]
    fn the_folder_is_rendered_under_the_configured_iis_location() {
        let config = config("");
        let t = &config.commands;
        let purpose = CommandPurpose::SetFolderAcl {
            folder: RelPath::new("License Manager").unwrap(),
            identity: "CORP\\svc-hub".into(),
        };
        let at = |folder: &str| {
            let values = [("folder", folder), ("identity", "CORP\\svc-hub")];
            op(
                purpose.clone(),
                render(&t.folder_acl_grant, &values),
                Some(render(&t.folder_acl_revoke, &values)),
            )
        };
        let ok = at("C:\\Blue Prism\\License Manager");
        assert_eq!(
            verify_journaled(&config, step(), &[ok], LinesToRun::All),
            vec![]
        );
        let elsewhere = at("C:\\Windows\\System32");
        assert_eq!(
            verify_journaled(&config, step(), &[elsewhere], LinesToRun::All).len(),
            2
        );
    }

    #[test]
    fn free_values_match_consistently() {
        let mut captured = Vec::new();
        assert!(match_part("a={x},b={x}", "a=1,b=1", &["x"], &mut captured));
        let mut captured = Vec::new();
        assert!(!match_part("a={x},b={x}", "a=1,b=2", &["x"], &mut captured));
        let mut captured = Vec::new();
        assert!(match_part("{x}", "", &["x"], &mut captured));
        assert!(!match_part("pre{x}", "other", &["x"], &mut Vec::new()));
    }
}
