/* server/fwd_codec.c: encode and decode the forwarding protocol and the
 * proposal envelope (fwd_codec.h; docs/wire-format.md). Little-endian
 * integers, strings and byte strings as u32 length then bytes (base/enc.h). */
#include <stdio.h>
#include <string.h>

#include "base/enc.h"
#include "base/err.h"
#include "server/fwd_codec.h"
#include "server/wire_rd.h"

/* ---- error codes -------------------------------------------------------- */

static const struct {
    enum srv_fwd_code code;
    int err;
} codes[] = {
    {SRV_FWD_OK, 0},
    {SRV_FWD_NOMEM, CN_ENOMEM},
    {SRV_FWD_INVAL, CN_EINVAL},
    {SRV_FWD_NOTFOUND, CN_ENOTFOUND},
    {SRV_FWD_CONFLICT, CN_ECONFLICT},
    {SRV_FWD_TOOBIG, CN_ETOOBIG},
    {SRV_FWD_IO, CN_EIO},
    {SRV_FWD_CORRUPT, CN_ECORRUPT},
    {SRV_FWD_EXIST, CN_EEXIST},
    {SRV_FWD_SHUTDOWN, CN_ESHUTDOWN},
    {SRV_FWD_PROTO, CN_EPROTO},
    {SRV_FWD_AGAIN, CN_EAGAIN},
    {SRV_FWD_RANGE, CN_ERANGE},
    /* one way only: both mean "nothing was done, try again" locally */
    {SRV_FWD_NOT_LEADER, CN_EAGAIN},
    {SRV_FWD_BUSY, CN_EAGAIN},
};

enum srv_fwd_code srv_fwd_code_from_err(int rc)
{
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (codes[i].err == rc)
            return codes[i].code;
    return SRV_FWD_IO;
}

int srv_fwd_err_from_code(enum srv_fwd_code c)
{
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (codes[i].code == c)
            return codes[i].err;
    return CN_EPROTO;
}

/* ---- encoding ----------------------------------------------------------- */

static int enc_str(struct cn_buf *b, const char *s, size_t cap)
{
    size_t n = strnlen(s, cap);
    if (n >= cap)
        return CN_EINVAL; /* not NUL-terminated within its field */
    return cn_enc_bytes(b, s, n);
}

static int enc_peer(struct cn_buf *b, const struct srv_fwd_peer *p)
{
    int rc = cn_enc_u64(b, p->id);
    rc = rc ? rc : enc_str(b, p->node, sizeof(p->node));
    rc = rc ? rc : enc_str(b, p->uuid, sizeof(p->uuid));
    rc = rc ? rc : enc_str(b, p->addr, sizeof(p->addr));
    rc = rc ? rc : cn_enc_u8(b, p->has_log ? 1 : 0);
    return rc ? rc : cn_enc_u32(b, p->serf_port);
}

