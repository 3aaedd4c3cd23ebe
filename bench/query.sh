#!/usr/bin/env bash
# bench/query.sh: prepared query execution against the health endpoint it
# generalises, on one cairn server, in the same run (docs/benchmarks.md:
# figures, never pass/fail).
#
#   CAIRN_BIN=build/release/cairn bench/query.sh
#
# BENCH_INSTANCES (100) instances of "web" on as many nodes, every one with a
# passing check; then wrk at BENCH_CONNS (32) connections for BENCH_SECONDS
# (5) each on:
#   1. GET /v1/health/service/web?passing         (the baseline)
#   2. GET /v1/query/web-q/execute                 (a static query, by name)
#   3. GET /v1/query/web/execute                   (a catch-all template)
# and prints req/s and the ratio of each to the baseline. Both answer the
# same instances (one node-meta-free, tag-free filter); execute also decodes
# the stored definition and shuffles.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
CAIRN_BIN=${CAIRN_BIN:-$ROOT/build/release/cairn}
BENCH_SECONDS=${BENCH_SECONDS:-5}
BENCH_CONNS=${BENCH_CONNS:-32}
BENCH_INSTANCES=${BENCH_INSTANCES:-100}

# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
bench_need "$CAIRN_BIN" curl wrk
bench_single query
for _ in $(seq 1 300); do
    [ -n "$(curl -sf $URL/v1/status/leader 2>/dev/null | tr -d '"')" ] && break
    sleep 0.1
done
for i in $(seq 1 "$BENCH_INSTANCES"); do
    curl -sf -X PUT "$URL/v1/catalog/register" -d "{\"Node\":\"n$i\",\"Address\":\"10.0.$((i / 250)).$((i % 250))\",\"Service\":{\"ID\":\"web\",\"Service\":\"web\",\"Port\":80},\"Check\":{\"CheckID\":\"c\",\"Name\":\"c\",\"Status\":\"passing\",\"ServiceID\":\"web\"}}" >/dev/null || { say "bench: register failed"; exit 1; }
done
curl -sf -X POST "$URL/v1/query" -d '{"Name":"web-q","Service":{"Service":"web"}}' >/dev/null
curl -sf -X POST "$URL/v1/query" -d '{"Name":"","Template":{"Type":"name_prefix_match"},"Service":{"Service":"${name.full}"}}' >/dev/null
n=$(curl -sf "$URL/v1/query/web-q/execute" | grep -o '"Node":{' | wc -l)
[ "$n" -eq "$BENCH_INSTANCES" ] || { say "bench: execute answered $n instances"; exit 1; }
rate() {
    wrk -t2 -c"$BENCH_CONNS" -d"${BENCH_SECONDS}s" "$URL$1" 2>/dev/null |
        awk '/Requests\/sec/ {print $2}'
}
base=$(rate "/v1/health/service/web?passing")
stat=$(rate "/v1/query/web-q/execute")
tmpl=$(rate "/v1/query/web/execute")
printf 'instances %s, %s connections, %ss each\n' "$BENCH_INSTANCES" "$BENCH_CONNS" "$BENCH_SECONDS"
printf '%-40s %10s req/s\n' "health/service/web?passing" "$base"
printf '%-40s %10s req/s  (%.2f x)\n' "query/web-q/execute (static)" "$stat" \
    "$(echo "$stat / $base" | bc -l)"
printf '%-40s %10s req/s  (%.2f x)\n' "query/web/execute (template)" "$tmpl" \
    "$(echo "$tmpl / $base" | bc -l)"
