#!/usr/bin/python3
"""Restart time of a single server holding N KV pairs: from exec to the first
successful read of a key written last, after a clean stop (SIGTERM) and
after kill -9. Prints numbers, never passes or fails on them.

  CAIRN_BIN=build/release/cairn /usr/bin/python3 bench/restart.py
  BENCH_BASE_BIN=/tmp/old/cairn CAIRN_BIN=... /usr/bin/python3 bench/restart.py   (A/B)

BENCH_KEYS (100000; 1000000 for the second target) pairs of a 32-byte key and a 256-byte value are loaded
once (bench/load.py kv-cairn: /v1/txn batches of 64) into a data dir, and
that agent is killed with SIGKILL (so the seed holds the log and no
snapshot). Each measured run copies the seed (every binary starts from the
same files), starts the binary on it, waits until it serves, stops it (clean
stop: SIGTERM; kill -9: SIGKILL), starts it again and times that start:
exec until GET /v1/kv/<last key> answers 200, polled every 2 ms.
BENCH_TIMEOUT (60) seconds at most per start. BENCH_ROUNDS (3) rounds, the binaries alternating within each. CPU = the
agent's user+system time from exec to that first answer (what the restart
costs whatever else runs on the machine). BENCH_SEED_ARGS: extra agent
arguments for the loading run (e.g. -raft-snapshot-threshold=1000). BENCH_SEED: the
seed data dir of an earlier run kept with BENCH_KEEP=1 (the load is skipped; the
1,000,000-key seed takes minutes to load on a busy machine). The agent's
log (-log-level=info) is kept for the last run of each kind.
"""

import http.client
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from benchlib import free_port

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import load  # noqa: E402

BIN = os.environ.get("CAIRN_BIN", os.path.join(ROOT, "build/release/cairn"))
BASE = os.environ.get("BENCH_BASE_BIN", "")
KEYS = int(os.environ.get("BENCH_KEYS", "100000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))


class Agent:
    def __init__(self, binary, data, log, extra=()):
        self.http = free_port()
        self.argv = [binary, "agent", "-server", "-bootstrap", "-data-dir=" + data,
                     "-node=s1", "-client=127.0.0.1", "-http-port=%d" % self.http,
                     "-server-port=%d" % free_port(), "-dns-port=-1",
                     "-serf-lan-port=-1", "-serf-wan-port=-1", "-log-level=info"] + list(extra)
        self.log = log
        self.proc = None

    def start(self):
        with open(self.log, "ab") as f:
            self.t0 = time.monotonic()
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=f,
                                         stderr=f)

    def serving(self, key, timeout=int(os.environ.get("BENCH_TIMEOUT", "60"))):
        """Seconds from exec until GET /v1/kv/key answers 200."""
        deadline = self.t0 + timeout
        while time.monotonic() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.http, timeout=2)
                c.request("GET", "/v1/kv/" + key)
                r = c.getresponse()
                r.read()
                c.close()
                if r.status == 200:
                    took = time.monotonic() - self.t0
                    with open("/proc/%d/stat" % self.proc.pid) as f:
                        fl = f.read().rsplit(")", 1)[1].split()
                    self.cpu = (int(fl[11]) + int(fl[12])) / os.sysconf("SC_CLK_TCK")
                    return took
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise SystemExit("agent exited: see " + self.log)
            time.sleep(0.002)
        self.proc.kill()  # not left running after the script gives up
        self.proc.wait()
        raise SystemExit("not serving after %ds: see %s" % (timeout, self.log))

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        self.proc.wait(60)


def put(port, key, value):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("PUT", "/v1/kv/" + key, body=value)
    r = c.getresponse()
    r.read()
    c.close()
    assert r.status == 200, r.status


def seed_load(a):
    """Load KEYS pairs and mem-last through agent a, then kill -9 it."""
    a.start()
    t = time.monotonic()
    while True:
        try:
            c = http.client.HTTPConnection("127.0.0.1", a.http, timeout=2)
            c.request("GET", "/v1/status/leader")
            r = c.getresponse()
            body = r.read()
            c.close()
            if r.status == 200 and body not in (b'""', b""):
                break
        except OSError:
            pass
        if time.monotonic() - t > 60:
            raise SystemExit("seed agent did not start")
        time.sleep(0.05)
    t = time.monotonic()
    load.kv_cairn(a.http, KEYS)
    put(a.http, "mem-last", b"x")
    print("loaded %d keys in %.1f s" % (KEYS, time.monotonic() - t), file=sys.stderr)
    a.stop(signal.SIGKILL)


def main():
    tmp = tempfile.mkdtemp(prefix="restart.", dir=os.environ.get("BENCH_TMPDIR",
                                                                 os.path.join(ROOT, "build")))
    try:
        # BENCH_SEED: a seed kept by an earlier run (BENCH_KEEP), not loaded again
        seed = os.environ.get("BENCH_SEED") or os.path.join(tmp, "seed")
        if not os.environ.get("BENCH_SEED"):
            seed_load(Agent(BIN, seed, os.path.join(tmp, "seed.log"),
                            os.environ.get("BENCH_SEED_ARGS", "").split()))
        bins = [("base", BASE), ("new", BIN)] if BASE else [("new", BIN)]
        env = " ".join("%s=%s" % (k, os.environ[k]) for k in
                       ("BENCH_KEYS", "BENCH_ROUNDS", "BENCH_BASE_BIN", "BENCH_SEED_ARGS",
                        "BENCH_SEED", "BENCH_TIMEOUT")
                       if os.environ.get(k))
        print("# %d keys; reproduce: %sCAIRN_BIN=%s /usr/bin/python3 bench/restart.py"
              % (KEYS, env + " " if env else "", BIN))
        print("# load average %.1f" % os.getloadavg()[0])
        print("%-5s %-5s %-12s %8s %8s" % ("round", "bin", "after", "serving", "CPU"))
        for rnd in range(1, ROUNDS + 1):
            for name, b in bins:
                d = os.path.join(tmp, "d-" + name)
                log = os.path.join(tmp, "%s.log" % name)
                for after, sig in (("clean stop", signal.SIGTERM), ("kill -9", signal.SIGKILL)):
                    # The seed as kill -9 left it (the log, no snapshot); this
                    # binary serves it, stops by `sig`, and starts again.
                    shutil.rmtree(d, ignore_errors=True)
                    shutil.copytree(seed, d)
                    x = Agent(b, d, log)
                    x.start()
                    x.serving("mem-last")
                    x.stop(sig)
                    x = Agent(b, d, log)
                    x.start()
                    s = x.serving("mem-last")
                    print("%-5d %-5s %-12s %7.3fs %7.3fs" % (rnd, name, after, s, x.cpu),
                          flush=True)
                    x.stop(signal.SIGKILL)
        if os.environ.get("BENCH_KEEP"):
            print("kept " + tmp, file=sys.stderr)
    finally:
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
