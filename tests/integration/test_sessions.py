"""Sessions (/v1/session/...) and KV ?acquire/?release, through python-consul
(Debian's python3-consul, 0.7.1) and raw HTTP: create/info/list/node/renew/
destroy, Consul's error texts, invalidation by destroy, by a bound check
turning critical and by node deregistration, behavior=delete, lock-delay,
TTL expiry, and the txn lock verbs."""

import base64
import time

import consul
import pytest

from conftest import index_of, wait_until


@pytest.fixture(scope="module")
def c(agent):
    return consul.Consul(host="127.0.0.1", port=agent.http_port)


def url(agent, path):
    return agent.url(path)


def kv(agent, key):
    r = agent.http.get(url(agent, "/v1/kv/" + key))
    return r.json()[0] if r.status_code == 200 else None


def test_create_info_list_node_destroy(agent, c):
    sid = c.session.create(name="web-leader", lock_delay=1)
    assert len(sid) == 36 and sid.count("-") == 4
    idx, s = c.session.info(sid)
    assert int(idx) >= 1
    assert s["ID"] == sid and s["Name"] == "web-leader" and s["Node"] == agent.name
    assert s["LockDelay"] == 1000000000
    assert s["Behavior"] == "release" and s["TTL"] == ""
    assert s["NodeChecks"] == ["serfHealth"]
    assert s["ServiceChecks"] is None
    assert s["CreateIndex"] == s["ModifyIndex"] >= 1
    _, all_ = c.session.list()
    assert sid in [x["ID"] for x in all_]
    _, mine = c.session.node(agent.name)
    assert sid in [x["ID"] for x in mine]
    _, none = c.session.node("nope")
    r = agent.http.get(url(agent, "/v1/session/node/nope"))
    assert r.status_code == 200 and r.text == "[]" and index_of(r) >= 1
    assert none == []
    assert c.session.destroy(sid) is True
    assert c.session.info(sid)[1] is None
    r = agent.http.get(url(agent, "/v1/session/info/" + sid))
    assert r.status_code == 200 and r.json() == []
    # destroying again is still true (idempotent)
    assert c.session.destroy(sid) is True


def test_create_defaults_and_fields(agent):
    r = agent.http.put(url(agent, "/v1/session/create"))  # empty body
    assert r.status_code == 200, r.text
    sid = r.json()["ID"]
    s = agent.http.get(url(agent, "/v1/session/info/" + sid)).json()[0]
    assert s["LockDelay"] == 15000000000 and s["NodeChecks"] == ["serfHealth"]
    # checks: [] drops serfHealth; lowercase keys; numeric lock delay < 1000 is seconds
    r = agent.http.put(url(agent, "/v1/session/create"),
                       json={"name": "x", "checks": [], "lockdelay": 3, "ttl": "10.5s",
                             "behavior": "delete"})
    assert r.status_code == 200, r.text
    s = agent.http.get(url(agent, "/v1/session/info/" + r.json()["ID"])).json()[0]
    assert s["NodeChecks"] is None and s["LockDelay"] == 3000000000
    assert s["TTL"] == "10.5s" and s["Behavior"] == "delete"
    r = agent.http.put(url(agent, "/v1/session/create"), json={"LockDelay": "250ms"})
    s = agent.http.get(url(agent, "/v1/session/info/" + r.json()["ID"])).json()[0]
    assert s["LockDelay"] == 250000000


