/* server/seq.c, the update sequencing rules the server and the simulator
 * share: which updates write what (the hard state only on a term/vote
 * change, its commit clamped to the applied index), which messages go at
 * once and which wait for which job, and what a finished job acknowledges,
 * in order. Pure: no loop, no disk. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "server/seq.h"

struct tmsg { /* a caller's message */
    struct srv_seq_msg link;
    int id;
};

static struct raft_entry ents[4] = {
    {.term = 2, .index = 5}, {.term = 2, .index = 6}, {.term = 3, .index = 7}};

static struct raft_update upd(bool leader_msgs, size_t n_entries, size_t n_msgs)
{
    static struct raft_msg msgs[4];
    struct raft_update u;
    memset(&u, 0, sizeof(u));
    u.entries = n_entries ? ents : NULL;
    u.n_entries = n_entries;
    u.msgs = msgs;
    u.n_msgs = n_msgs;
    u.msgs_before_persist = leader_msgs;
    return u;
}

static int ids(struct srv_seq_msg *m, int *out, int cap)
{
    int n = 0;
    for (; m && n < cap; m = m->next)
        out[n++] = ((struct tmsg *)(void *)((char *)m - offsetof(struct tmsg, link)))->id;
    return n;
}

static void push(struct srv_seq *q, const struct srv_seq_plan *p, struct srv_seq_job *j)
{
    *j = p->job;
    srv_seq_push(q, j);
}

/* A term or vote change is written, with the commit clamped to the applied
 * index; a commit-only change is not written at all. */
static void test_hard_state_and_clamp(void **st)
{
    (void)st;
    struct srv_seq q;
    srv_seq_init(&q, &(struct raft_hard_state){.term = 1, .vote = 1, .commit = 3});
    struct srv_seq_plan p;

    struct raft_update u = upd(false, 0, 0);
    u.hs_changed = true;
    u.hs = (struct raft_hard_state){.term = 1, .vote = 1, .commit = 9};
    srv_seq_update(&q, &u, 9, &p);
    assert_false(p.write); /* commit only */
    assert_false(p.job.has_hs);

    u = upd(false, 3, 0);
    u.hs_changed = true;
    u.hs = (struct raft_hard_state){.term = 3, .vote = 0, .commit = 7};
    srv_seq_update(&q, &u, 4, &p);
    assert_true(p.write);
    assert_true(p.job.has_hs);
    assert_int_equal(p.job.hs.term, 3);
    assert_int_equal(p.job.hs.vote, 0);
    assert_int_equal(p.job.hs.commit, 4); /* pitfalls #14/#15: not 7 */
    assert_true(p.job.ack);
    assert_int_equal(p.job.ack_index, 7);
    assert_int_equal(p.job.ack_term, 3);
    struct srv_seq_job j;
    push(&q, &p, &j);
    assert_int_equal(q.hs.term, 3);
    assert_int_equal(q.hs.commit, 4);

    /* the same term/vote again: nothing to write */
    u = upd(false, 0, 0);
    u.hs_changed = true;
    u.hs = (struct raft_hard_state){.term = 3, .vote = 0, .commit = 8};
    srv_seq_update(&q, &u, 8, &p);
    assert_false(p.write);
    /* a vote in the same term is */
    u.hs.vote = 2;
    srv_seq_update(&q, &u, 8, &p);
    assert_true(p.write && p.job.has_hs);
    assert_int_equal(p.job.hs.commit, 8);
    assert_false(p.job.ack); /* no entries: nothing to acknowledge */
}

/* A snapshot alone is acknowledged with its own index and term. */
static void test_snapshot_ack(void **st)
{
    (void)st;
    struct srv_seq q;
    srv_seq_init(&q, NULL);
    struct raft_snapshot_meta m = {.index = 40, .term = 4};
    struct raft_update u = upd(false, 0, 0);
    u.snapshot = &m;
    struct srv_seq_plan p;
    srv_seq_update(&q, &u, 40, &p);
    assert_true(p.write);
    assert_false(p.job.has_hs);
    assert_true(p.job.ack);
    assert_int_equal(p.job.ack_index, 40);
    assert_int_equal(p.job.ack_term, 4);
}

