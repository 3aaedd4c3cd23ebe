/* server/seq.h: the sequencing rules of the server's update handling, pure
 * (no libuv, no threads, no I/O, no clock; it links base and raft only), so
 * that the server (server/ready.c and writer.c, with its writer thread) and
 * the simulator (tests/sim/sim.c, with its fake disk) run the same code.
 *
 * For each raft_update the unit decides:
 *  - what must be written: the update's snapshot and entries, and the hard
 *    state only when term or vote changed (a commit-only change costs three
 *    syncs and buys nothing); the commit recorded with it is clamped to the
 *    applied index, because the writer writes the hard state before the
 *    job's entries and a recorded commit must never name entries that may
 *    not be durable (pitfalls #14/#15). While a snapshot is being written
 *    (this update's or an earlier one's), the applied index is that
 *    snapshot's, not durable yet either: the commit then stays at most the
 *    one recorded last;
 *  - when the update's messages may leave: a leader's at once (the core
 *    counts the leader itself only once raft_persisted says so), except while
 *    a hard state (term/vote) is still being written, its own election's
 *    included: revealing the term before the vote is durable could let a
 *    restart vote again in it (pitfall #1). Everyone else's wait for the
 *    update's own job, or for the newest job outstanding (jobs complete in
 *    order, so that is when everything before them is durable too);
 *  - what a finished job acknowledges: raft_persisted(last entry) or, with no
 *    entries, (snapshot index, term); jobs complete in the order pushed.
 *
 * The caller owns its job and message records and embeds a struct
 * srv_seq_job / srv_seq_msg in each (intrusive lists: the unit allocates
 * nothing). A held message belongs to the unit's job until srv_seq_complete
 * hands it back.
 *
 * Per update, in this order (after the update's snapshot and committed
 * entries were applied):
 *     struct srv_seq_plan p;
 *     srv_seq_update(q, u, applied, &p);
 *     if (p.write) { job = <the caller's copy of u's snapshot and entries>;
 *                    job->sq = p.job; srv_seq_push(q, &job->sq); }
 *     for each message m: p.now ? send(m) : srv_seq_hold(q, &m->link);
 *     (then hand the job to the disk)
 * When the oldest job is written:
 *     struct srv_seq_done d;
 *     srv_seq_complete(q, &job->sq, ok, &d);
 *     if (d.persisted) raft_persisted(r, d.index, d.term);
 *     for each m in d.msgs: if (d.send) send(m); free(m); */
#ifndef CN_SERVER_SEQ_H
#define CN_SERVER_SEQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

struct srv_seq_msg { /* embedded in the caller's message */
    struct srv_seq_msg *next;
};

struct srv_seq_job {          /* embedded in the caller's write job */
    struct srv_seq_job *next; /* the unit's FIFO */
    bool has_hs;              /* write hs before the job's snapshot and entries */
    struct raft_hard_state hs;
    bool snap; /* carries a snapshot */
    bool ack;  /* raft_persisted(ack_index, ack_term) once durable */
    uint64_t ack_index, ack_term;
    struct srv_seq_msg *msgs, *msgs_tail; /* held until the job is durable */
};

struct srv_seq {
    struct raft_hard_state hs;       /* the newest hard state asked to be written */
    struct srv_seq_job *head, *tail; /* jobs pushed and not completed, oldest first */
    size_t n_jobs, n_hs_jobs;        /* of which carry a hard state */
    size_t n_snap_jobs;              /* of which carry a snapshot */
};

struct srv_seq_plan {
    bool write;             /* the update needs a job: push one described by `job` */
    struct srv_seq_job job; /* has_hs/hs (commit clamped), snap, ack; no messages */
    bool now;               /* the update's messages leave now; else hold them */
};

struct srv_seq_done {
    bool persisted; /* call raft_persisted(index, term) */
    uint64_t index, term;
    struct srv_seq_msg *msgs; /* the job's held messages, in order; the caller's again */
    bool send;                /* send them (false: the write failed; only free them) */
};

/* Start with nothing outstanding and `durable` (may be NULL: zero) as the
 * hard state on disk. Also after a crash, once the caller dropped its jobs. */
void srv_seq_init(struct srv_seq *q, const struct raft_hard_state *durable);

/* Plan update u. applied: the state machine's applied index once u's
 * snapshot and committed entries are applied (call after applying them). */
void srv_seq_update(const struct srv_seq *q, const struct raft_update *u, uint64_t applied,
                    struct srv_seq_plan *p);

/* Queue job j (its has_hs/hs/snap/ack set, e.g. from a plan; any other job
 * the caller writes, such as a bootstrap, goes through here too). */
void srv_seq_push(struct srv_seq *q, struct srv_seq_job *j);

/* Hold m until the newest outstanding job is durable. There must be one
 * (a plan says `now` otherwise). */
void srv_seq_hold(struct srv_seq *q, struct srv_seq_msg *m);

/* Job j, the oldest outstanding (jobs complete in the order pushed), was
 * written (ok) or failed. j leaves the unit; its messages go to d. false
 * (and nothing changes, d is zeroed) when j is not the oldest job. */
bool srv_seq_complete(struct srv_seq *q, struct srv_seq_job *j, bool ok, struct srv_seq_done *d);

#endif
