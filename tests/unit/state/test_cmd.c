/* Commands: encoder validation, malformed bytes, and out-of-memory at every
 * allocation of every command type leaving the state byte-identical. */
#include "helpers.h"

#include "base/crc.h"
#include "base/enc.h"
#include "state/state_int.h" /* state__enc_check: to build old-format bytes */

struct cmd {
    const char *name;
    struct cn_buf b;
    int want; /* rc once allocation succeeds */
};

static void add_txn(struct cmd *c, const char *name, const struct state_kv_op *ops, size_t n,
                    int want)
{
    c->name = name;
    cn_buf_init(&c->b);
    assert_int_equal(state_cmd_kv_txn(&c->b, ops, n), 0);
    c->want = want;
}

/* Commands meant for a populate()d state. */
static size_t build_cmds(struct cmd *v)
{
    size_t n = 0;
    struct state_kv_op ok_ops[] = {
        kvop(STATE_KV_SET, "new", "value", 0),      kvop(STATE_KV_SET, "a", "changed", 0),
        kvop(STATE_KV_GET_TREE, "", NULL, 0),       kvop(STATE_KV_DELETE, "a/b", NULL, 0),
        kvop(STATE_KV_CAS, "new", "v2", 12),        kvop(STATE_KV_DELETE_TREE, "a", NULL, 0),
        kvop(STATE_KV_GET_OR_EMPTY, "zz", NULL, 0), kvop(STATE_KV_SET, "gone/x", "back", 0),
    };
    add_txn(&v[n++], "txn", ok_ops, 8, 0);
    struct state_kv_op bad_ops[] = {
        kvop(STATE_KV_SET, "new", "value", 0),
        kvop(STATE_KV_DELETE_TREE, "", NULL, 0),
        kvop(STATE_KV_GET, "a", NULL, 0),
    };
    add_txn(&v[n++], "txn-conflict", bad_ops, 3, CN_ECONFLICT);

    struct reg_fixture f;
    reg_init(&f, "n9", "10.0.0.9");
    struct state_pair meta[] = {{"k", "v"}};
    f.r.node.meta.items = meta;
    f.r.node.meta.n = 1;
    reg_service(&f, "api1", "api", 9000);
    char *tags[] = {"t"};
    f.svc.tags = tags;
    f.svc.ntags = 1;
    reg_check(&f, "node-ok", "", "passing");
    reg_check(&f, "api-ok", "api1", "warning");
    v[n].name = "register-new";
    cn_buf_init(&v[n].b);
    assert_int_equal(state_cmd_register(&v[n].b, &f.r), 0);
    v[n++].want = 0;

    reg_init(&f, "n1", "10.1.1.1"); /* node change + service rename + node check */
    reg_service(&f, "web1", "renamed", 8080);
    reg_check(&f, "serfHealth", "", "critical");
    v[n].name = "register-update";
    cn_buf_init(&v[n].b);
    assert_int_equal(state_cmd_register(&v[n].b, &f.r), 0);
    v[n++].want = 0;

    reg_init(&f, "n2", "10.0.0.2");
    reg_check(&f, "bad", "nosuch", "passing");
    v[n].name = "register-invalid";
    cn_buf_init(&v[n].b);
    assert_int_equal(state_cmd_register(&v[n].b, &f.r), 0);
    v[n++].want = CN_EINVAL;

    const char *dr[][3] = {{"n1", NULL, NULL}, {"n2", "web2", NULL}, {"n1", NULL, "serfHealth"}};
    for (int i = 0; i < 3; i++) {
        v[n].name = "deregister";
        cn_buf_init(&v[n].b);
        assert_int_equal(state_cmd_deregister(&v[n].b, dr[i][0], dr[i][1], dr[i][2]), 0);
        v[n++].want = 0;
    }
    v[n].name = "check-status";
    cn_buf_init(&v[n].b);
    assert_int_equal(state_cmd_check_status(&v[n].b, "n1", "serfHealth", "critical", "down"), 0);
    v[n++].want = 0;
    v[n].name = "check-status-missing";
    cn_buf_init(&v[n].b);
    assert_int_equal(state_cmd_check_status(&v[n].b, "n1", "zz", "critical", "down"), 0);
    v[n++].want = CN_ENOTFOUND;
    v[n].name = "reap";
    cn_buf_init(&v[n].b);
    assert_int_equal(state_cmd_kv_reap(&v[n].b, 100), 0);
    v[n++].want = 0;
    v[n].name = "noop";
    cn_buf_init(&v[n].b);
    assert_int_equal(state_cmd_noop(&v[n].b), 0);
    v[n++].want = 0;
    return n;
}

