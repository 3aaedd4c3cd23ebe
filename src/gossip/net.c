/* gossip/net.c: the gossip core on the libuv loop (see net.h). */
#include "gossip/net.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "base/enc.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "gossip/codec.h"
#include "gossip/crypt.h"
#include "gossip/keyfile.h"

#define MAX_SUBS 8
#define MAX_FRAME (32u << 20)
#define STREAM_TIMEOUT_MS 10000
#define MAX_QUERIES 8

struct sub {
    gossip_net_event_cb cb;
    void *arg;
};

struct join;

/* A keyring query of ours waiting for the core's gossip_query_done. */
struct pquery {
    bool used;
    uint64_t token;
    gossip_net_query_cb cb;
    void *arg;
};

/* The keyring file, written off the loop (uv_queue_work). */
struct kwrite {
    uv_work_t work;
    struct gossip_net *n;
    char *path;
    struct cn_buf data;
    int rc;
    char err[160];
};

struct gossip_net {
    uv_loop_t *loop;
    struct gossip *g;
    uv_udp_t udp;
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_timer_t leave_timer;
    int open_handles;
    bool stopping;
    int port;
    char cluster[GOSSIP_CLUSTER_MAX + 1];
    bool verify_in, verify_out;
    char *keyring_file;     /* NULL: not persisted */
    bool kw_busy, kw_again; /* a write in flight; another one due after it */
    struct pquery queries[MAX_QUERIES];
    uint64_t next_qtoken;
    struct sub subs[MAX_SUBS];
    size_t nsubs;
    struct join *joins;
    int resolving; /* getaddrinfo requests out (their callbacks free their join) */
    struct stream *streams;
    uint64_t next_token;
    uint64_t leave_started, leave_max;
    bool left;
    void (*leave_cb)(void *);
    void *leave_arg;
    uint8_t rbuf[65536];
    struct gossip_net_stats st;
};

struct join {
    struct join *next;
    struct gossip_net *n;
    uint64_t token;
    int port;
    bool resolving;
    uv_getaddrinfo_t gai;
    gossip_net_join_cb cb;
    void *arg;
    char host[256];
};

/* One push/pull connection, either side. */
struct stream {
    struct stream *prev, *next;
    struct gossip_net *n;
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_connect_t conn;
    uv_write_t wr;
    int handles;
    bool outgoing, done;
    uint64_t token;
    struct cn_buf out; /* frame to write */
    struct cn_buf in;  /* bytes read */
};

static void flush(struct gossip_net *n);

/* ---- encryption ---------------------------------------------------------------- */

static const struct gossip_keyring *ring(const struct gossip_net *n)
{
    return gossip_get_keyring(n->g);
}

/* What goes on the wire for plain p: sealed with the primary key when there
 * is a keyring and encrypt_verify_outgoing holds. *wire points at p or
 * into out. */
static int wrap(const struct gossip_net *n, const uint8_t *p, size_t len, struct cn_buf *out,
                const uint8_t **wire, size_t *wire_len)
{
    const struct gossip_keyring *kr = ring(n);
    if (!kr->n || !n->verify_out) {
        *wire = p;
        *wire_len = len;
        return 0;
    }
    CN_TRY(gossip_seal(&kr->keys[0], p, len, out));
    *wire = (const uint8_t *)out->p;
    *wire_len = out->len;
    return 0;
}

int gossip_key_decode(const char *b64, uint8_t out[32], size_t *len)
{
    size_t n = strlen(b64);
    if (n == 0 || n > 44 || n % 4)
        return CN_EINVAL;
    uint8_t tmp[48];
    int got = EVP_DecodeBlock(tmp, (const unsigned char *)b64, (int)n);
    if (got < 0)
        return CN_EINVAL;
    size_t pad = (size_t)(b64[n - 1] == '=') + (size_t)(n > 1 && b64[n - 2] == '=');
    size_t real = (size_t)got - pad;
    if (real != 16 && real != 24 && real != 32)
        return CN_EINVAL;
    memcpy(out, tmp, real);
    *len = real;
    return 0;
}

int gossip_key_generate(char out[64])
{
    uint8_t k[32];
    if (RAND_bytes(k, sizeof(k)) != 1)
        return CN_EIO;
    EVP_EncodeBlock((unsigned char *)out, k, sizeof(k));
    return 0;
}

