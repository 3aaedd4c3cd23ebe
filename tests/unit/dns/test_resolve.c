/* tests/unit/dns/test_resolve.c: Consul's names answered from a state
 * (src/dns/resolve.c), per website/content/docs/services/discovery/
 * dns-static-lookups.mdx: service (tag, RFC 2782), node, addr, PTR, SOA,
 * NXDOMAIN with SOA, REFUSED outside the domain, health filtering
 * (critical and maintenance out, only_passing), SRV weights and targets. */
#include "helpers.h"

#include "base/buf.h"
#include "base/mem.h"
#include "dns/dns_int.h"
#include "state/state.h"

static uint64_t idx = 1;

static void reg(struct state *s, const char *node, const char *naddr, const char *id,
                const char *svc, const char *saddr, int port, const char *tag, int wp, int ww,
                const char *status)
{
    struct state_register r;
    memset(&r, 0, sizeof(r));
    r.node.name = (char *)node;
    r.node.id = (char *)"";
    r.node.address = (char *)naddr;
    struct state_pair meta = {(char *)"rack", (char *)"r1"};
    r.node.meta.n = 1;
    r.node.meta.items = &meta;
    struct state_service v;
    memset(&v, 0, sizeof(v));
    char *tags[1] = {(char *)tag};
    struct state_check c;
    memset(&c, 0, sizeof(c));
    char cid[64];
    if (svc) {
        v.id = (char *)id;
        v.service = (char *)svc;
        v.kind = (char *)"";
        v.address = (char *)(saddr ? saddr : "");
        v.port = port;
        v.tags = tag ? tags : NULL;
        v.ntags = tag ? 1 : 0;
        v.weight_passing = wp;
        v.weight_warning = ww;
        r.service = &v;
        if (status) {
            snprintf(cid, sizeof(cid), "service:%s", id);
            c.check_id = cid;
            c.name = cid;
            c.status = (char *)status;
            c.service_id = (char *)id;
            c.type = (char *)"ttl";
            r.checks = &c;
            r.nchecks = 1;
        }
    } else if (status) {
        c.check_id = (char *)id; /* a node check, e.g. _node_maintenance */
        c.name = (char *)id;
        c.status = (char *)status;
        c.service_id = (char *)"";
        c.type = (char *)"";
        r.checks = &c;
        r.nchecks = 1;
        r.skip_node_update = true;
    }
    struct cn_buf b = CN_BUF_INIT;
    assert_int_equal(state_cmd_register(&b, &r), 0);
    assert_int_equal(state_apply(s, idx++, b.p, b.len, NULL), 0);
    cn_buf_free(&b);
}

struct fx {
    struct state *st;
    struct dns_resolver r;
    struct dns_options o;
    uint8_t buf[70000];
    struct answer a;
};

static struct fx *fx_new(void)
{
    struct fx *f = cn_calloc(1, sizeof(*f));
    f->st = state_new();
    f->o = (struct dns_options){.domain = "consul.",
                                .alt_domain = "cairn.test",
                                .datacenter = "dc1",
                                .node_name = "agent1",
                                .node_addr = "127.0.0.1",
                                .node_meta_txt = true,
                                .soa_refresh = 3600,
                                .soa_retry = 600,
                                .soa_expire = 86400,
                                .soa_min_ttl = 0};
    char err[128];
    assert_int_equal(dns__resolver_init(&f->r, &f->o, 42, err, sizeof(err)), 0);
    reg(f->st, "n1", "10.0.0.1", "web1", "web", NULL, 8080, "v1", 10, 1, "passing");
    reg(f->st, "n2", "10.0.0.2", "web2", "web", "192.168.0.2", 8081, "v2", 10, 1, "warning");
    reg(f->st, "n3", "10.0.0.3", "web3", "web", NULL, 8082, "v1", 10, 1, "critical");
    reg(f->st, "n4", "10.0.0.4", "db1", "db", NULL, 5432, NULL, 1, 1, NULL);
    return f;
}

