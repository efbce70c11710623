#!/usr/bin/env bash
# zcopy cp against GNU cp (coreutils) and, for the tree, rsync: the same copies in interleaved
# rounds, medians and ratios. Cases:
#   file-1g      a 1 GiB file, warm page cache, ext4 (the machine's /tmp or $BENCH_DIR)
#   reflink-1g   a 1 GiB file on an XFS loop image made with reflink=1 (root + xfsprogs)
#   sparse-10g   a 10 GiB sparse file with 3 data extents of 64 MiB, ext4
#   tree-20k     a tree of 20,000 files of 1-16 KiB in 200 directories, on ext4 in a RAM-backed
#                loop image (as root; else in the work directory): on the shared VM disk every
#                tool's time for this case swung between 0.9 and 17 s with writeback stalls
# Every copy is checked after it is timed (cmp, or diff -r for the tree). Between runs the
# destination is removed and `sync` writes back dirty pages, outside the timing: each run starts
# with a clean page cache for the destination and a warm one for the source.
#
#   bash bench/cp-vs-coreutils.sh            # 5 rounds
#   ROUNDS=3 CASES="file-1g tree-20k" bash bench/cp-vs-coreutils.sh
# Writes docs/bench/cp-vs-coreutils.txt and .json.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rounds=${ROUNDS:-5}
cases=${CASES:-"file-1g reflink-1g sparse-10g tree-20k"}
out=docs/bench
mkdir -p "$out"

source bench/lib.sh
bash scripts/deps.sh >/dev/null
command -v rsync >/dev/null || bench_install rsync
bench_build
xfs_mount=""
bench_cleanup_extra() {
  if [[ -n $xfs_mount ]]; then umount -d "$xfs_mount" 2>/dev/null || true; fi
}
bench_workdir cp-bench

results=$work/results.tsv
: >"$results"

# time_run CASE TOOL CHECK-COMMAND -- COPY-COMMAND...: one timed run, then the check.
time_run() {
  local case=$1 tool=$2 check=$3
  shift 4
  sync
  local start end
  start=$(date +%s.%N)
  "$@" >/dev/null
  end=$(date +%s.%N)
  if ! eval "$check"; then
    echo "cp-vs-coreutils: $tool produced a wrong copy in $case" >&2
    exit 1
  fi
  printf '%s\t%s\t%s\n' "$case" "$tool" "$(echo "$end - $start" | bc)" >>"$results"
  printf '  %-11s %-14s %8.3f s\n' "$case" "$tool" "$(echo "$end - $start" | bc)"
}

setup_file_1g() {
  head -c $((1 << 30)) /dev/urandom >"$work/src-1g"
  cat "$work/src-1g" >/dev/null
}
setup_reflink_1g() {
  if [[ $EUID -ne 0 ]] || ! command -v mkfs.xfs >/dev/null; then
    echo "  reflink-1g: skipped (needs root and mkfs.xfs)"
    return 1
  fi
  truncate -s 3G "$work/xfs.img"
  mkfs.xfs -q -m reflink=1 "$work/xfs.img"
  xfs_mount=$work/xfs
  mkdir -p "$xfs_mount"
  mount -o loop "$work/xfs.img" "$xfs_mount"
  head -c $((1 << 30)) /dev/urandom >"$xfs_mount/src-1g"
  sync
}
setup_sparse_10g() {
  truncate -s 10G "$work/src-sparse"
  for at in 0 5120 10176; do  # MiB offsets: start, middle, the last 64 MiB
    head -c $((64 << 20)) /dev/urandom |
      dd of="$work/src-sparse" bs=1M seek="$at" conv=notrunc status=none
  done
  cat "$work/src-sparse" >/dev/null 2>&1 || true
}
tree_root=""
setup_tree_20k() {
  tree_root=$work
  if bench_ram_ext4 2G "$work/ramext4"; then tree_root=$work/ramext4; fi
  python3 - "$tree_root/src-tree" <<'PY'
import os, random, sys
root = sys.argv[1]
rng = random.Random(20000)
for d in range(200):
    path = os.path.join(root, f"d{d:03}", f"sub{d % 7}")
    os.makedirs(path, exist_ok=True)
    for f in range(100):
        with open(os.path.join(path, f"f{f:03}.bin"), "wb") as out:
            out.write(rng.randbytes(rng.randint(1024, 16384)))
PY
  find "$tree_root/src-tree" -type f -exec cat {} + >/dev/null
}

