"""LAN gossip (src/gossip, docs/architecture.md "Gossip"): membership over
real processes on loopback, the leader's reconciliation of members into the
catalog's serfHealth, joins through gossip and RPC addresses, encryption and
cluster identity. Timings are memberlist's LAN defaults (probe 1 s, suspicion
multiplier 4): a dead server of three is marked failed in a few seconds."""
import base64
import os
import time

import pytest

from conftest import (ClusterAgent, cairn_cli, wait_until)

DETECT_TIMEOUT = 40.0


def members(agent, **params):
    r = agent.get("/v1/agent/members", params=params)
    assert r.status_code == 200, r.text
    return {m["Name"]: m for m in r.json()}


def serf_status(agent, node):
    r = agent.get("/v1/health/node/%s" % node, params={"stale": ""})
    if r.status_code != 200:
        return None
    for c in r.json():
        if c["CheckID"] == "serfHealth":
            return c["Status"]
    return None


def test_members_through_gossip_addresses(tmp_path):
    """Consul's form: -retry-join at the gossip (serf_lan) ports and
    -bootstrap-expect: the servers find each other through gossip, form the
    Raft cluster, and every one lists all three as alive servers."""
    agents = [ClusterAgent(tmp_path, "g%d" % (i + 1), bootstrap_expect=3) for i in range(3)]
    try:
        for a in agents:
            a.extra_args = ["-retry-join=127.0.0.1:%d" % b.serf_port
                            for b in agents if b is not a]
        for a in agents:
            a.start(wait=False)
        for a in agents:
            a.wait_ready()
        for a in agents:
            wait_until(lambda: len([m for m in members(a).values() if m["Status"] == 1]) == 3,
                       timeout=20, what="3 alive members on %s" % a.name)
        m = members(agents[0])
        for a in agents:
            e = m[a.name]
            assert e["Addr"] == "127.0.0.1" and e["Port"] == a.serf_port
            assert e["Tags"]["role"] == "consul"
            assert e["Tags"]["dc"] == "dc1"
            assert e["Tags"]["port"] == str(a.server_port)
            assert set(e) == {"Name", "Addr", "Port", "Tags", "Status", "ProtocolMin",
                              "ProtocolMax", "ProtocolCur", "DelegateMin", "DelegateMax",
                              "DelegateCur"}
        # ?segment: the default segment ("") is everyone's; another is empty.
        assert len(members(agents[0], segment="")) == 3
        assert members(agents[0], segment="other") == {}
        # Every member has a node with a passing serfHealth (the leader's).
        for a in agents:
            wait_until(lambda: serf_status(agents[1], a.name) == "passing", timeout=20,
                       what="serfHealth of %s" % a.name)
        out = cairn_cli("members", http_port=agents[0].http_port)
        assert out.returncode == 0, out.stderr
        lines = out.stdout.strip().splitlines()
        assert lines[0].split() == ["Node", "Address", "Status", "Type", "Build", "Protocol",
                                    "DC", "Partition", "Segment"]
        assert sorted(l.split()[0] for l in lines[1:]) == ["g1", "g2", "g3"]
        assert all(l.split()[2] == "alive" for l in lines[1:])
        out = cairn_cli("members", "-status=failed", http_port=agents[0].http_port)
        assert out.returncode == 2, (out.stdout, out.stderr)
    finally:
        for a in agents:
            a.close()


