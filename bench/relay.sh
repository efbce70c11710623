#!/usr/bin/env bash
# zcopy relay against HAProxy (tcp mode, splice) and socat, side by side: one iperf3 stream
# through each relay to the same iperf3 server, interleaved rounds, medians and ratios. Every
# relay runs pinned to CPU 0 with one thread; iperf3's client and server run pinned to CPU 1, so
# the relay's core is not shared with the load and its CPU time is its own.
#
#   bash bench/relay.sh                        # 5 rounds of 10 s per relay
#   ROUNDS=3 SECONDS=5 bash bench/relay.sh     # (SECONDS_PER_RUN works too)
#   OUT=/tmp/relay-smoke ROUNDS=1 SECONDS=2 bash bench/relay.sh
#
# Relays: zcopy relay (splice through per-connection pipes, read/write where refused);
# zcopy relay --engine read-write (the copy loop, to see what splice buys); haproxy (mode tcp,
# option splice-auto, nbthread 1, maxconn 1000); socat (TCP-LISTEN:P,reuseaddr,fork TCP:...,
# its read/write loop with 8 KiB buffers). Reported per relay: Gbit/s received by the iperf3
# server (median over rounds, from iperf3 -J), and the relay's CPU seconds per GB moved:
# utime+stime+cutime+cstime from /proc/PID/stat before and after each run (socat does its work
# in forked children, which land in cutime/cstime once reaped). Ratios against haproxy and socat.
# Writes $OUT/relay.txt and $OUT/relay.json (OUT defaults to docs/bench).
set -euo pipefail
# SECONDS is bash's own clock: imported from the environment it keeps counting from the value
# given, so read the value passed in before anything else runs.
seconds_env=$(printenv SECONDS || true)
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rounds=${ROUNDS:-5}
seconds=${SECONDS_PER_RUN:-${seconds_env:-10}}
out=${OUT:-docs/bench}
mkdir -p "$out"
source bench/lib.sh

need=()
command -v iperf3 >/dev/null || need+=(iperf3)
command -v socat >/dev/null || need+=(socat)
command -v haproxy >/dev/null || need+=(haproxy)
command -v taskset >/dev/null || need+=(util-linux)
command -v python3 >/dev/null || need+=(python3)
bench_install "${need[@]}"
bench_build
bench_workdir relay-bench

# The iperf3 server everything relays to.
iperf_port=$(free_port)
taskset -c 1 iperf3 -s -p "$iperf_port" >"$work/iperf3-server.log" 2>&1 &
pids+=($!)
wait_port "$iperf_port"

declare -A port pid
port[zcopy]=$(free_port)
taskset -c 0 "$zcopy" relay --listen "127.0.0.1:${port[zcopy]}" --to "127.0.0.1:$iperf_port" \
  --threads 1 --log "$work/zcopy.log" >/dev/null 2>&1 &
pid[zcopy]=$!
pids+=($!)

port[zcopy_rw]=$(free_port)
taskset -c 0 "$zcopy" relay --listen "127.0.0.1:${port[zcopy_rw]}" --to "127.0.0.1:$iperf_port" \
  --threads 1 --engine read-write --log "$work/zcopy-rw.log" >/dev/null 2>&1 &
pid[zcopy_rw]=$!
pids+=($!)

port[haproxy]=$(free_port)
cat >"$work/haproxy.cfg" <<CONF
global
  nbthread 1
  maxconn 1000
defaults
  mode tcp
  option splice-auto
  timeout connect 5s
  timeout client 60s
  timeout server 60s
listen relay
  bind 127.0.0.1:${port[haproxy]}
  server iperf 127.0.0.1:$iperf_port
CONF
taskset -c 0 haproxy -f "$work/haproxy.cfg" -db >"$work/haproxy.log" 2>&1 &
pid[haproxy]=$!
pids+=($!)

port[socat]=$(free_port)
taskset -c 0 socat "TCP-LISTEN:${port[socat]},bind=127.0.0.1,reuseaddr,fork" \
  "TCP:127.0.0.1:$iperf_port" >"$work/socat.log" 2>&1 &
pid[socat]=$!
pids+=($!)

relays=(zcopy zcopy_rw haproxy socat)
for r in "${relays[@]}"; do wait_port "${port[$r]}"; done

# Clock ticks of a process and its reaped children: utime stime cutime cstime (fields 14-17;
# the command name in field 2 may hold spaces, so count from the closing parenthesis).
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13 + $14 + $15}'; }
hz=$(getconf CLK_TCK)

