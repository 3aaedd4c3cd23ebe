"""ACL replication between datacenters (Consul's primary_datacenter,
acl.enable_token_replication, acl.tokens.replication, /v1/acl/replication).

Two servers on loopback, dc1 the primary and dc2 a secondary, joined in the
WAN pool. Every wait is on observable state: dc2's ReplicatedIndex reaching
dc1's ACL index (X-Consul-Index of an ACL listing), a status field, a
token's answer."""

import os
import signal

import pytest
import requests

from conftest import Agent, assert_no_sanitizer_reports, index_of, wait_until
from test_client_agent import ClientAgent
from test_wan import FAST_WAN, wait_wan

MGMT = "5b1f0e2c-1111-4a3b-9c2d-0123456789ab"


def conf(path, extra):
    with open(path, "w") as f:
        f.write(FAST_WAN + extra)
    return path


class MgmtAgent(Agent):
    """Its own HTTP session carries the management token."""

    def _spawn(self):
        super()._spawn()
        self.http.headers["X-Consul-Token"] = MGMT


class MgmtClient(ClientAgent):
    def _spawn(self):
        super()._spawn()
        self.http.headers["X-Consul-Token"] = MGMT


def tok(secret):
    return {"X-Consul-Token": secret}


def status(a):
    r = requests.get(a.url("/v1/acl/replication"), timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def acl_index(a):
    """The primary's ACL table index (what a secondary's copy must reach)."""
    r = a.get("/v1/acl/policies")
    assert r.status_code == 200, r.text
    return index_of(r)


def wait_replicated(primary, secondary, what):
    want = acl_index(primary)
    wait_until(lambda: status(secondary)["ReplicatedIndex"] >= want, timeout=60,
               what="dc2 to replicate dc1's ACL index %d (%s)" % (want, what))


def start_primary(workdir, made, name):
    """dc1's server, the primary, with the management token; returns it
    once its builtin ACL objects exist."""
    c1 = conf(os.path.join(str(workdir), name + ".hcl"),
              'primary_datacenter = "dc1"\n'
              'acl {\n  enabled = true\n  default_policy = "deny"\n'
              '  tokens {\n    initial_management = "%s"\n    agent = "%s"\n  }\n}\n'
              % (MGMT, MGMT))
    a1 = MgmtAgent(workdir, name=name, extra_args=["-config-file=" + c1])
    made.append(a1)
    a1.start()
    wait_until(lambda: a1.get("/v1/acl/policy/00000000-0000-0000-0000-000000000001")
               .status_code == 200, what="dc1's builtin ACL objects")
    return a1


def start_feds(workdir, made, dc2_acl='  enable_token_replication = true\n', repl_token=MGMT):
    d = str(workdir)
    a1 = start_primary(workdir, made, "r1")
    c2 = conf(os.path.join(d, "dc2.hcl"),
              'acl {\n  enabled = true\n  default_policy = "deny"\n' + dc2_acl +
              '  tokens {\n    replication = "%s"\n    agent = "%s"\n  }\n}\n'
              % (repl_token, MGMT))
    a2 = MgmtAgent(workdir, name="r2", extra_args=[
        "-datacenter=dc2", "-primary-datacenter=dc1", "-config-file=" + c2,
        "-join-wan=127.0.0.1:%d" % a1.serf_wan_port])
    made.append(a2)
    # dc2 knows no token before its first replication: readiness is its
    # leader, then the replicated management token.
    a2.start(wait=False)
    wait_until(lambda: a2.proc.poll() is None and _leader(a2), timeout=60,
               what="dc2's leader")
    if repl_token == MGMT:
        wait_replicated(a1, a2, "the first round")
    wait_wan([a1, a2], {"r1.dc1", "r2.dc2"})
    return a1, a2


def _leader(a):
    try:
        r = requests.get(a.url("/v1/status/leader"), timeout=5)
        return r.status_code == 200 and bool(r.json())
    except (requests.RequestException, ValueError):
        return False


@pytest.fixture(scope="module")
def feds(tmp_path_factory):
    made = []
    try:
        yield start_feds(tmp_path_factory.mktemp("aclrepl"), made)
    finally:
        for a in made:
            a.close()
        assert_no_sanitizer_reports(made)


def mkpolicy(a, name, rules):
    r = a.put_json("/v1/acl/policy", {"Name": name, "Rules": rules})
    assert r.status_code == 200, r.text
    return r.json()


def mktoken(a, policy, local=False):
    r = a.put_json("/v1/acl/token", {"Description": "t", "Local": local,
                                      "Policies": [{"Name": policy}]})
    assert r.status_code == 200, r.text
    return r.json()


def kv_put(a, key, secret):
    return requests.put(a.url("/v1/kv/" + key), data=b"v", headers=tok(secret), timeout=30)


def test_status_of_both_datacenters(feds):
    a1, a2 = feds
    s1 = status(a1)
    assert s1["Enabled"] is False and s1["Running"] is False
    s2 = status(a2)
    assert s2["Enabled"] is True and s2["Running"] is True
    assert s2["SourceDatacenter"] == "dc1" and s2["ReplicationType"] == "tokens"
    assert s2["ReplicatedIndex"] >= 1
    assert s2["ReplicatedRoleIndex"] == s2["ReplicatedIndex"]
    assert s2["ReplicatedTokenIndex"] == s2["ReplicatedIndex"]
    assert not s2["LastSuccess"].startswith("0001-")
    assert set(s2) == {"Enabled", "Running", "SourceDatacenter", "ReplicationType",
                       "ReplicatedIndex", "ReplicatedRoleIndex", "ReplicatedTokenIndex",
                       "LastSuccess", "LastError", "LastErrorMessage"}
    # the builtins came from the primary: the same IDs and the same
    # management token
    r = a2.get("/v1/acl/token/self")
    assert r.status_code == 200, r.text
    assert r.json()["AccessorID"] == a1.get("/v1/acl/token/self").json()["AccessorID"]


def test_policy_and_global_token_work_in_dc2_until_deleted(feds):
    a1, a2 = feds
    mkpolicy(a1, "app-w", 'key_prefix "app/" { policy = "write" }')
    t = mktoken(a1, "app-w")
    wait_replicated(a1, a2, "a policy and a token")
    r = a2.get("/v1/acl/policy/name/app-w")
    assert r.status_code == 200, r.text
    assert "app/" in r.json()["Rules"]
    assert kv_put(a2, "app/x", t["SecretID"]).status_code == 200
    r = kv_put(a2, "other/x", t["SecretID"])
    assert r.status_code == 403 and "Permission denied" in r.text
    # deleted in dc1: unknown in dc2 once replicated
    r = a1.request("DELETE", "/v1/acl/token/" + t["AccessorID"])
    assert r.status_code == 200, r.text
    wait_replicated(a1, a2, "a token's deletion")
    r = kv_put(a2, "app/y", t["SecretID"])
    assert r.status_code == 403 and "ACL not found" in r.text
    assert a2.get("/v1/acl/token/" + t["AccessorID"]).status_code != 200


def test_local_token_stays_in_its_datacenter(feds):
    a1, a2 = feds
    mkpolicy(a1, "loc-w", 'key_prefix "loc/" { policy = "write" }')
    wait_replicated(a1, a2, "the policy")
    t = mktoken(a2, "loc-w", local=True)
    assert t["Local"] is True
    assert kv_put(a2, "loc/a", t["SecretID"]).status_code == 200
    # unknown in dc1
    r = kv_put(a1, "loc/a", t["SecretID"])
    assert r.status_code == 403 and "ACL not found" in r.text
    assert a1.get("/v1/acl/token/" + t["AccessorID"]).status_code != 200
    # and a later replication round leaves it alone
    mkpolicy(a1, "later", 'key "z" { policy = "read" }')
    wait_replicated(a1, a2, "a later round")
    assert a2.get("/v1/acl/policy/name/later").status_code == 200
    assert a2.get("/v1/acl/token/" + t["AccessorID"]).status_code == 200
    assert kv_put(a2, "loc/b", t["SecretID"]).status_code == 200


def test_writes_in_dc2_land_in_dc1(feds):
    a1, a2 = feds
    p = mkpolicy(a2, "from-dc2", 'key_prefix "d2/" { policy = "write" }')
    r = a1.get("/v1/acl/policy/" + p["ID"])
    assert r.status_code == 200, r.text
    assert r.json()["Name"] == "from-dc2"
    # a global token made in dc2 is the primary's too
    t = mktoken(a2, "from-dc2")
    assert a1.get("/v1/acl/token/" + t["AccessorID"]).status_code == 200
    assert kv_put(a1, "d2/x", t["SecretID"]).status_code == 200
    # and comes back to dc2 through replication
    wait_replicated(a1, a2, "dc2's own writes")
    assert a2.get("/v1/acl/policy/" + p["ID"]).status_code == 200
    assert kv_put(a2, "d2/x", t["SecretID"]).status_code == 200
    # an update and a delete in dc2 go to dc1 as well
    r = a2.put_json("/v1/acl/policy/" + p["ID"],
                    {"Name": "from-dc2", "Rules": 'key_prefix "d3/" { policy = "write" }'})
    assert r.status_code == 200, r.text
    assert "d3/" in a1.get("/v1/acl/policy/" + p["ID"]).json()["Rules"]
    r = a2.request("DELETE", "/v1/acl/token/" + t["AccessorID"])
    assert r.status_code == 200, r.text
    assert a1.get("/v1/acl/token/" + t["AccessorID"]).status_code != 200


def test_primary_dark_secondary_keeps_serving(tmp_path):
    made = []
    try:
        a1, a2 = start_feds(tmp_path, made)
        mkpolicy(a1, "app-w", 'key_prefix "app/" { policy = "write" }')
        t = mktoken(a1, "app-w")
        wait_replicated(a1, a2, "a token")
        os.kill(a1.proc.pid, signal.SIGSTOP)
        try:
            wait_until(lambda: status(a2)["LastErrorMessage"] != "", timeout=60,
                       what="dc2's replication to report the dark primary")
            s = status(a2)
            assert not s["LastError"].startswith("0001-")
            assert s["Running"] is True
            # the replicated copy keeps serving
            assert kv_put(a2, "app/dark", t["SecretID"]).status_code == 200
            assert kv_put(a2, "nope", t["SecretID"]).status_code == 403
            # a write that must go to the primary fails instead of landing here
            r = a2.put_json("/v1/acl/policy", {"Name": "while-dark", "Rules": ""})
            assert r.status_code == 500, r.text
        finally:
            os.kill(a1.proc.pid, signal.SIGCONT)
        # the primary back: replication resumes
        mkpolicy(a1, "after", 'key "a" { policy = "read" }')
        wait_replicated(a1, a2, "after the primary came back")
        assert a2.get("/v1/acl/policy/name/after").status_code == 200
    finally:
        for a in made:
            a.close()
        assert_no_sanitizer_reports(made)



def test_policies_only_tokens_resolved_at_primary(tmp_path):
    """Without token replication dc2 copies policies and roles only; a token
    is resolved by asking the primary (kept for acl.token_ttl), every token
    request goes to the primary, and down_policy decides while it is dark."""
    made = []
    try:
        a1, a2 = start_feds(tmp_path, made, dc2_acl='  token_ttl = "1s"\n'
                            '  down_policy = "extend-cache"\n')
        s = status(a2)
        assert s["ReplicationType"] == "policies" and s["ReplicatedTokenIndex"] == 0
        mkpolicy(a1, "app-w", 'key_prefix "app/" { policy = "write" }')
        wait_replicated(a1, a2, "a policy")
        # a token of dc1 works in dc2 at once (resolved at the primary)
        t = mktoken(a1, "app-w")
        assert kv_put(a2, "app/x", t["SecretID"]).status_code == 200
        assert kv_put(a2, "other", t["SecretID"]).status_code == 403
        # token requests in dc2 are the primary's
        r = a2.get("/v1/acl/token/" + t["AccessorID"])
        assert r.status_code == 200 and r.json()["SecretID"] == t["SecretID"]
        t_local = mktoken(a2, "app-w", local=True)
        assert a1.get("/v1/acl/token/" + t_local["AccessorID"]).status_code == 200
        # a client agent of dc2 resolves tokens through its server, which
        # asks the primary (its own registration with the agent token too)
        mkpolicy(a1, "agent-read", 'agent_prefix "" { policy = "read" }')
        tr = mktoken(a1, "agent-read")
        ccfg = conf(os.path.join(str(tmp_path), "c2.hcl"),
                    'acl {\n  enabled = true\n  default_policy = "deny"\n'
                    '  tokens {\n    agent = "%s"\n  }\n}\n' % MGMT)
        c2 = MgmtClient(tmp_path, "rc2", [a2.server_port],
                        extra_args=["-datacenter=dc2", "-config-file=" + ccfg])
        made.append(c2)
        c2.start()
        r = requests.get(c2.url("/v1/agent/self"), headers=tok(tr["SecretID"]), timeout=30)
        assert r.status_code == 200, r.text
        r = requests.get(c2.url("/v1/agent/self"), headers=tok(t["SecretID"]), timeout=30)
        assert r.status_code == 403 and "agent:read" in r.text
        # deleted in dc1: refused in dc2 once its cached copy is older than the TTL
        assert a1.request("DELETE", "/v1/acl/token/" + t["AccessorID"]).status_code == 200
        wait_until(lambda: kv_put(a2, "app/x", t["SecretID"]).status_code == 403,
                   timeout=30, what="the deleted token refused in dc2")
        # the primary dark: a token resolved before keeps working
        # (extend-cache), one never seen is refused
        t2 = mktoken(a1, "app-w")
        assert kv_put(a2, "app/y", t2["SecretID"]).status_code == 200
        t3 = mktoken(a1, "app-w")
        downs = a2.log_text().count("down_policy applies")  # dc2's start may have logged some
        os.kill(a1.proc.pid, signal.SIGSTOP)
        try:
            wait_until(lambda: status(a2)["LastErrorMessage"] != "", timeout=60,
                       what="dc2's replication to report the dark primary")
            # once its cached copy is past the TTL, the failed fetch leaves
            # it to down_policy (logged), and it still answers 200
            wait_until(lambda: kv_put(a2, "app/z", t2["SecretID"]).status_code == 200 and
                       a2.log_text().count("down_policy applies") > downs, timeout=60,
                       what="extend-cache to serve a token the dark primary cannot resolve")
            assert kv_put(a2, "app/z", t2["SecretID"]).status_code == 200
            assert kv_put(a2, "app/z", t3["SecretID"]).status_code == 403
        finally:
            os.kill(a1.proc.pid, signal.SIGCONT)
        wait_until(lambda: kv_put(a2, "app/w", t3["SecretID"]).status_code == 200, timeout=60,
                   what="a new token resolved again once the primary is back")
    finally:
        for a in made:
            a.close()
        assert_no_sanitizer_reports(made)


def test_replication_token_refused_then_set_at_run_time(tmp_path):
    """A replication token the primary does not know: the status says so and
    nothing is copied; PUT /v1/agent/token/replication fixes it without a
    restart (and dc2's own requests are resolved at the primary meanwhile)."""
    made = []
    try:
        a1, a2 = start_feds(tmp_path, made, repl_token="6f0c2d9e-0000-4000-8000-00000000beef")
        wait_until(lambda: "ACL not found" in status(a2)["LastErrorMessage"], timeout=60,
                   what="the primary's refusal in dc2's status")
        s = status(a2)
        assert s["ReplicatedIndex"] == 0 and s["LastSuccess"].startswith("0001-")
        r = a2.get("/v1/acl/policies")
        assert r.status_code == 200, r.text
        assert r.json() == []  # nothing copied
        r = a2.put_json("/v1/agent/token/replication", {"Token": MGMT})
        assert r.status_code == 200, r.text
        wait_replicated(a1, a2, "with the token set at run time")
        assert a2.get("/v1/acl/policy/name/global-management").status_code == 200
    finally:
        for a in made:
            a.close()
        assert_no_sanitizer_reports(made)


def test_dc_parameter_reaches_the_other_datacenter(feds):
    """?dc= on /v1/acl/* is answered by that datacenter's servers (Consul
    forwards ACL RPCs by datacenter): dc2's replication status asked of dc1,
    and a local token made in dc2 through dc1 lives in dc2 only."""
    a1, a2 = feds
    s = a1.get("/v1/acl/replication?dc=dc2")
    assert s.status_code == 200, s.text
    assert s.json()["Enabled"] is True and s.json()["SourceDatacenter"] == "dc1"
    assert a1.get("/v1/acl/replication").json()["Enabled"] is False
    r = a1.put_json("/v1/acl/token?dc=dc2", {"Description": "made through dc1",
                                              "Local": True})
    assert r.status_code == 200, r.text
    t = r.json()
    assert t["Local"] is True
    acc = t["AccessorID"]
    assert a2.get("/v1/acl/token/" + acc).status_code == 200
    assert a1.get("/v1/acl/token/" + acc).status_code in (403, 404)
    listed = a1.get("/v1/acl/tokens?dc=dc2")
    assert listed.status_code == 200, listed.text
    assert acc in {x["AccessorID"] for x in listed.json()}
    assert acc not in {x["AccessorID"] for x in a1.get("/v1/acl/tokens").json()}
    # an unknown datacenter is refused, as Consul does
    bad = a1.get("/v1/acl/policies?dc=nowhere")
    assert bad.status_code == 500 and "No path to datacenter" in bad.text
    assert a1.delete("/v1/acl/token/%s?dc=dc2" % acc).status_code == 200
    assert a2.get("/v1/acl/token/" + acc).status_code in (403, 404)


def test_status_is_the_leaders_on_every_server(tmp_path, cluster_factory):
    """Replication runs on the secondary's leader alone; Consul forwards
    ACL.ReplicationStatus to the leader unless ?stale, so a follower answers
    the leader's status (running, its index), and with ?stale its own (not
    running). dc2 is a three-server cluster."""
    made = []
    try:
        a1 = start_primary(tmp_path, made, "p1")
        c2 = conf(os.path.join(str(tmp_path), "s2.hcl"),
                  'acl {\n  enabled = true\n  default_policy = "deny"\n'
                  '  enable_token_replication = true\n'
                  '  tokens {\n    replication = "%s"\n    agent = "%s"\n  }\n}\n'
                  % (MGMT, MGMT))
        c = cluster_factory(3, prefix="s", extra_args=[
            "-datacenter=dc2", "-primary-datacenter=dc1", "-config-file=" + c2,
            "-join-wan=127.0.0.1:%d" % a1.serf_wan_port])
        ldr = c.leader()
        wait_replicated(a1, ldr, "dc2's leader")
        lead = status(ldr)
        assert lead["Running"] is True
        for f in c.followers():
            s = status(f)
            assert s["Enabled"] is True and s["Running"] is True, s
            assert s["ReplicatedIndex"] >= lead["ReplicatedIndex"], (s, lead)
            assert not s["LastSuccess"].startswith("0001-"), s
            # its own memory: replication does not run here
            r = requests.get(f.url("/v1/acl/replication"), params={"stale": ""}, timeout=30)
            assert r.status_code == 200, r.text
            own = r.json()
            assert own["Enabled"] is True and own["Running"] is False, own
            assert own["LastSuccess"].startswith("0001-"), own
            # ?pretty is the leader's indentation
            r = requests.get(f.url("/v1/acl/replication"), params={"pretty": ""}, timeout=30)
            assert r.status_code == 200, r.text
            assert r.headers["Content-Type"].startswith("application/json")
            assert '\n    "Running": true' in r.text, r.text
    finally:
        for a in made:
            a.close()
        assert_no_sanitizer_reports(made)
