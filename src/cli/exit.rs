//! Exit codes: the codes README.md documents ("Exit codes"), and the one table that maps every
//! way a command can end (a run's outcome, a check's verdict, each library error, the CLI's
//! own failures) to one of them. Commands never pick a code themselves: they return an
//! [`Outcome`] or fail with a [`Cause`], and [`code`] decides.
//!
//! The table's matches are exhaustive on purpose: a new error variant does not compile until
//! someone decides which documented code is true for it.

use std::path::PathBuf;

use serde_json::{Value, json};

use hubup::{
    AccessReport, BackupFolderError, ConfigError, ConfigPathError, EngineError, FixtureError,
    InstallLockError, JournalError, KeyFileError, PackageError, PrerequisiteReport, ReceiptError,
    ReportError, RunEnd, SignError, SqlError, StatusError, UnfinishedRun,
};

/// Exit codes, stable and documented in README.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Exit {
    /// The command did what was asked.
    Ok = 0,
    /// An unexpected failure (I/O error, bug); the message says what and where.
    Failure = 1,
    /// Bad input: usage, config, version, package or a failed prerequisite. Nothing changed.
    BadInput = 2,
    /// A step failed and was rolled back to its source version; earlier steps stay committed.
    RolledBack = 3,
    /// A run is unfinished (interrupted, cancelled, or its rollback could not complete):
    /// run `hubup resume` or `hubup rollback`.
    NeedsResume = 4,
    /// The journal failed verification (an entry was changed, dropped or reordered), or its
    /// file is damaged or emptied.
    JournalCorrupt = 5,
    /// Another hubup process holds the journal or the install (a run is in progress).
    Busy = 6,
    /// Script mode: a step stopped before starting its sites; give the script it names to a
    /// DBA, then run `hubup resume`. Nothing is wrong; the run is unfinished on purpose.
    AwaitingDba = 7,
    /// `audit diff`: the two machines' receipts differ (the output lists what). Nothing is
    /// wrong with either input; they are not the same.
    Differs = 8,
    /// `probe`: some Blue Prism sites do not answer as they must (the output lists each).
    /// Nothing was changed.
    Unhealthy = 9,
    /// Ctrl-C before the first change: nothing was journaled or changed, nothing is pending
    /// (128 + SIGINT, as shells report an interrupted command).
    CancelledBeforeStart = 130,
}

impl Exit {
    /// What a script does about this code: the README table's advice, and the `hint` of
    /// every `--json` error object.
    pub(crate) fn advice(self) -> &'static str {
        match self {
            Exit::Ok => "nothing to do",
            Exit::Failure => "read the message and the log; nothing is known to be pending",
            Exit::BadInput => "fix the input the message names; nothing was changed",
            Exit::RolledBack => "fix the cause the message names, then run the upgrade again",
            Exit::NeedsResume => "run `hubup resume` (finish) or `hubup rollback` (undo)",
            Exit::JournalCorrupt => {
                "keep a copy of the journal; do not resume or roll back from it"
            }
            Exit::Busy => "wait for the other hubup to finish, then run the command again",
            Exit::AwaitingDba => {
                "give the script the message names to a DBA, then run `hubup resume`"
            }
            Exit::Differs => "compare the differences listed; nothing was changed",
            Exit::Unhealthy => {
                "look at each site listed (its application pool, its logs), then probe again"
            }
            Exit::CancelledBeforeStart => "nothing is pending: run the command again when ready",
        }
    }
}

/// What `status` found pending on the install.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pending {
    /// No run is unfinished or in progress.
    Nothing,
    /// A run is unfinished: resume or roll back.
    Unfinished,
    /// Another hubup is running on the journal.
    InProgress,
    /// The journal could not be read: whether a run is pending is unknown.
    Unknown,
}

