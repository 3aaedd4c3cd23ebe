/* Unit tests for the HTTP request parser (http_parse_buffer). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/mem.h"
#include "http/http.h"
#include "http/http_int.h"

/* What the callback saw, copied out (the request is valid only in the call). */
struct seen {
    int n;
    int method[8];
    char method_str[8][16];
    char path[8][256];
    char target[8][256];
    char body[8][4200];
    size_t body_len[8];
    char hdr[8][128]; /* value of header `want_hdr` */
    const char *want_hdr;
    size_t nparams[8];
    char params[8][512]; /* "k=v;k;..." (k alone: no value) */
};

static void collect(void *arg, struct http_req *req)
{
    struct seen *s = arg;
    if (s->n >= 8)
        return;
    int i = s->n++;
    s->method[i] = (int)req->method;
    snprintf(s->method_str[i], sizeof(s->method_str[i]), "%s", req->method_str);
    snprintf(s->path[i], sizeof(s->path[i]), "%s", req->path);
    assert_int_equal(strlen(req->path), req->path_len);
    snprintf(s->target[i], sizeof(s->target[i]), "%s", req->raw_target);
    assert_true(req->body_len < sizeof(s->body[i]));
    memcpy(s->body[i], req->body, req->body_len + 1); /* includes the NUL */
    s->body_len[i] = req->body_len;
    const char *h = s->want_hdr ? http_req_header(req, s->want_hdr) : NULL;
    snprintf(s->hdr[i], sizeof(s->hdr[i]), "%s", h ? h : "(null)");
    s->nparams[i] = req->nparams;
    char *o = s->params[i];
    size_t left = sizeof(s->params[i]);
    for (size_t k = 0; k < req->nparams; k++) {
        const struct http_param *p = &req->params[k];
        int w = p->has_value ? snprintf(o, left, "%s=%s;", p->key, p->value)
                             : snprintf(o, left, "%s;", p->key);
        o += w;
        left -= (size_t)w;
    }
}

static int parse(const char *s, struct seen *out)
{
    return http_parse_buffer(s, strlen(s), 1024, 4096, collect, out);
}

/* A blocking query as Consul's Go client sends it (and cairn's parked.py,
 * and wrk's GET) fits the request's inline block: a parked query costs one
 * connection and one block of HTTP__REQ_BLOCK bytes, no overflow block. */
static void inline_cb(void *arg, struct http_req *req)
{
    const struct http__req *r = (const struct http__req *)req;
    *(int *)arg = r->arena.blocks == NULL && (r->flags & HTTP__R_EXACT) ? 1 : 2;
}

/* ...and once complete it is moved to an exact-size block
 * (http__req_compact): a parked query holds its bytes, not the parse block.
 * parked.py's query and one more header take 416 bytes (struct http__req, 200, and its arena). */
static void compact_cb(void *arg, struct http_req *req)
{
    const struct http__req *r = (const struct http__req *)req;
    size_t *sz = arg;
    assert_true(r->flags & HTTP__R_EXACT);
    *sz = (size_t)(r->arena.end - (const char *)r);
    /* every pointer was rebased into the new block */
    const char *lo = (const char *)r, *hi = r->arena.end;
    assert_true(req->path >= lo && req->path < hi);
    assert_true(req->raw_target >= lo && req->raw_target < hi);
    assert_string_equal(req->path, "/v1/kv/bench/parked");
    assert_string_equal(req->raw_target, "/v1/kv/bench/parked?index=12345&wait=5m");
    assert_int_equal(req->nparams, 2);
    assert_true((const char *)req->params >= lo && (const char *)req->params < hi);
    assert_string_equal(http_req_param(req, "index")->value, "12345");
    assert_string_equal(http_req_param(req, "wait")->value, "5m");
    assert_string_equal(http_req_header(req, "host"), "127.0.0.1");
    assert_string_equal(http_req_header(req, "X-Test"), "yes");
    assert_null(http_req_header(req, "X-None"));
    assert_string_equal(req->body, "");
}

static void size_cb(void *arg, struct http_req *req)
{
    const struct http__req *r = (const struct http__req *)req;
    assert_true(r->flags & HTTP__R_EXACT);
    *(size_t *)arg = (size_t)(r->arena.end - (const char *)r);
}

