#!/usr/bin/env bash
# systemd-analyze verify on the generated cairn.service, its Exec*= lines pointed
# at the built binary (the installed path does not exist at build time) and
# without the man-page check (the packaging test verifies the installed unit
# with both). Skips (ctest code 77) where systemd-analyze is missing.
#   verify-unit.sh UNIT CAIRN_BIN
set -euo pipefail
unit=$1 bin=$2
command -v systemd-analyze >/dev/null || { echo "skip: no systemd-analyze"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed "s|^\(Exec[A-Za-z]*=\)[^ ]*/cairn |\1$bin |" "$unit" >"$tmp/cairn.service"
grep -q "^ExecStart=$bin " "$tmp/cairn.service"
out=$(systemd-analyze verify --man=no "$tmp/cairn.service" 2>&1) || { echo "$out"; exit 1; }
if [ -n "$out" ]; then
  echo "$out"
  exit 1
fi
echo "systemd-analyze verify: clean"
