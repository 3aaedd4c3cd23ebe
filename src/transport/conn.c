/* transport/conn.c: a connection's life: opening (dial or accept), the
 * hellos, reading into the frame decoder, writing and the send queue,
 * keepalive frames, closing.
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
 * Lifetimes: a connection leaves the list when its close starts and is freed
 * in its close callback (libuv cancels its pending connect/write requests
 * before that). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "transport/transport_int.h"

struct xmsg {
    struct xmsg *next;
    uint32_t len; /* payload bytes */
    uint32_t off; /* large messages: payload bytes already written */
    uint8_t type;
    uint8_t frame[]; /* XPORT_FRAME_HDR (small messages only) + payload */
};

/* ---- peers' reachability --------------------------------------------------------- */

struct xconn *xport__find_up(struct xport *x, uint64_t id)
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

static void report(struct xport *x, uint64_t id, bool up)
{
    if (!x->stopping && x->opt.on_peer_state)
        x->opt.on_peer_state(x->opt.arg, id, up);
}

/* ---- closing a connection ----------------------------------------------------------- */

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
    tls_conn_free(c->tls);
    cn_free(c);
    x->handles--;
    xport__maybe_finish_stop(x);
}

/* reset: drop what the kernel still holds for the peer (SO_LINGER 0, an RST)
 * rather than let it trickle out late; for connections presumed dead. */
void xport__conn_close_how(struct xconn *c, bool reset)
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
        if (!xport__find_up(x, c->node_id))
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
            xport__peer_schedule(p);
    }
    if (reset && c->state != CS_CONNECTING && uv_tcp_close_reset(&c->tcp, conn_closed) == 0)
        return;
    uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

void xport__conn_close(struct xconn *c)
{
    xport__conn_close_how(c, false);
}

/* ---- writing ------------------------------------------------------------------------ */

static void write_done(uv_write_t *req, int status);

static void tls_written(void *arg, int status)
{
    struct xconn *c = arg;
    write_done(&c->wreq, status);
}

/* The one write in flight (c->wreq): c->bufs[0..n) as they are, or through
 * TLS (the records carry copies: write_done then frees as usual). */
static int conn_write(struct xconn *c, unsigned n)
{
    c->wreq.data = c;
    if (c->tls)
        return tls_conn_write(c->tls, (uv_stream_t *)&c->tcp, c->bufs, n, tls_written, c) ? UV_EIO
                                                                                          : 0;
    return uv_write(&c->wreq, (uv_stream_t *)&c->tcp, c->bufs, n, write_done);
}

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
    int rc = conn_write(c, n);
    if (rc < 0) {
        xport__log(c->x, CN_LOG_WARN, "write to node %llu at %s: %s",
                   (unsigned long long)c->node_id, c->addr, uv_strerror(rc));
        xport__conn_close(c);
        return;
    }
    c->writing = true;
    c->last_sent = xport__now_ms();
}

/* Nothing written for a heartbeat: tell the peer we are alive. Only between
 * batches (a write in flight says as much, once it moves). */
void xport__send_keepalive(struct xconn *c)
{
    if (c->writing || c->closing || c->state != CS_UP)
        return;
    c->w_small = 0;
    c->w_frag = 0;
    c->bufs[0] = uv_buf_init((char *)c->x->keepalive, XPORT_FRAME_HDR);
    int rc = conn_write(c, 1);
    if (rc < 0) {
        xport__log(c->x, CN_LOG_WARN, "write to node %llu at %s: %s",
                   (unsigned long long)c->node_id, c->addr, uv_strerror(rc));
        xport__conn_close(c);
        return;
    }
    c->writing = true;
    c->last_sent = xport__now_ms();
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
        xport__log(x, CN_LOG_WARN, "write to node %llu at %s: %s", (unsigned long long)c->node_id,
                   c->addr, uv_strerror(status));
        xport__conn_close(c);
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
    struct xconn *c = xport__find_up(x, to);
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

const char *xport__who(struct xconn *c, char *b, size_t cap)
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
    xport__log(c->x, level, "refused %s peer %s: %s", c->outbound ? "outbound" : "inbound",
               xport__who(c, w, sizeof(w)), why);
    xport__conn_close(c);
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
    bool was_up = xport__find_up(x, c->node_id) != NULL;
    c->state = CS_UP;
    x->st.conns_up++;
    if (c->outbound && c->peer) {
        c->peer->backoff_ms = x->opt.backoff_min_ms;
        c->peer->warned = false;
    }
    xport__log(x, CN_LOG_DEBUG, "%s connection with node %llu at %s is up",
               c->outbound ? "outbound" : "inbound", (unsigned long long)c->node_id, c->addr);
    if (!was_up)
        report(x, c->node_id, true);
    if (!c->outbound) {
        /* An older inbound connection from the same node is stale. */
        for (struct xconn *o = x->conns, *n; o; o = n) {
            n = o->next;
            if (o != c && !o->outbound && o->node_id == c->node_id)
                xport__conn_close(o);
        }
    }
    flush(c); /* nothing queued yet; harmless */
}

