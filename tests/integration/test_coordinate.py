"""/v1/coordinate/* in a single datacenter without gossip: Consul's shapes
(https://developer.hashicorp.com/consul/api-docs/coordinate,
agent/coordinate_endpoint.go) with no coordinates in them, as
docs/consul-compat.md says."""

import consul

from conftest import index_of


def test_datacenters(agent):
    r = agent.get("/v1/coordinate/datacenters")
    assert r.status_code == 200
    # Sample response shape: [{"Datacenter", "AreaID": "WAN", "Coordinates": [...]}]
    assert r.json() == [{"Datacenter": "dc1", "AreaID": "WAN", "Coordinates": []}]
    # Not a blocking endpoint: no index header.
    assert "X-Consul-Index" not in r.headers


def test_nodes_and_node(agent):
    r = agent.get("/v1/coordinate/nodes")
    assert r.status_code == 200 and r.json() == []
    assert index_of(r) >= 1
    # A node without coordinates: 404 with an empty body (CoordinateNode).
    r = agent.get("/v1/coordinate/node/" + agent.name)
    assert (r.status_code, r.text) == (404, "")
    assert index_of(r) >= 1
    c = consul.Consul(host="127.0.0.1", port=agent.http_port)
    assert c.coordinate.datacenters()[0]["Datacenter"] == "dc1"
    idx, nodes = c.coordinate.nodes()
    assert nodes == [] and int(idx) >= 1


def test_update_refused(agent):
    r = agent.put_json("/v1/coordinate/update",
                       {"Node": agent.name, "Coord": {"Vec": [0] * 8, "Error": 1.5}})
    assert r.status_code == 400
    assert "no network coordinates" in r.text
    assert agent.get("/v1/coordinate/update").status_code == 405
