/* api/reply.c: the one place where HTTP-facing answers are formed: Consul's
 * plain-text errors, JSON bodies, the read headers, and the write path into
 * the server (api_propose). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api/api_int.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/mem.h"
#include "metrics/metrics.h"

#define CT_JSON "application/json"
#define CT_TEXT "text/plain; charset=utf-8"

void api__ctx_free(struct api_ctx *c)
{
    srv_watch_disarm(c->api->srv, &c->watch);
    if (c->user_free && c->user)
        c->user_free(c->user); /* a write answered without its done callback */
    acl_authz_unref(c->acl.authz);
    cn_free(c);
}

/* Consul's wrap() (agent/http.go) sets the ACL default policy on every
 * answer; with ACLs disabled it is the configured default, "allow". Go
 * canonicalises the name. */
#define ACL_POLICY_HDR "X-Consul-Default-Acl-Policy: allow\r\n"

static void respond_pol(struct http_req *req, const char *pol, int status, const char *ctype,
                        const char *hdrs, size_t hlen, const void *body, size_t len,
                        void (*release)(void *), void *arg)
{
    if (req->tag)
        api__metrics_observe(req);
    char small[1024];
    size_t pl = strlen(pol);
    if (pl + hlen <= sizeof(small)) {
        memcpy(small, pol, pl);
        if (hlen)
            memcpy(small + pl, hdrs, hlen);
        http_respond_ref(req, status, ctype, small, pl + hlen, body, len, release, arg);
        return;
    }
    char *big = cn_malloc(pl + hlen);
    if (!big) {
        http_respond_ref(req, status, ctype, hdrs, hlen, body, len, release, arg);
        return;
    }
    memcpy(big, pol, pl);
    memcpy(big + pl, hdrs, hlen);
    http_respond_ref(req, status, ctype, big, pl + hlen, body, len, release, arg);
    cn_free(big);
}

void api_respond_raw(struct http_req *req, int status, const char *ctype, const char *hdrs,
                     size_t hlen, const void *body, size_t len)
{
    respond_pol(req, ACL_POLICY_HDR, status, ctype, hdrs, hlen, body, len, NULL, NULL);
}

void api__respond_api(const struct api *a, struct http_req *req, int status, const char *ctype,
                      const void *body, size_t len)
{
    respond_pol(req, api__acl_policy_hdr(a), status, ctype, NULL, 0, body, len, NULL, NULL);
}

/* A cache hit's borrowed body (cache.c): the cache serves no request while
 * ACLs are on (api__cache_allowed), so the policy header is the default's. */
void api__respond_raw_ref(struct http_req *req, int status, const char *ctype, const char *hdrs,
                          size_t hlen, const void *body, size_t len, void (*release)(void *),
                          void *arg)
{
    respond_pol(req, ACL_POLICY_HDR, status, ctype, hdrs, hlen, body, len, release, arg);
}

static void respond(struct api_ctx *c, int status, const char *ctype, const char *hdrs, size_t hlen,
                    const void *body, size_t len)
{
    struct http_req *req = c->req;
    const char *pol = api__acl_policy_hdr(c->api);
    api__ctx_free(c);
    respond_pol(req, pol, status, ctype, hdrs, hlen, body, len, NULL, NULL);
}

void api_error(struct api_ctx *c, int status, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(msg))
        n = sizeof(msg) - 1;
    respond(c, status, CT_TEXT, NULL, 0, msg, (size_t)n);
}

void api_reply_json(struct api_ctx *c, int status, const struct cn_buf *body)
{
    respond(c, status, CT_JSON, NULL, 0, body->p, body->len);
}

void api_reply_jsonw(struct api_ctx *c, int status, const struct cn_jsonw *w, struct cn_buf *b)
{
    if (w->err)
        api_error(c, 500, "out of memory");
    else
        api_reply_json(c, status, b);
    cn_buf_free(b);
}

void api_reply_raw(struct api_ctx *c, int status, const char *ctype, const void *body, size_t len)
{
    respond(c, status, ctype, NULL, 0, body, len);
}

void api_reply_bool(struct api_ctx *c, bool v)
{
    respond(c, 200, CT_JSON, NULL, 0, v ? "true" : "false", v ? 4 : 5);
}

void api__ctx_detach(struct api_ctx *c)
{
    api__ctx_free(c);
}

void api_reply_empty(struct api_ctx *c)
{
    respond(c, 200, NULL, NULL, 0, "", 0);
}

static const char *cons_name(enum api_consistency m)
{
    return m == API_CONS_STALE ? "stale" : m == API_CONS_CONSISTENT ? "consistent" : "leader";
}

/* Endpoints whose documentation lists agent caching (api-docs/catalog.mdx,
 * health.mdx: "Agent Caching: simple" or "background refresh"). cairn keeps
 * no agent cache: every ?cached read is a miss answered from the state,
 * labelled as Consul labels a miss (features/caching.mdx). */
static bool route_caches(const struct api_route *r)
{
    static const char *const paths[] = {"/v1/catalog/services", "/v1/catalog/service/",
                                        "/v1/health/service/",  "/v1/health/connect/",
                                        "/v1/query/",           "/v1/discovery-chain/"};
    for (size_t i = 0; r && i < sizeof(paths) / sizeof(paths[0]); i++)
        if (!strcmp(r->path, paths[i]))
            return true;
    return false;
}

