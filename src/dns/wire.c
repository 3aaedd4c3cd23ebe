/* dns/wire.c: the DNS wire codec (see wire.h). RFC 1035 §4.1 (message
 * format), §4.1.4 (compression), RFC 6891 (EDNS0), RFC 2782 (SRV). */
#include "dns/wire.h"

#include <string.h>

#include "base/err.h"

/* ASCII lowercase by table: one load, no branch (the hashing and compares
 * of name compression run on every byte of every name written). */
static const uint8_t lower_tab[256] = {
#define L1(c) (uint8_t)((c) >= 'A' && (c) <= 'Z' ? (c) + 32 : (c))
#define L4(c) L1(c), L1(c + 1), L1(c + 2), L1(c + 3)
#define L16(c) L4(c), L4(c + 4), L4(c + 8), L4(c + 12)
#define L64(c) L16(c), L16(c + 16), L16(c + 32), L16(c + 48)
    L64(0), L64(64), L64(128), L64(192)
#undef L64
#undef L16
#undef L4
#undef L1
};

static inline uint8_t lower(uint8_t c)
{
    return lower_tab[c];
}

static inline uint16_t get16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static inline void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* ---- names ----------------------------------------------------------------- */

static void name_root(struct dns_name *n)
{
    n->len = 1;
    n->nlabels = 0;
    n->wire[0] = 0;
}

int dns_name_append(struct dns_name *n, const char *label, size_t len)
{
    if (len == 0 || len > DNS_LABEL_MAX || (size_t)n->len + 1 + len > DNS_NAME_MAX ||
        n->nlabels >= sizeof(n->off))
        return CN_EINVAL;
    size_t at = (size_t)n->len - 1; /* over the root byte */
    n->off[n->nlabels++] = (uint8_t)at;
    n->wire[at] = (uint8_t)len;
    memcpy(n->wire + at + 1, label, len);
    n->wire[at + 1 + len] = 0;
    n->len = (uint8_t)(n->len + 1 + len);
    return 0;
}

int dns_name_from_text(struct dns_name *n, const char *text)
{
    name_root(n);
    const char *p = text;
    if (p[0] == '.' && p[1] == '\0')
        return 0;
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t l = dot ? (size_t)(dot - p) : strlen(p);
        if (dns_name_append(n, p, l))
            return CN_EINVAL;
        if (!dot)
            break;
        p = dot + 1;
    }
    return 0;
}

size_t dns_name_to_text(const struct dns_name *n, char *out, size_t cap)
{
    size_t o = 0;
    if (cap == 0)
        return 0;
    for (unsigned i = 0; i < n->nlabels; i++) {
        size_t l;
        const uint8_t *s = dns_name_label(n, i, &l);
        for (size_t k = 0; k < l; k++) {
            uint8_t c = s[k];
            if (c > 32 && c < 127 && c != '.' && c != '\\') {
                if (o + 1 >= cap)
                    goto done;
                out[o++] = (char)c;
            } else {
                if (o + 4 >= cap)
                    goto done;
                out[o++] = '\\';
                out[o++] = (char)('0' + c / 100);
                out[o++] = (char)('0' + c / 10 % 10);
                out[o++] = (char)('0' + c % 10);
            }
        }
        if (o + 1 >= cap)
            goto done;
        out[o++] = '.';
    }
    if (n->nlabels == 0 && o + 1 < cap)
        out[o++] = '.';
done:
    out[o] = '\0';
    return o;
}

static bool label_eq(const uint8_t *a, const uint8_t *b, size_t l)
{
    for (size_t i = 0; i < l; i++)
        if (lower(a[i]) != lower(b[i]))
            return false;
    return true;
}

bool dns_name_has_suffix(const struct dns_name *n, const struct dns_name *suffix)
{
    if (suffix->nlabels > n->nlabels)
        return false;
    if (suffix->nlabels == 0)
        return true;
    unsigned first = (unsigned)(n->nlabels - suffix->nlabels);
    size_t tail = (size_t)n->len - n->off[first];
    if (tail != suffix->len)
        return false;
    /* Same length bytes at the same places; labels compared case-insensitively
     * (length bytes are < 64 and never letters, so lower() keeps them). */
    return label_eq(n->wire + n->off[first], suffix->wire, tail);
}

bool dns_name_equal(const struct dns_name *a, const struct dns_name *b)
{
    return a->nlabels == b->nlabels && dns_name_has_suffix(a, b);
}

