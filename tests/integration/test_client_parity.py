"""A client agent's API and CLI against a server's: the same answers, and
where Consul's client agent answers from its own view (a prepared query's
Near "_agent", the event filters of /v1/event/list) the client's node, not
the serving server's. Snapshots stream through a client (saved and restored
there as on a server)."""
import subprocess

from conftest import CAIRN_BIN, wait_until
from test_client_agent import clients, cluster  # noqa: F401 (fixtures)


def test_same_answers_as_server(cluster, clients):
    s1 = cluster.agents[0]
    # Joined as Consul's: one gossip address; the servers found in the pool.
    c1 = clients("c1", ports=[], extra_args=["-retry-join=127.0.0.1:%d" % s1.serf_port]).start()
    r = c1.put_json("/v1/agent/service/register", {"Name": "web", "Port": 80})
    assert r.status_code == 200, r.text
    assert s1.kv_put("k", "v")
    for path in ("/v1/status/leader", "/v1/status/peers", "/v1/catalog/services",
                 "/v1/catalog/nodes", "/v1/health/service/web", "/v1/kv/k",
                 "/v1/operator/raft/configuration", "/v1/internal/ui/nodes",
                 "/v1/coordinate/nodes", "/v1/catalog/datacenters"):
        # Stale reads: wait until the server the client uses has caught up.
        want = s1.get(path + ("&" if "?" in path else "?") + "consistent")
        wait_until(lambda: c1.get(path + "?consistent").text == want.text, timeout=15,
                   what="%s through the client = the server's" % path)
        got = c1.get(path + "?consistent")
        assert got.status_code == want.status_code == 200, (path, got.text)
    # Agent endpoints are the client's own, shaped as a server's.
    me = c1.get("/v1/agent/self").json()
    assert me["Config"]["NodeName"] == "c1" and me["Config"]["Server"] is False
    assert set(me) == set(s1.get("/v1/agent/self").json())
    assert "Gauges" in c1.get("/v1/agent/metrics").json()
    wait_until(lambda: {m["Name"] for m in c1.get("/v1/agent/members").json()} >=
               {"c1"} | {a.name for a in cluster.agents}, what="the pool in the client's members")
    # The CLI pointed at a client.
    for args, want in ((["members"], "c1"), (["catalog", "services"], "web"),
                       (["kv", "get", "k"], "v"), (["operator", "raft", "list-peers"], "n1"),
                       (["info"], "services = 1")):
        out = subprocess.run([CAIRN_BIN] + args + ["-http-addr=127.0.0.1:%d" % c1.http_port],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0 and want in out.stdout, (args, out.stdout + out.stderr)


def test_agent_view_query_near_and_events(cluster, clients):
    s1 = cluster.agents[0]
    c1 = clients("c1").start()
    r = c1.put_json("/v1/agent/service/register", {"Name": "web", "Port": 80,
                                                   "Address": "10.0.0.1"})
    assert r.status_code == 200, r.text
    for i in range(2, 8):
        r = s1.put_json("/v1/catalog/register", {
            "Node": "x%d" % i, "Address": "10.0.0.%d" % i,
            "Service": {"ID": "web", "Service": "web", "Port": 80}})
        assert r.status_code == 200
    r = s1.put_json("/v1/agent/service/register", {"Name": "web", "Address": "10.0.1.1"})
    assert r.status_code == 200
    r = s1.request("POST", "/v1/query", json={"Name": "nearq",
                                              "Service": {"Service": "web", "Near": "_agent"}})
    assert r.status_code == 200, r.text
    wait_until(lambda: len(c1.get("/v1/catalog/service/web?consistent").json()) == 8,
               what="every instance")
    for _ in range(8):
        got = c1.get("/v1/query/nearq/execute?consistent").json()["Nodes"]
        assert got[0]["Node"]["Node"] == "c1", [n["Node"]["Node"] for n in got]
        got = s1.get("/v1/query/nearq/execute?consistent").json()["Nodes"]
        assert got[0]["Node"]["Node"] == s1.name
    # An event for the client's node only: the client lists it, a server not.
    r = s1.request("PUT", "/v1/event/fire/deploy?node=^c1$", data=b"x")
    assert r.status_code == 200, r.text
    eid = r.json()["ID"]
    wait_until(lambda: eid in [e["ID"] for e in c1.get("/v1/event/list?consistent").json()],
               what="the client lists the event for its node")
    assert eid not in [e["ID"] for e in s1.get("/v1/event/list?consistent").json()]
    # Another agent cannot claim to be c1 by header: only a client's own
    # forwarded requests name their node.
    hdr = {"X-Cairn-Agent-Node": "c1"}
    assert eid not in [e["ID"] for e in
                       s1.get("/v1/event/list?consistent", headers=hdr).json()]


def test_snapshot_through_client(tmp_path, cluster, clients):
    s1 = cluster.agents[0]
    c1 = clients("c1").start()
    assert s1.kv_put("before", "1")
    r = c1.get("/v1/snapshot?consistent", timeout=60)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/octet-stream"
    assert int(r.headers["X-Consul-Index"]) > 0
    snap = r.content
    assert len(snap) > 100
    assert s1.kv_put("after", "2")
    r = c1.request("PUT", "/v1/snapshot", data=snap, timeout=60)
    assert r.status_code == 200, r.text
    wait_until(lambda: s1.get("/v1/kv/after?consistent").status_code == 404,
               what="the restore through the client applied")
    assert s1.get("/v1/kv/before?consistent").status_code == 200
    # The CLI against the client.
    path = str(tmp_path / "c.snap")
    out = subprocess.run([CAIRN_BIN, "snapshot", "save", "-http-addr=127.0.0.1:%d" % c1.http_port,
                          path], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    out = subprocess.run([CAIRN_BIN, "snapshot", "inspect", path], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and "Index" in out.stdout, out.stdout + out.stderr