/* While a snapshot is being written, the applied index is the snapshot's
 * and not durable: a term written meanwhile keeps the last commit recorded
 * (else a crash between the two writes would restart with the old log under
 * the snapshot's commit and apply stale entries as committed). */
static void test_clamp_while_snapshot_pending(void **st)
{
    (void)st;
    struct srv_seq q;
    srv_seq_init(&q, &(struct raft_hard_state){.term = 2, .vote = 0, .commit = 5});
    struct raft_snapshot_meta m = {.index = 40, .term = 3};
    struct raft_update u = upd(false, 0, 0);
    u.snapshot = &m;
    u.hs_changed = true;
    u.hs = (struct raft_hard_state){.term = 3, .vote = 0, .commit = 40};
    struct srv_seq_plan p;
    srv_seq_update(&q, &u, 40, &p);
    assert_true(p.write && p.job.has_hs && p.job.snap);
    assert_int_equal(p.job.hs.commit, 5);
    struct srv_seq_job j1, j2;
    push(&q, &p, &j1);
    assert_int_equal(q.n_snap_jobs, 1);

    /* a vote while the snapshot is still being written */
    u = upd(false, 0, 0);
    u.hs_changed = true;
    u.hs = (struct raft_hard_state){.term = 4, .vote = 2, .commit = 40};
    srv_seq_update(&q, &u, 40, &p);
    assert_true(p.job.has_hs);
    assert_int_equal(p.job.hs.commit, 5);
    push(&q, &p, &j2);

    struct srv_seq_done d;
    assert_true(srv_seq_complete(&q, &j1, true, &d));
    assert_true(d.persisted);
    assert_int_equal(d.index, 40);
    assert_int_equal(q.n_snap_jobs, 0);
    /* the snapshot is durable: the applied index bounds the commit again */
    u.hs = (struct raft_hard_state){.term = 5, .vote = 0, .commit = 42};
    srv_seq_update(&q, &u, 41, &p);
    assert_int_equal(p.job.hs.commit, 41);
}

/* A follower's messages wait for their job, or for the newest job
 * outstanding; with nothing outstanding they go at once. Jobs complete in
 * order, each acknowledging its entries and handing its messages back. */
static void test_follower_messages_wait(void **st)
{
    (void)st;
    struct srv_seq q;
    srv_seq_init(&q, NULL);
    struct srv_seq_plan p;
    struct raft_update u = upd(false, 0, 1);
    srv_seq_update(&q, &u, 0, &p);
    assert_false(p.write);
    assert_true(p.now); /* nothing to wait for */

    struct tmsg m[4] = {{.id = 1}, {.id = 2}, {.id = 3}, {.id = 4}};
    struct srv_seq_job j1, j2;
    u = upd(false, 2, 1);
    srv_seq_update(&q, &u, 0, &p);
    assert_true(p.write);
    assert_false(p.now);
    push(&q, &p, &j1);
    srv_seq_hold(&q, &m[0].link);

    u = upd(false, 0, 1); /* no write: waits for j1 */
    srv_seq_update(&q, &u, 0, &p);
    assert_false(p.write);
    assert_false(p.now);
    srv_seq_hold(&q, &m[1].link);

    u = upd(false, 3, 2);
    srv_seq_update(&q, &u, 0, &p);
    assert_false(p.now);
    push(&q, &p, &j2);
    srv_seq_hold(&q, &m[2].link);
    srv_seq_hold(&q, &m[3].link);
    assert_int_equal(q.n_jobs, 2);

    struct srv_seq_done d;
    assert_false(srv_seq_complete(&q, &j2, true, &d)); /* not the oldest */
    assert_false(d.persisted);
    assert_int_equal(q.n_jobs, 2);

    assert_true(srv_seq_complete(&q, &j1, true, &d));
    assert_true(d.persisted && d.send);
    assert_int_equal(d.index, 6);
    assert_int_equal(d.term, 2);
    int got[4];
    assert_int_equal(ids(d.msgs, got, 4), 2);
    assert_int_equal(got[0], 1);
    assert_int_equal(got[1], 2);

    assert_true(srv_seq_complete(&q, &j2, true, &d));
    assert_int_equal(d.index, 7);
    assert_int_equal(d.term, 3);
    assert_int_equal(ids(d.msgs, got, 4), 2);
    assert_int_equal(got[0], 3);
    assert_int_equal(got[1], 4);
    assert_int_equal(q.n_jobs, 0);
    assert_null(q.head);
    assert_null(q.tail);

    u = upd(false, 0, 1);
    srv_seq_update(&q, &u, 0, &p);
    assert_true(p.now);
}

