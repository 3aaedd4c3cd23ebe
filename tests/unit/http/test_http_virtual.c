/* Virtual requests (http/http.h, http/virtual.c): built from parts, read by
 * a handler like a connection's request, parked with a deadline, answered to
 * a callback; aborted by the requester (done never runs, the handler's
 * answer only frees). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "base/err.h"
#include "http/http.h"

struct got {
    int calls, status;
    char ctype[64], hdrs[128], body[64];
};

static void done(void *arg, int status, const char *ct, const char *h, size_t hl, const void *b,
                 size_t bl)
{
    struct got *g = arg;
    g->calls++;
    g->status = status;
    snprintf(g->ctype, sizeof(g->ctype), "%s", ct ? ct : "");
    snprintf(g->hdrs, sizeof(g->hdrs), "%.*s", (int)hl, h ? h : "");
    snprintf(g->body, sizeof(g->body), "%.*s", (int)bl, b ? (const char *)b : "");
}

static struct http_req *mk(uv_loop_t *loop, const char *method, const char *target, struct got *g)
{
    struct http_vhdr h[1] = {{"X-Consul-Token", "secret", 14, 6}};
    struct http_req *r = NULL;
    assert_int_equal(http_vreq_new(loop, method, strlen(method), target, strlen(target), h, 1,
                                   "body!", 5, done, g, &r),
                     0);
    return r;
}

static void test_parts_and_answer(void **st)
{
    (void)st;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct got g = {0};
    struct http_req *r = mk(&loop, "PUT", "/v1/kv/a%2Fb?cas=0&flags", &g);
    assert_int_equal(r->method, HTTP_M_PUT);
    assert_string_equal(r->path, "/v1/kv/a/b");
    assert_string_equal(r->raw_target, "/v1/kv/a%2Fb?cas=0&flags");
    assert_string_equal(http_req_param(r, "cas")->value, "0");
    assert_non_null(http_req_param(r, "flags"));
    assert_string_equal(http_req_header(r, "x-consul-token"), "secret");
    assert_int_equal(r->body_len, 5);
    assert_string_equal(r->body, "body!");
    assert_true(http_vreq_live() == 1);
    http_respond(r, 201, "application/json", "X-Consul-Index: 4\r\n", 19, "true", 4);
    assert_int_equal(g.calls, 1);
    assert_int_equal(g.status, 201);
    assert_string_equal(g.hdrs, "X-Consul-Index: 4\r\n");
    assert_string_equal(g.body, "true");
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_true(http_vreq_live() == 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

/* A streamed answer (http_stream_*) reaches the callback whole at its end;
 * a stream ended early is a 500; an aborted one calls nothing. */
static void test_stream(void **st)
{
    (void)st;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct got g = {0};
    struct http_req *r = mk(&loop, "GET", "/v1/snapshot", &g);
    assert_true(http_req_is_virtual(r));
    assert_int_equal(http_stream_start(r, 200, "application/octet-stream", "X-Consul-Index: 9\r\n",
                                       19, 6, NULL, NULL),
                     0);
    assert_int_equal(http_stream_queued(r), 0);
    assert_int_equal(http_stream_write(r, "abc", 3), 0);
    assert_int_equal(http_stream_write(r, "def", 3), 0);
    assert_int_equal(g.calls, 0);
    http_stream_end(r, true);
    assert_int_equal(g.calls, 1);
    assert_int_equal(g.status, 200);
    assert_string_equal(g.ctype, "application/octet-stream");
    assert_string_equal(g.hdrs, "X-Consul-Index: 9\r\n");
    assert_string_equal(g.body, "abcdef");
    struct got g2 = {0};
    r = mk(&loop, "GET", "/v1/snapshot", &g2);
    assert_int_equal(http_stream_start(r, 200, "application/octet-stream", NULL, 0, -1, NULL, NULL),
                     0);
    assert_int_equal(http_stream_write(r, "abc", 3), 0);
    http_stream_end(r, false);
    assert_int_equal(g2.calls, 1);
    assert_int_equal(g2.status, 500);
    assert_string_equal(g2.body, "response stream ended early");
    struct got g3 = {0};
    r = mk(&loop, "GET", "/v1/snapshot", &g3);
    assert_int_equal(http_stream_start(r, 200, NULL, NULL, 0, -1, NULL, NULL), 0);
    http_vreq_abort(r);
    assert_int_equal(http_stream_write(r, "abc", 3), CN_ESHUTDOWN);
    http_stream_end(r, false);
    assert_int_equal(g3.calls, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_true(http_vreq_live() == 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static struct got *tg;
static int timeouts, aborts;

static void on_to(struct http_req *r)
{
    timeouts++;
    http_respond(r, 200, NULL, NULL, 0, "late", 4);
}

static void on_ab(struct http_req *r)
{
    aborts++;
    http_respond(r, 500, NULL, NULL, 0, NULL, 0); /* only frees */
}

static void test_park_timeout_and_abort(void **st)
{
    (void)st;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct got g = {0}, g2 = {0};
    tg = &g;
    struct http_req *r = mk(&loop, "GET", "/v1/kv/x?index=5", &g);
    http_req_park(r, 20, on_to, on_ab);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(timeouts, 1);
    assert_int_equal(g.calls, 1);
    assert_string_equal(g.body, "late");
    /* Aborted while parked: on_abort runs, done never. */
    r = mk(&loop, "GET", "/v1/kv/x?index=6", &g2);
    http_req_park(r, 60000, on_to, on_ab);
    http_vreq_abort(r);
    assert_int_equal(aborts, 1);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(g2.calls, 0);
    assert_int_equal(timeouts, 1);
    assert_true(http_vreq_live() == 0);
    /* Aborted while not parked (a write in flight): answered later, freed. */
    r = mk(&loop, "PUT", "/v1/kv/y", &g2);
    http_vreq_abort(r);
    assert_int_equal(aborts, 1);
    http_respond(r, 200, NULL, NULL, 0, "true", 4);
    assert_int_equal(g2.calls, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_true(http_vreq_live() == 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_refusals(void **st)
{
    (void)st;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct got g = {0};
    struct http_req *r = NULL;
    assert_int_equal(http_vreq_new(&loop, "BREW", 4, "/", 1, NULL, 0, NULL, 0, done, &g, &r), 400);
    assert_int_equal(http_vreq_new(&loop, "GET", 3, "nope", 4, NULL, 0, NULL, 0, done, &g, &r),
                     400);
    assert_int_equal(http_vreq_new(&loop, "GET", 3, "/a%zz", 5, NULL, 0, NULL, 0, done, &g, &r),
                     400);
    assert_null(r);
    assert_true(http_vreq_live() == 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parts_and_answer),
        cmocka_unit_test(test_stream),
        cmocka_unit_test(test_park_timeout_and_abort),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
