/* api/svc_config.c: the agent's service manager (Consul's
 * agent/service_manager.go): the catalog gets a connect-proxy with its
 * Proxy.Config merged from the central configuration, while local/ keeps the
 * registration as given, so that it can be merged again when the
 * configuration changes (local_set_merge, local_remerge).
 *
 * - On a server agent the merge is computed from the state
 *   (config_resolve.c); a watch on the config entries' table re-merges
 *   (local_remerge) on the next loop turn, which re-registers every proxy whose
 *   merged form differs from its catalog row.
 * - A client agent holds no config entries: it asks its servers, for each
 *   destination its proxies name, GET /v1/internal/cairn/service-config/:name
 *   (Consul's ConfigEntry.ResolveServiceConfig), and keeps the answer; a
 *   blocking query on the answer's index follows it, and a changed answer
 *   re-merges. A failed query keeps the last answer and is tried again with a
 *   backoff (1 s doubling to 30 s). A registration whose destination was never
 *   asked waits for the first answer (Consul's fetchInitialConfig), at most
 *   10 s; with no server answering it is registered as given and merged once
 *   an answer comes. A destination no local proxy names any more is dropped.
 *
 * The internal endpoint (servers) is here too. All on the loop thread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>
#include <uv.h>

#include "api/api_int.h"
#include "base/err.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"
#include "local/local.h"
#include "server/server.h"

#define RETRY_MIN_MS 1000
#define RETRY_MAX_MS 30000
#define FIRST_WAIT_MS 10000 /* a registration's wait for its first answer */
#define UNUSED_MS 60000     /* a destination no proxy names is dropped after this */

/* One destination's resolved configuration, as a client's servers answered. */
struct rcfg {
    struct rcfg *next;
    struct api_svcmgr *m;
    char *name;
    struct json_object *proxy; /* the last ProxyConfig answered; NULL: none */
    struct json_object *ups;   /* the last UpstreamConfig answered; NULL: none */
    bool answered;             /* a server answered at least once */
    bool tried;                /* a query finished (answered or failed) */
    bool inflight;
    bool failing; /* logged once per run of failures */
    uint64_t handle;
    uint64_t index;      /* of the last answer: the next query blocks on it */
    uint64_t due_ms;     /* the next query not before (uv_now) */
    uint64_t backoff_ms; /* 0 after an answer */
    uint64_t used_ms;    /* last asked for (uv_now) */
};

/* A client's registration waiting for the first answers about its
 * destination and its upstreams (name: the one it waits for now). */
struct waiter {
    struct waiter *next;
    struct api_svcmgr *m;
    struct api_ctx *c;
    struct local_svc_def def;
    bool replace;
    api_svcmgr_go go;
    char *name;
};

struct api_svcmgr {
    struct api *api;
    bool client;
    struct srv_watch w; /* servers: the config entries' table */
    uv_timer_t t;       /* servers: the re-merge; clients: queries due */
    struct rcfg *cfgs;
    struct waiter *waits;
};

/* ---- the merge local/ asks for -------------------------------------------------------- */

static struct rcfg *rcfg_find(struct api_svcmgr *m, const char *name)
{
    for (struct rcfg *e = m->cfgs; e; e = e->next)
        if (!strcmp(e->name, name))
            return e;
    return NULL;
}

static struct rcfg *rcfg_get(struct api_svcmgr *m, const char *name);

static int merge_cb(void *arg, const struct state_service *given, struct local_merged *out)
{
    struct api_svcmgr *m = arg;
    if (!m->client)
        return api__config_resolve_proxy(srv_state(m->api->srv), given, out);
    const char *dest = given->proxy.dest_name;
    if (!dest || !*dest)
        return 0;
    /* the destination's ProxyConfig, each upstream's UpstreamConfig (NULL:
     * out of memory, as given) */
    struct rcfg *e = rcfg_get(m, dest);
    bool known = !e || e->tried;
    for (size_t i = 0; i < given->proxy.nups; i++) {
        struct rcfg *u = rcfg_get(m, given->proxy.ups[i].dest_name);
        known = known && (!u || u->tried);
    }
    if (!known)
        return CN_EAGAIN; /* being asked: local_remerge runs with the answers */
    int rc = e && e->proxy ? api__config_merge(given->proxy.config, e->proxy, &out->config) : 0;
    if (rc || !given->proxy.nups)
        return rc;
    if (!(out->ups = cn_calloc(given->proxy.nups, sizeof(*out->ups))))
        return CN_ENOMEM;
    out->nups = given->proxy.nups;
    for (size_t i = 0; i < given->proxy.nups && !rc; i++) {
        const struct state_upstream *up = &given->proxy.ups[i];
        struct rcfg *u = rcfg_find(m, up->dest_name);
        if (u && u->ups)
            rc = api__config_merge(up->config, u->ups, &out->ups[i]);
    }
    return rc;
}

