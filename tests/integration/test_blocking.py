"""Blocking queries (Consul api-docs/features/blocking.mdx): ?index=N&wait=T
parks until the result's index passes N or the wait runs out.

No speed assertions, no sleeps: a writer waits until the server reports the
reader parked (Stats.cairn.http_parked in /v1/agent/self) before it writes, so
the write is a change the parked query must see. Upper bounds are only
generous guards against a hang. Lower bounds check that a query really waited
(the server may add jitter, never subtract). Every test ends with the parked
count back where it started: an answered query no longer counts.
"""

import base64
import json
import socket
import threading
import time

from conftest import index_of, wait_until

GUARD = 20.0  # seconds; only catches a query that never wakes


def _when_parked(agent, n, fn):
    """Run fn in a thread once n more blocking queries than now are parked."""
    base = agent.parked()
    err = []

    def run():
        try:
            agent.wait_parked(base + n)
            fn()
        except BaseException as e:  # reported by the caller
            err.append(e)
    t = threading.Thread(target=run)
    t.start()
    return t, err, base


def test_put_wakes_key_watcher(agent):
    agent.kv_put("blk/a", b"one")
    r = agent.get("/v1/kv/blk/a")
    idx = index_of(r)
    t, err, base = _when_parked(agent, 1, lambda: agent.kv_put("blk/a", b"two"))
    start = time.monotonic()
    r = agent.get("/v1/kv/blk/a", params={"index": idx, "wait": "30s"}, timeout=60)
    elapsed = time.monotonic() - start
    t.join()
    assert not err, err
    assert agent.parked() == base
    assert r.status_code == 200
    [kv] = r.json()
    assert base64.b64decode(kv["Value"]) == b"two"
    assert index_of(r) > idx
    assert index_of(r) == kv["ModifyIndex"]
    assert elapsed < GUARD


def test_wait_expires_with_same_index(agent):
    agent.kv_put("blk/quiet", b"q")
    r = agent.get("/v1/kv/blk/quiet")
    idx = index_of(r)
    start = time.monotonic()
    r = agent.get("/v1/kv/blk/quiet", params={"index": idx, "wait": "1s"}, timeout=60)
    elapsed = time.monotonic() - start
    assert r.status_code == 200
    assert index_of(r) == idx
    assert base64.b64decode(r.json()[0]["Value"]) == b"q"
    assert elapsed >= 0.9, "returned after %.2fs with wait=1s and no change" % elapsed
    assert elapsed < GUARD


def test_unrelated_write_does_not_wake(agent):
    agent.kv_put("blk/watched", b"w")
    r = agent.get("/v1/kv/blk/watched")
    idx = index_of(r)

    def writes():
        agent.kv_put("blk/unrelated", b"u1")
        agent.kv_put("blk/watched-not", b"u2")  # shares a prefix, different key
        agent.put_json("/v1/catalog/register", {"Node": "blkn", "Address": "192.0.2.1"})
    t, err, base = _when_parked(agent, 1, writes)
    start = time.monotonic()
    r = agent.get("/v1/kv/blk/watched", params={"index": idx, "wait": "2s"}, timeout=60)
    elapsed = time.monotonic() - start
    t.join()
    assert not err, err
    assert agent.parked() == base
    assert r.status_code == 200
    assert index_of(r) == idx
    assert base64.b64decode(r.json()[0]["Value"]) == b"w"
    assert elapsed >= 1.8, "an unrelated write woke the watcher after %.2fs" % elapsed


def test_missing_key_wakes_on_creation(agent):
    r = agent.get("/v1/kv/blk/later")
    assert r.status_code == 404
    idx = index_of(r)
    t, err, base = _when_parked(agent, 1, lambda: agent.kv_put("blk/later", b"here"))
    start = time.monotonic()
    r = agent.get("/v1/kv/blk/later", params={"index": idx, "wait": "30s"}, timeout=60)
    elapsed = time.monotonic() - start
    t.join()
    assert not err, err
    assert agent.parked() == base
    assert r.status_code == 200
    assert base64.b64decode(r.json()[0]["Value"]) == b"here"
    assert index_of(r) > idx
    assert elapsed < GUARD


