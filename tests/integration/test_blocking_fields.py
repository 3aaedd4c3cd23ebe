"""Blocking queries wake on every field their answer shows.

For each blocking endpoint family, a query parks at the answer's index, a
write changes one field the answer shows (and nothing else the query
watches), and the query must return with a higher index and the new value.
The rule (api/blocking.c, docs/architecture.md "Reads and blocking queries"):
the index a read reports and the watch it parks on move whenever any field of
its answer can change. No sleeps: the writer waits until the server reports
the reader parked (Stats.cairn.http_parked)."""

import threading
import time

from conftest import index_of

GUARD = 20.0  # seconds; only a query that never wakes gets near it


def reg(agent, node, addr="192.0.2.10", meta=None, service=None, check=None):
    body = {"Node": node, "Address": addr, "NodeMeta": meta or {}}
    if service:
        body["Service"] = service
    if check:
        body["Check"] = check
    r = agent.put_json("/v1/catalog/register", body)
    assert r.status_code == 200, r.text


def wakes(agent, path, write, seen, params=None):
    """Park GET path at its current index, run write() once parked, and
    assert the query returns early with a higher index and seen(json)."""
    params = dict(params or {})
    r = agent.get(path, params=params)
    assert r.status_code == 200, (path, r.status_code, r.text)
    idx = index_of(r)
    assert not seen(r.json()), ("the answer already shows the change", path, r.json())
    base = agent.parked()
    err = []

    def run():
        try:
            agent.wait_parked(base + 1)
            write()
        except BaseException as e:  # reported below
            err.append(e)

    t = threading.Thread(target=run)
    t.start()
    start = time.monotonic()
    params.update({"index": idx, "wait": "25s"})
    r = agent.get(path, params=params, timeout=60)
    elapsed = time.monotonic() - start
    t.join()
    assert not err, err
    assert r.status_code == 200, r.text
    assert elapsed < GUARD, "%s did not wake (%.1fs)" % (path, elapsed)
    assert index_of(r) > idx, (path, idx, index_of(r))
    assert seen(r.json()), (path, r.json())


# ---- /v1/health/state/:state ---------------------------------------------------------

def test_health_state_wakes_on_service_tags(agent):
    reg(agent, "hs1", service={"Service": "hsweb", "ID": "hsweb", "Tags": ["v1"]},
        check={"CheckID": "hsweb-c", "Name": "c", "ServiceID": "hsweb", "Status": "passing"})

    def mine(j):
        return [c for c in j if c["CheckID"] == "hsweb-c"]

    # re-register the service alone: no check is written, the ServiceTags shown change
    wakes(agent, "/v1/health/state/passing",
          lambda: reg(agent, "hs1", service={"Service": "hsweb", "ID": "hsweb", "Tags": ["v2"]}),
          lambda j: mine(j) and mine(j)[0]["ServiceTags"] == ["v2"])


def test_health_state_wakes_on_node_meta(agent):
    reg(agent, "hs2", meta={"zone": "a"},
        check={"CheckID": "hs2-c", "Name": "c", "Status": "warning"})
    # ?node-meta=zone:b: the node's meta moving into the filter adds its check
    wakes(agent, "/v1/health/state/warning",
          lambda: reg(agent, "hs2", meta={"zone": "b"}),
          lambda j: any(c["CheckID"] == "hs2-c" for c in j),
          params={"node-meta": "zone:b"})


def test_health_state_wakes_on_check_output(agent):
    reg(agent, "hs3", check={"CheckID": "hs3-c", "Name": "c", "Status": "critical",
                             "Output": "one"})
    wakes(agent, "/v1/health/state/critical",
          lambda: reg(agent, "hs3", check={"CheckID": "hs3-c", "Name": "c",
                                           "Status": "critical", "Output": "two"}),
          lambda j: any(c["CheckID"] == "hs3-c" and c["Output"] == "two" for c in j))


