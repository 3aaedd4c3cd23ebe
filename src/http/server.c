/* http/server.c: connections, keep-alive, pipelining, parking and timeouts.
 *
 * Each connection runs one request at a time: llhttp pauses at the end of a
 * message, the request is dispatched, and parsing resumes only after
 * http_respond(). Bytes that arrive meanwhile (pipelined requests) are kept in
 * a small per-connection pending buffer; reading continues so that a client
 * that goes away is noticed, until the pending bytes exceed the request limits
 * (backpressure).
 *
 * Every connection has at most one deadline (idle keep-alive, header timeout,
 * or the park deadline of its unanswered request) in one min-heap per server,
 * driven by a single uv_timer. */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/assert.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "http/http_int.h"
#include "tls/tls.h"

#define READ_BUF_SIZE (64 * 1024)
#define REQ_FREE_MAX 256
#define PARSER_FREE_MAX 64
#define WREQ_FREE_MAX 128
#define WREQ_SMALL 4096 /* bytes of response data in a pooled write request */
#define NO_HEAP UINT32_MAX
/* Responses queued but not yet accepted by the kernel above which a connection
 * stops parsing (and reading) pipelined requests until the client reads. */
#define WRITE_BACKLOG (256 * 1024)

enum dl_kind { DL_NONE, DL_IDLE, DL_HEADER, DL_PARK };

struct http__wreq {
    uv_write_t w;
    struct http__conn *c;
    struct http__wreq *next_free;
    void (*release)(void *); /* a borrowed body (http_respond_ref): done with it */
    void *release_arg;
    size_t cap;
    char data[];
};

/* Bytes read but not parsed yet (pipelined requests), only while there are
 * some. */
struct http__pend {
    size_t off, len, cap;
    char data[];
};

/* What every open connection costs (idle, parked or busy): the libuv handle
 * and this. The parser (struct http__parser, with llhttp's state) is taken
 * from the server's pool when a message begins and given back once it is
 * complete, so an idle or parked connection holds none. */
struct http__conn {
    uv_tcp_t tcp;            /* first: a handle is its connection; tcp.data is the server */
    struct http__req *cur;   /* dispatched and unanswered */
    struct http__parser *p;  /* a message is being received (else NULL) */
    struct tls_conn *tls;    /* HTTPS: the connection's TLS state (else NULL) */
    struct http__pend *pend; /* pipelined bytes not yet parsed (else NULL) */
    uint64_t deadline, park_deadline;
    uint32_t heap_idx;
    uint16_t writes; /* in flight */
    uint8_t dl_kind;
    bool closing : 1, in_run : 1, reading : 1, close_after_write : 1, shutting : 1, held : 1;
};

/* The budget of a parked connection beside its (compacted) request: 312 B
 * with malloc's header on x86-64 (docs/benchmarks.md, bench/parked.sh). */
_Static_assert(sizeof(struct http__conn) <= sizeof(uv_tcp_t) + 56, "http__conn grew");
_Static_assert(offsetof(struct http__conn, tcp) == 0, "a handle converts to its connection");

/* A connection's server: its handle's data (no pointer of its own; the
 * server finds its connections with uv_walk, so none holds list links). */
#define SRV(c) ((struct http_server *)(c)->tcp.data)

struct http_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    uv_timer_t timer;
    struct http_options opt;
    int port;
    size_t nconns; /* open (not closing) connections: see conns_each */
    struct http__conn **heap;
    size_t heap_len, heap_cap;
    bool timer_armed, stopping, rbuf_busy, draining;
    uint64_t timer_due;
    int open_handles;
    void (*done)(void *);
    void *done_arg;
    void *req_free; /* free blocks linked through their first word */
    size_t nreq_free;
    struct http__parser *parser_free; /* linked through their `owner` */
    size_t nparser_free;
    struct http__wreq *wreq_free;
    size_t nwreq_free;
    size_t nwreq_out; /* write requests not yet given back */
    char *rbuf;       /* the one read buffer */
    time_t date_sec;
    char date[48]; /* "Date: ...\r\n" */
    size_t date_len;
    struct http_stats stats;
    SSL_CTX *tls; /* HTTPS: new connections use it (one reference held) */
};

static void conn_close(struct http__conn *c);
static void srv_closed_cb(uv_handle_t *h);
static void conn_run(struct http__conn *c, const char *data, size_t n);
static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);

/* ---- request blocks ---- */

struct http__req *http__req_new(struct http_server *srv)
{
    struct http__req *r;
    if (srv && srv->req_free) {
        r = srv->req_free;
        srv->req_free = *(void **)r;
        srv->nreq_free--;
    } else {
        r = cn_malloc(HTTP__REQ_BLOCK);
        if (!r)
            return NULL;
    }
    memset(r, 0, sizeof(*r));
    r->srv = srv;
    r->arena.cur = r->inline_arena;
    r->arena.end = (char *)r + HTTP__REQ_BLOCK;
    return r;
}

/* Give a block back to the pool (or the allocator): exact-size ones and
 * those of a server going away go to the allocator. */
static void req_block_put(struct http_server *srv, struct http__req *r, bool exact)
{
    if (!exact && srv && !srv->stopping && srv->nreq_free < REQ_FREE_MAX) {
        *(void **)r = srv->req_free;
        srv->req_free = r;
        srv->nreq_free++;
    } else {
        cn_free(r);
    }
}

void http__req_free(struct http__req *r)
{
    struct http__blk *b = r->arena.blocks;
    while (b) {
        struct http__blk *n = b->next;
        cn_free(b);
        b = n;
    }
    if (r->flags & HTTP__R_HEAP_BODY)
        cn_free((char *)r->pub.body);
    req_block_put(r->srv, r, r->flags & HTTP__R_EXACT);
}

bool http__server_keeps(const struct http_server *s, const char *name)
{
    const char *const *k = s->opt.keep_headers;
    if (!k)
        return true;
    for (; *k; k++)
        if (strcasecmp(*k, name) == 0)
            return true;
    return false;
}

static bool keeps(const char *const *keep, const char *name)
{
    if (!*name)
        return false; /* no one can ask for it; "" would end the packed list */
    if (!keep)
        return true;
    for (; *keep; keep++)
        if (strcasecmp(*keep, name) == 0)
            return true;
    return false;
}

/* Copy n bytes and a NUL to *o; the copy. */
static char *put_str(char **o, const char *s, size_t n)
{
    char *d = *o;
    memcpy(d, s, n);
    d[n] = '\0';
    *o += n + 1;
    return d;
}

#define ALIGN8(n) (((n) + 7) & ~(size_t)7)