/* A leader's messages go before its write, except while a term/vote write
 * is outstanding (its election's included: pitfall #1). */
static void test_leader_messages(void **st)
{
    (void)st;
    struct srv_seq q;
    srv_seq_init(&q, &(struct raft_hard_state){.term = 2, .vote = 1});
    struct srv_seq_plan p;
    struct raft_update u = upd(true, 1, 1);
    srv_seq_update(&q, &u, 0, &p);
    assert_true(p.write);
    assert_true(p.now);

    /* the election's hard state and the leader's first messages together */
    u = upd(true, 1, 1);
    u.hs_changed = true;
    u.hs = (struct raft_hard_state){.term = 3, .vote = 1};
    srv_seq_update(&q, &u, 0, &p);
    assert_false(p.now);
    struct srv_seq_job j1, j2;
    push(&q, &p, &j1);
    struct tmsg m1 = {.id = 1}, m2 = {.id = 2};
    srv_seq_hold(&q, &m1.link);

    /* a later leader update while that write is outstanding: held too */
    u = upd(true, 1, 1);
    srv_seq_update(&q, &u, 0, &p);
    assert_false(p.now);
    push(&q, &p, &j2);
    srv_seq_hold(&q, &m2.link);

    struct srv_seq_done d;
    assert_true(srv_seq_complete(&q, &j1, true, &d));
    assert_int_equal(q.n_hs_jobs, 0);
    int got[2];
    assert_int_equal(ids(d.msgs, got, 2), 1);
    /* the term is durable: the next leader update's messages go at once,
     * though j2 is still being written */
    u = upd(true, 1, 1);
    srv_seq_update(&q, &u, 0, &p);
    assert_true(p.now);
    assert_true(srv_seq_complete(&q, &j2, true, &d));
    assert_int_equal(ids(d.msgs, got, 2), 1);
    assert_int_equal(got[0], 2);
}

/* A failed write acknowledges nothing; its messages come back to be freed,
 * not sent. */
static void test_failed_write(void **st)
{
    (void)st;
    struct srv_seq q;
    srv_seq_init(&q, NULL);
    struct srv_seq_plan p;
    struct raft_update u = upd(false, 1, 1);
    srv_seq_update(&q, &u, 0, &p);
    struct srv_seq_job j;
    push(&q, &p, &j);
    struct tmsg m = {.id = 7};
    srv_seq_hold(&q, &m.link);
    struct srv_seq_done d;
    assert_true(srv_seq_complete(&q, &j, false, &d));
    assert_false(d.persisted);
    assert_false(d.send);
    assert_ptr_equal(d.msgs, &m.link);
    assert_int_equal(q.n_jobs, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hard_state_and_clamp),
        cmocka_unit_test(test_snapshot_ack),
        cmocka_unit_test(test_clamp_while_snapshot_pending),
        cmocka_unit_test(test_follower_messages_wait),
        cmocka_unit_test(test_leader_messages),
        cmocka_unit_test(test_failed_write),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
