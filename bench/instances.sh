#!/usr/bin/env bash
# bench/instances.sh: memory per service instance as a user measures it (RSS
# of a fresh single server before and after registering instances through
# its own agent: /v1/agent/service/register with 3 tags, 2 meta pairs and a
# TTL check each, bench/load.py instances-cairn), read once the catalog holds
# every instance and check (anti-entropy synced), at BENCH_INSTANCES_1
# (10000) and then BENCH_INSTANCES_2 (100000) instances in the same process.
# Prints numbers, never passes or fails on them (docs/benchmarks.md).
#
#   CAIRN_BIN=build/release/cairn bench/instances.sh
#
# Knobs: BENCH_INSTANCES_1, BENCH_INSTANCES_2, BENCH_TMPDIR (build/bench).
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
CAIRN_BIN=${CAIRN_BIN:-$ROOT/build/release/cairn}
N1=${BENCH_INSTANCES_1:-10000}
N2=${BENCH_INSTANCES_2:-100000}
PY=/usr/bin/python3
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

rss() { $PY "$HERE/load.py" rss "$1"; }
bench_tmp instances

H=$(free_port); S=$(free_port)
# The snapshot cadence of bench/memory.sh: the log between two snapshots is
# part of what a user measures, as there.
"$CAIRN_BIN" agent -server -bootstrap -data-dir="$TMP/s" -node=inst-node -datacenter=dc1 \
    -client=127.0.0.1 -bind=127.0.0.1 -http-port="$H" -server-port="$S" -serf-lan-port=-1 \
    -serf-wan-port=-1 -dns-port=-1 -log-level=warn \
    -raft-snapshot-threshold=1024 -raft-snapshot-interval=2s 2>>"$TMP/s.log" &
SPID=$!; PIDS+=("$SPID")
wait_http "http://127.0.0.1:$H/v1/status/leader" 30 || { say "bench: no server"; exit 1; }
for _ in $(seq 300); do
    l=$(curl -fsS --max-time 1 "http://127.0.0.1:$H/v1/status/leader" 2>/dev/null)
    [ "$l" != '""' ] && [ -n "$l" ] && break
    sleep 0.1
done
sleep 2
R0=$(rss "$SPID")
echo "cairn instances (3 tags, 2 meta pairs, a TTL check; agent + catalog): fresh $R0"
per() { $PY -c "print('%.0f' % ($1 / $2))"; }
say "bench: registering $N1 instances"
$PY "$HERE/load.py" instances-cairn "$H" "$N1" >&2 || say "bench: load failed"
$PY "$HERE/load.py" catalog-count "$H" inst-node "$N1" >&2 || say "bench: not synced"
sleep 3
R1=$(rss "$SPID")
echo "cairn $N1 instances: $R1 ($(per $((R1 - R0)) "$N1") B/instance)"
say "bench: registering up to $N2 instances"
$PY "$HERE/load.py" instances-cairn "$H" "$N2" "$N1" >&2 || say "bench: load failed"
$PY "$HERE/load.py" catalog-count "$H" inst-node "$N2" >&2 || say "bench: not synced"
sleep 3
R2=$(rss "$SPID")
echo "cairn $N2 instances: $R2 ($(per $((R2 - R0)) "$N2") B/instance)"
cleanup