static void test_request_compacts(void **state)
{
    (void)state;
    static const char req[] = "GET /v1/kv/bench/parked?index=12345&wait=5m HTTP/1.1\r\n"
                              "Host: 127.0.0.1\r\nX-Test: yes\r\n\r\n";
    size_t sz = 0;
    assert_int_equal(http_parse_buffer(req, strlen(req), 8192, 1024, compact_cb, &sz), 0);
    print_message("compacted parked query: %zu bytes (parse block %d)\n", sz, HTTP__REQ_BLOCK);
    assert_true(sz <= 416);
}

/* A body in the block moves with it. */
static void body_cb(void *arg, struct http_req *req)
{
    const struct http__req *r = (const struct http__req *)req;
    (void)arg;
    assert_true(r->flags & HTTP__R_EXACT);
    assert_true(req->body >= (const char *)r && req->body < r->arena.end);
    assert_int_equal(req->body_len, 5);
    assert_string_equal(req->body, "hello");
    *(int *)arg = 1;
}

static void test_request_compacts_body(void **state)
{
    (void)state;
    static const char req[] = "PUT /v1/kv/a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
    int seen = 0;
    assert_int_equal(http_parse_buffer(req, strlen(req), 8192, 1024, body_cb, &seen), 0);
    assert_int_equal(seen, 1);
}

static void test_parked_request_fits_inline(void **state)
{
    (void)state;
    static const char *const reqs[] = {
        "GET /v1/health/service/web?dc=dc1&index=123456&passing=1&wait=300000ms HTTP/1.1\r\n"
        "Host: 127.0.0.1:8500\r\nUser-Agent: Go-http-client/1.1\r\n"
        "X-Consul-Token: 0b8ab1bb-8e4d-4b5e-a5a4-1a2b3c4d5e6f\r\nAccept-Encoding: gzip\r\n\r\n",
        "GET /v1/kv/bench/parked?index=12345&wait=5m HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        "GET /v1/health/service/web HTTP/1.1\r\nHost: 127.0.0.1:8500\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
        int fits = 0;
        assert_int_equal(http_parse_buffer(reqs[i], strlen(reqs[i]), 8192, 1024, inline_cb, &fits),
                         0);
        assert_int_equal(fits, 1);
    }
}

/* A Go client's blocking query, byte for byte as net/http and Consul's api
 * package send it (api.KV().Get with WaitIndex, WaitTime 5m and a token),
 * on a server that keeps the headers its handlers read: the compacted
 * request holds the struct, the target, the path, two parameters and two
 * headers, packed (docs/benchmarks.md: a parked query <= 1 KiB). */
static const char go_query[] =
    "GET /v1/kv/bench/parked?index=12345&wait=300000ms HTTP/1.1\r\n"
    "Host: 127.0.0.1:8500\r\nUser-Agent: Go-http-client/1.1\r\n"
    "X-Consul-Token: 0b8ab1bb-8e4d-4b5e-a5a4-1a2b3c4d5e6f\r\nAccept-Encoding: gzip\r\n\r\n";
static const char *const keep_list[] = {"X-Consul-Token", "Authorization", "Accept-Encoding",
                                        "Content-Type", NULL};

static void go_cb(void *arg, struct http_req *req)
{
    const struct http__req *r = (const struct http__req *)req;
    size_t *sz = arg;
    assert_true((r->flags & HTTP__R_EXACT) && (r->flags & HTTP__R_PACKED));
    *sz = (size_t)(r->arena.end - (const char *)r);
    assert_string_equal(req->raw_target, "/v1/kv/bench/parked?index=12345&wait=300000ms");
    assert_string_equal(req->path, "/v1/kv/bench/parked");
    assert_int_equal(req->nparams, 2);
    assert_string_equal(http_req_param(req, "wait")->value, "300000ms");
    assert_string_equal(http_req_header(req, "x-consul-token"),
                        "0b8ab1bb-8e4d-4b5e-a5a4-1a2b3c4d5e6f");
    assert_string_equal(http_req_header(req, "Accept-Encoding"), "gzip");
    assert_null(http_req_header(req, "Host")); /* dropped: no handler reads it */
    assert_null(http_req_header(req, "User-Agent"));
    assert_null(http_req_header(req, "Content-Type")); /* kept if sent; not sent */
    assert_string_equal(req->body, "");
    /* the packed headers: exactly the two kept, in their order */
    static const char want[] = "X-Consul-Token\0"
                               "0b8ab1bb-8e4d-4b5e-a5a4-1a2b3c4d5e6f\0"
                               "Accept-Encoding\0gzip\0";
    assert_memory_equal(r->packed, want, sizeof(want)); /* with the final "\0" */
}

