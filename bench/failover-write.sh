#!/usr/bin/env bash
# bench/failover-write.sh: the first write after a leader kill. Three cairn
# servers on 127.0.0.1 with default settings (500 ms election timeout); in
# each run, a fresh cluster, one warm-up write through a follower, then
# kill -9 the leader and at once ONE write (PUT /v1/kv/...) through that
# follower: one client, no retries, a 10 s client timeout. Prints every
# run's latency and status, then p50/p90/max over all runs. Numbers only,
# never pass/fail (docs/benchmarks.md).
#
#   CAIRN_BIN=build/release/cairn bench/failover-write.sh
#
# Knobs (environment): BENCH_KILLS (20) runs, BENCH_CLIENT_TIMEOUT (10) s,
# BENCH_TMPDIR (build/bench: a real disk), BENCH_KEEP=1 keeps the logs,
# BENCH_FREEZE_MS (0): when > 0, the leader is first frozen (SIGSTOP), the
# write sent, and the leader killed that many ms later: the write is then
# in flight to the leader when it dies (on loopback a plain kill -9 resets
# the connections at once, so the follower rarely forwards to a dead leader).
# The latency is counted from the write's start in both modes.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
CAIRN_BIN=${CAIRN_BIN:-$ROOT/build/release/cairn}
BENCH_KILLS=${BENCH_KILLS:-20}
BENCH_CLIENT_TIMEOUT=${BENCH_CLIENT_TIMEOUT:-10}
BENCH_FREEZE_MS=${BENCH_FREEZE_MS:-0}
PY=/usr/bin/python3
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

for tool in "$CAIRN_BIN" curl; do
    command -v "$tool" >/dev/null || { say "bench: $tool not found"; exit 1; }
done

bench_tmp failover-write
RESULTS=$TMP/results.txt
: >"$RESULTS"


# Globals: C_HTTP[i] C_RPC[i] C_PID[i] for i in 0..2.
start_cluster() { # DIR
    local dir=$1
    bench_cairn3 "$dir" -log-level=info
    local t
    for t in $(seq 600); do
        leader_index >/dev/null && return 0
        sleep 0.1
    done
    say "bench: no leader; logs:"; tail -n 20 "$dir"/c*.log >&2
    return 1
}

# Index of the leader all three agree on, or failure.
leader_index() {
    local i l first=""
    for i in 0 1 2; do
        l=$(curl -fsS --max-time 2 "http://127.0.0.1:${C_HTTP[i]}/v1/status/leader" 2>/dev/null) \
            || return 1
        l=${l//\"/}
        [ -n "$l" ] || return 1
        [ -z "$first" ] && first=$l
        [ "$l" = "$first" ] || return 1
    done
    for i in 0 1 2; do
        [ "$first" = "127.0.0.1:${C_RPC[i]}" ] && { echo "$i"; return 0; }
    done
    return 1
}

say "bench: $CAIRN_BIN ($("$CAIRN_BIN" version 2>/dev/null | head -1)), $BENCH_KILLS runs, freeze ${BENCH_FREEZE_MS} ms"
for run in $(seq 1 "$BENCH_KILLS"); do
    dir=$TMP/run$run
    mkdir -p "$dir"
    if ! start_cluster "$dir"; then
        echo "run $run: no cluster" | tee -a "$RESULTS"
        cleanup
        continue
    fi
    l=$(leader_index)
    f=$(( (l + 1) % 3 ))
    # Warm-up through the follower: forwarding connections are up.
    for _ in $(seq 50); do
        out=$(curl -sS --max-time 5 -X PUT --data v \
            "http://127.0.0.1:${C_HTTP[f]}/v1/kv/warm" 2>/dev/null) && [ "$out" = true ] && break
        sleep 0.1
    done
    # kill -9 the leader and at once one write through the follower, from
    # one process so nothing waits between them.
    line=$($PY - "${C_PID[l]}" "${C_HTTP[f]}" "$run" "$BENCH_CLIENT_TIMEOUT" "$BENCH_FREEZE_MS" <<'EOF'
import http.client, os, signal, sys, threading, time
pid, port, run = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
timeout, freeze_ms = float(sys.argv[4]), float(sys.argv[5])
out = {}
def write():
    t0 = time.monotonic()
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        c.request("PUT", "/v1/kv/failover/%s" % run, body=b"v")
        r = c.getresponse()
        out["r"] = (r.status, r.read().decode(errors="replace").strip())
    except Exception as e:  # the client timeout
        out["r"] = ("error", type(e).__name__)
    out["ms"] = (time.monotonic() - t0) * 1000
if freeze_ms > 0:
    os.kill(pid, signal.SIGSTOP)
    t = threading.Thread(target=write)
    t.start()
    time.sleep(freeze_ms / 1000.0)
    os.kill(pid, signal.SIGKILL)
    t.join()
else:
    os.kill(pid, signal.SIGKILL)
    write()
status, body = out["r"]
print("%.1f %s %s" % (out["ms"], status, body.replace(" ", "_")[:60]))
EOF
)
    wait "${C_PID[l]}" 2>/dev/null
    read -r ms status body <<<"$line"
    printf 'run %2d: %8s ms  status %s  %s\n' "$run" "$ms" "$status" "$body" | tee -a "$RESULTS"
    echo "$ms $status" >>"$TMP/lat.txt"
    cleanup
done

$PY - "$TMP/lat.txt" <<'EOF'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
lat = sorted(float(r[0]) for r in rows)
ok = sum(1 for r in rows if r[1] == "200")
if not lat:
    sys.exit("no runs")
def pct(p):
    return lat[min(len(lat) - 1, int(round(p / 100.0 * (len(lat) - 1))))]
print("runs %d, status 200: %d, other: %d" % (len(lat), ok, len(lat) - ok))
print("latency ms: p50 %.0f  p90 %.0f  max %.0f" % (pct(50), pct(90), lat[-1]))
EOF
