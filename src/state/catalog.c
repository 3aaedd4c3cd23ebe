/* state/catalog.c: nodes, services and checks. Register/deregister follow
 * Consul's EnsureRegistration/deleteNodeTxn family (agent/consul/state/
 * catalog.go): upserts that change nothing bump nothing; a node-row change
 * bumps the indexes of every service on the node (node data is part of the
 * health views); unknown items on deregister are a successful no-op. */
#include <stdio.h>
#include <string.h>

#include "base/assert.h"
#include "base/enc.h"
#include "base/err.h"
#include "base/mem.h"
#include "state/state_int.h"

#define NODE(x) CN_CONTAINER_OF(x, struct node_rec, a)
#define SVC(x) CN_CONTAINER_OF(x, struct svc_rec, by_id)
#define SVCN(x) CN_CONTAINER_OF(x, struct svc_rec, by_name)
#define CHK(x) CN_CONTAINER_OF(x, struct chk_rec, a)
#define NAME(x) CN_CONTAINER_OF(x, struct name_rec, a)

/* ---- tree ops --------------------------------------------------------------- */

static int str_cmp(const void *key, const char *s)
{
    return strcmp((const char *)key, s);
}

static int pair_cmp(const void *key, const struct pair_key *k)
{
    const struct pair_key *p = key;
    int c = strcmp(p->a, k->a);
    return c ? c : strcmp(p->b, k->b);
}

static size_t map_mem(const struct state_map *m)
{
    size_t n = m->n ? state__chunk(m->n * sizeof(*m->items)) : 0;
    for (size_t i = 0; i < m->n; i++)
        n += state__str_mem(m->items[i].k) + state__str_mem(m->items[i].v);
    return n;
}

static size_t node_mem(const struct node_rec *r)
{
    return state__chunk(sizeof(*r)) + state__str_mem(r->n.name) + state__str_mem(r->n.id) +
           state__str_mem(r->n.address) + map_mem(&r->n.tagged_addresses) + map_mem(&r->n.meta);
}

/* Service and check records are packed: one allocation each (pack.c). */
static size_t svc_mem(const struct svc_rec *r)
{
    return state__chunk(sizeof(*r) + state_service_pack(NULL, &r->s, NULL));
}

#define CHECK_STRS(c)                                                                              \
    {                                                                                              \
        (c)->node, (c)->check_id, (c)->name, (c)->status, (c)->notes, (c)->output,                 \
            (c)->service_id, (c)->service_name, (c)->type, (c)->http, (c)->method, (c)->tcp,       \
            (c)->header_json, (c)->body                                                            \
    }

/* The agent-only definition strings (NULL when not carried). */
#define CHECK_EXT_STRS(c)                                                                          \
    {                                                                                              \
        (c)->tls_server_name, (c)->udp, (c)->grpc, (c)->alias_node, (c)->alias_service,            \
            (c)->h2ping                                                                            \
    }

static size_t chk_mem(const struct chk_rec *r)
{
    return state__chunk(sizeof(*r) + state_check_pack(NULL, &r->c, NULL));
}

static int node_cmp(const void *key, const struct avl *n)
{
    return str_cmp(key, NODE(n)->n.name);
}
static const void *node_key(const struct avl *n)
{
    return NODE(n)->n.name;
}
static void node_free(struct state *s, struct avl *n)
{
    struct node_rec *r = NODE(n);
    s->mem -= node_mem(r);
    state_node_clear(&r->n);
    cn_free(r);
}
const struct avl_ops state__node_ops = {node_cmp, node_key, NULL, node_free};

static int svc_id_cmp(const void *key, const struct avl *n)
{
    return pair_cmp(key, &SVC(n)->k);
}
static const void *svc_id_key(const struct avl *n)
{
    return &SVC(n)->k;
}
static void svc_free_rec(struct state *s, struct svc_rec *r)
{
    s->mem -= svc_mem(r);
    cn_free(r);
}
static void svc_id_free(struct state *s, struct avl *n)
{
    svc_free_rec(s, SVC(n));
}
const struct avl_ops state__svc_id_ops = {svc_id_cmp, svc_id_key, NULL, svc_id_free};

static int svc_name_cmp(const void *key, const struct avl *n)
{
    return pair_cmp(key, &SVCN(n)->k);
}
static const void *svc_name_key(const struct avl *n)
{
    return &SVCN(n)->k;
}
static void svc_name_free(struct state *s, struct avl *n)
{
    svc_free_rec(s, SVCN(n)); /* never the owning entry: see link_service */
}
const struct avl_ops state__svc_name_ops = {svc_name_cmp, svc_name_key, NULL, svc_name_free};

static int chk_cmp(const void *key, const struct avl *n)
{
    return pair_cmp(key, &CHK(n)->k);
}
static const void *chk_key(const struct avl *n)
{
    return &CHK(n)->k;
}
static void chk_free(struct state *s, struct avl *n)
{
    struct chk_rec *r = CHK(n);
    s->mem -= chk_mem(r);
    cn_free(r);
}
const struct avl_ops state__chk_ops = {chk_cmp, chk_key, NULL, chk_free};

