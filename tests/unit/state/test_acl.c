/* tests/unit/state/test_acl.c: the ACL table (state/acl.c): create, update,
 * delete with Consul's texts, unique names per kind, bootstrap once with the
 * reset index, change notifications, and snapshots: version 4 carries the
 * table and the bootstrap index, version 3 (before them) still restores. */
#include "base/crc.h"
#include "base/enc.h"
#include "helpers.h"

static int aset(struct state *s, uint64_t idx, int op, uint8_t kind, const char *id,
                const char *name, struct state_result *res)
{
    struct state_acl v = {.kind = kind,
                          .id = (char *)id,
                          .name = (char *)name,
                          .expires_unix_ns = kind == STATE_ACL_TOKEN ? 42 : 0,
                          .def = (uint8_t *)"{\"x\":1}",
                          .def_len = 7};
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(state_cmd_acl_set(&b, op, &v), 0);
    return apply_buf(s, idx, &b, res);
}

static void test_set_delete_rules(void **st)
{
    (void)st;
    struct state *s = state_new();
    struct state_result res;
    state_result_init(&res);
    assert_int_equal(aset(s, 1, 0, STATE_ACL_POLICY, "p1", "kv", &res), 0);
    assert_int_equal(aset(s, 2, 0, STATE_ACL_POLICY, "p2", "kv", &res), CN_EINVAL);
    assert_string_equal(res.errors[0].what,
                        "Invalid Policy: A Policy with Name \"kv\" already exists");
    assert_int_equal(aset(s, 3, 0, STATE_ACL_ROLE, "r1", "kv", &res), 0); /* other kind */
    assert_int_equal(aset(s, 4, 0, STATE_ACL_ROLE, "r2", "kv", &res), CN_EINVAL);
    assert_string_equal(res.errors[0].what, "Invalid Role: A Role with Name \"kv\" already exists");
    assert_int_equal(aset(s, 5, 0, STATE_ACL_TOKEN, "t1", "secret1", &res), 0);
    assert_int_equal(aset(s, 6, 0, STATE_ACL_TOKEN, "t2", "secret1", &res), CN_EINVAL);
    assert_string_equal(res.errors[0].what, "Invalid Token: SecretID is already in use");
    assert_int_equal(aset(s, 7, 0, STATE_ACL_TOKEN, "t1", "secret2", &res), CN_EINVAL);
    assert_int_equal(aset(s, 8, 1, STATE_ACL_TOKEN, "t9", "secret9", &res), CN_ENOTFOUND);
    /* update keeps CreateIndex */
    assert_int_equal(aset(s, 9, 1, STATE_ACL_POLICY, "p1", "kv2", &res), 0);
    const struct state_acl *p = state_acl_get(s, STATE_ACL_POLICY, "p1");
    assert_non_null(p);
    assert_int_equal(p->create_index, 1);
    assert_int_equal(p->modify_index, 9);
    assert_ptr_equal(state_acl_by_name(s, STATE_ACL_POLICY, "kv2"), p);
    assert_null(state_acl_by_name(s, STATE_ACL_POLICY, "kv"));
    const struct state_acl *t = state_acl_by_name(s, STATE_ACL_TOKEN, "secret1");
    assert_non_null(t);
    assert_int_equal(t->expires_unix_ns, 42);
    assert_int_equal(state_table_index(s, STATE_T_ACL), 9);
    /* delete */
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(state_cmd_acl_delete(&b, STATE_ACL_TOKEN, "t1"), 0);
    assert_int_equal(apply_buf(s, 10, &b, &res), 0);
    assert_true(res.ok);
    assert_null(state_acl_get(s, STATE_ACL_TOKEN, "t1"));
    assert_int_equal(state_cmd_acl_delete(&b, STATE_ACL_TOKEN, "t1"), 0);
    assert_int_equal(apply_buf(s, 11, &b, &res), 0);
    assert_false(res.ok);
    state_result_free(&res);
    state_free(s);
}

static struct state_acl obj(uint8_t kind, const char *id, const char *name, const char *def)
{
    return (struct state_acl){.kind = kind,
                              .id = (char *)id,
                              .name = (char *)name,
                              .def = (uint8_t *)def,
                              .def_len = strlen(def)};
}

/* REPLICATE (command 22): deletes then upserts in one entry, all or none;
 * a name held by another object of the kind moves to the primary's. */
