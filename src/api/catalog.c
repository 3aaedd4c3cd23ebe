/* api/catalog.c: /v1/catalog/... (website/content/api-docs/catalog.mdx,
 * agent/catalog_endpoint.go). Reads are blocking-capable read functions that
 * name the watch covering what they looked at; writes go through Raft. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "local/local.h"
#include "api/api_int.h"
#include "api/decode.h"
#include "base/err.h"
#include "base/mem.h"

/* ---- shared filters (also used by health.c) ---------------------------------- */

/* ?node-meta=k:v (repeatable): the node must carry every pair. */
uint64_t api_catalog_index(const struct state *st)
{
    uint64_t n = state_table_index(st, STATE_T_NODES);
    uint64_t v = state_table_index(st, STATE_T_SERVICES);
    uint64_t k = state_table_index(st, STATE_T_CHECKS);
    uint64_t m = n > v ? n : v;
    return m > k ? m : k;
}

bool api_node_meta_match(struct api_ctx *c, const struct state_node *n)
{
    const struct http_req *req = c->req;
    for (size_t i = 0; i < req->nparams; i++) {
        if (strcmp(req->params[i].key, "node-meta") != 0)
            continue;
        if (!n)
            return false;
        const char *kv = req->params[i].value;
        const char *colon = strchr(kv, ':');
        size_t klen = colon ? (size_t)(colon - kv) : strlen(kv);
        const char *want = colon ? colon + 1 : "";
        bool found = false;
        for (size_t j = 0; j < n->meta.n; j++) {
            if (strlen(n->meta.items[j].k) == klen && !strncmp(n->meta.items[j].k, kv, klen)) {
                found = !strcmp(n->meta.items[j].v, want);
                break;
            }
        }
        if (!found)
            return false;
    }
    return true;
}

/* ?tag=t (repeatable): the instance must carry every tag; Consul compares
 * tags case-insensitively (state store serviceTagFilter). */
bool api_tags_match(struct api_ctx *c, const struct state_service *s)
{
    const struct http_req *req = c->req;
    for (size_t i = 0; i < req->nparams; i++) {
        if (strcmp(req->params[i].key, "tag") != 0)
            continue;
        bool found = false;
        for (size_t j = 0; j < s->ntags && !found; j++)
            found = !strcasecmp(s->tags[j], req->params[i].value);
        if (!found)
            return false;
    }
    return true;
}

/* ---- GET /v1/catalog/datacenters ------------------------------------------------ */

static void r_datacenters(struct api_ctx *c, struct api_read *r)
{
    r->no_meta = true; /* Consul's CatalogDatacenters sets no index headers */
    struct cn_jsonw w;
    api_jsonw(c, &w, &r->body);
    cn_jsonw_arr_open(&w);
    /* Every datacenter of the WAN pool, in the router's order (local first;
     * agent/wan.c wan_datacenters); a client agent asks its server. */
    char dcs[64][API_DC_MAX];
    size_t n = c->api->wan.datacenters ? c->api->wan.datacenters(c->api->wan.arg, dcs, 64) : 0;
    if (n == 0)
        cn_jsonw_str(&w, c->api->cfg.datacenter);
    for (size_t i = 0; i < n && i < 64; i++)
        cn_jsonw_str(&w, dcs[i]);
    cn_jsonw_arr_close(&w);
    if (w.err)
        api_read_error(r, 500, "out of memory");
}

/* ---- GET /v1/catalog/nodes ----------------------------------------------------- */

struct nodes_walk {
    struct api_ctx *c;
    struct cn_jsonw *w;
    struct filter *f;
    struct api_near *near;
};

static int nodes_cb(void *arg, const struct state_node *n)
{
    struct nodes_walk *nw = arg;
    if (api_node_meta_match(nw->c, n) && api_acl_keep(nw->c, ACL_R_NODE, n->name)) {
        struct api_fmark m;
        api__near_item(nw->near, n->name, nw->w->b->len);
        api_filter_mark(nw->w, &m);
        api_json_node(nw->w, n, nw->c->api->cfg.datacenter);
        api_filter_keep(nw->f, nw->w, &m, m.len);
    }
    return nw->w->err;
}

