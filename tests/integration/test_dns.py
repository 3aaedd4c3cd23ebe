"""The DNS interface (issue 8), with `dig` and dnspython against a real agent.

Expected behaviour is Consul's documented DNS interface
(website/content/docs/services/discovery/dns-static-lookups.mdx,
dns-configuration.mdx, agent/config `dns_config`, `recursors`) and the RFCs
it rests on (RFC 1035 wire format and TC, RFC 2782 SRV, RFC 6891 EDNS0);
docs/dns.md says where cairn differs (TC is always set on a cut answer).
No timing assertions: every wait is on observable state."""

import json
import os
import shutil
import socket
import socketserver
import struct
import subprocess
import threading
import time

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from conftest import free_port, wait_until


# ---- helpers ---------------------------------------------------------------------

def q(agent, name, rdtype="A", tcp=False, payload=None, timeout=5.0):
    """Ask cairn; payload None = no EDNS (a 512-byte UDP answer)."""
    if payload is None:
        m = dns.message.make_query(name, rdtype, use_edns=False)
    else:
        m = dns.message.make_query(name, rdtype, use_edns=0, payload=payload)
    f = dns.query.tcp if tcp else dns.query.udp
    return f(m, "127.0.0.1", port=agent.dns_port, timeout=timeout, ignore_trailing=False)


