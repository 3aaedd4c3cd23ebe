"""Service intentions (https://developer.hashicorp.com/consul/api-docs/connect/
intentions; agent/intentions_endpoint.go, agent/structs/intention.go): create
by ID (legacy) and upsert by name, read, list in evaluation order with
?filter, match by source and destination, check with the wildcard and
precedence rules, delete both ways, Consul's error texts, a blocking list
woken by a change, `cairn intention`, persistence across a restart from a
snapshot, and what cairn refuses (L7 Permissions, other namespaces)."""

import json
import threading

from conftest import cairn_cli, index_of, wait_until

BASE = "/v1/connect/intentions"
KEYS = ["Description", "SourceNS", "SourceName", "DestinationNS", "DestinationName",
        "SourceType", "Action", "Meta", "Precedence", "CreateIndex", "ModifyIndex"]


def create(agent, body, status=200):
    r = agent.request("POST", BASE, data=json.dumps(body))
    assert r.status_code == status, r.text
    return r.json()["ID"] if status == 200 else r.text


def upsert(agent, src, dst, body, status=200):
    r = agent.request("PUT", BASE + "/exact", params={"source": src, "destination": dst},
                      data=json.dumps(body))
    assert r.status_code == status, r.text
    return r


def check(agent, src, dst):
    r = agent.get(BASE + "/check", params={"source": src, "destination": dst})
    assert r.status_code == 200, r.text
    return r.json()["Allowed"]


def clear(agent):
    for x in agent.get(BASE).json():
        r = agent.delete(BASE + "/exact", params={"source": x["SourceName"],
                                                  "destination": x["DestinationName"]})
        assert r.status_code == 200


def test_create_read_shapes(agent):
    clear(agent)
    iid = create(agent, {"SourceName": "web", "DestinationName": "db", "SourceType": "consul",
                         "Action": "allow", "Description": "d", "Meta": {"team": "a"}})
    r = agent.get(BASE + "/" + iid)
    assert r.status_code == 200
    x = r.json()
    assert list(x) == ["ID"] + KEYS[:8] + ["Precedence", "CreatedAt", "UpdatedAt",
                                            "CreateIndex", "ModifyIndex"]
    assert (x["ID"], x["SourceName"], x["DestinationName"], x["Action"]) == (iid, "web", "db",
                                                                            "allow")
    assert (x["SourceNS"], x["DestinationNS"], x["SourceType"]) == ("default", "default",
                                                                  "consul")
    assert x["Meta"] == {"team": "a"} and x["Precedence"] == 9
    assert x["CreatedAt"].endswith("Z") and x["CreateIndex"] == x["ModifyIndex"] > 0
    assert index_of(r) >= x["ModifyIndex"]
    assert agent.get(BASE + "/" + iid, params={"pretty": ""}).json() == x
    # the same through the name
    e = agent.get(BASE + "/exact", params={"source": "web", "destination": "db"})
    assert e.status_code == 200 and e.json() == x
    # upserted by name: no ID and no times (Consul 1.9+)
    assert upsert(agent, "*", "db", {"Action": "deny"}).json() is True
    y = agent.get(BASE + "/exact", params={"source": "*", "destination": "db"}).json()
    assert list(y) == KEYS and y["Precedence"] == 8 and y["Meta"] == {}
    # Go's api client sends whole structs with zero values: accepted
    z = create(agent, {"ID": "", "SourceName": "api", "DestinationName": "*", "Action": "deny",
                       "Precedence": 0, "CreateIndex": 0, "ModifyIndex": 0,
                       "CreatedAt": "0001-01-01T00:00:00Z", "SourceNS": "", "Permissions": None})
    assert agent.get(BASE + "/" + z).json()["Precedence"] == 6


