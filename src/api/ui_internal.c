/* api/ui_internal.c: the two endpoints the web UI (src/ui/, ui/) lists from,
 * Consul's internal UI API (agent/ui_endpoint.go):
 *
 *  GET /v1/internal/ui/services  a summary per service name (UIServices:
 *      Name, Datacenter, Tags, Nodes, InstanceCount, ChecksPassing/Warning/
 *      Critical over the distinct checks of its instances and their nodes),
 *      plus cairn's InstancesPassing/Warning/Critical: instances by their
 *      worst check. One blocking query for the whole services page.
 *  GET /v1/internal/ui/nodes     every node with its services and checks
 *      (UINodes, a NodeDump).
 *  GET /v1/internal/ui/session-locks  cairn's own: the keys each session
 *      holds (the sessions page), from the state's session -> keys index.
 *
 * Both block like any read; ?filter= is refused (Consul accepts it here;
 * cairn's UI filters in the browser). */
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "api/decode.h"
#include "base/err.h"
#include "base/mem.h"

static bool refuse_filter(struct api_ctx *c, struct api_read *r)
{
    if (!api_param(c, "filter"))
        return false;
    api_read_error(r, 400, "?filter is not supported by cairn on /v1/internal/ui/ endpoints");
    return true;
}

/* ---- GET /v1/internal/ui/services -------------------------------------------- */

struct inst_vec {
    const struct state_service **v;
    size_t n, cap;
    int err;
};

static int inst_cb(void *arg, const struct state_service *s)
{
    struct inst_vec *l = arg;
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 64;
        const struct state_service **nv = cn_realloc(l->v, ncap * sizeof(*nv));
        if (!nv) {
            l->err = CN_ENOMEM;
            return 1;
        }
        l->v = nv;
        l->cap = ncap;
    }
    l->v[l->n++] = s;
    return 0;
}

/* By service name, then node, then ID: a name's instances on one node are
 * adjacent, so that node's checks are counted once per service. */
static int by_name_node(const void *a, const void *b)
{
    const struct state_service *x = *(const struct state_service *const *)a;
    const struct state_service *y = *(const struct state_service *const *)b;
    int d = strcmp(x->service, y->service);
    if (!d)
        d = strcmp(x->node, y->node);
    return d ? d : strcmp(x->id, y->id);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

struct sum_walk {
    bool skip_node_checks; /* this node's checks were counted for this name */
    int worst;             /* of this instance: 0 passing, 1 warning, 2 critical */
    uint64_t checks[3];
};

static int status_rank(const char *s)
{
    return !strcmp(s, "critical") ? 2 : !strcmp(s, "warning") ? 1 : 0;
}

static int sum_check_cb(void *arg, const struct state_check *chk)
{
    struct sum_walk *sw = arg;
    int rank = status_rank(chk->status);
    if (rank > sw->worst)
        sw->worst = rank;
    if (!*chk->service_id && sw->skip_node_checks)
        return 0;
    if (!strcmp(chk->status, "passing") || rank)
        sw->checks[rank]++;
    return 0;
}

/* strs: a scratch vector of string pointers. */
struct strv {
    const char **v;
    size_t n, cap;
};

static int strv_push(struct strv *s, const char *p)
{
    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 16;
        const char **nv = cn_realloc(s->v, ncap * sizeof(*nv));
        if (!nv)
            return CN_ENOMEM;
        s->v = nv;
        s->cap = ncap;
    }
    s->v[s->n++] = p;
    return 0;
}

static const char *meta_get(const struct state_map *m, const char *k)
{
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->items[i].k, k))
            return m->items[i].v;
    return NULL;
}

