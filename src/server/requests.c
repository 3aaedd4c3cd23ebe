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

#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "server/server_int.h"
#include "metrics/metrics.h"
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

/* The smallest attempt id still open (a forward without its answer), id
 * included: every attempt below it is closed for good. New attempts take
 * larger ids, so this never decreases. */
static uint64_t open_floor(const struct srv *s, uint64_t id)
{
    uint64_t f = id;
    for (const struct prop *p = s->props.head; p; p = p->next) {
        const struct srv_req *r = &p->rq;
        f = srv_req_floor(&r, 1, f);
    }
    return f;
}

static int fw_send_attempt(struct srv *s, struct prop *p, uint64_t term, uint64_t seq)
{
    struct srv_fwd_req m; /* not zeroed: the encoder reads only a PROPOSE's fields */
    m.kind = SRV_FWD_PROPOSE;
    m.req_id = seq;
    m.u.propose.term = term;
    m.u.propose.epoch = s->epoch;
    m.u.propose.floor = open_floor(s, seq);
    m.u.propose.cmd = p->data;
    m.u.propose.cmd_len = p->len;
    return srv__send_req(s, s->leader, &m);
}

/* Try to move a held proposal forward: propose here, or forward
 * (server/reqs.c says when an attempt may be made). */
static void prop_dispatch(struct srv *s, struct prop *p)
{
    if (!srv_req_may_attempt(&p->rq, s->applied_term))
        return;
    if (s->role == RAFT_LEADER) {
        uint64_t idx, term;
        int rc = raft_propose(s->raft, p->data, p->len, &idx, &term);
        if (rc == 0) {
            mx_incr(MX_RAFT_APPLY, 1);
            srv_req_proposed(&p->rq, idx, term);
            srv__kick(s);
        }
        return;
    }
    if (s->leader == RAFT_NONE || !s->x || !s->raft)
        return;
    struct raft_status st;
    raft_get_status(s->raft, &st);
    if (st.leader != s->leader || !srv_req_may_forward(&p->rq, s->applied_term, st.term))
        return;
    uint64_t seq = srv__next_id(s);
    if (fw_send_attempt(s, p, st.term, seq) != 0)
        return; /* not sent (no connection): no attempt was made */
    srv_req_forwarded(&p->rq, st.term, seq, uv_now(s->loop) + resend_ms(s));
}

void srv__prop_answer(struct srv *s, const struct srv_fwd_resp *m)
{
    struct prop *p = s->props.head;
    while (p && !(p->rq.phase == SRV_REQ_FWD && p->rq.seq == m->req_id))
        p = p->next;
    if (!p)
        return; /* completed meanwhile, or an attempt that is dead */
    int rc = srv_req_answer(&p->rq, m, uv_now(s->loop), retry_ms(s));
    if (rc)
        srv__prop_finish(s, p, rc, NULL); /* refused for good: nothing was proposed */
}

bool srv__prop_waiting(const struct srv *s, uint64_t env_id)
{
    for (const struct prop *p = s->props.head; p; p = p->next)
        if (p->rq.env_id == env_id)
            return true;
    return false;
}

void srv__prop_applied(struct srv *s, uint64_t env_id, int rc, const struct state_result *res)
{
    for (struct prop *p = s->props.head; p; p = p->next)
        if (p->rq.env_id == env_id) {
            if (s->role == RAFT_LEADER)
                mx_sample_since(MX_RAFT_COMMIT_TIME, p->t0_ns);
            srv__prop_finish(s, p, rc, res);
            return;
        }
}

bool srv__props_term_passed(struct srv *s, uint64_t term)
{
    bool any = false;
    for (struct prop *p = s->props.head; p; p = p->next)
        any |= srv_req_term_passed(&p->rq, term);
    return any;
}

static void prop_unknown(struct srv *s, struct prop *p, const char *why)
{
    s->props_unknown++;
    cn_info("server", "a write's outcome is unknown (%s); %llu so far", why,
            (unsigned long long)s->props_unknown);
    srv__prop_finish(s, p, CN_ECONFLICT, NULL);
}

bool srv__props_snapshot(struct srv *s, uint64_t index, uint64_t term)
{
    bool any = false;
    for (struct prop *p = s->props.head, *nx; p; p = nx) {
        nx = p->next;
        enum srv_req_snap v = srv_req_snapshot(&p->rq, index, term);
        if (v == SRV_REQ_SNAP_UNKNOWN)
            prop_unknown(s, p, "a snapshot from the leader covers it");
        any |= v == SRV_REQ_SNAP_DEAD;
    }
    return any;
}

