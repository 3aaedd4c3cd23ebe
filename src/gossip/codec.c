/* gossip/codec.c: the gossip wire format (see codec.h). */
#include "gossip/codec.h"

#include <stdio.h>
#include <string.h>

#include "base/enc.h"
#include "base/err.h"

/* ---- encoding ---------------------------------------------------------------- */

static int put16(struct cn_buf *b, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)(v & 0xff), (uint8_t)(v >> 8)};
    return cn_buf_append(b, x, 2);
}

static int str8(struct cn_buf *b, const char *s)
{
    size_t n = strlen(s);
    if (n > 255)
        return CN_EINVAL;
    CN_TRY(cn_enc_u8(b, (uint8_t)n));
    return cn_buf_append(b, s, n);
}

static int tags16(struct cn_buf *b, const uint8_t *t, size_t n)
{
    if (n > GOSSIP_TAGS_MAX)
        return CN_ETOOBIG;
    CN_TRY(put16(b, (uint16_t)n));
    return n ? cn_buf_append(b, t, n) : 0;
}

int gossip_enc_hdr(struct cn_buf *b, const struct gossip_hdr *h, size_t *count_off)
{
    CN_TRY(cn_buf_append(b, "cg", 2));
    CN_TRY(cn_enc_u8(b, GOSSIP_WIRE_VERSION));
    CN_TRY(str8(b, h->cluster));
    CN_TRY(str8(b, h->name));
    CN_TRY(str8(b, h->host));
    CN_TRY(put16(b, h->port));
    *count_off = b->len;
    return cn_enc_u8(b, 0);
}

static int body(struct cn_buf *b, const struct gossip_msg *m)
{
    switch (m->type) {
    case GMSG_PING:
        CN_TRY(cn_enc_u32(b, m->seq));
        return str8(b, m->node);
    case GMSG_PINGREQ:
        CN_TRY(cn_enc_u32(b, m->seq));
        CN_TRY(str8(b, m->node));
        CN_TRY(str8(b, m->host));
        CN_TRY(put16(b, m->port));
        return cn_enc_u8(b, m->nack ? 1 : 0);
    case GMSG_ACK:
        CN_TRY(cn_enc_u32(b, m->seq));
        return m->has_coord ? coord_wire_put(b, &m->coord) : 0;
    case GMSG_NACK:
        return cn_enc_u32(b, m->seq);
    case GMSG_ALIVE:
        CN_TRY(cn_enc_u32(b, m->inc));
        CN_TRY(str8(b, m->node));
        CN_TRY(str8(b, m->host));
        CN_TRY(put16(b, m->port));
        return tags16(b, m->tags, m->tags_len);
    case GMSG_SUSPECT:
    case GMSG_DEAD:
        CN_TRY(cn_enc_u32(b, m->inc));
        CN_TRY(str8(b, m->node));
        return str8(b, m->from);
    case GMSG_QUERY:
        CN_TRY(cn_enc_u32(b, m->seq));
        CN_TRY(str8(b, m->node));
        CN_TRY(str8(b, m->host));
        CN_TRY(put16(b, m->port));
        CN_TRY(cn_enc_u8(b, m->relay));
        CN_TRY(cn_enc_u8(b, m->op));
        CN_TRY(cn_enc_u8(b, m->key_len));
        return m->key_len ? cn_buf_append(b, m->key, m->key_len) : 0;
    case GMSG_QRELAY:
    case GMSG_QRESP:
        if (m->type == GMSG_QRELAY) {
            CN_TRY(str8(b, m->host));
            CN_TRY(put16(b, m->port));
        }
        CN_TRY(cn_enc_u32(b, m->seq));
        CN_TRY(str8(b, m->node));
        CN_TRY(cn_enc_u8(b, m->ok ? 1 : 0));
        CN_TRY(str8(b, m->text));
        CN_TRY(cn_enc_u8(b, m->nkeys));
        return m->keys_len ? cn_buf_append(b, m->keys, m->keys_len) : 0;
    default:
        return CN_EINVAL;
    }
}

int gossip_enc_msg(struct cn_buf *b, const struct gossip_msg *m)
{
    size_t start = b->len;
    CN_TRY(cn_enc_u8(b, m->type));
    CN_TRY(put16(b, 0));
    int rc = body(b, m);
    if (rc) {
        b->len = start;
        return rc;
    }
    size_t n = b->len - start - 3;
    b->p[start + 1] = (char)(n & 0xff);
    b->p[start + 2] = (char)(n >> 8);
    return 0;
}

