#!/usr/bin/env bash
# Sets up the dependencies, builds zcopy and serves a demo site with `zcopy serve`: files of
# several sizes and the report of `zcopy bench --quick`, at the URL it prints (127.0.0.1:8080;
# ZCOPY_LISTEN=HOST:PORT to change it). Extra arguments go to `zcopy serve`. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/deps.sh
bash scripts/build.sh
echo "main: generating the demo site in build/demo-root (once)"
bash scripts/demo-root.sh build/demo-root build/tools/zcopy/zcopy
exec build/tools/zcopy/zcopy serve build/demo-root --autoindex \
  --listen "${ZCOPY_LISTEN:-127.0.0.1:8080}" "$@"
