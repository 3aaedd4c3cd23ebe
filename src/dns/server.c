/* dns/server.c: the UDP and TCP listeners (RFC 1035 §4.2, RFC 7766).
 *
 * UDP: one receive buffer and one answer buffer in the server; an answer is
 * sent with uv_udp_try_send straight from it, so the hot path allocates
 * nothing (a copy is made only when the socket would block). The answer is
 * at most 512 bytes, or the EDNS0 size the query advertised (RFC 6891 §6.2.5).
 *
 * TCP: two-byte length framing; several queries may be pipelined and are
 * answered in order; an answer is at most 65535 bytes. A connection is closed
 * after tcp_idle_ms without a query, and tcp_read_ms after a query started
 * arriving without being complete, so a client that sends half a query and
 * stops holds nothing for long. Garbage (a length under 12) closes it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/assert.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "metrics/metrics.h"
#include "dns/dns_int.h"

#define MAX_CONNS 1024
#define WRITE_BACKLOG (256 * 1024) /* queued answer bytes above which reading pauses */

struct dns__conn {
    uv_tcp_t h;
    uv_timer_t timer;
    struct dns_server *s;
    struct dns__conn *prev, *next;
    uint8_t *buf; /* a partial message: 2-byte length + up to 65535 */
    size_t len, cap;
    size_t queued; /* answer bytes not yet written */
    int handles;   /* open handles (2, then fewer as they close) */
    bool closing, partial, reading;
};

struct wreq {
    uv_write_t w;
    struct dns__conn *c;
    size_t len;
    uint8_t data[];
};

struct sreq {
    uv_udp_send_t r;
    struct dns_server *s;
    struct sreq *next_free;
    bool pooled;
    uint8_t data[];
};

/* Answers to one recvmmsg batch are queued (uv_udp_send from a pool of
 * preallocated requests) rather than sent one by one: libuv holds sends made
 * while it processes reads and writes them with sendmmsg, one system call
 * for the batch. */
#define SREQ_POOL 64
#define SREQ_DATA 4096 /* answers larger than this take a one-off allocation */

static void maybe_done(struct dns_server *s)
{
    if (!s->stopping || s->pending_close > 0)
        return;
    void (*done)(void *) = s->done;
    void *arg = s->done_arg;
    dns__resolver_free(&s->res);
    cn_free(s->remote_opts);
    cn_free(s->rbuf);
    cn_free(s->sreq_pool);
    cn_free(s);
    if (done)
        done(arg);
}

void dns__handle_closed(struct dns_server *s)
{
    s->pending_close--;
    maybe_done(s);
}

/* ---- answering ------------------------------------------------------------------- */

/* Decode, resolve and answer one query; the answer goes through dns__reply
 * or to the recursors. */
