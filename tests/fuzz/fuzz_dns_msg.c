/* Fuzz the DNS codec (src/dns/wire.h) and the resolver (src/dns/resolve.c):
 * anyone can send a datagram to port 8600. The input is decoded as a query;
 * whatever decodes is answered twice: by an encoder round trip (the question
 * name and records derived from it, compressed, at a size limit taken from
 * the input) and by the resolver over a small fixed catalog. Every answer
 * must read back strictly (dns_msg_walk), stay within its limit, and keep
 * the question. The input is also walked as a whole message. Prepared-query
 * names (NAME.query.DOMAIN) reach a stub executor that answers by the name's
 * first byte (not found, an error, no instance, or the instances of a
 * service) with a TTL text chosen by its length. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/err.h"
#include "dns/dns_int.h"
#include "state/state.h"

static uint8_t out[DNS_TCP_MAX + 16];
static struct state *st;
static struct dns_resolver res;

static void reg(const char *node, const char *addr, const char *id, const char *svc, int port)
{
    struct state_register r;
    memset(&r, 0, sizeof(r));
    r.node.name = (char *)node;
    r.node.id = (char *)"";
    r.node.address = (char *)addr;
    struct state_pair meta = {(char *)"k", (char *)"v"};
    r.node.meta.n = 1;
    r.node.meta.items = &meta;
    struct state_service v;
    memset(&v, 0, sizeof(v));
    char *tags[1] = {(char *)"t"};
    v.id = (char *)id;
    v.service = (char *)svc;
    v.kind = (char *)"";
    v.address = (char *)"";
    v.port = port;
    v.tags = tags;
    v.ntags = 1;
    v.weight_passing = 3;
    v.weight_warning = 1;
    r.service = &v;
    struct cn_buf b = CN_BUF_INIT;
    static uint64_t idx = 1;
    if (state_cmd_register(&b, &r) || state_apply(st, idx++, b.p, b.len, NULL))
        abort();
    cn_buf_free(&b);
}

struct fcollect {
    const struct state_service *v[64];
    size_t n;
};

static int fcollect_cb(void *arg, const struct state_service *s)
{
    struct fcollect *c = arg;
    if (c->n < 64)
        c->v[c->n++] = s;
    return 0;
}

static int fquery(void *arg, const struct state *s, const char *name, dns_query_visit visit,
                  void *varg)
{
    (void)arg;
    size_t l = strlen(name);
    if (l == 0 || l > DNS_NAME_MAX)
        abort(); /* the resolver hands a non-empty C string of one name */
    static const char *const ttls[] = {"", "5s", "1h30m", "bogus", "-3s", "9999999999h"};
    struct fcollect c = {{0}, 0};
    switch (name[0]) {
    case 'n':
        return CN_ENOTFOUND;
    case 'e':
        return CN_EINVAL;
    case 'z':
    case 'f': /* empty, with a Failover: DNS__QUERY_FAILOVER */
        break;
    default:
        state_service_instances(s, name[0] == 'h' ? "hosted" : "web", fcollect_cb, &c);
    }
    struct dns_query_answer a = {name, ttls[l % 6], c.v, c.n, name[0] == 'f'};
    visit(varg, &a);
    return 0;
}

static int ffailover(void *arg, const char *name_or_id, const uint8_t *q, size_t len, size_t limit,
                     bool small_udp, dns_dc_done done, void *ctx, uint64_t *handle)
{
    abort(); /* the resolver only says what to do; the shell calls this */
}

static void setup(void)
{
    st = state_new();
    char n[16], a[32], id[16];
    for (int i = 0; i < 40; i++) {
        snprintf(n, sizeof(n), "n%d", i % 13);
        snprintf(a, sizeof(a), i % 5 ? "10.0.%d.%d" : "fd00::%d:%d", i / 7, i);
        snprintf(id, sizeof(id), "web%d", i);
        reg(n, a, id, "web", 8000 + i);
    }
    reg("h", "host.example", "h1", "hosted", 1);
    struct dns_options o = {.domain = "consul.",
                            .alt_domain = "alt.",
                            .datacenter = "dc1",
                            .node_name = "n1",
                            .node_addr = "10.0.0.1",
                            .node_meta_txt = true,
                            .udp_answer_limit = 0,
                            .soa_min_ttl = 0,
                            .query_exec = fquery,
                            .query_failover = ffailover};
    char err[64];
    if (dns__resolver_init(&res, &o, 1, err, sizeof(err)))
        abort();
}

