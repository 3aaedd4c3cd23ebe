"""`cairn connect proxy`, the built-in sidecar proxy, end to end on loopback
with real processes: an echo application behind a server sidecar, a client
sidecar whose upstream port reaches it over mutual TLS (bytes through
unchanged), a deny intention stopping new connections, callers without a
valid certificate refused (plain TLS, a certificate of another CA), a CA root
rotation while a connection stays open, and the proxies serving on while
their agent restarts."""

import hashlib
import json
import os
import signal
import socket
import ssl
import subprocess
import threading

import pytest

from conftest import CAIRN_BIN, Agent, free_port, wait_until


class Echo:
    """A tiny echo application: every byte read is written back."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.stop = False
        threading.Thread(target=self.run, daemon=True).start()

    def run(self):
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    @staticmethod
    def reply(d):
        """What the application answers to the bytes d."""
        return d

    def serve(self, c):
        with c:
            while True:
                try:
                    d = c.recv(65536)
                except OSError:
                    return
                if not d:
                    return
                c.sendall(self.reply(d))

    def close(self):
        self.stop = True
        self.sock.close()


def roundtrip(port, data, timeout=10):
    """Send data through the port and read the same number of bytes back;
    None when the connection is refused or closed before."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except OSError:
        return None
    with s:
        got = bytearray()
        try:
            s.sendall(data)
            while len(got) < len(data):
                d = s.recv(65536)
                if not d:
                    break
                got += d
        except OSError:
            return None
        return bytes(got) if len(got) == len(data) else None


class Proxy:
    def __init__(self, workdir, name, agent, *args):
        self.log = os.path.join(str(workdir), name + ".log")
        self.argv = [CAIRN_BIN, "connect", "proxy", "-http-addr=127.0.0.1:%d" % agent.http_port]
        self.argv += list(args)
        self.proc = None

    def start(self):
        self.f = open(self.log, "ab")
        self.proc = subprocess.Popen(self.argv, stdout=self.f, stderr=self.f)

    def text(self):
        with open(self.log, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            rc = self.proc.wait(30)
        else:
            rc = self.proc.returncode
        self.f.close()
        return rc


@pytest.fixture(scope="module")
def mesh(tmp_path_factory):
    wd = tmp_path_factory.mktemp("mesh")
    cfg = os.path.join(str(wd), "connect.hcl")
    with open(cfg, "w") as f:
        f.write("connect { enabled = true }\n")
    a = Agent(wd, name="mesh", extra_args=["-config-file=" + cfg])
    a.start()
    wait_until(lambda: a.get("/v1/connect/ca/roots").json()["ActiveRootID"] != "",
               what="CA initialised")
    echo = Echo()
    sp, cp, up = free_port(), free_port(), free_port()
    r = a.put_json("/v1/agent/service/register", {
        "Name": "server", "ID": "server1", "Port": echo.port,
        "Connect": {"SidecarService": {
            "Port": sp, "Proxy": {"Config": {"bind_address": "127.0.0.1"}},
            "Checks": [{"Name": "listening", "TCP": "127.0.0.1:%d" % sp, "Interval": "1s"}]}}})
    assert r.status_code == 200, r.text
    r = a.put_json("/v1/agent/service/register", {
        "Name": "client", "ID": "client1", "Port": free_port(),
        "Connect": {"SidecarService": {
            "Port": cp, "Proxy": {"Config": {"bind_address": "127.0.0.1"},
                                  "Upstreams": [{"DestinationName": "server",
                                                 "LocalBindPort": up}]},
            "Checks": [{"Name": "listening", "TCP": "127.0.0.1:%d" % cp, "Interval": "1s"}]}}})
    assert r.status_code == 200, r.text
    server = Proxy(wd, "server-proxy", a, "-sidecar-for=server1")
    client = Proxy(wd, "client-proxy", a, "-sidecar-for=client1")
    server.start()
    client.start()
    m = type("Mesh", (), {})()
    m.agent, m.echo, m.server, m.client = a, echo, server, client
    m.sp, m.up, m.wd = sp, up, wd
    # ready: the server's sidecar is healthy and the upstream gets through
    wait_until(lambda: roundtrip(up, b"ping", timeout=2) == b"ping", timeout=60,
               what="the first connection through both proxies")
    yield m
    rcs = [server.stop(), client.stop()]
    echo.close()
    a.stop()
    a.close()
    for p in (server, client):
        assert "ERROR: AddressSanitizer" not in p.text(), p.text()
        assert "LeakSanitizer" not in p.text(), p.text()
    assert rcs == [0, 0], (server.text()[-3000:], client.text()[-3000:])


def test_bytes_through_unchanged(mesh):
    data = os.urandom(3 << 20)
    assert roundtrip(mesh.up, data, timeout=60) == data
    # many connections at once, each its own bytes
    out = {}

    def one(i):
        d = os.urandom(65536 + i)
        out[i] = roundtrip(mesh.up, d) == d

    ts = [threading.Thread(target=one, args=(i,)) for i in range(16)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert all(out.get(i) for i in range(16)), out


def test_client_without_valid_certificate_refused(mesh, tmp_path):
    # plain TLS, no client certificate
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        with socket.create_connection(("127.0.0.1", mesh.sp), timeout=10) as s:
            with ctx.wrap_socket(s) as t:
                t.sendall(b"hello")
                assert t.recv(10) == b""  # never echoed
                raise ConnectionError("closed")
    # a certificate of another CA, with a valid-looking SPIFFE ID
    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    td = mesh.agent.get("/v1/connect/ca/roots").json()["TrustDomain"]
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", "1", "-subj", "/CN=client",
                    "-addext", "subjectAltName=URI:spiffe://%s/ns/default/dc/dc1/svc/client" % td],
                   check=True, capture_output=True)
    ctx.load_cert_chain(str(cert), str(key))
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        with socket.create_connection(("127.0.0.1", mesh.sp), timeout=10) as s:
            with ctx.wrap_socket(s) as t:
                t.sendall(b"hello")
                assert t.recv(10) == b""
                raise ConnectionError("closed")
    assert "inbound connection refused" in mesh.server.text()
    # the mesh still works
    assert roundtrip(mesh.up, b"still") == b"still"


