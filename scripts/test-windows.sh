#!/usr/bin/env bash
# Runs the test suite of the Windows build (x86_64-pc-windows-gnu) under Wine: the production
# target is Windows Server, and this is how its code paths (paths, folder flushes, locks,
# renames) get exercised on Linux. Prepares Wine first (../shared/wine/setup.sh). Tests that
# are Unix-only by nature (SIGKILL, `sh` command templates) are compiled out on Windows.
# Usage: scripts/test-windows.sh [cargo test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
setup=../shared/wine/setup.sh
[ -f "$setup" ] || { echo "missing $setup (the shared folder beside this checkout)" >&2; exit 2; }
# A Wine prefix of this checkout's own (made under target/ on first use), so that nothing else
# using Wine on the machine (another checkout's tests, a wineboot updating ~/.wine) changes the
# prefix while these tests start processes in it.
export WINEPREFIX="${WINEPREFIX:-$PWD/target/wine-prefix}"
# wineboot makes the prefix but not the folder above it (target/ does not exist in a fresh
# checkout before the first build).
mkdir -p "$(dirname "$WINEPREFIX")"
bash "$setup"
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=/usr/lib/wine/wine64 WINEDEBUG=-all
cargo test --locked --target x86_64-pc-windows-gnu "$@"
