#!/usr/bin/env bash
# bench/gossip.sh: figures of the gossip core (src/gossip) in the deterministic
# simulator (tests/sim/gossip_sim.c, virtual time): pools of 100 and 1,000
# members, 1% and 5% packet loss, 1% of the members stalling 1-5 s (and a
# harsher 10%), Lifeguard on and off in the same run. Per row: time from a
# crash to the first suspicion and to "every live member marked it failed"
# (median, p99), false positives (a member that never crashed marked failed
# by someone) per member-hour, bytes sent per member per second.
#   bench/gossip.sh                 all rows (several minutes on 2 cores)
#   SIZES="100" SECS=600 bench/gossip.sh
# 10,000 members are not run: every member holds the whole member list
# (about 200 bytes a member), so one process simulating 10,000 of them needs
# ~20 GB; `cairn-gossip-sim --bench --nodes 10000` works on a machine that
# has it.
set -euo pipefail
cd "$(dirname "$0")/.."
B=build/release
cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$B" -j"${JOBS:-2}" cairn-gossip-sim >/dev/null
SIM=$B/tests/sim/cairn-gossip-sim
SIZES=${SIZES:-"100 1000"}
for n in $SIZES; do
  secs=${SECS:-$([ "$n" -ge 1000 ] && echo 180 || echo 900)}
  crash=$([ "$n" -ge 1000 ] && echo 20 || echo 10)
  for row in "0.01 0" "0.05 0" "0.01 0.01" "0.05 0.10"; do
    set -- $row
    for lg in "" --no-lifeguard; do
      "$SIM" --bench --nodes "$n" --seconds "$secs" --loss "$1" --stall "$2" --crash "$crash" \
        --seed 7 $lg
    done
  done
done
