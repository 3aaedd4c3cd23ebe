/* raft/raft.h: the Raft consensus algorithm as a pure, deterministic state
 * machine (the shape etcd's raft made famous: step/tick in, Ready out).
 *
 * PURE: no sockets, files, clocks, threads, global state or hidden randomness.
 * Time is ticks (raft_tick); election jitter comes from a PRNG seeded through
 * raft_config; logging goes through a callback. Links nothing but base/, so a
 * purity break fails the build. That is what lets tests/sim/ run thousands of
 * seeded fault schedules deterministically.
 *
 * The caller (the "shell": server/ in production, tests/sim/ in simulation):
 *   1. feeds events: raft_step (a message from a peer), raft_tick, raft_propose,
 *      raft_read_index, raft_transfer_leader, raft_propose_conf,
 *      raft_report_unreachable, raft_report_snapshot;
 *   2. while raft_ready(r, &u) returns true, handles the update IN THIS ORDER
 *      (thesis §10.2.1, pitfalls #1, #12):
 *        a. persist u.snapshot (if any), then u.entries (they replace any
 *           existing entries at index >= u.entries[0].index), then u.hs (term,
 *           vote, commit) if u.hs_changed — all durable before step c's
 *           messages that depend on them are sent. EXCEPTION for speed: the
 *           messages of a LEADER (u.msgs_before_persist) may be sent before
 *           the persist completes; the leader counts itself in the quorum only
 *           when told its write is durable (raft_persisted).
 *        b. apply u.committed entries (and u.snapshot to the state machine) in
 *           order; answer u.reads (ReadIndex results) once applied >= index.
 *        c. send u.msgs (after the persist of a.).
 *        d. call raft_done(r, &u): everything u pointed to may now be freed by
 *           the core.
 *      Persistence may be asynchronous (a writer thread): the shell calls
 *      raft_done right after handing the copies off, and later
 *      raft_persisted(r, index, term) when the entries up to (index, term) are
 *      durable; follower messages that acknowledge entries are then released
 *      by a later raft_ready (they are held until the write is durable).
 *
 * Ownership: everything reachable from a struct raft_update is owned by the
 * core and valid until raft_done. Everything passed in (messages, proposals)
 * is copied; the caller keeps ownership of its buffers.
 *
 * Safety rules implemented (see docs/raft-pitfalls.md, cited by
 * number in the .c files): PreVote; CheckQuorum; leader lease only with
 * CheckQuorum; commit counted only for current-term entries with a no-op on
 * election (Figure 8); truncation only at a real conflict; commit clamped to
 * what a message verified; match never moves backwards; per-follower
 * probe/replicate/snapshot flow control with an inflight window; single-server
 * membership changes with the no-op-before-change rule, learners, removal of
 * the leader; TimeoutNow leadership transfer; ReadIndex. */
#ifndef CN_RAFT_H
#define CN_RAFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RAFT_NONE 0 /* no node / no vote; node IDs are > 0 and never reused */

struct raft;

struct raft_buf {
    void *base;
    size_t len;
};

enum raft_entry_type {
    RAFT_ENTRY_NORMAL = 0, /* an application command (empty data = leader no-op) */
    RAFT_ENTRY_CONF = 1,   /* data = an encoded struct raft_conf (raft_conf_encode) */
};

struct raft_entry {
    uint64_t term;
    uint64_t index;
    enum raft_entry_type type;
    struct raft_buf data;
};

/* ---- membership ------------------------------------------------------------ */

enum raft_role_in_conf { RAFT_VOTER = 0, RAFT_LEARNER = 1 };

struct raft_server {
    uint64_t id;
    enum raft_role_in_conf role;
    char addr[64]; /* "host:port" of the server RPC port; opaque to the core */
};

#define RAFT_MAX_SERVERS 16

struct raft_conf {
    size_t n;
    struct raft_server servers[RAFT_MAX_SERVERS];
};

/* Stable little-endian encoding of a configuration (for CONF entries and
 * snapshots). Return 0 / negative CN_E* (CN_ECORRUPT on decode). encode sets
 * *len to the size needed and returns CN_ETOOBIG if cap is short (out may be
 * NULL with cap 0 to ask for the size). */
int raft_conf_encode(const struct raft_conf *c, void *out, size_t cap, size_t *len);
int raft_conf_decode(const void *p, size_t len, struct raft_conf *out);
const struct raft_server *raft_conf_find(const struct raft_conf *c, uint64_t id);

/* Change requests for raft_propose_conf: one server at a time (thesis §4.2;
 * the rule of pitfall #20: only after an entry of the leader's term has
 * committed, at most one uncommitted change). */
