/* tests/unit/state/test_query.c: prepared queries (state/query.c): create,
 * update, delete with Consul's texts (prepared_query.go), name rules, the
 * template lookup by longest prefix, deletion with the bound session, and
 * snapshots: version 3 carries them, version 2 (before them) still restores. */
#include "base/crc.h"
#include "base/enc.h"
#include "helpers.h"

static int qset(struct state *s, uint64_t idx, int op, const char *id, const char *name,
                const char *sess, bool tmpl, struct state_result *res)
{
    struct state_query q = {.id = (char *)id,
                            .name = (char *)name,
                            .session = (char *)sess,
                            .is_template = tmpl,
                            .def = (uint8_t *)"{\"x\":1}",
                            .def_len = 7};
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(state_cmd_query_set(&b, op, &q), 0);
    return apply_buf(s, idx, &b, res);
}

static int qdel(struct state *s, uint64_t idx, const char *id, struct state_result *res)
{
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(state_cmd_query_delete(&b, id), 0);
    return apply_buf(s, idx, &b, res);
}

static void test_create_update_delete(void **st)
{
    (void)st;
    struct state *s = state_new();
    struct recorder r = {.n = 0};
    state_set_change_cb(s, recorder_cb, &r);
    struct state_result res;
    state_result_init(&res);
    assert_int_equal(qset(s, 1, 0, "q1", "web", "", false, &res), 0);
    assert_true(res.ok);
    assert_int_equal(recorded(&r, STATE_T_QUERIES, "q1"), 1);
    const struct state_query *q = state_query_get(s, "q1");
    assert_non_null(q);
    assert_string_equal(q->name, "web");
    assert_int_equal(q->def_len, 7);
    assert_memory_equal(q->def, "{\"x\":1}", 7);
    assert_int_equal(q->create_index, 1);
    assert_int_equal(q->modify_index, 1);
    assert_ptr_equal(state_query_by_name(s, "web"), q);
    assert_int_equal(qset(s, 2, 0, "q1", "other", "", false, &res), CN_EINVAL);
    assert_int_equal(qset(s, 3, 1, "q1", "web2", "", false, NULL), 0);
    q = state_query_get(s, "q1");
    assert_string_equal(q->name, "web2");
    assert_int_equal(q->create_index, 1);
    assert_int_equal(q->modify_index, 3);
    assert_null(state_query_by_name(s, "web"));
    assert_int_equal(qset(s, 4, 1, "nope", "x", "", false, &res), CN_ENOTFOUND);
    assert_string_equal(res.errors[0].what, "Cannot modify non-existent prepared query: 'nope'");
    assert_int_equal(qdel(s, 5, "nope", &res), CN_ENOTFOUND);
    assert_string_equal(res.errors[0].what, "Cannot modify non-existent prepared query: 'nope'");
    assert_int_equal(state_table_index(s, STATE_T_QUERIES), 3);
    assert_int_equal(qdel(s, 6, "q1", &res), 0);
    assert_null(state_query_get(s, "q1"));
    assert_int_equal(state_query_count(s), 0);
    assert_int_equal(state_table_index(s, STATE_T_QUERIES), 6);
    state_result_free(&res);
    state_free(s);
}

static void test_name_rules_and_templates(void **st)
{
    (void)st;
    struct state *s = state_new();
    struct state_result res;
    state_result_init(&res);
    assert_int_equal(qset(s, 1, 0, "q1", "geo", "", true, NULL), 0);
    assert_int_equal(qset(s, 2, 0, "q2", "q1", "", false, &res), CN_EINVAL);
    assert_string_equal(res.errors[0].what, "name 'q1' aliases an existing query ID");
    assert_int_equal(qset(s, 3, 0, "q2", "geo", "", false, &res), CN_EINVAL);
    assert_string_equal(res.errors[0].what, "name 'geo' aliases an existing query name");
    assert_int_equal(qset(s, 4, 0, "q3", "", "", true, NULL), 0);
    assert_int_equal(qset(s, 5, 0, "q4", "", "", true, &res), CN_EINVAL);
    assert_string_equal(res.errors[0].what, "a query template with an empty name already exists");
    assert_int_equal(qset(s, 6, 0, "q5", "geo-db", "", true, NULL), 0);
    assert_int_equal(qset(s, 7, 0, "q6", "geo-db-customer", "", false, NULL), 0);
    /* Longest prefix among templates; a static query never matches by prefix. */
    assert_string_equal(state_query_template_match(s, "geo-db-customer-x")->id, "q5");
    assert_string_equal(state_query_template_match(s, "geo-web")->id, "q1");
    assert_string_equal(state_query_template_match(s, "anything")->id, "q3");
    assert_int_equal(qset(s, 8, 1, "q3", "", "", true, NULL), 0); /* itself is fine */
    state_result_free(&res);
    state_free(s);
}

