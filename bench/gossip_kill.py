#!/usr/bin/env python3
"""bench/gossip_kill.py: real processes on loopback, memberlist's default
timings. Three servers (-retry-join at their gossip ports, -bootstrap-expect=3);
RUNS times: kill -9 a follower and time until the leader's catalog shows its
serfHealth critical, then restart it (same data dir) and time until passing;
then RUNS times: SIGSTOP a follower for 10 s, time until critical, SIGCONT,
time until passing again (no restart). Prints p50/p90/max.

  CAIRN_BIN=build/release/cairn RUNS=10 bench/gossip_kill.py
"""
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import json

from benchlib import free_port_tcp_udp

BIN = os.environ.get("CAIRN_BIN", "build/release/cairn")
RUNS = int(os.environ.get("RUNS", "10"))


def free_port(used):
    return free_port_tcp_udp(used)


def get(port, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=5) as r:
        return json.loads(r.read() or b"null")


def serf(port, node):
    try:
        for c in get(port, "/v1/health/node/%s?stale" % node):
            if c["CheckID"] == "serfHealth":
                return c["Status"]
    except Exception:
        return None
    return None


def wait(pred, timeout=60, interval=0.02):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if pred():
            return time.monotonic() - t0
        time.sleep(interval)
    raise SystemExit("timed out")


def main():
    tmp = tempfile.mkdtemp(prefix="gossip-kill-")
    used = set()
    srv = []
    for i in range(3):
        srv.append({"name": "k%d" % i, "http": free_port(used), "rpc": free_port(used),
                    "serf": free_port(used), "dir": os.path.join(tmp, "d%d" % i), "proc": None})

    def start(s):
        argv = [BIN, "agent", "-server", "-bootstrap-expect=3", "-data-dir=" + s["dir"],
                "-node=" + s["name"], "-bind=127.0.0.1", "-client=127.0.0.1",
                "-http-port=%d" % s["http"], "-server-port=%d" % s["rpc"], "-dns-port=-1",
                "-serf-lan-port=%d" % s["serf"], "-serf-wan-port=-1", "-log-level=warn"]
        argv += ["-retry-join=127.0.0.1:%d" % o["serf"] for o in srv if o is not s]
        s["proc"] = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(tmp, s["name"] + ".log"), "a"))

    def leader():
        for s in srv:
            if s["proc"] and s["proc"].poll() is None:
                try:
                    a = get(s["http"], "/v1/status/leader")
                except Exception:
                    continue
                for o in srv:
                    if a == "127.0.0.1:%d" % o["rpc"]:
                        return o
        return None

    try:
        for s in srv:
            start(s)
        wait(lambda: leader() is not None)
        ldr = leader()
        wait(lambda: all(serf(ldr["http"], s["name"]) == "passing" for s in srv))
        kill_crit, kill_back, stop_crit, stop_back = [], [], [], []
        for r in range(RUNS):
            ldr = leader()
            victim = [s for s in srv if s is not ldr][r % 2]
            t0 = time.monotonic()
            victim["proc"].send_signal(signal.SIGKILL)
            victim["proc"].wait()
            wait(lambda: serf(ldr["http"], victim["name"]) == "critical")
            kill_crit.append(time.monotonic() - t0)
            t1 = time.monotonic()
            start(victim)
            wait(lambda: serf(ldr["http"], victim["name"]) == "passing")
            kill_back.append(time.monotonic() - t1)
            wait(lambda: leader() is not None)
        for r in range(RUNS):
            ldr = leader()
            victim = [s for s in srv if s is not ldr][r % 2]
            t0 = time.monotonic()
            victim["proc"].send_signal(signal.SIGSTOP)
            wait(lambda: serf(ldr["http"], victim["name"]) == "critical")
            stop_crit.append(time.monotonic() - t0)
            time.sleep(max(0, 10 - (time.monotonic() - t0)))
            victim["proc"].send_signal(signal.SIGCONT)
            t1 = time.monotonic()
            wait(lambda: serf(ldr["http"], victim["name"]) == "passing")
            stop_back.append(time.monotonic() - t1)
            wait(lambda: leader() is not None)

        def fig(name, v):
            v = sorted(v)
            print("%-34s p50 %5.2f s  p90 %5.2f s  max %5.2f s  (%d runs)"
                  % (name, statistics.median(v), v[max(0, math.ceil(0.9 * len(v)) - 1)], v[-1], len(v)))
        print("3 servers, loopback, memberlist LAN defaults, binary %s" % BIN)
        fig("kill -9 -> serfHealth critical", kill_crit)
        fig("restart -> passing", kill_back)
        fig("SIGSTOP -> serfHealth critical", stop_crit)
        fig("SIGCONT (after 10 s) -> passing", stop_back)
    finally:
        for s in srv:
            if s["proc"] and s["proc"].poll() is None:
                s["proc"].send_signal(signal.SIGCONT)
                s["proc"].terminate()
                try:
                    s["proc"].wait(10)
                except subprocess.TimeoutExpired:
                    s["proc"].kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
