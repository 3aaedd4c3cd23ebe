/* api/forward.c: a client agent's requests to the servers. Everything but
 * the agent's own endpoints (/v1/agent/...) is forwarded whole to a server
 * (srv_client_http: method, target, the headers that matter, body) and the
 * server's answer is sent back as it came: status, Content-Type, the
 * X-Consul-* headers and the body. So blocking queries, ?stale and
 * ?consistent, X-Consul-Index/KnownLeader/LastContact and error texts are
 * exactly a server's. The request is parked while it waits (no deadline of
 * its own: the server's blocking deadline applies); a caller that goes away
 * cancels it on the server. */
#include <stdio.h>
#include <string.h>

#include "api/api_int.h"
#include "base/dur.h"
#include "base/err.h"
#include "base/mem.h"

/* Request headers a server's endpoints read. */
static const char *const fwd_headers[] = {
    "Content-Type",       "X-Consul-Token", "Authorization",  "X-Consul-Namespace",
    "X-Consul-Partition", "Cache-Control",  "X-Consul-Index",
};

struct fwd {
    struct api *a;
    struct srv *to; /* the client-mode srv the request went through */
    struct http_req *req;
    uint64_t handle;
    char dc[API_DC_MAX]; /* ?dc= forwarding: the datacenter; "" a client agent's */
};

/* Consul's structs.ErrNoDCPath. */
#define NO_DC_PATH "No path to datacenter"

#define CT_TEXT "text/plain; charset=utf-8"

static void reply_text(struct http_req *req, int status, const char *msg)
{
    api_respond_raw(req, status, CT_TEXT, NULL, 0, msg, strlen(msg));
}

static void on_answer(void *arg, int rc, const struct srv_cl_resp *m)
{
    struct fwd *f = arg;
    struct http_req *req = f->req;
    if (f->dc[0] && f->a->wan.report)
        f->a->wan.report(f->a->wan.arg, f->dc, rc);
    if (rc) {
        /* Consul's texts: structs.ErrNoServers (for another datacenter:
         * ErrNoDCPath, none of its servers took it); a connection lost under
         * an RPC in flight. */
        /* For another datacenter anything but a loss in flight is no path:
         * its route found no server, or was closed (its servers failed in
         * the WAN pool). */
        reply_text(req, 500,
                   rc == CN_EIO      ? "rpc error making call: EOF"
                   : f->dc[0]        ? NO_DC_PATH
                   : rc == CN_EAGAIN ? "No known Consul servers"
                                     : "agent shutting down");
        cn_free(f);
        return;
    }
    struct cn_buf h = CN_BUF_INIT;
    int bad = 0;
    for (uint32_t i = 0; i < m->nhdrs; i++) {
        const struct srv_cl_hdr *x = &m->hdrs[i];
        bad |= cn_buf_append(&h, x->name, x->name_len) || cn_buf_puts(&h, ": ") ||
               cn_buf_append(&h, x->value, x->value_len) || cn_buf_puts(&h, "\r\n");
    }
    char ctype[257];
    if (m->has_ctype) {
        memcpy(ctype, m->ctype, m->ctype_len);
        ctype[m->ctype_len] = '\0';
    }
    if (bad)
        reply_text(req, 500, "out of memory");
    else
        http_respond(req, m->status, m->has_ctype ? ctype : NULL, h.p, h.len, m->body, m->body_len);
    cn_buf_free(&h);
    cn_free(f);
}

static void on_abort(struct http_req *req)
{
    struct fwd *f = req->user;
    srv_client_cancel(f->to, f->handle);
    cn_free(f);
    http_respond(req, 500, NULL, NULL, 0, NULL, 0); /* only frees */
}

/* The agent drains (shutdown), or the server never answered. */
static void on_timeout(struct http_req *req)
{
    struct fwd *f = req->user;
    srv_client_cancel(f->to, f->handle);
    cn_free(f);
    reply_text(req, 500, "rpc error making call: timeout or agent shutting down");
}

bool api__client_local(const char *path)
{
    /* The agent's Connect endpoints (CA roots, leaf certificates, authorize)
     * need the CA and the intentions, which only servers hold: a server
     * answers them (its leaf cache then serves the client's services). */
    return !strncmp(path, "/v1/agent/", 10) && strncmp(path, "/v1/agent/connect/", 18) != 0;
}

/* ?near=_agent names this agent (Consul's parseSource resolves it before
 * the RPC): the server sees this agent's node name instead. 0, or CN_ENOMEM
 * (out untouched when nothing is replaced: *out NULL). */