def test_root_rotation_keeps_open_connection(mesh, tmp_path):
    a = mesh.agent
    s = socket.create_connection(("127.0.0.1", mesh.up), timeout=10)
    s.sendall(b"before")
    assert s.recv(100) == b"before"
    old = a.get("/v1/connect/ca/roots").json()
    key, cert = tmp_path / "rk.pem", tmp_path / "rc.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-out", str(key)], check=True,
                   capture_output=True)
    subprocess.run(["openssl", "req", "-new", "-x509", "-key", str(key), "-out", str(cert),
                    "-days", "365", "-subj", "/CN=rotated root",
                    "-addext", "basicConstraints=critical,CA:TRUE",
                    "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"],
                   check=True, capture_output=True)
    body = {"Provider": "consul", "Config": {"PrivateKey": key.read_text(),
                                             "RootCert": cert.read_text()}}
    r = a.request("PUT", "/v1/connect/ca/configuration", data=json.dumps(body))
    assert r.status_code == 200, r.text
    new = a.get("/v1/connect/ca/roots").json()
    assert new["ActiveRootID"] != old["ActiveRootID"]
    # both proxies load the new certificates (each logs a second load)
    wait_until(lambda: mesh.server.text().count("certificates loaded") >= 3 and
               mesh.client.text().count("certificates loaded") >= 3, timeout=30,
               what="proxies reloaded their certificates")
    # the open connection still carries bytes; a new one works with the new leaves
    s.sendall(b"after rotation")
    got = b""
    while len(got) < 14:
        d = s.recv(100)
        assert d
        got += d
    assert got == b"after rotation"
    s.close()
    assert roundtrip(mesh.up, b"new") == b"new"


def test_deny_intention_stops_new_connections(mesh):
    a = mesh.agent
    s = socket.create_connection(("127.0.0.1", mesh.up), timeout=10)
    s.sendall(b"x")
    assert s.recv(10) == b"x"
    r = a.request("PUT", "/v1/connect/intentions/exact",
                  params={"source": "client", "destination": "server"},
                  data=json.dumps({"Action": "deny"}))
    assert r.status_code == 200, r.text
    # within a second or so the proxy has dropped its cached "allow"
    wait_until(lambda: roundtrip(mesh.up, b"denied?", timeout=3) is None, timeout=5,
               what="new connections refused")
    assert "denied" in mesh.server.text()
    r = a.request("DELETE", "/v1/connect/intentions/exact",
                  params={"source": "client", "destination": "server"})
    assert r.status_code == 200, r.text
    wait_until(lambda: roundtrip(mesh.up, b"ok", timeout=3) == b"ok", timeout=5,
               what="allowed again")
    s.close()


def test_proxies_survive_agent_restart(mesh):
    a = mesh.agent
    assert roundtrip(mesh.up, b"warm") == b"warm"  # the allow is cached
    a.stop()
    # the agent is down: the proxies serve with what they know
    for i in range(3):
        assert roundtrip(mesh.up, b"agent down %d" % i) == b"agent down %d" % i
    assert mesh.server.proc.poll() is None and mesh.client.proc.poll() is None
    a.start()
    wait_until(lambda: "the agent answers again" in mesh.client.text(), timeout=60,
               what="the proxy resumed its blocking queries")
    assert roundtrip(mesh.up, b"agent back") == b"agent back"


