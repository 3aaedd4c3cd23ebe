#!/usr/bin/python3
"""cairn's fault harness: real cairn servers, each in its own network
namespace, under seeded faults (partitions, loss, kill -9, SIGSTOP,
membership changes), with clients recording every operation; afterwards the
KV history is checked for linearizability and the catalog for convergence.

    /usr/bin/python3 tests/fault/harness.py --runs 4 --duration 60
    /usr/bin/python3 tests/fault/harness.py --seed 17 --servers 5 --duration 30
    /usr/bin/python3 tests/fault/harness.py --broken      # must report NOT linearizable

Needs root (ip netns, nftables). The binary is $CAIRN_BIN (default: the
worktree's build/asan/cairn). One line per run; a failed run keeps its
directory (history.jsonl, server logs) and prints the command that reruns it.
docs/testing.md describes the harness.
"""

import argparse
import base64
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import requests

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import linearizability  # noqa: E402
import netns  # noqa: E402

REPO = os.path.dirname(os.path.dirname(HERE))
CAIRN_BIN = os.environ.get("CAIRN_BIN", os.path.join(REPO, "build", "asan", "cairn"))

ALL_NEMESES = ["isolate-leader", "halves", "bridge", "oneway", "loss", "kill", "pause",
               "member", "halves-kill", "pause-isolated"]
QUICK_NEMESES = ["isolate-leader", "halves", "kill"]

OP_TIMEOUT = (1.0, 3.0)        # (connect, read) seconds for workload requests
START_TIMEOUT = float(os.environ.get("CAIRN_START_TIMEOUT", "60"))
PROBE_BOUND = 20.0             # recovery probes give up after this long
CONVERGE_BOUND = 60.0          # convergence checks give up after this long


def now():
    return time.monotonic()


def session():
    s = requests.Session()
    s.trust_env = False  # never an HTTP proxy from the environment
    return s


class Server:
    def __init__(self, run, i):
        self.run = run
        self.i = i
        self.ns = run.net.ns(i)
        self.ip = run.net.ip(i)
        self.base = run.net.http_base(i)
        self.rpc = run.net.rpc_addr(i)
        self.data_dir = os.path.join(run.dir, "data-s%d" % i)
        self.log_path = os.path.join(run.dir, "s%d.log" % i)
        self.proc = None
        self.stopped = False
        self.starts = 0
        self.bootstrap = True     # -bootstrap-expect (not after a wipe: it joins)
        self.killed = False       # down because the harness killed it

    def argv(self, bootstrap):
        net = self.run.net
        a = [CAIRN_BIN, "agent", "-server", "-data-dir=" + self.data_dir,
             "-node=s%d" % self.i, "-datacenter=dc1", "-bind=" + self.ip,
             "-client=" + self.ip, "-server-port=%d" % net.SERVER_PORT,
             "-http-port=%d" % net.HTTP_PORT, "-dns-port=-1", "-log-level=info"]
        if bootstrap:
            a.append("-bootstrap-expect=%d" % self.run.n)
        a += ["-retry-join=" + net.rpc_addr(j) for j in range(self.run.n) if j != self.i]
        return a

    def start(self, bootstrap=None):
        assert not self.running()
        if bootstrap is not None:
            self.bootstrap = bootstrap
        bootstrap = self.bootstrap
        self.killed = False
        os.makedirs(self.data_dir, exist_ok=True)
        self.starts += 1
        argv = ["ip", "netns", "exec", self.ns] + self.argv(bootstrap)
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "abort_on_error=0")
        env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        with open(self.log_path, "ab") as log:
            log.write(("\n===== start #%d: %s\n" % (self.starts, " ".join(argv))).encode())
            log.flush()
            # `ip netns exec` execs the command: the child's pid is cairn's.
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=log, env=env)
        self.stopped = False

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        if self.running():
            self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.stopped = False
        self.killed = True

    def sigstop(self):
        if self.running():
            self.proc.send_signal(signal.SIGSTOP)
            self.stopped = True

    def sigcont(self):
        if self.running():
            self.proc.send_signal(signal.SIGCONT)
        self.stopped = False

    def terminate(self, timeout=30):
        """SIGTERM (after SIGCONT); returns the exit code (None: it was not
        running; "hung": killed after `timeout`)."""
        if not self.running():
            return None
        self.sigcont()
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            return "hung"

    def wipe(self):
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def sanitizer_report(self):
        try:
            with open(self.log_path, errors="replace") as f:
                text = f.read()
        except OSError:
            return ""
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            k = text.find(marker)
            if k >= 0:
                return text[max(0, k - 200):k + 2000]
        return ""


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return None
    k = min(len(xs) - 1, max(0, int(round(p / 100.0 * (len(xs) - 1)))))
    return xs[k]


