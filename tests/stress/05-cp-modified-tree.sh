#!/usr/bin/env bash
# Scenario 5: zcopy cp -r of a tree while a writer modifies it. Half the files (even numbers) are
# replaced by rename (new version written outside the tree, then renamed over), the other half
# (odd numbers) rewritten in place (same size, 64 KiB pwrites). The writer records the SHA-256 of
# every version before writing it. After each cp, every destination file must equal some version
# of its source, or cp must have exited 1 naming it; a file that matches no version is a silent
# mix. Also checked: no temporary file left in the destination.
#
# Env: STRESS_SECONDS (60), STRESS_ITERATIONS (30, cp runs at most), STRESS_FILES (96), ZCOPY_BIN.
scenario=05-cp-modified-tree
# shellcheck source=tests/stress/lib.sh
source "$(dirname "$0")/lib.sh"

seconds=${STRESS_SECONDS:-60}
iterations=${STRESS_ITERATIONS:-30}
nfiles=${STRESS_FILES:-96}
stress_setup python3:python3

cat >"$work/writer.py" <<'EOF'
# writer SRC STAGE MANIFEST FILES SECONDS: creates the tree, then modifies it until SECONDS pass
# or STAGE/stop exists. Every version's hash goes to MANIFEST ("relpath sha256") before it is
# written.
import hashlib, os, random, sys, time
src, stage, manifest, nfiles, seconds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
rng = random.Random(5)
man = open(manifest, "a", buffering=1)
def rel(i): return f"d{i % 4}/sub{i % 3}/f{i}"
def size(i): return 4096 + (i * 37 % 16) * 65536  # 4 KiB .. ~1 MiB, fixed per file
def version(i):
    data = rng.randbytes(size(i))
    man.write(f"{rel(i)} {hashlib.sha256(data).hexdigest()}\n")
    return data
for i in range(nfiles):
    os.makedirs(os.path.dirname(os.path.join(src, rel(i))), exist_ok=True)
    with open(os.path.join(src, rel(i)), "wb") as f: f.write(version(i))
open(os.path.join(stage, "ready"), "w").close()
end, rounds = time.monotonic() + seconds, 0
while time.monotonic() < end and not os.path.exists(os.path.join(stage, "stop")):
    i = rng.randrange(nfiles)
    data = version(i)
    path = os.path.join(src, rel(i))
    if i % 2 == 0:  # replace by rename
        tmp = os.path.join(stage, "tmp")
        with open(tmp, "wb") as f: f.write(data)
        os.replace(tmp, path)
    else:  # rewrite in place, same size, in 64 KiB writes
        fd = os.open(path, os.O_WRONLY)
        for off in range(0, len(data), 65536):
            os.pwrite(fd, data[off:off + 65536], off)
        os.close(fd)
    rounds += 1
    time.sleep(0.001)
print(rounds)
EOF

cat >"$work/verify.py" <<'EOF'
# verify DEST MANIFEST CP_STDERR: prints "ok reported mixed_renamed mixed_inplace missing leftovers"
# and the mixed paths on stderr.
import hashlib, os, re, sys
dest, manifest, errfile = sys.argv[1], sys.argv[2], sys.argv[3]
versions = {}
for line in open(manifest):
    p, h = line.split()
    versions.setdefault(p, set()).add(h)
err = open(errfile, errors="replace").read()
ok = reported = mixed_r = mixed_i = missing = leftovers = 0
for root, dirs, files in os.walk(dest):
    for name in files:
        rel = os.path.relpath(os.path.join(root, name), dest)
        if rel not in versions: leftovers += 1; print("leftover", rel, file=sys.stderr)
for p, hs in versions.items():
    path = os.path.join(dest, p)
    if re.search(re.escape("/" + p) + r"(?![0-9])", err):
        reported += 1; continue
    if not os.path.exists(path):
        missing += 1; print("missing", p, file=sys.stderr); continue
    h = hashlib.sha256(open(path, "rb").read()).hexdigest()
    if h in hs: ok += 1; continue
    n = int(p.rsplit("f", 1)[1])
    if n % 2 == 0: mixed_r += 1
    else: mixed_i += 1
    print("mixed", p, file=sys.stderr)
print(ok, reported, mixed_r, mixed_i, missing, leftovers)
EOF

mkdir -p "$work/src" "$work/stage"
python3 "$work/writer.py" "$work/src" "$work/stage" "$work/manifest" "$nfiles" "$seconds" \
  >"$work/writer.out" &
writer_pid=$!
pids+=("$writer_pid")
for _ in $(seq 100); do [[ -e $work/stage/ready ]] && break; sleep 0.1; done

runs=0 cp_errors=0 t_ok=0 t_rep=0 t_mr=0 t_mi=0 t_miss=0 t_left=0 bad_exit=0
deadline=$((SECONDS + seconds))
while ((runs < iterations && SECONDS < deadline)); do
  dest=$work/dest
  rm -rf "$dest"
  rc=0
  timeout 600 "$zcopy" cp -r "$work/src" "$dest" 2>"$work/cp.err" || rc=$?  # a hang guard
  runs=$((runs + 1))
  ((rc == 0)) || cp_errors=$((cp_errors + 1))
  # A failure must be exit status 1 with a message; anything else (a crash, 124) is wrong.
  if ((rc != 0)) && { ((rc != 1)) || [[ ! -s $work/cp.err ]]; }; then
    bad_exit=$((bad_exit + 1))
    echo "cp exit $rc: $(head -c 300 "$work/cp.err")" >&2
  fi
  read -r ok rep mr mi miss left < <(python3 "$work/verify.py" "$dest" "$work/manifest" \
    "$work/cp.err" 2>>"$work/verify.err")
  t_ok=$((t_ok + ok)) t_rep=$((t_rep + rep)) t_mr=$((t_mr + mr)) t_mi=$((t_mi + mi))
  t_miss=$((t_miss + miss)) t_left=$((t_left + left))
done
touch "$work/stage/stop"
wait "$writer_pid" || true
rounds=$(cat "$work/writer.out")
echo "first mixed files: $(grep -m5 mixed "$work/verify.err" | tr '\n' ' ')"

summary="$runs cp -r runs of $nfiles files in ${SECONDS}s while the writer made $rounds modifications; $t_ok files equal to a version, $t_rep reported by cp ($cp_errors runs exited 1)"
stress_check renamed-files "t_mr == 0" "$summary; renamed-over files matching no version: $t_mr"
stress_check inplace-files "t_mi == 0" "in-place rewritten files matching no version and not reported: $t_mi"
stress_check missing "t_miss == 0" "destination files missing without an error: $t_miss"
stress_check leftovers "t_left == 0" "temporary or unknown files left in destinations: $t_left"
stress_check exit-status "bad_exit == 0" "cp runs that failed other than exit 1 with a message: $bad_exit"

stress_finish
