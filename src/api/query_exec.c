/* api/query_exec.c: executing a prepared query (Consul's
 * agent/consul/prepared_query_endpoint.go Execute and its filters:
 * FilterIgnore, nodeMetaFilter, serviceMetaFilter, tagFilter, then Shuffle,
 * the Near node first, and the limit). Pure over the state; the HTTP side
 * (query.c) and the DNS interface call it. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "acl/acl.h"
#include "api/api.h"
#include "api/query.h"
#include "base/err.h"
#include "base/mem.h"

void api_query_exec_free(struct api_query_exec *x)
{
    cn_free(x->inst);
    cn_free(x->service);
    cn_free(x->dns_ttl);
    cn_free(x->query_id);
    x->inst = NULL;
    x->ninst = 0;
    x->service = x->dns_ttl = x->query_id = NULL;
}

/* PreparedQueryResolve: by ID, then a query's exact name, then the template
 * whose name is the longest prefix. */
static const struct state_query *resolve(const struct state *st, const char *key)
{
    const struct state_query *q = state_query_get(st, key);
    if (!q)
        q = state_query_by_name(st, key);
    if (!q)
        q = state_query_template_match(st, key);
    return q;
}

struct walk {
    const struct state *st;
    const struct api_pq *q;
    const struct state_service **v;
    size_t n, cap;
    bool healthy; /* scratch */
    int err;
    const struct acl_authz *z; /* NULL = no ACL filter */
    bool filtered;
};

static int chk_cb(void *arg, const struct state_check *c)
{
    struct walk *w = arg;
    for (size_t i = 0; i < w->q->nignore; i++)
        if (!strcmp(c->check_id, w->q->ignore[i]))
            return 0;
    if (!strcmp(c->status, "critical") ||
        (w->q->only_passing && strcmp(c->status, "passing") != 0)) {
        w->healthy = false;
        return 1;
    }
    return 0;
}

/* structs.SatisfiesMetaFilters: every pair present with the same value. */
static bool meta_ok(const struct state_map *have, const struct state_map *want)
{
    for (size_t i = 0; i < want->n; i++) {
        bool found = false;
        for (size_t j = 0; j < have->n && !found; j++)
            found = !strcmp(have->items[j].k, want->items[i].k) &&
                    !strcmp(have->items[j].v, want->items[i].v);
        if (!found)
            return false;
    }
    return true;
}

static bool has_tag(const struct state_service *s, const char *t)
{
    for (size_t i = 0; i < s->ntags; i++)
        if (!strcasecmp(s->tags[i], t))
            return true;
    return false;
}

/* tagFilter: case-insensitive; "!t" must be absent, the others present. */
static bool tags_ok(const struct state_service *s, const struct api_pq *q)
{
    for (size_t i = 0; i < q->ntags; i++) {
        const char *t = q->tags[i];
        bool neg = t[0] == '!';
        if (has_tag(s, neg ? t + 1 : t) == neg)
            return false;
    }
    return true;
}

static int inst_cb(void *arg, const struct state_service *s)
{
    struct walk *w = arg;
    const struct state_node *n = state_node_get(w->st, s->node);
    if (!n)
        return 0;
    /* filterACL on CheckServiceNodes: node:read and service:read */
    if (w->z && (!acl_allowed(w->z, ACL_R_NODE, n->name, ACL_A_READ) ||
                 !acl_allowed(w->z, ACL_R_SERVICE, s->service, ACL_A_READ))) {
        w->filtered = true;
        return 0;
    }
    w->healthy = true;
    state_instance_checks(w->st, s, chk_cb, w);
    if (!w->healthy || !meta_ok(&n->meta, &w->q->node_meta) ||
        !meta_ok(&s->meta, &w->q->service_meta) || !tags_ok(s, w->q))
        return 0;
    if (w->n == w->cap) {
        size_t nc = w->cap ? 2 * w->cap : 16;
        const struct state_service **v = cn_realloc(w->v, nc * sizeof(*v));
        if (!v) {
            w->err = CN_ENOMEM;
            return 1;
        }
        w->v = v;
        w->cap = nc;
    }
    w->v[w->n++] = s;
    return 0;
}

