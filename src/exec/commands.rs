//! Running the command ops' programs (appcmd, netsh, icacls, sc, iisreset, or whatever the
//! config's templates say), with their output captured for errors and the journal.

use std::process::{Command, Stdio};

use crate::op::CommandLine;

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
    let output = Command::new(&line.program)
        .args(&line.args)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| CommandError::Spawn {
            program: line.program.clone(),
            source,
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
