"""WAN federation across network namespaces (issue 14): three datacenters of
one server each, every server in a namespace of its own on one bridge
(tests/fault/netns.py), the WAN link between dc1 and dc2 cut and healed with
nftables rules in their namespaces. The test process reaches every server's
HTTP port from the host side of the bridge, so cutting the WAN link never
cuts the test off.

Needs root, ip and nft; skipped otherwise (CI runs as root)."""

import os
import shutil
import subprocess
import sys
import time

import pytest
import requests

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fault"))
import netns  # noqa: E402

from conftest import CAIRN_BIN, wait_until  # noqa: E402

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("nft"),
    reason="network namespaces need root, ip and nft (nftables)")

NO_PATH = "No path to datacenter"
FAST_WAN = ('gossip_wan {\n  probe_interval = "200ms"\n  probe_timeout = "100ms"\n'
            '  gossip_interval = "50ms"\n  suspicion_mult = 2\n}\n')


class Fed:
    """ndc datacenters of one server each; `net` a netns.Net of ndc servers
    (tests/tools/wannet.py for slow links), `wan_conf` the gossip_wan block."""

    def __init__(self, tmp_path, ndc, net=None, wan_conf=FAST_WAN):
        self.net = net or netns.Net(ndc)
        self.wan_conf = wan_conf
        self.dir = str(tmp_path)
        self.procs = []
        self.ndc = ndc

    def dc(self, i):
        return "dc%d" % (i + 1)

    def start(self):
        self.net.create()
        conf = os.path.join(self.dir, "wan.hcl")
        with open(conf, "w") as f:
            f.write(self.wan_conf)
        for i in range(self.ndc):
            ip = self.net.ip(i)
            argv = ["ip", "netns", "exec", self.net.ns(i), CAIRN_BIN, "agent", "-server",
                    "-bootstrap", "-data-dir=%s/data-%d" % (self.dir, i), "-node=s%d" % i,
                    "-datacenter=" + self.dc(i), "-bind=" + ip, "-client=" + ip,
                    "-http-port=%d" % self.net.HTTP_PORT,
                    "-server-port=%d" % self.net.SERVER_PORT, "-dns-port=-1",
                    "-config-file=" + conf, "-log-level=info"]
            if i > 0:
                argv.append("-retry-join-wan=%s:8302" % self.net.ip(0))
            log = open(os.path.join(self.dir, "s%d.log" % i), "ab")
            env = dict(os.environ)
            env.setdefault("ASAN_OPTIONS", "abort_on_error=0")
            # `ip netns exec` execs cairn: the child's pid is the agent's.
            self.procs.append(subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                               stderr=log, env=env))
            log.close()
            wait_until(lambda: self.get(i, "/v1/status/leader").json() != "", timeout=60,
                       what="the server of " + self.dc(i))
        names = {"s%d.%s" % (i, self.dc(i)) for i in range(self.ndc)}
        for i in range(self.ndc):
            wait_until(lambda: self.wan_alive(i) == names, timeout=30,
                       what="s%d to see the whole WAN pool" % i)
        return self

    def url(self, i, path):
        return self.net.http_base(i) + path

    def get(self, i, path, **kw):
        return requests.get(self.url(i, path), timeout=30, **kw)

    def put(self, i, path, **kw):
        return requests.put(self.url(i, path), timeout=30, **kw)

    def wan_alive(self, i):
        r = self.get(i, "/v1/agent/members", params={"wan": "1"})
        return {m["Name"] for m in r.json() if m["Status"] == 1}

    def cut(self, a, b):
        self.net.apply(self.net.cut_rules([(a, b)]))

    def heal(self):
        self.net.heal()

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(15)
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.net.destroy()
        for i in range(self.ndc):
            text = open(os.path.join(self.dir, "s%d.log" % i), errors="replace").read()
            assert "ERROR: AddressSanitizer" not in text and "runtime error:" not in text, text


@pytest.fixture
def fed(tmp_path):
    f = Fed(tmp_path, 3)
    try:
        yield f.start()
    finally:
        f.close()


def _reg(fed, i, node, status):
    r = fed.put(i, "/v1/catalog/register", json={
        "Node": node, "Address": "10.9.0.%d" % (i + 1),
        "Service": {"ID": "api", "Service": "api", "Port": 80},
        "Check": {"CheckID": "api-ok", "ServiceID": "api", "Name": "api", "Status": status}})
    assert r.status_code == 200, r.text


def test_cut_wan_link_fast_no_path_then_heal(fed):
    _reg(fed, 1, "api-dc2", "passing")
    r = fed.get(0, "/v1/catalog/service/api", params={"dc": "dc2"})
    assert r.status_code == 200 and [s["Node"] for s in r.json()] == ["api-dc2"]
    r = fed.put(0, "/v1/kv/cross", params={"dc": "dc2"}, data=b"1")
    assert r.status_code == 200 and r.json() is True
    fed.cut(0, 1)
    t0 = time.monotonic()
    wait_until(lambda: (lambda r: r.status_code == 500 and r.text == NO_PATH)(
        fed.get(0, "/v1/kv/cross", params={"dc": "dc2"})), timeout=30,
        what="500 No path to datacenter over the cut link")
    first = time.monotonic() - t0
    # then at once, not after another timeout
    for _ in range(3):
        t1 = time.monotonic()
        r = fed.get(0, "/v1/kv/cross", params={"dc": "dc2"})
        assert (r.status_code, r.text) == (500, NO_PATH)
        assert time.monotonic() - t1 < 1.0
    # dc3 is unaffected, and still reaches dc2 (only dc1-dc2 is cut)
    assert fed.get(0, "/v1/kv/x", params={"dc": "dc3"}).status_code == 404
    assert fed.get(2, "/v1/kv/cross", params={"dc": "dc2"}).status_code == 200
    assert first < 20, first
    fed.heal()
    wait_until(lambda: fed.get(0, "/v1/kv/cross", params={"dc": "dc2"}).status_code == 200,
               timeout=60, what="forwarding to dc2 after the heal")
    wait_until(lambda: "s1.dc2" in fed.wan_alive(0), timeout=60, what="s1.dc2 alive again")


def test_failover_past_a_cut_datacenter(fed):
    _reg(fed, 0, "api-dc1", "critical")
    _reg(fed, 1, "api-dc2", "passing")
    _reg(fed, 2, "api-dc3", "passing")
    r = requests.post(fed.url(0, "/v1/query"), timeout=30, json={
        "Name": "api", "Service": {"Service": "api",
                                   "Failover": {"Datacenters": ["dc2", "dc3"]}}})
    assert r.status_code == 200, r.text

    def execute():
        j = fed.get(0, "/v1/query/api/execute").json()
        return j["Datacenter"], j["Failovers"], [n["Node"]["Node"] for n in j["Nodes"]]

    assert execute() == ("dc2", 1, ["api-dc2"])
    fed.cut(0, 1)
    t0 = time.monotonic()
    wait_until(lambda: execute()[0] == "dc3", timeout=30, what="failover to dc3")
    took = time.monotonic() - t0
    assert execute() == ("dc3", 2, ["api-dc3"])
    assert took < 20, took
    # dc1 healthy again: answered at home while the link is still cut
    _reg(fed, 0, "api-dc1", "passing")
    assert execute() == ("dc1", 0, ["api-dc1"])
    fed.heal()
    _reg(fed, 0, "api-dc1", "critical")
    wait_until(lambda: execute()[0] == "dc2", timeout=60, what="dc2 answering again")
