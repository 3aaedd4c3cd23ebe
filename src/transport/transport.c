/* transport/transport.c: connections, hellos, send queues, reconnects.
 *
 * Connections: one outbound per configured peer (struct xport_peer owns it
 * and its reconnect timer) and any number of inbound ones, all in one list.
 * A connection is usable ("up") once the peer's hello has been checked; both
 * directions carry frames, so a node is reachable when any connection to or
 * from it is up. A newer inbound connection from a node replaces an older
 * one (a restarted peer whose old socket we have not yet seen die).
 *
 * Writes: at most one uv_write in flight per connection, gathering every
 * queued small message plus one fragment of the large message (if any); the
 * next batch goes when it completes. So small messages slip in between the
 * fragments of a snapshot instead of waiting behind all of it.
 *
 * Liveness: one sweep timer (every half heartbeat) sends KEEPALIVE frames on
 * connections with nothing written for a heartbeat, resets connections that
 * have received nothing for idle_timeout_ms, and abandons dials and hellos
 * past their deadlines. Silence is counted in our loop's time, so that a
 * stall of our own is not blamed on the peers (see sweep_cb).
 *
 * Lifetimes: a connection leaves the list when its close starts and is freed
 * in its close callback (libuv cancels its pending connect/write requests
 * before that). A peer is freed when its timer's close completes. The
 * transport is freed when its last handle has closed after xport_stop. */
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "transport/transport.h"

#define READ_BUF_SIZE (64 * 1024)
#define MAX_IOV 64
#define ADDR_MAX 64
#define GRACE_SWEEPS 3 /* see sweep_cb */

enum conn_state { CS_CONNECTING, CS_HELLO, CS_UP };

struct xmsg {
    struct xmsg *next;
    uint32_t len; /* payload bytes */
    uint32_t off; /* large messages: payload bytes already written */
    uint8_t type;
    uint8_t frame[]; /* XPORT_FRAME_HDR (small messages only) + payload */
};

struct xconn {
    uv_tcp_t tcp;
    uv_connect_t creq;
    uv_write_t wreq;
    struct xport *x;
    struct xport_peer *peer; /* outbound: its peer (NULL once detached) */
    struct xconn *prev, *next;
    uint64_t node_id;          /* outbound: expected; inbound: from the hello */
    uint64_t hello_deadline;   /* now_ms() */
    uint64_t connect_deadline; /* outbound, while CS_CONNECTING */
    uint64_t last_recv;        /* bytes last arrived (or the connection opened) */
    uint64_t last_sent;        /* a write last started */
    unsigned grace;            /* sweeps that found it late but with input waiting */
    enum conn_state state;
    bool outbound, closing, writing;
    bool dropped;        /* the queue was counted in drops_closed */
    char addr[ADDR_MAX]; /* the remote address, for logs */
    uint8_t hello_out[XPORT_HELLO_MAX];
    uint8_t hello_in[XPORT_HELLO_MAX];
    size_t hello_out_len, hello_in_len;
    struct xport_decoder dec;
    struct xmsg *qhead, *qtail; /* small messages, in order */
    size_t qbytes;
    struct xmsg *large; /* the one message being sent in fragments */
    /* the batch in flight */
    uv_buf_t bufs[MAX_IOV];
    uint8_t frag_hdr[XPORT_FRAME_HDR];
    unsigned w_small;
    uint32_t w_frag;
};

struct xport_peer {
    struct xport_peer *next;
    struct xport *x;
    uint64_t id;
    char addr[ADDR_MAX];
    struct sockaddr_storage sa;
    uv_timer_t timer;
    struct xconn *conn;
    uint64_t backoff_ms; /* the next delay's upper bound */
    uint64_t dials;
    bool removed;
    bool warned; /* a refusal was logged at WARN since the last success */
};

struct xport {
    uv_loop_t *loop;
    struct xport_options opt;
    char cluster[XPORT_CLUSTER_MAX + 1];
    uv_tcp_t listener;
    bool listening;
    uv_timer_t sweep;
    uint64_t sweep_ms, last_sweep;
    int port;
    struct xconn *conns;
    struct xport_peer *peers;
    uint64_t rng;
    int handles; /* open handles (listener, sweep, conns, peer timers) */
    bool stopping;
    void (*done)(void *);
    void *done_arg;
    struct xport_stats st;
    char rbuf[READ_BUF_SIZE];
    size_t hello_len;
    uint8_t hello[XPORT_HELLO_MAX];
    uint8_t keepalive[XPORT_FRAME_HDR]; /* the frame, written from here */
};

