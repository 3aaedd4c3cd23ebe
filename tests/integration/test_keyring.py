"""Gossip keyring management (docs/gossip.md "Keyring"): Consul's
/v1/operator/keyring and `cairn keyring` over real processes on loopback.
Three servers and a client agent share an encrypted pool; the keys are
rotated (install, use, remove) through the CLI and HTTP while every member
stays alive, in the LAN pool and in the servers' WAN pool (one entry per
pool, as Consul's KeyringOperation; several datacenters: test_wan.py); a restarted agent comes back with the new keyring from its data
dir (serf/local.keyring wins over -encrypt); an agent holding only the
removed key is refused. Plus the encrypt_verify_* rollout onto a plain pool,
the errors and the ACLs."""
import base64
import json
import os
import time

import pytest

from conftest import (Agent, Cluster, assert_no_sanitizer_reports, cairn_cli, wait_until)
from test_client_agent import ClientAgent


def key(n=32):
    return base64.b64encode(os.urandom(n)).decode()


def alive(agent):
    r = agent.get("/v1/agent/members")
    assert r.status_code == 200, r.text
    return sorted(m["Name"] for m in r.json() if m["Status"] == 1)


def keyring_file(agent, name="local.keyring"):
    with open(os.path.join(agent.data_dir, "serf", name)) as f:
        return json.load(f)


