/* raft/replication.c: AppendEntries both ways, heartbeats, and the leader's
 * commit rule. Leader side: batches bounded by max_msg_bytes, pipelined in
 * Replicate state within the inflight window, one probe at a time in Probe
 * state (pitfall #11), fast backtracking from the follower's hint. Follower
 * side: truncate only at a real conflict (#8), clamp commit to what the
 * message verified (#9), acknowledge only durable entries (#12). */
#include "base/assert.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "raft/raft_int.h"

/* ---- leader: read-back of evicted entries ------------------------------------------ */

void raft__rb_clear(struct raft *r)
{
    raft__entries_release(r->rb, r->rb_n);
    cn_free(r->rb);
    r->rb = NULL;
    r->rb_n = 0;
    r->rb_lo = 0;
}

/* Entry i from the read-back cache, or NULL. */
static const struct raft_entry *rb_get(const struct raft *r, uint64_t i)
{
    if (i <= r->log.snap_index || i < r->rb_lo || i >= r->rb_lo + r->rb_n)
        return NULL;
    return &r->rb[i - r->rb_lo];
}

/* Ask the shell for evicted entries from lo (raft_ready hands it out). */
static void want_fetch(struct raft *r, uint64_t lo)
{
    if (r->fetch_out || r->fetch_want)
        return;
    uint64_t hi = r->log.base + 1;
    if (hi - lo > RAFT_FETCH_MAX)
        hi = lo + RAFT_FETCH_MAX;
    r->fetch_want = true;
    r->fetch_lo = lo;
    r->fetch_hi = hi;
}

void raft_fetched(struct raft *r, const struct raft_entry *e, size_t n)
{
    r->fetch_out = false;
    if (n == 0 || !e)
        return;
    /* Keep what still is in the evicted part and matches the terms we kept
     * (Log Matching); stop at the first entry that does not. */
    size_t skip = 0, k = 0;
    while (skip < n && e[skip].index <= r->log.snap_index)
        skip++;
    for (k = skip; k < n; k++) {
        if (e[k].index != e[skip].index + (k - skip) || e[k].index > r->log.base ||
            !raft__log_match(&r->log, e[k].index, e[k].term) || (e[k].data.len && !e[k].data.base))
            break;
    }
    if (k < n && e[k].index <= r->log.base)
        raft__logf(r, CN_LOG_ERROR, "read-back entry %llu does not match our log: dropped",
                   (unsigned long long)e[k].index);
    if (k == skip)
        return;
    struct raft_entry *c = cn_malloc((k - skip) * sizeof(*c));
    if (!c)
        return;
    for (size_t i = skip; i < k; i++) {
        c[i - skip] = e[i];
        if (raft__buf_dup(&c[i - skip].data, e[i].data.base, e[i].data.len) != 0) {
            raft__entries_release(c, i - skip);
            cn_free(c);
            return;
        }
    }
    raft__rb_clear(r);
    r->rb = c;
    r->rb_n = k - skip;
    r->rb_lo = e[skip].index;
    if (r->state != RAFT_LEADER)
        return;
    for (size_t i = 0; i < r->n_prs; i++) {
        struct raft_prog *p = &r->prs[i];
        if (p->state != RAFT_PR_SNAPSHOT && rb_get(r, p->next))
            raft__send_append(r, p, false);
    }
}

void raft_fetch_failed(struct raft *r, uint64_t lo, uint64_t first)
{
    r->fetch_out = false;
    if (first <= lo) {
        raft__logf(r, CN_LOG_WARN, "read-back of entries from %llu failed", (unsigned long long)lo);
        return;
    }
    /* The shell's log starts at `first`: forget what is before it (only
     * evicted entries, all applied), so followers behind it get the
     * snapshot that compacted them. */
    uint64_t upto = first - 1;
    if (upto > r->log.base)
        upto = r->log.base;
    if (upto > r->log.snap_index && upto <= r->log.applied) {
        raft__logf(r, CN_LOG_INFO, "entries up to %llu were compacted from the durable log",
                   (unsigned long long)upto);
        raft__log_compact(&r->log, upto);
        raft__rb_clear(r);
    }
    if (r->state != RAFT_LEADER)
        return;
    for (size_t i = 0; i < r->n_prs; i++) {
        struct raft_prog *p = &r->prs[i];
        if (p->state != RAFT_PR_SNAPSHOT && p->next < raft__log_first(&r->log))
            raft__send_append(r, p, true); /* sends the snapshot */
    }
}

