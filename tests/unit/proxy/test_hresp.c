/* proxy/hresp.c: the agent's answers as the proxy reads them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "proxy/hresp.h"

static char err[200];

static int parse(const char *s, int eof, struct px_hresp *r)
{
    return px_hresp_parse(s, strlen(s), eof, r, err, sizeof(err));
}

static void test_lengths_chunks_and_eof(void **st)
{
    (void)st;
    struct px_hresp r;
    const char *a = "HTTP/1.1 200 OK\r\nx-consul-index: 42\r\nContent-Length: 5\r\n\r\nhello";
    assert_int_equal(parse(a, 0, &r), 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.index, 42);
    assert_int_equal(r.body.len, 5);
    assert_memory_equal(r.body.p, "hello", 5);
    cn_buf_free(&r.body);
    /* every proper prefix asks for more, and is an error at the end */
    for (size_t i = 0; i < strlen(a); i++) {
        assert_int_equal(px_hresp_parse(a, i, 0, &r, err, sizeof(err)), 1);
        assert_int_equal(px_hresp_parse(a, i, 1, &r, err, sizeof(err)), CN_EPROTO);
    }
    const char *c = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "3\r\n[1,\r\na;ext\r\n2,3,4,5,6]\r\n0\r\n\r\n";
    assert_int_equal(parse(c, 0, &r), 0);
    assert_int_equal(r.body.len, 13);
    assert_memory_equal(r.body.p, "[1,2,3,4,5,6]", 13);
    assert_int_equal(r.index, 0);
    cn_buf_free(&r.body);
    const char *e = "HTTP/1.0 500 Internal Server Error\r\n\r\nboom";
    assert_int_equal(parse(e, 0, &r), 1); /* no length: up to the end */
    assert_int_equal(parse(e, 1, &r), 0);
    assert_int_equal(r.status, 500);
    assert_int_equal(r.body.len, 4);
    cn_buf_free(&r.body);
}

static void test_refusals(void **st)
{
    (void)st;
    struct px_hresp r;
    static const char *const bad[] = {
        "HTTP/2 200 OK\r\n\r\n",
        "HTTP/1.1 20 OK\r\n\r\n",
        "HTTP/1.1 999 What\r\n\r\n",
        "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "HTTP/1.1 200 OK\r\nX-Consul-Index: x\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (parse(bad[i], 1, &r) != CN_EPROTO)
            fail_msg("accepted: %s", bad[i]);
        assert_non_null(strstr(err, "bad HTTP response"));
    }
}

/* X-Consul-ContentHash (hash-based blocking): kept when it is letters and
 * digits, sent back as ?hash=; anything else is refused, never passed on. */
static void test_content_hash(void **st)
{
    (void)st;
    struct px_hresp r;
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nX-Consul-Contenthash: 9fa0c3e1d2b4a5f6\r\n"
                           "Content-Length: 2\r\n\r\n{}",
                           0, &r),
                     0);
    assert_string_equal(r.hash, "9fa0c3e1d2b4a5f6");
    assert_int_equal(r.index, 0);
    cn_buf_free(&r.body);
    assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 0, &r), 0);
    assert_string_equal(r.hash, "");
    cn_buf_free(&r.body);
    static const char *const bad[] = {"", "ab&index=1", "a b",
                                      "0123456789012345678901234567890123456789"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char a[300];
        snprintf(a, sizeof(a), "HTTP/1.1 200 OK\r\nX-Consul-ContentHash: %s\r\n\r\n", bad[i]);
        assert_int_equal(parse(a, 1, &r), CN_EPROTO);
        assert_non_null(strstr(err, "X-Consul-ContentHash"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lengths_chunks_and_eof),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_content_hash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
