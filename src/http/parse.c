/* http/parse.c: request parsing on top of llhttp.
 *
 * llhttp hands out spans of the input; we copy each span into the request's
 * arena as it arrives, so a request split over many reads never needs the read
 * buffer to stay around. At the end of each message the parser pauses
 * (HPE_PAUSED) so pipelined requests are dispatched one at a time. */
#include <string.h>
#include <strings.h>

#include "base/assert.h"
#include "base/err.h"
#include "base/mem.h"
#include "base/text.h"
#include "http/http_int.h"

/* ---- arena ---- */

#define ARENA_BLOCK 4096

static int arena_new_block(struct http__arena *a, size_t need)
{
    size_t sz = need > ARENA_BLOCK ? need : ARENA_BLOCK;
    struct http__blk *b = cn_malloc(sizeof(*b) + sz);
    if (!b)
        return CN_ENOMEM;
    b->next = a->blocks;
    a->blocks = b;
    a->cur = b->data;
    a->end = b->data + sz;
    return 0;
}

void *http__arena_alloc(struct http__arena *a, size_t n)
{
    uintptr_t p = ((uintptr_t)a->cur + 7) & ~(uintptr_t)7;
    if (p > (uintptr_t)a->end || n > (size_t)((uintptr_t)a->end - p)) {
        if (arena_new_block(a, n + 8) != 0)
            return NULL;
        p = ((uintptr_t)a->cur + 7) & ~(uintptr_t)7;
    }
    a->cur = (char *)p + n;
    return (void *)p;
}

int http__arena_grow(struct http__arena *a, const char *p, size_t n)
{
    if (!a->open)
        a->open = a->cur;
    /* Keep one byte for the NUL that http__arena_finish() adds. */
    if (n + 1 > (size_t)(a->end - a->cur)) {
        size_t have = (size_t)(a->cur - a->open);
        char *old = a->open;
        if (arena_new_block(a, 2 * (have + n + 1)) != 0)
            return CN_ENOMEM;
        memcpy(a->cur, old, have);
        a->open = a->cur;
        a->cur += have;
    }
    memcpy(a->cur, p, n);
    a->cur += n;
    return 0;
}

char *http__arena_finish(struct http__arena *a, size_t *len)
{
    if (!a->open && http__arena_grow(a, "", 0) != 0)
        return NULL;
    if (a->cur == a->end && http__arena_grow(a, "", 0) != 0) /* room for the NUL */
        return NULL;
    char *s = a->open;
    if (len)
        *len = (size_t)(a->cur - s);
    *a->cur++ = '\0';
    a->open = NULL;
    return s;
}

/* ---- percent-decoding (RFC 3986 §2.1) ---- */

/* Decode src[0..n) into dst (room for n + 1). '+' becomes ' ' when `plus`
 * (form encoding, as Go's url.QueryUnescape). Returns the decoded length, or
 * -1 on an invalid escape or an encoded NUL (which a C string cannot carry). */
static long pct_decode(char *dst, const char *src, size_t n, bool plus)
{
    char *o = dst;
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        if (c == '%') {
            if (i + 2 >= n)
                return -1;
            int h = cn_hexval((unsigned char)src[i + 1]), l = cn_hexval((unsigned char)src[i + 2]);
            if (h < 0 || l < 0 || (h == 0 && l == 0))
                return -1;
            *o++ = (char)(h << 4 | l);
            i += 2;
        } else if (c == '+' && plus) {
            *o++ = ' ';
        } else {
            *o++ = c;
        }
    }
    *o = '\0';
    return (long)(o - dst);
}

static bool has_nul_escape(const char *s, size_t n)
{
    for (size_t i = 0; i + 2 < n; i++)
        if (s[i] == '%' && s[i + 1] == '0' && s[i + 2] == '0')
            return true;
    return false;
}