/* ---- leader: sending ------------------------------------------------------------ */

/* One APPEND to p; false if nothing was sent. */
static bool send_one(struct raft *r, struct raft_prog *p, bool if_empty)
{
    if (raft__prog_paused(p))
        return false;
    uint64_t last = raft__log_last(&r->log);
    /* next moves past last only by an ack, and acks past last are dropped;
     * a leader's log never shrinks. */
    CN_ASSERT(p->next <= last + 1);
    if (p->next > last + 1)
        p->next = last + 1;
    uint64_t prev = p->next - 1, prev_term;
    if (raft__log_term(&r->log, prev, &prev_term) != 0 || p->next < raft__log_first(&r->log)) {
        /* The entries this follower needs are compacted away. */
        raft__send_snapshot(r, p);
        return false;
    }
    size_t bytes = 0, n = 0;
    bool from_rb = false;
    if (p->next <= last && p->next > r->log.base) {
        n = raft__log_span(&r->log, p->next, r->cfg.max_msg_bytes, &bytes);
    } else if (p->next <= last) {
        /* Evicted from memory: from the read-back cache, or ask the shell
         * to read them back (the follower waits; nothing blocks). */
        for (uint64_t i = p->next; i <= r->log.base; i++) {
            const struct raft_entry *e = rb_get(r, i);
            if (!e || (n > 0 && bytes + e->data.len > r->cfg.max_msg_bytes))
                break;
            bytes += e->data.len;
            n++;
        }
        if (n == 0) {
            want_fetch(r, p->next);
            return false;
        }
        from_rb = true;
    }
    if (n == 0 && !if_empty)
        return false;
    struct raft_msg m = {
        .type = RAFT_MSG_APPEND,
        .to = p->id,
        .index = prev,
        .log_term = prev_term,
        /* The raw commit: the follower clamps it to what this message
         * verifies (pitfall #9). */
        .commit = r->log.commit,
    };
    if (n) {
        m.entries = cn_malloc(n * sizeof(*m.entries));
        if (!m.entries) {
            r->step_err = CN_ENOMEM;
            return false;
        }
        for (size_t i = 0; i < n; i++)
            raft__entry_share(&m.entries[i], from_rb ? rb_get(r, p->next + i)
                                                     : raft__log_get(&r->log, p->next + i));
        m.n_entries = n;
    }
    raft__prog_sent(p, prev + n, n, bytes);
    raft__send(r, &m);
    return n > 0;
}

void raft__send_append(struct raft *r, struct raft_prog *p, bool if_empty)
{
    /* In Replicate state fill the window; elsewhere one message. */
    if (!send_one(r, p, if_empty))
        return;
    size_t guard = r->cfg.max_inflight_msgs;
    while (p->state == RAFT_PR_REPLICATE && guard-- > 0 && send_one(r, p, false)) {
    }
}

void raft__bcast_append(struct raft *r)
{
    for (size_t i = 0; i < r->n_prs; i++)
        raft__send_append(r, &r->prs[i], true);
}

void raft__bcast_heartbeat(struct raft *r)
{
    r->round++;
    r->round_wanted = false;
    r->round_tick[r->round % RAFT_ROUNDS] = r->ticks;
    for (size_t i = 0; i < r->n_prs; i++) {
        struct raft_prog *p = &r->prs[i];
        struct raft_msg m = {
            .type = RAFT_MSG_HEARTBEAT,
            .to = p->id,
            /* Pitfall #9 (etcd sendHeartbeat): never past what this follower
             * is known to hold. */
            .commit = p->match < r->log.commit ? p->match : r->log.commit,
            .context = r->round,
        };
        raft__send(r, &m);
    }
    /* A lone voter confirms its own rounds. */
    raft__read_ack(r);
}

int raft__append_local(struct raft *r, enum raft_entry_type type, const void *data, size_t len,
                       uint64_t *index)
{
    /* Log terms never decrease (Log Matching relies on it). */
    CN_ASSERT(r->state == RAFT_LEADER && raft__log_last_term(&r->log) <= r->term);
    struct raft_entry e = {.term = r->term, .index = raft__log_last(&r->log) + 1, .type = type};
    if (raft__buf_dup(&e.data, data, len) != 0)
        return CN_ENOMEM;
    int rc = raft__log_append(&r->log, &e, 1, true);
    raft__buf_unref(&e.data);
    if (rc != 0)
        return rc;
    *index = e.index;
    if (type == RAFT_ENTRY_CONF)
        raft__conf_refresh(r); /* thesis §4.1: in force once appended (#21) */
    raft__bcast_append(r);
    return 0;
}

