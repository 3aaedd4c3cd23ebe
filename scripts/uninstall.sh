#!/usr/bin/env bash
# Remove what `make install` installed: every path in CMake's
# install_manifest.txt (written by `cmake --install`; its paths do not carry
# DESTDIR, so the same DESTDIR must be given here), then
# the directories cairn alone owns once empty (etc/cairn.d, share/doc/cairn,
# include/cairn, ...). A configuration the user changed is kept, as dpkg keeps
# a changed conffile: cairn.hcl goes only if it is still the shipped one.
#   uninstall.sh MANIFEST SHIPPED_CAIRN_HCL [DESTDIR]
set -euo pipefail
manifest=$1 shipped=${2:-} destdir=${3:-}
destdir=${destdir%/}
if [ ! -f "$manifest" ]; then
  echo "uninstall: no $manifest (nothing was installed from this tree)" >&2
  exit 1
fi
dirs=()
while IFS= read -r f || [ -n "$f" ]; do
  [ -n "$f" ] || continue
  f=$destdir$f
  if [ "$(basename "$f")" = cairn.hcl ] && [ -f "$f" ] && [ -n "$shipped" ] &&
     ! cmp -s "$f" "$shipped"; then
    echo "uninstall: keeping $f (changed since installed)"
    continue
  fi
  if [ -e "$f" ] || [ -L "$f" ]; then
    rm -f -- "$f"
    echo "uninstall: removed $f"
  fi
  d=$(dirname "$f")
  case $d in *cairn*) dirs+=("$d") ;; esac
done <"$manifest"
for d in "${dirs[@]}"; do
  # Only directories named for cairn, and only when empty.
  while [[ ${d#"$destdir"} == *cairn* ]] && rmdir -- "$d" 2>/dev/null; do
    echo "uninstall: removed $d/"
    d=$(dirname "$d")
  done
done