/* Service and node names index case-insensitively, as Consul's state store
 * lower-cases its name indexes on write and query (agent/consul/state
 * catalog_schema.go: Lowercase: true): /v1/catalog/service/WEB finds "web".
 * The record keeps the name first registered; every instance keeps its own. */
static int name_cmp(const void *key, const struct avl *n)
{
    /* ASCII only, whatever the locale: the state machine is deterministic */
    const unsigned char *a = key, *b = (const unsigned char *)NAME(n)->name;
    for (;; a++, b++) {
        int x = *a >= 'A' && *a <= 'Z' ? *a + 32 : *a;
        int y = *b >= 'A' && *b <= 'Z' ? *b + 32 : *b;
        if (x != y || !x)
            return x - y;
    }
}
static const void *name_key(const struct avl *n)
{
    return NAME(n)->name;
}
static void name_free(struct state *s, struct avl *n)
{
    struct name_rec *r = NAME(n);
    s->mem -= state__chunk(sizeof(*r) + strlen(r->name) + 1);
    cn_free(r);
}
const struct avl_ops state__name_ops = {name_cmp, name_key, NULL, name_free};

struct name_rec *state__name_new(struct state *s, const char *name, uint64_t index)
{
    size_t n = strlen(name);
    struct name_rec *r = cn_malloc(sizeof(*r) + n + 1);
    if (!r)
        return NULL;
    memset(r, 0, sizeof(*r));
    memcpy(r->name, name, n + 1);
    r->index = index;
    s->mem += state__chunk(sizeof(*r) + n + 1);
    return r;
}

/* ---- record copies -------------------------------------------------------- */

struct node_rec *state__node_dup(struct state *s, const struct state_node *n)
{
    struct node_rec *r = cn_calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    if (state__node_copy(&r->n, n)) {
        cn_free(r);
        return NULL;
    }
    s->mem += node_mem(r);
    return r;
}

struct svc_rec *state__svc_dup(struct state *s, const struct state_service *v)
{
    size_t sz = sizeof(struct svc_rec) + state_service_pack(NULL, v, NULL);
    struct svc_rec *r = cn_malloc(sz);
    if (!r)
        return NULL;
    memset(r, 0, sizeof(*r));
    state_service_pack(&r->s, v, (char *)(r + 1));
    r->k.a = r->s.node;
    r->k.b = r->s.id;
    s->mem += state__chunk(sz);
    return r;
}

struct chk_rec *state__chk_dup(struct state *s, const struct state_check *c)
{
    size_t sz = sizeof(struct chk_rec) + state_check_pack(NULL, c, NULL);
    struct chk_rec *r = cn_malloc(sz);
    if (!r)
        return NULL;
    memset(r, 0, sizeof(*r));
    state_check_pack(&r->c, c, (char *)(r + 1));
    r->k.a = r->c.node;
    r->k.b = r->c.check_id;
    s->mem += state__chunk(sz);
    return r;
}

/* ---- comparisons (ignore indexes) ------------------------------------------ */

static bool seq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

static bool map_eq(const struct state_map *a, const struct state_map *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++)
        if (!seq(a->items[i].k, b->items[i].k) || !seq(a->items[i].v, b->items[i].v))
            return false;
    return true;
}

static bool node_same(const struct state_node *a, const struct state_node *b)
{
    return seq(a->name, b->name) && seq(a->id, b->id) && seq(a->address, b->address) &&
           map_eq(&a->tagged_addresses, &b->tagged_addresses) && map_eq(&a->meta, &b->meta);
}

static bool svc_same(const struct state_service *a, const struct state_service *b)
{
    if (!seq(a->node, b->node) || !seq(a->id, b->id) || !seq(a->service, b->service) ||
        !seq(a->kind, b->kind) || !seq(a->address, b->address) || a->port != b->port ||
        a->ntags != b->ntags || a->ntaddrs != b->ntaddrs || !map_eq(&a->meta, &b->meta) ||
        a->weight_passing != b->weight_passing || a->weight_warning != b->weight_warning ||
        a->enable_tag_override != b->enable_tag_override)
        return false;
    for (size_t i = 0; i < a->ntags; i++)
        if (!seq(a->tags[i], b->tags[i]))
            return false;
    for (size_t i = 0; i < a->ntaddrs; i++)
        if (!seq(a->taddrs[i].name, b->taddrs[i].name) ||
            !seq(a->taddrs[i].address, b->taddrs[i].address) ||
            a->taddrs[i].port != b->taddrs[i].port)
            return false;
    const struct state_proxy *x = &a->proxy, *y = &b->proxy;
    if (a->connect_native != b->connect_native || !seq(x->dest_name, y->dest_name) ||
        !seq(x->dest_id, y->dest_id) || !seq(x->local_address, y->local_address) ||
        x->local_port != y->local_port || !seq(x->config, y->config) || x->nups != y->nups)
        return false;
    for (size_t i = 0; i < x->nups; i++) {
        const struct state_upstream *u = &x->ups[i], *w = &y->ups[i];
        if (!seq(u->dest_type, w->dest_type) || !seq(u->dest_name, w->dest_name) ||
            !seq(u->datacenter, w->datacenter) ||
            !seq(u->local_bind_address, w->local_bind_address) ||
            u->local_bind_port != w->local_bind_port || !seq(u->config, w->config))
            return false;
    }
    return true;
}

