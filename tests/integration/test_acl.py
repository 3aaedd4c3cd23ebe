"""ACLs (docs/acl.md): bootstrap once, token/policy/role CRUD and shapes,
expiry, the permission matrix over the endpoint families (management,
anonymous, read, write, deny tokens; default deny and allow), filtering of
catalog, health and KV listings and of blocking queries, Consul's 400 texts
for malformed rules, python-consul with token=, ACLs surviving a restart and
a leader failover, and ACLs off costing nothing (401 on /v1/acl)."""

import json
import os
import threading
import time

import pytest
import requests

from conftest import Agent, Cluster, assert_no_sanitizer_reports, index_of, wait_until

MGMT = "11111111-2222-3333-4444-555555555555"
ANON = "00000000-0000-0000-0000-000000000002"
GM = "00000000-0000-0000-0000-000000000001"
NOTOK = {"X-Consul-Token": None}  # drop the session's management token


def acl_config(path, default="deny", extra=""):
    with open(path, "w") as f:
        f.write('acl {\n  enabled = true\n  default_policy = "%s"\n'
                '  token_min_expiration_ttl = "1s"\n%s'
                '  tokens {\n    initial_management = "%s"\n    agent = "%s"\n  }\n}\n'
                % (default, extra, MGMT, MGMT))
    return path


class AclAgent(Agent):
    """An agent whose own HTTP session carries the management token (so the
    shared readiness checks see the catalog)."""

    def _spawn(self):
        super()._spawn()
        self.http.headers["X-Consul-Token"] = MGMT

    def stats(self):
        r = requests.get(self.url("/v1/agent/self"), headers=tok(MGMT), timeout=30)
        assert r.status_code == 200, (r.status_code, r.text)
        return {k: int(v) for k, v in r.json()["Stats"]["cairn"].items()}


def tok(secret):
    return {"X-Consul-Token": secret}


@pytest.fixture(scope="module")
def acl(tmp_path_factory):
    d = tmp_path_factory.mktemp("acl")
    cfg = acl_config(os.path.join(str(d), "acl.hcl"))
    a = AclAgent(d, name="acl1", extra_args=["-config-file=" + cfg])
    a.start()
    wait_until(lambda: a.get("/v1/acl/token/" + ANON).status_code == 200,
               what="the leader's builtin ACL objects")
    yield a
    rc = a.stop()
    a.close()
    assert a.sanitizer_report() is None, a.sanitizer_report()
    assert rc == 0


def mkpolicy(a, name, rules):
    r = a.put_json("/v1/acl/policy", {"Name": name, "Rules": rules})
    assert r.status_code == 200, r.text
    return r.json()


def mktoken(a, *policies, **kw):
    body = {"Description": kw.get("desc", "t"), "Policies": [{"Name": p} for p in policies]}
    body.update(kw.get("extra", {}))
    r = a.put_json("/v1/acl/token", body)
    assert r.status_code == 200, r.text
    return r.json()


# ---- objects ------------------------------------------------------------------------

def test_builtins_and_shapes(acl):
    r = acl.get("/v1/acl/policy/" + GM)
    assert r.status_code == 200
    p = r.json()
    assert p["Name"] == "global-management" and "acl = \"write\"" in p["Rules"]
    assert p["CreateIndex"] > 0 and p["ModifyIndex"] >= p["CreateIndex"] and p["Hash"]
    anon = acl.get("/v1/acl/token/" + ANON).json()
    assert anon["SecretID"] == "anonymous" and anon["Description"] == "Anonymous Token"
    toks = acl.get("/v1/acl/tokens").json()
    mg = [t for t in toks if t["SecretID"] == MGMT]
    assert len(mg) == 1 and mg[0]["Policies"] == [{"ID": GM, "Name": "global-management"}]
    assert all("Legacy" in t and "CreateTime" in t for t in toks)
    assert acl.get("/v1/acl/policy/name/global-management").json()["ID"] == GM
    assert "Rules" not in acl.get("/v1/acl/policies").json()[0]
    self_ = acl.get("/v1/acl/token/self").json()
    assert self_["SecretID"] == MGMT
    assert acl.get("/v1/acl/token/self", headers=NOTOK).status_code == 403
    assert acl.get("/v1/acl/token/self", headers=tok("nope")).text == "ACL not found"


