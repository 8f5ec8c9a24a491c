#!/usr/bin/env bash
# Checks the IndexedDB store of @sealroom/sdk in headless Chromium against a real relay that
# serves store-check.html and wasm/pkg: reopen, streamed 9 MiB file, passphrase, non-extractable
# wrapping key, no plaintext in the database, and the SDK in a module Web Worker. Prints the page's result line; exits 1 unless
# every item is as expected. Needs chromium and a built wasm/pkg.
#   SEALROOM_RELAY_BIN=... tests/node/browser/store-check.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."
RELAY="${SEALROOM_RELAY_BIN:-${CARGO_TARGET_DIR:-target}/debug/sealroom-server}"
CHROMIUM="${CHROMIUM:-$(command -v chromium || command -v chromium-browser)}"
work=$(mktemp -d)
relay_pid=""
chromium_pid=""
# Chromium runs in a process group of its own: its renderer and helper processes outlive the
# main process for a moment and keep writing into the profile, so stop the whole group and wait
# for it to be gone before removing the work directory.
stop_chromium() {
  [ -n "$chromium_pid" ] || return 0
  kill -- "-$chromium_pid" 2>/dev/null || true
  wait "$chromium_pid" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 -- "-$chromium_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL -- "-$chromium_pid" 2>/dev/null || true
  chromium_pid=""
}
cleanup() {
  stop_chromium
  [ -n "$relay_pid" ] && kill "$relay_pid" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/web" "$work/data"
cp -r wasm/pkg "$work/web/pkg"
cp tests/node/browser/store-check.html "$work/web/index.html"
cp tests/node/browser/worker-check.js "$work/web/worker-check.js"
SEALROOM_LISTEN=127.0.0.1:0 SEALROOM_DATA_DIR="$work/data" SEALROOM_WEB_DIR="$work/web" SEALROOM_LOG=warn \
  "$RELAY" >"$work/relay.log" 2>&1 &
relay_pid=$!
for _ in $(seq 100); do [ -s "$work/data/listen-addr" ] && break; sleep 0.1; done
addr=$(cat "$work/data/listen-addr")
token=$(cat "$work/data/setup-token")
# Chromium does not exit when the page is done: read its log until the result line (at most 180 s)
# and then stop it.
setsid "$CHROMIUM" --headless=new --no-sandbox --disable-gpu --user-data-dir="$work/profile" \
  --enable-logging=stderr --v=0 "http://$addr/index.html?t=$token" >"$work/chromium.log" 2>&1 &
chromium_pid=$!
for _ in $(seq 1800); do
  grep -q 'RESULT' "$work/chromium.log" && break
  kill -0 "$chromium_pid" 2>/dev/null || break
  sleep 0.1
done
result=$(grep -m1 -o 'RESULT[^"]*' "$work/chromium.log" || true)
stop_chromium
echo "$result"
expected=("registered-before=false" "reopened-same-user=true" "reopened-messages=persisted" "download-equal=true"
  "unregistered-code=not_registered" "wrong-pass=storage_locked" "no-pass=storage_locked" "right-pass=ok:false"
  "wrap-key-extractable=false,type=CryptoKey" "plaintext-found=false"
  "worker=in-worker:true,download-equal:true,upload-equal:true,message:true,reopened:true")
for e in "${expected[@]}"; do
  if [[ "$result" != *"$e"* ]]; then echo "store-check: expected $e" >&2; exit 1; fi
done
echo "store-check: ok"