static bool chk_same(const struct state_check *a, const struct state_check *b)
{
    const char *x[] = CHECK_STRS(a);
    const char *y[] = CHECK_STRS(b);
    for (size_t i = 0; i < sizeof(x) / sizeof(x[0]); i++)
        if (!seq(x[i], y[i]))
            return false;
    const char *xe[] = CHECK_EXT_STRS(a);
    const char *ye[] = CHECK_EXT_STRS(b);
    for (size_t i = 0; i < sizeof(xe) / sizeof(xe[0]); i++)
        if (!seq(xe[i], ye[i]))
            return false;
    if (a->nargs != b->nargs)
        return false;
    for (size_t i = 0; i < a->nargs; i++)
        if (!seq(a->args[i], b->args[i]))
            return false;
    return a->interval_ns == b->interval_ns && a->timeout_ns == b->timeout_ns &&
           a->ttl_ns == b->ttl_ns && a->deregister_after_ns == b->deregister_after_ns &&
           a->tls_skip_verify == b->tls_skip_verify &&
           a->success_before_passing == b->success_before_passing &&
           a->failures_before_warning == b->failures_before_warning &&
           a->failures_before_critical == b->failures_before_critical &&
           a->grpc_use_tls == b->grpc_use_tls && a->h2ping_use_tls == b->h2ping_use_tls;
}

/* ---- lookups ------------------------------------------------------------------ */

static struct node_rec *find_node(const struct state *s, const char *name)
{
    struct avl *a = state__avl_find(s->nodes, name, &state__node_ops);
    return a ? NODE(a) : NULL;
}

static struct svc_rec *find_svc(const struct state *s, const char *node, const char *id)
{
    struct pair_key k = {node, id};
    struct avl *a = state__avl_find(s->services, &k, &state__svc_id_ops);
    return a ? SVC(a) : NULL;
}

static struct chk_rec *find_chk(const struct state *s, const char *node, const char *id)
{
    struct pair_key k = {node, id};
    struct avl *a = state__avl_find(s->checks, &k, &state__chk_ops);
    return a ? CHK(a) : NULL;
}

/* First record of `node` in a (node, id)-keyed tree, or after (node, after). */
static void seek_node(struct avl_iter *it, struct avl *root, const struct avl_ops *ops,
                      const char *node, const char *after)
{
    struct pair_key k = {node, after ? after : ""};
    state__avl_seek(it, root, &k, after != NULL, ops);
}

static struct svc_rec *next_svc(struct avl_iter *it, const char *node)
{
    struct avl *a = state__avl_next(it);
    return a && strcmp(SVC(a)->s.node, node) == 0 ? SVC(a) : NULL;
}

static struct chk_rec *next_chk(struct avl_iter *it, const char *node)
{
    struct avl *a = state__avl_next(it);
    return a && strcmp(CHK(a)->c.node, node) == 0 ? CHK(a) : NULL;
}

/* ---- index bumps and notifications ---------------------------------------- */

static int touch_node(struct txn *t, const char *node)
{
    struct name_rec *nr = state__name_touch(t, &t->s->node_names, node);
    if (!nr || state__tx_reserve(t, 0, 1))
        return CN_ENOMEM;
    state__tx_note(t, STATE_T_NODES, nr->name);
    return 0;
}

static int touch_service(struct txn *t, const char *name)
{
    struct name_rec *nr = state__name_touch(t, &t->s->svc_names, name);
    if (!nr || state__tx_reserve(t, 0, 1))
        return CN_ENOMEM;
    state__tx_note(t, STATE_T_SERVICES, nr->name);
    return 0;
}

static bool is_proxy(const struct state_service *v)
{
    return v->kind && !strcmp(v->kind, STATE_KIND_CONNECT_PROXY) && v->proxy.dest_name &&
           *v->proxy.dest_name;
}

/* A proxy's change is a change of its destination's Connect view
 * (/v1/health/connect/:dest watches the destination's name). */
static int touch_mesh(struct txn *t, const struct state_service *v)
{
    return is_proxy(v) ? touch_service(t, v->proxy.dest_name) : 0;
}

/* Everything health views show for the node's instances changed. */
static int touch_node_services(struct txn *t, const char *node)
{
    struct avl_iter it;
    struct svc_rec *v;
    seek_node(&it, t->s->services, &state__svc_id_ops, node, NULL);
    while ((v = next_svc(&it, node)))
        if (touch_service(t, v->s.service) || touch_mesh(t, &v->s))
            return CN_ENOMEM;
    return 0;
}

static int check_changed(struct txn *t, const struct state_check *c)
{
    struct name_rec *nr = state__name_touch(t, &t->s->node_names, c->node);
    if (!nr || state__tx_reserve(t, 0, 2))
        return CN_ENOMEM;
    t->s->tidx[STATE_T_CHECKS] = t->idx;
    state__tx_note(t, STATE_T_CHECKS, nr->name);
    state__tx_note(t, STATE_T_NODES, nr->name);
    if (*c->service_id) {
        const struct svc_rec *v = find_svc(t->s, c->node, c->service_id);
        int rc = v ? touch_mesh(t, &v->s) : 0;
        return rc ? rc : touch_service(t, c->service_name);
    }
    return touch_node_services(t, c->node);
}