static void test_go_query_keeps_what_handlers_read(void **state)
{
    (void)state;
    size_t sz = 0;
    assert_int_equal(
        http__parse_buffer_keep(go_query, strlen(go_query), 8192, 1024, keep_list, go_cb, &sz), 0);
    /* struct http__req, the parameter array (2 x 24), target 46, path 20,
     * parameter strings 26, headers 52 + 21 + 1 */
    size_t want = sizeof(struct http__req) + 48 + 46 + 20 + 26 + 74;
    print_message("Go client's parked query: %zu bytes compacted (all headers: see below)\n", sz);
    assert_int_equal(sz, want);
    assert_true(sz <= 408);
    size_t all = 0;
    assert_int_equal(http_parse_buffer(go_query, strlen(go_query), 8192, 1024, size_cb, &all), 0);
    print_message("...keeping every header: %zu bytes\n", all);
    assert_int_equal(all, want + 20 + 30); /* Host, User-Agent */
}

/* A body and a chunked body survive compaction with a keep list. */
static void body_keep_cb(void *arg, struct http_req *req)
{
    int *n = arg;
    assert_string_equal(req->body, *n == 0 ? "hello" : "abcdefgh");
    assert_string_equal(http_req_header(req, "content-type"), "text/plain");
    assert_null(http_req_header(req, "Host"));
    (*n)++;
}

static void test_keep_with_bodies(void **state)
{
    (void)state;
    static const char req[] =
        "PUT /v1/kv/a HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
        "Content-Length: 5\r\n\r\nhello"
        "PUT /v1/kv/b HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
        "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n5\r\ndefgh\r\n0\r\n\r\n";
    int n = 0;
    assert_int_equal(
        http__parse_buffer_keep(req, strlen(req), 8192, 1024, keep_list, body_keep_cb, &n), 0);
    assert_int_equal(n, 2);
}

static void test_methods(void **state)
{
    static const struct {
        const char *m;
        int want;
    } cases[] = {
        {"GET", HTTP_M_GET},     {"HEAD", HTTP_M_HEAD},      {"PUT", HTTP_M_PUT},
        {"POST", HTTP_M_POST},   {"DELETE", HTTP_M_DELETE},  {"OPTIONS", HTTP_M_OPTIONS},
        {"PATCH", HTTP_M_PATCH}, {"PROPFIND", HTTP_M_OTHER},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char req[128];
        snprintf(req, sizeof(req), "%s /x HTTP/1.1\r\nHost: a\r\n\r\n", cases[i].m);
        struct seen s = {0};
        assert_int_equal(parse(req, &s), 0);
        assert_int_equal(s.n, 1);
        assert_int_equal(s.method[0], cases[i].want);
        assert_string_equal(s.method_str[0], cases[i].m);
        assert_string_equal(s.path[0], "/x");
    }
}

static void test_path_decoding(void **state)
{
    struct seen s = {0};
    assert_int_equal(parse("GET /v1/kv/a%2Fb+c%20d?x=1 HTTP/1.1\r\n\r\n", &s), 0);
    assert_string_equal(s.path[0], "/v1/kv/a/b+c d");
    assert_string_equal(s.target[0], "/v1/kv/a%2Fb+c%20d?x=1");

    const char *bad[] = {
        "GET /a%00b HTTP/1.1\r\n\r\n", "GET /a%zz HTTP/1.1\r\n\r\n", "GET /a%4 HTTP/1.1\r\n\r\n",
        "GET /a% HTTP/1.1\r\n\r\n",    "GET a/b HTTP/1.1\r\n\r\n",   "GET /?a=%00 HTTP/1.1\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memset(&s, 0, sizeof(s));
        assert_int_equal(parse(bad[i], &s), 400);
        assert_int_equal(s.n, 0);
    }

    memset(&s, 0, sizeof(s));
    assert_int_equal(parse("GET http://example.com:8500/v1/x?y HTTP/1.1\r\n\r\n", &s), 0);
    assert_string_equal(s.path[0], "/v1/x");
    assert_string_equal(s.params[0], "y;");
}

