#!/usr/bin/env bash
# bench/filter.sh: the cost of ?filter= on /v1/health/service/:name (the
# endpoint Prometheus' consul_sd long-polls with filter/health_filter).
# Prints numbers, never passes or fails on them (docs/benchmarks.md).
#
#   CAIRN_BIN=build/release/cairn bench/filter.sh
#
# BENCH_INSTANCES (100) instances of one service, each with one check, on
# one cairn server; then GET /v1/health/service/web with wrk at BENCH_CONNS
# (16) connections for BENCH_SECONDS (5) each, in the same run and alternating:
# no filter, a filter keeping every instance, a filter keeping 1 in 10. The
# ratio to the unfiltered run is the figure (each kept or dropped instance is
# written, parsed back with json-c and evaluated).
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
CAIRN_BIN=${CAIRN_BIN:-$ROOT/build/release/cairn}
BENCH_SECONDS=${BENCH_SECONDS:-5}
BENCH_CONNS=${BENCH_CONNS:-16}
BENCH_INSTANCES=${BENCH_INSTANCES:-100}
export BENCH_WRK_DIR=$HERE/wrk

# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
bench_need "$CAIRN_BIN" curl wrk
bench_single filter
for i in $(seq 1 "$BENCH_INSTANCES"); do
    env=staging; [ $((i % 10)) -eq 0 ] && env=prod
    curl -sf -X PUT "$URL/v1/catalog/register" -d "{\"Node\":\"n$i\",\"Address\":\"10.0.$((i / 250)).$((i % 250))\",
      \"Service\":{\"ID\":\"web-$i\",\"Service\":\"web\",\"Tags\":[\"v1\",\"$env\"],\"Port\":8080,
      \"Meta\":{\"env\":\"$env\"}},\"Checks\":[{\"CheckID\":\"c$i\",\"Name\":\"c\",
      \"Status\":\"passing\",\"ServiceID\":\"web-$i\"}]}" >/dev/null
done
ALL='Service.Tags%20contains%20v1'
TENTH='Service.Meta.env%20%3D%3D%20prod%20and%20Checks.Status%20%3D%3D%20passing'
result() { grep WRKRESULT | awk '{printf "%s req/s  p50 %s us  p99 %s us", $2, $3, $4}'; }
run() { wrk -t2 -c"$BENCH_CONNS" -d"${BENCH_SECONDS}s" -s "$HERE/wrk/get.lua" "$1" | result; }
for round in 1 2; do
    echo "round $round, $BENCH_INSTANCES instances, c=$BENCH_CONNS"
    echo "  no filter:         $(run "$URL/v1/health/service/web")"
    echo "  filter keeps all:  $(run "$URL/v1/health/service/web?filter=$ALL")"
    echo "  filter keeps 1/10: $(run "$URL/v1/health/service/web?filter=$TENTH")"
done
