"""TLS (docs/tls.md): certificates made once per session with `cairn tls`,
HTTPS with curl, python-consul and the CLI (client certificates required
with verify_incoming), a three-server cluster over mutual TLS (replication,
failover), servers refused for a certificate of another CA, a client
certificate posing as a server, and plaintext; bad TLS configuration stops
the agent with a clear error; certificates reload without dropping
connections."""
import http.client
import os
import shutil
import signal
import ssl
import subprocess

import pytest
import requests

from conftest import CAIRN_BIN, Cluster, ClusterAgent, free_port, wait_until


def run(args, cwd, env=None, check=True):
    p = subprocess.run([CAIRN_BIN] + args, cwd=cwd, capture_output=True, text=True,
                       timeout=60, env=env)
    if check:
        assert p.returncode == 0, (args, p.stdout, p.stderr)
    return p


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """Two CAs made with the CLI under test: `good` with server, client and CLI
    certificates, `other` with a server certificate of its own."""
    d = tmp_path_factory.mktemp("pki")
    good, other = d / "good", d / "other"
    good.mkdir()
    other.mkdir()
    out = run(["tls", "ca", "create"], good).stdout
    assert "==> Saved consul-agent-ca.pem" in out and "consul-agent-ca-key.pem" in out
    out = run(["tls", "cert", "create", "-server", "-dc", "dc1"], good).stdout
    assert "==> Saved dc1-server-consul-0.pem" in out
    assert "dc1-server-consul-0-key.pem" in out
    run(["tls", "cert", "create", "-server", "-dc", "dc1"], good)  # -1: the next free index
    run(["tls", "cert", "create", "-client", "-dc", "dc1"], good)
    run(["tls", "cert", "create", "-cli", "-dc", "dc1"], good)
    run(["tls", "ca", "create"], other)
    run(["tls", "cert", "create", "-server", "-dc", "dc1"], other)
    return {"dir": str(d), "good": str(good), "other": str(other)}


def p(pki, which, name):
    return os.path.join(pki[which], name)


def text(cert):
    return subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-text"],
                          capture_output=True, text=True, check=True).stdout


def test_tls_cli_files_names_and_sans(pki):
    g = pki["good"]
    for f in ["consul-agent-ca.pem", "consul-agent-ca-key.pem", "dc1-server-consul-0.pem",
              "dc1-server-consul-0-key.pem", "dc1-server-consul-1.pem",
              "dc1-client-consul-0.pem", "dc1-cli-consul-0.pem"]:
        assert os.path.exists(os.path.join(g, f)), f
    assert oct(os.stat(os.path.join(g, "consul-agent-ca-key.pem")).st_mode & 0o777) == "0o600"
    t = text(os.path.join(g, "dc1-server-consul-0.pem"))
    assert "DNS:server.dc1.consul, DNS:localhost, IP Address:127.0.0.1" in t
    assert "CN = server.dc1.consul" in t and "id-ecPublicKey" in t and "prime256v1" in t
    assert "TLS Web Server Authentication, TLS Web Client Authentication" in t
    t = text(os.path.join(g, "dc1-client-consul-0.pem"))
    assert "DNS:client.dc1.consul, DNS:localhost, IP Address:127.0.0.1" in t
    t = text(os.path.join(g, "dc1-cli-consul-0.pem"))
    assert "DNS:cli.dc1.consul, DNS:localhost" in t and "127.0.0.1" not in t
    ca = text(os.path.join(g, "consul-agent-ca.pem"))
    assert "CA:TRUE" in ca and "Certificate Sign" in ca
    v = subprocess.run(["openssl", "verify", "-CAfile", os.path.join(g, "consul-agent-ca.pem"),
                        os.path.join(g, "dc1-server-consul-0.pem")],
                       capture_output=True, text=True)
    assert v.returncode == 0, v.stdout + v.stderr
    # never overwritten; -server and -client are exclusive
    r = run(["tls", "ca", "create"], g, check=False)
    assert r.returncode == 1 and "consul-agent-ca.pem already exists" in r.stderr
    r = run(["tls", "cert", "create", "-server", "-client"], g, check=False)
    assert r.returncode == 1 and "Please provide either -server, -client, or -cli" in r.stderr


