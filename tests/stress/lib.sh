# shellcheck shell=bash disable=SC2034,SC2154
# (scenario, pids and the variables set here are shared with the sourcing script)
# Shared by the stress scenarios (sourced): the repository root as working directory, bench/lib.sh
# (package installation, build, work directory with cleanup trap, loopback ports), the result line
# format and the probes every scenario checks (descriptors, sockets, RSS).
#
# Every check prints one line:  RESULT <scenario> <check> <pass|FAIL> <detail>
# and a scenario exits 1 when any of its checks failed (run-all.sh collects the lines).

set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
# shellcheck source=bench/lib.sh
source bench/lib.sh

stress_failures=0

# stress_result CHECK pass|FAIL DETAIL...
stress_result() {
  local check=$1 verdict=$2
  shift 2
  printf 'RESULT %s %s %s %s\n' "$scenario" "$check" "$verdict" "$*"
  [[ $verdict == pass ]] || stress_failures=$((stress_failures + 1))
}

# stress_check CHECK CONDITION DETAIL: CONDITION is an arithmetic expression (( ... )).
stress_check() {
  if (($2)); then stress_result "$1" pass "$3"; else stress_result "$1" FAIL "$3"; fi
}

# stress_finish: the scenario's exit status (the cleanup trap still runs).
stress_finish() {
  echo "$scenario: $stress_failures failed check(s)"
  ((stress_failures == 0))
}

# stress_setup: root check, packages for the commands named, the zcopy build ($zcopy), a work
# directory ($work) cleaned up at exit with every pid in `pids`, and a raised descriptor limit.
# stress_setup COMMAND:PACKAGE...
stress_setup() {
  ((EUID == 0)) || { echo "$scenario: run as root (namespaces, apt-get, limits)" >&2; exit 2; }
  local need=() pair
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}")
  done
  bench_install "${need[@]}"
  if [[ -n ${ZCOPY_BIN:-} ]]; then zcopy=$ZCOPY_BIN; else bench_build; fi
  bench_workdir "stress-$scenario"
  ulimit -n 20000 2>/dev/null || true
}

# fd_count PID: open descriptors of PID.
fd_count() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }

# socket_count PID: open descriptors of PID that are sockets.
socket_count() {
  local n=0 f
  for f in "/proc/$1/fd"/*; do
    [[ $(readlink "$f" 2>/dev/null) == socket:* ]] && n=$((n + 1))
  done
  echo "$n"
}

# pipe_count PID: open descriptors of PID that are pipes (pools keep some between uses).
pipe_count() {
  local n=0 f
  for f in "/proc/$1/fd"/*; do
    [[ $(readlink "$f" 2>/dev/null) == pipe:* ]] && n=$((n + 1))
  done
  echo "$n"
}

# The process-wide pipe_pool keeps at most 16 idle pipes (include/zcopy/pipe.hpp): 32 ends that
# stay open after a load by design, not a leak.
pool_pipe_ends=32

# rss_kb PID: resident set size in KiB (VmRSS).
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# alive PID: the process exists and is not a zombie.
alive() {
  [[ -r /proc/$1/status ]] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null
}

# wait_below COUNT PID LIMIT SECONDS: until `COUNT PID` (socket_count, fd_count) is at most
# LIMIT, or SECONDS pass; prints the last count. It returns as soon as the count is down, so
# SECONDS is a bound for a server that never lets go, not a budget: the scenarios pass settle_s
# (a slow machine under load takes its time closing thousands of sockets).
wait_below() {
  local count=$1 pid=$2 limit=$3 deadline=$((SECONDS + $4)) n
  while :; do
    n=$("$count" "$pid")
    if ((n <= limit || SECONDS >= deadline)); then echo "$n"; return 0; fi
    sleep 0.2
  done
}

settle_s=60

# wait_sockets / wait_fds PID LIMIT SECONDS: the sockets, or all descriptors, PID holds.
wait_sockets() { wait_below socket_count "$@"; }
wait_fds() { wait_below fd_count "$@"; }

# start_serve ROOT ENGINE [FLAGS...]: zcopy serve on a free loopback port; sets $serve_pid,
# $serve_port. ENGINE "epoll" is the default engine.
start_serve() {
  local root=$1 engine=$2
  shift 2
  local engine_flags=()
  [[ $engine == epoll ]] || engine_flags=(--engine "$engine")
  serve_port=$(free_port)
  "$zcopy" serve "$root" --listen "127.0.0.1:$serve_port" --threads 2 "${engine_flags[@]}" "$@" \
    >"$work/serve-$engine-$serve_port.log" 2>&1 &
  serve_pid=$!
  pids+=("$serve_pid")
  wait_port "$serve_port"
}

# stop_pid PID: SIGTERM, then SIGKILL after 5 s.
stop_pid() {
  local _
  kill "$1" 2>/dev/null || return 0
  for _ in $(seq 50); do
    alive "$1" || break
    sleep 0.1
  done
  kill -9 "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# random_file PATH BYTES: random content (never all zeros).
random_file() { head -c "$2" /dev/urandom >"$1"; }

# http_ok PORT PATH: a GET through a fresh connection answers 200 (python3, no curl needed).
http_ok() {
  python3 - "$1" "$2" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(f"GET {sys.argv[2]} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
head = s.recv(64)
sys.exit(0 if head.startswith(b"HTTP/1.1 200") else 1)
EOF
}

# The engines serve runs under in every scenario that involves it.
read -r -a serve_engines <<<"${STRESS_ENGINES:-epoll io_uring}"
