#!/usr/bin/python3
"""bench/client_agents.py: client agents at scale (issue 10).

Starts 3 servers (-bootstrap-expect=3) and N client agents (no -server) on
loopback, each client registering one service with a TTL check. Measures:

  * client RSS: each client agent's VmRSS from /proc once all are synced
    (median, max), against a server's;
  * read latency: GET /v1/health/service/NAME and GET /v1/kv/KEY, sequential
    on one keep-alive connection, R requests each, through a client agent
    (forwarded to its server over the RPC transport) and direct to a server,
    interleaved in rounds so the shared machine's noise hits both alike:
    p50, p90, p99 in microseconds;
  * the time until every client's service is in the catalog after start.

Numbers only (docs/benchmarks.md). Release build:

  CAIRN_BIN=build/release/cairn /usr/bin/python3 bench/client_agents.py

Knobs (environment): BENCH_CLIENTS (50), BENCH_READS (2000 per path and
target), BENCH_TMPDIR (build/bench), BENCH_KEEP=1 keeps logs and data.
"""
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import free_port

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CAIRN_BIN = os.environ.get("CAIRN_BIN", os.path.join(ROOT, "build/release/cairn"))
N = int(os.environ.get("BENCH_CLIENTS", "50"))
READS = int(os.environ.get("BENCH_READS", "2000"))
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_kb(pid, key="VmRSS:"):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1])
    return 0


class Proc:
    def __init__(self, root, name, args):
        self.name = name
        self.http = free_port()
        self.data = os.path.join(root, "data-" + name)
        self.log = open(os.path.join(root, name + ".log"), "wb")
        argv = [CAIRN_BIN, "agent", "-data-dir=" + self.data, "-node=" + name,
                "-client=127.0.0.1", "-bind=127.0.0.1", "-http-port=%d" % self.http,
                "-dns-port=-1", "-log-level=warn"] + args
        self.p = subprocess.Popen(argv, stdout=self.log, stderr=self.log,
                                  stdin=subprocess.DEVNULL)

    def conn(self):
        return http.client.HTTPConnection("127.0.0.1", self.http, timeout=30)

    def get(self, path):
        c = self.conn()
        try:
            c.request("GET", path)
            r = c.getresponse()
            return r.status, r.read()
        finally:
            c.close()

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(20)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


def wait(pred, timeout, what):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            if pred():
                return time.monotonic() - t0
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit("timed out waiting for " + what)


def lat(conn, path, n):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        conn.request("GET", path)
        r = conn.getresponse()
        r.read()
        out.append((time.perf_counter() - t) * 1e6)
        if r.status != 200:
            sys.exit("GET %s: %d" % (path, r.status))
    return out


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p / 100))]


def main():
    base = os.environ.get("BENCH_TMPDIR", os.path.join(ROOT, "build/bench"))
    os.makedirs(base, exist_ok=True)
    root = tempfile.mkdtemp(prefix="clients-", dir=base)
    procs = []
    try:
        rpc = [free_port() for _ in range(3)]
        servers = []
        for i in range(3):
            args = ["-server", "-bootstrap-expect=3", "-server-port=%d" % rpc[i], "-serf-wan-port=-1"]
            args += ["-retry-join=127.0.0.1:%d" % p for p in rpc if p != rpc[i]]
            servers.append(Proc(root, "s%d" % (i + 1), args))
        procs += servers
        wait(lambda: all(json.loads(s.get("/v1/status/leader")[1] or b'""') for s in servers),
             60, "a leader")
        join = ["-retry-join=127.0.0.1:%d" % p for p in rpc]
        t0 = time.monotonic()
        clients = [Proc(root, "c%03d" % i, join) for i in range(N)]
        procs += clients
        for c in clients:
            wait(lambda: c.get("/v1/agent/self")[0] == 200, 60, c.name + " up")
        for i, c in enumerate(clients):
            body = json.dumps({"Name": "svc%03d" % i, "Port": 1000 + i,
                               "Check": {"TTL": "600s", "Status": "passing"}})
            cc = c.conn()
            cc.request("PUT", "/v1/agent/service/register", body)
            assert cc.getresponse().status == 200
            cc.close()

        def all_in():
            st, b = servers[0].get("/v1/catalog/services")
            return st == 200 and sum(k.startswith("svc") for k in json.loads(b)) == N
        wait(all_in, 120, "every client's service in the catalog")
        synced = time.monotonic() - t0
        crss = [rss_kb(c.p.pid) for c in clients]
        srss = [rss_kb(s.p.pid) for s in servers]
        canon = [rss_kb(c.p.pid, "RssAnon:") for c in clients]
        sanon = [rss_kb(s.p.pid, "RssAnon:") for s in servers]
        cc = servers[0].conn()
        cc.request("PUT", "/v1/kv/bench/key", b"x" * 64)
        cc.getresponse().read()
        cc.close()
        print("cairn client agents: 3 servers + %d clients on loopback (%s)" % (N, CAIRN_BIN))
        print("  start of %d clients to all %d services in the catalog: %.1f s"
              % (N, N, synced))
        print("  client RSS: median %d KiB, max %d KiB (servers: median %d KiB)"
              % (statistics.median(crss), max(crss), statistics.median(srss)))
        print("  of which private (RssAnon): clients median %d KiB, max %d KiB; servers median "
              "%d KiB (the rest is shared library and binary pages)"
              % (statistics.median(canon), max(canon), statistics.median(sanon)))
        leader = json.loads(servers[0].get("/v1/status/leader")[1])
        lead = next(s for i, s in enumerate(servers) if leader.endswith(":%d" % rpc[i]))
        follower = next(s for s in servers if s is not lead)
        via = clients[0]
        print("  (each line: R=%d reads per target in 10 interleaved rounds, one keep-alive "
              "connection; us)" % READS)
        for path in ["/v1/health/service/svc001", "/v1/kv/bench/key",
                     "/v1/health/service/svc001?stale", "/v1/kv/bench/key?stale"]:
            targets = [("via client", via), ("leader", lead), ("follower", follower)]
            conns = [t.conn() for _, t in targets]
            for c in conns:
                lat(c, path, 50)  # warm up
            res = [[] for _ in targets]
            for _ in range(10):  # interleaved rounds
                for i, c in enumerate(conns):
                    res[i] += lat(c, path, READS // 10)
            for c in conns:
                c.close()
            print("  GET %s" % path)
            for (name, _), v in zip(targets, res):
                print("    %-10s p50 %5.0f  p90 %5.0f  p99 %5.0f" % (name, pct(v, 50), pct(v, 90),
                                                                   pct(v, 99)))
    finally:
        for p in reversed(procs):
            p.stop()
        if os.environ.get("BENCH_KEEP"):
            print("kept", root)
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
