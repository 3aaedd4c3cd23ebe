#!/usr/bin/python3
"""Durable-put latency at one client on a three-server cluster.

  put_latency.py --bin build/release/cairn [--base-bin OLD] [--n 3000] [--rounds 2]

For each binary (alternating within each round, a fresh cluster each run):
start three servers on 127.0.0.1 (fsync on, data under BENCH_TMPDIR or
build/bench), wait for a leader, then send N sequential PUT /v1/kv/lat/<i>
(32-byte keys, 256-byte values) over one keep-alive connection to the
leader, after 200 unmeasured warm-up puts. Prints one LATENCY line per run:
p50/p90/p99/p999/max in ms and the count of puts over 2 ms.

The peers, in the same run, say where a tail comes from:
  STALEGET  N sequential GET ?stale of one key on the leader's same
            connection: no disk, no peer (the loop and the machine's
            scheduling: its p99 is the floor of any request's).
  FSYNC     N appends of 300 bytes + fdatasync to a file next to the
            servers' data (what one durable write costs the disk, alone).
With --trace, `perf trace -a -T -e fdatasync,fsync` (kernel tracepoints:
no stop of the traced threads, unlike strace) records every sync of the
machine during the puts, and two more lines per run say whether the slow
puts are the disk's:
  SYNCS     per server (leader first): count and p50/p99/max of its syncs
  SLOWPUTS  the puts over 2 ms, by what the servers' syncs overlapping each
            did: "all3" (a sync over 1 ms on every server), "leader_only"
            (the answer waits for the leader's own sync: only counting a
            commit by the followers' acks and applying it before that sync
            could help these), "leader_and_one" (the leader's and one
            follower's: a quorum of slow syncs), "followers" (both
            followers', not the leader's), "one_follower" (the other one
            acks in time), "none" (no slow sync: scheduling, timers, the
            network)
perf's clock is matched to time.monotonic() by marker syncs of this script
after the puts (offset error: tens of microseconds).
Bounded: N requests, every wait has a timeout. Prints numbers; never passes
or fails."""

import argparse
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def get(port, path, timeout=2):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def start_cluster(binary, root, extra):
    http_ports = [free_port() for _ in range(3)]
    rpc_ports = [free_port() for _ in range(3)]
    procs = []
    for i in range(3):
        joins = ["-retry-join=127.0.0.1:%d" % rpc_ports[j] for j in range(3) if j != i]
        log = open(os.path.join(root, "c%d.log" % i), "w")
        procs.append(subprocess.Popen(
            [binary, "agent", "-server", "-bootstrap-expect=3",
             "-data-dir=" + os.path.join(root, "c%d" % i), "-node=c%d" % i,
             "-client=127.0.0.1", "-bind=127.0.0.1", "-http-port=%d" % http_ports[i],
             "-dns-port=-1", "-serf-lan-port=-1", "-server-port=%d" % rpc_ports[i],
             "-log-level=warn"] + joins + extra,
            stdout=subprocess.DEVNULL, stderr=log))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            stop(procs)  # a port taken meanwhile by someone else: try others
            return None, None
        leaders = set()
        try:
            for p in http_ports:
                st, body = get(p, "/v1/status/leader")
                leaders.add(json.loads(body) if st == 200 else "")
        except OSError:
            leaders = {""}
        if len(leaders) == 1 and "" not in leaders:
            lead = leaders.pop()
            for i in range(3):
                if lead == "127.0.0.1:%d" % rpc_ports[i]:
                    return procs, http_ports[i]
        time.sleep(0.1)
    stop(procs)
    raise SystemExit("no leader within 60 s (logs in %s)" % root)