def https_conf(tmp_path, pki, verify_incoming=True, extra=""):
    f = tmp_path / "https.hcl"
    f.write_text("""
tls {
  defaults {
    ca_file = "%s"
    cert_file = "%s"
    key_file = "%s"
  }
  https { verify_incoming = %s }
}
%s
""" % (p(pki, "good", "consul-agent-ca.pem"), p(pki, "good", "dc1-server-consul-0.pem"),
       p(pki, "good", "dc1-server-consul-0-key.pem"),
       "true" if verify_incoming else "false", extra))
    return str(f)


@pytest.fixture
def https_agent(agent_factory, tmp_path, pki):
    port = free_port()
    a = agent_factory(extra_args=["-config-file=" + https_conf(tmp_path, pki),
                                  "-https-port=%d" % port])
    a.https_port = port
    return a


def curl(*args):
    return subprocess.run(["curl", "-sS", "--max-time", "10"] + list(args),
                          capture_output=True, text=True)


def test_https_curl_client_cert_required(https_agent, pki):
    a = https_agent
    base = "https://127.0.0.1:%d" % a.https_port
    ca = p(pki, "good", "consul-agent-ca.pem")
    cert, key = p(pki, "good", "dc1-client-consul-0.pem"), p(pki, "good",
                                                               "dc1-client-consul-0-key.pem")
    # no client certificate: the handshake is refused, and logged with the peer
    r = curl("--cacert", ca, base + "/v1/status/leader")
    assert r.returncode != 0, r.stdout
    wait_until(lambda: "http: TLS handshake error from 127.0.0.1:" in a.log_text(),
               what="handshake error logged")
    # wrong CA on the client side: curl refuses the server
    r = curl("--cacert", p(pki, "other", "consul-agent-ca.pem"), "--cert", cert, "--key", key,
             base + "/v1/status/leader")
    assert r.returncode == 60, r.stderr
    # with one: a write and two reads on one keep-alive connection
    r = curl("--cacert", ca, "--cert", cert, "--key", key, "-X", "PUT", "--data", "v1",
             base + "/v1/kv/tls/a")
    assert r.returncode == 0 and r.stdout == "true", r.stderr
    r = curl("--cacert", ca, "--cert", cert, "--key", key, "-v", base + "/v1/kv/tls/a?raw",
             base + "/v1/kv/tls/a?raw")
    assert r.stdout == "v1v1", r.stderr
    assert "Re-using existing connection" in r.stderr
    assert "TLSv1.3" in r.stderr
    # TLS 1.1 is refused
    r = curl("--cacert", ca, "--cert", cert, "--key", key, "--tls-max", "1.1", "--tlsv1.1",
             base + "/v1/status/leader")
    assert r.returncode != 0
    # plain HTTP still serves on its own port
    assert a.get("/v1/kv/tls/a?raw").text == "v1"


def test_https_python_consul_and_blocking(https_agent, pki):
    import consul
    a = https_agent
    ca = p(pki, "good", "consul-agent-ca.pem")
    cc = (p(pki, "good", "dc1-client-consul-0.pem"), p(pki, "good", "dc1-client-consul-0-key.pem"))
    c = consul.Consul(host="127.0.0.1", port=a.https_port, scheme="https", verify=ca, cert=cc)
    assert c.kv.put("py/k", "hello")
    idx, v = c.kv.get("py/k")
    assert v["Value"] == b"hello"
    # a blocking query over HTTPS wakes on a write
    import threading
    got = {}

    def block():
        got["r"] = c.kv.get("py/k", index=idx, wait="20s")

    t = threading.Thread(target=block)
    t.start()
    # the HTTPS listener's own counters (answered over HTTPS)
    wait_until(lambda: int(requests.get(
        "https://127.0.0.1:%d/v1/agent/self" % a.https_port, verify=ca, cert=cc,
        timeout=10).json()["Stats"]["cairn"]["http_parked"]) >= 1, what="parked over HTTPS")
    a.kv_put("py/k", "again")
    t.join(15)
    assert not t.is_alive()
    assert got["r"][1]["Value"] == b"again"
    # without a client certificate python-consul gets a TLS error
    bare = consul.Consul(host="127.0.0.1", port=a.https_port, scheme="https", verify=ca)
    with pytest.raises(requests.exceptions.RequestException):
        bare.kv.get("py/k")


