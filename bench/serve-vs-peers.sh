#!/usr/bin/env bash
# zcopy serve against the static servers people run, side by side in one run: nginx, lighttpd,
# h2o and caddy (all from Debian, installed here when missing), the same ROOT, the same load,
# interleaved rounds, medians, and ratios against the best peer of each size.
#
#   bash bench/serve-vs-peers.sh                       # 5 rounds of 5 s per case
#   ROUNDS=3 SECONDS_PER_RUN=3 bash bench/serve-vs-peers.sh
#   SERVERS="nginx zcopy" SIZES="16k" bash bench/serve-vs-peers.sh   # a subset
#
# Every server gets one worker pinned to CPU 0 and the client runs pinned to CPU 1, so server
# and client never share a core (on a 2-CPU machine one wrk thread is the most load there is;
# the report says where its core was full):
#   nginx 1.22     worker_processes 1, master off; sendfile, tcp_nopush, open_file_cache.
#   lighttpd 1.4   one process (it has no threads); the sendfile network backend.
#   h2o 2.2        num-threads 1; file.dir (h2o reads files into its buffers, no sendfile).
#   caddy 2.6      GOMAXPROCS=1 (Go still runs helper threads, on the same CPU); file_server.
#   zcopy          serve --threads 1, default engine (epoll); and --engine io_uring.
# No access logs anywhere (each server's own way to turn them off), keep-alive without a
# request limit. Files of 1 KiB, 16 KiB and 1 MiB are fetched by wrk -t1 -c50; the 64 MiB file by
# bench/discard_client.c over 4 keep-alive connections, which drops bodies in the kernel
# (recv with MSG_TRUNC): wrk's 8 KiB reads would cap every server near 1.4 GB/s.
#
# zcopy is built as a release is built: CMAKE_BUILD_TYPE=Release (-O3 -DNDEBUG), in
# build-release/ (ZCOPY_BIN names another binary instead).
# Before anything is timed every server must serve every file's exact bytes.
# Reported per size and server: requests/s and GB/s (median over rounds), the server's CPU
# time per request (utime+stime of all its threads, from /proc, median), and both as ratios
# against the best peer of that size (the peer with the most requests/s), and how busy each
# core was (non-idle share of CPU 0 and CPU 1 from /proc/stat, softirq work included): where the
# client's core is full, requests/s is the client's ceiling and only CPU per request compares
# the servers.
# The run uses the host's TCP congestion control (named in the report); CONGESTION=cubic (or
# bbr, reno) sets net.ipv4.tcp_congestion_control for the run and puts the old one back at exit.
# Writes $OUT/serve-vs-peers.txt and .json (OUT defaults to docs/bench).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rounds=${ROUNDS:-5}
seconds=${SECONDS_PER_RUN:-5}
out=${OUT:-docs/bench}
servers=(${SERVERS:-nginx lighttpd h2o caddy zcopy zcopy_uring})
sizes=(${SIZES:-1k 16k 1m 64m})
mkdir -p "$out"

source bench/lib.sh
bash scripts/deps.sh >/dev/null
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v lighttpd >/dev/null || missing+=(lighttpd)
command -v h2o >/dev/null || missing+=(h2o)
command -v caddy >/dev/null || missing+=(caddy)
bench_install "${missing[@]}"
BUILD_TYPE=Release bench_build
congestion_before=$(sysctl -n net.ipv4.tcp_congestion_control)
bench_cleanup_extra() {
  [[ -z ${CONGESTION:-} ]] || sysctl -qw net.ipv4.tcp_congestion_control="$congestion_before"
}
bench_workdir serve-peers
[[ -z ${CONGESTION:-} ]] || sysctl -qw net.ipv4.tcp_congestion_control="$CONGESTION"
congestion=$(sysctl -n net.ipv4.tcp_congestion_control)
chmod 755 "$work"  # h2o drops root for nobody, who must reach ROOT

cc -O2 -Wall -Wextra -Werror -o "$work/discard_client" bench/discard_client.c