/* One ServiceListingSummary for the instances v[0..n) of one name. */
static int write_summary(struct cn_jsonw *w, struct state *st, const char *dc,
                         const struct state_service *const *v, size_t n, struct strv *tags,
                         struct strv *srcs)
{
    tags->n = srcs->n = 0;
    struct sum_walk sw = {0};
    uint64_t inst[3] = {0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < v[i]->ntags; k++)
            CN_TRY(strv_push(tags, v[i]->tags[k]));
        const char *src = meta_get(&v[i]->meta, "external-source");
        bool seen = !src || !*src;
        for (size_t k = 0; !seen && k < srcs->n; k++)
            seen = !strcmp(srcs->v[k], src);
        if (!seen)
            CN_TRY(strv_push(srcs, src));
        sw.worst = 0;
        sw.skip_node_checks = i > 0 && !strcmp(v[i - 1]->node, v[i]->node);
        state_instance_checks(st, v[i], sum_check_cb, &sw);
        inst[sw.worst]++;
    }
    if (tags->n > 1)
        qsort(tags->v, tags->n, sizeof(*tags->v), cmp_str);
    cn_jsonw_obj_open(w);
    if (*v[n - 1]->kind)
        cn_jsonw_kstr(w, "Kind", v[n - 1]->kind);
    cn_jsonw_kstr(w, "Name", v[0]->service);
    cn_jsonw_kstr(w, "Datacenter", dc);
    cn_jsonw_key(w, "Tags"); /* Go's nil slice: null when there are none */
    if (!tags->n)
        cn_jsonw_null(w);
    else {
        cn_jsonw_arr_open(w);
        for (size_t k = 0; k < tags->n; k++)
            if (!k || strcmp(tags->v[k], tags->v[k - 1]))
                cn_jsonw_str(w, tags->v[k]);
        cn_jsonw_arr_close(w);
    }
    cn_jsonw_key(w, "Nodes");
    cn_jsonw_arr_open(w);
    for (size_t i = 0; i < n; i++)
        cn_jsonw_str(w, v[i]->node);
    cn_jsonw_arr_close(w);
    cn_jsonw_key(w, "ExternalSources");
    if (!srcs->n)
        cn_jsonw_null(w);
    else {
        cn_jsonw_arr_open(w);
        for (size_t k = 0; k < srcs->n; k++)
            cn_jsonw_str(w, srcs->v[k]);
        cn_jsonw_arr_close(w);
    }
    cn_jsonw_ku64(w, "InstanceCount", n);
    cn_jsonw_ku64(w, "ChecksPassing", sw.checks[0]);
    cn_jsonw_ku64(w, "ChecksWarning", sw.checks[1]);
    cn_jsonw_ku64(w, "ChecksCritical", sw.checks[2]);
    cn_jsonw_ku64(w, "InstancesPassing", inst[0]);
    cn_jsonw_ku64(w, "InstancesWarning", inst[1]);
    cn_jsonw_ku64(w, "InstancesCritical", inst[2]);
    cn_jsonw_key(w, "GatewayConfig");
    cn_jsonw_raw(w, "{}", 2);
    cn_jsonw_kbool(w, "ConnectedWithProxy", 0);
    cn_jsonw_kbool(w, "ConnectedWithGateway", 0);
    cn_jsonw_obj_close(w);
    return w->err;
}

static void r_ui_services(struct api_ctx *c, struct api_read *r)
{
    if (refuse_filter(c, r))
        return;
    struct state *st = srv_state(c->api->srv);
    struct inst_vec l = {0};
    struct strv tags = {0}, srcs = {0};
    state_services_foreach(st, inst_cb, &l);
    int rc = l.err;
    if (!rc && l.n > 1)
        qsort(l.v, l.n, sizeof(*l.v), by_name_node);
    struct cn_jsonw w;
    api_jsonw(c, &w, &r->body);
    cn_jsonw_arr_open(&w);
    for (size_t i = 0; !rc && i < l.n;) {
        size_t j = i + 1;
        while (j < l.n && !strcmp(l.v[j]->service, l.v[i]->service))
            j++;
        rc = write_summary(&w, st, c->api->cfg.datacenter, l.v + i, j - i, &tags, &srcs);
        i = j;
    }
    cn_jsonw_arr_close(&w);
    cn_free(l.v);
    cn_free(tags.v);
    cn_free(srcs.v);
    if (rc || w.err)
        return api_read_error(r, 500, "out of memory");
    r->index = api_catalog_index(st);
    api_read_watch(r, STATE_T_SERVICES, NULL, false);
}

/* ---- GET /v1/internal/ui/nodes ----------------------------------------------- */

struct dump_walk {
    struct state *st;
    struct cn_jsonw *w;
    const char *dc;
};

static int dump_svc_cb(void *arg, const struct state_service *s)
{
    struct dump_walk *dw = arg;
    api_json_service(dw->w, s, dw->dc);
    return dw->w->err;
}

static int dump_chk_cb(void *arg, const struct state_check *chk)
{
    struct dump_walk *dw = arg;
    const struct state_service *svc =
        *chk->service_id ? state_service_get(dw->st, chk->node, chk->service_id) : NULL;
    api_json_check(dw->w, chk, svc);
    return dw->w->err;
}

