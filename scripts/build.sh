#!/usr/bin/env bash
# Configures and builds zcopy: build/ (RelWithDebInfo), or build-asan/ with --sanitize
# (AddressSanitizer and UndefinedBehaviorSanitizer), or build-tsan/ with --tsan (ThreadSanitizer;
# only the multithreaded parts' tests and the tool: TSAN_TARGETS below). --werror turns warnings
# into errors. --cli builds the zcopy tool alone (what scripts/main.sh needs), not the tests.
# Extra arguments after the flags go to cmake's configure step.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build_dir=build
cmake_args=(-G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo)
targets=()
while (($#)); do
  case "$1" in
    # Instrumented builds test the host code; the CUDA part stays out (CMakeLists.txt says why).
    --sanitize) build_dir=build-asan; cmake_args+=(-DZCOPY_SANITIZE=ON -DZCOPY_WITH_CUDA=OFF) ;;
    --tsan)
      build_dir=build-tsan
      cmake_args+=(-DZCOPY_TSAN=ON -DZCOPY_WITH_CUDA=OFF)
      # The multithreaded parts: server and relay workers (in-process and as the CLI runs them),
      # parallel cp (tree and ranges), get -x (one thread per connection).
      targets=(zcopy_cli net_test copy_test serve_test cp_test relay_integration_test http_test
        get_test)
      ;;
    --werror) cmake_args+=(-DZCOPY_WERROR=ON) ;;
    --cli) targets=(zcopy_cli) ;;
    -h | --help)
      echo "usage: scripts/build.sh [--sanitize | --tsan] [--werror] [--cli] [cmake args...]"
      exit 0
      ;;
    *) cmake_args+=("$1") ;;
  esac
  shift
done

cmake -S . -B "$build_dir" "${cmake_args[@]}"
cmake --build "$build_dir" -j "$(nproc)" ${targets[@]:+--target "${targets[@]}"}
