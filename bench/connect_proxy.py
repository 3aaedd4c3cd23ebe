"""bench/connect_proxy.py: the driver of bench/connect_proxy.sh. Modes:

  serve PORT          an echo application (a thread per connection)
  measure NAME=PORT.. for each path in turn, in the same run: latency of
                      BENCH_PINGS sequential 64-byte request/echo round trips
                      on one connection (p50/p99, microseconds), and the
                      throughput of BENCH_MB MiB echoed through one connection
                      (sender and reader threads); each path BENCH_ROUNDS
                      times, alternating, the best round kept per path.
Prints numbers; never passes or fails on them."""

import os
import socket
import sys
import threading
import time


def serve(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(128)

    def one(c):
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with c:
            while True:
                d = c.recv(262144)
                if not d:
                    return
                c.sendall(d)

    while True:
        c, _ = s.accept()
        threading.Thread(target=one, args=(c,), daemon=True).start()


def latency(port, n):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    msg = b"x" * 64
    out = []
    for i in range(n + 200):
        t = time.perf_counter_ns()
        s.sendall(msg)
        got = 0
        while got < 64:
            got += len(s.recv(64 - got))
        if i >= 200:  # warm-up
            out.append((time.perf_counter_ns() - t) / 1000.0)
    s.close()
    out.sort()
    return out[len(out) // 2], out[int(len(out) * 0.99)]


def throughput(port, mib):
    s = socket.create_connection(("127.0.0.1", port))
    total = mib << 20
    chunk = b"y" * 65536
    done = {}

    def reader():
        got = 0
        while got < total:
            d = s.recv(262144)
            if not d:
                break
            got += len(d)
        done["got"] = got

    t0 = time.perf_counter()
    th = threading.Thread(target=reader)
    th.start()
    sent = 0
    while sent < total:
        s.sendall(chunk)
        sent += len(chunk)
    th.join()
    dt = time.perf_counter() - t0
    s.close()
    assert done.get("got") == total, done
    return total / dt / (1 << 20)


def measure(paths):
    pings = int(os.environ.get("BENCH_PINGS", "5000"))
    mib = int(os.environ.get("BENCH_MB", "256"))
    rounds = int(os.environ.get("BENCH_ROUNDS", "3"))
    best = {}
    for r in range(rounds):
        order = paths if r % 2 == 0 else list(reversed(paths))
        for name, port in order:
            p50, p99 = latency(port, pings)
            mbs = throughput(port, mib)
            b = best.setdefault(name, [p50, p99, mbs])
            b[0], b[1], b[2] = min(b[0], p50), min(b[1], p99), max(b[2], mbs)
            print("round %d %-8s p50 %7.1f us  p99 %7.1f us  %8.1f MiB/s" % (r, name, p50, p99, mbs),
                  flush=True)
    d = best["direct"]
    print("\nbest of %d rounds (echo of 64 B x %d; %d MiB echoed through one connection):"
          % (rounds, pings, mib))
    for name, _ in paths:
        b = best[name]
        print("%-8s p50 %7.1f us (+%6.1f)  p99 %7.1f us (+%6.1f)  %8.1f MiB/s (%.2f of direct)"
              % (name, b[0], b[0] - d[0], b[1], b[1] - d[1], b[2], b[2] / d[2]))


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(int(sys.argv[2]))
    else:
        measure([(a.split("=")[0], int(a.split("=")[1])) for a in sys.argv[2:]])
