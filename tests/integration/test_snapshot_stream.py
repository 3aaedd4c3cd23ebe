"""Snapshots streamed to followers in chunks (issue 19; server/snapstream.c).

A leader sends a follower that fell behind its log the snapshot FILE, in
chunks with flow control; the follower writes them to a temp file, fsyncs,
checks and renames it. These tests run the servers with a transport message
limit (CAIRN_XPORT_MAX_MSG) far below the snapshot's size and small chunks
(CAIRN_SNAPSHOT_CHUNK_BYTES), so a snapshot can only arrive streamed, and
kill -9 either side in the middle of a transfer.
"""
import glob
import os
import re
import threading

import pytest
import requests

from conftest import START_TIMEOUT, wait_until
from test_cluster_faults import kv_stale, assert_has_all

MAX_MSG = 128 * 1024
VALUE = b"v" * 256


@pytest.fixture
def stream_env(monkeypatch):
    monkeypatch.setenv("CAIRN_XPORT_MAX_MSG", str(MAX_MSG))
    monkeypatch.setenv("CAIRN_SNAPSHOT_CHUNK_BYTES", "2048")


def put_many(agent, prefix, n, threads=4):
    def run(lo, hi):
        sess = requests.Session()
        for i in range(lo, hi):
            r = sess.put(agent.url("/v1/kv/%s/%05d" % (prefix, i)), data=VALUE, timeout=30)
            assert r.status_code == 200 and r.text.strip() == "true", r.text
    step = (n + threads - 1) // threads
    ths = [threading.Thread(target=run, args=(k * step, min(n, (k + 1) * step)))
           for k in range(threads)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    return {"%s/%05d" % (prefix, i) for i in range(n)}


def lagging_cluster(cluster_factory, n_keys):
    c = cluster_factory(3, extra_args=["-raft-snapshot-threshold=64",
                                       "-raft-snapshot-interval=100ms"])
    ldr = c.leader()
    lag = [a for a in c.live() if a is not ldr][0]
    ldr.kv_put("s/first", b"1")
    wait_until(lambda: kv_stale(lag, "s/first"), what="first write on the laggard")
    assert lag.stop() == 0
    written = put_many(ldr, "s", n_keys) | {"s/first"}
    # Past the interval: the leader snapshots beyond what its log keeps.
    wait_until(lambda: len(snap_files(ldr)) > 0 and max(snap_sizes(ldr)) > MAX_MSG,
               what="a leader snapshot larger than one transport message")
    return c, ldr, lag, written


def snap_files(agent):
    return glob.glob(os.path.join(agent.data_dir, "**", "snapshots", "snap-*.snap"),
                     recursive=True)


def snap_sizes(agent):
    return [os.path.getsize(f) for f in snap_files(agent)]


def recv_files(agent):
    return glob.glob(os.path.join(agent.data_dir, "**", "snapshots", "tmp-*.recv"),
                     recursive=True)


def test_streamed_snapshot_larger_than_a_message(stream_env, cluster_factory):
    c, ldr, lag, written = lagging_cluster(cluster_factory, 2000)
    # Whoever leads when the laggard is back streams it (leadership may move
    # during the load on a busy machine): every other server's log is read.
    others = [a for a in c.agents if a is not lag]
    log0 = {a.name: len(a.log_text()) for a in others}
    lag_log0 = len(lag.log_text())
    lag.start(wait=True)
    c.wait_converged(timeout=START_TIMEOUT)
    assert_has_all(lag, "s", written)
    sent = "".join(a.log_text()[log0[a.name]:] for a in others)
    m = re.search(r"streaming snapshot \d+ \((\d+) bytes\) to \w+ in 2048-byte chunks", sent)
    assert m, "the leader did not stream a snapshot:\n" + sent[-3000:]
    assert int(m.group(1)) > MAX_MSG, "the snapshot fits one message; the test proves nothing"
    got = lag.log_text()[lag_log0:]
    assert re.search(r"received snapshot \d+ \(\d+ bytes\)", got), got[-3000:]
    assert re.search(r"installed snapshot at index \d+ from the leader", got), got[-3000:]
    assert not recv_files(lag), "the received temp file was not adopted"
    c.leader().kv_put("s/after", b"1")
    wait_until(lambda: kv_stale(lag, "s/after"), what="write after catch-up")


@pytest.mark.parametrize("victim", ["follower", "leader"])
def test_kill9_mid_transfer_then_catch_up(stream_env, monkeypatch, cluster_factory, victim):
    # Tiny chunks: the transfer lasts long enough to be interrupted.
    monkeypatch.setenv("CAIRN_SNAPSHOT_CHUNK_BYTES", "256")
    c, ldr, lag, written = lagging_cluster(cluster_factory, 2000)
    lag.start(wait=False)
    wait_until(lambda: recv_files(lag), timeout=START_TIMEOUT, interval=0.005,
               what="a transfer under way (a tmp-*.recv file on the laggard)")
    if victim == "follower":
        lag.kill9()
        lag.start(wait=True)
    else:
        ldr.kill9()
        ldr.start(wait=False)
        lag.wait_ready()
        ldr.wait_ready()  # a member again (it may well lead once more)
    c.wait_converged(timeout=START_TIMEOUT)
    assert_has_all(lag, "s", written)
    c.leader().kv_put("s/after-kill", b"1")
    wait_until(lambda: kv_stale(lag, "s/after-kill"), what="write after catch-up")
    wait_until(lambda: not recv_files(lag), what="no leftover temp file")
