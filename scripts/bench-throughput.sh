#!/usr/bin/env bash
# Relay throughput (issue 21): the issue's target rows, each beside its baseline measured in the
# same run, on both deployments (embedded: one relay on redb; scale-out: one instance on the
# PostgreSQL + SeaweedFS of scripts/services/), in one run of `sealroom-load`s; rewrites the
# "Relay throughput (issue 21)" block of docs/benchmarks.md. The `throughput` step of
# scripts/bench.sh runs it (after building); run alone, it builds the two binaries unless
# BENCH_NO_BUILD=1. Rows per deployment, each a fresh relay:
#   1. signed small posts (`--scenario requests --post-percent 100 --notify off`), 200 clients,
#      beside unsigned GET /healthz from the same clients;
#   2. one upload stream (`--scenario upload`, 256 MiB in 4 MiB appends) beside the disk's own
#      write + fsync of the same chunks and a loopback TCP transfer, both measured in that run;
#   3. the portal-shaped mixed load (`--scenario portal`: 1,000 devices in 200 spaces of 2-8);
#   4. the one-room mixed load at 400 devices (`--scenario mixed --clients 400`);
#   rows 3 and 4 twice: closed loop (every device as fast as the relay answers: the relay's
#   capacity, and a latency that is devices / throughput by Little's law) and paced (each
#   device starts operations at Poisson-random times, --mixed-interval-ms apart on average,
#   latency counted from the scheduled start: the latency a portal's users see at that rate);
#   relay RSS: means of the first and the last window after the warm-up in rows 3 and 4.
# About 15-20 minutes with the defaults (2 cores), so not in bench.sh's default step list.
#
#   BENCH_THROUGHPUT_SECS=60 BENCH_THROUGHPUT_WARMUP=15   each mixed row's duration and warm-up
#   BENCH_THROUGHPUT_REQUEST_SECS=20                      the posts and the /healthz rows
#   BENCH_THROUGHPUT_UPLOAD_MIB=256 BENCH_THROUGHPUT_CHUNK_MIB=4
#   BENCH_THROUGHPUT_PORTAL="1000 200"                    portal devices and spaces
#   BENCH_THROUGHPUT_MIXED_CLIENTS=400
#   BENCH_THROUGHPUT_INTERVAL_MS=2000                    the paced rows' mean interval per device
#   BENCH_THROUGHPUT_QUIET_WAIT=600                       at most this long (s) waiting for a 1-min
#                                                         load average under 2 before the rows
#   BENCH_THROUGHPUT_BACKENDS="embedded scale-out"
#   BENCH_THROUGHPUT_SETTLE=60                            at least this long (s) of rest before
#                                                         the load average "after" (the rows' own
#                                                         load decays), then until it is under 2,
#                                                         at most BENCH_THROUGHPUT_SETTLE_MAX=300
#   BENCH_NO_DOC=1                                        print the block, leave the doc alone
#   BENCH_NO_BUILD=1 BENCH_BUILT_FROM="commit abc1234"    use binaries built beforehand (and say
#                                                         from what, in the block)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

target=${CARGO_TARGET_DIR:-target}
doc=docs/benchmarks.md
secs=${BENCH_THROUGHPUT_SECS:-60}
warmup=${BENCH_THROUGHPUT_WARMUP:-15}
request_secs=${BENCH_THROUGHPUT_REQUEST_SECS:-20}
upload_mib=${BENCH_THROUGHPUT_UPLOAD_MIB:-256}
chunk_mib=${BENCH_THROUGHPUT_CHUNK_MIB:-4}
read -r portal_devices portal_spaces <<< "${BENCH_THROUGHPUT_PORTAL:-1000 200}"
mixed_clients=${BENCH_THROUGHPUT_MIXED_CLIENTS:-400}
interval_ms=${BENCH_THROUGHPUT_INTERVAL_MS:-2000}
backends=${BENCH_THROUGHPUT_BACKENDS:-embedded scale-out}
load="$target/release/sealroom-load"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
# wait_quiet MAX: waits (at most MAX seconds) until the 1-minute load average is under 2.
wait_quiet() {
  local waited=0
  while awk '{ exit !($1 >= 2) }' /proc/loadavg && [ "$waited" -lt "$1" ]; do
    sleep 10
    waited=$(( waited + 10 ))
  done
  echo "$waited"
}

if [ "${BENCH_NO_BUILD:-0}" != 1 ] && [ "${BENCH_THROUGHPUT_BUILT:-0}" != 1 ]; then
  say "building release binaries (sealroom-server, sealroom-load)"
  cargo build --release --locked -p sealroom-server -p sealroom-tests \
    --bin sealroom-server --bin sealroom-load
