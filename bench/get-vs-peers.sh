#!/usr/bin/env bash
# zcopy get against curl, wget and aria2c (Debian's), side by side in one run: interleaved rounds
# (the order rotated each round), medians, ratios. Three parts:
#
#   file   one SIZE_MIB file from nginx on 127.0.0.1: zcopy (one connection and -x 4), curl,
#          wget, aria2c (-x 1 and -x 4). nginx (one worker, sendfile) is pinned to CPU 0 and
#          every client to CPU 1, so a client's own cost is what differs, and clients with
#          several connections get no more CPU than the others.
#   tree   TREE_FILES small random files (1-16 KiB, in directories of 200) mirrored from the same
#          nginx: zcopy get -r -j 8 (autoindex_format json), wget -r (the HTML autoindex), and
#          aria2c -j 8 fed the list of URLs (what a script would build from the listing).
#   netns  the file part's download across two network namespaces joined by a path of 25 ms each
#          way (50 ms RTT) at 1 Gbit/s, and a client whose receive buffer tops out at 1 MiB, so
#          that one connection is held to window / RTT as on a long path: zcopy -x 1 and -x 8,
#          -x auto, curl, aria2c -x 8. The path is a veth pair under netem where the kernel has netem,
#          and otherwise TUN devices joined by zcopy_delay_line (tests/support/delay_line.cpp),
#          which forwards every packet after the same delay at the same rate. Needs root.
#
# Each download is compared with the original once (cmp / diff -r), outside the timing; files
# are removed and `sync` writes back dirty pages between runs, outside the timing too. Reported:
# median wall seconds, MiB/s, the client's CPU seconds (user + sys, /usr/bin/time) and CPU
# seconds per GiB, with ratios against the named peer.
#
#   bash bench/get-vs-peers.sh                       # ROUNDS=3 SIZE_MIB=1024 TREE_FILES=20000
#   PARTS="file tree" ROUNDS=5 bash bench/get-vs-peers.sh
#   ZCOPY_NO_BUILD=1 ... / ZCOPY_BIN=... / BUILD_TYPE=...   (bench/lib.sh; default Release)
# Writes OUT_DIR (default docs/bench)/get-vs-peers.txt and .json.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rounds=${ROUNDS:-3}
size_mib=${SIZE_MIB:-1024}
tree_files=${TREE_FILES:-20000}
parts=${PARTS:-file tree netns}
out=${OUT_DIR:-docs/bench}
export BUILD_TYPE=${BUILD_TYPE:-Release}
mkdir -p "$out"

source bench/lib.sh
bash scripts/deps.sh >/dev/null
need=()
command -v curl >/dev/null || need+=(curl)
command -v wget >/dev/null || need+=(wget)
command -v aria2c >/dev/null || need+=(aria2)
command -v ip >/dev/null || need+=(iproute2)
[[ -x /usr/bin/time ]] || need+=(time)
command -v taskset >/dev/null || need+=(util-linux)
bench_install "${need[@]}"
bench_build

cpus=$(nproc)
server_cpu=0
client_cpu=$((cpus > 1 ? 1 : 0))

bench_workdir get-peers
namespaces=()
bench_cleanup_extra() {
  local ns
  for ns in "${namespaces[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
}

root=$work/root
mkdir -p "$root" "$work/dl"
echo "get-vs-peers: writing a ${size_mib} MiB random file and a tree of $tree_files files"
head -c $((size_mib << 20)) /dev/urandom >"$root/big.bin"
python3 - "$root/tree" "$tree_files" <<'PY'
import os, random, sys
top, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(20261205)
for i in range(n):
    d = os.path.join(top, f"d{i // 200:03d}")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"f{i:05d}.bin"), "wb") as f:
        f.write(os.urandom(rng.randint(1024, 16384)))
PY
# Warm the page cache on the server side once, so that every client reads from memory.
cat "$root/big.bin" >/dev/null
find "$root/tree" -type f -exec cat {} + >/dev/null

