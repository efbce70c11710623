#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, CMake option ZCOPY_FUZZ) with clang-16 into
# build-fuzz/ and runs each one, one after the other, for FUZZ_SECONDS (default 60) over a copy
# of its seed corpus (tests/fuzz/corpus/<target>) with its dictionary (tests/fuzz/<target>.dict).
#
# Environment:
#   FUZZ_SECONDS  time per target (default 60)
#   FUZZ_TARGETS  space-separated subset of targets (default: all)
#   FUZZ_JOBS     build parallelism (default: nproc)
#
# Prints one summary line per target (executions, exec/s, coverage, new corpus units) and exits
# non-zero when any target crashed, hit a sanitizer report, an invariant, a timeout (10 s for one
# input) or the memory limit; the input that did it is kept under build-fuzz/artifacts/ and its
# path printed. New corpus units stay in build-fuzz/corpus/<target> (merge the interesting ones
# into tests/fuzz/corpus by hand: libFuzzer's -merge=1).
#
# Needs Debian 12's clang-16 and libclang-rt-16-dev (libFuzzer and the sanitizer runtimes):
# clang-14, the default clang, cannot compile libstdc++ 12's <expected>. Installed here when
# missing (as root, or through sudo) by scripts/deps.sh, with the rest of zcopy's dependencies.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-$(nproc)}
all_targets=(fuzz_request fuzz_chunked fuzz_range fuzz_conditional fuzz_url fuzz_response_head
  fuzz_safetensors fuzz_listing)
read -r -a targets <<<"${FUZZ_TARGETS:-${all_targets[*]}}"
build_dir=build-fuzz

# --- packages ---------------------------------------------------------------------------------
# clang-16 and libclang-rt-16-dev (libFuzzer, sanitizer runtimes) with what every build needs.
bash scripts/deps.sh clang-16 libclang-rt-16-dev

# --- build ------------------------------------------------------------------------------------
CC=clang-16 CXX=clang++-16 cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DZCOPY_FUZZ=ON -DZCOPY_BUILD_TESTS=OFF -DZCOPY_BUILD_TOOLS=OFF -DZCOPY_WITH_CUDA=OFF
cmake --build "$build_dir" -j "$jobs" --target "${targets[@]}"

# LeakSanitizer stops the process's threads with ptrace at exit; some container runtimes deny
# ptrace. Find out with a trivial program rather than reporting a "leak" in every target.
detect_leaks=1
probe=$(mktemp "${TMPDIR:-/tmp}/zcopy-lsan-probe.XXXXXX")
if ! { printf 'int main() { return 0; }\n' | clang++-16 -x c++ -fsanitize=address - -o "$probe" \
  2>/dev/null && ASAN_OPTIONS=detect_leaks=1 "$probe" >/dev/null 2>&1; }; then
  echo "fuzz: LeakSanitizer cannot run here (ptrace is not allowed): leak checks are off" >&2
  detect_leaks=0
fi
rm -f "$probe"
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# --- run --------------------------------------------------------------------------------------
artifacts=$build_dir/artifacts
logs=$build_dir/logs
mkdir -p "$artifacts" "$logs"
summary=()
failed=()
for t in "${targets[@]}"; do
  seeds=tests/fuzz/corpus/$t
  corpus=$build_dir/corpus/$t
  rm -rf "$corpus"
  mkdir -p "$corpus"
  cp "$seeds"/* "$corpus"/
  before=$(find "$corpus" -type f | wc -l)
  dict=()
  [[ -f tests/fuzz/$t.dict ]] && dict=(-dict="tests/fuzz/$t.dict")
  log=$logs/$t.log
  echo
  echo "==> $t: ${seconds}s over $before seed inputs"
  set +e
  "$build_dir/tests/fuzz/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -detect_leaks="$detect_leaks" -print_final_stats=1 -artifact_prefix="$artifacts/$t-" \
    "${dict[@]}" "$corpus" >"$log" 2>&1
  rc=$?
  set -e
  after=$(find "$corpus" -type f | wc -l)
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -1)
  line=$(printf '%-20s runs %-10s exec/s %-7s %-20s corpus %d -> %d (+%d new)' "$t" \
    "${runs:-?}" "${speed:-?}" "${cov:-cov: ?}" "$before" "$after" $((after - before)))
  if ((rc != 0)); then
    crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
    tail -n 60 "$log"
    line+="  FAILED (exit $rc) input: ${crash:-none written}, log: $log"
    failed+=("$t")
  fi
  echo "$line"
  summary+=("$line")
done

echo
echo "fuzz summary (${seconds}s per target):"
printf '  %s\n' "${summary[@]}"
if ((${#failed[@]})); then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: no crash, sanitizer report or timeout"
