/* api/acl_authz.c: from a request's token to an authorizer (Consul's
 * agent/consul/acl.go ACLResolver), the router's enforcement of each route's
 * ACL column, and the leader's ACL upkeep (Consul's leader initializeACLs and
 * the expired-token reaper).
 *
 * Resolution: the secret (X-Consul-Token, Authorization: Bearer, ?token=;
 * none = acl.tokens.default, else the anonymous token) picks a slot of a
 * cache of compiled authorizers by a hash of its bytes (FNV-1a: its time
 * depends on the length only) and is compared with the slot's copy by
 * CRYPTO_memcmp; the cache is flushed whenever the ACL table's index moves.
 * A miss walks every token comparing secrets with CRYPTO_memcmp, then merges
 * the token's policies and its roles' policies into one acl_authz
 * (acl/authz.c). Secrets are never logged: log lines name AccessorIDs.
 * (SHA-256 keyed the cache first: 1 us per request with OpenSSL 3's
 * one-shot SHA256, 4% of a KV read; bench/acl/acl_micro.c.)
 *
 * A client agent holds no ACL table: the requests it answers itself (its
 * /v1/agent/ endpoints, its own registrations) resolve a token by asking a
 * server (GET /v1/internal/acl/resolve with the token: its policies' rules),
 * compile the rules here and keep the authorizer in the same slots for
 * acl.token_ttl (Consul's 30 s). When no server answers, acl.down_policy
 * decides (Consul's): allow (everything), deny (nothing), extend-cache (the
 * cached authorizer past its TTL, else deny), async-cache (as extend-cache,
 * and a cached one past its TTL answers at once while it is fetched again).
 * The request is parked meanwhile and goes on through api__route_run. */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "api/api_int.h"
#include "base/err.h"
#include "base/json.h"
#include "base/log.h"
#include "base/mem.h"

#define SLOTS 256
#define PROBE 8
#define TICK_MS 1000

struct slot {
    bool used;
    char *secret; /* owned copy */
    size_t len;
    struct acl_authz *z;
    char accessor[40];
    int64_t expires;     /* unix ns, 0 = never */
    uint64_t fetched_ms; /* client agents: when a server resolved it (uv_now) */
    bool refreshing;     /* client agents: a fetch of it is on its way */
};

struct fetch; /* a client agent's resolution on its way */

struct api_acl {
    struct api *api;
    bool default_allow;
    char *initial_management, *agent_recovery, *data_dir, *down_policy;
    char *agent_tok, *default_tok; /* settable at run time (/v1/agent/token) */
    char *repl_tok;                /* acl.tokens.replication, settable too */
    bool persist;
    int64_t min_ttl, max_ttl;
    uint64_t cache_index;
    struct slot slots[SLOTS];
    uv_timer_t timer;
    struct pending *inflight; /* a leader upkeep write on its way */
    bool warned_agent;        /* "no agent token" logged */
    /* client agents */
    enum { DOWN_ALLOW, DOWN_DENY, DOWN_EXTEND, DOWN_ASYNC } down;
    uint64_t ttl_ms;
    struct fetch *fetches; /* on their way, cancelled when the API stops */
};

static int64_t now_unix_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

const char *api__acl_policy_hdr(const struct api *a)
{
    return a->acl && !a->acl->default_allow ? "X-Consul-Default-Acl-Policy: deny\r\n"
                                            : "X-Consul-Default-Acl-Policy: allow\r\n";
}

static void flush(struct api_acl *m)
{
    for (size_t i = 0; i < SLOTS; i++) {
        if (m->slots[i].used) {
            acl_authz_unref(m->slots[i].z);
            cn_free(m->slots[i].secret);
        }
        memset(&m->slots[i], 0, sizeof(m->slots[i]));
    }
}

static bool str_ct_eq(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    if (na != nb)
        return false;
    return CRYPTO_memcmp(a, b, na) == 0;
}

/* ---- compiling a token ------------------------------------------------------- */

static struct json_object *def_of(const struct state_acl *v)
{
    return v ? cn_json_parse((const char *)v->def, v->def_len, NULL, 0) : NULL;
}

/* The policies a token links (directly and through roles), as many as it
 * has: Consul sets no bound. */
struct pols {
    struct acl_policy *p;
    size_t n, cap;
    bool manage;
    bool oom;             /* a policy could not be kept: the token does not compile */
    struct cn_jsonw *out; /* set: write each policy's rules here instead */
};

/* Room for one more policy in ps->p (ps->oom set when there is none). */
static bool pols_room(struct pols *ps)
{
    if (ps->n < ps->cap)
        return true;
    size_t cap = ps->cap ? ps->cap * 2 : 8;
    struct acl_policy *p = cn_realloc(ps->p, cap * sizeof(*p));
    if (!p) {
        ps->oom = true;
        return false;
    }
    ps->p = p;
    ps->cap = cap;
    return true;
}

/* The authorizer of the policies gathered (NULL: out of memory), and ps
 * emptied. */
static struct acl_authz *pols_compile(struct pols *ps, bool default_allow)
{
    struct acl_authz *z = NULL;
    const struct acl_policy **pp = ps->n ? cn_calloc(ps->n, sizeof(*pp)) : NULL;
    if (!ps->oom && (pp || !ps->n)) {
        for (size_t i = 0; i < ps->n; i++)
            pp[i] = &ps->p[i];
        z = ps->manage ? acl_authz_manage() : acl_authz_new(pp, ps->n, default_allow);
    }
    cn_free(pp);
    for (size_t i = 0; i < ps->n; i++)
        acl_policy_clear(&ps->p[i]);
    cn_free(ps->p);
    ps->p = NULL;
    ps->n = ps->cap = 0;
    return z;
}

