#!/bin/sh
# bench/wan.sh: WAN federation figures (bench/wan.py): latency a cross-datacenter
# read adds (p50/p99 against the same read sent to the remote datacenter
# directly, same run), and the time from a datacenter going dark to the first
# 500 "No path to datacenter" and to the first prepared-query failover answer.
#   CAIRN_BIN=build/release/cairn N=2000 RUNS=5 WAN_PROBE=200ms bench/wan.sh
set -eu
cd "$(dirname "$0")/.."
echo "machine load: $(cut -d' ' -f1-3 /proc/loadavg) (shared machine)"
exec /usr/bin/python3 bench/wan.py
