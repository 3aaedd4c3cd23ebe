/* tests/unit/dns/test_remote.c: a client agent's DNS query resolved by a
 * server (src/dns/remote.c, dns_remote_answer): the answer is byte for byte
 * the one the client's own resolver would give over the same state (same
 * options, same shuffle seed); names for the recursors come back as such;
 * the client's max_stale, node name (a prepared query's "_agent") and the
 * ACL callback are honoured; a malformed request is refused with a reason
 * and nothing answered. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/buf.h"
#include "base/err.h"
#include "base/jsonw.h"
#include "base/mem.h"
#include "dns/dns_int.h"
#include "dns/helpers.h"
#include "state/state.h"

static uint64_t idx = 1;

static void reg(struct state *s, const char *node, const char *addr, const char *id,
                const char *svc, int port)
{
    struct state_register r;
    memset(&r, 0, sizeof(r));
    r.node.name = (char *)node;
    r.node.id = (char *)"";
    r.node.address = (char *)addr;
    struct state_service v;
    memset(&v, 0, sizeof(v));
    v.id = (char *)id;
    v.service = (char *)svc;
    v.kind = (char *)"";
    v.address = (char *)"";
    v.port = port;
    v.weight_passing = 1;
    v.weight_warning = 1;
    r.service = &v;
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(state_cmd_register(&b, &r), 0);
    assert_int_equal(state_apply(s, idx++, b.p, b.len, NULL), 0);
    cn_buf_free(&b);
}

static const struct dns_service_ttl ttls[] = {{"web", 9}};

static struct dns_options opts(void)
{
    return (struct dns_options){.domain = "consul.",
                                .alt_domain = "alt.test",
                                .datacenter = "dc1",
                                .node_name = "c1",
                                .node_addr = "10.9.9.9",
                                .node_ttl = 4,
                                .service_ttl = ttls,
                                .nservice_ttl = 1,
                                .node_meta_txt = true,
                                .soa_refresh = 3600,
                                .soa_retry = 600,
                                .soa_expire = 86400,
                                .soa_min_ttl = 0};
}

static struct state *st;
static char seen_node[64];
static int acl_calls;

static int qexec(void *arg, const struct state *s, const char *agent_node, const char *name,
                 dns_query_visit visit, void *varg)
{
    (void)arg;
    (void)s;
    snprintf(seen_node, sizeof(seen_node), "%s", agent_node);
    if (strcmp(name, "pq") && strcmp(name, "fq"))
        return CN_ENOTFOUND;
    /* "fq": no instance, a Failover */
    struct dns_query_answer a = {"web", "", NULL, 0, name[0] == 'f'};
    visit(varg, &a);
    return 0;
}

static bool acl(void *arg, bool is_node, const char *name)
{
    (void)is_node;
    assert_ptr_equal(arg, &acl_calls);
    acl_calls++;
    return strcmp(name, "secret") != 0;
}

static struct dns_remote_env env(void)
{
    return (struct dns_remote_env){.st = st,
                                   .seed = 42,
                                   .serial = 1700000000,
                                   .query_exec = qexec,
                                   .query_arg = &acl_calls,
                                   .acl_may = acl};
}

/* A request body as the client's dns/remote.c builds it. */
static void body_for(struct cn_buf *b, const struct dns_options *o, const uint8_t *q, size_t n,
                     bool small, unsigned limit)
{
    char *oj = NULL;
    assert_int_equal(dns__remote_opts(o, &oj), 0);
    cn_buf_reset(b);
    assert_int_equal(cn_buf_puts(b, "{\"Query\":\""), 0);
    assert_int_equal(cn_base64_encode(b, q, n), 0);
    assert_int_equal(cn_buf_printf(b, "\",\"SmallUDP\":%s,\"Limit\":%u,\"Options\":%s}",
                                   small ? "true" : "false", limit, oj),
                     0);
    cn_free(oj);
}

static int setup(void **s)
{
    (void)s;
    st = state_new();
    reg(st, "n1", "10.0.0.1", "web1", "web", 8080);
    reg(st, "n2", "10.0.0.2", "web2", "web", 8081);
    reg(st, "n3", "10.0.0.3", "web3", "web", 8082);
    reg(st, "n4", "10.0.0.4", "sec1", "secret", 1);
    return 0;
}

static int teardown(void **s)
{
    (void)s;
    state_free(st);
    return 0;
}

