/* tests/unit/state/test_intention.c: service intentions (state/intention.c):
 * create by ID, update by ID (moving to another pair), upsert and delete by
 * (source, destination), Consul's texts for duplicates and missing IDs,
 * precedence, change notifications keyed by destination, and snapshots:
 * version 4 carries them (every truncation refused), version 3 restores. */
#include "base/crc.h"
#include "base/enc.h"
#include "helpers.h"

static int ixset(struct state *s, uint64_t idx, int op, const char *id, const char *src,
                 const char *dst, const char *action, struct state_result *res)
{
    struct state_intention x = {.id = id,
                                .source = src,
                                .destination = dst,
                                .action = action,
                                .description = "d",
                                .meta = "{\"a\":\"1\"}",
                                .updated_ns = (int64_t)idx * 1000};
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(state_cmd_intention_set(&b, op, &x), 0);
    return apply_buf(s, idx, &b, res);
}

static int ixdel(struct state *s, uint64_t idx, const char *id, const char *src, const char *dst,
                 struct state_result *res)
{
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(state_cmd_intention_delete(&b, id, src, dst), 0);
    return apply_buf(s, idx, &b, res);
}

static void test_precedence(void **st)
{
    (void)st;
    assert_int_equal(state_intention_precedence("web", "db"), 9);
    assert_int_equal(state_intention_precedence("*", "db"), 8);
    assert_int_equal(state_intention_precedence("web", "*"), 6);
    assert_int_equal(state_intention_precedence("*", "*"), 5);
}

static void test_create_update_upsert_delete(void **st)
{
    (void)st;
    struct state *s = state_new();
    size_t m0 = state_mem_bytes(s);
    struct recorder r = {.n = 0};
    state_set_change_cb(s, recorder_cb, &r);
    struct state_result res;
    state_result_init(&res);

    assert_int_equal(ixset(s, 1, STATE_IXN_CREATE, "id1", "web", "db", "allow", &res), 0);
    assert_true(res.ok);
    assert_int_equal(recorded(&r, STATE_T_INTENTIONS, "db"), 1);
    const struct state_intention *x = state_intention_get(s, "web", "db");
    assert_non_null(x);
    assert_string_equal(x->id, "id1");
    assert_string_equal(x->meta, "{\"a\":\"1\"}");
    assert_int_equal(x->precedence, 9);
    assert_int_equal(x->created_ns, 1000);
    assert_int_equal(x->create_index, 1);
    assert_ptr_equal(state_intention_by_id(s, "id1"), x);

    /* the pair is taken: Intention.String() in the error */
    assert_int_equal(ixset(s, 2, STATE_IXN_CREATE, "id2", "web", "db", "deny", &res), CN_EINVAL);
    assert_string_equal(res.errors[0].what,
                        "duplicate intention found: ALLOW default/web => default/db (ID: id1)");
    assert_int_equal(state_intention_count(s), 1);
    assert_int_equal(state_table_index(s, STATE_T_INTENTIONS), 1);

    /* update by ID, moved to another pair: creation kept */
    assert_int_equal(ixset(s, 3, STATE_IXN_UPDATE, "id1", "web", "cache", "deny", &res), 0);
    assert_null(state_intention_get(s, "web", "db"));
    x = state_intention_get(s, "web", "cache");
    assert_string_equal(x->action, "deny");
    assert_int_equal(x->create_index, 1);
    assert_int_equal(x->modify_index, 3);
    assert_int_equal(x->created_ns, 1000);
    assert_int_equal(x->updated_ns, 3000);
    assert_int_equal(ixset(s, 4, STATE_IXN_UPDATE, "nope", "a", "b", "deny", &res), CN_ENOTFOUND);
    assert_string_equal(res.errors[0].what, "Cannot modify non-existent intention: 'nope'");

    /* upsert by pair: a new one has no ID or times; an existing one keeps its ID */
    assert_int_equal(ixset(s, 5, STATE_IXN_UPSERT, "", "*", "db", "deny", &res), 0);
    x = state_intention_get(s, "*", "db");
    assert_string_equal(x->id, "");
    assert_int_equal(x->created_ns, 0);
    assert_int_equal(x->updated_ns, 0);
    assert_int_equal(x->precedence, 8);
    assert_int_equal(ixset(s, 6, STATE_IXN_UPSERT, "", "web", "cache", "allow", &res), 0);
    x = state_intention_get(s, "web", "cache");
    assert_string_equal(x->id, "id1");
    assert_string_equal(x->action, "allow");
    assert_int_equal(x->create_index, 1);
    assert_int_equal(x->created_ns, 1000);

    /* update by ID onto a taken pair */
    assert_int_equal(ixset(s, 7, STATE_IXN_UPDATE, "id1", "*", "db", "deny", &res), CN_EINVAL);
    assert_non_null(strstr(res.errors[0].what, "duplicate intention found: DENY default/*"));

    /* delete by ID / by pair; a missing pair is fine, a missing ID is not */
    assert_int_equal(ixdel(s, 8, "nope", NULL, NULL, &res), CN_ENOTFOUND);
    assert_string_equal(res.errors[0].what, "Cannot delete non-existent intention: 'nope'");
    assert_int_equal(ixdel(s, 9, NULL, "x", "y", &res), 0);
    assert_true(res.ok);
    assert_int_equal(state_table_index(s, STATE_T_INTENTIONS), 6);
    assert_int_equal(ixdel(s, 10, "id1", NULL, NULL, &res), 0);
    assert_null(state_intention_by_id(s, "id1"));
    assert_int_equal(ixdel(s, 11, NULL, "*", "db", &res), 0);
    assert_int_equal(state_intention_count(s), 0);
    assert_int_equal(state_table_index(s, STATE_T_INTENTIONS), 11);
    assert_int_equal(state_mem_bytes(s), m0); /* every record's bytes given back */
    state_result_free(&res);
    state_free(s);
}