def stop(procs):
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def measure(port, n, warm=200, spans=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    value = b"v" * 256
    lat = []
    for i in range(warm + n):
        key = "lat/%029d" % i  # 32 bytes
        t0 = time.perf_counter()
        c.request("PUT", "/v1/kv/" + key, body=value)
        r = c.getresponse()
        r.read()
        t1 = time.perf_counter()
        if r.status != 200:
            raise SystemExit("PUT -> %d" % r.status)
        if i >= warm:
            lat.append((t1 - t0) * 1000.0)
            if spans is not None:
                now = time.monotonic()
                spans.append((now - (t1 - t0), now))
    c.close()
    return lat


def start_trace(procs, root):
    """perf trace of every fdatasync/fsync on the machine; returns the perf
    process and its output file."""
    out = os.path.join(root, "syncs.trace")
    tr = subprocess.Popen(
        ["perf", "trace", "-a", "-T", "-e", "fdatasync,fsync", "-o", out],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not os.path.exists(out):
        time.sleep(0.05)
    time.sleep(1.0)  # perf sets up its tracepoints after creating the file
    return [tr], out


def markers(root, k=5):
    """Syncs of this process at known time.monotonic() instants."""
    path = os.path.join(root, "marker.probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    at = []
    try:
        for _ in range(k):
            t = time.monotonic()
            os.fdatasync(fd)
            at.append(t)
            time.sleep(0.01)
    finally:
        os.close(fd)
        os.unlink(path)
    return at


def stop_trace(tr):
    for t in tr:
        t.send_signal(2)  # SIGINT: perf flushes and exits
    for t in tr:
        try:
            t.wait(10)
        except subprocess.TimeoutExpired:
            t.kill()
            t.wait()


def parse_trace(path, tid_server, my_pid, mark_at):
    """Per server index, (start, end) of every sync in time.monotonic()
    seconds. perf trace -T lines: "TS ( DUR ms): comm/TID fdatasync(...)"
    (TS in ms of perf's clock, at entry; a call interrupted by another
    event's line comes back as "TS ( DUR ms): comm/TID ... [continued]:
    fsync()) = 0" with the same entry TS)."""
    rows = []
    try:
        f = open(path)
    except OSError:
        return None
    with f:
        for ln in f:
            m = re.match(r"\s*([\d.]+) \(\s*([\d.]+) ms\): (.*?)/(\d+) ", ln)
            if not m or ("fdatasync" not in ln and "fsync" not in ln):
                continue
            ts, dur, tid = float(m.group(1)) / 1000.0, float(m.group(2)) / 1000.0, int(m.group(4))
            if dur < 60.0:  # perf prints an unmatched entry as 2^64 ns
                rows.append((tid, ts, dur))
    mine = sorted(st for tid, st, _ in rows if tid == my_pid)
    if not mine or not mark_at:
        return None
    # the last len(mark_at) syncs of this process are the markers
    mine = mine[-len(mark_at):]
    offs = sorted(a - b for a, b in zip(mine, mark_at))
    off = offs[len(offs) // 2]
    out = [[] for _ in range(3)]
    for tid, st, dur in rows:
        i = tid_server.get(tid)
        if i is not None:
            out[i].append((st - off, st - off + dur))
    return out


def server_tids(procs):
    m = {}
    for i, p in enumerate(procs):
        try:
            for t in os.listdir("/proc/%d/task" % p.pid):
                m[int(t)] = i
        except OSError:
            pass
    return m


def overlap_max(syncs, a, b):
    m = 0.0
    for s, e in syncs:
        if s < b and e > a:
            m = max(m, e - s)
    return m


def trace_lines(rnd, name, lat, spans, syncs_by_server, leader_idx):
    order = [leader_idx] + [i for i in range(3) if i != leader_idx]
    out = []
    for i in order:
        d = sorted((e - s) * 1000.0 for s, e in syncs_by_server[i])
        if not d:
            out.append("SYNCS round %d %-4s c%d %s n 0" % (
                rnd, name, i, "leader" if i == leader_idx else "follower"))
            continue
        out.append("SYNCS round %d %-4s c%d %-8s n %d p50 %.3f p99 %.3f max %.3f over1ms %d" % (
            rnd, name, i, "leader" if i == leader_idx else "follower", len(d), pct(d, 0.5),
            pct(d, 0.99), d[-1], sum(1 for x in d if x > 1.0)))
    kinds = {"all3": 0, "leader_only": 0, "leader_and_one": 0, "followers": 0,
             "one_follower": 0, "none": 0}
    for ms, (a, b) in zip(lat, spans):
        if ms <= 2.0:
            continue
        slow = [overlap_max(syncs_by_server[i], a, b) > 0.001 for i in order]
        if all(slow):
            kinds["all3"] += 1
        elif slow[0] and (slow[1] or slow[2]):
            kinds["leader_and_one"] += 1
        elif slow[0]:
            kinds["leader_only"] += 1
        elif slow[1] and slow[2]:
            kinds["followers"] += 1
        elif slow[1] or slow[2]:
            kinds["one_follower"] += 1
        else:
            kinds["none"] += 1
    out.append("SLOWPUTS round %d %-4s %s" % (
        rnd, name, " ".join("%s %d" % kv for kv in kinds.items())))
    return out


def measure_get(port, n):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    lat = []
    for _ in range(n):
        t0 = time.perf_counter()
        c.request("GET", "/v1/kv/lat/%029d?stale" % 0)
        r = c.getresponse()
        r.read()
        lat.append((time.perf_counter() - t0) * 1000.0)
    c.close()
    return lat


def measure_fsync(root, n):
    path = os.path.join(root, "fsync.probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    lat = []
    buf = b"x" * 300
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            os.write(fd, buf)
            os.fdatasync(fd)
            lat.append((time.perf_counter() - t0) * 1000.0)
    finally:
        os.close(fd)
        os.unlink(path)
    return lat


def line(tag, rnd, name, lat):
    s = sorted(lat)
    over = sum(1 for x in s if x > 2.0)
    return ("%s round %d %-4s n %d p50 %.3f p90 %.3f p99 %.3f p999 %.3f max %.3f "
            "over2ms %d load %s" % (tag, rnd, name, len(s), pct(s, 0.5), pct(s, 0.9),
                                    pct(s, 0.99), pct(s, 0.999), s[-1], over, loadavg()))


def pct(s, q):
    return s[min(len(s) - 1, int(q * len(s)))]


def loadavg():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--base-bin")
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--arg", action="append", default=[], help="extra agent flag")
    ap.add_argument("--trace", action="store_true",
                    help="strace the servers' syncs and attribute the slow puts")
    args = ap.parse_args()
    if args.trace and not shutil.which("perf"):
        raise SystemExit("--trace needs perf (Debian: linux-perf; scripts/install-deps.sh --bench)")
    tmp_root = os.environ.get("BENCH_TMPDIR") or os.path.join(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "build", "bench")
    os.makedirs(tmp_root, exist_ok=True)
    runs = [("base", args.base_bin)] if args.base_bin else []
    runs.append(("new", args.bin))
    for rnd in range(args.rounds):
        for name, binary in runs:
            root = tempfile.mkdtemp(prefix="putlat.", dir=tmp_root)
            procs = None
            try:
                for _ in range(3):
                    procs, port = start_cluster(binary, root, args.arg)
                    if procs:
                        break
                    shutil.rmtree(root, ignore_errors=True)
                    os.makedirs(root)
                if not procs:
                    raise SystemExit("a server exited at start three times (logs in %s)" % root)
                tr, spans, extra_lines, mark_at = [], None, [], []
                if args.trace:
                    tids = server_tids(procs)
                    tr, tfile = start_trace(procs, root)
                    spans = []
                try:
                    lat = measure(port, args.n, spans=spans)
                    if args.trace:
                        mark_at = markers(root)
                finally:
                    stop_trace(tr)
                if args.trace:
                    leader_idx = next(i for i in range(3) if procs[i].args and
                                      ("-http-port=%d" % port) in procs[i].args)
                    syncs = parse_trace(tfile, tids, os.getpid(), mark_at)
                    if syncs is None:
                        extra_lines = ["TRACE round %d %-4s no usable perf trace" % (rnd + 1, name)]
                    else:
                        extra_lines = trace_lines(rnd + 1, name, lat, spans, syncs, leader_idx)
                glat = measure_get(port, args.n)
            finally:
                stop(procs or [])
            print(line("LATENCY", rnd + 1, name, lat))
            for ln in extra_lines:
                print(ln)
            print(line("STALEGET", rnd + 1, name, glat))
            print(line("FSYNC", rnd + 1, name, measure_fsync(root, args.n)))
            if not os.environ.get("BENCH_KEEP"):
                shutil.rmtree(root, ignore_errors=True)
            sys.stdout.flush()


if __name__ == "__main__":
    main()