static void fw_send_read(struct srv *s, struct rreq *r)
{
    r->ctx = srv__next_id(s);
    struct srv_fwd_req m; /* not zeroed: the encoder reads only a READ's fields */
    m.kind = SRV_FWD_READ;
    m.req_id = r->ctx;
    m.u.read.mode = r->mode == SRV_READ_CONSISTENT ? SRV_FWD_READ_CONSISTENT : SRV_FWD_READ_DEFAULT;
    r->resend_at = uv_now(s->loop) + resend_ms(s);
    if (s->x_drop_reads) {
        s->x_drop_reads--; /* tests: sent, and lost with its connection */
        r->phase = R_FWD;
        return;
    }
    if (srv__send_req(s, s->leader, &m) == 0)
        r->phase = R_FWD;
}

static bool read_now(struct srv *s, enum srv_read_mode mode)
{
    /* server/reqs.c decides, from what the core and the state say */
    if (mode == SRV_READ_STALE)
        return true;
    if (s->role != RAFT_LEADER || mode == SRV_READ_CONSISTENT)
        return false;
    struct raft_status st;
    raft_get_status(s->raft, &st);
    struct srv_req_read_view v = {.leader = true,
                                  .lease_valid = st.lease_valid,
                                  .term = st.term,
                                  .commit = st.commit,
                                  .last_index = st.last_index,
                                  .last_term = st.last_term,
                                  .applied = s->applied,
                                  .applied_term = s->applied_term};
    for (size_t i = 0; i < st.conf.n; i++)
        v.voters += st.conf.servers[i].role == RAFT_VOTER;
    return srv_req_read_now((enum srv_req_read_mode)mode, &v);
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
        prop_dispatch(s, p); /* reqs.c decides which may move */
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
        enum srv_req_expiry x = srv_req_expiry(&p->rq, now, s->applied_term);
        if (x == SRV_REQ_NO_LEADER) {
            /* Nothing of it can commit any more: no leader within the hold
             * time (Consul: "No cluster leader"). */
            srv__prop_finish(s, p, CN_EAGAIN, NULL);
            continue;
        }
        if (x == SRV_REQ_UNKNOWN) {
            /* Consul says "leadership lost while committing log". */
            prop_unknown(s, p, "the hold time ran out");
            continue;
        }
        /* A forward without an answer in the same term (lost with its
         * connection): send the same attempt again; the leader answers it
         * from its table if it already proposed it. */
        if (p->rq.phase == SRV_REQ_FWD && s->leader != RAFT_NONE && s->role != RAFT_LEADER &&
            s->raft) {
            struct raft_status st;
            raft_get_status(s->raft, &st);
            if (st.leader == s->leader && srv_req_resend_due(&p->rq, now, st.term)) {
                fw_send_attempt(s, p, p->rq.term, p->rq.seq);
                p->rq.resend_at = now + resend_ms(s);
            }
        }
    }
    for (struct rreq *r = s->reads.head, *nx; r; r = nx) {
        nx = r->next;
        if (r->deadline <= now) {
            srv__read_finish(s, r, CN_EAGAIN);
            continue;
        }
        /* A read index asked of the leader without an answer (the request or
         * the answer lost with a connection, the leader unchanged): ask again
         * under a new id, so a late answer to the old one is ignored. Reads
         * are idempotent; before, it waited out the hold time and failed. */
        if (r->phase == R_FWD && r->resend_at <= now && s->leader != RAFT_NONE &&
            s->role != RAFT_LEADER && s->x)
            fw_send_read(s, r);
    }
}

int srv_propose(struct srv *s, const void *cmd, size_t len, srv_done_cb cb, void *arg)
{
    if (s->closing)
        return CN_ESHUTDOWN;
    if (s->cl)
        return srv__client_propose(s, cmd, len, cb, arg);
    if (s->write_err)
        return CN_EIO;
    struct prop *p = cn_malloc(sizeof(*p) + SRV_ENV_LEN + len);
    if (!p)
        return CN_ENOMEM;
    memset(p, 0, sizeof(*p));
    srv_req_init(&p->rq, srv__next_id(s), uv_now(s->loop) + s->hold_ms);
    p->cb = cb;
    p->arg = arg;
    p->t0_ns = cn_now_ns();
    struct srv_env env = {.origin = s->id, .req_id = p->rq.env_id};
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
    if (s->cl) {
        cb(arg, 0); /* the mirror of this node: local reads only */
        return 0;
    }
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
