/* tls/tls.h: TLS for cairn's sockets through OpenSSL (Debian's libssl).
 *
 * Three parts, each in its own file:
 *  - ctx.c: one SSL_CTX from a resolved interface configuration (Consul's
 *    tls.defaults / tls.https / tls.internal_rpc after inheritance): CA file
 *    or directory, certificate and key (checked to match), TLS 1.2 or 1.3
 *    minimum (TLSv1_0 and TLSv1_1 are refused), Consul's (Go) cipher suite
 *    names mapped to OpenSSL's, client certificates required when
 *    verify_incoming is set. Errors name the file and OpenSSL's reason.
 *  - conn.c: TLS over a libuv stream through BIOs of its own (the socket
 *    I/O stays the caller's): ciphertext in, plaintext out by callback (or
 *    into a buffer, tls_conn_feed); plaintext in, ciphertext written with
 *    uv_write, in the order produced.
 *    Used by http/ (HTTPS) and transport/ (server RPC).
 *  - cert.c: the built-in CA of `cairn tls ca create` / `cairn tls cert
 *    create` (ECDSA P-256 keys, Consul's names and SANs).
 *
 * Knows nothing of HTTP, Raft or the agent's configuration table. All on the
 * loop thread (cert.c: any thread). */
#ifndef CN_TLS_H
#define CN_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <uv.h>

#include "base/buf.h"

/* ---- contexts (ctx.c) ------------------------------------------------------------ */

/* One interface's settings; strings borrowed, NULL or "" when unset. */
struct tls_opts {
    const char *ca_file, *ca_path, *cert_file, *key_file;
    bool verify_incoming;      /* a peer (TLS client) must present a certificate from the CA */
    bool verify_outgoing;      /* we verify the server we dial against the CA */
    const char *min_version;   /* "TLSv1_2" (default when empty), "TLSv1_3" */
    const char *cipher_suites; /* Go names, comma-separated ("": OpenSSL's defaults) */
    const char *what;          /* for errors: "tls.https", "tls.internal_rpc" */
};

/* Build a context that can act as server and client (TLS_method). Returns 0
 * and *out (the caller owns one reference: SSL_CTX_free), or CN_EINVAL /
 * CN_EIO / CN_ENOMEM with a message in err ("tls.https: cert_file
 * \"x.pem\": No such file or directory"). With neither a certificate nor a
 * CA, *out is NULL and 0 is returned (nothing to do). */
int tls_ctx_new(const struct tls_opts *o, SSL_CTX **out, char *err, size_t errcap);

/* Check a tls_min_version value alone: 0, or CN_EINVAL with Consul's
 * accepted values in err. */
int tls_min_version_check(const char *v, char *err, size_t errcap);

/* ---- connections (conn.c) --------------------------------------------------------- */

struct tls_conn;

/* A connection's TLS state: server (accepting) or client (dialing). For a
 * client, verify_name (may be NULL) is the DNS name or IP the server's
 * certificate must carry (also sent as SNI when a name); verify sets
 * SSL_VERIFY_PEER on a client. NULL on OOM. */
struct tls_conn *tls_conn_new(SSL_CTX *ctx, bool server, bool verify, const char *verify_name);
void tls_conn_free(struct tls_conn *t);

/* Ciphertext from the socket (copied). 0 or CN_ENOMEM. */
int tls_conn_input(struct tls_conn *t, const void *p, size_t n);

/* Plaintext delivered by tls_conn_read: return non-zero to stop (the caller
 * closed the connection). */
typedef int (*tls_plain_cb)(void *arg, const char *p, size_t n);

/* Run the handshake as far as the input allows, then decrypt everything
 * buffered, calling cb with each piece; writes whatever TLS must send
 * (handshake records, alerts, tickets) to `st`. Returns 0 (more input
 * needed), 1 if cb stopped the read, CN_EPROTO with the reason in err
 * (handshake or record failure: the caller closes), CN_ESHUTDOWN when the
 * peer sent close_notify, CN_EIO when a write failed. */
