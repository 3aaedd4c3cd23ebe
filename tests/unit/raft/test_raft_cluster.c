/* Scripted interaction tests: a few raft nodes in memory, a message pump that
 * sends every message through raft_msg_encode/decode, persists at once
 * (raft_persisted right after each update) and checks after every update that
 * no two nodes apply different entries at one index. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "base/mem.h"
#include "raft/raft.h"

#define MAXN 6
#define MAXIDX 4096

struct qmsg {
    uint8_t *buf;
    size_t len;
    uint64_t to;
};

struct node {
    struct raft *r;
    uint64_t applied;        /* last applied index */
    uint64_t last_term_seen; /* term never decreases */
    uint64_t reads_ctx[64], reads_idx[64];
    size_t n_reads;
    size_t n_snap_installed;
    /* the node's "disk": every entry handed out for persistence */
    uint64_t disk_term[MAXIDX];
    uint8_t disk_type[MAXIDX];
    char disk_data[MAXIDX][256];
    size_t disk_len[MAXIDX];
    uint64_t fetch_lo, fetch_hi; /* a read-back asked and not answered yet */
    size_t n_fetches;
};

static size_t test_window; /* raft_config.log_window_entries of new nodes */

struct cluster {
    size_t n;
    struct node nodes[MAXN + 1]; /* by id, 1-based */
    bool cut[MAXN + 1][MAXN + 1];
    struct qmsg *q;
    size_t nq, capq;
    uint64_t applied_term[MAXIDX]; /* state machine safety across nodes */
    char applied_data[MAXIDX][16];
    bool pre_vote, check_quorum, lease_reads;
    unsigned drop_pct; /* random message loss */
    uint64_t drop_rng;
};

static void tlog(void *arg, int level, const char *msg)
{
    (void)arg;
    if (getenv("RAFT_TEST_LOG"))
        fprintf(stderr, "[%d] %s\n", level, msg);
}

static struct raft_config mkcfg(const struct cluster *c, uint64_t id)
{
    struct raft_config cfg = {
        .id = id,
        .election_ticks = 10,
        .heartbeat_ticks = 2,
        .rng_seed = 1000 + id,
        .pre_vote = c->pre_vote,
        .check_quorum = c->check_quorum,
        .lease_reads = c->lease_reads,
        .max_msg_bytes = 64,
        .max_inflight_msgs = 4,
        .log_window_entries = test_window,
        .log = tlog,
    };
    return cfg;
}

static void add_node(struct cluster *c, uint64_t id, const struct raft_conf *conf)
{
    struct raft_config cfg = mkcfg(c, id);
    struct raft_restore rs;
    memset(&rs, 0, sizeof(rs));
    if (conf)
        rs.conf = *conf;
    c->nodes[id].r = raft_new(&cfg, &rs);
    assert_non_null(c->nodes[id].r);
    if (id > c->n)
        c->n = id;
}

static struct cluster *cluster_new(size_t n, bool pre_vote, bool check_quorum)
{
    struct cluster *c = calloc(1, sizeof(*c));
    c->pre_vote = pre_vote;
    c->check_quorum = check_quorum;
    struct raft_conf conf;
    memset(&conf, 0, sizeof(conf));
    for (size_t i = 0; i < n; i++) {
        conf.servers[i].id = i + 1;
        conf.servers[i].role = RAFT_VOTER;
        snprintf(conf.servers[i].addr, sizeof(conf.servers[i].addr), "n%zu", i + 1);
    }
    conf.n = n;
    for (size_t i = 1; i <= n; i++)
        add_node(c, i, &conf);
    return c;
}

static void cluster_free(struct cluster *c)
{
    for (size_t i = 1; i <= MAXN; i++)
        raft_free(c->nodes[i].r);
    for (size_t i = 0; i < c->nq; i++)
        free(c->q[i].buf);
    free(c->q);
    free(c);
}

static void enqueue(struct cluster *c, const struct raft_msg *m)
{
    size_t len;
    assert_int_equal(raft_msg_encode(m, NULL, 0, &len), CN_ETOOBIG);
    assert_int_equal(len, raft_msg_encoded_size(m));
    uint8_t *b = malloc(len);
    assert_int_equal(raft_msg_encode(m, b, len, &len), 0);
    if (c->nq == c->capq) {
        c->capq = c->capq ? c->capq * 2 : 64;
        c->q = realloc(c->q, c->capq * sizeof(*c->q));
    }
    c->q[c->nq++] = (struct qmsg){b, len, m->to};
}

/* Drain every node's updates: persist (nothing to do in memory), apply, queue
 * messages, raft_done, then raft_persisted. Returns true if anything happened. */
