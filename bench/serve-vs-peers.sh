#!/usr/bin/env bash
# zcopy serve against nginx, side by side: the same ROOT, the same wrk load, interleaved rounds,
# medians and ratios. Both servers get one worker pinned to CPU 0; wrk runs pinned to CPU 1, so
# the server's core is the bottleneck and the numbers compare servers, not the load generator.
#
#   bash bench/serve-vs-nginx.sh                    # 5 rounds of 5 s per case
#   ROUNDS=3 SECONDS_PER_RUN=3 bash bench/serve-vs-nginx.sh
#
# Cases: files of 1 KiB, 16 KiB, 1 MiB and 64 MiB over 50 kept-alive connections (the 64 MiB
# case over 4; there wrk's own copy of every byte is the bottleneck, so compare CPU per request).
# Servers: nginx (sendfile on, tcp_nopush on, open_file_cache on, access_log off); zcopy serve as
# it runs by default (open-file cache on; bodies up to 16 KiB from the cache's mapping in one
# sendmsg with the head, larger ones with sendfile); zcopy serve --engine sendfile (every body
# through sendfile, as nginx does); zcopy serve --engine io_uring (the loop on io_uring: accept,
# recv and sends batched in one io_uring_enter per turn, larger bodies as spliced pairs);
# zcopy serve --open-file-cache 0 (the cache's gain). Reported
# per case: requests/s and MiB/s (median over rounds), the server's CPU time per request
# (utime+stime from /proc, median), and ratios against nginx.
# Writes $OUT/serve-vs-nginx.txt and .json (OUT defaults to docs/bench).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rounds=${ROUNDS:-5}
seconds=${SECONDS_PER_RUN:-5}
out=${OUT:-docs/bench}
mkdir -p "$out"

source bench/lib.sh
bash scripts/deps.sh >/dev/null
command -v wrk >/dev/null || bench_install wrk
bench_build
bench_workdir serve-bench

root=$work/root
mkdir -p "$root"
for spec in 1k:1024 16k:16384 1m:1048576 64m:67108864; do
  head -c "${spec#*:}" /dev/urandom >"$root/${spec%%:*}.bin"
