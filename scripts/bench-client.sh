#!/usr/bin/env bash
# SDK client benchmark (issue 5): builds the release binaries, runs `sealroom-client-bench`
# (files of 64 MiB and 1 GiB uploaded and downloaded through the real relay by the Rust client,
# next to in-memory seal/open of the same bytes, with the client process's peak RSS) and
# rewrites the "SDK client" section of docs/benchmarks.md between its marker comments.
#
# Extra arguments go to sealroom-client-bench, e.g. `scripts/bench-client.sh --mib 16,256`.
# Set BENCH_NO_DOC=1 to print the tables without touching docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

target=${CARGO_TARGET_DIR:-target}
say "building release binaries (sealroom-server, sealroom-client-bench)"
cargo build --release --locked -p sealroom-server -p sealroom-tests \
  --bin sealroom-server --bin sealroom-client-bench

tables=$(mktemp)
section=$(mktemp)
trap 'rm -f "$tables" "$section"' EXIT
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
say "running sealroom-client-bench $* (load average now: $load_before)"
"$target/release/sealroom-client-bench" --markdown "$tables" "$@"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')

{
  echo "<!-- client-bench:begin (written by scripts/bench-client.sh; rerun it to replace) -->"
  echo
  echo "Measured $(date -u +'%Y-%m-%d %H:%M UTC') by \`scripts/bench-client.sh${*:+ $*}\` (release"
  echo "build, commit \`$(git rev-parse --short HEAD 2>/dev/null || echo unknown)\`): a staff device"
  echo "uploads each file through the real relay (loopback HTTP, 4 MiB signed appends) while sealing"
  echo "it, and a customer device downloads it (4 MiB ranged GETs) while opening and checking it;"
  echo "the bytes are generated and hashed on the fly, never held in memory. Client and relay share"
  echo "$(nproc) cores ($cpu); load average $load_before before, $load_after after."
  echo
  cat "$tables"
  echo "<!-- client-bench:end -->"
} > "$section"

if [ "${BENCH_NO_DOC:-0}" = 1 ]; then
  cat "$section"
  exit 0
fi
scripts/replace-section.py docs/benchmarks.md client-bench "SDK client (Rust, through the relay)" "$section"
say "updated docs/benchmarks.md"
