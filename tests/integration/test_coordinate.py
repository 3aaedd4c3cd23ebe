"""Network coordinates (https://developer.hashicorp.com/consul/api-docs/coordinate,
agent/coordinate_endpoint.go, agent/consul/coordinate_endpoint.go, rtt.go):
Vivaldi coordinates computed by the LAN gossip pool from its probes' round
trips, sent by every agent to the servers, batched into the replicated
coordinates table, read back through /v1/coordinate/*, used by ?near= and
`cairn rtt`. Three servers on loopback, with short intervals (the
sync_coordinate_interval_min and consul.coordinate.update_period keys)."""
import json
import os

import pytest

from conftest import (Cluster, assert_no_sanitizer_reports, cairn_cli, index_of,
                      wait_until)

FAST = {"sync_coordinate_interval_min": "200ms",
        "consul": {"coordinate": {"update_period": "200ms"}}}


def write_conf(tmp_path, obj, name="coord.json"):
    p = os.path.join(str(tmp_path), name)
    with open(p, "w") as f:
        json.dump(obj, f)
    return p


@pytest.fixture
def trio(tmp_path):
    conf = write_conf(tmp_path, FAST)
    c = Cluster(tmp_path, 3, extra_args=["-config-file=" + conf])
    try:
        c.start()
        yield c
    finally:
        for a in c.agents:
            a.close()
    assert_no_sanitizer_reports(c.agents)


def coord_nodes(agent, **params):
    r = agent.get("/v1/coordinate/nodes", params=params)
    assert r.status_code == 200, r.text
    return r


def coord(x, err=0.2):
    """A coordinate x seconds from the origin along the first axis."""
    return {"Vec": [x] + [0.0] * 7, "Error": err, "Adjustment": 0.0, "Height": 1e-05}


def register(agent, node, svc=None):
    body = {"Node": node, "Address": "192.0.2.10"}
    if svc:
        body["Service"] = {"ID": svc + "-" + node, "Service": svc, "Port": 80}
    r = agent.put_json("/v1/catalog/register", body)
    assert r.status_code == 200, r.text


def update(agent, node, c):
    return agent.put_json("/v1/coordinate/update", {"Node": node, "Coord": c})


def test_gossip_coordinates_reach_the_catalog(trio):
    """Every server's gossip coordinate appears in /v1/coordinate/nodes
    (Consul's shape, blocking on the table); /node/:node answers one entry,
    404 with an empty body for a node without one; ?filter and ?segment."""
    a = trio.agents[0]
    names = sorted(x.name for x in trio.agents)

    def all_there():
        got = coord_nodes(a).json()
        return sorted(e["Node"] for e in got) == names and got
    got = wait_until(all_there, timeout=30, what="three coordinates in /v1/coordinate/nodes")
    for e in got:
        assert set(e) == {"Node", "Segment", "Coord"}
        assert e["Segment"] == ""
        assert set(e["Coord"]) == {"Vec", "Error", "Adjustment", "Height"}
        assert len(e["Coord"]["Vec"]) == 8
        assert 0 <= e["Coord"]["Error"] <= 1.5
    # the probes moved them: the error drops from the initial 1.5
    wait_until(lambda: all(e["Coord"]["Error"] < 1.5 for e in coord_nodes(a).json()),
               timeout=30, what="errors below 1.5 after probes")
    # a blocking query wakes on the next batch
    r = coord_nodes(a)
    idx = index_of(r)
    r2 = a.get("/v1/coordinate/nodes", params={"index": idx, "wait": "10s"})
    assert r2.status_code == 200 and index_of(r2) > idx
    # one node
    r = a.get("/v1/coordinate/node/" + names[1])
    assert r.status_code == 200
    assert [e["Node"] for e in r.json()] == [names[1]]
    assert index_of(r) >= 1
    r = a.get("/v1/coordinate/node/nosuchnode")
    assert (r.status_code, r.text) == (404, "")
    # ?filter (Node, Segment) and ?segment
    assert [e["Node"] for e in coord_nodes(a, filter='Node == "%s"' % names[2]).json()] \
        == [names[2]]
    assert coord_nodes(a, segment="alpha").json() == []
    assert a.get("/v1/coordinate/nodes", params={"filter": "Nope == 1"}).status_code == 400
    # the datacenters list: this datacenter with its servers' coordinates
    r = a.get("/v1/coordinate/datacenters")
    assert r.status_code == 200 and "X-Consul-Index" not in r.headers
    dcs = r.json()
    assert [d["Datacenter"] for d in dcs] == ["dc1"] and dcs[0]["AreaID"] == "WAN"
    assert [e["Node"] for e in dcs[0]["Coordinates"]] == names