static void free_cmds(struct cmd *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cn_buf_free(&v[i].b);
}

static void test_oom_every_command(void **st)
{
    (void)st;
    struct cmd v[16];
    size_t nc = build_cmds(v);
    for (size_t i = 0; i < nc; i++) {
        struct state *s = state_new();
        populate(s);
        struct recorder r = {.n = 0};
        state_set_change_cb(s, recorder_cb, &r);
        struct cn_buf before;
        snap(s, &before);
        struct state_result res;
        state_result_init(&res);
        int rc = CN_ENOMEM;
        long n;
        for (n = 0; rc == CN_ENOMEM; n++) {
            cn_mem_fail_after(n);
            rc = state_apply(s, 12, v[i].b.p, v[i].b.len, &res);
            cn_mem_fail_after(-1);
            if (rc == CN_ENOMEM) {
                assert_same_snap(&before, s);
                assert_int_equal(r.n, 0);
                assert_int_equal(res.rc, CN_ENOMEM);
                assert_int_equal(res.nresults, 0);
                assert_int_equal(state_last_index(s), 11);
            }
        }
        if (rc != v[i].want)
            fail_msg("%s: rc %d, want %d", v[i].name, rc, v[i].want);
        assert_int_equal(res.rc, v[i].want);
        assert_int_equal(state_last_index(s), 12);
        if (v[i].want != 0) {
            assert_same_but_index(&before, s);
            assert_int_equal(r.n, 0);
        } else if (strcmp(v[i].name, "noop") != 0) {
            assert_true(n > 1); /* some allocation was exercised */
        }
        state_result_free(&res);
        cn_buf_free(&before);
        state_free(s);
    }
    free_cmds(v, nc);
}

static void test_malformed(void **st)
{
    (void)st;
    struct cmd v[16];
    size_t nc = build_cmds(v);
    struct state *s = state_new();
    populate(s);
    struct cn_buf before;
    snap(s, &before);
    struct state_result res;
    state_result_init(&res);
    for (size_t i = 0; i < nc; i++) {
        const struct cn_buf *b = &v[i].b;
        assert_true(state_cmd_type(b->p, b->len) >= 0);
        for (size_t len = 0; len < b->len; len++) {
            int rc = state_apply(s, 12, b->p, len, &res);
            if (rc != CN_ECORRUPT)
                fail_msg("%s truncated to %zu: rc %d", v[i].name, len, rc);
            assert_int_equal(res.rc, CN_ECORRUPT);
        }
        /* One byte too many, a wrong version, an unknown type. */
        struct cn_buf x = CN_BUF_INIT;
        assert_int_equal(cn_buf_append(&x, b->p, b->len), 0);
        assert_int_equal(cn_buf_putc(&x, 0), 0);
        assert_int_equal(state_apply(s, 12, x.p, x.len, NULL), CN_ECORRUPT);
        x.len--;
        char ver = x.p[1];
        x.p[1] = 5;
        assert_int_equal(state_apply(s, 12, x.p, x.len, NULL), CN_ECORRUPT);
        x.p[1] = 0;
        assert_int_equal(state_apply(s, 12, x.p, x.len, NULL), CN_ECORRUPT);
        x.p[1] = ver;
        x.p[0] = 77;
        assert_int_equal(state_apply(s, 12, x.p, x.len, NULL), CN_ECORRUPT);
        cn_buf_free(&x);
    }
    assert_same_snap(&before, s);
    assert_int_equal(state_cmd_type(NULL, 0), -1);
    assert_int_equal(state_cmd_type("\x63", 1), -1);
    state_result_free(&res);
    cn_buf_free(&before);
    free_cmds(v, nc);
    state_free(s);
}

