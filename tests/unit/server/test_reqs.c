/* server/reqs.c, the rules of a write between followers and the leader that
 * the server and the simulator share: when an attempt may be made (none yet,
 * or the last one dead: an entry of a later term applied), what an answer
 * does, what a leader's snapshot does, the deadline, and the leader's table
 * (one proposal per attempt and term; late copies dropped; BUSY when full).
 * Pure: no loop, no network. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "server/reqs.h"

static void test_attempt_dies_only_by_a_later_applied_term(void **state)
{
    (void)state;
    struct srv_req r;
    srv_req_init(&r, 7, 1000);
    assert_true(srv_req_may_attempt(&r, 0));
    assert_true(srv_req_may_forward(&r, 0, 3));
    srv_req_forwarded(&r, 3, 100, 50);
    /* a new leader (term 4) alone does not make the attempt dead */
    assert_false(srv_req_may_forward(&r, 3, 4));
    assert_false(srv_req_term_passed(&r, 3)); /* an entry of its own term */
    assert_false(srv_req_may_forward(&r, 3, 4));
    assert_true(srv_req_term_passed(&r, 4)); /* an entry of term 4 applied */
    assert_int_equal(r.phase, SRV_REQ_HELD);
    assert_false(srv_req_may_forward(&r, 4, 3)); /* not to the leader of an old term */
    assert_true(srv_req_may_forward(&r, 4, 4));
    /* a leader's own proposal: the same */
    srv_req_proposed(&r, 12, 4);
    assert_false(srv_req_may_attempt(&r, 4));
    assert_true(srv_req_term_passed(&r, 5));
    assert_true(srv_req_may_attempt(&r, 5));
}

static void test_answers(void **state)
{
    (void)state;
    struct srv_req r;
    srv_req_init(&r, 7, 1000);
    srv_req_forwarded(&r, 3, 100, 50);
    struct srv_fwd_resp a = {
        .kind = SRV_FWD_PROPOSE, .req_id = 100, .code = SRV_FWD_OK, .index = 9, .term = 2};
    assert_int_equal(srv_req_answer(&r, &a, 10, 5), 0); /* another term: ignored */
    assert_int_equal(r.phase, SRV_REQ_FWD);
    a.code = SRV_FWD_BUSY;
    assert_int_equal(srv_req_answer(&r, &a, 10, 5), 0);
    assert_int_equal(r.resend_at, 15);
    assert_true(srv_req_resend_due(&r, 15, 3));
    assert_false(srv_req_resend_due(&r, 15, 4)); /* another term: never the same attempt */
    a.code = SRV_FWD_NOT_LEADER;
    assert_int_equal(srv_req_answer(&r, &a, 10, 5), 0);
    assert_true(r.refused);
    assert_false(srv_req_resend_due(&r, 100, 3));
    assert_int_equal(r.phase, SRV_REQ_FWD); /* an earlier copy may have been proposed */
    a.code = SRV_FWD_OK;
    a.term = 3;
    assert_int_equal(srv_req_answer(&r, &a, 10, 5), 0);
    assert_int_equal(r.phase, SRV_REQ_PENDING);
    assert_int_equal(r.index, 9);
    srv_req_forwarded(&r, 4, 101, 50);
    a.code = SRV_FWD_TOOBIG;
    assert_int_equal(srv_req_answer(&r, &a, 10, 5), CN_ETOOBIG);
}

static void test_snapshot_and_expiry(void **state)
{
    (void)state;
    struct srv_req r;
    srv_req_init(&r, 7, 1000);
    assert_int_equal(srv_req_snapshot(&r, 50, 5), SRV_REQ_SNAP_KEEP); /* held */
    srv_req_proposed(&r, 40, 5);
    assert_int_equal(srv_req_snapshot(&r, 50, 5), SRV_REQ_SNAP_UNKNOWN); /* inside */
    srv_req_proposed(&r, 60, 5);
    assert_int_equal(srv_req_snapshot(&r, 50, 5), SRV_REQ_SNAP_KEEP); /* still to come */
    assert_int_equal(srv_req_snapshot(&r, 50, 6), SRV_REQ_SNAP_DEAD); /* after it, older term */
    assert_int_equal(r.phase, SRV_REQ_HELD);
    srv_req_forwarded(&r, 6, 100, 50);
    assert_int_equal(srv_req_snapshot(&r, 50, 6), SRV_REQ_SNAP_UNKNOWN); /* may be inside */
    srv_req_forwarded(&r, 7, 101, 50);
    assert_int_equal(srv_req_snapshot(&r, 50, 6), SRV_REQ_SNAP_KEEP);
    assert_int_equal(srv_req_expiry(&r, 999, 9), SRV_REQ_LIVE);
    assert_int_equal(srv_req_expiry(&r, 1000, 6), SRV_REQ_UNKNOWN);
    assert_true(srv_req_term_passed(&r, 8));
    assert_int_equal(srv_req_expiry(&r, 1000, 8), SRV_REQ_NO_LEADER);
}

