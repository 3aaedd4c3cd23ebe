"""`cairn lock`: competing holders never run their children at the same
time, also when the holder is kill -9'd, when its session's TTL runs out
(holder frozen), and in a three-server cluster across a kill -9 of the
leader. Children append "start/end NAME TIME" lines to one file; the test
checks the intervals do not overlap. A lost lock stops the child."""

import json
import os
import signal
import subprocess
import time

import consul
import pytest

from conftest import CAIRN_BIN, wait_until

PREFIX = "svc/leader"


def child_cmd(path, name, hold_s):
    # sh -c: the lock runs it through the shell. $$ is the shell (the group).
    return ("echo pid %s $$ >> %s; echo start %s $(date +%%s.%%N) >> %s; sleep %s; "
            "echo end %s $(date +%%s.%%N) >> %s" % (name, path, name, path, hold_s, name, path))


def start_lock(http_port, path, name, hold_s, *flags, prefix=PREFIX):
    env = dict(os.environ)
    env["CAIRN_HTTP_ADDR"] = "127.0.0.1:%d" % http_port
    env.pop("CONSUL_HTTP_ADDR", None)
    argv = [CAIRN_BIN, "lock"] + list(flags) + [prefix, child_cmd(path, name, hold_s)]
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def events(path):
    if not os.path.exists(path):
        return []
    out = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3:
                out.append((parts[0], parts[1], parts[2]))
    return out


def intervals(path, cut=None):
    """{name: [start, end]}; end None when the child never wrote it (then
    cut[name], when given, is when it stopped running)."""
    iv = {}
    for kind, name, val in events(path):
        if kind == "start":
            iv[name] = [float(val), None]
        elif kind == "end":
            iv[name][1] = float(val)
    for name, v in iv.items():
        if v[1] is None and cut and name in cut:
            v[1] = cut[name]
    return iv


def assert_no_overlap(iv):
    spans = sorted((v[0], v[1], k) for k, v in iv.items())
    for (s1, e1, n1), (s2, e2, n2) in zip(spans, spans[1:]):
        assert e1 is not None, "%s never ended but %s started" % (n1, n2)
        assert s2 >= e1, "%s [%f, %f] overlaps %s [%f, ...]" % (n1, s1, e1, n2, s2)


def pid_of(path, name):
    for kind, n, val in events(path):
        if kind == "pid" and n == name:
            return int(val)
    return None


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is not running
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[1].split()[0] != "Z"
    except OSError:
        return False


def finish(procs, timeout=120):
    for p in procs:
        p.wait(timeout=timeout)
    return [p.returncode for p in procs]


def test_three_holders_never_overlap(agent, tmp_path):
    path = str(tmp_path / "log")
    procs = [start_lock(agent.http_port, path, "h%d" % i, "0.3", "-lock-delay=0s")
             for i in range(3)]
    rcs = finish(procs)
    assert rcs == [0, 0, 0], [p.stderr.read() for p in procs]
    iv = intervals(path)
    assert sorted(iv) == ["h0", "h1", "h2"]
    assert_no_overlap(iv)
    c = consul.Consul(port=agent.http_port)
    assert c.session.list()[1] == []  # every session destroyed on exit
    _, e = c.kv.get(PREFIX + "/.lock")
    assert "Session" not in e and e["Flags"] == 0x2ddccbc058a50c18


def test_semaphore_two_slots(agent, tmp_path):
    """-n=2: Consul's semaphore layout; at most two children at once."""
    path = str(tmp_path / "log")
    procs = [start_lock(agent.http_port, path, "s%d" % i, "0.5", "-n=2", "-lock-delay=0s",
                        prefix="sem/p") for i in range(4)]
    rcs = finish(procs)
    assert rcs == [0, 0, 0, 0], [p.stderr.read() for p in procs]
    iv = intervals(path)
    assert sorted(iv) == ["s0", "s1", "s2", "s3"]
    points = sorted([(v[0], 1) for v in iv.values()] + [(v[1], -1) for v in iv.values()],
                    key=lambda x: (x[0], x[1]))
    running = peak = 0
    for _, d in points:
        running += d
        peak = max(peak, running)
    assert peak <= 2, iv
    c = consul.Consul(port=agent.http_port)
    _, e = c.kv.get("sem/p/.lock")
    assert json.loads(e["Value"]) == {"Limit": 2, "Holders": {}}
    assert e["Flags"] == 0xe0f69a2baa414de0
    _, keys = c.kv.get("sem/p/", keys=True)
    assert keys == ["sem/p/.lock"]  # every contender key removed


def test_kill9_holder(agent, tmp_path):
    path = str(tmp_path / "log")
    a = start_lock(agent.http_port, path, "A", "600", "-ttl=10s", "-lock-delay=1s",
                   prefix="k9")
    wait_until(lambda: pid_of(path, "A"), timeout=60, what="A's child started")
    b = start_lock(agent.http_port, path, "B", "0.2", "-ttl=10s", prefix="k9")
    a.kill()  # SIGKILL
    a.wait()
    killed_at = time.time()
    child = pid_of(path, "A")
    # the child dies with its parent
    wait_until(lambda: not alive(child), timeout=30, what="A's child gone")
    assert b.wait(timeout=120) == 0, b.stderr.read()
    iv = intervals(path, cut={"A": killed_at})
    assert iv["B"][0] >= killed_at
    assert_no_overlap(iv)