static void test_encoder_validation(void **st)
{
    (void)st;
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(cn_buf_puts(&b, "keep"), 0);
    struct state_kv_op ops[STATE_TXN_MAX_OPS + 1];
    for (int i = 0; i <= STATE_TXN_MAX_OPS; i++)
        ops[i] = kvop(STATE_KV_GET, "k", NULL, 0);
    assert_int_equal(state_cmd_kv_txn(&b, ops, 0), CN_EINVAL);
    assert_int_equal(state_cmd_kv_txn(&b, ops, STATE_TXN_MAX_OPS + 1), CN_EINVAL);
    assert_int_equal(state_cmd_kv_txn(&b, ops, STATE_TXN_MAX_OPS), 0);
    b.len = 4;
    ops[1].key = NULL;
    assert_int_equal(state_cmd_kv_txn(&b, ops, 2), CN_EINVAL);
    ops[1] = kvop(STATE_KV__COUNT, "k", NULL, 0);
    assert_int_equal(state_cmd_kv_txn(&b, ops, 2), CN_EINVAL);
    ops[1] = kvop(STATE_KV_SET, "k", NULL, 0);
    ops[1].value_len = 3; /* no value pointer */
    assert_int_equal(state_cmd_kv_txn(&b, ops, 2), CN_EINVAL);
    assert_int_equal(b.len, 4); /* failed encoders leave the buffer alone */

    struct reg_fixture f;
    reg_init(&f, "n", "1.1.1.1");
    struct state_pair dup[] = {{"a", "1"}, {"a", "2"}};
    f.r.node.meta.items = dup;
    f.r.node.meta.n = 2;
    assert_int_equal(state_cmd_register(&b, &f.r), CN_EINVAL);
    assert_int_equal(state_cmd_deregister(&b, NULL, NULL, NULL), CN_EINVAL);
    assert_int_equal(state_cmd_check_status(&b, "n", NULL, "passing", ""), CN_EINVAL);
    assert_int_equal(b.len, 4);

    cn_mem_fail_after(0);
    struct cn_buf e = CN_BUF_INIT;
    assert_int_equal(state_cmd_noop(&e), CN_ENOMEM);
    cn_mem_fail_after(-1);
    cn_buf_free(&e);
    cn_buf_free(&b);

    /* An apply at a non-increasing index is refused without a change. */
    struct state *s = state_new();
    assert_int_equal(state_apply(s, 0, "\x00\x01", 2, NULL), CN_EINVAL);
    assert_int_equal(state_apply(s, 1, "\x00\x01", 2, NULL), 0);
    assert_int_equal(state_apply(s, 1, "\x00\x01", 2, NULL), CN_EINVAL);
    assert_int_equal(state_last_index(s), 1);
    state_free(s);
}

/* Command version 2 carries a check's agent-only definition (counting
 * thresholds, TLSServerName, UDP, GRPC/GRPCUseTLS, script args, alias
 * targets); a version 1 command, as earlier versions wrote to the log, is
 * still applied, with none of them. The v1 bytes are built here: a v2
 * register whose only check has an empty definition, its 42 trailing
 * definition bytes cut (3 u32 counters, 3 empty strings, a bool, 2 empty
 * strings, an empty list, an empty string, a bool) and its version byte set to 1. */
static int count_cb(void *arg, const struct state_service *v)
{
    (void)v;
    ++*(int *)arg;
    return 0;
}

/* f: the sidecar proxy web1-sidecar-proxy of web on n1, with ups. */
static void proxy_fixture(struct reg_fixture *f, struct state_upstream *ups, size_t nups)
{
    reg_init(f, "n1", "10.0.0.1");
    reg_service(f, "web1-sidecar-proxy", "web-sidecar-proxy", 21000);
    f->svc.kind = STATE_KIND_CONNECT_PROXY;
    f->svc.proxy.dest_name = "web";
    f->svc.proxy.dest_id = "web1";
    f->svc.proxy.local_address = "127.0.0.1";
    f->svc.proxy.local_port = 8080;
    f->svc.proxy.config = "{\"protocol\":\"tcp\",\"n\":[1,2]}";
    f->svc.proxy.ups = ups;
    f->svc.proxy.nups = nups;
}

/* Version 3 carries a service's Connect fields; a version-2 register (no such
 * bytes) still applies, with none. A proxy's changes move its destination's
 * index, and state_connect_instances finds it and native instances. */
