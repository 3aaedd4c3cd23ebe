"""Configuration entries (api-docs/config.mdx, commands/config/*): the kind
service-intentions as a view of the intentions, as in Consul 1.9+: an entry
written through /v1/config is the destination's intentions in
/v1/connect/intentions (and back), ?cas= on writes and deletes (true/false),
the entry's ModifyIndex moving with every change of its sources (a legacy
delete included), a blocking read of an entry, 404 for a missing one, the
refusals (other kinds naming the kind, unknown kinds, L7 Permissions, Meta,
legacy fields, a wrong Precedence, duplicate sources), and `cairn config
write|read|list|delete` with HCL and JSON files and -cas -modify-index."""

import json
import subprocess
import threading

import pytest

from conftest import CAIRN_BIN, index_of

KIND = "service-intentions"


def entry(name, *sources):
    return {"Kind": KIND, "Name": name, "Sources": list(sources)}


def src(name, action="allow", **kw):
    d = {"Name": name, "Action": action}
    d.update(kw)
    return d


def put(agent, body, **params):
    return agent.put("/v1/config", data=json.dumps(body), params=params)


def ixns(agent, dest):
    return sorted((x["SourceName"], x["Action"]) for x in agent.get("/v1/connect/intentions").json()
                  if x["DestinationName"] == dest)


def cli(agent, *args, stdin=None):
    return subprocess.run([CAIRN_BIN] + list(args[:2]) +
                          ["-http-addr=127.0.0.1:%d" % agent.http_port] + list(args[2:]),
                          capture_output=True, text=True, timeout=60, input=stdin)


def test_entry_is_a_view_of_the_intentions(agent):
    r = put(agent, entry("cfg-db", src("web"), src("*", "deny", Description="the rest")))
    assert r.status_code == 200 and r.json() is True, r.text
    e = agent.get("/v1/config/%s/cfg-db" % KIND).json()
    assert [e["Kind"], e["Name"]] == [KIND, "cfg-db"]
    assert e["Sources"] == [
        {"Name": "web", "Action": "allow", "Precedence": 9, "Type": "consul"},
        {"Name": "*", "Action": "deny", "Precedence": 8, "Type": "consul",
         "Description": "the rest"}]
    assert e["ModifyIndex"] >= e["CreateIndex"] > 0
    assert ixns(agent, "cfg-db") == [("*", "deny"), ("web", "allow")]
    # the intentions API writes what the entry shows, and decides on it
    r = agent.put("/v1/connect/intentions/exact", params={"source": "api", "destination": "cfg-db"},
                  data=json.dumps({"Action": "deny"}))
    assert r.status_code == 200, r.text
    e2 = agent.get("/v1/config/%s/cfg-db" % KIND).json()
    assert [s["Name"] for s in e2["Sources"]] == ["api", "web", "*"]
    assert e2["ModifyIndex"] > e["ModifyIndex"]
    chk = agent.get("/v1/connect/intentions/check", params={"source": "web",
                                                            "destination": "cfg-db"}).json()
    assert chk == {"Allowed": True}
    # a write of the entry replaces the whole set: api leaves, web turns deny
    assert put(agent, entry("cfg-db", src("web", "deny"))).json() is True
    assert ixns(agent, "cfg-db") == [("web", "deny")]
    assert agent.get("/v1/connect/intentions/check", params={
        "source": "web", "destination": "cfg-db"}).json() == {"Allowed": False}
    # the list of the kind, by name
    assert put(agent, entry("cfg-aaa", src("x"))).json() is True
    names = [x["Name"] for x in agent.get("/v1/config/" + KIND).json()]
    assert names.index("cfg-aaa") < names.index("cfg-db")
    # deleting the entry deletes its intentions
    r = agent.delete("/v1/config/%s/cfg-db" % KIND)
    assert r.status_code == 200 and r.json() == {}
    assert ixns(agent, "cfg-db") == []
    r = agent.get("/v1/config/%s/cfg-db" % KIND)
    assert r.status_code == 404
    assert r.text == 'Config entry not found for "service-intentions" / "cfg-db"'


