"""Consul compatibility, second pass (issue 13): ?filter=, name case, the Go
encoder's strings, catalog Weights, mesh fields refused, ?dc/?ns/?partition.

Each test cites the Consul document it follows:
  F  = website/content/api-docs/features/filtering.mdx (go-bexpr v0.1.2, the
       version Consul vendors: grammar.peg, validate.go, evaluate.go)
  C  = website/content/api-docs/catalog.mdx
  H  = website/content/api-docs/health.mdx
  A  = website/content/api-docs/agent/service.mdx, agent/check.mdx
"""

import base64
import json

import pytest


@pytest.fixture(scope="module")
def seeded(agent):
    """Two nodes, three instances of two services, checks in three states."""
    regs = [
        {"Node": "db-1", "Address": "10.0.0.1", "NodeMeta": {"rack": "r1", "env": "prod"},
         "Service": {"ID": "pg-1", "Service": "Postgres", "Tags": ["primary", "v15"],
                     "Port": 5432, "Meta": {"env": "prod"}},
         "Checks": [{"CheckID": "pg-1-alive", "Name": "alive", "Status": "passing",
                     "ServiceID": "pg-1"}]},
        {"Node": "db-2", "Address": "10.0.0.2", "NodeMeta": {"rack": "r2"},
         "Service": {"ID": "pg-2", "Service": "postgres", "Tags": ["replica"],
                     "Port": 5433, "Meta": {"env": "staging"}},
         "Checks": [{"CheckID": "pg-2-alive", "Name": "alive", "Status": "critical",
                     "ServiceID": "pg-2", "Output": "connection refused"}]},
        {"Node": "db-2", "Address": "10.0.0.2", "NodeMeta": {"rack": "r2"},
         "Service": {"ID": "web-1", "Service": "web", "Tags": [], "Port": 80},
         "Checks": [{"CheckID": "web-1-http", "Name": "http", "Status": "warning",
                     "ServiceID": "web-1"}]},
    ]
    for reg in regs:
        r = agent.put("/v1/catalog/register", data=json.dumps(reg))
        assert r.status_code == 200, r.text
        assert r.json() is True
    return agent


def get_json(agent, path, **params):
    r = agent.get(path, params=params)
    assert r.status_code == 200, (path, params, r.status_code, r.text)
    return r.json()


# ---- ?filter= -------------------------------------------------------------------

def test_filter_catalog_nodes(seeded):
    """F: `Meta.env == prod` (unquoted value), `"r2" in Meta.rack`? no: map `in`
    tests keys; C "List Nodes" filtering selectors Node/Address/Meta."""
    nodes = get_json(seeded, "/v1/catalog/nodes", filter='Meta.env == prod')
    assert [n["Node"] for n in nodes] == ["db-1"]
    nodes = get_json(seeded, "/v1/catalog/nodes", filter='"env" in Meta')
    assert [n["Node"] for n in nodes] == ["db-1"]
    nodes = get_json(seeded, "/v1/catalog/nodes", filter='Meta["rack"] == "r2"')
    assert [n["Node"] for n in nodes] == ["db-2"]
    # an absent map key: != is true (evaluate.go)
    nodes = get_json(seeded, "/v1/catalog/nodes", filter='Meta.env != prod and Node matches "^db"')
    assert [n["Node"] for n in nodes] == ["db-2"]


def test_filter_catalog_service_and_services(seeded):
    """C: List Nodes for Service and List Services filter on structs.ServiceNode."""
    insts = get_json(seeded, "/v1/catalog/service/postgres",
                     filter='ServiceTags contains "primary"')
    assert [i["ServiceID"] for i in insts] == ["pg-1"]
    insts = get_json(seeded, "/v1/catalog/service/postgres",
                     filter='ServicePort == 5433 or NodeMeta.rack == r1')
    assert sorted(i["ServiceID"] for i in insts) == ["pg-1", "pg-2"]
    insts = get_json(seeded, "/v1/catalog/service/postgres", filter='ServiceMeta.env == `prod`')
    assert [i["ServiceID"] for i in insts] == ["pg-1"]
    svcs = get_json(seeded, "/v1/catalog/services", filter='ServiceTags is empty')
    assert "web" in svcs and not any(k.lower() == "postgres" for k in svcs)


