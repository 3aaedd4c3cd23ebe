/* server/reqs.h: the rules of a write's life between followers and the
 * leader, pure (no libuv, no struct srv, no I/O, no clock: times come in as
 * numbers; it links base and raft only, with fwd_codec.c), so that the
 * server (server/requests.c, forward.c and the apply path of ready.c) and the
 * simulator (tests/sim/sim.c, with its fake network) run the same code.
 *
 * Exact re-forwarding (docs/architecture.md, "Followers, forwarding and
 * reads"): a write's entry carries an envelope (origin, env_id) and
 * completes the write on the origin whoever proposed it. Each attempt is
 * made in one term T: proposed by the origin as the leader of T, or
 * forwarded with T to the leader of T, which proposes only while it leads T.
 * Terms never decrease along a log, so once the origin applied an entry of a
 * term > T, every committed entry of term T is applied there and no other
 * ever will be (Leader Completeness): an attempt not completed by then is
 * dead, and only then is a new one made, in the current term. Within one
 * term a forward without an answer is sent again (the same attempt); the
 * leader answers a repeat from its table (struct srv_req_table) instead of
 * proposing again.
 *
 * The caller keeps its requests in its own list (a struct srv_req embedded
 * in each), does the sending and the proposing, and calls:
 *   dispatch (a leader is known, on every tick and role change):
 *     leader:   if srv_req_may_attempt: raft_propose -> srv_req_proposed
 *     follower: if srv_req_may_forward(r, applied_term, term): send a
 *               PROPOSE (req_id = a fresh attempt id, term, floor =
 *               srv_req_floor over the open forwards) -> srv_req_forwarded
 *   a PROPOSE answer, matched by attempt id:   srv_req_answer
 *   an applied entry:  srv_req_entry (is it ours? which env_id?), then
 *                      srv_req_term_passed on each request when its term is
 *                      later than the last applied one
 *   a leader's snapshot installed: srv_req_snapshot_unknown
 *   every tick: srv_req_expiry, srv_req_resend_due
 * The leader, for a forwarded PROPOSE: srv_req_table_check, then
 * raft_propose and srv_req_table_add. */
#ifndef CN_SERVER_REQS_H
#define CN_SERVER_REQS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "server/fwd_codec.h"

enum srv_req_phase {
    SRV_REQ_HELD,    /* no attempt alive: wait for a leader (and applied_term > term) */
    SRV_REQ_FWD,     /* forwarded in `term` as attempt `seq`, no answer yet */
    SRV_REQ_PENDING, /* proposed in `term` at `index` (by the origin or the leader) */
};

struct srv_req {
    enum srv_req_phase phase;
    uint64_t env_id;    /* in the envelope: fixed for the request's life */
    uint64_t term;      /* the term of the last attempt; 0: none made */
    uint64_t index;     /* PENDING */
    uint64_t seq;       /* FWD: the attempt's id (the PROPOSE's req_id) */
    uint64_t resend_at; /* FWD: send the attempt again if no answer by then */
    bool refused;       /* FWD: not the leader of `term` any more: wait */
    uint64_t deadline;  /* the caller's start + the hold time (the caller's unit) */
};

/* A new request (HELD, no attempt) for envelope id env_id. */
void srv_req_init(struct srv_req *r, uint64_t env_id, uint64_t deadline);

/* An attempt may be made: r is held and none was made, or the last one is
 * dead (an entry of a later term was applied: applied_term > term). A new
 * leader alone proves nothing: the old attempt may still commit through it. */
bool srv_req_may_attempt(const struct srv_req *r, uint64_t applied_term);
/* A follower may forward a new attempt to the leader it knows in `term`. */
bool srv_req_may_forward(const struct srv_req *r, uint64_t applied_term, uint64_t term);
/* The origin, leader, proposed it at (index, term). */
void srv_req_proposed(struct srv_req *r, uint64_t index, uint64_t term);
/* A new attempt was sent: id seq, in term; no answer by resend_at: again. */
void srv_req_forwarded(struct srv_req *r, uint64_t term, uint64_t seq, uint64_t resend_at);
/* The smallest attempt id still open among reqs[0..n) (FWD), `id` included:
 * the PROPOSE's floor. */
uint64_t srv_req_floor(const struct srv_req *const *reqs, size_t n, uint64_t id);

/* The leader's answer to attempt r->seq (the caller matched it, FWD only).
 * 0: r goes on (PENDING, or waits, or asks again at *retry_at = now +
 * retry); else the error to finish it with (nothing was proposed). */
int srv_req_answer(struct srv_req *r, const struct srv_fwd_resp *m, uint64_t now, uint64_t retry);

/* An entry was applied: is it a request of `self`? 1: yes, *env_id set; 0:
 * someone else's or no envelope; the state command in *cmd, *len either way
 * (a malformed envelope: the whole entry, which the state machine refuses
 * everywhere alike). */
int srv_req_entry(const void *data, size_t len, uint64_t self, uint64_t *env_id, const void **cmd,
                  size_t *cmd_len);
/* An entry of term `term`, later than every entry applied before, was
 * applied: r's attempt, if of an earlier term and not completed, is dead
 * (r is HELD again). Returns whether it was. */
