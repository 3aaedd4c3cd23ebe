"""Client agents (no -server): no Raft state; their own services and checks
kept in the catalog through a server (pushed at once, a full anti-entropy
sync repairing drift both ways); every other request forwarded to a server
over the server RPC transport and answered exactly as the server answers it.
3 servers and client agents on loopback (docs/architecture.md, "Client
agents")."""
import json
import os
import signal
import threading
import time

import pytest
import requests

from conftest import (CAIRN_BIN, Agent, Cluster, assert_no_sanitizer_reports, free_port,
                      index_of, wait_until)


class ClientAgent(Agent):
    """A client agent: -retry-join names servers' RPC ports; a config file
    sets the anti-entropy interval (short in tests)."""

    def __init__(self, workdir, name, join_ports, ae_interval="2s", extra_args=(), dns=False):
        super().__init__(workdir, name=name, extra_args=extra_args)
        self.join_ports = list(join_ports)
        self.dns = dns  # answer DNS on self.dns_port (else -dns-port=-1)
        self.conf = os.path.join(self.workdir, name + ".json")
        with open(self.conf, "w") as f:
            json.dump({"ae_interval": ae_interval}, f)

    def argv(self):
        return [
            CAIRN_BIN, "agent",
            "-data-dir=" + self.data_dir,
            "-node=" + self.name,
            "-datacenter=dc1",
            "-client=127.0.0.1",
            "-bind=127.0.0.1",
            "-http-port=%d" % self.http_port,
            "-serf-lan-port=%d" % self.serf_port,
            "-dns-port=%d" % (self.dns_port if self.dns else -1),
            "-log-level=debug",
            "-config-file=" + self.conf,
        ] + ["-retry-join=127.0.0.1:%d" % p for p in self.join_ports] + self.extra_args

    def start(self, wait=True):
        self._spawn()
        if wait:
            self.wait_ready()
        return self


@pytest.fixture
def cluster(tmp_path):
    c = Cluster(tmp_path, 3)
    try:
        c.start()
        yield c
    finally:
        for a in c.agents:
            a.close()
    assert_no_sanitizer_reports(c.agents)


@pytest.fixture
def clients(tmp_path, cluster):
    made = []

    def make(name, ports=None, **kw):
        ports = ports if ports is not None else [a.server_port for a in cluster.agents]
        a = ClientAgent(tmp_path, name, ports, **kw)
        made.append(a)
        return a
    yield make
    for a in made:
        rc = a.stop()
        a.close()
        assert rc in (None, 0, -9), "client %s exited %s; log:\n%s" % (a.name, rc, a.log_tail())
    assert_no_sanitizer_reports(made)


def catalog_nodes(agent):
    return {n["Node"]: n for n in agent.get("/v1/catalog/nodes").json()}


def register(agent, sid, name=None, port=80, ttl=None, tags=()):
    body = {"ID": sid, "Name": name or sid, "Port": port, "Tags": list(tags)}
    if ttl:
        body["Check"] = {"TTL": ttl}
    r = agent.put_json("/v1/agent/service/register", body)
    assert r.status_code == 200, r.text


def test_client_registers_through_servers(cluster, clients):
    c1 = clients("c1").start()
    c2 = clients("c2").start()
    # Server=false, role=node.
    me = c1.get("/v1/agent/self").json()
    assert me["Config"]["Server"] is False
    assert me["Member"]["Tags"]["role"] == "node"
    assert me["Stats"]["consul"]["server"] == "false" and "raft" not in me["Stats"]
    wait_until(lambda: c1.get("/v1/agent/self").json()["Stats"]["consul"]["known_servers"]
               == "3", what="three servers known")
    # The node entry carries the agent's address and tagged addresses.
    for s in cluster.agents:
        nodes = wait_until(lambda: (lambda n: n if "c1" in n and "c2" in n else None)(
            catalog_nodes(s)), what="client nodes in the catalog")
        assert nodes["c1"]["Address"] == "127.0.0.1"
        assert nodes["c1"]["TaggedAddresses"]["lan"] == "127.0.0.1"
    register(c1, "web", port=8080, ttl="30s", tags=["v1"])
    # Seen at once through every server, and through the other client.
    for a in cluster.agents + [c2]:
        r = a.get("/v1/catalog/service/web")
        assert r.status_code == 200
        assert [x["Node"] for x in r.json()] == ["c1"]
        assert r.json()[0]["ServicePort"] == 8080
    # The TTL check runs on the client and its status reaches the catalog.
    assert c1.put("/v1/agent/check/pass/service:web?note=ok").status_code == 200
    chk = wait_until(lambda: (lambda h: h if h and h[0]["Checks"][-1]["Status"] == "passing"
                              else None)(cluster.agents[0].get(
                                  "/v1/health/service/web").json()), what="passing")
    assert chk[0]["Checks"][-1]["Output"] == "ok"
    assert [x["ID"] for x in c1.get("/v1/agent/services").json().values()] == ["web"]
    # Agent endpoints stay local: the servers' own agent view has no "web".
    assert "web" not in cluster.agents[0].get("/v1/agent/services").json()
    # Deregistered through the client: gone everywhere.
    assert c1.put("/v1/agent/service/deregister/web").status_code == 200
    assert cluster.agents[1].get("/v1/catalog/service/web").json() == []