def test_ttl_expiry_of_a_frozen_holder(agent, tmp_path):
    path = str(tmp_path / "log")
    a = start_lock(agent.http_port, path, "A", "600", "-ttl=10s", "-lock-delay=0s",
                   prefix="frz")
    wait_until(lambda: pid_of(path, "A"), timeout=60, what="A's child started")
    child = pid_of(path, "A")
    # freeze the holder and its child: no renewals, nothing running
    os.kill(a.pid, signal.SIGSTOP)
    os.killpg(child, signal.SIGSTOP)
    frozen_at = time.time()
    try:
        b = start_lock(agent.http_port, path, "B", "0.2", "-ttl=10s", prefix="frz")
        assert b.wait(timeout=120) == 0, b.stderr.read()
    finally:
        os.killpg(child, signal.SIGKILL)
        a.kill()
        os.kill(a.pid, signal.SIGCONT)
        a.wait()
    iv = intervals(path, cut={"A": frozen_at})
    # B only ran after A's session expired (10 s TTL; no timing assertion
    # beyond ordering)
    assert iv["B"][0] >= frozen_at
    assert_no_overlap(iv)


def test_lost_lock_stops_child(agent, tmp_path):
    path = str(tmp_path / "log")
    a = start_lock(agent.http_port, path, "A", "600", "-lock-delay=0s", prefix="lost")
    wait_until(lambda: pid_of(path, "A"), timeout=60, what="A's child started")
    c = consul.Consul(port=agent.http_port)
    _, e = c.kv.get("lost/.lock")
    c.session.destroy(e["Session"])
    assert a.wait(timeout=60) == 1
    assert "Lock lost, killing child" in a.stderr.read()
    assert not alive(pid_of(path, "A"))


def test_child_exit_code_and_refusals(agent, tmp_path):
    env = dict(os.environ, CAIRN_HTTP_ADDR="127.0.0.1:%d" % agent.http_port)
    r = subprocess.run([CAIRN_BIN, "lock", "-lock-delay=0s", "-child-exit-code", "ec",
                        "exit 3"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    r = subprocess.run([CAIRN_BIN, "lock", "-lock-delay=0s", "ec", "exit 3"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0
    r = subprocess.run([CAIRN_BIN, "lock", "-n=0", "sem", "true"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "must be positive" in r.stderr
    r = subprocess.run([CAIRN_BIN, "lock", "onlyprefix"], env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 1


def test_cluster_lock_across_leader_kill(cluster_factory, tmp_path):
    cl = cluster_factory(3)
    ldr = cl.leader()
    f1, f2 = cl.followers()[:2]
    path = str(tmp_path / "log")
    # A holds the lock through one follower, B waits through the other; the
    # leader dies while A's child runs.
    a = start_lock(f1.http_port, path, "A", "4", "-ttl=10s", "-lock-delay=0s")
    wait_until(lambda: pid_of(path, "A"), timeout=60, what="A's child started")
    b = start_lock(f2.http_port, path, "B", "0.5", "-ttl=10s")
    ldr.kill9()
    assert a.wait(timeout=120) == 0, a.stderr.read()
    assert b.wait(timeout=120) == 0, b.stderr.read()
    iv = intervals(path)
    assert sorted(iv) == ["A", "B"]
    assert iv["A"][1] is not None  # A's child was not stopped: the lock survived
    assert_no_overlap(iv)


def test_shell_false_runs_the_arguments_as_they_are(agent, tmp_path):
    """consul lock -shell=false runs the child without a shell (Consul's
    command/lock: ExecSubprocess(args) instead of ExecScript(joined args)):
    an argument with spaces and shell syntax reaches the child unchanged.
    With the default (-shell=true) the same words go through /bin/sh."""
    env = dict(os.environ, CAIRN_HTTP_ADDR="127.0.0.1:%d" % agent.http_port)
    out = str(tmp_path / "args")
    prog = "import sys; open(%r, 'w').write(repr(sys.argv[1:]))" % out
    r = subprocess.run([CAIRN_BIN, "lock", "-lock-delay=0s", "-shell=false", "sh/f",
                        "/usr/bin/python3", "-c", prog, "a b", "$HOME;x"],
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    with open(out) as f:
        assert f.read() == repr(["a b", "$HOME;x"])
    # no shell: a shell word is not a program
    r = subprocess.run([CAIRN_BIN, "lock", "-lock-delay=0s", "-shell=false",
                        "-child-exit-code", "sh/f", "exit 3"],
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "exit 3" in r.stderr
    # the shell (default) runs the same word
    r = subprocess.run([CAIRN_BIN, "lock", "-lock-delay=0s", "-child-exit-code", "sh/f",
                        "exit 0"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