static void test_same_as_local(void **s)
{
    (void)s;
    static const struct {
        const char *name;
        uint16_t type, edns;
    } cases[] = {
        {"web.service.consul", 1, 0},
        {"_web._tcp.service.consul", 33, 0},
        {"web.service.alt.test", 33, 1232},
        {"n1.node.consul", 1, 0},
        {"1.0.0.10.in-addr.arpa", 12, 0},
        {"nosuch.service.consul", 1, 0},
        {"pq.query.consul", 33, 0},
        {"consul", 6, 0},
        {"example.org", 1, 0},
    };
    struct dns_options o = opts();
    o.query_exec = NULL;
    struct cn_buf b = CN_BUF_INIT, out = CN_BUF_INIT;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t q[600];
        size_t n = build_query(q, cases[i].name, cases[i].type, cases[i].edns);
        unsigned limit = cases[i].edns ? cases[i].edns : 512;
        /* The client's own resolver over the same state, same seed. */
        struct dns_options lo = opts();
        struct dns_remote_env e = env();
        lo.query_exec = NULL; /* compared below without prepared queries */
        struct dns_resolver r;
        char err[128] = "";
        assert_int_equal(dns__resolver_init(&r, &lo, 42, err, sizeof(err)), 0);
        struct dns_query dq;
        assert_int_equal(dns_query_decode(q, n, &dq), DNS_DEC_OK);
        static uint8_t want[DNS_TCP_MAX];
        int action;
        size_t wn = dns__resolve(&r, st, &dq, want, sizeof(want), limit, cases[i].edns == 0,
                                 1700000000, &action);
        dns__resolver_free(&r);
        e.query_exec = NULL;
        e.acl_may = NULL;
        body_for(&b, &o, q, n, cases[i].edns == 0, limit);
        cn_buf_reset(&out);
        int rc = dns_remote_answer(b.p, b.len, &e, &out, err, sizeof(err));
        assert_int_equal(rc, DNS_REMOTE_ANSWER);
        assert_int_equal(action, DNS__ANSWER);
        assert_int_equal(out.len, wn);
        assert_memory_equal(out.p, want, wn);
    }
    cn_buf_free(&b);
    cn_buf_free(&out);
}

static void test_recursors_query_acl_stale(void **s)
{
    (void)s;
    struct cn_buf b = CN_BUF_INIT, out = CN_BUF_INIT;
    char err[128];
    uint8_t q[600];
    struct answer a;
    struct dns_remote_env e = env();
    struct dns_options o = opts();
    /* Outside the domain: REFUSED without recursors, "forward" with. */
    size_t n = build_query(q, "example.org", 1, 0);
    body_for(&b, &o, q, n, true, 512);
    assert_int_equal(dns_remote_answer(b.p, b.len, &e, &out, err, sizeof(err)), 0);
    read_answer((uint8_t *)out.p, out.len, &a);
    assert_int_equal(a.rcode, DNS_RC_REFUSED);
    static const char *const rec[] = {"10.0.0.53"};
    o.recursors = rec;
    o.nrecursors = 1;
    body_for(&b, &o, q, n, true, 512);
    cn_buf_reset(&out);
    assert_int_equal(dns_remote_answer(b.p, b.len, &e, &out, err, sizeof(err)), DNS_REMOTE_FORWARD);
    assert_int_equal(out.len, 0);
    /* A prepared query runs with the client's node name. */
    n = build_query(q, "pq.query.consul", 33, 0);
    body_for(&b, &o, q, n, true, 512);
    cn_buf_reset(&out);
    assert_int_equal(dns_remote_answer(b.p, b.len, &e, &out, err, sizeof(err)), 0);
    assert_string_equal(seen_node, "c1");
    /* An empty query with a Failover: NXDOMAIN here, unless the server can
     * fail over (env.failover): then what to ask other datacenters. */
    n = build_query(q, "fq.query.consul", 1, 0);
    body_for(&b, &o, q, n, true, 512);
    cn_buf_reset(&out);
    assert_int_equal(dns_remote_answer(b.p, b.len, &e, &out, err, sizeof(err)), 0);
    read_answer((uint8_t *)out.p, out.len, &a);
    assert_int_equal(a.rcode, DNS_RC_NXDOMAIN);
    static struct dns_remote_failover fo;
    memset(&fo, 0, sizeof(fo));
    e.failover = &fo;
    body_for(&b, &o, q, n, true, 700);
    cn_buf_reset(&out);
    assert_int_equal(dns_remote_answer(b.p, b.len, &e, &out, err, sizeof(err)),
                     DNS_REMOTE_FAILOVER);
    assert_int_equal(out.len, 0);
    assert_string_equal(fo.key, "fq");
    assert_int_equal(fo.qlen, n);
    assert_memory_equal(fo.q, q, n);
    assert_int_equal(fo.limit, 700);
    assert_true(fo.small_udp);
    assert_false(fo.other_dc);
    /* A name of another datacenter: what to ask that one (the server's WAN
     * route); without env.failover it is NXDOMAIN here. */
    n = build_query(q, "web.service.dc2.consul", 1, 0);
    body_for(&b, &o, q, n, false, 900);
    cn_buf_reset(&out);
    assert_int_equal(dns_remote_answer(b.p, b.len, &e, &out, err, sizeof(err)),
                     DNS_REMOTE_OTHER_DC);
    assert_int_equal(out.len, 0);
    assert_true(fo.other_dc);
    assert_string_equal(fo.key, "dc2");
    assert_int_equal(fo.qlen, n);
    assert_memory_equal(fo.q, q, n);
    assert_int_equal(fo.limit, 900);
    assert_false(fo.small_udp);
    /* ... and a query with instances is answered as before */
    n = build_query(q, "pq.query.consul", 33, 0);
    body_for(&b, &o, q, n, true, 512);
    cn_buf_reset(&out);
    assert_int_equal(dns_remote_answer(b.p, b.len, &e, &out, err, sizeof(err)), 0);
    e.failover = NULL;
    n = build_query(q, "web.service.dc2.consul", 1, 0);
    body_for(&b, &o, q, n, true, 512);
    cn_buf_reset(&out);
    assert_int_equal(dns_remote_answer(b.p, b.len, &e, &out, err, sizeof(err)), 0);
    read_answer((uint8_t *)out.p, out.len, &a);
    assert_int_equal(a.rcode, DNS_RC_NXDOMAIN);
    /* ACLs: the callback decides, with the env's argument. */
    acl_calls = 0;
    n = build_query(q, "secret.service.consul", 1, 0);
    body_for(&b, &o, q, n, true, 512);
    cn_buf_reset(&out);
    assert_int_equal(dns_remote_answer(b.p, b.len, &e, &out, err, sizeof(err)), 0);
    read_answer((uint8_t *)out.p, out.len, &a);
    assert_true(acl_calls > 0);
    assert_int_equal(a.n[1], 0);
    /* max_stale: the client's bound against this server's leader contact. */
    o.max_stale_ms = 1000;
    n = build_query(q, "web.service.consul", 1, 0);
    body_for(&b, &o, q, n, true, 512);
    e.last_contact_ms = 5000;
    cn_buf_reset(&out);
    assert_int_equal(dns_remote_answer(b.p, b.len, &e, &out, err, sizeof(err)), 0);
    read_answer((uint8_t *)out.p, out.len, &a);
    assert_int_equal(a.rcode, DNS_RC_SERVFAIL);
    e.last_contact_ms = 10;
    cn_buf_reset(&out);
    assert_int_equal(dns_remote_answer(b.p, b.len, &e, &out, err, sizeof(err)), 0);
    read_answer((uint8_t *)out.p, out.len, &a);
    assert_int_equal(a.rcode, 0);
    assert_int_equal(a.n[1], 3);
    cn_buf_free(&b);
    cn_buf_free(&out);
}

