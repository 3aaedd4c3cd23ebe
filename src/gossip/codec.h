/* gossip/codec.h: the gossip wire format (docs/wire-format.md, "Gossip"),
 * pure: an encoder and a strict decoder. Not memberlist's msgpack.
 *
 * A packet (a UDP datagram, or a TCP push/pull message without its u32
 * length prefix):
 *   'c' 'g'  version u8 (1)
 *   cluster  str8     (the datacenter: another cluster's packets are refused)
 *   sender   str8 name, str8 host, u16 port (its advertised gossip address)
 *   count    u8       (1..64 messages)
 *   message* type u8, len u16, body (len bytes)
 * str8 = u8 length + bytes (no NUL, no control bytes); names 1..128 bytes,
 * hosts 1..63. Integers little-endian. Bodies:
 *   PING     seq u32, target str8
 *   PINGREQ  seq u32, target str8, host str8, port u16, nack u8 (0/1)
 *   ACK      seq u32 [coordinate]: the acking member's network coordinate
 *            (coord/coord.h's wire form, COORD_WIRE_LEN bytes, Serf's ping
 *            delegate payload) when the body runs past the seq; a relayed
 *            ACK carries none
 *   NACK     seq u32
 *   ALIVE    inc u32, node str8, host str8, port u16, tags (u16 len + bytes)
 *   SUSPECT  inc u32, node str8, from str8
 *   DEAD     inc u32, node str8, from str8 (from == node: it left)
 *   PUSHPULL join u8 (0/1), n u32, then n states: node str8, host str8,
 *            port u16, inc u32, status u8 (1..4), tags (u16 len + bytes)
 *            (only in TCP messages, alone)
 *   QUERY    id u32, origin str8, host str8, port u16, relay u8 (0..5),
 *            op u8 (1..4: list, install, use, remove), key (u8 len: 0, or
 *            16/24/32 for install/use/remove, + bytes)
 *   QRESP    id u32, from str8, ok u8 (0/1), message (u8 len + printable
 *            bytes, may be empty), nkeys u8 (0..16), nkeys keys (u8 len
 *            16/24/32 + bytes; the first is the sender's primary)
 *   QRELAY   host str8, port u16 (the query's origin), then a QRESP body:
 *            a response sent through another member (relay factor)
 * Strict: an unknown version or type, a body that does not use exactly its
 * length, trailing bytes, a bad flag, status or tags encoding refuse the
 * whole packet. The encoding is canonical: what decodes re-encodes to the
 * same bytes. */
#ifndef CN_GOSSIP_CODEC_H
#define CN_GOSSIP_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "coord/coord.h"
#include "gossip/gossip.h"

#define GOSSIP_WIRE_VERSION 1
#define GOSSIP_MAX_MSGS 64

enum gossip_msg_type {
    GMSG_PING = 1,
    GMSG_PINGREQ = 2,
    GMSG_ACK = 3,
    GMSG_NACK = 4,
    GMSG_ALIVE = 5,
    GMSG_SUSPECT = 6,
    GMSG_DEAD = 7,
    GMSG_PUSHPULL = 8,
    GMSG_QUERY = 9,  /* a keyring query, gossiped (gossip.h) */
    GMSG_QRESP = 10, /* a member's answer, straight to the origin */
    GMSG_QRELAY = 11,
};

/* Query operations (serf's internal keyring queries). */
enum gossip_qop {
    GOSSIP_QOP_LIST = 1,
    GOSSIP_QOP_INSTALL = 2,
    GOSSIP_QOP_USE = 3,
    GOSSIP_QOP_REMOVE = 4,
};
#define GOSSIP_QTEXT_MAX 255
#define GOSSIP_QKEYS_MAX 16

struct gossip_hdr {
    char cluster[GOSSIP_CLUSTER_MAX + 1];
    char name[GOSSIP_NAME_MAX + 1];
    char host[GOSSIP_HOST_MAX + 1];
    uint16_t port;
};

