/* KV transactions: Consul's txn semantics (which verbs return entries, error
 * texts, all-or-nothing). */
#include "helpers.h"

static int setup(void **st)
{
    *st = state_new();
    return *st ? 0 : -1;
}

static int teardown(void **st)
{
    state_free(*st);
    return 0;
}

static void test_results_per_verb(void **st)
{
    struct state *s = *st;
    kvset(s, 1, "t/a", "A");
    kvset(s, 2, "t/b", "B");
    struct state_kv_op ops[] = {
        kvop(STATE_KV_SET, "t/c", "C", 0),                /* entry, no value */
        kvop(STATE_KV_GET, "t/a", NULL, 0),               /* entry with value */
        kvop(STATE_KV_GET_TREE, "t/", NULL, 0),           /* 3 entries with values */
        kvop(STATE_KV_CHECK_INDEX, "t/c", NULL, 3),       /* sees the earlier set */
        kvop(STATE_KV_CHECK_NOT_EXISTS, "t/zz", NULL, 0), /* no entry */
        kvop(STATE_KV_DELETE, "t/b", NULL, 0),            /* no entry */
        kvop(STATE_KV_GET_OR_EMPTY, "t/b", NULL, 0),      /* deleted above: empty entry */
        kvop(STATE_KV_CHECK_SESSION, "t/a", NULL, 0),     /* unlocked == no session */
        kvop(STATE_KV_CAS, "t/a", "A2", 1),               /* entry, no value */
        kvop(STATE_KV_DELETE_TREE, "t/c", NULL, 0),       /* no entry */
    };
    struct state_result res;
    state_result_init(&res);
    assert_int_equal(txn(s, 3, ops, sizeof(ops) / sizeof(ops[0]), &res), 0);
    assert_int_equal(res.rc, 0);
    assert_true(res.ok);
    assert_int_equal(res.nerrors, 0);
    assert_int_equal(res.nresults, 9);
    struct state_kv_copy *r = res.results;
    assert_string_equal(r[0].key, "t/c");
    assert_false(r[0].has_value);
    assert_null(r[0].value);
    assert_int_equal(r[0].create_index, 3);
    assert_int_equal(r[0].modify_index, 3);
    assert_string_equal(r[1].key, "t/a");
    assert_true(r[1].has_value);
    assert_int_equal(r[1].value_len, 1);
    assert_memory_equal(r[1].value, "A", 1);
    assert_string_equal(r[2].key, "t/a");
    assert_string_equal(r[3].key, "t/b");
    assert_string_equal(r[4].key, "t/c");
    assert_true(r[4].has_value);
    assert_string_equal(r[5].key, "t/c"); /* check-index */
    assert_false(r[5].has_value);
    assert_string_equal(r[6].key, "t/b"); /* get-or-empty */
    assert_false(r[6].has_value);
    assert_int_equal(r[6].create_index, 0);
    assert_string_equal(r[7].key, "t/a"); /* check-session */
    assert_false(r[7].has_value);
    assert_string_equal(r[8].key, "t/a"); /* cas */
    assert_int_equal(r[8].modify_index, 3);
    assert_int_equal(r[8].create_index, 1);
    state_result_free(&res);

    assert_null(kvget(s, "t/b"));
    assert_null(kvget(s, "t/c"));
    assert_memory_equal(kvget(s, "t/a")->value, "A2", 2);
}