def test_agent_token_gates_own_registration(agent_factory, tmp_path):
    """Default deny and no agent token: the node does not register itself
    and the log says why (Consul's line); once the agent token is set it
    does, by anti-entropy."""
    p = str(tmp_path / "noagent.hcl")
    with open(p, "w") as f:
        f.write('acl {\n enabled = true\n default_policy = "deny"\n'
                ' tokens { initial_management = "%s" }\n}\n' % MGMT)
    a = agent_factory("noagent", extra_args=["-config-file=" + p], start=False)
    a.wait_ready = lambda timeout=60: wait_until(
        lambda: a.get("/v1/status/leader").json(), timeout=timeout, what="leader")
    a.start()
    wait_until(lambda: "Node info update blocked by ACLs: node=noagent" in a.log_text(),
               what="the blocked-by-ACLs log line")
    # the leader creates the initial management token a moment after it leads
    wait_until(lambda: a.get("/v1/catalog/nodes", headers=tok(MGMT)).status_code == 200,
               what="the initial management token")
    nodes = a.get("/v1/catalog/nodes", headers=tok(MGMT)).json()
    assert all(n["Node"] != "noagent" for n in nodes)
    assert MGMT not in a.log_text()  # secrets never logged
    r = a.put_json("/v1/agent/token/agent", {"Token": MGMT}, headers=tok(MGMT))
    assert r.status_code == 200, r.text
    wait_until(lambda: any(n["Node"] == "noagent" for n in
                           a.get("/v1/catalog/nodes", headers=tok(MGMT)).json()),
               timeout=20, what="the node registered with the agent token")


def test_bootstrap_once(agent_factory, tmp_path):
    p = str(tmp_path / "b.hcl")
    with open(p, "w") as f:
        f.write('acl { enabled = true\n default_policy = "deny" }\n')
    a = agent_factory("boot", extra_args=["-config-file=" + p], start=False)
    a.wait_ready = lambda timeout=60: wait_until(
        lambda: a.get("/v1/status/leader").json(), timeout=timeout, what="leader")
    a.start()
    # until the leader wrote the builtins, bootstrap asks to try again
    out = {}
    wait_until(lambda: out.setdefault("r", a.put("/v1/acl/bootstrap")).status_code != 500
               or out.pop("r") is None, what="bootstrap past initialization")
    r = out["r"]
    assert r.status_code == 200, r.text
    t = r.json()
    assert t["Description"] == "Bootstrap Token (Global Management)"
    assert t["Policies"][0]["ID"] == GM and len(t["SecretID"]) == 36
    r2 = a.put("/v1/acl/bootstrap")
    assert r2.status_code == 403
    assert r2.text == ("Permission denied: ACL bootstrap no longer allowed (reset index: %d)"
                       % t["CreateIndex"])
    # the bootstrap token manages
    assert a.put("/v1/kv/x", data="1", headers=tok(t["SecretID"])).status_code == 200
    assert a.put("/v1/kv/x", data="1").status_code == 403


def test_policy_errors(acl):
    cases = [
        ({"Name": "b1", "Rules": 'key_prefix "a/" { policy = "bogus" }'},
         'Invalid key_prefix policy: &acl.KeyPolicy{Prefix:"a/", Policy:"bogus"}'),
        ({"Name": "b2", "Rules": 'frobnicate "a" { policy = "read" }'},
         'Failed to parse ACL rules: unknown resource "frobnicate"'),
        ({"Name": "b3", "Rules": 'key_prefix "a/" {'}, "Failed to parse ACL rules: "),
        ({"Name": "", "Rules": ""}, "Invalid Policy: no Name is set"),
        ({"Name": "bad name!", "Rules": ""},
         "Invalid Policy: invalid Name. Only alphanumeric characters, '-' and '_' are allowed"),
        ({"Name": "global-management", "Rules": ""},
         'Invalid Policy: A Policy with Name "global-management" already exists'),
    ]
    for body, want in cases:
        r = acl.put_json("/v1/acl/policy", body)
        assert r.status_code == 400 and r.text.startswith(want), (body, r.status_code, r.text)
    r = acl.delete("/v1/acl/policy/" + GM)
    assert (r.status_code, r.text) == (
        400, "Delete operation not permitted on the builtin global-management policy")
    r = acl.delete("/v1/acl/token/" + ANON)
    assert (r.status_code, r.text) == (400, "Delete operation not permitted on the anonymous token")
    r = acl.put_json("/v1/acl/token", {"Policies": [{"Name": "no-such"}]})
    assert (r.status_code, r.text) == (400, 'No such ACL policy with name "no-such"')
    r = acl.put_json("/v1/acl/token", {"ServiceIdentities": [{"ServiceName": "web"}]})
    assert r.status_code == 400 and "not supported" in r.text
    r = acl.put_json("/v1/acl/policy/" + GM, {"Name": "global-management", "Rules": "acl = \"read\""})
    assert r.status_code == 400 and "Changing the Rules" in r.text


