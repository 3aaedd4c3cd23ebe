/* proxy/proxy.c: the built-in sidecar proxy (proxy.h). Everything runs on one
 * libuv loop; the agent is followed with blocking queries (struct watch),
 * whose last good answers stay in force while the agent is unreachable. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "base/assert.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "cairn/lb.h"
#include "connect/ca.h"
#include "proxy/pconf.h"
#include "proxy/pdiff.h"
#include "proxy/proxy_int.h"
#include "tls/tls.h"

#define WAIT "5m"
#define WAIT_MS (330u * 1000u) /* the HTTP timeout of a blocking query (5 m + jitter) */
#define CALL_MS 5000u          /* of a plain request (authorize) */
#define HIGH_WATER (1u << 20)  /* queued bytes to one side that pause reading the other */
#define LOW_WATER (256u << 10) /* ... until they are fewer than this */
#define READ_BUF (256u << 10)  /* one read (half the syscalls of 128 KiB when busy) */
#define AUTHZ_MAX 4096         /* cached authorize answers */

struct px;

/* ---- blocking queries ------------------------------------------------------------------- */

struct watch;
typedef int (*watch_apply)(struct px *px, struct watch *w, struct json_object *o);

struct watch {
    struct px *px;
    const char *what;
    char path[1024];
    uint64_t index;
    struct px_http *req;
    uv_timer_t retry;
    unsigned failures;
    bool ok; /* an answer was applied at least once */
    watch_apply apply;
    void *ctx;
    bool by_hash;  /* hash-based blocking (?hash=, X-Consul-ContentHash), else ?index= */
    char hash[40]; /* the last answer's content hash ("": ask without waiting) */
};

struct upstream;

/* A listening socket. Its owner changes when a new configuration puts
 * another upstream (or the public side) on the same address; freed once
 * closed. */
struct plisten {
    uv_tcp_t t;
    struct px *px;
    struct upstream *u; /* whose connections it accepts; NULL: the public side */
    char addr[300];
};

/* One upstream of the configuration in force, or one a new configuration
 * removed while connections through it are open: each connection holds a
 * reference, so its name and settings stay valid until it ends. */
struct upstream {
    struct px *px;
    unsigned refs; /* the configuration's, one per connection, the retry timer's */
    struct px_upstream_opt o;
    struct plisten *l; /* NULL once removed */
    struct watch w;
    struct cairn_lb *lb; /* healthy instances ("addr:port"), NULL: none known */
};

struct authz {
    char uri[512];
    bool allow;
    uint64_t gen;
};

struct px {
    uv_loop_t *loop;
    struct sockaddr_storage agent;
    char token[512];
    /* the configuration in force: cfg.service is our identity (the leaf's
     * service, fixed at start), cfg.app the application ("": no public side) */
    struct px_cfg cfg;
    struct sockaddr_storage app_sa;
    struct plisten *public_l; /* NULL: none */
    struct upstream *ups[PX_MAX_UPSTREAMS];
    size_t nups;
    char proxy_id[256]; /* the sidecar registration followed ("": -service) */
    char reg_what[300]; /* "registration <proxy_id>", for the log */
    char reg_err[400];  /* why the last new configuration was not applied ("": it was) */
    struct watch reg_w; /* that registration (hash-based blocking) */
    struct watch leaf_w, roots_w, ixn_w;
    char *leaf_cert, *leaf_key; /* PEM */
    char *roots;                /* PEM, every root (and intermediate) trusted */
    char trust_domain[256];
    SSL_CTX *ctx; /* current; NULL until a leaf and roots are known */
    uint64_t ixn_gen;
    struct authz *authz;
    size_t nauthz;
    uv_signal_t sigint, sigterm;
    struct conn *conns_head; /* every open connection */
    size_t conns;
    bool stopping;
    bool params_logged;  /* the TLS version and suite, with the first connection */
    char rbuf[READ_BUF]; /* every read of every connection (alloc_cb) */
    /* the plaintext one read decrypted, for every connection: written (or
     * handed to the write request) before the read returns */
    struct cn_buf batch;
};

static void watch_issue(struct watch *w);

static void watch_later(uv_timer_t *t)
{
    watch_issue(t->data);
}

static void watch_done(void *arg, int rc, struct px_hresp *r, const char *err)
{
    struct watch *w = arg;
    w->req = NULL;
    char why[300] = "";
    if (!rc && r->status != 200) {
        /* (the body is not NUL-terminated) */
        snprintf(why, sizeof(why), "HTTP %d: %.*s", r->status,
                 (int)(r->body.len < 200 ? r->body.len : 200), r->body.p ? r->body.p : "");
        rc = CN_EIO;
    } else if (rc) {
        snprintf(why, sizeof(why), "%s", err ? err : cn_strerror(rc));
    }
    if (!rc) {
        char perr[200];
        struct json_object *o =
            cn_json_parse(r->body.p ? r->body.p : "", r->body.len, perr, sizeof(perr));
        if (!o) {
            snprintf(why, sizeof(why), "bad JSON: %s", perr);
            rc = CN_EPROTO;
        } else {
            uint64_t idx = r->index;
            /* an index that went backwards (a restored or new agent) starts over */
            bool changed = w->by_hash ? strcmp(r->hash, w->hash) != 0 : idx != w->index;
            if (w->by_hash && !r->hash[0]) /* no hash: waiting on it would not wait */
                rc = CN_EPROTO;
            else if (!w->ok || changed)
                rc = w->apply(w->px, w, o);
            json_object_put(o);
            if (!rc) {
                if (w->failures)
                    cn_info("proxy", "%s: the agent answers again", w->what);
                w->failures = 0;
                w->ok = true;
                w->index = idx;
                snprintf(w->hash, sizeof(w->hash), "%s", r->hash);
                watch_issue(w);
                return;
            }
            snprintf(why, sizeof(why), "%s",
                     w->by_hash && !r->hash[0] ? "the answer has no X-Consul-ContentHash"
                     : rc == CN_EIO            ? "it could not be applied"
                                               : "the answer was not usable");
        }
    }
    if (w->failures++ % 30 == 0)
        cn_warn("proxy", "%s: %s (keeping the last known state; retrying)", w->what, why);
    w->index = 0;
    w->hash[0] = '\0';
    uint64_t delay = 250u << (w->failures < 4 ? w->failures : 3);
    uv_timer_start(&w->retry, watch_later, delay, 0);
}

static void watch_issue(struct watch *w)
{
    if (w->px->stopping)
        return;
    char target[1200];
    const char *sep = strchr(w->path, '?') ? "&" : "?";
    if (w->by_hash)
        snprintf(target, sizeof(target), "%s%s%s%s%swait=" WAIT, w->path, sep,
                 *w->hash ? "hash=" : "", w->hash, *w->hash ? "&" : "");
    else
        snprintf(target, sizeof(target), "%s%sindex=%llu&wait=" WAIT, w->path, sep,
                 (unsigned long long)w->index);
    w->req = px_http_do(w->px->loop, (const struct sockaddr *)&w->px->agent, "GET", target,
                        w->px->token, NULL, 0, WAIT_MS, watch_done, w);
    if (!w->req) {
        w->failures++;
        uv_timer_start(&w->retry, watch_later, 1000, 0);
    }
}

static void watch_init(struct px *px, struct watch *w, const char *what, const char *path,
                       watch_apply apply, void *ctx)
{
    w->px = px;
    w->what = what;
    snprintf(w->path, sizeof(w->path), "%s", path);
    w->apply = apply;
    w->ctx = ctx;
    uv_timer_init(px->loop, &w->retry);
    w->retry.data = w;
}

/* Stop following; closed (NULL ok) runs once the retry timer is closed. */
static void watch_stop(struct watch *w, uv_close_cb closed)
{
    if (!w->px)
        return;
    px_http_cancel(w->req);
    w->req = NULL;
    uv_close((uv_handle_t *)&w->retry, closed);
}

