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
#      seal/open in Node against the native `sealfile bench` (tests/node/bench-format.mjs);
#   6. scale (issue 19): the mixed load (sealroom-load --scenario mixed) at 200 and 1,000
#      devices on the embedded relay (one instance, redb; the baseline of the row) and on the
#      scale-out deployment (PostgreSQL + S3 of scripts/services/, one and three instances,
#      devices spread round robin), then relay memory over BENCH_MEMORY_SECS (default 600 s)
#      of mixed load for both deployments (RSS at the end of the warm-up and at the end, and
#      the store's growth). Not in the default step list: about 35 minutes with the defaults.
#   8. the malware scanner (issue 23): sealroom-scanner-bench, the time from a customer's upload
#      to the scanner's verdict (the real scanner binary against the clamd of
#      scripts/services/clamav.sh), beside `clamdscan --stream` of the same plaintext in the same
#      run, and the scanner's peak RSS per file size.
#   9. throughput (issue 21, scripts/bench-throughput.sh): the issue's target rows on the
#      embedded and the scale-out deployment, each beside its same-run baseline: signed small
#      posts from 200 clients against unsigned /healthz, one upload stream against the disk's
#      write + fsync and loopback TCP, the portal-shaped mixed load (1,000 devices in 200 spaces)
#      and the one-room mixed load at 400 devices (sync p99, errors, relay RSS after warm-up).
#      Not in the default step list: about 15-20 minutes with the defaults.
# Each generated block sits between marker comments in docs/benchmarks.md, so a rerun replaces
# the figures and leaves the hand-written analysis alone; the header records date, commit,
# machine, load average before and after, the command and the runtime.
#
#   scripts/bench.sh                 full run (about 17-20 minutes on 2 cores, once built)
#   BENCH_QUICK=1 scripts/bench.sh   smoke run (small sizes, short rows; about 5-8 minutes once built)
#   BENCH_ONLY=format,rooms,relay,client,wasm,scanner   run (and rewrite) only these steps
#                                    (scale, live, throughput: add them by name, e.g.
#                                    BENCH_ONLY=throughput)
#   BENCH_SCALE_SECS=60 BENCH_SCALE_DEVICES="200 1000"   the scale rows' duration and sizes
#                                    (BENCH_SCALE_DEVICES=none: memory rows only, the scale
#                                    rows' block in docs/benchmarks.md left as it is)
#   BENCH_MEMORY_SECS=600 BENCH_MEMORY_WARMUP=60         the memory rows (shorter for trials)
#   BENCH_THROUGHPUT_SECS=60 BENCH_THROUGHPUT_WARMUP=15   the throughput step's mixed rows (its
#                                    other knobs: see scripts/bench-throughput.sh)
#   BENCH_NO_DOC=1                   print the generated blocks, leave docs/benchmarks.md alone
#   BENCH_NO_BUILD=1                 skip the build, use the release binaries already built
#
# Benchmarks measure, they never assert: this is not part of scripts/test.sh. Needs what
# scripts/setup.sh installs (wasm-bindgen, chromium, npm packages in tests/browser).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

QUICK=${BENCH_QUICK:-0}
ONLY=${BENCH_ONLY:-format,rooms,relay,client,wasm,scanner}
target=${CARGO_TARGET_DIR:-target}
doc=docs/benchmarks.md
# The WASM build gets its own target directory inside ours when one is given.
if [ -n "${CARGO_TARGET_DIR:-}" ] && [ -z "${SEALROOM_WASM_TARGET_DIR:-}" ]; then
  export SEALROOM_WASM_TARGET_DIR="$CARGO_TARGET_DIR/wasm"
fi
out=$(mktemp -d)
bench_clamd_pid=""
trap '[ -z "$bench_clamd_pid" ] || kill "$bench_clamd_pid" 2>/dev/null; rm -rf "$out"' EXIT
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
  scanner_args=(--mib 16,64 --rounds 1)
else
  format_mib=256
  criterion_args=()
  rooms_filter=''
  relay_args=(--mixed-duration 60 --mixed-warmup 10)
  client_args=()
  wasm_args=(128 3)
  scanner_args=(--mib 64,256,512 --rounds 3)
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
if [ "${BENCH_NO_BUILD:-0}" = 1 ]; then
  # For trial runs on a shared machine: the release binaries of an earlier build, as they are.
  say "BENCH_NO_BUILD=1: using the release binaries already in $target/release"
