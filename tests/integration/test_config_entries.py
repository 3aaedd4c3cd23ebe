"""Configuration entries (api-docs/config.mdx, commands/config/*): the kind
service-intentions as a view of the intentions, as in Consul 1.9+: an entry
written through /v1/config is the destination's intentions in
/v1/connect/intentions (and back), ?cas= on writes and deletes (true/false),
the entry's ModifyIndex moving with every change of its sources (a legacy
delete included), a blocking read of an entry, 404 for a missing one, the
refusals (other kinds naming the kind, unknown kinds, L7 Permissions, Meta,
legacy fields, a wrong Precedence, duplicate sources), and `cairn config
write|read|list|delete` with HCL and JSON files and -cas -modify-index.

proxy-defaults and service-defaults, stored: write/read/list/delete with
Consul's fields and defaults, ?cas= for both, a blocking list woken by a
write, Consul's texts for invalid entries and cairn's refusal of each field
class it cannot honour, the CLI with HCL in snake_case, ACLs (mesh or
operator write for proxy-defaults, service read/write on the name for
service-defaults, lists filtered), the entries surviving a restart and a
snapshot restore; and central resolution: a sidecar's Proxy.Config at
/v1/agent/service/:id merges proxy-defaults, then service-defaults, then its
own keys, a hash-blocking query wakes when an entry changes, and the built-in
proxy listens on the bind_port proxy-defaults gives it (and refuses a
timeout it cannot honour). python3-consul (1.1) has no config entry calls."""

import json
import time
import socket
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
    ({"Kind": "service-router", "Name": "web"},
     'config entry kind "service-router" is not supported by cairn'),
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
    r = agent.get("/v1/config/service-splitter")
    assert r.status_code == 400 and "service-splitter" in r.text
    r = agent.get("/v1/config/service-splitter/web")
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
    bad.write_text('Kind = "service-router"\nName = "web"\n')
    p = cli(agent, "config", "write", str(bad))
    assert p.returncode == 1, p.stdout
    assert "service-router" in p.stderr and "not supported by cairn" in p.stderr, p.stderr
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


# ---- proxy-defaults and service-defaults ---------------------------------------------------

PD, SD = "proxy-defaults", "service-defaults"


def test_defaults_write_read_list_delete(agent):
    r = put(agent, {"Kind": PD, "Name": "global", "Config": {"protocol": "tcp", "n": 1},
                    "Meta": {"team": "mesh"}})
    assert r.status_code == 200 and r.json() is True, r.text
    e = agent.get("/v1/config/%s/global" % PD).json()
    assert e == {"Kind": PD, "Name": "global", "Config": {"protocol": "tcp", "n": 1},
                 "TransparentProxy": {}, "MeshGateway": {}, "Expose": {},
                 "Meta": {"team": "mesh"}, "CreateIndex": e["CreateIndex"],
                 "ModifyIndex": e["ModifyIndex"]}
    assert e["CreateIndex"] == e["ModifyIndex"] > 0
    # Protocol lower-cased, as Consul's Normalize
    assert put(agent, {"Kind": SD, "Name": "sd-web", "Protocol": "HTTP"}).json() is True
    assert put(agent, {"kind": SD, "name": "sd-api", "mode": "direct",
                       "mesh_gateway": {"mode": ""}}).json() is True
    w = agent.get("/v1/config/%s/sd-web" % SD).json()
    assert w["Protocol"] == "http" and w["MeshGateway"] == {} and "Mode" not in w
    a = agent.get("/v1/config/%s/sd-api" % SD).json()
    assert a["Protocol"] == "" and a["Mode"] == "direct" and a["MeshGateway"] == {}
    lst = agent.get("/v1/config/" + SD)
    assert [x["Name"] for x in lst.json()] == ["sd-api", "sd-web"]
    assert index_of(lst) >= w["ModifyIndex"]
    # an update keeps CreateIndex
    assert put(agent, {"Kind": SD, "Name": "sd-web", "Protocol": "grpc"}).json() is True
    w2 = agent.get("/v1/config/%s/sd-web" % SD).json()
    assert w2["CreateIndex"] == w["CreateIndex"] and w2["ModifyIndex"] > w["ModifyIndex"]
    r = agent.delete("/v1/config/%s/sd-api" % SD)
    assert r.status_code == 200 and r.json() == {}
    r = agent.get("/v1/config/%s/sd-api" % SD)
    assert r.status_code == 404 and r.text == 'Config entry not found for "service-defaults" / "sd-api"'
    assert [x["Name"] for x in agent.get("/v1/config/" + SD).json()] == ["sd-web"]
    # deleting what is not there is no error
    assert agent.delete("/v1/config/%s/sd-none" % SD).status_code == 200
    # proxy-defaults is only ever "global" (Normalize runs on delete too)
    r = agent.delete("/v1/config/%s/other" % PD)
    assert r.status_code == 400 and 'invalid name ("other"), only "global" is supported' in r.text
    assert agent.delete("/v1/config/%s/global" % PD).json() == {}
    assert agent.get("/v1/config/" + PD).json() == []
    assert agent.delete("/v1/config/%s/sd-web" % SD).status_code == 200


