/* transport/frame.c: the pure codec of the wire protocol (docs/wire-format.md):
 * the hello each side sends first, and the incremental frame decoder. No I/O.
 *
 * The decoder never trusts a claimed length: it is checked against max_msg
 * before anything is reserved, and the payload buffer grows only as bytes
 * actually arrive, so a peer claiming 64 MiB and sending ten bytes costs ten. */
#include <stdio.h>
#include <string.h>

#include "base/crc.h"
#include "base/enc.h"
#include "base/err.h"
#include "base/mem.h"
#include "transport/transport.h"

#define SETERR(...)                                                                                \
    do {                                                                                           \
        if (err && errcap)                                                                         \
            snprintf(err, errcap, __VA_ARGS__);                                                    \
    } while (0)

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static bool cluster_ok(const char *s, size_t n)
{
    if (n == 0 || n > XPORT_CLUSTER_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return false;
    return true;
}

int xport_hello_encode(const struct xport_hello *h, void *out, size_t cap, size_t *len)
{
    size_t cl = strnlen(h->cluster, sizeof(h->cluster));
    if (!cluster_ok(h->cluster, cl) || h->node_id == 0)
        return CN_EINVAL;
    size_t n = XPORT_MAGIC_LEN + 2 + 8 + 1 + cl + 4;
    if (cap < n)
        return CN_EINVAL;
    uint8_t *p = out;
    memcpy(p, XPORT_MAGIC, XPORT_MAGIC_LEN);
    put_u16(p + 8, h->version);
    cn_put_u64(p + 10, h->node_id);
    p[18] = (uint8_t)cl;
    memcpy(p + 19, h->cluster, cl);
    cn_put_u32(p + 19 + cl, cn_crc32c(0, p, 19 + cl));
    *len = n;
    return 0;
}

int xport_hello_decode(const void *buf, size_t n, struct xport_hello *h, size_t *used, char *err,
                       size_t errcap)
{
    const uint8_t *p = buf;
    memset(h, 0, sizeof(*h));
    /* The magic is checked on the bytes we have, so that a client of another
     * protocol (an HTTP request, a TLS hello) is refused on its first read. */
    size_t m = n < XPORT_MAGIC_LEN ? n : XPORT_MAGIC_LEN;
    if (memcmp(p, XPORT_MAGIC, m) != 0) {
        SETERR("bad magic (not a cairn server-to-server connection)");
        return CN_EPROTO;
    }
    if (n < XPORT_MAGIC_LEN + 2)
        return CN_EAGAIN;
    /* The version sits at a fixed place in every version of the protocol, so
     * any two servers can tell each other what they speak. */
    h->version = get_u16(p + 8);
    if (h->version != XPORT_VERSION) {
        SETERR("protocol version %u, we speak %u", (unsigned)h->version, XPORT_VERSION);
        return CN_EPROTO;
    }
    if (n < 19)
        return CN_EAGAIN;
    size_t cl = p[18];
    if (n < 19 + cl + 4)
        return CN_EAGAIN;
    if (cn_get_u32(p + 19 + cl) != cn_crc32c(0, p, 19 + cl)) {
        SETERR("hello checksum mismatch");
        return CN_ECORRUPT;
    }
    if (!cluster_ok((const char *)p + 19, cl)) {
        SETERR("malformed cluster ID in hello");
        return CN_ECORRUPT;
    }
    h->node_id = cn_get_u64(p + 10);
    if (h->node_id == 0) {
        SETERR("node ID 0 in hello");
        return CN_ECORRUPT;
    }
    memcpy(h->cluster, p + 19, cl);
    h->cluster[cl] = '\0';
    *used = 19 + cl + 4;
    return 0;
}

void xport_frame_header(uint8_t hdr[XPORT_FRAME_HDR], uint8_t type, uint8_t flags,
                        const void *payload, uint32_t len)
{
    uint8_t t = (uint8_t)(type | flags);
    cn_put_u32(hdr, len);
    hdr[4] = t;
    uint32_t crc = cn_crc32c(0, &t, 1);
    if (len)
        crc = cn_crc32c(crc, payload, len);
    cn_put_u32(hdr + 5, crc);
}

void xport_decoder_init(struct xport_decoder *d, size_t max_msg)
{
    memset(d, 0, sizeof(*d));
    d->max_msg = max_msg;
}

void xport_decoder_free(struct xport_decoder *d)
{
    cn_free(d->buf);
    cn_free(d->msg);
    d->buf = d->msg = NULL;
    d->buf_len = d->buf_cap = d->msg_len = d->msg_cap = 0;
}

bool xport_decoder_idle(const struct xport_decoder *d)
{
    return !d->in_frame && d->hdr_len == 0 && d->msg_type == 0;
}

/* Append to a growable block, doubling but never beyond `limit` (already
 * validated against max_msg). */
static int grow_append(char **b, size_t *len, size_t *cap, size_t limit, const void *p, size_t n)
{
    if (*len + n > *cap) {
        size_t nc = *cap ? *cap : 4096;
        while (nc < *len + n)
            nc *= 2;
        if (nc > limit)
            nc = limit;
        char *nb = cn_realloc(*b, nc ? nc : 1);
        if (!nb)
            return CN_ENOMEM;
        *b = nb;
        *cap = nc;
    }
    if (n)
        memcpy(*b + *len, p, n);
    *len += n;
    return 0;
}

/* A complete, checksummed frame: deliver it or add it to the message being
 * reassembled. */
static int frame_done(struct xport_decoder *d, const uint8_t *payload, size_t len,
                      xport_frame_cb cb, void *arg, char *err, size_t errcap)
{
    uint8_t flags = d->type & (XPORT_F_MORE | XPORT_F_LAST);
    uint8_t type = d->type & (uint8_t) ~(XPORT_F_MORE | XPORT_F_LAST);
    d->frames++;
    if (type == 0 || type > XPORT_TYPE__MAX) {
        SETERR("unknown frame type %u", (unsigned)type);
        return CN_EPROTO;
    }
    if (flags == 0)
        return cb(arg, type, payload, len);
    if (flags == (XPORT_F_MORE | XPORT_F_LAST)) {
        SETERR("frame flagged both MORE and LAST");
        return CN_EPROTO;
    }
    if (d->msg_type == 0 && flags == XPORT_F_LAST) {
        SETERR("last fragment without a first");
        return CN_EPROTO;
    }
    if (d->msg_type != 0 && d->msg_type != type) {
        SETERR("fragment of type %u inside a message of type %u", (unsigned)type,
               (unsigned)d->msg_type);
        return CN_EPROTO;
    }
    if (len > d->max_msg - d->msg_len) {
        SETERR("fragmented message over the %zu-byte limit", d->max_msg);
        return CN_ETOOBIG;
    }
    if (grow_append(&d->msg, &d->msg_len, &d->msg_cap, d->max_msg, payload, len) != 0) {
        SETERR("out of memory reassembling a message");
        return CN_ENOMEM;
    }
    d->msg_type = type;
    if (flags == XPORT_F_MORE)
        return 0;
    d->msg_type = 0;
    size_t n = d->msg_len;
    d->msg_len = 0;
    int rc = cb(arg, type, d->msg, n);
    /* A big reassembly buffer is not kept between messages. */
    if (d->msg_cap > (1u << 20)) {
        cn_free(d->msg);
        d->msg = NULL;
        d->msg_cap = 0;
    }
    return rc;
}

int xport_decoder_feed(struct xport_decoder *d, const void *data, size_t n, xport_frame_cb cb,
                       void *arg, char *err, size_t errcap)
{
    const uint8_t *p = data;
    while (n > 0) {
        if (!d->in_frame) {
            size_t take = XPORT_FRAME_HDR - d->hdr_len;
            if (take > n)
                take = n;
            memcpy(d->hdr + d->hdr_len, p, take);
            d->hdr_len += take;
            p += take;
            n -= take;
            if (d->hdr_len < XPORT_FRAME_HDR)
                return 0;
            d->len = cn_get_u32(d->hdr);
            d->type = d->hdr[4];
            d->crc = cn_get_u32(d->hdr + 5);
            d->hdr_len = 0;
            if (d->len > d->max_msg) {
                SETERR("frame of %u bytes over the %zu-byte limit", (unsigned)d->len, d->max_msg);
                return CN_ETOOBIG;
            }
            d->in_frame = true;
            d->buf_len = 0;
        }
        const uint8_t *payload;
        if (d->buf_len == 0 && n >= d->len) {
            /* The whole payload is in this read: no copy. */
            payload = p;
        } else {
            size_t take = d->len - d->buf_len;
            if (take > n)
                take = n;
            if (grow_append(&d->buf, &d->buf_len, &d->buf_cap, d->len, p, take) != 0) {
                SETERR("out of memory reading a frame");
                return CN_ENOMEM;
            }
            p += take;
            n -= take;
            if (d->buf_len < d->len)
                return 0;
            payload = (const uint8_t *)d->buf;
        }
        uint32_t crc = cn_crc32c(0, &d->type, 1);
        if (d->len)
            crc = cn_crc32c(crc, payload, d->len);
        if (crc != d->crc) {
            SETERR("frame checksum mismatch (type %u, %u bytes)", (unsigned)d->type,
                   (unsigned)d->len);
            return CN_ECORRUPT;
        }
        if (payload == p) {
            p += d->len;
            n -= d->len;
        }
        d->in_frame = false;
        d->buf_len = 0;
        int rc = frame_done(d, payload, d->len, cb, arg, err, errcap);
        if (d->buf_cap > (1u << 20)) {
            cn_free(d->buf);
            d->buf = NULL;
            d->buf_cap = 0;
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}