static void test_session_binding(void **st)
{
    (void)st;
    struct state *s = state_new();
    struct state_result res;
    state_result_init(&res);
    assert_int_equal(qset(s, 1, 0, "q1", "", "s1", false, &res), CN_EINVAL);
    assert_string_equal(res.errors[0].what, "invalid session \"s1\"");
    struct reg_fixture f;
    reg_init(&f, "n1", "10.0.0.1");
    assert_int_equal(reg_apply(s, 2, &f, NULL), 0);
    struct state_session v;
    memset(&v, 0, sizeof(v));
    v.id = (char *)"s1";
    v.name = v.ttl = (char *)"";
    v.node = (char *)"n1";
    v.behavior = (char *)"release";
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(state_cmd_session_create(&b, &v), 0);
    assert_int_equal(apply_buf(s, 3, &b, NULL), 0);
    assert_int_equal(qset(s, 4, 0, "q1", "", "s1", false, NULL), 0);
    assert_int_equal(qset(s, 5, 0, "q2", "kept", "", false, NULL), 0);
    /* Removing the node invalidates the session, which deletes its query. */
    assert_int_equal(state_cmd_deregister(&b, "n1", NULL, NULL), 0);
    assert_int_equal(apply_buf(s, 6, &b, NULL), 0);
    assert_null(state_session_get(s, "s1"));
    assert_null(state_query_get(s, "q1"));
    assert_non_null(state_query_get(s, "q2"));
    assert_int_equal(state_table_index(s, STATE_T_QUERIES), 6);
    state_result_free(&res);
    state_free(s);
}

static void test_snapshot_round_trip(void **st)
{
    (void)st;
    struct state *s = state_new();
    assert_int_equal(qset(s, 1, 0, "q1", "web", "", false, NULL), 0);
    assert_int_equal(qset(s, 2, 0, "q2", "", "", true, NULL), 0);
    struct cn_buf a;
    snap(s, &a);
    assert_int_equal(((uint8_t *)a.p)[4], 7);
    struct state *t = state_new();
    char err[160];
    assert_int_equal(state_snapshot_restore(t, a.p, a.len, err, sizeof(err)), 0);
    assert_same_snap(&a, t);
    assert_int_equal(state_query_count(t), 2);
    assert_true(state_query_get(t, "q2")->is_template);
    assert_int_equal(state_table_index(t, STATE_T_QUERIES), 2);
    assert_int_equal(state_mem_bytes(t), state_mem_bytes(s));
    /* Every truncation fails cleanly. */
    for (size_t n = 0; n + 4 < a.len; n += 3) {
        struct cn_buf cut = CN_BUF_INIT;
        assert_int_equal(cn_buf_append(&cut, a.p, n), 0);
        assert_int_equal(cn_enc_u32(&cut, 0), 0);
        cn_put_u32((uint8_t *)cut.p + cut.len - 4, cn_crc32c(0, cut.p, cut.len - 4));
        assert_int_not_equal(state_snapshot_restore(t, cut.p, cut.len, err, sizeof(err)), 0);
        cn_buf_free(&cut);
    }
    assert_int_equal(state_query_count(t), 2);
    cn_buf_free(&a);
    state_free(s);
    state_free(t);
}

/* A version-2 snapshot (written before prepared queries existed) restores,
 * and re-encodes as version 3 with an empty query section. */
