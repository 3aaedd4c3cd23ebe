"""Central service configuration as the catalog shows it (Consul's agent
service manager: agent/service_manager.go, agent/configentry/resolve.go):
the agent writes a connect-proxy to the catalog with its Proxy.Config merged
from proxy-defaults, the destination's service-defaults and its own keys
(which win), so /v1/catalog/service, /v1/health/service, the connect
endpoints and /v1/catalog/node show the merged Config; a config entry write
makes the agent merge and write it again (the catalog's index moves). A
client agent asks its servers (GET /v1/internal/cairn/service-config/:name,
blocking) and does the same; the per-upstream protocol a service's
service-defaults gives it. docs/architecture.md "Connect", consul-compat.md."""
import json
import os
import threading
import time

from conftest import CAIRN_BIN, Agent, index_of, wait_until

PD, SD = "proxy-defaults", "service-defaults"


class ClientAgent(Agent):
    """A client agent -retry-joining `server`'s RPC port."""

    def __init__(self, workdir, name, server):
        super().__init__(workdir, name=name)
        self.server = server
        self.conf = os.path.join(self.workdir, name + ".json")
        with open(self.conf, "w") as f:
            json.dump({"ae_interval": "2s"}, f)

    def argv(self):
        return [CAIRN_BIN, "agent", "-data-dir=" + self.data_dir, "-node=" + self.name,
                "-datacenter=dc1", "-client=127.0.0.1", "-bind=127.0.0.1",
                "-http-port=%d" % self.http_port, "-serf-lan-port=%d" % self.serf_port,
                "-dns-port=-1", "-log-level=debug", "-config-file=" + self.conf,
                "-retry-join=127.0.0.1:%d" % self.server.server_port]


def put_entry(a, body):
    r = a.put("/v1/config", data=json.dumps(body))
    assert r.status_code == 200 and r.json() is True, r.text


def register_web(a, own):
    r = a.put_json("/v1/agent/service/register", {
        "Name": "web", "ID": "web1", "Port": 8080,
        "Connect": {"SidecarService": {"Proxy": {
            "Config": own,
            "Upstreams": [{"DestinationName": "db", "LocalBindPort": 9191}]}}}})
    assert r.status_code == 200, r.text


SID = "web1-sidecar-proxy"


def catalog_views(s, node):
    """The sidecar's Proxy.Config as each catalog and health endpoint of
    server s shows it."""
    out = {}
    r = s.get("/v1/catalog/service/web-sidecar-proxy")
    out["catalog/service"] = [x["ServiceProxy"]["Config"] for x in r.json()]
    r = s.get("/v1/health/service/web-sidecar-proxy")
    out["health/service"] = [x["Service"]["Proxy"]["Config"] for x in r.json()]
    r = s.get("/v1/catalog/connect/web")
    out["catalog/connect"] = [x["ServiceProxy"]["Config"] for x in r.json()]
    r = s.get("/v1/health/connect/web")
    out["health/connect"] = [x["Service"]["Proxy"]["Config"] for x in r.json()]
    r = s.get("/v1/catalog/node/" + node)
    out["catalog/node"] = [r.json()["Services"][SID]["Proxy"]["Config"]]
    return out


def assert_everywhere(s, node, want):
    views = catalog_views(s, node)
    for k, v in views.items():
        assert v == [want], "%s: %r" % (k, v)


def wait_catalog_config(s, want, timeout=30):
    """Block on /v1/catalog/service/web-sidecar-proxy's index until the
    sidecar's Config is want (each round a blocking query: no sleep)."""
    r = s.get("/v1/catalog/service/web-sidecar-proxy")
    idx = index_of(r)
    rounds = 0
    while not (r.json() and r.json()[0]["ServiceProxy"]["Config"] == want):
        rounds += 1
        assert rounds < 20, "catalog still shows %r" % r.json()
        r = s.get("/v1/catalog/service/web-sidecar-proxy",
                  params={"index": idx, "wait": "%ds" % timeout}, timeout=timeout + 30)
        assert r.status_code == 200, r.text
        assert index_of(r) > idx, "the blocking query ran out without a change"
        idx = index_of(r)
    return idx


