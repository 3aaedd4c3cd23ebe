#!/usr/bin/python3
"""Reproducer for a stale default-mode read found by the fault harness
(make fault SEED=300 RUNS=2, run seed 301, `pause` of the leader):

    1. a client holds a keep-alive connection to the leader L;
    2. L is SIGSTOPped; the other servers elect a new leader and acknowledge
       a write of a new value;
    3. a default-mode read (and a ?consistent one, on a second connection) is
       sent to L while it is still stopped; then L gets SIGCONT;
    4. L answers. Linearizable answer: the new value (or an error). A stale
       one: the value from before the pause.

With --partition, L is also cut from the other servers from the SIGSTOP
until its answers (nftables, as the harness does), so that no message from
the new leader can reach it first; --partition-first cuts it just before the
SIGSTOP instead (no acknowledgement of L's last heartbeats can then be
waiting in its socket buffers when it resumes).

Prints one line per attempt and exits 1 if any answer was stale. Needs root;
the servers run in network namespaces exactly as in the harness.

    CAIRN_BIN=$PWD/build/release/cairn /usr/bin/python3 tests/fault/repro_paused_leader.py 20
    ... repro_paused_leader.py --partition 5
"""

import base64
import os
import shutil
import signal
import sys
import threading
import time

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import netns  # noqa: E402


def value(resp):
    if isinstance(resp, Exception):
        return type(resp).__name__
    if resp.status_code == 200:
        return base64.b64decode(resp.json()[0]["Value"]).decode()
    return "%d %s" % (resp.status_code, resp.text.strip()[:40])


def attempts(tries, cut=False, cut_first=False, pause_after=0.2, log=print):
    """Run `tries` attempts on a fresh 3-server cluster; returns (number of
    stale answers, run dir). Namespaces and servers are always removed."""
    run = harness.Run(0, n=3, duration=0)
    stale = 0
    try:
        run.net.create()
        run.servers = [harness.Server(run, i) for i in range(3)]
        for sv in run.servers:
            sv.start()
        s = harness.session()
        for k in range(tries):
            run.wait_formed()
            ldr = run.servers[run.leader_index()]
            other = run.servers[(ldr.i + 1) % 3]
            conns = {m: harness.session() for m in ("default", "consistent")}
            for c in conns.values():
                c.get(ldr.base + "/v1/kv/p", timeout=5)  # keep-alive connections to L
            old, new = "old%d" % k, "new%d" % k
            assert s.put(ldr.base + "/v1/kv/p", data=old, timeout=5).text.strip() == "true"
            isolate = run.net.cut_rules([(ldr.i, j) for j in range(3) if j != ldr.i])
            if cut_first:
                run.net.apply(isolate)
            ldr.sigstop()
            if cut and not cut_first:
                run.net.apply(isolate)
            t = time.monotonic()
            while True:
                if time.monotonic() - t > 60:
                    raise RuntimeError("no new leader acknowledged a write in 60 s")
                try:
                    r = s.put(other.base + "/v1/kv/p", data=new, timeout=3)
                    if r.text.strip() == "true":
                        break
                except requests.RequestException:
                    pass
            acked = time.monotonic() - t
            out = {}

            def read(mode):
                params = {"consistent": ""} if mode == "consistent" else {}
                try:
                    out[mode] = conns[mode].get(ldr.base + "/v1/kv/p", params=params, timeout=15)
                except requests.RequestException as e:
                    out[mode] = e

            ts = [threading.Thread(target=read, args=(m,)) for m in conns]
            for th in ts:
                th.start()
            time.sleep(pause_after)
            ldr.sigcont()
            t_cont = time.monotonic()
            for th in ts:
                th.join()
            answered = time.monotonic() - t_cont
            run.net.heal()
            got = {m: value(out[m]) for m in conns}
            bad = [m for m in got if got[m] == old]
            stale += bool(bad)
            log("%d: s%d paused; %s acknowledged by s%d after %.2fs; reads sent to the paused "
                "s%d: default -> %s, consistent -> %s (both answered %.3fs after SIGCONT)%s" % (
                    k, ldr.i, new, other.i, acked, ldr.i, got["default"], got["consistent"],
                    answered, "   STALE (%s)" % ",".join(bad) if bad else ""))
            time.sleep(1.0)
    finally:
        for sv in run.servers:
            sv.sigcont()
            sv.terminate()
        run.net.destroy()
    return stale, run.dir


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    signal.signal(signal.SIGTERM, lambda n, f: sys.exit(128 + n))
    netns.cleanup_leftovers()
    stale, rundir = attempts(int(args[0]) if args else 10,
                             cut="--partition" in sys.argv,
                             cut_first="--partition-first" in sys.argv,
                             pause_after=float(args[1]) if len(args) > 1 else 0.2,
                             log=lambda text: print(text, flush=True))
    n = int(args[0]) if args else 10
    print("stale answers: %d of %d" % (stale, n))
    if stale:
        print("server logs: %s" % rundir)
    else:
        shutil.rmtree(rundir, ignore_errors=True)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