static void probe_cb(void *arg, struct http_req *req)
{
    int *calls = arg;
    (*calls)++;
    const struct http_param *p = http_req_param(req, "stale");
    assert_non_null(p);
    assert_false(p->has_value);
    assert_string_equal(p->value, "");
    p = http_req_param(req, "index");
    assert_non_null(p);
    assert_true(p->has_value);
    assert_string_equal(p->value, "");
    p = http_req_param(req, "dc");
    assert_non_null(p);
    assert_string_equal(p->value, "x"); /* the first of repeated keys */
    assert_null(http_req_param(req, "nope"));
    assert_int_equal(req->nparams, 4);
}

static void test_query(void **state)
{
    struct seen s = {0};
    assert_int_equal(parse("GET /q?a=1+2&b=%20x%3D&stale&index=&tag=a&tag=b&&bad=%zz&c;d=1&"
                           "=v&k%2Bx=y+z HTTP/1.1\r\n\r\n",
                           &s),
                     0);
    assert_int_equal(s.n, 1);
    assert_string_equal(s.params[0], "a=1 2;b= x=;stale;index=;tag=a;tag=b;=v;k+x=y z;");
    assert_int_equal(s.nparams[0], 8);

    /* Lookups and has_value, on a live request. */
    int calls = 0;
    const char *req = "GET /q?stale&index=&dc=x&dc=y HTTP/1.1\r\n\r\n";
    assert_int_equal(http_parse_buffer(req, strlen(req), 1024, 1024, probe_cb, &calls), 0);
    assert_int_equal(calls, 1);
}

static void test_headers(void **state)
{
    struct seen s = {.want_hdr = "x-consul-token"};
    assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\nX-Consul-TOKEN:  secret  \r\n"
                           "Empty:\r\n\r\n",
                           &s),
                     0);
    assert_string_equal(s.hdr[0], "secret");
    s = (struct seen){.want_hdr = "missing"};
    assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\n\r\n", &s), 0);
    assert_string_equal(s.hdr[0], "(null)");
    s = (struct seen){.want_hdr = "empty"};
    assert_int_equal(parse("GET / HTTP/1.1\r\nEmpty:\r\n\r\n", &s), 0);
    assert_string_equal(s.hdr[0], "");

    /* Headers bigger than the request block's inline arena. */
    char big[4096];
    char val[900];
    memset(val, 'v', sizeof(val) - 1);
    val[sizeof(val) - 1] = '\0';
    snprintf(big, sizeof(big), "GET /big HTTP/1.1\r\nA: %s\r\nB: %s\r\nC: %s\r\n\r\n", val, val,
             val);
    s = (struct seen){.want_hdr = "c"};
    assert_int_equal(http_parse_buffer(big, strlen(big), 8192, 1024, collect, &s), 0);
    assert_int_equal(s.n, 1);
    assert_int_equal(strncmp(s.hdr[0], val, 127), 0);
}

static void test_body(void **state)
{
    struct seen s = {0};
    assert_int_equal(parse("PUT /kv HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", &s), 0);
    assert_int_equal(s.body_len[0], 5);
    assert_string_equal(s.body[0], "hello");

    s = (struct seen){0};
    assert_int_equal(parse("PUT /kv HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\nTrailer: x\r\n\r\n",
                           &s),
                     0);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.body_len[0], 7);
    assert_string_equal(s.body[0], "abcdefg");

    s = (struct seen){0};
    assert_int_equal(parse("GET / HTTP/1.1\r\n\r\n", &s), 0);
    assert_int_equal(s.body_len[0], 0);
    assert_string_equal(s.body[0], "");
}

