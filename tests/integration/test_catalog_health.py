"""Catalog and health endpoints, through python-consul 0.7.1 (which sends GET
for deregister and TTL updates, as Consul 0.7 accepted) and raw requests.

Expected behaviour: Consul's api-docs (catalog.mdx, health.mdx,
agent/service.mdx, agent/check.mdx) as summarised in
docs/consul-api-notes.md."""

import socket

import consul

from conftest import index_of, wait_until


def _names(entries, field="ServiceID"):
    return sorted(e[field] for e in entries)


def _health_ids(agent, name, **params):
    r = agent.get("/v1/health/service/" + name, params=params)
    assert r.status_code == 200, r.text
    return sorted(e["Service"]["ID"] for e in r.json())


def _my_address(agent):
    for n in agent.get("/v1/catalog/nodes").json():
        if n["Node"] == agent.name:
            return n["Address"]
    raise AssertionError("agent node not in catalog")


# ---- the agent's own node ---------------------------------------------------

def test_node_registers_itself_with_serf_health(agent):
    r = agent.get("/v1/catalog/nodes")
    assert r.status_code == 200
    nodes = {n["Node"]: n for n in r.json()}
    assert agent.name in nodes
    me = nodes[agent.name]
    socket.inet_aton(me["Address"])  # an IPv4 address (127.0.0.1 with -client=127.0.0.1)
    assert me["Datacenter"] == "dc1"
    assert me["CreateIndex"] >= 1 and me["ModifyIndex"] >= me["CreateIndex"]

    r = agent.get("/v1/health/node/" + agent.name)
    assert r.status_code == 200
    checks = {c["CheckID"]: c for c in r.json()}
    assert "serfHealth" in checks, checks
    assert checks["serfHealth"]["Status"] == "passing"
    assert checks["serfHealth"]["Node"] == agent.name
    assert checks["serfHealth"]["ServiceID"] == ""
    assert checks["serfHealth"]["ServiceTags"] == []

    r = agent.get("/v1/catalog/node/" + agent.name)
    assert r.status_code == 200
    assert r.json()["Node"]["Node"] == agent.name


def test_status_leader_and_peers(agent):
    r = agent.get("/v1/status/leader")
    assert r.status_code == 200
    addr = _my_address(agent)
    assert r.json() == "%s:%d" % (addr, agent.server_port)
    r = agent.get("/v1/status/peers")
    assert r.status_code == 200
    assert r.json() == ["%s:%d" % (addr, agent.server_port)]


def test_catalog_datacenters(agent):
    r = agent.get("/v1/catalog/datacenters")
    assert r.status_code == 200
    assert r.json() == ["dc1"]


# ---- python-consul: agent register, health, TTL, deregister -----------------

