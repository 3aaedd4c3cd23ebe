"""WAN federation (issue 14): servers of several datacenters in one WAN gossip
pool (serf_wan), ?dc= forwarded to a server of the named datacenter over the
RPC transport, and what happens when a datacenter goes dark.

Loopback, every agent with ports of its own (conftest's Agent gives servers a
free serf_wan port); the WAN pool runs with fast timings (gossip_wan block) so
a failure is noticed in about a second. The cut-link test with network
namespaces and nftables is test_wan_netns.py."""

import os
import signal
import socket
import threading
import time

import pytest
import requests

from conftest import Agent, CAIRN_BIN, START_TIMEOUT, cairn_cli, index_of, wait_until

FAST_WAN = ('gossip_wan {\n  probe_interval = "200ms"\n  probe_timeout = "100ms"\n'
            '  gossip_interval = "50ms"\n  suspicion_mult = 2\n}\n')
NO_PATH = "No path to datacenter"


def dc_server(agent_factory, tmp_path, name, dc, join=None, extra=()):
    conf = tmp_path / ("wan-%s.hcl" % name)
    conf.write_text(FAST_WAN)
    args = ["-datacenter=%s" % dc, "-config-file=%s" % conf]
    if join is not None:
        args.append("-join-wan=127.0.0.1:%d" % join.serf_wan_port)
    return agent_factory(name=name, extra_args=args + list(extra))


class Dc1Client(Agent):
    """A client agent of dc1 joined to server `server` through gossip; its
    DNS on when dns, else off."""

    def __init__(self, workdir, name, server, dns=True):
        self.server, self.dns = server, dns
        super().__init__(workdir, name=name)

    def argv(self):
        return [CAIRN_BIN, "agent", "-data-dir=" + self.data_dir, "-node=" + self.name,
                "-datacenter=dc1", "-client=127.0.0.1", "-bind=127.0.0.1",
                "-http-port=%d" % self.http_port, "-serf-lan-port=%d" % self.serf_port,
                "-dns-port=%d" % (self.dns_port if self.dns else -1),
                "-retry-join=127.0.0.1:%d" % self.server.serf_port]


def raw(a, key):
    r = a.get("/v1/kv/" + key, params={"raw": "1"})
    assert r.status_code == 200, r.text
    return r.content


def local_first(dcs, local, others):
    """/v1/catalog/datacenters: the local one first, then the others in the
    order of their estimated round trip (on loopback, any order)."""
    return dcs[0] == local and sorted(dcs[1:]) == sorted(others)


def wan_alive(a):
    r = a.get("/v1/agent/members", params={"wan": "1"})
    assert r.status_code == 200, r.text
    return {m["Name"] for m in r.json() if m["Status"] == 1}


def wait_wan(agents, names, timeout=20):
    for a in agents:
        wait_until(lambda: wan_alive(a) == set(names), timeout=timeout,
                   what="%s to see WAN members %s" % (a.name, sorted(names)))


@pytest.fixture
def two_dcs(agent_factory, tmp_path):
    a1 = dc_server(agent_factory, tmp_path, "w1", "dc1")
    a2 = dc_server(agent_factory, tmp_path, "w2", "dc2", join=a1)
    wait_wan([a1, a2], {"w1.dc1", "w2.dc2"})
    return a1, a2


def test_wan_members_tags_and_datacenters(two_dcs):
    a1, a2 = two_dcs
    members = {m["Name"]: m for m in a1.get("/v1/agent/members?wan=1").json()}
    m2 = members["w2.dc2"]
    assert m2["Tags"]["role"] == "consul" and m2["Tags"]["dc"] == "dc2"
    assert m2["Tags"]["port"] == str(a2.server_port)
    assert m2["Port"] == a2.serf_wan_port
    # The LAN pool is unchanged: each server alone in its datacenter.
    assert {m["Name"] for m in a1.get("/v1/agent/members").json()} == {"w1"}
    # local first, then the others (by round trip: one other here)
    assert a1.get("/v1/catalog/datacenters").json() == ["dc1", "dc2"]
    assert a2.get("/v1/catalog/datacenters").json() == ["dc2", "dc1"]
    st = a1.get("/v1/agent/self").json()["Stats"]
    assert st["serf_wan"]["members"] == "2"
    assert st["consul"]["known_datacenters"] == "2"
    # the CLI
    out = cairn_cli("members", "-wan", http_port=a1.http_port)
    assert out.returncode == 0, out.stderr
    assert "w1.dc1" in out.stdout and "w2.dc2" in out.stdout
    out = cairn_cli("catalog", "datacenters", http_port=a2.http_port)
    assert out.stdout.split() == ["dc2", "dc1"]
    # /v1/coordinate/datacenters: every datacenter with its servers' WAN
    # coordinates (the probes' round trips), in the same order.
    def wan_coords():
        r = a1.get("/v1/coordinate/datacenters")
        assert r.status_code == 200, r.text
        return {e["Datacenter"]: [c["Node"] for c in e["Coordinates"]] for e in r.json()}
    wait_until(lambda: wan_coords() == {"dc1": ["w1"], "dc2": ["w2"]}, timeout=20,
               what="WAN coordinates of both datacenters")
    e = a1.get("/v1/coordinate/datacenters").json()
    assert [x["Datacenter"] for x in e] == ["dc1", "dc2"] and e[1]["AreaID"] == "WAN"
    assert len(e[1]["Coordinates"][0]["Coord"]["Vec"]) == 8