static void test_malformed(void **st)
{
    (void)st;
    struct state *s = state_new();
    struct state_result res;
    state_result_init(&res);
    /* a bad action is refused by the state too (a corrupt or hostile entry) */
    assert_int_equal(ixset(s, 1, STATE_IXN_UPSERT, "", "a", "b", "maybe", &res), CN_EINVAL);
    assert_int_equal(ixset(s, 2, STATE_IXN_UPSERT, "", "", "b", "allow", &res), CN_EINVAL);
    struct cn_buf b = CN_BUF_INIT;
    struct state_intention x = {.source = "a", .destination = "b", .action = "allow"};
    assert_int_equal(state_cmd_intention_set(&b, 1, &x), 0);
    for (size_t n = 0; n < b.len; n++) /* every truncation */
        assert_int_not_equal(state_apply(s, 3, b.p, n, NULL), 0);
    cn_buf_free(&b);
    assert_int_equal(state_intention_count(s), 0);
    state_result_free(&res);
    state_free(s);
}

static void test_snapshot_round_trip(void **st)
{
    (void)st;
    struct state *s = state_new();
    assert_int_equal(ixset(s, 1, STATE_IXN_CREATE, "id1", "web", "db", "allow", NULL), 0);
    assert_int_equal(ixset(s, 2, STATE_IXN_UPSERT, "", "*", "db", "deny", NULL), 0);
    assert_int_equal(ixset(s, 3, STATE_IXN_UPSERT, "", "api", "*", "deny", NULL), 0);
    struct cn_buf a;
    snap(s, &a);
    assert_int_equal(((uint8_t *)a.p)[4], 7);
    struct state *t = state_new();
    char err[200];
    assert_int_equal(state_snapshot_restore(t, a.p, a.len, err, sizeof(err)), 0);
    assert_same_snap(&a, t);
    assert_int_equal(state_intention_count(t), 3);
    assert_string_equal(state_intention_by_id(t, "id1")->destination, "db");
    assert_int_equal(state_intention_get(t, "api", "*")->precedence, 6);
    assert_int_equal(state_table_index(t, STATE_T_INTENTIONS), 3);
    assert_int_equal(state_mem_bytes(t), state_mem_bytes(s));
    for (size_t n = 0; n + 4 < a.len; n += 3) {
        struct cn_buf cut = CN_BUF_INIT;
        assert_int_equal(cn_buf_append(&cut, a.p, n), 0);
        assert_int_equal(cn_enc_u32(&cut, 0), 0);
        cn_put_u32((uint8_t *)cut.p + cut.len - 4, cn_crc32c(0, cut.p, cut.len - 4));
        assert_int_not_equal(state_snapshot_restore(t, cut.p, cut.len, err, sizeof(err)), 0);
        cn_buf_free(&cut);
    }
    assert_int_equal(state_intention_count(t), 3); /* failed restores changed nothing */
    cn_buf_free(&a);
    state_free(s);
    state_free(t);
}

/* A version-3 snapshot (before intentions) restores; re-encoded as version 6
 * with an empty intention section. */
