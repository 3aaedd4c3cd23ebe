#!/usr/bin/env python3
"""bench/wan_delay.py (run through bench/wan.sh): the latency a
cross-datacenter query adds over a WAN link with an injected delay, against
the delay itself.

Two datacenters of one server each in network namespaces
(tests/tools/wannet.py): dc2's server sits behind tests/tools/delaylink.py,
a userspace relay holding every frame DELAY/2 ms each way, so a round trip
between the two servers takes DELAY ms more (there is no `tc netem` here).
For each DELAY (DELAYS, ms; 0 = the relay with no delay, its own cost):

  - link:  TCP handshakes from the bridge to dc2's server (one round trip
           over the slow link), p50/p99: the delay as the relay delivers it;
  - local: GET /v1/kv/k at dc1 (dc1's own key), sequential, keep-alive;
  - cross: GET /v1/kv/k?dc=dc2 at dc1 (forwarded over the slow link);
  - added: cross - local, and added - link (what cairn adds on top of the
           injected round trip).

N requests of each kind in alternating blocks of 20. Needs root, ip and nft.
  CAIRN_BIN=build/release/cairn DELAYS="0 10 40" DELAY_N=300 bench/wan.sh
  (or alone: CAIRN_BIN=... DELAYS="0 10 40" N=300 /usr/bin/python3 bench/wan_delay.py)
"""
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "tools"))
import wannet  # noqa: E402

BIN = os.path.abspath(os.environ.get("CAIRN_BIN", "build/release/cairn"))
DELAYS = [float(x) for x in os.environ.get("DELAYS", "0 10 40").split()]
N = int(os.environ.get("N", "300"))
BLOCK = 20
WAN = ('gossip_wan {\n  probe_interval = "500ms"\n  probe_timeout = "400ms"\n'
       '  gossip_interval = "100ms"\n}\n')


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, max(0, int(round(len(v) * p / 100.0 + 0.5)) - 1))]


def wait(pred, what, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        try:
            if pred():
                return
        except (OSError, http.client.HTTPException, ValueError):
            pass
        if time.monotonic() > deadline:
            sys.exit("timed out waiting for " + what)
        time.sleep(0.05)


def req(conn, method, path, body=None):
    try:
        conn.request(method, path, body=body)
        r = conn.getresponse()
        return r.status, r.read()
    except (OSError, http.client.HTTPException):
        conn.close()  # the next request connects afresh
        raise


def one(delay, root):
    net = wannet.WanNet(2, delays={1: delay / 2.0} if delay >= 0 else {})
    procs = []
    try:
        net.create()
        conf = os.path.join(root, "wan.hcl")
        with open(conf, "w") as f:
            f.write(WAN)
        for i in range(2):
            argv = ["ip", "netns", "exec", net.ns(i), BIN, "agent", "-server", "-bootstrap",
                    "-data-dir=%s/d%d-%g" % (root, i, delay), "-node=s%d" % i,
                    "-datacenter=dc%d" % (i + 1), "-bind=" + net.ip(i), "-client=" + net.ip(i),
                    "-http-port=%d" % net.HTTP_PORT, "-server-port=%d" % net.SERVER_PORT,
                    "-dns-port=-1", "-config-file=" + conf, "-log-level=warn"]
            if i:
                argv.append("-retry-join-wan=%s:8302" % net.ip(0))
            procs.append(subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                          stdout=subprocess.DEVNULL,
                                          stderr=open("%s/s%d-%g.log" % (root, i, delay), "w")))
        conns = [http.client.HTTPConnection(net.ip(i), net.HTTP_PORT, timeout=60)
                 for i in range(2)]
        for i in range(2):
            wait(lambda: json.loads(req(conns[i], "GET", "/v1/status/leader")[1]) != "",
                 "the leader of dc%d" % (i + 1))
        c1, c2 = conns
        wait(lambda: sorted(json.loads(req(c1, "GET", "/v1/catalog/datacenters")[1]))
             == ["dc1", "dc2"], "the WAN pool")
        assert req(c1, "PUT", "/v1/kv/k", b"local")[0] == 200
        assert req(c2, "PUT", "/v1/kv/k", b"remote")[0] == 200
        wait(lambda: req(c1, "GET", "/v1/kv/k?dc=dc2")[0] == 200, "forwarding to dc2")
        for _ in range(20):  # warm the route
            req(c1, "GET", "/v1/kv/k?dc=dc2")
        link, local, cross = [], [], []
        while len(cross) < N:
            for _ in range(BLOCK):
                t = time.perf_counter()
                socket.create_connection((net.ip(1), net.HTTP_PORT), timeout=10).close()
                link.append((time.perf_counter() - t) * 1e3)
            for path, out in (("/v1/kv/k", local), ("/v1/kv/k?dc=dc2", cross)):
                for _ in range(BLOCK):
                    t = time.perf_counter()
                    st, b = req(c1, "GET", path)
                    out.append((time.perf_counter() - t) * 1e3)
                    if st != 200:
                        sys.exit("GET %s: %d %s" % (path, st, b[:200]))
        return link, local, cross
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        net.destroy()


def main():
    if os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("nft"):
        print("wan_delay: skipped (network namespaces need root, ip and nft)")
        return
    root = tempfile.mkdtemp(prefix="wandelay-")
    try:
        print("cross-datacenter GET /v1/kv/k?dc=dc2 over a link with injected round-trip "
              "delay D (n=%d each, sequential, keep-alive; ms):" % N)
        print("  %6s | %15s | %15s | %15s | %15s | %15s" % (
            "D", "link p50/p99", "local p50/p99", "cross p50/p99", "added p50/p99",
            "added-link p50"))
        for d in DELAYS:
            link, local, cross = one(d, root)
            a50, a99 = pct(cross, 50) - pct(local, 50), pct(cross, 99) - pct(local, 99)
            print("  %6g | %7.2f %7.2f | %7.2f %7.2f | %7.2f %7.2f | %7.2f %7.2f | %7.2f" % (
                d, pct(link, 50), pct(link, 99), pct(local, 50), pct(local, 99),
                pct(cross, 50), pct(cross, 99), a50, a99, a50 - pct(link, 50)))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
