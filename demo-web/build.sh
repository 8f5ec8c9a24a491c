#!/usr/bin/env bash
# Builds the demo portal into demo-web/dist: compiles src/*.ts to ES modules (TypeScript, pinned in
# package-lock.json, installed by `npm ci` only when missing or older than the lockfile), copies
# the static files, and copies the WASM SDK from wasm/pkg (built by scripts/build-wasm.sh) to
# dist/sdk. Without wasm/pkg the portal still builds and shows that the SDK is missing.
set -euo pipefail
cd "$(dirname "$0")"
say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

if [ ! -x node_modules/.bin/tsc ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing demo-web npm packages"
  npm ci --no-audit --no-fund --loglevel=error
fi

rm -rf dist
mkdir -p dist
say "compiling the demo portal (TypeScript)"
node_modules/.bin/tsc -p tsconfig.json
cp -R static/. dist/

PKG=../wasm/pkg
if [ -f "$PKG/sealroom.js" ] && [ -f "$PKG/sealroom_bg.wasm" ]; then
  mkdir -p dist/sdk
  cp "$PKG"/sealroom.js "$PKG"/sealroom_bg.wasm dist/sdk/
  for f in "$PKG"/sealroom.d.ts "$PKG"/package.json; do [ -f "$f" ] && cp "$f" dist/sdk/; done
  # wasm-bindgen may emit snippet modules for inline JS; they are imported relative to sealroom.js.
  if [ -d "$PKG/snippets" ]; then cp -R "$PKG/snippets" dist/sdk/; fi
  say "demo-web/dist ready (SDK from wasm/pkg, $(stat -c %s dist/sdk/sealroom_bg.wasm) bytes wasm)"
else
  say "demo-web/dist ready WITHOUT the SDK: run scripts/build-wasm.sh first (wasm/pkg missing)"
fi
