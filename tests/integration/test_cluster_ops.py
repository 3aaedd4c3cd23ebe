"""Cluster operations end to end: real servers on loopback forming a Raft
cluster, driven through the HTTP API and the CLI as an operator would
(Consul's api-docs/operator/raft.mdx, commands/operator/raft.mdx, join.mdx,
leave.mdx).

The tests of the first part share one cluster and run in file order: three
servers form it; bad removals are refused; leadership moves to a named
server; a fourth joins with -retry-join and a fifth through `cairn join`; a
follower leaves with `cairn leave`. Removal by address and by ID, and the
five-server formation, use clusters of their own.
"""


import pytest

from conftest import Cluster, START_TIMEOUT, assert_no_sanitizer_reports, cairn_cli, wait_until


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
    assert_no_sanitizer_reports(c.agents)


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


# ---- refused operations ---------------------------------------------------------

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
    assert len(cl.peers()) == 3


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
    # And takes part in new writes.
    write_ok(cl, "ops/after-n4", b"x")
    wait_until(lambda: kv_stale(n4, "ops/after-n4"), what="new data on n4")


def test_fifth_server_cairn_join(cl):
    # A server must be told something to join; an address where nobody
    # listens leaves it waiting outside any cluster.
    n5 = cl.add("n5", join=False, extra_args=["-retry-join=127.0.0.1:1"])
    n5.start(wait=False)
    # Alone and not bootstrapped: its API answers, with no leader.
    wait_until(lambda: n5.leader_addr() == "", what="n5's HTTP API")
    assert n5.running()
    # Ask a member's agent to add it (Consul: `consul join` through any agent).
    member = cl.leader()
    p = cairn_cli("join", n5.rpc_addr, http_port=member.http_port)
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert p.stdout == "Successfully joined cluster by contacting 1 nodes.\n"
    wait_until(lambda: n5.rpc_addr in voters(cl.peers()), timeout=START_TIMEOUT,
               what="n5 to become a voter")
    n5.wait_ready()
    write_ok(cl, "ops/before-n5-check", b"y")
    wait_until(lambda: kv_stale(n5, "ops/before-n5-check"), what="data on n5")
    # n4 is there when the module runs in order (test_fourth_server_retry_join)
    extra = [x for x in cl.agents if x.name == "n4" and x.running()]
    assert len(cl.peers()) == 4 + len(extra)
    # Back to three for what follows: n4 and n5 leave the configuration.
    for a in [n5] + extra:
        r = cl.leader().delete("/v1/operator/raft/peer", params={"address": a.rpc_addr})
        assert r.status_code == 200, r.text
        a.kill9()
    wait_until(lambda: len(cl.peers()) == 3, what="back to three")

    # A join that cannot work is reported, exit 1.
    p = cairn_cli("join", "127.0.0.1:1", http_port=member.http_port)
    assert p.returncode == 1
    assert "Error joining address '127.0.0.1:1'" in p.stderr
    assert "Failed to join any nodes." in p.stderr


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


# ---- removal by address and by ID -------------------------------------------------

def test_remove_peer_by_address_and_id(cluster_factory):
    c = cluster_factory(5)
    ldr = c.leader()
    ldr.kv_put("rm/before", b"1")
    victims = [a for a in c.live() if a is not ldr][:2]
    # By address, with the CLI.
    v = victims[0]
    p = cairn_cli("operator", "raft", "remove-peer", "-address=" + v.rpc_addr,
                  http_port=ldr.http_port)
    assert p.returncode == 0, p.stderr
    assert p.stdout == 'Removed peer with address "%s"\n' % v.rpc_addr
    v.kill9()  # removed: it no longer counts (nor knows the leader)
    wait_until(lambda: v.rpc_addr not in voters(c.peers()), what="first removal")
    assert len(c.peers()) == 4
    c.leader().kv_put("rm/after-1", b"1")

    # By ID, over HTTP, as raft/configuration shows it.
    v = victims[1]
    sid = [s["ID"] for s in c.peers() if s["Address"] == v.rpc_addr][0]
    r = c.leader().delete("/v1/operator/raft/peer", params={"id": sid})
    assert r.status_code == 200, r.text
    assert r.text == ""
    v.kill9()
    wait_until(lambda: v.rpc_addr not in voters(c.peers()), what="second removal")
    assert len(c.peers()) == 3
    # Three voters left: writes commit and reach every one of them.
    c.leader().kv_put("rm/after-2", b"1")
    for a in c.live():
        wait_until(lambda: kv_stale(a, "rm/after-2"), what="write on " + a.name)


