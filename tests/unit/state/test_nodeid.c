/* tests/unit/state/test_nodeid.c: node IDs checked against other nodes
 * (Consul's ensureNodeTxn / ensureNoNodeWithSimilarNameTxn) and the node ID
 * index behind it (state/nodeid.c): a registration carrying another node's
 * ID renames that node, a name reserved by a healthy node with another ID is
 * refused with Consul's texts, a critical or absent serfHealth frees it, an
 * ID-less node takes an ID, a failed txn leaves the index as it was, and a
 * restore rebuilds it; the index of names ignoring case beside it. */
#include "helpers.h"
#include "state/state_int.h" /* the index, record sizes */

#define IDA "11111111-2222-3333-4444-555555555555"
#define IDB "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
#define IDC "99999999-8888-7777-6666-555555555555"

static int setup(void **st)
{
    *st = state_new();
    return *st ? 0 : -1;
}

static int teardown(void **st)
{
    assert_true(state__nid_agrees(*st));
    state_free(*st);
    return 0;
}

/* Register node (id may be ""), with a service "<node>-web" and, when
 * serf is non-NULL, a serfHealth check of that status. */
static int reg_node_full(struct state *s, uint64_t idx, const char *node, const char *id,
                         const char *addr, const char *serf, struct state_result *res)
{
    struct reg_fixture f;
    char sid[64];
    reg_init(&f, node, addr);
    f.r.node.id = (char *)id;
    snprintf(sid, sizeof(sid), "%s-web", node);
    reg_service(&f, sid, "web", 80);
    if (serf)
        reg_check(&f, "serfHealth", "", serf);
    return reg_apply(s, idx, &f, res);
}

static int reg_bare(struct state *s, uint64_t idx, const char *node, const char *id,
                    const char *addr, struct state_result *res)
{
    struct reg_fixture f;
    reg_init(&f, node, addr);
    f.r.node.id = (char *)id;
    return reg_apply(s, idx, &f, res);
}

static int mksess(struct state *s, uint64_t idx, const char *id, const char *node)
{
    struct state_session v;
    memset(&v, 0, sizeof(v));
    v.id = (char *)id;
    v.name = (char *)"n";
    v.node = (char *)node;
    v.behavior = (char *)"release";
    v.ttl = (char *)"";
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(state_cmd_session_create(&b, &v), 0);
    return apply_buf(s, idx, &b, NULL);
}

static void coord(struct state *s, uint64_t idx, const char *node)
{
    struct state_coord c;
    memset(&c, 0, sizeof(c));
    c.node = node;
    c.segment = "";
    c.error = 1.5;
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(state_cmd_coord_batch(&b, &c, 1), 0);
    assert_int_equal(apply_buf(s, idx, &b, NULL), 0);
}

