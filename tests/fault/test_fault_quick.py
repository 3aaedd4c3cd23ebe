"""The bounded fault runs `make test` does (`make fault-quick`): three cairn
servers in network namespaces, three seeds with leader isolation,
random halves and kill -9 (every kind in each run), each run's KV history
checked for linearizability and the catalog for convergence; then the
harness's self-check: with stale reads recorded as linearizable under a
follower's isolation the checker must find the history not linearizable.

Needs root (ip netns, nft); skipped otherwise. $CAIRN_BIN as everywhere
(default: the worktree's ASan build). FAULT_SEEDS=1,5,7 (three different
fault orders) and FAULT_DURATION=15 change the quick runs.
"""

import os
import shutil
import signal

import pytest

import harness
import netns

SEEDS = [int(x) for x in os.environ.get("FAULT_SEEDS", "1,5,7").split(",")]
DURATION = float(os.environ.get("FAULT_DURATION", "15"))

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("nft") or not shutil.which("ip"),
    reason="the fault harness needs root, ip and nft (nftables)")


def _sigterm(signum, frame):
    raise SystemExit(128 + signum)


# SIGTERM unwinds like Ctrl-C, so every run's namespaces and servers go.
if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
    signal.signal(signal.SIGTERM, _sigterm)


@pytest.fixture(scope="module", autouse=True)
def no_leftovers():
    netns.cleanup_leftovers()
    yield


def report(capsys, text):
    with capsys.disabled():
        print("\n" + text, flush=True)


@pytest.mark.parametrize("seed", SEEDS)
def test_quick_run(seed, capsys):
    run = harness.Run(seed, n=3, duration=DURATION, nemeses=harness.QUICK_NEMESES)
    res = run.execute()
    text = harness.summary(res, harness.QUICK_NEMESES, verbose=True)
    report(capsys, text)
    assert not res.get("error"), text
    assert set(harness.QUICK_NEMESES) <= set(res["faults"]), text
    assert res["linearizable"], text
    assert res["converged"], text
    assert not res["sanitizer"], text
    assert res["passed"], text


def test_broken_mode_is_caught(capsys):
    """Stale reads recorded as linearizable reads, a follower isolated while
    writes go on: the checker must say no (a few seeds, the first that
    yields a stale read decides)."""
    lines = []
    for seed in (1, 2, 3):
        run = harness.Run(seed, n=3, duration=8, nemeses=["isolate-follower"], broken=True)
        res = run.execute()
        lines.append(harness.summary(res, ["isolate-follower"]).split("\n")[0])
        assert not res.get("error"), res["error"]
        assert res["converged"], res.get("converge_why")
        shutil.rmtree(res["dir"], ignore_errors=True)
        if res["linearizable"] is False:
            report(capsys, "broken mode caught: " + lines[-1])
            assert "NOT linearizable" in res["lin_detail"]
            return
    pytest.fail("the checker did not catch stale reads recorded as linearizable:\n"
                + "\n".join(lines))


def test_stalled_isolated_leader_answers_no_stale_read(capsys):
    """repro_paused_leader.py --partition: the leader is SIGSTOPped and cut
    off, a new leader acknowledges a new value, then the old one resumes
    (still cut) with a default and a ?consistent read waiting for it: neither
    may return the value from before the pause."""
    import repro_paused_leader
    lines = []
    stale, rundir = repro_paused_leader.attempts(2, cut=True, log=lines.append)
    shutil.rmtree(rundir, ignore_errors=True)
    report(capsys, "\n".join(lines))
    assert stale == 0, "\n".join(lines)