def test_dc_forwarding_catalog_health_kv_txn(two_dcs):
    a1, a2 = two_dcs
    r = a2.put_json("/v1/catalog/register", {
        "Node": "ext1", "Address": "10.2.0.1",
        "Service": {"Service": "web", "Port": 80, "Tags": ["v2"]},
        "Check": {"CheckID": "web-ok", "ServiceID": "web", "Name": "ok",
                  "Status": "passing"}})
    assert r.status_code == 200, r.text
    # catalog and health of dc2, read through dc1
    r = a1.get("/v1/catalog/service/web", params={"dc": "dc2"})
    assert r.status_code == 200, r.text
    assert [(s["Node"], s["Datacenter"]) for s in r.json()] == [("ext1", "dc2")]
    assert index_of(r) >= 1 and r.headers["X-Consul-KnownLeader"] == "true"
    assert "X-Consul-LastContact" in r.headers
    assert a1.get("/v1/catalog/service/web").json() == []  # dc1 has none
    r = a1.get("/v1/health/service/web", params={"dc": "dc2", "passing": "1"})
    assert [e["Node"]["Node"] for e in r.json()] == ["ext1"]
    r = a1.get("/v1/catalog/nodes", params={"dc": "dc2"})
    assert {n["Node"] for n in r.json()} == {"w2", "ext1"}
    # the local datacenter named explicitly is answered here
    assert a1.get("/v1/catalog/nodes", params={"dc": "dc1"}).json()[0]["Node"] == "w1"
    # KV written through dc1 into dc2, and consistency modes passed along
    r = a1.put("/v1/kv/fed/k", data=b"remote", params={"dc": "dc2"})
    assert r.status_code == 200 and r.json() is True, r.text
    assert raw(a2, "fed/k") == b"remote"
    assert a1.get("/v1/kv/fed/k").status_code == 404
    for mode, eff in (("stale", "stale"), ("consistent", "consistent")):
        r = a1.get("/v1/kv/fed/k", params={"dc": "dc2", mode: "1", "raw": "1"})
        assert r.status_code == 200 and r.content == b"remote"
        assert r.headers["X-Consul-Effective-Consistency"] == eff
    # txn
    r = a1.put_json("/v1/txn?dc=dc2", [
        {"KV": {"Verb": "set", "Key": "fed/t1", "Value": "YQ=="}},
        {"KV": {"Verb": "get", "Key": "fed/k"}}])
    assert r.status_code == 200, r.text
    assert len(r.json()["Results"]) == 2
    assert raw(a2, "fed/t1") == b"a"
    # a remote error comes back as it was: 400 from dc2's decoder
    r = a1.put("/v1/txn?dc=dc2", data=b"[{")
    assert r.status_code == 400
    # sessions and events in dc2
    r = a1.put_json("/v1/session/create?dc=dc2", {"Name": "s", "Node": "w2"})
    assert r.status_code == 200, r.text
    sid = r.json()["ID"]
    assert [s["ID"] for s in a2.get("/v1/session/list").json()] == [sid]
    assert a1.get("/v1/session/list").json() == []
    r = a1.put("/v1/event/fire/deploy?dc=dc2", data=b"x")
    assert r.status_code == 200, r.text
    assert [e["Name"] for e in a2.get("/v1/event/list").json()] == ["deploy"]
    # prepared queries of dc2, created and executed through dc1
    r = a1.request("POST", "/v1/query?dc=dc2",
                   json={"Name": "webq", "Service": {"Service": "web"}})
    assert r.status_code == 200, r.text
    r = a1.get("/v1/query/webq/execute", params={"dc": "dc2"})
    assert r.status_code == 200, r.text
    assert r.json()["Datacenter"] == "dc2" and len(r.json()["Nodes"]) == 1
    # the CLI's -datacenter
    out = cairn_cli("kv", "get", "-datacenter=dc2", "fed/k", http_port=a1.http_port)
    assert out.returncode == 0 and out.stdout.strip() == "remote", out.stderr
    out = cairn_cli("catalog", "services", "-datacenter=dc2", http_port=a1.http_port)
    assert "web" in out.stdout.split()


def test_new_route_waits_for_its_first_server(agent_factory, tmp_path):
    """A route's first request waits Consul's 7 s hold for a server of that
    datacenter to answer (a dial over a lossy link resends its SYN after 1 s
    and 3 s), not the 2 s of a route whose servers have been up: dc2's server
    stopped for 3 s when dc1 first asks for it still answers the request."""
    a1 = agent_factory(name="r1", extra_args=["-datacenter=dc1"])
    a2 = agent_factory(name="r2", extra_args=[
        "-datacenter=dc2", "-join-wan=127.0.0.1:%d" % a1.serf_wan_port])
    wait_wan([a1, a2], {"r1.dc1", "r2.dc2"})  # memberlist's WAN timing: 3 s is no failure
    a2.kv_put("first", "v")
    got = {}

    def first():
        t0 = time.monotonic()
        got["r"] = a1.get("/v1/kv/first", params={"dc": "dc2", "raw": "1"})
        got["took"] = time.monotonic() - t0

    os.kill(a2.pid, signal.SIGSTOP)
    try:
        t = threading.Thread(target=first)
        t.start()
        t.join(3.0)  # the fault's length, not a wait for state
        assert t.is_alive(), "answered while dc2's server was stopped: %r" % got
    finally:
        os.kill(a2.pid, signal.SIGCONT)
    t.join(30)
    assert not t.is_alive()
    assert (got["r"].status_code, got["r"].content) == (200, b"v"), got["r"].text
    assert got["took"] >= 3.0


