/* tls/conn.c: TLS over a libuv stream through OpenSSL BIOs of our own.
 *
 * The caller owns the socket: it passes what it read to tls_conn_input and
 * gets plaintext back from tls_conn_read (or both at once, tls_conn_feed);
 * whatever OpenSSL produces (records, handshake messages, alerts) is
 * drained from the write BIO right after the call that produced it and
 * written with one uv_write, so the order of uv_writes is the order of the
 * records on the wire. The network side is, for input, a source BIO reading
 * the bytes held from earlier calls and then the bytes the caller lends for
 * one call (tls_conn_feed: no copy of what OpenSSL consumes at once), and,
 * for output, a sink BIO appending to a buffer the connection owns (written
 * from directly, emptied by resetting its length, or handed to the
 * uv_write request that writes it when the kernel takes only part of it);
 * both grow as needed, so SSL_write never asks to be retried. */
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
    struct cn_buf in;  /* ciphertext held (tls_conn_input, or lent and not consumed) */
    size_t in_off;     /* ... of which this much was read by SSL */
    const char *lent;  /* ciphertext lent for one tls_conn_feed call */
    size_t nlent;      /* ... bytes of it not yet read */
    struct cn_buf out; /* what wbio was given and is not yet written */
    bool out_failed;   /* an append to out failed (out of memory) */
};

/* Output at least this large is handed to its uv_write request rather than
 * copied (the connection allocates a new buffer for the next records). */
#define OUT_HANDOFF 4096

struct tls_write {
    uv_write_t req; /* first: the request is the allocation */
    void (*done)(void *arg, int status);
    void *arg;
    char *mem; /* the output buffer handed over (freed with the request), or NULL: data */
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

/* ---- the input source: a BIO reading tls_conn.in, then what is lent ---- */

static int source_read(BIO *b, char *p, int n)
{
    struct tls_conn *t = BIO_get_data(b);
    BIO_clear_retry_flags(b);
    if (n <= 0)
        return 0;
    size_t want = (size_t)n, got = 0;
    size_t held = t->in.len - t->in_off;
    if (held) {
        got = held < want ? held : want;
        memcpy(p, t->in.p + t->in_off, got);
        t->in_off += got;
        if (t->in_off == t->in.len)
            t->in_off = t->in.len = 0;
    }
    if (got < want && t->nlent) {
        size_t k = t->nlent < want - got ? t->nlent : want - got;
        memcpy(p + got, t->lent, k);
        t->lent += k;
        t->nlent -= k;
        got += k;
    }
    if (!got) {
        BIO_set_retry_read(b); /* nothing yet: OpenSSL waits for more */
        return -1;
    }
    return (int)got;
}

static long source_ctrl(BIO *b, int cmd, long num, void *ptr)
{
    (void)num;
    (void)ptr;
    struct tls_conn *t = BIO_get_data(b);
    switch (cmd) {
    case BIO_CTRL_PENDING:
        return (long)(t->in.len - t->in_off + t->nlent);
    case BIO_CTRL_FLUSH:
        return 1;
    default:
        return 0;
    }
}

static BIO_METHOD *sink_method, *source_method;

static void bio_methods_make(void)
{
    BIO_METHOD *m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "cairn tls out");
    BIO_METHOD *r = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "cairn tls in");
    if (m && r && BIO_meth_set_write(m, sink_write) == 1 && BIO_meth_set_ctrl(m, sink_ctrl) == 1 &&
        BIO_meth_set_create(m, sink_create) == 1 && BIO_meth_set_read(r, source_read) == 1 &&
        BIO_meth_set_ctrl(r, source_ctrl) == 1 && BIO_meth_set_create(r, sink_create) == 1) {
        sink_method = m;
        source_method = r;
        return;
    }
    BIO_meth_free(m);
    BIO_meth_free(r);
}

static BIO *bio_new(struct tls_conn *t, bool out)
{
    static CRYPTO_ONCE once = CRYPTO_ONCE_STATIC_INIT;
    if (!CRYPTO_THREAD_run_once(&once, bio_methods_make) || !sink_method)
        return NULL;
    BIO *b = BIO_new(out ? sink_method : source_method);
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
    t->rbio = bio_new(t, false);
    t->wbio = bio_new(t, true);
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
    cn_buf_free(&t->in);
    cn_buf_free(&t->out);
    cn_free(t);
}