port=$(free_port)
bench_nginx "$work/nginx" "$port" "$root" "$server_cpu" "
    location /json/ { alias $root/tree/; autoindex on; autoindex_format json; }
    location /html/ { alias $root/tree/; autoindex on; }"
wait_port "$port"
base="http://127.0.0.1:$port"

# aria2c's input file for the tree: each URL with the path it is saved under.
(cd "$root/tree" && find . -type f | sort | sed 's|^\./||') |
  awk -v b="$base/html/" '{ print b $0; print "  out=" $0 }' >"$work/tree-urls.txt"

results=$work/results.tsv
: >"$results"
aria=(aria2c -q --allow-overwrite=true --auto-file-renaming=false --file-allocation=falloc
  --console-log-level=error --summary-interval=0)

# run_timed PART TOOL CHECK COMMAND...: one timed run on the client CPU (wall, user, sys from
# /usr/bin/time); CHECK (a command) verifies the result once per tool, outside the timing.
declare -A checked=()
run_timed() {
  local part=$1 tool=$2 check=$3
  shift 3
  sync
  /usr/bin/time -f '%e %U %S' -o "$work/time" taskset -c "$client_cpu" "$@" >/dev/null
  read -r wall user sys <"$work/time"
  if [[ -z ${checked[$part/$tool]:-} ]]; then
    if ! eval "$check"; then
      echo "get-vs-peers: $part/$tool produced a wrong result" >&2
      exit 1
    fi
    checked[$part/$tool]=1
  fi
  printf '%s\t%s\t%s\t%s\t%s\n' "$part" "$tool" "$wall" "$user" "$sys" >>"$results"
  printf '  %-6s %-12s %8.3f s  user %6.3f  sys %6.3f\n' "$part" "$tool" "$wall" "$user" "$sys"
}

dest=$work/dl/big.bin
file_run() {
  local tool=$1 url=$2
  local prefix=("${@:3}")
  rm -f "$dest" "$dest.part" "$dest.part.meta" "$dest.aria2"
  local cmd
  case $tool in
    zcopy) cmd=("$zcopy" get -q --no-progress -o "$dest" "$url") ;;
    zcopy_x4) cmd=("$zcopy" get -q --no-progress -x 4 -o "$dest" "$url") ;;
    zcopy_x8) cmd=("$zcopy" get -q --no-progress -x 8 -o "$dest" "$url") ;;
    zcopy_xauto) cmd=("$zcopy" get -q --no-progress -x auto -o "$dest" "$url") ;;
    curl) cmd=(curl -s -o "$dest" "$url") ;;
    wget) cmd=(wget -q -O "$dest" "$url") ;;
    aria2c) cmd=("${aria[@]}" -x 1 -s 1 -d "$work/dl" -o big.bin "$url") ;;
    aria2c_x4) cmd=("${aria[@]}" -x 4 -s 4 -d "$work/dl" -o big.bin "$url") ;;
    aria2c_x8) cmd=("${aria[@]}" -x 8 -s 8 -d "$work/dl" -o big.bin "$url") ;;
  esac
  run_timed "$part" "$tool" 'cmp -s "$root/big.bin" "$dest"' "${prefix[@]}" "${cmd[@]}"
}

tree_dest=$work/dl/tree
tree_run() {
  local tool=$1
  rm -rf "$tree_dest"
  mkdir -p "$tree_dest"
  local cmd
  case $tool in
    zcopy_tree) cmd=("$zcopy" get -q --no-progress -r -j 8 -o "$tree_dest" "$base/json/") ;;
    wget_tree) cmd=(wget -q -r -np -nH --cut-dirs=1 -R 'index.html*' -P "$tree_dest" "$base/html/") ;;
    aria2c_tree) cmd=("${aria[@]}" -j 8 -x 1 -d "$tree_dest" -i "$work/tree-urls.txt") ;;
  esac
  run_timed tree "$tool" 'diff -rq "$root/tree" "$tree_dest" >/dev/null' "${cmd[@]}"
}

