#!/usr/bin/env bash
# bench/cluster.sh: a 3-server cairn cluster against a 3-member etcd 3.4
# cluster, both on 127.0.0.1 with fsync on (cairn always fsyncs; etcd runs
# without --unsafe-no-fsync) and the same election timing (1000 ms election
# timeout, 100 ms heartbeat: cairn's defaults, etcd's defaults). Prints numbers,
# never passes or fails on them (docs/benchmarks.md, "Clusters").
#
#   CAIRN_BIN=build/release/cairn bench/cluster.sh
#
# Workloads (the bench/wrk scripts of bench/run.sh, same 32-byte keys and
# 256-byte values):
#   put       unique-key writes sent to the leader (cairn PUT /v1/kv/..., etcd
#             POST /v3/kv/put), at each of BENCH_CONNS clients
#   get       a default read of one key on the leader (cairn: consistency mode
#             "default", leader lease; etcd: linearizable range)
#   get_stale the same read on a follower (cairn ?stale; etcd serializable)
#   failover  kill -9 the leader while a client retries a write every 10 ms
#             against every survivor: time to the first acknowledged write
#             (BENCH_FAILOVERS runs each, a fresh cluster every time)
#
# Knobs (environment): BENCH_SECONDS (10) per wrk run, BENCH_CONNS ("1 16
# 128"), BENCH_FAILOVERS (3), BENCH_TMPDIR (build/bench: a real disk),
# BENCH_SKIP ("" or words of: cairn etcd wrk failover).
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
CAIRN_BIN=${CAIRN_BIN:-$ROOT/build/release/cairn}
BENCH_SECONDS=${BENCH_SECONDS:-10}
BENCH_CONNS=${BENCH_CONNS:-"1 16 128"}
BENCH_FAILOVERS=${BENCH_FAILOVERS:-3}
# Election timeout for both systems (heartbeat = a tenth): 1000 ms is both defaults;
# BENCH_ELECTION_MS=150 measures failover with tuned timeouts.
BENCH_ELECTION_MS=${BENCH_ELECTION_MS:-1000}
BENCH_SKIP=${BENCH_SKIP:-}
PY=/usr/bin/python3
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
export BENCH_WRK_DIR=$HERE/wrk
export BENCH_RUN_TAG=c$$


ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
for tool in "$CAIRN_BIN" wrk curl; do
    command -v "$tool" >/dev/null || { say "bench: $tool not found"; exit 1; }
done
HAVE_ETCD=1
if skip etcd || ! command -v etcd >/dev/null; then HAVE_ETCD=0; fi
HAVE_CAIRN=1
if skip cairn; then HAVE_CAIRN=0; fi

bench_tmp cluster
RESULTS=$TMP/results.txt
: >"$RESULTS"

record() { echo "$*" >>"$RESULTS"; }

# ---- clusters ------------------------------------------------------------------
# Globals set by start_cairn / start_etcd (index 0..2):
#   C_HTTP[i] C_RPC[i] C_PID[i]      E_CLIENT[i] E_PEER[i] E_PID[i]

start_cairn() { # DIR
    local dir=$1 i
    bench_cairn3 "$dir" -log-level=warn -raft-election-timeout="${BENCH_ELECTION_MS}ms"
    local t
    for t in $(seq 600); do
        cairn_leader >/dev/null && return 0
        for i in 0 1 2; do kill -0 "${C_PID[i]}" 2>/dev/null || break 2; done
        sleep 0.1
    done
    say "bench: the cairn cluster elected no leader; logs:"; tail -n 20 "$dir"/c*.log >&2
    return 1
}

