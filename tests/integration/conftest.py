"""Shared fixtures for cairn's integration tests.

Run with Debian's interpreter (it sees python3-pytest, python3-requests,
python3-consul and python3-dnspython):

    /usr/bin/python3 -m pytest tests/integration

Every test module gets its own agent (module-scoped ``agent`` fixture) on
free loopback ports with a fresh data dir. Tests that need to restart or
crash agents build their own with ``agent_factory``. An agent's stderr goes
to a file in the test's tmp dir; when a test fails, the tail of every live
agent's log is attached to the report.

The binary is $CAIRN_BIN (default: the ASan build).
"""

import json
import os
import re
import select
import signal
import socket
import subprocess
import threading
import time

import pytest
import requests

CAIRN_BIN = os.environ.get("CAIRN_BIN", "/work/main/build/asan/cairn")
TSAN_SUPP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts",
                         "tsan.supp")

# Generous guards: these only stop a hung test, they never judge speed. The
# ASan build on a shared 2-core machine can be slow to start.
START_TIMEOUT = float(os.environ.get("CAIRN_START_TIMEOUT", "60"))
STOP_TIMEOUT = 30.0
HTTP_TIMEOUT = 30.0

_port_lock = threading.Lock()
_ports_handed_out = set()


def free_port():
    """A loopback TCP port that is free now and not handed out before in this
    process (so two agents never race for the same one)."""
    with _port_lock:
        for _ in range(200):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            s.close()
            if port not in _ports_handed_out:
                # The agent may also want the UDP side of the port (DNS).
                try:
                    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    u.bind(("127.0.0.1", port))
                    u.close()
                except OSError:
                    continue
                _ports_handed_out.add(port)
                return port
    raise RuntimeError("no free port")


