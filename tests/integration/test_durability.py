"""Durability: an acknowledged write survives kill -9; clean restarts keep
everything; a torn WAL tail is truncated on recovery, corruption elsewhere
stops the agent with a message naming the file (docs/format-storage.md, storage.h).

On-disk layout (src/storage/storage.h): DATA_DIR/raft/wal/*.wal and
DATA_DIR/raft/snapshots/*.snap."""

import base64
import glob
import os
import random
import threading

import requests

from conftest import index_of, wait_until


def wal_segments(agent):
    return sorted(glob.glob(os.path.join(agent.data_dir, "raft", "wal", "*.wal")))


def snapshots(agent):
    return sorted(glob.glob(os.path.join(agent.data_dir, "raft", "snapshots", "*.snap")))


def data_end(path):
    """Offset just past the last non-zero byte (segments may be preallocated
    with zeros)."""
    with open(path, "rb") as f:
        data = f.read()
    return len(data.rstrip(b"\0"))


def kv_dump(agent, prefix):
    r = agent.get("/v1/kv/" + prefix, params={"recurse": ""})
    if r.status_code == 404:
        return {}
    assert r.status_code == 200, r.text
    return {p["Key"]: base64.b64decode(p["Value"] or "") for p in r.json()}


def log_since_last_start(agent):
    text = agent.log_text()
    i = text.rfind("===== start #")
    return text[i:] if i >= 0 else text


def stream_writes(agent, prefix, nthreads, min_acked, max_per_thread=20000):
    """Start nthreads writers of unique keys; return (acked dict, stop fn)
    once at least min_acked writes were acknowledged (200 + true)."""
    acked = {}
    lock = threading.Lock()
    stop = threading.Event()
    salt = "%08x" % random.getrandbits(32)

    def writer(t):
        s = requests.Session()
        for i in range(max_per_thread):
            if stop.is_set():
                break
            key = "%s/%d/%06d" % (prefix, t, i)
            val = ("%s-%d-%d-" % (salt, t, i)).encode() * 3
            try:
                r = s.put(agent.url("/v1/kv/" + key), data=val, timeout=30)
            except requests.RequestException:
                break
            if r.status_code == 200 and r.content.strip() == b"true":
                with lock:
                    acked[key] = val
        s.close()

    threads = [threading.Thread(target=writer, args=(t,), daemon=True)
               for t in range(nthreads)]
    for th in threads:
        th.start()

    def count():
        with lock:
            return len(acked) >= min_acked
    wait_until(count, timeout=120, what="%d acknowledged writes" % min_acked)

    def finish():
        stop.set()
        for th in threads:
            th.join(timeout=60)
        with lock:
            return dict(acked)
    return finish


def test_kill9_loses_no_acknowledged_write(agent_factory):
    a = agent_factory("dur-kill")
    all_acked = {}
    for rnd in range(2):
        finish = stream_writes(a, "dur/r%d" % rnd, nthreads=4, min_acked=300)
        a.kill9()  # mid-stream: writers are still sending
        acked = finish()
        all_acked.update(acked)
        a.start()
        got = kv_dump(a, "dur/")
        missing = [k for k in all_acked if k not in got]
        wrong = [k for k in all_acked if k in got and got[k] != all_acked[k]]
        assert not missing, "%d acknowledged keys lost after kill -9 (round %d), e.g. %s" % (
            len(missing), rnd, sorted(missing)[:5])
        assert not wrong, "values changed after kill -9: %s" % wrong[:5]
        # Writers stopped at the first error; every key they wrote is unique,
        # so anything beyond the acknowledged set is an in-flight write.
        assert len(got) >= len(all_acked)
        print("round %d: %d acknowledged, %d present after kill -9 + restart"
              % (rnd, len(all_acked), len(got)))
    # Still writable after recovery.
    assert a.kv_put("dur/after", b"ok") is True