def test_reads_match_server(cluster, clients):
    c1 = clients("c1").start()
    s = cluster.agents[0]
    assert s.kv_put("app/a", "1")
    register(c1, "db", port=5432)
    for path in ["/v1/kv/app/a", "/v1/kv/app?recurse", "/v1/catalog/services",
                 "/v1/catalog/service/db", "/v1/health/service/db", "/v1/catalog/nodes",
                 "/v1/health/state/any", "/v1/kv/missing", "/v1/catalog/datacenters",
                 "/v1/status/peers"]:
        for mode in ["", "stale", "consistent"]:
            q = path + (("&" if "?" in path else "?") + mode if mode else "")
            rs, rc = s.get(q), c1.get(q)
            assert rc.status_code == rs.status_code, q
            assert rc.content == rs.content or path == "/v1/health/state/any", q
            assert rc.headers.get("X-Consul-Index") == rs.headers.get("X-Consul-Index"), q
            assert (rc.headers.get("X-Consul-Knownleader")
                    == rs.headers.get("X-Consul-Knownleader")), q
    # The leader, as a server names it; errors are a server's, word for word.
    assert c1.get("/v1/status/leader").json() == s.get("/v1/status/leader").json()
    for bad in ["/v1/kv/x?index=abc", "/v1/kv/x?stale&consistent", "/v1/nope",
                "/v1/catalog/service/db?filter=%3D%3D"]:
        rs, rc = s.get(bad), c1.get(bad)
        assert (rc.status_code, rc.text) == (rs.status_code, rs.text), bad
    # Writes through the client: KV, sessions, txn.
    assert c1.put("/v1/kv/from-client", data=b"hello").json() is True
    assert s.get("/v1/kv/from-client?raw").content == b"hello"
    sid = c1.put("/v1/session/create", data=b'{"TTL":"30s"}').json()["ID"]
    assert c1.put("/v1/kv/lock?acquire=" + sid, data=b"x").json() is True
    assert s.get("/v1/kv/lock").json()[0]["Session"] == sid
    assert c1.put("/v1/session/renew/" + sid).status_code == 200
    r = c1.put("/v1/txn", data=json.dumps([{"KV": {"Verb": "get", "Key": "app/a"}}]))
    assert r.status_code == 200 and r.json()["Results"][0]["KV"]["Key"] == "app/a"
    # HEAD keeps the GET's headers.
    h = c1.request("HEAD", "/v1/kv/app/a")
    assert h.status_code == 200 and h.headers["X-Consul-Index"]


def test_blocking_query_through_client(cluster, clients):
    c1 = clients("c1").start()
    s = cluster.agents[1]
    s.kv_put("watched", "0")
    idx = index_of(c1.get("/v1/kv/watched"))
    out = {}

    def block():
        out["r"] = c1.get("/v1/kv/watched?index=%d&wait=30s" % idx, timeout=40)
    t = threading.Thread(target=block)
    t.start()
    # The query is parked on a server (as a client request being served).
    wait_until(lambda: sum(a.stats()["client_requests"] for a in cluster.agents) >= 1, what="parked on a server")
    time.sleep(0.2)
    assert t.is_alive()
    assert s.kv_put("watched", "1")
    t.join(10)
    assert not t.is_alive()
    r = out["r"]
    assert r.status_code == 200 and index_of(r) > idx
    import base64
    assert base64.b64decode(r.json()[0]["Value"]) == b"1"
    # A blocking query whose caller goes away is released on the server.
    import socket
    sock = socket.create_connection(("127.0.0.1", c1.http_port))
    sock.sendall(b"GET /v1/kv/watched?index=%d&wait=60s HTTP/1.1\r\nHost: x\r\n\r\n"
                 % index_of(r))
    wait_until(lambda: sum(a.stats()["client_requests"] for a in cluster.agents) >= 1, what="parked")
    sock.close()
    wait_until(lambda: sum(a.stats()["client_requests"] for a in cluster.agents) == 0,
               what="released on the server when the caller left")
    # ... and when the client agent itself dies (its connection closes).
    sock = socket.create_connection(("127.0.0.1", c1.http_port))
    sock.sendall(b"GET /v1/kv/watched?index=%d&wait=60s HTTP/1.1\r\nHost: x\r\n\r\n"
                 % index_of(r))
    wait_until(lambda: sum(a.stats()["client_requests"] for a in cluster.agents) >= 1,
               what="parked")
    c1.kill9()
    sock.close()
    wait_until(lambda: sum(a.stats()["client_requests"] for a in cluster.agents) == 0,
               what="released on the server when the client agent died")