size_t gossip_msg_size(const struct gossip_msg *m)
{
    switch (m->type) {
    case GMSG_PING:
        return 3 + 4 + 1 + strlen(m->node);
    case GMSG_PINGREQ:
        return 3 + 4 + 1 + strlen(m->node) + 1 + strlen(m->host) + 2 + 1;
    case GMSG_ACK:
        return 3 + 4 + (m->has_coord ? COORD_WIRE_LEN : 0);
    case GMSG_NACK:
        return 3 + 4;
    case GMSG_ALIVE:
        return 3 + 4 + 1 + strlen(m->node) + 1 + strlen(m->host) + 2 + 2 + m->tags_len;
    case GMSG_SUSPECT:
    case GMSG_DEAD:
        return 3 + 4 + 1 + strlen(m->node) + 1 + strlen(m->from);
    case GMSG_QUERY:
        return 3 + 4 + 1 + strlen(m->node) + 1 + strlen(m->host) + 2 + 3 + m->key_len;
    case GMSG_QRESP:
        return 3 + 4 + 1 + strlen(m->node) + 1 + 1 + strlen(m->text) + 1 + m->keys_len;
    case GMSG_QRELAY:
        return 3 + 1 + strlen(m->host) + 2 + 4 + 1 + strlen(m->node) + 1 + 1 + strlen(m->text) + 1 +
               m->keys_len;
    default:
        return 0;
    }
}

int gossip_enc_pp_begin(struct cn_buf *b, bool join, uint32_t n, size_t *mark)
{
    *mark = b->len;
    CN_TRY(cn_enc_u8(b, GMSG_PUSHPULL));
    CN_TRY(put16(b, 0xffff));
    CN_TRY(cn_enc_u8(b, join ? 1 : 0));
    return cn_enc_u32(b, n);
}

int gossip_enc_pp_state(struct cn_buf *b, const struct gossip_pp_state *s)
{
    return gossip_enc_pp_entry(b, s->node, s->host, s->port, s->inc, s->status, s->tags,
                               s->tags_len);
}

int gossip_enc_pp_entry(struct cn_buf *b, const char *node, const char *host, uint16_t port,
                        uint32_t inc, uint8_t status, const uint8_t *tags, size_t tags_len)
{
    CN_TRY(str8(b, node));
    CN_TRY(str8(b, host));
    CN_TRY(put16(b, port));
    CN_TRY(cn_enc_u32(b, inc));
    CN_TRY(cn_enc_u8(b, status));
    return tags16(b, tags, tags_len);
}

void gossip_enc_pp_end(struct cn_buf *b, size_t mark)
{
    (void)b, (void)mark; /* the 0xffff length means "to the end" */
}

/* ---- decoding ---------------------------------------------------------------- */

struct rd {
    const uint8_t *p;
    size_t len, off;
    const char *why;
};

static bool need(struct rd *r, size_t n, const char *why)
{
    if (r->why)
        return false;
    if (r->len - r->off < n) {
        r->why = why;
        return false;
    }
    return true;
}

static uint8_t g8(struct rd *r, const char *why)
{
    return need(r, 1, why) ? r->p[r->off++] : 0;
}

static uint16_t g16(struct rd *r, const char *why)
{
    if (!need(r, 2, why))
        return 0;
    uint16_t v = (uint16_t)(r->p[r->off] | (r->p[r->off + 1] << 8));
    r->off += 2;
    return v;
}

static uint32_t g32(struct rd *r, const char *why)
{
    if (!need(r, 4, why))
        return 0;
    uint32_t v = cn_get_u32(r->p + r->off);
    r->off += 4;
    return v;
}

/* A str8 into out (cap = max length + 1), min..max bytes, printable. */
static void gstr(struct rd *r, char *out, size_t max, size_t min, const char *why)
{
    out[0] = '\0';
    uint8_t n = g8(r, why);
    if (r->why)
        return;
    if (n < min || n > max || !need(r, n, why)) {
        if (!r->why)
            r->why = why;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t c = r->p[r->off + i];
        if (c < 0x20 || c == 0x7f) {
            r->why = why;
            return;
        }
    }
    memcpy(out, r->p + r->off, n);
    out[n] = '\0';
    r->off += n;
}

static void gtags(struct rd *r, const uint8_t **t, size_t *n, const char *why)
{
    uint16_t l = g16(r, why);
    *t = NULL;
    *n = 0;
    if (r->why)
        return;
    if (l > GOSSIP_TAGS_MAX || !need(r, l, why) || gossip_tags_valid(r->p + r->off, l)) {
        if (!r->why)
            r->why = why;
        return;
    }
    *t = l ? r->p + r->off : NULL;
    *n = l;
    r->off += l;
}

