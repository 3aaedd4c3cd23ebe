/* Snapshots: round trip, strict decoding, restore is all-or-nothing. */
#include "helpers.h"

#include "base/crc.h"
#include "base/enc.h"

static void test_round_trip(void **st)
{
    (void)st;
    struct state *s = state_new();
    populate(s);
    struct cn_buf a;
    snap(s, &a);
    struct state *t = state_new();
    kvset(t, 1, "other", "content"); /* replaced by the restore */
    struct recorder r = {.n = 0};
    state_set_change_cb(t, recorder_cb, &r);
    char err[128];
    assert_int_equal(state_snapshot_restore(t, a.p, a.len, err, sizeof(err)), 0);
    assert_same_snap(&a, t);

    /* The restored state answers like the original. */
    assert_null(kvget(t, "other"));
    assert_int_equal(state_last_index(t), 11);
    assert_int_equal(state_kv_count(t), state_kv_count(s));
    assert_int_equal(state_kv_prefix_index(t, "gone/"), 5);
    assert_int_equal(kvget(t, "flagged")->flags, UINT64_MAX);
    assert_int_equal(state_service_index(t, "legacy"), 10);
    assert_int_equal(state_node_index(t, "n3"), 10);
    assert_null(state_node_get(t, "n3"));
    assert_int_equal(state_table_index(t, STATE_T_NODES), state_table_index(s, STATE_T_NODES));
    const struct state_service *v = state_service_get(t, "n1", "web1");
    assert_non_null(v);
    assert_int_equal(v->ntaddrs, 1);
    assert_true(v->enable_tag_override);
    assert_string_equal(state_check_get(t, "n1", "web-http")->service_name, "web");
    assert_int_equal(state_check_get(t, "n1", "web-http")->interval_ns, 10000000000LL);
    assert_int_equal(state_mem_bytes(t), state_mem_bytes(s));

    /* The callback survives a restore and later applies use it. */
    kvset(t, 12, "new", "v");
    assert_int_equal(r.n, 1);
    assert_int_equal(r.v[0].idx, 12);
    cn_buf_free(&a);
    state_free(s);
    state_free(t);
}

static void test_empty_round_trip(void **st)
{
    (void)st;
    struct state *s = state_new(), *t = state_new();
    struct cn_buf a;
    snap(s, &a);
    assert_int_equal(state_snapshot_restore(t, a.p, a.len, NULL, 0), 0);
    assert_same_snap(&a, t);
    cn_buf_free(&a);
    state_free(s);
    state_free(t);
}

static void fix_crc(struct cn_buf *b)
{
    cn_put_u32((uint8_t *)b->p + b->len - 4, cn_crc32c(0, b->p, b->len - 4));
}

static void test_rejects_garbage(void **st)
{
    (void)st;
    struct state *s = state_new();
    populate(s);
    struct cn_buf good;
    snap(s, &good);
    struct state *t = state_new();
    kvset(t, 1, "keep", "me");
    struct cn_buf before;
    snap(t, &before);
    char err[160];

    /* Every truncation, with and without a matching checksum. */
    for (size_t n = 0; n < good.len; n++) {
        assert_int_equal(state_snapshot_restore(t, good.p, n, err, sizeof(err)), CN_ECORRUPT);
        assert_true(strlen(err) > 0);
        if (n >= 13 && n < good.len - 4) { /* good.len - 4 is the intact body */
            struct cn_buf cut = CN_BUF_INIT;
            assert_int_equal(cn_buf_append(&cut, good.p, n), 0);
            assert_int_equal(cn_enc_u32(&cut, 0), 0);
            fix_crc(&cut);
            assert_int_equal(state_snapshot_restore(t, cut.p, cut.len, err, sizeof(err)),
                             CN_ECORRUPT);
            cn_buf_free(&cut);
        }
    }
    assert_same_snap(&before, t);

    struct cn_buf bad = CN_BUF_INIT;
    assert_int_equal(cn_buf_append(&bad, good.p, good.len), 0);
    bad.p[20] ^= 1;
    assert_int_equal(state_snapshot_restore(t, bad.p, bad.len, err, sizeof(err)), CN_ECORRUPT);
    assert_non_null(strstr(err, "checksum"));
    bad.p[20] ^= 1;
    bad.p[4] = 9; /* version */
    fix_crc(&bad);
    assert_int_equal(state_snapshot_restore(t, bad.p, bad.len, err, sizeof(err)), CN_ECORRUPT);
    assert_non_null(strstr(err, "version"));
    bad.p[4] = 1;
    bad.p[0] = 'X';
    assert_int_equal(state_snapshot_restore(t, bad.p, bad.len, err, sizeof(err)), CN_ECORRUPT);
    assert_non_null(strstr(err, "magic"));
    bad.p[0] = 'C';
    /* Trailing bytes before the checksum. */
    bad.len -= 4;
    assert_int_equal(cn_enc_u8(&bad, 0), 0);
    assert_int_equal(cn_enc_u32(&bad, 0), 0);
    fix_crc(&bad);
    assert_int_equal(state_snapshot_restore(t, bad.p, bad.len, err, sizeof(err)), CN_ECORRUPT);
    assert_non_null(strstr(err, "trailing"));
    /* A last index older than the items' indexes. */
    cn_buf_reset(&bad);
    assert_int_equal(cn_buf_append(&bad, good.p, good.len), 0);
    cn_put_u64((uint8_t *)bad.p + 5, 3);
    fix_crc(&bad);
    assert_int_equal(state_snapshot_restore(t, bad.p, bad.len, err, sizeof(err)), CN_ECORRUPT);
    assert_same_snap(&before, t);

    cn_buf_free(&bad);
    cn_buf_free(&before);
    cn_buf_free(&good);
    state_free(s);
    state_free(t);
}

static void test_restore_oom(void **st)
{
    (void)st;
    struct state *s = state_new();
    populate(s);
    struct cn_buf good;
    snap(s, &good);
    struct state *t = state_new();
    kvset(t, 1, "keep", "me");
    struct cn_buf before;
    snap(t, &before);
    int rc = CN_ENOMEM;
    long n;
    for (n = 0; rc == CN_ENOMEM; n++) {
        cn_mem_fail_after(n);
        rc = state_snapshot_restore(t, good.p, good.len, NULL, 0);
        cn_mem_fail_after(-1);
        if (rc == CN_ENOMEM)
            assert_same_snap(&before, t);
    }
    assert_int_equal(rc, 0);
    assert_true(n > 10);
    assert_same_snap(&good, t);
    /* Encoding under OOM fails cleanly too. */
    struct cn_buf out = CN_BUF_INIT;
    cn_mem_fail_after(0);
    assert_int_equal(state_snapshot_encode(t, &out), CN_ENOMEM);
    cn_mem_fail_after(-1);
    assert_int_equal(out.len, 0);
    cn_buf_free(&out);
    cn_buf_free(&before);
    cn_buf_free(&good);
    state_free(s);
    state_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_empty_round_trip),
        cmocka_unit_test(test_rejects_garbage),
        cmocka_unit_test(test_restore_oom),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
