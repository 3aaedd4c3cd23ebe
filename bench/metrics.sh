#!/usr/bin/env bash
# bench/metrics.sh: what the metrics cost (docs/metrics.md). Prints numbers,
# never passes or fails on them (docs/benchmarks.md).
#
#   CAIRN_BIN=build/release/cairn bench/metrics.sh
#
# 1. Read throughput with metrics on and off: two single-server agents, one
#    with the default telemetry (every metric on; Prometheus form on), one
#    with `telemetry { filter_default = false }` (every metric filtered out:
#    each update is one test of a NULL pointer). GET /v1/kv/bench with wrk at
#    BENCH_CONNS (32) connections for BENCH_SECONDS (5) per run, BENCH_ROUNDS
#    (4) rounds alternating on/off, so both see the same machine.
# 2. A scrape: size and time of ?format=prometheus and of the JSON form, and
#    the agent's CPU per scrape (utime+stime from /proc over 200 scrapes).
# 3. Read throughput on the metrics agent while something scrapes it once a
#    second (both forms), against the same runs without the scraper.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
CAIRN_BIN=${CAIRN_BIN:-$ROOT/build/release/cairn}
BENCH_SECONDS=${BENCH_SECONDS:-5}
BENCH_CONNS=${BENCH_CONNS:-32}
BENCH_ROUNDS=${BENCH_ROUNDS:-4}
export BENCH_WRK_DIR=$HERE/wrk

# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
bench_need "$CAIRN_BIN" curl wrk

mkdir -p "${BENCH_TMPDIR:-$ROOT/build/bench}"
TMP=$(mktemp -d "${BENCH_TMPDIR:-$ROOT/build/bench}/metrics.XXXXXX")
PIDS=()
SCRAPER=
cleanup() {
    [ -n "$SCRAPER" ] && kill "$SCRAPER" 2>/dev/null
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    rm -rf "$TMP"
}
trap cleanup EXIT

# start NAME CONFIG: an agent on random ports; sets URL_<NAME> and PID_<NAME>
start() {
    local name=$1 cfg=$2 port=$(( 20000 + RANDOM % 20000 ))
    printf '%s\n' "$cfg" >"$TMP/$name.hcl"
    "$CAIRN_BIN" agent -server -bootstrap -data-dir="$TMP/$name" -node="$name" \
        -client=127.0.0.1 -http-port=$port -server-port=$((port + 1)) -dns-port=-1 -serf-lan-port=-1 \
        -config-file="$TMP/$name.hcl" -log-level=warn 2>"$TMP/$name.log" &
    local pid=$!
    PIDS+=("$pid")
    printf -v "PID_$name" '%s' "$pid"
    printf -v "URL_$name" '%s' "http://127.0.0.1:$port"
    local _
    for _ in $(seq 1 200); do
        curl -sf "http://127.0.0.1:$port/v1/catalog/nodes" | grep -q "$name" && break
        sleep 0.1
    done
    curl -sf -X PUT "http://127.0.0.1:$port/v1/kv/bench" -d "$(head -c 100 /dev/zero | tr '\0' v)" \
        >/dev/null || { say "agent $name did not start: $(tail -3 "$TMP/$name.log")"; exit 1; }
}

# BENCH_OFF_FIRST=1 starts the "off" agent first (the two orders should agree);
# BENCH_AA=1 gives both agents the "on" configuration (an A/A run: the noise).
ON_CFG='telemetry { prometheus_retention_time = "60s" }'
OFF_CFG='telemetry { filter_default = false }'
[ "${BENCH_AA:-0}" = 1 ] && OFF_CFG=$ON_CFG
if [ "${BENCH_OFF_FIRST:-0}" = 1 ]; then
    start off "$OFF_CFG"; start on "$ON_CFG"
else
    start on "$ON_CFG"; start off "$OFF_CFG"
fi

rps() { wrk -t2 -c"$BENCH_CONNS" -d"${BENCH_SECONDS}s" -s "$HERE/wrk/get.lua" "$1" |
    grep WRKRESULT | awk '{print $2}'; }
