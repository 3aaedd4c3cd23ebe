/* tests/sim/sim_scenarios.c: scripted scenarios (docs/raft-pitfalls.md §2).
 *
 * Each runs a cluster with a MANUAL network (nothing moves unless delivered)
 * and, unless it says otherwise, immediately durable disks. Ticks are given to
 * one node at a time, so only the node the script wants ever campaigns. Every
 * scenario asserts its specific outcome; all §3 invariants are checked after
 * every event by the harness, and once more in full at the end. */
#include <inttypes.h>
#include <string.h>

#include "base/err.h"
#include "sim.h"

/* Fail the scenario (jumps to `out`, which must free the sim). An invariant
 * violation recorded by the harness wins over the scenario's own message. */
#define EXPECT(cond, ...)                                                                          \
    do {                                                                                           \
        if (sim_failed(s) != SIM_OK)                                                               \
            goto out;                                                                              \
        if (!(cond)) {                                                                             \
            snprintf(why, cap, __VA_ARGS__);                                                       \
            rc = 1;                                                                                \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

bool sim_scenario_trace_core;

#define M(f, t, ty) ((struct sim_match){(f), (t), (ty)})

static int finish(struct sim *s, int rc, char *why, size_t cap)
{
    if (sim_failed(s) == SIM_OK && !rc)
        sim_check_full(s);
    if (sim_failed(s) != SIM_OK) {
        snprintf(why, cap, "invariant violated: %s", sim_fail_msg(s));
        rc = 1;
    }
    sim_free(s);
    return rc;
}

static struct sim *mk(FILE *trace, uint64_t seed, int nodes, int slots, bool pre_vote, bool cq)
{
    struct sim_opts o;
    sim_opts_default(&o, seed, nodes);
    o.slots = slots;
    o.pre_vote = pre_vote;
    o.check_quorum = cq;
    o.trace = trace;
    o.trace_core = sim_scenario_trace_core;
    return sim_new(&o);
}

/* Thesis §4.2.3 (pitfall #4): a follower that heard from a leader within the
 * election timeout ignores vote requests. Before a scripted election, tick
 * every other follower through one election timeout so it forgets its
 * leader. A follower whose randomized timeout is exactly that long starts an
 * election of its own; its requests are dropped (it only gained a term). */
static void expire_leases(struct sim *s, int except)
{
    unsigned et = sim_opts(s)->election_ticks;
    for (int id = 1; id <= sim_opts(s)->slots; id++) {
        if (id == except || !sim_up(s, id) || sim_state(s, id) != RAFT_FOLLOWER)
            continue;
        for (unsigned i = 0; i < et && sim_state(s, id) == RAFT_FOLLOWER; i++)
            sim_tick(s, id);
        sim_drop(s, M(id, SIM_ANY, RAFT_MSG_PREVOTE));
        sim_drop(s, M(id, SIM_ANY, RAFT_MSG_VOTE));
    }
}

/* Tick `id` alone until it starts an election (state leaves follower or its
 * term grows), after letting the others forget their leader. */
static bool campaign(struct sim *s, int id)
{
    expire_leases(s, id);
    uint64_t t0 = sim_term(s, id);
    enum raft_state s0 = sim_state(s, id);
    for (unsigned i = 0; i < 4 * sim_opts(s)->election_ticks && sim_failed(s) == SIM_OK; i++) {
        sim_tick(s, id);
        enum raft_state st = sim_state(s, id);
        if (sim_term(s, id) > t0 || (st != s0 && st != RAFT_FOLLOWER))
            return true;
    }
    return false;
}

/* Deliver election traffic only (pre-votes, votes and their answers). */
static void deliver_votes(struct sim *s)
{
    static const int types[] = {RAFT_MSG_PREVOTE, RAFT_MSG_PREVOTE_RESP, RAFT_MSG_VOTE,
                                RAFT_MSG_VOTE_RESP};
    for (int moved = 1; moved && sim_failed(s) == SIM_OK;) {
        moved = 0;
        for (size_t i = 0; i < 4; i++)
            moved += sim_deliver(s, M(SIM_ANY, SIM_ANY, types[i]));
    }
}

/* Campaign at `id` until it leads (at most `attempts` elections). */
static bool win(struct sim *s, int id, int attempts)
{
    for (int a = 0; a < attempts && sim_failed(s) == SIM_OK; a++) {
        if (sim_state(s, id) == RAFT_LEADER)
            return true;
        campaign(s, id);
        deliver_votes(s);
    }
    return sim_state(s, id) == RAFT_LEADER;
}

/* Deliver everything and sync every disk until nothing moves, or until
 * `budget` deliveries and syncs; true if the cluster went quiet. A few
 * hundred events settle any step of these scripts: a budget that runs out
 * means messages that cause each other without end (a reject ping-pong). */
static bool quiet(struct sim *s, int budget)
{
    while (budget > 0 && sim_failed(s) == SIM_OK) {
        int moved = sim_deliver_all(s, budget);
        for (int id = 1; id <= sim_opts(s)->slots; id++)
            moved += sim_sync_all(s, id);
        if (!moved)
            return true;
        budget -= moved;
    }
    return false;
}

static void settle(struct sim *s)
{
    quiet(s, 20000);
}

/* A few heartbeat rounds from the leader so followers learn the commit index. */
static void heartbeat(struct sim *s, int leader)
{
    for (unsigned i = 0; i < sim_opts(s)->heartbeat_ticks; i++)
        sim_tick(s, leader);
    settle(s);
}

/* ---- item 3: Figure 8 ------------------------------------------------------------- */
static int sc_figure8(FILE *trace, char *why, size_t cap)
{
    int rc = 0;
    struct sim_opts o;
    sim_opts_default(&o, 8, 5);
    o.pre_vote = false;
    o.check_quorum = false;
    o.max_msg_bytes = 1; /* one entry per APPEND, so the script can split replication */
    o.trace = trace;
    o.trace_core = sim_scenario_trace_core;
    struct sim *s = sim_new(&o);
    uint64_t k, t1, t5, t1b;

    EXPECT(win(s, 1, 3), "n1 did not win the first election");
    settle(s);
    t1 = sim_term(s, 1);
    /* (a) n1 puts X at k on n1 and n2 only, then crashes */
    EXPECT(sim_propose(s, 1, &k) == 0, "propose at n1 refused");
    EXPECT(sim_deliver(s, M(1, 2, RAFT_MSG_APPEND)), "no APPEND n1->n2");
    sim_drop(s, M(1, SIM_ANY, RAFT_MSG_APPEND));
    settle(s);
    EXPECT(sim_max_committed(s) < k, "X committed on 2 of 5");
    sim_crash(s, 1);
    /* (b) n5 wins with n3, n4 and appends its own entry at k; crashes */
    EXPECT(win(s, 5, 6), "n5 did not win term 2");
    t5 = sim_term(s, 5);
    EXPECT(sim_log_term(s, 5, k) == t5, "n5 has no entry of its own term at k");
    sim_drop(s, M(5, SIM_ANY, SIM_ANY));
    sim_crash(s, 5);
    /* (c) n1 returns and wins a later term with n2, n3 */
    EXPECT(sim_restart(s, 1) == 0, "restart n1");
    EXPECT(win(s, 1, 6), "n1 did not win a term after n5's");
    t1b = sim_term(s, 1);
    EXPECT(t1b > t5, "n1's term %" PRIu64 " not above n5's %" PRIu64, t1b, t5);
    /* replicate only entry k (term t1) to n3: never anything of n1's new term */
    for (int guard = 0; guard < 200 && sim_failed(s) == SIM_OK; guard++) {
        struct raft_msg m;
        if (!sim_peek(s, M(SIM_ANY, SIM_ANY, SIM_ANY), &m))
            break;
        /* to n3: anything up to k, or what n3 must reject (it lacks the
         * previous entry), so the leader backs up to k; n2 (which has k) may
         * take n1's no-op and ack, so the leader knows k is on n1, n2, n3;
         * nothing to n4, n5 */
        bool to_n3 = m.to == 3 && (m.index + m.n_entries <= k || sim_last_index(s, 3) < m.index);
        if (m.type == RAFT_MSG_APPEND && !to_n3 && m.to != 2)
            sim_drop_first(s, M((int)m.from, (int)m.to, RAFT_MSG_APPEND));
        else
            sim_deliver(s, M((int)m.from, (int)m.to, (int)m.type));
    }
    EXPECT(sim_log_term(s, 3, k) == t1,
           "setup: n3 did not receive X (term %" PRIu64 ") at %" PRIu64, t1, k);
    EXPECT(sim_log_term(s, 2, k + 1) == t1b, "setup: n2 did not take n1's no-op");
    /* X (term t1) is now on n1, n2, n3: a majority, but not of n1's term */
    EXPECT(sim_commit(s, 1) < k && sim_max_committed(s) < k,
           "n1 committed an entry of an earlier term by counting replicas (commit=%" PRIu64 ")",
           sim_commit(s, 1));
    /* (d) n1 crashes; n5 wins with n2, n3, n4 and overwrites k everywhere */
    sim_drop(s, M(1, SIM_ANY, SIM_ANY));
    sim_crash(s, 1);
    EXPECT(sim_restart(s, 5) == 0, "restart n5");
    EXPECT(win(s, 5, 8), "n5 did not win after n1's crash");
    settle(s);
    heartbeat(s, 5);
    EXPECT(sim_committed_term(s, k) == t5,
           "index %" PRIu64 " committed with term %" PRIu64 ", expected n5's entry (term %" PRIu64
           ")",
           k, sim_committed_term(s, k), t5);
    EXPECT(sim_restart(s, 1) == 0, "restart n1");
    heartbeat(s, 5);
    heartbeat(s, 5);
    EXPECT(sim_log_term(s, 1, k) == t5, "n1 kept X at %" PRIu64, k);
out:
    return finish(s, rc, why, cap);
}

/* ---- item 1 ------------------------------------------------------------------------ */
static int sc_vote_lost(FILE *trace, char *why, size_t cap)
{
    int rc = 0;
    struct sim *s = mk(trace, 1, 3, 3, false, false);
    uint64_t t;
    struct raft_status st;

    EXPECT(win(s, 1, 3), "n1 did not win");
    settle(s);
    /* n3 asks n2 for its vote; n2's write of (term, vote) is pending */
    sim_set_disk_mode(s, 2, SIM_DISK_MANUAL);
    EXPECT(campaign(s, 3), "n3 did not campaign");
    t = sim_term(s, 3);
    sim_drop(s, M(3, 1, SIM_ANY));
    EXPECT(sim_deliver(s, M(3, 2, RAFT_MSG_VOTE)), "no VOTE n3->n2");
    EXPECT(sim_net_count(s, M(2, 3, RAFT_MSG_VOTE_RESP)) == 0,
           "n2's vote left before its hard state was durable");
    /* crash: the vote and its reply are lost together */
    sim_crash(s, 2);
    sim_set_disk_mode(s, 2, SIM_DISK_IMMEDIATE);
    EXPECT(sim_restart(s, 2) == 0, "restart n2");
    EXPECT(sim_term(s, 2) < t, "n2 restored a term it never made durable");
    /* n1 (deposed by nothing, but now campaigning) may win term t with n2 */
    sim_drop(s, M(SIM_ANY, SIM_ANY, SIM_ANY));
    for (int a = 0; a < 4 && sim_term(s, 1) < t; a++)
        campaign(s, 1);
    deliver_votes(s);
    settle(s);

    /* durable variant: the vote is synced, its reply lost; after a restart n2
     * must still refuse a different candidate in that term */
    sim_set_disk_mode(s, 2, SIM_DISK_MANUAL);
    EXPECT(campaign(s, 3), "n3 did not campaign again");
    t = sim_term(s, 3);
    sim_drop(s, M(3, 1, SIM_ANY));
    EXPECT(sim_deliver(s, M(3, 2, RAFT_MSG_VOTE)), "no VOTE n3->n2 (2)");
    sim_status(s, 2, &st);
    bool granted = st.vote == 3 && st.term == t;
    sim_sync_all(s, 2);
    sim_drop(s, M(2, SIM_ANY, SIM_ANY));
    sim_crash(s, 2);
    sim_set_disk_mode(s, 2, SIM_DISK_IMMEDIATE);
    EXPECT(sim_restart(s, 2) == 0, "restart n2 (2)");
    sim_status(s, 2, &st);
    EXPECT(st.term == t, "n2 restarted in term %" PRIu64 ", expected %" PRIu64, st.term, t);
    EXPECT(!granted || st.vote == 3, "n2 forgot its durable vote (vote=%" PRIu64 ")", st.vote);
    /* a hand-made competing request in the same term */
    struct raft_msg v;
    memset(&v, 0, sizeof v);
    v.type = RAFT_MSG_VOTE;
    v.from = 1;
    v.to = 2;
    v.term = t;
    v.index = 1000000;
    v.log_term = t;
    sim_inject(s, &v);
    struct raft_msg resp;
    if (granted && sim_peek(s, M(2, 1, RAFT_MSG_VOTE_RESP), &resp))
        EXPECT(resp.reject, "n2 granted a second vote in term %" PRIu64, t);
    settle(s);
out:
    return finish(s, rc, why, cap);
}

/* ---- item 2 ------------------------------------------------------------------------ */
static int sc_stale_reply(FILE *trace, char *why, size_t cap)
{
    int rc = 0;
    struct sim *s = mk(trace, 2, 3, 3, false, false);
    uint64_t t2, a;
    struct raft_msg m;

    EXPECT(win(s, 1, 3), "n1 did not win");
    settle(s);
    sim_isolate(s, 1, true);
    EXPECT(sim_propose(s, 1, NULL) == 0, "isolated leader refused a proposal");
    EXPECT(win(s, 2, 4), "n2 did not win while n1 is cut off");
    settle(s);
    t2 = sim_term(s, 2);
    sim_isolate(s, 1, false);
    sim_drop(s, M(SIM_ANY, SIM_ANY, SIM_ANY));
    /* n1 still believes it leads; its next heartbeat reaches n3 only */
    for (unsigned i = 0; i < 2 * sim_opts(s)->heartbeat_ticks; i++)
        sim_tick(s, 1);
    EXPECT(sim_state(s, 1) == RAFT_LEADER, "setup: n1 stepped down on its own");
    sim_drop(s, M(1, 2, SIM_ANY));
    int n = 0;
    while (sim_deliver(s, M(1, 3, SIM_ANY)))
        n++;
    EXPECT(n > 0, "n1 sent nothing to n3");
    sim_drop(s, M(3, 2, SIM_ANY));
    EXPECT(sim_peek(s, M(3, 1, SIM_ANY), &m), "n3 did not answer n1");
    EXPECT(m.term >= t2, "n3 answered with term %" PRIu64 " below its own %" PRIu64, m.term, t2);
    sim_deliver(s, M(3, 1, SIM_ANY));
    EXPECT(sim_state(s, 1) == RAFT_FOLLOWER && sim_term(s, 1) >= t2,
           "n1 did not step down on a reply with a higher term (state %d term %" PRIu64 ")",
           (int)sim_state(s, 1), sim_term(s, 1));
    EXPECT(sim_propose(s, 1, NULL) == CN_EAGAIN, "deposed n1 still accepts proposals");
    settle(s);
    heartbeat(s, 2);

    /* a vote granted for an earlier election must not count in a later one */
    EXPECT(campaign(s, 1), "n1 did not campaign");
    a = sim_term(s, 1);
    /* (n3, a follower that forgot its leader; the leader n2 itself would ignore
     * the request while its own lease runs) */
    sim_drop(s, M(1, 2, SIM_ANY));
    EXPECT(sim_deliver(s, M(1, 3, RAFT_MSG_VOTE)), "no VOTE n1->n3");
    EXPECT(sim_peek(s, M(3, 1, RAFT_MSG_VOTE_RESP), &m), "n3 did not answer");
    if (!m.reject) {
        /* hold the grant; n1 times out and starts term a+1 */
        sim_dup(s, M(3, 1, RAFT_MSG_VOTE_RESP));
        sim_drop_first(s, M(3, 1, RAFT_MSG_VOTE_RESP));
        EXPECT(campaign(s, 1), "n1 did not start a new election");
        EXPECT(sim_term(s, 1) > a, "n1's term did not grow");
        sim_drop(s, M(1, SIM_ANY, SIM_ANY));
        EXPECT(sim_deliver(s, M(3, 1, RAFT_MSG_VOTE_RESP)), "lost the held grant");
        EXPECT(sim_state(s, 1) != RAFT_LEADER,
               "n1 counted a vote from term %" PRIu64 " in term %" PRIu64, a, sim_term(s, 1));
    }
    settle(s);
out:
    return finish(s, rc, why, cap);
}

/* ---- item 8 ------------------------------------------------------------------------ */
static int sc_append_stale_prefix(FILE *trace, char *why, size_t cap)
{
    int rc = 0;
    struct sim *s = mk(trace, 3, 3, 3, true, true);
    uint64_t idx[5], last2;

    EXPECT(win(s, 1, 3), "n1 did not win");
    settle(s);
    for (int i = 0; i < 5; i++)
        EXPECT(sim_propose(s, 1, &idx[i]) == 0, "propose %d refused", i);
    sim_drop(s, M(1, 3, SIM_ANY));
    /* keep a copy of the first APPEND (a prefix) for later */
    EXPECT(sim_dup(s, M(1, 2, RAFT_MSG_APPEND)), "no APPEND n1->n2");
    int appends = (int)sim_net_count(s, M(1, 2, RAFT_MSG_APPEND));
    for (int i = 0; i < appends - 1; i++)
        sim_deliver(s, M(1, 2, RAFT_MSG_APPEND));
    while (sim_deliver(s, M(2, 1, SIM_ANY)))
        ;
    sim_drop(s, M(1, 3, SIM_ANY));
    EXPECT(sim_commit(s, 1) >= idx[4], "n1 did not commit %" PRIu64 " with n2 (commit %" PRIu64 ")",
           idx[4], sim_commit(s, 1));
    last2 = sim_last_index(s, 2);
    /* now the stale prefix arrives */
    EXPECT(sim_net_count(s, M(1, 2, RAFT_MSG_APPEND)) >= 1, "lost the duplicate");
    sim_deliver(s, M(1, 2, RAFT_MSG_APPEND));
    EXPECT(sim_last_index(s, 2) == last2,
           "n2 truncated its log from %" PRIu64 " to %" PRIu64 " on a stale prefix", last2,
           sim_last_index(s, 2));
    while (sim_deliver(s, M(2, 1, SIM_ANY)))
        ;
    /* the leader dies; n2 must win and keep everything */
    sim_drop(s, M(1, SIM_ANY, SIM_ANY));
    sim_crash(s, 1);
    EXPECT(win(s, 2, 6), "n2 did not win");
    settle(s);
    heartbeat(s, 2);
    for (int i = 0; i < 5; i++)
        EXPECT(sim_committed_term(s, idx[i]) != 0, "entry %" PRIu64 " lost", idx[i]);
out:
    return finish(s, rc, why, cap);
}

/* ---- item 12 ----------------------------------------------------------------------- */
static int sc_leader_fsync(FILE *trace, char *why, size_t cap)
{
    int rc = 0;
    struct sim *s = mk(trace, 4, 3, 3, false, false);
    uint64_t k, t3, y;

    EXPECT(win(s, 1, 3), "n1 did not win");
    settle(s);
    sim_set_disk_mode(s, 1, SIM_DISK_MANUAL);
    EXPECT(sim_propose(s, 1, &k) == 0, "propose refused");
    EXPECT(sim_deliver(s, M(1, 2, RAFT_MSG_APPEND)),
           "leader held its APPEND until its own fsync (allowed, but then this scenario "
           "cannot run)");
    sim_drop(s, M(1, 3, SIM_ANY));
    while (sim_deliver(s, M(2, 1, SIM_ANY)))
        ;
    EXPECT(sim_commit(s, 1) < k && sim_max_committed(s) < k,
           "n1 committed %" PRIu64 " before its own write was durable", k);
    /* the leader's copy dies with it */
    sim_drop(s, M(1, SIM_ANY, SIM_ANY));
    sim_crash(s, 1);
    sim_set_disk_mode(s, 1, SIM_DISK_IMMEDIATE);
    EXPECT(sim_restart(s, 1) == 0, "restart n1");
    EXPECT(sim_last_index(s, 1) < k, "n1 kept an entry it never synced");
    EXPECT(win(s, 3, 6), "n3 did not win with n1's vote");
    t3 = sim_term(s, 3);
    settle(s);
    heartbeat(s, 3);
    EXPECT(sim_committed_term(s, k) == t3, "index %" PRIu64 " not n3's entry", k);

    /* positive half: the commit waits for the leader's sync, then happens */
    sim_set_disk_mode(s, 3, SIM_DISK_MANUAL);
    EXPECT(sim_propose(s, 3, &y) == 0, "propose at n3 refused");
    sim_drop(s, M(3, 2, SIM_ANY)); /* only n1 acks: n3 must count itself */
    sim_deliver_all(s, 1000);
    EXPECT(sim_max_committed(s) < y, "n3 committed before its own write was durable");
    sim_sync_all(s, 3);
    sim_set_disk_mode(s, 3, SIM_DISK_IMMEDIATE);
    settle(s);
    EXPECT(sim_committed_term(s, y) == t3, "n3 did not commit %" PRIu64 " after its sync", y);
out:
    return finish(s, rc, why, cap);
}

/* ---- item 13 ----------------------------------------------------------------------- */
static int sc_aba(FILE *trace, char *why, size_t cap)
{
    int rc = 0;
    struct sim *s = mk(trace, 5, 3, 3, false, false);
    uint64_t k, t, t3;

    EXPECT(win(s, 2, 3), "n2 did not win");
    settle(s);
    t = sim_term(s, 2);
    sim_set_disk_mode(s, 1, SIM_DISK_MANUAL);
    sim_set_disk_mode(s, 2, SIM_DISK_MANUAL);
    EXPECT(sim_propose(s, 2, &k) == 0, "propose refused");
    EXPECT(sim_deliver(s, M(2, 1, RAFT_MSG_APPEND)), "no early APPEND n2->n1");
    EXPECT(sim_log_term(s, 1, k) == t, "n1 did not take E at %" PRIu64, k);
    sim_drop(s, M(2, SIM_ANY, SIM_ANY));
    sim_crash(s, 2); /* E was never durable on n2 */
    sim_set_disk_mode(s, 2, SIM_DISK_IMMEDIATE);
    EXPECT(sim_restart(s, 2) == 0, "restart n2");
    /* n3 wins term t+1 with n2 and overwrites index k on n1 (first write pending) */
    EXPECT(campaign(s, 3), "n3 did not campaign");
    sim_drop(s, M(3, 1, RAFT_MSG_VOTE));
    deliver_votes(s);
    EXPECT(sim_state(s, 3) == RAFT_LEADER, "n3 did not win with n2's vote");
    t3 = sim_term(s, 3);
    for (int g = 0; g < 10 && sim_log_term(s, 1, k) != t3; g++)
        if (!sim_deliver(s, M(3, 1, RAFT_MSG_APPEND)))
            break;
    EXPECT(sim_log_term(s, 1, k) == t3,
           "setup: n3's APPENDs did not overwrite index %" PRIu64 " on n1 before n1 answered", k);
    EXPECT(sim_pending_writes(s, 1) >= 2, "setup: n1 has %zu pending writes",
           sim_pending_writes(s, 1));
    /* the first write (E, term t) completes: it must not count for (k, t3) */
    sim_sync_one(s, 1);
    while (sim_deliver(s, M(1, 3, SIM_ANY)))
        ;
    EXPECT(sim_commit(s, 3) < k, "n3 committed %" PRIu64 " counting n1's stale write", k);
    /* the rest completes: now it commits */
    sim_sync_all(s, 1);
    sim_set_disk_mode(s, 1, SIM_DISK_IMMEDIATE);
    settle(s);
    heartbeat(s, 3);
    EXPECT(sim_committed_term(s, k) == t3, "index %" PRIu64 " not committed with term %" PRIu64, k,
           t3);
out:
    return finish(s, rc, why, cap);
}

/* ---- items 6-7 --------------------------------------------------------------------- */
static int partition_heal(FILE *trace, char *why, size_t cap, bool pre_vote)
{
    int rc = 0;
    struct sim *s = mk(trace, 6, 3, 3, pre_vote, true);
    unsigned et = sim_opts(s)->election_ticks;
    int leader = 0;

    for (unsigned i = 0; i < 4 * et && !(leader = sim_leader(s)); i++)
        sim_run_manual(s, 1);
    EXPECT(leader, "no leader elected");
    sim_run_manual(s, 2);
    leader = sim_leader(s);
    int iso = leader == 3 ? 2 : 3;
    uint64_t lterm = sim_term(s, leader);
    sim_isolate(s, iso, true);
    sim_run_manual(s, (int)(6 * et));
    EXPECT(sim_leader(s) == leader, "the majority lost its leader while n%d was cut off", iso);
    if (pre_vote)
        EXPECT(sim_term(s, iso) == lterm,
               "with PreVote the isolated n%d inflated its term to %" PRIu64, iso,
               sim_term(s, iso));
    else
        EXPECT(sim_term(s, iso) > lterm, "setup: isolated n%d did not inflate its term", iso);
    uint64_t elected = sim_leaders_elected(s);
    sim_isolate(s, iso, false);
    sim_run_manual(s, (int)(4 * et));
    int now_leader = sim_leader(s);
    EXPECT(now_leader, "no leader after healing");
    EXPECT(sim_leaders_elected(s) - elected <= 1, "leadership changed %" PRIu64 " times",
           sim_leaders_elected(s) - elected);
    if (pre_vote)
        EXPECT(now_leader == leader && sim_term(s, leader) == lterm,
               "with PreVote the rejoining node disrupted the leader");
    uint64_t i;
    EXPECT(sim_propose(s, now_leader, &i) == 0, "proposal refused after healing");
    sim_run_manual(s, 3);
    EXPECT(sim_committed_term(s, i) != 0, "nothing commits after healing");
    EXPECT(sim_applied(s, iso) >= i, "n%d did not catch up (applied %" PRIu64 " < %" PRIu64 ")",
           iso, sim_applied(s, iso), i);
out:
    return finish(s, rc, why, cap);
}

static int sc_heal_inflated(FILE *trace, char *why, size_t cap)
{
    return partition_heal(trace, why, cap, false);
}

static int sc_heal_prevote(FILE *trace, char *why, size_t cap)
{
    return partition_heal(trace, why, cap, true);
}

/* ---- item 20 ----------------------------------------------------------------------- */
static int sc_add_remove_race(FILE *trace, char *why, size_t cap)
{
    int rc = 0;
    struct sim_opts o;
    sim_opts_default(&o, 7, 4);
    o.slots = 5;
    o.pre_vote = false;
    o.check_quorum = true;
    o.trace = trace;
    o.trace_core = sim_scenario_trace_core;
    struct sim *s = sim_new(&o);
    uint64_t c5, cm;

    EXPECT(win(s, 1, 3), "n1 did not win");
    settle(s);
    EXPECT(sim_propose_conf(s, 1, RAFT_CC_ADD_LEARNER, 5, NULL) == 0, "add learner n5 refused");
    settle(s);
    heartbeat(s, 1);
    EXPECT(sim_applied(s, 5) == sim_applied(s, 1),
           "learner n5 did not catch up (applied %" PRIu64 " vs %" PRIu64 ")", sim_applied(s, 5),
           sim_applied(s, 1));
    /* C+5 reaches n5 only */
    EXPECT(sim_propose_conf(s, 1, RAFT_CC_PROMOTE, 5, &c5) == 0, "promote n5 refused");
    sim_drop(s, M(1, 2, SIM_ANY));
    sim_drop(s, M(1, 3, SIM_ANY));
    sim_drop(s, M(1, 4, SIM_ANY));
    settle(s);
    EXPECT(sim_max_committed(s) < c5, "C+5 committed on {1,5}");
    /* n1 and n5 are cut off; n2 wins term 2 with n3 and n4 */
    sim_partition(s, (1u << 1) | (1u << 5));
    EXPECT(win(s, 2, 4), "n2 did not win");
    int r = sim_propose_conf(s, 2, RAFT_CC_REMOVE, 1, &cm);
    if (r == 0) {
        /* the bug's path: C-1 commits on {2,3} before the no-op */
        sim_drop(s, M(2, 4, SIM_ANY));
        settle(s);
        sim_heal(s);
        sim_drop(s, M(2, 4, SIM_ANY));
        win(s, 1, 6);
        settle(s);
        EXPECT(0, "n2 accepted a configuration change before committing an entry of its term "
                  "(raft-dev 2015)");
    }
    settle(s);
    heartbeat(s, 2);
    EXPECT(sim_propose_conf(s, 2, RAFT_CC_REMOVE, 1, &cm) == 0,
           "remove n1 refused after the no-op committed");
    settle(s);
    heartbeat(s, 2);
    EXPECT(sim_committed_term(s, cm) != 0, "C-1 did not commit");
    /* n1 returns with C+5 in its log; n4 has term-2 entries and refuses it */
    sim_heal(s);
    sim_isolate(s, 2, true);
    sim_isolate(s, 3, true);
    /* CheckQuorum: the old leader notices it lost its quorum and steps down */
    for (unsigned i = 0; i < 3 * o.election_ticks && sim_state(s, 1) == RAFT_LEADER; i++)
        sim_tick(s, 1);
    EXPECT(sim_state(s, 1) != RAFT_LEADER, "cut-off n1 never stepped down");
    sim_drop(s, M(1, SIM_ANY, SIM_ANY));
    for (int a = 0; a < 4; a++) {
        campaign(s, 1);
        deliver_votes(s);
        EXPECT(sim_state(s, 1) != RAFT_LEADER, "removed n1 won an election with C+5");
    }
out:
    return finish(s, rc, why, cap);
}

/* ---- item 26 ----------------------------------------------------------------------- */
static int sc_readindex(FILE *trace, char *why, size_t cap)
{
    int rc = 0;
    struct sim *s = mk(trace, 9, 3, 3, false, false);
    uint64_t k, ctx, ctx_old, at;

    EXPECT(win(s, 1, 3), "n1 did not win");
    settle(s);
    EXPECT(sim_propose(s, 1, &k) == 0, "propose refused");
    while (sim_deliver(s, M(1, SIM_ANY, RAFT_MSG_APPEND)))
        ;
    while (sim_deliver(s, M(SIM_ANY, 1, RAFT_MSG_APPEND_RESP)))
        ;
    EXPECT(sim_committed_term(s, k) != 0, "n1 did not commit %" PRIu64, k);
    EXPECT(sim_commit(s, 3) < k, "setup: n3 learned the commit");
    /* n1 is cut off; n3 wins and gets a read before its no-op commits */
    sim_isolate(s, 1, true);
    sim_drop(s, M(SIM_ANY, SIM_ANY, SIM_ANY));
    EXPECT(win(s, 3, 4), "n3 did not win");
    int r = sim_read_index(s, 3, &ctx);
    EXPECT(r == 0 || r == CN_EAGAIN, "read_index at the new leader -> %d", r);
    EXPECT(!sim_read_answered(s, ctx, NULL), "n3 answered a read before committing its no-op");
    settle(s);
    for (int i = 0; i < 3; i++)
        heartbeat(s, 3);
    if (r != 0) {
        EXPECT(sim_read_index(s, 3, &ctx) == 0, "read refused after the no-op committed");
        settle(s);
        heartbeat(s, 3);
    }
    EXPECT(sim_read_answered(s, ctx, &at), "read never answered");
    EXPECT(at >= k, "read answered at %" PRIu64 " below committed %" PRIu64, at, k);
    /* the deposed leader must not answer */
    r = sim_read_index(s, 1, &ctx_old);
    for (int i = 0; i < 5; i++)
        heartbeat(s, 1);
    EXPECT(!sim_read_answered(s, ctx_old, NULL), "isolated old leader answered a read");
out:
    return finish(s, rc, why, cap);
}

/* ---- item 28 ----------------------------------------------------------------------- */
static int sc_transfer(FILE *trace, char *why, size_t cap)
{
    int rc = 0;
    struct sim *s = mk(trace, 10, 3, 3, true, true);
    unsigned et = sim_opts(s)->election_ticks;
    int leader = 0, to;

    for (unsigned i = 0; i < 4 * et && !(leader = sim_leader(s)); i++)
        sim_run_manual(s, 1);
    EXPECT(leader, "no leader elected");
    sim_run_manual(s, 2);
    leader = sim_leader(s);
    to = leader % 3 + 1;
    EXPECT(sim_transfer(s, leader, to) == 0, "transfer refused");
    EXPECT(sim_propose(s, leader, NULL) == CN_EAGAIN, "proposal accepted during a transfer");
    /* TimeoutNow is lost: the transfer must give up within about an election timeout */
    bool resumed = false;
    for (unsigned i = 0; i < 3 * et && !resumed; i++) {
        sim_tick_all(s);
        sim_deliver_all_except(s, 100000, RAFT_MSG_TIMEOUT_NOW);
        resumed = sim_propose(s, leader, NULL) == 0;
    }
    EXPECT(resumed, "proposals still refused 3 election timeouts after a lost TimeoutNow");
    EXPECT(sim_leader(s) == leader, "leadership moved without TimeoutNow");
    /* under load, the transfer succeeds */
    EXPECT(sim_transfer(s, leader, to) == 0, "second transfer refused");
    for (unsigned i = 0; i < 3 * et && sim_leader(s) != to; i++) {
        sim_run_manual(s, 1);
        int l = sim_leader(s);
        if (l)
            sim_propose(s, l, NULL);
    }
    EXPECT(sim_leader(s) == to, "n%d did not take over (leader n%d)", to, sim_leader(s));
    /* a late TimeoutNow, delivered after the abort */
    int third = to % 3 + 1;
    EXPECT(sim_transfer(s, to, third) == 0, "third transfer refused");
    for (unsigned i = 0; i < 4 * et; i++) {
        sim_tick(s, to);
        sim_dup(s, M(to, third, RAFT_MSG_TIMEOUT_NOW));
        sim_drop_first(s, M(to, third, RAFT_MSG_TIMEOUT_NOW));
        /* keep everything else moving */
        struct raft_msg m;
        while (sim_peek(s, M(SIM_ANY, SIM_ANY, SIM_ANY), &m) && m.type != RAFT_MSG_TIMEOUT_NOW)
            sim_deliver(s, M((int)m.from, (int)m.to, (int)m.type));
    }
    settle(s);
    sim_run_manual(s, (int)(3 * et));
    int l = sim_leader(s);
    EXPECT(l, "no leader after a late TimeoutNow");
    uint64_t i;
    EXPECT(sim_propose(s, l, &i) == 0, "proposal refused after a late TimeoutNow");
    sim_run_manual(s, 3);
    EXPECT(sim_committed_term(s, i) != 0, "nothing commits after a late TimeoutNow");
out:
    return finish(s, rc, why, cap);
}

/* ---- item 24 ----------------------------------------------------------------------- */
static int sc_remove_leader(FILE *trace, char *why, size_t cap)
{
    int rc = 0;
    struct sim *s = mk(trace, 11, 3, 3, true, true);
    unsigned et = sim_opts(s)->election_ticks;
    uint64_t c;

    EXPECT(win(s, 1, 3), "n1 did not win");
    settle(s);
    heartbeat(s, 1);
    /* n3's acks are lost: C_new = {2,3} must not commit on {1,2} */
    EXPECT(sim_propose_conf(s, 1, RAFT_CC_REMOVE, 1, &c) == 0, "remove leader refused");
    sim_block(s, 3, 1, true);
    settle(s);
    heartbeat(s, 1);
    EXPECT(sim_committed_term(s, c) == 0, "C_new committed counting the removed leader");
    sim_heal(s);
    heartbeat(s, 1);
    EXPECT(sim_committed_term(s, c) != 0, "C_new did not commit once n3 answers");
    int l = 0;
    for (unsigned i = 0; i < 6 * et && ((l = sim_leader(s)) == 0 || l == 1); i++) {
        sim_tick(s, 2);
        sim_tick(s, 3);
        if (sim_state(s, 1) == RAFT_LEADER)
            sim_tick(s, 1);
        settle(s);
    }
    EXPECT(l == 2 || l == 3, "no leader in {2,3} after removing n1 (leader n%d)", l);
    uint64_t i;
    EXPECT(sim_propose(s, l, &i) == 0, "proposal refused");
    heartbeat(s, l);
    EXPECT(sim_committed_term(s, i) != 0, "{2,3} cannot commit");
out:
    return finish(s, rc, why, cap);
}

/* ---- items 17-19, 25 --------------------------------------------------------------- */
static int sc_learner_snapshot(FILE *trace, char *why, size_t cap)
{
    int rc = 0;
    struct sim *s = mk(trace, 12, 3, 4, true, true);
    uint64_t i, pc;

    EXPECT(win(s, 1, 3), "n1 did not win");
    settle(s);
    for (int k = 0; k < 20; k++)
        EXPECT(sim_propose(s, 1, &i) == 0, "propose refused");
    settle(s);
    heartbeat(s, 1);
    for (int id = 1; id <= 3; id++)
        EXPECT(sim_take_snapshot(s, id, 0) == 0, "snapshot at n%d refused", id);
    /* n4 joins an already compacted log: it needs the snapshot */
    EXPECT(sim_propose_conf(s, 1, RAFT_CC_ADD_LEARNER, 4, NULL) == 0, "add learner refused");
    for (int k = 0; k < 4; k++)
        heartbeat(s, 1);
    EXPECT(sim_applied(s, 4) == sim_applied(s, 1), "learner n4 applied %" PRIu64 " of %" PRIu64,
           sim_applied(s, 4), sim_applied(s, 1));
    EXPECT(sim_propose_conf(s, 1, RAFT_CC_PROMOTE, 4, &pc) == 0, "promote refused");
    heartbeat(s, 1);
    heartbeat(s, 1);
    EXPECT(sim_committed_term(s, pc) != 0, "promotion did not commit");
    /* restart a compacted node: configuration and state come from the snapshot */
    sim_crash(s, 2);
    EXPECT(sim_restart(s, 2) == 0, "restart n2");
    struct raft_status st;
    sim_status(s, 2, &st);
    EXPECT(raft_conf_find(&st.conf, 4) != NULL, "restarted n2 lost n4 from its configuration");
    /* the leader goes; {2,3,4} elect and commit */
    sim_crash(s, 1);
    EXPECT(win(s, 4, 6), "promoted n4 could not win");
    EXPECT(sim_propose(s, 4, &i) == 0, "propose at n4 refused");
    settle(s);
    heartbeat(s, 4);
    EXPECT(sim_committed_term(s, i) != 0, "n4 cannot commit");
out:
    return finish(s, rc, why, cap);
}

/* ---- the bounded log window ---------------------------------------------------------- */
/* A follower down while the leader commits far more entries than its
 * in-memory window holds comes back and is sent the missing entries: read
 * back from the leader's disk (compact = false), or, when the leader's disk
 * no longer has them (a snapshot compacted them, compact = true), through
 * the snapshot. Catching up must never lose an acknowledged entry (the
 * checks run after every event). */
static int window_catch_up(FILE *trace, char *why, size_t cap, bool compact)
{
    int rc = 0;
    struct sim_opts o;
    sim_opts_default(&o, compact ? 16 : 14, 3); /* even: compact_keep_bytes 0 */
    o.max_msg_bytes = 64;                       /* a few entries per APPEND: many round trips */
    o.log_window_entries = 4;
    o.trace = trace;
    o.trace_core = sim_scenario_trace_core;
    struct sim *s = sim_new(&o);
    uint64_t i = 0;

    EXPECT(win(s, 1, 3), "n1 did not win");
    settle(s);
    for (int k = 0; k < 200; k++) {
        if (k == 100) {
            heartbeat(s, 1);
            sim_crash(s, 3);
        }
        EXPECT(sim_propose(s, 1, &i) == 0, "propose refused");
        if (k % 16 == 15)
            settle(s);
    }
    settle(s);
    heartbeat(s, 1);
    EXPECT(sim_committed_term(s, i) != 0, "n1 and n2 did not commit %" PRIu64, i);
    struct raft_status st;
    sim_status(s, 1, &st);
    if (compact) {
        /* The core keeps 150 entries behind the snapshot, n3's next among
         * them; the disk keeps none. */
        EXPECT(sim_take_snapshot(s, 1, 150) == 0, "snapshot at n1 refused");
        sim_status(s, 1, &st);
        EXPECT(st.first_index > 1, "n1 did not compact");
    }
    EXPECT(sim_restart(s, 3) == 0, "restart n3");
    for (int k = 0; k < 200 && sim_applied(s, 3) < sim_applied(s, 1); k++)
        heartbeat(s, 1);
    EXPECT(sim_applied(s, 3) == sim_applied(s, 1), "n3 applied %" PRIu64 " of %" PRIu64,
           sim_applied(s, 3), sim_applied(s, 1));
    if (compact) {
        EXPECT(sim_readback_compacted(s, 1) > 0, "n1 never found its read-back compacted");
    } else {
        EXPECT(sim_readback_entries(s, 1) >= 90,
               "n1 read back %" PRIu64 " entries (n3 missed 100, the window holds 4)",
               sim_readback_entries(s, 1));
        EXPECT(sim_readback_compacted(s, 1) == 0, "n1 found a read-back compacted");
    }
    /* The caught-up follower can lead: its own log is complete. */
    sim_crash(s, 1);
    EXPECT(win(s, 3, 6), "n3 could not win after catching up");
    EXPECT(sim_propose(s, 3, &i) == 0, "propose at n3 refused");
    settle(s);
    heartbeat(s, 3);
    EXPECT(sim_committed_term(s, i) != 0, "n3 cannot commit");
out:
    return finish(s, rc, why, cap);
}

static int sc_window_readback(FILE *trace, char *why, size_t cap)
{
    return window_catch_up(trace, why, cap, false);
}

static int sc_window_snapshot(FILE *trace, char *why, size_t cap)
{
    return window_catch_up(trace, why, cap, true);
}

/* ---- item 15 ----------------------------------------------------------------------- */
static int sc_commit_regression(FILE *trace, char *why, size_t cap)
{
    int rc = 0;
    struct sim *s = mk(trace, 13, 3, 4, true, true);
    uint64_t i;

    EXPECT(win(s, 1, 3), "n1 did not win");
    settle(s);
    for (int k = 0; k < 10; k++)
        EXPECT(sim_propose(s, 1, &i) == 0, "propose refused");
    settle(s);
    heartbeat(s, 1);
    EXPECT(sim_commit(s, 3) >= i, "setup: n3 commit %" PRIu64 " < %" PRIu64, sim_commit(s, 3), i);
    sim_crash(s, 3);
    sim_disk_lose_tail(s, 3, i - 4);
    EXPECT(sim_restart(s, 3) == 0, "n3 refused to start with a commit above its log");
    struct raft_status st;
    sim_status(s, 3, &st);
    EXPECT(st.commit <= st.last_index,
           "n3 restored commit %" PRIu64 " above its last index %" PRIu64, st.commit,
           st.last_index);
    EXPECT(sim_applied(s, 3) <= st.last_index, "n3 applied beyond its surviving log");
    /* n3 lost entries it had acknowledged: outside Raft's fault model (§3.8,
     * pitfall #16). The leader's match for n3 stays at i (#10: it is part of
     * the proof of every commit), so n3's rejections at or below it are stale
     * to the leader, and n3 is not repaired under its old ID. What must hold:
     * no storm of APPEND/reject between n1 and n3 (the leader used to resend
     * its probe at once on every such reject, forever), n1 and n2 go on
     * committing, n3 applies nothing it does not hold, and the way out works:
     * remove n3, add a fresh n4 and promote it. */
    EXPECT(sim_propose(s, 1, &i) == 0, "propose refused");
    EXPECT(quiet(s, 2000), "n1 and n3 exchange APPEND/reject without end");
    for (unsigned k = 0; k < 3 * sim_opts(s)->election_ticks; k++) {
        sim_tick(s, 1);
        EXPECT(quiet(s, 200), "a heartbeat tick sets off a message storm with n3");
    }
    EXPECT(sim_state(s, 1) == RAFT_LEADER, "n1 lost its leadership to the damaged n3");
    EXPECT(sim_committed_term(s, i) != 0, "n1 and n2 stopped committing");
    sim_status(s, 3, &st);
    EXPECT(sim_applied(s, 3) <= st.last_index, "n3 applied beyond its log");
    uint64_t c;
    EXPECT(sim_propose_conf(s, 1, RAFT_CC_REMOVE, 3, &c) == 0, "remove n3 refused");
    heartbeat(s, 1);
    EXPECT(sim_committed_term(s, c) != 0, "removing n3 did not commit");
    sim_crash(s, 3);
    EXPECT(sim_propose_conf(s, 1, RAFT_CC_ADD_LEARNER, 4, &c) == 0, "add n4 refused");
    for (int k = 0; k < 3; k++)
        heartbeat(s, 1);
    EXPECT(sim_applied(s, 4) == sim_applied(s, 1), "n4 applied %" PRIu64 " of %" PRIu64,
           sim_applied(s, 4), sim_applied(s, 1));
    EXPECT(sim_propose_conf(s, 1, RAFT_CC_PROMOTE, 4, &c) == 0, "promote n4 refused");
    heartbeat(s, 1);
    heartbeat(s, 1);
    EXPECT(sim_committed_term(s, c) != 0, "promoting n4 did not commit");
    sim_isolate(s, 2, true);
    EXPECT(sim_propose(s, 1, &i) == 0, "propose refused");
    heartbeat(s, 1);
    EXPECT(sim_committed_term(s, i) != 0, "{n1, n4} cannot commit without n2");
out:
    return finish(s, rc, why, cap);
}

/* ---- the server's sequencing rules (src/server/seq.c) ------------------------------ */
/* Item 1, the server's half: a sole voter with a learner is re-elected
 * after a restart. The core flags the election's own update "not before
 * persist", but its next updates (heartbeats, the no-op's successors) are a
 * leader's, flagged msgs_before_persist: the server still holds them while
 * the election's term and vote are being written, or the learner would
 * learn a term the leader could forget in a crash. */
static int sc_new_leader_holds(FILE *trace, char *why, size_t cap)
{
    int rc = 0;
    struct sim *s = mk(trace, 21, 1, 2, false, false);
    uint64_t i;

    EXPECT(win(s, 1, 3), "n1 did not win");
    settle(s);
    EXPECT(sim_propose_conf(s, 1, RAFT_CC_ADD_LEARNER, 2, NULL) == 0, "add learner refused");
    for (int k = 0; k < 3; k++)
        heartbeat(s, 1);
    EXPECT(sim_applied(s, 2) == sim_applied(s, 1), "learner n2 applied %" PRIu64 " of %" PRIu64,
           sim_applied(s, 2), sim_applied(s, 1));
    sim_crash(s, 1);
    sim_set_disk_mode(s, 1, SIM_DISK_MANUAL);
    EXPECT(sim_restart(s, 1) == 0, "restart n1");
    uint64_t t0 = sim_term(s, 1);
    EXPECT(campaign(s, 1), "n1 did not campaign");
    EXPECT(sim_state(s, 1) == RAFT_LEADER && sim_term(s, 1) > t0, "n1 did not lead a new term");
    EXPECT(sim_pending_writes(s, 1) > 0, "n1's election wrote nothing");
    /* heartbeats and a proposal while the election's write is pending */
    for (unsigned k = 0; k < 2 * sim_opts(s)->heartbeat_ticks; k++)
        sim_tick(s, 1);
    EXPECT(sim_propose(s, 1, &i) == 0, "propose refused");
    EXPECT(sim_net_count(s, M(1, 2, SIM_ANY)) == 0,
           "the new leader sent %zu messages before its term was durable",
           sim_net_count(s, M(1, 2, SIM_ANY)));
    sim_sync_all(s, 1);
    EXPECT(sim_net_count(s, M(1, 2, SIM_ANY)) > 0, "nothing left once the term was durable");
    sim_set_disk_mode(s, 1, SIM_DISK_IMMEDIATE);
    settle(s);
    heartbeat(s, 1);
    EXPECT(sim_applied(s, 2) >= i, "learner n2 did not catch up");
out:
    return finish(s, rc, why, cap);
}

/* Items 14/15, the server's half: cairn's writer writes the newest hard
 * state of a round before the round's entries. n3 holds stale entries of an
 * old term; the leader's APPEND over them (with a commit covering them) is
 * being written when n3 campaigns: its new term goes to the same writer
 * round. Were the commit recorded with that term the core's, a crash after
 * the hard state and before the entries would restart n3 with its stale
 * entries under a commit that covers them, and it would apply them. The
 * server clamps that commit to the applied index (durable and committed). */
static int sc_commit_clamp(FILE *trace, char *why, size_t cap)
{
    int rc = 0;
    struct sim *s = mk(trace, 22, 3, 3, false, false);
    uint64_t i, a;
    struct raft_msg m;

    EXPECT(win(s, 3, 3), "n3 did not win");
    settle(s);
    EXPECT(sim_propose(s, 3, &i) == 0, "propose refused");
    settle(s);
    heartbeat(s, 3);
    /* n3 appends two entries nobody else sees (durable on n3 alone) */
    EXPECT(sim_propose(s, 3, &a) == 0, "propose refused");
    EXPECT(sim_propose(s, 3, NULL) == 0, "propose refused");
    sim_drop(s, M(SIM_ANY, SIM_ANY, SIM_ANY));
    /* n1 leads a new term with n2; its entries replace n3's at a, a+1 */
    sim_isolate(s, 3, true);
    EXPECT(win(s, 1, 4), "n1 did not win");
    uint64_t t1 = sim_term(s, 1);
    for (int k = 0; k < 3; k++)
        EXPECT(sim_propose(s, 1, &i) == 0, "propose refused");
    settle(s);
    heartbeat(s, 1);
    EXPECT(sim_committed_term(s, a) == t1, "index %" PRIu64 " not committed in term %" PRIu64, a,
           t1);
    /* n3 rejoins: it follows n1 until the APPEND over its stale entries,
     * whose write stays pending */
    sim_drop(s, M(SIM_ANY, SIM_ANY, SIM_ANY));
    sim_isolate(s, 3, false);
    bool sent = false;
    for (int k = 0; k < 50 && !sent && sim_failed(s) == SIM_OK; k++) {
        if (!sim_net_count(s, M(SIM_ANY, SIM_ANY, SIM_ANY)))
            sim_tick(s, 1);
        if (sim_peek(s, M(1, 3, RAFT_MSG_APPEND), &m) && m.index < a && m.commit >= a) {
            sim_set_disk_mode(s, 3, SIM_DISK_MANUAL);
            sent = true;
        }
        sim_deliver(s, M(SIM_ANY, SIM_ANY, SIM_ANY));
    }
    EXPECT(sent, "n1 sent no APPEND over n3's stale entries with a commit above them");
    EXPECT(sim_pending_writes(s, 3) == 1, "n3 has %zu writes pending, expected 1",
           sim_pending_writes(s, 3));
    EXPECT(sim_commit(s, 3) >= a, "n3 did not learn the commit (%" PRIu64 ")", sim_commit(s, 3));
    /* n3 campaigns (term and vote to write) while the entries are pending */
    sim_drop(s, M(SIM_ANY, SIM_ANY, SIM_ANY));
    for (unsigned k = 0; k < 4 * sim_opts(s)->election_ticks && sim_term(s, 3) == t1; k++)
        sim_tick(s, 3);
    EXPECT(sim_term(s, 3) > t1, "n3 did not campaign");
    EXPECT(sim_pending_writes(s, 3) == 2, "n3 has %zu writes pending, expected 2",
           sim_pending_writes(s, 3));
    /* the writer wrote the round's hard state, then the node crashed */
    EXPECT(sim_sync_hs(s, 3) == 1, "n3's writes carry no hard state");
    sim_crash(s, 3);
    sim_set_disk_mode(s, 3, SIM_DISK_IMMEDIATE);
    EXPECT(sim_restart(s, 3) == 0, "restart n3");
    struct raft_status st;
    sim_status(s, 3, &st);
    EXPECT(st.commit < a, "n3 restarted with commit %" PRIu64 " over its stale entry %" PRIu64,
           st.commit, a);
    /* the cluster goes on (n3's term deposes n1) and repairs n3 */
    sim_drop(s, M(SIM_ANY, SIM_ANY, SIM_ANY));
    heartbeat(s, 1);
    EXPECT(win(s, 1, 6), "n1 did not win again");
    EXPECT(sim_propose(s, 1, &i) == 0, "propose refused");
    settle(s);
    heartbeat(s, 1);
    EXPECT(sim_applied(s, 3) == sim_applied(s, 1), "n3 applied %" PRIu64 " of %" PRIu64,
           sim_applied(s, 3), sim_applied(s, 1));
out:
    return finish(s, rc, why, cap);
}

/* The same with a snapshot: n3's stale entries are being replaced by a
 * leader's snapshot (applied at once: the applied index is the snapshot's,
 * which is not durable yet) when n3 campaigns; the writer writes the new term
 * first and n3 crashes. The commit recorded with that term must not cover
 * n3's stale entries either. */
static int sc_commit_clamp_snapshot(FILE *trace, char *why, size_t cap)
{
    int rc = 0;
    struct sim *s = mk(trace, 23, 3, 3, false, false);
    uint64_t i, a;
    struct raft_msg m;

    EXPECT(win(s, 3, 3), "n3 did not win");
    settle(s);
    EXPECT(sim_propose(s, 3, &i) == 0, "propose refused");
    settle(s);
    heartbeat(s, 3);
    EXPECT(sim_propose(s, 3, &a) == 0, "propose refused");
    EXPECT(sim_propose(s, 3, NULL) == 0, "propose refused");
    sim_drop(s, M(SIM_ANY, SIM_ANY, SIM_ANY));
    sim_isolate(s, 3, true);
    EXPECT(win(s, 1, 4), "n1 did not win");
    uint64_t t1 = sim_term(s, 1);
    for (int k = 0; k < 4; k++)
        EXPECT(sim_propose(s, 1, &i) == 0, "propose refused");
    settle(s);
    heartbeat(s, 1);
    EXPECT(sim_committed_term(s, a) == t1, "index %" PRIu64 " not committed in term %" PRIu64, a,
           t1);
    for (int id = 1; id <= 2; id++)
        EXPECT(sim_take_snapshot(s, id, 0) == 0, "snapshot at n%d refused", id);
    /* n3 rejoins and follows n1 until the snapshot, whose write stays pending */
    sim_drop(s, M(SIM_ANY, SIM_ANY, SIM_ANY));
    sim_isolate(s, 3, false);
    bool sent = false;
    for (int k = 0; k < 50 && !sent && sim_failed(s) == SIM_OK; k++) {
        if (!sim_net_count(s, M(SIM_ANY, SIM_ANY, SIM_ANY)))
            sim_tick(s, 1);
        if (sim_peek(s, M(1, 3, RAFT_MSG_SNAPSHOT), &m)) {
            sim_set_disk_mode(s, 3, SIM_DISK_MANUAL);
            sent = true;
            EXPECT(sim_deliver(s, M(1, 3, RAFT_MSG_SNAPSHOT)), "deliver");
        } else {
            sim_deliver(s, M(SIM_ANY, SIM_ANY, SIM_ANY));
        }
    }
    EXPECT(sent, "n1 sent n3 no snapshot");
    EXPECT(sim_pending_writes(s, 3) == 1, "n3 has %zu writes pending, expected 1",
           sim_pending_writes(s, 3));
    EXPECT(sim_applied(s, 3) > a, "n3 did not install the snapshot (applied %" PRIu64 ")",
           sim_applied(s, 3));
    sim_drop(s, M(SIM_ANY, SIM_ANY, SIM_ANY));
    for (unsigned k = 0; k < 4 * sim_opts(s)->election_ticks && sim_term(s, 3) == t1; k++)
        sim_tick(s, 3);
    EXPECT(sim_term(s, 3) > t1, "n3 did not campaign");
    EXPECT(sim_sync_hs(s, 3) == 1, "n3's writes carry no hard state");
    sim_crash(s, 3);
    sim_set_disk_mode(s, 3, SIM_DISK_IMMEDIATE);
    EXPECT(sim_restart(s, 3) == 0, "restart n3");
    struct raft_status st;
    sim_status(s, 3, &st);
    EXPECT(st.commit < a, "n3 restarted with commit %" PRIu64 " over its stale entry %" PRIu64,
           st.commit, a);
    sim_drop(s, M(SIM_ANY, SIM_ANY, SIM_ANY));
    heartbeat(s, 1);
    EXPECT(win(s, 1, 6), "n1 did not win again");
    EXPECT(sim_propose(s, 1, &i) == 0, "propose refused");
    settle(s);
    heartbeat(s, 1);
    EXPECT(sim_applied(s, 3) == sim_applied(s, 1), "n3 applied %" PRIu64 " of %" PRIu64,
           sim_applied(s, 3), sim_applied(s, 1));
out:
    return finish(s, rc, why, cap);
}

/* ---- forwarding (server/reqs.c) ----------------------------------------------------
 * Client writes through a follower, which forwards them to the leader; the
 * harness fails a run in which a write is committed twice. */

/* Count the entries committed for write `wid`: the harness already fails on
 * a second one; this says where the first one is. */
static bool acked_once(struct sim *s, uint64_t wid)
{
    return sim_cw_state(s, wid) == SIM_CW_ACKED && sim_cw_applied_at(s, wid) != 0;
}

/* n2 forwards a write to n1 (term t1), n1 proposes it and reaches n3 only,
 * then crashes. n3 wins term t2 and n2 learns it. The attempt is not dead
 * yet: n3 carries its entry and commits it with its no-op. n2 must wait for
 * an applied entry of a later term (it then has applied its own entry, or
 * knows it never will commit) instead of forwarding again to n3 at once:
 * that would commit the write twice. */
static int sc_forward_new_leader(FILE *trace, char *why, size_t cap)
{
    int rc = 0;
    struct sim *s = mk(trace, 31, 3, 3, true, true);
    uint64_t w, f0;
    EXPECT(win(s, 1, 3), "n1 did not win");
    settle(s);
    heartbeat(s, 1);
    w = sim_client_write(s, 2);
    EXPECT(sim_net_count(s, M(2, 1, SIM_MSG_FWD_REQ)) == 1, "n2 did not forward to n1");
    f0 = sim_cw_stats(s)->forwards;
    EXPECT(sim_deliver(s, M(2, 1, SIM_MSG_FWD_REQ)), "no forward");
    EXPECT(sim_deliver(s, M(1, 3, RAFT_MSG_APPEND)), "no APPEND n1->n3");
    sim_sync_all(s, 3);
    sim_crash(s, 1);
    sim_drop(s, M(1, SIM_ANY, SIM_ANY));
    sim_drop(s, M(SIM_ANY, 1, SIM_ANY));
    EXPECT(sim_cw_applied_at(s, w) == 0, "committed before n1 crashed");
    EXPECT(win(s, 3, 6), "n3 did not win");
    settle(s);
    heartbeat(s, 3);
    EXPECT(acked_once(s, w), "the write through n2 was not acknowledged (state %d)",
           (int)sim_cw_state(s, w));
    EXPECT(sim_cw_stats(s)->forwards == f0, "n2 forwarded the write again (%" PRIu64 " times)",
           sim_cw_stats(s)->forwards - f0);
out:
    return finish(s, rc, why, cap);
}

/* n2's forward is proposed by n1 but the answer is lost; n2 sends the same
 * attempt again (same term): n1 answers it from its table, no second entry. */
static int sc_forward_resend(FILE *trace, char *why, size_t cap)
{
    int rc = 0;
    struct sim *s = mk(trace, 32, 3, 3, true, true);
    uint64_t w;
    EXPECT(win(s, 1, 3), "n1 did not win");
    settle(s);
    heartbeat(s, 1);
    w = sim_client_write(s, 2);
    EXPECT(sim_deliver(s, M(2, 1, SIM_MSG_FWD_REQ)), "no forward");
    EXPECT(sim_drop(s, M(1, 2, SIM_MSG_FWD_RESP)) == 1, "no answer to drop");
    sim_skip_time(s, (uint64_t)sim_opts(s)->election_ticks * SIM_TICK);
    sim_tick(s, 2);
    EXPECT(sim_deliver(s, M(2, 1, SIM_MSG_FWD_REQ)), "n2 did not send its attempt again");
    settle(s);
    heartbeat(s, 1);
    EXPECT(acked_once(s, w), "the write through n2 was not acknowledged");
    EXPECT(sim_cw_stats(s)->dups == 1, "n1 did not answer the repeat from its table");
out:
    return finish(s, rc, why, cap);
}

/* A copy of n2's first attempt (a duplicate frame) arrives after n2's next
 * attempt, whose floor closed the first: n1 forgot the first (its entry is
 * out of the table) and must drop the copy, not propose it again. */
static int sc_forward_late_copy(FILE *trace, char *why, size_t cap)
{
    int rc = 0;
    struct sim *s = mk(trace, 33, 3, 3, true, true);
    uint64_t w1, w2;
    EXPECT(win(s, 1, 3), "n1 did not win");
    settle(s);
    heartbeat(s, 1);
    w1 = sim_client_write(s, 2);
    EXPECT(sim_dup(s, M(2, 1, SIM_MSG_FWD_REQ)), "no forward to duplicate");
    EXPECT(sim_deliver(s, M(2, 1, SIM_MSG_FWD_REQ)), "no forward");
    EXPECT(sim_deliver(s, M(1, 2, SIM_MSG_FWD_RESP)), "no answer");
    w2 = sim_client_write(s, 2);
    EXPECT(sim_deliver_newest(s, M(2, 1, SIM_MSG_FWD_REQ)), "no second forward");
    EXPECT(sim_deliver(s, M(2, 1, SIM_MSG_FWD_REQ)), "no late copy");
    settle(s);
    heartbeat(s, 1);
    EXPECT(acked_once(s, w1) && acked_once(s, w2), "the writes were not acknowledged");
    EXPECT(sim_cw_stats(s)->stale == 1, "n1 did not drop the late copy");
out:
    return finish(s, rc, why, cap);
}

const struct sim_scenario sim_scenarios[] = {
    {"figure8_prev_term_commit", "item 3: an old-term entry on a majority is not committed",
     sc_figure8},
    {"vote_lost_on_crash", "item 1: a vote lost in a crash; a durable vote survives it",
     sc_vote_lost},
    {"stale_reply_higher_term", "item 2: deposed by a reply; stale vote grants not counted",
     sc_stale_reply},
    {"append_stale_prefix", "item 8: a delayed prefix APPEND does not truncate",
     sc_append_stale_prefix},
    {"leader_commits_before_own_fsync", "item 12: the leader counts itself only once durable",
     sc_leader_fsync},
    {"async_append_aba", "item 13: a storage ack for an overwritten term is ignored", sc_aba},
    {"partition_heal_inflated_term", "items 6-7: an isolated node rejoins (no PreVote)",
     sc_heal_inflated},
    {"partition_heal_prevote", "items 6-7: with PreVote the rejoin disturbs nobody",
     sc_heal_prevote},
    {"single_server_add_remove_race", "item 20: no config change before a current-term commit",
     sc_add_remove_race},
    {"readindex_new_leader", "item 26: reads wait for the no-op; a deposed leader never answers",
     sc_readindex},
    {"transfer_under_load_timeout", "item 28: lost TimeoutNow aborts; transfer under load",
     sc_transfer},
    {"remove_leader", "item 24: removing the leader; it does not count itself", sc_remove_leader},
    {"learner_join_snapshot", "items 17-19, 25: a learner joins via snapshot, is promoted",
     sc_learner_snapshot},
    {"restart_commit_regression", "item 15: durable commit above a lost log tail",
     sc_commit_regression},
    {"window_lagging_follower_readback",
     "log window: a follower far behind catches up by read-back from the leader's disk",
     sc_window_readback},
    {"window_lagging_follower_snapshot",
     "log window: ... and by snapshot when the leader's disk compacted those entries",
     sc_window_snapshot},
    {"new_leader_holds_messages",
     "item 1 (server): a leader's messages wait while its election's term is written",
     sc_new_leader_holds},
    {"hard_state_commit_clamp",
     "items 14/15 (server): the commit written with a term is clamped to what is applied",
     sc_commit_clamp},
    {"hard_state_commit_clamp_snapshot",
     "items 14/15 (server): ... and not to the index of a snapshot still being written",
     sc_commit_clamp_snapshot},
    {"forward_new_leader_no_reforward",
     "(server) a forwarded write is not made again because a new leader is known",
     sc_forward_new_leader},
    {"forward_resend_answered_from_table",
     "(server) an attempt sent again in its term is answered, not proposed again",
     sc_forward_resend},
    {"forward_late_copy_dropped",
     "(server) a late copy of an attempt its sender closed is dropped, not proposed",
     sc_forward_late_copy},
};
const size_t sim_n_scenarios = sizeof sim_scenarios / sizeof sim_scenarios[0];
