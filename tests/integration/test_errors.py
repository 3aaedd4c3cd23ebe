"""Bad input and HTTP edge cases: every rejection is a clear status with a
plain-text body, leaves the state as it was, and the agent keeps serving.

Statuses follow Consul (agent/http.go, api-structure.mdx) and RFC 9110/6585
(413 Content Too Large, 431 Request Header Fields Too Large)."""

import json
import socket

import pytest
import requests

from conftest import _Reader, raw_send_large, read_response

SNAPSHOT_READS = [
    "/v1/catalog/nodes",
    "/v1/catalog/services",
    "/v1/health/state/any",
    "/v1/agent/services",
    "/v1/agent/checks",
    "/v1/kv/?recurse",
]


def snapshot(agent):
    out = {}
    for path in SNAPSHOT_READS:
        r = agent.get(path)
        out[path] = (r.status_code, r.content, r.headers.get("X-Consul-Index"))
    return out


def assert_plain_error(r, status):
    assert r.status_code == status, (r.request.method, r.url, r.status_code, r.text)
    assert "application/json" not in r.headers.get("Content-Type", ""), r.headers


@pytest.fixture(scope="module")
def seeded(agent):
    """Something in every table, and a TTL check for /agent/check/update."""
    assert agent.kv_put("err/k", b"v") is True
    r = agent.put_json("/v1/agent/service/register",
                       {"ID": "errsvc", "Name": "errsvc", "Port": 1,
                        "Check": {"CheckID": "errchk", "TTL": "600s"}})
    assert r.status_code == 200, r.text
    r = agent.put_json("/v1/catalog/register", {
        "Node": "errnode", "Address": "192.0.2.9",
        "Service": {"ID": "e1", "Service": "errcat", "Port": 2}})
    assert r.status_code == 200, r.text
    # Let anti-entropy settle so the snapshot is stable.
    import time
    prev = None
    for _ in range(50):
        cur = snapshot(agent)
        if cur == prev:
            break
        prev = cur
        time.sleep(0.2)
    return agent


JSON_ENDPOINTS = [
    "/v1/agent/service/register",
    "/v1/agent/check/register",
    "/v1/agent/check/update/errchk",
    "/v1/catalog/register",
    "/v1/catalog/deregister",
    "/v1/txn",
]

MALFORMED = [
    b"",
    b"{",
    b"not json",
    b'{"Name": "x",}',
    b'{"Name": "x"',
    b'{"Name": "x"} trailing',
    b'{"Name": "x"}{"Name": "y"}',
    b"\xff\xfe\x00garbage",
    b'{"Name": "\\ud800 bad escape \\q"}',
    b"[1, 2,]",
    b"nul",
]


@pytest.mark.parametrize("path", JSON_ENDPOINTS)
def test_malformed_json_is_400_and_state_unchanged(seeded, path):
    agent = seeded
    before = snapshot(agent)
    for body in MALFORMED:
        r = agent.put(path, data=body)
        assert_plain_error(r, 400)
    # The wrong JSON type for the endpoint is malformed too.
    wrong = b'{"KV": {}}' if path == "/v1/txn" else b'["Name", "x"]'
    assert_plain_error(agent.put(path, data=wrong), 400)
    assert snapshot(agent) == before


def test_unknown_route_is_404(agent):
    for path in ("/v1/nope", "/v1/catalog/nope", "/v2/kv/x", "/nothing", "/v1"):
        r = agent.get(path)
        assert_plain_error(r, 404)


@pytest.mark.parametrize("method,path", [
    ("DELETE", "/v1/catalog/nodes"),
    ("PUT", "/v1/catalog/services"),
    ("POST", "/v1/kv/err/k"),
    ("PATCH", "/v1/kv/err/k"),
    ("PUT", "/v1/status/leader"),
    ("GET", "/v1/catalog/register"),
    ("GET", "/v1/catalog/deregister"),
    ("GET", "/v1/agent/service/register"),
    ("GET", "/v1/agent/check/register"),
    ("DELETE", "/v1/health/service/errcat"),
    ("GET", "/v1/txn"),
])
def test_wrong_method_is_405(seeded, method, path):
    agent = seeded
    before = snapshot(agent)
    r = agent.request(method, path, data=b"{}")
    assert_plain_error(r, 405)
    assert snapshot(agent) == before


