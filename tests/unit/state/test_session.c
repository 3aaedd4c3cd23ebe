/* tests/unit/state/test_session.c: the sessions table, KV lock/unlock, and
 * invalidation (destroy, node removal, a check turning critical or removed)
 * releasing or deleting keys and starting lock-delay; snapshots carry it. */
#include "helpers.h"
#include "state/state_int.h" /* the held-keys index, checked against the KV tree */

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

static char *node_checks1[] = {"serfHealth"};

static int mksess(struct state *s, uint64_t idx, const char *id, const char *node,
                  const char *behavior, char **checks, size_t nchecks, int64_t delay_ns,
                  struct state_result *res)
{
    struct state_session v;
    memset(&v, 0, sizeof(v));
    v.id = (char *)id;
    v.name = (char *)"n";
    v.node = (char *)node;
    v.behavior = (char *)behavior;
    v.ttl = (char *)"";
    v.lock_delay_ns = delay_ns;
    v.node_checks = checks;
    v.n_node_checks = nchecks;
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(state_cmd_session_create(&b, &v), 0);
    return apply_buf(s, idx, &b, res);
}

static int destroy(struct state *s, uint64_t idx, const char *id, struct state_result *res)
{
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(state_cmd_session_destroy(&b, id), 0);
    return apply_buf(s, idx, &b, res);
}

static int lock(struct state *s, uint64_t idx, enum state_kv_verb verb, const char *key,
                const char *val, const char *sess, struct state_result *res)
{
    struct state_kv_op op = kvop(verb, key, val, 0);
    op.session = sess;
    return txn(s, idx, &op, 1, res);
}

/* node n1 with serfHealth passing and a ttl check "t" passing */
static void node1(struct state *s, uint64_t idx)
{
    struct reg_fixture f;
    reg_init(&f, "n1", "10.0.0.1");
    reg_check(&f, "serfHealth", "", "passing");
    reg_check(&f, "t", "", "passing");
    assert_int_equal(reg_apply(s, idx, &f, NULL), 0);
}

static void test_create_validates(void **st)
{
    struct state *s = *st;
    struct state_result res;
    state_result_init(&res);
    assert_int_equal(mksess(s, 1, "s1", "n1", "release", NULL, 0, 0, &res), CN_EINVAL);
    assert_string_equal(res.errors[0].what, "Missing node registration");
    node1(s, 2);
    char *bad[] = {"nope"};
    assert_int_equal(mksess(s, 3, "s1", "n1", "release", bad, 1, 0, &res), CN_EINVAL);
    assert_string_equal(res.errors[0].what, "Missing check 'nope' registration");
    assert_int_equal(set_status(s, 4, "n1", "t", "critical", "", NULL), 0);
    char *tc[] = {"t"};
    assert_int_equal(mksess(s, 5, "s1", "n1", "release", tc, 1, 0, &res), CN_EINVAL);
    assert_string_equal(res.errors[0].what, "Check 't' is in critical state");
    assert_int_equal(mksess(s, 6, "s1", "n1", "bogus", NULL, 0, 0, &res), CN_EINVAL);
    assert_int_equal(state_session_count(s), 0);
    assert_int_equal(state_table_index(s, STATE_T_SESSIONS), 0);

    struct recorder r = {.n = 0};
    state_set_change_cb(s, recorder_cb, &r);
    assert_int_equal(mksess(s, 7, "s1", "n1", "release", node_checks1, 1, 0, &res), 0);
    assert_true(res.ok);
    assert_int_equal(recorded(&r, STATE_T_SESSIONS, "s1"), 1);
    const struct state_session *v = state_session_get(s, "s1");
    assert_non_null(v);
    assert_int_equal(v->create_index, 7);
    assert_int_equal(v->n_node_checks, 1);
    assert_string_equal(v->node_checks[0], "serfHealth");
    assert_int_equal(state_table_index(s, STATE_T_SESSIONS), 7);
    assert_int_equal(mksess(s, 8, "s1", "n1", "release", NULL, 0, 0, &res), CN_EINVAL);
    assert_int_equal(state_session_count(s), 1);
    state_result_free(&res);
}