struct http__req *http__req_compact(struct http__req *r, const char *const *keep)
{
    /* Only a request entirely within its inline block (the copy is bounded
     * by it; a bigger request is not worth one). */
    if (r->arena.blocks || r->arena.open || (r->flags & (HTTP__R_EXACT | HTTP__R_PACKED)) ||
        r->virt)
        return r;
    uintptr_t lo = (uintptr_t)r, b = (uintptr_t)r->pub.body;
    bool body_in = b >= lo && b < lo + HTTP__REQ_BLOCK; /* else heap or static "" */
    size_t np = r->pub.nparams, tlen = strlen(r->pub.raw_target);
    size_t n = ALIGN8(sizeof(*r)) + np * sizeof(struct http_param);
    n += tlen + 1 + r->pub.path_len + 1 + 1 /* end of the headers */;
    for (size_t i = 0; i < np; i++)
        n += strlen(r->pub.params[i].key) + strlen(r->pub.params[i].value) + 2;
    for (const struct http__hdr *h = r->hdrs; h; h = h->next)
        if (keeps(keep, h->name))
            n += strlen(h->name) + strlen(h->value) + 2;
    if (body_in)
        n += r->pub.body_len + 1;
    char *nw = cn_malloc(n);
    if (!nw)
        return r;
    struct http__req *q = (struct http__req *)nw;
    *q = *r; /* scalars and pointers outside the block (method_str, a heap body) */
    char *o = nw + ALIGN8(sizeof(*r));
    q->pub.params = NULL;
    if (np) {
        q->pub.params = (struct http_param *)o;
        o += np * sizeof(struct http_param);
    }
    q->pub.raw_target = put_str(&o, r->pub.raw_target, tlen);
    q->pub.path = put_str(&o, r->pub.path, r->pub.path_len);
    for (size_t i = 0; i < np; i++) {
        const struct http_param *sp = &r->pub.params[i];
        q->pub.params[i].has_value = sp->has_value;
        q->pub.params[i].key = put_str(&o, sp->key, strlen(sp->key));
        q->pub.params[i].value = put_str(&o, sp->value, strlen(sp->value));
    }
    q->packed = o;
    for (const struct http__hdr *h = r->hdrs; h; h = h->next) {
        if (keeps(keep, h->name)) {
            put_str(&o, h->name, strlen(h->name));
            put_str(&o, h->value, strlen(h->value));
        }
    }
    *o++ = '\0';
    if (body_in)
        q->pub.body = put_str(&o, r->pub.body, r->pub.body_len);
    CN_ASSERT((size_t)(o - nw) == n);
    /* No room left: a later arena allocation takes an overflow block. */
    q->arena.cur = q->arena.end = nw + n;
    q->flags |= HTTP__R_EXACT | HTTP__R_PACKED;
    req_block_put(r->srv, r, false);
    return q;
}

#undef ALIGN8

/* ---- write requests ---- */

static struct http__wreq *wreq_get(struct http_server *srv, size_t need)
{
    struct http__wreq *w;
    if (need <= WREQ_SMALL && srv->wreq_free) {
        w = srv->wreq_free;
        srv->wreq_free = w->next_free;
        srv->nwreq_free--;
        w->release = NULL;
        srv->nwreq_out++;
        return w;
    }
    /* Small answers get a poolable block, except in a herd (thousands of
     * parked queries answered at once): more blocks out than the pool keeps
     * would each touch 4 KiB of fresh memory for a few hundred bytes. */
    size_t cap = need <= WREQ_SMALL && srv->nwreq_out < WREQ_FREE_MAX ? WREQ_SMALL : need;
    w = cn_malloc(sizeof(*w) + cap);
    if (w) {
        w->cap = cap;
        w->release = NULL;
        srv->nwreq_out++;
    }
    return w;
}

static void wreq_put(struct http_server *srv, struct http__wreq *w)
{
    srv->nwreq_out--;
    if (w->release) {
        w->release(w->release_arg);
        w->release = NULL;
    }
    if (w->cap == WREQ_SMALL && !srv->stopping && srv->nwreq_free < WREQ_FREE_MAX) {
        w->next_free = srv->wreq_free;
        srv->wreq_free = w;
        srv->nwreq_free++;
    } else {
        cn_free(w);
    }
}

/* ---- deadline heap ---- */

static bool heap_less(struct http_server *s, size_t a, size_t b)
{
    return s->heap[a]->deadline < s->heap[b]->deadline;
}

static void heap_swap(struct http_server *s, size_t a, size_t b)
{
    struct http__conn *t = s->heap[a];
    s->heap[a] = s->heap[b];
    s->heap[b] = t;
    s->heap[a]->heap_idx = (uint32_t)a;
    s->heap[b]->heap_idx = (uint32_t)b;
}

static void heap_fix(struct http_server *s, size_t i)
{
    while (i > 0 && heap_less(s, i, (i - 1) / 2)) {
        heap_swap(s, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < s->heap_len && heap_less(s, l, m))
            m = l;
        if (l + 1 < s->heap_len && heap_less(s, l + 1, m))
            m = l + 1;
        if (m == i)
            break;
        heap_swap(s, i, m);
        i = m;
    }
}

static void heap_del(struct http_server *s, struct http__conn *c)
{
    size_t i = c->heap_idx;
    if (i == NO_HEAP)
        return;
    c->heap_idx = NO_HEAP;
    s->heap_len--;
    if (i != s->heap_len) {
        s->heap[i] = s->heap[s->heap_len];
        s->heap[i]->heap_idx = (uint32_t)i;
        heap_fix(s, i);
    }
}

static void timer_cb(uv_timer_t *t);

static void timer_arm(struct http_server *s)
{
    if (!s->heap_len || s->stopping)
        return;
    uint64_t top = s->heap[0]->deadline;
    /* Deadlines mostly move later (idle connections that keep talking); the
     * timer is only pulled earlier, and a timer that fires early re-arms. */
    if (s->timer_armed && s->timer_due <= top)
        return;
    uint64_t now = uv_now(s->loop);
    uv_timer_start(&s->timer, timer_cb, top > now ? top - now : 0, 0);
    s->timer_armed = true;
    s->timer_due = top;
}

/* Returns false only when out of memory (the heap could not grow). */
static bool heap_set(struct http_server *s, struct http__conn *c, uint64_t deadline)
{
    c->deadline = deadline;
    if (c->heap_idx == NO_HEAP) {
        if (s->heap_len == s->heap_cap) {
            size_t cap = s->heap_cap ? 2 * s->heap_cap : 64;
            struct http__conn **h = cn_realloc(s->heap, cap * sizeof(*h));
            if (!h)
                return false;
            s->heap = h;
            s->heap_cap = cap;
        }
        c->heap_idx = (uint32_t)s->heap_len;
        s->heap[s->heap_len++] = c;
    }
    heap_fix(s, c->heap_idx);
    timer_arm(s);
    return true;
}

