#!/usr/bin/python3
"""bench/lock_handover.py: lock handover time on one cairn server.

A holder session acquires KEY; a contender (another thread, another
session, no lock-delay) waits the way api/lock.go does: PUT ?acquire, and on
false a blocking GET of the key until its Session is empty, then again.
Measured: from just before the holder's release call (mode "release") or
session destroy (mode "invalidate") to the contender's acquire returning
true. Prints p50/p99/max over BENCH_ROUNDS (50) rounds per mode. Numbers
only, never pass/fail.

    CAIRN_BIN=build/release/cairn /usr/bin/python3 bench/lock_handover.py
"""

import json
import os
import shutil
import subprocess
import tempfile
import threading
import time

import requests

from benchlib import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CAIRN_BIN = os.environ.get("CAIRN_BIN", os.path.join(ROOT, "build/release/cairn"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "50"))


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p / 100))]


def main():
    tmp = tempfile.mkdtemp(prefix="lock-handover.")
    port = free_port()
    proc = subprocess.Popen([CAIRN_BIN, "agent", "-server", "-bootstrap",
                             "-data-dir=" + tmp + "/data", "-node=bench",
                             "-client=127.0.0.1", "-http-port=%d" % port, "-dns-port=-1", "-serf-lan-port=-1",
                             "-server-port=%d" % free_port(), "-log-level=warn"],
                            stderr=open(tmp + "/agent.log", "w"))
    base = "http://127.0.0.1:%d" % port
    try:
        for _ in range(300):
            try:
                if "bench" in requests.get(base + "/v1/catalog/nodes", timeout=2).text:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.1)
        for mode in ("release", "invalidate"):
            lat = []
            for i in range(ROUNDS):
                lat.append(one_round(base, "handover/%s/%d" % (mode, i), mode))
            print("%-10s rounds %d: p50 %.2f ms  p99 %.2f ms  max %.2f ms"
                  % (mode, ROUNDS, pct(lat, 50), pct(lat, 99), max(lat)))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(tmp, ignore_errors=True)


def create(h, base):
    return h.put(base + "/v1/session/create", data=json.dumps({"LockDelay": "0s"})).json()["ID"]


def one_round(base, key, mode):
    h1, h2 = requests.Session(), requests.Session()
    s1, s2 = create(h1, base), create(h2, base)
    assert h1.put(base + "/v1/kv/" + key + "?acquire=" + s1, data=b"a").json() is True
    got = {}
    waiting = threading.Event()

    def contender():
        while True:
            if h2.put(base + "/v1/kv/" + key + "?acquire=" + s2, data=b"b").json() is True:
                got["t"] = time.monotonic()
                return
            r = h2.get(base + "/v1/kv/" + key)
            idx = r.headers["X-Consul-Index"]
            while True:
                waiting.set()
                r = h2.get(base + "/v1/kv/%s?index=%s&wait=30s" % (key, idx))
                idx = r.headers["X-Consul-Index"]
                if not r.json()[0].get("Session"):
                    break

    t = threading.Thread(target=contender)
    t.start()
    waiting.wait()
    time.sleep(0.05)  # let the blocking GET reach the server
    t0 = time.monotonic()
    if mode == "release":
        h1.put(base + "/v1/kv/" + key + "?release=" + s1)
    else:
        h1.put(base + "/v1/session/destroy/" + s1)
    t.join()
    h2.put(base + "/v1/session/destroy/" + s2)
    if mode == "release":
        h1.put(base + "/v1/session/destroy/" + s1)
    return (got["t"] - t0) * 1000


if __name__ == "__main__":
    main()
