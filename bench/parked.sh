#!/usr/bin/env bash
# bench/parked.sh: BENCH_PARKED (15000) blocking queries parked on one KV key
# of one single-server agent: agent RSS per parked query, and the time from
# the one write to the last answer (bench/parked.py). Prints numbers, never
# passes or fails on them (docs/benchmarks.md).
#
#   CAIRN_BIN=build/release/cairn bench/parked.sh
#   BENCH_BASE_BIN=/tmp/old/cairn CAIRN_BIN=build/release/cairn bench/parked.sh   (A/B)
#
# BENCH_ROUNDS (2) rounds, alternating the binaries within each; a fresh agent
# per run. The soft descriptor limit is raised to the hard one (20000 here):
# the agent and the client each hold one descriptor per parked query.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
CAIRN_BIN=${CAIRN_BIN:-$ROOT/build/release/cairn}
BENCH_BASE_BIN=${BENCH_BASE_BIN:-}
BENCH_PARKED=${BENCH_PARKED:-15000}
BENCH_ROUNDS=${BENCH_ROUNDS:-2}
# Request shapes (bench/parked.py --client): go = Consul's Go api client's
# bytes (User-Agent, a token, Accept-Encoding, ?index=N&wait=300000ms),
# plain = GET with Host only.
BENCH_CLIENTS=${BENCH_CLIENTS:-go plain}

# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
bench_need "$CAIRN_BIN" curl
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
say "parked: descriptor limit $(ulimit -n)"

mkdir -p "${BENCH_TMPDIR:-$ROOT/build/bench}"
TMP=$(mktemp -d "${BENCH_TMPDIR:-$ROOT/build/bench}/parked.XXXXXX")
APID=""
trap '[ -n "$APID" ] && kill $APID 2>/dev/null; wait 2>/dev/null; rm -rf "$TMP"' EXIT

one() {
    local name=$1 bin=$2 client=$3 port rport try _
    # A port picked here can be taken by someone else before the agent binds
    # it (a shared machine): a fresh pair, up to three times.
    for try in 1 2 3; do
        port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
        rport=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
        rm -rf "$TMP/data"
        : >"$TMP/$name.log"
        "$bin" agent -server -bootstrap -data-dir="$TMP/data" -node=bench -client=127.0.0.1 \
            -http-port="$port" -server-port="$rport" -dns-port=-1 -serf-lan-port=-1 \
            -log-level=info 2>"$TMP/$name.log" &
        APID=$!
        for _ in $(seq 1 200); do
            curl -sf "http://127.0.0.1:$port/v1/catalog/nodes" | grep -q bench && break 2
            kill -0 "$APID" 2>/dev/null || break
            sleep 0.1
        done
        kill "$APID" 2>/dev/null
        wait "$APID" 2>/dev/null
        say "parked: the agent did not start (attempt $try):"; tail -n 2 "$TMP/$name.log" >&2
    done
    local out
    out=$(timeout 600 /usr/bin/python3 "$HERE/parked.py" --port "$port" --pid "$APID" \
        --n "$BENCH_PARKED" --client "$client" 2>"$TMP/$name.client")
    grep -q '^PARKED connections' <<<"$out" || { say "parked: $name failed:"; tail -n 5 "$TMP/$name.log" "$TMP/$name.client" >&2; }
    kill "$APID" 2>/dev/null
    wait "$APID" 2>/dev/null
    APID=""
    # The agent's own account of the wake (server/watch.c logs herds >= 1000).
    local srvms srvcpu
    srvms=$(grep -o 'woke [0-9]* watchers in [0-9]* ms' "$TMP/$name.log" | tail -1 | awk '{print $5}')
    srvcpu=$(grep -o 'watchers in [0-9]* ms ([0-9]* ms of CPU)' "$TMP/$name.log" | tail -1 | awk '{print $5}' | tr -d '(')
    out+=$'\n'"PARKED server_wake_ms ${srvms:-?}"
    out+=$'\n'"PARKED server_wake_cpu_ms ${srvcpu:-?}"
    awk -v n="$name $client" -v ld="$(cut -d' ' -f1 /proc/loadavg)" '
        /^PARKED connections/ {c=$3} /^PARKED bytes_per_parked/ {b=$3}
        /^PARKED woken_by_key/ {w=$3} /^PARKED wake_all_ms/ {t=$3} /^PARKED wake_p50_ms/ {p=$3}
        /^PARKED woken_by_unrelated_1s/ {u=$3} /^PARKED server_cpu_ms/ {s=$3}
        /^PARKED server_wake_ms/ {sw=$3} /^PARKED server_wake_cpu_ms/ {sc=$3}
        END {printf "%-11s parked %6s  %5s B each  unrelated woke %s  key woke %6s: client saw all in %7s ms (p50 %s ms); agent CPU %s ms, agent answered all in %s ms (%s ms of CPU); load %s\n",
             n, c, b, u, w, t, p, s, sw, sc, ld}' <<<"$out"
}

for round in $(seq 1 "$BENCH_ROUNDS"); do
    echo "round $round"
    for client in $BENCH_CLIENTS; do
        [ -n "$BENCH_BASE_BIN" ] && one base "$BENCH_BASE_BIN" "$client"
        one new "$CAIRN_BIN" "$client"
    done
done