int tls_conn_input(struct tls_conn *t, const void *p, size_t n)
{
    return cn_buf_append(&t->in, p, n) ? CN_ENOMEM : 0;
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
    cn_free(w->mem);
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
    /* a large output goes with its buffer (no copy), a small one is copied
     * (the buffer is kept for the next records) */
    bool handoff = n >= OUT_HANDOFF;
    struct tls_write *w = cn_malloc(sizeof(*w) + (handoff ? 0 : n));
    if (!w)
        return CN_ENOMEM;
    uv_buf_t b;
    struct cn_buf kept = t->out;
    if (handoff) {
        w->mem = t->out.p;
        b = uv_buf_init(t->out.p + skip, (unsigned)n);
        cn_buf_init(&t->out);
    } else {
        w->mem = NULL;
        if (n)
            memcpy(w->data, t->out.p + skip, n);
        b = uv_buf_init(w->data, (unsigned)n);
        cn_buf_reset(&t->out);
    }
    w->done = done;
    w->arg = arg;
    if (uv_write(&w->req, st, &b, 1, on_written) != 0) {
        if (handoff)
            t->out = kept; /* the buffer stays the connection's */
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

/* The handshake as far as the input allows, then every record buffered
 * decrypted: to cb piece by piece, or (cb NULL) straight into `into`. */
static int read_records(struct tls_conn *t, uv_stream_t *st, tls_plain_cb cb, void *arg,
                        struct cn_buf *into, char *err, size_t errcap)
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
        if (into && cn_buf_reserve(into, 16384))
            return CN_ENOMEM;
        char *to = into ? into->p + into->len : buf;
        int n = SSL_read(t->ssl, to, 16384);
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
        if (into)
            into->len += (size_t)n;
        else if (cb(arg, buf, (size_t)n))
            return 1; /* the caller is closing: write nothing more */
    }
    if (drain(t, st, NULL, NULL)) /* tickets, key updates */
        return CN_EIO;
    return 0;
}

int tls_conn_read(struct tls_conn *t, uv_stream_t *st, tls_plain_cb cb, void *arg, char *err,
                  size_t errcap)
{
    return read_records(t, st, cb, arg, NULL, err, errcap);
}

int tls_conn_feed(struct tls_conn *t, const void *p, size_t n, uv_stream_t *st,
                  struct cn_buf *plain, char *err, size_t errcap)
{
    /* the plaintext is shorter than the ciphertext: room for all of it (and
     * for a record held from before) at once, so appends never move it */
    if (cn_buf_reserve(plain, n + t->in.len - t->in_off + 16384))
        return CN_ENOMEM;
    t->lent = p;
    t->nlent = n;
    int rc = read_records(t, st, NULL, NULL, plain, err, errcap);
    /* what OpenSSL did not take (the start of a record) is kept */
    if (t->nlent && cn_buf_append(&t->in, t->lent, t->nlent) && !rc)
        rc = CN_ENOMEM;
    t->lent = NULL;
    t->nlent = 0;
    return rc;
}

/* Small buffers (Raft messages, frame headers) are gathered into records of
 * up to 16 KiB: one record (one AEAD pass, 22 bytes of overhead) per batch
 * rather than per buffer. */
int tls_conn_write(struct tls_conn *t, uv_stream_t *st, const uv_buf_t *bufs, unsigned nbufs,
                   void (*done)(void *arg, int status), void *arg)
{
    char gather[16384];
    size_t g = 0, total = 0;
    for (unsigned i = 0; i < nbufs; i++)
        total += bufs[i].len;
    /* the records in one allocation (the buffer may have gone with the last write) */
    if (cn_buf_reserve(&t->out, total + (total / 16384 + 1) * 64))
        return CN_ENOMEM;
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
    /* the records in one allocation: 16 KiB each, 22 (TLS 1.3) or 29 (1.2) bytes of overhead */
    if (cn_buf_reserve(&t->out, n + (n / 16384 + 1) * 64))
        return CN_ENOMEM;
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
    if (!t->in.len)
        cn_buf_free(&t->in);
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