static void add_policy(struct api *a, struct pols *ps, const char *id)
{
    if (!id)
        return;
    if (!strcmp(id, API_ACL_GM_ID)) {
        ps->manage = true;
        return;
    }
    const struct state_acl *pv = state_acl_get(srv_state(a->srv), STATE_ACL_POLICY, id);
    struct json_object *d = def_of(pv);
    if (!d)
        return;
    /* A policy limited to other datacenters does not apply here. */
    struct json_object *dcs = cn_json_get(d, "Datacenters");
    bool here = true;
    if (dcs && json_object_is_type(dcs, json_type_array) && json_object_array_length(dcs)) {
        here = false;
        for (size_t i = 0; i < json_object_array_length(dcs); i++)
            if (!strcmp(json_object_get_string(json_object_array_get_idx(dcs, i)),
                        a->cfg.datacenter))
                here = true;
    }
    const char *rules = NULL;
    cn_json_get_str(d, "Rules", &rules);
    if (here && rules && ps->out) {
        cn_jsonw_str(ps->out, rules);
        ps->n++;
    } else if (here && rules && pols_room(ps) &&
               !acl_policy_parse(rules, strlen(rules), &ps->p[ps->n], NULL, 0)) {
        ps->n++;
    }
    json_object_put(d);
}

static void add_links(struct api *a, struct pols *ps, struct json_object *d, bool roles)
{
    struct json_object *arr = cn_json_get(d, roles ? "Roles" : "Policies");
    if (!arr || !json_object_is_type(arr, json_type_array))
        return;
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        const char *id = NULL;
        cn_json_get_str(json_object_array_get_idx(arr, i), "ID", &id);
        if (!roles) {
            add_policy(a, ps, id);
            continue;
        }
        struct json_object *rd =
            def_of(id ? state_acl_get(srv_state(a->srv), STATE_ACL_ROLE, id) : NULL);
        if (rd) {
            add_links(a, ps, rd, false);
            json_object_put(rd);
        }
    }
}

/* The authorizer of a token object (or of no token: no policies). */
static struct acl_authz *compile(struct api *a, const struct state_acl *tok)
{
    struct pols *ps = cn_calloc(1, sizeof(*ps));
    if (!ps)
        return NULL;
    struct json_object *d = def_of(tok);
    if (d) {
        add_links(a, ps, d, false);
        add_links(a, ps, d, true);
        json_object_put(d);
    }
    struct acl_authz *z = pols_compile(ps, a->acl->default_allow);
    cn_free(ps);
    return z;
}

/* agent_recovery: agent:write on this agent's node, node:read (Consul's
 * agent recovery authorizer). */
static struct acl_authz *recovery_authz(struct api *a)
{
    struct acl_rule r[2] = {{ACL_R_AGENT, false, ACL_L_WRITE, (char *)a->cfg.node_name},
                            {ACL_R_NODE, true, ACL_L_READ, ""}};
    struct acl_policy p = {r, 2};
    const struct acl_policy *pp = &p;
    return acl_authz_new(&pp, 1, false);
}

struct find {
    const char *secret;
    const struct state_acl *hit;
};
static int find_cb(void *arg, const struct state_acl *v)
{
    struct find *f = arg;
    if (str_ct_eq(v->name, f->secret) && !f->hit)
        f->hit = v;
    return 0; /* walk all: the time does not say which matched */
}

static size_t home_of(const char *secret, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)secret[i]) * 0x100000001b3ull;
    return (size_t)(h % SLOTS);
}

/* The slot holding secret, or NULL; *free_slot: where to store it. */
static struct slot *slot_find(struct api_acl *m, const char *secret, size_t len, size_t *free_slot)
{
    size_t home = home_of(secret, len);
    *free_slot = SIZE_MAX;
    for (size_t k = 0; k < PROBE; k++) {
        struct slot *s = &m->slots[(home + k) % SLOTS];
        if (!s->used) {
            if (*free_slot == SIZE_MAX)
                *free_slot = (home + k) % SLOTS;
            continue;
        }
        if (s->len == len && CRYPTO_memcmp(s->secret, secret, len) == 0)
            return s;
    }
    if (*free_slot == SIZE_MAX) /* a full run: evict its first */
        *free_slot = home;
    return NULL;
}

/* Store nz (taken) for secret in slot i; NULL when out of memory (nz is
 * then not cached and stays the caller's). */
static struct slot *slot_store(struct api_acl *m, size_t i, const char *secret, size_t len,
                               struct acl_authz *nz, const char *acc, int64_t expires)
{
    struct slot *s = &m->slots[i];
    char *copy = cn_strdup(secret);
    if (!copy)
        return NULL;
    if (s->used) {
        acl_authz_unref(s->z);
        cn_free(s->secret);
    }
    *s = (struct slot){.used = true, .z = nz, .expires = expires, .len = len, .secret = copy};
    snprintf(s->accessor, sizeof(s->accessor), "%s", acc);
    return s;
}

