#!/usr/bin/env bash
# bench/dns.sh: queries per second and latency of cairn's DNS interface against
# Debian's unbound serving the same records as static local-data, in the same
# run, with the same load tool (dnsperf). Prints figures, never passes or fails.
#
#   CAIRN_BIN=build/release/cairn bench/dns.sh
#
# One dev agent with a 10-instance service "web" (10 nodes, 10.0.0.1-10), and
# one unbound (1 thread, like cairn's one loop thread) with a static zone
# holding web.service.consul's 10 A records, its 10 SRV records and the
# targets' A records. For each of A and SRV, BENCH_ROUNDS rounds alternate
# cairn and unbound: a throughput run (dnsperf, BENCH_SECS seconds, EDNS0,
# BENCH_CLIENTS clients, BENCH_OUTSTANDING queries in flight), then a latency
# run at BENCH_LAT_QPS queries/s with dnsperf -v, from which p50/p99 come.
# The median round is printed, with the answer sizes (dig) and the ratio.
# Knobs: BENCH_SECS (5), BENCH_ROUNDS (3), BENCH_CLIENTS (4),
# BENCH_OUTSTANDING (200), BENCH_LAT_QPS (2000).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BIN=${CAIRN_BIN:-$ROOT/build/release/cairn}
SECS=${BENCH_SECS:-5}
ROUNDS=${BENCH_ROUNDS:-3}
CLIENTS=${BENCH_CLIENTS:-4}
OUTSTANDING=${BENCH_OUTSTANDING:-200}
LAT_QPS=${BENCH_LAT_QPS:-2000}
PY=/usr/bin/python3
for t in dnsperf unbound dig curl; do
    command -v $t >/dev/null || [ -x /usr/sbin/$t ] ||
        { echo "bench: $t not found (scripts/install-deps.sh --bench)" >&2; exit 1; }
done
UNBOUND=$(command -v unbound || echo /usr/sbin/unbound)
[ -x "$BIN" ] || { echo "bench: $BIN not built" >&2; exit 1; }

TMP=$(mktemp -d)
CPID=""
UPID=""
cleanup() {
    [ -n "$CPID" ] && { kill "$CPID" 2>/dev/null; wait "$CPID" 2>/dev/null || true; }
    [ -n "$UPID" ] && { kill "$UPID" 2>/dev/null; wait "$UPID" 2>/dev/null || true; }
    rm -rf "$TMP"
}
trap cleanup EXIT

port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); u=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); u.bind(("127.0.0.1",s.getsockname()[1])); print(s.getsockname()[1])'; }
HTTP=$(port)
CDNS=$(port)
UDNS=$(port)

"$BIN" agent -dev -node=bench -http-port="$HTTP" -dns-port="$CDNS" -log-level=warn \
    >"$TMP/cairn.log" 2>&1 &
CPID=$!
for _ in $(seq 300); do
    curl -fs "127.0.0.1:$HTTP/v1/status/leader" 2>/dev/null | grep -q . && break
    sleep 0.1
done
{
    echo "server:"
    echo "  interface: 127.0.0.1@$UDNS"
    echo "  port: $UDNS"
    echo "  do-daemonize: no"
    echo "  username: \"\""
    echo "  chroot: \"\""
    echo "  directory: \"$TMP\""
    echo "  pidfile: \"$TMP/unbound.pid\""
    echo "  use-syslog: no"
    echo "  logfile: \"\""
    echo "  verbosity: 0"
    echo "  num-threads: 1"
    echo "  access-control: 127.0.0.0/8 allow"
    echo "  local-zone: \"consul.\" static"
} >"$TMP/unbound.conf"
for i in $(seq 1 10); do
    curl -fsS -o /dev/null -X PUT --data "{\"Node\":\"web-$i\",\"Address\":\"10.0.0.$i\",\"Service\":{\"Service\":\"web\",\"ID\":\"web$i\",\"Port\":$((8000 + i))}}" \
        "127.0.0.1:$HTTP/v1/catalog/register"
    {
        echo "  local-data: \"web.service.consul. 0 IN A 10.0.0.$i\""
        echo "  local-data: \"web.service.consul. 0 IN SRV 1 1 $((8000 + i)) web-$i.node.dc1.consul.\""
        echo "  local-data: \"web-$i.node.dc1.consul. 0 IN A 10.0.0.$i\""
    } >>"$TMP/unbound.conf"
