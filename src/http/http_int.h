/* http/http_int.h: private to src/http/. The request parser (parse.c) and the
 * connection machinery (server.c) share these structs.
 *
 * Memory, per connection:
 *   struct http__conn   malloc'd at accept, freed in the uv_close callback;
 *                       holds the uv_tcp_t and at most one request (the one
 *                       being answered).
 *   struct http__parser llhttp's state and the message being parsed: from
 *                       the server's pool, held only while a message is
 *                       half-received (an idle or parked connection has none).
 *   struct http__req    parsed into one fixed-size block (free list) that
 *                       starts with the public struct http_req and ends with
 *                       the first arena block; everything the request points
 *                       to (target, headers, params, body) lives in its arena
 *                       and is freed at once by http__req_free(). A complete
 *                       request that fits is moved to an exact-size block
 *                       (http__req_compact).
 *   pending bytes       pipelined input read while a request is unanswered,
 *                       malloc'd only while non-empty.
 * Read buffers are never held by a connection: one shared buffer per server
 * serves every read (the loop thread consumes it before the next read). */
#ifndef CN_HTTP_INT_H
#define CN_HTTP_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <llhttp.h>
#include <uv.h>

#include "http/http.h"

/* ---- arena: bump allocation plus one growable "open" string on top ---- */

struct http__blk {
    struct http__blk *next;
    char data[];
};

struct http__arena {
    char *cur, *end;          /* free space of the current block */
    char *open;               /* start of the open string, or NULL */
    struct http__blk *blocks; /* malloc'd overflow blocks */
};

void *http__arena_alloc(struct http__arena *a, size_t n);
/* Append to the open string (starting one if none). 0 or CN_ENOMEM. */
int http__arena_grow(struct http__arena *a, const char *p, size_t n);
/* Close the open string (NUL-terminated; "" if none was open). NULL on OOM. */
char *http__arena_finish(struct http__arena *a, size_t *len);

/* ---- requests ---- */

struct http__hdr {
    struct http__hdr *next;
    const char *name, *value;
};

enum { /* http__req.flags */
       HTTP__R_KEEP_ALIVE = 1u << 0,
       HTTP__R_HTTP10 = 1u << 1,  /* HTTP/1.0: keep-alive must be announced */
       HTTP__R_ABORTED = 1u << 2, /* the connection is gone */
       HTTP__R_PARKED = 1u << 3,  /* a park deadline is pending */
       HTTP__R_HEADERS_DONE = 1u << 4,
       HTTP__R_EXPECT = 1u << 5,     /* Expect: 100-continue */
       HTTP__R_HEAP_BODY = 1u << 6,  /* pub.body is malloc'd (chunked), not in the arena */
       HTTP__R_ABORT_SENT = 1u << 7, /* abort callback already ran */
       HTTP__R_STREAM = 1u << 8,     /* a streamed response is under way */
       HTTP__R_CHUNKED = 1u << 9,    /* ...in chunked transfer encoding */
       HTTP__R_EXACT = 1u << 10,     /* an exact-size block (http__req_compact) */
       HTTP__R_PACKED = 1u << 11,    /* headers are `packed`, not the `hdrs` list */
};

struct http__conn;

struct http__req {
    struct http_req pub;     /* first: the public pointer converts by cast */
    struct http_server *srv; /* for the free list; NULL once detached */
    struct http__conn *conn; /* NULL once aborted */
    union {
        struct http__hdr *hdrs; /* while parsed, and virtual requests */
        /* compacted (HTTP__R_PACKED): "name\0value\0" pairs, then "\0" */
        const char *packed;
    };
    http_timeout_cb on_timeout;
    http_abort_cb on_abort;
    struct http__virt *virt; /* a virtual request (virtual.c), else NULL */
    http_drain_cb on_drain;  /* streamed responses */
    uint32_t flags;
    struct http__arena arena;
    char inline_arena[]; /* up to HTTP__REQ_BLOCK */
};

/* One block holds the request and its first arena bytes while it is
 * parsed: enough for a Consul client's blocking query (the Go client's four
 * headers, a token and four parameters: test_parked_request_fits_inline).
 * Bigger requests take overflow blocks. Blocks are pooled per server. */
#define HTTP__REQ_BLOCK 768

