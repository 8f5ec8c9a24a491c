#!/usr/bin/env bash
# Runs every benchmark of the project and rewrites docs/benchmarks.md (issue 8): builds what it
# needs (release), then, each next to its baseline measured in the same run:
#   1. sealed-file format, native (criterion `--bench format`; baseline: the raw chacha20poly1305
#      crate over the same chunks) and the peak-RSS example;
#   2. MLS rooms (criterion `--bench rooms`; baseline: raw openmls doing the same operation);
#   3. relay: upload (baseline: raw loopback TCP), signed requests from 200 devices (baseline:
#      unsigned /healthz) and the mixed workload (posts, syncs, uploads; relay RSS every second),
#      through scripts/bench-relay.sh -> sealroom-load;
#   4. the Rust SDK client through the relay (scripts/bench-client.sh; baseline: in-memory
#      seal/open of the same bytes);
#   5. the WASM build in Node and in headless Chromium (tests/node/bench-client.mjs; baselines:
#      the chacha20poly1305 crate inside WASM and the same criterion rows natively, measured
#      right after the WASM ones), and
#      seal/open in Node against the native `sealfile bench` (tests/node/bench-format.mjs).
# Each generated block sits between marker comments in docs/benchmarks.md, so a rerun replaces
# the figures and leaves the hand-written analysis alone; the header records date, commit,
# machine, load average before and after, the command and the runtime.
#
#   scripts/bench.sh                 full run (about 17-20 minutes on 2 cores, once built)
#   BENCH_QUICK=1 scripts/bench.sh   smoke run (small sizes, short rows; about 5-8 minutes once built)
#   BENCH_ONLY=format,rooms,relay,client,wasm   run (and rewrite) only these steps
#   BENCH_NO_DOC=1                   print the generated blocks, leave docs/benchmarks.md alone
#
# Benchmarks measure, they never assert: this is not part of scripts/test.sh. Needs what
# scripts/setup.sh installs (wasm-bindgen, chromium, npm packages in tests/browser).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