/* Recompute the connection's deadline and whether it should read. */
static void conn_update(struct http__conn *c)
{
    struct http_server *s = SRV(c);
    if (c->closing)
        return;
    uint64_t now = uv_now(s->loop);
    enum dl_kind kind;
    uint64_t dl = 0;
    if (c->cur) {
        kind = (c->cur->flags & HTTP__R_PARKED) ? DL_PARK : DL_NONE;
        dl = c->park_deadline;
    } else if (c->p && c->p->req) {
        kind = DL_HEADER;
        dl = c->p->msg_start + s->opt.header_timeout_ms;
    } else {
        kind = DL_IDLE;
        dl = now + s->opt.idle_timeout_ms;
    }
    c->dl_kind = (uint8_t)kind;
    if (kind == DL_NONE) {
        heap_del(s, c);
    } else if (!heap_set(s, c, dl)) {
        conn_close(c);
        return;
    }

    size_t pending = c->pend ? c->pend->len - c->pend->off : 0;
    bool want = !c->close_after_write && !c->held &&
                pending <= s->opt.max_header_bytes + s->opt.max_body_bytes;
    if (want && !c->reading) {
        if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb) == 0)
            c->reading = true;
    } else if (!want && c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
}

/* ---- responses ---- */

static const char *reason(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Request Entity Too Large";
    case 414:
        return "Request-URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Unknown";
    }
}

