/* server/forward.c: frames to and from peers. Raft messages go to the core;
 * followers forward writes to the leader (XPORT_FORWARD_REQ, encoded by
 * fwd_codec.c): the leader proposes, if it leads the term the follower
 * named, and answers (index, term) at once; the follower completes its
 * caller when it applies the entry with its envelope itself (the state
 * machine is deterministic, so its result is the leader's; requests.c).
 * Reads ask the leader for a read index the same way, operations (ops.c)
 * for their outcome, session renewals (renew.c) for a TTL clock reset,
 * questions (renew.c) for what only the leader's memory holds. */
#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "server/server_int.h"
#include "metrics/metrics.h"

void srv__send_raw(struct srv *s, uint64_t to, uint8_t type, const void *p, size_t len)
{
    if (s->x && !s->x_stopping && !s->failed)
        xport_send(s->x, to, type, p, len);
}

void srv__send_encoded(struct srv *s, const struct omsg *m)
{
    if (!s->x || s->x_stopping || s->failed)
        return;
    if (m->snap) {
        srv__sstream_start(s, m); /* the bytes first, from the file */
        return;
    }
    srv__send_encoded_now(s, m);
}

void srv__send_encoded_now(struct srv *s, const struct omsg *m)
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
    o->to = m->to;
    o->snap = m->type == RAFT_MSG_SNAPSHOT;
    o->snap_index = m->snap.index;
    o->snap_term = m->snap.term;
    if (raft_msg_encode(m, o->data, n, &o->len) != 0) {
        cn_free(o);
        return NULL;
    }
    return o;
}

int srv__send_req(struct srv *s, uint64_t to, const struct srv_fwd_req *m)
{
    if (!s->x || s->x_stopping || s->failed)
        return CN_ESHUTDOWN;
    struct cn_buf b = CN_BUF_INIT;
    int rc = srv_fwd_req_encode(m, &b);
    if (!rc)
        rc = xport_send(s->x, to, XPORT_FORWARD_REQ, b.p, b.len);
    cn_buf_free(&b);
    return rc;
}

int srv__send_resp(struct srv *s, uint64_t to, const struct srv_fwd_resp *m)
{
    if (!s->x || s->x_stopping || s->failed)
        return CN_ESHUTDOWN;
    struct cn_buf b = CN_BUF_INIT;
    int rc = srv_fwd_resp_encode(m, &b);
    if (!rc)
        rc = xport_send(s->x, to, XPORT_FORWARD_RESP, b.p, b.len);
    cn_buf_free(&b);
    return rc;
}

static void answer(struct srv *s, uint64_t to, enum srv_fwd_kind kind, uint64_t req, int rc,
                   uint64_t index, uint64_t term, const char *msg)
{
    struct srv_fwd_resp a = {.kind = kind,
                             .req_id = req,
                             .code = srv_fwd_code_from_err(rc),
                             .index = index,
                             .term = term};
    snprintf(a.msg, sizeof(a.msg), "%s", msg ? msg : "");
    srv__send_resp(s, to, &a);
}

/* A follower's write for the leader of m's term: proposed once per term
 * and attempt, answered from the table when sent again (server/reqs.c). */
static void on_propose(struct srv *s, uint64_t from, const struct srv_fwd_req *m)
{
    struct srv_fwd_resp a = {.kind = SRV_FWD_PROPOSE, .req_id = m->req_id, .code = SRV_FWD_OK};
    struct raft_status st = {.state = RAFT_FOLLOWER};
    if (s->raft)
        raft_get_status(s->raft, &st);
    uint64_t idx = 0, term = 0;
    switch (srv_req_table_check(&s->seen, st.state == RAFT_LEADER, st.term, from, m, &idx)) {
    case SRV_REQ_STALE:
        return; /* a late copy nobody waits for: no answer */
    case SRV_REQ_BAD:
        cn_warn("server", "forwarded write from %016llx without its envelope: refused",
                (unsigned long long)from);
        a.code = SRV_FWD_PROTO;
        break;
    case SRV_REQ_NOT_LEADER:
        a.code = SRV_FWD_NOT_LEADER;
        a.term = st.term;
        break;
    case SRV_REQ_DUP:
        a.index = idx; /* proposed already in this term: the same answer */
        a.term = st.term;
        break;
    case SRV_REQ_BUSY:
        a.code = SRV_FWD_BUSY;
        a.term = st.term;
        break;
    case SRV_REQ_PROPOSE: {
        int rc = raft_propose(s->raft, m->u.propose.cmd, m->u.propose.cmd_len, &idx, &term);
        if (rc) {
            a.code = srv_fwd_code_from_err(rc); /* AGAIN (a transfer) or NOMEM: nothing done */
            a.term = st.term;
            break;
        }
        srv__kick(s);
        mx_incr(MX_RAFT_APPLY, 1);
        srv_req_table_add(&s->seen, from, m, idx);
        a.index = idx;
        a.term = term;
        break;
    }
    }
    srv__send_resp(s, from, &a);
}