int http__parse_target(struct http__req *r, const char *raw, size_t len)
{
    const char *p = raw, *end = raw + len;

    /* absolute-form (RFC 7230 §5.3.2): skip scheme and authority. */
    if ((len >= 7 && strncasecmp(p, "http://", 7) == 0) ||
        (len >= 8 && strncasecmp(p, "https://", 8) == 0)) {
        p = memchr(p, ':', len) + 3;
        const char *slash = memchr(p, '/', (size_t)(end - p));
        const char *q = memchr(p, '?', (size_t)(end - p));
        if (q && (!slash || q < slash))
            return 400;
        if (!slash) {
            p = "/";
            end = p + 1;
        } else {
            p = slash;
        }
    }
    if (p == end || (*p != '/' && !(end - p == 1 && *p == '*')))
        return 400;

    const char *q = memchr(p, '?', (size_t)(end - p));
    const char *pend = q ? q : end;
    size_t plen = (size_t)(pend - p);
    char *path = http__arena_alloc(&r->arena, plen + 1);
    if (!path)
        return 500;
    long dl = pct_decode(path, p, plen, false);
    if (dl < 0)
        return 400;
    r->pub.path = path;
    r->pub.path_len = (size_t)dl;
    r->pub.params = NULL;
    r->pub.nparams = 0;
    if (!q)
        return 0;

    /* The query, as Go's url.ParseQuery: split on '&', skip empty pieces,
     * drop pieces holding ';' or an invalid escape (Go's Request.URL.Query()
     * discards them silently); keys and values decode '+' as space. An encoded
     * NUL anywhere is refused outright: it would silently truncate. */
    const char *qs = q + 1;
    size_t qlen = (size_t)(end - qs);
    if (has_nul_escape(qs, qlen))
        return 400;
    size_t max = 1;
    for (size_t i = 0; i < qlen; i++)
        max += qs[i] == '&';
    struct http_param *params = http__arena_alloc(&r->arena, max * sizeof(*params));
    char *txt = http__arena_alloc(&r->arena, qlen + 2 * max);
    if (!params || !txt)
        return 500;
    size_t np = 0;
    const char *s = qs;
    while (s < end) {
        const char *amp = memchr(s, '&', (size_t)(end - s));
        const char *e = amp ? amp : end;
        const char *eq = memchr(s, '=', (size_t)(e - s));
        if (e > s && !memchr(s, ';', (size_t)(e - s))) {
            const char *kend = eq ? eq : e;
            char *k = txt;
            long kl = pct_decode(k, s, (size_t)(kend - s), true);
            char *v = k + (kl < 0 ? 0 : kl) + 1;
            long vl = eq ? pct_decode(v, eq + 1, (size_t)(e - eq - 1), true) : (*v = '\0', 0);
            if (kl >= 0 && vl >= 0) {
                params[np].key = k;
                params[np].value = v;
                params[np].has_value = eq != NULL;
                np++;
                txt = v + vl + 1;
            }
        }
        s = amp ? amp + 1 : end;
    }
    r->pub.params = params;
    r->pub.nparams = np;
    return 0;
}

/* ---- lookups ---- */

static const char *find_header(const struct http__req *r, const char *name)
{
    if (r->flags & HTTP__R_PACKED) {
        for (const char *h = r->packed; *h;) {
            const char *v = h + strlen(h) + 1;
            if (strcasecmp(h, name) == 0)
                return v;
            h = v + strlen(v) + 1;
        }
        return NULL;
    }
    for (const struct http__hdr *h = r->hdrs; h; h = h->next)
        if (strcasecmp(h->name, name) == 0)
            return h->value;
    return NULL;
}

const char *http_req_header(const struct http_req *req, const char *name)
{
    const struct http__req *r = (const struct http__req *)req;
    /* A connection's request keeps only the headers its server's handlers
     * declared (http_options.keep_headers): asking for another is a bug of
     * the declaration (it would read NULL where the client sent a value). */
    CN_ASSERT(!r->srv || http__server_keeps(r->srv, name));
    return find_header(r, name);
}

const struct http_param *http_req_param(const struct http_req *req, const char *key)
{
    for (size_t i = 0; i < req->nparams; i++)
        if (strcmp(req->params[i].key, key) == 0)
            return &req->params[i];
    return NULL;
}

/* ---- llhttp callbacks ---- */

static struct http__parser *P(llhttp_t *ll)
{
    return ll->data;
}

static int fail(struct http__parser *p, int status)
{
    if (!p->err_status)
        p->err_status = status;
    return -1;
}

/* Bytes of the request line and header section; each span plus the separators
 * we do not see ("GET ", " HTTP/1.1\r\n", ": ", "\r\n"). */
static int count_hdr(struct http__parser *p, size_t n)
{
    p->hdr_bytes += n;
    if (p->hdr_bytes > p->max_header_bytes)
        return fail(p, 431);
    return 0;
}

static int on_message_begin(llhttp_t *ll)
{
    struct http__parser *p = P(ll);
    p->hdr_bytes = 0;
    p->raw_hdr_bytes = 0;
    p->hdr_tail = NULL;
    p->cur_name = NULL;
    p->body_cap = 0;
    p->req = http__req_new(p->srv);
    if (!p->req)
        return fail(p, 500);
    if (p->on_begin)
        p->on_begin(p);
    return 0;
}

static int on_url(llhttp_t *ll, const char *at, size_t n)
{
    struct http__parser *p = P(ll);
    if (count_hdr(p, n) != 0)
        return -1;
    if (http__arena_grow(&p->req->arena, at, n) != 0)
        return fail(p, 500);
    return 0;
}

