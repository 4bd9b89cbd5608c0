//! Build script: tells the tests whether a real SQL Server is configured. With
//! `HUBUP_TEST_MSSQL` set at build time, `cfg(hubup_test_mssql)` is on and the tests in
//! `tests/integration/sql_mssql.rs` run; without it they are compiled as ignored, so a test
//! run reports them as ignored rather than as passed. Nothing else is built here.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(hubup_test_mssql)");
    // Only this variable decides the output; cargo reruns the script (and rebuilds) when it
    // changes, so setting or clearing it takes effect on the next `cargo test`.
    println!("cargo::rerun-if-env-changed=HUBUP_TEST_MSSQL");
    if std::env::var_os("HUBUP_TEST_MSSQL").is_some_and(|value| !value.is_empty()) {
        println!("cargo::rustc-cfg=hubup_test_mssql");
    }
}
