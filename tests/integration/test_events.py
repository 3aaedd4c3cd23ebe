"""User events (/v1/event/fire/:name, /v1/event/list) and `cairn event` /
`cairn watch -type=event`, against Consul's documented behaviour
(https://developer.hashicorp.com/consul/api-docs/event and its source,
agent/event_endpoint.go, agent/user_event.go), through raw HTTP and
python-consul's event API. cairn delivers events through the replicated log
(no gossip yet): every server of a cluster lists them (docs/consul-compat.md).
"""

import base64
import json
import re
import subprocess
import threading

import consul
import pytest

from conftest import CAIRN_BIN, cairn_cli, index_of, wait_until

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def uuid_to_index(u):
    """Consul's uuidToUint64: the first 16 hex digits XOR the last 16."""
    h = u.replace("-", "")
    return int(h[:16], 16) ^ int(h[16:], 16)


def test_fire_answers_consul_shape(agent):
    # api-docs/event.mdx "Fire Event" sample response: ID, Name, Payload,
    # NodeFilter, ServiceFilter, TagFilter, Version 1, LTime 0.
    r = agent.put("/v1/event/fire/deploy?node=it-.*&service=web&tag=v1", data=b"v1.2.3")
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/json"
    e = r.json()
    assert list(e) == ["ID", "Name", "Payload", "NodeFilter", "ServiceFilter", "TagFilter",
                       "Version", "LTime"]
    assert UUID.match(e["ID"])
    assert e["Name"] == "deploy"
    assert base64.b64decode(e["Payload"]) == b"v1.2.3"
    assert (e["NodeFilter"], e["ServiceFilter"], e["TagFilter"]) == ("it-.*", "web", "v1")
    assert e["Version"] == 1 and e["LTime"] == 0
    # No body: Payload is null (Go's nil []byte).
    e = agent.put("/v1/event/fire/empty").json()
    assert e["Payload"] is None


def test_fire_errors(agent):
    # EventFire: no name is 400 "Missing name"; validateUserEventParams'
    # errors come back as 500 with their text.
    r = agent.put("/v1/event/fire/")
    assert (r.status_code, r.text) == (400, "Missing name")
    r = agent.put("/v1/event/fire/x?tag=v1")
    assert (r.status_code, r.text) == (500, "Cannot provide tag filter without service filter")
    r = agent.put("/v1/event/fire/x?node=(")
    assert r.status_code == 500 and r.text.startswith("Invalid node filter: "), r.text
    r = agent.put("/v1/event/fire/x?service=web&tag=[")
    assert r.status_code == 500 and r.text.startswith("Invalid tag filter: "), r.text
    # serf's user event size limit (512 bytes before encoding).
    r = agent.put("/v1/event/fire/big", data=b"x" * 600)
    assert r.status_code == 500
    assert r.text == "user event exceeds configured limit of 512 bytes before encoding"
    assert agent.get("/v1/event/list?name=big").json() == []
    assert agent.get("/v1/event/fire/x").status_code == 405


def test_list_filters_and_index(agent):
    agent.put_json("/v1/agent/service/register", {"Name": "api", "Tags": ["blue"]})
    ids = {}
    for name, q in [("ev-all", ""), ("ev-node", "?node=^" + agent.name + "$"),
                    ("ev-othernode", "?node=^nobody$"), ("ev-svc", "?service=^api$&tag=bl"),
                    ("ev-othertag", "?service=^api$&tag=^green$"),
                    ("ev-othersvc", "?service=^db$")]:
        r = agent.put("/v1/event/fire/" + name + q, data=name.encode())
        assert r.status_code == 200, r.text
        ids[name] = r.json()["ID"]
    r = agent.get("/v1/event/list")
    assert r.status_code == 200
    # Agent-local, as Consul's (its own buffer): no read barrier, no leader needed.
    assert r.headers["X-Consul-Effective-Consistency"] == "stale"
    names = [e["Name"] for e in r.json() if e["Name"].startswith("ev-")]
    # This agent keeps only what its filters accept (shouldProcessUserEvent),
    # oldest first.
    assert names == ["ev-all", "ev-node", "ev-svc"]
    last = r.json()[-1]
    assert index_of(r) == uuid_to_index(last["ID"])
    assert last["LTime"] > 0
    # ?name= filters, and the index follows the last listed event.
    r = agent.get("/v1/event/list?name=ev-node")
    assert [e["ID"] for e in r.json()] == [ids["ev-node"]]
    assert index_of(r) == uuid_to_index(ids["ev-node"])
    # Nothing listed: index 1 (never 0, no hot loop).
    r = agent.get("/v1/event/list?name=never")
    assert r.json() == [] and index_of(r) == 1