static int einval(struct txn *t, const char *fmt, const char *a, const char *b)
{
    int rc = state__tx_error(t, 0, fmt, a, b);
    return rc ? rc : CN_EINVAL;
}

/* ---- mutations ------------------------------------------------------------------ */

/* Link nw (a fresh record) in place of old (NULL: new key). Takes nw. */
static int link_check(struct txn *t, struct chk_rec *old, struct chk_rec *nw)
{
    if (state__tx_reserve(t, 1, 0)) {
        chk_free(t->s, &nw->a);
        return CN_ENOMEM;
    }
    if (old)
        state__tx_replace(t, &t->s->checks, &state__chk_ops, &old->a, &nw->a, true);
    else
        state__tx_insert(t, &t->s->checks, &state__chk_ops, &nw->a, true);
    int rc = check_changed(t, &nw->c);
    /* A check that moved between services (or to/from node level) changes
     * the old service's view too. */
    if (!rc && old && !seq(old->c.service_id, nw->c.service_id))
        rc = check_changed(t, &old->c);
    /* ensureCheckTxn: a critical check invalidates the sessions naming it. */
    if (!rc && strcmp(nw->c.status, "critical") == 0)
        rc = state__sess_invalidate_node(t, nw->c.node, nw->c.check_id);
    return rc;
}

static int unlink_check(struct txn *t, struct chk_rec *c)
{
    if (state__tx_reserve(t, 1, 0))
        return CN_ENOMEM;
    state__tx_remove(t, &t->s->checks, &state__chk_ops, &c->a, true);
    int rc = check_changed(t, &c->c);
    /* deleteCheckTxn: so does a removed one. */
    return rc ? rc : state__sess_invalidate_node(t, c->c.node, c->c.check_id);
}

static int link_service(struct txn *t, struct svc_rec *old, struct svc_rec *nw)
{
    struct state *s = t->s;
    struct name_rec *nn = state__name_touch(t, &s->svc_names, nw->s.service);
    bool renamed = old && strcmp(old->s.service, nw->s.service) != 0;
    struct name_rec *on = renamed ? state__name_touch(t, &s->svc_names, old->s.service) : NULL;
    if (!nn || (renamed && !on) || state__tx_reserve(t, 3, 2)) {
        svc_free_rec(s, nw);
        return CN_ENOMEM;
    }
    /* The by_id entry owns the record; the by_name entry only links it. */
    if (old) {
        state__tx_replace(t, &s->services, &state__svc_id_ops, &old->by_id, &nw->by_id, true);
        if (renamed) {
            state__tx_remove(t, &on->inst, &state__svc_name_ops, &old->by_name, false);
            state__tx_insert(t, &nn->inst, &state__svc_name_ops, &nw->by_name, false);
            state__tx_note(t, STATE_T_SERVICES, on->name);
        } else {
            state__tx_replace(t, &nn->inst, &state__svc_name_ops, &old->by_name, &nw->by_name,
                              false);
        }
    } else {
        state__tx_insert(t, &s->services, &state__svc_id_ops, &nw->by_id, true);
        state__tx_insert(t, &nn->inst, &state__svc_name_ops, &nw->by_name, false);
    }
    s->tidx[STATE_T_SERVICES] = t->idx;
    state__tx_note(t, STATE_T_SERVICES, nn->name);
    int rc = touch_node(t, nw->s.node);
    if (!rc)
        rc = touch_mesh(t, &nw->s);
    if (!rc && old)
        rc = touch_mesh(t, &old->s);
    if (rc || !renamed)
        return rc;
    /* Keep the checks' ServiceName in step with a renamed service. */
    struct avl_iter it;
    struct chk_rec *c;
    seek_node(&it, s->checks, &state__chk_ops, nw->s.node, NULL);
    while ((c = next_chk(&it, nw->s.node))) {
        if (strcmp(c->c.service_id, nw->s.id) != 0)
            continue;
        struct state_check tmp = c->c;
        tmp.service_name = nw->s.service;
        tmp.modify_index = t->idx;
        struct chk_rec *nc = state__chk_dup(s, &tmp);
        if (!nc || (rc = link_check(t, c, nc)))
            return CN_ENOMEM;
        seek_node(&it, s->checks, &state__chk_ops, nw->s.node, nc->c.check_id);
    }
    return 0;
}

static int unlink_service(struct txn *t, struct svc_rec *v)
{
    struct state *s = t->s;
    struct name_rec *nn = state__name_touch(t, &s->svc_names, v->s.service);
    if (!nn || state__tx_reserve(t, 2, 1))
        return CN_ENOMEM;
    state__tx_remove(t, &s->services, &state__svc_id_ops, &v->by_id, true);
    state__tx_remove(t, &nn->inst, &state__svc_name_ops, &v->by_name, false);
    s->tidx[STATE_T_SERVICES] = t->idx;
    state__tx_note(t, STATE_T_SERVICES, nn->name);
    int rc = touch_mesh(t, &v->s);
    return rc ? rc : touch_node(t, v->s.node);
}

/* ---- REGISTER ------------------------------------------------------------------- */

static bool valid_status(const char *s)
{
    return !strcmp(s, "passing") || !strcmp(s, "warning") || !strcmp(s, "critical");
}