else
  say "building release binaries and benches"
  cargo build --release --locked -p sealroom-server -p sealroom-tests -p sealroom-scanner \
    --bin sealroom-server --bin sealroom-load --bin sealroom-client-bench --bin sealfile \
    --bin sealroom-scanner --bin sealroom-scanner-bench
  if wants format || wants rooms || wants wasm; then
    cargo bench --locked -p sealroom-core --bench format --bench rooms --no-run
    cargo build --release --locked -p sealroom-core --example rss
  fi
fi
if wants wasm; then
  # The benchmark exports are a cargo feature of sealroom-wasm; the shipped build is restored at
  # the end of this script.
  # Function names kept: the transfer rows name the functions that took the time.
  SEALROOM_WASM_FEATURES=bench SEALROOM_WASM_KEEP_NAMES=1 scripts/build-wasm.sh
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

  # Uploads and downloads as a portal user sees them (issue 18): the SDK in Chromium through the
  # release relay, beside the native SDK client (sealroom-client-bench) in the same run.
  transfer_mib=${wasm_args[0]}
  say "Chromium upload and download of $transfer_mib MiB beside the native client"
  before=$(loadavg)
  SEALROOM_RELAY_BIN="$target/release/sealroom-server" \
    node tests/browser/bench-wasm.mjs transfer "$transfer_mib" > "$out/transfer.txt"
  after=$(loadavg)
  {
    begin wasm-transfer
    echo "Command (after the benchmark build of the WASM package, function names kept); load average"
    echo "$before before, $after after:"
    echo
    echo '```'
    echo "SEALROOM_RELAY_BIN=target/release/sealroom-server node tests/browser/bench-wasm.mjs transfer $transfer_mib"
    echo '```'
    echo
    cat "$out/transfer.txt"
    end wasm-transfer
  } > "$out/transfer.md"
  put wasm-transfer "Uploads and downloads in Chromium against the native client" "$out/transfer.md"
fi

