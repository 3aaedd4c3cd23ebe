"""Linearizability checker for histories of KV register operations.

A history is a list of operations (dicts, as the harness writes them):

    {"id": 7, "proc": 2, "key": "k1", "f": "write", "value": "w2-15",
     "type": "ok", "call": 12.031, "ret": 12.044}

    f      "read"  value = the value read (None: the key did not exist)
           "write" value = the value written
           "cas"   value = [expected, new]: succeeds iff the current value is
                   `expected` (None: only if the key does not exist)
    type   "ok"    completed and succeeded (a cas answered true)
           "fail"  definitely had no effect (4xx, or never sent; a cas answered
                   false — status 200 — is also an observation: the value was
                   not `expected`)
           "info"  indeterminate (timeout, 5xx): may take effect at any point
                   after its call, or never; its `ret` is ignored
    call, ret      invocation and completion times (one clock)

The model is one register per key, initially absent (None). Every key is an
independent object, so the history is split per key and each part checked on
its own (P-compositionality). Each part is checked by the Wing-Gong search
with Lowe's improvements, as Porcupine does: the calls and returns sorted by
time in a doubly linked list; an operation whose call is reached is tried
(linearized) if the model accepts it, which lifts its call and return out of
the list; reaching a return of an operation not yet linearized backtracks.
The pair (set of linearized operations, model state) is memoised so that no
configuration is explored twice. An indeterminate operation's return is at
+infinity: reaching it means every definite operation is linearized.

Reads that failed or are indeterminate are dropped (they have no effect), and
so are writes that definitely failed; a definite cas=false is kept.
"""

import json
import math
import sys

INF = math.inf


class Op:
    __slots__ = ("id", "proc", "key", "f", "value", "type", "call", "ret", "raw", "mv",
                 "free")

    def __init__(self, d):
        self.id = d["id"]
        self.proc = d.get("proc")
        self.key = d["key"]
        self.f = d["f"]
        v = d.get("value")
        self.value = tuple(v) if isinstance(v, list) else v
        self.type = d["type"]
        self.call = float(d["call"])
        self.ret = INF if self.type == "info" else float(d["ret"])
        self.raw = d
        self.mv = self.value   # value as the search sees it (see check_key)
        self.free = False      # an indeterminate write of a value nobody observed

    def __repr__(self):
        return "Op(%s)" % json.dumps(self.raw, sort_keys=True)


# Stands for every value no read and no cas ever expects (see check_key).
UNOBSERVED = "\x00unobserved"


def step(state, op):
    """(accepted, new state) for applying op to the register `state`."""
    f, t = op.f, op.type
    if f == "read":
        return (state == op.mv, state)
    if f == "write":
        return (True, op.mv)
    if f == "cas":
        exp, new = op.mv
        if t == "ok":
            return (state == exp, new)
        if t == "fail":
            return (state != exp, state)
        return (True, new if state == exp else state)
    raise ValueError("unknown f %r" % (f,))


def relevant(op):
    if op.f == "read":
        return op.type == "ok"
    if op.f == "write":
        return op.type in ("ok", "info")
    # cas: ok, info, and a fail that was answered (a "false": an observation);
    # a fail that never reached a server (refused connection) or was refused
    # before evaluation (4xx) observed nothing and had no effect.
    return op.type != "fail" or ("error" not in op.raw and op.raw.get("status", 200) == 200)


class _Entry:
    __slots__ = ("op", "is_call", "match", "prev", "next", "time", "idx")


class Result:
    def __init__(self, ok, key=None, detail=None, explored=0, unknown=False):
        self.ok = ok                # True, False, or None (budget exceeded)
        self.key = key
        self.detail = detail or {}
        self.explored = explored
        self.unknown = unknown

    def __bool__(self):
        return bool(self.ok)

    def describe(self):
        if self.ok:
            return "linearizable"
        if self.unknown:
            return "unknown (search budget exceeded on key %r)" % self.key
        d = self.detail
        lines = ["NOT linearizable on key %r" % self.key,
                 "  longest linearizable prefix: %d of %d operations, register then = %r"
                 % (d.get("best_depth", 0), d.get("nops", 0), d.get("best_state"))]
        if d.get("blocked"):
            lines.append("  no order lets this operation complete: %r" % d["blocked"])
        for o in d.get("concurrent", []):
            lines.append("    concurrent/pending: %r" % o)
        return "\n".join(lines)


