/* server/wire_rd.c: the strict reader of the server's wire codecs
 * (wire_rd.h). */
#include <stdarg.h>
#include <stdio.h>

#include "base/enc.h"
#include "base/err.h"
#include "server/wire_rd.h"

void srv_rd_fail(struct srv_rd *r, const char *fmt, ...)
{
    if (r->bad)
        return; /* keep the first reason */
    r->bad = true;
    if (!r->err || !r->errcap)
        return;
    int n = snprintf(r->err, r->errcap, "at byte %zu: ", r->off);
    if (n < 0 || (size_t)n >= r->errcap)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err + n, r->errcap - (size_t)n, fmt, ap);
    va_end(ap);
}

const uint8_t *srv_rd_take(struct srv_rd *r, size_t n, const char *what)
{
    if (r->bad)
        return NULL;
    if (r->len - r->off < n) {
        srv_rd_fail(r, "truncated %s (%zu bytes needed, %zu left)", what, n, r->len - r->off);
        return NULL;
    }
    const uint8_t *p = r->p + r->off;
    r->off += n;
    return p;
}

uint8_t srv_rd_u8(struct srv_rd *r, const char *what)
{
    const uint8_t *p = srv_rd_take(r, 1, what);
    return p ? p[0] : 0;
}

uint32_t srv_rd_u32(struct srv_rd *r, const char *what)
{
    const uint8_t *p = srv_rd_take(r, 4, what);
    return p ? cn_get_u32(p) : 0;
}

uint64_t srv_rd_u64(struct srv_rd *r, const char *what)
{
    const uint8_t *p = srv_rd_take(r, 8, what);
    return p ? cn_get_u64(p) : 0;
}

const uint8_t *srv_rd_bytes(struct srv_rd *r, size_t *n, const char *what)
{
    uint32_t len = srv_rd_u32(r, what);
    const uint8_t *p = srv_rd_take(r, len, what);
    *n = p ? len : 0;
    return p;
}

int srv_rd_end(struct srv_rd *r)
{
    if (!r->bad && r->off != r->len)
        srv_rd_fail(r, "%zu trailing bytes", r->len - r->off);
    return r->bad ? CN_EPROTO : 0;
}
