#!/usr/bin/env bash
# bench/run.sh: cairn figures side by side with etcd and nginx, in one run on
# 127.0.0.1. Prints numbers, never passes or fails on them (docs/benchmarks.md).
#
#   CAIRN_BIN=build/release/cairn bench/run.sh      (or: make bench)
#
# Knobs (environment): BENCH_SECONDS (10) per wrk run, BENCH_CONNS ("1 16 128"),
# BENCH_KV_KEYS (100000), BENCH_SERVICES (10000), BENCH_PARKED (5000),
# BENCH_TMPDIR (build/bench: must be a real disk, the data dirs fsync there),
# BENCH_SKIP ("" or words of: etcd nginx memory parked wrk).
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
CAIRN_BIN=${CAIRN_BIN:-$ROOT/build/release/cairn}
BENCH_SECONDS=${BENCH_SECONDS:-10}
BENCH_CONNS=${BENCH_CONNS:-"1 16 128"}
BENCH_KV_KEYS=${BENCH_KV_KEYS:-100000}
BENCH_SERVICES=${BENCH_SERVICES:-10000}
BENCH_PARKED=${BENCH_PARKED:-5000}
BENCH_SKIP=${BENCH_SKIP:-}
PY=/usr/bin/python3
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
export BENCH_WRK_DIR=$HERE/wrk
export BENCH_RUN_TAG=r$$


# Thousands of parked connections need descriptors: raise the soft limit to
# the hard one (20000 on the development machine).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 20000 2>/dev/null || true

for tool in "$CAIRN_BIN" wrk; do
    command -v "$tool" >/dev/null || { say "bench: $tool not found"; exit 1; }
done

bench_tmp run
RESULTS=$TMP/results.txt
: >"$RESULTS"

rss() { $PY "$HERE/load.py" rss "$1"; }
record() { echo "$*" >>"$RESULTS"; }


# ---- start the three servers -------------------------------------------------
CAIRN_HTTP=$(free_port); CAIRN_RAFT=$(free_port)
"$CAIRN_BIN" agent -server -bootstrap -data-dir="$TMP/cairn" -node=bench -datacenter=dc1 \
    -client=127.0.0.1 -http-port="$CAIRN_HTTP" -dns-port=-1 -serf-lan-port=-1 -server-port="$CAIRN_RAFT" -log-level=warn \
    2>"$TMP/cairn.log" &
CAIRN_PID=$!; PIDS+=("$CAIRN_PID")
for _ in $(seq 300); do
    leader=$(curl -fsS --max-time 2 "http://127.0.0.1:$CAIRN_HTTP/v1/status/leader" 2>/dev/null)
    [ -n "$leader" ] && [ "$leader" != '""' ] && break
    sleep 0.1
done
if [ -z "${leader:-}" ] || [ "$leader" = '""' ]; then
    say "bench: cairn did not elect itself; log:"; tail -30 "$TMP/cairn.log" >&2; exit 1
fi
CAIRN=http://127.0.0.1:$CAIRN_HTTP
say "bench: cairn pid $CAIRN_PID on $CAIRN (data $TMP/cairn)"

ETCD=""
if ! skip etcd && command -v etcd >/dev/null; then
    EC=$(free_port); EP=$(free_port)
    etcd --name bench --data-dir "$TMP/etcd" \
        --listen-client-urls "http://127.0.0.1:$EC" --advertise-client-urls "http://127.0.0.1:$EC" \
        --listen-peer-urls "http://127.0.0.1:$EP" --initial-advertise-peer-urls "http://127.0.0.1:$EP" \
        --initial-cluster "bench=http://127.0.0.1:$EP" --log-level error \
        >"$TMP/etcd.log" 2>&1 &
    ETCD_PID=$!; PIDS+=("$ETCD_PID")
    ETCD=http://127.0.0.1:$EC
    wait_http "$ETCD/health" 30 || ETCD=""
    [ -n "$ETCD" ] && say "bench: etcd pid $ETCD_PID on $ETCD"
fi

