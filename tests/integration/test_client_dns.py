"""DNS on client agents: a client agent answers DNS as a server does, each
query resolved by a server with the client's own DNS options (dns/remote.c;
Consul's client agents make an RPC to a server for every lookup). The same
lookups through a client and through a server give the same answers; a
client whose servers are all down answers SERVFAIL at once, not never."""
import json
import subprocess
import time

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

from conftest import wait_until
from test_client_agent import clients, cluster  # noqa: F401 (fixtures)


def q(agent, name, rdtype="A", tcp=False, edns=False, timeout=8.0):
    m = dns.message.make_query(name, rdtype, use_edns=0 if edns else False)
    f = dns.query.tcp if tcp else dns.query.udp
    return f(m, "127.0.0.1", port=agent.dns_port, timeout=timeout)


def lines(section):
    """Every record of a section as text, sorted (answers are shuffled);
    the NS/SOA names of the agent asked are left out (each agent names
    itself)."""
    return sorted(line for rrset in section for line in rrset.to_text().splitlines())


def norm(resp):
    return {
        "rcode": dns.rcode.to_text(resp.rcode()),
        "aa": bool(resp.flags & dns.flags.AA),
        "tc": bool(resp.flags & dns.flags.TC),
        "answer": lines(resp.answer),
        "additional": lines(resp.additional),
    }


