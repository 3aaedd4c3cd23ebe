#!/usr/bin/env bash
# Install cairn's build, test and bench dependencies from Debian 12 packages.
# Skips apt entirely when everything is already present (keeps `make test` fast).
set -euo pipefail
PKGS=(
  build-essential cmake ninja-build pkg-config clang-14 libclang-rt-14-dev clang-format
  libuv1-dev node-llhttp libjson-c-dev libisal-dev libcurl4-openssl-dev libcmocka-dev
  libnghttp2-dev libssl-dev openssl
  python3-pytest python3-requests python3-consul python3-dnspython bind9-dnsutils curl
  iproute2 nftables
  libxxhash-dev
)
# DNS tests (tests/integration/test_dns.py): HAProxy's server-template fed by SRV records.
PKGS+=(haproxy)
# tests/integration/test_metrics.py: `promtool check metrics` (/usr/bin/promtool).
PKGS+=(prometheus)
# Web UI tests (tests/integration/test_ui.py): headless Chromium driven by Selenium.
PKGS+=(chromium chromium-driver python3-selenium)
if [ "${1:-}" = "--bench" ]; then
  PKGS+=(wrk etcd-server etcd-client nginx-light)
  PKGS+=(dnsperf unbound valgrind) # bench/dns.sh, bench/dns_profile.sh
  PKGS+=(socat)                     # bench/connect_proxy.sh: plain TCP forwarding beside the proxy
  PKGS+=(linux-perf)                # bench/put_latency.py --trace: perf trace of the servers' syncs
fi
# `make deb` / `make test-deb`: Debian's packaging tools (docs/packaging.md).
if [ "${1:-}" = "--deb" ]; then
  PKGS+=(dpkg-dev debhelper lintian systemd)
fi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
