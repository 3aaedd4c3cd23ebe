"""KV endpoints (Consul api-docs/kv.mdx, api/kv.go), raw HTTP and
python-consul 0.7.1."""

import base64
import threading

from conftest import index_of

MAX_VALUE = 512 * 1024  # Consul's default kv_max_value_size


def test_put_get_delete(agent):
    r = agent.put("/v1/kv/basic/foo", data=b"bar")
    assert r.status_code == 200
    assert r.json() is True
    assert r.headers.get("Content-Type", "").startswith("application/json")

    r = agent.get("/v1/kv/basic/foo")
    assert r.status_code == 200
    assert r.headers.get("Content-Type", "").startswith("application/json")
    [kv] = r.json()
    assert kv["Key"] == "basic/foo"
    assert base64.b64decode(kv["Value"]) == b"bar"
    assert kv["Flags"] == 0
    assert kv["LockIndex"] == 0
    assert kv["CreateIndex"] >= 1
    assert kv["ModifyIndex"] == kv["CreateIndex"]
    assert not kv.get("Session")
    # A single key's index is that key's own ModifyIndex.
    assert index_of(r) == kv["ModifyIndex"]

    # Overwrite: ModifyIndex moves, CreateIndex stays.
    assert agent.kv_put("basic/foo", b"baz") is True
    kv2 = agent.kv_get("basic/foo")
    assert base64.b64decode(kv2["Value"]) == b"baz"
    assert kv2["CreateIndex"] == kv["CreateIndex"]
    assert kv2["ModifyIndex"] > kv["ModifyIndex"]

    r = agent.delete("/v1/kv/basic/foo")
    assert r.status_code == 200 and r.json() is True
    assert agent.kv_get("basic/foo") is None
    # Deleting a missing key is still true.
    r = agent.delete("/v1/kv/basic/foo")
    assert r.status_code == 200 and r.json() is True


def test_missing_key_is_404_with_index(agent):
    r = agent.get("/v1/kv/no/such/key")
    assert r.status_code == 404
    assert r.content == b""
    assert index_of(r) >= 1
    assert r.headers.get("X-Consul-KnownLeader") == "true"
    assert r.headers.get("X-Consul-LastContact") is not None
    r = agent.get("/v1/kv/no/such/", params={"recurse": ""})
    assert r.status_code == 404
    assert index_of(r) >= 1
    r = agent.get("/v1/kv/no/such/", params={"keys": ""})
    assert r.status_code == 404
    assert index_of(r) >= 1


def test_empty_value_is_null(agent):
    assert agent.kv_put("empty/v", b"") is True
    kv = agent.kv_get("empty/v")
    assert kv["Value"] is None
    r = agent.get("/v1/kv/empty/v", params={"raw": ""})
    assert r.status_code == 200 and r.content == b""


def test_binary_value_roundtrip_and_raw(agent):
    value = bytes(range(256)) * 4
    assert agent.kv_put("bin/v", value) is True
    kv = agent.kv_get("bin/v")
    assert base64.b64decode(kv["Value"]) == value
    r = agent.get("/v1/kv/bin/v?raw")
    assert r.status_code == 200
    assert r.content == value
    # Never sniffed, never JSON (CVE-2020-25864).
    assert r.headers.get("Content-Type", "").startswith("text/plain")
    assert index_of(r) == kv["ModifyIndex"]


def test_flags(agent):
    assert agent.kv_put("flags/a", b"x", flags="42") is True
    assert agent.kv_get("flags/a")["Flags"] == 42
    big = 2 ** 64 - 1  # uint64 kept exact
    assert agent.kv_put("flags/b", b"x", flags=str(big)) is True
    assert agent.kv_get("flags/b")["Flags"] == big
    # A write without flags resets them to 0, as in Consul.
    assert agent.kv_put("flags/a", b"y") is True
    assert agent.kv_get("flags/a")["Flags"] == 0
    # Consul answers a bad number with an error (its handler returns the
    # ParseUint error); what matters is that nothing is written.
    r = agent.put("/v1/kv/flags/c?flags=notanumber", data=b"x")
    assert r.status_code in (400, 500)
    assert agent.kv_get("flags/c") is None


def test_cas(agent):
    # cas=0: create only if absent.
    assert agent.kv_put("cas/k", b"v1", cas="0") is True
    assert agent.kv_put("cas/k", b"v2", cas="0") is False
    kv = agent.kv_get("cas/k")
    assert base64.b64decode(kv["Value"]) == b"v1"
    mi = kv["ModifyIndex"]
    # cas=ModifyIndex succeeds once; the old index is stale after that.
    assert agent.kv_put("cas/k", b"v3", cas=str(mi)) is True
    assert agent.kv_put("cas/k", b"v4", cas=str(mi)) is False
    kv = agent.kv_get("cas/k")
    assert base64.b64decode(kv["Value"]) == b"v3"
    assert kv["ModifyIndex"] > mi
    # cas on a missing key with a non-zero index fails.
    assert agent.kv_put("cas/missing", b"x", cas="5") is False
    assert agent.kv_get("cas/missing") is None
    r = agent.put("/v1/kv/cas/k?cas=abc", data=b"x")
    assert r.status_code in (400, 500)
    assert base64.b64decode(agent.kv_get("cas/k")["Value"]) == b"v3"
    # Delete with cas.
    r = agent.delete("/v1/kv/cas/k", params={"cas": str(mi)})
    assert r.status_code == 200 and r.json() is False
    assert agent.kv_get("cas/k") is not None
    r = agent.delete("/v1/kv/cas/k", params={"cas": str(kv["ModifyIndex"])})
    assert r.status_code == 200 and r.json() is True
    assert agent.kv_get("cas/k") is None


