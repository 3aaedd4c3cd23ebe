"""The compiled discovery chain (api-docs/discovery-chain.mdx;
agent/discovery_chain_endpoint.go, agent/consul/discoverychain/compile.go):
GET and POST /v1/discovery-chain/:service on a -dev agent (Connect on, so
the CA's trust domain names the SNI). cairn has no service-resolver, router
or splitter entries, so the chain is Consul's default chain; what the tests
hold it to: the exact answer and its field order (Go's encoder), the
protocol from service-defaults or proxy-defaults, ?compile-dc, a blocking
GET woken by a service-defaults write (not by a write that leaves its chain
as it was: Consul's spurious wakeup suppression), a blocking POST, the
overrides of a POST and Consul's CustomizationHash (computed here the way
mitchellh/hashstructure does), bad bodies refused with 400, ?dc= of an
unknown datacenter, Connect off, service:read, and a client agent's
request answered by its server. python3-consul (1.1) has no discovery chain
call: the requests are plain HTTP."""

import json
import os
import struct
import threading

import pytest
import requests

from conftest import Agent, index_of, wait_until

CHAIN = "/v1/discovery-chain/"


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    a = Agent(tmp_path_factory.mktemp("dchain"), name="dchain", extra_args=["-dev"])
    a.start()
    wait_until(lambda: a.get("/v1/connect/ca/roots").json()["ActiveRootID"] != "",
               what="CA initialised")
    yield a
    rc = a.stop() if a.running() else a.proc.returncode
    a.close()
    assert a.sanitizer_report() is None, a.sanitizer_report()
    assert rc == 0, a.log_tail()


def trust_domain(agent):
    td = agent.get("/v1/connect/ca/roots").json()["TrustDomain"]
    assert td.endswith(".consul")
    return td


def put_entry(agent, body):
    r = agent.put("/v1/config", data=json.dumps(body))
    assert r.status_code == 200 and r.json() is True, r.text
    return r


def expected(svc, dc, td, protocol="tcp", timeout="5s", mgw=None, chash=None, meta=None):
    tid = "%s.default.default.%s" % (svc, dc)
    sni = "%s.default.%s.internal.%s" % (svc, dc, td)
    chain = {"ServiceName": svc, "Namespace": "default", "Partition": "default",
             "Datacenter": dc}
    if chash:
        chain["CustomizationHash"] = chash
    chain.update({"Default": True, "Protocol": protocol})
    if meta:
        chain["ServiceMeta"] = meta
    chain.update({
        "StartNode": "resolver:" + tid,
        "Nodes": {"resolver:" + tid: {
            "Type": "resolver", "Name": tid,
            "Resolver": {"ConnectTimeout": timeout, "Default": True, "Target": tid}}},
        "Targets": {tid: {
            "ConnectTimeout": timeout, "ID": tid, "Service": svc, "Namespace": "default",
            "Partition": "default", "Datacenter": dc,
            "MeshGateway": {"Mode": mgw} if mgw else {}, "Subset": {}, "TransparentProxy": {},
            "SNI": sni, "Name": sni}},
        "AutoVirtualIPs": None, "ManualVirtualIPs": None})
    return {"Chain": chain}


def same(got, want):
    """Equal, keys in the same order at every level (Go's encoder order)."""
    assert got == want
    if isinstance(want, dict):
        assert list(got) == list(want), (list(got), list(want))
        for k in want:
            same(got[k], want[k])


# Consul's CustomizationHash: mitchellh/hashstructure (FNV-1 64) of
# struct{OverrideMeshGateway MeshGatewayConfig; OverrideProtocol string;
# OverrideConnectTimeout time.Duration}, cut to 8 hex digits.
def _fnv1(b):
    h = 14695981039346656037
    for c in b:
        h = (h * 1099511628211) & (2 ** 64 - 1)
        h ^= c
    return h


def _field(name, vh):
    return _fnv1(struct.pack("<QQ", _fnv1(name.encode()), vh))


