#!/usr/bin/env bash
# zcopy get against curl and wget: the same 1 GiB download from one nginx on 127.0.0.1, in
# interleaved rounds, medians and ratios. nginx (generated config, sendfile on, one worker) is
# pinned to CPU 0 and every client to CPU 1, so the client's own cost is what differs. Each client
# writes into the same temporary directory (one filesystem for all); the file is removed and
# `sync` writes back dirty pages between runs, outside the timing. Each download is checked once
# with cmp, also outside the timing.
#
# Reported per client: median wall seconds, throughput (MiB/s), and the client's CPU seconds
# (user + sys from /usr/bin/time -f), with ratios against curl and wget. The client's CPU time is
# where splice shows: curl and wget read every byte into user memory and write it out again.
#
#   bash bench/get-vs-curl.sh                  # 5 rounds, 1 GiB
#   ROUNDS=3 SIZE_MIB=256 bash bench/get-vs-curl.sh
#   ZCOPY_NO_BUILD=1 ...                        # use build/tools/zcopy/zcopy as it is
# Writes docs/bench/get-vs-curl.txt and .json.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rounds=${ROUNDS:-5}
size_mib=${SIZE_MIB:-1024}
out=${OUT_DIR:-docs/bench}
mkdir -p "$out"

source bench/lib.sh
bash scripts/deps.sh >/dev/null
need=()
command -v curl >/dev/null || need+=(curl)
command -v wget >/dev/null || need+=(wget)
[[ -x /usr/bin/time ]] || need+=(time)
command -v taskset >/dev/null || need+=(util-linux)
bench_install "${need[@]}"
bench_build

cpus=$(nproc)
server_cpu=0
client_cpu=$((cpus > 1 ? 1 : 0))

bench_workdir get-bench

mkdir -p "$work/root" "$work/dl"
echo "get-vs-curl: writing a ${size_mib} MiB random file"
head -c $((size_mib << 20)) /dev/urandom >"$work/root/big.bin"
port=$(free_port)
bench_nginx "$work/nginx" "$port" "$work/root" "$server_cpu"
wait_port "$port"
url="http://127.0.0.1:$port/big.bin"
# Warm the page cache on the server side once, so that every client reads from memory.
cat "$work/root/big.bin" >/dev/null

dest=$work/dl/big.bin
declare -A commands=(
  [zcopy]="$zcopy get -q --no-progress -o $dest $url"
  [curl]="curl -s -o $dest $url"
  [wget]="wget -q -O $dest $url"
)
tools=(zcopy curl wget)
results=$work/results.tsv
: >"$results"

# One timed run: /usr/bin/time measures the client (wall, user, sys); cmp afterwards.
time_run() {
  local tool=$1
  rm -f "$dest" "$dest.part" "$dest.part.meta"
  sync
  # shellcheck disable=SC2086
  /usr/bin/time -f '%e %U %S' -o "$work/time" taskset -c "$client_cpu" ${commands[$tool]}
  read -r wall user sys <"$work/time"
  if ! cmp -s "$work/root/big.bin" "$dest"; then
    echo "get-vs-curl: $tool downloaded a wrong file" >&2
    exit 1
  fi
  printf '%s\t%s\t%s\t%s\n' "$tool" "$wall" "$user" "$sys" >>"$results"
  printf '  %-6s %7.3f s  user %6.3f  sys %6.3f\n' "$tool" "$wall" "$user" "$sys"
}

for round in $(seq "$rounds"); do
  echo "round $round/$rounds"
  # Interleaved, the order rotated each round so no tool always runs first.
  for i in 0 1 2; do
    time_run "${tools[$(((i + round) % 3))]}"
  done
done
rm -f "$dest"

python3 - "$results" "$out" "$size_mib" "$rounds" <<'PY'
import json, statistics, sys
path, out, size_mib, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
runs = {}
for line in open(path):
    tool, wall, user, sys_ = line.split()
    runs.setdefault(tool, []).append((float(wall), float(user) + float(sys_)))
summary = {}
for tool, r in runs.items():
    wall = statistics.median(w for w, _ in r)
    cpu = statistics.median(c for _, c in r)
    summary[tool] = {"median_s": wall, "mib_per_s": size_mib / wall if wall else None,
                     "median_cpu_s": cpu, "runs_s": [w for w, _ in r],
                     "runs_cpu_s": [c for _, c in r]}
for tool, s in summary.items():
    for peer in ("curl", "wget"):
        if peer in summary:
            p = summary[peer]
            s[f"speedup_vs_{peer}"] = p["median_s"] / s["median_s"] if s["median_s"] else None
            s[f"cpu_ratio_vs_{peer}"] = s["median_cpu_s"] / p["median_cpu_s"] if p["median_cpu_s"] else None
lines = [f"zcopy get vs curl vs wget: {size_mib} MiB from nginx on 127.0.0.1, {rounds} rounds, "
         "server on CPU 0, client on CPU 1",
         f"{'tool':<6} {'median s':>9} {'MiB/s':>8} {'CPU s':>7} {'curl/tool':>10} {'wget/tool':>10} "
         f"{'CPU vs curl':>12} {'CPU vs wget':>12}"]
for tool in ("zcopy", "curl", "wget"):
    s = summary.get(tool)
    if not s:
        continue
    fmt = lambda v, f: (f % v) if v is not None else "-"
    lines.append(f"{tool:<6} {s['median_s']:>9.3f} {fmt(s['mib_per_s'], '%.0f'):>8} "
                 f"{s['median_cpu_s']:>7.3f} {fmt(s.get('speedup_vs_curl'), '%.2fx'):>10} "
                 f"{fmt(s.get('speedup_vs_wget'), '%.2fx'):>10} "
                 f"{fmt(s.get('cpu_ratio_vs_curl'), '%.2fx'):>12} "
                 f"{fmt(s.get('cpu_ratio_vs_wget'), '%.2fx'):>12}")
text = "\n".join(lines) + "\n"
print(text, end="")
open(f"{out}/get-vs-curl.txt", "w").write(text)
json.dump({"size_mib": size_mib, "rounds": rounds, "tools": summary},
          open(f"{out}/get-vs-curl.json", "w"), indent=1)
PY
