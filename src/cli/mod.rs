//! The command line: clap definitions of every subcommand and dispatch. Each subcommand
//! group lives in its own file here and only calls the library's public API; `exit.rs` maps
//! every outcome and error to the documented exit codes.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::{ArgAction, Args, Parser, Subcommand};

pub(crate) use exit::{Cause, Exit, Failure, Outcome};

/// `outln!` that a closed pipe cannot turn into a panic (`output.rs`).
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cli::output::out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` that a closed pipe cannot turn into a panic (`output.rs`).
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::output::out(format_args!($($arg)*))
    };
}

/// `errln!` that a closed pipe cannot turn into a panic (`output.rs`).
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::cli::output::err(format_args!("{}\n", format_args!($($arg)*)))
    };
}

mod access;
mod audit;
mod backups;
mod demo;
mod exit;
mod fixture;
mod init;
mod journal;
mod log;
mod output;
mod package;
mod probe;
mod progress;
mod refused;
mod report;
mod run;
mod saved_plan;
mod shell;
mod status;
mod vbo;

pub(crate) type CommandResult = Result<Exit, Failure>;

/// hubup's version and the commit it was built from.
pub(crate) const VERSION: &str = hubup::HUBUP_VERSION;

/// hubup upgrades a Blue Prism Hub and Interact installation from 4.0 ... 4.4 to any later
/// version up to 4.5, one journaled, reversible step at a time.
#[derive(Parser, Debug)]
#[command(name = "hubup", version = VERSION, about, long_about = None, max_term_width = 100)]
struct Cli {
    #[command(flatten)]
    global: GlobalArgs,
    #[command(subcommand)]
    command: Command,
}

/// The options every command takes, before or after the command's name (`hubup -y upgrade
/// ...` and `hubup upgrade ... -y` are the same).
#[derive(Args, Debug, Clone, Copy, Default)]
pub(crate) struct GlobalArgs {
    /// Apply without asking: `upgrade` and `rollback --to` otherwise show the plan's summary
    /// and ask for `yes` on a terminal, and refuse (nothing changed) when standard input is
    /// not one. Needed in scripts and scheduled tasks.
    #[arg(short = 'y', long, global = true)]
    pub yes: bool,
    /// Print only errors, warnings and the command's result: no step lines, no progress bar.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Also print each op as it is applied or undone (-v), and everything the run log holds
    /// (-vv: SQL statements, commands run), on standard error.
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
}

/// The global options of this process, set once the command line is parsed.
static GLOBAL: std::sync::OnceLock<GlobalArgs> = std::sync::OnceLock::new();

/// The global options (`--yes`, `-q`, `-v`) this process was given.
pub(crate) fn global() -> GlobalArgs {
    GLOBAL.get().copied().unwrap_or_default()
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Build a sandbox install with its packages and config under DIR, upgrade it to 4.5 and
    /// show the audit: hubup at work with nothing external running.
    Demo(demo::DemoArgs),
    /// Write hubup.toml by asking what the vendor's upgrade screens ask (SQL connection with
    /// its test, database names, the new sites' IIS setup and certificates, the optional
    /// URLs, Decision); with flags and --non-interactive for automation.
    Init(Box<init::InitArgs>),
    /// Show what an upgrade would do, step by step and op by op. Changes nothing.
    Plan(run::PlanCommandArgs),
    /// Check every prerequisite of an upgrade (packages, disk, runtimes, certificates, SQL
    /// Server, leftover backups). Changes nothing.
    Check(run::PlanArgs),
    /// Upgrade the install to a later version, one journaled, reversible step at a time.
    Upgrade(run::UpgradeArgs),
    /// Finish an interrupted (crashed or cancelled) run from its journal.
    Resume(run::ResumeArgs),
    /// Undo the interrupted step, or with --to, go back across the committed steps of the
    /// latest run.
    Rollback(run::RollbackArgs),
    /// Show the installed version, components, sites, backups, digests, drift and whether a
    /// run is unfinished.
    Status(status::StatusArgs),
    /// Write the T-SQL of an upgrade's database work for a DBA. Changes nothing.
    SqlScript(run::SqlScriptArgs),
    /// List the install's backup_4.n folders, or remove those of committed steps (prune).
    #[command(subcommand)]
    Backups(backups::BackupsCommand),
    /// Verify, show and export the journal of changes hubup made on this machine.
    #[command(subcommand)]
    Journal(journal::JournalCommand),
    /// Write one run's receipt for an auditor: a self-contained HTML page (--html), one JSON
    /// object (--json) or a short summary. Reads the journal only.
    Report(report::ReportArgs),
    /// Compare two machines' receipts or journal exports.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Generate fixture installs and update packages (for tests, benchmarks and the demo).
    #[command(subcommand)]
    Fixture(fixture::FixtureCommand),
    /// Check update packages (BluePrismHubAndInteractUpdate4.n.bin) without changing anything.
    #[command(subcommand)]
    Package(package::PackageCommand),
    /// Ask each Blue Prism site over HTTPS whether it answers (the Authentication Server's
    /// discovery document and issuer; the others a status below 500). Reads only.
    Probe(probe::ProbeArgs),
    /// Take the Interact API VBO out of the Interact API Service release zip: a release holding
    /// only "Utility - Interact API", for the client's File > Import > Release/Skill.
    Vbo(vbo::VboArgs),
    /// Print the shell completion script for bash, zsh, fish, PowerShell or elvish.
    Completions(shell::CompletionsArgs),
    /// Print the man page (roff), hubup's or a command's.
    Man(shell::ManArgs),
}

