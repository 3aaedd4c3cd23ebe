/* tests/sim/sim_random.c: one seeded random run.
 *
 * Everything derives from the seed: cluster size (unless forced), core options,
 * network fault rates, disk latency, and a schedule of crashes, restarts,
 * partitions (symmetric, one-way, bridge), client proposals, ReadIndex
 * requests, snapshots, leadership transfers and membership changes (add a
 * learner, promote it, remove a voter — the leader included).
 *
 * Phase 1 injects faults for `steps` ticks. Phase 2 heals everything (every
 * live member restarted, links restored, no drops) and must elect a leader and
 * commit a fresh proposal within 20 election timeouts: a liveness failure,
 * reported apart from safety failures. */
#include "sim.h"

#include <inttypes.h>
#include <string.h>

#include "base/err.h"

struct rnd {
    struct sim_run_result *res;
    bool faults;
    double p_propose, p_read, p_crash, p_partition, p_conf, p_snapshot, p_transfer, p_write;
    uint64_t partition_end; /* 0: no partition */
    uint64_t restart_at[SIM_MAX_NODES + 1];
    bool retired[SIM_MAX_NODES + 1];
    int next_new; /* next never-used slot */
    int slots;
};

static void heal_partition(struct sim *s, struct rnd *x)
{
    if (x->partition_end) {
        sim_heal(s);
        x->partition_end = 0;
    }
}

static void start_partition(struct sim *s, struct rnd *x, int leader)
{
    struct sim_rng *r = sim_rng(s);
    const struct sim_opts *o = sim_opts(s);
    unsigned et = o->election_ticks;
    x->partition_end = sim_now(s) + (et + sim_rng_below(r, 6 * et)) * SIM_TICK;
    x->res->partitions++;
    int kind = (int)sim_rng_below(r, 4);
    if (kind == 3 && leader) {
        sim_isolate(s, leader, true);
    } else if (kind == 0 || kind == 3) {
        uint32_t mask = 0;
        for (int id = 1; id <= x->slots; id++)
            if (sim_rng_chance(r, 0.5))
                mask |= 1u << id;
        sim_partition(s, mask);
        sim_tracef(s, "PARTITION symmetric mask=0x%x", mask);
    } else if (kind == 1) {
        int a = 1 + (int)sim_rng_below(r, (uint64_t)x->slots);
        int b = 1 + (int)sim_rng_below(r, (uint64_t)x->slots);
        if (a == b)
            b = a % x->slots + 1;
        sim_block(s, a, b, true);
        sim_tracef(s, "PARTITION one-way n%d -/-> n%d", a, b);
    } else {
        /* bridge: groups A and B cannot talk; the bridge node talks to both */
        int bridge = 1 + (int)sim_rng_below(r, (uint64_t)x->slots);
        uint32_t mask = 0;
        for (int id = 1; id <= x->slots; id++)
            if (id != bridge && sim_rng_chance(r, 0.5))
                mask |= 1u << id;
        sim_partition(s, mask);
        for (int id = 1; id <= x->slots; id++) {
            sim_block(s, bridge, id, false);
            sim_block(s, id, bridge, false);
        }
        sim_tracef(s, "PARTITION bridge n%d between mask=0x%x and the rest", bridge, mask);
    }
}

static int pick_up_member(struct sim *s, struct rnd *x)
{
    int c[SIM_MAX_NODES], n = 0;
    for (int id = 1; id <= x->slots; id++)
        if (sim_up(s, id) && !sim_node_removed(s, id))
            c[n++] = id;
    return n ? c[sim_rng_below(sim_rng(s), (uint64_t)n)] : 0;
}

static int any_leader(struct sim *s, struct rnd *x)
{
    int c[SIM_MAX_NODES], n = 0;
    for (int id = 1; id <= x->slots; id++)
        if (sim_up(s, id) && sim_state(s, id) == RAFT_LEADER)
            c[n++] = id;
    return n ? c[sim_rng_below(sim_rng(s), (uint64_t)n)] : 0;
}

