"""Network namespaces for the fault harness: one per server, one holding a
bridge, and a veth from the host (where the clients run) into the bridge.

    host ns:  <p>c  10.213.X.1/24 ----+
    <ns>-br:  bridge br0  <-----------+----- <p>s1b <-> eth0 10.213.X.11 in <ns>-s1
                                      +----- <p>s2b <-> eth0 10.213.X.12 in <ns>-s2 ...

The /24 exists only on these interfaces: no default route, no NAT, nothing
forwarded. Names carry a prefix and the harness's pid, so parallel runs do not
collide and leftovers of a killed run (its pid is gone) are found by prefix.

Faults are nftables rules in each server namespace (table inet fault, chains
`in` and `out`), matching server addresses only, so the clients always reach
every server and each rule cuts one link in one direction.
"""

import os
import re
import signal
import subprocess

NS_PREFIX = "cairnf-"     # namespace names: cairnf-<pid>-br, cairnf-<pid>-s<i>
IF_PREFIX = "cf"          # interface names (<= 15 chars): cf<pid>c, cf<pid>s<i>b
SUBNET_BASE = "10.213"


def sh(*argv, check=True, input=None):
    r = subprocess.run(list(argv), capture_output=True, text=True, input=input)
    if check and r.returncode != 0:
        raise RuntimeError("%s: exit %d: %s" % (" ".join(argv), r.returncode,
                                                r.stderr.strip()))
    return r


def ns_exec(ns, *argv, check=True, input=None):
    return sh("ip", "netns", "exec", ns, *argv, check=check, input=input)


def pid_alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def _kill_ns_pids(ns):
    """SIGKILL the processes inside a leftover namespace of a dead run (its
    cairn servers): only processes whose network namespace is that one."""
    r = sh("ip", "netns", "pids", ns, check=False)
    for tok in r.stdout.split():
        try:
            pid = int(tok)
            os.kill(pid, signal.SIGCONT)
            os.kill(pid, signal.SIGKILL)
        except (ValueError, ProcessLookupError):
            pass


def cleanup_leftovers():
    """Remove namespaces and host interfaces of earlier runs whose harness
    process no longer exists. Returns the names removed."""
    removed = []
    r = sh("ip", "netns", "list", check=False)
    for line in r.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.fullmatch(re.escape(NS_PREFIX) + r"(\d+)-\w+", name)
        if m and not pid_alive(int(m.group(1))):
            _kill_ns_pids(name)
            sh("ip", "netns", "del", name, check=False)
            removed.append(name)
    r = sh("ip", "-o", "link", "show", check=False)
    for line in r.stdout.splitlines():
        m = re.match(r"\d+:\s+(" + IF_PREFIX + r"(\d+)c)[@:]", line)
        if m and not pid_alive(int(m.group(2))):
            sh("ip", "link", "del", m.group(1), check=False)
            removed.append(m.group(1))
    return removed


def _subnet_in_use(x):
    r = sh("ip", "-o", "addr", "show", check=False)
    return (" %s.%d." % (SUBNET_BASE, x)) in r.stdout