def test_clean_restart_keeps_kv_and_catalog(agent_factory):
    a = agent_factory("dur-clean")
    for i in range(50):
        assert a.kv_put("clean/k%02d" % i, ("v%d" % i).encode(), flags=str(i)) is True
    a.kv_put("clean/k07", b"overwritten")
    a.delete("/v1/kv/clean/k08")
    r = a.put_json("/v1/catalog/register", {
        "Node": "persist-node", "Address": "192.0.2.77", "NodeMeta": {"m": "1"},
        "Service": {"ID": "pdb", "Service": "pdb", "Tags": ["x"], "Port": 5432},
        "Check": {"CheckID": "pdb-chk", "Name": "pdb", "Status": "passing",
                  "ServiceID": "pdb"}})
    assert r.status_code == 200
    r = a.put_json("/v1/agent/service/register",
                   {"ID": "pweb1", "Name": "pweb", "Port": 80, "Tags": ["t"]})
    assert r.status_code == 200
    wait_until(lambda: a.get("/v1/catalog/service/pweb").json(), what="pweb in catalog")

    kv_before = a.get("/v1/kv/clean/?recurse").json()
    nodes_before = {n["Node"]: n for n in a.get("/v1/catalog/nodes").json()}
    pdb_before = a.get("/v1/catalog/service/pdb").json()
    idx_before = index_of(a.get("/v1/catalog/nodes"))
    kv_idx_before = index_of(a.get("/v1/kv/clean/?recurse"))

    rc = a.stop()
    assert rc == 0, "SIGTERM exit code %s; log:\n%s" % (rc, a.log_tail())
    assert a.sanitizer_report() is None, a.sanitizer_report()
    a.start()

    assert a.get("/v1/kv/clean/?recurse").json() == kv_before  # indexes and flags too
    assert index_of(a.get("/v1/kv/clean/?recurse")) == kv_idx_before
    nodes_after = {n["Node"]: n for n in a.get("/v1/catalog/nodes").json()}
    assert nodes_after["persist-node"] == nodes_before["persist-node"]
    assert a.get("/v1/catalog/service/pdb").json() == pdb_before
    [e] = a.get("/v1/health/service/pdb", params={"passing": ""}).json()
    assert e["Checks"][0]["CheckID"] == "pdb-chk"
    assert index_of(a.get("/v1/catalog/nodes")) >= idx_before
    # A service registered through the agent API comes back too (Consul
    # persists local services in its data dir).
    assert "pweb1" in a.get("/v1/agent/services").json()
    wait_until(lambda: [x["ServiceID"] for x in a.get("/v1/catalog/service/pweb").json()]
               == ["pweb1"], what="pweb1 still in catalog after restart")


def _fill(agent, prefix, n, marker=None):
    for i in range(n):
        val = ("%s-value-%04d" % (prefix, i)).encode()
        if marker is not None and i == n // 2:
            val = marker
        assert agent.kv_put("%s/%04d" % (prefix, i), val) is True


def test_corrupt_wal_byte_refuses_to_start(agent_factory):
    a = agent_factory("dur-corrupt")
    marker = b"CORRUPT-ME-" + b"%032x" % random.getrandbits(128)
    _fill(a, "cor", 200, marker=marker)
    a.kill9()  # no shutdown-time snapshot can hide the WAL

    segs = wal_segments(a)
    assert segs, "no WAL segments under %s" % os.path.join(a.data_dir, "raft", "wal")
    target, pos = None, None
    for seg in segs:
        with open(seg, "rb") as f:
            data = f.read()
        at = data.find(marker)
        if at >= 0:
            target, pos = seg, at + len(marker) // 2
            break
    if target is None:  # values not stored verbatim: use the middle of the data
        target = max(segs, key=data_end)
        pos = data_end(target) // 2
    print("flipping byte %d of %s (data ends at %d)" % (pos, target, data_end(target)))
    assert pos < data_end(target) - 64, "corruption must not be in the tail"
    with open(target, "r+b") as f:
        f.seek(pos)
        b = f.read(1)
        f.seek(pos)
        f.write(bytes([b[0] ^ 0x5A]))

    a.start(wait=False)
    rc = a.wait_exit(timeout=60)
    if rc is None:
        a.kill9()
    log = log_since_last_start(a)
    assert rc is not None, "agent kept running on a corrupt WAL; log:\n" + log[-3000:]
    assert rc != 0, "agent exited 0 on a corrupt WAL; log:\n" + log[-3000:]
    assert os.path.basename(target) in log, (
        "error does not name %s:\n%s" % (os.path.basename(target), log[-3000:]))
    # Nothing was "repaired" behind our back: the byte is still flipped and
    # the file was not truncated.
    with open(target, "rb") as f:
        f.seek(pos)
        assert f.read(1) == bytes([b[0] ^ 0x5A])
    assert data_end(target) > pos


