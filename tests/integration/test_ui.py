"""The web UI (src/ui/, ui/) in a real browser: Debian's headless Chromium
driven by Debian's python3-selenium (scripts/install-deps.sh installs both).

One agent started with -ui; the browser opens /ui/ and every change is made
through the HTTP API (or the UI) while the page stays loaded: what the test
waits for must arrive through the page's blocking queries. Waits are on DOM
state (WebDriverWait), never sleeps. Screenshots go to
build/test-artifacts/ui/ (the path is printed at the end of the module).
"""
import base64
import json
import os
import pathlib
import re
import shutil
import sys
import threading

import pytest
import requests

from conftest import Agent, wait_until

try:
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # pragma: no cover - scripts/install-deps.sh installs it
    webdriver = None

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SHOTS = pathlib.Path(os.environ.get("CAIRN_UI_ARTIFACTS", ROOT / "build" / "test-artifacts" / "ui"))
WAIT = 30  # a guard for a loaded machine, not a speed limit

if webdriver is None or not os.path.exists(CHROMIUM) or not os.path.exists(CHROMEDRIVER):
    pytest.skip("needs Debian's chromium, chromium-driver and python3-selenium "
                "(scripts/install-deps.sh installs them)", allow_module_level=True)


@pytest.fixture(scope="module")
def ui_agent(tmp_path_factory):
    a = Agent(tmp_path_factory.mktemp("ui"), name="it-ui", extra_args=["-ui"])
    a.start()
    yield a
    a.close()


@pytest.fixture(scope="module")
def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1280,900", "--disable-extensions", "--no-first-run"):
        opts.add_argument(arg)
    # The DevTools network log: what headers the page's requests carried.
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    try:
        d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    except WebDriverException as e:
        pytest.fail("cannot start headless chromium: %s" % e)
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield d
    d.quit()
    sys.__stderr__.write("\ntest_ui: screenshots in %s\n" % SHOTS)


def shot(d, name):
    d.save_screenshot(str(SHOTS / (name + ".png")))


def wait(d, pred, what):
    return WebDriverWait(d, WAIT).until(lambda drv: pred(drv), message=what)


def css(d, sel):
    return d.find_elements(By.CSS_SELECTOR, sel)


def console_errors(d):
    return [e for e in d.get_log("browser") if e["level"] == "SEVERE"]


def go(d, agent, route):
    """Navigate inside the loaded page (a hash change: no reload)."""
    if not d.current_url.startswith(agent.url("/ui/")):
        d.get(agent.url("/ui/") + route)
    else:
        d.execute_script("location.hash = arguments[0]", route)


# ---- the files themselves ---------------------------------------------------

def test_served_files_headers(ui_agent):
    r = ui_agent.get("/", allow_redirects=False)
    assert r.status_code == 301 and r.headers["Location"] == "/ui/"
    r = ui_agent.get("/ui", allow_redirects=False)
    assert r.status_code == 301 and r.headers["Location"] == "/ui/"
    r = ui_agent.get("/ui/", headers={"Accept-Encoding": "identity"})
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/html; charset=utf-8"
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Cache-Control"] == "no-cache"
    assert "<script type=\"module\" src=\"js/app.js\">" in r.text
    # Nothing from another origin: no CDN links, no inline scripts.
    assert "http://" not in r.text and "https://" not in r.text
    etag = r.headers["ETag"]
    r2 = ui_agent.get("/ui/", headers={"If-None-Match": etag})
    assert r2.status_code == 304 and r2.content == b"" and r2.headers["ETag"] == etag
    r3 = ui_agent.get("/ui/js/app.js", headers={"Accept-Encoding": "gzip"}, stream=True)
    assert r3.status_code == 200
    assert r3.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert r3.headers["Content-Encoding"] == "gzip"
    assert b"hashchange" in r3.raw.read(decode_content=True)
    assert ui_agent.get("/ui/css/app.css").headers["Content-Type"].startswith("text/css")
    assert ui_agent.get("/ui/favicon.svg").headers["Content-Type"] == "image/svg+xml"
    assert ui_agent.get("/ui/nope.js").status_code == 404
    r = ui_agent.request("POST", "/ui/")
    assert r.status_code == 405 and r.headers["Allow"] == "GET, HEAD"
    # The API behind it is untouched.
    assert ui_agent.get("/v1/status/leader").status_code == 200


