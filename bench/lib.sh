# bench/lib.sh: what the bench scripts share (sourced; expects ROOT and
# CAIRN_BIN to be set): messages, tool checks, free ports, waiting for an HTTP
# answer, a scratch directory whose processes are stopped on exit
# (bench_tmp), and one single-server agent (bench_single).

PY=${PY:-/usr/bin/python3}
BENCH_SKIP=${BENCH_SKIP:-}

say() { printf '%s\n' "$*" >&2; }

# skip WORD: true when BENCH_SKIP names WORD.
skip() { [[ " $BENCH_SKIP " == *" $1 "* ]]; }

# free_port: a loopback TCP port free now.
free_port() {
    $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_http URL [SECONDS]: until URL answers 2xx (bounded: 30 s by default).
wait_http() {
    local i
    for i in $(seq $((${2:-30} * 20))); do
        curl -fsS -o /dev/null --max-time 1 "$1" 2>/dev/null && return 0
        sleep 0.05
    done
    say "bench: $1 did not come up"
    return 1
}

# bench_tmp NAME: a fresh TMP under BENCH_TMPDIR (build/bench: a real disk) and
# PIDS=(), the processes the script starts. On exit (and by `cleanup` between
# phases) each is continued (it may be SIGSTOPped), sent SIGTERM, given
# BENCH_STOP_TICKS tenths of a second (50) and killed; TMP is removed unless
# BENCH_KEEP is set.
bench_tmp() {
    mkdir -p "${BENCH_TMPDIR:-$ROOT/build/bench}"
    TMP=$(mktemp -d "${BENCH_TMPDIR:-$ROOT/build/bench}/$1.XXXXXX")
    PIDS=()
    trap bench_finish EXIT
    trap 'exit 130' INT TERM
}

cleanup() {
    local p _
    for p in "${PIDS[@]}"; do kill -CONT "$p" 2>/dev/null; kill -TERM "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do
        for _ in $(seq "${BENCH_STOP_TICKS:-50}"); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
        wait "$p" 2>/dev/null
    done
    PIDS=()
}

bench_finish() {
    cleanup
    if [ -z "${BENCH_KEEP:-}" ]; then rm -rf "$TMP"; else say "bench: kept $TMP"; fi
}

# bench_need TOOL...: exit 1 unless every tool is on PATH (or an executable path).
bench_need() {
    local tool
    for tool in "$@"; do
        command -v "$tool" >/dev/null || { say "bench: $tool not found"; exit 1; }
    done
}

# bench_single NAME [AGENT_ARG...]: start `cairn agent -server -bootstrap` on a
# random loopback port with its data in a fresh TMP under BENCH_TMPDIR
# (build/bench); sets TMP, PORT, PID and URL, stops the agent and removes TMP
# on exit, and waits (bounded, 20 s) until it lists itself in the catalog.
bench_single() {
    local name=$1
    shift
    mkdir -p "${BENCH_TMPDIR:-$ROOT/build/bench}"
    TMP=$(mktemp -d "${BENCH_TMPDIR:-$ROOT/build/bench}/$name.XXXXXX")
    PORT=$(( 20000 + RANDOM % 20000 ))
    "$CAIRN_BIN" agent -server -bootstrap -data-dir="$TMP/data" -node=bench -client=127.0.0.1 \
        -http-port=$PORT -serf-lan-port=-1 "$@" -server-port=$((PORT + 1)) -log-level=warn 2>"$TMP/agent.log" &
    PID=$!
    trap 'kill $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$TMP"' EXIT
    URL=http://127.0.0.1:$PORT
    local _
    for _ in $(seq 1 200); do
        curl -sf "$URL/v1/catalog/nodes" | grep -q bench && return 0
        sleep 0.1
    done
}

# bench_cairn3 DIR [AGENT_ARG...]: three cairn servers (-bootstrap-expect=3,
# each joined to the others, data and logs under DIR/c0..c2, the arguments
# added to each); sets C_HTTP[i], C_RPC[i] and C_PID[i] (i = 0..2) and adds
# the PIDs to PIDS. Returns at once: the caller waits for a leader its way.
bench_cairn3() {
    local dir=$1 i j joins
    shift
    C_HTTP=(); C_RPC=(); C_PID=()
    for i in 0 1 2; do C_HTTP[i]=$(free_port); C_RPC[i]=$(free_port); done
    for i in 0 1 2; do
        joins=()
        for j in 0 1 2; do
            [ "$i" = "$j" ] || joins+=("-retry-join=127.0.0.1:${C_RPC[j]}")
        done
        "$CAIRN_BIN" agent -server -bootstrap-expect=3 -data-dir="$dir/c$i" -node="c$i" \
            -datacenter=dc1 -client=127.0.0.1 -bind=127.0.0.1 -http-port="${C_HTTP[i]}" \
            -dns-port=-1 -serf-lan-port=-1 -server-port="${C_RPC[i]}" "${joins[@]}" "$@" \
            2>"$dir/c$i.log" &
        C_PID[i]=$!
        PIDS+=("${C_PID[i]}")
    done
}

# bench_nginx_conf DIR SERVER [HTTP]: write DIR/nginx.conf for one nginx worker
# in the foreground (pid, error log and temp paths in DIR, no access log):
# SERVER is the body of its one server block, HTTP extra http-level lines.
bench_nginx_conf() {
    mkdir -p "$1"
    cat >"$1/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
${3:-}
    client_body_temp_path $1/body;
    proxy_temp_path $1/proxy;
    fastcgi_temp_path $1/fastcgi;
    uwsgi_temp_path $1/uwsgi;
    scgi_temp_path $1/scgi;
    server {
$2
    }
}
EOF
}
