/* api/config_entry.c: configuration entries over HTTP (website/content/
 * api-docs/config.mdx; agent/config_endpoint.go):
 *
 *   PUT    /v1/config                  apply an entry (?cas=N): true or false
 *   GET    /v1/config/:kind            the entries of a kind, by name (blocking)
 *   GET    /v1/config/:kind/:name      one entry, 404 when there is none
 *   DELETE /v1/config/:kind/:name      (?cas=N: true or false; else {})
 *
 * Three kinds. service-intentions is a view: as in Consul 1.9+ an entry is
 * the intentions of one destination (state/intention.c), so the entry and
 * /v1/connect/intentions always agree. Writing an entry replaces that
 * destination's intentions in one log entry (INTENTION_ENTRY); its
 * ModifyIndex is the highest of theirs. Sources carry Name, Action,
 * Description, Precedence (computed; given, it must match) and Type "consul";
 * L7 Permissions, peers, sameness groups, other namespaces or partitions, JWT
 * and entry Meta are refused with the reason. proxy-defaults and
 * service-defaults are stored as they are (CONFIG_ENTRY, state/config.c;
 * bodies: config_defaults.c) and resolved into proxy registrations
 * (config_resolve.c). Consul's other kinds are refused with 400 naming the
 * kind (docs/consul-compat.md).
 *
 * ACLs as Consul's entries' CanRead/CanWrite: service-intentions mesh
 * read/write (cairn's intentions endpoints' rule); proxy-defaults readable
 * by anyone, written with mesh:write (which falls back to operator);
 * service-defaults service:read/write on its name, a list showing only the
 * entries the token may read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "api/decode_int.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/json.h"
#include "base/mem.h"

#define KIND_IXN API_CONFIG_INTENTIONS

/* Consul's kinds cairn does not have (structs.MakeConfigEntry's list). */
static const char *const other_kinds[] = {
    "service-router",
    "service-splitter",
    "service-resolver",
    "ingress-gateway",
    "terminating-gateway",
    "mesh",
    "exported-services",
    "api-gateway",
    "bound-api-gateway",
    "inline-certificate",
    "file-system-certificate",
    "http-route",
    "tcp-route",
    "jwt-provider",
    "sameness-group",
    "control-plane-request-limit",
};

int api__config_kind_check(const char *kind, char *err, size_t cap)
{
    if (!strcmp(kind, KIND_IXN) || !strcmp(kind, API_CONFIG_PROXY_DEFAULTS) ||
        !strcmp(kind, API_CONFIG_SERVICE_DEFAULTS))
        return 0;
    for (size_t i = 0; i < sizeof(other_kinds) / sizeof(other_kinds[0]); i++)
        if (!strcmp(kind, other_kinds[i]))
            return api__fail(err, cap,
                             "config entry kind \"%s\" is not supported by cairn: its kinds are "
                             "\"" API_CONFIG_PROXY_DEFAULTS "\", \"" API_CONFIG_SERVICE_DEFAULTS
                             "\" and \"" KIND_IXN "\"",
                             kind);
    return api__fail(err, cap, "invalid config entry kind: %s", kind);
}

void api__config_entry_clear(struct api_config_entry *e)
{
    for (size_t i = 0; i < e->n; i++) {
        cn_free((char *)e->src[i].source);
        cn_free((char *)e->src[i].action);
        cn_free((char *)e->src[i].description);
    }
    cn_free(e->src);
    cn_free(e->name);
    cn_free(e->kind);
    cn_buf_free(&e->data);
    memset(e, 0, sizeof(*e));
}

static bool partial_wildcard(const char *s)
{
    return strcmp(s, "*") != 0 && strchr(s, '*');
}

static bool empty_value(struct json_object *v)
{
    return !v || (json_object_is_type(v, json_type_string) && !json_object_get_string_len(v)) ||
           (json_object_is_type(v, json_type_array) && !json_object_array_length(v)) ||
           (json_object_is_type(v, json_type_object) && !json_object_object_length(v));
}

