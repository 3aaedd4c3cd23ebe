"""The `cairn` command line client against a real agent: messages, output
layouts and exit codes as Consul's CLI has them
(https://developer.hashicorp.com/consul/commands).

Run with /usr/bin/python3 -m pytest tests/integration/test_cli.py; the binary
is $CAIRN_BIN and the agent comes from conftest.py's module-scoped fixture.
"""

import base64
import json
import os
import subprocess

import pytest

from conftest import CAIRN_BIN, free_port

CLI_TIMEOUT = 60  # a guard against a hung CLI, never a speed judgement


def cli(*args, addr=None, stdin=None, env_addr=True):
    """Run `cairn ARGS...`; returns CompletedProcess with text stdout/stderr.
    The agent address goes through CAIRN_HTTP_ADDR unless env_addr is False."""
    env = dict(os.environ)
    env.pop("CAIRN_HTTP_ADDR", None)
    env.pop("CONSUL_HTTP_ADDR", None)
    if addr and env_addr:
        env["CAIRN_HTTP_ADDR"] = addr
    # The CLI is an ASan build too: a leak or UB report fails the command.
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    p = subprocess.run([CAIRN_BIN] + list(args), input=stdin, capture_output=True,
                       env=env, timeout=CLI_TIMEOUT)
    p.stdout = p.stdout.decode("utf-8", "replace")
    p.stderr = p.stderr.decode("utf-8", "replace")
    assert "Sanitizer" not in p.stderr and "runtime error" not in p.stderr, p.stderr
    return p


@pytest.fixture(scope="module")
def addr(agent):
    return "127.0.0.1:%d" % agent.http_port


def run_ok(addr, *args, stdin=None):
    p = cli(*args, addr=addr, stdin=stdin)
    assert p.returncode == 0, (args, p.returncode, p.stdout, p.stderr)
    return p.stdout


# ---- no agent needed ---------------------------------------------------------

def test_version():
    p = cli("version")
    assert p.returncode == 0
    lines = p.stdout.splitlines()
    assert lines[0].startswith("Cairn v")
    assert any(l.startswith("Protocol 2 spoken by default") for l in lines)
    assert cli("--version").stdout == p.stdout
    j = json.loads(cli("version", "-format=json").stdout)
    assert lines[0] == "Cairn v" + j["Version"]


@pytest.mark.parametrize("argv", [
    ["-h"], ["--help"], ["kv", "-h"], ["kv", "put", "-h"], ["kv", "get", "--help"],
    ["kv", "delete", "-help"], ["kv", "export", "-h"], ["kv", "import", "-h"],
    ["catalog", "services", "-h"], ["catalog", "nodes", "-h"], ["services", "register", "-h"],
    ["services", "deregister", "-h"], ["members", "-h"], ["info", "-h"], ["version", "-h"],
    # Help wins over everything else on the line, as in Consul.
    ["kv", "put", "-bogus", "k", "-h"],
])
def test_help_exits_zero(argv):
    p = cli(*argv)
    assert p.returncode == 0, (argv, p.stderr)
    assert "Usage: cairn" in p.stdout


def test_unknown_command_and_usage_errors():
    p = cli("frobnicate")
    assert p.returncode == 127
    assert "frobnicate" in p.stderr and "Usage: cairn" in p.stderr
    assert cli().returncode == 127  # no command at all
    p = cli("kv")
    assert p.returncode == 1 and "Subcommands:" in p.stderr
    p = cli("kv", "get", "-nosuchflag", "k")
    assert p.returncode == 1
    assert "flag provided but not defined: -nosuchflag" in p.stderr
    p = cli("kv", "put", "-flags=notanumber", "k", "v")
    assert p.returncode == 1 and "-flags" in p.stderr


def test_connection_refused_names_the_address():
    port = free_port()  # nothing listens there
    p = cli("kv", "get", "-http-addr=127.0.0.1:%d" % port, "some/key")
    assert p.returncode == 1
    assert "127.0.0.1:%d" % port in p.stderr
    p = cli("members", addr="127.0.0.1:%d" % port)
    assert p.returncode == 1
    assert "127.0.0.1:%d" % port in p.stderr


# ---- KV -------------------------------------------------------------------------