def test_cas(agent):
    # cas=0: only when there is no entry
    assert put(agent, entry("cas-db", src("web")), cas=0).json() is True
    assert put(agent, entry("cas-db", src("web")), cas=0).json() is False
    e = agent.get("/v1/config/%s/cas-db" % KIND).json()
    mi = e["ModifyIndex"]
    assert put(agent, entry("cas-db", src("web"), src("api")), cas=mi).json() is True
    assert put(agent, entry("cas-db", src("web", "deny")), cas=mi).json() is False
    assert ixns(agent, "cas-db") == [("api", "allow"), ("web", "allow")]
    mi = agent.get("/v1/config/%s/cas-db" % KIND).json()["ModifyIndex"]
    # a legacy delete of one source moves the entry's index: the old one fails
    r = agent.delete("/v1/connect/intentions/exact", params={"source": "api",
                                                            "destination": "cas-db"})
    assert r.status_code == 200, r.text
    e = agent.get("/v1/config/%s/cas-db" % KIND).json()
    assert e["ModifyIndex"] > mi
    assert [s["Name"] for s in e["Sources"]] == ["web"]
    assert put(agent, entry("cas-db", src("web"), src("api")), cas=mi).json() is False
    assert ixns(agent, "cas-db") == [("web", "allow")]
    # delete with cas
    r = agent.delete("/v1/config/%s/cas-db" % KIND, params={"cas": mi})
    assert r.status_code == 200 and r.json() is False
    r = agent.delete("/v1/config/%s/cas-db" % KIND, params={"cas": e["ModifyIndex"]})
    assert r.json() is True
    assert agent.get("/v1/config/%s/cas-db" % KIND).status_code == 404
    assert put(agent, entry("cas-db", src("web")), cas="x").status_code == 400


def test_blocking_read_wakes_on_change(agent):
    assert put(agent, entry("blk-db", src("web"))).json() is True
    r = agent.get("/v1/config/%s/blk-db" % KIND)
    idx = index_of(r)
    out = {}

    def wait():
        out["r"] = agent.get("/v1/config/%s/blk-db" % KIND, params={"index": idx, "wait": "30s"},
                             timeout=60)

    t = threading.Thread(target=wait)
    t.start()
    agent.wait_parked(1)
    r = agent.put("/v1/connect/intentions/exact", params={"source": "api",
                                                          "destination": "blk-db"},
                  data=json.dumps({"Action": "allow"}))
    assert r.status_code == 200
    t.join(60)
    assert index_of(out["r"]) > idx
    assert [s["Name"] for s in out["r"].json()["Sources"]] == ["api", "web"]


@pytest.mark.parametrize("body,text", [
    ({"Kind": "service-defaults", "Name": "web", "Protocol": "http"},
     'config entry kind "service-defaults" is not supported by cairn'),
    ({"Kind": "proxy-defaults", "Name": "global"}, 'config entry kind "proxy-defaults"'),
    ({"Kind": "service-resolver", "Name": "web"}, 'config entry kind "service-resolver"'),
    ({"Kind": "bogus", "Name": "x"}, "invalid config entry kind: bogus"),
    ({"Name": "x"}, "Payload does not contain a kind/Kind key"),
    (entry("r", src("web", Permissions=[{"Action": "allow", "HTTP": {"PathPrefix": "/"}}])),
     "L7 permissions are not supported"),
    (dict(entry("r", src("web")), Meta={"a": "b"}), "Meta is not supported"),
    (entry("r", src("web", LegacyID="abc")), "Sources[0].LegacyID: cannot set this field"),
    (entry("r", src("web", Precedence=5)), "Sources[0].Precedence is computed (9 here)"),
    (entry("r", src("web"), src("web", "deny")), 'Sources[1].Name: duplicate source "web"'),
    (entry("r", src("web", "maybe")), "Sources[0].Action must be set to 'allow' or 'deny'"),
    (entry("r", src("web", Type="other")), "Sources[0].Type must be set to 'consul'"),
    (entry("r", src("web", Peer="p")), "Sources[0].Peer is not supported"),
    (entry("r", src("web", Namespace="team")), 'Sources[0].Namespace "team" is not supported'),
    (entry("r"), "at least one source is required"),
    (entry("we*b", src("x")), "Name: wildcard character"),
    (dict(entry("r", src("web")), Protocol="http"), 'invalid config key "Protocol"'),
])
def test_refusals(agent, body, text):
    r = put(agent, body)
    assert r.status_code == 400, r.text
    assert text in r.text
    assert agent.get("/v1/config/%s/r" % KIND).status_code == 404