def wait_until(pred, timeout=15.0, interval=0.05, what="condition"):
    """Poll pred() until it returns a truthy value; return that value. Fails
    the test after `timeout` seconds (a guard, not a performance limit)."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = pred()
            if v:
                return v
        except (requests.RequestException, OSError, ValueError) as e:
            last_exc = e
        if time.monotonic() > deadline:
            msg = "timed out after %.0fs waiting for %s" % (timeout, what)
            if last_exc is not None:
                msg += " (last error: %r)" % (last_exc,)
            pytest.fail(msg)
        time.sleep(interval)


_LIVE_AGENTS = []


class Agent:
    """One cairn agent process: a single bootstrapped server on loopback."""

    def __init__(self, workdir, name="node1", extra_args=(), data_dir=None):
        self.workdir = str(workdir)
        self.name = name
        self.data_dir = data_dir or os.path.join(self.workdir, "data-" + name)
        self.log_path = os.path.join(self.workdir, name + ".stderr.log")
        self.http_port = free_port()
        self.server_port = free_port()
        # Every agent answers DNS (UDP and TCP) on a free port of its own, not
        # the default 8600 (several agents run at once).
        self.dns_port = free_port()
        # And LAN gossip (UDP and TCP) on a free port, not the default 8301;
        # a server's WAN gossip too (not 8302).
        self.serf_port = free_port()
        self.serf_wan_port = free_port()
        self.extra_args = list(extra_args)
        self.proc = None
        self.http = requests.Session()
        self.starts = 0
        os.makedirs(self.data_dir, exist_ok=True)

    # ---- process control -------------------------------------------------

    def argv(self):
        return [
            CAIRN_BIN, "agent", "-server", "-bootstrap",
            "-data-dir=" + self.data_dir,
            "-node=" + self.name,
            "-datacenter=dc1",
            "-client=127.0.0.1",
            "-http-port=%d" % self.http_port,
            "-server-port=%d" % self.server_port,
            "-dns-port=%d" % self.dns_port,
            "-serf-lan-port=%d" % self.serf_port,
            "-serf-wan-port=%d" % self.serf_wan_port,
            "-log-level=info",
        ] + self.extra_args

    def start(self, wait=True):
        """Start the process (and wait until ready). On a first start, a port
        another process grabbed since free_port() is retried on new ports."""
        for attempt in range(3):
            self._spawn()
            if not wait:
                return self
            if self.starts == 1 + attempt and self._lost_port_race():
                self.http_port, self.server_port = free_port(), free_port()
                self.dns_port = free_port()
                self.serf_port = free_port()
                self.serf_wan_port = free_port()
                continue
            self.wait_ready()
            return self
        pytest.fail("agent %s could not bind free ports; log:\n%s" % (self.name,
                                                                      self.log_tail()))

    def _lost_port_race(self):
        """True if the process exited during startup because its port was
        taken (then nothing was written to the data dir's state)."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                text = self.log_text()
                tail = text[text.rfind("===== start #"):]
                return "address already in use" in tail.lower()
            try:
                r = self.http.get(self.url("/v1/status/leader"), timeout=5)
                if r.status_code == 200:
                    return False
            except requests.RequestException:
                pass
            time.sleep(0.05)
        return False

    def _spawn(self):
        assert self.proc is None or self.proc.poll() is not None, "already running"
        if not os.path.exists(CAIRN_BIN):
            pytest.fail("cairn binary not found at %s (set CAIRN_BIN)" % CAIRN_BIN)
        self.starts += 1
        with open(self.log_path, "ab") as log:
            log.write(("\n===== start #%d: %s\n" % (self.starts, " ".join(self.argv())))
                      .encode())
            log.flush()
            env = dict(os.environ)
            # Sanitizer reports go to stderr (the log) and are checked by
            # assert_no_sanitizer_report().
            env.setdefault("ASAN_OPTIONS", "abort_on_error=0")
            env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
            # A TSan build (make tsan): every report is a failure; the
            # suppressions file documents the few benign entries.
            env.setdefault("TSAN_OPTIONS", "halt_on_error=0 second_deadlock_stack=1 "
                           "suppressions=" + TSAN_SUPP)
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=log, env=env)
        self.http = requests.Session()
        if self not in _LIVE_AGENTS:
            _LIVE_AGENTS.append(self)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout=START_TIMEOUT):
        """Ready = /v1/status/leader is a non-empty JSON string and this node
        is listed in /v1/catalog/nodes."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail("agent %s exited with %s during startup; log:\n%s"
                            % (self.name, self.proc.returncode, self.log_tail()))
            try:
                r = self.http.get(self.url("/v1/status/leader"), timeout=5)
                if r.status_code == 200 and isinstance(r.json(), str) and r.json():
                    r = self.http.get(self.url("/v1/catalog/nodes"), timeout=5)
                    if r.status_code == 200 and any(
                            n.get("Node") == self.name for n in r.json()):
                        return
                last = "%s %r" % (r.status_code, r.text[:200])
            except (requests.RequestException, ValueError) as e:
                last = repr(e)
            time.sleep(0.1)
        pytest.fail("agent %s not ready after %.0fs (last: %s); log:\n%s"
                    % (self.name, timeout, last, self.log_tail()))

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM and wait; returns the exit code (None if it was not running)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                pytest.fail("agent %s ignored SIGTERM for %.0fs; log:\n%s"
                            % (self.name, timeout, self.log_tail()))
        self.http.close()
        return self.proc.returncode

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.http.close()

    def restart(self, wait=True, extra_args=None):
        """Clean stop (if running) and start again on the same data dir and
        ports."""
        if self.running():
            self.stop()
        if extra_args is not None:
            self.extra_args = list(extra_args)
        return self.start(wait=wait)

    def wait_exit(self, timeout=START_TIMEOUT):
        """Wait for the process to exit on its own; returns the exit code or
        None if it is still running after `timeout`."""
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def close(self):
        if self.running():
            try:
                self.stop()
            except BaseException:
                self.kill9()
        if self in _LIVE_AGENTS:
            _LIVE_AGENTS.remove(self)

    # ---- logs ------------------------------------------------------------

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines=150):
        return "\n".join(self.log_text().splitlines()[-lines:])

    def sanitizer_report(self):
        text = self.log_text()
        for pat in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                    "WARNING: ThreadSanitizer"):
            i = text.find(pat)
            if i >= 0:
                return text[max(0, i - 200):i + 3000]
        return None

    # ---- HTTP ------------------------------------------------------------

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.http_port, path)

    def get(self, path, **kw):
        kw.setdefault("timeout", HTTP_TIMEOUT)
        return self.http.get(self.url(path), **kw)

    def put(self, path, data=None, **kw):
        kw.setdefault("timeout", HTTP_TIMEOUT)
        return self.http.put(self.url(path), data=data, **kw)

    def delete(self, path, **kw):
        kw.setdefault("timeout", HTTP_TIMEOUT)
        return self.http.delete(self.url(path), **kw)

    def request(self, method, path, **kw):
        kw.setdefault("timeout", HTTP_TIMEOUT)
        return self.http.request(method, self.url(path), **kw)

    def put_json(self, path, obj, **kw):
        return self.put(path, data=json.dumps(obj), **kw)

    def kv_put(self, key, value, **params):
        r = self.put("/v1/kv/" + key, data=value, params=params)
        assert r.status_code == 200, (r.status_code, r.text)
        return r.json()

    def kv_get(self, key, **params):
        """The KVPair dict, or None on 404."""
        r = self.get("/v1/kv/" + key, params=params)
        if r.status_code == 404:
            return None
        assert r.status_code == 200, (r.status_code, r.text)
        return r.json()[0]

    # ---- server counters (/v1/agent/self Stats.cairn) ----------------------

    def stats(self):
        """Stats.cairn of /v1/agent/self as ints: http_parked (blocking
        queries parked right now) and watches (armed state watches).
        A fresh connection each time: safe from a helper thread."""
        r = requests.get(self.url("/v1/agent/self"), timeout=HTTP_TIMEOUT)
        assert r.status_code == 200, (r.status_code, r.text)
        return {k: int(v) for k, v in r.json()["Stats"]["cairn"].items()}

    def parked(self):
        return self.stats()["http_parked"]

    def wait_parked(self, n, timeout=30.0):
        """Wait until at least n blocking queries are parked: a write made
        after this is seen by them as a change, never before they looked."""
        wait_until(lambda: self.parked() >= n, timeout=timeout,
                   what="%d parked blocking queries" % n)

    def consul(self):
        import consul
        return consul.Consul(host="127.0.0.1", port=self.http_port)

    def raw(self, data, nresp=1, timeout=HTTP_TIMEOUT):
        return raw_http(self.http_port, data, nresp=nresp, timeout=timeout)


# ---- raw HTTP ---------------------------------------------------------------

class RawResponse:
    def __init__(self, version, status, reason, headers, body):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (name, value) exactly as sent
        self.body = body

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def header_names(self):
        return [k for k, _ in self.headers]

    def __repr__(self):
        return "RawResponse(%d %s, %r, %r)" % (self.status, self.reason, self.headers,
                                               self.body[:200])


class _Reader:
    def __init__(self, sock, timeout):
        self.sock = sock
        self.buf = b""
        self.deadline = time.monotonic() + timeout

    def _fill(self):
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("raw HTTP read timed out")
        self.sock.settimeout(left)
        chunk = self.sock.recv(65536)
        if not chunk:
            return False
        self.buf += chunk
        return True

    def readline(self):
        while b"\r\n" not in self.buf:
            if not self._fill():
                raise EOFError("connection closed mid-line: %r" % self.buf[:200])
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read(self, n):
        while len(self.buf) < n:
            if not self._fill():
                raise EOFError("connection closed with %d of %d body bytes"
                               % (len(self.buf), n))
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_to_eof(self):
        try:
            while self._fill():
                pass
        except ConnectionResetError:
            pass
        out, self.buf = self.buf, b""
        return out


def read_response(reader, head=False):
    line = reader.readline()
    m = re.match(rb"^(HTTP/\d\.\d) (\d{3})(?: (.*))?$", line)
    if not m:
        raise ValueError("bad status line %r" % line)
    version, status, reason = m.group(1).decode(), int(m.group(2)), (m.group(3) or b"").decode()
    headers = []
    while True:
        h = reader.readline()
        if h == b"":
            break
        k, _, v = h.partition(b":")
        headers.append((k.decode("latin-1"), v.strip().decode("latin-1")))
    resp = RawResponse(version, status, reason, headers, b"")
    if head or status in (204, 304) or 100 <= status < 200:
        return resp
    te = (resp.header("Transfer-Encoding") or "").lower()
    cl = resp.header("Content-Length")
    if "chunked" in te:
        body = b""
        while True:
            size = int(reader.readline().split(b";")[0], 16)
            if size == 0:
                while reader.readline() != b"":
                    pass
                break
            body += reader.read(size)
            reader.readline()
        resp.body = body
    elif cl is not None:
        resp.body = reader.read(int(cl))
    else:
        resp.body = reader.read_to_eof()
    return resp


def raw_http(port, data, nresp=1, timeout=HTTP_TIMEOUT):
    """Send `data` (bytes) in one sendall on a fresh connection and read
    `nresp` responses in order. Returns a list of RawResponse."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        reader = _Reader(s, timeout)
        return [read_response(reader) for _ in range(nresp)]
    finally:
        s.close()


