"""tests/tools/wannet.py: the fault harness's namespaces (tests/fault/netns.py)
with WAN links that are slow or lossy, for the WAN federation tests and
bench/wan_delay.py.

A slow link: server i's veth does not end on the bridge but in a namespace of
its own (<tag>-d<i>) where tests/tools/delaylink.py relays every frame to a
second veth that is on the bridge, DELAY ms later, in both directions:

    <tag>-s<i>: eth0 <-> <p>s<i>b  [<tag>-d<i>: delaylink D ms]  <p>d<i>a <-> <p>d<i>b on br0

so every packet to or from server i (WAN gossip, server RPC, and the test's
own HTTP) takes D ms more each way: a round trip between a slow server and a
plain one takes 2*D more, between two slow ones 2*(D_i + D_j).

A lossy link: nftables rules in a server's namespace dropping a share of the
packets exchanged with given peers (numgen random), with counters, so a test
can check the loss it injected happened.
"""

import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fault"))
import netns  # noqa: E402

DELAYLINK = os.path.join(HERE, "delaylink.py")


class WanNet(netns.Net):
    """netns.Net whose servers listed in `delays` ({i: one-way ms}) sit
    behind a delaylink relay."""

    def __init__(self, nservers, delays=None, pid=None):
        super().__init__(nservers, pid)
        self.delays = dict(delays or {})
        self.relays = {}

    def relay_ns(self, i):
        return "%s-d%d" % (self.tag, i)

    def add_server_ns(self, i):
        super().add_server_ns(i)
        if i not in self.delays:
            return
        pre = "%s%d" % (netns.IF_PREFIX, self.pid)
        b = "%ss%db" % (pre, i)
        rns = self.relay_ns(i)
        netns.sh("ip", "netns", "add", rns)
        self.created.append(rns)
        netns.ns_exec(rns, "ip", "link", "set", "lo", "up")
        # Move the server's bridge end into the relay namespace, and give the
        # relay a second veth onto the bridge.
        netns.ns_exec(self.br, "ip", "link", "set", b, "nomaster")
        netns.ns_exec(self.br, "ip", "link", "set", b, "netns", rns)
        da, db = "%sd%da" % (pre, i), "%sd%db" % (pre, i)
        netns.sh("ip", "link", "add", da, "netns", rns, "type", "veth", "peer", "name", db,
                 "netns", self.br)
        netns.ns_exec(self.br, "ip", "link", "set", db, "master", "br0", "up")
        for ifname in (b, da):
            netns.ns_exec(rns, "ip", "link", "set", ifname, "up")
        # IPv6 off in the relay namespace: it has no addresses of its own and
        # must not answer or solicit anything on the links it relays.
        netns.ns_exec(rns, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1",
                      check=False)
        p = subprocess.Popen(["ip", "netns", "exec", rns, sys.executable, DELAYLINK, b, da,
                              str(self.delays[i])], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        line = p.stdout.readline()
        if line.strip() != "ready":
            p.kill()
            raise RuntimeError("delaylink in %s did not start: %s%s" % (
                rns, line, p.stderr.read()))
        self.relays[i] = p

    # ---- loss ------------------------------------------------------------------

    def loss_rules(self, i, peers, percent):
        """Server i drops `percent` % of what it receives from and sends to
        each of `peers` (both directions of each link, independently)."""
        rules = []
        for j in peers:
            rules.append(("in", "ip saddr %s numgen random mod 100 < %d counter drop"
                          % (self.ip(j), percent)))
            rules.append(("out", "ip daddr %s numgen random mod 100 < %d counter drop"
                          % (self.ip(j), percent)))
        return {i: rules}

    def dropped(self, i):
        """Packets the counters of server i's rules dropped so far."""
        return sum(int(n) for n in re.findall(r"counter packets (\d+)", self.ruleset(i)))

    def destroy(self):
        for p in self.relays.values():
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.relays = {}
        super().destroy()