def test_kill_and_stop_turn_serf_health_critical(cluster_factory):
    """cairn's earlier form (-retry-join at the server RPC ports): the
    servers learn each other's gossip ports through Raft discovery. A
    follower SIGSTOPped for 10 s is marked failed, then alive again after
    SIGCONT (no restart); a follower killed with -9 turns critical, its
    services leave ?passing, its session is invalidated; force-leave then
    deregisters its node."""
    c = cluster_factory(3)
    ldr = c.leader()
    f1, f2 = c.followers()
    for a in c.agents:
        wait_until(lambda: serf_status(ldr, a.name) == "passing" and
                   len([m for m in members(ldr).values() if m["Status"] == 1]) == 3,
                   timeout=30, what="gossip among the three")
    # SIGSTOP 10 s: failed, critical; SIGCONT: alive, passing.
    t0 = time.monotonic()
    f1.sigstop()
    wait_until(lambda: serf_status(ldr, f1.name) == "critical", timeout=DETECT_TIMEOUT,
               interval=0.1, what="serfHealth of the stopped %s critical" % f1.name)
    stopped_detect = time.monotonic() - t0
    assert members(ldr)[f1.name]["Status"] == 4  # failed
    time.sleep(max(0.0, 10.0 - (time.monotonic() - t0)))
    f1.sigcont()
    t1 = time.monotonic()
    wait_until(lambda: serf_status(ldr, f1.name) == "passing" and
               members(ldr)[f1.name]["Status"] == 1, timeout=DETECT_TIMEOUT, interval=0.1,
               what="%s alive and passing again after SIGCONT" % f1.name)
    back = time.monotonic() - t1
    c.wait_converged(agents=c.agents)

    # kill -9 of f2, with a service and a session on its node.
    r = f2.put_json("/v1/agent/service/register", {"Name": "web", "Port": 80})
    assert r.status_code == 200, r.text
    r = ldr.put_json("/v1/session/create", {"Node": f2.name})
    assert r.status_code == 200, r.text
    sid = r.json()["ID"]
    wait_until(lambda: len(ldr.get("/v1/health/service/web?passing").json()) == 1,
               timeout=20, what="web passing")
    t2 = time.monotonic()
    f2.kill9()
    wait_until(lambda: serf_status(ldr, f2.name) == "critical", timeout=DETECT_TIMEOUT,
               interval=0.1, what="serfHealth of the killed %s critical" % f2.name)
    killed_detect = time.monotonic() - t2
    assert ldr.get("/v1/health/service/web?passing").json() == []
    assert ldr.get("/v1/session/info/" + sid).json() in (None, [])
    print("stopped->critical %.1fs, SIGCONT->passing %.1fs, kill -9->critical %.1fs"
          % (stopped_detect, back, killed_detect))

    # force-leave: left, and the leader deregisters the node.
    out = cairn_cli("force-leave", f2.name, http_port=ldr.http_port)
    assert out.returncode == 0, out.stderr
    wait_until(lambda: ldr.get("/v1/catalog/node/" + f2.name).json() is None, timeout=20,
               what="node %s deregistered" % f2.name)
    assert members(ldr)[f2.name]["Status"] == 3  # left


def _single(agent_factory, name, *extra):
    return agent_factory(name, extra_args=list(extra))


def test_join_encrypt_and_cluster_identity(agent_factory):
    """Joining through /v1/agent/join (gossip address); a wrong or missing
    encryption key, or another datacenter, is refused and changes nothing."""
    k1 = base64.b64encode(os.urandom(32)).decode()
    k2 = base64.b64encode(os.urandom(32)).decode()
    a = _single(agent_factory, "ea", "-encrypt=" + k1)
    b = _single(agent_factory, "eb", "-encrypt=" + k1)
    wrong = _single(agent_factory, "ew", "-encrypt=" + k2)
    plain = _single(agent_factory, "ep")
    other = _single(agent_factory, "eo", "-encrypt=" + k1, "-datacenter=dc2")

    for who in (wrong, plain, other):
        r = who.put("/v1/agent/join/127.0.0.1:%d" % a.serf_port)
        assert r.status_code == 500, (who.name, r.status_code, r.text)
        assert set(members(who)) == {who.name}
    assert set(members(a)) == {"ea"}
    out = cairn_cli("join", "127.0.0.1:%d" % a.serf_port, http_port=b.http_port)
    assert out.returncode == 0, out.stderr
    assert "Successfully joined cluster by contacting 1 nodes." in out.stdout
    wait_until(lambda: set(members(a)) == {"ea", "eb"}, timeout=10, what="ea sees eb")
    # A keygen key is a valid encrypt key.
    key = cairn_cli("keygen").stdout.strip()
    assert len(base64.b64decode(key)) == 32


def test_gossip_disabled_and_port_clash(agent_factory, tmp_path):
    """-serf-lan-port=-1 runs without gossip (members: this agent only); the
    gossip port may not be the server port."""
    a = _single(agent_factory, "nog", "-serf-lan-port=-1")
    m = members(a)
    assert list(m) == ["nog"] and m["nog"]["Status"] == 1
    import subprocess
    from conftest import CAIRN_BIN, free_port
    p = free_port()
    out = subprocess.run([CAIRN_BIN, "agent", "-server", "-bootstrap",
                          "-data-dir=" + str(tmp_path / "clash"), "-http-port=0",
                          "-dns-port=-1", "-server-port=%d" % p, "-serf-lan-port=%d" % p],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 1
    assert "needs a port of its own" in out.stderr


def test_start_join(agent_factory, tmp_path):
    """-join (start_join): joined at start; when no address answers, the
    agent does not start (Consul's rule)."""
    a = _single(agent_factory, "sa")
    b = _single(agent_factory, "sb", "-join=127.0.0.1:%d" % a.serf_port)
    wait_until(lambda: set(members(b)) == {"sa", "sb"}, timeout=10, what="sb joined sa")
    import subprocess
    from conftest import CAIRN_BIN, free_port
    dead = free_port()
    out = subprocess.run([CAIRN_BIN, "agent", "-server", "-bootstrap",
                          "-data-dir=" + str(tmp_path / "nojoin"), "-http-port=0",
                          "-dns-port=-1", "-server-port=%d" % free_port(),
                          "-serf-lan-port=%d" % free_port(), "-join=127.0.0.1:%d" % dead],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1, out.stderr[-2000:]
    assert "Failed to join any of the -join addresses" in out.stderr