static void test_bad_requests(void **s)
{
    (void)s;
    static const struct {
        const char *body, *why;
    } bad[] = {
        {"", "invalid JSON"},
        {"[]", "request: not an object"},
        {"{\"Query\":\"AAAA\",\"Bogus\":1}", "unknown key \"Bogus\""},
        {"{\"Query\":\"!!\",\"Limit\":512,\"Options\":{\"Domain\":\"consul.\"}}", "base64"},
        {"{\"Limit\":512,\"Options\":{\"Domain\":\"consul.\"}}", "Query: missing"},
        {"{\"Query\":\"EjQBAAABAAAAAAAABGEAAAEAAQ==\",\"Limit\":100,\"Options\":{}}", "Limit"},
        {"{\"Query\":\"EjQBAAABAAAAAAAAAWEAAAEAAQ==\",\"Limit\":512}", "Options: missing"},
        {"{\"Query\":\"EjQBAAABAAAAAAAAAWEAAAEAAQ==\",\"Limit\":512,\"Options\":{}}",
         "Domain: missing"},
        {"{\"Query\":\"EjQBAAABAAAAAAAAAWEAAAEAAQ==\",\"Limit\":512,\"Options\":{\"Domain\":"
         "\"consul.\",\"X\":1}}",
         "unknown key \"X\""},
        {"{\"Query\":\"EjQBAAABAAAAAAAAAWEAAAEAAQ==\",\"Limit\":512,\"Options\":{\"Domain\":"
         "\"consul.\",\"NodeTTL\":-1}}",
         "NodeTTL"},
        {"{\"Query\":\"EjQBAAABAAAAAAAAAWEAAAEAAQ==\",\"Limit\":512,\"Options\":{\"Domain\":"
         "\"consul.\",\"ServiceTTL\":[{\"Name\":\"\",\"TTL\":1}]}}",
         "Name missing"},
        {"{\"Query\":\"AAAA\",\"Limit\":512,\"Options\":{\"Domain\":\"consul.\"}}", "not a query"},
        {"{\"Query\":\"EjQBAAABAAAAAAAAAWEAAAEAAQ==\",\"Limit\":512,\"Options\":{\"Domain\":"
         "\"..\"}}",
         "invalid DNS domain"},
    };
    struct dns_remote_env e = env();
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct cn_buf out = CN_BUF_INIT;
        char err[200] = "";
        int rc = dns_remote_answer(bad[i].body, strlen(bad[i].body), &e, &out, err, sizeof(err));
        if (rc != CN_EINVAL || !strstr(err, bad[i].why))
            fail_msg("case %zu: rc %d, err \"%s\" (want \"%s\")", i, rc, err, bad[i].why);
        assert_int_equal(out.len, 0);
        cn_buf_free(&out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_as_local),
        cmocka_unit_test(test_recursors_query_acl_stale),
        cmocka_unit_test(test_bad_requests),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