int api__acl_resolve(struct api *a, const char *secret, struct acl_authz **z, char *accessor,
                     size_t cap)
{
    struct api_acl *m = a->acl;
    struct state *st = srv_state(a->srv);
    *z = NULL;
    if (!secret || !*secret)
        secret = m->default_tok && *m->default_tok ? m->default_tok : "anonymous";
    uint64_t idx = state_table_index(st, STATE_T_ACL);
    if (idx != m->cache_index) {
        flush(m);
        m->cache_index = idx;
    }
    size_t len = strlen(secret);
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)secret[i]) * 0x100000001b3ull;
    size_t home = (size_t)(h % SLOTS);
    int64_t now = now_unix_ns();
    size_t free_slot = SIZE_MAX;
    for (size_t k = 0; k < PROBE; k++) {
        struct slot *s = &m->slots[(home + k) % SLOTS];
        if (!s->used) {
            if (free_slot == SIZE_MAX)
                free_slot = (home + k) % SLOTS;
            continue;
        }
        if (s->len != len || CRYPTO_memcmp(s->secret, secret, len) != 0)
            continue;
        if (s->expires && now >= s->expires)
            return CN_ENOTFOUND;
        *z = acl_authz_ref(s->z);
        snprintf(accessor, cap, "%s", s->accessor);
        return 0;
    }
    struct acl_authz *nz = NULL;
    char acc[40] = "";
    int64_t expires = 0;
    if (m->agent_recovery && *m->agent_recovery && str_ct_eq(secret, m->agent_recovery)) {
        nz = recovery_authz(a);
        snprintf(acc, sizeof(acc), "agent-recovery-token");
    } else {
        struct find f = {secret, NULL};
        state_acl_foreach(st, STATE_ACL_TOKEN, find_cb, &f);
        if (!f.hit) {
            if (strcmp(secret, "anonymous") != 0)
                return CN_ENOTFOUND;
            /* The anonymous token before the leader created it: no policies. */
            snprintf(acc, sizeof(acc), "%s", API_ACL_ANON_ID);
            nz = compile(a, NULL);
        } else {
            if (f.hit->expires_unix_ns && now >= f.hit->expires_unix_ns)
                return CN_ENOTFOUND;
            snprintf(acc, sizeof(acc), "%s", f.hit->id);
            expires = f.hit->expires_unix_ns;
            nz = compile(a, f.hit);
        }
    }
    if (!nz)
        return CN_ENOMEM;
    if (free_slot == SIZE_MAX) /* a full run: evict its first */
        free_slot = home;
    struct slot *s = &m->slots[free_slot];
    if (s->used) {
        acl_authz_unref(s->z);
        cn_free(s->secret);
    }
    *s = (struct slot){.used = true, .z = nz, .expires = expires, .len = len};
    s->secret = cn_strdup(secret);
    if (!s->secret) {
        s->used = false; /* not cached: resolved again next time */
        *z = nz;
        snprintf(accessor, cap, "%s", acc);
        return 0;
    }
    snprintf(s->accessor, sizeof(s->accessor), "%s", acc);
    *z = acl_authz_ref(nz);
    snprintf(accessor, cap, "%s", acc);
    return 0;
}

/* ---- the request's view --------------------------------------------------------- */

const char *api__acl_token_of(struct api_ctx *c)
{
    const char *t = http_req_header(c->req, "X-Consul-Token");
    if (t && *t)
        return t;
    t = http_req_header(c->req, "Authorization");
    if (t && !strncasecmp(t, "Bearer ", 7)) {
        t += 7;
        while (*t == ' ')
            t++;
        if (*t)
            return t;
    }
    t = api_param(c, "token");
    return t && *t ? t : NULL;
}

void api_acl_denied_text(const struct api_ctx *c, enum acl_res r, const char *name,
                         enum acl_access a, char *buf, size_t cap)
{
    bool anon = !strcmp(c->acl.accessor, API_ACL_ANON_ID);
    char who[96];
    if (anon)
        snprintf(who, sizeof(who), "anonymous token");
    else
        snprintf(who, sizeof(who), "token with AccessorID '%s'", c->acl.accessor);
    char on[600] = "";
    if (r < ACL_R_FIRST_SINGLE && name)
        snprintf(on, sizeof(on), " on \"%.500s\"", name);
    snprintf(buf, cap, "Permission denied: %s lacks permission '%s:%s'%s%s", who, acl_res_name(r),
             acl_access_name(a), on,
             anon ? ". The anonymous token is used implicitly when a request does not specify a "
                    "token."
                  : "");
}

bool api_acl_default_allow(const struct api *a)
{
    return !a->acl || a->acl->default_allow;
}

bool api_acl_require(struct api_ctx *c, enum acl_res r, const char *name, enum acl_access a)
{
    if (api_acl_ok(c, r, name, a))
        return true;
    char msg[1024];
    api_acl_denied_text(c, r, name, a, msg, sizeof(msg));
    api_error(c, 403, "%s", msg);
    return false;
}

bool api_acl_read_require(struct api_ctx *c, struct api_read *rd, enum acl_res r, const char *name,
                          enum acl_access a)
{
    if (api_acl_ok(c, r, name, a))
        return true;
    char msg[1024];
    api_acl_denied_text(c, r, name, a, msg, sizeof(msg));
    api_read_error(rd, 403, msg);
    return false;
}

static bool client_enter(struct api_ctx *c, struct srv *to);
static int remote_srv(struct api *a, struct srv **to);
static bool route_check(struct api_ctx *c);

bool api__acl_enter(struct api_ctx *c)
{
    struct api *a = c->api;
    if (!a->acl)
        return true;
    struct srv *to = NULL;
    int rrc = remote_srv(a, &to);
    if (rrc != CN_ENOTFOUND)
        return client_enter(c, to);
    const char *secret = api__acl_token_of(c);
    int rc = api__acl_resolve(a, secret, &c->acl.authz, c->acl.accessor, sizeof(c->acl.accessor));
    if (rc == CN_ENOTFOUND) {
        api_error(c, 403, "ACL not found");
        return false;
    }
    if (rc) {
        api_error(c, 500, "%s", cn_strerror(rc));
        return false;
    }
    return route_check(c);
}