enum raft_conf_change {
    RAFT_CC_ADD_LEARNER, /* add as a non-voter that replicates but never counts */
    RAFT_CC_PROMOTE,     /* learner -> voter (the shell waits until it caught up) */
    RAFT_CC_REMOVE,      /* remove a voter or learner, possibly the leader itself */
};

/* ---- messages ---------------------------------------------------------------- */

enum raft_msg_type {
    RAFT_MSG_APPEND = 1,  /* AppendEntries (also heartbeat when n_entries = 0) */
    RAFT_MSG_APPEND_RESP, /* ack/reject of an append */
    RAFT_MSG_HEARTBEAT,   /* commit + read context only; no log matching */
    RAFT_MSG_HEARTBEAT_RESP,
    RAFT_MSG_VOTE, /* RequestVote */
    RAFT_MSG_VOTE_RESP,
    RAFT_MSG_PREVOTE, /* §9.6: term = candidate's term + 1, receivers never change term */
    RAFT_MSG_PREVOTE_RESP,
    RAFT_MSG_SNAPSHOT,    /* InstallSnapshot, by reference: snap (index, term, conf) */
    RAFT_MSG_TIMEOUT_NOW, /* leadership transfer: campaign now, skipping PreVote */
    RAFT_MSG__COUNT
};

#define RAFT_CTX_TRANSFER 1 /* raft_msg.context of a VOTE after TIMEOUT_NOW */

struct raft_snapshot_meta {
    uint64_t index;        /* last included index */
    uint64_t term;         /* its term */
    struct raft_conf conf; /* configuration as of index (pitfall #17) */
};

struct raft_msg {
    enum raft_msg_type type;
    uint64_t from, to;
    uint64_t term;
    /* APPEND: prev_index/prev_term of the entry before `entries`;
     * VOTE/PREVOTE: the candidate's last log index/term;
     * APPEND_RESP: index = the last index this ack covers (or the rejected
     * prev_index), reject_hint/hint_term = fast backtracking (§5.3 / etcd's
     * findConflictByTerm). */
    uint64_t index;
    uint64_t log_term;
    uint64_t commit;
    bool reject;
    uint64_t reject_hint;
    uint64_t hint_term;
    struct raft_entry *entries;
    size_t n_entries;
    /* HEARTBEAT(_RESP): read context, echoed back (ReadIndex rounds).
     * VOTE/PREVOTE: RAFT_CTX_TRANSFER when the campaign follows a
     * TIMEOUT_NOW (it overrides the receivers' leader lease, pitfall #4). */
    uint64_t context;
    /* SNAPSHOT: the snapshot's metadata; the core never sees its bytes.
     * The leader's shell, given a SNAPSHOT message to send, streams the
     * bytes of its snapshot file (index, term) to the follower's shell,
     * which writes them to disk and makes them durable; only then does it
     * deliver this message to its core (a SNAPSHOT delivered to a core
     * promises that the bytes of (index, term) are on that node's disk).
     * A shell that cannot send it (the file was replaced by a newer one,
     * the transfer failed) calls raft_report_snapshot(id, false). */
    struct raft_snapshot_meta snap;
    /* Opaque bytes of the shell's own (the codec carries them; the core
     * never sets or reads them). */
    struct raft_buf snap_data;
};

/* ---- configuration of a node -------------------------------------------------- */

typedef void (*raft_log_cb)(void *arg, int level, const char *msg);

struct raft_config {
    uint64_t id;               /* this node, > 0 */
    unsigned election_ticks;   /* election timeout, randomized in [e, 2e) */
    unsigned heartbeat_ticks;  /* < election_ticks */
    uint64_t rng_seed;         /* the only source of randomness */
    bool pre_vote;             /* default true in production */
    bool check_quorum;         /* default true in production; required for leases */
    bool lease_reads;          /* raft_read_index answers from the lease when valid */
    size_t max_msg_bytes;      /* cap on entry bytes in one APPEND (>=1 entry always) */
    size_t max_inflight_msgs;  /* pipelined APPENDs in flight per follower */
    size_t max_inflight_bytes; /* and their bytes (0 = unlimited) */
    size_t compact_keep_bytes; /* raft_compact keeps at most this many payload bytes
                                * behind the snapshot (0 = only the `keep` count) */
    /* The in-memory log window (raft_ready's read-back, below): entries
     * durable and applied leave memory but for a tail of at most
     * log_window_entries entries and log_window_bytes of payload (either 0:
     * no bound of that kind; both 0: every entry stays until raft_compact). */
    size_t log_window_entries;
    size_t log_window_bytes;
    raft_log_cb log; /* may be NULL */
    void *log_arg;
};

/* Terms of a stretch of log entries: runs[k] covers runs[k].first ..
 * runs[k+1].first - 1 (the last run up to the stretch's end). */
struct raft_run {
    uint64_t first, term;
};

