/* dns/wire.h: the DNS wire format (RFC 1035 §4, EDNS0 RFC 6891, SRV RFC 2782),
 * as a pure codec: a strict query decoder and an answer encoder that writes
 * into a caller's buffer with name compression and truncation to whole
 * records. No I/O, no allocation, no clock: the server (server.c) and the
 * resolver (resolve.c) drive it, and fuzz_dns_msg round-trips it.
 *
 * Names are kept in uncompressed wire form (length-prefixed labels, ending
 * with the root's zero byte) with an index of where each label starts, so the
 * resolver can read labels right to left and the encoder can compress any
 * suffix. Comparison is ASCII case-insensitive (RFC 4343). */
#ifndef CN_DNS_WIRE_H
#define CN_DNS_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNS_HDR_LEN 12
#define DNS_NAME_MAX 255 /* RFC 1035 §2.3.4: wire length, root byte included */
#define DNS_LABEL_MAX 63
#define DNS_UDP_MIN 512         /* RFC 1035 §4.2.1, and the EDNS floor (RFC 6891 §6.2.5) */
#define DNS_TCP_MAX 65535       /* RFC 1035 §4.2.2: a 16-bit length prefix */
#define DNS_OPT_LEN 11          /* an OPT RR with no options */
#define DNS_EDNS_ADVERTISE 4096 /* what our own OPT advertises */

enum dns_type {
    DNS_T_A = 1,
    DNS_T_NS = 2,
    DNS_T_CNAME = 5,
    DNS_T_SOA = 6,
    DNS_T_PTR = 12,
    DNS_T_TXT = 16,
    DNS_T_AAAA = 28,
    DNS_T_SRV = 33,
    DNS_T_OPT = 41,
    DNS_T_AXFR = 252,
    DNS_T_ANY = 255,
};
#define DNS_C_IN 1
#define DNS_C_ANY 255

enum dns_rcode {
    DNS_RC_NOERROR = 0,
    DNS_RC_FORMERR = 1,
    DNS_RC_SERVFAIL = 2,
    DNS_RC_NXDOMAIN = 3,
    DNS_RC_NOTIMP = 4,
    DNS_RC_REFUSED = 5,
    DNS_RC_BADVERS = 16, /* extended (RFC 6891 §9): upper bits in the OPT */
};

/* Header flag bits (the 16-bit word after the id). */
#define DNS_F_QR 0x8000
#define DNS_F_AA 0x0400
#define DNS_F_TC 0x0200
#define DNS_F_RD 0x0100
#define DNS_F_RA 0x0080
#define DNS_F_CD 0x0010
#define DNS_OPCODE(f) (((f) >> 11) & 0xF)

struct dns_name {
    uint8_t len;     /* bytes of wire[], the final zero included (1 for the root) */
    uint8_t nlabels; /* labels, the root not counted */
    uint8_t wire[DNS_NAME_MAX];
    uint8_t off[128]; /* off[i]: where label i's length byte is in wire[] */
};

/* Parse dotted text ("web.service.consul." or without the final dot; "." or ""
 * is the root) into n. No escapes: a label is the bytes between dots.
 * Returns 0, or CN_EINVAL for an empty label, a label over 63 bytes or a name
 * over 255 (n is then undefined). */
int dns_name_from_text(struct dns_name *n, const char *text);
/* Append a label (len bytes) at the end of n, before the root.
 * Returns 0 or CN_EINVAL when it would not fit. */
int dns_name_append(struct dns_name *n, const char *label, size_t len);
/* Label i of n (0 = leftmost): pointer and length. */
static inline const uint8_t *dns_name_label(const struct dns_name *n, unsigned i, size_t *len)
{
    *len = n->wire[n->off[i]];
    return n->wire + n->off[i] + 1;
}
/* Write n as dotted text with a final dot into out (cap >= 256 is always
 * enough; bytes outside printable ASCII and '.' '\\' are written as \DDD, so
 * the cap must be 1024 for any name). Returns the length written. */
size_t dns_name_to_text(const struct dns_name *n, char *out, size_t cap);
/* True when the last `suffix->nlabels` labels of n equal suffix
 * (case-insensitive). */
bool dns_name_has_suffix(const struct dns_name *n, const struct dns_name *suffix);
bool dns_name_equal(const struct dns_name *a, const struct dns_name *b);

/* Decode the possibly compressed name at *pos of msg (len bytes) into out and
 * advance *pos past it. Every compression pointer must point strictly before
 * the pointer itself (so a loop is impossible), labels are at most 63 bytes,
 * the name at most 255, and the label types 01 and 10 (RFC 6891 §5) are
 * refused. Returns 0 or CN_EPROTO. */
int dns_name_decode(const uint8_t *msg, size_t len, size_t *pos, struct dns_name *out);

/* ---- queries ------------------------------------------------------------- */

struct dns_query {
    uint16_t id;
    uint16_t flags; /* the header's flags word as received */
    uint8_t opcode;
    struct dns_name qname;
    uint16_t qtype, qclass;
    bool edns;            /* an OPT RR was present */
    uint16_t udp_size;    /* the advertised payload size (>= 512) when edns */
    uint8_t edns_version; /* BADVERS when > 0 */
    bool edns_do;
};

enum dns_decode_result {
    DNS_DEC_OK = 0,
    DNS_DEC_DROP,    /* not worth an answer: shorter than a header, or a response (QR) */
    DNS_DEC_FORMERR, /* answer FORMERR (header only, the id echoed) */
    DNS_DEC_NOTIMP,  /* answer NOTIMP: an opcode other than QUERY */
    DNS_DEC_BADVERS, /* answer BADVERS with an OPT: EDNS version > 0 (RFC 6891 §6.1.3) */
};

