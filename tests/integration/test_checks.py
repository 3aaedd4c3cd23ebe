"""Checks run by the agent (issue 6): HTTP and TCP probes against real
loopback servers this test starts and stops, the counting fields,
DeregisterCriticalServiceAfter, maintenance mode, alias and script checks,
the agent health endpoints, and Consul's 400s for bad definitions.

Expected behaviour: Consul's agent/checks (check.go CheckHTTP, CheckTCP,
CheckMonitor, alias.go), agent/structs/check_type.go Validate, and the
api-docs agent/check.mdx, agent/service.mdx (maintenance, agent health).
No timing assertions: every wait is on observable state."""

import http.server
import socket
import threading

import requests

from conftest import cairn_cli, index_of, wait_until

IV = "200ms"  # check interval used throughout: short, so the waits are short


# ---- loopback test servers ----------------------------------------------------

class HTTPTarget:
    """A real HTTP server on loopback whose answer the test sets."""

    def __init__(self, port=0):
        self.code = 200
        self.body = b"ok"
        self.hits = 0
        self.headers_seen = []
        self.methods_seen = []
        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def _answer(self):
                outer.hits += 1
                outer.headers_seen.append(dict(self.headers))
                outer.methods_seen.append(self.command)
                n = int(self.headers.get("Content-Length") or 0)
                if n:
                    self.rfile.read(n)
                self.send_response(outer.code)
                self.send_header("Content-Length", str(len(outer.body)))
                self.end_headers()
                self.wfile.write(outer.body)

            do_GET = do_POST = do_PUT = _answer

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
        self.srv.daemon_threads = True
        self.port = self.srv.server_address[1]
        self.url = "http://127.0.0.1:%d/health" % self.port
        self.t = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.t.start()

    def stop(self):
        self.srv.shutdown()
        self.srv.server_close()