def test_filter_catalog_node_services(seeded):
    """C: Retrieve Map of Services for a Node / List Services for Node filter
    on structs.NodeService."""
    out = get_json(seeded, "/v1/catalog/node/db-2", filter='Service == web')
    assert list(out["Services"]) == ["web-1"]
    out = get_json(seeded, "/v1/catalog/node-services/db-2", filter='Port != 80')
    assert [s["ID"] for s in out["Services"]] == ["pg-2"]


def test_filter_health(seeded):
    """H: service (CheckServiceNode: Node.*, Service.*, Checks.*), node,
    checks, state (HealthCheck)."""
    out = get_json(seeded, "/v1/health/service/postgres",
                   filter='Checks.Status == critical')
    assert [e["Service"]["ID"] for e in out] == ["pg-2"]
    out = get_json(seeded, "/v1/health/service/postgres",
                   filter='Service.Tags contains primary and Node.Meta.rack == r1')
    assert [e["Service"]["ID"] for e in out] == ["pg-1"]
    out = get_json(seeded, "/v1/health/service/postgres", filter='Checks is not empty')
    assert len(out) == 2
    out = get_json(seeded, "/v1/health/state/any", filter='Status != passing and Status != critical')
    assert [c["CheckID"] for c in out] == ["web-1-http"]
    out = get_json(seeded, "/v1/health/node/db-2", filter='Output contains refused')
    assert [c["CheckID"] for c in out] == ["pg-2-alive"]
    out = get_json(seeded, "/v1/health/checks/postgres", filter='not (Status == passing)')
    assert [c["CheckID"] for c in out] == ["pg-2-alive"]


def test_filter_agent_services_and_checks(seeded):
    """A: List Services / List Checks accept filter (AgentService, HealthCheck)."""
    for body in ({"ID": "a-1", "Name": "api", "Tags": ["blue"], "Port": 8080,
                  "Meta": {"team": "x"}},
                 {"ID": "a-2", "Name": "api", "Tags": ["green"], "Port": 8081,
                  "Check": {"CheckID": "a-2-ttl", "Name": "ttl", "TTL": "30s"}}):
        r = seeded.put("/v1/agent/service/register", data=json.dumps(body))
        assert r.status_code == 200, r.text
    out = get_json(seeded, "/v1/agent/services", filter='Tags contains blue')
    assert list(out) == ["a-1"]
    out = get_json(seeded, "/v1/agent/services", filter='Meta is empty and Service == api')
    assert list(out) == ["a-2"]
    out = get_json(seeded, "/v1/agent/checks", filter='ServiceID == "a-2"')
    assert list(out) == ["a-2-ttl"]
    # pretty output stays valid JSON when items are dropped
    r = seeded.get("/v1/agent/services", params={"filter": 'Port == 8081', "pretty": ""})
    assert list(json.loads(r.text)) == ["a-2"]


@pytest.mark.parametrize("path", [
    "/v1/catalog/nodes", "/v1/catalog/services", "/v1/catalog/service/web",
    "/v1/catalog/node/db-1", "/v1/catalog/node-services/db-1", "/v1/health/service/web",
    "/v1/health/node/db-1", "/v1/health/checks/web", "/v1/health/state/any",
    "/v1/agent/services", "/v1/agent/checks", "/v1/health/connect/web",
])
def test_filter_errors_are_400(seeded, path):
    """F + go-bexpr: a malformed expression or an unknown selector is refused
    with "Failed to create boolean expression evaluator: ..." (400)."""
    r = seeded.get(path, params={"filter": "Foo == 1"})
    assert r.status_code == 400, r.text
    assert r.text == 'Failed to create boolean expression evaluator: Selector "Foo" is not valid'
    r = seeded.get(path, params={"filter": "(("})
    assert r.status_code == 400
    assert r.text.startswith("Failed to create boolean expression evaluator: 1:")


