/* api/router.c: request entry point. Finds the route, parses the query
 * parameters every endpoint shares (?index, ?wait, ?stale, ?consistent,
 * ?pretty), and dispatches to the read framework or the route's handler.
 * Consul's route table (agent/http_register.go) registers an explicit method
 * list per path: a known path with a wrong method is 405, an unknown path 404. */
#include <stdio.h>
#include <string.h>

#include "api/api_int.h"
#include "base/clock.h"
#include "base/dur.h"
#include "base/err.h"
#include "base/mem.h"

// clang-format off
const struct api_route *const api__route_tables[] = {
    api_kv_routes,     api_txn_routes,   api_status_routes,   api_catalog_routes,
    api_health_routes, api_acl_routes, api_agent_routes, api_operator_routes,
    api_session_routes, api_coordinate_routes, api_event_routes, api_query_routes,
    api_intention_routes, api_connect_routes, api_snapshot_routes, api_monitor_routes,
    api_metrics_routes, api_ui_routes, api_dns_remote_routes, api_keyring_routes,
    api_wan_routes, api_config_routes, api_dchain_routes, api_svccfg_routes, NULL,
};
// clang-format on
#define tables api__route_tables

static char *dupe(const char *s)
{
    return s ? cn_strdup(s) : NULL;
}

int api_new(uv_loop_t *loop, struct srv *srv, struct local *local, const struct api_config *cfg,
            struct api **out)
{
    struct api *a = cn_calloc(1, sizeof(*a));
    if (!a)
        return CN_ENOMEM;
    a->loop = loop;
    a->srv = srv;
    a->local = local;
    a->cfg = *cfg;
    a->cfg.node_name = dupe(cfg->node_name ? cfg->node_name : "");
    a->cfg.node_id = dupe(cfg->node_id ? cfg->node_id : "");
    a->cfg.datacenter = dupe(cfg->datacenter ? cfg->datacenter : "dc1");
    a->cfg.advertise_addr = dupe(cfg->advertise_addr ? cfg->advertise_addr : "127.0.0.1");
    a->cfg.version = dupe(cfg->version ? cfg->version : CAIRN_VERSION);
    a->cfg.config_json = dupe(cfg->config_json ? cfg->config_json : "{}");
    if (!a->cfg.kv_max_value_size)
        a->cfg.kv_max_value_size = 512 * 1024;
    if (!a->cfg.txn_max_req_len)
        a->cfg.txn_max_req_len = 512 * 1024;
    if (!a->cfg.default_query_ms)
        a->cfg.default_query_ms = 5 * 60 * 1000;
    if (!a->cfg.max_query_ms)
        a->cfg.max_query_ms = 10 * 60 * 1000;
    a->rng = cn_now_ns() | 1;
    if (!a->cfg.node_name || !a->cfg.node_id || !a->cfg.datacenter || !a->cfg.advertise_addr ||
        !a->cfg.version || !a->cfg.config_json || api__sess_new(a) || api__connect_new(a) ||
        api__acl_new(a) || api__cache_new(a, (size_t)cfg->http_cache_bytes) || api__coord_new(a) ||
        api__svcmgr_new(a)) {
        memset(&a->cfg.acl, 0, sizeof(a->cfg.acl));
        api_free(a);
        return CN_ENOMEM;
    }
    memset(&a->cfg.acl, 0, sizeof(a->cfg.acl)); /* api__acl_new copied what it keeps */
    *out = a;
    return 0;
}

void api_stop(struct api *a)
{
    if (a) {
        api__remote_free(a);
        api__sess_free(a);
        api__connect_stop(a);
        api__acl_stop(a);
        api__cache_free(a); /* its watches live in the server */
        api__coord_stop(a);
        api__svcmgr_stop(a);
    }
}

int api_set_config_json(struct api *a, const char *config_json)
{
    char *d = dupe(config_json ? config_json : "{}");
    if (!d)
        return CN_ENOMEM;
    cn_free((char *)a->cfg.config_json);
    a->cfg.config_json = d;
    return 0;
}

void api_free(struct api *a)
{
    if (!a)
        return;
    api__sess_free(a);
    api__connect_free(a);
    api__remote_free(a);
    api__acl_free(a);
    api__cache_free(a);
    api__coord_stop(a);
    api__svcmgr_stop(a);
    cn_free((char *)a->cfg.node_name);
    cn_free((char *)a->cfg.node_id);
    cn_free((char *)a->cfg.datacenter);
    cn_free((char *)a->cfg.advertise_addr);
    cn_free((char *)a->cfg.version);
    cn_free((char *)a->cfg.config_json);
    cn_free(a);
}

