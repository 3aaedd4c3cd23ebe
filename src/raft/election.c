/* raft/election.c: elections — the election timer, PreVote (thesis §9.6),
 * RequestVote and its replies, and the leader's CheckQuorum (§6.2). The term
 * rules every message passes first (pitfall #2, the lease check of #4) are in
 * raft_step. */
#include "base/log.h"
#include "raft/raft_int.h"

static void send_vote_requests(struct raft *r, bool pre, bool transfer)
{
    for (size_t i = 0; i < r->conf.n; i++) {
        const struct raft_server *s = &r->conf.servers[i];
        if (s->id == r->cfg.id || s->role != RAFT_VOTER)
            continue;
        struct raft_msg m = {
            .type = pre ? RAFT_MSG_PREVOTE : RAFT_MSG_VOTE,
            .to = s->id,
            /* Pitfall #5: the pre-candidate asks for term+1 without moving. */
            .term = pre ? r->term + 1 : r->term,
            .index = raft__log_last(&r->log),
            .log_term = raft__log_last_term(&r->log),
            .context = transfer ? RAFT_CTX_TRANSFER : 0,
        };
        raft__send(r, &m);
    }
}

/* Record one answer; returns the tally's outcome. Only voters of our
 * configuration count, each once (pitfall #25: the candidate decides). */
static enum raft_vote_result tally(struct raft *r, uint64_t from, bool granted)
{
    if (!raft__conf_is_voter(&r->conf, from))
        return RAFT_VOTE_PENDING;
    size_t i = 0;
    for (; i < r->n_votes; i++)
        if (r->vote_from[i] == from)
            break;
    if (i == r->n_votes && r->n_votes < RAFT_MAX_SERVERS) {
        r->vote_from[r->n_votes] = from;
        r->vote_granted[r->n_votes] = granted;
        r->n_votes++;
    }
    size_t g = 0, rej = 0;
    for (size_t k = 0; k < r->n_votes; k++) {
        if (r->vote_granted[k])
            g++;
        else
            rej++;
    }
    return raft__quorum_vote(raft__conf_voters(&r->conf), g, rej);
}

static void campaign_real(struct raft *r, bool transfer)
{
    raft__become_candidate(r);
    raft__logf(r, CN_LOG_DEBUG, "campaigning (transfer %d)", (int)transfer);
    if (tally(r, r->cfg.id, true) == RAFT_VOTE_WON) {
        raft__become_leader(r);
        return;
    }
    send_vote_requests(r, false, transfer);
}

void raft__campaign(struct raft *r, bool transfer)
{
    if (!raft__promotable(r))
        return;
    if (r->cfg.pre_vote && !transfer) {
        raft__become_pre_candidate(r);
        if (tally(r, r->cfg.id, true) == RAFT_VOTE_WON) {
            campaign_real(r, false);
            return;
        }
        send_vote_requests(r, true, false);
        return;
    }
    campaign_real(r, transfer);
}

void raft__handle_vote(struct raft *r, const struct raft_msg *m)
{
    bool pre = m->type == RAFT_MSG_PREVOTE;
    /* Already voted for this candidate (a retransmission), or free to vote:
     * no vote in this term and no leader known. A pre-vote for a later term
     * may be granted whatever we did in ours (§9.6). */
    bool can = r->vote == m->from || (r->vote == RAFT_NONE && r->leader == RAFT_NONE) ||
               (pre && m->term > r->term);
    /* §5.4.1; pitfall #5: PreVote is never log-blind. Learners answer too
     * (pitfall #25: they may have been promoted without knowing). */
    bool ok = can && raft__log_up_to_date(&r->log, m->index, m->log_term);
    struct raft_msg resp = {
        .type = pre ? RAFT_MSG_PREVOTE_RESP : RAFT_MSG_VOTE_RESP,
        .to = m->from,
        /* Pitfall #5: a grant carries the request's term, a rejection ours. */
        .term = ok ? m->term : r->term,
        .reject = !ok,
    };
    raft__logf(r, CN_LOG_DEBUG, "%s from %llu at %llu/%llu: %s", pre ? "pre-vote" : "vote",
               (unsigned long long)m->from, (unsigned long long)m->index,
               (unsigned long long)m->log_term, ok ? "granted" : "rejected");
    if (ok && !pre) {
        /* Pitfall #1: the vote goes into the HardState of the same update
         * and is durable before this reply leaves. */
        r->vote = m->from;
        r->election_elapsed = 0;
    }
    raft__send(r, &resp);
}