/* What the node recovered from disk (zeroed for a brand-new node). The core
 * copies the entries. `conf` is the bootstrap configuration for a new cluster,
 * or the configuration in the snapshot; CONF entries in `entries` override it.
 *
 * A shell may apply the entries it finds committed on disk (up to the durable
 * commit) itself while reading its log at open, without handing their bytes
 * to the core: it then sets `applied` (snap.index < applied <= commit), gives
 * their terms as runs (snap.index+1 .. applied) and the configuration as of
 * `applied`, and `entries` start at applied+1. The core starts with them
 * applied and out of its memory window (read back like any evicted entry). */
struct raft_restore {
    uint64_t term, vote, commit;
    struct raft_snapshot_meta snap;   /* snap.index == 0: none */
    const struct raft_entry *entries; /* (applied or snap.index)+1 .. last, contiguous */
    size_t n_entries;
    struct raft_conf conf;
    uint64_t applied; /* 0: none applied by the shell */
    const struct raft_run *applied_terms;
    size_t n_applied_terms;
    struct raft_conf applied_conf;
};

/* NULL on out of memory or invalid config/restore (reason through cfg->log). */
struct raft *raft_new(const struct raft_config *cfg, const struct raft_restore *rs);
void raft_free(struct raft *r);

/* ---- input --------------------------------------------------------------------- */

/* A message from the network. Messages that are stale, for another node,
 * malformed or from non-members are ignored (return 0): the network may bring
 * anything. Returns 0 or CN_ENOMEM (the message was dropped as if lost; a
 * term change it carried may have been applied, which is always safe).
 * Out of memory while SENDING drops that outgoing message, like a lossy
 * network: Raft retransmits. */
int raft_step(struct raft *r, const struct raft_msg *m);
/* One logical clock tick. */
void raft_tick(struct raft *r);

/* Append a command (copied) as a NORMAL entry. Returns 0 with *index set,
 * CN_EAGAIN if not leader or a transfer is in progress (the shell forwards or
 * retries), CN_ENOMEM. A returned index is NOT a promise: the entry commits
 * only if it appears in u.committed with the same term (*term). */
int raft_propose(struct raft *r, const void *data, size_t len, uint64_t *index, uint64_t *term);
int raft_propose_conf(struct raft *r, enum raft_conf_change cc, uint64_t id, const char *addr,
                      uint64_t *index);

/* Linearizable read (thesis §6.4): the answer arrives in a later update's
 * `reads` with the same ctx and the index the shell must have applied before
 * serving. Leader only (CN_EAGAIN otherwise; followers ask the leader through
 * the shell). With lease_reads and a valid lease it is answered without a
 * quorum round. */
int raft_read_index(struct raft *r, uint64_t ctx);
/* The same, but leadership is always confirmed by a quorum round sent after
 * the call, even while the lease holds (Consul's ?consistent): it does not
 * trust the lease's clock assumptions. */
int raft_read_index_quorum(struct raft *r, uint64_t ctx);

/* Leadership transfer (§3.10): stop proposals, catch `to` up, TimeoutNow;
 * aborted after an election timeout. to == RAFT_NONE: pick the most up to
 * date voter. CN_EAGAIN if not leader, CN_EINVAL for a non-voter. */
int raft_transfer_leader(struct raft *r, uint64_t to);

/* The shell could not deliver to `id` (connection refused...): the core moves
 * that follower back to probing. */
void raft_report_unreachable(struct raft *r, uint64_t id);
/* The snapshot sent to `id` was installed (ok) or failed. */
void raft_report_snapshot(struct raft *r, uint64_t id, bool ok);
/* Entries up to (index, term) are durable on this node's disk (the shell's
 * async writer). Ignored if the entry at index no longer has that term
 * (pitfall #13, the ABA race) or was not handed out by raft_ready. After
 * persisting an update call it with the last entry of u.entries, or with
 * (u.snapshot->index, u.snapshot->term) when the update had only a
 * snapshot: an installed snapshot is acknowledged to the leader, and entries
 * after it are applied, only once it is durable. */
void raft_persisted(struct raft *r, uint64_t index, uint64_t term);
/* The shell has taken a snapshot of the state machine at `index` (<= applied):
 * the core may forget entries <= index - keep (keep entries for slow followers,
 * and no more than cfg.compact_keep_bytes of payload when that is set).
 * CN_EINVAL if index > applied. Never compacts past a snapshot still being
 * sent to a follower (pitfall #19); the configuration as of the new first
 * index is kept (pitfall #17). */
int raft_compact(struct raft *r, uint64_t index, uint64_t keep);
/* The snapshot the leader should send to followers that fell behind the log,
 * by reference: (index, term, conf); the bytes stay in the shell's file (the
 * shell gives the newest one it has; its index must be >= the compaction
 * point or followers behind it cannot be helped; a snapshot installed from a
 * leader becomes the one to send automatically). A follower in Snapshot
 * state for 4 election timeouts without news is probed again even if
 * raft_report_snapshot never comes. */
