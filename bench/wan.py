#!/usr/bin/env python3
"""bench/wan.py (run through bench/wan.sh): WAN federation figures on loopback.

Three datacenters of one server each (dc1, dc2, dc3), one WAN pool with the
timings given by WAN_PROBE (the gossip_wan probe interval in ms, tests use
200ms; "default": memberlist's WAN profile, probe 5s, suspicion_mult 6).

1. Latency added by a cross-datacenter read: N sequential GET
   /v1/kv/k?dc=dc2 sent to dc1 (forwarded over the WAN route) against the
   same GET sent to dc2 directly, in the same run, alternating blocks of 100.
   Prints p50/p99 of each and the ratio.
2. Time from a datacenter going dark (SIGSTOP of dc2's server) to the first
   500 "No path to datacenter" answer for ?dc=dc2 (RUNS times), and
3. to the first prepared-query answer from dc3 (query with
   Failover.Datacenters [dc2, dc3], dc1's instance critical), polling every
   20 ms.

  CAIRN_BIN=build/release/cairn N=2000 RUNS=5 bench/wan.sh
"""
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import http.client

from benchlib import free_port_tcp_udp

BIN = os.environ.get("CAIRN_BIN", "build/release/cairn")
N = int(os.environ.get("N", "2000"))
RUNS = int(os.environ.get("RUNS", "5"))
WAN_PROBE = os.environ.get("WAN_PROBE", "200ms")  # or "default"


def free_port(used):
    return free_port_tcp_udp(used)


class Conn:
    def __init__(self, port):
        self.port = port
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def req(self, method, path, body=None):
        try:
            self.c.request(method, path, body=body)
            r = self.c.getresponse()
            return r.status, r.read()
        except (OSError, http.client.HTTPException):
            self.c.close()
            self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            raise


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p / 100))]