/* ---- handles ------------------------------------------------------------------- */

static void net_free_if_done(struct gossip_net *n)
{
    if (n->stopping && n->open_handles == 0 && !n->streams && !n->joins && !n->resolving &&
        !n->kw_busy) {
        gossip_free(n->g);
        cn_free(n->keyring_file);
        cn_free(n);
    }
}

static void on_net_closed(uv_handle_t *h)
{
    struct gossip_net *n = h->data;
    n->open_handles--;
    net_free_if_done(n);
}

static void on_timer(uv_timer_t *t)
{
    struct gossip_net *n = t->data;
    gossip_clock_us(n->g, uv_hrtime() / 1000);
    gossip_tick(n->g, uv_now(n->loop));
    flush(n);
}

static void rearm(struct gossip_net *n)
{
    if (n->stopping)
        return;
    uint64_t now = uv_now(n->loop);
    uint64_t d = gossip_next_deadline(n->g, now);
    uv_timer_start(&n->timer, on_timer, d > now ? d - now : 0, 0);
}

/* ---- streams ------------------------------------------------------------------- */

static void stream_closed(uv_handle_t *h)
{
    struct stream *s = h->data;
    if (--s->handles)
        return;
    struct gossip_net *n = s->n;
    if (s->prev)
        s->prev->next = s->next;
    else
        n->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    cn_buf_free(&s->in);
    cn_buf_free(&s->out);
    cn_free(s);
    net_free_if_done(n);
}

static struct join *join_take(struct gossip_net *n, uint64_t token)
{
    for (struct join **pp = &n->joins; *pp; pp = &(*pp)->next)
        if ((*pp)->token == token && !(*pp)->resolving) {
            struct join *j = *pp;
            *pp = j->next;
            return j;
        }
    return NULL;
}

static void join_finish(struct gossip_net *n, uint64_t token, int rc, const char *why)
{
    if (!token)
        return;
    struct join *j = join_take(n, token);
    if (!j)
        return;
    j->cb(j->arg, rc, why);
    cn_free(j);
}

static void stream_end(struct stream *s, int rc, const char *why)
{
    if (s->done)
        return;
    s->done = true;
    if (rc) {
        s->n->st.stream_errors++;
        if (s->outgoing)
            cn_debug("gossip", "push/pull failed: %s", why);
    }
    if (s->outgoing)
        join_finish(s->n, s->token, rc, why);
    uv_timer_stop(&s->timer);
    uv_close((uv_handle_t *)&s->timer, stream_closed);
    uv_close((uv_handle_t *)&s->tcp, stream_closed);
}

static void stream_timeout(uv_timer_t *t)
{
    stream_end(t->data, CN_EIO, "timed out");
}

static void stream_alloc(uv_handle_t *h, size_t sz, uv_buf_t *buf)
{
    (void)sz;
    struct stream *s = h->data;
    if (cn_buf_reserve(&s->in, 65536)) {
        buf->base = NULL;
        buf->len = 0;
        return;
    }
    buf->base = s->in.p + s->in.len;
    buf->len = s->in.cap - s->in.len;
}

static int frame(struct gossip_net *n, const void *p, size_t len, struct cn_buf *out)
{
    struct cn_buf body = CN_BUF_INIT;
    const uint8_t *bp = NULL;
    size_t bl = 0;
    int rc = wrap(n, p, len, &body, &bp, &bl);
    if (rc) {
        cn_buf_free(&body);
        return rc;
    }
    rc = cn_enc_u32(out, (uint32_t)bl);
    rc = rc ? rc : cn_buf_append(out, bp, bl);
    cn_buf_free(&body);
    return rc;
}

/* A whole frame in s->in? Returns its body (decrypted into tmp) or NULL. */
static const uint8_t *frame_body(struct stream *s, struct cn_buf *tmp, size_t *len, int *bad)
{
    *bad = 0;
    if (s->in.len < 4)
        return NULL;
    uint32_t fl = cn_get_u32((const uint8_t *)s->in.p);
    if (fl > MAX_FRAME) {
        *bad = 1;
        return NULL;
    }
    if (s->in.len < 4 + (size_t)fl)
        return NULL;
    const uint8_t *p = (const uint8_t *)s->in.p + 4, *body = NULL;
    if (gossip_unwrap(ring(s->n), s->n->verify_in, p, fl, tmp, &body, len)) {
        s->n->st.drop_key++;
        *bad = 1;
        return NULL;
    }
    return body;
}