static int on_url_complete(llhttp_t *ll)
{
    struct http__parser *p = P(ll);
    if (count_hdr(p, 16) != 0) /* method, version, spaces, CRLF */
        return -1;
    p->req->pub.raw_target = http__arena_finish(&p->req->arena, NULL);
    return p->req->pub.raw_target ? 0 : fail(p, 500);
}

static int on_header_field(llhttp_t *ll, const char *at, size_t n)
{
    struct http__parser *p = P(ll);
    if (count_hdr(p, n) != 0)
        return -1;
    if (http__arena_grow(&p->req->arena, at, n) != 0)
        return fail(p, 500);
    return 0;
}

static int on_header_field_complete(llhttp_t *ll)
{
    struct http__parser *p = P(ll);
    p->cur_name = http__arena_finish(&p->req->arena, NULL);
    return p->cur_name ? 0 : fail(p, 500);
}

static int on_header_value(llhttp_t *ll, const char *at, size_t n)
{
    return on_header_field(ll, at, n);
}

static int on_header_value_complete(llhttp_t *ll)
{
    struct http__parser *p = P(ll);
    struct http__req *r = p->req;
    if (count_hdr(p, 4) != 0)
        return -1;
    size_t vlen;
    char *v = http__arena_finish(&r->arena, &vlen);
    if (!v)
        return fail(p, 500);
    while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
        v[--vlen] = '\0'; /* trailing OWS, RFC 7230 §3.2.4 */
    struct http__hdr *h = http__arena_alloc(&r->arena, sizeof(*h));
    if (!h)
        return fail(p, 500);
    h->next = NULL;
    h->name = p->cur_name ? p->cur_name : "";
    h->value = v;
    p->cur_name = NULL;
    if (p->hdr_tail)
        p->hdr_tail->next = h;
    else
        r->hdrs = h;
    p->hdr_tail = h;
    return 0;
}

static enum http_method map_method(uint8_t m)
{
    switch (m) {
    case HTTP_GET:
        return HTTP_M_GET;
    case HTTP_HEAD:
        return HTTP_M_HEAD;
    case HTTP_PUT:
        return HTTP_M_PUT;
    case HTTP_POST:
        return HTTP_M_POST;
    case HTTP_DELETE:
        return HTTP_M_DELETE;
    case HTTP_OPTIONS:
        return HTTP_M_OPTIONS;
    case HTTP_PATCH:
        return HTTP_M_PATCH;
    default:
        return HTTP_M_OTHER;
    }
}

static int on_headers_complete(llhttp_t *ll)
{
    struct http__parser *p = P(ll);
    struct http__req *r = p->req;
    r->flags |= HTTP__R_HEADERS_DONE;
    r->pub.method = map_method(ll->method);
    r->pub.method_str = llhttp_method_name((llhttp_method_t)ll->method);
    if (ll->http_major == 1 && ll->http_minor == 0)
        r->flags |= HTTP__R_HTTP10;

    p->body_limit = p->max_body_bytes;
    if (p->large_path && r->pub.raw_target) {
        size_t n = strlen(p->large_path);
        const char *t = r->pub.raw_target;
        if (strncmp(t, p->large_path, n) == 0 && (t[n] == '\0' || t[n] == '?'))
            p->body_limit = p->large_body_bytes;
    }
    if (ll->flags & F_CONTENT_LENGTH) {
        if (ll->content_length > p->body_limit)
            return fail(p, 413);
        char *b = http__arena_alloc(&r->arena, (size_t)ll->content_length + 1);
        if (!b)
            return fail(p, 500);
        r->pub.body = b;
    }
    const char *expect = find_header(r, "Expect"); /* ours, before any filtering */
    /* RFC 7231 §5.1.1: a client sending "Expect: 100-continue" waits for an
     * interim 100 before the body; only HTTP/1.1 clients may. The 413 above
     * already refused an announced body that is too large. */
    if (expect && strcasecmp(expect, "100-continue") == 0 && !(r->flags & HTTP__R_HTTP10) &&
        (ll->flags & (F_CONTENT_LENGTH | F_CHUNKED)) &&
        (ll->content_length > 0 || (ll->flags & F_CHUNKED))) {
        r->flags |= HTTP__R_EXPECT;
        if (p->on_continue)
            p->on_continue(p);
    }
    return 0;
}

