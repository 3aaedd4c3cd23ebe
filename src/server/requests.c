/* server/requests.c: proposals (srv_propose) and the read barrier
 * (srv_read_barrier). A request is held until a leader is known, then
 * proposed here (leader) or forwarded (forward.c answers it); it completes
 * when its entry (or read index) is applied locally, or fails after hold_ms
 * from the caller's start (Consul's rpc_hold_timeout, 7 s): CN_EAGAIN when
 * nothing of it can still commit ("No cluster leader"), CN_ECONFLICT when
 * the outcome is unknown ("leadership lost while committing log").
 *
 * Exact re-forwarding (docs/architecture.md, "Followers, forwarding and
 * reads"): a write's entry carries an envelope (this server's id, env_id)
 * and completes it whoever proposed it. Each attempt is made in one term T:
 * proposed here as the leader of T, or forwarded with T to the leader of T,
 * which proposes only while it leads T. Terms never decrease along a log, so
 * once this server applied an entry of a term > T, every committed entry of
 * term T is applied here and no other ever will be (Leader Completeness): an
 * attempt not completed by then is dead, and only then is a new one made,
 * in the current term. So no write is ever applied twice, and a write sent
 * to a leader that died completes through the next one. Within one term a
 * forward without an answer is sent again (same attempt); the leader
 * answers it from its table instead of proposing again (forward.c). */
#include <string.h>
#include <sys/random.h>

#include "base/err.h"
#include "base/log.h"
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

uint64_t srv__next_id(struct srv *s)
{
    if (!s->epoch) {
        /* Random, so that ids of an earlier life of this server (same raft
         * id, entries still in the log) never match ours; 62 bits, so the
         * counter after it never wraps. */
        uint64_t v = 0;
        if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
            v = uv_hrtime() * 0x9e3779b97f4a7c15ULL ^ s->id;
        s->epoch = (v >> 2) | 1;
        s->next_req = s->epoch;
    }
    return ++s->next_req;
}

/* How long a forward waits for an answer before it is sent again (same
 * attempt), and the pause after a "busy" answer. */
static uint64_t resend_ms(const struct srv *s)
{
    return (uint64_t)s->election_ticks * s->tick_ms;
}

static uint64_t retry_ms(const struct srv *s)
{
    return 10 * s->tick_ms;
}

/* The smallest attempt id still open (P_FWD), id included: every attempt
 * below it is closed for good. New attempts take larger ids, so this never
 * decreases. */
static uint64_t open_floor(const struct srv *s, uint64_t id)
{
    uint64_t f = id;
    for (const struct prop *p = s->props.head; p; p = p->next)
        if (p->phase == P_FWD && p->seq < f)
            f = p->seq;
    return f;
}

static int fw_send_attempt(struct srv *s, struct prop *p)
{
    struct srv_fwd_req m; /* not zeroed: the encoder reads only a PROPOSE's fields */
    m.kind = SRV_FWD_PROPOSE;
    m.req_id = p->seq;
    m.u.propose.term = p->term;
    m.u.propose.epoch = s->epoch;
    m.u.propose.floor = open_floor(s, p->seq);
    m.u.propose.cmd = p->data;
    m.u.propose.cmd_len = p->len;
    return srv__send_req(s, s->leader, &m);
}

/* An attempt may be made: none was, or the last one is dead. */
static bool may_attempt(const struct srv *s, const struct prop *p)
{
    return !p->term || s->applied_term > p->term;
}

/* Try to move a held proposal forward: propose here, or forward. */
static void prop_dispatch(struct srv *s, struct prop *p)
{
    if (!may_attempt(s, p))
        return;
    if (s->role == RAFT_LEADER) {
        uint64_t idx, term;
        int rc = raft_propose(s->raft, p->data, p->len, &idx, &term);
        if (rc == 0) {
            p->phase = P_PENDING;
            p->index = idx;
            p->term = term;
            srv__kick(s);
        }
        return;
    }
    if (s->leader == RAFT_NONE || !s->x || !s->raft)
        return;
    struct raft_status st;
    raft_get_status(s->raft, &st);
    if (st.leader != s->leader || st.term <= p->term)
        return;
    uint64_t old_term = p->term, old_seq = p->seq;
    p->term = st.term;
    p->seq = srv__next_id(s);
    p->phase = P_FWD; /* counted in its own floor */
    p->refused = false;
    if (fw_send_attempt(s, p) != 0) {
        /* Not sent (no connection): no attempt was made. */
        p->phase = P_HELD;
        p->term = old_term;
        p->seq = old_seq;
        return;
    }
    p->resend_at = uv_now(s->loop) + resend_ms(s);
}