static int dereg_node(struct txn *t, struct node_rec *n);
static bool ascii_case_eq(const char *a, const char *b);

/* A node write refused (ensureNodeTxn's errors): recorded as op 0, CN_ECONFLICT
 * (Consul's RPC error, a 500). A registration prefixes Consul's
 * ensureRegistrationTxn wrapper; a txn Node op does not (txnNode). */
static int node_refused(struct txn *t, bool txn_op, const char *why)
{
    int rc = state__tx_error(t, 0, "%s%s", txn_op ? "" : "failed inserting node: ", why);
    return rc ? rc : CN_ECONFLICT;
}

/* ensureNoNodeWithSimilarNameTxn for node's name: a node of that name
 * (node names are one per spelling-ignoring-case here: state__node_canon,
 * so an exact lookup finds it) with another ID reserves the name while its
 * serfHealth check is not critical; without that check it is an external
 * node, free to take; one without an ID yields when `upgrade` (a node
 * without ID gets one). The reason goes into why. */
static bool name_reserved(const struct state *s, const struct state_node *node, bool upgrade,
                          char *why, size_t cap)
{
    const struct node_rec *e = find_node(s, node->name);
    const char *eid = e && e->n.id ? e->n.id : "";
    if (!e || strcmp(eid, node->id) == 0 || (upgrade && !*eid))
        return false;
    const struct chk_rec *c = find_chk(s, e->n.name, "serfHealth");
    if (!c || strcmp(c->c.status, "critical") == 0)
        return false;
    snprintf(why, cap, "Node name %s is reserved by node %s with name %s (%s)", node->name, eid,
             e->n.name, e->n.address);
    return true;
}

/* ensureNodeTxn's ID checks. The node holding node's ID under another name
 * is renamed: removed (deleteNodeTxn: its services, checks, sessions and
 * coordinates go) once the new name is free, and *create takes its
 * CreateIndex. An ID no node holds may not take a name another node's ID
 * reserves. O(log n): the ID index and a name lookup. */
static int node_id_checks(struct txn *t, const struct state_node *node, bool txn_op,
                          uint64_t *create)
{
    struct state *s = t->s;
    char why[STATE_ERR_MAX], msg[STATE_ERR_MAX];
    if (!node->id || !*node->id)
        return 0; /* Consul: an ID-less node is found by name only */
    struct node_rec *holder = state__nid_find(s, node->id);
    if (holder && ascii_case_eq(holder->n.name, node->name))
        return 0;
    if (holder) {
        if (name_reserved(s, node, false, why, sizeof(why))) {
            snprintf(msg, sizeof(msg), "Error while renaming Node ID: \"%s\" (%s): %s", node->id,
                     node->address, why);
            return node_refused(t, txn_op, msg);
        }
        *create = holder->n.create_index;
        return dereg_node(t, holder);
    }
    if (name_reserved(s, node, true, why, sizeof(why))) {
        snprintf(msg, sizeof(msg), "Error while renaming Node ID: \"%s\": %s", node->id, why);
        return node_refused(t, txn_op, msg);
    }
    return 0;
}

static int reg_node(struct txn *t, const struct state_node *node, bool skip, bool txn_op)
{
    struct state *s = t->s;
    struct node_rec *cur = find_node(s, node->name);
    if (cur && skip)
        return 0;
    if (!*node->address)
        return einval(t,
                      cur || !skip ? "Must provide address if SkipNodeUpdate is not set%s%s"
                                   : "Missing node registration%s%s",
                      "", "");
    if (cur && node_same(&cur->n, node))
        return 0; /* no write, no index bump (ensureRegistrationTxn) */
    uint64_t create = cur ? cur->n.create_index : t->idx;
    int rc = node_id_checks(t, node, txn_op, &create);
    if (rc)
        return rc;
    struct node_rec *nr = state__node_dup(s, node);
    if (!nr)
        return CN_ENOMEM;
    if (state__tx_reserve(t, 1, 1)) {
        node_free(s, &nr->a);
        return CN_ENOMEM;
    }
    nr->n.create_index = create;
    nr->n.modify_index = t->idx;
    if (cur)
        state__tx_replace(t, &s->nodes, &state__node_ops, &cur->a, &nr->a, true);
    else
        state__tx_insert(t, &s->nodes, &state__node_ops, &nr->a, true);
    s->tidx[STATE_T_NODES] = t->idx;
    /* after the node tree: the ID index points at nr (nodeid.c) */
    if ((rc = state__nid_update(t, cur, nr)) || (rc = touch_node(t, nr->n.name)))
        return rc;
    return touch_node_services(t, nr->n.name);
}

static int reg_service(struct txn *t, const char *node, const struct state_service *in)
{
    if (!*in->service)
        return einval(t, "Must provide service name%s%s", "", "");
    struct state_service tmp = *in;
    tmp.node = (char *)node;
    if (!*tmp.id)
        tmp.id = tmp.service; /* Consul: ID defaults to the service name */
    if (tmp.weight_passing == 0 && tmp.weight_warning == 0)
        tmp.weight_passing = tmp.weight_warning = 1; /* api docs: default {1, 1} */
    else if (tmp.weight_passing == 0)
        tmp.weight_passing = 1;
    struct svc_rec *cur = find_svc(t->s, node, tmp.id);
    if (cur && svc_same(&cur->s, &tmp))
        return 0;
    struct svc_rec *nw = state__svc_dup(t->s, &tmp);
    if (!nw)
        return CN_ENOMEM;
    nw->s.create_index = cur ? cur->s.create_index : t->idx;
    nw->s.modify_index = t->idx;
    return link_service(t, cur, nw);
}

