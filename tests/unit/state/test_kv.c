/* KV table: set/get/cas/delete verbs, scans, prefix indexes, tombstones. */
#include <stdio.h>

#include <malloc.h>
#include <stdlib.h>

#include "helpers.h"
#include "state/state_int.h"

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

static void test_set_get(void **st)
{
    struct state *s = *st;
    assert_null(kvget(s, "k"));
    kvset(s, 5, "k", "v1");
    const struct state_kv *kv = kvget(s, "k");
    assert_non_null(kv);
    assert_int_equal(kv->value_len, 2);
    assert_memory_equal(kv->value, "v1", 2);
    assert_int_equal(kv->create_index, 5);
    assert_int_equal(kv->modify_index, 5);
    assert_int_equal(kv->lock_index, 0);
    assert_null(kv->session);
    assert_int_equal(state_kv_count(s), 1);
    assert_int_equal(state_table_index(s, STATE_T_KV), 5);

    kvset(s, 7, "k", "v2");
    kv = kvget(s, "k");
    assert_int_equal(kv->create_index, 5);
    assert_int_equal(kv->modify_index, 7);
    assert_int_equal(state_last_index(s), 7);

    /* kvsSetTxn: an identical write changes nothing, not even ModifyIndex. */
    struct state_result res;
    state_result_init(&res);
    assert_int_equal(op1(s, 9, STATE_KV_SET, "k", "v2", 0, &res), 0);
    assert_true(res.ok);
    assert_int_equal(res.nresults, 1);
    assert_int_equal(res.results[0].modify_index, 7);
    assert_false(res.results[0].has_value);
    state_result_free(&res);
    assert_int_equal(kvget(s, "k")->modify_index, 7);
    assert_int_equal(state_table_index(s, STATE_T_KV), 7);
    assert_int_equal(state_last_index(s), 9);

    /* Flags alone are a change; empty values are live keys. */
    struct state_kv_op op = kvop(STATE_KV_SET, "k", "v2", 0);
    op.flags = 42;
    assert_int_equal(txn(s, 10, &op, 1, NULL), 0);
    assert_int_equal(kvget(s, "k")->flags, 42);
    assert_int_equal(kvget(s, "k")->modify_index, 10);
    kvset(s, 11, "empty", NULL);
    assert_non_null(kvget(s, "empty"));
    assert_int_equal(kvget(s, "empty")->value_len, 0);

    /* Index must move forward. */
    assert_int_equal(op1(s, 11, STATE_KV_SET, "x", "y", 0, NULL), CN_EINVAL);
    assert_null(kvget(s, "x"));
}

static void test_cas(void **st)
{
    struct state *s = *st;
    struct state_result res;
    state_result_init(&res);
    assert_int_equal(op1(s, 3, STATE_KV_CAS, "c", "a", 0, &res), 0);
    assert_true(res.ok);
    assert_int_equal(kvget(s, "c")->create_index, 3);

    assert_int_equal(op1(s, 4, STATE_KV_CAS, "c", "b", 0, &res), CN_ECONFLICT);
    assert_false(res.ok);
    assert_int_equal(res.nerrors, 1);
    assert_string_equal(res.errors[0].what, "failed to set key \"c\", index is stale");
    assert_int_equal(res.nresults, 0);
    assert_int_equal(state_last_index(s), 4); /* a conflict still counts as applied */

    assert_int_equal(op1(s, 5, STATE_KV_CAS, "c", "b", 2, &res), CN_ECONFLICT);
    assert_false(res.ok);
    assert_int_equal(op1(s, 6, STATE_KV_CAS, "missing", "b", 2, &res), CN_ECONFLICT);
    assert_null(kvget(s, "missing"));

    assert_int_equal(op1(s, 7, STATE_KV_CAS, "c", "b", 3, &res), 0);
    assert_true(res.ok);
    assert_int_equal(res.nresults, 1);
    assert_int_equal(res.results[0].create_index, 3);
    assert_int_equal(res.results[0].modify_index, 7);
    assert_memory_equal(kvget(s, "c")->value, "b", 1);
    state_result_free(&res);
}