fi
if [[ " $backends " == *" scale-out "* ]]; then
  # The test services; they export SEALROOM_TEST_DATABASE_URL and SEALROOM_TEST_S3_*, which
  # sealroom-load --backend scale-out turns into a fresh schema, a relay key file and the bucket.
  set +u
  source scripts/services/postgres.sh
  source scripts/services/seaweedfs.sh
  set -u
fi

say "throughput: waiting for a load average under 2 (at most ${BENCH_THROUGHPUT_QUIET_WAIT:-600} s)"
quiet_wait=$(wait_quiet "${BENCH_THROUGHPUT_QUIET_WAIT:-600}")
started=$(date +%s)
load_before=$(loadavg)
: > "$out/times.tsv"
# Runs one row: NAME BACKEND ARGS...; records its wall time; a failed row is reported and the
# others still run.
row() {
  local name=$1 backend=$2
  shift 2
  local t0
  t0=$(date +%s)
  say "throughput: $name, $backend ($*)"
  if "$load" --backend "$backend" --figures "$out/fig-$backend.tsv" \
    --summary "$out/mixed-$backend.tsv" --markdown "$out/$name-$backend.md" "$@"; then
    printf '%s\t%s\t%s\tok\n' "$name" "$backend" $(( $(date +%s) - t0 )) >> "$out/times.tsv"
  else
    say "throughput row failed: $name, $backend"
    printf '%s\t%s\t%s\tfailed\n' "$name" "$backend" $(( $(date +%s) - t0 )) >> "$out/times.tsv"
  fi
}
for backend in $backends; do
  : > "$out/fig-$backend.tsv"
  : > "$out/mixed-$backend.tsv"
  row posts "$backend" --scenario requests --clients 200 --duration "$request_secs" \
    --post-percent 100 --notify off --pool 16
  row upload "$backend" --scenario upload --upload-mib "$upload_mib" --chunks "$chunk_mib"
  for pace in 0 "$interval_ms"; do
    row "portal-$pace" "$backend" --scenario portal --portal-devices "$portal_devices" \
      --portal-spaces "$portal_spaces" --pool 16 --mixed-duration "$secs" \
      --mixed-warmup "$warmup" --mixed-interval-ms "$pace"
    row "mixed-$pace" "$backend" --scenario mixed --clients "$mixed_clients" --pool 16 \
      --mixed-duration "$secs" --mixed-warmup "$warmup" --mixed-interval-ms "$pace"
  done
done
load_end=$(loadavg)
elapsed=$(( $(date +%s) - started ))
settle=${BENCH_THROUGHPUT_SETTLE:-60}
say "throughput: rows done; at least $settle s of rest before the load average after"
sleep "$settle"
settle=$(( settle + $(wait_quiet "${BENCH_THROUGHPUT_SETTLE_MAX:-300}") ))
load_after=$(loadavg)

# fig BACKEND KEY: one figure of the requests and upload rows ("" when the row failed).
fig() { awk -F'\t' -v k="$2" '$1 == k { v = $2 } END { print v }' "$out/fig-$1.tsv"; }
# mix BACKEND WORKLOAD INTERVAL COLUMN: one column of a mixed row's summary line (see
# mixed_run.rs; column 35 is the mean interval per device in ms, 0 for the closed loop).
mix() { awk -F'\t' -v w="$2" -v i="$3" -v c="$4" '$32 == w && $35 + 0 == i + 0 { v = $c } END { print v }' "$out/mixed-$1.tsv"; }
# ratio A B: A/B with two decimals ("-" when either is missing).
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b + 0 == 0) print "-"; else printf "%.3f", a / b }'; }
# met CONDITION (awk expression over a and b) A B: yes / no / - .
met() { awk -v a="$2" -v b="$3" "BEGIN { if (a == \"\" || a == \"-\") print \"-\"; else if ($1) print \"yes\"; else print \"**no**\" }"; }
# The RSS window: the first and the last min(60 s, half the measured time) after the warm-up.
window=$(( (secs - warmup) / 2 )); [ "$window" -gt 60 ] && window=60
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=""
git diff --quiet HEAD -- server wire core tests 2>/dev/null || dirty=" (plus uncommitted changes)"
[ "${BENCH_NO_BUILD:-0}" = 1 ] && dirty=" (release binaries built beforehand: BENCH_NO_BUILD=1${BENCH_BUILT_FROM:+, from $BENCH_BUILT_FROM})"

