"""The Debian package on a real system: dpkg -i on this machine, then
remove and purge. What is checked, and the rule it follows:

- postinst makes the `cairn` system user (Debian policy 9.2.1: system uids
  below 1000, no login shell) and /var/lib/cairn owned by it;
- /etc/cairn.d/cairn.hcl is a conffile (policy 10.7.3: dpkg tracks it, a
  local change survives reinstall, `remove` keeps it, `purge` removes it)
  with datacenter, node_name, data_dir and server;
- `cairn version`, the man pages, bash completion, the unit (systemd-analyze
  verify, now with the binary and man pages in place);
- the agent as the unit starts it (user cairn, -config-dir=/etc/cairn.d,
  NOTIFY_SOCKET set as for Type=notify) reports READY=1, serves HTTP and
  writes its data in /var/lib/cairn; SIGHUP gives RELOADING=1 then
  READY=1, SIGTERM STOPPING=1 and a clean exit;
- the unit is enabled at boot on install (dh_installsystemd);
- purge removes the user, /var/lib/cairn, /etc/cairn.d and the enable link.
The machine is left as found: the package purged and the user gone even
when a step fails.
"""

import json
import os
import pwd
import grp
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time

import pytest
import requests

from conftest import run

HCL = "/etc/cairn.d/cairn.hcl"
# dh_installsystemd's postinst enables the unit at boot (deb-systemd-helper
# makes the link even where systemd is not running); purge removes it.
WANTS = "/etc/systemd/system/multi-user.target.wants/cairn.service"


def installed():
    p = run("dpkg-query", "-W", "-f=${Status}", "cairn", check=False)
    return p.returncode == 0 and "installed" in p.stdout and "not-installed" not in p.stdout


def user_exists(name="cairn"):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def system(deb):
    """A machine without cairn before; the same after, whatever happens."""
    if installed() or user_exists() or os.path.exists("/etc/cairn.d") or \
            os.path.exists("/var/lib/cairn"):
        pytest.skip("cairn is already installed here (package, user or dirs): not touching it")
    try:
        yield deb
    finally:
        if installed() or run("dpkg-query", "-W", "cairn", check=False).returncode == 0:
            run("dpkg", "--purge", "cairn", check=False)
        # Whatever a failed postrm left behind.
        if user_exists():
            run("deluser", "--system", "--quiet", "cairn", check=False)
        try:
            grp.getgrnam("cairn")
            run("delgroup", "--system", "--quiet", "cairn", check=False)
        except KeyError:
            pass
        shutil.rmtree("/var/lib/cairn", ignore_errors=True)
        shutil.rmtree("/etc/cairn.d", ignore_errors=True)


def recv_state(sock, timeout=60.0):
    sock.settimeout(timeout)
    data = sock.recv(4096).decode()
    return dict(line.split("=", 1) for line in data.split("\n") if line)