void api__reply_read_bytes(struct api_ctx *c, const struct api_read *r, const char *body,
                           size_t len, void (*release)(void *), void *arg)
{
    struct srv *s = c->api->srv;
    char hdrs[512] = "";
    int n = 0;
    if (!r->no_meta) {
        uint64_t idx = r->index ? r->index : 1; /* never 0: agent/consul/rpc.go blockingQuery */
        /* Go canonicalises header names, so real Consul sends exactly these. */
        n = snprintf(hdrs, sizeof(hdrs),
                     "X-Consul-Index: %llu\r\nX-Consul-Knownleader: %s\r\n"
                     "X-Consul-Lastcontact: %llu\r\nX-Consul-Effective-Consistency: %s\r\n",
                     (unsigned long long)idx, srv_known_leader(s) ? "true" : "false",
                     (unsigned long long)srv_last_contact_ms(s), cons_name(c->cons));
    }
    if (c->cached && route_caches(c->route) && n >= 0 && (size_t)n < sizeof(hdrs))
        n += snprintf(hdrs + n, sizeof(hdrs) - (size_t)n, "X-Cache: MISS\r\nAge: 0\r\n");
    if (c->acl.filtered && n >= 0 && (size_t)n < sizeof(hdrs))
        n += snprintf(hdrs + n, sizeof(hdrs) - (size_t)n,
                      "X-Consul-Results-Filtered-By-Acls: true\r\n");
    if (r->extra_headers && n >= 0 && (size_t)n < sizeof(hdrs))
        n += snprintf(hdrs + n, sizeof(hdrs) - (size_t)n, "%s", r->extra_headers);
    if (n < 0 || (size_t)n >= sizeof(hdrs))
        n = (int)strnlen(hdrs, sizeof(hdrs) - 1);
    int status = r->status ? r->status : 200;
    const char *ct = r->content_type ? r->content_type : CT_JSON;
    if (status == 404 && len == 0)
        ct = NULL;
    struct http_req *req = c->req;
    api__ctx_free(c);
    api__respond_raw_ref(req, status, ct, hdrs, (size_t)n, body ? body : "", len, release, arg);
}

void api_reply_read(struct api_ctx *c, struct api_read *r)
{
    api__reply_read_bytes(c, r, r->body.p, r->body.len, NULL, NULL);
    cn_buf_free(&r->body);
    cn_free(r->wkey);
    r->wkey = NULL;
}

void api_read_watch(struct api_read *r, enum state_table t, const char *key, bool prefix)
{
    cn_free(r->wkey);
    r->wkey = key ? cn_strdup(key) : NULL;
    r->wt = t;
    r->wprefix = prefix;
    /* Out of memory degrades to watching the whole table: still correct. */
    r->wt_set = true;
}

void api_jsonw(struct api_ctx *c, struct cn_jsonw *w, struct cn_buf *b)
{
    cn_jsonw_init(w, b, c->pretty);
}

const char *api_param(struct api_ctx *c, const char *name)
{
    const struct http_param *p = http_req_param(c->req, name);
    return p ? p->value : NULL;
}

int api_flag(struct api_ctx *c, const char *name)
{
    const struct http_param *p = http_req_param(c->req, name);
    if (!p)
        return 0;
    const char *v = p->value;
    if (!p->has_value || !*v)
        return 1;
    /* Go's strconv.ParseBool */
    static const char *yes[] = {"1", "t", "T", "true", "TRUE", "True"};
    static const char *no[] = {"0", "f", "F", "false", "FALSE", "False"};
    for (int i = 0; i < 6; i++) {
        if (strcmp(v, yes[i]) == 0)
            return 1;
        if (strcmp(v, no[i]) == 0)
            return 0;
    }
    return -1;
}

int api_param_u64(struct api_ctx *c, const char *name, uint64_t *out)
{
    const char *v = api_param(c, name);
    if (!v)
        return 0;
    if (!*v)
        return -1;
    uint64_t x = 0;
    for (const char *p = v; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        uint64_t d = (uint64_t)(*p - '0');
        if (x > (UINT64_MAX - d) / 10)
            return -1;
        x = x * 10 + d;
    }
    *out = x;
    return 1;
}

static void on_applied(void *arg, int rc, const struct state_result *res)
{
    struct api_ctx *c = arg;
    api_done_fn done = c->propose_done;
    c->propose_done = NULL;
    api__metrics_applied(c);
    if (!res) {
        /* Consul's messages for the same failures (agent/consul/rpc.go
         * structs.ErrNoLeader; raft.ErrLeadershipLost). */
        if (rc == CN_EAGAIN)
            api_error(c, 500, "No cluster leader");
        else if (rc == CN_ECONFLICT)
            api_error(c, 500, "leadership lost while committing log");
        else
            api_error(c, rc == CN_ESHUTDOWN ? 503 : 500, "rpc error: %s", cn_strerror(rc));
        return;
    }
    done(c, rc, res);
}

void api_propose(struct api_ctx *c, struct cn_buf *cmd, api_done_fn done)
{
    c->propose_done = done;
    c->propose_ns = mx_running() ? cn_now_ns() : 0;
    int rc = srv_propose(c->api->srv, cmd->p, cmd->len, on_applied, c);
    if (rc) {
        c->propose_done = NULL;
        api_error(c, rc == CN_ESHUTDOWN ? 503 : 500, "rpc error: %s", cn_strerror(rc));
    }
}

void api_propose_rc(struct api_ctx *c, int rc, struct cn_buf *cmd, api_done_fn done)
{
    if (rc)
        api_error(c, 500, "%s", cn_strerror(rc));
    else
        api_propose(c, cmd, done);
    cn_buf_free(cmd);
}

void api_read_error(struct api_read *r, int status, const char *msg)
{
    cn_buf_reset(&r->body);
    cn_buf_puts(&r->body, msg);
    r->status = status;
}
