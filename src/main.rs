//! The `hubup` binary: parses the command line, runs the command, and turns its outcome into
//! one of the documented exit codes (see `cli::Exit` and README.md).

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
