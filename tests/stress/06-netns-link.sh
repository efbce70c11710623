#!/usr/bin/env bash
# Scenario 6: two network namespaces joined by a veth pair whose both ends are limited by
# `tc qdisc tbf` (20 Mbit/s). zcopy serve runs in the first, zcopy get (directly, then through a
# zcopy relay in the second namespace) downloads a 16 MiB file from the second, and the link is
# taken down (`ip link set ... down`) a few seconds into the transfer. Checks: get exits 1 with a
# message within its --timeout (+ 5 s), leaves FILE.part holding part of the body; after the link
# is up again `get -c` completes and the file's SHA-256 matches; serve and relay survive and
# their sockets return to the listeners' count (serve's --send-timeout closes the stalled reply).
#
# Env: STRESS_RATE (20mbit), STRESS_DOWN_AFTER (2, seconds into the transfer), STRESS_ENGINES,
#      ZCOPY_BIN.
scenario=06-netns-link
# shellcheck source=tests/stress/lib.sh
source "$(dirname "$0")/lib.sh"

rate=${STRESS_RATE:-20mbit}
down_after=${STRESS_DOWN_AFTER:-2}
get_timeout=4
size=$((16 << 20))
stress_setup ip:iproute2 tc:iproute2 python3:python3

ns_a=zs-a-$$ ns_b=zs-b-$$ veth_a=zsa$$ veth_b=zsb$$
addr_a=10.231.0.1 addr_b=10.231.0.2
bench_cleanup_extra() {
  ip netns del "$ns_a" 2>/dev/null || true
  ip netns del "$ns_b" 2>/dev/null || true
}
ip netns add "$ns_a"
ip netns add "$ns_b"
ip link add "$veth_a" type veth peer name "$veth_b"
ip link set "$veth_a" netns "$ns_a"
ip link set "$veth_b" netns "$ns_b"
ip -n "$ns_a" addr add "$addr_a/24" dev "$veth_a"
ip -n "$ns_b" addr add "$addr_b/24" dev "$veth_b"
for ns in "$ns_a" "$ns_b"; do ip -n "$ns" link set lo up; done
ip -n "$ns_a" link set "$veth_a" up
ip -n "$ns_b" link set "$veth_b" up
tc -n "$ns_a" qdisc add dev "$veth_a" root tbf rate "$rate" burst 64kb latency 100ms
tc -n "$ns_b" qdisc add dev "$veth_b" root tbf rate "$rate" burst 64kb latency 100ms

mkdir -p "$work/root"
random_file "$work/root/big" "$size"
want=$(sha256sum <"$work/root/big" | cut -d' ' -f1)

# ns_wait_port NS HOST PORT: until HOST:PORT accepts from inside NS (10 s at most).
ns_wait_port() {
  ip netns exec "$1" python3 - "$2" "$3" <<'EOF'
import socket, sys, time
for _ in range(100):
    try:
        socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1).close(); sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
EOF
}

# cut_and_resume NAME URL SERVER_PID [RELAY_PID]: a get over the link, the link down mid-way,
# then get -c once it is up again.
cut_and_resume() {
  local name=$1 url=$2 out=$work/dl-$1 rc=0 t0 t1 part_size
  rm -f "$out" "$out.part"*
  ip netns exec "$ns_b" "$zcopy" get "$url" -o "$out" --timeout "$get_timeout" \
    --connect-timeout "$get_timeout" --no-progress 2>"$work/get-$name.err" &
  local get_pid=$!
  pids+=("$get_pid")
  sleep "$down_after"
  ip -n "$ns_b" link set "$veth_b" down
  t0=$SECONDS
  wait "$get_pid" || rc=$?
  t1=$SECONDS
  part_size=$(stat -c %s "$out.part" 2>/dev/null || echo 0)
  stress_check "cut-error-$name" "rc == 1 && t1 - t0 <= get_timeout + 5" \
    "get exit $rc $((t1 - t0)) s after the link went down (--timeout $get_timeout): $(head -c 200 "$work/get-$name.err" | tr '\n' ' ')"
  stress_check "cut-part-$name" "part_size > 0 && part_size < size" \
    "$out.part holds $part_size of $size bytes"
  ip -n "$ns_b" link set "$veth_b" up
  ns_wait_port "$ns_b" "$addr_a" "$serve_port" || true
  rc=0
  timeout 60 ip netns exec "$ns_b" "$zcopy" get "$url" -o "$out" -c --timeout 10 --no-progress \
    2>"$work/resume-$name.err" || rc=$?
  local got
  got=$(sha256sum <"$out" 2>/dev/null | cut -d' ' -f1)
  stress_check "resume-$name" "rc == 0" \
    "get -c exit $rc, resumed from $part_size bytes; $(head -c 200 "$work/resume-$name.err" | tr '\n' ' ')"
  if [[ $got == "$want" && ! -e $out.part ]]; then v=pass; else v=FAIL; fi
  stress_result "resume-bytes-$name" "$v" "sha256 ${got:0:16} vs ${want:0:16}, .part gone: $([[ -e $out.part ]] && echo no || echo yes)"
}

serve_port=8080
for engine in "${serve_engines[@]}"; do
  flags=()
  [[ $engine == epoll ]] || flags=(--engine "$engine")
  ip netns exec "$ns_a" "$zcopy" serve "$work/root" --listen "$addr_a:$serve_port" --threads 1 \
    --send-timeout 5 "${flags[@]}" >"$work/serve-$engine.log" 2>&1 &
  serve_pid=$!
  pids+=("$serve_pid")
  ns_wait_port "$ns_b" "$addr_a" "$serve_port"
  base_sockets=$(socket_count "$serve_pid")

  cut_and_resume "serve-$engine" "http://$addr_a:$serve_port/big"

  if [[ $engine == "${serve_engines[0]}" ]]; then
    relay_port=9000
    ip netns exec "$ns_b" "$zcopy" relay --listen "127.0.0.1:$relay_port" \
      --to "$addr_a:$serve_port" --threads 1 --idle-timeout 10 --log "$work/relay.log" \
      2>"$work/relay.err" &
    relay_pid=$!
    pids+=("$relay_pid")
    ns_wait_port "$ns_b" 127.0.0.1 "$relay_port"
    relay_sockets=$(socket_count "$relay_pid")
    cut_and_resume "relay-$engine" "http://127.0.0.1:$relay_port/big"
    if alive "$relay_pid"; then
      n=$(wait_sockets "$relay_pid" "$relay_sockets" "$settle_s")
      stress_check "relay-sockets" "n <= relay_sockets" \
        "relay alive, sockets $n after the transfers (baseline $relay_sockets)"
    else
      stress_result relay-sockets FAIL "relay died: $(tail -3 "$work/relay.err" | tr '\n' ' ')"
    fi
    stop_pid "$relay_pid"
  fi

  if alive "$serve_pid"; then
    n=$(wait_sockets "$serve_pid" "$base_sockets" "$settle_s")
    stress_check "serve-sockets-$engine" "n <= base_sockets" \
      "serve alive, sockets $n after the cut transfers (baseline $base_sockets, --send-timeout 5)"
  else
    stress_result "serve-sockets-$engine" FAIL "serve died: $(tail -3 "$work/serve-$engine.log" | tr '\n' ' ')"
  fi
  stop_pid "$serve_pid"
done

stress_finish