int dns_name_decode(const uint8_t *msg, size_t len, size_t *pos, struct dns_name *out)
{
    size_t p = *pos;
    size_t end = 0; /* where the caller resumes: after the first pointer */
    bool jumped = false;
    name_root(out);
    for (;;) {
        if (p >= len)
            return CN_EPROTO;
        uint8_t c = msg[p];
        if ((c & 0xC0) == 0xC0) {
            if (p + 1 >= len)
                return CN_EPROTO;
            size_t target = (size_t)(c & 0x3F) << 8 | msg[p + 1];
            /* Strictly backwards from this pointer: every jump lands earlier
             * than the last, so no chain of pointers can loop. */
            if (target >= p)
                return CN_EPROTO;
            if (!jumped) {
                end = p + 2;
                jumped = true;
            }
            p = target;
            continue;
        }
        if (c & 0xC0) /* 01 (extended) and 10 (reserved) label types */
            return CN_EPROTO;
        if (c == 0) {
            p++;
            break;
        }
        if (p + 1 + c > len)
            return CN_EPROTO;
        if (dns_name_append(out, (const char *)msg + p + 1, c))
            return CN_EPROTO; /* the name passed 255 bytes (or 127 labels) */
        p += 1 + (size_t)c;
    }
    *pos = jumped ? end : p;
    return 0;
}

/* ---- queries ---------------------------------------------------------------- */

/* Skip one resource record at *pos, reading what the decoder needs. */
static int rr_read(const uint8_t *msg, size_t len, size_t *pos, struct dns_name *owner,
                   uint16_t *type, uint16_t *cls, uint32_t *ttl, size_t *rdlen)
{
    if (dns_name_decode(msg, len, pos, owner))
        return CN_EPROTO;
    size_t p = *pos;
    if (p + 10 > len)
        return CN_EPROTO;
    *type = get16(msg + p);
    *cls = get16(msg + p + 2);
    *ttl = (uint32_t)get16(msg + p + 4) << 16 | get16(msg + p + 6);
    *rdlen = get16(msg + p + 8);
    if (p + 10 + *rdlen > len)
        return CN_EPROTO;
    *pos = p + 10 + *rdlen;
    return 0;
}

enum dns_decode_result dns_query_decode(const uint8_t *msg, size_t len, struct dns_query *q)
{
    memset(q, 0, offsetof(struct dns_query, qname));
    q->edns = false;
    q->udp_size = DNS_UDP_MIN;
    q->edns_version = 0;
    q->edns_do = false;
    if (len < DNS_HDR_LEN)
        return DNS_DEC_DROP;
    q->id = get16(msg);
    q->flags = get16(msg + 2);
    q->opcode = (uint8_t)DNS_OPCODE(q->flags);
    if (q->flags & DNS_F_QR)
        return DNS_DEC_DROP; /* a response: answering could start a loop */
    if (q->opcode != 0)
        return DNS_DEC_NOTIMP;
    uint16_t qd = get16(msg + 4), an = get16(msg + 6), ns = get16(msg + 8), ar = get16(msg + 10);
    if (qd != 1 || an != 0 || ns != 0 || ar > 2)
        return DNS_DEC_FORMERR;
    size_t pos = DNS_HDR_LEN;
    if (dns_name_decode(msg, len, &pos, &q->qname) || pos + 4 > len)
        return DNS_DEC_FORMERR;
    q->qtype = get16(msg + pos);
    q->qclass = get16(msg + pos + 2);
    pos += 4;
    bool badvers = false;
    for (unsigned i = 0; i < ar; i++) {
        struct dns_name owner;
        uint16_t type, cls;
        uint32_t ttl;
        size_t rdlen;
        size_t start = pos;
        if (rr_read(msg, len, &pos, &owner, &type, &cls, &ttl, &rdlen))
            return DNS_DEC_FORMERR;
        if (type != DNS_T_OPT)
            continue; /* a TSIG: cairn signs nothing, the record is ignored */
        /* RFC 6891 §6.1.1: one OPT, owned by the root. */
        if (q->edns || owner.nlabels != 0)
            return DNS_DEC_FORMERR;
        (void)start;
        q->edns = true;
        q->udp_size = cls < DNS_UDP_MIN ? DNS_UDP_MIN : cls; /* §6.2.5 */
        q->edns_version = (uint8_t)(ttl >> 16);
        q->edns_do = (ttl & 0x8000) != 0;
        if (q->edns_version > 0)
            badvers = true;
        /* Options (cookies, client subnet, ...) are walked for well-formedness
         * only: each is a code, a length and that many bytes. */
        size_t o = pos - rdlen;
        while (o < pos) {
            if (o + 4 > pos || o + 4 + get16(msg + o + 2) > pos)
                return DNS_DEC_FORMERR;
            o += 4 + (size_t)get16(msg + o + 2);
        }
    }
    if (pos != len)
        return DNS_DEC_FORMERR;
    return badvers ? DNS_DEC_BADVERS : DNS_DEC_OK;
}