def test_token_crud_clone_and_roles(acl):
    p = mkpolicy(acl, "crud-kv", 'key_prefix "crud/" { policy = "write" }')
    t = mktoken(acl, "crud-kv", desc="first")
    aid, sid = t["AccessorID"], t["SecretID"]
    assert t["Policies"] == [{"ID": p["ID"], "Name": "crud-kv"}]
    assert acl.get("/v1/acl/token/" + aid).json()["Description"] == "first"
    # update: description, policies; the secret stays
    r = acl.put_json("/v1/acl/token/" + aid, {"Description": "second", "Policies": []})
    assert r.status_code == 200 and r.json()["SecretID"] == sid and "Policies" not in r.json()
    assert acl.put("/v1/kv/crud/a", data="1", headers=tok(sid)).status_code == 403
    # a role carries the policy
    role = acl.put_json("/v1/acl/role", {"Name": "crud-role",
                                          "Policies": [{"Name": "crud-kv"}]}).json()
    assert role["Policies"] == [{"ID": p["ID"], "Name": "crud-kv"}]
    r = acl.put_json("/v1/acl/token/" + aid, {"Description": "second",
                                               "Roles": [{"Name": "crud-role"}]})
    assert r.status_code == 200, r.text
    assert acl.put("/v1/kv/crud/a", data="1", headers=tok(sid)).status_code == 200
    assert acl.get("/v1/acl/role/name/crud-role").json()["ID"] == role["ID"]
    assert [x["AccessorID"] for x in acl.get("/v1/acl/tokens", params={"role": role["ID"]}).json()] \
        == [aid]
    assert any(r_["Name"] == "crud-role" for r_ in acl.get("/v1/acl/roles").json())
    # clone
    c = acl.put_json("/v1/acl/token/%s/clone" % aid, {"Description": "copy"}).json()
    assert c["AccessorID"] != aid and c["SecretID"] != sid and c["Description"] == "copy"
    assert c["Roles"] == [{"ID": role["ID"], "Name": "crud-role"}]
    # changing the secret is refused
    r = acl.put_json("/v1/acl/token/" + aid, {"SecretID": MGMT})
    assert (r.status_code, r.text) == (400, "Changing a tokens SecretID is not permitted")
    # a policy rename shows in the token's links
    r = acl.put_json("/v1/acl/policy/" + p["ID"], {"Name": "crud-kv2",
                                                     "Rules": 'key_prefix "crud/" { policy = "write" }'})
    assert r.status_code == 200
    assert acl.get("/v1/acl/role/" + role["ID"]).json()["Policies"][0]["Name"] == "crud-kv2"
    # ?policy= filter
    t2 = mktoken(acl, "crud-kv2")
    assert [x["AccessorID"] for x in
            acl.get("/v1/acl/tokens", params={"policy": p["ID"]}).json()] == [t2["AccessorID"]]
    # delete
    assert acl.delete("/v1/acl/token/" + aid).json() is True
    assert acl.get("/v1/acl/token/" + aid).status_code == 403
    assert acl.put("/v1/kv/crud/a", data="1", headers=tok(sid)).text == "ACL not found"
    assert acl.delete("/v1/acl/role/" + role["ID"]).json() is True
    assert acl.delete("/v1/acl/policy/" + p["ID"]).json() is True
    # a token may not delete itself
    r = acl.delete("/v1/acl/token/" + t2["AccessorID"], headers=tok(t2["SecretID"]))
    assert r.status_code == 403  # it has no acl:write either


def test_token_expiry(acl):
    mkpolicy(acl, "exp-kv", 'key_prefix "exp/" { policy = "write" }')
    t = mktoken(acl, "exp-kv", extra={"ExpirationTTL": "2s"})
    assert "ExpirationTime" in t
    assert acl.put("/v1/kv/exp/a", data="1", headers=tok(t["SecretID"])).status_code == 200
    # the leader reaps it; until then it is refused by time already
    wait_until(lambda: acl.put("/v1/kv/exp/a", data="1",
                               headers=tok(t["SecretID"])).status_code == 403,
               timeout=20, what="expired token refused")
    wait_until(lambda: acl.get("/v1/acl/token/" + t["AccessorID"]).status_code == 403
               and all(x["AccessorID"] != t["AccessorID"] for x in acl.get("/v1/acl/tokens").json()),
               timeout=20, what="expired token reaped")
    r = acl.put_json("/v1/acl/token", {"ExpirationTTL": "100h"})
    assert r.status_code == 400 and "cannot be more than" in r.text


