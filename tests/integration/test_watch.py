"""`cairn watch`: prints (or hands to a handler) the view's JSON once per
change, sees the last of a burst of changes, does not fire when only an
unrelated index moved, and keeps going across an agent restart."""

import json
import os
import subprocess

from conftest import CAIRN_BIN, wait_until


def start_watch(agent, *args):
    env = dict(os.environ, CAIRN_HTTP_ADDR="127.0.0.1:%d" % agent.http_port)
    env.pop("CONSUL_HTTP_ADDR", None)
    return subprocess.Popen([CAIRN_BIN, "watch"] + list(args), env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def docs(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(part) for part in f.read().split("---\n") if part.strip()]


def put(agent, key, val):
    assert agent.http.put(agent.url("/v1/kv/" + key), data=val).json() is True


def test_key_watch_with_handler(agent_factory, tmp_path):
    a = agent_factory("watcher")
    out = str(tmp_path / "out")
    w = start_watch(a, "-type=key", "-key=cfg/x", "-wait=2s",
                    "cat >> %s; echo --- >> %s" % (out, out))
    try:
        wait_until(lambda: docs(out) == [None], what="first fire: null")
        put(a, "cfg/x", "1")
        wait_until(lambda: len(docs(out)) == 2, what="second fire")
        assert docs(out)[1]["Value"] == "MQ=="
        # an unrelated key moves the KV index but not this view: no fire
        put(a, "cfg/other", "z")
        # a burst: the watch ends on the last value
        for i in range(2, 8):
            put(a, "cfg/x", str(i))
        wait_until(lambda: docs(out)[-1]["Value"] == "Nw==", what="last of the burst")
        n = len(docs(out))
        assert all(d is None or d["Key"] == "cfg/x" for d in docs(out))
        values = [d["Value"] for d in docs(out)[1:]]
        assert len(values) == len(set(values)), values  # once per change
        # survives an agent restart
        a.restart()
        put(a, "cfg/x", "after")
        wait_until(lambda: docs(out)[-1]["Value"] == "YWZ0ZXI=", timeout=90,
                   what="fire after restart")
        assert len(docs(out)) == n + 1
    finally:
        w.terminate()
        w.wait(timeout=30)


def test_keyprefix_and_services(agent, tmp_path):
    out, sout = str(tmp_path / "kp"), str(tmp_path / "svc")
    w = start_watch(agent, "-type=keyprefix", "-prefix=pfx/", "-wait=2s",
                    "cat >> %s; echo --- >> %s" % (out, out))
    s = start_watch(agent, "-type=services", "-wait=2s",
                    "cat >> %s; echo --- >> %s" % (sout, sout))
    try:
        wait_until(lambda: docs(out), what="first keyprefix fire")
        put(agent, "pfx/a", "1")
        put(agent, "pfx/b", "2")
        wait_until(lambda: [e["Key"] for e in docs(out)[-1]] == ["pfx/a", "pfx/b"],
                   what="both keys")
        wait_until(lambda: docs(sout) and "consul" in docs(sout)[0], what="services")
    finally:
        for p in (w, s):
            p.terminate()
            p.wait(timeout=30)


def test_bad_type(agent):
    r = subprocess.run([CAIRN_BIN, "watch", "-type=bogus",
                        "-http-addr=127.0.0.1:%d" % agent.http_port],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "Unsupported watch type: bogus" in r.stderr
    r = subprocess.run([CAIRN_BIN, "watch", "-type=key",
                        "-http-addr=127.0.0.1:%d" % agent.http_port],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "Must specify a single key" in r.stderr
