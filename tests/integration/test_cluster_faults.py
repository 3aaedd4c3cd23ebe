"""Faults on a real Raft cluster of cairn servers on loopback: a leader killed
(-9) under a stream of writes, a server restarted after missing a lot
(catch-up through a snapshot), and a majority frozen with SIGSTOP (no write
may be acknowledged, the isolated leader steps down by CheckQuorum, stale
reads keep working with a growing X-Consul-Lastcontact).

The invariant every test checks: a write the cluster acknowledged (HTTP 200
`true`) is on every surviving server. Stopped processes are always continued
and stopped again in teardown (cluster_factory), by PID.
"""

import re
import threading
import time

import requests

from conftest import START_TIMEOUT, wait_until


def kv_stale(agent, key):
    r = agent.get("/v1/kv/" + key, params={"stale": ""}, timeout=5)
    if r.status_code == 404:
        return None
    r.raise_for_status()
    return r.json()[0]


def stale_keys(agent, prefix):
    r = agent.get("/v1/kv/" + prefix, params={"stale": "", "keys": ""}, timeout=30)
    if r.status_code == 404:
        return set()
    r.raise_for_status()
    return set(r.json())


class Writers:
    """N threads writing unique keys to whichever server leads, recording the
    keys whose write was acknowledged (200 and `true`)."""

    def __init__(self, cluster, prefix, nthreads=4, timeout=3.0):
        self.cluster = cluster
        self.prefix = prefix
        self.timeout = timeout
        self.acked = set()
        self.failed = 0
        self.lock = threading.Lock()
        self.stop_ev = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                        for i in range(nthreads)]

    def _target(self, sess, hint):
        """The leader's HTTP port as some live server sees it, else a guess."""
        agents = self.cluster.live()
        if not agents:
            return None
        a = agents[hint % len(agents)]
        try:
            r = sess.get(a.url("/v1/status/leader"), timeout=2)
            ldr = self.cluster.by_rpc(r.json()) if r.status_code == 200 else None
            if ldr is not None and ldr in agents:
                return ldr
        except (requests.RequestException, ValueError):
            pass
        return a

    def _run(self, tid):
        sess = requests.Session()
        n = 0
        hint = tid
        while not self.stop_ev.is_set():
            tgt = self._target(sess, hint)
            if tgt is None:
                time.sleep(0.05)
                continue
            key = "%s/%d/%d" % (self.prefix, tid, n)
            n += 1
            try:
                r = sess.put(tgt.url("/v1/kv/" + key), data=b"v", timeout=self.timeout)
                ok = r.status_code == 200 and r.text.strip() == "true"
            except requests.RequestException:
                ok = False
            with self.lock:
                if ok:
                    self.acked.add(key)
                else:
                    self.failed += 1
            if not ok:
                hint += 1
                time.sleep(0.05)

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def count(self):
        with self.lock:
            return len(self.acked)

    def stop(self):
        self.stop_ev.set()
        for t in self.threads:
            t.join(timeout=30)
        return set(self.acked)


def assert_has_all(agent, prefix, keys, timeout=60):
    """Every acknowledged key reaches `agent` (stale reads, polled: a
    follower may still be applying)."""
    def check():
        missing = keys - stale_keys(agent, prefix + "/")
        return not missing or None
    try:
        wait_until(check, timeout=timeout, interval=0.2, what="acked writes on " + agent.name)
    except BaseException:
        missing = keys - stale_keys(agent, prefix + "/")
        raise AssertionError("%s lacks %d of %d acknowledged writes, e.g. %r"
                             % (agent.name, len(missing), len(keys), sorted(missing)[:5]))


# ---- kill -9 the leader under writes ------------------------------------------------

def test_kill_leader_under_writes_then_restart(cluster_factory):
    c = cluster_factory(3)
    old = c.leader()
    w = Writers(c, "fk").start()
    wait_until(lambda: w.count() >= 50, timeout=60, what="writes before the crash")
    before = w.count()
    old.kill9()
    t0 = time.monotonic()
    # A new leader among the survivors, and writes resume through it.
    new = c.wait_converged(timeout=START_TIMEOUT)
    assert new is not old
    wait_until(lambda: w.count() >= before + 50, timeout=60, what="writes after the crash")
    failover = time.monotonic() - t0
    acked = w.stop()
    assert len(acked) >= before + 50
    for a in c.live():
        assert_has_all(a, "fk", acked)

    # The old leader comes back on its data dir and catches up.
    old.start(wait=True)
    c.wait_converged(timeout=START_TIMEOUT)
    assert_has_all(old, "fk", acked)
    new_leader = c.leader()
    new_leader.kv_put("fk-after-restart", b"1")
    wait_until(lambda: kv_stale(old, "fk-after-restart"), what="new write on the restarted one")
    print("failover (kill -9 -> a write acknowledged again): %.2fs" % failover)