/* ---- certificates ------------------------------------------------------------------------- */

static void ssl_errors(const char *what)
{
    unsigned long e = ERR_get_error();
    cn_warn("proxy", "%s: %s", what, e ? ERR_reason_error_string(e) : "failed");
    ERR_clear_error();
}

/* A new context from the current leaf and roots: new connections use it,
 * open ones keep the one they started with (SSL objects hold a reference). */
static void rebuild_ctx(struct px *px)
{
    if (!px->leaf_cert || !px->leaf_key || !px->roots)
        return;
    SSL_CTX *ctx = SSL_CTX_new(TLS_method());
    BIO *b = NULL;
    X509 *x = NULL;
    EVP_PKEY *k = NULL;
    if (!ctx)
        goto fail;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    b = BIO_new_mem_buf(px->leaf_cert, -1);
    if (!b || !(x = PEM_read_bio_X509(b, NULL, NULL, NULL)) || SSL_CTX_use_certificate(ctx, x) != 1)
        goto fail;
    X509_free(x);
    x = NULL;
    while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL))) /* the leaf's chain, if any */
        if (SSL_CTX_add_extra_chain_cert(ctx, x) != 1)
            goto fail;
        else
            x = NULL;
    ERR_clear_error();
    BIO_free(b);
    b = BIO_new_mem_buf(px->leaf_key, -1);
    if (!b || !(k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL)) ||
        SSL_CTX_use_PrivateKey(ctx, k) != 1 || SSL_CTX_check_private_key(ctx) != 1)
        goto fail;
    EVP_PKEY_free(k);
    k = NULL;
    BIO_free(b);
    b = BIO_new_mem_buf(px->roots, -1);
    X509_STORE *st = SSL_CTX_get_cert_store(ctx);
    int n = 0;
    while (b && (x = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
        if (X509_STORE_add_cert(st, x) == 1)
            n++;
        X509_free(x);
        x = NULL;
    }
    ERR_clear_error();
    if (!n)
        goto fail;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    BIO_free(b);
    if (px->ctx)
        SSL_CTX_free(px->ctx);
    px->ctx = ctx;
    cn_info("proxy", "certificates loaded (%d trusted roots)", n);
    return;
fail:
    ssl_errors("building the TLS context");
    BIO_free(b);
    X509_free(x);
    EVP_PKEY_free(k);
    SSL_CTX_free(ctx);
}

static int set_str(char **dst, const char *v)
{
    char *n = cn_strdup(v);
    if (!n)
        return CN_ENOMEM;
    cn_free(*dst);
    *dst = n;
    return 0;
}

static int apply_leaf(struct px *px, struct watch *w, struct json_object *o)
{
    (void)w;
    const char *cert = NULL, *key = NULL;
    if (cn_json_get_str(o, "CertPEM", &cert) != 1 || cn_json_get_str(o, "PrivateKeyPEM", &key) != 1)
        return CN_EPROTO;
    if (px->leaf_cert && !strcmp(px->leaf_cert, cert) && !strcmp(px->leaf_key, key))
        return 0;
    if (set_str(&px->leaf_cert, cert) || set_str(&px->leaf_key, key))
        return CN_ENOMEM;
    rebuild_ctx(px);
    return 0;
}

static int apply_roots(struct px *px, struct watch *w, struct json_object *o)
{
    (void)w;
    struct json_object *roots = cn_json_get(o, "Roots");
    const char *td = NULL;
    if (!roots || !json_object_is_type(roots, json_type_array))
        return CN_EPROTO;
    if (cn_json_get_str(o, "TrustDomain", &td) == 1)
        snprintf(px->trust_domain, sizeof(px->trust_domain), "%s", td);
    struct cn_buf b = CN_BUF_INIT;
    int rc = 0;
    for (size_t i = 0; i < json_object_array_length(roots) && !rc; i++) {
        struct json_object *r = json_object_array_get_idx(roots, i);
        const char *pem = NULL;
        if (cn_json_get_str(r, "RootCert", &pem) == 1)
            rc = cn_buf_append(&b, pem, strlen(pem)) || cn_buf_append(&b, "\n", 1);
        struct json_object *im = cn_json_get(r, "IntermediateCerts");
        for (size_t k = 0; !rc && im && json_object_is_type(im, json_type_array) &&
                           k < json_object_array_length(im);
             k++) {
            const char *s = json_object_get_string(json_object_array_get_idx(im, k));
            if (s)
                rc = cn_buf_append(&b, s, strlen(s)) || cn_buf_append(&b, "\n", 1);
        }
    }
    if (!rc)
        rc = cn_buf_append(&b, "", 1);
    if (rc) {
        cn_buf_free(&b);
        return CN_ENOMEM;
    }
    if (!px->roots || strcmp(px->roots, b.p) != 0) {
        cn_free(px->roots);
        px->roots = b.p;
        rebuild_ctx(px);
    } else {
        cn_buf_free(&b);
    }
    return 0;
}

/* Any change of the intentions makes every cached answer stale: the next
 * connection of each caller asks the agent again. */
static int apply_ixn(struct px *px, struct watch *w, struct json_object *o)
{
    (void)w;
    (void)o;
    px->ixn_gen++;
    return 0;
}

/* ---- upstream instances ------------------------------------------------------------------- */

static int apply_instances(struct px *px, struct watch *w, struct json_object *o)
{
    (void)px;
    struct upstream *u = w->ctx;
    if (!json_object_is_type(o, json_type_array))
        return CN_EPROTO;
    size_t n = json_object_array_length(o);
    struct cairn_lb_backend *b = n ? cn_calloc(n, sizeof(*b)) : NULL;
    char(*ids)[320] = n ? cn_calloc(n, sizeof(*ids)) : NULL;
    if (n && (!b || !ids)) {
        cn_free(b);
        cn_free(ids);
        return CN_ENOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        struct json_object *e = json_object_array_get_idx(o, i);
        struct json_object *svc = cn_json_get(e, "Service"), *node = cn_json_get(e, "Node");
        const char *addr = NULL;
        int64_t port = 0;
        if (!svc || cn_json_get_i64(svc, "Port", &port) != 1 || port < 1 || port > 65535)
            continue;
        if (cn_json_get_str(svc, "Address", &addr) != 1 || !*addr)
            if (!node || cn_json_get_str(node, "Address", &addr) != 1 || !*addr)
                continue;
        snprintf(ids[k], sizeof(ids[k]), strchr(addr, ':') ? "[%.256s]:%d" : "%.256s:%d", addr,
                 (int)port);
        bool dup = false;
        for (size_t j = 0; j < k && !dup; j++)
            dup = !strcmp(ids[j], ids[k]);
        if (dup)
            continue;
        b[k].id = ids[k];
        b[k].weight = 1;
        k++;
    }
    struct cairn_lb *lb = NULL;
    if (k) {
        struct cairn_lb_opts lo = {.policy = CAIRN_LB_P2C};
        int err = 0;
        if (!(lb = cairn_lb_new(b, k, &lo, &err))) {
            cn_free(b);
            cn_free(ids);
            return CN_ENOMEM;
        }
    }
    cn_free(b);
    cn_free(ids);
    if (u->lb)
        cairn_lb_release(u->lb);
    u->lb = lb;
    cn_info("proxy", "upstream %s: %zu healthy instance%s", u->o.name, k, k == 1 ? "" : "s");
    return 0;
}

static void up_unref(struct upstream *u)
{
    CN_ASSERT(u->refs > 0);
    if (--u->refs)
        return;
    if (u->lb)
        cairn_lb_release(u->lb);
    cn_free(u);
}

static void up_timer_closed(uv_handle_t *h)
{
    up_unref(((struct watch *)h->data)->ctx);
}