static void test_rename_moves_only_that_node(void **st)
{
    struct state *s = *st;
    assert_int_equal(reg_node_full(s, 2, "a", IDA, "10.0.0.1", "passing", NULL), 0);
    assert_int_equal(reg_node_full(s, 3, "c", IDC, "10.0.0.3", "passing", NULL), 0);
    assert_int_equal(mksess(s, 4, "sess-a", "a"), 0);
    assert_int_equal(mksess(s, 5, "sess-c", "c"), 0);
    coord(s, 6, "a");
    coord(s, 7, "c");
    assert_string_equal(state__nid_find(s, IDA)->n.name, "a");

    /* b carries a's ID: a is renamed to b (deleteNodeTxn of a, then b) */
    struct state_result res;
    state_result_init(&res);
    assert_int_equal(reg_bare(s, 10, "b", IDA, "10.0.0.2", &res), 0);
    assert_true(res.ok);
    state_result_free(&res);
    assert_null(state_node_get(s, "a"));
    assert_null(state_service_get(s, "a", "a-web"));
    assert_null(state_check_get(s, "a", "serfHealth"));
    assert_null(state_session_get(s, "sess-a"));
    assert_null(state_coord_get(s, "a", ""));
    const struct state_node *b = state_node_get(s, "b");
    assert_non_null(b);
    assert_string_equal(b->id, IDA);
    assert_string_equal(b->address, "10.0.0.2");
    assert_int_equal(b->create_index, 2); /* ensureNodeTxn keeps a's CreateIndex */
    assert_int_equal(b->modify_index, 10);
    assert_ptr_equal(&state__nid_find(s, IDA)->n, b);
    /* the other node keeps everything */
    const struct state_node *c = state_node_get(s, "c");
    assert_non_null(c);
    assert_int_equal(c->modify_index, 3);
    assert_non_null(state_service_get(s, "c", "c-web"));
    assert_non_null(state_check_get(s, "c", "serfHealth"));
    assert_non_null(state_session_get(s, "sess-c"));
    assert_non_null(state_coord_get(s, "c", ""));
    assert_string_equal(state__nid_find(s, IDC)->n.name, "c");
    assert_int_equal(state__nid_count(s), 2);
    assert_true(state__nid_agrees(s));

    /* an ID compares ignoring case (Consul parses the UUID) */
    assert_int_equal(reg_bare(s, 11, "e", IDB, "10.0.0.8", NULL), 0);
    assert_int_equal(reg_bare(s, 12, "d", "AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE", "10.0.0.9", NULL),
                     0);
    assert_null(state_node_get(s, "e"));
    assert_string_equal(state_node_get(s, "d")->id, "AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE");
    assert_int_equal(state_node_get(s, "d")->create_index, 11);
    assert_string_equal(state__nid_find(s, IDB)->n.name, "d");
    assert_int_equal(state__nid_count(s), 3);
}

static void test_refused_when_name_reserved(void **st)
{
    struct state *s = *st;
    assert_int_equal(reg_node_full(s, 2, "a", IDA, "10.0.0.1", "passing", NULL), 0);
    assert_int_equal(reg_node_full(s, 3, "b", IDB, "10.0.0.2", "passing", NULL), 0);
    struct cn_buf before;
    snap(s, &before);
    size_t mem = state_mem_bytes(s);

    /* a renamed to b: b is healthy with another ID */
    struct state_result res;
    state_result_init(&res);
    assert_int_equal(reg_bare(s, 4, "b", IDA, "10.0.0.1", &res), CN_ECONFLICT);
    assert_false(res.ok);
    assert_int_equal(res.nerrors, 1);
    assert_string_equal(res.errors[0].what,
                        "failed inserting node: Error while renaming Node ID: \"" IDA
                        "\" (10.0.0.1): Node name b is reserved by node " IDB
                        " with name b (10.0.0.2)");
    state_result_free(&res);
    assert_same_but_index(&before, s);
    assert_int_equal(state_mem_bytes(s), mem);

    /* a new ID on b's name (any case) */
    state_result_init(&res);
    assert_int_equal(reg_bare(s, 5, "B", IDC, "10.0.0.7", &res), CN_ECONFLICT);
    assert_string_equal(res.errors[0].what,
                        "failed inserting node: Error while renaming Node ID: \"" IDC
                        "\": Node name b is reserved by node " IDB " with name b (10.0.0.2)");
    state_result_free(&res);
    /* an ID-less write of b is by name (ensureNodeTxn): it replaces b's row,
     * ID included, and b leaves the index */
    assert_int_equal(reg_bare(s, 6, "b", "", "10.0.0.2", NULL), 0);
    assert_string_equal(state_node_get(s, "b")->id, "");
    assert_int_equal(state__nid_count(s), 1);
    assert_true(state__nid_agrees(s));
    cn_buf_free(&before);
}

