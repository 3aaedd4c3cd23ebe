/* Unit tests of src/tls/: the built-in CA's certificates (names, key type,
 * chain), context errors (missing file, key mismatch, TLS 1.1, cipher names,
 * verify_* without a CA), and handshakes between two tls_conn over a
 * socketpair driven by libuv: mutual TLS, a missing client certificate, a
 * wrong server name, a certificate of another CA. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/mem.h"
#include "tls/tls.h"

static char dir[64];

static const char *path(const char *name)
{
    static char b[8][256];
    static int i;
    i = (i + 1) % 8;
    snprintf(b[i], sizeof(b[i]), "%s/%s", dir, name);
    return b[i];
}

static void make_ca(const char *prefix)
{
    char cert[64], key[64], err[256];
    snprintf(cert, sizeof(cert), "%s-ca.pem", prefix);
    snprintf(key, sizeof(key), "%s-ca-key.pem", prefix);
    struct tls_ca_req r = {.days = 30, .domain = "consul", .name_constraint = true};
    r.cert_path = path(cert);
    r.key_path = path(key);
    assert_int_equal(tls_ca_create(&r, err, sizeof(err)), 0);
    /* never over an existing file */
    assert_int_equal(tls_ca_create(&r, err, sizeof(err)), CN_EIO);
    assert_non_null(strstr(err, "File exists"));
}

