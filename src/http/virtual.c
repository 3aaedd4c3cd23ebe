/* http/virtual.c: virtual requests (http.h): a request built from parts
 * rather than parsed from a connection, answered to a callback. Used to run
 * a client agent's API request on a server. A virtual request is one request
 * block (arena: target, headers, body) plus a small struct with its park
 * timer; the block is freed when it is answered, the struct when its timer
 * handle has closed. */
#include <string.h>

#include "base/assert.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/mem.h"
#include "http/http_int.h"

struct http__virt {
    uv_timer_t timer;
    struct http__req *r; /* NULL once answered */
    http_vreq_done_cb done;
    void *arg;
    bool aborted;
    /* a streamed response (http_stream_*), gathered whole */
    bool streaming, too_big;
    int sstatus;
    char *sctype;
    struct cn_buf shdrs, sbody;
};

/* What a streamed answer may gather: the client-agent RPC carries one
 * message of at most 64 MiB (transport max_msg), headers included. */
#define VIRT_STREAM_MAX (60u << 20)

static uint64_t live;

uint64_t http_vreq_live(void)
{
    return live;
}

bool http_req_is_virtual(const struct http_req *req)
{
    return ((const struct http__req *)req)->virt != NULL;
}

static void virt_closed(uv_handle_t *h)
{
    struct http__virt *v = h->data;
    cn_free(v->sctype);
    cn_buf_free(&v->shdrs);
    cn_buf_free(&v->sbody);
    cn_free(v);
}

static void virt_release(struct http__req *r)
{
    struct http__virt *v = r->virt;
    v->r = NULL;
    r->virt = NULL;
    http__req_free(r);
    live--;
    uv_timer_stop(&v->timer);
    uv_close((uv_handle_t *)&v->timer, virt_closed);
}

static void on_timer(uv_timer_t *t)
{
    struct http__virt *v = t->data;
    struct http__req *r = v->r;
    if (!r || !(r->flags & HTTP__R_PARKED))
        return;
    r->flags &= ~(uint32_t)HTTP__R_PARKED;
    if (r->on_timeout)
        r->on_timeout(&r->pub); /* may answer, which frees r */
}

void http__virt_park(struct http__req *r, uint64_t timeout_ms)
{
    struct http__virt *v = r->virt;
    if (v->aborted)
        return;
    r->flags |= HTTP__R_PARKED;
    uv_timer_start(&v->timer, on_timer, timeout_ms ? timeout_ms : 1, 0);
}

void http__virt_unpark(struct http__req *r)
{
    r->flags &= ~(uint32_t)HTTP__R_PARKED;
    uv_timer_stop(&r->virt->timer);
}

void http__virt_respond(struct http__req *r, int status, const char *content_type,
                        const char *extra_headers, size_t extra_len, const void *body,
                        size_t body_len)
{
    struct http__virt *v = r->virt;
    if (!v->aborted && v->done)
        v->done(v->arg, status, content_type, extra_headers, extra_len, body, body_len);
    virt_release(r);
}

int http__virt_stream_start(struct http__req *r, int status, const char *content_type,
                            const char *extra_headers, size_t extra_len)
{
    struct http__virt *v = r->virt;
    if (v->streaming)
        return CN_EINVAL;
    http__virt_unpark(r);
    r->flags |= HTTP__R_STREAM;
    v->streaming = true;
    v->sstatus = status;
    if (content_type && !(v->sctype = cn_strdup(content_type)))
        return CN_ENOMEM;
    if (extra_len && cn_buf_append(&v->shdrs, extra_headers, extra_len))
        return CN_ENOMEM;
    return v->aborted ? CN_ESHUTDOWN : 0;
}

int http__virt_stream_write(struct http__req *r, const void *p, size_t n)
{
    struct http__virt *v = r->virt;
    if (v->aborted)
        return CN_ESHUTDOWN;
    if (v->sbody.len + n > VIRT_STREAM_MAX) {
        v->too_big = true;
        return CN_ETOOBIG;
    }
    return cn_buf_append(&v->sbody, p, n) ? CN_ENOMEM : 0;
}

