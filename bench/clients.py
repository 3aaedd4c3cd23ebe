#!/usr/bin/python3
"""bench/clients.py: 3 servers and N client agents, real processes on
loopback, joined as Consul's are (servers -retry-join each other's gossip
ports with -bootstrap-expect=3; each client -retry-join one server's gossip
port and finds the servers in the pool). memberlist's LAN defaults.

Measures, in one run:
  * RSS per client agent (VmRSS and its private part RssAnon) against a
    server's, once all N clients' services are in the catalog;
  * RUNS times: kill -9 of a client -> its node's serfHealth critical in the
    leader's catalog and its service gone from ?passing; then a restart with
    the same data dir and node name -> passing again;
  * RUNS times: SIGSTOP of a client for 10 s -> critical; SIGCONT -> passing
    again, the same process (no restart);
  * DNS: one client and one server answer DNS; the same lookup through each
    (UDP, sequential), p50/p99 in microseconds, as the ratio client/server.

  CAIRN_BIN=build/release/cairn RUNS=5 BENCH_CLIENTS=50 /usr/bin/python3 bench/clients.py

Knobs: BENCH_CLIENTS (50), RUNS (5), DNS_QUERIES (2000), BENCH_TMPDIR
(build/bench), BENCH_KEEP=1 keeps logs and data.
"""
import json
import os
import random
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

from benchlib import free_port_tcp_udp

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BIN = os.environ.get("CAIRN_BIN", os.path.join(ROOT, "build/release/cairn"))
N = int(os.environ.get("BENCH_CLIENTS", "50"))
RUNS = int(os.environ.get("RUNS", "5"))
DNSQ = int(os.environ.get("DNS_QUERIES", "2000"))
USED = set()


def free_port():
    return free_port_tcp_udp(USED)


def get(port, path, timeout=5):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=timeout) as r:
        return json.loads(r.read() or b"null")


def put(port, path, body):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path),
                                 data=json.dumps(body).encode(), method="PUT")
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status


def rss_kb(pid, key="VmRSS:"):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1])
    return 0


def wait(pred, timeout=120, interval=0.02, what="condition"):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            if pred():
                return time.monotonic() - t0
        except Exception:
            pass
        time.sleep(interval)
    raise SystemExit("timed out waiting for " + what)


class Agent:
    def __init__(self, root, name, server, join, dns=False):
        self.name, self.server, self.join = name, server, join
        self.http, self.serf = free_port(), free_port()
        self.rpc = free_port() if server else None
        self.dns = free_port() if dns else -1
        self.dir = os.path.join(root, "data-" + name)
        self.logf = os.path.join(root, name + ".log")
        self.p = None

    def start(self):
        argv = [BIN, "agent", "-data-dir=" + self.dir, "-node=" + self.name,
                "-bind=127.0.0.1", "-client=127.0.0.1", "-http-port=%d" % self.http,
                "-dns-port=%d" % self.dns, "-serf-lan-port=%d" % self.serf, "-log-level=warn"]
        if self.server:
            argv += ["-server", "-bootstrap-expect=3", "-server-port=%d" % self.rpc]
        argv += ["-retry-join=127.0.0.1:%d" % p for p in self.join]
        self.p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                                  stderr=open(self.logf, "a"))

    def stop(self):
        if self.p and self.p.poll() is None:
            self.p.send_signal(signal.SIGCONT)
            self.p.terminate()
            try:
                self.p.wait(15)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


def serf(port, node):
    for c in get(port, "/v1/health/node/%s?stale" % node):
        if c["CheckID"] == "serfHealth":
            return c["Status"]
    return None


def passing_nodes(port, svc):
    return {e["Node"]["Node"] for e in get(port, "/v1/health/service/%s?passing&stale" % svc)}


def dns_query(name, qid):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\x00" + struct.pack(">HH", 1, 1)


def dns_lat(port, name, n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(5)
    out = []
    for i in range(n):
        q = dns_query(name, i & 0xFFFF)
        t = time.perf_counter()
        s.sendto(q, ("127.0.0.1", port))
        r = s.recv(4096)
        out.append((time.perf_counter() - t) * 1e6)
        if r[:2] != q[:2] or (r[3] & 0x0F) != 0 or struct.unpack(">H", r[6:8])[0] == 0:
            raise SystemExit("DNS %s on %d: rcode %d" % (name, port, r[3] & 0x0F))
    s.close()
    return out


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round((len(v) - 1) * p / 100)))]


def fig(name, v):
    print("  %-44s p50 %5.2f s  p99 %5.2f s  max %5.2f s  (%d runs)"
          % (name, statistics.median(v), pct(v, 99), max(v), len(v)))