static void handle(struct dns_server *s, const uint8_t *msg, size_t len,
                   const struct sockaddr *addr, struct dns__conn *conn)
{
    struct dns_query q;
    uint8_t hdr[DNS_HDR_LEN];
    switch (dns_query_decode(msg, len, &q)) {
    case DNS_DEC_DROP:
        return;
    case DNS_DEC_FORMERR:
        dns_msg_header_only(msg, hdr, DNS_RC_FORMERR);
        return dns__reply(s, hdr, sizeof(hdr), addr, conn);
    case DNS_DEC_NOTIMP:
        dns_msg_header_only(msg, hdr, DNS_RC_NOTIMP);
        return dns__reply(s, hdr, sizeof(hdr), addr, conn);
    case DNS_DEC_BADVERS: {
        /* RFC 6891 §6.1.3: BADVERS, with an OPT of the version we do (0). */
        struct dns_msg m;
        if (dns_msg_start(&m, s->wbuf + 2, DNS_TCP_MAX, DNS_TCP_MAX, &q, DNS_RC_BADVERS))
            return;
        size_t n = dns_msg_finish(&m);
        return dns__reply(s, s->wbuf + 2, n, addr, conn);
    }
    case DNS_DEC_OK:
        break;
    }
    if (s->remote) /* a client agent: a server resolves it (remote.c) */
        return dns__remote(s, msg, len, &q, addr, conn);
    uint64_t t0 = s->mx_domain || s->mx_ptr ? uv_hrtime() : 0;
    uint64_t lc = s->last_contact_ms ? s->last_contact_ms(s->state_arg) : 0;
    if (s->max_stale_ms && lc > s->max_stale_ms) {
        /* dns_config.max_stale: this server lost its leader too long ago. */
        dns_msg_header_only(msg, hdr, DNS_RC_SERVFAIL);
        return dns__reply(s, hdr, sizeof(hdr), addr, conn);
    }
    bool udp = conn == NULL;
    size_t limit = udp ? (q.edns ? q.udp_size : DNS_UDP_MIN) : DNS_TCP_MAX;
    int action;
    struct state *st = s->state(s->state_arg);
    size_t n = dns__resolve(&s->res, st, &q, s->wbuf + 2, DNS_TCP_MAX, limit, udp && !q.edns,
                            (uint32_t)time(NULL), &action);
    if (action == DNS__FORWARD)
        return dns__forward(s, msg, len, addr, conn);
    if (action == DNS__OTHER_DC)
        return dns__dc_ask(s, s->res.other_dc, msg, len, limit, udp && !q.edns, addr, conn);
    if (action == DNS__QUERY_FAILOVER)
        return dns__qf_ask(s, s->res.fo_key, msg, len, limit, udp && !q.edns, addr, conn);
    /* Consul (agent/dns.go) counts answers given on data whose leader
     * contact is older than 5 s, and times each in-domain and PTR query. */
    if (lc > 5000)
        mx_incr(MX_DNS_STALE_QUERIES, 1);
    if (n == 0) {
        dns_msg_header_only(msg, hdr, DNS_RC_SERVFAIL);
        dns__reply(s, hdr, sizeof(hdr), addr, conn);
    } else {
        dns__reply(s, s->wbuf + 2, n, addr, conn);
    }
    if (t0)
        mx_series_add(q.qtype == 12 /* PTR */ ? s->mx_ptr : s->mx_domain,
                      (double)(uv_hrtime() - t0) / 1e6);
}

static void on_udp_sent(uv_udp_send_t *r, int status)
{
    struct sreq *q = r->data;
    (void)status;
    if (q->pooled) {
        q->next_free = q->s->sreq_free;
        q->s->sreq_free = q;
    } else {
        cn_free(q);
    }
}

static int udp_queue(struct dns_server *s, const uint8_t *msg, size_t len,
                     const struct sockaddr *addr)
{
    struct sreq *r;
    if (len <= SREQ_DATA && s->sreq_free) {
        r = s->sreq_free;
        s->sreq_free = r->next_free;
    } else {
        r = cn_malloc(sizeof(*r) + len);
        if (!r)
            return CN_ENOMEM;
        r->pooled = false;
    }
    r->s = s;
    memcpy(r->data, msg, len);
    r->r.data = r;
    uv_buf_t b = uv_buf_init((char *)r->data, (unsigned)len);
    if (uv_udp_send(&r->r, &s->udp, &b, 1, addr, on_udp_sent)) {
        on_udp_sent(&r->r, 0);
        return CN_EIO;
    }
    return 0;
}

static void conn_close(struct dns__conn *c);
static void conn_resume(struct dns__conn *c);

static void on_tcp_written(uv_write_t *w, int status)
{
    struct wreq *wr = (struct wreq *)w;
    struct dns__conn *c = wr->c;
    c->queued -= wr->len;
    cn_free(wr);
    if (status < 0) {
        conn_close(c);
        return;
    }
    if (!c->closing && !c->reading && c->queued < WRITE_BACKLOG / 2)
        conn_resume(c);
}