static int send_hello(struct xconn *c);
static int conn_plain(void *arg, const char *p, size_t n);
static bool tls_hello(struct xconn *c);
static void tls_input(struct xconn *c, const char *p, size_t n);

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct xconn *c = s->data;
    struct xport *x = c->x;
    char w[128];
    if (c->closing)
        return;
    if (nread < 0) {
        if (c->state != CS_UP) {
            xport__log(x, CN_LOG_DEBUG, "%s closed before its hello (%s)",
                       xport__who(c, w, sizeof(w)), uv_strerror((int)nread));
        } else if (!xport_decoder_idle(&c->dec)) {
            x->st.proto_errors++;
            xport__log(x, CN_LOG_WARN, "%s closed the connection in the middle of a frame (%s)",
                       xport__who(c, w, sizeof(w)), uv_strerror((int)nread));
        } else {
            xport__log(x, CN_LOG_DEBUG, "%s closed the connection (%s)",
                       xport__who(c, w, sizeof(w)), uv_strerror((int)nread));
        }
        xport__conn_close(c);
        return;
    }
    if (nread == 0)
        return;
    c->last_recv = xport__now_ms();
    c->grace = 0;
    if (c->sniff) {
        /* Inbound with TLS configured: a TLS record (handshake, 0x16) or a
         * plaintext hello ("CAIRNRPC"). */
        c->sniff = false;
        if ((uint8_t)buf->base[0] == 0x16) {
            c->tls = tls_conn_new(x->opt.tls, true, false, NULL);
            if (!c->tls) {
                xport__conn_close(c);
                return;
            }
        } else if (x->opt.tls_required) {
            refuse(c, "a plaintext connection, but tls.internal_rpc.verify_incoming is set "
                      "(the peer must use TLS: verify_outgoing)");
            return;
        } else if (send_hello(c)) {
            xport__conn_close(c);
            return;
        }
    }
    if (c->tls)
        tls_input(c, buf->base, (size_t)nread);
    else
        conn_plain(c, buf->base, (size_t)nread);
}

/* Bytes of the connection's stream (decrypted with TLS): the peer's hello,
 * then frames. Returns non-zero once the connection is closing. */
static int conn_plain(void *arg, const char *p, size_t n)
{
    struct xconn *c = arg;
    struct xport *x = c->x;
    char w[128];
    if (c->closing)
        return 1;
    /* TLS: ours first (the peer's hello, in this same read, brings the
     * connection up and lets frames flush: they must follow our hello). */
    if (c->tls && !c->hello_sent && !tls_hello(c))
        return 1;
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
            return 0;
        if (rc != 0) {
            refuse(c, err);
            return 1;
        }
        p += used - before;
        n -= used - before;
        hello_done(c, &h);
        if (c->closing)
            return 1;
    }
    if (n == 0)
        return 0;
    char err[200];
    int rc = xport_decoder_feed(&c->dec, p, n, on_dec_frame, c, err, sizeof(err));
    if (rc < 0 && !c->closing && !x->stopping) {
        x->st.proto_errors++;
        xport__log(x, CN_LOG_WARN, "closing the connection with %s: %s",
                   xport__who(c, w, sizeof(w)), err);
        xport__conn_close(c);
    }
    return c->closing || x->stopping;
}

/* TLS: the handshake, then (once it is done and the peer's certificate
 * names what it must) our hello, then the plaintext to conn_plain. */
static void tls_step(struct xconn *c)
{
    char err[256], why[400];
    int rc = tls_conn_read(c->tls, (uv_stream_t *)&c->tcp, conn_plain, c, err, sizeof(err));
    if (c->closing)
        return;
    if (rc == CN_EPROTO || rc == CN_EIO) {
        snprintf(why, sizeof(why), "TLS %s: %s", tls_conn_ready(c->tls) ? "error" : "handshake",
                 rc == CN_EIO ? "write failed" : err);
        refuse(c, why);
        return;
    }
    if (rc == CN_ESHUTDOWN) {
        xport__conn_close(c);
        return;
    }
    if (!c->hello_sent && tls_conn_ready(c->tls))
        tls_hello(c);
}

/* The handshake is done: check the peer's name, send our hello. False when
 * the connection was refused or failed (closing). */
static bool tls_hello(struct xconn *c)
{
    struct xport *x = c->x;
    char why[400];
    if (!c->outbound && x->tls_name[0] && !tls_conn_peer_has_name(c->tls, x->tls_name)) {
        /* verify_server_hostname: only a server certificate may speak Raft. */
        snprintf(why, sizeof(why),
                 "its certificate does not name %s (verify_server_hostname: a client "
                 "certificate cannot pose as a server)",
                 x->tls_name);
        refuse(c, why);
        return false;
    }
    if (send_hello(c)) {
        xport__conn_close(c);
        return false;
    }
    return true;
}

