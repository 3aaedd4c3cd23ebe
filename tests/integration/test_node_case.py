"""Node names are case-insensitive on writes as on reads (Consul's node index
is lower-cased): registering "CaseNode" when "casenode" exists updates that
node; deregister, check updates, sessions and catalog txn ops by any spelling
reach it; the stored spelling stays the first one (docs/consul-compat.md).
The rewrite happens in the state machine, so a restart replaying the log
gives the same state."""

from conftest import wait_until


def reg(agent, body):
    r = agent.put_json("/v1/catalog/register", body)
    assert r.status_code == 200, r.text
    assert r.json() is True


def nodes_named(agent, name):
    return [n for n in agent.get("/v1/catalog/nodes").json() if n["Node"].lower() == name]


def test_register_other_spelling_updates_node(agent_factory):
    a = agent_factory("ncase")
    reg(a, {"Node": "casenode", "Address": "192.0.2.1"})
    reg(a, {"Node": "CaseNode", "Address": "192.0.2.2", "NodeMeta": {"k": "v"},
            "Service": {"Service": "cweb", "ID": "cweb", "Port": 80},
            "Check": {"CheckID": "cchk", "Name": "c", "Status": "passing"}})
    [n] = nodes_named(a, "casenode")
    assert n["Node"] == "casenode"  # the first spelling stays
    assert n["Address"] == "192.0.2.2" and n["Meta"] == {"k": "v"}
    [s] = a.get("/v1/catalog/service/cweb").json()
    assert s["Node"] == "casenode"
    [c] = [c for c in a.get("/v1/health/node/CASENODE").json() if c["CheckID"] == "cchk"]
    assert c["Node"] == "casenode"

    # a session named by another spelling belongs to the node
    r = a.put_json("/v1/session/create", {"Node": "CASENODE", "Checks": []})
    assert r.status_code == 200, r.text
    sid = r.json()["ID"]
    assert a.get("/v1/session/info/" + sid).json()[0]["Node"] == "casenode"

    # a catalog txn by a third spelling updates, does not add
    r = a.put_json("/v1/txn", [{"Node": {"Verb": "set",
                                         "Node": {"Node": "CASEnode", "Address": "192.0.2.3"}}}])
    assert r.status_code == 200, r.text
    [n] = nodes_named(a, "casenode")
    assert (n["Node"], n["Address"]) == ("casenode", "192.0.2.3")

    # the log replayed at restart gives the same single node
    a.restart()
    wait_until(lambda: nodes_named(a, "casenode"), what="catalog after restart")
    [n] = nodes_named(a, "casenode")
    assert (n["Node"], n["Address"]) == ("casenode", "192.0.2.3")

    # deregister the service, then the node, by other spellings
    r = a.put_json("/v1/catalog/deregister", {"Node": "CASENODE", "ServiceID": "cweb"})
    assert r.status_code == 200, r.text
    assert a.get("/v1/catalog/service/cweb").json() == []
    r = a.put_json("/v1/catalog/deregister", {"Node": "caseNODE"})
    assert r.status_code == 200, r.text
    assert nodes_named(a, "casenode") == []
    assert a.get("/v1/session/info/" + sid).json() == []


# ---- node IDs (Consul's ensureNodeTxn / ensureNoNodeWithSimilarNameTxn) ------

ID_A = "0a1b2c3d-0000-4000-8000-00000000000a"
ID_B = "0a1b2c3d-0000-4000-8000-00000000000b"
ID_N = "0a1b2c3d-0000-4000-8000-00000000000e"


def serf(status):
    return {"CheckID": "serfHealth", "Name": "Serf Health Status", "Status": status}


def node_ids(agent):
    return {n["Node"]: n["ID"] for n in agent.get("/v1/catalog/nodes").json()}


