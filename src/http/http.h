/* http/http.h: an HTTP/1.1 server on libuv, parsing with llhttp.
 *
 * Keep-alive; pipelined requests are served strictly in order (the next request
 * on a connection is not dispatched until the previous one has been answered);
 * bounded header bytes, body bytes and idle time; requests can be parked for a
 * long time (blocking queries) cheaply: a parked request holds only its
 * connection and its exact-size request (no read buffer, no parser) and one
 * entry in a deadline heap driven by a single uv_timer.
 *
 * Knows nothing of Consul or JSON. All on the loop thread. */
#ifndef CN_HTTP_H
#define CN_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

struct http_server;
struct http_req;
struct ssl_ctx_st; /* OpenSSL's SSL_CTX */

enum http_method {
    HTTP_M_OTHER = 0,
    HTTP_M_GET,
    HTTP_M_HEAD,
    HTTP_M_PUT,
    HTTP_M_POST,
    HTTP_M_DELETE,
    HTTP_M_OPTIONS,
    HTTP_M_PATCH,
};

struct http_param { /* one query parameter, percent-decoded, NUL-terminated */
    const char *key;
    const char *value; /* "" when given as "?key" or "?key=" */
    bool has_value;    /* false for "?key" without '=' */
};

struct http_req {
    enum http_method method;
    const char *method_str;
    const char *path; /* percent-decoded path, without the query; NUL-terminated */
    size_t path_len;
    const char *raw_target; /* the request target as received */
    struct http_param *params;
    size_t nparams;
    const char *body; /* NUL-terminated for convenience (not counted) */
    size_t body_len;
    void *user; /* free for the handler */
    /* Also the handler's, kept until the answer (zero at dispatch): api/
     * tags a routed request with its route and start time for metrics. */
    const void *tag;
    uint64_t tag_ns;
};

/* Called for every complete request. The handler must eventually call
 * http_respond exactly once (now or later: a parked request). */
typedef void (*http_handler_cb)(void *arg, struct http_req *req);
/* Called if the client goes away (or the server closes) while a request is
 * unanswered; after it returns the request must not be used except to call
 * http_respond, which then just frees it. */
typedef void (*http_abort_cb)(struct http_req *req);
typedef void (*http_timeout_cb)(struct http_req *req);

struct http_options {
    const char *host;           /* bind address, e.g. "127.0.0.1" or "::1" or "0.0.0.0" */
    int port;                   /* 0 = ephemeral; see http_server_port */
    size_t max_header_bytes;    /* 0 = 64 KiB -> 431 */
    size_t max_body_bytes;      /* 0 = 8 MiB -> 413 */
    uint64_t idle_timeout_ms;   /* keep-alive idle; 0 = 120 s */
    uint64_t header_timeout_ms; /* time to receive a full request once started; 0 = 30 s */
    int backlog;                /* 0 = 4096 */
    /* Requests to this exact path (e.g. "/v1/snapshot", a restore's archive)
     * may carry bodies up to large_body_bytes instead (NULL: none). */
    const char *large_body_path;
    size_t large_body_bytes;
    /* The request headers the handlers read (case-insensitive names,
     * NULL-terminated; NULL: all). A complete request keeps only these, so a
     * parked one holds its token, not its User-Agent; in builds with
     * CN_ASSERT on, http_req_header of any other name aborts. Borrowed:
     * must outlive the server. */
    const char *const *keep_headers;
    /* Go's ServeMux: a request whose decoded path is not clean (http_path_clean
     * changes it) is answered 301 to the clean path, its query kept, and
     * never reaches the handler (CONNECT excepted). */
    bool clean_paths;
    http_handler_cb handler;
    void *handler_arg;
    /* HTTPS: TLS on every connection with this context (tls/tls.h;
     * borrowed: the server takes its own reference). NULL: plain HTTP. */
    struct ssl_ctx_st *tls;
};

int http_server_start(uv_loop_t *loop, const struct http_options *opt, struct http_server **out,
                      char *err, size_t errcap);
int http_server_port(const struct http_server *s);
/* HTTPS: connections accepted from now on use ctx (a reference is taken);
 * open ones keep the context they started with (certificate reload). */
void http_server_set_tls(struct http_server *s, struct ssl_ctx_st *ctx);
/* Stop listening, abort parked requests (abort callbacks run), close all
 * connections; `done` (may be NULL) runs when every handle is closed. */
void http_server_stop(struct http_server *s, void (*done)(void *), void *arg);
/* A clean shutdown: stop listening, answer every parked request now (its
 * timeout callback runs, as if its wait had run out), give the answers
 * being written and the requests still being worked on up to grace_ms to
 * finish (each connection closes after its answer), and close idle
 * connections at once.
 * `done` as for http_server_stop. */
void http_server_drain(struct http_server *s, uint64_t grace_ms, void (*done)(void *), void *arg);

/* Go's path.Clean of the n bytes at p, rooted, a trailing slash kept (net/http's
 * cleanPath): doubled slashes, "." elements and ".." with the element
 * before it go. out holds n + 2 bytes; returns the length, NUL-terminated. */
size_t http_path_clean(const char *p, size_t n, char *out);
/* 1 with the Location of Go's redirect appended to *location (NUL-terminated:
 * the clean path escaped as Go's URL.EscapedPath, then the request's query)
 * when req's path is not clean; 0 when it is (or the method is CONNECT);
 * CN_ENOMEM. */
