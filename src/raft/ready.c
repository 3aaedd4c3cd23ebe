/* raft/ready.c: the update handed to the shell (raft_ready) and its release
 * (raft_done). Everything an update points to is a private copy sharing
 * payload blobs with the log, so nothing the core does afterwards can pull it
 * away. The marks move when the update is handed out:
 *   entries   everything appended since the last update (unstable..last);
 *   committed (applied, min(commit, persisted)]: never apply what is not
 *             durable here (pitfall #12; committed implies durable on a
 *             quorum, the min makes it durable locally too);
 *   hs        term/vote/commit when any of them changed (pitfall #1);
 *   msgs      the outbox; a follower's acks are not in it until durable. */
#include <string.h>

#include "base/assert.h"
#include "base/log.h"
#include "base/mem.h"
#include "raft/raft_int.h"

void raft__upd_release(struct raft *r)
{
    struct raft_update_store *s = &r->upd;
    raft__entries_release(s->ents, s->n_ents);
    cn_free(s->ents);
    raft__entries_release(s->comm, s->n_comm);
    cn_free(s->comm);
    for (size_t i = 0; i < s->n_msgs; i++)
        raft__msg_free(&s->msgs[i]);
    cn_free(s->msgs);
    cn_free(s->reads);
    memset(s, 0, sizeof(*s));
}

static struct raft_entry *share_range(const struct raft_log *l, uint64_t lo, uint64_t hi, size_t *n)
{
    *n = 0;
    if (hi < lo)
        return NULL;
    size_t cnt = (size_t)(hi - lo + 1);
    struct raft_entry *e = cn_malloc(cnt * sizeof(*e));
    if (!e)
        return NULL;
    for (size_t i = 0; i < cnt; i++)
        raft__entry_share(&e[i], raft__log_get(l, lo + i));
    *n = cnt;
    return e;
}

bool raft_ready(struct raft *r, struct raft_update *u)
{
    memset(u, 0, sizeof(*u));
    if (r->upd.busy) {
        raft__logf(r, CN_LOG_ERROR, "raft_ready called again before raft_done");
        return false;
    }
    if (r->state == RAFT_LEADER && r->round_wanted)
        raft__bcast_heartbeat(r); /* one round for all reads since the last update */

    struct raft_log *l = &r->log;
    struct raft_update_store *s = &r->upd;
    uint64_t last = raft__log_last(l);
    uint64_t elo = l->unstable > raft__log_first(l) ? l->unstable : raft__log_first(l);
    uint64_t applied = r->inst_pending ? r->inst.index : l->applied;
    /* commit <= last: commit_to clamps to the log, truncation never goes
     * below commit, an installed snapshot's index becomes both. */
    CN_ASSERT(l->commit <= last && l->persisted <= last && l->applied <= l->commit);
    CN_ASSERT(l->unstable >= raft__log_first(l) && l->unstable <= last + 1);
    uint64_t chi = l->commit < l->persisted ? l->commit : l->persisted;
    uint64_t clo = applied + 1 > raft__log_first(l) ? applied + 1 : raft__log_first(l);
    struct raft_hard_state hs = {r->term, r->vote, l->commit};
    /* The term is durable: never hand out a lower one than last time. And
     * a vote, once handed out for persistence, holds for its whole term. */
    CN_INVARIANT(hs.term >= r->prev_hs.term);
    CN_INVARIANT(hs.term > r->prev_hs.term || r->prev_hs.vote == RAFT_NONE ||
                 hs.vote == r->prev_hs.vote);
    bool hs_changed = memcmp(&hs, &r->prev_hs, sizeof(hs)) != 0;

    if (r->fetch_want && (r->fetch_out || r->fetch_lo <= l->snap_index || r->fetch_lo > l->base))
        r->fetch_want = false; /* one at a time; compacted or back in memory: moot */
    if (!hs_changed && !r->inst_pending && elo > last && clo > chi && r->n_msgs == 0 &&
        r->n_reads == 0 && !r->fetch_want)
        return false;

    size_t ne = 0, nc = 0;
    struct raft_entry *ents = share_range(l, elo, last, &ne);
    struct raft_entry *comm = share_range(l, clo, chi, &nc);
    if ((elo <= last && !ents) || (clo <= chi && !comm)) {
        /* Out of memory: hand out nothing now; the next call retries. */
        raft__entries_release(ents, ne);
        cn_free(ents);
        raft__entries_release(comm, nc);
        cn_free(comm);
        return false;
    }
    s->busy = true;
    s->ents = ents;
    s->n_ents = ne;
    s->comm = comm;
    s->n_comm = nc;
    s->msgs = r->msgs;
    s->n_msgs = r->n_msgs;
    r->msgs = NULL;
    r->n_msgs = r->cap_msgs = 0;
    s->reads = r->reads;
    s->n_reads = r->n_reads;
    r->reads = NULL;
    r->n_reads = r->cap_reads = 0;
    if (r->inst_pending) {
        s->has_snap = true;
        s->snap = r->inst;
        r->inst_pending = false;
        if (l->applied < r->inst.index)
            l->applied = r->inst.index;
    }

    /* Only a leader's messages may leave before this update is durable
     * (thesis §10.2.1), and only if the term and vote they were sent under
     * were already persisted by an earlier update (pitfall #1). */
    u->msgs_before_persist =
        r->state == RAFT_LEADER && hs.term == r->prev_hs.term && hs.vote == r->prev_hs.vote;
    u->hs_changed = hs_changed;
    u->hs = hs;
    u->snapshot = s->has_snap ? &s->snap : NULL;
    u->entries = s->ents;
    u->n_entries = s->n_ents;
    u->committed = s->comm;
    u->n_committed = s->n_comm;
    u->msgs = s->msgs;
    u->n_msgs = s->n_msgs;
    u->reads = s->reads;
    u->n_reads = s->n_reads;
    if (r->fetch_want) {
        u->fetch_lo = r->fetch_lo;
        u->fetch_hi = r->fetch_hi;
        r->fetch_want = false;
        r->fetch_out = true;
        r->fetch_tick = r->ticks;
    }

    if (elo <= last)
        l->unstable = last + 1;
    if (nc)
        l->applied = chi;
    r->prev_hs = hs;
    raft__evict(r);
    return true;
}

void raft_done(struct raft *r, const struct raft_update *u)
{
    (void)u;
    raft__upd_release(r);
}