def test_kv_put_get_delete(agent, addr):
    assert run_ok(addr, "kv", "put", "cli/basic", "hello") == \
        "Success! Data written to: cli/basic\n"
    assert run_ok(addr, "kv", "get", "cli/basic") == "hello\n"
    assert agent.kv_get("cli/basic") is not None

    # The address flag and http:// form work as well as the environment.
    p = cli("kv", "get", "-http-addr=http://" + addr, "cli/basic", env_addr=False)
    assert p.returncode == 0 and p.stdout == "hello\n"
    env_p = subprocess.run([CAIRN_BIN, "kv", "get", "cli/basic"], capture_output=True,
                           env=dict(os.environ, CONSUL_HTTP_ADDR=addr, CAIRN_HTTP_ADDR=""),
                           timeout=CLI_TIMEOUT)
    assert env_p.returncode == 0 and env_p.stdout == b"hello\n"

    # Leading '/' is stripped as Consul does; flags may follow the key.
    assert run_ok(addr, "kv", "get", "/cli/basic") == "hello\n"
    assert run_ok(addr, "kv", "get", "cli/basic", "-base64") == \
        base64.b64encode(b"hello").decode() + "\n"

    assert run_ok(addr, "kv", "delete", "cli/basic") == "Success! Deleted key: cli/basic\n"
    p = cli("kv", "get", "cli/basic", addr=addr)
    assert p.returncode == 1
    assert p.stderr == "Error! No key exists at: cli/basic\n"
    assert p.stdout == ""


def test_kv_put_sources_and_detailed(agent, addr, tmp_path):
    f = tmp_path / "value.bin"
    f.write_bytes(b"from a file\n")
    run_ok(addr, "kv", "put", "cli/src/file", "@" + str(f))
    assert base64.b64decode(agent.kv_get("cli/src/file")["Value"]) == b"from a file\n"

    run_ok(addr, "kv", "put", "cli/src/stdin", "-", stdin=b"piped\x00bytes")
    assert base64.b64decode(agent.kv_get("cli/src/stdin")["Value"]) == b"piped\x00bytes"

    run_ok(addr, "kv", "put", "cli/src/empty")
    assert not agent.kv_get("cli/src/empty").get("Value")

    run_ok(addr, "kv", "put", "-base64", "cli/src/b64", base64.b64encode(b"\x01\x02").decode())
    assert base64.b64decode(agent.kv_get("cli/src/b64")["Value"]) == b"\x01\x02"

    run_ok(addr, "kv", "put", "-flags=42", "cli/src/flags", "v")
    pair = agent.kv_get("cli/src/flags")
    assert pair["Flags"] == 42
    out = run_ok(addr, "kv", "get", "-detailed", "cli/src/flags")
    rows = dict(line.split(None, 1) for line in out.splitlines())
    assert rows["Flags"] == "42"
    assert rows["Key"] == "cli/src/flags"
    assert rows["ModifyIndex"] == str(pair["ModifyIndex"])
    assert rows["CreateIndex"] == str(pair["CreateIndex"])
    assert rows["Session"] == "-"
    assert rows["Value"] == "v"
    # Consul's tabwriter layout: the label column is the widest label + 6.
    assert out.splitlines()[0] == "CreateIndex      %d" % pair["CreateIndex"]

    out = run_ok(addr, "kv", "get", "-recurse", "cli/src/f")
    assert out == "cli/src/file:from a file\n\ncli/src/flags:v\n"
    out = run_ok(addr, "kv", "get", "-keys", "cli/src/")
    assert out.splitlines() == sorted(["cli/src/file", "cli/src/stdin", "cli/src/empty",
                                       "cli/src/b64", "cli/src/flags"])
    assert run_ok(addr, "kv", "get", "-keys", "cli/") == "cli/src/\n"
    assert run_ok(addr, "kv", "get", "-recurse", "cli/none/") == ""

    assert run_ok(addr, "kv", "delete", "-recurse", "cli/src/") == \
        "Success! Deleted keys with prefix: cli/src/\n"
    assert agent.kv_get("cli/src/file") is None