static bool drain(struct cluster *c)
{
    bool any = false;
    for (uint64_t id = 1; id <= c->n; id++) {
        struct node *nd = &c->nodes[id];
        struct raft_update u;
        while (nd->r && raft_ready(nd->r, &u)) {
            any = true;
            if (u.hs_changed) {
                assert_true(u.hs.term >= nd->last_term_seen);
                nd->last_term_seen = u.hs.term;
            }
            uint64_t snap_i = 0, snap_t = 0, last_i = 0, last_t = 0;
            if (u.snapshot) {
                snap_i = u.snapshot->index;
                snap_t = u.snapshot->term;
                assert_true(snap_i > nd->applied);
                nd->applied = snap_i;
                nd->n_snap_installed++;
            }
            if (u.n_entries) {
                last_i = u.entries[u.n_entries - 1].index;
                last_t = u.entries[u.n_entries - 1].term;
            }
            for (size_t i = 0; i < u.n_entries; i++) {
                const struct raft_entry *e = &u.entries[i];
                assert_true(e->index < MAXIDX && e->data.len < 256);
                nd->disk_term[e->index] = e->term;
                nd->disk_type[e->index] = (uint8_t)e->type;
                nd->disk_len[e->index] = e->data.len;
                memcpy(nd->disk_data[e->index], e->data.base ? e->data.base : "", e->data.len);
            }
            if (u.fetch_hi > u.fetch_lo) {
                assert_int_equal(nd->fetch_hi, 0); /* one at a time */
                nd->fetch_lo = u.fetch_lo;
                nd->fetch_hi = u.fetch_hi;
                nd->n_fetches++;
            }
            for (size_t i = 0; i < u.n_committed; i++) {
                const struct raft_entry *e = &u.committed[i];
                assert_int_equal(e->index, nd->applied + 1);
                nd->applied = e->index;
                assert_true(e->index < MAXIDX);
                char d[16] = {0};
                memcpy(d, e->data.base ? e->data.base : "", e->data.len < 15 ? e->data.len : 15);
                if (c->applied_term[e->index] == 0) {
                    c->applied_term[e->index] = e->term;
                    memcpy(c->applied_data[e->index], d, 16);
                } else {
                    /* State machine safety (P Figure 3). */
                    assert_int_equal(c->applied_term[e->index], e->term);
                    assert_memory_equal(c->applied_data[e->index], d, 16);
                }
            }
            for (size_t i = 0; i < u.n_reads && nd->n_reads < 64; i++) {
                nd->reads_ctx[nd->n_reads] = u.reads[i].ctx;
                nd->reads_idx[nd->n_reads++] = u.reads[i].index;
            }
            for (size_t i = 0; i < u.n_msgs; i++)
                enqueue(c, &u.msgs[i]);
            raft_done(nd->r, &u);
            if (snap_i)
                raft_persisted(nd->r, snap_i, snap_t);
            if (last_i)
                raft_persisted(nd->r, last_i, last_t);
        }
    }
    return any;
}

static bool deliver(struct cluster *c)
{
    if (c->nq == 0)
        return false;
    struct qmsg *q = c->q;
    size_t nq = c->nq;
    c->q = NULL;
    c->nq = c->capq = 0;
    for (size_t i = 0; i < nq; i++) {
        struct raft_msg m;
        void *owned;
        assert_int_equal(raft_msg_decode(q[i].buf, q[i].len, &m, &owned), 0);
        uint64_t to = m.to, from = m.from;
        bool drop = false;
        if (c->drop_pct) {
            c->drop_rng = c->drop_rng * 6364136223846793005ULL + 1442695040888963407ULL;
            drop = (c->drop_rng >> 33) % 100 < c->drop_pct;
        }
        if (!drop && to <= MAXN && c->nodes[to].r && !c->cut[from][to] && !c->cut[to][from])
            assert_int_equal(raft_step(c->nodes[to].r, &m), 0);
        cn_free(owned);
        free(q[i].buf);
    }
    free(q);
    return true;
}

static void pump(struct cluster *c)
{
    for (int i = 0; i < 1000; i++) {
        bool a = drain(c);
        bool b = deliver(c);
        if (!a && !b)
            return;
    }
    fail_msg("cluster did not settle");
}

static void tick(struct cluster *c, uint64_t id)
{
    raft_tick(c->nodes[id].r);
    pump(c);
}

static void tick_all(struct cluster *c, int times)
{
    for (int t = 0; t < times; t++) {
        for (uint64_t id = 1; id <= c->n; id++)
            if (c->nodes[id].r)
                raft_tick(c->nodes[id].r);
        pump(c);
    }
}

static struct raft_status status(struct cluster *c, uint64_t id)
{
    struct raft_status st;
    raft_get_status(c->nodes[id].r, &st);
    return st;
}

static const struct raft_server *find_in(struct cluster *c, uint64_t node, uint64_t id)
{
    static struct raft_status st;
    raft_get_status(c->nodes[node].r, &st);
    return raft_conf_find(&st.conf, id);
}

static void isolate(struct cluster *c, uint64_t id, bool on)
{
    for (size_t j = 1; j <= MAXN; j++) {
        c->cut[id][j] = on;
        c->cut[j][id] = on;
    }
}

/* Tick only `id` until it leads. */
static void elect(struct cluster *c, uint64_t id)
{
    for (int i = 0; i < 100 && status(c, id).state != RAFT_LEADER; i++)
        tick(c, id);
    assert_int_equal(status(c, id).state, RAFT_LEADER);
}

static uint64_t propose(struct cluster *c, uint64_t id, const char *s)
{
    uint64_t idx, term;
    assert_int_equal(raft_propose(c->nodes[id].r, s, strlen(s), &idx, &term), 0);
    pump(c);
    return idx;
}

static uint64_t leader_of(struct cluster *c)
{
    uint64_t l = 0;
    for (uint64_t id = 1; id <= c->n; id++) {
        if (c->nodes[id].r && status(c, id).state == RAFT_LEADER) {
            assert_int_equal(l, 0); /* one leader in this tiny world */
            l = id;
        }
    }
    return l;
}

/* ---- tests ------------------------------------------------------------------ */

