/* api/metrics.c: GET /v1/agent/metrics (Consul's agent_endpoint.go
 * AgentMetrics) and what api/ measures: every answered request as
 * consul.api.http {method, path} (Consul's handleFuncMetrics: the route's
 * pattern without its leading '/', '/' turned into '_', so /v1/kv/ is
 * "v1_kv_"), and the writes Consul times in its RPC endpoints (kvs.apply,
 * txn.apply, session.apply, catalog.register/deregister) from the proposal
 * to the answer. */
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api/api_int.h"
#include "base/clock.h"
#include "base/err.h"
#include "metrics/metrics.h"

void api__metrics_tag(struct http_req *req, const struct api_route *r)
{
    if (!mx_enabled(MX_API_HTTP))
        return;
    req->tag = r;
    req->tag_ns = cn_now_ns();
}

void api__metrics_observe(struct http_req *req)
{
    const struct api_route *r = req->tag;
    struct mx_series *s = mx_series(MX_API_HTTP, r, (uintptr_t)req->method, NULL, 0);
    if (!s) {
        char path[128];
        snprintf(path, sizeof(path), "%s", r->path[0] == '/' ? r->path + 1 : r->path);
        for (char *p = path; *p; p++)
            if (*p == '/')
                *p = '_';
        struct mx_label l[2] = {{"method", req->method_str ? req->method_str : ""}, {"path", path}};
        s = mx_series(MX_API_HTTP, r, (uintptr_t)req->method, l, 2);
    }
    mx_series_add(s, (double)(cn_now_ns() - req->tag_ns) / 1e6);
}

void api__metrics_applied(struct api_ctx *c)
{
    const char *p = c->route ? c->route->path : "";
    enum mx_id id;
    if (!strcmp(p, "/v1/kv/"))
        id = MX_KVS_APPLY;
    else if (!strcmp(p, "/v1/txn"))
        id = MX_TXN_APPLY;
    else if (!strncmp(p, "/v1/session/", 12))
        id = MX_SESSION_APPLY;
    else if (!strcmp(p, "/v1/catalog/register"))
        id = MX_CATALOG_REGISTER;
    else if (!strcmp(p, "/v1/catalog/deregister"))
        id = MX_CATALOG_DEREGISTER;
    else
        return;
    mx_sample_since(id, c->propose_ns);
}

/* enablePrometheusOutput: ?format=prometheus, or an Accept header naming
 * application/openmetrics-text or text/plain; version=0.4.0. */
static bool wants_prometheus(struct api_ctx *c)
{
    const char *f = api_param(c, "format");
    if (f && !strcmp(f, "prometheus"))
        return true;
    const char *a = http_req_header(c->req, "Accept");
    while (a && *a) {
        const char *end = strchr(a, ',');
        size_t n = end ? (size_t)(end - a) : strlen(a);
        char one[256];
        snprintf(one, sizeof(one), "%.*s", (int)(n < sizeof(one) ? n : sizeof(one) - 1), a);
        char *semi = strchr(one, ';');
        char *mime = one;
        while (*mime == ' ')
            mime++;
        if (semi)
            *semi = 0;
        size_t ml = strlen(mime);
        while (ml && mime[ml - 1] == ' ')
            mime[--ml] = 0;
        if (!strcasecmp(mime, "application/openmetrics-text"))
            return true;
        if (!strcasecmp(mime, "text/plain") && semi) {
            const char *v = semi + 1;
            while (*v == ' ')
                v++;
            if (!strncmp(v, "version=0.4.0", 13) && (v[13] == 0 || v[13] == ' ' || v[13] == ';'))
                return true;
        }
        a = end ? end + 1 : NULL;
    }
    return false;
}

static void metrics_get(struct api_ctx *c)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    mx_set_time((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
    mx_collect();
    struct cn_buf b = CN_BUF_INIT;
    if (wants_prometheus(c)) {
        if (!mx_prometheus_enabled()) {
            /* agent_endpoint.go: CodeWithPayloadError, 415 */
            api_error(c, 415, "Prometheus is not enabled since its retention time is not positive");
            return;
        }
        if (mx_format_prometheus(&b))
            api_error(c, 500, "out of memory");
        else
            api_reply_raw(c, 200, "text/plain; version=0.0.4; charset=utf-8", b.p, b.len);
        cn_buf_free(&b);
        return;
    }
    if (mx_format_json(&b, c->pretty))
        api_error(c, 500, "out of memory");
    else
        api_reply_json(c, 200, &b);
    cn_buf_free(&b);
}

const struct api_route api_metrics_routes[] = {
    {"/v1/agent/metrics", false, API_GET, NULL, metrics_get, API_SELF(AGENT, READ),
     API_SELF(AGENT, READ)},
    {NULL, false, 0, NULL, NULL, 0, 0},
};