def test_ui_sources_have_no_html_sinks():
    """API data reaches the DOM as text only: no HTML-parsing sinks, no eval,
    no inline handlers or styles (the CSP would refuse them anyway), no
    other origin."""
    bad = re.compile(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|"
                     r"new Function|\bon[a-z]+=\"|style=\"|https?://")
    for f in sorted((ROOT / "ui").rglob("*")):
        if f.suffix in (".js", ".html"):
            for n, line in enumerate(f.read_text().splitlines(), 1):
                assert not bad.search(line), "%s:%d: %s" % (f, n, line.strip())


def test_internal_ui_endpoints(ui_agent):
    """What the pages read: Consul's UIServices summary (plus instances by
    health), the node dump, and the keys each session holds; all blocking."""
    a = ui_agent
    for i, tags in ((1, ["b", "a"]), (2, ["a"])):
        r = a.put_json("/v1/agent/service/register", {
            "ID": "sum%d" % i, "Name": "summed", "Tags": tags,
            "Check": {"CheckID": "sum%d-ttl" % i, "TTL": "60s"}})
        assert r.status_code == 200, r.text
    assert a.put("/v1/agent/check/pass/sum1-ttl").status_code == 200
    r = a.get("/v1/internal/ui/services")
    assert r.status_code == 200 and int(r.headers["X-Consul-Index"]) > 0
    s = next(x for x in r.json() if x["Name"] == "summed")
    assert s["Tags"] == ["a", "b"] and s["Nodes"] == ["it-ui", "it-ui"]
    assert s["InstanceCount"] == 2 and s["Datacenter"] == "dc1"
    # serfHealth counted once for the service, plus the two TTL checks
    assert (s["ChecksPassing"], s["ChecksWarning"], s["ChecksCritical"]) == (2, 0, 1)
    assert (s["InstancesPassing"], s["InstancesWarning"], s["InstancesCritical"]) == (1, 0, 1)
    assert s["ExternalSources"] is None and s["GatewayConfig"] == {}
    # Blocking: parked until a check changes.
    idx = int(r.headers["X-Consul-Index"])
    base = a.parked()
    got = {}
    t = threading.Thread(target=lambda: got.update(r=requests.get(
        a.url("/v1/internal/ui/services"), params={"index": idx, "wait": "30s"}, timeout=60)))
    t.start()
    a.wait_parked(base + 1)
    assert a.put("/v1/agent/check/pass/sum2-ttl").status_code == 200
    t.join()
    r2 = got["r"]
    assert int(r2.headers["X-Consul-Index"]) > idx
    s = next(x for x in r2.json() if x["Name"] == "summed")
    assert s["InstancesPassing"] == 2
    nodes = a.get("/v1/internal/ui/nodes").json()
    me = next(n for n in nodes if n["Node"] == "it-ui")
    assert {"sum1", "sum2"} <= {x["ID"] for x in me["Services"]}
    assert "serfHealth" in {c["CheckID"] for c in me["Checks"]}
    sid = a.put_json("/v1/session/create", {"Name": "s"}).json()["ID"]
    assert a.put("/v1/kv/held/k", data="v", params={"acquire": sid}).json() is True
    assert a.get("/v1/internal/ui/session-locks").json()[sid] == ["held/k"]
    a.put("/v1/session/destroy/" + sid)
    for path in ("/v1/internal/ui/services", "/v1/internal/ui/nodes"):
        r = a.get(path, params={"filter": "Name == x"})
        assert r.status_code == 400 and "not supported" in r.text
    for i in (1, 2):
        a.put("/v1/agent/service/deregister/sum%d" % i)


# ---- the pages, live ----------------------------------------------------------

