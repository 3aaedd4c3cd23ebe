/* server/ss_codec.c: snapshot streaming frames (ss_codec.h). */
#include "server/ss_codec.h"

#include "base/enc.h"
#include "base/err.h"

void srv_ss_chunk_header(uint8_t out[SS_CHUNK_HDR], uint64_t index, uint64_t term, uint64_t size,
                         uint64_t off)
{
    cn_put_u64(out, index);
    cn_put_u64(out + 8, term);
    cn_put_u64(out + 16, size);
    cn_put_u64(out + 24, off);
}

int srv_ss_chunk_decode(const void *p, size_t len, struct ss_chunk *c)
{
    if (len <= SS_CHUNK_HDR)
        return CN_EPROTO;
    const uint8_t *b = p;
    c->index = cn_get_u64(b);
    c->term = cn_get_u64(b + 8);
    c->size = cn_get_u64(b + 16);
    c->off = cn_get_u64(b + 24);
    c->data = b + SS_CHUNK_HDR;
    c->len = len - SS_CHUNK_HDR;
    if (c->index == 0 || c->off > c->size || c->len > c->size - c->off)
        return CN_EPROTO;
    return 0;
}

void srv_ss_ack_encode(uint8_t out[SS_ACK_LEN], const struct ss_ack *a)
{
    cn_put_u64(out, a->index);
    cn_put_u64(out + 8, a->term);
    cn_put_u64(out + 16, a->off);
    out[24] = a->status;
}

int srv_ss_ack_decode(const void *p, size_t len, struct ss_ack *a)
{
    if (len != SS_ACK_LEN)
        return CN_EPROTO;
    const uint8_t *b = p;
    a->index = cn_get_u64(b);
    a->term = cn_get_u64(b + 8);
    a->off = cn_get_u64(b + 16);
    a->status = b[24];
    if (a->index == 0 || a->status > SS_FAIL)
        return CN_EPROTO;
    return 0;
}