def test_errors(agent):
    clear(agent)
    iid = create(agent, {"SourceName": "web", "DestinationName": "db", "Action": "allow"})
    assert create(agent, {"SourceName": "web", "DestinationName": "db", "Action": "deny"},
                  500) == ("duplicate intention found: ALLOW default/web => default/db "
                           "(ID: %s)" % iid)
    bad = [({"SourceName": "w*", "DestinationName": "db", "Action": "allow"},
            "SourceName: wildcard character '*' cannot be used with partial values"),
           ({"SourceName": "web", "DestinationName": "*b", "Action": "allow"},
            "DestinationName: wildcard character '*' cannot be used with partial values"),
           ({"SourceName": "web", "DestinationName": "x", "Action": "maybe"},
            "Action must be set to 'allow' or 'deny'"),
           ({"DestinationName": "x", "Action": "allow"}, "SourceName must be set"),
           ({"SourceName": "web", "DestinationName": "x", "Action": "allow",
             "SourceType": "external-uri"}, "SourceType must be set to 'consul'"),
           ({"SourceName": "web", "DestinationName": "x", "Action": "allow",
             "Description": "x" * 513}, "Description exceeds maximum length 512")]
    for body, text in bad:
        assert create(agent, body, 500) == text
    # refused rather than ignored (docs/consul-compat.md)
    r = agent.request("POST", BASE, data=json.dumps(
        {"SourceName": "a", "DestinationName": "b",
         "Permissions": [{"Action": "allow", "HTTP": {"PathPrefix": "/"}}]}))
    assert r.status_code == 400 and "Permissions is not supported" in r.text
    r = agent.request("POST", BASE, data=json.dumps(
        {"SourceName": "a", "DestinationName": "b", "Action": "allow", "SourceNS": "team"}))
    assert r.status_code == 400 and "namespace" in r.text
    assert agent.request("POST", BASE, data="{").status_code == 400
    # by ID: missing
    r = agent.request("PUT", BASE + "/nope", data=json.dumps(
        {"SourceName": "a", "DestinationName": "b", "Action": "allow"}))
    assert (r.status_code, r.text) == (500, "Cannot modify non-existent intention: 'nope'")
    r = agent.delete(BASE + "/nope")
    assert (r.status_code, r.text) == (500, "Cannot delete non-existent intention: 'nope'")
    r = agent.get(BASE + "/nope")
    assert (r.status_code, r.text) == (404, "Intention not found")
    r = agent.get(BASE + "/exact", params={"source": "zz", "destination": "db"})
    assert r.status_code == 404
    # parameters
    r = agent.get(BASE + "/check", params={"source": "web"})
    assert (r.status_code, r.text) == (400, "required query parameter 'destination' not set")
    r = agent.get(BASE + "/match", params={"name": "db"})
    assert (r.status_code, r.text) == (400, "required query parameter 'by' not set")
    r = agent.get(BASE + "/match", params={"by": "both", "name": "db"})
    assert r.status_code == 400 and "'by' parameter must be one of" in r.text
    r = agent.get(BASE + "/match", params={"by": "source"})
    assert (r.status_code, r.text) == (400, "required query parameter 'name' not set")
    r = agent.get(BASE + "/check", params={"source": "a/b/c", "destination": "db"})
    assert r.status_code == 400 and "at most one '/'" in r.text
    assert agent.request("POST", BASE + "/check").status_code == 405


def test_order_match_and_check(agent):
    clear(agent)
    upsert(agent, "web", "db", {"Action": "allow"})
    upsert(agent, "*", "db", {"Action": "deny"})
    upsert(agent, "api", "*", {"Action": "deny"})
    upsert(agent, "*", "*", {"Action": "allow"})
    upsert(agent, "admin", "db", {"Action": "allow"})
    lst = agent.get(BASE).json()
    # evaluation order: precedence, then source and destination names
    assert [(x["SourceName"], x["DestinationName"], x["Precedence"]) for x in lst] == [
        ("admin", "db", 9), ("web", "db", 9), ("*", "db", 8), ("api", "*", 6), ("*", "*", 5)]
    m = agent.get(BASE + "/match", params=[("by", "destination"), ("name", "db"),
                                           ("name", "cache")]).json()
    assert list(m) == ["db", "cache"]
    assert [(x["SourceName"], x["DestinationName"]) for x in m["db"]] == [
        ("admin", "db"), ("web", "db"), ("*", "db"), ("api", "*"), ("*", "*")]
    assert [(x["SourceName"], x["DestinationName"]) for x in m["cache"]] == [
        ("api", "*"), ("*", "*")]
    m = agent.get(BASE + "/match", params={"by": "source", "name": "default/web"}).json()
    assert [(x["SourceName"], x["DestinationName"]) for x in m["default/web"]] == [
        ("web", "db"), ("*", "db"), ("*", "*")]
    assert check(agent, "web", "db") is True        # exact beats *
    assert check(agent, "other", "db") is False     # * => db deny
    assert check(agent, "api", "cache") is False    # api => * deny
    assert check(agent, "api", "db") is False       # * => db (8) before api => * (6)
    assert check(agent, "x", "y") is True           # * => * allow
    agent.delete(BASE + "/exact", params={"source": "*", "destination": "*"})
    assert check(agent, "x", "y") is True           # no match: the default (allow, no ACLs)
    f = agent.get(BASE, params={"filter": 'Action == "deny" and SourceName == "*"'}).json()
    assert [(x["SourceName"], x["DestinationName"]) for x in f] == [("*", "db")]
    r = agent.get(BASE, params={"filter": "Nope == 1"})
    assert r.status_code == 400