def test_get_accepted_on_agent_write_endpoints(seeded):
    """python-consul 0.7.1 sends GET here (as Consul 0.7 accepted)."""
    agent = seeded
    r = agent.put_json("/v1/agent/service/register",
                       {"ID": "getsvc", "Name": "getsvc",
                        "Check": {"CheckID": "getchk", "TTL": "600s"}})
    assert r.status_code == 200
    for verb, status in (("pass", "passing"), ("warn", "warning"), ("fail", "critical")):
        r = agent.get("/v1/agent/check/%s/getchk" % verb, params={"note": verb})
        assert r.status_code == 200, (verb, r.status_code, r.text)
        chk = agent.get("/v1/agent/checks").json()["getchk"]
        assert chk["Status"] == status
        assert chk["Output"] == verb
    r = agent.put("/v1/agent/check/pass/getchk")
    assert r.status_code == 200
    r = agent.get("/v1/agent/check/deregister/getchk")
    assert r.status_code == 200
    assert "getchk" not in agent.get("/v1/agent/checks").json()
    r = agent.get("/v1/agent/service/deregister/getsvc")
    assert r.status_code == 200
    assert "getsvc" not in agent.get("/v1/agent/services").json()
    # Unknown check: an error, not 405.
    r = agent.get("/v1/agent/check/pass/no-such-check")
    assert r.status_code not in (200, 405)


def test_check_update_body(seeded):
    agent = seeded
    r = agent.put_json("/v1/agent/check/update/errchk",
                       {"Status": "warning", "Output": "hmm"})
    assert r.status_code == 200
    chk = agent.get("/v1/agent/checks").json()["errchk"]
    assert chk["Status"] == "warning" and chk["Output"] == "hmm"
    r = agent.put_json("/v1/agent/check/update/errchk", {"Status": "bogus"})
    assert_plain_error(r, 400)
    assert agent.get("/v1/agent/checks").json()["errchk"]["Status"] == "warning"


def test_oversized_body_is_413(seeded):
    agent = seeded
    before = snapshot(agent)
    big = 9 * 1024 * 1024  # past the 8 MiB body limit
    head = ("PUT /v1/catalog/register HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
            "Content-Type: application/json\r\n\r\n" % big).encode()
    resp = raw_send_large(agent.http_port, head, big)
    assert resp.status == 413, resp
    # A huge declared length is refused without waiting for the body.
    head = (b"PUT /v1/kv/err/huge HTTP/1.1\r\nHost: x\r\n"
            b"Content-Length: 1000000000000\r\n\r\n")
    resp = raw_send_large(agent.http_port, head, 0)
    assert resp.status == 413, resp
    # Chunked bodies are limited too.
    head = (b"PUT /v1/kv/err/chunked HTTP/1.1\r\nHost: x\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    chunk = b"10000\r\n" + b"c" * 0x10000 + b"\r\n"
    s = socket.create_connection(("127.0.0.1", agent.http_port), timeout=30)
    try:
        s.sendall(head)
        try:
            for _ in range(200):  # 12.5 MiB at most
                s.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        resp = read_response(_Reader(s, 30))
    finally:
        s.close()
    assert resp.status == 413, resp
    assert snapshot(agent) == before
    assert agent.get("/v1/status/leader").status_code == 200


@pytest.mark.parametrize("query", [
    "index=abc", "index=-1", "index=1.5", "index=99999999999999999999",
    "index=1&wait=abc", "index=1&wait=10", "index=1&wait=5x",
])
def test_bad_index_or_wait_is_400(seeded, query):
    agent = seeded
    for path in ("/v1/kv/err/k", "/v1/catalog/services", "/v1/health/service/errcat"):
        r = agent.get(path + "?" + query)
        assert_plain_error(r, 400)


def test_stale_with_consistent_is_400(agent):
    for path in ("/v1/kv/err/k", "/v1/catalog/nodes", "/v1/health/service/errcat"):
        r = agent.get(path + "?stale&consistent")
        assert_plain_error(r, 400)


def _assert_still_serving(agent):
    r = agent.get("/v1/status/leader")
    assert r.status_code == 200 and r.json()
    r = agent.get("/v1/kv/err/k")
    assert r.status_code == 200


@pytest.mark.parametrize("junk", [
    b"GARBAGE\r\n\r\n",
    b"\x00\x01\x02\x03\x04\r\n\r\n",
    b"GET\r\n\r\n",
    b"GET /v1/status/leader HTTP/1.1\r\nHost x no colon\r\n\r\n",
    b"GET /v1/status/leader HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
    b"GET /v1/status/leader HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    b"PUT /v1/kv/err/j HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    b"GET /v1/status/leader HTTP/1.1\r\nTransfer-Encoding: chunked\r\n"
    b"Content-Length: 3\r\n\r\n0\r\n\r\n",
])
def test_garbage_http_is_400_and_agent_keeps_serving(seeded, junk):
    agent = seeded
    [resp] = agent.raw(junk)
    assert resp.status == 400, (junk, resp)
    _assert_still_serving(agent)
    assert agent.kv_get("err/j") is None


def test_header_too_large_is_431(seeded):
    agent = seeded
    head = b"GET /v1/status/leader HTTP/1.1\r\nHost: x\r\nX-Big: "
    resp = raw_send_large(agent.http_port, head, 100 * 1024, tail=b"\r\n\r\n")
    assert resp.status == 431, resp
    # Many small headers add up the same way.
    many = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 100) for i in range(1000))
    resp = raw_send_large(agent.http_port,
                          b"GET /v1/status/leader HTTP/1.1\r\nHost: x\r\n" + many,
                          0, tail=b"\r\n")
    assert resp.status == 431, resp
    _assert_still_serving(agent)