def test_filter_error_texts(seeded):
    """go-bexpr validate.go texts: operator not allowed for the type, coercion."""
    r = seeded.get("/v1/health/service/web", params={"filter": "Service == web"})
    assert r.status_code == 400
    assert r.text == ('Failed to create boolean expression evaluator: '
                      'Invalid match operator "Equal" for selector "Service"')
    r = seeded.get("/v1/catalog/service/web", params={"filter": "ServicePort == eighty"})
    assert r.status_code == 400
    assert 'Failed to coerce value "eighty" for selector "ServicePort"' in r.text
    r = seeded.get("/v1/catalog/nodes", params={"filter": 'Node matches "("'})
    assert r.status_code == 400
    assert r.text.startswith(
        'Failed to create boolean expression evaluator: Failed to compile regular expression "("')
    # A pattern glibc would expand into gigabytes is refused with RE2's words.
    r = seeded.get("/v1/catalog/nodes", params={"filter": 'Node matches "(a{50}){50}"'})
    assert (r.status_code, r.text) == (400, (
        'Failed to create boolean expression evaluator: Failed to compile regular expression '
        '"(a{50}){50}": expression too large'))


def test_filter_blocking_query(seeded):
    """A blocking query with a filter returns when the index moves and applies
    the filter to the new result."""
    r = seeded.get("/v1/catalog/service/web", params={"filter": "ServicePort == 81"})
    assert r.json() == []
    idx = int(r.headers["X-Consul-Index"])
    reg = {"Node": "db-1", "Address": "10.0.0.1",
           "Service": {"ID": "web-2", "Service": "web", "Port": 81}}
    assert seeded.put("/v1/catalog/register", data=json.dumps(reg)).status_code == 200
    r = seeded.get("/v1/catalog/service/web",
                   params={"filter": "ServicePort == 81", "index": idx, "wait": "5s"})
    assert r.status_code == 200
    assert [i["ServiceID"] for i in r.json()] == ["web-2"]
    # a malformed filter on a blocking query is answered at once
    r = seeded.get("/v1/catalog/service/web",
                   params={"filter": "ServicePort ==", "index": idx + 100, "wait": "30s"})
    assert r.status_code == 400
    assert r.text.startswith("Failed to create boolean expression evaluator: ")


def test_filter_python_consul(seeded):
    """python-consul's health.service/catalog.service do not pass `filter`;
    a plain requests call is what such clients do (Prometheus' consul_sd)."""
    r = seeded.get("/v1/health/service/postgres",
                   params={"filter": 'Service.Meta.env == "prod"', "passing": "1"})
    assert [e["Service"]["ID"] for e in r.json()] == ["pg-1"]


def test_filter_string_is_empty_refused(seeded):
    """go-bexpr v0.1.2 field_config.go: a string field allows ==, !=, in,
    not in, matches, not matches; `is empty` is for lists and maps."""
    r = seeded.get("/v1/agent/services", params={"filter": "Meta.team is empty"})
    assert r.status_code == 400
    assert r.text == ('Failed to create boolean expression evaluator: '
                      'Invalid match operator "Is Empty" for selector "Meta.team"')


# ---- names match case-insensitively ------------------------------------------------

def test_service_names_case_insensitive(seeded):
    """Consul lower-cases its service name index (state/catalog_schema.go:
    Lowercase: true): /v1/catalog/service/POSTGRES finds "Postgres" and
    "postgres"; each instance keeps the name it was registered with."""
    for path in ("/v1/catalog/service/POSTGRES", "/v1/health/service/PostGres",
                 "/v1/catalog/service/postgres"):
        out = get_json(seeded, path)
        names = sorted((e.get("ServiceName") or e["Service"]["Service"]) for e in out)
        assert names == ["Postgres", "postgres"], (path, out)
    out = get_json(seeded, "/v1/health/checks/POSTGRES")
    assert sorted(c["CheckID"] for c in out) == ["pg-1-alive", "pg-2-alive"]
    # node names too (Consul's node index is lower-cased); the output keeps "db-2"
    out = get_json(seeded, "/v1/catalog/node/DB-2")
    assert out["Node"]["Node"] == "db-2" and sorted(out["Services"]) == ["pg-2", "web-1"]
    out = get_json(seeded, "/v1/catalog/node-services/Db-2")
    assert sorted(s["ID"] for s in out["Services"]) == ["pg-2", "web-1"]
    out = get_json(seeded, "/v1/health/node/DB-2")
    assert sorted(c["CheckID"] for c in out) == ["pg-2-alive", "web-1-http"]


