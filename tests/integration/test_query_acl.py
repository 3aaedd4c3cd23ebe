"""Per-name ACLs of prepared queries (Consul's "Prepared Query Rules" and
PreparedQuery.Apply/Get/List/Explain/Execute), in the permission-matrix style
of test_acl.py: a query's ACL name is its Name ("" for a template without
one; none for an unnamed static query); writes need query:write on it,
reads query:read, the list filters, a captured Token is "<hidden>" to all
but an acl:write token, and execute needs no query rule: the captured Token,
else the caller's, filters the instances by node and service read."""

import os

import pytest

from test_acl import ANON, MGMT, NOTOK, AclAgent, acl_config, mkpolicy, mktoken, tok
from conftest import wait_until

SEE = 'service_prefix "" { policy = "read" }\nnode_prefix "" { policy = "read" }\n'


@pytest.fixture(scope="module")
def qa(tmp_path_factory):
    d = tmp_path_factory.mktemp("qacl")
    cfg = acl_config(os.path.join(str(d), "acl.hcl"))
    a = AclAgent(d, name="qacl1", extra_args=["-config-file=" + cfg])
    a.start()
    wait_until(lambda: a.get("/v1/acl/token/" + ANON).status_code == 200,
               what="the leader's builtin ACL objects")
    r = a.put_json("/v1/catalog/register", {"Node": "qn1", "Address": "10.9.0.1",
                                            "Service": {"Service": "qsvc", "Port": 1}})
    assert r.status_code == 200, r.text
    mkpolicy(a, "q-foo", 'query "foo" { policy = "write" }\n' + SEE)
    mkpolicy(a, "q-read", 'query_prefix "" { policy = "read" }\n' + SEE)
    mkpolicy(a, "q-none", SEE)
    mkpolicy(a, "q-all", 'query_prefix "" { policy = "write" }\n' + SEE)
    mkpolicy(a, "q-nosvc", 'query_prefix "" { policy = "read" }\nnode_prefix "" { policy = "read" }\n'
                           'service "qsvc" { policy = "deny" }\n')
    t = {n: mktoken(a, "q-" + n)["SecretID"] for n in ("foo", "read", "none", "all", "nosvc")}
    t["mgmt"] = MGMT
    t["anon"] = None
    a.toks = t
    # an unnamed static query must be bound to a session (Consul's rule)
    r = a.put_json("/v1/session/create", {"Node": "qn1", "Checks": [], "Name": "qs"})
    assert r.status_code == 200, r.text
    a.sess = r.json()["ID"]
    yield a
    rc = a.stop()
    a.close()
    assert a.sanitizer_report() is None, a.sanitizer_report()
    assert rc == 0


def as_(a, who):
    return tok(a.toks[who]) if a.toks[who] else NOTOK


def create(a, who, body):
    if not body["Name"] and "Template" not in body:
        body = dict(body, Session=a.sess)
    return a.request("POST", "/v1/query", json=body, headers=as_(a, who))


def svc(name="foo", **kw):
    body = {"Name": name, "Service": {"Service": "qsvc"}}
    body.update(kw)
    return body


# (who, definition, allowed to create)
CREATE = [
    ("foo", svc("foo"), True),
    ("foo", svc("bar"), False),
    ("read", svc("foo"), False),
    ("none", svc("foo"), False),
    ("anon", svc("foo"), False),
    ("all", svc("bar"), True),
    ("mgmt", svc("bar"), True),
    # an unnamed static query needs no query rule at all
    ("none", svc(""), True),
    ("anon", svc(""), True),
    # a catch-all template (empty Name) needs write on every name
    ("foo", svc("", Template={"Type": "name_prefix_match"}), False),
    ("all", svc("", Template={"Type": "name_prefix_match"}), True),
]


@pytest.mark.parametrize("who,body,ok", CREATE,
                         ids=["%s %r" % (w, b["Name"] + ("*" if "Template" in b else ""))
                              for w, b, _ in CREATE])
def test_create_matrix(qa, who, body, ok):
    r = create(qa, who, body)
    if ok:
        assert r.status_code == 200, r.text
        assert qa.delete("/v1/query/" + r.json()["ID"]).status_code == 200
    else:
        assert r.status_code == 403, r.text
        assert "lacks permission 'query:write'" in r.text


