#!/usr/bin/env bash
# Run every libFuzzer target briefly on its committed seed corpus
# (tests/fuzz/corpus/<name>/). New inputs go to a scratch dir, never the repo.
# Usage: run-fuzz.sh BIN_DIR SECONDS_PER_TARGET
set -euo pipefail
bindir=$1
secs=${2:-10}
root=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
pass=0
fail=0
for bin in "$bindir"/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin")
  corpus="$root/tests/fuzz/corpus/${name#fuzz_}"
  mkdir -p "$scratch/$name"
  seeds=()
  [ -d "$corpus" ] && seeds+=("$corpus")
  if "$bin" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
       -artifact_prefix="$scratch/$name/" "$scratch/$name" "${seeds[@]}" \
       >"$scratch/$name.log" 2>&1; then
    echo "fuzz $name: ok ($(grep -c . "$scratch/$name.log") log lines, ${secs}s)"
    pass=$((pass + 1))
  else
    echo "fuzz $name: FAILED"
    tail -40 "$scratch/$name.log"
    ls "$scratch/$name/" | head
    fail=$((fail + 1))
  fi
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
