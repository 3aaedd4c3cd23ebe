"""Snapshot archives: GET/PUT /v1/snapshot and `cairn snapshot save|restore|
inspect` (api/snapshot.c, base/snaparch.c, state/restore.c).

A save streams a fresh Raft snapshot as cairn's archive; a restore goes
through the log (chunks, then a commit), so every server of a cluster
replaces its state at the same index, blocking queries wake and
X-Consul-Index moves forward. A damaged or foreign file is refused with the
part and offset named, and nothing changes.
"""
import gzip
import io
import json
import subprocess
import tarfile
import threading

import pytest

from conftest import CAIRN_BIN, index_of, wait_until


def cli(agent, *args, check=True):
    p = subprocess.run([CAIRN_BIN] + list(args), capture_output=True, text=True, timeout=120,
                       env={"CAIRN_HTTP_ADDR": "127.0.0.1:%d" % agent.http_port})
    if check:
        assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
    return p


def populate(agent):
    """KV (with flags and a lock), a catalog node with a service and a check,
    a session and a prepared query."""
    for i in range(50):
        assert agent.kv_put("app/k%02d" % i, b"value-%d" % i) is True
    assert agent.put("/v1/kv/app/flagged?flags=42", data=b"f").json() is True
    reg = {"Node": "web-1", "Address": "10.1.0.1",
           "Service": {"ID": "web-a", "Service": "web", "Tags": ["v1", "blue"], "Port": 80},
           "Check": {"CheckID": "web-a-alive", "Name": "alive", "Status": "passing",
                     "ServiceID": "web-a"}}
    assert agent.put("/v1/catalog/register", data=json.dumps(reg)).json() is True
    sid = agent.put("/v1/session/create", data=json.dumps({"Name": "locker"})).json()["ID"]
    assert agent.put("/v1/kv/locks/leader?acquire=" + sid, data=b"me").json() is True
    q = {"Name": "web-q", "Service": {"Service": "web"}}
    r = agent.request("POST", "/v1/query", data=json.dumps(q))
    assert r.status_code == 200, r.text
    return sid


def view(agent, stale=False):
    """What clients read, without the indexes (a restore makes every
    ModifyIndex the restore's own)."""
    p = {"stale": ""} if stale else {}
    kv = agent.get("/v1/kv/", params=dict(p, recurse="")).json()
    kvs = sorted((e["Key"], e["Value"], e["Flags"], e.get("Session"), e["LockIndex"])
                 for e in kv)
    node = agent.get("/v1/catalog/node/web-1", params=p).json()
    svcs = sorted((s["ID"], s["Service"], tuple(s["Tags"]), s["Port"])
                  for s in node["Services"].values())
    checks = sorted((c["CheckID"], c["Status"], c["ServiceID"])
                    for c in agent.get("/v1/health/node/web-1", params=p).json())
    sess = sorted((s["ID"], s["Name"]) for s in agent.get("/v1/session/list", params=p).json())
    queries = sorted(q["Name"] for q in agent.get("/v1/query", params=p).json())
    return {"kv": kvs, "svcs": svcs, "checks": checks, "sess": sess, "queries": queries}


def test_save_inspect_restore_into_fresh_server(agent_factory, tmp_path):
    src = agent_factory("src")
    sid = populate(src)
    before = view(src)
    f = str(tmp_path / "backup.snap")
    out = cli(src, "snapshot", "save", f).stdout
    assert out.startswith("Saved and verified snapshot to index ")
    saved_index = int(out.split()[-1])

    ins = cli(src, "snapshot", "inspect", f).stdout
    fields = dict(line.split(None, 1) for line in ins.splitlines()[:5])
    assert int(fields["Index"]) == saved_index and int(fields["Term"]) >= 1
    assert fields["ID"].split("-")[1] == str(saved_index)
    counts = {l.split()[0]: int(l.split()[1]) for l in ins.splitlines()
              if len(l.split()) == 2 and l.split()[1].isdigit()}
    assert counts["KV"] == 52 and counts["Sessions"] == 1 and counts["PreparedQueries"] == 1
    assert counts["Services"] >= 1 and counts["Checks"] >= 2
    assert counts["Nodes"] >= 2  # src's own node and web-1
    js = json.loads(cli(src, "snapshot", "inspect", "-format=json", f).stdout)
    assert js["Meta"]["Index"] == saved_index and js["Stats"]["KV"] == 52

    # The HTTP save: the same index in X-Consul-Index, the archive's bytes.
    r = src.get("/v1/snapshot")
    assert r.status_code == 200 and index_of(r) == saved_index
    assert r.content[:8] == b"CAIRNSNP"

    dst = agent_factory("dst")
    dst.kv_put("dst/only", b"x")
    idx0 = index_of(dst.get("/v1/kv/dst/only"))
    assert cli(dst, "snapshot", "restore", f).stdout.strip() == "Restored snapshot"
    after = view(dst)
    assert after == before
    assert dst.get("/v1/kv/dst/only").status_code == 404
    # Table indexes never go backwards (a key read answers its own
    # ModifyIndex, kept as saved), and the restored lock still holds.
    assert index_of(dst.get("/v1/catalog/services")) > idx0
    assert index_of(dst.get("/v1/kv/app/", params={"keys": ""})) > idx0
    assert dst.get("/v1/kv/locks/leader").json()[0]["Session"] == sid
    # Writes carry on after the restore.
    assert dst.kv_put("app/new", b"n") is True
    assert dst.get("/v1/kv/app/new?raw").content == b"n"
    # It survives a restart (the restored state was snapshotted or replays).
    now = view(dst)
    dst.restart()
    assert view(dst) == now


