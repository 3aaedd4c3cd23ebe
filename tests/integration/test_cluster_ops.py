"""Cluster operations end to end: real servers on loopback forming a Raft
cluster, driven through the HTTP API and the CLI as an operator would
(Consul's api-docs/operator/raft.mdx, commands/operator/raft.mdx, join.mdx,
leave.mdx).

The tests of the first part share one cluster and run in file order: three
servers form it; a fourth joins with -retry-join and a fifth through
`cairn join`; peers are removed by address and by ID; leadership moves to a
named server; a follower leaves with `cairn leave`. The last test forms a
fresh five-server cluster.
"""

import time

import pytest
import requests

from conftest import Cluster, START_TIMEOUT, cairn_cli, wait_until

pytest.skip("waiting for the Raft cluster wiring in server.c (srv_join, srv_peers, "
            "-retry-join...): enabled once it lands", allow_module_level=True)


def voters(servers):
    return sorted(s["Address"] for s in servers if s["Voter"])


def kv_stale(agent, key):
    r = agent.get("/v1/kv/" + key, params={"stale": ""}, timeout=5)
    if r.status_code == 404:
        return None
    r.raise_for_status()
    return r.json()[0]


def write_ok(cluster, key, value):
    """A write through the current leader; returns its index."""
    ldr = cluster.leader()
    return ldr.kv_put(key, value)


@pytest.fixture(scope="module")
def cl(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("cluster_ops"), 3)
    c.start()
    yield c
    c.close()
    reports = [a.sanitizer_report() for a in c.agents]
    reports = [r for r in reports if r]
    assert not reports, "sanitizer report:\n" + "\n".join(reports)


# ---- 3 servers: configuration, status, CLI ------------------------------------

def test_three_servers_list_peers(cl):
    ldr = cl.leader()
    servers = cl.peers()
    assert len(servers) == 3
    assert voters(servers) == sorted(a.rpc_addr for a in cl.agents)
    leaders = [s for s in servers if s["Leader"]]
    assert len(leaders) == 1 and leaders[0]["Address"] == ldr.rpc_addr
    assert {s["Node"] for s in servers} == {"n1", "n2", "n3"}
    # Every server agrees on the peer set (/v1/status/peers).
    for a in cl.agents:
        r = a.get("/v1/status/peers")
        assert r.status_code == 200
        assert sorted(r.json()) == sorted(x.rpc_addr for x in cl.agents)
        assert a.leader_addr() == ldr.rpc_addr

    # The CLI, from a follower's agent: header + 3 rows, one leader, all voters.
    f = cl.followers()[0]
    p = cairn_cli("operator", "raft", "list-peers", http_port=f.http_port)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().splitlines()
    assert lines[0].split() == ["Node", "ID", "Address", "State", "Voter", "RaftProtocol"]
    rows = [l.split() for l in lines[1:]]
    assert len(rows) == 3
    assert [r[3] for r in rows].count("leader") == 1
    assert all(r[4] == "true" for r in rows)
    lrow = [r for r in rows if r[3] == "leader"][0]
    assert lrow[2] == ldr.rpc_addr and lrow[0] == ldr.name

    # Writes on the leader are seen everywhere.
    idx = write_ok(cl, "ops/a", b"1")
    assert idx
    for a in cl.agents:
        wait_until(lambda: kv_stale(a, "ops/a"), what="ops/a on " + a.name)


# ---- growing: -retry-join and `cairn join` --------------------------------------

def test_fourth_server_retry_join(cl):
    for i in range(20):
        write_ok(cl, "ops/before-n4/%d" % i, b"v%d" % i)
    n4 = cl.add("n4")  # no -bootstrap-expect: it only joins
    n4.start(wait=False)
    wait_until(lambda: n4.rpc_addr in voters(cl.peers()), timeout=START_TIMEOUT,
               what="n4 to become a voter")
    n4.wait_ready()
    assert n4.leader_addr() == cl.leader().rpc_addr
    # It received the data written before it existed.
    for i in range(20):
        wait_until(lambda: kv_stale(n4, "ops/before-n4/%d" % i), what="old data on n4")
    assert kv_stale(n4, "ops/a")["Value"]
    # And takes part in new writes.
    write_ok(cl, "ops/after-n4", b"x")
    wait_until(lambda: kv_stale(n4, "ops/after-n4"), what="new data on n4")


def test_fifth_server_cairn_join(cl):
    n5 = cl.add("n5", join=False)
    n5.start(wait=False)
    # Alone and not bootstrapped, it has no leader.
    time.sleep(1.0)
    assert n5.running()
    assert n5.leader_addr() == ""
    # Ask a member's agent to add it (Consul: `consul join` through any agent).
    member = cl.followers()[0]
    p = cairn_cli("join", n5.rpc_addr, http_port=member.http_port)
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert p.stdout == "Successfully joined cluster by contacting 1 nodes.\n"
    wait_until(lambda: n5.rpc_addr in voters(cl.peers()), timeout=START_TIMEOUT,
               what="n5 to become a voter")
    n5.wait_ready()
    wait_until(lambda: kv_stale(n5, "ops/after-n4"), what="data on n5")
    assert len(cl.peers()) == 5

    # A join that cannot work is reported, exit 1.
    p = cairn_cli("join", "127.0.0.1:1", http_port=member.http_port)
    assert p.returncode == 1
    assert "Error joining address '127.0.0.1:1'" in p.stderr
    assert "Failed to join any nodes." in p.stderr


