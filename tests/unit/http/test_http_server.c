/* Live tests of the HTTP server: a server on 127.0.0.1:0 on a uv loop in the
 * test thread, and a client with blocking sockets in a second thread. The
 * client records what it saw; the main thread asserts after joining it.
 * Outcomes only, never elapsed time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <errno.h>
#include <signal.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "http/http.h"
#include "http/http_int.h"

/* ---- a blocking client ---- */

struct client {
    int fd;
    char buf[256 * 1024];
    size_t len;
};

struct resp {
    int status;
    char head[2048];
    char body[8192];
    size_t body_len;
};

static int client_open(struct client *c, int port)
{
    c->len = 0;
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0)
        return -1;
    struct timeval tv = {.tv_sec = 10}; /* a hung test fails instead of hanging */
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return connect(c->fd, (struct sockaddr *)&a, sizeof(a));
}

static void client_send(struct client *c, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = send(c->fd, s, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        s += w;
        n -= (size_t)w;
    }
}

static void client_puts(struct client *c, const char *s)
{
    client_send(c, s, strlen(s));
}

/* Read one response. Returns 0, or -1 on EOF/error/timeout. */
static int client_read(struct client *c, struct resp *r)
{
    for (;;) {
        char *end = memmem(c->buf, c->len, "\r\n\r\n", 4);
        if (end) {
            size_t hlen = (size_t)(end - c->buf) + 4;
            size_t clen = 0;
            char *cl = memmem(c->buf, hlen, "Content-Length: ", 16);
            if (cl)
                clen = strtoul(cl + 16, NULL, 10);
            if (c->len >= hlen + clen) {
                memset(r, 0, sizeof(*r));
                r->status = atoi(c->buf + 9);
                size_t hcopy = hlen < sizeof(r->head) ? hlen : sizeof(r->head) - 1;
                memcpy(r->head, c->buf, hcopy);
                r->body_len = clen < sizeof(r->body) ? clen : sizeof(r->body) - 1;
                memcpy(r->body, c->buf + hlen, r->body_len);
                memmove(c->buf, c->buf + hlen + clen, c->len - hlen - clen);
                c->len -= hlen + clen;
                return 0;
            }
        }
        if (c->len == sizeof(c->buf))
            return -1;
        ssize_t n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
        if (n <= 0)
            return -1;
        c->len += (size_t)n;
    }
}

