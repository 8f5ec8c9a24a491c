# ClamAV (Debian's clamav-daemon, the real `clamd`) as the malware scanner of the tests. Source
# it; do not run it:
#
#   source scripts/services/clamav.sh
#
# Idempotent: installs the Debian packages clamav and clamav-daemon when missing, writes its own
# clamd configuration and signature database under target/clamav/ (freshclam cannot download
# here: the database is the project's own, scripts/services/clamav/sealroom-test.ndb, which
# detects the EICAR test file as `Sealroom.Test.EICAR`), starts clamd in the foreground of a
# background session on a free loopback TCP port unless one started by this script still
# answers, waits until `PING` answers `PONG`, and exports SEALROOM_TEST_CLAMD=127.0.0.1:<port>
# (and SEALROOM_TEST_CLAMD_CONF, the configuration, for `clamdscan --config-file`).
# On failure it says why and returns non-zero; the tests that need clamd then fail under
# CI=true (they never skip silently there). Production: docs/scanner.md.

sealroom_clamav_ping() {
  # clamd's zINSTREAM-style commands: "zPING\0" answers "PONG\0".
  python3 - "$1" <<'EOF'
import socket, sys
host, port = sys.argv[1].rsplit(":", 1)
try:
    with socket.create_connection((host, int(port)), timeout=3) as s:
        s.sendall(b"zPING\0")
        sys.exit(0 if s.recv(16).rstrip(b"\0") == b"PONG" else 1)
except OSError:
    sys.exit(1)
EOF
}

sealroom_clamav() {
  local root
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
  local home="$root/target/clamav"
  local clamd=/usr/sbin/clamd

  if [ ! -x "$clamd" ] || ! command -v clamdscan >/dev/null 2>&1; then
    echo "==> installing ClamAV (Debian packages clamav clamav-daemon)" >&2
    if [ "$(id -u)" -eq 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clamav clamav-daemon >/dev/null
    else
      sudo apt-get update -qq && sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq clamav clamav-daemon >/dev/null
    fi || { echo "clamav: install failed" >&2; return 1; }
  fi
  [ "${SEALROOM_CLAMAV_INSTALL_ONLY:-0}" = 1 ] && return 0

  mkdir -p "$home/db" || return 1
  # Reuse a clamd started by this script that still answers.
  if [ -f "$home/env" ] && [ -f "$home/clamd.pid" ] && kill -0 "$(cat "$home/clamd.pid")" 2>/dev/null; then
    # shellcheck disable=SC1091
    source "$home/env"
    if sealroom_clamav_ping "$SEALROOM_TEST_CLAMD"; then
      return 0
    fi
  fi
  if [ -f "$home/clamd.pid" ]; then
    kill "$(cat "$home/clamd.pid")" 2>/dev/null || true
    rm -f "$home/clamd.pid" "$home/env"
  fi

  cp "$root/scripts/services/clamav/sealroom-test.ndb" "$home/db/" || return 1
  local port
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])') || return 1
  # The limits let a stream of up to 1 GiB be scanned whole (clamd's hard ceiling is 4 GB);
  # larger streams end in "INSTREAM size limit exceeded", which the scanner reports as failed.
  cat > "$home/clamd.conf" <<EOF
Foreground yes
TCPSocket $port
TCPAddr 127.0.0.1
DatabaseDirectory $home/db
LogFile $home/clamd.log
LogTime yes
StreamMaxLength 1024M
MaxScanSize 1024M
MaxFileSize 1024M
ReadTimeout 120
CommandReadTimeout 30
MaxThreads 4
SelfCheck 0
EOF
  if [ "$(id -u)" -eq 0 ]; then
    echo "User root" >> "$home/clamd.conf"
  fi
  : > "$home/clamd.log"
  setsid "$clamd" --config-file="$home/clamd.conf" > "$home/clamd.out" 2>&1 < /dev/null &
  echo $! > "$home/clamd.pid"

  local addr="127.0.0.1:$port" i
  for i in $(seq 1 240); do
    if sealroom_clamav_ping "$addr"; then
      break
    fi
    if ! kill -0 "$(cat "$home/clamd.pid")" 2>/dev/null; then
      echo "clamav: clamd exited; see target/clamav/clamd.log and clamd.out" >&2
      return 1
    fi
    sleep 0.5
  done
  if [ "$i" -ge 240 ]; then
    echo "clamav: clamd did not answer PING; see target/clamav/clamd.log" >&2
    return 1
  fi
  cat > "$home/env.tmp" <<EOF
export SEALROOM_TEST_CLAMD=$addr
export SEALROOM_TEST_CLAMD_CONF=$home/clamd.conf
EOF
  mv "$home/env.tmp" "$home/env"
  # shellcheck disable=SC1091
  source "$home/env"
  echo "clamav: clamd at $addr (pid $(cat "$home/clamd.pid"))" >&2
}

sealroom_clamav