done
echo "remote-control:" >>"$TMP/unbound.conf"
echo "  control-enable: no" >>"$TMP/unbound.conf"
"$UNBOUND" -d -c "$TMP/unbound.conf" >"$TMP/unbound.log" 2>&1 &
UPID=$!
for _ in $(seq 100); do
    dig +time=1 +tries=1 @127.0.0.1 -p "$UDNS" web.service.consul A +short 2>/dev/null | grep -q . && break
    sleep 0.1
done

size() { # answer bytes (EDNS0 4096, as dnsperf -e sends)
    dig +time=2 +tries=1 +bufsize=4096 @127.0.0.1 -p "$1" web.service.consul "$2" |
        sed -n 's/.*MSG SIZE  rcvd: \([0-9]*\).*/\1/p'
}
for t in A SRV; do
    echo "web.service.consul $t" >"$TMP/q.$t"
done

# run SERVER_PORT TYPE -> "qps p50_us p99_us"
run() {
    local p=$1 t=$2 qps lat
    qps=$(dnsperf -s 127.0.0.1 -p "$p" -d "$TMP/q.$t" -e -c "$CLIENTS" -q "$OUTSTANDING" \
        -l "$SECS" 2>&1 | sed -n 's/.*Queries per second: *\([0-9.]*\).*/\1/p')
    dnsperf -s 127.0.0.1 -p "$p" -d "$TMP/q.$t" -e -c 1 -q 10 -Q "$LAT_QPS" -l "$SECS" -v \
        >"$TMP/lat" 2>&1 || true
    lat=$(awk '/^> NOERROR/ { print $NF }' "$TMP/lat" | sort -n |
        awk '{ v[NR] = $1 } END { if (NR == 0) { print "- -"; exit }
            i50 = int(NR * 0.50); if (i50 < 1) i50 = 1
            i99 = int(NR * 0.99); if (i99 < 1) i99 = 1
            printf "%.0f %.0f\n", v[i50] * 1e6, v[i99] * 1e6 }')
    echo "$qps $lat"
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

echo "dns bench: dnsperf $(dnsperf -h 2>&1 | sed -n 's/^Version //p') ($CLIENTS clients, $OUTSTANDING outstanding, ${SECS}s, EDNS0), $ROUNDS rounds, median"
echo "cairn: $BIN (one loop thread)    unbound: $($UNBOUND -V 2>&1 | sed -n 's/^Version //p') (num-threads 1, static local-data)"
printf "%-5s %-8s %7s %10s %9s %9s\n" type server bytes qps p50_us p99_us
for t in A SRV; do
    : >"$TMP/c.$t"
    : >"$TMP/u.$t"
    for _ in $(seq "$ROUNDS"); do
        run "$CDNS" "$t" >>"$TMP/c.$t"
        run "$UDNS" "$t" >>"$TMP/u.$t"
    done
    for s in c u; do
        name=$([ $s = c ] && echo cairn || echo unbound)
        p=$([ $s = c ] && echo "$CDNS" || echo "$UDNS")
        q=$(cut -d' ' -f1 "$TMP/$s.$t" | median)
        p50=$(cut -d' ' -f2 "$TMP/$s.$t" | median)
        p99=$(cut -d' ' -f3 "$TMP/$s.$t" | median)
        printf "%-5s %-8s %7s %10s %9s %9s\n" "$t" "$name" "$(size "$p" "$t")" "$q" "$p50" "$p99"
        eval "Q_${s}_$t=$q"
    done
    eval "printf '%-5s cairn/unbound qps ratio: %.2f\n' $t \$(echo \"\$Q_c_$t \$Q_u_$t\" | awk '{ print \$1 / \$2 }')"
done
echo "(cairn's SRV answer carries the targets' A records in the additional section; unbound's static zone answers the SRV RRset alone: the byte column says how the sizes compare)"
