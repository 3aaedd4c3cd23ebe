#!/usr/bin/env bash
# bench/snapshot.sh: snapshot archives (issue 12): `cairn snapshot save` and
# `cairn snapshot restore` wall time and archive size for BENCH_KV_KEYS KV
# entries (32-byte keys, 256-byte values, bench/load.py kv-cairn: txns of 64
# sets) and BENCH_SERVICES service instances (load.py services-cairn), each on
# its own single server and restored into a fresh one; and `etcdctl snapshot
# save` for the same KV data loaded into one etcd member in the same run.
# Prints figures, never passes or fails on them.
#
#   CAIRN_BIN=build/release/cairn bench/snapshot.sh
#
# Knobs: BENCH_KV_KEYS (1000000), BENCH_SERVICES (100000), BENCH_TMPDIR
# (build/bench: a real disk), BENCH_SKIP ("" or words of: kv services etcd).
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
CAIRN_BIN=${CAIRN_BIN:-$ROOT/build/release/cairn}
NKV=${BENCH_KV_KEYS:-1000000}
NSVC=${BENCH_SERVICES:-100000}
BENCH_SKIP=${BENCH_SKIP:-}
PY=/usr/bin/python3
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

now() { date +%s.%N; }
since() { $PY -c "import sys; print('%.2f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$1" "$(now)"; }
mib() { $PY -c "import sys; print('%.1f MiB' % (int(sys.argv[1]) / 1048576))" "$1"; }

BENCH_STOP_TICKS=100 # a large state takes its time to stop
bench_tmp snapshot

# start NAME: a single server; sets HTTPP (its HTTP port) and returns when it serves.
start() {
    local name=$1
    HTTPP=$(free_port)
    local rpc
    rpc=$(free_port)
    "$CAIRN_BIN" agent -server -bootstrap -data-dir="$TMP/$name" -node="$name" -datacenter=dc1 \
        -client=127.0.0.1 -bind=127.0.0.1 -http-port="$HTTPP" -server-port="$rpc" \
        -dns-port=-1 -serf-lan-port=-1 -log-level=warn 2>>"$TMP/$name.log" &
    PIDS+=($!)
    wait_http "http://127.0.0.1:$HTTPP/v1/status/leader" 60 || { say "bench: $name did not start"; exit 1; }
    for _ in $(seq 200); do
        [ "$(curl -fsS "http://127.0.0.1:$HTTPP/v1/status/leader")" != '""' ] && return 0
        sleep 0.05
    done
}

# round WHAT LOADER N: load a server, save, inspect, restore into a fresh one.
round() {
    local what=$1 loader=$2 n=$3 t0 tl ts tr src dst size
    start "src-$what"; src=$HTTPP
    t0=$(now)
    $PY "$HERE/load.py" "$loader" "$src" "$n" >/dev/null || { say "bench: load failed"; exit 1; }
    tl=$(since "$t0")
    t0=$(now)
    CAIRN_HTTP_ADDR=127.0.0.1:$src "$CAIRN_BIN" snapshot save "$TMP/$what.snap" >&2 || exit 1
    ts=$(since "$t0")
    size=$(stat -c %s "$TMP/$what.snap")
    "$CAIRN_BIN" snapshot inspect "$TMP/$what.snap" >&2
    start "dst-$what"; dst=$HTTPP
    t0=$(now)
    CAIRN_HTTP_ADDR=127.0.0.1:$dst "$CAIRN_BIN" snapshot restore "$TMP/$what.snap" >&2 || exit 1
    tr=$(since "$t0")
    # The restored server answers with the data (a read after the restore).
    CAIRN_HTTP_ADDR=127.0.0.1:$dst "$CAIRN_BIN" snapshot save "$TMP/$what-back.snap" >/dev/null
    "$CAIRN_BIN" snapshot inspect -format=json "$TMP/$what-back.snap" |
        $PY -c 'import json,sys; s=json.load(sys.stdin)["Stats"]; print("restored server holds: KV %d, services %d" % (s["KV"], s["Services"]))'
    echo "cairn $what: $n loaded in ${tl}s; save ${ts}s, archive $(mib "$size"); restore into a fresh server ${tr}s"
    cleanup
}

skip kv || round kv kv-cairn "$NKV"
skip services || round services services-cairn "$NSVC"

if ! skip etcd && command -v etcd >/dev/null && command -v etcdctl >/dev/null; then
    EC=$(free_port); EP=$(free_port)
    etcd --name bench --data-dir "$TMP/etcd" --quota-backend-bytes=$((8 << 30)) \
        --listen-client-urls "http://127.0.0.1:$EC" --advertise-client-urls "http://127.0.0.1:$EC" \
        --listen-peer-urls "http://127.0.0.1:$EP" --initial-advertise-peer-urls "http://127.0.0.1:$EP" \
        --initial-cluster "bench=http://127.0.0.1:$EP" --log-level error >"$TMP/etcd.log" 2>&1 &
    PIDS+=($!)
    if wait_http "http://127.0.0.1:$EC/health" 30; then
        t0=$(now)
        $PY "$HERE/load.py" kv-etcd "$EC" "$NKV" >/dev/null || say "bench: etcd load failed"
        tl=$(since "$t0")
        t0=$(now)
        ETCDCTL_API=3 etcdctl --endpoints "http://127.0.0.1:$EC" snapshot save "$TMP/etcd.db" \
            >/dev/null 2>&1 || say "bench: etcdctl snapshot save failed"
        ts=$(since "$t0")
        echo "etcd $(etcd --version | head -1 | awk '{print $3}') kv: $NKV loaded in ${tl}s; etcdctl snapshot save ${ts}s, file $(mib "$(stat -c %s "$TMP/etcd.db")")"
    fi
    cleanup
fi