/// How a command ended, as far as its exit code goes.
///
/// A command that simply did what was asked returns [`Exit::Ok`] itself.
pub(crate) enum Outcome<'a> {
    /// An upgrade, resume or rollback ended this way.
    Run(&'a RunEnd),
    /// `hubup check` found this.
    Checked(&'a PrerequisiteReport),
    /// The install already is where the command would take it (`upgrade --to` the installed
    /// version, `resume` or `rollback` with no unfinished run, `rollback --to` the installed
    /// version): nothing was changed, and re-running a fleet script is safe.
    NothingToDo,
    /// `hubup status` found this.
    Status(Pending),
    /// `hubup audit diff` compared two machines' receipts.
    Audited { identical: bool },
    /// `hubup probe` asked the sites; `healthy` if every one answered as it must.
    Probed { healthy: bool },
    /// It failed.
    Failed(&'a Cause),
}

/// Why a command failed: a library error as it came, or one of the CLI's own failures.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Cause {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The install lock is held by another hubup, or cannot be taken.
    #[error(transparent)]
    InstallLock(#[from] InstallLockError),
    #[error(transparent)]
    Package(#[from] PackageError),
    /// A run is unfinished: `plan`, `check`, `sql-script` and `upgrade` refuse alike, saying
    /// where it stopped (`hint` is the `--config` to repeat in the advice).
    #[error(
        "run {} ({} -> {}) is unfinished: {}; run `hubup resume{hint}` (finish it) or \
         `hubup rollback{hint}` (undo the interrupted step)",
        run.run, run.from, run.to, run.where_it_stopped()
    )]
    Unfinished {
        run: Box<UnfinishedRun>,
        hint: String,
    },
    /// The config file cannot be loaded; `hint` says how to name one when none was given.
    #[error("{error}{hint}")]
    Config {
        error: ConfigError,
        hint: &'static str,
    },
    /// The journal's path cannot be read from the config file (`--config` of `journal`).
    #[error(transparent)]
    ConfigPath(#[from] ConfigPathError),
    /// The `[sql]` settings are refused (mode, server, the password's variable).
    #[error(transparent)]
    Sql(#[from] SqlError),
    /// The database backup folder (`--backup-databases`, `sql.backup_databases`) is refused.
    #[error(transparent)]
    BackupFolder(#[from] BackupFolderError),
    /// `HUBUP_TEST_FAULTS` cannot be understood.
    #[error("{0}")]
    Faults(String),
    /// A command-line value is refused (a `--run` prefix, the demo's folder).
    #[error("{0}")]
    Argument(String),
    /// `status` cannot read the install or IIS config it was pointed at.
    #[error(transparent)]
    Status(#[from] StatusError),
    /// `hubup fixture` cannot write what it was asked to (its `--out` folder).
    #[error(transparent)]
    Fixture(#[from] FixtureError),
    /// `hubup demo` cannot build its sandbox in a folder it was given and could create.
    #[error("{0}")]
    Sandbox(String),
    /// The command's own output cannot be written (standard output, `--out`, a temp folder).
    #[error("{0}")]
    Output(String),

    /// A changing command (`action`) is refused before it creates or runs anything: others
    /// than administrators can change files that steer hubup (`report` names each).
    #[error("{}", report.refusal(action))]
    AccessRefused {
        action: String,
        report: AccessReport,
    },
    /// A signing key file cannot be read, is no key, or cannot be written (`package sign`,
    /// `package keygen`).
    #[error(transparent)]
    KeyFile(#[from] KeyFileError),
    /// `package sign` left the package unsigned (and unchanged).
    #[error("cannot sign {}: {error}", package.display())]
    Sign { package: PathBuf, error: SignError },
    /// `report` was asked for a run the journal holds no start of.
    #[error(transparent)]
    Report(#[from] ReportError),
    /// An `audit diff` input is no receipt or journal export (or cannot be read).
    #[error(transparent)]
    Receipt(#[from] ReceiptError),
    /// The operating system's random source failed (`package keygen`).
    #[error("cannot make a key: {0}")]
    KeyGeneration(std::io::Error),
}

/// The table: every way a command ends, and its exit code.
pub(crate) fn code(outcome: Outcome<'_>) -> Exit {
    match outcome {
        Outcome::Run(end) => match end {
            RunEnd::Completed { .. } | RunEnd::RolledBackOnRequest { .. } => Exit::Ok,
            RunEnd::RolledBack { .. } => Exit::RolledBack,
            // Stopped at a safe point: the run waits for resume or rollback.
            RunEnd::Cancelled { .. } => Exit::NeedsResume,
            // Nothing was journaled: nothing waits, but the upgrade was not done either.
            RunEnd::CancelledBeforeStart { .. } => Exit::CancelledBeforeStart,
            // Script mode: unfinished on purpose, until the DBA ran the step's script.
            RunEnd::AwaitingDba { .. } => Exit::AwaitingDba,
        },
        Outcome::NothingToDo => Exit::Ok,
        Outcome::Status(Pending::Nothing) => Exit::Ok,
        Outcome::Status(Pending::Unfinished) => Exit::NeedsResume,
        Outcome::Status(Pending::InProgress) => Exit::Busy,
        // A script must not read "nothing pending" into a journal nobody could read.
        Outcome::Status(Pending::Unknown) => Exit::Failure,
        Outcome::Audited { identical: true } => Exit::Ok,
        Outcome::Audited { identical: false } => Exit::Differs,
        Outcome::Probed { healthy: true } => Exit::Ok,
        Outcome::Probed { healthy: false } => Exit::Unhealthy,
        Outcome::Checked(report) if report.all_ok() => Exit::Ok,
        // `upgrade` would refuse to start: a failed prerequisite.
        Outcome::Checked(_) => Exit::BadInput,
        Outcome::Failed(cause) => cause_code(cause),
    }
}

fn cause_code(cause: &Cause) -> Exit {
    match cause {
        Cause::Engine(e) => engine_code(e),
        Cause::Journal(e) => journal_code(e),
        // Another hubup is changing the install: the same answer as a journal in use.
        Cause::InstallLock(InstallLockError::Held { .. }) => Exit::Busy,
        // install.root names no folder: the config is wrong; nothing was changed.
        Cause::InstallLock(InstallLockError::NoInstall { .. }) => Exit::BadInput,
        Cause::InstallLock(InstallLockError::Io { .. }) => Exit::Failure,
        Cause::Package(e) => package_code(e),
        Cause::Unfinished { .. } => Exit::NeedsResume,
        Cause::Config { .. }
        | Cause::ConfigPath(_)
        | Cause::Sql(_)
        | Cause::BackupFolder(_)
        | Cause::Faults(_)
        | Cause::Argument(_)
        | Cause::Status(_)
        | Cause::Fixture(_)
        | Cause::Report(_)
        | Cause::Receipt(_) => Exit::BadInput,
        Cause::Sandbox(_) | Cause::Output(_) => Exit::Failure,
        // Refused before anything was created or run: nothing was changed.
        Cause::AccessRefused { .. } => Exit::BadInput,
        // A key file given that cannot be read or is no key, or `keygen --out` naming a file
        // that exists (a key is never overwritten): bad input. Failing to write a new one is
        // the machine's fault.
        Cause::KeyFile(KeyFileError::Read { .. } | KeyFileError::Invalid { .. }) => Exit::BadInput,
        Cause::KeyFile(KeyFileError::Write { source, .. })
            if source.kind() == std::io::ErrorKind::AlreadyExists =>
        {
            Exit::BadInput
        }
        Cause::KeyFile(KeyFileError::Write { .. }) => Exit::Failure,
        // Only a sound package is signed: the package's own row decides.
        Cause::Sign {
            error: SignError::Package(e),
            ..
        } => package_code(e),
        Cause::Sign {
            error: SignError::Build(_),
            ..
        }
        | Cause::KeyGeneration(_) => Exit::Failure,
    }
}

fn package_code(error: &PackageError) -> Exit {
    // The package is at fault (damaged, hostile, unsigned, signed by a key the config does not
    // trust), or cannot be opened at the path given: bad input. Reading an opened package
    // failing is the machine's fault.
    if error.is_bad_package() || matches!(error, PackageError::Open { .. }) {
        Exit::BadInput
    } else {
        Exit::Failure
    }
}

fn engine_code(error: &EngineError) -> Exit {
    match error {
        // Refused before the first change: nothing was changed.
        EngineError::Prepare(_)
        | EngineError::Prerequisites(_)
        | EngineError::RollbackTarget { .. }
        // Lost files that cannot be rewritten are refused before anything is written.
        | EngineError::LostFiles { .. } => Exit::BadInput,
        // `resume` or `rollback` with no unfinished run: there is nothing to do, and a fleet
        // script that runs it again must not fail (the commands report it as NothingToDo).
        EngineError::NothingToDo { .. } => Exit::Ok,
        // A journaled command line the config does not render for its purpose: refused
        // before any of the run's lines ran (`--accept-changed-commands` runs them).
        EngineError::ChangedCommands(_) => Exit::BadInput,
        // An earlier run must be finished first: its resume or rollback is what to run.
        EngineError::Unfinished { .. } => Exit::NeedsResume,
        // The journal could not be written mid-run, a rollback stopped at an op, or an I/O
        // failure struck after the step changed the install: the journal holds the run as
        // unfinished and resume or rollback continues it. Not 2: something was changed.
        EngineError::Journal(_)
        | EngineError::RollbackIncomplete { .. }
        | EngineError::AfterChange { .. }
        | EngineError::RemainingSteps { .. } => Exit::NeedsResume,
        // The same answer as every other command gives this journal.
        EngineError::JournalUntrusted(e) => journal_code(e),
        // The journal makes no sense as a run, or the restored install differs from before
        // the step: neither resume nor rollback is known to help; a person must look.
        EngineError::State(_) | EngineError::RollbackUnverified { .. } => Exit::Failure,
        // Resume found the waiting step's database work not done: nothing changed, and the
        // run still waits for its DBA, as when it stopped.
        EngineError::DbaWorkMissing { .. } => Exit::AwaitingDba,
        // The journal could not take the run's first entry: an I/O failure, and no run
        // exists to resume (not 4); nothing was changed.
        EngineError::NotStarted { .. } => Exit::Failure,
        // A caller forgot the install lock: a bug; nothing was changed.
        EngineError::InstallNotLocked { .. } => Exit::Failure,
    }
}

fn journal_code(error: &JournalError) -> Exit {
    match error {
        // Pointed at the wrong file, or none.
        JournalError::NotFound { .. }
        | JournalError::Unreadable { .. }
        | JournalError::NotAJournal { .. } => Exit::BadInput,
        // Another computer's journal: give this machine its own (nothing was changed).
        JournalError::Copied { .. } => Exit::BadInput,
        JournalError::Busy { .. } => Exit::Busy,
        JournalError::Damaged { .. }
        | JournalError::Corrupt { .. }
        | JournalError::Empty { .. } => Exit::JournalCorrupt,
        JournalError::EntryTooLarge { .. }
        | JournalError::Encode { .. }
        | JournalError::Poisoned { .. }
        | JournalError::Storage { .. } => Exit::Failure,
    }
}

/// A command's failure: the exit code and a message for the operator.
#[derive(Debug)]
pub(crate) struct Failure {
    pub code: Exit,
    pub message: String,
    /// The command printed the failure's JSON object itself (with details of its own).
    pub json_printed: bool,
}

impl Failure {
    /// The failure for `cause`: its code from the table, its message from the cause. An
    /// engine failure is logged too, and its message names the run log.
    pub(crate) fn of(cause: Cause) -> Failure {
        let code = code(Outcome::Failed(&cause));
        let mut message = cause.to_string();
        if let Cause::Engine(e) = &cause {
            tracing::error!("{e}");
            if let Some(log) = super::log::path() {
                message.push_str(&format!("\n  log: {}", log.display()));
            }
        }
        Failure {
            code,
            message,
            json_printed: false,
        }
    }
}

impl Failure {
    /// The failure as the one JSON object `--json` prints: `outcome` "error", `ok` false,
    /// `code`, `message`, `hint` (what to do about the code) and `changed` (false where the
    /// code guarantees nothing was changed, true for a rolled-back step, otherwise null: the
    /// journal says).
    pub(crate) fn json(&self) -> serde_json::Value {
        let changed = match self.code {
            Exit::Ok
            | Exit::BadInput
            | Exit::Busy
            | Exit::Differs
            | Exit::Unhealthy
            | Exit::CancelledBeforeStart => json!(false),
            Exit::RolledBack => json!(true),
            // The run waits for its DBA: the steps before it changed the install.
            Exit::Failure | Exit::NeedsResume | Exit::JournalCorrupt | Exit::AwaitingDba => {
                Value::Null
            }
        };
        json!({
            "outcome": "error",
            "ok": false,
            "changed": changed,
            "code": self.code as u8,
            "message": self.message,
            "hint": self.code.advice(),
        })
    }
}

impl<E: Into<Cause>> From<E> for Failure {
    fn from(cause: E) -> Failure {
        Failure::of(cause.into())
    }
}

#[cfg(test)]
mod tests {
    //! One test per row of the table: an example of the row's outcome and the code README.md
    //! documents for it.

    use std::path::PathBuf;

    use hubup::{
        AccessProblem, AccessWriter, BuildError, ChainFault, CommandMismatch, Finding, Head,
        Holder, PrepareError, PrerequisiteReport, RunEnd, RunId, Step, Version,
    };

    use super::*;

    fn step() -> Step {
        Step::from_version(Version::V4_0).unwrap()
    }

    fn run() -> RunId {
        RunId([7; 16])
    }

    fn file() -> PathBuf {
        PathBuf::from("journal.redb")
    }

    fn failed(cause: impl Into<Cause>) -> Exit {
        code(Outcome::Failed(&cause.into()))
    }

    fn report(findings: Vec<Finding>) -> PrerequisiteReport {
        PrerequisiteReport { findings }
    }

    fn io() -> std::io::Error {
        std::io::Error::other("disk on fire")
    }

    fn corrupt() -> JournalError {
        JournalError::Corrupt {
            path: file(),
            fault: Box::new(ChainFault::Changed { seq: 2 }),
        }
    }

    #[test]
    fn a_completed_run_and_a_requested_rollback_exit_0() {
        let version = Version::V4_1;
        let completed = RunEnd::Completed {
            run: run(),
            version,
        };
        assert_eq!(code(Outcome::Run(&completed)), Exit::Ok);
        let rolled = RunEnd::RolledBackOnRequest {
            run: run(),
            version,
        };
        assert_eq!(code(Outcome::Run(&rolled)), Exit::Ok);
    }

    #[test]
    fn a_step_that_failed_and_was_rolled_back_exits_3() {
        let end = RunEnd::RolledBack {
            run: run(),
            version: Version::V4_0,
            step: step(),
            error: "op 3 failed".into(),
        };
        assert_eq!(code(Outcome::Run(&end)), Exit::RolledBack);
    }

    #[test]
    fn a_cancelled_run_exits_4() {
        let end = RunEnd::Cancelled {
            run: run(),
            step: Some(step()),
        };
        assert_eq!(code(Outcome::Run(&end)), Exit::NeedsResume);
    }

    #[test]
    fn a_step_waiting_for_its_dba_and_a_resume_that_finds_the_work_missing_exit_7() {
        let end = RunEnd::AwaitingDba {
            run: run(),
            step: step(),
            script: PathBuf::from("output/hubup-sql.sql"),
        };
        assert_eq!(code(Outcome::Run(&end)), Exit::AwaitingDba);
        let missing = EngineError::DbaWorkMissing {
            step: step(),
            error: "database HubDb is not there".into(),
        };
        assert_eq!(failed(missing), Exit::AwaitingDba);
    }

    #[test]
    fn a_check_exits_0_with_warnings_and_2_with_a_failed_prerequisite() {
        let warned = report(vec![
            Finding::ok("disk", "plenty"),
            Finding::warning("broker", "not checked"),
        ]);
        assert_eq!(code(Outcome::Checked(&warned)), Exit::Ok);
        let refused = report(vec![Finding::failed("disk", "full")]);
        assert_eq!(code(Outcome::Checked(&refused)), Exit::BadInput);
    }

    #[test]
    fn engine_refusals_before_any_change_exit_2() {
        let prepare = PrepareError::PackageMissing {
            missing: vec![(step(), file())],
        };
        assert_eq!(failed(EngineError::Prepare(prepare)), Exit::BadInput);
        let findings = vec![Finding::failed("disk", "full")];
        assert_eq!(failed(EngineError::Prerequisites(findings)), Exit::BadInput);
        let nothing = EngineError::NothingToDo { action: "resume" };
        assert_eq!(failed(nothing), Exit::Ok, "nothing to resume is no failure");
        let target = EngineError::RollbackTarget {
            target: Version::V4_0,
            reason: "no run".into(),
        };
        assert_eq!(failed(target), Exit::BadInput);
    }

    #[test]
    fn an_earlier_unfinished_run_exits_4() {
        let unfinished = EngineError::Unfinished {
            run: run(),
            from: Version::V4_0,
            to: Version::V4_5,
        };
        assert_eq!(failed(unfinished), Exit::NeedsResume);
    }

    #[test]
    fn failures_that_leave_the_run_unfinished_exit_4() {
        let storage = JournalError::Storage {
            path: file(),
            action: "commit",
            detail: "disk full".into(),
        };
        assert_eq!(failed(EngineError::from(storage)), Exit::NeedsResume);
        let stopped = EngineError::RollbackIncomplete {
            step: step(),
            index: 3,
            error: "busy".into(),
        };
        assert_eq!(failed(stopped), Exit::NeedsResume);
        let after = EngineError::AfterChange {
            step: step(),
            action: "removing the backup folder",
            path: PathBuf::from("backup_4.0"),
            source: Box::new(io()),
        };
        assert_eq!(failed(after), Exit::NeedsResume);
        let remaining = EngineError::RemainingSteps {
            run: run(),
            committed: step(),
            source: PrepareError::PackageMissing {
                missing: vec![(step(), file())],
            },
        };
        assert_eq!(failed(remaining), Exit::NeedsResume);
    }

    #[test]
    fn a_journal_that_fails_verification_mid_run_exits_5_like_the_journal_commands() {
        let engine = EngineError::from(corrupt());
        assert!(matches!(engine, EngineError::JournalUntrusted(_)));
        assert_eq!(engine.to_string(), corrupt().to_string(), "one advice");
        assert_eq!(failed(engine), Exit::JournalCorrupt);
        assert_eq!(failed(corrupt()), Exit::JournalCorrupt);
    }

    #[test]
    fn a_journal_that_is_no_run_and_an_unverified_rollback_exit_1() {
        let state = hubup::StateError {
            seq: 4,
            problem: "no RunStarted".into(),
        };
        assert_eq!(failed(EngineError::State(state)), Exit::Failure);
        let unverified = EngineError::RollbackUnverified {
            step: step(),
            what: "install tree".into(),
        };
        assert_eq!(failed(unverified), Exit::Failure);
    }

    #[test]
    fn the_wrong_journal_file_or_none_exits_2() {
        assert_eq!(
            failed(JournalError::NotFound { path: file() }),
            Exit::BadInput
        );
        let unreadable = JournalError::Unreadable {
            path: file(),
            source: io(),
        };
        assert_eq!(failed(unreadable), Exit::BadInput);
        let foreign = JournalError::NotAJournal {
            path: file(),
            detail: "zip".into(),
        };
        assert_eq!(failed(foreign), Exit::BadInput);
        let copied = JournalError::Copied {
            path: file(),
            made_on: "HUB01".into(),
            here: "HUB02".into(),
            id: "00ff".into(),
        };
        assert_eq!(failed(copied), Exit::BadInput);
    }

    #[test]
    fn a_journal_held_by_another_hubup_exits_6() {
        let busy = JournalError::Busy {
            path: file(),
            holder: Holder::Unknown,
        };
        assert_eq!(failed(busy), Exit::Busy);
    }

    #[test]
    fn a_damaged_or_tampered_journal_exits_5() {
        let damaged = JournalError::Damaged {
            path: file(),
            detail: "checksum".into(),
        };
        assert_eq!(failed(damaged), Exit::JournalCorrupt);
        let head = Head {
            seq: 1,
            hash: hubup::Digest::ZERO,
        };
        let mismatch = JournalError::Corrupt {
            path: file(),
            fault: Box::new(ChainFault::HeadMismatch {
                seq: 1,
                recorded: Some(head),
                found: None,
            }),
        };
        assert_eq!(failed(mismatch), Exit::JournalCorrupt);
    }

    #[test]
    fn an_emptied_journal_exits_5_whichever_command_opens_it() {
        let empty = JournalError::Empty {
            path: file(),
            size: 0,
        };
        assert!(empty.is_untrusted());
        assert_eq!(failed(empty), Exit::JournalCorrupt);
    }

    #[test]
    fn an_install_held_by_another_hubup_exits_6_and_no_install_2() {
        let held = InstallLockError::Held {
            root: file(),
            lock: file(),
            holder: hubup::LockHolder {
                pid: Some(7),
                journal: Some("other.redb".into()),
            },
        };
        assert_eq!(failed(held), Exit::Busy);
        let none = InstallLockError::NoInstall {
            root: file(),
            source: io(),
        };
        assert_eq!(failed(none), Exit::BadInput);
        let io = InstallLockError::Io {
            path: file(),
            source: io(),
        };
        assert_eq!(failed(io), Exit::Failure);
    }

    #[test]
    fn a_run_that_could_not_start_exits_1_not_4() {
        let full = JournalError::Storage {
            path: file(),
            action: "appending a batch",
            detail: "no space left on device".into(),
        };
        let error = EngineError::NotStarted { source: full };
        assert!(!error.to_string().contains("hubup resume"), "{error}");
        assert_eq!(failed(error), Exit::Failure);
        let unlocked = EngineError::InstallNotLocked { root: file() };
        assert_eq!(failed(unlocked), Exit::Failure);
    }

    #[test]
    fn lost_files_that_cannot_be_rewritten_exit_2() {
        let lost = EngineError::LostFiles {
            run: run(),
            files: vec!["Hub/a.dll (written by step 4.0 -> 4.1, missing): package gone".into()],
        };
        assert!(lost.to_string().contains("Hub/a.dll"), "{lost}");
        assert_eq!(failed(lost), Exit::BadInput);
    }

    #[test]
    fn journal_storage_failures_exit_1() {
        let too_large = JournalError::EntryTooLarge {
            path: file(),
            seq: 1,
            size: 10,
            limit: 1,
        };
        assert_eq!(failed(too_large), Exit::Failure);
        let encode = JournalError::Encode {
            path: file(),
            seq: 1,
            reason: "bug".into(),
        };
        assert_eq!(failed(encode), Exit::Failure);
        assert_eq!(
            failed(JournalError::Poisoned { path: file() }),
            Exit::Failure
        );
        let storage = JournalError::Storage {
            path: file(),
            action: "read",
            detail: "eio".into(),
        };
        assert_eq!(failed(storage), Exit::Failure);
    }

    #[test]
    fn a_refused_package_exits_2_and_a_failed_read_1() {
        let open = PackageError::Open {
            package: file(),
            source: io(),
        };
        assert_eq!(failed(open), Exit::BadInput);
        let hostile = PackageError::DuplicateEntries { package: file() };
        assert_eq!(failed(hostile), Exit::BadInput);
        let read = PackageError::Read {
            package: file(),
            source: io(),
        };
        assert_eq!(failed(read), Exit::Failure);
    }

    #[test]
    fn refused_config_settings_and_arguments_exit_2() {
        let config = ConfigError::Parse {
            path: file(),
            message: "bad".into(),
        };
        let hint = " (give one with --config FILE)";
        assert_eq!(
            failed(Cause::Config {
                error: config,
                hint
            }),
            Exit::BadInput
        );
        let path = ConfigPathError::Parse {
            path: file(),
            message: "bad".into(),
        };
        assert_eq!(failed(path), Exit::BadInput);
        let sql = SqlError::Config {
            key: "server",
            problem: "empty".into(),
        };
        assert_eq!(failed(sql), Exit::BadInput);
        let backups = BackupFolderError {
            folder: "x".into(),
            problem: "relative".into(),
        };
        assert_eq!(failed(backups), Exit::BadInput);
        assert_eq!(failed(Cause::Faults("explode=1".into())), Exit::BadInput);
        assert_eq!(failed(Cause::Argument("--run zz".into())), Exit::BadInput);
    }

    #[test]
    fn an_install_status_cannot_read_exits_2() {
        let scan = hubup::ScanError::Symlink { path: file() };
        assert_eq!(failed(StatusError::from(scan)), Exit::BadInput);
        let apphost = StatusError::ReadAppHost {
            path: file(),
            source: io(),
        };
        assert_eq!(failed(apphost), Exit::BadInput);
    }

    #[test]
    fn a_fixture_folder_that_cannot_be_written_exits_2() {
        let not_empty = FixtureError::NotEmpty { path: file() };
        assert_eq!(failed(not_empty), Exit::BadInput);
    }

    #[test]
    fn the_demo_sandbox_and_the_commands_own_output_failing_exit_1() {
        assert_eq!(failed(Cause::Sandbox("disk full".into())), Exit::Failure);
        assert_eq!(failed(Cause::Output("broken stdout".into())), Exit::Failure);
    }

    #[test]
    fn a_journaled_command_the_config_does_not_render_exits_2() {
        let mismatch = CommandMismatch {
            step: step(),
            index: 2,
            purpose: "stop site Hub".into(),
            role: "apply",
            template: "stop_site",
            journaled: "evil.exe".into(),
            expected: "appcmd stop site Hub".into(),
        };
        let changed = EngineError::ChangedCommands(vec![mismatch]);
        assert!(changed.to_string().contains("nothing was changed"));
        assert_eq!(failed(changed), Exit::BadInput);
    }

    #[test]
    fn a_command_refused_because_others_can_steer_hubup_exits_2() {
        let problem = AccessProblem {
            path: file(),
            what: "journal".into(),
            writers: vec![AccessWriter {
                id: "uid:1000".into(),
                name: "bob (uid 1000)".into(),
                can: "write it (mode 666)".into(),
            }],
            fix: "chmod 600 journal.redb".into(),
        };
        let refused = Cause::AccessRefused {
            action: "upgrade".into(),
            report: AccessReport {
                problems: vec![problem],
            },
        };
        assert!(refused.to_string().starts_with("refusing to upgrade"));
        assert_eq!(failed(refused), Exit::BadInput);
    }

    #[test]
    fn an_unsigned_or_untrusted_package_exits_2() {
        let unsigned = PackageError::Unsigned {
            package: file(),
            expected: "one of ab12".into(),
        };
        assert_eq!(failed(unsigned), Exit::BadInput);
        let untrusted = PackageError::UntrustedSigner {
            package: file(),
            signer: "someone".into(),
            expected: "one of ab12".into(),
        };
        assert_eq!(failed(untrusted), Exit::BadInput);
        let forged = PackageError::BadSignature {
            package: file(),
            detail: "does not verify".into(),
        };
        assert_eq!(failed(forged), Exit::BadInput);
    }

    #[test]
    fn a_key_file_that_cannot_be_read_or_is_no_key_or_exists_exits_2_and_a_failed_write_1() {
        let unreadable = KeyFileError::Read {
            path: file(),
            source: io(),
        };
        assert_eq!(failed(unreadable), Exit::BadInput);
        assert_eq!(
            failed(KeyFileError::Invalid { path: file() }),
            Exit::BadInput
        );
        let exists = KeyFileError::Write {
            path: file(),
            source: std::io::Error::from(std::io::ErrorKind::AlreadyExists),
        };
        assert_eq!(failed(exists), Exit::BadInput);
        let full = KeyFileError::Write {
            path: file(),
            source: io(),
        };
        assert_eq!(failed(full), Exit::Failure);
    }

    #[test]
    fn signing_an_unsound_package_exits_2_and_failing_to_write_the_signed_one_1() {
        let sign = |error| Cause::Sign {
            package: file(),
            error,
        };
        let hostile = PackageError::DuplicateEntries { package: file() };
        assert_eq!(failed(sign(SignError::Package(hostile))), Exit::BadInput);
        let missing = PackageError::Open {
            package: file(),
            source: io(),
        };
        assert_eq!(failed(sign(SignError::Package(missing))), Exit::BadInput);
        let read = PackageError::Read {
            package: file(),
            source: io(),
        };
        assert_eq!(failed(sign(SignError::Package(read))), Exit::Failure);
        let write = BuildError::Io {
            path: file(),
            source: io(),
        };
        assert_eq!(failed(sign(SignError::Build(write))), Exit::Failure);
    }

    #[test]
    fn a_failing_random_source_exits_1() {
        assert_eq!(failed(Cause::KeyGeneration(io())), Exit::Failure);
    }
    fn unfinished() -> UnfinishedRun {
        UnfinishedRun {
            run: run(),
            from: Version::V4_0,
            to: Version::V4_5,
            machine: "HUB01".into(),
            started_ms: 0,
            started_seq: 1,
            last_planned: Some(Step::from_version(Version::V4_3).unwrap()),
            planned_ops: 120,
            done_ops: 17,
            last_committed: Some(Step::from_version(Version::V4_2).unwrap()),
            rolling_back: None,
            cancelled: false,
            last_seq: 40,
        }
    }

    #[test]
    fn a_ctrl_c_before_the_first_change_exits_130_with_nothing_pending() {
        let end = RunEnd::CancelledBeforeStart {
            version: Version::V4_0,
        };
        assert_eq!(code(Outcome::Run(&end)), Exit::CancelledBeforeStart);
        assert_eq!(Exit::CancelledBeforeStart as u8, 130);
        assert!(
            Exit::CancelledBeforeStart
                .advice()
                .contains("nothing is pending")
        );
    }

    #[test]
    fn a_probe_exits_0_when_every_site_answers_and_9_when_one_does_not() {
        assert_eq!(code(Outcome::Probed { healthy: true }), Exit::Ok);
        assert_eq!(code(Outcome::Probed { healthy: false }), Exit::Unhealthy);
        assert_eq!(Exit::Unhealthy as u8, 9);
    }

    #[test]
    fn an_audit_exits_0_when_the_receipts_agree_and_8_when_they_differ() {
        assert_eq!(code(Outcome::Audited { identical: true }), Exit::Ok);
        assert_eq!(code(Outcome::Audited { identical: false }), Exit::Differs);
    }

    #[test]
    fn an_unreadable_receipt_and_a_run_without_its_start_exit_2() {
        let receipt = ReceiptError {
            path: file(),
            problem: "it is empty".into(),
        };
        assert_eq!(failed(receipt), Exit::BadInput);
        let report = ReportError::NotStarted {
            run: run(),
            source_name: "journal.redb".into(),
        };
        assert_eq!(failed(report), Exit::BadInput);
    }

    #[test]
    fn nothing_to_do_exits_0_so_a_fleet_script_can_run_again() {
        assert_eq!(code(Outcome::NothingToDo), Exit::Ok);
    }

    #[test]
    fn status_exits_0_when_nothing_is_pending_4_unfinished_6_in_progress_1_unknown() {
        assert_eq!(code(Outcome::Status(Pending::Nothing)), Exit::Ok);
        assert_eq!(
            code(Outcome::Status(Pending::Unfinished)),
            Exit::NeedsResume
        );
        assert_eq!(code(Outcome::Status(Pending::InProgress)), Exit::Busy);
        assert_eq!(code(Outcome::Status(Pending::Unknown)), Exit::Failure);
    }

    #[test]
    fn an_unfinished_run_found_by_plan_or_check_exits_4_saying_where_it_stopped() {
        let cause = Cause::Unfinished {
            run: Box::new(unfinished()),
            hint: " --config hub.toml".into(),
        };
        let text = cause.to_string();
        assert!(
            text.contains("step 4.3 -> 4.4 interrupted at op 17/120"),
            "{text}"
        );
        assert!(text.contains("hubup resume --config hub.toml"), "{text}");
        assert!(text.contains("hubup rollback --config hub.toml"), "{text}");
        assert_eq!(failed(cause), Exit::NeedsResume);
    }

    #[test]
    fn every_code_has_advice_for_a_script() {
        for exit in [
            Exit::Ok,
            Exit::Failure,
            Exit::BadInput,
            Exit::RolledBack,
            Exit::NeedsResume,
            Exit::JournalCorrupt,
            Exit::Busy,
            Exit::AwaitingDba,
            Exit::CancelledBeforeStart,
        ] {
            assert!(!exit.advice().is_empty(), "{exit:?}");
        }
    }
}
