/* dns/forward.c: names outside the domain go to the configured recursors
 * (Consul's `recursors`, agent/dns.go handleRecurse): the query is sent as
 * the client sent it (our own id in place of its id) over UDP to the first
 * recursor; an answer with TC set is asked again over TCP when the client
 * itself came over TCP (a UDP client gets the TC answer and retries over TCP,
 * which then reaches this path). No answer within recursor_timeout, or an
 * error, moves on to the next recursor; when none answered the client gets
 * SERVFAIL (Consul does the same). */
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "dns/dns_int.h"

/* One try at one recursor: its own socket, freed in its close callback, so a
 * new try never reuses a handle whose close is still pending. */
struct att {
    union {
        uv_udp_t udp;
        uv_tcp_t tcp;
    } h;
    bool tcp;
    struct dns_server *s;
    struct dns__fwd *f; /* NULL once the try is over: late callbacks do nothing */
    uv_connect_t creq;
    uv_write_t wreq;
    uint8_t *rbuf; /* TCP answer being read: 2-byte length + message */
    size_t rlen;
};

struct dns__fwd {
    struct dns_server *s;
    struct dns__fwd *prev, *next;
    struct dns__conn *conn; /* TCP client, or NULL */
    bool udp_client;
    struct sockaddr_storage client;
    uint16_t client_id, id;
    size_t rec;    /* the recursor being tried */
    bool over_tcp; /* this try is over TCP */
    bool done;
    struct att *att; /* the current try */
    uv_timer_t timer;
    size_t qlen;
    uint8_t q[]; /* 2 bytes of length (for TCP), then the query with our id */
};

#define QBYTES(f) ((f)->q + 2)

static void fwd_try(struct dns__fwd *f);

static void on_att_closed(uv_handle_t *h)
{
    struct att *a = h->data;
    struct dns_server *s = a->s;
    cn_free(a->rbuf);
    cn_free(a);
    dns__handle_closed(s);
}

static void close_attempt(struct dns__fwd *f)
{
    struct att *a = f->att;
    if (!a)
        return;
    f->att = NULL;
    a->f = NULL;
    uv_close((uv_handle_t *)&a->h, on_att_closed);
}

static void on_timer_closed(uv_handle_t *h)
{
    struct dns__fwd *f = h->data;
    struct dns_server *s = f->s;
    cn_free(f);
    dns__handle_closed(s);
}

static void fwd_finish(struct dns__fwd *f, const uint8_t *msg, size_t len)
{
    struct dns_server *s = f->s;
    if (f->done)
        return;
    f->done = true;
    uv_timer_stop(&f->timer);
    if (msg && (f->udp_client || f->conn)) {
        uint8_t *m = (uint8_t *)msg;
        m[0] = (uint8_t)(f->client_id >> 8); /* the client's id back */
        m[1] = (uint8_t)f->client_id;
        m[3] |= 0x80; /* RA: recursion is what this answer is */
        dns__reply(s, m, len, f->udp_client ? (const struct sockaddr *)&f->client : NULL, f->conn);
    } else if (f->udp_client || f->conn) {
        uint8_t hdr[DNS_HDR_LEN];
        QBYTES(f)[0] = (uint8_t)(f->client_id >> 8);
        QBYTES(f)[1] = (uint8_t)f->client_id;
        dns_msg_header_only(QBYTES(f), hdr, DNS_RC_SERVFAIL);
        dns__reply(s, hdr, sizeof(hdr), f->udp_client ? (const struct sockaddr *)&f->client : NULL,
                   f->conn);
    }
    if (f->prev)
        f->prev->next = f->next;
    else
        s->fwds = f->next;
    if (f->next)
        f->next->prev = f->prev;
    s->nfwds--;
    close_attempt(f);
    uv_close((uv_handle_t *)&f->timer, on_timer_closed);
}

static void next_recursor(struct dns__fwd *f)
{
    close_attempt(f);
    f->rec++;
    f->over_tcp = false;
    if (f->rec >= f->s->nrec)
        return fwd_finish(f, NULL, 0);
    fwd_try(f);
}

static void on_timeout(uv_timer_t *t)
{
    struct dns__fwd *f = t->data;
    cn_debug("dns", "recursor %zu: no answer in time", f->rec);
    next_recursor(f);
}

/* An answer from a recursor: ours when its id matches and QR is set. */
static bool answer_ok(const struct dns__fwd *f, const uint8_t *m, size_t n)
{
    return n >= DNS_HDR_LEN && m[0] == (uint8_t)(f->id >> 8) && m[1] == (uint8_t)f->id &&
           (m[2] & 0x80);
}

/* Consul (agent/dns.go handleRecurse) moves on to the next recursor unless
 * the answer is NOERROR or NXDOMAIN. */
static bool answer_final(const uint8_t *m)
{
    return (m[3] & 0xF) == DNS_RC_NOERROR || (m[3] & 0xF) == DNS_RC_NXDOMAIN;
}

static void udp_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    (void)hint;
    (void)h;
    buf->base = cn_malloc(DNS_TCP_MAX);
    buf->len = buf->base ? DNS_TCP_MAX : 0;
}

static void on_udp(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                   unsigned flags)
{
    struct att *a = h->data;
    struct dns__fwd *f = a->f;
    (void)addr;
    (void)flags;
    if (f && nread > 0 && answer_ok(f, (uint8_t *)buf->base, (size_t)nread)) {
        const uint8_t *m = (const uint8_t *)buf->base;
        if (!answer_final(m)) {
            next_recursor(f);
        } else if ((m[2] & 0x02) && f->conn) {
            /* Truncated, and the client can take a long answer: over TCP. */
            close_attempt(f);
            f->over_tcp = true;
            fwd_try(f);
        } else {
            fwd_finish(f, m, (size_t)nread);
        }
    } else if (f && nread < 0) {
        next_recursor(f);
    }
    cn_free(buf->base);
}

