/* raft/raft.c: the node — creation from what was restored, the term rules
 * every message goes through, dispatch by role, and the one transition
 * function per role (become_follower / pre_candidate / candidate / leader).
 * The RPC handlers live in election.c, replication.c, snapshot.c,
 * transfer.c and read.c; the ready/done bookkeeping in ready.c. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/assert.h"
#include "base/err.h"
#include "base/log.h"
#include "base/mem.h"
#include "raft/raft_int.h"

#define DEFAULT_INFLIGHT 256

void raft__logf(const struct raft *r, int level, const char *fmt, ...)
{
    if (!r->cfg.log)
        return;
    char buf[256];
    int n = snprintf(buf, sizeof(buf), "n%llu t%llu: ", (unsigned long long)r->cfg.id,
                     (unsigned long long)r->term);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
    va_end(ap);
    r->cfg.log(r->cfg.log_arg, level, buf);
}

/* splitmix64: the module's only randomness, seeded from the config. */
static uint64_t rng_next(struct raft *r)
{
    uint64_t z = (r->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void raft__reset_timeout(struct raft *r)
{
    unsigned e = r->cfg.election_ticks;
    r->election_elapsed = 0;
    r->randomized_timeout = e + (unsigned)(rng_next(r) % e);
}

static void conf_at(const struct raft *r, uint64_t i, struct raft_conf *c, uint64_t *ci);

bool raft__promotable(const struct raft *r)
{
    /* Pitfall #25: learners never campaign. */
    if (raft__conf_is_voter(&r->conf, r->cfg.id))
        return true;
    /* Thesis §4.2.2: "a server that is not part of its own latest
     * configuration should still start new elections, as it might still be
     * needed until the C_new entry is committed" (pitfalls #21, #24: configs
     * take effect when appended, so a removal can sit uncommitted in our log).
     * Often we hold the longest log (a removed leader that lost its quorum)
     * and if we may not campaign the group can sit leaderless: in sim seed
     * 80369 the one C_new voter with our entries learned the term of a stale
     * candidate only from its rejections and kept running a term late, while
     * we heard that term at once but were barred. We campaign only while
     * C_new is not known committed and only if the configuration before it
     * made us a voter; tally() never counts our own vote, since C_new lacks
     * us. Once a leader of C_new runs, its voters ignore us under the lease
     * check (#4). */
    if (r->conf_index == 0 || r->conf_index <= r->log.commit)
        return false;
    struct raft_conf prev;
    uint64_t pi;
    conf_at(r, r->conf_index - 1, &prev, &pi);
    return raft__conf_is_voter(&prev, r->cfg.id);
}

bool raft__in_lease(const struct raft *r)
{
    return r->leader != RAFT_NONE && r->election_elapsed < r->cfg.election_ticks;
}

struct raft_prog *raft__prog_get(struct raft *r, uint64_t id)
{
    for (size_t i = 0; i < r->n_prs; i++)
        if (r->prs[i].id == id)
            return &r->prs[i];
    return NULL;
}

void raft__msg_free(struct raft_msg *m)
{
    raft__entries_release(m->entries, m->n_entries);
    cn_free(m->entries);
    m->entries = NULL;
    m->n_entries = 0;
    raft__buf_unref(&m->snap_data);
}

void raft__send(struct raft *r, struct raft_msg *m)
{
    m->from = r->cfg.id;
    if (m->term == 0)
        m->term = r->term;
    if (r->n_msgs == r->cap_msgs) {
        size_t cap = r->cap_msgs ? r->cap_msgs * 2 : 16;
        struct raft_msg *nm = cn_realloc(r->msgs, cap * sizeof(*nm));
        if (!nm) {
            /* Like a lossy network: Raft retries everything it sends. */
            raft__logf(r, CN_LOG_WARN, "out of memory: message to %llu dropped",
                       (unsigned long long)m->to);
            raft__msg_free(m);
            return;
        }
        r->msgs = nm;
        r->cap_msgs = cap;
    }
    r->msgs[r->n_msgs++] = *m;
}

/* ---- membership in force ----------------------------------------------------- */

static bool conf_from_entry(const struct raft_entry *e, struct raft_conf *c)
{
    return e->type == RAFT_ENTRY_CONF && raft_conf_decode(e->data.base, e->data.len, c) == 0;
}

/* The configuration as of index i (latest CONF entry at or below i). */
static void conf_at(const struct raft *r, uint64_t i, struct raft_conf *c, uint64_t *ci)
{
    const struct raft_log *l = &r->log;
    if (i > raft__log_last(l))
        i = raft__log_last(l);
    for (; i > l->base; i--) {
        if (conf_from_entry(&l->e[i - l->base - 1], c)) {
            *ci = i;
            return;
        }
    }
    *c = r->base_conf;
    *ci = 0;
}

int raft__prs_sync(struct raft *r)
{
    size_t n = 0;
    struct raft_prog *np = cn_calloc(RAFT_MAX_SERVERS, sizeof(*np));
    if (!np)
        return CN_ENOMEM;
    uint64_t last = raft__log_last(&r->log);
    for (size_t i = 0; i < r->conf.n; i++) {
        uint64_t id = r->conf.servers[i].id;
        if (id == r->cfg.id)
            continue;
        struct raft_prog *old = raft__prog_get(r, id);
        if (old) {
            np[n] = *old;
            old->id = RAFT_NONE; /* moved */
            old->in.idx = NULL;
            old->in.size = NULL;
        } else if (raft__prog_init(&np[n], id, last + 1, r->cfg.max_inflight_msgs,
                                   r->cfg.max_inflight_bytes) != 0) {
            for (size_t k = 0; k < n; k++)
                raft__prog_free(&np[k]);
            cn_free(np);
            return CN_ENOMEM;
        }
        n++;
    }
    for (size_t i = 0; i < r->n_prs; i++)
        raft__prog_free(&r->prs[i]);
    cn_free(r->prs);
    r->prs = np;
    r->n_prs = n;
    return 0;
}

static void prs_clear(struct raft *r)
{
    for (size_t i = 0; i < r->n_prs; i++)
        raft__prog_free(&r->prs[i]);
    cn_free(r->prs);
    r->prs = NULL;
    r->n_prs = 0;
}

void raft__conf_refresh(struct raft *r)
{
    uint64_t ci;
    struct raft_conf c;
    conf_at(r, raft__log_last(&r->log), &c, &ci);
    r->conf = c;
    r->conf_index = ci;
    if (r->state == RAFT_LEADER && raft__prs_sync(r) != 0)
        raft__logf(r, CN_LOG_ERROR, "out of memory syncing progress to the configuration");
}

/* ---- role transitions -------------------------------------------------------- */

static void reset_common(struct raft *r, uint64_t term)
{
    /* Figure 2: currentTerm only increases; it is durable, and a term that
     * went backwards could grant a second vote in a term already voted in. */
    CN_INVARIANT(term >= r->term);
    if (term != r->term) {
        /* Pitfall #1 (etcd#2461): the vote is cleared only by a new term. */
        r->term = term;
        r->vote = RAFT_NONE;
        r->ack_held = false;
    }
    r->leader = RAFT_NONE;
    raft__reset_timeout(r);
    r->heartbeat_elapsed = 0;
    r->transfer_elapsed = 0;
    r->transferee = RAFT_NONE;
    r->n_votes = 0;
    r->lease_until = 0;
    raft__reads_drop(r);
    prs_clear(r);
}

void raft__become_follower(struct raft *r, uint64_t term, uint64_t leader)
{
    reset_common(r, term);
    r->state = RAFT_FOLLOWER;
    r->leader = leader;
    if (leader != RAFT_NONE)
        r->ticks_since_leader = 0;
}

void raft__become_pre_candidate(struct raft *r)
{
    /* §9.6: the term does not change; nothing to persist. */
    reset_common(r, r->term);
    r->state = RAFT_PRE_CANDIDATE;
}

void raft__become_candidate(struct raft *r)
{
    reset_common(r, r->term + 1);
    r->state = RAFT_CANDIDATE;
    r->vote = r->cfg.id; /* persisted in the same update as the VOTE requests (#1) */
}

void raft__become_leader(struct raft *r)
{
    /* Only a candidate that voted for itself in this term wins (§5.2). */
    CN_ASSERT(r->state == RAFT_CANDIDATE && r->vote == r->cfg.id);
    r->state = RAFT_LEADER;
    r->leader = r->cfg.id;
    r->ticks_since_leader = 0;
    r->election_elapsed = 0;
    r->heartbeat_elapsed = 0;
    r->lease_forbidden = false;
    r->lease_until = 0;
    r->round = 0;
    prs_clear(r);
    if (raft__prs_sync(r) != 0)
        raft__logf(r, CN_LOG_ERROR, "out of memory creating progress");
    for (size_t i = 0; i < r->n_prs; i++)
        r->prs[i].recent_active = false;
    /* Pitfall #3 / thesis §3.6.2: a no-op of this term lets older entries
     * commit; #20 and #26 wait for it (term_start). */
    uint64_t idx;
    if (raft__append_local(r, RAFT_ENTRY_NORMAL, NULL, 0, &idx) != 0) {
        raft__logf(r, CN_LOG_ERROR, "out of memory appending the no-op: stepping down");
        raft__become_follower(r, r->term, RAFT_NONE);
        return;
    }
    r->term_start = idx;
    raft__logf(r, CN_LOG_INFO, "became leader at index %llu", (unsigned long long)idx);
}

/* ---- creation ----------------------------------------------------------------- */

static bool config_ok(const struct raft_config *cfg)
{
    return cfg && cfg->id != RAFT_NONE && cfg->heartbeat_ticks >= 1 &&
           cfg->election_ticks > cfg->heartbeat_ticks;
}

struct raft *raft_new(const struct raft_config *cfg, const struct raft_restore *rs)
{
    static const struct raft_restore empty;
    if (!rs)
        rs = &empty;
    if (!config_ok(cfg)) {
        if (cfg && cfg->log)
            cfg->log(cfg->log_arg, CN_LOG_ERROR, "raft: invalid config");
        return NULL;
    }
    struct raft *r = cn_calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->cfg = *cfg;
    if (r->cfg.max_inflight_msgs == 0)
        r->cfg.max_inflight_msgs = DEFAULT_INFLIGHT;
    if (r->cfg.max_msg_bytes == 0)
        r->cfg.max_msg_bytes = SIZE_MAX;
    r->rng = cfg->rng_seed;
    raft__log_init(&r->log);
    r->term = rs->term;
    r->vote = rs->vote;

    const char *why = NULL;
    uint64_t si = rs->snap.index;
    if (si > 0) {
        r->log.snap_index = si;
        r->log.base = si;
        r->log.snap_term = rs->snap.term;
        r->base_conf = rs->snap.conf.n ? rs->snap.conf : rs->conf;
    } else {
        r->base_conf = rs->conf;
    }
    if (r->base_conf.n > RAFT_MAX_SERVERS)
        why = "configuration too large";
    uint64_t prev_term = r->log.snap_term;
    uint64_t ai = rs->applied > si ? rs->applied : si;
    if (!why && ai > si) {
        /* Applied by the shell at open: terms only (evicted from the start). */
        const struct raft_run *t = rs->applied_terms;
        size_t nt = rs->n_applied_terms;
        if (ai > rs->commit || nt == 0 || !t || t[0].first != si + 1 ||
            rs->applied_conf.n > RAFT_MAX_SERVERS)
            why = "restored applied entries inconsistent";
        for (size_t k = 0; !why && k < nt; k++) {
            if ((k && t[k].first <= t[k - 1].first) || t[k].first > ai)
                why = "restored applied entries inconsistent";
            else if (t[k].term < prev_term || t[k].term > rs->term)
                why = "restored entry terms out of order";
            prev_term = t[k].term;
        }
        if (!why) {
            r->log.runs = cn_malloc(nt * sizeof(*r->log.runs));
            if (!r->log.runs)
                why = "out of memory";
        }
        if (!why) {
            memcpy(r->log.runs, t, nt * sizeof(*t));
            r->log.n_runs = r->log.cap_runs = nt;
            r->log.base = ai;
            if (rs->applied_conf.n)
                r->base_conf = rs->applied_conf;
        }
    }
    for (size_t i = 0; !why && i < rs->n_entries; i++) {
        const struct raft_entry *e = &rs->entries[i];
        if (e->index != ai + 1 + i)
            why = "restored entries not contiguous after the snapshot";
        else if (e->term < prev_term || e->term > rs->term)
            why = "restored entry terms out of order";
        prev_term = e->term;
    }
    if (!why && rs->snap.term > rs->term)
        why = "snapshot term above the stored term";
    if (!why && raft__log_append(&r->log, rs->entries, rs->n_entries, false) != 0)
        why = "out of memory";
    if (why) {
        if (cfg->log)
            cfg->log(cfg->log_arg, CN_LOG_ERROR, why);
        raft__log_free(&r->log);
        cn_free(r);
        return NULL;
    }
    uint64_t last = raft__log_last(&r->log);
    r->log.unstable = last + 1;
    r->log.persisted = last;
    /* Pitfall #15: commit never above what survived on disk, never below the
     * snapshot. Entries after the snapshot are re-applied from it. */
    r->log.commit = rs->commit < last ? rs->commit : last;
    if (r->log.commit < ai)
        r->log.commit = ai;
    r->log.applied = ai;
    r->prev_hs.term = rs->term;
    r->prev_hs.vote = rs->vote;
    r->prev_hs.commit = rs->commit;
    r->state = RAFT_FOLLOWER;
    /* Pitfall #27: a restarted voter may have acknowledged the heartbeat a
     * leader's lease rests on; it forgot that, so it refuses votes for one
     * election timeout as if it still heard from that leader. */
    r->hold_votes = cfg->lease_reads && cfg->check_quorum && rs->term > 0;
    raft__conf_refresh(r);
    raft__reset_timeout(r);
    return r;
}

void raft_free(struct raft *r)
{
    if (!r)
        return;
    raft__upd_release(r);
    for (size_t i = 0; i < r->n_msgs; i++)
        raft__msg_free(&r->msgs[i]);
    cn_free(r->msgs);
    prs_clear(r);
    raft__rb_clear(r);
    raft__log_free(&r->log);
    cn_free(r->preads);
    cn_free(r->reads);
    cn_free(r);
}

/* ---- input -------------------------------------------------------------------- */

static bool msg_valid(const struct raft *r, const struct raft_msg *m)
{
    if (!m || m->to != r->cfg.id || m->from == RAFT_NONE || m->from == r->cfg.id)
        return false;
    if (m->type < RAFT_MSG_APPEND || m->type >= RAFT_MSG__COUNT || m->term == 0)
        return false;
    if (m->n_entries && (!m->entries || m->type != RAFT_MSG_APPEND))
        return false;
    for (size_t i = 0; i < m->n_entries; i++)
        if (m->entries[i].data.len && !m->entries[i].data.base)
            return false;
    if (m->snap_data.len && !m->snap_data.base)
        return false;
    return true;
}

static bool from_leader_type(enum raft_msg_type t)
{
    return t == RAFT_MSG_APPEND || t == RAFT_MSG_HEARTBEAT || t == RAFT_MSG_SNAPSHOT;
}

int raft_step(struct raft *r, const struct raft_msg *m)
{
    if (!msg_valid(r, m))
        return 0;

    /* Pitfall #2 (Figure 2, rules for all servers): a higher term in any
     * message, request or response, makes us a follower in that term. */
    if (m->term > r->term) {
        if (m->type == RAFT_MSG_VOTE || m->type == RAFT_MSG_PREVOTE) {
            bool force = m->type == RAFT_MSG_VOTE && m->context == RAFT_CTX_TRANSFER;
            /* Pitfall #4 (thesis §4.2.3): while we heard from a live leader
             * within the minimum election timeout, ignore the request
             * entirely, unless it is a leadership transfer (#28). */
            if (!force && (raft__in_lease(r) || r->hold_votes))
                return 0;
        }
        if (m->type == RAFT_MSG_PREVOTE) {
            /* Pitfall #5: a pre-vote never changes the receiver's term. */
        } else if (m->type == RAFT_MSG_PREVOTE_RESP && !m->reject) {
            /* A granted pre-vote carries the request's term, not a newer
             * one anybody is in (#2's exception). */
        } else {
            /* Figure 2: only a leader's message or a granted vote restarts
             * the election timer. A vote request we may well reject must
             * not, or candidates with stale logs keep resetting the one
             * node that could win (etcd resets here; the paper does not). */
            unsigned elapsed = r->election_elapsed;
            bool was_follower = r->state == RAFT_FOLLOWER;
            raft__become_follower(r, m->term, from_leader_type(m->type) ? m->from : RAFT_NONE);
            if (m->type == RAFT_MSG_VOTE && was_follower)
                r->election_elapsed = elapsed;
        }
    } else if (m->term < r->term) {
        if (from_leader_type(m->type)) {
            /* Pitfall #6: tell a stale leader our term so it steps down; a
             * node whose term grew in a partition can rejoin this way. */
            struct raft_msg resp = {.type = RAFT_MSG_APPEND_RESP, .to = m->from, .reject = true};
            raft__send(r, &resp);
        } else if (m->type == RAFT_MSG_PREVOTE || m->type == RAFT_MSG_VOTE) {
            /* Pitfall #5: answer a lower-term pre-vote with a rejection that
             * carries our term; never drop it silently. */
            struct raft_msg resp = {.type = m->type == RAFT_MSG_PREVOTE ? RAFT_MSG_PREVOTE_RESP
                                                                        : RAFT_MSG_VOTE_RESP,
                                    .to = m->from,
                                    .reject = true};
            raft__send(r, &resp);
        }
        return 0; /* any other stale message: ignore (#2: replies must match) */
    }

    switch (m->type) {
    case RAFT_MSG_VOTE:
    case RAFT_MSG_PREVOTE:
        raft__handle_vote(r, m);
        return 0;
    case RAFT_MSG_VOTE_RESP:
    case RAFT_MSG_PREVOTE_RESP:
        raft__handle_vote_resp(r, m);
        return 0;
    default:
        break;
    }

    switch (r->state) {
    case RAFT_LEADER:
        if (m->type == RAFT_MSG_APPEND_RESP)
            raft__handle_append_resp(r, m);
        else if (m->type == RAFT_MSG_HEARTBEAT_RESP)
            raft__handle_heartbeat_resp(r, m);
        else if (from_leader_type(m->type)) {
            /* Election Safety (Figure 3): at most one leader per term. Only
             * a peer outside the fault model (one that lost its durable
             * vote) can cause this in production, where it is logged and
             * the message dropped; in our own tests and the simulator every
             * peer is cairn's core, so it is our bug. */
            raft__logf(r, CN_LOG_ERROR, "two leaders in one term: %llu and us",
                       (unsigned long long)m->from);
            CN_ASSERT(0 && "two leaders in one term");
        }
        return 0;
    case RAFT_PRE_CANDIDATE:
    case RAFT_CANDIDATE:
        if (!from_leader_type(m->type))
            return 0;
        /* A leader exists in our term: §5.2, return to follower. */
        raft__become_follower(r, r->term, m->from);
        break;
    case RAFT_FOLLOWER:
        break;
    }
    switch (m->type) {
    case RAFT_MSG_APPEND:
        raft__handle_append(r, m);
        break;
    case RAFT_MSG_HEARTBEAT:
        raft__handle_heartbeat(r, m);
        break;
    case RAFT_MSG_SNAPSHOT:
        raft__handle_snapshot(r, m);
        break;
    case RAFT_MSG_TIMEOUT_NOW:
        raft__handle_timeout_now(r, m);
        break;
    default:
        break;
    }
    return r->step_err ? (r->step_err = 0, CN_ENOMEM) : 0;
}

void raft_tick(struct raft *r)
{
    r->ticks++;
    /* A read-back the shell never answered is asked again. */
    if (r->fetch_out && r->ticks - r->fetch_tick > 4 * (uint64_t)r->cfg.election_ticks)
        r->fetch_out = false;
    if (r->state == RAFT_LEADER) {
        r->ticks_since_leader = 0;
        raft__tick_leader(r);
    } else {
        r->ticks_since_leader++;
        raft__tick_election(r);
    }
}

int raft_propose(struct raft *r, const void *data, size_t len, uint64_t *index, uint64_t *term)
{
    /* Pitfall #28: proposals refused while a transfer is in progress. */
    if (r->state != RAFT_LEADER || r->transferee != RAFT_NONE)
        return CN_EAGAIN;
    if (len && !data)
        return CN_EINVAL;
    uint64_t idx;
    int rc = raft__append_local(r, RAFT_ENTRY_NORMAL, data, len, &idx);
    if (rc != 0)
        return rc;
    if (index)
        *index = idx;
    if (term)
        *term = r->term;
    return 0;
}

void raft_report_unreachable(struct raft *r, uint64_t id)
{
    struct raft_prog *p = r->state == RAFT_LEADER ? raft__prog_get(r, id) : NULL;
    if (p && p->state == RAFT_PR_REPLICATE)
        raft__prog_become_probe(p);
}

void raft_report_snapshot(struct raft *r, uint64_t id, bool ok)
{
    struct raft_prog *p = r->state == RAFT_LEADER ? raft__prog_get(r, id) : NULL;
    if (!p || p->state != RAFT_PR_SNAPSHOT)
        return;
    if (!ok)
        p->pending_snapshot = 0;
    /* Pitfall #19: leave Snapshot either way; wait for the next heartbeat
     * reply before probing (the install may still be in progress). */
    raft__prog_become_probe(p);
    p->probe_sent = true;
}

void raft_persisted(struct raft *r, uint64_t index, uint64_t term)
{
    uint64_t before = r->log.persisted;
    if (!raft__log_persisted(&r->log, index, term))
        return;
    CN_ASSERT(r->log.persisted > before && r->log.persisted <= raft__log_last(&r->log));
    (void)before;
    raft__release_ack(r);
    /* Pitfall #12: the leader's own match is its durable index; a single
     * voter commits here and nowhere else (etcd#14370). */
    if (r->state == RAFT_LEADER && raft__maybe_commit(r))
        raft__bcast_append(r);
    raft__evict(r);
}

void raft__evict(struct raft *r)
{
    struct raft_log *l = &r->log;
    uint64_t to = raft__log_evict_point(l, r->cfg.log_window_entries, r->cfg.log_window_bytes);
    if (to <= l->base)
        return;
    /* base_conf is the configuration as of base: the last CONF entry that
     * leaves the window becomes it (pitfall #17, as for compaction). */
    struct raft_conf c;
    bool have = false;
    for (uint64_t i = to; i > l->base && !have; i--)
        have = conf_from_entry(raft__log_get(l, i), &c);
    if (raft__log_evict(l, to) != 0)
        return; /* out of memory: the window stays larger, nothing lost */
    if (have)
        r->base_conf = c;
}

int raft_compact(struct raft *r, uint64_t index, uint64_t keep)
{
    if (index > r->log.applied)
        return CN_EINVAL;
    uint64_t target = index > keep ? index - keep : 0;
    if (r->cfg.compact_keep_bytes) {
        /* ...and no more of them than compact_keep_bytes of payload: a
         * follower further behind gets the snapshot (streamed from the
         * file by the shell, cheap), not the memory of a long tail. */
        uint64_t bytes = 0, i = index;
        while (i > target && i > r->log.snap_index) {
            /* Evicted entries cost no memory: only the window counts. */
            const struct raft_entry *e = raft__log_get(&r->log, i);
            bytes += e ? e->data.len : 0;
            if (bytes > r->cfg.compact_keep_bytes)
                break;
            i--;
        }
        if (i > target)
            target = i;
    }
    /* Pitfall #19: never compact away the entries right after a snapshot
     * still being sent; the follower would need another one, forever. */
    for (size_t i = 0; i < r->n_prs; i++)
        if (r->prs[i].state == RAFT_PR_SNAPSHOT && r->prs[i].pending_snapshot < target)
            target = r->prs[i].pending_snapshot;
    if (target <= r->log.snap_index)
        return 0;
    /* Pitfall #17: the configuration as of the new snapshot point survives
     * the compaction of its CONF entry (base_conf already is the one as of
     * base when the point is inside the evicted part). */
    uint64_t ci;
    if (target > r->log.base)
        conf_at(r, target, &r->base_conf, &ci);
    raft__log_compact(&r->log, target);
    raft__rb_clear(r);
    return 0;
}

int raft_set_snapshot(struct raft *r, const struct raft_snapshot_meta *meta)
{
    if (!meta || meta->index == 0 || meta->conf.n > RAFT_MAX_SERVERS)
        return CN_EINVAL;
    r->snap = *meta;
    r->have_snap = true;
    return 0;
}

/* ---- inspection ---------------------------------------------------------------- */

void raft_get_status(const struct raft *r, struct raft_status *st)
{
    memset(st, 0, sizeof(*st));
    st->id = r->cfg.id;
    st->state = r->state;
    st->term = r->term;
    st->vote = r->vote;
    st->leader = r->leader;
    st->commit = r->log.commit;
    st->applied = r->log.applied;
    st->last_index = raft__log_last(&r->log);
    st->last_term = raft__log_last_term(&r->log);
    st->first_index = raft__log_first(&r->log);
    st->snap_index = r->log.snap_index;
    st->snap_term = r->log.snap_term;
    st->window_first = r->log.base + 1;
    st->window_bytes = r->log.bytes;
    st->ticks_since_leader = r->ticks_since_leader;
    st->lease_valid = raft__lease_valid(r);
    st->transferee = r->transferee;
    st->conf = r->conf;
}

size_t raft_get_progress(const struct raft *r, struct raft_progress *out, size_t cap)
{
    if (r->state != RAFT_LEADER)
        return 0;
    size_t n = 0;
    for (size_t i = 0; i < r->n_prs && n < cap; i++, n++) {
        out[n].id = r->prs[i].id;
        out[n].match = r->prs[i].match;
        out[n].next = r->prs[i].next;
        out[n].state = r->prs[i].state;
        out[n].recent_active = r->prs[i].recent_active;
    }
    return n;
}