static const char *const wday[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
static const char *const mon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

/* "Date:" in IMF-fixdate (RFC 7231 §7.1.1.1), formatted once per second. */
static void date_refresh(struct http_server *s)
{
    time_t now = time(NULL);
    if (now == s->date_sec && s->date_len)
        return;
    struct tm tm;
    gmtime_r(&now, &tm);
    int n = snprintf(s->date, sizeof(s->date), "Date: %s, %02d %s %04d %02d:%02d:%02d GMT\r\n",
                     wday[tm.tm_wday % 7], tm.tm_mday, mon[tm.tm_mon % 12], tm.tm_year + 1900,
                     tm.tm_hour, tm.tm_min, tm.tm_sec);
    s->date_len = n > 0 && (size_t)n < sizeof(s->date) ? (size_t)n : 0;
    s->date_sec = now;
}

static char *put(char *o, const char *s, size_t n)
{
    memcpy(o, s, n);
    return o + n;
}

static char *put_u64(char *o, uint64_t v)
{
    char tmp[24];
    int i = 0;
    do {
        tmp[i++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (i)
        *o++ = tmp[--i];
    return o;
}

static void write_cb(uv_write_t *w, int status);

static void write_finished(struct http__conn *c, int status);

static void tls_write_cb(void *arg, int status)
{
    write_finished(arg, status);
}

/* Write w's len bytes, then the borrowed body `ref` (w->release set) if any. */
static int conn_write(struct http__conn *c, struct http__wreq *w, size_t len, const void *ref,
                      size_t ref_len)
{
    w->c = c;
    uv_buf_t b[2] = {uv_buf_init(w->data, (unsigned)len),
                     uv_buf_init((char *)ref, (unsigned)ref_len)};
    if (c->tls) {
        /* The plaintext is copied into TLS records: the buffer (and a
         * borrowed body, released by wreq_put) goes back now. */
        int rc =
            tls_conn_write(c->tls, (uv_stream_t *)&c->tcp, b, ref_len ? 2 : 1, tls_write_cb, c);
        wreq_put(SRV(c), w);
        if (rc)
            return rc;
        c->writes++;
        return 0;
    }
    int rc = uv_write(&w->w, (uv_stream_t *)&c->tcp, b, ref_len ? 2 : 1, write_cb);
    if (rc) {
        wreq_put(SRV(c), w);
        return rc;
    }
    c->writes++;
    return 0;
}

/* Format the whole response into one buffer and write it with one uv_write;
 * with `release`, the body is borrowed (written from where it is, then
 * released) instead of copied. */
static int write_response(struct http__conn *c, int status, const char *ctype, const char *extra,
                          size_t extra_len, const void *body, size_t body_len, bool head, bool keep,
                          bool http10, void (*release)(void *), void *release_arg)
{
    struct http_server *s = SRV(c);
    if (status < 100 || status > 999)
        status = 500;
    const char *rs = reason(status);
    size_t rlen = strlen(rs), clen = ctype ? strlen(ctype) : 0;
    date_refresh(s);
    bool ref = release && !head && body_len;
    size_t need = 13 + rlen + 2 + s->date_len + (ctype ? 14 + clen + 2 : 0) + 16 + 20 + 2 + 24 +
                  extra_len + 2 + (head || ref ? 0 : body_len);
    struct http__wreq *w = wreq_get(s, need);
    if (!w) {
        if (release)
            release(release_arg);
        return CN_ENOMEM;
    }
    if (release) {
        w->release = release;
        w->release_arg = release_arg;
    }
    char *o = w->data;
    o = put(o, "HTTP/1.1 ", 9);
    *o++ = (char)('0' + status / 100);
    *o++ = (char)('0' + status / 10 % 10);
    *o++ = (char)('0' + status % 10);
    *o++ = ' ';
    o = put(o, rs, rlen);
    o = put(o, "\r\n", 2);
    o = put(o, s->date, s->date_len);
    if (ctype) {
        o = put(o, "Content-Type: ", 14);
        o = put(o, ctype, clen);
        o = put(o, "\r\n", 2);
    }
    o = put(o, "Content-Length: ", 16);
    o = put_u64(o, body_len);
    o = put(o, "\r\n", 2);
    if (!keep)
        o = put(o, "Connection: close\r\n", 19);
    else if (http10) /* RFC 7230 §A.1.2: 1.0 keep-alive must be announced */
        o = put(o, "Connection: keep-alive\r\n", 24);
    if (extra_len)
        o = put(o, extra, extra_len);
    o = put(o, "\r\n", 2);
    if (!head && body_len && !ref)
        o = put(o, body, body_len);
    return conn_write(c, w, (size_t)(o - w->data), ref ? body : NULL, ref ? body_len : 0);
}

static void shutdown_cb(uv_shutdown_t *sr, int status)
{
    struct http__conn *c = (struct http__conn *)sr->handle;
    cn_free(sr);
    conn_close(c);
}

/* Send FIN after the last response, then close: closing at once could reset
 * the connection before the client has read it. */
static void conn_shutdown(struct http__conn *c)
{
    if (c->shutting || c->closing)
        return;
    c->shutting = true;
    if (c->tls)
        tls_conn_close_notify(c->tls, (uv_stream_t *)&c->tcp);
    uv_shutdown_t *sr = cn_malloc(sizeof(*sr));
    if (!sr || uv_shutdown(sr, (uv_stream_t *)&c->tcp, shutdown_cb) != 0) {
        cn_free(sr);
        conn_close(c);
    }
}

static void write_cb(uv_write_t *wr, int status)
{
    struct http__wreq *w = (struct http__wreq *)wr;
    struct http__conn *c = w->c;
    wreq_put(SRV(c), w);
    write_finished(c, status);
}

static void write_finished(struct http__conn *c, int status)
{
    c->writes--;
    if (status < 0)
        conn_close(c);
    else if (c->close_after_write && !c->writes)
        conn_shutdown(c);
    else if (c->cur && (c->cur->flags & HTTP__R_STREAM) && c->cur->on_drain &&
             c->tcp.write_queue_size <= HTTP_STREAM_LOW)
        c->cur->on_drain(&c->cur->pub); /* may end the stream */
    else if (c->held && c->tcp.write_queue_size <= WRITE_BACKLOG / 2)
        conn_run(c, NULL, 0);
}

static void conn_drop_pending(struct http__conn *c)
{
    cn_free(c->pend);
    c->pend = NULL;
}

/* ---- parsers (one per connection receiving a message) ---- */

static void on_begin(struct http__parser *p);
static void on_continue(struct http__parser *p);

static struct http__parser *parser_get(struct http__conn *c)
{
    struct http_server *s = SRV(c);
    struct http__parser *p = s->parser_free;
    if (p) {
        s->parser_free = p->owner;
        s->nparser_free--;
    } else if (!(p = cn_malloc(sizeof(*p)))) {
        return NULL;
    }
    http__parser_init(p, s, s->opt.max_header_bytes, s->opt.max_body_bytes);
    p->keep = s->opt.keep_headers;
    if (s->opt.large_body_path && s->opt.large_body_bytes > s->opt.max_body_bytes) {
        p->large_path = s->opt.large_body_path;
        p->large_body_bytes = s->opt.large_body_bytes;
    }
    p->on_begin = on_begin;
    p->on_continue = on_continue;
    p->owner = c;
    c->p = p;
    return p;
}

/* Between messages llhttp holds nothing a fresh parser would not: the next
 * message starts from a new one. A half-received request is freed. */
static void parser_put(struct http__conn *c)
{
    struct http__parser *p = c->p;
    if (!p)
        return;
    c->p = NULL;
    if (p->req) {
        http__req_free(p->req);
        p->req = NULL;
    }
    struct http_server *s = SRV(c);
    if (!s->stopping && s->nparser_free < PARSER_FREE_MAX) {
        p->owner = s->parser_free;
        s->parser_free = p;
        s->nparser_free++;
    } else {
        cn_free(p);
    }
}

/* Answer a request that failed to parse with a plain-text error, then close. */
static void conn_fail(struct http__conn *c, int status)
{
    parser_put(c);
    conn_drop_pending(c);
    c->close_after_write = true;
    const char *rs = reason(status);
    char body[64];
    int n = snprintf(body, sizeof(body), "%s\n", rs);
    if (write_response(c, status, "text/plain; charset=utf-8", NULL, 0, body, (size_t)n, false,
                       false, false, NULL, NULL) != 0) {
        conn_close(c);
        return;
    }
    conn_update(c);
}

/* ---- requests ---- */

static void req_abort(struct http__req *r)
{
    struct http_server *s = r->srv;
    r->conn = NULL;
    r->flags |= HTTP__R_ABORTED;
    if (r->flags & HTTP__R_PARKED) {
        r->flags &= ~(uint32_t)HTTP__R_PARKED;
        s->stats.parked--;
    }
    /* The handler may hold the request past the server's life: it goes back
     * to the allocator, not to the server's free list. */
    r->srv = NULL;
    if (r->on_abort && !(r->flags & HTTP__R_ABORT_SENT)) {
        r->flags |= HTTP__R_ABORT_SENT;
        r->on_abort(&r->pub); /* may call http_respond, which frees r */
    }
}

/* Go's http.Redirect(w, r, url, 301) for an unclean path: true when answered. */
static bool redirect_unclean(struct http_req *req)
{
    struct cn_buf loc = CN_BUF_INIT;
    int rc = http_path_redirect(req, &loc);
    if (rc == 0)
        return false;
    if (rc < 0) {
        static const char msg[] = "out of memory";
        http_respond(req, 500, "text/plain; charset=utf-8", NULL, 0, msg, sizeof(msg) - 1);
        return true;
    }
    struct cn_buf h = CN_BUF_INIT, body = CN_BUF_INIT;
    int e = cn_buf_printf(&h, "Location: %s\r\n", loc.p);
    bool get = req->method == HTTP_M_GET, head = req->method == HTTP_M_HEAD;
    if (!e && get) { /* <a href="URL">Moved Permanently</a>.\n, then Fprintln's \n */
        e = cn_buf_append(&body, "<a href=\"", 9);
        for (const char *p = loc.p; !e && *p; p++) {
            const char *x = *p == '&'    ? "&amp;"
                            : *p == '<'  ? "&lt;"
                            : *p == '>'  ? "&gt;"
                            : *p == '"'  ? "&#34;"
                            : *p == '\'' ? "&#39;"
                                         : NULL;
            e = x ? cn_buf_append(&body, x, strlen(x)) : cn_buf_append(&body, p, 1);
        }
        if (!e) {
            static const char tail[] = "\">Moved Permanently</a>.\n\n";
            e = cn_buf_append(&body, tail, sizeof(tail) - 1);
        }
    }
    if (e) {
        static const char msg[] = "out of memory";
        http_respond(req, 500, "text/plain; charset=utf-8", NULL, 0, msg, sizeof(msg) - 1);
    } else {
        http_respond(req, 301, get || head ? "text/html; charset=utf-8" : NULL, h.p, h.len, body.p,
                     body.len);
    }
    cn_buf_free(&loc);
    cn_buf_free(&h);
    cn_buf_free(&body);
    return true;
}

static void dispatch(struct http__conn *c)
{
    struct http__req *r = c->p->req;
    c->p->req = NULL;
    c->cur = r;
    r->conn = c;
    r->pub.tag = NULL;
    r->pub.tag_ns = 0;
    if (SRV(c)->opt.clean_paths && redirect_unclean(&r->pub))
        return;
    SRV(c)->opt.handler(SRV(c)->opt.handler_arg, &r->pub);
}

void http_respond_ref(struct http_req *req, int status, const char *content_type,
                      const char *extra_headers, size_t extra_len, const void *body,
                      size_t body_len, void (*release)(void *), void *release_arg)
{
    struct http__req *r = (struct http__req *)req;
    if (r->virt) {
        /* the answer is handed over (copied) during the call */
        http__virt_respond(r, status, content_type, extra_headers, extra_len, body, body_len);
        if (release)
            release(release_arg);
        return;
    }
    struct http__conn *c = r->conn;
    if (!c) {
        http__req_free(r);
        if (release)
            release(release_arg);
        return;
    }
    struct http_server *s = SRV(c);
    if (r->flags & HTTP__R_PARKED) {
        r->flags &= ~(uint32_t)HTTP__R_PARKED;
        s->stats.parked--;
    }
    c->cur = NULL;
    r->conn = NULL;
    bool keep = (r->flags & HTTP__R_KEEP_ALIVE) && !s->stopping;
    s->stats.requests++;
    int rc = write_response(c, status, content_type, extra_headers, extra_len, body, body_len,
                            req->method == HTTP_M_HEAD, keep, r->flags & HTTP__R_HTTP10, release,
                            release_arg);
    http__req_free(r);
    if (rc) {
        conn_close(c);
        return;
    }
    if (!keep) {
        c->close_after_write = true;
        conn_drop_pending(c);
        if (!c->in_run)
            conn_update(c);
        return;
    }
    conn_run(c, NULL, 0);
}

/* ---- streamed responses ---- */

int http_stream_start(struct http_req *req, int status, const char *content_type,
                      const char *extra_headers, size_t extra_len, int64_t content_length,
                      http_drain_cb on_drain, http_abort_cb on_abort)
{
    struct http__req *r = (struct http__req *)req;
    struct http__conn *c = r->conn;
    r->on_drain = on_drain;
    r->on_abort = on_abort;
    if (r->virt)
        return http__virt_stream_start(r, status, content_type, extra_headers, extra_len);
    if (!c)
        return CN_ESHUTDOWN;
    struct http_server *s = SRV(c);
    if (r->flags & HTTP__R_PARKED) {
        r->flags &= ~(uint32_t)HTTP__R_PARKED;
        s->stats.parked--;
    }
    r->flags |= HTTP__R_STREAM;
    if (content_length < 0)
        r->flags |= HTTP__R_CHUNKED;
    const char *rs = reason(status);
    size_t rlen = strlen(rs), clen = content_type ? strlen(content_type) : 0;
    date_refresh(s);
    size_t need =
        13 + rlen + 2 + s->date_len + (content_type ? 14 + clen + 2 : 0) + 48 + 24 + extra_len + 2;
    struct http__wreq *w = wreq_get(s, need);
    if (!w)
        return CN_ENOMEM;
    char *o = w->data;
    o = put(o, "HTTP/1.1 ", 9);
    *o++ = (char)('0' + status / 100);
    *o++ = (char)('0' + status / 10 % 10);
    *o++ = (char)('0' + status % 10);
    *o++ = ' ';
    o = put(o, rs, rlen);
    o = put(o, "\r\n", 2);
    o = put(o, s->date, s->date_len);
    if (content_type) {
        o = put(o, "Content-Type: ", 14);
        o = put(o, content_type, clen);
        o = put(o, "\r\n", 2);
    }
    if (content_length < 0) {
        o = put(o, "Transfer-Encoding: chunked\r\n", 28);
    } else {
        o = put(o, "Content-Length: ", 16);
        o = put_u64(o, (uint64_t)content_length);
        o = put(o, "\r\n", 2);
    }
    if (r->flags & HTTP__R_HTTP10)
        o = put(o, "Connection: close\r\n", 19);
    if (extra_len)
        o = put(o, extra_headers, extra_len);
    o = put(o, "\r\n", 2);
    int rc = conn_write(c, w, (size_t)(o - w->data), NULL, 0);
    if (rc)
        return CN_EIO;
    conn_update(c); /* no deadline while streaming; keep reading to see EOF */
    return 0;
}

int http_stream_write(struct http_req *req, const void *p, size_t n)
{
    struct http__req *r = (struct http__req *)req;
    struct http__conn *c = r->conn;
    if (r->virt)
        return http__virt_stream_write(r, p, n);
    if (!c || c->closing)
        return CN_ESHUTDOWN;
    if (!n)
        return 0;
    bool chunked = r->flags & HTTP__R_CHUNKED;
    struct http__wreq *w = wreq_get(SRV(c), n + 24);
    if (!w)
        return CN_ENOMEM;
    char *o = w->data;
    if (chunked) {
        int k = snprintf(o, 20, "%zx\r\n", n);
        o += k;
    }
    o = put(o, p, n);
    if (chunked)
        o = put(o, "\r\n", 2);
    return conn_write(c, w, (size_t)(o - w->data), NULL, 0) ? CN_EIO : 0;
}

size_t http_stream_queued(const struct http_req *req)
{
    const struct http__req *r = (const struct http__req *)req;
    return r->conn ? r->conn->tcp.write_queue_size : 0;
}

void http_stream_end(struct http_req *req, bool ok)
{
    struct http__req *r = (struct http__req *)req;
    struct http__conn *c = r->conn;
    if (r->virt) {
        http__virt_stream_end(r, ok);
        return;
    }
    if (!c) {
        http__req_free(r);
        return;
    }
    struct http_server *s = SRV(c);
    c->cur = NULL;
    r->conn = NULL;
    s->stats.requests++;
    bool keep =
        ok && (r->flags & HTTP__R_KEEP_ALIVE) && !(r->flags & HTTP__R_HTTP10) && !s->stopping;
    if (ok && (r->flags & HTTP__R_CHUNKED)) {
        struct http__wreq *w = wreq_get(s, 5);
        if (!w || conn_write(c, w, (size_t)(put(w->data, "0\r\n\r\n", 5) - w->data), NULL, 0)) {
            http__req_free(r);
            conn_close(c);
            return;
        }
    }
    http__req_free(r);
    if (!ok) {
        conn_close(c); /* the client must not take a broken body for a whole one */
        return;
    }
    if (!keep) {
        c->close_after_write = true;
        conn_drop_pending(c);
        if (!c->in_run)
            conn_update(c);
        return;
    }
    conn_run(c, NULL, 0);
}

void http_respond(struct http_req *req, int status, const char *content_type,
                  const char *extra_headers, size_t extra_len, const void *body, size_t body_len)
{
    http_respond_ref(req, status, content_type, extra_headers, extra_len, body, body_len, NULL,
                     NULL);
}

void http_req_park(struct http_req *req, uint64_t timeout_ms, http_timeout_cb on_timeout,
                   http_abort_cb on_abort)
{
    struct http__req *r = (struct http__req *)req;
    r->on_timeout = on_timeout;
    r->on_abort = on_abort;
    if (r->virt) {
        http__virt_park(r, timeout_ms);
        return;
    }
    struct http__conn *c = r->conn;
    if (!c)
        return;
    if (SRV(c)->draining) {
        /* Shutting down: no request waits any more; answer it now as if its
         * wait had run out (the caller parks as its last act). */
        if (on_timeout)
            on_timeout(req);
        return;
    }
    if (!(r->flags & HTTP__R_PARKED)) {
        r->flags |= HTTP__R_PARKED;
        SRV(c)->stats.parked++;
        if (c->tls)
            tls_conn_idle(c->tls); /* a parked query keeps no TLS buffers */
    }
    /* At least 1 ms so that re-parking from the timeout callback cannot
     * spin the timer loop. */
    c->park_deadline = uv_now(SRV(c)->loop) + (timeout_ms ? timeout_ms : 1);
    conn_update(c);
}

void http_req_unpark(struct http_req *req)
{
    struct http__req *r = (struct http__req *)req;
    if (r->virt) {
        http__virt_unpark(r);
        return;
    }
    struct http__conn *c = r->conn;
    if (!c || !(r->flags & HTTP__R_PARKED))
        return;
    r->flags &= ~(uint32_t)HTTP__R_PARKED;
    SRV(c)->stats.parked--;
    conn_update(c);
}

/* ---- timers ---- */

static void timer_cb(uv_timer_t *t)
{
    struct http_server *s = t->data;
    s->timer_armed = false;
    uint64_t now = uv_now(s->loop);
    while (s->heap_len && s->heap[0]->deadline <= now) {
        struct http__conn *c = s->heap[0];
        heap_del(s, c);
        if (c->dl_kind == DL_PARK && c->cur) {
            struct http__req *r = c->cur;
            r->flags &= ~(uint32_t)HTTP__R_PARKED;
            s->stats.parked--;
            if (r->on_timeout)
                r->on_timeout(&r->pub);
        } else {
            /* Idle keep-alive, or a request still incomplete after
             * header_timeout_ms (slowloris): just close. */
            conn_close(c);
        }
    }
    timer_arm(s);
}

/* ---- reading ---- */

static bool pend_append(struct http__conn *c, const char *d, size_t n)
{
    struct http__pend *pb = c->pend;
    if (pb && pb->off && pb->off == pb->len)
        pb->off = pb->len = 0;
    if (!pb || pb->len + n > pb->cap) {
        /* Slide the unparsed tail down before growing: no quadratic copying,
         * since each byte moves at most once per doubling. */
        if (pb && pb->off > 0) {
            memmove(pb->data, pb->data + pb->off, pb->len - pb->off);
            pb->len -= pb->off;
            pb->off = 0;
        }
        size_t len = pb ? pb->len : 0, cap = pb ? pb->cap : 0;
        if (len + n > cap) {
            cap = cap ? cap : 1024 - sizeof(*pb);
            while (cap < len + n)
                cap *= 2;
            pb = cn_realloc(pb, sizeof(*pb) + cap);
            if (!pb)
                return false; /* c->pend is still the old one, freed with c */
            if (!c->pend)
                pb->off = pb->len = 0;
            pb->cap = cap;
            c->pend = pb;
        }
    }
    memcpy(pb->data + pb->len, d, n);
    pb->len += n;
    return true;
}

/* Parse and dispatch until the connection has an unanswered request or no
 * more bytes. `data` are fresh bytes (only when no request is outstanding and
 * nothing is pending). Re-entrant calls (a handler answering at once) return
 * immediately: the outer loop carries on. */
static void conn_run(struct http__conn *c, const char *data, size_t n)
{
    if (c->in_run)
        return;
    c->in_run = true;
    c->held = false;
    for (;;) {
        if (c->closing || c->cur || c->close_after_write)
            break;
        if (c->tcp.write_queue_size > WRITE_BACKLOG) {
            /* The client sends requests but does not read the answers. */
            c->held = true;
            break;
        }
        const char *d;
        size_t len;
        bool from_pend = c->pend && c->pend->len > c->pend->off;
        if (from_pend) {
            d = c->pend->data + c->pend->off;
            len = c->pend->len - c->pend->off;
        } else if (n) {
            d = data;
            len = n;
            n = 0;
        } else {
            break;
        }
        if (!c->p && !parser_get(c)) {
            conn_close(c);
            break;
        }
        http__parser_resume(c->p);
        size_t used;
        bool complete;
        int st = http__parser_feed(c->p, d, len, &used, &complete);
        if (from_pend)
            c->pend->off += used;
        if (st) {
            conn_fail(c, st);
            break;
        }
        if (!from_pend && used < len && !pend_append(c, d + used, len - used)) {
            conn_close(c);
            break;
        }
        if (complete)
            dispatch(c);
    }
    c->in_run = false;
    if (c->closing)
        return;
    if (n && !pend_append(c, data, n)) { /* fresh bytes not parsed yet */
        conn_close(c);
        return;
    }
    if (c->pend && c->pend->off == c->pend->len)
        conn_drop_pending(c); /* an idle or parked connection keeps no buffer */
    if (c->p && !c->p->req)
        parser_put(c); /* ...and no parser */
    conn_update(c);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct http__conn *c = (struct http__conn *)h;
    struct http_server *s = SRV(c);
    if (!s->rbuf_busy) {
        s->rbuf_busy = true;
        *buf = uv_buf_init(s->rbuf, READ_BUF_SIZE);
        return;
    }
    char *p = cn_malloc(READ_BUF_SIZE);
    *buf = uv_buf_init(p, p ? READ_BUF_SIZE : 0);
}

/* Request bytes (plaintext) from the client. */
static void conn_input(struct http__conn *c, const char *data, size_t n)
{
    if (c->closing || c->close_after_write)
        return;
    if (c->cur || (c->pend && c->pend->len > c->pend->off)) {
        /* Unanswered request: keep the bytes for later. */
        if (!pend_append(c, data, n))
            conn_close(c);
        else if (!c->cur)
            conn_run(c, NULL, 0);
        else
            conn_update(c); /* maybe stop reading: backpressure */
    } else {
        conn_run(c, data, n);
    }
}

static int tls_plain(void *arg, const char *p, size_t n)
{
    struct http__conn *c = arg;
    conn_input(c, p, n);
    return c->closing || c->close_after_write;
}

static void peer_name(struct http__conn *c, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    int len = sizeof(ss);
    char ip[64] = "?";
    int port = 0;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof(ip));
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        } else {
            uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof(ip));
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        }
    }
    snprintf(out, cap, "%s:%d", ip, port);
}

