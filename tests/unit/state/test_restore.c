/* Restores carried by the log (state/restore.c): chunks staged, a commit
 * replaces the state at its index, indexes clamped and bumped, every refusal
 * changes nothing. */
#include "helpers.h"

static void chunk(struct state *s, uint64_t idx, uint64_t id, uint32_t seq, uint64_t total,
                  const void *p, size_t n, int want)
{
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(state_cmd_restore_chunk(&b, id, seq, total, p, n), 0);
    struct state_result res;
    state_result_init(&res);
    assert_int_equal(apply_buf(s, idx, &b, &res), want);
    state_result_free(&res);
}

static int commit(struct state *s, uint64_t idx, uint64_t id, uint64_t total)
{
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(state_cmd_restore_commit(&b, id, total), 0);
    struct state_result res;
    state_result_init(&res);
    int rc = apply_buf(s, idx, &b, &res);
    state_result_free(&res);
    return rc;
}

/* Restore `a` (an encoding) into t in pieces of n bytes from index idx on. */
static uint64_t restore_pieces(struct state *t, uint64_t idx, const struct cn_buf *a, size_t n)
{
    uint32_t seq = 0;
    for (size_t off = 0; off < a->len; off += n, seq++) {
        size_t k = a->len - off < n ? a->len - off : n;
        chunk(t, idx++, 77, seq, a->len, a->p + off, k, 0);
        assert_true(state_restore_staging(t));
    }
    return idx;
}

static void test_restore_later_index(void **st)
{
    (void)st;
    struct state *s = state_new();
    populate(s); /* indexes up to 11 */
    struct cn_buf a;
    snap(s, &a);
    struct state *t = state_new();
    for (uint64_t i = 1; i <= 40; i++)
        kvset(t, i, "mine", "x");
    struct recorder r = {.n = 0};
    state_set_change_cb(t, recorder_cb, &r);
    uint64_t idx = restore_pieces(t, 41, &a, 100);
    assert_non_null(kvget(t, "mine")); /* nothing replaced until the commit */
    assert_int_equal(commit(t, idx, 77, a.len), 0);
    assert_false(state_restore_staging(t));
    assert_null(kvget(t, "mine"));
    assert_memory_equal(kvget(t, "a/b")->value, "22", 2);
    assert_int_equal(kvget(t, "a/b")->modify_index, idx); /* modified by the restore */
    assert_int_equal(kvget(t, "a/b")->create_index, 2);
    assert_int_equal(state_last_index(t), idx);
    for (int i = 0; i < STATE_T__COUNT; i++)
        if (i != STATE_T_EVENTS)
            assert_int_equal(state_table_index(t, (enum state_table)i), idx);
    /* Later writes go on from there. */
    kvset(t, idx + 1, "after", "1");
    assert_int_equal(kvget(t, "after")->modify_index, idx + 1);
    cn_buf_free(&a);
    state_free(s);
    state_free(t);
}

static void test_restore_clamps_higher_indexes(void **st)
{
    (void)st;
    struct state *s = state_new();
    for (uint64_t i = 1; i <= 500; i++)
        kvset(s, i, i % 2 ? "odd" : "even", "v");
    struct cn_buf a;
    snap(s, &a);
    struct state *t = state_new(); /* a fresh server: index 3 */
    kvset(t, 1, "x", "1");
    uint64_t idx = restore_pieces(t, 2, &a, a.len);
    assert_int_equal(commit(t, idx, 77, a.len), 0);
    assert_int_equal(state_last_index(t), idx);
    assert_true(kvget(t, "odd")->modify_index <= idx);
    assert_true(kvget(t, "even")->create_index <= kvget(t, "even")->modify_index);
    assert_int_equal(state_table_index(t, STATE_T_KV), idx);
    /* A snapshot of the result decodes (indexes consistent). */
    struct cn_buf b;
    snap(t, &b);
    struct state *u = state_new();
    assert_int_equal(state_snapshot_restore(u, b.p, b.len, NULL, 0), 0);
    cn_buf_free(&a);
    cn_buf_free(&b);
    state_free(s);
    state_free(t);
    state_free(u);
}

static void test_refusals_change_nothing(void **st)
{
    (void)st;
    struct state *s = state_new();
    populate(s);
    struct cn_buf a;
    snap(s, &a);
    struct state *t = state_new();
    kvset(t, 1, "keep", "me");
    struct cn_buf before;
    snap(t, &before);

    /* A chunk out of sequence, a commit without chunks or of another id. */
    chunk(t, 2, 5, 1, a.len, a.p, 10, CN_EINVAL);
    assert_false(state_restore_staging(t));
    assert_int_equal(commit(t, 3, 5, a.len), CN_EINVAL);
    chunk(t, 4, 5, 0, a.len, a.p, 10, 0);
    assert_int_equal(commit(t, 5, 6, a.len), CN_EINVAL);
    assert_false(state_restore_staging(t));
    /* Chunks beyond the announced length. */
    chunk(t, 6, 5, 0, 4, a.p, 10, CN_EINVAL);
    /* A damaged encoding: staged whole, refused at the commit. */
    uint8_t *bad = cn_malloc(a.len);
    memcpy(bad, a.p, a.len);
    bad[a.len / 2] ^= 0x40;
    chunk(t, 7, 9, 0, a.len, bad, a.len, 0);
    assert_int_equal(commit(t, 8, 9, a.len), CN_EINVAL);
    cn_free(bad);
    /* An abandoned staging (a leader lost its term). */
    chunk(t, 9, 10, 0, a.len, a.p, 10, 0);
    state_restore_abort(t);
    assert_false(state_restore_staging(t));
    assert_int_equal(commit(t, 10, 10, a.len), CN_EINVAL);

    assert_memory_equal(kvget(t, "keep")->value, "me", 2);
    assert_int_equal(state_table_index(t, STATE_T_KV), 1);
    assert_int_equal(state_last_index(t), 10); /* refusals count as applied */
    cn_buf_free(&a);
    cn_buf_free(&before);
    state_free(s);
    state_free(t);
}

static void test_counts(void **st)
{
    (void)st;
    struct state *s = state_new();
    populate(s);
    struct state_counts k;
    state_counts(s, &k);
    assert_int_equal(k.kv, state_kv_count(s));
    assert_int_equal(k.kv_tombstones, 1);
    assert_true(k.nodes >= 1 && k.services >= 1 && k.checks >= 2);
    state_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_restore_later_index),
        cmocka_unit_test(test_restore_clamps_higher_indexes),
        cmocka_unit_test(test_refusals_change_nothing),
        cmocka_unit_test(test_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
