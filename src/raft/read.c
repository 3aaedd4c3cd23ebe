/* raft/read.c: linearizable reads without the log (thesis §6.4, pitfall
 * #26): a read waits until an entry of the leader's term has committed, takes
 * the commit index, and is answered once a quorum acknowledged a heartbeat
 * round sent after it arrived. Reads arriving between two raft_ready calls
 * share one round. Lease reads (§6.4.1, pitfall #27) skip the round only with
 * CheckQuorum, no transfer, and a lease measured from the send tick of a
 * quorum-acknowledged round. */
#include "base/err.h"
#include "base/mem.h"
#include "raft/raft_int.h"

static int push_ready(struct raft *r, uint64_t ctx, uint64_t index)
{
    if (r->n_reads == r->cap_reads) {
        size_t cap = r->cap_reads ? r->cap_reads * 2 : 8;
        struct raft_read_state *n = cn_realloc(r->reads, cap * sizeof(*n));
        if (!n)
            return CN_ENOMEM;
        r->reads = n;
        r->cap_reads = cap;
    }
    r->reads[r->n_reads].ctx = ctx;
    r->reads[r->n_reads].index = index;
    r->n_reads++;
    return 0;
}

static bool sole_voter(const struct raft *r)
{
    return raft__conf_voters(&r->conf) == 1 && raft__conf_is_voter(&r->conf, r->cfg.id);
}

bool raft__lease_valid(const struct raft *r)
{
    return r->state == RAFT_LEADER && r->cfg.check_quorum && r->transferee == RAFT_NONE &&
           !r->lease_forbidden && r->ticks < r->lease_until;
}

static int read_index(struct raft *r, uint64_t ctx, bool lease_ok)
{
    if (r->state != RAFT_LEADER)
        return CN_EAGAIN;
    bool term_committed = r->log.commit >= r->term_start;
    if (term_committed &&
        (sole_voter(r) || (lease_ok && r->cfg.lease_reads && raft__lease_valid(r))))
        return push_ready(r, ctx, r->log.commit);
    if (r->n_preads == r->cap_preads) {
        size_t cap = r->cap_preads ? r->cap_preads * 2 : 8;
        struct raft_pending_read *n = cn_realloc(r->preads, cap * sizeof(*n));
        if (!n)
            return CN_ENOMEM;
        r->preads = n;
        r->cap_preads = cap;
    }
    /* Index 0: still waiting for this term's no-op to commit (#26 step 1). */
    struct raft_pending_read *pr = &r->preads[r->n_preads++];
    pr->ctx = ctx;
    pr->index = term_committed ? r->log.commit : 0;
    pr->round = r->round + 1;
    r->round_wanted = true;
    return 0;
}

int raft_read_index(struct raft *r, uint64_t ctx)
{
    return read_index(r, ctx, true);
}

int raft_read_index_quorum(struct raft *r, uint64_t ctx)
{
    return read_index(r, ctx, false);
}

void raft__read_release(struct raft *r)
{
    if (r->state != RAFT_LEADER || r->log.commit < r->term_start)
        return;
    bool sole = sole_voter(r);
    size_t k = 0;
    for (size_t i = 0; i < r->n_preads; i++) {
        struct raft_pending_read *pr = &r->preads[i];
        if (pr->index == 0) {
            /* The term's first commit happened: the read index is the commit
             * now, confirmed by a round sent from here on. */
            pr->index = r->log.commit;
            pr->round = r->round + 1;
            r->round_wanted = true;
        }
        if (sole && push_ready(r, pr->ctx, pr->index) == 0)
            continue;
        r->preads[k++] = *pr;
    }
    r->n_preads = k;
    if (sole)
        r->round_wanted = false;
}

void raft__read_ack(struct raft *r)
{
    if (r->state != RAFT_LEADER)
        return;
    uint64_t acked[RAFT_MAX_SERVERS];
    size_t n = 0;
    for (size_t i = 0; i < r->conf.n; i++) {
        const struct raft_server *s = &r->conf.servers[i];
        if (s->role != RAFT_VOTER)
            continue;
        if (s->id == r->cfg.id) {
            acked[n++] = r->round;
        } else {
            struct raft_prog *p = raft__prog_get(r, s->id);
            acked[n++] = p ? p->hb_acked : 0;
        }
    }
    uint64_t q = raft__quorum_index(acked, n);
    if (q == 0)
        return;
    /* Lease from the send tick of the newest round a quorum acknowledged,
     * shortened by a drift margin: no voter of that quorum grants a vote
     * before a full election timeout after it heard that round (#4). */
    if (r->round - q < RAFT_ROUNDS) {
        unsigned e = r->cfg.election_ticks;
        unsigned margin = e / 5 ? e / 5 : 1;
        uint64_t until = r->round_tick[q % RAFT_ROUNDS] + (e - margin);
        if (until > r->lease_until)
            r->lease_until = until;
    }
    size_t k = 0;
    for (size_t i = 0; i < r->n_preads; i++) {
        struct raft_pending_read *pr = &r->preads[i];
        if (pr->index != 0 && pr->round <= q && push_ready(r, pr->ctx, pr->index) == 0)
            continue;
        r->preads[k++] = *pr;
    }
    r->n_preads = k;
}

void raft__reads_drop(struct raft *r)
{
    /* Pitfall #2: a deposed leader fails its pending reads (they never come
     * back; the shell times them out and retries at the new leader). */
    r->n_preads = 0;
    r->round_wanted = false;
}