static void test_election(void **state)
{
    (void)state;
    struct cluster *c = cluster_new(3, true, true);
    elect(c, 1);
    struct raft_status s1 = status(c, 1);
    for (uint64_t id = 2; id <= 3; id++) {
        struct raft_status s = status(c, id);
        assert_int_equal(s.state, RAFT_FOLLOWER);
        assert_int_equal(s.leader, 1);
        assert_int_equal(s.term, s1.term);
        assert_int_equal(s.vote, 1);
    }
    /* The no-op of the new term commits and is applied everywhere. */
    tick_all(c, 3);
    for (uint64_t id = 1; id <= 3; id++) {
        assert_int_equal(status(c, id).commit, s1.last_index);
        assert_int_equal(c->nodes[id].applied, s1.last_index);
    }
    /* Followers refuse proposals: the shell forwards them. */
    uint64_t idx, term;
    assert_int_equal(raft_propose(c->nodes[2].r, "x", 1, &idx, &term), CN_EAGAIN);
    cluster_free(c);
}

static void test_prevote_blocks_partitioned_node(void **state)
{
    (void)state;
    struct cluster *c = cluster_new(3, true, true);
    elect(c, 1);
    uint64_t term = status(c, 1).term;
    isolate(c, 3, true);
    tick_all(c, 60);
    /* PreVote: n3 never won a pre-vote, so its term did not grow. */
    assert_int_equal(status(c, 3).term, term);
    assert_int_not_equal(status(c, 3).state, RAFT_LEADER);
    isolate(c, 3, false);
    tick_all(c, 10);
    assert_int_equal(leader_of(c), 1);
    assert_int_equal(status(c, 1).term, term);
    assert_int_equal(status(c, 3).leader, 1);
    cluster_free(c);
}

static void test_no_prevote_partitioned_node_rejoins(void **state)
{
    (void)state;
    struct cluster *c = cluster_new(3, false, true);
    elect(c, 1);
    uint64_t term = status(c, 1).term;
    isolate(c, 3, true);
    tick_all(c, 60);
    assert_true(status(c, 3).term > term); /* inflated without PreVote */
    isolate(c, 3, false);
    tick_all(c, 60);
    /* Pitfall #6: one disruption, then a leader again and n3 in its term. */
    uint64_t l = leader_of(c);
    assert_int_not_equal(l, 0);
    assert_int_equal(status(c, 3).term, status(c, l).term);
    assert_int_equal(status(c, 3).commit, status(c, l).commit);
    cluster_free(c);
}

static void test_replication_commit(void **state)
{
    (void)state;
    struct cluster *c = cluster_new(3, true, true);
    elect(c, 1);
    char buf[16];
    uint64_t last = 0;
    for (int i = 0; i < 30; i++) {
        snprintf(buf, sizeof(buf), "cmd%d", i);
        last = propose(c, 1, buf);
    }
    tick_all(c, 2);
    for (uint64_t id = 1; id <= 3; id++) {
        assert_int_equal(status(c, id).commit, last);
        assert_int_equal(c->nodes[id].applied, last);
    }
    assert_string_equal(c->applied_data[last], "cmd29");
    struct raft_progress pr[4];
    size_t n = raft_get_progress(c->nodes[1].r, pr, 4);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(pr[i].match, last);
        assert_int_equal(pr[i].state, 1);
    }
    cluster_free(c);
}

static void test_follower_catch_up_and_divergence(void **state)
{
    (void)state;
    struct cluster *c = cluster_new(3, true, true);
    elect(c, 1);
    isolate(c, 3, true);
    uint64_t last = 0;
    for (int i = 0; i < 20; i++)
        last = propose(c, 1, "a");
    assert_int_equal(status(c, 2).commit, last);
    assert_true(status(c, 3).last_index < last);
    isolate(c, 3, false);
    tick_all(c, 4);
    assert_int_equal(status(c, 3).commit, last);
    assert_int_equal(c->nodes[3].applied, last);

    /* The leader, cut off, appends entries nobody gets; n2 wins and commits
     * others; when n1 returns its tail is replaced (truncation at conflict). */
    isolate(c, 1, true);
    uint64_t idx, term;
    for (int i = 0; i < 3; i++)
        assert_int_equal(raft_propose(c->nodes[1].r, "lost", 4, &idx, &term), 0);
    pump(c);
    uint64_t nl = 0;
    for (int i = 0; i < 100 && nl == 0; i++) {
        raft_tick(c->nodes[2].r);
        raft_tick(c->nodes[3].r);
        pump(c);
        nl = status(c, 2).state == RAFT_LEADER ? 2 : status(c, 3).state == RAFT_LEADER ? 3 : 0;
    }
    assert_int_not_equal(nl, 0);
    for (int i = 0; i < 5; i++)
        propose(c, nl, "won");
    isolate(c, 1, false);
    tick_all(c, 12);
    assert_int_equal(leader_of(c), nl);
    struct raft_status s1 = status(c, 1), s2 = status(c, nl);
    assert_int_equal(s1.last_index, s2.last_index);
    assert_int_equal(s1.last_term, s2.last_term);
    assert_int_equal(s1.commit, s2.commit);
    assert_int_equal(c->nodes[1].applied, s2.commit);
    cluster_free(c);
}

static void test_check_quorum_step_down(void **state)
{
    (void)state;
    struct cluster *c = cluster_new(3, true, true);
    elect(c, 1);
    isolate(c, 1, true);
    for (int i = 0; i < 25; i++)
        tick(c, 1);
    assert_int_equal(status(c, 1).state, RAFT_FOLLOWER);
    uint64_t idx, term;
    assert_int_equal(raft_propose(c->nodes[1].r, "x", 1, &idx, &term), CN_EAGAIN);
    assert_int_equal(raft_read_index(c->nodes[1].r, 7), CN_EAGAIN);
    cluster_free(c);
}

