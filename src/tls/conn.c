/* tls/conn.c: TLS over a libuv stream through OpenSSL memory BIOs.
 *
 * The caller owns the socket: it passes what it read to tls_conn_input and
 * gets plaintext back from tls_conn_read; whatever OpenSSL produces
 * (records, handshake messages, alerts) is drained from the write BIO right
 * after the call that produced it and written with one uv_write, so the
 * order of uv_writes is the order of the records on the wire. The network
 * side is a memory BIO for input and, for output, a sink BIO appending to
 * a buffer the connection owns (written from directly, emptied by
 * resetting its length); both grow as needed, so SSL_write never asks to
 * be retried. */
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/mem.h"
#include "tls/tls.h"

struct tls_conn {
    SSL *ssl;
    BIO *rbio, *wbio;  /* network -> SSL, SSL -> network (owned by ssl) */
    struct cn_buf out; /* what wbio was given and is not yet written */
    bool out_failed;   /* an append to out failed (out of memory) */
};

struct tls_write {
    uv_write_t req; /* first: the request is the allocation */
    void (*done)(void *arg, int status);
    void *arg;
    char data[];
};

static bool is_ip(const char *h)
{
    struct sockaddr_in6 a6;
    struct sockaddr_in a4;
    return !uv_ip4_addr(h, 0, &a4) || !uv_ip6_addr(h, 0, &a6);
}

/* ---- the output sink: a BIO whose writes append to tls_conn.out ---- */

static int sink_write(BIO *b, const char *p, int n)
{
    struct tls_conn *t = BIO_get_data(b);
    if (n <= 0)
        return 0;
    if (cn_buf_append(&t->out, p, (size_t)n)) {
        t->out_failed = true;
        return -1;
    }
    return n;
}

static long sink_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)num;
    (void)ptr;
    struct tls_conn *t = BIO_get_data(b);
    switch (cmd) {
    case BIO_CTRL_FLUSH:
        return 1;
    case BIO_CTRL_PENDING:
    case BIO_CTRL_WPENDING:
        return (long)t->out.len;
    default:
        return 0;
    }
}

static int sink_create(BIO *b)
{
    BIO_set_init(b, 1);
    return 1;
}

static BIO_METHOD *sink_method;

static void sink_method_make(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "cairn tls out");
    if (m && BIO_meth_set_write(m, sink_write) == 1 && BIO_meth_set_ctrl(m, sink_ctrl) == 1 &&
        BIO_meth_set_create(m, sink_create) == 1) {
        sink_method = m;
        return;
    }
    BIO_meth_free(m);
}

static BIO *sink_new(struct tls_conn *t)
{
    static CRYPTO_ONCE once = CRYPTO_ONCE_STATIC_INIT;
    if (!CRYPTO_THREAD_run_once(&once, sink_method_make) || !sink_method)
        return NULL;
    BIO *b = BIO_new(sink_method);
    if (b)
        BIO_set_data(b, t);
    return b;
}