/* A namespace or partition: absent, "" or "default". */
static int only_default(struct json_object *o, const char *key, const char *where, char *err,
                        size_t cap)
{
    struct json_object *v = cn_json_get(o, key);
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_string))
        return api__fail(err, cap, "%s%s: cannot use %s as string", where, key, api__type_name(v));
    const char *s = json_object_get_string(v);
    if (*s && strcmp(s, "default") != 0)
        return api__fail(err, cap, "%s%s \"%s\" is not supported: cairn has only default", where,
                         key, s);
    return 0;
}

static bool key_in(const char *k, const char *const *keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (cn_json_key_eq(k, keys[i]))
            return true;
    return false;
}

static int decode_source(struct json_object *s, size_t i, const char *dest,
                         struct state_ixn_source *out, char *err, size_t cap)
{
    char where[48];
    snprintf(where, sizeof(where), "Sources[%zu].", i);
    if (!json_object_is_type(s, json_type_object))
        return api__fail(err, cap, "Sources[%zu]: must be an object", i);
    static const char *const known[] = {"Name",
                                        "Action",
                                        "Precedence",
                                        "Description",
                                        "Type",
                                        "Namespace",
                                        "Partition",
                                        "Peer",
                                        "SamenessGroup",
                                        "Permissions",
                                        "LegacyID",
                                        "LegacyMeta",
                                        "LegacyCreateTime",
                                        "LegacyUpdateTime"};
    json_object_object_foreach(s, k, v)
    {
        (void)v;
        if (!key_in(k, known, sizeof(known) / sizeof(known[0])))
            return api__fail(err, cap, "%sinvalid config key \"%s\"", where, k);
    }
    if (!empty_value(cn_json_get(s, "Permissions")))
        return api__fail(err, cap,
                         "%sPermissions: L7 permissions are not supported: cairn has no L7 proxy; "
                         "use Action \"allow\" or \"deny\" (an L4 intention)",
                         where);
    if (!empty_value(cn_json_get(s, "Peer")))
        return api__fail(err, cap, "%sPeer is not supported: cairn has no cluster peering", where);
    if (!empty_value(cn_json_get(s, "SamenessGroup")))
        return api__fail(err, cap, "%sSamenessGroup is not supported: cairn has no sameness groups",
                         where);
    static const char *const legacy[] = {"LegacyID", "LegacyMeta", "LegacyCreateTime",
                                         "LegacyUpdateTime"};
    for (size_t j = 0; j < 4; j++)
        if (!empty_value(cn_json_get(s, legacy[j])))
            return api__fail(err, cap,
                             "%s%s: cannot set this field (it is kept from the legacy intentions "
                             "API)",
                             where, legacy[j]);
    CN_TRY(only_default(s, "Namespace", where, err, cap));
    CN_TRY(only_default(s, "Partition", where, err, cap));
    char *name = NULL, *action = NULL, *desc = NULL, *type = NULL;
    int rc = api__get_str(s, "Name", &name, false, err, cap);
    rc = rc ? rc : api__get_str(s, "Action", &action, false, err, cap);
    rc = rc ? rc : api__get_str(s, "Description", &desc, false, err, cap);
    rc = rc ? rc : api__get_str(s, "Type", &type, false, err, cap);
    int64_t prec = -1;
    rc = rc ? rc : api__get_int(s, "Precedence", 0, 1000, &prec, err, cap);
    if (!rc && !*name)
        rc = api__fail(err, cap, "%sName is required", where);
    else if (!rc && partial_wildcard(name))
        rc = api__fail(err, cap,
                       "%sName: wildcard character '*' cannot be used with partial values", where);
    else if (!rc && strcmp(action, "allow") != 0 && strcmp(action, "deny") != 0)
        rc = api__fail(err, cap, "%sAction must be set to 'allow' or 'deny'", where);
    else if (!rc && *type && strcmp(type, "consul") != 0)
        rc = api__fail(err, cap, "%sType must be set to 'consul'", where);
    else if (!rc && strlen(desc) > 512)
        rc = api__fail(err, cap, "%sDescription exceeds maximum length 512", where);
    else if (!rc && prec >= 0 && prec != state_intention_precedence(name, dest))
        rc = api__fail(err, cap, "%sPrecedence is computed (%d here), not set", where,
                       state_intention_precedence(name, dest));
    cn_free(type);
    if (rc) {
        cn_free(name);
        cn_free(action);
        cn_free(desc);
        return rc;
    }
    out->source = name;
    out->action = action;
    out->description = desc;
    return 0;
}

