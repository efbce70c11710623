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
# BUILD_TYPE=Release builds as a release is built (-O3 -DNDEBUG) in build-release/; the default
# is the RelWithDebInfo build in build/ (-O2 -g), which perf can read.
bench_build() {
  local type=${BUILD_TYPE:-RelWithDebInfo} dir=build
  [[ $type == Release ]] && dir=build-release
  if [[ -z ${ZCOPY_NO_BUILD:-} && -z ${ZCOPY_BIN:-} ]]; then
    cmake -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE="$type" >/dev/null
    cmake --build "$dir" --target zcopy_cli >/dev/null
  fi
  zcopy=${ZCOPY_BIN:-$PWD/$dir/tools/zcopy/zcopy}
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

# bench_nginx DIR PORT ROOT CPU [SERVER_DIRECTIVES [LISTEN_ADDRESS [PREFIX...]]]: nginx as a
# static site runs it (one worker, master off, sendfile, tcp_nopush, open_file_cache, no access
# log, keep-alive without a request limit), pinned to CPU and serving ROOT on
# LISTEN_ADDRESS:PORT (default 127.0.0.1), its files under DIR, SERVER_DIRECTIVES added to the
# server block, the command run after PREFIX ("ip netns exec NS"); sets nginx_pid (which is also
# added to `pids`).
bench_nginx() {
  local dir=$1 port=$2 root=$3 cpu=$4 extra=${5:-} address=${6:-127.0.0.1}
  local prefix=("${@:7}")
  mkdir -p "$dir"
  cat >"$dir/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 4096; }
http {
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_requests 1000000;
  open_file_cache max=1024 inactive=20s;
  open_file_cache_valid 1s;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  server {
    listen $address:$port;
    root $root;
    $extra
  }
}
CONF
  "${prefix[@]}" taskset -c "$cpu" /usr/sbin/nginx -c "$dir/nginx.conf" -p "$dir" \
    -e "$dir/error.log" &
  nginx_pid=$!
  pids+=("$nginx_pid")
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