bool raft__maybe_commit(struct raft *r)
{
    uint64_t match[RAFT_MAX_SERVERS];
    size_t n = 0;
    for (size_t i = 0; i < r->conf.n; i++) {
        const struct raft_server *s = &r->conf.servers[i];
        if (s->role != RAFT_VOTER)
            continue; /* pitfall #25 */
        if (s->id == r->cfg.id) {
            /* Pitfall #12: ourselves only up to our durable index; #24: not
             * at all once C_new has removed us (we are not in conf). */
            match[n++] = r->log.persisted;
        } else {
            struct raft_prog *p = raft__prog_get(r, s->id);
            match[n++] = p ? p->match : 0;
        }
    }
    uint64_t c = raft__quorum_commit(match, n, &r->log, r->term, r->log.commit);
    if (c == r->log.commit)
        return false;
    /* Figure 8: a leader commits only forward, only entries of its own
     * term, and only what it holds. */
    CN_INVARIANT(c > r->log.commit);
    CN_ASSERT(c <= raft__log_last(&r->log) && raft__log_term0(&r->log, c) == r->term);
    raft__log_commit_to(&r->log, c);
    raft__read_release(r);
    raft__conf_committed(r);
    return true;
}

#define RAFT_LOST_LOG_REJECTS 10

/* ---- leader: responses ------------------------------------------------------------ */

void raft__handle_append_resp(struct raft *r, const struct raft_msg *m)
{
    struct raft_prog *p = raft__prog_get(r, m->from);
    if (!p)
        return;
    p->recent_active = true;
    if (m->reject) {
        /* §5.3 with the follower's hint: skip a whole term per round trip. */
        uint64_t hint = m->reject_hint;
        if (m->hint_term > 0)
            hint = raft__log_find_conflict_by_term(&r->log, m->reject_hint, m->hint_term);
        if (m->index == p->match && m->index + 1 == p->next && p->state == RAFT_PR_PROBE &&
            ++p->rejects_at_match == RAFT_LOST_LOG_REJECTS) {
            /* Our probe at the follower's own match, rejected: once is a late
             * duplicate (reordered rejections of earlier probes can pile up);
             * ten in a row, with a probe per heartbeat, mean it lost entries
             * it acknowledged (pitfall #16). Say so once; the operator has to
             * replace it. */
            raft__logf(r, CN_LOG_WARN,
                       "%llu keeps rejecting entry %llu it acknowledged: it lost its log "
                       "(remove it and rejoin it under a new ID)",
                       (unsigned long long)p->id, (unsigned long long)m->index);
        }
        if (raft__prog_maybe_decr(p, m->index, hint)) {
            if (p->state == RAFT_PR_REPLICATE)
                raft__prog_become_probe(p);
            raft__send_append(r, p, true);
        }
        return;
    }
    if (m->index > raft__log_last(&r->log))
        return; /* acks what we never sent: ignore */
    bool moved = raft__prog_maybe_update(p, m->index);
    if (p->state == RAFT_PR_REPLICATE)
        raft__infl_free_le(&p->in, m->index);
    if (!moved)
        return;
    if (p->state == RAFT_PR_PROBE) {
        raft__prog_become_replicate(p);
    } else if (p->state == RAFT_PR_SNAPSHOT && p->match + 1 >= raft__log_first(&r->log)) {
        /* Pitfall #19: an ack that reconnects the follower to our log ends
         * Snapshot state, however it caught up. */
        raft__prog_become_probe(p);
        raft__prog_become_replicate(p);
    }
    if (raft__maybe_commit(r)) {
        if (r->state != RAFT_LEADER)
            return; /* removed ourselves (#24) */
        raft__bcast_append(r);
    } else {
        raft__send_append(r, p, false);
    }
    raft__transfer_check(r, p);
}