static int reg_check(struct txn *t, const char *node, const struct state_check *in)
{
    struct state_check tmp = *in;
    tmp.node = (char *)node;
    if (!*tmp.check_id)
        tmp.check_id = tmp.name;
    if (!*tmp.check_id)
        return einval(t, "failed inserting check on node %s: missing check ID%s", node, "");
    if (!*tmp.status)
        tmp.status = "critical"; /* ensureCheckTxn: the default status */
    if (!valid_status(tmp.status))
        return einval(t, "invalid check status \"%s\"%s", tmp.status, "");
    tmp.service_name = "";
    if (*tmp.service_id) {
        struct svc_rec *v = find_svc(t->s, node, tmp.service_id);
        if (!v)
            return einval(t,
                          "failed inserting check on node \"%s\": Missing service "
                          "registration%s",
                          node, "");
        tmp.service_name = v->s.service;
    }
    struct chk_rec *cur = find_chk(t->s, node, tmp.check_id);
    if (cur && chk_same(&cur->c, &tmp))
        return 0;
    struct chk_rec *nw = state__chk_dup(t->s, &tmp);
    if (!nw)
        return CN_ENOMEM;
    nw->c.create_index = cur ? cur->c.create_index : t->idx;
    nw->c.modify_index = t->idx;
    return link_check(t, cur, nw);
}

int state__cat_apply_register(struct txn *t, struct cn_dec *d)
{
    struct state_node node;
    struct state_service svc;
    struct state_check *checks = NULL;
    size_t nchecks = 0;
    memset(&node, 0, sizeof(node));
    memset(&svc, 0, sizeof(svc));
    state__dec_node(d, &node);
    uint8_t skip = cn_dec_u8(d), has_svc = cn_dec_u8(d);
    if (!d->err && (skip > 1 || has_svc > 1))
        d->err = CN_ECORRUPT;
    if (has_svc && !d->err)
        state__dec_service(d, &svc,
                           t->ver >= 4   ? STATE_SVC_UPSTREAM_CONFIG
                           : t->ver >= 3 ? STATE_SVC_MESH
                                         : STATE_SVC_BASE);
    uint32_t n = cn_dec_u32(d);
    if (!d->err && n > (d->len - d->off) / 16)
        d->err = CN_ECORRUPT;
    if (!d->err && n && !(checks = cn_calloc(n, sizeof(*checks))))
        d->err = CN_ENOMEM;
    for (uint32_t i = 0; i < n && !d->err; i++) {
        state__dec_check(d, &checks[i], t->ver >= 2);
        nchecks = i + 1;
    }
    int rc = d->err ? d->err : cn_dec_done(d) ? 0 : CN_ECORRUPT;
    if (!rc)
        state__node_canon(t->s, node.name);
    if (!rc) {
        if (!*node.name)
            rc = einval(t, "Must provide node%s%s", "", "");
        else
            rc = reg_node(t, &node, skip, false);
    }
    if (!rc && has_svc)
        rc = reg_service(t, node.name, &svc);
    for (size_t i = 0; !rc && i < nchecks; i++)
        rc = reg_check(t, node.name, &checks[i]);
    if (!rc && t->res)
        t->res->ok = true;
    state_node_clear(&node);
    state_service_clear(&svc);
    for (size_t i = 0; i < nchecks; i++)
        state_check_clear(&checks[i]);
    cn_free(checks);
    return rc;
}

/* ---- DEREGISTER ------------------------------------------------------------------ */

static int dereg_service(struct txn *t, struct svc_rec *v)
{
    struct avl_iter it;
    struct chk_rec *c;
    seek_node(&it, t->s->checks, &state__chk_ops, v->s.node, NULL);
    while ((c = next_chk(&it, v->s.node))) {
        if (strcmp(c->c.service_id, v->s.id) != 0)
            continue;
        if (unlink_check(t, c))
            return CN_ENOMEM;
        seek_node(&it, t->s->checks, &state__chk_ops, v->s.node, c->c.check_id);
    }
    return unlink_service(t, v);
}

static int dereg_node(struct txn *t, struct node_rec *n)
{
    struct state *s = t->s;
    const char *name = n->n.name;
    struct avl_iter it;
    struct chk_rec *c;
    struct svc_rec *v;
    /* Checks first: node-level ones notify the services still on the node. */
    seek_node(&it, s->checks, &state__chk_ops, name, NULL);
    while ((c = next_chk(&it, name))) {
        if (unlink_check(t, c))
            return CN_ENOMEM;
        seek_node(&it, s->checks, &state__chk_ops, name, c->c.check_id);
    }
    seek_node(&it, s->services, &state__svc_id_ops, name, NULL);
    while ((v = next_svc(&it, name))) {
        if (unlink_service(t, v))
            return CN_ENOMEM;
        seek_node(&it, s->services, &state__svc_id_ops, name, v->s.id);
    }
    /* deleteNodeTxn: the node's remaining sessions go with it. */
    if (state__sess_invalidate_node(t, name, NULL) || state__coord_node_gone(t, name) ||
        state__tx_reserve(t, 1, 0))
        return CN_ENOMEM;
    state__tx_remove(t, &s->nodes, &state__node_ops, &n->a, true);
    s->tidx[STATE_T_NODES] = t->idx;
    int rc = state__nid_update(t, n, NULL);
    return rc ? rc : touch_node(t, name);
}