/* Decode one query message. Refused with FORMERR: QDCOUNT != 1, any answer or
 * authority record, more than 2 additional records (an OPT and a TSIG), a
 * malformed name or record, two OPT records or one not owned by the root,
 * trailing bytes. q->id, flags and opcode are set whenever the header could
 * be read, so the caller can answer any result but DROP. */
enum dns_decode_result dns_query_decode(const uint8_t *msg, size_t len, struct dns_query *q);

/* ---- answers ------------------------------------------------------------- */

enum dns_section { DNS_S_ANSWER = 0, DNS_S_AUTHORITY = 1, DNS_S_ADDITIONAL = 2 };

#define DNS_CTAB 256       /* name suffixes remembered for compression */
#define DNS_CTAB_SLOTS 512 /* their open-addressed table (a power of 2) */

/* A response being written into buf. Records are added in section order; a
 * record that would pass `limit` is not written at all (the message is rolled
 * back to before it) and ends that section and every later one except the
 * OPT, whose room is reserved at init. A record cut from the answer or
 * authority section sets TC; one cut from the additional section does not
 * (RFC 2181 §9). */
struct dns_msg {
    uint8_t *buf;
    size_t cap;   /* bytes of buf */
    size_t limit; /* largest message, OPT included */
    size_t len;
    size_t reserve; /* kept free for the OPT */
    uint16_t count[4];
    int section; /* the current section; adding to an earlier one is a bug */
    bool cut;    /* a record of the current or an earlier section did not fit */
    bool tc;
    bool compress;
    bool opt;
    uint16_t opt_size;
    uint8_t ext_rcode;
    uint16_t flags;
    const struct dns_name *qn; /* the question's name, written at offset 12 */
    unsigned nct;              /* suffixes remembered, in ct_log order */
    uint16_t ct_log[DNS_CTAB]; /* their slots, to undo a record that did not fit */
    struct {
        uint32_t hash;
        uint16_t off; /* 0: empty (no name starts before offset 12) */
    } ct[DNS_CTAB_SLOTS];
};

/* Start a response to q in buf (cap bytes) that will be at most `limit`
 * bytes (clamped to cap and to 65535). The header (id, opcode, RD echoed,
 * QR set, rcode) and the question are written at once; an OPT is added at
 * finish when q had one. Returns 0, or CN_ETOOBIG when not even the question
 * fits. */
int dns_msg_start(struct dns_msg *m, uint8_t *buf, size_t cap, size_t limit,
                  const struct dns_query *q, uint16_t rcode);
/* The header flags to set besides QR and RD (AA, RA) and the rcode. */
void dns_msg_set_rcode(struct dns_msg *m, uint16_t rcode);
void dns_msg_set_flags(struct dns_msg *m, uint16_t flags);

/* Add a record. Each returns 0, or CN_ETOOBIG when it did not fit (the
 * message is unchanged but for the cut/TC state), or CN_EINVAL for bad
 * arguments (a TXT string over 255 bytes is split into several strings, so
 * only an over-long name can be invalid). */
int dns_msg_a(struct dns_msg *m, int sec, const struct dns_name *owner, uint32_t ttl,
              const uint8_t ip[4]);
int dns_msg_aaaa(struct dns_msg *m, int sec, const struct dns_name *owner, uint32_t ttl,
                 const uint8_t ip[16]);
/* CNAME, PTR, NS: a record whose data is one name. */
int dns_msg_name_rr(struct dns_msg *m, int sec, const struct dns_name *owner, uint16_t type,
                    uint32_t ttl, const struct dns_name *target);
int dns_msg_srv(struct dns_msg *m, int sec, const struct dns_name *owner, uint32_t ttl,
                uint16_t prio, uint16_t weight, uint16_t port, const struct dns_name *target);
int dns_msg_txt(struct dns_msg *m, int sec, const struct dns_name *owner, uint32_t ttl,
                const char *text, size_t len);
struct dns_soa {
    const struct dns_name *mname, *rname;
    uint32_t serial, refresh, retry, expire, minimum;
};
int dns_msg_soa(struct dns_msg *m, int sec, const struct dns_name *owner, uint32_t ttl,
                const struct dns_soa *soa);
/* Write the counts, TC and the OPT (when the query had EDNS) and return the
 * message length. */
size_t dns_msg_finish(struct dns_msg *m);

/* A header-only answer (FORMERR, NOTIMP, REFUSED...) to the query whose first
 * bytes are in msg (len >= 12): id and opcode echoed, QR set, counts zero.
 * Writes 12 bytes into out. */
void dns_msg_header_only(const uint8_t *msg, uint8_t out[DNS_HDR_LEN], uint16_t rcode);

/* ---- reading whole messages (tests, fuzzing, the forwarder's checks) ---- */

struct dns_rr {
    int section; /* 0 question, 1 answer, 2 authority, 3 additional */
    struct dns_name owner;
    uint16_t type, cls;
    uint32_t ttl;
    size_t rdata; /* offset of the rdata in the message */
    size_t rdlen;
};
/* Called for every record (and the questions); nonzero stops the walk and is
 * returned. */
typedef int (*dns_rr_cb)(void *arg, const uint8_t *msg, size_t len, const struct dns_rr *rr);
/* Walk every section of msg strictly: every name decodes, every record
 * fits, the counts match and no byte is left over. Names inside the rdata of
 * NS, CNAME, PTR, SOA and SRV records are decoded too. Returns 0,
 * CN_EPROTO, or what cb returned. */
int dns_msg_walk(const uint8_t *msg, size_t len, dns_rr_cb cb, void *arg);

#endif