/* ---- answers ------------------------------------------------------------------- */

void dns_msg_header_only(const uint8_t *msg, uint8_t out[DNS_HDR_LEN], uint16_t rcode)
{
    uint16_t f = get16(msg + 2);
    uint16_t flags = (uint16_t)(DNS_F_QR | (f & (0xF << 11)) | (f & DNS_F_RD) | (rcode & 0xF));
    memcpy(out, msg, 2);
    put16(out + 2, flags);
    memset(out + 4, 0, 8);
}

void dns_msg_set_rcode(struct dns_msg *m, uint16_t rcode)
{
    m->flags = (uint16_t)((m->flags & ~0xFu) | (rcode & 0xF));
    m->ext_rcode = (uint8_t)(rcode >> 4);
}

void dns_msg_set_flags(struct dns_msg *m, uint16_t flags)
{
    m->flags |= flags;
}

/* Hashes of every suffix of n, right to left: h[i] covers labels i.. (FNV-1a
 * over the lowercased bytes, each label continuing from the suffix after it),
 * so all of them cost one pass over the name. */
static void suffix_hashes(const struct dns_name *n, uint32_t *h)
{
    uint32_t x = 2166136261u;
    for (unsigned i = n->nlabels; i-- > 0;) {
        const uint8_t *w = n->wire + n->off[i];
        size_t l = (size_t)w[0] + 1;
        for (size_t k = 0; k < l; k++)
            x = (x ^ lower(w[k])) * 16777619u;
        h[i] = x;
    }
}

/* True when the name written in the message at `off` (our own bytes: labels
 * and backward pointers) equals the uncompressed wire suffix w (n bytes). */
static bool msg_name_eq(const struct dns_msg *m, size_t off, const uint8_t *w, size_t n)
{
    /* Most often the same bytes written whole (an SRV target, then the owner
     * of its address record). */
    if (off + n <= m->len && memcmp(m->buf + off, w, n) == 0)
        return true;
    size_t i = 0;
    for (unsigned guard = 0; guard < 256; guard++) {
        if (off >= m->len)
            return false;
        uint8_t c = m->buf[off];
        if ((c & 0xC0) == 0xC0) {
            off = (size_t)(c & 0x3F) << 8 | m->buf[off + 1];
            continue;
        }
        if (i >= n || w[i] != c)
            return false;
        if (c == 0)
            return i + 1 == n;
        if (i + 1 + c > n || off + 1 + c > m->len || !label_eq(m->buf + off + 1, w + i + 1, c))
            return false;
        i += 1 + (size_t)c;
        off += 1 + (size_t)c;
    }
    return false;
}

/* Write name n at m->len: compressed against the names already written when
 * m->compress, and remembered for later names either way (an SRV target is
 * written whole, RFC 2782, yet the additional records' owners can point to
 * it). */