int api__config_entry_decode(const char *body, size_t len, struct api_config_entry *e, char *err,
                             size_t cap)
{
    memset(e, 0, sizeof(*e));
    struct json_object *o = api__parse_object(body, len, err, cap);
    if (!o)
        return CN_EINVAL;
    const char *kind = NULL;
    int rc = 0;
    if (cn_json_get_str(o, "Kind", &kind) != 1 || !kind || !*kind)
        rc = api__fail(err, cap,
                       "Request decoding failed: Payload does not contain a kind/Kind "
                       "key at the top level");
    rc = rc ? rc : api__config_kind_check(kind, err, cap);
    if (!rc && !(e->kind = cn_strdup(kind)))
        rc = api__oom(err, cap);
    if (!rc && strcmp(kind, KIND_IXN) != 0) {
        rc = api__config_defaults_decode(o, kind, &e->name, &e->data, err, cap);
        json_object_put(o);
        if (rc)
            api__config_entry_clear(e);
        return rc;
    }
    static const char *const known[] = {"Kind",        "Name",      "Sources", "Meta",
                                        "Namespace",   "Partition", "JWT",     "CreateIndex",
                                        "ModifyIndex", "Hash"};
    json_object_object_foreach(o, k, v)
    {
        (void)v;
        if (!rc && !key_in(k, known, sizeof(known) / sizeof(known[0])))
            rc = api__fail(err, cap, "Request decoding failed: invalid config key \"%s\"", k);
    }
    if (!rc && !empty_value(cn_json_get(o, "JWT")))
        rc = api__fail(err, cap, "JWT is not supported: cairn has no JWT providers");
    if (!rc && !empty_value(cn_json_get(o, "Meta")))
        rc = api__fail(err, cap,
                       "Meta is not supported on a service-intentions entry: cairn keeps the entry "
                       "as its intentions, which have no room for it");
    rc = rc ? rc : only_default(o, "Namespace", "", err, cap);
    rc = rc ? rc : only_default(o, "Partition", "", err, cap);
    rc = rc ? rc : api__get_str(o, "Name", &e->name, false, err, cap);
    if (!rc && !*e->name)
        rc = api__fail(err, cap, "Name is required");
    else if (!rc && partial_wildcard(e->name))
        rc = api__fail(err, cap, "Name: wildcard character '*' cannot be used with partial values");
    struct json_object *srcs = rc ? NULL : cn_json_get(o, "Sources");
    if (!rc && srcs && !json_object_is_type(srcs, json_type_array))
        rc = api__fail(err, cap, "Sources: cannot use %s as array", api__type_name(srcs));
    size_t n = !rc && srcs ? json_object_array_length(srcs) : 0;
    if (!rc && n == 0)
        rc = api__fail(err, cap,
                       "Sources: at least one source is required (cairn keeps the entry as its "
                       "intentions: delete the entry instead)");
    if (!rc && n > STATE_IXN_ENTRY_MAX)
        rc = api__fail(err, cap, "Sources: more than %d sources", STATE_IXN_ENTRY_MAX);
    if (!rc && !(e->src = cn_calloc(n, sizeof(*e->src))))
        rc = api__oom(err, cap);
    for (size_t i = 0; !rc && i < n; i++) {
        rc = decode_source(json_object_array_get_idx(srcs, i), i, e->name, &e->src[i], err, cap);
        if (rc)
            break;
        e->n++;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(e->src[j].source, e->src[i].source)) {
                rc = api__fail(err, cap, "Sources[%zu].Name: duplicate source \"%s\"", i,
                               e->src[i].source);
                break;
            }
    }
    json_object_put(o);
    if (rc)
        api__config_entry_clear(e);
    return rc;
}

/* ---- reads ------------------------------------------------------------------------- */

static void read_error(struct api_read *r, int status, const char *msg)
{
    api_read_error(r, status, msg);
    r->content_type = "text/plain; charset=utf-8";
}

struct entry_walk {
    const struct state_intention **v;
    size_t n, cap;
    const char *only; /* a destination, or NULL: all */
    int err;
};

