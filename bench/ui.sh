#!/usr/bin/env bash
# bench/ui.sh: the web UI's first paint against one agent holding
# BENCH_UI_SERVICES (5000) services (bench/ui_paint.py: headless Chromium,
# DOMContentLoaded, first paint, services list rendered), the same page on
# the near-empty catalog first as the peer in the same run.
# Prints numbers, never passes or fails on them (docs/benchmarks.md).
#
#   make build && CAIRN_BIN=build/release/cairn bench/ui.sh
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
CAIRN_BIN=${CAIRN_BIN:-$ROOT/build/release/cairn}
BENCH_UI_SERVICES=${BENCH_UI_SERVICES:-5000}
BENCH_UI_RUNS=${BENCH_UI_RUNS:-5}

# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
bench_need "$CAIRN_BIN" curl /usr/bin/chromium /usr/bin/chromedriver
bench_single ui -ui -dns-port=-1
curl -sf "$URL/v1/catalog/nodes" >/dev/null || { say "ui: the agent did not start:"; cat "$TMP/agent.log" >&2; exit 1; }
say "ui: $CAIRN_BIN at $URL, $BENCH_UI_SERVICES services, $BENCH_UI_RUNS page loads each"
/usr/bin/python3 "$HERE/ui_paint.py" "$URL" "$BENCH_UI_SERVICES" "$BENCH_UI_RUNS"
