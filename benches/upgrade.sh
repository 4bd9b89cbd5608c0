#!/usr/bin/env bash
# Benchmark: a full 4.0 -> 4.5 `hubup upgrade` of the large fixture (about 18,000 files,
# 800 MiB) against a floor measured in the same run: `cp -a` of the install plus `unzip` of the
# five packages' payloads (what any upgrade must at least read and write). Prints the medians
# and the ratio. The upgrade is timed once per flush mode (HUBUP_FLUSH, src/fsx.rs): `syncfs`
# (one syncfs per batch, what hubup uses on ext4, XFS, Btrfs, F2FS, tmpfs) and `per-file` (an
# fsync of every file and folder, what it uses on FUSE, NFS, CIFS and unknown file systems).
# Not a test: numbers on a shared machine vary, so it reports, never asserts.
# Usage: benches/upgrade.sh [REPS] [WORKDIR]   (defaults: 3, a new temp folder)
#        FLUSH_MODES="per-file" benches/upgrade.sh 1   (only some modes)
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-3}
work=${2:-$(mktemp -d -t hubup-bench.XXXXXX)}
command -v unzip >/dev/null || { echo "unzip is missing: run scripts/setup.sh" >&2; exit 2; }
cargo build --quiet --release
hubup=$PWD/target/release/hubup

echo "workdir $work; generating the large fixture and its packages (once)..." >&2
"$hubup" demo --setup-only --dir "$work/template" >/dev/null
"$hubup" fixture gen --version 4.0 --size large --out "$work/large" >&2
"$hubup" fixture packages --size large --out "$work/packages" >/dev/null

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

modes=${FLUSH_MODES:-syncfs per-file}
floor_times=()
declare -A hubup_times
for rep in $(seq 1 "$reps"); do
  # Floor: copy the install, extract every package.
  rm -rf "$work/floor"; mkdir -p "$work/floor"
  sync
  t0=$(now)
  cp -a "$work/large/Blue Prism" "$work/floor/install"
  for p in "$work"/packages/*.bin; do
    unzip -q -o "$p" -d "$work/floor/$(basename "$p" .bin)"
  done
  sync
  t1=$(now)
  floor_times+=("$(echo "$t1 - $t0" | bc)")
  rm -rf "$work/floor"

  # hubup: a fresh copy of the install (not timed), then the upgrade, durable by design.
  for mode in $modes; do
    run="$work/run"
    rm -rf "$run"; mkdir -p "$run/install"
    cp -a "$work/large/Blue Prism" "$run/install/"
    cp -a "$work/large/inetsrv" "$run/"
    ln -s "$work/packages" "$run/packages"
    cp "$work/template/hubup.toml" "$run/"
    sync
    t0=$(now)
    HUBUP_FLUSH=$mode "$hubup" upgrade --yes --to 4.5 --config "$run/hubup.toml" >/dev/null \
      2>"$work/upgrade.log" || { cat "$work/upgrade.log" >&2; exit 1; }
    sync
    t1=$(now)
    hubup_times[$mode]+="$(echo "$t1 - $t0" | bc) "
    echo "rep $rep: floor ${floor_times[-1]} s, hubup ($mode) $(echo "$t1 - $t0" | bc) s" >&2
  done
done

floor=$(printf '%s\n' "${floor_times[@]}" | median)
files=$(find "$work/large/Blue Prism" -type f | wc -l)
bytes=$(du -sb "$work/large/Blue Prism" | cut -f1)
fs=$(stat -f -c %T "$work")
echo "large fixture: $files files, $bytes bytes; $reps reps on $(nproc) cores; $fs"
echo "floor (cp -a + unzip x5): median ${floor} s"
for mode in $modes; do
  up=$(printf '%s\n' ${hubup_times[$mode]} | median)
  echo "hubup upgrade --to 4.5, HUBUP_FLUSH=$mode: median ${up} s, ratio to floor $(echo "scale=2; $up / $floor" | bc)"
done
rm -rf "$work/run"