# rotate ITEM...: prints the items rotated by the round number (no tool always runs first).
rotate() {
  local n=$# i
  local items=("$@")
  for ((i = 0; i < n; i++)); do echo "${items[$(((i + round) % n))]}"; done
}

netns_note=""
netns_emulator=""
netns_setup() {
  [[ $EUID -eq 0 ]] || { netns_note="skipped: needs root"; return 1; }
  local tag="zb$$" a b e
  a=${tag}a b=${tag}b
  ip netns add "${tag}s" && namespaces+=("${tag}s")
  ip netns add "${tag}c" && namespaces+=("${tag}c")
  ip -n "${tag}s" link set lo up
  ip -n "${tag}c" link set lo up
  ip link add "$a" type veth peer name "$b"
  ip link set "$a" netns "${tag}s"
  ip link set "$b" netns "${tag}c"
  ip -n "${tag}s" addr add 10.202.0.1/24 dev "$a"
  ip -n "${tag}c" addr add 10.202.0.2/24 dev "$b"
  ip -n "${tag}s" link set "$a" up
  ip -n "${tag}c" link set "$b" up
  if e=$(tc -n "${tag}s" qdisc add dev "$a" root netem delay 25ms rate 1gbit 2>&1) &&
    e=$(tc -n "${tag}c" qdisc add dev "$b" root netem delay 25ms rate 1gbit 2>&1); then
    netns_emulator="netem on a veth pair"
  else
    # No netem here: a TUN device on each side and zcopy_delay_line forwarding between them
    # with the same delay and rate (tests/support/delay_line.cpp; MTU 9000).
    echo "get-vs-peers: netem is not available ($e); using zcopy_delay_line"
    ip -n "${tag}s" link del "$a"
    a=${tag}t b=${tag}u
    c++ -std=c++20 -O2 -o "$work/zcopy_delay_line" tests/support/delay_line.cpp
    ip -n "${tag}s" tuntap add dev "$a" mode tun
    ip -n "${tag}c" tuntap add dev "$b" mode tun
    ip -n "${tag}s" link set "$a" mtu 9000 up
    ip -n "${tag}c" link set "$b" mtu 9000 up
    ip -n "${tag}s" addr add 10.202.0.1/24 dev "$a"
    ip -n "${tag}c" addr add 10.202.0.2/24 dev "$b"
    "$work/zcopy_delay_line" "${tag}s" "$a" "${tag}c" "$b" 25 1000 >"$work/delay-line.out" &
    pids+=($!)
    until grep -q '^ready$' "$work/delay-line.out" 2>/dev/null; do
      kill -0 "${pids[-1]}" 2>/dev/null || {
        netns_note="skipped: the delay line did not start"
        return 1
      }
      sleep 0.05
    done
    netns_emulator="zcopy_delay_line between TUN devices, MTU 9000"
  fi
  ip netns exec "${tag}c" sh -c "echo '4096 131072 1048576' > /proc/sys/net/ipv4/tcp_rmem"
  server_ns=${tag}s client_ns=${tag}c
}

if [[ " $parts " == *" file "* ]]; then
  part=file
  for round in $(seq "$rounds"); do
    echo "file round $round/$rounds"
    for tool in $(rotate zcopy zcopy_x4 curl wget aria2c aria2c_x4); do
      file_run "$tool" "$base/big.bin"
    done
  done
  rm -f "$dest"
fi

if [[ " $parts " == *" tree "* ]]; then
  for round in $(seq "$rounds"); do
    echo "tree round $round/$rounds"
    for tool in $(rotate zcopy_tree wget_tree aria2c_tree); do tree_run "$tool"; done
  done
  rm -rf "$tree_dest"
fi

if [[ " $parts " == *" netns "* ]]; then
  if netns_setup; then
    nport=$(free_port)
    bench_nginx "$work/nginx-netns" "$nport" "$root" "$server_cpu" "" 10.202.0.1 \
      ip netns exec "$server_ns"
    sleep 1
    part=netns
    for round in $(seq "$rounds"); do
      echo "netns round $round/$rounds"
      for tool in $(rotate zcopy zcopy_x8 zcopy_xauto curl aria2c_x8); do
        file_run "$tool" "http://10.202.0.1:$nport/big.bin" ip netns exec "$client_ns"
      done
    done
    rm -f "$dest"
  else
    echo "get-vs-peers: netns part $netns_note"
  fi