static void test_all_or_nothing(void **st)
{
    struct state *s = *st;
    struct recorder rec = {.n = 0};
    kvset(s, 1, "x", "1");
    kvset(s, 2, "gone", "1");
    state_set_change_cb(s, recorder_cb, &rec);
    struct cn_buf before;
    snap(s, &before);
    struct state_kv_op ops[] = {
        kvop(STATE_KV_SET, "a", "1", 0),         kvop(STATE_KV_DELETE, "gone", NULL, 0),
        kvop(STATE_KV_DELETE_TREE, "", NULL, 0), kvop(STATE_KV_SET, "b", "2", 0),
        kvop(STATE_KV_CAS, "x", "9", 99), /* fails after successful writes */
        kvop(STATE_KV_GET, "nope", NULL, 0),
    };
    struct state_result res;
    state_result_init(&res);
    assert_int_equal(txn(s, 3, ops, 6, &res), CN_ECONFLICT);
    assert_int_equal(res.rc, CN_ECONFLICT);
    assert_false(res.ok);
    assert_int_equal(res.nresults, 0);
    assert_null(res.results);
    /* Like txnDispatch, every failing op is reported, not just the first. */
    assert_int_equal(res.nerrors, 2);
    assert_int_equal(res.errors[0].op_index, 4);
    assert_string_equal(res.errors[0].what, "failed to set key \"x\", index is stale");
    assert_int_equal(res.errors[1].op_index, 5);
    /* The delete-tree removed x before the cas ran: it sees that. */
    state_result_free(&res);
    assert_int_equal(rec.n, 0);
    assert_int_equal(state_last_index(s), 3);
    /* Everything but the applied index is as before. */
    struct state *t = state_new();
    char err[128];
    assert_int_equal(state_snapshot_restore(t, before.p, before.len, err, sizeof(err)), 0);
    assert_int_equal(state_apply(t, 3, "\x00\x01", 2, NULL), 0); /* a NOOP */
    struct cn_buf want;
    snap(t, &want);
    assert_same_snap(&want, s);
    cn_buf_free(&want);
    cn_buf_free(&before);
    state_free(t);
    state_set_change_cb(s, NULL, NULL);
}

static void test_error_texts(void **st)
{
    struct state *s = *st;
    struct state_result res;
    state_result_init(&res);
    kvset(s, 5, "k", "v");

    assert_int_equal(op1(s, 6, STATE_KV_GET, "m\"q", NULL, 0, &res), CN_ECONFLICT);
    assert_false(res.ok);
    assert_string_equal(res.errors[0].what, "key \"m\\\"q\" doesn't exist");
    assert_int_equal(op1(s, 7, STATE_KV_CHECK_INDEX, "k", NULL, 3, &res), CN_ECONFLICT);
    assert_string_equal(res.errors[0].what,
                        "failed index check for key \"k\", current modify index 5 != 3");
    assert_int_equal(op1(s, 8, STATE_KV_CHECK_INDEX, "m", NULL, 3, &res), CN_ECONFLICT);
    assert_string_equal(res.errors[0].what, "failed to check index, key \"m\" doesn't exist");
    assert_int_equal(op1(s, 9, STATE_KV_CHECK_NOT_EXISTS, "k", NULL, 0, &res), CN_ECONFLICT);
    assert_string_equal(res.errors[0].what, "key \"k\" exists");
    assert_int_equal(op1(s, 10, STATE_KV_CHECK_NOT_EXISTS, "m", NULL, 0, &res), 0);
    assert_true(res.ok);
    assert_int_equal(res.nresults, 0);

    struct state_kv_op op = kvop(STATE_KV_CHECK_SESSION, "k", NULL, 0);
    op.session = "abc";
    assert_int_equal(txn(s, 11, &op, 1, &res), CN_ECONFLICT);
    assert_string_equal(res.errors[0].what,
                        "failed session check for key \"k\", current session \"\" != \"abc\"");
    op.key = "m";
    assert_int_equal(txn(s, 12, &op, 1, &res), CN_ECONFLICT);
    assert_string_equal(res.errors[0].what, "failed to check session, key \"m\" doesn't exist");

    /* Lock/unlock without a session, with an unknown one, or not held. */
    op = kvop(STATE_KV_LOCK, "k", "v", 0);
    assert_int_equal(txn(s, 13, &op, 1, &res), CN_EINVAL);
    assert_false(res.ok);
    assert_string_equal(res.errors[0].what, "missing session");
    op.session = "s1";
    assert_int_equal(txn(s, 14, &op, 1, &res), CN_EINVAL);
    assert_string_equal(res.errors[0].what, "invalid session \"s1\"");
    op.verb = STATE_KV_UNLOCK;
    assert_int_equal(txn(s, 15, &op, 1, &res), CN_ECONFLICT);
    assert_string_equal(res.errors[0].what, "failed to unlock key \"k\", lock isn't held, or is "
                                            "held by another session");
    assert_int_equal(op1(s, 16, STATE_KV_SET, "", "v", 0, &res), CN_EINVAL);
    assert_int_equal(kvget(s, "k")->modify_index, 5);
    assert_int_equal(state_last_index(s), 16);
    state_result_free(&res);
}

