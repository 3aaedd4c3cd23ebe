"""Connect's built-in CA (api-docs/connect/ca.mdx, api-docs/agent/connect.mdx):
-dev initialises it (connect.enabled), /v1/connect/ca/roots and the agent's
copy, ?pem, the configuration read and changed, a root rotation that
cross-signs (a new leaf verifies against the old root through the
intermediate, checked with `openssl verify`), a blocking roots query woken
by the rotation, leaf certificates (SPIFFE ID, re-issued after a rotation),
/v1/agent/connect/authorize from intentions, the CA surviving a restart, and
the refusals: Connect disabled, another provider, unknown settings."""

import json
import os
import subprocess
import threading

import pytest

from conftest import index_of, wait_until

ROOTS = "/v1/connect/ca/roots"


def roots(agent):
    r = agent.get(ROOTS)
    assert r.status_code == 200, r.text
    return r


def ca_ready(agent):
    wait_until(lambda: roots(agent).json()["ActiveRootID"] != "", what="CA initialised")
    return roots(agent).json()


def verify(tmp_path, leaf_pem, trusted_pem, untrusted_pem=None):
    leaf = tmp_path / "leaf.pem"
    ca = tmp_path / "ca.pem"
    leaf.write_text(leaf_pem)
    ca.write_text(trusted_pem)
    argv = ["openssl", "verify", "-CAfile", str(ca)]
    if untrusted_pem:
        u = tmp_path / "untrusted.pem"
        u.write_text(untrusted_pem)
        argv += ["-untrusted", str(u)]
    return subprocess.run(argv + [str(leaf)], capture_output=True, text=True).returncode == 0


@pytest.fixture(scope="module")
def dev(tmp_path_factory):
    """A -dev agent: Connect on, as Consul's dev mode."""
    from conftest import Agent
    a = Agent(tmp_path_factory.mktemp("ca"), name="ca", extra_args=["-dev"])
    a.start()
    yield a
    rc = a.stop() if a.running() else a.proc.returncode
    a.close()
    assert a.sanitizer_report() is None, a.sanitizer_report()
    assert rc == 0, a.log_tail()


def test_roots_and_config_shapes(dev):
    d = ca_ready(dev)
    assert list(d) == ["ActiveRootID", "TrustDomain", "Roots"]
    (root,) = d["Roots"]
    assert root["ID"] == d["ActiveRootID"] and root["Active"] is True
    assert d["TrustDomain"].endswith(".consul")
    assert d["TrustDomain"].startswith(root["ExternalTrustDomain"])
    assert root["RootCert"].startswith("-----BEGIN CERTIFICATE-----")
    assert (root["PrivateKeyType"], root["PrivateKeyBits"]) == ("ec", 256)
    assert "PrivateKey" not in root  # the key never leaves the state
    assert root["IntermediateCerts"] is None
    assert dev.get("/v1/agent/connect/ca/roots").json() == d
    pem = dev.get(ROOTS, params={"pem": "true"})
    assert pem.headers["Content-Type"] == "application/pem-certificate-chain"
    assert pem.text == root["RootCert"]
    cfg = dev.get("/v1/connect/ca/configuration").json()
    assert cfg["Provider"] == "consul"
    assert cfg["Config"]["LeafCertTTL"] == "72h0m0s"
    assert cfg["ModifyIndex"] >= cfg["CreateIndex"] > 0


def test_leaf_and_authorize(dev, tmp_path):
    d = ca_ready(dev)
    r = dev.get("/v1/agent/connect/ca/leaf/web")
    assert r.status_code == 200, r.text
    leaf = r.json()
    assert leaf["Service"] == "web"
    assert leaf["ServiceURI"] == "spiffe://%s/ns/default/dc/dc1/svc/web" % d["TrustDomain"]
    assert leaf["PrivateKeyPEM"].startswith("-----BEGIN PRIVATE KEY-----")
    assert index_of(r) == leaf["ModifyIndex"]
    assert verify(tmp_path, leaf["CertPEM"], d["Roots"][0]["RootCert"])
    # the same leaf again (cached), another service gets its own
    assert dev.get("/v1/agent/connect/ca/leaf/web").json()["SerialNumber"] == leaf["SerialNumber"]
    other = dev.get("/v1/agent/connect/ca/leaf/db").json()
    assert other["SerialNumber"] != leaf["SerialNumber"]
    # authorize follows the intentions
    body = {"Target": "db", "ClientCertURI": leaf["ServiceURI"]}
    a = dev.request("POST", "/v1/agent/connect/authorize", data=json.dumps(body)).json()
    assert a == {"Authorized": True, "Reason": "ACLs disabled, access is allowed by default"}
    dev.request("PUT", "/v1/connect/intentions/exact", params={"source": "web", "destination": "db"},
                data=json.dumps({"Action": "deny"}))
    a = dev.request("POST", "/v1/agent/connect/authorize", data=json.dumps(body)).json()
    assert a["Authorized"] is False
    assert a["Reason"].startswith("Matched L4 intention: DENY default/web => default/db")
    for body, text in [({"ClientCertURI": leaf["ServiceURI"]}, "Target service must be specified"),
                       ({"Target": "db", "ClientCertURI": "http://x"},
                        "ClientCertURI not a valid Connect identifier"),
                       ({"Target": "db", "ClientCertURI": "spiffe://t/agent/client/dc/dc1/id/n"},
                        "ClientCertURI not a valid Service identifier")]:
        r = dev.request("POST", "/v1/agent/connect/authorize", data=json.dumps(body))
        assert (r.status_code, r.text) == (400, text)