static struct upstream *up_new(struct px *px, const struct px_upstream_opt *o)
{
    struct upstream *u = cn_calloc(1, sizeof(*u));
    if (!u)
        return NULL;
    u->px = px;
    u->refs = 1;
    u->o = *o;
    return u;
}

/* Follow the upstream's healthy instances. */
static void up_start(struct upstream *u)
{
    char path[600];
    snprintf(path, sizeof(path), "/v1/health/connect/%s?passing=1", u->o.name);
    watch_init(u->px, &u->w, "upstream instances", path, apply_instances, u);
    u->refs++; /* the retry timer's, given back once it is closed */
    watch_issue(&u->w);
}

/* The configuration no longer has it: no more instances followed; the
 * connections through it keep their references. */
static void up_drop(struct upstream *u)
{
    watch_stop(&u->w, up_timer_closed);
    u->l = NULL;
    up_unref(u);
}

/* ---- connections ------------------------------------------------------------------------- */

/* One proxied connection. "down" is the accepted socket, "up" the dialed
 * one. Public side: TLS on down (server), the application on up. Upstream
 * side: the local caller on down, TLS on up (client).
 *
 * Each direction ends on its own (TCP half-close): the plain side's EOF
 * becomes a close_notify on the TLS side (after the bytes before it), a
 * close_notify read from the TLS side becomes shutdown(SHUT_WR) of the
 * plain side; the other direction keeps flowing. The connection closes
 * once both directions ended and every write is done, or at once on an
 * error. A TCP EOF on the TLS side without a close_notify (a truncated
 * stream) ends both directions: what is queued is written, then both
 * sockets close. */
struct conn {
    struct conn *prev, *next;
    struct px *px;
    struct upstream *u; /* NULL: public side */
    uv_tcp_t down, up;
    uv_timer_t deadline;      /* the handshake, the dial: what must finish in time */
    const char *deadline_for; /* ... what it is, for the log */
    uv_connect_t creq;
    uv_shutdown_t sreq;
    struct tls_conn *tls;
    SSL_CTX *ctx;       /* our reference to the context this connection started with */
    struct cn_buf hold; /* plaintext waiting for the other side */
    bool up_open, up_connected, closing;
    bool secure;               /* flow() ran: both sides are ready */
    bool draining;             /* truncated: close once what is queued is written */
    bool eof_plain, notified;  /* the plain side's EOF was read; our close_notify sent */
    bool eof_tls, shut;        /* the peer's close_notify was read; the plain side shut down */
    bool rd_tls, rd_plain;     /* reading each side now */
    bool full_tls, full_plain; /* more than HIGH_WATER queued towards that side */
    size_t pend_down, pend_up; /* bytes queued to each socket, not yet taken by the kernel */
    unsigned nreq;             /* write and shutdown requests in flight */
    int handles;
    size_t lb_idx;
    struct cairn_lb *lb;
    struct px_http *authz_req;
    char peer[512];
};

struct wr {
    uv_write_t req;
    struct conn *c;
    bool to_up;
    size_t n;
    char *mem; /* a batch's buffer handed over (freed with the request), or NULL: data */
    char data[];
};

static void conn_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    if (--c->handles)
        return;
    tls_conn_free(c->tls);
    if (c->ctx)
        SSL_CTX_free(c->ctx);
    if (c->lb) {
        cairn_lb_done(c->lb, c->lb_idx);
        cairn_lb_release(c->lb);
    }
    cn_buf_free(&c->hold);
    if (c->u)
        up_unref(c->u);
    c->px->conns--;
    if (c->prev)
        c->prev->next = c->next;
    else
        c->px->conns_head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    cn_free(c);
}

static void conn_close(struct conn *c)
{
    if (c->closing)
        return;
    c->closing = true;
    px_http_cancel(c->authz_req);
    c->authz_req = NULL;
    uv_close((uv_handle_t *)&c->deadline, conn_closed);
    uv_close((uv_handle_t *)&c->down, conn_closed);
    if (c->up_open)
        uv_close((uv_handle_t *)&c->up, conn_closed);
}

static uv_stream_t *tls_side(struct conn *c)
{
    return c->u ? (uv_stream_t *)&c->up : (uv_stream_t *)&c->down;
}

static uv_stream_t *plain_side(struct conn *c)
{
    return c->u ? (uv_stream_t *)&c->down : (uv_stream_t *)&c->up;
}

/* Every read lands in the one buffer of the loop: on_read consumes it
 * before returning (decrypted, encrypted or copied into the hold), so no
 * read allocates. */
static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    (void)hint;
    struct conn *c = h->data;
    *b = uv_buf_init(c->px->rbuf, sizeof(c->px->rbuf));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b);
static void on_shutdown(uv_shutdown_t *r, int status);

static void set_reading(struct conn *c, uv_stream_t *s, bool *on, bool want)
{
    if (c->closing || want == *on)
        return;
    if (want && uv_read_start(s, alloc_cb, on_read)) {
        conn_close(c);
        return;
    }
    if (!want)
        uv_read_stop(s);
    *on = want;
}

/* Which sides are read now: a side is read while its direction is open,
 * while less than HIGH_WATER (down to LOW_WATER once past it) is queued
 * towards the other socket, and while the hold is not full. Backpressure
 * is the kernel's: bytes not read stay in the socket buffer and TCP's
 * window slows the sender. */
static void sync_reads(struct conn *c)
{
    if (c->closing)
        return;
    size_t to_tls = c->u ? c->pend_up : c->pend_down;
    size_t to_plain = c->u ? c->pend_down : c->pend_up;
    if (to_tls > HIGH_WATER)
        c->full_tls = true;
    else if (to_tls < LOW_WATER)
        c->full_tls = false;
    if (to_plain > HIGH_WATER)
        c->full_plain = true;
    else if (to_plain < LOW_WATER)
        c->full_plain = false;
    bool held = c->hold.len > HIGH_WATER;
    /* the TLS side is read from the start (the handshake); the plain side
     * of an upstream from the start too (into the hold), the application
     * once it is dialed and the caller authorized */
    bool tls_ready = c->u ? c->up_connected && c->tls : true;
    bool plain_ready = c->u ? true : c->secure;
    bool want_tls = !c->draining && tls_ready && !c->eof_tls && !c->full_plain && !(held && !c->u);
    bool want_plain =
        !c->draining && plain_ready && !c->eof_plain && !c->full_tls && !(held && c->u);
    set_reading(c, tls_side(c), &c->rd_tls, want_tls);
    set_reading(c, plain_side(c), &c->rd_plain, want_plain);
}

/* Truncated: read no more, write what is queued, then close. */
static void conn_finish(struct conn *c)
{
    if (c->closing)
        return;
    c->draining = true;
    sync_reads(c);
    if (!c->nreq)
        conn_close(c);
}

static void ends(struct conn *c);

static void written(struct conn *c, bool to_up, size_t n, int status)
{
    c->nreq--;
    if (to_up)
        c->pend_up -= n;
    else
        c->pend_down -= n;
    if (status) {
        conn_close(c);
        return;
    }
    if (c->draining) {
        if (!c->nreq)
            conn_close(c);
        return;
    }
    sync_reads(c);
    ends(c);
}

static void on_plain_written(uv_write_t *req, int status)
{
    struct wr *w = (struct wr *)(void *)req;
    written(w->c, w->to_up, w->n, status);
    cn_free(w->mem);
    cn_free(w);
}

static void tls_written(void *arg, int status)
{
    struct wr *w = arg;
    written(w->c, w->to_up, w->n, status);
    cn_free(w);
}

/* Plaintext to the plain side, all of src (left empty): what the kernel
 * takes now is written from src, the rest queued; a large rest goes with
 * src's buffer (no copy; src starts a new one), a small one is copied. */