/* ---- servers: re-merge when an entry changes ------------------------------------------ */

static void arm(struct api_svcmgr *m);
static void on_timer(uv_timer_t *t);

static void on_change(struct srv_watch *w, uint64_t index)
{
    (void)index;
    struct api_svcmgr *m = w->data;
    uv_timer_start(&m->t, on_timer, 0, 0); /* no write from inside a watch callback */
}

/* ---- clients: the queries ------------------------------------------------------------- */

static struct rcfg *rcfg_get(struct api_svcmgr *m, const char *name)
{
    struct rcfg *e = rcfg_find(m, name);
    if (e) {
        e->used_ms = uv_now(m->api->loop);
        return e;
    }
    if (!(e = cn_calloc(1, sizeof(*e))) || !(e->name = cn_strdup(name))) {
        cn_free(e);
        return NULL;
    }
    e->m = m;
    e->due_ms = e->used_ms = uv_now(m->api->loop);
    e->next = m->cfgs;
    m->cfgs = e;
    uv_timer_start(&m->t, on_timer, 0, 0); /* queried from the loop, never from here */
    return e;
}

static void rcfg_free(struct rcfg *e)
{
    json_object_put(e->proxy);
    json_object_put(e->ups);
    cn_free(e->name);
    cn_free(e);
}

/* Unreserved characters stay, everything else is %XX (a path segment). */
static int put_escaped(struct cn_buf *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        bool keep = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.' || ch == '~';
        char esc[3] = {'%', hex[ch >> 4], hex[ch & 15]};
        CN_TRY(keep ? cn_buf_append(b, s, 1) : cn_buf_append(b, esc, 3));
    }
    return 0;
}

static uint64_t hdr_index(const struct srv_cl_resp *r)
{
    for (uint32_t i = 0; i < r->nhdrs; i++) {
        const struct srv_cl_hdr *h = &r->hdrs[i];
        if (h->name_len == 14 && !strncasecmp(h->name, "X-Consul-Index", 14)) {
            char v[24];
            size_t n = h->value_len < sizeof(v) - 1 ? h->value_len : sizeof(v) - 1;
            memcpy(v, h->value, n);
            v[n] = 0;
            return strtoull(v, NULL, 10);
        }
    }
    return 0;
}

static void fetch_done(void *arg, int rc, const struct srv_cl_resp *r);

static void fetch_start(struct api_svcmgr *m, struct rcfg *e)
{
    struct cn_buf t = CN_BUF_INIT;
    int rc = cn_buf_puts(&t, "/v1/internal/cairn/service-config/");
    if (!rc)
        rc = put_escaped(&t, e->name);
    if (!rc && e->answered)
        rc = cn_buf_printf(&t, "?index=%llu", (unsigned long long)e->index);
    struct srv_cl_req q;
    memset(&q, 0, sizeof(q));
    q.method = "GET";
    q.method_len = 3;
    q.target = t.p;
    q.target_len = t.len;
    const char *tok = api__acl_agent_token(m->api);
    if (!tok)
        tok = api_acl_default_token(m->api);
    if (tok)
        q.hdrs[q.nhdrs++] = (struct srv_cl_hdr){"X-Consul-Token", tok, 14, strlen(tok)};
    e->inflight = true;
    cn_debug("agent", "resolving the service configuration of \"%s\" (index %llu)", e->name,
             (unsigned long long)e->index);
    if (rc || (rc = srv_client_http(m->api->srv, &q, true, fetch_done, e, &e->handle))) {
        e->inflight = false;
        e->backoff_ms = RETRY_MAX_MS; /* out of memory: much later */
        e->due_ms = uv_now(m->api->loop) + e->backoff_ms;
    }
    cn_buf_free(&t);
}