{
  echo "<!-- throughput-bench:begin (written by scripts/bench-throughput.sh, the throughput step of scripts/bench.sh; rerun it to replace) -->"
  echo
  echo "Run $(date -u +'%Y-%m-%d %H:%M UTC'), commit \`$commit\`$dirty, $(( elapsed / 60 )) min $(( elapsed % 60 )) s;"
  echo "**load average $load_before before** (after waiting $quiet_wait s for it to fall under 2)"
  echo "**and $load_after after** $settle s of rest ($load_end"
  echo "right after the last row, its own load included; issue 21 asks for under 2 before and after);"
  echo "$(nproc) cores shared by relay, load generator, PostgreSQL and SeaweedFS, and by other"
  echo "engineers' builds when the load before is above 1."
  echo
  echo '```'
  echo "BENCH_ONLY=throughput scripts/bench.sh    # or scripts/bench-throughput.sh"
  echo "target/release/sealroom-load --backend B --scenario requests --clients 200 --duration $request_secs --post-percent 100 --notify off --pool 16"
  echo "target/release/sealroom-load --backend B --scenario upload --upload-mib $upload_mib --chunks $chunk_mib"
  echo "target/release/sealroom-load --backend B --scenario portal --portal-devices $portal_devices --portal-spaces $portal_spaces --pool 16 --mixed-duration $secs --mixed-warmup $warmup --mixed-interval-ms P"
  echo "target/release/sealroom-load --backend B --scenario mixed --clients $mixed_clients --pool 16 --mixed-duration $secs --mixed-warmup $warmup --mixed-interval-ms P"
  echo '```'
  echo
  echo "Each command starts a fresh relay (embedded: redb in a temporary directory; scale-out: one"
  echo "instance on a fresh schema of the PostgreSQL of \`scripts/services/postgres.sh\`, which runs"
  echo "with **\`fsync=off\`**, and SeaweedFS for blobs). Baselines come from the same command: unsigned"
  echo "\`GET /healthz\` from the same 200 clients right before the posts; the same chunks written to a"
  echo "file in the relay's data directory with an fsync after each, and sent over loopback TCP, right"
  echo "before the upload. The posts row has a second baseline: the ceiling of any signed request on"
  echo "this machine, the client's Ed25519 signature and the relay's strict verification alone on both"
  echo "cores (\`ceiling\` below). The mixed rows run twice: **closed loop** (P = 0: every device starts"
  echo "its next operation when the last is answered, so the relay runs flat out and a latency is,"
  echo "by Little's law, about devices / throughput: the row measures capacity) and **paced** (P ="
  echo "$interval_ms: each device starts operations at Poisson-random times $interval_ms ms apart on average,"
  echo "the latency counted from the scheduled start, so falling behind is charged; this is the"
  echo "latency a portal's users see at that rate, which is far above a person's pace). They have"
  echo "no baseline in the same run: beside them, the issue's figures measured before it"
  echo "(one-room 400 devices, closed loop: sync p99 17.5 s, RSS +193 MiB/min)."
  echo
  echo "| Row | Deployment | Measured | Baseline | Ratio | Target (issue 21) | Met |"
  echo "|---|---|---|---|---:|---|---|"
  for b in $backends; do
    p_rate=$(fig "$b" requests.signed.off.rate); p_p99=$(fig "$b" requests.signed.off.p99_ms)
    p_err=$(fig "$b" requests.signed.off.errors)
    h_rate=$(fig "$b" requests.healthz.rate); h_p99=$(fig "$b" requests.healthz.p99_ms)
    c_rate=$(fig "$b" requests.ed25519_ceiling.rate)
    r=$(ratio "$p_rate" "$h_rate"); rc=$(ratio "$p_rate" "$c_rate")
    ok=$(met 'a >= 0.3 && b <= 50' "$r" "$p_p99")
    echo "| Signed small posts, 200 clients | $b | ${p_rate:--} req/s, p99 ${p_p99:--} ms, errors ${p_err:--} | \`/healthz\` ${h_rate:--} req/s, p99 ${h_p99:--} ms; ceiling ${c_rate:--} req/s | ${r}x healthz, ${rc}x ceiling | ≥ 0.3x, p99 ≤ 50 ms | $ok |"
    k="upload.${chunk_mib}MiB"
    u=$(fig "$b" "$k.relay_mbs"); d=$(fig "$b" "$k.disk_mbs"); l=$(fig "$b" "$k.loopback_mbs")
    rd=$(ratio "$u" "$d"); rl=$(ratio "$u" "$l")
    ok=$(met "a >= 0.8 && (b >= 0.3 || $(awk -v d="$d" -v l="$l" 'BEGIN { print (d + 0 < 0.3 * l) ? 1 : 0 }') == 1)" "$rd" "$rl")
    echo "| One upload stream, $upload_mib MiB in $chunk_mib MiB appends | $b | ${u:--} MB/s, errors $(fig "$b" "$k.errors") | disk write + fsync ${d:--} MB/s; loopback ${l:--} MB/s | ${rd}x disk, ${rl}x loopback | ≥ 0.8x disk; ≥ 0.3x loopback where the disk is faster | $ok |"
    for w in portal mixed; do
     for pace in 0 "$interval_ms"; do
      if [ "$w" = portal ]; then
        what="Portal: $portal_devices devices in $portal_spaces spaces"; base="– (new scenario)"
      else
        what="One room, $mixed_clients devices"; base="sync p99 17.5 s (issue, before; closed loop)"
      fi
      if [ "$pace" = 0 ]; then
        what="$what, closed loop"
      else
        what="$what, paced $pace ms"
      fi
      s_p99=$(mix "$b" "$w" "$pace" 13); failed=$(mix "$b" "$w" "$pace" 8)
      s_ms=$([ "$w" = portal ] && echo 100 || echo 1000)
      ok=$(met "a <= $s_ms && b == 0" "$s_p99" "$failed")
      echo "| $what | $b | $(mix "$b" "$w" "$pace" 7) req/s; sync p50 $(mix "$b" "$w" "$pace" 12) ms, **p99 ${s_p99:--} ms**, failed ops ${failed:--} | $base | - | sync p99 ≤ $s_ms ms, zero errors | $ok |"
      m1=$(mix "$b" "$w" "$pace" 29); m2=$(mix "$b" "$w" "$pace" 30); mp=$(mix "$b" "$w" "$pace" 31)
      ok=$(met '(a < 0 ? -a : a) <= 10' "$mp" "")
      base=$([ "$w" = mixed ] && [ "$pace" = 0 ] && echo "+193 MiB/min (issue, before)" || echo "–")
      echo "| $what: relay RSS | $b | ${m1:--} -> ${m2:--} MiB (**${mp:--} %**; slope $(mix "$b" "$w" "$pace" 23) MiB/min) | $base | - | flat within 10 % | $ok |"
     done
    done
  done
  echo
  echo "Mixed rows in detail (45 % posts, 45 % SDK-style syncs, 10 % uploads of 64 KiB-4 MiB, each"
  echo "deleted after; closed loop (pace 0) or paced (mean interval per device, ms); $secs s with the first $warmup s not counted). RSS: means of"
  echo "the first and the last $window s after the warm-up (single samples swing by tens of MiB)."
  echo "A \`503\` (the relay busy; for appends: \`SEALROOM_MAX_CONCURRENT_APPENDS\`, 16 in flight per"
  echo "instance by default, left at the default here) is sent again after its \`Retry-After\`, at"
  echo "most 60 times, a \`409\` at most 8 times; beyond that, and on any other non-2xx answer, the"
  echo "operation failed. Relay limits raised by the load generator: the hourly message quotas,"
  echo "\`SEALROOM_MAX_SPACE_BYTES\`, \`SEALROOM_MAX_CHUNK\` and \`SEALROOM_MAX_MESSAGE_BODY\` (4 KiB per"
  echo "client, at least 1 MiB: the commit adding every client to the room). Generator CPU: the load"
  echo "generator shares the cores with the relay (signing, SHA-256 of every append)."
  echo
  echo "| Workload | Pace | Deployment | Devices | Set-up | req/s | post p50 / p99 | sync p50 / p99 | upload p50 / p99 | delete p50 / p99 | Failed ops | 409s / 503s retried | Relay CPU | Generator CPU | RSS first -> last |"
  echo "|---|---:|---|---:|---:|---:|---|---|---|---|---:|---:|---:|---:|---|"
  for b in $backends; do
    awk -F'\t' '{
      printf "| %s | %s ms | %s | %s | %s s | %s | %s / %s ms | %s / %s ms | %s / %s ms | %s / %s ms | %s | %s / %s | %s s | %s s | %s -> %s MiB (%s %%) |\n",
        $32, $35, $1, $3, $33, $7, $10, $11, $12, $13, $14, $15, $16, $17, $8, $27, $28, $9, $34, $29, $30, $31
    }' "$out/mixed-$b.tsv"
  done
  echo
  echo "Wall time per row (relay start, set-up, load, baselines):"
  awk -F'\t' '{ printf "%s%s %s %s s%s", (NR > 1 ? ", " : ""), $1, $2, $3, ($4 == "ok" ? "" : " (failed)") } END { print "." }' "$out/times.tsv"
  echo
  echo "<!-- throughput-bench:end -->"
} > "$out/throughput.md"

if [ "${BENCH_NO_DOC:-0}" = 1 ]; then
  cat "$out/throughput.md"
else
  scripts/replace-section.py "$doc" throughput-bench "Relay throughput (issue 21)" "$out/throughput.md"
  say "updated the \"Relay throughput (issue 21)\" block of $doc"
fi
for b in $backends; do
  for f in "$out"/*-"$b".md; do
    [ -f "$f" ] && { echo; echo "== $(basename "$f")"; cat "$f"; }
  done
done
say "throughput rows done in $(( elapsed / 60 )) min $(( elapsed % 60 )) s"
