"""Unit tests of the linearizability checker on hand-written histories that
are known to be linearizable or not."""

import random

from linearizability import check


class H:
    """Builds a history: op(proc, f, value, call, ret, type, key)."""

    def __init__(self):
        self.ops = []

    def op(self, proc, f, value, call, ret=None, type="ok", key="k"):
        self.ops.append({"id": len(self.ops), "proc": proc, "key": key, "f": f,
                         "value": value, "type": type, "call": call, "ret": ret})
        return self

    def check(self):
        return check(self.ops)


# ---- linearizable -------------------------------------------------------------

def test_empty_and_sequential():
    assert H().check().ok
    h = (H().op(0, "read", None, 0, 1)
         .op(0, "write", "a", 2, 3)
         .op(1, "read", "a", 4, 5)
         .op(1, "cas", ["a", "b"], 6, 7)
         .op(0, "read", "b", 8, 9)
         .op(0, "cas", ["a", "c"], 10, 11, type="fail")
         .op(0, "read", "b", 12, 13))
    assert h.check().ok


def test_concurrent_write_read_either_value():
    # A read concurrent with a write may see the old or the new value.
    for seen in (None, "a"):
        h = H().op(0, "write", "a", 0, 10).op(1, "read", seen, 1, 2)
        assert h.check().ok, seen


def test_read_order_follows_reorderable_writes():
    # Two concurrent writes; readers after both agree on one last value.
    h = (H().op(0, "write", "a", 0, 5).op(1, "write", "b", 1, 6)
         .op(2, "read", "a", 7, 8).op(3, "read", "a", 9, 10))
    assert h.check().ok


def test_indeterminate_write_taking_effect_late():
    # A timed-out write may take effect long after its client gave up.
    h = (H().op(0, "write", "a", 0, 1)
         .op(1, "write", "x", 2, None, type="info")
         .op(0, "read", "a", 10, 11)
         .op(0, "read", "x", 20, 21)
         .op(0, "read", "x", 22, 23))
    assert h.check().ok


def test_indeterminate_write_never_taking_effect():
    h = (H().op(0, "write", "a", 0, 1)
         .op(1, "write", "x", 2, None, type="info")
         .op(0, "read", "a", 10, 11))
    assert h.check().ok


def test_failed_write_and_failed_read_are_ignored():
    h = (H().op(0, "write", "a", 0, 1)
         .op(1, "write", "zzz", 2, 3, type="fail")
         .op(1, "read", "zzz", 4, 5, type="info")
         .op(0, "read", "a", 6, 7))
    assert h.check().ok


def test_indeterminate_cas():
    # An indeterminate cas applied (value changes) and another one not.
    h = (H().op(0, "write", "a", 0, 1)
         .op(1, "cas", ["a", "b"], 2, None, type="info")
         .op(2, "cas", ["q", "r"], 2, None, type="info")
         .op(0, "read", "b", 5, 6))
    assert h.check().ok


def test_keys_are_independent():
    h = (H().op(0, "write", "a", 0, 1, key="k1")
         .op(0, "write", "b", 2, 3, key="k2")
         .op(1, "read", "a", 4, 5, key="k1")
         .op(1, "read", None, 4, 5, key="k3"))
    assert h.check().ok


def test_many_concurrent_ops_fast():
    # A correct sequential register run by 8 overlapping clients: each op
    # takes effect at a random instant inside [call, ret].
    rng = random.Random(7)
    h = H()
    events = []
    for i in range(400):
        call = i * 1.0 + rng.random()
        ret = call + rng.uniform(0.5, 8.0)
        events.append((rng.uniform(call, ret), call, ret, i))
    events.sort()
    state = None
    for at, call, ret, i in events:
        r = rng.random()
        if r < 0.4:
            h.op(i % 8, "write", "v%d" % i, call, ret)
            state = "v%d" % i
        elif r < 0.8:
            h.op(i % 8, "read", state, call, ret)
        else:
            exp = state if rng.random() < 0.5 else "nope"
            if exp == state:
                h.op(i % 8, "cas", [exp, "c%d" % i], call, ret)
                state = "c%d" % i
            else:
                h.op(i % 8, "cas", [exp, "c%d" % i], call, ret, type="fail")
    res = h.check()
    assert res.ok, res.describe()


# ---- not linearizable -----------------------------------------------------------

def test_stale_read_after_completed_write():
    h = (H().op(0, "write", "a", 0, 1)
         .op(0, "write", "b", 2, 3)
         .op(1, "read", "a", 4, 5))
    res = h.check()
    assert res.ok is False
    assert "read" in res.describe()


def test_read_of_a_value_never_written():
    h = H().op(0, "write", "a", 0, 1).op(1, "read", "ghost", 2, 3)
    assert h.check().ok is False