static int put_name(struct dns_msg *m, const struct dns_name *n, size_t room)
{
    if (n == m->qn && m->compress && m->len > DNS_HDR_LEN) {
        /* The owner of most answers: the question, at offset 12. */
        if (m->len + 2 > room)
            return CN_ETOOBIG;
        put16(m->buf + m->len, 0xC000 | DNS_HDR_LEN);
        m->len += 2;
        return 0;
    }
    unsigned hit = n->nlabels; /* first label of the suffix found, nlabels = none */
    size_t ptr = 0;
    uint32_t h[128];
    suffix_hashes(n, h);
    /* The longest suffix already in the message: a pointer to it when
     * compressing; either way only the labels before it are remembered. */
    for (unsigned i = 0; i < n->nlabels && hit == n->nlabels; i++) {
        const uint8_t *w = n->wire + n->off[i];
        size_t wl = (size_t)n->len - n->off[i];
        for (unsigned k = h[i] & (DNS_CTAB_SLOTS - 1); m->ct[k].off;
             k = (k + 1) & (DNS_CTAB_SLOTS - 1)) {
            if (m->ct[k].hash == h[i] && msg_name_eq(m, m->ct[k].off, w, wl)) {
                hit = i;
                ptr = m->ct[k].off;
                break;
            }
        }
    }
    bool use = m->compress && hit < n->nlabels;
    size_t raw = use ? n->off[hit] : n->len; /* bytes written as labels */
    if (m->len + raw + (use ? 2 : 0) > room)
        return CN_ETOOBIG;
    memcpy(m->buf + m->len, n->wire, raw);
    for (unsigned i = 0; i < hit && m->nct < DNS_CTAB; i++) {
        size_t at = m->len + n->off[i];
        if (at >= 0x3FFF)
            break;
        unsigned k = h[i] & (DNS_CTAB_SLOTS - 1);
        while (m->ct[k].off)
            k = (k + 1) & (DNS_CTAB_SLOTS - 1);
        m->ct[k].hash = h[i];
        m->ct[k].off = (uint16_t)at;
        m->ct_log[m->nct++] = (uint16_t)k;
    }
    m->len += raw;
    if (use) {
        put16(m->buf + m->len, (uint16_t)(0xC000 | ptr));
        m->len += 2;
    }
    return 0;
}

/* Forget the suffixes remembered since `mark` (a record rolled back). In
 * reverse order, so no probe chain of a kept entry loses a link. */
static void ct_undo(struct dns_msg *m, unsigned mark)
{
    while (m->nct > mark)
        m->ct[m->ct_log[--m->nct]].off = 0;
}

int dns_msg_start(struct dns_msg *m, uint8_t *buf, size_t cap, size_t limit,
                  const struct dns_query *q, uint16_t rcode)
{
    memset(m, 0, offsetof(struct dns_msg, ct_log));
    memset(m->ct, 0, sizeof(m->ct));
    m->buf = buf;
    m->cap = cap;
    if (limit > cap)
        limit = cap;
    if (limit > DNS_TCP_MAX)
        limit = DNS_TCP_MAX;
    m->limit = limit;
    m->compress = true;
    m->opt = q->edns;
    m->reserve = q->edns ? DNS_OPT_LEN : 0;
    m->flags = (uint16_t)(DNS_F_QR | (q->flags & (0xF << 11)) | (q->flags & DNS_F_RD) |
                          (q->flags & DNS_F_CD));
    dns_msg_set_rcode(m, rcode);
    if (DNS_HDR_LEN + (size_t)q->qname.len + 4 + m->reserve > m->limit)
        return CN_ETOOBIG;
    put16(buf, q->id);
    m->len = DNS_HDR_LEN;
    put_name(m, &q->qname, m->limit);
    m->qn = &q->qname;
    put16(buf + m->len, q->qtype);
    put16(buf + m->len + 2, q->qclass);
    m->len += 4;
    m->count[0] = 1;
    m->section = DNS_S_ANSWER;
    return 0;
}

/* Begin a record in section sec: owner, type, class IN, ttl, and room for the
 * rdata length. Returns the offset of the rdata length, or 0 when it did not
 * fit (the message rolled back). */
static size_t rr_begin(struct dns_msg *m, int sec, const struct dns_name *owner, uint16_t type,
                       uint32_t ttl, size_t *mark, unsigned *ctmark)
{
    if (sec < m->section)
        return 0; /* out of order: the caller's bug; refused rather than corrupt */
    if (sec > m->section)
        m->section = sec;
    if (m->cut)
        return 0;
    *mark = m->len;
    *ctmark = m->nct;
    size_t room = m->limit - m->reserve;
    if (put_name(m, owner, room) || m->len + 10 > room) {
        m->len = *mark;
        ct_undo(m, *ctmark);
        return 0;
    }
    uint8_t *p = m->buf + m->len;
    put16(p, type);
    put16(p + 2, DNS_C_IN);
    put32(p + 4, ttl);
    m->len += 10;
    return m->len - 2;
}

