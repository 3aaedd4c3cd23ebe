"""Prepared queries (https://developer.hashicorp.com/consul/api-docs/query;
agent/prepared_query_endpoint.go, agent/consul/prepared_query_endpoint.go):
create/list/read/update/delete, execute and explain by ID, by name and through
a name_prefix_match template, Consul's filters (health, tags with "!",
NodeMeta, ServiceMeta, IgnoreCheckIDs, Near=_agent, ?limit), Consul's error
texts, python-consul's query API, `cairn services query`, persistence across
a restart from a snapshot, and what cairn refuses (docs/consul-compat.md)."""

import json

import consul
import pytest

from conftest import cairn_cli, index_of, wait_until

QUERY_KEYS = ["ID", "Name", "Session", "Token", "Template", "Service", "DNS", "CreateIndex",
              "ModifyIndex"]
SERVICE_KEYS = ["Service", "Failover", "OnlyPassing", "IgnoreCheckIDs", "Near", "Tags",
                "NodeMeta", "ServiceMeta", "Connect"]


@pytest.fixture(scope="module")
def cat(agent):
    """redis on three nodes: n-a (primary, passing), n-b (experimental,
    warning), n-c (critical), and the agent's own instance (primary)."""
    def reg(node, addr, sid, tags, status, meta=None, nmeta=None):
        body = {"Node": node, "Address": addr, "NodeMeta": nmeta or {},
                "Service": {"ID": sid, "Service": "redis", "Tags": tags, "Port": 6379,
                            "Meta": meta or {}},
                "Check": {"CheckID": "chk-" + sid, "Name": "c", "Status": status,
                          "ServiceID": sid}}
        r = agent.put_json("/v1/catalog/register", body)
        assert r.status_code == 200, r.text
    reg("n-a", "10.0.0.1", "r1", ["primary"], "passing", {"env": "prod"}, {"rack": "r1"})
    reg("n-b", "10.0.0.2", "r2", ["experimental", "primary"], "warning", {"env": "prod"})
    reg("n-c", "10.0.0.3", "r3", ["primary"], "critical")
    r = agent.put_json("/v1/agent/service/register",
                       {"ID": "r0", "Name": "redis", "Tags": ["primary"], "Port": 6380})
    assert r.status_code == 200
    return agent


def create(agent, body, status=200):
    r = agent.request("POST", "/v1/query", data=json.dumps(body))
    assert r.status_code == status, r.text
    return r.json()["ID"] if status == 200 else r.text


def execute(agent, key, **params):
    r = agent.get("/v1/query/%s/execute" % key, params=params)
    assert r.status_code == 200, r.text
    return r


def nodes_of(r):
    return sorted((e["Node"]["Node"], e["Service"]["ID"]) for e in r.json()["Nodes"])


