#!/usr/bin/env bash
# bench/gossip.sh: figures of the gossip core (src/gossip) in the deterministic
# simulator (tests/sim/gossip_sim.c, virtual time): pools of 100, 1,000 and
# 10,000 members, 1% and 5% packet loss, 1% of the members stalling 1-5 s
# (and, up to 1,000 members, a harsher 5% loss with 10% stalling), Lifeguard
# on and off (plain SWIM) in the same simulator. Per row: time from a crash
# to the first suspicion and to "every live member marked it failed"
# (median, p99), false positives (a member that never crashed marked failed
# by someone) per member-hour, bytes sent per member per second. Ends with
# the rows as one markdown table.
#   bench/gossip.sh                          all sizes
#   SIZES="100 1000" bench/gossip.sh
#   SIZES=10000 SECS=60 bench/gossip.sh      one size, 60 simulated s a row
#   PARALLEL=1 bench/gossip.sh               a size's rows at once (forked; more cores)
#   ninja -C build/release gossip-sim-figures    the same through the build (not in ctest)
# Each size and Lifeguard setting builds its pool once and runs its rows on
# forked copies (cairn-gossip-sim --rows). Cost on a quiet core: 100 and
# 1,000 members take seconds a row; 10,000 members (10^8 member entries,
# 16 bytes each plus the index, ~2.3 GiB resident) about a minute of CPU to
# build and a few a row. On a loaded machine multiply by the load.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${SIM:-}" ]; then # else: the simulator given (the gossip-sim-figures target)
  B=build/release
  cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  ninja -C "$B" -j"${JOBS:-2}" cairn-gossip-sim >/dev/null
  SIM=$B/tests/sim/cairn-gossip-sim
fi
SIZES=${SIZES:-"100 1000 10000"}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for n in $SIZES; do
  if [ "$n" -ge 10000 ]; then
    secs=${SECS:-60} crash=10 rows="0.01:0,0.05:0,0.01:0.01"
  elif [ "$n" -ge 1000 ]; then
    secs=${SECS:-120} crash=20 rows="0.01:0,0.05:0,0.01:0.01,0.05:0.10"
  else
    secs=${SECS:-900} crash=10 rows="0.01:0,0.05:0,0.01:0.01,0.05:0.10"
  fi
  for lg in "" --no-lifeguard; do
    "$SIM" --bench --nodes "$n" --seconds "$secs" --rows "$rows" --crash "$crash" --seed 7 $lg \
      ${PARALLEL:+--parallel} |
      tee -a "$out"
  done
done
echo
echo "| members | loss | stalls | Lifeguard | first suspicion p50 / p99 | all live marked failed p50 / p99 | false positives / member-hour (members) | bytes / member / s |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
# Lifeguard on and off side by side, rows in the order they ran
sed -n 's/^  table: //p' "$out" | awk -F'|' '{
    k = $2 "|" $3 "|" $4
    if (!(k in seen)) { seen[k] = 1; order[++nk] = k }
    line[k, $5 ~ /on/ ? 1 : 2] = $0
  } END { for (i = 1; i <= nk; i++) for (j = 1; j <= 2; j++) if ((order[i], j) in line) print line[order[i], j] }'