static void test_delete(void **st)
{
    struct state *s = *st;
    struct state_result res;
    state_result_init(&res);
    kvset(s, 2, "d", "1");
    /* Deleting a missing key succeeds and leaves no tombstone. */
    assert_int_equal(op1(s, 3, STATE_KV_DELETE, "nope", NULL, 0, &res), 0);
    assert_true(res.ok);
    assert_int_equal(res.nresults, 0);
    assert_int_equal(state_kv_prefix_index(s, "nope"), 0);
    assert_int_equal(state_table_index(s, STATE_T_KV), 2);

    assert_int_equal(op1(s, 4, STATE_KV_DELETE, "d", NULL, 0, &res), 0);
    assert_true(res.ok);
    assert_null(kvget(s, "d"));
    assert_int_equal(state_kv_count(s), 0);
    assert_int_equal(state_kv_prefix_index(s, "d"), 4);
    assert_int_equal(state_table_index(s, STATE_T_KV), 4);

    /* Re-creating a deleted key starts a new life. */
    kvset(s, 5, "d", "2");
    assert_int_equal(kvget(s, "d")->create_index, 5);
    assert_int_equal(state_kv_count(s), 1);

    /* delete-cas: stale index fails, missing key succeeds, match deletes. */
    assert_int_equal(op1(s, 6, STATE_KV_DELETE_CAS, "d", NULL, 4, &res), CN_ECONFLICT);
    assert_false(res.ok);
    assert_string_equal(res.errors[0].what, "failed to delete key \"d\", index is stale");
    assert_non_null(kvget(s, "d"));
    assert_int_equal(op1(s, 7, STATE_KV_DELETE_CAS, "zz", NULL, 4, &res), 0);
    assert_true(res.ok);
    assert_int_equal(op1(s, 8, STATE_KV_DELETE_CAS, "d", NULL, 5, &res), 0);
    assert_true(res.ok);
    assert_null(kvget(s, "d"));
    state_result_free(&res);
}

static void test_delete_tree(void **st)
{
    struct state *s = *st;
    kvset(s, 1, "a", "1");
    kvset(s, 2, "a/b", "1");
    kvset(s, 3, "a/c", "1");
    kvset(s, 4, "ab", "1");
    kvset(s, 5, "b", "1");
    assert_int_equal(op1(s, 6, STATE_KV_DELETE_TREE, "a/", NULL, 0, NULL), 0);
    assert_non_null(kvget(s, "a"));
    assert_null(kvget(s, "a/b"));
    assert_null(kvget(s, "a/c"));
    assert_non_null(kvget(s, "ab"));
    assert_int_equal(state_kv_count(s), 3);
    /* Every deleted key keeps its own tombstone. */
    assert_int_equal(state_kv_prefix_index(s, "a/c"), 6);
    assert_int_equal(state_kv_prefix_index(s, "a/"), 6);
    assert_int_equal(state_kv_prefix_index(s, "ab"), 4);
    /* The empty prefix deletes everything. */
    assert_int_equal(op1(s, 7, STATE_KV_DELETE_TREE, "", NULL, 0, NULL), 0);
    assert_int_equal(state_kv_count(s), 0);
    assert_int_equal(state_kv_scan(s, "", NULL, NULL), 0);
    assert_int_equal(state_kv_prefix_index(s, ""), 7);
}

struct collect {
    char keys[16][16];
    int n;
    int stop_after;
};

static int collect_cb(void *arg, const struct state_kv *kv)
{
    struct collect *c = arg;
    snprintf(c->keys[c->n], sizeof(c->keys[0]), "%s", kv->key);
    c->n++;
    return c->stop_after && c->n >= c->stop_after;
}

static void expect_scan(struct state *s, const char *prefix, const char *after, int n, ...)
{
    struct collect c = {.n = 0};
    size_t got = state_kv_scan_from(s, prefix, after, collect_cb, &c);
    assert_int_equal(got, (size_t)n);
    assert_int_equal(c.n, n);
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++)
        assert_string_equal(c.keys[i], va_arg(ap, const char *));
    va_end(ap);
}

static void test_scan_boundaries(void **st)
{
    struct state *s = *st;
    const char *keys[] = {"b", "a/", "\xff", "ab", "a", "a\xff", "a/x"};
    for (int i = 0; i < 7; i++)
        kvset(s, (uint64_t)i + 1, keys[i], "v");
    kvset(s, 8, "a/y", "v");
    assert_int_equal(op1(s, 9, STATE_KV_DELETE, "a/y", NULL, 0, NULL), 0); /* tombstone */

    expect_scan(s, "a", NULL, 5, "a", "a/", "a/x", "ab", "a\xff");
    expect_scan(s, "", NULL, 7, "a", "a/", "a/x", "ab", "a\xff", "b", "\xff");
    expect_scan(s, "a/", NULL, 2, "a/", "a/x");
    expect_scan(s, "\xff", NULL, 1, "\xff");
    expect_scan(s, "c", NULL, 0);
    expect_scan(s, "a/x/", NULL, 0);
    expect_scan(s, "zzz", NULL, 0);
    /* scan_from: exclusive `after`, skips a rolled-up subtree. */
    expect_scan(s, "a", "a/", 3, "a/x", "ab", "a\xff");
    expect_scan(s, "a", "a/\xff", 2, "ab", "a\xff");
    expect_scan(s, "a", "a", 4, "a/", "a/x", "ab", "a\xff");
    expect_scan(s, "a", "", 5, "a", "a/", "a/x", "ab", "a\xff"); /* after < prefix */
    expect_scan(s, "a", "b", 0);
    expect_scan(s, "", "ab", 3, "a\xff", "b", "\xff");
    assert_int_equal(state_kv_scan(s, "a", NULL, NULL), 5);

    struct collect c = {.stop_after = 2};
    assert_int_equal(state_kv_scan(s, "", collect_cb, &c), 2);
    assert_int_equal(c.n, 2);
}