static int send_plain(struct conn *c, struct cn_buf *src)
{
    uv_stream_t *s = plain_side(c);
    size_t n = src->len;
    uv_buf_t b = uv_buf_init(src->p, (unsigned)n);
    size_t took = 0;
    if (!uv_stream_get_write_queue_size(s)) {
        int k = uv_try_write(s, &b, 1);
        if (k > 0)
            took = (size_t)k;
        else if (k != UV_EAGAIN)
            return CN_EIO;
    }
    if (took == n) {
        cn_buf_reset(src);
        return 0;
    }
    bool handoff = n - took >= 4096;
    struct wr *w = cn_malloc(sizeof(*w) + (handoff ? 0 : n - took));
    if (!w)
        return CN_ENOMEM;
    w->c = c;
    w->to_up = !c->u;
    w->n = n - took;
    if (handoff) {
        w->mem = src->p;
        b = uv_buf_init(src->p + took, (unsigned)w->n);
        cn_buf_init(src);
    } else {
        w->mem = NULL;
        memcpy(w->data, src->p + took, w->n);
        b = uv_buf_init(w->data, (unsigned)w->n);
        cn_buf_reset(src);
    }
    if (uv_write(&w->req, s, &b, 1, on_plain_written)) {
        cn_free(w->mem);
        cn_free(w);
        return CN_EIO;
    }
    c->nreq++;
    if (w->to_up)
        c->pend_up += w->n;
    else
        c->pend_down += w->n;
    sync_reads(c);
    return 0;
}

/* Plaintext to the TLS side, encrypted (tls_conn_send: written from the
 * records' buffer, the rest queued). */
static int send_tls(struct conn *c, const char *p, size_t n)
{
    struct wr *w = cn_malloc(sizeof(*w));
    if (!w)
        return CN_ENOMEM;
    w->c = c;
    w->to_up = c->u != NULL;
    size_t queued = 0;
    if (tls_conn_send(c->tls, tls_side(c), p, n, tls_written, w, &queued)) {
        cn_free(w);
        return CN_EIO;
    }
    if (!queued) {
        cn_free(w);
        return 0;
    }
    w->n = queued;
    c->nreq++;
    if (w->to_up)
        c->pend_up += queued;
    else
        c->pend_down += queued;
    sync_reads(c);
    return 0;
}

/* Carry each direction's end to the other socket once both sides are
 * ready; close when both ended and every request is done. */
static void ends(struct conn *c)
{
    if (c->closing || c->draining || !c->secure)
        return;
    if (c->eof_plain && !c->notified) {
        c->notified = true;
        struct wr *w = cn_malloc(sizeof(*w));
        if (!w) {
            conn_close(c);
            return;
        }
        w->c = c;
        w->to_up = c->u != NULL;
        w->n = 0;
        /* the alert, then an empty write whose completion says it is out */
        tls_conn_close_notify(c->tls, tls_side(c));
        if (tls_conn_write(c->tls, tls_side(c), NULL, 0, tls_written, w)) {
            cn_free(w);
            conn_close(c);
            return;
        }
        c->nreq++;
    }
    if (c->eof_tls && !c->shut) {
        c->shut = true;
        c->sreq.data = c;
        if (uv_shutdown(&c->sreq, plain_side(c), on_shutdown)) {
            conn_close(c);
            return;
        }
        c->nreq++;
    }
    if (c->notified && c->shut && !c->nreq)
        conn_close(c);
}

static void on_shutdown(uv_shutdown_t *r, int status)
{
    struct conn *c = r->data;
    c->nreq--;
    if (status) {
        conn_close(c);
        return;
    }
    ends(c);
}

static void secured(struct conn *c);

/* Ciphertext from the TLS side. */
static void tls_input(struct conn *c, const char *p, size_t n)
{
    char err[300];
    bool was = tls_conn_ready(c->tls);
    /* decrypted in place: to the plain side once it is ready, else (public
     * side, until the application is dialed after authorizing) held */
    struct cn_buf *batch = &c->px->batch;
    struct cn_buf *to = !c->u && !c->secure ? &c->hold : batch;
    int rc = tls_conn_feed(c->tls, p, n, tls_side(c), to, err, sizeof(err));
    /* everything one read decrypted goes out in one write; the batch is
     * left empty for the next read, whichever connection it is */
    if (batch->len) {
        int wrc = rc == CN_ENOMEM || c->closing ? 0 : send_plain(c, batch);
        cn_buf_reset(batch);
        if (wrc) {
            conn_close(c);
            return;
        }
    }
    if (rc == CN_ENOMEM) {
        conn_close(c);
        return;
    }
    if (rc == CN_ESHUTDOWN) { /* close_notify: what came before it is on its way */
        c->eof_tls = true;
        rc = 0;
    }
    if (rc) {
        if (rc == CN_EPROTO)
            cn_info("proxy", "%s connection refused: %s", c->u ? "upstream" : "inbound", err);
        conn_close(c);
        return;
    }
    if (!was && tls_conn_ready(c->tls))
        secured(c); /* (the handshake's last flight may carry data and a close_notify) */
    sync_reads(c);
    ends(c);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct conn *c = s->data;
    if (c->closing)
        return;
    bool tls = s == tls_side(c);
    if (n > 0) {
        if (tls) {
            tls_input(c, b->base, (size_t)n);
        } else if (!c->secure) {
            /* the caller spoke before the other side is ready */
            if (cn_buf_append(&c->hold, b->base, (size_t)n))
                conn_close(c);
            else
                sync_reads(c);
        } else if (send_tls(c, b->base, (size_t)n)) { /* the plain side's bytes go out encrypted */
            conn_close(c);
        }
    } else if (n == UV_EOF && !tls) {
        c->eof_plain = true; /* our close_notify follows what was read */
        sync_reads(c);
        ends(c);
    } else if (n == UV_EOF && c->eof_tls) {
        sync_reads(c); /* the TCP end after the close_notify */
    } else if (n == UV_EOF) {
        conn_finish(c); /* no close_notify: truncated */
    } else if (n < 0) {
        conn_close(c);
    }
}

/* Held bytes go out; both directions flow. */
static void flow(struct conn *c)
{
    c->secure = true;
    if (c->hold.len) {
        int rc = c->u ? send_tls(c, c->hold.p, c->hold.len) : send_plain(c, &c->hold);
        cn_buf_free(&c->hold);
        if (rc) {
            conn_close(c);
            return;
        }
    }
    sync_reads(c);
    ends(c); /* an end that came while the other side was not ready */
}

/* ---- the public side: authorization ------------------------------------------------------ */

static struct authz *authz_find(struct px *px, const char *uri)
{
    for (size_t i = 0; i < px->nauthz; i++)
        if (!strcmp(px->authz[i].uri, uri))
            return &px->authz[i];
    return NULL;
}

static void authz_put(struct px *px, const char *uri, bool allow)
{
    struct authz *a = authz_find(px, uri);
    if (!a) {
        if (px->nauthz == AUTHZ_MAX)
            px->nauthz = 0; /* a crude bound: start over */
        struct authz *n = cn_realloc(px->authz, (px->nauthz + 1) * sizeof(*n));
        if (!n)
            return;
        px->authz = n;
        a = &px->authz[px->nauthz++];
        snprintf(a->uri, sizeof(a->uri), "%s", uri);
    }
    a->allow = allow;
    a->gen = px->ixn_gen;
}

static void on_deadline(uv_timer_t *t)
{
    struct conn *c = t->data;
    cn_info("proxy", "%s connection%s%s: %s did not finish within its timeout; closing",
            c->u ? "upstream" : "inbound", *c->peer ? " from " : "", c->peer, c->deadline_for);
    conn_close(c);
}