def dig_short(agent, *args):
    out = subprocess.run(["dig", "@127.0.0.1", "-p", str(agent.dns_port), "+time=5",
                          "+tries=1", "+short"] + list(args),
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
    return sorted(out.stdout.split("\n"))


def test_client_dns_matches_server(cluster, clients):
    s1 = cluster.agents[0]
    c1 = clients("c1", dns=True).start()
    r = c1.put_json("/v1/agent/service/register",
                    {"ID": "web1", "Name": "web", "Port": 8080, "Tags": ["v1"],
                     "Address": "10.0.0.5", "Meta": {"m": "x"}})
    assert r.status_code == 200, r.text
    r = s1.put_json("/v1/catalog/register",
                    {"Node": "ext", "Address": "10.9.8.7", "NodeMeta": {"rack": "r1"},
                     "Service": {"ID": "web2", "Service": "web", "Port": 9090,
                                 "Tags": ["v2"]}})
    assert r.status_code == 200, r.text
    r = s1.request("POST", "/v1/query", json={"Name": "webq", "Service": {"Service": "web"}})
    assert r.status_code == 200, r.text
    qid = r.json()["ID"]
    wait_until(lambda: len(c1.get("/v1/catalog/service/web").json()) == 2,
               what="both instances seen through the client")

    lookups = [
        ("web.service.consul", "A", {}), ("web.service.consul", "SRV", {}),
        ("_web._tcp.service.consul", "SRV", {}), ("v1.web.service.consul", "SRV", {}),
        ("web.service.dc1.consul", "A", {"tcp": True}), ("web.service.consul", "ANY", {}),
        ("c1.node.consul", "A", {}), ("ext.node.consul", "A", {"edns": True}),
        ("ext.node.dc1.consul", "TXT", {}), ("webq.query.consul", "SRV", {}),
        (qid + ".query.consul", "A", {}), ("7.8.9.10.in-addr.arpa", "PTR", {}),
        ("nosuch.service.consul", "A", {}), ("nosuch.node.consul", "A", {}),
        ("nosuch.query.consul", "SRV", {}), ("example.org", "A", {}),
    ]
    for name, rdtype, kw in lookups:
        want = norm(q(s1, name, rdtype, **kw))
        got = norm(q(c1, name, rdtype, **kw))
        assert got == want, (name, rdtype, got, want)
    # The lookups found something (the comparison is not of two failures).
    assert len(norm(q(c1, "web.service.consul", "SRV"))["answer"]) == 2
    assert norm(q(c1, "c1.node.consul"))["answer"] == ["c1.node.consul. 0 IN A 127.0.0.1"]
    assert norm(q(c1, "webq.query.consul", "SRV"))["rcode"] == "NOERROR"
    assert "ext.node.dc1.consul." in str(q(c1, "7.8.9.10.in-addr.arpa", "PTR").answer[0])
    assert norm(q(c1, "nosuch.service.consul"))["rcode"] == "NXDOMAIN"
    assert norm(q(c1, "example.org"))["rcode"] == "REFUSED"
    # dig, as a user would ask.
    for args in (["web.service.consul"], ["_web._tcp.service.consul", "SRV"],
                 ["-x", "10.9.8.7"], ["webq.query.consul", "SRV"]):
        assert dig_short(c1, *args) == dig_short(s1, *args), args
    # A change reaches the client's answers (stale reads, as a server's DNS).
    r = s1.put_json("/v1/catalog/deregister", {"Node": "ext"})
    assert r.status_code == 200
    wait_until(lambda: [a.address for a in q(c1, "web.service.consul").answer[0]]
               == ["10.0.0.5"], what="the deregistered node gone from the client's answers")


def test_client_dns_options_are_the_clients(tmp_path, cluster, clients):
    """The server resolves with the asking client's dns_config: here a
    node TTL and a service TTL the servers do not have."""
    s1 = cluster.agents[0]
    conf = tmp_path / "c1-dns.json"
    conf.write_text(json.dumps({"dns_config": {"node_ttl": "42s",
                                               "service_ttl": {"*": "17s"}}}))
    c1 = clients("c1", dns=True, extra_args=["-config-file=%s" % conf]).start()
    r = c1.put_json("/v1/agent/service/register", {"Name": "db", "Port": 5432})
    assert r.status_code == 200, r.text
    assert q(s1, "c1.node.consul").answer[0].ttl == 0
    assert q(c1, "c1.node.consul").answer[0].ttl == 42
    assert q(s1, "db.service.consul").answer[0].ttl == 0
    assert q(c1, "db.service.consul").answer[0].ttl == 17


def test_client_dns_servfail_when_no_server(cluster, clients):
    c1 = clients("c1", dns=True).start()
    assert norm(q(c1, "c1.node.consul"))["rcode"] == "NOERROR"
    for a in cluster.agents:
        a.stop()
    for tcp in (False, True):
        t0 = time.monotonic()
        r = q(c1, "c1.node.consul", tcp=tcp, timeout=10)
        assert dns.rcode.to_text(r.rcode()) == "SERVFAIL"
        assert time.monotonic() - t0 < 5, "SERVFAIL took %.1f s" % (time.monotonic() - t0)
    # The servers come back: answers again.
    for a in cluster.agents:
        a.start(wait=False)
    for a in cluster.agents:
        a.wait_ready()
    wait_until(lambda: norm(q(c1, "c1.node.consul"))["rcode"] == "NOERROR", timeout=30,
               what="answers once the servers are back")


def test_client_dns_with_the_clients_default_token(tmp_path):
    """ACLs: the server filters a client's DNS answers with the client's
    default token, not its own."""
    from conftest import assert_no_sanitizer_reports
    from test_acl import MGMT, AclAgent, acl_config, mkpolicy, mktoken
    from test_client_agent import ClientAgent

    class AclClient(ClientAgent):
        def _spawn(self):
            super()._spawn()
            self.http.headers["X-Consul-Token"] = MGMT
    cfg = acl_config(str(tmp_path / "acl.hcl"))
    s = AclAgent(tmp_path, name="as1", extra_args=["-config-file=" + cfg])
    c = c0 = None
    try:
        s.start()
        wait_until(lambda: s.get("/v1/acl/policies").status_code == 200,
                   what="the ACL system")
        r = s.put_json("/v1/catalog/register", {"Node": "dnsnode", "Address": "10.9.0.1",
                                                "Service": {"Service": "dnssvc", "Port": 1}})
        assert r.status_code == 200, r.text
        mkpolicy(s, "dns-read", 'service "dnssvc" { policy = "read" }\n'
                                'node "dnsnode" { policy = "read" }\n')
        d = mktoken(s, "dns-read")["SecretID"]
        # A client without a default token: anonymous, nothing readable.
        c0 = AclClient(tmp_path, "ac0", [s.server_port], dns=True,
                       extra_args=["-config-file=" + cfg]).start()
        assert norm(q(c0, "dnssvc.service.consul"))["rcode"] == "NXDOMAIN"
        # A client whose default token reads them.
        cfg2 = tmp_path / "acl2.hcl"
        with open(cfg) as f:
            cfg2.write_text(f.read().replace("tokens {\n", 'tokens {\n    default = "%s"\n' % d))
        c = AclClient(tmp_path, "ac1", [s.server_port], dns=True,
                      extra_args=["-config-file=%s" % cfg2]).start()
        assert norm(q(c, "dnssvc.service.consul"))["answer"] == \
            ["dnssvc.service.consul. 0 IN A 10.9.0.1"]
        assert norm(q(c, "dnsnode.node.consul"))["rcode"] == "NOERROR"
        # The server's own default token is still none.
        assert norm(q(s, "dnssvc.service.consul"))["rcode"] == "NXDOMAIN"
    finally:
        for a in (c, c0, s):
            if a:
                a.stop()
                a.close()
    assert_no_sanitizer_reports([x for x in (c, c0, s) if x])
