#!/usr/bin/env bash
# bench/sessions.sh: sessions on one cairn server (-bootstrap, fsync on).
# Prints numbers, never passes or fails on them (docs/benchmarks.md).
#
#   CAIRN_BIN=build/release/cairn bench/sessions.sh
#
#  1. KV reads (GET of one key, default consistency) and session renewals
#     (PUT /v1/session/renew/<id>, round-robin over 128 TTL sessions, answered
#     by the leader from memory: no log write) with wrk at BENCH_CONNS (128)
#     connections, BENCH_SECONDS (10) each, in the same run.
#  2. BENCH_SESSIONS (100000) sessions with TTL BENCH_SESSION_TTL (30s)
#     created with wrk; RSS growth per session (VmRSS before and after, which
#     includes allocator slack), then the server's CPU time over BENCH_IDLE (10)
#     seconds of idleness while they are all alive (the TTL clocks are one
#     heap and one timer: no per-session wake-ups), then the time until the
#     leader expired them all.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
CAIRN_BIN=${CAIRN_BIN:-$ROOT/build/release/cairn}
BENCH_SECONDS=${BENCH_SECONDS:-10}
BENCH_CONNS=${BENCH_CONNS:-128}
BENCH_SESSIONS=${BENCH_SESSIONS:-100000}
BENCH_SESSION_TTL=${BENCH_SESSION_TTL:-30s}
BENCH_IDLE=${BENCH_IDLE:-10}
export BENCH_WRK_DIR=$HERE/wrk BENCH_SESSIONS BENCH_SESSION_TTL BENCH_THREADS=2

# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
bench_need "$CAIRN_BIN" curl wrk
bench_single sessions -dns-port=-1
curl -sf -X PUT --data-binary 'v' "$URL/v1/kv/bench/key" >/dev/null
: >"$TMP/ids"
for _ in $(seq 1 128); do
    curl -sf -X PUT -d '{"TTL":"300s","LockDelay":"0s"}' "$URL/v1/session/create" |
        grep -o '"ID":"[^"]*"' | cut -d'"' -f4 >>"$TMP/ids"
done
export BENCH_SESSIONS_FILE=$TMP/ids

result() { grep WRKRESULT | awk '{printf "%s req/s  p50 %s us  p99 %s us  errors %s/%s", $2, $3, $4, $5, $6}'; }
echo "kv get        c=$BENCH_CONNS: $(wrk -t2 -c"$BENCH_CONNS" -d"${BENCH_SECONDS}s" -s "$HERE/wrk/get.lua" "$URL/v1/kv/bench/key" | result)"
echo "session renew c=$BENCH_CONNS: $(wrk -t2 -c"$BENCH_CONNS" -d"${BENCH_SECONDS}s" -s "$HERE/wrk/cairn_session_renew.lua" "$URL" | result)"
echo "kv get        c=$BENCH_CONNS: $(wrk -t2 -c"$BENCH_CONNS" -d"${BENCH_SECONDS}s" -s "$HERE/wrk/get.lua" "$URL/v1/kv/bench/key" | result)"

while read -r id; do
    curl -sf -X PUT "$URL/v1/session/destroy/$id" >/dev/null
done <"$TMP/ids"
rss() { awk '/VmRSS/ {print $2}' /proc/$PID/status; }
cpu() { awk '{print $14 + $15}' /proc/$PID/stat; }
HZ=$(getconf CLK_TCK)
count() { curl -sf "$URL/v1/session/list?stale" | grep -o '"ID"' | wc -l; }
c0=$(cpu)
sleep "$BENCH_IDLE"
c1=$(cpu)
echo "server CPU while idle with no sessions: $(( (c1 - c0) * 1000 / HZ )) ms over ${BENCH_IDLE} s"
before=$(rss)
t0=$(date +%s.%N)
export BENCH_DONE_FILE=$TMP/created
: >"$BENCH_DONE_FILE"
wrk -t2 -c64 -d600s -s "$HERE/wrk/cairn_session_create.lua" "$URL" >/dev/null &
WRK=$!
while [ "$(wc -l <"$BENCH_DONE_FILE")" -lt 2 ] && kill -0 $WRK 2>/dev/null; do sleep 0.2; done
t1=$(date +%s.%N)
kill $WRK 2>/dev/null
wait $WRK 2>/dev/null
n=$(count)
after=$(rss)
echo "created $n sessions (TTL $BENCH_SESSION_TTL) in $(echo "$t1 - $t0" | bc) s"
echo "RSS growth: $(( (after - before) * 1024 / (n > 0 ? n : 1) )) bytes per session (VmRSS $before -> $after kB)"
c0=$(cpu)
sleep "$BENCH_IDLE"
c1=$(cpu)
echo "server CPU while idle with $n live sessions: $(( (c1 - c0) * 1000 / HZ )) ms over ${BENCH_IDLE} s"
t2=$(date +%s.%N)
while [ "$(count)" -gt 0 ]; do sleep 0.5; done
t3=$(date +%s.%N)
echo "all expired $(echo "$t3 - $t0" | bc) s after the first create ($(echo "$t3 - $t2" | bc) s after the idle window)"
