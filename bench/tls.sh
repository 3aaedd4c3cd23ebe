#!/usr/bin/env bash
# bench/tls.sh: TLS costs, each figure beside its peer in the same run, on
# 127.0.0.1 (docs/benchmarks.md, "TLS"; docs/tls.md). Prints numbers, never
# passes or fails on them.
#
#   CAIRN_BIN=build/release/cairn bench/tls.sh
#
#   handshake  full TLS handshakes per second (BENCH_HS_CLIENTS parallel
#              `openssl s_time -new`), cairn's HTTPS port against nginx's, the
#              same certificate and key (ECDSA P-256 from `cairn tls cert create`)
#   keepalive  wrk on kept-alive connections: cairn HTTPS GET /v1/kv/b?raw
#              against nginx HTTPS GET / ("ok" both)
#   http       cairn's plain-HTTP port, same request (HTTP vs HTTPS read throughput)
#   raft       3-server cluster, unique-key KV PUTs to the leader (bench/wrk
#              cairn_kv_put.lua), plaintext server RPC against mutual TLS with
#              verify_server_hostname
#
# The HTTPS figures alternate cairn and nginx for BENCH_ROUNDS (3) rounds and
# report medians (a shared machine is noisy).
# Knobs: BENCH_SECONDS (8) per wrk run, BENCH_CONNS (16), BENCH_TMPDIR
# (build/bench: a real disk), BENCH_SKIP ("" or words of: https nginx raft).
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
CAIRN_BIN=${CAIRN_BIN:-$ROOT/build/release/cairn}
BENCH_SECONDS=${BENCH_SECONDS:-8}
BENCH_CONNS=${BENCH_CONNS:-16}
BENCH_SKIP=${BENCH_SKIP:-}
BENCH_ROUNDS=${BENCH_ROUNDS:-3}
BENCH_HS_CLIENTS=${BENCH_HS_CLIENTS:-4}
PY=/usr/bin/python3
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
export BENCH_WRK_DIR=$HERE/wrk
export BENCH_RUN_TAG=t$$

for tool in "$CAIRN_BIN" wrk curl openssl; do
    command -v "$tool" >/dev/null || { say "bench: $tool not found"; exit 1; }
done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

bench_tmp tls
CAIRN_BIN=$(cd "$(dirname "$CAIRN_BIN")" && pwd)/$(basename "$CAIRN_BIN")


