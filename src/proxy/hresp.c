/* proxy/hresp.c: HTTP/1.1 response parsing for the proxy's agent client. */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/err.h"
#include "proxy/hresp.h"

#define MAX_HEAD 65536

static int fail(char *err, size_t cap, const char *why)
{
    snprintf(err, cap, "bad HTTP response from the agent: %s", why);
    return CN_EPROTO;
}

/* A decimal number of at most 19 digits in [p, e). */
static int dec(const char *p, const char *e, uint64_t *v)
{
    uint64_t x = 0;
    if (p == e || e - p > 19)
        return -1;
    for (; p < e; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        x = x * 10 + (uint64_t)(*p - '0');
    }
    *v = x;
    return 0;
}

static int hex(const char *p, const char *e, uint64_t *v)
{
    uint64_t x = 0;
    if (p == e || e - p > 15)
        return -1;
    for (; p < e; p++) {
        int d = *p >= '0' && *p <= '9'   ? *p - '0'
                : *p >= 'a' && *p <= 'f' ? *p - 'a' + 10
                : *p >= 'A' && *p <= 'F' ? *p - 'A' + 10
                                         : -1;
        if (d < 0)
            return -1;
        x = x * 16 + (uint64_t)d;
    }
    *v = x;
    return 0;
}

static const char *find(const char *p, const char *e, const char *s)
{
    size_t k = strlen(s);
    for (; p + k <= e; p++)
        if (!memcmp(p, s, k))
            return p;
    return NULL;
}

static void trim(const char **p, const char **e)
{
    while (*p < *e && (**p == ' ' || **p == '\t'))
        (*p)++;
    while (*e > *p && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
        (*e)--;
}

int px_hresp_parse(const char *p, size_t n, int eof, struct px_hresp *out, char *err, size_t cap)
{
    memset(out, 0, sizeof(*out));
    const char *end = p + n;
    const char *he = find(p, end, "\r\n\r\n");
    if (!he) {
        if (n > MAX_HEAD)
            return fail(err, cap, "header too large");
        return eof ? fail(err, cap, "truncated header") : 1;
    }
    /* status line: HTTP/1.x SP ddd SP reason */
    const char *le = find(p, he + 2, "\r\n");
    if (le - p < 12 || memcmp(p, "HTTP/1.", 7) != 0 || p[8] != ' ')
        return fail(err, cap, "bad status line");
    uint64_t st;
    if (dec(p + 9, p + 12, &st) || st < 100 || st > 599 || (le - p > 12 && p[12] != ' '))
        return fail(err, cap, "bad status code");
    bool chunked = false, have_len = false;
    uint64_t clen = 0;
    for (const char *h = le + 2; h < he + 2;) {
        const char *hl = find(h, he + 2, "\r\n");
        const char *c = memchr(h, ':', (size_t)(hl - h));
        if (!c)
            return fail(err, cap, "header line without a colon");
        const char *vp = c + 1, *ve = hl;
        trim(&vp, &ve);
        size_t kl = (size_t)(c - h);
        if (kl == 14 && !strncasecmp(h, "Content-Length", 14)) {
            if (dec(vp, ve, &clen))
                return fail(err, cap, "bad Content-Length");
            have_len = true;
        } else if (kl == 17 && !strncasecmp(h, "Transfer-Encoding", 17)) {
            if ((size_t)(ve - vp) != 7 || strncasecmp(vp, "chunked", 7) != 0)
                return fail(err, cap, "unsupported Transfer-Encoding");
            chunked = true;
        } else if (kl == 14 && !strncasecmp(h, "X-Consul-Index", 14)) {
            if (dec(vp, ve, &out->index))
                return fail(err, cap, "bad X-Consul-Index");
        } else if (kl == 20 && !strncasecmp(h, "X-Consul-ContentHash", 20)) {
            /* sent back as ?hash=: letters and digits only */
            size_t vl = (size_t)(ve - vp);
            if (!vl || vl >= sizeof(out->hash))
                return fail(err, cap, "bad X-Consul-ContentHash");
            for (size_t i = 0; i < vl; i++)
                if (!isalnum((unsigned char)vp[i]))
                    return fail(err, cap, "bad X-Consul-ContentHash");
            memcpy(out->hash, vp, vl);
            out->hash[vl] = '\0';
        }
        h = hl + 2;
    }
    const char *b = he + 4;
    size_t avail = (size_t)(end - b);
    int rc = 0;
    if (chunked) {
        const char *q = b;
        for (;;) {
            const char *cl = find(q, end, "\r\n");
            if (!cl)
                goto more;
            const char *semi = memchr(q, ';', (size_t)(cl - q));
            uint64_t sz;
            if (hex(q, semi ? semi : cl, &sz))
                goto bad_chunk;
            q = cl + 2;
            if (sz == 0)
                break; /* trailers ignored */
            if ((uint64_t)(end - q) < sz + 2)
                goto more;
            if (q[sz] != '\r' || q[sz + 1] != '\n')
                goto bad_chunk;
            if ((rc = cn_buf_append(&out->body, q, (size_t)sz)))
                goto oom;
            q += sz + 2;
        }
    } else if (have_len) {
        if (avail < clen)
            goto more;
        if ((rc = cn_buf_append(&out->body, b, (size_t)clen)))
            goto oom;
    } else {
        if (!eof)
            goto more;
        if ((rc = cn_buf_append(&out->body, b, avail)))
            goto oom;
    }
    out->status = (int)st;
    return 0;
more:
    cn_buf_free(&out->body);
    return eof ? fail(err, cap, "truncated body") : 1;
bad_chunk:
    cn_buf_free(&out->body);
    return fail(err, cap, "bad chunk");
oom:
    cn_buf_free(&out->body);
    snprintf(err, cap, "out of memory");
    return CN_ENOMEM;
}
