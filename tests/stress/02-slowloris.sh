#!/usr/bin/env bash
# Scenario 2: 500 slowloris connections (a request head sent one byte every 2 s, reconnecting
# when the server drops them) while 50 normal clients keep requesting a file. The normal clients'
# latency is measured alone first, then beside the slowloris load. Checks, per engine: no normal
# request fails, p50 and p99 under load stay within FACTOR x the alone figures (+ 5 ms for timer
# noise on a shared machine), the server closes slowloris connections (--header-timeout), and
# its sockets return to the listeners' count afterwards.
#
# Env: STRESS_SECONDS (30, per measured phase), STRESS_SLOW (500), STRESS_CLIENTS (50),
#      STRESS_FACTOR (3), STRESS_ENGINES, ZCOPY_BIN.
scenario=02-slowloris
# shellcheck source=tests/stress/lib.sh
source "$(dirname "$0")/lib.sh"

seconds=${STRESS_SECONDS:-30}
slow=${STRESS_SLOW:-500}
clients=${STRESS_CLIENTS:-50}
factor=${STRESS_FACTOR:-3}
header_timeout=5
stress_setup python3:python3

mkdir -p "$work/root"
random_file "$work/root/page" 16384

cat >"$work/slowloris.py" <<'EOF'
# slowloris PORT COUNT SECONDS: COUNT connections, each sending a request head one byte every
# 2 s, reopened when the server closes it. Prints how many the server closed.
import selectors, socket, sys, time
port, count, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
head = b"GET /page HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 4096
sel = selectors.DefaultSelector()
conns = {}  # socket -> bytes sent
closed_by_server = 0
def open_one():
    s = socket.socket()
    s.setblocking(False)
    s.connect_ex(("127.0.0.1", port))
    conns[s] = 0
    sel.register(s, selectors.EVENT_READ)
for _ in range(count):
    open_one()
end = time.monotonic() + seconds
next_tick = time.monotonic()
while time.monotonic() < end:
    for key, _ in sel.select(timeout=0.2):
        s = key.fileobj
        try:
            data = s.recv(4096)
        except OSError:
            data = b""
        if not data:  # closed by the server (or an error answer then close)
            sel.unregister(s); s.close(); del conns[s]; closed_by_server += 1
            open_one()
    if time.monotonic() >= next_tick:
        next_tick += 2
        for s in list(conns):
            try:
                s.send(head[conns[s]:conns[s] + 1]); conns[s] += 1
            except (BlockingIOError, OSError):
                pass
for s in conns:
    s.close()
print(closed_by_server)
EOF

cat >"$work/latency.py" <<'EOF'
# latency PORT CLIENTS SECONDS: CLIENTS threads each GET /page on a new connection in a loop.
# Prints "requests errors p50_ms p99_ms".
import socket, sys, threading, time
port, clients, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
lat, errors, lock = [], [0], threading.Lock()
req = b"GET /page HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
def client():
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t0 = time.monotonic()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(req)
                got = b""
                while True:
                    b = s.recv(65536)
                    if not b: break
                    got += b
            ok = got.startswith(b"HTTP/1.1 200") and len(got) > 16384
        except OSError:
            ok = False
        dt = (time.monotonic() - t0) * 1000
        with lock:
            if ok: lat.append(dt)
            else: errors[0] += 1
        time.sleep(0.02)
ts = [threading.Thread(target=client) for _ in range(clients)]
for t in ts: t.start()
for t in ts: t.join()
lat.sort()
pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else -1
print(len(lat), errors[0], f"{pick(0.5):.2f}", f"{pick(0.99):.2f}")
EOF

# within MEASURED BASE: MEASURED <= FACTOR * BASE + 5 (ms), as an awk exit status.
within() { awk -v m="$1" -v b="$2" -v f="$factor" 'BEGIN { exit !(m <= f * b + 5) }'; }

for engine in "${serve_engines[@]}"; do
  start_serve "$work/root" "$engine" --header-timeout "$header_timeout"
  base_sockets=$(socket_count "$serve_pid")
  read -r n0 e0 p50_0 p99_0 < <(python3 "$work/latency.py" "$serve_port" "$clients" "$seconds")

  python3 "$work/slowloris.py" "$serve_port" "$slow" "$((seconds + 4))" >"$work/slow-$engine.txt" &
  slow_pid=$!
  pids+=("$slow_pid")
  # The slowloris connections are open before measuring (bounded: settle_s).
  for _ in $(seq $((settle_s * 10))); do
    (($(socket_count "$serve_pid") >= base_sockets + slow)) && break
    sleep 0.1
  done
  peak=$(socket_count "$serve_pid")
  read -r n1 e1 p50_1 p99_1 < <(python3 "$work/latency.py" "$serve_port" "$clients" "$seconds")
  wait "$slow_pid" || true
  dropped=$(cat "$work/slow-$engine.txt")

  stress_check "served-$engine" "e1 == 0 && n1 > 0 && e0 == 0" \
    "$n1 requests by $clients clients beside $slow slowloris connections (server held $peak sockets), $e1 failed; alone: $n0 requests, $e0 failed"
  if within "$p50_1" "$p50_0" && within "$p99_1" "$p99_0"; then v=pass; else v=FAIL; fi
  stress_result "latency-$engine" "$v" \
    "p50 ${p50_1} ms / p99 ${p99_1} ms under slowloris vs ${p50_0} / ${p99_0} ms alone (bound ${factor}x + 5 ms)"
  stress_check "slow-closed-$engine" "dropped >= slow" \
    "server closed $dropped slowloris connections in $((seconds + 4)) s (--header-timeout $header_timeout)"
  sockets=$(wait_sockets "$serve_pid" "$base_sockets" "$settle_s")
  stress_check "sockets-$engine" "sockets <= base_sockets" \
    "sockets $sockets after load (baseline $base_sockets)"
  stop_pid "$serve_pid"
done

stress_finish