int srv_fwd_req_encode(const struct srv_fwd_req *m, struct cn_buf *b)
{
    int rc = cn_enc_u8(b, SRV_FWD_VERSION);
    rc = rc ? rc : cn_enc_u8(b, (uint8_t)m->kind);
    if (rc)
        return rc;
    switch (m->kind) {
    case SRV_FWD_INFO:
        if (m->u.info.n > SRV_FWD_MAX_PEERS)
            return CN_EINVAL;
        rc = cn_enc_u8(b, m->u.info.want_reply ? 1 : 0);
        rc = rc ? rc : enc_peer(b, &m->u.info.self);
        rc = rc ? rc : cn_enc_u32(b, m->u.info.n);
        for (uint32_t i = 0; i < m->u.info.n && !rc; i++)
            rc = enc_peer(b, &m->u.info.peers[i]);
        return rc;
    case SRV_FWD_PROPOSE:
        if (m->u.propose.cmd_len > UINT32_MAX)
            return CN_EINVAL;
        rc = cn_enc_u64(b, m->req_id);
        rc = rc ? rc : cn_enc_u64(b, m->u.propose.term);
        rc = rc ? rc : cn_enc_u64(b, m->u.propose.epoch);
        rc = rc ? rc : cn_enc_u64(b, m->u.propose.floor);
        return rc ? rc : cn_enc_bytes(b, m->u.propose.cmd, m->u.propose.cmd_len);
    case SRV_FWD_READ:
        if (m->u.read.mode != SRV_FWD_READ_DEFAULT && m->u.read.mode != SRV_FWD_READ_CONSISTENT)
            return CN_EINVAL;
        rc = cn_enc_u64(b, m->req_id);
        return rc ? rc : cn_enc_u8(b, (uint8_t)m->u.read.mode);
    case SRV_FWD_OP:
        if (m->u.op.op != SRV_FWD_OP_REMOVE && m->u.op.op != SRV_FWD_OP_TRANSFER)
            return CN_EINVAL;
        rc = cn_enc_u64(b, m->req_id);
        rc = rc ? rc : cn_enc_u8(b, (uint8_t)m->u.op.op);
        rc = rc ? rc : cn_enc_u64(b, m->u.op.id);
        return rc ? rc : enc_str(b, m->u.op.addr, sizeof(m->u.op.addr));
    case SRV_FWD_RENEW:
        if (!m->u.renew.session[0])
            return CN_EINVAL;
        rc = cn_enc_u64(b, m->req_id);
        return rc ? rc : enc_str(b, m->u.renew.session, sizeof(m->u.renew.session));
    case SRV_FWD_ASK:
        if (!m->u.ask.what[0])
            return CN_EINVAL;
        rc = cn_enc_u64(b, m->req_id);
        return rc ? rc : enc_str(b, m->u.ask.what, sizeof(m->u.ask.what));
    }
    return CN_EINVAL;
}

int srv_fwd_resp_encode(const struct srv_fwd_resp *m, struct cn_buf *b)
{
    if ((unsigned)m->code > SRV_FWD_CODE_MAX)
        return CN_EINVAL;
    if (m->kind != SRV_FWD_PROPOSE && m->kind != SRV_FWD_READ && m->kind != SRV_FWD_OP &&
        m->kind != SRV_FWD_RENEW && m->kind != SRV_FWD_ASK)
        return CN_EINVAL;
    if (m->kind == SRV_FWD_ASK &&
        (m->answer_len > SRV_FWD_ANSWER_MAX || (m->code != SRV_FWD_OK && m->answer_len)))
        return CN_EINVAL;
    int rc = cn_enc_u8(b, SRV_FWD_VERSION);
    rc = rc ? rc : cn_enc_u8(b, (uint8_t)m->kind);
    rc = rc ? rc : cn_enc_u64(b, m->req_id);
    rc = rc ? rc : cn_enc_u8(b, (uint8_t)m->code);
    if (rc)
        return rc;
    if (m->kind == SRV_FWD_PROPOSE) {
        rc = cn_enc_u64(b, m->index);
        return rc ? rc : cn_enc_u64(b, m->term);
    }
    if (m->kind == SRV_FWD_READ)
        return cn_enc_u64(b, m->index);
    if (m->kind == SRV_FWD_RENEW)
        return 0; /* the code says it all */
    if (m->kind == SRV_FWD_ASK)
        return cn_enc_bytes(b, m->answer, m->answer_len);
    return enc_str(b, m->msg, sizeof(m->msg));
}

/* ---- decoding ----------------------------------------------------------- */

static bool rd_bool(struct srv_rd *r, const char *what)
{
    size_t at = r->off;
    uint8_t v = srv_rd_u8(r, what);
    if (v > 1) {
        r->off = at;
        srv_rd_fail(r, "%s is %u, not 0 or 1", what, v);
    }
    return v == 1;
}

static void rd_str(struct srv_rd *r, char *out, size_t cap, const char *what)
{
    size_t at = r->off, n;
    out[0] = '\0';
    const uint8_t *p = srv_rd_bytes(r, &n, what);
    if (!p)
        return;
    if (n >= cap) {
        r->off = at;
        srv_rd_fail(r, "%s is %zu bytes (at most %zu)", what, n, cap - 1);
        return;
    }
    if (memchr(p, 0, n)) {
        r->off = at;
        srv_rd_fail(r, "%s contains a NUL byte", what);
        return;
    }
    memcpy(out, p, n);
    out[n] = '\0';
}