void dns__reply(struct dns_server *s, const uint8_t *msg, size_t len, const struct sockaddr *addr,
                struct dns__conn *conn)
{
    if (s->stopping)
        return;
    if (!conn) {
        if (s->in_batch && (s->sreq_free || len > SREQ_DATA)) {
            udp_queue(s, msg, len, addr);
            return;
        }
        uv_buf_t b = uv_buf_init((char *)msg, (unsigned)len);
        int rc = uv_udp_try_send(&s->udp, &b, 1, addr);
        if (rc >= 0 || (rc != UV_EAGAIN && rc != UV_ENOSYS))
            return; /* sent, or lost like any datagram */
        udp_queue(s, msg, len, addr);
        return;
    }
    if (conn->closing)
        return;
    struct wreq *wr = cn_malloc(sizeof(*wr) + len + 2);
    if (!wr) {
        conn_close(conn);
        return;
    }
    wr->c = conn;
    wr->len = len + 2;
    wr->data[0] = (uint8_t)(len >> 8);
    wr->data[1] = (uint8_t)len;
    memcpy(wr->data + 2, msg, len);
    uv_buf_t b = uv_buf_init((char *)wr->data, (unsigned)(len + 2));
    conn->queued += wr->len;
    if (uv_write(&wr->w, (uv_stream_t *)&conn->h, &b, 1, on_tcp_written)) {
        conn->queued -= wr->len;
        cn_free(wr);
        conn_close(conn);
    }
}

/* ---- UDP ------------------------------------------------------------------------------ */

/* One buffer for every read: with recvmmsg (UV_UDP_RECVMMSG) libuv cuts it
 * into 64 KiB slices, one datagram each, so DNS__UDP_BATCH datagrams come in
 * one system call under load. */
static void udp_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct dns_server *s = h->data;
    (void)hint;
    if (s->rbuf_busy) {
        *buf = uv_buf_init(NULL, 0);
        return;
    }
    s->rbuf_busy = true;
    *buf = uv_buf_init((char *)s->rbuf, (unsigned)s->rbuf_len);
}

static void on_udp(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                   unsigned flags)
{
    struct dns_server *s = h->data;
    if (nread > 0 && addr && !s->stopping) {
        s->in_batch = (flags & UV_UDP_MMSG_CHUNK) != 0;
        handle(s, (const uint8_t *)buf->base, (size_t)nread, addr, NULL);
        s->in_batch = false;
    }
    /* A recvmmsg slice is not the buffer's end: UV_UDP_MMSG_FREE comes last. */
    if (!(flags & UV_UDP_MMSG_CHUNK) && buf->base == (char *)s->rbuf)
        s->rbuf_busy = false;
}

/* ---- TCP ------------------------------------------------------------------------------ */

static void on_conn_handle_closed(uv_handle_t *h)
{
    struct dns__conn *c = h->data;
    struct dns_server *s = c->s;
    if (--c->handles == 0) {
        cn_free(c->buf);
        cn_free(c);
        dns__handle_closed(s);
    }
}

static void conn_close(struct dns__conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    struct dns_server *s = c->s;
    dns__forward_detach(s, c);
    dns__remote_detach(s, c);
    dns__dc_detach(s, c);
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    s->nconns--;
    uv_close((uv_handle_t *)&c->h, on_conn_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
}

static void on_conn_timer(uv_timer_t *t)
{
    conn_close(t->data);
}

static void conn_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct dns__conn *c = h->data;
    (void)hint;
    size_t want = 2 + DNS_TCP_MAX;
    if (!c->buf) {
        c->buf = cn_malloc(want);
        if (!c->buf) {
            *buf = uv_buf_init(NULL, 0);
            return;
        }
        c->cap = want;
    }
    *buf = uv_buf_init((char *)c->buf + c->len, (unsigned)(c->cap - c->len));
}

static void on_conn_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct dns__conn *c = st->data;
    struct dns_server *s = c->s;
    (void)buf;
    if (nread < 0) {
        conn_close(c);
        return;
    }
    if (nread == 0)
        return;
    c->len += (size_t)nread;
    /* Answer every complete message in the buffer. */
    size_t off = 0;
    bool answered = false;
    while (!c->closing && c->len - off >= 2) {
        size_t mlen = (size_t)c->buf[off] << 8 | c->buf[off + 1];
        if (mlen < DNS_HDR_LEN) { /* garbage: no query is this short */
            conn_close(c);
            return;
        }
        if (c->len - off < 2 + mlen)
            break;
        handle(s, c->buf + off + 2, mlen, NULL, c);
        off += 2 + mlen;
        answered = true;
    }
    if (c->closing)
        return;
    if (off) {
        memmove(c->buf, c->buf + off, c->len - off);
        c->len -= off;
    }
    if (c->len == 0) {
        /* Idle between queries: the buffer goes back (a quiet connection
         * costs its struct only). */
        cn_free(c->buf);
        c->buf = NULL;
        c->cap = 0;
        if (answered || c->partial)
            uv_timer_start(&c->timer, on_conn_timer, s->tcp_idle_ms, 0);
        c->partial = false;
    } else if (!c->partial || answered) {
        /* A query started arriving: it has tcp_read_ms to complete, and
         * trickling bytes do not extend it. */
        c->partial = true;
        uv_timer_start(&c->timer, on_conn_timer, s->tcp_read_ms, 0);
    }
    if (c->queued >= WRITE_BACKLOG && c->reading) {
        uv_read_stop((uv_stream_t *)&c->h);
        c->reading = false;
    }
}