static void test_version3_restores(void **st)
{
    (void)st;
    struct state *s = state_new();
    assert_int_equal(op1(s, 1, STATE_KV_SET, "k", "v", 0, NULL), 0);
    struct cn_buf a;
    snap(s, &a);
    /* cut the empty intention section (u64 index, u32 count), CA section
     * (u64 index, u8 0), ACL section (u64, u64, u32 0) and coordinates
     * section (u64 index, u32 0) and config entries section (u64, u32 0)
     * before the CRC */
    memmove(a.p + a.len - 69, a.p + a.len - 4, 4);
    a.len -= 65;
    a.p[4] = 3;
    cn_put_u32((uint8_t *)a.p + a.len - 4, cn_crc32c(0, a.p, a.len - 4));
    struct state *t = state_new();
    char err[200];
    assert_int_equal(state_snapshot_restore(t, a.p, a.len, err, sizeof(err)), 0);
    assert_non_null(kvget(t, "k"));
    assert_int_equal(state_intention_count(t), 0);
    struct cn_buf b;
    snap(s, &b);
    assert_same_snap(&b, t);
    cn_buf_free(&a);
    cn_buf_free(&b);
    state_free(s);
    state_free(t);
}

/* The Connect CA record (state/ca.c): set, replaced (create index kept),
 * a snapshot carries it, a failed apply leaves it. */
static void test_ca_record(void **st)
{
    (void)st;
    struct state *s = state_new();
    struct recorder r = {.n = 0};
    state_set_change_cb(s, recorder_cb, &r);
    assert_null(state_ca_get(s));
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(state_cmd_ca_set(&b, "one", 3, 0), 0);
    assert_int_equal(apply_buf(s, 4, &b, NULL), 0);
    assert_int_equal(recorded(&r, STATE_T_CA, "ca"), 1);
    /* conditional: a second first CA, or a change from a stale read, fails */
    assert_int_equal(state_cmd_ca_set(&b, "other", 5, 0), 0);
    assert_int_equal(apply_buf(s, 5, &b, NULL), CN_ECONFLICT);
    assert_int_equal(state_cmd_ca_set(&b, "other", 5, 3), 0);
    assert_int_equal(apply_buf(s, 6, &b, NULL), CN_ECONFLICT);
    assert_int_equal(state_cmd_ca_set(&b, "second", 6, 4), 0);
    assert_int_equal(apply_buf(s, 9, &b, NULL), 0);
    const struct state_ca *c = state_ca_get(s);
    assert_int_equal(c->len, 6);
    assert_memory_equal(c->data, "second", 6);
    assert_int_equal(c->create_index, 4);
    assert_int_equal(c->modify_index, 9);
    assert_int_equal(state_table_index(s, STATE_T_CA), 9);
    assert_int_equal(state_cmd_ca_set(&b, "", 0, 9), CN_EINVAL);
    struct cn_buf a;
    snap(s, &a);
    struct state *t = state_new();
    char err[200];
    assert_int_equal(state_snapshot_restore(t, a.p, a.len, err, sizeof(err)), 0);
    assert_same_snap(&a, t);
    c = state_ca_get(t);
    assert_int_equal(c->create_index, 4);
    assert_memory_equal(c->data, "second", 6);
    assert_int_equal(state_mem_bytes(t), state_mem_bytes(s));
    cn_buf_free(&a);
    state_free(s);
    state_free(t);
}

static int ixentry(struct state *s, uint64_t idx, const char *dst, bool del, bool cas,
                   uint64_t cas_index, const struct state_ixn_source *v, size_t n,
                   struct state_result *res)
{
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(state_cmd_intention_entry(&b, dst, del, cas, cas_index, (int64_t)idx, v, n),
                     0);
    return apply_buf(s, idx, &b, res);
}

/* INTENTION_ENTRY (a service-intentions config entry): replace the set of a
 * destination, keeping a kept pair's ID and Meta, the entry's indexes, cas,
 * delete, and a legacy delete moving the entry's ModifyIndex. */