def test_restore_onto_running_cluster(cluster_factory, tmp_path):
    c = cluster_factory(3)
    ldr = c.leader()
    for i in range(20):
        assert ldr.kv_put("c/k%02d" % i, b"old-%d" % i) is True
    archive = ldr.get("/v1/snapshot").content
    # Diverge after the save: a new key, a changed one, a deleted one.
    ldr.kv_put("c/new", b"post-save")
    ldr.kv_put("c/k00", b"changed")
    ldr.delete("/v1/kv/c/k01")
    fol = [a for a in c.live() if a is not ldr]
    idx_before = index_of(fol[0].get("/v1/kv/c/k05", params={"stale": ""}))

    # A blocking query parked on a follower wakes at the restore.
    woke = {}

    def block():
        r = fol[0].get("/v1/kv/c/k05", params={"index": idx_before, "wait": "60s"})
        woke["status"], woke["index"] = r.status_code, index_of(r)
    t = threading.Thread(target=block)
    t.start()
    fol[0].wait_parked(1)

    # Restored through a follower: forwarded to the leader, through the log.
    r = fol[1].put("/v1/snapshot", data=archive)
    assert r.status_code == 200, r.text
    t.join(30)
    assert not t.is_alive()
    assert woke["status"] == 200 and woke["index"] > idx_before

    def agreed():
        views = []
        for a in c.live():
            keys = a.get("/v1/kv/c/", params={"stale": "", "recurse": ""}).json() or []
            views.append(sorted((e["Key"], e["Value"]) for e in keys))
        return views if all(v == views[0] for v in views) else None
    views = wait_until(agreed, what="every server serving the restored state")
    keys = [k for k, _ in views[0]]
    assert "c/new" not in keys and "c/k01" in keys and len(keys) == 20
    for a in c.live():
        assert a.get("/v1/kv/c/k00?raw", params={"stale": ""}).content == b"old-0"
        # X-Consul-Index moved forward on every server.
        assert index_of(a.get("/v1/kv/c/k05", params={"stale": ""})) > idx_before
    # The cluster keeps working.
    assert ldr.kv_put("c/after", b"1") is True
    wait_until(lambda: all(a.get("/v1/kv/c/after", params={"stale": ""}).status_code == 200
                           for a in c.live()), what="a write after the restore everywhere")


def damaged(archive):
    flip = bytearray(archive)
    flip[len(flip) // 2] ^= 0x10
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w") as tf:
        for name in ("meta.json", "state.bin", "SHA256SUMS"):
            data = b"{}" if name == "meta.json" else b"x"
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tf.addfile(ti, io.BytesIO(data))
    trailer = bytearray(archive)
    trailer[-1] ^= 1
    return {
        "truncated": (archive[:len(archive) - 100], "truncated at offset"),
        "bit flip": (bytes(flip), "SHA-256 mismatch"),
        "whole-file checksum": (bytes(trailer), "whole-file SHA-256 mismatch"),
        "consul-style tar.gz": (gzip.compress(tar.getvalue()), "gzip"),
        "empty": (b"", "empty"),
        "garbage": (b"hello world" * 10, "not a cairn snapshot archive"),
    }


def test_damaged_archives_change_nothing(agent, tmp_path):
    for i in range(10):
        agent.kv_put("d/k%d" % i, b"v%d" % i)
    archive = agent.get("/v1/snapshot").content
    agent.kv_put("d/after", b"still here")
    nodes_before = agent.get("/v1/catalog/nodes").json()
    kv_before = agent.get("/v1/kv/d/", params={"recurse": ""}).json()
    idx_before = index_of(agent.get("/v1/kv/d/after"))
    for what, (data, msg) in damaged(archive).items():
        r = agent.put("/v1/snapshot", data=data)
        assert r.status_code == 400, (what, r.status_code, r.text)
        assert msg in r.text and "offset" in r.text, (what, r.text)
        # The CLI refuses the same file before sending it.
        f = tmp_path / ("bad-%s.snap" % what.replace(" ", "-"))
        f.write_bytes(data)
        p = cli(agent, "snapshot", "restore", str(f), check=False)
        assert p.returncode == 1 and msg in p.stderr, (what, p.stderr)
        p = cli(agent, "snapshot", "inspect", str(f), check=False)
        assert p.returncode == 1 and "offset" in p.stderr, (what, p.stderr)
    assert agent.get("/v1/kv/d/", params={"recurse": ""}).json() == kv_before
    assert index_of(agent.get("/v1/kv/d/after")) == idx_before
    assert agent.get("/v1/catalog/nodes").json() == nodes_before
    # The good archive still restores.
    assert agent.put("/v1/snapshot", data=archive).status_code == 200
    assert agent.get("/v1/kv/d/after").status_code == 404


def test_save_stale_on_a_follower_and_method(cluster_factory):
    c = cluster_factory(3)
    ldr = c.leader()
    ldr.kv_put("s/x", b"1")
    fol = [a for a in c.live() if a is not ldr][0]
    wait_until(lambda: fol.get("/v1/kv/s/x", params={"stale": ""}).status_code == 200,
               what="the write on the follower")
    r = fol.get("/v1/snapshot", params={"stale": ""})
    assert r.status_code == 200 and r.content[:8] == b"CAIRNSNP"
    assert fol.request("DELETE", "/v1/snapshot").status_code == 405