def test_torn_tail_is_truncated_and_earlier_data_kept(agent_factory):
    a = agent_factory("dur-torn")
    _fill(a, "torn", 50)
    rc = a.stop()
    assert rc == 0
    segs = wal_segments(a)
    assert segs, "no WAL segments"
    last = segs[-1]
    end = data_end(last)
    assert end > 16
    with open(last, "r+b") as f:
        f.truncate(end - 3)

    a.start()
    log = log_since_last_start(a)
    assert "truncat" in log.lower(), "no truncation notice in log:\n" + log[-3000:]
    got = kv_dump(a, "torn/")
    for i in range(49):  # the very last record may be the one torn
        k = "torn/%04d" % i
        assert got.get(k) == ("torn-value-%04d" % i).encode(), k
    # And it keeps working: new writes land and survive another restart.
    assert a.kv_put("torn/new", b"n") is True
    assert a.stop() == 0
    a.start()
    assert a.kv_get("torn/new") is not None
    assert kv_dump(a, "torn/").keys() >= {"torn/%04d" % i for i in range(49)}


def test_zero_filled_tail_is_not_corruption(agent_factory):
    a = agent_factory("dur-zero")
    _fill(a, "zero", 20)
    a.kill9()
    last = wal_segments(a)[-1]
    with open(last, "ab") as f:
        f.write(b"\0" * 4096)
    a.start()
    got = kv_dump(a, "zero/")
    assert len(got) == 20


def test_snapshot_and_restart_keep_everything(agent_factory):
    a = agent_factory("dur-snap", extra_args=["-raft-snapshot-threshold=64",
                                                "-raft-snapshot-interval=100ms"])
    r = a.put_json("/v1/catalog/register", {
        "Node": "snapnode", "Address": "192.0.2.88",
        "Service": {"ID": "snapsvc1", "Service": "snapsvc", "Port": 1}})
    assert r.status_code == 200
    _fill(a, "snap", 300)
    for i in range(0, 300, 10):
        a.kv_put("snap/%04d" % i, b"rewritten-%d" % i)
    a.delete("/v1/kv/snap/0001")
    wait_until(lambda: snapshots(a), timeout=60, what="a snapshot file in raft/snapshots")

    def expected():
        exp = {"snap/%04d" % i: ("snap-value-%04d" % i).encode() for i in range(300)}
        for i in range(0, 300, 10):
            exp["snap/%04d" % i] = b"rewritten-%d" % i
        del exp["snap/0001"]
        return exp

    before_idx = index_of(a.get("/v1/kv/snap/?recurse"))
    a.kill9()
    a.start()
    assert kv_dump(a, "snap/") == expected()
    assert index_of(a.get("/v1/kv/snap/?recurse")) == before_idx
    assert [e["ServiceID"] for e in a.get("/v1/catalog/service/snapsvc").json()] == ["snapsvc1"]

    # More writes after recovery (log tail on top of the snapshot), then a
    # clean restart.
    _fill(a, "snap2", 100)
    assert a.stop() == 0
    a.start()
    assert kv_dump(a, "snap/") == expected()
    assert len(kv_dump(a, "snap2/")) == 100
    assert [e["ServiceID"] for e in a.get("/v1/catalog/service/snapsvc").json()] == ["snapsvc1"]


