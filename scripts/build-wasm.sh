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
# simd128: WebAssembly's 128-bit SIMD (every current browser, Node >= 16.4); the four-block
# ChaCha20-Poly1305 of the `sealroom-chacha` crate uses it for file encryption.
RUSTFLAGS_WASM='--cfg getrandom_backend="wasm_js" -C target-feature=+simd128'
# Size (the package has a budget, tests/node/size.test.mjs): no Debug formatting code and no panic
# locations in the module (`{:?}` prints nothing in WASM; nothing user-facing uses it), measured
# -7 % raw / -8 % gzip. Unstable flags, hence RUSTC_BOOTSTRAP=1 on both routes.
RUSTFLAGS_SIZE='-Zfmt-debug=none -Zlocation-detail=none'

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
# SEALROOM_WASM_FEATURES=bench adds the benchmark exports (scripts/bench.sh); the shipped package
# has none.
FEATURES=()
if [ -n "${SEALROOM_WASM_FEATURES:-}" ]; then FEATURES=(--features "$SEALROOM_WASM_FEATURES"); fi
say "building sealroom-wasm for $TARGET (route: $ROUTE)"
case "$ROUTE" in
  rustup)
    RUSTC_BOOTSTRAP=1 RUSTFLAGS="$RUSTFLAGS_WASM $RUSTFLAGS_SIZE" \
      cargo build -p sealroom-wasm "${FEATURES[@]}" --target "$TARGET" --profile release-wasm
    ;;
  debian)
    missing=()
    for p in rustc-web rust-web-src lld; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
    if [ ${#missing[@]} -gt 0 ]; then
      say "installing Debian packages: ${missing[*]}"
      as_root apt-get update -qq
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    # std is rebuilt here, so panics can abort without the formatting machinery
    # (panic=immediate-abort: a panic, which the SDK never does on purpose, traps as `unreachable`).
    RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 \
      CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld \
      RUSTFLAGS="$RUSTFLAGS_WASM $RUSTFLAGS_SIZE -Zunstable-options -Cpanic=immediate-abort" \
      cargo build -p sealroom-wasm "${FEATURES[@]}" --target "$TARGET" --profile release-wasm -Zbuild-std=std,panic_abort
    ;;
  *) echo "unknown wasm route '$ROUTE' in $ROUTE_FILE" >&2; exit 1 ;;
esac

WASM="$CARGO_TARGET_DIR/$TARGET/release-wasm/sealroom_wasm.wasm"
OUT=wasm/pkg
rm -rf "$OUT"
wasm-bindgen --target web --out-dir "$OUT" --out-name sealroom "$WASM"
# wasm-opt (binaryen 132, npm, pinned in wasm/tools; scripts/setup.sh installs it) with the pass
# set measured to shrink both the raw and the gzip size: duplicate-function elimination, -O1 and
# merging of similar functions, to a fixed point. -Os/-Oz/-O2 cut the raw size more but make the
# gzip 9-12 % larger (their inlining and code motion compress worse), and the gzip is what
# browsers download. Debian's binaryen 108 predates what current rustc emits (externref tables)
# and is not used. SEALROOM_WASM_OPT=0 skips the step.
WASM_OPT=wasm/tools/node_modules/.bin/wasm-opt
if [ "${SEALROOM_WASM_OPT:-1}" = 1 ]; then
  if [ -x "$WASM_OPT" ]; then
    say "wasm-opt --duplicate-function-elimination -O1 --merge-similar-functions --converge"
    "$WASM_OPT" --duplicate-function-elimination -O1 --merge-similar-functions --converge \
      --enable-bulk-memory --enable-sign-ext --enable-mutable-globals \
      --enable-nontrapping-float-to-int --enable-reference-types --enable-multivalue --enable-simd \
      -o "$OUT/sealroom_bg.opt.wasm" "$OUT/sealroom_bg.wasm"
    mv "$OUT/sealroom_bg.opt.wasm" "$OUT/sealroom_bg.wasm"
  else
    say "wasm-opt not installed (scripts/setup.sh installs it into wasm/tools): module not optimised"
  fi
fi
# Drop the function-name section (about 0.7 MB; stack traces then show wasm-function[N]). Not
# `strip = true` in the profile: wasm-bindgen reads the target_features section that strip drops.
if [ "${SEALROOM_WASM_KEEP_NAMES:-0}" != 1 ]; then
  node wasm/js/strip-names.mjs "$OUT/sealroom_bg.wasm"
fi
cp wasm/package.json "$OUT/package.json"
# Node entry: instantiates the module from the package's own .wasm at import time.
cp wasm/js/node.js "$OUT/node.js"
# Declarations: a global `Symbol.dispose` in sealroom.d.ts (lib es2022 + dom projects), and
# node.d.ts, the module's declarations without wasm-bindgen's DOM-typed loader plus fileStore
# (Node-only projects, no DOM lib; tests/node/types.test.mjs).
node wasm/js/declarations.mjs "$OUT"
# Test-only module (tests/node/chacha-wasm.test.mjs): sealroom-chacha's RFC 8439, Wycheproof and
# crate-equality checks compiled with the same target, profile and RUSTFLAGS (+simd128) as the
# package above, so they run on the simd128 code browsers run. Not part of wasm/pkg.
# SEALROOM_WASM_SELFTEST=0 skips it.
if [ "${SEALROOM_WASM_SELFTEST:-1}" = 1 ]; then
  say "building sealroom-chacha-selftest for $TARGET (route: $ROUTE)"
  case "$ROUTE" in
    rustup)
      RUSTC_BOOTSTRAP=1 RUSTFLAGS="$RUSTFLAGS_WASM $RUSTFLAGS_SIZE" \
        cargo build -p sealroom-chacha-selftest --target "$TARGET" --profile release-wasm
      ;;
    debian)
      RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 \
        CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld \
        RUSTFLAGS="$RUSTFLAGS_WASM $RUSTFLAGS_SIZE -Zunstable-options -Cpanic=immediate-abort" \
        cargo build -p sealroom-chacha-selftest --target "$TARGET" --profile release-wasm -Zbuild-std=std,panic_abort
      ;;
  esac
  SELFTEST_OUT="$CARGO_TARGET_DIR/chacha-selftest"
  rm -rf "$SELFTEST_OUT"
  wasm-bindgen --target nodejs --out-dir "$SELFTEST_OUT" --out-name chacha_selftest \
    "$CARGO_TARGET_DIR/$TARGET/release-wasm/sealroom_chacha_selftest.wasm"
  say "chacha selftest module ready: $SELFTEST_OUT"
fi
raw=$(stat -c %s "$OUT/sealroom_bg.wasm")
gz=$(gzip -9 -c "$OUT/sealroom_bg.wasm" | wc -c)
say "wasm/pkg ready: sealroom_bg.wasm $raw bytes raw, $gz bytes gzip (budget 1950000 raw, 690000 gzip)"
if [ "$raw" -gt 1950000 ] || [ "$gz" -gt 690000 ]; then
  say "sealroom_bg.wasm is OVER the size budget (tests/node/size.test.mjs fails)"
fi
