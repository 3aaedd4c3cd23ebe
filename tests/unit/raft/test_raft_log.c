/* Unit tests for src/raft/log.c: append, conflict search, truncation only at
 * a real conflict (pitfall #8), compaction, term lookup, durable marks (#13). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "base/err.h"
#include "base/mem.h"
#include "raft/raft_int.h"

static struct raft_entry ent(uint64_t index, uint64_t term, const char *s)
{
    struct raft_entry e = {.term = term, .index = index, .type = RAFT_ENTRY_NORMAL};
    e.data.base = (void *)s;
    e.data.len = s ? strlen(s) : 0;
    return e;
}

/* Log with terms t[0..n) at indexes 1..n. */
static void fill(struct raft_log *l, const uint64_t *t, size_t n)
{
    raft__log_init(l);
    for (size_t i = 0; i < n; i++) {
        struct raft_entry e = ent(i + 1, t[i], "x");
        assert_int_equal(raft__log_append(l, &e, 1, false), 0);
    }
}

static void test_append_and_term(void **state)
{
    (void)state;
    struct raft_log l;
    uint64_t t[] = {1, 1, 2, 3};
    fill(&l, t, 4);
    assert_int_equal(raft__log_first(&l), 1);
    assert_int_equal(raft__log_last(&l), 4);
    assert_int_equal(raft__log_last_term(&l), 3);
    uint64_t term;
    assert_int_equal(raft__log_term(&l, 0, &term), 0);
    assert_int_equal(term, 0);
    assert_int_equal(raft__log_term(&l, 3, &term), 0);
    assert_int_equal(term, 2);
    assert_int_equal(raft__log_term(&l, 5, &term), CN_ENOTFOUND);
    struct raft_entry gap = ent(7, 3, NULL);
    assert_int_equal(raft__log_append(&l, &gap, 1, false), CN_EINVAL);
    /* Payloads are copied. */
    char buf[] = "abc";
    struct raft_entry e = ent(5, 3, buf);
    assert_int_equal(raft__log_append(&l, &e, 1, false), 0);
    buf[0] = 'z';
    assert_memory_equal(raft__log_get(&l, 5)->data.base, "abc", 3);
    assert_null(raft__log_get(&l, 6));
    assert_true(raft__log_up_to_date(&l, 5, 3));
    assert_true(raft__log_up_to_date(&l, 1, 4));
    assert_false(raft__log_up_to_date(&l, 4, 3));
    assert_false(raft__log_up_to_date(&l, 9, 2));
    raft__log_free(&l);
}

static void test_conflict_and_maybe_append(void **state)
{
    (void)state;
    struct raft_log l;
    uint64_t t[] = {1, 1, 2, 2, 2};
    fill(&l, t, 5);
    uint64_t lastnew;
    bool trunc;
    /* A prefix already present: no change (pitfall #8). */
    struct raft_entry pre[2] = {ent(2, 1, "x"), ent(3, 2, "x")};
    assert_int_equal(raft__log_find_conflict(&l, pre, 2), 0);
    assert_int_equal(raft__log_maybe_append(&l, 1, 1, pre, 2, &lastnew, &trunc), 1);
    assert_int_equal(lastnew, 3);
    assert_false(trunc);
    assert_int_equal(raft__log_last(&l), 5);
    /* prev mismatch: rejected, untouched. */
    assert_int_equal(raft__log_maybe_append(&l, 3, 1, pre, 0, &lastnew, &trunc), 0);
    assert_int_equal(raft__log_maybe_append(&l, 9, 2, NULL, 0, &lastnew, &trunc), 0);
    /* Real conflict at 4: truncated from there, new suffix appended. */
    struct raft_entry nw[3] = {ent(3, 2, "x"), ent(4, 3, "n4"), ent(5, 3, "n5")};
    assert_int_equal(raft__log_find_conflict(&l, nw, 3), 4);
    l.unstable = 6;
    l.persisted = 5;
    assert_int_equal(raft__log_maybe_append(&l, 2, 1, nw, 3, &lastnew, &trunc), 1);
    assert_true(trunc);
    assert_int_equal(lastnew, 5);
    assert_int_equal(raft__log_term0(&l, 4), 3);
    assert_memory_equal(raft__log_get(&l, 5)->data.base, "n5", 2);
    /* #13: the durable/handed-out marks were pulled back to the cut. */
    assert_int_equal(l.unstable, 4);
    assert_int_equal(l.persisted, 3);
    /* Extending past the end appends. */
    struct raft_entry ext[2] = {ent(5, 3, "n5"), ent(6, 3, "n6")};
    assert_int_equal(raft__log_maybe_append(&l, 4, 3, ext, 2, &lastnew, &trunc), 1);
    assert_int_equal(raft__log_last(&l), 6);
    assert_false(trunc);
    /* A conflict at or below commit is refused and changes nothing. */
    l.commit = 5;
    struct raft_entry bad[1] = {ent(5, 4, "b")};
    assert_int_equal(raft__log_maybe_append(&l, 4, 3, bad, 1, &lastnew, &trunc), CN_ECORRUPT);
    assert_int_equal(raft__log_term0(&l, 5), 3);
    /* Malformed (non-contiguous) entries are a mismatch. */
    struct raft_entry gap[2] = {ent(7, 3, NULL), ent(9, 3, NULL)};
    assert_int_equal(raft__log_maybe_append(&l, 6, 3, gap, 2, &lastnew, &trunc), 0);
    raft__log_free(&l);
}