static void rd_peer(struct srv_rd *r, struct srv_fwd_peer *p)
{
    p->id = srv_rd_u64(r, "peer id");
    rd_str(r, p->node, sizeof(p->node), "node name");
    rd_str(r, p->uuid, sizeof(p->uuid), "node id");
    rd_str(r, p->addr, sizeof(p->addr), "address");
    p->has_log = rd_bool(r, "has_log");
    uint32_t sp = srv_rd_u32(r, "serf port");
    if (!r->bad && sp > 65535)
        srv_rd_fail(r, "serf port %u", sp);
    p->serf_port = (uint16_t)sp;
}

/* version and kind, common to requests and answers */
static enum srv_fwd_kind rd_head(struct srv_rd *r, bool req)
{
    uint8_t v = srv_rd_u8(r, "version");
    if (!r->bad && v != SRV_FWD_VERSION) {
        r->off = 0;
        srv_rd_fail(r, "version %u, we speak %u", v, SRV_FWD_VERSION);
        return 0;
    }
    uint8_t k = srv_rd_u8(r, "kind");
    if (!r->bad && !(k == SRV_FWD_PROPOSE || k == SRV_FWD_READ || k == SRV_FWD_OP ||
                     k == SRV_FWD_RENEW || k == SRV_FWD_ASK || (req && k == SRV_FWD_INFO))) {
        r->off--;
        srv_rd_fail(r, "unknown %s kind %u", req ? "request" : "answer", k);
        return 0;
    }
    return (enum srv_fwd_kind)k;
}

int srv_fwd_req_decode(const void *p, size_t len, struct srv_fwd_req *m, char *err, size_t errcap)
{
    struct srv_rd r = {.p = p, .len = len, .err = err, .errcap = errcap};
    if (err && errcap)
        err[0] = '\0';
    memset(m, 0, sizeof(*m));
    m->kind = rd_head(&r, true);
    if (r.bad)
        return CN_EPROTO;
    size_t at;
    switch (m->kind) {
    case SRV_FWD_INFO:
        m->u.info.want_reply = rd_bool(&r, "want_reply");
        rd_peer(&r, &m->u.info.self);
        at = r.off;
        m->u.info.n = srv_rd_u32(&r, "peer count");
        if (!r.bad && m->u.info.n > SRV_FWD_MAX_PEERS) {
            r.off = at;
            srv_rd_fail(&r, "%u peers (at most %u)", m->u.info.n, SRV_FWD_MAX_PEERS);
        }
        for (uint32_t i = 0; i < m->u.info.n && !r.bad; i++)
            rd_peer(&r, &m->u.info.peers[i]);
        break;
    case SRV_FWD_PROPOSE:
        m->req_id = srv_rd_u64(&r, "request id");
        m->u.propose.term = srv_rd_u64(&r, "term");
        m->u.propose.epoch = srv_rd_u64(&r, "epoch");
        m->u.propose.floor = srv_rd_u64(&r, "floor");
        m->u.propose.cmd = srv_rd_bytes(&r, &m->u.propose.cmd_len, "command");
        break;
    case SRV_FWD_READ: {
        m->req_id = srv_rd_u64(&r, "request id");
        at = r.off;
        uint8_t mode = srv_rd_u8(&r, "read mode");
        if (!r.bad && mode != SRV_FWD_READ_DEFAULT && mode != SRV_FWD_READ_CONSISTENT) {
            r.off = at;
            srv_rd_fail(&r, "unknown read mode %u", mode);
        }
        m->u.read.mode = (enum srv_fwd_read_mode)mode;
        break;
    }
    case SRV_FWD_OP: {
        m->req_id = srv_rd_u64(&r, "request id");
        at = r.off;
        uint8_t op = srv_rd_u8(&r, "operation");
        if (!r.bad && op != SRV_FWD_OP_REMOVE && op != SRV_FWD_OP_TRANSFER) {
            r.off = at;
            srv_rd_fail(&r, "unknown operation %u", op);
        }
        m->u.op.op = (enum srv_fwd_op)op;
        m->u.op.id = srv_rd_u64(&r, "server id");
        rd_str(&r, m->u.op.addr, sizeof(m->u.op.addr), "address");
        break;
    }
    case SRV_FWD_RENEW:
        m->req_id = srv_rd_u64(&r, "request id");
        at = r.off;
        rd_str(&r, m->u.renew.session, sizeof(m->u.renew.session), "session id");
        if (!r.bad && !m->u.renew.session[0]) {
            r.off = at;
            srv_rd_fail(&r, "empty session id");
        }
        break;
    case SRV_FWD_ASK:
        m->req_id = srv_rd_u64(&r, "request id");
        at = r.off;
        rd_str(&r, m->u.ask.what, sizeof(m->u.ask.what), "question");
        if (!r.bad && !m->u.ask.what[0]) {
            r.off = at;
            srv_rd_fail(&r, "empty question");
        }
        break;
    }
    return srv_rd_end(&r);
}