def test_rotation_cross_signs_and_wakes(dev, tmp_path):
    d = ca_ready(dev)
    old = d["Roots"][0]
    old_leaf = dev.get("/v1/agent/connect/ca/leaf/api").json()
    r = roots(dev)
    idx = index_of(r)
    out = {}

    def wait():
        out["r"] = dev.get(ROOTS, params={"index": idx, "wait": "20s"})

    t = threading.Thread(target=wait)
    before = dev.parked()
    t.start()
    dev.wait_parked(before + 1)
    # a new root of our own (openssl), handed to the CA configuration
    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-out", str(key)], check=True, capture_output=True)
    subprocess.run(["openssl", "req", "-new", "-x509", "-key", str(key), "-out", str(cert),
                    "-days", "365", "-subj", "/CN=rotated root",
                    "-addext", "basicConstraints=critical,CA:TRUE",
                    "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"],
                   check=True, capture_output=True)
    body = {"Provider": "consul", "Config": {"LeafCertTTL": "24h", "PrivateKey": key.read_text(),
                                             "RootCert": cert.read_text()}}
    r = dev.request("PUT", "/v1/connect/ca/configuration", data=json.dumps(body))
    assert r.status_code == 200, r.text
    t.join(25)
    assert not t.is_alive()
    new = out["r"].json()
    assert index_of(out["r"]) > idx
    assert len(new["Roots"]) == 2 and new["ActiveRootID"] != old["ID"]
    act = [x for x in new["Roots"] if x["Active"]][0]
    was = [x for x in new["Roots"] if not x["Active"]][0]
    assert was["ID"] == old["ID"] and was["CreateIndex"] == old["CreateIndex"]
    assert len(act["IntermediateCerts"]) == 1
    assert dev.get("/v1/connect/ca/configuration").json()["Config"]["LeafCertTTL"] == "24h0m0s"
    # the leaf is re-issued under the new root, with a higher index
    nl = dev.get("/v1/agent/connect/ca/leaf/api").json()
    assert nl["SerialNumber"] != old_leaf["SerialNumber"]
    assert nl["ModifyIndex"] > old_leaf["ModifyIndex"]
    assert verify(tmp_path, nl["CertPEM"], act["RootCert"])
    # a client still trusting only the old root accepts it through the cross-signed cert
    assert verify(tmp_path, nl["CertPEM"], old["RootCert"], act["IntermediateCerts"][0])
    assert not verify(tmp_path, nl["CertPEM"], old["RootCert"])
    # and the old leaf still verifies against the old root, which is still trusted
    assert verify(tmp_path, old_leaf["CertPEM"], old["RootCert"])


def test_refusals(dev, agent):
    ca_ready(dev)
    for body, text in [({"Provider": "vault", "Config": {}}, 'CA provider "vault" is not supported'),
                       ({"Provider": "consul", "Config": {"Nope": "1"}},
                        "Config key Nope is not supported"),
                       ({"Provider": "consul", "Config": {"PrivateKeyType": "rsa"}},
                        'PrivateKeyType "rsa" is not supported'),
                       ({"Provider": "consul", "Config": {"PrivateKey": "x"}},
                        "PrivateKey and RootCert must be given together")]:
        r = dev.request("PUT", "/v1/connect/ca/configuration", data=json.dumps(body))
        assert r.status_code == 400 and text in r.text, r.text
    # the module agent runs without -dev: Connect is off
    for path in [ROOTS, "/v1/connect/ca/configuration", "/v1/agent/connect/ca/leaf/web"]:
        r = agent.get(path)
        assert (r.status_code, r.text) == (500, "Connect must be enabled in order to use this "
                                                "endpoint"), path


def test_ca_survives_restart(agent_factory):
    a = agent_factory("carestart", extra_args=["-raft-snapshot-threshold=1",
                                               "-raft-snapshot-interval=0s"])
    cfg = os.path.join(a.workdir, "connect.hcl")
    with open(cfg, "w") as f:
        f.write("connect { enabled = true }\n")
    a.restart(extra_args=["-raft-snapshot-threshold=1", "-raft-snapshot-interval=0s",
                          "-config-file=" + cfg])
    d = ca_ready(a)
    for i in range(3):
        a.kv_put("k%d" % i, "v")
    a.restart()
    assert ca_ready(a) == d
    assert a.get("/v1/agent/self").json()["DebugConfig"]["ConnectEnabled"] is True


def test_cli_get_and_set_config(dev, tmp_path):
    from conftest import cairn_cli
    ca_ready(dev)
    addr = "-http-addr=127.0.0.1:%d" % dev.http_port
    p = cairn_cli("connect", "ca", "get-config", addr)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["Provider"] == "consul"
    f = tmp_path / "ca.json"
    f.write_text(json.dumps({"Provider": "consul", "Config": {"LeafCertTTL": "12h"}}))
    p = cairn_cli("connect", "ca", "set-config", "-config-file", str(f), addr)
    assert (p.returncode, p.stdout) == (0, "Configuration updated!\n"), p.stderr
    assert json.loads(cairn_cli("connect", "ca", "get-config", addr).stdout)["Config"][
        "LeafCertTTL"] == "12h0m0s"
    f.write_text(json.dumps({"Provider": "vault", "Config": {}}))
    p = cairn_cli("connect", "ca", "set-config", "-config-file", str(f), addr)
    assert p.returncode == 1 and "not supported" in p.stderr
    p = cairn_cli("connect", "ca", "set-config", addr)
    assert p.returncode == 1 and "-config-file is required" in p.stderr