static void tls_input(struct xconn *c, const char *p, size_t n)
{
    if (tls_conn_input(c->tls, p, n)) {
        xport__conn_close(c);
        return;
    }
    tls_step(c);
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
    c->hello_deadline = xport__now_ms() + x->opt.hello_timeout_ms;
    xport_decoder_init(&c->dec, x->opt.max_msg);
    memcpy(c->hello_out, x->hello, x->hello_len);
    c->hello_out_len = x->hello_len;
    c->next = x->conns;
    if (x->conns)
        x->conns->prev = c;
    x->conns = c;
    return c;
}

/* Our hello: the first bytes of the stream (inside TLS when on). */
static int send_hello(struct xconn *c)
{
    c->bufs[0] = uv_buf_init((char *)c->hello_out, (unsigned)c->hello_out_len);
    c->w_small = 0;
    c->w_frag = 0;
    int rc = conn_write(c, 1);
    if (rc < 0)
        return rc;
    c->hello_sent = true;
    c->writing = true;
    c->last_sent = xport__now_ms();
    return 0;
}

/* Start reading the peer's hello and send ours: at once in plaintext; with
 * TLS after the handshake (outbound: we start it); an inbound connection
 * with TLS configured waits for its first byte (TLS or not). */
static int conn_begin(struct xconn *c)
{
    struct xport *x = c->x;
    uv_tcp_nodelay(&c->tcp, 1);
    uv_tcp_keepalive(&c->tcp, 1, 30);
    int rc = uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
    if (rc < 0)
        return rc;
    c->state = CS_HELLO;
    c->last_recv = c->last_sent = xport__now_ms();
    c->grace = 0;
    if (c->outbound && x->opt.tls && x->opt.tls_outgoing) {
        c->tls = tls_conn_new(x->opt.tls, false, true, x->tls_name[0] ? x->tls_name : NULL);
        if (!c->tls)
            return UV_ENOMEM;
        tls_step(c); /* the ClientHello (a failure closes c and logs) */
        return 0;
    }
    if (!c->outbound && x->opt.tls) {
        c->sniff = true;
        return 0;
    }
    return send_hello(c);
}

static void connect_cb(uv_connect_t *req, int status)
{
    struct xconn *c = req->data;
    if (c->closing)
        return;
    if (status < 0) {
        xport__log(c->x, CN_LOG_DEBUG, "connect to node %llu at %s: %s",
                   (unsigned long long)c->node_id, c->addr, uv_strerror(status));
        xport__conn_close(c);
        return;
    }
    int rc = conn_begin(c);
    if (rc < 0) {
        xport__log(c->x, CN_LOG_WARN, "connection to node %llu at %s: %s",
                   (unsigned long long)c->node_id, c->addr, uv_strerror(rc));
        xport__conn_close(c);
    }
}

void xport__peer_dial(struct xport_peer *p)
{
    struct xport *x = p->x;
    struct xconn *c = conn_new(x, true);
    if (!c) {
        xport__log(x, CN_LOG_WARN, "dial node %llu at %s: out of memory", (unsigned long long)p->id,
                   p->addr);
        xport__peer_schedule(p);
        return;
    }
    c->node_id = p->id;
    c->peer = p;
    c->connect_deadline = xport__now_ms() + x->opt.connect_timeout_ms;
    p->conn = c;
    p->dials++;
    snprintf(c->addr, sizeof(c->addr), "%s", p->addr);
    c->creq.data = c;
    int rc = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&p->sa, connect_cb);
    if (rc < 0) {
        xport__log(x, CN_LOG_DEBUG, "connect to node %llu at %s: %s", (unsigned long long)p->id,
                   p->addr, uv_strerror(rc));
        xport__conn_close(c); /* schedules the retry */
    }
}

static void free_handle(uv_handle_t *h)
{
    cn_free(h);
}

void xport__on_connection(uv_stream_t *server, int status)
{
    struct xport *x = server->data;
    if (status < 0) {
        xport__log(x, CN_LOG_WARN, "accept: %s", uv_strerror(status));
        return;
    }
    struct xconn *c = conn_new(x, false);
    if (!c) {
        /* Take the socket off the backlog and drop it. */
        uv_tcp_t *t = cn_malloc(sizeof(*t));
        if (t && uv_tcp_init(x->loop, t) == 0) {
            t->data = x;
            if (uv_accept(server, (uv_stream_t *)t) == 0)
                xport__log(x, CN_LOG_WARN, "inbound connection dropped: out of memory");
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
        xport__log(x, CN_LOG_WARN, "inbound connection: %s", uv_strerror(rc));
        xport__conn_close(c);
    }
}
