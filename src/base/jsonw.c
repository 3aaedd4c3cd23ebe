#include "base/jsonw.h"

#include <stdbool.h>
#include <string.h>

#include "base/err.h"

void cn_jsonw_init(struct cn_jsonw *w, struct cn_buf *b, int pretty)
{
    memset(w, 0, sizeof(*w));
    w->b = b;
    w->pretty = pretty;
}

static void put_slow(struct cn_jsonw *w, const char *s, size_t n)
{
    if (!w->err && cn_buf_append(w->b, s, n))
        w->err = CN_ENOMEM;
}

/* The hot path of every response body: a bounds check and a memcpy. */
static inline void put(struct cn_jsonw *w, const char *s, size_t n)
{
    struct cn_buf *b = w->b;
    if (b->cap - b->len > n) {
        memcpy(b->p + b->len, s, n);
        b->len += n;
    } else {
        put_slow(w, s, n);
    }
}

static inline void put1(struct cn_jsonw *w, char c)
{
    struct cn_buf *b = w->b;
    if (b->cap - b->len > 1)
        b->p[b->len++] = c;
    else
        put_slow(w, &c, 1);
}

static void newline(struct cn_jsonw *w)
{
    if (!w->pretty)
        return;
    put(w, "\n", 1);
    for (int i = 0; i < w->depth; i++)
        put(w, "    ", 4);
}

/* Called before every value or key: comma and indentation. */
static void sep(struct cn_jsonw *w)
{
    if (w->after_key) {
        w->after_key = 0;
        return;
    }
    if (w->depth > 0) {
        if (w->need_comma[w->depth - 1])
            put1(w, ',');
        w->need_comma[w->depth - 1] = 1;
        newline(w);
    }
}

static void open(struct cn_jsonw *w, char c)
{
    sep(w);
    put1(w, c);
    if (w->depth >= CN_JSONW_MAX_DEPTH) {
        w->err = CN_ETOOBIG;
        return;
    }
    w->need_comma[w->depth++] = 0;
}

static void close_(struct cn_jsonw *w, char c)
{
    if (w->depth <= 0) {
        w->err = CN_EINVAL;
        return;
    }
    int had = w->need_comma[--w->depth];
    if (had)
        newline(w);
    put1(w, c);
}

void cn_jsonw_obj_open(struct cn_jsonw *w)
{
    open(w, '{');
}
void cn_jsonw_obj_close(struct cn_jsonw *w)
{
    close_(w, '}');
}
void cn_jsonw_arr_open(struct cn_jsonw *w)
{
    open(w, '[');
}
void cn_jsonw_arr_close(struct cn_jsonw *w)
{
    close_(w, ']');
}

/* Bytes that need a look, as Go's encoding/json (encodeState.string) has
 * it: control characters, '"', '\\', (HTML-safe) '<', '>', '&' (1), and
 * every byte of a multi-byte sequence (2), which must be valid UTF-8. */
static const unsigned char needs_escape[256] = {
    [0 ... 0x1f] = 1, ['"'] = 1, ['\\'] = 1, ['<'] = 1, ['>'] = 1, ['&'] = 1, [0x80 ... 0xff] = 2,
};

/* The length of the valid UTF-8 sequence at s[0..n) (s[0] >= 0x80), or 0
 * when it is not one: Go's utf8.DecodeRune, which refuses overlong forms,
 * surrogates and code points above U+10FFFF, one byte at a time. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* the range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return len;
}

static void escaped(struct cn_jsonw *w, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    /* Worst case every byte becomes \u00XX: reserve once, then write in place. */
    if (w->err || cn_buf_reserve(w->b, n * 6 + 2)) {
        w->err = CN_ENOMEM;
        return;
    }
    char *o = w->b->p + w->b->len;
    *o++ = '"';
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!needs_escape[c])
            continue;
        if (needs_escape[c] == 2) {
            const unsigned char *u = (const unsigned char *)s + i;
            size_t len = utf8_len(u, n - i);
            /* U+2028 and U+2029 are escaped (JSONP-safe), as Go does */
            bool sep = len == 3 && u[0] == 0xE2 && u[1] == 0x80 && (u[2] & 0xFE) == 0xA8;
            if (len && !sep) {
                i += len - 1;
                continue;
            }
            memcpy(o, s + start, i - start);
            o += i - start;
            /* an invalid byte becomes one U+FFFD, written as Go writes it */
            memcpy(o, sep ? (u[2] == 0xA8 ? "\\u2028" : "\\u2029") : "\\ufffd", 6);
            o += 6;
            i += sep ? 2 : 0;
            start = i + 1;
            continue;
        }
        memcpy(o, s + start, i - start);
        o += i - start;
        start = i + 1;
        *o++ = '\\';
        switch (c) {
        case '"':
            *o++ = '"';
            break;
        case '\\':
            *o++ = '\\';
            break;
        case '\n':
            *o++ = 'n';
            break;
        case '\r':
            *o++ = 'r';
            break;
        case '\t':
            *o++ = 't';
            break;
        default:
            *o++ = 'u', *o++ = '0', *o++ = '0';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        }
    }
    memcpy(o, s + start, n - start);
    o += n - start;
    *o++ = '"';
    w->b->len = (size_t)(o - w->b->p);
}

