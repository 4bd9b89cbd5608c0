//! A DBA's `sqlcmd -i FILE`, for tests: the script is split into batches at `GO` lines, the
//! sqlcmd commands (`:on error exit`, `:setvar NAME "value"`) are obeyed and `$(NAME)`
//! replaced, and each batch is sent (comments and all) on one connection (as
//! hubup's own client sends batches). Like sqlcmd, it goes on after an error unless told to
//! stop (`-b`, or `:on error exit` in the script); the connection closes at the end, and the
//! server rolls back a transaction left open.

use std::collections::BTreeMap;

/// What a run of a script did.
#[derive(Debug, Default)]
pub struct SqlcmdRun {
    /// The batches sent, in order.
    pub sent: Vec<String>,
    /// The errors, as hubup's client reports them.
    pub errors: Vec<String>,
    /// True if it stopped at an error before the end.
    pub stopped: bool,
}

/// Runs `script` over `session` with sqlcmd's semantics; `exit_on_error` is sqlcmd's `-b`.
/// The session ends with the run, as sqlcmd's process does (the server then rolls back a
/// transaction the script left open).
pub fn run(mut session: hubup::Session, script: &str, exit_on_error: bool) -> SqlcmdRun {
    let mut out = SqlcmdRun::default();
    let mut stop_on_error = exit_on_error;
    let mut variables: BTreeMap<String, String> = BTreeMap::new();
    let mut batch: Vec<&str> = Vec::new();
    for line in script.lines().chain(std::iter::once("GO")) {
        let trimmed = line.trim();
        if let Some(command) = trimmed.strip_prefix(':') {
            let command = command.trim();
            if command.eq_ignore_ascii_case("on error exit") {
                stop_on_error = true;
            } else if let Some(rest) = command.strip_prefix("setvar ") {
                let (name, value) = rest.trim().split_once(' ').expect(":setvar NAME VALUE");
                variables.insert(name.to_string(), value.trim().trim_matches('"').to_string());
            } else {
                panic!("sqlcmd command not supported here: {line}");
            }
            continue;
        }
        if !trimmed.eq_ignore_ascii_case("go") {
            batch.push(line);
            continue;
        }
        let mut text = batch.join("\n").trim().to_string();
        batch.clear();
        if text.is_empty() {
            continue;
        }
        for (name, value) in &variables {
            text = text.replace(&format!("$({name})"), value);
        }
        out.sent.push(text.clone());
        if let Err(e) = session.batch(&text) {
            out.errors.push(e.to_string());
            if stop_on_error {
                out.stopped = true;
                break;
            }
        }
    }
    out
}
