#!/usr/bin/env bash
# bench/hotpath.sh: the discovery hot path against nginx serving the very same
# bytes from a file, in one run. Prints numbers, never passes or fails on them
# (docs/benchmarks.md).
#
#   CAIRN_BIN=build/release/cairn bench/hotpath.sh
#   BENCH_BASE_BIN=/tmp/old/cairn CAIRN_BIN=build/release/cairn bench/hotpath.sh   (A/B)
#
# One single-server agent per binary, 10 instances of `web` on 10 nodes (two
# tags, one meta pair, one passing TTL-style check each) and one 256-byte KV
# value. nginx (one worker, access_log off, keep-alive unlimited) serves the
# bytes each endpoint answered, fetched from the agent, as static files. Then
# BENCH_ROUNDS (3) rounds; in each, for each binary in turn (alternating A/B),
# for each endpoint: wrk on cairn, then wrk on nginx's copy right after, and
# the ratio of the two. wrk: 2 threads, BENCH_CONNS (64) connections,
# BENCH_SECONDS (5) each.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
CAIRN_BIN=${CAIRN_BIN:-$ROOT/build/release/cairn}
BENCH_BASE_BIN=${BENCH_BASE_BIN:-}
BENCH_SECONDS=${BENCH_SECONDS:-5}
BENCH_CONNS=${BENCH_CONNS:-64}
BENCH_ROUNDS=${BENCH_ROUNDS:-3}
export BENCH_WRK_DIR=$HERE/wrk

# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
bench_need "$CAIRN_BIN" curl wrk nginx
[ -n "$BENCH_BASE_BIN" ] && bench_need "$BENCH_BASE_BIN"

mkdir -p "${BENCH_TMPDIR:-$ROOT/build/bench}"
TMP=$(mktemp -d "${BENCH_TMPDIR:-$ROOT/build/bench}/hotpath.XXXXXX")
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_agent NAME BIN: sets URL_<NAME>
start_agent() {
    local name=$1 bin=$2 port rport
    port=$(free_port); rport=$(free_port)
    "$bin" agent -server -bootstrap -data-dir="$TMP/$name" -node=bench -client=127.0.0.1 \
        -http-port="$port" -server-port="$rport" -dns-port=-1 -serf-lan-port=-1 -log-level=warn \
        2>"$TMP/$name.log" &
    PIDS+=($!)
    local url=http://127.0.0.1:$port _
    for _ in $(seq 1 200); do
        curl -sf "$url/v1/catalog/nodes" | grep -q bench && break
        sleep 0.1
    done
    for i in $(seq 1 10); do
        curl -sf -X PUT "$url/v1/catalog/register" -d "{\"Node\":\"node-$i\",
          \"Address\":\"10.1.0.$i\",\"TaggedAddresses\":{\"lan\":\"10.1.0.$i\",
          \"wan\":\"198.51.100.$i\"},\"Service\":{\"ID\":\"web-$i\",\"Service\":\"web\",
          \"Address\":\"10.1.0.$i\",\"TaggedAddresses\":{\"lan\":{\"Address\":\"10.1.0.$i\",
          \"Port\":8080},\"wan\":{\"Address\":\"198.51.100.$i\",\"Port\":80}},
          \"Tags\":[\"v1\",\"primary\"],\"Port\":8080,\"Meta\":{\"version\":\"1.4.$i\"}},
          \"Check\":{\"CheckID\":\"service:web-$i\",\"Name\":\"Service 'web' check\",
          \"Status\":\"passing\",\"ServiceID\":\"web-$i\",\"Output\":\"TTL check passed\",
          \"Notes\":\"heartbeat every 10s\"}}" >/dev/null
    done
    curl -sf -X PUT --data-binary "$(head -c 256 /dev/zero | tr '\0' v)" \
        "$url/v1/kv/bench-get-key" >/dev/null
    printf -v "URL_$name" '%s' "$url"
}

ENDPOINTS=(health catalog kv)
path_of() {
    case $1 in
    health) echo /v1/health/service/web ;;
    catalog) echo /v1/catalog/service/web ;;
    kv) echo /v1/kv/bench-get-key ;;
    esac
}

NAMES=(new)
start_agent new "$CAIRN_BIN"
if [ -n "$BENCH_BASE_BIN" ]; then
    start_agent base "$BENCH_BASE_BIN"
    NAMES=(base new)
fi

# nginx serves what the (new) agent answered, byte for byte.
mkdir -p "$TMP/www" "$TMP/nginx"
for e in "${ENDPOINTS[@]}"; do
    curl -sf "$URL_new$(path_of "$e")" >"$TMP/www/$e.json"
    say "hotpath: $e answer $(wc -c <"$TMP/www/$e.json") bytes"
done
NP=$(free_port)
bench_nginx_conf "$TMP/nginx" "        listen 127.0.0.1:$NP;
        root $TMP/www;" "    keepalive_requests 100000000;
    default_type application/json;"
nginx -c "$TMP/nginx/nginx.conf" -p "$TMP/nginx" 2>"$TMP/nginx/stderr.log" &
PIDS+=($!)
NGINX=http://127.0.0.1:$NP
for _ in $(seq 1 100); do curl -sf -o /dev/null "$NGINX/kv.json" && break; sleep 0.1; done

rate() {
    wrk -t2 -c"$BENCH_CONNS" -d"${BENCH_SECONDS}s" -s "$HERE/wrk/get.lua" "$1" 2>&1 |
        awk '/^WRKRESULT/ {print $2, $5, $6}'
}

printf '%-6s %-5s %-8s %10s %10s %6s\n' round bin endpoint cairn nginx ratio
for round in $(seq 1 "$BENCH_ROUNDS"); do
    for name in "${NAMES[@]}"; do
        url_var=URL_$name
        for e in "${ENDPOINTS[@]}"; do
            read -r c cerr csock <<<"$(rate "${!url_var}$(path_of "$e")")"
            read -r n _ _ <<<"$(rate "$NGINX/$e.json")"
            [ "${cerr:-0}" != 0 ] || [ "${csock:-0}" != 0 ] &&
                say "hotpath: $name $e: $cerr non-2xx, $csock socket errors"
            ratio=$(awk -v a="${c:-0}" -v b="${n:-0}" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
            printf '%-6s %-5s %-8s %10s %10s %6s\n' "$round" "$name" "$e" "$c" "$n" "$ratio"
        done
    done
done