def test_read_goes_back_in_time():
    # Two sequential reads see b then a, with no write of a in between.
    h = (H().op(0, "write", "a", 0, 1)
         .op(1, "write", "b", 0.5, 10)
         .op(2, "read", "b", 2, 3)
         .op(2, "read", "a", 4, 5))
    assert h.check().ok is False


def test_cas_succeeding_on_a_wrong_value():
    h = (H().op(0, "write", "a", 0, 1)
         .op(0, "write", "b", 2, 3)
         .op(1, "cas", ["a", "c"], 4, 5))
    assert h.check().ok is False


def test_cas_failing_on_the_right_value():
    h = (H().op(0, "write", "a", 0, 1)
         .op(1, "cas", ["a", "c"], 2, 3, type="fail"))
    assert h.check().ok is False


def test_cas_never_sent_observes_nothing():
    """A cas whose connection was refused (the harness records type fail with
    the exception) or refused with a 4xx observed nothing: it is no evidence
    that the value differed."""
    h = (H().op(0, "write", "a", 0, 1)
         .op(1, "cas", ["a", "c"], 2, 3, type="fail"))
    h.ops[-1]["error"] = "ConnectionError"
    assert h.check().ok
    h.ops[-1].pop("error")
    h.ops[-1]["status"] = 400
    assert h.check().ok
    h.ops[-1]["status"] = 200  # answered false: an observation
    assert h.check().ok is False


def test_lost_acknowledged_write():
    h = (H().op(0, "write", "a", 0, 1)
         .op(0, "write", "b", 2, 3)
         .op(1, "read", None, 4, 5))
    assert h.check().ok is False


def test_indeterminate_write_cannot_take_effect_before_its_call():
    h = (H().op(0, "write", "a", 0, 1)
         .op(1, "read", "x", 2, 3)
         .op(2, "write", "x", 4, None, type="info"))
    assert h.check().ok is False


def test_indeterminate_write_cannot_flicker():
    # Once read, an indeterminate write's value cannot vanish and return.
    h = (H().op(0, "write", "a", 0, 1)
         .op(1, "write", "x", 2, None, type="info")
         .op(0, "read", "x", 3, 4)
         .op(0, "read", "a", 5, 6)
         .op(0, "read", "x", 7, 8))
    assert h.check().ok is False


def test_bad_key_found_among_good_ones():
    h = (H().op(0, "write", "a", 0, 1, key="good")
         .op(0, "read", "a", 2, 3, key="good")
         .op(0, "write", "a", 0, 1, key="bad")
         .op(0, "write", "b", 2, 3, key="bad")
         .op(1, "read", "a", 4, 5, key="bad"))
    res = h.check()
    assert res.ok is False and res.key == "bad"


# ---- many indeterminate writes (timeouts during a partition) ---------------------

def _timed_out_writes(h, k, start=10.0):
    for i in range(k):
        h.op(10 + i, "write", "lost%d" % i, start + i * 0.01, None, type="info")


def test_many_timed_out_writes_stay_cheap():
    # 40 pending indeterminate writes nobody reads: without the reduction the
    # search would be exponential in them.
    h = H().op(0, "write", "a", 0, 1)
    _timed_out_writes(h, 40)
    h.op(0, "read", "a", 20, 21).op(1, "write", "b", 22, 23).op(0, "read", "b", 24, 25)
    res = h.check()
    assert res.ok, res.describe()
    assert res.explored < 100_000


def test_timed_out_write_explains_a_failed_cas():
    # cas(a->c) answered false although the last value seen was a: only a
    # timed-out write taking effect in between explains it.
    h = H().op(0, "write", "a", 0, 1)
    _timed_out_writes(h, 30)
    h.op(0, "read", "a", 20, 21).op(0, "cas", ["a", "c"], 22, 23, type="fail")
    assert h.check().ok
    # Without any write that could intervene, the same cas=false is wrong.
    h = H().op(0, "write", "a", 0, 1).op(0, "read", "a", 20, 21)
    h.op(0, "cas", ["a", "c"], 22, 23, type="fail")
    assert h.check().ok is False


def test_ghost_read_among_many_timed_out_writes():
    h = H().op(0, "write", "a", 0, 1)
    _timed_out_writes(h, 40)
    h.op(0, "read", "ghost", 20, 21)
    res = h.check()
    assert res.ok is False
    assert res.explored < 100_000


def test_observed_timed_out_write_must_stay():
    # The timed-out write of b was read; a later read of a is impossible: a's
    # write completed long before, and the other timed-out writes are not a.
    h = H().op(0, "write", "a", 0, 1)
    _timed_out_writes(h, 20)
    h.op(1, "write", "b", 5, None, type="info")
    h.op(0, "read", "b", 20, 21).op(0, "read", "a", 22, 23)
    assert h.check().ok is False