bool srv_req_term_passed(struct srv_req *r, uint64_t term);
/* A leader's snapshot up to (index, term) replaced the state. */
enum srv_req_snap {
    SRV_REQ_SNAP_KEEP,    /* r's attempt is untouched (none, or after the snapshot) */
    SRV_REQ_SNAP_UNKNOWN, /* its entry may be inside (never seen here): outcome unknown */
    SRV_REQ_SNAP_DEAD,    /* proposed after the snapshot's index in an earlier term: that
                           * entry is not the committed one; r is HELD again */
};
enum srv_req_snap srv_req_snapshot(struct srv_req *r, uint64_t index, uint64_t term);

enum srv_req_expiry {
    SRV_REQ_LIVE,      /* not yet */
    SRV_REQ_NO_LEADER, /* past the deadline, nothing of it can commit ("No cluster leader") */
    SRV_REQ_UNKNOWN,   /* past the deadline, an attempt may still commit */
};
enum srv_req_expiry srv_req_expiry(const struct srv_req *r, uint64_t now, uint64_t applied_term);
/* A forward without an answer is due to be sent again (the same attempt):
 * the follower still knows the same leader in r's term (cur_term). The
 * caller sends it and sets r->resend_at. */
bool srv_req_resend_due(const struct srv_req *r, uint64_t now, uint64_t cur_term);

/* ---- reads ------------------------------------------------------------------
 * What the server knows when a read comes (?stale, default, ?consistent).
 * The same values as enum srv_read_mode (server.h). */
enum srv_req_read_mode { SRV_REQ_READ_DEFAULT = 0, SRV_REQ_READ_STALE, SRV_REQ_READ_CONSISTENT };
struct srv_req_read_view {
    bool leader, lease_valid;       /* the core's role; its CheckQuorum lease holds */
    uint64_t term, commit;          /* the core's */
    uint64_t last_index, last_term; /* the core's log */
    uint64_t applied, applied_term; /* the state machine's */
    size_t voters;                  /* in the configuration */
};
/* May the read be answered at once from local state? ?stale always; the
 * default by a leader whose lease holds and whose last applied entry is of
 * its term (its commit index is then complete) with everything committed
 * applied, or by a sole voter whose term's entries are all applied;
 * ?consistent never (always a quorum round). Otherwise: a read index from
 * the core (the leader's own, or asked of the leader by a follower), then
 * wait until applied reaches it. */
bool srv_req_read_now(enum srv_req_read_mode mode, const struct srv_req_read_view *v);

/* ---- the leader's table of forwarded proposals ---------------------------
 * For its current term only: (origin, env_id) -> index, so that a follower
 * that sends an attempt again (its answer or request was lost) gets the same
 * answer instead of a second entry. An origin's entries go once its floor
 * passed their attempt id (it will never send them again); a full table
 * refuses new forwards (BUSY, nothing done) rather than forget.
 *
 * The network may deliver a copy of an attempt late (a resend overtaken by
 * a later attempt, a frame of a process that restarted since): a copy below
 * its process's floor is dropped, never proposed: its entry may have been
 * forgotten already (found by the simulator, which reorders and duplicates
 * frames). Records are per process (origin, epoch), never reset by another
 * epoch, for the same reason. */
#define SRV_REQ_TABLE_MAX 4096
#define SRV_REQ_TABLE_BUCKETS 1024
#define SRV_REQ_TABLE_ORIGINS 32

struct srv_req_seen {
    struct srv_req_seen *hnext; /* bucket chain; free list */
    struct srv_req_seen *onext; /* the origin's list, in arrival order */
    uint64_t origin, env_id, seq, index;
};
struct srv_req_origin { /* one process (epoch) of one origin */
    uint64_t id, epoch, floor;
    struct srv_req_seen *head, *tail;
};
struct srv_req_table {
    uint64_t term;
    bool init;
    size_t n, n_origins;
    size_t cap; /* entries usable (<= SRV_REQ_TABLE_MAX; 0 at init: all) */
    struct srv_req_seen *free;
    struct srv_req_seen *hash[SRV_REQ_TABLE_BUCKETS];
    struct srv_req_origin origin[SRV_REQ_TABLE_ORIGINS];
    struct srv_req_seen pool[SRV_REQ_TABLE_MAX];
};

enum srv_req_verdict {
    SRV_REQ_PROPOSE,    /* propose it, then srv_req_table_add */
    SRV_REQ_DUP,        /* proposed already in this term: answer OK (*index, term) */
    SRV_REQ_NOT_LEADER, /* not the leader of the term asked: answer NOT_LEADER */
    SRV_REQ_BUSY,       /* the table is full: answer BUSY, nothing done */
    SRV_REQ_BAD,        /* no envelope of `from`: answer PROTO */
    SRV_REQ_STALE,      /* a late copy of an attempt its sender closed (below its
                         * floor): it may have been proposed and forgotten already, and
                         * nobody waits for it: drop it, no answer */
};
/* The leader-side decision for PROPOSE m from `from` (the table zeroed
 * before first use). leading: this server is the leader of term `term`. */
enum srv_req_verdict srv_req_table_check(struct srv_req_table *t, bool leading, uint64_t term,
                                         uint64_t from, const struct srv_fwd_req *m,
                                         uint64_t *index);
/* After SRV_REQ_PROPOSE and a successful raft_propose at index. */
void srv_req_table_add(struct srv_req_table *t, uint64_t from, const struct srv_fwd_req *m,
                       uint64_t index);

#endif