def test_unknown_datacenter_fast_500(two_dcs):
    a1, _ = two_dcs
    for path in ("/v1/kv/x", "/v1/catalog/nodes", "/v1/health/state/any", "/v1/txn",
                 "/v1/session/list", "/v1/query", "/v1/event/list"):
        t0 = time.monotonic()
        m = "PUT" if path == "/v1/txn" else "GET"
        r = a1.request(m, path, params={"dc": "nope"}, data=b"[]" if m == "PUT" else None)
        assert (r.status_code, r.text) == (500, NO_PATH), path
        assert time.monotonic() - t0 < 1.0


def test_blocking_query_across_wan_wakes_on_remote_change(two_dcs):
    a1, a2 = two_dcs
    a2.kv_put("watched", "v1")
    r = a1.get("/v1/kv/watched", params={"dc": "dc2"})
    idx = index_of(r)
    got = {}

    def block():
        got["r"] = requests.get(a1.url("/v1/kv/watched"),
                                params={"dc": "dc2", "index": idx, "wait": "60s"},
                                timeout=90)

    t = threading.Thread(target=block)
    t.start()
    # parked in dc2 (the forwarded request runs there as a virtual request
    # of a client of dc2's servers), then the write
    wait_until(lambda: a2.stats()["client_requests"] >= 1, timeout=30,
               what="the blocking query parked in dc2")
    t0 = time.monotonic()
    a2.kv_put("watched", "v2")
    t.join(30)
    assert not t.is_alive()
    assert time.monotonic() - t0 < 10
    r = got["r"]
    assert r.status_code == 200 and index_of(r) > idx
    import base64
    assert base64.b64decode(r.json()[0]["Value"]) == b"v2"