static void test_lock_unlock(void **st)
{
    struct state *s = *st;
    struct state_result res;
    state_result_init(&res);
    node1(s, 1);
    assert_int_equal(mksess(s, 2, "s1", "n1", "release", NULL, 0, 0, NULL), 0);
    assert_int_equal(mksess(s, 3, "s2", "n1", "release", NULL, 0, 0, NULL), 0);
    assert_int_equal(lock(s, 4, STATE_KV_LOCK, "k", "a", "s1", &res), 0);
    assert_true(res.ok);
    assert_int_equal(kvget(s, "k")->lock_index, 1);
    assert_string_equal(kvget(s, "k")->session, "s1");
    /* re-acquire by the holder: value changes, LockIndex does not */
    assert_int_equal(lock(s, 5, STATE_KV_LOCK, "k", "b", "s1", &res), 0);
    assert_int_equal(kvget(s, "k")->lock_index, 1);
    assert_int_equal(kvget(s, "k")->modify_index, 5);
    assert_memory_equal(kvget(s, "k")->value, "b", 1);
    /* another session: refused, nothing changes */
    assert_int_equal(lock(s, 6, STATE_KV_LOCK, "k", "c", "s2", &res), CN_ECONFLICT);
    assert_false(res.ok);
    assert_string_equal(res.errors[0].what, "failed to lock key \"k\", lock is already held");
    assert_int_equal(lock(s, 7, STATE_KV_UNLOCK, "k", "c", "s2", &res), CN_ECONFLICT);
    assert_int_equal(lock(s, 8, STATE_KV_LOCK, "k", "c", "zz", &res), CN_EINVAL);
    assert_string_equal(res.errors[0].what, "invalid session \"zz\"");
    assert_int_equal(kvget(s, "k")->modify_index, 5);
    /* release keeps LockIndex; a new holder bumps it */
    assert_int_equal(lock(s, 9, STATE_KV_UNLOCK, "k", "d", "s1", &res), 0);
    assert_true(res.ok);
    assert_null(kvget(s, "k")->session);
    assert_int_equal(kvget(s, "k")->lock_index, 1);
    assert_int_equal(lock(s, 10, STATE_KV_LOCK, "k", "e", "s2", &res), 0);
    assert_int_equal(kvget(s, "k")->lock_index, 2);
    /* check-session */
    struct state_kv_op op = kvop(STATE_KV_CHECK_SESSION, "k", NULL, 0);
    op.session = "s2";
    assert_int_equal(txn(s, 11, &op, 1, &res), 0);
    op.session = "s1";
    assert_int_equal(txn(s, 12, &op, 1, &res), CN_ECONFLICT);
    state_result_free(&res);
}