static void xlog(struct xport *x, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void xlog(struct xport *x, int level, const char *fmt, ...)
{
    if (!x->opt.log && level < cn_log_min_level)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (x->opt.log)
        x->opt.log(x->opt.log_arg, level, msg);
    else
        cn_log_write((enum cn_log_level)level, "xport", "%s", msg);
}

/* xorshift64*: jitter only. */
static uint64_t rng_next(struct xport *x)
{
    x->rng ^= x->rng >> 12;
    x->rng ^= x->rng << 25;
    x->rng ^= x->rng >> 27;
    return x->rng * 2685821657736338717ull;
}

/* Milliseconds on the monotonic clock, read afresh: uv_now() is the time the
 * loop cached at the start of its iteration, which lags behind after a long
 * callback and would make a new connection's hello deadline early. */
static uint64_t now_ms(void)
{
    return uv_hrtime() / 1000000;
}

static void maybe_finish_stop(struct xport *x)
{
    if (!x->stopping || x->handles > 0)
        return;
    void (*done)(void *) = x->done;
    void *arg = x->done_arg;
    cn_free(x);
    if (done)
        done(arg);
}

static void handle_closed(uv_handle_t *h)
{
    struct xport *x = h->data;
    x->handles--;
    maybe_finish_stop(x);
}

/* ---- peers' reachability --------------------------------------------------------- */

static struct xconn *find_up(struct xport *x, uint64_t id)
{
    struct xconn *best = NULL;
    for (struct xconn *c = x->conns; c; c = c->next) {
        if (c->state != CS_UP || c->node_id != id)
            continue;
        if (c->outbound)
            return c;
        if (!best)
            best = c; /* the list is newest first */
    }
    return best;
}

bool xport_peer_up(const struct xport *x, uint64_t id)
{
    return find_up((struct xport *)x, id) != NULL;
}

static struct xport_peer *peer_find(struct xport *x, uint64_t id);

int xport_peer_info(const struct xport *x, uint64_t id, struct xport_peer_info *out)
{
    struct xport_peer *p = peer_find((struct xport *)x, id);
    if (!p)
        return CN_ENOTFOUND;
    out->up = xport_peer_up(x, id);
    out->dialing = p->conn && p->conn->state != CS_UP;
    out->dials = p->dials;
    out->backoff_ms = p->backoff_ms;
    return 0;
}

static void report(struct xport *x, uint64_t id, bool up)
{
    if (!x->stopping && x->opt.on_peer_state)
        x->opt.on_peer_state(x->opt.arg, id, up);
}

/* ---- closing a connection ----------------------------------------------------------- */

static void peer_schedule(struct xport_peer *p);

/* Count the queue as lost (once: the counters say so as soon as the close
 * starts, though the memory may have to wait for the close callback). */
static void count_dropped(struct xport *x, struct xconn *c)
{
    if (c->dropped)
        return;
    c->dropped = true;
    for (struct xmsg *m = c->qhead; m; m = m->next) {
        x->st.drops_closed++;
        x->st.queued_bytes -= m->len;
    }
    if (c->large) {
        x->st.drops_closed++;
        x->st.queued_bytes -= c->large->len - c->large->off;
    }
}

static void free_queue(struct xport *x, struct xconn *c)
{
    count_dropped(x, c);
    for (struct xmsg *m = c->qhead, *n; m; m = n) {
        n = m->next;
        cn_free(m);
    }
    c->qhead = c->qtail = NULL;
    c->qbytes = 0;
    cn_free(c->large);
    c->large = NULL;
}

static void conn_closed(uv_handle_t *h)
{
    struct xconn *c = h->data;
    struct xport *x = c->x;
    free_queue(x, c);
    xport_decoder_free(&c->dec);
    cn_free(c);
    x->handles--;
    maybe_finish_stop(x);
}

/* reset: drop what the kernel still holds for the peer (SO_LINGER 0, an RST)
 * rather than let it trickle out late; for connections presumed dead. */
static void conn_close_how(struct xconn *c, bool reset)
{
    if (c->closing)
        return;
    struct xport *x = c->x;
    c->closing = true;
    if (c->prev)
        c->prev->next = c->next;
    else
        x->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
    if (c->state == CS_UP) {
        x->st.conns_up--;
        if (!find_up(x, c->node_id))
            report(x, c->node_id, false);
    }
    /* Messages queued on a dead connection are lost: free them now (but the
     * write in flight, if any, still points at its buffers, so then they wait
     * for the close callback); the counters say so at once. */
    if (!c->writing)
        free_queue(x, c);
    else
        count_dropped(x, c);
    struct xport_peer *p = c->peer;
    if (p) {
        p->conn = NULL;
        c->peer = NULL;
        if (!p->removed && !x->stopping)
            peer_schedule(p);
    }
    if (reset && c->state != CS_CONNECTING && uv_tcp_close_reset(&c->tcp, conn_closed) == 0)
        return;
    uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

static void conn_close(struct xconn *c)
{
    conn_close_how(c, false);
}

/* ---- writing ------------------------------------------------------------------------ */

static void write_done(uv_write_t *req, int status);

static void flush(struct xconn *c)
{
    if (c->writing || c->closing || c->state != CS_UP)
        return;
    unsigned n = 0;
    c->w_small = 0;
    c->w_frag = 0;
    for (struct xmsg *m = c->qhead; m && n < MAX_IOV - 2; m = m->next) {
        c->bufs[n++] = uv_buf_init((char *)m->frame, XPORT_FRAME_HDR + m->len);
        c->w_small++;
    }
    struct xmsg *l = c->large;
    if (l) {
        size_t chunk = c->x->opt.chunk_size;
        uint32_t left = l->len - l->off;
        uint32_t take = left > chunk ? (uint32_t)chunk : left;
        uint8_t flags = take == left ? XPORT_F_LAST : XPORT_F_MORE;
        xport_frame_header(c->frag_hdr, l->type, flags, l->frame + l->off, take);
        c->bufs[n++] = uv_buf_init((char *)c->frag_hdr, XPORT_FRAME_HDR);
        c->bufs[n++] = uv_buf_init((char *)l->frame + l->off, take);
        c->w_frag = take;
    }
    if (n == 0)
        return;
    c->wreq.data = c;
    int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, c->bufs, n, write_done);
    if (rc < 0) {
        xlog(c->x, CN_LOG_WARN, "write to node %llu at %s: %s", (unsigned long long)c->node_id,
             c->addr, uv_strerror(rc));
        conn_close(c);
        return;
    }
    c->writing = true;
    c->last_sent = now_ms();
}

/* Nothing written for a heartbeat: tell the peer we are alive. Only between
 * batches (a write in flight says as much, once it moves). */
static void send_keepalive(struct xconn *c)
{
    if (c->writing || c->closing || c->state != CS_UP)
        return;
    c->w_small = 0;
    c->w_frag = 0;
    c->bufs[0] = uv_buf_init((char *)c->x->keepalive, XPORT_FRAME_HDR);
    c->wreq.data = c;
    int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, c->bufs, 1, write_done);
    if (rc < 0) {
        xlog(c->x, CN_LOG_WARN, "write to node %llu at %s: %s", (unsigned long long)c->node_id,
             c->addr, uv_strerror(rc));
        conn_close(c);
        return;
    }
    c->writing = true;
    c->last_sent = now_ms();
    c->x->st.keepalives_sent++;
}