static void test_entry(void **st)
{
    (void)st;
    struct state *s = state_new();
    struct state_result res;
    state_result_init(&res);
    uint64_t ci, mi;
    state_intention_entry_index(s, "db", &ci, &mi);
    assert_true(ci == 0 && mi == 0);
    assert_int_equal(ixset(s, 1, STATE_IXN_CREATE, "id1", "web", "db", "allow", &res), 0);
    assert_int_equal(ixset(s, 2, STATE_IXN_CREATE, "id2", "old", "db", "allow", &res), 0);
    assert_int_equal(ixset(s, 3, STATE_IXN_CREATE, "id3", "web", "other", "allow", &res), 0);
    state_intention_entry_index(s, "db", &ci, &mi);
    assert_true(ci == 1 && mi == 2);
    /* a stale cas changes nothing and answers false */
    struct state_ixn_source v[] = {{"web", "deny", "now deny"}, {"*", "allow", ""}};
    assert_int_equal(ixentry(s, 4, "db", false, true, 1, v, 2, &res), 0);
    assert_false(res.ok);
    assert_non_null(state_intention_get(s, "old", "db"));
    /* the right one replaces the set */
    assert_int_equal(ixentry(s, 5, "db", false, true, 2, v, 2, &res), 0);
    assert_true(res.ok);
    assert_null(state_intention_get(s, "old", "db"));
    const struct state_intention *x = state_intention_get(s, "web", "db");
    assert_string_equal(x->id, "id1"); /* kept, with its Meta */
    assert_string_equal(x->meta, "{\"a\":\"1\"}");
    assert_string_equal(x->action, "deny");
    assert_string_equal(x->description, "now deny");
    assert_int_equal(x->create_index, 1);
    assert_int_equal(x->modify_index, 5);
    x = state_intention_get(s, "*", "db");
    assert_string_equal(x->id, "");
    assert_int_equal(x->precedence, 8);
    assert_int_equal(state_intention_get(s, "web", "other")->modify_index, 3);
    state_intention_entry_index(s, "db", &ci, &mi);
    assert_true(ci == 1 && mi == 5);
    /* cas 0: only when there is no entry */
    assert_int_equal(ixentry(s, 6, "db", false, true, 0, v, 1, &res), 0);
    assert_false(res.ok);
    assert_int_equal(ixentry(s, 7, "new", false, true, 0, v, 1, &res), 0);
    assert_true(res.ok);
    /* a legacy delete of one source gives the rest the delete's index */
    assert_int_equal(ixdel(s, 8, NULL, "*", "db", &res), 0);
    state_intention_entry_index(s, "db", &ci, &mi);
    assert_int_equal(mi, 8);
    /* an update by ID moving web => db to web => moved bumps db's rest */
    assert_int_equal(ixset(s, 9, STATE_IXN_CREATE, "id9", "api", "db", "allow", &res), 0);
    assert_int_equal(ixset(s, 10, STATE_IXN_UPDATE, "id9", "api", "moved", "allow", &res), 0);
    state_intention_entry_index(s, "db", &ci, &mi);
    assert_int_equal(mi, 10);
    /* delete the entry (with cas) */
    assert_int_equal(ixentry(s, 11, "db", true, true, 9, NULL, 0, &res), 0);
    assert_false(res.ok);
    assert_int_equal(ixentry(s, 12, "db", true, true, 10, NULL, 0, &res), 0);
    assert_true(res.ok);
    assert_null(state_intention_get(s, "web", "db"));
    assert_non_null(state_intention_get(s, "web", "other"));
    /* the encoder refuses what the apply would */
    struct cn_buf b = CN_BUF_INIT;
    struct state_ixn_source dup[] = {{"a", "allow", ""}, {"a", "deny", ""}};
    struct state_ixn_source bad[] = {{"a", "maybe", ""}};
    assert_int_equal(state_cmd_intention_entry(&b, "db", false, false, 0, 1, dup, 2), CN_EINVAL);
    assert_int_equal(state_cmd_intention_entry(&b, "db", false, false, 0, 1, bad, 1), CN_EINVAL);
    assert_int_equal(state_cmd_intention_entry(&b, "db", false, false, 0, 1, NULL, 0), CN_EINVAL);
    assert_int_equal(state_cmd_intention_entry(&b, "", true, false, 0, 1, NULL, 0), CN_EINVAL);
    assert_int_equal(b.len, 0);
    /* every truncation of a good command is refused as corrupt, changing nothing */
    assert_int_equal(state_cmd_intention_entry(&b, "t", false, false, 0, 1, v, 2), 0);
    for (size_t cut = 0; cut < b.len; cut++) {
        size_t before = state_intention_count(s);
        assert_int_not_equal(state_apply(s, 100 + cut, b.p, cut, &res), 0);
        assert_int_equal(state_intention_count(s), before);
    }
    cn_buf_free(&b);
    state_result_free(&res);
    state_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_precedence),
        cmocka_unit_test(test_entry),
        cmocka_unit_test(test_create_update_upsert_delete),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_snapshot_round_trip),
        cmocka_unit_test(test_version3_restores),
        cmocka_unit_test(test_ca_record),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