static void test_invalidation(void **st)
{
    struct state *s = *st;
    struct state_result res;
    state_result_init(&res);
    node1(s, 1);
    char *tc[] = {"t"};
    assert_int_equal(mksess(s, 2, "rel", "n1", "release", tc, 1, 5000000000, NULL), 0);
    assert_int_equal(mksess(s, 3, "del", "n1", "delete", NULL, 0, 0, NULL), 0);
    assert_int_equal(mksess(s, 4, "other", "n1", "release", node_checks1, 1, 0, NULL), 0);
    assert_int_equal(lock(s, 5, STATE_KV_LOCK, "a", "1", "rel", NULL), 0);
    assert_int_equal(lock(s, 6, STATE_KV_LOCK, "b", "2", "del", NULL), 0);
    assert_int_equal(lock(s, 7, STATE_KV_LOCK, "c", "3", "other", NULL), 0);
    uint64_t li;
    int64_t ld;
    assert_false(state_kv_lock_delay(s, "a", &li, &ld));

    /* check t critical: only "rel" goes; its key is released, lock-delay starts */
    struct recorder r = {.n = 0};
    state_set_change_cb(s, recorder_cb, &r);
    assert_int_equal(set_status(s, 8, "n1", "t", "critical", "", NULL), 0);
    assert_null(state_session_get(s, "rel"));
    assert_non_null(state_session_get(s, "del"));
    assert_null(kvget(s, "a")->session);
    assert_int_equal(kvget(s, "a")->modify_index, 8);
    assert_int_equal(kvget(s, "a")->lock_index, 1);
    assert_int_equal(recorded(&r, STATE_T_SESSIONS, "rel"), 1);
    assert_int_equal(recorded(&r, STATE_T_KV, "a"), 1);
    assert_true(state_kv_lock_delay(s, "a", &li, &ld));
    assert_int_equal(li, 8);
    assert_int_equal(ld, 5000000000);
    assert_int_equal(state_table_index(s, STATE_T_SESSIONS), 8);

    /* destroy "del": its key is deleted; destroy again is ok = false */
    assert_int_equal(destroy(s, 9, "del", &res), 0);
    assert_true(res.ok);
    assert_null(kvget(s, "b"));
    assert_false(state_kv_lock_delay(s, "b", &li, &ld)); /* no delay configured */
    assert_int_equal(destroy(s, 10, "del", &res), 0);
    assert_false(res.ok);

    /* removing the node takes "other" */
    assert_int_equal(dereg(s, 11, "n1", NULL, NULL, NULL), 0);
    assert_int_equal(state_session_count(s), 0);
    assert_null(kvget(s, "c")->session);

    /* lock-delays go with a reap past their index */
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(state_cmd_kv_reap(&b, 8), 0);
    assert_int_equal(apply_buf(s, 12, &b, NULL), 0);
    assert_false(state_kv_lock_delay(s, "a", &li, &ld));
    state_result_free(&res);
}

static void test_removed_check_and_renew(void **st)
{
    struct state *s = *st;
    struct state_result res;
    state_result_init(&res);
    node1(s, 1);
    char *tc[] = {"t"};
    assert_int_equal(mksess(s, 2, "s1", "n1", "release", tc, 1, 0, NULL), 0);
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(state_cmd_session_renew(&b, "s1"), 0);
    assert_int_equal(apply_buf(s, 3, &b, &res), 0);
    assert_int_equal(state_session_get(s, "s1")->renew_index, 3);
    assert_int_equal(state_session_renew_index(s), 3);
    assert_int_equal(state_table_index(s, STATE_T_SESSIONS), 2); /* renewals are invisible */
    assert_int_equal(state_cmd_session_renew(&b, "nope"), 0);
    assert_int_equal(apply_buf(s, 4, &b, &res), CN_ENOTFOUND);
    assert_string_equal(res.errors[0].what, "Session id 'nope' not found");
    assert_int_equal(dereg(s, 5, "n1", NULL, "t", NULL), 0);
    assert_null(state_session_get(s, "s1"));
    state_result_free(&res);
}

static void test_snapshot_and_oom(void **st)
{
    struct state *s = *st;
    node1(s, 1);
    char *tc[] = {"t", "serfHealth"};
    assert_int_equal(mksess(s, 2, "s1", "n1", "release", tc, 2, 1000, NULL), 0);
    assert_int_equal(mksess(s, 3, "s2", "n1", "delete", NULL, 0, 7, NULL), 0);
    assert_int_equal(lock(s, 4, STATE_KV_LOCK, "k", "v", "s1", NULL), 0);
    assert_int_equal(lock(s, 5, STATE_KV_LOCK, "k2", "v", "s2", NULL), 0);
    assert_int_equal(destroy(s, 6, "s2", NULL), 0);
    struct cn_buf a;
    snap(s, &a);
    struct state *t = state_new();
    char err[160];
    assert_int_equal(state_snapshot_restore(t, a.p, a.len, err, sizeof(err)), 0);
    assert_same_snap(&a, t);
    assert_int_equal(state_session_count(t), 1);
    assert_int_equal(state_session_get(t, "s1")->n_node_checks, 2);
    uint64_t li;
    int64_t ld;
    assert_true(state_kv_lock_delay(t, "k2", &li, &ld));
    assert_int_equal(li, 6);
    assert_int_equal(state_mem_bytes(t), state_mem_bytes(s));

    /* Out of memory anywhere in an invalidation changes nothing. */
    for (long n = 0;; n++) {
        struct cn_buf b = CN_BUF_INIT;
        assert_int_equal(state_cmd_check_status(&b, "n1", "t", "critical", "x"), 0);
        cn_mem_fail_after(n);
        int rc = state_apply(t, 7, b.p, b.len, NULL);
        cn_mem_fail_after(-1);
        cn_buf_free(&b);
        if (rc == 0)
            break;
        assert_int_equal(rc, CN_ENOMEM);
        assert_same_snap(&a, t);
    }
    assert_int_equal(state_session_count(t), 0);
    assert_null(kvget(t, "k")->session);
    cn_buf_free(&a);
    state_free(t);
}