static int resolve_near(const struct api *a, const char *target, char **out)
{
    *out = NULL;
    const char *q = strchr(target, '?');
    if (!q)
        return 0;
    struct cn_buf b = CN_BUF_INIT;
    bool changed = false;
    int rc = cn_buf_append(&b, target, (size_t)(q - target) + 1);
    const char *p = q + 1;
    while (!rc) {
        const char *end = strchr(p, '&');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == 11 && !memcmp(p, "near=_agent", 11)) {
            rc = cn_buf_puts(&b, "near=");
            for (const char *c = a->cfg.node_name; !rc && *c; c++) {
                unsigned char u = (unsigned char)*c;
                if ((u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') ||
                    u == '-' || u == '.' || u == '_' || u == '~')
                    rc = cn_buf_putc(&b, (char)u);
                else
                    rc = cn_buf_printf(&b, "%%%02X", u);
            }
            changed = true;
        } else {
            rc = cn_buf_append(&b, p, n);
        }
        if (!end || rc)
            break;
        rc = cn_buf_putc(&b, '&');
        p = end + 1;
    }
    if (!rc)
        rc = cn_buf_cstr(&b);
    if (rc || !changed) {
        cn_buf_free(&b);
        return rc;
    }
    *out = b.p;
    return 0;
}

static void forward_via(struct api *a, struct srv *to, const char *dc, struct http_req *req)
{
    struct fwd *f = cn_calloc(1, sizeof(*f));
    if (!f) {
        reply_text(req, 500, "out of memory");
        return;
    }
    f->a = a;
    f->to = to;
    f->req = req;
    snprintf(f->dc, sizeof(f->dc), "%s", dc ? dc : "");
    struct srv_cl_req *m = cn_calloc(1, sizeof(*m));
    if (!m) {
        cn_free(f);
        reply_text(req, 500, "out of memory");
        return;
    }
    m->method = req->method_str ? req->method_str : "GET";
    m->method_len = strlen(m->method);
    char *target = NULL;
    if (resolve_near(a, req->raw_target, &target)) {
        cn_free(m);
        cn_free(f);
        reply_text(req, 500, "out of memory");
        return;
    }
    m->target = target ? target : req->raw_target;
    m->target_len = strlen(m->target);
    for (size_t i = 0; i < sizeof(fwd_headers) / sizeof(fwd_headers[0]); i++) {
        const char *v = http_req_header(req, fwd_headers[i]);
        if (!v)
            continue;
        m->hdrs[m->nhdrs++] =
            (struct srv_cl_hdr){fwd_headers[i], v, strlen(fwd_headers[i]), strlen(v)};
    }
    /* The client's node: what Consul's client agent answers from its own
     * view (api__agent_node on the server). */
    if (a->cfg.node_name && *a->cfg.node_name && m->nhdrs < SRV_CL_MAX_HDRS)
        m->hdrs[m->nhdrs++] =
            (struct srv_cl_hdr){"X-Cairn-Agent-Node", a->cfg.node_name,
                                strlen("X-Cairn-Agent-Node"), strlen(a->cfg.node_name)};
    m->body = req->body;
    m->body_len = req->body_len;
    bool idem = req->method == HTTP_M_GET || req->method == HTTP_M_HEAD;
    req->user = f;
    int rc = srv_client_http(to, m, idem, on_answer, f, &f->handle);
    cn_free(m);
    cn_free(target);
    if (rc) {
        cn_free(f);
        reply_text(req, rc == CN_EINVAL ? 400 : 500,
                   rc == CN_EINVAL ? "Bad Request" : cn_strerror(rc));
        return;
    }
    /* The answer always comes later (from a frame). A deadline of ours in
     * case it never does (an answer the server could not queue): a blocking
     * query's wait and jitter, else nothing, plus the hold timeout and a
     * margin. */
    uint64_t wait_ms = 0;
    if (http_req_param(req, "index")) {
        const struct http_param *w = http_req_param(req, "wait");
        int64_t ns = 0;
        wait_ms = a->cfg.default_query_ms;
        if (w && *w->value && !cn_dur_parse(w->value, &ns) && ns >= 0)
            wait_ms = (uint64_t)(ns / CN_NS_PER_MS);
        if (wait_ms > a->cfg.max_query_ms)
            wait_ms = a->cfg.max_query_ms;
        wait_ms += wait_ms / 16;
    }
    http_req_park(req, wait_ms + 7000 + 30000, on_timeout, on_abort);
}