# --- 6. scale-out rows and memory over time (issue 19) -------------------------------------------
if wants scale; then
  say "scale-out rows and relay memory (PostgreSQL + SeaweedFS from scripts/services)"
  # The test services: PostgreSQL (socket only, fsync=off) and SeaweedFS; they export
  # SEALROOM_TEST_DATABASE_URL and SEALROOM_TEST_S3_*, which sealroom-load --backend scale-out
  # turns into one fresh schema, one relay key file and the bucket shared by the instances.
  set +u
  source scripts/services/postgres.sh
  source scripts/services/seaweedfs.sh
  set -u
  scale_secs=${BENCH_SCALE_SECS:-60}
  scale_devices=${BENCH_SCALE_DEVICES:-200 1000}
  [ "$scale_devices" = none ] && scale_devices=""
  memory_secs=${BENCH_MEMORY_SECS:-600}
  memory_warmup=${BENCH_MEMORY_WARMUP:-60}
  load="$target/release/sealroom-load"
  # Inherited by the relays sealroom-load starts: the one commit adding every device to the
  # room (with its welcome) is about 1.6 MiB for 1,000 devices, above the 1 MiB default.
  export SEALROOM_MAX_MESSAGE_BODY=$((4 * 1024 * 1024))
  : > "$out/scale.tsv"
  : > "$out/memory.tsv"
  before=$(loadavg)
  for devices in $scale_devices; do
    for deployment in "embedded 1" "scale-out 1" "scale-out 3"; do
      set -- $deployment
      say "mixed load: $devices devices, $1, $2 instance(s), $scale_secs s"
      # A failed row (e.g. the services gone) is reported and leaves the other rows.
      "$load" --scenario mixed --clients "$devices" --pool 16 --mixed-duration "$scale_secs" \
        --mixed-warmup 10 --backend "$1" --instances "$2" --summary "$out/scale.tsv" \
        --markdown "$out/scale-$devices-$1-$2.md" || say "row failed: $devices devices, $1, $2"
    done
  done
  mid=$(loadavg)
  for backend in embedded scale-out; do
    say "relay memory: $backend, 200 devices, $memory_secs s (warm-up $memory_warmup s)"
    "$load" --scenario mixed --clients 200 --pool 16 --mixed-duration "$memory_secs" \
      --mixed-warmup "$memory_warmup" --backend "$backend" --summary "$out/memory.tsv" \
      --markdown "$out/memory-$backend.md" || say "memory row failed: $backend"
    grep -o 'Trace (every 10 s, MiB): [0-9, ]*' "$out/memory-$backend.md" \
      | sed "s/^Trace (every 10 s, MiB): /$backend: /" >> "$out/memory-traces.txt" || true
  done
  after=$(loadavg)
  {
    begin scale-bench
    echo "Mixed load (\`sealroom-load --scenario mixed\`: 45 % posts, 45 % SDK-style syncs, 10 % file"
    echo "uploads of 64 KiB-4 MiB, closed loop, every request Ed25519-signed), $scale_secs s per row"
    echo "with the first 10 s not counted; load average $before before and $mid after. Baseline:"
    echo "the embedded relay (one instance, redb) at the same number of devices, measured in the"
    echo "same run. Scale-out: PostgreSQL 15 (the test cluster of \`scripts/services/postgres.sh\`:"
    echo "unix socket, **\`fsync=off\`**, so its commits do not wait for the disk as redb's do) and"
    echo "SeaweedFS (\`scripts/services/seaweedfs.sh\`) for blobs; with three instances the devices"
    echo "are spread over them round robin (each reaches its instance under the first one's"
    echo "authority, as behind a load balancer). Relay RSS and CPU are summed over the instances;"
    echo "PostgreSQL's and SeaweedFS's own memory and CPU are not counted. All processes share the"
    echo "machine's $(nproc) cores. **The machine was shared: other engineers' builds and tests ran"
    echo "during this run** (load averages above), so absolute rates are low and noisy; compare rows"
    echo "within this block only."
    echo
    echo '```'
    echo "target/release/sealroom-load --scenario mixed --clients N --pool 16 --mixed-duration $scale_secs --mixed-warmup 10 --backend B --instances I"
    echo '```'
    echo
    echo "| Devices | Deployment | Instances | req/s | vs. embedded | post p50 / p99 | sync p50 / p99 | upload p50 / p99 | Failed ops | 409s / 503s retried | Relay CPU | Relay RSS end |"
    echo "|---:|---|---:|---:|---:|---|---|---|---:|---:|---:|---:|"
    awk -F'\t' '{
      if ($2 == 1 && $1 ~ /^embedded/) base[$3] = $7
      b = base[$3]
      ratio = (b > 0) ? sprintf("%.2fx", $7 / b) : "-"
      printf "| %s | %s | %s | %s | %s | %s / %s ms | %s / %s ms | %s / %s ms | %s | %s / %s | %s s | %s MiB |\n",
        $3, $1, $2, $7, ratio, $10, $11, $12, $13, $14, $15, $8, ($27 == "" ? "-" : $27),
        ($28 == "" ? "-" : $28), $9, $20
    }' "$out/scale.tsv"
    echo
    echo "A request answered \`409\` (a lost race: the room's sequence counter or a usage counter"
    echo "taken by a concurrent request, typically on another instance) is sent again by the load"
    echo "generator after a short random back-off, at most 8 times, as a client does; those re-sends"
    echo "are the \"409s retried\" column. A \`503\` (the relay busy: as many blob appends in flight as"
    echo "it allows, a contended usage counter, object storage slower than its timeout; nothing was"
    echo "changed) is sent again after its \`Retry-After\`, at most 60 times: the \"503s retried\"."
    echo "Every other non-2xx answer (a \`500\` above all), a 409 that persists past the 8 re-sends"
    echo "and a 503 past the 60 is a failed operation; the relays' error lines are"
    echo "printed by the load generator at the end of each row (the reading below names them)."
    end scale-bench
  } > "$out/scale.md"
  if [ -n "$scale_devices" ]; then
    put scale-bench "Relay scale-out and memory (issue 19)" "$out/scale.md"
  fi
  {
    begin memory-bench
    echo "Relay memory over $memory_secs s of the mixed load (200 devices, warm-up $memory_warmup s), one"
    echo "instance of each deployment, RSS of the relay process sampled every second from"
    echo "\`/proc/<pid>/status\`; load average $mid before and $after after. Store: the data directory"
    echo "(redb file, blobs) for the embedded relay, the PostgreSQL schema (tables with indexes and"
    echo "TOAST; blobs are in S3) for scale-out. Target (issue 19): embedded RSS flat within 10 % after"
    echo "the warm-up while the store grows. The machine was shared with other engineers' builds"
    echo "during this run (load averages above). The relay binary allocates with jemalloc (its"
    echo "global allocator on Linux with glibc), built with \`background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0\`"
    echo "(\`.cargo/config.toml\`). Flat is judged by the mean of the first minute after the warm-up"
    echo "against the mean of the last minute, and by the slope; single samples swing by tens of MiB. Warm-up: the time the"
    echo "relay's working set takes to form under this load (redb's page cache filling to its bound,"
    echo "the blocking-thread pool and allocator caches reaching the concurrency of 200 devices);"
    echo "the traces below show where RSS levels off (\`docs/relay.md\`, \"Memory\")."
    echo
    echo '```'
    echo "target/release/sealroom-load --scenario mixed --clients 200 --pool 16 --mixed-duration $memory_secs --mixed-warmup $memory_warmup --backend B"
    echo '```'
    echo
    echo "| Deployment | req/s | Failed ops | RSS start | RSS end of warm-up | RSS end | max | Warm-up end -> end (single samples) | First -> last minute after warm-up (means) | Slope after warm-up | Store start / warm-up end / end |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    awk -F'\t' '{
      printf "| %s | %s | %s | %s MiB | %s MiB | %s MiB | %s MiB | %s %% | %s -> %s MiB: **%s %%** | %s MiB/min | %s / %s / %s MiB |\n",
        $1, $7, $8, $18, $19, $20, $21, $22, $29, $30, $31, $23, $24, $25, $26
    }' "$out/memory.tsv"
    echo
    echo "RSS traces (every 10 s, MiB):"
    echo
    sed 's/^/- /' "$out/memory-traces.txt"
    end memory-bench
  } > "$out/memory.md"
  put memory-bench "Relay scale-out and memory (issue 19)" "$out/memory.md"