stats() { # min max mean of the numbers on stdin
    awk '{v[NR]=$1; s+=$1} END {m=v[1]; M=v[1]; for (i in v) {if (v[i]<m) m=v[i]; if (v[i]>M) M=v[i]}
         printf "%.0f-%.0f, mean %.0f", m, M, s/NR}'
}

echo "read throughput, GET /v1/kv/bench, c=$BENCH_CONNS, ${BENCH_SECONDS}s runs, $BENCH_ROUNDS rounds alternating"
on=() off=()
for r in $(seq 1 "$BENCH_ROUNDS"); do
    if [ $((r % 2)) -eq 1 ]; then
        on+=("$(rps "$URL_on/v1/kv/bench")"); off+=("$(rps "$URL_off/v1/kv/bench")")
    else
        off+=("$(rps "$URL_off/v1/kv/bench")"); on+=("$(rps "$URL_on/v1/kv/bench")")
    fi
    echo "  round $r: metrics on ${on[-1]} req/s, off ${off[-1]} req/s"
done
mon=$(printf '%s\n' "${on[@]}" | awk '{s+=$1} END {print s/NR}')
moff=$(printf '%s\n' "${off[@]}" | awk '{s+=$1} END {print s/NR}')
echo "  on:  $(printf '%s\n' "${on[@]}" | stats) req/s"
echo "  off: $(printf '%s\n' "${off[@]}" | stats) req/s"
awk -v a="$mon" -v b="$moff" 'BEGIN {printf "  on/off: %.3f\n", a / b}'

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
echo "one scrape (agent on, after the runs above)"
for form in "format=prometheus" "pretty=false"; do
    bytes=$(curl -s "$URL_on/v1/agent/metrics?$form" | wc -c)
    t=$(curl -s -o /dev/null -w '%{time_total}' "$URL_on/v1/agent/metrics?$form")
    t0=$(ticks "$PID_on")
    for _ in $(seq 1 200); do curl -s -o /dev/null "$URL_on/v1/agent/metrics?$form"; done
    t1=$(ticks "$PID_on")
    awk -v f="$form" -v b="$bytes" -v t="$t" -v d=$((t1 - t0)) -v hz="$HZ" \
        'BEGIN {printf "  ?%s: %d bytes, %.2f ms wall, %.3f ms agent CPU per scrape (200 scrapes)\n",
                f, b, t * 1000, d * 1000 / hz / 200}'
done

echo "read throughput while scraped once a second (agent on)"
scraper() {
    while :; do
        curl -s -o /dev/null "$URL_on/v1/agent/metrics?format=prometheus"
        curl -s -o /dev/null "$URL_on/v1/agent/metrics"
        sleep 1
    done
}
quiet=() scraped=()
for r in $(seq 1 "$BENCH_ROUNDS"); do
    quiet+=("$(rps "$URL_on/v1/kv/bench")")
    scraper & SCRAPER=$!
    scraped+=("$(rps "$URL_on/v1/kv/bench")")
    kill "$SCRAPER" 2>/dev/null; wait "$SCRAPER" 2>/dev/null; SCRAPER=
    echo "  round $r: no scraper ${quiet[-1]} req/s, scraped ${scraped[-1]} req/s"
done
mq=$(printf '%s\n' "${quiet[@]}" | awk '{s+=$1} END {print s/NR}')
ms=$(printf '%s\n' "${scraped[@]}" | awk '{s+=$1} END {print s/NR}')
awk -v a="$ms" -v b="$mq" 'BEGIN {printf "  scraped/quiet: %.3f\n", a / b}'

# 4. The update path alone (build/<dir>/bench_metrics: ninja bench_metrics).
MICRO=${BENCH_METRICS_MICRO:-$(dirname "$CAIRN_BIN")/bench_metrics}
if [ -x "$MICRO" ]; then
    echo "the update path, ns per call (bench/metrics/micro.c)"
    "$MICRO" | sed 's/^/  /'
else
    echo "(no $MICRO: ninja -C $(dirname "$CAIRN_BIN") bench_metrics for the ns per update)"
fi