static void test_find_conflict_by_term(void **state)
{
    (void)state;
    struct raft_log l;
    uint64_t t[] = {1, 1, 4, 4, 5, 5};
    fill(&l, t, 6);
    assert_int_equal(raft__log_find_conflict_by_term(&l, 6, 3), 2);
    assert_int_equal(raft__log_find_conflict_by_term(&l, 6, 4), 4);
    assert_int_equal(raft__log_find_conflict_by_term(&l, 9, 9), 6);
    assert_int_equal(raft__log_find_conflict_by_term(&l, 6, 0), 0);
    raft__log_free(&l);
}

static void test_commit_compact_restore(void **state)
{
    (void)state;
    struct raft_log l;
    uint64_t t[] = {1, 1, 2, 2, 3};
    fill(&l, t, 5);
    raft__log_commit_to(&l, 9); /* clamped to the log (#15) */
    assert_int_equal(l.commit, 5);
    raft__log_commit_to(&l, 2); /* never backwards */
    assert_int_equal(l.commit, 5);
    l.applied = 3; /* only applied entries are compacted */
    raft__log_compact(&l, 3);
    assert_int_equal(raft__log_first(&l), 4);
    assert_int_equal(l.snap_term, 2);
    uint64_t term;
    assert_int_equal(raft__log_term(&l, 3, &term), 0);
    assert_int_equal(term, 2);
    assert_int_equal(raft__log_term(&l, 2, &term), CN_ERANGE);
    assert_null(raft__log_get(&l, 3));
    assert_int_equal(raft__log_get(&l, 4)->term, 2);
    /* AppendEntries whose prev is inside the snapshot still works. */
    struct raft_entry e[4] = {ent(2, 1, NULL), ent(3, 2, NULL), ent(4, 2, NULL), ent(5, 3, NULL)};
    uint64_t lastnew;
    bool trunc;
    assert_int_equal(raft__log_maybe_append(&l, 1, 1, e, 4, &lastnew, &trunc), 1);
    assert_int_equal(lastnew, 5);
    assert_int_equal(raft__log_last(&l), 5);
    size_t bytes;
    assert_int_equal(raft__log_span(&l, 4, 0, &bytes), 1); /* at least one */
    raft__log_restore(&l, 10, 4);
    assert_int_equal(raft__log_last(&l), 10);
    assert_int_equal(raft__log_last_term(&l), 4);
    assert_int_equal(l.commit, 10);
    assert_int_equal(l.unstable, 11);
    raft__log_free(&l);
}