def check_key(ops, init=None, budget=2_000_000):
    """Check the operations of one key. Returns a Result."""
    ops = [o for o in ops if relevant(o)]
    ops.sort(key=lambda o: o.call)
    # Values matter only through equality with what reads returned and what
    # cas operations expected: every other value is the same one, UNOBSERVED.
    # An indeterminate write of such a value ("free") is then pointless when
    # the register already holds UNOBSERVED, and all free writes pending at
    # one point of the search are interchangeable (each may be linearized at
    # any later point), so the search tries only the first of them there.
    # Without this, k pending timed-out writes cost 2^k.
    observed = {o.value for o in ops if o.f == "read"}
    observed |= {o.value[0] for o in ops if o.f == "cas"}
    observed.add(init)
    for o in ops:
        if o.f == "write":
            o.mv = o.value if o.value in observed else UNOBSERVED
            o.free = o.type == "info" and o.mv == UNOBSERVED
        elif o.f == "cas":
            o.mv = (o.value[0], o.value[1] if o.value[1] in observed else UNOBSERVED)
    for i, o in enumerate(ops):
        o.id = i  # dense ids for the bitset
    entries = []
    for o in ops:
        c = _Entry()
        c.op, c.is_call, c.time = o, True, o.call
        r = _Entry()
        r.op, r.is_call, r.time = o, False, o.ret
        c.match, r.match = r, c
        entries += [c, r]
    # Calls before returns at equal times: such operations count as concurrent.
    entries.sort(key=lambda e: (e.time, 0 if e.is_call else 1))
    head = _Entry()
    head.op, head.is_call, head.time = None, False, -INF
    prev = head
    for e in entries:
        prev.next, e.prev = e, prev
        prev = e
    prev.next = None

    def lift(e):
        e.prev.next = e.next
        if e.next is not None:
            e.next.prev = e.prev
        m = e.match
        m.prev.next = m.next
        if m.next is not None:
            m.next.prev = m.prev

    def unlift(e):
        m = e.match
        m.prev.next = m
        if m.next is not None:
            m.next.prev = m
        e.prev.next = e
        if e.next is not None:
            e.next.prev = e

    state = init
    linearized = 0
    cache = set()
    stack = []
    explored = 0
    best = (-1, None, None)
    free_tried = False   # a free write was tried at this level of the search
    e = head.next
    while e is not None:
        explored += 1
        if explored > budget:
            return Result(None, unknown=True, explored=explored)
        if e.is_call:
            op = e.op
            if op.free and (free_tried or state == UNOBSERVED):
                e = e.next
                continue
            ok, ns = step(state, op)
            if ok:
                nl = linearized | (1 << op.id)
                if (nl, ns) not in cache:
                    cache.add((nl, ns))
                    stack.append((e, state, free_tried))
                    state, linearized = ns, nl
                    lift(e)
                    free_tried = False
                    e = head.next
                    continue
            e = e.next
        else:
            if e.op.type == "info":
                return Result(True, explored=explored)
            if len(stack) > best[0]:
                best = (len(stack), state, e.op)
            if not stack:
                break
            e, state, free_tried = stack.pop()
            free_tried = free_tried or e.op.free
            linearized &= ~(1 << e.op.id)
            unlift(e)
            e = e.next
    else:
        return Result(True, explored=explored)
    depth, bstate, blocked = best
    if bstate == UNOBSERVED:
        bstate = "<a value never read>"
    conc = [o for o in ops if o is not blocked and o.call <= blocked.ret
            and o.ret >= blocked.call][:12]
    return Result(False, detail={"best_depth": depth, "best_state": bstate,
                                 "blocked": blocked, "concurrent": conc,
                                 "nops": len(ops)}, explored=explored)


def check(history, budget=2_000_000):
    """Check a whole history (list of dicts). Returns a Result: the first key
    that is not linearizable, or ok. Keys are independent registers."""
    by_key = {}
    for d in history:
        by_key.setdefault(d["key"], []).append(Op(d))
    total = 0
    unknown = None
    for key in sorted(by_key):
        r = check_key(by_key[key], budget=budget)
        total += r.explored
        if r.ok is False:
            r.key = key
            return r
        if r.ok is None:
            r.key = key
            unknown = r
    if unknown is not None:
        return unknown
    return Result(True, explored=total)


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


if __name__ == "__main__":
    res = check(load(sys.argv[1]))
    print(res.describe())
    sys.exit(0 if res.ok else 1)