/* The route's ACL column against the resolved authorizer. */
static bool route_check(struct api_ctx *c)
{
    struct api *a = c->api;
    bool get = c->req->method == HTTP_M_GET || c->req->method == HTTP_M_HEAD;
    uint16_t d = get ? c->route->acl_get : c->route->acl_set;
    const char *name = NULL;
    switch (API_ACL_HOW(d)) {
    case API_ACL_ARG:
        name = c->arg;
        break;
    case API_ACL_SELF:
        name = a->cfg.node_name;
        break;
    case API_ACL_FIXED:
        name = "";
        break;
    case API_ACL_HANDLER:
    case API_ACL_NOCHECK:
        return true;
    default:
        /* An undeclared route: refuse rather than serve unchecked. */
        api_error(c, 403, "Permission denied");
        return false;
    }
    return api_acl_require(c, API_ACL_RES(d), name, API_ACL_ACC(d));
}

/* ---- client agents: tokens resolved through a server ------------------------------ */

void api__acl_h_resolve(struct api_ctx *c)
{
    struct api *a = c->api;
    if (!a->acl) {
        api_error(c, 401, "ACL support disabled");
        return;
    }
    const struct state_acl *tok =
        state_acl_get(srv_state(a->srv), STATE_ACL_TOKEN, c->acl.accessor);
    struct pols *ps = cn_calloc(1, sizeof(*ps));
    if (!ps) {
        api_error(c, 500, "out of memory");
        return;
    }
    struct cn_buf b = CN_BUF_INIT;
    struct cn_jsonw w;
    api_jsonw(c, &w, &b);
    cn_jsonw_obj_open(&w);
    cn_jsonw_kstr(&w, "AccessorID", c->acl.accessor);
    cn_jsonw_ki64(&w, "ExpirationTime", tok ? tok->expires_unix_ns : 0);
    cn_jsonw_key(&w, "Rules");
    cn_jsonw_arr_open(&w);
    ps->out = &w;
    struct json_object *d = def_of(tok);
    if (d) {
        add_links(a, ps, d, false);
        add_links(a, ps, d, true);
        json_object_put(d);
    }
    cn_jsonw_arr_close(&w);
    cn_jsonw_kbool(&w, "Management", ps->manage);
    cn_jsonw_obj_close(&w);
    cn_free(ps);
    api_reply_jsonw(c, 200, &w, &b);
}

/* One GET /v1/internal/acl/resolve on its way to a server; c NULL = a
 * refresh nobody waits for. */
struct fetch {
    struct fetch *next, *prev;
    struct api_acl *m;
    struct srv *to; /* a->srv (a client agent), or the route to the primary */
    struct api_ctx *c;
    uint64_t handle;
    size_t len;
    char secret[]; /* NUL-terminated */
};

static void fetch_unlink(struct fetch *f)
{
    if (f->prev)
        f->prev->next = f->next;
    else
        f->m->fetches = f->next;
    if (f->next)
        f->next->prev = f->prev;
}

/* The secret a request (or the agent) uses: none = the default token, else
 * the anonymous one. */
static const char *effective(const struct api_acl *m, const char *secret)
{
    if (!secret || !*secret)
        secret = m->default_tok && *m->default_tok ? m->default_tok : "anonymous";
    return secret;
}

/* A server's answer into an authorizer (NULL: malformed or out of memory). */
static struct acl_authz *compile_answer(struct api_acl *m, const struct srv_cl_resp *r, char *acc,
                                        size_t cap, int64_t *expires)
{
    struct json_object *o = cn_json_parse((const char *)r->body, r->body_len, NULL, 0);
    if (!o)
        return NULL;
    const char *id = NULL;
    cn_json_get_str(o, "AccessorID", &id);
    snprintf(acc, cap, "%s", id ? id : "");
    struct json_object *e = cn_json_get(o, "ExpirationTime");
    *expires = e ? json_object_get_int64(e) : 0;
    struct json_object *mg = cn_json_get(o, "Management");
    struct json_object *rules = cn_json_get(o, "Rules");
    struct acl_authz *z = NULL;
    if (mg && json_object_get_boolean(mg)) {
        z = acl_authz_manage();
    } else if (rules && json_object_is_type(rules, json_type_array)) {
        struct pols *ps = cn_calloc(1, sizeof(*ps));
        if (ps) {
            for (size_t i = 0; i < json_object_array_length(rules); i++) {
                const char *t = json_object_get_string(json_object_array_get_idx(rules, i));
                if (t && pols_room(ps) && !acl_policy_parse(t, strlen(t), &ps->p[ps->n], NULL, 0))
                    ps->n++;
            }
            z = pols_compile(ps, m->default_allow);
            cn_free(ps);
        }
    }
    json_object_put(o);
    return z;
}

/* What down_policy gives a token no server could resolve: an authorizer
 * reference and its accessor, or NULL (deny with "ACL not found"). */
static struct acl_authz *down_authz(struct api_acl *m, const struct slot *stale, char *acc,
                                    size_t cap)
{
    if (stale && (m->down == DOWN_EXTEND || m->down == DOWN_ASYNC)) {
        snprintf(acc, cap, "%s", stale->accessor);
        return acl_authz_ref(stale->z);
    }
    snprintf(acc, cap, "%s", "");
    if (m->down == DOWN_ALLOW)
        return acl_authz_manage();
    if (m->down == DOWN_DENY || m->down == DOWN_EXTEND || m->down == DOWN_ASYNC)
        return acl_authz_new(NULL, 0, false);
    return NULL;
}

