#!/usr/bin/python3
"""Pool the recovery and leader-kill figures of many harness runs:

    /usr/bin/python3 tests/fault/harness.py --runs 6 --json /tmp/f.jsonl ...
    /usr/bin/python3 tests/fault/pool.py /tmp/f.jsonl

prints, over every heal of every run, the time to the first successful read
and write through each server that was cut off (p50/p99/max, and how many
never recovered within the probe bound), the first write after each leader
kill, and the write gap after each leader kill. Figures, never pass/fail."""
import json
import sys

from harness import pct


def main(paths):
    read, write, missing, gaps, kills = [], [], [0, 0], [], []
    runs = 0
    for p in paths:
        with open(p) as f:
            for line in f:
                r = json.loads(line)
                runs += 1
                smp = r.get("recovery_samples") or {}
                read += smp.get("read", [])
                write += smp.get("write", [])
                for i, m in enumerate(smp.get("missing", [0, 0])):
                    missing[i] += m
                gaps += [float(g.rstrip("s")) for g in r.get("kill_gaps", [])]
                kills += [float(k.split("s")[0]) for k in r.get("kill_writes", [])]

    def dist(xs):
        if not xs:
            return "-"
        xs = sorted(xs)
        return "n=%d p50 %.2fs p99 %.2fs max %.2fs" % (len(xs), pct(xs, 50), pct(xs, 99), xs[-1])
    print("runs: %d" % runs)
    print("recovery read:  %s (never: %d)" % (dist(read), missing[0]))
    print("recovery write: %s (never: %d)" % (dist(write), missing[1]))
    print("first write after a leader kill: %s" % dist(kills))
    print("write gap after a leader kill: %s" % dist(gaps))


if __name__ == "__main__":
    main(sys.argv[1:])
