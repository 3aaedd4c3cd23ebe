"""bench/connect_proxy.py: the driver of bench/connect_proxy.sh.

  measure NAME=PORT..  for each path in turn, in the same run: latency of
                       BENCH_PINGS sequential 64-byte request/echo round trips
                       on one connection (p50/p99/max, microseconds), and the
                       throughput of BENCH_MB MiB echoed through one connection
                       (a sender and a reader thread); each path BENCH_ROUNDS
                       times, alternating, the best round kept per path.

Both ends are bench/echo_peer (C; its path in ECHO_PEER): a Python echo
application and client capped the direct path and the forwarded ones alike.
Prints numbers; never passes or fails on them."""

import os
import subprocess
import sys

PEER = os.environ.get("ECHO_PEER", "")


def peer(*args):
    out = subprocess.run([PEER] + [str(a) for a in args], check=True, capture_output=True,
                         text=True, timeout=600)
    return [float(x) for x in out.stdout.split()]


def latency(port, n):
    p50, p99, mx = peer("ping", port, n)
    return p50, p99, mx


def throughput(port, mib):
    return peer("stream", port, mib)[0]


def measure(paths):
    pings = int(os.environ.get("BENCH_PINGS", "5000"))
    mib = int(os.environ.get("BENCH_MB", "256"))
    rounds = int(os.environ.get("BENCH_ROUNDS", "3"))
    best = {}
    for r in range(rounds):
        order = paths if r % 2 == 0 else list(reversed(paths))
        for name, port in order:
            p50, p99, mx = latency(port, pings)
            mbs = throughput(port, mib)
            b = best.setdefault(name, [p50, p99, mbs])
            b[0], b[1], b[2] = min(b[0], p50), min(b[1], p99), max(b[2], mbs)
            print("round %d %-8s p50 %7.1f us  p99 %7.1f us  max %8.1f us  %8.1f MiB/s"
                  % (r, name, p50, p99, mx, mbs), flush=True)
    d = best["direct"]
    print("\nbest of %d rounds (echo of 64 B x %d; %d MiB echoed through one connection):"
          % (rounds, pings, mib))
    for name, _ in paths:
        b = best[name]
        print("%-8s p50 %7.1f us (+%6.1f)  p99 %7.1f us (+%6.1f)  %8.1f MiB/s (%.2f of direct)"
              % (name, b[0], b[0] - d[0], b[1], b[1] - d[1], b[2], b[2] / d[2]))


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] != "measure" or not PEER:
        sys.exit("usage: ECHO_PEER=path connect_proxy.py measure NAME=PORT...")
    measure([(a.split("=")[0], int(a.split("=")[1])) for a in sys.argv[2:]])