struct tls_conn *tls_conn_new(SSL_CTX *ctx, bool server, bool verify, const char *verify_name)
{
    struct tls_conn *t = cn_calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->ssl = SSL_new(ctx);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = sink_new(t);
    if (!t->ssl || !t->rbio || !t->wbio) {
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        SSL_free(t->ssl);
        cn_free(t);
        ERR_clear_error();
        return NULL;
    }
    SSL_set_bio(t->ssl, t->rbio, t->wbio);
    if (server) {
        SSL_set_accept_state(t->ssl);
    } else {
        SSL_set_connect_state(t->ssl);
        SSL_set_verify(t->ssl, verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
        if (verify_name && *verify_name) {
            X509_VERIFY_PARAM *vp = SSL_get0_param(t->ssl);
            if (is_ip(verify_name)) {
                X509_VERIFY_PARAM_set1_ip_asc(vp, verify_name);
            } else {
                SSL_set_tlsext_host_name(t->ssl, verify_name);
                X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
                X509_VERIFY_PARAM_set1_host(vp, verify_name, 0);
            }
        }
    }
    return t;
}

void tls_conn_free(struct tls_conn *t)
{
    if (!t)
        return;
    SSL_free(t->ssl); /* frees both BIOs */
    cn_buf_free(&t->out);
    cn_free(t);
}

int tls_conn_input(struct tls_conn *t, const void *p, size_t n)
{
    if (n && BIO_write(t->rbio, p, (int)n) != (int)n)
        return CN_ENOMEM;
    return 0;
}

bool tls_conn_ready(const struct tls_conn *t)
{
    return SSL_is_init_finished(t->ssl);
}

static void on_written(uv_write_t *req, int status)
{
    struct tls_write *w = (struct tls_write *)(void *)req;
    if (w->done)
        w->done(w->arg, status);
    cn_free(w);
}

/* Write what OpenSSL queued in its network BIO, from `skip` on (the
 * bytes before it were written already). */
static int drain_from(struct tls_conn *t, size_t skip, uv_stream_t *st, void (*done)(void *, int),
                      void *arg)
{
    if (t->out_failed)
        return CN_ENOMEM;
    size_t n = t->out.len - skip;
    if (!n && !done) {
        cn_buf_reset(&t->out);
        return 0; /* with a callback, even nothing is written: it runs later, never now */
    }
    struct tls_write *w = cn_malloc(sizeof(*w) + n);
    if (!w)
        return CN_ENOMEM;
    if (n)
        memcpy(w->data, t->out.p + skip, n);
    cn_buf_reset(&t->out);
    w->done = done;
    w->arg = arg;
    uv_buf_t b = uv_buf_init(w->data, (unsigned)n);
    if (uv_write(&w->req, st, &b, 1, on_written) != 0) {
        cn_free(w);
        return CN_EIO;
    }
    return 0;
}

static int drain(struct tls_conn *t, uv_stream_t *st, void (*done)(void *, int), void *arg)
{
    return drain_from(t, 0, st, done, arg);
}

static void fail_reason(struct tls_conn *t, int e, char *err, size_t errcap)
{
    long vr = SSL_get_verify_result(t->ssl);
    unsigned long oe = ERR_peek_error();
    if (vr != X509_V_OK) {
        snprintf(err, errcap, "certificate verification failed: %s",
                 X509_verify_cert_error_string(vr));
    } else if (oe) {
        const char *r = ERR_reason_error_string(oe);
        snprintf(err, errcap, "%s", r ? r : "TLS error");
    } else if (e == SSL_ERROR_SYSCALL) {
        snprintf(err, errcap, "unexpected end of the TLS stream");
    } else {
        snprintf(err, errcap, "TLS error %d", e);
    }
    ERR_clear_error();
}

int tls_conn_read(struct tls_conn *t, uv_stream_t *st, tls_plain_cb cb, void *arg, char *err,
                  size_t errcap)
{
    char buf[16384];
    if (!SSL_is_init_finished(t->ssl)) {
        int r = SSL_do_handshake(t->ssl);
        if (drain(t, st, NULL, NULL))
            return CN_EIO;
        if (r != 1) {
            int e = SSL_get_error(t->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                return 0;
            fail_reason(t, e, err, errcap);
            return CN_EPROTO;
        }
    }
    for (;;) {
        int n = SSL_read(t->ssl, buf, sizeof(buf));
        if (n <= 0) {
            int e = SSL_get_error(t->ssl, n);
            if (drain(t, st, NULL, NULL))
                return CN_EIO;
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                break;
            if (e == SSL_ERROR_ZERO_RETURN)
                return CN_ESHUTDOWN;
            fail_reason(t, e, err, errcap);
            return CN_EPROTO;
        }
        if (cb(arg, buf, (size_t)n))
            return 1; /* the caller is closing: write nothing more */
    }
    if (drain(t, st, NULL, NULL)) /* tickets, key updates */
        return CN_EIO;
    return 0;
}

/* Small buffers (Raft messages, frame headers) are gathered into records of
 * up to 16 KiB: one record (one AEAD pass, 22 bytes of overhead) per batch
 * rather than per buffer. */
int tls_conn_write(struct tls_conn *t, uv_stream_t *st, const uv_buf_t *bufs, unsigned nbufs,
                   void (*done)(void *arg, int status), void *arg)
{
    char gather[16384];
    size_t g = 0;
    for (unsigned i = 0; i <= nbufs; i++) {
        size_t len = i < nbufs ? bufs[i].len : 0;
        bool last = i == nbufs;
        if (!last && g + len <= sizeof(gather)) {
            memcpy(gather + g, bufs[i].base, len);
            g += len;
            continue;
        }
        if (g && SSL_write(t->ssl, gather, (int)g) != (int)g) {
            ERR_clear_error();
            return CN_EIO;
        }
        g = 0;
        if (last)
            break;
        if (len > sizeof(gather)) { /* a large buffer goes as it is */
            if (SSL_write(t->ssl, bufs[i].base, (int)len) != (int)len) {
                ERR_clear_error();
                return CN_EIO;
            }
        } else {
            memcpy(gather, bufs[i].base, len);
            g = len;
        }
    }
    return drain(t, st, done, arg);
}

int tls_conn_send(struct tls_conn *t, uv_stream_t *st, const char *p, size_t n,
                  void (*done)(void *arg, int status), void *arg, size_t *queued)
{
    *queued = 0;
    for (size_t off = 0; off < n;) { /* SSL_write takes an int */
        int k = n - off > (1u << 30) ? 1 << 30 : (int)(n - off);
        if (SSL_write(t->ssl, p + off, k) != k) {
            ERR_clear_error();
            return CN_EIO;
        }
        off += (size_t)k;
    }
    if (t->out_failed)
        return CN_ENOMEM;
    if (!t->out.len)
        return 0;
    size_t took = 0;
    if (!uv_stream_get_write_queue_size(st)) { /* else it would pass what is queued */
        uv_buf_t b = uv_buf_init(t->out.p, (unsigned)t->out.len);
        int k = uv_try_write(st, &b, 1);
        if (k > 0)
            took = (size_t)k;
        else if (k != UV_EAGAIN && k != UV_ENOSYS)
            return CN_EIO;
    }
    if (took == t->out.len) {
        cn_buf_reset(&t->out);
        return 0;
    }
    size_t rest = t->out.len - took;
    int rc = drain_from(t, took, st, done, arg);
    if (!rc)
        *queued = rest;
    return rc;
}

void tls_conn_idle(struct tls_conn *t)
{
    SSL_free_buffers(t->ssl); /* refuses (harmlessly) while records are pending */
    if (!t->out.len)
        cn_buf_free(&t->out);
}

void tls_conn_close_notify(struct tls_conn *t, uv_stream_t *st)
{
    if (SSL_is_init_finished(t->ssl) && SSL_shutdown(t->ssl) >= 0)
        drain(t, st, NULL, NULL);
    ERR_clear_error();
}

void tls_conn_params(const struct tls_conn *t, const char **version, const char **cipher)
{
    *version = SSL_get_version(t->ssl);
    const char *n = SSL_get_cipher_name(t->ssl);
    *cipher = n ? n : "(none)";
}

bool tls_conn_peer_has_name(const struct tls_conn *t, const char *name)
{
    X509 *c = SSL_get0_peer_certificate(t->ssl);
    if (!c)
        return false;
    return X509_check_host(c, name, 0, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS, NULL) == 1;
}

int tls_conn_peer_uri(const struct tls_conn *t, char *out, size_t cap)
{
    X509 *c = SSL_get0_peer_certificate(t->ssl);
    if (!c || !cap)
        return CN_ENOTFOUND;
    GENERAL_NAMES *names = X509_get_ext_d2i(c, NID_subject_alt_name, NULL, NULL);
    int rc = CN_ENOTFOUND;
    for (int i = 0; names && i < sk_GENERAL_NAME_num(names) && rc; i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);
        if (g->type != GEN_URI)
            continue;
        const unsigned char *p = ASN1_STRING_get0_data(g->d.uniformResourceIdentifier);
        int n = ASN1_STRING_length(g->d.uniformResourceIdentifier);
        if (n > 0 && (size_t)n < cap && !memchr(p, 0, (size_t)n)) {
            memcpy(out, p, (size_t)n);
            out[n] = '\0';
            rc = 0;
        }
    }
    GENERAL_NAMES_free(names);
    return rc;
}