static void write_done(uv_write_t *req, int status)
{
    struct xconn *c = req->data;
    struct xport *x = c->x;
    c->writing = false;
    if (c->closing)
        return; /* the queue goes in the close callback */
    if (status < 0) {
        xlog(x, CN_LOG_WARN, "write to node %llu at %s: %s", (unsigned long long)c->node_id,
             c->addr, uv_strerror(status));
        conn_close(c);
        return;
    }
    for (unsigned i = 0; i < c->w_small; i++) {
        struct xmsg *m = c->qhead;
        c->qhead = m->next;
        c->qbytes -= m->len;
        x->st.queued_bytes -= m->len;
        x->st.msgs_sent++;
        x->st.bytes_sent += m->len;
        cn_free(m);
    }
    if (!c->qhead)
        c->qtail = NULL;
    c->w_small = 0;
    if (c->w_frag) {
        struct xmsg *l = c->large;
        l->off += c->w_frag;
        x->st.queued_bytes -= c->w_frag;
        c->w_frag = 0;
        if (l->off == l->len) {
            x->st.msgs_sent++;
            x->st.bytes_sent += l->len;
            cn_free(l);
            c->large = NULL;
        }
    }
    flush(c);
}

int xport_send(struct xport *x, uint64_t to, uint8_t type, const void *payload, size_t len)
{
    if (x->stopping)
        return CN_ESHUTDOWN;
    if (type == 0 || type == XPORT_KEEPALIVE || type > XPORT_TYPE__MAX || (len && !payload))
        return CN_EINVAL;
    if (len > x->opt.max_msg)
        return CN_ETOOBIG;
    struct xconn *c = find_up(x, to);
    if (!c) {
        x->st.drops_noconn++;
        return CN_EAGAIN;
    }
    bool large = len > x->opt.chunk_size;
    if (large ? c->large != NULL : c->qbytes + len > x->opt.max_queue) {
        x->st.drops_full++;
        return CN_EAGAIN;
    }
    struct xmsg *m = cn_malloc(sizeof(*m) + (large ? 0 : XPORT_FRAME_HDR) + len);
    if (!m)
        return CN_ENOMEM;
    m->next = NULL;
    m->len = (uint32_t)len;
    m->off = 0;
    m->type = type;
    if (large) {
        memcpy(m->frame, payload, len);
        c->large = m;
    } else {
        xport_frame_header(m->frame, type, 0, payload, (uint32_t)len);
        if (len)
            memcpy(m->frame + XPORT_FRAME_HDR, payload, len);
        if (c->qtail)
            c->qtail->next = m;
        else
            c->qhead = m;
        c->qtail = m;
        c->qbytes += len;
    }
    x->st.queued_bytes += len;
    flush(c);
    return 0;
}

/* ---- reading -------------------------------------------------------------------------- */

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct xconn *c = h->data;
    /* One buffer for all connections: a read callback consumes it before the
     * loop reads another socket. */
    *buf = uv_buf_init(c->x->rbuf, READ_BUF_SIZE);
}

