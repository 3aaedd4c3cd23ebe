"""PUT /v1/txn (Consul api-docs/txn.mdx): atomic KV transactions."""

import base64
import json

from conftest import index_of


def b64(s):
    return base64.b64encode(s if isinstance(s, bytes) else s.encode()).decode()


def txn(agent, ops, **params):
    return agent.put("/v1/txn", data=json.dumps(ops), params=params)


def test_mixed_set_cas_get_commits(agent):
    agent.kv_put("tx/x", b"x0")
    mi = agent.kv_get("tx/x")["ModifyIndex"]
    ops = [
        {"KV": {"Verb": "cas", "Key": "tx/x", "Value": b64("x1"), "Index": mi}},
        {"KV": {"Verb": "set", "Key": "tx/y", "Value": b64("y1"), "Flags": 9}},
        {"KV": {"Verb": "get", "Key": "tx/x"}},
        {"KV": {"Verb": "get", "Key": "tx/y"}},
    ]
    r = txn(agent, ops)
    assert r.status_code == 200, r.text
    assert r.headers.get("Content-Type", "").startswith("application/json")
    j = r.json()
    assert j["Errors"] is None
    assert len(j["Results"]) == 4
    set_res = j["Results"][1]["KV"]
    assert set_res["Key"] == "tx/y"
    assert set_res["Value"] is None  # only get/get-tree return values
    assert set_res["Flags"] == 9
    got_x, got_y = j["Results"][2]["KV"], j["Results"][3]["KV"]
    assert base64.b64decode(got_x["Value"]) == b"x1"
    assert base64.b64decode(got_y["Value"]) == b"y1"
    # Every write in one transaction shares one Raft index.
    assert got_x["ModifyIndex"] == got_y["ModifyIndex"] == set_res["ModifyIndex"]
    assert got_x["ModifyIndex"] > mi
    assert base64.b64decode(agent.kv_get("tx/x")["Value"]) == b"x1"
    assert agent.kv_get("tx/y")["Flags"] == 9


def test_lowercase_keys_and_other_verbs(agent):
    agent.kv_put("txv/del", b"d")
    agent.kv_put("txv/tree/a", b"1")
    agent.kv_put("txv/tree/b", b"2")
    dmi = agent.kv_get("txv/del")["ModifyIndex"]
    ops = [
        {"kv": {"verb": "check-not-exists", "key": "txv/new"}},
        {"KV": {"Verb": "set", "Key": "txv/new", "Value": b64("n")}},
        {"KV": {"Verb": "delete-cas", "Key": "txv/del", "Index": dmi}},
        {"KV": {"Verb": "get-tree", "Key": "txv/tree/"}},
        {"KV": {"Verb": "delete-tree", "Key": "txv/tree/"}},
    ]
    r = txn(agent, ops)
    assert r.status_code == 200, r.text
    results = r.json()["Results"]
    tree = [x["KV"]["Key"] for x in results if x["KV"]["Key"].startswith("txv/tree/")]
    assert tree == ["txv/tree/a", "txv/tree/b"]
    assert agent.kv_get("txv/new") is not None
    assert agent.kv_get("txv/del") is None
    assert agent.get("/v1/kv/txv/tree/?recurse").status_code == 404


def test_failed_check_index_rolls_back(agent):
    agent.kv_put("txr/guard", b"g")
    gmi = agent.kv_get("txr/guard")["ModifyIndex"]
    agent.kv_put("txr/existing", b"old")
    before = agent.kv_get("txr/existing")
    ops = [
        {"KV": {"Verb": "set", "Key": "txr/new", "Value": b64("n")}},
        {"KV": {"Verb": "set", "Key": "txr/existing", "Value": b64("new")}},
        {"KV": {"Verb": "check-index", "Key": "txr/guard", "Index": gmi + 1000}},
        {"KV": {"Verb": "set", "Key": "txr/after", "Value": b64("a")}},
    ]
    r = txn(agent, ops)
    assert r.status_code == 409, r.text
    j = r.json()
    assert j["Results"] is None
    assert len(j["Errors"]) == 1
    assert j["Errors"][0]["OpIndex"] == 2
    assert j["Errors"][0]["What"]
    assert agent.kv_get("txr/new") is None
    assert agent.kv_get("txr/after") is None
    assert agent.kv_get("txr/existing") == before