/* One decoded message; strings copied, tags and a PUSHPULL's states borrowed
 * from the packet. */
struct gossip_msg {
    uint8_t type;
    uint32_t seq; /* PING, PINGREQ, ACK, NACK */
    uint32_t inc; /* ALIVE, SUSPECT, DEAD */
    char node[GOSSIP_NAME_MAX + 1];
    char from[GOSSIP_NAME_MAX + 1];
    char host[GOSSIP_HOST_MAX + 1];
    uint16_t port;
    bool nack; /* PINGREQ */
    bool join; /* PUSHPULL */
    const uint8_t *tags;
    size_t tags_len;
    uint32_t nstates; /* PUSHPULL */
    const uint8_t *states;
    size_t states_len;
    /* QUERY (seq = id, node = origin, host/port = its address), QRESP (seq =
     * id, node = from), QRELAY (host/port = the origin, then a QRESP) */
    uint8_t op, relay;
    uint8_t key_len;
    uint8_t key[32];
    bool ok;
    char text[GOSSIP_QTEXT_MAX + 1];
    uint8_t nkeys;
    const uint8_t *keys; /* nkeys x (u8 len + bytes), borrowed */
    size_t keys_len;
    bool has_coord; /* ACK: the trailer is present */
    struct coord coord;
};

/* One state of a PUSHPULL. */
struct gossip_pp_state {
    char node[GOSSIP_NAME_MAX + 1];
    char host[GOSSIP_HOST_MAX + 1];
    uint16_t port;
    uint32_t inc;
    uint8_t status;
    const uint8_t *tags;
    size_t tags_len;
};

/* ---- encoding ---- */
/* The header with a message count to patch: *count_off gets its offset. */
int gossip_enc_hdr(struct cn_buf *b, const struct gossip_hdr *h, size_t *count_off);
/* Encode one message (type, len, body) at the end of b. */
int gossip_enc_msg(struct cn_buf *b, const struct gossip_msg *m);
/* A PUSHPULL message: the body's fixed part, then gossip_enc_pp_state for
 * each state, then gossip_enc_pp_end to patch the length (the body may
 * exceed 64 KiB, so its len field holds 0xffff and the body runs to the end
 * of the message). */
int gossip_enc_pp_begin(struct cn_buf *b, bool join, uint32_t n, size_t *mark);
int gossip_enc_pp_state(struct cn_buf *b, const struct gossip_pp_state *s);
/* The same from borrowed strings (no copy into a gossip_pp_state). */
int gossip_enc_pp_entry(struct cn_buf *b, const char *node, const char *host, uint16_t port,
                        uint32_t inc, uint8_t status, const uint8_t *tags, size_t tags_len);
void gossip_enc_pp_end(struct cn_buf *b, size_t mark);
/* Encoded size of a message (what gossip_enc_msg appends). */
size_t gossip_msg_size(const struct gossip_msg *m);

/* ---- decoding ---- */
struct gossip_pkt {
    struct gossip_hdr hdr;
    unsigned nmsgs;
    const uint8_t *body; /* the messages */
    size_t body_len;
};
/* Validate a whole packet (every message decoded once). 0, or CN_ECORRUPT
 * with the reason in err. stream: a TCP message (one PUSHPULL); else a
 * datagram (no PUSHPULL). */
int gossip_pkt_decode(const void *p, size_t len, bool stream, struct gossip_pkt *out, char *err,
                      size_t errcap);
/* Iterate the messages of a decoded packet: *off starts at 0. 1 and *m, or 0
 * at the end. */
int gossip_pkt_next(const struct gossip_pkt *pkt, size_t *off, struct gossip_msg *m);
/* Iterate a PUSHPULL's states (validated by gossip_pkt_decode). */
int gossip_pp_next(const struct gossip_msg *m, size_t *off, struct gossip_pp_state *s);

#endif