static int on_dec_frame(void *arg, uint8_t type, const void *payload, size_t len)
{
    struct xconn *c = arg;
    struct xport *x = c->x;
    if (type == XPORT_KEEPALIVE) {
        x->st.keepalives_recv++; /* its payload (none is sent) is ignored */
        return 0;
    }
    x->st.msgs_recv++;
    x->st.bytes_recv += len;
    x->opt.on_frame(x->opt.arg, c->node_id, type, payload, len);
    return c->closing || x->stopping ? 1 : 0;
}

static const char *who(struct xconn *c, char *b, size_t cap)
{
    if (c->node_id)
        snprintf(b, cap, "node %llu at %s", (unsigned long long)c->node_id, c->addr);
    else
        snprintf(b, cap, "%s", c->addr);
    return b;
}

static void refuse(struct xconn *c, const char *why)
{
    char w[128];
    c->x->st.refused++;
    /* A misconfigured peer is redialed every few seconds: say it once at
     * WARN, then at DEBUG until a connection to it succeeds. */
    int level = CN_LOG_WARN;
    if (c->peer) {
        if (c->peer->warned)
            level = CN_LOG_DEBUG;
        c->peer->warned = true;
    }
    xlog(c->x, level, "refused %s peer %s: %s", c->outbound ? "outbound" : "inbound",
         who(c, w, sizeof(w)), why);
    conn_close(c);
}

/* The peer's hello is complete: check it against our policy. */
static void hello_done(struct xconn *c, const struct xport_hello *h)
{
    struct xport *x = c->x;
    char why[400];
    if (strcmp(h->cluster, x->cluster) != 0) {
        snprintf(why, sizeof(why), "cluster ID \"%s\" (node %llu) differs from ours \"%s\"",
                 h->cluster, (unsigned long long)h->node_id, x->cluster);
        refuse(c, why);
        return;
    }
    if (h->node_id == x->opt.node_id) {
        snprintf(why, sizeof(why), "it claims our own node ID %llu",
                 (unsigned long long)h->node_id);
        refuse(c, why);
        return;
    }
    if (c->outbound && h->node_id != c->node_id) {
        snprintf(why, sizeof(why), "it is node %llu, expected node %llu",
                 (unsigned long long)h->node_id, (unsigned long long)c->node_id);
        refuse(c, why);
        return;
    }
    c->node_id = h->node_id;
    bool was_up = find_up(x, c->node_id) != NULL;
    c->state = CS_UP;
    x->st.conns_up++;
    if (c->outbound && c->peer) {
        c->peer->backoff_ms = x->opt.backoff_min_ms;
        c->peer->warned = false;
    }
    xlog(x, CN_LOG_DEBUG, "%s connection with node %llu at %s is up",
         c->outbound ? "outbound" : "inbound", (unsigned long long)c->node_id, c->addr);
    if (!was_up)
        report(x, c->node_id, true);
    if (!c->outbound) {
        /* An older inbound connection from the same node is stale. */
        for (struct xconn *o = x->conns, *n; o; o = n) {
            n = o->next;
            if (o != c && !o->outbound && o->node_id == c->node_id)
                conn_close(o);
        }
    }
    flush(c); /* nothing queued yet; harmless */
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct xconn *c = s->data;
    struct xport *x = c->x;
    char w[128];
    if (c->closing)
        return;
    if (nread < 0) {
        if (c->state != CS_UP) {
            xlog(x, CN_LOG_DEBUG, "%s closed before its hello (%s)", who(c, w, sizeof(w)),
                 uv_strerror((int)nread));
        } else if (!xport_decoder_idle(&c->dec)) {
            x->st.proto_errors++;
            xlog(x, CN_LOG_WARN, "%s closed the connection in the middle of a frame (%s)",
                 who(c, w, sizeof(w)), uv_strerror((int)nread));
        } else {
            xlog(x, CN_LOG_DEBUG, "%s closed the connection (%s)", who(c, w, sizeof(w)),
                 uv_strerror((int)nread));
        }
        conn_close(c);
        return;
    }
    if (nread == 0)
        return;
    c->last_recv = now_ms();
    c->grace = 0;
    const char *p = buf->base;
    size_t n = (size_t)nread;
    if (c->state == CS_HELLO) {
        size_t before = c->hello_in_len;
        size_t take = sizeof(c->hello_in) - before;
        if (take > n)
            take = n;
        memcpy(c->hello_in + before, p, take);
        c->hello_in_len += take;
        struct xport_hello h;
        size_t used = 0;
        char err[160];
        int rc = xport_hello_decode(c->hello_in, c->hello_in_len, &h, &used, err, sizeof(err));
        if (rc == CN_EAGAIN)
            return;
        if (rc != 0) {
            refuse(c, err);
            return;
        }
        p += used - before;
        n -= used - before;
        hello_done(c, &h);
        if (c->closing)
            return;
    }
    if (n == 0)
        return;
    char err[200];
    int rc = xport_decoder_feed(&c->dec, p, n, on_dec_frame, c, err, sizeof(err));
    if (rc < 0 && !c->closing && !x->stopping) {
        x->st.proto_errors++;
        xlog(x, CN_LOG_WARN, "closing the connection with %s: %s", who(c, w, sizeof(w)), err);
        conn_close(c);
    }
}