def test_service_with_failing_check_appears_live(ui_agent, browser):
    d = browser
    d.get(ui_agent.url("/ui/"))
    wait(d, lambda d: css(d, 'tr[data-service="consul"]'), "the consul service listed")
    d.execute_script("window.__noReload = 42")
    # The page waits in a blocking query (parked in the agent), not a poll.
    ui_agent.wait_parked(1)
    # Registered after the page rendered: it must come through the blocking query.
    r = ui_agent.put_json("/v1/agent/service/register", {
        "ID": "web1", "Name": "web", "Tags": ["v1", "<img src=x onerror=alert(1)>"],
        "Port": 8080, "Check": {"CheckID": "web1-ttl", "Name": "web ttl", "TTL": "60s"}})
    assert r.status_code == 200, r.text
    r = ui_agent.put("/v1/agent/check/fail/web1-ttl", params={"note": "db down: <b>timeout</b>"})
    assert r.status_code == 200, r.text
    # (Rows are rebuilt on every update: read them inside the wait.)
    wait(d, lambda d: "1 critical" in d.execute_script(
        "const r = document.querySelector('tr[data-service=\"web\"] .badge.critical');"
        "return r ? r.textContent : ''"), "web listed with 1 critical instance")
    assert d.execute_script("return window.__noReload") == 42, "the page reloaded"
    # API text is text: the tag shows literally, no element was made of it.
    tags = d.execute_script("return [...document.querySelectorAll("
                            "'tr[data-service=\"web\"] .tag')].map((t) => t.textContent)")
    assert "<img src=x onerror=alert(1)>" in tags
    assert not css(d, 'tr[data-service="web"] img')
    shot(d, "services")

    # The filter box narrows the list.
    box = css(d, "#service-filter")[0]
    box.send_keys("we")
    wait(d, lambda d: not css(d, 'tr[data-service="consul"]'), "consul filtered out")
    assert css(d, 'tr[data-service="web"]')
    box.send_keys(Keys.BACKSPACE, Keys.BACKSPACE)
    wait(d, lambda d: css(d, 'tr[data-service="consul"]'), "filter cleared")

    # Open the service: its instance and the check's output.
    css(d, 'tr[data-service="web"] a')[0].click()
    wait(d, lambda d: d.execute_script(
        "const o = document.querySelector('[data-instance=\"web1\"] [data-check=\"web1-ttl\"] "
        "pre.output'); return o && o.textContent") == "db down: <b>timeout</b>",
        "the check's output")
    assert "#/services/web" in d.current_url
    # The check turning passing arrives live as well.
    ui_agent.put("/v1/agent/check/pass/web1-ttl", params={"note": "all good"})
    wait(d, lambda d: d.execute_script(
        "const o = document.querySelector('[data-check=\"web1-ttl\"] pre.output');"
        "return o && o.textContent") == "all good" and
        css(d, '[data-check="web1-ttl"] .badge.passing'), "check passing with its new output")
    assert d.execute_script("return window.__noReload") == 42
    shot(d, "service-web")
    assert not console_errors(d), console_errors(d)


def test_nodes_page_lists_checks(ui_agent, browser):
    d = browser
    go(d, ui_agent, "#/nodes")
    wait(d, lambda d: css(d, '[data-node="it-ui"] [data-check="serfHealth"] .badge.passing'),
         "serfHealth passing")
    assert "web" in d.execute_script(
        "return document.querySelector('[data-node=\"it-ui\"]').textContent")


def kv_value(agent, key):
    e = agent.kv_get(key)
    return None if e is None else base64.b64decode(e["Value"] or "").decode()


def test_kv_edit_in_ui_reads_back_through_api(ui_agent, browser):
    d = browser
    assert ui_agent.kv_put("app/config/db", "postgres://old") is True
    go(d, ui_agent, "#/kv/app/config/db")
    area = wait(d, lambda d: next((e for e in css(d, "#kv-value")
                                   if e.get_property("value") == "postgres://old"), None),
                "the value shown")
    # A change made elsewhere shows up while the key is open (not edited).
    ui_agent.kv_put("app/config/db", "postgres://newer")
    wait(d, lambda d: area.get_property("value") == "postgres://newer", "live update")
    area.clear()
    area.send_keys("postgres://edited-in-the-ui\nline 2")
    css(d, "#kv-save")[0].click()
    wait(d, lambda d: "Saved" in d.find_element(By.ID, "main").text, "saved")
    assert kv_value(ui_agent, "app/config/db") == "postgres://edited-in-the-ui\nline 2"
    shot(d, "kv-key")


def test_kv_create_and_delete_in_folder(ui_agent, browser):
    d = browser
    ui_agent.kv_put("app/config/other", "x")
    go(d, ui_agent, "#/kv/app/config/")
    wait(d, lambda d: css(d, '[data-key="app/config/db"]'), "the folder listed")
    css(d, "#kv-new-key")[0].send_keys("created")
    css(d, "#kv-new-value")[0].send_keys("made in a folder")
    css(d, "#kv-create-button")[0].click()
    wait_until(lambda: kv_value(ui_agent, "app/config/created") == "made in a folder",
               what="the key created through the UI")
    # The UI opens the new key; delete it there (asks once more in the page).
    wait(d, lambda d: (css(d, "#kv-value") or [None])[0] is not None
         and css(d, "#kv-value")[0].get_property("value") == "made in a folder", "key page")
    css(d, "#kv-delete")[0].click()
    css(d, "#kv-confirm-delete")[0].click()
    wait_until(lambda: ui_agent.kv_get("app/config/created") is None, what="the key deleted")
    # Back in the folder, which no longer lists it.
    wait(d, lambda d: css(d, '[data-key="app/config/db"]') and
         not css(d, '[data-key="app/config/created"]'), "the folder without the key")
    assert d.current_url.endswith("#/kv/app/config/")
    shot(d, "kv-folder")