static void fetch_done(void *arg, int rc, const struct srv_cl_resp *r);
static void on_park_timeout(struct http_req *req);
static void on_park_abort(struct http_req *req);

/* Where a token not held here is resolved: a client agent's servers, or,
 * in a secondary datacenter whose copy lacks tokens, the primary's
 * (Consul's server resolver: remote while token replication is off or has
 * not run). 0 and *to, CN_EAGAIN (no route to the primary now), or
 * CN_ENOTFOUND (resolved here). */
static int remote_srv(struct api *a, struct srv **to)
{
    *to = NULL;
    if (srv_is_client(a->srv)) {
        *to = a->srv;
        return 0;
    }
    if (!api__acl_secondary(a))
        return CN_ENOTFOUND;
    if (api__acl_repl_tokens(a) &&
        state_acl_get(srv_state(a->srv), STATE_ACL_TOKEN, API_ACL_ANON_ID))
        return CN_ENOTFOUND; /* the replicated copy is authoritative */
    return api__acl_primary_route(a, to) ? CN_EAGAIN : 0;
}

bool api__acl_remote_mode(struct api *a)
{
    struct srv *to;
    return a->acl && !srv_is_client(a->srv) && remote_srv(a, &to) != CN_ENOTFOUND;
}

static int fetch_start(struct api_acl *m, struct srv *to, const char *secret, struct api_ctx *c)
{
    size_t len = strlen(secret);
    struct fetch *f = cn_calloc(1, sizeof(*f) + len + 1);
    if (!f)
        return CN_ENOMEM;
    f->m = m;
    f->to = to;
    f->c = c;
    f->len = len;
    memcpy(f->secret, secret, len + 1);
    struct srv_cl_req q;
    memset(&q, 0, sizeof(q));
    static const char target[] = "/v1/internal/acl/resolve";
    q.method = "GET";
    q.method_len = 3;
    q.target = target;
    q.target_len = sizeof(target) - 1;
    q.hdrs[q.nhdrs++] = (struct srv_cl_hdr){"X-Consul-Token", f->secret, 14, len};
    int rc = srv_client_http(to, &q, true, fetch_done, f, &f->handle);
    if (rc) {
        cn_free(f);
        return rc;
    }
    f->next = m->fetches;
    if (f->next)
        f->next->prev = f;
    m->fetches = f;
    return 0;
}

/* A waiting request goes on (authorizer taken) or is answered. */
static void resume(struct api_ctx *c, struct acl_authz *z, const char *acc, int status,
                   const char *msg)
{
    http_req_unpark(c->req);
    if (!z) {
        api_error(c, status, "%s", msg);
        return;
    }
    c->acl.authz = z;
    snprintf(c->acl.accessor, sizeof(c->acl.accessor), "%s", acc);
    if (route_check(c))
        api__route_run(c);
}

static void fetch_done(void *arg, int rc, const struct srv_cl_resp *r)
{
    struct fetch *f = arg;
    struct api_acl *m = f->m;
    fetch_unlink(f);
    size_t free_slot;
    struct slot *s = slot_find(m, f->secret, f->len, &free_slot);
    if (s)
        s->refreshing = false;
    struct acl_authz *z = NULL;
    char acc[40] = "";
    int status = 0;
    const char *msg = "";
    if (!rc && r->status == 200) {
        int64_t expires = 0;
        z = compile_answer(m, r, acc, sizeof(acc), &expires);
        if (z) {
            struct slot *ns = slot_store(m, s ? (size_t)(s - m->slots) : free_slot, f->secret,
                                         f->len, acl_authz_ref(z), acc, expires);
            if (ns)
                ns->fetched_ms = uv_now(m->api->loop);
            else
                acl_authz_unref(z); /* the reference meant for the slot */
        } else {
            status = 500;
            msg = "out of memory";
        }
    } else if (!rc && r->status == 403) {
        /* the servers do not know it (or it expired): forget it */
        if (s) {
            acl_authz_unref(s->z);
            cn_free(s->secret);
            memset(s, 0, sizeof(*s));
        }
        status = 403;
        msg = "ACL not found";
    } else {
        /* no server answered (or none could): down_policy */
        cn_warn("acl", "resolving a token through the servers failed (%s): down_policy applies",
                rc ? cn_strerror(rc) : "server error");
        z = down_authz(m, s, acc, sizeof(acc));
        status = 403;
        msg = "ACL not found";
    }
    struct api_ctx *c = f->c;
    cn_free(f);
    if (c)
        resume(c, z, acc, status, msg);
    else if (z)
        acl_authz_unref(z);
}

static void on_park_timeout(struct http_req *req)
{
    /* srv_client_http answers within the hold timeout: only a drain gets
     * here; the fetch's answer then finds the request gone. */
    struct api_ctx *c = req->user;
    struct api_acl *m = c->api->acl;
    for (struct fetch *f = m ? m->fetches : NULL; f; f = f->next)
        if (f->c == c)
            f->c = NULL;
    api_error(c, 500, "agent shutting down");
}

static void on_park_abort(struct http_req *req)
{
    struct api_ctx *c = req->user;
    struct api_acl *m = c->api->acl;
    for (struct fetch *f = m ? m->fetches : NULL; f; f = f->next)
        if (f->c == c)
            f->c = NULL; /* the answer still fills the cache */
    api__ctx_free(c);
    api_respond_raw(req, 499, NULL, NULL, 0, "", 0); /* only frees: the client is gone */
}

/* A fresh cached authorizer (a reference), else NULL; *stale: the slot
 * past its TTL, if any. */