def customization_hash(mode="", protocol="", timeout_ns=0):
    mgw = _fnv1(b"MeshGatewayConfig") ^ _field("Mode", _fnv1(mode.encode()))
    h = _fnv1(b"")
    h ^= _field("OverrideMeshGateway", mgw)
    h ^= _field("OverrideProtocol", _fnv1(protocol.encode()))
    h ^= _field("OverrideConnectTimeout", _fnv1(struct.pack("<q", timeout_ns)))
    return ("%x" % h)[:8]


def test_hash_matches_consuls_documented_sample():
    # api-docs/discovery-chain.mdx, "Datacenter Redirect with Overrides"
    assert customization_hash("remote", "grpc", 7 * 10 ** 9) == "b94f529a"


def test_default_chain(dev):
    td = trust_domain(dev)
    r = dev.get(CHAIN + "dc-web")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/json"
    assert index_of(r) >= 1
    same(r.json(), expected("dc-web", "dc1", td))
    # ?compile-dc: the chain as compiled for another datacenter (any name, as Consul)
    r = dev.get(CHAIN + "dc-web", params={"compile-dc": "dc7"})
    same(r.json(), expected("dc-web", "dc7", td))
    # no agent cache: ?cached answers as a miss, as the other cached endpoints
    r = dev.get(CHAIN + "dc-web", params={"cached": ""})
    assert (r.headers.get("X-Cache"), r.headers.get("Age")) == ("MISS", "0")
    same(r.json(), expected("dc-web", "dc1", td))
    # POST {} is the GET
    r = dev.request("POST", CHAIN + "dc-web", data="{}")
    assert r.status_code == 200, r.text
    same(r.json(), expected("dc-web", "dc1", td))


def test_protocol_from_entries(dev):
    td = trust_domain(dev)
    put_entry(dev, {"Kind": "proxy-defaults", "Name": "global", "Config": {"protocol": "HTTP2"}})
    try:
        same(dev.get(CHAIN + "pd-svc").json(), expected("pd-svc", "dc1", td, protocol="http2"))
        # the service's own entry decides, even without a protocol
        put_entry(dev, {"Kind": "service-defaults", "Name": "pd-svc", "Meta": {"b": "2", "a": "1"}})
        same(dev.get(CHAIN + "pd-svc").json(),
             expected("pd-svc", "dc1", td, meta={"a": "1", "b": "2"}))
        put_entry(dev, {"Kind": "service-defaults", "Name": "pd-svc", "Protocol": "GRPC"})
        same(dev.get(CHAIN + "pd-svc").json(), expected("pd-svc", "dc1", td, protocol="grpc"))
    finally:
        assert dev.delete("/v1/config/proxy-defaults/global").status_code == 200
        assert dev.delete("/v1/config/service-defaults/pd-svc").status_code == 200
    same(dev.get(CHAIN + "pd-svc").json(), expected("pd-svc", "dc1", td))


def blocking(agent, method, path, index, out, data=None):
    out["r"] = requests.request(method, agent.url(path), params={"index": index, "wait": "60s"},
                                data=data, timeout=90)


def test_blocking_get_woken_by_its_service_defaults(dev):
    td = trust_domain(dev)
    r = dev.get(CHAIN + "bl-web")
    idx = index_of(r)
    same(r.json(), expected("bl-web", "dc1", td))
    parked = dev.parked()
    out = {}
    t = threading.Thread(target=blocking, args=(dev, "GET", CHAIN + "bl-web", idx, out))
    t.start()
    dev.wait_parked(parked + 1)
    # another service's entry moves the index but not this chain: the query
    # stays parked (were it answered, its Protocol would be tcp below)
    put_entry(dev, {"Kind": "service-defaults", "Name": "bl-other", "Protocol": "http"})
    put_entry(dev, {"Kind": "service-defaults", "Name": "bl-web", "Protocol": "http"})
    t.join(90)
    assert not t.is_alive()
    r = out["r"]
    assert r.status_code == 200, r.text
    same(r.json(), expected("bl-web", "dc1", td, protocol="http"))
    entry = dev.get("/v1/config/service-defaults/bl-web").json()
    assert index_of(r) >= entry["ModifyIndex"] > idx
    # the same index again, no change: a short wait answers with the same chain
    r2 = dev.get(CHAIN + "bl-web", params={"index": index_of(r), "wait": "100ms"})
    assert r2.status_code == 200
    same(r2.json(), r.json())