# ---- shrinking: remove-peer -----------------------------------------------------

def test_remove_peer_errors(cl):
    ldr = cl.leader()
    r = ldr.delete("/v1/operator/raft/peer")
    assert r.status_code == 400
    assert "Must specify either ?id" in r.text
    r = ldr.delete("/v1/operator/raft/peer", params={"id": "1", "address": "x:1"})
    assert r.status_code == 400
    r = ldr.delete("/v1/operator/raft/peer", params={"address": "127.0.0.1:1"})
    assert r.status_code == 500
    assert "127.0.0.1:1" in r.text
    r = ldr.request("GET", "/v1/operator/raft/peer")
    assert r.status_code == 405
    p = cairn_cli("operator", "raft", "remove-peer", http_port=ldr.http_port)
    assert p.returncode == 1
    assert "an address or id is required" in p.stderr
    assert len(cl.peers()) == 5


def test_remove_peer_by_address_and_id(cl):
    n5 = [a for a in cl.agents if a.name == "n5"][0]
    n4 = [a for a in cl.agents if a.name == "n4"][0]
    # The leader must not be the one we remove by address (keep it simple).
    if cl.leader() in (n4, n5):
        r = cl.leader().request("POST", "/v1/operator/raft/transfer-leader",
                                params={"id": [s["ID"] for s in cl.peers()
                                               if s["Node"] == "n1"][0]})
        assert r.status_code == 200, r.text
        wait_until(lambda: cl.leader().name == "n1", what="n1 leader")

    via = [a for a in cl.agents if a.name == "n2"][0]
    p = cairn_cli("operator", "raft", "remove-peer", "-address=" + n5.rpc_addr,
                  http_port=via.http_port)
    assert p.returncode == 0, p.stderr
    assert p.stdout == 'Removed peer with address "%s"\n' % n5.rpc_addr
    n5.kill9()  # removed: it no longer counts (nor knows the leader)
    wait_until(lambda: n5.rpc_addr not in voters(cl.peers()), what="n5 gone")
    assert len(cl.peers()) == 4
    write_ok(cl, "ops/after-remove-n5", b"1")

    # By ID, over HTTP, as raft/configuration shows it.
    sid = [s["ID"] for s in cl.peers() if s["Address"] == n4.rpc_addr][0]
    r = cl.leader().delete("/v1/operator/raft/peer", params={"id": sid})
    assert r.status_code == 200, r.text
    assert r.text == ""
    n4.kill9()
    wait_until(lambda: n4.rpc_addr not in voters(cl.peers()), what="n4 gone")
    assert sorted(s["Node"] for s in cl.peers()) == ["n1", "n2", "n3"]
    # Three voters again: writes commit and reach everyone.
    write_ok(cl, "ops/after-remove-n4", b"1")
    for a in cl.live():
        wait_until(lambda: kv_stale(a, "ops/after-remove-n4"), what="write on " + a.name)


# ---- leadership transfer ------------------------------------------------------------

def test_transfer_leader_to_named_server(cl):
    old = cl.leader()
    target = [a for a in cl.live() if a is not old][0]
    sid = [s["ID"] for s in cl.peers() if s["Address"] == target.rpc_addr][0]
    p = cairn_cli("operator", "raft", "transfer-leader", "-id=%s" % sid,
                  http_port=old.http_port)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "Success\n"
    wait_until(lambda: cl.leader() is target, what="%s to lead" % target.name)
    write_ok(cl, "ops/after-transfer", b"1")

    # Over HTTP, no id: any other voter; the answer is {"Success":true}.
    r = target.request("POST", "/v1/operator/raft/transfer-leader")
    assert r.status_code == 200, r.text
    assert r.json() == {"Success": True}
    wait_until(lambda: cl.leader() is not target, what="leadership to move on")
    r = target.request("PUT", "/v1/operator/raft/transfer-leader")
    assert r.status_code == 405


# ---- graceful leave -------------------------------------------------------------------

def test_leave_follower(cl):
    f = cl.followers()[0]
    p = cairn_cli("leave", http_port=f.http_port)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "Graceful leave complete\n"
    rc = f.wait_exit(timeout=30)
    assert rc == 0, "left agent exited %s; log:\n%s" % (rc, f.log_tail())
    rest = cl.live()
    assert len(rest) == 2
    wait_until(lambda: f.rpc_addr not in voters(cl.peers()), what="leaver out of the config")
    assert len(cl.peers()) == 2
    # Two voters of two: writes still commit.
    write_ok(cl, "ops/after-leave", b"1")
    for a in rest:
        wait_until(lambda: kv_stale(a, "ops/after-leave"), what="write on " + a.name)


# ---- five servers ----------------------------------------------------------------------

def test_five_server_formation(cluster_factory):
    c = cluster_factory(5)
    ldr = c.leader()
    servers = c.peers()
    assert len(servers) == 5
    assert voters(servers) == sorted(a.rpc_addr for a in c.agents)
    assert [s["Leader"] for s in servers].count(True) == 1
    ldr.kv_put("five/x", b"hello")
    for a in c.agents:
        wait_until(lambda: (kv_stale(a, "five/x") or {}).get("Value"), what="five/x on " + a.name)
    # A default-consistency read on a follower sees it too (ReadIndex).
    f = c.followers()[0]
    assert f.kv_get("five/x") is not None
    p = cairn_cli("operator", "raft", "list-peers", "-stale", http_port=f.http_port)
    assert p.returncode == 0, p.stderr
    assert len(p.stdout.strip().splitlines()) == 6