def test_health_state_wakes_on_node_deregister(agent):
    reg(agent, "hs4", check={"CheckID": "hs4-c", "Name": "c", "Status": "passing"})
    wakes(agent, "/v1/health/state/any",
          lambda: agent.put_json("/v1/catalog/deregister", {"Node": "hs4"}),
          lambda j: not any(c["Node"] == "hs4" for c in j))


# ---- /v1/health/{node,checks,service} ----------------------------------------------------

def test_health_checks_wakes_on_service_tags_and_node_meta(agent):
    svc = {"Service": "hcweb", "ID": "hcweb", "Tags": ["a"]}
    chk = {"CheckID": "hcweb-c", "Name": "c", "ServiceID": "hcweb", "Status": "passing"}
    reg(agent, "hc1", meta={"rack": "r1"}, service=svc, check=chk)
    wakes(agent, "/v1/health/checks/hcweb",
          lambda: reg(agent, "hc1", meta={"rack": "r1"}, service=dict(svc, Tags=["b"])),
          lambda j: j and j[0]["ServiceTags"] == ["b"])
    wakes(agent, "/v1/health/checks/hcweb",
          lambda: reg(agent, "hc1", meta={"rack": "r2"}),
          lambda j: len(j) == 1, params={"node-meta": "rack:r2"})


def test_health_service_wakes_on_node_address_and_tags(agent):
    svc = {"Service": "hsvc", "ID": "hsvc", "Tags": ["a"]}
    reg(agent, "hv1", addr="192.0.2.21", service=svc)
    wakes(agent, "/v1/health/service/hsvc",
          lambda: reg(agent, "hv1", addr="192.0.2.22"),
          lambda j: j and j[0]["Node"]["Address"] == "192.0.2.22")
    wakes(agent, "/v1/health/service/hsvc",
          lambda: reg(agent, "hv1", addr="192.0.2.22", service=dict(svc, Tags=["b"])),
          lambda j: j and j[0]["Service"]["Tags"] == ["b"])


def test_health_node_wakes_on_check_notes(agent):
    chk = {"CheckID": "hn-c", "Name": "c", "Status": "passing", "Notes": "x"}
    reg(agent, "hn1", check=chk)
    wakes(agent, "/v1/health/node/hn1",
          lambda: reg(agent, "hn1", check=dict(chk, Notes="y")),
          lambda j: j and j[0]["Notes"] == "y")


# ---- /v1/catalog/* -----------------------------------------------------------------------

def test_catalog_services_node_meta_filter_wakes_on_node_meta(agent):
    reg(agent, "cs1", meta={"tier": "x"}, service={"Service": "csweb", "ID": "csweb"})
    wakes(agent, "/v1/catalog/services",
          lambda: reg(agent, "cs1", meta={"tier": "y"}),
          lambda j: "csweb" in j, params={"node-meta": "tier:y"})


def test_catalog_services_filter_wakes_on_node_address(agent):
    reg(agent, "cs2", addr="192.0.2.31", service={"Service": "csf", "ID": "csf"})
    wakes(agent, "/v1/catalog/services",
          lambda: reg(agent, "cs2", addr="192.0.2.32"),
          lambda j: "csf" in j, params={"filter": 'Address == "192.0.2.32"'})


def test_catalog_services_wakes_on_tags(agent):
    reg(agent, "cs3", service={"Service": "cst", "ID": "cst", "Tags": ["a"]})
    wakes(agent, "/v1/catalog/services",
          lambda: reg(agent, "cs3", service={"Service": "cst", "ID": "cst", "Tags": ["b"]}),
          lambda j: j.get("cst") == ["b"])


def test_catalog_nodes_wakes_on_meta_and_address(agent):
    reg(agent, "cn1", addr="192.0.2.41", meta={"k": "1"})

    def node(j):
        return [n for n in j if n["Node"] == "cn1"][0]
    wakes(agent, "/v1/catalog/nodes", lambda: reg(agent, "cn1", addr="192.0.2.41", meta={"k": "2"}),
          lambda j: node(j)["Meta"] == {"k": "2"})
    wakes(agent, "/v1/catalog/nodes", lambda: reg(agent, "cn1", addr="192.0.2.42", meta={"k": "2"}),
          lambda j: node(j)["Address"] == "192.0.2.42")


