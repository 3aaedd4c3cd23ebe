/* raft/snapshot.c: InstallSnapshot (thesis §5.1, paper Figure 13). The leader
 * sends the snapshot the shell named (raft_set_snapshot) when a follower
 * needs entries it has compacted; the follower keeps a matching suffix and
 * ignores stale snapshots (pitfall #18). The core handles snapshots by
 * (index, term, configuration) only: the bytes stay in the shells' files. */
#include "base/err.h"
#include "base/log.h"
#include "raft/raft_int.h"

void raft__send_snapshot(struct raft *r, struct raft_prog *p)
{
    if (!r->have_snap || r->snap.index < r->log.snap_index) {
        /* Without a snapshot at or past our compaction point the follower
         * cannot be helped; probe again after the next heartbeat reply. */
        raft__logf(r, CN_LOG_WARN, "follower %llu needs a snapshot and none is set",
                   (unsigned long long)p->id);
        p->probe_sent = true;
        return;
    }
    /* By reference: the shell streams the bytes of snapshot (index, term)
     * from its disk and delivers this message once they are on the
     * follower's disk (raft.h, RAFT_MSG_SNAPSHOT). */
    struct raft_msg m = {.type = RAFT_MSG_SNAPSHOT, .to = p->id, .snap = r->snap};
    /* Pitfall #19: no appends to this follower while the snapshot travels. */
    raft__prog_become_snapshot(p, r->snap.index);
    raft__send(r, &m);
}

void raft__handle_snapshot(struct raft *r, const struct raft_msg *m)
{
    raft__heard(r, m->from);
    const struct raft_snapshot_meta *s = &m->snap;
    if (s->index <= r->log.commit) {
        /* Pitfall #18: a stale or retransmitted snapshot changes nothing. */
        raft__ack(r, m->from, r->log.commit);
        return;
    }
    if (s->conf.n > RAFT_MAX_SERVERS)
        return;
    if (raft__log_match(&r->log, s->index, s->term)) {
        /* Pitfall #18 / Figure 13 step 6: we hold the snapshot's last entry,
         * so keep the log after it; the snapshot only tells us it commits. */
        raft__log_commit_to(&r->log, s->index);
        raft__ack(r, m->from, r->log.commit);
        return;
    }
    /* Anything durable of the old log beyond what was committed is not the
     * snapshot's; the ack for s->index waits for raft_persisted(s). */
    uint64_t keep = r->log.persisted < r->log.commit ? r->log.persisted : r->log.commit;
    raft__log_restore(&r->log, s->index, s->term);
    raft__rb_clear(r);
    r->log.persisted = keep;
    r->log.commit = s->index;
    /* Pitfall #17: the configuration comes with the snapshot. */
    r->base_conf = s->conf;
    raft__conf_refresh(r);
    r->inst = *s;
    r->inst_pending = true;
    /* Should we lead later, this is the snapshot to send to followers behind
     * our (now snapshot-based) log; the shell may replace it with a newer one. */
    if (!r->have_snap || r->snap.index < s->index) {
        r->snap = *s;
        r->have_snap = true;
    }
    raft__logf(r, CN_LOG_INFO, "installing snapshot at %llu term %llu",
               (unsigned long long)s->index, (unsigned long long)s->term);
    raft__ack(r, m->from, s->index);
}
