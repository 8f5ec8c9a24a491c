#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ briefly (FUZZ_SECONDS each, default 20) against a
# scratch copy of its committed corpus (fuzz/corpus/<target>/ is never modified here). Fails
# with the crashing input's path on any crash, panic, timeout or OOM. Without a nightly
# toolchain it prints a message and exits 0: the corpora still run as stable tests
# (cargo test -p sealroom-fuzz-targets).
#
# Environment: FUZZ_SECONDS (per target), FUZZ_TARGETS (space-separated subset),
# FUZZ_TARGET_DIR (build directory, default target/fuzz, gitignored).
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz: nightly toolchain not found, skipping cargo fuzz (the corpora still run as stable tests)"
  exit 0
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  say "installing cargo-fuzz"
  cargo install --quiet cargo-fuzz --version 0.13.2 --locked || exit 1
fi

SECONDS_PER_TARGET=${FUZZ_SECONDS:-20}
TARGET_DIR=${FUZZ_TARGET_DIR:-$PWD/target/fuzz}
TARGETS=${FUZZ_TARGETS:-sealed_file wire_decode mls_incoming relay_request client_response}
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT

# No sanitizer: every crate of ours forbids unsafe code, and ASan doubles build time and
# memory; libFuzzer still finds panics, hangs (-timeout) and OOMs (-rss_limit_mb).
FUZZ_FLAGS=(--sanitizer none --target-dir "$TARGET_DIR")

say "building fuzz targets (nightly, target dir $TARGET_DIR)"
start=$(date +%s)
(cd fuzz && cargo +nightly fuzz build "${FUZZ_FLAGS[@]}") || { echo "fuzz: build failed"; exit 1; }
echo "fuzz: build took $(( $(date +%s) - start ))s"

failed=()
for t in $TARGETS; do
  work="$SCRATCH/$t"
  mkdir -p "$work/corpus" "$work/artifacts"
  cp -r "fuzz/corpus/$t/." "$work/corpus/" 2>/dev/null || true
  say "fuzz $t for ${SECONDS_PER_TARGET}s"
  log="$work/log"
  if (cd fuzz && cargo +nightly fuzz run "${FUZZ_FLAGS[@]}" "$t" "$work/corpus" -- \
      -max_total_time="$SECONDS_PER_TARGET" -timeout=20 -rss_limit_mb=2048 \
      -artifact_prefix="$work/artifacts/" -print_final_stats=1) >"$log" 2>&1; then
    grep -E '^stat::number_of_executed_units|^stat::average_exec_per_sec|^#[0-9]+.*DONE' "$log" | sed "s/^/fuzz: $t: /"
  else
    tail -40 "$log"
    keep="target/fuzz-artifacts/$t"
    mkdir -p "$keep"
    cp "$work/artifacts/"* "$keep/" 2>/dev/null || true
    for a in "$keep"/*; do [ -e "$a" ] && echo "fuzz: $t: crashing input: $a"; done
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failed targets: ${failed[*]}"
  exit 1
fi
echo "fuzz: all targets ran ${SECONDS_PER_TARGET}s without a finding"