def test_kv_cas(agent, addr):
    run_ok(addr, "kv", "put", "cli/cas", "one")
    idx = agent.kv_get("cli/cas")["ModifyIndex"]

    p = cli("kv", "put", "-cas", "-modify-index=%d" % (idx + 1000), "cli/cas", "two", addr=addr)
    assert p.returncode == 1
    assert p.stderr == "Error! Did not write to cli/cas: CAS failed\n"
    assert base64.b64decode(agent.kv_get("cli/cas")["Value"]) == b"one"

    p = cli("kv", "put", "-cas", "cli/cas", "two", addr=addr)
    assert p.returncode == 1 and "Must specify -modify-index with -cas!" in p.stderr

    assert run_ok(addr, "kv", "put", "-cas", "-modify-index=%d" % idx, "cli/cas", "two") == \
        "Success! Data written to: cli/cas\n"
    assert base64.b64decode(agent.kv_get("cli/cas")["Value"]) == b"two"

    idx2 = agent.kv_get("cli/cas")["ModifyIndex"]
    p = cli("kv", "delete", "-cas", "-modify-index=%d" % idx, "cli/cas", addr=addr)
    assert p.returncode == 1
    assert p.stderr == "Error! Did not delete key cli/cas: CAS failed\n"
    assert run_ok(addr, "kv", "delete", "-cas", "-modify-index=%d" % idx2, "cli/cas") == \
        "Success! Deleted key: cli/cas\n"
    assert agent.kv_get("cli/cas") is None


def test_kv_export_import_round_trip(agent, addr, tmp_path):
    data = {
        "cli/exp/a": (b"alpha", 0),
        "cli/exp/b/c": (b"\x00\xffbinary", 7),
        "cli/exp/empty": (b"", 0),
        "cli/exp/uni": ("h\u00e9llo \u2603".encode(), 18446744073709551615),
    }
    for k, (v, fl) in data.items():
        agent.kv_put(k, v, flags=fl)

    out = run_ok(addr, "kv", "export", "cli/exp/")
    exported = json.loads(out)
    assert [e["key"] for e in exported] == sorted(data)
    for e in exported:
        assert set(e) == {"key", "flags", "value"}
        v, fl = data[e["key"]]
        assert base64.b64decode(e["value"]) == v
        assert e["flags"] == fl
    # Byte for byte what `consul kv export` prints (Go's MarshalIndent with a tab).
    assert out == json.dumps(exported, indent="\t") + "\n"
    assert run_ok(addr, "kv", "export", "cli/nothing/here") == "[]\n"

    run_ok(addr, "kv", "delete", "-recurse", "cli/exp/")
    assert agent.kv_get("cli/exp/a") is None

    f = tmp_path / "export.json"
    f.write_text(out)
    imp = run_ok(addr, "kv", "import", "@" + str(f))
    assert imp.splitlines() == ["Imported: " + k for k in sorted(data)]
    for k, (v, fl) in data.items():
        pair = agent.kv_get(k)
        assert base64.b64decode(pair.get("Value") or "") == v
        assert pair["Flags"] == fl
    assert run_ok(addr, "kv", "export", "cli/exp/") == out

    # From stdin and inline; a bad document writes nothing.
    run_ok(addr, "kv", "import", "-", stdin=b'[{"key":"cli/imp/x","flags":1,"value":"eA=="}]')
    assert agent.kv_get("cli/imp/x")["Flags"] == 1
    run_ok(addr, "kv", "import", '[{"key":"cli/imp/y","flags":0,"value":""}]')
    assert agent.kv_get("cli/imp/y") is not None
    p = cli("kv", "import", '[{"key":"cli/imp/z","value":"eA=="},{"key":"cli/imp/w",'
            '"value":"!!notbase64"}]', addr=addr)
    assert p.returncode == 1
    assert agent.kv_get("cli/imp/z") is None
    p = cli("kv", "import", "{not json", addr=addr)
    assert p.returncode == 1 and "Cannot unmarshal data" in p.stderr


# ---- services, catalog, members, info ------------------------------------------

def catalog_names(addr):
    return run_ok(addr, "catalog", "services").splitlines()


def test_services_register_by_flags(agent, addr):
    out = run_ok(addr, "services", "register", "-name=cliweb", "-id=cliweb1", "-port=8080",
                 "-address=10.1.2.3", "-tag=v1", "-tag=primary", "-meta=team=edge")
    assert out == "Registered service: cliweb\n"
    svc = agent.get("/v1/agent/services").json()["cliweb1"]
    assert svc["Service"] == "cliweb"
    assert svc["Port"] == 8080
    assert svc["Address"] == "10.1.2.3"
    assert sorted(svc["Tags"]) == ["primary", "v1"]
    assert svc["Meta"] == {"team": "edge"}

    assert "cliweb" in catalog_names(addr)
    tags = {l.split()[0]: (l.split() + [""])[1]
            for l in run_ok(addr, "catalog", "services", "-tags").splitlines()}
    assert tags["cliweb"] == "primary,v1"
    node_services = run_ok(addr, "catalog", "services", "-node=" + agent.name).splitlines()
    assert "cliweb" in node_services

    nodes = run_ok(addr, "catalog", "nodes", "-service=cliweb").splitlines()
    assert nodes[0].split() == ["Node", "ID", "Address", "DC"]
    assert nodes[1].split()[0] == agent.name
    p = cli("catalog", "nodes", "-service=no-such-service", addr=addr)
    assert p.returncode == 0 and "No nodes match" in p.stderr

    assert run_ok(addr, "services", "deregister", "-id=cliweb1") == \
        "Deregistered service: cliweb1\n"
    assert "cliweb1" not in agent.get("/v1/agent/services").json()
    assert "cliweb" not in catalog_names(addr)