/// Parses the command line, runs the command and returns its exit code.
pub(crate) fn main() -> ExitCode {
    let cli = match Cli::try_parse_from(with_global_options_after_the_command(
        std::env::args_os().collect(),
    )) {
        Ok(cli) => cli,
        Err(error) if wants_json() && error.use_stderr() => {
            let failure = Failure {
                code: Exit::BadInput,
                message: error.to_string().trim_end().to_string(),
                json_printed: false,
            };
            errln!("{}", failure.message);
            outln!("{}", failure.json());
            return ExitCode::from(Exit::BadInput as u8);
        }
        Err(error) => error.exit(),
    };
    let _ = GLOBAL.set(cli.global);
    let result: CommandResult = match cli.command {
        Command::Demo(args) => demo::run(args),
        Command::Init(args) => init::run(*args),
        Command::Plan(args) => run::plan(args),
        Command::Check(args) => run::check(args),
        Command::Upgrade(args) => run::upgrade(args),
        Command::Resume(args) => run::resume(args),
        Command::Rollback(args) => run::rollback(args),
        Command::SqlScript(args) => run::sql_script(args),
        Command::Status(args) => status::run(args),
        Command::Backups(command) => backups::run(command),
        Command::Journal(command) => journal::run(command),
        Command::Report(args) => report::run(args),
        Command::Audit(command) => audit::run(command),
        Command::Fixture(command) => fixture::run(command),
        Command::Package(command) => package::run(command),
        Command::Probe(args) => probe::run(args),
        Command::Vbo(args) => vbo::run(args),
        Command::Completions(args) => shell::completions(args),
        Command::Man(args) => shell::man(args),
    };
    // Output cut short by anything but a closed pipe: the command did not do all it was
    // asked (its answer is missing), whatever else it did.
    let result = match (result, output::stdout_failure()) {
        (Ok(Exit::Ok), Some(error)) => Err(Failure::of(Cause::Output(format!(
            "cannot write to standard output: {error}"
        )))),
        (result, _) => result,
    };
    match result {
        Ok(code) => ExitCode::from(code as u8),
        Err(failure) => {
            errln!("hubup: {}", failure.message);
            if wants_json() && !failure.json_printed {
                outln!("{}", failure.json());
            }
            ExitCode::from(failure.code as u8)
        }
    }
}