/* ---- opening a connection -------------------------------------------------------------- */

static void addr_format(const struct sockaddr *sa, char *out, size_t cap)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        uv_ip4_name(a, ip, sizeof(ip));
        port = ntohs(a->sin_port);
        snprintf(out, cap, "%s:%d", ip, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        uv_ip6_name(a, ip, sizeof(ip));
        port = ntohs(a->sin6_port);
        snprintf(out, cap, "[%s]:%d", ip, port);
    } else {
        snprintf(out, cap, "?");
    }
}

static struct xconn *conn_new(struct xport *x, bool outbound)
{
    struct xconn *c = cn_calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    if (uv_tcp_init(x->loop, &c->tcp) != 0) {
        cn_free(c);
        return NULL;
    }
    x->handles++;
    c->x = x;
    c->tcp.data = c;
    c->outbound = outbound;
    c->state = outbound ? CS_CONNECTING : CS_HELLO;
    c->hello_deadline = now_ms() + x->opt.hello_timeout_ms;
    xport_decoder_init(&c->dec, x->opt.max_msg);
    memcpy(c->hello_out, x->hello, x->hello_len);
    c->hello_out_len = x->hello_len;
    c->next = x->conns;
    if (x->conns)
        x->conns->prev = c;
    x->conns = c;
    return c;
}

/* Send our hello and start reading the peer's. */
static int conn_begin(struct xconn *c)
{
    uv_tcp_nodelay(&c->tcp, 1);
    uv_tcp_keepalive(&c->tcp, 1, 30);
    int rc = uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
    if (rc < 0)
        return rc;
    c->bufs[0] = uv_buf_init((char *)c->hello_out, (unsigned)c->hello_out_len);
    c->wreq.data = c;
    c->w_small = 0;
    c->w_frag = 0;
    rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, c->bufs, 1, write_done);
    if (rc < 0)
        return rc;
    c->writing = true;
    c->state = CS_HELLO;
    c->last_recv = c->last_sent = now_ms();
    c->grace = 0;
    return 0;
}

static void connect_cb(uv_connect_t *req, int status)
{
    struct xconn *c = req->data;
    if (c->closing)
        return;
    if (status < 0) {
        xlog(c->x, CN_LOG_DEBUG, "connect to node %llu at %s: %s", (unsigned long long)c->node_id,
             c->addr, uv_strerror(status));
        conn_close(c);
        return;
    }
    int rc = conn_begin(c);
    if (rc < 0) {
        xlog(c->x, CN_LOG_WARN, "connection to node %llu at %s: %s", (unsigned long long)c->node_id,
             c->addr, uv_strerror(rc));
        conn_close(c);
    }
}

static void peer_dial(struct xport_peer *p)
{
    struct xport *x = p->x;
    struct xconn *c = conn_new(x, true);
    if (!c) {
        xlog(x, CN_LOG_WARN, "dial node %llu at %s: out of memory", (unsigned long long)p->id,
             p->addr);
        peer_schedule(p);
        return;
    }
    c->node_id = p->id;
    c->peer = p;
    c->connect_deadline = now_ms() + x->opt.connect_timeout_ms;
    p->conn = c;
    p->dials++;
    snprintf(c->addr, sizeof(c->addr), "%s", p->addr);
    c->creq.data = c;
    int rc = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&p->sa, connect_cb);
    if (rc < 0) {
        xlog(x, CN_LOG_DEBUG, "connect to node %llu at %s: %s", (unsigned long long)p->id, p->addr,
             uv_strerror(rc));
        conn_close(c); /* schedules the retry */
    }
}

static void peer_timer_cb(uv_timer_t *t)
{
    struct xport_peer *p = t->data;
    if (!p->removed && !p->x->stopping && !p->conn)
        peer_dial(p);
}

/* Retry after a jittered delay in [b/2, b], then double b up to the cap:
 * peers that went down together do not all redial in step. */
static void peer_schedule(struct xport_peer *p)
{
    struct xport *x = p->x;
    uint64_t b = p->backoff_ms;
    uint64_t delay = b / 2 + rng_next(x) % (b / 2 + 1);
    p->backoff_ms = b * 2 > x->opt.backoff_max_ms ? x->opt.backoff_max_ms : b * 2;
    uv_timer_start(&p->timer, peer_timer_cb, delay, 0);
}