def test_update_validation(trio):
    """PUT /v1/coordinate/update: Consul's body and errors."""
    a = trio.agents[0]
    register(a, "ext-v")
    ok = update(a, "ext-v", coord(0.01))
    assert (ok.status_code, ok.text) == (200, "")
    wait_until(lambda: a.get("/v1/coordinate/node/ext-v").status_code == 200,
               what="the update batched into the table")
    got = a.get("/v1/coordinate/node/ext-v").json()
    assert got == [{"Node": "ext-v", "Segment": "", "Coord": coord(0.01)}]
    cases = [
        ({"Node": "ext-v"}, 500, "invalid coordinate"),
        ({"Node": "ext-v", "Coord": {"Vec": [0, 0, 0], "Error": 1}}, 500,
         "incompatible coordinate"),
        ({"Node": "ext-v", "Coord": dict(coord(0), Error="x")}, 400, "Request decode failed"),
        ({"Node": "ext-v", "Coord": coord(0), "Bogus": 1}, 400, "unknown field"),
        ({"Coord": coord(0)}, 400, "Missing node name"),
        ({"Node": "ext-v", "Segment": "alpha", "Coord": coord(0)}, 400, "segments"),
    ]
    for body, status, text in cases:
        r = a.put_json("/v1/coordinate/update", body)
        assert r.status_code == status and text in r.text, (body, r.status_code, r.text)
    r = a.put("/v1/coordinate/update", data=b"{not json")
    assert r.status_code == 400 and "Request decode failed" in r.text
    # an infinite component (a number json-c reads as inf) is not a coordinate
    r = a.put("/v1/coordinate/update",
              data=b'{"Node":"ext-v","Coord":{"Vec":[1e999,0,0,0,0,0,0,0],"Error":1,'
                   b'"Adjustment":0,"Height":0}}')
    assert r.status_code in (400, 500) and r.status_code != 200
    assert a.get("/v1/coordinate/update").status_code == 405
    # nothing of the refused updates got in
    assert a.get("/v1/coordinate/node/ext-v").json() == got
    # deregistering the node removes its coordinate
    r = a.put_json("/v1/catalog/deregister", {"Node": "ext-v"})
    assert r.status_code == 200
    wait_until(lambda: a.get("/v1/coordinate/node/ext-v").status_code == 404,
               what="the coordinate gone with its node")


def test_near_sorting(trio):
    """?near= on catalog nodes, catalog service and health service, and a
    prepared query's Near: by estimated round trip, nodes without a
    coordinate last; ?near=_agent puts the agent's own node first."""
    a = trio.agents[0]
    far = ["ext-c", "ext-a", "ext-b"]  # 30, 10, 20 ms from the origin
    dist = {"ext-a": 0.010, "ext-b": 0.020, "ext-c": 0.030}
    for n in far + ["ext-none"]:
        register(a, n, svc="web")
    for n in far:
        assert update(a, n, coord(dist[n])).status_code == 200
    wait_until(lambda: all(a.get("/v1/coordinate/node/" + n).status_code == 200 for n in far),
               what="the three coordinates in the table")
    wait_until(lambda: a.get("/v1/coordinate/node/" + a.name).status_code == 200,
               what="the agent's own coordinate")

    def nodes(path, **params):
        r = a.get(path, params=params)
        assert r.status_code == 200, r.text
        return r.json()
    order = [n["Node"] for n in nodes("/v1/catalog/nodes", near="_agent")]
    assert order[0] == a.name
    assert order[-4:] == ["ext-a", "ext-b", "ext-c", "ext-none"]
    # without ?near the catalog's own (name) order
    assert [n["Node"] for n in nodes("/v1/catalog/nodes")] == sorted(order)
    # from ext-c: c, b, a, then the servers near the origin, ext-none last
    order = [n["Node"] for n in nodes("/v1/catalog/nodes", near="ext-c")]
    assert order[:3] == ["ext-c", "ext-b", "ext-a"] and order[-1] == "ext-none"
    svc = [s["Node"] for s in nodes("/v1/catalog/service/web", near="ext-c")]
    assert svc == ["ext-c", "ext-b", "ext-a", "ext-none"]
    hs = [e["Node"]["Node"] for e in nodes("/v1/health/service/web", near="ext-b")]
    assert hs[0] == "ext-b" and hs[-1] == "ext-none" and set(hs[1:3]) == {"ext-a", "ext-c"}
    # ?near with ?filter: the kept items are sorted
    flt = [s["Node"] for s in nodes("/v1/catalog/service/web", near="ext-a",
                                    filter='Node != "ext-b"')]
    assert flt == ["ext-a", "ext-c", "ext-none"]
    # a source without a coordinate leaves the order as it was
    assert [s["Node"] for s in nodes("/v1/catalog/service/web", near="ext-none")] \
        == sorted(far + ["ext-none"])
    # a prepared query's Near
    r = a.request("POST", "/v1/query",
                  data=json.dumps({"Name": "webq", "Service": {"Service": "web", "Near": "ext-c"}}))
    assert r.status_code == 200, r.text
    ex = a.get("/v1/query/webq/execute").json()
    assert [n["Node"]["Node"] for n in ex["Nodes"]] == ["ext-c", "ext-b", "ext-a", "ext-none"]
    ex = a.get("/v1/query/webq/execute", params={"near": "ext-a"}).json()
    assert [n["Node"]["Node"] for n in ex["Nodes"]][:3] == ["ext-a", "ext-b", "ext-c"]