int state__cat_apply_deregister(struct txn *t, struct cn_dec *d)
{
    char *node = cn_dec_strdup(d);
    uint8_t has_sid = cn_dec_u8(d);
    char *sid = d->err ? NULL : cn_dec_strdup(d);
    uint8_t has_cid = cn_dec_u8(d);
    char *cid = d->err ? NULL : cn_dec_strdup(d);
    int rc = d->err ? d->err : cn_dec_done(d) ? 0 : CN_ECORRUPT;
    if (!rc && (has_sid > 1 || has_cid > 1 || (!has_sid && *sid) || (!has_cid && *cid)))
        rc = CN_ECORRUPT;
    if (!rc)
        state__node_canon(t->s, node);
    bool found = false;
    if (!rc && !has_sid && !has_cid) {
        /* deleteNodeTxn: an unknown node is a successful no-op. */
        struct node_rec *n = find_node(t->s, node);
        if (n) {
            found = true;
            rc = dereg_node(t, n);
        }
    } else if (!rc) {
        /* deleteServiceTxn / deleteCheckTxn: unknown items are no-ops too. */
        struct svc_rec *v = has_sid ? find_svc(t->s, node, sid) : NULL;
        if (v) {
            found = true;
            rc = dereg_service(t, v);
        }
        struct chk_rec *c = !rc && has_cid ? find_chk(t->s, node, cid) : NULL;
        if (c) {
            found = true;
            rc = unlink_check(t, c);
        }
    }
    if (!rc && t->res)
        t->res->ok = found; /* rc stays 0: Consul's deregister returns true */
    cn_free(node);
    cn_free(sid);
    cn_free(cid);
    return rc;
}

/* ---- CHECK_STATUS ------------------------------------------------------------- */

int state__cat_apply_check_status(struct txn *t, struct cn_dec *d)
{
    char *node = cn_dec_strdup(d);
    char *cid = d->err ? NULL : cn_dec_strdup(d);
    char *status = d->err ? NULL : cn_dec_strdup(d);
    char *output = d->err ? NULL : cn_dec_strdup(d);
    int rc = d->err ? d->err : cn_dec_done(d) ? 0 : CN_ECORRUPT;
    if (!rc)
        state__node_canon(t->s, node);
    struct chk_rec *c = rc ? NULL : find_chk(t->s, node, cid);
    if (!rc && !c) {
        rc = state__tx_error(t, 0, "check \"%s\" on node \"%s\" doesn't exist", cid, node);
        rc = rc ? rc : CN_ENOTFOUND;
    } else if (!rc && !valid_status(status)) {
        rc = einval(t, "invalid check status \"%s\"%s", status, "");
    } else if (!rc && (strcmp(c->c.status, status) || strcmp(c->c.output, output))) {
        struct state_check tmp = c->c;
        tmp.status = status;
        tmp.output = output;
        tmp.modify_index = t->idx;
        struct chk_rec *nw = state__chk_dup(t->s, &tmp);
        rc = nw ? link_check(t, c, nw) : CN_ENOMEM;
    }
    if (!rc && t->res)
        t->res->ok = true;
    cn_free(node);
    cn_free(cid);
    cn_free(status);
    cn_free(output);
    return rc;
}

/* ---- reads ---------------------------------------------------------------------- */

const struct state_node *state_node_get(const struct state *s, const char *name)
{
    struct node_rec *r = name ? find_node(s, name) : NULL;
    return r ? &r->n : NULL;
}

static bool ascii_case_eq(const char *a, const char *b)
{
    for (;; a++, b++) {
        int x = *a >= 'A' && *a <= 'Z' ? *a + 32 : *a;
        int y = *b >= 'A' && *b <= 'Z' ? *b + 32 : *b;
        if (x != y)
            return false;
        if (!x)
            return true;
    }
}

const struct state_node *state_node_lookup(const struct state *s, const char *name)
{
    const struct state_node *n = state_node_get(s, name);
    if (n || !name)
        return n;
    const struct node_rec *r = state__node_folded(s, name); /* O(log n): nodeid.c */
    return r ? &r->n : NULL;
}

void state__node_canon(const struct state *s, char *name)
{
    if (!name || !*name || find_node(s, name))
        return;
    const struct state_node *n = state_node_lookup(s, name); /* O(log n) */
    if (!n)
        return;
    size_t len = strlen(name);
    CN_ASSERT(strlen(n->name) == len); /* ASCII case folding keeps the length */
    memcpy(name, n->name, len);
}

void state_nodes_foreach(const struct state *s, state_node_cb cb, void *arg)
{
    struct avl_iter it;
    struct avl *a;
    state__avl_seek(&it, s->nodes, NULL, false, &state__node_ops);
    while ((a = state__avl_next(&it)))
        if (cb(arg, &NODE(a)->n))
            return;
}