/* A QRESP body (after QRELAY's address). */
static void gqresp(struct rd *r, struct gossip_msg *m)
{
    m->seq = g32(r, "truncated query response");
    gstr(r, m->node, GOSSIP_NAME_MAX, 1, "bad query response sender");
    uint8_t ok = g8(r, "truncated query response");
    if (!r->why && ok > 1)
        r->why = "bad query response flag";
    m->ok = ok == 1;
    gstr(r, m->text, GOSSIP_QTEXT_MAX, 0, "bad query response message");
    m->nkeys = g8(r, "truncated query response");
    if (!r->why && m->nkeys > GOSSIP_QKEYS_MAX)
        r->why = "too many keys in a query response";
    size_t start = r->off;
    for (unsigned i = 0; i < m->nkeys && !r->why; i++) {
        uint8_t l = g8(r, "truncated query response key");
        if (r->why)
            break;
        if ((l != 16 && l != 24 && l != 32) || !need(r, l, "truncated query response key")) {
            if (!r->why)
                r->why = "bad query response key size";
            break;
        }
        r->off += l;
    }
    m->keys = m->nkeys ? r->p + start : NULL;
    m->keys_len = r->off - start;
}

static void gstate(struct rd *r, struct gossip_pp_state *s)
{
    gstr(r, s->node, GOSSIP_NAME_MAX, 1, "bad push/pull node name");
    gstr(r, s->host, GOSSIP_HOST_MAX, 1, "bad push/pull host");
    s->port = g16(r, "truncated push/pull state");
    s->inc = g32(r, "truncated push/pull state");
    s->status = g8(r, "truncated push/pull state");
    if (!r->why && (s->status < GOSSIP_ALIVE || s->status > GOSSIP_LEFT))
        r->why = "bad push/pull status";
    gtags(r, &s->tags, &s->tags_len, "bad push/pull tags");
}

/* Decode one message at r (whose end is the packet's end); the body must use
 * exactly its length. */
