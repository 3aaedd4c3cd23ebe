/* tests/sim/sim.h: a deterministic simulated cluster of pure Raft cores.
 *
 * One process, virtual time, N raft cores (src/raft/raft.h) driven by a
 * "shell" that follows the contract of raft.h to the letter, with the
 * server's own sequencing rules (src/server/seq.c: what is written, the
 * commit clamp, which messages wait for which write) and its rules for
 * writes forwarded by followers (src/server/reqs.c: client writes through
 * any node, below): fake disks with
 * a synced watermark (a crash loses what was not synced), a fake network
 * (delay, drop, duplicate, reorder, partitions), a deterministic state
 * machine (a running hash of applied commands) and the safety invariants of
 * docs/raft-pitfalls.md §3 checked after every event.
 *
 * Two ways to drive it:
 *   - sim_run_random(): a seeded fault schedule (sim_random.c) followed by a
 *     heal phase that checks liveness;
 *   - the scripted API below (manual network/disk): scenarios in
 *     sim_scenarios.c deliver, drop and duplicate specific messages, sync or
 *     lose specific disk writes, crash and restart nodes.
 *
 * Ownership: struct sim owns every node, message, disk image and history
 * table; sim_free releases all of it. Nothing returned by the API needs
 * freeing by the caller. */
#ifndef CN_SIM_H
#define CN_SIM_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "raft/raft.h"

#define SIM_MAX_NODES 12 /* node slots over a run: ids 1..12, never reused */
#define SIM_TICK 10      /* virtual time units per raft tick */

/* ---- PRNG: splitmix64 seeding xoshiro256** -------------------------------- */
struct sim_rng {
    uint64_t s[4];
};
void sim_rng_seed(struct sim_rng *r, uint64_t seed);
uint64_t sim_rng_next(struct sim_rng *r);
uint64_t sim_rng_below(struct sim_rng *r, uint64_t n); /* [0, n), n > 0 */
bool sim_rng_chance(struct sim_rng *r, double p);

/* ---- options ---------------------------------------------------------------- */
enum sim_net_mode {
    SIM_NET_AUTO,   /* messages arrive after their random delay */
    SIM_NET_MANUAL, /* messages wait in the network until the script delivers them */
};
enum sim_disk_mode {
    SIM_DISK_IMMEDIATE, /* every write is durable when handed off */
    SIM_DISK_ASYNC,     /* durable after a random delay (FIFO per node) */
    SIM_DISK_MANUAL,    /* durable only when the script syncs it */
};

struct sim_opts {
    uint64_t seed;
    int nodes;          /* initial voters 1..nodes */
    int slots;          /* node slots available (>= nodes); extra ones join later */
    int voters_in_boot; /* bootstrap configuration size (0 = nodes) */
    unsigned election_ticks, heartbeat_ticks;
    bool pre_vote, check_quorum, lease_reads;
    size_t max_msg_bytes, max_inflight_msgs, max_inflight_bytes;
    /* The cores' in-memory log window (raft_config.log_window_*); entries
     * that left it are read back from the node's durable disk image after a
     * delay (AUTO: [1, disk_delay_max] units; otherwise at the node's next
     * tick), as server/readback.c reads the WAL on the writer thread. */
    size_t log_window_entries, log_window_bytes;
    enum sim_net_mode net;
    enum sim_disk_mode disk;
    /* AUTO network faults */
    double p_drop, p_dup;
    unsigned delay_min, delay_max; /* virtual time units */
    unsigned disk_delay_max;       /* ASYNC: sync after [0, disk_delay_max] units */
    FILE *trace;                   /* NULL: no trace */
    bool trace_core;               /* also print the cores' own log lines */
};
void sim_opts_default(struct sim_opts *o, uint64_t seed, int nodes);

/* ---- the cluster -------------------------------------------------------------- */
struct sim;

enum sim_fail_kind { SIM_OK = 0, SIM_SAFETY = 1, SIM_LIVENESS = 2, SIM_SCRIPT = 3 };

struct sim *sim_new(const struct sim_opts *o);
void sim_free(struct sim *s);