static void test_lease_blocks_disruptive_vote(void **state)
{
    (void)state;
    /* Pitfall #4: without PreVote, a node that cannot hear the leader
     * campaigns with a higher term; voters that hear the leader ignore it. */
    struct cluster *c = cluster_new(3, false, true);
    elect(c, 1);
    uint64_t term = status(c, 1).term;
    c->cut[1][3] = c->cut[3][1] = true;
    for (int i = 0; i < 25; i++)
        tick_all(c, 1);
    assert_int_equal(leader_of(c), 1);
    assert_int_equal(status(c, 2).term, term);
    assert_true(status(c, 3).term > term);
    cluster_free(c);
}

static void test_transfer(void **state)
{
    (void)state;
    struct cluster *c = cluster_new(3, true, true);
    elect(c, 1);
    propose(c, 1, "x");
    isolate(c, 2, true);
    propose(c, 1, "y"); /* n2 is behind: the transfer must catch it up */
    assert_int_equal(raft_transfer_leader(c->nodes[1].r, 2), 0);
    uint64_t idx, term;
    assert_int_equal(raft_propose(c->nodes[1].r, "z", 1, &idx, &term), CN_EAGAIN);
    assert_int_equal(status(c, 1).transferee, 2);
    isolate(c, 2, false);
    tick_all(c, 3);
    assert_int_equal(leader_of(c), 2);
    assert_int_equal(status(c, 1).leader, 2);
    propose(c, 2, "after");
    /* A transfer to a node that never answers is abandoned after an
     * election timeout and proposals are accepted again. */
    isolate(c, 3, true);
    assert_int_equal(raft_transfer_leader(c->nodes[2].r, 3), 0);
    assert_int_equal(raft_propose(c->nodes[2].r, "z", 1, &idx, &term), CN_EAGAIN);
    for (int i = 0; i < 12; i++) {
        raft_tick(c->nodes[1].r);
        raft_tick(c->nodes[2].r);
        pump(c);
    }
    assert_int_equal(leader_of(c), 2);
    assert_int_equal(status(c, 2).transferee, RAFT_NONE);
    assert_int_equal(raft_propose(c->nodes[2].r, "z", 1, &idx, &term), 0);
    assert_int_equal(raft_transfer_leader(c->nodes[2].r, 9), CN_EINVAL);
    cluster_free(c);
}

static void test_conf_change(void **state)
{
    (void)state;
    struct cluster *c = cluster_new(3, true, true);
    add_node(c, 4, NULL); /* a new server knows no configuration yet */
    elect(c, 1);
    tick_all(c, 2);
    uint64_t idx;
    struct raft *l = c->nodes[1].r;
    assert_int_equal(raft_propose_conf(l, RAFT_CC_ADD_LEARNER, 4, "n4", &idx), 0);
    /* One change at a time (pitfall #22). */
    assert_int_equal(raft_propose_conf(l, RAFT_CC_PROMOTE, 4, NULL, NULL), CN_EAGAIN);
    pump(c);
    tick_all(c, 2);
    assert_int_equal(status(c, 4).commit, status(c, 1).commit);
    const struct raft_server *s = find_in(c, 4, 4);
    assert_non_null(s);
    assert_int_equal(s->role, RAFT_LEARNER);
    /* A learner never campaigns (pitfall #25). */
    for (int i = 0; i < 40; i++)
        raft_tick(c->nodes[4].r);
    pump(c);
    assert_int_equal(status(c, 4).state, RAFT_FOLLOWER);
    assert_int_equal(leader_of(c), 1);

    assert_int_equal(raft_propose_conf(l, RAFT_CC_PROMOTE, 4, NULL, &idx), 0);
    pump(c);
    tick_all(c, 2);
    assert_true(status(c, 1).commit >= idx);
    assert_int_equal(find_in(c, 2, 4)->role, RAFT_VOTER);

    /* Remove the leader itself (pitfall #24): it commits C_new without
     * counting itself, then steps down; the others go on. */
    assert_int_equal(raft_propose_conf(l, RAFT_CC_REMOVE, 1, NULL, &idx), 0);
    pump(c);
    tick_all(c, 2);
    assert_int_not_equal(status(c, 1).state, RAFT_LEADER);
    assert_null(find_in(c, 2, 1));
    for (int i = 0; i < 40 && leader_of(c) == 0; i++)
        tick_all(c, 1);
    uint64_t nl = leader_of(c);
    assert_true(nl >= 2 && nl <= 4);
    propose(c, nl, "after-remove");
    tick_all(c, 2);
    assert_int_equal(status(c, 4).commit, status(c, nl).commit);
    cluster_free(c);
}