run_case() {
  local case=$1
  case $case in
    file-1g)
      for r in $(seq "$rounds"); do
        rm -f "$work/dst"; time_run "$case" "GNU cp" 'cmp -s "$work/src-1g" "$work/dst"' -- cp "$work/src-1g" "$work/dst"
        rm -f "$work/dst"; time_run "$case" "zcopy cp" 'cmp -s "$work/src-1g" "$work/dst"' -- "$zcopy" cp "$work/src-1g" "$work/dst"
      done
      rm -f "$work/dst" "$work/src-1g"
      ;;
    reflink-1g)
      for r in $(seq "$rounds"); do
        rm -f "$xfs_mount/dst"; time_run "$case" "GNU cp" 'cmp -s "$xfs_mount/src-1g" "$xfs_mount/dst"' -- cp --reflink=always "$xfs_mount/src-1g" "$xfs_mount/dst"
        rm -f "$xfs_mount/dst"; time_run "$case" "zcopy cp" 'cmp -s "$xfs_mount/src-1g" "$xfs_mount/dst"' -- "$zcopy" cp --reflink=always "$xfs_mount/src-1g" "$xfs_mount/dst"
      done
      ;;
    sparse-10g)
      for r in $(seq "$rounds"); do
        rm -f "$work/dst"; time_run "$case" "GNU cp" 'cmp -s "$work/src-sparse" "$work/dst"' -- cp "$work/src-sparse" "$work/dst"
        rm -f "$work/dst"; time_run "$case" "zcopy cp" 'cmp -s "$work/src-sparse" "$work/dst"' -- "$zcopy" cp "$work/src-sparse" "$work/dst"
      done
      echo "  allocated: source $(du -k "$work/src-sparse" | cut -f1) KiB, copy $(du -k "$work/dst" | cut -f1) KiB"
      rm -f "$work/dst" "$work/src-sparse"
      ;;
    tree-20k)
      local t=$tree_root
      for r in $(seq "$rounds"); do
        rm -rf "$t/dst"; time_run "$case" "GNU cp" 'diff -r -q "$t/src-tree" "$t/dst" >/dev/null' -- cp -r "$t/src-tree" "$t/dst"
        rm -rf "$t/dst"; time_run "$case" "zcopy cp" 'diff -r -q "$t/src-tree" "$t/dst" >/dev/null' -- "$zcopy" cp -r "$t/src-tree" "$t/dst"
        rm -rf "$t/dst"; time_run "$case" "rsync" 'diff -r -q "$t/src-tree" "$t/dst" >/dev/null' -- rsync -r "$t/src-tree/" "$t/dst/"
      done
      rm -rf "$t/dst"
      ;;
  esac
}

echo "cp-vs-coreutils: $rounds rounds per case ($(cp --version | head -1), $(rsync --version | head -1 | cut -d' ' -f1-3))"
for c in $cases; do
  echo "== $c"
  setup_fn=setup_${c//-/_}
  if "$setup_fn"; then run_case "$c"; fi
done

python3 - "$results" "$out" <<'PY'
import json, statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().splitlines()]
out = sys.argv[2]
times = {}
for case, tool, secs in rows:
    times.setdefault(case, {}).setdefault(tool, []).append(float(secs))
lines = [f"{'case':<11} {'tool':<9} {'median s':>9} {'min s':>8} {'max s':>8} {'GNU cp / tool':>14}"]
summary = {}
for case, tools in times.items():
    base = statistics.median(tools["GNU cp"])
    for tool, t in tools.items():
        m = statistics.median(t)
        summary[f"{case}/{tool}"] = {"median_s": m, "runs": t, "speedup_vs_gnu_cp": base / m}
        lines.append(f"{case:<11} {tool:<9} {m:>9.3f} {min(t):>8.3f} {max(t):>8.3f} {base / m:>13.2f}x")
text = "\n".join(lines)
print(text)
open(f"{out}/cp-vs-coreutils.txt", "w").write(text + "\n")
json.dump(summary, open(f"{out}/cp-vs-coreutils.json", "w"), indent=1)
PY