def used_server(c):
    """The server RPC address the client agent uses now (its log says)."""
    for line in reversed(c.log_text().splitlines()):
        if "using server" in line:
            return line.split("using server ")[1].split(" ")[0]
    return None


def test_failover_to_another_server(cluster, clients):
    c1 = clients("c1").start()
    register(c1, "api", port=9000)
    addr = wait_until(lambda: used_server(c1), what="a preferred server")
    victim = cluster.by_rpc(addr)
    # A blocking query parked on that server when it dies is sent again to
    # another one, and wakes on a write made there.
    c1.kv_put("bq", "0")
    idx = index_of(c1.get("/v1/kv/bq"))
    out = {}

    def block():
        out["r"] = c1.get("/v1/kv/bq?index=%d&wait=40s" % idx, timeout=60)
    t = threading.Thread(target=block)
    t.start()
    wait_until(lambda: victim.stats()["client_requests"] >= 1, what="parked on the victim")
    victim.kill9()
    cluster.agents.remove(victim)
    # Reads go on through another server, within the failover.
    def read_ok():
        try:
            r = c1.get("/v1/catalog/service/api", timeout=10)
            return r if r.status_code == 200 and r.json() else None
        except requests.RequestException:
            return None
    r = wait_until(read_ok, timeout=20, what="a read through another server")
    assert r.json()[0]["Node"] == "c1"
    live = cluster.wait_converged()
    wait_until(lambda: sum(a.stats()["client_requests"] for a in cluster.agents) >= 1,
               timeout=20, what="the blocking query parked again on a live server")
    assert t.is_alive()
    live.kv_put("bq", "1")
    t.join(20)
    assert not t.is_alive() and out["r"].status_code == 200
    assert index_of(out["r"]) > idx
    wait_until(lambda: c1.get("/v1/status/leader").json() not in ("", victim.rpc_addr),
               timeout=20, what="a new leader seen through the client")
    # Writes too.
    register(c1, "api2", port=9001)
    assert [x["Node"] for x in cluster.agents[0].get("/v1/catalog/service/api2").json()] == ["c1"]
    assert used_server(c1) != addr


def test_servers_learnt_from_one(cluster, clients):
    """Given one server's address, a client learns the others from it (the
    directory every server sends) and fails over to them."""
    first = cluster.agents[0]
    c1 = clients("c1", ports=[first.server_port]).start()
    register(c1, "one", port=1)
    first.kill9()
    cluster.agents.remove(first)
    def read_ok():
        try:
            r = c1.get("/v1/catalog/service/one", timeout=10)
            return r if r.status_code == 200 and r.json() else None
        except requests.RequestException:
            return None
    wait_until(read_ok, timeout=20, what="a read through a server learnt from the first")
    cluster.wait_converged()
    register(c1, "two", port=2)
    assert cluster.agents[0].get("/v1/catalog/service/two").json()[0]["Node"] == "c1"