def main():
    base = os.environ.get("BENCH_TMPDIR", os.path.join(ROOT, "build/bench"))
    os.makedirs(base, exist_ok=True)
    root = tempfile.mkdtemp(prefix="clients-", dir=base)
    agents = []
    try:
        servers = [Agent(root, "s%d" % i, True, [], dns=(i == 0)) for i in range(3)]
        for s in servers:
            s.join = [o.serf for o in servers if o is not s]
        agents += servers
        for s in servers:
            s.start()

        def leader():
            a = get(servers[0].http, "/v1/status/leader")
            return next((s for s in servers if a == "127.0.0.1:%d" % s.rpc), None)
        wait(lambda: leader() is not None, what="a leader")
        clients = [Agent(root, "c%03d" % i, False, [servers[i % 3].serf], dns=(i == 0))
                   for i in range(N)]
        agents += clients
        t0 = time.monotonic()
        for c in clients:
            c.start()
        for i, c in enumerate(clients):
            wait(lambda: put(c.http, "/v1/agent/service/register",
                             {"Name": "svc%03d" % i, "Port": 1000 + i}) == 200,
                 what=c.name + " registering")
        ldr = leader()
        wait(lambda: all(serf(ldr.http, c.name) == "passing" for c in clients), interval=0.2,
             what="every client's serfHealth passing")
        up = time.monotonic() - t0
        time.sleep(2)  # settle before measuring memory
        crss = [rss_kb(c.p.pid) for c in clients]
        canon = [rss_kb(c.p.pid, "RssAnon:") for c in clients]
        srss = [rss_kb(s.p.pid) for s in servers]
        sanon = [rss_kb(s.p.pid, "RssAnon:") for s in servers]
        print("cairn: 3 servers + %d client agents on loopback, gossip joins, memberlist LAN "
              "defaults (%s)" % (N, BIN))
        print("  %d clients started to all serfHealth passing: %.1f s" % (N, up))
        print("  RSS per client agent: median %d KiB (max %d), private RssAnon median %d KiB; "
              "server: median %d KiB, private %d KiB"
              % (statistics.median(crss), max(crss), statistics.median(canon),
                 statistics.median(srss), statistics.median(sanon)))
        # DNS through a client against a server's, interleaved.
        cdns, sdns = clients[0].dns, servers[0].dns
        for port in (cdns, sdns):
            dns_lat(port, "svc001.service.consul", 50)
        rc, rs = [], []
        for _ in range(10):
            rc += dns_lat(cdns, "svc001.service.consul", DNSQ // 10)
            rs += dns_lat(sdns, "svc001.service.consul", DNSQ // 10)
        print("  DNS svc001.service.consul A, UDP, %d sequential queries each (us): client "
              "p50 %.0f p99 %.0f; server p50 %.0f p99 %.0f; client/server p50 %.2f"
              % (len(rc), pct(rc, 50), pct(rc, 99), pct(rs, 50), pct(rs, 99),
                 pct(rc, 50) / pct(rs, 50)))
        rng = random.Random(7)
        victims = rng.sample(clients[1:], min(RUNS, N - 1))
        kill_crit, kill_drop, kill_back = [], [], []
        for v in victims:
            ldr = leader()
            svc = "svc%03d" % clients.index(v)
            t0 = time.monotonic()
            v.p.send_signal(signal.SIGKILL)
            v.p.wait()
            wait(lambda: serf(ldr.http, v.name) == "critical", what=v.name + " critical")
            kill_crit.append(time.monotonic() - t0)
            wait(lambda: v.name not in passing_nodes(ldr.http, svc), what=svc + " not passing")
            kill_drop.append(time.monotonic() - t0)
            t1 = time.monotonic()
            v.start()
            wait(lambda: serf(ldr.http, v.name) == "passing" and
                 v.name in passing_nodes(ldr.http, svc), what=v.name + " passing again")
            kill_back.append(time.monotonic() - t1)
        stop_crit, stop_back = [], []
        victims = rng.sample(clients[1:], min(RUNS, N - 1))
        for v in victims:
            ldr = leader()
            pid = v.p.pid
            t0 = time.monotonic()
            v.p.send_signal(signal.SIGSTOP)
            wait(lambda: serf(ldr.http, v.name) == "critical", what=v.name + " critical")
            stop_crit.append(time.monotonic() - t0)
            time.sleep(max(0, 10 - (time.monotonic() - t0)))
            v.p.send_signal(signal.SIGCONT)
            t1 = time.monotonic()
            wait(lambda: serf(ldr.http, v.name) == "passing", what=v.name + " alive again")
            stop_back.append(time.monotonic() - t1)
            assert v.p.poll() is None and v.p.pid == pid, "the stopped client was restarted"
        fig("kill -9 client -> serfHealth critical", kill_crit)
        fig("kill -9 client -> its service out of ?passing", kill_drop)
        fig("restart (same data dir, node) -> passing", kill_back)
        fig("SIGSTOP client -> serfHealth critical", stop_crit)
        fig("SIGCONT after 10 s -> passing (same process)", stop_back)
        print("  load average at the end: %.1f" % os.getloadavg()[0])
    finally:
        for a in reversed(agents):
            a.stop()
        if os.environ.get("BENCH_KEEP"):
            print("kept", root)
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
