/* raft/transfer.c: leadership transfer (thesis §3.10, pitfall #28): refuse
 * proposals, bring the target up to date, send TimeoutNow, give up after an
 * election timeout. The target campaigns at once, skipping PreVote, and its
 * VOTE requests carry RAFT_CTX_TRANSFER to pass the lease check (#4). */
#include "base/err.h"
#include "base/log.h"
#include "raft/raft_int.h"

static void send_timeout_now(struct raft *r, struct raft_prog *p)
{
    /* Pitfall #27: a TimeoutNow may elect the target at any later moment,
     * even after we gave up; no lease reads for the rest of this term. */
    r->lease_forbidden = true;
    r->tn_sent = true;
    struct raft_msg m = {.type = RAFT_MSG_TIMEOUT_NOW, .to = p->id};
    raft__send(r, &m);
}

int raft_transfer_leader(struct raft *r, uint64_t to)
{
    if (r->state != RAFT_LEADER)
        return CN_EAGAIN;
    if (to == RAFT_NONE) {
        struct raft_prog *best = NULL;
        for (size_t i = 0; i < r->n_prs; i++) {
            struct raft_prog *p = &r->prs[i];
            if (raft__conf_is_voter(&r->conf, p->id) && (!best || p->match > best->match))
                best = p;
        }
        if (!best)
            return CN_EINVAL;
        to = best->id;
    }
    if (to == r->cfg.id)
        return 0;
    struct raft_prog *p = raft__prog_get(r, to);
    if (!p || !raft__conf_is_voter(&r->conf, to))
        return CN_EINVAL;
    if (r->transferee == to)
        return 0;
    r->transferee = to;
    r->transfer_elapsed = 0;
    r->tn_sent = false;
    raft__logf(r, CN_LOG_INFO, "transferring leadership to %llu", (unsigned long long)to);
    if (p->match == raft__log_last(&r->log))
        send_timeout_now(r, p);
    else
        raft__send_append(r, p, true);
    return 0;
}

void raft__transfer_check(struct raft *r, struct raft_prog *p)
{
    if (r->state == RAFT_LEADER && r->transferee == p->id && !r->tn_sent &&
        p->match == raft__log_last(&r->log))
        send_timeout_now(r, p);
}

void raft__transfer_abort(struct raft *r)
{
    r->transferee = RAFT_NONE;
    r->transfer_elapsed = 0;
    r->tn_sent = false;
}

void raft__handle_timeout_now(struct raft *r, const struct raft_msg *m)
{
    if (!raft__promotable(r))
        return;
    raft__logf(r, CN_LOG_INFO, "TimeoutNow from %llu: campaigning", (unsigned long long)m->from);
    raft__campaign(r, true);
}