def test_restart_resyncs_and_drift_repair(cluster, clients):
    c1 = clients("c1", ae_interval="1s").start()
    register(c1, "cache", port=6379, ttl="60s")
    s = cluster.agents[0]
    # Drift: deregistered behind the agent's back -> registered again.
    r = s.put_json("/v1/catalog/deregister", {"Node": "c1", "ServiceID": "cache"})
    assert r.status_code == 200
    wait_until(lambda: s.get("/v1/catalog/service/cache").json(), timeout=15,
               what="the service re-registered by anti-entropy")
    # Drift the other way: a service for c1 the agent does not hold -> gone.
    r = s.put_json("/v1/catalog/register", {"Node": "c1", "Address": "127.0.0.1",
                                            "Service": {"ID": "ghost", "Service": "ghost"}})
    assert r.status_code == 200
    wait_until(lambda: s.get("/v1/catalog/service/ghost").json() == [], timeout=15,
               what="the extra service deregistered")
    # A check status changed behind its back -> pushed again.
    c1.put("/v1/agent/check/pass/service:cache")
    wait_until(lambda: s.get("/v1/health/checks/cache").json()[0]["Status"] == "passing")
    # An idle sync writes nothing: the catalog index stays.
    i1 = index_of(s.get("/v1/catalog/nodes"))
    time.sleep(2.5)
    assert index_of(s.get("/v1/catalog/nodes")) == i1
    # Restart with the same data dir and node name: its registrations come
    # back from the catalog, and it keeps them in step.
    c1.restart()
    wait_until(lambda: "cache" in c1.get("/v1/agent/services").json(), timeout=15,
               what="services restored after a restart")
    assert c1.get("/v1/agent/self").json()["Config"]["NodeID"] == \
        catalog_nodes(s)["c1"]["ID"]
    s.put_json("/v1/catalog/deregister", {"Node": "c1", "ServiceID": "cache"})
    wait_until(lambda: s.get("/v1/catalog/service/cache").json(), timeout=15,
               what="re-registered after the restart")


def test_node_deleted_behind_its_back_is_restored(cluster, clients):
    """The whole node deregistered on the servers (its services and checks
    with it): the client's next anti-entropy sync puts all of it back, and
    its own view (/v1/agent/services) never lost anything."""
    c1 = clients("c1", ae_interval="1s").start()
    register(c1, "api", port=8080, ttl="60s")
    register(c1, "db", port=5432)
    c1.put("/v1/agent/check/pass/service:api")
    s = cluster.agents[0]
    wait_until(lambda: {x["ServiceID"] for x in s.get("/v1/health/node/c1").json()}
               >= {"api", ""}, what="the node's checks in the catalog")
    before = index_of(s.get("/v1/catalog/nodes"))
    r = s.put_json("/v1/catalog/deregister", {"Node": "c1"})
    assert r.status_code == 200
    assert s.get("/v1/catalog/node/c1?consistent").json() is None
    assert set(c1.get("/v1/agent/services").json()) == {"api", "db"}

    def restored():
        n = s.get("/v1/catalog/node/c1?consistent").json()
        checks = {x["CheckID"]: x["Status"] for x in s.get("/v1/health/node/c1").json()}
        return n and set(n["Services"]) == {"api", "db"} and \
            checks.get("service:api") == "passing" and "serfHealth" in checks
    wait_until(restored, timeout=20, what="node, services and checks restored by anti-entropy")
    assert index_of(s.get("/v1/catalog/nodes")) > before


def test_server_restart_keeps_clients(cluster, clients):
    c1 = clients("c1").start()
    register(c1, "svc", port=1)
    # The server the client uses, then another one.
    used = wait_until(lambda: used_server(c1), what="a preferred server")
    first = cluster.by_rpc(used)
    for srv in [first, next(a for a in cluster.agents if a is not first)]:
        srv.restart(wait=False)
        srv.member = False
        srv.wait_ready()
        cluster.wait_converged()
        r = wait_until(lambda: (lambda x: x if x.status_code == 200 else None)(
            c1.get("/v1/catalog/service/svc", timeout=10)), timeout=20,
            what="reads through the client after a server restart")
        assert [x["Node"] for x in r.json()] == ["c1"]
    register(c1, "svc2", port=2)
    assert cluster.agents[2].get("/v1/catalog/service/svc2").json()[0]["Node"] == "c1"


