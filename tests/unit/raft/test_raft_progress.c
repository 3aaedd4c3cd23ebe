/* Unit tests for src/raft/progress.c: match never backwards and stale
 * rejections ignored (pitfall #10), Probe/Replicate/Snapshot pausing and the
 * inflight window by messages and bytes (#11, #19). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "base/assert.h"
#include "raft/raft_int.h"

static void test_inflights(void **state)
{
    (void)state;
    struct raft_prog p;
    assert_int_equal(raft__prog_init(&p, 2, 1, 3, 100), 0);
    struct raft_inflights *in = &p.in;
    assert_false(raft__infl_full(in));
    raft__infl_add(in, 5, 10);
    raft__infl_add(in, 8, 10);
    raft__infl_add(in, 9, 10);
    assert_true(raft__infl_full(in)); /* by messages */
    /* Adding to a full window is a caller bug (CN_ASSERT); a build without
     * the checks ignores it rather than overrun the ring. */
    if (!CN_ASSERT_ENABLED)
        raft__infl_add(in, 10, 10);
    assert_int_equal(in->count, 3);
    raft__infl_free_le(in, 7);
    assert_int_equal(in->count, 2);
    assert_int_equal(in->bytes, 20);
    raft__infl_add(in, 12, 90); /* wraps the ring */
    assert_true(raft__infl_full(in));
    raft__infl_free_le(in, 9);
    assert_int_equal(in->count, 1);
    assert_int_equal(in->bytes, 90);
    raft__infl_add(in, 13, 20);
    assert_true(raft__infl_full(in)); /* by bytes: 110 >= 100 */
    raft__infl_free_first(in);
    assert_int_equal(in->count, 1);
    assert_int_equal(in->idx[in->start], 13);
    raft__infl_free_le(in, 100);
    assert_int_equal(in->count, 0);
    assert_int_equal(in->bytes, 0);
    raft__prog_free(&p);
}

static void test_match_monotonic_and_stale_rejects(void **state)
{
    (void)state;
    struct raft_prog p;
    assert_int_equal(raft__prog_init(&p, 2, 11, 4, 0), 0);
    assert_int_equal(p.state, RAFT_PR_PROBE);
    raft__prog_sent(&p, 10, 0, 0);
    assert_true(raft__prog_paused(&p)); /* one probe at a time */
    /* A rejection not for the probe we sent (next-1 = 10) is stale. */
    assert_false(raft__prog_maybe_decr(&p, 7, 3));
    /* The real one, with hint 5: next = min(rejected, hint+1) = 6. */
    assert_true(raft__prog_maybe_decr(&p, 10, 5));
    assert_int_equal(p.next, 6);
    assert_false(raft__prog_paused(&p));
    assert_true(raft__prog_maybe_update(&p, 5));
    raft__prog_become_replicate(&p);
    assert_int_equal(p.next, 6);
    raft__prog_sent(&p, 8, 3, 30);
    raft__prog_sent(&p, 9, 1, 10);
    assert_int_equal(p.next, 10);
    /* ack(9), then a duplicated ack(6): match stays at 9. */
    assert_true(raft__prog_maybe_update(&p, 9));
    assert_false(raft__prog_maybe_update(&p, 6));
    assert_int_equal(p.match, 9);
    assert_int_equal(p.next, 10);
    /* A rejection at or below match is stale in Replicate. */
    assert_false(raft__prog_maybe_decr(&p, 2, 0));
    assert_int_equal(p.next, 10);
    /* A rejection above match: back to match+1. */
    assert_true(raft__prog_maybe_decr(&p, 12, 0));
    assert_int_equal(p.next, 10);
    assert_true(p.next > p.match);
    raft__prog_free(&p);
}

/* Pitfall #10 in Probe state too: after falling back to Probe, next-1 ==
 * match, so a rejection of that very probe names an entry the follower
 * acknowledged. Counting it cannot lower next and used to resend the probe
 * at once, forever, against a follower that lost acknowledged entries. */
static void test_probe_reject_at_match_is_stale(void **state)
{
    (void)state;
    struct raft_prog p;
    assert_int_equal(raft__prog_init(&p, 2, 1, 4, 0), 0);
    assert_true(raft__prog_maybe_update(&p, 11));
    raft__prog_become_replicate(&p);
    raft__prog_sent(&p, 12, 1, 10);
    /* rejected 12 > match 11: back to Probe at match+1 */
    assert_true(raft__prog_maybe_decr(&p, 12, 7));
    raft__prog_become_probe(&p);
    assert_int_equal(p.next, 12);
    raft__prog_sent(&p, 11, 1, 10); /* the probe: prev = 11 = match */
    assert_true(raft__prog_paused(&p));
    /* its rejection is stale: next stays, the probe stays outstanding (the
     * next heartbeat reply retries it, not this rejection) */
    assert_false(raft__prog_maybe_decr(&p, 11, 7));
    assert_int_equal(p.next, 12);
    assert_int_equal(p.match, 11);
    assert_true(raft__prog_paused(&p));
    raft__prog_free(&p);
}

static void test_replicate_window_pauses(void **state)
{
    (void)state;
    struct raft_prog p;
    assert_int_equal(raft__prog_init(&p, 2, 1, 2, 0), 0);
    raft__prog_become_replicate(&p);
    raft__prog_sent(&p, 3, 3, 3);
    assert_false(raft__prog_paused(&p));
    raft__prog_sent(&p, 5, 2, 2);
    assert_true(raft__prog_paused(&p));
    raft__infl_free_le(&p.in, 3);
    assert_false(raft__prog_paused(&p));
    raft__prog_free(&p);
}

static void test_snapshot_state(void **state)
{
    (void)state;
    struct raft_prog p;
    assert_int_equal(raft__prog_init(&p, 2, 1, 2, 0), 0);
    raft__prog_become_snapshot(&p, 50);
    assert_true(raft__prog_paused(&p)); /* #19: no appends meanwhile */
    raft__prog_become_probe(&p);
    assert_int_equal(p.next, 51); /* resumes after the snapshot */
    raft__prog_become_snapshot(&p, 50);
    p.pending_snapshot = 0; /* failed */
    raft__prog_become_probe(&p);
    assert_int_equal(p.next, 1);
    raft__prog_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_inflights),
        cmocka_unit_test(test_match_monotonic_and_stale_rejects),
        cmocka_unit_test(test_probe_reject_at_match_is_stale),
        cmocka_unit_test(test_replicate_window_pauses),
        cmocka_unit_test(test_snapshot_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