def test_catalog_service_wakes_on_node_meta_and_port(agent):
    svc = {"Service": "csv", "ID": "csv", "Port": 1}
    reg(agent, "cv1", meta={"m": "1"}, service=svc)
    wakes(agent, "/v1/catalog/service/csv", lambda: reg(agent, "cv1", meta={"m": "2"}),
          lambda j: j and j[0]["NodeMeta"] == {"m": "2"})
    wakes(agent, "/v1/catalog/service/csv",
          lambda: reg(agent, "cv1", meta={"m": "2"}, service=dict(svc, Port=2)),
          lambda j: j and j[0]["ServicePort"] == 2)


def test_catalog_node_and_node_services_wake_on_service_tags(agent):
    svc = {"Service": "cnsv", "ID": "cnsv", "Tags": ["a"]}
    reg(agent, "cnd1", service=svc)
    wakes(agent, "/v1/catalog/node/cnd1",
          lambda: reg(agent, "cnd1", service=dict(svc, Tags=["b"])),
          lambda j: j["Services"]["cnsv"]["Tags"] == ["b"])
    wakes(agent, "/v1/catalog/node-services/cnd1",
          lambda: reg(agent, "cnd1", service=dict(svc, Tags=["c"])),
          lambda j: j["Services"][0]["Tags"] == ["c"])
    wakes(agent, "/v1/catalog/node/cnd1",
          lambda: reg(agent, "cnd1", meta={"x": "y"}),
          lambda j: j["Node"]["Meta"] == {"x": "y"})


# ---- KV, sessions, prepared queries, intentions -------------------------------------------

def test_kv_wakes_on_flags(agent):
    agent.kv_put("bf/k", b"v")
    wakes(agent, "/v1/kv/bf/k", lambda: agent.kv_put("bf/k", b"v", flags=7),
          lambda j: j[0]["Flags"] == 7)
    wakes(agent, "/v1/kv/bf/", lambda: agent.kv_put("bf/k", b"v", flags=8),
          lambda j: j[0]["Flags"] == 8, params={"recurse": "true"})


def test_sessions_wake_on_create_and_destroy(agent):
    node = agent.get("/v1/agent/self").json()["Config"]["NodeName"]
    sid = {}

    def create():
        sid["id"] = agent.put_json("/v1/session/create", {"Name": "bfs"}).json()["ID"]
    wakes(agent, "/v1/session/list", create, lambda j: any(s["Name"] == "bfs" for s in j))
    wakes(agent, "/v1/session/node/" + node,
          lambda: agent.put("/v1/session/destroy/" + sid["id"]),
          lambda j: not any(s["ID"] == sid["id"] for s in j))


def test_prepared_query_list_and_get_wake_on_update(agent):
    reg(agent, "pq1", service={"Service": "pqsvc", "ID": "pqsvc"})
    r = agent.request("POST", "/v1/query", json={"Name": "bfq", "Service": {"Service": "pqsvc"}})
    assert r.status_code == 200, r.text
    qid = r.json()["ID"]
    upd = {"Name": "bfq", "Service": {"Service": "pqsvc", "Tags": ["t1"]}}
    wakes(agent, "/v1/query", lambda: agent.put_json("/v1/query/" + qid, upd),
          lambda j: any(q["ID"] == qid and q["Service"]["Tags"] == ["t1"] for q in j))
    upd2 = {"Name": "bfq", "Service": {"Service": "pqsvc", "Tags": ["t2"]}}
    wakes(agent, "/v1/query/" + qid, lambda: agent.put_json("/v1/query/" + qid, upd2),
          lambda j: j[0]["Service"]["Tags"] == ["t2"])


