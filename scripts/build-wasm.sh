#!/usr/bin/env bash
# Builds the sealroom-wasm crate for wasm32-unknown-unknown and runs wasm-bindgen on it, giving an
# ES-module package in wasm/pkg (usable from browsers, workers and Node).
#
# Two routes, chosen here so nobody has to know which ran:
#   rustup:  the toolchain has (or can add) the wasm32-unknown-unknown target;
#   debian:  no rustup target can be downloaded: Debian's rustc-web + rust-web-src + lld, with
#            std rebuilt from source (-Zbuild-std).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

TARGET=wasm32-unknown-unknown
export CARGO_TARGET_DIR="${SEALROOM_WASM_TARGET_DIR:-$PWD/target/wasm${SEALROOM_WASM_ROUTE:+-$SEALROOM_WASM_ROUTE}}"
mkdir -p "$CARGO_TARGET_DIR"
ROUTE_FILE="$CARGO_TARGET_DIR/.route"
# getrandom 0.3/0.4 select their browser backend through this cfg.
RUSTFLAGS_WASM='--cfg getrandom_backend="wasm_js"'

pick_route() {
  # SEALROOM_WASM_ROUTE=rustup|debian forces a route (to check both on one machine).
  if [ -n "${SEALROOM_WASM_ROUTE:-}" ]; then echo "$SEALROOM_WASM_ROUTE"; return; fi
  if [ -f "$ROUTE_FILE" ]; then cat "$ROUTE_FILE"; return; fi
  local route=debian
  if command -v rustup >/dev/null 2>&1; then
    if rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
      route=rustup
    elif timeout 120 rustup target add "$TARGET" >/dev/null 2>&1; then
      route=rustup
    fi
  fi
  echo "$route" > "$ROUTE_FILE"
  echo "$route"
}

ROUTE=$(pick_route)
say "building sealroom-wasm for $TARGET (route: $ROUTE)"
case "$ROUTE" in
  rustup)
    RUSTFLAGS="$RUSTFLAGS_WASM" cargo build -p sealroom-wasm --target "$TARGET" --profile release-wasm
    ;;
  debian)
    missing=()
    for p in rustc-web rust-web-src lld; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    if [ ${#missing[@]} -gt 0 ]; then
      say "installing Debian packages: ${missing[*]}"
      as_root apt-get update -qq
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 \
      CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld \
      RUSTFLAGS="$RUSTFLAGS_WASM" \
      cargo build -p sealroom-wasm --target "$TARGET" --profile release-wasm -Zbuild-std=std,panic_abort
    ;;
  *) echo "unknown wasm route '$ROUTE' in $ROUTE_FILE" >&2; exit 1 ;;
esac

WASM="$CARGO_TARGET_DIR/$TARGET/release-wasm/sealroom_wasm.wasm"
OUT=wasm/pkg
rm -rf "$OUT"
wasm-bindgen --target web --out-dir "$OUT" --out-name sealroom "$WASM"
# wasm-opt is opt-in: Debian's binaryen 108 predates what current rustc emits (externref tables)
# and produces modules Node 20 rejects. SEALROOM_WASM_OPT=1 runs it where binaryen is newer.
if [ "${SEALROOM_WASM_OPT:-0}" = 1 ] && command -v wasm-opt >/dev/null 2>&1; then
  wasm-opt -Oz --enable-bulk-memory --enable-sign-ext --enable-mutable-globals --enable-nontrapping-float-to-int --enable-reference-types --enable-multivalue -o "$OUT/sealroom_bg.opt.wasm" "$OUT/sealroom_bg.wasm"
  mv "$OUT/sealroom_bg.opt.wasm" "$OUT/sealroom_bg.wasm"
fi
cp wasm/package.json "$OUT/package.json"
# Node entry: instantiates the module from the package's own .wasm at import time.
cp wasm/js/node.js "$OUT/node.js"
printf 'export * from "./sealroom.js";\nexport { default } from "./sealroom.js";\n' > "$OUT/node.d.ts"
raw=$(stat -c %s "$OUT/sealroom_bg.wasm")
gz=$(gzip -9 -c "$OUT/sealroom_bg.wasm" | wc -c)
say "wasm/pkg ready: sealroom_bg.wasm $raw bytes raw, $gz bytes gzip"