/* True when the server closed the connection (EOF or reset), nothing else read. */
static bool client_eof(struct client *c)
{
    char b[64];
    ssize_t n = recv(c->fd, b, sizeof(b), 0);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

/* ---- the fixture ---- */

struct fx {
    uv_loop_t loop;
    struct http_server *srv;
    int port;
    uv_async_t async;
    uv_timer_t watchdog, later;
    bool stopping, done, watchdog_fired;
    bool self_stop; /* the loop stops itself (abort callback, handler) */
    bool drain;     /* stop with http_server_drain instead of http_server_stop */
    void (*client)(struct fx *f);
    pthread_t th;
    struct http_req *later_req;
    /* Loop-side observations. */
    int dispatched, aborts, timeouts, parked_seen, conns_seen;
    int ref_out, ref_released; /* http_respond_ref bodies lent and given back */
    char order[128];
    bool later_answered_before_next;
    /* Client-side observations. */
    struct resp r[8];
    int nresp;
    bool eof, eof2, got_continue;
    struct http_stats stats;
    size_t held_parsers, held_pend; /* at fx_stop */
};

static void on_done(void *arg)
{
    ((struct fx *)arg)->done = true;
}

static void fx_stop(struct fx *f)
{
    if (f->stopping)
        return;
    f->stopping = true;
    http_server_stats(f->srv, &f->stats);
    http__server_held(f->srv, &f->held_parsers, &f->held_pend);
    if (f->drain)
        http_server_drain(f->srv, 5000, on_done, f);
    else
        http_server_stop(f->srv, on_done, f);
    uv_close((uv_handle_t *)&f->async, NULL);
    uv_close((uv_handle_t *)&f->watchdog, NULL);
    uv_close((uv_handle_t *)&f->later, NULL);
}

static void async_cb(uv_async_t *a)
{
    fx_stop(a->data);
}

static void watchdog_cb(uv_timer_t *t)
{
    struct fx *f = t->data;
    f->watchdog_fired = true;
    fx_stop(f);
}

static void later_cb(uv_timer_t *t)
{
    struct fx *f = t->data;
    if (strlen(f->order) < sizeof(f->order) - 2)
        strcat(f->order, "L");
    if (!f->later_req)
        return;
    http_respond(f->later_req, 200, "text/plain", NULL, 0, "first", 5);
    f->later_req = NULL;
}

static void on_abort(struct http_req *req)
{
    struct fx *f = req->user;
    f->aborts++;
    http_respond(req, 200, NULL, NULL, 0, NULL, 0); /* only frees it */
    if (f->later_req == req)
        f->later_req = NULL;
    if (f->self_stop)
        fx_stop(f);
}

static void on_timeout(struct http_req *req)
{
    struct fx *f = req->user;
    f->timeouts++;
    http_respond(req, 200, "text/plain", "X-Why: timeout\r\n", 16, "timeout", 7);
}

struct lent {
    struct fx *f;
    char body[6000]; /* larger than a pooled write buffer */
};

static void ref_release(void *arg)
{
    struct lent *l = arg;
    l->f->ref_released++;
    memset(l->body, 'X', sizeof(l->body)); /* a write that used it late would show */
    free(l);
}

static void handler(void *arg, struct http_req *req)
{
    struct fx *f = arg;
    req->user = f;
    f->dispatched++;
    struct http_stats st0;
    http_server_stats(f->srv, &st0);
    f->conns_seen = (int)st0.connections_open;
    if (strlen(f->order) < sizeof(f->order) - 2)
        strncat(f->order, req->path + 1, 1);
    if (strcmp(req->path, "/later") == 0) {
        /* Parked, answered later from a timer. */
        f->later_req = req;
        http_req_park(req, 60000, on_timeout, on_abort);
        uv_timer_start(&f->later, later_cb, 20, 0);
    } else if (strcmp(req->path, "/wait") == 0) {
        http_req_park(req, 30, on_timeout, on_abort);
    } else if (strcmp(req->path, "/park") == 0) {
        http_req_park(req, 60000, on_timeout, on_abort);
        struct http_stats st;
        http_server_stats(f->srv, &st);
        if ((int)st.parked > f->parked_seen)
            f->parked_seen = (int)st.parked;
    } else if (strcmp(req->path, "/park2") == 0) {
        /* Stop the server once two requests are parked. */
        http_req_park(req, 60000, on_timeout, on_abort);
        struct http_stats st;
        http_server_stats(f->srv, &st);
        f->parked_seen = (int)st.parked;
        if (st.parked == 2)
            fx_stop(f);
    } else if (strcmp(req->path, "/park8") == 0) {
        /* Stop (from the next loop turn) once eight requests are parked. */
        http_req_park(req, 60000, on_timeout, on_abort);
        struct http_stats st;
        http_server_stats(f->srv, &st);
        f->parked_seen = (int)st.parked;
        if (st.parked == 8)
            uv_async_send(&f->async);
    } else if (strncmp(req->path, "/fat", 4) == 0) {
        /* 4 KiB answers, to fill the socket buffers quickly. */
        char body[4096];
        memset(body, 'f', sizeof(body));
        memcpy(body, req->path, req->path_len + 1);
        http_respond(req, 200, NULL, NULL, 0, body, sizeof(body));
    } else if (strcmp(req->path, "/ref") == 0) {
        struct lent *l = malloc(sizeof(*l));
        l->f = f;
        memset(l->body, 'r', sizeof(l->body));
        f->ref_out++;
        http_respond_ref(req, 200, "text/plain", NULL, 0, l->body, sizeof(l->body), ref_release, l);
    } else if (strcmp(req->path, "/echo") == 0) {
        http_respond(req, 200, "application/octet-stream", NULL, 0, req->body, req->body_len);
    } else {
        char body[256];
        int n = snprintf(body, sizeof(body), "%s %s", req->method_str, req->path);
        http_respond(req, 200, "text/plain", "X-Test: 1\r\n", 11, body, (size_t)n);
    }
}

static void *client_main(void *arg)
{
    struct fx *f = arg;
    f->client(f);
    if (!f->self_stop)
        uv_async_send(&f->async);
    return NULL;
}

/* Run one scenario: `client` runs in a thread (NULL: the loop stops itself). */
static void fx_run(struct fx *f, struct http_options *opt, void (*client)(struct fx *))
{
    char err[256];
    assert_int_equal(uv_loop_init(&f->loop), 0);
    opt->host = "127.0.0.1";
    opt->handler = handler;
    opt->handler_arg = f;
    assert_int_equal(http_server_start(&f->loop, opt, &f->srv, err, sizeof(err)), 0);
    f->port = http_server_port(f->srv);
    assert_true(f->port > 0);
    uv_async_init(&f->loop, &f->async, async_cb);
    f->async.data = f;
    uv_timer_init(&f->loop, &f->watchdog);
    f->watchdog.data = f;
    uv_timer_start(&f->watchdog, watchdog_cb, 20000, 0);
    uv_timer_init(&f->loop, &f->later);
    f->later.data = f;
    f->client = client;
    assert_int_equal(pthread_create(&f->th, NULL, client_main, f), 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    pthread_join(f->th, NULL);
    assert_true(f->done);
    assert_false(f->watchdog_fired);
    assert_int_equal(uv_loop_close(&f->loop), 0);
}

/* ---- scenarios ---- */

static void c_keepalive(struct fx *f)
{
    struct client *c = calloc(1, sizeof(*c));
    client_open(c, f->port);
    for (int i = 0; i < 3; i++) {
        char req[128];
        snprintf(req, sizeof(req), "GET /k%d?x=1 HTTP/1.1\r\nHost: t\r\n\r\n", i);
        client_puts(c, req);
        if (client_read(c, &f->r[f->nresp]) == 0)
            f->nresp++;
    }
    client_puts(c, "HEAD /h HTTP/1.1\r\n\r\n");
    /* HEAD: headers only; Content-Length says what GET would send. */
    char b[1024];
    ssize_t n = recv(c->fd, b, sizeof(b) - 1, 0);
    if (n > 0) {
        b[n] = '\0';
        snprintf(f->r[3].head, sizeof(f->r[3].head), "%s", b);
    }
    close(c->fd);
    free(c);
}

static void test_keepalive(void **state)
{
    struct fx f = {0};
    struct http_options o = {0};
    fx_run(&f, &o, c_keepalive);
    assert_int_equal(f.nresp, 3);
    for (int i = 0; i < 3; i++) {
        char want[32];
        snprintf(want, sizeof(want), "GET /k%d", i);
        assert_int_equal(f.r[i].status, 200);
        assert_string_equal(f.r[i].body, want);
        assert_non_null(strstr(f.r[i].head, "HTTP/1.1 200 OK\r\n"));
        assert_non_null(strstr(f.r[i].head, "\r\nDate: "));
        assert_non_null(strstr(f.r[i].head, "\r\nContent-Type: text/plain\r\n"));
        assert_non_null(strstr(f.r[i].head, "\r\nX-Test: 1\r\n"));
        assert_null(strstr(f.r[i].head, "Connection: close"));
    }
    assert_non_null(strstr(f.r[3].head, "Content-Length: 7\r\n"));
    assert_non_null(strstr(f.r[3].head, "\r\n\r\n"));
    assert_string_equal(strstr(f.r[3].head, "\r\n\r\n"), "\r\n\r\n"); /* no body */
    assert_int_equal(f.stats.requests, 4);
    assert_int_equal(f.conns_seen, 1);
}

static void c_ref(struct fx *f)
{
    struct client *c = calloc(1, sizeof(*c));
    client_open(c, f->port);
    client_puts(c, "GET /ref HTTP/1.1\r\n\r\nGET /ref HTTP/1.1\r\n\r\n");
    for (int i = 0; i < 2; i++)
        if (client_read(c, &f->r[f->nresp]) == 0)
            f->nresp++;
    client_puts(c, "HEAD /ref HTTP/1.1\r\n\r\n");
    char b[1024];
    ssize_t n = recv(c->fd, b, sizeof(b) - 1, 0);
    if (n > 0) {
        b[n] = '\0';
        snprintf(f->r[3].head, sizeof(f->r[3].head), "%s", b);
    }
    close(c->fd);
    free(c);
}

/* A borrowed body is sent as it was lent and given back exactly once, also
 * when nothing of it is sent (HEAD). */
static void test_respond_ref(void **state)
{
    struct fx f = {0};
    struct http_options o = {0};
    fx_run(&f, &o, c_ref);
    assert_int_equal(f.nresp, 2);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(f.r[i].status, 200);
        assert_int_equal(f.r[i].body_len, 6000);
        for (size_t j = 0; j < 6000; j++)
            if (f.r[i].body[j] != 'r')
                fail_msg("byte %zu of answer %d is %c", j, i, f.r[i].body[j]);
    }
    assert_non_null(strstr(f.r[3].head, "Content-Length: 6000\r\n"));
    assert_string_equal(strstr(f.r[3].head, "\r\n\r\n"), "\r\n\r\n");
    assert_int_equal(f.ref_out, 3);
    assert_int_equal(f.ref_released, 3);
}

static void c_pipelined(struct fx *f)
{
    struct client *c = calloc(1, sizeof(*c));
    client_open(c, f->port);
    client_puts(c, "GET /later HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n"
                   "PUT /echo HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz");
    for (int i = 0; i < 3; i++)
        if (client_read(c, &f->r[f->nresp]) == 0)
            f->nresp++;
    close(c->fd);
    free(c);
}

static void test_pipelined(void **state)
{
    struct fx f = {0};
    struct http_options o = {0};
    fx_run(&f, &o, c_pipelined);
    /* "/b" is dispatched only after the parked "/later" was answered (L). */
    assert_string_equal(f.order, "lLbe");
    assert_int_equal(f.nresp, 3);
    assert_string_equal(f.r[0].body, "first");
    assert_string_equal(f.r[1].body, "GET /b");
    assert_string_equal(f.r[2].body, "xyz");
}

#define FLOOD 5000

static void *flood_sender(void *arg)
{
    struct client *c = arg;
    static char reqs[FLOOD * 32];
    size_t n = 0;
    for (int i = 0; i < FLOOD; i++)
        n += (size_t)snprintf(reqs + n, sizeof(reqs) - n, "GET /fat%d HTTP/1.1\r\n\r\n", i);
    client_send(c, reqs, n);
    return NULL;
}

static void c_flood(struct fx *f)
{
    struct client *c = calloc(1, sizeof(*c));
    client_open(c, f->port);
    client_puts(c, "GET /later HTTP/1.1\r\n\r\n");
    /* Many pipelined requests behind a parked one, sent while nobody reads
     * the answers: the server must hold back (stop reading) rather than
     * buffer without bound, and then serve all of them in order. */
    pthread_t th;
    pthread_create(&th, NULL, flood_sender, c);
    struct resp *r = malloc(sizeof(*r));
    if (client_read(c, r) == 0 && strcmp(r->body, "first") == 0)
        f->nresp++;
    /* Not reading for a while lets the answers pile up on the server. */
    usleep(200 * 1000);
    for (int i = 0; i < FLOOD; i++) {
        char want[32];
        snprintf(want, sizeof(want), "/fat%d", i);
        if (client_read(c, r) != 0 || strcmp(r->body, want) != 0 || r->body_len != 4096)
            break;
        f->nresp++;
    }
    pthread_join(th, NULL);
    free(r);
    close(c->fd);
    free(c);
}

static void test_pipeline_flood(void **state)
{
    struct fx f = {0};
    struct http_options o = {.max_header_bytes = 1024, .max_body_bytes = 1024};
    fx_run(&f, &o, c_flood);
    assert_int_equal(f.nresp, FLOOD + 1);
    assert_int_equal(f.dispatched, FLOOD + 1);
}

static void c_close(struct fx *f)
{
    struct client *c = calloc(1, sizeof(*c));
    client_open(c, f->port);
    client_puts(c, "GET /c HTTP/1.1\r\nConnection: close\r\n\r\n");
    if (client_read(c, &f->r[0]) == 0)
        f->nresp++;
    f->eof = client_eof(c);
    close(c->fd);
    /* HTTP/1.0: close unless asked, and then keep-alive is announced. */
    client_open(c, f->port);
    client_puts(c, "GET /d HTTP/1.0\r\n\r\n");
    if (client_read(c, &f->r[1]) == 0)
        f->nresp++;
    f->eof2 = client_eof(c);
    close(c->fd);
    client_open(c, f->port);
    client_puts(c, "GET /e HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    if (client_read(c, &f->r[2]) == 0)
        f->nresp++;
    client_puts(c, "GET /f HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    if (client_read(c, &f->r[3]) == 0)
        f->nresp++;
    close(c->fd);
    free(c);
}

static void test_connection_close(void **state)
{
    struct fx f = {0};
    struct http_options o = {0};
    fx_run(&f, &o, c_close);
    assert_int_equal(f.nresp, 4);
    assert_non_null(strstr(f.r[0].head, "\r\nConnection: close\r\n"));
    assert_true(f.eof);
    assert_non_null(strstr(f.r[1].head, "\r\nConnection: close\r\n"));
    assert_true(f.eof2);
    assert_non_null(strstr(f.r[2].head, "\r\nConnection: keep-alive\r\n"));
    assert_string_equal(f.r[3].body, "GET /f");
}

static void c_continue(struct fx *f)
{
    struct client *c = calloc(1, sizeof(*c));
    client_open(c, f->port);
    client_puts(c, "PUT /echo HTTP/1.1\r\nContent-Length: 2000\r\nExpect: 100-continue\r\n\r\n");
    /* The interim response comes before any body byte is sent. */
    if (client_read(c, &f->r[0]) == 0)
        f->got_continue = f->r[0].status == 100;
    char body[2000];
    memset(body, 'q', sizeof(body));
    client_send(c, body, sizeof(body));
    if (client_read(c, &f->r[1]) == 0)
        f->nresp++;
    /* Too large: 413 at once, no 100, and the connection closes. */
    client_puts(c, "PUT /echo HTTP/1.1\r\nContent-Length: 99999\r\nExpect: 100-continue\r\n\r\n");
    if (client_read(c, &f->r[2]) == 0)
        f->nresp++;
    f->eof = client_eof(c);
    close(c->fd);
    free(c);
}

static void test_expect_continue(void **state)
{
    struct fx f = {0};
    struct http_options o = {.max_body_bytes = 4096};
    fx_run(&f, &o, c_continue);
    assert_true(f.got_continue);
    assert_int_equal(f.nresp, 2);
    assert_int_equal(f.r[1].status, 200);
    assert_int_equal(f.r[1].body_len, 2000);
    assert_int_equal(f.r[2].status, 413);
    assert_non_null(strstr(f.r[2].head, "Connection: close"));
    assert_non_null(strstr(f.r[2].head, "text/plain"));
    assert_true(f.eof);
    assert_int_equal(f.dispatched, 1);
}

static void c_limits(struct fx *f)
{
    struct client *c = calloc(1, sizeof(*c));
    client_open(c, f->port);
    char big[4096];
    memset(big, 'h', sizeof(big));
    client_puts(c, "GET / HTTP/1.1\r\nX-Big: ");
    client_send(c, big, sizeof(big));
    client_puts(c, "\r\n\r\n");
    if (client_read(c, &f->r[0]) == 0)
        f->nresp++;
    f->eof = client_eof(c);
    close(c->fd);
    client_open(c, f->port);
    client_puts(c, "\x16\x03\x01 not http at all\r\n\r\n");
    if (client_read(c, &f->r[1]) == 0)
        f->nresp++;
    f->eof2 = client_eof(c);
    close(c->fd);
    free(c);
}

static void test_limits_live(void **state)
{
    struct fx f = {0};
    struct http_options o = {.max_header_bytes = 1024};
    fx_run(&f, &o, c_limits);
    assert_int_equal(f.nresp, 2);
    assert_int_equal(f.r[0].status, 431);
    assert_true(f.eof);
    assert_int_equal(f.r[1].status, 400);
    assert_string_equal(f.r[1].body, "Bad Request\n");
    assert_true(f.eof2);
    assert_int_equal(f.dispatched, 0);
}

static void c_park_timeout(struct fx *f)
{
    struct client *c = calloc(1, sizeof(*c));
    client_open(c, f->port);
    client_puts(c, "GET /wait HTTP/1.1\r\n\r\n");
    if (client_read(c, &f->r[0]) == 0)
        f->nresp++;
    client_puts(c, "GET /after HTTP/1.1\r\n\r\n");
    if (client_read(c, &f->r[1]) == 0)
        f->nresp++;
    close(c->fd);
    free(c);
}

static void test_park_timeout(void **state)
{
    struct fx f = {0};
    struct http_options o = {0};
    fx_run(&f, &o, c_park_timeout);
    assert_int_equal(f.timeouts, 1);
    assert_int_equal(f.nresp, 2);
    assert_string_equal(f.r[0].body, "timeout");
    assert_non_null(strstr(f.r[0].head, "X-Why: timeout\r\n"));
    assert_string_equal(f.r[1].body, "GET /after");
    assert_int_equal(f.stats.parked, 0);
}

static void c_disconnect(struct fx *f)
{
    struct client *c = calloc(1, sizeof(*c));
    client_open(c, f->port);
    client_puts(c, "GET /park HTTP/1.1\r\n\r\n");
    /* Wait until the request is parked: pipelined bytes to a parked request
     * are buffered, never answered, so a short read timeout tells us enough. */
    struct timeval tv = {.tv_usec = 100 * 1000};
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    char b[16];
    f->eof = recv(c->fd, b, sizeof(b), 0) > 0; /* must be nothing: true is a failure */
    close(c->fd);
    free(c);
}

static void test_disconnect_while_parked(void **state)
{
    struct fx f = {.self_stop = true};
    struct http_options o = {0};
    /* Only the abort callback (run when the server notices the client went
     * away) stops the loop. */
    fx_run(&f, &o, c_disconnect);
    assert_false(f.eof);
    assert_int_equal(f.aborts, 1);
    assert_int_equal(f.dispatched, 1);
    assert_int_equal(f.stats.parked, 0);
}

static void c_idle(struct fx *f)
{
    struct client *c = calloc(1, sizeof(*c));
    client_open(c, f->port);
    client_puts(c, "GET /i HTTP/1.1\r\n\r\n");
    if (client_read(c, &f->r[0]) == 0)
        f->nresp++;
    f->eof = client_eof(c); /* idle timeout closes it */
    close(c->fd);
    client_open(c, f->port);
    client_puts(c, "GET /slow HTTP/1.1\r\nHost: x\r\n"); /* never finished */
    f->eof2 = client_eof(c);
    close(c->fd);
    free(c);
}

static void test_idle_and_header_timeout(void **state)
{
    struct fx f = {0};
    struct http_options o = {.idle_timeout_ms = 50, .header_timeout_ms = 50};
    fx_run(&f, &o, c_idle);
    assert_int_equal(f.nresp, 1);
    assert_true(f.eof);
    assert_true(f.eof2);
    assert_int_equal(f.dispatched, 1);
    assert_int_equal(f.stats.connections_open, 0);
}

static void c_stop_parked(struct fx *f)
{
    struct client *c1 = calloc(1, sizeof(*c1)), *c2 = calloc(1, sizeof(*c2));
    client_open(c1, f->port);
    client_open(c2, f->port);
    client_puts(c1, "GET /park2 HTTP/1.1\r\n\r\n");
    client_puts(c2, "GET /park2 HTTP/1.1\r\n\r\n");
    f->eof = client_eof(c1);
    f->eof2 = client_eof(c2);
    close(c1->fd);
    close(c2->fd);
    free(c1);
    free(c2);
}

/* Parked connections hold their request and nothing to parse with: no
 * parser (pooled, taken only while a message is received) and no input
 * buffer, except the one that was sent a pipelined request after its
 * parked one. */
static void c_park8(struct fx *f)
{
    struct client *c = calloc(8, sizeof(*c));
    for (int i = 0; i < 8; i++) {
        client_open(&c[i], f->port);
        client_puts(&c[i], i == 7
                               ? "GET /park8 HTTP/1.1\r\nHost: a\r\n\r\nGET /next HTTP/1.1\r\n\r\n"
                               : "GET /park8 HTTP/1.1\r\nHost: a\r\n\r\n");
    }
    for (int i = 0; i < 8; i++) {
        f->eof = client_eof(&c[i]); /* the server's stop closes them */
        close(c[i].fd);
    }
    free(c);
}

static void test_parked_hold_no_parser(void **state)
{
    struct fx f = {0};
    struct http_options o = {0};
    fx_run(&f, &o, c_park8);
    assert_int_equal(f.parked_seen, 8);
    assert_int_equal(f.stats.parked, 8);
    assert_int_equal(f.held_parsers, 0);
    assert_int_equal(f.held_pend, 1);
    assert_int_equal(f.aborts, 8);
    assert_int_equal(f.dispatched, 8);
}

static void test_stop_with_parked(void **state)
{
    struct fx f = {.self_stop = true};
    struct http_options o = {0};
    fx_run(&f, &o, c_stop_parked);
    assert_int_equal(f.parked_seen, 2);
    assert_int_equal(f.aborts, 2);
    assert_true(f.eof);
    assert_true(f.eof2);
}

/* A clean shutdown answers parked requests (their timeout callback, as if
 * the wait ran out), each answer closes its connection, and an idle
 * keep-alive connection is closed without an answer. */
static void c_drain_parked(struct fx *f)
{
    struct client *c1 = calloc(1, sizeof(*c1)), *c2 = calloc(1, sizeof(*c2));
    struct client *idle = calloc(1, sizeof(*idle));
    client_open(idle, f->port);
    client_puts(idle, "GET /hello HTTP/1.1\r\n\r\n");
    struct resp r0;
    f->nresp = client_read(idle, &r0) == 0 ? 1 : 0;
    client_open(c1, f->port);
    client_open(c2, f->port);
    client_puts(c1, "GET /park2 HTTP/1.1\r\n\r\n");
    client_puts(c2, "GET /park2 HTTP/1.1\r\n\r\n");
    if (client_read(c1, &f->r[1]) == 0)
        f->nresp++;
    if (client_read(c2, &f->r[2]) == 0)
        f->nresp++;
    f->eof = client_eof(c1) && client_eof(c2);
    f->eof2 = client_eof(idle);
    close(c1->fd);
    close(c2->fd);
    close(idle->fd);
    free(c1);
    free(c2);
    free(idle);
}

static void test_drain_answers_parked(void **state)
{
    struct fx f = {.self_stop = true, .drain = true};
    struct http_options o = {0};
    fx_run(&f, &o, c_drain_parked);
    assert_int_equal(f.parked_seen, 2);
    assert_int_equal(f.timeouts, 2);
    assert_int_equal(f.aborts, 0);
    assert_int_equal(f.nresp, 3);
    for (int i = 1; i <= 2; i++) {
        assert_int_equal(f.r[i].status, 200);
        assert_memory_equal(f.r[i].body, "timeout", 7);
        assert_non_null(strcasestr(f.r[i].head, "Connection: close"));
    }
    assert_true(f.eof);
    assert_true(f.eof2);
}

int main(void)
{
    /* libuv writes with write(2): a peer that closed early must not kill us
     * (the agent ignores SIGPIPE the same way). */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keepalive),
        cmocka_unit_test(test_respond_ref),
        cmocka_unit_test(test_pipelined),
        cmocka_unit_test(test_pipeline_flood),
        cmocka_unit_test(test_connection_close),
        cmocka_unit_test(test_expect_continue),
        cmocka_unit_test(test_limits_live),
        cmocka_unit_test(test_park_timeout),
        cmocka_unit_test(test_disconnect_while_parked),
        cmocka_unit_test(test_idle_and_header_timeout),
        cmocka_unit_test(test_stop_with_parked),
        cmocka_unit_test(test_parked_hold_no_parser),
        cmocka_unit_test(test_drain_answers_parked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
