/* raft/raft_int.h: private to src/raft/. The node struct and the small units
 * it is built from (log, progress, quorum, conf), each in its own .c file with
 * its own unit tests (tests/unit/raft/). Nothing here is a contract for other
 * modules: only raft.h is.
 *
 * Memory: entry payloads and snapshot bytes live in reference-counted blobs
 * (raft__buf_*), so the log, outgoing APPENDs and a handed-out update can share
 * one copy and any of them may be dropped first. */
#ifndef CN_RAFT_INT_H
#define CN_RAFT_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "raft/raft.h"

/* ---- blobs (log.c) --------------------------------------------------------- */

/* out->base = a new blob holding a copy of p[0..len) (NULL when len == 0).
 * 0 or CN_ENOMEM (out untouched). */
int raft__buf_dup(struct raft_buf *out, const void *p, size_t len);
void raft__buf_ref(const struct raft_buf *b);
/* Drop one reference; frees the blob at zero; b is cleared. */
void raft__buf_unref(struct raft_buf *b);
/* dst = src sharing the payload (one more reference). */
void raft__entry_share(struct raft_entry *dst, const struct raft_entry *src);
void raft__entries_release(struct raft_entry *e, size_t n);

/* ---- the in-memory log (log.c) ---------------------------------------------- */

/* The log is entries snap_index+1 .. last, contiguous, but only a window of
 * it is in memory: entries base+1 .. last (e[0..n)). Entries snap_index+1 ..
 * base were evicted (durable, applied, and older than the tail kept for
 * followers a little behind): only their terms stay, as runs of equal term
 * (runs[k].first .. runs[k+1].first-1, the last run ending at base); their
 * bytes are read back from the shell's durable log when a follower needs
 * them (raft_update.fetch_lo/hi, raft_fetched). snap_index <= base always.
 * Marks, all indexes:
 *   unstable  first index not yet handed out for persistence (raft_ready);
 *   persisted last index known durable (raft_persisted); may lag snap_index
 *             while an installed snapshot is being written;
 *   commit    known committed; applied = last handed out for apply.
 * base <= min(persisted, applied) once evicted; nothing at or below base is
 * ever truncated (it is committed). */
struct raft_log {
    uint64_t snap_index, snap_term;
    uint64_t base;
    struct raft_run *runs;
    size_t n_runs, cap_runs;
    struct raft_entry *e;
    size_t n, cap;
    size_t bytes; /* payload bytes in e[0..n) */
    uint64_t unstable, persisted, commit, applied;
};

void raft__log_init(struct raft_log *l);
void raft__log_free(struct raft_log *l);
uint64_t raft__log_first(const struct raft_log *l);
uint64_t raft__log_last(const struct raft_log *l);
uint64_t raft__log_last_term(const struct raft_log *l);
/* Term of entry i: 0, CN_ERANGE (compacted away), CN_ENOTFOUND (past last).
 * i == snap_index gives snap_term; i == 0 gives 0. */
int raft__log_term(const struct raft_log *l, uint64_t i, uint64_t *t);
/* Term of i, or 0 when unknown. */
uint64_t raft__log_term0(const struct raft_log *l, uint64_t i);
bool raft__log_match(const struct raft_log *l, uint64_t i, uint64_t t);
/* Entry i or NULL (compacted, evicted / past the end). Borrowed. */
const struct raft_entry *raft__log_get(const struct raft_log *l, uint64_t i);
/* Append n entries whose first index is last+1 (checked: CN_EINVAL). Payloads
 * are copied into blobs (share = false) or shared (share = true: src payloads
 * must be blobs). 0, CN_EINVAL, CN_ENOMEM (log unchanged). */
int raft__log_append(struct raft_log *l, const struct raft_entry *src, size_t n, bool share);
/* Drop entries after `after` (after >= snap_index); pulls unstable/persisted
 * back (pitfall #13). Never called at or below commit. */
void raft__log_truncate(struct raft_log *l, uint64_t after);
/* First index in e[0..n) whose term differs from the log's or that is past
 * the end; 0 if all are present (pitfall #8: only a real conflict). */