static void test_version2_restores(void **st)
{
    (void)st;
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(cn_buf_append(&b, "CNST", 4), 0);
    assert_int_equal(cn_enc_u8(&b, 2), 0);
    assert_int_equal(cn_enc_u64(&b, 7), 0); /* last index */
    for (int i = 0; i < 5; i++)
        assert_int_equal(cn_enc_u64(&b, i == 0 ? 7 : 0), 0);
    assert_int_equal(cn_enc_u64(&b, 1), 0); /* one KV entry */
    assert_int_equal(cn_enc_u8(&b, 0), 0);
    assert_int_equal(cn_enc_bytes(&b, "k", 1), 0);
    assert_int_equal(cn_enc_bytes(&b, "v", 1), 0);
    assert_int_equal(cn_enc_u64(&b, 0), 0);  /* flags */
    assert_int_equal(cn_enc_u64(&b, 7), 0);  /* create */
    assert_int_equal(cn_enc_u64(&b, 0), 0);  /* lock index */
    assert_int_equal(cn_enc_u8(&b, 0), 0);   /* no session */
    assert_int_equal(cn_enc_str(&b, ""), 0); /* session */
    assert_int_equal(cn_enc_u64(&b, 7), 0);  /* modify */
    for (int i = 0; i < 5; i++)              /* names x2, nodes, services, checks */
        assert_int_equal(cn_enc_u32(&b, 0), 0);
    assert_int_equal(cn_enc_u32(&b, 0), 0); /* sessions */
    assert_int_equal(cn_enc_u64(&b, 0), 0); /* session renew index */
    assert_int_equal(cn_enc_u32(&b, 0), 0); /* lock-delays */
    assert_int_equal(cn_enc_u32(&b, cn_crc32c(0, b.p, b.len)), 0);
    struct state *t = state_new();
    char err[160];
    assert_int_equal(state_snapshot_restore(t, b.p, b.len, err, sizeof(err)), 0);
    assert_non_null(kvget(t, "k"));
    assert_int_equal(state_last_index(t), 7);
    assert_int_equal(state_query_count(t), 0);
    /* Re-encoded: version 7, the same bytes plus empty query, intention
     * and CA sections, an empty ACL section, no coordinates and no config
     * entries. */
    struct cn_buf want = CN_BUF_INIT;
    assert_int_equal(cn_buf_append(&want, b.p, b.len - 4), 0);
    ((uint8_t *)want.p)[4] = 7;
    for (int i = 0; i < 2; i++) {
        assert_int_equal(cn_enc_u64(&want, 0), 0);
        assert_int_equal(cn_enc_u32(&want, 0), 0);
    }
    assert_int_equal(cn_enc_u64(&want, 0), 0); /* no CA */
    assert_int_equal(cn_enc_u8(&want, 0), 0);
    assert_int_equal(cn_enc_u64(&want, 0), 0); /* no ACL objects */
    assert_int_equal(cn_enc_u64(&want, 0), 0);
    assert_int_equal(cn_enc_u32(&want, 0), 0);
    assert_int_equal(cn_enc_u64(&want, 0), 0); /* no coordinates */
    assert_int_equal(cn_enc_u32(&want, 0), 0);
    assert_int_equal(cn_enc_u64(&want, 0), 0); /* no config entries */
    assert_int_equal(cn_enc_u32(&want, 0), 0);
    assert_int_equal(cn_enc_u32(&want, cn_crc32c(0, want.p, want.len)), 0);
    assert_same_snap(&want, t);
    /* A version this build does not know is refused. */
    ((uint8_t *)b.p)[4] = 8;
    cn_put_u32((uint8_t *)b.p + b.len - 4, cn_crc32c(0, b.p, b.len - 4));
    assert_int_equal(state_snapshot_restore(t, b.p, b.len, err, sizeof(err)), CN_ECORRUPT);
    cn_buf_free(&b);
    cn_buf_free(&want);
    state_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_update_delete),
        cmocka_unit_test(test_name_rules_and_templates),
        cmocka_unit_test(test_session_binding),
        cmocka_unit_test(test_snapshot_round_trip),
        cmocka_unit_test(test_version2_restores),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