def test_defaults_cas(agent):
    body = {"Kind": SD, "Name": "cas-web", "Protocol": "http"}
    assert put(agent, body, cas=0).json() is True
    assert put(agent, body, cas=0).json() is False
    mi = agent.get("/v1/config/%s/cas-web" % SD).json()["ModifyIndex"]
    assert put(agent, dict(body, Protocol="tcp"), cas=mi + 1000).json() is False
    assert put(agent, dict(body, Protocol="tcp"), cas=mi).json() is True
    e = agent.get("/v1/config/%s/cas-web" % SD).json()
    assert e["Protocol"] == "tcp" and e["ModifyIndex"] > mi
    r = agent.delete("/v1/config/%s/cas-web" % SD, params={"cas": mi})
    assert r.status_code == 200 and r.json() is False
    assert agent.get("/v1/config/%s/cas-web" % SD).status_code == 200
    r = agent.delete("/v1/config/%s/cas-web" % SD, params={"cas": e["ModifyIndex"]})
    assert r.json() is True
    assert agent.get("/v1/config/%s/cas-web" % SD).status_code == 404
    # proxy-defaults too
    assert put(agent, {"Kind": PD, "Config": {}}, cas=0).json() is True
    g = agent.get("/v1/config/%s/global" % PD).json()
    assert put(agent, {"Kind": PD, "Config": {"a": 1}}, cas=0).json() is False
    assert agent.delete("/v1/config/%s/global" % PD, params={"cas": g["ModifyIndex"]}).json() is True


def test_defaults_blocking_list(agent):
    r = agent.get("/v1/config/" + SD)
    idx = index_of(r)
    out = {}

    def wait():
        out["r"] = agent.get("/v1/config/" + SD, params={"index": idx, "wait": "30s"}, timeout=60)

    t = threading.Thread(target=wait)
    t.start()
    agent.wait_parked(1)
    assert put(agent, {"Kind": SD, "Name": "blk-web", "Protocol": "http"}).json() is True
    t.join(60)
    assert index_of(out["r"]) > idx
    assert "blk-web" in [x["Name"] for x in out["r"].json()]
    assert agent.delete("/v1/config/%s/blk-web" % SD).status_code == 200


