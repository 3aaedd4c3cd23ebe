/* server/ready.c: the update cycle of the Raft core. A uv_timer ticks the
 * core; an idle handle ("kick") runs raft_ready handling once per loop
 * iteration after anything fed the core, so every proposal that arrived in
 * one poll round shares one update, one log write and one fdatasync (group
 * commit).
 *
 * Update handling follows raft.h's order (thesis §10.2.1), the sequencing
 * rules being server/seq.c's (pure, shared with the simulator):
 *  - entries, the hard state (only when term or vote changed: it costs three
 *    syncs; its commit clamped to the applied index) and an incoming snapshot
 *    become a write job for the writer thread (writer.c), which hands it back
 *    once durable; the loop then calls raft_persisted(last index, last term)
 *    for each;
 *  - a leader's messages go at once (u.msgs_before_persist: the core counts
 *    the leader itself only once raft_persisted says so) unless a term/vote
 *    write is outstanding; anyone else's wait for the job of their update (or
 *    the last job outstanding) to be durable. The job is made after the
 *    update's committed entries are applied (the clamp needs that index);
 *  - committed entries are applied in order and complete local proposals,
 *    matched by index AND term: another term at that index means the entry
 *    was replaced, and the proposer hears "leadership lost". */
#include <stdlib.h>
#include <string.h>

#include "base/enc.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "server/server_int.h"

/* Apply one committed entry and complete the local proposal at its index. */
static void apply_entry(struct srv *s, const struct raft_entry *e)
{
    struct state_result res;
    state_result_init(&res);
    int rc = 0;
    bool ran = false;
    if (e->type == RAFT_ENTRY_NORMAL && e->data.len) {
        rc = state_apply(s->state, e->index, e->data.base, e->data.len, &res);
        ran = true;
        if (rc == CN_ENOMEM) {
            /* A replica cannot skip a committed entry: stopping is the only
             * safe answer; the entry is durable and is applied after restart. */
            cn_error("server", "out of memory applying index %llu; exiting",
                     (unsigned long long)e->index);
            abort();
        }
    }
    s->applied = e->index;
    s->applied_term = e->term;
    if (e->type == RAFT_ENTRY_CONF) {
        struct raft_conf c;
        if (raft_conf_decode(e->data.base, e->data.len, &c) == 0)
            s->applied_conf = c;
    }
    for (struct prop *p = s->props.head, *nx; p; p = nx) {
        nx = p->next;
        if (p->phase != P_PENDING || p->index > e->index)
            continue;
        if (p->index == e->index && p->term == e->term && ran)
            srv__prop_finish(s, p, rc, &res);
        else /* replaced by another leader's entry (or a snapshot) */
            srv__prop_finish(s, p, CN_ECONFLICT, NULL);
    }
    state_result_free(&res);
}

void srv__sync_conf(struct srv *s, const struct raft_conf *c)
{
    if (!memcmp(c, &s->conf, sizeof(*c)))
        return;
    /* A server that left the configuration is not dialed any more. */
    for (size_t i = 0; i < s->conf.n; i++) {
        uint64_t id = s->conf.servers[i].id;
        if (id == s->id || raft_conf_find(c, id))
            continue;
        struct pinfo *p = srv__dir_find(s, id);
        if (p)
            p->dialed = false;
        if (s->x && !s->x_stopping)
            xport_remove_peer(s->x, id);
    }
    s->conf = *c;
    for (size_t i = 0; i < c->n; i++) {
        if (c->servers[i].id == s->id)
            continue;
        srv__dial(s, c->servers[i].id, c->servers[i].addr);
        struct pinfo *p = srv__dir_find(s, c->servers[i].id);
        if (p)
            p->was_member = true;
    }
}

void srv__role_changed(struct srv *s, const struct raft_status *st)
{
    bool was_leader = s->role == RAFT_LEADER;
    if (st->state != s->role || st->leader != s->leader)
        cn_info("server", "raft: %s in term %llu, leader %llu",
                st->state == RAFT_LEADER     ? "leader"
                : st->state == RAFT_FOLLOWER ? "follower"
                                             : "candidate",
                (unsigned long long)st->term, (unsigned long long)st->leader);
    bool new_leader = st->leader != s->leader;
    s->role = st->state;
    s->leader = st->leader;
    if (new_leader) {
        /* Consul answers "leadership lost" at once for what was in flight;
         * we give an entry two election timeouts to show up applied with
         * its term (then the answer is exact), else say the same. */
        uint64_t soon = uv_now(s->loop) + 2 * s->election_ticks * s->tick_ms;
        for (struct prop *p = s->props.head; p; p = p->next)
            if (p->phase == P_PENDING && p->deadline > soon)
                p->deadline = soon;
        /* A read index asked of the old leader: ask the new one. */
        for (struct rreq *r = s->reads.head; r; r = r->next)
            if (r->phase == R_FWD)
                r->phase = R_HELD;
    }
    if (was_leader && st->state != RAFT_LEADER) {
        /* Reads waiting for a quorum round of a term we lost: ask again. */
        for (struct rreq *r = s->reads.head, *nx; r; r = nx) {
            nx = r->next;
            if (r->phase == R_REMOTE)
                srv__read_finish(s, r, CN_EAGAIN);
            else if (r->phase == R_RAFT)
                r->phase = R_HELD;
        }
    }
    if (st->leader != RAFT_NONE)
        srv__dispatch_held(s);
}

