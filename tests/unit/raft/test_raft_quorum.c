/* Unit tests for src/raft/quorum.c: majorities of 1, 3 and 5 voters, vote
 * tallies, and commit counted only for an entry of the current term (#3). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "raft/raft_int.h"

static void test_quorum_index(void **state)
{
    (void)state;
    uint64_t one[] = {7};
    assert_int_equal(raft__quorum_index(one, 1), 7);
    uint64_t three[] = {5, 9, 2};
    assert_int_equal(raft__quorum_index(three, 3), 5);
    uint64_t five[] = {1, 8, 3, 8, 6};
    assert_int_equal(raft__quorum_index(five, 5), 6);
    uint64_t four[] = {4, 4, 9, 1};
    assert_int_equal(raft__quorum_index(four, 4), 4);
    assert_int_equal(raft__quorum_index(NULL, 0), 0);
}

static void test_votes(void **state)
{
    (void)state;
    assert_int_equal(raft__quorum_vote(1, 1, 0), RAFT_VOTE_WON);
    assert_int_equal(raft__quorum_vote(3, 1, 0), RAFT_VOTE_PENDING);
    assert_int_equal(raft__quorum_vote(3, 2, 0), RAFT_VOTE_WON);
    assert_int_equal(raft__quorum_vote(3, 1, 2), RAFT_VOTE_LOST);
    assert_int_equal(raft__quorum_vote(5, 2, 2), RAFT_VOTE_PENDING);
    assert_int_equal(raft__quorum_vote(5, 2, 3), RAFT_VOTE_LOST);
    assert_int_equal(raft__quorum_vote(4, 2, 1), RAFT_VOTE_PENDING);
    assert_int_equal(raft__quorum_vote(4, 2, 2), RAFT_VOTE_LOST);
}

static void test_commit_current_term_only(void **state)
{
    (void)state;
    /* Figure 8: index 2 of term 2 on a majority, leader in term 4. */
    struct raft_log l;
    raft__log_init(&l);
    struct raft_entry e[3] = {
        {.term = 1, .index = 1}, {.term = 2, .index = 2}, {.term = 4, .index = 3}};
    assert_int_equal(raft__log_append(&l, e, 3, false), 0);
    uint64_t m5[] = {2, 2, 2, 1, 1};
    assert_int_equal(raft__quorum_commit(m5, 5, &l, 4, 1), 1);
    /* Once the term-4 entry is on a majority, both commit. */
    uint64_t m5b[] = {3, 3, 3, 1, 1};
    assert_int_equal(raft__quorum_commit(m5b, 5, &l, 4, 1), 3);
    /* Never backwards. */
    uint64_t m3[] = {1, 1, 3};
    assert_int_equal(raft__quorum_commit(m3, 3, &l, 4, 3), 3);
    /* Learners are simply not passed in: a 3-voter set with 2 learners
     * caught up still needs 2 voters. */
    uint64_t voters[] = {3, 1, 1};
    assert_int_equal(raft__quorum_commit(voters, 3, &l, 4, 1), 1);
    raft__log_free(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_quorum_index),
        cmocka_unit_test(test_votes),
        cmocka_unit_test(test_commit_current_term_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