static void test_service_mesh_versions(void **st)
{
    (void)st;
    struct state *s = state_new();
    struct reg_fixture f;
    struct state_upstream ups[] = {
        {"", "db", "", "127.0.0.1", 9191, "{\"connect_timeout_ms\":500}"},
        {"service", "cache", "dc1", "", 9192, ""}};
    proxy_fixture(&f, ups, 2);
    assert_int_equal(reg_apply(s, 1, &f, NULL), 0);
    const struct state_service *got = state_service_get(s, "n1", "web1-sidecar-proxy");
    assert_non_null(got);
    assert_string_equal(got->kind, "connect-proxy");
    assert_string_equal(got->proxy.dest_name, "web");
    assert_string_equal(got->proxy.dest_id, "web1");
    assert_int_equal(got->proxy.local_port, 8080);
    assert_string_equal(got->proxy.config, "{\"protocol\":\"tcp\",\"n\":[1,2]}");
    assert_int_equal(got->proxy.nups, 2);
    assert_string_equal(got->proxy.ups[1].dest_type, "service");
    assert_string_equal(got->proxy.ups[1].datacenter, "dc1");
    assert_int_equal(got->proxy.ups[0].local_bind_port, 9191);
    assert_string_equal(got->proxy.ups[0].config, "{\"connect_timeout_ms\":500}");
    assert_string_equal(got->proxy.ups[1].config, "");
    /* the destination's index moved with its proxy (blocking queries on
     * /v1/health/connect/web wake) */
    assert_int_equal(state_service_index(s, "web"), 1);
    int n = 0;
    state_connect_instances(s, "web", count_cb, &n);
    assert_int_equal(n, 1);
    /* an identical registration changes nothing; another upstream port does */
    assert_int_equal(reg_apply(s, 2, &f, NULL), 0);
    assert_int_equal(state_service_get(s, "n1", "web1-sidecar-proxy")->modify_index, 1);
    ups[0].local_bind_port = 9193;
    assert_int_equal(reg_apply(s, 3, &f, NULL), 0);
    assert_int_equal(state_service_get(s, "n1", "web1-sidecar-proxy")->modify_index, 3);
    assert_int_equal(state_service_index(s, "web"), 3);
    /* a Connect-native instance of web counts; a typical one does not */
    reg_init(&f, "n1", "10.0.0.1");
    reg_service(&f, "web-native", "web", 8443);
    f.svc.connect_native = true;
    assert_int_equal(reg_apply(s, 4, &f, NULL), 0);
    reg_init(&f, "n1", "10.0.0.1");
    reg_service(&f, "web-plain", "web", 80);
    assert_int_equal(reg_apply(s, 5, &f, NULL), 0);
    n = 0;
    state_connect_instances(s, "web", count_cb, &n);
    assert_int_equal(n, 2);

    /* version 2: the same record without the Connect bytes */
    reg_init(&f, "n1", "10.0.0.1");
    reg_service(&f, "old", "old", 1);
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(state_cmd_register(&b, &f.r), 0);
    assert_int_equal((uint8_t)b.p[1], 4);
    /* native u8, three empty strings, port u32, empty config, 0 upstreams */
    size_t mesh = 1 + 3 * 4 + 4 + 4 + 4;
    size_t tail = 4; /* the check count after the service */
    memmove(b.p + b.len - tail - mesh, b.p + b.len - tail, tail);
    b.len -= mesh;
    b.p[1] = 2;
    assert_int_equal(state_apply(s, 6, b.p, b.len, NULL), 0);
    got = state_service_get(s, "n1", "old");
    assert_non_null(got);
    assert_false(got->connect_native);
    assert_string_equal(got->proxy.dest_name, "");
    assert_int_equal(got->proxy.nups, 0);
    /* the same bytes at version 3 are short */
    b.p[1] = 3;
    assert_int_equal(state_apply(s, 7, b.p, b.len, NULL), CN_ECORRUPT);
    cn_buf_free(&b);

    /* another upstream Config is a change */
    proxy_fixture(&f, ups, 2);
    ups[1].config = "{\"protocol\":\"http\"}";
    assert_int_equal(reg_apply(s, 20, &f, NULL), 0);
    assert_int_equal(state_service_get(s, "n1", "web1-sidecar-proxy")->modify_index, 20);
    ups[1].config = "";
    assert_int_equal(reg_apply(s, 21, &f, NULL), 0);
    assert_int_equal(state_service_get(s, "n1", "web1-sidecar-proxy")->modify_index, 21);

    /* version 3: an upstream without its Config bytes applies with none */
    {
        struct reg_fixture g;
        reg_init(&g, "n3", "10.0.0.3");
        reg_service(&g, "v3-proxy", "v3-proxy", 21001);
        g.svc.kind = STATE_KIND_CONNECT_PROXY;
        g.svc.proxy.dest_name = "web";
        struct state_upstream one[] = {{"", "db", "", "", 9300, ""}};
        g.svc.proxy.ups = one;
        g.svc.proxy.nups = 1;
        struct cn_buf v = CN_BUF_INIT;
        assert_int_equal(state_cmd_register(&v, &g.r), 0);
        assert_int_equal((uint8_t)v.p[1], 4);
        size_t cnt = 4, cfg = 4; /* the check count; the empty Config string */
        memmove(v.p + v.len - cnt - cfg, v.p + v.len - cnt, cnt);
        v.len -= cfg;
        v.p[1] = 3;
        assert_int_equal(state_apply(s, 22, v.p, v.len, NULL), 0);
        const struct state_service *o = state_service_get(s, "n3", "v3-proxy");
        assert_non_null(o);
        assert_int_equal(o->proxy.nups, 1);
        assert_int_equal(o->proxy.ups[0].local_bind_port, 9300);
        assert_true(!o->proxy.ups[0].config || !*o->proxy.ups[0].config);
        /* the same bytes at version 4 are short */
        v.p[1] = 4;
        assert_int_equal(state_apply(s, 23, v.p, v.len, NULL), CN_ECORRUPT);
        cn_buf_free(&v);
    }

    /* the snapshot carries all of it */
    struct cn_buf a;
    snap(s, &a);
    assert_int_equal(((uint8_t *)a.p)[4], 7);
    struct state *t = state_new();
    char err[160];
    assert_int_equal(state_snapshot_restore(t, a.p, a.len, err, sizeof(err)), 0);
    assert_same_snap(&a, t);
    got = state_service_get(t, "n1", "web1-sidecar-proxy");
    assert_non_null(got);
    assert_int_equal(got->proxy.ups[0].local_bind_port, 9193);
    assert_string_equal(got->proxy.ups[0].config, "{\"connect_timeout_ms\":500}");
    assert_true(state_service_get(t, "n1", "web-native")->connect_native);
    cn_buf_free(&a);
    state_free(t);
    state_free(s);
}

