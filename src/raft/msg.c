/* raft/msg.c: the wire encoding of a raft_msg for transport/. Versioned,
 * little endian, every length checked against what is left before use:
 *
 *   u8 version (1), u8 type,
 *   u64 from, to, term, index, log_term, commit, u8 reject,
 *   u64 reject_hint, hint_term, context,
 *   u32 n_entries, n x { u64 term, u64 index, u8 type, u32 len, bytes },
 *   SNAPSHOT only: u64 snap.index, snap.term, u32 conf_len, conf bytes
 *                  (raft_conf_encode), u64 data_len, data bytes.
 *
 * transport/ adds framing and a checksum; this layer still trusts nothing. */
#include <string.h>

#include "base/enc.h"
#include "base/err.h"
#include "base/mem.h"
#include "raft/raft_int.h"

#define MSG_VERSION 1
#define HDR_SIZE (2 + 6 * 8 + 1 + 3 * 8 + 4)
#define ENTRY_HDR (8 + 8 + 1 + 4)

size_t raft_msg_encoded_size(const struct raft_msg *m)
{
    size_t sz = HDR_SIZE;
    for (size_t i = 0; i < m->n_entries; i++)
        sz += ENTRY_HDR + m->entries[i].data.len;
    if (m->type == RAFT_MSG_SNAPSHOT)
        sz += 8 + 8 + 4 + raft__conf_encoded_size(&m->snap.conf) + 8 + m->snap_data.len;
    return sz;
}

static uint8_t *put64(uint8_t *p, uint64_t v)
{
    cn_put_u64(p, v);
    return p + 8;
}

int raft_msg_encode(const struct raft_msg *m, void *out, size_t cap, size_t *len)
{
    if (m->type < RAFT_MSG_APPEND || m->type >= RAFT_MSG__COUNT || m->n_entries > UINT32_MAX)
        return CN_EINVAL;
    for (size_t i = 0; i < m->n_entries; i++)
        if (m->entries[i].data.len > UINT32_MAX)
            return CN_ETOOBIG;
    if (m->snap.conf.n > RAFT_MAX_SERVERS)
        return CN_EINVAL;
    size_t need = raft_msg_encoded_size(m);
    *len = need;
    if (!out || cap < need)
        return CN_ETOOBIG;
    uint8_t *p = out;
    *p++ = MSG_VERSION;
    *p++ = (uint8_t)m->type;
    p = put64(p, m->from);
    p = put64(p, m->to);
    p = put64(p, m->term);
    p = put64(p, m->index);
    p = put64(p, m->log_term);
    p = put64(p, m->commit);
    *p++ = m->reject ? 1 : 0;
    p = put64(p, m->reject_hint);
    p = put64(p, m->hint_term);
    p = put64(p, m->context);
    cn_put_u32(p, (uint32_t)m->n_entries);
    p += 4;
    for (size_t i = 0; i < m->n_entries; i++) {
        const struct raft_entry *e = &m->entries[i];
        p = put64(p, e->term);
        p = put64(p, e->index);
        *p++ = (uint8_t)e->type;
        cn_put_u32(p, (uint32_t)e->data.len);
        p += 4;
        if (e->data.len)
            memcpy(p, e->data.base, e->data.len);
        p += e->data.len;
    }
    if (m->type == RAFT_MSG_SNAPSHOT) {
        p = put64(p, m->snap.index);
        p = put64(p, m->snap.term);
        size_t cl;
        raft_conf_encode(&m->snap.conf, p + 4, raft__conf_encoded_size(&m->snap.conf), &cl);
        cn_put_u32(p, (uint32_t)cl);
        p += 4 + cl;
        p = put64(p, m->snap_data.len);
        if (m->snap_data.len)
            memcpy(p, m->snap_data.base, m->snap_data.len);
    }
    return 0;
}

int raft_msg_decode(const void *src, size_t len, struct raft_msg *m, void **owned)
{
    *owned = NULL;
    memset(m, 0, sizeof(*m));
    if (len < HDR_SIZE)
        return CN_ECORRUPT;
    const uint8_t *in = src;
    if (in[0] != MSG_VERSION || in[1] < RAFT_MSG_APPEND || in[1] >= RAFT_MSG__COUNT)
        return CN_ECORRUPT;
    /* Bound the entry count by the bytes present before allocating. */
    uint32_t n = cn_get_u32(in + HDR_SIZE - 4);
    if (n > (len - HDR_SIZE) / ENTRY_HDR)
        return CN_ECORRUPT;
    size_t arr = (size_t)n * sizeof(struct raft_entry);
    uint8_t *block = cn_malloc(arr + len + 1);
    if (!block)
        return CN_ENOMEM;
    struct raft_entry *ents = (struct raft_entry *)block;
    uint8_t *copy = block + arr;
    memcpy(copy, src, len);

    struct cn_dec d;
    cn_dec_init(&d, copy, len);
    cn_dec_u8(&d);
    m->type = (enum raft_msg_type)cn_dec_u8(&d);
    m->from = cn_dec_u64(&d);
    m->to = cn_dec_u64(&d);
    m->term = cn_dec_u64(&d);
    m->index = cn_dec_u64(&d);
    m->log_term = cn_dec_u64(&d);
    m->commit = cn_dec_u64(&d);
    uint8_t rej = cn_dec_u8(&d);
    m->reject = rej != 0;
    m->reject_hint = cn_dec_u64(&d);
    m->hint_term = cn_dec_u64(&d);
    m->context = cn_dec_u64(&d);
    cn_dec_u32(&d);
    if (rej > 1)
        goto corrupt;
    for (uint32_t i = 0; i < n; i++) {
        struct raft_entry *e = &ents[i];
        e->term = cn_dec_u64(&d);
        e->index = cn_dec_u64(&d);
        uint8_t t = cn_dec_u8(&d);
        size_t dl;
        const uint8_t *data = cn_dec_bytes(&d, &dl);
        if (d.err || t > RAFT_ENTRY_CONF)
            goto corrupt;
        e->type = (enum raft_entry_type)t;
        e->data.base = dl ? (void *)data : NULL;
        e->data.len = dl;
    }
    if (m->type == RAFT_MSG_SNAPSHOT) {
        m->snap.index = cn_dec_u64(&d);
        m->snap.term = cn_dec_u64(&d);
        size_t cl;
        const uint8_t *cp = cn_dec_bytes(&d, &cl);
        if (d.err || raft_conf_decode(cp, cl, &m->snap.conf) != 0)
            goto corrupt;
        uint64_t dl = cn_dec_u64(&d);
        if (d.err || dl > d.len - d.off)
            goto corrupt;
        m->snap_data.base = dl ? (void *)(d.p + d.off) : NULL;
        m->snap_data.len = (size_t)dl;
        d.off += (size_t)dl;
    }
    if (!cn_dec_done(&d))
        goto corrupt;
    m->entries = n ? ents : NULL;
    m->n_entries = n;
    *owned = block;
    return 0;
corrupt:
    cn_free(block);
    memset(m, 0, sizeof(*m));
    return CN_ECORRUPT;
}