def test_sessions_show_their_locks(ui_agent, browser):
    d = browser
    r = ui_agent.put_json("/v1/session/create", {"Name": "ui-lock", "TTL": "60s"})
    sid = r.json()["ID"]
    go(d, ui_agent, "#/sessions")
    wait(d, lambda d: css(d, '[data-session="%s"]' % sid), "the session listed")
    assert ui_agent.put("/v1/kv/locks/leader", data="me", params={"acquire": sid}).json() is True
    wait(d, lambda d: css(d, '[data-session="%s"] [data-lock="locks/leader"]' % sid),
         "the lock shown live")
    shot(d, "sessions")
    # Invalidate from the page: asks once more, then the lock is released.
    button = css(d, '[data-session="%s"] button' % sid)[0]
    button.click()
    assert "Really" in button.text
    button.click()
    wait_until(lambda: "Session" not in ui_agent.kv_get("locks/leader"), what="lock released")
    wait(d, lambda d: not css(d, '[data-session="%s"]' % sid), "the session gone from the page")


def test_cluster_and_agent_pages(ui_agent, browser):
    d = browser
    go(d, ui_agent, "#/cluster")
    wait(d, lambda d: "leader" in d.execute_script(
        "const p = document.querySelector('#raft-peers tr[data-peer=\"it-ui\"]');"
        "return p ? p.textContent : ''"), "this server leads in the Raft configuration")
    assert "it-ui" in d.execute_script(
        "return document.getElementById('cluster-leader').textContent")
    go(d, ui_agent, "#/agent")
    pre = wait(d, lambda d: next((e for e in css(d, "#debug-config") if "NodeName" in e.text),
                                 None), "DebugConfig shown")
    shown = json.loads(pre.text)
    assert shown["NodeName"] == "it-ui"
    assert shown["UIConfig"] == {"ContentPath": "/ui/", "Dir": "", "Enabled": True,
                                 "MetricsProvider": ""}
    shot(d, "agent")


def test_token_is_sent_as_header(ui_agent, browser):
    d = browser
    go(d, ui_agent, "#/settings")
    box = wait(d, lambda d: (css(d, "#acl-token") or [None])[0], "the token field")
    box.clear()
    box.send_keys("0f5b9c43-secret")
    css(d, "#acl-token-save")[0].click()
    assert d.execute_script("return localStorage.getItem('cairn.token')") == "0f5b9c43-secret"
    d.get_log("performance")  # drop what came before
    go(d, ui_agent, "#/services")
    wait(d, lambda d: css(d, 'tr[data-service="web"]'), "services listed")

    def sent():
        for e in d.get_log("performance"):
            m = json.loads(e["message"])["message"]
            if m.get("method") != "Network.requestWillBeSent":
                continue
            req = m["params"]["request"]
            if "/v1/internal/ui/services" in req["url"]:
                return req["headers"].get("X-Consul-Token")
        return None
    assert sent() == "0f5b9c43-secret"
    css(d, "a[href='#/settings']")[0].click()
    wait(d, lambda d: css(d, "#acl-token-clear"), "settings")
    css(d, "#acl-token-clear")[0].click()
    assert d.execute_script("return localStorage.getItem('cairn.token')") is None


def test_keyboard_navigation(ui_agent, browser):
    d = browser
    go(d, ui_agent, "#/services")
    d.refresh()  # sequential focus navigation starts at the top of a fresh page
    wait(d, lambda d: css(d, 'tr[data-service="consul"]'), "services listed")
    body = d.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)
    ae = d.switch_to.active_element
    assert ae.get_attribute("class") == "skip", ae.get_attribute("outerHTML")
    seen = []
    for _ in range(4):
        d.switch_to.active_element.send_keys(Keys.TAB)
        seen.append(d.switch_to.active_element.text)
    assert seen[:3] == ["cairn", "Services", "Nodes"], seen
    # Focus is visible (an outline from :focus-visible).
    style = d.execute_script(
        "return getComputedStyle(document.activeElement).outlineStyle")
    assert style != "none"
    d.switch_to.active_element.send_keys(Keys.ENTER)
    wait(d, lambda d: d.current_url.endswith("#/kv/"), "Enter follows the link")


