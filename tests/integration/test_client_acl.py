"""ACLs on a client agent (docs/acl.md, "Client agents"): the requests a
client answers itself (/v1/agent/...) resolve their token through a server
(GET /v1/internal/acl/resolve), cached for acl.token_ttl; when no server
answers, acl.down_policy decides: allow, deny, extend-cache, async-cache.
One server and one client on loopback; the server is stopped to make the
servers unreachable. Waits are on observable state (the answer, the
client's log line saying down_policy applied)."""

import os

import pytest

from conftest import wait_until
from test_acl import ANON, MGMT, AclAgent, acl_config, mkpolicy, mktoken, tok
from test_client_agent import ClientAgent

DOWN_LOG = "down_policy applies"


class AclClient(ClientAgent):
    def _spawn(self):
        super()._spawn()
        self.http.headers["X-Consul-Token"] = MGMT


@pytest.fixture
def pair(tmp_path):
    made = []

    def make(down_policy):
        cfg = acl_config(os.path.join(str(tmp_path), "srv.hcl"))
        s = AclAgent(tmp_path, name="cas1", extra_args=["-config-file=" + cfg])
        made.append(s)
        s.start()
        wait_until(lambda: s.get("/v1/acl/token/" + ANON).status_code == 200,
                   what="the leader's builtin ACL objects")
        mkpolicy(s, "agent-read", 'agent_prefix "" { policy = "read" }\n'
                                  'node_prefix "" { policy = "read" }\n')
        toks = [mktoken(s, "agent-read")["SecretID"] for _ in range(2)]
        ccfg = acl_config(os.path.join(str(tmp_path), "cli.hcl"),
                          extra='  down_policy = "%s"\n  token_ttl = "1s"\n' % down_policy)
        c = AclClient(tmp_path, "cac1", [s.server_port], extra_args=["-config-file=" + ccfg])
        made.append(c)
        c.start()
        return s, c, toks

    yield make
    for a in made:
        a.stop()
        a.close()
    for a in made:
        assert a.sanitizer_report() is None, a.sanitizer_report()


def self_status(c, secret):
    h = tok(secret) if secret else {"X-Consul-Token": None}
    r = c.get("/v1/agent/self", headers=h, timeout=60)
    return r.status_code, r.text


def test_client_resolves_tokens_through_a_server(pair):
    s, c, (t, _) = pair("extend-cache")
    assert self_status(c, t)[0] == 200
    code, text = self_status(c, "11111111-0000-0000-0000-00000000dead")
    assert (code, text) == (403, "ACL not found")
    code, text = self_status(c, None)  # anonymous, default deny
    assert code == 403 and "lacks permission 'agent:read'" in text
    # the management token on the client's own endpoints
    assert c.get("/v1/agent/members").status_code == 200
    # a token deleted on the servers stops working on the client once its TTL ran out
    acc = s.get("/v1/acl/token/self", headers=tok(t)).json()["AccessorID"]
    assert s.delete("/v1/acl/token/" + acc).status_code == 200
    wait_until(lambda: self_status(c, t) == (403, "ACL not found"), what="the deleted token refused")


def down(s, c, t):
    """Stop the server; ask with t until the client applied down_policy (the
    TTL runs out, the fetch finds no server). The answers seen meanwhile."""
    s.stop()
    seen = []
    wait_until(lambda: seen.append(self_status(c, t)[0]) or DOWN_LOG in c.log_text(), timeout=40,
               what="the client applying down_policy")
    return seen


def test_down_policy_deny(pair):
    s, c, (t, _) = pair("deny")
    assert self_status(c, t)[0] == 200
    s.stop()
    # past the TTL the cached token is not used: nothing is allowed
    wait_until(lambda: self_status(c, t)[0] == 403, timeout=30, what="deny once the TTL ran out")
    assert DOWN_LOG in c.log_text()


def test_down_policy_extend_cache(pair):
    s, c, (t, never) = pair("extend-cache")
    assert self_status(c, t)[0] == 200
    assert set(down(s, c, t)) == {200}          # the cached token, past its TTL too
    assert self_status(c, t)[0] == 200
    assert self_status(c, never)[0] == 403      # never cached: denied


def test_down_policy_async_cache(pair):
    s, c, (t, never) = pair("async-cache")
    assert self_status(c, t)[0] == 200
    # past the TTL the stale entry answers at once while a refresh fails behind
    assert set(down(s, c, t)) == {200}
    assert self_status(c, t)[0] == 200
    assert self_status(c, never)[0] == 403


def test_down_policy_allow(pair):
    s, c, (t, never) = pair("allow")
    s.stop()
    code, _ = self_status(c, never)  # never seen: resolved by down_policy
    assert code == 200 and DOWN_LOG in c.log_text()