def test_python_consul_register_query_ttl_deregister(agent):
    c = agent.consul()
    assert c.agent.service.register("web", service_id="web1", address="10.0.0.1", port=8080,
                                    tags=["a", "b"], check=consul.Check.ttl("60s")) is True
    assert c.agent.service.register("web", service_id="web2", address="10.0.0.2", port=8081,
                                    tags=["b", "c"], check=consul.Check.ttl("60s")) is True

    # The agent's local view is immediate.
    svcs = c.agent.services()
    assert svcs["web1"]["Service"] == "web"
    assert svcs["web1"]["Port"] == 8080
    assert svcs["web1"]["Address"] == "10.0.0.1"
    assert sorted(svcs["web1"]["Tags"]) == ["a", "b"]
    checks = c.agent.checks()
    assert checks["service:web1"]["Status"] == "critical"  # a TTL check starts critical
    assert checks["service:web1"]["ServiceID"] == "web1"

    # The catalog sees it (anti-entropy may be asynchronous: poll).
    def catalog_has_both():
        idx, services = c.catalog.services()
        return "web" in services and sorted(services["web"]) == ["a", "b", "c"] and idx
    idx = wait_until(catalog_has_both, what="web in catalog.services with tags a,b,c")
    assert int(idx) >= 1

    idx, entries = c.catalog.service("web")
    assert _names(entries) == ["web1", "web2"]
    e1 = [e for e in entries if e["ServiceID"] == "web1"][0]
    assert e1["ServiceName"] == "web"
    assert e1["ServiceAddress"] == "10.0.0.1"
    assert e1["ServicePort"] == 8080
    assert sorted(e1["ServiceTags"]) == ["a", "b"]
    assert e1["Node"] == agent.name
    assert e1["Address"] == _my_address(agent)

    idx, entries = c.catalog.service("web", tag="c")
    assert _names(entries) == ["web2"]

    # Health: both present, none passing (TTL checks start critical).
    idx, entries = c.health.service("web")
    assert sorted(e["Service"]["ID"] for e in entries) == ["web1", "web2"]
    for e in entries:
        ids = sorted(ch["CheckID"] for ch in e["Checks"])
        assert ids == sorted(["serfHealth", "service:" + e["Service"]["ID"]]), ids
        assert e["Node"]["Node"] == agent.name
    idx, entries = c.health.service("web", passing=True)
    assert entries == []

    # ttl_pass (GET from python-consul 0.7.1) makes web1 pass.
    assert c.agent.check.ttl_pass("service:web1", "all good") is True
    wait_until(lambda: _health_ids(agent, "web", passing="1") == ["web1"],
               what="web1 passing")
    entries = agent.get("/v1/health/service/web").json()
    chk = [ch for e in entries for ch in e["Checks"] if ch["CheckID"] == "service:web1"][0]
    assert chk["Status"] == "passing"
    assert chk["ServiceName"] == "web"
    assert chk["Type"] == "ttl"

    assert c.agent.check.ttl_pass("service:web2") is True
    wait_until(lambda: _health_ids(agent, "web", passing="1") == ["web1", "web2"],
               what="web1+web2 passing")

    # ttl_fail takes it out again; a warning is not passing either.
    assert c.agent.check.ttl_fail("service:web1", "broken") is True
    wait_until(lambda: _health_ids(agent, "web", passing="1") == ["web2"],
               what="web1 failing")
    assert c.agent.checks()["service:web1"]["Status"] == "critical"
    assert c.agent.checks()["service:web1"]["Output"] == "broken"
    assert c.agent.check.ttl_warn("service:web2") is True
    wait_until(lambda: _health_ids(agent, "web", passing="1") == [], what="web2 warning")
    assert _health_ids(agent, "web", passing="false") == ["web1", "web2"]

    # Deregister (GET in python-consul 0.7.1).
    assert c.agent.service.deregister("web1") is True
    assert "web1" not in c.agent.services()
    assert "service:web1" not in c.agent.checks()
    wait_until(lambda: _names(c.catalog.service("web")[1]) == ["web2"],
               what="web1 gone from catalog")
    assert c.agent.service.deregister("web2") is True
    wait_until(lambda: "web" not in c.catalog.services()[1], what="web gone from catalog")
    assert c.health.service("web")[1] == []


def test_agent_register_with_raw_http_and_deregister_put(agent):
    body = {"ID": "api1", "Name": "api", "Tags": ["v1"], "Port": 9000,
            "Meta": {"env": "test"}, "Check": {"TTL": "30s", "Status": "passing"}}
    r = agent.put_json("/v1/agent/service/register", body)
    assert r.status_code == 200, r.text
    wait_until(lambda: _health_ids(agent, "api", passing="") == ["api1"],
               what="api1 passing from initial status")
    e = agent.get("/v1/health/service/api").json()[0]
    assert e["Service"]["Meta"] == {"env": "test"}
    assert e["Service"]["Address"] == ""  # empty: clients fall back to node address
    assert e["Service"]["Port"] == 9000
    r = agent.put("/v1/agent/service/deregister/api1")
    assert r.status_code == 200
    wait_until(lambda: _health_ids(agent, "api") == [], what="api1 gone")
    # Unknown ID: Consul 1.x answers 404 "Unknown service ID" (agent.go
    # vetServiceUpdateWithAuthorizer); older versions answered 200. Never 5xx.
    r = agent.put("/v1/agent/service/deregister/never-registered")
    assert r.status_code in (200, 404)


def test_register_missing_name_is_400(agent):
    r = agent.put_json("/v1/agent/service/register", {"Port": 1})
    assert r.status_code == 400
    r = agent.put_json("/v1/catalog/register", {"Address": "1.2.3.4"})
    assert r.status_code == 400


# ---- raw catalog register / deregister ---------------------------------------