def test_delete_wakes_key_watcher_with_404(agent):
    agent.kv_put("blk/gone", b"x")
    idx = index_of(agent.get("/v1/kv/blk/gone"))
    t, err, base = _when_parked(agent, 1, lambda: agent.delete("/v1/kv/blk/gone"))
    r = agent.get("/v1/kv/blk/gone", params={"index": idx, "wait": "30s"}, timeout=60)
    t.join()
    assert not err, err
    assert agent.parked() == base
    assert r.status_code == 404
    assert index_of(r) > idx


def test_recurse_watcher_wakes_on_child_write(agent):
    agent.kv_put("blkdir/a", b"1")
    r = agent.get("/v1/kv/blkdir/", params={"recurse": ""})
    idx = index_of(r)
    t, err, base = _when_parked(agent, 1, lambda: agent.kv_put("blkdir/deep/b", b"2"))
    r = agent.get("/v1/kv/blkdir/", params={"recurse": "", "index": idx, "wait": "30s"},
                  timeout=60)
    t.join()
    assert not err, err
    assert agent.parked() == base
    assert r.status_code == 200
    assert [p["Key"] for p in r.json()] == ["blkdir/a", "blkdir/deep/b"]
    assert index_of(r) > idx


def test_health_service_wakes_on_registration(agent):
    r = agent.get("/v1/health/service/blksvc")
    assert r.status_code == 200 and r.json() == []
    idx = index_of(r)
    t, err, base = _when_parked(agent, 1, lambda: agent.put_json("/v1/catalog/register", {
        "Node": "blknode", "Address": "192.0.2.2",
        "Service": {"ID": "blksvc1", "Service": "blksvc", "Port": 80}}))
    start = time.monotonic()
    r = agent.get("/v1/health/service/blksvc", params={"index": idx, "wait": "30s"},
                  timeout=60)
    elapsed = time.monotonic() - start
    t.join()
    assert not err, err
    assert agent.parked() == base
    assert r.status_code == 200
    assert [e["Service"]["ID"] for e in r.json()] == ["blksvc1"]
    assert index_of(r) > idx
    assert elapsed < GUARD


def test_health_service_wakes_on_check_change(agent):
    agent.put_json("/v1/catalog/register", {
        "Node": "blknode2", "Address": "192.0.2.3",
        "Service": {"ID": "hc1", "Service": "blkhc", "Port": 80},
        "Check": {"CheckID": "hc1chk", "Name": "hc", "Status": "passing", "ServiceID": "hc1"}})
    r = agent.get("/v1/health/service/blkhc", params={"passing": ""})
    assert len(r.json()) == 1
    idx = index_of(r)
    t, err, base = _when_parked(agent, 1, lambda: agent.put_json("/v1/catalog/register", {
        "Node": "blknode2", "Address": "192.0.2.3",
        "Check": {"CheckID": "hc1chk", "Name": "hc", "Status": "critical",
                  "ServiceID": "hc1"}}))
    r = agent.get("/v1/health/service/blkhc",
                  params={"passing": "", "index": idx, "wait": "30s"}, timeout=60)
    t.join()
    assert not err, err
    assert agent.parked() == base
    assert r.status_code == 200
    assert r.json() == []
    assert index_of(r) > idx


def test_catalog_services_wakes_on_new_service(agent):
    r = agent.get("/v1/catalog/services")
    idx = index_of(r)
    t, err, base = _when_parked(agent, 1, lambda: agent.put_json("/v1/catalog/register", {
        "Node": "blknode3", "Address": "192.0.2.4",
        "Service": {"ID": "ns1", "Service": "blknew", "Port": 80}}))
    r = agent.get("/v1/catalog/services", params={"index": idx, "wait": "30s"}, timeout=60)
    t.join()
    assert not err, err
    assert agent.parked() == base
    assert "blknew" in r.json()
    assert index_of(r) > idx


