/* ui_route: what the agent answers for "/", the content path and its files
 * (ETag revalidation, gzip, headers), and what it leaves to the API. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ui/ui.h"

static const unsigned char html[] = "<!doctype html>";
static const unsigned char js[] = "export {};";
static const unsigned char jsgz[] = {0x1f, 0x8b, 8, 0};
static const struct ui_asset assets[] = {
    {"index.html", "text/html; charset=utf-8", html, sizeof(html) - 1, NULL, 0, "\"aaaa\""},
    {"js/app.js", "text/javascript; charset=utf-8", js, sizeof(js) - 1, jsgz, sizeof(jsgz),
     "\"bbbb\""},
};

static struct ui_site site(bool enabled, const char *prefix)
{
    struct ui_site s = {enabled, prefix, assets, 2};
    return s;
}

static bool has(const struct ui_reply *r, const char *line)
{
    return memmem(r->headers, r->hlen, line, strlen(line)) != NULL;
}

static void test_root_and_redirects(void **state)
{
    (void)state;
    struct ui_site s = site(true, "/ui/");
    struct ui_reply r;
    assert_true(ui_route(&s, HTTP_M_GET, "/", NULL, NULL, &r));
    assert_int_equal(r.status, 301);
    assert_true(has(&r, "Location: /ui/\r\n"));
    assert_true(ui_route(&s, HTTP_M_GET, "/ui", NULL, NULL, &r));
    assert_int_equal(r.status, 301);
    /* The API and everything else is not the UI's. */
    assert_false(ui_route(&s, HTTP_M_GET, "/v1/kv/x", NULL, NULL, &r));
    assert_false(ui_route(&s, HTTP_M_GET, "/uix", NULL, NULL, &r));
    assert_false(ui_route(&s, HTTP_M_GET, "", NULL, NULL, &r));
    /* Disabled: "/" says so (as Consul), /ui/ is the API's 404. */
    struct ui_site off = site(false, "/ui/");
    assert_true(ui_route(&off, HTTP_M_GET, "/", NULL, NULL, &r));
    assert_int_equal(r.status, 200);
    assert_non_null(strstr((const char *)r.body, "UI disabled"));
    assert_false(ui_route(&off, HTTP_M_GET, "/ui/", NULL, NULL, &r));
    /* Another content path. */
    struct ui_site admin = site(true, "/admin/");
    assert_true(ui_route(&admin, HTTP_M_GET, "/", NULL, NULL, &r));
    assert_true(has(&r, "Location: /admin/\r\n"));
    assert_true(ui_route(&admin, HTTP_M_GET, "/admin/js/app.js", NULL, NULL, &r));
    assert_int_equal(r.status, 200);
}

static void test_files(void **state)
{
    (void)state;
    struct ui_site s = site(true, "/ui/");
    struct ui_reply r;
    assert_true(ui_route(&s, HTTP_M_GET, "/ui/", NULL, NULL, &r));
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ctype, "text/html; charset=utf-8");
    assert_ptr_equal(r.body, html);
    assert_true(has(&r, "ETag: \"aaaa\"\r\n"));
    assert_true(has(&r, "Cache-Control: no-cache\r\n"));
    assert_true(has(&r, "Content-Security-Policy: default-src 'none'; script-src 'self'"));
    assert_true(has(&r, "X-Content-Type-Options: nosniff\r\n"));
    assert_false(has(&r, "Content-Encoding"));
    /* gzip only when asked for, and said so. */
    assert_true(ui_route(&s, HTTP_M_GET, "/ui/js/app.js", NULL, "br, gzip;q=0.8", &r));
    assert_ptr_equal(r.body, jsgz);
    assert_true(has(&r, "Content-Encoding: gzip\r\n"));
    assert_true(has(&r, "Vary: Accept-Encoding\r\n"));
    assert_true(ui_route(&s, HTTP_M_HEAD, "/ui/js/app.js", NULL, "gzip;q=0", &r));
    assert_ptr_equal(r.body, js);
    /* Revalidation. */
    assert_true(ui_route(&s, HTTP_M_GET, "/ui/js/app.js", "W/\"x\", \"bbbb\"", "gzip", &r));
    assert_int_equal(r.status, 304);
    assert_int_equal(r.len, 0);
    assert_true(has(&r, "ETag: \"bbbb\"\r\n"));
    assert_true(ui_route(&s, HTTP_M_GET, "/ui/", "\"bbbb\"", NULL, &r));
    assert_int_equal(r.status, 200);
    /* Unknown files and methods. */
    assert_true(ui_route(&s, HTTP_M_GET, "/ui/../etc/passwd", NULL, NULL, &r));
    assert_int_equal(r.status, 404);
    assert_true(ui_route(&s, HTTP_M_PUT, "/ui/", NULL, NULL, &r));
    assert_int_equal(r.status, 405);
    assert_true(has(&r, "Allow: GET, HEAD\r\n"));
}

