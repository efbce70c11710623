#!/usr/bin/env bash
# Configures and builds zcopy: build/ (RelWithDebInfo), or build-asan/ with --sanitize
# (AddressSanitizer and UndefinedBehaviorSanitizer). --werror turns warnings into errors.
# Extra arguments after the flags go to cmake's configure step.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

build_dir=build
cmake_args=(-G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo)
while (($#)); do
  case "$1" in
    --sanitize) build_dir=build-asan; cmake_args+=(-DZCOPY_SANITIZE=ON) ;;
    --werror) cmake_args+=(-DZCOPY_WERROR=ON) ;;
    -h | --help)
      echo "usage: scripts/build.sh [--sanitize] [--werror] [cmake args...]"
      exit 0
      ;;
    *) cmake_args+=("$1") ;;
  esac
  shift
done

cmake -S . -B "$build_dir" "${cmake_args[@]}"
cmake --build "$build_dir" -j "$(nproc)"
