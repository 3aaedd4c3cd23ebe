/* server/cl_codec.h: the client-agent protocol, the payloads of
 * XPORT_CLIENT_REQ and XPORT_CLIENT_RESP frames between a client agent and
 * a server (docs/wire-format.md, "Client agents"). A client agent has no
 * Raft state: it sends the server
 *  - HTTP: an API request (method, target, headers, body) that the server
 *    runs through its own API router; the answer is the status, headers
 *    and body the server's HTTP listener would have sent;
 *  - CANCEL: the client's caller went away; the server drops the request
 *    (a parked blocking query is released; no answer);
 *  - PROPOSE: a catalog command of the agent's own registrations (register,
 *    deregister, check status), proposed by the server; answered with a
 *    code, the index it was applied at and a message;
 *  - DUMP: what the catalog holds for one node, as register commands (the
 *    anti-entropy comparison), with the catalog's node count (the sync
 *    interval scales with it).
 *
 * PURE: no libuv, no struct srv, no I/O. Decoding is strict: a wrong
 * version, an unknown kind, a field out of range, a truncated field, a
 * header with CR, LF or NUL, a trailing byte is CN_EPROTO with a message
 * naming the byte offset. Decoded byte fields point into the input. */
#ifndef CN_SERVER_CL_CODEC_H
#define CN_SERVER_CL_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define SRV_CL_VERSION 1
#define SRV_CL_MAX_HDRS 64   /* headers in one request or answer */
#define SRV_CL_METHOD_MAX 16 /* bytes of a method */
#define SRV_CL_NODE_MAX 256  /* bytes of a node name (DUMP) */
#define SRV_CL_MSG_MAX 1024  /* bytes of a PROPOSE/DUMP answer's message */

enum srv_cl_kind {
    SRV_CL_HTTP = 1,
    SRV_CL_CANCEL = 2, /* request only */
    SRV_CL_PROPOSE = 3,
    SRV_CL_DUMP = 4,
};

struct srv_cl_hdr {
    const char *name, *value; /* not NUL-terminated */
    size_t name_len, value_len;
};

struct srv_cl_req {
    enum srv_cl_kind kind;
    uint64_t id; /* the client's request id, echoed in the answer */
    /* HTTP: method and target ("/v1/kv/a?index=3"), headers, body.
     * PROPOSE: body = the state command. DUMP: target = the node name. */
    const char *method, *target;
    size_t method_len, target_len;
    struct srv_cl_hdr hdrs[SRV_CL_MAX_HDRS];
    uint32_t nhdrs;
    const void *body;
    size_t body_len;
};

struct srv_cl_resp {
    enum srv_cl_kind kind; /* HTTP, PROPOSE or DUMP */
    uint64_t id;
    /* HTTP */
    uint16_t status; /* 100..599 */
    bool has_ctype;
    const char *ctype;
    size_t ctype_len;
    struct srv_cl_hdr hdrs[SRV_CL_MAX_HDRS];
    uint32_t nhdrs;
    /* HTTP: the body. PROPOSE: the message. DUMP: the commands, each a u32
     * length then its bytes (srv_cl_dump_next), or the message on error. */
    const void *body;
    size_t body_len;
    /* PROPOSE, DUMP */
    uint8_t code;   /* enum srv_fwd_code (server/fwd_codec.h) */
    uint64_t index; /* PROPOSE: the applied index; DUMP: the state's index */
    uint64_t nodes; /* DUMP: nodes in the catalog */
};

/* Append the encoding. 0, CN_EINVAL (a field out of range: too many
 * headers, a bad status, a header with CR/LF/NUL, an unknown kind) or
 * CN_ENOMEM. */
int srv_cl_req_encode(const struct srv_cl_req *m, struct cn_buf *out);
int srv_cl_resp_encode(const struct srv_cl_resp *m, struct cn_buf *out);
/* 0 or CN_EPROTO (err says why and where; may be NULL). */
int srv_cl_req_decode(const void *p, size_t len, struct srv_cl_req *m, char *err, size_t errcap);
int srv_cl_resp_decode(const void *p, size_t len, struct srv_cl_resp *m, char *err, size_t errcap);
/* Walk a DUMP answer's commands: *off starts at 0. 1 with the next command
 * in *cmd, *len; 0 at the end; CN_EPROTO when truncated. */
int srv_cl_dump_next(const void *p, size_t len, size_t *off, const void **cmd, size_t *cmd_len);
/* Append one command to a DUMP answer's body. 0 or CN_ENOMEM. */
int srv_cl_dump_add(struct cn_buf *body, const void *cmd, size_t len);

#endif
