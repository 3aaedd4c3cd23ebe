/* server/seq.c: the sequencing rules of update handling (see seq.h). */
#include "server/seq.h"

#include <string.h>

void srv_seq_init(struct srv_seq *q, const struct raft_hard_state *durable)
{
    memset(q, 0, sizeof(*q));
    if (durable)
        q->hs = *durable;
}

void srv_seq_update(const struct srv_seq *q, const struct raft_update *u, uint64_t applied,
                    struct srv_seq_plan *p)
{
    memset(p, 0, sizeof(*p));
    struct srv_seq_job *j = &p->job;
    /* The hard state only when term or vote changed. Pitfalls #14/#15: it is
     * written before the job's entries, so the commit it records must not
     * name entries that are not durable yet (after a crash, stale entries at
     * those indexes would be taken as committed). What is applied is durable
     * (the core hands out committed entries only once persisted) and
     * committed, unless it is a snapshot still being written: then the last
     * commit recorded, which named only durable entries, is the bound. */
    if (u->hs_changed && (u->hs.term != q->hs.term || u->hs.vote != q->hs.vote)) {
        j->has_hs = true;
        j->hs = u->hs;
        if (j->hs.commit > applied)
            j->hs.commit = applied;
        if ((u->snapshot || q->n_snap_jobs) && j->hs.commit > q->hs.commit)
            j->hs.commit = q->hs.commit;
    }
    if (u->snapshot) {
        j->snap = true;
        j->ack = true;
        j->ack_index = u->snapshot->index;
        j->ack_term = u->snapshot->term;
    }
    if (u->n_entries) {
        j->ack = true;
        j->ack_index = u->entries[u->n_entries - 1].index;
        j->ack_term = u->entries[u->n_entries - 1].term;
    }
    p->write = j->has_hs || u->snapshot || u->n_entries;
    /* A leader's messages at once, unless a term/vote is still being
     * written (pitfall #1); others after their write or the newest one. */
    bool hold = p->write || q->tail;
    bool hs_pending = q->n_hs_jobs > 0 || j->has_hs;
    p->now = (u->msgs_before_persist && !hs_pending) || !hold;
}

void srv_seq_push(struct srv_seq *q, struct srv_seq_job *j)
{
    j->next = NULL;
    j->msgs = j->msgs_tail = NULL;
    if (q->tail)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
    q->n_jobs++;
    if (j->has_hs) {
        q->n_hs_jobs++;
        q->hs = j->hs;
    }
    if (j->snap)
        q->n_snap_jobs++;
}

void srv_seq_hold(struct srv_seq *q, struct srv_seq_msg *m)
{
    struct srv_seq_job *j = q->tail;
    m->next = NULL;
    if (j->msgs_tail)
        j->msgs_tail->next = m;
    else
        j->msgs = m;
    j->msgs_tail = m;
}

bool srv_seq_complete(struct srv_seq *q, struct srv_seq_job *j, bool ok, struct srv_seq_done *d)
{
    memset(d, 0, sizeof(*d));
    if (!j || j != q->head)
        return false;
    q->head = j->next;
    if (!q->head)
        q->tail = NULL;
    q->n_jobs--;
    if (j->has_hs)
        q->n_hs_jobs--;
    if (j->snap)
        q->n_snap_jobs--;
    j->next = NULL;
    d->persisted = ok && j->ack;
    d->index = j->ack_index;
    d->term = j->ack_term;
    d->msgs = j->msgs;
    d->send = ok;
    j->msgs = j->msgs_tail = NULL;
    return true;
}