static int walk_cb(void *arg, const struct state_intention *x)
{
    struct entry_walk *w = arg;
    if (w->only && strcmp(w->only, x->destination) != 0)
        return 0;
    if (w->n == w->cap) {
        size_t nc = w->cap ? w->cap * 2 : 16;
        void *p = cn_realloc(w->v, nc * sizeof(*w->v));
        if (!p) {
            w->err = CN_ENOMEM;
            return 1;
        }
        w->v = p;
        w->cap = nc;
    }
    w->v[w->n++] = x;
    return 0;
}

/* Within an entry: higher precedence first, then by name (Consul sorts the
 * sources by precedence). The walk is by (destination, source). */
static int by_dest_precedence(const void *pa, const void *pb)
{
    const struct state_intention *a = *(const struct state_intention *const *)pa;
    const struct state_intention *b = *(const struct state_intention *const *)pb;
    int c = strcmp(a->destination, b->destination);
    if (c)
        return c;
    if (a->precedence != b->precedence)
        return a->precedence > b->precedence ? -1 : 1;
    return strcmp(a->source, b->source);
}

/* structs.ServiceIntentionsConfigEntry of v[0..n) (one destination). */
static void json_entry(struct cn_jsonw *w, struct state *st, const struct state_intention *const *v,
                       size_t n)
{
    uint64_t ci, mi;
    state_intention_entry_index(st, v[0]->destination, &ci, &mi);
    cn_jsonw_obj_open(w);
    cn_jsonw_kstr(w, "Kind", KIND_IXN);
    cn_jsonw_kstr(w, "Name", v[0]->destination);
    cn_jsonw_key(w, "Sources");
    cn_jsonw_arr_open(w);
    for (size_t i = 0; i < n; i++) {
        const struct state_intention *x = v[i];
        cn_jsonw_obj_open(w);
        cn_jsonw_kstr(w, "Name", x->source);
        cn_jsonw_kstr(w, "Action", x->action);
        cn_jsonw_ki64(w, "Precedence", x->precedence);
        cn_jsonw_kstr(w, "Type", "consul");
        if (*x->description)
            cn_jsonw_kstr(w, "Description", x->description);
        if (*x->id)
            cn_jsonw_kstr(w, "LegacyID", x->id);
        if (*x->meta) {
            cn_jsonw_key(w, "LegacyMeta");
            api__json_ixn_meta(w, x->meta);
        }
        if (x->created_ns)
            api__json_go_time(w, "LegacyCreateTime", x->created_ns);
        if (x->updated_ns)
            api__json_go_time(w, "LegacyUpdateTime", x->updated_ns);
        cn_jsonw_obj_close(w);
    }
    cn_jsonw_arr_close(w);
    cn_jsonw_ku64(w, "CreateIndex", ci);
    cn_jsonw_ku64(w, "ModifyIndex", mi);
    cn_jsonw_obj_close(w);
}

struct defaults_walk {
    struct api_ctx *c;
    struct cn_jsonw *w;
    bool service; /* service-defaults: filtered by service:read */
};

static int defaults_cb(void *arg, const struct state_config_entry *e)
{
    struct defaults_walk *dw = arg;
    if (dw->service && !api_acl_keep(dw->c, ACL_R_SERVICE, e->name))
        return 0;
    api__config_defaults_json(dw->w, e);
    return dw->w->err;
}

/* proxy-defaults, service-defaults: the stored entries. */
static void r_defaults(struct api_ctx *c, struct api_read *r, const char *kind, const char *name)
{
    struct state *st = srv_state(c->api->srv);
    bool service = !strcmp(kind, API_CONFIG_SERVICE_DEFAULTS);
    /* ProxyConfigEntry.CanRead: anyone; ServiceConfigEntry: service:read */
    if (name && service && !api_acl_read_require(c, r, ACL_R_SERVICE, name, ACL_A_READ))
        return;
    r->index = state_table_index(st, STATE_T_CONFIG);
    api_read_watch(r, STATE_T_CONFIG, kind, false);
    const struct state_config_entry *e = name ? state_config_entry_get(st, kind, name) : NULL;
    if (name && !e) {
        char err[600];
        snprintf(err, sizeof(err), "Config entry not found for \"%s\" / \"%.400s\"", kind, name);
        return read_error(r, 404, err);
    }
    struct cn_jsonw w;
    api_jsonw(c, &w, &r->body);
    if (e) {
        api__config_defaults_json(&w, e);
    } else {
        struct defaults_walk dw = {c, &w, service};
        cn_jsonw_arr_open(&w);
        state_config_entries_foreach(st, kind, defaults_cb, &dw);
        cn_jsonw_arr_close(&w);
    }
    if (w.err)
        read_error(r, 500, "out of memory");
}

