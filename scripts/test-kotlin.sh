#!/usr/bin/env bash
# Kotlin binding tests against a real relay. Builds what it needs: the sealroom-ffi cdylib and
# the Kotlin/Swift bindings (failing if they drifted from the committed ffi/bindings), the debug
# relay binary, and the Kotlin test jar (kotlinc from tests/kotlin/node_modules, installed by
# scripts/setup.sh); then starts a relay in a scratch directory and runs tests/kotlin on Java
# with JNA. Output is TAP-like (`ok N name`, `# pass N`, `# fail N`); exit status non-zero on
# any failure.
#
# SEALROOM_LARGE_FILE_MIB=N additionally measures (no assertions) an N MiB upload and download
# through the bindings on a 64 MiB JVM heap against a second relay, printing throughput and peak
# RSS. Not part of the default run.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

root=$(pwd)
target_dir=${CARGO_TARGET_DIR:-$root/target}
case "$target_dir" in /*) ;; *) target_dir="$root/$target_dir" ;; esac
export CARGO_TARGET_DIR=$target_dir
kotlinc="$root/tests/kotlin/node_modules/kotlin-compiler/bin/kotlinc"
jna=${SEALROOM_JNA_JAR:-/usr/share/java/jna.jar}
[ -x "$kotlinc" ] || { echo "kotlinc missing: run scripts/setup.sh" >&2; exit 1; }
[ -f "$jna" ] || { echo "JNA missing ($jna): run scripts/setup.sh (Debian libjna-java)" >&2; exit 1; }

# 1. Native library + drift check of the generated bindings.
lib=$(scripts/build-ffi.sh --check | tail -n 1)
lib_dir=$(cd "$(dirname "$lib")" && pwd)

# 2. The relay.
say "building the relay (debug)"
cargo "${DEBUG_BUILD[@]}" --quiet >&2
relay_bin="$target_dir/debug/sealroom-server"

# 3. The Kotlin test jar, rebuilt only when its sources or the compiler changed.
out="$target_dir/kotlin-tests"
mkdir -p "$out"
# The ffi crate's own API plus the core and wire records it exports as they are (own packages).
sources=(ffi/bindings/kotlin/sealroom/sealroom_ffi.kt ffi/bindings/kotlin/sealroom/core/sealroom_core.kt
  ffi/bindings/kotlin/sealroom/wire/sealroom_wire.kt tests/kotlin/ClientTest.kt tests/kotlin/LargeFile.kt)
stamp=$( (cat "${sources[@]}"; cat tests/kotlin/package-lock.json; echo "$jna") | sha256sum | cut -d' ' -f1)
if [ ! -f "$out/tests.jar" ] || [ "$(cat "$out/stamp" 2>/dev/null)" != "$stamp" ]; then
  say "compiling the Kotlin tests"
  rm -f "$out/tests.jar" "$out/stamp"
  "$kotlinc" -nowarn -cp "$jna" -include-runtime -d "$out/tests.jar" "${sources[@]}" 2>&1 \
    | grep -v '^warning: ' >&2 || true
  [ -f "$out/tests.jar" ] || { echo "kotlinc failed" >&2; exit 1; }
  echo "$stamp" > "$out/stamp"
fi

# 4. A fresh relay on a free port in its own scratch directory.
scratch=$(mktemp -d)
relay_pid=""
stop_relay() {
  if [ -n "$relay_pid" ]; then kill "$relay_pid" 2>/dev/null || true; wait "$relay_pid" 2>/dev/null || true; fi
  relay_pid=""
}
cleanup() {
  stop_relay
  rm -rf "$scratch"
}
trap cleanup EXIT
# start_relay NAME QUOTA_BYTES: sets relay_dir, relay_url, setup_token.
start_relay() {
  relay_dir="$scratch/$1"
  mkdir -p "$relay_dir/data" "$relay_dir/clients"
  (
    cd "$relay_dir"
    SEALROOM_LISTEN=127.0.0.1:0 SEALROOM_DATA_DIR="$relay_dir/data" SEALROOM_LOG=warn \
      SEALROOM_MAX_SPACE_BYTES=$2 exec "$relay_bin" > "$relay_dir/relay.log" 2>&1
  ) &
  relay_pid=$!
  for _ in $(seq 1 300); do
    [ -s "$relay_dir/data/listen-addr" ] && [ -s "$relay_dir/data/setup-token" ] && break
    kill -0 "$relay_pid" 2>/dev/null || { cat "$relay_dir/relay.log" >&2; echo "relay exited" >&2; exit 1; }
    sleep 0.1
  done
  local addr
  addr=$(cat "$relay_dir/data/listen-addr")
  for _ in $(seq 1 100); do
    curl -fsS "http://$addr/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  relay_url="http://$addr"
  setup_token=$(cat "$relay_dir/data/setup-token")
  say "relay at $relay_url"
}

# 5. The tests, with a small per-space quota to exceed on purpose.
quota=$((8 * 1024 * 1024))
start_relay suite "$quota"
status=0
SEALROOM_RELAY_URL="$relay_url" SEALROOM_SETUP_TOKEN="$setup_token" \
SEALROOM_TEST_DIR="$relay_dir/clients" SEALROOM_MAX_SPACE_BYTES=$quota \
  java -Djna.library.path="$lib_dir" -cp "$out/tests.jar:$jna" ClientTestKt || status=$?
if [ "$status" -ne 0 ]; then
  echo "--- relay log (last 30 lines) ---" >&2
  tail -n 30 "$relay_dir/relay.log" >&2
fi
stop_relay

# 6. Optional measurement of one large file.
if [ -n "${SEALROOM_LARGE_FILE_MIB:-}" ]; then
  start_relay large $((SEALROOM_LARGE_FILE_MIB * 2 * 1024 * 1024))
  SEALROOM_RELAY_URL="$relay_url" SEALROOM_SETUP_TOKEN="$setup_token" \
  SEALROOM_TEST_DIR="$relay_dir/clients" SEALROOM_LARGE_FILE_MIB="$SEALROOM_LARGE_FILE_MIB" \
    java -Xmx64m -Djna.library.path="$lib_dir" -cp "$out/tests.jar:$jna" LargeFileKt || status=$?
  stop_relay
fi
exit "$status"
