/* health/h2ping.c: H2PING checks (Consul's agent/checks CheckH2PING): dial
 * the target over TCP (a non-blocking uv_tcp connect), with H2PingUseTLS
 * (Consul's default) run TLS over it through OpenSSL memory BIOs (ALPN h2,
 * SNI and the verified name from TLSServerName or the target's host, no
 * verification with TLSSkipVerify), start an HTTP/2 client session
 * (libnghttp2: the connection preface, SETTINGS, then a PING) and pass when
 * the PING's ACK comes back. Consul's outputs: "HTTP2 ping was successful",
 * "Failed to dial to T: why", "HTTP2 ping failed: why". The check's timer
 * is the deadline of the whole probe. Nothing blocks the loop. */
#include <stdio.h>
#include <string.h>

#include <nghttp2/nghttp2.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "base/err.h"
#include "base/mem.h"
#include "health/health_int.h"

#define RBUF 16384

struct h2_probe {
    uv_tcp_t tcp;
    uv_connect_t req;
    uv_getaddrinfo_t gai;
    struct health_check *c; /* NULL once abandoned */
    bool tcp_init;
    bool dialed; /* TCP connected and, with TLS, the handshake done */
    bool acked;  /* the PING's ACK arrived */
    SSL *ssl;
    BIO *rbio, *wbio; /* network -> SSL, SSL -> network (owned by ssl) */
    nghttp2_session *h2;
    char host[256];
    char rbuf[RBUF];
};

struct h2_write {
    uv_write_t req; /* first: the request is the allocation */
    size_t len;
    char data[];
};

static SSL_CTX *ctx_get(struct health *h)
{
    if (!h->ssl_ctx) {
        SSL_CTX *x = SSL_CTX_new(TLS_client_method());
        if (!x)
            return NULL;
        if (h->ca_file ? SSL_CTX_load_verify_locations(x, h->ca_file, NULL) != 1
                       : SSL_CTX_set_default_verify_paths(x) != 1)
            ERR_clear_error(); /* verification then fails, and says so */
        SSL_CTX_set_min_proto_version(x, TLS1_2_VERSION);
        static const unsigned char alpn[] = {2, 'h', '2'};
        SSL_CTX_set_alpn_protos(x, alpn, sizeof(alpn));
        h->ssl_ctx = x;
    }
    return h->ssl_ctx;
}

void health__h2ping_fini(struct health *h)
{
    if (h->ssl_ctx)
        SSL_CTX_free(h->ssl_ctx);
    h->ssl_ctx = NULL;
}

static void on_closed(uv_handle_t *hd)
{
    cn_free(hd->data);
}

static void release(struct h2_probe *p)
{
    if (p->h2)
        nghttp2_session_del(p->h2);
    p->h2 = NULL;
    if (p->ssl)
        SSL_free(p->ssl); /* frees both BIOs */
    p->ssl = NULL;
    if (p->tcp_init)
        uv_close((uv_handle_t *)&p->tcp, on_closed);
    else
        cn_free(p);
}

/* End the probe with a result (p is released). */
static void finish(struct h2_probe *p, const char *raw, const char *out)
{
    struct health_check *c = p->c;
    p->c = NULL;
    c->probe = NULL;
    uv_timer_stop(&c->timer);
    if (p->tcp_init)
        uv_read_stop((uv_stream_t *)&p->tcp);
    release(p);
    health__done(c, raw, out);
}

static void fail_dial(struct h2_probe *p, const char *why)
{
    char out[700];
    snprintf(out, sizeof(out), "Failed to dial to %.300s: %.380s", p->c->target, why);
    finish(p, "critical", out);
}

static void fail_ping(struct h2_probe *p, const char *why)
{
    char out[600];
    snprintf(out, sizeof(out), "HTTP2 ping failed: %.400s", why);
    finish(p, "critical", out);
}

static void on_written(uv_write_t *req, int status)
{
    (void)status; /* a failed write shows up as a read error or the deadline */
    cn_free((struct h2_write *)(void *)req);
}

static int send_raw(struct h2_probe *p, const void *data, size_t len)
{
    if (!len)
        return 0;
    struct h2_write *w = cn_malloc(sizeof(*w) + len);
    if (!w)
        return CN_ENOMEM;
    memcpy(w->data, data, len);
    w->len = len;
    uv_buf_t b = uv_buf_init(w->data, (unsigned)len);
    int rc = uv_write(&w->req, (uv_stream_t *)&p->tcp, &b, 1, on_written);
    if (rc) {
        cn_free(w);
        return CN_EIO;
    }
    return 0;
}

/* Send what OpenSSL wrote to its network BIO. */
static int flush_tls(struct h2_probe *p)
{
    char buf[RBUF];
    int n;
    while ((n = BIO_read(p->wbio, buf, sizeof(buf))) > 0)
        if (send_raw(p, buf, (size_t)n))
            return CN_EIO;
    return 0;
}