static void r_nodes(struct api_ctx *c, struct api_read *r)
{
    struct state *st = srv_state(c->api->srv);
    struct filter *f;
    if (api_filter_open(c, api_filter_node, &f, r))
        return;
    struct cn_jsonw w;
    api_jsonw(c, &w, &r->body);
    struct nodes_walk nw = {c, &w, f, NULL};
    cn_jsonw_arr_open(&w);
    nw.near = api__near_begin(c, &w); /* ?near= */
    state_nodes_foreach(st, nodes_cb, &nw);
    api__near_end(nw.near, &w);
    cn_jsonw_arr_close(&w);
    filter_free(f);
    if (w.err)
        return api_read_error(r, 500, "out of memory");
    r->index = state_table_index(st, STATE_T_NODES);
    api_read_watch(r, STATE_T_NODES, NULL, false);
}

/* ---- GET /v1/catalog/services ---------------------------------------------------- */

struct svc_list {
    struct api_ctx *c;
    struct state *st;
    const struct state_service **v;
    size_t n, cap;
    int err;
    struct filter *f;      /* ?filter= over each instance (structs.ServiceNode) */
    struct cn_buf scratch; /* an instance's JSON, for the filter */
};

static void json_catalog_service(struct cn_jsonw *w, const struct state_node *n,
                                 const struct state_service *s, const char *dc);