void cn_jsonw_key(struct cn_jsonw *w, const char *k)
{
    sep(w);
    escaped(w, k, strlen(k));
    if (w->pretty)
        put(w, ": ", 2);
    else
        put1(w, ':');
    w->after_key = 1;
}

void cn_jsonw_strn(struct cn_jsonw *w, const char *s, size_t n)
{
    sep(w);
    escaped(w, s ? s : "", s ? n : 0);
}

void cn_jsonw_str(struct cn_jsonw *w, const char *s)
{
    cn_jsonw_strn(w, s, s ? strlen(s) : 0);
}

void cn_jsonw_u64(struct cn_jsonw *w, uint64_t v)
{
    sep(w);
    if (!w->err && cn_buf_put_u64(w->b, v))
        w->err = CN_ENOMEM;
}

void cn_jsonw_i64(struct cn_jsonw *w, int64_t v)
{
    if (v < 0) {
        sep(w);
        put(w, "-", 1);
        w->after_key = 1; /* suppress a second separator */
        cn_jsonw_u64(w, (uint64_t)0 - (uint64_t)v);
    } else {
        cn_jsonw_u64(w, (uint64_t)v);
    }
}

void cn_jsonw_bool(struct cn_jsonw *w, int v)
{
    sep(w);
    put(w, v ? "true" : "false", v ? 4 : 5);
}

void cn_jsonw_null(struct cn_jsonw *w)
{
    sep(w);
    put(w, "null", 4);
}

void cn_jsonw_raw(struct cn_jsonw *w, const char *json, size_t n)
{
    sep(w);
    put(w, json, n);
}

void cn_jsonw_base64(struct cn_jsonw *w, const void *p, size_t n)
{
    sep(w);
    put(w, "\"", 1);
    if (!w->err && cn_base64_encode(w->b, p, n))
        w->err = CN_ENOMEM;
    put(w, "\"", 1);
}

void cn_jsonw_kstr(struct cn_jsonw *w, const char *k, const char *s)
{
    cn_jsonw_key(w, k);
    cn_jsonw_str(w, s);
}
void cn_jsonw_ku64(struct cn_jsonw *w, const char *k, uint64_t v)
{
    cn_jsonw_key(w, k);
    cn_jsonw_u64(w, v);
}
void cn_jsonw_ki64(struct cn_jsonw *w, const char *k, int64_t v)
{
    cn_jsonw_key(w, k);
    cn_jsonw_i64(w, v);
}
void cn_jsonw_kbool(struct cn_jsonw *w, const char *k, int v)
{
    cn_jsonw_key(w, k);
    cn_jsonw_bool(w, v);
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int cn_base64_encode(struct cn_buf *b, const void *src, size_t n)
{
    const unsigned char *p = src;
    size_t out = (n + 2) / 3 * 4;
    if (cn_buf_reserve(b, out))
        return CN_ENOMEM;
    char *o = b->p + b->len;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        *o++ = b64[v >> 18];
        *o++ = b64[(v >> 12) & 63];
        *o++ = b64[(v >> 6) & 63];
        *o++ = b64[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        *o++ = b64[v >> 18];
        *o++ = b64[(v >> 12) & 63];
        *o++ = '=';
        *o++ = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        *o++ = b64[v >> 18];
        *o++ = b64[(v >> 12) & 63];
        *o++ = b64[(v >> 6) & 63];
        *o++ = '=';
    }
    b->len += out;
    return 0;
}

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int cn_base64_decode(struct cn_buf *b, const char *s, size_t n)
{
    while (n > 0 && s[n - 1] == '=')
        n--;
    if (n % 4 == 1)
        return CN_EINVAL;
    if (cn_buf_reserve(b, n / 4 * 3 + 3))
        return CN_ENOMEM;
    size_t start = b->len;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val((unsigned char)s[i]);
        if (v < 0) {
            b->len = start;
            return CN_EINVAL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            b->p[b->len++] = (char)((acc >> bits) & 0xff);
        }
    }
    return 0;
}
