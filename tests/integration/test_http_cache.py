"""The cache of encoded catalog and health listings (src/api/cache.c).

The agent runs with CAIRN_HTTP_CACHE_CHECK=abort: every answer served from
the cache is also encoded afresh and compared byte for byte (status, index,
body); a difference aborts the agent, which fails the test. On top of that
the tests compare a cached answer with the first (uncached) encode of the
same request, check that every kind of catalog change is seen, that a KV write
leaves health answers cached, that one write wakes N parked queries for one
encode, and that the byte cap holds.
"""

import threading

import requests

from conftest import index_of, wait_until

HTTP_TIMEOUT = 20


def cache_stats(agent):
    r = requests.get(agent.url("/v1/agent/self"), timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, r.text
    return {k: int(v) for k, v in r.json()["Stats"]["http_cache"].items()}


def register(agent, i, status="passing", output="ok", addr=None, tags=None):
    body = {
        "Node": "n%d" % i,
        "Address": addr or "10.0.0.%d" % i,
        "NodeMeta": {"rack": "r%d" % (i % 2)},
        "Service": {"ID": "web-%d" % i, "Service": "web",
                    "Tags": tags if tags is not None else ["v1", "prod" if i % 2 else "dev"],
                    "Port": 8080, "Meta": {"ver": str(i)}},
        "Check": {"CheckID": "ttl-%d" % i, "Name": "ttl", "Status": status,
                  "ServiceID": "web-%d" % i, "Output": output},
    }
    r = agent.put_json("/v1/catalog/register", body)
    assert r.status_code == 200, r.text


VARIANTS = [
    "/v1/health/service/web",
    "/v1/health/service/web?passing",
    "/v1/health/service/web?passing=true",
    "/v1/health/service/web?tag=v1",
    "/v1/health/service/web?tag=prod",
    "/v1/health/service/web?tag=dev",
    "/v1/health/service/web?tag=v1&tag=prod",
    "/v1/health/service/web?node-meta=rack:r1",
    "/v1/health/service/web?filter=Service.Meta.ver%20%3D%3D%20%223%22",
    "/v1/health/service/web?pretty",
    "/v1/health/service/WEB",
    "/v1/health/service/nosuch",
    "/v1/health/checks/web",
    "/v1/health/node/n1",
    "/v1/health/checks/web?node-meta=rack:r1",
    "/v1/catalog/service/web",
    "/v1/catalog/service/web?tag=dev",
    "/v1/catalog/services",
    "/v1/catalog/services?node-meta=rack:r0",
    "/v1/catalog/nodes",
    "/v1/catalog/nodes?filter=Meta.rack%20%3D%3D%20r1",
    "/v1/catalog/node/n2",
    "/v1/catalog/node-services/n2",
]


def read(agent, path):
    r = requests.get(agent.url(path), timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, (path, r.status_code, r.text)
    return r


def test_cached_answers_match_fresh_encodes(agent_factory, monkeypatch):
    monkeypatch.setenv("CAIRN_HTTP_CACHE_CHECK", "abort")
    a = agent_factory("cache1")
    for i in range(1, 11):
        register(a, i)
    s0 = cache_stats(a)
    assert s0["cap_bytes"] == 16 << 20
    first = {p: read(a, p) for p in VARIANTS}
    s1 = cache_stats(a)
    assert s1["misses"] - s0["misses"] == len(VARIANTS)
    for p in VARIANTS:
        r = read(a, p)
        assert r.content == first[p].content, p
        assert index_of(r) == index_of(first[p]), p
        for h in ("Content-Type", "X-Consul-Knownleader", "X-Consul-Effective-Consistency"):
            assert r.headers.get(h) == first[p].headers.get(h), (p, h)
    s2 = cache_stats(a)
    assert s2["hits"] - s1["hits"] == len(VARIANTS)
    assert s2["mismatches"] == 0
    # Tag variants are distinct answers.
    v1 = first["/v1/health/service/web?tag=prod"].json()
    v2 = first["/v1/health/service/web?tag=dev"].json()
    assert len(v1) == 5 and len(v2) == 5
    assert {e["Service"]["ID"] for e in v1}.isdisjoint({e["Service"]["ID"] for e in v2})
    assert first["/v1/health/service/web?pretty"].content != first["/v1/health/service/web"].content
    # The consistency modes answer the same bytes (?consistent does its round first).
    base = first["/v1/health/service/web"].content
    for q in ("?stale", "?consistent", "?cached"):
        r = read(a, "/v1/health/service/web" + q)
        assert r.content == base, q
    assert read(a, "/v1/health/service/web?consistent").headers[
        "X-Consul-Effective-Consistency"] == "consistent"
    assert cache_stats(a)["mismatches"] == 0


def test_near_is_not_cached(agent_factory, monkeypatch):
    """?near= answers follow coordinates, which a cached entry's watch does
    not cover: they are encoded every time, neither hits nor misses."""
    monkeypatch.setenv("CAIRN_HTTP_CACHE_CHECK", "abort")
    a = agent_factory("cachenear")
    register(a, 1)
    s0 = cache_stats(a)
    for _ in range(3):
        assert read(a, "/v1/health/service/web?near=_agent").status_code == 200
    s1 = cache_stats(a)
    assert (s1["hits"], s1["misses"], s1["stores"]) == (s0["hits"], s0["misses"], s0["stores"])


def test_every_change_invalidates(agent_factory, monkeypatch):
    monkeypatch.setenv("CAIRN_HTTP_CACHE_CHECK", "abort")
    a = agent_factory("cache2")
    for i in range(1, 11):
        register(a, i)
    h = "/v1/health/service/web"

    def warm():
        for p in (h, h + "?passing", h + "?tag=prod"):
            read(a, p)
            read(a, p)  # now cached

    def ids(path):
        return sorted(e["Service"]["ID"] for e in read(a, path).json())

    warm()
    idx = index_of(read(a, h))
    # KV writes never touch the service: the answers stay cached.
    s = cache_stats(a)
    a.kv_put("unrelated/key", b"x")
    r = read(a, h)
    s2 = cache_stats(a)
    assert s2["hits"] == s["hits"] + 1 and s2["misses"] == s["misses"]
    assert index_of(r) == idx
    # Register a new instance.
    register(a, 11)
    assert len(ids(h)) == 11
    assert index_of(read(a, h)) > idx
    warm()
    # Deregister one.
    r = a.put_json("/v1/catalog/deregister", {"Node": "n11", "ServiceID": "web-11"})
    assert r.status_code == 200
    assert len(ids(h)) == 10
    warm()
    # A check turns critical: ?passing drops the instance.
    register(a, 3, status="critical")
    assert "web-3" not in ids(h + "?passing") and len(ids(h)) == 10
    warm()
    # Check output only.
    register(a, 3, status="critical", output="disk full")
    outs = [c["Output"] for e in read(a, h).json() for c in e["Checks"]]
    assert "disk full" in outs
    warm()
    # Node change (address) shows in every instance of that node.
    register(a, 4, addr="10.9.9.9")
    assert any(e["Node"]["Address"] == "10.9.9.9" for e in read(a, h).json())
    warm()
    # Tags change moves the instance between tag variants.
    register(a, 5, tags=["v2"])
    assert "web-5" not in ids(h + "?tag=prod")
    # Whole node deregistered.
    r = a.put_json("/v1/catalog/deregister", {"Node": "n6"})
    assert r.status_code == 200
    assert "web-6" not in ids(h)
    st = cache_stats(a)
    assert st["invalidations"] > 0 and st["mismatches"] == 0


def test_parked_waiters_share_one_encode(agent_factory, monkeypatch):
    monkeypatch.setenv("CAIRN_HTTP_CACHE_CHECK", "0")
    a = agent_factory("cache3")
    for i in range(1, 4):
        register(a, i)
    h = "/v1/health/service/web"
    idx = index_of(read(a, h))
    n = 12
    base_parked = a.parked()
    out, errs = [], []

    def waiter():
        try:
            r = requests.get(a.url(h), params={"index": idx, "wait": "30s"}, timeout=40)
            out.append((r.status_code, index_of(r), r.content))
        except BaseException as e:
            errs.append(e)
    ts = [threading.Thread(target=waiter) for _ in range(n)]
    for t in ts:
        t.start()
    a.wait_parked(base_parked + n)
    before = cache_stats(a)
    register(a, 7)
    for t in ts:
        t.join(40)
    assert not errs and len(out) == n
    assert all(s == 200 and i > idx for s, i, _ in out)
    assert len({c for _, _, c in out}) == 1
    after = cache_stats(a)
    # One write, n waiters woken: one encode kept, n - 1 served from it
    # (the register's own read of nothing else touches these counters).
    assert after["stores"] - before["stores"] == 1
    assert after["hits"] - before["hits"] == n - 1
    wait_until(lambda: a.parked() == base_parked, what="waiters answered")


def test_eviction_under_the_cap(agent_factory, monkeypatch):
    monkeypatch.setenv("CAIRN_HTTP_CACHE_CHECK", "abort")
    cap = 64 * 1024
    cfg = agent_factory("cache4", start=False)
    cfgfile = cfg.workdir + "/cache.hcl"
    with open(cfgfile, "w") as f:
        f.write("http_cache_max_bytes = %d\n" % cap)
    cfg.extra_args = ["-config-file=" + cfgfile]
    cfg.start()
    a = cfg
    for i in range(1, 11):
        register(a, i)
    size = len(read(a, "/v1/health/service/web").content)
    assert size > 4000
    for k in range(40):  # 40 distinct keys of one ~size answer each
        read(a, "/v1/health/service/web?v=%d" % k)
        st = cache_stats(a)
        assert st["bytes"] <= cap, st
    st = cache_stats(a)
    assert st["evictions"] > 0 and st["entries"] < 40
    assert st["entries"] * size <= cap
    # The newest entry is still there (LRU drops the oldest).
    h0 = st["hits"]
    read(a, "/v1/health/service/web?v=39")
    assert cache_stats(a)["hits"] == h0 + 1
    read(a, "/v1/health/service/web?v=0")  # long gone
    assert cache_stats(a)["hits"] == h0 + 1
    assert cache_stats(a)["mismatches"] == 0


def test_cache_disabled(agent_factory):
    cfg = agent_factory("cache5", start=False)
    cfgfile = cfg.workdir + "/nocache.hcl"
    with open(cfgfile, "w") as f:
        f.write("http_cache_max_bytes = 0\n")
    cfg.extra_args = ["-config-file=" + cfgfile]
    cfg.start()
    register(cfg, 1)
    read(cfg, "/v1/health/service/web")
    read(cfg, "/v1/health/service/web")
    st = cache_stats(cfg)
    assert st["hits"] == 0 and st["entries"] == 0 and st["cap_bytes"] == 0


def test_health_state_not_cached(agent_factory, monkeypatch):
    """/v1/health/state shows ServiceTags and filters by ?node-meta, which
    change without a check write: never served from the cache."""
    monkeypatch.setenv("CAIRN_HTTP_CACHE_CHECK", "abort")
    a = agent_factory("cache6")
    register(a, 1)
    for _ in range(2):
        read(a, "/v1/health/state/any")
    h = cache_stats(a)["hits"]
    register(a, 1, tags=["changed"])
    r = read(a, "/v1/health/state/any").json()
    assert any(c.get("ServiceTags") == ["changed"] for c in r)
    assert cache_stats(a)["hits"] == h