static uint64_t next(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static char *sdup(const char *s)
{
    return cn_strdup(s ? s : "");
}

static int run(const struct state *st, struct api_query_exec *x, const struct api_pq *q,
               const struct acl_authz *z)
{
    struct walk w = {st, q, NULL, 0, 0, false, 0, z, false};
    state_service_instances(st, q->service, inst_cb, &w);
    x->filtered = w.filtered;
    if (w.err) {
        cn_free(w.v);
        return w.err;
    }
    /* Shuffle (Fisher-Yates): with no network coordinates this is the order
     * Consul gives too. */
    for (size_t i = w.n; x->rng && i > 1; i--) {
        size_t j = (size_t)(next(&x->rng) % i);
        const struct state_service *t = w.v[i - 1];
        w.v[i - 1] = w.v[j];
        w.v[j] = t;
    }
    const char *near = x->near && *x->near ? x->near : q->near;
    if (near && !strcmp(near, "_agent"))
        near = x->agent_node;
    if (near && *near && w.n > 1) {
        /* sortNodesByDistanceFrom: by estimated round trip from the Near
         * node's coordinate (none: the shuffled order stays) */
        size_t *perm = cn_malloc(w.n * sizeof(*perm));
        const char **names = cn_malloc(w.n * sizeof(*names));
        const struct state_service **sorted = cn_malloc(w.n * sizeof(*sorted));
        if (perm && names && sorted) {
            for (size_t i = 0; i < w.n; i++)
                names[i] = w.v[i]->node;
            if (api__near_order(st, near, names, w.n, perm)) {
                for (size_t i = 0; i < w.n; i++)
                    sorted[i] = w.v[perm[i]];
                memcpy(w.v, sorted, w.n * sizeof(*sorted));
            }
        }
        cn_free(perm);
        cn_free(names);
        cn_free(sorted);
    }
    if (near && *near) {
        /* then the Near node itself first, if among the first ten */
        for (size_t i = 0; i < w.n && i < 10; i++) {
            if (!strcasecmp(w.v[i]->node, near)) {
                const struct state_service *t = w.v[0];
                w.v[0] = w.v[i];
                w.v[i] = t;
                break;
            }
        }
    }
    if (x->limit && w.n > x->limit)
        w.n = x->limit;
    x->inst = w.v;
    x->ninst = w.n;
    x->service = sdup(q->service);
    x->dns_ttl = sdup(q->dns_ttl);
    return x->service && x->dns_ttl ? 0 : CN_ENOMEM;
}

int api_query_execute(const struct state *st, struct api_query_exec *x, char *err, size_t cap)
{
    x->inst = NULL;
    x->ninst = 0;
    x->service = x->dns_ttl = x->query_id = NULL;
    const struct state_query *sq = x->name_or_id ? resolve(st, x->name_or_id) : NULL;
    if (!sq) {
        snprintf(err, cap, "Query not found");
        return CN_ENOTFOUND;
    }
    struct api_pq def, r;
    int rc = api__pq_from_state(sq, &def);
    if (rc) {
        snprintf(err, cap, "out of memory");
        return rc;
    }
    const struct api_pq *use = &def;
    bool rendered = false;
    if (sq->is_template) {
        rc = api__pq_render(&def, x->name_or_id, &r, err, cap);
        if (!rc) {
            use = &r;
            rendered = true;
        }
    }
    /* Consul's Execute: the query's captured Token if it has one, else the
     * caller's token, filters the answer (api/query.c supplies it). */
    struct acl_authz *z = NULL;
    if (!rc && x->acl) {
        rc = x->acl(x->acl_arg, def.token, &z);
        if (rc)
            snprintf(err, cap, "%s", rc == CN_ENOTFOUND ? "ACL not found" : cn_strerror(rc));
    }
    if (!rc) {
        x->query_id = sdup(sq->id);
        rc = x->query_id ? run(st, x, use, z) : CN_ENOMEM;
        if (rc == CN_ENOMEM)
            snprintf(err, cap, "out of memory");
    }
    if (z)
        acl_authz_unref(z);
    if (rendered)
        api__pq_clear(&r);
    api__pq_clear(&def);
    if (rc)
        api_query_exec_free(x);
    return rc;
}

int api__query_run(const struct state *st, struct api_query_exec *x, const struct api_pq *q)
{
    x->inst = NULL;
    x->ninst = 0;
    x->service = x->dns_ttl = x->query_id = NULL;
    /* As api_query_execute: the definition's Token, else the caller's. */
    struct acl_authz *z = NULL;
    int rc = x->acl ? x->acl(x->acl_arg, q->token, &z) : 0;
    if (!rc)
        rc = run(st, x, q, z);
    if (z)
        acl_authz_unref(z);
    if (rc)
        api_query_exec_free(x);
    return rc;
}