static void fx_free(struct fx *f)
{
    dns__resolver_free(&f->r);
    state_free(f->st);
    cn_free(f);
}

static void reinit(struct fx *f)
{
    char err[128];
    dns__resolver_free(&f->r);
    assert_int_equal(dns__resolver_init(&f->r, &f->o, 42, err, sizeof(err)), 0);
}

/* The resolver's action for name/type (no answer read). */
static int ask_action(struct fx *f, const char *name, uint16_t type)
{
    uint8_t q[600];
    size_t n = build_query(q, name, type, 0);
    struct dns_query dq;
    assert_int_equal(dns_query_decode(q, n, &dq), DNS_DEC_OK);
    int action;
    size_t len =
        dns__resolve(&f->r, f->st, &dq, f->buf, sizeof(f->buf), 512, true, 1700000000, &action);
    if (action != DNS__ANSWER)
        assert_int_equal(len, 0);
    else
        read_answer(f->buf, len, &f->a);
    return action;
}

/* Ask name/type over UDP (edns 0: plain 512) and read the answer. */
static int ask(struct fx *f, const char *name, uint16_t type, uint16_t edns)
{
    uint8_t q[600];
    size_t n = build_query(q, name, type, edns);
    struct dns_query dq;
    assert_int_equal(dns_query_decode(q, n, &dq), DNS_DEC_OK);
    int action;
    size_t len = dns__resolve(&f->r, f->st, &dq, f->buf, sizeof(f->buf), edns ? edns : 512,
                              edns == 0, 1700000000, &action);
    if (action == DNS__FORWARD)
        return -1;
    read_answer(f->buf, len, &f->a);
    return f->a.rcode;
}

static bool has(const struct answer *a, int sec, uint16_t type, const char *data)
{
    for (unsigned i = 0; i < a->nrr; i++)
        if (a->rr[i].section == sec && a->rr[i].type == type && !strcmp(a->rr[i].data, data))
            return true;
    return false;
}

static void test_service_a(void **st)
{
    (void)st;
    struct fx *f = fx_new();
    assert_int_equal(ask(f, "web.service.consul", DNS_T_A, 0), DNS_RC_NOERROR);
    assert_true(f->a.flags & DNS_F_AA);
    /* web3 is critical: out. web2 has its own address. */
    assert_int_equal(count_type(&f->a, 1, DNS_T_A), 2);
    assert_true(has(&f->a, 1, DNS_T_A, "10.0.0.1"));
    assert_true(has(&f->a, 1, DNS_T_A, "192.168.0.2"));
    /* With a datacenter, in other case, and in the alt domain. */
    assert_int_equal(ask(f, "WEB.service.DC1.consul", DNS_T_A, 0), DNS_RC_NOERROR);
    assert_int_equal(count_type(&f->a, 1, DNS_T_A), 2);
    assert_int_equal(ask(f, "web.service.cairn.test", DNS_T_A, 0), DNS_RC_NOERROR);
    assert_int_equal(count_type(&f->a, 1, DNS_T_A), 2);
    /* Tag filter. */
    assert_int_equal(ask(f, "v2.web.service.consul", DNS_T_A, 0), DNS_RC_NOERROR);
    assert_int_equal(count_type(&f->a, 1, DNS_T_A), 1);
    assert_true(has(&f->a, 1, DNS_T_A, "192.168.0.2"));
    /* Only the critical instance has v1... no: web1 has v1 and passes. */
    assert_int_equal(ask(f, "v1.web.service.consul", DNS_T_A, 0), DNS_RC_NOERROR);
    assert_int_equal(count_type(&f->a, 1, DNS_T_A), 1);
    /* only_passing drops the warning one. */
    f->o.only_passing = true;
    reinit(f);
    assert_int_equal(ask(f, "web.service.consul", DNS_T_A, 0), DNS_RC_NOERROR);
    assert_int_equal(count_type(&f->a, 1, DNS_T_A), 1);
    assert_int_equal(ask(f, "v2.web.service.consul", DNS_T_A, 0), DNS_RC_NXDOMAIN);
    /* An AAAA question on IPv4 instances: NOERROR, no answer, the SOA. */
    assert_int_equal(ask(f, "web.service.consul", DNS_T_AAAA, 0), DNS_RC_NOERROR);
    assert_int_equal(f->a.n[1], 0);
    assert_int_equal(count_type(&f->a, 2, DNS_T_SOA), 1);
    fx_free(f);
}