/* Close the connection unless the step `what` is over (deadline_off) within ms. */
static void deadline_on(struct conn *c, uint32_t ms, const char *what)
{
    c->deadline_for = what;
    uv_timer_start(&c->deadline, on_deadline, ms, 0);
}

static void deadline_off(struct conn *c)
{
    uv_timer_stop(&c->deadline);
}

static void on_app_connect(uv_connect_t *r, int status)
{
    struct conn *c = r->data;
    if (c->closing)
        return;
    deadline_off(c);
    if (status) {
        cn_warn("proxy", "dial the local application %s: %s", c->px->cfg.app, uv_strerror(status));
        conn_close(c);
        return;
    }
    c->up_connected = true;
    uv_tcp_nodelay(&c->up, 1);
    flow(c);
}

static void decided(struct conn *c, bool allow, const char *why)
{
    if (!allow) {
        cn_info("proxy", "inbound connection from %s denied: %s", c->peer, why);
        conn_close(c);
        return;
    }
    uv_tcp_init(c->px->loop, &c->up);
    c->up.data = c;
    c->up_open = true;
    c->handles++;
    c->creq.data = c;
    if (uv_tcp_connect(&c->creq, &c->up, (const struct sockaddr *)&c->px->app_sa, on_app_connect))
        conn_close(c);
    else /* local_connect_timeout_ms */
        deadline_on(c, c->px->cfg.local_connect_ms, "dialing the local application");
}

static void authz_done(void *arg, int rc, struct px_hresp *r, const char *err)
{
    struct conn *c = arg;
    c->authz_req = NULL;
    struct px *px = c->px;
    struct json_object *o = NULL;
    int ok = 0;
    if (!rc && r->status == 200 &&
        (o = cn_json_parse(r->body.p ? r->body.p : "", r->body.len, NULL, 0)) &&
        cn_json_get_bool(o, "Authorized", &ok) == 1) {
        const char *reason = "";
        cn_json_get_str(o, "Reason", &reason);
        authz_put(px, c->peer, ok != 0);
        char why[300];
        snprintf(why, sizeof(why), "%s", reason);
        json_object_put(o);
        decided(c, ok != 0, why);
        return;
    }
    json_object_put(o);
    /* The agent is unreachable or refused: the last answer for this caller
     * stands; none means no. */
    const struct authz *a = authz_find(px, c->peer);
    char why[300];
    snprintf(why, sizeof(why), "the agent could not authorize (%s)%s",
             rc ? (err ? err : cn_strerror(rc)) : "bad answer",
             a ? "; the last known answer stands" : "");
    if (a && a->allow)
        decided(c, true, why);
    else
        decided(c, false, why);
}

static void authorize(struct conn *c)
{
    struct px *px = c->px;
    const struct authz *a = authz_find(px, c->peer);
    if (a && a->gen == px->ixn_gen) {
        decided(c, a->allow, "cached intention decision");
        return;
    }
    char body[1200];
    int n = snprintf(body, sizeof(body), "{\"Target\":\"%s\",\"ClientCertURI\":\"%s\"}",
                     px->cfg.service, c->peer);
    c->authz_req = px_http_do(px->loop, (const struct sockaddr *)&px->agent, "POST",
                              "/v1/agent/connect/authorize", px->token, body, (size_t)n, CALL_MS,
                              authz_done, c);
    if (!c->authz_req)
        authz_done(c, CN_ENOMEM, NULL, "out of memory");
}

/* The handshake finished (the chain verified against the roots): check the
 * peer's identity. */
static void secured(struct conn *c)
{
    deadline_off(c);
    char err[300];
    struct connect_spiffe id;
    if (tls_conn_peer_uri(c->tls, c->peer, sizeof(c->peer)) ||
        connect_spiffe_parse(c->peer, &id, err, sizeof(err)) || id.kind != 1) {
        cn_info("proxy", "%s connection refused: the peer certificate has no service SPIFFE ID",
                c->u ? "upstream" : "inbound");
        conn_close(c);
        return;
    }
    const char *ver, *cipher;
    tls_conn_params(c->tls, &ver, &cipher);
    if (!c->px->params_logged) /* once: every connection negotiates the same */
        cn_info("proxy", "%s connection with %s: %s %s", c->u ? "upstream" : "inbound", c->peer,
                ver, cipher);
    c->px->params_logged = true;
    if (c->u) {
        /* the server must be the service we meant to reach */
        if (strcmp(id.service, c->u->o.name) != 0) {
            cn_warn("proxy", "upstream %s: the server presented %s; closing", c->u->o.name,
                    c->peer);
            conn_close(c);
            return;
        }
        flow(c);
        return;
    }
    authorize(c);
}

/* ---- accepting ----------------------------------------------------------------------------- */

static struct conn *conn_accept(struct px *px, uv_stream_t *l, struct upstream *u)
{
    struct conn *c = cn_calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->px = px;
    c->u = u;
    if (u)
        u->refs++; /* given back in conn_closed */
    uv_tcp_init(px->loop, &c->down);
    c->down.data = c;
    uv_timer_init(px->loop, &c->deadline);
    c->deadline.data = c;
    c->handles = 2;
    px->conns++;
    c->next = px->conns_head;
    if (c->next)
        c->next->prev = c;
    px->conns_head = c;
    if (uv_accept(l, (uv_stream_t *)&c->down)) {
        conn_close(c);
        return NULL;
    }
    uv_tcp_nodelay(&c->down, 1);
    if (!px->ctx) {
        cn_warn("proxy", "no certificates yet: connection refused");
        conn_close(c);
        return NULL;
    }
    SSL_CTX_up_ref(px->ctx);
    c->ctx = px->ctx;
    return c;
}

static void on_public(struct px *px, uv_stream_t *l)
{
    struct conn *c = conn_accept(px, l, NULL);
    if (!c)
        return;
    if (!(c->tls = tls_conn_new(c->ctx, true, true, NULL))) {
        conn_close(c);
        return;
    }
    sync_reads(c);
    /* handshake_timeout_ms */
    deadline_on(c, px->cfg.handshake_ms, "the mutual-TLS handshake");
}

static void on_upstream_connect(uv_connect_t *r, int status)
{
    struct conn *c = r->data;
    if (c->closing)
        return;
    if (status) {
        cn_warn("proxy", "upstream %s: dial %s: %s", c->u->o.name,
                cairn_lb_backend_id(c->lb, c->lb_idx), uv_strerror(status));
        conn_close(c);
        return;
    }
    c->up_connected = true;
    uv_tcp_nodelay(&c->up, 1);
    if (!(c->tls = tls_conn_new(c->ctx, false, true, NULL))) {
        conn_close(c);
        return;
    }
    sync_reads(c);
    tls_input(c, NULL, 0); /* ClientHello */
}

static int parse_hostport(const char *s, struct sockaddr_storage *sa)
{
    char host[256];
    const char *colon = strrchr(s, ':');
    if (!colon || (size_t)(colon - s) >= sizeof(host))
        return CN_EINVAL;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535 || end == colon + 1)
        return CN_EINVAL;
    const char *h = s;
    size_t hl = (size_t)(colon - s);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    memcpy(host, h, hl);
    host[hl] = '\0';
    if (!strcmp(host, "localhost") || !*host)
        snprintf(host, sizeof(host), "127.0.0.1");
    if (!uv_ip4_addr(host, (int)port, (struct sockaddr_in *)sa))
        return 0;
    if (!uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)sa))
        return 0;
    return CN_EINVAL;
}