static int rr_end(struct dns_msg *m, int sec, size_t rdlen_at, size_t mark, unsigned ctmark,
                  bool ok)
{
    if (!ok || m->len > m->limit - m->reserve) {
        m->len = mark;
        ct_undo(m, ctmark);
        return CN_ETOOBIG;
    }
    put16(m->buf + rdlen_at, (uint16_t)(m->len - rdlen_at - 2));
    m->count[1 + sec]++;
    return 0;
}

static int rr_fail(struct dns_msg *m, int sec)
{
    if (sec < m->section && !m->cut)
        return CN_EINVAL;
    m->cut = true;
    if (sec != DNS_S_ADDITIONAL)
        m->tc = true;
    return CN_ETOOBIG;
}

static int rr_fixed(struct dns_msg *m, int sec, const struct dns_name *owner, uint16_t type,
                    uint32_t ttl, const void *data, size_t n)
{
    size_t mark;
    unsigned ctm;
    size_t at = rr_begin(m, sec, owner, type, ttl, &mark, &ctm);
    if (!at)
        return rr_fail(m, sec);
    bool ok = m->len + n <= m->limit - m->reserve;
    if (ok) {
        memcpy(m->buf + m->len, data, n);
        m->len += n;
    }
    if (rr_end(m, sec, at, mark, ctm, ok))
        return rr_fail(m, sec);
    return 0;
}

int dns_msg_a(struct dns_msg *m, int sec, const struct dns_name *owner, uint32_t ttl,
              const uint8_t ip[4])
{
    return rr_fixed(m, sec, owner, DNS_T_A, ttl, ip, 4);
}

int dns_msg_aaaa(struct dns_msg *m, int sec, const struct dns_name *owner, uint32_t ttl,
                 const uint8_t ip[16])
{
    return rr_fixed(m, sec, owner, DNS_T_AAAA, ttl, ip, 16);
}

int dns_msg_name_rr(struct dns_msg *m, int sec, const struct dns_name *owner, uint16_t type,
                    uint32_t ttl, const struct dns_name *target)
{
    size_t mark;
    unsigned ctm;
    size_t at = rr_begin(m, sec, owner, type, ttl, &mark, &ctm);
    if (!at)
        return rr_fail(m, sec);
    bool ok = put_name(m, target, m->limit - m->reserve) == 0;
    if (rr_end(m, sec, at, mark, ctm, ok))
        return rr_fail(m, sec);
    return 0;
}

int dns_msg_srv(struct dns_msg *m, int sec, const struct dns_name *owner, uint32_t ttl,
                uint16_t prio, uint16_t weight, uint16_t port, const struct dns_name *target)
{
    size_t mark;
    unsigned ctm;
    size_t at = rr_begin(m, sec, owner, DNS_T_SRV, ttl, &mark, &ctm);
    if (!at)
        return rr_fail(m, sec);
    bool ok = m->len + 6 <= m->limit - m->reserve;
    if (ok) {
        put16(m->buf + m->len, prio);
        put16(m->buf + m->len + 2, weight);
        put16(m->buf + m->len + 4, port);
        m->len += 6;
        /* RFC 2782: "name compression is not to be used for this field". */
        bool c = m->compress;
        m->compress = false;
        ok = put_name(m, target, m->limit - m->reserve) == 0;
        m->compress = c;
    }
    if (rr_end(m, sec, at, mark, ctm, ok))
        return rr_fail(m, sec);
    return 0;
}

int dns_msg_txt(struct dns_msg *m, int sec, const struct dns_name *owner, uint32_t ttl,
                const char *text, size_t len)
{
    size_t mark;
    unsigned ctm;
    size_t at = rr_begin(m, sec, owner, DNS_T_TXT, ttl, &mark, &ctm);
    if (!at)
        return rr_fail(m, sec);
    size_t room = m->limit - m->reserve;
    bool ok = true;
    size_t done = 0;
    do { /* character-strings of at most 255 bytes; an empty text is one "" */
        size_t n = len - done > 255 ? 255 : len - done;
        if (m->len + 1 + n > room || m->len + 1 + n - at - 2 > 0xFFFF) {
            ok = false;
            break;
        }
        m->buf[m->len] = (uint8_t)n;
        memcpy(m->buf + m->len + 1, text + done, n);
        m->len += 1 + n;
        done += n;
    } while (done < len);
    if (rr_end(m, sec, at, mark, ctm, ok))
        return rr_fail(m, sec);
    return 0;
}

