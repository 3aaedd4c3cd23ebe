"""Leaf certificates renewed by the agent before they expire
(api-docs/agent/connect.mdx "Service Leaf Certificate", api-docs/connect/ca.mdx
LeafCertTTL): LeafCertTTL is refused below Consul's 1h minimum and above its
1 year maximum; with the cairn-only test knob
connect.test_only_min_leaf_cert_ttl a short TTL is accepted, and then a
blocking query on /v1/agent/connect/ca/leaf/:service wakes, with nobody
reading in between, with a new serial and a later ValidBefore while the old
leaf is still valid; and the built-in proxies holding such leaves keep
carrying connections across several renewals, past the first leaves'
expiry (a proxy presenting an expired certificate would be refused by its
peer)."""

import calendar
import os
import time

import pytest

from conftest import Agent, free_port, wait_until
from test_config_files import start_fails
from test_connect_proxy import Echo, Proxy, roundtrip

LEAF = "/v1/agent/connect/ca/leaf/"
TTL = 15  # seconds: renewal between 60% and 90% (9-13.5 s, jittered as Consul), expiry at 15 s


def valid_before(leaf):
    return calendar.timegm(time.strptime(leaf["ValidBefore"], "%Y-%m-%dT%H:%M:%SZ"))


def set_leaf_ttl(agent, ttl):
    return agent.put_json("/v1/connect/ca/configuration",
                          {"Provider": "consul", "Config": {"LeafCertTTL": ttl}})


@pytest.fixture(scope="module")
def short(tmp_path_factory):
    """An agent with Connect on and the test knob letting LeafCertTTL be short."""
    wd = tmp_path_factory.mktemp("leafttl")
    cfg = os.path.join(str(wd), "connect.hcl")
    with open(cfg, "w") as f:
        f.write('connect {\n  enabled = true\n  test_only_min_leaf_cert_ttl = "2s"\n}\n')
    a = Agent(wd, name="leafttl", extra_args=["-config-file=" + cfg])
    a.start()
    wait_until(lambda: a.get("/v1/connect/ca/roots").json()["ActiveRootID"] != "",
               what="CA initialised")
    yield a
    rc = a.stop() if a.running() else a.proc.returncode
    a.close()
    assert a.sanitizer_report() is None, a.sanitizer_report()
    assert rc == 0, a.log_tail()


def test_leaf_ttl_bounds(short, agent_factory, tmp_path):
    # Consul's bounds on an agent without the knob
    dev = agent_factory("plain", extra_args=["-dev"])
    wait_until(lambda: dev.get("/v1/connect/ca/roots").json()["ActiveRootID"] != "",
               what="CA initialised")
    r = set_leaf_ttl(dev, "59m")
    assert r.status_code == 400
    assert "leaf cert TTL must be greater or equal than 1h0m0s" in r.text
    r = set_leaf_ttl(dev, "8761h")
    assert r.status_code == 400 and "leaf cert TTL must be less than 8760h0m0s" in r.text
    assert dev.get("/v1/connect/ca/configuration").json()["Config"]["LeafCertTTL"] == "72h0m0s"
    r = set_leaf_ttl(dev, "1h")
    assert r.status_code == 200, r.text
    assert dev.get("/v1/connect/ca/configuration").json()["Config"]["LeafCertTTL"] == "1h0m0s"
    # the knob lowers the minimum, and only down to what it says
    r = set_leaf_ttl(short, "1s")
    assert r.status_code == 400 and "greater or equal than 2s" in r.text
    # a bad knob stops the agent at start
    bad = tmp_path / "bad.hcl"
    bad.write_text('connect { test_only_min_leaf_cert_ttl = "500ms" }\n')
    assert "test_only_min_leaf_cert_ttl must be at least 1s" in start_fails(
        tmp_path, "-config-file=" + str(bad))


def test_blocking_leaf_query_wakes_with_renewed_leaf(short):
    r = set_leaf_ttl(short, "%ds" % TTL)
    assert r.status_code == 200, r.text
    r = short.get(LEAF + "renewme")
    assert r.status_code == 200, r.text
    held = r.json()
    # a fresh leaf under the new TTL (an older one may predate the change)
    wait_until(lambda: valid_before(short.get(LEAF + "renewme").json()) - time.time() <= TTL + 1,
               timeout=TTL + 10, what="a leaf with the short TTL")
    held = short.get(LEAF + "renewme").json()
    for _ in range(2):
        r = short.get(LEAF + "renewme", params={"index": held["ModifyIndex"], "wait": "60s"},
                      timeout=90)
        now = time.time()
        assert r.status_code == 200, r.text
        new = r.json()
        assert new["SerialNumber"] != held["SerialNumber"], "woke without a new leaf"
        assert new["ModifyIndex"] > held["ModifyIndex"]
        assert int(r.headers["X-Consul-Index"]) == new["ModifyIndex"]
        # renewed while the held one is still valid, and valid for longer
        assert now < valid_before(held), (now, held["ValidBefore"])
        assert valid_before(new) > valid_before(held)
        assert new["ServiceURI"] == held["ServiceURI"]
        held = new


def test_proxies_never_present_an_expired_leaf(short, tmp_path):
    r = set_leaf_ttl(short, "%ds" % TTL)
    assert r.status_code == 200, r.text
    echo = Echo()
    sp, cp, up = free_port(), free_port(), free_port()
    for name, sid_port, ups in (("rserver", sp, []),
                                ("rclient", cp, [{"DestinationName": "rserver",
                                                  "LocalBindPort": up}])):
        r = short.put_json("/v1/agent/service/register", {
            "Name": name, "ID": name + "1", "Port": echo.port if name == "rserver" else free_port(),
            "Connect": {"SidecarService": {
                "Port": sid_port, "Proxy": {"Config": {"bind_address": "127.0.0.1"},
                                            "Upstreams": ups},
                "Checks": [{"Name": "listening", "TCP": "127.0.0.1:%d" % sid_port,
                            "Interval": "1s"}]}}})
        assert r.status_code == 200, r.text
    server = Proxy(tmp_path, "rserver-proxy", short, "-sidecar-for=rserver1")
    client = Proxy(tmp_path, "rclient-proxy", short, "-sidecar-for=rclient1")
    server.start()
    client.start()
    try:
        wait_until(lambda: roundtrip(up, b"ping", timeout=2) == b"ping", timeout=60,
                   what="the first connection through both proxies")
        first = {s: short.get(LEAF + s).json() for s in ("rserver", "rclient")}
        # carry connections until the first leaves (as the proxies first held
        # them, or older) have expired; nothing here reads the leaves, so
        # only the agent's own renewal keeps the proxies' certificates valid
        deadline = max(valid_before(x) for x in first.values()) + 2
        n = 0
        while time.time() < deadline:
            data = os.urandom(1024)
            assert roundtrip(up, data, timeout=10) == data, "connection %d failed" % n
            n += 1
            time.sleep(0.2)  # pacing between connections, not a wait for state
        assert n > 10
        for s in first:
            now = short.get(LEAF + s).json()
            assert now["SerialNumber"] != first[s]["SerialNumber"]
            assert valid_before(now) > time.time()
    finally:
        rcs = [server.stop(), client.stop()]
        echo.close()
    for p in (server, client):
        assert "ERROR: AddressSanitizer" not in p.text(), p.text()
        assert "LeakSanitizer" not in p.text(), p.text()
    assert rcs == [0, 0], (server.text()[-3000:], client.text()[-3000:])