static void test_check_definition_versions(void **st)
{
    (void)st;
    struct state *s = state_new();
    struct reg_fixture f;
    reg_init(&f, "n1", "10.0.0.1");
    struct state_check *c = reg_check(&f, "scr", "", "passing");
    c->type = "script";
    c->interval_ns = 10000000000LL;
    char *args[] = {"/bin/check", "--fast", "a b"};
    c->args = args;
    c->nargs = 3;
    c->success_before_passing = 2;
    c->failures_before_warning = 1;
    c->failures_before_critical = 3;
    c->tls_server_name = "svc.test";
    c->grpc_use_tls = true;
    c->alias_node = "n9";
    c->h2ping = "10.0.0.1:443";
    c->h2ping_use_tls = true;
    assert_int_equal(reg_apply(s, 1, &f, NULL), 0);
    const struct state_check *got = state_check_get(s, "n1", "scr");
    assert_non_null(got);
    assert_int_equal(got->nargs, 3);
    assert_string_equal(got->args[2], "a b");
    assert_int_equal(got->success_before_passing, 2);
    assert_int_equal(got->failures_before_warning, 1);
    assert_int_equal(got->failures_before_critical, 3);
    assert_string_equal(got->tls_server_name, "svc.test");
    assert_true(got->grpc_use_tls);
    assert_string_equal(got->alias_node, "n9");
    assert_string_equal(got->h2ping, "10.0.0.1:443");
    assert_true(got->h2ping_use_tls);
    /* a changed definition alone is a change (re-registration writes it) */
    uint64_t mi = got->modify_index;
    c->failures_before_critical = 4;
    assert_int_equal(reg_apply(s, 2, &f, NULL), 0);
    got = state_check_get(s, "n1", "scr");
    assert_int_equal(got->failures_before_critical, 4);
    assert_int_equal(got->modify_index, 2);
    assert_true(mi < got->modify_index);

    /* version 1 */
    reg_init(&f, "n1", "10.0.0.1");
    c = reg_check(&f, "old", "", "warning");
    c->type = "ttl";
    c->ttl_ns = 30000000000LL;
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(state_cmd_register(&b, &f.r), 0);
    assert_int_equal((uint8_t)b.p[1], 4);
    b.p[1] = 1;
    assert_int_equal(state_apply(s, 3, b.p, b.len, NULL), CN_ECORRUPT); /* 42 bytes extra */
    b.len -= 42;
    assert_int_equal(state_apply(s, 3, b.p, b.len, NULL), 0);
    got = state_check_get(s, "n1", "old");
    assert_non_null(got);
    assert_string_equal(got->status, "warning");
    assert_int_equal(got->ttl_ns, 30000000000LL);
    assert_int_equal(got->nargs, 0);
    assert_null(got->tls_server_name);
    assert_int_equal(got->failures_before_critical, 0);
    /* the script check registered with v2 is untouched by it */
    assert_int_equal(state_check_get(s, "n1", "scr")->nargs, 3);

    /* and a snapshot (version 7) keeps the definition */
    struct cn_buf a;
    snap(s, &a);
    assert_int_equal(a.p[4], 7);
    struct state *t = state_new();
    char err[160];
    assert_int_equal(state_snapshot_restore(t, a.p, a.len, err, sizeof(err)), 0);
    assert_same_snap(&a, t);
    got = state_check_get(t, "n1", "scr");
    assert_int_equal(got->nargs, 3);
    assert_string_equal(got->args[1], "--fast");
    assert_int_equal(got->failures_before_critical, 4);
    assert_int_equal(state_mem_bytes(t), state_mem_bytes(s));
    cn_buf_free(&a);
    state_free(t);

    /* A version 2 snapshot (checks without the definition, no queries) restores: built
     * from a version 3 one of a state whose only check has an empty
     * definition, those 42 bytes cut out of the check's encoding. */
    struct state *u = state_new();
    assert_int_equal(state_apply(u, 3, b.p, b.len, NULL), 0);
    snap(u, &a);
    struct cn_buf e = CN_BUF_INIT;
    assert_int_equal(state__enc_check(&e, state_check_get(u, "n1", "old")), 0);
    char *at = memmem(a.p, a.len, e.p, e.len);
    assert_non_null(at);
    size_t cut = (size_t)(at - a.p) + e.len - 42;
    memmove(a.p + cut, a.p + cut + 42, a.len - cut - 42);
    a.len -= 42;
    /* and version 2 has no prepared-query or intention table (an index u64
     * and a count u32 0 each), no CA (an index u64, u8 0) and no ACL section
     * (u64, u64, u32 0), coordinates section (u64, u32 0) or config
     * entries section (u64, u32 0): drop them before the CRC */
    memmove(a.p + a.len - 81, a.p + a.len - 4, 4);
    a.len -= 77;
    a.p[4] = 2;
    cn_put_u32((uint8_t *)a.p + a.len - 4, cn_crc32c(0, a.p, a.len - 4));
    t = state_new();
    assert_int_equal(state_snapshot_restore(t, a.p, a.len, err, sizeof(err)), 0);
    got = state_check_get(t, "n1", "old");
    assert_non_null(got);
    assert_string_equal(got->status, "warning");
    assert_int_equal(got->ttl_ns, 30000000000LL);
    assert_int_equal(state_mem_bytes(t), state_mem_bytes(u));
    a.p[4] = 3; /* the same bytes as version 3 are short: refused */
    cn_put_u32((uint8_t *)a.p + a.len - 4, cn_crc32c(0, a.p, a.len - 4));
    assert_int_equal(state_snapshot_restore(t, a.p, a.len, err, sizeof(err)), CN_ECORRUPT);
    cn_buf_free(&e);
    cn_buf_free(&a);
    cn_buf_free(&b);
    state_free(t);
    state_free(u);
    state_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_oom_every_command),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_check_definition_versions),
        cmocka_unit_test(test_service_mesh_versions),
        cmocka_unit_test(test_encoder_validation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