/* The session -> held keys index follows every KV change (lock, re-lock by
 * the holder, plain PUT on a locked key, unlock, delete, delete-tree, a
 * lock taken over after release) and invalidation walks only it; a
 * restored snapshot rebuilds it, and a failed (out of memory) command
 * leaves it as it was. */
static void test_held_index(void **st)
{
    struct state *s = *st;
    node1(s, 1);
    assert_int_equal(mksess(s, 2, "s1", "n1", "release", NULL, 0, 0, NULL), 0);
    assert_int_equal(mksess(s, 3, "s2", "n1", "delete", NULL, 0, 0, NULL), 0);
    uint64_t i = 4;
    char key[32];
    for (int k = 0; k < 50; k++) { /* 50 unlocked keys around the locked ones */
        snprintf(key, sizeof(key), "free/%02d", k);
        kvset(s, i++, key, "v");
    }
    for (int k = 0; k < 10; k++) {
        snprintf(key, sizeof(key), "l/%02d", k);
        assert_int_equal(lock(s, i++, STATE_KV_LOCK, key, "v", k % 2 ? "s2" : "s1", NULL), 0);
    }
    assert_int_equal(state__held_count(s, "s1"), 5);
    assert_int_equal(state__held_count(s, "s2"), 5);
    assert_true(state__held_agrees(s, NULL));
    /* the holder re-locks; a plain PUT keeps the lock; the other cannot take it */
    assert_int_equal(lock(s, i++, STATE_KV_LOCK, "l/00", "w", "s1", NULL), 0);
    kvset(s, i++, "l/02", "plain");
    assert_int_not_equal(lock(s, i++, STATE_KV_LOCK, "l/04", "x", "s2", NULL), 0);
    assert_string_equal(kvget(s, "l/04")->session, "s1");
    assert_int_equal(state__held_count(s, "s1"), 5);
    /* unlock, then the other session takes it */
    assert_int_equal(lock(s, i++, STATE_KV_UNLOCK, "l/04", "x", "s1", NULL), 0);
    assert_int_equal(lock(s, i++, STATE_KV_LOCK, "l/04", "y", "s2", NULL), 0);
    assert_int_equal(state__held_count(s, "s1"), 4);
    assert_int_equal(state__held_count(s, "s2"), 6);
    /* delete a locked key, and a tree holding two */
    assert_int_equal(op1(s, i++, STATE_KV_DELETE, "l/06", NULL, 0, NULL), 0);
    assert_int_equal(op1(s, i++, STATE_KV_DELETE_TREE, "l/0", NULL, 0, NULL), 0);
    assert_int_equal(state__held_count(s, "s1") + state__held_count(s, "s2"), 0);
    assert_true(state__held_agrees(s, NULL));
    for (int k = 0; k < 6; k++) {
        snprintf(key, sizeof(key), "m/%02d", k);
        assert_int_equal(lock(s, i++, STATE_KV_LOCK, key, "v", k < 3 ? "s1" : "s2", NULL), 0);
    }
    /* a snapshot rebuilds the index */
    struct cn_buf a;
    snap(s, &a);
    struct state *t = state_new();
    char err[160];
    assert_int_equal(state_snapshot_restore(t, a.p, a.len, err, sizeof(err)), 0);
    assert_int_equal(state__held_count(t, "s1"), 3);
    assert_true(state__held_agrees(t, NULL));
    assert_int_equal(state_mem_bytes(t), state_mem_bytes(s));
    /* destroy s2 under failing allocations: all or nothing, index included */
    for (long n = 0;; n++) {
        struct cn_buf b = CN_BUF_INIT;
        assert_int_equal(state_cmd_session_destroy(&b, "s2"), 0);
        cn_mem_fail_after(n);
        int rc = state_apply(t, i, b.p, b.len, NULL);
        cn_mem_fail_after(-1);
        cn_buf_free(&b);
        assert_true(state__held_agrees(t, NULL));
        if (rc == 0)
            break;
        assert_int_equal(rc, CN_ENOMEM);
        assert_int_equal(state__held_count(t, "s2"), 3);
        assert_same_snap(&a, t);
    }
    assert_int_equal(state__held_count(t, "s2"), 0);
    assert_null(kvget(t, "m/03")); /* behavior delete */
    assert_int_equal(state__held_count(t, "s1"), 3);
    /* release: s1's keys stay, unlocked */
    assert_int_equal(destroy(t, i + 1, "s1", NULL), 0);
    assert_null(kvget(t, "m/00")->session);
    assert_true(state__held_agrees(t, NULL));
    cn_buf_free(&a);
    state_free(t);
}