static struct acl_authz *client_cached(struct api_acl *m, const char *secret, char *acc, size_t cap,
                                       struct slot **stale, bool *expired)
{
    size_t free_slot;
    *stale = NULL;
    *expired = false;
    struct slot *s = slot_find(m, secret, strlen(secret), &free_slot);
    if (!s)
        return NULL;
    if (s->expires && now_unix_ns() >= s->expires) {
        *expired = true;
        return NULL;
    }
    if (uv_now(m->api->loop) - s->fetched_ms < m->ttl_ms) {
        snprintf(acc, cap, "%s", s->accessor);
        return acl_authz_ref(s->z);
    }
    *stale = s;
    return NULL;
}

static bool client_enter(struct api_ctx *c, struct srv *to)
{
    struct api_acl *m = c->api->acl;
    const char *secret = effective(m, api__acl_token_of(c));
    if (m->agent_recovery && *m->agent_recovery && str_ct_eq(secret, m->agent_recovery)) {
        c->acl.authz = recovery_authz(c->api);
        snprintf(c->acl.accessor, sizeof(c->acl.accessor), "agent-recovery-token");
        if (!c->acl.authz) {
            api_error(c, 500, "out of memory");
            return false;
        }
        return route_check(c);
    }
    struct slot *stale;
    bool expired;
    c->acl.authz =
        client_cached(m, secret, c->acl.accessor, sizeof(c->acl.accessor), &stale, &expired);
    if (expired) {
        api_error(c, 403, "ACL not found");
        return false;
    }
    if (c->acl.authz)
        return route_check(c);
    if (!to) {
        /* no route to the primary now: down_policy at once */
        cn_warn("acl", "resolving a token through the primary datacenter failed (No path to "
                       "datacenter): down_policy applies");
        char acc[40];
        struct acl_authz *z = down_authz(m, stale, acc, sizeof(acc));
        if (!z) {
            api_error(c, 403, "ACL not found");
            return false;
        }
        c->acl.authz = z;
        snprintf(c->acl.accessor, sizeof(c->acl.accessor), "%s", acc);
        return route_check(c);
    }
    if (stale && m->down == DOWN_ASYNC) {
        /* async-cache: answer from the stale entry, fetch it again behind */
        if (!stale->refreshing && !fetch_start(m, to, secret, NULL))
            stale->refreshing = true;
        c->acl.authz = acl_authz_ref(stale->z);
        snprintf(c->acl.accessor, sizeof(c->acl.accessor), "%s", stale->accessor);
        return route_check(c);
    }
    if (fetch_start(m, to, secret, c)) {
        api_error(c, 500, "out of memory");
        return false;
    }
    /* srv_client_http answers within the hold timeout (7 s); a margin */
    http_req_park(c->req, 30000, on_park_timeout, on_park_abort);
    return false;
}

/* The agent's own writes on a client: the cache only (they cannot wait); a
 * miss starts a fetch and the next anti-entropy round finds it. */
static int client_resolve_now(struct api *a, struct srv *to, const char *secret,
                              struct acl_authz **z, char *acc, size_t cap)
{
    struct api_acl *m = a->acl;
    secret = effective(m, secret);
    struct slot *stale;
    bool expired;
    *z = client_cached(m, secret, acc, cap, &stale, &expired);
    if (*z)
        return 0;
    if (expired)
        return CN_ENOTFOUND;
    if (to && (!stale || !stale->refreshing)) {
        if (!fetch_start(m, to, secret, NULL) && stale)
            stale->refreshing = true;
    }
    if (stale && (m->down == DOWN_EXTEND || m->down == DOWN_ASYNC)) {
        snprintf(acc, cap, "%s", stale->accessor);
        *z = acl_authz_ref(stale->z);
        return 0;
    }
    return CN_ENOTFOUND;
}

/* ---- the agent's own writes, DNS ----------------------------------------------- */

const char *api__acl_agent_token(const struct api *a)
{
    const struct api_acl *m = a->acl;
    return m && m->agent_tok && *m->agent_tok ? m->agent_tok : NULL;
}

bool api_acl_agent_may(struct api *a, const char *node, const char *svc, char *accessor, size_t cap)
{
    struct api_acl *m = a->acl;
    if (!m)
        return true;
    struct acl_authz *z = NULL;
    char acc[40] = "";
    const char *tok = m->agent_tok && *m->agent_tok ? m->agent_tok : NULL;
    if (!tok && !m->warned_agent) {
        m->warned_agent = true;
        cn_warn("agent", "The 'acl.tokens.agent' field is empty: the agent's own writes use "
                         "the default token");
    }
    struct srv *to = NULL;
    int rc = remote_srv(a, &to) != CN_ENOTFOUND
                 ? client_resolve_now(a, to, tok, &z, acc, sizeof(acc))
                 : api__acl_resolve(a, tok, &z, acc, sizeof(acc));
    if (rc)
        return false;
    bool ok = svc ? acl_allowed(z, ACL_R_SERVICE, svc, ACL_A_WRITE)
                  : acl_allowed(z, ACL_R_NODE, node, ACL_A_WRITE);
    acl_authz_unref(z);
    if (accessor && cap)
        snprintf(accessor, cap, "%s", acc);
    return ok;
}

const char *api__acl_replication_token(const struct api *a)
{
    const struct api_acl *m = a->acl;
    return m && m->repl_tok && *m->repl_tok ? m->repl_tok : NULL;
}

const char *api_acl_default_token(const struct api *a)
{
    return a && a->acl && a->acl->default_tok && *a->acl->default_tok ? a->acl->default_tok : NULL;
}

bool api_acl_dns_may(struct api *a, bool is_node, const char *name)
{
    return api_acl_dns_may_as(a, NULL, is_node, name);
}