static void free_handle(uv_handle_t *h)
{
    cn_free(h);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct xport *x = server->data;
    if (status < 0) {
        xlog(x, CN_LOG_WARN, "accept: %s", uv_strerror(status));
        return;
    }
    struct xconn *c = conn_new(x, false);
    if (!c) {
        /* Take the socket off the backlog and drop it. */
        uv_tcp_t *t = cn_malloc(sizeof(*t));
        if (t && uv_tcp_init(x->loop, t) == 0) {
            t->data = x;
            if (uv_accept(server, (uv_stream_t *)t) == 0)
                xlog(x, CN_LOG_WARN, "inbound connection dropped: out of memory");
            uv_close((uv_handle_t *)t, free_handle);
        } else {
            cn_free(t);
        }
        return;
    }
    int rc = uv_accept(server, (uv_stream_t *)&c->tcp);
    if (rc == 0) {
        struct sockaddr_storage sa;
        int len = sizeof(sa);
        if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&sa, &len) == 0)
            addr_format((struct sockaddr *)&sa, c->addr, sizeof(c->addr));
        else
            snprintf(c->addr, sizeof(c->addr), "?");
        rc = conn_begin(c);
    }
    if (rc < 0) {
        xlog(x, CN_LOG_WARN, "inbound connection: %s", uv_strerror(rc));
        conn_close(c);
    }
}

/* Whether the kernel holds news for this connection that the loop has not
 * delivered yet: bytes or EOF to read, or the outcome of a connect. */
static bool io_pending(struct xconn *c)
{
    uv_os_fd_t fd;
    if (uv_fileno((const uv_handle_t *)&c->tcp, &fd) != 0)
        return false;
    struct pollfd pfd = {.fd = fd, .events = c->state == CS_CONNECTING ? POLLOUT : POLLIN};
    return poll(&pfd, 1, 0) > 0;
}

/* The sweep: keepalives out, and the deadlines (connect, hello, silence).
 *
 * A deadline is meant for the peer, not for us: when our own loop stalled (a
 * long callback, a loaded machine), the peer's bytes (its hello, its
 * keepalives, the outcome of a connect) may already sit unread in the
 * socket, and libuv runs timers before polling for I/O, so this sweep would
 * see the deadline passed before the read callback sees the bytes. Such a
 * connection gets the next I/O pass first. Counted in sweeps, not in time (a
 * stall may last any time), and only a few: a peer trickling its hello byte
 * by byte cannot hold the socket for long.
 *
 * And silence is measured in our loop's time: one sweep counts at most two
 * periods of it. A sweep that comes later than that means our loop stalled
 * or crawled, and a peer could not have been heard meanwhile (its bytes
 * would be waiting, see above, but the peer itself may have stalled with us,
 * as when both share a machine that was descheduled): the excess does not
 * count towards anyone's silence or dial. So a stalled loop stretches the
 * timeouts instead of blaming the peers, and a slow one still finds a dead
 * peer, within idle_timeout_ms / (2 periods) sweeps (4 by default). */
static void sweep_cb(uv_timer_t *t)
{
    struct xport *x = t->data;
    uint64_t now = now_ms();
    uint64_t gap = now - x->last_sweep;
    uint64_t stall = gap > 2 * x->sweep_ms ? gap - 2 * x->sweep_ms : 0;
    x->last_sweep = now;
    if (stall >= x->opt.idle_timeout_ms / 2)
        xlog(x, CN_LOG_DEBUG, "our loop stalled for %llu ms: peers' silence meanwhile not counted",
             (unsigned long long)stall);
    char w[128];
    for (struct xconn *c = x->conns, *n; c && !x->stopping; c = n) {
        n = c->next;
        if (c->closing)
            continue;
        if (c->state == CS_CONNECTING) {
            c->connect_deadline += stall;
            if (now < c->connect_deadline)
                continue;
            if (c->grace < GRACE_SWEEPS && io_pending(c)) {
                c->grace++;
                continue;
            }
            x->st.dial_timeouts++;
            xlog(x, CN_LOG_DEBUG, "connect to node %llu at %s: no answer within %llu ms",
                 (unsigned long long)c->node_id, c->addr,
                 (unsigned long long)x->opt.connect_timeout_ms);
            conn_close(c);
            continue;
        }
        c->last_recv = c->last_recv + stall < now ? c->last_recv + stall : now;
        bool silent = now - c->last_recv >= x->opt.idle_timeout_ms;
        bool late = c->state == CS_HELLO && now >= c->hello_deadline;
        if ((silent || late) && c->grace < GRACE_SWEEPS && io_pending(c)) {
            c->grace++;
            continue;
        }
        if (silent) {
            /* The peer is gone (a partition, a crash, a stopped process):
             * reset, so nothing queued reaches it late, and redial. */
            x->st.idle_closed++;
            xlog(x, c->state == CS_UP ? CN_LOG_INFO : CN_LOG_DEBUG,
                 "closing the connection with %s: nothing received for %llu ms",
                 who(c, w, sizeof(w)), (unsigned long long)(now - c->last_recv));
            conn_close_how(c, true);
            continue;
        }
        if (late) {
            xlog(x, CN_LOG_WARN, "closing the connection with %s: no hello within %llu ms",
                 who(c, w, sizeof(w)), (unsigned long long)x->opt.hello_timeout_ms);
            conn_close(c);
            continue;
        }
        if (c->state == CS_UP && now - c->last_sent >= x->opt.heartbeat_ms)
            send_keepalive(c);
    }
}

