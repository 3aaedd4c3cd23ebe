"""Connect service registrations (api-docs/agent/service.mdx, connect/proxies,
connect/registration/sidecar-service): connect-proxy services and
Connect-native ones stored and answered in Consul's shapes (Kind/Proxy/Connect
on the agent and health answers, ServiceKind/ServiceProxy/ServiceConnect in the
catalog), a SidecarService expanded as Consul's agent does (ID, name, port from
21000, default checks, deregistered with its parent), /v1/health/connect and
/v1/catalog/connect (with ?passing and blocking), ?filter on Kind, Proxy.* and
Connect.Native, and what is refused."""

import threading

from conftest import index_of, wait_until

PROXY = {
    "Name": "db-proxy",
    "ID": "db-proxy-1",
    "Kind": "connect-proxy",
    "Port": 21500,
    "Proxy": {
        "DestinationServiceName": "db",
        "DestinationServiceID": "db1",
        "LocalServiceAddress": "127.0.0.1",
        "LocalServicePort": 5432,
        "Config": {"protocol": "tcp", "nested": {"a": [1, 2, None]}},
        "Upstreams": [{"DestinationName": "cache", "LocalBindPort": 9191},
                      {"DestinationName": "api", "LocalBindPort": 9192,
                       "Config": {"connect_timeout_ms": 500, "protocol": "http"}}],
    },
}


def test_proxy_registration_shapes(agent):
    r = agent.put_json("/v1/agent/service/register", PROXY)
    assert r.status_code == 200, r.text
    svc = agent.get("/v1/agent/service/db-proxy-1").json()
    assert svc["Kind"] == "connect-proxy"
    p = svc["Proxy"]
    assert p["DestinationServiceName"] == "db"
    assert p["DestinationServiceID"] == "db1"
    assert p["LocalServiceAddress"] == "127.0.0.1"
    assert p["LocalServicePort"] == 5432
    assert p["Config"] == PROXY["Proxy"]["Config"]
    assert p["Upstreams"][0]["DestinationName"] == "cache"
    assert p["Upstreams"][0]["LocalBindPort"] == 9191
    # an upstream's Config is kept as given (Consul's structs.Upstream), omitted when empty
    assert "Config" not in p["Upstreams"][0]
    assert p["Upstreams"][1]["Config"] == {"connect_timeout_ms": 500, "protocol": "http"}
    assert list(p["Upstreams"][1]) == ["DestinationName", "LocalBindPort", "Config",
                                       "MeshGateway"]
    assert "Connect" not in svc
    wait_until(lambda: agent.get("/v1/catalog/service/db-proxy").json(), what="in catalog")
    (c,) = agent.get("/v1/catalog/service/db-proxy").json()
    assert c["ServiceKind"] == "connect-proxy"
    assert c["ServiceProxy"]["DestinationServiceName"] == "db"
    assert c["ServiceProxy"]["Config"] == PROXY["Proxy"]["Config"]
    assert c["ServiceProxy"]["Upstreams"][1]["Config"] == {"connect_timeout_ms": 500,
                                                           "protocol": "http"}
    assert c["ServiceProxy"]["MeshGateway"] == {} and c["ServiceProxy"]["Expose"] == {}
    assert c["ServiceConnect"] == {}
    (h,) = agent.get("/v1/health/service/db-proxy").json()
    assert h["Service"]["Kind"] == "connect-proxy"
    assert h["Service"]["Proxy"]["LocalServicePort"] == 5432
    # a typical service keeps the empty shapes
    agent.put_json("/v1/agent/service/register", {"Name": "plain", "Port": 1})
    wait_until(lambda: agent.get("/v1/catalog/service/plain").json(), what="plain")
    (c,) = agent.get("/v1/catalog/service/plain").json()
    assert c["ServiceKind"] == "" and c["ServiceProxy"] == {"MeshGateway": {}, "Expose": {}}


