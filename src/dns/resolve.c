/* dns/resolve.c: Consul's names, answered from the local state. Pure: the
 * state, the query and a clock value in, a message out (dns_int.h).
 *
 * The forms (website/content/docs/services/discovery/dns-static-lookups.mdx,
 * agent/dns.go dispatch):
 *   [TAG.]SERVICE.service[.DC].DOMAIN   A/AAAA, SRV (+ A/AAAA, TXT additional)
 *   _SERVICE._TAG.service[.DC].DOMAIN   RFC 2782 (_tcp: no tag filter)
 *   NODE.node[.DC].DOMAIN               A/AAAA, TXT node meta
 *   HEXIP.addr[.DC].DOMAIN              the address itself
 *   reverse names under in-addr.arpa / ip6.arpa: PTR to nodes and services
 *   the domain's SOA and NS; ANY
 *   NAME_OR_ID.query[.DC].DOMAIN        a prepared query's result (A/AAAA, SRV)
 *   _NAME_OR_ID._tcp.query[.DC].DOMAIN  the same, RFC 2782 (the protocol ignored)
 * An instance with any critical check (node or service, maintenance
 * included: maintenance is a critical check) is left out; only_passing also
 * drops warnings (agent/dns.go: Filter(OnlyPassing)). */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/dur.h"
#include "base/err.h"
#include "base/mem.h"
#include "dns/dns_int.h"
#include "state/state.h"

static bool build_name_slow(struct dns_name *out, const char *first, const char *kind,
                            const char *dc, const struct dns_name *base);
static const char *const sfx_kind[3];

static char *dup_or_empty(const char *s)
{
    return cn_strdup(s ? s : "");
}

int dns__resolver_init(struct dns_resolver *r, const struct dns_options *o, uint64_t seed,
                       char *err, size_t errcap)
{
    memset(r, 0, sizeof(*r));
    if (dns_name_from_text(&r->domain, o->domain ? o->domain : "consul.") ||
        r->domain.nlabels == 0) {
        snprintf(err, errcap, "invalid DNS domain \"%s\"", o->domain ? o->domain : "");
        return CN_EINVAL;
    }
    if (o->alt_domain && *o->alt_domain) {
        if (dns_name_from_text(&r->alt, o->alt_domain) || r->alt.nlabels == 0) {
            snprintf(err, errcap, "invalid DNS alt domain \"%s\"", o->alt_domain);
            return CN_EINVAL;
        }
        r->has_alt = true;
    }
    r->dc = dup_or_empty(o->datacenter);
    r->node_name = dup_or_empty(o->node_name);
    r->node_addr = dup_or_empty(o->node_addr);
    if (!r->dc || !r->node_name || !r->node_addr)
        goto oom;
    if (o->nservice_ttl) {
        r->service_ttl = cn_calloc(o->nservice_ttl, sizeof(*r->service_ttl));
        if (!r->service_ttl)
            goto oom;
        for (size_t i = 0; i < o->nservice_ttl; i++) {
            r->service_ttl[i].ttl = o->service_ttl[i].ttl;
            r->service_ttl[i].name = cn_strdup(o->service_ttl[i].name);
            r->nservice_ttl++;
            if (!r->service_ttl[i].name)
                goto oom;
        }
    }
    for (int k = 0; k < 3; k++)
        for (int b = 0; b < 2; b++) {
            r->sfx_ok[k][b] =
                (b == 0 || r->has_alt) &&
                build_name_slow(&r->sfx[k][b], ".", sfx_kind[k], r->dc, b ? &r->alt : &r->domain);
        }
    r->node_ttl = o->node_ttl;
    r->only_passing = o->only_passing;
    r->order_by_weight = o->order_by_weight;
    r->node_meta_txt = o->node_meta_txt;
    r->enable_truncate = o->enable_truncate;
    r->udp_answer_limit = o->udp_answer_limit;
    r->soa_refresh = o->soa_refresh;
    r->soa_retry = o->soa_retry;
    r->soa_expire = o->soa_expire;
    r->soa_min_ttl = o->soa_min_ttl;
    r->recursors = o->nrecursors > 0;
    r->query_exec = o->query_exec;
    r->query_arg = o->query_arg;
    r->dc_remote = o->dc_remote != NULL;
    r->query_failover = o->query_failover != NULL;
    r->acl_may = o->acl_may;
    r->rng = seed ? seed : 0x9E3779B97F4A7C15ull;
    return 0;
oom:
    dns__resolver_free(r);
    snprintf(err, errcap, "out of memory");
    return CN_ENOMEM;
}

void dns__resolver_free(struct dns_resolver *r)
{
    cn_free(r->dc);
    cn_free(r->node_name);
    cn_free(r->node_addr);
    for (size_t i = 0; i < r->nservice_ttl; i++)
        cn_free((char *)r->service_ttl[i].name);
    cn_free(r->service_ttl);
    cn_free(r->inst);
    cn_free(r->tgt);
    for (int i = 0; i < DNS__CACHE; i++)
        cn_free(r->cache[i].inst);
    memset(r, 0, sizeof(*r));
}

