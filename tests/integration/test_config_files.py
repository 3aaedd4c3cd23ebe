"""Configuration files as Consul's (issue 9): HCL and JSON, -config-dir,
service and check definitions, reload, validate, and config-file watches.

Consul's documentation is the spec:
- https://developer.hashicorp.com/consul/docs/agent/config (files, dirs, formats,
  merge: later files override earlier ones, flags override files)
- https://developer.hashicorp.com/consul/docs/services/usage/define-services
- https://developer.hashicorp.com/consul/commands/reload, /commands/validate,
  /api-docs/agent#reload-agent
- https://developer.hashicorp.com/consul/docs/dynamic-app-config/watches
"""
import json
import os
import re
import signal
import subprocess

import pytest
import requests

from conftest import CAIRN_BIN, START_TIMEOUT, Agent, assert_no_sanitizer_reports, wait_until

CONSUL_HCL = 'datacenter = "dc1"\nnode_name = "consul"\n'

WEB_HCL = '''# the web service, as in Consul's "Define services" page
service {
  name = "web"
  id   = "web-1"
  port = 8080
  tags = ["v1", "primary"]
  meta {
    version = "1.2"
  }
  check {
    id       = "web-ttl"
    name     = "web alive"
    ttl      = "30s"
  }
}
'''

WEB_JSON = {
    "service": {
        "name": "web", "id": "web-1", "port": 8080, "tags": ["v1", "primary"],
        "meta": {"version": "1.2"},
        "check": {"id": "web-ttl", "name": "web alive", "ttl": "30s"},
    }
}


class FileAgent(Agent):
    """An agent whose node name and datacenter come from its config files:
    no -node / -datacenter flags."""

    count = 0

    def __init__(self, workdir, name, config_args, extra_args=()):
        FileAgent.count += 1
        super().__init__(workdir, name=name, extra_args=extra_args,
                         data_dir=os.path.join(str(workdir), "data-%d" % FileAgent.count))
        self.log_path = os.path.join(str(workdir), "agent-%d.stderr.log" % FileAgent.count)
        self.config_args = list(config_args)

    def argv(self):
        return [
            CAIRN_BIN, "agent", "-server", "-bootstrap",
            "-data-dir=" + self.data_dir,
            "-client=127.0.0.1",
            "-http-port=%d" % self.http_port,
            "-server-port=%d" % self.server_port,
            "-dns-port=-1",
            "-serf-lan-port=%d" % self.serf_port,
            "-serf-wan-port=-1",
        ] + self.config_args + self.extra_args


@pytest.fixture
def file_agents(tmp_path):
    made = []

    def make(name, config_args, extra_args=(), start=True):
        a = FileAgent(tmp_path, name, config_args, extra_args)
        made.append(a)
        if start:
            a.start()
        return a

    yield make
    for a in made:
        a.close()
    assert_no_sanitizer_reports(made)


def write(path, text):
    with open(str(path), "w") as f:
        f.write(text)
    return str(path)