void raft__handle_heartbeat_resp(struct raft *r, const struct raft_msg *m)
{
    struct raft_prog *p = raft__prog_get(r, m->from);
    if (!p)
        return;
    p->recent_active = true;
    /* Pitfall #11: a heartbeat reply frees a probing follower. */
    if (p->state == RAFT_PR_PROBE)
        p->probe_sent = false;
    /* A full window whose acks were lost would stall the follower forever:
     * the reply proves it is reachable, so let one more APPEND through; a
     * gap makes it reject, and the rejection resets us to Probe. */
    if (p->state == RAFT_PR_REPLICATE && raft__infl_full(&p->in))
        raft__infl_free_first(&p->in);
    if (p->match < raft__log_last(&r->log))
        raft__send_append(r, p, true);
    if (m->context > p->hb_acked && m->context <= r->round) {
        p->hb_acked = m->context;
        raft__read_ack(r);
    }
}

/* ---- follower ------------------------------------------------------------------------- */

void raft__ack(struct raft *r, uint64_t to, uint64_t index)
{
    if (index <= r->log.persisted) {
        struct raft_msg m = {.type = RAFT_MSG_APPEND_RESP, .to = to, .index = index};
        raft__send(r, &m);
        return;
    }
    /* Pitfall #12: acknowledge only what is durable; raft_persisted releases
     * it (raft__release_ack). */
    if (!r->ack_held || r->ack_to != to || index > r->ack_index) {
        r->ack_to = to;
        r->ack_index = index;
    }
    r->ack_held = true;
}

void raft__release_ack(struct raft *r)
{
    if (!r->ack_held || r->log.persisted == 0)
        return;
    uint64_t idx = r->ack_index <= r->log.persisted ? r->ack_index : r->log.persisted;
    /* Partial acks are fine: entries up to the held index were verified by
     * the leader's message, so any durable prefix of them is the leader's. */
    if (idx == r->ack_index)
        r->ack_held = false;
    struct raft_msg m = {.type = RAFT_MSG_APPEND_RESP, .to = r->ack_to, .index = idx};
    raft__send(r, &m);
}

static void heard_from_leader(struct raft *r, uint64_t from)
{
    r->leader = from;
    r->election_elapsed = 0;
    r->ticks_since_leader = 0;
    r->hold_votes = false;
}

void raft__handle_append(struct raft *r, const struct raft_msg *m)
{
    heard_from_leader(r, m->from);
    if (m->index < r->log.commit) {
        /* Everything up to our commit is already agreed; say so. */
        raft__ack(r, m->from, r->log.commit);
        return;
    }
    uint64_t lastnew = 0;
    bool truncated = false;
    int rc = raft__log_maybe_append(&r->log, m->index, m->log_term, m->entries, m->n_entries,
                                    &lastnew, &truncated);
    if (rc == 1) {
        bool conf = truncated;
        for (size_t i = 0; i < m->n_entries && !conf; i++)
            conf = m->entries[i].type == RAFT_ENTRY_CONF;
        if (conf)
            raft__conf_refresh(r); /* #21: follow the log, roll back on truncation */
        /* Pitfall #9: commit only what this message verified. */
        raft__log_commit_to(&r->log, m->commit < lastnew ? m->commit : lastnew);
        raft__ack(r, m->from, lastnew);
        return;
    }
    if (rc == CN_ENOMEM) {
        r->step_err = CN_ENOMEM;
        return;
    }
    if (rc == CN_ECORRUPT) {
        raft__logf(r, CN_LOG_ERROR, "leader %llu conflicts with our committed log at <= %llu",
                   (unsigned long long)m->from, (unsigned long long)r->log.commit);
        return;
    }
    /* Mismatch at prev: hint the last index whose term is <= the leader's
     * prev term, so the leader can skip a whole term per round trip. */
    uint64_t last = raft__log_last(&r->log);
    uint64_t hint =
        raft__log_find_conflict_by_term(&r->log, m->index < last ? m->index : last, m->log_term);
    struct raft_msg resp = {
        .type = RAFT_MSG_APPEND_RESP,
        .to = m->from,
        .index = m->index,
        .reject = true,
        .reject_hint = hint,
        .hint_term = raft__log_term0(&r->log, hint),
    };
    raft__send(r, &resp);
}

void raft__handle_heartbeat(struct raft *r, const struct raft_msg *m)
{
    heard_from_leader(r, m->from);
    /* The leader sent min(our match, commit) (pitfall #9). */
    raft__log_commit_to(&r->log, m->commit);
    struct raft_msg resp = {.type = RAFT_MSG_HEARTBEAT_RESP, .to = m->from, .context = m->context};
    raft__send(r, &resp);
}

void raft__heard(struct raft *r, uint64_t from)
{
    heard_from_leader(r, from);
}