static void gmsg(struct rd *r, struct gossip_msg *m)
{
    memset(m, 0, sizeof(*m));
    m->type = g8(r, "truncated message");
    uint16_t blen = g16(r, "truncated message");
    if (r->why)
        return;
    size_t end;
    if (m->type == GMSG_PUSHPULL && blen == 0xffff) {
        end = r->len;
    } else {
        if (!need(r, blen, "message body past the end"))
            return;
        end = r->off + blen;
    }
    struct rd b = {r->p, end, r->off, NULL};
    switch (m->type) {
    case GMSG_PING:
        m->seq = g32(&b, "truncated ping");
        gstr(&b, m->node, GOSSIP_NAME_MAX, 1, "bad ping target");
        break;
    case GMSG_PINGREQ:
        m->seq = g32(&b, "truncated ping-req");
        gstr(&b, m->node, GOSSIP_NAME_MAX, 1, "bad ping-req target");
        gstr(&b, m->host, GOSSIP_HOST_MAX, 1, "bad ping-req host");
        m->port = g16(&b, "truncated ping-req");
        {
            uint8_t f = g8(&b, "truncated ping-req");
            if (!b.why && f > 1)
                b.why = "bad ping-req nack flag";
            m->nack = f == 1;
        }
        break;
    case GMSG_ACK:
        m->seq = g32(&b, "truncated ack");
        if (!b.why && b.off < b.len) {
            /* the optional coordinate trailer: exactly one, of a known form */
            if (coord_wire_get(b.p + b.off, b.len - b.off, &m->coord))
                b.why = "bad ack coordinate";
            else {
                m->has_coord = true;
                b.off = b.len;
            }
        }
        break;
    case GMSG_NACK:
        m->seq = g32(&b, "truncated ack");
        break;
    case GMSG_ALIVE:
        m->inc = g32(&b, "truncated alive");
        gstr(&b, m->node, GOSSIP_NAME_MAX, 1, "bad alive node name");
        gstr(&b, m->host, GOSSIP_HOST_MAX, 1, "bad alive host");
        m->port = g16(&b, "truncated alive");
        gtags(&b, &m->tags, &m->tags_len, "bad alive tags");
        break;
    case GMSG_SUSPECT:
    case GMSG_DEAD:
        m->inc = g32(&b, "truncated suspect/dead");
        gstr(&b, m->node, GOSSIP_NAME_MAX, 1, "bad suspect/dead node name");
        gstr(&b, m->from, GOSSIP_NAME_MAX, 1, "bad suspect/dead sender");
        break;
    case GMSG_QUERY: {
        m->seq = g32(&b, "truncated query");
        gstr(&b, m->node, GOSSIP_NAME_MAX, 1, "bad query origin");
        gstr(&b, m->host, GOSSIP_HOST_MAX, 1, "bad query origin host");
        m->port = g16(&b, "truncated query");
        m->relay = g8(&b, "truncated query");
        m->op = g8(&b, "truncated query");
        m->key_len = g8(&b, "truncated query");
        if (!b.why && m->relay > 5)
            b.why = "bad query relay factor";
        if (!b.why && (m->op < GOSSIP_QOP_LIST || m->op > GOSSIP_QOP_REMOVE))
            b.why = "bad query operation";
        if (!b.why &&
            (m->op == GOSSIP_QOP_LIST ? m->key_len != 0
                                      : m->key_len != 16 && m->key_len != 24 && m->key_len != 32))
            b.why = "bad query key size";
        if (!b.why && need(&b, m->key_len, "truncated query key")) {
            memcpy(m->key, b.p + b.off, m->key_len);
            b.off += m->key_len;
        }
        break;
    }
    case GMSG_QRELAY:
        gstr(&b, m->host, GOSSIP_HOST_MAX, 1, "bad relay destination");
        m->port = g16(&b, "truncated relay");
        gqresp(&b, m);
        break;
    case GMSG_QRESP:
        gqresp(&b, m);
        break;
    case GMSG_PUSHPULL: {
        if (blen != 0xffff) {
            b.why = "push/pull length must be 0xffff";
            break;
        }
        uint8_t j = g8(&b, "truncated push/pull");
        if (!b.why && j > 1)
            b.why = "bad push/pull join flag";
        m->join = j == 1;
        m->nstates = g32(&b, "truncated push/pull");
        m->states = b.p + b.off;
        size_t start = b.off;
        struct gossip_pp_state s;
        for (uint32_t i = 0; i < m->nstates && !b.why; i++) {
            if (b.len - b.off < 10) {
                b.why = "push/pull count past the end";
                break;
            }
            gstate(&b, &s);
        }
        m->states_len = b.off - start;
        break;
    }
    default:
        b.why = "unknown message type";
        break;
    }
    if (!b.why && b.off != end)
        b.why = "message body longer than its fields";
    r->why = b.why;
    r->off = end;
}

int gossip_pkt_decode(const void *p, size_t len, bool stream, struct gossip_pkt *out, char *err,
                      size_t errcap)
{
    struct rd r = {p, len, 0, NULL};
    memset(out, 0, sizeof(*out));
    if (len < 3 || memcmp(p, "cg", 2)) {
        snprintf(err, errcap, "not a cairn gossip packet");
        return CN_ECORRUPT;
    }
    r.off = 2;
    uint8_t v = g8(&r, "truncated header");
    if (v != GOSSIP_WIRE_VERSION) {
        snprintf(err, errcap, "unsupported gossip version %u", v);
        return CN_ECORRUPT;
    }
    gstr(&r, out->hdr.cluster, GOSSIP_CLUSTER_MAX, 1, "bad cluster name");
    gstr(&r, out->hdr.name, GOSSIP_NAME_MAX, 1, "bad sender name");
    gstr(&r, out->hdr.host, GOSSIP_HOST_MAX, 1, "bad sender host");
    out->hdr.port = g16(&r, "truncated header");
    uint8_t n = g8(&r, "truncated header");
    if (!r.why && (n == 0 || n > GOSSIP_MAX_MSGS))
        r.why = "bad message count";
    if (!r.why && stream && n != 1)
        r.why = "a stream message carries one push/pull";
    out->body = r.p + r.off;
    size_t start = r.off;
    struct gossip_msg m;
    for (unsigned i = 0; i < n && !r.why; i++) {
        gmsg(&r, &m);
        if (!r.why && stream != (m.type == GMSG_PUSHPULL))
            r.why = stream ? "a stream message carries one push/pull"
                           : "push/pull is only sent over TCP";
    }
    if (!r.why && r.off != len)
        r.why = "trailing bytes";
    if (r.why) {
        snprintf(err, errcap, "%s", r.why);
        return CN_ECORRUPT;
    }
    out->nmsgs = n;
    out->body_len = r.off - start;
    return 0;
}

