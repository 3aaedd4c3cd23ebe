#include "base/buf.h"

#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "base/mem.h"

void cn_buf_init(struct cn_buf *b)
{
    b->p = NULL;
    b->len = b->cap = 0;
    b->fixed = false;
}

void cn_buf_free(struct cn_buf *b)
{
    if (!b->fixed)
        cn_free(b->p);
    cn_buf_init(b);
}

void cn_buf_reset(struct cn_buf *b)
{
    b->len = 0;
}

int cn_buf_reserve(struct cn_buf *b, size_t extra)
{
    if (b->cap - b->len > extra)
        return 0;
    if (b->fixed)
        return CN_ENOMEM;
    size_t need = b->len + extra + 1;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    char *p = cn_realloc(b->p, cap);
    if (!p)
        return CN_ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

int cn_buf_append(struct cn_buf *b, const void *p, size_t n)
{
    if (cn_buf_reserve(b, n))
        return CN_ENOMEM;
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

int cn_buf_puts(struct cn_buf *b, const char *s)
{
    return cn_buf_append(b, s, strlen(s));
}

int cn_buf_putc(struct cn_buf *b, char c)
{
    if (cn_buf_reserve(b, 1))
        return CN_ENOMEM;
    b->p[b->len++] = c;
    return 0;
}

int cn_buf_vprintf(struct cn_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return CN_EINVAL;
    if (cn_buf_reserve(b, (size_t)n + 1))
        return CN_ENOMEM;
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int cn_buf_printf(struct cn_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = cn_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

int cn_buf_put_u64(struct cn_buf *b, uint64_t v)
{
    char tmp[24];
    int i = (int)sizeof(tmp);
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return cn_buf_append(b, tmp + i, sizeof(tmp) - (size_t)i);
}

int cn_buf_cstr(struct cn_buf *b)
{
    if (cn_buf_reserve(b, 1))
        return CN_ENOMEM;
    b->p[b->len] = '\0';
    return 0;
}