static void test_prefix_index_and_reap(void **st)
{
    struct state *s = *st;
    kvset(s, 10, "p/a", "1");
    kvset(s, 11, "p/b", "1");
    kvset(s, 12, "q", "1");
    assert_int_equal(state_kv_prefix_index(s, "p/"), 11);
    assert_int_equal(state_kv_prefix_index(s, "p/a"), 10);
    assert_int_equal(state_kv_prefix_index(s, "p"), 11);
    assert_int_equal(state_kv_prefix_index(s, ""), 12);
    assert_int_equal(state_kv_prefix_index(s, "r"), 0);

    assert_int_equal(op1(s, 20, STATE_KV_DELETE, "p/a", NULL, 0, NULL), 0);
    assert_int_equal(op1(s, 30, STATE_KV_DELETE, "p/b", NULL, 0, NULL), 0);
    /* Never backwards after a delete: the tombstones count. */
    assert_int_equal(state_kv_prefix_index(s, "p/"), 30);
    assert_int_equal(state_kv_prefix_index(s, "p/a"), 20);
    assert_null(kvget(s, "p/a"));
    assert_int_equal(state_kv_scan(s, "p", NULL, NULL), 0);

    /* Reap tombstones with index <= 25: p/a goes, p/b stays. */
    struct recorder r = {.n = 0};
    state_set_change_cb(s, recorder_cb, &r);
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(state_cmd_kv_reap(&b, 25), 0);
    assert_int_equal(state_cmd_type(b.p, b.len), STATE_CMD_KV_REAP);
    assert_int_equal(apply_buf(s, 31, &b, NULL), 0);
    assert_int_equal(r.n, 0);
    assert_int_equal(state_table_index(s, STATE_T_KV), 30);
    assert_int_equal(state_kv_prefix_index(s, "p/a"), 0);
    assert_int_equal(state_kv_prefix_index(s, "p/"), 30);
    assert_int_equal(state_cmd_kv_reap(&b, 30), 0);
    assert_int_equal(apply_buf(s, 32, &b, NULL), 0);
    assert_int_equal(state_kv_prefix_index(s, "p/"), 0);
    assert_int_equal(state_kv_prefix_index(s, ""), 12);
    assert_int_equal(state_kv_count(s), 1);
    state_set_change_cb(s, NULL, NULL);
}

static void test_change_callback(void **st)
{
    struct state *s = *st;
    struct recorder r = {.n = 0};
    state_set_change_cb(s, recorder_cb, &r);
    kvset(s, 1, "x", "1");
    assert_int_equal(r.n, 1);
    assert_int_equal(r.v[0].t, STATE_T_KV);
    assert_string_equal(r.v[0].key, "x");
    assert_int_equal(r.v[0].idx, 1);
    kvset(s, 2, "x", "1"); /* unchanged: no notification */
    assert_int_equal(r.n, 1);
    assert_int_equal(op1(s, 3, STATE_KV_CAS, "x", "2", 99, NULL), CN_ECONFLICT);
    assert_int_equal(r.n, 1);
    assert_int_equal(op1(s, 4, STATE_KV_DELETE, "x", NULL, 0, NULL), 0);
    assert_int_equal(r.n, 2);
    assert_int_equal(recorded(&r, STATE_T_KV, "x"), 2);
}

/* Memory per entry for 100k keys of 32 bytes with 256-byte values, exactly
 * as the record layout says (state_int.h): 36-byte header + key NUL value
 * = 325 bytes, a 328-byte slab slot (glibc's chunk was 336); 336 once
 * updated (CreateIndex no longer equals ModifyIndex: + 8 bytes); a
 * tombstone 36 + key NUL = 69, a 72-byte slot. */
static void put_all(struct state *s, uint64_t idx0, char fill, int n)
{
    char key[33], val[256];
    memset(val, fill, sizeof(val));
    struct cn_buf b = CN_BUF_INIT;
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof(key), "service/config/%017d", i);
        assert_int_equal(strlen(key), 32);
        struct state_kv_op op = {
            .verb = STATE_KV_SET, .key = key, .value = val, .value_len = sizeof(val)};
        cn_buf_reset(&b);
        assert_int_equal(state_cmd_kv_txn(&b, &op, 1), 0);
        assert_int_equal(state_apply(s, idx0 + (uint64_t)i, b.p, b.len, NULL), 0);
    }
    cn_buf_free(&b);
}

