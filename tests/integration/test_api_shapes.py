"""Field-by-field comparison of cairn's JSON with the sample responses of
Consul's API documentation (tests/integration/fixtures/consul-docs/, each
with the URL of its doc page).

For every object compared:
  - every key of the doc sample is in cairn's answer, except the Consul
    Enterprise keys (Namespace, Partition) and keys named in MISSING_OK with
    the reason (e.g. the sample is a mesh proxy);
  - every key of cairn's answer is in the doc sample, or in EXTRA_OK: keys
    Consul itself sends for that struct but the (abbreviated) sample leaves
    out, each with the Consul struct that has it. Anything else is an extra
    field Consul does not have (the issue-13 bugs: Datacenter in catalog node
    service entries, CreateIndex/ModifyIndex in agent service output).
"""
import json
import pathlib

import pytest

FIX = pathlib.Path(__file__).resolve().parent / "fixtures" / "consul-docs"
ENTERPRISE = {"Namespace", "Partition"}

# Keys Consul sends that a sample abbreviates: (object kind) -> {key: why}.
NODE_SERVICE_EXTRA = {
    "Address": "structs.NodeService.Address", "Weights": "structs.NodeService.Weights",
    "EnableTagOverride": "structs.NodeService.EnableTagOverride",
    "Proxy": "structs.NodeService.Proxy (a struct, never omitted)",
    "Connect": "structs.NodeService.Connect (a struct, never omitted)",
    "CreateIndex": "structs.NodeService embeds RaftIndex",
    "ModifyIndex": "structs.NodeService embeds RaftIndex",
    "TaggedAddresses": "structs.NodeService.TaggedAddresses (omitempty)",
}
NODE_EXTRA = {"CreateIndex": "structs.Node embeds RaftIndex",
              "ModifyIndex": "structs.Node embeds RaftIndex"}
CHECK_EXTRA = {k: "structs.HealthCheck." + k for k in
               ("Type", "Interval", "Timeout", "ExposedPort", "Definition", "CreateIndex",
                "ModifyIndex")}
EXTRA_OK = {
    "agent-service": {},
    "node": NODE_EXTRA,
    "node-service": NODE_SERVICE_EXTRA,
    "check": CHECK_EXTRA,
    "catalog-service": {"ServiceKind": "structs.ServiceNode.ServiceKind",
                        "ServiceWeights": "structs.ServiceNode.ServiceWeights"},
    "self": {"Stats": "AgentSelf's Stats (the sample leaves it out)"},
    "self-config": {"PrimaryDatacenter": "AgentSelf Config (Consul >= 1.4)",
                    "BuildDate": "AgentSelf Config (Consul >= 1.10)",
                    "CairnVersion": "cairn's own version, documented in consul-compat.md"},
    "coord": {"Height": "coordinate.Coordinate.Height"},
    "member": {},
    "metrics": {},
    "metrics-gauge": {},
    "metrics-sample": {"Rate": "go-metrics AggregateSample.Rate (newer than the sample)"},
    "member-tags": dict({k: "serf tag a Consul server sets" for k in
                         ("acls", "build", "raft_vsn", "segment", "vsn", "vsn_max", "vsn_min",
                          "id")},
                        coord_v="cairn's: this member reads ACK coordinate trailers "
                                "(docs/consul-compat.md, Coordinates)",
                        wan_join_port="serf tag a Consul server with a WAN pool sets "
                                      "(its serf_wan port, for the flood joiner)"),
}
MISSING_OK = {
    "agent-service": {"Kind": "the sample is a connect-proxy; the compared service is a typical "
                              "one (Kind omitempty)",
                      "Proxy": "the sample is a connect-proxy; the compared service is a typical "
                               "one (Proxy omitted, as api.AgentService)"},
}


def load(name):
    return json.loads((FIX / (name + ".json")).read_text())["sample"]


def compare(kind, doc, got, where):
    assert isinstance(got, dict), "%s: cairn answered %r" % (where, got)
    extra_ok = EXTRA_OK.get(kind, {})
    missing_ok = MISSING_OK.get(kind, {})
    missing = [k for k in doc if k not in got and k not in ENTERPRISE and k not in missing_ok]
    extra = [k for k in got if k not in doc and k not in extra_ok]
    assert not missing, "%s: keys of Consul's sample missing in cairn's: %s" % (where, missing)
    assert not extra, "%s: keys Consul does not send: %s" % (where, extra)