fi

# --- 7. live-event latency (issue 17) -----------------------------------------------------------
# Time from a post to the live event on the other devices: 200 devices each waiting on
# GET /v1/events, one of them posting 100 messages 200 ms apart; embedded (one instance) and
# scale-out (three instances on PostgreSQL + S3, devices round robin). Not in the default list.
if wants live; then
  say "live-event latency (sealroom-load --scenario live)"
  set +u
  source scripts/services/postgres.sh
  source scripts/services/seaweedfs.sh
  set -u
  load="$target/release/sealroom-load"
  live_devices=${BENCH_LIVE_DEVICES:-200}
  export SEALROOM_MAX_MESSAGE_BODY=$((4 * 1024 * 1024))
  : > "$out/live-rows.md"
  before=$(loadavg)
  for deployment in "embedded 1" "scale-out 3"; do
    set -- $deployment
    say "live: $live_devices devices, $1, $2 instance(s)"
    if "$load" --scenario live --clients "$live_devices" --pool 16 --backend "$1" --instances "$2" \
      --markdown "$out/live-$1-$2.md"; then
      grep '^| [0-9]' "$out/live-$1-$2.md" >> "$out/live-rows.md" || true
    else
      say "live row failed: $1, $2"
    fi
  done
  after=$(loadavg)
  {
    begin live-bench
    echo "Time from a post to the live event on the other devices (\`sealroom-load --scenario live\`):"
    echo "$live_devices devices, all members of one MLS room, each keeps a signed long poll"
    echo "(\`GET /v1/events?after=<cursor>&wait=30\`) open on its instance; the first device posts 100"
    echo "real MLS messages 200 ms apart. One pair is one (post, device): from just before the post's"
    echo "request is written to the moment that device's poll answer naming it was read (the relay"
    echo "answers ids; the SDK's sync of the room comes on top, see the message fetch rows above)."
    echo "Scale-out: three instances on PostgreSQL (\`fsync=off\`) + SeaweedFS, devices round robin,"
    echo "the poster on the first instance, so two thirds of the pairs cross instances (LISTEN/NOTIFY,"
    echo "1 s re-check). Missed: pairs not seen within 5 s of the last post. Load average $before"
    echo "before and $after after; $(nproc) cores shared with the relays and other builds."
    echo
    echo '```'
    echo "target/release/sealroom-load --scenario live --clients $live_devices --pool 16 --backend B --instances I"
    echo '```'
    echo
    echo "| Devices | Deployment | Instances | Posts | Pairs | p50 | p99 | max | Missed | Poll errors |"
    echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    cat "$out/live-rows.md"
    end live-bench
  } > "$out/live.md"
  put live-bench "Live events: post-to-event latency (issue 17)" "$out/live.md"