static void test_removed_server_campaigns_until_c_new_commits(void **state)
{
    (void)state;
    /* Thesis §4.2.2 (sim seed 80369): a leader appends C_new removing itself,
     * loses its quorum before C_new commits and steps down. It still holds
     * the longest log, so it must keep starting elections until C_new
     * commits, counting only C_new's voters; afterwards it must not. */
    struct cluster *c = cluster_new(3, false, true);
    elect(c, 1);
    tick_all(c, 2);
    propose(c, 1, "a");
    tick_all(c, 2);
    isolate(c, 2, true);
    isolate(c, 3, true);
    uint64_t idx;
    assert_int_equal(raft_propose_conf(c->nodes[1].r, RAFT_CC_REMOVE, 1, NULL, &idx), 0);
    pump(c);
    assert_null(find_in(c, 1, 1)); /* in effect once appended (#21) */
    assert_true(status(c, 1).commit < idx);
    uint64_t term = status(c, 1).term;
    bool campaigned = false;
    for (int i = 0; i < 60; i++) {
        tick(c, 1);
        campaigned |= status(c, 1).state == RAFT_CANDIDATE;
    }
    assert_true(campaigned); /* CheckQuorum stepped it down, then it ran */
    assert_true(status(c, 1).term > term);
    /* n2 and n3 leave the lease of the old leader (they may campaign alone). */
    for (int i = 0; i < 20; i++) {
        tick(c, 2);
        tick(c, 3);
    }
    /* With only n2 back, its grant is not a majority of C_new = {2,3}: the
     * candidate's own vote does not count. */
    isolate(c, 2, false);
    for (int i = 0; i < 60; i++) {
        tick(c, 1);
        assert_int_not_equal(status(c, 1).state, RAFT_LEADER);
    }
    isolate(c, 3, false);
    bool led = false;
    for (int i = 0; i < 60 && !led; i++) {
        tick(c, 1);
        led = status(c, 1).state == RAFT_LEADER || status(c, 1).commit >= idx;
    }
    assert_true(led);
    tick_all(c, 3);
    /* It committed C_new and stepped down (#24); a C_new voter leads. */
    assert_true(status(c, 1).commit >= idx);
    assert_int_not_equal(status(c, 1).state, RAFT_LEADER);
    uint64_t nl = leader_of(c);
    assert_true(nl == 2 || nl == 3);
    assert_null(find_in(c, nl, 1));
    /* C_new is committed in its log now: it never campaigns again. */
    term = status(c, 1).term;
    for (int i = 0; i < 60; i++) {
        tick(c, 1);
        assert_int_equal(status(c, 1).state, RAFT_FOLLOWER);
    }
    assert_int_equal(status(c, 1).term, term);
    propose(c, nl, "after");
    cluster_free(c);
}

static void test_snapshot_send(void **state)
{
    (void)state;
    struct cluster *c = cluster_new(3, true, true);
    elect(c, 1);
    isolate(c, 3, true);
    uint64_t last = 0;
    for (int i = 0; i < 30; i++)
        last = propose(c, 1, "s");
    struct raft *l = c->nodes[1].r;
    struct raft_snapshot_meta meta = {.index = last, .term = status(c, 1).term};
    meta.conf = status(c, 1).conf;
    assert_int_equal(raft_set_snapshot(l, &meta), 0);
    assert_int_equal(raft_compact(l, last, 5), 0);
    assert_int_equal(status(c, 1).snap_index, last - 5);
    assert_int_equal(raft_compact(l, last + 1, 0), CN_EINVAL); /* not applied */
    isolate(c, 3, false);
    tick_all(c, 6);
    assert_int_equal(c->nodes[3].n_snap_installed, 1);
    assert_int_equal(status(c, 3).snap_index, last);
    raft_report_snapshot(l, 3, true);
    propose(c, 1, "post");
    tick_all(c, 4);
    assert_int_equal(status(c, 3).commit, status(c, 1).commit);
    assert_int_equal(c->nodes[3].applied, status(c, 1).commit);
    cluster_free(c);
}

/* Answer node id's read-back from its "disk"; false if none was asked. */
static bool serve_fetch(struct cluster *c, uint64_t id)
{
    struct node *nd = &c->nodes[id];
    if (!nd->fetch_hi)
        return false;
    struct raft_entry e[64];
    size_t n = 0;
    for (uint64_t i = nd->fetch_lo; i < nd->fetch_hi && n < 64; i++, n++)
        e[n] = (struct raft_entry){
            .term = nd->disk_term[i],
            .index = i,
            .type = (enum raft_entry_type)nd->disk_type[i],
            .data = {nd->disk_len[i] ? nd->disk_data[i] : NULL, nd->disk_len[i]}};
    nd->fetch_lo = nd->fetch_hi = 0;
    raft_fetched(nd->r, e, n);
    pump(c);
    return true;
}

/* The bounded window: a follower far behind is sent evicted entries read
 * back by the shell; a read-back whose terms disagree is dropped. */
static void test_window_readback(void **state)
{
    (void)state;
    test_window = 2;
    struct cluster *c = cluster_new(3, true, true);
    test_window = 0;
    elect(c, 1);
    isolate(c, 3, true);
    uint64_t last = 0;
    for (int i = 0; i < 40; i++)
        last = propose(c, 1, "w");
    tick_all(c, 2);
    struct raft_status s1 = status(c, 1);
    assert_int_equal(s1.first_index, 1);      /* nothing compacted */
    assert_true(s1.window_first >= last - 3); /* but out of memory */
    assert_true(s1.window_bytes <= 4);
    isolate(c, 3, false);
    struct node *l = &c->nodes[1];
    for (int k = 0; k < 40 && !l->fetch_hi; k++)
        tick_all(c, 1);
    /* (lo may be past n3's log: the leader's optimistic next in Replicate) */
    assert_true(l->fetch_hi > l->fetch_lo && l->fetch_lo < s1.window_first);
    /* A read-back that disagrees with the kept terms is dropped. */
    struct raft_entry bad = {.term = 99, .index = l->fetch_lo, .data = {"x", 1}};
    l->fetch_lo = l->fetch_hi = 0;
    raft_fetched(l->r, &bad, 1);
    pump(c);
    assert_true(status(c, 3).commit < last);
    /* It is asked again; served from the disk, the follower catches up. */
    for (int k = 0; k < 200 && c->nodes[3].applied < status(c, 1).commit; k++) {
        tick_all(c, 1);
        serve_fetch(c, 1);
    }
    assert_int_equal(c->nodes[3].applied, status(c, 1).commit);
    assert_true(l->n_fetches >= 2);
    /* The follower's own window is bounded too. */
    assert_true(status(c, 3).window_first >= status(c, 3).applied - 3);
    propose(c, 1, "after");
    tick_all(c, 2);
    assert_int_equal(c->nodes[3].applied, status(c, 1).commit);
    cluster_free(c);
}