def test_catalog_register_and_deregister_raw(agent):
    body = {"Node": "ext1", "Address": "192.0.2.10",
            "NodeMeta": {"rack": "r1"},
            "Service": {"ID": "db1", "Service": "db", "Tags": ["primary"], "Port": 5432},
            "Check": {"CheckID": "db-alive", "Name": "db alive", "Status": "passing",
                      "ServiceID": "db1"}}
    r = agent.put_json("/v1/catalog/register", body)
    assert r.status_code == 200, r.text
    assert r.json() is True

    nodes = {n["Node"]: n for n in agent.get("/v1/catalog/nodes").json()}
    assert nodes["ext1"]["Address"] == "192.0.2.10"
    assert nodes["ext1"]["Meta"] == {"rack": "r1"}

    r = agent.get("/v1/catalog/service/db")
    assert r.status_code == 200
    [e] = r.json()
    assert e["Node"] == "ext1" and e["Address"] == "192.0.2.10"
    assert e["ServiceID"] == "db1" and e["ServiceName"] == "db"
    assert e["ServiceTags"] == ["primary"] and e["ServicePort"] == 5432
    assert e["ServiceAddress"] == ""
    assert e["NodeMeta"] == {"rack": "r1"}

    r = agent.get("/v1/health/service/db", params={"passing": ""})
    [e] = r.json()
    assert [c["CheckID"] for c in e["Checks"]] == ["db-alive"]
    assert e["Checks"][0]["ServiceTags"] == ["primary"]

    r = agent.get("/v1/catalog/node/ext1")
    assert r.status_code == 200
    j = r.json()
    assert j["Node"]["Node"] == "ext1"
    assert list(j["Services"].keys()) == ["db1"]
    assert j["Services"]["db1"]["Service"] == "db"

    assert "db" in agent.get("/v1/catalog/services").json()
    assert agent.get("/v1/catalog/services").json()["db"] == ["primary"]

    # Remove the service only: the node stays.
    r = agent.put_json("/v1/catalog/deregister", {"Node": "ext1", "ServiceID": "db1"})
    assert r.status_code == 200 and r.json() is True
    assert agent.get("/v1/catalog/service/db").json() == []
    assert "db" not in agent.get("/v1/catalog/services").json()
    assert "ext1" in [n["Node"] for n in agent.get("/v1/catalog/nodes").json()]
    # The service's check went with it.
    assert agent.get("/v1/health/node/ext1").json() == []

    # Remove the node: everything on it goes.
    r = agent.put_json("/v1/catalog/deregister", {"Node": "ext1"})
    assert r.status_code == 200 and r.json() is True
    assert "ext1" not in [n["Node"] for n in agent.get("/v1/catalog/nodes").json()]
    r = agent.get("/v1/catalog/node/ext1")
    assert r.status_code == 200 and r.json() is None


def test_catalog_register_node_check_affects_health(agent):
    agent.put_json("/v1/catalog/register", {
        "Node": "ext2", "Address": "192.0.2.11",
        "Service": {"ID": "q1", "Service": "queue", "Port": 1}})
    assert _health_ids(agent, "queue", passing="1") == ["q1"]  # no checks = passing
    agent.put_json("/v1/catalog/register", {
        "Node": "ext2", "Address": "192.0.2.11",
        "Check": {"CheckID": "node-disk", "Name": "disk", "Status": "critical"}})
    # A critical node-level check hides every service on that node from ?passing.
    assert _health_ids(agent, "queue", passing="1") == []
    assert _health_ids(agent, "queue") == ["q1"]
    e = agent.get("/v1/health/service/queue").json()[0]
    assert [c["CheckID"] for c in e["Checks"]] == ["node-disk"]
    r = agent.get("/v1/health/state/critical")
    assert "node-disk" in [c["CheckID"] for c in r.json()]
    agent.put_json("/v1/catalog/deregister", {"Node": "ext2"})


def test_tag_filter_is_repeatable_and_anded(agent):
    for sid, tags in (("t1", ["a", "b"]), ("t2", ["a"]), ("t3", ["b"]), ("t4", [])):
        r = agent.put_json("/v1/catalog/register", {
            "Node": "tagnode", "Address": "192.0.2.20",
            "Service": {"ID": sid, "Service": "tagged", "Tags": tags, "Port": 80}})
        assert r.status_code == 200
    cat = lambda q: _names(agent.get("/v1/catalog/service/tagged" + q).json())
    hl = lambda q: sorted(e["Service"]["ID"]
                          for e in agent.get("/v1/health/service/tagged" + q).json())
    assert cat("") == ["t1", "t2", "t3", "t4"]
    assert cat("?tag=a") == ["t1", "t2"]
    assert cat("?tag=b") == ["t1", "t3"]
    assert cat("?tag=a&tag=b") == ["t1"]
    assert cat("?tag=zzz") == []
    assert hl("?tag=a") == ["t1", "t2"]
    assert hl("?tag=a&tag=b") == ["t1"]
    assert sorted(agent.get("/v1/catalog/services").json()["tagged"]) == ["a", "b"]
    agent.put_json("/v1/catalog/deregister", {"Node": "tagnode"})


