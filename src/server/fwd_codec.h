/* server/fwd_codec.h: the forwarding protocol between servers (the payloads
 * of XPORT_FORWARD_REQ and XPORT_FORWARD_RESP frames) and the envelope a
 * proposal carries in its log entry. docs/wire-format.md documents every
 * field; this file is the one place they are encoded and decoded.
 *
 * PURE: structs in, bytes out and back. No libuv, no struct srv, no I/O, no
 * clock. Decoding is strict: a wrong version, an unknown kind, code, mode or
 * flag value, a truncated field, an over-long string, an embedded NUL or a
 * trailing byte is an error (CN_EPROTO) with a message naming the byte
 * offset. Error values travel as frozen wire codes (enum srv_fwd_code), never
 * as raw CN_E* numbers: srv_fwd_code_from_err / srv_fwd_err_from_code map
 * them both ways. */
#ifndef CN_SERVER_FWD_CODEC_H
#define CN_SERVER_FWD_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define SRV_FWD_VERSION 1    /* first byte of every payload */
#define SRV_FWD_MAX_PEERS 64 /* gossiped peers in one INFO */
#define SRV_FWD_NODE_MAX 64  /* string fields: capacities including the NUL */
#define SRV_FWD_UUID_MAX 40
#define SRV_FWD_ADDR_MAX 64
#define SRV_FWD_MSG_MAX 256
#define SRV_FWD_SESSION_MAX 129 /* a session ID (state's STATE_SESSION_ID_MAX + NUL) */
#define SRV_FWD_ASK_MAX 33      /* an ASK's question name, NUL included */
#define SRV_FWD_ANSWER_MAX 8192 /* an ASK's answer bytes */

enum srv_fwd_kind {
    SRV_FWD_INFO = 1,    /* request only: who I am, whom I know */
    SRV_FWD_PROPOSE = 2, /* a write for the leader of a given term */
    SRV_FWD_READ = 3,    /* a read index */
    SRV_FWD_OP = 4,      /* a membership operation (remove, transfer) */
    SRV_FWD_RENEW = 5,   /* a session renewal: the leader restarts its TTL clock (no log
                          * write; Consul's Session.Renew RPC forwarded to the leader) */
    SRV_FWD_ASK = 6,     /* a question only the leader answers, by name; the answer is
                          * bytes (Consul's reads forwarded to the leader unless stale) */
};

/* Answer codes on the wire. FROZEN: a value keeps its meaning forever; new
 * meanings get new numbers. */
enum srv_fwd_code {
    SRV_FWD_OK = 0,
    SRV_FWD_NOT_LEADER = 1, /* not the leader of the term asked (PROPOSE) or not the leader:
                             * nothing was done; the answer's term is the responder's */
    SRV_FWD_BUSY = 2,       /* refused for now (a table is full): nothing was done, retry */
    SRV_FWD_NOMEM = 3,
    SRV_FWD_INVAL = 4,
    SRV_FWD_NOTFOUND = 5,
    SRV_FWD_CONFLICT = 6,
    SRV_FWD_TOOBIG = 7,
    SRV_FWD_IO = 8, /* also any local error without a code of its own */
    SRV_FWD_CORRUPT = 9,
    SRV_FWD_EXIST = 10,
    SRV_FWD_SHUTDOWN = 11,
    SRV_FWD_PROTO = 12,
    SRV_FWD_AGAIN = 13, /* retryable (no leader, a change in progress, timed out) */
    SRV_FWD_RANGE = 14,
    SRV_FWD_CODE_MAX = 14
};

/* CN_E* (or 0) -> wire code; an unknown negative value -> SRV_FWD_IO. */
enum srv_fwd_code srv_fwd_code_from_err(int rc);
/* Wire code -> CN_E* (NOT_LEADER, BUSY and AGAIN all give CN_EAGAIN); an
 * unknown code -> CN_EPROTO. */
int srv_fwd_err_from_code(enum srv_fwd_code c);

enum srv_fwd_read_mode { SRV_FWD_READ_DEFAULT = 0, SRV_FWD_READ_CONSISTENT = 1 };
enum srv_fwd_op { SRV_FWD_OP_REMOVE = 1, SRV_FWD_OP_TRANSFER = 2 };

struct srv_fwd_peer {
    uint64_t id;
    char node[SRV_FWD_NODE_MAX];
    char uuid[SRV_FWD_UUID_MAX];
    char addr[SRV_FWD_ADDR_MAX];
    bool has_log;
    uint16_t serf_port; /* its LAN gossip port, 0 = none (servers that formed through RPC
                         * joins find each other's gossip address this way) */
};

