"""Logs: GET /v1/agent/monitor and `cairn monitor` (api/monitor.c), the
agent's -log-json and -log-file with rotation (base/log.c, logfile.c), and
`cairn debug` archives (cli/cmd_debug.c)."""
import json
import os
import re
import socket
import subprocess
import tarfile

from conftest import CAIRN_BIN, wait_until


def cli_env(agent):
    return {"CAIRN_HTTP_ADDR": "127.0.0.1:%d" % agent.http_port}


def monitor_proc(agent, *flags):
    return subprocess.Popen([CAIRN_BIN, "monitor"] + list(flags), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=cli_env(agent), text=True)


def read_until(proc, pred, what):
    lines = []
    def more():
        line = proc.stdout.readline()
        if line:
            lines.append(line)
        return any(pred(l) for l in lines)
    wait_until(more, timeout=30, what=what)
    return lines


def test_monitor_levels_and_json(agent):
    # debug: a debug line (the snapshot's compaction) comes through although
    # the agent itself logs at info.
    p = monitor_proc(agent, "-log-level=debug")
    try:
        read_until(p, lambda l: "monitor: a client follows the log at level DEBUG" in l,
                   "the monitor's first line")
        assert agent.get("/v1/snapshot").status_code == 200
        lines = read_until(p, lambda l: "[DEBUG]" in l, "a debug line")
        assert all(re.match(r"\d{4}-\d\d-\d\dT[\d:.]+Z \[(TRACE|DEBUG|INFO|WARN|ERROR)\]", l)
                   for l in lines)
    finally:
        p.kill()
        p.wait()
    assert "[DEBUG]" not in open(agent.log_path).read()
    # JSON, at warn: info lines are filtered out.
    p = monitor_proc(agent, "-log-json", "-log-level=warn")
    try:
        # Nothing at warn comes; the JSON shape is checked on the raw stream.
        agent.get("/v1/snapshot")
    finally:
        p.kill()
        p.wait()
    s = socket.create_connection(("127.0.0.1", agent.http_port))
    s.sendall(b"GET /v1/agent/monitor?loglevel=info&logjson HTTP/1.1\r\nHost: x\r\n\r\n")
    buf = b""
    while b"@message" not in buf:
        chunk = s.recv(65536)
        assert chunk
        buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    assert b"200 OK" in head.split(b"\r\n")[0]
    assert b"transfer-encoding: chunked" in head.lower()
    line = body.split(b"\r\n")[1]
    obj = json.loads(line)
    assert set(obj) == {"@level", "@message", "@module", "@timestamp"}
    assert obj["@level"] == "info"
    s.close()
    # The stream ends when the client goes away.
    wait_until(lambda: "monitor: stream ended" in open(agent.log_path).read(),
               what="the agent noticing the disconnect")


def test_monitor_bad_level(agent):
    r = agent.get("/v1/agent/monitor", params={"loglevel": "loud"})
    assert r.status_code == 400 and "Unknown log level: loud" in r.text
    p = subprocess.run([CAIRN_BIN, "monitor", "-log-level=loud"], capture_output=True,
                       text=True, env=cli_env(agent))
    assert p.returncode == 1 and "Unknown log level" in p.stderr


def test_log_json_and_file_rotation(agent_factory, tmp_path):
    logdir = str(tmp_path / "logs") + "/"
    os.makedirs(logdir)
    a = agent_factory("rot", extra_args=["-log-json", "-log-file=" + logdir,
                                         "-log-rotate-bytes=3000",
                                         "-log-rotate-max-files=2"])
    # stderr carries JSON lines.
    first = [l for l in open(a.log_path).read().splitlines() if l.startswith("{")]
    assert first and json.loads(first[0])["@module"]
    # Log enough to rotate several times (each save logs a line).
    def rotated():
        a.get("/v1/snapshot")
        names = os.listdir(logdir)
        olds = [n for n in names if re.fullmatch(r"cairn-\d{20}\.log", n)]
        return names if len(olds) == 2 and "cairn.log" in names else None
    names = wait_until(rotated, timeout=60, what="rotated log files")
    assert len(names) == 3  # the active file and max 2 rotated ones
    for n in names:
        size = os.path.getsize(os.path.join(logdir, n))
        assert size < 3000 + 600, (n, size)
        for line in open(os.path.join(logdir, n)):
            json.loads(line)


def test_debug_archive(agent, tmp_path):
    out = str(tmp_path / "incident")
    marker = "monitor: a client follows the log at level DEBUG"
    n0 = open(agent.log_path).read().count(marker)
    p = subprocess.Popen([CAIRN_BIN, "debug", "-duration=3s", "-interval=1s", "-output=" + out],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env(agent),
                         text=True)
    # Something logged while it records.
    wait_until(lambda: open(agent.log_path).read().count(marker) > n0,
               what="the debug monitor")
    assert agent.get("/v1/snapshot").status_code == 200
    so, se = p.communicate(timeout=60)
    assert p.returncode == 0, (so, se)
    assert "Saved debug archive: %s.tar.gz" % out in so
    with tarfile.open(out + ".tar.gz") as tf:
        names = set(tf.getnames())
        for n in ("agent.json", "host.json", "members.json", "raft.json", "index.json",
                  "cairn.log"):
            assert "incident/" + n in names, names
        get = lambda n: tf.extractfile("incident/" + n).read()
        assert json.loads(get("agent.json"))["Config"]["NodeName"] == agent.name
        assert isinstance(json.loads(get("members.json")), list)
        assert json.loads(get("raft.json"))["Servers"]
        idx = json.loads(get("index.json"))
        assert idx["Duration"] == "3s" and "logs" in idx["Targets"]
        log = get("cairn.log").decode()
        assert "snapshot save: streaming index" in log
        if "incident/metrics.json" in names:
            assert isinstance(json.loads(get("metrics.json")), list)
        else:
            assert any("/v1/agent/metrics" in n for n in idx["Notes"])
    # pprof is refused by name.
    r = subprocess.run([CAIRN_BIN, "debug", "-capture=pprof", "-duration=1s", "-interval=1s"],
                       capture_output=True, text=True, env=cli_env(agent))
    assert r.returncode == 1 and "pprof" in r.stderr


def test_monitor_ends_when_the_agent_stops(agent_factory):
    a = agent_factory("mon-stop")
    p = monitor_proc(a)
    read_until(p, lambda l: "monitor: a client follows the log" in l, "the monitor's first line")
    assert a.stop() == 0
    _, err = p.communicate(timeout=30)
    assert p.returncode == 0 and "Remote side ended the monitor" in err
