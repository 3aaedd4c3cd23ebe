"""libcairn sessions, locks and leader election (include/cairn/client.h,
docs/leader-election.md) against a real agent, through
tests/integration/c/libcairn_driver.c.

Consul's semantics: website/content/api-docs/session.mdx (create answers
{"ID"}, renew answers 404 for an unknown session, TTL between 10s and 24h),
api-docs/kv.mdx (?acquire= / ?release= answer true or false) and
docs/dynamic-app-config/sessions/index.mdx (lock-delay after invalidation,
none after a release)."""

import os
import queue
import signal
import time

import pytest

from test_libcairn import DRIVER, Driver

pytestmark = pytest.mark.skipif(not os.path.exists(DRIVER),
                                reason="libcairn_driver not built next to CAIRN_BIN")

TTL_MS = 10000  # Consul's minimum session TTL
LOCK_DELAY_MS = 1000


def _event(d, timeout=30.0):
    return d.events.get(timeout=timeout)


def _no_event(d, timeout):
    try:
        ev = d.events.get(timeout=timeout)
    except queue.Empty:
        return
    raise AssertionError("unexpected event: %s" % ev)


def _holder(agent, key):
    r = agent.get("/v1/kv/" + key)
    if r.status_code == 404:
        return None, None
    e = r.json()[0]
    import base64
    return e.get("Session"), base64.b64decode(e["Value"] or "").decode()


def test_sessions_and_locks_through_libcairn(agent):
    d = Driver(agent, "sess-unused")
    try:
        # Consul refuses a TTL under 10s: the library does not send it
        assert d.cmd("sess create 5000 0").endswith(" -22")  # -EINVAL
        ok, sid = d.cmd("sess create %d %d delete" % (TTL_MS, LOCK_DELAY_MS)).split(" ")
        assert ok == "ok" and len(sid) == 36
        info = agent.get("/v1/session/info/" + sid).json()[0]
        assert info["Behavior"] == "delete" and info["Name"] == "driver"
        assert info["LockDelay"] == LOCK_DELAY_MS * 1000000  # nanoseconds, as Consul
        ok, other = d.cmd("sess create %d 0" % TTL_MS).split(" ")
        assert d.cmd("sess renew " + sid) == "ok"
        assert d.cmd("acquire lib/lock %s me" % sid) == "lock 1"
        assert d.cmd("acquire lib/lock %s me" % sid) == "lock 1"  # held by us: true again
        assert d.cmd("acquire lib/lock %s you" % other) == "lock 0"
        assert _holder(agent, "lib/lock") == (sid, "me")
        assert d.cmd("release lib/lock " + other) == "lock 0"  # not its lock
        assert d.cmd("release lib/lock " + sid) == "lock 1"
        # the PUT body is the new value, a release included (kv.mdx): empty here
        assert _holder(agent, "lib/lock") == (None, "")
        assert d.cmd("acquire lib/lock %s you" % other) == "lock 1"  # no lock-delay after release
        assert d.cmd("sess destroy " + sid) == "ok"
        # renew of a gone session: 404, the distinct -ENOENT
        r = d.cmd("sess renew " + sid)
        assert r.startswith("err ") and r.endswith(" -2") and "404" in r, r
        # the keeper reports the loss of a session destroyed behind its back
        # (destroyed first: its first renewal, sent at once, answers 404)
        assert agent.put("/v1/session/destroy/" + other).status_code == 200
        assert d.cmd("keeper %s %d" % (other, TTL_MS)) == "ok"
        assert _event(d, timeout=10) == "sesslost %s -2" % other
    finally:
        d.close()


def _two_contenders(agent, key):
    a, b = Driver(agent, "elect-unused"), Driver(agent, "elect-unused")
    for d, name in ((a, "a"), (b, "b")):
        assert d.cmd("elect %s %s %d %d" % (key, name, TTL_MS, LOCK_DELAY_MS)) == "ok"
    return a, b


