"""`cairn connect proxy -sidecar-for` follows its sidecar registration while
it runs (a hash-blocking /v1/agent/service/:id query), as Consul's built-in
proxy does: an upstream added by re-registering carries bytes on its new
local port; an upstream removed closes its port while connections already
open (through it and through another upstream) keep working; a new
LocalServicePort and public port take new connections to the new
application; a configuration that cannot be applied (a timeout that is not
milliseconds, a port that is taken) is logged and the previous one keeps
running; proxy-defaults written with `cairn config write` reach the running
proxy; a new identity is refused; a deregistered sidecar keeps serving with
what it knew. Every wait is
on observable state: a port accepting or refusing, bytes through, a line of
the proxy's log."""

import os
import socket
import subprocess
import time

import pytest

from conftest import CAIRN_BIN, Agent, free_port, wait_until
from test_connect_proxy import Echo, Proxy, roundtrip

APPLIED = "registration client1-sidecar-proxy: the new configuration is in force"
REFUSED = "registration client1-sidecar-proxy: the new configuration is not applied"


class FlipEcho(Echo):
    """An echo application answering every byte with its ASCII case flipped,
    so an answer says which application it came from."""

    @staticmethod
    def reply(d):
        return bytes(b ^ 0x20 for b in d)


def accepting(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        return True
    except OSError:
        return False


class Held:
    """A connection kept open across configuration changes."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=30)

    def ask(self, data):
        self.s.sendall(data)
        got = b""
        while len(got) < len(data):
            d = self.s.recv(65536)
            if not d:
                break
            got += d
        return got

    def close(self):
        self.s.close()


def register_server(a, name, app_port, proxy_port):
    r = a.put_json("/v1/agent/service/register", {
        "Name": name, "ID": name + "1", "Port": app_port,
        "Connect": {"SidecarService": {
            "Port": proxy_port,
            "Proxy": {"LocalServicePort": app_port, "Config": {"bind_address": "127.0.0.1"}},
            "Checks": [{"Name": "listening", "TCP": "127.0.0.1:%d" % proxy_port,
                        "Interval": "1s"}]}}})
    assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    wd = tmp_path_factory.mktemp("live")
    cfg = os.path.join(str(wd), "connect.hcl")
    with open(cfg, "w") as f:
        f.write("connect { enabled = true }\n")
    a = Agent(wd, name="live", extra_args=["-config-file=" + cfg])
    a.start()
    wait_until(lambda: a.get("/v1/connect/ca/roots").json()["ActiveRootID"] != "",
               what="CA initialised")
    m = type("Live", (), {})()
    m.agent, m.wd = a, wd
    m.alpha, m.beta = Echo(), FlipEcho()
    m.cp, m.client_app = free_port(), free_port()
    register_server(a, "alpha", m.alpha.port, free_port())
    register_server(a, "beta", m.beta.port, free_port())
    m.proxies = [Proxy(wd, "alpha-proxy", a, "-sidecar-for=alpha1"),
                 Proxy(wd, "beta-proxy", a, "-sidecar-for=beta1")]
    m.ua = free_port()
    set_client(m, [("alpha", m.ua)])
    m.client = Proxy(wd, "client-proxy", a, "-sidecar-for=client1")
    m.proxies.append(m.client)
    for p in m.proxies:
        p.start()
    wait_until(lambda: roundtrip(m.ua, b"ping", timeout=2) == b"ping", timeout=60,
               what="the first connection through both proxies")
    yield m
    rcs = [p.stop() for p in m.proxies]
    m.alpha.close()
    m.beta.close()
    a.stop()
    a.close()
    for p in m.proxies:
        assert "Sanitizer" not in p.text(), p.text()[-3000:]
    assert rcs == [0] * len(rcs), [p.text()[-2000:] for p in m.proxies]


def set_client(m, ups, **config):
    """Register the client with these upstreams [(name, port)] and Config keys
    over bind_address (its sidecar is re-registered with the parent)."""
    cfg = {"bind_address": "127.0.0.1"}
    cfg.update(config)
    m.last = (list(ups), cfg)
    r = m.agent.put_json("/v1/agent/service/register", {
        "Name": "client", "ID": "client1", "Port": m.client_app,
        "Connect": {"SidecarService": {"Port": m.cp, "Proxy": {
            "Config": cfg,
            "Upstreams": [{"DestinationName": n, "LocalBindPort": p} for n, p in ups]}}}})
    assert r.status_code == 200, r.text


def reconfigure(m, ups, **config):
    """set_client, then wait for the client proxy to say it applied it
    (unless it is the registration already in force)."""
    cfg = {"bind_address": "127.0.0.1"}
    cfg.update(config)
    if m.last == (list(ups), cfg):
        return
    n = m.client.text().count(APPLIED)
    set_client(m, ups, **config)
    wait_until(lambda: m.client.text().count(APPLIED) > n, timeout=30,
               what="the client proxy applied its new registration")


def test_upstream_added_then_removed(live):
    m = live
    ub = free_port()
    held_a = Held(m.ua)
    assert held_a.ask(b"first") == b"first"
    # added: bytes flow through the new local port, to the new upstream
    reconfigure(m, [("alpha", m.ua), ("beta", ub)])
    assert "upstream beta on 127.0.0.1:%d" % ub in m.client.text()
    wait_until(lambda: roundtrip(ub, b"beta", timeout=3) == b"BETA", timeout=60,
               what="bytes through the added upstream")
    held_b = Held(ub)
    assert held_b.ask(b"second") == b"SECOND"
    assert held_a.ask(b"alpha still") == b"alpha still"
    # removed: its port closes; open connections keep working, on the other
    # upstream and through the removed one itself
    n = m.client.text().count(APPLIED)
    set_client(m, [("beta", ub)])
    wait_until(lambda: not accepting(m.ua), timeout=30, what="the removed upstream's port closed")
    wait_until(lambda: m.client.text().count(APPLIED) > n, timeout=30, what="the log line")
    assert "upstream alpha on 127.0.0.1:%d removed" % m.ua in m.client.text()
    assert held_b.ask(b"afterremoval") == b"AFTERREMOVAL"
    assert held_a.ask(b"finishing") == b"finishing"
    assert roundtrip(ub, b"newone") == b"NEWONE"
    held_a.close()
    held_b.close()
    # and back: the same port opens again
    reconfigure(m, [("alpha", m.ua), ("beta", ub)])
    wait_until(lambda: roundtrip(m.ua, b"again", timeout=3) == b"again", timeout=60,
               what="the upstream added again")
    assert m.client.proc.poll() is None


def test_local_service_port_and_public_port_change(live):
    m, a = live, live.agent
    app1, app2 = Echo(), FlipEcho()
    pg, pg2, ug = free_port(), free_port(), free_port()
    register_server(a, "gamma", app1.port, pg)
    gamma = Proxy(m.wd, "gamma-proxy", a, "-sidecar-for=gamma1")
    gamma.start()
    try:
        reconfigure(m, [("alpha", m.ua), ("gamma", ug)])
        wait_until(lambda: roundtrip(ug, b"abc", timeout=3) == b"abc", timeout=60,
                   what="bytes through gamma's proxy to the first application")
        held = Held(ug)
        assert held.ask(b"open") == b"open"
        # the application moves (LocalServicePort) and the public listener too
        register_server(a, "gamma", app2.port, pg2)
        wait_until(lambda: "public listener on 127.0.0.1:%d, to the application at 127.0.0.1:%d"
                   % (pg2, app2.port) in gamma.text(), timeout=30,
                   what="gamma's proxy applied the new ports")
        wait_until(lambda: not accepting(pg), timeout=30, what="the old public port closed")
        assert accepting(pg2)
        # new connections reach the new application through the new port
        # (once the client's proxy sees the instance on it healthy)
        wait_until(lambda: roundtrip(ug, b"abc", timeout=3) == b"ABC", timeout=60,
                   what="new connections reach the new application")
        # the connection opened before still reaches the first one
        assert held.ask(b"still open") == b"still open"
        held.close()
    finally:
        rc = gamma.stop()
        app1.close()
        app2.close()
    assert rc == 0, gamma.text()[-2000:]
    assert "Sanitizer" not in gamma.text()


def test_configuration_that_cannot_apply_keeps_the_previous(live):
    m = live
    ub, ux = free_port(), free_port()
    reconfigure(m, [("alpha", m.ua), ("beta", ub)])
    wait_until(lambda: roundtrip(ub, b"ok", timeout=3) == b"OK", timeout=60, what="beta")
    held = Held(m.ua)
    assert held.ask(b"held") == b"held"
    # a timeout that is not milliseconds: logged, nothing of it applied (not
    # the upstream it adds either), the proxy runs on
    set_client(m, [("alpha", m.ua), ("beta", ub), ("alpha", ux)], handshake_timeout_ms="soon")
    wait_until(lambda: "Proxy.Config.handshake_timeout_ms: want milliseconds" in
               m.client.text(), timeout=30, what="the refusal in the log")
    assert REFUSED in m.client.text()
    assert m.client.proc.poll() is None
    assert not accepting(ux)
    assert roundtrip(ub, b"ok") == b"OK"
    assert roundtrip(m.ua, b"ok") == b"ok"
    # a port another process holds: the bind fails, nothing changes; the
    # proxy tries again and applies it once the port is free
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", ux))
    blocker.listen(1)
    try:
        set_client(m, [("beta", ub), ("alpha", ux)])
        wait_until(lambda: "listening on 127.0.0.1:%d: address already in use" % ux in
                   m.client.text(), timeout=30, what="the failed bind in the log")
        # alpha's own port was not closed: the whole configuration waits
        assert accepting(m.ua)
        assert roundtrip(m.ua, b"kept") == b"kept"
        assert m.client.proc.poll() is None
        n = m.client.text().count(APPLIED)
    finally:
        blocker.close()
    wait_until(lambda: m.client.text().count(APPLIED) > n, timeout=30,
               what="the configuration applied once the port is free")
    wait_until(lambda: roundtrip(ux, b"moved", timeout=3) == b"moved", timeout=60,
               what="alpha on its new port")
    wait_until(lambda: not accepting(m.ua), timeout=30, what="alpha's old port closed")
    assert held.ask(b"held on") == b"held on"
    held.close()
    # a new identity: the proxy's is fixed at start (as Consul's), refused
    r = m.agent.put_json("/v1/agent/service/register", {
        "Kind": "connect-proxy", "ID": "client1-sidecar-proxy", "Name": "client-sidecar-proxy",
        "Port": m.cp, "Proxy": {"DestinationServiceName": "other",
                                "DestinationServiceID": "client1",
                                "LocalServicePort": m.client_app}})
    assert r.status_code == 200, r.text
    wait_until(lambda: "Proxy.DestinationServiceName changed from client to other" in
               m.client.text(), timeout=30, what="the refusal of a new identity")
    assert roundtrip(ux, b"same") == b"same"
    m.last = None
    reconfigure(m, [("alpha", m.ua)])


def test_upstream_flag_refused_with_sidecar_for(live):
    p = Proxy(live.wd, "both-proxy", live.agent, "-sidecar-for=client1", "-upstream=alpha:1")
    p.start()
    assert p.proc.wait(60) != 0
    p.f.close()
    assert "-upstream goes with -service" in p.text()


def test_proxy_defaults_reach_the_running_proxy(live, tmp_path):
    m, a = live, live.agent
    reconfigure(m, [("alpha", m.ua)])
    pd = tmp_path / "pd.hcl"
    pd.write_text('kind = "proxy-defaults"\nname = "global"\n'
                  'config {\n  handshake_timeout_ms = 400\n}\n')
    p = subprocess.run([CAIRN_BIN, "config", "write", "-http-addr=127.0.0.1:%d" % a.http_port,
                        str(pd)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    try:
        wait_until(lambda: "handshake_timeout_ms 400 for new connections" in m.client.text(),
                   timeout=30, what="the running proxy took proxy-defaults' timeout")
        # a caller that never completes its handshake is closed after 400 ms
        # (the default is 10 s)
        s = socket.create_connection(("127.0.0.1", m.cp), timeout=30)
        t0 = time.monotonic()
        try:
            assert s.recv(1) == b""
        finally:
            s.close()
        assert time.monotonic() - t0 < 9
        wait_until(lambda: "the mutual-TLS handshake did not finish" in m.client.text(),
                   timeout=30, what="the timeout in the log")
    finally:
        r = a.delete("/v1/config/proxy-defaults/global")
        assert r.status_code == 200, r.text
    wait_until(lambda: "handshake_timeout_ms 10000 for new connections" in m.client.text(),
               timeout=30, what="back to the default")
    assert roundtrip(m.ua, b"fine") == b"fine"


def test_deregistered_sidecar_keeps_serving(live):
    m, a = live, live.agent
    reconfigure(m, [("alpha", m.ua)])
    assert roundtrip(m.ua, b"before") == b"before"
    r = a.put("/v1/agent/service/deregister/client1-sidecar-proxy")
    assert r.status_code == 200, r.text
    wait_until(lambda: "registration client1-sidecar-proxy: HTTP 404" in m.client.text(),
               timeout=30, what="the proxy saw its registration go")
    # it serves on with the last configuration it knew
    for i in range(3):
        assert roundtrip(m.ua, b"gone %d" % i) == b"gone %d" % i
    assert m.client.proc.poll() is None
    set_client(m, [("alpha", m.ua)])
    wait_until(lambda: "registration client1-sidecar-proxy: the agent answers again" in
               m.client.text(), timeout=30, what="the registration back")
    assert roundtrip(m.ua, b"back") == b"back"


def test_registration_query_blocks(live):
    """The registration is followed by a query that waits on the agent (a
    hash that would not block would re-ask at once, never parked): every
    proxy's five kinds of queries are parked at the same time."""
    m = live
    reconfigure(m, [("alpha", m.ua)])
    # per proxy: leaf, roots, intentions, registration; plus the client's upstream
    want = 4 * 3 + 1
    m.agent.wait_parked(want, timeout=30)