static void test_critical_or_absent_serf_frees_the_name(void **st)
{
    struct state *s = *st;
    assert_int_equal(reg_node_full(s, 2, "a", IDA, "10.0.0.1", "passing", NULL), 0);
    assert_int_equal(reg_node_full(s, 3, "b", IDB, "10.0.0.2", "critical", NULL), 0);
    /* a renamed onto b's name: b is failed, so a takes it; b's row is
     * overwritten (its service and check stay with the name, as in
     * Consul's memdb insert) and b's ID leaves the index */
    assert_int_equal(reg_bare(s, 4, "b", IDA, "10.0.0.1", NULL), 0);
    assert_null(state_node_get(s, "a"));
    assert_null(state_service_get(s, "a", "a-web"));
    const struct state_node *b = state_node_get(s, "b");
    assert_string_equal(b->id, IDA);
    assert_int_equal(b->create_index, 2);
    assert_non_null(state_service_get(s, "b", "b-web"));
    assert_null(state__nid_find(s, IDB));
    assert_string_equal(state__nid_find(s, IDA)->n.name, "b");
    assert_int_equal(state__nid_count(s), 1);

    /* no serfHealth at all: an external node, its name free to take */
    assert_int_equal(reg_node_full(s, 5, "ext", IDB, "10.0.0.5", NULL, NULL), 0);
    assert_int_equal(reg_bare(s, 6, "ext", IDC, "10.0.0.6", NULL), 0);
    assert_string_equal(state_node_get(s, "ext")->id, IDC);
    assert_int_equal(state_node_get(s, "ext")->create_index, 5);
    assert_null(state__nid_find(s, IDB));
    assert_string_equal(state__nid_find(s, IDC)->n.name, "ext");
    /* a warning serfHealth still holds the name */
    assert_int_equal(reg_node_full(s, 7, "w", IDB, "10.0.0.7", "warning", NULL), 0);
    assert_int_equal(reg_bare(s, 8, "w", "12345678-1234-1234-1234-123456789012", "1.1.1.1", NULL),
                     CN_ECONFLICT);
}

static void test_idless_node_upgraded(void **st)
{
    struct state *s = *st;
    assert_int_equal(reg_node_full(s, 2, "old", "", "10.0.0.1", "passing", NULL), 0);
    assert_int_equal(state__nid_count(s), 0);
    /* a new ID on an ID-less healthy node: allowed (the upgrade) */
    assert_int_equal(reg_bare(s, 3, "old", IDA, "10.0.0.1", NULL), 0);
    const struct state_node *n = state_node_get(s, "old");
    assert_string_equal(n->id, IDA);
    assert_int_equal(n->create_index, 2);
    assert_non_null(state_service_get(s, "old", "old-web"));
    assert_ptr_equal(&state__nid_find(s, IDA)->n, n);

    /* but renaming another node onto a healthy ID-less node is refused */
    assert_int_equal(reg_node_full(s, 4, "plain", "", "10.0.0.4", "passing", NULL), 0);
    struct state_result res;
    state_result_init(&res);
    assert_int_equal(reg_bare(s, 5, "plain", IDA, "10.0.0.1", &res), CN_ECONFLICT);
    assert_string_equal(res.errors[0].what,
                        "failed inserting node: Error while renaming Node ID: \"" IDA
                        "\" (10.0.0.1): Node name plain is reserved by node  with name plain "
                        "(10.0.0.4)");
    state_result_free(&res);
    assert_non_null(state_node_get(s, "old"));

    /* a healthy node cannot change its ID (Consul's "reserved" refusal);
     * once its serfHealth is critical it can, and the index follows */
    assert_int_equal(reg_bare(s, 6, "old", IDB, "10.0.0.1", NULL), CN_ECONFLICT);
    assert_int_equal(set_status(s, 7, "old", "serfHealth", "critical", "", NULL), 0);
    assert_int_equal(reg_bare(s, 8, "old", IDB, "10.0.0.1", NULL), 0);
    assert_null(state__nid_find(s, IDA));
    assert_string_equal(state__nid_find(s, IDB)->n.name, "old");
    /* deregistration drops the entry */
    assert_int_equal(dereg(s, 9, "old", NULL, NULL, NULL), 0);
    assert_null(state__nid_find(s, IDB));
    assert_int_equal(state__nid_count(s), 0);
}

static struct state_cat_op node_op(const char *name, const char *id, const char *addr)
{
    struct state_cat_op op;
    memset(&op, 0, sizeof(op));
    op.kind = STATE_CAT_NODE;
    op.verb = STATE_CAT_SET;
    op.node.name = (char *)name;
    op.node.id = (char *)id;
    op.node.address = (char *)addr;
    return op;
}