/* Find the route for path; *path_known tells whether some route matched the
 * path regardless of method. */
static const struct api_route *find_route(const char *path, enum http_method m, const char **arg,
                                          int *path_known)
{
    const struct api_route *any = NULL;
    const char *any_arg = NULL;
    *path_known = 0;
    for (size_t t = 0; tables[t]; t++) {
        for (const struct api_route *r = tables[t]; r->path; r++) {
            size_t n = strlen(r->path);
            const char *rest;
            if (r->prefix) {
                if (strncmp(path, r->path, n) != 0)
                    continue;
                rest = path + n;
            } else {
                if (strcmp(path, r->path) != 0)
                    continue;
                rest = "";
            }
            *path_known = 1;
            if (r->methods & (1u << (m == HTTP_M_HEAD ? HTTP_M_GET : m))) {
                *arg = rest;
                return r;
            }
            if (!any) {
                any = r;
                any_arg = rest;
            }
        }
    }
    (void)any_arg;
    return NULL;
}

static int parse_common(struct api_ctx *c)
{
    struct api *a = c->api;
    uint64_t idx = 0;
    int rc = api_param_u64(c, "index", &idx);
    if (rc < 0) {
        api_error(c, 400, "Invalid index");
        return -1;
    }
    c->min_index = idx;
    const char *w = api_param(c, "wait");
    if (w && *w) {
        int64_t ns;
        if (cn_dur_parse(w, &ns) || ns < 0) {
            api_error(c, 400, "Invalid wait time");
            return -1;
        }
        c->wait_ms = (uint64_t)(ns / CN_NS_PER_MS);
    }
    if (c->wait_ms > a->cfg.max_query_ms)
        c->wait_ms = a->cfg.max_query_ms;
    int stale = api_flag(c, "stale");
    int consistent = api_flag(c, "consistent");
    int pretty = api_flag(c, "pretty");
    if (stale < 0 || consistent < 0) {
        api_error(c, 400, "Invalid value for %s", stale < 0 ? "stale" : "consistent");
        return -1;
    }
    if (stale > 0 && consistent > 0) {
        api_error(c, 400, "Cannot specify ?stale with ?consistent, conflicting semantics.");
        return -1;
    }
    /* features/caching.mdx: "Combining ?cached with ?consistent is an error"
     * (agent/http.go parseConsistency). */
    c->cached = http_req_param(c->req, "cached") != NULL;
    if (c->cached && consistent > 0) {
        api_error(c, 400, "Cannot specify ?cached with ?consistent, conflicting semantics.");
        return -1;
    }
    c->cons = stale > 0 ? API_CONS_STALE : consistent > 0 ? API_CONS_CONSISTENT : API_CONS_DEFAULT;
    /* Consul checks for the key's presence only (old agent/http.go marshalJSON). */
    c->pretty = http_req_param(c->req, "pretty") != NULL || pretty > 0;
    return 0;
}

/* ---- ?dc=, ?ns=, ?partition=, ?peer= (issue 13) ---------------------------- */

static bool has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

/* Endpoints that go through an RPC carrying a datacenter (and, in Consul CE,
 * parse the enterprise meta): ?dc= naming another one has no path. */
static bool rpc_route(const char *path)
{
    static const char *const pre[] = {
        "/v1/catalog/", "/v1/health/",       "/v1/kv/",         "/v1/session/",
        "/v1/txn",      "/v1/agent/service", "/v1/agent/check", "/v1/discovery-chain/"};
    for (size_t i = 0; i < sizeof(pre) / sizeof(pre[0]); i++)
        if (has_prefix(path, pre[i]))
            return true;
    return false;
}

/* Consul CE (agent/http_ce.go parseEntMeta, parseEntMetaPartition): any
 * namespace or partition, even "default", is refused with 400; federation
 * (agent/consul/rpc.go forwardDC): structs.ErrNoDCPath, 500. Returns 0 or
 * answers and returns -1. */
