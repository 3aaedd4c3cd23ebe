"""docs/consul-compat.md stays honest about the routes: every path that
src/api/router.c dispatches (the route tables it lists, defined in
src/api/*.c) is a row of the compatibility table. No agent needed.

Rule: a prefix route "/v1/kv/" is named by any "`/v1/kv/..." in the doc; an
exact route "/v1/txn" by "`/v1/txn" followed by "`", "?" or a space.
"""
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]


def router_tables():
    text = (ROOT / "src/api/router.c").read_text()
    m = re.search(r"tables\[\]\s*=\s*\{(.*?)\};", text, re.S)
    assert m, "router.c: the tables[] list was not found"
    return re.findall(r"\b(api_\w+_routes)\b", m.group(1))


def routes():
    src = "\n".join(p.read_text() for p in sorted((ROOT / "src/api").glob("*.c")))
    out = []
    for name in router_tables():
        m = re.search(r"const struct api_route " + name + r"\[\]\s*=\s*\{(.*?)\n\};", src, re.S)
        assert m, "route table %s not defined in src/api/*.c" % name
        for path, prefix in re.findall(r'\{\s*"(/v1/[^"]*)",\s*(true|false)', m.group(1)):
            out.append((path, prefix == "true"))
    return out


def table_text():
    doc = (ROOT / "docs/consul-compat.md").read_text()
    rows = [l for l in doc.splitlines() if l.startswith("| ")]
    assert len(rows) > 10, "docs/consul-compat.md has no endpoint table"
    return "\n".join(rows)


def test_router_has_routes():
    r = routes()
    assert len(r) >= 40
    assert ("/v1/kv/", True) in r


def test_every_route_is_in_the_table():
    doc = table_text()
    missing = []
    for path, prefix in routes():
        if prefix:
            ok = ("`" + path) in doc
        else:
            ok = re.search(re.escape("`" + path) + r"[`? ]", doc) is not None
        if not ok:
            missing.append(path)
    assert not missing, "routes missing from docs/consul-compat.md's table: %s" % missing


def test_table_does_not_claim_no_replication():
    doc = (ROOT / "docs/consul-compat.md").read_text().lower()
    assert "no replication" not in doc
    assert "| replication |" in doc