int raft_set_snapshot(struct raft *r, const struct raft_snapshot_meta *meta);

/* The answer to a read-back (raft_update.fetch_lo/hi): entries (copied)
 * contiguous from the request's fetch_lo. The core checks each against the
 * terms it kept (Log Matching: same index and term, same entry), keeps them
 * in a small read-back cache and sends them to the followers that wait. */
void raft_fetched(struct raft *r, const struct raft_entry *e, size_t n);
/* The read-back of [lo, ...) failed. first > lo: the shell's log now starts
 * at `first` (entries before it were compacted with a snapshot): the core
 * forgets them, and followers that need them get the snapshot. first <= lo
 * (an I/O error): the followers are probed again later. */
void raft_fetch_failed(struct raft *r, uint64_t lo, uint64_t first);

/* ---- output -------------------------------------------------------------------- */

struct raft_hard_state {
    uint64_t term, vote, commit;
};

struct raft_read_state {
    uint64_t ctx;
    uint64_t index; /* serve once applied >= index */
};

struct raft_update {
    bool hs_changed;
    struct raft_hard_state hs;
    /* persist: snapshot first (if snapshot != NULL), then entries. The
     * snapshot is one a SNAPSHOT message delivered: its bytes are already
     * on the shell's disk (RAFT_MSG_SNAPSHOT); persisting it means adopting
     * that file as the node's snapshot. */
    const struct raft_snapshot_meta *snapshot;
    const struct raft_entry *entries;
    size_t n_entries;
    /* apply in order */
    const struct raft_entry *committed;
    size_t n_committed;
    /* messages: leader's may go before the persist completes */
    const struct raft_msg *msgs;
    size_t n_msgs;
    bool msgs_before_persist;
    const struct raft_read_state *reads;
    size_t n_reads;
    /* Read-back (fetch_hi > fetch_lo): a follower needs entries
     * [fetch_lo, fetch_hi) that left the in-memory window. They are durable
     * in the shell's log: the shell reads them without blocking its loop
     * (another thread) and answers later with raft_fetched (a prefix of the
     * range, at least one entry, bounded in bytes as the shell likes) or
     * raft_fetch_failed. One request is outstanding at a time; one that got
     * no answer for 4 election timeouts is asked again. */
    uint64_t fetch_lo, fetch_hi;
    /* role changes are reported through raft_status */
};

/* One update at a time: raft_ready returns false while the previous one has
 * not been given back with raft_done. Marks move when raft_ready hands the
 * update out (entries count as "being persisted", committed as "being
 * applied"), so every true raft_ready must be followed by raft_done. Between
 * the two the shell may call anything (the update holds its own references);
 * the usual loop calls nothing. */
bool raft_ready(struct raft *r, struct raft_update *u);
void raft_done(struct raft *r, const struct raft_update *u);

/* ---- inspection (tests, /v1/status, /v1/operator/raft) -------------------------- */

enum raft_state { RAFT_FOLLOWER, RAFT_PRE_CANDIDATE, RAFT_CANDIDATE, RAFT_LEADER };

struct raft_status {
    uint64_t id;
    enum raft_state state;
    uint64_t term, vote, leader; /* leader RAFT_NONE if unknown */
    uint64_t commit, applied, last_index, last_term, first_index;
    uint64_t snap_index, snap_term;
    /* The in-memory window: entries window_first..last_index, window_bytes
     * of payload (entries first_index..window_first-1 are on disk only). */
    uint64_t window_first;
    size_t window_bytes;
    uint64_t ticks_since_leader; /* for X-Consul-LastContact */
    bool lease_valid;
    uint64_t transferee;
    struct raft_conf conf; /* the configuration in force */
};
void raft_get_status(const struct raft *r, struct raft_status *st);

/* Per-follower progress (leader only): match/next/state for /v1/operator/raft. */
struct raft_progress {
    uint64_t id, match, next;
    int state; /* 0 probe, 1 replicate, 2 snapshot */
    bool recent_active;
};
size_t raft_get_progress(const struct raft *r, struct raft_progress *out, size_t cap);

/* Encoding of messages for the transport (framed, versioned, checksummed by
 * transport/). Decoding validates everything and never trusts lengths. */
int raft_msg_encode(const struct raft_msg *m, void *out, size_t cap, size_t *len);
size_t raft_msg_encoded_size(const struct raft_msg *m);
/* Decoded message points into a newly allocated block (*owned, cn_free it). */
int raft_msg_decode(const void *p, size_t len, struct raft_msg *m, void **owned);

#endif