bool api_acl_dns_may_as(struct api *a, const char *secret, bool is_node, const char *name)
{
    if (!a || !a->acl)
        return true;
    struct acl_authz *z = NULL;
    char acc[40];
    struct srv *to = NULL;
    secret = secret && *secret ? secret : NULL;
    bool remote = !srv_is_client(a->srv) && remote_srv(a, &to) != CN_ENOTFOUND;
    if (remote ? client_resolve_now(a, to, secret, &z, acc, sizeof(acc))
               : api__acl_resolve(a, secret, &z, acc, sizeof(acc)))
        return false;
    bool ok = acl_allowed(z, is_node ? ACL_R_NODE : ACL_R_SERVICE, name, ACL_A_READ);
    acl_authz_unref(z);
    return ok;
}

/* ---- the leader's upkeep ------------------------------------------------------- */

static void on_tick(uv_timer_t *t);

/* The write's callback may come after the API stopped: it holds this, not m. */
struct pending {
    struct api_acl *m; /* NULL once m is gone */
};

static void upkeep_done(void *arg, int rc, const struct state_result *res)
{
    struct pending *p = arg;
    (void)rc;
    (void)res;
    if (p->m) {
        p->m->inflight = NULL;
        /* more to do (the builtins come one write at a time): at once */
        uv_timer_start(&p->m->timer, on_tick, 0, TICK_MS);
    }
    cn_free(p);
}

static void propose(struct api_acl *m, struct cn_buf *cmd)
{
    struct pending *p = cn_calloc(1, sizeof(*p));
    if (!p)
        return;
    p->m = m;
    m->inflight = p;
    if (srv_propose(m->api->srv, cmd->p, cmd->len, upkeep_done, p)) {
        m->inflight = NULL;
        cn_free(p);
    }
}

struct expired {
    int64_t now;
    bool local_only; /* a secondary: global tokens expire in the primary */
    const struct state_acl *hit;
};
static bool is_local_token(const struct state_acl *v)
{
    struct json_object *o = cn_json_parse((const char *)v->def, v->def_len, NULL, 0);
    int local = 0;
    if (o)
        cn_json_get_bool(o, "Local", &local);
    json_object_put(o);
    return local != 0;
}
static int expired_cb(void *arg, const struct state_acl *v)
{
    struct expired *e = arg;
    if (v->expires_unix_ns && v->expires_unix_ns <= e->now &&
        (!e->local_only || is_local_token(v))) {
        e->hit = v;
        return 1;
    }
    return 0;
}

static void upkeep(struct api_acl *m)
{
    struct api *a = m->api;
    if (m->inflight || !a->srv || !srv_is_leader(a->srv))
        return;
    struct state *st = srv_state(a->srv);
    struct cn_buf cmd = CN_BUF_INIT;
    int which = -1;
    /* A secondary datacenter gets the builtins (and the initial management
     * token) from the primary through replication. */
    if (api__acl_secondary(a))
        ;
    else if (!state_acl_get(st, STATE_ACL_POLICY, API_ACL_GM_ID))
        which = 0;
    else if (!state_acl_get(st, STATE_ACL_TOKEN, API_ACL_ANON_ID))
        which = 1;
    else if (m->initial_management && *m->initial_management &&
             !state_acl_by_name(st, STATE_ACL_TOKEN, m->initial_management))
        which = 2;
    if (which >= 0) {
        if (!api__acl_builtin_cmd(a, which, m->initial_management, &cmd))
            propose(m, &cmd);
        cn_buf_free(&cmd);
        return;
    }
    struct expired e = {now_unix_ns(), api__acl_secondary(a), NULL};
    state_acl_foreach(st, STATE_ACL_TOKEN, expired_cb, &e);
    if (e.hit) {
        if (!state_cmd_acl_delete(&cmd, STATE_ACL_TOKEN, e.hit->id))
            propose(m, &cmd);
        cn_buf_free(&cmd);
    }
}

static void on_tick(uv_timer_t *t)
{
    upkeep(t->data);
}

/* ---- persisted agent tokens (enable_token_persistence) ----------------------- */

static char *dupe(const char *s)
{
    return s && *s ? cn_strdup(s) : NULL;
}

/* DATA_DIR/acl-tokens.json: {"agent": "...", "default": "...", "agent_recovery": "..."}
 * (Consul's file). Read at start: its values win over the configuration. */