def run_cli(*args, timeout=60):
    return subprocess.run([CAIRN_BIN] + list(args), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def start_fails(tmp_path, *config_args):
    """Run an agent that must refuse to start; returns its stderr."""
    p = subprocess.run([CAIRN_BIN, "agent", "-server", "-bootstrap",
                        "-data-dir=" + str(tmp_path / "data-bad"), "-http-port=0",
                        "-dns-port=-1", "-serf-lan-port=-1"] + list(config_args),
                       capture_output=True, text=True, timeout=START_TIMEOUT,
                       stdin=subprocess.DEVNULL)
    assert p.returncode == 1, p.stderr
    return p.stderr


def services(a):
    return a.get("/v1/agent/services").json()


def test_config_dir_node_datacenter_service_and_check(file_agents, tmp_path):
    d = tmp_path / "consul.d"
    d.mkdir()
    write(d / "consul.hcl", CONSUL_HCL)
    write(d / "web.hcl", WEB_HCL)
    write(d / "README.md", "not a config file: ignored")
    a = file_agents("consul", ["-config-dir=%s" % d])
    cfg = a.get("/v1/agent/self").json()["Config"]
    assert cfg["NodeName"] == "consul"
    assert cfg["Datacenter"] == "dc1"
    svc = wait_until(lambda: services(a).get("web-1"), what="web-1 registered")
    assert svc["Service"] == "web"
    assert svc["Port"] == 8080
    assert svc["Tags"] == ["v1", "primary"]
    assert svc["Meta"] == {"version": "1.2"}
    chk = a.get("/v1/agent/checks").json()["web-ttl"]
    assert chk["ServiceID"] == "web-1"
    assert chk["Name"] == "web alive"
    assert chk["Status"] == "critical"
    # and in the catalog, as /v1/agent/service/register would put it
    health = a.get("/v1/health/service/web").json()
    assert [c["CheckID"] for c in health[0]["Checks"] if c["CheckID"] != "serfHealth"] == \
        ["web-ttl"]


def _self_view(a):
    s = a.get("/v1/agent/self").json()
    dbg = dict(s["DebugConfig"])
    # what differs by construction between two agents on one machine
    for k in ("DataDir", "HTTPPort", "HTTPAddrs", "ServerPort", "NodeID", "SerfPortLAN"):
        dbg.pop(k, None)
    return s["Config"]["NodeName"], s["Config"]["Datacenter"], dbg


def test_json_and_hcl_give_the_same_agent(file_agents, tmp_path):
    hd = tmp_path / "hcl"
    jd = tmp_path / "json"
    hd.mkdir()
    jd.mkdir()
    extra = ('log_level = "debug"\nretry_join = ["127.0.0.1:9"]\n'
             'limits {\n  kv_max_value_size = 1024\n}\n'
             'raft_snapshot_interval = "45s"\n')
    write(hd / "consul.hcl", CONSUL_HCL + extra)
    write(hd / "web.hcl", WEB_HCL)
    write(jd / "consul.json", json.dumps({
        "datacenter": "dc1", "node_name": "consul", "log_level": "debug",
        "retry_join": ["127.0.0.1:9"], "limits": {"kv_max_value_size": 1024},
        "raft_snapshot_interval": "45s"}))
    write(jd / "web.json", json.dumps(WEB_JSON))
    ah = file_agents("consul", ["-config-dir=%s" % hd])
    aj = file_agents("consul", ["-config-dir=%s" % jd])
    assert _self_view(ah) == _self_view(aj)
    assert _self_view(ah)[2]["KVMaxValueSize"] == 1024
    sh = wait_until(lambda: services(ah).get("web-1"), what="hcl service")
    sj = wait_until(lambda: services(aj).get("web-1"), what="json service")
    assert "CreateIndex" not in sh  # agent services carry no Raft indexes, as Consul's
    assert sh == sj


def test_flags_override_files_and_later_files_override_earlier(file_agents, tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    write(d / "a.hcl", 'node_name = "from-a"\ndatacenter = "dc-a"\nretry_join = ["127.0.0.1:9"]\n')
    write(d / "b.json", json.dumps({"datacenter": "dc-b", "retry_join": ["127.0.0.1:7"]}))
    f = write(tmp_path / "c.hcl", 'log_level = "warn"\n')
    a = file_agents("from-flag", ["-config-dir=%s" % d, "-config-file=%s" % f,
                                  "-node=from-flag"])
    s = a.get("/v1/agent/self").json()
    assert s["Config"]["NodeName"] == "from-flag"      # flag over file
    assert s["Config"]["Datacenter"] == "dc-b"         # b.json after a.hcl
    assert s["DebugConfig"]["RetryJoinLAN"] == ["127.0.0.1:9", "127.0.0.1:7"]  # appended
    assert s["DebugConfig"]["LogLevel"] == "warn"


BAD_FILES = [
    # (name, content, line, column, text in the message)
    ("syntax.hcl", 'datacenter = "dc1"\nports {\n  http = 8500\n', 4, 1, "expected"),
    ("unknown.hcl", 'datacenter = "dc1"\nbogus_key = 1\n', 2, 13, "bogus_key"),
    ("type.hcl", 'ports {\n  http = "8500"\n}\n', 2, 10, "expected an integer"),
    ("duration.json", '{\n  "raft_snapshot_interval": "soon"\n}\n', 2, 29, "invalid duration"),
    ("service.hcl", 'service {\n  port = 80\n}\n', 1, 9, "Missing service name"),
    ("svckey.hcl", 'service {\n  name = "w"\n  check {\n    ttl = "1s"\n    intervall = "1s"\n  }\n}\n',
     5, 17, 'service "w": invalid config key "intervall"'),
    # Consul: a script check in a file needs enable_local_script_checks
    ("script.hcl", 'check {\n  name = "s"\n  args = ["/bin/true"]\n  interval = "10s"\n}\n', 1, 7,
     'check "s": Scripts are disabled on this agent'),
    ("unsupported.hcl", 'ports {\n  grpc_tls = 8503\n}\n', 2, 14, "not supported by cairn"),
]


@pytest.mark.parametrize("name,content,line,col,text", BAD_FILES)
def test_bad_file_stops_start_with_file_line_column(tmp_path, name, content, line, col, text):
    path = write(tmp_path / name, content)
    err = start_fails(tmp_path, "-config-file=" + path)
    assert "%s:%d:%d:" % (path, line, col) in err, err
    assert text in err, err


def test_every_error_is_reported(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    write(d / "a.hcl", 'foo = 1\nbar = 2\n')
    write(d / "b.hcl", 'ports { http = "x" }\n')
    err = start_fails(tmp_path, "-config-dir=%s" % d)
    assert '/a.hcl:1:7: key "foo"' in err
    assert '/a.hcl:2:7: key "bar"' in err
    assert '/b.hcl:1:16: key "ports.http"' in err


def test_sighup_adds_and_removes_file_services(file_agents, tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    write(d / "consul.hcl", CONSUL_HCL)
    a = file_agents("consul", ["-config-dir=%s" % d])
    api_svc = a.put_json("/v1/agent/service/register", {"Name": "by-api", "Port": 1})
    assert api_svc.status_code == 200
    write(d / "web.hcl", WEB_HCL)
    write(d / "db.json", json.dumps({"services": [
        {"name": "db", "port": 5432, "checks": [{"id": "db-ttl", "ttl": "10s"}]}]}))
    a.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: {"web-1", "db", "by-api"} <= set(services(a)), what="services added")
    assert "db-ttl" in a.get("/v1/agent/checks").json()
    os.unlink(str(d / "web.hcl"))
    a.proc.send_signal(signal.SIGHUP)
    wait_until(lambda: "web-1" not in services(a), what="web-1 removed")
    assert set(services(a)) == {"db", "by-api"}   # the API's registration is kept
    assert "web-ttl" not in a.get("/v1/agent/checks").json()
    assert a.running()


def test_reload_with_a_bad_file_keeps_the_running_config(file_agents, tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    write(d / "consul.hcl", CONSUL_HCL + 'log_level = "info"\n')
    write(d / "web.hcl", WEB_HCL)
    a = file_agents("consul", ["-config-dir=%s" % d])
    wait_until(lambda: "web-1" in services(a), what="web-1")
    # a change and an error together: nothing is applied
    write(d / "consul.hcl", CONSUL_HCL + 'log_level = "debug"\n')
    os.unlink(str(d / "web.hcl"))
    bad = write(d / "zz.hcl", 'server = "yes"\n')
    r = a.put("/v1/agent/reload")
    assert r.status_code == 500
    assert "%s:1:10:" % bad in r.text and "expected a boolean" in r.text
    p = run_cli("reload", "-http-addr=127.0.0.1:%d" % a.http_port)
    assert p.returncode == 1 and "Error reloading" in p.stderr
    assert "web-1" in services(a)
    assert a.get("/v1/agent/self").json()["DebugConfig"]["LogLevel"] == "info"
    assert a.kv_put("still/serving", "yes")
    # fixed: the reload applies (through the CLI this time)
    os.unlink(bad)
    p = run_cli("reload", "-http-addr=127.0.0.1:%d" % a.http_port)
    assert p.returncode == 0 and p.stdout == "Configuration reload triggered\n"
    assert a.get("/v1/agent/self").json()["DebugConfig"]["LogLevel"] == "debug"
    wait_until(lambda: "web-1" not in services(a), what="web-1 removed")


def test_reload_reports_and_keeps_what_cannot_change(file_agents, tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    write(d / "consul.hcl", CONSUL_HCL + "raft_snapshot_threshold = 1000\n")
    a = file_agents("consul", ["-config-dir=%s" % d])
    write(d / "consul.hcl", CONSUL_HCL + "raft_snapshot_threshold = 2000\n")
    assert a.put("/v1/agent/reload")
    assert a.get("/v1/agent/self").json()["DebugConfig"]["RaftSnapshotThreshold"] == 1000
    wait_until(lambda: re.search(r"cannot change while running.*raft_snapshot_threshold "
                                 r"\(1000 -> 2000\)", a.log_text()), what="the warning")


def test_validate(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    write(d / "consul.hcl", CONSUL_HCL)
    write(d / "web.hcl", WEB_HCL)
    p = run_cli("validate", str(d))
    assert p.returncode == 0, p.stderr
    assert p.stdout == "Configuration is valid!\n"
    p = run_cli("validate", "-quiet", str(d / "consul.hcl"))
    assert p.returncode == 0 and p.stdout == ""
    bad1 = write(tmp_path / "bad1.hcl", 'node_name = 12\n')
    bad2 = write(tmp_path / "bad2.json", '{"service": {"name": "x", "check": {"ttl": "-1s"}}}')
    p = run_cli("validate", str(d), bad1, bad2)
    assert p.returncode == 1
    assert p.stderr.startswith("Config validation failed: ")
    assert "%s:1:13: key \"node_name\": expected a string" % bad1 in p.stderr
    assert "%s:1:13: service \"x\": Invalid check: TTL must be > 0" % bad2 in p.stderr
    # -config-format forces a format whatever the extension
    odd = write(tmp_path / "consul.conf", CONSUL_HCL)
    assert run_cli("validate", odd).returncode == 1
    assert run_cli("validate", "-config-format=hcl", odd).returncode == 0


def test_services_register_and_deregister_hcl_files(agent, tmp_path):
    f = write(tmp_path / "api.hcl", '''service {
  name = "api"
  port = 9000
  checks = [{ id = "api-ttl", ttl = "20s" }]
}
service {
  name = "api2"
  port = 9001
}
''')
    addr = "-http-addr=127.0.0.1:%d" % agent.http_port
    p = run_cli("services", "register", addr, f)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "Registered service: api\nRegistered service: api2\n"
    svcs = services(agent)
    assert svcs["api"]["Port"] == 9000 and "api2" in svcs
    assert "api-ttl" in agent.get("/v1/agent/checks").json()
    p = run_cli("services", "deregister", addr, f)
    assert p.returncode == 0, p.stderr
    assert "api" not in services(agent) and "api2" not in services(agent)
    bad = write(tmp_path / "bad.hcl", 'service {\n  name = "x"\n  port = \n}\n')
    p = run_cli("services", "register", addr, bad)
    assert p.returncode == 1 and "4:1:" in p.stderr


def test_watches_from_config_fire_and_restart_on_reload(file_agents, tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    out1 = tmp_path / "w1.out"
    out2 = tmp_path / "w2.out"
    write(d / "consul.hcl", CONSUL_HCL)
    write(d / "watch.hcl", '''watches = [
  {
    type = "key"
    key  = "cfg/one"
    args = ["/bin/sh", "-c", "cat >> '%s'"]
  }
]
''' % out1)
    a = file_agents("consul", ["-config-dir=%s" % d])
    assert a.kv_put("cfg/one", "first")

    def fired(path, needle):
        return os.path.exists(str(path)) and needle in open(str(path)).read()

    wait_until(lambda: fired(out1, '"Key":"cfg/one"') and fired(out1, "Zmlyc3Q="),
               what="the key watch's handler")
    # reload: the watch now names another key, with a shell handler
    write(d / "watch.hcl", '''watches = [{ type = "keyprefix", prefix = "cfg/two/",
  handler_type = "script", handler = "cat >> '%s'" }]
''' % out2)
    assert a.put("/v1/agent/reload")
    assert a.kv_put("cfg/two/x", "second")
    wait_until(lambda: fired(out2, '"Key":"cfg/two/x"'), what="the new watch's handler")
    # the old watch is gone: a change to its key fires nothing
    before = open(str(out1)).read()
    assert a.kv_put("cfg/two/y", "third")
    wait_until(lambda: fired(out2, '"Key":"cfg/two/y"'), what="the new watch again")
    assert a.kv_put("cfg/one", "changed")
    assert a.kv_put("cfg/two/z", "fourth")
    wait_until(lambda: fired(out2, '"Key":"cfg/two/z"'), what="the new watch a third time")
    assert open(str(out1)).read() == before


def test_bad_watch_is_refused(tmp_path):
    f = write(tmp_path / "w.hcl", 'watches = [{ type = "event", args = ["true"] }]\n')
    err = start_fails(tmp_path, "-config-file=" + f)
    assert "w.hcl:1:12: watch: unsupported watch type \"event\"" in err


def test_http_watch_handler_posts_each_change(file_agents, tmp_path):
    """handler_type = "http" with http_handler_config (Consul's watches page):
    the view's JSON is sent with the method and headers given."""
    import http.server
    import threading
    got = []

    class H(http.server.BaseHTTPRequestHandler):
        def do_PUT(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append((self.command, self.path, self.headers.get("X-Token"),
                        self.headers.get("X-Consul-Index"), body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), H)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        d = tmp_path / "d"
        d.mkdir()
        write(d / "consul.hcl", CONSUL_HCL)
        write(d / "watch.json", json.dumps({"watches": [{
            "type": "keyprefix", "prefix": "hooks/", "handler_type": "http",
            "http_handler_config": {
                "path": "http://127.0.0.1:%d/hook" % srv.server_port, "method": "PUT",
                "header": {"X-Token": ["abc"]}, "timeout": "5s"}}]}))
        a = file_agents("consul", ["-config-dir=%s" % d])
        assert a.kv_put("hooks/a", "1")
        wait_until(lambda: any(b"hooks/a" in g[4] for g in got), what="the http handler")
        g = [g for g in got if b"hooks/a" in g[4]][0]
        assert g[:3] == ("PUT", "/hook", "abc")
        assert int(g[3]) >= 1
        assert json.loads(g[4])[0]["Key"] == "hooks/a"
    finally:
        srv.shutdown()