def test_create_read_list_shape(cat):
    # api-docs/query.mdx: create answers {"ID": ...}; read answers a list of
    # one query in PreparedQuery's fields (the Go struct embeds RaftIndex, so
    # CreateIndex/ModifyIndex are top-level keys).
    qid = create(cat, {"Name": "my-query", "Token": "",
                       "Service": {"Service": "redis", "Near": "node1", "OnlyPassing": False,
                                   "Tags": ["primary", "!experimental"],
                                   "NodeMeta": {"instance_type": "m3.large"},
                                   "ServiceMeta": {"environment": "production"},
                                   "Failover": {"NearestN": 3, "Datacenters": ["dc1"]}},
                       "DNS": {"TTL": "10s"}})
    r = cat.get("/v1/query/" + qid)
    assert r.status_code == 200 and index_of(r) >= 1
    [q] = r.json()
    assert list(q) == QUERY_KEYS
    assert list(q["Service"]) == SERVICE_KEYS
    assert q["ID"] == qid and q["Name"] == "my-query" and q["Session"] == ""
    assert q["Template"] == {"Type": "", "Regexp": "", "RemoveEmptyTags": False}
    assert q["Service"]["Failover"] == {"NearestN": 3, "Datacenters": ["dc1"]}
    assert q["Service"]["Tags"] == ["primary", "!experimental"]
    assert q["Service"]["NodeMeta"] == {"instance_type": "m3.large"}
    assert q["Service"]["IgnoreCheckIDs"] is None and q["Service"]["Connect"] is False
    assert q["DNS"] == {"TTL": "10s"}
    assert q["CreateIndex"] == q["ModifyIndex"] >= 1
    lst = cat.get("/v1/query").json()
    assert qid in [x["ID"] for x in lst]
    # Update (PUT, empty 200), then delete (DELETE, empty 200).
    r = cat.put_json("/v1/query/" + qid, {"Name": "my-query", "Service": {"Service": "redis"}})
    assert (r.status_code, r.text) == (200, "")
    q2 = cat.get("/v1/query/" + qid).json()[0]
    assert q2["CreateIndex"] == q["CreateIndex"] and q2["ModifyIndex"] > q["ModifyIndex"]
    assert q2["Service"]["Tags"] is None and q2["DNS"] == {"TTL": ""}
    r = cat.delete("/v1/query/" + qid)
    assert (r.status_code, r.text) == (200, "")
    r = cat.get("/v1/query/" + qid)
    assert (r.status_code, r.text) == (404, "Query not found")


def test_execute_filters_and_shape(cat):
    qid = create(cat, {"Name": "redis-prod", "Service": {"Service": "redis"},
                       "DNS": {"TTL": "10s"}})
    r = execute(cat, qid)
    body = r.json()
    # Sample response: Service, Nodes (health entries), DNS, Datacenter, Failovers.
    assert list(body) == ["Service", "Nodes", "DNS", "Datacenter", "Failovers"]
    assert body["Service"] == "redis" and body["DNS"] == {"TTL": "10s"}
    assert body["Datacenter"] == "dc1" and body["Failovers"] == 0
    assert list(body["Nodes"][0]) == ["Node", "Service", "Checks"]
    # Critical instances never come back; warning does unless OnlyPassing.
    assert nodes_of(r) == [(cat.name, "r0"), ("n-a", "r1"), ("n-b", "r2")]
    # By name too.
    assert nodes_of(execute(cat, "redis-prod")) == nodes_of(r)
    q = create(cat, {"Name": "redis-passing", "Service": {"Service": "redis",
                                                          "OnlyPassing": True}})
    assert nodes_of(execute(cat, q)) == [(cat.name, "r0"), ("n-a", "r1")]
    q = create(cat, {"Name": "redis-ignore", "Service": {"Service": "redis",
                                                         "IgnoreCheckIDs": ["chk-r3"]}})
    assert ("n-c", "r3") in nodes_of(execute(cat, q))
    q = create(cat, {"Name": "redis-tags",
                     "Service": {"Service": "redis", "Tags": ["PRIMARY", "!experimental"]}})
    assert nodes_of(execute(cat, q)) == [(cat.name, "r0"), ("n-a", "r1")]
    q = create(cat, {"Name": "redis-meta", "Service": {"Service": "redis",
                                                       "NodeMeta": {"rack": "r1"},
                                                       "ServiceMeta": {"env": "prod"}}})
    assert nodes_of(execute(cat, q)) == [("n-a", "r1")]
    # Near=_agent puts the agent's own node first; ?limit cuts after it.
    q = create(cat, {"Name": "redis-near", "Service": {"Service": "redis", "Near": "_agent"}})
    for _ in range(5):
        r = execute(cat, q, limit=1)
        assert [e["Node"]["Node"] for e in r.json()["Nodes"]] == [cat.name]
    r = execute(cat, "redis-prod", near="n-b")
    assert r.json()["Nodes"][0]["Node"]["Node"] == "n-b"
    r = cat.get("/v1/query/%s/execute?limit=x" % qid)
    assert r.status_code == 500 and r.text.startswith("Bad limit: ")