static void conn_resume(struct dns__conn *c)
{
    if (uv_read_start((uv_stream_t *)&c->h, conn_alloc, on_conn_read) == 0)
        c->reading = true;
}

static void on_accept(uv_stream_t *l, int status)
{
    struct dns_server *s = l->data;
    if (status < 0 || s->stopping)
        return;
    struct dns__conn *c = cn_calloc(1, sizeof(*c));
    if (!c)
        return;
    c->s = s;
    uv_tcp_init(s->loop, &c->h);
    uv_timer_init(s->loop, &c->timer);
    c->h.data = c->timer.data = c;
    c->handles = 2;
    s->pending_close++;
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->nconns++;
    if (uv_accept(l, (uv_stream_t *)&c->h) || s->nconns > MAX_CONNS) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->h, 1);
    uv_timer_start(&c->timer, on_conn_timer, s->tcp_idle_ms, 0);
    conn_resume(c);
}

/* ---- start / stop ------------------------------------------------------------------ */

static void on_listener_closed(uv_handle_t *h)
{
    dns__handle_closed(h->data);
}

static int parse_recursor(const char *text, struct sockaddr_storage *out)
{
    char host[128];
    int port = 53;
    const char *colon = strrchr(text, ':');
    const char *rb = strchr(text, ']');
    if (text[0] == '[' && rb) { /* [v6]:port */
        size_t l = (size_t)(rb - text - 1);
        if (l >= sizeof(host))
            return CN_EINVAL;
        memcpy(host, text + 1, l);
        host[l] = '\0';
        if (rb[1] == ':')
            port = atoi(rb + 2);
        else if (rb[1])
            return CN_EINVAL;
    } else if (colon && strchr(text, ':') == colon) { /* v4:port */
        size_t l = (size_t)(colon - text);
        if (l >= sizeof(host))
            return CN_EINVAL;
        memcpy(host, text, l);
        host[l] = '\0';
        port = atoi(colon + 1);
    } else {
        snprintf(host, sizeof(host), "%s", text);
    }
    if (port <= 0 || port > 65535)
        return CN_EINVAL;
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)out) == 0)
        return 0;
    if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)out) == 0)
        return 0;
    return CN_EINVAL;
}

