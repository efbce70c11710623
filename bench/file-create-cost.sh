#!/usr/bin/env bash
# What a new file costs the filesystem, by the way it is given its name: the floor under the
# tree case of cp-vs-coreutils.sh. 20,000 files of 8 KiB in 200 directories, written by a small C
# program in three ways, on ext4 in a RAM-backed loop image (as root; else in the work directory):
#   named        open(O_CREAT|O_EXCL) under the final name, write, close (GNU cp: a copy cut
#                short leaves a truncated file under the final name)
#   unnamed      open(O_TMPFILE), write, linkat(AT_EMPTY_PATH) under the final name (zcopy cp
#                for a new DEST: the name appears only once the data is complete)
#   temp-rename  open(O_CREAT|O_EXCL) under a temporary name, write, renameat2(RENAME_NOREPLACE)
#                (rsync's way, and zcopy cp's when it replaces an existing DEST)
# with 1 and 2 threads (each takes whole directories, as zcopy cp does), interleaved rounds,
# medians, and each way's time against `named`.
#
#   bash bench/file-create-cost.sh           # 5 rounds
#   ROUNDS=9 bash bench/file-create-cost.sh
# Writes docs/bench/file-create-cost.txt.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
rounds=${ROUNDS:-5}
out=docs/bench
mkdir -p "$out"

source bench/lib.sh
command -v gcc >/dev/null || bench_install gcc libc6-dev
bench_workdir create-cost

root=$work
if bench_ram_ext4 1G "$work/ramext4"; then root=$work/ramext4; fi

cat >"$work/create.c" <<'C'
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { dirs = 200, files = 100, size = 8192 };
static int way, threads;
static const char* root;
static char data[size];

static void check(int ok, const char* what) {
  if (!ok) {
    perror(what);
    exit(1);
  }
}

static void* work(void* arg) {
  for (long d = (long)arg; d < dirs; d += threads) {
    char path[4096];
    snprintf(path, sizeof path, "%s/d%03ld", root, d);
    check(mkdir(path, 0755) == 0, "mkdir");
    int dir = open(path, O_RDONLY | O_DIRECTORY);
    check(dir >= 0, "open dir");
    for (int f = 0; f < files; ++f) {
      char name[64], temp[96];
      snprintf(name, sizeof name, "f%03d", f);
      int fd;
      if (way == 0) {
        fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL, 0644);
        check(fd >= 0, "create");
        check(write(fd, data, size) == size, "write");
      } else if (way == 1) {
        fd = openat(dir, ".", O_WRONLY | O_TMPFILE, 0644);
        check(fd >= 0, "O_TMPFILE");
        check(write(fd, data, size) == size, "write");
        check(linkat(fd, "", dir, name, AT_EMPTY_PATH) == 0, "linkat");
      } else {
        snprintf(temp, sizeof temp, ".%s.tmp-Xy12Ab", name);
        fd = openat(dir, temp, O_WRONLY | O_CREAT | O_EXCL, 0644);
        check(fd >= 0, "create");
        check(write(fd, data, size) == size, "write");
        check(renameat2(dir, temp, dir, name, RENAME_NOREPLACE) == 0, "renameat2");
      }
      close(fd);
    }
    close(dir);
  }
  return NULL;
}

int main(int argc, char** argv) {
  if (argc != 4) return 2;
  way = atoi(argv[1]);
  threads = atoi(argv[2]);
  root = argv[3];
  for (int i = 0; i < size; ++i) data[i] = (char)rand();
  check(mkdir(root, 0755) == 0, "mkdir root");
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  pthread_t t[64];
  for (long i = 0; i < threads; ++i) pthread_create(&t[i], NULL, work, (void*)i);
  for (int i = 0; i < threads; ++i) pthread_join(t[i], NULL);
  clock_gettime(CLOCK_MONOTONIC, &b);
  printf("%.6f\n", (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9);
  return 0;
}
C
gcc -O2 -pthread -o "$work/create" "$work/create.c"

ways=(named unnamed temp-rename)
results=$work/results.tsv
: >"$results"
echo "file-create-cost: $rounds rounds, 20,000 files of 8 KiB in 200 directories, $(uname -r)"
for r in $(seq "$rounds"); do
  for threads in 1 2; do
    for w in 0 1 2; do
      rm -rf "$root/t"
      sync
      secs=$("$work/create" "$w" "$threads" "$root/t")
      n=$(find "$root/t" -type f | wc -l)
      if [[ $n -ne 20000 ]]; then
        echo "file-create-cost: ${ways[$w]} made $n files, not 20000" >&2
        exit 1
      fi
      printf '%s\t%s\t%s\n' "${ways[$w]}" "$threads" "$secs" >>"$results"
      printf '  %-12s %s thread(s) %8.3f s\n' "${ways[$w]}" "$threads" "$secs"
    done
  done
done
rm -rf "$root/t"

python3 - "$results" "$out" <<'PY'
import statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().splitlines()]
times = {}
for way, threads, secs in rows:
    times.setdefault((way, threads), []).append(float(secs))
lines = [f"{'way':<12} {'threads':>7} {'median s':>9} {'min s':>8} {'max s':>8} {'/ named':>8}"]
for (way, threads), t in times.items():
    base = statistics.median(times[("named", threads)])
    m = statistics.median(t)
    lines.append(f"{way:<12} {threads:>7} {m:>9.3f} {min(t):>8.3f} {max(t):>8.3f} {m / base:>7.2f}x")
text = "\n".join(lines)
print(text)
open(f"{sys.argv[2]}/file-create-cost.txt", "w").write(text + "\n")
PY