class Net:
    """The namespaces of one run. create() builds them; destroy() removes all
    of them (idempotent)."""

    HTTP_PORT = 7500
    SERVER_PORT = 7300

    def __init__(self, nservers, pid=None):
        self.pid = pid or os.getpid()
        self.n = nservers
        self.tag = "%s%d" % (NS_PREFIX, self.pid)
        self.br = self.tag + "-br"
        self.host_if = "%s%dc" % (IF_PREFIX, self.pid)
        self.x = None
        self.created = []

    def ns(self, i):
        return "%s-s%d" % (self.tag, i)

    def ip(self, i):
        return "%s.%d.%d" % (SUBNET_BASE, self.x, 11 + i)

    @property
    def client_ip(self):
        return "%s.%d.1" % (SUBNET_BASE, self.x)

    def rpc_addr(self, i):
        return "%s:%d" % (self.ip(i), self.SERVER_PORT)

    def http_base(self, i):
        return "http://%s:%d" % (self.ip(i), self.HTTP_PORT)

    def _pick_subnet(self):
        start = 16 + self.pid % 200
        for k in range(240):
            x = 16 + (start - 16 + k) % 240
            if not _subnet_in_use(x):
                return x
        raise RuntimeError("no free 10.213.X.0/24")

    def create(self):
        # Anything of this process's earlier runs that survived (ours: same pid).
        self.created = [self.br] + [self.ns(i) for i in range(self.n)]
        self.destroy()
        self.x = self._pick_subnet()
        sh("ip", "netns", "add", self.br)
        self.created.append(self.br)
        ns_exec(self.br, "ip", "link", "add", "br0", "type", "bridge")
        ns_exec(self.br, "ip", "link", "set", "br0", "up")
        ns_exec(self.br, "ip", "link", "set", "lo", "up")
        # The clients' veth: host side addressed, bridge side enslaved.
        peer = "%s%dcb" % (IF_PREFIX, self.pid)
        sh("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", peer)
        sh("ip", "link", "set", peer, "netns", self.br)
        ns_exec(self.br, "ip", "link", "set", peer, "master", "br0", "up")
        sh("ip", "addr", "add", self.client_ip + "/24", "dev", self.host_if)
        sh("ip", "link", "set", self.host_if, "up")
        for i in range(self.n):
            self.add_server_ns(i)
        return self

    def add_server_ns(self, i):
        ns = self.ns(i)
        sh("ip", "netns", "add", ns)
        self.created.append(ns)
        a = "%s%ds%da" % (IF_PREFIX, self.pid, i)
        b = "%s%ds%db" % (IF_PREFIX, self.pid, i)
        sh("ip", "link", "add", a, "netns", ns, "type", "veth", "peer", "name", b,
           "netns", self.br)
        ns_exec(ns, "ip", "link", "set", "lo", "up")
        ns_exec(ns, "ip", "link", "set", a, "name", "eth0")
        ns_exec(ns, "ip", "addr", "add", self.ip(i) + "/24", "dev", "eth0")
        ns_exec(ns, "ip", "link", "set", "eth0", "up")
        ns_exec(self.br, "ip", "link", "set", b, "master", "br0", "up")
        ns_exec(ns, "nft", "-f", "-", input=(
            "table inet fault {\n"
            " chain in { type filter hook input priority 0; policy accept; }\n"
            " chain out { type filter hook output priority 0; policy accept; }\n"
            "}\n"))

    # ---- faults --------------------------------------------------------------

    def heal(self):
        for i in range(self.n):
            ns_exec(self.ns(i), "nft", "-f", "-", check=False,
                    input="flush chain inet fault in\nflush chain inet fault out\n")

    def apply(self, rules):
        """rules: {server i: [nft rule text for chain in/out, ...]} as
        ("in"|"out", "ip saddr A drop")."""
        for i, rs in rules.items():
            if not rs:
                continue
            text = "".join("add rule inet fault %s %s\n" % (ch, r) for ch, r in rs)
            ns_exec(self.ns(i), "nft", "-f", "-", input=text)

    def cut_rules(self, pairs):
        """Symmetric cut of each (a, b) link: a drops what comes from b and
        what goes to b, and b the same for a."""
        rules = {}
        for a, b in pairs:
            for x, y in ((a, b), (b, a)):
                rules.setdefault(x, []).extend([
                    ("in", "ip saddr %s drop" % self.ip(y)),
                    ("out", "ip daddr %s drop" % self.ip(y))])
        return rules

    def ruleset(self, i):
        return ns_exec(self.ns(i), "nft", "list", "table", "inet", "fault",
                       check=False).stdout

    def destroy(self):
        # Deleting a namespace deletes the veth ends inside it and their peers.
        for ns in reversed(self.created):
            _kill_ns_pids(ns)
            sh("ip", "netns", "del", ns, check=False)
        self.created = []
        sh("ip", "link", "del", self.host_if, check=False)