def test_cli_over_https(https_agent, pki, tmp_path):
    a = https_agent
    ca = p(pki, "good", "consul-agent-ca.pem")
    cert, key = p(pki, "good", "dc1-cli-consul-0.pem"), p(pki, "good", "dc1-cli-consul-0-key.pem")
    addr = "https://127.0.0.1:%d" % a.https_port
    r = run(["kv", "put", "-http-addr=" + addr, "-ca-file=" + ca, "-client-cert=" + cert,
             "-client-key=" + key, "cli/k", "v"], str(tmp_path))
    assert "Success! Data written to: cli/k" in r.stdout
    env = dict(os.environ, CONSUL_HTTP_ADDR="127.0.0.1:%d" % a.https_port, CONSUL_HTTP_SSL="true",
               CONSUL_CAPATH=os.path.dirname(ca) + "/capath", CONSUL_CLIENT_CERT=cert,
               CONSUL_CLIENT_KEY=key)
    os.makedirs(env["CONSUL_CAPATH"], exist_ok=True)
    shutil.copy(ca, env["CONSUL_CAPATH"])
    assert run(["kv", "get", "cli/k"], str(tmp_path), env=env).stdout == "v\n"
    # the certificate names server.dc1.consul: -tls-server-name dials the address with that name
    env2 = dict(env, CONSUL_HTTP_ADDR="https://127.0.0.1:%d" % a.https_port, CONSUL_CACERT=ca)
    del env2["CONSUL_CAPATH"]
    r = run(["kv", "get", "-tls-server-name=server.dc1.consul", "cli/k"], str(tmp_path), env=env2)
    assert r.stdout == "v\n"
    r = run(["kv", "get", "-tls-server-name=nobody.dc1.consul", "cli/k"], str(tmp_path),
            env=env2, check=False)
    assert r.returncode == 1 and "nobody.dc1.consul" in r.stderr
    # CONSUL_HTTP_SSL_VERIFY=false skips verification (a client cert is still needed)
    env3 = dict(env2, CONSUL_HTTP_SSL_VERIFY="false")
    del env3["CONSUL_CACERT"]
    assert run(["kv", "get", "cli/k"], str(tmp_path), env=env3).stdout == "v\n"
    env4 = dict(env3)
    del env4["CONSUL_CLIENT_CERT"]
    r = run(["kv", "get", "cli/k"], str(tmp_path), env=env4, check=False)
    assert r.returncode == 1


def peer_cert(port, ca):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = False
    with ssl.create_connection(("127.0.0.1", port)) as s:
        with ctx.wrap_socket(s) as t:
            return t.getpeercert(binary_form=True)


