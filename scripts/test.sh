#!/usr/bin/env bash
# Runs the whole test suite: formatting, lints, every Rust test (unit, integration, end-to-end
# against the real relay binary, doc tests), the WASM build and its Node tests. Installs what it
# needs first (scripts/setup.sh). Also: the IndexedDB store check and the demo portal in headless
# Chromium, the HTTP API fuzzing (schemathesis), short cargo-fuzz runs of every fuzz target
# (nightly only), the Kotlin bindings (drift check and suite). Ends with one line
# "total: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

LOG_DIR=target/test-logs
mkdir -p "$LOG_DIR"
passed=0
failed=0
failed_steps=()

# step NAME COMMAND...: runs a step, keeps its output in a log, counts a failing step as a failure.
# Each step's wall time goes into the summary at the end.
timings=()
step() {
  local name=$1; shift
  say "$name"
  local log="$LOG_DIR/$name.log" started=$SECONDS status=0
  "$@" 2>&1 | tee "$log" || status=1
  timings+=("$name $((SECONDS - started))s ($(free_disk) free)")
  [ $status -eq 0 ] && return 0
  failed_steps+=("$name")
  return 1
}

# Adds up "test result: ... N passed; M failed" lines (cargo) and "# pass N / # fail N" (node TAP).
count_cargo() {
  local p f
  p=$(grep -Eo '[0-9]+ passed; [0-9]+ failed' "$1" | awk '{s+=$1} END {print s+0}')
  f=$(grep -Eo '[0-9]+ passed; [0-9]+ failed' "$1" | awk '{s+=$3} END {print s+0}')
  passed=$((passed + p)); failed=$((failed + f))
}
count_tap() {
  local p f
  p=$(grep -E '^# pass [0-9]+' "$1" | awk '{s+=$3} END {print s+0}')
  f=$(grep -E '^# fail [0-9]+' "$1" | awk '{s+=$3} END {print s+0}')
  passed=$((passed + p)); failed=$((failed + f))
}

# Free space on the file system of target/ (human-readable), shown after every step: CI disks are
# small and shared, and a full disk shows up as odd failures (SeaweedFS turning read-only).
free_disk() { df -h . | awk 'NR == 2 { print $4 }'; }
# Under CI (or with SEALROOM_TEST_PRUNE=1) build output no later step needs is deleted as soon as
# its last user is done: the SeaweedFS data after the scale-out run, the WASM build directory
# after the browser tests (wasm/pkg stays), the fuzz build after the fuzz step. A local run keeps
# them (rebuilding them costs minutes).
PRUNE=${SEALROOM_TEST_PRUNE:-$([ "${CI:-}" = true ] && echo 1 || echo 0)}
prune() {
  [ "$PRUNE" = 1 ] || return 0
  local before; before=$(free_disk)
  "$@"
  say "pruned ($*): $before -> $(free_disk) free"
}

# A one-off run gains nothing from incremental caches and CI disks are small (a long-lived target
# dir had 15 GB of them); set CARGO_INCREMENTAL=1 to keep them.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
say "disk: $(free_disk) free at the start"

step setup scripts/setup.sh || { echo "setup failed"; echo "total: 0 passed, 1 failed"; exit 1; }
step fmt cargo fmt --all -- --check || failed=$((failed + 1))
step clippy cargo clippy --workspace --all-targets --locked -- -D warnings || failed=$((failed + 1))
# End-to-end tests start the real relay binary: build it before the tests run.
# One build of bins, tests and examples with the feature set cargo test uses (scripts/lib.sh).
step build cargo "${DEBUG_BUILD[@]}" || failed=$((failed + 1))
source scripts/services/postgres.sh || say "PostgreSQL did not start: the tests that need it fail under CI"
source scripts/services/seaweedfs.sh || say "SeaweedFS did not start: the S3 tests will fail"
source scripts/services/clamav.sh || say "ClamAV did not start: the scanner tests will fail"
# Interop: an independent decryptor written from docs/format.md in Python (pinned `cryptography`
# in target/py, scripts/setup.sh) opens every vector of both versions and files the SDK seals
# (target/debug/sealfile, from the build step). Under CI=true a missing package fails.
before=$failed
step python-interop target/py/bin/python tests/python/test_format_interop.py
py_ok=$?
count_tap "$LOG_DIR/python-interop.log"
[ $py_ok -ne 0 ] && [ $failed -eq $before ] && failed=$((failed + 1))
before=$failed
step cargo-test cargo test --workspace --locked --no-fail-fast
cargo_ok=$?
count_cargo "$LOG_DIR/cargo-test.log"
# A test binary that failed to build or crashed reports no "N failed": still count it.
[ $cargo_ok -ne 0 ] && [ $failed -eq $before ] && failed=$((failed + 1))
# The end-to-end tests again on the scale-out deployment: every relay they start keeps its
# records in its own PostgreSQL schema and its blobs in the SeaweedFS bucket (tests/src/relay/
# backends.rs). Only the test binaries that start relays through the harness: not the unit tests
# of other crates, not openapi_routes and relay_notify (no relay), relay_tls (its own relay
# process), relay_migrate (sled -> redb only) and scale_out* (already on PostgreSQL and S3).
# relay_retention, relay_revoke and relay_secrets read and roll back the relay's store and blobs
# through tests/src/backend.rs, so they run here on PostgreSQL + S3 as well. relay_backup runs
# too: its online backup test "hung" only while SeaweedFS was failing (each 64 KiB append then
# waits out the S3 client's retries, 10 attempts with timeouts, and ends in a 500); against a
# healthy SeaweedFS it passes in seconds.
# `--workspace` keeps cargo-test's feature set, so nothing is built again. Every file of
# tests/tests/ is a module of the one test binary `e2e`; the skipped modules are named here.
before=$failed
step e2e-scale-out env SEALROOM_TEST_BACKEND=postgres SEALROOM_TEST_BLOBS=s3 \
  cargo test --workspace --locked --no-fail-fast --test e2e -- \
  --skip openapi_routes:: --skip relay_notify:: --skip relay_tls:: --skip relay_migrate:: \
  --skip scale_out:: --skip scale_out_live::