@pytest.mark.parametrize("body,text", [
    # Consul's own texts
    ({"Kind": PD, "Name": "web"}, 'invalid name ("web"), only "global" is supported'),
    ({"Kind": SD, "Name": ""}, "Name is required"),
    ({"Kind": SD, "Name": "*"}, "service-defaults name must be the name of a service, and not a wildcard"),
    ({"Kind": SD, "Name": "x", "BalanceInboundConnections": "round"},
     "invalid value for balance_inbound_connections: round"),
    ({"Kind": SD, "Name": "x", "Bogus": 1}, 'invalid config key "Bogus"'),
    ({"Kind": SD, "Name": "x", "Meta": {"k" * 129: "v"}}, "exceeds maximum length 128"),
    # what cairn cannot honour, one per field class
    ({"Kind": PD, "Mode": "transparent"}, 'Mode "transparent" is not supported'),
    ({"Kind": SD, "Name": "x", "TransparentProxy": {"OutboundListenerPort": 15001}},
     "TransparentProxy is not supported"),
    ({"Kind": PD, "MeshGateway": {"Mode": "local"}}, 'MeshGateway.Mode "local" is not supported'),
    ({"Kind": SD, "Name": "x", "Expose": {"Paths": [{"Path": "/metrics", "LocalPathPort": 9}]}},
     "Expose.Paths is not supported"),
    ({"Kind": SD, "Name": "x", "Expose": {"Checks": True}}, "Expose.Checks is not supported"),
    ({"Kind": SD, "Name": "x", "Destination": {"Addresses": ["a.example"], "Port": 443}},
     "Destination is not supported"),
    ({"Kind": SD, "Name": "x", "UpstreamConfig": {"Overrides": [{"Name": "db", "Protocol": "http"}]}},
     "UpstreamConfig is not supported"),
    ({"Kind": SD, "Name": "x", "LocalConnectTimeoutMs": -1}, "LocalConnectTimeoutMs"),
    ({"Kind": SD, "Name": "x", "LocalConnectTimeoutMs": "soon"}, "LocalConnectTimeoutMs"),
    ({"Kind": SD, "Name": "x", "local_request_timeout_ms": 500}, "LocalRequestTimeoutMs is not supported"),
    ({"Kind": SD, "Name": "x", "MaxInboundConnections": 10}, "MaxInboundConnections is not supported"),
    ({"Kind": SD, "Name": "x", "EnvoyExtensions": [{"Name": "builtin/lua"}]}, "EnvoyExtensions is not supported"),
    ({"Kind": SD, "Name": "x", "RateLimits": {"InstanceLevel": {"RequestsPerSecond": 1}}},
     "RateLimits is not supported"),
    ({"Kind": SD, "Name": "x", "ExternalSNI": "x.example"}, "ExternalSNI is not supported"),
    ({"Kind": PD, "AccessLogs": {"Enabled": True}}, "AccessLogs is not supported"),
    ({"Kind": SD, "Name": "x", "Namespace": "team"}, 'Namespace "team" is not supported'),
    ({"Kind": PD, "Partition": "p"}, 'Partition "p" is not supported'),
])
def test_defaults_refusals(agent, body, text):
    r = put(agent, body)
    assert r.status_code == 400, r.text
    assert text in r.text
    kind = body["Kind"]
    assert agent.get("/v1/config/" + kind).json() == []


def test_defaults_cli(agent, tmp_path):
    pd = tmp_path / "pd.hcl"
    pd.write_text('kind = "proxy-defaults"\nname = "global"\n'
                  'config {\n  protocol = "tcp"\n  bind_address = "127.0.0.1"\n}\n'
                  'mesh_gateway {\n  mode = ""\n}\n')
    p = cli(agent, "config", "write", str(pd))
    assert p.returncode == 0, p.stderr
    assert p.stdout == "Config entry written: proxy-defaults/global\n"
    sd = tmp_path / "sd.hcl"
    sd.write_text('Kind = "service-defaults"\nName = "cli-web"\nProtocol = "http"\n'
                  'balance_inbound_connections = "exact_balance"\n')
    assert cli(agent, "config", "write", str(sd)).returncode == 0
    p = cli(agent, "config", "write", "-", stdin=json.dumps({"Kind": SD, "Name": "cli-api"}))
    assert p.returncode == 0, p.stderr
    e = json.loads(cli(agent, "config", "read", "-kind", PD, "-name", "global").stdout)
    assert e["Config"] == {"protocol": "tcp", "bind_address": "127.0.0.1"}
    assert e["MeshGateway"] == {}
    e = json.loads(cli(agent, "config", "read", "-kind", SD, "-name", "cli-web").stdout)
    assert [e["Protocol"], e["BalanceInboundConnections"]] == ["http", "exact_balance"]
    p = cli(agent, "config", "list", "-kind", SD)
    assert p.returncode == 0 and p.stdout.split() == ["cli-api", "cli-web"]
    p = cli(agent, "config", "write", "-cas", "-modify-index=%d" % (e["ModifyIndex"] - 1), str(sd))
    assert p.returncode == 1 and "Config entry not updated: service-defaults/cli-web" in p.stderr
    bad = tmp_path / "bad.hcl"
    bad.write_text('Kind = "service-defaults"\nName = "cli-web"\nmode = "transparent"\n')
    p = cli(agent, "config", "write", str(bad))
    assert p.returncode == 1 and 'Mode "transparent" is not supported' in p.stderr, p.stderr
    for kind, name in ((SD, "cli-web"), (SD, "cli-api"), (PD, "global")):
        p = cli(agent, "config", "delete", "-kind", kind, "-name", name)
        assert p.returncode == 0 and p.stdout == "Config entry deleted: %s/%s\n" % (kind, name)
    assert cli(agent, "config", "list", "-kind", SD).stdout == ""