static void test_service_srv(void **st)
{
    (void)st;
    struct fx *f = fx_new();
    assert_int_equal(ask(f, "web.service.consul", DNS_T_SRV, 1232), DNS_RC_NOERROR);
    assert_int_equal(count_type(&f->a, 1, DNS_T_SRV), 2);
    /* Passing: Weights.Passing; warning: Weights.Warning. A node target, and
     * the HEXIP.addr form for a service address of its own. */
    assert_true(has(&f->a, 1, DNS_T_SRV, "1 10 8080 n1.node.dc1.consul."));
    assert_true(has(&f->a, 1, DNS_T_SRV, "1 1 8081 c0a80002.addr.dc1.consul."));
    assert_true(has(&f->a, 3, DNS_T_A, "10.0.0.1"));
    assert_true(has(&f->a, 3, DNS_T_A, "192.168.0.2"));
    assert_true(has(&f->a, 3, DNS_T_TXT, "rack=r1"));
    /* RFC 2782: _web._tcp (no tag filter), _web._v2 (tag v2). */
    assert_int_equal(ask(f, "_web._tcp.service.consul", DNS_T_SRV, 1232), DNS_RC_NOERROR);
    assert_int_equal(count_type(&f->a, 1, DNS_T_SRV), 2);
    assert_int_equal(ask(f, "_web._v2.service.consul", DNS_T_SRV, 1232), DNS_RC_NOERROR);
    assert_int_equal(count_type(&f->a, 1, DNS_T_SRV), 1);
    /* "service" may be left out of the RFC 2782 form of an SRV question. */
    assert_int_equal(ask(f, "_web._tcp.consul", DNS_T_SRV, 1232), DNS_RC_NOERROR);
    assert_int_equal(count_type(&f->a, 1, DNS_T_SRV), 2);
    /* The alt domain names its targets in the alt domain. */
    assert_int_equal(ask(f, "web.service.cairn.test", DNS_T_SRV, 1232), DNS_RC_NOERROR);
    assert_true(has(&f->a, 1, DNS_T_SRV, "1 10 8080 n1.node.dc1.cairn.test."));
    /* cairn's order_by_weight: the heavier first. */
    f->o.order_by_weight = true;
    reinit(f);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(ask(f, "web.service.consul", DNS_T_SRV, 1232), DNS_RC_NOERROR);
        assert_string_equal(f->a.rr[0].data, "1 10 8080 n1.node.dc1.consul.");
    }
    fx_free(f);
}

static void test_shuffle(void **st)
{
    (void)st;
    struct fx *f = fx_new();
    for (int i = 0; i < 20; i++) {
        char id[16];
        snprintf(id, sizeof(id), "api%d", i);
        reg(f->st, "n1", "10.0.0.1", id, "api", NULL, 9000 + i, NULL, 1, 1, NULL);
    }
    char first[64] = "";
    bool differs = false;
    for (int i = 0; i < 20 && !differs; i++) {
        assert_int_equal(ask(f, "api.service.consul", DNS_T_SRV, 4096), DNS_RC_NOERROR);
        assert_int_equal(count_type(&f->a, 1, DNS_T_SRV), 20);
        if (i == 0)
            snprintf(first, sizeof(first), "%s", f->a.rr[0].data);
        else
            differs = strcmp(first, f->a.rr[0].data) != 0;
    }
    assert_true(differs);
    /* One node target: its A record once in the additional section. */
    assert_int_equal(count_type(&f->a, 3, DNS_T_A), 1);
    /* The same address 20 times: one A record. */
    assert_int_equal(ask(f, "api.service.consul", DNS_T_A, 0), DNS_RC_NOERROR);
    assert_int_equal(count_type(&f->a, 1, DNS_T_A), 1);
    fx_free(f);
}

