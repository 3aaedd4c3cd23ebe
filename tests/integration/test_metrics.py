"""GET /v1/agent/metrics (docs/metrics.md): the Prometheus form checked by
Debian's promtool and by a strict parser of the text format 0.0.4; counters
that move after a KV put, a check transition, DNS queries and a woken
blocking query; the JSON form's 10 s intervals; Consul's 415 when
prometheus_retention_time is 0; telemetry keys refused or rejected.

The JSON shape against Consul's documented sample is in test_api_shapes.py.
"""
import math
import pathlib
import re
import shutil
import socket
import subprocess
import threading

import dns.message
import dns.query
import pytest

from conftest import Agent, CAIRN_BIN, wait_until

DOCS = pathlib.Path(__file__).resolve().parents[2] / "docs" / "metrics.md"
PROM_CT = "text/plain; version=0.0.4; charset=utf-8"


@pytest.fixture(scope="module")
def magent(tmp_path_factory):
    d = tmp_path_factory.mktemp("metrics")
    cfg = d / "telemetry.hcl"
    cfg.write_text('telemetry {\n  prometheus_retention_time = "60s"\n'
                   '  disable_hostname = true\n}\n')
    a = Agent(d, name="it-metrics", extra_args=["-config-file=" + str(cfg)])
    a.start()
    yield a
    rc = a.stop() if a.running() else a.proc.returncode
    a.close()
    report = a.sanitizer_report()
    assert report is None, "sanitizer report in agent log:\n" + report
    assert rc == 0, "agent exited %s; log:\n%s" % (rc, a.log_tail())


# ---- a strict reader of the text format 0.0.4 --------------------------------
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\\\|\\"|\\n)*"'
SAMPLE = re.compile(r"^(%s)(\{(?:%s)(?:,(?:%s))*\})? (\S+)$" % (NAME, LABEL, LABEL))
VALUE = re.compile(r"^(?:[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)|NaN|[+-]Inf)$")