def wait_for(pred, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        try:
            v = pred()
            if v:
                return v
        except (requests.RequestException, OSError, ValueError):
            pass
        if time.monotonic() > deadline:
            pytest.fail("timed out waiting for " + what)
        time.sleep(0.1)


def check_installed_files():
    # The user: a system account, no login, home the data dir.
    u = pwd.getpwnam("cairn")
    assert u.pw_uid < 1000, u
    assert u.pw_shell in ("/usr/sbin/nologin", "/sbin/nologin", "/bin/false"), u
    assert u.pw_dir == "/var/lib/cairn"
    g = grp.getgrnam("cairn")
    assert u.pw_gid == g.gr_gid
    # The data dir: the service user's, not world-readable.
    st = os.stat("/var/lib/cairn")
    assert stat.S_ISDIR(st.st_mode) and st.st_uid == u.pw_uid, st
    assert stat.S_IMODE(st.st_mode) == 0o750, oct(st.st_mode)
    # The conffile: tracked by dpkg, readable by the service only.
    conffiles = run("dpkg-query", "-W", "-f=${Conffiles}", "cairn").stdout
    assert HCL in conffiles, conffiles
    st = os.stat(HCL)
    assert st.st_uid == 0 and st.st_gid == g.gr_gid and stat.S_IMODE(st.st_mode) == 0o640
    text = open(HCL).read()
    for key in ("datacenter", "node_name", "data_dir", "server"):
        assert key in text, key
    assert 'data_dir = "/var/lib/cairn"' in text
    # The packaged configuration is valid (cairn.service's ExecReload runs this).
    p = run("/usr/bin/cairn", "validate", "/etc/cairn.d")
    assert "Configuration is valid!" in p.stdout, p.stdout
    # The binary and what was generated from it.
    v = run("/usr/bin/cairn", "version").stdout
    assert v.startswith("Cairn v0.1.0"), v
    assert os.path.exists("/usr/share/man/man1/cairn.1.gz")
    assert os.path.exists("/usr/share/man/man1/cairn-agent.1.gz")
    assert os.path.exists("/usr/share/bash-completion/completions/cairn")
    if shutil.which("man"):
        p = run("man", "-w", "cairn-agent")
        assert p.stdout.strip() == "/usr/share/man/man1/cairn-agent.1.gz"
    unit = open("/lib/systemd/system/cairn.service").read()
    assert "ExecStart=/usr/bin/cairn agent -config-dir=/etc/cairn.d\n" in unit
    assert "Type=notify\n" in unit and "User=cairn\n" in unit
    assert "ExecReload=/usr/bin/cairn validate /etc/cairn.d\n" in unit
    if shutil.which("systemd-analyze"):
        p = run("systemd-analyze", "verify", "/lib/systemd/system/cairn.service", check=False)
        assert p.returncode == 0 and not (p.stdout + p.stderr).strip(), p.stdout + p.stderr


def serve_as_the_unit_does(tmp_path):
    """Start the agent the way cairn.service does (user cairn,
    -config-dir=/etc/cairn.d, NOTIFY_SOCKET). Ports are moved to free ones
    with flags (flags override files) so a busy 8500 on this machine does not
    matter; everything else is the packaged configuration."""
    # pytest's tmp dirs are 0700 root's: the socket goes where user cairn
    # can reach it.
    sdir = tempfile.mkdtemp(prefix="cairn-notify-")
    os.chmod(sdir, 0o755)
    nsock_path = os.path.join(sdir, "notify.sock")
    nsock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    nsock.bind(nsock_path)
    os.chmod(nsock_path, 0o666)  # the agent runs as cairn
    http_port, server_port = free_port(), free_port()
    env = {"PATH": "/usr/bin:/bin", "NOTIFY_SOCKET": nsock_path}
    log = open(str(tmp_path / "agent.log"), "w")
    proc = subprocess.Popen(
        ["/usr/bin/cairn", "agent", "-config-dir=/etc/cairn.d",
         "-http-port=%d" % http_port, "-server-port=%d" % server_port],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, cwd="/",
        user="cairn", group="cairn", extra_groups=[])
    base = "http://127.0.0.1:%d" % http_port
    try:
        try:
            st = recv_state(nsock)
        except OSError:
            pytest.fail("no READY=1; agent log:\n" + open(str(tmp_path / "agent.log")).read())
        assert st.get("READY") == "1", st
        # Ready means serving: HTTP answers, and the single server elects itself.
        wait_for(lambda: requests.get(base + "/v1/status/leader", timeout=5).json(),
                 what="a leader")
        r = requests.put(base + "/v1/kv/pkg/test", data=b"hello", timeout=30)
        assert r.status_code == 200 and r.json() is True, r.text
        r = requests.get(base + "/v1/kv/pkg/test?raw", timeout=30)
        assert r.content == b"hello"
        me = requests.get(base + "/v1/agent/self", timeout=30).json()["Config"]
        assert me["Datacenter"] == "dc1" and me["Server"] is True, me
        # Its data lands in the packaged data dir, owned by the service user.
        cairn_uid = pwd.getpwnam("cairn").pw_uid
        owned = [os.stat(os.path.join(d, f)).st_uid == cairn_uid
                 for d, _, fs in os.walk("/var/lib/cairn") for f in fs]
        assert owned and all(owned), owned
        proc.send_signal(signal.SIGHUP)
        assert recv_state(nsock).get("RELOADING") == "1"
        assert recv_state(nsock).get("READY") == "1"
        proc.send_signal(signal.SIGTERM)
        assert recv_state(nsock).get("STOPPING") == "1"
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        nsock.close()
        log.close()
        shutil.rmtree(sdir, ignore_errors=True)


def test_install_serve_remove_purge(system, tmp_path):
    run("dpkg", "-i", system)
    assert installed()
    check_installed_files()
    if shutil.which("deb-systemd-helper"):
        assert os.readlink(WANTS) == "/lib/systemd/system/cairn.service"
    serve_as_the_unit_does(tmp_path)

    # A local change to the conffile survives a reinstall.
    with open(HCL, "a") as f:
        f.write('log_level = "debug"\n')
    run("dpkg", "-i", system)
    assert 'log_level = "debug"' in open(HCL).read()

    # remove: the program goes; conffile, data and user stay (policy 10.7.3).
    run("dpkg", "--remove", "cairn")
    assert not os.path.exists("/usr/bin/cairn")
    assert not os.path.exists("/lib/systemd/system/cairn.service")
    assert os.path.exists(HCL)
    assert os.path.isdir("/var/lib/cairn")
    assert user_exists()

    # purge: everything, the user included.
    run("dpkg", "--purge", "cairn")
    assert run("dpkg-query", "-W", "cairn", check=False).returncode != 0
    assert not os.path.exists("/etc/cairn.d")
    assert not os.path.exists("/var/lib/cairn")
    assert not os.path.lexists(WANTS)
    assert not user_exists()
    with pytest.raises(KeyError):
        grp.getgrnam("cairn")


def test_install_with_an_existing_cairn_group(system):
    """A `cairn` group already there (an admin's, or left by an older
    install) must not fail postinst: the user joins it."""
    run("addgroup", "--system", "--quiet", "cairn")
    gid = grp.getgrnam("cairn").gr_gid
    run("dpkg", "-i", system)
    assert pwd.getpwnam("cairn").pw_gid == gid
    assert os.stat("/var/lib/cairn").st_gid == gid
    run("dpkg", "--purge", "cairn")
    assert not user_exists()