static void test_truncation_and_limit(void **st)
{
    (void)st;
    struct fx *f = fx_new();
    for (int i = 0; i < 40; i++) {
        char id[16], node[16], addr[32];
        snprintf(id, sizeof(id), "big%d", i);
        snprintf(node, sizeof(node), "bn%02d", i);
        snprintf(addr, sizeof(addr), "10.1.0.%d", i + 1);
        reg(f->st, node, addr, id, "big", NULL, 80, NULL, 1, 1, "passing");
    }
    assert_int_equal(ask(f, "big.service.consul", DNS_T_SRV, 0), DNS_RC_NOERROR);
    unsigned n = count_type(&f->a, 1, DNS_T_SRV);
    assert_true(n > 0 && n < 40);
    assert_true(f->a.flags & DNS_F_TC);
    /* A records: 40 * 16 + header fits in 512? 12 + 22 + 40*16 = 674: no. */
    assert_int_equal(ask(f, "big.service.consul", DNS_T_A, 0), DNS_RC_NOERROR);
    assert_true(f->a.flags & DNS_F_TC);
    assert_int_equal(ask(f, "big.service.consul", DNS_T_A, 4096), DNS_RC_NOERROR);
    assert_int_equal(f->a.flags & DNS_F_TC, 0);
    assert_int_equal(count_type(&f->a, 1, DNS_T_A), 40);
    /* udp_answer_limit: Consul's trimming of non-EDNS UDP answers; TC only
     * with enable_truncate. */
    f->o.udp_answer_limit = 3;
    reinit(f);
    assert_int_equal(ask(f, "big.service.consul", DNS_T_A, 0), DNS_RC_NOERROR);
    assert_int_equal(count_type(&f->a, 1, DNS_T_A), 3);
    assert_int_equal(f->a.flags & DNS_F_TC, 0);
    assert_int_equal(ask(f, "big.service.consul", DNS_T_A, 4096), DNS_RC_NOERROR);
    assert_int_equal(count_type(&f->a, 1, DNS_T_A), 40);
    f->o.enable_truncate = true;
    reinit(f);
    assert_int_equal(ask(f, "big.service.consul", DNS_T_A, 0), DNS_RC_NOERROR);
    assert_int_equal(count_type(&f->a, 1, DNS_T_A), 3);
    assert_true(f->a.flags & DNS_F_TC);
    fx_free(f);
}

static void test_nxdomain_refused(void **st)
{
    (void)st;
    struct fx *f = fx_new();
    /* Unknown service, a service with only a critical instance, an unknown
     * kind, another datacenter: NXDOMAIN with the SOA in authority. */
    const char *nx[] = {"nope.service.consul",    "x.web.service.consul", "foo.query.consul",
                        "web.service.dc2.consul", "web.bogus.consul",     "n9.node.consul",
                        "zz.addr.consul",         "web.connect.consul",   "v1.web.connect.consul",
                        "web.connect.dc2.consul"};
    for (size_t i = 0; i < sizeof(nx) / sizeof(nx[0]); i++) {
        assert_int_equal(ask(f, nx[i], DNS_T_A, 0), DNS_RC_NXDOMAIN);
        assert_int_equal(f->a.n[1], 0);
        assert_int_equal(count_type(&f->a, 2, DNS_T_SOA), 1);
        assert_string_equal(f->a.rr[0].owner, "consul.");
        assert_string_equal(f->a.rr[0].data, "ns.consul.");
    }
    reg(f->st, "n5", "10.0.0.5", "solo1", "solo", NULL, 1, NULL, 1, 1, "critical");
    assert_int_equal(ask(f, "solo.service.consul", DNS_T_A, 0), DNS_RC_NXDOMAIN);
    /* Outside the domain with no recursor: REFUSED (agent/dns.go). */
    assert_int_equal(ask(f, "example.com", DNS_T_A, 0), DNS_RC_REFUSED);
    assert_int_equal(f->a.flags & DNS_F_AA, 0);
    /* With recursors: forwarded. */
    const char *rec[] = {"127.0.0.1:53"};
    f->o.recursors = rec;
    f->o.nrecursors = 1;
    reinit(f);
    assert_int_equal(ask(f, "example.com", DNS_T_A, 0), -1);
    assert_int_equal(ask(f, "web.service.consul", DNS_T_A, 0), DNS_RC_NOERROR);
    assert_true(f->a.flags & DNS_F_RA);
    fx_free(f);
}