def test_keepalive_and_pipelining(seeded):
    agent = seeded
    reqs = (b"GET /v1/status/leader HTTP/1.1\r\nHost: x\r\n\r\n"
            b"PUT /v1/kv/err/pipe HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
            b"GET /v1/kv/err/pipe?raw HTTP/1.1\r\nHost: x\r\n\r\n")
    s = socket.create_connection(("127.0.0.1", agent.http_port), timeout=30)
    try:
        s.sendall(reqs)
        rd = _Reader(s, 30)
        r1, r2, r3 = (read_response(rd) for _ in range(3))
        assert r1.status == 200 and json.loads(r1.body)
        assert r2.status == 200 and json.loads(r2.body) is True
        assert r3.status == 200 and r3.body == b"hello"
        assert int(r3.header("X-Consul-Index")) >= 1
        # The connection is still usable afterwards (keep-alive).
        s.sendall(b"GET /v1/kv/err/pipe HTTP/1.1\r\nHost: x\r\n\r\n")
        r4 = read_response(rd)
        assert r4.status == 200
        assert json.loads(r4.body)[0]["Key"] == "err/pipe"
        # Connection: close is honoured.
        s.sendall(b"GET /v1/status/leader HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        r5 = read_response(rd)
        assert r5.status == 200
        assert rd.read_to_eof() == b""
    finally:
        s.close()


def test_http10_gets_an_answer(seeded):
    [resp] = seeded.raw(b"GET /v1/status/leader HTTP/1.0\r\n\r\n")
    assert resp.status == 200
    assert json.loads(resp.body)


def test_pipelined_error_then_request(seeded):
    """A 404 or 405 does not poison the connection."""
    agent = seeded
    reqs = (b"GET /v1/nope HTTP/1.1\r\nHost: x\r\n\r\n"
            b"POST /v1/kv/err/k HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
            b"GET /v1/kv/err/k?raw HTTP/1.1\r\nHost: x\r\n\r\n")
    s = socket.create_connection(("127.0.0.1", agent.http_port), timeout=30)
    try:
        s.sendall(reqs)
        rd = _Reader(s, 30)
        r1, r2, r3 = (read_response(rd) for _ in range(3))
    finally:
        s.close()
    assert (r1.status, r2.status, r3.status) == (404, 405, 200)
    assert r3.body == b"v"



def _raw(agent, method, target, body=None):
    """One request with the target sent as written (requests/urllib3 would
    normalize dot segments); returns (status, headers, body)."""
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", agent.http_port, timeout=30)
    try:
        c.request(method, target, body=body)
        r = c.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        c.close()


def test_unclean_path_is_301_to_the_clean_one_and_not_served(agent):
    """Go's ServeMux, in front of every Consul endpoint, answers a path with
    a doubled slash, "." or ".." with 301 to the cleaned path, its query
    kept (a KV key with "//" cannot be written in Consul either)."""
    assert agent.put("/v1/kv/clean/a", data=b"1").status_code == 200
    st, h, body = _raw(agent, "GET", "/v1/kv/clean//a?raw")
    assert st == 301 and h["location"] == "/v1/kv/clean/a?raw", (st, h)
    assert h["content-type"] == "text/html; charset=utf-8"
    assert body == b'<a href="/v1/kv/clean/a?raw">Moved Permanently</a>.\n\n'
    st, h, body = _raw(agent, "PUT", "/v1/kv/clean/./b?flags=3", body=b"x")
    assert st == 301 and h["location"] == "/v1/kv/clean/b?flags=3", (st, h)
    assert "content-type" not in h and body == b""
    st, h, _ = _raw(agent, "GET", "/v1/kv/clean/x/../a")
    assert st == 301 and h["location"] == "/v1/kv/clean/a", (st, h)
    st, h, _ = _raw(agent, "GET", "//v1/status/leader")
    assert st == 301 and h["location"] == "/v1/status/leader", (st, h)
    # the decoded path is what is cleaned, escaped again in the Location
    st, h, _ = _raw(agent, "GET", "/v1/kv/clean/%2Fa%20b")
    assert st == 301 and h["location"] == "/v1/kv/clean/a%20b", (st, h)
    # nothing was written through the redirected PUT
    keys = agent.get("/v1/kv/clean/", params={"keys": ""}).json()
    assert keys == ["clean/a"], keys
    # a client that follows the redirect reads the key
    r = requests.get(agent.url("/v1/kv/clean//a"), params={"raw": ""}, timeout=30)
    assert r.status_code == 200 and r.content == b"1" and r.history[0].status_code == 301
    # clean paths are served as before, a trailing slash included
    st, _, _ = _raw(agent, "GET", "/v1/kv/clean/?keys")
    assert st == 200