def dig(agent, *args):
    out = subprocess.run(["dig", "@127.0.0.1", "-p", str(agent.dns_port), "+time=3",
                          "+tries=1"] + list(args), capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def answers(resp, rdtype):
    t = dns.rdatatype.from_text(rdtype)
    return [rr for rrset in resp.answer if rrset.rdtype == t for rr in rrset]


def addrs(resp):
    return sorted(rr.address for rr in answers(resp, "A"))


def register_node(agent, node, address, service=None, sid=None, port=0, tags=(),
                  saddr="", meta=None, weights=None):
    body = {"Node": node, "Address": address, "NodeMeta": meta or {}}
    if service:
        svc = {"Service": service, "ID": sid or service, "Port": port, "Tags": list(tags),
               "Address": saddr}
        if weights:
            svc["Weights"] = weights
        body["Service"] = svc
    r = agent.put_json("/v1/catalog/register", body)
    assert r.status_code == 200, r.text


def raw_udp(agent, data, timeout=2.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(data, ("127.0.0.1", agent.dns_port))
        try:
            return s.recv(65535)
        except socket.timeout:
            return None
    finally:
        s.close()


@pytest.fixture(scope="module")
def svc(agent):
    """A service 'web' on three nodes (one with its own service address)."""
    register_node(agent, "n1", "10.0.0.1", "web", "web1", 8080, ["v1", "primary"],
                  meta={"rack": "r1", "env": "test"}, weights={"Passing": 10, "Warning": 1})
    register_node(agent, "n2", "10.0.0.2", "web", "web2", 8081, ["v2"],
                  weights={"Passing": 7, "Warning": 1})
    register_node(agent, "n3", "10.0.0.3", "web", "web3", 8082, ["v1"], saddr="10.9.9.3")
    return agent


# ---- names and answers ---------------------------------------------------------------

def test_service_a_and_srv(svc):
    # dns-static-lookups.mdx "Standard lookups": A records of the healthy instances;
    # the service address when set, else the node's.
    r = q(svc, "web.service.consul")
    assert r.rcode() == dns.rcode.NOERROR
    assert r.flags & dns.flags.AA
    assert addrs(r) == ["10.0.0.1", "10.0.0.2", "10.9.9.3"]
    assert sorted(dig(svc, "+short", "web.service.dc1.consul").split()) == \
        ["10.0.0.1", "10.0.0.2", "10.9.9.3"]
    # SRV: priority 1, Weights.Passing, the port, target NODE.node.DC.DOMAIN., or
    # HEXIP.addr.DC.DOMAIN. for a service address of its own; the targets' A
    # records (and node meta TXT) in the additional section.
    r = q(svc, "web.service.consul", "SRV", payload=4096)
    srv = sorted((rr.priority, rr.weight, rr.port, rr.target.to_text())
                 for rr in answers(r, "SRV"))
    assert srv == [(1, 1, 8082, "0a090903.addr.dc1.consul."),
                   (1, 7, 8081, "n2.node.dc1.consul."),
                   (1, 10, 8080, "n1.node.dc1.consul.")]
    extra = {(rrset.name.to_text(), rrset.rdtype): [rr.to_text() for rr in rrset]
             for rrset in r.additional}
    assert extra[("n1.node.dc1.consul.", dns.rdatatype.A)] == ["10.0.0.1"]
    assert extra[("0a090903.addr.dc1.consul.", dns.rdatatype.A)] == ["10.9.9.3"]
    assert sorted(extra[("n1.node.dc1.consul.", dns.rdatatype.TXT)]) == \
        ['"env=test"', '"rack=r1"']
    out = dig(svc, "web.service.consul", "SRV")
    assert "status: NOERROR" in out and "n1.node.dc1.consul." in out


def test_tag_filter_and_rfc2782(svc):
    # [TAG.]SERVICE.service.DOMAIN filters on a tag (case-insensitively).
    assert addrs(q(svc, "v1.web.service.consul")) == ["10.0.0.1", "10.9.9.3"]
    assert addrs(q(svc, "V2.web.service.consul")) == ["10.0.0.2"]
    assert q(svc, "nosuchtag.web.service.consul").rcode() == dns.rcode.NXDOMAIN
    # RFC 2782: _SERVICE._TAG.service.DOMAIN; _tcp means no tag filter.
    r = q(svc, "_web._tcp.service.consul", "SRV", payload=4096)
    assert sorted(rr.port for rr in answers(r, "SRV")) == [8080, 8081, 8082]
    r = q(svc, "_web._primary.service.dc1.consul", "SRV", payload=4096)
    assert [rr.port for rr in answers(r, "SRV")] == [8080]


def test_node_lookup_with_meta_txt(svc):
    r = q(svc, "n1.node.consul")
    assert addrs(r) == ["10.0.0.1"]
    # Node meta as TXT "key=value" (enable_additional_node_meta_txt, default on).
    txt = sorted(rr.to_text() for rrset in r.additional if rrset.rdtype == dns.rdatatype.TXT
                 for rr in rrset)
    assert txt == ['"env=test"', '"rack=r1"']
    r = q(svc, "n1.node.dc1.consul", "TXT")
    assert sorted(rr.to_text() for rr in answers(r, "TXT")) == ['"env=test"', '"rack=r1"']
    out = dig(svc, "+short", "n1.node.consul", "ANY")
    assert "10.0.0.1" in out and '"rack=r1"' in out
    # HEXIP.addr.DC.DOMAIN answers the address itself.
    assert addrs(q(svc, "0a000002.addr.dc1.consul")) == ["10.0.0.2"]


def test_reverse_lookup(svc):
    # PTR for a node address and for a service address.
    out = dig(svc, "+short", "-x", "10.0.0.2")
    assert out.split() == ["n2.node.dc1.consul."]
    out = dig(svc, "+short", "-x", "10.9.9.3")
    assert out.split() == ["web.service.dc1.consul."]


def test_nxdomain_with_soa(svc):
    for name in ("nope.service.consul", "nosuchnode.node.consul", "web.service.dc9.consul",
                 "x.query.consul"):
        r = q(svc, name)
        assert r.rcode() == dns.rcode.NXDOMAIN, name
        assert not r.answer
        soa = [rrset for rrset in r.authority if rrset.rdtype == dns.rdatatype.SOA]
        assert soa and soa[0].name.to_text() == "consul."
        rr = soa[0][0]
        # Consul's SOA defaults: ns./hostmaster. of the domain, refresh 3600,
        # retry 600, expire 86400, min_ttl 0.
        assert (rr.mname.to_text(), rr.rname.to_text()) == ("ns.consul.", "hostmaster.consul.")
        assert (rr.refresh, rr.retry, rr.expire, rr.minimum) == (3600, 600, 86400, 0)
    out = dig(svc, "nope.service.consul")
    assert "status: NXDOMAIN" in out and "SOA" in out
    # The SOA and NS of the domain.
    r = q(svc, "consul", "SOA")
    assert answers(r, "SOA") and r.rcode() == dns.rcode.NOERROR
    r = q(svc, "consul", "NS")
    assert [rr.target.to_text() for rr in answers(r, "NS")] == ["%s.node.dc1.consul." %
                                                                 svc.name]


def test_failing_instance_excluded_then_back(agent):
    body = {"Name": "api", "ID": "api1", "Port": 9000,
            "Check": {"CheckID": "api1-ttl", "TTL": "60s", "Status": "passing"}}
    assert agent.put_json("/v1/agent/service/register", body).status_code == 200
    wait_until(lambda: addrs(q(agent, "api.service.consul")) == ["127.0.0.1"],
               what="api in DNS")
    assert agent.put("/v1/agent/check/fail/api1-ttl").status_code == 200
    # The only instance is critical: NXDOMAIN (no healthy instance).
    wait_until(lambda: q(agent, "api.service.consul").rcode() == dns.rcode.NXDOMAIN,
               what="critical instance left out")
    assert agent.put("/v1/agent/check/warn/api1-ttl").status_code == 200
    # Warning stays in, with Weights.Warning (1) in SRV.
    wait_until(lambda: [rr.weight for rr in answers(q(agent, "api.service.consul", "SRV"),
                                                    "SRV")] == [1], what="warning weight")
    assert agent.put("/v1/agent/check/pass/api1-ttl").status_code == 200
    wait_until(lambda: addrs(q(agent, "api.service.consul")) == ["127.0.0.1"],
               what="back when passing")
    # Maintenance mode is a critical check: out, then back.
    assert agent.put("/v1/agent/service/maintenance/api1?enable=true").status_code == 200
    wait_until(lambda: q(agent, "api.service.consul").rcode() == dns.rcode.NXDOMAIN,
               what="maintenance left out")
    assert agent.put("/v1/agent/service/maintenance/api1?enable=false").status_code == 200
    wait_until(lambda: addrs(q(agent, "api.service.consul")) == ["127.0.0.1"],
               what="back after maintenance")


# ---- size: truncation, TCP, EDNS0 -------------------------------------------------------

@pytest.fixture(scope="module")
def big(agent):
    for i in range(35):
        register_node(agent, "big-%02d" % i, "10.2.0.%d" % (i + 1), "big", "big%d" % i, 7000 + i)
    return agent


def test_udp_truncates_whole_records_then_tcp_has_all(big):
    # 35 instances do not fit a 512-byte UDP answer: cut to whole records, TC set.
    for rdtype in ("A", "SRV"):
        m = dns.message.make_query("big.service.consul", rdtype, use_edns=False)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(5)
        s.sendto(m.to_wire(), ("127.0.0.1", big.dns_port))
        wire = s.recv(65535)
        s.close()
        assert len(wire) <= 512
        r = dns.message.from_wire(wire)  # parses strictly: whole records only
        assert r.flags & dns.flags.TC, rdtype
        n = len(answers(r, rdtype))
        assert 0 < n < 35, (rdtype, n)
        assert struct.unpack(">H", wire[6:8])[0] == n
        # Over TCP every record is there.
        r = q(big, "big.service.consul", rdtype, tcp=True)
        assert not r.flags & dns.flags.TC
        assert len(answers(r, rdtype)) == 35
    r = q(big, "big.service.consul", "A", tcp=True)
    assert addrs(r) == sorted("10.2.0.%d" % (i + 1) for i in range(35))
    # dig follows TC to TCP by itself; +ignore shows the cut UDP answer.
    out = dig(big, "+noedns", "+ignore", "big.service.consul")
    assert " tc " in out.split("flags:")[1].split(";")[0] + " "
    out = dig(big, "+short", "big.service.consul")
    assert len(out.split()) == 35


def test_edns0_larger_buffer(big):
    # RFC 6891: the client's advertised size is honoured: 35 A records fit 4096.
    r = q(big, "big.service.consul", "A", payload=4096)
    assert not r.flags & dns.flags.TC
    assert len(answers(r, "A")) == 35
    assert r.edns == 0
    # SRV with targets and additional records: cut at 1232, whole records.
    r = q(big, "big.service.consul", "SRV", payload=1232)
    assert len(r.to_wire()) <= 1232
    # An EDNS version we do not speak: BADVERS (RFC 6891 §6.1.3).
    m = dns.message.make_query("big.service.consul", "A")
    m.use_edns(edns=1)
    assert m.edns == 1
    wire = raw_udp(big, m.to_wire())
    r = dns.message.from_wire(wire)
    assert r.rcode() == dns.rcode.BADVERS


def test_answers_shuffled(big):
    firsts = set()
    for _ in range(20):
        firsts.add(answers(q(big, "big.service.consul", payload=4096), "A")[0].address)
    assert len(firsts) > 1


# ---- malformed packets -----------------------------------------------------------------------

def test_malformed_packets(agent):
    good = dns.message.make_query("web.service.consul", "A", use_edns=False).to_wire()
    # A truncated header: dropped (nothing to answer).
    assert raw_udp(agent, good[:7], timeout=0.5) is None
    # QDCOUNT 2: FORMERR; a compression-pointer loop: FORMERR.
    two = good[:4] + b"\x00\x02" + good[6:]
    r = raw_udp(agent, two)
    assert r[:2] == good[:2] and r[3] & 0xF == dns.rcode.FORMERR
    loop = good[:12] + b"\xc0\x0c\x00\x01\x00\x01"
    assert raw_udp(agent, loop)[3] & 0xF == dns.rcode.FORMERR
    # A 64-byte label: FORMERR.
    lab = good[:12] + b"\x40" + b"a" * 64 + b"\x00\x00\x01\x00\x01"
    assert raw_udp(agent, lab)[3] & 0xF == dns.rcode.FORMERR
    # Opcode UPDATE: NOTIMP.
    upd = good[:2] + bytes([good[2] | (5 << 3)]) + good[3:]
    assert raw_udp(agent, upd)[3] & 0xF == dns.rcode.NOTIMP
    # Garbage: no crash; the server still answers.
    for junk in (b"\xff" * 300, os.urandom(40), b"\x00" * 12):
        raw_udp(agent, junk, timeout=0.2)
    assert q(agent, "consul", "SOA").rcode() == dns.rcode.NOERROR


def test_tcp_garbage_and_half_query(agent):
    # A length prefix under a header's size is garbage: the connection closes.
    s = socket.create_connection(("127.0.0.1", agent.dns_port), timeout=10)
    s.sendall(b"\x00\x03abc")
    assert s.recv(10) == b""
    s.close()
    # Half a query, then silence: the server closes the connection
    # (tcp_read_ms) rather than holding it forever; others are served meanwhile.
    s = socket.create_connection(("127.0.0.1", agent.dns_port), timeout=30)
    good = dns.message.make_query("consul", "SOA").to_wire()
    s.sendall(struct.pack(">H", len(good)) + good[:10])
    assert q(agent, "consul", "SOA", tcp=True).rcode() == dns.rcode.NOERROR
    assert s.recv(10) == b""
    s.close()
    # Pipelined queries on one connection are answered in order.
    s = socket.create_connection(("127.0.0.1", agent.dns_port), timeout=10)
    msgs = [dns.message.make_query(n, "SOA", id=i + 1) for i, n in enumerate(
        ["consul", "a.consul", "b.consul"])]
    s.sendall(b"".join(struct.pack(">H", len(w)) + w for w in (m.to_wire() for m in msgs)))
    got = []
    buf = b""
    while len(got) < 3:
        chunk = s.recv(65535)
        assert chunk
        buf += chunk
        while len(buf) >= 2 and len(buf) >= 2 + struct.unpack(">H", buf[:2])[0]:
            n = struct.unpack(">H", buf[:2])[0]
            got.append(dns.message.from_wire(buf[2:2 + n]).id)
            buf = buf[2 + n:]
    assert got == [1, 2, 3]
    s.close()


# ---- outside the domain: REFUSED, or the recursors ----------------------------------------

class Recursor:
    """A tiny authoritative server on loopback (UDP and TCP) for example.test:
    'a.example.test' -> 192.0.2.1; 'big.example.test' answers TC over UDP and
    the full answer (40 A records) over TCP."""

    def __init__(self):
        self.port = free_port()
        self.udp_hits = 0
        self.tcp_hits = 0
        outer = self

        def answer(wire, tcp):
            qm = dns.message.from_wire(wire)
            r = dns.message.make_response(qm)
            name = qm.question[0].name.to_text()
            if name == "a.example.test.":
                r.answer.append(dns.rrset.from_text(name, 30, "IN", "A", "192.0.2.1"))
            elif name == "big.example.test.":
                if tcp:
                    r.answer.append(dns.rrset.from_text(
                        name, 30, "IN", "A", *["192.0.2.%d" % i for i in range(1, 41)]))
                else:
                    r.flags |= dns.flags.TC
            else:
                r.set_rcode(dns.rcode.NXDOMAIN)
            return r.to_wire()

        class U(socketserver.BaseRequestHandler):
            def handle(self):
                outer.udp_hits += 1
                data, sock = self.request
                sock.sendto(answer(data, False), self.client_address)

        class T(socketserver.BaseRequestHandler):
            def handle(self):
                outer.tcp_hits += 1
                n = struct.unpack(">H", self.request.recv(2))[0]
                data = b""
                while len(data) < n:
                    data += self.request.recv(n - len(data))
                out = answer(data, True)
                self.request.sendall(struct.pack(">H", len(out)) + out)

        socketserver.UDPServer.allow_reuse_address = True
        socketserver.TCPServer.allow_reuse_address = True
        self.u = socketserver.ThreadingUDPServer(("127.0.0.1", self.port), U)
        self.t = socketserver.ThreadingTCPServer(("127.0.0.1", self.port), T)
        for srv in (self.u, self.t):
            srv.daemon_threads = True
            threading.Thread(target=srv.serve_forever, daemon=True).start()

    def stop(self):
        for srv in (self.u, self.t):
            srv.shutdown()
            srv.server_close()


def test_outside_domain_refused(agent):
    # No recursors: a name outside the domain is REFUSED.
    r = q(agent, "a.example.test")
    assert r.rcode() == dns.rcode.REFUSED
    assert "status: REFUSED" in dig(agent, "www.example.com")


def test_recursor_forwarding(agent_factory):
    rec = Recursor()
    dead = free_port()  # nothing listens there: the first recursor times out
    try:
        a = agent_factory("rec", extra_args=["-recursor=127.0.0.1:%d" % dead,
                                             "-recursor=127.0.0.1:%d" % rec.port])
        cfg = a.get("/v1/agent/self").json()
        assert cfg is not None
        r = q(a, "a.example.test", timeout=10)
        assert r.rcode() == dns.rcode.NOERROR
        assert addrs(r) == ["192.0.2.1"]
        assert r.flags & dns.flags.RA
        assert q(a, "nope.example.test", timeout=10).rcode() == dns.rcode.NXDOMAIN
        # Over TCP, a truncated UDP answer from the recursor is asked again over TCP.
        r = q(a, "big.example.test", tcp=True, timeout=10)
        assert len(answers(r, "A")) == 40
        assert rec.tcp_hits >= 1
        # Over UDP the client gets the TC answer and retries over TCP itself (dig).
        assert len(dig(a, "+short", "big.example.test").split()) == 40
        # The domain itself is still answered locally.
        assert q(a, "consul", "SOA").rcode() == dns.rcode.NOERROR
    finally:
        rec.stop()


# ---- configuration ---------------------------------------------------------------------------

def test_dns_config_file(agent_factory, tmp_path):
    cfg = tmp_path / "dns.json"
    cfg.write_text(json.dumps({
        "alt_domain": "cairn.test.",
        "dns_config": {"node_ttl": "11s", "service_ttl": {"*": "5s", "we*": "7s", "web": "9s"},
                       "only_passing": True,
                       "soa": {"refresh": 100, "retry": 50, "expire": 1000, "min_ttl": 3}},
    }))
    a = agent_factory("cfg", extra_args=["-config-file=" + str(cfg)])
    register_node(a, "c1", "10.3.0.1", "web", "w1", 80)
    register_node(a, "c1", "10.3.0.1", "webx", "wx", 80)
    register_node(a, "c1", "10.3.0.1", "db", "d1", 80)
    assert q(a, "web.service.consul").answer[0].ttl == 9
    assert q(a, "webx.service.consul").answer[0].ttl == 7
    assert q(a, "db.service.consul").answer[0].ttl == 5
    assert q(a, "c1.node.consul").answer[0].ttl == 11
    # The alt domain answers too, naming targets in itself.
    r = q(a, "web.service.cairn.test", "SRV")
    assert answers(r, "SRV")[0].target.to_text() == "c1.node.dc1.cairn.test."
    r = q(a, "nope.service.consul")
    soa = r.authority[0]
    assert soa.ttl == 3 and (soa[0].refresh, soa[0].retry, soa[0].expire, soa[0].minimum) == \
        (100, 50, 1000, 3)


def test_dns_disabled_and_bad_config(agent_factory, tmp_path):
    a = agent_factory("off", extra_args=["-dns-port=-1"])
    assert raw_udp(a, dns.message.make_query("consul", "SOA").to_wire(), timeout=0.5) is None
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"dns_config": {"service_ttl": {"web": "soon"}}}))
    out = subprocess.run([os.environ.get("CAIRN_BIN", "cairn"), "agent", "-dev",
                          "-config-file=" + str(bad)], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode != 0
    assert "dns_config.service_ttl" in out.stderr and "duration" in out.stderr
    out = subprocess.run([os.environ.get("CAIRN_BIN", "cairn"), "agent", "-dev",
                          "-dns-port=%d" % free_port(), "-http-port=%d" % free_port(),
                          "-recursor=not-an-ip"], capture_output=True, text=True, timeout=30)
    assert out.returncode != 0 and "invalid recursor" in out.stderr


# ---- HAProxy: server-template filled from SRV records ------------------------------------------

@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy not installed")
def test_haproxy_server_template(agent, tmp_path):
    for i in range(3):
        register_node(agent, "hap-%d" % i, "127.0.0.%d" % (11 + i), "hap", "hap%d" % i,
                      9100 + i)
    sock = str(tmp_path / "haproxy.sock")
    conf = tmp_path / "haproxy.cfg"
    conf.write_text("""
global
    stats socket %(sock)s mode 600 level admin
defaults
    mode tcp
    timeout connect 1s
    timeout client 5s
    timeout server 5s
resolvers cairn
    nameserver c1 127.0.0.1:%(dns)d
    accepted_payload_size 8192
    resolve_retries 3
    timeout resolve 100ms
    timeout retry 200ms
    hold valid 1s
backend b
    server-template hap 5 _hap._tcp.service.consul resolvers cairn init-addr none
frontend f
    bind 127.0.0.1:%(fe)d
    default_backend b
""" % {"sock": sock, "dns": agent.dns_port, "fe": free_port()})
    p = subprocess.Popen(["haproxy", "-db", "-f", str(conf)], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    try:
        def servers():
            if not os.path.exists(sock):
                return None
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(2)
            try:
                s.connect(sock)
                s.sendall(b"show servers state b\n")
                data = b""
                while True:
                    c = s.recv(65536)
                    if not c:
                        break
                    data += c
            except OSError:
                return None
            finally:
                s.close()
            got = set()
            for line in data.decode().splitlines():
                f = line.split()
                if len(f) > 18 and f[1] == "b" and f[4] != "-" and f[4] != "0.0.0.0":
                    got.add((f[4], int(f[18])))
            return got

        want = {("127.0.0.%d" % (11 + i), 9100 + i) for i in range(3)}
        wait_until(lambda: p.poll() is None and servers() == want, timeout=30,
                   what="haproxy backend filled from SRV (have %r)" % (servers(),))
    finally:
        p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


# ---- prepared queries (NAME.query.DOMAIN) ---------------------------------------------
# dns-dynamic-lookups.mdx / dns.mdx "Prepared query lookups":
#   <query or name>.query[.<datacenter>].<domain>, and the RFC 2782 form
#   _<query or name>._<protocol>.query[.<datacenter>].<domain> for SRV;
# the answer is the query's execution (its OnlyPassing, Tags, NodeMeta filters),
# TTL the query's DNS.TTL (else the agent's service_ttl); agent/dns.go
# preparedQueryLookup answers NXDOMAIN for an unknown query or an empty result.

@pytest.fixture(scope="module")
def pq(agent):
    def reg(node, addr, sid, tags, status, rack):
        body = {"Node": node, "Address": addr, "NodeMeta": {"rack": rack},
                "Service": {"ID": sid, "Service": "pqs", "Tags": tags,
                            "Port": 7000 + int(sid[-1])},
                "Check": {"CheckID": "chk-" + sid, "Name": "c", "Status": status,
                          "ServiceID": sid}}
        r = agent.put_json("/v1/catalog/register", body)
        assert r.status_code == 200, r.text
    reg("q1", "10.1.0.1", "pqs1", ["primary"], "passing", "r1")
    reg("q2", "10.1.0.2", "pqs2", ["primary"], "warning", "r1")
    reg("q3", "10.1.0.3", "pqs3", ["primary"], "critical", "r1")
    reg("q4", "10.1.0.4", "pqs4", ["canary"], "passing", "r2")

    def create(body):
        r = agent.request("POST", "/v1/query", data=json.dumps(body))
        assert r.status_code == 200, r.text
        return r.json()["ID"]
    ids = {
        "primary": create({"Name": "pq-primary", "DNS": {"TTL": "17s"},
                           "Service": {"Service": "pqs", "OnlyPassing": True,
                                       "Tags": ["primary"]}}),
        "all": create({"Name": "pq-all", "Service": {"Service": "pqs"}}),
        "nocanary": create({"Name": "pq-nocanary",
                            "Service": {"Service": "pqs", "Tags": ["!canary"],
                                        "NodeMeta": {"rack": "r1"}}}),
        "empty": create({"Name": "pq-empty", "Service": {"Service": "pqs",
                                                         "Tags": ["nosuch"]}}),
        "tmpl": create({"Name": "pqt-", "Template": {"Type": "name_prefix_match"},
                        "DNS": {"TTL": "3s"}, "Service": {"Service": "${name.suffix}"}}),
    }
    return agent, ids


def test_prepared_query_by_name_filters_and_ttl(pq):
    agent, _ = pq
    # OnlyPassing + Tags: q1 only (q2 warning, q3 critical, q4 untagged); TTL 17 s.
    r = q(agent, "pq-primary.query.consul")
    assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA
    assert addrs(r) == ["10.1.0.1"]
    assert [rrset.ttl for rrset in r.answer] == [17]
    # Without OnlyPassing a warning instance stays, a critical one never does;
    # no DNS.TTL: the agent's service_ttl (default 0).
    r = q(agent, "pq-all.query.consul")
    assert addrs(r) == ["10.1.0.1", "10.1.0.2", "10.1.0.4"]
    assert [rrset.ttl for rrset in r.answer] == [0]
    # "!canary" and NodeMeta rack=r1.
    assert addrs(q(agent, "pq-nocanary.query.consul")) == ["10.1.0.1", "10.1.0.2"]
    # The datacenter label, dig, and a name in other case.
    assert addrs(q(agent, "pq-primary.query.dc1.consul")) == ["10.1.0.1"]
    assert dig(agent, "+short", "pq-primary.query.consul").split() == ["10.1.0.1"]
    assert addrs(q(agent, "PQ-Primary.QUERY.consul")) == ["10.1.0.1"]
    # A change of health shows in the next answer (no stale cache).
    r = agent.put_json("/v1/catalog/register", {
        "Node": "q1", "Address": "10.1.0.1", "NodeMeta": {"rack": "r1"},
        "Check": {"CheckID": "chk-pqs1", "Name": "c", "Status": "critical",
                  "ServiceID": "pqs1"}})
    assert r.status_code == 200
    try:
        r = q(agent, "pq-primary.query.consul")
        assert r.rcode() == dns.rcode.NXDOMAIN and not r.answer
        assert addrs(q(agent, "pq-all.query.consul")) == ["10.1.0.2", "10.1.0.4"]
    finally:
        r = agent.put_json("/v1/catalog/register", {
            "Node": "q1", "Address": "10.1.0.1", "NodeMeta": {"rack": "r1"},
            "Check": {"CheckID": "chk-pqs1", "Name": "c", "Status": "passing",
                      "ServiceID": "pqs1"}})
        assert r.status_code == 200
    assert addrs(q(agent, "pq-primary.query.consul")) == ["10.1.0.1"]


def test_prepared_query_by_id_and_srv(pq):
    agent, ids = pq
    r = q(agent, "%s.query.consul" % ids["primary"])
    assert addrs(r) == ["10.1.0.1"]
    # SRV: priority 1, the instance's port, the node as target, its address in
    # the additional section, the query's TTL on both.
    for name in ("pq-primary.query.consul", "_pq-primary._tcp.query.consul",
                 "_%s._tcp.query.dc1.consul" % ids["primary"]):
        r = q(agent, name, "SRV")
        assert r.rcode() == dns.rcode.NOERROR, name
        srv = answers(r, "SRV")
        assert [(rr.priority, rr.port, rr.target.to_text()) for rr in srv] == \
            [(1, 7001, "q1.node.dc1.consul.")], name
        assert r.answer[0].ttl == 17
        add = [(rrset.name.to_text(), rr.address, rrset.ttl) for rrset in r.additional
               if rrset.rdtype == dns.rdatatype.A for rr in rrset]
        assert add == [("q1.node.dc1.consul.", "10.1.0.1", 17)], name
    # SRV weights: Weights default {Passing 1, Warning 1}.
    r = q(agent, "pq-all.query.consul", "SRV")
    assert sorted(rr.port for rr in answers(r, "SRV")) == [7001, 7002, 7004]


def test_prepared_query_template(pq):
    agent, _ = pq
    # name_prefix_match: "pqt-pqs" renders Service "${name.suffix}" = "pqs".
    r = q(agent, "pqt-pqs.query.consul")
    assert addrs(r) == ["10.1.0.1", "10.1.0.2", "10.1.0.4"]
    assert [rrset.ttl for rrset in r.answer] == [3]
    # A rendering whose service has no instance: NXDOMAIN.
    assert q(agent, "pqt-nosuch.query.consul").rcode() == dns.rcode.NXDOMAIN


def test_prepared_query_nxdomain(pq):
    agent, ids = pq
    for name in ("nope.query.consul", "pq-empty.query.consul", "query.consul",
                 "pq-primary.query.dc9.consul", "_nope._tcp.query.consul"):
        r = q(agent, name)
        assert r.rcode() == dns.rcode.NXDOMAIN, name
        soa = [rrset for rrset in r.authority if rrset.rdtype == dns.rdatatype.SOA]
        assert soa and soa[0].name.to_text() == "consul.", name
    # Deleted: gone from DNS too.
    r = agent.request("DELETE", "/v1/query/" + ids["empty"])
    assert r.status_code == 200
    assert q(agent, "%s.query.consul" % ids["empty"]).rcode() == dns.rcode.NXDOMAIN