static void test_maintenance(void **st)
{
    (void)st;
    struct fx *f = fx_new();
    assert_int_equal(ask(f, "db.service.consul", DNS_T_A, 0), DNS_RC_NOERROR);
    /* Node maintenance is a critical node check: the node's instances go. */
    reg(f->st, "n4", "10.0.0.4", "_node_maintenance", NULL, NULL, 0, NULL, 0, 0, "critical");
    assert_int_equal(ask(f, "db.service.consul", DNS_T_A, 0), DNS_RC_NXDOMAIN);
    /* The node itself still resolves (node lookups do not filter health). */
    assert_int_equal(ask(f, "n4.node.consul", DNS_T_A, 0), DNS_RC_NOERROR);
    assert_true(has(&f->a, 1, DNS_T_A, "10.0.0.4"));
    fx_free(f);
}

static void test_node_addr_ptr_soa(void **st)
{
    (void)st;
    struct fx *f = fx_new();
    assert_int_equal(ask(f, "n1.node.consul", DNS_T_A, 0), DNS_RC_NOERROR);
    assert_true(has(&f->a, 1, DNS_T_A, "10.0.0.1"));
    assert_true(has(&f->a, 3, DNS_T_TXT, "rack=r1"));
    assert_int_equal(ask(f, "n1.node.dc1.consul", DNS_T_TXT, 0), DNS_RC_NOERROR);
    assert_true(has(&f->a, 1, DNS_T_TXT, "rack=r1"));
    assert_int_equal(ask(f, "n1.node.consul", DNS_T_ANY, 0), DNS_RC_NOERROR);
    assert_int_equal(f->a.n[1], 2);
    assert_int_equal(ask(f, "0a000002.addr.dc1.consul", DNS_T_A, 0), DNS_RC_NOERROR);
    assert_true(has(&f->a, 1, DNS_T_A, "10.0.0.2"));
    assert_int_equal(ask(f, "2.0.0.10.in-addr.arpa", DNS_T_PTR, 0), DNS_RC_NOERROR);
    assert_true(has(&f->a, 1, DNS_T_PTR, "n2.node.dc1.consul."));
    assert_int_equal(ask(f, "2.0.168.192.in-addr.arpa", DNS_T_PTR, 0), DNS_RC_NOERROR);
    assert_true(has(&f->a, 1, DNS_T_PTR, "web.service.dc1.consul."));
    assert_int_equal(ask(f, "9.9.9.9.in-addr.arpa", DNS_T_PTR, 0), DNS_RC_NXDOMAIN);
    assert_int_equal(ask(f, "consul", DNS_T_SOA, 0), DNS_RC_NOERROR);
    assert_int_equal(count_type(&f->a, 1, DNS_T_SOA), 1);
    assert_true(has(&f->a, 2, DNS_T_NS, "agent1.node.dc1.consul."));
    assert_int_equal(ask(f, "consul", DNS_T_NS, 0), DNS_RC_NOERROR);
    assert_true(has(&f->a, 1, DNS_T_NS, "agent1.node.dc1.consul."));
    assert_true(has(&f->a, 3, DNS_T_A, "127.0.0.1"));
    fx_free(f);
}