static void test_limits(void **state)
{
    struct seen s = {0};
    char buf[16384];

    /* Header section over max_header_bytes (1024 here): one large header... */
    char val[2000];
    memset(val, 'x', sizeof(val) - 1);
    val[sizeof(val) - 1] = '\0';
    snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nX: %s\r\n\r\n", val);
    assert_int_equal(parse(buf, &s), 431);
    /* ...many small ones... */
    size_t n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\n");
    for (int i = 0; i < 200; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "H%d: v\r\n", i);
    snprintf(buf + n, sizeof(buf) - n, "\r\n");
    assert_int_equal(parse(buf, &s), 431);
    /* ...or a huge target, or an incomplete header section already too big. */
    snprintf(buf, sizeof(buf), "GET /%s HTTP/1.1\r\n\r\n", val);
    assert_int_equal(parse(buf, &s), 431);
    snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nX: %s", val);
    assert_int_equal(parse(buf, &s), 431);
    assert_int_equal(s.n, 0);

    /* Body over max_body_bytes (4096): announced, or accumulated chunks. */
    assert_int_equal(parse("PUT / HTTP/1.1\r\nContent-Length: 4097\r\n\r\n", &s), 413);
    n = (size_t)snprintf(buf, sizeof(buf), "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 5; i++) {
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "400\r\n");
        memset(buf + n, 'b', 1024);
        n += 1024;
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\r\n");
    }
    snprintf(buf + n, sizeof(buf) - n, "0\r\n\r\n");
    assert_int_equal(parse(buf, &s), 413);
    assert_int_equal(s.n, 0);
    /* Exactly at the limit is fine. */
    n = (size_t)snprintf(buf, sizeof(buf), "PUT / HTTP/1.1\r\nContent-Length: 4096\r\n\r\n");
    memset(buf + n, 'c', 4096);
    buf[n + 4096] = '\0';
    assert_int_equal(parse(buf, &s), 0);
    assert_int_equal(s.n, 1);
    assert_int_equal(s.body_len[0], 4096);
}

static void test_garbage(void **state)
{
    const char *bad[] = {
        "\x01\x02garbage\r\n\r\n",
        "GET / HTTP/9.9\r\n\r\n",
        "GET / HTTP/1.1\r\nBad Header\r\n\r\n",
        "PUT / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        "PUT / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "PUT / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct seen s = {0};
        assert_int_equal(parse(bad[i], &s), 400);
        assert_int_equal(s.n, 0);
    }
    /* Incomplete is not an error (yet). */
    struct seen s = {0};
    assert_int_equal(parse("GET / HTTP/1.1\r\nHost:", &s), 0);
    assert_int_equal(s.n, 0);
}

static void test_pipelined(void **state)
{
    struct seen s = {0};
    assert_int_equal(parse("GET /a HTTP/1.1\r\n\r\n"
                           "PUT /b HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi"
                           "DELETE /c?x=1 HTTP/1.1\r\n\r\n"
                           "GET /d",
                           &s),
                     0);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.path[0], "/a");
    assert_string_equal(s.path[1], "/b");
    assert_string_equal(s.body[1], "hi");
    assert_string_equal(s.path[2], "/c");
    assert_int_equal(s.method[2], HTTP_M_DELETE);

    /* A later request that is malformed reports its error after the good ones. */
    s = (struct seen){0};
    assert_int_equal(parse("GET /a HTTP/1.1\r\n\r\nGET /%zz HTTP/1.1\r\n\r\n", &s), 400);
    assert_int_equal(s.n, 1);

    /* Connection: close ends the stream. */
    s = (struct seen){0};
    assert_int_equal(
        parse("GET /a HTTP/1.1\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\n\r\n", &s), 0);
    assert_int_equal(s.n, 1);
}

static void test_oom(void **state)
{
    /* Every allocation failure turns into a 500, never a crash or a leak. */
    const char *req = "PUT /v1/kv/x?a=1&b=2 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                      "\r\n5\r\nhello\r\n0\r\n\r\n";
    int ok = 0;
    for (long i = 0; i < 20; i++) {
        struct seen s = {0};
        cn_mem_fail_after(i);
        int st = http_parse_buffer(req, strlen(req), 1024, 1024, collect, &s);
        cn_mem_fail_after(-1);
        if (st == 0) {
            assert_int_equal(s.n, 1);
            ok++;
        } else {
            assert_int_equal(st, 500);
        }
    }
    assert_true(ok > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_methods),
        cmocka_unit_test(test_path_decoding),
        cmocka_unit_test(test_query),
        cmocka_unit_test(test_headers),
        cmocka_unit_test(test_body),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_pipelined),
        cmocka_unit_test(test_oom),
        cmocka_unit_test(test_parked_request_fits_inline),
        cmocka_unit_test(test_go_query_keeps_what_handlers_read),
        cmocka_unit_test(test_keep_with_bodies),
        cmocka_unit_test(test_request_compacts),
        cmocka_unit_test(test_request_compacts_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