def test_service_name_case_blocking_wakes(seeded):
    """A blocking query on WEB wakes when "web" changes (the watch key folds
    case the same way)."""
    r = seeded.get("/v1/catalog/service/WEB")
    idx = int(r.headers["X-Consul-Index"])
    reg = {"Node": "db-1", "Address": "10.0.0.1",
           "Service": {"ID": "web-3", "Service": "web", "Port": 83}}
    assert seeded.put("/v1/catalog/register", data=json.dumps(reg)).status_code == 200
    r = seeded.get("/v1/catalog/service/WEB", params={"index": idx, "wait": "10s"})
    assert int(r.headers["X-Consul-Index"]) > idx
    assert "web-3" in [i["ServiceID"] for i in r.json()]


# ---- Weights on /v1/catalog/register ------------------------------------------------

def test_catalog_register_zero_weights(seeded):
    """C: the Go client's CatalogRegistration always carries Weights, zero when
    unset; Consul validates weights only on the agent endpoint and stores the
    default {Passing: 1, Warning: 1} (structs.NodeService.ToServiceNode)."""
    reg = {"Node": "db-1", "Address": "10.0.0.1",
           "Service": {"ID": "wz", "Service": "wz", "Weights": {"Passing": 0, "Warning": 0}}}
    r = seeded.put("/v1/catalog/register", data=json.dumps(reg))
    assert r.status_code == 200, r.text
    out = get_json(seeded, "/v1/catalog/service/wz")
    assert out[0]["ServiceWeights"] == {"Passing": 1, "Warning": 1}
    r = seeded.put("/v1/agent/service/register",
                   data=json.dumps({"Name": "w0", "Weights": {"Passing": 0, "Warning": 0}}))
    assert r.status_code == 400
    assert r.text == "Invalid Weights: Passing must be greater than 0"


# ---- service mesh: what cairn does not build is refused ---------------------------

@pytest.mark.parametrize("extra,what,catalog_ok", [
    ({"Kind": "mesh-gateway"}, 'Kind "mesh-gateway" is not supported', False),
    ({"Kind": "connect-proxy", "Proxy": {"DestinationServiceName": "web",
                                         "Mode": "transparent"}},
     'Proxy.Mode "transparent" is not supported', False),
    ({"Proxy": {"DestinationServiceName": "web"}}, "Proxy is only valid", False),
    ({"Connect": {"SidecarService": {}}}, None, False),
    ({"Connect": {"Native": False, "SidecarService": None}}, None, True),
])
def test_mesh_fields_refused(seeded, extra, what, catalog_ok):
    """A/C: the parts of Consul's mesh cairn does not build are refused with
    400 rather than stored without them. Empty objects (what clients send
    for "none") are accepted; a SidecarService is expanded by the agent only."""
    body = dict({"Name": "meshy", "Port": 1}, **extra)
    r = seeded.put("/v1/agent/service/register", data=json.dumps(body))
    cat = {"Node": "db-1", "Address": "10.0.0.1",
           "Service": dict({"Service": "meshy", "Port": 1}, **extra)}
    rc = seeded.put("/v1/catalog/register", data=json.dumps(cat))
    if what is None:
        assert r.status_code == 200, r.text
        assert (rc.status_code == 200) == catalog_ok, rc.text
        seeded.put("/v1/agent/service/deregister/meshy")
        return
    for resp in (r, rc):
        assert resp.status_code == 400, resp.text
        assert what in resp.text


# ---- ?dc=, ?ns=, ?partition=, ?peer= ----------------------------------------------