def parse_prom(text):
    """{(name, frozenset(labels)): value} and {family: type}; fails on
    anything the format does not allow (and on families out of order,
    repeated, or samples before their TYPE)."""
    assert text.endswith("\n")
    samples, types, helps = {}, {}, set()
    current = None
    for line in text[:-1].split("\n"):
        if line.startswith("# HELP "):
            name = line.split(" ", 3)[2]
            assert re.fullmatch(NAME, name), line
            assert name not in helps, "HELP twice: " + line
            helps.add(name)
            continue
        if line.startswith("# TYPE "):
            _, _, name, typ = line.split(" ")
            assert typ in ("counter", "gauge", "summary", "histogram", "untyped"), line
            assert name not in types, "family twice: " + line
            types[name] = typ
            current = name
            continue
        assert not line.startswith("#"), line
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        name, labels, value = m.group(1), m.group(2), m.group(3)
        assert VALUE.match(value), line
        fam = current
        assert fam is not None, "sample before any TYPE: " + line
        typ = types[fam]
        if typ == "summary":
            assert name in (fam, fam + "_sum", fam + "_count"), line
        else:
            assert name == fam, line
        lab = frozenset(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', labels or ""))
        key = (name, lab)
        assert key not in samples, "sample twice: " + line
        samples[key] = float(value)
    fams = list(types)
    assert fams == sorted(fams), "families not sorted"
    return samples, types


def prom(agent):
    r = agent.get("/v1/agent/metrics", params={"format": "prometheus"})
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == PROM_CT
    return r.text


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def scrape(agent):
    return parse_prom(prom(agent))[0]


# ---- the format --------------------------------------------------------------

def test_prometheus_parses_strictly(magent):
    magent.kv_put("m/parse", "v")
    samples, types = parse_prom(prom(magent))
    assert types["consul_raft_apply"] == "counter"
    assert types["consul_api_http"] == "summary"
    assert types["consul_raft_applied_index"] == "gauge"  # no hostname: disable_hostname
    for q in ("0.5", "0.9", "0.99"):
        assert (("consul_api_http", frozenset({("method", "PUT"), ("path", "v1_kv_"),
                                               ("quantile", q)}))) in samples
    assert value(samples, "cairn_runtime_rss_bytes") > 1e6
    assert value(samples, "cairn_runtime_open_fds") > 3


# promtool lints names against Prometheus' conventions; Consul's own names
# (camelCase, counters without _total) are kept so dashboards keep working.
CONSUL_NAMING = re.compile(r"^\S+ (counter metrics should have \"_total\" suffix|"
                           r"metric names should be written in 'snake_case' not 'camelCase')$")


def test_promtool_check_metrics(magent):
    promtool = shutil.which("promtool")
    if not promtool:
        pytest.fail("promtool not installed (Debian package prometheus; scripts/install-deps.sh)")
    magent.kv_put("m/promtool", "v")
    p = subprocess.run([promtool, "check", "metrics"], input=prom(magent), text=True,
                       capture_output=True, timeout=60)
    out = (p.stdout + p.stderr).strip()
    # 0: clean; 3: lint problems only (1 would be a parse error)
    assert p.returncode in (0, 3), out
    for line in out.splitlines():
        assert CONSUL_NAMING.match(line), "promtool: " + line


def test_accept_header_selects_prometheus(magent):
    r = magent.get("/v1/agent/metrics", headers={"Accept": "application/openmetrics-text"})
    assert r.headers["Content-Type"] == PROM_CT
    r = magent.get("/v1/agent/metrics", headers={"Accept": "text/plain;version=0.4.0"})
    assert r.headers["Content-Type"] == PROM_CT
    r = magent.get("/v1/agent/metrics", headers={"Accept": "text/plain"})
    assert r.headers["Content-Type"] == "application/json"


def test_prometheus_off_without_retention(agent):
    # agent_endpoint.go: 415 when prometheus_retention_time is not positive
    r = agent.get("/v1/agent/metrics", params={"format": "prometheus"})
    assert r.status_code == 415
    assert r.text == "Prometheus is not enabled since its retention time is not positive"
    assert agent.get("/v1/agent/metrics").status_code == 200


def test_every_metric_is_documented(magent):
    doc = DOCS.read_text()
    names = set(re.findall(r"^\| `([a-z]+\.[A-Za-z0-9_.]+)` \|", doc, re.M))
    assert names, "no metric table in docs/metrics.md"
    documented = {n.replace(".", "_") for n in names}
    _, types = parse_prom(prom(magent))
    missing = sorted(set(types) - documented)
    assert not missing, "metrics missing from docs/metrics.md: %s" % missing


# ---- counters move -----------------------------------------------------------

def test_kv_put_moves_counters(magent):
    before = scrape(magent)
    magent.kv_put("m/counted", "1")
    after = scrape(magent)
    assert value(after, "consul_kvs_apply_count") == value(before, "consul_kvs_apply_count") + 1
    assert value(after, "consul_raft_apply") >= value(before, "consul_raft_apply") + 1
    k = dict(method="PUT", path="v1_kv_")
    assert (value(after, "consul_api_http_count", **k) ==
            value(before, "consul_api_http_count", **k) + 1)
    assert value(after, "consul_raft_boltdb_logsPerBatch_count") > 0
    assert value(after, "cairn_raft_fsync_count") > 0
    assert value(after, "consul_raft_commitTime_count") > 0
    assert value(after, "consul_raft_state_leader") == 1
    assert value(after, "consul_raft_applied_index") >= 1


def test_check_transition_moves_counters(magent):
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    port = srv.getsockname()[1]
    body = {"Name": "mx", "ID": "mx1", "Port": port,
            "Checks": [{"TCP": "127.0.0.1:%d" % port, "Interval": "200ms", "Timeout": "1s"}]}
    before = scrape(magent)
    tr = ("cairn_checks_transitions", dict(type="tcp", status="critical"))
    try:
        r = magent.put_json("/v1/agent/service/register", body)
        assert r.status_code == 200, r.text
        wait_until(lambda: value(scrape(magent), "cairn_checks_transitions", type="tcp",
                                 status="passing") >= 1, what="a transition to passing counted")
        srv.close()
        srv = None
        wait_until(lambda: value(scrape(magent), tr[0], **tr[1]) > value(before, tr[0], **tr[1]),
                   what="a transition to critical counted")
        after = scrape(magent)
        assert value(after, "cairn_checks_runs", type="tcp") >= 2
    finally:
        if srv:
            srv.close()
        magent.put("/v1/agent/service/deregister/mx1")


def test_ttl_transition_counted(magent):
    body = {"Name": "mxttl", "ID": "mxttl1", "Check": {"CheckID": "mxttl", "TTL": "30s"}}
    assert magent.put_json("/v1/agent/service/register", body).status_code == 200
    try:
        before = value(scrape(magent), "cairn_checks_transitions", type="ttl", status="passing")
        assert magent.put("/v1/agent/check/pass/mxttl").status_code == 200
        assert magent.put("/v1/agent/check/pass/mxttl").status_code == 200  # no change
        after = value(scrape(magent), "cairn_checks_transitions", type="ttl", status="passing")
        assert after == before + 1
    finally:
        magent.put("/v1/agent/service/deregister/mxttl1")


def test_dns_queries_move_counters(magent):
    before = scrape(magent)
    q = dns.message.make_query("consul.service.consul", "A")
    dns.query.udp(q, "127.0.0.1", port=magent.dns_port, timeout=5)
    q = dns.message.make_query("1.0.0.127.in-addr.arpa", "PTR")
    dns.query.udp(q, "127.0.0.1", port=magent.dns_port, timeout=5)
    after = scrape(magent)
    node = dict(node=magent.name)
    assert (value(after, "consul_dns_domain_query_count", **node) ==
            value(before, "consul_dns_domain_query_count", **node) + 1)
    assert (value(after, "consul_dns_ptr_query_count", **node) ==
            value(before, "consul_dns_ptr_query_count", **node) + 1)
    assert value(after, "consul_dns_stale_queries") == 0  # the leader itself answers


def test_blocking_query_gauge_and_woken(magent):
    magent.kv_put("m/block", "1")
    idx = int(magent.get("/v1/kv/m/block").headers["X-Consul-Index"])
    before = scrape(magent)
    res = {}
    t = threading.Thread(target=lambda: res.setdefault(
        "r", magent.get("/v1/kv/m/block", params={"index": idx, "wait": "30s"})))
    t.start()
    try:
        magent.wait_parked(1)
        assert value(scrape(magent), "consul_rpc_queries_blocking") >= 1
        magent.kv_put("m/block", "2")
    finally:
        t.join(35)
    assert res["r"].status_code == 200
    after = scrape(magent)
    assert (value(after, "cairn_api_blocking_woken") >=
            value(before, "cairn_api_blocking_woken") + 1)


# ---- the JSON form's intervals ------------------------------------------------

def test_json_shows_the_last_finished_interval(magent):
    """A write shows up once its 10 s interval is over (go-metrics' InmemSink
    shows the most recent finished interval), with Rate = Sum / 10."""
    magent.kv_put("m/interval", "1")

    def kvs():
        j = magent.get("/v1/agent/metrics").json()
        for s in j["Samples"]:
            if s["Name"] == "consul.kvs.apply":
                return s
        return None

    wait_until(lambda: kvs() is not None, timeout=25, what="kvs.apply in a finished interval")
    s = kvs()
    assert s["Count"] >= 1
    assert math.isclose(s["Rate"], s["Sum"] / 10, rel_tol=1e-6)
    assert s["Min"] <= s["Mean"] <= s["Max"]


# ---- configuration -----------------------------------------------------------

def test_sinks_refused_and_bad_rule_rejected(tmp_path):
    cfg = tmp_path / "statsd.hcl"
    cfg.write_text('telemetry { statsd_address = "127.0.0.1:8125" }\n')
    p = subprocess.run([CAIRN_BIN, "validate", str(cfg)], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode != 0
    assert "telemetry.statsd_address" in p.stdout + p.stderr
    assert "not supported" in p.stdout + p.stderr
    cfg = tmp_path / "rule.hcl"
    cfg.write_text('telemetry { prefix_filter = ["consul.raft"] }\n')
    p = subprocess.run([CAIRN_BIN, "validate", str(cfg)], capture_output=True, text=True,
                       timeout=30)
    assert p.returncode != 0
    assert "telemetry.prefix_filter" in p.stdout + p.stderr
    assert "must start with + (allow) or - (block)" in p.stdout + p.stderr


def test_prefix_filter_keeps_only_allowed(tmp_path):
    cfg = tmp_path / "filter.hcl"
    cfg.write_text('telemetry {\n  prometheus_retention_time = "10s"\n'
                   '  disable_hostname = true\n  filter_default = false\n  prefix_filter = ["+consul.kvs", "+cairn.runtime"]\n}\n')
    a = Agent(tmp_path, name="filtered", extra_args=["-config-file=" + str(cfg)])
    try:
        a.start()
        a.kv_put("f/x", "1")
        samples, types = parse_prom(prom(a))
        assert set(types) == {"consul_kvs_apply", "cairn_runtime_rss_bytes",
                              "cairn_runtime_open_fds", "cairn_runtime_uptime_seconds",
                              "cairn_runtime_loop_lag"}
        assert value(samples, "consul_kvs_apply_count") == 1
        assert a.stop() == 0
    finally:
        a.close()
