"""libcairn (include/cairn/client.h), ?pick= on /v1/health/service and
`cairn pick` against a real agent (issue 17; docs/lb.md, docs/client.md).

libcairn is driven through tests/integration/c/libcairn_driver.c (built next
to $CAIRN_BIN). ?pick= is cairn's own extension (docs/consul-compat.md); the
list it picks from is Consul's /v1/health/service
(website/content/api-docs/health.mdx), blocking as Consul's blocking
queries (api-docs/features/blocking.mdx)."""

import os
import queue
import subprocess
import threading
import time

import pytest

from conftest import CAIRN_BIN, cairn_cli, index_of, wait_until

BIN_DIR = os.path.dirname(os.path.abspath(CAIRN_BIN))
DRIVER = os.path.join(BIN_DIR, "libcairn_driver")
DISCOVER = os.path.join(BIN_DIR, "discover")
READ_TIMEOUT = 30.0  # far below the watch's 60 s wait: a change seen in time woke the query

pytestmark = pytest.mark.skipif(not os.path.exists(DRIVER),
                                reason="libcairn_driver not built next to CAIRN_BIN")


class Driver:
    def __init__(self, agent, service):
        env = dict(os.environ, CAIRN_HTTP_ADDR="127.0.0.1:%d" % agent.http_port)
        self.p = subprocess.Popen([DRIVER, service], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=env, bufsize=1)
        self.changes = queue.Queue()
        self.events = queue.Queue()  # election / session-keeper callbacks
        self.replies = queue.Queue()
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self):
        for line in self.p.stdout:
            line = line.rstrip("\n")
            if line.startswith("change "):
                self.changes.put(line)
            elif line.startswith(("elected ", "lost ", "sesslost ")):
                self.events.put(line)
            else:
                self.replies.put(line)

    def cmd(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        return self.replies.get(timeout=READ_TIMEOUT)

    def change(self):
        """The next change: (index, [ids])."""
        parts = self.changes.get(timeout=READ_TIMEOUT).split(" ")
        ids = parts[3].split(",") if len(parts) > 3 and parts[3] else []
        return int(parts[1]), ids

    def change_until(self, pred):
        while True:
            idx, ids = self.change()
            if pred(ids):
                return idx, ids

    def picks(self, policy, k):
        r = self.cmd("picks %s %d" % (policy, k)).split(" ")
        assert r[0] == "picks"
        return r[1:]

    def close(self):
        try:
            self.p.stdin.write("quit\n")
            self.p.stdin.flush()
        except BrokenPipeError:
            pass
        rc = self.p.wait(timeout=30)
        err = self.p.stderr.read()
        assert "ERROR: AddressSanitizer" not in err and "LeakSanitizer" not in err, err
        assert rc == 0, err


def _iid(agent, sid):
    return "%s/%s" % (agent.name, sid)


@pytest.fixture
def web(agent):
    """Five instances of a fresh service; deregistered afterwards."""
    name = "web-%d" % int(time.monotonic() * 1000)
    ids = ["%s-%d" % (name, i) for i in range(5)]
    for i, sid in enumerate(ids):
        r = agent.put_json("/v1/agent/service/register",
                           {"Name": name, "ID": sid, "Port": 9000 + i, "Address": "127.0.0.1"})
        assert r.status_code == 200, r.text
    yield name, ids
    for sid in ids:
        agent.put("/v1/agent/service/deregister/" + sid)


def test_watch_sees_additions_and_removals(agent):
    name = "watched"
    d = Driver(agent, name)
    try:
        idx, ids = d.change()  # the first answer: no instance yet
        assert ids == []
        for i in range(3):
            assert d.cmd("register %s-%d %d" % (name, i, 7000 + i)) == "ok"
            # one blocking round trip: the parked query wakes with the change
            idx2, ids = d.change_until(lambda ids, i=i: _iid(agent, "%s-%d" % (name, i)) in ids)
            assert idx2 > idx
            idx = idx2
        assert sorted(ids) == sorted(_iid(agent, "%s-%d" % (name, i)) for i in range(3))
        assert d.cmd("deregister %s-1" % name) == "ok"
        _, ids = d.change_until(lambda ids: _iid(agent, name + "-1") not in ids)
        assert len(ids) == 2
        # A TTL-checked instance is critical until its first pass: ?passing hides it
        assert d.cmd("register %s-ttl 7100 30s" % name) == "ok"
        r = agent.get("/v1/health/service/" + name)
        assert _iid(agent, name + "-ttl") in [_iid(agent, e["Service"]["ID"]) for e in r.json()]
        assert d.cmd("ttl service:%s-ttl pass" % name).startswith("err")  # bad status: EINVAL
        assert d.cmd("ttl service:%s-ttl passing" % name) == "ok"
        _, ids = d.change_until(lambda ids: _iid(agent, name + "-ttl") in ids)
        assert d.cmd("failures") == "failures 0"
    finally:
        d.close()
        for s in ("-0", "-2", "-ttl"):
            agent.put("/v1/agent/service/deregister/" + name + s)


def test_pick_agrees_everywhere_and_moves_only_the_leavers_share(agent, web):
    name, ids = web
    d = Driver(agent, name)
    try:
        d.change_until(lambda got: len(got) == 5)
        for policy in ("maglev", "ring", "rendezvous", "jump"):
            a = d.picks(policy, 400)
            assert a == d.picks(policy, 400)  # stable while membership is stable
            assert "-" not in a
            # ?pick= agrees with the library on every key sampled
            for k in range(0, 400, 20):
                r = agent.get("/v1/health/service/" + name,
                              params={"passing": "", "pick": "k-%d" % k, "policy": policy})
                assert r.status_code == 200, r.text
                e = r.json()
                assert isinstance(e, dict)  # one entry, the shape of a list element
                assert set(e) == {"Node", "Service", "Checks"}
                assert _iid(agent, e["Service"]["ID"]) == a[k]
                # and the index is the list's
                lst = agent.get("/v1/health/service/" + name, params={"passing": ""})
                assert index_of(r) == index_of(lst)
            # cairn pick agrees too
            for k in (7, 301):
                out = cairn_cli("pick", "-policy=" + policy, name, "k-%d" % k,
                                http_port=agent.http_port)
                assert out.returncode == 0, out.stderr
                sid = out.stdout.split()[0]
                assert _iid(agent, sid) == a[k]
        before = {p: d.picks(p, 2000) for p in ("maglev", "ring", "rendezvous")}
        gone = _iid(agent, ids[2])
        assert agent.put("/v1/agent/service/deregister/" + ids[2]).status_code == 200
        d.change_until(lambda got: gone not in got and len(got) == 4)
        for p, old in before.items():
            new = d.picks(p, 2000)
            moved = [i for i in range(2000) if old[i] != new[i]]
            owned = [i for i in range(2000) if old[i] == gone]
            assert set(owned) <= set(moved)  # the leaver's keys all moved
            if p in ("ring", "rendezvous"):
                assert set(moved) == set(owned), p  # and nothing else
            else:  # maglev: near-minimal (docs/lb.md)
                assert len(moved) <= 1.6 * len(owned) + 20, (p, len(moved), len(owned))
    finally:
        d.close()


def test_pick_errors_and_blocking(agent, web):
    name, ids = web
    base = "/v1/health/service/" + name
    r = agent.get(base, params={"pick": "k", "policy": "bogus"})
    assert r.status_code == 400
    assert r.text == "Invalid ?policy: want maglev, ring, rendezvous, jump or random"
    r = agent.get(base, params={"policy": "ring"})
    assert r.status_code == 400 and r.text == "?policy needs ?pick=KEY"
    r = agent.get("/v1/health/service/nothing-here", params={"pick": "k"})
    assert r.status_code == 404
    assert r.text == "No healthy instance to pick from"
    assert index_of(r) >= 1
    # random picks among the healthy set
    seen = {agent.get(base, params={"pick": "", "policy": "random"}).json()["Service"]["ID"]
            for _ in range(40)}
    assert seen <= set(ids) and len(seen) >= 2
    # blocking: ?pick with ?index parks like the list and wakes on a change
    r = agent.get(base, params={"pick": "k-1", "passing": ""})
    idx = index_of(r)
    res = {}

    def block():
        res["r"] = agent.get(base, params={"pick": "k-1", "passing": "", "index": idx,
                                           "wait": "30s"})

    t = threading.Thread(target=block)
    t.start()
    time.sleep(0.2)  # not a correctness wait: the answer below must be the new index either way
    assert agent.put_json("/v1/agent/service/register",
                          {"Name": name, "ID": name + "-new", "Port": 9100}).status_code == 200
    t.join(timeout=40)
    assert index_of(res["r"]) > idx
    assert res["r"].status_code == 200
    agent.put("/v1/agent/service/deregister/" + name + "-new")


def test_cli_pick_errors(agent):
    out = cairn_cli("pick", "only-one-arg", http_port=agent.http_port)
    assert out.returncode == 1 and "exactly two arguments" in out.stderr
    out = cairn_cli("pick", "nothing-here", "k", http_port=agent.http_port)
    assert out.returncode == 1 and "No healthy instance of nothing-here" in out.stderr
    out = cairn_cli("pick", "-policy=bogus", "nothing-here", "k", http_port=agent.http_port)
    assert out.returncode == 1 and "Invalid ?policy" in out.stderr


def test_kv_through_libcairn(agent):
    d = Driver(agent, "kv-unused")
    try:
        d.change()
        assert d.cmd("kv get lib/missing").startswith("err -2")  # -ENOENT
        assert d.cmd("kv put lib/a one") == "ok"
        ok, val, mi = d.cmd("kv get lib/a").split(" ")
        assert (ok, val) == ("ok", "one")
        assert d.cmd("kv cas lib/a two 1") == "err  -125"  # -ECANCELED: stale index
        assert d.cmd("kv cas lib/a two %s" % mi) == "ok"
        assert d.cmd("kv get lib/a").split(" ")[1] == "two"
        assert d.cmd("kv cas lib/new x 0") == "ok"
        assert d.cmd("kv cas lib/new y 0") == "err  -125"  # 0: must not exist
    finally:
        d.close()


def test_discover_example_agrees_with_cairn_pick(agent, web):
    name, ids = web
    env = dict(os.environ, CAIRN_HTTP_ADDR="127.0.0.1:%d" % agent.http_port)
    out = subprocess.run([DISCOVER, name, "user-1", "user-2", "user-42"], capture_output=True,
                         text=True, timeout=60, env=env)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("%s: 5 healthy instance(s)" % name)
    for line in lines[1:]:
        key, _, sid, addr = line.split(" ")
        cli = cairn_cli("pick", name, key, http_port=agent.http_port)
        assert cli.stdout.split()[0] == sid
        assert addr.startswith("127.0.0.1:90")


def test_watch_serves_last_set_while_agent_is_down(agent_factory):
    a = agent_factory("lbdown")
    for i in range(3):
        assert a.put_json("/v1/agent/service/register",
                          {"Name": "api", "ID": "api-%d" % i, "Port": 6000 + i}).status_code == 200
    d = Driver(a, "api")
    try:
        d.change_until(lambda got: len(got) == 3)
        before = d.picks("maglev", 200)
        a.stop()
        # the watch retries with backoff; meanwhile it serves the last known set
        wait_until(lambda: int(d.cmd("failures").split(" ")[1]) >= 2, timeout=30,
                   what="the watch to see the agent down")
        assert d.picks("maglev", 200) == before
        a.start()
        wait_until(lambda: d.cmd("failures") == "failures 0", timeout=60,
                   what="the watch to reconnect")
        assert d.picks("maglev", 200) == before
    finally:
        d.close()