fi

python3 - "$results" "$out" "$size_mib" "$tree_files" "$rounds" "$netns_note" "$netns_emulator" <<'PY'
import json, statistics, sys
path, out = sys.argv[1], sys.argv[2]
size_mib, tree_files, rounds, netns_note = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
netns_emulator = sys.argv[7]
runs = {}
for line in open(path):
    part, tool, wall, user, sys_ = line.split()
    runs.setdefault(part, {}).setdefault(tool, []).append((float(wall), float(user) + float(sys_)))
peers = {"file": "curl", "tree": "wget_tree", "netns": "zcopy"}
titles = {
    "file": f"one {size_mib} MiB file from nginx on 127.0.0.1",
    "tree": f"a tree of {tree_files} files (1-16 KiB) from nginx on 127.0.0.1",
    "netns": f"one {size_mib} MiB file across netns, 50 ms RTT, 1 Gbit/s ({netns_emulator}), "
             "client window <= 1 MiB",
}
summary, lines = {}, [f"zcopy get vs curl, wget, aria2c: {rounds} rounds, medians; "
                      "server on CPU 0, client on CPU 1"]
for part in ("file", "tree", "netns"):
    if part not in runs:
        if part == "netns" and netns_note:
            lines += ["", f"netns: {netns_note}"]
        continue
    peer = peers[part]
    part_sum = {}
    for tool, r in runs[part].items():
        wall = statistics.median(w for w, _ in r)
        cpu = statistics.median(c for _, c in r)
        part_sum[tool] = {"median_s": wall, "median_cpu_s": cpu, "runs_s": [w for w, _ in r],
                          "runs_cpu_s": [c for _, c in r]}
        if part != "tree":
            part_sum[tool]["mib_per_s"] = size_mib / wall if wall else None
            part_sum[tool]["cpu_s_per_gib"] = cpu / (size_mib / 1024)
    p = part_sum.get(peer)
    for tool, s in part_sum.items():
        if p:
            s[f"speedup_vs_{peer}"] = p["median_s"] / s["median_s"] if s["median_s"] else None
            s[f"cpu_vs_{peer}"] = s["median_cpu_s"] / p["median_cpu_s"] if p["median_cpu_s"] else None
    summary[part] = part_sum
    lines += ["", f"{part}: {titles[part]}",
              f"{'tool':<12} {'median s':>9} {'MiB/s':>8} {'CPU s':>7} {'CPU s/GiB':>10} "
              f"{'speed vs ' + peer:>18} {'CPU vs ' + peer:>16}  runs (s)"]
    for tool in sorted(part_sum, key=lambda t: part_sum[t]["median_s"]):
        s = part_sum[tool]
        f = lambda v, spec: (spec % v) if v is not None else "-"
        lines.append(f"{tool:<12} {s['median_s']:>9.3f} {f(s.get('mib_per_s'), '%.0f'):>8} "
                     f"{s['median_cpu_s']:>7.3f} {f(s.get('cpu_s_per_gib'), '%.3f'):>10} "
                     f"{f(s.get('speedup_vs_' + peer), '%.2fx'):>18} "
                     f"{f(s.get('cpu_vs_' + peer), '%.2fx'):>16}  "
                     + " ".join(f"{w:.2f}" for w in s["runs_s"]))
text = "\n".join(lines) + "\n"
print(text, end="")
open(f"{out}/get-vs-peers.txt", "w").write(text)
json.dump({"size_mib": size_mib, "tree_files": tree_files, "rounds": rounds,
           "netns_note": netns_note, "netns_emulator": netns_emulator, "parts": summary},
          open(f"{out}/get-vs-peers.json", "w"), indent=1)
PY