/* A read-back of entries the shell's log no longer has: the core forgets
 * them and sends the follower the snapshot. */
static void test_window_fetch_compacted(void **state)
{
    (void)state;
    test_window = 1;
    struct cluster *c = cluster_new(3, true, true);
    test_window = 0;
    elect(c, 1);
    isolate(c, 3, true);
    uint64_t last = 0;
    for (int i = 0; i < 30; i++)
        last = propose(c, 1, "c");
    struct raft *r = c->nodes[1].r;
    struct raft_snapshot_meta meta = {.index = last, .term = status(c, 1).term};
    meta.conf = status(c, 1).conf;
    assert_int_equal(raft_set_snapshot(r, &meta), 0);
    isolate(c, 3, false);
    struct node *l = &c->nodes[1];
    for (int k = 0; k < 40 && !l->fetch_hi; k++)
        tick_all(c, 1);
    assert_true(l->fetch_hi > l->fetch_lo);
    uint64_t lo = l->fetch_lo;
    l->fetch_lo = l->fetch_hi = 0;
    raft_fetch_failed(r, lo, last + 1);
    assert_int_equal(status(c, 1).first_index, status(c, 1).window_first);
    pump(c);
    tick_all(c, 4);
    assert_int_equal(c->nodes[3].n_snap_installed, 1);
    assert_int_equal(status(c, 3).snap_index, last);
    cluster_free(c);
}

static void test_read_index(void **state)
{
    (void)state;
    struct cluster *c = cluster_new(3, true, true);
    elect(c, 1);
    struct raft *l = c->nodes[1].r;
    /* Asked before the no-op commits: answered once it has (#26). */
    assert_int_equal(raft_read_index(l, 41), 0);
    pump(c);
    assert_int_equal(c->nodes[1].n_reads, 1);
    assert_int_equal(c->nodes[1].reads_ctx[0], 41);
    assert_int_equal(c->nodes[1].reads_idx[0], status(c, 1).commit);
    uint64_t last = propose(c, 1, "r");
    assert_int_equal(raft_read_index(l, 42), 0);
    pump(c);
    assert_int_equal(c->nodes[1].n_reads, 2);
    assert_int_equal(c->nodes[1].reads_idx[1], last);
    assert_int_equal(raft_read_index(c->nodes[2].r, 43), CN_EAGAIN);
    /* A leader cut off gets no quorum: no answer. */
    isolate(c, 1, true);
    assert_int_equal(raft_read_index(l, 44), 0);
    tick(c, 1);
    assert_int_equal(c->nodes[1].n_reads, 2);
    cluster_free(c);
}

static void test_lease_read(void **state)
{
    (void)state;
    struct cluster *c = calloc(1, sizeof(*c));
    c->pre_vote = c->check_quorum = c->lease_reads = true;
    struct raft_conf conf = {.n = 3};
    for (size_t i = 0; i < 3; i++)
        conf.servers[i].id = i + 1;
    for (uint64_t id = 1; id <= 3; id++)
        add_node(c, id, &conf);
    elect(c, 1);
    tick_all(c, 2); /* one heartbeat round acknowledged: lease */
    assert_true(status(c, 1).lease_valid);
    assert_int_equal(raft_read_index(c->nodes[1].r, 5), 0);
    /* Answered without any message exchange. */
    drain(c);
    assert_int_equal(c->nodes[1].n_reads, 1);
    /* A quorum read is not answered from the lease: it needs a round. */
    assert_int_equal(raft_read_index_quorum(c->nodes[1].r, 6), 0);
    drain(c);
    assert_int_equal(c->nodes[1].n_reads, 1);
    pump(c);
    assert_int_equal(c->nodes[1].n_reads, 2);
    assert_int_equal(c->nodes[1].reads_ctx[1], 6);
    isolate(c, 1, true);
    for (int i = 0; i < 10; i++)
        tick(c, 1);
    assert_false(status(c, 1).lease_valid);
    cluster_free(c);
}

static void test_single_node_commit_after_persist(void **state)
{
    (void)state;
    struct raft_config cfg = {.id = 1,
                              .election_ticks = 5,
                              .heartbeat_ticks = 1,
                              .rng_seed = 3,
                              .pre_vote = true,
                              .check_quorum = true};
    struct raft_restore rs;
    memset(&rs, 0, sizeof(rs));
    rs.conf.n = 1;
    rs.conf.servers[0].id = 1;
    struct raft *r = raft_new(&cfg, &rs);
    assert_non_null(r);
    struct raft_update u;
    for (int i = 0; i < 20; i++)
        raft_tick(r);
    struct raft_status st;
    raft_get_status(r, &st);
    assert_int_equal(st.state, RAFT_LEADER);
    uint64_t idx, term;
    assert_int_equal(raft_propose(r, "hello", 5, &idx, &term), 0);
    assert_true(raft_ready(r, &u));
    /* Pitfall #12 / etcd#14370: nothing committed before it is durable. */
    assert_int_equal(u.n_committed, 0);
    assert_true(u.n_entries >= 2);
    assert_int_equal(u.entries[u.n_entries - 1].index, idx);
    assert_false(raft_ready(r, &u)); /* one update at a time */
    raft_done(r, &u);
    assert_false(raft_ready(r, &u));
    raft_persisted(r, idx, term + 1); /* wrong term: ignored (#13) */
    assert_false(raft_ready(r, &u));
    raft_persisted(r, idx, term);
    assert_true(raft_ready(r, &u));
    assert_int_equal(u.n_committed, 2);
    assert_int_equal(u.committed[1].index, idx);
    assert_memory_equal(u.committed[1].data.base, "hello", 5);
    assert_true(u.hs_changed);
    assert_int_equal(u.hs.commit, idx);
    raft_done(r, &u);
    /* Reads on a lone voter are immediate. */
    assert_int_equal(raft_read_index(r, 9), 0);
    assert_true(raft_ready(r, &u));
    assert_int_equal(u.n_reads, 1);
    assert_int_equal(u.reads[0].index, idx);
    raft_done(r, &u);
    raft_free(r);
}

