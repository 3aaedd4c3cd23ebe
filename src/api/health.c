/* api/health.c: /v1/health/... (website/content/api-docs/health.mdx,
 * agent/health_endpoint.go). All reads block; /health/service is the hottest
 * endpoint of all (consul-template, Fabio, Traefik, Prometheus long-poll it),
 * so it walks only the instances of one service. Empty results are [] with
 * 200; Checks/ServiceTags/Tags are [] never null. */
#include <string.h>

#include "api/api_int.h"
#include "api/decode.h"
#include "api/pick.h"
#include "base/err.h"

/* ---- GET /v1/health/node/:node ------------------------------------------------- */

struct chk_walk {
    struct api_ctx *c;
    struct state *st;
    struct cn_jsonw *w;
    const char *state; /* /health/state filter, NULL = any */
    bool node_meta;    /* apply ?node-meta */
    struct filter *f;  /* ?filter= (structs.HealthCheck) */
};

static int chk_cb(void *arg, const struct state_check *chk)
{
    struct chk_walk *cw = arg;
    if (cw->state && strcmp(chk->status, cw->state) != 0)
        return 0;
    if (cw->node_meta && !api_node_meta_match(cw->c, state_node_get(cw->st, chk->node)))
        return 0;
    /* Consul's filterHealthChecks: a service check needs service:read, a
     * node check node:read. */
    if (!api_acl_keep(cw->c, *chk->service_name ? ACL_R_SERVICE : ACL_R_NODE,
                      *chk->service_name ? chk->service_name : chk->node))
        return 0;
    const struct state_service *svc =
        *chk->service_id ? state_service_get(cw->st, chk->node, chk->service_id) : NULL;
    struct api_fmark m;
    api_filter_mark(cw->w, &m);
    api_json_check(cw->w, chk, svc);
    api_filter_keep(cw->f, cw->w, &m, m.len);
    return cw->w->err;
}

static void r_node(struct api_ctx *c, struct api_read *r)
{
    if (!*c->arg)
        return api_read_error(r, 400, "Missing node name");
    struct state *st = srv_state(c->api->srv);
    struct filter *f;
    if (api_filter_open(c, api_filter_check, &f, r))
        return;
    struct cn_jsonw w;
    api_jsonw(c, &w, &r->body);
    struct chk_walk cw = {c, st, &w, NULL, false, f};
    cn_jsonw_arr_open(&w);
    /* node names match ignoring case, as in Consul's node index */
    const struct state_node *n = state_node_lookup(st, c->arg);
    state_node_checks(st, n ? n->name : c->arg, chk_cb, &cw);
    cn_jsonw_arr_close(&w);
    filter_free(f);
    if (w.err)
        return api_read_error(r, 500, "out of memory");
    r->index = state_node_index(st, c->arg);
    api_read_watch(r, STATE_T_NODES, c->arg, false);
}

/* ---- GET /v1/health/checks/:service ---------------------------------------------- */

static void r_checks(struct api_ctx *c, struct api_read *r)
{
    if (!*c->arg)
        return api_read_error(r, 400, "Missing service name");
    struct state *st = srv_state(c->api->srv);
    struct filter *f;
    if (api_filter_open(c, api_filter_check, &f, r))
        return;
    struct cn_jsonw w;
    api_jsonw(c, &w, &r->body);
    struct chk_walk cw = {c, st, &w, NULL, true, f};
    cn_jsonw_arr_open(&w);
    state_service_checks(st, c->arg, chk_cb, &cw);
    cn_jsonw_arr_close(&w);
    filter_free(f);
    if (w.err)
        return api_read_error(r, 500, "out of memory");
    r->index = state_service_index(st, c->arg);
    api_read_watch(r, STATE_T_SERVICES, c->arg, false);
}

/* ---- GET /v1/health/state/:state --------------------------------------------------- */

static void r_state(struct api_ctx *c, struct api_read *r)
{
    const char *want = c->arg;
    if (strcmp(want, "any") != 0 && !state_check_status_valid(want))
        return api_read_error(r, 400, "Invalid check state");
    struct state *st = srv_state(c->api->srv);
    struct filter *f;
    if (api_filter_open(c, api_filter_check, &f, r))
        return;
    struct cn_jsonw w;
    api_jsonw(c, &w, &r->body);
    struct chk_walk cw = {c, st, &w, strcmp(want, "any") ? want : NULL, true, f};
    cn_jsonw_arr_open(&w);
    state_checks_foreach(st, chk_cb, &cw);
    cn_jsonw_arr_close(&w);
    filter_free(f);
    if (w.err)
        return api_read_error(r, 500, "out of memory");
    /* The answer shows every check, each with its service's tags, and
     * ?node-meta filters by node rows: the index covers the three tables, and
     * the watch is the whole nodes table, which every node, service and check
     * change notes (state/catalog.c touch_node, check_changed). */
    r->index = api_catalog_index(st);
    api_read_watch(r, STATE_T_NODES, NULL, false);
}

/* ---- GET /v1/health/service/:service ------------------------------------------------ */

struct svc_walk {
    struct api_ctx *c;
    struct state *st;
    struct cn_jsonw *w;
    bool passing;
    bool all_passing; /* scratch for one instance */
    struct filter *f; /* ?filter= (structs.CheckServiceNode) */
    struct api_near *near;
};