def test_list_blocks_until_an_event(agent):
    r = agent.get("/v1/event/list?name=blk")
    idx = index_of(r)
    got = {}

    def block():
        got["r"] = agent.get("/v1/event/list?name=blk&index=%d&wait=20s" % idx)

    t = threading.Thread(target=block)
    t.start()
    # Parked on the event ring: wait until the query is parked, then fire.
    wait_until(lambda: agent.stats().get("http_parked", 0) >= 1, what="parked list")
    agent.put("/v1/event/fire/other")  # another name: the list does not change
    fired = agent.put("/v1/event/fire/blk", data=b"go").json()
    t.join(30)
    assert not t.is_alive()
    r = got["r"]
    assert [e["ID"] for e in r.json()] == [fired["ID"]]
    assert index_of(r) == uuid_to_index(fired["ID"])
    # Blocking on the current index with a short wait times out unchanged.
    r2 = agent.get("/v1/event/list?name=blk&index=%d&wait=200ms" % index_of(r))
    assert index_of(r2) == index_of(r) and r2.json() == r.json()


def test_python_consul_event_api(agent):
    c = consul.Consul(host="127.0.0.1", port=agent.http_port)
    assert c.event.fire("py-ev", "payload") is not None
    index, events = c.event.list(name="py-ev")
    assert [e["Payload"] for e in events] == [b"payload"]  # decoded by the client
    assert int(index) == uuid_to_index(events[-1]["ID"])


def test_cli_event_and_watch(agent):
    addr = "-http-addr=127.0.0.1:%d" % agent.http_port
    p = cairn_cli("event", "-name=cli-ev", "-service=api", addr, "hello")
    assert p.returncode == 0, p.stderr
    m = re.fullmatch(r"Event ID: ([0-9a-f-]{36})\n", p.stdout)
    assert m, p.stdout
    ev = agent.get("/v1/event/list?name=cli-ev").json()
    assert [(e["ID"], base64.b64decode(e["Payload"])) for e in ev] == [(m.group(1), b"hello")]
    # Consul's command/event checks.
    p = cairn_cli("event", addr)
    assert p.returncode == 1 and "Event name must be specified" in p.stderr
    p = cairn_cli("event", "-name=x", "-tag=v1", addr)
    assert p.returncode == 1 and "Cannot provide tag filter without service filter." in p.stderr
    p = cairn_cli("event", "-name=x", addr, "a", "b")
    assert p.returncode == 1 and "Too many command line arguments." in p.stderr
    # watch -type=event prints the list, then again when an event arrives.
    w = subprocess.Popen([CAIRN_BIN, "watch", "-type=event", "-name=w-ev", "-wait=5s", addr],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert w.stdout.readline().strip() == "[]"
        e = agent.put("/v1/event/fire/w-ev").json()
        doc = json.loads(w.stdout.readline())
        assert [x["ID"] for x in doc] == [e["ID"]]
    finally:
        w.terminate()
        w.wait(30)


def test_events_reach_every_server(cluster_factory):
    """Delivered through the log: an event fired on one server is listed by
    all of them, in the same order with the same LTime."""
    c = cluster_factory(3)
    c.leader()
    fol = [a for a in c.agents if a is not c.leader()][0]
    e1 = fol.put("/v1/event/fire/roll", data=b"1").json()
    e2 = c.leader().put("/v1/event/fire/roll", data=b"2").json()
    def both(a):
        lst = a.get("/v1/event/list?name=roll").json()
        return lst if len(lst) == 2 else None

    for a in c.agents:
        lst = wait_until(lambda: both(a), what="both events on " + a.name)
        assert [e["ID"] for e in lst] == [e1["ID"], e2["ID"]]
        assert lst[0]["LTime"] < lst[1]["LTime"]
    lt = {tuple(e["LTime"] for e in a.get("/v1/event/list?name=roll").json()) for a in c.agents}
    assert len(lt) == 1
    # The list is agent-local: a server left alone (no quorum, no leader)
    # still lists what it has.
    alone = c.agents[0]
    for a in c.agents[1:]:
        a.kill9()
    r = alone.get("/v1/event/list?name=roll")
    assert r.status_code == 200 and [e["ID"] for e in r.json()] == [e1["ID"], e2["ID"]]