def test_failed_cas_rolls_back(agent):
    agent.kv_put("txc/k", b"v")
    mi = agent.kv_get("txc/k")["ModifyIndex"]
    ops = [
        {"KV": {"Verb": "set", "Key": "txc/other", "Value": b64("o")}},
        {"KV": {"Verb": "cas", "Key": "txc/k", "Value": b64("w"), "Index": mi + 1}},
    ]
    r = txn(agent, ops)
    assert r.status_code == 409
    assert r.json()["Errors"][0]["OpIndex"] == 1
    assert agent.kv_get("txc/other") is None
    assert base64.b64decode(agent.kv_get("txc/k")["Value"]) == b"v"


def test_get_missing_key_fails_txn(agent):
    ops = [
        {"KV": {"Verb": "set", "Key": "txm/a", "Value": b64("a")}},
        {"KV": {"Verb": "get", "Key": "txm/none"}},
    ]
    r = txn(agent, ops)
    assert r.status_code == 409
    assert r.json()["Errors"][0]["OpIndex"] == 1
    assert agent.kv_get("txm/a") is None


def test_op_limit(agent):
    ops = [{"KV": {"Verb": "set", "Key": "txl/%03d" % i, "Value": b64("v")}}
           for i in range(128)]
    r = txn(agent, ops)
    assert r.status_code == 200, r.text
    assert len(r.json()["Results"]) == 128
    assert len(agent.get("/v1/kv/txl/?keys").json()) == 128

    ops = [{"KV": {"Verb": "set", "Key": "txo/%03d" % i, "Value": b64("v")}}
           for i in range(129)]
    r = txn(agent, ops)
    assert r.status_code == 413
    assert "application/json" not in r.headers.get("Content-Type", "")
    assert agent.get("/v1/kv/txo/?keys").status_code == 404


def test_request_size_limit(agent):
    # Two values of 300 KiB: each fits kv_max_value_size but the body
    # exceeds txn_max_req_len (512 KiB).
    big = b64(b"z" * (300 * 1024))
    ops = [{"KV": {"Verb": "set", "Key": "txs/a", "Value": big}},
           {"KV": {"Verb": "set", "Key": "txs/b", "Value": big}}]
    r = txn(agent, ops)
    assert r.status_code == 413
    assert agent.kv_get("txs/a") is None


def test_malformed_is_400_and_nothing_applied(agent):
    bodies = [
        b"",
        b"not json",
        b"[",
        b"{}",
        b'[{"KV":{"Verb":"set","Key":"txbad/a","Value":"dg=="}}] trailing',
        b'[{"KV":{"Verb":"set","Key":"txbad/a","Value":"%%%not base64"}}]',
        b'[{"KV":{"Verb":"set","Key":"txbad/a","Value":"dg==","Flags":"x"}}]',
        b'[42]',
    ]
    for body in bodies:
        r = agent.put("/v1/txn", data=body)
        assert r.status_code == 400, (body, r.status_code, r.text)
        assert "application/json" not in r.headers.get("Content-Type", ""), body
    assert agent.get("/v1/kv/txbad/?recurse").status_code == 404


def test_unknown_verb_rejected(agent):
    # Consul fails this at apply time (409, "unknown KV verb"); rejecting it
    # up front with 400 is as good. Either way nothing is applied.
    ops = [{"KV": {"Verb": "set", "Key": "txuv/a", "Value": b64("a")}},
           {"KV": {"Verb": "frobnicate", "Key": "txuv/b"}}]
    r = txn(agent, ops)
    assert r.status_code in (400, 409), (r.status_code, r.text)
    assert agent.kv_get("txuv/a") is None


def test_read_only_txn(agent):
    agent.kv_put("txro/a", b"A")
    agent.kv_put("txro/b", b"B")
    before = index_of(agent.get("/v1/kv/txro/?recurse"))
    ops = [{"KV": {"Verb": "get", "Key": "txro/a"}},
           {"KV": {"Verb": "get-tree", "Key": "txro/"}}]
    r = txn(agent, ops)
    assert r.status_code == 200, r.text
    assert r.headers.get("X-Consul-KnownLeader") == "true"
    assert r.headers.get("X-Consul-LastContact") is not None
    res = r.json()["Results"]
    assert base64.b64decode(res[0]["KV"]["Value"]) == b"A"
    assert [x["KV"]["Key"] for x in res[1:]] == ["txro/a", "txro/b"]
    # Reading changes nothing.
    assert index_of(agent.get("/v1/kv/txro/?recurse")) == before
    r = txn(agent, ops, stale="")
    assert r.status_code == 200
    r = txn(agent, ops, consistent="")
    assert r.status_code == 200


def test_wrong_method(agent):
    assert agent.get("/v1/txn").status_code == 405
    assert agent.delete("/v1/txn").status_code == 405
