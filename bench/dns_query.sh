#!/usr/bin/env bash
# bench/dns_query.sh: a prepared-query lookup (webq.query.consul, A) against
# the plain service lookup it executes (web.service.consul, A), same agent,
# same dnsperf run settings, one after the other: the cost of executing the
# query (its stored definition decoded, then filtered) per DNS answer.
# Prints figures, never passes or fails.
#
#   CAIRN_BIN=build/release/cairn bench/dns_query.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${CAIRN_BIN:-$ROOT/build/release/cairn}
SECS=${BENCH_SECS:-5}
for t in dnsperf dig curl; do
    command -v $t >/dev/null || { echo "bench: $t not found" >&2; exit 1; }
done
port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); u=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); u.bind(("127.0.0.1",s.getsockname()[1])); print(s.getsockname()[1])'; }
HTTP=$(port)
DNS=$(port)
TMP=$(mktemp -d)
"$BIN" agent -dev -node=bench -http-port="$HTTP" -dns-port="$DNS" -log-level=warn \
    >"$TMP/log" 2>&1 &
P=$!
trap 'kill $P 2>/dev/null; wait $P 2>/dev/null || true; rm -rf "$TMP"' EXIT
for _ in $(seq 300); do
    curl -fs "127.0.0.1:$HTTP/v1/status/leader" 2>/dev/null | grep -q . && break
    sleep 0.1
done
for i in $(seq 1 10); do
    curl -fs -X PUT -d "{\"Node\":\"n$i\",\"Address\":\"10.0.0.$i\",\"Service\":{\"ID\":\"w$i\",\"Service\":\"web\",\"Port\":80}}" \
        "127.0.0.1:$HTTP/v1/catalog/register" >/dev/null
done
curl -fs -X POST -d '{"Name":"webq","Service":{"Service":"web","OnlyPassing":true},"DNS":{"TTL":"5s"}}' \
    "127.0.0.1:$HTTP/v1/query" >/dev/null
[ "$(dig +short @127.0.0.1 -p "$DNS" webq.query.consul | wc -l)" = 10 ] ||
    { echo "bench: webq.query.consul does not answer 10 A records" >&2; exit 1; }
declare -A QPS
for n in web.service.consul webq.query.consul; do
    echo "$n A" >"$TMP/q"
    QPS[$n]=$(dnsperf -s 127.0.0.1 -p "$DNS" -d "$TMP/q" -l "$SECS" -c 4 -q 200 -e 2>/dev/null |
        awk '/Queries per second/ {print $4}')
    printf "%-22s A  %10.0f q/s\n" "$n" "${QPS[$n]}"
done
awk -v a="${QPS[webq.query.consul]}" -v b="${QPS[web.service.consul]}" \
    'BEGIN { printf "query / service       %10.2f\n", a / b }'