static void on_written(uv_write_t *w, int status)
{
    struct stream *s = w->data;
    if (status) {
        stream_end(s, CN_EIO, uv_strerror(status));
        return;
    }
    if (!s->outgoing)
        stream_end(s, 0, ""); /* our reply is out */
}

static void stream_read(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf)
{
    (void)buf;
    struct stream *s = h->data;
    struct gossip_net *n = s->n;
    if (nread < 0) {
        stream_end(s, CN_EIO,
                   nread != UV_EOF ? uv_strerror((int)nread)
                   : ring(n)->n    ? "connection closed without an answer (not a gossip port, "
                                     "or a member without our encryption key)"
                                   : "connection closed without an answer (not a gossip port?)");
        return;
    }
    s->in.len += (size_t)nread;
    struct cn_buf tmp = CN_BUF_INIT;
    size_t len = 0;
    int bad;
    const uint8_t *p = frame_body(s, &tmp, &len, &bad);
    if (bad) {
        cn_buf_free(&tmp);
        stream_end(s, CN_EPROTO,
                   ring(n)->n ? "not a gossip answer, or another encryption key"
                              : "not a gossip answer (an encrypted pool?)");
        return;
    }
    if (!p) {
        cn_buf_free(&tmp);
        return;
    }
    uv_read_stop(h);
    if (s->outgoing) {
        gossip_clock_us(n->g, uv_hrtime() / 1000);
        int rc = gossip_recv_stream(n->g, p, len, NULL, uv_now(n->loop));
        cn_buf_free(&tmp);
        stream_end(s, rc,
                   rc == CN_EPROTO ? "a member of another cluster (datacenter) answered"
                   : rc            ? "malformed gossip answer"
                                   : "");
        flush(n);
        return;
    }
    struct cn_buf reply = CN_BUF_INIT;
    gossip_clock_us(n->g, uv_hrtime() / 1000);
    int rc = gossip_recv_stream(n->g, p, len, &reply, uv_now(n->loop));
    cn_buf_free(&tmp);
    if (rc == 0)
        rc = frame(n, reply.p, reply.len, &s->out);
    cn_buf_free(&reply);
    flush(n);
    if (rc) {
        stream_end(s, rc, "refused push/pull");
        return;
    }
    uv_buf_t b = uv_buf_init(s->out.p, (unsigned)s->out.len);
    s->wr.data = s;
    if (uv_write(&s->wr, (uv_stream_t *)&s->tcp, &b, 1, on_written))
        stream_end(s, CN_EIO, "write failed");
}

static struct stream *stream_new(struct gossip_net *n, bool outgoing)
{
    struct stream *s = cn_calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->n = n;
    s->outgoing = outgoing;
    uv_tcp_init(n->loop, &s->tcp);
    uv_timer_init(n->loop, &s->timer);
    s->tcp.data = s->timer.data = s;
    s->handles = 2;
    s->next = n->streams;
    if (s->next)
        s->next->prev = s;
    n->streams = s;
    uv_timer_start(&s->timer, stream_timeout, STREAM_TIMEOUT_MS, 0);
    return s;
}

static void on_connected(uv_connect_t *c, int status)
{
    struct stream *s = c->data;
    if (s->done)
        return;
    if (status) {
        char why[160];
        snprintf(why, sizeof(why), "dial tcp: %s", uv_strerror(status));
        stream_end(s, CN_EIO, why);
        return;
    }
    uv_buf_t b = uv_buf_init(s->out.p, (unsigned)s->out.len);
    s->wr.data = s;
    if (uv_write(&s->wr, (uv_stream_t *)&s->tcp, &b, 1, on_written) ||
        uv_read_start((uv_stream_t *)&s->tcp, stream_alloc, stream_read))
        stream_end(s, CN_EIO, "write failed");
}