static int on_body(llhttp_t *ll, const char *at, size_t n)
{
    struct http__parser *p = P(ll);
    struct http__req *r = p->req;
    if (!(ll->flags & F_CHUNKED)) {
        /* Content-Length: the arena buffer was sized at headers complete and
         * llhttp never hands more than the announced length. */
        memcpy((char *)r->pub.body + r->pub.body_len, at, n);
        r->pub.body_len += n;
        return 0;
    }
    if (n > p->body_limit - r->pub.body_len)
        return fail(p, 413);
    if (r->pub.body_len + n + 1 > p->body_cap) {
        size_t cap = p->body_cap ? p->body_cap : 256;
        while (cap < r->pub.body_len + n + 1)
            cap *= 2;
        char *old = r->flags & HTTP__R_HEAP_BODY ? (char *)r->pub.body : NULL;
        char *nb = cn_realloc(old, cap);
        if (!nb)
            return fail(p, 500);
        r->pub.body = nb;
        p->body_cap = cap;
        r->flags |= HTTP__R_HEAP_BODY;
    }
    memcpy((char *)r->pub.body + r->pub.body_len, at, n);
    r->pub.body_len += n;
    return 0;
}

static int on_message_complete(llhttp_t *ll)
{
    struct http__parser *p = P(ll);
    struct http__req *r = p->req;
    if (r->pub.body)
        ((char *)r->pub.body)[r->pub.body_len] = '\0';
    else
        r->pub.body = "";
    int st = http__parse_target(r, r->pub.raw_target, strlen(r->pub.raw_target));
    if (st)
        return fail(p, st);
    /* An upgrade (or CONNECT) is not ours to follow: answer, then close. */
    if (llhttp_should_keep_alive(ll) && !ll->upgrade)
        r->flags |= HTTP__R_KEEP_ALIVE;
    p->req = http__req_compact(r, p->keep);
    return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_url_complete = on_url_complete,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void http__parser_init(struct http__parser *p, struct http_server *srv, size_t max_header_bytes,
                       size_t max_body_bytes)
{
    memset(p, 0, sizeof(*p));
    llhttp_init(&p->ll, HTTP_REQUEST, &settings);
    p->ll.data = p;
    p->srv = srv;
    p->max_header_bytes = max_header_bytes;
    p->max_body_bytes = max_body_bytes;
    p->body_limit = max_body_bytes;
}

void http__parser_resume(struct http__parser *p)
{
    if (llhttp_get_errno(&p->ll) == HPE_PAUSED)
        llhttp_resume(&p->ll);
}

int http__parser_feed(struct http__parser *p, const char *data, size_t n, size_t *used,
                      bool *complete)
{
    *complete = false;
    llhttp_errno_t e = llhttp_execute(&p->ll, data, n);
    if (e == HPE_OK) {
        *used = n;
        /* Whitespace inside the header section reaches no callback; a read
         * that ends with the headers still incomplete was all header bytes. */
        if (p->req && !(p->req->flags & HTTP__R_HEADERS_DONE)) {
            p->raw_hdr_bytes += n;
            if (p->raw_hdr_bytes > p->max_header_bytes)
                return 431;
        }
        return 0;
    }
    if (e == HPE_PAUSED && p->req && !p->err_status) {
        *used = (size_t)(llhttp_get_error_pos(&p->ll) - data);
        *complete = true;
        return 0;
    }
    *used = n;
    return p->err_status ? p->err_status : 400;
}

/* ---- http_parse_buffer ---- */

int http_parse_buffer(const char *data, size_t len, size_t max_header_bytes, size_t max_body_bytes,
                      void (*cb)(void *arg, struct http_req *req), void *arg)
{
    return http__parse_buffer_keep(data, len, max_header_bytes, max_body_bytes, NULL, cb, arg);
}

int http__parse_buffer_keep(const char *data, size_t len, size_t max_header_bytes,
                            size_t max_body_bytes, const char *const *keep,
                            void (*cb)(void *arg, struct http_req *req), void *arg)
{
    struct http__parser p;
    http__parser_init(&p, NULL, max_header_bytes ? max_header_bytes : 64 * 1024,
                      max_body_bytes ? max_body_bytes : 8 * 1024 * 1024);
    p.keep = keep;
    int st = 0;
    for (;;) {
        size_t used;
        bool complete;
        st = http__parser_feed(&p, data, len, &used, &complete);
        data += used;
        len -= used;
        if (st || !complete)
            break;
        struct http__req *r = p.req;
        p.req = NULL;
        bool alive = r->flags & HTTP__R_KEEP_ALIVE;
        if (cb)
            cb(arg, &r->pub);
        http__req_free(r);
        if (!alive)
            break; /* a server would close here: later bytes are not requests */
        http__parser_resume(&p);
    }
    if (p.req)
        http__req_free(p.req);
    return st;
}
