#!/usr/bin/env bash
# Builds the native library of sealroom-ffi (cdylib, debug) and generates its Kotlin and Swift
# bindings in uniffi library mode with the workspace's own `uniffi-bindgen` binary (same uniffi
# version as the library, from Cargo.lock).
#
#   scripts/build-ffi.sh          regenerate ffi/bindings/{kotlin,swift} (commit the result)
#   scripts/build-ffi.sh --check  generate into a temporary directory and fail if it differs
#                                 from the committed ffi/bindings (drift check, used by tests)
#
# Prints the path of the built library on the last line of stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

mode=${1:-write}
target_dir=${CARGO_TARGET_DIR:-target}
say "building sealroom-ffi (cdylib + uniffi-bindgen)"
# The shared debug build (scripts/lib.sh) includes the cdylib and uniffi-bindgen.
cargo "${DEBUG_BUILD[@]}" --quiet >&2

case "$(uname -s)" in
  Darwin) lib="$target_dir/debug/libsealroom_ffi.dylib" ;;
  *) lib="$target_dir/debug/libsealroom_ffi.so" ;;
esac
[ -f "$lib" ] || { echo "missing $lib" >&2; exit 1; }

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# --no-format: no ktlint/swiftformat, so the output is the same on every machine.
"$target_dir/debug/uniffi-bindgen" generate --library "$lib" --language kotlin \
  --out-dir "$out/kotlin" --no-format >&2
"$target_dir/debug/uniffi-bindgen" generate --library "$lib" --language swift \
  --out-dir "$out/swift" --no-format >&2

if [ "$mode" = "--check" ]; then
  if ! diff -ru ffi/bindings "$out" >&2; then
    echo "ffi/bindings differs from the generated bindings: run scripts/build-ffi.sh and commit ffi/bindings" >&2
    exit 1
  fi
  say "ffi/bindings matches the generated Kotlin and Swift sources"
else
  rm -rf ffi/bindings
  mkdir -p ffi/bindings
  cp -R "$out/kotlin" "$out/swift" ffi/bindings/
  say "regenerated ffi/bindings (kotlin, swift)"
fi
echo "$lib"