static void waiter_resume(struct waiter *w);

/* The proxy a registration writes (NULL: none), and the first of its
 * destination and upstreams whose configuration no server answered yet
 * (asked from now on; NULL: all known, or out of memory). */
static const struct state_service *def_proxy(const struct local_svc_def *def)
{
    const struct state_service *p = def->sidecar ? &def->sidecar->svc : &def->svc;
    return p->kind && !strcmp(p->kind, STATE_KIND_CONNECT_PROXY) && p->proxy.dest_name &&
                   *p->proxy.dest_name
               ? p
               : NULL;
}

static const char *first_unknown(struct api_svcmgr *m, const struct state_service *p)
{
    struct rcfg *e = rcfg_get(m, p->proxy.dest_name);
    const char *name = e && !e->tried ? e->name : NULL;
    for (size_t i = 0; i < p->proxy.nups; i++) {
        struct rcfg *u = rcfg_get(m, p->proxy.ups[i].dest_name); /* each asked at once */
        if (!name && u && !u->tried)
            name = u->name;
    }
    return name;
}

/* Registrations waiting for name's first answer go on, or wait for the next
 * name they need. */
static void wake_waiters(struct api_svcmgr *m, const char *name)
{
    struct waiter **pp = &m->waits;
    while (*pp) {
        struct waiter *w = *pp;
        if (strcmp(w->name, name) != 0) {
            pp = &w->next;
            continue;
        }
        const struct state_service *p = def_proxy(&w->def);
        const char *next = p ? first_unknown(m, p) : NULL;
        char *nn = next ? cn_strdup(next) : NULL;
        if (nn) {
            cn_free(w->name);
            w->name = nn;
            pp = &w->next;
            continue;
        }
        *pp = w->next;
        waiter_resume(w);
    }
}

int api__svccfg_answer_parse(const void *body, size_t len, struct json_object **out,
                             struct json_object **ups)
{
    *out = *ups = NULL;
    struct json_object *o = cn_json_parse((const char *)body, len, NULL, 0);
    bool obj = o && json_object_is_type(o, json_type_object);
    struct json_object *p = obj ? cn_json_get(o, "ProxyConfig") : NULL;
    struct json_object *u = obj ? cn_json_get(o, "UpstreamConfig") : NULL;
    if (!p || !json_object_is_type(p, json_type_object) || !u ||
        !json_object_is_type(u, json_type_object)) {
        json_object_put(o);
        return CN_EINVAL;
    }
    if (json_object_object_length(p))
        *out = json_object_get(p);
    if (json_object_object_length(u))
        *ups = json_object_get(u);
    json_object_put(o);
    return 0;
}

static bool same_obj(struct json_object *a, struct json_object *b)
{
    if (!a || !b)
        return a == b;
    return json_object_equal(a, b) != 0;
}

static void fetch_done(void *arg, int rc, const struct srv_cl_resp *r)
{
    struct rcfg *e = arg;
    struct api_svcmgr *m = e->m;
    e->inflight = false;
    uint64_t now = uv_now(m->api->loop);
    struct json_object *p = NULL, *u = NULL;
    bool first = !e->tried;
    bool ok = !rc && r->status == 200 && !api__svccfg_answer_parse(r->body, r->body_len, &p, &u);
    bool changed = false;
    if (ok) {
        changed = !same_obj(p, e->proxy) || !same_obj(u, e->ups);
        json_object_put(e->proxy);
        e->proxy = p;
        json_object_put(e->ups);
        e->ups = u;
        e->answered = true;
        e->failing = false;
        e->backoff_ms = 0;
        e->index = hdr_index(r);
        e->due_ms = now;
    } else {
        if (!e->failing)
            cn_warn("agent",
                    "could not resolve the service configuration of \"%s\" on a server (%s); "
                    "keeping the last one",
                    e->name,
                    rc                 ? cn_strerror(rc)
                    : r->status == 200 ? "malformed answer"
                                       : "refused");
        e->failing = true;
        e->backoff_ms = e->backoff_ms ? e->backoff_ms * 2 : RETRY_MIN_MS;
        if (e->backoff_ms > RETRY_MAX_MS)
            e->backoff_ms = RETRY_MAX_MS;
        e->due_ms = now + e->backoff_ms;
    }
    e->tried = true;
    cn_debug("agent", "service configuration of \"%s\": %s%s", e->name, ok ? "answered" : "failed",
             changed ? ", changed" : "");
    char *name = cn_strdup(e->name);
    if (name) {
        wake_waiters(m, name);
        cn_free(name);
    }
    if ((changed || first) && m->api->local)
        local_remerge(m->api->local);
    uv_timer_start(&m->t, on_timer, 0, 0);
}