/* c->arg is "kind" or "kind/name". */
static void r_config(struct api_ctx *c, struct api_read *r)
{
    struct state *st = srv_state(c->api->srv);
    char kind[128], err[300];
    const char *slash = strchr(c->arg, '/');
    size_t kl = slash ? (size_t)(slash - c->arg) : strlen(c->arg);
    const char *name = slash ? slash + 1 : NULL;
    if (!kl || (name && (!*name || strchr(name, '/'))))
        return read_error(r, 404, "Must provide either a kind or both kind and name");
    snprintf(kind, sizeof(kind), "%.*s", (int)(kl < sizeof(kind) - 1 ? kl : sizeof(kind) - 1),
             c->arg);
    if (kl >= sizeof(kind) || api__config_kind_check(kind, err, sizeof(err)))
        return read_error(r, 400, kl >= sizeof(kind) ? "invalid config entry kind" : err);
    if (strcmp(kind, KIND_IXN) != 0)
        return r_defaults(c, r, kind, name);
    if (!api_acl_read_require(c, r, ACL_R_MESH, "", ACL_A_READ))
        return;
    r->index = state_table_index(st, STATE_T_INTENTIONS);
    api_read_watch(r, STATE_T_INTENTIONS, name, false);
    struct entry_walk wk = {.only = name};
    state_intentions_foreach(st, walk_cb, &wk);
    if (wk.err) {
        cn_free(wk.v);
        return read_error(r, 500, "out of memory");
    }
    if (wk.n > 1)
        qsort(wk.v, wk.n, sizeof(*wk.v), by_dest_precedence);
    if (name && !wk.n) {
        cn_free(wk.v);
        snprintf(err, sizeof(err), "Config entry not found for \"%s\" / \"%s\"", kind, name);
        return read_error(r, 404, err);
    }
    struct cn_jsonw w;
    api_jsonw(c, &w, &r->body);
    if (!name)
        cn_jsonw_arr_open(&w);
    for (size_t i = 0; i < wk.n;) {
        size_t j = i + 1;
        while (j < wk.n && !strcmp(wk.v[j]->destination, wk.v[i]->destination))
            j++;
        json_entry(&w, st, wk.v + i, j - i);
        i = j;
    }
    if (!name)
        cn_jsonw_arr_close(&w);
    cn_free(wk.v);
    if (w.err)
        read_error(r, 500, "out of memory");
}

/* ---- writes ------------------------------------------------------------------------ */

struct cfg_w {
    bool reply_bool; /* a PUT, or a DELETE with ?cas */
};

static void write_done(struct api_ctx *c, int rc, const struct state_result *res)
{
    struct cfg_w *q = c->user;
    bool reply_bool = q && q->reply_bool;
    if (rc) {
        const char *why = res && res->nerrors ? res->errors[0].what : cn_strerror(rc);
        api_error(c, 500, "%s", why);
    } else if (reply_bool) {
        api_reply_bool(c, res && res->ok);
    } else {
        struct cn_buf b = CN_BUF_INIT;
        struct cn_jsonw w;
        api_jsonw(c, &w, &b);
        cn_jsonw_obj_open(&w);
        cn_jsonw_obj_close(&w);
        api_reply_jsonw(c, 200, &w, &b);
    }
}

/* ?cas=N: 1 with *v set, 0 absent, -1 after answering 400. */
static int cas_param(struct api_ctx *c, uint64_t *v)
{
    const char *s = api_param(c, "cas");
    if (!s)
        return 0;
    char *end;
    unsigned long long n = strtoull(s, &end, 10);
    if (!*s || *end || *s == '-') {
        api_error(c, 400, "strconv.ParseUint: parsing \"%s\": invalid syntax", s);
        return -1;
    }
    *v = n;
    return 1;
}

