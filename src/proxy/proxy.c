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

#include "base/buf.h"
#include "base/err.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "cairn/lb.h"
#include "connect/ca.h"
#include "proxy/pconf.h"
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
};

struct upstream {
    struct px *px;
    struct px_upstream_opt o;
    uv_tcp_t listener;
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
    char service[256]; /* our identity: the leaf's service */
    char app[300];     /* host:port of the local application ("" = no public side) */
    uint32_t local_connect_ms, handshake_ms; /* Consul's built-in proxy's two timeouts */
    struct sockaddr_storage app_sa;
    char listen[300];
    uv_tcp_t public_l;
    bool public_on;
    struct upstream ups[PX_MAX_UPSTREAMS];
    size_t nups;
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
        snprintf(why, sizeof(why), "HTTP %d: %.200s", r->status, r->body.p ? r->body.p : "");
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
            if (!w->ok || idx != w->index)
                rc = w->apply(w->px, w, o);
            json_object_put(o);
            if (!rc) {
                if (w->failures)
                    cn_info("proxy", "%s: the agent answers again", w->what);
                w->failures = 0;
                w->ok = true;
                w->index = idx;
                watch_issue(w);
                return;
            }
            snprintf(why, sizeof(why), "the answer was not usable");
        }
    }
    if (w->failures++ % 30 == 0)
        cn_warn("proxy", "%s: %s (keeping the last known state; retrying)", w->what, why);
    w->index = 0;
    uint64_t delay = 250u << (w->failures < 4 ? w->failures : 3);
    uv_timer_start(&w->retry, watch_later, delay, 0);
}