uint64_t raft__log_find_conflict(const struct raft_log *l, const struct raft_entry *e, size_t n);
/* Largest i <= index whose term is <= term (or snap_index): fast backtracking. */
uint64_t raft__log_find_conflict_by_term(const struct raft_log *l, uint64_t index, uint64_t term);
/* Follower side of AppendEntries (Figure 2 receiver steps 2-4): returns 1 if
 * (prev_i, prev_t) matches and the entries were merged (*lastnew = prev_i+n),
 * 0 on mismatch, CN_ENOMEM (log unchanged), CN_ECORRUPT when the conflict is
 * at or below commit (the leader is broken; nothing changed). *truncated set
 * when a suffix was dropped. */
int raft__log_maybe_append(struct raft_log *l, uint64_t prev_i, uint64_t prev_t,
                           const struct raft_entry *e, size_t n, uint64_t *lastnew,
                           bool *truncated);
/* §5.4.1: (idx, term) at least as up to date as our last entry. */
bool raft__log_up_to_date(const struct raft_log *l, uint64_t idx, uint64_t term);
/* commit = max(commit, min(i, last)) (pitfall #15: never past the log). */
void raft__log_commit_to(struct raft_log *l, uint64_t i);
/* Forget entries <= i (snap_index < i <= last). */
void raft__log_compact(struct raft_log *l, uint64_t i);
/* Evict window entries <= i from memory (base < i <= min(persisted,
 * applied)), keeping their terms. 0 or CN_ENOMEM (nothing changed). */
int raft__log_evict(struct raft_log *l, uint64_t i);
/* The index up to which the window may be evicted keeping a tail of at most
 * keep_n entries and keep_bytes of payload behind min(persisted, applied)
 * (either 0: no bound of that kind; both 0: evict nothing). <= base when
 * there is nothing to evict. */
uint64_t raft__log_evict_point(const struct raft_log *l, size_t keep_n, size_t keep_bytes);
/* Replace everything by a snapshot at (idx, term): empty log. */
void raft__log_restore(struct raft_log *l, uint64_t idx, uint64_t term);
/* How many entries from lo (base < lo <= last) fit in max_bytes (at least one). */
size_t raft__log_span(const struct raft_log *l, uint64_t lo, size_t max_bytes, size_t *bytes);
/* The durable mark moves to i if (i, t) is in the log and was handed out
 * (pitfall #13). Returns true if it moved. */
bool raft__log_persisted(struct raft_log *l, uint64_t i, uint64_t t);

/* ---- per-follower progress (progress.c) -------------------------------------- */

enum { RAFT_PR_PROBE = 0, RAFT_PR_REPLICATE = 1, RAFT_PR_SNAPSHOT = 2 };

/* Ring of the last index of each pipelined APPEND, with its bytes. */
struct raft_inflights {
    size_t max_msgs, max_bytes; /* max_bytes 0: unlimited */
    size_t start, count, bytes;
    uint64_t *idx;
    size_t *size;
};

struct raft_prog {
    uint64_t id;
    uint64_t match, next; /* match < next always (pitfall #10) */
    int state;
    bool probe_sent;    /* Probe: one APPEND outstanding until a reply or heartbeat */
    bool recent_active; /* CheckQuorum (pitfall #7) */
    uint64_t pending_snapshot;
    unsigned snap_elapsed;     /* ticks in Snapshot state without news */
    uint64_t hb_acked;         /* highest heartbeat round acknowledged (ReadIndex, lease) */
    unsigned rejects_at_match; /* our probe at match rejected, since match last moved */
    struct raft_inflights in;
};

int raft__prog_init(struct raft_prog *p, uint64_t id, uint64_t next, size_t max_msgs,
                    size_t max_bytes);
void raft__prog_free(struct raft_prog *p);
void raft__prog_become_probe(struct raft_prog *p);
void raft__prog_become_replicate(struct raft_prog *p);
void raft__prog_become_snapshot(struct raft_prog *p, uint64_t snap_index);
/* An ack for index n: match = max(match, n); returns true if match moved. */
bool raft__prog_maybe_update(struct raft_prog *p, uint64_t n);
/* A rejection of prev index `rejected` with the follower's hint; false if stale. */
bool raft__prog_maybe_decr(struct raft_prog *p, uint64_t rejected, uint64_t match_hint);
/* An APPEND covering up to `last` (n entries, bytes) was sent. */
void raft__prog_sent(struct raft_prog *p, uint64_t last, size_t n, size_t bytes);
bool raft__prog_paused(const struct raft_prog *p);
bool raft__infl_full(const struct raft_inflights *in);
void raft__infl_add(struct raft_inflights *in, uint64_t idx, size_t bytes);
void raft__infl_free_le(struct raft_inflights *in, uint64_t idx);
void raft__infl_free_first(struct raft_inflights *in);
void raft__infl_reset(struct raft_inflights *in);