def test_empty_lists_are_arrays_not_null(agent):
    r = agent.put_json("/v1/catalog/register", {
        "Node": "bare", "Address": "192.0.2.30",
        "Service": {"ID": "plain1", "Service": "plain", "Port": 1}})
    assert r.status_code == 200
    [e] = agent.get("/v1/health/service/plain").json()
    assert e["Checks"] == []
    assert e["Service"]["Tags"] == []
    [e] = agent.get("/v1/catalog/service/plain").json()
    assert e["ServiceTags"] == []
    assert agent.get("/v1/catalog/services").json()["plain"] == []
    assert agent.get("/v1/health/node/bare").json() == []
    assert agent.get("/v1/health/checks/plain").json() == []
    assert agent.get("/v1/catalog/service/none-such").json() == []
    assert agent.get("/v1/health/service/none-such").json() == []
    # Node-level checks carry ServiceTags [] too.
    for c in agent.get("/v1/health/node/" + agent.name).json():
        assert c["ServiceTags"] == []
    agent.put_json("/v1/catalog/deregister", {"Node": "bare"})


# ---- headers and indexes -----------------------------------------------------

READS = [
    "/v1/catalog/nodes",
    "/v1/catalog/services",
    "/v1/catalog/service/idx",
    "/v1/catalog/service/never-registered",
    "/v1/catalog/node/idxnode",
    "/v1/health/service/idx",
    "/v1/health/service/never-registered",
    "/v1/health/checks/idx",
    "/v1/health/node/idxnode",
    "/v1/health/state/any",
    "/v1/kv/idx-missing-key",
]


def test_index_and_consistency_headers_on_every_read(agent):
    for path in READS:
        r = agent.get(path)
        assert r.status_code in (200, 404), (path, r.status_code)
        assert index_of(r) >= 1, path
        assert r.headers.get("X-Consul-KnownLeader") == "true", path
        assert r.headers.get("X-Consul-LastContact") == "0", path
        assert r.headers.get("X-Consul-Effective-Consistency") == "leader", path
        if r.status_code == 200:
            assert r.headers.get("Content-Type", "").startswith("application/json"), path
    for mode in ("stale", "consistent"):
        r = agent.get("/v1/catalog/nodes?" + mode)
        assert r.status_code == 200
        assert r.headers.get("X-Consul-Effective-Consistency") == mode
        assert index_of(r) >= 1
        assert r.headers.get("X-Consul-LastContact") is not None


def test_header_names_use_go_canonical_case(agent):
    [resp] = agent.raw(b"GET /v1/catalog/nodes HTTP/1.1\r\nHost: x\r\n"
                       b"Connection: close\r\n\r\n")
    assert resp.status == 200
    names = resp.header_names()
    for n in ("X-Consul-Index", "X-Consul-Knownleader", "X-Consul-Lastcontact",
              "X-Consul-Effective-Consistency", "Content-Type"):
        assert n in names, (n, names)


def test_index_never_decreases_across_writes(agent):
    last = {}

    def observe(step):
        for path in READS:
            r = agent.get(path)
            i = index_of(r)
            assert i >= 1, (step, path)
            assert i >= last.get(path, 0), "%s went back from %d to %d after %s" % (
                path, last.get(path, 0), i, step)
            last[path] = i

    observe("start")
    writes = [
        ("register idxnode/idx1", lambda: agent.put_json("/v1/catalog/register", {
            "Node": "idxnode", "Address": "192.0.2.40",
            "Service": {"ID": "idx1", "Service": "idx", "Port": 1}})),
        ("register idx2 + check", lambda: agent.put_json("/v1/catalog/register", {
            "Node": "idxnode", "Address": "192.0.2.40",
            "Service": {"ID": "idx2", "Service": "idx", "Port": 2},
            "Check": {"CheckID": "c2", "Name": "c2", "Status": "passing",
                      "ServiceID": "idx2"}})),
        ("kv write elsewhere", lambda: agent.put("/v1/kv/idx-other", data=b"x")),
        ("check to critical", lambda: agent.put_json("/v1/catalog/register", {
            "Node": "idxnode", "Address": "192.0.2.40",
            "Check": {"CheckID": "c2", "Name": "c2", "Status": "critical",
                      "ServiceID": "idx2"}})),
        ("deregister idx2", lambda: agent.put_json(
            "/v1/catalog/deregister", {"Node": "idxnode", "ServiceID": "idx2"})),
        ("deregister idx1", lambda: agent.put_json(
            "/v1/catalog/deregister", {"Node": "idxnode", "ServiceID": "idx1"})),
        ("deregister node", lambda: agent.put_json(
            "/v1/catalog/deregister", {"Node": "idxnode"})),
        ("kv delete elsewhere", lambda: agent.delete("/v1/kv/idx-other")),
    ]
    for step, fn in writes:
        r = fn()
        assert r.status_code == 200, (step, r.status_code, r.text)
        observe(step)