void http__virt_stream_end(struct http__req *r, bool ok)
{
    struct http__virt *v = r->virt;
    if (!v->aborted && v->done) {
        if (ok) {
            v->done(v->arg, v->sstatus, v->sctype, v->shdrs.p, v->shdrs.len, v->sbody.p,
                    v->sbody.len);
        } else {
            /* A connection would be closed mid-body; one message cannot be
             * cut, so the receiver gets an error instead. */
            static const char big[] = "response too large to forward to a client agent";
            static const char cut[] = "response stream ended early";
            v->done(v->arg, 500, "text/plain; charset=utf-8", NULL, 0, v->too_big ? big : cut,
                    v->too_big ? sizeof(big) - 1 : sizeof(cut) - 1);
        }
    }
    virt_release(r);
}

void http_vreq_abort(struct http_req *req)
{
    struct http__req *r = (struct http__req *)req;
    struct http__virt *v = r->virt;
    if (!v || v->aborted)
        return;
    v->aborted = true;
    r->flags |= HTTP__R_ABORTED;
    uv_timer_stop(&v->timer);
    r->flags &= ~(uint32_t)HTTP__R_PARKED;
    if (r->on_abort && !(r->flags & HTTP__R_ABORT_SENT)) {
        r->flags |= HTTP__R_ABORT_SENT;
        r->on_abort(&r->pub); /* may call http_respond, which frees r */
    }
}

int http__req_add_header(struct http__req *r, const char *name, size_t nlen, const char *value,
                         size_t vlen)
{
    CN_ASSERT(!(r->flags & HTTP__R_PACKED)); /* virtual requests are never compacted */
    char *n = http__arena_alloc(&r->arena, nlen + 1);
    char *val = http__arena_alloc(&r->arena, vlen + 1);
    struct http__hdr *h = http__arena_alloc(&r->arena, sizeof(*h));
    if (!n || !val || !h)
        return CN_ENOMEM;
    memcpy(n, name, nlen);
    n[nlen] = '\0';
    memcpy(val, value, vlen);
    val[vlen] = '\0';
    h->next = NULL;
    h->name = n;
    h->value = val;
    struct http__hdr **tail = &r->hdrs; /* a few headers: walking is fine */
    while (*tail)
        tail = &(*tail)->next;
    *tail = h;
    return 0;
}

static const struct {
    const char *name;
    enum http_method m;
} methods[] = {
    {"GET", HTTP_M_GET},     {"HEAD", HTTP_M_HEAD},     {"PUT", HTTP_M_PUT},
    {"POST", HTTP_M_POST},   {"DELETE", HTTP_M_DELETE}, {"OPTIONS", HTTP_M_OPTIONS},
    {"PATCH", HTTP_M_PATCH},
};

int http_vreq_new(uv_loop_t *loop, const char *method, size_t method_len, const char *target,
                  size_t target_len, const struct http_vhdr *hdrs, size_t nhdrs, const void *body,
                  size_t body_len, http_vreq_done_cb done, void *arg, struct http_req **out)
{
    *out = NULL;
    int m = -1;
    for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (strlen(methods[i].name) == method_len && !memcmp(methods[i].name, method, method_len))
            m = (int)i;
    if (m < 0 || !target_len || memchr(target, 0, target_len))
        return 400;
    struct http__req *r = http__req_new(NULL);
    struct http__virt *v = cn_calloc(1, sizeof(*v));
    if (!r || !v) {
        if (r)
            http__req_free(r);
        cn_free(v);
        return 500;
    }
    r->pub.method = methods[m].m;
    r->pub.method_str = methods[m].name;
    char *raw = http__arena_alloc(&r->arena, target_len + 1);
    char *b = http__arena_alloc(&r->arena, body_len + 1);
    int st = raw && b ? 0 : 500;
    if (!st) {
        memcpy(raw, target, target_len);
        raw[target_len] = '\0';
        r->pub.raw_target = raw;
        st = http__parse_target(r, raw, target_len);
    }
    for (size_t i = 0; !st && i < nhdrs; i++)
        if (http__req_add_header(r, hdrs[i].name, hdrs[i].name_len, hdrs[i].value,
                                 hdrs[i].value_len))
            st = 500;
    if (st) {
        http__req_free(r);
        cn_free(v);
        return st;
    }
    if (body_len)
        memcpy(b, body, body_len);
    b[body_len] = '\0';
    r->pub.body = b;
    r->pub.body_len = body_len;
    r->flags |= HTTP__R_HEADERS_DONE;
    uv_timer_init(loop, &v->timer);
    v->timer.data = v;
    v->r = r;
    v->done = done;
    v->arg = arg;
    r->virt = v;
    live++;
    *out = &r->pub;
    return 0;
}