/* HTTPS: ciphertext in; the handshake, then request bytes to conn_input. */
static void tls_input(struct http__conn *c, const char *data, size_t n)
{
    char err[256];
    bool was_ready = tls_conn_ready(c->tls);
    if (tls_conn_input(c->tls, data, n)) {
        conn_close(c);
        return;
    }
    int rc = tls_conn_read(c->tls, (uv_stream_t *)&c->tcp, tls_plain, c, err, sizeof(err));
    if (rc < 0 && !c->closing) {
        if (rc == CN_EPROTO && !was_ready) {
            char who[80];
            peer_name(c, who, sizeof(who));
            /* Go's net/http text, which Consul logs */
            cn_warn("http", "http: TLS handshake error from %s: %s", who, err);
        }
        conn_close(c);
    }
}

static void read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct http__conn *c = (struct http__conn *)st;
    struct http_server *s = SRV(c);
    if (nread > 0 && !c->closing && !c->close_after_write) {
        if (c->tls)
            tls_input(c, buf->base, (size_t)nread);
        else
            conn_input(c, buf->base, (size_t)nread);
    } else if (nread < 0 && !c->closing) {
        /* EOF or error. An unanswered request is aborted; a response still
         * being written is allowed to finish. */
        if (c->cur || (c->p && c->p->req) || !c->writes) {
            conn_close(c);
        } else {
            c->close_after_write = true;
            conn_drop_pending(c);
            uv_read_stop(st);
            c->reading = false;
        }
    }
    if (buf->base == s->rbuf)
        s->rbuf_busy = false;
    else
        cn_free(buf->base);
}

