#!/usr/bin/env bash
# bench/connect_proxy.sh: what the built-in Connect proxy adds. One agent with
# Connect on, an echo application (bench/echo_peer.c, built here with cc), and
# the paths to it measured in the same run (bench/connect_proxy.py): direct
# (the application's port), socat and HAProxy (when installed) doing plain TCP
# forwarding, and the proxy pair (a client sidecar's upstream port -> mutual
# TLS -> the server sidecar -> the application). Latency: 64-byte
# request/echo round trips on one connection (p50, p99, and what each path
# adds to direct); throughput: BENCH_MB MiB echoed through one connection;
# first, what TLS 1.3's AEADs cost per MiB here (bench/aead_cost.c).
# Prints numbers and ratios; never passes or fails on them. BENCH_PERF=1
# records `perf record -g` of both sidecars during the run and prints
# its top functions. BENCH_BASE_BIN=path (another cairn, main's say) adds a
# second sidecar pair run by it (path "base", its own service names), for a
# before/after in the same run.
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
finish() {
    local p
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    kill "$PID" 2>/dev/null
    wait "$PID" 2>/dev/null
    if [ -n "${BENCH_KEEP:-}" ]; then say "bench: kept $TMP"; else rm -rf "$TMP"; fi
}
trap finish EXIT
BASE_BIN=${BENCH_BASE_BIN:-}
[ -z "$BASE_BIN" ] || bench_need "$BASE_BIN"

export ECHO_PEER="$TMP/echo_peer"
cc -O2 -pthread -o "$ECHO_PEER" "$HERE/echo_peer.c" || { say "bench: building echo_peer failed"; exit 1; }
# the crypto floor: each MiB echoed through the pair is encrypted and decrypted twice
if cc -O2 -o "$TMP/aead_cost" "$HERE/aead_cost.c" -lcrypto; then
    say "AEAD cost on this machine (bench/aead_cost.c; x4 per MiB echoed through the pair):"
    "$TMP/aead_cost" 32 >&2
else
    say "bench: building aead_cost failed (libssl-dev): measured without it"
fi
APP=$((PORT + 2)) SSIDE=$((PORT + 3)) CSIDE=$((PORT + 4)) UP=$((PORT + 5)) SOCAT=$((PORT + 6)) HAP=$((PORT + 7))
BSSIDE=$((PORT + 8)) BCSIDE=$((PORT + 9)) BUP=$((PORT + 10))
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
# pair SUFFIX SERVER_SIDECAR_PORT CLIENT_SIDECAR_PORT UPSTREAM_PORT BIN: register
# server$SUFFIX (the echo application) and client$SUFFIX with their sidecars,
# start both sidecars with BIN (their PIDs end PIDS) and wait until bytes
# come back through the upstream port.
pair() {
    local sfx=$1 sside=$2 cside=$3 up=$4 bin=$5 ok="" _
    curl -sf -X PUT "$URL/v1/agent/service/register" -d "{\"Name\":\"server$sfx\",\"ID\":\"server$sfx-1\",\"Port\":$APP,
      \"Connect\":{\"SidecarService\":{\"Port\":$sside,\"Proxy\":{\"Config\":{\"bind_address\":\"127.0.0.1\"}},
      \"Checks\":[{\"TCP\":\"127.0.0.1:$sside\",\"Interval\":\"1s\"}]}}}" >/dev/null || { say "register failed"; return 1; }
    curl -sf -X PUT "$URL/v1/agent/service/register" -d "{\"Name\":\"client$sfx\",\"ID\":\"client$sfx-1\",\"Port\":1,
      \"Connect\":{\"SidecarService\":{\"Port\":$cside,\"Proxy\":{\"Config\":{\"bind_address\":\"127.0.0.1\"},
      \"Upstreams\":[{\"DestinationName\":\"server$sfx\",\"LocalBindPort\":$up}]},
      \"Checks\":[{\"TCP\":\"127.0.0.1:$cside\",\"Interval\":\"1s\"}]}}}" >/dev/null || { say "register failed"; return 1; }
    "$bin" connect proxy -sidecar-for="server$sfx-1" -http-addr="127.0.0.1:$PORT" 2>"$TMP/server$sfx-proxy.log" &
    PIDS+=($!)
    "$bin" connect proxy -sidecar-for="client$sfx-1" -http-addr="127.0.0.1:$PORT" 2>"$TMP/client$sfx-proxy.log" &
    PIDS+=($!)
    for _ in $(seq 1 300); do
        if python3 -c "
import socket,sys
s=socket.create_connection(('127.0.0.1',$up),timeout=1); s.sendall(b'ping')
sys.exit(0 if s.recv(4)==b'ping' else 1)" 2>/dev/null; then ok=1; break; fi
        sleep 0.1
    done
    [ -n "$ok" ] || { say "the proxy path through $bin never came up"; tail -n 20 "$TMP"/*.log >&2; return 1; }
}
PX_PATHS=()
if [ -n "$BASE_BIN" ]; then
    pair b "$BSSIDE" "$BCSIDE" "$BUP" "$BASE_BIN" || exit 1
    PX_PATHS+=("base=$BUP:${PIDS[-2]},${PIDS[-1]}")
fi
pair "" "$SSIDE" "$CSIDE" "$UP" "$CAIRN_BIN" || exit 1
PX_PATHS+=("proxy=$UP:${PIDS[-2]},${PIDS[-1]}")
PERF=
if [ -n "${BENCH_PERF:-}" ]; then
    perf record -g -o "$TMP/perf.data" -p "${PIDS[-2]},${PIDS[-1]}" 2>"$TMP/perf.log" &
    PERF=$!
fi
say "shared machine: load $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
# shellcheck disable=SC2086 # PATHS: one word per path
python3 "$HERE/connect_proxy.py" measure $PATHS "${PX_PATHS[@]}"
if [ -n "$PERF" ]; then
    kill -INT $PERF
    wait $PERF
    say "perf of both sidecars (perf report --no-children):"
    perf report -i "$TMP/perf.data" --no-children --percent-limit 1 --stdio -g none 2>/dev/null |
        grep -v '^#' | grep -v '^$' | head -n 40
fi
