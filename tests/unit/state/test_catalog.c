/* Catalog: register/update/deregister, index behaviour, change callbacks. */
#include "helpers.h"
#include "state/state_int.h" /* record sizes */

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

struct names {
    char v[8][32];
    int n;
};

static int svc_names_cb(void *arg, const struct state_service *v)
{
    struct names *x = arg;
    snprintf(x->v[x->n++], 32, "%s/%s", v->node, v->id);
    return 0;
}

static int chk_names_cb(void *arg, const struct state_check *c)
{
    struct names *x = arg;
    snprintf(x->v[x->n++], 32, "%s/%s", c->node, c->check_id);
    return 0;
}

static void test_node_register(void **st)
{
    struct state *s = *st;
    struct recorder r = {.n = 0};
    state_set_change_cb(s, recorder_cb, &r);
    struct reg_fixture f;
    reg_init(&f, "n1", "10.0.0.1");
    struct state_pair meta[] = {{"zone", "b"}, {"rack", "r1"}}; /* unsorted on purpose */
    f.r.node.meta.items = meta;
    f.r.node.meta.n = 2;
    struct state_result res;
    state_result_init(&res);
    assert_int_equal(reg_apply(s, 5, &f, &res), 0);
    assert_true(res.ok);
    const struct state_node *n = state_node_get(s, "n1");
    assert_non_null(n);
    assert_string_equal(n->address, "10.0.0.1");
    assert_string_equal(n->id, "");
    assert_int_equal(n->meta.n, 2);
    assert_string_equal(n->meta.items[0].k, "rack"); /* stored sorted */
    assert_int_equal(n->create_index, 5);
    assert_int_equal(n->modify_index, 5);
    assert_int_equal(state_table_index(s, STATE_T_NODES), 5);
    assert_int_equal(state_node_index(s, "n1"), 5);
    assert_int_equal(recorded(&r, STATE_T_NODES, "n1"), 1);

    /* Identical re-registration: no write, no bump, no notification. */
    r.n = 0;
    assert_int_equal(reg_apply(s, 6, &f, NULL), 0);
    assert_int_equal(state_node_get(s, "n1")->modify_index, 5);
    assert_int_equal(state_table_index(s, STATE_T_NODES), 5);
    assert_int_equal(r.n, 0);

    f.r.node.address = "10.0.0.2";
    assert_int_equal(reg_apply(s, 7, &f, NULL), 0);
    n = state_node_get(s, "n1");
    assert_string_equal(n->address, "10.0.0.2");
    assert_int_equal(n->create_index, 5);
    assert_int_equal(n->modify_index, 7);

    /* skip_node_update leaves an existing node alone... */
    f.r.skip_node_update = true;
    f.r.node.address = "";
    assert_int_equal(reg_apply(s, 8, &f, NULL), 0);
    assert_string_equal(state_node_get(s, "n1")->address, "10.0.0.2");
    /* ...but an unknown node still needs an address. */
    reg_init(&f, "n2", "");
    f.r.skip_node_update = true;
    assert_int_equal(reg_apply(s, 9, &f, &res), CN_EINVAL);
    assert_string_equal(res.errors[0].what, "Missing node registration");
    f.r.skip_node_update = false;
    assert_int_equal(reg_apply(s, 10, &f, &res), CN_EINVAL);
    assert_string_equal(res.errors[0].what, "Must provide address if SkipNodeUpdate is not set");
    reg_init(&f, "", "1.2.3.4");
    assert_int_equal(reg_apply(s, 11, &f, &res), CN_EINVAL);
    assert_null(state_node_get(s, "n2"));
    assert_int_equal(state_last_index(s), 11);
    state_result_free(&res);
    state_set_change_cb(s, NULL, NULL);
}

