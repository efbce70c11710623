# Shared by the bench scripts (sourced, from the repository root): package installation, the
# zcopy build, a work directory whose background processes die with the script, and loopback
# ports.

# bench_install PACKAGE...: installs what is missing (apt-get; root or sudo).
bench_install() {
  (($#)) || return 0
  local sudo=()
  ((EUID == 0)) || sudo=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -q >/dev/null
  "${sudo[@]}" apt-get install -y -q --no-install-recommends "$@" >/dev/null
}

# bench_build: builds the CLI (unless ZCOPY_NO_BUILD is set) and sets $zcopy to it; ZCOPY_BIN
# names another binary instead (an older build, to compare before and after a change).
bench_build() {
  if [[ -z ${ZCOPY_NO_BUILD:-} && -z ${ZCOPY_BIN:-} ]]; then
    cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build build --target zcopy_cli >/dev/null
  fi
  zcopy=${ZCOPY_BIN:-$PWD/build/tools/zcopy/zcopy}
}

# bench_workdir NAME: sets $work to a fresh directory under ${BENCH_DIR:-/tmp}, removed at exit
# together with every process whose pid is added to the array `pids`, and after the function
# named `bench_cleanup_extra` when the script defines one (unmounts and the like).
bench_workdir() {
  work=$(mktemp -d "${BENCH_DIR:-/tmp}/zcopy-$1.XXXXXX")
  pids=()
  trap bench_cleanup EXIT
}
bench_cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if declare -F bench_cleanup_extra >/dev/null; then bench_cleanup_extra; fi
  if [[ -n ${ram_mount:-} ]]; then umount -d "$ram_mount" 2>/dev/null || true; fi
  rm -rf "$work"
}

# bench_ram_ext4 SIZE MOUNTPOINT: a fresh ext4 in a RAM-backed loop image mounted at MOUNTPOINT
# and recorded in `ram_mount` (unmounted at exit); fails where it cannot be made (needs root,
# mkfs.ext4 and /dev/shm). On the VM's shared disk, file-creation cases swing by 10x or more
# with writeback stalls.
bench_ram_ext4() {
  [[ $EUID -eq 0 ]] && command -v mkfs.ext4 >/dev/null && [[ -d /dev/shm ]] || return 1
  local image
  image=$(mktemp /dev/shm/zcopy-bench.XXXXXX)
  truncate -s "$1" "$image"
  mkfs.ext4 -q -F "$image"
  mkdir -p "$2"
  mount -o loop "$image" "$2"
  rm -f "$image"  # the mounted loop device keeps it alive; gone at umount
  ram_mount=$2
}

# A loopback TCP port nothing listens on now.
free_port() {
  python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'
}

# wait_port PORT: until something accepts on 127.0.0.1:PORT; gives up after 10 s.
wait_port() {
  local _
  for _ in $(seq 100); do
    python3 -c "import socket,sys;s=socket.socket();sys.exit(s.connect_ex(('127.0.0.1',$1)))" &&
      return 0
    sleep 0.1
  done
  echo "$(basename "$0"): nothing listens on port $1" >&2
  return 1
}