class TCPTarget:
    """A listening TCP socket that accepts and closes."""

    def __init__(self, port=0):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.addr = "127.0.0.1:%d" % self.port
        self.stopped = False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
                c.close()
            except OSError:
                return

    def stop(self):
        self.stopped = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class GRPCHealthTarget:
    """A minimal gRPC health server over h2c (HTTP/2 with prior knowledge),
    hand-framed: it answers every request on any stream with 200,
    content-type application/grpc, one HealthCheckResponse{status} message and
    the grpc-status trailer. HPACK only as literals without indexing (and
    :status 200 from the static table), so no HTTP/2 library is needed; it
    never reads the request's headers."""

    SERVING, NOT_SERVING = 1, 2

    def __init__(self):
        self.status = self.SERVING
        self.hits = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.addr = "127.0.0.1:%d" % self.port
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    @staticmethod
    def _frame(t, f, s, p=b""):
        return len(p).to_bytes(3, "big") + bytes([t, f]) + s.to_bytes(4, "big") + p

    @staticmethod
    def _lit(n, v):
        return b"\x00" + bytes([len(n)]) + n + bytes([len(v)]) + v

    def _serve(self, c):
        buf = b""

        def need(n):
            nonlocal buf
            while len(buf) < n:
                d = c.recv(65536)
                if not d:
                    raise EOFError
                buf += d
            out, buf = buf[:n], buf[n:]
            return out

        need(24)  # the client preface
        c.sendall(self._frame(4, 0, 0))  # our SETTINGS
        while True:
            h = need(9)
            ln, t, f = int.from_bytes(h[:3], "big"), h[3], h[4]
            s = int.from_bytes(h[5:9], "big") & 0x7FFFFFFF
            p = need(ln)
            if t == 4 and not f & 1:
                c.sendall(self._frame(4, 1, 0))  # SETTINGS ack
            elif t == 6 and not f & 1:
                c.sendall(self._frame(6, 1, 0, p))  # PING ack
            elif t in (0, 1) and f & 1:  # the request's last frame
                self.hits += 1
                msg = bytes([0x08, self.status])
                c.sendall(self._frame(1, 4, s, b"\x88" +
                                      self._lit(b"content-type", b"application/grpc")) +
                          self._frame(0, 0, s, b"\x00" + len(msg).to_bytes(4, "big") + msg) +
                          self._frame(1, 5, s, self._lit(b"grpc-status", b"0")))
            elif t == 7:
                return

    tls = None  # an ssl.SSLContext: serve HTTP/2 over TLS (ALPN h2)

    def _accept(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return

            def run(c=c):
                try:
                    if self.tls is not None:
                        c = self.tls.wrap_socket(c, server_side=True)
                    self._serve(c)
                except Exception:
                    pass
                finally:
                    c.close()

            threading.Thread(target=run, daemon=True).start()

    def stop(self):
        self.stopped = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


# ---- helpers -------------------------------------------------------------------

def _check(agent, cid):
    return agent.get("/v1/agent/checks").json().get(cid)


def _status(agent, cid):
    c = _check(agent, cid)
    return c and c["Status"]


def _wait_status(agent, cid, want, what=None):
    wait_until(lambda: _status(agent, cid) == want, timeout=30,
               what=what or "%s %s" % (cid, want))


def _passing_ids(agent, name):
    r = agent.get("/v1/health/service/" + name, params={"passing": "1"})
    assert r.status_code == 200, r.text
    return sorted(e["Service"]["ID"] for e in r.json())


def _register(agent, svc):
    r = agent.put_json("/v1/agent/service/register", svc)
    assert r.status_code == 200, r.text


def _deregister(agent, sid):
    agent.put("/v1/agent/service/deregister/" + sid)


# ---- HTTP ------------------------------------------------------------------------

def test_http_check_follows_its_server(agent):
    t = HTTPTarget()
    try:
        _register(agent, {"Name": "web", "ID": "web1", "Port": t.port,
                          "Check": {"HTTP": t.url, "Interval": IV, "Timeout": "5s"}})
        cid = "service:web1"
        assert _status(agent, cid) == "critical"  # Consul's initial status
        _wait_status(agent, cid, "passing")
        out = _check(agent, cid)["Output"]
        assert out == "HTTP GET %s: 200 OK Output: ok" % t.url, out
        assert _passing_ids(agent, "web") == ["web1"]
        # The probe says who it is, as Consul's does.
        assert t.headers_seen[-1].get("User-Agent") == "Consul Health Check"

        t.code, t.body = 503, b"down for maintenance"
        _wait_status(agent, cid, "critical")
        assert "503 Service Unavailable Output: down for maintenance" in \
            _check(agent, cid)["Output"]
        assert _passing_ids(agent, "web") == []
        # the catalog keeps listing every instance
        r = agent.get("/v1/catalog/service/web")
        assert [e["ServiceID"] for e in r.json()] == ["web1"]

        t.code = 429
        _wait_status(agent, cid, "warning")
        t.code, t.body = 200, b"ok"
        _wait_status(agent, cid, "passing")

        # the server process goes away: critical with Go's error text shape
        port = t.port
        t.stop()
        _wait_status(agent, cid, "critical")
        assert _check(agent, cid)["Output"].startswith('Get "%s": ' % t.url)
        # and it comes back on the same port: passing again
        t = HTTPTarget(port)
        _wait_status(agent, cid, "passing")
    finally:
        t.stop()
        _deregister(agent, "web1")


def test_http_method_header_body(agent):
    t = HTTPTarget()
    try:
        _register(agent, {"Name": "api", "ID": "api1",
                          "Check": {"HTTP": t.url, "Interval": IV, "Timeout": "5s", "Method": "POST",
                                    "Header": {"X-Probe": ["yes"]}, "Body": "{}"}})
        _wait_status(agent, "service:api1", "passing")
        assert "POST" in t.methods_seen
        assert t.headers_seen[-1].get("X-Probe") == "yes"
        assert _check(agent, "service:api1")["Output"].startswith("HTTP POST ")
    finally:
        t.stop()
        _deregister(agent, "api1")


def test_blocking_passing_query_wakes_on_each_transition(agent):
    t = HTTPTarget()
    try:
        _register(agent, {"Name": "blk", "ID": "blk1", "Check": {"HTTP": t.url, "Interval": IV, "Timeout": "5s"}})
        _wait_status(agent, "service:blk1", "passing")
        for code, want in ((500, []), (200, ["blk1"])):
            r = agent.get("/v1/health/service/blk", params={"passing": "1"})
            idx = index_of(r)
            res = {}

            def block():
                res["r"] = agent.get("/v1/health/service/blk",
                                     params={"passing": "1", "index": str(idx), "wait": "60s"})

            th = threading.Thread(target=block)
            th.start()
            agent.wait_parked(1)
            t.code = code
            th.join(90)
            assert not th.is_alive()
            got = res["r"]
            assert got.status_code == 200
            assert index_of(got) > idx
            assert sorted(e["Service"]["ID"] for e in got.json()) == want
    finally:
        t.stop()
        _deregister(agent, "blk1")


def test_blocking_health_state_wakes_on_a_transition(agent):
    t = TCPTarget()
    try:
        _register(agent, {"Name": "st", "ID": "st1",
                          "Check": {"TCP": t.addr, "Interval": IV, "Timeout": "5s"}})
        _wait_status(agent, "service:st1", "passing")
        r = agent.get("/v1/health/state/critical")
        idx = index_of(r)
        assert "service:st1" not in [c["CheckID"] for c in r.json()]
        res = {}

        def block():
            res["r"] = agent.get("/v1/health/state/critical",
                                 params={"index": str(idx), "wait": "60s"})

        th = threading.Thread(target=block)
        th.start()
        agent.wait_parked(1)
        t.stop()
        th.join(90)
        assert not th.is_alive()
        got = res["r"]
        assert index_of(got) > idx
        # An unrelated write may wake it first: block again from there (bounded).
        for _ in range(10):
            if "service:st1" in [c["CheckID"] for c in got.json()]:
                break
            got = agent.get("/v1/health/state/critical",
                            params={"index": str(index_of(got)), "wait": "60s"})
        assert "service:st1" in [c["CheckID"] for c in got.json()]
    finally:
        t.stop()
        _deregister(agent, "st1")


def test_unchanged_results_cost_no_write(agent):
    t = HTTPTarget()
    try:
        _register(agent, {"Name": "calm", "ID": "calm1",
                          "Check": {"HTTP": t.url, "Interval": "100ms", "Timeout": "5s"}})
        _wait_status(agent, "service:calm1", "passing")
        idx = index_of(agent.get("/v1/health/service/calm"))
        hits = t.hits
        wait_until(lambda: t.hits >= hits + 5, what="5 more probes")
        assert index_of(agent.get("/v1/health/service/calm")) == idx
    finally:
        t.stop()
        _deregister(agent, "calm1")


# ---- TCP -------------------------------------------------------------------------

def test_tcp_check_follows_its_listener(agent):
    t = TCPTarget()
    try:
        _register(agent, {"Name": "db", "ID": "db1", "Port": t.port,
                          "Checks": [{"TCP": t.addr, "Interval": IV, "Timeout": "1s"}]})
        cid = "service:db1"
        _wait_status(agent, cid, "passing")
        assert _check(agent, cid)["Output"] == "TCP connect %s: Success" % t.addr
        port = t.port
        t.stop()
        _wait_status(agent, cid, "critical")
        assert "connection refused" in _check(agent, cid)["Output"]
        t = TCPTarget(port)
        _wait_status(agent, cid, "passing")
    finally:
        t.stop()
        _deregister(agent, "db1")


def test_node_level_tcp_check_via_check_register(agent):
    t = TCPTarget()
    try:
        r = agent.put_json("/v1/agent/check/register",
                           {"name": "node tcp", "tcp": t.addr, "interval": IV})  # snake/lower
        assert r.status_code == 200, r.text
        _wait_status(agent, "node tcp", "passing")
        r = agent.put("/v1/agent/check/deregister/node%20tcp")
        assert r.status_code == 200
        assert _check(agent, "node tcp") is None
    finally:
        t.stop()


# ---- UDP -------------------------------------------------------------------------------

def test_udp_check(agent):
    """Consul's CheckUDP: an answer or silence is passing, an ICMP port
    unreachable (connection refused) is critical."""
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    addr = "127.0.0.1:%d" % u.getsockname()[1]
    try:
        _register(agent, {"Name": "dns", "ID": "dns1",
                          "Check": {"UDP": addr, "Interval": IV, "Timeout": "300ms"}})
        _wait_status(agent, "service:dns1", "passing")  # silence until the timeout
        assert _check(agent, "service:dns1")["Definition"]["UDP"] == addr
        assert _check(agent, "service:dns1")["Type"] == "udp"
        assert _check(agent, "service:dns1")["Output"] == "UDP connect %s: Success" % addr
        u.close()  # nothing bound: the kernel answers port unreachable
        _wait_status(agent, "service:dns1", "critical")
        assert "connection refused" in _check(agent, "service:dns1")["Output"]
    finally:
        u.close()
        _deregister(agent, "dns1")


# ---- gRPC ------------------------------------------------------------------------------

def test_grpc_check(agent):
    g = GRPCHealthTarget()
    try:
        _register(agent, {"Name": "rpc", "ID": "rpc1",
                          "Check": {"GRPC": g.addr + "/my.Service", "Interval": IV,
                                    "Timeout": "5s"}})
        cid = "service:rpc1"
        _wait_status(agent, cid, "passing")
        assert _check(agent, cid)["Output"] == "gRPC check %s/my.Service: success" % g.addr
        assert _check(agent, cid)["Type"] == "grpc"
        assert _check(agent, cid)["Definition"]["GRPC"] == g.addr + "/my.Service"
        g.status = GRPCHealthTarget.NOT_SERVING
        _wait_status(agent, cid, "critical")
        assert _check(agent, cid)["Output"] == "gRPC application didn't report service healthy"
        g.status = GRPCHealthTarget.SERVING
        _wait_status(agent, cid, "passing")
        g.stop()
        _wait_status(agent, cid, "critical")
        assert _check(agent, cid)["Output"].startswith("rpc error: code = Unavailable")
    finally:
        g.stop()
        _deregister(agent, "rpc1")


# ---- counting ------------------------------------------------------------------------

def test_failures_before_critical_and_success_before_passing(agent):
    t = HTTPTarget()
    try:
        _register(agent, {"Name": "cnt", "ID": "cnt1",
                          "Check": {"HTTP": t.url, "Interval": "100ms", "Timeout": "5s",
                                    "SuccessBeforePassing": 3, "FailuresBeforeCritical": 4}})
        cid = "service:cnt1"
        _wait_status(agent, cid, "passing")
        assert t.hits >= 3
        t.code = 500
        before = t.hits
        _wait_status(agent, cid, "critical")
        assert t.hits - before >= 4, (before, t.hits)
        t.code = 200
        before = t.hits
        _wait_status(agent, cid, "passing")
        assert t.hits - before >= 3, (before, t.hits)
    finally:
        t.stop()
        _deregister(agent, "cnt1")


def test_failures_before_warning(agent):
    t = HTTPTarget()
    try:
        _register(agent, {"Name": "fw", "ID": "fw1",
                          "Check": {"HTTP": t.url, "Interval": "100ms", "Timeout": "5s",
                                    "FailuresBeforeWarning": 1, "FailuresBeforeCritical": 50}})
        _wait_status(agent, "service:fw1", "passing")
        t.code = 500
        _wait_status(agent, "service:fw1", "warning")
    finally:
        t.stop()
        _deregister(agent, "fw1")


# ---- DeregisterCriticalServiceAfter ------------------------------------------------------

def test_deregister_critical_service_after(agent):
    t = TCPTarget()
    port = t.port
    t.stop()  # nothing listens: the check goes critical
    _register(agent, {"Name": "gone", "ID": "gone1",
                      "Check": {"TCP": "127.0.0.1:%d" % port, "Interval": IV, "Timeout": "5s",
                                "DeregisterCriticalServiceAfter": "1s"}})
    wait_until(lambda: "gone1" not in agent.get("/v1/agent/services").json(), timeout=30,
               what="the critical service reaped")
    assert agent.get("/v1/catalog/service/gone").json() == []
    assert _check(agent, "service:gone1") is None


# ---- maintenance ---------------------------------------------------------------------------

def test_service_and_node_maintenance(agent):
    t = TCPTarget()
    try:
        _register(agent, {"Name": "mnt", "ID": "mnt1", "Check": {"TCP": t.addr, "Interval": IV, "Timeout": "5s"}})
        _wait_status(agent, "service:mnt1", "passing")
        r = agent.put("/v1/agent/service/maintenance/mnt1", params={"enable": "true",
                                                                   "reason": "deploy"})
        assert r.status_code == 200, r.text
        c = _check(agent, "_service_maintenance:mnt1")
        assert c["Status"] == "critical" and c["Notes"] == "deploy"
        assert _passing_ids(agent, "mnt") == []
        r = agent.put("/v1/agent/service/maintenance/mnt1", params={"enable": "false"})
        assert r.status_code == 200
        assert _passing_ids(agent, "mnt") == ["mnt1"]

        r = agent.put("/v1/agent/maintenance", params={"enable": "true"})
        assert r.status_code == 200
        assert _status(agent, "_node_maintenance") == "critical"
        assert _passing_ids(agent, "mnt") == []
        r = agent.put("/v1/agent/maintenance", params={"enable": "false"})
        assert r.status_code == 200
        assert _check(agent, "_node_maintenance") is None
        assert _passing_ids(agent, "mnt") == ["mnt1"]
    finally:
        t.stop()
        _deregister(agent, "mnt1")


# ---- alias -------------------------------------------------------------------------------

def test_alias_check_follows_its_target(agent):
    t = TCPTarget()
    try:
        _register(agent, {"Name": "backend", "ID": "be1",
                          "Check": {"TCP": t.addr, "Interval": IV, "Timeout": "5s"}})
        _register(agent, {"Name": "sidecar", "ID": "sc1",
                          "Check": {"AliasService": "be1"}})
        _wait_status(agent, "service:be1", "passing")
        _wait_status(agent, "service:sc1", "passing")
        assert _check(agent, "service:sc1")["Definition"]["AliasService"] == "be1"
        assert _check(agent, "service:sc1")["Type"] == "alias"
        port = t.port
        t.stop()
        _wait_status(agent, "service:be1", "critical")
        _wait_status(agent, "service:sc1", "critical")
        assert "failing" in _check(agent, "service:sc1")["Output"]
        t = TCPTarget(port)
        _wait_status(agent, "service:sc1", "passing")
        # the target goes away: critical, "could not be found"
        _deregister(agent, "be1")
        _wait_status(agent, "service:sc1", "critical")
        assert "could not be found" in _check(agent, "service:sc1")["Output"]
    finally:
        t.stop()
        _deregister(agent, "be1")
        _deregister(agent, "sc1")


# ---- bad definitions ---------------------------------------------------------------------

SCRIPTS_OFF = ("Scripts are disabled on this agent; to enable, configure "
               "'enable_script_checks' or 'enable_local_script_checks' to true")


def test_bad_definitions_get_400_and_change_nothing(agent):
    before_checks = agent.get("/v1/agent/checks").json()
    before_svcs = agent.get("/v1/agent/services").json()
    bad = [
        ({"Name": "b", "HTTP": "http://127.0.0.1:1/", "Interval": "ten"},
         'Request decode failed: Interval: time: invalid duration "ten"'),
        ({"Name": "b", "GRPC": "127.0.0.1:1", "TCP": "127.0.0.1:1", "Interval": "1s"},
         "Invalid check: only one of HTTP, TCP, UDP, GRPC and H2PING may be specified"),
        ({"Name": "b", "H2PING": "127.0.0.1:1"},
         "Invalid check: Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService "
         "checks"),
        ({"Name": "b", "UDP": "127.0.0.1:1"},
         "Invalid check: Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService "
         "checks"),
        ({"Name": "b", "DockerContainerID": "x", "Shell": "/bin/sh", "Args": ["true"],
          "Interval": "1s"},
         "Invalid check: Docker checks are not supported by cairn"),
        ({"Name": "b", "HTTP": "http://127.0.0.1:1/", "TCP": "127.0.0.1:1", "Interval": "1s"},
         "Invalid check: HTTP and TCP cannot both be specified"),
        ({"Name": "b", "HTTP": "http://127.0.0.1:1/"},
         "Invalid check: Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService "
         "checks"),
        ({"Name": "b", "TCP": "127.0.0.1:1", "Interval": "1s", "Timeout": "-1s"},
         "Invalid check: Timeout must be >= 0"),
        ({"Name": "b"}, "Invalid check: TTL must be > 0 for TTL checks"),
        ({"Name": "b", "Args": ["/bin/true"], "Interval": "1s"}, SCRIPTS_OFF),
    ]
    for body, msg in bad:
        r = agent.put_json("/v1/agent/check/register", body)
        assert r.status_code == 400, (body, r.status_code, r.text)
        assert r.text.startswith(msg), (body, r.text)
        chk = {k: v for k, v in body.items() if k != "Name"}
        if not chk:
            continue  # an empty Check in a service is dropped, as Consul does
        svc = {"Name": "bad-svc", "Check": chk}
        r = agent.put_json("/v1/agent/service/register", svc)
        assert r.status_code == 400, (svc, r.status_code, r.text)
        assert r.text.startswith(msg), (svc, r.text)
    assert agent.get("/v1/agent/checks").json() == before_checks
    assert agent.get("/v1/agent/services").json() == before_svcs


# ---- scripts (own agent: the flag) --------------------------------------------------------

def test_script_checks_run_with_the_flag(agent_factory, tmp_path):
    a = agent_factory(name="scripts", extra_args=["-enable-local-script-checks"])
    flag = tmp_path / "healthy"
    flag.write_text("")
    r = a.put_json("/v1/agent/check/register",
                   {"Name": "scr", "Args": ["/bin/sh", "-c",
                                            "test -e %s && echo fine || exit 2" % flag],
                    "Interval": IV, "Timeout": "5s"})
    assert r.status_code == 200, r.text
    _wait_status(a, "scr", "passing")
    assert _check(a, "scr")["Output"] == "fine\n"
    assert _check(a, "scr")["Definition"]["ScriptArgs"][:2] == ["/bin/sh", "-c"]
    assert _check(a, "scr")["Type"] == "script"
    flag.unlink()
    _wait_status(a, "scr", "critical")
    r = a.put_json("/v1/agent/check/register",
                   {"Name": "warn", "Args": ["/bin/sh", "-c", "exit 1"], "Interval": IV, "Timeout": "5s"})
    assert r.status_code == 200
    _wait_status(a, "warn", "warning")
    r = a.put_json("/v1/agent/check/register",
                   {"Name": "slow", "Args": ["/bin/sleep", "30"], "Interval": "1s",
                    "Timeout": "300ms"})
    assert r.status_code == 200
    wait_until(lambda: "Timed out" in (_check(a, "slow") or {}).get("Output", ""), timeout=30,
               what="script timeout")
    assert _status(a, "slow") == "critical"
    a.stop()


# ---- agent health endpoints (what load balancers poll) ----------------------------------

def test_agent_health_service_endpoints(agent):
    t1, t2 = HTTPTarget(), HTTPTarget()
    try:
        _register(agent, {"Name": "lb", "ID": "lb1", "Check": {"HTTP": t1.url, "Interval": IV, "Timeout": "5s"}})
        _register(agent, {"Name": "lb", "ID": "lb2", "Check": {"HTTP": t2.url, "Interval": IV, "Timeout": "5s"}})
        _wait_status(agent, "service:lb1", "passing")
        _wait_status(agent, "service:lb2", "passing")

        r = agent.get("/v1/agent/health/service/id/lb1")
        assert r.status_code == 200, r.text
        j = r.json()
        assert j["AggregatedStatus"] == "passing"
        assert j["Service"]["ID"] == "lb1" and j["Service"]["Service"] == "lb"
        ids = [c["CheckID"] for c in j["Checks"]]
        assert "service:lb1" in ids and "service:lb2" not in ids
        r = agent.get("/v1/agent/health/service/id/lb1", params={"format": "text"})
        assert (r.status_code, r.text) == (200, "passing")

        r = agent.get("/v1/agent/health/service/name/lb")
        assert r.status_code == 200
        assert sorted(e["Service"]["ID"] for e in r.json()) == ["lb1", "lb2"]

        t2.code = 429
        _wait_status(agent, "service:lb2", "warning")
        r = agent.get("/v1/agent/health/service/id/lb2", params={"format": "text"})
        assert (r.status_code, r.text) == (429, "warning")
        r = agent.get("/v1/agent/health/service/name/lb", params={"format": "text"})
        assert (r.status_code, r.text) == (429, "warning")  # the worst of the instances

        t2.code = 500
        _wait_status(agent, "service:lb2", "critical")
        r = agent.get("/v1/agent/health/service/name/lb")
        assert r.status_code == 503
        assert {e["Service"]["ID"]: e["AggregatedStatus"] for e in r.json()} == \
            {"lb1": "passing", "lb2": "critical"}

        agent.put("/v1/agent/service/maintenance/lb1", params={"enable": "true"})
        r = agent.get("/v1/agent/health/service/id/lb1", params={"format": "text"})
        assert (r.status_code, r.text) == (503, "maintenance")
        agent.put("/v1/agent/service/maintenance/lb1", params={"enable": "false"})
        r = agent.get("/v1/agent/health/service/id/lb1", params={"format": "text"})
        assert (r.status_code, r.text) == (200, "passing")

        r = agent.get("/v1/agent/health/service/id/nope")
        assert r.status_code == 404
        assert r.json() == {"AggregatedStatus": "critical", "Service": None, "Checks": None}
        r = agent.get("/v1/agent/health/service/id/nope", params={"format": "text"})
        assert (r.status_code, r.text) == (404, "ServiceId nope not found")
        r = agent.get("/v1/agent/health/service/name/nope")
        assert (r.status_code, r.json()) == (404, [])
        r = agent.get("/v1/agent/health/service/name/nope", params={"format": "text"})
        assert (r.status_code, r.text) == (404, "ServiceName nope Not Found")
    finally:
        t1.stop()
        t2.stop()
        _deregister(agent, "lb1")
        _deregister(agent, "lb2")


def test_cli_maint(agent):
    _register(agent, {"Name": "cm", "ID": "cm1", "Check": {"TTL": "60s"}})
    try:
        p = cairn_cli("maint", http_port=agent.http_port)
        assert (p.returncode, p.stdout) == (0, "")
        p = cairn_cli("maint", "-enable", "-reason=kernel upgrade", http_port=agent.http_port)
        assert p.returncode == 0, p.stderr
        assert p.stdout == "Node maintenance is now enabled\n"
        p = cairn_cli("maint", "-enable", "-service=cm1", http_port=agent.http_port)
        assert p.stdout == 'Service maintenance is now enabled for "cm1"\n', p.stderr
        p = cairn_cli("maint", http_port=agent.http_port)
        assert p.returncode == 0
        assert "Node:\n  Name:   %s\n  Reason: kernel upgrade\n" % agent.name in p.stdout
        assert "Service:\n  ID:     cm1\n  Reason: Maintenance mode is enabled for this " \
            "service" in p.stdout
        assert _status(agent, "_node_maintenance") == "critical"
        p = cairn_cli("maint", "-disable", http_port=agent.http_port)
        assert p.stdout == "Node maintenance is now disabled\n"
        p = cairn_cli("maint", "-disable", "-service=cm1", http_port=agent.http_port)
        assert p.stdout == 'Service maintenance is now disabled for "cm1"\n'
        p = cairn_cli("maint", http_port=agent.http_port)
        assert p.stdout == ""
        p = cairn_cli("maint", "-enable", "-disable", http_port=agent.http_port)
        assert p.returncode == 1
        assert p.stderr == "Only one of -enable or -disable may be provided\n"
        p = cairn_cli("maint", "-service=cm1", http_port=agent.http_port)
        assert (p.returncode, p.stderr) == (1, "Service requires either -enable or -disable\n")
        p = cairn_cli("maint", "-enable", "-service=nope", http_port=agent.http_port)
        assert p.returncode == 1
        assert "Error enabling service maintenance" in p.stderr
        assert 'No service registered with ID \\"nope\\"' in p.stderr or \
            'No service registered with ID "nope"' in p.stderr
    finally:
        _deregister(agent, "cm1")


# ---- restart ---------------------------------------------------------------------------

def test_checks_run_again_after_a_restart(agent_factory, tmp_path):
    """The local state is rebuilt from the catalog at start, and the catalog
    keeps each check's whole definition: HTTP/TCP checks run again, and so
    do a script check (its Args) and an alias check (its AliasService) --
    they are not reset to critical. The catalog shows the definition in
    Definition as Consul's does (structs.HealthCheckDefinition: ScriptArgs,
    AliasService, ...; the counting thresholds are not part of it)."""
    a = agent_factory(name="restart", extra_args=["-enable-local-script-checks"])
    t = TCPTarget()
    runs = str(tmp_path / "runs")
    try:
        _register(a, {"Name": "r", "ID": "r1",
                      "Check": {"TCP": t.addr, "Interval": IV, "Timeout": "5s",
                                "FailuresBeforeCritical": 2}})
        r = a.put_json("/v1/agent/check/register",
                       {"Name": "scr", "Args": ["/bin/sh", "-c", "echo run >> " + runs],
                        "Interval": IV})
        assert r.status_code == 200, r.text
        r = a.put_json("/v1/agent/check/register",
                       {"Name": "al", "AliasService": "r1"})
        assert r.status_code == 200, r.text
        _wait_status(a, "service:r1", "passing")
        _wait_status(a, "scr", "passing")
        _wait_status(a, "al", "passing")
        cat = {c["CheckID"]: c for c in a.get("/v1/health/node/restart").json()}
        assert cat["scr"]["Definition"]["ScriptArgs"] == ["/bin/sh", "-c", "echo run >> " + runs]
        assert cat["al"]["Definition"]["AliasService"] == "r1"
        assert "FailuresBeforeCritical" not in cat["service:r1"]["Definition"]
        a.restart()
        n = len(open(runs).read().split())
        wait_until(lambda: len(open(runs).read().split()) > n + 2,
                   what="the script check runs again after the restart")
        assert _status(a, "scr") == "passing"
        assert _check(a, "scr")["Definition"]["ScriptArgs"][0] == "/bin/sh"
        port = t.port
        t.stop()
        _wait_status(a, "service:r1", "critical")
        _wait_status(a, "al", "critical")  # the alias follows its target
        t = TCPTarget(port)
        _wait_status(a, "service:r1", "passing")
        _wait_status(a, "al", "passing")
        assert "not kept" not in _check(a, "scr")["Output"]
    finally:
        t.stop()
        a.stop()


# ---- HTTPS: TLSServerName, TLSSkipVerify -------------------------------------------

def _make_cert(tmp_path, name):
    """A throwaway CA and a server certificate for DNS:name signed by it."""
    import subprocess
    d = str(tmp_path)
    def run(*a):
        subprocess.run(a, check=True, capture_output=True, cwd=d, timeout=60)
    run("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        "-subj", "/CN=cairn test CA", "-keyout", "ca.key", "-out", "ca.pem")
    run("openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=" + name,
        "-keyout", "srv.key", "-out", "srv.csr")
    with open(d + "/ext.cnf", "w") as f:
        f.write("subjectAltName=DNS:%s\n" % name)
    run("openssl", "x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "1", "-extfile", "ext.cnf", "-out", "srv.pem")
    return d + "/srv.pem", d + "/srv.key"


def test_https_tls_server_name_and_skip_verify(agent, tmp_path):
    """Consul's HTTP check sets tls.Config.ServerName = TLSServerName and
    InsecureSkipVerify = TLSSkipVerify (agent/checks/check.go, CheckHTTP;
    api-docs agent/check.mdx: "TLSServerName - Specifies an optional string
    used to set the SNI host when connecting via TLS"). The connection still
    goes to the URL's address with the URL's Host header. The certificate is
    signed by a throwaway CA the agent does not trust."""
    import ssl
    cert, key = _make_cert(tmp_path, "svc.test")
    t = HTTPTarget()
    sni = []
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.sni_callback = lambda s, name, c: sni.append(name)
    # the handshake runs in the request's thread, not in accept
    t.srv.socket = ctx.wrap_socket(t.srv.socket, server_side=True,
                                   do_handshake_on_connect=False)
    url = "https://127.0.0.1:%d/health" % t.port
    try:
        # TLSServerName is the SNI name; skip-verify accepts the untrusted CA
        _register(agent, {"Name": "tls", "ID": "tls1", "Port": t.port,
                          "Check": {"HTTP": url, "Interval": IV, "Timeout": "5s",
                                    "TLSServerName": "svc.test", "TLSSkipVerify": True}})
        _wait_status(agent, "service:tls1", "passing")
        assert _check(agent, "service:tls1")["Output"] == \
            "HTTP GET %s: 200 OK Output: ok" % url
        assert "svc.test" in sni, sni
        assert t.headers_seen[-1].get("Host") == "127.0.0.1:%d" % t.port
        # without TLSSkipVerify the certificate is refused (not for
        # 127.0.0.1, and not from a trusted CA): critical, with the URL
        _register(agent, {"Name": "tls", "ID": "tls2", "Port": t.port,
                          "Check": {"HTTP": url, "Interval": IV, "Timeout": "5s"}})
        _wait_status(agent, "service:tls2", "critical")
        wait_until(lambda: _check(agent, "service:tls2")["Output"].startswith(
            'Get "%s": ' % url), what="a TLS failure output")
        # the server still answers tls1's probes (and only those reach a handler)
        hits = t.hits
        wait_until(lambda: t.hits > hits + 2, what="more probes of tls1")
        assert _status(agent, "service:tls1") == "passing"
        assert _status(agent, "service:tls2") == "critical"
    finally:
        _deregister(agent, "tls1")
        _deregister(agent, "tls2")
        t.stop()


# ---- H2PING ----------------------------------------------------------------------------

def test_h2ping_check(agent, tmp_path):
    """H2PING (Consul's CheckH2PING, agent/checks/check.go): dial the
    address, start an HTTP/2 client connection (over TLS unless
    H2PingUseTLS is false; it defaults to true) and send a PING; its ACK is
    passing with "HTTP2 ping was successful", a dial failure critical with
    "Failed to dial to ADDR: ...". The servers are the hand-framed HTTP/2
    one above (it acks PINGs), in clear and behind a throwaway certificate
    for svc.test (ALPN h2)."""
    import ssl
    h2c = GRPCHealthTarget()
    tls = GRPCHealthTarget()
    cert, key = _make_cert(tmp_path, "svc.test")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["h2"])
    tls.tls = ctx
    try:
        r = agent.put_json("/v1/agent/check/register",
                           {"Name": "h2c", "H2PING": h2c.addr, "H2PingUseTLS": False,
                            "Interval": IV, "Timeout": "5s"})
        assert r.status_code == 200, r.text
        _wait_status(agent, "h2c", "passing")
        c = _check(agent, "h2c")
        assert c["Output"] == "HTTP2 ping was successful"
        assert c["Type"] == "h2ping"
        assert c["Definition"]["H2PING"] == h2c.addr
        assert "H2PingUseTLS" not in c["Definition"]
        # TLS by default: the certificate is for svc.test from an untrusted CA
        r = agent.put_json("/v1/agent/check/register",
                           {"Name": "h2s", "H2PING": tls.addr, "Interval": IV,
                            "Timeout": "5s", "TLSServerName": "svc.test",
                            "TLSSkipVerify": True})
        assert r.status_code == 200, r.text
        _wait_status(agent, "h2s", "passing")
        assert _check(agent, "h2s")["Definition"]["H2PingUseTLS"] is True
        r = agent.put_json("/v1/agent/check/register",
                           {"Name": "h2v", "H2PING": tls.addr, "Interval": IV,
                            "Timeout": "5s"})
        assert r.status_code == 200, r.text
        wait_until(lambda: _check(agent, "h2v")["Output"].startswith(
            "Failed to dial to %s: tls: failed to verify certificate" % tls.addr),
            what="a verification failure")
        assert _status(agent, "h2v") == "critical"
        # the server goes away: critical, Consul's dial failure text
        h2c.stop()
        _wait_status(agent, "h2c", "critical")
        assert _check(agent, "h2c")["Output"].startswith(
            "Failed to dial to %s: " % h2c.addr), _check(agent, "h2c")["Output"]
    finally:
        for cid in ("h2c", "h2s", "h2v"):
            agent.put("/v1/agent/check/deregister/" + cid)
        h2c.stop()
        tls.stop()


def test_tls_checks_verified_with_the_agents_ca(agent_factory, tmp_path):
    """With enable_agent_tls_for_checks and tls.defaults.ca_file (Consul's
    agent config: checks then use the agent's TLS configuration), HTTPS and
    H2PING checks verify the server against that CA: the certificate is for
    svc.test, so the check passes with TLSServerName "svc.test" (SNI and the
    verified name), and fails without it (the URL's 127.0.0.1 is not in the
    certificate) or with another name."""
    import json
    import ssl
    cert, key = _make_cert(tmp_path, "svc.test")
    cfg = tmp_path / "tls.json"
    cfg.write_text(json.dumps({"enable_agent_tls_for_checks": True,
                               "tls": {"defaults": {"ca_file": str(tmp_path / "ca.pem")}}}))
    a = agent_factory(name="tlsca", extra_args=["-config-file=" + str(cfg)])
    t = HTTPTarget()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    t.srv.socket = ctx.wrap_socket(t.srv.socket, server_side=True,
                                   do_handshake_on_connect=False)
    h2 = GRPCHealthTarget()
    h2ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    h2ctx.load_cert_chain(cert, key)
    h2ctx.set_alpn_protocols(["h2"])
    h2.tls = h2ctx
    url = "https://127.0.0.1:%d/health" % t.port
    try:
        def reg(cid, extra):
            d = {"Name": cid, "HTTP": url, "Interval": IV, "Timeout": "5s"}
            d.update(extra)
            r = a.put_json("/v1/agent/check/register", d)
            assert r.status_code == 200, r.text
        reg("right", {"TLSServerName": "svc.test"})
        reg("none", {})
        reg("wrong", {"TLSServerName": "other.test"})
        r = a.put_json("/v1/agent/check/register",
                       {"Name": "h2", "H2PING": h2.addr, "Interval": IV, "Timeout": "5s",
                        "TLSServerName": "svc.test"})
        assert r.status_code == 200, r.text
        _wait_status(a, "right", "passing")
        _wait_status(a, "h2", "passing")
        for cid in ("none", "wrong"):
            wait_until(lambda: _check(a, cid)["Output"].startswith('Get "%s": ' % url),
                       what="%s fails verification" % cid)
            assert _status(a, cid) == "critical"
        # the passing one keeps passing (verified every run)
        hits = t.hits
        wait_until(lambda: t.hits > hits + 2, what="more verified probes")
        assert _status(a, "right") == "passing"
    finally:
        t.stop()
        h2.stop()