def test_bad_input_changes_nothing(agent, c):
    before = agent.http.get(url(agent, "/v1/session/list"))
    cases = [
        ({"TTL": "5s"}, 500, "Invalid Session TTL '5000000000', must be between [10s=24h0m0s]"),
        ({"TTL": "25h"}, 500, "Invalid Session TTL"),
        ({"TTL": "abc"}, 500, "Session TTL 'abc' invalid"),
        ({"Checks": ["no-such-check"]}, 500, "Missing check 'no-such-check' registration"),
        ({"Node": "ghost"}, 500, "Missing node registration"),
        ({"Behavior": "explode"}, 500, "Invalid Behavior setting 'explode'"),
        ({"LockDelay": "2m"}, 500, "Lock delay"),
    ]
    for body, status, text in cases:
        r = agent.http.put(url(agent, "/v1/session/create"), json=body)
        assert r.status_code == status, (body, r.text)
        assert r.text.startswith(text), (body, r.text)
    r = agent.http.put(url(agent, "/v1/session/create"), data=b"{not json")
    assert r.status_code == 400
    after = agent.http.get(url(agent, "/v1/session/list"))
    assert after.json() == before.json() and index_of(after) == index_of(before)
    # unknown session: renew 404 with Consul's text; acquire is 500 invalid session
    r = agent.http.put(url(agent, "/v1/session/renew/00000000-0000-0000-0000-000000000000"))
    assert r.status_code == 404
    assert r.text.startswith("Session id '00000000-0000-0000-0000-000000000000' not found")
    with pytest.raises(consul.NotFound):
        c.session.renew("00000000-0000-0000-0000-000000000000")
    r = agent.http.put(url(agent, "/v1/kv/bad/lock?acquire=nope"), data=b"x")
    assert r.status_code == 500 and r.text.startswith('invalid session "nope"')
    assert kv(agent, "bad/lock") is None


def test_acquire_release_lockindex(agent, c):
    s1 = c.session.create(lock_delay=0)
    s2 = c.session.create(lock_delay=0)
    assert c.kv.put("lk/a", "one", acquire=s1) is True
    _, e = c.kv.get("lk/a")
    assert e["Session"] == s1 and e["LockIndex"] == 1 and e["Value"] == b"one"
    # the holder re-acquires: value updated, LockIndex unchanged
    assert c.kv.put("lk/a", "two", acquire=s1) is True
    _, e = c.kv.get("lk/a")
    assert e["LockIndex"] == 1 and e["Value"] == b"two"
    # another session cannot take it nor release it
    assert c.kv.put("lk/a", "three", acquire=s2) is False
    assert c.kv.put("lk/a", "three", release=s2) is False
    _, e = c.kv.get("lk/a")
    assert e["Value"] == b"two" and e["Session"] == s1
    # a plain PUT still overwrites a locked key and keeps the lock
    assert c.kv.put("lk/a", "plain") is True
    _, e = c.kv.get("lk/a")
    assert e["Session"] == s1 and e["Value"] == b"plain"
    assert c.kv.put("lk/a", "rel", release=s1) is True
    _, e = c.kv.get("lk/a")
    assert "Session" not in e and e["LockIndex"] == 1 and e["Value"] == b"rel"
    assert c.kv.put("lk/a", "four", acquire=s2) is True
    _, e = c.kv.get("lk/a")
    assert e["LockIndex"] == 2 and e["Session"] == s2
    # ?cas together with ?acquire (or ?release) is refused, nothing written:
    # Consul's KVSPut (agent/kvs_endpoint.go) starts with
    # conflictingFlags(resp, req, "cas", "acquire", "release"), which answers
    # 400 "Conflicting flags: " + url.Values.Encode() (keys sorted) and a
    # newline (agent/http.go). The "?cas with acquire" is this refusal.
    r = agent.http.put(url(agent, "/v1/kv/lk/a?cas=1&acquire=" + s2), data=b"x")
    assert r.status_code == 400
    assert r.text == "Conflicting flags: acquire=%s&cas=1\n" % s2
    r = agent.http.put(url(agent, "/v1/kv/lk/a?release=%s&cas=0" % s2), data=b"x")
    assert r.status_code == 400
    assert r.text == "Conflicting flags: cas=0&release=%s\n" % s2
    _, e = c.kv.get("lk/a")
    assert e["LockIndex"] == 2 and e["Session"] == s2 and e["Value"] == b"four"
    # after destroy with lock_delay=0 the key is free at once
    assert c.session.destroy(s2)
    _, e = c.kv.get("lk/a")
    assert "Session" not in e
    assert c.kv.put("lk/a", "five", acquire=s1) is True
    c.session.destroy(s1)


