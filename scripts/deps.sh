#!/usr/bin/env bash
# Installs what zcopy needs to build and test on Debian 12 (bookworm). Idempotent: when every
# package is already installed it changes nothing and needs no network. Arguments are more
# packages to install with these (scripts/fuzz.sh adds clang-16).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config g++
  libfmt-dev libcli11-dev nlohmann-json3-dev liburing-dev
  libgtest-dev libgmock-dev libxxhash-dev
  libhttp-parser-dev libssl-dev media-types
  xfsprogs util-linux attr acl clang-format python3 curl nginx-light procps iproute2
  "$@"
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "deps: all ${#packages[@]} packages installed"
  exit 0
fi

sudo=()
if ((EUID != 0)); then
  if ! command -v sudo >/dev/null; then
    echo "deps: missing ${missing[*]}; run as root or install sudo" >&2
    exit 1
  fi
  sudo=(sudo)
fi

echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
