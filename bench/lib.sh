# bench/lib.sh: sourced by the bench scripts that run one single-server agent
# (filter.sh, query.sh, sessions.sh). Expects ROOT and CAIRN_BIN to be set.

say() { printf '%s\n' "$*" >&2; }

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