static int passing_cb(void *arg, const struct state_check *chk)
{
    struct svc_walk *sw = arg;
    if (strcmp(chk->status, "passing") != 0) {
        sw->all_passing = false;
        return 1;
    }
    return 0;
}

static int inst_chk_cb(void *arg, const struct state_check *chk)
{
    struct svc_walk *sw = arg;
    const struct state_service *svc =
        *chk->service_id ? state_service_get(sw->st, chk->node, chk->service_id) : NULL;
    api_json_check(sw->w, chk, svc);
    return sw->w->err;
}

static int inst_cb(void *arg, const struct state_service *s)
{
    struct svc_walk *sw = arg;
    const struct state_node *n = state_node_get(sw->st, s->node);
    if (!n || !api_tags_match(sw->c, s) || !api_node_meta_match(sw->c, n) ||
        !api_acl_keep(sw->c, ACL_R_NODE, n->name))
        return 0;
    if (sw->passing) {
        /* ?passing drops an instance with any non-passing check, node checks
         * (serfHealth, maintenance) included; warning counts as failing. */
        sw->all_passing = true;
        state_instance_checks(sw->st, s, passing_cb, sw);
        if (!sw->all_passing)
            return 0;
    }
    struct cn_jsonw *w = sw->w;
    struct api_fmark m;
    api__near_item(sw->near, n->name, w->b->len);
    api_filter_mark(w, &m);
    cn_jsonw_obj_open(w);
    cn_jsonw_key(w, "Node");
    api_json_node(w, n, sw->c->api->cfg.datacenter);
    cn_jsonw_key(w, "Service");
    api_json_service(w, s, NULL);
    cn_jsonw_key(w, "Checks");
    cn_jsonw_arr_open(w);
    state_instance_checks(sw->st, s, inst_chk_cb, sw);
    cn_jsonw_arr_close(w);
    cn_jsonw_obj_close(w);
    api_filter_keep(sw->f, w, &m, m.len);
    return w->err;
}

/* Instances of service c->arg (connect: its proxies and Connect-native
 * instances, Consul's /health/connect/:service). */
static void service_read(struct api_ctx *c, struct api_read *r, bool connect)
{
    if (!*c->arg)
        return api_read_error(r, 400, "Missing service name");
    int passing = api_flag(c, "passing");
    if (passing < 0)
        return api_read_error(r, 400, "Invalid value for ?passing");
    const char *pick_err = api_pick_check(c); /* cairn's ?pick= (api/pick.c) */
    if (pick_err)
        return api_read_error(r, 400, pick_err);
    struct state *st = srv_state(c->api->srv);
    struct filter *f;
    if (api_filter_open(c, api_filter_check_service_node, &f, r))
        return;
    struct cn_jsonw w;
    api_jsonw(c, &w, &r->body);
    struct svc_walk sw = {c, st, &w, passing > 0, false, f, NULL};
    cn_jsonw_arr_open(&w);
    sw.near = api__near_begin(c, &w); /* ?near= */
    if (connect)
        state_connect_instances(st, c->arg, inst_cb, &sw);
    else
        state_service_instances(st, c->arg, inst_cb, &sw);
    api__near_end(sw.near, &w);
    cn_jsonw_arr_close(&w);
    filter_free(f);
    if (w.err)
        return api_read_error(r, 500, "out of memory");
    r->index = state_service_index(st, c->arg);
    api_read_watch(r, STATE_T_SERVICES, c->arg, false);
    api_pick_apply(c, r);
}

static void r_service(struct api_ctx *c, struct api_read *r)
{
    service_read(c, r, false);
}

static void r_connect(struct api_ctx *c, struct api_read *r)
{
    service_read(c, r, true);
}

/* Ingress: cairn has no ingress gateways, so no instance is ever behind one;
 * answer like Consul does for such a service: []. */
static void r_ingress(struct api_ctx *c, struct api_read *r)
{
    struct filter *f;
    if (api_filter_open(c, api_filter_check_service_node, &f, r))
        return; /* a bad ?filter= is still 400 */
    filter_free(f);
    struct state *st = srv_state(c->api->srv);
    cn_buf_puts(&r->body, "[]");
    r->index = state_service_index(st, c->arg);
    api_read_watch(r, STATE_T_SERVICES, c->arg, false);
}

const struct api_route api_health_routes[] = {
    {"/v1/health/node/", true, API_GET, r_node, NULL, API_ARG(NODE, READ), API_ARG(NODE, READ)},
    {"/v1/health/checks/", true, API_GET, r_checks, NULL, API_ARG(SERVICE, READ),
     API_ARG(SERVICE, READ)},
    {"/v1/health/service/", true, API_GET, r_service, NULL, API_ARG(SERVICE, READ),
     API_ARG(SERVICE, READ)},
    {"/v1/health/state/", true, API_GET, r_state, NULL, API_HANDLER, API_HANDLER},
    {"/v1/health/connect/", true, API_GET, r_connect, NULL, API_ARG(SERVICE, READ),
     API_ARG(SERVICE, READ)},
    {"/v1/health/ingress/", true, API_GET, r_ingress, NULL, API_ARG(SERVICE, READ),
     API_ARG(SERVICE, READ)},
    {NULL, false, 0, NULL, NULL, 0, 0},
};