def main():
    root = tempfile.mkdtemp(prefix="wanbench-")
    used = set()
    procs, http = [], []
    conf = os.path.join(root, "wan.hcl")
    with open(conf, "w") as f:
        # WAN_PROBE=default: memberlist's WAN profile as is (probe 5s, timeout 3s,
        # suspicion_mult 6); else a probe interval in ms with half of it as timeout.
        if WAN_PROBE != "default":
            ms = int(WAN_PROBE.rstrip("ms"))
            f.write('gossip_wan {\n probe_interval = "%dms"\n probe_timeout = "%dms"\n'
                    ' gossip_interval = "50ms"\n suspicion_mult = 2\n}\n'
                    % (ms, max(1, ms // 2)))
    wan_ports = []
    try:
        for i in range(3):
            hp, sp, lp, wp = (free_port(used) for _ in range(4))
            wan_ports.append(wp)
            argv = [BIN, "agent", "-server", "-bootstrap", "-data-dir=%s/d%d" % (root, i),
                    "-node=s%d" % i, "-datacenter=dc%d" % (i + 1), "-client=127.0.0.1",
                    "-bind=127.0.0.1", "-http-port=%d" % hp, "-server-port=%d" % sp,
                    "-serf-lan-port=%d" % lp, "-serf-wan-port=%d" % wp, "-dns-port=-1",
                    "-config-file=" + conf, "-log-level=warn"]
            if i:
                argv.append("-join-wan=127.0.0.1:%d" % wan_ports[0])
            procs.append(subprocess.Popen(argv, stderr=open("%s/s%d.log" % (root, i), "w")))
            http.append(Conn(hp))
            deadline = time.monotonic() + 30
            while True:
                try:
                    st, b = http[i].req("GET", "/v1/status/leader")
                    if st == 200 and json.loads(b):
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    sys.exit("server %d did not start" % i)
                time.sleep(0.05)
        deadline = time.monotonic() + 30
        while True:
            st, b = http[0].req("GET", "/v1/catalog/datacenters")
            if json.loads(b) == ["dc1", "dc2", "dc3"]:
                break
            if time.monotonic() > deadline:
                sys.exit("WAN pool did not form")
            time.sleep(0.05)
        c1, c2, c3 = http
        c2.req("PUT", "/v1/kv/k", b"v")
        # warm up the route
        for _ in range(50):
            c1.req("GET", "/v1/kv/k?dc=dc2")
        fwd, direct = [], []
        for blk in range(N // 100):
            for conn, path, out in ((c1, "/v1/kv/k?dc=dc2", fwd), (c2, "/v1/kv/k", direct)):
                for _ in range(100):
                    t = time.perf_counter()
                    st, _ = conn.req("GET", path)
                    out.append((time.perf_counter() - t) * 1e3)
                    assert st == 200, st
        print("cross-datacenter GET /v1/kv/k (n=%d each, sequential, keep-alive):" % len(fwd))
        print("  direct to dc2   p50 %.3f ms  p99 %.3f ms" % (pct(direct, 50), pct(direct, 99)))
        print("  dc1 ?dc=dc2     p50 %.3f ms  p99 %.3f ms" % (pct(fwd, 50), pct(fwd, 99)))
        print("  added           p50 %.3f ms  p99 %.3f ms  (ratio p50 %.2fx)" % (
            pct(fwd, 50) - pct(direct, 50), pct(fwd, 99) - pct(direct, 99),
            pct(fwd, 50) / pct(direct, 50)))

        # dark datacenter: first No path, and first failover answer
        for conn, node, status in ((c1, "db1", "critical"), (c2, "db2", "passing"),
                                   (c3, "db3", "passing")):
            conn.req("PUT", "/v1/catalog/register", json.dumps({
                "Node": node, "Address": "10.0.0.1",
                "Service": {"ID": "db", "Service": "db", "Port": 1},
                "Check": {"CheckID": "db", "ServiceID": "db", "Name": "db",
                          "Status": status}}).encode())
        c1.req("POST", "/v1/query", json.dumps({"Name": "db", "Service": {
            "Service": "db", "Failover": {"Datacenters": ["dc2", "dc3"]}}}).encode())
        nopath, failover = [], []
        for run in range(RUNS):
            for kind in ("nopath", "failover"):
                # healthy first: dc2 answers
                deadline = time.monotonic() + 60
                while True:
                    st, b = c1.req("GET", "/v1/query/db/execute")
                    if st == 200 and json.loads(b)["Datacenter"] == "dc2":
                        st2, _ = c1.req("GET", "/v1/kv/k?dc=dc2")
                        if st2 == 200:
                            break
                    if time.monotonic() > deadline:
                        sys.exit("dc2 did not come back")
                    time.sleep(0.05)
                procs[1].send_signal(signal.SIGSTOP)
                t0 = time.monotonic()
                while True:
                    if kind == "nopath":
                        st, b = c1.req("GET", "/v1/kv/k?dc=dc2")
                        done = st == 500 and b == b"No path to datacenter"
                    else:
                        st, b = c1.req("GET", "/v1/query/db/execute")
                        done = st == 200 and json.loads(b)["Datacenter"] == "dc3"
                    if done:
                        break
                    if time.monotonic() - t0 > 60:
                        sys.exit("no %s answer within 60 s" % kind)
                    time.sleep(0.02)
                (nopath if kind == "nopath" else failover).append(time.monotonic() - t0)
                procs[1].send_signal(signal.SIGCONT)
        print("dc2 dark (SIGSTOP), gossip_wan probe_interval %s, %d runs:" % (WAN_PROBE, RUNS))
        print("  first 500 No path to datacenter: p50 %.2f s  max %.2f s" % (
            statistics.median(nopath), max(nopath)))
        print("  first failover answer from dc3:  p50 %.2f s  max %.2f s" % (
            statistics.median(failover), max(failover)))
    finally:
        for p in procs:
            try:
                p.send_signal(signal.SIGCONT)
                p.terminate()
                p.wait(timeout=20)
            except Exception:
                p.kill()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
