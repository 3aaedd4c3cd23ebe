#!/usr/bin/env bash
# bench/dns_profile.sh: instructions cairn executes per DNS query (callgrind),
# for A and SRV of a 10-instance service, with the top functions. A figure the
# load of a shared machine does not move; see bench/instructions.sh.
#   bench/dns_profile.sh [BIN]      Knobs: BENCH_N (2000 queries per type)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
BIN=${1:-$HERE/../build/release/cairn}
N=${BENCH_N:-2000}
PY=/usr/bin/python3
TMP=$(mktemp -d)
PID=""
cleanup() {
    [ -n "$PID" ] && { kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null || true; }
    rm -rf "$TMP"
}
trap cleanup EXIT
port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
HTTP=$(port)
DNS=$(port)
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$TMP/cg.%p" \
    "$BIN" agent -dev -http-port="$HTTP" -dns-port="$DNS" -log-level=warn >"$TMP/log" 2>&1 &
PID=$!
for _ in $(seq 600); do
    curl -fs "127.0.0.1:$HTTP/v1/status/leader" 2>/dev/null | grep -q . && break
    sleep 0.1
done
for i in $(seq 1 10); do
    curl -fsS -o /dev/null -X PUT --data "{\"Node\":\"web-$i\",\"Address\":\"10.0.0.$i\",\"Service\":{\"Service\":\"web\",\"ID\":\"web$i\",\"Port\":$((8000 + i))}}" \
        "127.0.0.1:$HTTP/v1/catalog/register"
done
callgrind_control -i on "$PID" >/dev/null 2>&1
for t in A SRV; do
    callgrind_control -z "$PID" >/dev/null 2>&1
    $PY - "$DNS" "$t" "$N" <<'PYEOF'
import socket, sys
import dns.message
port, t, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
w = dns.message.make_query("web.service.consul", t, use_edns=0, payload=4096).to_wire()
for i in range(n):
    s.sendto(w, ("127.0.0.1", port))
    s.recv(65535)
PYEOF
    callgrind_control -d "$t" "$PID" >/dev/null 2>&1
    f=$(ls -t "$TMP"/cg.* 2>/dev/null | head -1)
    total=$(callgrind_annotate "$f" 2>/dev/null | sed -n 's/^ *\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,)
    echo "$t: $((total / N)) instructions per query ($N queries)"
    callgrind_annotate --inclusive=no "$f" 2>/dev/null | sed -n '/^Ir/,$p' | sed -n '3,14p'
    [ -n "${BENCH_ANNOTATE:-}" ] && callgrind_annotate --auto=yes "$f" 2>/dev/null > "${BENCH_ANNOTATE}.$t"
done