static void load_persisted(struct api_acl *m)
{
    if (!m->persist || !m->data_dir)
        return;
    char path[4096];
    snprintf(path, sizeof(path), "%s/acl-tokens.json", m->data_dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    char buf[8192];
    size_t n = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    struct json_object *o = cn_json_parse(buf, n, NULL, 0);
    if (!o) {
        cn_warn("agent", "failed to load persisted tokens from %s", path);
        return;
    }
    const char *v = NULL;
    if (cn_json_get_str(o, "agent", &v) == 1 && *v) {
        cn_free(m->agent_tok);
        m->agent_tok = dupe(v);
    }
    v = NULL;
    if (cn_json_get_str(o, "default", &v) == 1 && *v) {
        cn_free(m->default_tok);
        m->default_tok = dupe(v);
    }
    v = NULL;
    if (cn_json_get_str(o, "agent_recovery", &v) == 1 && *v) {
        cn_free(m->agent_recovery);
        m->agent_recovery = dupe(v);
    }
    v = NULL;
    if (cn_json_get_str(o, "replication", &v) == 1 && *v) {
        cn_free(m->repl_tok);
        m->repl_tok = dupe(v);
    }
    json_object_put(o);
}

static int persist(struct api_acl *m)
{
    if (!m->persist || !m->data_dir)
        return 0;
    struct json_object *o = json_object_new_object();
    if (!o)
        return CN_ENOMEM;
    if (m->agent_tok)
        json_object_object_add(o, "agent", json_object_new_string(m->agent_tok));
    if (m->default_tok)
        json_object_object_add(o, "default", json_object_new_string(m->default_tok));
    if (m->agent_recovery)
        json_object_object_add(o, "agent_recovery", json_object_new_string(m->agent_recovery));
    if (m->repl_tok)
        json_object_object_add(o, "replication", json_object_new_string(m->repl_tok));
    const char *txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    char path[4096], tmp[4200];
    snprintf(path, sizeof(path), "%s/acl-tokens.json", m->data_dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int rc = CN_EIO;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0) {
        size_t len = strlen(txt);
        if (write(fd, txt, len) == (ssize_t)len && fsync(fd) == 0)
            rc = 0;
        close(fd);
        if (!rc && rename(tmp, path) != 0)
            rc = CN_EIO;
    }
    json_object_put(o);
    return rc;
}

int api__acl_set_agent_token(struct api *a, const char *type, const char *tok)
{
    struct api_acl *m = a->acl;
    char **slot = NULL;
    if (!strcmp(type, "agent") || !strcmp(type, "acl_agent_token"))
        slot = &m->agent_tok;
    else if (!strcmp(type, "default") || !strcmp(type, "acl_token"))
        slot = &m->default_tok;
    else if (!strcmp(type, "agent_recovery") || !strcmp(type, "agent_master") ||
             !strcmp(type, "acl_agent_master_token"))
        slot = &m->agent_recovery;
    else if (!strcmp(type, "replication") || !strcmp(type, "acl_replication_token"))
        slot = &m->repl_tok;
    else
        return CN_ENOTFOUND;
    char *d = dupe(tok);
    if (tok && *tok && !d)
        return CN_ENOMEM;
    cn_free(*slot);
    *slot = d;
    flush(m); /* the default token's view may have changed */
    m->warned_agent = false;
    return persist(m);
}

/* ---- lifecycle --------------------------------------------------------------- */

static void free_acl(struct api_acl *m);

int api__acl_new(struct api *a)
{
    const struct api_acl_config *cfg = &a->cfg.acl;
    if (!cfg->enabled)
        return 0;
    struct api_acl *m = cn_calloc(1, sizeof(*m));
    if (!m)
        return CN_ENOMEM;
    m->api = a;
    m->default_allow = !cfg->default_deny;
    m->persist = cfg->token_persistence;
    m->initial_management = dupe(cfg->initial_management);
    m->agent_recovery = dupe(cfg->agent_recovery);
    m->agent_tok = dupe(cfg->agent_token);
    m->default_tok = dupe(cfg->default_token);
    m->repl_tok = dupe(cfg->replication_token);
    m->data_dir = dupe(cfg->data_dir);
    m->down_policy = dupe(cfg->down_policy);
    const char *dp = cfg->down_policy ? cfg->down_policy : "extend-cache";
    m->down = !strcmp(dp, "allow")         ? DOWN_ALLOW
              : !strcmp(dp, "deny")        ? DOWN_DENY
              : !strcmp(dp, "async-cache") ? DOWN_ASYNC
                                           : DOWN_EXTEND;
    m->ttl_ms = cfg->token_ttl_ns > 0 ? (uint64_t)(cfg->token_ttl_ns / 1000000) : 30000;
    m->cache_index = UINT64_MAX;
    m->min_ttl = cfg->token_min_ttl_ns ? cfg->token_min_ttl_ns : 60LL * 1000000000LL;
    m->max_ttl = cfg->token_max_ttl_ns ? cfg->token_max_ttl_ns : 24LL * 3600 * 1000000000LL;
    load_persisted(m);
    a->acl = m;
    if (api__acl_repl_new(a, cfg)) {
        a->acl = NULL;
        free_acl(m);
        return CN_ENOMEM;
    }
    if (a->loop) {
        uv_timer_init(a->loop, &m->timer);
        m->timer.data = m;
        uv_timer_start(&m->timer, on_tick, 50, TICK_MS);
        uv_unref((uv_handle_t *)&m->timer);
    }
    return 0;
}

static void free_acl(struct api_acl *m)
{
    if (m->inflight)
        m->inflight->m = NULL;

    flush(m);
    cn_free(m->initial_management);
    cn_free(m->agent_recovery);
    cn_free(m->agent_tok);
    cn_free(m->default_tok);
    cn_free(m->repl_tok);
    cn_free(m->data_dir);
    cn_free(m->down_policy);
    cn_free(m);
}

static void on_closed(uv_handle_t *h)
{
    free_acl(h->data);
}

void api__acl_stop(struct api *a)
{
    struct api_acl *m = a->acl;
    if (!m)
        return;
    api__acl_repl_stop(a);
    a->acl = NULL;
    while (m->fetches) { /* before the server closes */
        struct fetch *f = m->fetches;
        m->fetches = f->next;
        srv_client_cancel(f->to, f->handle); /* its callback never runs */
        cn_free(f);
    }
    if (a->loop)
        uv_close((uv_handle_t *)&m->timer, on_closed);
    else
        free_acl(m);
}

void api__acl_free(struct api *a)
{
    api__acl_stop(a);
}

void api__acl_ttl_bounds(const struct api *a, int64_t *min_ns, int64_t *max_ns)
{
    *min_ns = a->acl ? a->acl->min_ttl : 0;
    *max_ns = a->acl ? a->acl->max_ttl : 0;
}