def test_lock_delay(agent, c):
    s1 = c.session.create(lock_delay=2)
    s2 = c.session.create(lock_delay=0)
    assert c.kv.put("ld/k", "x", acquire=s1)
    t0 = time.monotonic()
    assert c.session.destroy(s1)
    # within the delay, acquisition fails; the key itself is unlocked
    assert c.kv.put("ld/k", "y", acquire=s2) is False
    _, e = c.kv.get("ld/k")
    assert "Session" not in e and e["Value"] == b"x"
    # an explicit release starts no delay (only invalidation does)
    got = wait_until(lambda: c.kv.put("ld/k", "y", acquire=s2), timeout=30,
                     interval=0.2, what="acquire after the lock-delay")
    assert got is True
    assert time.monotonic() - t0 >= 1.5  # the delay held (it is 2 s, minus polling slack)
    assert c.kv.put("ld/k", "z", release=s2)
    assert c.kv.put("ld/k", "z", acquire=s2)  # a plain release leaves no delay
    c.session.destroy(s2)


def test_behavior_delete(agent, c):
    s = c.session.create(behavior="delete", lock_delay=0)
    assert c.kv.put("eph/one", "1", acquire=s)
    assert c.kv.put("eph/two", "2", acquire=s)
    assert c.kv.put("eph/other", "3")
    c.session.destroy(s)
    assert c.kv.get("eph/one")[1] is None and c.kv.get("eph/two")[1] is None
    assert c.kv.get("eph/other")[1] is not None


def test_check_critical_invalidates(agent, c):
    assert c.agent.check.register("sess-ttl", ttl="300s")
    assert c.agent.check.ttl_pass("sess-ttl")
    wait_until(lambda: any(x["CheckID"] == "sess-ttl" and x["Status"] == "passing"
                           for x in c.health.node(agent.name)[1]), what="check passing")
    sid = c.session.create(checks=["serfHealth", "sess-ttl"], lock_delay=0)
    assert c.kv.put("chk/lock", "held", acquire=sid)
    idx, _ = c.session.info(sid)
    assert c.agent.check.ttl_fail("sess-ttl")
    # the session goes and its lock is released, as one change
    wait_until(lambda: c.session.info(sid)[1] is None, what="session invalidated")
    _, e = c.kv.get("chk/lock")
    assert "Session" not in e and e["Value"] == b"held"
    # a session cannot be created on a critical check
    r = agent.http.put(url(agent, "/v1/session/create"), json={"Checks": ["sess-ttl"]})
    assert r.status_code == 500 and r.text.startswith("Check 'sess-ttl' is in critical state")
    c.agent.check.deregister("sess-ttl")


def test_node_deregistration_invalidates(agent, c):
    assert c.catalog.register("ext-node", "10.9.9.9")
    sid = c.session.create(node="ext-node", checks=[], lock_delay=0)
    assert c.kv.put("ext/lock", "v", acquire=sid)
    _, mine = c.session.node("ext-node")
    assert [x["ID"] for x in mine] == [sid]
    assert c.catalog.deregister("ext-node")
    assert c.session.info(sid)[1] is None
    assert "Session" not in c.kv.get("ext/lock")[1]


def test_blocking_list(agent, c):
    r = agent.http.get(url(agent, "/v1/session/list"))
    idx = index_of(r)
    sid = c.session.create(lock_delay=0)
    r = agent.http.get(url(agent, "/v1/session/list?index=%d&wait=30s" % idx))
    assert index_of(r) > idx and sid in [x["ID"] for x in r.json()]
    c.session.destroy(sid)


def test_renew_and_ttl_expiry(agent, c):
    sid = c.session.create(ttl=10, lock_delay=0)
    assert c.kv.put("ttl/lock", "v", acquire=sid)
    s = c.session.renew(sid)
    assert s["ID"] == sid and s["TTL"] == "10s"
    r = agent.http.put(url(agent, "/v1/session/renew/" + sid))
    assert r.status_code == 200 and r.json()[0]["ID"] == sid
    # not renewed any more: the leader destroys it through the log
    wait_until(lambda: c.session.info(sid)[1] is None, timeout=60, interval=0.2,
               what="TTL expiry")
    assert "Session" not in c.kv.get("ttl/lock")[1]
    with pytest.raises(consul.NotFound):
        c.session.renew(sid)