/* Send what nghttp2 has queued (through TLS when on). */
static int flush_h2(struct h2_probe *p)
{
    const uint8_t *data;
    ssize_t n;
    while ((n = nghttp2_session_mem_send(p->h2, &data)) > 0) {
        if (p->ssl) {
            if (SSL_write(p->ssl, data, (int)n) <= 0)
                return CN_EIO;
        } else if (send_raw(p, data, (size_t)n)) {
            return CN_EIO;
        }
    }
    if (n < 0)
        return CN_EIO;
    return p->ssl ? flush_tls(p) : 0;
}

static int on_frame(nghttp2_session *s, const nghttp2_frame *f, void *arg)
{
    (void)s;
    struct h2_probe *p = arg;
    if (f->hd.type == NGHTTP2_PING && (f->hd.flags & NGHTTP2_FLAG_ACK))
        p->acked = true;
    return 0;
}

static int start_h2(struct h2_probe *p)
{
    nghttp2_session_callbacks *cbs;
    if (nghttp2_session_callbacks_new(&cbs))
        return CN_ENOMEM;
    nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame);
    int rc = nghttp2_session_client_new(&p->h2, cbs, p);
    nghttp2_session_callbacks_del(cbs);
    if (rc)
        return CN_ENOMEM;
    if (nghttp2_submit_settings(p->h2, NGHTTP2_FLAG_NONE, NULL, 0) ||
        nghttp2_submit_ping(p->h2, NGHTTP2_FLAG_NONE, NULL))
        return CN_ENOMEM;
    return flush_h2(p);
}

/* HTTP/2 bytes from the server. */
static void h2_input(struct h2_probe *p, const uint8_t *data, size_t len)
{
    ssize_t n = nghttp2_session_mem_recv(p->h2, data, len);
    if (n < 0) {
        fail_ping(p, nghttp2_strerror((int)n));
        return;
    }
    if (p->acked) {
        finish(p, "passing", "HTTP2 ping was successful");
        return;
    }
    if (flush_h2(p)) /* the SETTINGS ACK, and whatever else nghttp2 owes */
        fail_ping(p, "write failed");
}

static void tls_error(struct h2_probe *p)
{
    char why[300] = "TLS handshake failed";
    unsigned long e = ERR_get_error();
    long vr = SSL_get_verify_result(p->ssl);
    if (vr != X509_V_OK)
        snprintf(why, sizeof(why), "tls: failed to verify certificate: %s",
                 X509_verify_cert_error_string(vr));
    else if (e)
        snprintf(why, sizeof(why), "tls: %s", ERR_reason_error_string(e));
    ERR_clear_error();
    fail_dial(p, why);
}

/* Drive the TLS handshake; once done, check ALPN and start HTTP/2. */
static void tls_step(struct h2_probe *p)
{
    if (!SSL_is_init_finished(p->ssl)) {
        int r = SSL_do_handshake(p->ssl);
        if (flush_tls(p)) {
            fail_dial(p, "write failed");
            return;
        }
        if (r != 1) {
            int e = SSL_get_error(p->ssl, r);
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                tls_error(p);
            return;
        }
        const unsigned char *proto;
        unsigned plen;
        SSL_get0_alpn_selected(p->ssl, &proto, &plen);
        if (plen != 2 || memcmp(proto, "h2", 2) != 0) {
            /* Go's http2.Transport refuses a TLS connection without h2 */
            fail_ping(p, "http2: unexpected ALPN protocol; want \"h2\"");
            return;
        }
        p->dialed = true;
        if (start_h2(p))
            fail_ping(p, "could not start the HTTP/2 session");
        return;
    }
    uint8_t buf[RBUF];
    for (;;) {
        int n = SSL_read(p->ssl, buf, sizeof(buf));
        if (n <= 0) {
            int e = SSL_get_error(p->ssl, n);
            if (e == SSL_ERROR_WANT_READ)
                return;
            fail_ping(p, e == SSL_ERROR_ZERO_RETURN ? "EOF" : "TLS read failed");
            return;
        }
        h2_input(p, buf, (size_t)n);
        if (!p->c)
            return; /* finished */
    }
}

static void on_alloc(uv_handle_t *hd, size_t want, uv_buf_t *b)
{
    (void)want;
    struct h2_probe *p = hd->data;
    *b = uv_buf_init(p->rbuf, sizeof(p->rbuf));
}

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    struct h2_probe *p = st->data;
    if (!p->c || n == 0)
        return;
    if (n < 0) {
        const char *why = n == UV_EOF ? "EOF" : uv_strerror((int)n);
        if (p->ssl && !SSL_is_init_finished(p->ssl))
            fail_dial(p, why);
        else
            fail_ping(p, why);
        return;
    }
    if (p->ssl) {
        if (BIO_write(p->rbio, b->base, (int)n) != (int)n) {
            fail_ping(p, "out of memory");
            return;
        }
        tls_step(p);
    } else {
        h2_input(p, (const uint8_t *)b->base, (size_t)n);
    }
}

static bool is_ip(const char *h)
{
    struct sockaddr_in6 a6;
    struct sockaddr_in a4;
    return !uv_ip4_addr(h, 0, &a4) || !uv_ip6_addr(h, 0, &a6);
}

