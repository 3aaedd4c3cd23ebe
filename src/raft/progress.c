/* raft/progress.c: what the leader knows about one follower — match/next,
 * the Probe / Replicate / Snapshot flow-control states and the inflight
 * window of pipelined APPENDs (thesis §10.2.2, pitfalls #10, #11, #19). */
#include <string.h>

#include "base/assert.h"
#include "base/err.h"
#include "base/mem.h"
#include "raft/raft_int.h"

int raft__prog_init(struct raft_prog *p, uint64_t id, uint64_t next, size_t max_msgs,
                    size_t max_bytes)
{
    memset(p, 0, sizeof(*p));
    p->id = id;
    p->next = next ? next : 1;
    p->state = RAFT_PR_PROBE;
    p->in.max_msgs = max_msgs ? max_msgs : 1;
    p->in.max_bytes = max_bytes;
    p->in.idx = cn_malloc(p->in.max_msgs * sizeof(*p->in.idx));
    p->in.size = cn_malloc(p->in.max_msgs * sizeof(*p->in.size));
    if (!p->in.idx || !p->in.size) {
        raft__prog_free(p);
        return CN_ENOMEM;
    }
    return 0;
}

void raft__prog_free(struct raft_prog *p)
{
    cn_free(p->in.idx);
    cn_free(p->in.size);
    p->in.idx = NULL;
    p->in.size = NULL;
}

static void reset_state(struct raft_prog *p, int state)
{
    p->probe_sent = false;
    p->pending_snapshot = 0;
    p->state = state;
    raft__infl_reset(&p->in);
}

void raft__prog_become_probe(struct raft_prog *p)
{
    /* Leaving Snapshot: resume after the snapshot if it was sent (pitfall #19:
     * the follower may have installed it without us hearing). */
    if (p->state == RAFT_PR_SNAPSHOT) {
        uint64_t ps = p->pending_snapshot;
        reset_state(p, RAFT_PR_PROBE);
        p->next = (p->match + 1 > ps + 1) ? p->match + 1 : ps + 1;
    } else {
        reset_state(p, RAFT_PR_PROBE);
        p->next = p->match + 1;
    }
    CN_ASSERT(p->match < p->next);
}

void raft__prog_become_replicate(struct raft_prog *p)
{
    reset_state(p, RAFT_PR_REPLICATE);
    p->next = p->match + 1;
}

void raft__prog_become_snapshot(struct raft_prog *p, uint64_t snap_index)
{
    reset_state(p, RAFT_PR_SNAPSHOT);
    p->pending_snapshot = snap_index;
    p->snap_elapsed = 0;
}

bool raft__prog_maybe_update(struct raft_prog *p, uint64_t n)
{
    bool moved = false;
    /* Pitfall #10: match never moves backwards; duplicated or reordered acks
     * only ever raise it. */
    if (n > p->match) {
        p->match = n;
        p->rejects_at_match = 0;
        moved = true;
        p->probe_sent = false;
    }
    if (p->next < n + 1)
        p->next = n + 1;
    CN_ASSERT(p->match < p->next); /* pitfall #10 */
    return moved;
}

bool raft__prog_maybe_decr(struct raft_prog *p, uint64_t rejected, uint64_t match_hint)
{
    if (p->state == RAFT_PR_REPLICATE) {
        /* Pitfall #10: a rejection at or below match is stale. */
        if (rejected <= p->match)
            return false;
        p->next = p->match + 1;
        return true;
    }
    /* Probe: only the rejection of the probe we sent (next-1) counts, and,
     * as in Replicate, never one at or below match (pitfall #10: both tests
     * make a rejection stale). After become_probe, next-1 == match, so the
     * second test matters: within Raft's fault model such a rejection is a
     * late duplicate, and acting on it cannot lower next (next > match
     * always) but used to resend the same probe at once. A follower that
     * lost entries it had acknowledged (outside the model, §3.8; pitfall
     * #16) answers that probe the same way every time, so leader and
     * follower exchanged APPEND/reject without end at network speed. Now the
     * probe is retried once per heartbeat interval instead; such a follower
     * cannot be repaired under its old ID (its match is part of the proof of
     * every commit) and must be removed and rejoin as a new server. */
    if (p->next == 0 || p->next - 1 != rejected || rejected <= p->match)
        return false;
    uint64_t n = rejected < match_hint + 1 ? rejected : match_hint + 1;
    if (n < p->match + 1)
        n = p->match + 1;
    CN_ASSERT(n >= 1); /* n > match >= 0 */
    p->next = n;
    p->probe_sent = false;
    CN_ASSERT(p->match < p->next);
    return true;
}

void raft__prog_sent(struct raft_prog *p, uint64_t last, size_t n, size_t bytes)
{
    if (p->state == RAFT_PR_REPLICATE) {
        if (n > 0) {
            /* Optimistic: assume it arrives; the window bounds how far. The
             * batch starts at next, so next only moves forward here. */
            CN_ASSERT(last >= p->next && last - n + 1 == p->next);
            p->next = last + 1;
            raft__infl_add(&p->in, last, bytes);
        }
    } else if (p->state == RAFT_PR_PROBE) {
        /* Pitfall #11: one probe per heartbeat interval until a reply. */
        p->probe_sent = true;
    }
}

bool raft__prog_paused(const struct raft_prog *p)
{
    switch (p->state) {
    case RAFT_PR_PROBE:
        return p->probe_sent;
    case RAFT_PR_REPLICATE:
        return raft__infl_full(&p->in);
    default:
        return true; /* pitfall #19: no appends while a snapshot is pending */
    }
}

bool raft__infl_full(const struct raft_inflights *in)
{
    return in->count >= in->max_msgs || (in->max_bytes && in->bytes >= in->max_bytes);
}

void raft__infl_add(struct raft_inflights *in, uint64_t idx, size_t bytes)
{
    /* Callers check full first: never overrun the ring. Pipelined APPENDs
     * cover increasing indexes, so the ring stays sorted (free_le relies on
     * it). */
    CN_ASSERT(in->count < in->max_msgs);
    if (in->count >= in->max_msgs)
        return;
    CN_ASSERT(in->count == 0 || idx > in->idx[(in->start + in->count - 1) % in->max_msgs]);
    size_t slot = (in->start + in->count) % in->max_msgs;
    in->idx[slot] = idx;
    in->size[slot] = bytes;
    in->count++;
    in->bytes += bytes;
}

void raft__infl_free_le(struct raft_inflights *in, uint64_t idx)
{
    while (in->count > 0 && in->idx[in->start] <= idx) {
        CN_ASSERT(in->bytes >= in->size[in->start]);
        in->bytes -= in->size[in->start];
        in->start = (in->start + 1) % in->max_msgs;
        in->count--;
    }
    if (in->count == 0)
        in->start = 0;
}

void raft__infl_free_first(struct raft_inflights *in)
{
    if (in->count > 0)
        raft__infl_free_le(in, in->idx[in->start]);
}

void raft__infl_reset(struct raft_inflights *in)
{
    in->start = in->count = in->bytes = 0;
}
