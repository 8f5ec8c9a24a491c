#!/usr/bin/env bash
# Builds the demo portal into demo-web/dist: compiles src/*.ts to ES modules (TypeScript, pinned in
# package-lock.json, installed by `npm ci` only when missing or older than the lockfile), copies
# the static files, and copies the WASM SDK from wasm/pkg (built by scripts/build-wasm.sh) to
# dist/sdk. The portal is type-checked against the SDK's own declarations (wasm/pkg/sealroom.d.ts),
# so wasm/pkg must exist first.
set -euo pipefail
cd "$(dirname "$0")"
say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

PKG=../wasm/pkg
for f in sealroom.js sealroom.d.ts sealroom_bg.wasm; do
  if [ ! -f "$PKG/$f" ]; then
    echo "demo-web/build.sh: wasm/pkg/$f is missing; run scripts/build-wasm.sh first" >&2
    exit 1
  fi
done

if [ ! -x node_modules/.bin/tsc ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing demo-web npm packages"
  npm ci --no-audit --no-fund --loglevel=error
fi

rm -rf dist
mkdir -p dist/sdk
say "compiling the demo portal (TypeScript, checked against wasm/pkg/sealroom.d.ts)"
node_modules/.bin/tsc -p tsconfig.json
cp -R static/. dist/
cp "$PKG"/sealroom.js "$PKG"/sealroom_bg.wasm "$PKG"/sealroom.d.ts dist/sdk/
# wasm-bindgen emits snippet modules (the package's own JS, e.g. its IndexedDB store) that
# sealroom.js imports relative to itself.
if [ -d "$PKG/snippets" ]; then cp -R "$PKG/snippets" dist/sdk/; fi
say "demo-web/dist ready (SDK from wasm/pkg: $(stat -c %s dist/sdk/sealroom_bg.wasm) bytes of wasm)"