static int run(struct state *s, uint64_t idx, const struct state_cat_op *ops, size_t n,
               struct state_result *res)
{
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(state_cmd_cat_txn(&b, ops, n), 0);
    return apply_buf(s, idx, &b, res);
}

static void test_txn_rollback_keeps_index(void **st)
{
    struct state *s = *st;
    assert_int_equal(reg_node_full(s, 2, "a", IDA, "10.0.0.1", "passing", NULL), 0);
    assert_int_equal(reg_node_full(s, 3, "b", IDB, "10.0.0.2", "passing", NULL), 0);
    struct cn_buf before;
    snap(s, &before);
    size_t mem = state_mem_bytes(s);
    /* a rename (a -> x), an ID change (b) and a new node, then a failing op:
     * all of it rolls back, the index with it */
    struct state_cat_op ops[4] = {
        node_op("x", IDA, "10.0.0.1"),
        node_op("b", IDC, "10.0.0.2"),
        node_op("y", "12345678-1234-1234-1234-123456789012", "10.0.0.3"),
    };
    ops[1].node.id = (char *)""; /* ID-less write of b: keeps b's row by name */
    memset(&ops[3], 0, sizeof(ops[3]));
    ops[3].kind = STATE_CAT_NODE;
    ops[3].verb = STATE_CAT_CAS;
    ops[3].index = 999; /* stale */
    ops[3].node.name = (char *)"a";
    ops[3].node.id = (char *)"";
    ops[3].node.address = (char *)"10.0.0.1";
    struct state_result res;
    state_result_init(&res);
    assert_int_equal(run(s, 4, ops, 4, &res), CN_ECONFLICT);
    state_result_free(&res);
    assert_same_but_index(&before, s);
    assert_int_equal(state_mem_bytes(s), mem);
    assert_string_equal(state__nid_find(s, IDA)->n.name, "a");
    assert_string_equal(state__nid_find(s, IDB)->n.name, "b");
    assert_null(state__nid_find(s, "12345678-1234-1234-1234-123456789012"));
    assert_int_equal(state__nid_count(s), 2);
    assert_true(state__nid_agrees(s));

    /* a refused node set in a txn: Consul's txnNode text (no
     * "failed inserting node" prefix) at its op index */
    struct state_cat_op bad[2] = {
        node_op("z", "12345678-1234-1234-1234-123456789012", "10.0.0.9"),
        node_op("b", IDA, "10.0.0.1"),
    };
    state_result_init(&res);
    assert_int_equal(run(s, 5, bad, 2, &res), CN_ECONFLICT);
    assert_int_equal(res.nerrors, 1);
    assert_int_equal(res.errors[0].op_index, 1);
    assert_string_equal(res.errors[0].what, "Error while renaming Node ID: \"" IDA
                                            "\" (10.0.0.1): Node name b is reserved by node " IDB
                                            " with name b (10.0.0.2)");
    state_result_free(&res);
    assert_null(state_node_get(s, "z"));
    assert_int_equal(state_mem_bytes(s), mem);

    /* the same rename on its own commits */
    struct state_cat_op ok[1] = {node_op("x", IDA, "10.0.0.1")};
    state_result_init(&res);
    assert_int_equal(run(s, 6, ok, 1, &res), 0);
    state_result_free(&res);
    assert_null(state_node_get(s, "a"));
    assert_string_equal(state__nid_find(s, IDA)->n.name, "x");
    cn_buf_free(&before);
}