def test_services_register_by_file(agent, addr, tmp_path):
    one = tmp_path / "one.json"
    one.write_text(json.dumps({"service": {"name": "clidb", "port": 5432, "tags": ["pg"]}}))
    many = tmp_path / "many.json"
    many.write_text(json.dumps({"services": [{"Name": "cliapi", "ID": "cliapi1", "Port": 1},
                                             {"name": "clicache", "port": 6379}]}))
    out = run_ok(addr, "services", "register", str(one), str(many))
    assert out.splitlines() == ["Registered service: clidb", "Registered service: cliapi",
                                "Registered service: clicache"]
    names = catalog_names(addr)
    for n in ("clidb", "cliapi", "clicache"):
        assert n in names
    assert agent.get("/v1/agent/services").json()["clidb"]["Port"] == 5432

    out = run_ok(addr, "services", "deregister", str(one), str(many))
    assert out.splitlines() == ["Deregistered service: clidb", "Deregistered service: cliapi1",
                                "Deregistered service: clicache"]
    names = catalog_names(addr)
    for n in ("clidb", "cliapi", "clicache"):
        assert n not in names


def test_services_register_errors(agent, addr, tmp_path):
    p = cli("services", "register", addr=addr)
    assert p.returncode == 1 and "requires at least one argument" in p.stderr
    bad = tmp_path / "noname.json"
    bad.write_text(json.dumps({"service": {"port": 1}}))
    # The agent refuses a nameless service: Consul's "Unexpected response code".
    p = cli("services", "register", str(bad), addr=addr)
    assert p.returncode == 1
    assert "Unexpected response code: 400" in p.stderr
    empty = tmp_path / "empty.json"
    empty.write_text("{}")
    p = cli("services", "register", str(empty), addr=addr)
    assert p.returncode == 1
    p = cli("services", "register", str(tmp_path / "missing.json"), addr=addr)
    assert p.returncode == 1


def test_catalog_nodes(agent, addr):
    lines = run_ok(addr, "catalog", "nodes").splitlines()
    assert lines[0].split() == ["Node", "ID", "Address", "DC"]
    row = [l.split() for l in lines[1:] if l.split()[0] == agent.name][0]
    assert row[2] == "127.0.0.1"
    assert row[3] == "dc1"
    detailed = run_ok(addr, "catalog", "nodes", "-detailed").splitlines()
    assert detailed[0].split() == ["Node", "ID", "Address", "DC", "TaggedAddresses", "Meta"]


def test_members(agent, addr):
    lines = run_ok(addr, "members").splitlines()
    assert lines[0].split() == ["Node", "Address", "Status", "Type", "Build", "Protocol", "DC",
                                "Partition", "Segment"]
    rows = [l.split() for l in lines[1:]]
    me = [r for r in rows if r[0] == agent.name]
    assert me, lines
    assert me[0][2] == "alive"
    assert me[0][3] == "server"
    assert me[0][6] == "dc1"
    # No member matches: Consul exits 2 with no output.
    p = cli("members", "-status=^left$", addr=addr)
    assert p.returncode == 2 and p.stdout == ""
    det = run_ok(addr, "members", "-detailed").splitlines()
    assert det[0].split() == ["Node", "Address", "Status", "Tags"]


def test_info(agent, addr):
    out = run_ok(addr, "info")
    stats = agent.get("/v1/agent/self").json()["Stats"]
    # Consul's layout: "section:" then "\tkey = value", both sorted.
    expect = []
    for sec in sorted(stats):
        expect.append(sec + ":")
        for k in sorted(stats[sec]):
            v = stats[sec][k]
            expect.append("\t%s = %s" % (k, v if isinstance(v, str) else json.dumps(v)))
    assert out.splitlines() == expect
    assert expect, "agent/self has no Stats sections"