static void test_service_ttl(void **st)
{
    (void)st;
    struct fx *f = fx_new();
    struct dns_service_ttl t[] = {{"*", 5}, {"we*", 7}, {"web", 9}, {"d*", 3}};
    f->o.service_ttl = t;
    f->o.nservice_ttl = 4;
    f->o.node_ttl = 11;
    reinit(f);
    assert_int_equal(ask(f, "web.service.consul", DNS_T_A, 0), DNS_RC_NOERROR);
    assert_int_equal(f->a.rr[0].ttl, 9);
    assert_int_equal(ask(f, "db.service.consul", DNS_T_A, 0), DNS_RC_NOERROR);
    assert_int_equal(f->a.rr[0].ttl, 3);
    assert_int_equal(ask(f, "n1.node.consul", DNS_T_A, 0), DNS_RC_NOERROR);
    assert_int_equal(f->a.rr[0].ttl, 11);
    fx_free(f);
}

/* ---- prepared queries: the hook the agent hands in (a stub here) ---------------- */

struct qstub {
    char seen[4][256]; /* the names asked, in order */
    int nseen;
    int rc;          /* what the hook returns */
    const char *ttl; /* the query's DNS.TTL */
    bool empty;      /* an execution that kept nothing */
    bool failover;   /* the query has a Failover (the agent's say) */
    const struct state *st;
};

struct qcollect {
    const struct state_service *v[16];
    size_t n;
};

static int qcollect_cb(void *arg, const struct state_service *s)
{
    struct qcollect *c = arg;
    if (c->n < 16)
        c->v[c->n++] = s;
    return 0;
}

/* Answers "myq" and "a.b" with every instance of web (the critical one too:
 * filtering is the query's business, as with IgnoreCheckIDs), in catalog
 * order. */
static int qstub_exec(void *arg, const struct state *st, const char *name, dns_query_visit visit,
                      void *varg)
{
    struct qstub *q = arg;
    assert_ptr_equal(st, q->st);
    if (q->nseen < 4)
        snprintf(q->seen[q->nseen++], sizeof(q->seen[0]), "%s", name);
    if (q->rc)
        return q->rc;
    if (strcmp(name, "myq") != 0 && strcmp(name, "a.b") != 0)
        return CN_ENOTFOUND;
    struct qcollect c = {{0}, 0};
    if (!q->empty)
        state_service_instances(st, "web", qcollect_cb, &c);
    struct dns_query_answer a = {"web", q->ttl, c.v, c.n, q->failover};
    visit(varg, &a);
    return 0;
}