def test_rtt_cli(trio):
    a = trio.agents[0]
    b = trio.agents[1]
    wait_until(lambda: len(coord_nodes(a).json()) == 3, timeout=30, what="three coordinates")
    out = cairn_cli("rtt", b.name, http_port=a.http_port)
    assert out.returncode == 0, out.stderr
    line = out.stdout.strip()
    assert line.startswith("Estimated %s <-> %s rtt: " % (b.name, a.name)), line
    assert line.endswith(" ms (using LAN coordinates)"), line
    ms = float(line.split("rtt: ")[1].split(" ms")[0])
    assert 0 <= ms < 1000
    out = cairn_cli("rtt", a.name, b.name, http_port=a.http_port)
    assert out.returncode == 0 and "Estimated %s <-> %s rtt" % (a.name, b.name) in out.stdout
    out = cairn_cli("rtt", "nosuchnode", http_port=a.http_port)
    assert out.returncode == 1 and 'Could not find a coordinate for node "nosuchnode"' in out.stderr
    out = cairn_cli("rtt", http_port=a.http_port)
    assert out.returncode == 1 and "One or two node names must be specified" in out.stderr
    out = cairn_cli("rtt", "-wan", a.name + ".dc1", http_port=a.http_port)
    assert out.returncode == 1 and "-wan is not supported" in out.stderr


def test_coordinates_survive_restart_from_snapshot(agent_factory, tmp_path):
    """The coordinates table is in the snapshot (format 5): a restarted
    agent that recovers from a snapshot has them."""
    conf = write_conf(tmp_path, {"sync_coordinate_interval_min": "100ms",
                                 "consul": {"coordinate": {"update_period": "100ms"}}},
                      "snapconf.json")
    a = agent_factory("csnap", extra_args=["-config-file=" + conf,
                                            "-raft-snapshot-threshold=16",
                                            "-raft-snapshot-interval=100ms"])
    register(a, "ext-s")
    assert update(a, "ext-s", coord(0.005)).status_code == 200
    wait_until(lambda: a.get("/v1/coordinate/node/ext-s").status_code == 200,
               what="the coordinate in the table")
    for i in range(40):
        a.kv_put("fill/%d" % i, b"x")
    snaps = os.path.join(a.data_dir, "raft", "snapshots")
    wait_until(lambda: os.path.isdir(snaps) and any(f.endswith(".snap")
                                                   for f in os.listdir(snaps)),
               timeout=60, what="a snapshot file")
    before = a.get("/v1/coordinate/node/ext-s").json()
    a.restart()
    r = a.get("/v1/coordinate/node/ext-s")
    assert r.status_code == 200 and r.json() == before


def test_disabled(agent_factory, tmp_path):
    conf = write_conf(tmp_path, {"disable_coordinates": True}, "off.json")
    a = agent_factory("coff", extra_args=["-config-file=" + conf])
    for path in ("/v1/coordinate/nodes", "/v1/coordinate/datacenters",
                 "/v1/coordinate/node/" + a.name):
        r = a.get(path)
        assert (r.status_code, r.text) == (401, "Coordinate support disabled"), path
    r = update(a, a.name, coord(0))
    assert (r.status_code, r.text) == (401, "Coordinate support disabled")


def test_client_agent_sends_its_coordinate(trio, tmp_path):
    """A client agent sends PUT /v1/coordinate/update to its server (with
    the agent token), as Consul's agent does over RPC."""
    from test_client_agent import ClientAgent
    c = ClientAgent(tmp_path, "cc1", [], extra_args=[
        "-retry-join=127.0.0.1:%d" % trio.agents[0].serf_port,
        "-config-file=" + write_conf(tmp_path, FAST, "client.json")])
    try:
        c.start()
        a = trio.agents[1]
        wait_until(lambda: a.get("/v1/coordinate/node/cc1").status_code == 200, timeout=30,
                   what="the client agent's coordinate in the table")
        # and the client answers the coordinate endpoints through a server
        assert "cc1" in [e["Node"] for e in c.get("/v1/coordinate/nodes").json()]
        order = [n["Node"] for n in c.get("/v1/catalog/nodes?near=_agent").json()]
        assert order[0] == "cc1"
        out = cairn_cli("rtt", a.name, http_port=c.http_port)
        assert out.returncode == 0 and "Estimated %s <-> cc1 rtt" % a.name in out.stdout, \
            out.stderr
    finally:
        c.stop()
        c.close()
    assert_no_sanitizer_reports([c])