static void test_service_register(void **st)
{
    struct state *s = *st;
    struct recorder r = {.n = 0};
    state_set_change_cb(s, recorder_cb, &r);
    struct reg_fixture f;
    reg_init(&f, "n1", "10.0.0.1");
    reg_service(&f, "", "web", 80); /* ID defaults to the name */
    char *tags[] = {"v1", "edge"};
    f.svc.tags = tags;
    f.svc.ntags = 2;
    assert_int_equal(reg_apply(s, 3, &f, NULL), 0);
    const struct state_service *v = state_service_get(s, "n1", "web");
    assert_non_null(v);
    assert_string_equal(v->service, "web");
    assert_string_equal(v->node, "n1");
    assert_int_equal(v->weight_passing, 1);
    assert_int_equal(v->weight_warning, 1);
    assert_int_equal(v->ntags, 2);
    assert_string_equal(v->tags[1], "edge");
    assert_int_equal(v->create_index, 3);
    assert_int_equal(state_service_index(s, "web"), 3);
    assert_int_equal(state_table_index(s, STATE_T_SERVICES), 3);
    assert_int_equal(recorded(&r, STATE_T_SERVICES, "web"), 1);

    reg_init(&f, "n2", "10.0.0.2");
    reg_service(&f, "web-2", "web", 81);
    f.svc.weight_passing = 5;
    assert_int_equal(reg_apply(s, 4, &f, NULL), 0);
    assert_int_equal(state_service_get(s, "n2", "web-2")->weight_passing, 5);
    assert_int_equal(state_service_get(s, "n2", "web-2")->weight_warning, 0);
    struct names x = {.n = 0};
    state_service_instances(s, "web", svc_names_cb, &x);
    assert_int_equal(x.n, 2);
    assert_string_equal(x.v[0], "n1/web");
    assert_string_equal(x.v[1], "n2/web-2");

    /* Unchanged: no bump. */
    r.n = 0;
    assert_int_equal(reg_apply(s, 5, &f, NULL), 0);
    assert_int_equal(r.n, 0);
    assert_int_equal(state_service_index(s, "web"), 4);

    /* Rename: the instance moves between names; both indexes move. */
    reg_service(&f, "web-2", "api", 81);
    f.svc.weight_passing = 5;
    assert_int_equal(reg_apply(s, 6, &f, NULL), 0);
    x.n = 0;
    state_service_instances(s, "web", svc_names_cb, &x);
    assert_int_equal(x.n, 1);
    x.n = 0;
    state_service_instances(s, "api", svc_names_cb, &x);
    assert_int_equal(x.n, 1);
    assert_int_equal(state_service_index(s, "web"), 6);
    assert_int_equal(state_service_index(s, "api"), 6);
    assert_int_equal(state_service_get(s, "n2", "web-2")->create_index, 4);

    /* A node-row change bumps the services on it (health views show it). */
    reg_init(&f, "n1", "10.9.9.9");
    assert_int_equal(reg_apply(s, 7, &f, NULL), 0);
    assert_int_equal(state_service_index(s, "web"), 7);
    assert_int_equal(state_service_index(s, "api"), 6);
    assert_int_equal(state_node_index(s, "n1"), 7);

    x.n = 0;
    state_node_services(s, "n2", svc_names_cb, &x);
    assert_int_equal(x.n, 1);
    x.n = 0;
    state_services_foreach(s, svc_names_cb, &x);
    assert_int_equal(x.n, 2);

    /* A service with no name is invalid; nothing changes. */
    reg_init(&f, "n3", "10.0.0.3");
    reg_service(&f, "x", "", 1);
    assert_int_equal(reg_apply(s, 8, &f, NULL), CN_EINVAL);
    assert_null(state_node_get(s, "n3"));
    state_set_change_cb(s, NULL, NULL);
}