def test_other_datacenter(seeded):
    """agent/consul/rpc.go: a request for a datacenter with no route fails
    with structs.ErrNoDCPath, "No path to datacenter" (500); the local name
    is fine."""
    r = seeded.get("/v1/catalog/nodes", params={"dc": "elsewhere"})
    assert r.status_code == 500
    assert r.text == "No path to datacenter"
    r = seeded.get("/v1/kv/x", params={"dc": "elsewhere"})
    assert r.status_code == 500
    assert seeded.get("/v1/catalog/nodes", params={"dc": "dc1"}).status_code == 200


@pytest.mark.parametrize("kind,name,text", [
    ("param", "ns", 'Invalid query parameter: "ns" - Namespaces are a Consul Enterprise feature'),
    ("param", "partition",
     'Invalid query parameter: "partition" - Partitions are a Consul Enterprise feature'),
    ("header", "X-Consul-Namespace",
     'Invalid header: "X-Consul-Namespace" - Namespaces are a Consul Enterprise feature'),
    ("header", "X-Consul-Partition",
     'Invalid header: "X-Consul-Partition" - Partitions are a Consul Enterprise feature'),
])
def test_enterprise_scope_refused(seeded, kind, name, text):
    """agent/http_ce.go parseEntMeta/parseEntMetaPartition: Consul CE answers
    400 to any non-empty namespace or partition (even "default")."""
    for value in ("team-a", "default"):
        if kind == "param":
            r = seeded.get("/v1/catalog/services", params={name: value})
        else:
            r = seeded.get("/v1/catalog/services", headers={name: value})
        assert r.status_code == 400, r.text
        assert r.text == text
    # empty means "not given"
    r = seeded.get("/v1/catalog/services", params={"ns": ""})
    assert r.status_code == 200


def test_unknown_peer_is_empty(seeded):
    """C/H (peering): reads for a peer with no imported data answer empty."""
    assert get_json(seeded, "/v1/health/service/web", peer="nowhere") == []
    assert get_json(seeded, "/v1/catalog/service/web", peer="nowhere") == []
    assert get_json(seeded, "/v1/catalog/services", peer="nowhere") == {}


# ---- JSON strings as Go's encoder writes them ------------------------------------

def _cli(agent, *args):
    import os
    import subprocess
    from conftest import CAIRN_BIN
    env = dict(os.environ, CAIRN_HTTP_ADDR="127.0.0.1:%d" % agent.http_port)
    env.pop("CONSUL_HTTP_ADDR", None)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    return subprocess.run([CAIRN_BIN] + list(args), capture_output=True, env=env, timeout=60)


def test_invalid_utf8_kv_like_go(seeded):
    """Consul's JSON is Go's encoding/json: an invalid UTF-8 byte in a key is
    written as \\ufffd (one per byte), <, > and & as \\u003c..., and the
    raw bytes stay exact through ?raw and the base64 Value."""
    key = b"utf8/bad\xff\xfe<&>"
    value = b"\x00\xff\xc3raw"
    path = "/v1/kv/" + "".join("%%%02X" % c for c in key)
    r = seeded.put(path, data=value)
    assert r.status_code == 200 and r.json() is True, r.text
    r = seeded.get("/v1/kv/utf8/", params={"recurse": ""})
    assert r.status_code == 200
    assert b'"Key":"utf8/bad\\ufffd\\ufffd\\u003c\\u0026\\u003e"' in r.content, r.content
    entries = r.json()  # valid JSON
    assert entries[0]["Key"] == "utf8/bad\ufffd\ufffd<&>"
    assert base64.b64decode(entries[0]["Value"]) == value
    assert seeded.get(path, params={"raw": ""}).content == value
    r = seeded.get("/v1/kv/utf8/", params={"keys": ""})
    assert r.json() == ["utf8/bad\ufffd\ufffd<&>"]
    # the CLI reads cairn's own output again
    p = _cli(seeded, "kv", "get", "-recurse", "utf8/")
    assert p.returncode == 0, p.stderr
    assert "utf8/bad" in p.stdout.decode("utf-8", "replace")
    p = _cli(seeded, "kv", "export", "utf8/")
    assert p.returncode == 0, p.stderr
    exported = json.loads(p.stdout)
    assert base64.b64decode(exported[0]["value"]) == value