def test_txn_lock_verbs(agent, c):
    s = c.session.create(lock_delay=0)
    v = base64.b64encode(b"tx").decode()
    r = agent.http.put(url(agent, "/v1/txn"), json=[
        {"KV": {"Verb": "lock", "Key": "tx/l", "Value": v, "Session": s}},
        {"KV": {"Verb": "check-session", "Key": "tx/l", "Session": s}},
    ])
    assert r.status_code == 200, r.text
    res = r.json()["Results"]
    assert res[0]["KV"]["Session"] == s and res[0]["KV"]["LockIndex"] == 1
    other = c.session.create(lock_delay=0)
    r = agent.http.put(url(agent, "/v1/txn"), json=[
        {"KV": {"Verb": "lock", "Key": "tx/l", "Value": v, "Session": other}}])
    assert r.status_code == 409
    assert r.json()["Errors"][0]["What"] == 'failed to lock key "tx/l", lock is already held'
    r = agent.http.put(url(agent, "/v1/txn"), json=[
        {"KV": {"Verb": "unlock", "Key": "tx/l", "Value": v, "Session": s}}])
    assert r.status_code == 200, r.text
    assert "Session" not in c.kv.get("tx/l")[1]
    # an unknown session: a per-op error (409), nothing written
    r = agent.http.put(url(agent, "/v1/txn"), json=[
        {"KV": {"Verb": "lock", "Key": "tx/m", "Value": v, "Session": "nope"}}])
    assert r.status_code == 409
    assert r.json()["Errors"][0]["What"] == 'invalid session "nope"'
    assert c.kv.get("tx/m")[1] is None
    # Session operations are refused, not dropped
    r = agent.http.put(url(agent, "/v1/txn"), json=[
        {"Session": {"Verb": "delete", "Session": {"ID": s}}}])
    assert r.status_code == 400 and "Session operations" in r.text
    assert c.session.info(s)[1] is not None
    c.session.destroy(s)
    c.session.destroy(other)


def test_sessions_survive_restart(agent_factory):
    a = agent_factory("sess-restart")
    c2 = consul.Consul(host="127.0.0.1", port=a.http_port)
    sid = c2.session.create(name="keep", lock_delay=0)
    assert c2.kv.put("keep/lock", "v", acquire=sid)
    a.stop()
    a.start()
    c2 = consul.Consul(host="127.0.0.1", port=a.http_port)
    assert c2.session.info(sid)[1]["Name"] == "keep"
    assert c2.kv.get("keep/lock")[1]["Session"] == sid


def _applied(a):
    return int(a.get("/v1/agent/self").json()["Stats"]["raft"]["applied_index"])


def test_follower_renewal_is_not_a_log_write(cluster_factory):
    """Consul's followers forward Session.Renew to the leader as an RPC
    (agent/consul/session_endpoint.go, Renew: forwarded, then the leader's
    resetSessionTimer); nothing is written to the log. Renewing through a
    follower every 3 s keeps a 10 s session alive for 15 s while the leader's
    applied index does not move; an unknown session is Consul's 404."""
    cl = cluster_factory(3)
    ldr = cl.leader()
    f = cl.followers()[0]
    r = f.put_json("/v1/session/create", {"TTL": "10s", "LockDelay": "0s"})
    assert r.status_code == 200, r.text
    sid = r.json()["ID"]
    wait_until(lambda: _applied(f) == _applied(ldr), what="follower caught up")
    before = _applied(ldr)
    t0 = time.monotonic()
    while time.monotonic() - t0 < 15:
        r = f.put("/v1/session/renew/" + sid)
        assert r.status_code == 200, r.text
        assert r.json()[0]["ID"] == sid and r.json()[0]["TTL"] == "10s"
        time.sleep(3)
    assert ldr.get("/v1/session/info/" + sid).json()[0]["ID"] == sid
    assert _applied(ldr) == before
    r = f.put("/v1/session/renew/00000000-0000-0000-0000-000000000000")
    assert r.status_code == 404
    assert r.text.strip() == "Session id '00000000-0000-0000-0000-000000000000' not found"
    assert _applied(ldr) == before