static void watch_issue(struct watch *w)
{
    if (w->px->stopping)
        return;
    char target[1200];
    const char *sep = strchr(w->path, '?') ? "&" : "?";
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

static void watch_stop(struct watch *w)
{
    if (!w->px)
        return;
    px_http_cancel(w->req);
    w->req = NULL;
    uv_close((uv_handle_t *)&w->retry, NULL);
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
        cn_warn("proxy", "dial the local application %s: %s", c->px->app, uv_strerror(status));
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
        deadline_on(c, c->px->local_connect_ms, "dialing the local application");
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
                     px->service, c->peer);
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

static void on_public(uv_stream_t *l, int status)
{
    struct px *px = l->data;
    if (status)
        return;
    struct conn *c = conn_accept(px, l, NULL);
    if (!c)
        return;
    if (!(c->tls = tls_conn_new(c->ctx, true, true, NULL))) {
        conn_close(c);
        return;
    }
    sync_reads(c);
    deadline_on(c, px->handshake_ms, "the mutual-TLS handshake"); /* handshake_timeout_ms */
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

static void on_local(uv_stream_t *l, int status)
{
    struct upstream *u = l->data;
    struct px *px = u->px;
    if (status)
        return;
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
    /* the upstream's connect_timeout_ms: the dial and the handshake */
    deadline_on(c, u->o.connect_ms ? u->o.connect_ms : PX_UPSTREAM_CONNECT_MS,
                "dialing the upstream and its handshake");
}

static int listen_on(struct px *px, uv_tcp_t *t, const char *addr, uv_connection_cb cb, void *data)
{
    struct sockaddr_storage sa;
    if (parse_hostport(addr, &sa)) {
        fprintf(stderr, "Invalid address %s (want IP:port)\n", addr);
        return 1;
    }
    uv_tcp_init(px->loop, t);
    t->data = data;
    int rc = uv_tcp_bind(t, (const struct sockaddr *)&sa, 0);
    if (!rc)
        rc = uv_listen((uv_stream_t *)t, 1024, cb);
    if (rc) {
        fprintf(stderr, "Error listening on %s: %s\n", addr, uv_strerror(rc));
        return 1;
    }
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
        snprintf(q->err, sizeof(q->err), "HTTP %d: %.200s", r->status, r->body.p ? r->body.p : "");
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

static int from_sidecar(struct px *px, struct px_opts *o, const char *id, char *err, size_t cap)
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
    json_object_object_foreach(all, k, v)
    {
        (void)k;
        const char *kind = NULL, *dest = NULL;
        struct json_object *p = cn_json_get(v, "Proxy");
        if (cn_json_get_str(v, "Kind", &kind) == 1 && !strcmp(kind, "connect-proxy") && p &&
            cn_json_get_str(p, "DestinationServiceID", &dest) == 1 && !strcmp(dest, id)) {
            found = v;
            break;
        }
    }
    if (!found) {
        snprintf(err, cap, "No sidecar proxy registered for %s", id);
        json_object_put(all);
        return CN_ENOTFOUND;
    }
    struct json_object *p = cn_json_get(found, "Proxy");
    const char *dest = "";
    cn_json_get_str(p, "DestinationServiceName", &dest);
    snprintf(px->service, sizeof(px->service), "%s", dest);
    /* the public listener: the registration's port and local service, with
     * Proxy.Config over them (the agent resolves it from the config entries) */
    struct px_public_cfg pc;
    if (px_public_config(found, &pc, err, cap)) {
        json_object_put(all);
        return CN_EINVAL;
    }
    snprintf(px->app, sizeof(px->app), "%s", pc.app);
    px->local_connect_ms = pc.local_connect_ms;
    px->handshake_ms = pc.handshake_ms;
    snprintf(px->listen, sizeof(px->listen), strchr(pc.bind_addr, ':') ? "[%s]:%d" : "%s:%d",
             pc.bind_addr, pc.bind_port);
    struct json_object *ups = cn_json_get(p, "Upstreams");
    for (size_t i = 0; ups && i < json_object_array_length(ups) && o->nups < PX_MAX_UPSTREAMS;
         i++) {
        struct json_object *u = json_object_array_get_idx(ups, i);
        const char *name = "", *ba = "127.0.0.1";
        int64_t bp = 0;
        cn_json_get_str(u, "DestinationName", &name);
        cn_json_get_str(u, "LocalBindAddress", &ba);
        cn_json_get_i64(u, "LocalBindPort", &bp);
        uint32_t cms;
        if (px_upstream_config(u, &cms, err, cap)) {
            json_object_put(all);
            return CN_EINVAL;
        }
        struct px_upstream_opt *uo = &o->ups[o->nups++];
        uo->connect_ms = cms;
        snprintf(uo->name, sizeof(uo->name), "%s", name);
        snprintf(uo->bind_addr, sizeof(uo->bind_addr), "%s", *ba ? ba : "127.0.0.1");
        uo->bind_port = (int)bp;
    }
    json_object_put(all);
    return 0;
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

int px_run(const struct px_opts *given)
{
    struct px_opts o = *given;
    struct px *px = cn_calloc(1, sizeof(*px));
    uv_loop_t loop;
    if (!px || uv_loop_init(&loop)) {
        fprintf(stderr, "out of memory\n");
        cn_free(px);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    px->loop = &loop;
    px->local_connect_ms = PX_LOCAL_CONNECT_MS; /* -service mode: Consul's defaults */
    px->handshake_ms = PX_HANDSHAKE_MS;
    int ret = 1;
    char err[400];
    if (agent_addr(o.http_addr, &px->agent)) {
        fprintf(stderr, "Invalid -http-addr %s (want IP:port)\n", o.http_addr);
        goto out;
    }
    snprintf(px->token, sizeof(px->token), "%s", o.token ? o.token : "");
    if (o.sidecar_for && *o.sidecar_for) {
        int rc;
        /* the sidecar may be registered a moment after we start */
        for (int i = 0; (rc = from_sidecar(px, &o, o.sidecar_for, err, sizeof(err))); i++) {
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
        if (!o.service || !*o.service) {
            fprintf(stderr, "-service or -sidecar-for is required\n");
            goto out;
        }
        snprintf(px->service, sizeof(px->service), "%s", o.service);
        snprintf(px->app, sizeof(px->app), "%s", o.service_addr ? o.service_addr : "");
        snprintf(px->listen, sizeof(px->listen), "%s", o.listen ? o.listen : "");
        if (*px->listen && !*px->app) {
            fprintf(stderr, "-listen needs -service-addr (where the application listens)\n");
            goto out;
        }
    }
    if (*px->app && parse_hostport(px->app, &px->app_sa)) {
        fprintf(stderr, "Invalid local application address %s\n", px->app);
        goto out;
    }
    char path[600];
    snprintf(path, sizeof(path), "/v1/agent/connect/ca/leaf/%s", px->service);
    watch_init(px, &px->leaf_w, "leaf certificate", path, apply_leaf, NULL);
    watch_init(px, &px->roots_w, "CA roots", "/v1/agent/connect/ca/roots", apply_roots, NULL);
    watch_init(px, &px->ixn_w, "intentions", "/v1/connect/intentions", apply_ixn, NULL);
    if (*px->app && *px->listen) {
        if (listen_on(px, &px->public_l, px->listen, on_public, px))
            goto out;
        px->public_on = true;
        cn_info("proxy", "%s: public listener on %s, to the application at %s", px->service,
                px->listen, px->app);
    }
    for (size_t i = 0; i < o.nups; i++) {
        struct upstream *u = &px->ups[px->nups++];
        u->px = px;
        u->o = o.ups[i];
        char addr[400];
        snprintf(addr, sizeof(addr), strchr(u->o.bind_addr, ':') ? "[%s]:%d" : "%s:%d",
                 u->o.bind_addr, u->o.bind_port);
        if (listen_on(px, &u->listener, addr, on_local, u))
            goto out;
        snprintf(path, sizeof(path), "/v1/health/connect/%s?passing=1", u->o.name);
        watch_init(px, &u->w, "upstream instances", path, apply_instances, u);
        watch_issue(&u->w);
        cn_info("proxy", "upstream %s on %s", u->o.name, addr);
    }
    watch_issue(&px->leaf_w);
    watch_issue(&px->roots_w);
    watch_issue(&px->ixn_w);
    uv_signal_init(px->loop, &px->sigint);
    uv_signal_init(px->loop, &px->sigterm);
    px->sigint.data = px->sigterm.data = px;
    uv_signal_start(&px->sigint, on_signal, SIGINT);
    uv_signal_start(&px->sigterm, on_signal, SIGTERM);
    fprintf(stderr, "==> cairn connect proxy running for service %s\n", px->service);
    uv_run(px->loop, UV_RUN_DEFAULT);
    ret = 0;
out:
    px->stopping = true;
    for (struct conn *c = px->conns_head; c; c = c->next)
        conn_close(c);
    watch_stop(&px->leaf_w);
    watch_stop(&px->roots_w);
    watch_stop(&px->ixn_w);
    for (size_t i = 0; i < px->nups; i++) {
        watch_stop(&px->ups[i].w);
        if (px->ups[i].lb)
            cairn_lb_release(px->ups[i].lb);
    }
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
    return ret;
}
