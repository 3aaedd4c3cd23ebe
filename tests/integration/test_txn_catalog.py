"""/v1/txn Node, Service and Check operations
(https://developer.hashicorp.com/consul/api-docs/txn, agent/consul/state/txn.go):
every verb, Consul's TxnResult shapes ({"Node": ...}, {"Service": ...},
{"Check": ...}), 409 with every failing op's index and Consul's text, all or
nothing, and the catalog endpoints seeing the result. (python-consul 0.7.1
has no txn API: raw HTTP.) KV ops mixed with these, and Session ops, are
refused with 400 (docs/consul-compat.md)."""

import json


def txn(agent, ops):
    return agent.put("/v1/txn", data=json.dumps(ops))


def test_set_get_and_results(agent):
    r = txn(agent, [
        {"Node": {"Verb": "set", "Node": {"Node": "tx1", "Address": "10.1.0.1",
                                          "Meta": {"rack": "r1"}}}},
        {"Service": {"Verb": "set", "Node": "tx1",
                     "Service": {"ID": "web1", "Service": "web", "Tags": ["v1"], "Port": 80}}},
        {"Check": {"Verb": "set", "Check": {"Node": "tx1", "CheckID": "web1-ok", "Name": "ok",
                                            "Status": "passing", "ServiceID": "web1"}}},
    ])
    assert r.status_code == 200, r.text
    body = r.json()
    assert list(body) == ["Results", "Errors"] and body["Errors"] is None
    res = body["Results"]
    assert [list(x) for x in res] == [["Node"], ["Service"], ["Check"]]
    assert res[0]["Node"]["Node"] == "tx1" and res[0]["Node"]["Meta"] == {"rack": "r1"}
    assert res[1]["Service"]["ID"] == "web1" and res[1]["Service"]["Port"] == 80
    assert res[2]["Check"]["ServiceName"] == "web" and res[2]["Check"]["Status"] == "passing"
    idx = res[0]["Node"]["ModifyIndex"]
    assert res[1]["Service"]["ModifyIndex"] == res[2]["Check"]["ModifyIndex"] == idx
    # The catalog and health endpoints see it.
    h = agent.get("/v1/health/service/web").json()
    assert [(e["Node"]["Node"], [c["CheckID"] for c in e["Checks"]]) for e in h] == [
        ("tx1", ["web1-ok"])]
    # get verbs answer the items.
    r = txn(agent, [{"Node": {"Verb": "get", "Node": {"Node": "tx1"}}},
                    {"Service": {"Verb": "get", "Node": "tx1", "Service": {"ID": "web1"}}},
                    {"Check": {"Verb": "get", "Check": {"Node": "tx1", "CheckID": "web1-ok"}}}])
    assert r.status_code == 200
    assert [x[k]["ModifyIndex"] for x, k in zip(r.json()["Results"],
                                                ["Node", "Service", "Check"])] == [idx] * 3


def test_cas_and_delete(agent):
    idx = txn(agent, [{"Node": {"Verb": "set", "Node": {"Node": "tx2", "Address": "10.1.0.2"}}}
                      ]).json()["Results"][0]["Node"]["ModifyIndex"]
    r = txn(agent, [{"Node": {"Verb": "cas", "Node": {"Node": "tx2", "Address": "10.1.0.3",
                                                      "ModifyIndex": idx}}}])
    assert r.status_code == 200
    assert r.json()["Results"][0]["Node"]["Address"] == "10.1.0.3"
    new = r.json()["Results"][0]["Node"]["ModifyIndex"]
    r = txn(agent, [{"Node": {"Verb": "delete-cas", "Node": {"Node": "tx2",
                                                             "ModifyIndex": new}}}])
    assert (r.status_code, r.json()) == (200, {"Results": [], "Errors": None})
    assert agent.get("/v1/catalog/node/tx2").json() is None


def test_rollback_reports_every_failure(agent):
    txn(agent, [{"Node": {"Verb": "set", "Node": {"Node": "tx3", "Address": "10.1.0.3"}}}])
    before = agent.get("/v1/catalog/node/tx3").json()
    r = txn(agent, [
        {"Node": {"Verb": "delete", "Node": {"Node": "tx3"}}},
        {"Node": {"Verb": "cas", "Node": {"Node": "tx3", "Address": "x", "ModifyIndex": 1}}},
        {"Service": {"Verb": "get", "Node": "tx3", "Service": {"ID": "nope"}}},
        {"Check": {"Verb": "get", "Check": {"Node": "tx3", "CheckID": "nope"}}},
        {"Service": {"Verb": "set", "Node": "nobody", "Service": {"Service": "s"}}},
        {"Node": {"Verb": "bogus", "Node": {"Node": "tx3"}}},
    ])
    # The unknown verb is found before anything runs (as Consul's decoder
    # and dispatch report it), alone.
    assert r.status_code == 409
    assert r.json() == {"Results": None, "Errors": [
        {"OpIndex": 5, "What": 'unknown Node verb "bogus"'}]}
    r = txn(agent, [
        {"Node": {"Verb": "delete", "Node": {"Node": "tx3"}}},
        {"Node": {"Verb": "cas", "Node": {"Node": "tx3", "Address": "x", "ModifyIndex": 1}}},
        {"Service": {"Verb": "get", "Node": "tx3", "Service": {"ID": "nope"}}},
        {"Check": {"Verb": "get", "Check": {"Node": "tx3", "CheckID": "nope"}}},
        {"Service": {"Verb": "set", "Node": "nobody", "Service": {"Service": "s"}}},
    ])
    assert r.status_code == 409
    assert r.json() == {"Results": None, "Errors": [
        {"OpIndex": 1, "What": 'failed to set node "tx3", index is stale'},
        {"OpIndex": 2, "What": 'service "nope" on node "tx3" doesn\'t exist'},
        {"OpIndex": 3, "What": 'check "nope" on node "tx3" doesn\'t exist'},
        {"OpIndex": 4, "What": "Missing node registration"},
    ]}, r.json()
    # Nothing happened: the delete of op 0 was undone.
    assert agent.get("/v1/catalog/node/tx3").json() == before


def test_refusals(agent):
    r = txn(agent, [{"Node": {"Verb": "get", "Node": {"Node": "tx1"}}},
                    {"KV": {"Verb": "get", "Key": "a"}}])
    assert r.status_code == 400
    assert "mixing KV and Node/Service/Check operations is not supported" in r.text
    r = txn(agent, [{"Session": {"Verb": "delete", "Session": {"ID": "x"}}}])
    assert r.status_code == 400 and "Session operations" in r.text
