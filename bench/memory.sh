#!/usr/bin/env bash
# bench/memory.sh: memory per KV entry as a user measures it (RSS of a fresh
# server before and after BENCH_KV_KEYS puts of a 32-byte key and a 256-byte
# value, bench/load.py: txns of 64 sets), on a 3-server cairn cluster (leader,
# a follower that kept up, a follower that was down during the load and caught
# up through a streamed snapshot), before and after a snapshot; etcd (one
# member) loaded the same way in the same run. Then restart time of a single
# server holding the keys, after a clean stop and after kill -9. Prints
# numbers, never passes or fails on them (docs/benchmarks.md, "Memory").
#
#   CAIRN_BIN=build/release/cairn bench/memory.sh
#
# Knobs: BENCH_KV_KEYS (100000), BENCH_TMPDIR (build/bench: a real disk),
# BENCH_SKIP ("" or words of: etcd restart).
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
CAIRN_BIN=${CAIRN_BIN:-$ROOT/build/release/cairn}
N=${BENCH_KV_KEYS:-100000}
BENCH_SKIP=${BENCH_SKIP:-}
PY=/usr/bin/python3
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

rss() { $PY "$HERE/load.py" rss "$1"; }

bench_tmp memory

per() { # DELTA_BYTES -> bytes per entry
    $PY -c "print('%.0f' % ($1 / $N))"
}

