#!/usr/bin/env bash
# bench/lb/run.sh: build bench_lb in a release build and print the lb figures
# (docs/lb.md, docs/benchmarks.md). Arguments go to lb_bench (-n 10,100 -quick ...).
set -euo pipefail
cd "$(dirname "$0")/../.."
B=build/lb-bench
cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release -DCAIRN_TESTS=OFF >/dev/null
ninja -C $B bench_lb >/dev/null
exec ./$B/bench_lb "$@"
