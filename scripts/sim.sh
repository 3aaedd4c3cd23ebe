#!/bin/bash
# scripts/sim.sh: build cairn-sim (release, no sanitizers: ~10x faster) and run
# the scripted scenarios plus a seed sweep. CN_ASSERT checks stay on
# (-DCAIRN_ASSERT=ON, base/assert.h). Used by `make sim SEEDS=N`.
#   scripts/sim.sh [SEEDS] [START]      default 10000 seeds from 1
# Extra cairn-sim flags can go in SIM_FLAGS (e.g. SIM_FLAGS="--nodes 5 --steps 600").
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS=${1:-10000}
START=${2:-1}
B=build/sim-release
cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCAIRN_ASSERT=ON >/dev/null
ninja -C "$B" -j"${JOBS:-2}" cairn-sim
"$B/tests/sim/cairn-sim" --scenario all
exec "$B/tests/sim/cairn-sim" --seeds "$SEEDS" --start "$START" ${SIM_FLAGS:-}