static void test_restart_commit_clamp(void **state)
{
    (void)state;
    struct raft_config cfg = {.id = 2, .election_ticks = 5, .heartbeat_ticks = 1};
    struct raft_entry ents[3];
    for (int i = 0; i < 3; i++)
        ents[i] = (struct raft_entry){.term = 2, .index = 11 + (uint64_t)i};
    struct raft_restore rs;
    memset(&rs, 0, sizeof(rs));
    rs.term = 3;
    rs.vote = 1;
    rs.commit = 15; /* above the surviving log (pitfall #15) */
    rs.snap.index = 10;
    rs.snap.term = 1;
    rs.snap.conf.n = 2;
    rs.snap.conf.servers[0].id = 1;
    rs.snap.conf.servers[1].id = 2;
    rs.entries = ents;
    rs.n_entries = 3;
    struct raft *r = raft_new(&cfg, &rs);
    assert_non_null(r);
    struct raft_status st;
    raft_get_status(r, &st);
    assert_int_equal(st.state, RAFT_FOLLOWER);
    assert_int_equal(st.term, 3);
    assert_int_equal(st.vote, 1);
    assert_int_equal(st.commit, 13);
    assert_int_equal(st.first_index, 11);
    assert_int_equal(st.conf.n, 2);
    struct raft_update u;
    assert_true(raft_ready(r, &u));
    assert_int_equal(u.n_entries, 0); /* already durable */
    assert_int_equal(u.n_committed, 3);
    assert_int_equal(u.committed[0].index, 11);
    raft_done(r, &u);
    raft_free(r);

    /* Entries not contiguous: refused. */
    ents[1].index = 20;
    assert_null(raft_new(&cfg, &rs));
    ents[1].index = 12;
    ents[2].term = 9; /* above the stored term */
    assert_null(raft_new(&cfg, &rs));
    struct raft_config bad = {.id = 0, .election_ticks = 5, .heartbeat_ticks = 1};
    assert_null(raft_new(&bad, NULL));
}

static void test_follower_ack_waits_for_persist(void **state)
{
    (void)state;
    struct raft_config cfg = {.id = 2, .election_ticks = 5, .heartbeat_ticks = 1};
    struct raft_restore rs;
    memset(&rs, 0, sizeof(rs));
    rs.conf.n = 2;
    rs.conf.servers[0].id = 1;
    rs.conf.servers[1].id = 2;
    struct raft *r = raft_new(&cfg, &rs);
    struct raft_entry e[2] = {{.term = 1, .index = 1}, {.term = 1, .index = 2}};
    struct raft_msg m = {.type = RAFT_MSG_APPEND,
                         .from = 1,
                         .to = 2,
                         .term = 1,
                         .entries = e,
                         .n_entries = 2,
                         .commit = 1};
    assert_int_equal(raft_step(r, &m), 0);
    struct raft_update u;
    assert_true(raft_ready(r, &u));
    assert_int_equal(u.n_entries, 2);
    assert_int_equal(u.n_msgs, 0); /* the ack waits for durability (#12) */
    assert_int_equal(u.hs.commit, 1);
    assert_int_equal(u.n_committed, 0); /* committed, but not durable here yet */
    assert_false(u.msgs_before_persist);
    raft_done(r, &u);
    /* Overwritten by a newer leader before the write completed (#13). */
    struct raft_entry e2 = {.term = 2, .index = 2};
    struct raft_msg m2 = {.type = RAFT_MSG_APPEND,
                          .from = 1,
                          .to = 2,
                          .term = 2,
                          .index = 1,
                          .log_term = 1,
                          .entries = &e2,
                          .n_entries = 1};
    assert_int_equal(raft_step(r, &m2), 0);
    raft_persisted(r, 2, 1); /* the old write: stale */
    assert_true(raft_ready(r, &u));
    assert_int_equal(u.n_entries, 1);
    assert_int_equal(u.entries[0].term, 2);
    assert_int_equal(u.n_msgs, 0);
    raft_done(r, &u);
    raft_persisted(r, 2, 2);
    assert_true(raft_ready(r, &u));
    assert_int_equal(u.n_msgs, 1);
    assert_int_equal(u.msgs[0].type, RAFT_MSG_APPEND_RESP);
    assert_int_equal(u.msgs[0].index, 2);
    assert_false(u.msgs[0].reject);
    assert_int_equal(u.n_committed, 1);
    assert_int_equal(u.committed[0].index, 1);
    raft_done(r, &u);
    /* A delayed stale prefix (the first APPEND again) truncates nothing. */
    assert_int_equal(raft_step(r, &m), 0);
    struct raft_status st;
    raft_get_status(r, &st);
    assert_int_equal(st.last_index, 2);
    assert_int_equal(st.last_term, 2);
    raft_free(r);
}

/* A small randomized run: partitions come and go, proposals, reads and
 * transfers; drain() checks state machine safety after every update and we
 * check one leader per term. The simulator in tests/sim goes much further. */
