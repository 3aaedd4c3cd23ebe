"""Connect-capable service lookups over DNS (Consul's DNS docs: "<service>.connect
.<domain> finds all Connect-capable endpoints for the given service", a proxy
or a Connect-native instance alike, this datacenter only, no tags): A and SRV
answers carry the sidecar proxies' addresses and ports, never the service's
own instances; unhealthy proxies are left out; with the local datacenter
named it answers the same, another datacenter or a tag is NXDOMAIN."""

import dns.rcode
import pytest

from conftest import wait_until
from test_dns import addrs, answers, dig, q, register_node


def register_proxy(agent, node, address, sid, dest, port, status="passing", saddr=""):
    body = {"Node": node, "Address": address,
            "Service": {"Kind": "connect-proxy", "Service": dest + "-sidecar-proxy", "ID": sid,
                        "Port": port, "Address": saddr,
                        "Proxy": {"DestinationServiceName": dest, "LocalServicePort": 8080}},
            "Check": {"CheckID": sid + "-chk", "Name": "proxy", "Status": status,
                      "ServiceID": sid}}
    r = agent.put_json("/v1/catalog/register", body)
    assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def mesh(agent):
    # the service's own instances: never in a .connect answer
    register_node(agent, "c1", "10.7.0.1", "web", "web1", 8080)
    register_node(agent, "c2", "10.7.0.2", "web", "web2", 8080)
    # their sidecars: one healthy on c1, one with its own address on c2, one critical on c3
    register_proxy(agent, "c1", "10.7.0.1", "web1-sidecar-proxy", "web", 21000)
    register_proxy(agent, "c2", "10.7.0.2", "web2-sidecar-proxy", "web", 21001, saddr="10.7.9.2")
    register_node(agent, "c3", "10.7.0.3")
    register_proxy(agent, "c3", "10.7.0.3", "web3-sidecar-proxy", "web", 21002, status="critical")
    # a Connect-native service
    r = agent.put_json("/v1/catalog/register", {
        "Node": "c4", "Address": "10.7.0.4",
        "Service": {"Service": "native", "ID": "native1", "Port": 9443,
                    "Connect": {"Native": True}}})
    assert r.status_code == 200, r.text
    # and a sidecar registered through the agent, as `Connect { SidecarService {} }`
    r = agent.put_json("/v1/agent/service/register", {
        "Name": "api", "ID": "api1", "Port": 7000,
        "Connect": {"SidecarService": {
            "Port": 21500,
            "Checks": [{"CheckID": "api-sidecar-ttl", "Name": "ttl", "TTL": "600s",
                        "Status": "passing"}]}}})
    assert r.status_code == 200, r.text
    return agent


def test_connect_a_records_are_the_healthy_proxies(mesh):
    r = q(mesh, "web.connect.consul")
    assert r.rcode() == dns.rcode.NOERROR
    assert addrs(r) == ["10.7.0.1", "10.7.9.2"]
    # the local datacenter named, case-insensitively
    assert addrs(q(mesh, "WEB.connect.dc1.consul")) == ["10.7.0.1", "10.7.9.2"]
    # the plain lookup still answers the service itself
    assert addrs(q(mesh, "web.service.consul")) == ["10.7.0.1", "10.7.0.2"]


def test_connect_srv_carries_the_proxy_ports(mesh):
    r = q(mesh, "web.connect.consul", "SRV")
    srv = sorted((rr.port, rr.target.to_text()) for rr in answers(r, "SRV"))
    assert [p for p, _ in srv] == [21000, 21001]
    assert srv[0][1] == "c1.node.dc1.consul."
    # a proxy with its own address: the address name, resolved in the additional section
    assert srv[1][1].endswith(".addr.dc1.consul.")
    extra = sorted(rr.address for rrset in r.additional if rrset.rdtype == 1 for rr in rrset)
    assert extra == ["10.7.0.1", "10.7.9.2"]
    out = dig(mesh, "web.connect.dc1.consul", "SRV", "+short")
    assert sorted(line.split()[2] for line in out.split("\n") if line.strip()) == ["21000", "21001"]


def test_connect_native_and_agent_sidecar(mesh):
    r = q(mesh, "native.connect.consul", "SRV")
    assert [(rr.port, rr.target.to_text()) for rr in answers(r, "SRV")] == [
        (9443, "c4.node.dc1.consul.")]
    r = q(mesh, "api.connect.consul", "SRV")
    assert [rr.port for rr in answers(r, "SRV")] == [21500]
    assert addrs(q(mesh, "api.connect.consul")) == ["127.0.0.1"]


def test_connect_health_follows_the_proxy(mesh):
    assert mesh.put("/v1/agent/check/fail/api-sidecar-ttl").status_code == 200
    wait_until(lambda: q(mesh, "api.connect.consul").rcode() == dns.rcode.NXDOMAIN,
               what="critical sidecar left out")
    # the service's own instance is still answered by .service
    assert addrs(q(mesh, "api.service.consul")) == ["127.0.0.1"]
    assert mesh.put("/v1/agent/check/pass/api-sidecar-ttl").status_code == 200
    wait_until(lambda: addrs(q(mesh, "api.connect.consul")) == ["127.0.0.1"],
               what="sidecar back when passing")


def test_connect_refusals(mesh):
    # no proxy, a tag, another datacenter, a plain service without proxies
    for name in ("nope.connect.consul", "v1.web.connect.consul", "web.connect.dc2.consul",
                 "db.connect.consul"):
        r = q(mesh, name)
        assert r.rcode() == dns.rcode.NXDOMAIN, name
        assert [rrset.rdtype for rrset in r.authority] == [6], name  # the SOA