def sidecar_config(agent, sid):
    r = agent.get("/v1/agent/service/" + sid)
    assert r.status_code == 200, r.text
    return r


def wait_agent_config(agent, sid, want):
    """The agent writes the merged service again after an entry changed: wait
    for it with hash-blocking queries (each wakes on a change, no sleep)."""
    r = sidecar_config(agent, sid)
    for _ in range(20):
        if r.json()["Proxy"].get("Config") == want:  # omitted when empty
            break
        r = agent.get("/v1/agent/service/" + sid,
                      params={"hash": r.headers["X-Consul-ContentHash"], "wait": "30s"},
                      timeout=60)
        assert r.status_code == 200, r.text
    return r.json()["Proxy"].get("Config")


def test_resolution_at_agent_service(agent):
    r = agent.put_json("/v1/agent/service/register", {
        "Name": "res-web", "ID": "res-web1", "Port": 8080,
        "Connect": {"SidecarService": {"Proxy": {"Config": {"own": "yes", "protocol": "grpc"}}}}})
    assert r.status_code == 200, r.text
    sid = "res-web1-sidecar-proxy"
    assert sidecar_config(agent, sid).json()["Proxy"]["Config"] == {"own": "yes", "protocol": "grpc"}
    assert put(agent, {"Kind": PD, "Config": {"protocol": "tcp", "bind_port": 21999,
                                              "own": "no"}}).json() is True
    # proxy-defaults under the registration's own keys (the agent writes the
    # merged service again once it saw the entry)
    assert wait_agent_config(agent, sid, {"own": "yes", "protocol": "grpc",
                                          "bind_port": 21999}) == {
        "own": "yes", "protocol": "grpc", "bind_port": 21999}
    # and in the agent's services list
    svc = agent.get("/v1/agent/services").json()[sid]
    assert svc["Proxy"]["Config"]["bind_port"] == 21999
    # a hash-blocking query wakes when service-defaults changes the result
    r = sidecar_config(agent, sid)
    h = r.headers["X-Consul-ContentHash"]
    out = {}

    def wait():
        out["r"] = agent.get("/v1/agent/service/" + sid, params={"hash": h, "wait": "30s"},
                             timeout=60)

    # a registration without its own protocol: service-defaults over proxy-defaults
    r = agent.put_json("/v1/agent/service/register", {
        "Name": "res-web", "ID": "res-web1", "Port": 8080,
        "Connect": {"SidecarService": {"Proxy": {"Config": {"own": "yes"}}}}})
    assert r.status_code == 200, r.text
    cfg = sidecar_config(agent, sid).json()["Proxy"]["Config"]
    assert cfg == {"own": "yes", "protocol": "tcp", "bind_port": 21999}
    h = sidecar_config(agent, sid).headers["X-Consul-ContentHash"]
    t = threading.Thread(target=wait)
    t.start()
    agent.wait_parked(1)
    assert put(agent, {"Kind": SD, "Name": "res-web", "Protocol": "http"}).json() is True
    t.join(60)
    assert out["r"].status_code == 200
    assert out["r"].headers["X-Consul-ContentHash"] != h
    assert out["r"].json()["Proxy"]["Config"] == {"own": "yes", "protocol": "http",
                                                  "bind_port": 21999}
    # LocalConnectTimeoutMs: the built-in proxy's local_connect_timeout_ms
    assert put(agent, {"Kind": SD, "Name": "res-web", "Protocol": "http",
                       "LocalConnectTimeoutMs": 250}).json() is True
    assert agent.get("/v1/config/%s/res-web" % SD).json()["LocalConnectTimeoutMs"] == 250
    merged = {"own": "yes", "protocol": "http", "bind_port": 21999,
              "local_connect_timeout_ms": 250}
    assert wait_agent_config(agent, sid, merged) == merged
    # the catalog holds the merged service too (test_service_manager.py)
    cat = agent.get("/v1/catalog/service/res-web-sidecar-proxy").json()
    assert cat[0]["ServiceProxy"]["Config"] == merged
    # entries gone: the registration's own Config again
    assert agent.delete("/v1/config/%s/res-web" % SD).status_code == 200
    assert agent.delete("/v1/config/%s/global" % PD).status_code == 200
    assert wait_agent_config(agent, sid, {"own": "yes"}) == {"own": "yes"}
    assert agent.put("/v1/agent/service/deregister/res-web1").status_code == 200