def test_certificate_reload_keeps_connections(agent_factory, tmp_path, pki):
    live = tmp_path / "live"
    live.mkdir()
    shutil.copy(p(pki, "good", "dc1-server-consul-0.pem"), live / "cert.pem")
    shutil.copy(p(pki, "good", "dc1-server-consul-0-key.pem"), live / "key.pem")
    conf = tmp_path / "r.hcl"
    ca = p(pki, "good", "consul-agent-ca.pem")
    conf.write_text('tls { https { cert_file = "%s" key_file = "%s" } }\n'
                    % (live / "cert.pem", live / "key.pem"))
    port = free_port()
    a = agent_factory(extra_args=["-config-file=%s" % conf, "-https-port=%d" % port])
    before = peer_cert(port, ca)
    ctx = ssl.create_default_context(cafile=ca)
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=10)
    ctx.check_hostname = False
    conn.request("GET", "/v1/status/leader")
    assert conn.getresponse().read()
    shutil.copy(p(pki, "good", "dc1-server-consul-1.pem"), live / "cert.pem")
    shutil.copy(p(pki, "good", "dc1-server-consul-1-key.pem"), live / "key.pem")
    a.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "TLS certificates and keys loaded again" in a.log_text(), what="reload")
    assert peer_cert(port, ca) != before  # new connections: the new certificate
    conn.request("GET", "/v1/status/leader")  # the open one still serves
    r = conn.getresponse()
    assert r.status == 200 and r.read()
    conn.close()
    # a bad key fails the reload and changes nothing
    (live / "key.pem").write_text("garbage\n")
    r = run(["reload", "-http-addr=127.0.0.1:%d" % a.http_port], str(tmp_path), check=False)
    assert r.returncode == 1
    assert "key_file" in a.log_text()
    assert peer_cert(port, ca) != before