static void test_checks(void **st)
{
    struct state *s = *st;
    struct recorder r = {.n = 0};
    struct reg_fixture f;
    reg_init(&f, "n1", "10.0.0.1");
    reg_service(&f, "web1", "web", 80);
    reg_check(&f, "svc:web1", "web1", "passing");
    reg_check(&f, "serfHealth", "", NULL); /* default status: critical */
    assert_int_equal(reg_apply(s, 2, &f, NULL), 0);
    reg_init(&f, "n1", "10.0.0.1");
    reg_service(&f, "db1", "db", 5432);
    reg_check(&f, "svc:db1", "db1", "warning");
    assert_int_equal(reg_apply(s, 3, &f, NULL), 0);

    const struct state_check *c = state_check_get(s, "n1", "svc:web1");
    assert_non_null(c);
    assert_string_equal(c->service_name, "web");
    assert_string_equal(c->status, "passing");
    assert_string_equal(state_check_get(s, "n1", "serfHealth")->status, "critical");
    assert_string_equal(state_check_get(s, "n1", "serfHealth")->service_name, "");
    assert_int_equal(state_table_index(s, STATE_T_CHECKS), 3);

    struct names x = {.n = 0};
    state_instance_checks(s, state_service_get(s, "n1", "web1"), chk_names_cb, &x);
    assert_int_equal(x.n, 2);
    assert_string_equal(x.v[0], "n1/serfHealth"); /* node checks first */
    assert_string_equal(x.v[1], "n1/svc:web1");
    x.n = 0;
    state_service_checks(s, "db", chk_names_cb, &x);
    assert_int_equal(x.n, 1);
    assert_string_equal(x.v[0], "n1/svc:db1");
    x.n = 0;
    state_node_checks(s, "n1", chk_names_cb, &x);
    assert_int_equal(x.n, 3);
    x.n = 0;
    state_checks_foreach(s, chk_names_cb, &x);
    assert_int_equal(x.n, 3);

    /* A node-level check change touches every service on the node. */
    state_set_change_cb(s, recorder_cb, &r);
    assert_int_equal(set_status(s, 4, "n1", "serfHealth", "passing", "ok", NULL), 0);
    assert_int_equal(recorded(&r, STATE_T_SERVICES, "web"), 1);
    assert_int_equal(recorded(&r, STATE_T_SERVICES, "db"), 1);
    assert_int_equal(recorded(&r, STATE_T_CHECKS, "n1"), 1);
    assert_int_equal(recorded(&r, STATE_T_NODES, "n1"), 1);
    assert_int_equal(state_service_index(s, "web"), 4);
    assert_int_equal(state_service_index(s, "db"), 4);
    c = state_check_get(s, "n1", "serfHealth");
    assert_string_equal(c->output, "ok");
    assert_int_equal(c->modify_index, 4);
    assert_int_equal(c->create_index, 2);

    /* A service check only touches its own service. */
    r.n = 0;
    assert_int_equal(set_status(s, 5, "n1", "svc:db1", "critical", "", NULL), 0);
    assert_int_equal(recorded(&r, STATE_T_SERVICES, "db"), 1);
    assert_int_equal(recorded(&r, STATE_T_SERVICES, "web"), 0);
    assert_int_equal(state_service_index(s, "web"), 4);

    /* Unchanged status: nothing. Unknown check: CN_ENOTFOUND. Bad status. */
    r.n = 0;
    assert_int_equal(set_status(s, 6, "n1", "svc:db1", "critical", "", NULL), 0);
    assert_int_equal(r.n, 0);
    assert_int_equal(state_check_get(s, "n1", "svc:db1")->modify_index, 5);
    assert_int_equal(set_status(s, 7, "n1", "nope", "passing", "", NULL), CN_ENOTFOUND);
    assert_int_equal(set_status(s, 8, "n1", "svc:db1", "maintenance", "", NULL), CN_EINVAL);
    assert_int_equal(state_last_index(s), 8);
    assert_int_equal(r.n, 0);

    /* A check naming a service not on the node is invalid; all-or-nothing. */
    struct cn_buf before;
    snap(s, &before);
    reg_init(&f, "n1", "10.0.0.1");
    reg_check(&f, "good", "", "passing");
    reg_check(&f, "bad", "nosuch", "passing");
    struct state_result res;
    state_result_init(&res);
    assert_int_equal(reg_apply(s, 9, &f, &res), CN_EINVAL);
    assert_int_equal(res.nerrors, 1);
    assert_string_equal(res.errors[0].what,
                        "failed inserting check on node \"n1\": Missing service registration");
    assert_null(state_check_get(s, "n1", "good"));
    state_result_free(&res);
    cn_buf_free(&before);
    state_set_change_cb(s, NULL, NULL);
}