def test_phone_width(ui_agent, browser):
    d = browser
    ui_agent.kv_put("phone/key", "a value long enough to wrap " * 8)
    d.set_window_size(390, 844)
    try:
        for route, sel in (("#/services", 'tr[data-service="consul"]'),
                           ("#/services/consul", '[data-instance="consul"]'),
                           ("#/nodes", '[data-node="it-ui"]'),
                           ("#/kv/phone/key", "#kv-value")):
            go(d, ui_agent, route)
            wait(d, lambda d: css(d, sel), route)
            inner = d.execute_script("return document.documentElement.clientWidth")
            assert inner <= 400
            wide = d.execute_script("return document.documentElement.scrollWidth")
            assert wide <= inner, "%s scrolls sideways at phone width (%d > %d)" % (
                route, wide, inner)
            shot(d, "phone-" + route.strip("#/").replace("/", "-"))
        # Table rows became cards: the header row is hidden.
        go(d, ui_agent, "#/services")
        wait(d, lambda d: css(d, 'tr[data-service="consul"]'), "services")
        assert not css(d, "#services-table thead")[0].is_displayed()
    finally:
        d.set_window_size(1280, 900)


def test_long_list_pages(ui_agent, browser):
    """A long list shows 200 rows and a button for the next ones; the filter
    covers every service."""
    d = browser
    for batch in range(4):  # 256 services in 4 transactions of 64
        ops = [{"Service": {"Verb": "set", "Node": "it-ui", "Service": {
            "ID": "bulk-%03d" % i, "Service": "bulk-%03d" % i}}}
            for i in range(batch * 64, batch * 64 + 64)]
        r = ui_agent.put_json("/v1/txn", ops)
        assert r.status_code == 200, r.text
    go(d, ui_agent, "#/services")
    count = "return document.querySelectorAll('#services-table tbody tr').length"
    wait(d, lambda d: css(d, 'tr[data-service="bulk-000"]') and d.execute_script(count) == 200,
         "the first 200 rows")
    more = css(d, "button.more")[0]
    assert "Show" in more.text and "of 25" in more.text  # 256 + consul + web (+ bulk)
    more.click()
    wait(d, lambda d: d.execute_script(count) > 200 and not css(d, "button.more"), "all rows")
    box = css(d, "#service-filter")[0]
    box.send_keys("bulk-25")
    wait(d, lambda d: d.execute_script(count) == 6, "bulk-250..255 only")
    box.clear()
    box.send_keys(Keys.SPACE, Keys.BACKSPACE)


def test_odd_key_names_round_trip(ui_agent, browser):
    d = browser
    key = "app/odd/a b#?&%é"
    r = ui_agent.put("/v1/kv/" + requests.utils.quote(key, safe="/"), data="odd")
    assert r.json() is True
    go(d, ui_agent, "#/kv/app/odd/")
    link = wait(d, lambda d: (css(d, "#kv-list li.key a") or [None])[0], "the key listed")
    assert link.text.endswith("a b#?&%é")
    link.click()
    wait(d, lambda d: css(d, "#kv-value") and
         css(d, "#kv-value")[0].get_property("value") == "odd", "the value")
    assert d.find_element(By.TAG_NAME, "h1").text == "a b#?&%é"


def test_reconnects_after_agent_restart(ui_agent, browser):
    """The agent going away shows in the header and the page's blocking
    queries back off; when it is back they resume without a reload."""
    d = browser
    go(d, ui_agent, "#/services")
    wait(d, lambda d: css(d, "#services-table tbody tr"), "services listed")
    d.execute_script("window.__noReload = 7")
    ui_agent.stop()
    wait(d, lambda d: "retrying in" in d.find_element(By.ID, "live").text, "error shown")
    ui_agent.start()
    ui_agent.put_json("/v1/agent/service/register", {"ID": "after", "Name": "after-restart"})
    wait(d, lambda d: css(d, 'tr[data-service="after-restart"]'), "live again (backoff <= 30 s)")
    assert d.find_element(By.ID, "live").text == "live"
    assert d.execute_script("return window.__noReload") == 7