/* ---- peers ------------------------------------------------------------------------------- */

static int addr_parse(const char *s, struct sockaddr_storage *sa)
{
    char host[INET6_ADDRSTRLEN + 2];
    const char *colon;
    const char *h = s;
    size_t hl;
    if (!s)
        return CN_EINVAL;
    if (s[0] == '[') {
        const char *end = strchr(s, ']');
        if (!end || end[1] != ':')
            return CN_EINVAL;
        h = s + 1;
        hl = (size_t)(end - h);
        colon = end + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return CN_EINVAL;
        hl = (size_t)(colon - s);
    }
    if (hl == 0 || hl >= sizeof(host))
        return CN_EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    char *endp;
    long port = strtol(colon + 1, &endp, 10);
    if (colon[1] == '\0' || *endp != '\0' || port <= 0 || port > 65535)
        return CN_EINVAL;
    memset(sa, 0, sizeof(*sa));
    if (uv_ip4_addr(host, (int)port, (struct sockaddr_in *)sa) == 0 && s[0] != '[')
        return 0;
    if (uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)sa) == 0 && s[0] == '[')
        return 0;
    return CN_EINVAL;
}

static struct xport_peer *peer_find(struct xport *x, uint64_t id)
{
    for (struct xport_peer *p = x->peers; p; p = p->next)
        if (p->id == id)
            return p;
    return NULL;
}

static void peer_closed(uv_handle_t *h)
{
    struct xport_peer *p = h->data;
    struct xport *x = p->x;
    cn_free(p);
    x->handles--;
    maybe_finish_stop(x);
}

static void peer_free(struct xport_peer *p)
{
    p->removed = true;
    if (p->conn) {
        struct xconn *c = p->conn;
        c->peer = NULL;
        p->conn = NULL;
        conn_close(c);
    }
    uv_timer_stop(&p->timer);
    uv_close((uv_handle_t *)&p->timer, peer_closed);
}

int xport_set_peer(struct xport *x, uint64_t id, const char *addr)
{
    if (x->stopping)
        return CN_ESHUTDOWN;
    struct sockaddr_storage sa;
    if (id == 0 || id == x->opt.node_id || addr_parse(addr, &sa) != 0 || strlen(addr) >= ADDR_MAX)
        return CN_EINVAL;
    struct xport_peer *p = peer_find(x, id);
    if (p) {
        if (strcmp(p->addr, addr) == 0)
            return 0;
        snprintf(p->addr, sizeof(p->addr), "%s", addr);
        p->sa = sa;
        p->backoff_ms = x->opt.backoff_min_ms;
        if (p->conn) {
            struct xconn *c = p->conn;
            c->peer = NULL;
            p->conn = NULL;
            conn_close(c);
        }
        uv_timer_stop(&p->timer);
        peer_dial(p);
        return 0;
    }
    p = cn_calloc(1, sizeof(*p));
    if (!p)
        return CN_ENOMEM;
    p->x = x;
    p->id = id;
    snprintf(p->addr, sizeof(p->addr), "%s", addr);
    p->sa = sa;
    p->backoff_ms = x->opt.backoff_min_ms;
    uv_timer_init(x->loop, &p->timer);
    p->timer.data = p;
    x->handles++;
    p->next = x->peers;
    x->peers = p;
    peer_dial(p);
    return 0;
}

int xport_remove_peer(struct xport *x, uint64_t id)
{
    for (struct xport_peer **pp = &x->peers; *pp; pp = &(*pp)->next) {
        if ((*pp)->id == id) {
            struct xport_peer *p = *pp;
            *pp = p->next;
            peer_free(p);
            return 0;
        }
    }
    return CN_ENOTFOUND;
}

/* ---- start / stop ------------------------------------------------------------------------ */

int xport_port(const struct xport *x)
{
    return x->port;
}

void xport_get_stats(const struct xport *x, struct xport_stats *out)
{
    *out = x->st;
}