static void conf_change(struct sim *s, struct rnd *x, int leader)
{
    struct raft_status st;
    sim_status(s, leader, &st);
    int voters[RAFT_MAX_SERVERS], nv = 0, learner = 0;
    for (size_t i = 0; i < st.conf.n; i++) {
        if (st.conf.servers[i].role == RAFT_VOTER)
            voters[nv++] = (int)st.conf.servers[i].id;
        else
            learner = (int)st.conf.servers[i].id;
    }
    struct sim_rng *r = sim_rng(s);
    int rc;
    if (learner) {
        /* promote once caught up (the shell's job, raft.h RAFT_CC_PROMOTE) */
        struct raft_progress pr[RAFT_MAX_SERVERS];
        size_t np = raft_get_progress(sim_core(s, leader), pr, RAFT_MAX_SERVERS);
        bool caught_up = false;
        for (size_t i = 0; i < np; i++)
            if (pr[i].id == (uint64_t)learner && pr[i].match >= st.commit)
                caught_up = true;
        if (!caught_up)
            return;
        rc = sim_propose_conf(s, leader, RAFT_CC_PROMOTE, learner, NULL);
    } else if (nv >= 3 && (x->next_new > x->slots || sim_rng_chance(r, 0.5))) {
        int victim = voters[sim_rng_below(r, (uint64_t)nv)];
        rc = sim_propose_conf(s, leader, RAFT_CC_REMOVE, victim, NULL);
    } else if (x->next_new <= x->slots && nv < 6) {
        rc = sim_propose_conf(s, leader, RAFT_CC_ADD_LEARNER, x->next_new, NULL);
        if (rc == 0)
            x->next_new++;
    } else {
        return;
    }
    if (rc == 0)
        x->res->conf_changes++;
}

static void hook(struct sim *s, void *arg)
{
    struct rnd *x = arg;
    struct sim_rng *r = sim_rng(s);
    const struct sim_opts *o = sim_opts(s);
    uint64_t now = sim_now(s);
    unsigned et = o->election_ticks;

    /* restarts and retirements */
    for (int id = 1; id <= x->slots; id++) {
        if (!sim_node_started(s, id) || x->retired[id])
            continue;
        if (sim_node_removed(s, id)) {
            /* the operator shuts a removed server down a little later */
            if (!x->faults || sim_rng_chance(r, 0.05)) {
                sim_tracef(s, "n%d retired", id);
                sim_crash(s, id);
                x->retired[id] = true;
            }
            continue;
        }
        if (!sim_up(s, id) && (!x->faults || now >= x->restart_at[id]))
            sim_restart(s, id);
    }
    if (x->faults) {
        if (sim_rng_chance(r, x->p_crash)) {
            /* half of the crashes hit a leader: that is where the subtle
             * histories (Figure 8, lost self-acks) come from */
            int id = sim_rng_chance(r, 0.5) ? any_leader(s, x) : 0;
            if (!id)
                id = pick_up_member(s, x);
            if (id) {
                sim_crash(s, id);
                x->restart_at[id] = now + (1 + sim_rng_below(r, 4 * et)) * SIM_TICK;
                x->res->crashes++;
            }
        }
        if (x->partition_end && now >= x->partition_end)
            heal_partition(s, x);
        else if (!x->partition_end && sim_rng_chance(r, x->p_partition))
            start_partition(s, x, any_leader(s, x));
    }
    /* clients talk to whoever says it leads, a deposed leader included: that
     * is how divergent uncommitted tails appear */
    int leader = any_leader(s, x);
    struct raft_status ls;
    sim_status(s, leader, &ls);
    /* clients keep at most 16 commands outstanding (a bounded backlog, so
     * the liveness deadline measures recovery, not a queue) and stop when
     * the faults stop: from then on only the liveness probe is proposed */
    if (leader && x->faults && ls.last_index - ls.commit < 16 && sim_rng_chance(r, x->p_propose))
        sim_propose(s, leader, NULL);
    /* client writes through any member, followers included: they forward
     * to the leader they know (server/reqs.c); at most 16 outstanding */
    if (x->faults && sim_cw_outstanding(s) < 16 && sim_rng_chance(r, x->p_write)) {
        int id = pick_up_member(s, x);
        if (id)
            sim_client_write(s, id);
    }
    /* client reads (default or ?consistent) through any member */
    if (x->faults && sim_cr_outstanding(s) < 16 && sim_rng_chance(r, x->p_read)) {
        int id = pick_up_member(s, x);
        if (id)
            sim_client_read(s, id, sim_rng_chance(r, 0.3));
    }
    if (leader && x->faults && sim_rng_chance(r, x->p_read) && sim_read_index(s, leader, NULL) == 0)
        x->res->reads++;
    if (leader && x->faults && sim_rng_chance(r, x->p_transfer)) {
        int to = (int)sim_rng_below(r, (uint64_t)x->slots + 1); /* 0 = most up to date */
        sim_transfer(s, leader, to);
    }
    if (leader && x->faults && sim_rng_chance(r, x->p_conf) && sim_up(s, leader))
        conf_change(s, x, leader);
    for (int id = 1; id <= x->slots; id++)
        if (sim_up(s, id) && sim_rng_chance(r, x->p_snapshot) &&
            sim_take_snapshot(s, id, sim_rng_below(r, 4)) == 0)
            x->res->snapshots++;
}