static void propose(struct api_ctx *c, struct cn_buf *cmd, int rc, bool reply_bool)
{
    struct cfg_w *q = rc ? NULL : cn_calloc(1, sizeof(*q));
    if (!rc && !q)
        rc = CN_ENOMEM;
    if (q) {
        q->reply_bool = reply_bool;
        c->user = q;
        c->user_free = cn_free;
    }
    api_propose_rc(c, rc, cmd, write_done);
}

/* The entry's CanWrite: mesh:write for service-intentions and
 * proxy-defaults (mesh falls back to operator), service:write on the name
 * for service-defaults. Answers 403 and returns false when denied. */
static bool write_allowed(struct api_ctx *c, const char *kind, const char *name)
{
    if (!strcmp(kind, API_CONFIG_SERVICE_DEFAULTS))
        return api_acl_require(c, ACL_R_SERVICE, name, ACL_A_WRITE);
    return api_acl_require(c, ACL_R_MESH, "", ACL_A_WRITE);
}

static void h_apply(struct api_ctx *c)
{
    char err[600];
    uint64_t cas = 0;
    int has_cas = cas_param(c, &cas);
    if (has_cas < 0)
        return;
    struct api_config_entry e;
    const char *body = c->req->body_len ? c->req->body : "{}";
    size_t len = c->req->body_len ? c->req->body_len : 2;
    int rc = api__config_entry_decode(body, len, &e, err, sizeof(err));
    if (rc) {
        api_error(c, rc == CN_ENOMEM ? 500 : 400, "%s", err);
        return;
    }
    if (!write_allowed(c, e.kind, e.name)) {
        api__config_entry_clear(&e);
        return;
    }
    struct cn_buf cmd = CN_BUF_INIT;
    if (!strcmp(e.kind, KIND_IXN))
        rc = state_cmd_intention_entry(&cmd, e.name, false, has_cas == 1, cas, cn_wall_ns(), e.src,
                                       e.n);
    else
        rc = state_cmd_config_entry(&cmd, e.kind, e.name, false, has_cas == 1, cas, e.data.p,
                                    e.data.len);
    api__config_entry_clear(&e);
    propose(c, &cmd, rc, true);
}

static void h_delete(struct api_ctx *c)
{
    char kind[128], err[300];
    const char *slash = strchr(c->arg, '/');
    if (!slash || slash == c->arg || !slash[1] || strchr(slash + 1, '/')) {
        api_error(c, 404, "Must provide both a kind and name to delete");
        return;
    }
    size_t kl = (size_t)(slash - c->arg);
    snprintf(kind, sizeof(kind), "%.*s", (int)(kl < sizeof(kind) - 1 ? kl : sizeof(kind) - 1),
             c->arg);
    if (kl >= sizeof(kind) || api__config_kind_check(kind, err, sizeof(err))) {
        api_error(c, 400, "%s", kl >= sizeof(kind) ? "invalid config entry kind" : err);
        return;
    }
    uint64_t cas = 0;
    int has_cas = cas_param(c, &cas);
    if (has_cas < 0)
        return;
    const char *name = slash + 1;
    /* ProxyConfigEntry.Normalize, which delete runs too */
    if (!strcmp(kind, API_CONFIG_PROXY_DEFAULTS) && strcmp(name, "global") != 0) {
        api_error(c, 400, "invalid name (\"%s\"), only \"global\" is supported", name);
        return;
    }
    if (!write_allowed(c, kind, name))
        return;
    struct cn_buf cmd = CN_BUF_INIT;
    int rc;
    if (!strcmp(kind, KIND_IXN))
        rc = state_cmd_intention_entry(&cmd, name, true, has_cas == 1, cas, cn_wall_ns(), NULL, 0);
    else
        rc = state_cmd_config_entry(&cmd, kind, name, true, has_cas == 1, cas, NULL, 0);
    propose(c, &cmd, rc, has_cas == 1);
}

const struct api_route api_config_routes[] = {
    /* the handlers check by kind (write_allowed, r_config) */
    {"/v1/config", false, API_PUT, NULL, h_apply, API_HANDLER, API_HANDLER},
    {"/v1/config/", true, API_GET | API_DELETE, r_config, h_delete, API_HANDLER, API_HANDLER},
    {NULL, false, 0, NULL, NULL, 0, 0},
};