def test_node_id_renames_the_node_holding_it(agent_factory):
    a = agent_factory("nid")
    reg(a, {"Node": "nid-a", "ID": ID_A, "Address": "192.0.2.10",
            "Service": {"Service": "nsvc", "ID": "nsvc-a", "Port": 80},
            "Check": serf("passing")})
    reg(a, {"Node": "nid-keep", "ID": ID_B, "Address": "192.0.2.11",
            "Service": {"Service": "nsvc", "ID": "nsvc-keep", "Port": 80},
            "Check": serf("passing")})
    created = a.get("/v1/catalog/node/nid-a").json()["Node"]["CreateIndex"]
    # nid-b carries nid-a's ID (another case): nid-a is renamed to nid-b
    reg(a, {"Node": "nid-b", "ID": ID_A.upper(), "Address": "192.0.2.12"})
    ids = node_ids(a)
    assert "nid-a" not in ids
    assert ids["nid-b"] == ID_A.upper() and ids["nid-keep"] == ID_B
    n = a.get("/v1/catalog/node/nid-b").json()
    assert n["Node"]["CreateIndex"] == created  # ensureNodeTxn keeps nid-a's
    assert n["Services"] == {}  # nid-a's service and check went with it
    assert [s["ServiceID"] for s in a.get("/v1/catalog/service/nsvc").json()] == ["nsvc-keep"]
    assert a.get("/v1/health/node/nid-a").json() == []
    assert [c["CheckID"] for c in a.get("/v1/health/node/nid-keep").json()] == ["serfHealth"]

    # the log replayed at restart rebuilds the ID index: the ID still renames
    a.restart()
    wait_until(lambda: "nid-b" in node_ids(a), what="catalog after restart")
    reg(a, {"Node": "nid-c", "ID": ID_A, "Address": "192.0.2.13"})
    ids = node_ids(a)
    assert "nid-b" not in ids and ids["nid-c"] == ID_A


def test_node_id_refused_on_a_reserved_name(agent_factory):
    a = agent_factory("nidr")
    reg(a, {"Node": "r-a", "ID": ID_A, "Address": "192.0.2.20",
            "Check": serf("passing")})
    reg(a, {"Node": "r-b", "ID": ID_B, "Address": "192.0.2.21",
            "Check": serf("passing")})
    before = node_ids(a)
    # renaming r-a onto healthy r-b: Consul's RPC error, a 500
    r = a.put_json("/v1/catalog/register", {"Node": "r-b", "ID": ID_A, "Address": "192.0.2.20"})
    assert r.status_code == 500, r.text
    assert r.text.strip() == (
        'failed inserting node: Error while renaming Node ID: "%s" (192.0.2.20): '
        "Node name r-b is reserved by node %s with name r-b (192.0.2.21)" % (ID_A, ID_B))
    # a new ID on r-b's name
    r = a.put_json("/v1/catalog/register", {"Node": "r-b", "ID": ID_N, "Address": "192.0.2.22"})
    assert r.status_code == 500, r.text
    assert r.text.strip() == (
        'failed inserting node: Error while renaming Node ID: "%s": '
        "Node name r-b is reserved by node %s with name r-b (192.0.2.21)" % (ID_N, ID_B))
    # a txn Node set: Consul's txnNode text, no prefix, with its op index
    r = a.put_json("/v1/txn", [
        {"Node": {"Verb": "set", "Node": {"Node": "r-x", "Address": "192.0.2.29"}}},
        {"Node": {"Verb": "set", "Node": {"Node": "r-b", "ID": ID_A, "Address": "192.0.2.20"}}}])
    assert r.status_code == 409, r.text
    assert r.json()["Errors"] == [{"OpIndex": 1, "What": (
        'Error while renaming Node ID: "%s" (192.0.2.20): '
        "Node name r-b is reserved by node %s with name r-b (192.0.2.21)" % (ID_A, ID_B))}]
    assert node_ids(a) == before  # nothing changed, r-x included

    # r-b's serfHealth critical frees the name: the rename goes through (the
    # leader may reap the critical r-b, a non-member, at any time: either way
    # the name is free; the rename sets serfHealth passing so it stays)
    reg(a, {"Node": "r-b", "ID": ID_B, "Address": "192.0.2.21",
            "Check": serf("critical")})
    reg(a, {"Node": "r-b", "ID": ID_A, "Address": "192.0.2.20", "Check": serf("passing")})
    ids = node_ids(a)
    assert "r-a" not in ids and ids["r-b"] == ID_A


def test_node_without_id_takes_one(agent_factory):
    a = agent_factory("nidu")
    reg(a, {"Node": "u-old", "Address": "192.0.2.30", "Check": serf("passing"),
            "Service": {"Service": "usvc", "ID": "usvc", "Port": 80}})
    reg(a, {"Node": "u-old", "ID": ID_A, "Address": "192.0.2.30"})
    assert node_ids(a)["u-old"] == ID_A
    assert a.get("/v1/catalog/node/u-old").json()["Services"]["usvc"]["Port"] == 80
    # a healthy node cannot then switch to another ID
    r = a.put_json("/v1/catalog/register", {"Node": "U-OLD", "ID": ID_B, "Address": "192.0.2.30"})
    assert r.status_code == 500, r.text
    assert "Node name u-old is reserved by node %s with name u-old" % ID_A in r.text