def test_read_list_update_delete(qa):
    secret = qa.toks["none"]
    named = create(qa, "mgmt", svc("foo", Token=secret)).json()["ID"]
    unnamed = create(qa, "none", svc("")).json()["ID"]
    try:
        # list: unnamed queries only to an acl:write token; named by query:read
        ids = {q["ID"] for q in qa.get("/v1/query", headers=as_(qa, "mgmt")).json()}
        assert {named, unnamed} <= ids
        r = qa.get("/v1/query", headers=as_(qa, "read"))
        assert [q["ID"] for q in r.json()] == [named]
        assert r.headers.get("X-Consul-Results-Filtered-By-Acls") == "true"
        assert r.json()[0]["Token"] == "<hidden>"
        r = qa.get("/v1/query", headers=as_(qa, "none"))
        assert r.status_code == 200 and r.json() == []
        assert r.headers.get("X-Consul-Results-Filtered-By-Acls") == "true"
        # read by ID: the ID is enough for an unnamed query; a named one needs read
        assert qa.get("/v1/query/" + unnamed, headers=as_(qa, "anon")).status_code == 200
        r = qa.get("/v1/query/" + named, headers=as_(qa, "none"))
        assert r.status_code == 403 and "lacks permission 'query:read' on \"foo\"" in r.text
        r = qa.get("/v1/query/" + named, headers=as_(qa, "read"))
        assert r.status_code == 200 and r.json()[0]["Token"] == "<hidden>"
        assert qa.get("/v1/query/" + named, headers=as_(qa, "mgmt")).json()[0]["Token"] == secret
        # explain filters as the list does
        assert qa.get("/v1/query/foo/explain", headers=as_(qa, "none")).status_code == 403
        r = qa.get("/v1/query/foo/explain", headers=as_(qa, "read"))
        assert r.status_code == 200 and r.json()["Query"]["Token"] == "<hidden>"
        assert qa.get("/v1/query/%s/explain" % unnamed, headers=as_(qa, "read")).status_code == 403
        # update: write on the stored name and on the new one
        assert qa.put_json("/v1/query/" + named, svc("foo"),
                           headers=as_(qa, "read")).status_code == 403
        assert qa.put_json("/v1/query/" + named, svc("foo"),
                           headers=as_(qa, "foo")).status_code == 200
        r = qa.put_json("/v1/query/" + named, svc("bar"), headers=as_(qa, "foo"))
        assert r.status_code == 403 and "on \"bar\"" in r.text
        # anyone with its ID manages an unnamed query
        assert qa.put_json("/v1/query/" + unnamed, svc("", Session=qa.sess),
                           headers=as_(qa, "anon")).status_code == 200
        # delete
        assert qa.delete("/v1/query/" + named, headers=as_(qa, "none")).status_code == 403
        assert qa.delete("/v1/query/" + named, headers=as_(qa, "foo")).status_code == 200
        assert qa.delete("/v1/query/" + unnamed, headers=as_(qa, "anon")).status_code == 200
    finally:
        qa.delete("/v1/query/" + named)
        qa.delete("/v1/query/" + unnamed)


def test_execute_uses_captured_or_caller_token(qa):
    plain = create(qa, "mgmt", svc("foo")).json()["ID"]
    captured = create(qa, "mgmt", svc("", Token=qa.toks["none"])).json()["ID"]
    ghost = create(qa, "mgmt", svc("", Token="no-such-token")).json()["ID"]
    try:
        def nodes(qid, who):
            r = qa.get("/v1/query/%s/execute" % qid, headers=as_(qa, who))
            assert r.status_code == 200, (who, r.status_code, r.text)
            return [n["Node"]["Node"] for n in r.json()["Nodes"]], r
        # no query rule needed: the caller's service:read decides
        assert nodes(plain, "none")[0] == ["qn1"]
        got, r = nodes(plain, "nosvc")
        assert got == [] and r.headers.get("X-Consul-Results-Filtered-By-Acls") == "true"
        got, r = nodes(plain, "anon")
        assert got == [] and r.headers.get("X-Consul-Results-Filtered-By-Acls") == "true"
        # a captured Token reads for any caller, the anonymous one included
        assert nodes(captured, "anon")[0] == ["qn1"]
        assert nodes(captured, "nosvc")[0] == ["qn1"]
        # a captured Token that no longer resolves
        r = qa.get("/v1/query/%s/execute" % ghost, headers=as_(qa, "mgmt"))
        assert r.status_code == 403 and r.text == "ACL not found"
    finally:
        for q in (plain, captured, ghost):
            qa.delete("/v1/query/" + q)
