#!/usr/bin/env bash
# Scenario 1: zcopy serve under wrk with 1,000 connections while the files it serves are replaced
# by rename and truncated in place underneath. Checks, per engine: the server survives and still
# answers, its sockets return to the listeners' count and its descriptors to at most the baseline
# plus what the open-file cache may hold, within 10 s after the load; VmRSS stays under a bound.
#
# Env: STRESS_SECONDS (60), STRESS_CONNECTIONS (1000), STRESS_RSS_MAX_KB (262144 = 256 MiB),
#      STRESS_ENGINES ("epoll io_uring"), ZCOPY_BIN (skip the build).
scenario=01-serve-churn
# shellcheck source=tests/stress/lib.sh
source "$(dirname "$0")/lib.sh"

seconds=${STRESS_SECONDS:-60}
connections=${STRESS_CONNECTIONS:-1000}
rss_max=${STRESS_RSS_MAX_KB:-262144}
files=32
threads=2
stress_setup wrk:wrk python3:python3

root=$work/root
spare=$work/spare  # new versions are written here, then renamed into root (same filesystem)
mkdir -p "$root" "$spare"
size_of() { echo $(((($1 % 8) + 1) * 65536)); }  # 64 KiB .. 512 KiB
for i in $(seq 0 $((files - 1))); do random_file "$root/f$i" "$(size_of "$i")"; done

cat >"$work/paths.lua" <<EOF
request = function()
  return wrk.format("GET", "/f" .. math.random(0, $((files - 1))))
end
EOF

# churn DEADLINE: rename a fresh version over one file, truncate another in place (to zero, then
# half, then rewritten), until DEADLINE (epoch seconds). Bounded by time.
churn() {
  local deadline=$1 n=0 i j
  while (($(date +%s) < deadline)); do
    i=$((RANDOM % files))
    j=$((RANDOM % files))
    random_file "$spare/f$i" "$(size_of $((i + n)))"
    mv -f "$spare/f$i" "$root/f$i"
    truncate -s 0 "$root/f$j"
    truncate -s "$(($(size_of "$j") / 2))" "$root/f$j"
    random_file "$root/f$j.new" "$(size_of "$j")" && mv -f "$root/f$j.new" "$root/f$j"
    n=$((n + 1))
    sleep 0.01
  done
  echo "$n" >"$work/churn-count"
}

for engine in "${serve_engines[@]}"; do
  start_serve "$root" "$engine"
  # Baseline after one request per file, so the open-file cache is warm and counted.
  for i in $(seq 0 $((files - 1))); do http_ok "$serve_port" "/f$i" || true; done
  base_fds=$(fd_count "$serve_pid")
  base_pipes=$(pipe_count "$serve_pid")
  base_sockets=$(socket_count "$serve_pid")
  base_rss=$(rss_kb "$serve_pid")

  deadline=$(($(date +%s) + seconds))
  churn "$deadline" &
  churn_pid=$!
  pids+=("$churn_pid")
  timeout $((seconds + 30)) wrk -t2 -c"$connections" -d"${seconds}s" --timeout 10s \
    -s "$work/paths.lua" "http://127.0.0.1:$serve_port/" >"$work/wrk-$engine.txt" 2>&1 &
  wrk_pid=$!
  pids+=("$wrk_pid")
  peak_rss=$base_rss
  while alive "$wrk_pid" && alive "$serve_pid"; do
    r=$(rss_kb "$serve_pid" 2>/dev/null || echo 0)
    ((r > peak_rss)) && peak_rss=$r
    sleep 0.5
  done
  wait "$wrk_pid" || true
  wait "$churn_pid" || true
  requests=$(awk '/requests in/ {print $1}' "$work/wrk-$engine.txt")
  errors=$(grep -E 'Socket errors|Non-2xx' "$work/wrk-$engine.txt" | tr -s ' ' | tr '\n' ';' || true)
  renames=$(cat "$work/churn-count" 2>/dev/null || echo 0)

  if alive "$serve_pid" && http_ok "$serve_port" /f0; then
    stress_result "survives-$engine" pass "${requests:-0} requests from $connections connections in ${seconds}s, $renames rename+truncate rounds; wrk: ${errors:-no errors}"
  else
    stress_result "survives-$engine" FAIL "server gone or not answering after load; log: $(tail -3 "$work/serve-$engine-$serve_port.log" | tr '\n' ' ')"
    stop_pid "$serve_pid"
    continue
  fi
  sockets=$(wait_sockets "$serve_pid" "$base_sockets" "$settle_s")
  stress_check "sockets-$engine" "sockets <= base_sockets" \
    "sockets $sockets after load (baseline $base_sockets: the listeners), waited at most $settle_s s"
  # The open-file cache holds at most one descriptor per file and worker, plus responses'
  # descriptors until they end: baseline + files * threads is the bound.
  # Pooled pipes (io_uring bodies) are counted apart: at most pool_pipe_ends stay open.
  fd_limit=$((base_fds + files * threads))
  fds=$(wait_fds "$serve_pid" "$((fd_limit + pool_pipe_ends))" "$settle_s")
  pipes=$(($(pipe_count "$serve_pid") - base_pipes))
  stress_check "fds-$engine" "fds - pipes <= fd_limit && pipes <= pool_pipe_ends" \
    "descriptors $fds after load, $pipes of them pipe ends added (pool) (baseline $base_fds; bounds: $fd_limit = baseline + $files files x $threads workers of open-file cache, pipe ends <= $pool_pipe_ends)"
  stress_check "rss-$engine" "peak_rss <= rss_max" \
    "peak VmRSS ${peak_rss} KiB (baseline $base_rss KiB, bound $rss_max KiB)"
  stop_pid "$serve_pid"
done

stress_finish