def test_paths(agent):
    r = agent.get("/v1/config/service-defaults")
    assert r.status_code == 400 and "service-defaults" in r.text
    r = agent.get("/v1/config/service-defaults/web")
    assert r.status_code == 400
    r = agent.delete("/v1/config/" + KIND)
    assert r.status_code == 404 and "Must provide both a kind and name to delete" in r.text
    r = agent.delete("/v1/config/service-router/web")
    assert r.status_code == 400 and "service-router" in r.text


def test_cli(agent, tmp_path):
    hcl = tmp_path / "db.hcl"
    hcl.write_text('Kind = "service-intentions"\nName = "cli-db"\n'
                   'Sources = [\n  {\n    Name = "web"\n    Action = "allow"\n  },\n'
                   '  {\n    Name = "*"\n    Action = "deny"\n  }\n]\n')
    p = cli(agent, "config", "write", str(hcl))
    assert p.returncode == 0, p.stderr
    assert p.stdout == "Config entry written: service-intentions/cli-db\n"
    assert ixns(agent, "cli-db") == [("*", "deny"), ("web", "allow")]
    # a single Sources block, and JSON from stdin
    blk = tmp_path / "blk.hcl"
    blk.write_text('kind = "service-intentions"\nname = "cli-one"\n'
                   'sources {\n  name = "api"\n  action = "deny"\n}\n')
    assert cli(agent, "config", "write", str(blk)).returncode == 0
    assert ixns(agent, "cli-one") == [("api", "deny")]
    p = cli(agent, "config", "write", "-", stdin=json.dumps(entry("cli-json", src("a"))))
    assert p.returncode == 0, p.stderr
    p = cli(agent, "config", "read", "-kind", KIND, "-name", "cli-db")
    assert p.returncode == 0, p.stderr
    e = json.loads(p.stdout)
    assert [s["Name"] for s in e["Sources"]] == ["web", "*"]
    p = cli(agent, "config", "list", "-kind", KIND)
    assert p.returncode == 0
    assert {"cli-db", "cli-one", "cli-json"} <= set(p.stdout.split())
    # -cas with a stale index
    stale = e["ModifyIndex"] - 1
    p = cli(agent, "config", "write", "-cas", "-modify-index=%d" % stale, str(hcl))
    assert p.returncode == 1 and "Config entry not updated: service-intentions/cli-db" in p.stderr
    p = cli(agent, "config", "write", "-cas", "-modify-index=%d" % e["ModifyIndex"], str(hcl))
    assert p.returncode == 0, p.stderr
    p = cli(agent, "config", "write", "-cas", str(hcl))
    assert p.returncode == 1 and "-cas without -modify-index" in p.stderr
    # refusals come back with the agent's reason
    bad = tmp_path / "bad.hcl"
    bad.write_text('Kind = "service-defaults"\nName = "web"\nProtocol = "http"\n')
    p = cli(agent, "config", "write", str(bad))
    assert p.returncode == 1, p.stdout
    assert "service-defaults" in p.stderr and "not supported by cairn" in p.stderr, p.stderr
    p = cli(agent, "config", "delete", "-kind", KIND, "-name", "cli-one")
    assert p.returncode == 0 and p.stdout == "Config entry deleted: service-intentions/cli-one\n"
    assert ixns(agent, "cli-one") == []
    mi = json.loads(cli(agent, "config", "read", "-kind", KIND, "-name", "cli-db").stdout)[
        "ModifyIndex"]
    p = cli(agent, "config", "delete", "-kind", KIND, "-name", "cli-db", "-cas",
            "-modify-index=%d" % (mi - 1))
    assert p.returncode == 1 and "Config entry not deleted" in p.stderr
    p = cli(agent, "config", "delete", "-kind", KIND, "-name", "cli-db", "-cas",
            "-modify-index=%d" % mi)
    assert p.returncode == 0, p.stderr
    p = cli(agent, "config", "read", "-kind", KIND, "-name", "cli-db")
    assert p.returncode == 1 and "404" in p.stderr