static void on_local(struct px *px, uv_stream_t *l, struct upstream *u)
{
    struct conn *c = conn_accept(px, l, u);
    if (!c)
        return;
    size_t idx = u->lb ? cairn_lb_pick(u->lb, NULL, 0) : CAIRN_LB_NONE;
    struct sockaddr_storage sa;
    if (idx == CAIRN_LB_NONE) {
        cn_warn("proxy", "upstream %s: no healthy instance; connection refused", u->o.name);
        conn_close(c);
        return;
    }
    c->lb = cairn_lb_ref(u->lb);
    c->lb_idx = idx;
    if (parse_hostport(cairn_lb_backend_id(c->lb, idx), &sa)) {
        conn_close(c);
        return;
    }
    uv_tcp_init(px->loop, &c->up);
    c->up.data = c;
    c->up_open = true;
    c->handles++;
    c->creq.data = c;
    if (uv_tcp_connect(&c->creq, &c->up, (const struct sockaddr *)&sa, on_upstream_connect)) {
        conn_close(c);
        return;
    }
    sync_reads(c); /* the caller's first bytes go to the hold */
    /* the upstream's connect_timeout_ms (as configured now): the dial and the handshake */
    deadline_on(c, u->o.connect_ms ? u->o.connect_ms : PX_UPSTREAM_CONNECT_MS,
                "dialing the upstream and its handshake");
}

/* Every listener's connections: the public side's or an upstream's,
 * whichever owns the socket now. */
static void on_accept(uv_stream_t *l, int status)
{
    struct plisten *pl = l->data;
    if (status)
        return;
    if (pl->u)
        on_local(pl->px, l, pl->u);
    else
        on_public(pl->px, l);
}

static void plisten_freed(uv_handle_t *h)
{
    cn_free(h->data);
}

/* Bind and listen on addr (host:port). NULL with the reason in err (and
 * libuv's code in *uverr when not NULL). */
static struct plisten *plisten_open(struct px *px, const char *addr, struct upstream *u, int *uverr,
                                    char *err, size_t cap)
{
    struct sockaddr_storage sa;
    if (parse_hostport(addr, &sa)) {
        snprintf(err, cap, "invalid listener address %s (want IP:port)", addr);
        return NULL;
    }
    struct plisten *pl = cn_calloc(1, sizeof(*pl));
    if (!pl) {
        snprintf(err, cap, "out of memory");
        return NULL;
    }
    pl->px = px;
    pl->u = u;
    snprintf(pl->addr, sizeof(pl->addr), "%s", addr);
    uv_tcp_init(px->loop, &pl->t);
    pl->t.data = pl;
    int rc = uv_tcp_bind(&pl->t, (const struct sockaddr *)&sa, 0);
    if (!rc)
        rc = uv_listen((uv_stream_t *)&pl->t, 1024, on_accept);
    if (rc) {
        if (uverr)
            *uverr = rc;
        snprintf(err, cap, "listening on %s: %s", addr, uv_strerror(rc));
        uv_close((uv_handle_t *)&pl->t, plisten_freed);
        return NULL;
    }
    return pl;
}

/* The socket closes now (its address is free at once); NULL ok. */
static void plisten_close(struct plisten *pl)
{
    if (!pl)
        return;
    pl->u = NULL;
    uv_close((uv_handle_t *)&pl->t, plisten_freed);
}

/* ---- the configuration in force, and a new one --------------------------------------------- */

/* The old socket a new listener takes over (pdiff.h), or fresh. */
static struct plisten *taken(struct px *px, int lis, struct plisten *const *oldl,
                             struct plisten *fresh)
{
    if (lis >= 0)
        return oldl[lis];
    if (lis == PX_LIS_PUBLIC)
        return px->public_l;
    return fresh;
}

static int port_of_addr(const char *addr)
{
    const char *colon = strrchr(addr, ':');
    return colon ? atoi(colon + 1) : -1;
}

/* Sockets the new configuration needs and cannot take over: fresh[i] for
 * upstream i, fresh[nups] for the public side. A bind may fail because an
 * old socket that goes holds the port (a port moving from one upstream to
 * another, 0.0.0.0 instead of 127.0.0.1): then the old sockets that go on
 * such a port close first (their owners' pointers become NULL) and those
 * binds are tried again. On failure nothing has changed: the fresh sockets
 * are closed and an early-closed one is open again. */
static int bind_fresh(struct px *px, const struct px_cfg *n, const struct px_diff *d,
                      struct plisten **fresh, char *err, size_t cap)
{
    bool early = false;
    char addr[300];
    int busy[PX_MAX_UPSTREAMS + 1]; /* ports whose bind found them in use */
    size_t nbusy = 0;
    for (int round = 0; round < 2; round++) {
        bool missing = false;
        nbusy = 0;
        for (size_t i = 0; i <= n->nups; i++) {
            int lis = i < n->nups ? d->up_lis[i] : d->pub_lis;
            if (lis != PX_LIS_NEW || fresh[i])
                continue;
            if (i < n->nups)
                px_upstream_addr(&n->ups[i], addr, sizeof(addr));
            else
                snprintf(addr, sizeof(addr), "%s", n->listen);
            int uverr = 0;
            if (!(fresh[i] = plisten_open(px, addr, NULL, &uverr, err, cap))) {
                missing = true;
                if (uverr == UV_EADDRINUSE)
                    busy[nbusy++] = port_of_addr(addr);
            }
        }
        if (!missing)
            return 0;
        /* the old sockets that go anyway and hold a port found in use */
        bool closed = false;
        for (size_t j = 0; round == 0 && j <= px->nups; j++) {
            bool pub = j == px->nups;
            struct plisten **pl = pub ? &px->public_l : &px->ups[j]->l;
            if (!*pl || (pub ? d->pub_kept : d->lis_kept[j]))
                continue;
            for (size_t k = 0; k < nbusy; k++)
                if (busy[k] == port_of_addr((*pl)->addr)) {
                    plisten_close(*pl);
                    *pl = NULL;
                    closed = early = true;
                    break;
                }
        }
        if (!closed)
            break;
    }
    for (size_t i = 0; i <= n->nups; i++) {
        plisten_close(fresh[i]);
        fresh[i] = NULL;
    }
    /* open again what closed early (its address was free a moment ago) */
    char e2[300];
    for (size_t j = 0; early && j < px->nups; j++) {
        struct upstream *u = px->ups[j];
        if (u->l)
            continue;
        px_upstream_addr(&u->o, addr, sizeof(addr));
        if (!(u->l = plisten_open(px, addr, u, NULL, e2, sizeof(e2))))
            cn_warn("proxy", "upstream %s: %s (its listener is closed)", u->o.name, e2);
    }
    if (early && *px->cfg.listen && !px->public_l &&
        !(px->public_l = plisten_open(px, px->cfg.listen, NULL, NULL, e2, sizeof(e2))))
        cn_warn("proxy", "public listener: %s (it is closed)", e2);
    return CN_EIO;
}

/* Run by n from now on (*changed: anything differed). The difference with
 * the configuration in force is applied (pdiff.h): upstreams added (a
 * listener, a health watch) or removed (their listener and watch closed;
 * connections through them finish on their own), sockets whose address
 * changed bound anew, the application and the timeouts taken by new
 * connections; open connections are never touched. When the whole of n
 * cannot be applied (its identity changed, an address that does not parse,
 * a bind that fails) nothing changes: an error with the reason in err. */