def upstream_config(s):
    """The sidecar's upstream ("db") Config as /v1/catalog/service shows it
    (None: no Config)."""
    (row,) = s.get("/v1/catalog/service/web-sidecar-proxy").json()
    return row["ServiceProxy"]["Upstreams"][0].get("Config")


def wait_upstream_config(s, want, timeout=30):
    """Block on the sidecar's catalog index until its upstream Config is want."""
    r = s.get("/v1/catalog/service/web-sidecar-proxy")
    idx = index_of(r)
    for _ in range(20):
        if r.json()[0]["ServiceProxy"]["Upstreams"][0].get("Config") == want:
            return
        r = s.get("/v1/catalog/service/web-sidecar-proxy",
                  params={"index": idx, "wait": "%ds" % timeout}, timeout=timeout + 30)
        assert index_of(r) > idx, "the blocking query ran out without a change"
        idx = index_of(r)
    assert False, "upstream Config still %r" % r.json()


def assert_not_rewritten(s, secs):
    """For secs seconds (blocking queries on the index, which any write
    wakes), the sidecar's catalog row keeps its ModifyIndex."""
    r = s.get("/v1/catalog/service/web-sidecar-proxy")
    mi, idx = r.json()[0]["ModifyIndex"], index_of(r)
    deadline = time.monotonic() + secs
    while deadline - time.monotonic() > 0.1:
        r = s.get("/v1/catalog/service/web-sidecar-proxy",
                  params={"index": idx, "wait": "%dms" % int((deadline - time.monotonic()) * 1000)},
                  timeout=secs + 30)
        idx = index_of(r)
        assert r.json()[0]["ModifyIndex"] == mi, r.json()


def test_server_agent_catalog_shows_merged_config(agent_factory):
    s = agent_factory("sm-server")
    put_entry(s, {"Kind": PD, "Config": {"protocol": "tcp", "bind_port": 21999, "own": "no"}})
    put_entry(s, {"Kind": SD, "Name": "web", "Protocol": "http"})
    register_web(s, {"own": "yes", "x": 1})
    merged = {"own": "yes", "x": 1, "protocol": "http", "bind_port": 21999}
    assert_everywhere(s, "sm-server", merged)
    # the upstream db: proxy-defaults' protocol (it has no service-defaults)
    assert upstream_config(s) == {"protocol": "tcp"}
    assert s.get("/v1/agent/service/" + SID).json()["Proxy"]["Upstreams"][0]["Config"] == {
        "protocol": "tcp"}
    # its own service-defaults Protocol, once written, wins (Consul's UpstreamConfigs)
    put_entry(s, {"Kind": SD, "Name": "db", "Protocol": "http"})
    wait_upstream_config(s, {"protocol": "http"})
    assert s.delete("/v1/config/%s/db" % SD).status_code == 200
    wait_upstream_config(s, {"protocol": "tcp"})
    assert s.get("/v1/agent/service/" + SID).json()["Proxy"]["Config"] == merged
    assert s.get("/v1/agent/services").json()[SID]["Proxy"]["Config"] == merged
    # a config write: the agent merges again and the catalog's index moves
    put_entry(s, {"Kind": SD, "Name": "web", "Protocol": "grpc"})
    merged["protocol"] = "grpc"
    wait_catalog_config(s, merged)
    assert_everywhere(s, "sm-server", merged)
    # the registration's own keys win over both entries
    register_web(s, {"own": "yes", "protocol": "http2"})
    assert_everywhere(s, "sm-server", {"own": "yes", "protocol": "http2", "bind_port": 21999})
    # and a key the registration dropped goes (it is merged from the registration as given)
    register_web(s, {})
    assert_everywhere(s, "sm-server", {"own": "no", "protocol": "grpc", "bind_port": 21999})
    # entries gone: the registration as given
    register_web(s, {"own": "yes"})
    assert s.delete("/v1/config/%s/web" % SD).status_code == 200
    assert s.delete("/v1/config/%s/global" % PD).status_code == 200
    wait_catalog_config(s, {"own": "yes"})
    assert_everywhere(s, "sm-server", {"own": "yes"})
    # an idle agent writes the sidecar no more
    assert_not_rewritten(s, 2)