# ---- far behind: catch up through a snapshot -------------------------------------------

def test_far_behind_catches_up_through_snapshot(cluster_factory):
    c = cluster_factory(3, extra_args=["-raft-snapshot-threshold=64",
                                       "-raft-snapshot-interval=100ms"])
    ldr = c.leader()
    lag = [a for a in c.live() if a is not ldr][0]
    ldr.kv_put("snap/first", b"1")
    wait_until(lambda: kv_stale(lag, "snap/first"), what="first write on the laggard")
    assert lag.stop() == 0
    lag_log_len = len(lag.log_text())
    # Well past the threshold and past the entries a leader keeps behind its
    # snapshot for slow followers (1024): the laggard cannot be served from
    # the log and must receive a snapshot.
    written = set()
    def put_range(lo, hi):
        sess = requests.Session()
        for i in range(lo, hi):
            r = sess.put(ldr.url("/v1/kv/snap/%05d" % i), data=b"x" * 64, timeout=30)
            assert r.status_code == 200 and r.text.strip() == "true", r.text
    ths = [threading.Thread(target=put_range, args=(k * 400, (k + 1) * 400)) for k in range(4)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    written = {"snap/%05d" % i for i in range(1600)}
    time.sleep(0.5)  # the interval passes: a snapshot covers the last writes too
    for i in range(1600, 1700):
        ldr.kv_put("snap/%05d" % i, b"y")
        written.add("snap/%05d" % i)
    lag.start(wait=True)
    c.wait_converged(timeout=START_TIMEOUT)
    assert_has_all(lag, "snap", written | {"snap/first"})
    since = lag.log_text()[lag_log_len:]
    assert re.search(r"(?i)installed snapshot.*from the leader", since), \
        "no snapshot from the leader in the laggard's log:\n" + since[-3000:]
    # It is a full member again: a new write reaches it.
    c.leader().kv_put("snap/after", b"1")
    wait_until(lambda: kv_stale(lag, "snap/after"), what="write after catch-up")


# ---- a frozen majority ----------------------------------------------------------------

def test_sigstop_majority(cluster_factory):
    c = cluster_factory(5)
    ldr = c.leader()
    ldr.kv_put("maj/before", b"1")
    follower = [a for a in c.live() if a is not ldr][0]
    wait_until(lambda: kv_stale(follower, "maj/before"), what="write on the follower")
    frozen = [a for a in c.live() if a not in (ldr, follower)]
    assert len(frozen) == 3
    for a in frozen:
        a.sigstop()

    # No write may be acknowledged by a minority: each times out or fails.
    acked = []
    for i in range(3):
        for tgt in (ldr, follower):
            try:
                r = tgt.put("/v1/kv/maj/during-%d" % i, data=b"x", timeout=3)
                if r.status_code == 200 and r.text.strip() == "true":
                    acked.append((tgt.name, i))
            except requests.RequestException:
                pass
    assert acked == [], "a minority acknowledged writes: %r" % acked

    # CheckQuorum: the isolated leader steps down.
    wait_until(lambda: ldr.leader_addr() != ldr.rpc_addr, timeout=30,
               what="the isolated leader to step down")

    # Stale reads from the running follower still answer, with a growing
    # X-Consul-Lastcontact (ms since it last heard from a leader).
    def lastcontact():
        r = follower.get("/v1/kv/maj/before", params={"stale": ""}, timeout=5)
        assert r.status_code == 200, r.text
        return int(r.headers["X-Consul-Lastcontact"])
    lc1 = lastcontact()
    time.sleep(1.5)
    lc2 = lastcontact()
    assert lc2 > lc1 and lc2 >= 1000, (lc1, lc2)
    # A default read cannot be served without a leader.
    r = follower.get("/v1/kv/maj/before", timeout=30)
    assert r.status_code == 500, (r.status_code, r.text)

    for a in frozen:
        a.sigcont()
    new = c.wait_converged(timeout=START_TIMEOUT)
    assert new.kv_put("maj/after", b"1")
    for a in c.live():
        wait_until(lambda: kv_stale(a, "maj/after"), what="maj/after on " + a.name)