e2e_ok=$?
count_cargo "$LOG_DIR/e2e-scale-out.log"
[ $e2e_ok -ne 0 ] && [ $failed -eq $before ] && failed=$((failed + 1))
# Nothing after this step uses S3: stop SeaweedFS and drop its data.
prune sealroom_seaweedfs_stop
if step wasm-build scripts/build-wasm.sh; then
  before=$failed
  step node-test node --test --test-reporter=tap tests/node/
  node_ok=$?
  count_tap "$LOG_DIR/node-test.log"
  [ $node_ok -ne 0 ] && [ $failed -eq $before ] && failed=$((failed + 1))
  # The IndexedDB store of the package in headless Chromium against a real relay (one check).
  if step wasm-store-check tests/node/browser/store-check.sh; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
  fi
  # The demo portal in Debian Chromium (playwright-core): two contexts, staff and customer.
  if step demo-build demo-web/build.sh; then
    before=$failed
    step browser bash -c 'cd tests/browser && node --test --test-reporter=tap --test-concurrency=1'
    browser_ok=$?
    count_tap "$LOG_DIR/browser.log"
    [ $browser_ok -ne 0 ] && [ $failed -eq $before ] && failed=$((failed + 1))
  else
    failed=$((failed + 1))
  fi
else
  failed=$((failed + 1))
fi
# The package is in wasm/pkg; the build directory (std built from source on some routes) is not
# needed again.
[ -z "${SEALROOM_WASM_TARGET_DIR:-}" ] && prune rm -rf target/wasm
# HTTP API fuzzing: schemathesis against docs/api/openapi.yaml and the real relay (about 3 min);
# counts the operations without / with a failure ("api-fuzz: N passed, M failed").
before=$failed
step api-fuzz scripts/test-api.sh
api_ok=$?
read -r p f < <(sed -n 's/^api-fuzz: \([0-9]*\) passed, \([0-9]*\) failed$/\1 \2/p' "$LOG_DIR/api-fuzz.log" | tail -1)
passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
[ $api_ok -ne 0 ] && [ $failed -eq $before ] && failed=$((failed + 1))
# cargo fuzz: each target briefly (FUZZ_SECONDS, default 20) against a scratch copy of its
# corpus; skipped with a message without nightly. The corpora also replay in cargo-test.
if step fuzz scripts/fuzz.sh; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
fi
[ -z "${FUZZ_TARGET_DIR:-}" ] && prune rm -rf target/fuzz
# Kotlin bindings: drift check of ffi/bindings, then the Kotlin suite against a real relay.
before=$failed
step kotlin scripts/test-kotlin.sh
kotlin_ok=$?
count_tap "$LOG_DIR/kotlin.log"
[ $kotlin_ok -ne 0 ] && [ $failed -eq $before ] && failed=$((failed + 1))

say "time per step: $(IFS=,; echo "${timings[*]}" | sed 's/,/, /g'); ${SECONDS}s in all"
say "disk: target/ holds $(du -sh target 2>/dev/null | cut -f1); $(free_disk) free"
if [ ${#failed_steps[@]} -gt 0 ]; then
  say "failed steps: ${failed_steps[*]} (logs in $LOG_DIR)"
fi
echo "total: $passed passed, $failed failed"
[ ${#failed_steps[@]} -eq 0 ] && [ "$failed" -eq 0 ]
