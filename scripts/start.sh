#!/usr/bin/env bash
# Builds everything needed (relay, WASM SDK, demo portal) and starts the relay with the demo
# portal on its embedded redb store. Installs its prerequisites first (scripts/setup.sh).
# Environment: SEALROOM_LISTEN (default 127.0.0.1:8080), SEALROOM_DATA_DIR (default ./.work/data).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

scripts/setup.sh
scripts/build-wasm.sh
if [ -x demo-web/build.sh ]; then demo-web/build.sh; fi
say "building the relay (release)"
cargo build --release --locked -p sealroom-server

export SEALROOM_LISTEN="${SEALROOM_LISTEN:-127.0.0.1:8080}"
export SEALROOM_DATA_DIR="${SEALROOM_DATA_DIR:-$PWD/.work/data}"
if [ -d demo-web/dist ]; then export SEALROOM_WEB_DIR="${SEALROOM_WEB_DIR:-$PWD/demo-web/dist}"; fi
mkdir -p "$SEALROOM_DATA_DIR"
say "starting the relay on http://$SEALROOM_LISTEN (data in $SEALROOM_DATA_DIR)"
exec target/release/sealroom-server
