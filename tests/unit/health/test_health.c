/* tests/unit/health: the check runners against loopback servers on the same
 * loop (a uv_tcp listener answering canned HTTP), and the StatusHandler
 * counting. Waits on observable state (a result arrived), never on time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "health/health.h"

/* ---- counting -------------------------------------------------------------- */

static void test_count_defaults(void **st)
{
    struct health_counter k = {0};
    assert_string_equal(health_count(&k, "critical"), "critical");
    assert_string_equal(health_count(&k, "passing"), "passing");
    assert_string_equal(health_count(&k, "warning"), "warning");
}

static void test_count_thresholds(void **st)
{
    struct health_counter k = {.success_before_passing = 2, .failures_before_critical = 3};
    assert_null(health_count(&k, "passing"));
    assert_string_equal(health_count(&k, "passing"), "passing");
    assert_null(health_count(&k, "critical"));
    assert_null(health_count(&k, "critical"));
    assert_string_equal(health_count(&k, "critical"), "critical");
    /* a success resets the failures */
    assert_null(health_count(&k, "passing"));
    assert_null(health_count(&k, "critical"));
    struct health_counter w = {.failures_before_warning = 1, .failures_before_critical = 2};
    assert_string_equal(health_count(&w, "critical"), "warning");
    assert_string_equal(health_count(&w, "critical"), "critical");
}

/* ---- a canned loopback server --------------------------------------------- */

struct srvx {
    uv_tcp_t listener;
    const char *reply; /* NULL: accept and never answer */
    int port;
    int accepted;
};

struct conn {
    uv_tcp_t tcp;
    uv_write_t w;
    struct srvx *s;
    char rbuf[4096];
};

static void on_conn_closed(uv_handle_t *h)
{
    free(h->data);
}

static void on_written(uv_write_t *w, int status)
{
    struct conn *c = w->data;
    uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
}

static void on_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
    struct conn *c = h->data;
    *b = uv_buf_init(c->rbuf, sizeof(c->rbuf));
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    struct conn *c = st->data;
    if (n < 0) {
        uv_close((uv_handle_t *)&c->tcp, on_conn_closed);
        return;
    }
    /* answer at the end of the request head */
    if (n > 0 && memmem(b->base, (size_t)n, "\r\n\r\n", 4) && c->s->reply) {
        uv_read_stop(st);
        uv_buf_t wb = uv_buf_init((char *)c->s->reply, (unsigned)strlen(c->s->reply));
        c->w.data = c;
        uv_write(&c->w, st, &wb, 1, on_written);
    }
}

