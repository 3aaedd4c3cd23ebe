#!/usr/bin/python3
"""bench/ui_paint.py URL COUNT RUNS: the web UI's first paint against the
agent at URL, in headless Chromium (Debian's chromium + python3-selenium).

Measures the services page before and after registering COUNT services
through the catalog API (in the same run: the small catalog is the peer),
each RUNS times from a fresh page load (cache disabled through DevTools):
DOMContentLoaded, first contentful paint, the moment the list was rendered
(the page's performance mark 'cairn:services-rendered', after its first
/v1/internal/ui/services answer: the first 200 rows, with the count of all
and the filter over all), and that request's own time and size.
Prints figures; never passes or fails on them."""
import concurrent.futures
import statistics
import sys
import time

import requests
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

url, count, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])


def browser():
    o = webdriver.ChromeOptions()
    o.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=1280,900"):
        o.add_argument(a)
    d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)
    d.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
    return d


def measure(d, want):
    out = []
    for _ in range(runs):
        d.get("about:blank")
        d.get(url + "/ui/#/services")
        WebDriverWait(d, 120).until(lambda d: d.execute_script(
            "return document.querySelectorAll('#services-table tbody tr').length") >= min(want, 200))
        WebDriverWait(d, 30).until(lambda d: d.execute_script(
            "return performance.getEntriesByName('cairn:services-rendered').length"))
        out.append(d.execute_script("""
            const nav = performance.getEntriesByType('navigation')[0];
            const fcp = performance.getEntriesByName('first-contentful-paint')[0];
            const mark = performance.getEntriesByName('cairn:services-rendered')[0];
            const res = performance.getEntriesByType('resource')
                .filter((r) => r.name.includes('/v1/internal/ui/services'))[0];
            return {dcl: nav.domContentLoadedEventEnd, fcp: fcp ? fcp.startTime : -1,
                    list: mark.startTime, api: res ? res.duration : -1,
                    bytes: res ? res.transferSize : -1};"""))
    return out


def report(label, rows):
    def med(k):
        return statistics.median(r[k] for r in rows)
    print("%-26s DOMContentLoaded %6.0f ms  first paint %6.0f ms  list rendered %6.0f ms"
          "  (/v1/internal/ui/services %5.0f ms, %d bytes)  median of %d"
          % (label, med("dcl"), med("fcp"), med("list"), med("api"), med("bytes"), len(rows)))


def register(n):
    s = requests.Session()

    def one(i):
        body = {"Node": "node-%03d" % (i % 100), "Address": "10.0.%d.%d" % (i % 100 // 250, i % 250),
                "Service": {"ID": "svc-%05d" % i, "Service": "svc-%05d" % i,
                            "Tags": ["v%d" % (i % 3), "zone-%d" % (i % 4)], "Port": 8000 + i % 1000}}
        if i % 10 == 0:
            body["Check"] = {"CheckID": "svc-%05d-check" % i, "Name": "probe",
                             "ServiceID": "svc-%05d" % i,
                             "Status": "critical" if i % 20 == 0 else "passing",
                             "Output": "HTTP GET: 503"}
        r = s.put(url + "/v1/catalog/register", json=body, timeout=60)
        r.raise_for_status()
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        list(ex.map(one, range(n)))


d = browser()
try:
    base = len(requests.get(url + "/v1/catalog/services").json())
    report("%d service(s):" % base, measure(d, base))
    t = time.monotonic()
    register(count)
    print("registered %d services on 100 nodes through /v1/catalog/register in %.1f s"
          % (count, time.monotonic() - t))
    report("%d services:" % (base + count), measure(d, base + count))
finally:
    d.quit()