static void test_deregister(void **st)
{
    struct state *s = *st;
    struct recorder r = {.n = 0};
    struct reg_fixture f;
    reg_init(&f, "n1", "10.0.0.1");
    reg_service(&f, "web1", "web", 80);
    reg_check(&f, "c-web", "web1", "passing");
    reg_check(&f, "c-node", "", "passing");
    assert_int_equal(reg_apply(s, 2, &f, NULL), 0);
    reg_init(&f, "n1", "10.0.0.1");
    reg_service(&f, "db1", "db", 1);
    reg_check(&f, "c-db", "db1", "passing");
    assert_int_equal(reg_apply(s, 3, &f, NULL), 0);
    reg_init(&f, "n2", "10.0.0.2");
    reg_service(&f, "web2", "web", 80);
    assert_int_equal(reg_apply(s, 4, &f, NULL), 0);
    state_set_change_cb(s, recorder_cb, &r);

    struct state_result res;
    state_result_init(&res);
    /* Check only. */
    assert_int_equal(dereg(s, 5, "n1", NULL, "c-db", &res), 0);
    assert_true(res.ok);
    assert_null(state_check_get(s, "n1", "c-db"));
    assert_int_equal(state_table_index(s, STATE_T_CHECKS), 5);
    assert_int_equal(state_service_index(s, "db"), 5);
    assert_int_equal(recorded(&r, STATE_T_CHECKS, "n1"), 1);

    /* Service: its checks go too. */
    r.n = 0;
    assert_int_equal(dereg(s, 6, "n1", "web1", NULL, &res), 0);
    assert_null(state_service_get(s, "n1", "web1"));
    assert_null(state_check_get(s, "n1", "c-web"));
    assert_non_null(state_check_get(s, "n1", "c-node"));
    assert_int_equal(state_service_index(s, "web"), 6);
    assert_int_equal(state_table_index(s, STATE_T_SERVICES), 6);
    assert_int_equal(state_table_index(s, STATE_T_CHECKS), 6);
    assert_int_equal(recorded(&r, STATE_T_SERVICES, "web"), 2); /* check + instance */

    /* Unknown items: successful no-ops (Consul), ok=false says none found. */
    r.n = 0;
    assert_int_equal(dereg(s, 7, "n1", "nosuch", NULL, &res), 0);
    assert_false(res.ok);
    assert_int_equal(dereg(s, 8, "ghost", NULL, NULL, &res), 0);
    assert_false(res.ok);
    assert_int_equal(r.n, 0);
    assert_int_equal(state_table_index(s, STATE_T_NODES), 4);

    /* Node: everything on it. Indexes survive the deletion. */
    assert_int_equal(dereg(s, 9, "n1", NULL, NULL, &res), 0);
    assert_true(res.ok);
    assert_null(state_node_get(s, "n1"));
    assert_null(state_service_get(s, "n1", "db1"));
    assert_null(state_check_get(s, "n1", "c-node"));
    assert_int_equal(state_node_index(s, "n1"), 9);
    assert_int_equal(state_service_index(s, "db"), 9);
    assert_int_equal(state_table_index(s, STATE_T_NODES), 9);
    assert_int_equal(recorded(&r, STATE_T_NODES, "n1") > 0, 1);
    assert_int_equal(recorded(&r, STATE_T_SERVICES, "db") > 0, 1);
    struct names x = {.n = 0};
    state_service_instances(s, "db", svc_names_cb, &x);
    assert_int_equal(x.n, 0);
    state_service_instances(s, "web", svc_names_cb, &x);
    assert_int_equal(x.n, 1);
    assert_string_equal(x.v[0], "n2/web2");
    assert_int_equal(state_service_index(s, "web"), 6);
    state_result_free(&res);
    state_set_change_cb(s, NULL, NULL);
}

/* Consul lower-cases its name indexes (catalog_schema.go Lowercase: true):
 * service names and node lookups match ignoring ASCII case; each record
 * keeps the spelling it was registered with. */
static void test_names_ignore_case(void **st)
{
    struct state *s = *st;
    struct reg_fixture f;
    reg_init(&f, "DB-1", "10.0.0.1");
    reg_service(&f, "pg-1", "Postgres", 5432);
    assert_int_equal(reg_apply(s, 3, &f, NULL), 0);
    reg_init(&f, "db-2", "10.0.0.2");
    reg_service(&f, "pg-2", "postgres", 5433);
    assert_int_equal(reg_apply(s, 4, &f, NULL), 0);
    struct names x = {.n = 0};
    state_service_instances(s, "POSTGRES", svc_names_cb, &x);
    assert_int_equal(x.n, 2);
    assert_string_equal(x.v[0], "DB-1/pg-1");
    assert_string_equal(x.v[1], "db-2/pg-2");
    assert_string_equal(state_service_get(s, "DB-1", "pg-1")->service, "Postgres");
    assert_int_equal(state_service_index(s, "pOsTgReS"), 4);
    /* lookups: exact first, then ignoring case; writes stay exact */
    assert_null(state_node_get(s, "db-1"));
    assert_string_equal(state_node_lookup(s, "db-1")->name, "DB-1");
    assert_string_equal(state_node_lookup(s, "DB-2")->name, "db-2");
    assert_null(state_node_lookup(s, "db-3"));
    assert_int_equal(state_node_index(s, "db-1"), 3);
    /* deregistering the last instance of one spelling keeps the other */
    struct cn_buf cmd = CN_BUF_INIT;
    assert_int_equal(state_cmd_deregister(&cmd, "db-2", "pg-2", NULL), 0);
    struct state_result res;
    state_result_init(&res);
    assert_int_equal(state_apply(s, 5, cmd.p, cmd.len, &res), 0);
    state_result_free(&res);
    cn_buf_free(&cmd);
    x.n = 0;
    state_service_instances(s, "postgres", svc_names_cb, &x);
    assert_int_equal(x.n, 1);
    assert_int_equal(state_service_index(s, "Postgres"), 5);
}