done
cat "$root"/*.bin >/dev/null  # warm page cache


# nginx, one worker, tuned the way a static site runs it.
nginx_port=$(free_port)
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 4096; }
http {
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_requests 1000000;
  open_file_cache max=1024 inactive=20s;
  open_file_cache_valid 1s;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  server {
    listen 127.0.0.1:$nginx_port;
    root $root;
  }
}
CONF
taskset -c 0 /usr/sbin/nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" -e "$work/nginx/error.log" &
pids+=($!)
nginx_pid=$!

start_zcopy() {  # name, extra flags...
  local name=$1
  shift
  taskset -c 0 "$zcopy" serve "$root" --listen 127.0.0.1:0 --threads 1 --max-requests 0 "$@" \
    >"$work/$name.out" 2>&1 &
  pids+=($!)
  eval "${name}_pid=$!"
  for _ in $(seq 50); do
    grep -q 'http://' "$work/$name.out" && break
    sleep 0.1
  done
  eval "${name}_port=$(grep -o 'http://[^/]*' "$work/$name.out" | head -1 | sed 's/.*://')"
}
start_zcopy zcopy
start_zcopy zcopy_sendfile --engine sendfile
start_zcopy zcopy_nocache --open-file-cache 0
start_zcopy zcopy_uring --engine io_uring
for _ in $(seq 50); do
  curl -s -o /dev/null "http://127.0.0.1:$nginx_port/1k.bin" && break
  sleep 0.1
done

# Every server must serve the same bytes before it is timed.
for port in "$nginx_port" "$zcopy_port" "$zcopy_sendfile_port" "$zcopy_nocache_port" \
  "$zcopy_uring_port"; do
  for f in 1k 16k 1m 64m; do
    curl -sf "http://127.0.0.1:$port/$f.bin" | cmp -s - "$root/$f.bin" ||
      { echo "serve-vs-nginx: port $port served wrong bytes for $f.bin" >&2; exit 1; }
  done
done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
results=$work/results.tsv
: >"$results"
echo "serve-vs-nginx: $rounds rounds x ${seconds}s per case, servers on CPU 0, wrk on CPU 1"
for round in $(seq "$rounds"); do
  for f in 1k 16k 1m 64m; do
    conns=50
    [[ $f == 64m ]] && conns=4
    for server in nginx zcopy zcopy_uring zcopy_sendfile zcopy_nocache; do
      port_var=${server}_port
      pid_var=${server}_pid
      port=${!port_var}
      pid=${!pid_var}
      before=$(cpu_ticks "$pid")
      report=$(taskset -c 1 wrk -t1 -c"$conns" -d"${seconds}s" --timeout 10s \
        "http://127.0.0.1:$port/$f.bin")
      after=$(cpu_ticks "$pid")
      requests=$(awk '/requests in/ {print $1}' <<<"$report")
      errors=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$report")
      [[ -z $errors ]] || echo "  warning: $server $f: $errors" >&2
      printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$f" "$server" "$requests" "$seconds" \
        "$((after - before))" >>"$results"
      printf '  round %s %-4s %-14s %8s requests\n' "$round" "$f" "$server" "$requests"
    done
  done
done

python3 - "$results" "$out" "$(getconf CLK_TCK)" <<'PY'
import json, statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().splitlines()]
out, hz = sys.argv[2], int(sys.argv[3])
size = {"1k": 1024, "16k": 16384, "1m": 1 << 20, "64m": 64 << 20}
data = {}
for rnd, f, server, req, secs, ticks in rows:
    req, secs, ticks = int(req), float(secs), int(ticks)
    d = data.setdefault((f, server), {"rps": [], "cpu_us": []})
    d["rps"].append(req / secs)
    d["cpu_us"].append(ticks / hz * 1e6 / max(req, 1))
med = {k: {"rps": statistics.median(v["rps"]), "cpu_us": statistics.median(v["cpu_us"])}
       for k, v in data.items()}
lines = []
lines.append(f"{'file':<5} {'server':<14} {'req/s':>10} {'MiB/s':>9} {'CPU us/req':>11}"
             f" {'req/s vs nginx':>15} {'CPU vs nginx':>13}")
for f in ["1k", "16k", "1m", "64m"]:
    base = med[(f, "nginx")]
    for server in ["nginx", "zcopy", "zcopy_uring", "zcopy_sendfile", "zcopy_nocache"]:
        m = med[(f, server)]
        mib = m["rps"] * size[f] / (1 << 20)
        ratio = m["rps"] / base["rps"]
        cpu = m["cpu_us"] / base["cpu_us"] if base["cpu_us"] else float("nan")
        lines.append(f"{f:<5} {server:<14} {m['rps']:>10.0f} {mib:>9.0f} {m['cpu_us']:>11.1f}"
                     f" {ratio:>14.2f}x {cpu:>12.2f}x")
lines.append("")
lines.append("io_uring loop vs epoll loop (zcopy serve --engine io_uring vs zcopy serve):")
for f in ["1k", "16k", "1m", "64m"]:
    u, e = med[(f, "zcopy_uring")], med[(f, "zcopy")]
    lines.append(f"  {f:<4} req/s {u['rps'] / e['rps']:.2f}x, CPU per request "
                 f"{u['cpu_us'] / e['cpu_us'] if e['cpu_us'] else float('nan'):.2f}x")
text = "\n".join(lines)
print(text)
open(f"{out}/serve-vs-nginx.txt", "w").write(text + "\n")
json.dump({f"{f}/{s}": v for (f, s), v in med.items()} | {"raw": rows},
          open(f"{out}/serve-vs-nginx.json", "w"), indent=1)
PY
