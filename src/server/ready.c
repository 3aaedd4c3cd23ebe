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
 *  - committed entries are applied in order; one whose envelope names this
 *    server completes its request (whoever proposed it, at whatever index),
 *    and the first entry of a later term kills the attempts of earlier terms
 *    still waiting, which are then made again (requests.c). */
#include <stdlib.h>
#include <string.h>

#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "server/server_int.h"
#include "metrics/metrics.h"

/* Apply one committed entry; complete this server's request whose
 * envelope it carries (requests.c), whoever proposed it. */
bool srv__apply_entry(struct srv *s, const struct raft_entry *e)
{
    struct state_result res;
    state_result_init(&res);
    int rc = 0;
    bool mine = false;
    uint64_t env_id = 0;
    /* A restore's chunks and commit are proposed in one term: a staging
     * left by a leader that lost its term is dropped on every server at the
     * same entry (state/restore.c). */
    if (e->term > s->applied_term && state_restore_staging(s->state)) {
        cn_warn("server", "restore staged in term %llu abandoned at index %llu",
                (unsigned long long)s->applied_term, (unsigned long long)e->index);
        state_restore_abort(s->state);
    }
    if (e->type == RAFT_ENTRY_NORMAL && e->data.len) {
        const void *cmd;
        size_t len;
        /* Ours? (server/reqs.c; entries from before envelopes and malformed
         * ones apply as they are) */
        mine = srv_req_entry(e->data.base, e->data.len, s->id, &env_id, &cmd, &len) == 1;
        /* Results (copies of the txn's keys and values) only for a caller
         * that waits here: not for other servers' writes, nor for the
         * entries recovery applies at open. */
        mine = mine && srv__prop_waiting(s, env_id);
        rc = state_apply(s->state, e->index, cmd, len, mine ? &res : NULL);
        if (rc == 0 && state_cmd_type(cmd, len) == STATE_CMD_RESTORE_COMMIT) {
            /* The whole state was replaced: wake every blocking query, and
             * snapshot at once so the chunks leave the log. */
            cn_info("server", "snapshot restored at index %llu", (unsigned long long)e->index);
            srv__watches_fire_all(s->watches, e->index);
            s->restore_index = e->index;
            s->snap_asap = true;
        }
        if (rc == CN_ENOMEM) {
            /* A replica cannot skip a committed entry: stopping is the only
             * safe answer; the entry is durable and is applied after restart. */
            cn_error("server", "out of memory applying index %llu; exiting",
                     (unsigned long long)e->index);
            abort();
        }
    }
    s->applied = e->index;
    bool later = e->term > s->applied_term;
    s->applied_term = e->term;
    if (e->type == RAFT_ENTRY_CONF) {
        struct raft_conf c;
        if (raft_conf_decode(e->data.base, e->data.len, &c) == 0)
            s->applied_conf = c;
    }
    if (mine)
        srv__prop_applied(s, env_id, rc, &res);
    state_result_free(&res);
    /* The first entry of a later term: earlier attempts not completed are
     * dead (requests.c). */
    return later && srv__props_term_passed(s, e->term);
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
    if (st->state != s->role)
        mx_incr(st->state == RAFT_LEADER     ? MX_RAFT_STATE_LEADER
                : st->state == RAFT_FOLLOWER ? MX_RAFT_STATE_FOLLOWER
                                             : MX_RAFT_STATE_CANDIDATE,
                1);
    s->role = st->state;
    s->leader = st->leader;
    if (new_leader) {
        /* A read index asked of the old leader: ask the new one. */
        for (struct rreq *r = s->reads.head; r; r = r->next)
            if (r->phase == R_FWD)
                r->phase = R_HELD;
        /* Renewals asked of the old leader: ask the new one (or renew here). */
        for (struct renew *w = s->renews.head; w; w = w->next)
            w->req_id = 0;
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
    if (st->leader != RAFT_NONE) {
        srv__dispatch_held(s);
        if (new_leader && s->renews.head)
            srv__renews_tick(s);
    }
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

/* Returns whether dead attempts wait to be made again. */
static bool handle_update(struct srv *s, const struct raft_update *u)
{
    /* b. apply (snapshot first) */
    bool revived = false;
    if (u->snapshot) {
        if (srv__restore_snapshot(s, u->snapshot) != 0) {
            cn_error("server", "cannot install the leader's snapshot; exiting");
            abort();
        }
        revived = srv__props_snapshot(s, u->snapshot->index, u->snapshot->term);
    }
    for (size_t i = 0; i < u->n_committed; i++)
        revived |= srv__apply_entry(s, &u->committed[i]);
    if (u->n_committed)
        mx_gauge(MX_RAFT_COMMIT_NUM_LOGS, (double)u->n_committed);
    for (size_t i = 0; i < u->n_reads; i++) {
        for (struct rreq *r = s->reads.head; r; r = r->next) {
            if ((r->phase != R_RAFT && r->phase != R_REMOTE) || r->ctx != u->reads[i].ctx)
                continue;
            if (r->phase == R_REMOTE) {
                struct srv_fwd_resp a = {.kind = SRV_FWD_READ,
                                         .req_id = r->req_id,
                                         .code = SRV_FWD_OK,
                                         .index = u->reads[i].index};
                srv__send_resp(s, r->from, &a);
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
    /* entries for followers behind the in-memory window: read back by the
     * writer thread, handed to the core later (readback.c) */
    if (u->fetch_hi > u->fetch_lo && !s->closing)
        srv__readback_ask(s, u->fetch_lo, u->fetch_hi);
    return revived;
}

void srv__process_ready(struct srv *s)
{
    if (!s->raft)
        return;
    struct raft_update u;
    bool any = false, revived = false;
    while (raft_ready(s->raft, &u)) {
        revived |= handle_update(s, &u);
        raft_done(s->raft, &u);
        any = true;
    }
    if (!any)
        return;
    srv__post_commit(s);
    srv__watches_flush(s->watches);
    struct raft_status st;
    raft_get_status(s->raft, &st);
    mx_gauge(MX_RAFT_APPLIED_INDEX, (double)s->applied);
    mx_gauge(MX_RAFT_LAST_INDEX, (double)st.last_index);
    mx_gauge(MX_RAFT_LOG_ENTRIES,
             st.last_index >= st.window_first ? (double)(st.last_index - st.window_first + 1) : 0);
    mx_gauge(MX_RAFT_LOG_MEMORY, (double)st.window_bytes);
    if (!s->closing) {
        srv__sync_conf(s, &st.conf);
        if (st.state != s->role || st.leader != s->leader)
            srv__role_changed(s, &st);
        if (revived && s->leader != RAFT_NONE)
            srv__dispatch_held(s);
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

/* A tick timer's callbacks are not a clock: a process stopped for 3 s gets
 * one callback when it resumes. The core counts time (election timeout, the
 * leader's lease, CheckQuorum) in ticks only, so it must get one tick per
 * tick_ms that passed, or a leader frozen while the others elected a new one
 * would still trust its lease and answer reads from stale state. Past three
 * election timeouts more ticks change nothing (every timer has fired). */
unsigned srv__catch_up_ticks(struct srv *s)
{
    if (s->closing || !s->raft || s->failed)
        return 0;
    uv_update_time(s->loop);
    uint64_t now = uv_now(s->loop);
    if (now < s->tick_at + s->tick_ms)
        return 0;
    uint64_t owed = (now - s->tick_at) / s->tick_ms;
    s->tick_at += owed * s->tick_ms;
    uint64_t cap = 3 * (uint64_t)s->election_ticks + 1;
    unsigned n = (unsigned)(owed < cap ? owed : cap);
    for (unsigned i = 0; i < n; i++)
        raft_tick(s->raft);
    return n;
}

/* hashicorp/raft samples each follower's last contact as the leader checks
 * its lease; here every 500 ms, from the last Raft message each voter sent. */
static void sample_last_contact(struct srv *s, const struct raft_status *st)
{
    uint64_t now = uv_now(s->loop);
    if (now < s->lc_sample_ms + 500)
        return;
    s->lc_sample_ms = now;
    for (size_t i = 0; i < st->conf.n; i++) {
        const struct raft_server *v = &st->conf.servers[i];
        if (v->id == s->id || v->role != RAFT_VOTER)
            continue;
        struct pinfo *p = srv__dir_find(s, v->id);
        if (p && p->last_rx_ms && now >= p->last_rx_ms)
            mx_sample(MX_RAFT_LEADER_LAST_CONTACT, (double)(now - p->last_rx_ms));
    }
}

void srv__on_tick(uv_timer_t *t)
{
    struct srv *s = t->data;
    if (s->closing || !s->raft)
        return;
    srv__catch_up_ticks(s);
    srv__process_ready(s);
    struct raft_status st;
    raft_get_status(s->raft, &st);
    if (st.state != s->role || st.leader != s->leader)
        srv__role_changed(s, &st);
    if (s->role == RAFT_LEADER)
        sample_last_contact(s, &st);
    if (s->leader != RAFT_NONE)
        srv__dispatch_held(s);
    srv__expire(s);
    srv__ops_tick(s);
    srv__renews_tick(s);
    srv__sstream_tick(s);
    if (s->probes)
        srv__run_probes(s);
    srv__maybe_bootstrap(s);
    if (s->x)
        srv__autojoin(s);
}