static void test_prepared_query(void **st)
{
    (void)st;
    struct fx *f = fx_new();
    /* No hook: every .query. name is NXDOMAIN with the SOA. */
    assert_int_equal(ask(f, "myq.query.consul", DNS_T_A, 0), DNS_RC_NXDOMAIN);
    assert_int_equal(count_type(&f->a, 2, DNS_T_SOA), 1);
    struct qstub qs;
    memset(&qs, 0, sizeof(qs));
    qs.ttl = "30s";
    qs.st = f->st;
    f->o.query_exec = qstub_exec;
    f->o.query_arg = &qs;
    struct dns_service_ttl t[] = {{"web", 9}};
    f->o.service_ttl = t;
    f->o.nservice_ttl = 1;
    reinit(f);
    /* A: the execution's instances as given (web3 critical included), the
     * query's TTL. */
    assert_int_equal(ask(f, "myq.query.consul", DNS_T_A, 0), DNS_RC_NOERROR);
    assert_true(f->a.flags & DNS_F_AA);
    assert_int_equal(count_type(&f->a, 1, DNS_T_A), 3);
    assert_true(has(&f->a, 1, DNS_T_A, "10.0.0.1"));
    assert_true(has(&f->a, 1, DNS_T_A, "192.168.0.2"));
    assert_true(has(&f->a, 1, DNS_T_A, "10.0.0.3"));
    assert_int_equal(f->a.rr[0].ttl, 30);
    assert_int_equal(qs.nseen, 1);
    assert_string_equal(qs.seen[0], "myq");
    /* SRV: weights by health (warning: Weights.Warning), the query order kept
     * (catalog order from this stub), targets' addresses additional. */
    assert_int_equal(ask(f, "myq.query.dc1.consul", DNS_T_SRV, 1232), DNS_RC_NOERROR);
    assert_int_equal(count_type(&f->a, 1, DNS_T_SRV), 3);
    assert_string_equal(f->a.rr[0].data, "1 10 8080 n1.node.dc1.consul.");
    assert_string_equal(f->a.rr[1].data, "1 1 8081 c0a80002.addr.dc1.consul.");
    assert_string_equal(f->a.rr[2].data, "1 10 8082 n3.node.dc1.consul.");
    assert_true(has(&f->a, 3, DNS_T_A, "10.0.0.3"));
    /* RFC 2782: _NAME._PROTO, the protocol ignored; dots in a name. */
    qs.nseen = 0;
    assert_int_equal(ask(f, "_myq._tcp.query.consul", DNS_T_SRV, 1232), DNS_RC_NOERROR);
    assert_int_equal(count_type(&f->a, 1, DNS_T_SRV), 3);
    assert_int_equal(ask(f, "a.b.query.consul", DNS_T_A, 0), DNS_RC_NOERROR);
    assert_int_equal(ask(f, "_a.b._udp.query.consul", DNS_T_SRV, 1232), DNS_RC_NOERROR);
    assert_int_equal(qs.nseen, 3);
    assert_string_equal(qs.seen[0], "myq");
    assert_string_equal(qs.seen[1], "a.b");
    assert_string_equal(qs.seen[2], "a.b");
    /* Other case: asked as written, then lowercased. */
    qs.nseen = 0;
    assert_int_equal(ask(f, "MyQ.query.consul", DNS_T_A, 0), DNS_RC_NOERROR);
    assert_int_equal(qs.nseen, 2);
    assert_string_equal(qs.seen[0], "MyQ");
    assert_string_equal(qs.seen[1], "myq");
    /* No DNS.TTL: the agent's service_ttl for the query's service. */
    qs.ttl = "";
    assert_int_equal(ask(f, "myq.query.consul", DNS_T_A, 0), DNS_RC_NOERROR);
    assert_int_equal(f->a.rr[0].ttl, 9);
    /* Unknown, another datacenter, no name: NXDOMAIN (the hook is not asked
     * for the last two). */
    qs.nseen = 0;
    assert_int_equal(ask(f, "nope.query.consul", DNS_T_A, 0), DNS_RC_NXDOMAIN);
    assert_int_equal(count_type(&f->a, 2, DNS_T_SOA), 1);
    assert_int_equal(ask(f, "myq.query.dc2.consul", DNS_T_A, 0), DNS_RC_NXDOMAIN);
    assert_int_equal(ask(f, "query.consul", DNS_T_A, 0), DNS_RC_NXDOMAIN);
    assert_int_equal(ask(f, "__._tcp.query.consul", DNS_T_SRV, 0), DNS_RC_NXDOMAIN);
    assert_int_equal(qs.nseen, 2); /* "nope" and "_" */
    /* An execution that kept nothing: NXDOMAIN (agent/dns.go). */
    qs.empty = true;
    assert_int_equal(ask(f, "myq.query.consul", DNS_T_A, 0), DNS_RC_NXDOMAIN);
    qs.empty = false;
    /* Any other failure (a template that does not render): SERVFAIL. */
    qs.rc = CN_EINVAL;
    assert_int_equal(ask(f, "myq.query.consul", DNS_T_A, 0), DNS_RC_SERVFAIL);
    fx_free(f);
}

static int fo_stub(void *arg, const char *name_or_id, const uint8_t *q, size_t len, size_t limit,
                   bool small_udp, dns_dc_done done, void *ctx, uint64_t *handle)
{
    return CN_EIO; /* never called: the resolver only says what to do */
}