void state_services_foreach(const struct state *s, state_service_cb cb, void *arg)
{
    struct avl_iter it;
    struct avl *a;
    state__avl_seek(&it, s->services, NULL, false, &state__svc_id_ops);
    while ((a = state__avl_next(&it)))
        if (cb(arg, &SVC(a)->s))
            return;
}

void state_service_instances(const struct state *s, const char *name, state_service_cb cb,
                             void *arg)
{
    struct avl *nr = name ? state__avl_find(s->svc_names, name, &state__name_ops) : NULL;
    if (!nr)
        return;
    struct avl_iter it;
    struct avl *a;
    state__avl_seek(&it, NAME(nr)->inst, NULL, false, &state__svc_name_ops);
    while ((a = state__avl_next(&it)))
        if (cb(arg, &SVCN(a)->s))
            return;
}

void state_connect_instances(const struct state *s, const char *name, state_service_cb cb,
                             void *arg)
{
    struct avl_iter it;
    struct avl *a;
    if (!name)
        return;
    state__avl_seek(&it, s->services, NULL, false, &state__svc_id_ops);
    while ((a = state__avl_next(&it))) {
        const struct state_service *v = &SVC(a)->s;
        bool hit = is_proxy(v) ? !strcmp(v->proxy.dest_name, name)
                               : v->connect_native && !strcmp(v->service, name);
        if (hit && cb(arg, v))
            return;
    }
}

void state_node_services(const struct state *s, const char *node, state_service_cb cb, void *arg)
{
    struct avl_iter it;
    struct svc_rec *v;
    if (!node)
        return;
    seek_node(&it, s->services, &state__svc_id_ops, node, NULL);
    while ((v = next_svc(&it, node)))
        if (cb(arg, &v->s))
            return;
}

const struct state_service *state_service_get(const struct state *s, const char *node,
                                              const char *service_id)
{
    struct svc_rec *v = node && service_id ? find_svc(s, node, service_id) : NULL;
    return v ? &v->s : NULL;
}

void state_checks_foreach(const struct state *s, state_check_cb cb, void *arg)
{
    struct avl_iter it;
    struct avl *a;
    state__avl_seek(&it, s->checks, NULL, false, &state__chk_ops);
    while ((a = state__avl_next(&it)))
        if (cb(arg, &CHK(a)->c))
            return;
}

/* Checks on node whose service_id equals sid (NULL: all). Returns nonzero
 * when cb asked to stop. */
static int node_checks(const struct state *s, const char *node, const char *sid, state_check_cb cb,
                       void *arg)
{
    struct avl_iter it;
    struct chk_rec *c;
    seek_node(&it, s->checks, &state__chk_ops, node, NULL);
    while ((c = next_chk(&it, node)))
        if ((!sid || strcmp(c->c.service_id, sid) == 0) && cb(arg, &c->c))
            return 1;
    return 0;
}

void state_node_checks(const struct state *s, const char *node, state_check_cb cb, void *arg)
{
    if (node)
        node_checks(s, node, NULL, cb, arg);
}

void state_instance_checks(const struct state *s, const struct state_service *svc,
                           state_check_cb cb, void *arg)
{
    if (!svc || node_checks(s, svc->node, "", cb, arg))
        return;
    if (*svc->id)
        node_checks(s, svc->node, svc->id, cb, arg);
}

struct svc_checks_ctx {
    const struct state *s;
    state_check_cb cb;
    void *arg;
    int stop;
};

static int svc_checks_visit(void *arg, const struct state_service *v)
{
    struct svc_checks_ctx *x = arg;
    x->stop = node_checks(x->s, v->node, v->id, x->cb, x->arg);
    return x->stop;
}

void state_service_checks(const struct state *s, const char *name, state_check_cb cb, void *arg)
{
    struct svc_checks_ctx x = {s, cb, arg, 0};
    state_service_instances(s, name, svc_checks_visit, &x);
}

const struct state_check *state_check_get(const struct state *s, const char *node,
                                          const char *check_id)
{
    struct chk_rec *c = node && check_id ? find_chk(s, node, check_id) : NULL;
    return c ? &c->c : NULL;
}

/* ---- entry points for catalog txn operations (cattxn.c) ---------------------- */

int state__cat_set_node(struct txn *t, const struct state_node *n)
{
    return reg_node(t, n, false, true);
}

int state__cat_set_service(struct txn *t, const char *node, const struct state_service *v)
{
    return reg_service(t, node, v);
}

int state__cat_set_check(struct txn *t, const char *node, const struct state_check *c)
{
    return reg_check(t, node, c);
}

int state__cat_del_node(struct txn *t, const char *node)
{
    struct node_rec *n = find_node(t->s, node);
    return n ? dereg_node(t, n) : 0;
}

int state__cat_del_service(struct txn *t, const char *node, const char *id)
{
    struct svc_rec *v = find_svc(t->s, node, id);
    return v ? dereg_service(t, v) : 0;
}

int state__cat_del_check(struct txn *t, const char *node, const char *id)
{
    struct chk_rec *c = find_chk(t->s, node, id);
    return c ? unlink_check(t, c) : 0;
}