int dns_server_start(uv_loop_t *loop, const struct dns_options *o, struct dns_server **out,
                     char *err, size_t errcap)
{
    struct dns_server *s = cn_calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errcap, "out of memory");
        return CN_ENOMEM;
    }
    s->loop = loop;
    s->state = o->state;
    s->state_arg = o->state_arg;
    s->dc_remote = o->dc_remote;
    s->dc_cancel = o->dc_cancel;
    s->dc_arg = o->dc_arg;
    s->query_failover = o->query_failover;
    s->qf_cancel = o->query_failover_cancel;
    s->qf_arg = o->qf_arg;
    s->last_contact_ms = o->last_contact_ms;
    s->max_stale_ms = o->max_stale_ms;
    struct mx_label node = {"node", o->node_name ? o->node_name : ""};
    s->mx_domain = mx_series(MX_DNS_DOMAIN_QUERY, NULL, 0, &node, 1);
    s->mx_ptr = mx_series(MX_DNS_PTR_QUERY, NULL, 0, &node, 1);
    s->tcp_idle_ms = o->tcp_idle_ms ? o->tcp_idle_ms : 10000;
    s->tcp_read_ms = o->tcp_read_ms ? o->tcp_read_ms : 2000;
    s->rec_timeout_ms = o->recursor_timeout_ms ? o->recursor_timeout_ms : 2000;
    if (o->nrecursors > DNS__MAX_RECURSORS) {
        snprintf(err, errcap, "too many recursors (at most %d)", DNS__MAX_RECURSORS);
        cn_free(s);
        return CN_EINVAL;
    }
    for (size_t i = 0; i < o->nrecursors; i++) {
        if (parse_recursor(o->recursors[i], &s->rec[i])) {
            snprintf(err, errcap, "invalid recursor \"%s\" (an IP address, optionally :port)",
                     o->recursors[i]);
            cn_free(s);
            return CN_EINVAL;
        }
    }
    s->nrec = o->nrecursors;
    if (o->remote) {
        s->remote = o->remote;
        s->remote_cancel = o->remote_cancel;
        s->remote_arg = o->remote_arg;
        s->remote_timeout_ms = o->remote_timeout_ms ? o->remote_timeout_ms : 2000;
        if (dns__remote_opts(o, &s->remote_opts)) {
            snprintf(err, errcap, "out of memory");
            cn_free(s);
            return CN_ENOMEM;
        }
    }
    uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)(uintptr_t)s << 16) ^ uv_hrtime();
    int rc = dns__resolver_init(&s->res, o, seed, err, errcap);
    if (rc) {
        cn_free(s->remote_opts);
        cn_free(s);
        return rc;
    }
    struct sockaddr_storage ss;
    const char *host = o->host && *o->host ? o->host : "127.0.0.1";
    rc = strchr(host, ':') ? uv_ip6_addr(host, o->port, (void *)&ss)
                           : uv_ip4_addr(host, o->port, (void *)&ss);
    if (rc) {
        snprintf(err, errcap, "invalid address \"%s\"", host);
        dns__resolver_free(&s->res);
        cn_free(s->remote_opts);
        cn_free(s);
        return CN_EINVAL;
    }
    const char *what = "udp bind";
    s->rbuf_len = DNS__UDP_BATCH * (size_t)65536;
    s->rbuf = cn_malloc(s->rbuf_len);
    if (!s->rbuf) {
        snprintf(err, errcap, "out of memory");
        dns__resolver_free(&s->res);
        cn_free(s->remote_opts);
        cn_free(s);
        return CN_ENOMEM;
    }
    s->sreq_pool = cn_calloc(SREQ_POOL, sizeof(struct sreq) + SREQ_DATA);
    if (s->sreq_pool) {
        for (size_t i = 0; i < SREQ_POOL; i++) {
            struct sreq *r = (struct sreq *)((char *)s->sreq_pool + i * (sizeof(*r) + SREQ_DATA));
            r->pooled = true;
            r->next_free = s->sreq_free;
            s->sreq_free = r;
        }
    }
    if (uv_udp_init_ex(loop, &s->udp, AF_UNSPEC | UV_UDP_RECVMMSG))
        uv_udp_init(loop, &s->udp);
    s->udp.data = s;
    s->udp_open = true;
    s->pending_close++;
    rc = uv_udp_bind(&s->udp, (const struct sockaddr *)&ss, 0);
    if (!rc) {
        struct sockaddr_storage b;
        int bl = sizeof(b);
        uv_udp_getsockname(&s->udp, (struct sockaddr *)&b, &bl);
        s->port = ntohs(((struct sockaddr_in *)&b)->sin_port);
        /* TCP on the same port (the UDP one when port 0 picked it). */
        ((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)s->port);
        what = "udp receive";
        rc = uv_udp_recv_start(&s->udp, udp_alloc, on_udp);
    }
    if (!rc) {
        what = "tcp bind";
        uv_tcp_init(loop, &s->tcp);
        s->tcp.data = s;
        s->tcp_open = true;
        s->pending_close++;
        rc = uv_tcp_bind(&s->tcp, (const struct sockaddr *)&ss, 0);
        if (!rc) {
            what = "tcp listen";
            rc = uv_listen((uv_stream_t *)&s->tcp, 256, on_accept);
        }
    }
    if (rc) {
        snprintf(err, errcap, "%s: %s", what, uv_strerror(rc));
        dns_server_stop(s, NULL, NULL);
        return CN_EIO;
    }
    *out = s;
    return 0;
}