/* Does a local proxy (or a waiting registration) name dest, as its
 * destination or an upstream? */
struct uses {
    const char *dest;
    bool yes;
};

static int uses_cb(void *arg, const struct state_service *s)
{
    struct uses *u = arg;
    if (!s->kind || strcmp(s->kind, STATE_KIND_CONNECT_PROXY) != 0)
        return 0;
    if (s->proxy.dest_name && !strcmp(s->proxy.dest_name, u->dest))
        u->yes = true;
    for (size_t i = 0; i < s->proxy.nups && !u->yes; i++)
        if (s->proxy.ups[i].dest_name && !strcmp(s->proxy.ups[i].dest_name, u->dest))
            u->yes = true; /* an upstream's configuration */
    return u->yes;
}

static bool in_use(struct api_svcmgr *m, const char *dest)
{
    for (struct waiter *w = m->waits; w; w = w->next)
        if (!strcmp(w->name, dest))
            return true;
    struct uses u = {dest, false};
    if (m->api->local)
        local_services_foreach(m->api->local, uses_cb, &u);
    return u.yes;
}

static void client_tick(struct api_svcmgr *m)
{
    uint64_t now = uv_now(m->api->loop), next = UINT64_MAX;
    struct rcfg **pp = &m->cfgs;
    while (*pp) {
        struct rcfg *e = *pp;
        /* a registration in flight is not in the local maps yet: a grace */
        if (e->tried && now - e->used_ms >= UNUSED_MS && !in_use(m, e->name)) {
            if (e->inflight)
                srv_client_cancel(m->api->srv, e->handle); /* its callback never runs */
            *pp = e->next;
            rcfg_free(e);
            continue;
        }
        if (!e->inflight && e->due_ms <= now)
            fetch_start(m, e);
        if (!e->inflight && e->due_ms < next)
            next = e->due_ms;
        pp = &e->next;
    }
    if (next != UINT64_MAX)
        uv_timer_start(&m->t, on_timer, next > now ? next - now : 0, 0);
}

static void on_timer(uv_timer_t *t)
{
    struct api_svcmgr *m = t->data;
    if (m->client) {
        client_tick(m);
        return;
    }
    arm(m);
    if (m->api->local)
        local_remerge(m->api->local);
}

static void arm(struct api_svcmgr *m)
{
    if (srv_watch_arm(m->api->srv, &m->w, STATE_T_CONFIG, NULL, false, on_change, m))
        uv_timer_start(&m->t, on_timer, 1000, 0); /* out of memory: try again */
}

/* ---- clients: a registration waits for its first answer ------------------------------- */

static void waiter_resume(struct waiter *w)
{
    struct api_ctx *c = w->c;
    http_req_unpark(c->req);
    c->user = NULL;
    c->user_free = NULL;
    w->go(c, &w->def, w->replace);
    local_svc_def_free(&w->def);
    cn_free(w->name);
    cn_free(w);
}

static struct waiter *waiter_unlink(struct api_svcmgr *m, struct api_ctx *c)
{
    for (struct waiter **pp = &m->waits; *pp; pp = &(*pp)->next) {
        if ((*pp)->c == c) {
            struct waiter *w = *pp;
            *pp = w->next;
            return w;
        }
    }
    return NULL;
}

static void on_wait_timeout(struct http_req *req)
{
    struct api_ctx *c = req->user;
    struct api_svcmgr *m = c->api->svcmgr;
    struct waiter *w = m ? waiter_unlink(m, c) : NULL;
    if (w)
        waiter_resume(w); /* registered as given; merged once an answer comes */
    else
        api_error(c, 500, "agent shutting down");
}