static void on_op(struct srv *s, uint64_t from, const struct srv_fwd_req *m)
{
    int kind = m->u.op.op == SRV_FWD_OP_REMOVE ? OP_REMOVE : OP_TRANSFER;
    if (srv__op_new(s, kind, m->u.op.id, m->u.op.addr, NULL, NULL, from, m->req_id) != 0)
        answer(s, from, SRV_FWD_OP, m->req_id, CN_ENOMEM, 0, 0, "out of memory");
}

static void on_read(struct srv *s, uint64_t from, const struct srv_fwd_req *m)
{
    struct rreq *r = cn_calloc(1, sizeof(*r));
    int rc = r ? 0 : CN_ENOMEM;
    if (r) {
        r->phase = R_REMOTE;
        r->mode =
            m->u.read.mode == SRV_FWD_READ_CONSISTENT ? SRV_READ_CONSISTENT : SRV_READ_DEFAULT;
        r->from = from;
        r->req_id = m->req_id;
        r->deadline = uv_now(s->loop) + s->hold_ms;
        rc = s->role == RAFT_LEADER ? srv__read_index(s, r) : CN_EAGAIN;
        if (rc)
            cn_free(r);
        else {
            LIST_PUSH(&s->reads, r);
            srv__kick(s);
        }
    }
    if (rc)
        answer(s, from, SRV_FWD_READ, m->req_id, rc, 0, 0, NULL);
}

static void on_fw_req(struct srv *s, uint64_t from, const uint8_t *p, size_t len)
{
    struct srv_fwd_req *m = cn_malloc(sizeof(*m)); /* an INFO is large */
    if (!m)
        return;
    char err[160];
    if (srv_fwd_req_decode(p, len, m, err, sizeof(err)) != 0) {
        cn_warn("server", "forwarded request from %016llx: %s", (unsigned long long)from, err);
    } else if (m->kind == SRV_FWD_INFO) {
        srv__on_info(s, from, m);
    } else if (m->kind == SRV_FWD_PROPOSE) {
        on_propose(s, from, m);
    } else if (m->kind == SRV_FWD_OP) {
        on_op(s, from, m);
    } else if (m->kind == SRV_FWD_READ) {
        on_read(s, from, m);
    } else if (m->kind == SRV_FWD_RENEW || m->kind == SRV_FWD_ASK) {
        srv__on_renew(s, from, m);
    }
    cn_free(m);
}

static void on_fw_resp(struct srv *s, uint64_t from, const uint8_t *p, size_t len)
{
    struct srv_fwd_resp m;
    char err[160];
    if (srv_fwd_resp_decode(p, len, &m, err, sizeof(err)) != 0) {
        cn_warn("server", "forwarding answer from %016llx: %s", (unsigned long long)from, err);
        return;
    }
    int rc = srv_fwd_err_from_code(m.code);
    uint64_t req = m.req_id, idx = m.index;
    if (m.kind == SRV_FWD_PROPOSE) {
        srv__prop_answer(s, &m);
    } else if (m.kind == SRV_FWD_RENEW || m.kind == SRV_FWD_ASK) {
        srv__renew_answer(s, &m);
    } else if (m.kind == SRV_FWD_OP) {
        for (struct op *o = s->ops.head; o; o = o->next) {
            if (!o->fwd || o->from || o->req_id != req)
                continue;
            if (rc == CN_EAGAIN) {
                o->fwd = false; /* the leader moved on: retried on the next tick */
                return;
            }
            srv__op_finish(s, o, rc, m.msg[0] ? m.msg : NULL);
            return;
        }
    } else if (m.kind == SRV_FWD_READ) {
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
    if (s->cl) {
        srv__client_frame(s, from, type, payload, len);
        return;
    }
    if (type == XPORT_CLIENT_REQ) {
        srv__client_req_frame(s, from, payload, len);
    } else if (type == XPORT_RAFT_MSG) {
        struct raft_msg m;
        void *owned = NULL;
        if (raft_msg_decode(payload, len, &m, &owned) != 0)
            return;
        if (m.from == from && s->raft &&
            (m.type != RAFT_MSG_SNAPSHOT || srv__sstream_deliverable(s, from, &m))) {
            struct pinfo *pi = srv__dir_find(s, from);
            if (pi)
                pi->last_rx_ms = uv_now(s->loop);
            raft_step(s->raft, &m);
        }
        cn_free(owned);
        srv__kick(s);
    } else if (type == XPORT_FORWARD_REQ) {
        on_fw_req(s, from, payload, len);
    } else if (type == XPORT_FORWARD_RESP) {
        on_fw_resp(s, from, payload, len);
    } else if (type == XPORT_SNAP_CHUNK) {
        srv__sstream_on_chunk(s, from, payload, len);
    } else if (type == XPORT_SNAP_ACK) {
        srv__sstream_on_ack(s, from, payload, len);
        srv__kick(s);
    }
}

void srv__on_peer_state(void *arg, uint64_t id, bool up)
{
    struct srv *s = arg;
    if (s->closing)
        return;
    if (s->cl) {
        srv__client_peer_state(s, id, up);
        return;
    }
    if (!up)
        srv__client_gone(s, id);
    if (up) {
        srv__send_info(s, id, true);
    } else if (s->raft) {
        srv__sstream_peer_down(s, id);
        raft_report_unreachable(s->raft, id);
    }
}