def test_update_by_id_and_delete(agent):
    clear(agent)
    iid = create(agent, {"SourceName": "web", "DestinationName": "db", "Action": "allow"})
    before = agent.get(BASE + "/" + iid).json()
    r = agent.request("PUT", BASE + "/" + iid, data=json.dumps(
        {"SourceName": "web", "DestinationName": "cache", "Action": "deny"}))
    assert r.status_code == 200 and r.text == ""
    after = agent.get(BASE + "/" + iid).json()
    assert (after["DestinationName"], after["Action"]) == ("cache", "deny")
    assert after["CreateIndex"] == before["CreateIndex"] < after["ModifyIndex"]
    assert after["CreatedAt"] == before["CreatedAt"]
    assert agent.get(BASE + "/exact", params={"source": "web",
                                              "destination": "db"}).status_code == 404
    # an upsert by name keeps the ID
    upsert(agent, "web", "cache", {"Action": "allow", "Description": "again"})
    assert agent.get(BASE + "/" + iid).json()["Description"] == "again"
    r = agent.delete(BASE + "/" + iid)
    assert r.status_code == 200
    assert agent.get(BASE).json() == []
    # deleting a pair that has none is done
    r = agent.delete(BASE + "/exact", params={"source": "a", "destination": "b"})
    assert (r.status_code, r.json()) == (200, True)


def test_blocking_list_wakes(agent):
    clear(agent)
    r = agent.get(BASE)
    idx = index_of(r)
    out = {}

    def wait():
        out["r"] = agent.get(BASE, params={"index": idx, "wait": "20s"})

    t = threading.Thread(target=wait)
    before = agent.parked()
    t.start()
    agent.wait_parked(before + 1)
    upsert(agent, "web", "db", {"Action": "deny"})
    t.join(25)
    assert not t.is_alive()
    assert index_of(out["r"]) > idx
    assert [x["SourceName"] for x in out["r"].json()] == ["web"]


def test_cli(agent):
    clear(agent)
    addr = "-http-addr=127.0.0.1:%d" % agent.http_port
    p = cairn_cli("intention", "create", "web", "db", addr)
    assert (p.returncode, p.stdout) == (0, "Created: web => db (allow)\n"), p.stderr
    p = cairn_cli("intention", "create", "-deny", "-meta", "team=x", "*", "db", addr)
    assert (p.returncode, p.stdout) == (0, "Created: * => db (deny)\n"), p.stderr
    p = cairn_cli("intention", "create", "web", "db", addr)
    assert p.returncode == 1 and "duplicate intention found" in p.stderr
    p = cairn_cli("intention", "create", "-replace", "-deny", "web", "db", addr)
    assert p.returncode == 0, p.stderr
    p = cairn_cli("intention", "check", "web", "db", addr)
    assert (p.returncode, p.stdout) == (2, "Denied\n")
    p = cairn_cli("intention", "check", "x", "y", addr)
    assert (p.returncode, p.stdout) == (0, "Allowed\n")
    p = cairn_cli("intention", "match", "db", addr)
    assert p.stdout == "web => db (deny)\n* => db (deny)\n"
    p = cairn_cli("intention", "get", "*", "db", addr)
    assert "Destination:  db\n" in p.stdout and "Meta[team]:   x\n" in p.stdout
    p = cairn_cli("intention", "list", addr)
    lines = p.stdout.splitlines()
    assert lines[0].split() == ["ID", "Source", "Action", "Destination", "Precedence"]
    assert [ln.split()[1:] for ln in lines[1:]] == [["web", "deny", "db", "9"],
                                                   ["*", "deny", "db", "8"]]
    p = cairn_cli("intention", "delete", "web", "db", addr)
    assert (p.returncode, p.stdout) == (0, "Intention deleted.\n")
    p = cairn_cli("intention", "create", "-allow", "-deny", "a", "b", addr)
    assert p.returncode == 1 and "Only one of -allow or -deny" in p.stderr


def test_intentions_survive_restart_from_snapshot(agent_factory):
    a = agent_factory("snapixn", extra_args=["-raft-snapshot-threshold=1",
                                             "-raft-snapshot-interval=0s"])
    iid = create(a, {"SourceName": "web", "DestinationName": "db", "Action": "deny",
                     "Meta": {"k": "v"}})
    upsert(a, "*", "db", {"Action": "allow"})
    for i in range(5):
        a.kv_put("k%d" % i, "v")
    before = a.get(BASE).json()
    a.restart()
    wait_until(lambda: a.get(BASE).status_code == 200, what="agent back")
    assert a.get(BASE).json() == before
    assert a.get(BASE + "/" + iid).json()["Meta"] == {"k": "v"}
    assert check(a, "web", "db") is False