static void test_persisted_marks(void **state)
{
    (void)state;
    struct raft_log l;
    uint64_t t[] = {1, 1, 2};
    fill(&l, t, 3);
    l.unstable = 1; /* nothing handed out yet */
    assert_false(raft__log_persisted(&l, 2, 1));
    l.unstable = 4;
    assert_false(raft__log_persisted(&l, 3, 1)); /* wrong term: ABA (#13) */
    assert_true(raft__log_persisted(&l, 3, 2));
    assert_int_equal(l.persisted, 3);
    assert_false(raft__log_persisted(&l, 2, 1)); /* already covered */
    raft__log_truncate(&l, 1);
    assert_int_equal(l.persisted, 1);
    assert_int_equal(l.unstable, 2);
    raft__log_free(&l);
}

static void test_oom_leaves_log_unchanged(void **state)
{
    (void)state;
    struct raft_log l;
    uint64_t t[] = {1, 1, 2};
    fill(&l, t, 3);
    struct raft_entry nw[2] = {ent(3, 3, "aa"), ent(4, 3, "bb")};
    for (long k = 0; k < 4; k++) {
        uint64_t lastnew;
        bool trunc;
        cn_mem_fail_after(k);
        int rc = raft__log_maybe_append(&l, 2, 1, nw, 2, &lastnew, &trunc);
        cn_mem_fail_after(-1);
        if (rc == CN_ENOMEM) {
            assert_int_equal(raft__log_last(&l), 3);
            assert_int_equal(raft__log_term0(&l, 3), 2);
        } else {
            assert_int_equal(rc, 1);
            assert_int_equal(raft__log_last(&l), 4);
            break;
        }
    }
    assert_int_equal(raft__log_term0(&l, 3), 3);
    raft__log_free(&l);
}

static void test_blob_sharing(void **state)
{
    (void)state;
    struct raft_buf b;
    assert_int_equal(raft__buf_dup(&b, "hello", 5), 0);
    struct raft_buf c = b;
    raft__buf_ref(&c);
    raft__buf_unref(&b);
    assert_null(b.base);
    assert_memory_equal(c.base, "hello", 5); /* still alive: ASan checks */
    raft__buf_unref(&c);
    assert_int_equal(raft__buf_dup(&b, NULL, 0), 0);
    assert_null(b.base);
    raft__buf_unref(&b);
}

