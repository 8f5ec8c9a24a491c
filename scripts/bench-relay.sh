#!/usr/bin/env bash
# Relay benchmarks (issues 4 and 8): builds the release binaries, runs `sealroom-load` (one upload
# stream through the blob API next to a raw loopback transfer; signed message posts and fetches
# from many concurrent clients next to unsigned /healthz; the mixed workload of posts, syncs and
# uploads with the relay's RSS sampled every second) and rewrites the "Relay" section of
# docs/benchmarks.md between its marker comments, so running it again replaces the previous
# results and leaves the other sections alone.
#
# Extra arguments go to sealroom-load (see `sealroom-load --help`), e.g. a quick run:
#   scripts/bench-relay.sh --upload-mib 256 --chunks 8 --clients 50 --duration 10 --mixed-duration 20
# Set BENCH_RELAY_NO_DOC=1 to print the tables without touching docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

target=${CARGO_TARGET_DIR:-target}
doc=docs/benchmarks.md

say "building release binaries (sealroom-server, sealroom-load)"
cargo build --release --locked -p sealroom-server -p sealroom-tests --bin sealroom-server --bin sealroom-load

tables=$(mktemp)
section=$(mktemp)
trap 'rm -f "$tables" "$section"' EXIT

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
say "running sealroom-load $* (load average now: $load_before)"
"$target/release/sealroom-load" --markdown "$tables" "$@"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
flags=$(grep -m1 '^flags' /proc/cpuinfo | grep -ow 'sha_ni\|avx2' | sort -u | tr '\n' ' ' | sed 's/ $//')
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=""
if ! git diff --quiet HEAD -- server wire 2>/dev/null; then
  dirty=" plus uncommitted changes in server/ or wire/ (work in progress of the team)"
fi

{
  echo "<!-- relay-bench:begin (written by scripts/bench-relay.sh, also run by scripts/bench.sh; rerun it to replace) -->"
  echo
  echo "Measured $(date -u +'%Y-%m-%d %H:%M UTC') by \`scripts/bench-relay.sh${*:+ $*}\`, which builds"
  echo "release binaries and runs"
  echo
  echo '```'
  echo "target/release/sealroom-load --markdown FILE${*:+ $*}"
  echo '```'
  echo
  echo "against the real \`sealroom-server\` release binary (commit \`$commit\`$dirty) on a fresh"
  echo "temporary data directory, started by the load generator with its default configuration"
  echo "(redb store, JSON request logs at \`info\`) except a larger append limit"
  echo "(\`SEALROOM_MAX_CHUNK\`) and space limit (\`SEALROOM_MAX_SPACE_BYTES\`). Load generator and"
  echo "relay share the same machine: $(nproc) cores ($cpu${flags:+, $flags}), load average"
  echo "$load_before before the run and $load_after after it (other engineers building on the same"
  echo "cores). Ratios within one run matter more than absolutes."
  echo
  cat "$tables"
  echo "<!-- relay-bench:end -->"
} > "$section"

if [ "${BENCH_RELAY_NO_DOC:-0}" = 1 ]; then
  cat "$section"
  exit 0
fi

scripts/replace-section.py "$doc" relay-bench Relay "$section"
say "updated the Relay section of $doc"