QUICK=${BENCH_QUICK:-0}
ONLY=${BENCH_ONLY:-format,rooms,relay,client,wasm}
target=${CARGO_TARGET_DIR:-target}
doc=docs/benchmarks.md
# The WASM build gets its own target directory inside ours when one is given.
if [ -n "${CARGO_TARGET_DIR:-}" ] && [ -z "${SEALROOM_WASM_TARGET_DIR:-}" ]; then
  export SEALROOM_WASM_TARGET_DIR="$CARGO_TARGET_DIR/wasm"
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
wants() { [[ ",$ONLY," == *",$1,"* ]]; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
started=$(date +%s)
load_start=$(loadavg)
command_line="scripts/bench.sh"
[ "$QUICK" = 1 ] && command_line="BENCH_QUICK=1 $command_line"
[ -n "${BENCH_ONLY:-}" ] && command_line="BENCH_ONLY=$ONLY $command_line"

if [ "$QUICK" = 1 ]; then
  format_mib=32
  criterion_args=(--warm-up-time 1 --measurement-time 3)
  rooms_filter='create_and_add/(sdk|openmls)/(10|100)$'
  relay_args=(--upload-mib 128 --chunks 1,8 --clients 50 --duration 10 --pool 16
    --mixed-duration 20 --mixed-warmup 5)
  client_args=(--mib 16,64)
  wasm_args=(32 2)
else
  format_mib=256
  criterion_args=()
  rooms_filter=''
  relay_args=(--mixed-duration 60 --mixed-warmup 10)
  client_args=()
  wasm_args=(128 3)
fi

# Replaces the marked block MARKER of docs/benchmarks.md (under HEADING) with FILE.
put() {
  local marker=$1 heading=$2 file=$3
  if [ "${BENCH_NO_DOC:-0}" = 1 ]; then
    cat "$file"
  else
    scripts/replace-section.py "$doc" "$marker" "$heading" "$file"
  fi
}
# Opening and closing marker lines of a generated block.
begin() { echo "<!-- $1:begin (written by scripts/bench.sh; rerun it to replace) -->"; echo; }
end() { echo; echo "<!-- $1:end -->"; }

# --- build -------------------------------------------------------------------------------------
say "building release binaries and benches"
cargo build --release --locked -p sealroom-server -p sealroom-tests \
  --bin sealroom-server --bin sealroom-load --bin sealroom-client-bench --bin sealfile
cargo bench --locked -p sealroom-core --bench format --bench rooms --no-run
cargo build --release --locked -p sealroom-core --example rss
if wants wasm; then
  # The benchmark exports are a cargo feature of sealroom-wasm; the shipped build is restored at
  # the end of this script.
  SEALROOM_WASM_FEATURES=bench scripts/build-wasm.sh
  if [ ! -d tests/browser/node_modules/playwright-core ]; then
    (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi

# --- 1. sealed-file format ---------------------------------------------------------------------
if wants format; then
  say "format benchmark ($format_mib MiB)"
  before=$(loadavg)
  SEALROOM_BENCH_MIB=$format_mib cargo bench --locked -p sealroom-core --bench format -- \
    ${criterion_args[@]+"${criterion_args[@]}"} | tee "$out/format.log"
  rss_mib=$([ "$QUICK" = 1 ] && echo 128 || echo 1024)
  SEALROOM_RSS_MIB=$rss_mib "$target/release/examples/rss" | tee "$out/rss.log"
  after=$(loadavg)
  {
    begin format-bench
    echo "Command (release/bench profile, $format_mib MiB of pseudo-random plaintext, criterion flat"
    echo "sampling${criterion_args[*]:+, $(echo "${criterion_args[*]}")}); load average $before before, $after after:"
    echo
    echo '```'
    echo "SEALROOM_BENCH_MIB=$format_mib cargo bench -p sealroom-core --bench format${criterion_args[*]:+ -- ${criterion_args[*]}}"
    echo '```'
    echo
    scripts/bench-criterion.py format "$out/format.log"
    echo "Peak memory (\`VmHWM\`), sealing then opening a generated $rss_mib MiB stream through \`SealWriter\`"
    echo "(into a temporary file) and \`OpenReader\` (verifying every byte), 1 MiB writes and reads"
    echo "(\`SEALROOM_RSS_MIB=$rss_mib cargo run --release -p sealroom-core --example rss\`):"
    echo
    echo '```'
    cat "$out/rss.log"
    echo '```'
    end format-bench
  } > "$out/format.md"
  put format-bench "Sealed file format (native)" "$out/format.md"
  # Format v2: Padmé padding overhead and v2 vs v1 throughput in the same run.
  cargo run --locked --release -q -p sealroom-core --example bench_format_v2 "$out/format-v2.md"
  put format-v2-bench "Sealed file format (native)" "$out/format-v2.md"
fi

# --- 2. MLS rooms -------------------------------------------------------------------------------
if wants rooms; then
  say "rooms benchmark"
  before=$(loadavg)
  args=()
  [ -n "$rooms_filter" ] && args+=("$rooms_filter")
  args+=(${criterion_args[@]+"${criterion_args[@]}"})
  cargo bench --locked -p sealroom-core --bench rooms -- ${args[@]+"${args[@]}"} | tee "$out/rooms.log"
  after=$(loadavg)
  {
    begin rooms-bench
    echo "Criterion median per row; load average $before before, $after after:"
    echo
    echo '```'
    echo "cargo bench -p sealroom-core --bench rooms${args[*]:+ -- ${args[*]}}"
    echo '```'
    echo
    scripts/bench-criterion.py rooms "$out/rooms.log"
    end rooms-bench
  } > "$out/rooms.md"
  put rooms-bench "MLS rooms" "$out/rooms.md"
fi

# --- 3. relay ------------------------------------------------------------------------------------
if wants relay; then
  say "relay benchmark (upload, signed requests, mixed workload)"
  BENCH_RELAY_NO_DOC=${BENCH_NO_DOC:-0} scripts/bench-relay.sh ${relay_args[@]+"${relay_args[@]}"}
fi

# --- 4. SDK client through the relay ---------------------------------------------------------------
if wants client; then
  say "SDK client through the relay"
  BENCH_NO_DOC=${BENCH_NO_DOC:-0} scripts/bench-client.sh ${client_args[@]+"${client_args[@]}"}
fi

# --- 5. WASM in Node and Chromium -------------------------------------------------------------------
if wants wasm; then
  say "WASM in Node and Chromium (${wasm_args[*]})"
  before=$(loadavg)
  # The native rows are measured again right after the WASM ones (criterion, filtered), not taken
  # from steps 1 and 2: on a shared machine minutes apart can mean a different load.
  node tests/node/bench-client.mjs "${wasm_args[@]}" > "$out/wasm.txt"
  node tests/node/bench-format.mjs "${wasm_args[@]}" > "$out/wasm-format.txt"
  after=$(loadavg)
  {
    begin wasm-bench
    echo "Commands (after \`SEALROOM_WASM_FEATURES=bench scripts/build-wasm.sh\`); load average $before before, $after after:"
    echo
    echo '```'
    echo "node tests/node/bench-client.mjs ${wasm_args[*]}    # Node + Chromium, then native (criterion rows)"
    echo "node tests/node/bench-format.mjs ${wasm_args[*]}    # seal and open, native = sealfile bench"
    echo '```'
    echo
    echo "WASM rows run inside the module (\`benchRawAead\`, \`benchSdkAead\`, \`benchSealInWasm\`, \`BenchCommitter\`, ...) or"
    echo "through the JS API, timed from JS, the same code (\`tests/node/bench-wasm-core.mjs\`) in Node and in"
    echo "headless Chromium (page served from 127.0.0.1, \`tests/browser/bench-wasm.mjs\`). Native rows are"
    echo "the criterion medians of \`seal_256MiB/raw_chacha20poly1305_chunks\`, \`seal_256MiB/format_push_1MiB\`"
    echo "and \`rooms/create_and_add/sdk/100\`, run right after the WASM rows."
    echo
    cat "$out/wasm.txt"
    echo
    echo "Seal and open through the push API (64 KiB pieces), WASM in Node against the native"
    echo "\`sealfile bench\` doing the same, interleaved:"
    echo
    cat "$out/wasm-format.txt"
    end wasm-bench
  } > "$out/wasm.md"
  put wasm-bench "SDK in WASM against native (Node and Chromium)" "$out/wasm.md"
fi

# --- header ------------------------------------------------------------------------------------------
elapsed=$(( $(date +%s) - started ))
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
flags=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -x 'avx2\|avx512f\|sha_ni\|aes\|ssse3\|sse4_2' | sort -u | tr '\n' ' ' | sed 's/ $//')
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=""
git diff --quiet HEAD -- core server wire wasm tests 2>/dev/null || dirty=" (plus uncommitted changes)"
{
  echo "<!-- bench-header:begin (written by scripts/bench.sh; rerun it to replace) -->"
  echo
  echo "Last run: $(date -u +'%Y-%m-%d %H:%M UTC'), commit \`$commit\`$dirty, steps \`$ONLY\`, $(( elapsed / 60 )) min $(( elapsed % 60 )) s:"
  echo
  echo '```'
  echo "$command_line"
  echo '```'
  echo
  echo "Machine: $(nproc) × $cpu ($flags), $(awk '/MemTotal/ {printf "%.1f GiB RAM", $2/1048576}' /proc/meminfo), $(uname -sr);"
  echo "rustc $(rustc --version | cut -d' ' -f2), Node $(node --version 2>/dev/null || echo none)."
  echo "Load average (1, 5, 15 min) $load_start before the run and $(loadavg) after it: the machine is shared"
  echo "with other engineers' builds, so absolute figures move between runs and the ratios to the"
  echo "baselines measured in the same run are what to compare."
  echo
  echo "<!-- bench-header:end -->"
} > "$out/header.md"
put bench-header "Benchmarks" "$out/header.md"
if wants wasm; then
  say "restoring the shipped WASM package (no benchmark exports)"
  scripts/build-wasm.sh
fi
say "benchmarks done in $(( elapsed / 60 )) min $(( elapsed % 60 )) s${BENCH_NO_DOC:+ (docs untouched)}"
