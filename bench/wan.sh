#!/bin/sh
# bench/wan.sh: WAN federation figures.
#  1. bench/wan.py (loopback): latency a cross-datacenter read adds (p50/p99
#     against the same read sent to the remote datacenter directly, same run),
#     and the time from a datacenter going dark to the first 500 "No path to
#     datacenter" and to the first prepared-query failover answer.
#  2. bench/wan_delay.py (network namespaces, root): the same cross-datacenter
#     read over a link with an injected round-trip delay D (DELAYS, ms), p50/p99
#     against the measured link round trip and the local read.
#   CAIRN_BIN=build/release/cairn N=2000 RUNS=5 WAN_PROBE=200ms bench/wan.sh
#   (wan_delay.py takes DELAYS="0 10 40" and DELAY_N=300 requests per kind)
# WAN gossip bytes per server per second: build/asan/tests/sim/cairn-gossip-wan-sim
# (docs/benchmarks.md).
set -eu
cd "$(dirname "$0")/.."
echo "machine load: $(cut -d' ' -f1-3 /proc/loadavg) (shared machine)"
/usr/bin/python3 bench/wan.py
echo "machine load: $(cut -d' ' -f1-3 /proc/loadavg) (shared machine)"
N="${DELAY_N:-300}" exec /usr/bin/python3 bench/wan_delay.py