static int apply_config(struct px *px, const struct px_cfg *n, bool *changed, char *err, size_t cap)
{
    struct px_cfg *cur = &px->cfg;
    *changed = false;
    if (*cur->service && strcmp(cur->service, n->service) != 0) {
        snprintf(err, cap,
                 "Proxy.DestinationServiceName changed from %s to %s: the proxy's identity is "
                 "set when it starts (restart it)",
                 cur->service, n->service);
        return CN_EINVAL;
    }
    struct sockaddr_storage app_sa;
    memset(&app_sa, 0, sizeof(app_sa));
    if (*n->app && parse_hostport(n->app, &app_sa)) {
        snprintf(err, cap, "invalid application address %s (want IP:port)", n->app);
        return CN_EINVAL;
    }
    struct px_diff d;
    px_cfg_diff(cur, n, &d);
    if (!d.any)
        return 0;
    struct upstream *nu[PX_MAX_UPSTREAMS] = {0};
    struct plisten *fresh[PX_MAX_UPSTREAMS + 1] = {0};
    for (size_t i = 0; i < n->nups; i++)
        if (d.up_from[i] < 0 && !(nu[i] = up_new(px, &n->ups[i]))) {
            for (size_t k = 0; k < i; k++)
                if (nu[k])
                    up_unref(nu[k]);
            snprintf(err, cap, "out of memory");
            return CN_ENOMEM;
        }
    if (bind_fresh(px, n, &d, fresh, err, cap)) {
        for (size_t i = 0; i < n->nups; i++)
            if (nu[i])
                up_unref(nu[i]);
        return CN_EIO;
    }
    /* from here on nothing fails */
    *changed = true;
    struct plisten *oldl[PX_MAX_UPSTREAMS];
    for (size_t j = 0; j < px->nups; j++)
        oldl[j] = px->ups[j]->l;
    for (size_t i = 0; i < n->nups; i++) {
        const struct px_upstream_opt *no = &n->ups[i];
        struct upstream *u = d.up_from[i] >= 0 ? px->ups[d.up_from[i]] : nu[i];
        struct plisten *pl = taken(px, d.up_lis[i], oldl, fresh[i]);
        CN_ASSERT(pl != NULL); /* only sockets nobody takes over closed early */
        char addr[300];
        px_upstream_addr(no, addr, sizeof(addr));
        char was[300];
        if (d.up_from[i] >= 0)
            px_upstream_addr(&cur->ups[d.up_from[i]], was, sizeof(was));
        if (d.up_from[i] < 0)
            cn_info("proxy", "upstream %s on %s", no->name, addr);
        else if (strcmp(was, addr) != 0)
            cn_info("proxy", "upstream %s now on %s (was %s)", no->name, addr, was);
        if (d.up_from[i] >= 0 && u->o.connect_ms != no->connect_ms)
            cn_info("proxy", "upstream %s: connect_timeout_ms %u for new connections", no->name,
                    no->connect_ms);
        nu[i] = u;
        u->o = *no;
        /* the socket's owner is u from now on; a socket u leaves closes below
         * unless another upstream (or the public side) took it over */
        pl->u = u;
        u->l = pl;
    }
    for (size_t j = 0; j < px->nups; j++) {
        if (!d.lis_kept[j]) /* (NULL when bind_fresh closed it already) */
            plisten_close(oldl[j]);
        if (!d.up_kept[j]) {
            char addr[300];
            px_upstream_addr(&cur->ups[j], addr, sizeof(addr));
            cn_info("proxy",
                    "upstream %s on %s removed: its listener is closed, the connections "
                    "through it finish on their own",
                    cur->ups[j].name, addr);
            up_drop(px->ups[j]);
        }
    }
    struct plisten *pub =
        d.pub_lis == PX_LIS_NONE ? NULL : taken(px, d.pub_lis, oldl, fresh[n->nups]);
    if (!d.pub_kept)
        plisten_close(px->public_l);
    if (pub)
        pub->u = NULL;
    px->public_l = pub;
    for (size_t i = 0; i < n->nups; i++)
        if (d.up_from[i] < 0)
            up_start(nu[i]);
    memcpy(px->ups, nu, sizeof(nu));
    px->nups = n->nups;
    if (pub && (d.app || strcmp(cur->listen, n->listen) != 0))
        cn_info("proxy", "%s: public listener on %s, to the application at %s", n->service,
                n->listen, n->app);
    else if (!pub && *cur->listen)
        cn_info("proxy", "%s: no public listener now (the registration names no application)",
                n->service);
    if (d.timeouts && *cur->service)
        cn_info("proxy", "local_connect_timeout_ms %u, handshake_timeout_ms %u for new connections",
                n->local_connect_ms, n->handshake_ms);
    px->app_sa = app_sa;
    *cur = *n;
    return 0;
}

/* ---- configuration from the sidecar registration ----------------------------------------- */

struct cfg_req {
    bool done;
    int rc;
    struct cn_buf body;
    char err[300];
};

static void cfg_cb(void *arg, int rc, struct px_hresp *r, const char *err)
{
    struct cfg_req *q = arg;
    q->done = true;
    q->rc = rc ? rc : r->status == 200 ? 0 : CN_EIO;
    if (rc)
        snprintf(q->err, sizeof(q->err), "%s", err);
    else if (r->status != 200)
        snprintf(q->err, sizeof(q->err), "HTTP %d: %.*s", r->status,
                 (int)(r->body.len < 200 ? r->body.len : 200), r->body.p ? r->body.p : "");
    else
        q->rc = cn_buf_append(&q->body, r->body.p ? r->body.p : "", r->body.len) ||
                cn_buf_append(&q->body, "", 1);
}

/* GET path once, running the loop until the answer (the proxy has nothing
 * else to do before it knows its configuration). */
static int get_once(struct px *px, const char *path, struct cn_buf *out, char *err, size_t cap)
{
    struct cfg_req q = {0};
    if (!px_http_do(px->loop, (const struct sockaddr *)&px->agent, "GET", path, px->token, NULL, 0,
                    CALL_MS, cfg_cb, &q)) {
        snprintf(err, cap, "could not start a request");
        return CN_ENOMEM;
    }
    while (!q.done)
        uv_run(px->loop, UV_RUN_ONCE);
    if (q.rc) {
        snprintf(err, cap, "%s", q.err);
        cn_buf_free(&q.body);
        return q.rc;
    }
    *out = q.body;
    return 0;
}

static void woke(uv_timer_t *t)
{
    *(bool *)t->data = true;
}

/* Wait ms with the loop running (nothing else is open yet). */
static void loop_sleep(struct px *px, uint64_t ms)
{
    uv_timer_t t;
    bool fired = false;
    uv_timer_init(px->loop, &t);
    t.data = &fired;
    uv_timer_start(&t, woke, ms, 0);
    while (!fired)
        uv_run(px->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(px->loop, UV_RUN_NOWAIT);
}

/* The sidecar registration of service ID id: its ID (px->proxy_id) and the
 * configuration it gives. CN_ENOTFOUND while there is none. */
static int from_sidecar(struct px *px, const char *id, struct px_cfg *cfg, char *err, size_t cap)
{
    struct cn_buf b = CN_BUF_INIT;
    int rc = get_once(px, "/v1/agent/services", &b, err, cap);
    if (rc)
        return rc;
    struct json_object *all = cn_json_parse(b.p, b.len - 1, err, cap);
    cn_buf_free(&b);
    if (!all)
        return CN_EPROTO;
    struct json_object *found = NULL;
    const char *pid = NULL;
    json_object_object_foreach(all, k, v)
    {
        const char *kind = NULL, *dest = NULL;
        struct json_object *p = cn_json_get(v, "Proxy");
        if (cn_json_get_str(v, "Kind", &kind) == 1 && !strcmp(kind, "connect-proxy") && p &&
            cn_json_get_str(p, "DestinationServiceID", &dest) == 1 && !strcmp(dest, id)) {
            found = v;
            pid = k;
            break;
        }
    }
    if (!found) {
        snprintf(err, cap, "No sidecar proxy registered for %s", id);
        json_object_put(all);
        return CN_ENOTFOUND;
    }
    snprintf(px->proxy_id, sizeof(px->proxy_id), "%s", pid);
    rc = px_sidecar_config(found, cfg, err, cap);
    json_object_put(all);
    return rc;
}

/* The sidecar registration changed (or the config entries resolved into
 * it): the new configuration is applied, or, when it cannot be, logged and
 * the one in force stays. A bind that failed and an allocation failure are
 * the watch's failures (asked again after its backoff). */
static int apply_reg(struct px *px, struct watch *w, struct json_object *o)
{
    (void)w;
    struct px_cfg *n = cn_malloc(sizeof(*n));
    if (!n)
        return CN_ENOMEM;
    char err[400];
    bool changed = false;
    int rc = px_sidecar_config(o, n, err, sizeof(err));
    if (!rc)
        rc = apply_config(px, n, &changed, err, sizeof(err));
    cn_free(n);
    if (rc == CN_ENOMEM)
        return rc;
    if (rc) {
        if (strcmp(px->reg_err, err) != 0) /* once per reason, not at every retry */
            cn_warn("proxy",
                    "%s: the new configuration is not applied (%s); the previous one stays "
                    "in force",
                    px->reg_what, err);
        snprintf(px->reg_err, sizeof(px->reg_err), "%s", err);
        /* a bind that failed may succeed later (the port is freed): the watch
         * asks again after its backoff; an invalid configuration waits for
         * the registration to change */
        return rc == CN_EIO ? CN_EIO : 0;
    }
    px->reg_err[0] = '\0';
    if (changed)
        cn_info("proxy", "%s: the new configuration is in force", px->reg_what);
    return 0;
}

/* s with every byte other than letters, digits and -._~ percent-encoded. */
static void path_escape(char *dst, size_t cap, const char *s)
{
    size_t k = 0;
    for (; *s && k + 4 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '.' || ch == '_' || ch == '~')
            dst[k++] = (char)ch;
        else
            k += (size_t)snprintf(dst + k, cap - k, "%%%02X", ch);
    }
    dst[k] = '\0';
}