/* An answer for another datacenter: no failover from here (Consul's remote
 * execution fails over no further; an empty query is NXDOMAIN), prepared
 * queries through exec when given (then any DC label is this one). */
static size_t answer_for_remote(struct dns_server *s, const uint8_t *msg, size_t len, size_t limit,
                                bool small_udp, dns_query_exec exec, void *exec_arg, char *fo_key,
                                size_t fo_cap, uint8_t *out, size_t cap)
{
    if (fo_cap)
        fo_key[0] = '\0';
    struct dns_query q;
    if (cap < DNS_HDR_LEN)
        return 0;
    switch (dns_query_decode(msg, len, &q)) {
    case DNS_DEC_DROP:
        return 0;
    case DNS_DEC_FORMERR:
        dns_msg_header_only(msg, out, DNS_RC_FORMERR);
        return DNS_HDR_LEN;
    case DNS_DEC_NOTIMP:
    case DNS_DEC_BADVERS:
        dns_msg_header_only(msg, out, DNS_RC_NOTIMP);
        return DNS_HDR_LEN;
    case DNS_DEC_OK:
        break;
    }
    if (limit < DNS_UDP_MIN)
        limit = DNS_UDP_MIN;
    if (limit > cap)
        limit = cap;
    int action;
    struct state *st = s->state(s->state_arg);
    struct dns_resolver *r = &s->res;
    dns_query_exec saved_exec = r->query_exec;
    void *saved_arg = r->query_arg;
    bool saved_fo = r->query_failover;
    r->query_failover = saved_fo && fo_cap > 0 && !exec;
    if (exec) {
        r->query_exec = exec;
        r->query_arg = exec_arg;
        r->query_any_dc = true;
    }
    size_t n = dns__resolve(r, st, &q, out, cap, limit, small_udp, (uint32_t)time(NULL), &action);
    r->query_exec = saved_exec;
    r->query_arg = saved_arg;
    r->query_failover = saved_fo;
    r->query_any_dc = false;
    if (action == DNS__QUERY_FAILOVER && fo_cap) {
        snprintf(fo_key, fo_cap, "%s", r->fo_key);
        return 0;
    }
    if (action != DNS__ANSWER || n == 0) {
        dns_msg_header_only(msg, out, DNS_RC_SERVFAIL);
        return DNS_HDR_LEN;
    }
    return n;
}

size_t dns_server_answer(struct dns_server *s, const uint8_t *msg, size_t len, size_t limit,
                         bool small_udp, uint8_t *out, size_t cap)
{
    return answer_for_remote(s, msg, len, limit, small_udp, NULL, NULL, NULL, 0, out, cap);
}

size_t dns_server_answer_fo(struct dns_server *s, const uint8_t *q, size_t len, size_t limit,
                            bool small_udp, char *fo_key, size_t fo_cap, uint8_t *out, size_t cap)
{
    return answer_for_remote(s, q, len, limit, small_udp, NULL, NULL, fo_key, fo_cap, out, cap);
}

size_t dns_server_answer_exec(struct dns_server *s, const uint8_t *q, size_t len, size_t limit,
                              bool small_udp, dns_query_exec exec, void *exec_arg, uint8_t *out,
                              size_t cap)
{
    CN_ASSERT(exec != NULL);
    return answer_for_remote(s, q, len, limit, small_udp, exec, exec_arg, NULL, 0, out, cap);
}

int dns_server_port(const struct dns_server *s)
{
    return s->port;
}

void dns_server_stop(struct dns_server *s, void (*done)(void *arg), void *arg)
{
    if (!s)
        return;
    s->stopping = true;
    s->done = done;
    s->done_arg = arg;
    s->pending_close++; /* held until everything below is started */
    dns__forward_stop_all(s);
    dns__remote_stop_all(s);
    dns__dc_stop_all(s);
    while (s->conns)
        conn_close(s->conns);
    if (s->udp_open)
        uv_close((uv_handle_t *)&s->udp, on_listener_closed);
    if (s->tcp_open)
        uv_close((uv_handle_t *)&s->tcp, on_listener_closed);
    dns__handle_closed(s);
}
