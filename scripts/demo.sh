#!/usr/bin/env bash
# The README's main job. Until the upgrade engine lands it shows the command line.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet --release -- --help
