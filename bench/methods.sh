#!/usr/bin/env bash
# The textbook table, measured: every copy method on every path, 1 GiB, 5 interleaved rounds,
# warm page cache; then the same file paths cold, and file → file on an XFS loop image (reflink),
# when run as root with mkfs.xfs. Writes docs/bench/*. Run on an otherwise idle machine: never two
# benchmarks at once.
#   bash bench/methods.sh            # all of it
#   SIZE=256M REPEAT=3 bash bench/methods.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
size=${SIZE:-1G}
repeat=${REPEAT:-5}
out=docs/bench
mkdir -p "$out"

bash scripts/deps.sh >/dev/null
bash scripts/build.sh >/dev/null
zcopy=build/tools/zcopy/zcopy

echo "== warm, every path"
"$zcopy" bench --size "$size" --repeat "$repeat" \
  --json "$out/bench-1g.json" --html "$out/bench-1g.html" | tee "$out/bench-1g.txt"

echo "== cold (source evicted before each run), file paths"
"$zcopy" bench --cold --size "$size" --repeat 3 --paths file-socket,file-file \
  --methods read_write,mmap_write,sendfile,splice,copy_file_range,direct_io,io_uring \
  --json "$out/bench-1g-cold.json" | tee "$out/bench-1g-cold.txt"

if [[ $EUID -eq 0 ]] && command -v mkfs.xfs >/dev/null; then
  echo "== file → file on XFS (reflink)"
  work=$(mktemp -d)
  trap 'umount "$work/mnt" 2>/dev/null || true; rm -rf "$work"' EXIT
  truncate -s 4G "$work/xfs.img"
  mkfs.xfs -q -f "$work/xfs.img"
  mkdir "$work/mnt"
  mount -o loop "$work/xfs.img" "$work/mnt"
  "$zcopy" bench --dir "$work/mnt" --size "$size" --repeat "$repeat" --paths file-file \
    --json "$out/bench-1g-xfs.json" | tee "$out/bench-1g-xfs.txt"
else
  echo "== skipping XFS (needs root and mkfs.xfs)"
fi
