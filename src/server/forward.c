/* server/forward.c: frames to and from peers. Raft messages go to the core;
 * followers forward writes to the leader (XPORT_FORWARD_REQ): the leader
 * proposes and answers (index, term) at once; the follower completes its
 * caller when it applies that (index, term) itself (the state machine is
 * deterministic, so its result is the leader's). Reads ask the leader for a
 * read index the same way, operations (ops.c) for their outcome. */
#include <string.h>

#include "base/enc.h"
#include "base/err.h"
#include "base/mem.h"
#include "server/server_int.h"

void srv__send_raw(struct srv *s, uint64_t to, uint8_t type, const void *p, size_t len)
{
    if (s->x && !s->x_stopping && !s->failed)
        xport_send(s->x, to, type, p, len);
}

void srv__send_encoded(struct srv *s, const struct omsg *m)
{
    if (!s->x || s->x_stopping || s->failed)
        return;
    int rc = xport_send(s->x, m->to, XPORT_RAFT_MSG, m->data, m->len);
    if (rc && s->raft && m->snap)
        raft_report_snapshot(s->raft, m->to, false); /* probe again, not after a timeout */
    if (rc == CN_EAGAIN && s->raft && !xport_peer_up(s->x, m->to))
        raft_report_unreachable(s->raft, m->to);
}

struct omsg *srv__encode_msg(const struct raft_msg *m)
{
    size_t n = raft_msg_encoded_size(m);
    struct omsg *o = cn_malloc(sizeof(*o) + n);
    if (!o)
        return NULL;
    o->next = NULL;
    o->to = m->to;
    o->snap = m->type == RAFT_MSG_SNAPSHOT;
    if (raft_msg_encode(m, o->data, n, &o->len) != 0) {
        cn_free(o);
        return NULL;
    }
    return o;
}

void srv__dec_str(struct cn_dec *d, char *out, size_t cap)
{
    size_t n = 0;
    const uint8_t *p = cn_dec_bytes(d, &n);
    if (!p) {
        out[0] = '\0';
        return;
    }
    if (n >= cap)
        n = cap - 1;
    memcpy(out, p, n);
    out[n] = '\0';
}

static void on_fw_req(struct srv *s, uint64_t from, const uint8_t *p, size_t len)
{
    struct cn_dec d;
    cn_dec_init(&d, p, len);
    uint8_t kind = cn_dec_u8(&d);
    if (kind == FW_INFO) {
        srv__on_info(s, from, &d);
        return;
    }
    if (kind == FW_PROPOSE) {
        uint64_t req = cn_dec_u64(&d);
        size_t n = 0;
        const uint8_t *data = cn_dec_bytes(&d, &n);
        if (d.err || !data)
            return;
        uint64_t idx = 0, term = 0;
        int rc = s->role == RAFT_LEADER ? raft_propose(s->raft, data, n, &idx, &term) : CN_EAGAIN;
        if (!rc)
            srv__kick(s);
        struct cn_buf b = CN_BUF_INIT;
        if (!cn_enc_u8(&b, FW_PROPOSE) && !cn_enc_u64(&b, req) && !cn_enc_u32(&b, (uint32_t)rc) &&
            !cn_enc_u64(&b, idx) && !cn_enc_u64(&b, term))
            srv__send_raw(s, from, XPORT_FORWARD_RESP, b.p, b.len);
        cn_buf_free(&b);
        return;
    }
    if (kind == FW_OP) {
        uint64_t req = cn_dec_u64(&d);
        uint8_t ok = cn_dec_u8(&d);
        uint64_t id = cn_dec_u64(&d);
        char addr[64];
        srv__dec_str(&d, addr, sizeof(addr));
        if (d.err || (ok != OP_REMOVE && ok != OP_TRANSFER))
            return;
        if (srv__op_new(s, ok, id, addr, NULL, NULL, from, req) != 0) {
            struct cn_buf b = CN_BUF_INIT;
            if (!cn_enc_u8(&b, FW_OP) && !cn_enc_u64(&b, req) &&
                !cn_enc_u32(&b, (uint32_t)CN_ENOMEM) && !cn_enc_u64(&b, 0) &&
                !cn_enc_str(&b, "out of memory"))
                srv__send_raw(s, from, XPORT_FORWARD_RESP, b.p, b.len);
            cn_buf_free(&b);
        }
        return;
    }
    if (kind == FW_READ) {
        uint64_t req = cn_dec_u64(&d);
        uint8_t mode = cn_dec_u8(&d);
        if (d.err)
            return;
        struct rreq *r = cn_calloc(1, sizeof(*r));
        int rc = r ? 0 : CN_ENOMEM;
        if (r) {
            r->phase = R_REMOTE;
            r->mode = mode == SRV_READ_CONSISTENT ? SRV_READ_CONSISTENT : SRV_READ_DEFAULT;
            r->from = from;
            r->req_id = req;
            r->ctx = ++s->next_ctx;
            r->deadline = uv_now(s->loop) + FWD_MS;
            rc = s->role == RAFT_LEADER ? raft_read_index(s->raft, r->ctx) : CN_EAGAIN;
            if (rc)
                cn_free(r);
            else {
                LIST_PUSH(&s->reads, r);
                srv__kick(s);
            }
        }
        if (rc) {
            struct cn_buf b = CN_BUF_INIT;
            if (!cn_enc_u8(&b, FW_READ) && !cn_enc_u64(&b, req) && !cn_enc_u32(&b, (uint32_t)rc) &&
                !cn_enc_u64(&b, 0))
                srv__send_raw(s, from, XPORT_FORWARD_RESP, b.p, b.len);
            cn_buf_free(&b);
        }
    }
}