def test_client_finds_servers_through_gossip(cluster, clients):
    """Consul's way: -retry-join names one gossip address; the client finds
    the servers in the pool, and when it is killed the leader turns its
    serfHealth critical and its service leaves ?passing answers."""
    s1 = cluster.agents[0]
    c1 = clients("gc1", ports=[], extra_args=["-retry-join=127.0.0.1:%d" % s1.serf_port]).start()
    wait_until(lambda: c1.get("/v1/agent/self").json()["Stats"]["consul"]["known_servers"]
               == "3", what="servers found through gossip")
    want = {a.name for a in cluster.agents} | {"gc1"}
    wait_until(lambda: want <= {m["Name"] for m in c1.get("/v1/agent/members").json()},
               what="the whole pool in the client's member list")
    names = {m["Name"]: m for m in c1.get("/v1/agent/members").json()}
    assert names["gc1"]["Tags"]["role"] == "node"
    assert all(names[a.name]["Tags"]["role"] == "consul" for a in cluster.agents)
    r = c1.put_json("/v1/agent/service/register", {"ID": "web1", "Name": "gweb", "Port": 80})
    assert r.status_code == 200, r.text

    def serf(status):
        chk = [c for c in s1.get("/v1/health/node/gc1").json() if c["CheckID"] == "serfHealth"]
        return chk and chk[0]["Status"] == status
    wait_until(lambda: serf("passing"), what="serfHealth passing")
    assert [e["Node"]["Node"] for e in s1.get("/v1/health/service/gweb?passing").json()] == ["gc1"]
    c1.kill9()
    wait_until(lambda: serf("critical"), timeout=60, what="serfHealth critical after kill -9")
    assert s1.get("/v1/health/service/gweb?passing").json() == []


def test_client_refusals_and_members(tmp_path, cluster, clients):
    c1 = clients("c1").start()
    m = {x["Name"]: x for x in c1.get("/v1/agent/members").json()}
    assert m["c1"]["Tags"]["role"] == "node"
    import subprocess
    out = subprocess.run([CAIRN_BIN, "members", "-http-addr=127.0.0.1:%d" % c1.http_port],
                         capture_output=True, text=True, timeout=10)
    assert out.returncode == 0 and "c1" in out.stdout, out.stdout + out.stderr
    # An alias of another node's health cannot be seen from a client's state.
    r = c1.put_json("/v1/agent/check/register", {"Name": "a", "AliasNode": "s1"})
    assert r.status_code == 400 and "not supported on client agents" in r.text
    # -bootstrap-expect and -bootstrap need -server (Consul's texts).
    for args, text in [(["-bootstrap-expect=3"], "'bootstrap_expect > 0' requires 'server = true'"),
                       (["-bootstrap"], "'bootstrap = true' requires 'server = true'")]:
        p = subprocess.run([CAIRN_BIN, "agent", "-data-dir=" + str(tmp_path / "x"), "-node=x",
                            "-dns-port=-1", "-http-port=%d" % free_port()] + args,
                           capture_output=True, text=True, timeout=10)
        assert p.returncode != 0 and text in p.stderr + p.stdout


def test_no_server_reachable(tmp_path):
    """No server answers: after the hold timeout (7 s) a forwarded read and a
    registration both fail with Consul's text; the agent serves on."""
    c1 = ClientAgent(tmp_path, "lonely", [free_port()])
    c1.start(wait=False)
    try:
        wait_until(lambda: c1.get("/v1/agent/self", timeout=5).status_code == 200,
                   what="the client's HTTP")
        out = {}

        def reg():
            out["reg"] = c1.put_json("/v1/agent/service/register", {"Name": "x"}, timeout=30)
        t = threading.Thread(target=reg)
        t.start()
        t0 = time.monotonic()
        r = c1.get("/v1/kv/k", timeout=30)
        assert (r.status_code, r.text) == (500, "No known Consul servers")
        assert time.monotonic() - t0 >= 6
        t.join(30)
        assert out["reg"].status_code == 500 and "No known Consul servers" in out["reg"].text
        assert c1.get("/v1/agent/services").json() == {}
    finally:
        c1.stop()
        c1.close()
    assert_no_sanitizer_reports([c1])


def test_python_consul_against_client(cluster, clients):
    consul = pytest.importorskip("consul")
    c1 = clients("c1").start()
    cc = consul.Consul(host="127.0.0.1", port=c1.http_port)
    assert cc.agent.service.register("pyweb", port=81, check=consul.Check.ttl("20s"))
    cc.agent.check.ttl_pass("service:pyweb")
    idx, nodes = cc.health.service("pyweb", passing=True)
    assert [n["Node"]["Node"] for n in nodes] == ["c1"]
    assert cc.kv.put("py/k", "v")
    idx, v = cc.kv.get("py/k")
    assert v["Value"] == b"v"
    idx2, v2 = cc.kv.get("py/k", index=idx, wait="100ms")
    assert idx2 == idx
    assert cc.status.leader() == cluster.agents[0].get("/v1/status/leader").json()
    assert len(cc.status.peers()) == 3
    assert cc.catalog.node("c1")[1]["Node"]["Node"] == "c1"
    sid = cc.session.create(ttl=15)
    assert cc.session.destroy(sid)
