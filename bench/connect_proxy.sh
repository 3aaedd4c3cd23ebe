#!/usr/bin/env bash
# bench/connect_proxy.sh: what the built-in Connect proxy adds. One agent with
# Connect on, an echo application (bench/echo_peer.c, built here with cc), and
# the paths to it measured in the same run (bench/connect_proxy.py): direct
# (the application's port), socat and HAProxy (when installed) doing plain TCP
# forwarding, and the proxy pair (a client sidecar's upstream port -> mutual
# TLS -> the server sidecar -> the application). Latency: 64-byte
# request/echo round trips on one connection (p50, p99, and what each path
# adds to direct); throughput: BENCH_MB MiB echoed through one connection.
# Prints numbers and ratios; never passes or fails on them. BENCH_PERF=1
# records `perf record -g` of both sidecars during the run and prints
# its top functions.
#
#   ninja -C build/release cairn && CAIRN_BIN=build/release/cairn bench/connect_proxy.sh
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
CAIRN_BIN=${CAIRN_BIN:-$ROOT/build/release/cairn}

# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
bench_need "$CAIRN_BIN" curl socat python3 cc

mkdir -p "${BENCH_TMPDIR:-$ROOT/build/bench}"
CFG=$(mktemp "${BENCH_TMPDIR:-$ROOT/build/bench}/connect.XXXXXX.hcl")
echo 'connect { enabled = true }' >"$CFG"
bench_single connect_proxy -config-file="$CFG"
rm -f "$CFG"
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; kill $PID 2>/dev/null; wait $PID 2>/dev/null; if [ -n "${BENCH_KEEP:-}" ]; then say "bench: kept $TMP"; else rm -rf "$TMP"; fi' EXIT

export ECHO_PEER="$TMP/echo_peer"
cc -O2 -pthread -o "$ECHO_PEER" "$HERE/echo_peer.c" || { say "bench: building echo_peer failed"; exit 1; }
APP=$((PORT + 2)) SSIDE=$((PORT + 3)) CSIDE=$((PORT + 4)) UP=$((PORT + 5)) SOCAT=$((PORT + 6)) HAP=$((PORT + 7))
"$ECHO_PEER" serve $APP &
PIDS+=($!)
socat TCP-LISTEN:$SOCAT,bind=127.0.0.1,reuseaddr,fork,nodelay TCP:127.0.0.1:$APP,nodelay &
PIDS+=($!)
PATHS="direct=$APP socat=$SOCAT:$!"
if command -v haproxy >/dev/null; then
    printf '%s\n' 'global' '    maxconn 100' 'defaults' '    mode tcp' '    timeout connect 5s' \
        '    timeout client 60s' '    timeout server 60s' 'listen echo' "    bind 127.0.0.1:$HAP" \
        "    server app 127.0.0.1:$APP" >"$TMP/haproxy.cfg"
    haproxy -f "$TMP/haproxy.cfg" -db 2>"$TMP/haproxy.log" &
    PIDS+=($!)
    PATHS="$PATHS haproxy=$HAP:$!"
else
    say "bench: haproxy not installed (scripts/install-deps.sh --bench): measured without it"
fi
for _ in $(seq 1 100); do curl -sf "$URL/v1/connect/ca/roots" | grep -q '"ActiveRootID":"[^"]' && break; sleep 0.1; done
curl -sf -X PUT "$URL/v1/agent/service/register" -d "{\"Name\":\"server\",\"ID\":\"server1\",\"Port\":$APP,
  \"Connect\":{\"SidecarService\":{\"Port\":$SSIDE,\"Proxy\":{\"Config\":{\"bind_address\":\"127.0.0.1\"}},
  \"Checks\":[{\"TCP\":\"127.0.0.1:$SSIDE\",\"Interval\":\"1s\"}]}}}" >/dev/null || { say "register failed"; exit 1; }
curl -sf -X PUT "$URL/v1/agent/service/register" -d "{\"Name\":\"client\",\"ID\":\"client1\",\"Port\":1,
  \"Connect\":{\"SidecarService\":{\"Port\":$CSIDE,\"Proxy\":{\"Config\":{\"bind_address\":\"127.0.0.1\"},
  \"Upstreams\":[{\"DestinationName\":\"server\",\"LocalBindPort\":$UP}]},
  \"Checks\":[{\"TCP\":\"127.0.0.1:$CSIDE\",\"Interval\":\"1s\"}]}}}" >/dev/null || { say "register failed"; exit 1; }
"$CAIRN_BIN" connect proxy -sidecar-for=server1 -http-addr=127.0.0.1:$PORT 2>"$TMP/server-proxy.log" &
PIDS+=($!)
"$CAIRN_BIN" connect proxy -sidecar-for=client1 -http-addr=127.0.0.1:$PORT 2>"$TMP/client-proxy.log" &
PIDS+=($!)
ok=
for _ in $(seq 1 300); do
    if python3 -c "
import socket,sys
s=socket.create_connection(('127.0.0.1',$UP),timeout=1); s.sendall(b'ping')
sys.exit(0 if s.recv(4)==b'ping' else 1)" 2>/dev/null; then ok=1; break; fi
    sleep 0.1
done
[ -n "$ok" ] || { say "the proxy path never came up"; tail -n 20 "$TMP"/*.log >&2; exit 1; }
PERF=
if [ -n "${BENCH_PERF:-}" ]; then
    perf record -g -o "$TMP/perf.data" -p "${PIDS[-2]},${PIDS[-1]}" 2>"$TMP/perf.log" &
    PERF=$!
fi
say "shared machine: load $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
python3 "$HERE/connect_proxy.py" measure $PATHS "proxy=$UP:${PIDS[-2]},${PIDS[-1]}"
if [ -n "$PERF" ]; then
    kill -INT $PERF
    wait $PERF
    say "perf of both sidecars (perf report --no-children):"
    perf report -i "$TMP/perf.data" --no-children --percent-limit 1 --stdio -g none 2>/dev/null |
        grep -v '^#' | grep -v '^$' | head -n 40
fi
