#!/usr/bin/env bash
# Sets up the dependencies, builds the zcopy tool (not the tests: scripts/test.sh builds those)
# and serves a demo site with `zcopy serve`: what zcopy is, files of several sizes, the report of
# `zcopy bench --quick`, the README and the docs, at the URL it prints (127.0.0.1:8080;
# ZCOPY_LISTEN=HOST:PORT to change it). Extra arguments go to `zcopy serve`. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

listen=${ZCOPY_LISTEN:-127.0.0.1:8080}
bash scripts/deps.sh
bash scripts/build.sh --cli
echo "main: generating the demo site in build/demo-root (the files and the bench report once)"
bash scripts/demo-root.sh build/demo-root build/tools/zcopy/zcopy "http://$listen/"
exec build/tools/zcopy/zcopy serve build/demo-root --autoindex --listen "$listen" "$@"
