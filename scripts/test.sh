#!/usr/bin/env bash
# Runs every check zcopy has, the way CI does:
#   1. dependencies (scripts/deps.sh), and no system call outside src/sys
#      (scripts/check-raw-calls.py)
#   2. build/ with -Werror, then ctest
#   3. every public header compiles on its own (zcopy_header_check)
#   4. install into a temporary prefix; build and run examples/consumer against it, once through
#      find_package(zcopy) and once through pkg-config
#   5. the browser tests (tests/browser/run.sh): the listing, the demo and the bench report in
#      Debian's chromium driven by playwright-core, at phone and desktop widths
#   6. build-asan/ (AddressSanitizer + UndefinedBehaviorSanitizer), then ctest
#   7. build-tsan/ (ThreadSanitizer) of the multithreaded parts, then their tests
#   8. the libFuzzer targets (scripts/fuzz.sh: clang-16, FUZZ_SECONDS per target, default 60)
# Every step runs even when an earlier one failed (unless it needs that one's output); the
# summary at the end lists what failed, and the exit status is non-zero if anything did.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
jobs=$(nproc)

work=$(mktemp -d "${TMPDIR:-/tmp}/zcopy-test.XXXXXX")
trap 'rm -rf "$work"' EXIT

failed=()
passed=()
last_ok=false
# step NAME COMMAND...: runs COMMAND in a subshell with errexit on (a function called from `if`
# or `||` would silently run past its failing commands), records the result under NAME and sets
# last_ok. It never fails itself, so that later steps still run.
step() {
  local name=$1 rc
  shift
  echo
  echo "==> $name"
  set +e
  (
    set -e
    "$@"
  )
  rc=$?
  set -e
  if ((rc == 0)); then
    passed+=("$name")
    last_ok=true
  else
    echo "==> $name: FAILED (exit $rc)" >&2
    failed+=("$name")
    last_ok=false
  fi
}

run_ctest() {
  ctest --test-dir "$1" --output-on-failure -j 2 --timeout 300
}

# LeakSanitizer stops the process's threads with ptrace to scan for leaks at exit; some container
# runtimes deny ptrace. Find out with a trivial program instead of failing every test.
lsan_works() {
  local probe=$work/lsan-probe
  printf 'int main() { return 0; }\n' | g++ -x c++ -fsanitize=address - -o "$probe" 2>/dev/null &&
    ASAN_OPTIONS=detect_leaks=1 "$probe" >/dev/null 2>&1
}

consumer_roundtrip() {
  local consumer=$1
  head -c $((3 * 1024 * 1024 + 17)) /dev/urandom >"$work/input"
  rm -f "$work/output"
  "$consumer" "$work/input" "$work/output"
  cmp "$work/input" "$work/output"
}

install_and_consume() {
  local prefix=$work/prefix
  cmake --install build --prefix "$prefix"
  cmake -S examples/consumer -B "$work/consumer-build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix"
  cmake --build "$work/consumer-build"
  consumer_roundtrip "$work/consumer-build/consumer"
}

pkg_config_consume() {
  local prefix=$work/prefix
  local flags
  flags=$(PKG_CONFIG_PATH=$prefix/lib/pkgconfig pkg-config --cflags --libs zcopy)
  echo "pkg-config --cflags --libs zcopy: $flags"
  # shellcheck disable=SC2086 # the flags are words
  g++ examples/consumer/main.cpp $flags -o "$work/consumer-pc"
  consumer_roundtrip "$work/consumer-pc"
}

step deps bash scripts/deps.sh
step raw-calls python3 scripts/check-raw-calls.py

step build bash scripts/build.sh --werror
if $last_ok; then
  step ctest run_ctest build
  step header-check cmake --build build --target zcopy_header_check -j "$jobs"
  step install-consumer install_and_consume
  if $last_ok; then
    step pkg-config-consumer pkg_config_consume
  fi
  step browser bash tests/browser/run.sh build/tools/zcopy/zcopy "$work/browser"
fi

if lsan_works; then
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
else
  echo "LeakSanitizer cannot run here (ptrace is not allowed): leak checks are off" >&2
  export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:strict_string_checks=1
fi
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
step build-asan bash scripts/build.sh --sanitize --werror
if $last_ok; then
  step ctest-asan run_ctest build-asan
fi
unset ASAN_OPTIONS UBSAN_OPTIONS

# Only the targets scripts/build.sh --tsan builds; the others' tests are placeholders (_NOT_BUILT).
run_ctest_tsan() {
  ctest --test-dir build-tsan --output-on-failure -j 2 --timeout 300 -E '_NOT_BUILT'
}
export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1
step build-tsan bash scripts/build.sh --tsan --werror
if $last_ok; then
  step ctest-tsan run_ctest_tsan
fi
unset TSAN_OPTIONS

step fuzz bash scripts/fuzz.sh

echo
echo "passed: ${passed[*]:-none}"
if ((${#failed[@]})); then
  echo "FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "all checks passed"