static uint64_t rng_next(struct dns_resolver *r)
{
    /* xorshift64*: answers are shuffled, not secret. */
    uint64_t x = r->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->rng = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* ---- helpers ------------------------------------------------------------------ */

struct ctx {
    struct dns_resolver *r;
    const struct state *st;
    const struct dns_query *q;
    struct dns_msg *m;
    const struct dns_name *base; /* the domain the query came in */
    bool small_udp;
    uint32_t serial;
    int action; /* DNS__ANSWER, or DNS__QUERY_FAILOVER from query_visit */
};

static bool label_is(const struct dns_name *n, unsigned i, const char *word)
{
    size_t l;
    const uint8_t *s = dns_name_label(n, i, &l);
    if (strlen(word) != l)
        return false;
    for (size_t k = 0; k < l; k++) {
        uint8_t c = s[k];
        if (c >= 'A' && c <= 'Z')
            c = (uint8_t)(c + 32);
        if (c != (uint8_t)word[k])
            return false;
    }
    return true;
}

/* Label i as a C string into out (lowercased when `low`); false when it
 * holds a NUL (no catalog name does). */
static bool label_str(const struct dns_name *n, unsigned i, char *out, size_t cap, bool low)
{
    size_t l;
    const uint8_t *s = dns_name_label(n, i, &l);
    if (l + 1 > cap || memchr(s, 0, l))
        return false;
    for (size_t k = 0; k < l; k++)
        out[k] = (char)(low && s[k] >= 'A' && s[k] <= 'Z' ? s[k] + 32 : s[k]);
    out[l] = '\0';
    return true;
}

static bool build_name_slow(struct dns_name *out, const char *first, const char *kind,
                            const char *dc, const struct dns_name *base)
{
    if (dns_name_from_text(out, first) || dns_name_append(out, kind, strlen(kind)) ||
        dns_name_append(out, dc, strlen(dc)))
        return false;
    for (unsigned i = 0; i < base->nlabels; i++) {
        size_t l;
        const uint8_t *s = dns_name_label(base, i, &l);
        if (dns_name_append(out, (const char *)s, l))
            return false;
    }
    return true;
}

/* out = the labels of `first` (dotted text), then the whole of sfx. */
static bool name_join(struct dns_name *out, const char *first, const struct dns_name *sfx)
{
    if (dns_name_from_text(out, first))
        return false;
    size_t at = (size_t)out->len - 1;
    if (at + sfx->len > DNS_NAME_MAX || out->nlabels + sfx->nlabels > sizeof(out->off))
        return false;
    memcpy(out->wire + at, sfx->wire, sfx->len);
    for (unsigned i = 0; i < sfx->nlabels; i++)
        out->off[out->nlabels + i] = (uint8_t)(at + sfx->off[i]);
    out->nlabels = (uint8_t)(out->nlabels + sfx->nlabels);
    out->len = (uint8_t)(at + sfx->len);
    return true;
}

enum { SFX_NODE, SFX_ADDR, SFX_SERVICE };
static const char *const sfx_kind[3] = {"node", "addr", "service"};

/* first + "KIND.DC.DOMAIN" (the suffix prebuilt at init for the domain and
 * the alt domain). false when the name would be too long. */
static bool build_name(const struct dns_resolver *r, struct dns_name *out, const char *first,
                       int kind, const struct dns_name *base)
{
    int b = base == &r->alt ? 1 : 0;
    if (r->sfx_ok[kind][b])
        return name_join(out, first, &r->sfx[kind][b]);
    return build_name_slow(out, first, sfx_kind[kind], r->dc, base);
}

static uint32_t service_ttl(const struct dns_resolver *r, const char *name)
{
    /* agent/config: an exact name first, then the longest "prefix*", then "*". */
    size_t best = 0;
    bool found = false;
    uint32_t ttl = 0;
    for (size_t i = 0; i < r->nservice_ttl; i++) {
        const char *k = r->service_ttl[i].name;
        size_t kl = strlen(k);
        if (strcmp(k, name) == 0)
            return r->service_ttl[i].ttl;
        if (kl && k[kl - 1] == '*' && strncmp(k, name, kl - 1) == 0 && (!found || kl > best)) {
            best = kl;
            found = true;
            ttl = r->service_ttl[i].ttl;
        }
    }
    return ttl;
}

static void add_soa(struct ctx *c, int sec)
{
    struct dns_name mname, rname;
    static const char ns[] = "ns", hm[] = "hostmaster";
    dns_name_from_text(&mname, ns);
    dns_name_from_text(&rname, hm);
    for (unsigned i = 0; i < c->base->nlabels; i++) {
        size_t l;
        const uint8_t *s = dns_name_label(c->base, i, &l);
        dns_name_append(&mname, (const char *)s, l);
        dns_name_append(&rname, (const char *)s, l);
    }
    struct dns_soa soa = {&mname,          &rname,           c->serial,        c->r->soa_refresh,
                          c->r->soa_retry, c->r->soa_expire, c->r->soa_min_ttl};
    /* Consul: the SOA's TTL is its minimum, so negative caching is consistent. */
    dns_msg_soa(c->m, sec, c->base, c->r->soa_min_ttl, &soa);
}

static void nxdomain(struct ctx *c)
{
    dns_msg_set_rcode(c->m, DNS_RC_NXDOMAIN);
    add_soa(c, DNS_S_AUTHORITY);
}

/* The name exists but has no record of the asked type (RFC 2308 §2.2). */
static void nodata(struct ctx *c)
{
    add_soa(c, DNS_S_AUTHORITY);
}

enum addr_kind { ADDR_NONE, ADDR_V4, ADDR_V6, ADDR_HOST };

/* Dotted-quad IPv4 as inet_pton(AF_INET) takes it (no leading zeros). */
static bool parse_v4(const char *s, uint8_t ip[4])
{
    for (int i = 0; i < 4; i++) {
        unsigned v = 0, nd = 0;
        while (*s >= '0' && *s <= '9') {
            if (nd && v == 0)
                return false; /* a leading zero */
            v = v * 10 + (unsigned)(*s++ - '0');
            if (++nd > 3 || v > 255)
                return false;
        }
        if (!nd || *s != (i == 3 ? '\0' : '.'))
            return false;
        s++;
        ip[i] = (uint8_t)v;
    }
    return true;
}

static enum addr_kind parse_addr(const char *s, uint8_t ip[16])
{
    if (!s || !*s)
        return ADDR_NONE;
    if (parse_v4(s, ip))
        return ADDR_V4;
    if (inet_pton(AF_INET, s, ip) == 1)
        return ADDR_V4;
    if (inet_pton(AF_INET6, s, ip) == 1)
        return ADDR_V6;
    return ADDR_HOST;
}

/* Add the A or AAAA (or a CNAME for a host name) of addr at owner, when the
 * query type asks for it. Returns 1 when a record was added (or did not fit),
 * 0 when the type does not match. */
static int addr_record(struct ctx *c, int sec, const struct dns_name *owner, uint32_t ttl,
                       const char *addr, uint16_t qtype)
{
    uint8_t ip[16];
    switch (parse_addr(addr, ip)) {
    case ADDR_V4:
        if (qtype == DNS_T_A || qtype == DNS_T_ANY) {
            dns_msg_a(c->m, sec, owner, ttl, ip);
            return 1;
        }
        return 0;
    case ADDR_V6:
        if (qtype == DNS_T_AAAA || qtype == DNS_T_ANY) {
            dns_msg_aaaa(c->m, sec, owner, ttl, ip);
            return 1;
        }
        return 0;
    case ADDR_HOST: {
        struct dns_name t;
        if (dns_name_from_text(&t, addr))
            return 0;
        dns_msg_name_rr(c->m, sec, owner, DNS_T_CNAME, ttl, &t);
        return 1;
    }
    case ADDR_NONE:
        break;
    }
    return 0;
}

static void meta_txt(struct ctx *c, int sec, const struct dns_name *owner, uint32_t ttl,
                     const struct state_node *n)
{
    char txt[512];
    for (size_t i = 0; i < n->meta.n; i++) {
        const struct state_pair *p = &n->meta.items[i];
        /* Consul (agent/dns.go generateMeta): "key=value"; keys Consul
         * reserves ("rfc1035-") are written as the value alone. */
        int len;
        if (strncmp(p->k, "rfc1035-", 8) == 0)
            len = snprintf(txt, sizeof(txt), "%s", p->v);
        else
            len = snprintf(txt, sizeof(txt), "%s=%s", p->k, p->v);
        if (len < 0)
            continue;
        size_t l = (size_t)len < sizeof(txt) ? (size_t)len : sizeof(txt) - 1;
        if (dns_msg_txt(c->m, sec, owner, ttl, txt, l))
            return;
    }
}

/* ---- service lookups ---------------------------------------------------------- */

struct walk {
    struct ctx *c;
    const char *tag; /* NULL: no filter */
    int worst;       /* of the instance being looked at: 0 passing, 1 warning, 2 critical */
    int err;
};

static int chk_cb(void *arg, const struct state_check *chk)
{
    struct walk *w = arg;
    if (strcmp(chk->status, "critical") == 0) {
        w->worst = 2;
        return 1;
    }
    if (strcmp(chk->status, "passing") != 0 && w->worst < 1)
        w->worst = 1;
    return 0;
}

static bool tag_match(const struct state_service *s, const char *tag)
{
    for (size_t i = 0; i < s->ntags; i++)
        if (strcasecmp(s->tags[i], tag) == 0)
            return true;
    return false;
}

/* Append instance s of node n, `worst` its checks' worst status (0 passing,
 * 1 warning: the SRV weight). 0 or CN_ENOMEM. */
static int push_inst(struct dns_resolver *r, const struct state_service *s,
                     const struct state_node *n, int worst)
{
    if (r->ninst == r->capinst) {
        size_t cap = r->capinst ? r->capinst * 2 : 64;
        struct dns__inst *p = cn_realloc(r->inst, cap * sizeof(*p));
        if (!p)
            return CN_ENOMEM;
        r->inst = p;
        r->capinst = cap;
    }
    int wt = worst == 1 ? s->weight_warning : s->weight_passing;
    if (wt < 0)
        wt = 0;
    if (wt > 65535)
        wt = 65535;
    struct dns__inst *in = &r->inst[r->ninst++];
    in->svc = s;
    in->node = n;
    in->addr = *s->address ? s->address : n->address;
    in->weight = (uint16_t)wt;
    in->kind = (uint8_t)parse_addr(in->addr, in->ip);
    return 0;
}

static int inst_cb(void *arg, const struct state_service *s)
{
    struct walk *w = arg;
    struct dns_resolver *r = w->c->r;
    if (w->tag && !tag_match(s, w->tag))
        return 0;
    const struct state_node *n = state_node_get(w->c->st, s->node);
    if (!n || (r->acl_may && !r->acl_may(r->query_arg, true, n->name)))
        return 0;
    w->worst = 0;
    state_instance_checks(w->c->st, s, chk_cb, w);
    if (w->worst == 2 || (w->worst == 1 && r->only_passing))
        return 0;
    if (push_inst(r, s, n, w->worst)) {
        w->err = CN_ENOMEM;
        return 1;
    }
    return 0;
}

static void order(struct dns_resolver *r, bool shuffle)
{
    size_t n = r->ninst;
    if (r->order_by_weight) {
        /* cairn's own option: heaviest first (stable insertion sort; the
         * catalog order breaks ties). */
        for (size_t i = 1; i < n; i++) {
            struct dns__inst x = r->inst[i];
            size_t j = i;
            while (j > 0 && r->inst[j - 1].weight < x.weight) {
                r->inst[j] = r->inst[j - 1];
                j--;
            }
            r->inst[j] = x;
        }
        return;
    }
    for (size_t i = n; shuffle && i > 1; i--) { /* Fisher-Yates: a new order per response */
        size_t j = (size_t)(rng_next(r) % i);
        struct dns__inst t = r->inst[i - 1];
        r->inst[i - 1] = r->inst[j];
        r->inst[j] = t;
    }
}

static bool same_addr_before(const struct dns_resolver *r, size_t i)
{
    const struct dns__inst *x = &r->inst[i];
    for (size_t k = 0; k < i; k++) {
        const struct dns__inst *y = &r->inst[k];
        if (y->kind != x->kind)
            continue;
        if (x->kind == ADDR_V4   ? memcmp(x->ip, y->ip, 4) == 0
            : x->kind == ADDR_V6 ? memcmp(x->ip, y->ip, 16) == 0
                                 : strcmp(x->addr, y->addr) == 0)
            return true;
    }
    return false;
}

/* The SRV target of an instance: NODE.node.DC.DOMAIN, or, when the service
 * has its own address, HEXIP.addr.DC.DOMAIN (an IP) or the host name itself
 * (Consul's agent/dns.go makeRecordFromServiceNode / encodeIPAsFqdn). */
static bool srv_target(struct ctx *c, const struct dns__inst *in, struct dns_name *t, bool *is_node)
{
    const struct state_service *s = in->svc;
    *is_node = false;
    if (*s->address && strcmp(s->address, in->node->address) != 0) {
        /* in->addr is the service address here, parsed into in->ip. */
        if (in->kind == ADDR_HOST)
            return dns_name_from_text(t, s->address) == 0;
        static const char digits[] = "0123456789abcdef";
        char hex[33];
        size_t nb = in->kind == ADDR_V4 ? 4 : 16;
        for (size_t i = 0; i < nb; i++) {
            hex[2 * i] = digits[in->ip[i] >> 4];
            hex[2 * i + 1] = digits[in->ip[i] & 15];
        }
        hex[2 * nb] = '\0';
        return build_name(c->r, t, hex, SFX_ADDR, c->base);
    }
    *is_node = true;
    return build_name(c->r, t, in->node->name, SFX_NODE, c->base);
}

static struct dns__cache_ent *cache_find(struct dns_resolver *r, const struct state *st,
                                         const char *service, const char *tag)
{
    uint64_t idx = state_last_index(st);
    for (int i = 0; i < DNS__CACHE; i++) {
        struct dns__cache_ent *e = &r->cache[i];
        if (e->index && e->index == idx && e->st == st && !strcmp(e->name, service) &&
            !strcmp(e->tag, tag))
            return e;
    }
    return NULL;
}

static void cache_put(struct dns_resolver *r, const struct state *st, const char *service,
                      const char *tag)
{
    if (strlen(service) >= sizeof(r->cache[0].name) || strlen(tag) >= sizeof(r->cache[0].tag))
        return;
    struct dns__cache_ent *e = &r->cache[r->cache_next++ % DNS__CACHE];
    e->index = 0;
    if (e->cap < r->ninst) {
        struct dns__inst *p = cn_realloc(e->inst, r->ninst * sizeof(*p));
        if (!p)
            return; /* no cache entry: the next query walks again */
        e->inst = p;
        e->cap = r->ninst;
    }
    if (r->ninst)
        memcpy(e->inst, r->inst, r->ninst * sizeof(*e->inst));
    e->n = r->ninst;
    e->st = st;
    e->index = state_last_index(st);
    snprintf(e->name, sizeof(e->name), "%s", service);
    snprintf(e->tag, sizeof(e->tag), "%s", tag);
}

static void answer_instances(struct ctx *c, uint32_t ttl);

static void service_lookup(struct ctx *c, const char *service, const char *tag)
{
    struct dns_resolver *r = c->r;
    struct walk w = {c, tag && *tag ? tag : NULL, 0, 0};
    r->ninst = 0;
    if (r->acl_may && !r->acl_may(r->query_arg, false, service))
        return nxdomain(c);
    struct dns__cache_ent *ce = cache_find(r, c->st, service, tag ? tag : "");
    if (ce) {
        r->ninst = ce->n; /* the cache never holds more than inst's capacity */
        if (ce->n)
            memcpy(r->inst, ce->inst, ce->n * sizeof(*r->inst));
        goto walked;
    }
    state_service_instances(c->st, service, inst_cb, &w);
    if (r->ninst == 0) {
        /* DNS names are case-insensitive; the catalog's are not: a name
         * asked in other case than registered is looked up lowercased too. */
        char low[256];
        size_t l = strlen(service);
        bool differs = false;
        for (size_t i = 0; i <= l && i < sizeof(low); i++) {
            low[i] = (char)(service[i] >= 'A' && service[i] <= 'Z' ? service[i] + 32 : service[i]);
            differs |= low[i] != service[i];
        }
        if (differs && l < sizeof(low))
            state_service_instances(c->st, low, inst_cb, &w);
    }
    if (w.err) {
        dns_msg_set_rcode(c->m, DNS_RC_SERVFAIL);
        return;
    }
    cache_put(r, c->st, service, tag ? tag : "");
walked:
    if (r->ninst == 0)
        return nxdomain(c);
    order(r, true);
    answer_instances(c, service_ttl(r, service));
}

/* <service>.connect.<domain> (Consul's "Connect-capable service lookups"):
 * the healthy connect-proxy instances whose destination is service and its
 * Connect-native instances, answered as a service's (their own addresses
 * and ports); no tags, this datacenter only, as Consul's docs say. */
static void connect_lookup(struct ctx *c, const char *service)
{
    struct dns_resolver *r = c->r;
    struct walk w = {c, NULL, 0, 0};
    r->ninst = 0;
    if (r->acl_may && !r->acl_may(r->query_arg, false, service))
        return nxdomain(c);
    state_connect_instances(c->st, service, inst_cb, &w);
    char low[256];
    size_t l = strlen(service);
    bool differs = false;
    for (size_t i = 0; r->ninst == 0 && i <= l && i < sizeof(low); i++) {
        low[i] = (char)(service[i] >= 'A' && service[i] <= 'Z' ? service[i] + 32 : service[i]);
        differs |= low[i] != service[i];
    }
    if (r->ninst == 0 && differs && l < sizeof(low)) /* as service_lookup */
        state_connect_instances(c->st, low, inst_cb, &w);
    if (w.err) {
        dns_msg_set_rcode(c->m, DNS_RC_SERVFAIL);
        return;
    }
    if (r->ninst == 0)
        return nxdomain(c);
    order(r, true);
    answer_instances(c, service_ttl(r, service));
}

/* The answer (SRV with the targets' addresses additional, or A/AAAA) from
 * the r->inst[0..ninst) in their order. */
static void answer_instances(struct ctx *c, uint32_t ttl)
{
    struct dns_resolver *r = c->r;
    const struct dns_name *owner = &c->q->qname;
    uint16_t qt = c->q->qtype;
    unsigned limit = c->small_udp ? r->udp_answer_limit : 0;
    unsigned added = 0;
    bool trimmed = false;
    if (qt == DNS_T_SRV) {
        if (r->captgt < r->capinst) {
            struct dns__target *p = cn_realloc(r->tgt, r->capinst * sizeof(*p));
            if (!p) {
                dns_msg_set_rcode(c->m, DNS_RC_SERVFAIL);
                return;
            }
            r->tgt = p;
            r->captgt = r->capinst;
        }
        size_t last = 0; /* instances looked at */
        for (size_t i = 0; i < r->ninst; i++, last = i) {
            if (limit && added >= limit) {
                trimmed = true;
                break;
            }
            const struct dns__inst *in = &r->inst[i];
            struct dns__target *t = &r->tgt[i];
            t->ok = srv_target(c, in, &t->name, &t->is_node);
            if (!t->ok)
                continue;
            int port = in->svc->port < 0 || in->svc->port > 65535 ? 0 : in->svc->port;
            if (dns_msg_srv(c->m, DNS_S_ANSWER, owner, ttl, 1, in->weight, (uint16_t)port,
                            &t->name))
                break;
            added++;
        }
        /* The targets' addresses (and node meta) in the additional section,
         * once per target, for the records that made it into the answer. */
        for (size_t i = 0; i < last; i++) {
            const struct dns__inst *in = &r->inst[i];
            const struct dns__target *t = &r->tgt[i];
            bool dup = !t->ok;
            for (size_t k = 0; k < i && !dup; k++) {
                const struct dns__inst *o = &r->inst[k];
                if (!r->tgt[k].ok || r->tgt[k].is_node != t->is_node)
                    continue;
                dup = t->is_node ? o->node == in->node
                                 : o->kind == in->kind && !memcmp(o->ip, in->ip, 16) &&
                                       in->kind != ADDR_HOST;
            }
            if (dup)
                continue;
            if (in->kind == ADDR_V4)
                dns_msg_a(c->m, DNS_S_ADDITIONAL, &t->name, ttl, in->ip);
            else if (in->kind == ADDR_V6)
                dns_msg_aaaa(c->m, DNS_S_ADDITIONAL, &t->name, ttl, in->ip);
            if (t->is_node && r->node_meta_txt)
                meta_txt(c, DNS_S_ADDITIONAL, &t->name, ttl, in->node);
        }
    } else if (qt == DNS_T_A || qt == DNS_T_AAAA || qt == DNS_T_ANY) {
        for (size_t i = 0; i < r->ninst; i++) {
            const struct dns__inst *in = &r->inst[i];
            if (same_addr_before(r, i))
                continue;
            if (limit && added >= limit) {
                trimmed = true;
                break;
            }
            if (in->kind == ADDR_HOST) {
                /* One CNAME at most per owner (RFC 2181 §10.1): the first. */
                if (added == 0) {
                    addr_record(c, DNS_S_ANSWER, owner, ttl, in->addr, qt);
                    added++;
                }
                break;
            }
            int rc = 0;
            if (in->kind == ADDR_V4 && qt != DNS_T_AAAA)
                rc = dns_msg_a(c->m, DNS_S_ANSWER, owner, ttl, in->ip);
            else if (in->kind == ADDR_V6 && qt != DNS_T_A)
                rc = dns_msg_aaaa(c->m, DNS_S_ANSWER, owner, ttl, in->ip);
            else
                continue;
            if (rc)
                break;
            added++;
        }
    }
    if (trimmed && r->enable_truncate)
        c->m->tc = true;
    if (added == 0 && !c->m->tc)
        nodata(c);
}

/* ---- prepared queries ------------------------------------------------------------- */

struct qvisit {
    struct ctx *c;
    const char *key; /* the query's name or ID as looked up */
    int worst;
    int err;
    bool visited;
};

/* The SRV weight's health: the query's execution already dropped the
 * instances its rules exclude (a critical check left here is one of its
 * IgnoreCheckIDs, which Consul's FilterIgnore removes), so only warnings
 * count. */
static int qchk_cb(void *arg, const struct state_check *chk)
{
    struct qvisit *v = arg;
    if (strcmp(chk->status, "passing") != 0 && strcmp(chk->status, "critical") != 0)
        v->worst = 1;
    return 0;
}

static void query_visit(void *varg, const struct dns_query_answer *a)
{
    struct qvisit *v = varg;
    struct ctx *c = v->c;
    struct dns_resolver *r = c->r;
    v->visited = true;
    r->ninst = 0;
    for (size_t i = 0; i < a->ninst && !v->err; i++) {
        const struct state_service *s = a->inst[i];
        const struct state_node *n = state_node_get(c->st, s->node);
        if (!n)
            continue;
        v->worst = 0;
        state_instance_checks(c->st, s, qchk_cb, v);
        v->err = push_inst(r, s, n, v->worst);
    }
    if (v->err)
        return;
    if (r->ninst == 0 && a->failover && r->query_failover) {
        /* Consul's PreparedQuery.Execute fails over before the DNS sees
         * the nodes: the shell asks the other datacenters (dcremote.c). */
        snprintf(r->fo_key, sizeof(r->fo_key), "%s", v->key);
        c->action = DNS__QUERY_FAILOVER;
        return;
    }
    if (r->ninst == 0)
        return nxdomain(c); /* agent/dns.go: no nodes, not found */
    /* agent/dns.go preparedQueryLookup: the query's DNS.TTL, else the
     * agent's service_ttl for its service. */
    uint32_t ttl = service_ttl(r, a->service ? a->service : "");
    int64_t ns = 0;
    if (a->ttl && *a->ttl && cn_dur_parse(a->ttl, &ns) == 0 && ns >= 0) {
        int64_t sec = ns / 1000000000;
        ttl = sec > UINT32_MAX ? UINT32_MAX : (uint32_t)sec;
    }
    /* The query's order (shuffled, its Near node first) is kept, unless
     * cairn's order_by_weight asks otherwise. */
    order(r, false);
    answer_instances(c, ttl);
}

/* Labels [0, nparts) name the query: joined with '.', as Consul allows
 * dots in query names; _NAME._PROTO (both labels starting with '_') is the
 * RFC 2782 form, where the last label (the protocol) is ignored and the
 * leading '_' dropped. */
static void query_lookup(struct ctx *c, const struct dns_name *qn, unsigned nparts)
{
    char name[DNS_NAME_MAX + 1];
    size_t len = 0;
    unsigned n = nparts;
    size_t l0, ll;
    bool rfc2782 =
        n >= 2 && dns_name_label(qn, 0, &l0)[0] == '_' && dns_name_label(qn, n - 1, &ll)[0] == '_';
    if (rfc2782)
        n--;
    for (unsigned i = 0; i < n; i++) {
        if (i)
            name[len++] = '.';
        if (!label_str(qn, i, name + len, sizeof(name) - len, false))
            return nxdomain(c);
        len += strlen(name + len);
    }
    const char *key = rfc2782 ? name + 1 : name;
    if (!c->r->query_exec || !*key)
        return nxdomain(c);
    struct qvisit v = {c, key, 0, 0, false};
    int rc = c->r->query_exec(c->r->query_arg, c->st, key, query_visit, &v);
    if (rc == CN_ENOTFOUND && !v.visited) {
        /* DNS names are case-insensitive (and resolvers may randomise the
         * case, draft-vixie-dnsext-dns0x20): a name asked in other case than
         * created is looked up lowercased too, as for services. */
        bool differs = false;
        for (char *p = name; *p; p++)
            if (*p >= 'A' && *p <= 'Z') {
                *p = (char)(*p + 32);
                differs = true;
            }
        if (differs)
            rc = c->r->query_exec(c->r->query_arg, c->st, key, query_visit, &v);
    }
    if (rc == CN_ENOTFOUND && !v.visited)
        return nxdomain(c);
    if (rc || v.err || !v.visited)
        dns_msg_set_rcode(c->m, DNS_RC_SERVFAIL);
}

/* ---- node, addr and reverse lookups ----------------------------------------------- */

static void node_lookup(struct ctx *c, const struct dns_name *qn, unsigned nparts)
{
    char name[256];
    size_t o = 0;
    for (unsigned i = 0; i < nparts; i++) {
        size_t l;
        dns_name_label(qn, i, &l);
        if (o + l + 2 > sizeof(name) || !label_str(qn, i, name + o, sizeof(name) - o, false))
            return nxdomain(c);
        o += l;
        if (i + 1 < nparts)
            name[o++] = '.';
    }
    name[o] = '\0';
    const struct state_node *n = state_node_get(c->st, name);
    if (!n) {
        for (size_t i = 0; i < o; i++)
            name[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
        n = state_node_get(c->st, name);
    }
    if (!n || (c->r->acl_may && !c->r->acl_may(c->r->query_arg, true, n->name)))
        return nxdomain(c);
    uint32_t ttl = c->r->node_ttl;
    uint16_t qt = c->q->qtype;
    const struct dns_name *owner = &c->q->qname;
    int added = 0;
    if (qt == DNS_T_A || qt == DNS_T_AAAA || qt == DNS_T_ANY)
        added += addr_record(c, DNS_S_ANSWER, owner, ttl, n->address, qt);
    if (qt == DNS_T_TXT || qt == DNS_T_ANY) {
        meta_txt(c, DNS_S_ANSWER, owner, ttl, n);
        added += n->meta.n > 0;
    } else if (added && c->r->node_meta_txt) {
        meta_txt(c, DNS_S_ADDITIONAL, owner, ttl, n);
    }
    if (!added)
        nodata(c);
}

static int hexval(uint8_t ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = (uint8_t)(ch | 0x20);
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

static void addr_lookup(struct ctx *c, const struct dns_name *qn, unsigned nparts)
{
    size_t l;
    const uint8_t *s = dns_name_label(qn, 0, &l);
    uint8_t ip[16];
    if (nparts != 1 || (l != 8 && l != 32))
        return nxdomain(c);
    for (size_t i = 0; i < l / 2; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return nxdomain(c);
        ip[i] = (uint8_t)(hi << 4 | lo);
    }
    uint16_t qt = c->q->qtype;
    uint32_t ttl = c->r->node_ttl;
    if (l == 8 && (qt == DNS_T_A || qt == DNS_T_ANY))
        dns_msg_a(c->m, DNS_S_ANSWER, &c->q->qname, ttl, ip);
    else if (l == 32 && (qt == DNS_T_AAAA || qt == DNS_T_ANY))
        dns_msg_aaaa(c->m, DNS_S_ANSWER, &c->q->qname, ttl, ip);
    else
        nodata(c);
}

struct ptr_walk {
    struct ctx *c;
    int family;
    uint8_t ip[16];
    int added;
};

static bool addr_is(const char *a, int family, const uint8_t ip[16])
{
    uint8_t x[16];
    return a && *a && inet_pton(family, a, x) == 1 &&
           memcmp(x, ip, family == AF_INET ? 4 : 16) == 0;
}

static int ptr_node_cb(void *arg, const struct state_node *n)
{
    struct ptr_walk *p = arg;
    struct dns_name t;
    if (addr_is(n->address, p->family, p->ip) &&
        build_name(p->c->r, &t, n->name, SFX_NODE, p->c->base)) {
        if (dns_msg_name_rr(p->c->m, DNS_S_ANSWER, &p->c->q->qname, DNS_T_PTR, p->c->r->node_ttl,
                            &t))
            return 1;
        p->added++;
    }
    return 0;
}

static int ptr_svc_cb(void *arg, const struct state_service *s)
{
    struct ptr_walk *p = arg;
    struct dns_name t;
    if (addr_is(s->address, p->family, p->ip) &&
        build_name(p->c->r, &t, s->service, SFX_SERVICE, p->c->base)) {
        if (dns_msg_name_rr(p->c->m, DNS_S_ANSWER, &p->c->q->qname, DNS_T_PTR,
                            service_ttl(p->c->r, s->service), &t))
            return 1;
        p->added++;
    }
    return 0;
}

/* Reverse names: d.c.b.a.in-addr.arpa (RFC 1035 §3.5) and the 32 nibbles of
 * ip6.arpa (RFC 3596 §2.5). Returns false when the name is not one. */
static bool parse_reverse(const struct dns_name *qn, int *family, uint8_t ip[16])
{
    static struct dns_name v4, v6;
    static bool init;
    if (!init) {
        dns_name_from_text(&v4, "in-addr.arpa.");
        dns_name_from_text(&v6, "ip6.arpa.");
        init = true;
    }
    if (qn->nlabels == 6 && dns_name_has_suffix(qn, &v4)) {
        for (unsigned i = 0; i < 4; i++) {
            char b[8];
            if (!label_str(qn, 3 - i, b, sizeof(b), false) || !*b ||
                strspn(b, "0123456789") != strlen(b))
                return false;
            unsigned long v = strtoul(b, NULL, 10);
            if (v > 255)
                return false;
            ip[i] = (uint8_t)v;
        }
        *family = AF_INET;
        return true;
    }
    if (qn->nlabels == 34 && dns_name_has_suffix(qn, &v6)) {
        memset(ip, 0, 16);
        for (unsigned i = 0; i < 32; i++) {
            size_t l;
            const uint8_t *s = dns_name_label(qn, 31 - i, &l);
            int v = l == 1 ? hexval(s[0]) : -1;
            if (v < 0)
                return false;
            ip[i / 2] = (uint8_t)(ip[i / 2] | (i % 2 ? v : v << 4));
        }
        *family = AF_INET6;
        return true;
    }
    return false;
}

/* NS: this agent as the domain's name server, with its address as glue. */
static void add_ns(struct ctx *c, int sec)
{
    struct dns_name t;
    if (!build_name(c->r, &t, c->r->node_name, SFX_NODE, c->base))
        return;
    if (dns_msg_name_rr(c->m, sec, c->base, DNS_T_NS, c->r->node_ttl, &t) == 0)
        addr_record(c, DNS_S_ADDITIONAL, &t, c->r->node_ttl, c->r->node_addr, DNS_T_ANY);
}

size_t dns__resolve(struct dns_resolver *r, const struct state *st, const struct dns_query *q,
                    uint8_t *buf, size_t cap, size_t limit, bool small_udp, uint32_t serial,
                    int *action)
{
    struct dns_msg m;
    *action = DNS__ANSWER;
    if (dns_msg_start(&m, buf, cap, limit, q, DNS_RC_NOERROR))
        return 0; /* the question alone does not fit: cannot happen with limit >= 512 */
    struct ctx c = {r, st, q, &m, &r->domain, small_udp, serial, DNS__ANSWER};
    const struct dns_name *qn = &q->qname;
    if (r->recursors)
        dns_msg_set_flags(&m, DNS_F_RA);
    if (q->qclass != DNS_C_IN && q->qclass != DNS_C_ANY) {
        dns_msg_set_rcode(&m, DNS_RC_NOTIMP);
        return dns_msg_finish(&m);
    }
    if (dns_name_has_suffix(qn, &r->domain))
        c.base = &r->domain;
    else if (r->has_alt && dns_name_has_suffix(qn, &r->alt))
        c.base = &r->alt;
    else {
        int family;
        uint8_t ip[16];
        if (q->qtype == DNS_T_PTR || q->qtype == DNS_T_ANY) {
            if (parse_reverse(qn, &family, ip)) {
                struct ptr_walk p = {&c, family, {0}, 0};
                memcpy(p.ip, ip, sizeof(ip));
                state_nodes_foreach(st, ptr_node_cb, &p);
                if (!m.cut)
                    state_services_foreach(st, ptr_svc_cb, &p);
                if (p.added || m.tc) {
                    dns_msg_set_flags(&m, DNS_F_AA);
                    return dns_msg_finish(&m);
                }
                if (!r->recursors) {
                    nxdomain(&c);
                    return dns_msg_finish(&m);
                }
            }
        }
        if (r->recursors) {
            *action = DNS__FORWARD;
            return 0;
        }
        /* Consul without recursors: REFUSED for names outside its domain. */
        dns_msg_set_rcode(&m, DNS_RC_REFUSED);
        return dns_msg_finish(&m);
    }
    dns_msg_set_flags(&m, DNS_F_AA);
    if (q->qtype == DNS_T_AXFR || q->qtype == 251 /* IXFR */) {
        dns_msg_set_rcode(&m, DNS_RC_NOTIMP);
        return dns_msg_finish(&m);
    }
    unsigned nl = (unsigned)(qn->nlabels - c.base->nlabels);
    /* agent/dns.go handleQuery: SOA and NS of any name in the domain answer
     * the domain's own. */
    if (q->qtype == DNS_T_SOA) {
        add_soa(&c, DNS_S_ANSWER);
        add_ns(&c, DNS_S_AUTHORITY);
        return dns_msg_finish(&m);
    }
    if (q->qtype == DNS_T_NS) {
        add_ns(&c, DNS_S_ANSWER);
        return dns_msg_finish(&m);
    }
    if (nl == 0) {
        if (q->qtype == DNS_T_ANY) {
            add_soa(&c, DNS_S_ANSWER);
            add_ns(&c, DNS_S_ANSWER);
        } else
            nodata(&c);
        return dns_msg_finish(&m);
    }
    /* The kind label, looked for from the right (agent/dns.go dispatch); an
     * SRV query may leave out "service" in the RFC 2782 form. */
    int kind = -1; /* 0 service, 1 node, 2 addr, 3 other Consul kinds, 4 query, 5 connect */
    unsigned at = 0, nparts = 0; /* at: the first label after the kind */
    static const char *const other[] = {"virtual", "ingress", "ap", "peer", "sg", "ns", "cluster"};
    for (unsigned i = nl; i-- > 0;) {
        if (label_is(qn, i, "service"))
            kind = 0;
        else if (label_is(qn, i, "node"))
            kind = 1;
        else if (label_is(qn, i, "addr"))
            kind = 2;
        else if (label_is(qn, i, "query"))
            kind = 4;
        else if (label_is(qn, i, "connect"))
            kind = 5;
        else {
            for (size_t k = 0; k < sizeof(other) / sizeof(other[0]) && kind < 0; k++)
                if (label_is(qn, i, other[k]))
                    kind = 3;
            if (kind < 0 && q->qtype == DNS_T_SRV && i > 0) {
                size_t l;
                const uint8_t *s = dns_name_label(qn, i, &l);
                if (s[0] == '_') {
                    kind = 0;
                    at = i + 1;
                    nparts = i + 1;
                    break;
                }
            }
        }
        if (kind >= 0) {
            at = i + 1; /* the first label after the kind */
            nparts = i;
            break;
        }
    }
    if (kind < 0 || kind == 3)
        goto nx; /* virtual services, peers, sameness groups...: cairn has none */
    if (nl - at > 1)
        goto nx; /* labels between the kind and the domain: at most a datacenter */
    if (nl - at == 1) {
        char dc[DNS__DC_MAX];
        if (!label_str(qn, nl - 1, dc, sizeof(dc), true))
            goto nx;
        if (strcasecmp(dc, r->dc) != 0 && !(kind == 4 && r->query_any_dc)) {
            /* another datacenter: a service, node or prepared query is
             * asked of it (the agent's WAN route; Consul's Datacenter of
             * the RPC); other kinds are NXDOMAIN. A definition sent by the
             * datacenter named (query_any_dc) answers here. */
            if (!r->dc_remote || (kind != 0 && kind != 1 && kind != 4) || nparts == 0)
                goto nx;
            snprintf(r->other_dc, sizeof(r->other_dc), "%s", dc);
            *action = DNS__OTHER_DC;
            return 0;
        }
    }
    if (kind == 1) {
        if (nparts == 0)
            goto nx;
        node_lookup(&c, qn, nparts);
        return dns_msg_finish(&m);
    }
    if (kind == 2) {
        if (nparts == 0)
            goto nx;
        addr_lookup(&c, qn, nparts);
        return dns_msg_finish(&m);
    }
    if (kind == 4) {
        if (nparts == 0)
            goto nx;
        query_lookup(&c, qn, nparts);
        if (c.action == DNS__QUERY_FAILOVER) {
            *action = DNS__QUERY_FAILOVER;
            return 0;
        }
        return dns_msg_finish(&m);
    }
    if (kind == 5) {
        char svc[256];
        if (nparts != 1 || !label_str(qn, 0, svc, sizeof(svc), false) || !*svc)
            goto nx; /* no tags on connect lookups */
        connect_lookup(&c, svc);
        return dns_msg_finish(&m);
    }
    {
        char svc[64], tag[64];
        size_t l0, l1;
        if (nparts == 2 && dns_name_label(qn, 0, &l0)[0] == '_' &&
            dns_name_label(qn, 1, &l1)[0] == '_') {
            /* RFC 2782: _service._tag; "_tcp" means no tag filter. */
            char s0[65], s1[65];
            if (!label_str(qn, 0, s0, sizeof(s0), false) ||
                !label_str(qn, 1, s1, sizeof(s1), false))
                goto nx;
            snprintf(svc, sizeof(svc), "%s", s0 + 1);
            snprintf(tag, sizeof(tag), "%s", strcasecmp(s1 + 1, "tcp") == 0 ? "" : s1 + 1);
        } else if (nparts == 1) {
            if (!label_str(qn, 0, svc, sizeof(svc), false))
                goto nx;
            tag[0] = '\0';
        } else if (nparts == 2) {
            if (!label_str(qn, 0, tag, sizeof(tag), false) ||
                !label_str(qn, 1, svc, sizeof(svc), false))
                goto nx;
        } else
            goto nx;
        if (!*svc)
            goto nx;
        service_lookup(&c, svc, tag);
        return dns_msg_finish(&m);
    }
nx:
    nxdomain(&c);
    return dns_msg_finish(&m);
}
