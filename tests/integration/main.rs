//! hubup's integration tests: one test binary, one module per area, one shared `support`
//! (`tests/support/`). One binary links the library and the test dependencies once instead of
//! once per file, and lets the test harness run every test in parallel with the others (the
//! long crash tests overlap the short ones). Run one area with a filter, for example
//! `cargo test --test integration journal_` or `cargo test --test integration sql_execute::`.
//!
//! New tests go into the module of their area here, never into a new file directly under
//! `tests/` (that would make a test binary of its own; `harness` checks there is none).

#[path = "../support/mod.rs"]
mod support;

mod app_values;
mod backups;
mod cli_inputs;
mod confirmation;
mod engine_crash;
mod engine_recovery;
mod engine_upgrade;
mod fixture_packages;
mod harness;
mod host_state;
mod init;
mod journal_cli;
mod journal_crash;
mod journal_golden;
mod journal_golden_variants;
mod journal_hostile;
mod journal_property;
mod journal_secrets;
mod journal_tamper;
mod local_changes;
mod operator_cli;
mod package_cli;
mod package_fuzz;
mod package_interop;
mod package_memory;
mod package_read;
mod plan_snapshot;
mod probe;
mod rabbitmq;
mod report;
mod security;
mod settings_dotnet;
mod sql_execute;
mod sql_mssql;
mod tds_standin;
mod vbo;