results=$work/results.tsv
: >"$results"
for ((round = 1; round <= rounds; round++)); do
  for r in "${relays[@]}"; do
    before=$(cpu_ticks "${pid[$r]}")
    taskset -c 1 iperf3 -c 127.0.0.1 -p "${port[$r]}" -t "$seconds" -Z -J >"$work/$r-$round.json"
    sleep 0.3  # let socat's child exit and be reaped into cutime
    after=$(cpu_ticks "${pid[$r]}")
    python3 - "$work/$r-$round.json" "$r" "$round" "$((after - before))" "$hz" >>"$results" <<'PY'
import json, sys
path, name, round_, ticks, hz = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
end = json.load(open(path))["end"]["sum_received"]
gbit = end["bits_per_second"] / 1e9
gb = end["bytes"] / 1e9
print(f"{name}\t{round_}\t{gbit:.3f}\t{gb:.3f}\t{ticks / hz / gb if gb else 0:.4f}")
PY
    echo "round $round $r: $(tail -n 1 "$results" | cut -f3) Gbit/s" >&2
  done
done

python3 - "$results" "$out" "$rounds" "$seconds" "$(uname -r)" "$(nproc)" <<'PY'
import json, statistics, sys
results, out, rounds, seconds, kernel, cpus = sys.argv[1:7]
rows = [l.split("\t") for l in open(results).read().splitlines() if l]
names = ["zcopy", "zcopy_rw", "haproxy", "socat"]
label = {"zcopy": "zcopy relay (splice)", "zcopy_rw": "zcopy relay --engine read-write",
         "haproxy": "haproxy (tcp, splice-auto)", "socat": "socat"}
summary = {}
for n in names:
    mine = [r for r in rows if r[0] == n]
    summary[n] = {
        "label": label[n],
        "gbit_per_s": [float(r[2]) for r in mine],
        "cpu_s_per_gb": [float(r[4]) for r in mine],
        "median_gbit_per_s": statistics.median(float(r[2]) for r in mine),
        "median_cpu_s_per_gb": statistics.median(float(r[4]) for r in mine),
    }
    # What one fully busy relay core would carry at the measured cost per byte: the load
    # generator shares the other core, so a relay that is not CPU-bound shows less than it can.
    cpu = summary[n]["median_cpu_s_per_gb"]
    summary[n]["core_capacity_gbit_per_s"] = 8 / cpu if cpu else None
def ratio(a, b, key):
    d = summary[b][key]
    return summary[a][key] / d if d else None
lines = [
    f"zcopy relay vs haproxy vs socat: one iperf3 stream over loopback, {rounds} interleaved "
    f"rounds x {seconds} s; relay on CPU 0 (1 thread), iperf3 on CPU 1; kernel {kernel}, "
    f"{cpus} CPUs",
    "",
    f"{'relay':34} {'Gbit/s':>8} {'CPU s/GB':>9} {'thr/haproxy':>12} {'thr/socat':>10} "
    f"{'cpu/haproxy':>12} {'cpu/socat':>10} {'core Gbit/s':>12} {'core/socat':>11}",
]
for n in names:
    s = summary[n]
    s["ratio_throughput_vs_haproxy"] = ratio(n, "haproxy", "median_gbit_per_s")
    s["ratio_throughput_vs_socat"] = ratio(n, "socat", "median_gbit_per_s")
    s["ratio_cpu_vs_haproxy"] = ratio(n, "haproxy", "median_cpu_s_per_gb")
    s["ratio_cpu_vs_socat"] = ratio(n, "socat", "median_cpu_s_per_gb")
    s["ratio_core_capacity_vs_socat"] = ratio(n, "socat", "core_capacity_gbit_per_s")
    f = lambda v: f"{v:.2f}" if v is not None else "-"
    lines.append(
        f"{s['label']:34} {s['median_gbit_per_s']:8.2f} {s['median_cpu_s_per_gb']:9.3f} "
        f"{f(s['ratio_throughput_vs_haproxy']):>12} {f(s['ratio_throughput_vs_socat']):>10} "
        f"{f(s['ratio_cpu_vs_haproxy']):>12} {f(s['ratio_cpu_vs_socat']):>10} "
        f"{f(s['core_capacity_gbit_per_s']):>12} {f(s['ratio_core_capacity_vs_socat']):>11}")
lines += ["", "Gbit/s: median received by the iperf3 server; CPU s/GB: the relay process's "
          "utime+stime (+ reaped children) per GB moved, median. Ratios: throughput above 1 and "
          "CPU below 1 favour the relay in the row. core Gbit/s: 8 / (CPU s/GB), what the relay's "
          "one core would carry when busy all the time (the iperf3 pair on the other core caps the "
          "measured throughput; a relay that reaches its core's limit, like socat, shows it)."]
text = "\n".join(lines) + "\n"
open(f"{out}/relay.txt", "w").write(text)
json.dump({"rounds": int(rounds), "seconds": int(seconds), "kernel": kernel, "cpus": int(cpus),
           "relays": summary}, open(f"{out}/relay.json", "w"), indent=2)
print(text, end="")
PY