/* The first failure recorded (SIM_OK if none) and its description. */
enum sim_fail_kind sim_failed(const struct sim *s);
const char *sim_fail_msg(const struct sim *s);
void sim_fail(struct sim *s, enum sim_fail_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void sim_tracef(struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

uint64_t sim_now(const struct sim *s);
struct sim_rng *sim_rng(struct sim *s);
const struct sim_opts *sim_opts(const struct sim *s);

/* ---- nodes --------------------------------------------------------------------- */
bool sim_up(const struct sim *s, int id);
/* Start a slot that never ran (a joining server, empty disk, empty conf). */
int sim_start_new(struct sim *s, int id);
/* Crash: the core is freed, unsynced writes and the messages waiting on them are
 * lost, the state machine is gone. */
void sim_crash(struct sim *s, int id);
/* Restart from the durable disk image (raft_restore). */
int sim_restart(struct sim *s, int id);
/* Per node disk mode (scripts). */
void sim_set_disk_mode(struct sim *s, int id, enum sim_disk_mode m);
/* Make the oldest pending write of `id` durable (1) or nothing pending (0). */
int sim_sync_one(struct sim *s, int id);
/* cairn's writer takes every queued write in one round and writes the
 * newest hard state among them before their snapshots and entries: make
 * only that hard state durable (1), or nothing (0: no pending write carries
 * an unwritten hard state). */
int sim_sync_hs(struct sim *s, int id);
/* Make every pending write of `id` durable; returns how many. */
int sim_sync_all(struct sim *s, int id);
size_t sim_pending_writes(const struct sim *s, int id);
/* Outside the fault model, for pitfall #15 only: a crashed node's durable log
 * loses every entry after keep_last while its hard state (commit) stays. */
void sim_disk_lose_tail(struct sim *s, int id, uint64_t keep_last);

struct raft *sim_core(struct sim *s, int id); /* NULL when down */
void sim_status(const struct sim *s, int id, struct raft_status *st);
enum raft_state sim_state(const struct sim *s, int id);
uint64_t sim_term(const struct sim *s, int id);
uint64_t sim_commit(const struct sim *s, int id);
uint64_t sim_applied(const struct sim *s, int id); /* the shell's state machine */
uint64_t sim_last_index(const struct sim *s, int id);
/* The single live leader with the highest term, 0 if none. */
int sim_leader(const struct sim *s);

/* ---- inputs (each followed by the node's ready loop and the invariant checks) --- */
void sim_tick(struct sim *s, int id);
/* One tick for every live node, then (AUTO network) nothing else; in MANUAL mode
 * nothing is delivered. */
void sim_tick_all(struct sim *s);
/* Propose a unique command (value chosen by the harness). Returns the raft
 * return code; *index (may be NULL) receives the index on success. */
int sim_propose(struct sim *s, int id, uint64_t *index);
int sim_propose_conf(struct sim *s, int id, enum raft_conf_change cc, int target, uint64_t *index);
int sim_read_index(struct sim *s, int id, uint64_t *ctx);
/* Has the read with `ctx` been answered (and at which index)? */
bool sim_read_answered(const struct sim *s, uint64_t ctx, uint64_t *index);
int sim_transfer(struct sim *s, int id, int to);
int sim_take_snapshot(struct sim *s, int id, uint64_t keep);
/* Is the command proposed at (index) with the value of that proposal applied
 * anywhere, i.e. committed? Returns the committed term at index or 0. */
uint64_t sim_committed_term(const struct sim *s, uint64_t index);
uint64_t sim_max_committed(const struct sim *s);

/* ---- client writes through any node (src/server/reqs.c) -------------------------
 * A client write goes to one node, any role: proposed there if it leads,
 * else forwarded to the leader it knows (messages of type SIM_MSG_FWD_REQ /
 * SIM_MSG_FWD_RESP on the same faulty network, encoded by
 * server/fwd_codec.c); it completes when that node applies its entry. Each
 * carries a unique write id in its command: the checks fail a run when one
 * is committed twice, acknowledged at an index other than the one it was
 * committed at, or committed after its client was told it failed. */
#define SIM_MSG_FWD_REQ 100
#define SIM_MSG_FWD_RESP 101
enum sim_cw_state {
    SIM_CW_NONE,
    SIM_CW_WAITING,
    SIM_CW_ACKED,   /* applied on its node: the client was told so */
    SIM_CW_UNKNOWN, /* the client was told the outcome is unknown (or lost its node) */
    SIM_CW_FAILED,  /* the client was told it failed: it must never commit */
};
struct sim_cw_stats {
    uint64_t submitted, acked, unknown, failed, forwards, resends, dups, not_leader, busy, stale;
    uint64_t reads, reads_ok, reads_local, reads_failed; /* client reads through any node */
};
/* Submit a client write to node id; its write id, or 0 (the node is down). */
uint64_t sim_client_write(struct sim *s, int id);
enum sim_cw_state sim_cw_state(const struct sim *s, uint64_t wid);
uint64_t sim_cw_applied_at(const struct sim *s, uint64_t wid); /* committed at; 0: not */
uint64_t sim_cw_outstanding(const struct sim *s);
const struct sim_cw_stats *sim_cw_stats(const struct sim *s);
/* Entries usable in each leader's table of forwarded proposals (0: all). */
void sim_set_table_cap(struct sim *s, size_t cap);
/* A client read (default, or ?consistent) through node id, any role: its
 * id, or 0 (the node is down). Answered when its node applied the read
 * index (the leader's, asked by a follower), or at once when the lease
 * allows (srv_req_read_now); checked against every index committed before
 * it was asked. */
uint64_t sim_client_read(struct sim *s, int id, bool consistent);
uint64_t sim_cr_outstanding(const struct sim *s);
/* Is id in the latest committed configuration? */
bool sim_node_member(const struct sim *s, int id);
/* Has every live member of the configuration applied every acknowledged
 * write? (else *lagging) */
bool sim_cw_converged(const struct sim *s, int *lagging);

/* ---- network --------------------------------------------------------------------- */
/* Filters: 0 = any for from/to/type. */
struct sim_match {
    int from, to;
    int type; /* enum raft_msg_type or 0 */
};
#define SIM_ANY 0
size_t sim_net_count(const struct sim *s, struct sim_match m);
/* Deliver the oldest queued message matching `m` (1) or nothing matched (0). */
int sim_deliver(struct sim *s, struct sim_match m);
/* Deliver the newest queued message matching `m` (1) or nothing matched (0):
 * a later message overtakes an earlier one. */
int sim_deliver_newest(struct sim *s, struct sim_match m);
/* Scripts: the clock jumps by `units` (nothing is ticked or delivered);
 * deadlines and resend times of client writes see it. */
void sim_skip_time(struct sim *s, uint64_t units);
/* Drop every queued message matching `m`; returns how many. */
int sim_drop(struct sim *s, struct sim_match m);
/* Drop only the oldest matching message; 1 or 0. */
int sim_drop_first(struct sim *s, struct sim_match m);
/* Append a copy of the oldest matching message to the queue; 1 or 0. */
int sim_dup(struct sim *s, struct sim_match m);
/* Copy of the oldest matching message's header (no entries) for inspection. */
bool sim_peek(const struct sim *s, struct sim_match m, struct raft_msg *out);
/* Deliver queued messages in order, including those they cause, until the
 * network is empty or `max` deliveries; blocked links drop. Returns count. */
int sim_deliver_all(struct sim *s, int max);
/* Same, but messages of type drop_type are dropped instead. */
int sim_deliver_all_except(struct sim *s, int max, int drop_type);
/* Deliver a hand-made message now (copied). */
void sim_inject(struct sim *s, const struct raft_msg *m);
/* Term of the entry at index in the node's log as handed to the shell (0 if none). */
uint64_t sim_log_term(const struct sim *s, int id, uint64_t index);
/* Manual mode convenience: `ticks` rounds of (tick every live node, deliver
 * everything, sync every disk). */
void sim_run_manual(struct sim *s, int ticks);

/* Links: block from->to (one way). */
void sim_block(struct sim *s, int from, int to, bool blocked);
void sim_isolate(struct sim *s, int id, bool isolated);
void sim_heal(struct sim *s);
/* Symmetric partition: nodes whose bit is set in mask_a vs the rest. */
void sim_partition(struct sim *s, uint32_t mask_a);

/* ---- AUTO mode ------------------------------------------------------------------- */
/* Advance virtual time by `units`, delivering messages, syncing disks and
 * ticking nodes on their schedule. `hook` (may be NULL) is called once per
 * tick boundary before the ticks (the fault schedule). */
typedef void (*sim_tick_hook)(struct sim *s, void *arg);
void sim_advance(struct sim *s, uint64_t units, sim_tick_hook hook, void *arg);

void sim_set_net_faults(struct sim *s, double p_drop, double p_dup, unsigned delay_max);
bool sim_node_removed(const struct sim *s, int id); /* left the committed configuration */
bool sim_node_started(const struct sim *s, int id);
uint64_t sim_events(const struct sim *s);
uint64_t sim_leaders_elected(const struct sim *s);

/* Read-backs served to node id's core: entries returned, and requests that
 * found their range compacted from the disk (a snapshot follows). */
uint64_t sim_readback_entries(const struct sim *s, int id);
uint64_t sim_readback_compacted(const struct sim *s, int id);

/* Run the full invariant sweep (the expensive, non-incremental checks). */
void sim_check_full(struct sim *s);

/* ---- random runs (sim_random.c) --------------------------------------------------- */
struct sim_run_opts {
    uint64_t seed;
    int nodes;      /* 3 or 5; 0 = chosen by the seed */
    unsigned steps; /* ticks of the fault phase */
    FILE *trace;
    bool trace_core;
};
struct sim_run_result {
    enum sim_fail_kind kind;
    char msg[512];
    int nodes;
    uint64_t events, commits, elections, crashes, partitions, conf_changes, snapshots, reads;
    uint64_t rb_entries, rb_compacted; /* read-backs of evicted entries (all nodes) */
    struct sim_cw_stats cw;            /* client writes through any node */
};
void sim_run_random(const struct sim_run_opts *o, struct sim_run_result *res);

/* ---- scripted scenarios (sim_scenarios.c) -------------------------------------------- */
struct sim_scenario {
    const char *name;
    const char *what;
    /* 0 pass; otherwise a description of what went wrong in why[cap] */
    int (*run)(FILE *trace, char *why, size_t cap);
};
extern const struct sim_scenario sim_scenarios[];
extern const size_t sim_n_scenarios;
/* --trace-core for scenarios: the cores' log lines join the trace. */
extern bool sim_scenario_trace_core;

#endif