def register(agent, body):
    r = agent.put("/v1/agent/service/register", data=json.dumps(body))
    assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def redis(agent):
    register(agent, {"Name": "redis", "ID": "redis", "Tags": ["primary"], "Port": 8000,
                     "Address": "10.1.10.12", "Meta": {"redis_version": "4.0"},
                     "Weights": {"Passing": 10, "Warning": 1},
                     "TaggedAddresses": {"lan": {"Address": "10.1.10.12", "Port": 8000},
                                         "wan": {"Address": "198.18.1.2", "Port": 80}},
                     "Check": {"TTL": "30s", "Name": "Service 'redis' check"}})
    assert agent.put("/v1/agent/check/pass/service:redis").status_code == 200
    return "redis"


def test_agent_services(agent, redis):
    doc = load("agent-services")["redis"]
    got = agent.get("/v1/agent/services").json()["redis"]
    compare("agent-service", doc, got, "/v1/agent/services")


def test_agent_service(agent, redis):
    doc = load("agent-service")
    got = agent.get("/v1/agent/service/redis").json()
    compare("agent-service", doc, got, "/v1/agent/service/:id")


def test_health_service(agent, redis):
    doc = load("health-service")[0]
    got = agent.get("/v1/health/service/redis").json()
    assert len(got) == 1
    e = got[0]
    assert set(e) == set(doc)
    compare("node", doc["Node"], e["Node"], "health/service Node")
    compare("node-service", doc["Service"], e["Service"], "health/service Service")
    for c in e["Checks"]:
        compare("check", doc["Checks"][0], c, "health/service Checks")


def test_health_state(agent, redis):
    doc = load("health-state")[0]
    for c in agent.get("/v1/health/state/passing").json():
        compare("check", doc, c, "health/state")


def test_catalog_service(agent, redis):
    doc = load("catalog-service")[0]
    got = agent.get("/v1/catalog/service/redis").json()
    assert len(got) == 1
    compare("catalog-service", doc, got[0], "catalog/service")


def test_catalog_node(agent, redis):
    doc = load("catalog-node")
    got = agent.get("/v1/catalog/node/" + agent.name).json()
    assert set(got) == set(doc)
    compare("node", doc["Node"], got["Node"], "catalog/node Node")
    for sid, s in got["Services"].items():
        d = doc["Services"]["consul" if sid == "consul" else "redis"]
        compare("node-service", d, s, "catalog/node Services." + sid)


def test_catalog_node_services(agent, redis):
    doc = load("catalog-node-services")
    got = agent.get("/v1/catalog/node-services/" + agent.name).json()
    assert set(got) == set(doc)
    compare("node", doc["Node"], got["Node"], "catalog/node-services Node")
    for s in got["Services"]:
        d = doc["Services"][0 if s["ID"] == "consul" else 1]
        compare("node-service", d, s, "catalog/node-services Services")


def test_catalog_services(agent, redis):
    got = agent.get("/v1/catalog/services").json()
    assert isinstance(got, dict)
    assert all(isinstance(v, list) for v in got.values())
    assert got["redis"] == ["primary"] and got["consul"] == []


def test_agent_self(agent):
    doc = load("agent-self")
    got = agent.get("/v1/agent/self").json()
    compare("self", doc, got, "agent/self")
    compare("self-config", doc["Config"], got["Config"], "agent/self Config")
    compare("coord", doc["Coord"], got["Coord"], "agent/self Coord")
    compare("member", doc["Member"], got["Member"], "agent/self Member")
    compare("member-tags", doc["Member"]["Tags"], got["Member"]["Tags"], "Member.Tags")
    # Meta is the node's metadata: its keys are the node's own, not a shape.
    assert isinstance(got["Meta"], dict)


def test_agent_members(agent):
    doc = load("agent-members")[0]
    got = agent.get("/v1/agent/members").json()
    assert len(got) == 1
    compare("member", doc, got[0], "agent/members")
    compare("member-tags", doc["Tags"], got[0]["Tags"], "agent/members Tags")


def test_agent_metrics(agent):
    doc = load("agent-metrics")
    agent.kv_put("shape/metrics", "x")  # a counter and samples in the interval
    got = agent.get("/v1/agent/metrics").json()
    compare("metrics", doc, got, "agent/metrics")
    assert isinstance(got["Timestamp"], str) and got["Timestamp"].endswith(" +0000 UTC")
    assert got["Points"] == []
    assert got["Gauges"] and got["Counters"] and got["Samples"]
    for g in got["Gauges"]:
        compare("metrics-gauge", doc["Gauges"][0], g, "agent/metrics Gauges")
        assert isinstance(g["Labels"], dict)
    for kind in ("Counters", "Samples"):
        for c in got[kind]:
            compare("metrics-sample", doc[kind][0], c, "agent/metrics " + kind)
            assert isinstance(c["Count"], int) and isinstance(c["Labels"], dict)


def test_fixtures_cite_their_doc():
    for p in FIX.glob("*.json"):
        j = json.loads(p.read_text())
        assert j["source"].startswith("https://developer.hashicorp.com/consul/api-docs/"), p
        assert "sample" in j