struct srv_fwd_req {
    enum srv_fwd_kind kind;
    uint64_t req_id; /* PROPOSE, READ, OP, RENEW: the sender's id, echoed in the answer. PROPOSE:
                      * the attempt's id, increasing per sender epoch */
    union {
        struct {
            bool want_reply;
            struct srv_fwd_peer self;
            uint32_t n; /* <= SRV_FWD_MAX_PEERS */
            struct srv_fwd_peer peers[SRV_FWD_MAX_PEERS];
        } info;
        struct {
            uint64_t term;   /* T_sent: propose only if leader in exactly this term */
            uint64_t epoch;  /* the sender's process (random, fixed for its lifetime) */
            uint64_t floor;  /* every attempt of this epoch with req_id < floor is closed:
                              * never sent again (non-decreasing per epoch) */
            const void *cmd; /* the entry: envelope then state command. Borrowed:
                              * encode from the caller's, decode into the input */
            size_t cmd_len;
        } propose;
        struct {
            enum srv_fwd_read_mode mode;
        } read;
        struct {
            enum srv_fwd_op op;
            uint64_t id; /* 0: by address */
            char addr[SRV_FWD_ADDR_MAX];
        } op;
        struct {
            char session[SRV_FWD_SESSION_MAX];
        } renew;
        struct {
            char what[SRV_FWD_ASK_MAX]; /* non-empty */
        } ask;
    } u;
};

struct srv_fwd_resp {
    enum srv_fwd_kind kind; /* PROPOSE, READ, OP, RENEW or ASK (RENEW: the code alone; OK
                             * renewed, NOTFOUND no such session, NOT_LEADER retry) */
    uint64_t req_id;
    enum srv_fwd_code code;
    uint64_t index;            /* PROPOSE (OK): where proposed; READ (OK): the read index */
    uint64_t term;             /* PROPOSE: OK: the term proposed in; else the responder's term */
    char msg[SRV_FWD_MSG_MAX]; /* OP: what failed ("" = nothing to say) */
    const void *answer;        /* ASK: the answer (OK: <= SRV_FWD_ANSWER_MAX bytes, else
                                * none). Borrowed: encode from the caller's, decode into
                                * the input */
    size_t answer_len;
};

/* Append the encoding of m to out. 0, CN_ENOMEM, or CN_EINVAL (a field the
 * format cannot carry: unknown kind or value, n over the maximum, a string
 * that does not fit its field); out may then hold a partial encoding. */
int srv_fwd_req_encode(const struct srv_fwd_req *m, struct cn_buf *out);
int srv_fwd_resp_encode(const struct srv_fwd_resp *m, struct cn_buf *out);

/* Decode exactly len bytes. 0, or CN_EPROTO with a message in err (may be
 * NULL) naming the offset and the field; *m is then unspecified. A decoded
 * PROPOSE's cmd points into p. */
int srv_fwd_req_decode(const void *p, size_t len, struct srv_fwd_req *m, char *err, size_t errcap);
int srv_fwd_resp_decode(const void *p, size_t len, struct srv_fwd_resp *m, char *err,
                        size_t errcap);

/* ---- the envelope of a proposal's log entry ------------------------------
 * Every entry proposed through srv_propose is (magic, version, origin, req_id)
 * then the state command, so that the proposer recognizes its own entry
 * whichever leader proposed it and at whatever index. The magic is not a
 * state command type, so entries written before envelopes existed decode as
 * plain commands. */
#define SRV_ENV_MAGIC 0xC7
#define SRV_ENV_VERSION 1
#define SRV_ENV_LEN 18 /* bytes before the command */

struct srv_env {
    uint64_t origin; /* raft id of the server whose caller waits */
    uint64_t req_id; /* unique per origin process */
};

/* Write the SRV_ENV_LEN bytes of the envelope to out. */
void srv_env_put(uint8_t *out, const struct srv_env *e);
/* Append the envelope then cmd (copied). 0 or CN_ENOMEM. */
int srv_env_encode(const struct srv_env *e, const void *cmd, size_t len, struct cn_buf *out);
/* 1: an envelope, *e filled and cmd, cmd_len set to the command inside p; 0: no
 * envelope (a plain command, or empty): cmd, cmd_len = p, len; CN_EPROTO:
 * the magic with a wrong version or a truncated envelope. */
int srv_env_decode(const void *p, size_t len, struct srv_env *e, const void **cmd, size_t *cmd_len);

#endif