int dns_msg_soa(struct dns_msg *m, int sec, const struct dns_name *owner, uint32_t ttl,
                const struct dns_soa *soa)
{
    size_t mark;
    unsigned ctm;
    size_t at = rr_begin(m, sec, owner, DNS_T_SOA, ttl, &mark, &ctm);
    if (!at)
        return rr_fail(m, sec);
    size_t room = m->limit - m->reserve;
    bool ok = put_name(m, soa->mname, room) == 0 && put_name(m, soa->rname, room) == 0 &&
              m->len + 20 <= room;
    if (ok) {
        uint8_t *p = m->buf + m->len;
        put32(p, soa->serial);
        put32(p + 4, soa->refresh);
        put32(p + 8, soa->retry);
        put32(p + 12, soa->expire);
        put32(p + 16, soa->minimum);
        m->len += 20;
    }
    if (rr_end(m, sec, at, mark, ctm, ok))
        return rr_fail(m, sec);
    return 0;
}

size_t dns_msg_finish(struct dns_msg *m)
{
    if (m->opt) {
        /* RFC 6891 §6.1.2: root owner, type OPT, class = our payload size,
         * TTL = extended rcode, version 0, flags 0; no options. */
        uint8_t *p = m->buf + m->len;
        p[0] = 0;
        put16(p + 1, DNS_T_OPT);
        put16(p + 3, DNS_EDNS_ADVERTISE);
        p[5] = m->ext_rcode;
        p[6] = 0;
        put16(p + 7, 0);
        put16(p + 9, 0);
        m->len += DNS_OPT_LEN;
        m->count[3]++;
    }
    uint16_t flags = m->flags;
    if (m->tc)
        flags |= DNS_F_TC;
    put16(m->buf + 2, flags);
    for (int i = 0; i < 4; i++)
        put16(m->buf + 4 + 2 * i, m->count[i]);
    return m->len;
}

/* ---- reading whole messages ---------------------------------------------------------- */

static int rdata_check(const uint8_t *msg, size_t len, const struct dns_rr *rr)
{
    size_t p = rr->rdata, end = rr->rdata + rr->rdlen;
    struct dns_name n;
    switch (rr->type) {
    case DNS_T_A:
        return rr->rdlen == 4 ? 0 : CN_EPROTO;
    case DNS_T_AAAA:
        return rr->rdlen == 16 ? 0 : CN_EPROTO;
    case DNS_T_NS:
    case DNS_T_CNAME:
    case DNS_T_PTR:
        if (dns_name_decode(msg, len, &p, &n))
            return CN_EPROTO;
        break;
    case DNS_T_SRV:
        p += 6;
        if (p > end || dns_name_decode(msg, len, &p, &n))
            return CN_EPROTO;
        break;
    case DNS_T_SOA:
        if (dns_name_decode(msg, len, &p, &n) || dns_name_decode(msg, len, &p, &n))
            return CN_EPROTO;
        p += 20;
        break;
    case DNS_T_TXT:
        while (p < end)
            p += 1 + (size_t)msg[p];
        break;
    default:
        return 0;
    }
    return p == end ? 0 : CN_EPROTO;
}

int dns_msg_walk(const uint8_t *msg, size_t len, dns_rr_cb cb, void *arg)
{
    if (len < DNS_HDR_LEN)
        return CN_EPROTO;
    size_t pos = DNS_HDR_LEN;
    for (int sec = 0; sec < 4; sec++) {
        unsigned n = get16(msg + 4 + 2 * sec);
        for (unsigned i = 0; i < n; i++) {
            struct dns_rr rr;
            memset(&rr, 0, offsetof(struct dns_rr, owner));
            rr.section = sec;
            if (sec == 0) {
                if (dns_name_decode(msg, len, &pos, &rr.owner) || pos + 4 > len)
                    return CN_EPROTO;
                rr.type = get16(msg + pos);
                rr.cls = get16(msg + pos + 2);
                pos += 4;
                rr.rdata = pos;
            } else {
                if (rr_read(msg, len, &pos, &rr.owner, &rr.type, &rr.cls, &rr.ttl, &rr.rdlen))
                    return CN_EPROTO;
                rr.rdata = pos - rr.rdlen;
                if (rdata_check(msg, len, &rr))
                    return CN_EPROTO;
            }
            int rc = cb ? cb(arg, msg, len, &rr) : 0;
            if (rc)
                return rc;
        }
    }
    return pos == len ? 0 : CN_EPROTO;
}
