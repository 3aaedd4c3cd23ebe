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
