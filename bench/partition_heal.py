"""Time from the heal of a network partition to the first successful write
through the server that was cut off (issue "Partitions and leader kills").

Three cairn servers on loopback, in a network namespace of their own; the
third runs as user nobody so that nftables can tell its outbound connections
apart. A cut drops, on input (as loss on a wire: a drop on output would be an
error the sender sees at once), every packet to or from its RPC port and of
the connections it opened to the others' RPC ports; HTTP stays reachable.
Every other cut, it is made the leader first (transfer-leader).
After each cut (writes keep going through the others meanwhile), the cut is
lifted and a PUT through the cut-off server is retried (0.3 s timeout each)
until one is acknowledged.

Run as root, only in a fresh network namespace (it refuses otherwise):
  unshare -n sh -c 'ip link set lo up; /usr/bin/python3 bench/partition_heal.py \
      build/asan/cairn 6 0.2,1,3,5'
Arguments: the cairn binary, the number of cuts, their lengths in seconds
(cycled). Prints one line per cut and a summary.
"""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import requests

if [name for _, name in socket.if_nameindex()] != ["lo"]:
    sys.exit("run me in a fresh network namespace (unshare -n), not on the host")

BIN = os.path.abspath(sys.argv[1])
CYCLES = int(sys.argv[2]) if len(sys.argv) > 2 else 4
CUTS = [float(v) for v in (sys.argv[3] if len(sys.argv) > 3 else "3").split(",")]
SRV = [21000 + 10 * i for i in range(3)]
HTTP = [p + 1 for p in SRV]
VICTIM = 2


def nft(*cmds):
    for c in cmds:
        subprocess.run(["nft", c], check=True)


def leader(i):
    try:
        return requests.get("http://127.0.0.1:%d/v1/status/leader" % HTTP[i], timeout=1).json()
    except (requests.RequestException, ValueError):
        return None


def put(i, key, timeout):
    try:
        r = requests.put("http://127.0.0.1:%d/v1/kv/%s" % (HTTP[i], key), data=b"x",
                         timeout=timeout)
        return r.status_code == 200 and r.text.strip() == "true"
    except requests.RequestException:
        return False


def make_victim_leader():
    want = "127.0.0.1:%d" % SRV[VICTIM]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if all(leader(i) == want for i in range(3)):
            return
        try:
            requests.post("http://127.0.0.1:%d/v1/operator/raft/transfer-leader" % HTTP[VICTIM],
                          params={"id": "n%d" % VICTIM}, timeout=5)
        except requests.RequestException:
            pass
        time.sleep(0.5)


def main():
    work = tempfile.mkdtemp(prefix="partition_heal_")
    os.chmod(work, 0o755)
    procs = []
    try:
        for i in range(3):
            d = os.path.join(work, "n%d" % i)
            os.makedirs(d)
            argv = [BIN, "agent", "-server", "-data-dir=" + d, "-node=n%d" % i,
                    "-datacenter=dc1", "-client=127.0.0.1", "-bind=127.0.0.1",
                    "-http-port=%d" % HTTP[i], "-dns-port=-1", "-serf-lan-port=-1", "-server-port=%d" % SRV[i],
                    "-log-level=info", "-bootstrap-expect=3"]
            argv += ["-retry-join=127.0.0.1:%d" % p for p in SRV if p != SRV[i]]
            if i == VICTIM:
                os.chown(d, 65534, 65534)
                argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] + argv
            procs.append(subprocess.Popen(argv, stdout=open(d + ".log", "w"),
                                          stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 60
        while True:
            views = [leader(i) for i in range(3)]
            if views[0] and len(set(views)) == 1:
                break
            if time.monotonic() > deadline:
                sys.exit("no leader after 60 s; logs in " + work)
            time.sleep(0.2)
        others = ",".join(str(p) for p in SRV if p != SRV[VICTIM])
        res = []
        for c in range(CYCLES):
            if c % 2 == 1:  # every other cut isolates the leader
                make_victim_leader()
            was_leader = leader(0) == "127.0.0.1:%d" % SRV[VICTIM]
            nft("add table inet part",
                "add chain inet part out { type filter hook output priority 0 ; }",
                "add rule inet part out meta skuid 65534 tcp dport { %s } ct mark set 1" % others,
                "add chain inet part in { type filter hook input priority 0 ; }",
                "add rule inet part in ct mark 1 drop",
                "add rule inet part in tcp dport %d drop" % SRV[VICTIM],
                "add rule inet part in tcp sport %d drop" % SRV[VICTIM])
            cut = CUTS[c % len(CUTS)]
            t = time.monotonic()
            n = 0
            while time.monotonic() - t < cut:
                n += 1
                put((VICTIM + 1) % 3, "during/%d/%d" % (c, n), 0.5)
                time.sleep(0.05)
            nft("delete table inet part")
            healed = time.monotonic()
            n = 0
            while not put(VICTIM, "after/%d/%d" % (c, n), 0.3):
                n += 1
                if time.monotonic() - healed > 30:
                    break
                time.sleep(0.01)
            dt = time.monotonic() - healed
            print("heal at %.3f (wall clock)" % (time.time() - dt), flush=True)
            res.append(dt)
            print("cut %d: %.2f s (victim %s the leader): first write through it %.3f s after "
                  "the heal" % (c, cut, "was" if was_leader else "was not", dt), flush=True)
            time.sleep(2)
        res.sort()
        print("heal-to-first-write over %d cuts: median %.3f s, max %.3f s"
              % (len(res), res[len(res) // 2], res[-1]))
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        if os.environ.get("KEEP"):
            print("logs in", work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