/* The window: durable, applied entries leave memory; their terms stay. */
static void test_window_evict(void **state)
{
    (void)state;
    struct raft_log l;
    uint64_t t[] = {1, 1, 2, 2, 2, 3, 3, 4, 4, 4};
    fill(&l, t, 10);
    /* Nothing durable or applied yet: nothing to evict. */
    assert_int_equal(raft__log_evict_point(&l, 2, 0), 0);
    l.unstable = 11;
    l.persisted = 9;
    l.commit = 8;
    l.applied = 7;
    /* Both bounds 0: the window is unbounded. */
    assert_int_equal(raft__log_evict_point(&l, 0, 0), 0);
    /* A tail of 2 entries behind min(persisted, applied) = 7. */
    assert_int_equal(raft__log_evict_point(&l, 2, 0), 5);
    /* ...or of 3 payload bytes ("x" each). */
    assert_int_equal(raft__log_evict_point(&l, 0, 3), 4);
    assert_int_equal(raft__log_evict_point(&l, 10, 1), 6);
    assert_int_equal(raft__log_evict(&l, 5), 0);
    assert_int_equal(l.base, 5);
    assert_int_equal(l.n, 5);
    assert_int_equal(l.bytes, 5);
    assert_int_equal(l.n_runs, 2); /* terms 1 (1-2) and 2 (3-5) */
    /* The log still spans 1..10; evicted entries have terms, no bytes. */
    assert_int_equal(raft__log_first(&l), 1);
    assert_int_equal(raft__log_last(&l), 10);
    assert_null(raft__log_get(&l, 5));
    assert_non_null(raft__log_get(&l, 6));
    for (uint64_t i = 1; i <= 10; i++)
        assert_int_equal(raft__log_term0(&l, i), t[i - 1]);
    assert_true(raft__log_match(&l, 4, 2));
    assert_false(raft__log_match(&l, 4, 1));
    /* Fast backtracking walks the runs. */
    assert_int_equal(raft__log_find_conflict_by_term(&l, 9, 3), 7);
    assert_int_equal(raft__log_find_conflict_by_term(&l, 9, 2), 5);
    assert_int_equal(raft__log_find_conflict_by_term(&l, 4, 1), 2);
    assert_int_equal(raft__log_find_conflict_by_term(&l, 9, 0), 0);
    /* An APPEND whose prev is in the evicted part still matches by term. */
    uint64_t lastnew = 0;
    bool tr = false;
    struct raft_entry e11 = ent(11, 4, "y");
    assert_int_equal(raft__log_maybe_append(&l, 10, 4, &e11, 1, &lastnew, &tr), 1);
    assert_int_equal(lastnew, 11);
    assert_int_equal(raft__log_maybe_append(&l, 5, 1, &e11, 1, &lastnew, &tr), 0);
    /* More eviction appends to the last run or starts one. */
    assert_int_equal(raft__log_evict(&l, 7), 0);
    assert_int_equal(l.n_runs, 3);
    assert_int_equal(raft__log_term0(&l, 7), 3);
    assert_int_equal(raft__log_last_term(&l), 4);
    /* Compaction inside the evicted part forgets terms only. */
    raft__log_compact(&l, 4);
    assert_int_equal(raft__log_first(&l), 5);
    assert_int_equal(l.snap_term, 2);
    assert_int_equal(l.base, 7);
    uint64_t term;
    assert_int_equal(raft__log_term(&l, 3, &term), CN_ERANGE);
    assert_int_equal(raft__log_term0(&l, 5), 2);
    assert_int_equal(raft__log_term0(&l, 6), 3);
    /* ...and past it drops window entries as before. */
    l.applied = 8;
    raft__log_compact(&l, 8);
    assert_int_equal(l.base, 8);
    assert_int_equal(l.n_runs, 0);
    assert_int_equal(raft__log_term0(&l, 8), 4);
    assert_int_equal(raft__log_last(&l), 11);
    assert_int_equal(l.bytes, 3);
    raft__log_free(&l);
}

/* A window emptied entirely: the last term comes from the runs. */
static void test_window_all_evicted(void **state)
{
    (void)state;
    struct raft_log l;
    uint64_t t[] = {1, 2, 3};
    fill(&l, t, 3);
    l.unstable = 4;
    l.persisted = l.commit = l.applied = 3;
    assert_int_equal(raft__log_evict_point(&l, 0, 0), 0);
    assert_int_equal(raft__log_evict(&l, 3), 0);
    assert_int_equal(l.n, 0);
    assert_int_equal(raft__log_last(&l), 3);
    assert_int_equal(raft__log_last_term(&l), 3);
    assert_true(raft__log_up_to_date(&l, 3, 3));
    struct raft_entry e4 = ent(4, 3, "z");
    assert_int_equal(raft__log_append(&l, &e4, 1, false), 0);
    assert_int_equal(raft__log_last(&l), 4);
    /* Truncation stays in the window (after >= commit >= base). */
    raft__log_truncate(&l, 3);
    assert_int_equal(raft__log_last(&l), 3);
    raft__log_restore(&l, 10, 5);
    assert_int_equal(l.base, 10);
    assert_int_equal(l.n_runs, 0);
    assert_int_equal(raft__log_last_term(&l), 5);
    raft__log_free(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_and_term),
        cmocka_unit_test(test_conflict_and_maybe_append),
        cmocka_unit_test(test_find_conflict_by_term),
        cmocka_unit_test(test_commit_compact_restore),
        cmocka_unit_test(test_persisted_marks),
        cmocka_unit_test(test_oom_leaves_log_unchanged),
        cmocka_unit_test(test_blob_sharing),
        cmocka_unit_test(test_window_evict),
        cmocka_unit_test(test_window_all_evicted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