static void test_header_parsers(void **state)
{
    (void)state;
    assert_true(ui_accepts_gzip("gzip"));
    assert_true(ui_accepts_gzip("deflate, GZIP"));
    assert_true(ui_accepts_gzip("x-gzip"));
    assert_true(ui_accepts_gzip("*"));
    assert_true(ui_accepts_gzip("gzip;q=0.5"));
    assert_true(ui_accepts_gzip("gzip; q=0.001"));
    assert_false(ui_accepts_gzip(NULL));
    assert_false(ui_accepts_gzip(""));
    assert_false(ui_accepts_gzip("identity"));
    assert_false(ui_accepts_gzip("gzip;q=0"));
    assert_false(ui_accepts_gzip("gzip; q=0.000"));
    assert_false(ui_accepts_gzip("gzipx, br"));
    assert_true(ui_etag_matches("*", "\"a\""));
    assert_true(ui_etag_matches("\"b\" , \"a\"", "\"a\""));
    assert_true(ui_etag_matches("W/\"a\"", "\"a\""));
    assert_false(ui_etag_matches("\"ab\"", "\"a\""));
    assert_false(ui_etag_matches("", "\"a\""));
    assert_false(ui_etag_matches(NULL, "\"a\""));
}

static void test_content_path(void **state)
{
    (void)state;
    char out[64], err[256];
    assert_int_equal(ui_content_path("ui", out, sizeof(out), err, sizeof(err)), 0);
    assert_string_equal(out, "/ui/");
    assert_int_equal(ui_content_path("/ui", out, sizeof(out), err, sizeof(err)), 0);
    assert_string_equal(out, "/ui/");
    assert_int_equal(ui_content_path("", out, sizeof(out), err, sizeof(err)), 0);
    assert_string_equal(out, "/ui/");
    assert_int_equal(ui_content_path("/ops/console/", out, sizeof(out), err, sizeof(err)), 0);
    assert_string_equal(out, "/ops/console/");
    assert_int_equal(ui_content_path("/", out, sizeof(out), err, sizeof(err)), -1);
    assert_non_null(strstr(err, "would hide the API"));
    assert_int_equal(ui_content_path("v1/ui", out, sizeof(out), err, sizeof(err)), -1);
    assert_int_equal(ui_content_path("/a/../b", out, sizeof(out), err, sizeof(err)), -1);
    assert_int_equal(ui_content_path("/a%2f/", out, sizeof(out), err, sizeof(err)), -1);
    assert_int_equal(ui_content_path("/x\n/", out, sizeof(out), err, sizeof(err)), -1);
    char longp[300];
    memset(longp, 'a', sizeof(longp) - 1);
    longp[sizeof(longp) - 1] = '\0';
    assert_int_equal(ui_content_path(longp, out, sizeof(out), err, sizeof(err)), -1);
}

/* The table built into the binary has what index.html loads. */
static void test_built_in_assets(void **state)
{
    (void)state;
    static const char *const want[] = {"index.html", "js/app.js", "css/app.css", "favicon.svg"};
    for (size_t w = 0; w < sizeof(want) / sizeof(want[0]); w++) {
        bool found = false;
        for (size_t i = 0; i < ui_nassets; i++)
            if (!strcmp(ui_assets[i].path, want[w])) {
                found = true;
                assert_true(ui_assets[i].len > 0);
                assert_int_equal(strlen(ui_assets[i].etag), 18);
                if (ui_assets[i].gz)
                    assert_true(ui_assets[i].gzlen < ui_assets[i].len);
            }
        assert_true(found);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_root_and_redirects), cmocka_unit_test(test_files),
        cmocka_unit_test(test_header_parsers),     cmocka_unit_test(test_content_path),
        cmocka_unit_test(test_built_in_assets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