def raw_send_large(port, head, body_len, tail=b"", chunk=65536, timeout=HTTP_TIMEOUT):
    """Send `head`, then up to body_len bytes of 'x', then `tail`, stopping
    early if the server answers (or closes) first, so a server that rejects
    early is not defeated by a reset. Returns the RawResponse."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(head)
        sent = 0
        block = b"x" * chunk
        while sent < body_len:
            r, w, _ = select.select([s], [s], [], timeout)
            if r:
                break  # the server has something to say (or closed)
            if not w:
                raise TimeoutError("server neither reads nor answers")
            n = min(chunk, body_len - sent)
            try:
                sent += s.send(block[:n])
            except (BrokenPipeError, ConnectionResetError):
                break
        if sent >= body_len and tail:
            try:
                s.sendall(tail)
            except (BrokenPipeError, ConnectionResetError):
                pass
        reader = _Reader(s, timeout)
        return read_response(reader)
    finally:
        s.close()


# ---- fixtures ---------------------------------------------------------------

@pytest.fixture(scope="module")
def agent(request, tmp_path_factory):
    """One agent for the whole test module, fresh data dir, free ports."""
    mod = request.module.__name__.rsplit(".", 1)[-1].replace("test_", "")
    a = Agent(tmp_path_factory.mktemp(mod), name="it-" + mod.replace("_", "-"))
    a.start()
    yield a
    rc = a.stop() if a.running() else a.proc.returncode
    a.close()
    report = a.sanitizer_report()
    assert report is None, "sanitizer report in agent log:\n" + report
    assert rc == 0, "agent exited %s after SIGTERM; log:\n%s" % (rc, a.log_tail())


def assert_no_sanitizer_reports(agents):
    """Fail with every stopped agent's sanitizer report (from its log), if any."""
    reports = []
    for a in agents:
        rep = a.sanitizer_report()
        if rep:
            reports.append("%s:\n%s" % (a.name, rep))
    assert not reports, "sanitizer report in agent log:\n" + "\n".join(reports)