# Index of the cairn leader (all live servers agree), or failure.
cairn_leader() {
    local i l first="" live=0
    for i in 0 1 2; do
        kill -0 "${C_PID[i]}" 2>/dev/null || continue
        live=$((live + 1))
        l=$(curl -fsS --max-time 2 "http://127.0.0.1:${C_HTTP[i]}/v1/status/leader" 2>/dev/null) \
            || return 1
        l=${l//\"/}
        [ -n "$l" ] || return 1
        [ -z "$first" ] && first=$l
        [ "$l" = "$first" ] || return 1
    done
    for i in 0 1 2; do
        if [ "$first" = "127.0.0.1:${C_RPC[i]}" ] && kill -0 "${C_PID[i]}" 2>/dev/null; then
            echo "$i"; return 0
        fi
    done
    return 1
}

start_etcd() { # DIR
    local dir=$1 i cluster=""
    E_CLIENT=(); E_PEER=(); E_PID=()
    for i in 0 1 2; do E_CLIENT[i]=$(free_port); E_PEER[i]=$(free_port); done
    for i in 0 1 2; do cluster+="${cluster:+,}e$i=http://127.0.0.1:${E_PEER[i]}"; done
    for i in 0 1 2; do
        etcd --name "e$i" --data-dir "$dir/e$i" \
            --listen-client-urls "http://127.0.0.1:${E_CLIENT[i]}" \
            --advertise-client-urls "http://127.0.0.1:${E_CLIENT[i]}" \
            --listen-peer-urls "http://127.0.0.1:${E_PEER[i]}" \
            --initial-advertise-peer-urls "http://127.0.0.1:${E_PEER[i]}" \
            --initial-cluster "$cluster" --initial-cluster-state new \
            --initial-cluster-token "bench-$$" \
            --election-timeout "$BENCH_ELECTION_MS" \
            --heartbeat-interval "$((BENCH_ELECTION_MS / 10))" \
            --log-level error >"$dir/e$i.log" 2>&1 &
        E_PID[i]=$!; PIDS+=("${E_PID[i]}")
    done
    local t
    for t in $(seq 600); do
        etcd_leader >/dev/null && return 0
        for i in 0 1 2; do kill -0 "${E_PID[i]}" 2>/dev/null || break 2; done
        sleep 0.1
    done
    say "bench: the etcd cluster elected no leader"; tail -n 20 "$dir"/e*.log >&2
    return 1
}

# Index of the etcd leader, from /v3/maintenance/status (member_id == leader).
etcd_leader() {
    local i out
    for i in 0 1 2; do
        kill -0 "${E_PID[i]}" 2>/dev/null || continue
        out=$(curl -fsS --max-time 2 -X POST -d '{}' \
            "http://127.0.0.1:${E_CLIENT[i]}/v3/maintenance/status" 2>/dev/null) || continue
        if $PY -c 'import json,sys; d=json.loads(sys.argv[1]);
sys.exit(0 if d.get("leader") and d["leader"] == d["header"]["member_id"] else 1)' "$out"; then
            echo "$i"; return 0
        fi
    done
    return 1
}

# ---- wrk -------------------------------------------------------------------------
run_wrk() { # NAME CONNS URL SCRIPT(path)
    local name=$1 conns=$2 url=$3 script=$4 threads=2 out line
    [ "$conns" -lt 2 ] && threads=1
    out=$(timeout $((BENCH_SECONDS + 60)) wrk -t"$threads" -c"$conns" -d"${BENCH_SECONDS}s" \
        --timeout 10s --latency -s "$script" "$url" 2>&1)
    line=$(grep '^WRKRESULT' <<<"$out" | tail -1)
    if [ -z "$line" ]; then
        say "bench: wrk $name c=$conns produced no result:"; say "$out"
        record "wrk $name $conns nan nan nan nan nan 0"; return
    fi
    record "wrk $name $conns ${line#WRKRESULT }"
    say "bench: $name c=$conns: ${line#WRKRESULT }"
}

# etcd's serializable range (its stale read) is not among bench/wrk's scripts.
cat >"$TMP/etcd_range_serializable.lua" <<'EOF'
dofile((os.getenv("BENCH_WRK_DIR") or "bench/wrk") .. "/common.lua")
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"key":"' .. b64(os.getenv("BENCH_GET_KEY") or "bench-get-key") ..
   '","serializable":true}'
EOF

VALUE=$(head -c 256 /dev/zero | tr '\0' v)

if ! skip wrk; then
    mkdir -p "$TMP/wrk"
    if [ "$HAVE_CAIRN" = 1 ]; then
        start_cairn "$TMP/wrk" || exit 1
        L=$(cairn_leader); F=$(( (L + 1) % 3 ))
        CL=http://127.0.0.1:${C_HTTP[L]}; CF=http://127.0.0.1:${C_HTTP[F]}
        say "bench: cairn cluster up, leader c$L ($CL)"
        curl -fsS -o /dev/null -X PUT --data-binary "$VALUE" "$CL/v1/kv/bench-get-key"
        for _ in $(seq 100); do
            curl -fsS -o /dev/null "$CF/v1/kv/bench-get-key?stale" 2>/dev/null && break
            sleep 0.1
        done
    fi
    if [ "$HAVE_ETCD" = 1 ]; then
        start_etcd "$TMP/wrk" || HAVE_ETCD=0
    fi
    if [ "$HAVE_ETCD" = 1 ]; then
        EL=$(etcd_leader); EF=$(( (EL + 1) % 3 ))
        ETL=http://127.0.0.1:${E_CLIENT[EL]}; ETF=http://127.0.0.1:${E_CLIENT[EF]}
        say "bench: etcd cluster up, leader e$EL ($ETL)"
        k=$(printf bench-get-key | base64); v=$(printf %s "$VALUE" | base64 -w0)
        curl -fsS -o /dev/null -X POST -d "{\"key\":\"$k\",\"value\":\"$v\"}" "$ETL/v3/kv/put"
    fi
    for c in $BENCH_CONNS; do
        if [ "$HAVE_CAIRN" = 1 ]; then
            run_wrk cairn_put "$c" "$CL/v1/kv/" "$HERE/wrk/cairn_kv_put.lua"
            run_wrk cairn_get "$c" "$CL/v1/kv/bench-get-key" "$HERE/wrk/get.lua"
            run_wrk cairn_get_stale "$c" "$CF/v1/kv/bench-get-key?stale" "$HERE/wrk/get.lua"
        fi
        if [ "$HAVE_ETCD" = 1 ]; then
            run_wrk etcd_put "$c" "$ETL/v3/kv/put" "$HERE/wrk/etcd_put.lua"
            run_wrk etcd_get "$c" "$ETL/v3/kv/range" "$HERE/wrk/etcd_range.lua"
            run_wrk etcd_get_stale "$c" "$ETF/v3/kv/range" "$TMP/etcd_range_serializable.lua"
        fi
    done
    cleanup
fi

# ---- failover ------------------------------------------------------------------------
# failover_probe KIND URL... : after the caller's kill -9, retry one write every
# 10 ms on every URL in turn until one is acknowledged; print seconds since T0.
failover_probe() {
    $PY - "$@" <<'EOF'
import base64, json, sys, time, urllib.request
kind, t0, urls = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
val = b"v" * 256
n = 0
while time.time() - t0 < 60:
    for u in urls:
        n += 1
        key = "failover/%d" % n
        try:
            if kind == "cairn":
                req = urllib.request.Request(u + "/v1/kv/" + key, data=val, method="PUT")
            else:
                body = json.dumps({"key": base64.b64encode(key.encode()).decode(),
                                   "value": base64.b64encode(val).decode()}).encode()
                req = urllib.request.Request(u + "/v3/kv/put", data=body, method="POST",
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=0.5) as r:
                text = r.read().decode()
                ok = r.status == 200 and (kind != "cairn" or text.strip() == "true")
        except Exception:
            ok = False
        if ok:
            print("%.3f" % (time.time() - t0))
            sys.exit(0)
    time.sleep(0.01)
print("nan")
EOF
}

if ! skip failover; then
    for run in $(seq "$BENCH_FAILOVERS"); do
        d=$TMP/fo-cairn-$run; mkdir -p "$d"
        if [ "$HAVE_CAIRN" = 1 ] && start_cairn "$d"; then
            sleep 1
            L=$(cairn_leader)
            urls=()
            for i in 0 1 2; do [ "$i" = "$L" ] || urls+=("http://127.0.0.1:${C_HTTP[i]}"); done
            t0=$($PY -c 'import time; print(time.time())')
            kill -KILL "${C_PID[L]}"
            s=$(failover_probe cairn "$t0" "${urls[@]}")
            record "failover cairn $run $s"; say "bench: cairn failover #$run: ${s}s"
        fi
        cleanup
        [ "$HAVE_ETCD" = 1 ] || continue
        d=$TMP/fo-etcd-$run; mkdir -p "$d"
        if start_etcd "$d"; then
            sleep 1
            L=$(etcd_leader)
            urls=()
            for i in 0 1 2; do [ "$i" = "$L" ] || urls+=("http://127.0.0.1:${E_CLIENT[i]}"); done
            t0=$($PY -c 'import time; print(time.time())')
            kill -KILL "${E_PID[L]}"
            s=$(failover_probe etcd "$t0" "${urls[@]}")
            record "failover etcd $run $s"; say "bench: etcd failover #$run: ${s}s"
        fi
        cleanup
    done
fi

record "info cairn_bin $CAIRN_BIN"
record "info seconds $BENCH_SECONDS"

# ---- summary ----------------------------------------------------------------------------
$PY - "$RESULTS" <<'EOF'
import math, statistics, sys
wrk, fo = {}, {}
for line in open(sys.argv[1]):
    p = line.split()
    if p[0] == "wrk":
        wrk[(p[1], int(p[2]))] = [float(x) if x != "nan" else math.nan for x in p[3:6]]
    elif p[0] == "failover":
        fo.setdefault(p[1], []).append(float(p[3]) if p[3] != "nan" else math.nan)
def f(v, d=0):
    return "n/a" if v is None or math.isnan(v) else ("%.*f" % (d, v))
def ratio(a, b):
    return None if a is None or b is None or not b or math.isnan(a) or math.isnan(b) else a / b
conns = sorted({c for _, c in wrk})
print("3-server clusters on 127.0.0.1, fsync on (req/s; p50/p99 in ms)")
print("%-10s %5s | %9s %7s %7s | %9s %7s %7s | %7s %9s" % (
    "workload", "conns", "cairn r/s", "p50", "p99", "etcd r/s", "p50", "p99", "r/s x", "p99 x"))
for w in ("put", "get", "get_stale"):
    for c in conns:
        a = wrk.get(("cairn_" + w, c)); b = wrk.get(("etcd_" + w, c))
        if not a and not b:
            continue
        a = a or [math.nan] * 3
        b = b or [math.nan] * 3
        print("%-10s %5d | %9s %7s %7s | %9s %7s %7s | %7s %9s" % (
            w, c, f(a[0]), f(a[1] / 1000, 2), f(a[2] / 1000, 2),
            f(b[0]), f(b[1] / 1000, 2), f(b[2] / 1000, 2),
            f(ratio(a[0], b[0]), 2), f(ratio(a[2], b[2]), 2)))
for k in ("cairn", "etcd"):
    v = [x for x in fo.get(k, []) if not math.isnan(x)]
    if fo.get(k):
        print("failover %-5s: %s s (median %s of %d runs, %d failed)" % (
            k, " ".join(f(x, 2) for x in fo[k]), f(statistics.median(v), 2) if v else "n/a",
            len(fo[k]), len(fo[k]) - len(v)))
ca = [x for x in fo.get("cairn", []) if not math.isnan(x)]
et = [x for x in fo.get("etcd", []) if not math.isnan(x)]
if ca and et:
    print("failover ratio cairn/etcd (medians): %.2f" % (statistics.median(ca) / statistics.median(et)))
EOF