/* ---- connections ---- */

static void srv_handle_closed(struct http_server *s)
{
    if (--s->open_handles > 0 || !s->stopping)
        return;
    void (*done)(void *) = s->done;
    void *arg = s->done_arg;
    while (s->req_free) {
        void *n = *(void **)s->req_free;
        cn_free(s->req_free);
        s->req_free = n;
    }
    while (s->wreq_free) {
        struct http__wreq *n = s->wreq_free->next_free;
        cn_free(s->wreq_free);
        s->wreq_free = n;
    }
    while (s->parser_free) {
        struct http__parser *n = s->parser_free->owner;
        cn_free(s->parser_free);
        s->parser_free = n;
    }
    cn_free(s->heap);
    cn_free(s->rbuf);
    if (s->tls)
        SSL_CTX_free(s->tls);
    cn_free(s);
    if (done)
        done(arg);
}

static void conn_closed_cb(uv_handle_t *h)
{
    struct http__conn *c = (struct http__conn *)h;
    struct http_server *s = SRV(c);
    tls_conn_free(c->tls);
    cn_free(c);
    srv_handle_closed(s);
}

static void conn_close(struct http__conn *c)
{
    if (c->closing)
        return;
    struct http_server *s = SRV(c);
    c->closing = true;
    heap_del(s, c);
    parser_put(c);
    conn_drop_pending(c);
    s->nconns--;
    s->stats.connections_open--;
    struct http__req *r = c->cur;
    c->cur = NULL;
    uv_close((uv_handle_t *)&c->tcp, conn_closed_cb);
    if (r)
        req_abort(r);
    /* A graceful stop ends when the last answer is flushed. */
    if (s->draining && !s->nconns && !uv_is_closing((uv_handle_t *)&s->timer))
        uv_close((uv_handle_t *)&s->timer, srv_closed_cb);
}