void api__forward(struct api *a, struct http_req *req)
{
    forward_via(a, a->srv, NULL, req);
}

bool api__dc_route(const char *path)
{
    static const char *const pre[] = {
        "/v1/catalog/",        "/v1/health/", "/v1/kv/",         "/v1/session/",     "/v1/txn",
        "/v1/query",           "/v1/event/",  "/v1/coordinate/", "/v1/internal/ui/", "/v1/acl/",
        "/v1/discovery-chain/"};
    /* Answered by every agent about the whole federation, not forwarded. */
    if (!strcmp(path, "/v1/catalog/datacenters") || !strcmp(path, "/v1/coordinate/datacenters"))
        return false;
    for (size_t i = 0; i < sizeof(pre) / sizeof(pre[0]); i++)
        if (!strncmp(path, pre[i], strlen(pre[i])))
            return true;
    return false;
}

void api__forward_dc(struct api *a, struct http_req *req, const char *dc)
{
    struct srv *to = NULL;
    int rc = a->wan.route ? a->wan.route(a->wan.arg, dc, &to) : CN_ENOTFOUND;
    if (rc || !to) {
        reply_text(req, 500, NO_DC_PATH);
        return;
    }
    forward_via(a, to, dc, req);
}

void api_set_wan(struct api *a, const struct api_wan *w)
{
    if (w)
        a->wan = *w;
    else
        memset(&a->wan, 0, sizeof(a->wan));
}

void api_set_dns_answer(struct api *a, api_dns_answer_fn fn, void *arg)
{
    a->dns_answer = fn;
    a->dns_arg = arg;
}

bool api__dns_params(struct api_ctx *c, uint64_t *limit, bool *small)
{
    *limit = 512;
    if (api_param_u64(c, "limit", limit) < 0 || *limit < 512 || *limit > 65535) {
        api_error(c, 400, "Invalid limit");
        return false;
    }
    int f = api_flag(c, "small_udp");
    if (f < 0) {
        api_error(c, 400, "Invalid value for small_udp");
        return false;
    }
    *small = f > 0;
    return true;
}

/* ---- POST /v1/internal/dns[?limit=N][&small_udp=1] --------------------------------
 * cairn's form of the RPC Consul's DNS makes to another datacenter: the body
 * is a DNS query as a client sent it to that datacenter's agent; the answer
 * is this server's DNS answer (application/octet-stream). */
static size_t internal_dns(struct api_ctx *c, struct api_dns_failover *fo)
{
    struct api *a = c->api;
    if (!a->dns_answer) {
        api_error(c, 500, "this server runs no DNS interface");
        return 0;
    }
    uint64_t limit;
    bool small;
    if (!api__dns_params(c, &limit, &small))
        return 0;
    static uint8_t out[65535];
    const uint8_t *q = (const uint8_t *)c->req->body;
    size_t len = c->req->body_len;
    if (fo) {
        fo->key[0] = '\0';
        fo->other_dc = false;
    }
    size_t n = a->dns_answer(a->dns_arg, q, len, (size_t)limit, small, fo ? fo->key : NULL,
                             fo && len <= sizeof(fo->q) ? sizeof(fo->key) : 0, out, sizeof(out));
    if (n == 0 && fo && fo->key[0]) {
        memcpy(fo->q, q, len);
        fo->qlen = len;
        fo->limit = (size_t)limit;
        fo->small_udp = small;
        return 0;
    }
    if (fo)
        fo->key[0] = '\0';
    if (n == 0) {
        api_error(c, 400, "not a DNS query");
        return 0;
    }
    api_reply_raw(c, 200, "application/octet-stream", out, n);
    return n;
}

static void internal_dns_here(struct api_ctx *c)
{
    (void)internal_dns(c, NULL);
}

static void h_internal_dns(struct api_ctx *c)
{
    struct api_dns_failover fo; /* on the stack: the hot path allocates nothing */
    bool can = c->api->wan.dns_remote != NULL;
    if (internal_dns(c, can ? &fo : NULL) == 0 && can && fo.key[0])
        api__dns_ask_other(c, &fo, "application/octet-stream", internal_dns_here);
}

const struct api_route api_wan_routes[] = {
    {"/v1/internal/dns", false, API_POST, NULL, h_internal_dns, API_ACL_OPEN, API_ACL_OPEN},
    {NULL, false, 0, NULL, NULL, 0, 0},
};