static int count_nodes_cb(void *arg, const struct state_node *n)
{
    (void)n;
    (*(int *)arg)++;
    return 0;
}

/* Writes name nodes ignoring ASCII case too (Consul's node index is
 * lower-cased on write): register, check status, deregister, sessions and
 * catalog txn ops naming "NODE-A" reach "node-a", and the stored spelling
 * stays the first one. */
static void test_writes_match_node_case(void **st)
{
    struct state *s = *st;
    struct reg_fixture f;
    reg_init(&f, "node-a", "10.0.0.1");
    assert_int_equal(reg_apply(s, 3, &f, NULL), 0);
    reg_init(&f, "Node-A", "10.0.0.2");
    reg_service(&f, "web1", "web", 80);
    reg_check(&f, "web-c", "web1", "passing");
    assert_int_equal(reg_apply(s, 4, &f, NULL), 0);
    int n = 0;
    state_nodes_foreach(s, count_nodes_cb, &n);
    assert_int_equal(n, 1);
    assert_null(state_node_get(s, "Node-A"));
    const struct state_node *node = state_node_get(s, "node-a");
    assert_non_null(node);
    assert_string_equal(node->address, "10.0.0.2");
    assert_int_equal(node->create_index, 3);
    assert_non_null(state_service_get(s, "node-a", "web1"));
    assert_non_null(state_check_get(s, "node-a", "web-c"));
    /* check status by another spelling */
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(state_cmd_check_status(&b, "NODE-A", "web-c", "critical", "down"), 0);
    assert_int_equal(apply_buf(s, 5, &b, NULL), 0);
    assert_string_equal(state_check_get(s, "node-a", "web-c")->status, "critical");
    /* a session on "NODE-a" belongs to node-a */
    struct state_session v;
    memset(&v, 0, sizeof(v));
    v.id = (char *)"11111111-0000-0000-0000-000000000001";
    v.name = v.ttl = (char *)"";
    v.node = (char *)"NODE-a";
    v.behavior = (char *)"release";
    assert_int_equal(state_cmd_session_create(&b, &v), 0);
    assert_int_equal(apply_buf(s, 6, &b, NULL), 0);
    assert_string_equal(state_session_get(s, v.id)->node, "node-a");
    /* a catalog txn node set by another spelling updates the node */
    struct state_cat_op op;
    memset(&op, 0, sizeof(op));
    op.kind = STATE_CAT_NODE;
    op.verb = STATE_CAT_SET;
    op.node.name = (char *)"NoDe-A";
    op.node.address = (char *)"10.0.0.3";
    assert_int_equal(state_cmd_cat_txn(&b, &op, 1), 0);
    assert_int_equal(apply_buf(s, 7, &b, NULL), 0);
    n = 0;
    state_nodes_foreach(s, count_nodes_cb, &n);
    assert_int_equal(n, 1);
    assert_string_equal(state_node_get(s, "node-a")->address, "10.0.0.3");
    /* deregistering the service, then the node, by other spellings */
    assert_int_equal(dereg(s, 8, "NODE-A", "web1", NULL, NULL), 0);
    assert_null(state_service_get(s, "node-a", "web1"));
    assert_int_equal(dereg(s, 9, "Node-a", NULL, NULL, NULL), 0);
    assert_null(state_node_get(s, "node-a"));
    assert_null(state_session_get(s, v.id));
    /* once gone, a new registration takes its own spelling */
    reg_init(&f, "NODE-A", "10.0.0.4");
    assert_int_equal(reg_apply(s, 10, &f, NULL), 0);
    assert_non_null(state_node_get(s, "NODE-A"));
}

