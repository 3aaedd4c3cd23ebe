"""bench/connect_proxy.py: the driver of bench/connect_proxy.sh.

  measure NAME=PORT[:PID,PID..]..
                       for each path in turn, in the same run: latency of
                       BENCH_PINGS sequential 64-byte request/echo round trips
                       on one connection (p50/p99/max, microseconds), and the
                       throughput of BENCH_MB MiB echoed through one connection
                       (a sender and a reader thread); each path BENCH_ROUNDS
                       times, alternating, the best round kept per path. With
                       PIDs (the forwarding processes of the path), also the
                       CPU time they used (user + system, with their waited
                       children): per round trip and per MiB echoed (unlike
                       the times, that figure depends little on the machine's
                       load), and the time they waited for a core while
                       runnable, per round trip (the load's share of the
                       latency).

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


def family(pids):
    """pids and their children now running (socat forks one per connection)."""
    todo, out = list(pids), []
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            with open("/proc/%d/task/%d/children" % (p, p)) as f:
                todo += [int(x) for x in f.read().split()]
        except OSError:
            pass
    return out


def waited(pids):
    """Seconds the threads of pids spent runnable but waiting for a core
    (/proc/PID/task/TID/schedstat, second field)."""
    total = 0
    for p in family(pids):
        try:
            tids = os.listdir("/proc/%d/task" % p)
        except OSError:
            continue
        for t in tids:
            try:
                with open("/proc/%d/task/%s/schedstat" % (p, t)) as f:
                    total += int(f.read().split()[1])
            except (OSError, IndexError, ValueError):
                pass
    return total / 1e9


def cpu(pids):
    """CPU seconds used so far by pids (utime, stime, cutime, cstime)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in family(pids):
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # a child that ended (its time is now its parent's)
        total += sum(int(x) for x in fields[11:15])
    return total / tick


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
        for name, port, pids in order:
            c0, w0 = cpu(pids), waited(pids)
            p50, p99, mx = latency(port, pings)
            c1, w1 = cpu(pids), waited(pids)
            mbs = throughput(port, mib)
            c2 = cpu(pids)
            per_rt, per_mib = (c1 - c0) * 1e6 / (pings + 200), (c2 - c1) * 1e3 / mib
            wait_rt = (w1 - w0) * 1e6 / (pings + 200)
            b = best.setdefault(name, [p50, p99, mbs, per_rt, per_mib, wait_rt])
            b[0], b[1], b[2] = min(b[0], p50), min(b[1], p99), max(b[2], mbs)
            b[3], b[4], b[5] = min(b[3], per_rt), min(b[4], per_mib), min(b[5], wait_rt)
            cpus = ("  cpu %5.1f us/rt %6.2f ms/MiB  runq wait %5.1f us/rt"
                    % (per_rt, per_mib, wait_rt)) if pids else ""
            print("round %d %-8s p50 %7.1f us  p99 %7.1f us  max %8.1f us  %8.1f MiB/s%s"
                  % (r, name, p50, p99, mx, mbs, cpus), flush=True)
    d = best["direct"]
    print("\nbest of %d rounds (echo of 64 B x %d; %d MiB echoed through one connection):"
          % (rounds, pings, mib))
    for name, _, pids in paths:
        b = best[name]
        cpus = ("  forwarders: cpu %5.1f us/round trip %5.2f ms/MiB, runq wait %5.1f us/round trip"
                % (b[3], b[4], b[5])) if pids else ""
        print("%-8s p50 %7.1f us (+%6.1f)  p99 %7.1f us (+%6.1f)  %8.1f MiB/s (%.2f of direct)%s"
              % (name, b[0], b[0] - d[0], b[1], b[1] - d[1], b[2], b[2] / d[2], cpus))


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] != "measure" or not PEER:
        sys.exit("usage: ECHO_PEER=path connect_proxy.py measure NAME=PORT...")
    paths = []
    for a in sys.argv[2:]:
        name, spec = a.split("=", 1)
        port, _, pids = spec.partition(":")
        paths.append((name, int(port), [int(p) for p in pids.split(",") if p]))
    measure(paths)