void srv__prop_answer(struct srv *s, const struct srv_fwd_resp *m)
{
    struct prop *p = s->props.head;
    while (p && !(p->phase == P_FWD && p->seq == m->req_id))
        p = p->next;
    if (!p)
        return; /* completed meanwhile, or an attempt that is dead */
    if (m->code == SRV_FWD_OK) {
        if (m->term != p->term)
            return; /* not what we asked: ignore */
        p->phase = P_PENDING;
        p->index = m->index;
        return;
    }
    if (m->code == SRV_FWD_NOT_LEADER) {
        /* Not proposed now; an earlier copy of this attempt may have been,
         * so wait until the attempt is dead (an entry of a later term
         * applied here). */
        p->refused = true;
        return;
    }
    int rc = srv_fwd_err_from_code(m->code);
    if (rc == CN_EAGAIN || rc == CN_ENOMEM) {
        p->resend_at = uv_now(s->loop) + retry_ms(s); /* busy: nothing done, ask again */
        return;
    }
    /* Refused for good (too large, invalid): nothing was proposed. */
    srv__prop_finish(s, p, rc, NULL);
}

void srv__prop_applied(struct srv *s, uint64_t env_id, int rc, const struct state_result *res)
{
    for (struct prop *p = s->props.head; p; p = p->next)
        if (p->env_id == env_id) {
            srv__prop_finish(s, p, rc, res);
            return;
        }
}

bool srv__props_term_passed(struct srv *s, uint64_t term)
{
    bool any = false;
    for (struct prop *p = s->props.head; p; p = p->next) {
        if (p->phase == P_HELD || p->term >= term)
            continue;
        p->phase = P_HELD;
        any = true;
    }
    return any;
}

static void prop_unknown(struct srv *s, struct prop *p, const char *why)
{
    s->props_unknown++;
    cn_info("server", "a write's outcome is unknown (%s); %llu so far", why,
            (unsigned long long)s->props_unknown);
    srv__prop_finish(s, p, CN_ECONFLICT, NULL);
}

void srv__props_snapshot(struct srv *s, uint64_t index, uint64_t term)
{
    (void)index;
    for (struct prop *p = s->props.head, *nx; p; p = nx) {
        nx = p->next;
        /* A live attempt of a term up to the snapshot's may be inside it (we
         * never see its entry); a later one cannot. A held request has no
         * live attempt. */
        if (p->phase != P_HELD && p->term <= term)
            prop_unknown(s, p, "a snapshot from the leader covers it");
    }
}

static void fw_send_read(struct srv *s, struct rreq *r)
{
    r->ctx = srv__next_id(s);
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

int srv__read_index(struct srv *s, struct rreq *r)
{
    /* The lease is only as good as the ticks behind it: count the time that
     * passed (a stall included) before the core decides. */
    if (srv__catch_up_ticks(s))
        srv__kick(s);
    r->ctx = ++s->next_ctx;
    /* ?consistent never trusts the lease: always a quorum round. */
    return r->mode == SRV_READ_CONSISTENT ? raft_read_index_quorum(s->raft, r->ctx)
                                          : raft_read_index(s->raft, r->ctx);
}

static void read_dispatch(struct srv *s, struct rreq *r)
{
    if (s->role == RAFT_LEADER) {
        if (srv__read_index(s, r) == 0) {
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
        if (p->deadline <= now) {
            /* Nothing of it can commit any more: no leader within the hold
             * time (Consul: "No cluster leader"). Else the outcome is
             * unknown; Consul says "leadership lost while committing log". */
            if (p->phase == P_HELD && may_attempt(s, p))
                srv__prop_finish(s, p, CN_EAGAIN, NULL);
            else
                prop_unknown(s, p, "the hold time ran out");
            continue;
        }
        /* A forward without an answer in the same term (lost with its
         * connection): send the same attempt again; the leader answers it
         * from its table if it already proposed it. */
        if (p->phase == P_FWD && !p->refused && p->resend_at <= now && s->leader != RAFT_NONE &&
            s->role != RAFT_LEADER && s->raft) {
            struct raft_status st;
            raft_get_status(s->raft, &st);
            if (st.term == p->term && st.leader == s->leader) {
                fw_send_attempt(s, p);
                p->resend_at = now + resend_ms(s);
            }
        }
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
    struct prop *p = cn_malloc(sizeof(*p) + SRV_ENV_LEN + len);
    if (!p)
        return CN_ENOMEM;
    memset(p, 0, sizeof(*p));
    p->phase = P_HELD;
    p->cb = cb;
    p->arg = arg;
    p->env_id = srv__next_id(s);
    p->deadline = uv_now(s->loop) + s->hold_ms;
    struct srv_env env = {.origin = s->id, .req_id = p->env_id};
    srv_env_put(p->data, &env);
    if (len)
        memcpy(p->data + SRV_ENV_LEN, cmd, len);
    p->len = SRV_ENV_LEN + len;
    LIST_PUSH(&s->props, p);
    prop_dispatch(s, p);
    return 0;
}

int srv_read_barrier(struct srv *s, enum srv_read_mode mode, srv_read_cb cb, void *arg)
{
    if (s->closing)
        return CN_ESHUTDOWN;
    if (mode != SRV_READ_STALE && srv__catch_up_ticks(s))
        srv__kick(s);
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
