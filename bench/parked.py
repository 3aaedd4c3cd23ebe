#!/usr/bin/python3
"""Parked blocking queries: what 5,000 long-polls cost cairn, and how fast a
write wakes them.

  parked.py --port P --pid PID [--n 5000] [--key bench/parked] [--client plain|go]

1. PUT the key, read its X-Consul-Index N.
2. Open n connections (raw asyncio sockets, a few hundred connects at a
   time), each sending GET /v1/kv/KEY?index=N&wait=5m (--client go: the
   exact bytes of Consul's Go api client, request_bytes), and give the agent
   a moment to park them. RSS delta / n = bytes per parked query.
3. Write an unrelated key; count responses within 1 s (expect 0).
4. Write KEY; time until every parked query has answered.

Prints "PARKED name value" lines (collected by bench/run.sh) and a short
human summary. Bounded: n connections, every wait has a timeout."""

import argparse
import asyncio
import http.client
import os
import resource
import sys
import time


def rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def cpu_ms(pid):
    """utime + stime of pid in ms (/proc/PID/stat fields 14 and 15)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000.0 / os.sysconf("SC_CLK_TCK")


def put(port, key, value):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("PUT", "/v1/kv/" + key, body=value)
    r = c.getresponse()
    r.read()
    c.close()
    if r.status != 200:
        raise SystemExit("PUT %s -> %d" % (key, r.status))


def index_of(port, key):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", "/v1/kv/" + key)
    r = c.getresponse()
    r.read()
    c.close()
    return int(r.getheader("X-Consul-Index"))


async def read_response(reader):
    """Status code of one HTTP/1.1 response (body consumed)."""
    status = await reader.readline()
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v.strip())
    if length:
        await reader.readexactly(length)
    parts = status.split()
    return int(parts[1]) if len(parts) > 1 else 0


# Consul's Go api client (api.KV().Get with QueryOptions{WaitIndex: N,
# WaitTime: 5 * time.Minute} and a token) over net/http, byte for byte: Host
# and User-Agent first (net/http), then the request's headers (X-Consul-Token,
# api.go), then what the Transport adds (Accept-Encoding: gzip); the query as
# url.Values.Encode writes it (sorted keys; durToMsec's "300000ms").
GO_TOKEN = "0b8ab1bb-8e4d-4b5e-a5a4-1a2b3c4d5e6f"


def request_bytes(client, port, key, idx):
    if client == "go":
        return ("GET /v1/kv/%s?index=%d&wait=300000ms HTTP/1.1\r\n"
                "Host: 127.0.0.1:%d\r\n"
                "User-Agent: Go-http-client/1.1\r\n"
                "X-Consul-Token: %s\r\n"
                "Accept-Encoding: gzip\r\n\r\n" % (key, idx, port, GO_TOKEN)).encode()
    return ("GET /v1/kv/%s?index=%d&wait=5m HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            % (key, idx)).encode()


class Parked:
    def __init__(self):
        self.connected = 0
        self.returned = []   # monotonic times
        self.statuses = {}
        self.errors = 0


async def park_one(st, port, req, connect_sem, stop):
    writer = None
    try:
        async with connect_sem:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port), 30)
            writer.write(req)
            await writer.drain()
            st.connected += 1
        done, pending = await asyncio.wait(
            [asyncio.ensure_future(read_response(reader)), asyncio.ensure_future(stop.wait())],
            timeout=400, return_when=asyncio.FIRST_COMPLETED)
        for p in pending:
            p.cancel()
        for d in done:
            if d.result() is not True:  # a status code, not the stop event
                st.returned.append(time.monotonic())
                st.statuses[d.result()] = st.statuses.get(d.result(), 0) + 1
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError):
        st.errors += 1
    finally:
        if writer is not None:
            writer.close()


async def run(args):
    put(args.port, args.key, b"0")
    idx = index_of(args.port, args.key)
    req = request_bytes(args.client, args.port, args.key, idx)

    # Let the agent settle, then measure.
    await asyncio.sleep(1.0)
    rss0 = rss(args.pid)
    st = Parked()
    stop = asyncio.Event()
    sem = asyncio.Semaphore(200)
    tasks = [asyncio.ensure_future(park_one(st, args.port, req, sem, stop))
             for _ in range(args.n)]
    deadline = time.monotonic() + 120
    while st.connected + st.errors < args.n and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    await asyncio.sleep(2.0)  # time for the agent to read and park every request
    rss1 = rss(args.pid)
    early = len(st.returned)

    # An unrelated write must wake nobody.
    put(args.port, args.key + "-unrelated", b"x")
    await asyncio.sleep(1.0)
    woken_unrelated = len(st.returned) - early

    # The watched key: everyone wakes.
    before = len(st.returned)
    cpu0 = cpu_ms(args.pid)
    t0 = time.monotonic()
    put(args.port, args.key, b"1")
    deadline = time.monotonic() + 60
    while len(st.returned) < st.connected and time.monotonic() < deadline:
        await asyncio.sleep(0.005)
    woken = len(st.returned) - before
    cpu_wake = cpu_ms(args.pid) - cpu0
    t_all = (max(st.returned) - t0) if st.returned and woken else float("nan")
    times = sorted(t - t0 for t in st.returned[before:])
    t_p50 = times[len(times) // 2] if times else float("nan")
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)

    per = (rss1 - rss0) / max(1, st.connected)
    print("PARKED connections %d" % st.connected)
    print("PARKED connect_errors %d" % st.errors)
    print("PARKED rss_before %d" % rss0)
    print("PARKED rss_parked %d" % rss1)
    print("PARKED bytes_per_parked %.0f" % per)
    print("PARKED returned_before_any_write %d" % early)
    print("PARKED woken_by_unrelated_1s %d" % woken_unrelated)
    print("PARKED woken_by_key %d" % woken)
    print("PARKED wake_all_ms %.1f" % (t_all * 1000))
    print("PARKED wake_p50_ms %.1f" % (t_p50 * 1000))
    # The agent's CPU time from the write to the last answer: what waking
    # costs the server, whatever the (single-threaded Python) client adds.
    print("PARKED server_cpu_ms %.0f" % cpu_wake)
    print("PARKED statuses %s" % ",".join("%d:%d" % kv for kv in sorted(st.statuses.items())))
    print("parked %d queries (%d connect errors): %.0f bytes each; unrelated write woke %d; "
          "key write woke %d in %.1f ms (p50 %.1f ms)"
          % (st.connected, st.errors, per, woken_unrelated, woken, t_all * 1000, t_p50 * 1000),
          file=sys.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--key", default="bench/parked")
    ap.add_argument("--client", choices=("plain", "go"), default="plain",
                    help="request bytes: plain (GET, Host) or go (Consul's Go api client)")
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, args.n + 1000) if hard != resource.RLIM_INFINITY else args.n + 1000
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