static void stream_send(struct gossip_net *n, const struct gossip_out *o)
{
    struct sockaddr_storage sa;
    if (uv_ip4_addr(o->host, o->port, (struct sockaddr_in *)&sa) &&
        uv_ip6_addr(o->host, o->port, (struct sockaddr_in6 *)&sa)) {
        join_finish(n, o->token, CN_EINVAL, "not an IP address");
        return;
    }
    struct stream *s = stream_new(n, true);
    if (!s) {
        join_finish(n, o->token, CN_ENOMEM, "out of memory");
        return;
    }
    s->token = o->token;
    if (frame(n, o->data, o->len, &s->out)) {
        stream_end(s, CN_ENOMEM, "out of memory");
        return;
    }
    s->conn.data = s;
    int rc = uv_tcp_connect(&s->conn, &s->tcp, (struct sockaddr *)&sa, on_connected);
    if (rc) {
        char why[160];
        snprintf(why, sizeof(why), "dial tcp: %s", uv_strerror(rc));
        stream_end(s, CN_EIO, why);
    }
}

static void on_accept(uv_stream_t *srv, int status)
{
    struct gossip_net *n = srv->data;
    if (status || n->stopping)
        return;
    struct stream *s = stream_new(n, false);
    if (!s)
        return;
    if (uv_accept(srv, (uv_stream_t *)&s->tcp) ||
        uv_read_start((uv_stream_t *)&s->tcp, stream_alloc, stream_read))
        stream_end(s, CN_EIO, "accept failed");
}

/* ---- UDP ------------------------------------------------------------------------ */

static void udp_alloc(uv_handle_t *h, size_t sz, uv_buf_t *buf)
{
    (void)sz;
    struct gossip_net *n = h->data;
    buf->base = (char *)n->rbuf;
    buf->len = sizeof(n->rbuf);
}

static void udp_recv(uv_udp_t *h, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                     unsigned flags)
{
    (void)addr, (void)flags;
    struct gossip_net *n = h->data;
    if (nread <= 0 || n->stopping)
        return;
    const uint8_t *p = NULL;
    size_t len = 0;
    struct cn_buf tmp = CN_BUF_INIT;
    if (gossip_unwrap(ring(n), n->verify_in, (const uint8_t *)buf->base, (size_t)nread, &tmp, &p,
                      &len)) {
        n->st.drop_key++;
        cn_buf_free(&tmp);
        return;
    }
    gossip_clock_us(n->g, uv_hrtime() / 1000);
    gossip_recv(n->g, p, len, uv_now(n->loop));
    cn_buf_free(&tmp);
    flush(n);
}

static void udp_send(struct gossip_net *n, const struct gossip_out *o)
{
    struct sockaddr_storage sa;
    if (uv_ip4_addr(o->host, o->port, (struct sockaddr_in *)&sa) &&
        uv_ip6_addr(o->host, o->port, (struct sockaddr_in6 *)&sa))
        return;
    struct cn_buf sealed = CN_BUF_INIT;
    const uint8_t *wire = NULL;
    size_t wl = 0;
    if (wrap(n, o->data, o->len, &sealed, &wire, &wl)) {
        cn_buf_free(&sealed);
        return;
    }
    uv_buf_t b = uv_buf_init((char *)wire, (unsigned)wl);
    /* Datagrams may be lost anyway: a full socket buffer drops one. */
    uv_udp_try_send(&n->udp, &b, 1, (struct sockaddr *)&sa);
    cn_buf_free(&sealed);
}

/* ---- the keyring file ------------------------------------------------------------ */

static void kw_run(uv_work_t *w)
{
    struct kwrite *k = w->data;
    k->rc = gossip_keyring_write_file(k->path, k->data.p, k->data.len, k->err, sizeof(k->err));
}

static void persist(struct gossip_net *n);

static void kw_done(uv_work_t *w, int status)
{
    struct kwrite *k = w->data;
    struct gossip_net *n = k->n;
    if (status)
        cn_error("gossip", "keyring file %s not written: %s", k->path, uv_strerror(status));
    else if (k->rc)
        cn_error("gossip", "keyring file %s not written: %s", k->path, k->err);
    cn_buf_free(&k->data);
    cn_free(k);
    n->kw_busy = false;
    if (n->kw_again && !n->stopping) {
        n->kw_again = false;
        persist(n);
    }
    net_free_if_done(n);
}