@pytest.fixture
def agent_factory(tmp_path):
    """Build extra agents inside one test; all are stopped afterwards."""
    made = []

    def make(name="node1", extra_args=(), start=True, data_dir=None):
        a = Agent(tmp_path, name=name, extra_args=extra_args, data_dir=data_dir)
        made.append(a)
        if start:
            a.start()
        return a

    yield make
    for a in made:
        a.close()
    assert_no_sanitizer_reports(made)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for a in list(_LIVE_AGENTS):
            rep.sections.append(("cairn agent %s stderr (tail, %s)" % (a.name, a.log_path),
                                 a.log_tail()))


def index_of(resp):
    """X-Consul-Index as an int (fails the test if absent or malformed)."""
    v = resp.headers.get("X-Consul-Index")
    assert v is not None, "no X-Consul-Index on %s %s" % (resp.request.method, resp.url)
    assert re.fullmatch(r"\d+", v), "bad X-Consul-Index %r" % v
    return int(v)


# ---- clusters (test_cluster_ops.py, test_cluster_faults.py) --------------------

class ClusterAgent(Agent):
    """A server that forms or joins a Raft cluster: -bootstrap-expect=N (0 =
    none, it waits to be joined) and one -retry-join per other server's RPC
    port. Ready = /v1/status/leader is non-empty."""

    def __init__(self, workdir, name, bootstrap_expect=0, join_ports=(), extra_args=()):
        super().__init__(workdir, name=name, extra_args=extra_args)
        self.bootstrap_expect = bootstrap_expect
        self.join_ports = list(join_ports)
        self.stopped = False  # SIGSTOPped by the test
        self.member = False   # has seen a leader since its last start

    def argv(self):
        a = [
            CAIRN_BIN, "agent", "-server",
            "-data-dir=" + self.data_dir,
            "-node=" + self.name,
            "-datacenter=dc1",
            "-client=127.0.0.1",
            "-bind=127.0.0.1",
            "-http-port=%d" % self.http_port,
            "-server-port=%d" % self.server_port,
            "-dns-port=%d" % self.dns_port,
            "-serf-lan-port=%d" % self.serf_port,
            "-serf-wan-port=%d" % self.serf_wan_port,
            "-log-level=info",
        ]
        if self.bootstrap_expect:
            a.append("-bootstrap-expect=%d" % self.bootstrap_expect)
        a += ["-retry-join=127.0.0.1:%d" % p for p in self.join_ports]
        return a + self.extra_args

    @property
    def rpc_addr(self):
        return "127.0.0.1:%d" % self.server_port

    def start(self, wait=True):
        # Peers know this server by its ports: no retry on new ports here.
        self.member = False
        self._spawn()
        if wait:
            self.wait_ready()
        return self

    def leader_addr(self):
        """This server's view of the leader ("" when none); raises on HTTP
        errors (callers poll)."""
        r = self.get("/v1/status/leader", timeout=5)
        r.raise_for_status()
        return r.json()

    def wait_ready(self, timeout=START_TIMEOUT):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail("agent %s exited with %s during startup; log:\n%s"
                            % (self.name, self.proc.returncode, self.log_tail()))
            try:
                last = self.leader_addr()
                if last:
                    self.member = True
                    return
            except (requests.RequestException, ValueError) as e:
                last = repr(e)
            time.sleep(0.1)
        pytest.fail("agent %s has no leader after %.0fs (last: %s); log:\n%s"
                    % (self.name, timeout, last, self.log_tail()))

    def sigstop(self):
        self.proc.send_signal(signal.SIGSTOP)
        self.stopped = True

    def sigcont(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
        self.stopped = False

    def close(self):
        if self.stopped:
            self.sigcont()
        super().close()


class Cluster:
    """N ClusterAgents on loopback, each told every other one's RPC port."""

    def __init__(self, workdir, n, bootstrap_expect=None, extra_args=(), prefix="n"):
        self.workdir = str(workdir)
        self.extra_args = list(extra_args)
        self.prefix = prefix
        self.agents = [ClusterAgent(workdir, "%s%d" % (prefix, i + 1),
                                    bootstrap_expect=bootstrap_expect or n,
                                    extra_args=extra_args)
                       for i in range(n)]
        ports = [a.server_port for a in self.agents]
        for a in self.agents:
            a.join_ports = [p for p in ports if p != a.server_port]

    def start(self, timeout=START_TIMEOUT):
        for a in self.agents:
            a.start(wait=False)
        self.wait_converged(agents=self.agents, timeout=timeout)
        for a in self.agents:
            a.member = True
        return self

    def add(self, name=None, join=True, bootstrap_expect=0, extra_args=None):
        """A new server (not started); with join=True it -retry-joins every
        current member."""
        name = name or "%s%d" % (self.prefix, len(self.agents) + 1)
        a = ClusterAgent(self.workdir, name, bootstrap_expect=bootstrap_expect,
                         join_ports=[x.server_port for x in self.agents] if join else (),
                         extra_args=self.extra_args if extra_args is None else extra_args)
        self.agents.append(a)
        return a

    def live(self):
        """Running, not stopped, and ready since their last start."""
        return [a for a in self.agents if a.running() and not a.stopped and a.member]

    def by_rpc(self, addr):
        for a in self.agents:
            if a.rpc_addr == addr:
                return a
        return None

    def wait_converged(self, agents=None, timeout=START_TIMEOUT):
        """Every given (default: live) agent names the same non-empty leader,
        and that leader is one of them. Returns the leader agent."""
        def check():
            views = set()
            group = agents or self.live()
            for a in group:
                if a.proc.poll() is not None:
                    pytest.fail("agent %s exited with %s; log:\n%s"
                                % (a.name, a.proc.returncode, a.log_tail()))
                views.add(a.leader_addr())
            if len(views) != 1 or "" in views:
                return None
            ldr = self.by_rpc(views.pop())
            # A dead or frozen leader may still be named until its lease runs out.
            return ldr if ldr in group else None
        return wait_until(check, timeout=timeout, interval=0.1, what="one agreed leader")

    def leader(self, timeout=START_TIMEOUT):
        return self.wait_converged(timeout=timeout)

    def followers(self):
        ldr = self.leader()
        return [a for a in self.live() if a is not ldr]

    def peers(self, via=None):
        """/v1/operator/raft/configuration Servers, read from `via` (default:
        the leader)."""
        via = via or self.leader()
        r = via.get("/v1/operator/raft/configuration")
        assert r.status_code == 200, (r.status_code, r.text)
        return r.json()["Servers"]

    def close(self):
        # Stopped processes first get SIGCONT (by PID), then everyone stops.
        for a in self.agents:
            if a.stopped:
                a.sigcont()
        for a in self.agents:
            a.close()


@pytest.fixture
def cluster_factory(tmp_path):
    """Build clusters inside one test; all their agents are continued (if
    SIGSTOPped) and stopped afterwards, and their logs checked for sanitizer
    reports."""
    made = []

    def make(n=3, start=True, **kw):
        c = Cluster(tmp_path / ("c%d" % len(made)), n, **kw)
        os.makedirs(c.workdir, exist_ok=True)
        made.append(c)
        if start:
            c.start()
        return c

    yield make
    for c in made:
        c.close()
    assert_no_sanitizer_reports([a for c in made for a in c.agents])


def cairn_cli(*args, http_port=None, timeout=60):
    """Run the cairn CLI; returns the CompletedProcess (text)."""
    argv = [CAIRN_BIN] + list(args)
    if http_port is not None:
        # Flags may follow positional arguments in cairn's CLI.
        argv.append("-http-addr=127.0.0.1:%d" % http_port)
    env = dict(os.environ)
    env.pop("CONSUL_HTTP_ADDR", None)
    env.pop("CAIRN_HTTP_ADDR", None)
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env)