# rps NAME URL [wrk args...]: print "NAME <requests/s>" (wrk, 2 threads).
rps() {
    local name=$1 url=$2 out r
    shift 2
    out=$(timeout $((BENCH_SECONDS + 60)) wrk -t2 -c"$BENCH_CONNS" -d"${BENCH_SECONDS}s" \
        --timeout 10s "$@" "$url" 2>&1)
    r=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    if grep -q "Non-2xx\|Socket errors" <<<"$out"; then
        say "bench: $name: $(grep -E 'Non-2xx|Socket errors' <<<"$out")"
    fi
    printf '%-44s %10s req/s\n' "$name" "${r:-nan}"
    local v="L_${name//[^a-zA-Z0-9]/_}"
    eval "$v=\"\${$v:-} ${r:-0}\""
    eval "R_${name//[^a-zA-Z0-9]/_}=\$(median \$$v)"
}
# hs NAME PORT: full TLS handshakes per second (new session each time, then
# close): BENCH_HS_CLIENTS `openssl s_time -new` clients in parallel, summed.
# (wrk with "Connection: close" measures its own reconnect path, ~150/s here.)
hs() {
    local name=$1 port=$2 k r hp=()
    for k in $(seq "$BENCH_HS_CLIENTS"); do
        timeout $((BENCH_SECONDS + 30)) openssl s_time -connect "127.0.0.1:$port" -new \
            -time "$BENCH_SECONDS" -CAfile "$CA" >"$TMP/hs.$k" 2>&1 </dev/null &
        hp+=($!)
    done
    wait "${hp[@]}"
    r=$($PY -c '
import re, sys
t = 0.0
for f in sys.argv[1:]:
    m = re.search(r"(\d+) connections in (\d+) real seconds", open(f).read())
    t += int(m.group(1)) / max(int(m.group(2)), 1) if m else 0
print("%.0f" % t)' "$TMP"/hs.*)
    printf '%-44s %10s handshakes/s\n' "$name" "$r"
    local v="L_${name//[^a-zA-Z0-9]/_}"
    eval "$v=\"\${$v:-} ${r:-0}\""
    eval "R_${name//[^a-zA-Z0-9]/_}=\$(median \$$v)"
}
# median of the numbers given (the rounds of one figure)
median() { $PY -c 'import sys, statistics; print("%.0f" % statistics.median(float(x) for x in sys.argv[1:]))' "$@"; }

ratio() { $PY -c "import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print('%.2f' % (a/b) if b else 'nan')" "$1" "$2"; }

# ---- certificates (the CLI under test) ------------------------------------------
mkdir -p "$TMP/pki"
(cd "$TMP/pki" && "$CAIRN_BIN" tls ca create >/dev/null &&
    "$CAIRN_BIN" tls cert create -server -dc dc1 >/dev/null) || { say "bench: tls create failed"; exit 1; }
CA=$TMP/pki/consul-agent-ca.pem
CERT=$TMP/pki/dc1-server-consul-0.pem
KEY=$TMP/pki/dc1-server-consul-0-key.pem

echo "# bench/tls.sh: $(date -u +%FT%TZ), $(nproc) cores, ${BENCH_SECONDS}s per run, $BENCH_CONNS connections, $(openssl version)"

# ---- one agent: HTTP and HTTPS --------------------------------------------------
if ! skip https; then
HP=$(free_port); SP=$(free_port); RP=$(free_port)
cat >"$TMP/https.hcl" <<EOF
tls { https { cert_file = "$CERT" key_file = "$KEY" } }
EOF
"$CAIRN_BIN" agent -server -bootstrap -data-dir="$TMP/agent" -node=bench -client=127.0.0.1 \
    -http-port="$HP" -https-port="$SP" -server-port="$RP" -dns-port=-1 -serf-lan-port=-1 -log-level=warn \
    -config-file="$TMP/https.hcl" 2>"$TMP/agent.log" &
PIDS+=($!)
for _ in $(seq 300); do
    curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$HP/v1/kv/b" 2>/dev/null && break
    curl -fsS -o /dev/null --max-time 1 -X PUT --data ok "http://127.0.0.1:$HP/v1/kv/b" 2>/dev/null
    sleep 0.1
done
curl -fsS --cacert "$CA" "https://127.0.0.1:$SP/v1/kv/b?raw" >/dev/null || { say "bench: HTTPS not up"; tail "$TMP/agent.log" >&2; exit 1; }

NGINX=0
if ! skip nginx && command -v nginx >/dev/null; then
    NP=$(free_port)
    bench_nginx_conf "$TMP/nginx" "        listen 127.0.0.1:$NP ssl;
        ssl_certificate $CERT;
        ssl_certificate_key $KEY;
        ssl_protocols TLSv1.2 TLSv1.3;
        keepalive_requests 1000000;
        location / { return 200 \"ok\"; }"
    nginx -c "$TMP/nginx/nginx.conf" -p "$TMP/nginx" 2>"$TMP/nginx/stderr" &
    PIDS+=($!)
    for _ in $(seq 100); do
        curl -fsS -o /dev/null --cacert "$CA" "https://127.0.0.1:$NP/" 2>/dev/null && { NGINX=1; break; }
        sleep 0.1
    done
    [ "$NGINX" = 1 ] || say "bench: nginx did not start: $(cat "$TMP/nginx/stderr")"
fi

for round in $(seq "$BENCH_ROUNDS"); do
    echo "## round $round: handshakes (a new TLS connection per request), then keep-alive"
    hs cairn_https_handshake "$SP"
    [ "$NGINX" = 1 ] && hs nginx_https_handshake "$NP"
    rps cairn_https_keepalive "https://127.0.0.1:$SP/v1/kv/b?raw"
    [ "$NGINX" = 1 ] && rps nginx_https_keepalive "https://127.0.0.1:$NP/"
    rps cairn_http_keepalive "http://127.0.0.1:$HP/v1/kv/b?raw"
done
echo "## medians of $BENCH_ROUNDS rounds"
for n in cairn_https_handshake nginx_https_handshake cairn_https_keepalive nginx_https_keepalive \
    cairn_http_keepalive; do
    v="R_$n"
    printf '%-44s %10s req/s\n' "$n" "${!v:-nan}"
done
echo "## ratios (of the medians)"
if [ "$NGINX" = 1 ]; then
    echo "cairn/nginx handshakes:        $(ratio "$R_cairn_https_handshake" "$R_nginx_https_handshake")"
    echo "cairn/nginx HTTPS keep-alive:  $(ratio "$R_cairn_https_keepalive" "$R_nginx_https_keepalive")"
fi
echo "cairn HTTPS/HTTP keep-alive:   $(ratio "$R_cairn_https_keepalive" "$R_cairn_http_keepalive")"
cleanup
fi

# ---- Raft: 3 servers, plaintext vs mutual TLS -------------------------------------
if ! skip raft; then
    (cd "$TMP/pki" && "$CAIRN_BIN" tls cert create -server -dc dc1 >/dev/null &&
        "$CAIRN_BIN" tls cert create -server -dc dc1 >/dev/null)
    cluster() { # NAME [config file]
        local name=$1 conf=${2:-} i j joins t
        C_HTTP=(); C_RPC=()
        for i in 0 1 2; do C_HTTP[i]=$(free_port); C_RPC[i]=$(free_port); done
        for i in 0 1 2; do
            joins=()
            for j in 0 1 2; do [ "$i" = "$j" ] || joins+=("-retry-join=127.0.0.1:${C_RPC[j]}"); done
            local extra=()
            [ -n "$conf" ] && extra=("-config-file=$conf.$i.hcl")
            "$CAIRN_BIN" agent -server -bootstrap-expect=3 -data-dir="$TMP/$name$i" -node="$name$i" \
                -datacenter=dc1 -client=127.0.0.1 -bind=127.0.0.1 -http-port="${C_HTTP[i]}" \
                -dns-port=-1 -serf-lan-port=-1 -server-port="${C_RPC[i]}" -log-level=warn "${joins[@]}" "${extra[@]}" \
                2>"$TMP/$name$i.log" &
            PIDS+=($!)
        done
        for t in $(seq 600); do
            for i in 0 1 2; do
                l=$(curl -fsS --max-time 2 "http://127.0.0.1:${C_HTTP[i]}/v1/status/leader" 2>/dev/null)
                l=${l//\"/}
                if [ "$l" = "127.0.0.1:${C_RPC[i]}" ]; then LEADER=${C_HTTP[i]}; return 0; fi
            done
            sleep 0.1
        done
        say "bench: cluster $name has no leader"; tail -n 5 "$TMP/$name"*.log >&2; return 1
    }
    for i in 0 1 2; do
        cat >"$TMP/mtls.$i.hcl" <<EOF
tls {
  defaults {
    ca_file = "$CA"
    cert_file = "$TMP/pki/dc1-server-consul-$i.pem"
    key_file = "$TMP/pki/dc1-server-consul-$i-key.pem"
    verify_incoming = true
    verify_outgoing = true
  }
  internal_rpc { verify_server_hostname = true }
}
EOF
    done
    echo "## raft: 3 servers, KV PUT to the leader"
    if cluster plain; then
        rps raft_put_plaintext "http://127.0.0.1:$LEADER" -s "$HERE/wrk/cairn_kv_put.lua"
    fi
    cleanup
    if cluster mtls "$TMP/mtls"; then
        rps raft_put_mtls "http://127.0.0.1:$LEADER" -s "$HERE/wrk/cairn_kv_put.lua"
    fi
    cleanup
    echo "mTLS/plaintext Raft writes:    $(ratio "${R_raft_put_mtls:-0}" "${R_raft_put_plaintext:-0}")"
fi