def test_recurse_keys_separator(agent):
    for k in ("tree/a", "tree/b/c", "tree/b/d", "tree/e/f/g", "treetop", "other"):
        assert agent.kv_put(k, k.encode()) is True
    r = agent.get("/v1/kv/tree/", params={"recurse": ""})
    assert r.status_code == 200
    pairs = r.json()
    assert [p["Key"] for p in pairs] == ["tree/a", "tree/b/c", "tree/b/d", "tree/e/f/g"]
    for p in pairs:
        assert base64.b64decode(p["Value"]) == p["Key"].encode()
    assert index_of(r) == max(p["ModifyIndex"] for p in pairs)

    r = agent.get("/v1/kv/tree?recurse")  # prefix match is on bytes, not segments
    assert [p["Key"] for p in r.json()] == ["tree/a", "tree/b/c", "tree/b/d", "tree/e/f/g",
                                            "treetop"]

    r = agent.get("/v1/kv/tree/?keys")
    assert r.status_code == 200
    assert r.json() == ["tree/a", "tree/b/c", "tree/b/d", "tree/e/f/g"]
    assert index_of(r) >= 1

    r = agent.get("/v1/kv/tree/", params={"keys": "", "separator": "/"})
    assert r.status_code == 200
    assert r.json() == ["tree/a", "tree/b/", "tree/e/"]

    r = agent.get("/v1/kv/", params={"keys": "", "separator": "/"})
    keys = r.json()
    assert "tree/" in keys and "treetop" in keys and "other" in keys
    assert "tree/a" not in keys


def test_delete_recurse(agent):
    for k in ("dr/a", "dr/b/c", "drx"):
        agent.kv_put(k, b"1")
    r = agent.delete("/v1/kv/dr/", params={"recurse": ""})
    assert r.status_code == 200 and r.json() is True
    assert agent.get("/v1/kv/dr/?recurse").status_code == 404
    assert agent.kv_get("drx") is not None


def test_recurse_index_does_not_go_back_after_delete(agent):
    agent.kv_put("tomb/a", b"1")
    agent.kv_put("tomb/b", b"2")
    i1 = index_of(agent.get("/v1/kv/tomb/?recurse"))
    agent.delete("/v1/kv/tomb/b")  # the highest-index key under the prefix
    i2 = index_of(agent.get("/v1/kv/tomb/?recurse"))
    assert i2 > i1


def test_url_encoded_key(agent):
    assert agent.kv_put("enc/sp%20ace", b"v") is True
    r = agent.get("/v1/kv/enc/", params={"keys": ""})
    assert r.json() == ["enc/sp ace"]
    assert agent.kv_get("enc/sp%20ace")["Key"] == "enc/sp ace"


def test_value_limit_413_and_state_unchanged(agent):
    assert agent.kv_put("big/k", b"before") is True
    before = agent.kv_get("big/k")
    r = agent.put("/v1/kv/big/k", data=b"x" * (MAX_VALUE + 1))
    assert r.status_code == 413
    assert "application/json" not in r.headers.get("Content-Type", "")
    after = agent.kv_get("big/k")
    assert after == before
    r = agent.put("/v1/kv/big/new", data=b"x" * (MAX_VALUE + 1))
    assert r.status_code == 413
    assert agent.kv_get("big/new") is None
    # Exactly the limit is allowed and comes back intact.
    val = bytes((i * 7) & 0xFF for i in range(MAX_VALUE))
    assert agent.kv_put("big/max", val) is True
    r = agent.get("/v1/kv/big/max?raw")
    assert r.status_code == 200 and r.content == val


def test_wrong_methods(agent):
    r = agent.request("POST", "/v1/kv/m")
    assert r.status_code == 405


def test_python_consul_kv(agent):
    c = agent.consul()
    assert c.kv.put("py/x", "v1") is True
    idx, kv = c.kv.get("py/x")
    assert kv["Value"] == b"v1"
    assert int(idx) == kv["ModifyIndex"]
    assert c.kv.put("py/x", "v2", cas=0) is False
    assert c.kv.put("py/x", "v2", cas=kv["ModifyIndex"]) is True
    assert c.kv.put("py/y", "w", flags=7) is True
    idx, kvs = c.kv.get("py/", recurse=True)
    assert [k["Key"] for k in kvs] == ["py/x", "py/y"]
    assert kvs[1]["Flags"] == 7
    idx, keys = c.kv.get("py/", keys=True)
    assert keys == ["py/x", "py/y"]
    idx, missing = c.kv.get("py/none")
    assert missing is None and int(idx) >= 1
    assert c.kv.delete("py/y") is True
    assert c.kv.get("py/y")[1] is None
    assert c.kv.delete("py/", recurse=True) is True
    assert c.kv.get("py/", recurse=True)[1] is None


def test_python_consul_kv_index_blocking(agent):
    c = agent.consul()
    c.kv.put("pyb/k", "one")
    idx, kv = c.kv.get("pyb/k")
    base = agent.parked()

    def writer():
        agent.wait_parked(base + 1)  # the watcher is parked: now write
        agent.consul().kv.put("pyb/k", "two")
    t = threading.Thread(target=writer)
    t.start()
    try:
        idx2, kv2 = c.kv.get("pyb/k", index=idx, wait="20s")
    finally:
        t.join()
    assert kv2["Value"] == b"two"
    assert int(idx2) > int(idx)
    assert int(idx2) == kv2["ModifyIndex"]