/* Write the keyring (as it is now) to its file, off the loop; one write at
 * a time, the newest state last. */
static void persist(struct gossip_net *n)
{
    if (!n->keyring_file)
        return;
    if (n->kw_busy) {
        n->kw_again = true;
        return;
    }
    struct kwrite *k = cn_calloc(1, sizeof(*k));
    if (!k || gossip_keyring_encode(ring(n), &k->data)) {
        if (k)
            cn_buf_free(&k->data);
        cn_free(k);
        cn_error("gossip", "keyring file %s not written: out of memory", n->keyring_file);
        return;
    }
    k->n = n;
    k->path = n->keyring_file;
    k->work.data = k;
    if (uv_queue_work(n->loop, &k->work, kw_run, kw_done)) {
        cn_buf_free(&k->data);
        cn_free(k);
        return;
    }
    n->kw_busy = true;
}

/* ---- the update cycle ------------------------------------------------------------ */

static void flush(struct gossip_net *n)
{
    struct gossip_update u;
    while (!n->stopping && gossip_ready(n->g, &u)) {
        for (size_t i = 0; i < u.nouts; i++) {
            if (u.outs[i].stream)
                stream_send(n, &u.outs[i]);
            else
                udp_send(n, &u.outs[i]);
        }
        for (size_t i = 0; i < u.nevents; i++) {
            const struct gossip_event *e = &u.events[i];
            if (e->type != GOSSIP_EV_SUSPECT)
                cn_info("gossip", "member %s %s (%s:%u)", e->m.name,
                        e->type == GOSSIP_EV_JOIN     ? "joined"
                        : e->type == GOSSIP_EV_UPDATE ? "updated"
                        : e->type == GOSSIP_EV_FAILED ? "failed"
                        : e->type == GOSSIP_EV_LEFT   ? "left"
                                                      : "reaped",
                        e->m.host, e->m.port);
            for (size_t k = 0; k < n->nsubs; k++)
                n->subs[k].cb(n->subs[k].arg, e);
        }
        for (size_t i = 0; i < u.nqdone; i++)
            for (size_t k = 0; k < MAX_QUERIES; k++) {
                struct pquery *q = &n->queries[k];
                if (q->used && q->token == u.qdone[i].token) {
                    q->used = false;
                    q->cb(q->arg, 0, &u.qdone[i]);
                }
            }
        if (u.keyring_changed) {
            const struct gossip_keyring *kr = ring(n);
            cn_info("gossip", "keyring changed: %zu key%s", kr->n, kr->n == 1 ? "" : "s");
            persist(n);
        }
        gossip_done(n->g, &u);
    }
    rearm(n);
}

/* ---- the API ---------------------------------------------------------------------- */