static void on_begin(struct http__parser *p)
{
    struct http__conn *c = p->owner;
    p->msg_start = uv_now(SRV(c)->loop);
}

static void on_continue(struct http__parser *p)
{
    static const char msg[] = "HTTP/1.1 100 Continue\r\n\r\n";
    struct http__conn *c = p->owner;
    struct http__wreq *w = wreq_get(SRV(c), sizeof(msg) - 1);
    if (!w)
        return; /* the client sends the body after a while anyway */
    memcpy(w->data, msg, sizeof(msg) - 1);
    if (conn_write(c, w, sizeof(msg) - 1, NULL, 0) != 0)
        c->close_after_write = true;
}

static void accepted_closed_cb(uv_handle_t *h)
{
    struct http__conn *c = (struct http__conn *)h;
    struct http_server *s = SRV(c);
    cn_free(c);
    srv_handle_closed(s);
}

static void on_connection(uv_stream_t *ls, int status)
{
    struct http_server *s = ls->data;
    if (status < 0) {
        cn_warn("http", "accept: %s", uv_strerror(status));
        return;
    }
    if (s->stopping)
        return;
    struct http__conn *c = cn_calloc(1, sizeof(*c));
    if (!c)
        return;
    c->heap_idx = NO_HEAP;
    uv_tcp_init(s->loop, &c->tcp);
    c->tcp.data = s;
    s->open_handles++;
    if (uv_accept(ls, (uv_stream_t *)&c->tcp) != 0) {
        uv_close((uv_handle_t *)&c->tcp, accepted_closed_cb);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    if (s->tls && !(c->tls = tls_conn_new(s->tls, true, false, NULL))) {
        uv_close((uv_handle_t *)&c->tcp, accepted_closed_cb);
        return;
    }
    s->nconns++;
    s->stats.connections_open++;
    conn_update(c);
}

/* ---- server ---- */

static void srv_closed_cb(uv_handle_t *h)
{
    srv_handle_closed(h->data);
}

int http_server_start(uv_loop_t *loop, const struct http_options *opt, struct http_server **out,
                      char *err, size_t errcap)
{
    *out = NULL;
    if (!opt || !opt->handler || !opt->host) {
        snprintf(err, errcap, "http: no handler or host");
        return CN_EINVAL;
    }
    struct http_server *s = cn_calloc(1, sizeof(*s));
    char *rbuf = cn_malloc(READ_BUF_SIZE);
    if (!s || !rbuf) {
        cn_free(s);
        cn_free(rbuf);
        snprintf(err, errcap, "http: out of memory");
        return CN_ENOMEM;
    }
    s->rbuf = rbuf;
    s->loop = loop;
    s->opt = *opt;
    if (opt->tls) {
        SSL_CTX_up_ref(opt->tls);
        s->tls = opt->tls;
    }
    if (!s->opt.max_header_bytes)
        s->opt.max_header_bytes = 64 * 1024;
    if (!s->opt.max_body_bytes)
        s->opt.max_body_bytes = 8 * 1024 * 1024;
    if (!s->opt.idle_timeout_ms)
        s->opt.idle_timeout_ms = 120 * 1000;
    if (!s->opt.header_timeout_ms)
        s->opt.header_timeout_ms = 30 * 1000;
    if (s->opt.backlog <= 0)
        s->opt.backlog = 4096;

    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    uv_tcp_init(loop, &s->listener);
    s->listener.data = s;
    s->open_handles = 2;

    struct sockaddr_storage ss;
    int rc = strchr(opt->host, ':') ? uv_ip6_addr(opt->host, opt->port, (void *)&ss)
                                    : uv_ip4_addr(opt->host, opt->port, (void *)&ss);
    const char *what = "address";
    if (rc == 0) {
        what = "bind";
        rc = uv_tcp_bind(&s->listener, (const struct sockaddr *)&ss, 0);
    }
    if (rc == 0) {
        what = "listen";
        rc = uv_listen((uv_stream_t *)&s->listener, s->opt.backlog, on_connection);
    }
    if (rc == 0) {
        int len = sizeof(ss);
        what = "getsockname";
        rc = uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &len);
        if (rc == 0)
            s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                     : ((struct sockaddr_in *)&ss)->sin_port);
    }
    if (rc != 0) {
        snprintf(err, errcap, "http: %s %s:%d: %s", what, opt->host, opt->port, uv_strerror(rc));
        /* The handles are freed by their close callbacks on the next loop run. */
        s->stopping = true;
        uv_close((uv_handle_t *)&s->timer, srv_closed_cb);
        uv_close((uv_handle_t *)&s->listener, srv_closed_cb);
        return rc == UV_ENOMEM ? CN_ENOMEM : CN_EIO;
    }
    *out = s;
    return 0;
}

