/* tests/unit/state/test_cattxn.c: /v1/txn Node, Service and Check operations
 * (state/cattxn.c, Consul's state/txn.go): every verb, results after each op,
 * Consul's error texts with their op index, all-or-nothing on any failure
 * (the snapshot is byte-identical after a failed txn), and corrupt commands. */
#include "helpers.h"

static struct state_cat_op node_op(enum state_cat_verb v, const char *name, const char *addr,
                                   uint64_t index)
{
    struct state_cat_op op;
    memset(&op, 0, sizeof(op));
    op.kind = STATE_CAT_NODE;
    op.verb = v;
    op.index = index;
    op.node.name = (char *)name;
    op.node.id = (char *)"";
    op.node.address = (char *)addr;
    return op;
}

static struct state_cat_op svc_op(enum state_cat_verb v, const char *node, const char *id,
                                  uint64_t index)
{
    struct state_cat_op op;
    memset(&op, 0, sizeof(op));
    op.kind = STATE_CAT_SERVICE;
    op.verb = v;
    op.index = index;
    op.node.name = (char *)node;
    op.service.id = (char *)id;
    op.service.service = (char *)"web";
    op.service.port = 80;
    return op;
}

static struct state_cat_op chk_op(enum state_cat_verb v, const char *node, const char *id,
                                  const char *sid, uint64_t index)
{
    struct state_cat_op op;
    memset(&op, 0, sizeof(op));
    op.kind = STATE_CAT_CHECK;
    op.verb = v;
    op.index = index;
    op.check.node = (char *)node;
    op.check.check_id = (char *)id;
    op.check.name = (char *)id;
    op.check.status = (char *)"passing";
    op.check.service_id = (char *)sid;
    return op;
}

static int run(struct state *s, uint64_t idx, const struct state_cat_op *ops, size_t n,
               struct state_result *res)
{
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(state_cmd_cat_txn(&b, ops, n), 0);
    return apply_buf(s, idx, &b, res);
}

static void test_set_get_delete(void **st)
{
    (void)st;
    struct state *s = state_new();
    struct state_result res;
    state_result_init(&res);
    struct state_cat_op a[] = {
        node_op(STATE_CAT_SET, "n1", "10.0.0.1", 0),
        svc_op(STATE_CAT_SET, "n1", "w1", 0),
        chk_op(STATE_CAT_SET, "n1", "c1", "w1", 0),
        node_op(STATE_CAT_GET, "n1", "", 0),
    };
    assert_int_equal(run(s, 1, a, 4, &res), 0);
    assert_true(res.ok);
    assert_int_equal(res.ncat, 4);
    assert_int_equal(res.cat[0].kind, STATE_CAT_NODE);
    assert_string_equal(res.cat[0].node.address, "10.0.0.1");
    assert_int_equal(res.cat[0].node.modify_index, 1);
    assert_string_equal(res.cat[1].service.id, "w1");
    assert_string_equal(res.cat[2].check.service_name, "web"); /* filled by the set */
    assert_int_equal(res.cat[3].kind, STATE_CAT_NODE);
    assert_non_null(state_check_get(s, "n1", "c1"));
    /* cas: index 0 only creates; the right ModifyIndex updates. */
    struct state_cat_op b[] = {node_op(STATE_CAT_CAS, "n1", "10.0.0.2", 1)};
    assert_int_equal(run(s, 2, b, 1, &res), 0);
    assert_string_equal(state_node_get(s, "n1")->address, "10.0.0.2");
    /* Deletes give no result; the service's check goes with it. */
    struct state_cat_op c[] = {svc_op(STATE_CAT_DELETE_CAS, "n1", "w1", 1),
                               chk_op(STATE_CAT_DELETE, "n1", "gone", "", 0)};
    assert_int_equal(run(s, 3, c, 2, &res), 0);
    assert_int_equal(res.ncat, 0);
    assert_null(state_service_get(s, "n1", "w1"));
    assert_null(state_check_get(s, "n1", "c1"));
    struct state_cat_op d[] = {node_op(STATE_CAT_DELETE, "n1", "", 0)};
    assert_int_equal(run(s, 4, d, 1, &res), 0);
    assert_null(state_node_get(s, "n1"));
    state_result_free(&res);
    state_free(s);
}