static int dump_node_cb(void *arg, const struct state_node *n)
{
    struct dump_walk *dw = arg;
    struct cn_jsonw *w = dw->w;
    cn_jsonw_obj_open(w);
    cn_jsonw_kstr(w, "ID", n->id);
    cn_jsonw_kstr(w, "Node", n->name);
    cn_jsonw_kstr(w, "Address", n->address);
    cn_jsonw_key(w, "TaggedAddresses");
    api_json_map(w, &n->tagged_addresses);
    cn_jsonw_key(w, "Meta");
    api_json_map(w, &n->meta);
    cn_jsonw_key(w, "Services");
    cn_jsonw_arr_open(w);
    state_node_services(dw->st, n->name, dump_svc_cb, dw);
    cn_jsonw_arr_close(w);
    cn_jsonw_key(w, "Checks");
    cn_jsonw_arr_open(w);
    state_node_checks(dw->st, n->name, dump_chk_cb, dw);
    cn_jsonw_arr_close(w);
    cn_jsonw_obj_close(w);
    return w->err;
}

static void r_ui_nodes(struct api_ctx *c, struct api_read *r)
{
    if (refuse_filter(c, r))
        return;
    struct state *st = srv_state(c->api->srv);
    struct cn_jsonw w;
    api_jsonw(c, &w, &r->body);
    struct dump_walk dw = {st, &w, c->api->cfg.datacenter};
    cn_jsonw_arr_open(&w);
    state_nodes_foreach(st, dump_node_cb, &dw);
    cn_jsonw_arr_close(&w);
    if (w.err)
        return api_read_error(r, 500, "out of memory");
    r->index = api_catalog_index(st);
    api_read_watch(r, STATE_T_NODES, NULL, false);
}

/* ---- GET /v1/internal/ui/session-locks (cairn's) --------------------------- */

struct locks_walk {
    struct state *st;
    struct cn_jsonw *w;
};

static int lock_key_cb(void *arg, const char *key)
{
    struct cn_jsonw *w = arg;
    cn_jsonw_str(w, key);
    return w->err;
}

static int locks_sess_cb(void *arg, const struct state_session *v)
{
    struct locks_walk *lw = arg;
    cn_jsonw_key(lw->w, v->id);
    cn_jsonw_arr_open(lw->w);
    state_session_held_keys(lw->st, v->id, lock_key_cb, lw->w);
    cn_jsonw_arr_close(lw->w);
    return lw->w->err;
}

/* {"<session ID>": ["key it holds", ...]} for every session: the sessions
 * page's "which keys does it lock", which Consul's API can only answer with
 * a recursive read of the whole KV store. Any KV write may change it. */
static void r_ui_session_locks(struct api_ctx *c, struct api_read *r)
{
    struct state *st = srv_state(c->api->srv);
    struct cn_jsonw w;
    api_jsonw(c, &w, &r->body);
    struct locks_walk lw = {st, &w};
    cn_jsonw_obj_open(&w);
    state_sessions_foreach(st, locks_sess_cb, &lw);
    cn_jsonw_obj_close(&w);
    if (w.err)
        return api_read_error(r, 500, "out of memory");
    uint64_t k = state_table_index(st, STATE_T_KV), s = state_table_index(st, STATE_T_SESSIONS);
    r->index = k > s ? k : s;
    api_read_watch(r, STATE_T_KV, NULL, false);
}

const struct api_route api_ui_routes[] = {
    /* These lists are not filtered per item by ACLs yet: with ACLs on they
     * need operator:read, so a token sees all or nothing (docs/consul-compat.md). */
    {"/v1/internal/ui/services", false, API_GET, r_ui_services, NULL, API_FIXED(OPERATOR, READ),
     API_FIXED(OPERATOR, READ)},
    {"/v1/internal/ui/nodes", false, API_GET, r_ui_nodes, NULL, API_FIXED(OPERATOR, READ),
     API_FIXED(OPERATOR, READ)},
    {"/v1/internal/ui/session-locks", false, API_GET, r_ui_session_locks, NULL,
     API_FIXED(OPERATOR, READ), API_FIXED(OPERATOR, READ)},
    {NULL, false, 0, NULL, NULL, 0, 0},
};