NGINX=""
if ! skip nginx && command -v nginx >/dev/null; then
    NP=$(free_port)
    bench_nginx_conf "$TMP/nginx" "        listen 127.0.0.1:$NP;
        location / { return 200 \"ok\\n\"; }"
    nginx -c "$TMP/nginx/nginx.conf" -p "$TMP/nginx" 2>"$TMP/nginx/stderr.log" &
    NGINX_PID=$!; PIDS+=("$NGINX_PID")
    NGINX=http://127.0.0.1:$NP
    wait_http "$NGINX/" 15 || NGINX=""
    [ -n "$NGINX" ] && say "bench: nginx pid $NGINX_PID on $NGINX"
fi

# ---- memory ------------------------------------------------------------------
if ! skip memory; then
    sleep 1
    r0=$(rss "$CAIRN_PID"); record "mem cairn_idle $r0"
    say "bench: loading $BENCH_KV_KEYS KV pairs into cairn"
    $PY "$HERE/load.py" kv-cairn "$CAIRN_HTTP" "$BENCH_KV_KEYS" >&2 || say "bench: cairn KV load failed"
    sleep 1
    r1=$(rss "$CAIRN_PID"); record "mem cairn_kv $r1"
    say "bench: loading $BENCH_SERVICES service instances into cairn"
    $PY "$HERE/load.py" services-cairn "$CAIRN_HTTP" "$BENCH_SERVICES" >&2 \
        || say "bench: cairn service load failed"
    sleep 1
    r2=$(rss "$CAIRN_PID"); record "mem cairn_services $r2"
    if [ -n "$ETCD" ]; then
        e0=$(rss "$ETCD_PID"); record "mem etcd_idle $e0"
        say "bench: loading $BENCH_KV_KEYS KV pairs into etcd"
        $PY "$HERE/load.py" kv-etcd "${ETCD##*:}" "$BENCH_KV_KEYS" >&2 || say "bench: etcd load failed"
        sleep 1
        e1=$(rss "$ETCD_PID"); record "mem etcd_kv $e1"
    fi
fi

# ---- parked blocking queries ---------------------------------------------------
if ! skip parked; then
    say "bench: parking $BENCH_PARKED blocking queries on cairn"
    timeout 300 $PY "$HERE/parked.py" --port "$CAIRN_HTTP" --pid "$CAIRN_PID" \
        --n "$BENCH_PARKED" | grep '^PARKED' | sed 's/^PARKED/parked/' >>"$RESULTS"
fi

# ---- throughput / latency (wrk) ------------------------------------------------
# run_wrk NAME CONNS URL SCRIPT
run_wrk() {
    local name=$1 conns=$2 url=$3 script=$4 threads=2 out
    [ "$conns" -lt 2 ] && threads=1
    out=$(timeout $((BENCH_SECONDS + 60)) wrk -t"$threads" -c"$conns" -d"${BENCH_SECONDS}s" \
        --timeout 10s --latency -s "$HERE/wrk/$script" "$url" 2>&1)
    local line
    line=$(grep '^WRKRESULT' <<<"$out" | tail -1)
    if [ -z "$line" ]; then
        say "bench: wrk $name c=$conns produced no result:"; say "$out"
        record "wrk $name $conns nan nan nan nan nan 0"; return
    fi
    record "wrk $name $conns ${line#WRKRESULT }"
    say "bench: $name c=$conns: ${line#WRKRESULT }"
}

if ! skip wrk; then
    # Fixtures for the read workloads.
    $PY "$HERE/load.py" web "$CAIRN_HTTP" 10 >&2
    curl -fsS -o /dev/null -X PUT --data-binary "$(head -c 256 /dev/zero | tr '\0' v)" \
        "$CAIRN/v1/kv/bench-get-key"
    if [ -n "$ETCD" ]; then
        k=$(printf bench-get-key | base64); v=$(head -c 256 /dev/zero | tr '\0' v | base64 -w0)
        curl -fsS -o /dev/null -X POST -d "{\"key\":\"$k\",\"value\":\"$v\"}" "$ETCD/v3/kv/put"
    fi
    for c in $BENCH_CONNS; do
        run_wrk cairn_register "$c" "$CAIRN/v1/catalog/register" cairn_register.lua
        run_wrk cairn_health "$c" "$CAIRN/v1/health/service/web" get.lua
        run_wrk cairn_kv_put "$c" "$CAIRN/v1/kv/" cairn_kv_put.lua
        run_wrk cairn_kv_get "$c" "$CAIRN/v1/kv/bench-get-key" get.lua
        if [ -n "$ETCD" ]; then
            run_wrk etcd_put "$c" "$ETCD/v3/kv/put" etcd_put.lua
            run_wrk etcd_range "$c" "$ETCD/v3/kv/range" etcd_range.lua
        fi
        [ -n "$NGINX" ] && run_wrk nginx_get "$c" "$NGINX/" get.lua
    done
fi

# cairn must still be alive and answering after all of that.
if ! kill -0 "$CAIRN_PID" 2>/dev/null; then
    say "bench: cairn died during the run; log tail:"; tail -30 "$TMP/cairn.log" >&2
fi
record "info cairn_bin $CAIRN_BIN"
record "info seconds $BENCH_SECONDS"
record "info kv_keys $BENCH_KV_KEYS"
record "info services $BENCH_SERVICES"

$PY "$HERE/summary.py" "$RESULTS"
