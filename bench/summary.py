#!/usr/bin/python3
"""Print bench/run.sh's results file as tables with the headline ratios.

Result lines:
  wrk NAME CONNS RPS P50_US P99_US NON2XX SOCKERR REQUESTS
  mem NAME BYTES
  parked NAME VALUE
  info NAME VALUE
"""

import math
import sys


def num(s):
    try:
        return float(s)
    except ValueError:
        return float("nan")


def fmt(v, unit=""):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if unit == "ms":
        return "%.2f" % v
    if abs(v) >= 100:
        return "%.0f" % v
    return "%.2f" % v


def ratio(a, b):
    if a is None or b is None or not b or math.isnan(a) or math.isnan(b):
        return None
    return a / b


def main(path):
    wrk, mem, parked, info = {}, {}, {}, {}
    with open(path) as f:
        for line in f:
            p = line.split()
            if not p:
                continue
            if p[0] == "wrk" and len(p) >= 9:
                wrk[(p[1], int(p[2]))] = dict(rps=num(p[3]), p50=num(p[4]) / 1000,
                                               p99=num(p[5]) / 1000, non2xx=num(p[6]),
                                               sockerr=num(p[7]), reqs=num(p[8]))
            elif p[0] == "mem" and len(p) >= 3:
                mem[p[1]] = num(p[2])
            elif p[0] == "parked" and len(p) >= 3:
                parked[p[1]] = p[2]
            elif p[0] == "info" and len(p) >= 3:
                info[p[1]] = " ".join(p[2:])

    print()
    print("cairn benchmark  (%s, %s s per wrk run; figures only, no pass/fail)"
          % (info.get("cairn_bin", "?"), info.get("seconds", "?")))
    if wrk:
        print()
        print("%-16s %6s %11s %9s %9s %8s %8s" % ("workload", "conns", "req/s", "p50 ms",
                                                  "p99 ms", "non-2xx", "sockerr"))
        for (name, conns), r in sorted(wrk.items()):
            print("%-16s %6d %11s %9s %9s %8s %8s" % (
                name, conns, fmt(r["rps"]), fmt(r["p50"], "ms"), fmt(r["p99"], "ms"),
                fmt(r["non2xx"]), fmt(r["sockerr"])))

    kv_n = num(info.get("kv_keys", "nan"))
    svc_n = num(info.get("services", "nan"))
    per_kv_cairn = per_kv_etcd = None
    if mem:
        print()
        print("memory (VmRSS)")
        for k in ("cairn_idle", "cairn_kv", "cairn_services", "etcd_idle", "etcd_kv"):
            if k in mem:
                print("  %-16s %8.1f MiB" % (k, mem[k] / 1048576))
        if "cairn_kv" in mem and "cairn_idle" in mem:
            per_kv_cairn = (mem["cairn_kv"] - mem["cairn_idle"]) / kv_n
            print("  cairn bytes per KV entry (32 B key, 256 B value): %.0f" % per_kv_cairn)
        if "cairn_services" in mem and "cairn_kv" in mem:
            print("  cairn bytes per service instance: %.0f"
                  % ((mem["cairn_services"] - mem["cairn_kv"]) / svc_n))
        if "etcd_kv" in mem and "etcd_idle" in mem:
            per_kv_etcd = (mem["etcd_kv"] - mem["etcd_idle"]) / kv_n
            print("  etcd  bytes per KV entry (32 B key, 256 B value): %.0f" % per_kv_etcd)

    if parked:
        print()
        print("parked blocking queries (GET /v1/kv/k?index=N&wait=5m)")
        for k in ("connections", "connect_errors", "bytes_per_parked",
                  "returned_before_any_write", "woken_by_unrelated_1s", "woken_by_key",
                  "wake_all_ms", "wake_p50_ms", "statuses"):
            if k in parked:
                print("  %-28s %s" % (k, parked[k]))

    def rps(name, c):
        r = wrk.get((name, c))
        return r["rps"] if r else None

    top = max((c for _, c in wrk), default=128)
    print()
    print("headline ratios")
    rows = [
        ("cairn/etcd KV put req/s @%d conns" % top,
         ratio(rps("cairn_kv_put", top), rps("etcd_put", top)), "x"),
        ("cairn/etcd KV get req/s @%d conns" % top,
         ratio(rps("cairn_kv_get", top), rps("etcd_range", top)), "x"),
        ("cairn KV get vs nginx @%d conns" % top,
         ratio(rps("cairn_kv_get", top), rps("nginx_get", top)), "%"),
        ("cairn health/service (10 inst) vs nginx @%d" % top,
         ratio(rps("cairn_health", top), rps("nginx_get", top)), "%"),
        ("memory per KV entry cairn/etcd", ratio(per_kv_cairn, per_kv_etcd), "x"),
    ]
    for label, v, kind in rows:
        if v is None:
            s = "n/a"
        elif kind == "%":
            s = "%.0f %%" % (v * 100)
        else:
            s = "%.2f x" % v
        print("  %-46s %s" % (label, s))
    print()


if __name__ == "__main__":
    main(sys.argv[1])