/// The options every command that has them takes the same way (`--config FILE`,
/// `--config=FILE`, `--json`), as `git -C` and `cargo --config` take them: before the command
/// too (`hubup --config X status`). Given there, they are moved to the end of the command line
/// (before a `--`), where clap reads them as the command's own. The global options (`--yes`,
/// `-q`, `-v`, and short ones together: `-yv`) are clap's anywhere; they are moved too, so
/// that the options after them are still found (`hubup -y --config X upgrade ...`).
fn with_global_options_after_the_command(args: Vec<OsString>) -> Vec<OsString> {
    let mut leading = Vec::new();
    let mut rest = args.into_iter();
    let program = rest.next();
    let mut others: Vec<OsString> = Vec::new();
    while let Some(arg) = rest.next() {
        let text = arg.to_string_lossy();
        if text == "--json" || text.starts_with("--config=") || is_global_flag(&text) {
            leading.push(arg);
        } else if text == "--config" {
            leading.push(arg);
            leading.extend(rest.next());
        } else {
            others.push(arg);
            break;
        }
    }
    others.extend(rest);
    let at = others
        .iter()
        .position(|a| a == "--")
        .unwrap_or(others.len());
    others.splice(at..at, leading);
    program.into_iter().chain(others).collect()
}

/// `--yes`, `--quiet`, `--verbose`, or short ones alone or together (`-y`, `-vv`, `-qy`).
fn is_global_flag(text: &str) -> bool {
    match text.strip_prefix('-') {
        Some("-yes" | "-quiet" | "-verbose") => true,
        Some(shorts) => !shorts.is_empty() && shorts.chars().all(|c| "yqv".contains(c)),
        None => false,
    }
}

/// True if the command line asks for JSON: then every outcome, failures included, is one
/// JSON object on standard output.
fn wants_json() -> bool {
    std::env::args_os()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn moved(line: &str) -> String {
        let args = line.split(' ').map(OsString::from).collect();
        let out: Vec<String> = with_global_options_after_the_command(args)
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        out.join(" ")
    }

    #[test]
    fn global_options_before_the_command_move_after_it() {
        assert_eq!(
            moved("hubup --config x.toml status"),
            "hubup status --config x.toml"
        );
        assert_eq!(
            moved("hubup --json --config=x.toml journal verify"),
            "hubup journal verify --json --config=x.toml"
        );
        assert_eq!(
            moved("hubup status --config x.toml"),
            "hubup status --config x.toml"
        );
        assert_eq!(moved("hubup --json x -- y"), "hubup x --json -- y");
        assert_eq!(moved("hubup --help"), "hubup --help");
    }

    #[test]
    fn global_flags_before_the_command_do_not_stop_the_options_after_them() {
        assert_eq!(
            moved("hubup -y --config x.toml upgrade --to 4.5"),
            "hubup upgrade --to 4.5 -y --config x.toml"
        );
        assert_eq!(
            moved("hubup --yes -vv --quiet -qy status"),
            "hubup status --yes -vv --quiet -qy"
        );
        assert_eq!(moved("hubup -x status"), "hubup -x status");
        assert_eq!(moved("hubup - status"), "hubup - status");
    }

    fn parsed(line: &str) -> Cli {
        let args = line.split(' ').map(OsString::from).collect();
        Cli::try_parse_from(with_global_options_after_the_command(args)).unwrap()
    }

    #[test]
    fn global_options_are_the_same_before_or_after_the_command() {
        for line in [
            "hubup -y -v --config c.toml upgrade --to 4.5",
            "hubup upgrade --to 4.5 --yes --verbose --config c.toml",
            "hubup --config c.toml upgrade -yv --to 4.5",
        ] {
            let cli = parsed(line);
            assert!(cli.global.yes, "{line}");
            assert_eq!(cli.global.verbose, 1, "{line}");
            assert!(!cli.global.quiet, "{line}");
            let Command::Upgrade(args) = cli.command else {
                panic!("{line}: not upgrade")
            };
            assert_eq!(args.common.config, Some("c.toml".into()), "{line}");
        }
        assert_eq!(parsed("hubup -vv journal verify").global.verbose, 2);
        assert!(parsed("hubup journal verify -q").global.quiet);
        let args = "hubup -q -v status".split(' ').map(OsString::from);
        assert!(Cli::try_parse_from(args).is_err(), "-q and -v conflict");
    }
}
