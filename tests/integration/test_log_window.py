"""The bounded in-memory Raft log (issue 19; raft/log.c, server/readback.c).

A server keeps in memory only a window of its log: entries not yet durable
or applied, and a tail of `raft_log_window` entries behind them. A follower
further behind is sent older entries read back from the WAL by the writer
thread (counted by cairn.raft.log.readback), or the snapshot once they were
compacted. These tests stop a follower while thousands of entries are
written, restart it, and check it catches up each way, and after kill -9 of
either side in the middle of catching up.
"""
import os
import re

import pytest

from conftest import START_TIMEOUT, wait_until
from test_cluster_faults import kv_stale, assert_has_all
from test_snapshot_stream import put_many

WINDOW = 32


def prom(agent, name):
    """The value of a Prometheus sample `name` (no labels) at agent, or 0."""
    r = agent.get("/v1/agent/metrics", params={"format": "prometheus"}, timeout=10)
    assert r.status_code == 200, r.text
    m = re.search(r"^%s(?:\{\})? (\S+)$" % re.escape(name), r.text, re.M)
    return float(m.group(1)) if m else 0.0


def readback(agent):
    return prom(agent, "cairn_raft_log_readback")


def rss_kib(agent):
    with open("/proc/%d/status" % agent.pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def lagging(cluster_factory, tmp_path, n_keys, extra=()):
    cfg = tmp_path / "telemetry.hcl"
    cfg.write_text('telemetry {\n  prometheus_retention_time = "60s"\n'
                   '  disable_hostname = true\n}\n')
    c = cluster_factory(3, extra_args=["-raft-log-window=%d" % WINDOW,
                                       "-config-file=" + str(cfg)] + list(extra))
    ldr = c.leader()
    lag = [a for a in c.live() if a is not ldr][0]
    ldr.kv_put("w/first", b"1")
    wait_until(lambda: kv_stale(lag, "w/first"), what="first write on the laggard")
    assert lag.stop() == 0
    written = put_many(ldr, "w", n_keys) | {"w/first"}
    return c, ldr, lag, written


def test_follower_catches_up_by_readback(cluster_factory, tmp_path):
    # No snapshot while it is away: every entry it missed is in the WAL.
    c, ldr, lag, written = lagging(cluster_factory, tmp_path, 3000,
                                   extra=["-raft-snapshot-threshold=1000000"])
    # The leader holds a window, not the 3,000 entries.
    wait_until(lambda: prom(ldr, "cairn_raft_log_entries") <= WINDOW + 1 or None,
               what="the leader's log shrinking to its window")
    rss0 = rss_kib(ldr)
    before = readback(ldr)
    ldr_log0 = len(ldr.log_text())
    lag.start(wait=True)
    c.wait_converged(timeout=START_TIMEOUT)
    assert_has_all(lag, "w", written)
    got = readback(ldr) - before
    assert got >= 2900, "the leader read back %d entries for a follower 3,000 behind" % got
    sent = ldr.log_text()[ldr_log0:]
    assert "streaming snapshot" not in sent, "caught up by snapshot, not read-back"
    # Read-back does not bring the log back into memory.
    assert prom(ldr, "cairn_raft_log_entries") <= 4 * WINDOW
    assert prom(ldr, "cairn_raft_log_memory") <= 4 * WINDOW * 512
    grew = rss_kib(ldr) - rss0
    assert grew < 32 * 1024, "leader RSS grew %d KiB while serving the read-back" % grew
    c.leader().kv_put("w/after", b"1")
    wait_until(lambda: kv_stale(lag, "w/after"), what="write after catch-up")


def test_follower_catches_up_by_snapshot_when_compacted(cluster_factory, tmp_path):
    c, ldr, lag, written = lagging(cluster_factory, tmp_path, 3000,
                                   extra=["-raft-snapshot-threshold=500",
                                          "-raft-snapshot-interval=100ms"])
    snaps = os.path.join(ldr.data_dir, "raft", "snapshots")
    wait_until(lambda: any(f.startswith("snap-") for f in os.listdir(snaps)) or None,
               what="a leader snapshot")
    ldr_log0 = len(ldr.log_text())
    lag.start(wait=True)
    c.wait_converged(timeout=START_TIMEOUT)
    assert_has_all(lag, "w", written)
    sent = ldr.log_text()[ldr_log0:]
    assert "streaming snapshot" in sent, "no snapshot sent:\n" + sent[-3000:]
    c.leader().kv_put("w/after", b"1")
    wait_until(lambda: kv_stale(lag, "w/after"), what="write after catch-up")


@pytest.mark.parametrize("victim", ["follower", "leader"])
def test_kill9_mid_catch_up(cluster_factory, tmp_path, victim):
    c, ldr, lag, written = lagging(cluster_factory, tmp_path, 4000,
                                   extra=["-raft-snapshot-threshold=1000000"])
    before = readback(ldr)
    lag.start(wait=False)
    wait_until(lambda: readback(ldr) > before or None, interval=0.01, timeout=START_TIMEOUT,
               what="the leader reading back entries for the laggard")
    if victim == "follower":
        lag.kill9()
        lag.start(wait=True)
    else:
        ldr.kill9()
        ldr.start(wait=False)
        lag.wait_ready()
        ldr.wait_ready()
    c.wait_converged(timeout=START_TIMEOUT)
    assert_has_all(lag, "w", written)
    assert_has_all(ldr, "w", written)
    c.leader().kv_put("w/after-kill", b"1")
    wait_until(lambda: kv_stale(lag, "w/after-kill"), what="write after catch-up")
