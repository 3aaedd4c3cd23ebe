"""Issue 13, the agent-API part: what Consul's agent answers and cairn now
answers the same way. Each test cites the Consul documentation it follows
(https://developer.hashicorp.com/consul/api-docs/...).
"""
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time

import pytest
import requests

from conftest import CAIRN_BIN, HTTP_TIMEOUT, free_port, wait_until


def version_tuple(v):
    return tuple(int(x) for x in re.match(r"(\d+)\.(\d+)\.(\d+)", v).groups())


# ---- 1. /v1/agent/self -------------------------------------------------------
# api-docs/agent#read-configuration; Nomad's Consul fingerprint requires
# Config.Version >= 1.8.0 for Consul services.

def test_agent_self_version_and_debug_config(agent):
    r = agent.get("/v1/agent/self")
    assert r.status_code == 200
    body = r.json()
    cfg = body["Config"]
    assert version_tuple(cfg["Version"]) >= (1, 8, 0)
    assert cfg["Version"] == "1.15.4"
    assert re.match(r"\d+\.\d+\.\d+$", cfg["CairnVersion"])
    assert "Partition" not in cfg  # omitempty outside Consul Enterprise
    for k in ("Datacenter", "PrimaryDatacenter", "NodeName", "NodeID", "Revision", "Server",
              "BuildDate"):
        assert k in cfg, k
    dc = body["DebugConfig"]
    assert dc["GRPCPort"] == -1
    assert dc["ConnectEnabled"] is False
    assert isinstance(dc["DNSPort"], int)
    assert isinstance(dc["DNSAddrs"], list)
    for a in dc["DNSAddrs"]:
        assert re.match(r"(tcp|udp)://", a), a
    assert dc["HTTPPort"] == agent.http_port
    assert dc["HTTPAddrs"] == ["tcp://127.0.0.1:%d" % agent.http_port]
    assert dc["ServerPort"] == agent.server_port
    assert dc["NodeName"] == agent.name and dc["Datacenter"] == "dc1"
    assert body["Member"]["Tags"]["build"].startswith("1.15.4:")
    assert body["Stats"]["build"]["version"] == "1.15.4"
    assert body["Meta"] == {"consul-network-segment": ""}
    # python-consul reads the same document.
    me = agent.consul().agent.self()
    assert me["Config"]["Version"] == "1.15.4"