def test_defaults_survive_restart_and_snapshot(agent_factory):
    a = agent_factory("cfg-persist")
    assert put(a, {"Kind": PD, "Config": {"protocol": "tcp"}}).json() is True
    assert put(a, {"Kind": SD, "Name": "p-web", "Protocol": "http"}).json() is True
    before = {k: a.get("/v1/config/" + k).json() for k in (PD, SD)}
    a.restart()
    assert {k: a.get("/v1/config/" + k).json() for k in (PD, SD)} == before
    archive = a.get("/v1/snapshot").content
    assert a.delete("/v1/config/%s/p-web" % SD).status_code == 200
    assert put(a, {"Kind": PD, "Config": {"protocol": "http"}}).json() is True
    r = a.put("/v1/snapshot", data=archive)
    assert r.status_code == 200, r.text
    sd = a.get("/v1/config/%s/p-web" % SD)
    assert sd.status_code == 200 and sd.json()["Protocol"] == "http"
    pd = a.get("/v1/config/%s/global" % PD).json()
    assert pd["Config"] == {"protocol": "tcp"}
    # a restore moves the indexes forward, never back
    assert pd["ModifyIndex"] > before[PD][0]["ModifyIndex"]
    a.restart()
    assert a.get("/v1/config/%s/p-web" % SD).json()["Protocol"] == "http"


def test_defaults_acl(tmp_path):
    from test_acl import MGMT, AclAgent, acl_config
    cfg = acl_config(str(tmp_path / "acl.hcl"))
    a = AclAgent(tmp_path, name="cfg-acl", extra_args=["-config-file=" + cfg])
    a.start()
    try:
        defaults_acl_checks(a)
    finally:
        rc = a.stop()
        a.close()
    assert a.sanitizer_report() is None, a.sanitizer_report()
    assert rc == 0


def defaults_acl_checks(a):
    def token(rules):
        p = a.put_json("/v1/acl/policy", {"Name": "p%d" % len(rules), "Rules": rules})
        assert p.status_code == 200, p.text
        t = a.put_json("/v1/acl/token", {"Policies": [{"Name": p.json()["Name"]}]})
        assert t.status_code == 200, t.text
        return {"X-Consul-Token": t.json()["SecretID"]}

    web = token('service "acl-web" { policy = "write" }')
    oper = token('operator = "write"')
    reader = token('service "acl-web" { policy = "read" }')
    anon = {"X-Consul-Token": None}  # the anonymous token
    sd = {"Kind": SD, "Name": "acl-web", "Protocol": "http"}
    # service-defaults: service:write on its name
    r = a.put("/v1/config", data=json.dumps(sd), headers=anon)
    assert r.status_code == 403 and "Permission denied" in r.text, r.text
    r = a.put("/v1/config", data=json.dumps(dict(sd, Name="acl-other")), headers=web)
    assert r.status_code == 403
    assert a.put("/v1/config", data=json.dumps(sd), headers=web).json() is True
    assert a.put("/v1/config", data=json.dumps(dict(sd, Name="acl-other"))).json() is True
    # read: service:read, and the list shows only what the token may read
    assert a.get("/v1/config/%s/acl-web" % SD, headers=reader).status_code == 200
    assert a.get("/v1/config/%s/acl-other" % SD, headers=reader).status_code == 403
    lst = a.get("/v1/config/" + SD, headers=reader)
    assert [x["Name"] for x in lst.json()] == ["acl-web"]
    assert lst.headers.get("X-Consul-Results-Filtered-By-ACLs") == "true"
    assert a.delete("/v1/config/%s/acl-web" % SD, headers=reader).status_code == 403
    # proxy-defaults: mesh:write, which operator:write grants; anyone reads
    pd = {"Kind": PD, "Config": {"protocol": "tcp"}}
    assert a.put("/v1/config", data=json.dumps(pd), headers=web).status_code == 403
    assert a.put("/v1/config", data=json.dumps(pd), headers=oper).json() is True
    assert a.get("/v1/config/%s/global" % PD, headers=anon).status_code == 200
    assert a.delete("/v1/config/%s/global" % PD, headers=web).status_code == 403
    assert a.delete("/v1/config/%s/global" % PD, headers=oper).status_code == 200