static void test_failures_undo_everything(void **st)
{
    (void)st;
    struct state *s = state_new();
    struct state_result res;
    state_result_init(&res);
    struct state_cat_op a[] = {node_op(STATE_CAT_SET, "n1", "10.0.0.1", 0),
                               svc_op(STATE_CAT_SET, "n1", "w1", 0)};
    assert_int_equal(run(s, 1, a, 2, &res), 0);
    struct cn_buf before;
    snap(s, &before);
    struct state_cat_op b[] = {
        node_op(STATE_CAT_DELETE, "n1", "", 0),       /* would succeed */
        node_op(STATE_CAT_CAS, "n1", "10.0.0.9", 99), /* stale */
        node_op(STATE_CAT_CAS, "n2", "10.0.0.9", 5),  /* missing: stale too */
        node_op(STATE_CAT_DELETE_CAS, "n1", "", 1),   /* n1 already gone in this txn */
        svc_op(STATE_CAT_GET, "n1", "w1", 0),         /* gone with n1 */
        chk_op(STATE_CAT_GET, "n1", "c9", "", 0),     /* missing */
        svc_op(STATE_CAT_SET, "nobody", "w2", 0),     /* no node */
        chk_op(STATE_CAT_SET, "n2", "c2", "", 0),     /* no node */
        node_op(STATE_CAT_GET, "n3", "", 0),          /* missing */
        svc_op(STATE_CAT_CAS, "n1", "w1", 0),         /* n1 is gone */
    };
    assert_int_equal(run(s, 2, b, 10, &res), CN_ECONFLICT);
    assert_false(res.ok);
    assert_int_equal(res.ncat, 0);
    assert_int_equal(res.nerrors, 9);
    assert_int_equal(res.errors[0].op_index, 1);
    assert_string_equal(res.errors[0].what, "failed to set node \"n1\", index is stale");
    assert_string_equal(res.errors[1].what, "failed to set node \"n2\", index is stale");
    assert_string_equal(res.errors[2].what, "failed to delete node \"n1\", index is stale");
    assert_string_equal(res.errors[3].what, "service \"w1\" on node \"n1\" doesn't exist");
    assert_string_equal(res.errors[4].what, "check \"c9\" on node \"n1\" doesn't exist");
    assert_string_equal(res.errors[5].what, "Missing node registration");
    assert_int_equal(res.errors[5].op_index, 6);
    assert_string_equal(res.errors[7].what, "node \"n3\" doesn't exist");
    assert_string_equal(res.errors[8].what, "Missing node registration");
    assert_int_equal(res.errors[8].op_index, 9);
    /* Nothing changed but the applied index. */
    assert_non_null(state_node_get(s, "n1"));
    assert_int_equal(state_last_index(s), 2);
    struct state_cat_op noop[] = {node_op(STATE_CAT_GET, "n1", "", 0)};
    struct state *t = state_new();
    char err[160];
    assert_int_equal(state_snapshot_restore(t, before.p, before.len, err, sizeof(err)), 0);
    assert_int_equal(run(t, 2, noop, 1, NULL), 0); /* same last index, no change */
    struct cn_buf after;
    snap(s, &after);
    assert_same_snap(&after, t);
    /* A registration error inside a set is reported with its op index. */
    struct state_cat_op c[] = {node_op(STATE_CAT_GET, "n1", "", 0),
                               node_op(STATE_CAT_SET, "n9", "", 0)};
    assert_int_equal(run(s, 3, c, 2, &res), CN_ECONFLICT);
    assert_int_equal(res.nerrors, 1);
    assert_int_equal(res.errors[0].op_index, 1);
    cn_buf_free(&before);
    cn_buf_free(&after);
    state_result_free(&res);
    state_free(s);
    state_free(t);
}

static void test_corrupt_and_encoder(void **st)
{
    (void)st;
    struct state *s = state_new();
    struct cn_buf b = CN_BUF_INIT;
    struct state_cat_op a[] = {node_op(STATE_CAT_SET, "n1", "10.0.0.1", 0)};
    assert_int_equal(state_cmd_cat_txn(&b, a, 1), 0);
    for (size_t cut = 2; cut < b.len; cut++)
        assert_int_equal(state_apply(s, 1, b.p, cut, NULL), CN_ECORRUPT);
    assert_int_equal(state_last_index(s), 0);
    ((uint8_t *)b.p)[6] = 9; /* the first op's kind */
    assert_int_equal(state_apply(s, 1, b.p, b.len, NULL), CN_ECORRUPT);
    cn_buf_free(&b);
    assert_int_equal(state_cmd_cat_txn(&b, a, 0), CN_EINVAL);
    a[0].verb = STATE_CAT__COUNT;
    assert_int_equal(state_cmd_cat_txn(&b, a, 1), CN_EINVAL);
    assert_int_equal(b.len, 0);
    cn_buf_free(&b);
    state_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_set_get_delete),
        cmocka_unit_test(test_failures_undo_everything),
        cmocka_unit_test(test_corrupt_and_encoder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
