"""systemd readiness notification (Type=notify, docs/packaging.md).

The agent started with $NOTIFY_SOCKET sends sd_notify(3) datagrams: READY=1
once HTTP answers, RELOADING=1 then READY=1 around a SIGHUP reload (also
`PUT /v1/agent/reload`), and STOPPING=1 at shutdown. systemd's protocol:
https://www.freedesktop.org/software/systemd/man/sd_notify.html ("READY=1",
"RELOADING=1", "STOPPING=1"); Consul's own agent signals READY=1 the same way
(its unit in the Linux packages is Type=notify).
"""

import os
import signal
import socket
import pytest

from conftest import wait_until


def recv_states(sock, timeout=60.0):
    """Next datagram as a dict of VAR=value lines."""
    sock.settimeout(timeout)
    data = sock.recv(4096).decode()
    return dict(line.split("=", 1) for line in data.split("\n") if line)


@pytest.fixture
def notify_sock(tmp_path, monkeypatch):
    path = str(tmp_path / "notify.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    yield s
    s.close()


def test_ready_reload_stopping(agent_factory, notify_sock):
    a = agent_factory("n1")
    st = recv_states(notify_sock)
    assert st.get("READY") == "1", st
    assert st.get("STATUS") == "serving"
    # Ready means serving: the HTTP API answers now.
    assert a.get("/v1/status/leader").status_code == 200

    os.kill(a.pid, signal.SIGHUP)
    assert recv_states(notify_sock).get("RELOADING") == "1"
    st = recv_states(notify_sock)
    assert st.get("READY") == "1" and st.get("STATUS") == "serving", st

    r = a.put("/v1/agent/reload")
    assert r.status_code == 200
    assert recv_states(notify_sock).get("RELOADING") == "1"
    assert recv_states(notify_sock).get("READY") == "1"

    os.kill(a.pid, signal.SIGTERM)
    st = recv_states(notify_sock)
    assert st.get("STOPPING") == "1", st
    a.wait_exit()


def test_failed_reload_still_ready(agent_factory, notify_sock, tmp_path):
    cdir = tmp_path / "conf"
    cdir.mkdir()
    (cdir / "a.hcl").write_text('log_level = "info"\n')
    a = agent_factory("n2", extra_args=["-config-dir=" + str(cdir)])
    assert recv_states(notify_sock).get("READY") == "1"
    (cdir / "a.hcl").write_text('log_level = \n')  # a syntax error
    os.kill(a.pid, signal.SIGHUP)
    assert recv_states(notify_sock).get("RELOADING") == "1"
    st = recv_states(notify_sock)
    assert st.get("READY") == "1", st
    assert "reload failed" in st.get("STATUS", ""), st
    assert a.get("/v1/status/leader").status_code == 200


def test_bad_notify_socket_is_logged_not_fatal(agent_factory, tmp_path, monkeypatch):
    monkeypatch.setenv("NOTIFY_SOCKET", str(tmp_path / "nobody-listens"))
    a = agent_factory("n3")
    assert a.get("/v1/status/leader").status_code == 200
    wait_until(lambda: "cannot notify systemd on NOTIFY_SOCKET=" in a.log_text(),
               what="the notify failure in the log")