fi

# --- 8. malware scanner against clamdscan (issue 23) ---------------------------------------------
if wants scanner; then
  say "malware scanner: upload to verdict beside clamdscan --stream (${scanner_args[*]})"
  set +u
  source scripts/services/clamav.sh
  set -u
  # clamd answers a stream it has seen before from its cache of clean results (by hash), and
  # every plaintext here is scanned twice (baseline, scanner) and in several rounds; so the
  # step runs a clamd of its own, the same configuration and database with the cache off.
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  sed -e "s/^TCPSocket .*/TCPSocket $port/" -e "s|^LogFile .*|LogFile $out/clamd.log|" \
    "$SEALROOM_TEST_CLAMD_CONF" > "$out/clamd.conf"
  echo "DisableCache yes" >> "$out/clamd.conf"
  /usr/sbin/clamd --config-file="$out/clamd.conf" > "$out/clamd.out" 2>&1 < /dev/null &
  bench_clamd_pid=$!
  for _ in $(seq 1 240); do
    sealroom_clamav_ping "127.0.0.1:$port" && break
    kill -0 "$bench_clamd_pid" 2>/dev/null || { cat "$out/clamd.out" >&2; exit 1; }
    sleep 0.5
  done
  before=$(loadavg)
  SEALROOM_TEST_CLAMD="127.0.0.1:$port" SEALROOM_TEST_CLAMD_CONF="$out/clamd.conf" \
    "$target/release/sealroom-scanner-bench" "${scanner_args[@]}" --markdown "$out/scanner.txt"
  after=$(loadavg)
  kill "$bench_clamd_pid"
  wait "$bench_clamd_pid" 2>/dev/null || true
  bench_clamd_pid=""
  {
    begin scanner-bench
    echo "Command (release build; ClamAV $(clamd --version | cut -d/ -f1 | sed 's/^ClamAV //'), clamd with the configuration of \`scripts/services/clamav.sh\`"
    echo "(TCP on loopback, \`MaxThreads 4\`, limits 1 GiB) plus \`DisableCache yes\`, started for this"
    echo "step: with its cache of clean results, clamd answers bytes it scanned before without"
    echo "scanning them, and each plaintext here is scanned twice a round); load average $before"
    echo "before, $after after:"
    echo
    echo '```'
    echo "SEALROOM_TEST_CLAMD=127.0.0.1:PORT SEALROOM_TEST_CLAMD_CONF=clamd.conf \\"
    echo "  target/release/sealroom-scanner-bench ${scanner_args[*]}"
    echo '```'
    echo
    echo "Each plaintext is that many bytes of \`/dev/urandom\` in a file. Baseline: \`clamdscan --stream\`"
    echo "of the file (ClamAV's own client sends the whole file to clamd over the socket, as the"
    echo "scanner does), timed from start to exit. Scanner: a customer uploads the same file into a"
    echo "space whose policy requires a scan (the relay holds it); timed from the end of the upload"
    echo "to the real \`sealroom-scanner\` binary's \`verdict ... clean\` line, printed once its signed"
    echo "verdict is in the room and its release on the relay: wake-up on the relay's live event"
    echo "(the \"wake-up\" column), the download, decryption and check, the stream into clamd and both"
    echo "posts. Medians of the rounds, the two kinds interleaved. Relay, scanner, clamd and the bench"
    echo "share $(nproc) cores. clamd holds only the project's test signature database"
    echo "(\`scripts/services/clamav/sealroom-test.ndb\`). clamd takes an \`INSTREAM\` whole before it"
    echo "scans, so its own scan time is added to both columns alike; with the full \`freshclam\`"
    echo "databases that time is longer and the scanner's share of the total smaller."
    echo
    cat "$out/scanner.txt"
    end scanner-bench
  } > "$out/scanner.md"
  put scanner-bench "Malware scanner against ClamAV (issue 23)" "$out/scanner.md"
fi

# --- 9. relay throughput (issue 21) ---------------------------------------------------------------
if wants throughput; then
  say "relay throughput (issue 21): posts, upload, portal and one-room mixed loads, both deployments"
  BENCH_THROUGHPUT_BUILT=1 BENCH_NO_DOC=${BENCH_NO_DOC:-0} scripts/bench-throughput.sh
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