void http_server_set_tls(struct http_server *s, SSL_CTX *ctx)
{
    if (!ctx || s->stopping)
        return;
    SSL_CTX_up_ref(ctx);
    if (s->tls)
        SSL_CTX_free(s->tls); /* connections keep theirs until they close */
    s->tls = ctx;
}

int http_server_port(const struct http_server *s)
{
    return s->port;
}

/* ---- the server's connections: the loop's TCP handles whose data is the
 * server (its listener aside), found by uv_walk, which allows closing the
 * handle it is at (and any other: a closing one stays in the loop's queue
 * until its close callback, and is skipped here). */

static bool is_conn(const struct http_server *s, const uv_handle_t *h)
{
    return h->type == UV_TCP && h->data == s && h != (const uv_handle_t *)&s->listener &&
           !uv_is_closing(h);
}

struct conns_each {
    struct http_server *s;
    void (*fn)(struct http__conn *c);
};

static void conns_each_walk(uv_handle_t *h, void *arg)
{
    struct conns_each *e = arg;
    if (is_conn(e->s, h))
        e->fn((struct http__conn *)h);
}

static void conns_each(struct http_server *s, void (*fn)(struct http__conn *c))
{
    struct conns_each e = {s, fn};
    uv_walk(s->loop, conns_each_walk, &e);
}

struct held {
    const struct http_server *s;
    size_t parsers, pend;
};

static void held_walk(uv_handle_t *h, void *arg)
{
    struct held *e = arg;
    if (!is_conn(e->s, h))
        return;
    const struct http__conn *c = (const struct http__conn *)h;
    e->parsers += c->p != NULL;
    e->pend += c->pend != NULL;
}

/* Drain: answer a parked request now, as if its wait had run out. */
static void drain_parked(struct http__conn *c)
{
    struct http_server *s = SRV(c);
    struct http__req *r = c->cur;
    if (!r || !(r->flags & HTTP__R_PARKED))
        return;
    r->flags &= ~(uint32_t)HTTP__R_PARKED;
    s->stats.parked--;
    heap_del(s, c);
    if (r->on_timeout)
        r->on_timeout(&r->pub);
}

/* Drain: an idle connection or a half-received request closes now; an
 * answer being written closes its connection once written. */
static void drain_idle(struct http__conn *c)
{
    if (c->cur)
        return;
    if (!c->writes) {
        conn_close(c);
        return;
    }
    c->close_after_write = true;
    conn_drop_pending(c);
    parser_put(c);
}

void http_server_stop(struct http_server *s, void (*done)(void *), void *arg)
{
    if (s->stopping)
        return;
    s->stopping = true;
    s->done = done;
    s->done_arg = arg;
    /* Handles close only on the next loop turn, so s stays valid for the
     * whole of this function even when the last close callback frees it. */
    uv_close((uv_handle_t *)&s->listener, srv_closed_cb);
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->timer, srv_closed_cb);
    conns_each(s, conn_close);
}

static void drain_timer_cb(uv_timer_t *t)
{
    struct http_server *s = t->data;
    /* The grace ran out: close whatever still has an answer in flight (the
     * last conn_close closes the timer). */
    conns_each(s, conn_close);
    if (!uv_is_closing((uv_handle_t *)&s->timer))
        uv_close((uv_handle_t *)&s->timer, srv_closed_cb);
}

void http_server_drain(struct http_server *s, uint64_t grace_ms, void (*done)(void *), void *arg)
{
    if (s->stopping)
        return;
    s->stopping = true;
    s->draining = true;
    s->done = done;
    s->done_arg = arg;
    uv_close((uv_handle_t *)&s->listener, srv_closed_cb);
    uv_timer_stop(&s->timer);
    s->timer_armed = false;
    /* Answer every parked request now, as if its wait had run out: the
     * handler answers with what it has (with `stopping` set, each answer
     * closes its connection once written). */
    conns_each(s, drain_parked);
    /* Idle connections and half-received requests close now. A request still
     * being worked on (a write waiting for its commit) keeps its connection
     * for the grace: its answer, made with `stopping` set, closes it once
     * written; so does an answer still being written. */
    conns_each(s, drain_idle);
    if (!s->nconns) {
        if (!uv_is_closing((uv_handle_t *)&s->timer))
            uv_close((uv_handle_t *)&s->timer, srv_closed_cb);
        return;
    }
    uv_timer_start(&s->timer, drain_timer_cb, grace_ms ? grace_ms : 1, 0);
}

void http__server_held(const struct http_server *s, size_t *parsers, size_t *pend)
{
    *parsers = *pend = 0;
    struct held h = {s, 0, 0};
    uv_walk(s->loop, held_walk, &h);
    *parsers = h.parsers;
    *pend = h.pend;
}

void http_server_stats(const struct http_server *s, struct http_stats *out)
{
    *out = s->stats;
}

void http_req_server_stats(const struct http_req *req, struct http_stats *out)
{
    const struct http__req *r = (const struct http__req *)req;
    if (r->srv)
        *out = r->srv->stats;
    else
        memset(out, 0, sizeof(*out));
}