static void test_mem_per_entry(void **st)
{
    struct state *s = *st;
    size_t base = state_mem_bytes(s);
    enum { N = 100000 };
    put_all(s, 1, 'v', N);
    size_t per = (state_mem_bytes(s) - base) / N;
    printf("state_mem_bytes per entry (32B key, 256B value, 100k keys): %zu\n", per);
    assert_int_equal(state_mem_bytes(s) - base, (size_t)N * 328);
    assert_int_equal(cn_slab_slot(36 + 33 + 256), 328);
    assert_int_equal(state_kv_count(s), N);
    assert_int_equal(state_kv_scan(s, "service/config/0000000000000999", NULL, NULL), 10);

    put_all(s, N + 1, 'w', N); /* every key updated: CreateIndex now stored */
    assert_int_equal(state_mem_bytes(s) - base, (size_t)N * 336);
    const struct state_kv *kv = kvget(s, "service/config/00000000000000007");
    assert_int_equal(kv->create_index, 8);
    assert_int_equal(kv->modify_index, N + 8);
    assert_int_equal(kv->value[0], 'w');

    for (int i = 0; i < 1000; i++) {
        char key[33];
        snprintf(key, sizeof(key), "service/config/%017d", i);
        assert_int_equal(op1(s, 2 * N + 1 + (uint64_t)i, STATE_KV_DELETE, key, NULL, 0, NULL), 0);
    }
    assert_int_equal(state_mem_bytes(s) - base, (size_t)(N - 1000) * 336 + 1000 * 72);
}

/* Every combination of the record's optional fields reads back as written
 * (the trailer holds only what is set), and costs what state__kv_rec_mem
 * says. */
static void test_record_fields(void **st)
{
    struct state *s = *st;
    for (unsigned m = 0; m < 32; m++) {
        size_t before = state_mem_bytes(s);
        bool tomb = m & 16;
        struct state_kv v = {.key = "some/key",
                             .key_len = 8,
                             .value = (const uint8_t *)"value",
                             .value_len = m & 1 ? 5 : 0,
                             .create_index = tomb ? 0 : (m & 2 ? 7 : 9),
                             .modify_index = 9,
                             .flags = m & 4 ? UINT64_C(0xfeedfacecafebeef) : 0,
                             .lock_index = m & 8 ? 3 : 0,
                             .session = m & 8 ? "5e5510n-1d" : NULL};
        struct kv_rec *r = state__kv_rec_new(s, &v);
        assert_non_null(r);
        assert_int_equal(state_mem_bytes(s) - before, state__kv_rec_mem(r));
        struct state_kv o;
        state__kv_view(r, &o);
        assert_string_equal(o.key, "some/key");
        assert_int_equal(o.key_len, 8);
        assert_int_equal(o.modify_index, 9);
        assert_int_equal(!!KV_IS_TOMB(r), tomb);
        if (tomb) {
            assert_int_equal(o.create_index, 0);
            assert_int_equal(o.value_len, 0);
            assert_null(o.value);
            assert_int_equal(o.flags, 0);
            assert_int_equal(o.lock_index, 0);
            assert_null(o.session);
        } else {
            assert_int_equal(o.create_index, m & 2 ? 7 : 9);
            assert_int_equal(o.value_len, v.value_len);
            if (m & 1)
                assert_memory_equal(o.value, "value", 5);
            else
                assert_null(o.value);
            assert_true(o.flags == v.flags);
            assert_int_equal(o.lock_index, v.lock_index);
            if (m & 8)
                assert_string_equal(o.session, "5e5510n-1d");
            else
                assert_null(o.session);
        }
        state__kv_ops.free(s, &r->a);
        assert_int_equal(state_mem_bytes(s), before);
    }
    /* Indexes above the 56 bits a record keeps are refused, never truncated. */
    struct state_kv big = {
        .key = "k", .key_len = 1, .create_index = 1, .modify_index = UINT64_C(1) << 56};
    assert_null(state__kv_rec_new(s, &big));
}

/* The memory model (state__chunk) is glibc's: a chunk is the request plus an
 * 8-byte header rounded up to 16, at least 32. Checked against the
 * allocator itself where it answers truthfully (not under ASan, whose
 * malloc_usable_size is the request). */
static void test_chunk_model(void **st)
{
    (void)st;
#if defined(__SANITIZE_ADDRESS__) || defined(__GLIBC__) == 0
    skip();
#else
    for (size_t n = 1; n < 2048; n++) {
        void *p = malloc(n);
        assert_non_null(p);
        assert_int_equal(malloc_usable_size(p) + 8, state__chunk(n));
        free(p);
    }
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_set_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cas, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_tree, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_boundaries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_prefix_index_and_reap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_change_callback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mem_per_entry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_fields, setup, teardown),
        cmocka_unit_test(test_chunk_model),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