def fmt_dist(xs, missing=0):
    if not xs:
        return "-" if not missing else "-(%d never)" % missing
    s = "%.2f/%.2f/%.2fs" % (pct(xs, 50), pct(xs, 99), max(xs))
    if missing:
        s += "(+%d never)" % missing
    return s


class Run:
    """One run: namespaces, servers, workload, nemesis, checks."""

    def __init__(self, seed, n=3, duration=20.0, nemeses=None, broken=False, out=None,
                 keep=False, threads=6, keys=3, log=print):
        self.seed = seed
        self.n = n
        self.duration = duration
        self.nemeses = list(nemeses or ALL_NEMESES)
        self.broken = broken
        self.keep = keep
        self.nthreads = threads
        self.keys = ["fault/k%d" % k for k in range(keys)]
        self.log = log
        self.net = netns.Net(n)
        out = out or os.path.join(tempfile.gettempdir(), "cairn-fault")
        os.makedirs(out, exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix="run-s%d-n%d-" % (seed, n), dir=out)
        self.servers = []
        self.history = []
        self.hlock = threading.Lock()
        self.stop_ev = threading.Event()
        self.faults = []
        self.events = []             # (time, text) nemesis log
        self.recovery_read = []
        self.recovery_write = []
        self.recovery_missing = [0, 0]
        self.recovery_by_kind = []   # (fault kind, server, read s, write s)
        self.kill_writes = []        # (seconds, outcome) of the first write after a leader kill
        self.leader_kills = []       # (time of a leader's kill -9, its hold)
        self.regs = {"ok": set(), "info": set(), "dereg_ok": set(), "dereg_info": set(),
                     "fail": 0}
        self.rlock = threading.Lock()
        self.t0 = None
        self.crashes = []
        self.result = {}

    # ---- helpers ---------------------------------------------------------------------

    def note(self, text):
        self.events.append((round(now() - (self.t0 or now()), 3), text))

    def leader_index(self, timeout=1.0):
        """The index of the leader most servers name, else None."""
        votes = {}
        s = session()
        for sv in self.servers:
            if not sv.running() or sv.stopped:
                continue
            try:
                r = s.get(sv.base + "/v1/status/leader", timeout=timeout)
                if r.status_code == 200 and r.json():
                    votes[r.json()] = votes.get(r.json(), 0) + 1
            except (requests.RequestException, ValueError):
                pass
        if not votes:
            return None
        addr = max(votes, key=votes.get)
        for sv in self.servers:
            if sv.rpc == addr:
                return sv.i
        return None

    def wait_formed(self, timeout=START_TIMEOUT):
        """Every running server names the same leader."""
        deadline = now() + timeout
        s = session()
        while now() < deadline:
            views = set()
            for sv in self.servers:
                if not sv.running():
                    raise RuntimeError("server s%d exited during startup (log %s)"
                                       % (sv.i, sv.log_path))
                try:
                    r = s.get(sv.base + "/v1/status/leader", timeout=2)
                    views.add(r.json() if r.status_code == 200 else "")
                except (requests.RequestException, ValueError):
                    views.add("")
            if len(views) == 1 and "" not in views:
                return views.pop()
            time.sleep(0.1)
        raise RuntimeError("no agreed leader after %.0fs" % timeout)

    def record(self, d):
        with self.hlock:
            d["id"] = len(self.history)
            self.history.append(d)

    # ---- KV workload -------------------------------------------------------------------

    def kv_read(self, s, sv, key, mode):
        params = {}
        if mode in ("consistent", "stale"):
            params[mode] = ""
        r = s.get(sv.base + "/v1/kv/" + key, params=params, timeout=OP_TIMEOUT)
        if r.status_code == 404:
            return True, None, 0
        if r.status_code == 200:
            e = r.json()[0]
            v = base64.b64decode(e["Value"]).decode() if e.get("Value") else ""
            return True, v, e["ModifyIndex"]
        return False, None, None

    def worker(self, tid):
        rng = random.Random(self.seed * 1000 + tid)
        s = session()
        n = 0
        while not self.stop_ev.is_set():
            sv = self.servers[rng.randrange(self.n)]
            key = rng.choice(self.keys)
            x = rng.random()
            n += 1
            if x < 0.35:
                self.op_write(s, sv, tid, key, "w%d-%d" % (tid, n))
            elif x < 0.8:
                mode = rng.choice(["default", "consistent", "stale"])
                self.op_read(s, sv, tid, key, mode)
            else:
                ok, v, idx = self.op_read(s, sv, tid, key, "consistent")
                if ok:
                    self.op_cas(s, sv, tid, key, v, idx, "c%d-%d" % (tid, n))
            if not sv.running() or sv.stopped:
                time.sleep(0.02)  # no busy loop against a dead server

    def op_read(self, s, sv, tid, key, mode):
        issued = mode
        if self.broken and mode != "stale":
            issued = "stale"   # deliberately wrong: a stale read recorded as linearizable
        d = {"proc": tid, "key": key, "f": "read", "server": sv.i, "mode": mode,
             "call": now()}
        try:
            ok, v, idx = self.kv_read(s, sv, key, issued)
        except (requests.RequestException, ValueError, KeyError, IndexError):
            ok, v, idx = False, None, None
        d["ret"] = now()
        d["type"] = "ok" if ok else "info"
        d["value"] = v
        if issued != mode:
            d["issued"] = issued
        self.record(d)
        return ok, v, idx

    def classify_write(self, r):
        if r.status_code == 200:
            t = r.text.strip()
            return "ok" if t == "true" else ("fail" if t == "false" else "info")
        if 400 <= r.status_code < 500:
            return "fail"
        return "info"

    def classify_exc(self, e):
        # Not connected at all: the request was never sent.
        if isinstance(e, requests.exceptions.ConnectTimeout):
            return "fail"
        if isinstance(e, requests.exceptions.ConnectionError) and \
                "NewConnectionError" in repr(e):
            return "fail"
        return "info"

    def op_write(self, s, sv, tid, key, value):
        d = {"proc": tid, "key": key, "f": "write", "value": value, "server": sv.i,
             "call": now()}
        try:
            r = s.put(sv.base + "/v1/kv/" + key, data=value.encode(), timeout=OP_TIMEOUT)
            d["type"] = self.classify_write(r)
            d["status"] = r.status_code
        except requests.RequestException as e:
            d["type"] = self.classify_exc(e)
            d["error"] = type(e).__name__
        d["ret"] = now()
        self.record(d)

    def op_cas(self, s, sv, tid, key, expected, index, value):
        d = {"proc": tid, "key": key, "f": "cas", "value": [expected, value],
             "index": index, "server": sv.i, "call": now()}
        try:
            r = s.put(sv.base + "/v1/kv/" + key, params={"cas": str(index)},
                      data=value.encode(), timeout=OP_TIMEOUT)
            d["type"] = self.classify_write(r)
            d["status"] = r.status_code
        except requests.RequestException as e:
            d["type"] = self.classify_exc(e)
            d["error"] = type(e).__name__
        d["ret"] = now()
        self.record(d)

    # ---- catalog workload --------------------------------------------------------------

    def registrar(self):
        rng = random.Random(self.seed * 1000 + 999)
        s = session()
        n = 0
        while not self.stop_ev.is_set():
            sv = self.servers[rng.randrange(self.n)]
            with self.rlock:
                live = sorted(self.regs["ok"] - self.regs["dereg_ok"] - self.regs["dereg_info"])
            if live and rng.random() < 0.3:
                node = rng.choice(live)
                body = {"Node": node}
                path, kind = "/v1/catalog/deregister", "dereg"
            else:
                n += 1
                node = "fn-%d" % n
                body = {"Node": node, "Address": "192.0.2.%d" % (n % 250 + 1),
                        "Service": {"ID": "fsvc-" + node, "Service": "fsvc", "Port": 80}}
                path, kind = "/v1/catalog/register", "reg"
            try:
                r = s.put(sv.base + path, json=body, timeout=OP_TIMEOUT)
                t = self.classify_write(r)
            except requests.RequestException as e:
                t = self.classify_exc(e)
            with self.rlock:
                if kind == "reg":
                    if t == "ok":
                        self.regs["ok"].add(node)
                    elif t == "info":
                        self.regs["info"].add(node)
                    else:
                        self.regs["fail"] += 1
                elif t == "ok":
                    self.regs["dereg_ok"].add(node)
                elif t == "info":
                    self.regs["dereg_info"].add(node)
            if not sv.running() or sv.stopped:
                time.sleep(0.02)
            time.sleep(0.01)

    # ---- nemesis -----------------------------------------------------------------------

    def others(self, i):
        return [j for j in range(self.n) if j != i]

    def probe(self, sv, t_heal):
        """Time from the heal to the first successful default-mode read and
        the first successful write through sv (bounded by PROBE_BOUND)."""
        out = {}

        def reads():
            s = session()
            while now() - t_heal < PROBE_BOUND and not self.stop_ev.is_set():
                try:
                    r = s.get(sv.base + "/v1/kv/fault-probe/r", timeout=(0.5, 1.0))
                    if r.status_code in (200, 404):
                        out["read"] = now() - t_heal
                        return
                except requests.RequestException:
                    pass
                time.sleep(0.02)

        def writes():
            s = session()
            while now() - t_heal < PROBE_BOUND and not self.stop_ev.is_set():
                try:
                    r = s.put(sv.base + "/v1/kv/fault-probe/s%d" % sv.i, data=b"1",
                              timeout=(0.5, 2.0))
                    if r.status_code == 200 and r.text.strip() == "true":
                        out["write"] = now() - t_heal
                        return
                except requests.RequestException:
                    pass
                time.sleep(0.02)

        ts = [threading.Thread(target=reads, daemon=True),
              threading.Thread(target=writes, daemon=True)]
        for t in ts:
            t.start()
        return ts, out

    def measure(self, kind, cut, t_heal):
        probes = [(self.probe(self.servers[i], t_heal)) for i in sorted(set(cut))]
        for ts, _ in probes:
            for t in ts:
                t.join(PROBE_BOUND + 3)
        for i, (_, out) in zip(sorted(set(cut)), probes):
            self.recovery_by_kind.append((kind, i, out.get("read"), out.get("write")))
            for k, lst, m in (("read", self.recovery_read, 0), ("write", self.recovery_write, 1)):
                if k in out:
                    lst.append(out[k])
                else:
                    self.recovery_missing[m] += 1

    def write_after_leader_kill(self, victim):
        """One write through a follower right after the leader was killed,
        no retries: its latency and outcome."""
        fol = [j for j in self.others(victim) if self.servers[j].running()]
        if not fol:
            return
        sv = self.servers[fol[0]]
        s = session()
        t = now()
        try:
            r = s.put(sv.base + "/v1/kv/fault-probe/after-kill", data=b"1", timeout=(1, 30))
            outcome = "%d %s" % (r.status_code, r.text.strip()[:40])
        except requests.RequestException as e:
            outcome = type(e).__name__
        self.kill_writes.append((now() - t, outcome))

    def nemesis(self, rng):
        order = []
        # Until the duration is over, and at least one full round (every kind once).
        while not self.stop_ev.is_set() and (now() - self.t0 < self.duration or
                                             len(self.faults) < len(self.nemeses)):
            # Every kind once per round, in a seeded order.
            if not order:
                order = list(self.nemeses)
                rng.shuffle(order)
            kind = order.pop()
            hold = rng.uniform(2.0, 4.0)
            cut = self.fault(kind, rng, hold)
            self.faults.append(kind)
            self.check_crashes()
            t_heal = now()
            self.note("healed %s" % kind)
            if cut:
                self.measure(kind, cut, t_heal)
            self.stop_ev.wait(rng.uniform(0.5, 1.5))

    def fault(self, kind, rng, hold):
        """Apply one fault, wait `hold`, heal it. Returns the servers that
        were cut off (measured after the heal)."""
        net, n = self.net, self.n
        ldr = self.leader_index()
        if kind == "isolate-leader" or kind == "isolate-follower":
            if kind == "isolate-leader":
                x = ldr if ldr is not None else rng.randrange(n)
            else:
                x = rng.choice([j for j in range(n) if j != ldr])
            net.apply(net.cut_rules([(x, j) for j in self.others(x)]))
            self.note("%s s%d" % (kind, x))
            self.stop_ev.wait(hold)
            net.heal()
            return [x]
        if kind == "halves":
            order = list(range(n))
            rng.shuffle(order)
            a, b = order[:n // 2], order[n // 2:]
            net.apply(net.cut_rules([(x, y) for x in a for y in b]))
            self.note("halves %s | %s" % (a, b))
            self.stop_ev.wait(hold)
            net.heal()
            return a
        if kind == "halves-kill":
            # Two faults at once: random halves, and kill -9 of one server
            # (either side) while cut; restarted, then the partition heals.
            order = list(range(n))
            rng.shuffle(order)
            a, b = order[:n // 2], order[n // 2:]
            net.apply(net.cut_rules([(x, y) for x in a for y in b]))
            x = rng.randrange(n)
            self.servers[x].kill9()
            self.note("halves %s | %s, kill -9 s%d" % (a, b, x))
            self.stop_ev.wait(hold)
            self.servers[x].start()
            self.stop_ev.wait(rng.uniform(0.5, 1.5))
            net.heal()
            return sorted(set(a + [x]))
        if kind == "bridge":
            order = list(range(n))
            rng.shuffle(order)
            m, rest = order[0], order[1:]
            a, b = rest[:len(rest) // 2], rest[len(rest) // 2:]
            net.apply(net.cut_rules([(x, y) for x in a for y in b]))
            self.note("bridge s%d between %s and %s" % (m, a, b))
            self.stop_ev.wait(hold)
            net.heal()
            return a + b
        if kind == "oneway":
            x = rng.randrange(n)
            direction = rng.choice(["in", "out"])
            field = "saddr" if direction == "in" else "daddr"
            net.apply({x: [(direction, "ip %s %s drop" % (field, net.ip(j)))
                           for j in self.others(x)]})
            self.note("oneway s%d drops all %s" % (x, direction))
            self.stop_ev.wait(hold)
            net.heal()
            return [x]
        if kind == "loss":
            p = rng.choice([10, 20, 30, 40])
            self.apply_loss(p)
            self.note("loss %d%% on every server link" % p)
            self.stop_ev.wait(hold)
            net.heal()
            return list(range(n))
        if kind == "kill":
            # Mostly the leader: that is what the write-after-kill measures.
            x = ldr if (ldr is not None and rng.random() < 0.7) else rng.randrange(n)
            self.servers[x].kill9()
            self.note("kill -9 s%d%s" % (x, " (leader)" if x == ldr else ""))
            if x == ldr:
                self.leader_kills.append((now(), hold))
                threading.Thread(target=self.write_after_leader_kill, args=(x,),
                                 daemon=True).start()
            self.stop_ev.wait(hold)
            self.servers[x].start()
            return [x]
        if kind == "pause":
            x = ldr if (ldr is not None and rng.random() < 0.5) else rng.randrange(n)
            self.servers[x].sigstop()
            self.note("SIGSTOP s%d%s" % (x, " (leader)" if x == ldr else ""))
            self.stop_ev.wait(hold)
            self.servers[x].sigcont()
            return [x]
        if kind == "pause-isolated":
            # A stalled leader (SIGSTOP) also cut from the others; it resumes
            # while still cut, so only its own clock can tell it that its
            # lease is over; 1 s later the partition heals.
            x = ldr if ldr is not None else rng.randrange(n)
            self.servers[x].sigstop()
            net.apply(net.cut_rules([(x, j) for j in self.others(x)]))
            self.note("SIGSTOP s%d%s and cut" % (x, " (leader)" if x == ldr else ""))
            self.stop_ev.wait(hold)
            self.servers[x].sigcont()
            self.note("SIGCONT s%d, still cut" % x)
            self.stop_ev.wait(1.0)
            net.heal()
            return [x]
        if kind == "member":
            return self.member_change(rng, ldr, hold)
        raise ValueError(kind)

    def apply_loss(self, p):
        net = self.net
        net.apply({i: [("out", "ip daddr { %s } numgen random mod 100 < %d drop"
                        % (", ".join(net.ip(j) for j in self.others(i)), p))]
                   for i in range(self.n)})

    def voters(self, via):
        s = session()
        r = s.get(self.servers[via].base + "/v1/operator/raft/configuration", timeout=3)
        r.raise_for_status()
        return {x["Address"] for x in r.json()["Servers"] if x.get("Voter", True)}

    def member_change(self, rng, ldr, hold):
        """Under 10% loss on every link: remove a follower from the Raft
        configuration, kill it, wipe its data dir and restart it so it joins
        again (-retry-join, no -bootstrap-expect). If the removal is not
        confirmed, it restarts on its own data instead (a member must never
        lose its log)."""
        if ldr is None:
            return []
        x = rng.choice(self.others(ldr))
        sv = self.servers[x]
        self.apply_loss(10)
        removed = False
        s = session()
        try:
            r = s.delete(self.servers[ldr].base + "/v1/operator/raft/peer",
                         params={"address": sv.rpc}, timeout=10)
            self.note("remove-peer s%d: %d %s" % (x, r.status_code, r.text.strip()[:60]))
        except requests.RequestException as e:
            self.note("remove-peer s%d: %s" % (x, type(e).__name__))
        sv.kill9()
        deadline = now() + 10
        while now() < deadline and not self.stop_ev.is_set():
            try:
                li = self.leader_index()
                if li is not None and sv.rpc not in self.voters(li):
                    removed = True
                    break
            except (requests.RequestException, ValueError, KeyError):
                pass
            time.sleep(0.2)
        self.stop_ev.wait(hold)
        if removed:
            sv.wipe()
            sv.start(bootstrap=False)
            self.note("s%d removed, wiped, restarted to rejoin" % x)
        else:
            sv.start()
            self.note("s%d removal not confirmed: restarted on its data" % x)
        self.net.heal()
        return [x]

    # ---- checks ------------------------------------------------------------------------

    def check_crashes(self):
        """A server that exited without the harness killing it is a crash:
        recorded (the run fails), then it is restarted."""
        for sv in self.servers:
            if sv.proc is not None and not sv.running() and not sv.killed:
                self.crashes.append("s%d exited %s" % (sv.i, sv.proc.returncode))
                self.note("CRASH: s%d exited %s" % (sv.i, sv.proc.returncode))
                sv.killed = True

    def heal_all(self):
        self.check_crashes()
        self.net.heal()
        for sv in self.servers:
            if sv.stopped:
                sv.sigcont()
            if not sv.running():
                sv.start()

    def converge(self):
        """After the heal: every server's ?stale view equals the others' for
        every key, every acknowledged registration is on every server, every
        acknowledged deregistration is gone, and every server is in the
        leader's Raft configuration. Returns (ok, why)."""
        s = session()
        deadline = now() + CONVERGE_BOUND
        why = ""
        while now() < deadline:
            why = ""
            views = []
            for sv in self.servers:
                try:
                    v = {}
                    for k in self.keys:
                        ok, val, _ = self.kv_read(s, sv, k, "stale")
                        if not ok:
                            raise ValueError("read failed")
                        v[k] = val
                    r = s.get(sv.base + "/v1/catalog/service/fsvc", params={"stale": ""},
                              timeout=5)
                    r.raise_for_status()
                    nodes = {e["Node"] for e in r.json()}
                    views.append((v, nodes))
                except (requests.RequestException, ValueError, KeyError, IndexError) as e:
                    why = "s%d: %r" % (sv.i, e)
                    break
            if not why:
                with self.rlock:
                    must = self.regs["ok"] - self.regs["dereg_ok"] - self.regs["dereg_info"]
                    gone = set(self.regs["dereg_ok"])
                if any(v != views[0][0] for v, _ in views):
                    why = "KV differs: %s" % [v for v, _ in views]
                for i, (_, nodes) in enumerate(views):
                    if must - nodes:
                        why = "s%d lacks acknowledged registrations %s" % (
                            i, sorted(must - nodes)[:5])
                    elif nodes & gone:
                        why = "s%d still has deregistered %s" % (i, sorted(nodes & gone)[:5])
                if not why:
                    # Every server is back in the Raft configuration.
                    try:
                        li = self.leader_index()
                        missing = ({sv.rpc for sv in self.servers} - self.voters(li)
                                   if li is not None else {"(no leader)"})
                    except (requests.RequestException, ValueError, KeyError) as e:
                        missing = {repr(e)}
                    if missing:
                        why = "not in the Raft configuration: %s" % sorted(missing)
                if not why:
                    return True, ""
            time.sleep(0.2)
        return False, why

    def write_history(self):
        path = os.path.join(self.dir, "history.jsonl")
        with open(path, "w") as f:
            for d in self.history:
                f.write(json.dumps(d, sort_keys=True) + "\n")
        with open(os.path.join(self.dir, "nemesis.log"), "w") as f:
            for t, e in self.events:
                f.write("%8.3f %s\n" % (t, e))
        return path

    # ---- the run -----------------------------------------------------------------------

    def execute(self):
        """Run it; returns the result dict (also self.result). Always cleans
        the namespaces and processes up."""
        res = self.result
        res.update(seed=self.seed, servers=self.n, duration=self.duration,
                   broken=self.broken, dir=self.dir)
        try:
            self._execute(res)
        except Exception as e:  # a harness or cluster failure is a failed run
            res["error"] = "%s: %s" % (type(e).__name__, e)
        finally:
            self.stop_ev.set()
            self.check_crashes()
            codes = [sv.terminate() for sv in self.servers]
            res["exit_codes"] = codes
            res["crashes"] = list(self.crashes)
            # SIGTERM must end every running server cleanly (exit 0).
            res["bad_exits"] = ["s%d exited %s on SIGTERM" % (i, c)
                                for i, c in enumerate(codes) if c not in (0, None)]
            self.net.destroy()
            reports = [(sv.i, sv.sanitizer_report()) for sv in self.servers]
            res["sanitizer"] = [i for i, rep in reports if rep]
            res["history_path"] = self.write_history()
        try:
            self.analyze(res)
        except Exception as e:
            res.setdefault("error", "analysis: %s: %s" % (type(e).__name__, e))
        res["passed"] = bool(not res.get("error") and res.get("linearizable") and
                             res.get("converged") and not res["sanitizer"] and
                             not res["crashes"] and not res["bad_exits"])
        if res["passed"] and not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)
        return res

    def _execute(self, res):
        if not os.path.exists(CAIRN_BIN):
            raise RuntimeError("cairn binary not found at %s (set CAIRN_BIN)" % CAIRN_BIN)
        self.net.create()
        self.servers = [Server(self, i) for i in range(self.n)]
        for sv in self.servers:
            sv.start()
        self.wait_formed()
        self.t0 = now()
        rng = random.Random(self.seed)
        workers = [threading.Thread(target=self.worker, args=(t,), daemon=True)
                   for t in range(self.nthreads)]
        workers.append(threading.Thread(target=self.registrar, daemon=True))
        for t in workers:
            t.start()
        self.nemesis(rng)
        # The nemesis has healed its last fault; the workload goes on for a moment.
        self.heal_all()
        self.stop_ev.wait(1.0)
        self.stop_ev.set()
        for t in workers:
            t.join(OP_TIMEOUT[0] + OP_TIMEOUT[1] + 5)
        self.wait_formed()
        res["converged"], res["converge_why"] = self.converge()

    def analyze(self, res):
        """Check and summarise the history (also after a harness error)."""
        h = list(self.history)
        checked = [d for d in h if d.get("mode") != "stale"]
        tc = now()
        lin = linearizability.check(checked)
        res["check_s"] = now() - tc
        res["linearizable"] = lin.ok   # None: search budget exceeded
        res["lin_detail"] = lin.describe()
        stale = [d for d in h if d.get("mode") == "stale" and d["type"] == "ok"]
        if stale:
            with_stale = linearizability.check(h)
            res["stale_note"] = "%d stale reads, %s when held to linearizability" % (
                len(stale), "linearizable" if with_stale.ok else
                ("unknown" if with_stale.ok is None else "NOT linearizable"))
        res["faults"] = list(self.faults)
        cnt = {"ok": 0, "fail": 0, "info": 0}
        for d in h:
            cnt[d["type"]] += 1
        res["ops"] = cnt
        res["regs"] = "%d acked, %d indeterminate, %d deregistered" % (
            len(self.regs["ok"]), len(self.regs["info"]), len(self.regs["dereg_ok"]))
        res["recovery"] = "read %s write %s" % (
            fmt_dist(self.recovery_read, self.recovery_missing[0]),
            fmt_dist(self.recovery_write, self.recovery_missing[1]))
        res["kill_writes"] = ["%.2fs %s" % kw for kw in self.kill_writes]
        res["recovery_samples"] = {"read": list(self.recovery_read),
                                   "write": list(self.recovery_write),
                                   "missing": list(self.recovery_missing)}
        res["kill_gaps"] = ["%.2fs" % g for g in write_gaps(h, self.leader_kills)]
        by = {}
        for kind, _, rd, wr in self.recovery_by_kind:
            e = by.setdefault(kind, ([], [], [0, 0]))
            for x, lst, m in ((rd, e[0], 0), (wr, e[1], 1)):
                if x is None:
                    e[2][m] += 1
                else:
                    lst.append(x)
        res["recovery_by_kind"] = {k: "read %s write %s" % (fmt_dist(r, m[0]), fmt_dist(w, m[1]))
                                   for k, (r, w, m) in sorted(by.items())}


def write_gaps(history, kills):
    """For each leader kill at t (held `hold` seconds before the restart):
    the longest stretch in [t, t + hold] with no acknowledged write or cas
    completing, counted from t. The dip in write throughput a leader kill
    costs the workload's clients (several threads, writes through every
    server); measured, never asserted."""
    done = sorted(d["ret"] for d in history
                  if d["f"] in ("write", "cas") and d["type"] == "ok")
    gaps = []
    for t, hold in kills:
        end = t + hold
        prev, worst = t, 0.0
        for r in done:
            if r <= t:
                continue
            if r > end:
                break
            worst = max(worst, r - prev)
            prev = r
        gaps.append(max(worst, (end - prev) if prev == t else worst))
    return gaps


def rerun_cmd(res, nemeses):
    cmd = "CAIRN_BIN=%s /usr/bin/python3 %s --seed %d --servers %d --duration %g" % (
        CAIRN_BIN, os.path.relpath(os.path.join(HERE, "harness.py"), os.getcwd()),
        res["seed"], res["servers"], res["duration"])
    if nemeses and list(nemeses) != ALL_NEMESES:
        cmd += " --nemeses " + ",".join(nemeses)
    if res["broken"]:
        cmd += " --broken"
    return cmd


def summary(res, nemeses=None, verbose=False):
    yn = lambda b: "yes" if b else "no"  # noqa: E731
    ops = res.get("ops", {})
    line = ("seed=%d servers=%d faults=%s ops ok/fail/info=%d/%d/%d linearizable=%s "
            "converged=%s (check %.1fs) recovery: %s" % (
                res["seed"], res["servers"], ",".join(res.get("faults", [])) or "-",
                ops.get("ok", 0), ops.get("fail", 0), ops.get("info", 0),
                "unknown" if res.get("linearizable", False) is None else yn(res.get("linearizable")),
                yn(res.get("converged")), res.get("check_s", 0),
                res.get("recovery", "-")))
    if res.get("stale_note"):
        line += " (%s)" % res["stale_note"]
    if res.get("kill_writes"):
        line += " write-after-leader-kill: " + "; ".join(res["kill_writes"])
    if res.get("kill_gaps"):
        line += " write-gap-after-leader-kill: " + ", ".join(res["kill_gaps"])
    out = [line]
    if verbose:
        for k, v in res.get("recovery_by_kind", {}).items():
            out.append("  recovery after %s: %s" % (k, v))
    if not res.get("passed"):
        if res.get("error"):
            out.append("  error: " + res["error"])
        if res.get("linearizable") is not True and res.get("lin_detail"):
            out.append("  " + res.get("lin_detail", "").replace("\n", "\n  "))
        if res.get("converged") is False:
            out.append("  not converged: " + res.get("converge_why", ""))
        for c in res.get("crashes", []) + res.get("bad_exits", []):
            out.append("  " + c)
        if res.get("sanitizer"):
            out.append("  sanitizer report in the log of %s" %
                       ["s%d" % i for i in res["sanitizer"]])
        out.append("  history: %s" % res["history_path"])
        out.append("  rerun: %s" % rerun_cmd(res, nemeses))
    return "\n".join(out)


_cleanup_runs = []


def _on_signal(signum, frame):
    raise SystemExit(128 + signum)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=None, help="first seed (default: random)")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--servers", default="3", help="e.g. 3, 5 or 3,5 (alternated)")
    ap.add_argument("--duration", type=float, default=30.0, help="seconds of faults per run")
    ap.add_argument("--nemeses", default=",".join(ALL_NEMESES))
    ap.add_argument("--broken", action="store_true",
                    help="self-check: stale reads recorded as linearizable, a follower isolated")
    ap.add_argument("--threads", type=int, default=6)
    ap.add_argument("--out", default=None, help="directory for run dirs (default $TMPDIR/cairn-fault)")
    ap.add_argument("--keep", action="store_true", help="keep the run dir of passed runs")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="recovery times per fault kind under each run line")
    ap.add_argument("--json", default=None, help="append each run's result as a JSON line")
    a = ap.parse_args(argv)
    if os.geteuid() != 0:
        print("fault harness: needs root (ip netns, nft)", file=sys.stderr)
        return 2
    # Ctrl-C, SIGTERM and SIGHUP unwind through Run.execute's cleanup (SIGINT
    # explicitly: a shell starts background jobs with it ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    left = netns.cleanup_leftovers()
    if left:
        print("removed leftovers of earlier runs: %s" % " ".join(left))
    seed = a.seed if a.seed is not None else random.randrange(1 << 20)
    sizes = [int(x) for x in a.servers.split(",")]
    nemeses = a.nemeses.split(",")
    if a.broken:
        nemeses = ["isolate-follower"]
    failed = 0
    for k in range(a.runs):
        run = Run(seed + k, n=sizes[k % len(sizes)], duration=a.duration, nemeses=nemeses,
                  broken=a.broken, out=a.out, keep=a.keep, threads=a.threads)
        try:
            res = run.execute()
        except BaseException:
            print("interrupted: seed=%d servers=%d; namespaces and servers removed, run dir %s"
                  % (run.seed, run.n, run.dir), flush=True)
            raise
        finally:
            run.net.destroy()
        print(summary(res, nemeses, a.verbose), flush=True)
        if a.json:
            with open(a.json, "a") as f:
                f.write(json.dumps(res, default=str, sort_keys=True) + "\n")
        failed += not res["passed"]
    if a.runs > 1:
        print("%d of %d runs passed" % (a.runs - failed, a.runs))
    return 1 if failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
