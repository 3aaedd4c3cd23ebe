#!/usr/bin/python3
"""Fail when the folders of src/ include each other in a cycle.

docs/architecture.md: arrows between folders point one way; no two folders include each
other, directly or through others. This builds the folder graph from every
`#include "..."` in every file under SRC (any name, any depth; the files at the
top of SRC, such as main.c, form the folder "."), resolving a name the way the
compiler does for quotes: next to the including file first, then under SRC
(the -I of the build). An edge A -> B means a file of A includes a file of B.
A cycle is printed with the include lines that make it, and the exit status
is 1.

Usage: check-includes.py [SRC]        (default: the src/ next to this script)
       check-includes.py --self-test  (the checker against trees of its own)
"""
import os
import re
import sys
import tempfile

INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*"([^"]+)"', re.M)
BLOCK_COMMENT = re.compile(r"/\*.*?\*/", re.S)
SOURCE_EXT = (".c", ".h", ".inc", ".def")


def folder_of(src, path):
    rel = os.path.relpath(path, src)
    parts = rel.split(os.sep)
    return "." if len(parts) == 1 else parts[0]


def resolve(src, including, name):
    """The file a quoted include names, or None (a generated or missing file)."""
    for base in (os.path.dirname(including), src):
        p = os.path.normpath(os.path.join(base, name))
        if os.path.isfile(p):
            return p
    return None


def build_graph(src):
    """{folder: {folder: (file, line, name)}}: one include line per edge."""
    graph = {}
    for root, dirs, files in os.walk(src):
        dirs.sort()
        for f in sorted(files):
            if not f.endswith(SOURCE_EXT):
                continue
            path = os.path.join(root, f)
            a = folder_of(src, path)
            graph.setdefault(a, {})
            with open(path, encoding="utf-8", errors="replace") as fh:
                text = fh.read()
            # Keep line numbers: blank out comments but not their newlines.
            text = BLOCK_COMMENT.sub(lambda m: "\n" * m.group(0).count("\n"), text)
            for m in INCLUDE.finditer(text):
                target = resolve(src, path, m.group(1))
                if not target:
                    continue
                rel = os.path.relpath(target, src)
                if rel.startswith(".." + os.sep):
                    continue  # outside src/ (tests, third-party)
                b = folder_of(src, target)
                if b != a and b not in graph[a]:
                    line = text.count("\n", 0, m.start()) + 1
                    graph[a][b] = (os.path.relpath(path, os.path.dirname(src)), line,
                                   m.group(1))
    return graph


def sccs(graph):
    """Tarjan's strongly connected components (iterative)."""
    nodes = sorted(set(graph) | {b for es in graph.values() for b in es})
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = [0]
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, {}))))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph.get(w, {})))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                out.append(sorted(comp))
    return out


def a_cycle(graph, comp):
    """One cycle through the first folder of a strongly connected component."""
    members = set(comp)
    start = comp[0]
    # Breadth-first from start back to start, inside the component.
    prev = {}
    frontier = [start]
    seen = set()
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph.get(v, {})):
                if w not in members:
                    continue
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(prev[path[-1]])
                    return list(reversed(path)) + [start]
                if w not in seen:
                    seen.add(w)
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    return comp + [start]


def check(src, out=sys.stdout):
    graph = build_graph(src)
    bad = [c for c in sccs(graph) if len(c) > 1]
    for comp in bad:
        cyc = a_cycle(graph, comp)
        print("include cycle: " + " -> ".join(f + "/" for f in cyc), file=out)
        for a, b in zip(cyc, cyc[1:]):
            f, line, name = graph[a][b]
            print("  %s:%d includes \"%s\"" % (f, line, name), file=out)
    if not bad:
        nedges = sum(len(es) for es in graph.values())
        print("include graph: %d folders, %d arrows, no cycle" % (len(graph), nedges),
              file=out)
    return 1 if bad else 0


def self_test():
    """The checker finds a cycle made through a third folder, through a
    relative include and through a top-level file, and passes a tree without."""
    def tree(files):
        d = tempfile.mkdtemp(prefix="cn-inc-")
        for path, text in files.items():
            p = os.path.join(d, "src", path)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w") as fh:
                fh.write(text)
        return os.path.join(d, "src")

    acyclic = {"main.c": '#include "agent/agent.h"\n',
               "agent/agent.h": '#include "api/api.h"\n#include "local/local.h"\n',
               "agent/any_name.c": '#include "agent.h"\n',
               "api/api.h": '#include "local/local.h"\n/* #include "agent/agent.h" */\n',
               "local/local.h": "#include <stdio.h>\n"}
    cases = [(acyclic, 0),
             (dict(acyclic, **{"local/x.c": '#include "agent/agent.h"\n'}), 1),
             (dict(acyclic, **{"local/y.c": '#include "../api/api.h"\n'}), 1),
             (dict(acyclic, **{"top.h": '#include "agent/agent.h"\n',
                               "local/z.c": '#include "top.h"\n'}), 1)]
    ok = True
    for files, want in cases:
        src = tree(files)
        with open(os.devnull, "w") as null:
            got = check(src, null)
        if got != want:
            print("self-test: %r gave %d, want %d" % (sorted(files), got, want))
            ok = False
    print("self-test " + ("passed" if ok else "FAILED"))
    return 0 if ok else 1


def main(argv):
    if len(argv) > 1 and argv[1] == "--self-test":
        return self_test()
    src = argv[1] if len(argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "src")
    src = os.path.normpath(os.path.abspath(src))
    if not os.path.isdir(src):
        print("no such folder: " + src, file=sys.stderr)
        return 2
    return check(src)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