root=$work/root
mkdir -p "$root"
declare -A bytes_of=([1k]=1024 [16k]=16384 [1m]=1048576 [64m]=67108864)
for f in "${sizes[@]}"; do head -c "${bytes_of[$f]}" /dev/urandom >"$root/$f.bin"; done
chmod -R a+rX "$root"
cat "$root"/*.bin >/dev/null  # warm page cache

declare -A port pid

start_nginx() {
  port[nginx]=$(free_port)
  bench_nginx "$work/nginx" "${port[nginx]}" "$root" 0
  pid[nginx]=$nginx_pid
}

start_lighttpd() {
  port[lighttpd]=$(free_port)
  cat >"$work/lighttpd.conf" <<CONF
server.document-root = "$root"
server.bind = "127.0.0.1"
server.port = ${port[lighttpd]}
server.errorlog = "$work/lighttpd.error.log"
server.network-backend = "sendfile"
server.max-fds = 4096
server.max-connections = 2048
server.max-keep-alive-requests = 1000000
server.max-keep-alive-idle = 60
mimetype.assign = ( ".bin" => "application/octet-stream" )
CONF
  taskset -c 0 lighttpd -D -f "$work/lighttpd.conf" &
  pid[lighttpd]=$!
}

start_h2o() {
  port[h2o]=$(free_port)
  cat >"$work/h2o.conf" <<CONF
user: nobody
num-threads: 1
max-connections: 4096
error-log: $work/h2o.error.log
listen:
  host: 127.0.0.1
  port: ${port[h2o]}
hosts:
  default:
    paths:
      /:
        file.dir: $root
CONF
  taskset -c 0 h2o -c "$work/h2o.conf" >"$work/h2o.out" 2>&1 &
  pid[h2o]=$!
}

start_caddy() {
  port[caddy]=$(free_port)
  mkdir -p "$work/caddy"
  cat >"$work/caddy/Caddyfile" <<CONF
{
  admin off
  auto_https off
}
http://127.0.0.1:${port[caddy]} {
  root * $root
  file_server
}
CONF
  XDG_DATA_HOME=$work/caddy XDG_CONFIG_HOME=$work/caddy HOME=$work/caddy GOMAXPROCS=1 \
    taskset -c 0 caddy run --config "$work/caddy/Caddyfile" --adapter caddyfile \
    >"$work/caddy/out" 2>&1 &
  pid[caddy]=$!
}

start_zcopy() {  # name, extra flags...
  local name=$1
  shift
  taskset -c 0 "$zcopy" serve "$root" --listen 127.0.0.1:0 --threads 1 --max-requests 0 "$@" \
    >"$work/$name.out" 2>&1 &
  pid[$name]=$!
  local _
  for _ in $(seq 100); do
    grep -q 'http://' "$work/$name.out" && break
    sleep 0.1
  done
  port[$name]=$(grep -o 'http://[^/]*' "$work/$name.out" | head -1 | sed 's/.*://')
}

for server in "${servers[@]}"; do
  case $server in
    nginx) start_nginx ;;
    lighttpd) start_lighttpd ;;
    h2o) start_h2o ;;
    caddy) start_caddy ;;
    zcopy) start_zcopy zcopy ;;
    zcopy_uring) start_zcopy zcopy_uring --engine io_uring ;;
    *) echo "serve-vs-peers: unknown server $server" >&2; exit 2 ;;
  esac
  [[ $server == nginx ]] || pids+=("${pid[$server]}")
done

# Every server must serve the same bytes before it is timed.
for server in "${servers[@]}"; do
  if ! wait_port "${port[$server]}"; then
    echo "serve-vs-peers: $server did not start; its output:" >&2
    tail -n 20 "$work/$server"* "$work/$server"/* 2>/dev/null >&2 || true
    exit 1
  fi
  for f in "${sizes[@]}"; do
    curl -sf "http://127.0.0.1:${port[$server]}/$f.bin" | cmp -s - "$root/$f.bin" ||
      { echo "serve-vs-peers: $server served wrong bytes for $f.bin" >&2; exit 1; }
  done
done

# CPU of every thread of the process, in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# Non-idle ticks of CPU 0 and CPU 1 (user, nice, system, irq, softirq, steal).
core_ticks() { awk '/^cpu[01] / {printf "%s ", $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
results=$work/results.tsv
: >"$results"
echo "serve-vs-peers: $rounds rounds x ${seconds}s per case, servers on CPU 0, client on CPU 1"
for round in $(seq "$rounds"); do
  for f in "${sizes[@]}"; do
    for server in "${servers[@]}"; do
      p=${port[$server]}
      before=$(cpu_ticks "${pid[$server]}")
      read -r core0_before core1_before <<<"$(core_ticks)"
      if [[ $f == 64m ]]; then
        report=$(taskset -c 1 "$work/discard_client" 127.0.0.1 "$p" "/$f.bin" 4 "$seconds")
        requests=$(awk '{print $2}' <<<"$report")
        errors=$(awk '$8 != 0 {print "errors " $8}' <<<"$report")
      else
        report=$(taskset -c 1 wrk -t1 -c50 -d"${seconds}s" --timeout 10s \
          "http://127.0.0.1:$p/$f.bin")
        requests=$(awk '/requests in/ {print $1}' <<<"$report")
        errors=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$report")
      fi
      after=$(cpu_ticks "${pid[$server]}")
      read -r core0_after core1_after <<<"$(core_ticks)"
      [[ -z $errors ]] || echo "  warning: $server $f: $errors" >&2
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$f" "$server" "$requests" "$seconds" \
        "$((after - before))" "$((core0_after - core0_before))" "$((core1_after - core1_before))" \
        >>"$results"
      printf '  round %s %-4s %-12s %8s requests\n' "$round" "$f" "$server" "$requests"
    done
  done
done

versions=$(
  {
    /usr/sbin/nginx -v 2>&1 | head -1
    lighttpd -v 2>&1 | head -1
    h2o --version 2>&1 | head -1
    caddy version 2>&1 | head -1
    "$zcopy" --version 2>&1 | head -1
  } | paste -sd ';'
)
python3 - "$results" "$out" "$(getconf CLK_TCK)" "$rounds" "$seconds" "$versions" "$congestion" <<'PY'
import json, os, statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().splitlines()]
out, hz, rounds, seconds, versions = sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6]
congestion = sys.argv[7]
size = {"1k": 1024, "16k": 16384, "1m": 1 << 20, "64m": 64 << 20}
peers = ["nginx", "lighttpd", "h2o", "caddy"]
data = {}
for rnd, f, server, req, secs, ticks, core0, core1 in rows:
    req, secs, ticks = int(req), float(secs), int(ticks)
    d = data.setdefault((f, server), {"rps": [], "cpu_us": [], "core0": [], "core1": []})
    d["rps"].append(req / secs)
    d["cpu_us"].append(ticks / hz * 1e6 / max(req, 1))
    d["core0"].append(int(core0) / hz / secs)
    d["core1"].append(int(core1) / hz / secs)
med = {k: {"rps": statistics.median(v["rps"]), "cpu_us": statistics.median(v["cpu_us"]),
           "core0": statistics.median(v["core0"]), "core1": statistics.median(v["core1"]),
           "rps_min": min(v["rps"]), "rps_max": max(v["rps"])} for k, v in data.items()}
sizes = [f for f in size if any(k[0] == f for k in med)]
servers = [s for s in peers + ["zcopy", "zcopy_uring"] if any(k[1] == s for k in med)]
lines = [f"{rounds} rounds x {seconds} s, medians; servers pinned to CPU 0, client to CPU 1",
         f"versions: {versions}", f"TCP congestion control: {congestion}", ""]
lines.append(f"{'size':<5} {'server':<12} {'req/s':>10} {'GB/s':>7} {'CPU us/req':>11}"
             f" {'req/s vs best':>14} {'CPU vs best':>12} {'busy 0/1':>9}   range of req/s")
summary = {}
for f in sizes:
    present = [p for p in peers if (f, p) in med]
    best = max(present, key=lambda p: med[(f, p)]["rps"]) if present else None
    for server in servers:
        m = med.get((f, server))
        if not m:
            continue
        gbs = m["rps"] * size[f] / 1e9
        if best:
            b = med[(f, best)]
            ratio = f"{m['rps'] / b['rps']:>13.2f}x"
            cpu = f"{m['cpu_us'] / b['cpu_us']:>11.2f}x" if b["cpu_us"] else f"{'-':>12}"
        else:
            ratio, cpu = f"{'-':>14}", f"{'-':>12}"
        mark = "*" if server == best else " "
        busy = f"{m['core0']:.2f}/{m['core1']:.2f}"
        lines.append(f"{f:<5} {server + mark:<12} {m['rps']:>10.0f} {gbs:>7.2f} "
                     f"{m['cpu_us']:>11.1f} {ratio} {cpu} {busy:>9}   "
                     f"{m['rps_min']:.0f}-{m['rps_max']:.0f}")
        if best and server.startswith("zcopy"):
            summary.setdefault(f, {"best_peer": best})[server] = {
                "rps_ratio": m["rps"] / med[(f, best)]["rps"],
                "cpu_ratio": m["cpu_us"] / med[(f, best)]["cpu_us"] if med[(f, best)]["cpu_us"] else None}
    lines.append("")
lines.append("* the best peer of the size (most requests/s); ratios are against it.")
lines.append("busy 0/1: share of CPU 0 (server) and CPU 1 (client) not idle; a client core near 1.00")
lines.append("caps requests/s for every server, and CPU per request is the comparison that is left.")
text = "\n".join(lines)
print(text)
def write(path, content):
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        fh.write(content)
    os.replace(tmp, path)
write(f"{out}/serve-vs-peers.txt", text + "\n")
write(f"{out}/serve-vs-peers.json", json.dumps(
    {"medians": {f"{f}/{s}": v for (f, s), v in med.items()}, "against_best_peer": summary,
     "versions": versions, "congestion": congestion, "raw": rows}, indent=1))
PY