def test_token_with_many_policies(acl):
    """A token linking more policies than any fixed table (Consul sets no
    bound): each one applies, the last as well as the first."""
    names = []
    for i in range(80):
        mkpolicy(acl, "many-%02d" % i, 'key_prefix "many/%02d/" { policy = "write" }' % i)
        names.append("many-%02d" % i)
    t = mktoken(acl, *names)
    for i in (0, 63, 64, 79):
        r = acl.put("/v1/kv/many/%02d/k" % i, data="1", headers=tok(t["SecretID"]))
        assert r.status_code == 200, (i, r.text)
    assert acl.put("/v1/kv/many/80/k", data="1", headers=tok(t["SecretID"])).status_code == 403


# ---- the permission matrix ---------------------------------------------------------------

@pytest.fixture(scope="module")
def tokens(acl):
    mkpolicy(acl, "m-read", 'key_prefix "" { policy = "read" }\nservice_prefix "" { policy = "read" }\n'
                            'node_prefix "" { policy = "read" }\nsession_prefix "" { policy = "read" }\n'
                            'event_prefix "" { policy = "read" }\nquery_prefix "" { policy = "read" }\n'
                            'agent_prefix "" { policy = "read" }\noperator = "read"\nacl = "read"\n')
    mkpolicy(acl, "m-write", 'key_prefix "" { policy = "write" }\nservice_prefix "" { policy = "write" }\n'
                             'node_prefix "" { policy = "write" }\nsession_prefix "" { policy = "write" }\n'
                             'event_prefix "" { policy = "write" }\nquery_prefix "" { policy = "write" }\n'
                             'agent_prefix "" { policy = "write" }\noperator = "write"\n')
    mkpolicy(acl, "m-deny", 'key_prefix "" { policy = "deny" }\nservice_prefix "" { policy = "deny" }\n'
                            'node_prefix "" { policy = "deny" }\noperator = "deny"\n')
    t = {n: mktoken(acl, "m-" + n)["SecretID"] for n in ("read", "write", "deny")}
    t["mgmt"] = MGMT
    t["anon"] = None
    acl.kv_put("m/k", "v")
    acl.put_json("/v1/agent/service/register", {"Name": "msvc", "ID": "msvc1", "Port": 80})
    return t


def call(a, who, tokens, method, path, body=None):
    h = tok(tokens[who]) if tokens[who] else NOTOK
    data = json.dumps(body) if isinstance(body, (dict, list)) else body
    return a.request(method, path, headers=h, data=data).status_code


# (method, path, body, who may: "read" = read, write and management tokens;
#  "write" = write and management; "aclread" = the read token (acl = "read")
#  and management; "mgmt" = only management; "any" = everyone). A denial is
#  403, except where Consul answers otherwise: a list filtered to nothing
#  (404 for a KV recurse) and a transaction (409 with "Permission denied").
MATRIX = [
    ("GET", "/v1/kv/m/k", None, "read"),
    ("GET", "/v1/kv/m/?recurse", None, "read"),
    ("PUT", "/v1/kv/m/k", "v2", "write"),
    ("DELETE", "/v1/kv/m/zz", None, "write"),
    ("PUT", "/v1/txn", [{"KV": {"Verb": "get", "Key": "m/k"}}], "read"),
    ("PUT", "/v1/txn", [{"KV": {"Verb": "set", "Key": "m/t", "Value": "eA=="}}], "write"),
    ("GET", "/v1/catalog/service/msvc", None, "read"),
    ("GET", "/v1/catalog/node/acl1", None, "read"),
    ("PUT", "/v1/catalog/register", {"Node": "ext1", "Address": "10.0.0.1"}, "write"),
    ("GET", "/v1/health/service/msvc", None, "read"),
    ("GET", "/v1/health/node/acl1", None, "read"),
    ("GET", "/v1/health/checks/msvc", None, "read"),
    ("GET", "/v1/agent/self", None, "read"),
    ("GET", "/v1/agent/service/msvc1", None, "read"),
    ("PUT", "/v1/agent/service/register", {"Name": "msvc", "ID": "msvc1", "Port": 80}, "write"),
    ("PUT", "/v1/agent/reload", None, "write"),
    ("GET", "/v1/operator/raft/configuration", None, "read"),
    ("GET", "/v1/agent/host", None, "read"),
    ("PUT", "/v1/event/fire/m-ev", None, "write"),
    ("PUT", "/v1/session/create", {"Name": "s"}, "write"),
    ("GET", "/v1/session/node/acl1", None, "read"),
    ("GET", "/v1/query", None, "any"),  # filtered per query name (test_query_acl.py)
    ("GET", "/v1/acl/tokens", None, "aclread"),
    ("PUT", "/v1/acl/policy", {"Name": "never", "Rules": ""}, "mgmt"),
    ("GET", "/v1/status/leader", None, "any"),
    ("GET", "/v1/catalog/datacenters", None, "any"),
]


