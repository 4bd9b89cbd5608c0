#!/usr/bin/env bash
# The README's main job: builds a sandbox 4.0 install (with its IIS config, the five update
# packages, a config file and a journal) under a fresh folder, upgrades it to 4.5 with hubup,
# and prints the audit. Nothing outside that folder is touched; nothing external runs.
# Usage: scripts/demo.sh [DIR]   (default: a new temp folder)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-$(mktemp -d -t hubup-demo.XXXXXX)}
# A first build takes minutes: say so, and let cargo show its progress (a later one is quick).
echo "building hubup (release; the first build takes a few minutes)..." >&2
cargo build --release
exec target/release/hubup demo --dir "$dir"