static void check(const uint8_t *msg, size_t len, size_t limit, const struct dns_query *q)
{
    if (len > limit || len < DNS_HDR_LEN)
        abort();
    if (dns_msg_walk(msg, len, NULL, NULL))
        abort();
    if (msg[0] != (uint8_t)(q->id >> 8) || msg[1] != (uint8_t)q->id || !(msg[2] & 0x80))
        abort();
    size_t pos = DNS_HDR_LEN;
    struct dns_name n;
    if (dns_name_decode(msg, len, &pos, &n) || !dns_name_equal(&n, &q->qname))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!st)
        setup();
    (void)dns_msg_walk(data, size, NULL, NULL);
    struct dns_query q;
    if (dns_query_decode(data, size, &q) != DNS_DEC_OK)
        return 0;
    size_t limit = size > 12 ? 512 + (size_t)data[size - 1] * 8 : 512;

    /* Encoder round trip. */
    struct dns_msg m;
    if (dns_msg_start(&m, out, sizeof(out), limit, &q, 0))
        abort(); /* a decoded question (<= 255 + 16 bytes) always fits 512 */
    struct dns_name t = q.qname;
    uint8_t ip4[4] = {1, 2, 3, 4}, ip6[16] = {0xfd};
    for (unsigned i = 0; i < 50; i++) {
        struct dns_name d;
        if (dns_name_from_text(&d, "x.node.dc1.consul") == 0 && (i & 1))
            t = d;
        else if (q.qname.nlabels > 0) {
            t = q.qname; /* a suffix of the question: compression against it */
            size_t l;
            const uint8_t *lab = dns_name_label(&q.qname, i % q.qname.nlabels, &l);
            struct dns_name x;
            if (dns_name_from_text(&x, "p") == 0 && dns_name_append(&x, (const char *)lab, l) == 0)
                t = x;
        }
        int sec = i < 30 ? DNS_S_ANSWER : i < 40 ? DNS_S_AUTHORITY : DNS_S_ADDITIONAL;
        switch (i % 6) {
        case 0:
            dns_msg_a(&m, sec, &q.qname, i, ip4);
            break;
        case 1:
            dns_msg_aaaa(&m, sec, &t, i, ip6);
            break;
        case 2:
            dns_msg_srv(&m, sec, &q.qname, i, 1, (uint16_t)i, 80, &t);
            break;
        case 3:
            dns_msg_txt(&m, sec, &t, i, (const char *)data, size > 600 ? 600 : size);
            break;
        case 4:
            dns_msg_name_rr(&m, sec, &q.qname, DNS_T_PTR, i, &t);
            break;
        default: {
            struct dns_soa soa = {&t, &q.qname, 1, 2, 3, 4, 5};
            dns_msg_soa(&m, sec, &q.qname, i, &soa);
        }
        }
    }
    size_t len = dns_msg_finish(&m);
    check(out, len, limit, &q);

    /* The resolver, as UDP (the query's own size) and as TCP. */
    int action;
    size_t ulimit = q.edns ? q.udp_size : DNS_UDP_MIN;
    len = dns__resolve(&res, st, &q, out, sizeof(out), ulimit, !q.edns, 1, &action);
    if (action == DNS__ANSWER)
        check(out, len, ulimit, &q);
    if (action == DNS__QUERY_FAILOVER && (len != 0 || res.fo_key[0] != 'f'))
        abort(); /* the query as looked up, to be asked of other datacenters */
    len = dns__resolve(&res, st, &q, out, sizeof(out), DNS_TCP_MAX, false, 1, &action);
    if (action == DNS__ANSWER)
        check(out, len, DNS_TCP_MAX, &q);
    return 0;
}
