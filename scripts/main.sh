#!/usr/bin/env bash
# Sets up the dependencies, builds zcopy and runs `zcopy probe`: what works on this machine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/deps.sh
bash scripts/build.sh
build/tools/zcopy/zcopy probe "$@"