@pytest.mark.parametrize("method,path,body,need", MATRIX,
                         ids=["%s %s" % (m, p) for m, p, _, _ in MATRIX])
def test_permission_matrix(acl, tokens, method, path, body, need):
    may = {"any": {"anon", "deny", "read", "write", "mgmt"}, "read": {"read", "write", "mgmt"},
           "write": {"write", "mgmt"}, "aclread": {"read", "mgmt"}, "mgmt": {"mgmt"}}[need]
    denied = 404 if "recurse" in path else 409 if path == "/v1/txn" else 403
    for who in ("anon", "deny", "read", "write", "mgmt"):
        if path == "/v1/acl/policy" and who == "mgmt":
            continue  # would create it
        code = call(acl, who, tokens, method, path, body)
        if who in may:
            assert code not in (403, denied), (who, method, path, code)
        else:
            assert code == denied, (who, method, path, code)


def test_denied_text(acl, tokens):
    r = acl.put("/v1/kv/m/k", data="x", headers=tok(tokens["read"]))
    assert r.status_code == 403
    assert r.text.startswith("Permission denied: token with AccessorID '")
    assert r.text.endswith("' lacks permission 'key:write' on \"m/k\"")
    r = acl.get("/v1/kv/m/k", headers=NOTOK)
    assert r.text == ("Permission denied: anonymous token lacks permission 'key:read' on \"m/k\". "
                      "The anonymous token is used implicitly when a request does not specify "
                      "a token.")
    assert r.headers["X-Consul-Default-Acl-Policy"] == "deny"
    for hdr in ({"Authorization": "Bearer " + tokens["read"]}, {}):
        params = {} if hdr else {"token": tokens["read"]}
        r = requests.get(acl.url("/v1/kv/m/k"), headers=hdr, params=params)
        assert r.status_code == 200, r.text
    assert acl.get("/v1/kv/m/k", headers=tok("not-a-token")).text == "ACL not found"


# ---- filtering --------------------------------------------------------------------------

def test_filtering(acl):
    acl.kv_put("f/pub/a", "1")
    acl.kv_put("f/pub/b", "1")
    acl.kv_put("f/priv/c", "1")
    acl.put_json("/v1/catalog/register", {"Node": "fnode-pub", "Address": "10.1.0.1",
                                          "Service": {"Service": "fsvc-pub", "Port": 1}})
    acl.put_json("/v1/catalog/register", {"Node": "fnode-priv", "Address": "10.1.0.2",
                                          "Service": {"Service": "fsvc-priv", "Port": 1}})
    mkpolicy(acl, "f-pub", 'key_prefix "f/pub/" { policy = "read" }\n'
                           'node_prefix "fnode-pub" { policy = "read" }\n'
                           'service_prefix "fsvc-pub" { policy = "read" }\n')
    t = tok(mktoken(acl, "f-pub")["SecretID"])
    r = acl.get("/v1/kv/f/", params={"recurse": ""}, headers=t)
    assert [e["Key"] for e in r.json()] == ["f/pub/a", "f/pub/b"]
    assert r.headers.get("X-Consul-Results-Filtered-By-Acls") == "true"
    r = acl.get("/v1/kv/f/", params={"keys": "", "separator": "/"}, headers=t)
    assert r.json() == ["f/pub/"]
    r = acl.get("/v1/kv/f/pub/", params={"recurse": ""}, headers=t)
    assert "X-Consul-Results-Filtered-By-Acls" not in r.headers
    nodes = [n["Node"] for n in acl.get("/v1/catalog/nodes", headers=t).json()]
    assert nodes == ["fnode-pub"]
    assert list(acl.get("/v1/catalog/services", headers=t).json()) == ["fsvc-pub"]
    assert acl.get("/v1/health/service/fsvc-priv", headers=t).status_code == 403
    hs = acl.get("/v1/health/state/any", headers=t).json()
    assert hs == [] or all(c["Node"] == "fnode-pub" or c["ServiceName"] == "fsvc-pub" for c in hs)
    # everything filtered out of a recurse: 404, as an empty list in Consul
    assert acl.get("/v1/kv/f/priv/", params={"recurse": ""}, headers=t).status_code == 404