static void test_restore_rebuilds_index(void **st)
{
    struct state *s = *st;
    char name[32], id[40];
    for (int i = 0; i < 50; i++) {
        snprintf(name, sizeof(name), "n%02d", i);
        snprintf(id, sizeof(id), "%08x-0000-0000-0000-000000000000", i);
        assert_int_equal(reg_bare(s, (uint64_t)i + 1, name, i % 5 ? id : "", "10.1.0.1", NULL), 0);
    }
    assert_int_equal(state__nid_count(s), 40);
    struct cn_buf a;
    snap(s, &a);
    struct state *t = state_new();
    char err[160];
    assert_int_equal(state_snapshot_restore(t, a.p, a.len, err, sizeof(err)), 0);
    assert_same_snap(&a, t); /* the index is not in the snapshot */
    assert_int_equal(state__nid_count(t), 40);
    assert_true(state__nid_agrees(t));
    assert_int_equal(state_mem_bytes(t), state_mem_bytes(s));
    assert_string_equal(state__nid_find(t, "00000007-0000-0000-0000-000000000000")->n.name, "n07");
    assert_null(state__nid_find(t, "00000005-0000-0000-0000-000000000000")); /* n05: no ID */
    /* the restored index works: n07's ID renames n07 */
    assert_int_equal(reg_bare(t, 100, "m", "00000007-0000-0000-0000-000000000000", "1.2.3.4", NULL),
                     0);
    assert_null(state_node_get(t, "n07"));
    assert_true(state__nid_agrees(t));
    cn_buf_free(&a);
    state_free(t);
}

/* Node memory counts the index: an ID costs one index record, and the
 * accounting returns to where it was once the node is gone. */
static void test_index_mem(void **st)
{
    struct state *s = *st;
    size_t m0 = state_mem_bytes(s);
    assert_int_equal(reg_bare(s, 1, "p", "", "10.0.0.1", NULL), 0);
    size_t dp = state_mem_bytes(s) - m0;
    assert_int_equal(dereg(s, 2, "p", NULL, NULL, NULL), 0);
    size_t m1 = state_mem_bytes(s); /* p's name row stays: indexes never go back */
    assert_int_equal(reg_bare(s, 3, "q", IDA, "10.0.0.1", NULL), 0);
    size_t dq = state_mem_bytes(s) - m1;
    assert_int_equal(dereg(s, 4, "q", NULL, NULL, NULL), 0);
    assert_int_equal(state_mem_bytes(s) - m1, m1 - m0); /* q's name row, no more */
    size_t rec = state__chunk(sizeof(struct avl) + sizeof(void *) + sizeof(uint64_t));
    assert_int_equal(dq - dp, state__str_mem(IDA) - state__str_mem("") + rec);
    printf("node ID index: %zu bytes a node with an ID\n", rec);
}

/* The name index: the live node equal ignoring case, found without a walk,
 * and a name once used and gone matches nothing. */
static void test_folded_name_index(void **st)
{
    struct state *s = *st;
    assert_int_equal(reg_bare(s, 1, "Foo", "", "10.0.0.1", NULL), 0);
    assert_int_equal(reg_bare(s, 2, "bar", IDA, "10.0.0.2", NULL), 0);
    assert_string_equal(state_node_lookup(s, "FOO")->name, "Foo");
    assert_string_equal(state_node_lookup(s, "BAR")->name, "bar");
    assert_null(state_node_lookup(s, "fo"));
    assert_null(state_node_lookup(s, "fooo"));
    /* a write by another spelling reaches Foo */
    assert_int_equal(reg_bare(s, 3, "fOO", "", "10.0.0.3", NULL), 0);
    assert_string_equal(state_node_get(s, "Foo")->address, "10.0.0.3");
    assert_null(state_node_get(s, "fOO"));
    /* renamed away (bar's ID on "baz"), the name is free in every spelling */
    assert_int_equal(reg_bare(s, 4, "baz", IDA, "10.0.0.2", NULL), 0);
    assert_null(state_node_lookup(s, "BAR"));
    assert_int_equal(reg_bare(s, 5, "BAR", "", "10.0.0.5", NULL), 0);
    assert_string_equal(state_node_lookup(s, "bar")->name, "BAR");
    assert_int_equal(dereg(s, 6, "Foo", NULL, NULL, NULL), 0);
    assert_null(state_node_lookup(s, "foo"));
    assert_true(state__nid_agrees(s));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_rename_moves_only_that_node, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_when_name_reserved, setup, teardown),
        cmocka_unit_test_setup_teardown(test_critical_or_absent_serf_frees_the_name, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_idless_node_upgraded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_txn_rollback_keeps_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restore_rebuilds_index, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index_mem, setup, teardown),
        cmocka_unit_test_setup_teardown(test_folded_name_index, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