static void on_udp_sent(uv_udp_send_t *r, int status)
{
    (void)status; /* a failed send ends in the timeout */
    cn_free(r);
}

static void tcp_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    struct att *a = h->data;
    (void)hint;
    if (!a->rbuf) {
        a->rbuf = cn_malloc(2 + DNS_TCP_MAX);
        a->rlen = 0;
    }
    if (!a->rbuf || a->rlen >= 2 + DNS_TCP_MAX) {
        *buf = uv_buf_init(NULL, 0);
        return;
    }
    *buf = uv_buf_init((char *)a->rbuf + a->rlen, (unsigned)(2 + DNS_TCP_MAX - a->rlen));
}

static void on_tcp_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    struct att *a = st->data;
    struct dns__fwd *f = a->f;
    (void)buf;
    if (!f)
        return;
    if (nread < 0)
        return next_recursor(f);
    a->rlen += (size_t)nread;
    if (a->rlen < 2)
        return;
    size_t mlen = (size_t)a->rbuf[0] << 8 | a->rbuf[1];
    if (a->rlen < 2 + mlen)
        return;
    if (!answer_ok(f, a->rbuf + 2, mlen) || !answer_final(a->rbuf + 2))
        return next_recursor(f);
    fwd_finish(f, a->rbuf + 2, mlen);
}

static void on_tcp_written(uv_write_t *w, int status)
{
    struct att *a = w->data;
    if (status < 0 && a->f)
        next_recursor(a->f);
}

static void on_connect(uv_connect_t *c, int status)
{
    struct att *a = c->data;
    struct dns__fwd *f = a->f;
    if (!f)
        return;
    if (status < 0)
        return next_recursor(f);
    f->q[0] = (uint8_t)(f->qlen >> 8);
    f->q[1] = (uint8_t)f->qlen;
    uv_buf_t b = uv_buf_init((char *)f->q, (unsigned)(f->qlen + 2));
    a->wreq.data = a;
    if (uv_write(&a->wreq, (uv_stream_t *)&a->h.tcp, &b, 1, on_tcp_written) ||
        uv_read_start((uv_stream_t *)&a->h.tcp, tcp_alloc, on_tcp_read))
        next_recursor(f);
}

static void fwd_try(struct dns__fwd *f)
{
    struct dns_server *s = f->s;
    const struct sockaddr *to = (const struct sockaddr *)&s->rec[f->rec];
    uv_timer_start(&f->timer, on_timeout, s->rec_timeout_ms, 0);
    struct att *a = cn_calloc(1, sizeof(*a));
    if (!a)
        return; /* the timeout moves on */
    a->s = s;
    a->f = f;
    a->tcp = f->over_tcp;
    f->att = a;
    s->pending_close++;
    if (a->tcp) {
        uv_tcp_init(s->loop, &a->h.tcp);
        a->h.tcp.data = a;
        a->creq.data = a;
        if (uv_tcp_connect(&a->creq, &a->h.tcp, to, on_connect))
            next_recursor(f);
        return;
    }
    uv_udp_init(s->loop, &a->h.udp);
    a->h.udp.data = a;
    uv_udp_send_t *r = cn_malloc(sizeof(*r));
    if (!r)
        return;
    uv_buf_t b = uv_buf_init((char *)QBYTES(f), (unsigned)f->qlen);
    if (uv_udp_send(r, &a->h.udp, &b, 1, to, on_udp_sent)) {
        cn_free(r);
        return next_recursor(f);
    }
    uv_udp_recv_start(&a->h.udp, udp_alloc, on_udp);
}

void dns__forward(struct dns_server *s, const uint8_t *q, size_t len, const struct sockaddr *addr,
                  struct dns__conn *conn)
{
    if (s->nfwds >= 4096) { /* a flood of forwards: shed, the client retries */
        uint8_t hdr[DNS_HDR_LEN];
        dns_msg_header_only(q, hdr, DNS_RC_SERVFAIL);
        return dns__reply(s, hdr, sizeof(hdr), addr, conn);
    }
    struct dns__fwd *f = cn_calloc(1, sizeof(*f) + 2 + len);
    if (!f)
        return;
    f->s = s;
    f->conn = conn;
    f->udp_client = addr != NULL;
    if (addr)
        memcpy(&f->client, addr,
               addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                           : sizeof(struct sockaddr_in));
    f->client_id = (uint16_t)(q[0] << 8 | q[1]);
    f->id = (uint16_t)(s->res.rng ^ (s->next_id++ * 40503u));
    f->qlen = len;
    memcpy(QBYTES(f), q, len);
    QBYTES(f)[0] = (uint8_t)(f->id >> 8);
    QBYTES(f)[1] = (uint8_t)f->id;
    uv_timer_init(s->loop, &f->timer);
    f->timer.data = f;
    s->pending_close++;
    f->next = s->fwds;
    if (s->fwds)
        s->fwds->prev = f;
    s->fwds = f;
    s->nfwds++;
    fwd_try(f);
}

void dns__forward_detach(struct dns_server *s, struct dns__conn *conn)
{
    for (struct dns__fwd *f = s->fwds; f; f = f->next)
        if (f->conn == conn)
            f->conn = NULL;
}

void dns__forward_stop_all(struct dns_server *s)
{
    while (s->fwds) {
        struct dns__fwd *f = s->fwds;
        f->conn = NULL;
        f->udp_client = false;
        fwd_finish(f, NULL, 0);
    }
}