/* ---- run --------------------------------------------------------------------------------- */

static void on_signal(uv_signal_t *s, int sig)
{
    (void)sig;
    struct px *px = s->data;
    px->stopping = true;
    uv_stop(px->loop);
}

static int agent_addr(const char *s, struct sockaddr_storage *sa)
{
    if (!s || !*s)
        s = getenv("CONSUL_HTTP_ADDR");
    if (!s || !*s)
        s = "127.0.0.1:8500";
    if (!strncmp(s, "http://", 7))
        s += 7;
    return parse_hostport(s, sa);
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

int px_run(const struct px_opts *o)
{
    struct px *px = cn_calloc(1, sizeof(*px));
    struct px_cfg *cfg = cn_calloc(1, sizeof(*cfg));
    uv_loop_t loop;
    if (!px || !cfg || uv_loop_init(&loop)) {
        fprintf(stderr, "out of memory\n");
        cn_free(px);
        cn_free(cfg);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    px->loop = &loop;
    int ret = 1;
    char err[400];
    if (agent_addr(o->http_addr, &px->agent)) {
        fprintf(stderr, "Invalid -http-addr %s (want IP:port)\n", o->http_addr);
        goto out;
    }
    snprintf(px->token, sizeof(px->token), "%s", o->token ? o->token : "");
    if (o->sidecar_for && *o->sidecar_for) {
        if (o->nups) {
            fprintf(stderr, "-upstream goes with -service: with -sidecar-for the registration's "
                            "Proxy.Upstreams are the upstreams\n");
            goto out;
        }
        int rc;
        /* the sidecar may be registered a moment after we start */
        for (int i = 0; (rc = from_sidecar(px, o->sidecar_for, cfg, err, sizeof(err))); i++) {
            if (rc == CN_EINVAL) { /* a configuration it cannot honour: no use waiting */
                fprintf(stderr, "Error: %s\n", err);
                goto out;
            }
            if (i == 0)
                fprintf(stderr, "Waiting for the sidecar registration: %s\n", err);
            if (i >= 60) {
                fprintf(stderr, "Error: %s\n", err);
                goto out;
            }
            loop_sleep(px, 500);
        }
    } else {
        if (!o->service || !*o->service) {
            fprintf(stderr, "-service or -sidecar-for is required\n");
            goto out;
        }
        snprintf(cfg->service, sizeof(cfg->service), "%s", o->service);
        snprintf(cfg->app, sizeof(cfg->app), "%s", o->service_addr ? o->service_addr : "");
        snprintf(cfg->listen, sizeof(cfg->listen), "%s", o->listen ? o->listen : "");
        if (*cfg->listen && !*cfg->app) {
            fprintf(stderr, "-listen needs -service-addr (where the application listens)\n");
            goto out;
        }
        if (!*cfg->listen)
            cfg->app[0] = '\0';                      /* no public side */
        cfg->local_connect_ms = PX_LOCAL_CONNECT_MS; /* Consul's defaults */
        cfg->handshake_ms = PX_HANDSHAKE_MS;
        for (size_t i = 0; i < o->nups && i < PX_MAX_UPSTREAMS; i++) {
            cfg->ups[i] = o->ups[i];
            if (!cfg->ups[i].connect_ms)
                cfg->ups[i].connect_ms = PX_UPSTREAM_CONNECT_MS;
        }
        cfg->nups = o->nups < PX_MAX_UPSTREAMS ? o->nups : PX_MAX_UPSTREAMS;
    }
    bool changed;
    if (apply_config(px, cfg, &changed, err, sizeof(err))) {
        fprintf(stderr, "Error: %s\n", err);
        goto out;
    }
    char path[1200];
    snprintf(path, sizeof(path), "/v1/agent/connect/ca/leaf/%s", px->cfg.service);
    watch_init(px, &px->leaf_w, "leaf certificate", path, apply_leaf, NULL);
    watch_init(px, &px->roots_w, "CA roots", "/v1/agent/connect/ca/roots", apply_roots, NULL);
    watch_init(px, &px->ixn_w, "intentions", "/v1/connect/intentions", apply_ixn, NULL);
    watch_issue(&px->leaf_w);
    watch_issue(&px->roots_w);
    watch_issue(&px->ixn_w);
    if (*px->proxy_id) {
        /* the registration is followed: a change applies while we run */
        char id[800];
        path_escape(id, sizeof(id), px->proxy_id);
        snprintf(path, sizeof(path), "/v1/agent/service/%s", id);
        snprintf(px->reg_what, sizeof(px->reg_what), "registration %s", px->proxy_id);
        watch_init(px, &px->reg_w, px->reg_what, path, apply_reg, NULL);
        px->reg_w.by_hash = true;
        watch_issue(&px->reg_w);
    }
    uv_signal_init(px->loop, &px->sigint);
    uv_signal_init(px->loop, &px->sigterm);
    px->sigint.data = px->sigterm.data = px;
    uv_signal_start(&px->sigint, on_signal, SIGINT);
    uv_signal_start(&px->sigterm, on_signal, SIGTERM);
    fprintf(stderr, "==> cairn connect proxy running for service %s\n", px->cfg.service);
    uv_run(px->loop, UV_RUN_DEFAULT);
    ret = 0;
out:
    px->stopping = true;
    for (struct conn *c = px->conns_head; c; c = c->next)
        conn_close(c);
    watch_stop(&px->leaf_w, NULL);
    watch_stop(&px->roots_w, NULL);
    watch_stop(&px->ixn_w, NULL);
    watch_stop(&px->reg_w, NULL);
    for (size_t i = 0; i < px->nups; i++) {
        plisten_close(px->ups[i]->l);
        up_drop(px->ups[i]);
    }
    plisten_close(px->public_l);
    uv_walk(px->loop, close_walk, NULL);
    uv_run(px->loop, UV_RUN_DEFAULT);
    uv_loop_close(px->loop);
    if (px->ctx)
        SSL_CTX_free(px->ctx);
    cn_free(px->leaf_cert);
    cn_free(px->leaf_key);
    cn_free(px->roots);
    cn_free(px->authz);
    cn_buf_free(&px->batch);
    cn_free(px);
    cn_free(cfg);
    return ret;
}