int gossip_pkt_next(const struct gossip_pkt *pkt, size_t *off, struct gossip_msg *m)
{
    if (*off >= pkt->body_len)
        return 0;
    struct rd r = {pkt->body, pkt->body_len, *off, NULL};
    gmsg(&r, m);
    *off = r.off;
    return r.why ? 0 : 1;
}

int gossip_pp_next(const struct gossip_msg *m, size_t *off, struct gossip_pp_state *s)
{
    if (*off >= m->states_len)
        return 0;
    struct rd r = {m->states, m->states_len, *off, NULL};
    gstate(&r, s);
    *off = r.off;
    return r.why ? 0 : 1;
}

/* ---- tags -------------------------------------------------------------------- */

int gossip_tags_foreach(const uint8_t *t, size_t len, gossip_tag_cb cb, void *arg)
{
    size_t off = 0;
    while (off < len) {
        size_t kl = t[off];
        if (off + 1 + kl + 1 > len)
            return CN_ECORRUPT;
        size_t vl = t[off + 1 + kl];
        if (off + 2 + kl + vl > len)
            return CN_ECORRUPT;
        if (cb) {
            int rc = cb(arg, (const char *)t + off + 1, kl, (const char *)t + off + 2 + kl, vl);
            if (rc)
                return rc;
        }
        off += 2 + kl + vl;
    }
    return 0;
}

struct tv {
    const uint8_t *t;
    size_t len;
    size_t seen_off;
};

static int key_ok(void *arg, const char *k, size_t kl, const char *v, size_t vl)
{
    (void)v;
    struct tv *x = arg;
    if (!kl)
        return CN_ECORRUPT;
    for (size_t i = 0; i < kl; i++)
        if ((uint8_t)k[i] < 0x21 || k[i] == 0x7f)
            return CN_ECORRUPT;
    for (size_t i = 0; i < vl; i++)
        if ((uint8_t)v[i] < 0x20 || v[i] == 0x7f)
            return CN_ECORRUPT;
    /* unique keys: compare with every earlier key */
    size_t off = 0, here = (size_t)((const uint8_t *)k - x->t) - 1;
    while (off < here) {
        size_t kl2 = x->t[off], vl2 = x->t[off + 1 + kl2];
        if (kl2 == kl && !memcmp(x->t + off + 1, k, kl))
            return CN_ECORRUPT;
        off += 2 + kl2 + vl2;
    }
    return 0;
}

int gossip_tags_valid(const uint8_t *tags, size_t len)
{
    if (len > GOSSIP_TAGS_MAX)
        return CN_ETOOBIG;
    struct tv x = {tags, len, 0};
    return gossip_tags_foreach(tags, len, key_ok, &x) ? CN_ECORRUPT : 0;
}

int gossip_tags_put(struct cn_buf *tags, const char *key, const char *value)
{
    size_t kl = strlen(key), vl = strlen(value);
    if (!kl || kl > 255 || vl > 255)
        return CN_EINVAL;
    if (tags->len + 2 + kl + vl > GOSSIP_TAGS_MAX)
        return CN_ETOOBIG;
    size_t old = tags->len;
    if (cn_enc_u8(tags, (uint8_t)kl) || cn_buf_append(tags, key, kl) ||
        cn_enc_u8(tags, (uint8_t)vl) || cn_buf_append(tags, value, vl)) {
        tags->len = old;
        return CN_ENOMEM;
    }
    if (gossip_tags_valid((const uint8_t *)tags->p, tags->len)) {
        tags->len = old;
        return CN_EINVAL;
    }
    return 0;
}

struct tget {
    const char *key;
    char *out;
    size_t cap;
    bool found;
};

static int get_cb(void *arg, const char *k, size_t kl, const char *v, size_t vl)
{
    struct tget *x = arg;
    if (strlen(x->key) != kl || memcmp(x->key, k, kl))
        return 0;
    size_t n = vl < x->cap - 1 ? vl : x->cap - 1;
    memcpy(x->out, v, n);
    x->out[n] = '\0';
    x->found = true;
    return 1;
}

int gossip_tags_get(const uint8_t *tags, size_t len, const char *key, char *out, size_t cap)
{
    struct tget x = {key, out, cap, false};
    if (cap)
        out[0] = '\0';
    if (!cap || !tags)
        return CN_ENOTFOUND;
    gossip_tags_foreach(tags, len, get_cb, &x);
    return x.found ? 0 : CN_ENOTFOUND;
}
