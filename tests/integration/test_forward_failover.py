"""Writes through a follower right after the leader is killed (-9), on a
real 3-server cluster on loopback: exact re-forwarding (docs/architecture.md,
"Followers, forwarding and reads").

The first write is forwarded to the leader while it is frozen, then the
leader is killed: it never answers. One client, no retries: every write
must be answered 200 `true` (the
follower holds it until a new leader exists and re-forwards it there, no
7 s wait then 500), and none may be applied twice: a CAS increment applied
twice would answer `false` (its second application fails the CAS) or leave
the counter off; a SET applied twice moves its key's ModifyIndex past its
CreateIndex. Nothing here asserts on timing.
"""

import base64
import threading
import time

import requests

from conftest import START_TIMEOUT, wait_until

TIMEOUT = 10.0  # per request, like a client without retries
STEPS = 20


def read_counter(agent, key, **params):
    """(value, ModifyIndex) of key, read through `agent`."""
    r = agent.get("/v1/kv/" + key, params=params, timeout=TIMEOUT)
    assert r.status_code == 200, (agent.name, r.status_code, r.text)
    kv = r.json()[0]
    return int(base64.b64decode(kv["Value"])), kv["ModifyIndex"]


def cas_put(agent, key, value, index):
    r = agent.put("/v1/kv/" + key, params={"cas": str(index)}, data=str(value).encode(),
                  timeout=TIMEOUT)
    return r.status_code, r.text.strip()


def kv_stale(agent, key):
    r = agent.get("/v1/kv/" + key, params={"stale": ""}, timeout=5)
    if r.status_code == 404:
        return None
    r.raise_for_status()
    return r.json()[0]


def during_leader_kill(ldr, write):
    """Run write() (one request through a follower) while the leader is
    frozen (SIGSTOP), then kill -9 the leader: the follower has forwarded the
    write to it, and it never answers. Returns write()'s result, or the
    exception it raised."""
    ldr.sigstop()
    out = {}

    def run():
        try:
            out["r"] = write()
        except requests.RequestException as e:
            out["r"] = e

    t = threading.Thread(target=run, daemon=True)
    t.start()
    # Time for the follower to forward it; the test holds whether it did or not.
    time.sleep(0.2)
    ldr.kill9()
    ldr.stopped = False
    t.join(timeout=TIMEOUT + 5)
    return out.get("r", "no answer")


def stale_int(agent, key):
    kv = kv_stale(agent, key)
    return int(base64.b64decode(kv["Value"])) if kv else None


def test_cas_increments_through_follower_after_leader_kill(cluster_factory):
    c = cluster_factory(3)
    ldr = c.leader()
    f = [a for a in c.live() if a is not ldr][0]
    ldr.kv_put("ctr", b"0")
    wait_until(lambda: kv_stale(f, "ctr"), what="the counter on the follower")
    val, idx = read_counter(f, "ctr", stale="")
    assert val == 0

    # The first write is in flight to the leader when it dies.
    first = during_leader_kill(ldr, lambda: cas_put(f, "ctr", val + 1, idx))
    assert first == (200, "true"), first
    answers = [first]
    for i in range(1, STEPS):
        val, idx = read_counter(f, "ctr")
        status, body = cas_put(f, "ctr", val + 1, idx)
        answers.append((status, body))
        assert (status, body) == (200, "true"), "step %d: %r (all: %r)" % (i, (status, body),
                                                                          answers)
    new = c.wait_converged(timeout=START_TIMEOUT)
    assert new is not ldr
    final, _ = read_counter(new, "ctr", consistent="")
    assert final == STEPS == len(answers)
    for a in c.live():
        wait_until(lambda: stale_int(a, "ctr") == STEPS, what="the counter on " + a.name)


def test_unique_keys_through_follower_after_leader_kill(cluster_factory):
    c = cluster_factory(3)
    ldr = c.leader()
    f = [a for a in c.live() if a is not ldr][0]
    ldr.kv_put("uk/warm", b"1")
    wait_until(lambda: kv_stale(f, "uk/warm"), what="a write on the follower")

    sess = requests.Session()
    first = during_leader_kill(
        ldr, lambda: sess.put(f.url("/v1/kv/uk/000"), data=b"v", timeout=TIMEOUT))
    assert not isinstance(first, (str, Exception)), first
    assert (first.status_code, first.text.strip()) == (200, "true"), (first.status_code,
                                                                      first.text)
    for i in range(1, STEPS):
        r = sess.put(f.url("/v1/kv/uk/%03d" % i), data=b"v", timeout=TIMEOUT)
        assert (r.status_code, r.text.strip()) == (200, "true"), (i, r.status_code, r.text)
    c.wait_converged(timeout=START_TIMEOUT)
    for a in c.live():
        for i in range(STEPS):
            key = "uk/%03d" % i
            kv = wait_until(lambda: kv_stale(a, key), what=key + " on " + a.name)
            # Applied once: a second SET would have moved ModifyIndex.
            assert kv["CreateIndex"] == kv["ModifyIndex"], (a.name, kv)