int tls_conn_read(struct tls_conn *t, uv_stream_t *st, tls_plain_cb cb, void *arg, char *err,
                  size_t errcap);

/* tls_conn_input and tls_conn_read in one call, for a data path: p is
 * lent for the call (OpenSSL reads it in place; only the start of a record
 * it has not taken is copied), and the plaintext is decrypted straight into
 * `plain` (appended). Returns as tls_conn_read (never 1), or CN_ENOMEM. */
int tls_conn_feed(struct tls_conn *t, const void *p, size_t n, uv_stream_t *st,
                  struct cn_buf *plain, char *err, size_t errcap);

bool tls_conn_ready(const struct tls_conn *t); /* handshake done */

/* Encrypt the buffers and write the records to `st` in one uv_write; `done`
 * (may be NULL) runs with the write's status when the kernel took them (or
 * the handle closed). Returns 0, or CN_EIO / CN_ENOMEM (done not called). */
int tls_conn_write(struct tls_conn *t, uv_stream_t *st, const uv_buf_t *bufs, unsigned nbufs,
                   void (*done)(void *arg, int status), void *arg);

/* Encrypt n bytes and write the records: what the kernel takes at once is
 * written from the connection's own buffer (no copy), the rest is queued
 * (its buffer handed to the request when 4 KiB or more, else copied) with
 * one uv_write whose completion runs `done` (status as for
 * tls_conn_write). *queued is the number of bytes queued: `done` runs
 * later if and only if it is not 0. Returns 0, or CN_EIO / CN_ENOMEM
 * (nothing queued, done not called). */
int tls_conn_send(struct tls_conn *t, uv_stream_t *st, const char *p, size_t n,
                  void (*done)(void *arg, int status), void *arg, size_t *queued);

/* A connection that will be quiet for a while (a parked blocking query):
 * give back OpenSSL's record buffers (about 34 KiB; allocated again on the
 * next record). Buffers are kept between records otherwise, for keep-alive
 * throughput. */
void tls_conn_idle(struct tls_conn *t);

/* Queue a close_notify alert (written to st). */
void tls_conn_close_notify(struct tls_conn *t, uv_stream_t *st);

/* The negotiated protocol and cipher suite ("TLSv1.3", "TLS_AES_128_GCM_SHA256"). */
void tls_conn_params(const struct tls_conn *t, const char **version, const char **cipher);

/* The first URI SAN of the peer certificate (Connect: its SPIFFE ID) into
 * out. 0, or CN_ENOTFOUND (no certificate, no URI SAN, or it does not fit). */
int tls_conn_peer_uri(const struct tls_conn *t, char *out, size_t cap);

/* The peer certificate carries DNS SAN `name` (or, without SANs, CN). */
bool tls_conn_peer_has_name(const struct tls_conn *t, const char *name);

/* ---- the built-in CA (cert.c) ----------------------------------------------------- */

struct tls_ca_req {
    int days;             /* validity */
    const char *domain;   /* "consul": permitted name constraint and file names */
    bool name_constraint; /* add permitted DNS subtrees: domain, localhost, additional */
    const char *const *extra_constraints;
    size_t nextra;
    const char *cert_path, *key_path; /* where to write (0644 cert, 0600 key; O_EXCL) */
};
int tls_ca_create(const struct tls_ca_req *r, char *err, size_t errcap);

enum tls_cert_kind { TLS_CERT_SERVER, TLS_CERT_CLIENT, TLS_CERT_CLI };
struct tls_cert_req {
    enum tls_cert_kind kind;
    int days;
    const char *dc, *domain, *node; /* node: adds <node>.server.<dc>.<domain> (servers) */
    const char *const *dnsnames;    /* -additional-dnsname */
    size_t ndns;
    const char *const *ips; /* -additional-ipaddress */
    size_t nips;
    const char *ca_cert, *ca_key;     /* PEM files of the CA */
    const char *cert_path, *key_path; /* outputs */
};
int tls_cert_create(const struct tls_cert_req *r, char *err, size_t errcap);

#endif
