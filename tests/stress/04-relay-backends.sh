#!/usr/bin/env bash
# Scenario 4: zcopy relay in front of two zcopy serve backends (one epoll, one io_uring) while 16
# clients fetch files through it and the backends are killed (SIGKILL) and restarted in turn.
# Every body is checked against the file's SHA-256. Checks: the relay survives and relays again
# once both backends are back, no client ever gets wrong bytes (a complete body with another hash,
# or a partial body that is not a prefix of the file), the relay's sockets return to the
# listener's count within 10 s.
#
# Env: STRESS_SECONDS (30), STRESS_CLIENTS (16), ZCOPY_BIN.
scenario=04-relay-backends
# shellcheck source=tests/stress/lib.sh
source "$(dirname "$0")/lib.sh"

seconds=${STRESS_SECONDS:-30}
clients=${STRESS_CLIENTS:-16}
stress_setup python3:python3

mkdir -p "$work/root"
for i in 0 1 2 3; do random_file "$work/root/f$i" $(((i + 1) * 262144)); done

# Backends on fixed ports, restarted on the same port.
declare -a backend_port backend_pid backend_engine=(epoll io_uring)
start_backend() {
  local b=$1 flags=()
  [[ ${backend_engine[$b]} == epoll ]] || flags=(--engine "${backend_engine[$b]}")
  "$zcopy" serve "$work/root" --listen "127.0.0.1:${backend_port[$b]}" --threads 1 "${flags[@]}" \
    >>"$work/backend-$b.log" 2>&1 &
  backend_pid[b]=$!
  pids+=("${backend_pid[b]}")
  wait_port "${backend_port[$b]}"
}
for b in 0 1; do
  backend_port[b]=$(free_port)
  start_backend "$b"
done

relay_port=$(free_port)
"$zcopy" relay --listen "127.0.0.1:$relay_port" --to "127.0.0.1:${backend_port[0]}" \
  --to "127.0.0.1:${backend_port[1]}" --threads 2 --retry-after 1 --connect-timeout 2 \
  --idle-timeout 20 --log "$work/relay.log" 2>"$work/relay.err" &
relay_pid=$!
pids+=("$relay_pid")
wait_port "$relay_port"
base_sockets=$(socket_count "$relay_pid")
base_fds=$(fd_count "$relay_pid")
base_pipes=$(pipe_count "$relay_pid")

cat >"$work/fetch.py" <<'EOF'
# fetch PORT ROOT CLIENTS SECONDS: clients GET /f0..f3 through PORT, one request per connection.
# Prints "ok clean_errors bad" and the first bad cases on stderr.
import hashlib, os, random, socket, sys, threading, time
port, root, clients, seconds = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
files = {f"/f{i}": open(os.path.join(root, f"f{i}"), "rb").read() for i in range(4)}
stats, lock = {"ok": 0, "clean": 0, "bad": 0}, threading.Lock()
def one(rng):
    path = rng.choice(list(files))
    body = files[path]
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            data = bytearray()
            while True:
                b = s.recv(262144)
                if not b: break
                data += b
    except OSError:
        return "clean", ""
    if not data:
        return "clean", ""  # closed before any byte: the backend died or was refused
    head, sep, got = bytes(data).partition(b"\r\n\r\n")
    if not sep or not head.startswith(b"HTTP/1.1 200"):
        return ("clean", "") if not sep else ("bad", f"{path}: head {head[:40]!r}")
    if len(got) == len(body):
        ok = hashlib.sha256(got).digest() == hashlib.sha256(body).digest()
        return ("ok", "") if ok else ("bad", f"{path}: full length, wrong hash")
    if len(got) < len(body) and body.startswith(got):
        return "clean", ""  # cut short: the client sees a short body (Content-Length)
    return "bad", f"{path}: {len(got)} bytes, not a prefix of the file"
def worker(seed):
    rng, end = random.Random(seed), time.monotonic() + seconds
    while time.monotonic() < end:
        kind, why = one(rng)
        with lock:
            stats[kind] += 1
            if why and stats["bad"] <= 5: print(why, file=sys.stderr)
ts = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
for t in ts: t.start()
for t in ts: t.join()
print(stats["ok"], stats["clean"], stats["bad"])
EOF

python3 "$work/fetch.py" "$relay_port" "$work/root" "$clients" "$seconds" \
  >"$work/fetch.out" 2>"$work/fetch.err" &
fetch_pid=$!
pids+=("$fetch_pid")
kills=0
deadline=$((SECONDS + seconds - 2))
while ((SECONDS < deadline)) && alive "$fetch_pid"; do
  b=$((kills % 2))
  sleep 1
  kill -9 "${backend_pid[$b]}" 2>/dev/null || true
  wait "${backend_pid[$b]}" 2>/dev/null || true
  kills=$((kills + 1))
  sleep 1
  start_backend "$b"
done
wait "$fetch_pid" || true
read -r ok clean bad <"$work/fetch.out"

if alive "$relay_pid"; then
  sleep 1.5  # --retry-after 1: both backends eligible again
  if http_ok "$relay_port" /f1 && http_ok "$relay_port" /f2; then v=pass; else v=FAIL; fi
  stress_result survives "$v" "relay alive after $kills backend kills (SIGKILL + restart) in ${seconds}s; relays again afterwards"
else
  stress_result survives FAIL "relay died; stderr: $(tail -3 "$work/relay.err" | tr '\n' ' ')"
fi
stress_check bytes "bad == 0 && ok > 0" \
  "$ok complete bodies with the right SHA-256, $clean clean errors (refused, closed, short prefix), $bad wrong bytes $(head -3 "$work/fetch.err" | tr '\n' ' ')"
sockets=$(wait_sockets "$relay_pid" "$base_sockets" "$settle_s")
stress_check sockets "sockets <= base_sockets" "relay sockets $sockets after load (baseline $base_sockets)"
fds=$(fd_count "$relay_pid")
pipes=$(($(pipe_count "$relay_pid") - base_pipes))
stress_check fds "fds - pipes <= base_fds" \
  "relay descriptors $fds after load, $pipes of them pipe ends added (pool) (baseline $base_fds, bound: baseline + pooled pipes)"

stress_finish