def _first_elected(a, b, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for d, name in ((a, "a"), (b, "b")):
            try:
                ev = d.events.get(timeout=0.05)
            except queue.Empty:
                continue
            assert ev.startswith("elected "), ev
            return d, name, ev.split(" ")[1]
    raise AssertionError("nobody elected")


def test_election_one_leader_then_resign_hands_over(agent):
    key = "svc/e1/leader"
    a, b = _two_contenders(agent, key)
    try:
        leader, name, sid = _first_elected(a, b)
        other, oname = (b, "b") if leader is a else (a, "a")
        assert _holder(agent, key) == (sid, name)
        assert leader.cmd("leader") == "leader 1"
        assert other.cmd("leader") == "leader 0"
        _no_event(other, 1.0)  # exactly one leader: the other keeps waiting
        t0 = time.monotonic()
        assert leader.cmd("resign") == "ok"
        ev = _event(other, timeout=10)
        took = time.monotonic() - t0
        assert ev.startswith("elected "), ev
        # a release has no lock-delay: one blocking round trip
        assert took < LOCK_DELAY_MS / 1000 + 2, took
        nsid = ev.split(" ")[1]
        assert _holder(agent, key) == (nsid, oname)
        assert agent.get("/v1/session/info/" + sid).json() in (None, [])  # destroyed
        _no_event(leader, 0.2)  # resign calls no lost callback
    finally:
        a.close()
        b.close()


def test_election_session_destroyed_leader_told_then_one_leader(agent):
    key = "svc/e2/leader"
    a, b = _two_contenders(agent, key)
    try:
        leader, _, sid = _first_elected(a, b)
        other = b if leader is a else a
        assert agent.put("/v1/session/destroy/" + sid).status_code == 200
        ev = _event(leader, timeout=10)
        assert ev in ("lost -125", "lost -2"), ev  # the key's watch or the keeper
        # after the lock-delay exactly one of the two leads again
        new, _, nsid = _first_elected(a, b, timeout=15)
        assert nsid != sid
        assert _holder(agent, key)[0] == nsid
        loser = other if new is leader else leader
        assert loser.cmd("leader") == "leader 0"
    finally:
        a.close()
        b.close()


def test_election_kill9_leader_ttl_expiry_elects_the_other(agent):
    key = "svc/e3/leader"
    a, b = _two_contenders(agent, key)
    try:
        leader, _, sid = _first_elected(a, b)
        other = b if leader is a else a
        t0 = time.monotonic()
        os.kill(leader.p.pid, signal.SIGKILL)
        leader.p.wait(timeout=10)
        ev = _event(other, timeout=TTL_MS / 1000 * 2 + LOCK_DELAY_MS / 1000 + 10)
        took = time.monotonic() - t0
        assert ev.startswith("elected "), ev
        # not before the TTL could run out: the last renewal was at most TTL/2 ago
        assert took >= TTL_MS / 2000, took
        assert agent.get("/v1/session/info/" + sid).json() in (None, [])  # invalidated
        assert _holder(agent, key)[0] == ev.split(" ")[1]
    finally:
        other.close()


def test_election_leader_told_when_its_agent_is_gone(agent_factory):
    """The guarantee on agent loss (docs/leader-election.md): with no
    renewal succeeding, `lost(-ETIMEDOUT)` comes no later than TTL after the
    sending of the last successful renewal, i.e. before the servers may
    invalidate the session (TTL after receiving it, at the earliest)."""
    a = agent_factory("elgone")
    d = Driver(a, "elect-unused")
    try:
        assert d.cmd("elect svc/e4/leader me %d %d" % (TTL_MS, LOCK_DELAY_MS)) == "ok"
        assert _event(d).startswith("elected ")
        t0 = time.monotonic()
        a.kill9()
        ev = _event(d, timeout=TTL_MS / 1000 + 10)
        took = time.monotonic() - t0
        assert ev == "lost -110", ev  # -ETIMEDOUT
        # the last renewal was sent at most TTL/2 before the kill
        assert TTL_MS / 2000 - 0.5 <= took <= TTL_MS / 1000 + 1.0, took
        assert d.cmd("leader") == "leader 0"
    finally:
        d.close()
