#!/usr/bin/env bash
# bench/acl.sh: what ACL checks cost. Two single-server agents in the same
# run: ACLs off, and ACLs on (default_policy "deny") with a token whose
# policy has 20 rules (the brief's figure: under 5% of read throughput).
# Read: GET /v1/kv/<key> (key:read, resolved from the token cache, then a
# lookup in the compiled authorizer); write: PUT /v1/kv/<unique key>
# (key:write). wrk at BENCH_CONNS (16) connections for BENCH_SECONDS (5)
# each, alternating off/on (and which goes first) for BENCH_ROUNDS (4) rounds; prints numbers and
# the on/off ratio of the sums, never passes or fails on them.
#
#   ninja -C build/release cairn bench_acl && CAIRN_BIN=build/release/cairn bench/acl.sh
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
CAIRN_BIN=${CAIRN_BIN:-$ROOT/build/release/cairn}
BENCH_SECONDS=${BENCH_SECONDS:-5}
BENCH_CONNS=${BENCH_CONNS:-16}
BENCH_ROUNDS=${BENCH_ROUNDS:-4}
export BENCH_WRK_DIR=$HERE/wrk
MGMT=11111111-2222-3333-4444-555555555555

# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
bench_need "$CAIRN_BIN" curl wrk

mkdir -p "${BENCH_TMPDIR:-$ROOT/build/bench}"
TMP=$(mktemp -d "${BENCH_TMPDIR:-$ROOT/build/bench}/acl.XXXXXX")
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$TMP"' EXIT
cat >"$TMP/acl.hcl" <<HCL
acl {
  enabled = true
  default_policy = "deny"
  tokens {
    initial_management = "$MGMT"
    agent = "$MGMT"
  }
}
HCL

# start NAME PORT [ARGS...]
start() {
    local name=$1 port=$2
    shift 2
    "$CAIRN_BIN" agent -server -bootstrap -data-dir="$TMP/$name" -node="$name" -client=127.0.0.1 \
        -http-port="$port" -server-port=$((port + 1)) -dns-port=-1 -serf-lan-port=-1 -log-level=warn "$@" \
        2>"$TMP/$name.log" &
    PIDS+=($!)
    local _
    for _ in $(seq 1 200); do
        curl -sf -H "X-Consul-Token: $MGMT" "http://127.0.0.1:$port/v1/catalog/nodes" |
            grep -q "$name" && return 0
        sleep 0.1
    done
    say "agent $name did not start"; exit 1
}
P_OFF=$((20000 + RANDOM % 10000))
P_ON=$((P_OFF + 10))
start off "$P_OFF"
start on "$P_ON" -config-file="$TMP/acl.hcl"
OFF=http://127.0.0.1:$P_OFF
ON=http://127.0.0.1:$P_ON

# 20 rules: 18 key prefixes that do not match, then the two the bench uses.
RULES=""
for i in $(seq 1 18); do RULES="$RULES key_prefix \\\"team$i/\\\" { policy = \\\"write\\\" }\\n"; done
RULES="$RULES key_prefix \\\"bench/\\\" { policy = \\\"read\\\" }\\n key_prefix \\\"kvput/\\\" { policy = \\\"write\\\" }\\n"
curl -sf -X PUT -H "X-Consul-Token: $MGMT" "$ON/v1/acl/policy" \
    -d "{\"Name\":\"bench20\",\"Rules\":\"$RULES\"}" >/dev/null || { say "policy failed"; exit 1; }
TOKEN=$(curl -sf -X PUT -H "X-Consul-Token: $MGMT" "$ON/v1/acl/token" \
    -d '{"Description":"bench","Policies":[{"Name":"bench20"}]}' |
    sed -n 's/.*"SecretID":"\([^"]*\)".*/\1/p')
[ -n "$TOKEN" ] || { say "token failed"; exit 1; }
for u in "$OFF" "$ON"; do
    curl -sf -X PUT -H "X-Consul-Token: $MGMT" "$u/v1/kv/bench/key" -d "$(head -c 256 /dev/zero | tr '\0' v)" >/dev/null
done
curl -sf -H "X-Consul-Token: $TOKEN" "$ON/v1/kv/bench/key" >/dev/null || { say "token cannot read"; exit 1; }

result() { grep WRKRESULT | awk '{ if ($5 > 0) printf "%s(%d non-2xx)", $2, $5; else printf "%s", $2 }'; }
run() { # URL SCRIPT [TOKEN]
    local hdr=()
    [ -n "${3:-}" ] && hdr=(-H "X-Consul-Token: $3")
    BENCH_RUN_TAG="r$RANDOM" wrk -t2 -c"$BENCH_CONNS" -d"${BENCH_SECONDS}s" "${hdr[@]}" \
        -s "$HERE/wrk/$2" "$1" | result
}
sr_off=0; sr_on=0; sw_off=0; sw_on=0
for round in $(seq 1 "$BENCH_ROUNDS"); do
    # Alternate which goes first: a run's leftovers (fsyncs, a snapshot
    # started by its writes) land on the run after it.
    if [ $((round % 2)) -eq 1 ]; then
        r_off=$(run "$OFF/v1/kv/bench/key" get.lua)
        r_on=$(run "$ON/v1/kv/bench/key" get.lua "$TOKEN")
        w_off=$(run "$OFF" cairn_kv_put.lua)
        w_on=$(run "$ON" cairn_kv_put.lua "$TOKEN")
    else
        r_on=$(run "$ON/v1/kv/bench/key" get.lua "$TOKEN")
        r_off=$(run "$OFF/v1/kv/bench/key" get.lua)
        w_on=$(run "$ON" cairn_kv_put.lua "$TOKEN")
        w_off=$(run "$OFF" cairn_kv_put.lua)
    fi
    printf 'round %d (c=%d, %ss): read  off %8s  on %8s req/s | write  off %8s  on %8s req/s\n' \
        "$round" "$BENCH_CONNS" "$BENCH_SECONDS" "$r_off" "$r_on" "$w_off" "$w_on"
    sr_off=$(echo "$sr_off + ${r_off%%(*}" | bc); sr_on=$(echo "$sr_on + ${r_on%%(*}" | bc)
    sw_off=$(echo "$sw_off + ${w_off%%(*}" | bc); sw_on=$(echo "$sw_on + ${w_on%%(*}" | bc)
done
printf 'read: ACLs on / off = %.3f   write: ACLs on / off = %.3f\n' \
    "$(echo "$sr_on / $sr_off" | bc -l)" "$(echo "$sw_on / $sw_off" | bc -l)"
# The same path measured in process (not blurred by a shared machine):
MICRO=$(dirname "$CAIRN_BIN")/bench_acl
if [ -x "$MICRO" ]; then "$MICRO"; else say "(ninja -C $(dirname "$CAIRN_BIN") bench_acl for the in-process figures)"; fi
