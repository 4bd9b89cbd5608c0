#!/usr/bin/env bash
# The project's test command (README): installs what the tests need, then runs every test.
# Tests that need a real SQL Server run only when HUBUP_TEST_MSSQL is set.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo test --locked "$@"