def test_cairn_version_names_both_versions(agent):
    p = subprocess.run([CAIRN_BIN, "version"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0
    lines = p.stdout.splitlines()
    self_cfg = agent.get("/v1/agent/self").json()["Config"]
    assert lines[0] == "Cairn v" + self_cfg["CairnVersion"]
    assert "Consul API v1.15.4" in lines[1]
    j = json.loads(subprocess.run([CAIRN_BIN, "version", "-format=json"], capture_output=True,
                                  text=True, timeout=30).stdout)
    assert j["ConsulAPIVersion"] == "1.15.4"


# ---- 2. /v1/agent/version, /v1/agent/host, /v1/agent/service/:id, force-leave --

def test_agent_version(agent):
    # api-docs/agent#retrieve-version-information (Consul 1.12+)
    r = agent.get("/v1/agent/version")
    assert r.status_code == 200
    v = r.json()
    assert {"SHA", "BuildDate", "HumanVersion", "FIPS"} <= set(v)
    assert v["HumanVersion"] == "1.15.4"
    assert "X-Consul-Index" not in r.headers


def test_agent_host(agent):
    # api-docs/agent#read-host-information: gopsutil's structures.
    r = agent.get("/v1/agent/host")
    assert r.status_code == 200
    h = r.json()
    assert set(h) == {"Memory", "CPU", "Host", "Disk", "CollectionTime", "Errors"}
    assert h["Memory"]["total"] > 0 and "usedPercent" in h["Memory"]
    assert isinstance(h["CPU"], list) and h["CPU"] and "modelName" in h["CPU"][0]
    assert h["Host"]["os"] == "linux" and h["Host"]["hostname"]
    assert h["Disk"]["total"] > 0
    assert h["CollectionTime"] > 1_600_000_000 * 10**9  # Unix nanoseconds
    assert h["Errors"] == []


def register(agent, body):
    r = agent.put_json("/v1/agent/service/register", body)
    assert r.status_code == 200, r.text


def test_agent_service_content_hash_and_hash_blocking(agent):
    # api-docs/agent/service#get-service-configuration and
    # api-docs/features/blocking#hash-based-blocking-queries
    register(agent, {"Name": "hb", "ID": "hb1", "Port": 1000})
    r = agent.get("/v1/agent/service/hb1")
    assert r.status_code == 200
    h = r.headers["X-Consul-ContentHash"]
    assert r.json()["ContentHash"] == h and re.match(r"^[0-9a-f]+$", h)
    assert "X-Consul-Index" not in r.headers
    # An unknown hash answers at once with the current one.
    r2 = agent.get("/v1/agent/service/hb1", params={"hash": "0", "wait": "30s"})
    assert r2.headers["X-Consul-ContentHash"] == h
    # The current hash parks until the service's definition changes.
    base = agent.parked()
    out = {}

    def reader():
        out["r"] = requests.get(agent.url("/v1/agent/service/hb1"),
                                params={"hash": h, "wait": "60s"}, timeout=90)

    t = threading.Thread(target=reader)
    t.start()
    agent.wait_parked(base + 1)
    # An unrelated KV write does not answer it (nor would a re-parked wake).
    agent.kv_put("hb/unrelated", "x")
    register(agent, {"Name": "hb", "ID": "hb1", "Port": 1001})
    t.join(60)
    assert not t.is_alive()
    r3 = out["r"]
    assert r3.status_code == 200
    assert r3.json()["Port"] == 1001
    assert r3.headers["X-Consul-ContentHash"] != h
    # A wait that runs out answers 200 with the same hash.
    h3 = r3.headers["X-Consul-ContentHash"]
    t0 = time.monotonic()
    r4 = agent.get("/v1/agent/service/hb1", params={"hash": h3, "wait": "1s"})
    assert time.monotonic() - t0 >= 1.0
    assert r4.status_code == 200 and r4.headers["X-Consul-ContentHash"] == h3
    # Unknown service: Consul's 404 text.
    r5 = agent.get("/v1/agent/service/nope")
    assert r5.status_code == 404 and r5.text == "unknown service ID: nope"


def test_force_leave(agent):
    # api-docs/agent#force-leave-and-shutdown; agent/agent.go ForceLeave.
    r = agent.put("/v1/agent/force-leave/ghost")
    assert r.status_code == 500
    assert r.text == "agent: No node found with name 'ghost'"
    r = agent.put("/v1/agent/force-leave/ghost", params={"prune": ""})
    assert r.status_code == 500
    p = subprocess.run([CAIRN_BIN, "force-leave", "-http-addr=127.0.0.1:%d" % agent.http_port,
                        "ghost"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 1
    assert "Error force leaving" in p.stderr and "ghost" in p.stderr
    p = subprocess.run([CAIRN_BIN, "force-leave"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 1


# ---- 3. ACL endpoints while ACLs are disabled --------------------------------
# acl_endpoint.go checkACLDisabled: 401 "ACL support disabled".

@pytest.mark.parametrize("method,path", [
    ("GET", "/v1/acl/tokens"), ("PUT", "/v1/acl/bootstrap"), ("GET", "/v1/acl/policies"),
    ("PUT", "/v1/acl/token"), ("GET", "/v1/acl/token/self"), ("DELETE", "/v1/acl/role/x"),
    ("PUT", "/v1/agent/token/default"), ("PUT", "/v1/agent/token/agent"),
])
def test_acl_disabled(agent, method, path):
    r = agent.request(method, path, data="{}")
    assert r.status_code == 401
    assert r.text == "ACL support disabled"


# ---- 4. headers ---------------------------------------------------------------

def test_default_acl_policy_header_everywhere(agent):
    # agent/http.go wrap(): X-Consul-Default-ACL-Policy on every answer.
    for method, path in [("GET", "/v1/agent/self"), ("GET", "/v1/kv/nope"),
                         ("GET", "/v1/nope"), ("POST", "/v1/kv/x"),
                         ("GET", "/v1/kv/x?index=abc"), ("GET", "/v1/status/leader"),
                         ("GET", "/v1/acl/tokens")]:
        r = agent.request(method, path)
        assert r.headers.get("X-Consul-Default-ACL-Policy") == "allow", (method, path)


def test_cached_is_a_miss(agent):
    # api-docs/features/caching: ?cached answers with X-Cache and Age.
    for path in ["/v1/catalog/services", "/v1/catalog/service/consul",
                 "/v1/health/service/consul"]:
        r = agent.get(path, params={"cached": ""})
        assert r.status_code == 200
        assert r.headers["X-Cache"] == "MISS" and r.headers["Age"] == "0", path
        assert int(r.headers["X-Consul-Index"]) >= 1
        assert "X-Cache" not in agent.get(path).headers
    # Not an agent-cached endpoint: no cache headers.
    assert "X-Cache" not in agent.get("/v1/catalog/nodes", params={"cached": ""}).headers
    r = agent.get("/v1/catalog/services", params={"cached": "", "consistent": ""})
    assert r.status_code == 400
    assert r.text == "Cannot specify ?cached with ?consistent, conflicting semantics."


def test_index_headers_only_where_consul_sends_them(agent):
    # CatalogDatacenters sets no meta; blocking reads do.
    r = agent.get("/v1/catalog/datacenters")
    assert r.json() == ["dc1"]
    for h in ("X-Consul-Index", "X-Consul-KnownLeader", "X-Consul-LastContact"):
        assert h not in r.headers
    r = agent.get("/v1/catalog/nodes")
    assert int(r.headers["X-Consul-Index"]) >= 1
    assert r.headers["X-Consul-KnownLeader"] == "true"
    assert r.headers["X-Consul-LastContact"] == "0"
    assert r.headers["X-Consul-Effective-Consistency"] == "leader"
    for path in ["/v1/agent/services", "/v1/agent/self", "/v1/status/leader"]:
        assert "X-Consul-Index" not in agent.get(path).headers, path


# ---- 5. tagged addresses, Proxy/Connect, no extra fields ------------------------
# agent/agent.go addServiceInternal "Set default tagged addresses".

def test_default_tagged_addresses(agent):
    register(agent, {"Name": "ta", "ID": "ta4", "Address": "10.1.2.3", "Port": 80})
    register(agent, {"Name": "ta", "ID": "ta6", "Address": "2001:db8::1", "Port": 81})
    register(agent, {"Name": "ta", "ID": "tah", "Address": "db.example.com", "Port": 82})
    register(agent, {"Name": "ta", "ID": "tax", "Address": "10.1.2.4", "Port": 83,
                     "TaggedAddresses": {"wan_ipv4": {"Address": "198.51.100.1", "Port": 443}}})
    svcs = agent.get("/v1/agent/services").json()
    assert svcs["ta4"]["TaggedAddresses"] == {
        "lan_ipv4": {"Address": "10.1.2.3", "Port": 80},
        "wan_ipv4": {"Address": "10.1.2.3", "Port": 80}}
    assert svcs["ta6"]["TaggedAddresses"] == {
        "lan_ipv6": {"Address": "2001:db8::1", "Port": 81},
        "wan_ipv6": {"Address": "2001:db8::1", "Port": 81}}
    assert "TaggedAddresses" not in svcs["tah"]
    assert svcs["tax"]["TaggedAddresses"] == {
        "lan_ipv4": {"Address": "10.1.2.4", "Port": 83},
        "wan_ipv4": {"Address": "198.51.100.1", "Port": 443}}
    cat = {s["ServiceID"]: s for s in agent.get("/v1/catalog/service/ta").json()}
    assert cat["ta4"]["ServiceTaggedAddresses"]["lan_ipv4"] == {"Address": "10.1.2.3",
                                                                "Port": 80}
    # catalog/register stores what it is given: no defaults there.
    r = agent.put_json("/v1/catalog/register", {
        "Node": "ext1", "Address": "10.9.9.9",
        "Service": {"Service": "extsvc", "Address": "10.9.9.10", "Port": 1}})
    assert r.status_code == 200
    ext = agent.get("/v1/catalog/service/extsvc").json()[0]
    assert ext["ServiceTaggedAddresses"] is None


def test_service_shapes(agent):
    # AgentService (api-docs/agent/service): Datacenter, no Raft indexes;
    # NodeService in health and catalog-node answers: Proxy and Connect always.
    register(agent, {"Name": "shape", "ID": "shape1", "Port": 9})
    a = agent.get("/v1/agent/services").json()["shape1"]
    assert "CreateIndex" not in a and "ModifyIndex" not in a
    assert a["Datacenter"] == "dc1"
    assert "Proxy" not in a and "Connect" not in a
    h = agent.get("/v1/health/service/shape").json()[0]["Service"]
    assert h["Proxy"] == {"MeshGateway": {}, "Expose": {}} and h["Connect"] == {}
    assert "Datacenter" not in h and h["CreateIndex"] >= 1
    n = agent.get("/v1/catalog/node/" + agent.name).json()["Services"]["shape1"]
    assert "Datacenter" not in n and n["Connect"] == {}
    ns = agent.get("/v1/catalog/node-services/" + agent.name).json()
    assert all("Datacenter" not in s for s in ns["Services"])
    # python-consul's agent.services() reads the same map.
    assert agent.consul().agent.services()["shape1"]["Port"] == 9


# ---- 6. join, retry-join, log level, SIGTERM ------------------------------------

def test_join_reports_failures(agent):
    dead = "127.0.0.1:%d" % free_port()
    r = agent.put("/v1/agent/join/" + dead)
    assert r.status_code == 500
    assert dead in r.text and "connection refused" in r.text
    r = agent.put("/v1/agent/join/127.0.0.1:%d" % agent.server_port)
    assert r.status_code == 500 and "own address" in r.text
    p = subprocess.run([CAIRN_BIN, "join", "-http-addr=127.0.0.1:%d" % agent.http_port, dead],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1
    assert "Successfully joined" not in p.stdout
    assert dead in p.stderr and "Failed to join any nodes." in p.stderr


def test_retry_join_failures_are_logged_and_retried(agent_factory):
    port = free_port()
    addr = "127.0.0.1:%d" % port
    a = agent_factory("rj", extra_args=["-retry-join=" + addr], start=False)
    a.start(wait=False)
    try:
        wait_until(lambda: ("retry-join: failed to join %s: dial tcp %s: connect: connection "
                            "refused" % (addr, addr)) in a.log_text(), timeout=60,
                   what="the retry-join failure in the log")
        # Something that is not a cairn server starts answering there: the
        # next attempts see it, and the new reason is logged.
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", port))
        ls.listen(16)
        stop = threading.Event()

        def serve():
            ls.settimeout(0.2)
            while not stop.is_set():
                try:
                    c, _ = ls.accept()
                    c.close()
                except OSError:
                    pass

        t = threading.Thread(target=serve)
        t.start()
        try:
            # Closed at once: EOF, or a reset when our hello was unread.
            wait_until(lambda: re.search(r"retry-join: failed to join %s: %s: connection "
                                         r"(closed|reset by peer) before a cairn hello"
                                         % (re.escape(addr), re.escape(addr)), a.log_text()),
                       timeout=60, what="a later retry-join attempt logged")
        finally:
            stop.set()
            t.join()
            ls.close()
    finally:
        a.stop()


def test_log_level_applies_to_raft(agent_factory):
    a = agent_factory("lvl")  # -log-level=info (conftest)
    assert "[DEBUG]" not in a.log_text()
    a.stop()
    b = agent_factory("lvld", extra_args=["-log-level=debug"])
    wait_until(lambda: "[DEBUG] raft:" in b.log_text(), timeout=30, what="raft debug lines")
    b.stop()


def test_sigterm_answers_parked_blocking_query(agent_factory):
    # A clean shutdown answers blocking queries in flight with the current
    # result (Consul's HTTP server Shutdown lets handlers finish).
    a = agent_factory("term")
    a.kv_put("term/k", "v1")
    idx = int(a.get("/v1/kv/term/k").headers["X-Consul-Index"])
    base = a.parked()
    out = {}

    def reader():
        try:
            out["r"] = requests.get(a.url("/v1/kv/term/k"),
                                    params={"index": idx, "wait": "60s"}, timeout=90)
        except Exception as e:  # pragma: no cover - the failure being tested
            out["e"] = e

    t = threading.Thread(target=reader)
    t.start()
    a.wait_parked(base + 1)
    a.proc.send_signal(signal.SIGTERM)
    t.join(60)
    assert not t.is_alive()
    assert "e" not in out, out.get("e")
    r = out["r"]
    assert r.status_code == 200
    assert r.json()[0]["Key"] == "term/k"
    assert int(r.headers["X-Consul-Index"]) == idx
    assert a.wait_exit() == 0


# ---- 7. cairn help ---------------------------------------------------------------

def run_cli(*args):
    return subprocess.run([CAIRN_BIN] + list(args), capture_output=True, text=True, timeout=30)


def test_cli_help_shapes():
    top = run_cli("help")
    assert top.returncode == 0
    assert top.stdout.startswith("Usage: cairn [--version] [--help] <command> [<args>]")
    assert "    force-leave" in top.stdout
    assert run_cli("-h").stdout == top.stdout
    assert run_cli("--help").stdout == top.stdout
    sub = run_cli("help", "kv", "put")
    assert sub.returncode == 0
    assert sub.stdout == run_cli("kv", "put", "-h").stdout
    assert sub.stdout.startswith("Usage: cairn kv put")
    fl = run_cli("force-leave", "-h")
    assert fl.returncode == 0 and fl.stdout.startswith("Usage: cairn force-leave")
    bad = run_cli("help", "nope")
    assert bad.returncode == 127 and 'Unknown command: "nope"' in bad.stderr


def test_force_leave_removes_a_dead_server(cluster_factory):
    # api-docs/agent#force-leave-and-shutdown: a failed server is forced out;
    # Consul's leader then drops it from Raft. cairn removes it directly.
    from conftest import cairn_cli
    c = cluster_factory(4)
    ldr = c.leader()
    follower, victim = [a for a in c.live() if a is not ldr][:2]
    victim.kill9()
    p = cairn_cli("force-leave", victim.name, http_port=follower.http_port)
    assert p.returncode == 0, p.stderr
    assert p.stdout == ""
    wait_until(lambda: victim.rpc_addr not in [s["Address"] for s in c.peers()],
               what="the dead server out of the Raft configuration")
    c.leader().kv_put("fl/after", b"1")
    # python-consul 0.7.1 sends GET; an unknown node is Consul's 500.
    import consul
    with pytest.raises(consul.ConsulException):
        follower.consul().agent.force_leave("ghost")