static void test_get_tree_and_ok(void **st)
{
    struct state *s = *st;
    struct state_result res;
    state_result_init(&res);
    assert_int_equal(op1(s, 1, STATE_KV_GET_TREE, "none/", NULL, 0, &res), 0);
    assert_true(res.ok);
    assert_int_equal(res.nresults, 0);
    kvset(s, 2, "g/1", "x");
    assert_int_equal(op1(s, 3, STATE_KV_GET, "g/1", NULL, 0, &res), 0);
    assert_true(res.ok);
    assert_int_equal(res.nresults, 1);
    assert_true(res.results[0].has_value);
    assert_int_equal(op1(s, 4, STATE_KV_DELETE_TREE, "g/", NULL, 0, &res), 0);
    assert_true(res.ok);
    assert_int_equal(res.nresults, 0);
    /* Reads-only txns still count as applied and change nothing else. */
    assert_int_equal(state_table_index(s, STATE_T_KV), 4);
    state_result_free(&res);
}

/* Results are recorded as the ops run and copied out at the end: each shows
 * the entry as its op saw it, even when a later op of the same txn replaced
 * the record, and a get-tree may give more results than there are ops. */
static void test_results_snapshot_each_op(void **st)
{
    struct state *s = *st;
    char key[16];
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof(key), "t/%02d", i);
        kvset(s, (uint64_t)i + 1, key, "old");
    }
    struct state_kv_op ops[] = {
        kvop(STATE_KV_GET, "t/03", NULL, 0),    kvop(STATE_KV_SET, "t/03", "new!", 0),
        kvop(STATE_KV_GET, "t/03", NULL, 0),    kvop(STATE_KV_GET_TREE, "t/", NULL, 0),
        kvop(STATE_KV_DELETE, "t/03", NULL, 0),
    };
    ops[1].flags = 5;
    struct state_result res;
    state_result_init(&res);
    assert_int_equal(txn(s, 30, ops, 5, &res), 0);
    assert_int_equal(res.nresults, 3 + 20);
    assert_string_equal(res.results[0].key, "t/03");
    assert_int_equal(res.results[0].value_len, 3);
    assert_memory_equal(res.results[0].value, "old", 3);
    assert_int_equal(res.results[0].flags, 0);
    assert_false(res.results[1].has_value); /* a set's result has no value */
    assert_null(res.results[1].value);
    assert_int_equal(res.results[1].flags, 5);
    assert_int_equal(res.results[1].modify_index, 30);
    assert_int_equal(res.results[1].create_index, 4);
    assert_memory_equal(res.results[2].value, "new!", 4);
    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof(key), "t/%02d", i);
        assert_string_equal(res.results[3 + i].key, key);
        assert_true(res.results[3 + i].has_value);
        assert_memory_equal(res.results[3 + i].value, i == 3 ? "new!" : "old", i == 3 ? 4 : 3);
        assert_null(res.results[3 + i].session);
    }
    assert_null(kvget(s, "t/03"));
    state_result_free(&res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_results_per_verb, setup, teardown),
        cmocka_unit_test_setup_teardown(test_all_or_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_texts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_get_tree_and_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_results_snapshot_each_op, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