static void test_replicate_batch(void **st)
{
    (void)st;
    struct state *s = state_new();
    struct state_result res;
    state_result_init(&res);
    assert_int_equal(aset(s, 1, 0, STATE_ACL_POLICY, "p1", "a", &res), 0);
    assert_int_equal(aset(s, 2, 0, STATE_ACL_POLICY, "p2", "b", &res), 0);
    assert_int_equal(aset(s, 3, 0, STATE_ACL_TOKEN, "local", "sl", &res), 0);
    struct state_acl dels[] = {obj(STATE_ACL_POLICY, "p1", "", ""),
                               obj(STATE_ACL_ROLE, "never", "", "")};
    /* p3 takes p2's name "b" (a swap in the primary); p2 becomes "c" */
    struct state_acl sets[] = {obj(STATE_ACL_POLICY, "p3", "b", "{\"n\":3}"),
                               obj(STATE_ACL_POLICY, "p2", "c", "{\"n\":2}"),
                               obj(STATE_ACL_TOKEN, "t1", "s1", "{}")};
    sets[2].expires_unix_ns = 7;
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(state_cmd_acl_replicate(&b, dels, 2, sets, 3), 0);
    assert_int_equal(state_cmd_type(b.p, b.len), STATE_CMD_ACL_REPLICATE);
    assert_int_equal(apply_buf(s, 4, &b, &res), 0);
    assert_true(res.ok);
    assert_null(state_acl_get(s, STATE_ACL_POLICY, "p1"));
    const struct state_acl *p3 = state_acl_get(s, STATE_ACL_POLICY, "p3");
    assert_non_null(p3);
    assert_string_equal(p3->name, "b");
    assert_int_equal(p3->create_index, 4);
    assert_non_null(state_acl_get(s, STATE_ACL_POLICY, "p2"));
    assert_string_equal(state_acl_get(s, STATE_ACL_POLICY, "p2")->name, "c");
    assert_int_equal(state_acl_get(s, STATE_ACL_TOKEN, "t1")->expires_unix_ns, 7);
    assert_non_null(state_acl_get(s, STATE_ACL_TOKEN, "local")); /* untouched */
    assert_int_equal(state_table_index(s, STATE_T_ACL), 4);
    /* all or none: an object without a name fails the whole batch */
    struct state_acl bad[] = {obj(STATE_ACL_POLICY, "p9", "x", "{}"),
                              obj(STATE_ACL_POLICY, "p8", "", "{}")};
    struct state_acl del2[] = {obj(STATE_ACL_TOKEN, "local", "", "")};
    assert_int_equal(state_cmd_acl_replicate(&b, del2, 1, bad, 2), 0);
    assert_int_equal(apply_buf(s, 5, &b, &res), CN_EINVAL);
    assert_null(state_acl_get(s, STATE_ACL_POLICY, "p9"));
    assert_non_null(state_acl_get(s, STATE_ACL_TOKEN, "local"));
    assert_int_equal(state_table_index(s, STATE_T_ACL), 4);
    /* an empty batch changes nothing but is well formed */
    assert_int_equal(state_cmd_acl_replicate(&b, NULL, 0, NULL, 0), 0);
    assert_int_equal(apply_buf(s, 6, &b, &res), 0);
    assert_int_equal(state_table_index(s, STATE_T_ACL), 4);
    /* malformed: a bad kind is refused by the encoder, truncation by apply */
    struct state_acl badk = obj(9, "x", "y", "{}");
    assert_int_equal(state_cmd_acl_replicate(&b, NULL, 0, &badk, 1), CN_EINVAL);
    assert_int_equal(state_cmd_acl_replicate(&b, NULL, 0, sets, 1), 0);
    b.len -= 2;
    assert_int_equal(apply_buf(s, 7, &b, &res), CN_ECORRUPT);
    cn_buf_free(&b);
    state_result_free(&res);
    state_free(s);
}

static void test_bootstrap_once(void **st)
{
    (void)st;
    struct state *s = state_new();
    struct state_result res;
    state_result_init(&res);
    struct state_acl v = {.kind = STATE_ACL_TOKEN, .id = "a1", .name = "s1", .def = NULL};
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(state_cmd_acl_bootstrap(&b, &v), 0);
    assert_int_equal(apply_buf(s, 4, &b, &res), 0);
    assert_int_equal(state_acl_bootstrap_index(s), 4);
    v.id = "a2";
    v.name = "s2";
    assert_int_equal(state_cmd_acl_bootstrap(&b, &v), 0);
    assert_int_equal(apply_buf(s, 5, &b, &res), CN_EEXIST);
    assert_string_equal(res.errors[0].what, "ACL bootstrap no longer allowed (reset index: 4)");
    assert_null(state_acl_get(s, STATE_ACL_TOKEN, "a2"));
    /* a failed bootstrap leaves the index alone; a snapshot keeps it */
    struct cn_buf snap = CN_BUF_INIT;
    assert_int_equal(state_snapshot_encode(s, &snap), 0);
    struct state *t = state_new();
    char err[160];
    assert_int_equal(state_snapshot_restore(t, snap.p, snap.len, err, sizeof(err)), 0);
    assert_int_equal(state_acl_bootstrap_index(t), 4);
    assert_non_null(state_acl_by_name(t, STATE_ACL_TOKEN, "s1"));
    struct cn_buf again = CN_BUF_INIT;
    assert_int_equal(state_snapshot_encode(t, &again), 0);
    assert_int_equal(again.len, snap.len);
    assert_memory_equal(again.p, snap.p, snap.len);
    /* version 3: the same bytes without the intention, CA, ACL,
     * coordinates and config entries sections (12 + 9 + 20 + 12 + 12 bytes,
     * then the CRC) restore, empty */
    struct state *e = state_new();
    struct cn_buf v3 = CN_BUF_INIT, v4 = CN_BUF_INIT;
    assert_int_equal(state_snapshot_encode(e, &v4), 0);
    assert_int_equal(cn_buf_append(&v3, v4.p, v4.len - 69), 0);
    ((uint8_t *)v3.p)[4] = 3;
    assert_int_equal(cn_enc_u32(&v3, cn_crc32c(0, v3.p, v3.len)), 0);
    struct state *f = state_new();
    assert_int_equal(state_snapshot_restore(f, v3.p, v3.len, err, sizeof(err)), 0);
    assert_int_equal(state_acl_bootstrap_index(f), 0);
    state_free(e);
    state_free(f);
    cn_buf_free(&v3);
    cn_buf_free(&v4);
    cn_buf_free(&snap);
    cn_buf_free(&again);
    state_result_free(&res);
    state_free(t);
    state_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_delete_rules),
        cmocka_unit_test(test_bootstrap_once),
        cmocka_unit_test(test_replicate_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