def test_many_watchers_all_wake(agent):
    agent.kv_put("blk/herd", b"0")
    idx = index_of(agent.get("/v1/kv/blk/herd"))
    results = [None] * 20

    def watch(i):
        import requests
        try:
            results[i] = requests.get(agent.url("/v1/kv/blk/herd"),
                                      params={"index": idx, "wait": "30s"}, timeout=60)
        except Exception as e:  # reported below
            results[i] = e
    base = agent.parked()
    threads = [threading.Thread(target=watch, args=(i,)) for i in range(len(results))]
    for th in threads:
        th.start()
    agent.wait_parked(base + len(results))
    agent.kv_put("blk/herd", b"1")
    for th in threads:
        th.join(timeout=60)
    assert agent.parked() == base
    for r in results:
        assert not isinstance(r, Exception), r
        assert r is not None and r.status_code == 200
        assert base64.b64decode(r.json()[0]["Value"]) == b"1"
        assert index_of(r) > idx


def test_index_zero_and_no_index_return_at_once(agent):
    agent.kv_put("blk/z", b"z")
    for params in ({"index": "0", "wait": "30s"}, {"wait": "30s"}):
        start = time.monotonic()
        r = agent.get("/v1/kv/blk/z", params=params, timeout=60)
        assert r.status_code == 200
        # Not a blocking query at all: it must not sit out the 30 s wait.
        assert time.monotonic() - start < GUARD


def test_expired_query_is_no_longer_parked(agent):
    agent.kv_put("blk/exp", b"e")
    idx = index_of(agent.get("/v1/kv/blk/exp"))
    base = agent.parked()
    r = agent.get("/v1/kv/blk/exp", params={"index": idx, "wait": "1s"}, timeout=60)
    assert r.status_code == 200 and index_of(r) == idx
    assert agent.parked() == base


def test_client_gone_is_no_longer_parked(agent):
    """A client that hangs up while parked: the server forgets the query."""
    agent.kv_put("blk/hangup", b"h")
    idx = index_of(agent.get("/v1/kv/blk/hangup"))
    base = agent.parked()
    s = socket.create_connection(("127.0.0.1", agent.http_port), timeout=10)
    try:
        s.sendall(b"GET /v1/kv/blk/hangup?index=%d&wait=5m HTTP/1.1\r\n"
                  b"Host: x\r\n\r\n" % idx)
        agent.wait_parked(base + 1)
    finally:
        s.close()
    wait_until(lambda: agent.parked() == base, timeout=30,
               what="the parked count to drop after the client hung up")
    # The agent still serves and the key is unchanged.
    assert agent.kv_get("blk/hangup")["Value"] is not None


def _read_response(f):
    """(status, headers dict lower-cased, body) of one HTTP/1.1 response."""
    status = int(f.readline().split()[1])
    headers = {}
    while True:
        line = f.readline()
        if line in (b"\r\n", b""):
            break
        k, _, v = line.decode().partition(":")
        headers[k.strip().lower()] = v.strip()
    body = f.read(int(headers.get("content-length", "0")))
    return status, headers, body


def test_pipelined_request_behind_parked_query(agent):
    """A request pipelined behind a parked query on the same connection waits
    for it (answers in order), and the connection then serves another
    blocking query: a parked connection keeps the bytes that came after its
    request and parses them only once it has answered."""
    agent.kv_put("blk/pipe", b"1")
    idx = index_of(agent.get("/v1/kv/blk/pipe"))
    base = agent.parked()
    s = socket.create_connection(("127.0.0.1", agent.http_port), timeout=GUARD)
    try:
        f = s.makefile("rb")
        s.sendall(b"GET /v1/kv/blk/pipe?index=%d&wait=5m HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /v1/kv/blk/pipe?raw HTTP/1.1\r\nHost: x\r\n\r\n" % idx)
        agent.wait_parked(base + 1)
        agent.kv_put("blk/pipe", b"2")
        st, h, body = _read_response(f)
        assert st == 200 and int(h["x-consul-index"]) > idx
        assert base64.b64decode(json.loads(body)[0]["Value"]) == b"2"
        st, h, body = _read_response(f)
        assert st == 200 and body == b"2"
        # The same connection parks again, and its wait runs out unchanged.
        idx2 = int(h["x-consul-index"])
        s.sendall(b"GET /v1/kv/blk/pipe?index=%d&wait=1s HTTP/1.1\r\nHost: x\r\n\r\n" % idx2)
        st, h, body = _read_response(f)
        assert st == 200 and int(h["x-consul-index"]) == idx2
    finally:
        s.close()
    wait_until(lambda: agent.parked() == base, timeout=30,
               what="the parked count back where it started")