def test_templates(cat):
    # The doc's template: name_prefix_match with a regexp and ${match(N)}.
    tid = create(cat, {"Name": "geo-db", "Template": {"Type": "name_prefix_match",
                                                      "Regexp": "^geo-db-(.*)-([^-]+)$"},
                       "Service": {"Service": "${match(1)}", "Tags": ["${match(2)}"]}})
    r = execute(cat, "geo-db-redis-primary")
    assert r.json()["Service"] == "redis"
    assert nodes_of(r) == [(cat.name, "r0"), ("n-a", "r1"), ("n-b", "r2")]
    ex = cat.get("/v1/query/geo-db-redis-primary/explain")
    assert ex.status_code == 200
    q = ex.json()["Query"]
    assert q["ID"] == tid and q["Service"]["Service"] == "redis"
    assert q["Service"]["Tags"] == ["primary"]
    assert q["Template"]["Type"] == "name_prefix_match"
    # The catch-all template (empty name) with ${name.full}; only one allowed.
    catch_all = create(cat, {"Name": "", "Template": {"Type": "name_prefix_match"},
                             "Service": {"Service": "${name.full}"}})
    assert execute(cat, "redis").json()["Service"] == "redis"
    assert execute(cat, "nothing-here").json()["Nodes"] == []
    assert create(cat, {"Template": {"Type": "name_prefix_match"},
                        "Service": {"Service": "x"}}, 500) == (
        "a query template with an empty name already exists")
    assert create(cat, {"Name": "t", "Template": {"Type": "other"},
                        "Service": {"Service": "x"}}, 500) == (
        "Invalid prepared query: Bad Template.Type 'other'")
    # A static query with that exact name wins over templates.
    create(cat, {"Name": "geo-db-static", "Service": {"Service": "none"}})
    assert execute(cat, "geo-db-static").json()["Service"] == "none"
    assert cat.delete("/v1/query/" + catch_all).status_code == 200
    assert cat.get("/v1/query/anything/execute").status_code == 404


def test_errors(cat):
    assert create(cat, {"Service": {"Service": "redis"}}, 500) == (
        "Invalid prepared query: Must be bound to a session")
    assert create(cat, {"Name": "x"}, 500) == (
        "Invalid prepared query: Must provide a Service name to query")
    assert create(cat, {"Name": "x", "Service": {"Service": "redis"}, "DNS": {"TTL": "zz"}},
                  500).startswith("Invalid prepared query: Bad DNS TTL 'zz'")
    assert create(cat, {"Name": "x", "Session": "nope", "Service": {"Service": "r"}},
                  500) == 'invalid session "nope"'
    create(cat, {"Name": "dup", "Service": {"Service": "redis"}})
    assert create(cat, {"Name": "dup", "Service": {"Service": "redis"}}, 500) == (
        "name 'dup' aliases an existing query name")
    assert create(cat, {"Name": "x", "Service": 5}, 400).startswith("Request decode failed: ")
    # A template pattern that would expand past the bound, or over RE2's repeat
    # limit, is refused before glibc compiles it (base/regex.c).
    for pat, why in [("(a{100}){100}", "expression too large"),
                     ("x{1001}", "invalid repeat count: `{1001}`")]:
        assert create(cat, {"Name": "t-", "Template": {"Type": "name_prefix_match",
                                                        "Regexp": pat},
                            "Service": {"Service": "redis"}}, 500) == (
            "Invalid prepared query: Bad Regexp: " + why)
    r = cat.put_json("/v1/query/00000000-0000-0000-0000-000000000000",
                     {"Name": "z", "Service": {"Service": "redis"}})
    assert (r.status_code, r.text) == (
        500, "Cannot modify non-existent prepared query: '00000000-0000-0000-0000-000000000000'")
    r = cat.delete("/v1/query/00000000-0000-0000-0000-000000000000")
    assert r.status_code == 500 and r.text.startswith("Cannot modify non-existent")
    r = cat.get("/v1/query/nope/execute")
    assert (r.status_code, r.text) == (404, "Query not found")
    assert cat.put("/v1/query/x/execute").status_code == 405
    # What cairn refuses rather than pretends (400, the reason named).
    # (Failover.Datacenters is accepted: WAN federation, test_wan.py.)
    for svc, word in [({"Failover": {"Targets": [{"Datacenter": "dc2"}]}}, "peering"),
                      ({"Connect": True}, "Connect is not supported in prepared queries"),
                      ({"Namespace": "team"}, "Enterprise"),
                      ({"Peer": "p"}, "peering")]:
        svc["Service"] = "redis"
        text = create(cat, {"Name": "refused", "Service": svc}, 400)
        assert word in text, text