def test_connect_endpoints_and_filter(agent):
    agent.put_json("/v1/agent/service/register", PROXY)
    agent.put_json("/v1/agent/service/register",
                   {"Name": "db", "ID": "db-native", "Port": 5433, "Connect": {"Native": True}})
    wait_until(lambda: len(agent.get("/v1/catalog/connect/db").json()) == 2, what="2 connect")
    ids = sorted(x["ServiceID"] for x in agent.get("/v1/catalog/connect/db").json())
    assert ids == ["db-native", "db-proxy-1"]
    hc = agent.get("/v1/health/connect/db").json()
    assert sorted(x["Service"]["ID"] for x in hc) == ids
    native = [x for x in hc if x["Service"]["ID"] == "db-native"][0]
    assert native["Service"]["Connect"] == {"Native": True}
    assert agent.get("/v1/agent/service/db-native").json()["Connect"] == {"Native": True}
    assert agent.get("/v1/health/connect/nothing").json() == []
    # ?filter on the Connect fields
    f = agent.get("/v1/catalog/connect/db", params={"filter": "ServiceConnect.Native == true"}).json()
    assert [x["ServiceID"] for x in f] == ["db-native"]
    f = agent.get("/v1/agent/services",
                  params={"filter": 'Kind == "connect-proxy" and '
                                    'Proxy.DestinationServiceName == "db"'}).json()
    assert list(f) == ["db-proxy-1"]
    f = agent.get("/v1/health/connect/db",
                  params={"filter": 'Service.Proxy.DestinationServiceName == "db"'}).json()
    assert [x["Service"]["ID"] for x in f] == ["db-proxy-1"]


def test_connect_blocking_and_passing(agent):
    agent.put_json("/v1/agent/service/register", {
        "Name": "api-proxy", "ID": "api-proxy-1", "Kind": "connect-proxy", "Port": 21600,
        "Proxy": {"DestinationServiceName": "api"},
        "Check": {"CheckID": "api-proxy-ttl", "TTL": "30s"}})
    wait_until(lambda: agent.get("/v1/health/connect/api").json(), what="proxy")
    assert agent.get("/v1/health/connect/api", params={"passing": "1"}).json() == []
    r = agent.get("/v1/health/connect/api")
    idx = index_of(r)
    got = {}

    def block():
        got["r"] = agent.get("/v1/health/connect/api",
                             params={"index": idx, "wait": "20s", "passing": "1"})

    t = threading.Thread(target=block)
    t.start()
    agent.wait_parked(1)
    assert agent.put("/v1/agent/check/pass/api-proxy-ttl").status_code == 200
    t.join(25)
    assert not t.is_alive()
    assert index_of(got["r"]) > idx
    assert [x["Service"]["ID"] for x in got["r"].json()] == ["api-proxy-1"]


def test_sidecar_expansion_and_deregistration(agent):
    r = agent.put_json("/v1/agent/service/register", {
        "Name": "web", "ID": "web1", "Port": 8080, "Tags": ["v1"],
        "Connect": {"SidecarService": {
            "Proxy": {"Upstreams": [{"DestinationName": "db", "LocalBindPort": 9292}]}}}})
    assert r.status_code == 200, r.text
    svcs = agent.get("/v1/agent/services").json()
    sc = svcs["web1-sidecar-proxy"]
    assert sc["Service"] == "web-sidecar-proxy"
    assert sc["Kind"] == "connect-proxy"
    assert sc["Tags"] == ["v1"]
    assert 21000 <= sc["Port"] <= 21255
    assert sc["Proxy"]["DestinationServiceName"] == "web"
    assert sc["Proxy"]["DestinationServiceID"] == "web1"
    assert sc["Proxy"]["LocalServiceAddress"] == "127.0.0.1"
    assert sc["Proxy"]["LocalServicePort"] == 8080
    assert sc["Proxy"]["Upstreams"][0]["LocalBindPort"] == 9292
    assert "Connect" not in svcs["web1"]  # the sidecar definition is not stored
    checks = {c["CheckID"]: c for c in agent.get("/v1/agent/checks").json().values()}
    listen = checks["service:web1-sidecar-proxy:1"]
    assert listen["Name"] == "Connect Sidecar Listening"
    assert listen["Type"] == "tcp"
    assert checks["service:web1-sidecar-proxy:2"]["Name"] == "Connect Sidecar Aliasing web1"
    assert checks["service:web1-sidecar-proxy:2"]["Type"] == "alias"
    # a second sidecar gets the next free port; re-registering keeps the port
    agent.put_json("/v1/agent/service/register", {
        "Name": "web", "ID": "web2", "Port": 8081, "Connect": {"SidecarService": {}}})
    p2 = agent.get("/v1/agent/service/web2-sidecar-proxy").json()["Port"]
    assert p2 != sc["Port"] and 21000 <= p2 <= 21255
    agent.put_json("/v1/agent/service/register", {
        "Name": "web", "ID": "web2", "Port": 8081, "Connect": {"SidecarService": {}}})
    assert agent.get("/v1/agent/service/web2-sidecar-proxy").json()["Port"] == p2
    wait_until(lambda: len(agent.get("/v1/catalog/connect/web").json()) == 2, what="sidecars")
    # deregistering the parent takes its sidecar with it
    assert agent.put("/v1/agent/service/deregister/web1").status_code == 200
    svcs = agent.get("/v1/agent/services").json()
    assert "web1" not in svcs and "web1-sidecar-proxy" not in svcs
    assert "web2-sidecar-proxy" in svcs
    wait_until(lambda: [x["ServiceID"] for x in agent.get("/v1/catalog/connect/web").json()]
               == ["web2-sidecar-proxy"], what="sidecar gone from catalog")