def test_flag_mode_and_server_that_closes(mesh):
    """`-service NAME -upstream NAME:PORT` without a registration of its own,
    and an application that writes its answer and closes: every byte reaches
    the caller before the connection ends."""
    a = mesh.agent
    payload = os.urandom(1 << 20)
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)

    def banner():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            with c:
                c.sendall(payload)

    threading.Thread(target=banner, daemon=True).start()
    bp, up2 = free_port(), free_port()
    r = a.put_json("/v1/agent/service/register", {
        "Name": "banner", "ID": "banner1", "Port": srv.getsockname()[1],
        "Connect": {"SidecarService": {
            "Port": bp, "Proxy": {"Config": {"bind_address": "127.0.0.1"}},
            "Checks": [{"Name": "listening", "TCP": "127.0.0.1:%d" % bp, "Interval": "1s"}]}}})
    assert r.status_code == 200, r.text
    side = Proxy(mesh.wd, "banner-proxy", a, "-sidecar-for=banner1")
    tester = Proxy(mesh.wd, "tester-proxy", a, "-service=tester", "-upstream=banner:%d" % up2)
    side.start()
    tester.start()

    def fetch():
        try:
            with socket.create_connection(("127.0.0.1", up2), timeout=5) as s:
                got = bytearray()
                while True:
                    d = s.recv(65536)
                    if not d:
                        return bytes(got)
                    got += d
        except OSError:
            return None

    try:
        wait_until(lambda: fetch() == payload, timeout=60, what="the whole answer, then EOF")
        assert fetch() == payload
    finally:
        rcs = [side.stop(), tester.stop()]
        srv.close()
    assert rcs == [0, 0], (side.text()[-2000:], tester.text()[-2000:])
    assert "Sanitizer" not in side.text() + tester.text()


def test_half_close_carried_both_ways(mesh):
    """TCP half-close through both proxies. The echo application: the caller
    sends 2 MiB and shuts its write side; every echoed byte still reaches
    it, then EOF. A second application reads to EOF before answering
    (request, shutdown(SHUT_WR), the whole answer), and, in the other
    order, answers, shuts its own write side down and keeps reading what
    the caller sends after that."""
    data = os.urandom(2 << 20)
    with socket.create_connection(("127.0.0.1", mesh.up), timeout=30) as s:
        got = bytearray()

        def reader():
            while True:
                d = s.recv(65536)
                if not d:
                    return
                got.extend(d)

        t = threading.Thread(target=reader)
        t.start()
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        t.join(60)
        assert not t.is_alive()
        assert bytes(got) == data

    a = mesh.agent
    answer = os.urandom(1 << 20)
    seen = {}
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)

    def read_to_eof(c):
        b = bytearray()
        while True:
            d = c.recv(65536)
            if not d:
                return bytes(b)
            b += d

    def app():
        while True:
            try:
                c, _ = srv.accept()
            except OSError:
                return
            with c:
                mode = c.recv(1)
                if mode == b"A":  # the whole request, then the answer
                    req = read_to_eof(c)
                    c.sendall(hashlib.sha256(req).digest() + answer)
                elif mode == b"B":  # the answer and our end first, then the request
                    c.sendall(answer)
                    c.shutdown(socket.SHUT_WR)
                    seen["B"] = hashlib.sha256(read_to_eof(c)).digest()

    threading.Thread(target=app, daemon=True).start()
    hp, up2 = free_port(), free_port()
    r = a.put_json("/v1/agent/service/register", {
        "Name": "halfclose", "ID": "halfclose1", "Port": srv.getsockname()[1],
        "Connect": {"SidecarService": {
            "Port": hp, "Proxy": {"Config": {"bind_address": "127.0.0.1"}},
            "Checks": [{"Name": "listening", "TCP": "127.0.0.1:%d" % hp, "Interval": "1s"}]}}})
    assert r.status_code == 200, r.text
    side = Proxy(mesh.wd, "halfclose-proxy", a, "-sidecar-for=halfclose1")
    caller = Proxy(mesh.wd, "hccaller-proxy", a, "-service=hccaller",
                   "-upstream=halfclose:%d" % up2)
    side.start()
    caller.start()
    req = os.urandom(3 << 20)

    def ask():
        try:
            with socket.create_connection(("127.0.0.1", up2), timeout=10) as s:
                s.sendall(b"A" + req)
                s.shutdown(socket.SHUT_WR)
                return read_to_eof(s)
        except OSError:
            return None

    try:
        # the first call may find no healthy instance yet (refused, None)
        wait_until(lambda: ask() is not None, timeout=60, what="the half-close path up")
        assert ask() == hashlib.sha256(req).digest() + answer
        # the other order: the application's end first, the caller keeps sending
        with socket.create_connection(("127.0.0.1", up2), timeout=30) as s:
            s.sendall(b"B")
            assert read_to_eof(s) == answer
            s.sendall(req)
            s.shutdown(socket.SHUT_WR)
            # our end reaches the application through both proxies; then
            # both directions are over and the proxies close the connection
            wait_until(lambda: seen.get("B") is not None, timeout=30,
                       what="the application read the caller's bytes to EOF")
            assert seen["B"] == hashlib.sha256(req).digest()
            assert s.recv(10) == b""
    finally:
        rcs = [side.stop(), caller.stop()]
        srv.close()
    assert rcs == [0, 0], (side.text()[-2000:], caller.text()[-2000:])
    assert "Sanitizer" not in side.text() + caller.text()