int xport_start(uv_loop_t *loop, const struct xport_options *opt, struct xport **out, char *err,
                size_t errcap)
{
    if (err && errcap)
        err[0] = '\0';
    if (!opt->on_frame || opt->node_id == 0 || !opt->cluster_id || opt->port < 0 ||
        opt->port > 65535) {
        snprintf(err, errcap,
                 "transport: on_frame, node_id, cluster_id and a port in "
                 "0..65535 are required");
        return CN_EINVAL;
    }
    struct xport *x = cn_calloc(1, sizeof(*x));
    if (!x)
        return CN_ENOMEM;
    x->loop = loop;
    x->opt = *opt;
    struct xport_options *o = &x->opt;
    if (!o->max_msg)
        o->max_msg = 64u << 20;
    if (!o->chunk_size)
        o->chunk_size = 1u << 20;
    if (!o->max_queue)
        o->max_queue = 8u << 20;
    /* Everything about liveness follows the heartbeat: a peer is presumed
     * dead after 4 silent heartbeats and redialed within about one, so that
     * after a partition heals connections are back well within an election
     * timeout (10 heartbeats in Raft's usual ratio). */
    if (!o->heartbeat_ms)
        o->heartbeat_ms = 50;
    if (!o->idle_timeout_ms)
        o->idle_timeout_ms = 4 * o->heartbeat_ms;
    if (!o->connect_timeout_ms)
        o->connect_timeout_ms = 2 * o->heartbeat_ms;
    if (!o->backoff_min_ms)
        o->backoff_min_ms = o->heartbeat_ms / 5 ? o->heartbeat_ms / 5 : 1;
    if (!o->backoff_max_ms)
        o->backoff_max_ms =
            o->heartbeat_ms > o->backoff_min_ms ? o->heartbeat_ms : o->backoff_min_ms;
    if (!o->hello_timeout_ms)
        o->hello_timeout_ms = 5000;
    if (o->max_msg > UINT32_MAX || o->chunk_size > o->max_msg || o->max_queue < o->chunk_size ||
        o->backoff_max_ms < o->backoff_min_ms) {
        snprintf(err, errcap,
                 "transport: need chunk_size <= max_msg < 4 GiB, max_queue >= chunk_size, "
                 "backoff_min_ms <= backoff_max_ms");
        cn_free(x);
        return CN_EINVAL;
    }
    struct xport_hello h = {.version = XPORT_VERSION, .node_id = opt->node_id};
    if (strlen(opt->cluster_id) > XPORT_CLUSTER_MAX) {
        snprintf(err, errcap, "transport: cluster ID longer than %d bytes", XPORT_CLUSTER_MAX);
        cn_free(x);
        return CN_EINVAL;
    }
    snprintf(h.cluster, sizeof(h.cluster), "%s", opt->cluster_id);
    if (xport_hello_encode(&h, x->hello, sizeof(x->hello), &x->hello_len) != 0) {
        snprintf(err, errcap, "transport: cluster ID must be 1..255 printable ASCII characters");
        cn_free(x);
        return CN_EINVAL;
    }
    snprintf(x->cluster, sizeof(x->cluster), "%s", opt->cluster_id);
    o->cluster_id = x->cluster;
    xport_frame_header(x->keepalive, XPORT_KEEPALIVE, 0, NULL, 0);
    o->host = NULL; /* not kept */
    x->rng = opt->seed ? opt->seed : (cn_now_ns() | 1);

    if (opt->host) {
        struct sockaddr_storage sa;
        int rc = uv_ip4_addr(opt->host, opt->port, (struct sockaddr_in *)&sa);
        if (rc != 0)
            rc = uv_ip6_addr(opt->host, opt->port, (struct sockaddr_in6 *)&sa);
        if (rc != 0) {
            snprintf(err, errcap, "transport: bad bind address \"%s\"", opt->host);
            cn_free(x);
            return CN_EINVAL;
        }
        uv_tcp_init(loop, &x->listener);
        x->listener.data = x;
        x->handles++;
        x->listening = true;
        rc = uv_tcp_bind(&x->listener, (struct sockaddr *)&sa, 0);
        if (rc == 0)
            rc = uv_listen((uv_stream_t *)&x->listener, 128, on_connection);
        if (rc != 0) {
            snprintf(err, errcap, "transport: listen on %s port %d: %s", opt->host, opt->port,
                     uv_strerror(rc));
            /* Close what we opened; the transport is freed when it closes. */
            x->stopping = true;
            uv_close((uv_handle_t *)&x->listener, handle_closed);
            return CN_EIO;
        }
        struct sockaddr_storage bound;
        int len = sizeof(bound);
        uv_tcp_getsockname(&x->listener, (struct sockaddr *)&bound, &len);
        x->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                    : ((struct sockaddr_in *)&bound)->sin_port);
    }
    uv_timer_init(loop, &x->sweep);
    x->sweep.data = x;
    x->handles++;
    uint64_t every = o->hello_timeout_ms / 4;
    if (o->heartbeat_ms / 2 < every)
        every = o->heartbeat_ms / 2;
    if (o->idle_timeout_ms / 4 < every)
        every = o->idle_timeout_ms / 4;
    if (o->connect_timeout_ms / 2 < every)
        every = o->connect_timeout_ms / 2;
    x->sweep_ms = every ? every : 1;
    x->last_sweep = now_ms();
    uv_timer_start(&x->sweep, sweep_cb, x->sweep_ms, x->sweep_ms);
    uv_unref((uv_handle_t *)&x->sweep);
    *out = x;
    return 0;
}

void xport_stop(struct xport *x, void (*done)(void *), void *arg)
{
    if (x->stopping)
        return;
    x->stopping = true;
    x->done = done;
    x->done_arg = arg;
    if (x->listening)
        uv_close((uv_handle_t *)&x->listener, handle_closed);
    uv_close((uv_handle_t *)&x->sweep, handle_closed);
    while (x->peers) {
        struct xport_peer *p = x->peers;
        x->peers = p->next;
        peer_free(p);
    }
    while (x->conns)
        conn_close(x->conns);
}
