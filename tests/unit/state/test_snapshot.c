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
    bad.p[4] = 5;
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

/* One KV entry of a hand-built snapshot; sess NULL = none. */
static void enc_kv(struct cn_buf *b, const char *key, const char *val, uint64_t flags,
                   uint64_t create, uint64_t lock, const char *sess, uint64_t modify)
{
    assert_int_equal(cn_enc_u8(b, create ? 0 : 1), 0);
    assert_int_equal(cn_enc_bytes(b, key, strlen(key)), 0);
    if (create) {
        assert_int_equal(cn_enc_bytes(b, val, strlen(val)), 0);
        assert_int_equal(cn_enc_u64(b, flags), 0);
        assert_int_equal(cn_enc_u64(b, create), 0);
        assert_int_equal(cn_enc_u64(b, lock), 0);
        assert_int_equal(cn_enc_u8(b, sess ? 1 : 0), 0);
        assert_int_equal(cn_enc_str(b, sess ? sess : ""), 0);
    }
    assert_int_equal(cn_enc_u64(b, modify), 0);
}

/* The optional record fields (flags, LockIndex, Session: only restores can
 * set the last two while sessions do not exist) in every combination survive
 * restore, views, scans, updates and re-encoding, and their memory is
 * accounted exactly. */
static void test_kv_optional_fields(void **st)
{
    (void)st;
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(cn_buf_append(&b, "CNST", 4), 0);
    assert_int_equal(cn_enc_u8(&b, 7), 0);  /* the current version: re-encodes the same */
    assert_int_equal(cn_enc_u64(&b, 3), 0); /* last index */
    for (int i = 0; i < 5; i++)             /* kv, nodes, services, checks, sessions */
        assert_int_equal(cn_enc_u64(&b, i == STATE_T_KV ? 3 : 0), 0);
    assert_int_equal(cn_enc_u64(&b, 5), 0);
    enc_kv(&b, "a", "x", 0, 1, 3, "sess-0123456789abcdef0123456789abcdef", 2);
    enc_kv(&b, "b", "", 7, 2, 0, "", 2);
    enc_kv(&b, "c", NULL, 0, 0, 0, NULL, 3); /* tombstone */
    enc_kv(&b, "d", "yy", 0, 3, 0, NULL, 3);
    enc_kv(&b, "e", "z", UINT64_MAX, 1, 2, "s", 3);
    for (int i = 0; i < 5; i++)
        assert_int_equal(cn_enc_u32(&b, 0), 0);
    assert_int_equal(cn_enc_u32(&b, 0), 0); /* sessions */
    assert_int_equal(cn_enc_u64(&b, 0), 0); /* session renew index */
    assert_int_equal(cn_enc_u32(&b, 0), 0); /* lock-delays */
    assert_int_equal(cn_enc_u64(&b, 0), 0); /* prepared query table index */
    assert_int_equal(cn_enc_u32(&b, 0), 0); /* prepared queries */
    assert_int_equal(cn_enc_u64(&b, 0), 0); /* intention table index */
    assert_int_equal(cn_enc_u32(&b, 0), 0); /* intentions */
    assert_int_equal(cn_enc_u64(&b, 0), 0); /* CA table index */
    assert_int_equal(cn_enc_u8(&b, 0), 0);  /* no CA */
    assert_int_equal(cn_enc_u64(&b, 0), 0); /* ACL table index */
    assert_int_equal(cn_enc_u64(&b, 0), 0); /* ACL bootstrap index */
    assert_int_equal(cn_enc_u32(&b, 0), 0); /* ACL objects */
    assert_int_equal(cn_enc_u64(&b, 0), 0); /* coordinates table index */
    assert_int_equal(cn_enc_u32(&b, 0), 0); /* coordinates */
    assert_int_equal(cn_enc_u64(&b, 0), 0); /* config entries table index */
    assert_int_equal(cn_enc_u32(&b, 0), 0); /* config entries */
    assert_int_equal(cn_enc_u32(&b, 0), 0); /* crc */
    fix_crc(&b);

    struct state *t = state_new();
    size_t base = state_mem_bytes(t);
    char err[160];
    assert_int_equal(state_snapshot_restore(t, b.p, b.len, err, sizeof(err)), 0);
    assert_same_snap(&b, t);

    const struct state_kv *a = kvget(t, "a"), *bb = kvget(t, "b"), *d = kvget(t, "d");
    const struct state_kv *e = kvget(t, "e");
    assert_non_null(a);
    assert_int_equal(a->lock_index, 3);
    assert_string_equal(a->session, "sess-0123456789abcdef0123456789abcdef");
    assert_int_equal(a->flags, 0);
    assert_int_equal(a->key_len, 1);
    assert_memory_equal(a->value, "x", 1);
    assert_int_equal(a->create_index, 1);
    assert_int_equal(a->modify_index, 2);
    assert_non_null(bb->session); /* present but empty is not "none" */
    assert_string_equal(bb->session, "");
    assert_int_equal(bb->flags, 7);
    assert_null(bb->value);
    assert_int_equal(bb->value_len, 0);
    assert_null(d->session);
    assert_int_equal(d->lock_index, 0);
    assert_int_equal(d->flags, 0);
    assert_memory_equal(d->value, "yy", 2);
    assert_int_equal(e->flags, UINT64_MAX);
    assert_int_equal(e->lock_index, 2);
    assert_string_equal(e->session, "s");
    assert_false(state_kv_get(t, "c", NULL));
    assert_true(state_kv_get(t, "e", NULL));
    assert_int_equal(state_kv_prefix_index(t, "c"), 3);

    /* A set keeps LockIndex and Session and changes flags. */
    struct state_kv_op op = kvop(STATE_KV_SET, "a", "new value", 0);
    op.flags = 9;
    assert_int_equal(txn(t, 4, &op, 1, NULL), 0);
    a = kvget(t, "a");
    assert_int_equal(a->lock_index, 3);
    assert_string_equal(a->session, "sess-0123456789abcdef0123456789abcdef");
    assert_int_equal(a->flags, 9);
    assert_int_equal(a->create_index, 1);
    assert_int_equal(a->modify_index, 4);
    assert_memory_equal(a->value, "new value", 9);
    op = kvop(STATE_KV_SET, "e", "z", 0); /* flags back to 0: trailer shrinks */
    assert_int_equal(txn(t, 5, &op, 1, NULL), 0);
    e = kvget(t, "e");
    assert_int_equal(e->flags, 0);
    assert_int_equal(e->lock_index, 2);
    assert_string_equal(e->session, "s");

    /* Delete everything, reap: back to an empty state's memory. */
    op = kvop(STATE_KV_DELETE_TREE, "", NULL, 0);
    assert_int_equal(txn(t, 6, &op, 1, NULL), 0);
    assert_int_equal(state_kv_count(t), 0);
    struct cn_buf r = CN_BUF_INIT;
    assert_int_equal(state_cmd_kv_reap(&r, 6), 0);
    assert_int_equal(apply_buf(t, 7, &r, NULL), 0);
    assert_int_equal(state_mem_bytes(t), base);
    cn_buf_free(&b);
    state_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),         cmocka_unit_test(test_empty_round_trip),
        cmocka_unit_test(test_rejects_garbage),    cmocka_unit_test(test_restore_oom),
        cmocka_unit_test(test_kv_optional_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