/* ---- quorum math (quorum.c) --------------------------------------------------- */

/* The largest v such that a majority of vals[0..n) are >= v (vals sorted in
 * place). n == 0: 0. */
uint64_t raft__quorum_index(uint64_t *vals, size_t n);
enum raft_vote_result { RAFT_VOTE_PENDING, RAFT_VOTE_WON, RAFT_VOTE_LOST };
enum raft_vote_result raft__quorum_vote(size_t voters, size_t granted, size_t rejected);
/* New commit index for a leader of `term` given the voters' match indexes:
 * the quorum index if it is above `commit` and its entry is of `term`
 * (Figure 8, pitfall #3), else `commit`. */
uint64_t raft__quorum_commit(uint64_t *match, size_t n, const struct raft_log *l, uint64_t term,
                             uint64_t commit);

/* ---- configurations (conf.c) --------------------------------------------------- */

size_t raft__conf_voters(const struct raft_conf *c);
bool raft__conf_is_voter(const struct raft_conf *c, uint64_t id);
/* out = c with one change applied. CN_EEXIST, CN_ENOTFOUND, CN_EINVAL (last
 * voter, not a learner, bad id/addr), CN_ETOOBIG (full). */
int raft__conf_change(const struct raft_conf *c, enum raft_conf_change cc, uint64_t id,
                      const char *addr, struct raft_conf *out);
size_t raft__conf_encoded_size(const struct raft_conf *c);

/* ---- the node ------------------------------------------------------------------ */

#define RAFT_ROUNDS 64 /* heartbeat rounds whose send tick we remember (leases) */

struct raft_pending_read {
    uint64_t ctx, index, round;
};

struct raft_update_store {
    bool busy;
    struct raft_entry *ents;
    size_t n_ents;
    struct raft_entry *comm;
    size_t n_comm;
    struct raft_msg *msgs;
    size_t n_msgs;
    struct raft_read_state *reads;
    size_t n_reads;
    bool has_snap;
    struct raft_snapshot_meta snap;
};

struct raft {
    struct raft_config cfg;
    enum raft_state state;
    uint64_t term, vote, leader;
    struct raft_log log;

    /* Membership, thesis rule (pitfall #21): the latest CONF entry in the log,
     * committed or not, else base_conf: the configuration as of log.base (the
     * snapshot's or bootstrap one, then the last CONF entry evicted). */
    struct raft_conf conf;
    uint64_t conf_index;
    struct raft_conf base_conf;

    /* Leader: one progress per server in conf other than self. */
    struct raft_prog *prs;
    size_t n_prs;

    /* Candidate / pre-candidate tally. */
    uint64_t vote_from[RAFT_MAX_SERVERS];
    bool vote_granted[RAFT_MAX_SERVERS];
    size_t n_votes;

    unsigned election_elapsed, heartbeat_elapsed, transfer_elapsed;
    unsigned randomized_timeout;
    uint64_t ticks; /* monotonic local tick count */
    uint64_t ticks_since_leader;
    uint64_t rng;
    bool hold_votes; /* restarted with lease reads: refuse votes one timeout (#27) */
    int step_err;    /* CN_ENOMEM seen by a handler during raft_step */

    /* Leader state. */
    uint64_t term_start; /* index of this term's no-op */
    uint64_t transferee;
    bool tn_sent;         /* TimeoutNow sent for this transfer */
    bool lease_forbidden; /* TimeoutNow sent this term (pitfall #27/#28) */
    uint64_t round;       /* last heartbeat round sent */
    uint64_t round_tick[RAFT_ROUNDS];
    uint64_t lease_until; /* lease valid while ticks < lease_until */
    bool round_wanted;    /* reads wait for a round not sent yet */
    struct raft_pending_read *preads;
    size_t n_preads, cap_preads;

    /* Reads ready to hand out. */
    struct raft_read_state *reads;
    size_t n_reads, cap_reads;

