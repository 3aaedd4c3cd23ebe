#!/usr/bin/env bash
# Run every libFuzzer target briefly on its committed seed corpus
# (tests/fuzz/corpus/<name>/). New corpus inputs go to a scratch dir, never the
# repo. What a failing target leaves (crash-*, leak-*, timeout-*, oom-* and its
# log) is kept in ARTIFACT_DIR/<target>/ (default: BIN_DIR/../../artifacts, i.e.
# build/fuzz/artifacts/), emptied at the start of each run of that target, and
# the command to reproduce it is printed.
# Usage: run-fuzz.sh BIN_DIR [SECONDS_PER_TARGET] [ARTIFACT_DIR]
set -euo pipefail
bindir=$(cd "$1" && pwd)
secs=${2:-10}
artdir=${3:-$bindir/../../artifacts}
mkdir -p "$artdir"
artdir=$(cd "$artdir" && pwd)
root=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
pass=0
fail=0
for bin in "$bindir"/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin")
  corpus="$root/tests/fuzz/corpus/${name#fuzz_}"
  art="$artdir/$name"
  rm -rf "$art"
  mkdir -p "$scratch/$name" "$art"
  seeds=()
  [ -d "$corpus" ] && seeds+=("$corpus")
  if "$bin" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 \
       -artifact_prefix="$art/" "$scratch/$name" "${seeds[@]}" \
       >"$art/fuzz.log" 2>&1; then
    echo "fuzz $name: ok ($(grep -c . "$art/fuzz.log") log lines, ${secs}s)"
    rm -rf "$art"
    pass=$((pass + 1))
  else
    echo "fuzz $name: FAILED"
    tail -40 "$art/fuzz.log"
    echo "fuzz $name: artifacts and full log kept in $art/"
    found=0
    for f in "$art"/crash-* "$art"/leak-* "$art"/timeout-* "$art"/oom-* "$art"/slow-unit-*; do
      [ -e "$f" ] || continue
      found=1
      echo "fuzz $name: reproduce with: $bin $f"
    done
    [ "$found" -eq 1 ] || echo "fuzz $name: no reproducer file was written (see $art/fuzz.log)"
    fail=$((fail + 1))
  fi
done
rmdir "$artdir" 2>/dev/null || true
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