def test_intentions_list_wakes_on_action_change(agent):
    r = agent.put_json("/v1/connect/intentions/exact?source=bfa&destination=bfb",
                       {"Action": "allow"})
    assert r.status_code == 200, r.text

    def action(j):
        return [i["Action"] for i in j if i["SourceName"] == "bfa"]
    wakes(agent, "/v1/connect/intentions",
          lambda: agent.put_json("/v1/connect/intentions/exact?source=bfa&destination=bfb",
                                 {"Action": "deny"}),
          lambda j: action(j) == ["deny"])


# ---- agent endpoints (hash-based blocking) ------------------------------------------------

def test_agent_service_hash_wakes_on_tags_and_meta(agent):
    svc = {"Name": "hashsvc", "ID": "hashsvc1", "Port": 1, "Tags": ["a"], "Meta": {"m": "1"}}
    assert agent.put_json("/v1/agent/service/register", svc).status_code == 200
    for change, seen in ((dict(svc, Tags=["b"]), lambda j: j["Tags"] == ["b"]),
                         (dict(svc, Tags=["b"], Meta={"m": "2"}), lambda j: j["Meta"] == {"m": "2"})):
        r = agent.get("/v1/agent/service/hashsvc1")
        h = r.headers["X-Consul-Contenthash"]
        base = agent.parked()
        err = []

        def run():
            try:
                agent.wait_parked(base + 1)
                assert agent.put_json("/v1/agent/service/register", change).status_code == 200
            except BaseException as e:
                err.append(e)
        t = threading.Thread(target=run)
        t.start()
        start = time.monotonic()
        r = agent.get("/v1/agent/service/hashsvc1", params={"hash": h, "wait": "25s"}, timeout=60)
        t.join()
        assert not err, err
        assert time.monotonic() - start < GUARD
        assert r.headers["X-Consul-Contenthash"] != h and seen(r.json())


# ---- ACL lists -------------------------------------------------------------------------------

def test_acl_lists_wake_on_description_and_rules(tmp_path):
    import os
    from test_acl import ANON, AclAgent, acl_config
    from conftest import wait_until
    cfg = acl_config(os.path.join(str(tmp_path), "acl.hcl"))
    a = AclAgent(tmp_path, name="bfacl", extra_args=["-config-file=" + cfg])
    a.start()
    try:
        wait_until(lambda: a.get("/v1/acl/token/" + ANON).status_code == 200, what="builtins")
        pol = a.put_json("/v1/acl/policy", {"Name": "bfp", "Rules": 'key "a" { policy = "read" }'})
        assert pol.status_code == 200, pol.text
        pid = pol.json()["ID"]
        tk = a.put_json("/v1/acl/token", {"Description": "one", "Policies": [{"ID": pid}]}).json()
        acc = tk["AccessorID"]

        def desc(j):
            return [t["Description"] for t in j if t["AccessorID"] == acc]
        wakes(a, "/v1/acl/tokens",
              lambda: a.put_json("/v1/acl/token/" + acc,
                                 {"Description": "two", "Policies": [{"ID": pid}]}),
              lambda j: desc(j) == ["two"])
        # a policy renamed: the token list shows the new name of its link
        wakes(a, "/v1/acl/tokens",
              lambda: a.put_json("/v1/acl/policy/" + pid,
                                 {"Name": "bfp2", "Rules": 'key "a" { policy = "read" }'}),
              lambda j: [p["Name"] for t in j if t["AccessorID"] == acc
                         for p in t["Policies"]] == ["bfp2"])
        wakes(a, "/v1/acl/policies",
              lambda: a.put_json("/v1/acl/policy/" + pid,
                                 {"Name": "bfp2", "Description": "d2",
                                  "Rules": 'key "a" { policy = "read" }'}),
              lambda j: any(p["ID"] == pid and p["Description"] == "d2" for p in j))
    finally:
        a.stop()
        a.close()