/* The held index copies nothing: a locked key costs its KV record (with
 * the session in its trailer) plus one 48-byte index record, whatever the
 * key's length. A plain PUT on a locked key repoints the index record at the
 * new KV record, all or nothing under failing allocations. */
static void test_held_index_mem(void **st)
{
    struct state *s = *st;
    node1(s, 1);
    assert_int_equal(mksess(s, 2, "s1", "n1", "release", NULL, 0, 0, NULL), 0);
    char key[201];
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = '\0';
    kvset(s, 3, key, "v");
    size_t m0 = state_mem_bytes(s);
    assert_int_equal(lock(s, 4, STATE_KV_LOCK, key, "v", "s1", NULL), 0);
    /* 36 + key NUL "v" + CreateIndex + LockIndex + "s1" NUL: 36 + 202 + 16 + 3 = 257 */
    assert_int_equal(state_mem_bytes(s) - m0, cn_slab_slot(257) - cn_slab_slot(36 + 202) + 48);
    struct cn_buf a;
    snap(s, &a);
    for (long n = 0;; n++) {
        struct cn_buf b = CN_BUF_INIT;
        struct state_kv_op op = kvop(STATE_KV_SET, key, "plain", 0);
        assert_int_equal(state_cmd_kv_txn(&b, &op, 1), 0);
        cn_mem_fail_after(n);
        int rc = state_apply(s, 5, b.p, b.len, NULL);
        cn_mem_fail_after(-1);
        cn_buf_free(&b);
        assert_true(state__held_agrees(s, NULL));
        if (rc == 0)
            break;
        assert_int_equal(rc, CN_ENOMEM);
        assert_same_snap(&a, s);
    }
    cn_buf_free(&a);
    assert_string_equal(kvget(s, key)->session, "s1");
    assert_int_equal(state__held_count(s, "s1"), 1);
    assert_string_equal(state__held_first(s, "s1"), key);
    assert_true(state__held_first(s, "s1") == kvget(s, key)->key); /* no copy */
    assert_int_equal(destroy(s, 6, "s1", NULL), 0);
    assert_null(kvget(s, key)->session);
    assert_int_equal(state__held_count(s, "s1"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_validates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_unlock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalidation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_removed_check_and_renew, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_and_oom, setup, teardown),
        cmocka_unit_test_setup_teardown(test_held_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_held_index_mem, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