struct http__req *http__req_new(struct http_server *srv);
void http__req_free(struct http__req *r);
/* A complete request that fits its inline block is copied into one
 * exact-size allocation (the struct, the parameter array, then every string
 * back to back; the headers packed, only those named in `keep` when it is
 * not NULL) and the block goes back to the pool: what a parked request holds
 * is the bytes a handler may still read, not 768. Returns the request to use
 * from now on (r itself when it is left as it is: it has overflow blocks, or
 * memory is short). Nothing may point into r yet but its own fields. */
struct http__req *http__req_compact(struct http__req *r, const char *const *keep);
/* Whether the handlers of s may read header `name` (http_options
 * .keep_headers; true when s keeps every header). */
bool http__server_keeps(const struct http_server *s, const char *name);
/* Tests: how many open connections hold a parser, and how many a block of
 * pipelined bytes. */
void http__server_held(const struct http_server *s, size_t *parsers, size_t *pend);

/* ---- virtual requests (virtual.c): what http_respond, http_req_park and
 * http_req_unpark do for them ---- */
struct http__virt;
void http__virt_respond(struct http__req *r, int status, const char *content_type,
                        const char *extra_headers, size_t extra_len, const void *body,
                        size_t body_len);
void http__virt_park(struct http__req *r, uint64_t timeout_ms);
void http__virt_unpark(struct http__req *r);
/* A streamed response to a virtual request is gathered whole and handed to
 * its callback at http_stream_end (its receiver takes one message). */
int http__virt_stream_start(struct http__req *r, int status, const char *content_type,
                            const char *extra_headers, size_t extra_len);
int http__virt_stream_write(struct http__req *r, const void *p, size_t n);
void http__virt_stream_end(struct http__req *r, bool ok);
/* Link a header (name and value copied into the arena). 0 or CN_ENOMEM. */
int http__req_add_header(struct http__req *r, const char *name, size_t nlen, const char *value,
                         size_t vlen);

/* ---- the parser, shared by connections and http_parse_buffer ---- */

struct http__parser {
    llhttp_t ll;
    struct http_server *srv; /* NULL in http_parse_buffer */
    struct http__req *req;   /* the message being parsed (or just completed) */
    const char *const *keep; /* http_options.keep_headers (NULL: all) */
    size_t max_header_bytes, max_body_bytes;
    const char *large_path; /* http_options.large_body_path */
    size_t large_body_bytes;
    size_t body_limit;    /* of the message being parsed */
    size_t hdr_bytes;     /* request line + headers seen so far (spans) */
    size_t raw_hdr_bytes; /* bytes of reads that ended inside the headers */
    int err_status;       /* set by our callbacks: 413, 431, 400, 500 */
    /* Called from on_headers_complete when the client waits for
     * "100 Continue" (may be NULL). */
    void (*on_continue)(struct http__parser *p);
    void (*on_begin)(struct http__parser *p); /* a message started (may be NULL) */
    /* the message being parsed */
    struct http__hdr *hdr_tail; /* last of req->hdrs */
    const char *cur_name;       /* header name waiting for its value */
    size_t body_cap;            /* of a heap body (HTTP__R_HEAP_BODY) */
    void *owner;                /* the connection (server.c) */
    uint64_t msg_start;         /* loop time of on_begin (server.c) */
};

void http__parser_init(struct http__parser *p, struct http_server *srv, size_t max_header_bytes,
                       size_t max_body_bytes);
/* Feed bytes. Returns 0 with *used = n when everything was consumed, 0 with
 * *used < n and p->req set to a complete request when paused at its end (the
 * caller takes p->req, and calls http__parser_resume before feeding again), or
 * an HTTP error status (400, 413, 431, 500). */
int http__parser_feed(struct http__parser *p, const char *data, size_t n, size_t *used,
                      bool *complete);
void http__parser_resume(struct http__parser *p);
/* http_parse_buffer keeping only the headers named in keep (NULL: all), as
 * a server with http_options.keep_headers does. */
int http__parse_buffer_keep(const char *data, size_t len, size_t max_header_bytes,
                            size_t max_body_bytes, const char *const *keep,
                            void (*cb)(void *arg, struct http_req *req), void *arg);
/* Split and decode the request target into req->pub (path, params).
 * Returns 0 or an HTTP status (400, 500). Exposed for unit tests. */
int http__parse_target(struct http__req *r, const char *raw, size_t len);

#endif
