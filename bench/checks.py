#!/usr/bin/python3
"""bench/checks.py: the cost of checks run by the agent (issue 6's scale target).

One cairn agent (a single bootstrapped server) gets N services, each with one
HTTP (or TCP) check at a 10 s interval against a loopback target server this
script starts in its own process (asyncio: an HTTP 200 answer, or a TCP accept
and close; it counts what it served). Measured as a user would, from /proc:

  * CPU: the agent process's utime+stime over a steady window of W seconds
    (all checks passing, nothing changing), divided by the probes the target
    served in that window -> CPU us per check run; and as % of one core.
  * memory: the agent's RSS with N services+checks minus its RSS before they
    were registered, divided by N -> bytes per check (the catalog rows, the
    local copies and the runner together).
  * discovery: the target is stopped; the time until /v1/health/state/critical
    lists all N checks (every transition written through the log), then it
    is started again and the time until all N are passing. The target is
    "within one interval" when this is <= interval + probe timeout.

Numbers only, never pass/fail (docs/benchmarks.md).

  CAIRN_BIN=build/release/cairn /usr/bin/python3 bench/checks.py [http|tcp|both]

Knobs (environment): BENCH_CHECKS (10000), BENCH_INTERVAL (10s),
BENCH_WINDOW (30) seconds, BENCH_TMPDIR (build/bench), BENCH_KEEP=1 keeps
the agent's log and data, BENCH_PERF=1 records a perf profile of the agent
over the window (perf-MODE.data in the kept directory).
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from benchlib import free_port

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CAIRN_BIN = os.environ.get("CAIRN_BIN", os.path.join(ROOT, "build/release/cairn"))
N = int(os.environ.get("BENCH_CHECKS", "10000"))
INTERVAL = os.environ.get("BENCH_INTERVAL", "10s")
WINDOW = float(os.environ.get("BENCH_WINDOW", "30"))
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

TARGET = r'''
import asyncio, sys, os
mode, port, counter = sys.argv[1], int(sys.argv[2]), sys.argv[3]
hits = 0
RESP = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
async def http(r, w):
    global hits
    try:
        await r.readuntil(b"\r\n\r\n")
        w.write(RESP)
        await w.drain()
    except Exception:
        pass
    hits += 1
    w.close()
async def tcp(r, w):
    global hits
    hits += 1
    w.close()
async def dump():
    while True:
        with open(counter + ".tmp", "w") as f:
            f.write(str(hits))
        os.replace(counter + ".tmp", counter)
        await asyncio.sleep(0.2)
async def main():
    s = await asyncio.start_server(http if mode == "http" else tcp, "127.0.0.1", port,
                                   backlog=4096, reuse_address=True)
    asyncio.get_running_loop().create_task(dump())
    async with s:
        await s.serve_forever()
asyncio.run(main())
'''


def proc_cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime, seconds


def proc_rss(pid):
    with open("/proc/%d/statm" % pid) as f:
        return int(f.read().split()[1]) * PAGE


def http(port, method, path, body=None, timeout=60):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data, method=method)
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read()


def count_state(port, state):
    _, b = http(port, "GET", "/v1/health/state/" + state)
    return sum(1 for c in json.loads(b) if c["CheckID"].startswith("service:bench-"))


class Target:
    def __init__(self, mode, tmp, port=None):
        self.mode, self.tmp = mode, tmp
        self.port = port or free_port()
        self.counter = os.path.join(tmp, "target-%s.count" % mode)
        self.script = os.path.join(tmp, "target.py")
        with open(self.script, "w") as f:
            f.write(TARGET)
        self.p = subprocess.Popen(["/usr/bin/python3", self.script, mode, str(self.port),
                                   self.counter])
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("target did not start")

    def hits(self):
        try:
            with open(self.counter) as f:
                return int(f.read() or 0)
        except FileNotFoundError:
            return 0

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        self.p.wait(10)


def wait_count(port, state, want, limit):
    """Seconds until `want` bench checks are in `state`, polled on the other
    state draining to 0 (its answer shrinks as it drains, so the polling
    itself costs the agent less), or None."""
    other = "critical" if state == "passing" else "passing"
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        if count_state(port, other) == 0 and count_state(port, state) >= want:
            return time.monotonic() - t0
        time.sleep(0.25)
    return None


def run(mode, tmp):
    http_port, server_port = free_port(), free_port()
    data = os.path.join(tmp, "data-" + mode)
    log = open(os.path.join(tmp, "agent-%s.log" % mode), "w")
    agent = subprocess.Popen([CAIRN_BIN, "agent", "-server", "-bootstrap", "-data-dir=" + data,
                              "-node=bench", "-client=127.0.0.1", "-http-port=%d" % http_port, "-dns-port=-1", "-serf-lan-port=-1",
                              "-server-port=%d" % server_port, "-log-level=warn"],
                             stdout=log, stderr=log)
    target = None
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if http(http_port, "GET", "/v1/status/leader")[1] not in (b'""', b""):
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("agent did not start")
            time.sleep(0.1)
        target = Target(mode, tmp)
        time.sleep(2)
        rss0 = proc_rss(agent.pid)

        def reg(i):
            chk = {"Interval": INTERVAL}
            if mode == "http":
                chk["HTTP"] = "http://127.0.0.1:%d/health/%d" % (target.port, i)
            else:
                chk["TCP"] = "127.0.0.1:%d" % target.port
            http(http_port, "PUT", "/v1/agent/service/register",
                 {"Name": "bench", "ID": "bench-%d" % i, "Port": target.port, "Check": chk})

        t0 = time.monotonic()
        with ThreadPoolExecutor(32) as ex:
            list(ex.map(reg, range(N)))
        t_reg = time.monotonic() - t0
        iv = float(INTERVAL.rstrip("s"))
        t_pass = wait_count(http_port, "passing", N, 4 * iv + 60)
        time.sleep(iv)  # every check past its first result: steady state
        rss1 = proc_rss(agent.pid)
        perf = None
        if os.environ.get("BENCH_PERF"):
            perf = subprocess.Popen(["perf", "record", "-q", "-g", "-o",
                                     os.path.join(tmp, "perf-%s.data" % mode), "-p",
                                     str(agent.pid)], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
        h0, c0, w0 = target.hits(), proc_cpu(agent.pid), time.monotonic()
        time.sleep(WINDOW)
        h1, c1, w1 = target.hits(), proc_cpu(agent.pid), time.monotonic()
        if perf:
            perf.send_signal(signal.SIGINT)
            perf.wait(60)
        runs = h1 - h0
        cpu = c1 - c0
        wall = w1 - w0
        res = {
            "mode": mode, "checks": N, "interval": INTERVAL,
            "register_s": round(t_reg, 1),
            "all_passing_after_register_s": t_pass and round(t_pass, 1),
            "window_s": round(wall, 1), "probes_in_window": runs,
            "probes_per_s": round(runs / wall, 1),
            "agent_cpu_s": round(cpu, 2),
            "core_pct": round(100 * cpu / wall, 1),
            "cpu_us_per_check_run": round(1e6 * cpu / runs, 1) if runs else None,
            "rss_before_mb": round(rss0 / 2**20, 1), "rss_after_mb": round(rss1 / 2**20, 1),
            "bytes_per_check": round((rss1 - rss0) / N),
        }
        # discovery: the target dies, then comes back
        port = target.port
        target.stop()
        target = None
        res["all_critical_after_stop_s"] = (lambda t: t and round(t, 1))(
            wait_count(http_port, "critical", N, 4 * iv + 60))
        target = Target(mode, tmp, port)
        res["all_passing_after_restart_s"] = (lambda t: t and round(t, 1))(
            wait_count(http_port, "passing", N, 4 * iv + 60))
        return res
    finally:
        if target:
            target.stop()
        agent.send_signal(signal.SIGTERM)
        try:
            agent.wait(30)
        except subprocess.TimeoutExpired:
            agent.kill()
        log.close()


def main():
    modes = sys.argv[1:] or ["both"]
    if modes == ["both"]:
        modes = ["http", "tcp"]
    base = os.environ.get("BENCH_TMPDIR", os.path.join(ROOT, "build/bench"))
    os.makedirs(base, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="checks.", dir=base)
    try:
        for m in modes:
            print(json.dumps(run(m, tmp)), flush=True)
    finally:
        if os.environ.get("BENCH_KEEP") != "1":
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print("kept", tmp, file=sys.stderr)


if __name__ == "__main__":
    main()