static uint8_t cmds[8][SRV_ENV_LEN + 1];

static struct srv_fwd_req propose(uint64_t origin, uint64_t env_id, uint64_t seq, uint64_t term,
                                  uint64_t epoch, uint64_t floor)
{
    uint8_t *c = cmds[env_id % 8];
    struct srv_env e = {.origin = origin, .req_id = env_id};
    srv_env_put(c, &e);
    c[SRV_ENV_LEN] = 'x';
    struct srv_fwd_req m;
    memset(&m, 0, sizeof(m));
    m.kind = SRV_FWD_PROPOSE;
    m.req_id = seq;
    m.u.propose.term = term;
    m.u.propose.epoch = epoch;
    m.u.propose.floor = floor;
    m.u.propose.cmd = c;
    m.u.propose.cmd_len = SRV_ENV_LEN + 1;
    return m;
}

static void test_table(void **state)
{
    (void)state;
    struct srv_req_table *t = calloc(1, sizeof(*t));
    assert_non_null(t);
    uint64_t idx = 0;
    struct srv_fwd_req m = propose(2, 1, 10, 5, 77, 10);
    assert_int_equal(srv_req_table_check(t, true, 6, 2, &m, &idx), SRV_REQ_NOT_LEADER);
    assert_int_equal(srv_req_table_check(t, false, 5, 2, &m, &idx), SRV_REQ_NOT_LEADER);
    assert_int_equal(srv_req_table_check(t, true, 5, 3, &m, &idx), SRV_REQ_BAD); /* not its own */
    assert_int_equal(srv_req_table_check(t, true, 5, 2, &m, &idx), SRV_REQ_PROPOSE);
    srv_req_table_add(t, 2, &m, 40);
    /* the same attempt again: the same answer, no second entry */
    assert_int_equal(srv_req_table_check(t, true, 5, 2, &m, &idx), SRV_REQ_DUP);
    assert_int_equal(idx, 40);
    /* attempt 11 closes 10 (floor 11): a late copy of 10 is dropped, never proposed */
    struct srv_fwd_req m2 = propose(2, 2, 11, 5, 77, 11);
    assert_int_equal(srv_req_table_check(t, true, 5, 2, &m2, &idx), SRV_REQ_PROPOSE);
    srv_req_table_add(t, 2, &m2, 41);
    assert_int_equal(srv_req_table_check(t, true, 5, 2, &m, &idx), SRV_REQ_STALE);
    /* another process of n2 (epoch 88) has a record of its own: the old
     * one's late frames still find theirs */
    struct srv_fwd_req m3 = propose(2, 3, 5, 5, 88, 5);
    assert_int_equal(srv_req_table_check(t, true, 5, 2, &m3, &idx), SRV_REQ_PROPOSE);
    srv_req_table_add(t, 2, &m3, 42);
    assert_int_equal(srv_req_table_check(t, true, 5, 2, &m2, &idx), SRV_REQ_DUP);
    assert_int_equal(idx, 41);
    assert_int_equal(srv_req_table_check(t, true, 5, 2, &m, &idx), SRV_REQ_STALE);
    assert_int_equal(srv_req_table_check(t, true, 5, 2, &m3, &idx), SRV_REQ_DUP);
    assert_int_equal(idx, 42);
    /* a new term: a new table */
    m3.u.propose.term = 6;
    assert_int_equal(srv_req_table_check(t, true, 6, 2, &m3, &idx), SRV_REQ_PROPOSE);
    free(t);
}

static void test_table_full(void **state)
{
    (void)state;
    struct srv_req_table *t = calloc(1, sizeof(*t));
    assert_non_null(t);
    t->cap = 2;
    uint64_t idx;
    for (uint64_t i = 1; i <= 2; i++) {
        struct srv_fwd_req m = propose(2, i, 10 + i, 5, 77, 11);
        assert_int_equal(srv_req_table_check(t, true, 5, 2, &m, &idx), SRV_REQ_PROPOSE);
        srv_req_table_add(t, 2, &m, 40 + i);
    }
    struct srv_fwd_req m = propose(2, 3, 13, 5, 77, 11);
    assert_int_equal(srv_req_table_check(t, true, 5, 2, &m, &idx), SRV_REQ_BUSY);
    /* the floor passes attempt 11: its entry goes, room for one */
    m = propose(2, 3, 13, 5, 77, 12);
    assert_int_equal(srv_req_table_check(t, true, 5, 2, &m, &idx), SRV_REQ_PROPOSE);
    free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_attempt_dies_only_by_a_later_applied_term),
        cmocka_unit_test(test_answers),
        cmocka_unit_test(test_snapshot_and_expiry),
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_table_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