def test_snapshot_at_clean_stop(agent_factory):
    """A clean stop with >= 1024 entries applied since the last snapshot
    writes one (server/snapshot.c srv__snapshot_at_close), so the next start
    restores it instead of replaying the log; every key is still there, and
    writes go on from the same index."""
    import glob
    import os
    a = agent_factory("snapclose")
    s = a.http
    for i in range(1100):
        r = s.put(a.url("/v1/kv/sc/%04d" % i), data=b"v%d" % i)
        assert r.status_code == 200, r.text
    idx = int(a.get("/v1/kv/sc/1099").headers["X-Consul-Index"])
    snaps = os.path.join(a.data_dir, "raft", "snapshots", "*.snap")
    before = set(glob.glob(snaps))
    assert a.stop() == 0
    assert "snapshot at close" in a.log_text()
    assert set(glob.glob(snaps)) - before, "no snapshot file written at close"
    a.start()
    import re
    m = re.search(r"recovered state at index \d+ \(snapshot (\d+),",
                  a.log_text().rsplit("===== start", 1)[1])
    assert m and int(m.group(1)) >= 1100, "restarted without the snapshot taken at close"
    r = a.get("/v1/kv/sc/?recurse")
    assert r.status_code == 200 and len(r.json()) == 1100
    assert a.kv_get("sc/0042")["Value"] is not None
    a.kv_put("sc/after", b"x")
    assert int(a.get("/v1/kv/sc/after").headers["X-Consul-Index"]) > idx


def recorded_commit(agent):
    """The highest commit index in DATA_DIR/raft/commit (two 20-byte slots
    at offsets 0 and 512: magic CNCOMIT1, u64 commit, u32 crc32c;
    docs/format-storage.md), 0 when there is none yet."""
    import struct
    try:
        with open(os.path.join(agent.data_dir, "raft", "commit"), "rb") as f:
            b = f.read()
    except FileNotFoundError:
        return 0
    best = 0
    for off in (0, 512):
        rec = b[off:off + 20]
        if len(rec) == 20 and rec[:8] == b"CNCOMIT1":
            best = max(best, struct.unpack("<Q", rec[8:16])[0])
    return best


def test_kill9_server_serves_committed_data_without_a_leader(cluster_factory):
    """A server records how far its log is committed (DATA_DIR/raft/commit)
    and applies that far at open: after kill -9 of the whole cluster, one
    server started alone (no quorum, so no election can complete) serves
    every write it had applied with ?stale. Before, it applied only up to
    the commit index of its last term change and served none of them."""
    c = cluster_factory(3)
    ldr = c.leader()
    keys = ["restart/%03d" % i for i in range(40)]
    for k in keys:
        r = ldr.put("/v1/kv/" + k, data=("v-" + k).encode())
        assert r.status_code == 200 and r.json() is True, r.text
    idx = index_of(ldr.get("/v1/kv/" + keys[-1]))
    f = [a for a in c.agents if a is not ldr][0]
    # The follower applied the last write, and its writer recorded it.
    wait_until(lambda: f.get("/v1/kv/" + keys[-1], params={"stale": ""}).status_code == 200,
               what="the follower applied the last write")
    wait_until(lambda: recorded_commit(f) >= idx, what="commit >= %d recorded on %s" % (idx, f.name))
    for a in c.agents:
        a.kill9()
    f.start(wait=False)

    def last_key_served():
        r = f.get("/v1/kv/" + keys[-1], params={"stale": ""}, timeout=5)
        return r.status_code == 200
    wait_until(last_key_served, timeout=30, what="the last write served after restart")
    # Its peers are dead: no leader exists, so what it serves came from its
    # own disk, applied at open.
    assert f.leader_addr() == ""
    got = kv_dump_stale(f, "restart/")
    assert sorted(got) == keys
    assert all(got[k] == ("v-" + k).encode() for k in keys)
    assert index_of(f.get("/v1/kv/" + keys[-1], params={"stale": ""})) >= idx


def kv_dump_stale(agent, prefix):
    r = agent.get("/v1/kv/" + prefix, params={"recurse": "", "stale": ""})
    assert r.status_code == 200, r.text
    return {p["Key"]: base64.b64decode(p["Value"] or "") for p in r.json()}