def pools(agent, **params):
    r = agent.get("/v1/operator/keyring", params=params, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def listing(agent, **params):
    """The dc1 LAN pool's entry; a server also answers the WAN pool's, first
    (unless local-only)."""
    body = pools(agent, **params)
    assert body[-1]["WAN"] is False and body[-1]["Datacenter"] == "dc1", body
    assert len(body) == (2 if len(body) == 2 and body[0]["WAN"] else 1), body
    return body[-1]


def wan_listing(agent):
    body = pools(agent)
    assert len(body) == 2 and body[0]["WAN"] is True, body
    return body[0]


def wan_alive(agent):
    r = agent.get("/v1/agent/members", params={"wan": "1"})
    assert r.status_code == 200, r.text
    return sorted(m["Name"] for m in r.json() if m["Status"] == 1)


@pytest.fixture
def pool(tmp_path):
    """3 servers and a client agent, all with -encrypt=k1, one gossip pool."""
    k1 = key()
    c = Cluster(tmp_path, 3, extra_args=["-encrypt=" + k1])
    made = []
    try:
        # the servers gossip to each other through their serf ports too
        for a in c.agents:
            a.extra_args = a.extra_args + ["-retry-join=127.0.0.1:%d" % b.serf_port
                                           for b in c.agents if b is not a]
        c.start()
        cl = ClientAgent(tmp_path, "client1", [c.agents[0].serf_port],
                         extra_args=["-encrypt=" + k1])
        made.append(cl)
        cl.start(wait=False)
        names = sorted([a.name for a in c.agents] + ["client1"])
        wan = sorted(a.name + ".dc1" for a in c.agents)
        for a in c.agents:
            wait_until(lambda: alive(a) == names, timeout=30, what="4 alive members on " + a.name)
            # the servers flood-join each other into their WAN pool
            wait_until(lambda: wan_alive(a) == wan, timeout=30, what="3 WAN members on " + a.name)
        yield c, cl, k1, names, made
    finally:
        for a in made:
            a.close()
        for a in c.agents:
            a.close()
    assert_no_sanitizer_reports(c.agents + made)


def test_rotation_cli_and_http(pool, tmp_path):
    c, cl, k1, names, made = pool
    s1, s2, s3 = c.agents
    k2 = key()

    out = cairn_cli("keyring", "-list", http_port=s1.http_port)
    assert out.returncode == 0, out.stderr
    assert out.stdout == ("==> Gathering installed encryption keys...\n\nWAN:\n  %s [3/3]\n"
                          "\ndc1 (LAN):\n  %s [4/4]\n" % (k1, k1)), out.stdout
    assert pools(s2) == [
        {"WAN": True, "Datacenter": "dc1", "Segment": "", "Messages": {},
         "Keys": {k1: 3}, "PrimaryKeys": {k1: 3}, "NumNodes": 3, "Error": ""},
        {"WAN": False, "Datacenter": "dc1", "Segment": "", "Messages": {},
         "Keys": {k1: 4}, "PrimaryKeys": {k1: 4}, "NumNodes": 4, "Error": ""}]
    # local-only: the LAN pool alone
    out = cairn_cli("keyring", "-list", "-local-only", http_port=s1.http_port)
    assert out.returncode == 0, out.stderr
    assert out.stdout == ("==> Gathering installed encryption keys...\n\ndc1 (LAN):\n"
                          "  %s [4/4]\n" % k1), out.stdout
    # through the client agent (forwarded to a server), relayed answers
    assert listing(cl, **{"relay-factor": "2"})["Keys"] == {k1: 4}

    # install k2 (CLI)
    out = cairn_cli("keyring", "-install", k2, http_port=s1.http_port)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "==> Installing new gossip encryption key...\n"
    e = listing(s3)
    assert e["Keys"] == {k1: 4, k2: 4} and e["PrimaryKeys"] == {k1: 4}
    e = wan_listing(s3)
    assert e["Keys"] == {k1: 3, k2: 3} and e["PrimaryKeys"] == {k1: 3}
    out = cairn_cli("keyring", "-list-primary", http_port=s2.http_port)
    assert out.returncode == 0, out.stderr
    assert out.stdout == ("==> Gathering installed primary encryption keys...\n\n"
                          "WAN:\n  %s [3/3]\n\ndc1 (LAN):\n  %s [4/4]\n" % (k1, k1))

    # use k2 (HTTP, through the client agent)
    r = cl.put_json("/v1/operator/keyring", {"Key": k2}, timeout=30)
    assert r.status_code == 200, r.text
    assert listing(s1)["PrimaryKeys"] == {k2: 4}
    assert wan_listing(s1)["PrimaryKeys"] == {k2: 3}

    # the primary cannot be removed (every member of both pools refuses,
    # Consul's text: the WAN pool's errors, then the LAN pool's)
    r = s1.http.delete(s1.url("/v1/operator/keyring"), json={"Key": k2}, timeout=30)
    assert r.status_code == 500, r.text
    assert r.text.startswith("9 errors occurred:\n\t* WAN error: 3/3 nodes reported "
                             "failure\n"), r.text
    assert "\n\t* dc1 (LAN) error: 4/4 nodes reported failure\n" in r.text
    assert r.text.count(".dc1: Removing the primary key is not allowed") == 3
    assert r.text.count(": Removing the primary key is not allowed") == 7
    out = cairn_cli("keyring", "-remove", k2, http_port=s1.http_port)
    assert out.returncode == 1
    assert "Removing the primary key is not allowed" in out.stderr

    # remove k1 (CLI)
    out = cairn_cli("keyring", "-remove", k1, http_port=s2.http_port)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "==> Removing gossip encryption key...\n"
    e = listing(s1, **{"local-only": "true"})
    assert e["Keys"] == {k2: 4} and e["PrimaryKeys"] == {k2: 4} and e["NumNodes"] == 4
    assert len(pools(s1, **{"local-only": "true"})) == 1
    e = wan_listing(s2)
    assert e["Keys"] == {k2: 3} and e["PrimaryKeys"] == {k2: 3} and e["NumNodes"] == 3

    # every member stayed alive, everywhere (nobody was ever marked failed);
    # every keyring file holds [k2]
    for a in c.agents + [cl]:
        assert alive(a) == names, a.name
        assert " failed (127.0.0.1:" not in a.log_text(), a.name
        wait_until(lambda: keyring_file(a) == [k2], timeout=10, what="keyring file of " + a.name)
    for a in c.agents:
        assert wan_alive(a) == sorted(s.name + ".dc1" for s in c.agents), a.name
        wait_until(lambda: keyring_file(a, "remote.keyring") == [k2], timeout=10,
                   what="WAN keyring file of " + a.name)

    # A restarted client (still started with -encrypt=k1) comes back with
    # the keyring of its data dir, and rejoins.
    cl.stop()
    cl.start(wait=False)
    wait_until(lambda: cl.get("/v1/agent/self", timeout=5).status_code == 200, timeout=30,
               what="the client back")
    wait_until(lambda: alive(s1) == names and alive(cl) == names, timeout=40,
               what="the restarted client alive again")
    assert "LAN keyring doesn't include key provided with -encrypt, using keyring" in \
        cl.log_text()
    assert listing(s2)["Keys"] == {k2: 4}

    # An agent holding only the removed key is refused: a client agent
    # retry-joining the pool, and a server asked to join it.
    old = ClientAgent(tmp_path, "oldkey", [s1.serf_port], extra_args=["-encrypt=" + k1])
    made.append(old)
    old.start(wait=False)
    wait_until(lambda: "a member without our encryption key" in old.log_text(), timeout=30,
               what="oldkey's join refused")
    lone = Agent(tmp_path, name="oldsrv", extra_args=["-encrypt=" + k1])
    made.append(lone)
    lone.start()
    r = lone.put("/v1/agent/join/127.0.0.1:%d" % s1.serf_port, timeout=30)
    assert r.status_code == 500, r.text
    assert "a member without our encryption key" in r.text
    r = lone.put("/v1/agent/join/127.0.0.1:%d" % s1.serf_wan_port, params={"wan": "1"},
                 timeout=30)
    assert r.status_code == 500, r.text
    assert "a member without our encryption key" in r.text
    for a in (s1, cl):
        assert [n for n in names if n not in alive(a)] == []
        assert not {"oldkey", "oldsrv"} & {m["Name"] for m in a.get("/v1/agent/members").json()}
    assert alive(old) == ["oldkey"] and alive(lone) == ["oldsrv"]


def test_errors(pool):
    c, cl, k1, names, made = pool
    s1 = c.agents[0]
    u = s1.url("/v1/operator/keyring")
    r = s1.http.get(u, params={"relay-factor": "9"})
    assert (r.status_code, r.text) == (400, "Invalid relay-factor: Relay factor must be in "
                                       "range: [0, 5]")
    r = s1.http.get(u, params={"relay-factor": "x"})
    assert (r.status_code, r.text) == (400, 'Error parsing relay factor: strconv.Atoi: '
                                       'parsing "x": invalid syntax')
    r = s1.http.put(u, params={"local-only": "true"}, json={"Key": k1})
    assert (r.status_code, r.text) == (400, "Invalid use of local-only: local-only can only "
                                       "be set for list requests")
    r = s1.http.get(u, params={"local-only": "maybe"})
    assert r.status_code == 400 and r.text.startswith("Error parsing local-only")
    short = base64.b64encode(os.urandom(10)).decode()
    r = s1.http.post(u, json={"Key": short})
    assert r.status_code == 500
    assert r.text == ("2 errors occurred:\n\t* WAN error: key size must be 16, 24 or 32 "
                      "bytes\n\t* dc1 (LAN) error: key size must be 16, 24 or 32 "
                      "bytes\n\n"), r.text
    r = s1.http.post(u, json={"Key": "not base64!"})
    assert r.status_code == 500 and "illegal base64 data at input byte" in r.text
    r = s1.http.post(u, json={"Key": key(), "Extra": 1})
    assert (r.status_code, r.text) == (400, 'Request decode failed: unknown field "Extra"')
    r = s1.http.post(u, data="[")
    assert r.status_code == 400 and r.text.startswith("Request decode failed")
    # a 16-byte key is fine (AES-128)
    k16 = key(16)
    r = s1.http.post(u, json={"Key": k16}, timeout=30)
    assert r.status_code == 200, r.text
    assert listing(s1)["Keys"] == {k1: 4, k16: 4}
    out = cairn_cli("keyring", "-list", "-install", k16, http_port=s1.http_port)
    assert out.returncode == 1 and "Only a single action is allowed" in out.stderr
    out = cairn_cli("keyring", http_port=s1.http_port)
    assert out.returncode == 1 and "Usage: cairn keyring" in out.stderr
    out = cairn_cli("keyring", "-use", k16, "-local-only", http_port=s1.http_port)
    assert out.returncode == 1
    assert "local-only can only be set for list requests" in out.stderr
    out = cairn_cli("keyring", "-list", "-relay-factor=6", http_port=s1.http_port)
    assert out.returncode == 1 and "Relay factor must be in range: [0, 5]" in out.stderr


def test_no_encryption(agent_factory):
    a = agent_factory("plain")
    r = a.get("/v1/operator/keyring", timeout=30)
    assert r.status_code == 500
    assert r.text == ("4 errors occurred:\n\t* WAN error: 1/1 nodes reported failure\n"
                      "\t* plain.dc1: Keyring is empty (encryption not enabled)\n"
                      "\t* dc1 (LAN) error: 1/1 nodes reported failure\n"
                      "\t* plain: Keyring is empty (encryption not enabled)\n\n"), r.text
    r = a.http.post(a.url("/v1/operator/keyring"), json={"Key": key()}, timeout=30)
    assert r.status_code == 500 and "No keyring to modify (encryption not enabled)" in r.text
    assert not os.path.exists(os.path.join(a.data_dir, "serf", "local.keyring"))


def test_bad_keyring_file_stops_the_agent(agent_factory, tmp_path):
    a = agent_factory("kf", start=False)
    os.makedirs(os.path.join(a.data_dir, "serf"))
    with open(os.path.join(a.data_dir, "serf", "local.keyring"), "w") as f:
        f.write('["AAAA"]')
    import subprocess
    out = subprocess.run(a.argv(), capture_output=True, text=True, timeout=60)
    assert out.returncode == 1, out.stderr[-2000:]
    assert "local.keyring: keyring entry 0: key size must be 16, 24 or 32 bytes" in out.stderr


def test_verify_flags_roll_encryption_onto_a_plain_pool(agent_factory, tmp_path):
    """Consul's runbook: a key with encrypt_verify_incoming/outgoing false
    still talks to the plain pool (stage 1); with verify_outgoing true
    (stage 2) it talks to members that verify everything, which refuse the
    plain answers of a stage-1 member."""
    k = key()

    def conf(name, vin, vout):
        p = tmp_path / name
        p.write_text(json.dumps({"encrypt": k, "encrypt_verify_incoming": vin,
                                 "encrypt_verify_outgoing": vout}))
        return "-config-file=" + str(p)

    plain = agent_factory("p1")
    roll = agent_factory("r1", extra_args=[conf("r1.json", False, False)])
    r = roll.put("/v1/agent/join/127.0.0.1:%d" % plain.serf_port)
    assert r.status_code == 200, r.text
    wait_until(lambda: alive(plain) == ["p1", "r1"], timeout=20, what="r1 in the plain pool")
    strict = agent_factory("s1", extra_args=["-encrypt=" + k])
    for to in (plain, roll):
        r = strict.put("/v1/agent/join/127.0.0.1:%d" % to.serf_port)
        assert r.status_code == 500, r.text
        assert "encryption key" in r.text
    stage2 = agent_factory("r2", extra_args=[conf("r2.json", False, True)])
    r = strict.put("/v1/agent/join/127.0.0.1:%d" % stage2.serf_port)
    assert r.status_code == 200, r.text
    wait_until(lambda: "s1" in alive(stage2), timeout=20, what="s1 seen by r2")


def test_acl(agent_factory, tmp_path):
    from test_acl import MGMT, AclAgent, acl_config
    cfg = acl_config(str(tmp_path / "acl.hcl"))
    enc = tmp_path / "enc.json"
    enc.write_text(json.dumps({"encrypt": key()}))
    a = AclAgent(tmp_path, name="acl1", extra_args=["-config-file=" + cfg,
                                                     "-config-file=" + str(enc)])
    try:
        a.start()
        anon = {"X-Consul-Token": None}
        r = a.get("/v1/operator/keyring", headers=anon, timeout=30)
        assert r.status_code == 403, r.text
        r = a.put_json("/v1/acl/policy", {"Name": "kr", "Rules": 'keyring = "read"'})
        assert r.status_code == 200, r.text
        r = a.put_json("/v1/acl/token", {"Policies": [{"Name": "kr"}]})
        assert r.status_code == 200, r.text
        reader = {"X-Consul-Token": r.json()["SecretID"]}
        r = a.get("/v1/operator/keyring", headers=reader, timeout=30)
        assert r.status_code == 200, r.text
        r = a.http.post(a.url("/v1/operator/keyring"), json={"Key": key()}, headers=reader)
        assert r.status_code == 403, r.text
        r = a.http.post(a.url("/v1/operator/keyring"), json={"Key": key()},
                        headers={"X-Consul-Token": MGMT}, timeout=30)
        assert r.status_code == 200, r.text
    finally:
        a.close()
    assert a.sanitizer_report() is None