static int dc_stub(void *arg, const char *dc, const uint8_t *q, size_t len, size_t limit,
                   bool small_udp, dns_dc_done done, void *ctx, uint64_t *handle)
{
    return CN_EIO;
}

/* A query with no instance and a Failover: DNS__QUERY_FAILOVER with the
 * name as looked up, when the agent can fail over; else NXDOMAIN. Another
 * datacenter's NAME.query.DC is asked of it; a definition sent by another
 * (query_any_dc) answers any DC label here. */
static void test_prepared_query_failover(void **st)
{
    (void)st;
    struct fx *f = fx_new();
    struct qstub qs;
    memset(&qs, 0, sizeof(qs));
    qs.ttl = "";
    qs.st = f->st;
    qs.empty = true;
    qs.failover = true;
    f->o.query_exec = qstub_exec;
    f->o.query_arg = &qs;
    reinit(f);
    /* no query_failover hook: NXDOMAIN */
    assert_int_equal(ask(f, "myq.query.consul", DNS_T_A, 0), DNS_RC_NXDOMAIN);
    f->o.query_failover = fo_stub;
    reinit(f);
    assert_int_equal(ask_action(f, "myq.query.consul", DNS_T_A), DNS__QUERY_FAILOVER);
    assert_string_equal(f->r.fo_key, "myq");
    assert_int_equal(ask_action(f, "_myq._tcp.query.dc1.consul", DNS_T_SRV), DNS__QUERY_FAILOVER);
    assert_string_equal(f->r.fo_key, "myq");
    assert_int_equal(ask_action(f, "MyQ.query.consul", DNS_T_A), DNS__QUERY_FAILOVER);
    assert_string_equal(f->r.fo_key, "myq"); /* found lowercased */
    /* no Failover in the query: NXDOMAIN; instances: answered here */
    qs.failover = false;
    assert_int_equal(ask_action(f, "myq.query.consul", DNS_T_A), DNS__ANSWER);
    assert_int_equal(f->a.rcode, DNS_RC_NXDOMAIN);
    qs.failover = true;
    qs.empty = false;
    assert_int_equal(ask_action(f, "myq.query.consul", DNS_T_A), DNS__ANSWER);
    assert_int_equal(f->a.rcode, DNS_RC_NOERROR);
    assert_int_equal(count_type(&f->a, 1, DNS_T_A), 3);
    /* NAME.query.DC of another datacenter: asked of it when it can be */
    assert_int_equal(ask_action(f, "myq.query.dc2.consul", DNS_T_A), DNS__ANSWER);
    assert_int_equal(f->a.rcode, DNS_RC_NXDOMAIN);
    f->o.dc_remote = dc_stub;
    reinit(f);
    assert_int_equal(ask_action(f, "myq.query.dc2.consul", DNS_T_A), DNS__OTHER_DC);
    assert_string_equal(f->r.other_dc, "dc2");
    /* a definition another datacenter sent: its DC label answers here */
    f->r.query_any_dc = true;
    assert_int_equal(ask_action(f, "myq.query.dc2.consul", DNS_T_A), DNS__ANSWER);
    assert_int_equal(count_type(&f->a, 1, DNS_T_A), 3);
    /* ... but only for queries */
    assert_int_equal(ask_action(f, "web.service.dc2.consul", DNS_T_A), DNS__OTHER_DC);
    fx_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_service_a),         cmocka_unit_test(test_service_srv),
        cmocka_unit_test(test_shuffle),           cmocka_unit_test(test_truncation_and_limit),
        cmocka_unit_test(test_nxdomain_refused),  cmocka_unit_test(test_maintenance),
        cmocka_unit_test(test_node_addr_ptr_soa), cmocka_unit_test(test_service_ttl),
        cmocka_unit_test(test_prepared_query),    cmocka_unit_test(test_prepared_query_failover),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