static int tls_begin(struct h2_probe *p)
{
    struct health_check *c = p->c;
    SSL_CTX *x = ctx_get(c->h);
    if (!x || !(p->ssl = SSL_new(x)))
        return CN_ENOMEM;
    p->rbio = BIO_new(BIO_s_mem());
    p->wbio = BIO_new(BIO_s_mem());
    if (!p->rbio || !p->wbio) {
        BIO_free(p->rbio);
        BIO_free(p->wbio);
        return CN_ENOMEM;
    }
    SSL_set_bio(p->ssl, p->rbio, p->wbio);
    SSL_set_connect_state(p->ssl);
    /* Go's tls: ServerName = TLSServerName, else the dialed host. */
    const char *name = *c->tls_server_name ? c->tls_server_name : p->host;
    if (!is_ip(name))
        SSL_set_tlsext_host_name(p->ssl, name);
    if (c->tls_skip_verify) {
        SSL_set_verify(p->ssl, SSL_VERIFY_NONE, NULL);
    } else {
        SSL_set_verify(p->ssl, SSL_VERIFY_PEER, NULL);
        X509_VERIFY_PARAM *vp = SSL_get0_param(p->ssl);
        if (is_ip(name) ? !X509_VERIFY_PARAM_set1_ip_asc(vp, name)
                        : !X509_VERIFY_PARAM_set1_host(vp, name, 0))
            return CN_EINVAL;
    }
    tls_step(p);
    return 0;
}

static void on_connect(uv_connect_t *req, int status)
{
    struct h2_probe *p = req->data;
    if (!p->c)
        return; /* abandoned: the close callback frees p */
    if (status) {
        char why[300];
        snprintf(why, sizeof(why), "dial tcp %.200s: connect: %s", p->c->target,
                 status == UV_ECONNREFUSED ? "connection refused" : uv_strerror(status));
        fail_dial(p, why);
        return;
    }
    int rc = uv_read_start((uv_stream_t *)&p->tcp, on_alloc, on_read);
    if (rc) {
        fail_dial(p, uv_strerror(rc));
        return;
    }
    if (p->c->h2ping_tls) {
        if (tls_begin(p))
            fail_dial(p, "could not start TLS");
        return;
    }
    p->dialed = true;
    if (start_h2(p))
        fail_ping(p, "could not start the HTTP/2 session");
}

static void connect_to(struct h2_probe *p, const struct sockaddr *sa)
{
    int rc = uv_tcp_init(p->c->h->loop, &p->tcp);
    if (!rc) {
        p->tcp_init = true;
        p->tcp.data = p;
        p->req.data = p;
        rc = uv_tcp_connect(&p->req, &p->tcp, sa, on_connect);
    }
    if (rc)
        fail_dial(p, uv_strerror(rc));
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct h2_probe *p = req->data;
    struct sockaddr_storage ss;
    int rc = health__addr_result(status, res, &ss);
    if (!p->c) {
        cn_free(p);
        return;
    }
    if (rc) {
        char why[300];
        snprintf(why, sizeof(why), "lookup %.200s: %s", p->host, uv_strerror(rc));
        fail_dial(p, why);
        return;
    }
    connect_to(p, (struct sockaddr *)&ss);
}

void health__h2ping_probe(struct health_check *c)
{
    struct h2_probe *p = cn_calloc(1, sizeof(*p));
    if (!p) {
        health__done(c, "critical", "out of memory");
        return;
    }
    p->c = c;
    c->probe = p;
    char port[16];
    if (health__split_hostport(c->target, p->host, sizeof(p->host), port, sizeof(port))) {
        fail_dial(p, "missing port in address");
        return;
    }
    health__arm_deadline(c);
    struct sockaddr_storage sa;
    p->gai.data = p;
    int rc = health__addr(c->h->loop, p->host, port, SOCK_STREAM, &sa, &p->gai, on_resolved);
    if (rc == 1)
        connect_to(p, (struct sockaddr *)&sa);
    else if (rc)
        fail_dial(p, uv_strerror(rc));
}

/* Detach the in-flight probe (stopped): its callbacks find p->c == NULL. */
void health__h2ping_abort(struct health_check *c)
{
    struct h2_probe *p = c->probe;
    c->probe = NULL;
    if (!p)
        return;
    p->c = NULL;
    if (p->tcp_init)
        release(p);
    else
        uv_cancel((uv_req_t *)&p->gai); /* on_resolved frees p */
    c->in_flight = false;
    c->h->in_flight--;
}

void health__h2ping_timeout(struct health_check *c)
{
    struct h2_probe *p = c->probe;
    if (!p)
        return;
    if (!p->tcp_init) {
        /* still resolving: detach; on_resolved frees p */
        c->probe = NULL;
        p->c = NULL;
        uv_cancel((uv_req_t *)&p->gai);
        char out[600];
        snprintf(out, sizeof(out), "Failed to dial to %.300s: context deadline exceeded",
                 c->target);
        health__done(c, "critical", out);
        return;
    }
    if (p->dialed)
        fail_ping(p, "context deadline exceeded");
    else
        fail_dial(p, "context deadline exceeded");
}