def test_catalog_index_moves_on_change(agent):
    r = agent.get("/v1/catalog/service/mover")
    before = index_of(r)
    agent.put_json("/v1/catalog/register", {
        "Node": "movenode", "Address": "192.0.2.50",
        "Service": {"ID": "m1", "Service": "mover", "Port": 1}})
    r = agent.get("/v1/catalog/service/mover")
    after = index_of(r)
    assert after > before
    [e] = r.json()
    assert e["ModifyIndex"] <= after
    agent.put_json("/v1/catalog/deregister", {"Node": "movenode"})


def test_stale_and_consistent_together_is_400(agent):
    r = agent.get("/v1/catalog/nodes?stale&consistent")
    assert r.status_code == 400


# ---- catalog writes that name the agent's own node ---------------------------

def _my_ids(agent):
    r = agent.get("/v1/catalog/node/" + agent.name)
    assert r.status_code == 200, r.text
    if r.json() is None:
        return None
    return (sorted(r.json()["Services"]),
            sorted(c["CheckID"] for c in agent.get("/v1/health/node/" + agent.name).json()))


def test_catalog_writes_on_own_node_are_undone_by_anti_entropy(agent):
    """Consul's anti-entropy puts the agent's registrations back after a
    catalog write removed or overwrote them; without it the agent's TTL
    updates failed forever with 'check ... doesn't exist'."""
    r = agent.put_json("/v1/agent/service/register",
                       {"Name": "ae-web", "Port": 80, "Check": {"TTL": "30s"}})
    assert r.status_code == 200, r.text
    before = wait_until(lambda: (lambda x: x if x and "ae-web" in x[0] else None)(_my_ids(agent)),
                        what="ae-web in the catalog")
    assert "serfHealth" in before[1] and "service:ae-web" in before[1]

    # Overwrite the agent's service through the catalog: the agent's definition wins.
    r = agent.put_json("/v1/catalog/register", {
        "Node": agent.name, "Address": "127.0.0.1",
        "Service": {"ID": "ae-web", "Service": "hijacked", "Port": 1}})
    assert r.status_code == 200, r.text
    wait_until(lambda: agent.get("/v1/catalog/service/ae-web").json(), what="ae-web restored")
    assert agent.get("/v1/catalog/service/ae-web").json()[0]["ServicePort"] == 80

    # Deregister the whole node: everything comes back.
    r = agent.put_json("/v1/catalog/deregister", {"Node": agent.name})
    assert r.status_code == 200, r.text
    wait_until(lambda: _my_ids(agent) == before, what="own node re-registered")
    r = agent.put("/v1/agent/check/pass/service:ae-web")
    assert r.status_code == 200, r.text
    r = agent.put("/v1/agent/service/deregister/ae-web")
    assert r.status_code == 200, r.text


def test_catalog_only_entries_on_own_node_are_removed_by_anti_entropy(agent):
    """What the catalog holds for the agent's node but the agent does not know
    is removed (Consul's anti-entropy), so /v1/agent/services and the catalog
    agree -- and a restart, which rebuilds the agent from the catalog, cannot
    adopt it as an agent registration."""
    r = agent.put_json("/v1/agent/service/register", {"Name": "ae-keep"})
    assert r.status_code == 200, r.text
    r = agent.put_json("/v1/catalog/register", {
        "Node": agent.name, "Address": "127.0.0.1",
        "Service": {"Service": "ae-stray"},
        "Checks": [{"CheckID": "ae-stray-chk", "ServiceID": "ae-stray", "Status": "passing"},
                   {"CheckID": "ae-node-chk", "Status": "passing"}]})
    assert r.status_code == 200, r.text
    wait_until(lambda: not agent.get("/v1/catalog/service/ae-stray").json(),
               what="ae-stray removed")
    wait_until(lambda: "ae-node-chk" not in
               [c["CheckID"] for c in agent.get("/v1/health/node/" + agent.name).json()],
               what="ae-node-chk removed")
    ids = _my_ids(agent)
    assert "ae-keep" in ids[0] and "consul" in ids[0] and "serfHealth" in ids[1]
    assert "ae-stray" not in agent.get("/v1/agent/services").json()
    assert agent.put("/v1/agent/service/deregister/ae-keep").status_code == 200