/* After the heal: a write through every live member of the configuration
 * completes, and every live member applies every acknowledged write, with no
 * `budget` ticks in a row without progress. A write whose outcome is unknown (a leader's snapshot
 * covered its entry) is made again as a new write, as a client would. */
static void writes_live(struct sim *s, struct rnd *x, unsigned budget)
{
    uint64_t wid[SIM_MAX_NODES + 1] = {0};
    unsigned retries = 0;
    for (int id = 1; id <= x->slots; id++)
        if (sim_up(s, id) && !sim_node_removed(s, id) && sim_node_member(s, id))
            wid[id] = sim_client_write(s, id);
    sim_tracef(s, "HEAL: a write through every live member must complete within %u ticks", budget);
    /* A member that lags far (a learner fed one entry per round trip)
     * applies slowly but steadily: the clock restarts whenever some member
     * applied more, up to ten times the budget. */
    uint64_t applied = 0;
    for (unsigned t = 0, idle = 0; idle < budget && t < 10 * budget && sim_failed(s) == SIM_OK;
         t++, idle++) {
        uint64_t a = 0;
        for (int id = 1; id <= x->slots; id++)
            a += sim_up(s, id) ? sim_applied(s, id) : 0;
        if (a > applied) {
            applied = a;
            idle = 0;
        }
        for (int id = 1; id <= x->slots; id++)
            if (wid[id] && sim_cw_state(s, wid[id]) == SIM_CW_UNKNOWN && retries++ < 20)
                wid[id] = sim_client_write(s, id);
        bool done = sim_cw_converged(s, NULL);
        for (int id = 1; id <= x->slots && done; id++)
            done = !wid[id] || sim_cw_state(s, wid[id]) == SIM_CW_ACKED;
        if (done)
            return;
        sim_advance(s, SIM_TICK, hook, x);
    }
    if (sim_failed(s) != SIM_OK)
        return;
    for (int id = 1; id <= x->slots; id++)
        if (wid[id] && sim_cw_state(s, wid[id]) != SIM_CW_ACKED) {
            sim_fail(s, SIM_LIVENESS,
                     "the write w%" PRIu64 " through n%d was not acknowledged after healing "
                     "(%u ticks without progress) (state %d, committed at %" PRIu64 ")",
                     wid[id], id, budget, (int)sim_cw_state(s, wid[id]),
                     sim_cw_applied_at(s, wid[id]));
            return;
        }
    int lag = 0;
    if (!sim_cw_converged(s, &lag))
        sim_fail(s, SIM_LIVENESS,
                 "n%d has not applied every acknowledged write after healing (%u ticks "
                 "without progress)",
                 lag, budget);
}