/* The update's write job and messages, by server/seq.c's rules (what is
 * written, the commit clamp, which messages wait for which job): the
 * simulator runs the same rules with its fake disk. */
static void persist_and_send(struct srv *s, const struct raft_update *u)
{
    if (s->closing)
        return;
    struct srv_seq_plan p;
    srv_seq_update(&s->seq, u, s->applied, &p);
    if (p.write) {
        struct stor_hard_state h = {
            .term = p.job.hs.term, .vote = p.job.hs.vote, .commit = p.job.hs.commit};
        struct wjob *job = srv__make_job(u, p.job.has_hs, &h);
        if (!job) {
            /* Cannot persist: the node must not go on as if it had. */
            cn_error("server", "out of memory queuing a log write; exiting");
            abort();
        }
        job->sq = p.job;
        /* Handed back on this (the loop) thread only: messages can still
         * join it below. */
        srv__submit_job(s, job);
    }
    for (size_t i = 0; i < u->n_msgs; i++) {
        struct omsg *o = srv__encode_msg(&u->msgs[i]);
        if (!o)
            continue; /* lost, as on a network */
        if (p.now) {
            srv__send_encoded(s, o);
            cn_free(o);
        } else {
            srv_seq_hold(&s->seq, &o->link);
        }
    }
}

static void handle_update(struct srv *s, const struct raft_update *u)
{
    /* b. apply (snapshot first) */
    if (u->snapshot &&
        srv__restore_snapshot(s, u->snapshot, u->snapshot_data.base, u->snapshot_data.len) != 0) {
        cn_error("server", "cannot install the leader's snapshot; exiting");
        abort();
    }
    for (size_t i = 0; i < u->n_committed; i++)
        apply_entry(s, &u->committed[i]);
    for (size_t i = 0; i < u->n_reads; i++) {
        for (struct rreq *r = s->reads.head; r; r = r->next) {
            if ((r->phase != R_RAFT && r->phase != R_REMOTE) || r->ctx != u->reads[i].ctx)
                continue;
            if (r->phase == R_REMOTE) {
                struct cn_buf b = CN_BUF_INIT;
                if (!cn_enc_u8(&b, FW_READ) && !cn_enc_u64(&b, r->req_id) && !cn_enc_u32(&b, 0) &&
                    !cn_enc_u64(&b, u->reads[i].index))
                    srv__send_raw(s, r->from, XPORT_FORWARD_RESP, b.p, b.len);
                cn_buf_free(&b);
                srv__read_finish(s, r, 0);
            } else {
                r->phase = R_APPLY;
                r->index = u->reads[i].index;
            }
            break;
        }
    }
    srv__reads_applied(s);
    /* a, c. the durable part as a job for the writer; messages now or held */
    persist_and_send(s, u);
}

void srv__process_ready(struct srv *s)
{
    if (!s->raft)
        return;
    struct raft_update u;
    bool any = false;
    while (raft_ready(s->raft, &u)) {
        handle_update(s, &u);
        raft_done(s->raft, &u);
        any = true;
    }
    if (!any)
        return;
    srv__watches_flush(s->watches);
    struct raft_status st;
    raft_get_status(s->raft, &st);
    if (!s->closing) {
        srv__sync_conf(s, &st.conf);
        if (st.state != s->role || st.leader != s->leader)
            srv__role_changed(s, &st);
    }
    srv__maybe_snapshot(s);
}

static void on_idle(uv_idle_t *h)
{
    struct srv *s = h->data;
    uv_idle_stop(h);
    s->idle_on = false;
    srv__process_ready(s);
}

void srv__kick(struct srv *s)
{
    if (s->idle_on || s->closing)
        return;
    s->idle_on = true;
    uv_idle_start(&s->idle, on_idle);
}

void srv__on_tick(uv_timer_t *t)
{
    struct srv *s = t->data;
    if (s->closing || !s->raft)
        return;
    raft_tick(s->raft);
    srv__process_ready(s);
    struct raft_status st;
    raft_get_status(s->raft, &st);
    if (st.state != s->role || st.leader != s->leader)
        srv__role_changed(s, &st);
    if (s->leader != RAFT_NONE)
        srv__dispatch_held(s);
    srv__expire(s);
    srv__ops_tick(s);
    if (s->probes)
        srv__run_probes(s);
    srv__maybe_bootstrap(s);
    if (s->x)
        srv__autojoin(s);
}
