//! `hubup completions SHELL` and `hubup man`: the shell completion script and the man page,
//! both made from the same clap definitions as `--help` (`clap_complete`, `clap_mangen`), so
//! they cannot drift from the commands hubup has.

use clap::{Args, CommandFactory, ValueEnum};

use super::{Cli, CommandResult, Exit};

/// The shells hubup writes completions for.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum Shell {
    Bash,
    Zsh,
    Fish,
    Powershell,
    Elvish,
}

#[derive(Args, Debug)]
pub(crate) struct CompletionsArgs {
    /// The shell to complete in. Bash: `hubup completions bash > /etc/bash_completion.d/hubup`;
    /// PowerShell: `hubup completions powershell >> $PROFILE`.
    #[arg(value_enum)]
    pub shell: Shell,
}

/// Prints the completion script for `args.shell` on standard output.
pub(crate) fn completions(args: CompletionsArgs) -> CommandResult {
    use clap_complete::Shell as Target;
    let target = match args.shell {
        Shell::Bash => Target::Bash,
        Shell::Zsh => Target::Zsh,
        Shell::Fish => Target::Fish,
        Shell::Powershell => Target::PowerShell,
        Shell::Elvish => Target::Elvish,
    };
    let mut script = Vec::new();
    clap_complete::generate(target, &mut Cli::command(), "hubup", &mut script);
    out!("{}", String::from_utf8_lossy(&script));
    Ok(Exit::Ok)
}

#[derive(Args, Debug)]
pub(crate) struct ManArgs {
    /// A subcommand's own page (`hubup man upgrade > hubup-upgrade.1`); without it, hubup's.
    pub command: Option<String>,
}

/// Prints a man page (roff; `hubup man > /usr/share/man/man1/hubup.1`).
pub(crate) fn man(args: ManArgs) -> CommandResult {
    let mut command = Cli::command();
    command.build();
    let command = match &args.command {
        None => command,
        Some(name) => command
            .find_subcommand(name)
            .cloned()
            .map(|sub| {
                let title = format!("hubup-{name}");
                sub.name(title).version(super::VERSION)
            })
            .ok_or_else(|| {
                super::Failure::of(super::Cause::Argument(format!(
                    "hubup has no command {name:?}; `hubup --help` lists them"
                )))
            })?,
    };
    let mut page = Vec::new();
    clap_mangen::Man::new(command)
        .render(&mut page)
        .map_err(|e| super::Failure::of(super::Cause::Output(format!("cannot render: {e}"))))?;
    out!("{}", String::from_utf8_lossy(&page));
    Ok(Exit::Ok)
}