int gossip_net_start(uv_loop_t *loop, const struct gossip_net_options *o, struct gossip_net **out,
                     char *err, size_t errcap)
{
    struct gossip_net *n = cn_calloc(1, sizeof(*n));
    if (!n) {
        snprintf(err, errcap, "out of memory");
        return CN_ENOMEM;
    }
    n->loop = loop;
    snprintf(n->cluster, sizeof(n->cluster), "%s", o->cluster);
    n->verify_in = o->verify_incoming;
    n->verify_out = o->verify_outgoing;
    if (o->keyring_file && !(n->keyring_file = cn_strdup(o->keyring_file))) {
        cn_free(n);
        snprintf(err, errcap, "out of memory");
        return CN_ENOMEM;
    }
    struct sockaddr_storage sa;
    if (uv_ip4_addr(o->bind_addr, o->port, (struct sockaddr_in *)&sa) &&
        uv_ip6_addr(o->bind_addr, o->port, (struct sockaddr_in6 *)&sa)) {
        cn_free(n->keyring_file);
        cn_free(n);
        snprintf(err, errcap, "serf_lan bind address %s is not an IP address", o->bind_addr);
        return CN_EINVAL;
    }
    uv_tcp_init(loop, &n->tcp);
    uv_udp_init(loop, &n->udp);
    uv_timer_init(loop, &n->timer);
    uv_timer_init(loop, &n->leave_timer);
    n->tcp.data = n->udp.data = n->timer.data = n->leave_timer.data = n;
    n->open_handles = 4;
    int rc = uv_tcp_bind(&n->tcp, (struct sockaddr *)&sa, 0);
    rc = rc ? rc : uv_listen((uv_stream_t *)&n->tcp, 128, on_accept);
    int port = o->port;
    if (!rc && !port) {
        struct sockaddr_storage got;
        int len = sizeof(got);
        uv_tcp_getsockname(&n->tcp, (struct sockaddr *)&got, &len);
        port = ntohs(((struct sockaddr_in *)&got)->sin_port);
        if (got.ss_family == AF_INET6)
            port = ntohs(((struct sockaddr_in6 *)&got)->sin6_port);
        if (got.ss_family == AF_INET)
            ((struct sockaddr_in *)&sa)->sin_port = htons((uint16_t)port);
        else
            ((struct sockaddr_in6 *)&sa)->sin6_port = htons((uint16_t)port);
    }
    rc = rc ? rc : uv_udp_bind(&n->udp, (struct sockaddr *)&sa, 0);
    if (rc) {
        snprintf(err, errcap, "cannot listen on %s:%d (gossip, TCP and UDP): %s", o->bind_addr,
                 o->port, uv_strerror(rc));
        goto fail;
    }
    n->port = port;
    struct gossip_config c;
    if (o->tuning)
        c = *o->tuning;
    else
        gossip_config_default(&c);
    c.name = o->node_name;
    c.host = o->advertise;
    c.port = (uint16_t)port;
    c.cluster = o->cluster;
    c.tags = o->tags;
    c.tags_len = o->tags_len;
    c.keyring = o->keyring;
    if (!c.rng_seed)
        c.rng_seed = uv_hrtime() ^ ((uint64_t)(uintptr_t)n << 17);
    n->g = gossip_new(&c, uv_now(loop));
    if (!n->g) {
        snprintf(err, errcap, "invalid gossip configuration (node name, address or tags)");
        rc = CN_EINVAL;
        goto fail;
    }
    uv_udp_recv_start(&n->udp, udp_alloc, udp_recv);
    *out = n;
    flush(n);
    return 0;
fail:
    n->stopping = true;
    uv_close((uv_handle_t *)&n->tcp, on_net_closed);
    uv_close((uv_handle_t *)&n->udp, on_net_closed);
    uv_close((uv_handle_t *)&n->timer, on_net_closed);
    uv_close((uv_handle_t *)&n->leave_timer, on_net_closed);
    return rc < 0 && rc > -100 ? rc : CN_EIO;
}

void gossip_net_stop(struct gossip_net *n)
{
    if (!n || n->stopping)
        return;
    n->stopping = true;
    struct join *j = n->joins;
    n->joins = NULL;
    while (j) {
        struct join *nx = j->next;
        j->cb(j->arg, CN_ESHUTDOWN, "shutting down");
        j->cb = NULL;
        if (j->resolving) {
            /* its callback frees it (uv_cancel gives UV_ECANCELED) */
            uv_cancel((uv_req_t *)&j->gai);
            j->next = NULL;
        } else {
            cn_free(j);
        }
        j = nx;
    }
    for (struct stream *s = n->streams; s; s = s->next)
        stream_end(s, CN_ESHUTDOWN, "shutting down");
    for (size_t k = 0; k < MAX_QUERIES; k++)
        if (n->queries[k].used) {
            n->queries[k].used = false;
            n->queries[k].cb(n->queries[k].arg, CN_ESHUTDOWN, NULL);
        }
    uv_udp_recv_stop(&n->udp);
    uv_close((uv_handle_t *)&n->tcp, on_net_closed);
    uv_close((uv_handle_t *)&n->udp, on_net_closed);
    uv_close((uv_handle_t *)&n->timer, on_net_closed);
    uv_close((uv_handle_t *)&n->leave_timer, on_net_closed);
}

int gossip_net_port(const struct gossip_net *n)
{
    return n->port;
}