static void on_wait_abort(struct http_req *req)
{
    struct api_ctx *c = req->user;
    struct api_svcmgr *m = c->api->svcmgr;
    struct waiter *w = m ? waiter_unlink(m, c) : NULL;
    if (w) {
        local_svc_def_free(&w->def);
        cn_free(w->name);
        cn_free(w);
    }
    c->user = NULL;
    c->user_free = NULL;
    api__ctx_free(c);
    api_respond_raw(req, 499, NULL, NULL, 0, "", 0); /* only frees: the client is gone */
}

bool api__svcmgr_before_register(struct api_ctx *c, struct local_svc_def *def, bool replace,
                                 api_svcmgr_go go)
{
    struct api_svcmgr *m = c->api->svcmgr;
    if (!m || !m->client)
        return false;
    const struct state_service *p = def_proxy(def);
    if (!p)
        return false;
    const char *name = first_unknown(m, p);
    cn_debug("agent", "registration of %s: %s%s", p->id,
             name ? "waiting for the configuration of " : "configuration known", name ? name : "");
    if (!name)
        return false; /* known (or out of memory): at once */
    struct waiter *w = cn_calloc(1, sizeof(*w));
    if (!w || !(w->name = cn_strdup(name))) {
        cn_free(w);
        return false;
    }
    w->m = m;
    w->c = c;
    w->def = *def;
    memset(def, 0, sizeof(*def));
    w->replace = replace;
    w->go = go;
    w->next = m->waits;
    m->waits = w;
    http_req_park(c->req, FIRST_WAIT_MS, on_wait_timeout, on_wait_abort);
    return true;
}

/* ---- lifetime ------------------------------------------------------------------------- */

int api__svcmgr_new(struct api *a)
{
    if (!a->srv || !a->loop)
        return 0;
    struct api_svcmgr *m = cn_calloc(1, sizeof(*m));
    if (!m)
        return CN_ENOMEM;
    m->api = a;
    m->client = srv_is_client(a->srv);
    uv_timer_init(a->loop, &m->t);
    m->t.data = m;
    uv_unref((uv_handle_t *)&m->t);
    a->svcmgr = m;
    if (!m->client)
        arm(m);
    if (a->local)
        local_set_merge(a->local, merge_cb, m);
    return 0;
}

static void on_closed(uv_handle_t *h)
{
    cn_free(h->data);
}

void api__svcmgr_stop(struct api *a)
{
    struct api_svcmgr *m = a->svcmgr;
    if (!m)
        return;
    a->svcmgr = NULL;
    /* local/ is freed before (agent.c), and never merges once closing: its
     * callback is not reset here */
    if (!m->client)
        srv_watch_disarm(a->srv, &m->w);
    while (m->cfgs) {
        struct rcfg *e = m->cfgs;
        m->cfgs = e->next;
        if (e->inflight)
            srv_client_cancel(a->srv, e->handle);
        rcfg_free(e);
    }
    while (m->waits) {
        struct waiter *w = m->waits;
        m->waits = w->next;
        http_req_unpark(w->c->req);
        w->c->user = NULL;
        w->c->user_free = NULL;
        api_error(w->c, 503, "agent shutting down");
        local_svc_def_free(&w->def);
        cn_free(w->name);
        cn_free(w);
    }
    uv_close((uv_handle_t *)&m->t, on_closed);
}

/* ---- GET /v1/internal/cairn/service-config/:service (servers) ------------------------- */

static void r_svccfg(struct api_ctx *c, struct api_read *r)
{
    struct state *st = srv_state(c->api->srv);
    if (!*c->arg) {
        r->status = 400;
        cn_buf_puts(&r->body, "Missing service name");
        r->content_type = "text/plain; charset=utf-8";
        return;
    }
    r->index = state_table_index(st, STATE_T_CONFIG);
    api_read_watch(r, STATE_T_CONFIG, NULL, false);
    struct cn_jsonw w;
    api_jsonw(c, &w, &r->body);
    if (api__config_resolve_json(st, c->arg, &w)) {
        r->status = 500;
        cn_buf_free(&r->body);
        cn_buf_puts(&r->body, "out of memory");
    }
}

const struct api_route api_svccfg_routes[] = {
    /* ConfigEntry.ResolveServiceConfig: service:read on the service */
    {"/v1/internal/cairn/service-config/", true, API_GET, r_svccfg, NULL, API_ARG(SERVICE, READ),
     API_ARG(SERVICE, READ)},
    {NULL, false, 0, NULL, NULL, 0, 0},
};