def test_builtin_proxy_binds_port_from_proxy_defaults(agent_factory, tmp_path):
    cfg = tmp_path / "connect.hcl"
    cfg.write_text("connect { enabled = true }\n")
    a = agent_factory("cfg-proxy", extra_args=["-config-file=" + str(cfg)])
    from test_connect_proxy import Echo, Proxy, roundtrip
    from conftest import free_port, wait_until
    wait_until(lambda: a.get("/v1/connect/ca/roots").json()["ActiveRootID"] != "",
               what="CA initialised")
    echo = Echo()
    registered, bound = free_port(), free_port()
    r = a.put_json("/v1/agent/service/register", {
        "Name": "bp-web", "ID": "bp-web1", "Port": echo.port,
        "Connect": {"SidecarService": {"Port": registered}}})
    assert r.status_code == 200, r.text
    assert put(a, {"Kind": PD, "Config": {"bind_port": bound,
                                          "bind_address": "127.0.0.1"}}).json() is True
    # the agent writes the sidecar again with the merged Config: the proxy reads that
    sc = "bp-web1-sidecar-proxy"
    want_cfg = {"bind_port": bound, "bind_address": "127.0.0.1"}
    assert wait_agent_config(a, sc, want_cfg) == want_cfg
    px = Proxy(tmp_path, "bp-proxy", a, "-sidecar-for=bp-web1")
    px.start()
    try:
        def listening(port):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return True
            except OSError:
                return False
        # the proxy says where it listens: proxy-defaults' port, not the registered one
        want = "public listener on 127.0.0.1:%d," % bound
        wait_until(lambda: want in px.text(), timeout=60, what="the proxy's public listener")
        assert "public listener on 127.0.0.1:%d," % registered not in px.text()
        assert listening(bound)
    finally:
        assert px.stop() == 0, px.text()[-2000:]
    # handshake_timeout_ms from proxy-defaults: a caller that never completes
    # its mutual-TLS handshake is closed after it (Consul's default is 10 s)
    assert put(a, {"Kind": PD, "Config": {"bind_port": bound, "bind_address": "127.0.0.1",
                                          "handshake_timeout_ms": 400}}).json() is True
    want_cfg = dict(want_cfg, handshake_timeout_ms=400)
    assert wait_agent_config(a, sc, want_cfg) == want_cfg
    px = Proxy(tmp_path, "bp-proxy2", a, "-sidecar-for=bp-web1")
    px.start()
    try:
        wait_until(lambda: want in px.text(), timeout=60, what="the proxy's public listener")
        wait_until(lambda: "certificates loaded" in px.text(), timeout=60,
                   what="the proxy's certificates")
        s = socket.create_connection(("127.0.0.1", bound), timeout=30)
        t0 = time.monotonic()
        try:
            assert s.recv(1) == b""  # closed by the proxy, not by our timeout
        finally:
            s.close()
        took = time.monotonic() - t0
        assert 0.3 <= took < 10, took
        wait_until(lambda: "the mutual-TLS handshake did not finish" in px.text(), timeout=30,
                   what="the proxy's log of the timeout")
    finally:
        assert px.stop() == 0, px.text()[-2000:]
    echo.close()
    # a timeout that is not milliseconds: it refuses to start, naming the key
    assert put(a, {"Kind": PD, "Config": {"handshake_timeout_ms": "soon"}}).json() is True
    want_cfg = {"handshake_timeout_ms": "soon"}
    assert wait_agent_config(a, sc, want_cfg) == want_cfg
    px = Proxy(tmp_path, "bp-proxy3", a, "-sidecar-for=bp-web1")
    px.start()
    rc = px.proc.wait(60)
    px.f.close()
    assert rc != 0
    assert "Proxy.Config.handshake_timeout_ms: want milliseconds" in px.text()