static int collect_cb(void *arg, const struct state_service *s)
{
    struct svc_list *l = arg;
    const struct state_node *node = state_node_get(l->st, s->node);
    if (!api_node_meta_match(l->c, node) || !api_acl_keep(l->c, ACL_R_SERVICE, s->service))
        return 0;
    if (l->f) {
        struct cn_jsonw w;
        cn_buf_reset(&l->scratch);
        cn_jsonw_init(&w, &l->scratch, 0);
        json_catalog_service(&w, node, s, l->c->api->cfg.datacenter);
        if (w.err) {
            l->err = w.err;
            return 1;
        }
        if (!api_filter_test(l->f, l->scratch.p, l->scratch.len))
            return 0;
    }
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

static int by_name(const void *a, const void *b)
{
    const struct state_service *x = *(const struct state_service *const *)a;
    const struct state_service *y = *(const struct state_service *const *)b;
    return strcmp(x->service, y->service);
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void r_services(struct api_ctx *c, struct api_read *r)
{
    struct state *st = srv_state(c->api->srv);
    struct svc_list l = {.c = c, .st = st};
    const char **tags = NULL;
    size_t tcap = 0;
    if (api_filter_open(c, api_filter_service_node, &l.f, r))
        return;
    state_services_foreach(st, collect_cb, &l);
    filter_free(l.f);
    cn_buf_free(&l.scratch);
    if (l.err)
        goto oom;
    if (l.n > 1)
        qsort(l.v, l.n, sizeof(*l.v), by_name);
    struct cn_jsonw w;
    api_jsonw(c, &w, &r->body);
    cn_jsonw_obj_open(&w);
    for (size_t i = 0; i < l.n;) {
        size_t j = i, nt = 0;
        while (j < l.n && !strcmp(l.v[j]->service, l.v[i]->service)) {
            for (size_t k = 0; k < l.v[j]->ntags; k++) {
                if (nt == tcap) {
                    size_t ncap = tcap ? tcap * 2 : 16;
                    const char **nt2 = cn_realloc(tags, ncap * sizeof(*nt2));
                    if (!nt2)
                        goto oom;
                    tags = nt2;
                    tcap = ncap;
                }
                tags[nt++] = l.v[j]->tags[k];
            }
            j++;
        }
        if (nt > 1)
            qsort(tags, nt, sizeof(*tags), str_cmp);
        cn_jsonw_key(&w, l.v[i]->service);
        cn_jsonw_arr_open(&w);
        for (size_t k = 0; k < nt; k++)
            if (k == 0 || strcmp(tags[k], tags[k - 1]))
                cn_jsonw_str(&w, tags[k]);
        cn_jsonw_arr_close(&w);
        i = j;
    }
    cn_jsonw_obj_close(&w);
    if (w.err)
        goto oom;
    cn_free(l.v);
    cn_free(tags);
    /* ?node-meta and ?filter (structs.ServiceNode has the node's fields) make
     * node rows part of the answer: their index counts too (Consul's
     * ServicesByNodeMeta takes the max of the nodes and services tables). The
     * watch holds: a node row change notes every service on the node. */
    r->index = state_table_index(st, STATE_T_SERVICES);
    if (api_param(c, "node-meta") || api_param(c, "filter")) {
        uint64_t ni = state_table_index(st, STATE_T_NODES);
        r->index = ni > r->index ? ni : r->index;
    }
    api_read_watch(r, STATE_T_SERVICES, NULL, false);
    return;
oom:
    cn_free(l.v);
    cn_free(tags);
    api_read_error(r, 500, "out of memory");
}

/* ---- GET /v1/catalog/service/:name ------------------------------------------------ */

/* CatalogService (api/catalog.go): node fields, then the flat Service* ones. */
static void json_catalog_service(struct cn_jsonw *w, const struct state_node *n,
                                 const struct state_service *s, const char *dc)
{
    static const struct state_map empty;
    cn_jsonw_obj_open(w);
    cn_jsonw_kstr(w, "ID", n ? n->id : "");
    cn_jsonw_kstr(w, "Node", s->node);
    cn_jsonw_kstr(w, "Address", n ? n->address : "");
    cn_jsonw_kstr(w, "Datacenter", dc);
    cn_jsonw_key(w, "TaggedAddresses");
    api_json_map(w, n ? &n->tagged_addresses : &empty);
    cn_jsonw_key(w, "NodeMeta");
    api_json_map(w, n ? &n->meta : &empty);
    cn_jsonw_kstr(w, "ServiceKind", s->kind);
    cn_jsonw_kstr(w, "ServiceID", s->id);
    cn_jsonw_kstr(w, "ServiceName", s->service);
    cn_jsonw_key(w, "ServiceTags");
    cn_jsonw_arr_open(w);
    for (size_t i = 0; i < s->ntags; i++)
        cn_jsonw_str(w, s->tags[i]);
    cn_jsonw_arr_close(w);
    cn_jsonw_kstr(w, "ServiceAddress", s->address);
    cn_jsonw_key(w, "ServiceTaggedAddresses");
    if (s->ntaddrs)
        api_json_taddrs(w, s);
    else
        cn_jsonw_null(w);
    cn_jsonw_key(w, "ServiceWeights");
    cn_jsonw_obj_open(w);
    cn_jsonw_ki64(w, "Passing", s->weight_passing);
    cn_jsonw_ki64(w, "Warning", s->weight_warning);
    cn_jsonw_obj_close(w);
    cn_jsonw_key(w, "ServiceMeta");
    api_json_map(w, &s->meta);
    cn_jsonw_ki64(w, "ServicePort", s->port);
    cn_jsonw_kbool(w, "ServiceEnableTagOverride", s->enable_tag_override);
    cn_jsonw_key(w, "ServiceProxy");
    api_json_proxy(w, s);
    cn_jsonw_key(w, "ServiceConnect");
    api_json_connect(w, s);
    cn_jsonw_ku64(w, "CreateIndex", s->create_index);
    cn_jsonw_ku64(w, "ModifyIndex", s->modify_index);
    cn_jsonw_obj_close(w);
}

struct inst_walk {
    struct api_ctx *c;
    struct state *st;
    struct cn_jsonw *w;
    struct filter *f;
    struct api_near *near;
};

static int inst_cb(void *arg, const struct state_service *s)
{
    struct inst_walk *iw = arg;
    const struct state_node *n = state_node_get(iw->st, s->node);
    if (api_tags_match(iw->c, s) && api_node_meta_match(iw->c, n) &&
        api_acl_keep(iw->c, ACL_R_NODE, s->node)) {
        struct api_fmark m;
        api__near_item(iw->near, s->node, iw->w->b->len);
        api_filter_mark(iw->w, &m);
        json_catalog_service(iw->w, n, s, iw->c->api->cfg.datacenter);
        api_filter_keep(iw->f, iw->w, &m, m.len);
    }
    return iw->w->err;
}

/* Instances of service c->arg (connect: its proxies and Connect-native
 * instances, Consul's /catalog/connect/:service). */
static void service_read(struct api_ctx *c, struct api_read *r, bool connect)
{
    if (!*c->arg)
        return api_read_error(r, 400, "Missing service name");
    struct state *st = srv_state(c->api->srv);
    struct filter *f;
    if (api_filter_open(c, api_filter_service_node, &f, r))
        return;
    struct cn_jsonw w;
    api_jsonw(c, &w, &r->body);
    struct inst_walk iw = {c, st, &w, f, NULL};
    cn_jsonw_arr_open(&w);
    iw.near = api__near_begin(c, &w); /* ?near= */
    if (connect)
        state_connect_instances(st, c->arg, inst_cb, &iw);
    else
        state_service_instances(st, c->arg, inst_cb, &iw);
    api__near_end(iw.near, &w);
    cn_jsonw_arr_close(&w);
    filter_free(f);
    if (w.err)
        return api_read_error(r, 500, "out of memory");
    r->index = state_service_index(st, c->arg);
    api_read_watch(r, STATE_T_SERVICES, c->arg, false);
}

/* ---- GET /v1/catalog/node/:node, /v1/catalog/node-services/:node ---------------- */

struct node_svc_walk {
    struct api_ctx *c;
    struct cn_jsonw *w;
    const char *dc;
    bool keyed; /* map by ID (node/:node) or list (node-services/:node) */
    struct filter *f;
};

static int node_svc_cb(void *arg, const struct state_service *s)
{
    struct node_svc_walk *nw = arg;
    if (!api_acl_keep(nw->c, ACL_R_SERVICE, s->service))
        return 0;
    struct api_fmark m;
    api_filter_mark(nw->w, &m);
    if (nw->keyed)
        cn_jsonw_key(nw->w, s->id);
    size_t at = nw->w->b->len;
    api_json_service(nw->w, s, nw->dc);
    api_filter_keep(nw->f, nw->w, &m, at);
    return nw->w->err;
}

static void node_read(struct api_ctx *c, struct api_read *r, bool keyed)
{
    if (!*c->arg)
        return api_read_error(r, 400, "Missing node name");
    struct state *st = srv_state(c->api->srv);
    /* node names match ignoring case, as in Consul's node index */
    const struct state_node *n = state_node_lookup(st, c->arg);
    struct filter *f;
    if (api_filter_open(c, api_filter_service, &f, r))
        return;
    struct cn_jsonw w;
    api_jsonw(c, &w, &r->body);
    r->index = state_node_index(st, c->arg);
    api_read_watch(r, STATE_T_NODES, c->arg, false);
    if (!n && keyed) {
        /* Consul answers 200 with a null body: the Go client decodes into a
         * nil *CatalogNode (api/catalog.go Node). */
        cn_jsonw_null(&w);
        filter_free(f);
        if (w.err)
            api_read_error(r, 500, "out of memory");
        return;
    }
    struct node_svc_walk nw = {c, &w, c->api->cfg.datacenter, keyed, f};
    cn_jsonw_obj_open(&w);
    cn_jsonw_key(&w, "Node");
    if (n)
        api_json_node(&w, n, c->api->cfg.datacenter);
    else
        cn_jsonw_null(&w);
    cn_jsonw_key(&w, "Services");
    if (keyed)
        cn_jsonw_obj_open(&w);
    else
        cn_jsonw_arr_open(&w);
    if (n)
        state_node_services(st, n->name, node_svc_cb, &nw);
    if (keyed)
        cn_jsonw_obj_close(&w);
    else
        cn_jsonw_arr_close(&w);
    cn_jsonw_obj_close(&w);
    filter_free(f);
    if (w.err)
        api_read_error(r, 500, "out of memory");
}

static void r_node(struct api_ctx *c, struct api_read *r)
{
    node_read(c, r, true);
}

static void r_node_services(struct api_ctx *c, struct api_read *r)
{
    node_read(c, r, false);
}

/* ---- PUT /v1/catalog/register, /v1/catalog/deregister ------------------------------ */

/* Map a state_apply outcome of a catalog write to Consul's answer. */
static void write_done(struct api_ctx *c, int rc, const struct state_result *res)
{
    if (rc == 0 || rc == CN_ENOTFOUND) {
        /* Deregistering something already gone is a no-op in Consul's state
         * store, answered `true`. */
        api_reply_bool(c, true);
        return;
    }
    const char *why = res && res->nerrors ? res->errors[0].what : cn_strerror(rc);
    api_error(c, rc == CN_EINVAL ? 400 : 500, "%s", why);
}

/* A catalog write naming this agent's own node can remove or overwrite what
 * the agent registered (even the node itself); Consul's anti-entropy puts the
 * agent's view back (agent/local/state.go SyncChanges). cairn syncs right after
 * such a write instead of periodically. */
static void write_done_own_node(struct api_ctx *c, int rc, const struct state_result *res)
{
    if (rc == 0 || rc == CN_ENOTFOUND)
        local_resync(c->api->local);
    write_done(c, rc, res);
}

static api_done_fn write_cb_for(struct api_ctx *c, const char *node)
{
    const struct local *l = c->api->local;
    return l && node && !strcmp(node, local_node(l)) ? write_done_own_node : write_done;
}

/* Consul's vetRegisterWithACL: node:write unless the node is left alone,
 * service:write for the service, and for each check node:write (a node
 * check) or service:write (a check of the service). */
static bool register_allowed(struct api_ctx *c, const struct state_register *reg)
{
    if (!c->acl.authz)
        return true;
    if (!reg->skip_node_update && !api_acl_require(c, ACL_R_NODE, reg->node.name, ACL_A_WRITE))
        return false;
    if (reg->service && !api_acl_require(c, ACL_R_SERVICE, reg->service->service, ACL_A_WRITE))
        return false;
    for (size_t i = 0; i < reg->nchecks; i++) {
        const struct state_check *k = &reg->checks[i];
        const char *sid = k->service_id ? k->service_id : "";
        if (!*sid) {
            if (!api_acl_require(c, ACL_R_NODE, reg->node.name, ACL_A_WRITE))
                return false;
            continue;
        }
        const char *sname =
            reg->service && !strcmp(reg->service->id, sid) ? reg->service->service : NULL;
        if (!sname) {
            const struct state_service *sv =
                state_service_get(srv_state(c->api->srv), reg->node.name, sid);
            sname = sv ? sv->service : sid;
        }
        if (!api_acl_require(c, ACL_R_SERVICE, sname, ACL_A_WRITE))
            return false;
    }
    return true;
}

static void h_register(struct api_ctx *c)
{
    char err[512];
    struct state_register reg;
    int rc = api_decode_catalog_register(c->req->body, c->req->body_len, &reg, err, sizeof(err));
    if (rc) {
        api_error(c, rc == CN_ENOMEM ? 500 : 400, "%s", err);
        return;
    }
    if (!register_allowed(c, &reg)) {
        state_register_clear(&reg);
        return;
    }
    /* An upstream in another datacenter would need mesh gateways. */
    for (size_t i = 0; reg.service && i < reg.service->proxy.nups; i++) {
        const char *dc = reg.service->proxy.ups[i].datacenter;
        if (dc && *dc && strcmp(dc, c->api->cfg.datacenter) != 0) {
            api_error(c, 400,
                      "Invalid service: upstream datacenter \"%.200s\" is not supported: cairn "
                      "has no mesh gateways (only the local datacenter \"%.200s\")",
                      dc, c->api->cfg.datacenter);
            state_register_clear(&reg);
            return;
        }
    }
    struct cn_buf cmd = CN_BUF_INIT;
    rc = state_cmd_register(&cmd, &reg);
    api_done_fn done = write_cb_for(c, reg.node.name);
    state_register_clear(&reg);
    if (rc) {
        cn_buf_free(&cmd);
        api_error(c, rc == CN_EINVAL ? 400 : 500, "Invalid register request: %s", cn_strerror(rc));
        return;
    }
    api_propose(c, &cmd, done);
    cn_buf_free(&cmd);
}

static void h_deregister(struct api_ctx *c)
{
    char err[512];
    struct api_catalog_dereg d;
    int rc = api_decode_catalog_deregister(c->req->body, c->req->body_len, &d, err, sizeof(err));
    if (rc) {
        api_error(c, rc == CN_ENOMEM ? 500 : 400, "%s", err);
        return;
    }
    /* vetDeregisterWithACL: the service's or check's service:write, else
     * node:write. */
    if (c->acl.authz) {
        struct state *st = srv_state(c->api->srv);
        const char *svc = NULL;
        if (d.service_id) {
            const struct state_service *sv = state_service_get(st, d.node, d.service_id);
            svc = sv ? sv->service : d.service_id;
        } else if (d.check_id) {
            const struct state_check *k = state_check_get(st, d.node, d.check_id);
            if (k && k->service_name && *k->service_name)
                svc = k->service_name;
        }
        bool ok = svc ? api_acl_require(c, ACL_R_SERVICE, svc, ACL_A_WRITE)
                      : api_acl_require(c, ACL_R_NODE, d.node, ACL_A_WRITE);
        if (!ok) {
            api_catalog_dereg_free(&d);
            return;
        }
    }
    struct cn_buf cmd = CN_BUF_INIT;
    rc = state_cmd_deregister(&cmd, d.node, d.service_id, d.check_id);
    api_done_fn done = write_cb_for(c, d.node);
    api_catalog_dereg_free(&d);
    if (rc) {
        cn_buf_free(&cmd);
        api_error(c, rc == CN_EINVAL ? 400 : 500, "Invalid deregister request: %s",
                  cn_strerror(rc));
        return;
    }
    api_propose(c, &cmd, done);
    cn_buf_free(&cmd);
}

static void r_service(struct api_ctx *c, struct api_read *r)
{
    service_read(c, r, false);
}

static void r_connect(struct api_ctx *c, struct api_read *r)
{
    service_read(c, r, true);
}

const struct api_route api_catalog_routes[] = {
    {"/v1/catalog/register", false, API_PUT, NULL, h_register, API_HANDLER, API_HANDLER},
    {"/v1/catalog/deregister", false, API_PUT, NULL, h_deregister, API_HANDLER, API_HANDLER},
    {"/v1/catalog/datacenters", false, API_GET, r_datacenters, NULL, API_ACL_OPEN, API_ACL_OPEN},
    {"/v1/catalog/nodes", false, API_GET, r_nodes, NULL, API_HANDLER, API_HANDLER},
    {"/v1/catalog/services", false, API_GET, r_services, NULL, API_HANDLER, API_HANDLER},
    {"/v1/catalog/service/", true, API_GET, r_service, NULL, API_ARG(SERVICE, READ),
     API_ARG(SERVICE, READ)},
    {"/v1/catalog/connect/", true, API_GET, r_connect, NULL, API_ARG(SERVICE, READ),
     API_ARG(SERVICE, READ)},
    {"/v1/catalog/node/", true, API_GET, r_node, NULL, API_ARG(NODE, READ), API_ARG(NODE, READ)},
    {"/v1/catalog/node-services/", true, API_GET, r_node_services, NULL, API_ARG(NODE, READ),
     API_ARG(NODE, READ)},
    {NULL, false, 0, NULL, NULL, 0, 0},
};