def test_dark_datacenter_fast_no_path_and_recovery(two_dcs):
    a1, a2 = two_dcs
    a2.kv_put("k", "v")
    assert a1.get("/v1/kv/k", params={"dc": "dc2"}).status_code == 200
    os.kill(a2.pid, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        wait_until(lambda: (lambda r: r.status_code == 500 and r.text == NO_PATH)(
            a1.get("/v1/kv/k", params={"dc": "dc2"})), timeout=20,
            what="a 500 No path to datacenter from a dark dc2")
        first = time.monotonic() - t0
        # known dark: later requests fail at once, no timeout waited out again
        t1 = time.monotonic()
        r = a1.get("/v1/kv/k", params={"dc": "dc2"})
        assert (r.status_code, r.text) == (500, NO_PATH)
        assert time.monotonic() - t1 < 1.0
        assert first < 15
    finally:
        os.kill(a2.pid, signal.SIGCONT)
    wait_until(lambda: a1.get("/v1/kv/k", params={"dc": "dc2"}).status_code == 200,
               timeout=20, what="forwarding to dc2 again")


def test_join_wan_api_force_leave_and_failed_member(agent_factory, tmp_path):
    a1 = dc_server(agent_factory, tmp_path, "j1", "dc1")
    a2 = dc_server(agent_factory, tmp_path, "j2", "dc2")
    r = a2.put("/v1/agent/join/127.0.0.1:%d" % a1.serf_wan_port, params={"wan": "1"})
    assert r.status_code == 200, r.text
    wait_wan([a1, a2], {"j1.dc1", "j2.dc2"})
    # cairn join -wan from a third datacenter
    a3 = dc_server(agent_factory, tmp_path, "j3", "dc3")
    out = cairn_cli("join", "-wan", "127.0.0.1:%d" % a1.serf_wan_port, http_port=a3.http_port)
    assert out.returncode == 0, out.stderr
    wait_wan([a1, a2, a3], {"j1.dc1", "j2.dc2", "j3.dc3"})
    assert local_first(a2.get("/v1/catalog/datacenters").json(), "dc2", ["dc1", "dc3"])
    # a WAN join to nothing is an error naming the WAN
    r = a1.put("/v1/agent/join/127.0.0.1:1", params={"wan": "1"})
    assert r.status_code == 500 and "WAN" in r.text
    # dc3 stops: failed in the pool, no route to it, still a known datacenter
    a3.kill9()
    wait_until(lambda: "j3.dc3" not in wan_alive(a1), timeout=20, what="j3.dc3 failed")
    r = a1.get("/v1/kv/x", params={"dc": "dc3"})
    assert (r.status_code, r.text) == (500, NO_PATH)
    assert "dc3" in a1.get("/v1/catalog/datacenters").json()
    # force-leave ?wan: left, and dc3 forgotten by the router's listing
    r = a1.put("/v1/agent/force-leave/j3.dc3", params={"wan": "1"})
    assert r.status_code == 200, r.text
    st = {m["Name"]: m["Status"] for m in a1.get("/v1/agent/members?wan=1").json()}
    assert st["j3.dc3"] == 3
    assert a1.get("/v1/catalog/datacenters").json() == ["dc1", "dc2"]
    r = a1.put("/v1/agent/force-leave/nobody.dc9", params={"wan": "1"})
    assert r.status_code == 500


def test_client_agent_forwards_dc_through_its_server(two_dcs, tmp_path):
    a1, a2 = two_dcs
    a2.kv_put("via-client", "yes")

    c = Dc1Client(tmp_path, "wc1", a1, dns=False)
    c.start()
    try:
        wait_until(lambda: c.get("/v1/kv/via-client", params={"dc": "dc2"}).status_code == 200,
                   timeout=START_TIMEOUT, what="the client agent forwarding ?dc=dc2")
        r = c.get("/v1/kv/via-client", params={"dc": "dc2", "raw": "1"})
        assert r.content == b"yes"
        assert c.get("/v1/catalog/datacenters").json() == ["dc1", "dc2"]
        r = c.get("/v1/kv/x", params={"dc": "nope"})
        assert (r.status_code, r.text) == (500, NO_PATH)
        # a client agent is in no WAN pool
        assert c.get("/v1/agent/members", params={"wan": "1"}).json() == []
    finally:
        c.close()


def test_wan_gossip_key_and_malformed_packets(agent_factory, tmp_path):
    key1 = "pUqJrVyVRj5jsiYEkM/tFQYfWyJIv4s3XkvDwy7Cu5s="
    key2 = "H1dQ3+9ZcAyZg8tJ4h7xX2DpBvxL5K9eJ0p6Lx3mWqQ="
    a1 = dc_server(agent_factory, tmp_path, "k1", "dc1", extra=["-encrypt=" + key1])
    a2 = dc_server(agent_factory, tmp_path, "k2", "dc2", join=a1, extra=["-encrypt=" + key1])
    wait_wan([a1, a2], {"k1.dc1", "k2.dc2"})
    # another key: its join is refused, it never appears
    a3 = dc_server(agent_factory, tmp_path, "k3", "dc3", extra=["-encrypt=" + key2])
    r = a3.put("/v1/agent/join/127.0.0.1:%d" % a1.serf_wan_port, params={"wan": "1"})
    assert r.status_code == 500 and "WAN" in r.text
    assert "k3.dc3" not in {m["Name"] for m in a1.get("/v1/agent/members?wan=1").json()}
    assert a1.get("/v1/kv/x", params={"dc": "dc3"}).text == NO_PATH

    def dropped():
        s = a1.get("/v1/agent/self").json()["Stats"]["serf_wan"]
        return int(s["dropped_key"]) + int(s["dropped_malformed"])

    before = dropped()
    # garbage datagrams and a truncated stream frame to the WAN port
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for p in (b"", b"\x00", b"cg\x01\x03dc1", os.urandom(64), b"ce\x01" + os.urandom(40)):
        u.sendto(p, ("127.0.0.1", a1.serf_wan_port))
    u.close()
    s = socket.create_connection(("127.0.0.1", a1.serf_wan_port), timeout=5)
    s.sendall(b"\xff\xff\x00\x00garbage")
    s.close()
    wait_until(lambda: dropped() >= before + 4, timeout=10, what="malformed WAN packets counted")
    # the pool and forwarding are unharmed
    assert wan_alive(a1) == {"k1.dc1", "k2.dc2"}
    a2.kv_put("still", "ok")
    assert a1.get("/v1/kv/still", params={"dc": "dc2", "raw": "1"}).content == b"ok"


def test_three_dcs_one_with_three_servers(cluster_factory, agent_factory, tmp_path):
    """dc1 is a 3-server Raft cluster; dc2 and dc3 one server each. Every
    dc1 server joins the WAN; a dc1 server lost is routed around."""
    conf = tmp_path / "fast-wan.hcl"
    conf.write_text(FAST_WAN)
    c = cluster_factory(3, extra_args=["-config-file=%s" % conf])
    c.leader()
    a2 = dc_server(agent_factory, tmp_path, "t2", "dc2")
    a3 = dc_server(agent_factory, tmp_path, "t3", "dc3", join=a2)
    for s in c.agents:
        r = s.put("/v1/agent/join/127.0.0.1:%d" % a2.serf_wan_port, params={"wan": "1"})
        assert r.status_code == 200, r.text
    names = {"%s.dc1" % s.name for s in c.agents} | {"t2.dc2", "t3.dc3"}
    wait_wan([a2, a3] + c.agents, names)
    for s in c.agents:
        assert local_first(s.get("/v1/catalog/datacenters").json(), "dc1", ["dc2", "dc3"])
    assert local_first(a3.get("/v1/catalog/datacenters").json(), "dc3", ["dc1", "dc2"])
    # dc3 writes into dc1 and reads it back from dc2
    r = a3.put("/v1/kv/three", data=b"1", params={"dc": "dc1"})
    assert r.status_code == 200, r.text
    assert a2.get("/v1/kv/three", params={"dc": "dc1", "raw": "1"}).content == b"1"
    # one dc1 server after another goes away: dc2 still reaches dc1 while
    # any is alive (the next server is tried on a lost connection)
    ldr = c.leader()
    victim = [s for s in c.agents if s is not ldr][0]
    victim.kill9()
    wait_until(lambda: "%s.dc1" % victim.name not in wan_alive(a2), timeout=20,
               what="the killed dc1 server failed in the WAN pool")
    for _ in range(5):
        r = a2.get("/v1/kv/three", params={"dc": "dc1", "raw": "1"})
        assert r.status_code == 200 and r.content == b"1", r.text


def _reg(a, node, status):
    r = a.put_json("/v1/catalog/register", {
        "Node": node, "Address": "10.9.0.1",
        "Service": {"ID": "db", "Service": "db", "Port": 5432},
        "Check": {"CheckID": "db-ok", "ServiceID": "db", "Name": "db", "Status": status}})
    assert r.status_code == 200, r.text


def test_prepared_query_failover_to_other_datacenters(agent_factory, tmp_path):
    a1 = dc_server(agent_factory, tmp_path, "q1", "dc1")
    a2 = dc_server(agent_factory, tmp_path, "q2", "dc2", join=a1)
    a3 = dc_server(agent_factory, tmp_path, "q3", "dc3", join=a1)
    wait_wan([a1, a2, a3], {"q1.dc1", "q2.dc2", "q3.dc3"})
    _reg(a1, "db-dc1", "passing")
    _reg(a2, "db-dc2", "critical")
    _reg(a3, "db-dc3", "passing")
    r = a1.request("POST", "/v1/query", json={
        "Name": "db", "Service": {"Service": "db", "Failover": {
            "Datacenters": ["dc1", "nope", "dc2", "dc3"]}}})
    assert r.status_code == 200, r.text
    r = a1.request("POST", "/v1/query", json={
        "Name": "db-near", "Service": {"Service": "db", "Failover": {"NearestN": 1}}})
    assert r.status_code == 200, r.text

    def execute(name="db", **params):
        r = a1.get("/v1/query/%s/execute" % name, params=params)
        assert r.status_code == 200, r.text
        j = r.json()
        return j["Datacenter"], j["Failovers"], [n["Node"]["Node"] for n in j["Nodes"]]

    assert execute() == ("dc1", 0, ["db-dc1"])
    # dc1's instance critical: dc2 (listed first, also critical) then dc3
    _reg(a1, "db-dc1", "critical")
    assert execute() == ("dc3", 2, ["db-dc3"])
    def nearest():
        """db-near executed while the router's order stood still around the
        call: (nearest other datacenter, answer). The order is by name until
        WAN coordinates arrive, then by round-trip estimate, so which of dc2
        and dc3 is nearest depends on timing; the answer must follow it."""
        for _ in range(50):
            before = a1.get("/v1/catalog/datacenters").json()
            res = execute("db-near")
            if a1.get("/v1/catalog/datacenters").json() == before:
                assert before[0] == "dc1", before
                return before[1], res
        raise AssertionError("datacenter order kept changing")

    # NearestN 1: only the first datacenter after the local one is tried
    near, (dc, fo, nodes) = nearest()
    assert fo == 1
    assert nodes == ([] if near == "dc2" else ["db-dc3"])
    # dc2 healthy: it answers now, first in the list
    _reg(a2, "db-dc2", "passing")
    assert execute() == ("dc2", 1, ["db-dc2"])
    near, res = nearest()
    assert res == (near, 1, ["db-" + near])
    assert execute(limit="1") == ("dc2", 1, ["db-dc2"])
    # and back home when dc1's instance returns
    _reg(a1, "db-dc1", "passing")
    assert execute() == ("dc1", 0, ["db-dc1"])
    # a dark datacenter in the list is passed over
    _reg(a1, "db-dc1", "critical")
    os.kill(a2.pid, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        wait_until(lambda: execute()[0] == "dc3", timeout=30, what="failover past dark dc2")
        assert time.monotonic() - t0 < 30
        assert execute() == ("dc3", 2, ["db-dc3"])
    finally:
        os.kill(a2.pid, signal.SIGCONT)
    # Failover.Targets (peering) is still refused
    r = a1.request("POST", "/v1/query", json={
        "Name": "t", "Service": {"Service": "db", "Failover": {"Targets": [{"Peer": "p"}]}}})
    assert r.status_code == 400 and "peering" in r.text


def test_dns_names_of_another_datacenter(two_dcs):
    import dns.message
    import dns.query
    import dns.rcode
    import dns.rdatatype
    a1, a2 = two_dcs
    for node, addr, status in (("web-a", "10.2.0.1", "passing"), ("web-b", "10.2.0.2", "critical")):
        r = a2.put_json("/v1/catalog/register", {
            "Node": node, "Address": addr,
            "Service": {"ID": "web", "Service": "web", "Port": 8080},
            "Check": {"CheckID": "web", "ServiceID": "web", "Name": "web", "Status": status}})
        assert r.status_code == 200, r.text

    def ask(agent, name, rdtype="A", tcp=False):
        m = dns.message.make_query(name, rdtype, use_edns=False)
        f = dns.query.tcp if tcp else dns.query.udp
        return f(m, "127.0.0.1", port=agent.dns_port, timeout=10)

    def rr(resp, rdtype):
        t = dns.rdatatype.from_text(rdtype)
        return [x for s in resp.answer if s.rdtype == t for x in s]

    # dc1's agent answers for dc2 through dc2's servers: only the healthy one
    r = ask(a1, "web.service.dc2.consul")
    assert r.rcode() == dns.rcode.NOERROR
    assert [x.address for x in rr(r, "A")] == ["10.2.0.1"]
    r = ask(a1, "web.service.dc2.consul", "SRV", tcp=True)
    srv = rr(r, "SRV")
    assert [(x.port, str(x.target)) for x in srv] == [(8080, "web-a.node.dc2.consul.")]
    r = ask(a1, "web-b.node.dc2.consul")
    assert [x.address for x in rr(r, "A")] == ["10.2.0.2"]
    # dc1's own catalog has no such service
    assert ask(a1, "web.service.consul").rcode() == dns.rcode.NXDOMAIN
    # unknown datacenter: NXDOMAIN at once; a known one gone dark: SERVFAIL
    t0 = time.monotonic()
    assert ask(a1, "web.service.nope.consul").rcode() == dns.rcode.NXDOMAIN
    assert time.monotonic() - t0 < 2
    # unknown name in dc2: dc2's NXDOMAIN
    assert ask(a1, "nothing.service.dc2.consul").rcode() == dns.rcode.NXDOMAIN


def test_client_agent_dns_names_of_another_datacenter(two_dcs, tmp_path):
    """A client agent's DNS (resolved by its server) answers names of another
    datacenter as its server's own DNS does: its server asks that one."""
    import dns.message
    import dns.query
    import dns.rcode
    import dns.rdatatype
    a1, a2 = two_dcs
    r = a2.put_json("/v1/catalog/register", {
        "Node": "api-a", "Address": "10.3.0.1",
        "Service": {"ID": "api", "Service": "api", "Port": 9090}})
    assert r.status_code == 200, r.text

    def ask(name, rdtype="A", tcp=False):
        m = dns.message.make_query(name, rdtype, use_edns=False)
        f = dns.query.tcp if tcp else dns.query.udp
        return f(m, "127.0.0.1", port=cl.dns_port, timeout=10)

    def addrs(resp):
        return [x.address for s in resp.answer if s.rdtype == dns.rdatatype.A for x in s]

    cl = Dc1Client(tmp_path, "dns-client", a1)
    cl.start()
    try:
        # SERVFAIL until the client found its server
        wait_until(lambda: ask("api.service.dc2.consul").rcode() != dns.rcode.SERVFAIL,
                   timeout=START_TIMEOUT, what="the client agent's DNS answering")
        r = ask("api.service.dc2.consul")
        assert r.rcode() == dns.rcode.NOERROR and addrs(r) == ["10.3.0.1"]
        r = ask("api.service.dc2.consul", "SRV", tcp=True)
        assert [(x.port, str(x.target)) for s in r.answer if s.rdtype == dns.rdatatype.SRV
                for x in s] == [(9090, "api-a.node.dc2.consul.")]
        assert addrs(ask("api-a.node.dc2.consul")) == ["10.3.0.1"]
        # dc2's NXDOMAIN for a name it lacks; an unknown datacenter's at once
        assert ask("nothing.service.dc2.consul").rcode() == dns.rcode.NXDOMAIN
        assert ask("api.service.nope.consul").rcode() == dns.rcode.NXDOMAIN
        # the local datacenter has no such service
        assert ask("api.service.consul").rcode() == dns.rcode.NXDOMAIN
        # dc2 gone dark: SERVFAIL (known datacenter, no answer), then back
        os.kill(a2.pid, signal.SIGSTOP)
        try:
            wait_until(lambda: ask("api.service.dc2.consul").rcode() == dns.rcode.SERVFAIL,
                       timeout=60, what="SERVFAIL for a dark dc2")
        finally:
            os.kill(a2.pid, signal.SIGCONT)
        wait_until(lambda: addrs(ask("api.service.dc2.consul")) == ["10.3.0.1"], timeout=60,
                   what="dc2 answering again")
    finally:
        cl.close()


def test_dns_prepared_query_failover_to_other_datacenters(agent_factory, tmp_path):
    """NAME.query.DOMAIN follows the query's Failover as the HTTP execute does:
    with no healthy instance in dc1 the answer comes from the first listed
    datacenter with one, its records as that datacenter's DNS gives them, the
    query's DNS.TTL; none with instances: dc1's NXDOMAIN."""
    import dns.message
    import dns.query
    import dns.rcode
    import dns.rdatatype
    a1 = dc_server(agent_factory, tmp_path, "d1", "dc1")
    a2 = dc_server(agent_factory, tmp_path, "d2", "dc2", join=a1)
    a3 = dc_server(agent_factory, tmp_path, "d3", "dc3", join=a1)
    wait_wan([a1, a2, a3], {"d1.dc1", "d2.dc2", "d3.dc3"})

    def reg(a, dc, status):
        r = a.put_json("/v1/catalog/register", {
            "Node": "db-" + dc, "Address": "10.9.0.%s" % dc[-1],
            "Service": {"ID": "db", "Service": "db", "Port": 5400 + int(dc[-1])},
            "Check": {"CheckID": "db-ok", "ServiceID": "db", "Name": "db", "Status": status}})
        assert r.status_code == 200, r.text

    reg(a1, "dc1", "passing")
    reg(a2, "dc2", "critical")
    reg(a3, "dc3", "passing")
    for name, fo in (("db", {"Datacenters": ["dc1", "nope", "dc2", "dc3"]}),
                     ("db-near", {"NearestN": 2}), ("plain", {})):
        r = a1.request("POST", "/v1/query", json={
            "Name": name, "Service": {"Service": "db", "Failover": fo}, "DNS": {"TTL": "7s"}})
        assert r.status_code == 200, r.text
    r = a3.request("POST", "/v1/query", json={"Name": "only3", "Service": {"Service": "db"}})
    assert r.status_code == 200, r.text
    # dc2's own query with its own Failover (to dc3)
    r = a2.request("POST", "/v1/query", json={
        "Name": "via2", "Service": {"Service": "db", "Failover": {"Datacenters": ["dc3"]}}})
    assert r.status_code == 200, r.text

    def ask(name, rdtype="A", tcp=False):
        m = dns.message.make_query(name, rdtype, use_edns=False)
        f = dns.query.tcp if tcp else dns.query.udp
        return f(m, "127.0.0.1", port=a1.dns_port, timeout=10)

    def addrs(name):
        r = ask(name)
        if r.rcode() != dns.rcode.NOERROR:
            return dns.rcode.to_text(r.rcode())
        recs = [(x.address, s.ttl) for s in r.answer if s.rdtype == dns.rdatatype.A for x in s]
        return recs

    assert addrs("db.query.consul") == [("10.9.0.1", 7)]
    # dc1's instance critical: dc2 (listed first) has none healthy, dc3 answers
    reg(a1, "dc1", "critical")
    assert addrs("db.query.consul") == [("10.9.0.3", 7)]
    assert addrs("db.query.dc1.consul") == [("10.9.0.3", 7)]
    r = ask("_db._tcp.query.consul", "SRV", tcp=True)
    assert r.rcode() == dns.rcode.NOERROR
    srv = [(x.port, str(x.target), s.ttl) for s in r.answer
           if s.rdtype == dns.rdatatype.SRV for x in s]
    assert srv == [(5403, "db-dc3.node.dc3.consul.", 7)]
    # NearestN 2 tries both others, in whichever order coordinates give:
    # only dc3 has a healthy instance
    assert addrs("db-near.query.consul") == [("10.9.0.3", 7)]
    # a client agent's DNS (resolved by its server) fails over the same way
    cl = Dc1Client(tmp_path, "dc1-client", a1)
    cl.start()
    try:
        def client_addrs():
            m = dns.message.make_query("db.query.consul", "A", use_edns=False)
            r = dns.query.udp(m, "127.0.0.1", port=cl.dns_port, timeout=10)
            return dns.rcode.to_text(r.rcode()), [
                (x.address, s.ttl) for s in r.answer if s.rdtype == dns.rdatatype.A for x in s]
        # SERVFAIL until the client found its server
        wait_until(lambda: client_addrs()[0] != "SERVFAIL", timeout=START_TIMEOUT,
                   what="the client agent's DNS answering")
        assert client_addrs() == ("NOERROR", [("10.9.0.3", 7)])
    finally:
        cl.close()
    # no Failover: dc1's empty answer
    assert addrs("plain.query.consul") == "NXDOMAIN"
    # dc2 healthy: it answers, first in the list
    reg(a2, "dc2", "passing")
    assert addrs("db.query.consul") == [("10.9.0.2", 7)]
    # nothing healthy anywhere: dc1's NXDOMAIN with its SOA
    reg(a2, "dc2", "critical")
    reg(a3, "dc3", "critical")
    r = ask("db.query.consul")
    assert r.rcode() == dns.rcode.NXDOMAIN
    assert any(s.rdtype == dns.rdatatype.SOA for s in r.authority)
    # NAME.query.DC: the query of that datacenter, asked of it
    reg(a3, "dc3", "passing")
    assert addrs("only3.query.dc3.consul") == [("10.9.0.3", 0)]
    assert addrs("only3.query.consul") == "NXDOMAIN"
    # ... executed there as Consul does, its Failover included: dc2 has no
    # healthy instance, its query fails over to dc3
    assert addrs("via2.query.dc2.consul") == [("10.9.0.3", 0)]
    reg(a3, "dc3", "critical")
    assert addrs("via2.query.dc2.consul") == "NXDOMAIN"
    reg(a3, "dc3", "passing")
    # and back home
    reg(a1, "dc1", "passing")
    assert addrs("db.query.consul") == [("10.9.0.1", 7)]
    # a datacenter gone dark is passed over
    reg(a1, "dc1", "critical")
    reg(a2, "dc2", "passing")
    os.kill(a2.pid, signal.SIGSTOP)
    try:
        wait_until(lambda: addrs("db.query.consul") == [("10.9.0.3", 7)], timeout=30,
                   what="DNS failover past dark dc2")
    finally:
        os.kill(a2.pid, signal.SIGCONT)


def test_wan_flood_join_brings_every_server_of_a_datacenter(cluster_factory, agent_factory,
                                                            tmp_path):
    """Consul's flood joiner: dc2 is a 3-server cluster where only one server
    is given -join-wan; the two others reach the WAN pool because a server
    joins the servers it learns through the LAN pool (their wan_join_port
    tag) into the WAN pool."""
    a1 = dc_server(agent_factory, tmp_path, "f1", "dc1")
    conf = tmp_path / "flood-wan.hcl"
    conf.write_text(FAST_WAN)
    c = cluster_factory(3, start=False, prefix="g",
                        extra_args=["-config-file=%s" % conf, "-datacenter=dc2"])
    c.agents[0].extra_args = c.agents[0].extra_args + [
        "-join-wan=127.0.0.1:%d" % a1.serf_wan_port]
    c.start()
    c.leader()
    names = {"f1.dc1"} | {"%s.dc2" % s.name for s in c.agents}
    wait_wan([a1] + c.agents, names, timeout=60)
    out = cairn_cli("members", "-wan", http_port=a1.http_port)
    assert out.returncode == 0, out.stderr
    for s in c.agents:
        assert "%s.dc2" % s.name in out.stdout, out.stdout
    # every dc2 server is a route for dc1's requests
    r = a1.put("/v1/kv/flood", data=b"x", params={"dc": "dc2"})
    assert r.status_code == 200, r.text
    assert raw(c.agents[2], "flood") == b"x"


def test_keyring_rotation_across_datacenters(agent_factory, tmp_path):
    """Consul's keyring operations on a server act on the WAN pool (every
    server of every datacenter, serf/remote.keyring) and on the LAN pool of
    every datacenter: a key installed through dc1 is used for the WAN by
    dc2's server too; after the rotation a server holding only the old key
    is refused by the WAN pool."""
    import base64
    import json

    def key():
        return base64.b64encode(os.urandom(32)).decode()

    def keyfile(a, name):
        try:
            with open(os.path.join(a.data_dir, "serf", name)) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    k1, k2 = key(), key()
    a1 = dc_server(agent_factory, tmp_path, "k1", "dc1", extra=["-encrypt=" + k1])
    a2 = dc_server(agent_factory, tmp_path, "k2", "dc2", join=a1, extra=["-encrypt=" + k1])
    wait_wan([a1, a2], {"k1.dc1", "k2.dc2"})

    def pools(a, **params):
        r = a.get("/v1/operator/keyring", params=params, timeout=30)
        assert r.status_code == 200, r.text
        return [(e["WAN"], e["Datacenter"], e["Keys"], e["PrimaryKeys"], e["NumNodes"], e["Error"])
                for e in r.json()]

    assert pools(a2) == [(True, "dc2", {k1: 2}, {k1: 2}, 2, ""),
                         (False, "dc2", {k1: 1}, {k1: 1}, 1, ""),
                         (False, "dc1", {k1: 1}, {k1: 1}, 1, "")]
    assert pools(a1, **{"local-only": "true"}) == [(False, "dc1", {k1: 1}, {k1: 1}, 1, "")]
    out = cairn_cli("keyring", "-install", k2, http_port=a1.http_port)
    assert out.returncode == 0, out.stderr
    assert pools(a1) == [(True, "dc1", {k1: 2, k2: 2}, {k1: 2}, 2, ""),
                         (False, "dc1", {k1: 1, k2: 1}, {k1: 1}, 1, ""),
                         (False, "dc2", {k1: 1, k2: 1}, {k1: 1}, 1, "")]
    out = cairn_cli("keyring", "-use", k2, http_port=a1.http_port)
    assert out.returncode == 0, out.stderr
    # dc2's server seals WAN gossip with k2 now, and wrote it down
    wait_until(lambda: keyfile(a2, "remote.keyring") == [k2, k1], timeout=10,
               what="dc2's WAN keyring file with k2 first")
    out = cairn_cli("keyring", "-remove", k1, http_port=a1.http_port)
    assert out.returncode == 0, out.stderr
    out = cairn_cli("keyring", "-list", http_port=a2.http_port)
    assert out.returncode == 0, out.stderr
    assert out.stdout == ("==> Gathering installed encryption keys...\n\nWAN:\n  %s [2/2]\n"
                          "\ndc2 (LAN):\n  %s [1/1]\n\ndc1 (LAN):\n  %s [1/1]\n"
                          % (k2, k2, k2)), out.stdout
    for a in (a1, a2):
        wait_until(lambda: keyfile(a, "remote.keyring") == [k2], timeout=10,
                   what="%s's WAN keyring file" % a.name)
        wait_until(lambda: keyfile(a, "local.keyring") == [k2], timeout=10,
                   what="%s's LAN keyring file" % a.name)
    # the WAN still carries both datacenters, with k2 only
    assert wan_alive(a1) == {"k1.dc1", "k2.dc2"} and wan_alive(a2) == {"k1.dc1", "k2.dc2"}
    r = a1.put("/v1/kv/rotated", data=b"1", params={"dc": "dc2"})
    assert r.status_code == 200, r.text
    assert raw(a2, "rotated") == b"1"
    # a dc3 server holding only the old key is refused by the WAN pool
    old = dc_server(agent_factory, tmp_path, "k3", "dc3", extra=["-encrypt=" + k1])
    r = old.put("/v1/agent/join/127.0.0.1:%d" % a1.serf_wan_port, params={"wan": "1"},
                timeout=30)
    assert r.status_code == 500, r.text
    assert "a member without our encryption key" in r.text
    assert "k3.dc3" not in {m["Name"] for m in
                            a1.get("/v1/agent/members", params={"wan": "1"}).json()}


def test_server_failing_to_start_exits_cleanly_with_its_wan_pool(tmp_path):
    """A server whose HTTP port is taken stops after its WAN pool started:
    every handle closes once (exit 1, no abort)."""
    import subprocess
    from conftest import free_port
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        p = subprocess.run(
            [CAIRN_BIN, "agent", "-server", "-data-dir=%s" % (tmp_path / "d"), "-node=x",
             "-bind=127.0.0.1", "-client=127.0.0.1", "-bootstrap-expect=1",
             "-http-port=%d" % busy.getsockname()[1], "-server-port=%d" % free_port(),
             "-dns-port=%d" % free_port(), "-serf-lan-port=%d" % free_port(),
             "-serf-wan-port=%d" % free_port()],
            capture_output=True, text=True, timeout=60)
    finally:
        busy.close()
    assert p.returncode == 1, p.stderr[-2000:]
    assert "address already in use" in p.stderr
    assert "gossip (WAN) on" in p.stderr