def test_blocking_post_woken_by_proxy_defaults(dev):
    td = trust_domain(dev)
    body = json.dumps({"OverrideConnectTimeout": "10s"})
    r = dev.request("POST", CHAIN + "bp-api", data=body)
    assert r.status_code == 200, r.text
    chash = customization_hash(timeout_ns=10 * 10 ** 9)
    same(r.json(), expected("bp-api", "dc1", td, timeout="10s", chash=chash))
    parked = dev.parked()
    out = {}
    t = threading.Thread(target=blocking,
                         args=(dev, "POST", CHAIN + "bp-api", index_of(r), out, body))
    t.start()
    dev.wait_parked(parked + 1)
    put_entry(dev, {"Kind": "proxy-defaults", "Name": "global", "Config": {"protocol": "http"}})
    try:
        t.join(90)
        assert not t.is_alive()
        assert out["r"].status_code == 200, out["r"].text
        same(out["r"].json(), expected("bp-api", "dc1", td, protocol="http", timeout="10s",
                                       chash=chash))
    finally:
        assert dev.delete("/v1/config/proxy-defaults/global").status_code == 200


def test_post_overrides(dev):
    td = trust_domain(dev)
    body = {"OverrideConnectTimeout": "7s", "OverrideProtocol": "grpc",
            "OverrideMeshGateway": {"Mode": "none"}}
    r = dev.request("POST", CHAIN + "ov-web", data=json.dumps(body))
    assert r.status_code == 200, r.text
    assert index_of(r) >= 1
    same(r.json(), expected("ov-web", "dc1", td, protocol="grpc", timeout="7s", mgw="none",
                            chash=customization_hash("none", "grpc", 7 * 10 ** 9)))
    # snake_case keys, nanoseconds; an override equal to the chain changes nothing
    r = dev.request("POST", CHAIN + "ov-web",
                    data=json.dumps({"override_connect_timeout": 5 * 10 ** 9,
                                     "override_protocol": "tcp"}))
    same(r.json(), expected("ov-web", "dc1", td))
    r = dev.request("POST", CHAIN + "ov-web", params={"compile-dc": "dc3"},
                    data=json.dumps({"OverrideConnectTimeout": "1m30s"}))
    same(r.json(), expected("ov-web", "dc3", td, timeout="1m30s",
                            chash=customization_hash(timeout_ns=90 * 10 ** 9)))


@pytest.mark.parametrize("body,text", [
    ("", "Request decoding failed: EOF"),
    ("{", "Request decoding failed: "),
    ("[1]", "Request decoding failed: cannot use array as object"),
    ('{"OverrideTimeout":"7s"}', 'Request decoding failed: invalid key "OverrideTimeout"'),
    ('{"OverrideConnectTimeout":"soon"}', 'time: invalid duration "soon"'),
    ('{"OverrideConnectTimeout":"-1s"}', "OverrideConnectTimeout must not be negative"),
    ('{"OverrideConnectTimeout":true}', "OverrideConnectTimeout: cannot use bool as duration"),
    ('{"OverrideProtocol":7}', "OverrideProtocol: cannot use number as string"),
    ('{"OverrideMeshGateway":{"Mode":"sideways"}}', "Invalid OverrideMeshGateway.Mode parameter"),
    ('{"OverrideMeshGateway":{"Mode":"local"}}',
     'OverrideMeshGateway.Mode "local" is not supported: cairn has no mesh gateways'),
    ('{"OverrideMeshGateway":{"Mode":"remote"}}', "cairn has no mesh gateways"),
    ('{"OverrideMeshGateway":{"Port":1}}', 'invalid key "Port"'),
])
def test_bad_bodies_refused(dev, body, text):
    r = dev.request("POST", CHAIN + "web", data=body)
    assert r.status_code == 400 and text in r.text, (r.status_code, r.text)