const struct gossip *gossip_net_core(const struct gossip_net *n)
{
    return n->g;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct join *j = req->data;
    struct gossip_net *n = j->n;
    j->resolving = false;
    n->resolving--;
    if (!j->cb) { /* stopped meanwhile: already answered */
        if (res)
            uv_freeaddrinfo(res);
        cn_free(j);
        net_free_if_done(n);
        return;
    }
    if (status || !res || n->stopping) {
        char why[300];
        snprintf(why, sizeof(why), "lookup %s: %s", j->host,
                 status ? uv_strerror(status) : "no address");
        if (res)
            uv_freeaddrinfo(res);
        if (n->stopping) {
            j->cb(j->arg, CN_ESHUTDOWN, "shutting down");
            cn_free(j);
            net_free_if_done(n);
            return;
        }
        join_take(n, j->token);
        j->cb(j->arg, CN_EIO, why);
        cn_free(j);
        return;
    }
    char ip[64] = "";
    if (res->ai_family == AF_INET6)
        uv_ip6_name((struct sockaddr_in6 *)res->ai_addr, ip, sizeof(ip));
    else
        uv_ip4_name((struct sockaddr_in *)res->ai_addr, ip, sizeof(ip));
    uv_freeaddrinfo(res);
    if (gossip_join(n->g, ip, (uint16_t)j->port, j->token)) {
        join_take(n, j->token);
        j->cb(j->arg, CN_ENOMEM, "out of memory");
        cn_free(j);
        return;
    }
    flush(n);
}

int gossip_net_join(struct gossip_net *n, const char *addr, int default_port, gossip_net_join_cb cb,
                    void *arg)
{
    if (n->stopping)
        return CN_ESHUTDOWN;
    struct join *j = cn_calloc(1, sizeof(*j));
    if (!j)
        return CN_ENOMEM;
    j->n = n;
    j->cb = cb;
    j->arg = arg;
    j->port = default_port;
    /* host, host:port, [v6], [v6]:port */
    const char *a = addr;
    if (*a == '[') {
        const char *e = strchr(a, ']');
        if (!e || (size_t)(e - a - 1) >= sizeof(j->host)) {
            cn_free(j);
            return CN_EINVAL;
        }
        memcpy(j->host, a + 1, (size_t)(e - a - 1));
        if (e[1] == ':')
            j->port = atoi(e + 2);
        else if (e[1]) {
            cn_free(j);
            return CN_EINVAL;
        }
    } else {
        const char *c = strchr(a, ':');
        if (c && strchr(c + 1, ':'))
            c = NULL; /* a bare IPv6 address */
        size_t hl = c ? (size_t)(c - a) : strlen(a);
        if (!hl || hl >= sizeof(j->host)) {
            cn_free(j);
            return CN_EINVAL;
        }
        memcpy(j->host, a, hl);
        if (c) {
            char *end;
            long p = strtol(c + 1, &end, 10);
            if (*end || p <= 0 || p > 65535) {
                cn_free(j);
                return CN_EINVAL;
            }
            j->port = (int)p;
        }
    }
    if (j->port <= 0 || j->port > 65535) {
        cn_free(j);
        return CN_EINVAL;
    }
    j->token = ++n->next_token;
    j->resolving = true;
    j->gai.data = j;
    j->next = n->joins;
    n->joins = j;
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    int rc = uv_getaddrinfo(n->loop, &j->gai, on_resolved, j->host, NULL, &hints);
    if (!rc)
        n->resolving++;
    if (rc) {
        n->joins = j->next;
        cn_free(j);
        return CN_EIO;
    }
    return 0;
}

static void leave_poll(uv_timer_t *t)
{
    struct gossip_net *n = t->data;
    if (!n->leave_cb)
        return;
    if (gossip_leave_sent(n->g) || uv_now(n->loop) - n->leave_started >= n->leave_max) {
        void (*cb)(void *) = n->leave_cb;
        n->leave_cb = NULL;
        uv_timer_stop(t);
        cb(n->leave_arg);
    }
}

void gossip_net_leave(struct gossip_net *n, uint64_t max_wait_ms, void (*cb)(void *), void *arg)
{
    gossip_leave(n->g);
    n->left = true;
    n->leave_started = uv_now(n->loop);
    n->leave_max = max_wait_ms;
    n->leave_cb = cb;
    n->leave_arg = arg;
    flush(n);
    /* Push the announcement out at once instead of waiting a gossip round. */
    gossip_clock_us(n->g, uv_hrtime() / 1000);
    gossip_tick(n->g, uv_now(n->loop));
    flush(n);
    uv_timer_start(&n->leave_timer, leave_poll, 20, 20);
}