static const double drops[] = {0, 0, 0.01, 0.05, 0.15};
static const double dups[] = {0, 0.01, 0.05};
static const unsigned delays[] = {3, 10, 25, 60};

void sim_run_random(const struct sim_run_opts *ro, struct sim_run_result *res)
{
    memset(res, 0, sizeof *res);
    struct sim_rng r;
    sim_rng_seed(&r, ro->seed ^ 0x5eed5eed5eedULL);
    int nodes = sim_rng_chance(&r, 0.5) ? 5 : 3; /* drawn even when forced: same stream */
    if (ro->nodes)
        nodes = ro->nodes;
    res->nodes = nodes;

    struct sim_opts o;
    sim_opts_default(&o, ro->seed, nodes);
    o.slots = nodes + 3 > SIM_MAX_NODES ? SIM_MAX_NODES : nodes + 3;
    o.net = SIM_NET_AUTO;
    o.pre_vote = sim_rng_chance(&r, 0.8);
    o.check_quorum = sim_rng_chance(&r, 0.8);
    o.lease_reads = o.check_quorum && sim_rng_chance(&r, 0.5);
    o.disk = sim_rng_chance(&r, 0.7) ? SIM_DISK_ASYNC : SIM_DISK_IMMEDIATE;
    o.disk_delay_max = (unsigned)(1 + sim_rng_below(&r, 30));
    o.p_drop = drops[sim_rng_below(&r, 5)];
    o.p_dup = dups[sim_rng_below(&r, 3)];
    o.delay_min = 1;
    o.delay_max = delays[sim_rng_below(&r, 4)];
    o.max_msg_bytes = sim_rng_chance(&r, 0.3) ? 40 : 1 << 16;
    o.max_inflight_msgs = sim_rng_chance(&r, 0.3) ? 1 + sim_rng_below(&r, 3) : 64;
    o.max_inflight_bytes = sim_rng_chance(&r, 0.2) ? 200 : 0;
    /* Half the seeds keep a small in-memory log window: followers behind it
     * are served by read-back from the disk image (or a snapshot). */
    struct sim_rng wr; /* its own stream: the other options of a seed stay what they were */
    sim_rng_seed(&wr, ro->seed ^ 0x77696e646f77ULL);
    if (sim_rng_chance(&wr, 0.5)) {
        o.log_window_entries = (size_t)sim_rng_below(&wr, 8);
        o.log_window_bytes = sim_rng_chance(&wr, 0.5) ? 1 + (size_t)sim_rng_below(&wr, 64) : 0;
        if (!o.log_window_entries && !o.log_window_bytes)
            o.log_window_entries = 1;
    }
    o.trace = ro->trace;
    o.trace_core = ro->trace_core;

    struct rnd x;
    memset(&x, 0, sizeof x);
    x.res = res;
    x.faults = true;
    x.slots = o.slots;
    x.next_new = nodes + 1;
    x.p_propose = 0.2 + 0.6 * (double)sim_rng_below(&r, 100) / 100.0;
    x.p_read = 0.05 + 0.1 * (double)sim_rng_below(&r, 100) / 100.0;
    x.p_crash = 0.005 + 0.03 * (double)sim_rng_below(&r, 100) / 100.0;
    x.p_partition = 0.002 + 0.02 * (double)sim_rng_below(&r, 100) / 100.0;
    x.p_conf = sim_rng_chance(&r, 0.5) ? 0.02 : 0;
    x.p_snapshot =
        sim_rng_chance(&r, 0.6) ? 0.01 + 0.04 * (double)sim_rng_below(&r, 100) / 100.0 : 0;
    x.p_transfer = sim_rng_chance(&r, 0.4) ? 0.01 : 0;
    x.p_write = 0.1 + 0.5 * (double)sim_rng_below(&r, 100) / 100.0;

    /* a third of the seeds run a "chaos" profile: lossy, slow, tiny batches,
     * frequent crashes and short partitions, i.e. many leaders with divergent
     * uncommitted tails (what Figure 8 and the commit-clamp bugs need) */
    bool chaos = sim_rng_chance(&r, 0.33);
    if (chaos) {
        o.p_drop = 0.2 + 0.2 * (double)sim_rng_below(&r, 100) / 100.0;
        o.p_dup = 0.1;
        o.delay_max = 80;
        o.max_msg_bytes = 40;
        o.max_inflight_msgs = 1 + sim_rng_below(&r, 2);
        x.p_crash = 0.03 + 0.04 * (double)sim_rng_below(&r, 100) / 100.0;
        x.p_partition = 0.05;
        x.p_propose = 0.9;
    }

    struct sim *s = sim_new(&o);
    sim_tracef(s,
               "seed=%" PRIu64 " nodes=%d steps=%u pre_vote=%d check_quorum=%d lease=%d disk=%s "
               "drop=%.2f dup=%.2f delay<=%u max_msg=%zu inflight=%zu/%zu window=%zu/%zu%s",
               ro->seed, nodes, ro->steps, o.pre_vote, o.check_quorum, o.lease_reads,
               o.disk == SIM_DISK_ASYNC ? "async" : "immediate", o.p_drop, o.p_dup, o.delay_max,
               o.max_msg_bytes, o.max_inflight_msgs, o.max_inflight_bytes, o.log_window_entries,
               o.log_window_bytes, chaos ? " chaos" : "");

    /* phase 1: faults */
    sim_advance(s, (uint64_t)ro->steps * SIM_TICK, hook, &x);

    /* phase 2: heal, then liveness */
    if (sim_failed(s) == SIM_OK) {
        x.faults = false;
        heal_partition(s, &x);
        sim_heal(s);
        /* Raft needs broadcast time << election timeout for liveness (§5.6):
         * after the heal, one-way delays are at most a tick */
        sim_set_net_faults(s, 0, 0, o.delay_max < SIM_TICK ? o.delay_max : SIM_TICK);
        sim_tracef(s, "HEAL: faults stop; a leader must commit a new entry within %u ticks",
                   20 * o.election_ticks);
        uint64_t idx = 0, term = 0;
        unsigned budget = 20 * o.election_ticks;
        bool live = false;
        for (unsigned t = 0; t < budget && sim_failed(s) == SIM_OK; t++) {
            sim_advance(s, SIM_TICK, hook, &x);
            if (idx && sim_committed_term(s, idx) == term) {
                live = true;
                break;
            }
            int leader = sim_leader(s);
            struct raft_status st;
            sim_status(s, leader, &st);
            if (leader && (!idx || st.term != term)) {
                uint64_t i;
                if (sim_propose(s, leader, &i) == 0) {
                    idx = i;
                    term = st.term;
                }
            }
        }
        if (!live && sim_failed(s) == SIM_OK) {
            int leader = sim_leader(s);
            sim_fail(s, SIM_LIVENESS,
                     "no new entry committed within %u ticks after healing (leader: n%d, "
                     "proposal %" PRIu64 "/%" PRIu64 ")",
                     budget, leader, idx, term);
        }
        if (sim_failed(s) == SIM_OK)
            writes_live(s, &x, budget);
    }
    if (sim_failed(s) == SIM_OK)
        sim_check_full(s);
    res->kind = sim_failed(s);
    snprintf(res->msg, sizeof res->msg, "%s", sim_fail_msg(s));
    res->events = sim_events(s);
    res->commits = sim_max_committed(s);
    res->elections = sim_leaders_elected(s);
    for (int id = 1; id <= o.slots; id++) {
        res->rb_entries += sim_readback_entries(s, id);
        res->rb_compacted += sim_readback_compacted(s, id);
    }
    res->cw = *sim_cw_stats(s);
    sim_free(s);
}