@pytest.mark.parametrize("case", ["missing", "mismatch", "tls11", "noport_cert"])
def test_bad_tls_config_stops_the_agent(tmp_path, pki, case):
    g = pki["good"]
    cert = os.path.join(g, "dc1-server-consul-0.pem")
    key = os.path.join(g, "dc1-server-consul-0-key.pem")
    ca = os.path.join(g, "consul-agent-ca.pem")
    conf, want = {
        "missing": ('tls { defaults { cert_file = "%s/nope.pem" key_file = "%s" } }' % (g, key),
                    'cert_file "%s/nope.pem": No such file or directory' % g),
        "mismatch": ('tls { defaults { cert_file = "%s" key_file = "%s" } }'
                     % (cert, os.path.join(g, "dc1-client-consul-0-key.pem")),
                     "does not match cert_file"),
        "tls11": ('tls { defaults { ca_file = "%s" tls_min_version = "TLSv1_1" } }' % ca,
                  'tls_min_version "TLSv1_1" is not supported: cairn speaks TLS 1.2 and 1.3'),
        "noport_cert": ("ports { https = %d }" % free_port(),
                        "no certificate is configured"),
    }[case]
    f = tmp_path / "bad.hcl"
    f.write_text(conf + "\n")
    r = subprocess.run([CAIRN_BIN, "agent", "-dev", "-dns-port=-1",
                        "-http-port=%d" % free_port(), "-config-file=%s" % f],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1
    assert want in r.stderr, r.stderr


def test_deprecated_top_level_keys(agent_factory, tmp_path, pki):
    """Consul's old ca_file/cert_file/key_file/verify_incoming_https map to tls.*."""
    g = pki["good"]
    conf = tmp_path / "old.json"
    conf.write_text('{"ca_file": "%s/consul-agent-ca.pem", "cert_file": '
                    '"%s/dc1-server-consul-0.pem", "key_file": "%s/dc1-server-consul-0-key.pem",'
                    ' "verify_incoming_https": true}' % (g, g, g))
    port = free_port()
    agent_factory(extra_args=["-config-file=%s" % conf, "-https-port=%d" % port,
                              "-http-port=-1"], start=False).start(wait=False)
    ca = os.path.join(g, "consul-agent-ca.pem")
    wait_until(lambda: curl("--cacert", ca, "--cert", os.path.join(g, "dc1-client-consul-0.pem"),
                            "--key", os.path.join(g, "dc1-client-consul-0-key.pem"),
                            "https://127.0.0.1:%d/v1/status/leader" % port).stdout.strip()
               not in ("", '""'), what="HTTPS-only agent up")
    assert curl("--cacert", ca, "https://127.0.0.1:%d/v1/status/leader" % port).returncode != 0


# ---- server RPC over mutual TLS ------------------------------------------------------

def rpc_conf(tmp_path, pki, which="good", cert="dc1-server-consul-0", name="rpc", tls=True,
             trust_both=False):
    f = tmp_path / (name + ".hcl")
    if not tls:
        f.write_text("\n")
        return str(f)
    ca = 'ca_file = "%s"' % p(pki, which, "consul-agent-ca.pem")
    if trust_both:  # a CA directory (ca_path) with both CAs: it would accept the cluster
        both = tmp_path / (name + "-cas")
        both.mkdir()
        shutil.copy(p(pki, "good", "consul-agent-ca.pem"), both / "good.pem")
        shutil.copy(p(pki, "other", "consul-agent-ca.pem"), both / "other.pem")
        ca = 'ca_path = "%s"' % both
    f.write_text("""
tls {
  defaults {
    %s
    cert_file = "%s"
    key_file = "%s"
    verify_incoming = true
    verify_outgoing = true
  }
  internal_rpc { verify_server_hostname = true }
}
""" % (ca, p(pki, which, cert + ".pem"), p(pki, which, cert + "-key.pem")))
    return str(f)


@pytest.fixture(scope="module")
def mtls_cluster(tmp_path_factory, pki):
    d = tmp_path_factory.mktemp("mtls")
    c = Cluster(d, 3, extra_args=["-config-file=" + rpc_conf(d, pki)])
    c.start()
    yield c
    for a in c.agents:
        a.close()


def test_mtls_cluster_replicates_and_fails_over(mtls_cluster):
    c = mtls_cluster
    ldr = c.leader()
    assert "Server RPC TLS: mutual" in ldr.log_text()
    assert ldr.put("/v1/kv/m/a", data="1").json() is True
    for a in c.agents:
        wait_until(lambda a=a: a.get("/v1/kv/m/a?raw&stale").text == "1", what="replicated")
    # through a follower (forwarded over TLS)
    f = [a for a in c.agents if a is not ldr][0]
    assert f.put("/v1/kv/m/b", data="2").json() is True
    ldr.kill9()
    ldr.member = False
    new = c.wait_converged(agents=[a for a in c.agents if a is not ldr])
    assert new is not ldr
    assert new.put("/v1/kv/m/c", data="3").json() is True
    assert f.get("/v1/kv/m/c?raw").text == "3"
    ldr.start()  # rejoins over TLS
    wait_until(lambda: ldr.get("/v1/kv/m/c?raw&stale").text == "3", what="old leader caught up")
    for a in c.agents:  # our hello always precedes frames (it once raced them)
        assert "bad magic" not in a.log_text() and "refused outbound" not in a.log_text()


@pytest.fixture
def rogue(mtls_cluster, tmp_path, pki):
    """Start servers that try to join the mTLS cluster; all closed afterwards."""
    made = []

    def start(name, **kw):
        c = mtls_cluster
        a = ClusterAgent(tmp_path, name, join_ports=[x.server_port for x in c.agents],
                         extra_args=["-config-file=" + rpc_conf(tmp_path, pki, name=name, **kw)])
        made.append(a)
        a.start(wait=False)
        return a

    yield start
    for a in made:
        a.close()


def refused(c, pred):
    return any(pred(line) for a in c.agents if a.running() for line in a.log_text().splitlines()
               if "refused inbound peer" in line)


def http_up(a):
    try:
        a.get("/v1/status/leader")
        return True
    except requests.exceptions.ConnectionError:
        return False


def assert_never_joins(c, a):
    # its HTTP is up (it was started without waiting; a refusal can be logged
    # before that), it never learns a leader and is not a member of the
    # configuration
    wait_until(lambda: http_up(a), what="the rogue's HTTP")
    for _ in range(20):
        assert a.get("/v1/status/leader").json() == ""
        assert a.proc.poll() is None
    ldr = c.leader()
    peers = ldr.get("/v1/status/peers").json()
    assert a.rpc_addr not in peers and len(peers) == 3


def test_server_with_other_ca_refused(mtls_cluster, rogue):
    c = mtls_cluster
    # it trusts both CAs, but its certificate is from the other one: the cluster refuses it
    a = rogue("evil", which="other", trust_both=True)
    wait_until(lambda: refused(c, lambda l: "127.0.0.1:" in l and "TLS handshake: certificate "
                               "verification failed" in l), what="refusal logged")
    assert_never_joins(c, a)
    # one that trusts only its own CA refuses the cluster, and says why
    a = rogue("evil2", which="other")
    wait_until(lambda: "TLS handshake: certificate verification failed" in a.log_text(),
               what="its own refusal logged")
    assert_never_joins(c, a)


def test_client_cert_cannot_pose_as_server(mtls_cluster, rogue):
    c = mtls_cluster
    a = rogue("poser", cert="dc1-client-consul-0")
    wait_until(lambda: refused(c, lambda l: "does not name server.dc1.consul" in l),
               what="refusal logged")
    assert_never_joins(c, a)


def test_plaintext_server_refused(mtls_cluster, rogue):
    c = mtls_cluster
    a = rogue("plain", tls=False)
    wait_until(lambda: refused(c, lambda l: "a plaintext connection" in l), what="refusal logged")
    assert_never_joins(c, a)


def test_libcairn_over_https(https_agent, pki):
    driver = os.path.join(os.path.dirname(os.path.abspath(CAIRN_BIN)), "libcairn_driver")
    if not os.path.exists(driver):
        pytest.skip("libcairn_driver not built next to CAIRN_BIN")
    a = https_agent
    env = dict(os.environ, CAIRN_HTTP_ADDR="https://127.0.0.1:%d" % a.https_port,
               CONSUL_CACERT=p(pki, "good", "consul-agent-ca.pem"),
               CONSUL_CLIENT_CERT=p(pki, "good", "dc1-client-consul-0.pem"),
               CONSUL_CLIENT_KEY=p(pki, "good", "dc1-client-consul-0-key.pem"))
    out = subprocess.run([driver, "web-unused"], input="kv put lib/tls one\nkv get lib/tls\n",
                         capture_output=True, text=True, timeout=30, env=env)
    replies = [l for l in out.stdout.splitlines() if not l.startswith("change ")]
    assert replies[:1] == ["ok"], out.stdout + out.stderr
    assert replies[1].startswith("ok one "), out.stdout
    assert a.get("/v1/kv/lib/tls?raw").text == "one"


def test_https_drain_on_sigterm(https_agent, pki):
    """A blocking query parked on HTTPS is answered when the agent stops."""
    import threading
    a = https_agent
    ca = p(pki, "good", "consul-agent-ca.pem")
    cc = (p(pki, "good", "dc1-client-consul-0.pem"), p(pki, "good", "dc1-client-consul-0-key.pem"))
    base = "https://127.0.0.1:%d" % a.https_port
    requests.put(base + "/v1/kv/drain", data="x", verify=ca, cert=cc, timeout=10)
    idx = requests.get(base + "/v1/kv/drain", verify=ca, cert=cc,
                       timeout=10).headers["X-Consul-Index"]
    got = {}

    def block():
        got["r"] = requests.get(base + "/v1/kv/drain?index=%s&wait=60s" % idx, verify=ca,
                                cert=cc, timeout=30)

    t = threading.Thread(target=block)
    t.start()
    wait_until(lambda: int(requests.get(base + "/v1/agent/self", verify=ca, cert=cc,
                                        timeout=10).json()["Stats"]["cairn"]["http_parked"]) >= 1,
               what="parked over HTTPS")
    a.proc.send_signal(signal.SIGTERM)
    t.join(20)
    assert not t.is_alive()
    assert got["r"].status_code == 200 and got["r"].json()[0]["Key"] == "drain"
    assert a.proc.wait(20) == 0