def test_upstream_protocol_from_its_service_defaults(agent_factory):
    s = agent_factory("sm-up")

    def resolved(name):
        r = s.get("/v1/internal/cairn/service-config/" + name)
        assert r.status_code == 200, r.text
        return r.json(), index_of(r)

    assert resolved("db")[0] == {"ProxyConfig": {}, "UpstreamConfig": {}}
    put_entry(s, {"Kind": PD, "Config": {"protocol": "tcp", "bind_port": 21000}})
    # proxy-defaults' protocol is the default of every upstream
    assert resolved("db")[0] == {"ProxyConfig": {"protocol": "tcp", "bind_port": 21000},
                                 "UpstreamConfig": {"protocol": "tcp"}}
    # the upstream's own service-defaults Protocol wins
    body, idx = resolved("db")
    out = {}

    def block():
        out["r"] = s.get("/v1/internal/cairn/service-config/db",
                         params={"index": idx, "wait": "30s"}, timeout=60)
    t = threading.Thread(target=block)
    t.start()
    s.wait_parked(1)
    put_entry(s, {"Kind": SD, "Name": "db", "Protocol": "http"})
    t.join(60)
    assert index_of(out["r"]) > idx
    assert out["r"].json() == {"ProxyConfig": {"protocol": "http", "bind_port": 21000},
                               "UpstreamConfig": {"protocol": "http"}}
    # another service keeps proxy-defaults' protocol
    assert resolved("web")[0]["UpstreamConfig"] == {"protocol": "tcp"}
    assert s.get("/v1/internal/cairn/service-config/").status_code in (400, 404)


def test_client_agent_syncs_merged_config(agent_factory, tmp_path):
    s = agent_factory("sm-srv")
    put_entry(s, {"Kind": PD, "Config": {"protocol": "tcp", "bind_port": 21999}})
    put_entry(s, {"Kind": SD, "Name": "web", "Protocol": "http"})
    c = ClientAgent(tmp_path, "sm-client", s)
    try:
        c.start()
        register_web(c, {"own": "yes"})
        merged = {"own": "yes", "protocol": "http", "bind_port": 21999}
        # the registration answered once merged: the catalog already has it,
        # its upstream's configuration too (proxy-defaults' protocol)
        assert_everywhere(s, "sm-client", merged)
        assert upstream_config(s) == {"protocol": "tcp"}
        assert c.get("/v1/agent/service/" + SID).json()["Proxy"]["Config"] == merged
        assert c.get("/v1/agent/services").json()[SID]["Proxy"]["Config"] == merged
        # a config write on the server: the client's blocking query sees it,
        # and it writes the merged service again
        h = c.get("/v1/agent/service/" + SID).headers["X-Consul-ContentHash"]
        put_entry(s, {"Kind": SD, "Name": "web", "Protocol": "grpc"})
        merged["protocol"] = "grpc"
        wait_catalog_config(s, merged)
        assert_everywhere(s, "sm-client", merged)
        r = c.get("/v1/agent/service/" + SID, params={"hash": h, "wait": "30s"}, timeout=60)
        assert r.json()["Proxy"]["Config"] == merged
        # the registration's own keys still win
        register_web(c, {"own": "yes", "protocol": "http2"})
        assert_everywhere(s, "sm-client", {"own": "yes", "protocol": "http2", "bind_port": 21999})
        # anti-entropy (every 2-4 s here) keeps the merged row: it compares the
        # merged form, so it repairs nothing
        assert_not_rewritten(s, 6)
        assert "catalog writes to repair drift" not in c.log_text()
        # the server goes away: the client's query fails, it keeps what it had
        s.stop()
        wait_until(lambda: 'could not resolve the service configuration of "web"' in c.log_text(),
                   timeout=60, what="the client's failed query")
        assert c.get("/v1/agent/service/" + SID).json()["Proxy"]["Config"] == {
            "own": "yes", "protocol": "http2", "bind_port": 21999}
        # back (same data, same ports): the client's query follows it again
        s.start()
        register_web(c, {"own": "yes"})
        merged = {"own": "yes", "protocol": "grpc", "bind_port": 21999}
        assert_everywhere(s, "sm-client", merged)
        put_entry(s, {"Kind": PD, "Config": {"protocol": "tcp", "bind_port": 22000}})
        merged["bind_port"] = 22000
        wait_catalog_config(s, merged)
    finally:
        c.stop()
        c.close()
    assert c.sanitizer_report() is None, c.sanitizer_report()