static void make_cert(const char *ca, enum tls_cert_kind kind, const char *out)
{
    char cert[64], key[64], cac[64], cak[64], err[256];
    snprintf(cert, sizeof(cert), "%s.pem", out);
    snprintf(key, sizeof(key), "%s-key.pem", out);
    snprintf(cac, sizeof(cac), "%s-ca.pem", ca);
    snprintf(cak, sizeof(cak), "%s-ca-key.pem", ca);
    const char *ips[] = {"10.0.0.7"};
    struct tls_cert_req r = {.kind = kind,
                             .days = 30,
                             .dc = "dc1",
                             .domain = "consul",
                             .node = kind == TLS_CERT_SERVER ? "n1" : NULL,
                             .ips = ips,
                             .nips = 1};
    r.ca_cert = path(cac);
    r.ca_key = path(cak);
    r.cert_path = path(cert);
    r.key_path = path(key);
    assert_int_equal(tls_cert_create(&r, err, sizeof(err)), 0);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/cairn-tls-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    make_ca("a");
    make_ca("b");
    make_cert("a", TLS_CERT_SERVER, "server");
    make_cert("a", TLS_CERT_CLIENT, "client");
    make_cert("b", TLS_CERT_SERVER, "bserver");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static X509 *load_cert(const char *p)
{
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(x);
    return x;
}

static void test_certificates(void **state)
{
    (void)state;
    X509 *s = load_cert(path("server.pem")), *c = load_cert(path("client.pem"));
    X509 *ca = load_cert(path("a-ca.pem"));
    assert_int_equal(X509_check_host(s, "server.dc1.consul", 0, 0, NULL), 1);
    assert_int_equal(X509_check_host(s, "n1.server.dc1.consul", 0, 0, NULL), 1);
    assert_int_equal(X509_check_host(s, "localhost", 0, 0, NULL), 1);
    assert_int_equal(X509_check_ip_asc(s, "127.0.0.1", 0), 1);
    assert_int_equal(X509_check_ip_asc(s, "10.0.0.7", 0), 1);
    assert_int_equal(X509_check_host(c, "server.dc1.consul", 0, 0, NULL), 0);
    assert_int_equal(X509_check_host(c, "client.dc1.consul", 0, 0, NULL), 1);
    assert_int_equal(X509_check_ca(ca), 1);
    assert_int_equal(X509_check_ca(s), 0);
    EVP_PKEY *k = X509_get0_pubkey(s);
    assert_int_equal(EVP_PKEY_get_base_id(k), EVP_PKEY_EC);
    char group[32];
    size_t gl;
    assert_int_equal(EVP_PKEY_get_group_name(k, group, sizeof(group), &gl), 1);
    assert_string_equal(group, "prime256v1");
    assert_int_equal(X509_verify(s, X509_get0_pubkey(ca)), 1);
    X509_free(s);
    X509_free(c);
    X509_free(ca);
}

static int ctx_err(struct tls_opts o, char *err, size_t cap)
{
    SSL_CTX *x = NULL;
    o.what = "t";
    int rc = tls_ctx_new(&o, &x, err, cap);
    if (x)
        SSL_CTX_free(x);
    return rc;
}

static void test_ctx_errors(void **state)
{
    (void)state;
    char err[512];
    struct tls_opts ok = {.ca_file = path("a-ca.pem"),
                          .cert_file = path("server.pem"),
                          .key_file = path("server-key.pem")};
    assert_int_equal(ctx_err(ok, err, sizeof(err)), 0);
    struct tls_opts o = ok;
    o.cert_file = path("nope.pem");
    assert_int_equal(ctx_err(o, err, sizeof(err)), CN_EINVAL);
    assert_non_null(strstr(err, "No such file or directory"));
    o = ok;
    o.key_file = path("client-key.pem");
    assert_int_equal(ctx_err(o, err, sizeof(err)), CN_EINVAL);
    assert_non_null(strstr(err, "does not match cert_file"));
    o = ok;
    o.min_version = "TLSv1_1";
    assert_int_equal(ctx_err(o, err, sizeof(err)), CN_EINVAL);
    assert_non_null(strstr(err, "TLS 1.2 and 1.3 only"));
    o.min_version = "TLSv9";
    assert_int_equal(ctx_err(o, err, sizeof(err)), CN_EINVAL);
    o = ok;
    o.cipher_suites = "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_RSA_WITH_RC4_128_SHA";
    assert_int_equal(ctx_err(o, err, sizeof(err)), CN_EINVAL);
    assert_non_null(strstr(err, "unsupported cipher \"TLS_RSA_WITH_RC4_128_SHA\""));
    o.cipher_suites =
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384";
    assert_int_equal(ctx_err(o, err, sizeof(err)), 0);
    o.min_version = "TLSv1_3";
    assert_int_equal(ctx_err(o, err, sizeof(err)), CN_EINVAL);
    o = (struct tls_opts){.verify_incoming = true,
                          .cert_file = path("server.pem"),
                          .key_file = path("server-key.pem")};
    assert_int_equal(ctx_err(o, err, sizeof(err)), CN_EINVAL);
    assert_non_null(strstr(err, "VerifyIncoming set, and no CA certificate provided!"));
    o = (struct tls_opts){.verify_outgoing = true};
    assert_int_equal(ctx_err(o, err, sizeof(err)), CN_EINVAL);
    assert_non_null(strstr(err, "VerifyOutgoing set"));
    o = (struct tls_opts){.cert_file = path("server.pem")};
    assert_int_equal(ctx_err(o, err, sizeof(err)), CN_EINVAL);
    assert_non_null(strstr(err, "together"));
    /* nothing configured: no context, no error */
    SSL_CTX *x = (SSL_CTX *)1;
    o = (struct tls_opts){.what = "t"};
    assert_int_equal(tls_ctx_new(&o, &x, err, sizeof(err)), 0);
    assert_null(x);
}

/* ---- handshakes over a socketpair ---- */

struct end {
    uv_pipe_t pipe;
    struct tls_conn *t;
    char got[64];
    size_t got_len;
    char err[256];
    int rc;
    bool sent, server;
};

static int on_plain(void *arg, const char *p, size_t n)
{
    struct end *e = arg;
    memcpy(e->got + e->got_len, p, n);
    e->got_len += n;
    return 0;
}

static void alloc_cb(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
    (void)h;
    static char buf[65536];
    (void)sz;
    *b = uv_buf_init(buf, sizeof(buf));
}

static void step(struct end *e)
{
    int rc = tls_conn_read(e->t, (uv_stream_t *)&e->pipe, on_plain, e, e->err, sizeof(e->err));
    if (rc < 0 && !e->rc) {
        e->rc = rc;
        uv_read_stop((uv_stream_t *)&e->pipe);
        return;
    }
    if (tls_conn_ready(e->t) && !e->sent) {
        e->sent = true;
        uv_buf_t b = uv_buf_init(e->server ? "pong" : "ping", 4);
        assert_int_equal(tls_conn_write(e->t, (uv_stream_t *)&e->pipe, &b, 1, NULL, NULL), 0);
    }
    if (e->got_len >= 4)
        uv_read_stop((uv_stream_t *)&e->pipe);
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct end *e = s->data;
    if (n < 0) {
        if (!e->rc)
            e->rc = CN_EIO;
        uv_read_stop(s);
        return;
    }
    if (n > 0 && !tls_conn_input(e->t, b->base, (size_t)n))
        step(e);
}

static SSL_CTX *ctx(const char *ca, const char *cert, bool vi)
{
    char err[256], c[64], k[64], a[64];
    snprintf(a, sizeof(a), "%s-ca.pem", ca);
    snprintf(c, sizeof(c), "%s.pem", cert ? cert : "");
    snprintf(k, sizeof(k), "%s-key.pem", cert ? cert : "");
    struct tls_opts o = {.ca_file = path(a), .verify_incoming = vi, .what = "t"};
    if (cert) {
        o.cert_file = path(c);
        o.key_file = path(k);
    }
    SSL_CTX *x = NULL;
    assert_int_equal(tls_ctx_new(&o, &x, err, sizeof(err)), 0);
    return x;
}

/* Run one handshake and exchange; results in *srv and *cli. */
static void handshake(SSL_CTX *sctx, SSL_CTX *cctx, const char *name, struct end *srv,
                      struct end *cli)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    int fds[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    struct end *ends[2] = {srv, cli};
    for (int i = 0; i < 2; i++) {
        memset(ends[i], 0, sizeof(*ends[i]));
        uv_pipe_init(&loop, &ends[i]->pipe, 0);
        uv_pipe_open(&ends[i]->pipe, fds[i]);
        ends[i]->pipe.data = ends[i];
        ends[i]->server = i == 0;
        ends[i]->t =
            i == 0 ? tls_conn_new(sctx, true, false, NULL) : tls_conn_new(cctx, false, true, name);
        assert_non_null(ends[i]->t);
        uv_read_start((uv_stream_t *)&ends[i]->pipe, alloc_cb, read_cb);
    }
    step(cli); /* ClientHello */
    uv_run(&loop, UV_RUN_DEFAULT);
    for (int i = 0; i < 2; i++) {
        uv_close((uv_handle_t *)&ends[i]->pipe, NULL);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    bool srv_named = tls_conn_ready(srv->t) && tls_conn_peer_has_name(srv->t, "client.dc1.consul");
    srv->sent = srv_named; /* reused as "peer named client.dc1.consul" */
    tls_conn_free(srv->t);
    tls_conn_free(cli->t);
}

static void test_mutual_tls(void **state)
{
    (void)state;
    SSL_CTX *s = ctx("a", "server", true), *c = ctx("a", "client", false);
    struct end srv, cli;
    handshake(s, c, "server.dc1.consul", &srv, &cli);
    assert_int_equal(srv.rc, 0);
    assert_int_equal(cli.rc, 0);
    assert_memory_equal(srv.got, "ping", 4);
    assert_memory_equal(cli.got, "pong", 4);
    assert_true(srv.sent); /* the server saw the client's certificate */
    /* the client expects another name: its verification fails */
    handshake(s, c, "other.dc1.consul", &srv, &cli);
    assert_int_equal(cli.rc, CN_EPROTO);
    assert_non_null(strstr(cli.err, "hostname mismatch"));
    SSL_CTX_free(c);
    /* no client certificate: the server refuses */
    c = ctx("a", NULL, false);
    handshake(s, c, "server.dc1.consul", &srv, &cli);
    assert_int_equal(srv.rc, CN_EPROTO);
    assert_non_null(strstr(srv.err, "did not return a certificate"));
    SSL_CTX_free(c);
    /* a certificate of another CA: the server refuses it */
    c = ctx("a", "bserver", false);
    handshake(s, c, "server.dc1.consul", &srv, &cli);
    assert_int_equal(srv.rc, CN_EPROTO);
    assert_non_null(strstr(srv.err, "certificate verification failed"));
    SSL_CTX_free(c);
    SSL_CTX_free(s);
}

/* ---- tls_conn_send: what the kernel takes is written at once, the rest queued ---- */

struct peer {
    uv_pipe_t pipe;
    struct tls_conn *t;
    struct cn_buf got;
    struct peer *other;
    const char *big;
    size_t big_len, want;
    size_t queued_small, queued_big;
    size_t feed; /* not 0: read with tls_conn_feed, lending pieces of this many bytes */
    int done_calls, done_status, rc;
    bool sent;
};

static void send_done(void *arg, int status)
{
    struct peer *p = arg;
    p->done_calls++;
    p->done_status = status;
}

static int peer_plain(void *arg, const char *b, size_t n)
{
    struct peer *p = arg;
    assert_int_equal(cn_buf_append(&p->got, b, n), 0);
    return 0;
}

static void peer_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct peer *p = s->data;
    char err[256];
    if (n < 0) {
        p->rc = CN_EIO;
        uv_read_stop(s);
        return;
    }
    if (!n)
        return;
    if (p->feed) { /* records cut anywhere: the start of one is kept for the next piece */
        for (size_t off = 0; off < (size_t)n; off += p->feed) {
            size_t k = (size_t)n - off < p->feed ? (size_t)n - off : p->feed;
            p->rc = tls_conn_feed(p->t, b->base + off, k, s, &p->got, err, sizeof(err));
            assert_int_equal(p->rc, 0);
        }
    } else {
        assert_int_equal(tls_conn_input(p->t, b->base, (size_t)n), 0);
        p->rc = tls_conn_read(p->t, s, peer_plain, p, err, sizeof(err));
        assert_int_equal(p->rc, 0);
    }
    if (p->big && tls_conn_ready(p->t) && !p->sent) {
        p->sent = true;
        /* a small write into an empty socket buffer: all taken, nothing queued */
        assert_int_equal(tls_conn_send(p->t, s, "hello", 5, send_done, p, &p->queued_small), 0);
        /* more than the socket buffer holds: the rest is queued */
        assert_int_equal(tls_conn_send(p->t, s, p->big, p->big_len, send_done, p, &p->queued_big),
                         0);
    }
    if (p->want && p->got.len >= p->want) {
        uv_read_stop(s);
        uv_read_stop((uv_stream_t *)&p->other->pipe);
    }
}

/* The client sends "hello" and big_len bytes with tls_conn_send; the server
 * reads them (with tls_conn_feed in pieces of `feed` bytes when not 0). */
static void send_and_check(size_t big_len, size_t feed)
{
    SSL_CTX *sctx = ctx("a", "server", true), *cctx = ctx("a", "client", false);
    char *big = cn_malloc(big_len);
    assert_non_null(big);
    for (size_t i = 0; i < big_len; i++)
        big[i] = (char)(i * 7 + i / 4096);
    uv_loop_t loop;
    uv_loop_init(&loop);
    int fds[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    struct peer srv = {.want = 5 + big_len, .feed = feed}, cli = {.big = big, .big_len = big_len};
    struct peer *ps[2] = {&srv, &cli};
    srv.other = &cli;
    cli.other = &srv;
    for (int i = 0; i < 2; i++) {
        uv_pipe_init(&loop, &ps[i]->pipe, 0);
        uv_pipe_open(&ps[i]->pipe, fds[i]);
        ps[i]->pipe.data = ps[i];
        ps[i]->t = i == 0 ? tls_conn_new(sctx, true, false, NULL)
                          : tls_conn_new(cctx, false, true, "server.dc1.consul");
        assert_non_null(ps[i]->t);
        uv_read_start((uv_stream_t *)&ps[i]->pipe, alloc_cb, peer_read);
    }
    char err[256];
    assert_int_equal(
        tls_conn_read(cli.t, (uv_stream_t *)&cli.pipe, peer_plain, &cli, err, sizeof(err)),
        0); /* ClientHello */
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_true(cli.sent);
    assert_int_equal(cli.queued_small, 0);
    assert_true(cli.queued_big > 0 && cli.queued_big < big_len + (big_len >> 5));
    /* done ran once, for the queued rest, and only once it was written */
    assert_int_equal(cli.done_calls, 1);
    assert_int_equal(cli.done_status, 0);
    assert_int_equal(srv.got.len, 5 + big_len);
    assert_memory_equal(srv.got.p, "hello", 5);
    assert_memory_equal(srv.got.p + 5, big, big_len);
    for (int i = 0; i < 2; i++)
        uv_close((uv_handle_t *)&ps[i]->pipe, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    for (int i = 0; i < 2; i++) {
        tls_conn_free(ps[i]->t);
        cn_buf_free(&ps[i]->got);
    }
    cn_free(big);
    SSL_CTX_free(sctx);
    SSL_CTX_free(cctx);
}

static void test_send_writes_then_queues(void **state)
{
    (void)state;
    send_and_check(8u << 20, 0);
}

/* tls_conn_feed: the bytes lent in pieces that cut records (and the
 * handshake) anywhere, the plaintext appended to the caller's buffer
 * unchanged; with pieces as large as the reads, OpenSSL takes them in place. */
static void test_feed_lends_pieces(void **state)
{
    (void)state;
    send_and_check(1u << 20, 333);
    send_and_check(1u << 20, 1);
    send_and_check(4u << 20, 65536);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_certificates),      cmocka_unit_test(test_ctx_errors),
        cmocka_unit_test(test_mutual_tls),        cmocka_unit_test(test_send_writes_then_queues),
        cmocka_unit_test(test_feed_lends_pieces),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