    /* Follower: an ack held until its entries are durable (pitfall #12). */
    bool ack_held;
    uint64_t ack_to, ack_index;

    /* Outbox. */
    struct raft_msg *msgs;
    size_t n_msgs, cap_msgs;

    /* Leader: the snapshot to send (raft_set_snapshot). */
    bool have_snap;
    struct raft_snapshot_meta snap;
    /* Follower: a received snapshot not yet handed out. */
    bool inst_pending;
    struct raft_snapshot_meta inst;

    /* Read-back of evicted entries (replication.c): the wanted range, the
     * request handed out and not answered (fetch_out, since fetch_tick), and
     * the last answer, kept for the followers that need it. */
    bool fetch_want, fetch_out;
    uint64_t fetch_lo, fetch_hi, fetch_tick;
    struct raft_entry *rb;
    size_t rb_n;
    uint64_t rb_lo;

    struct raft_hard_state prev_hs;
    struct raft_update_store upd;
    bool defer_compact;
    uint64_t defer_index, defer_keep;
};

/* raft.c */
void raft__logf(const struct raft *r, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void raft__become_follower(struct raft *r, uint64_t term, uint64_t leader);
void raft__become_pre_candidate(struct raft *r);
void raft__become_candidate(struct raft *r);
void raft__become_leader(struct raft *r);
/* Queue a message (copied shallowly: entries/snap_data references move into
 * the outbox). On OOM the message is dropped, like a lossy network would. */
void raft__send(struct raft *r, struct raft_msg *m);
struct raft_prog *raft__prog_get(struct raft *r, uint64_t id);
bool raft__promotable(const struct raft *r);
void raft__reset_timeout(struct raft *r);
bool raft__in_lease(const struct raft *r);
/* Recompute conf from the log after append/truncate/restore. */
void raft__conf_refresh(struct raft *r);
/* Leader: rebuild progress for the servers of r->conf, keeping existing ones. */
int raft__prs_sync(struct raft *r);
void raft__msg_free(struct raft_msg *m);

/* election.c */
void raft__campaign(struct raft *r, bool transfer);
void raft__handle_vote(struct raft *r, const struct raft_msg *m);
void raft__handle_vote_resp(struct raft *r, const struct raft_msg *m);
void raft__tick_election(struct raft *r);
void raft__tick_leader(struct raft *r);

/* replication.c */
void raft__send_append(struct raft *r, struct raft_prog *p, bool if_empty);
void raft__bcast_append(struct raft *r);
void raft__bcast_heartbeat(struct raft *r);
void raft__handle_append(struct raft *r, const struct raft_msg *m);
void raft__handle_append_resp(struct raft *r, const struct raft_msg *m);
void raft__handle_heartbeat(struct raft *r, const struct raft_msg *m);
void raft__handle_heartbeat_resp(struct raft *r, const struct raft_msg *m);
bool raft__maybe_commit(struct raft *r);
/* Follower: acknowledge entries up to index to `to` (held until durable). */
void raft__ack(struct raft *r, uint64_t to, uint64_t index);
void raft__release_ack(struct raft *r);
/* A message from the leader of our term: remember it, reset the timer. */
void raft__heard(struct raft *r, uint64_t from);
int raft__append_local(struct raft *r, enum raft_entry_type type, const void *data, size_t len,
                       uint64_t *index);

/* Read-back: entries of the evicted part of the log (replication.c). */
#define RAFT_FETCH_MAX 1024 /* entries asked at once */
void raft__rb_clear(struct raft *r);
/* Evict what the window allows (raft.c). */
void raft__evict(struct raft *r);

/* snapshot.c */
void raft__send_snapshot(struct raft *r, struct raft_prog *p);
void raft__handle_snapshot(struct raft *r, const struct raft_msg *m);

/* conf.c */
void raft__conf_committed(struct raft *r);

/* transfer.c */
void raft__handle_timeout_now(struct raft *r, const struct raft_msg *m);
void raft__transfer_check(struct raft *r, struct raft_prog *p);
void raft__transfer_abort(struct raft *r);

/* read.c */
void raft__read_release(struct raft *r);
void raft__read_ack(struct raft *r);
void raft__reads_drop(struct raft *r);
bool raft__lease_valid(const struct raft *r);

/* ready.c */
void raft__upd_release(struct raft *r);

#endif