static int check_scope(struct api_ctx *c)
{
    const char *path = c->req->path;
    if (!rpc_route(path))
        return 0;
    const char *h = http_req_header(c->req, "X-Consul-Namespace");
    if (h && *h) {
        api_error(c, 400,
                  "Invalid header: \"X-Consul-Namespace\" - Namespaces are a Consul Enterprise "
                  "feature");
        return -1;
    }
    const char *v = api_param(c, "ns");
    if (v && *v) {
        api_error(c, 400,
                  "Invalid query parameter: \"ns\" - Namespaces are a Consul Enterprise feature");
        return -1;
    }
    h = http_req_header(c->req, "X-Consul-Partition");
    if (h && *h) {
        api_error(c, 400,
                  "Invalid header: \"X-Consul-Partition\" - Partitions are a Consul Enterprise "
                  "feature");
        return -1;
    }
    v = api_param(c, "partition");
    if (v && *v) {
        api_error(c, 400,
                  "Invalid query parameter: \"partition\" - Partitions are a Consul Enterprise "
                  "feature");
        return -1;
    }
    v = api_param(c, "dc");
    if (v && *v && strcmp(v, c->api->cfg.datacenter) != 0 && !has_prefix(path, "/v1/agent/")) {
        api_error(c, 500, "No path to datacenter");
        return -1;
    }
    return 0;
}

/* ?peer=NAME on catalog and health reads: cairn has no cluster peering, so
 * every peer is unknown and, as in Consul's state store (no rows for that
 * peer), the answer is empty: [] ({} for the services map, null for a node). */
static bool maybe_unknown_peer(struct api_ctx *c)
{
    const char *peer = api_param(c, "peer");
    const char *path = c->req->path;
    if (!peer || !*peer || c->req->method != HTTP_M_GET ||
        !(has_prefix(path, "/v1/catalog/") || has_prefix(path, "/v1/health/")) ||
        has_prefix(path, "/v1/catalog/datacenters"))
        return false;
    struct api_read r;
    memset(&r, 0, sizeof(r));
    const char *body = "[]";
    if (!strcmp(path, "/v1/catalog/services"))
        body = "{}";
    else if (has_prefix(path, "/v1/catalog/node/"))
        body = "null";
    if (cn_buf_puts(&r.body, body)) {
        api_error(c, 500, "out of memory");
        return true;
    }
    r.index = state_last_index(srv_state(c->api->srv));
    api_reply_read(c, &r);
    return true;
}

void api_handle(void *arg, struct http_req *req)
{
    struct api *a = arg;
    /* A client agent answers its own endpoints; a server the rest. */
    if (srv_is_client(a->srv) && !api__client_local(req->path)) {
        api__forward(a, req);
        return;
    }
    struct api_ctx *c = cn_calloc(1, sizeof(*c));
    if (!c) {
        static const char msg[] = "out of memory";
        api_respond_raw(req, 500, "text/plain; charset=utf-8", NULL, 0, msg, sizeof(msg) - 1);
        return;
    }
    c->api = a;
    c->req = req;
    req->user = c;
    /* Consul rejects a newline in resource names (api-structure.mdx). */
    if (memchr(req->path, '\n', req->path_len) || memchr(req->path, '\r', req->path_len)) {
        api_error(c, 400, "Invalid request path: contains a newline");
        return;
    }
    int known;
    const char *rest = "";
    const struct api_route *r = find_route(req->path, req->method, &rest, &known);
    if (!r) {
        if (known)
            api_error(c, 405, "method %s not allowed", req->method_str ? req->method_str : "");
        else
            api_error(c, 404, "404 page not found");
        return;
    }
    c->route = r;
    c->arg = rest;
    api__metrics_tag(req, r);
    if (parse_common(c))
        return;
    /* ?dc= another datacenter: its servers answer (Consul's forwardDC), with
     * its ACLs, blocking and consistency; the token and headers go along. */
    const char *dc = api_param(c, "dc");
    if (dc && *dc && strcmp(dc, a->cfg.datacenter) != 0 && api__dc_route(req->path)) {
        char dcname[API_DC_MAX];
        snprintf(dcname, sizeof(dcname), "%s", dc);
        api__ctx_free(c);
        req->user = NULL;
        api__forward_dc(a, req, dcname);
        return;
    }
    if (api__acl_repl_forward(c))
        return;
    if (check_scope(c) || !api__acl_enter(c))
        return;
    api__route_run(c);
}

void api__route_run(struct api_ctx *c)
{
    struct http_req *req = c->req;
    const struct api_route *r = c->route;
    if (maybe_unknown_peer(c))
        return;
    if (api__query_failover(c))
        return;
    if ((req->method == HTTP_M_GET || req->method == HTTP_M_HEAD) && r->read)
        api_run_read(c);
    else if (r->handle)
        r->handle(c);
    else
        api_error(c, 405, "method %s not allowed", req->method_str ? req->method_str : "");
}