struct cn_buf;
int http_path_redirect(const struct http_req *req, struct cn_buf *location);

/* Lookups. Header names are case-insensitive. Return NULL when absent. */
const char *http_req_header(const struct http_req *req, const char *name);
const struct http_param *http_req_param(const struct http_req *req, const char *key);

/* Send the response. extra_headers are pre-formatted lines, each ending in
 * "\r\n" (e.g. "X-Consul-Index: 5\r\n"), may be NULL. Content-Length and
 * Date are added here; content_type NULL means no Content-Type header.
 * Copies everything. Frees req (after abort: only frees). */
void http_respond(struct http_req *req, int status, const char *content_type,
                  const char *extra_headers, size_t extra_len, const void *body, size_t body_len);

/* http_respond with the body borrowed instead of copied: it is written from
 * where it is, and release(release_arg) runs exactly once when it is no
 * longer needed (written, failed, or nothing to send), possibly before this
 * returns. release NULL: http_respond. */
void http_respond_ref(struct http_req *req, int status, const char *content_type,
                      const char *extra_headers, size_t extra_len, const void *body,
                      size_t body_len, void (*release)(void *), void *release_arg);

/* Park: call on_timeout (exactly once) after timeout_ms unless answered or
 * aborted first. on_abort as above. Re-parking replaces the deadline. While
 * the server drains (http_server_drain) on_timeout runs at once, before this
 * returns: park only as the last thing done with req. */
void http_req_park(struct http_req *req, uint64_t timeout_ms, http_timeout_cb on_timeout,
                   http_abort_cb on_abort);
/* Cancel a pending park deadline (the request stays unanswered). */
void http_req_unpark(struct http_req *req);

/* ---- virtual requests ---------------------------------------------------------------
 * A request that did not come from a connection: a client agent's API
 * request run on a server (api/remote.c). It behaves as a connection's
 * request for the handler (headers, parameters, parking with a deadline,
 * http_respond), and the answer goes to `done` instead of a socket (the
 * extra headers as http_respond got them; no Date or Content-Length). */
struct http_vhdr {
    const char *name, *value; /* not NUL-terminated */
    size_t name_len, value_len;
};
typedef void (*http_vreq_done_cb)(void *arg, int status, const char *content_type,
                                  const char *extra_headers, size_t extra_len, const void *body,
                                  size_t body_len);
/* 0 with *out, or the HTTP status of what is wrong with the request (400 for
 * a malformed target or method, 500 out of memory). Everything is copied. */
int http_vreq_new(uv_loop_t *loop, const char *method, size_t method_len, const char *target,
                  size_t target_len, const struct http_vhdr *hdrs, size_t nhdrs, const void *body,
                  size_t body_len, http_vreq_done_cb done, void *arg, struct http_req **out);
/* The requester went away: the request's abort callback runs (as for a
 * closed connection) and `done` never runs; the handler's http_respond then
 * only frees it. */
void http_vreq_abort(struct http_req *req);
/* Is req a virtual request (a client agent's, run here)? */
bool http_req_is_virtual(const struct http_req *req);
/* Virtual requests created and not yet freed (tests: a cancelled blocking
 * query holds nothing). */
uint64_t http_vreq_live(void);
/* ---- streamed responses -------------------------------------------------
 * http_stream_start sends the status line and headers with
 * "Transfer-Encoding: chunked" (Content-Length when content_length is not
 * -1); the request stays the connection's current one (pipelined requests
 * wait) until http_stream_end. Each http_stream_write is one chunk, copied.
 * Backpressure is the caller's: http_stream_queued says how many bytes the
 * socket has not taken yet, and on_drain runs when that falls to
 * HTTP_STREAM_LOW or less after a write. on_abort runs if the client goes
 * away; after it only http_stream_end may be called (it just frees).
 * http_stream_end(ok = false) closes the connection without the final chunk,
 * so the client sees a broken body, not a short one. */
#define HTTP_STREAM_LOW (64 * 1024)
typedef void (*http_drain_cb)(struct http_req *req);
int http_stream_start(struct http_req *req, int status, const char *content_type,
                      const char *extra_headers, size_t extra_len, int64_t content_length,
                      http_drain_cb on_drain, http_abort_cb on_abort);
/* 0, CN_ESHUTDOWN (the client is gone), CN_ENOMEM. */
int http_stream_write(struct http_req *req, const void *p, size_t n);
size_t http_stream_queued(const struct http_req *req);
void http_stream_end(struct http_req *req, bool ok);

/* Counters for /agent/self and benchmarks. */
struct http_stats {
    uint64_t requests, connections_open, parked;
};
void http_server_stats(const struct http_server *s, struct http_stats *out);
/* The counters of the server that received req (all zero once req was
 * aborted): lets a handler report them without holding the server. */
void http_req_server_stats(const struct http_req *req, struct http_stats *out);

/* The request parser alone, for fuzzing and unit tests: feed bytes, get the
 * parsed requests through cb (req valid during the call only). Returns the
 * HTTP status of the first error (400, 413, 431, 414...) or 0. */
int http_parse_buffer(const char *data, size_t len, size_t max_header_bytes, size_t max_body_bytes,
                      void (*cb)(void *arg, struct http_req *req), void *arg);

#endif