static void test_random_partitions(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 24; seed++) {
        struct cluster *c = cluster_new(5, seed % 2 == 0, seed % 3 != 0);
        c->drop_pct = (unsigned)(seed % 4) * 5;
        c->drop_rng = seed;
        uint64_t x = seed * 0x9E3779B97F4A7C15ULL;
        uint64_t leader_of_term[512] = {0};
        for (int step = 0; step < 400; step++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            unsigned op = (unsigned)(x % 20);
            uint64_t a = 1 + (x >> 8) % 5, b = 1 + (x >> 16) % 5;
            if (op == 0) {
                c->cut[a][b] = c->cut[b][a] = true;
            } else if (op == 1) {
                isolate(c, a, true);
            } else if (op == 2) {
                memset(c->cut, 0, sizeof(c->cut));
            } else if (op <= 6) {
                for (uint64_t id = 1; id <= 5; id++) {
                    uint64_t idx, term;
                    if (raft_propose(c->nodes[id].r, "p", 1, &idx, &term) == 0)
                        break;
                }
            } else if (op == 7) {
                (void)raft_read_index(c->nodes[a].r, (uint64_t)step);
            } else if (op == 8 && step % 7 == 0) {
                (void)raft_transfer_leader(c->nodes[a].r, b);
            } else if (op == 9) {
                /* Snapshot + compaction on any node, leader or not. */
                struct raft_status st = status(c, a);
                if (st.applied > st.snap_index + 3) {
                    struct raft_snapshot_meta meta = {.index = st.applied,
                                                      .term = c->applied_term[st.applied]};
                    meta.conf = st.conf;
                    assert_int_equal(raft_set_snapshot(c->nodes[a].r, &meta), 0);
                    assert_int_equal(raft_compact(c->nodes[a].r, st.applied, 1), 0);
                }
            }
            for (uint64_t id = 1; id <= 5; id++)
                raft_tick(c->nodes[id].r);
            pump(c);
            for (uint64_t id = 1; id <= 5; id++) {
                struct raft_status st = status(c, id);
                assert_true(st.applied <= st.commit && st.commit <= st.last_index);
                if (st.state == RAFT_LEADER && st.term < 512) {
                    /* Election safety. */
                    if (leader_of_term[st.term] == 0)
                        leader_of_term[st.term] = id;
                    assert_int_equal(leader_of_term[st.term], id);
                }
            }
        }
        /* Heal: a leader emerges and everyone converges. */
        memset(c->cut, 0, sizeof(c->cut));
        c->drop_pct = 0;
        tick_all(c, 60);
        uint64_t l = leader_of(c);
        if (l == 0) {
            fprintf(stderr, "seed %d pv %d cq %d\n", (int)seed, c->pre_vote, c->check_quorum);
            for (uint64_t id = 1; id <= 5; id++) {
                struct raft_status st = status(c, id);
                fprintf(stderr,
                        " n%d conf %d state %d term %d vote %d leader %d last %d/%d commit %d\n",
                        (int)id, (int)st.conf.n, st.state, (int)st.term, (int)st.vote,
                        (int)st.leader, (int)st.last_index, (int)st.last_term, (int)st.commit);
            }
        }
        assert_int_not_equal(l, 0);
        uint64_t idx, term;
        assert_int_equal(raft_propose(c->nodes[l].r, "end", 3, &idx, &term), 0);
        tick_all(c, 6);
        for (uint64_t id = 1; id <= 5; id++) {
            if (status(c, id).commit != status(c, l).commit) {
                fprintf(stderr, "seed %d leader %d\n", (int)seed, (int)l);
                struct raft_progress pr[8];
                size_t np = raft_get_progress(c->nodes[l].r, pr, 8);
                for (size_t k = 0; k < np; k++)
                    fprintf(stderr, " pr %d match %d next %d state %d\n", (int)pr[k].id,
                            (int)pr[k].match, (int)pr[k].next, pr[k].state);
                for (uint64_t k = 1; k <= 5; k++) {
                    struct raft_status st = status(c, k);
                    fprintf(stderr, " n%d state %d term %d last %d/%d commit %d snap %d\n", (int)k,
                            st.state, (int)st.term, (int)st.last_index, (int)st.last_term,
                            (int)st.commit, (int)st.snap_index);
                }
            }
            assert_int_equal(status(c, id).commit, status(c, l).commit);
            assert_int_equal(c->nodes[id].applied, status(c, l).commit);
        }
        cluster_free(c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_election),
        cmocka_unit_test(test_prevote_blocks_partitioned_node),
        cmocka_unit_test(test_no_prevote_partitioned_node_rejoins),
        cmocka_unit_test(test_replication_commit),
        cmocka_unit_test(test_follower_catch_up_and_divergence),
        cmocka_unit_test(test_check_quorum_step_down),
        cmocka_unit_test(test_lease_blocks_disruptive_vote),
        cmocka_unit_test(test_transfer),
        cmocka_unit_test(test_conf_change),
        cmocka_unit_test(test_removed_server_campaigns_until_c_new_commits),
        cmocka_unit_test(test_snapshot_send),
        cmocka_unit_test(test_window_readback),
        cmocka_unit_test(test_window_fetch_compacted),
        cmocka_unit_test(test_read_index),
        cmocka_unit_test(test_lease_read),
        cmocka_unit_test(test_single_node_commit_after_persist),
        cmocka_unit_test(test_restart_commit_clamp),
        cmocka_unit_test(test_follower_ack_waits_for_persist),
        cmocka_unit_test(test_random_partitions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
