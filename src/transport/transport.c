/* transport/transport.c: the transport itself: start and stop, its options
 * and their defaults, its statistics, and the peer table (the configured peers
 * and whether each is reachable).
 *
 * The work is shared out: conn.c is a connection's life (opening, the hello,
 * reading, writing and the queue, closing), liveness.c the sweep timer and
 * the peers' redial timers; transport_int.h holds the structs they share.
 *
 * Lifetimes: a peer is freed when its timer's close completes. The transport
 * is freed when its last handle has closed after xport_stop. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "transport/transport_int.h"

void xport__log(struct xport *x, int level, const char *fmt, ...)
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

void xport__maybe_finish_stop(struct xport *x)
{
    if (!x->stopping || x->handles > 0)
        return;
    void (*done)(void *) = x->done;
    void *arg = x->done_arg;
    if (x->opt.tls)
        SSL_CTX_free(x->opt.tls);
    cn_free(x);
    if (done)
        done(arg);
}

static void handle_closed(uv_handle_t *h)
{
    struct xport *x = h->data;
    x->handles--;
    xport__maybe_finish_stop(x);
}

/* ---- peers' reachability --------------------------------------------------------- */

bool xport_peer_up(const struct xport *x, uint64_t id)
{
    return xport__find_up((struct xport *)x, id) != NULL;
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

bool xport__is_guest(struct xport *x, const struct xconn *c)
{
    return !c->peer && !peer_find(x, c->node_id);
}

static void peer_closed(uv_handle_t *h)
{
    struct xport_peer *p = h->data;
    struct xport *x = p->x;
    cn_free(p);
    x->handles--;
    xport__maybe_finish_stop(x);
}

static void peer_free(struct xport_peer *p)
{
    p->removed = true;
    if (p->conn) {
        struct xconn *c = p->conn;
        c->peer = NULL;
        p->conn = NULL;
        xport__conn_close(c);
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
            xport__conn_close(c);
        }
        uv_timer_stop(&p->timer);
        xport__peer_dial(p);
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
    xport__peer_dial(p);
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
    if (opt->tls_server_name)
        snprintf(x->tls_name, sizeof(x->tls_name), "%s", opt->tls_server_name);
    o->tls_server_name = NULL;
    o->tls = NULL; /* referenced once started (below) */
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
            rc = uv_listen((uv_stream_t *)&x->listener, 128, xport__on_connection);
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
    x->last_sweep = xport__now_ms();
    uv_timer_start(&x->sweep, xport__sweep_cb, x->sweep_ms, x->sweep_ms);
    uv_unref((uv_handle_t *)&x->sweep);
    xport_set_tls(x, opt->tls);
    *out = x;
    return 0;
}

void xport_set_tls(struct xport *x, struct ssl_ctx_st *ctx)
{
    if (!ctx || x->stopping)
        return;
    SSL_CTX_up_ref(ctx);
    if (x->opt.tls)
        SSL_CTX_free(x->opt.tls);
    x->opt.tls = ctx;
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
        xport__conn_close(x->conns);
}