/* A service instance with 3 tags, 2 meta pairs and a TTL check: its
 * service and check records are one allocation each (pack.c), every string
 * and array inside it, and read back whole. */
static void test_instance_mem(void **st)
{
    struct state *s = *st;
    char id[32], cid[40];
    char *tags[] = {"primary", "v1", "zone-a"};
    struct state_pair meta[] = {{"team", "core"}, {"version", "1.0"}};
    size_t m0 = 0;
    enum { N = 1000 };
    for (int i = 0; i < N; i++) {
        if (i == 1)
            m0 = state_mem_bytes(s); /* node and name rows exist from here */
        struct reg_fixture f;
        reg_init(&f, "n1", "10.0.0.1");
        snprintf(id, sizeof(id), "inst-%06d", i);
        snprintf(cid, sizeof(cid), "inst-%06d-ttl", i);
        reg_service(&f, id, "web", 1000 + i);
        f.svc.tags = tags;
        f.svc.ntags = 3;
        f.svc.meta.items = meta;
        f.svc.meta.n = 2;
        f.svc.address = "10.3.0.1";
        struct state_check *c = reg_check(&f, cid, id, "critical");
        c->type = STATE_CHECK_TTL;
        c->ttl_ns = 30 * INT64_C(1000000000);
        assert_int_equal(reg_apply(s, (uint64_t)i + 1, &f, NULL), 0);
    }
    const struct state_service *v = state_service_get(s, "n1", "inst-000007");
    assert_non_null(v);
    assert_string_equal(v->service, "web");
    assert_string_equal(v->address, "10.3.0.1");
    assert_int_equal(v->ntags, 3);
    assert_string_equal(v->tags[2], "zone-a");
    assert_int_equal(v->meta.n, 2);
    assert_string_equal(v->meta.items[1].k, "version");
    assert_string_equal(v->meta.items[1].v, "1.0");
    assert_string_equal(v->kind, "");
    assert_string_equal(v->proxy.config, "");
    size_t svc_sz = sizeof(struct svc_rec) + state_service_pack(NULL, v, NULL);
    const char *lo = (const char *)v, *hi = lo + svc_sz;
    const char *in[] = {v->node,           v->id,
                        v->service,        v->kind,
                        v->address,        (const char *)v->tags,
                        v->tags[0],        (const char *)v->meta.items,
                        v->meta.items[0].v};
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++)
        assert_true(in[i] > lo && in[i] < hi); /* inside the one allocation */
    const struct state_check *c = state_check_get(s, "n1", "inst-000007-ttl");
    assert_non_null(c);
    assert_string_equal(c->service_id, "inst-000007");
    assert_string_equal(c->type, "ttl");
    assert_int_equal(c->ttl_ns, 30 * INT64_C(1000000000));
    assert_null(c->grpc); /* agent-only fields stay NULL */
    size_t chk_sz = sizeof(struct chk_rec) + state_check_pack(NULL, c, NULL);
    size_t per = (state_mem_bytes(s) - m0) / (N - 1);
    printf("state bytes per instance (3 tags, 2 meta pairs, a TTL check): %zu"
           " (service %zu, check %zu)\n",
           per, state__chunk(svc_sz), state__chunk(chk_sz));
    assert_int_equal(state_mem_bytes(s) - m0,
                     (N - 1) * (state__chunk(svc_sz) + state__chunk(chk_sz)));
    /* a snapshot restores the same records and the same bytes */
    struct cn_buf a;
    snap(s, &a);
    struct state *t = state_new();
    char err[160];
    assert_int_equal(state_snapshot_restore(t, a.p, a.len, err, sizeof(err)), 0);
    assert_same_snap(&a, t);
    assert_int_equal(state_mem_bytes(t), state_mem_bytes(s));
    cn_buf_free(&a);
    state_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_instance_mem, setup, teardown),
        cmocka_unit_test_setup_teardown(test_node_register, setup, teardown),
        cmocka_unit_test_setup_teardown(test_service_register, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deregister, setup, teardown),
        cmocka_unit_test_setup_teardown(test_names_ignore_case, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writes_match_node_case, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
