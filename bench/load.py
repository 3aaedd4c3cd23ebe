#!/usr/bin/python3
"""Bulk loaders for bench/run.sh (stdlib only; run with /usr/bin/python3).

  load.py kv-cairn PORT N        N KV pairs (32-byte keys, 256-byte values)
                                  via PUT /v1/txn batches of 64 sets
  load.py kv-etcd PORT N         the same pairs into etcd via the v3 JSON
                                  gateway (POST /v3/kv/txn, 64 puts each)
  load.py services-cairn PORT N  N service instances via /v1/catalog/register
                                  (100 nodes, 50 service names), 8 connections
  load.py instances-cairn PORT N [START]
                                 instances START..N-1 via the agent (3 tags, 2 meta
                                  pairs, a TTL check each), 8 connections
  load.py catalog-count PORT NODE N
                                 wait until NODE has N instances and N checks in
                                  the catalog
  load.py web PORT N             N instances of service "web" (passing check)
  load.py rss PID                VmRSS of PID in bytes

Every loop is bounded by its count; every request has a timeout. Prints one
line "LOADED <what> <count> <seconds>" for the caller."""

import base64
import http.client
import json
import sys
import threading
import time

BATCH = 64
TIMEOUT = 60


def key32(prefix, i):
    k = "%s/%09d" % (prefix, i)
    return (k + "x" * 32)[:32]


VALUE = b"v" * 256


def b64(b):
    return base64.b64encode(b).decode()


def request(conn, method, path, body, ok=(200,)):
    conn.request(method, path, body=body, headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    if r.status not in ok:
        raise SystemExit("%s %s -> %d %r" % (method, path, r.status, data[:200]))
    return data


def kv_cairn(port, n):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    for start in range(0, n, BATCH):
        ops = [{"KV": {"Verb": "set", "Key": key32("mem", i), "Value": b64(VALUE)}}
               for i in range(start, min(n, start + BATCH))]
        request(conn, "PUT", "/v1/txn", json.dumps(ops))
    conn.close()


def kv_etcd(port, n):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
    vb = b64(VALUE)
    for start in range(0, n, BATCH):
        puts = [{"requestPut": {"key": b64(key32("mem", i).encode()), "value": vb}}
                for i in range(start, min(n, start + BATCH))]
        request(conn, "POST", "/v3/kv/txn", json.dumps({"success": puts}))
    conn.close()


RETRIES = []


def parallel(port, n, nconn, body_fn, path, retry=False):
    """retry: a 500 whose outcome is unknown ("rpc error: conflict", the
    server's hold timeout under load) is sent again, up to 3 times (the
    requests are idempotent upserts); each retry is counted and printed."""
    errors = []

    def worker(w):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
            for i in range(w, n, nconn):
                body = json.dumps(body_fn(i))
                for attempt in range(4):
                    try:
                        request(conn, "PUT", path, body)
                        break
                    except SystemExit as e:
                        if not retry or attempt == 3 or "rpc error: conflict" not in str(e):
                            raise
                        RETRIES.append(i)
            conn.close()
        except BaseException as e:  # reported below
            errors.append(e)
    threads = [threading.Thread(target=worker, args=(w,)) for w in range(nconn)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit("load failed: %r" % errors[0])


def services_cairn(port, n):
    def body(i):
        node = i % 100
        return {"Node": "memnode-%03d" % node, "Address": "10.1.%d.%d" % (node // 250, node % 250),
                "Service": {"ID": "memsvc-%06d" % i, "Service": "memsvc-%02d" % (i % 50),
                            "Tags": ["primary", "v1"], "Port": 1000 + i % 50000,
                            "Meta": {"version": "1.0"}}}
    parallel(port, n, 8, body, "/v1/catalog/register")


def instances_cairn(port, n, start=0):
    """Instances start..n-1 through the agent (the server's own): 3 tags, 2 meta
    pairs and a TTL check each, 100 service names."""
    def body(i):
        return {"ID": "inst-%06d" % i, "Name": "inst-svc-%02d" % (i % 100),
                "Tags": ["primary", "v1", "zone-a"], "Port": 1000 + i % 50000,
                "Address": "10.3.%d.%d" % (i // 250 % 250, i % 250),
                "Meta": {"version": "1.0", "team": "core"},
                "Check": {"CheckID": "inst-%06d-ttl" % i, "Name": "ttl", "TTL": "10m"}}
    parallel(port, n - start, 8, lambda i: body(start + i), "/v1/agent/service/register",
             retry=True)
    if RETRIES:
        print("RETRIED %d registrations (rpc error: conflict)" % len(RETRIES))


def catalog_count(port, node, n):
    """Wait until the catalog holds n services and n checks on node (the
    agent's anti-entropy has synced them); prints the seconds waited."""
    t0 = time.monotonic()
    while True:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT)
        conn.request("GET", "/v1/catalog/node-services/%s" % node)
        svcs = json.loads(conn.getresponse().read()).get("Services") or []
        conn.request("GET", "/v1/health/node/%s" % node)
        checks = json.loads(conn.getresponse().read()) or []
        conn.close()
        ns = sum(1 for v in svcs if v["ID"].startswith("inst-"))
        nc = sum(1 for c in checks if c["CheckID"].startswith("inst-"))
        if ns >= n and nc >= n:
            print("SYNCED %d %.2f" % (n, time.monotonic() - t0))
            return
        if time.monotonic() - t0 > 600:
            raise SystemExit("catalog holds %d services, %d checks of %d" % (ns, nc, n))
        time.sleep(1)


def web(port, n):
    def body(i):
        return {"Node": "webnode-%02d" % i, "Address": "10.2.0.%d" % (i + 1),
                "Service": {"ID": "web-%02d" % i, "Service": "web", "Tags": ["http"],
                            "Port": 8080},
                "Check": {"CheckID": "web-%02d-alive" % i, "Name": "alive",
                          "Status": "passing", "ServiceID": "web-%02d" % i}}
    parallel(port, n, 1, body, "/v1/catalog/register")


def rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise SystemExit("no VmRSS for %d" % pid)


def main():
    what = sys.argv[1]
    if what == "rss":
        print(rss(int(sys.argv[2])))
        return
    if what == "instances-cairn":
        t0 = time.monotonic()
        start = int(sys.argv[4]) if len(sys.argv) > 4 else 0
        instances_cairn(int(sys.argv[2]), int(sys.argv[3]), start)
        print("LOADED %s %d %.2f" % (what, int(sys.argv[3]) - start, time.monotonic() - t0))
        return
    if what == "catalog-count":
        catalog_count(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
        return
    port, n = int(sys.argv[2]), int(sys.argv[3])
    fn = {"kv-cairn": kv_cairn, "kv-etcd": kv_etcd, "services-cairn": services_cairn,
          "web": web}[what]
    t0 = time.monotonic()
    fn(port, n)
    print("LOADED %s %d %.2f" % (what, n, time.monotonic() - t0))


if __name__ == "__main__":
    main()