static void on_accept(uv_stream_t *l, int status)
{
    struct srvx *s = l->data;
    struct conn *c = calloc(1, sizeof(*c));
    c->s = s;
    uv_tcp_init(l->loop, &c->tcp);
    c->tcp.data = c;
    assert_int_equal(uv_accept(l, (uv_stream_t *)&c->tcp), 0);
    s->accepted++;
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static void srv_start(uv_loop_t *loop, struct srvx *s, const char *reply)
{
    memset(s, 0, sizeof(*s));
    s->reply = reply;
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    assert_int_equal(uv_tcp_bind(&s->listener, (struct sockaddr *)&a, 0), 0);
    assert_int_equal(uv_listen((uv_stream_t *)&s->listener, 128, on_accept), 0);
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &len);
    s->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* ---- results --------------------------------------------------------------- */

struct res {
    int n;
    char status[16];
    char output[8192];
    struct health_check *stop_me; /* stop on the first result */
};

static void on_result(void *arg, const char *status, const char *output)
{
    struct res *r = arg;
    r->n++;
    snprintf(r->status, sizeof(r->status), "%s", status);
    snprintf(r->output, sizeof(r->output), "%s", output);
}

static void run_until(uv_loop_t *loop, struct res *r, int n)
{
    for (int i = 0; i < 100000 && r->n < n; i++)
        uv_run(loop, UV_RUN_ONCE);
    assert_true(r->n >= n);
}

static void drain(uv_loop_t *loop)
{
    uv_run(loop, UV_RUN_DEFAULT);
}

static int free_port(void)
{
    /* bind, read the port, close: nothing listens there afterwards */
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct srvx s;
    srv_start(&loop, &s, NULL);
    int port = s.port;
    uv_close((uv_handle_t *)&s.listener, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return port;
}

static void test_tcp(void **st)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct health *h = health_new(&loop);
    assert_non_null(h);
    struct srvx s;
    srv_start(&loop, &s, NULL);
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", s.port);
    struct health_def d = {
        .type = HEALTH_TCP, .target = target, .interval_ns = 50000000, .timeout_ns = 5000000000LL};
    struct res r = {0};
    struct health_check *c;
    assert_int_equal(health_start(h, &d, on_result, &r, &c), 0);
    run_until(&loop, &r, 1);
    assert_string_equal(r.status, "passing");
    char want[128];
    snprintf(want, sizeof(want), "TCP connect %s: Success", target);
    assert_string_equal(r.output, want);
    health_stop(c);

    /* nothing listening: critical */
    snprintf(target, sizeof(target), "127.0.0.1:%d", free_port());
    struct res r2 = {0};
    assert_int_equal(health_start(h, &d, on_result, &r2, &c), 0);
    run_until(&loop, &r2, 1);
    assert_string_equal(r2.status, "critical");
    assert_non_null(strstr(r2.output, "connection refused"));
    assert_non_null(strstr(r2.output, "dial tcp 127.0.0.1:"));
    /* it keeps running: a second result comes */
    run_until(&loop, &r2, 2);
    health_stop(c);
    uv_close((uv_handle_t *)&s.listener, NULL);
    health_free(h);
    drain(&loop);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void http_case(const char *reply, const char *want_status, const char *want_in_output,
                      const char *method, const char *hdr)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct health *h = health_new(&loop);
    struct srvx s;
    srv_start(&loop, &s, reply);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/health", s.port);
    struct health_def d = {.type = HEALTH_HTTP,
                           .target = url,
                           .method = method,
                           .header_json = hdr,
                           .interval_ns = 10000000,
                           .timeout_ns = reply ? 5000000000LL : 200000000};
    struct res r = {0};
    struct health_check *c;
    assert_int_equal(health_start(h, &d, on_result, &r, &c), 0);
    run_until(&loop, &r, 1);
    assert_string_equal(r.status, want_status);
    if (!strstr(r.output, want_in_output))
        fail_msg("output %s lacks %s", r.output, want_in_output);
    health_stop(c);
    uv_close((uv_handle_t *)&s.listener, NULL);
    health_free(h);
    drain(&loop);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_http_ok(void **st)
{
    http_case("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello", "passing",
              "/health: 200 OK Output: hello", NULL, NULL);
}

static void test_http_429(void **st)
{
    http_case("HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
              "warning", "429 Too Many Requests", "POST", "{\"X-A\":[\"1\",\"2\"]}");
}

static void test_http_500(void **st)
{
    http_case("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\nConnection: close\r\n\r\n"
              "down",
              "critical", "503 Service Unavailable Output: down", NULL, NULL);
}

static void test_http_timeout(void **st)
{
    http_case(NULL, "critical", "Client.Timeout exceeded", NULL, NULL);
}

static void test_http_refused(void **st)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct health *h = health_new(&loop);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", free_port());
    struct health_def d = {
        .type = HEALTH_HTTP, .target = url, .interval_ns = 10000000, .timeout_ns = 5000000000LL};
    struct res r = {0};
    struct health_check *c;
    assert_int_equal(health_start(h, &d, on_result, &r, &c), 0);
    run_until(&loop, &r, 1);
    assert_string_equal(r.status, "critical");
    assert_non_null(strstr(r.output, "Get \"http://127.0.0.1:"));
    /* stopped with a probe possibly in flight: no callback after */
    int n = r.n;
    health_stop(c);
    health_free(h);
    drain(&loop);
    assert_int_equal(r.n, n);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void script_case(const char *cmd, int64_t timeout_ns, const char *want_status,
                        const char *want_in_output)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct health *h = health_new(&loop);
    const char *args[] = {"/bin/sh", "-c", cmd};
    struct health_def d = {.type = HEALTH_SCRIPT,
                           .args = args,
                           .nargs = 3,
                           .interval_ns = 10000000,
                           .timeout_ns = timeout_ns};
    struct res r = {0};
    struct health_check *c;
    assert_int_equal(health_start(h, &d, on_result, &r, &c), 0);
    run_until(&loop, &r, 1);
    assert_string_equal(r.status, want_status);
    if (!strstr(r.output, want_in_output))
        fail_msg("output %s lacks %s", r.output, want_in_output);
    health_stop(c);
    health_free(h);
    drain(&loop);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_script(void **st)
{
    script_case("echo fine", 0, "passing", "fine\n");
    script_case("echo slow >&2; exit 1", 0, "warning", "slow\n");
    script_case("exit 7", 0, "critical", "");
    /* the group is killed: the background sleep holding the pipe dies too */
    script_case("sleep 30 & sleep 30", 200000000, "critical", "Timed out (200ms) running check");
    script_case("exec /nonexistent/x", 0, "critical", "");
}

/* A UDP echo on the loop: answers every datagram. */
static uv_udp_t echo;
static char echo_buf[64];
static uv_udp_send_t echo_send;

static void echo_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
    *b = uv_buf_init(echo_buf, sizeof(echo_buf));
}

static void echo_recv(uv_udp_t *u, ssize_t n, const uv_buf_t *b, const struct sockaddr *addr,
                      unsigned flags)
{
    if (n < 0 || !addr)
        return;
    uv_buf_t r = uv_buf_init((char *)"pong", 4);
    uv_udp_send(&echo_send, u, &r, 1, addr, NULL);
}

static void test_udp(void **st)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct health *h = health_new(&loop);
    struct sockaddr_in a;
    uv_ip4_addr("127.0.0.1", 0, &a);
    uv_udp_init(&loop, &echo);
    assert_int_equal(uv_udp_bind(&echo, (struct sockaddr *)&a, 0), 0);
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    uv_udp_getsockname(&echo, (struct sockaddr *)&ss, &len);
    uv_udp_recv_start(&echo, echo_alloc, echo_recv);
    char target[64];
    snprintf(target, sizeof(target), "127.0.0.1:%d", ntohs(((struct sockaddr_in *)&ss)->sin_port));
    struct health_def d = {
        .type = HEALTH_UDP, .target = target, .interval_ns = 50000000, .timeout_ns = 5000000000LL};
    struct res r = {0};
    struct health_check *c;
    assert_int_equal(health_start(h, &d, on_result, &r, &c), 0);
    run_until(&loop, &r, 1);
    assert_string_equal(r.status, "passing");
    char want[128];
    snprintf(want, sizeof(want), "UDP connect %s: Success", target);
    assert_string_equal(r.output, want);
    health_stop(c);
    uv_close((uv_handle_t *)&echo, NULL);

    /* nothing bound there: ICMP port unreachable -> connection refused. A
     * free port can be taken by another test running at the same time (a
     * DNS server under ctest -j2): a pass is tried again on another port. */
    struct res r2 = {0};
    for (int attempt = 0; attempt < 5; attempt++) {
        snprintf(target, sizeof(target), "127.0.0.1:%d", free_port());
        memset(&r2, 0, sizeof(r2));
        assert_int_equal(health_start(h, &d, on_result, &r2, &c), 0);
        run_until(&loop, &r2, 1);
        if (!strcmp(r2.status, "critical"))
            break;
        health_stop(c);
    }
    assert_string_equal(r2.status, "critical");
    if (!strstr(r2.output, "connection refused"))
        fail_msg("output %s", r2.output);
    health_stop(c);
    health_free(h);
    drain(&loop);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_bad_defs(void **st)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct health *h = health_new(&loop);
    struct res r = {0};
    struct health_check *c;
    struct health_def d = {.type = HEALTH_HTTP, .target = "http://x/", .interval_ns = 0};
    assert_int_not_equal(health_start(h, &d, on_result, &r, &c), 0);
    d.interval_ns = 1000000000;
    d.header_json = "{\"a\":\"b\"}";
    assert_int_not_equal(health_start(h, &d, on_result, &r, &c), 0);
    health_free(h);
    drain(&loop);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_count_defaults),
        cmocka_unit_test(test_count_thresholds),
        cmocka_unit_test(test_tcp),
        cmocka_unit_test(test_http_ok),
        cmocka_unit_test(test_http_429),
        cmocka_unit_test(test_http_500),
        cmocka_unit_test(test_http_timeout),
        cmocka_unit_test(test_http_refused),
        cmocka_unit_test(test_bad_defs),
        cmocka_unit_test(test_udp),
        cmocka_unit_test(test_script),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
