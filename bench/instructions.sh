#!/usr/bin/env bash
# bench/instructions.sh: instructions the cairn process executes per request,
# counted by valgrind's callgrind — a figure the load of a shared machine does
# not move, for comparing two builds when wall-clock runs are too noisy.
# Prints figures, never passes or fails.
#
#   bench/instructions.sh OLD_BIN NEW_BIN      (or one binary)
#
# One dev agent per binary under callgrind (instrumentation off during start-up),
# then, on one keep-alive connection, BENCH_N requests of each workload, the
# counters zeroed before and dumped after each: KV PUT of a 256-byte value to a
# fresh key, KV GET of one key, GET /v1/health/service/web (10 instances).
# Knobs: BENCH_N (2000).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
N=${BENCH_N:-2000}
PY=/usr/bin/python3
command -v valgrind >/dev/null || { echo "bench: valgrind not found (apt-get install valgrind)" >&2; exit 1; }
[ $# -ge 1 ] || { echo "usage: $0 BIN [BIN...]" >&2; exit 2; }

PID=""
TMP=""
cleanup() { # also on an error exit (set -e): never leave an agent behind
    [ -n "$PID" ] && { kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; }
    [ -n "$TMP" ] && rm -rf "$TMP"
    PID=""; TMP=""
}
trap cleanup EXIT

run_one() {
    local bin=$1 tmp port pid out
    tmp=$(mktemp -d)
    port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$tmp/cg.%p" \
        "$bin" agent -dev -http-port="$port" -dns-port=-1 -log-level=warn >"$tmp/log" 2>&1 &
    pid=$!
    PID=$pid TMP=$tmp
    for _ in $(seq 600); do
        curl -fs "127.0.0.1:$port/v1/status/leader" 2>/dev/null | grep -q . && break
        sleep 0.1
    done
    $PY "$HERE/load.py" web "$port" 10 >/dev/null
    curl -fsS -o /dev/null -X PUT --data-binary "$(head -c 256 /dev/zero | tr '\0' v)" \
        "127.0.0.1:$port/v1/kv/bench-get-key"
    callgrind_control -i on "$pid" >/dev/null 2>&1
    out="$bin"
    for w in put get health; do
        callgrind_control -z "$pid" >/dev/null 2>&1
        $PY - "$port" "$w" "$N" <<'EOF'
import http.client, sys
port, w, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
c = http.client.HTTPConnection("127.0.0.1", port)
val = b"v" * 256
for i in range(n):
    if w == "put":
        c.request("PUT", "/v1/kv/bench/%08d" % i, body=val)
    elif w == "get":
        c.request("GET", "/v1/kv/bench-get-key")
    else:
        c.request("GET", "/v1/health/service/web")
    r = c.getresponse(); r.read()
    assert r.status == 200, r.status
EOF
        callgrind_control -d "$pid" >/dev/null 2>&1
        local f ir
        f=$(ls -t "$tmp"/cg.$pid.* 2>/dev/null | head -1)
        ir=$(awk '/^summary:|^totals:/{print $2; exit}' "$f")
        out="$out  $w $(( ir / N ))"
        rm -f "$f"
    done
    echo "$out"
    cleanup
}

echo "instructions per request (callgrind Ir of the cairn process / $N requests)"
for b in "$@"; do run_one "$b"; done
