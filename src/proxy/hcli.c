/* proxy/hcli.c: one HTTP/1.1 request to the local agent on the proxy's loop
 * (a connection per request, `Connection: close`; the answer is read to the
 * end of the stream and parsed by hresp.c). */
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/mem.h"
#include "proxy/proxy_int.h"

struct px_http {
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_write_t wreq;
    uv_timer_t timer;
    struct cn_buf req, in;
    px_http_cb cb;
    void *arg;
    int open; /* handles still to close */
    bool done;
};

static void on_closed(uv_handle_t *h)
{
    struct px_http *q = h->data;
    if (--q->open == 0) {
        cn_buf_free(&q->req);
        cn_buf_free(&q->in);
        cn_free(q);
    }
}

static void finish(struct px_http *q, int rc, struct px_hresp *r, const char *err)
{
    if (q->done)
        return;
    q->done = true;
    if (q->cb)
        q->cb(q->arg, rc, r, err);
    uv_close((uv_handle_t *)&q->tcp, on_closed);
    uv_close((uv_handle_t *)&q->timer, on_closed);
}

void px_http_cancel(struct px_http *q)
{
    if (!q)
        return;
    q->cb = NULL;
    finish(q, CN_ESHUTDOWN, NULL, "cancelled");
}

static void on_timeout(uv_timer_t *t)
{
    finish(t->data, CN_EAGAIN, NULL, "the agent did not answer in time");
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    (void)hint;
    struct px_http *q = h->data;
    if (cn_buf_reserve(&q->in, 65536)) {
        *b = uv_buf_init(NULL, 0);
        return;
    }
    *b = uv_buf_init(q->in.p + q->in.len, (unsigned)(q->in.cap - q->in.len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    (void)b;
    struct px_http *q = s->data;
    if (n == UV_ENOBUFS) {
        finish(q, CN_ENOMEM, NULL, "out of memory");
        return;
    }
    if (n > 0)
        q->in.len += (size_t)n;
    if (n >= 0 && q->in.len > PX_HTTP_MAX) {
        finish(q, CN_EPROTO, NULL, "answer too large");
        return;
    }
    if (n >= 0 || n == UV_EOF) {
        struct px_hresp r;
        char err[200];
        int rc =
            px_hresp_parse(q->in.p ? q->in.p : "", q->in.len, n == UV_EOF, &r, err, sizeof(err));
        if (rc == 1)
            return;
        if (rc) {
            finish(q, rc, NULL, err);
            return;
        }
        finish(q, 0, &r, NULL);
        cn_buf_free(&r.body);
        return;
    }
    char err[200];
    snprintf(err, sizeof(err), "reading from the agent: %s", uv_strerror((int)n));
    finish(q, CN_EIO, NULL, err);
}

static void on_written(uv_write_t *w, int status)
{
    struct px_http *q = w->data;
    if (status && status != UV_ECANCELED) {
        char err[200];
        snprintf(err, sizeof(err), "writing to the agent: %s", uv_strerror(status));
        finish(q, CN_EIO, NULL, err);
    }
}

static void on_connect(uv_connect_t *c, int status)
{
    struct px_http *q = c->data;
    if (q->done)
        return;
    if (status) {
        char err[200];
        snprintf(err, sizeof(err), "dial the agent: %s", uv_strerror(status));
        finish(q, CN_EIO, NULL, err);
        return;
    }
    uv_buf_t b = uv_buf_init(q->req.p, (unsigned)q->req.len);
    q->wreq.data = q;
    if (uv_write(&q->wreq, (uv_stream_t *)&q->tcp, &b, 1, on_written) ||
        uv_read_start((uv_stream_t *)&q->tcp, alloc_cb, on_read))
        finish(q, CN_EIO, NULL, "writing to the agent failed");
}

struct px_http *px_http_do(uv_loop_t *loop, const struct sockaddr *agent, const char *method,
                           const char *target, const char *token, const char *body, size_t blen,
                           uint64_t timeout_ms, px_http_cb cb, void *arg)
{
    struct px_http *q = cn_calloc(1, sizeof(*q));
    if (!q)
        return NULL;
    char head[2048];
    int n = snprintf(head, sizeof(head),
                     "%s %s HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n"
                     "Content-Length: %zu\r\n%s%s%s\r\n",
                     method, target, blen, token && *token ? "X-Consul-Token: " : "",
                     token && *token ? token : "", token && *token ? "\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof(head) || cn_buf_append(&q->req, head, (size_t)n) ||
        (blen && cn_buf_append(&q->req, body, blen))) {
        cn_buf_free(&q->req);
        cn_free(q);
        return NULL;
    }
    q->cb = cb;
    q->arg = arg;
    uv_tcp_init(loop, &q->tcp);
    uv_timer_init(loop, &q->timer);
    q->tcp.data = q->timer.data = q->creq.data = q;
    q->open = 2;
    uv_timer_start(&q->timer, on_timeout, timeout_ms, 0);
    int rc = uv_tcp_connect(&q->creq, &q->tcp, agent, on_connect);
    if (rc) {
        q->cb = NULL; /* the caller hears NULL, not a callback */
        finish(q, CN_EIO, NULL, uv_strerror(rc));
        return NULL;
    }
    return q;
}