bool gossip_net_leaving(const struct gossip_net *n)
{
    return n && n->left;
}

int gossip_net_force_leave(struct gossip_net *n, const char *name, bool prune)
{
    int rc = gossip_force_leave(n->g, name, prune);
    flush(n);
    return rc;
}

int gossip_net_subscribe(struct gossip_net *n, gossip_net_event_cb cb, void *arg)
{
    if (n->nsubs == MAX_SUBS)
        return CN_ENOMEM;
    n->subs[n->nsubs++] = (struct sub){cb, arg};
    return 0;
}

void gossip_net_unsubscribe(struct gossip_net *n, gossip_net_event_cb cb, void *arg)
{
    for (size_t i = 0; i < n->nsubs; i++)
        if (n->subs[i].cb == cb && n->subs[i].arg == arg) {
            memmove(&n->subs[i], &n->subs[i + 1], (n->nsubs - i - 1) * sizeof(n->subs[0]));
            n->nsubs--;
            return;
        }
}

static bool server_of(const struct gossip_net *n, const struct gossip_member *m,
                      struct gossip_server *out)
{
    char role[16], dc[GOSSIP_CLUSTER_MAX + 1], port[8];
    if (gossip_tags_get(m->tags, m->tags_len, "role", role, sizeof(role)) ||
        strcmp(role, "consul") || gossip_tags_get(m->tags, m->tags_len, "dc", dc, sizeof(dc)) ||
        strcmp(dc, n->cluster) || gossip_tags_get(m->tags, m->tags_len, "port", port, sizeof(port)))
        return false;
    if (out) {
        snprintf(out->name, sizeof(out->name), "%s", m->name);
        snprintf(out->addr, sizeof(out->addr), strchr(m->host, ':') ? "[%s]:%s" : "%s:%s", m->host,
                 port);
        if (gossip_tags_get(m->tags, m->tags_len, "id", out->id, sizeof(out->id)))
            out->id[0] = '\0';
    }
    return true;
}

struct srv_walk {
    const struct gossip_net *n;
    struct gossip_server *out;
    size_t cap, count;
};

static int srv_cb(void *arg, const struct gossip_member *m)
{
    struct srv_walk *w = arg;
    if (m->status != GOSSIP_ALIVE && m->status != GOSSIP_SUSPECT)
        return 0;
    struct gossip_server s;
    if (!server_of(w->n, m, &s))
        return 0;
    if (w->count < w->cap)
        w->out[w->count] = s;
    w->count++;
    return 0;
}

size_t gossip_net_servers(const struct gossip_net *n, struct gossip_server *out, size_t cap)
{
    struct srv_walk w = {n, out, cap, 0};
    gossip_foreach(n->g, srv_cb, &w);
    return w.count;
}

bool gossip_net_is_server_event(const struct gossip_net *n, const struct gossip_event *e)
{
    return server_of(n, &e->m, NULL);
}

void gossip_net_get_stats(const struct gossip_net *n, struct gossip_net_stats *out)
{
    *out = n->st;
    gossip_get_stats(n->g, &out->core);
}

int gossip_net_keyring_query(struct gossip_net *n, uint8_t op, const struct gossip_key *key,
                             unsigned relay, gossip_net_query_cb cb, void *arg)
{
    if (n->stopping)
        return CN_ESHUTDOWN;
    struct pquery *q = NULL;
    for (size_t k = 0; k < MAX_QUERIES && !q; k++)
        if (!n->queries[k].used)
            q = &n->queries[k];
    if (!q)
        return CN_EAGAIN;
    uint64_t token = ++n->next_qtoken;
    int rc = gossip_query(n->g, op, key ? key->k : NULL, key ? key->len : 0, relay, 0, token);
    if (rc)
        return rc;
    *q = (struct pquery){true, token, cb, arg};
    flush(n); /* a pool of one answers at once */
    return 0;
}

const struct gossip_keyring *gossip_net_keyring(const struct gossip_net *n)
{
    return gossip_get_keyring(n->g);
}