def test_blocking_query_does_not_leak(acl):
    mkpolicy(acl, "b-pub", 'key_prefix "b/pub/" { policy = "read" }')
    t = tok(mktoken(acl, "b-pub")["SecretID"])
    acl.kv_put("b/pub/a", "1")
    r = acl.get("/v1/kv/b/", params={"recurse": ""}, headers=t)
    idx = index_of(r)
    body0 = r.json()
    out = {}

    def waiter():
        out["r"] = acl.get("/v1/kv/b/", params={"recurse": "", "index": idx, "wait": "3s"},
                           headers=t, timeout=30)
    th = threading.Thread(target=waiter)
    th.start()
    acl.wait_parked(1)
    acl.kv_put("b/priv/secret", "s3cret")  # a change the token cannot read
    th.join()
    r2 = out["r"]
    assert r2.status_code == 200
    assert r2.json() == body0  # woken perhaps, but nothing it may not see
    assert "s3cret" not in r2.text and "b/priv" not in r2.text


def _raw_get(port, head):
    """Send one request's exact bytes; return (status, headers, body)."""
    import socket
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        s.sendall(head.encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(65536)
            assert chunk, "connection closed before the answer"
            buf += chunk
        top, _, body = buf.partition(b"\r\n\r\n")
        lines = top.decode().split("\r\n")
        hdrs = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
        n = int(hdrs.get("content-length", "0"))
        while len(body) < n:
            chunk = s.recv(65536)
            assert chunk, "connection closed inside the body"
            body += chunk
        return int(lines[0].split()[1]), hdrs, body
    finally:
        s.close()


@pytest.mark.parametrize("auth", ["X-Consul-Token: %s", "Authorization: Bearer %s"])
def test_parked_go_client_keeps_its_token(acl, auth):
    """A blocking query with the exact bytes of Consul's Go api client (Host,
    User-Agent, the token, Accept-Encoding; ?index=&wait= as url.Values
    encodes them) parks, and its re-run after the write still reads with its
    token: the server drops the headers no handler reads (Host, User-Agent)
    from a complete request, never the token."""
    key = "gopark/%s" % ("x" if auth.startswith("X") else "b")
    mkpolicy(acl, "gopark-" + key[-1], 'key_prefix "%s" { policy = "read" }' % key)
    secret = mktoken(acl, "gopark-" + key[-1])["SecretID"]
    acl.kv_put(key, "one")
    idx = index_of(acl.get("/v1/kv/" + key, headers=tok(secret)))
    head = ("GET /v1/kv/%s?index=%d&wait=300000ms HTTP/1.1\r\n"
            "Host: 127.0.0.1:%d\r\nUser-Agent: Go-http-client/1.1\r\n"
            + auth + "\r\nAccept-Encoding: gzip\r\n\r\n") % (key, idx, acl.http_port, secret)
    base = acl.parked()
    out = {}

    def waiter():
        out["r"] = _raw_get(acl.http_port, head)
    th = threading.Thread(target=waiter)
    th.start()
    acl.wait_parked(base + 1)
    acl.kv_put(key, "two")
    th.join(60)
    assert not th.is_alive()
    status, hdrs, body = out["r"]
    assert status == 200, body
    assert int(hdrs["x-consul-index"]) > idx
    [kv] = json.loads(body)
    assert kv["Key"] == key and kv["Value"] == "dHdv"  # "two"
    # The same bytes without a token are the anonymous token's: denied.
    anon = head.replace(auth % secret + "\r\n", "")
    assert _raw_get(acl.http_port, anon)[0] == 403


def test_python_consul_token(acl, tokens):
    import consul
    c = consul.Consul(host="127.0.0.1", port=acl.http_port, token=tokens["write"])
    c.kv.put("m/py", "hello")
    assert c.kv.get("m/py")[1]["Value"] == b"hello"
    ro = consul.Consul(host="127.0.0.1", port=acl.http_port, token=tokens["read"])
    assert ro.kv.get("m/py")[1]["Value"] == b"hello"
    with pytest.raises(consul.base.ACLPermissionDenied):
        ro.kv.put("m/py", "no")
    anon = consul.Consul(host="127.0.0.1", port=acl.http_port)
    with pytest.raises(consul.base.ACLPermissionDenied):
        anon.kv.get("m/py")


def test_agent_token_endpoint(acl, tokens):
    mkpolicy(acl, "dflt", 'key_prefix "dflt/" { policy = "read" }')
    d = mktoken(acl, "dflt")["SecretID"]
    acl.kv_put("dflt/x", "1")
    assert acl.get("/v1/kv/dflt/x", headers=NOTOK).status_code == 403
    r = acl.put_json("/v1/agent/token/default", {"Token": d})
    assert r.status_code == 200, r.text
    assert acl.get("/v1/kv/dflt/x", headers=NOTOK).status_code == 200
    assert acl.put_json("/v1/agent/token/default", {"Token": d},
                        headers=tok(tokens["read"])).status_code == 403
    assert acl.put_json("/v1/agent/token/nope", {"Token": d}).status_code == 404
    assert acl.put_json("/v1/agent/token/default", {"Token": ""}).status_code == 200
    assert acl.get("/v1/kv/dflt/x", headers=NOTOK).status_code == 403


# ---- default allow, ACLs off -------------------------------------------------------------

def test_default_allow(agent_factory, tmp_path):
    cfg = acl_config(str(tmp_path / "allow.hcl"), default="allow")
    a = agent_factory("allow1", extra_args=["-config-file=" + cfg], start=False)
    a.start()
    wait_until(lambda: a.get("/v1/acl/token/" + ANON,
                             headers=tok(MGMT)).status_code == 200, what="builtins")
    assert a.put("/v1/kv/any", data="1").status_code == 200
    r = a.put_json("/v1/acl/policy", {"Name": "deny-sec",
                                      "Rules": 'key_prefix "sec/" { policy = "deny" }'},
                   headers=tok(MGMT))
    assert r.status_code == 200
    r = a.put_json("/v1/acl/token/" + ANON, {"Policies": [{"Name": "deny-sec"}]},
                   headers=tok(MGMT))
    assert r.status_code == 200, r.text
    assert a.put("/v1/kv/sec/x", data="1").status_code == 403
    assert a.put("/v1/kv/other", data="1").status_code == 200
    assert a.get("/v1/kv/other").headers["X-Consul-Default-Acl-Policy"] == "allow"


def test_acls_off(agent):
    assert agent.get("/v1/acl/tokens").status_code == 401
    assert agent.get("/v1/acl/tokens").text == "ACL support disabled"
    assert agent.put("/v1/acl/bootstrap").status_code == 401
    assert agent.put("/v1/kv/off", data="1", headers=tok("whatever")).status_code == 200


# ---- durability ------------------------------------------------------------------------

def test_restart_keeps_acls(agent_factory, tmp_path):
    cfg = acl_config(str(tmp_path / "r.hcl"))
    a = AclAgent(str(tmp_path), name="rst1", extra_args=["-config-file=" + cfg])
    try:
        a.start()
        mkpolicy(a, "rst", 'key_prefix "r/" { policy = "write" }')
        s = mktoken(a, "rst")["SecretID"]
        assert a.put("/v1/kv/r/1", data="x", headers=tok(s)).status_code == 200
        a.restart()
        assert a.put("/v1/kv/r/2", data="x", headers=tok(s)).status_code == 200
        assert a.put("/v1/kv/q", data="x", headers=tok(s)).status_code == 403
        assert a.put("/v1/acl/bootstrap").status_code == 403
    finally:
        a.close()
    assert a.sanitizer_report() is None


def test_failover_keeps_acls(tmp_path):
    cfg = acl_config(str(tmp_path / "c.hcl"))
    c = Cluster(tmp_path, 3, extra_args=["-config-file=" + cfg])
    try:
        c.start()
        ldr = c.leader()
        wait_until(lambda: ldr.get("/v1/acl/token/" + ANON, headers=tok(MGMT)).status_code == 200,
                   what="builtins")
        r = ldr.put_json("/v1/acl/policy", {"Name": "fo", "Rules": 'key_prefix "fo/" { policy = "write" }'},
                         headers=tok(MGMT))
        assert r.status_code == 200, r.text
        r = ldr.put_json("/v1/acl/token", {"Policies": [{"Name": "fo"}]}, headers=tok(MGMT))
        s = r.json()["SecretID"]
        ldr.kill9()
        ldr.stopped = True
        new = c.leader()
        assert new is not ldr
        for a in c.live():
            wait_until(lambda: a.put("/v1/kv/fo/x", data="1", headers=tok(s)).status_code == 200,
                       what="token works on " + a.name)
            assert a.put("/v1/kv/other", data="1", headers=tok(s)).status_code == 403
    finally:
        for a in c.agents:
            a.close()
    assert_no_sanitizer_reports([a for a in c.agents if a is not ldr])


# ---- the CLI ---------------------------------------------------------------------------

def cli(a, *args, token=MGMT, stdin=None):
    import subprocess
    from conftest import CAIRN_BIN
    env = dict(os.environ)
    env["CAIRN_HTTP_ADDR"] = "127.0.0.1:%d" % a.http_port
    env.pop("CONSUL_HTTP_TOKEN", None)
    if token:
        env["CAIRN_HTTP_TOKEN"] = token
    else:
        env.pop("CAIRN_HTTP_TOKEN", None)
    p = subprocess.run([CAIRN_BIN] + list(args), env=env, input=stdin, capture_output=True,
                       text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def field(out, name):
    for line in out.splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    raise AssertionError("no %s in %r" % (name, out))


def test_cli_flows(acl, tmp_path):
    rules = tmp_path / "r.hcl"
    rules.write_text('key_prefix "cli/" {\n  policy = "write"\n}\n')
    rc, out, err = cli(acl, "acl", "policy", "create", "-name", "cli-kv", "-description", "d",
                       "-rules", "@" + str(rules))
    assert rc == 0, err
    assert field(out, "Name") == "cli-kv" and 'key_prefix "cli/"' in out
    rc, out, _ = cli(acl, "acl", "policy", "list")
    assert rc == 0 and "cli-kv:" in out and "global-management:" in out
    rc, out, err = cli(acl, "acl", "token", "create", "-description", "cli", "-policy-name",
                       "cli-kv")
    assert rc == 0, err
    aid, sid = field(out, "AccessorID"), field(out, "SecretID")
    assert "cli-kv" in out
    rc, out, err = cli(acl, "kv", "put", "cli/a", "1", token=sid)
    assert rc == 0, err
    rc, out, err = cli(acl, "kv", "put", "nope", "1", token=sid)
    assert rc == 1 and "Permission denied" in err
    rc, out, err = cli(acl, "kv", "put", "-token=" + sid, "cli/b", "1", token=None)
    assert rc == 0, err
    rc, out, err = cli(acl, "acl", "token", "read", "-id", aid, "-format=json")
    assert rc == 0 and json.loads(out)["AccessorID"] == aid
    rc, out, err = cli(acl, "acl", "role", "create", "-name", "cli-role", "-policy-name", "cli-kv")
    assert rc == 0, err
    rc, out, err = cli(acl, "acl", "token", "update", "-id", aid, "-role-name", "cli-role")
    assert rc == 0, err
    assert "cli-role" in out and "cli-kv" in out  # policies kept, role added
    rc, out, err = cli(acl, "acl", "token", "clone", "-id", aid, "-description", "copy")
    assert rc == 0 and field(out, "Description") == "copy", err
    rc, out, _ = cli(acl, "acl", "token", "read", "-self", token=sid)
    assert rc == 0 and field(out, "AccessorID") == aid
    rc, out, err = cli(acl, "acl", "bootstrap")
    assert rc == 1 and "ACL bootstrap no longer allowed" in err
    rc, out, err = cli(acl, "acl", "policy", "create", "-name", "cli-bad", "-rules",
                       'key_prefix "x" { policy = "maybe" }')
    assert rc == 1 and "Invalid key_prefix policy" in err
    rc, out, err = cli(acl, "acl", "token", "delete", "-id", aid)
    assert rc == 0 and out.strip() == 'Token "%s" deleted successfully' % aid
    rc, out, err = cli(acl, "acl", "role", "delete", "-name", "cli-role")
    assert rc == 0 and "deleted successfully" in out
    rc, out, err = cli(acl, "acl", "policy", "delete", "-name", "cli-kv")
    assert rc == 0 and "deleted successfully" in out
    rc, out, err = cli(acl, "acl", "token", "list", token=None)
    assert rc == 1 and "403" in err


def test_dns_uses_default_token(acl):
    import dns.message
    import dns.query
    import dns.rcode

    def rcode(name):
        m = dns.message.make_query(name, "A", use_edns=False)
        return dns.query.udp(m, "127.0.0.1", port=acl.dns_port, timeout=5).rcode()

    acl.put_json("/v1/catalog/register", {"Node": "dnsnode", "Address": "10.9.0.1",
                                          "Service": {"Service": "dnssvc", "Port": 1}})
    # the anonymous token (no default token) reads nothing: NXDOMAIN, as if absent
    assert rcode("dnssvc.service.consul.") == dns.rcode.NXDOMAIN
    assert rcode("dnsnode.node.consul.") == dns.rcode.NXDOMAIN
    mkpolicy(acl, "dns-read", 'service "dnssvc" { policy = "read" }\n'
                              'node "dnsnode" { policy = "read" }\n')
    d = mktoken(acl, "dns-read")["SecretID"]
    assert acl.put_json("/v1/agent/token/default", {"Token": d}).status_code == 200
    try:
        wait_until(lambda: rcode("dnssvc.service.consul.") == dns.rcode.NOERROR,
                   what="DNS answers with the default token")
        assert rcode("dnsnode.node.consul.") == dns.rcode.NOERROR
    finally:
        acl.put_json("/v1/agent/token/default", {"Token": ""})