int srv_fwd_resp_decode(const void *p, size_t len, struct srv_fwd_resp *m, char *err, size_t errcap)
{
    struct srv_rd r = {.p = p, .len = len, .err = err, .errcap = errcap};
    if (err && errcap)
        err[0] = '\0';
    memset(m, 0, sizeof(*m));
    m->kind = rd_head(&r, false);
    m->req_id = srv_rd_u64(&r, "request id");
    size_t at = r.off;
    uint8_t code = srv_rd_u8(&r, "code");
    if (!r.bad && code > SRV_FWD_CODE_MAX) {
        r.off = at;
        srv_rd_fail(&r, "unknown code %u", code);
    }
    m->code = (enum srv_fwd_code)code;
    if (r.bad)
        return CN_EPROTO;
    if (m->kind == SRV_FWD_PROPOSE) {
        m->index = srv_rd_u64(&r, "index");
        m->term = srv_rd_u64(&r, "term");
    } else if (m->kind == SRV_FWD_READ) {
        m->index = srv_rd_u64(&r, "index");
    } else if (m->kind == SRV_FWD_RENEW) {
        /* nothing after the code */
    } else if (m->kind == SRV_FWD_ASK) {
        at = r.off;
        m->answer = srv_rd_bytes(&r, &m->answer_len, "answer");
        if (!r.bad &&
            (m->answer_len > SRV_FWD_ANSWER_MAX || (m->code != SRV_FWD_OK && m->answer_len))) {
            r.off = at;
            srv_rd_fail(&r, "answer of %zu bytes with code %u", m->answer_len, code);
        }
    } else {
        rd_str(&r, m->msg, sizeof(m->msg), "message");
    }
    return srv_rd_end(&r);
}

/* ---- envelope ----------------------------------------------------------- */

void srv_env_put(uint8_t *h, const struct srv_env *e)
{
    h[0] = SRV_ENV_MAGIC;
    h[1] = SRV_ENV_VERSION;
    cn_put_u64(h + 2, e->origin);
    cn_put_u64(h + 10, e->req_id);
}

int srv_env_encode(const struct srv_env *e, const void *cmd, size_t len, struct cn_buf *out)
{
    uint8_t h[SRV_ENV_LEN];
    srv_env_put(h, e);
    int rc = cn_buf_reserve(out, sizeof(h) + len);
    rc = rc ? rc : cn_buf_append(out, h, sizeof(h));
    return rc || !len ? rc : cn_buf_append(out, cmd, len);
}

int srv_env_decode(const void *p, size_t len, struct srv_env *e, const void **cmd, size_t *cmd_len)
{
    const uint8_t *b = p;
    *cmd = p;
    *cmd_len = len;
    if (!len || b[0] != SRV_ENV_MAGIC)
        return 0;
    if (len < SRV_ENV_LEN || b[1] != SRV_ENV_VERSION)
        return CN_EPROTO;
    e->origin = cn_get_u64(b + 2);
    e->req_id = cn_get_u64(b + 10);
    *cmd = b + SRV_ENV_LEN;
    *cmd_len = len - SRV_ENV_LEN;
    return 1;
}
