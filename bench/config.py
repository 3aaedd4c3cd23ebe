#!/usr/bin/python3
"""bench/config.py: the cost of configuration files (issue 9).

The same configuration, N service definitions with one TTL check each, is
written once as HCL and once as JSON. Measured, as a user would see it:

  * `cairn validate FILE` CPU time for each syntax (best of R runs, minus an
    empty file's: process start), and its throughput in MB/s; the HCL/JSON ratio compares cairn's HCL path with its
    own strict JSON path (the same parser core; no Consul binary here to
    compare with).
  * an agent started with -config-dir holding the HCL file: the time from
    spawn until /v1/agent/services lists all N (start + registration of
    every file-defined service through the log);
  * a reload after one service's port changed: the PUT /v1/agent/reload
    round trip (load + validate + diff + re-register N), and until the change
    is visible.

Numbers only, never pass/fail (docs/benchmarks.md).

  CAIRN_BIN=build/release/cairn /usr/bin/python3 bench/config.py

Knobs (environment): BENCH_SERVICES (2000), BENCH_RUNS (5).
"""

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

from benchlib import free_port

BIN = os.environ.get("CAIRN_BIN", "build/release/cairn")
N = int(os.environ.get("BENCH_SERVICES", "2000"))
RUNS = int(os.environ.get("BENCH_RUNS", "5"))


def hcl_text(n, port0=10000):
    out = ['datacenter = "dc1"\nnode_name = "bench"\n']
    for i in range(n):
        out.append('service {\n  name = "svc-%d"\n  port = %d\n  tags = ["a", "b"]\n'
                   '  meta { owner = "team-%d" }\n  check {\n    id  = "ttl-%d"\n'
                   '    ttl = "30s"\n  }\n}\n' % (i, port0 + i, i % 7, i))
    return "".join(out)


def json_text(n, port0=10000):
    return json.dumps({"datacenter": "dc1", "node_name": "bench", "services": [
        {"name": "svc-%d" % i, "port": port0 + i, "tags": ["a", "b"],
         "meta": {"owner": "team-%d" % (i % 7)}, "check": {"id": "ttl-%d" % i, "ttl": "30s"}}
        for i in range(n)]}, indent=2)


def best_validate(path):
    """Best CPU time (user+sys of the child) of RUNS runs: on a shared
    machine the wall time mostly measures the neighbours."""
    best = None
    for _ in range(RUNS):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        p = subprocess.run([BIN, "validate", "-quiet", path], capture_output=True)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        dt = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        if p.returncode != 0:
            sys.exit("validate failed: %s" % p.stderr.decode()[:500])
        best = dt if best is None else min(best, dt)
    return best


def get(port, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=60) as r:
        return json.loads(r.read() or b"null")


def main():
    tmp = tempfile.mkdtemp(prefix="cairn-bench-config-")
    try:
        hcl = os.path.join(tmp, "services.hcl")
        js = os.path.join(tmp, "services.json")
        with open(hcl, "w") as f:
            f.write(hcl_text(N))
        with open(js, "w") as f:
            f.write(json_text(N))
        empty = os.path.join(tmp, "empty.hcl")
        with open(empty, "w") as f:
            f.write(hcl_text(0))
        t0 = best_validate(empty)
        th, tj = best_validate(hcl) - t0, best_validate(js) - t0
        sh, sj = os.path.getsize(hcl) / 1e6, os.path.getsize(js) / 1e6
        print("services: %d (one TTL check each); CPU time, best of %d runs, minus an empty "
              "config's %.1f ms (process start)" % (N, RUNS, t0 * 1e3))
        print("validate HCL : %7.1f ms CPU  %5.2f MB  %6.1f MB/s  %5.1f us/service"
              % (th * 1e3, sh, sh / th, th * 1e6 / N))
        print("validate JSON: %7.1f ms CPU  %5.2f MB  %6.1f MB/s  %5.1f us/service"
              % (tj * 1e3, sj, sj / tj, tj * 1e6 / N))
        print("HCL/JSON CPU ratio: %.2f" % (th / tj))

        d = os.path.join(tmp, "consul.d")
        os.makedirs(d)
        shutil.copy(hcl, d)
        port = free_port()
        log = open(os.path.join(tmp, "agent.log"), "w")
        t0 = time.perf_counter()
        proc = subprocess.Popen([BIN, "agent", "-server", "-bootstrap",
                                 "-data-dir=" + os.path.join(tmp, "data"),
                                 "-http-port=%d" % port, "-server-port=%d" % free_port(),
                                 "-dns-port=-1", "-serf-lan-port=-1", "-config-dir=" + d],
                                stdout=log, stderr=log)
        try:
            deadline = time.monotonic() + 300
            while True:
                try:
                    if len(get(port, "/v1/agent/services")) == N:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    sys.exit("agent did not register %d services" % N)
                time.sleep(0.02)
            print("agent start to %d services registered: %.0f ms"
                  % (N, (time.perf_counter() - t0) * 1e3))
            with open(os.path.join(d, "services.hcl"), "w") as f:
                f.write(hcl_text(N).replace("port = 10000\n", "port = 9999\n", 1))
            t = time.perf_counter()
            req = urllib.request.Request("http://127.0.0.1:%d/v1/agent/reload" % port,
                                         method="PUT")
            urllib.request.urlopen(req, timeout=120).read()
            t_put = time.perf_counter() - t
            while get(port, "/v1/agent/service/svc-0")["Port"] != 9999:
                time.sleep(0.005)
            t_vis = time.perf_counter() - t
            print("reload PUT round trip: %.0f ms; change visible after %.0f ms"
                  % (t_put * 1e3, t_vis * 1e3))
        finally:
            proc.terminate()
            proc.wait(timeout=60)
            log.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