static void on_fw_resp(struct srv *s, const uint8_t *p, size_t len)
{
    struct cn_dec d;
    cn_dec_init(&d, p, len);
    uint8_t kind = cn_dec_u8(&d);
    uint64_t req = cn_dec_u64(&d);
    int rc = (int)(int32_t)cn_dec_u32(&d);
    uint64_t idx = cn_dec_u64(&d);
    if (d.err)
        return;
    if (kind == FW_PROPOSE) {
        uint64_t term = cn_dec_u64(&d);
        if (d.err)
            return;
        for (struct prop *pr = s->props.head; pr; pr = pr->next) {
            if (pr->phase != P_FWD || pr->req_id != req)
                continue;
            if (rc) {
                pr->phase = P_HELD; /* the leader moved on: retry until the hold ends */
                return;
            }
            if (idx <= s->applied) {
                /* Applied here before the answer came (possible only when
                 * the transport switched connections): the result is gone. */
                srv__prop_finish(s, pr, CN_ECONFLICT, NULL);
                return;
            }
            pr->phase = P_PENDING;
            pr->index = idx;
            pr->term = term;
            pr->deadline = uv_now(s->loop) + PENDING_MS;
            return;
        }
    } else if (kind == FW_OP) {
        char msg[256];
        srv__dec_str(&d, msg, sizeof(msg));
        if (d.err)
            return;
        for (struct op *o = s->ops.head; o; o = o->next) {
            if (!o->fwd || o->from || o->req_id != req)
                continue;
            if (rc == CN_EAGAIN) {
                o->fwd = false; /* the leader moved on: retried on the next tick */
                return;
            }
            srv__op_finish(s, o, rc, msg[0] ? msg : NULL);
            return;
        }
    } else if (kind == FW_READ) {
        for (struct rreq *r = s->reads.head; r; r = r->next) {
            if (r->phase != R_FWD || r->ctx != req)
                continue;
            if (rc) {
                r->phase = R_HELD;
            } else {
                r->phase = R_APPLY;
                r->index = idx;
                if (idx <= s->applied)
                    srv__read_finish(s, r, 0);
            }
            return;
        }
    }
}

void srv__on_frame(void *arg, uint64_t from, uint8_t type, const void *payload, size_t len)
{
    struct srv *s = arg;
    if (s->closing)
        return;
    if (type == XPORT_RAFT_MSG) {
        struct raft_msg m;
        void *owned = NULL;
        if (raft_msg_decode(payload, len, &m, &owned) != 0)
            return;
        if (m.from == from && s->raft)
            raft_step(s->raft, &m);
        cn_free(owned);
        srv__kick(s);
    } else if (type == XPORT_FORWARD_REQ) {
        on_fw_req(s, from, payload, len);
    } else if (type == XPORT_FORWARD_RESP) {
        on_fw_resp(s, payload, len);
    }
}

void srv__on_peer_state(void *arg, uint64_t id, bool up)
{
    struct srv *s = arg;
    if (s->closing)
        return;
    if (up) {
        srv__send_info(s, id, true);
    } else if (s->raft) {
        raft_report_unreachable(s->raft, id);
    }
}