def test_remove_peer_through_a_follower(cluster_factory):
    c = cluster_factory(4)
    f, v = [a for a in c.live() if a is not c.leader()][:2]
    p = cairn_cli("operator", "raft", "remove-peer", "-address=" + v.rpc_addr,
                  http_port=f.http_port)
    assert p.returncode == 0, p.stderr
    v.kill9()
    wait_until(lambda: len(c.peers()) == 3, what="removal through a follower")


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


def test_leave_leader(cluster_factory):
    """The leader leaves: it answers, exits cleanly, and the other two elect a
    leader among themselves with a configuration of two."""
    c = cluster_factory(3)
    ldr = c.leader()
    ldr.kv_put("leave/before", b"1")
    p = cairn_cli("leave", http_port=ldr.http_port)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "Graceful leave complete\n"
    rc = ldr.wait_exit(timeout=30)
    assert rc == 0, "left agent exited %s; log:\n%s" % (rc, ldr.log_tail())
    new = c.wait_converged(timeout=START_TIMEOUT)
    assert new is not ldr
    wait_until(lambda: ldr.rpc_addr not in voters(c.peers()), what="leaver out of the config")
    assert len(c.peers()) == 2
    new.kv_put("leave/after", b"1")
    for a in c.live():
        wait_until(lambda: kv_stale(a, "leave/after"), what="write on " + a.name)


def test_join_with_python_consul(cluster_factory):
    """python-consul 0.7.1 joins with GET /v1/agent/join/<address>."""
    c = cluster_factory(3)
    new = c.add("py4", join=False, extra_args=["-retry-join=127.0.0.1:1"])
    new.start(wait=False)
    assert c.leader().consul().agent.join(new.rpc_addr) is True
    wait_until(lambda: new.rpc_addr in voters(c.peers()), timeout=START_TIMEOUT,
               what="py4 to become a voter")
    new.wait_ready()


def test_join_refusals(cluster_factory):
    c = cluster_factory(3)
    ldr = c.leader()
    r = ldr.put("/v1/agent/join/127.0.0.1:1", params={"wan": "1"})
    assert r.status_code == 500 and "WAN" in r.text
    r = ldr.put("/v1/agent/join/")
    assert r.status_code == 400
    r = ldr.delete("/v1/agent/join/127.0.0.1:1")
    assert r.status_code == 405
    r = ldr.delete("/v1/agent/leave")
    assert r.status_code == 405
    # A join that cannot work is a 500 with the server's reason, and changes nothing.
    r = ldr.put("/v1/agent/join/127.0.0.1:1")
    assert r.status_code == 500 and r.text
    assert len(c.peers()) == 3


def test_join_from_the_new_server(cluster_factory):
    """Consul's usual direction: `cairn join` on the newcomer's agent, naming
    a member."""
    c = cluster_factory(3)
    new = c.add("x4", join=False, extra_args=["-retry-join=127.0.0.1:1"])
    new.start(wait=False)
    wait_until(lambda: new.leader_addr() == "", what="x4's HTTP API")  # up, no leader
    p = cairn_cli("join", c.agents[0].rpc_addr, http_port=new.http_port)
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert p.stdout == "Successfully joined cluster by contacting 1 nodes.\n"
    wait_until(lambda: new.rpc_addr in voters(c.peers()), timeout=START_TIMEOUT,
               what="x4 to become a voter")
    new.wait_ready()
    c.leader().kv_put("x4/after", b"1")
    wait_until(lambda: kv_stale(new, "x4/after"), what="a write on x4")
