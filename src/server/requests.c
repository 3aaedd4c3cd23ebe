/* server/requests.c: proposals (srv_propose) and the read barrier
 * (srv_read_barrier). A request is held until a leader is known, then
 * proposed here (leader) or forwarded (forward.c answers it); it completes
 * when its entry (or read index) is applied locally, or fails with
 * CN_EAGAIN after hold_ms (Consul's rpc_hold_timeout, 7 s). */
#include <string.h>

#include "base/err.h"
#include "base/mem.h"
#include "server/server_int.h"

void srv__prop_finish(struct srv *s, struct prop *p, int rc, const struct state_result *res)
{
    LIST_DEL(&s->props, p);
    if (p->cb)
        p->cb(p->arg, rc, res);
    cn_free(p);
}

void srv__read_finish(struct srv *s, struct rreq *r, int rc)
{
    LIST_DEL(&s->reads, r);
    if (r->phase == R_REMOTE && rc) {
        /* Tell the follower, which asks again (or the next leader). */
        struct srv_fwd_resp a = {
            .kind = SRV_FWD_READ, .req_id = r->req_id, .code = srv_fwd_code_from_err(rc)};
        srv__send_resp(s, r->from, &a);
    }
    if (r->phase != R_REMOTE && r->cb)
        r->cb(r->arg, rc);
    cn_free(r);
}

void srv__reads_applied(struct srv *s)
{
    for (struct rreq *r = s->reads.head, *nx; r; r = nx) {
        nx = r->next;
        if (r->phase == R_APPLY && r->index <= s->applied)
            srv__read_finish(s, r, 0);
    }
}

static void fw_send_propose(struct srv *s, struct prop *p)
{
    p->req_id = ++s->next_req;
    struct srv_fwd_req m; /* not zeroed: the encoder reads only a PROPOSE's fields */
    m.kind = SRV_FWD_PROPOSE;
    m.req_id = p->req_id;
    m.u.propose.term = m.u.propose.seq = m.u.propose.floor = 0;
    m.u.propose.cmd = p->data;
    m.u.propose.cmd_len = p->len;
    if (srv__send_req(s, s->leader, &m) == 0) {
        p->phase = P_FWD;
        p->deadline = uv_now(s->loop) + FWD_MS;
    }
}

/* Try to move a held proposal forward: propose here, or forward. */
static void prop_dispatch(struct srv *s, struct prop *p)
{
    if (s->role == RAFT_LEADER) {
        uint64_t idx, term;
        int rc = raft_propose(s->raft, p->data, p->len, &idx, &term);
        if (rc == 0) {
            p->phase = P_PENDING;
            p->index = idx;
            p->term = term;
            p->deadline = uv_now(s->loop) + PENDING_MS;
            srv__kick(s);
        }
        return;
    }
    if (s->leader != RAFT_NONE && s->x)
        fw_send_propose(s, p);
}

static void fw_send_read(struct srv *s, struct rreq *r)
{
    r->ctx = ++s->next_req;
    struct srv_fwd_req m; /* not zeroed: the encoder reads only a READ's fields */
    m.kind = SRV_FWD_READ;
    m.req_id = r->ctx;
    m.u.read.mode = r->mode == SRV_READ_CONSISTENT ? SRV_FWD_READ_CONSISTENT : SRV_FWD_READ_DEFAULT;
    if (srv__send_req(s, s->leader, &m) == 0)
        r->phase = R_FWD;
}

static bool read_now(struct srv *s, enum srv_read_mode mode)
{
    if (mode == SRV_READ_STALE)
        return true;
    if (s->role != RAFT_LEADER || mode == SRV_READ_CONSISTENT)
        return false;
    struct raft_status st;
    raft_get_status(s->raft, &st);
    /* The lease says nobody else leads; the commit index is only complete
     * once an entry of this term (the no-op) committed: it is applied when
     * the last applied entry has the current term. */
    if (st.lease_valid)
        return s->applied_term == st.term && s->applied >= st.commit;
    /* A sole voter whose term's no-op is applied knows it is the leader. */
    size_t voters = 0;
    for (size_t i = 0; i < st.conf.n; i++)
        voters += st.conf.servers[i].role == RAFT_VOTER;
    return voters == 1 && st.last_term == st.term && s->applied >= st.last_index;
}

static void read_dispatch(struct srv *s, struct rreq *r)
{
    if (s->role == RAFT_LEADER) {
        r->ctx = ++s->next_ctx;
        if (raft_read_index(s->raft, r->ctx) == 0) {
            r->phase = R_RAFT;
            srv__kick(s);
        }
        return;
    }
    if (s->leader != RAFT_NONE && s->x)
        fw_send_read(s, r);
}

void srv__dispatch_held(struct srv *s)
{
    for (struct prop *p = s->props.head, *nx; p; p = nx) {
        nx = p->next;
        if (p->phase == P_HELD)
            prop_dispatch(s, p);
    }
    for (struct rreq *r = s->reads.head, *nx; r; r = nx) {
        nx = r->next;
        if (r->phase == R_HELD)
            read_dispatch(s, r);
    }
}

void srv__expire(struct srv *s)
{
    uint64_t now = uv_now(s->loop);
    for (struct prop *p = s->props.head, *nx; p; p = nx) {
        nx = p->next;
        if (p->deadline > now)
            continue;
        /* Held: no leader within the hold time (Consul: "No cluster
         * leader"). Forwarded or pending: the outcome is unknown; Consul
         * says "leadership lost while committing log". */
        srv__prop_finish(s, p, p->phase == P_HELD ? CN_EAGAIN : CN_ECONFLICT, NULL);
    }
    for (struct rreq *r = s->reads.head, *nx; r; r = nx) {
        nx = r->next;
        if (r->deadline <= now)
            srv__read_finish(s, r, CN_EAGAIN);
    }
}

int srv_propose(struct srv *s, const void *cmd, size_t len, srv_done_cb cb, void *arg)
{
    if (s->closing)
        return CN_ESHUTDOWN;
    if (s->write_err)
        return CN_EIO;
    struct prop *p = cn_malloc(sizeof(*p) + len);
    if (!p)
        return CN_ENOMEM;
    memset(p, 0, sizeof(*p));
    p->phase = P_HELD;
    p->cb = cb;
    p->arg = arg;
    p->len = len;
    p->deadline = uv_now(s->loop) + s->hold_ms;
    memcpy(p->data, cmd, len);
    LIST_PUSH(&s->props, p);
    prop_dispatch(s, p);
    return 0;
}

int srv_read_barrier(struct srv *s, enum srv_read_mode mode, srv_read_cb cb, void *arg)
{
    if (s->closing)
        return CN_ESHUTDOWN;
    if (read_now(s, mode)) {
        cb(arg, 0);
        return 0;
    }
    struct rreq *r = cn_calloc(1, sizeof(*r));
    if (!r)
        return CN_ENOMEM;
    r->phase = R_HELD;
    r->mode = mode;
    r->cb = cb;
    r->arg = arg;
    r->deadline = uv_now(s->loop) + s->hold_ms;
    LIST_PUSH(&s->reads, r);
    read_dispatch(s, r);
    return 0;
}