def test_paths_and_datacenters(dev):
    r = dev.get(CHAIN + "web", params={"dc": "nowhere"})
    assert (r.status_code, r.text) == (500, "No path to datacenter")
    r = dev.request("POST", CHAIN + "web", params={"dc": "nowhere"}, data="{}")
    assert (r.status_code, r.text) == (500, "No path to datacenter")
    # its own datacenter by name is no forward
    assert dev.get(CHAIN + "web", params={"dc": "dc1"}).status_code == 200
    r = dev.get(CHAIN + "web", params={"ns": "team"})
    assert r.status_code == 400 and "Namespaces are a Consul Enterprise feature" in r.text
    r = dev.get(CHAIN)
    assert (r.status_code, r.text) == (400, "Missing chain name")
    assert dev.request("PUT", CHAIN + "web", data="{}").status_code == 405
    assert dev.get("/v1/discovery-chain").status_code == 404


def test_connect_off(agent):
    # no CA set up (Connect off, no -dev): state.ServiceDiscoveryChain's error
    r = agent.get(CHAIN + "web")
    assert (r.status_code, r.text) == (500, "no cluster ca config setup")


def test_service_read_required(tmp_path):
    from test_acl import MGMT, AclAgent, acl_config
    cfg = acl_config(str(tmp_path / "acl.hcl"))
    conn = tmp_path / "connect.hcl"
    conn.write_text("connect { enabled = true }\n")
    a = AclAgent(tmp_path, name="dchain-acl",
                 extra_args=["-config-file=" + cfg, "-config-file=" + str(conn)])
    a.start()
    try:
        wait_until(lambda: a.get("/v1/connect/ca/roots").json()["ActiveRootID"] != "",
                   what="CA initialised")
        p = a.put_json("/v1/acl/policy", {"Name": "web-read",
                                          "Rules": 'service "acl-web" { policy = "read" }'})
        assert p.status_code == 200, p.text
        t = a.put_json("/v1/acl/token", {"Policies": [{"Name": "web-read"}]})
        reader = {"X-Consul-Token": t.json()["SecretID"]}
        r = a.get(CHAIN + "acl-web", headers=reader)
        assert r.status_code == 200, r.text
        assert r.json()["Chain"]["ServiceName"] == "acl-web"
        r = a.request("POST", CHAIN + "acl-web", headers=reader, data="{}")
        assert r.status_code == 200, r.text
        for method in ("GET", "POST"):
            r = a.request(method, CHAIN + "acl-db", headers=reader, data="{}")
            assert r.status_code == 403 and "Permission denied" in r.text, r.text
        r = a.get(CHAIN + "acl-web", headers={"X-Consul-Token": "anonymous-nothing"})
        assert r.status_code == 403, r.text
        assert a.get(CHAIN + "acl-db", headers={"X-Consul-Token": MGMT}).status_code == 200
    finally:
        rc = a.stop()
        a.close()
    assert a.sanitizer_report() is None, a.sanitizer_report()
    assert rc == 0


def test_client_agent_asks_its_server(agent_factory, tmp_path):
    from test_client_agent import ClientAgent
    conn = tmp_path / "connect.hcl"
    conn.write_text("connect { enabled = true }\n")
    srv = agent_factory("dchain-srv", extra_args=["-config-file=" + str(conn)])
    wait_until(lambda: srv.get("/v1/connect/ca/roots").json()["ActiveRootID"] != "",
               what="CA initialised")
    c = ClientAgent(tmp_path, "dchain-client", [srv.server_port])
    c.start()
    try:
        body = json.dumps({"OverrideProtocol": "http"})
        want = srv.request("POST", CHAIN + "cl-web", data=body)
        assert want.status_code == 200, want.text
        got = wait_until(lambda: (lambda r: r if r.status_code == 200 else None)(
            c.request("POST", CHAIN + "cl-web", data=body)), what="the client's answer")
        same(got.json(), want.json())
        assert got.json()["Chain"]["Protocol"] == "http"
        same(c.get(CHAIN + "cl-web").json(), srv.get(CHAIN + "cl-web").json())
        r = c.request("POST", CHAIN + "cl-web", data='{"Nope":1}')
        assert r.status_code == 400 and 'invalid key "Nope"' in r.text, r.text
    finally:
        rc = c.stop()
        c.close()
    assert c.sanitizer_report() is None, c.sanitizer_report()
    assert rc in (None, 0)
