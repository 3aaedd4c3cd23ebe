#!/usr/bin/env bash
# Build the Debian package with Debian's tools: copy the tree as a clean
# clone has it (tracked files plus files not yet committed, never build/) to
# OUT/cairn-VERSION/, run `dpkg-buildpackage -us -uc -b` there, then lintian
# on the result (fails on any error or warning not overridden in
# debian/cairn.lintian-overrides). The .deb is left in OUT/.
#   build-deb.sh OUT
set -euo pipefail
out=${1:-build/deb}
top=$(git rev-parse --show-toplevel)
cd "$top"
version=$(dpkg-parsechangelog -S Version)
src="$out/cairn-$version"
rm -rf "$out"
mkdir -p "$src"
git ls-files -z --cached --others --exclude-standard | grep -zv '^build/' |
  while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
  xargs -0 cp --parents -t "$src"
# The shared compiler cache when there is one (CMake reads the variable).
if command -v ccache >/dev/null; then
  export CMAKE_C_COMPILER_LAUNCHER=ccache
fi
cd "$src"
DEB_BUILD_OPTIONS="parallel=${JOBS:-2} ${DEB_BUILD_OPTIONS:-}" dpkg-buildpackage -us -uc -b
cd ..
changes=$(ls cairn_"$version"_*.changes)
echo "build-deb: $(ls cairn_"$version"_*.deb)"
if command -v lintian >/dev/null; then
  # --fail-on error,warning: a warning is a failure unless overridden (with
  # its reason) in debian/cairn.lintian-overrides.
  lintian --fail-on error,warning --display-info --show-overrides "$changes"
  echo "build-deb: lintian clean"
else
  echo "build-deb: lintian not installed (scripts/install-deps.sh --deb)" >&2
  exit 1
fi