void raft__handle_vote_resp(struct raft *r, const struct raft_msg *m)
{
    enum raft_vote_result res;
    if (r->state == RAFT_PRE_CANDIDATE && m->type == RAFT_MSG_PREVOTE_RESP) {
        /* Grants carry term+1; rejections at a higher term already made us
         * a follower in raft_step; rejections at our term count. */
        if (m->reject ? m->term != r->term : m->term != r->term + 1)
            return;
        res = tally(r, m->from, !m->reject);
        if (res == RAFT_VOTE_WON)
            campaign_real(r, false);
        else if (res == RAFT_VOTE_LOST)
            raft__become_follower(r, r->term, RAFT_NONE);
    } else if (r->state == RAFT_CANDIDATE && m->type == RAFT_MSG_VOTE_RESP) {
        /* Pitfall #2: only replies of our current term count. */
        if (m->term != r->term)
            return;
        res = tally(r, m->from, !m->reject);
        if (res == RAFT_VOTE_WON)
            raft__become_leader(r); /* its no-op goes out to everyone */
        else if (res == RAFT_VOTE_LOST) {
            raft__become_follower(r, r->term, RAFT_NONE);
        }
    }
}

void raft__tick_election(struct raft *r)
{
    if (r->election_elapsed < UINT32_MAX)
        r->election_elapsed++;
    if (r->hold_votes && r->election_elapsed >= r->cfg.election_ticks)
        r->hold_votes = false;
    if (r->election_elapsed >= r->randomized_timeout) {
        if (raft__promotable(r)) {
            raft__campaign(r, false);
        } else {
            /* A learner or removed server: just forget the leader after a
             * full timeout so its lease no longer blocks votes (#6). */
            raft__reset_timeout(r);
            r->leader = RAFT_NONE;
        }
    }
}

void raft__tick_leader(struct raft *r)
{
    r->heartbeat_elapsed++;
    r->election_elapsed++;
    if (r->transferee != RAFT_NONE && ++r->transfer_elapsed >= r->cfg.election_ticks) {
        /* Pitfall #28: a transfer that did not finish in an election timeout
         * is abandoned and normal service resumes. */
        raft__logf(r, CN_LOG_INFO, "transfer to %llu timed out", (unsigned long long)r->transferee);
        raft__transfer_abort(r);
    }
    if (r->election_elapsed >= r->cfg.election_ticks) {
        r->election_elapsed = 0;
        if (r->cfg.check_quorum) {
            /* Pitfall #7 (thesis §6.2): a leader that has not heard from a
             * quorum of voters within an election timeout steps down. */
            size_t active = raft__conf_is_voter(&r->conf, r->cfg.id) ? 1 : 0;
            for (size_t i = 0; i < r->n_prs; i++)
                if (r->prs[i].recent_active && raft__conf_is_voter(&r->conf, r->prs[i].id))
                    active++;
            if (active < raft__conf_voters(&r->conf) / 2 + 1) {
                raft__logf(r, CN_LOG_WARN, "lost contact with a quorum: stepping down");
                raft__become_follower(r, r->term, RAFT_NONE);
                return;
            }
        }
        for (size_t i = 0; i < r->n_prs; i++)
            r->prs[i].recent_active = false;
    }
    for (size_t i = 0; i < r->n_prs; i++) {
        struct raft_prog *p = &r->prs[i];
        /* Pitfall #19: a snapshot (or its ack) lost without the shell ever
         * calling raft_report_snapshot must not park the follower forever:
         * after a few election timeouts probe again from after it. */
        if (p->state == RAFT_PR_SNAPSHOT && ++p->snap_elapsed >= 4 * r->cfg.election_ticks)
            raft__prog_become_probe(p);
    }
    if (r->heartbeat_elapsed >= r->cfg.heartbeat_ticks) {
        r->heartbeat_elapsed = 0;
        raft__bcast_heartbeat(r);
    }
}