def test_session_bound_query_goes_with_session(cat):
    sid = cat.put_json("/v1/session/create", {"Name": "s"}).json()["ID"]
    qid = create(cat, {"Session": sid, "Service": {"Service": "redis"}})
    assert cat.get("/v1/query/" + qid).status_code == 200
    assert cat.put("/v1/session/destroy/" + sid).json() is True
    assert cat.get("/v1/query/" + qid).status_code == 404


def test_python_consul_query_api(cat):
    c = consul.Consul(host="127.0.0.1", port=cat.http_port)
    # python-consul 0.7.1 always sends a name_prefix_match Template.
    q = c.query.create("redis", name="pyq", tags=["primary"], onlypassing=True)
    assert set(q) == {"ID"}
    got = c.query.get(q["ID"])
    assert got[0]["Name"] == "pyq" and got[0]["Service"]["OnlyPassing"] is True
    assert any(x["ID"] == q["ID"] for x in c.query.list())
    res = c.query.execute("pyq")
    assert sorted(e["Node"]["Node"] for e in res["Nodes"]) == sorted([cat.name, "n-a"])
    assert c.query.explain("pyq")["Query"]["ID"] == q["ID"]
    c.query.update(q["ID"], "redis", name="pyq2")
    assert c.query.get(q["ID"])[0]["Name"] == "pyq2"
    c.query.delete(q["ID"])
    assert c.query.get(q["ID"])[1] is None  # the client's answer to a 404: (index, None)


def test_cli_services_query_and_datacenters(cat):
    addr = "-http-addr=127.0.0.1:%d" % cat.http_port
    p = cairn_cli("services", "query", "redis", addr)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["Node", "ID", "Address", "Port", "Health", "Tags"]
    rows = {l.split()[0]: l.split() for l in lines[1:]}
    assert rows["n-a"] == ["n-a", "r1", "10.0.0.1", "6379", "passing", "primary"]
    assert rows["n-b"] == ["n-b", "r2", "10.0.0.2", "6379", "warning", "experimental,primary"]
    assert rows["n-c"][4] == "critical"
    p = cairn_cli("services", "query", "redis", "-passing", "-tag=primary", addr)
    assert sorted(l.split()[0] for l in p.stdout.splitlines()[1:]) == sorted([cat.name, "n-a"])
    p = cairn_cli("services", "query", "nope", addr)
    assert p.returncode == 0 and p.stdout == ""
    assert 'No instances of service "nope"' in p.stderr
    p = cairn_cli("services", "query", addr)
    assert p.returncode == 1
    p = cairn_cli("catalog", "datacenters", addr)
    assert (p.returncode, p.stdout) == (0, "dc1\n")


def test_queries_survive_restart_from_snapshot(agent_factory):
    a = agent_factory("snapq", extra_args=["-raft-snapshot-threshold=1",
                                           "-raft-snapshot-interval=0s"])
    qid = create(a, {"Name": "keep", "Service": {"Service": "redis"}, "DNS": {"TTL": "5s"}})
    for i in range(5):
        a.kv_put("k%d" % i, "v")
    before = a.get("/v1/query/" + qid).json()
    a.restart()
    r = a.get("/v1/query/" + qid)
    assert r.status_code == 200 and r.json() == before
    assert execute(a, "keep").json()["DNS"] == {"TTL": "5s"}