def test_refusals(agent):
    def bad(body, text, path="/v1/agent/service/register"):
        r = agent.put_json(path, body)
        assert r.status_code == 400, r.text
        assert text in r.text, r.text

    bad({"Name": "g", "Kind": "mesh-gateway", "Port": 1}, "cairn has no gateways")
    bad({"Name": "p", "Kind": "connect-proxy", "Port": 1,
         "Proxy": {"DestinationServiceName": "x", "Mode": "transparent"}},
        'Proxy.Mode "transparent" is not supported')
    bad({"Name": "p", "Kind": "connect-proxy", "Port": 1,
         "Proxy": {"DestinationServiceName": "x",
                   "Upstreams": [{"DestinationName": "y", "Datacenter": "dc9",
                                  "LocalBindPort": 1}]}},
        'upstream datacenter "dc9" is not supported')
    bad({"Node": "n", "Address": "1.2.3.4",
         "Service": {"Service": "p", "Kind": "connect-proxy", "Port": 1,
                     "Proxy": {"DestinationServiceName": "x",
                               "Upstreams": [{"DestinationName": "y", "Datacenter": "dc9",
                                              "LocalBindPort": 1}]}}},
        'upstream datacenter "dc9" is not supported', path="/v1/catalog/register")
    bad({"Name": "p", "Kind": "connect-proxy", "Port": 1,
         "Proxy": {"DestinationServiceName": "x",
                   "Upstreams": [{"DestinationName": "y", "LocalBindPort": 1,
                                  "Config": [1]}]}},
        "Proxy.Upstreams[].Config: cannot use array as map")
    bad({"Name": "w", "Connect": {"SidecarService": {"ID": "x"}}},
        "SidecarService cannot specify an ID")


def test_catalog_register_proxy(agent):
    r = agent.put_json("/v1/catalog/register", {
        "Node": "ext", "Address": "10.9.9.9",
        "Service": {"Service": "ext-proxy", "Kind": "connect-proxy", "Port": 20000,
                    "Proxy": {"DestinationServiceName": "ext"}}})
    assert r.status_code == 200, r.text
    (c,) = agent.get("/v1/catalog/connect/ext").json()
    assert c["ServiceKind"] == "connect-proxy" and c["Node"] == "ext"
    ns = agent.get("/v1/catalog/node-services/ext").json()
    assert ns["Services"][0]["Proxy"]["DestinationServiceName"] == "ext"


def test_config_file_sidecar(agent_factory):
    a = agent_factory("cfgmesh", start=False)
    cfg = a.workdir + "/svc.hcl"
    with open(cfg, "w") as f:
        f.write("""
services {
  name = "cfgweb"
  id   = "cfgweb1"
  port = 8080
  connect {
    sidecar_service {
      port = 21900
      proxy {
        upstreams = [{ destination_name = "db", local_bind_port = 9393 }]
        config { protocol = "tcp" }
      }
    }
  }
}
services {
  name = "nat"
  port = 9000
  connect { native = true }
}
""")
    a.extra_args.append("-config-file=" + cfg)
    a.start()
    wait_until(lambda: "cfgweb1-sidecar-proxy" in a.get("/v1/agent/services").json(),
               what="sidecar from the config file")
    sc = a.get("/v1/agent/service/cfgweb1-sidecar-proxy").json()
    assert sc["Port"] == 21900
    assert sc["Proxy"]["DestinationServiceID"] == "cfgweb1"
    assert sc["Proxy"]["Upstreams"][0]["DestinationName"] == "db"
    assert sc["Proxy"]["Upstreams"][0]["LocalBindPort"] == 9393
    assert sc["Proxy"]["Config"] == {"protocol": "tcp"}
    assert a.get("/v1/agent/service/nat").json()["Connect"] == {"Native": True}
    # a restart finds the same registrations (command version 3 in the log)
    a.restart()
    wait_until(lambda: "cfgweb1-sidecar-proxy" in a.get("/v1/agent/services").json(),
               what="sidecar after restart")
    (c,) = a.get("/v1/catalog/service/cfgweb-sidecar-proxy").json()
    assert c["ServiceProxy"]["Upstreams"][0]["LocalBindPort"] == 9393