# ---- cairn: three servers -------------------------------------------------------
HTTP=(); RPC=(); SERF=(); PID=()
for i in 0 1 2; do HTTP[i]=$(free_port); RPC[i]=$(free_port); SERF[i]=$(free_port); done
start_server() { # I
    local i=$1 j joins=()
    for j in 0 1 2; do [ "$i" = "$j" ] || joins+=("-retry-join=127.0.0.1:${RPC[j]}"); done
    # A snapshot every 1024 entries at most once every 2 s: several during the
    # load, so that "after the load" includes snapshots taken and sent.
    "$CAIRN_BIN" agent -server -bootstrap-expect=3 -data-dir="$TMP/c$i" -node="c$i" \
        -datacenter=dc1 -client=127.0.0.1 -bind=127.0.0.1 -http-port="${HTTP[i]}" \
        -server-port="${RPC[i]}" -serf-lan-port="${SERF[i]}" -serf-wan-port=-1 -dns-port=-1 -log-level=info \
        "${joins[@]}" \
        -raft-snapshot-threshold=1024 -raft-snapshot-interval=2s 2>>"$TMP/c$i.log" &
    PID[i]=$!; PIDS+=("${PID[i]}")
}
for i in 0 1 2; do start_server "$i"; done
LEADER=""
for _ in $(seq 300); do
    for i in 0 1 2; do
        l=$(curl -fsS --max-time 1 "http://127.0.0.1:${HTTP[i]}/v1/status/leader" 2>/dev/null)
        l=${l//\"/}
        if [ "$l" = "127.0.0.1:${RPC[i]}" ]; then LEADER=$i; break 2; fi
    done
    sleep 0.1
done
[ -n "$LEADER" ] || { say "bench: no cairn leader"; tail "$TMP"/c*.log >&2; exit 1; }
F1=$(((LEADER + 1) % 3)); F2=$(((LEADER + 2) % 3))
sleep 1
L0=$(rss "${PID[LEADER]}"); F0=$(rss "${PID[F1]}"); G0=$(rss "${PID[F2]}")
say "bench: cairn fresh RSS leader $L0 follower $F0 lagging follower $G0"
# The lagging follower is down during the load.
kill -TERM "${PID[F2]}"; wait "${PID[F2]}" 2>/dev/null
say "bench: loading $N KV pairs into the cairn leader"
$PY "$HERE/load.py" kv-cairn "${HTTP[LEADER]}" "$N" >&2 || say "bench: load failed"
sleep 1
L1=$(rss "${PID[LEADER]}"); F1R=$(rss "${PID[F1]}")
# One more write after the interval: a snapshot covering everything.
sleep 2.5
curl -fsS -X PUT --data-binary x "http://127.0.0.1:${HTTP[LEADER]}/v1/kv/mem-last" >/dev/null
for _ in $(seq 100); do
    grep -q "snapshot at index .* saved" "$TMP/c$LEADER.log" && break
    sleep 0.1
done
sleep 2
L2=$(rss "${PID[LEADER]}"); F2R=$(rss "${PID[F1]}")
# The lagging follower comes back and catches up through a streamed snapshot.
start_server "$F2"
t0=$(date +%s.%N)
for _ in $(seq 600); do
    v=$(curl -fsS --max-time 1 "http://127.0.0.1:${HTTP[F2]}/v1/kv/mem-last?stale" 2>/dev/null) && break
    sleep 0.1
done
t1=$(date +%s.%N)
sleep 2
G1=$(rss "${PID[F2]}")
grep -q "installed snapshot at index" "$TMP/c$F2.log" && how="a streamed snapshot" || how="the log"
echo "cairn leader:   fresh $L0  after load $L1 ($(per $((L1 - L0))) B/entry)  after snapshot $L2 ($(per $((L2 - L0))) B/entry)"
echo "cairn follower: fresh $F0  after load $F1R ($(per $((F1R - F0))) B/entry)  after snapshot $F2R ($(per $((F2R - F0))) B/entry)"
echo "cairn lagging follower (caught up through $how in $($PY -c "print('%.2f' % ($t1 - $t0))") s): fresh $G0  after catch-up $G1 ($(per $((G1 - G0))) B/entry)"
CAIRN_PER=$(per $((L2 - L0)))
cleanup

# ---- etcd ----------------------------------------------------------------------
if ! skip etcd && command -v etcd >/dev/null; then
    EC=$(free_port); EP=$(free_port)
    etcd --name bench --data-dir "$TMP/etcd" \
        --listen-client-urls "http://127.0.0.1:$EC" --advertise-client-urls "http://127.0.0.1:$EC" \
        --listen-peer-urls "http://127.0.0.1:$EP" --initial-advertise-peer-urls "http://127.0.0.1:$EP" \
        --initial-cluster "bench=http://127.0.0.1:$EP" --log-level error \
        >"$TMP/etcd.log" 2>&1 &
    EPID=$!; PIDS+=("$EPID")
    if wait_http "http://127.0.0.1:$EC/health" 30; then
        sleep 1
        E0=$(rss "$EPID")
        $PY "$HERE/load.py" kv-etcd "$EC" "$N" >&2 || say "bench: etcd load failed"
        sleep 1
        E1=$(rss "$EPID")
        EPER=$(per $((E1 - E0)))
        echo "etcd $(etcd --version | head -1 | awk '{print $3}'): fresh $E0  after load $E1 ($EPER B/entry)"
        echo "cairn leader after snapshot / etcd: $($PY -c "print('%.2f' % ($CAIRN_PER / $EPER))")"
    fi
    cleanup
fi

# ---- restart time --------------------------------------------------------------
if ! skip restart; then
    H=$(free_port); HS=$(free_port)
    run1() {
        "$CAIRN_BIN" agent -server -bootstrap -data-dir="$TMP/single" -node=s1 -datacenter=dc1 \
            -client=127.0.0.1 -http-port="$H" -server-port="$HS" -serf-lan-port=-1 -serf-wan-port=-1 -dns-port=-1 -log-level=warn \
            >/dev/null 2>>"$TMP/single.log" &
        SPID=$!; PIDS+=("$SPID")
    }
    serving() { # WHAT: seconds from spawn until a read of the last key answers
        local t0 t1
        t0=$(date +%s.%N)
        run1
        for _ in $(seq 4000); do
            curl -fsS --max-time 1 "http://127.0.0.1:$H/v1/kv/mem-last" >/dev/null 2>&1 && break
            sleep 0.002
        done
        t1=$(date +%s.%N)
        echo "cairn restart with $N keys after $1: $($PY -c "print('%.3f' % ($t1 - $t0))") s to serve"
    }
    run1
    wait_http "http://127.0.0.1:$H/v1/status/leader" 30
    $PY "$HERE/load.py" kv-cairn "$H" "$N" >&2
    curl -fsS -X PUT --data-binary x "http://127.0.0.1:$H/v1/kv/mem-last" >/dev/null
    kill -TERM "$SPID"; wait "$SPID" 2>/dev/null
    serving "a clean stop"
    kill -KILL "$SPID"; wait "$SPID" 2>/dev/null
    serving "kill -9"
    cleanup
fi
