#include "base/enc.h"

#include <string.h>

#include "base/err.h"
#include "base/mem.h"

void cn_put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

void cn_put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

uint32_t cn_get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

uint64_t cn_get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

int cn_enc_u8(struct cn_buf *b, uint8_t v)
{
    return cn_buf_append(b, &v, 1);
}

int cn_enc_u32(struct cn_buf *b, uint32_t v)
{
    uint8_t t[4];
    cn_put_u32(t, v);
    return cn_buf_append(b, t, 4);
}

int cn_enc_u64(struct cn_buf *b, uint64_t v)
{
    uint8_t t[8];
    cn_put_u64(t, v);
    return cn_buf_append(b, t, 8);
}

int cn_enc_bytes(struct cn_buf *b, const void *s, size_t n)
{
    if (n > UINT32_MAX)
        return CN_ETOOBIG;
    if (cn_buf_reserve(b, 4 + n))
        return CN_ENOMEM;
    cn_enc_u32(b, (uint32_t)n);
    return cn_buf_append(b, s, n);
}

int cn_enc_str(struct cn_buf *b, const char *s)
{
    return cn_enc_bytes(b, s, s ? strlen(s) : 0);
}

void cn_dec_init(struct cn_dec *d, const void *p, size_t len)
{
    d->p = p;
    d->len = len;
    d->off = 0;
    d->err = 0;
}

static const uint8_t *take(struct cn_dec *d, size_t n)
{
    if (d->err || d->len - d->off < n) {
        if (!d->err)
            d->err = CN_ECORRUPT;
        return NULL;
    }
    const uint8_t *p = d->p + d->off;
    d->off += n;
    return p;
}

uint8_t cn_dec_u8(struct cn_dec *d)
{
    const uint8_t *p = take(d, 1);
    return p ? p[0] : 0;
}

uint32_t cn_dec_u32(struct cn_dec *d)
{
    const uint8_t *p = take(d, 4);
    return p ? cn_get_u32(p) : 0;
}

uint64_t cn_dec_u64(struct cn_dec *d)
{
    const uint8_t *p = take(d, 8);
    return p ? cn_get_u64(p) : 0;
}

const uint8_t *cn_dec_bytes(struct cn_dec *d, size_t *n)
{
    uint32_t len = cn_dec_u32(d);
    const uint8_t *p = take(d, len);
    *n = p ? len : 0;
    return p;
}

char *cn_dec_strdup(struct cn_dec *d)
{
    size_t n;
    const uint8_t *p = cn_dec_bytes(d, &n);
    if (!p)
        return NULL;
    if (memchr(p, 0, n)) {
        d->err = CN_ECORRUPT;
        return NULL;
    }
    char *s = cn_strndup((const char *)p, n);
    if (!s)
        d->err = CN_ENOMEM;
    return s;
}

int cn_dec_done(const struct cn_dec *d)
{
    return d->err == 0 && d->off == d->len;
}
