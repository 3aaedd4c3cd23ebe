/* api/intention.c: service intentions over HTTP (website/content/api-docs/
 * connect/intentions.mdx; agent/intentions_endpoint.go):
 *   GET  /v1/connect/intentions              list, in evaluation order (?filter)
 *   POST /v1/connect/intentions              create with an ID (legacy)
 *   GET|PUT|DELETE /v1/connect/intentions/exact?source=&destination=
 *   GET  /v1/connect/intentions/match?by=source|destination&name=...
 *   GET  /v1/connect/intentions/check?source=&destination=
 *   GET|PUT|DELETE /v1/connect/intentions/:uuid (legacy)
 *
 * Writes are INTENTION_SET / INTENTION_DELETE log entries (state/
 * intention.c holds the rules that need the state); the body is decoded and
 * validated here first (Intention.Validate's texts). What cairn refuses
 * rather than pretends (docs/consul-compat.md): L7 Permissions (there is no
 * L7 proxy), namespaces other than "default", partitions, peers and sameness
 * groups, source types other than "consul". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/api_int.h"
#include "api/decode_int.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/json.h"
#include "base/mem.h"

#define IXN_DESC_MAX 512 /* structs.metaValueMaxLength */

/* ---- decoding a body ------------------------------------------------------------- */

struct ixn_body {
    char *source, *destination, *action, *description, *source_type;
    struct state_map meta;
    char *meta_json; /* canonical (sorted keys) JSON text of meta, "" = none */
};

static void body_clear(struct ixn_body *b)
{
    cn_free(b->source);
    cn_free(b->destination);
    cn_free(b->action);
    cn_free(b->description);
    cn_free(b->source_type);
    state_map_clear(&b->meta);
    cn_free(b->meta_json);
    memset(b, 0, sizeof(*b));
}

/* A namespace or partition field: absent, "" or "default" is cairn's only
 * one; anything else is refused. */
static int only_default(struct json_object *o, const char *key, const char *what, char *err,
                        size_t cap)
{
    const char *v;
    int g = cn_json_get_str(o, key, &v);
    if (g < 0)
        return api__fail(err, cap, API_DECODE_FAILED "%s: cannot use %s as string", key,
                         api__type_name(cn_json_get(o, key)));
    if (g == 1 && *v && strcmp(v, "default") != 0)
        return api__fail(err, cap, "%s \"%s\" is not supported: cairn has only the default %s", key,
                         v, what);
    return 0;
}

static int refuse_nonempty(struct json_object *o, const char *key, const char *why, char *err,
                           size_t cap)
{
    struct json_object *v = cn_json_get(o, key);
    if (!v)
        return 0;
    bool empty = (json_object_is_type(v, json_type_string) && !json_object_get_string_len(v)) ||
                 (json_object_is_type(v, json_type_array) && !json_object_array_length(v));
    return empty ? 0 : api__fail(err, cap, "%s is not supported: %s", key, why);
}

static int meta_json(struct ixn_body *b, char *err, size_t cap)
{
    struct cn_buf mb = CN_BUF_INIT;
    struct cn_jsonw w;
    cn_jsonw_init(&w, &mb, 0);
    if (b->meta.n)
        api_json_map(&w, &b->meta);
    b->meta_json = w.err ? NULL : cn_strndup(mb.p ? (const char *)mb.p : "", mb.len);
    cn_buf_free(&mb);
    return b->meta_json ? 0 : api__oom(err, cap);
}

/* The body of a create/update (exact_only: PUT .../exact, which takes no
 * names, IDs or Meta, per its docs). */
static int decode_body(const char *body, size_t len, bool exact_only, struct ixn_body *b, char *err,
                       size_t cap)
{
    memset(b, 0, sizeof(*b));
    struct json_object *o = api__parse_object(body, len, err, cap);
    if (!o)
        return CN_EINVAL;
    int rc = 0;
    static const char *const no_l7 =
        "cairn has no L7 proxy; use Action \"allow\" or \"deny\" (an L4 intention)";
    rc = rc ? rc : refuse_nonempty(o, "Permissions", no_l7, err, cap);
    rc = rc ? rc : refuse_nonempty(o, "SourcePeer", "cairn has no cluster peering", err, cap);
    rc = rc ? rc
            : refuse_nonempty(o, "SourceSamenessGroup", "cairn has no sameness groups", err, cap);
    rc = rc ? rc : only_default(o, "SourceNS", "namespace", err, cap);
    rc = rc ? rc : only_default(o, "DestinationNS", "namespace", err, cap);
    rc = rc ? rc : only_default(o, "SourcePartition", "partition", err, cap);
    rc = rc ? rc : only_default(o, "DestinationPartition", "partition", err, cap);
    if (!exact_only) {
        rc = rc ? rc : api__get_str(o, "SourceName", &b->source, false, err, cap);
        rc = rc ? rc : api__get_str(o, "DestinationName", &b->destination, false, err, cap);
        rc = rc ? rc : api__get_map(o, "Meta", &b->meta, err, cap);
    }
    rc = rc ? rc : api__get_str(o, "Action", &b->action, false, err, cap);
    rc = rc ? rc : api__get_str(o, "Description", &b->description, false, err, cap);
    rc = rc ? rc : api__get_str(o, "SourceType", &b->source_type, false, err, cap);
    json_object_put(o);
    if (!rc)
        rc = meta_json(b, err, cap);
    if (rc)
        body_clear(b);
    return rc;
}

static bool partial_wildcard(const char *s)
{
    return strcmp(s, "*") != 0 && strchr(s, '*');
}

/* Intention.Validate (one namespace), first error only. */
static int validate(const struct ixn_body *b, char *err, size_t cap)
{
    if (!*b->source)
        return api__fail(err, cap, "SourceName must be set");
    if (!*b->destination)
        return api__fail(err, cap, "DestinationName must be set");
    if (partial_wildcard(b->source))
        return api__fail(err, cap,
                         "SourceName: wildcard character '*' cannot be used with partial values");
    if (partial_wildcard(b->destination))
        return api__fail(
            err, cap, "DestinationName: wildcard character '*' cannot be used with partial values");
    if (strlen(b->description) > IXN_DESC_MAX)
        return api__fail(err, cap, "Description exceeds maximum length %d", IXN_DESC_MAX);
    if (b->meta.n > 64)
        return api__fail(err, cap, "Meta exceeds maximum element count %d", 64);
    for (size_t i = 0; i < b->meta.n; i++) {
        if (strlen(b->meta.items[i].k) > 128)
            return api__fail(err, cap, "Meta key \"%.128s\" exceeds maximum length %d",
                             b->meta.items[i].k, 128);
        if (strlen(b->meta.items[i].v) > 512)
            return api__fail(err, cap, "Meta value for key \"%s\" exceeds maximum length %d",
                             b->meta.items[i].k, 512);
    }
    if (strcmp(b->action, "allow") != 0 && strcmp(b->action, "deny") != 0)
        return api__fail(err, cap, "Action must be set to 'allow' or 'deny'");
    if (*b->source_type && strcmp(b->source_type, "consul") != 0)
        return api__fail(err, cap, "SourceType must be set to 'consul'");
    return 0;
}

/* ---- JSON ---------------------------------------------------------------------- */

/* Go's time.Time in RFC 3339 with nanoseconds, trailing zeros trimmed. */
void api__json_go_time(struct cn_jsonw *w, const char *k, int64_t ns)
{
    time_t sec = (time_t)(ns / 1000000000);
    long frac = (long)(ns % 1000000000);
    struct tm tm;
    char buf[64], f[16];
    gmtime_r(&sec, &tm);
    size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
    f[0] = 0;
    if (frac) {
        snprintf(f, sizeof(f), ".%09ld", frac);
        for (size_t e = strlen(f); e > 1 && f[e - 1] == '0'; e--)
            f[e - 1] = 0;
    }
    snprintf(buf + n, sizeof(buf) - n, "%sZ", f);
    cn_jsonw_kstr(w, k, buf);
}

/* Meta: stored as compact canonical JSON (sorted keys, as Go writes a map);
 * written as is, or re-written pair by pair for ?pretty. */
void api__json_ixn_meta(struct cn_jsonw *w, const char *meta)
{
    struct json_object *o = NULL;
    if (*meta && w->pretty)
        o = cn_json_parse(meta, strlen(meta), NULL, 0);
    if (*meta && !o) {
        cn_jsonw_raw(w, meta, strlen(meta));
        return;
    }
    cn_jsonw_obj_open(w);
    if (o) {
        json_object_object_foreach(o, k, v)
        {
            cn_jsonw_kstr(w, k, v ? json_object_get_string(v) : "");
        }
        json_object_put(o);
    }
    cn_jsonw_obj_close(w);
}

/* structs.Intention as the API writes it. */
static void json_ixn(struct cn_jsonw *w, const struct state_intention *x)
{
    cn_jsonw_obj_open(w);
    if (*x->id)
        cn_jsonw_kstr(w, "ID", x->id);
    cn_jsonw_kstr(w, "Description", x->description);
    cn_jsonw_kstr(w, "SourceNS", "default");
    cn_jsonw_kstr(w, "SourceName", x->source);
    cn_jsonw_kstr(w, "DestinationNS", "default");
    cn_jsonw_kstr(w, "DestinationName", x->destination);
    cn_jsonw_kstr(w, "SourceType", "consul");
    cn_jsonw_kstr(w, "Action", x->action);
    cn_jsonw_key(w, "Meta");
    api__json_ixn_meta(w, x->meta);
    cn_jsonw_ki64(w, "Precedence", x->precedence);
    if (x->created_ns)
        api__json_go_time(w, "CreatedAt", x->created_ns);
    if (x->updated_ns)
        api__json_go_time(w, "UpdatedAt", x->updated_ns);
    cn_jsonw_ku64(w, "CreateIndex", x->create_index);
    cn_jsonw_ku64(w, "ModifyIndex", x->modify_index);
    cn_jsonw_obj_close(w);
}

/* structs.Intention for ?filter= (intentions.mdx "Filtering"). */
static const struct filter_field f_intention[] = {
    {"ID", FILTER_STR, NULL},
    {"Description", FILTER_STR, NULL},
    {"SourceNS", FILTER_STR, NULL},
    {"SourceName", FILTER_STR, NULL},
    {"DestinationNS", FILTER_STR, NULL},
    {"DestinationName", FILTER_STR, NULL},
    {"SourceType", FILTER_STR, NULL},
    {"Action", FILTER_STR, NULL},
    {"Meta", FILTER_STR_MAP, NULL},
    {"Precedence", FILTER_INT, NULL},
    {NULL, 0, NULL},
};

/* ---- evaluation order ------------------------------------------------------------ */

struct ixn_list {
    const struct state_intention **v;
    size_t n, cap;
    const char *by_src, *by_dst; /* keep those matching (NULL: all) */
    int err;
};

/* IntentionPrecedenceSorter: higher precedence first, then the names. */
static int by_precedence(const void *pa, const void *pb)
{
    const struct state_intention *a = *(const struct state_intention *const *)pa;
    const struct state_intention *b = *(const struct state_intention *const *)pb;
    if (a->precedence != b->precedence)
        return a->precedence > b->precedence ? -1 : 1;
    int c = strcmp(a->source, b->source);
    return c ? c : strcmp(a->destination, b->destination);
}

static bool name_matches(const char *pattern, const char *name)
{
    return !strcmp(pattern, "*") || !strcmp(pattern, name);
}

static int collect_cb(void *arg, const struct state_intention *x)
{
    struct ixn_list *l = arg;
    if (l->by_src && !name_matches(x->source, l->by_src))
        return 0;
    if (l->by_dst && !name_matches(x->destination, l->by_dst))
        return 0;
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        void *p = cn_realloc(l->v, nc * sizeof(*l->v));
        if (!p) {
            l->err = CN_ENOMEM;
            return 1;
        }
        l->v = p;
        l->cap = nc;
    }
    l->v[l->n++] = x;
    return 0;
}

static int collect(struct state *st, struct ixn_list *l)
{
    state_intentions_foreach(st, collect_cb, l);
    if (!l->err && l->n > 1)
        qsort(l->v, l->n, sizeof(*l->v), by_precedence);
    return l->err;
}

/* The first intention in evaluation order matching source => destination,
 * or NULL (then the default decides: acl.default_policy with ACLs on, as
 * Consul's; allow without them). */
const struct state_intention *api__intention_match(struct state *st, const char *source,
                                                   const char *destination, int *err)
{
    struct ixn_list l = {.by_dst = destination, .by_src = source};
    *err = collect(st, &l);
    const struct state_intention *x = !*err && l.n ? l.v[0] : NULL;
    cn_free(l.v);
    return x;
}

static bool check_allowed(struct api_ctx *c, const char *source, const char *destination, int *err)
{
    const struct state_intention *x =
        api__intention_match(srv_state(c->api->srv), source, destination, err);
    return x ? !strcmp(x->action, "allow") : api_acl_default_allow(c->api);
}

/* ---- reads ----------------------------------------------------------------------- */

static void read_error(struct api_read *r, int status, const char *msg)
{
    api_read_error(r, status, msg);
    r->content_type = "text/plain; charset=utf-8";
}

static void index_and_watch(struct state *st, struct api_read *r)
{
    r->index = state_table_index(st, STATE_T_INTENTIONS);
    api_read_watch(r, STATE_T_INTENTIONS, NULL, false);
}

static void r_list(struct api_ctx *c, struct api_read *r)
{
    struct state *st = srv_state(c->api->srv);
    struct filter *f;
    if (api_filter_open(c, f_intention, &f, r))
        return;
    struct ixn_list l = {0};
    int rc = collect(st, &l);
    struct cn_jsonw w;
    api_jsonw(c, &w, &r->body);
    cn_jsonw_arr_open(&w);
    for (size_t i = 0; !rc && i < l.n; i++) {
        struct api_fmark m;
        api_filter_mark(&w, &m);
        json_ixn(&w, l.v[i]);
        api_filter_keep(f, &w, &m, m.len);
    }
    cn_jsonw_arr_close(&w);
    filter_free(f);
    cn_free(l.v);
    if (rc || w.err)
        return read_error(r, 500, "out of memory");
    index_and_watch(st, r);
}

/* "name" or "default/name" (parseIntentionMatchEntry): the name. */
static int entry_name(const char *in, const char **name, char *err, size_t cap)
{
    const char *slash = strchr(in, '/');
    *name = in;
    if (!slash)
        return 0;
    if (strchr(slash + 1, '/'))
        return api__fail(err, cap, "input can contain at most one '/'");
    if ((size_t)(slash - in) != 7 || strncmp(in, "default", 7) != 0)
        return api__fail(err, cap, "namespace \"%.*s\" is not supported: cairn has only default",
                         (int)(slash - in), in);
    *name = slash + 1;
    return 0;
}

/* ?source= and ?destination= (both required) as names. */
static int pair_params(struct api_ctx *c, const char **src, const char **dst, char *err, size_t cap)
{
    const char *s = api_param(c, "source"), *d = api_param(c, "destination");
    char why[200];
    if (!s || !*s)
        return api__fail(err, cap, "required query parameter 'source' not set");
    if (!d || !*d)
        return api__fail(err, cap, "required query parameter 'destination' not set");
    if (entry_name(s, src, why, sizeof(why)))
        return api__fail(err, cap, "source %s is invalid: %s", s, why);
    if (entry_name(d, dst, why, sizeof(why)))
        return api__fail(err, cap, "destination %s is invalid: %s", d, why);
    return 0;
}

/* One intention (x may be NULL: 404), blocking on the table. */
static void read_one(struct api_ctx *c, struct api_read *r, const struct state_intention *x)
{
    index_and_watch(srv_state(c->api->srv), r);
    if (!x)
        return read_error(r, 404, "Intention not found");
    struct cn_jsonw w;
    api_jsonw(c, &w, &r->body);
    json_ixn(&w, x);
    if (w.err)
        read_error(r, 500, "out of memory");
}

static void r_exact(struct api_ctx *c, struct api_read *r)
{
    struct state *st = srv_state(c->api->srv);
    const char *src, *dst;
    char err[600];
    if (pair_params(c, &src, &dst, err, sizeof(err)))
        return read_error(r, 400, err);
    read_one(c, r, state_intention_get(st, src, dst));
}

static void r_match(struct api_ctx *c, struct api_read *r)
{
    struct state *st = srv_state(c->api->srv);
    const char *by = api_param(c, "by");
    if (!by)
        return read_error(r, 400, "required query parameter 'by' not set");
    bool by_src = !strcmp(by, "source");
    if (!by_src && strcmp(by, "destination") != 0)
        return read_error(r, 400, "'by' parameter must be one of 'source' or 'destination'");
    size_t nnames = 0;
    for (size_t i = 0; i < c->req->nparams; i++)
        nnames += !strcmp(c->req->params[i].key, "name");
    if (!nnames)
        return read_error(r, 400, "required query parameter 'name' not set");
    struct cn_jsonw w;
    api_jsonw(c, &w, &r->body);
    cn_jsonw_obj_open(&w);
    int rc = 0;
    for (size_t i = 0; !rc && i < c->req->nparams; i++) {
        const struct http_param *p = &c->req->params[i];
        if (strcmp(p->key, "name") != 0)
            continue;
        const char *name;
        char why[200], err[600];
        if (entry_name(p->value, &name, why, sizeof(why))) {
            snprintf(err, sizeof(err), "name %s is invalid: %s", p->value, why);
            cn_jsonw_obj_close(&w);
            return read_error(r, 400, err);
        }
        struct ixn_list l = {.by_src = by_src ? name : NULL, .by_dst = by_src ? NULL : name};
        rc = collect(st, &l);
        cn_jsonw_key(&w, p->value);
        cn_jsonw_arr_open(&w);
        for (size_t k = 0; !rc && k < l.n; k++)
            json_ixn(&w, l.v[k]);
        cn_jsonw_arr_close(&w);
        cn_free(l.v);
    }
    cn_jsonw_obj_close(&w);
    if (rc || w.err)
        return read_error(r, 500, "out of memory");
    index_and_watch(st, r);
}

static void r_check(struct api_ctx *c, struct api_read *r)
{
    struct state *st = srv_state(c->api->srv);
    const char *src, *dst, *type = api_param(c, "source-type");
    char err[600];
    if (type && *type && strcmp(type, "consul") != 0)
        return read_error(r, 400, "source-type must be 'consul'");
    if (pair_params(c, &src, &dst, err, sizeof(err)))
        return read_error(r, 400, err);
    int rc;
    bool ok = check_allowed(c, src, dst, &rc);
    if (rc)
        return read_error(r, 500, "out of memory");
    struct cn_jsonw w;
    api_jsonw(c, &w, &r->body);
    cn_jsonw_obj_open(&w);
    cn_jsonw_kbool(&w, "Allowed", ok);
    cn_jsonw_obj_close(&w);
    if (w.err)
        return read_error(r, 500, "out of memory");
    r->index = state_table_index(st, STATE_T_INTENTIONS); /* not blocking (Consul: NO) */
}

static void r_by_id(struct api_ctx *c, struct api_read *r)
{
    read_one(c, r, state_intention_by_id(srv_state(c->api->srv), c->arg));
}

static void r_specific(struct api_ctx *c, struct api_read *r)
{
    if (!strcmp(c->arg, "exact"))
        r_exact(c, r);
    else if (!strcmp(c->arg, "match"))
        r_match(c, r);
    else if (!strcmp(c->arg, "check"))
        r_check(c, r);
    else
        r_by_id(c, r);
}

/* ---- writes ---------------------------------------------------------------------- */

enum reply_kind { REPLY_ID, REPLY_TRUE, REPLY_EMPTY };

struct ixn_w {
    enum reply_kind kind;
    char id[40];
};

static void write_done(struct api_ctx *c, int rc, const struct state_result *res)
{
    struct ixn_w *q = c->user;
    c->user = NULL;
    if (rc) {
        /* Intention.Apply's errors come back through its RPC: 500. */
        const char *why = res && res->nerrors ? res->errors[0].what : cn_strerror(rc);
        api_error(c, 500, "%s", why);
    } else if (q->kind == REPLY_ID) {
        struct cn_buf b = CN_BUF_INIT;
        struct cn_jsonw w;
        api_jsonw(c, &w, &b);
        cn_jsonw_obj_open(&w);
        cn_jsonw_kstr(&w, "ID", q->id);
        cn_jsonw_obj_close(&w);
        api_reply_jsonw(c, 200, &w, &b);
    } else if (q->kind == REPLY_TRUE) {
        api_reply_bool(c, true);
    } else {
        api_reply_empty(c);
    }
    cn_free(q);
}

static void propose(struct api_ctx *c, struct cn_buf *cmd, int rc, enum reply_kind kind,
                    const char *id)
{
    struct ixn_w *q = rc ? NULL : cn_calloc(1, sizeof(*q));
    if (!rc && !q)
        rc = CN_ENOMEM;
    if (q) {
        q->kind = kind;
        snprintf(q->id, sizeof(q->id), "%s", id ? id : "");
        c->user = q;
        c->user_free = cn_free;
    }
    api_propose_rc(c, rc, cmd, write_done);
}

static void set(struct api_ctx *c, int op, const char *id, const char *src, const char *dst,
                enum reply_kind kind)
{
    char err[600];
    struct ixn_body b;
    const char *body = c->req->body_len ? c->req->body : "{}";
    size_t len = c->req->body_len ? c->req->body_len : 2;
    int rc = decode_body(body, len, op == STATE_IXN_UPSERT, &b, err, sizeof(err));
    if (rc) {
        api_error(c, rc == CN_ENOMEM ? 500 : 400, "%s", err);
        return;
    }
    if (op == STATE_IXN_UPSERT) {
        api__set_str(&b.source, src, err, sizeof(err));
        api__set_str(&b.destination, dst, err, sizeof(err));
    }
    if (!b.source || !b.destination) {
        body_clear(&b);
        api_error(c, 500, "out of memory");
        return;
    }
    if (validate(&b, err, sizeof(err))) {
        body_clear(&b);
        api_error(c, 500, "%s", err);
        return;
    }
    struct state_intention x = {.id = id ? id : "",
                                .source = b.source,
                                .destination = b.destination,
                                .action = b.action,
                                .description = b.description,
                                .meta = b.meta_json,
                                .updated_ns = cn_wall_ns()};
    struct cn_buf cmd = CN_BUF_INIT;
    rc = state_cmd_intention_set(&cmd, op, &x);
    body_clear(&b);
    propose(c, &cmd, rc, kind, id);
}

static void h_create(struct api_ctx *c)
{
    char id[40];
    if (api__uuid(id, sizeof(id))) {
        api_error(c, 500, "UUID generation failed");
        return;
    }
    set(c, STATE_IXN_CREATE, id, NULL, NULL, REPLY_ID);
}

static void h_specific(struct api_ctx *c)
{
    bool del = c->req->method == HTTP_M_DELETE;
    if (!strcmp(c->arg, "match") || !strcmp(c->arg, "check")) {
        api_error(c, 405, "method %s not allowed", c->req->method_str ? c->req->method_str : "");
        return;
    }
    if (strcmp(c->arg, "exact") != 0) { /* by ID (deprecated in Consul 1.9) */
        if (!del) {
            set(c, STATE_IXN_UPDATE, c->arg, NULL, NULL, REPLY_EMPTY);
            return;
        }
        struct cn_buf cmd = CN_BUF_INIT;
        int rc = state_cmd_intention_delete(&cmd, c->arg, NULL, NULL);
        propose(c, &cmd, rc, REPLY_EMPTY, NULL);
        return;
    }
    const char *src, *dst;
    char err[600];
    if (pair_params(c, &src, &dst, err, sizeof(err))) {
        api_error(c, 400, "%s", err);
        return;
    }
    if (!del) {
        set(c, STATE_IXN_UPSERT, NULL, src, dst, REPLY_TRUE);
        return;
    }
    struct cn_buf cmd = CN_BUF_INIT;
    int rc = state_cmd_intention_delete(&cmd, NULL, src, dst);
    propose(c, &cmd, rc, REPLY_TRUE, NULL);
}

int api__ixn_check_body(const char *body, size_t len, bool exact_only, char *err, size_t cap)
{
    struct ixn_body b;
    int rc = decode_body(body, len, exact_only, &b, err, cap);
    if (rc)
        return rc;
    if (exact_only) {
        api__set_str(&b.source, "s", err, cap);
        api__set_str(&b.destination, "d", err, cap);
    }
    rc = b.source && b.destination ? validate(&b, err, cap) : api__oom(err, cap);
    body_clear(&b);
    return rc;
}

int api__ixn_entry_name(const char *in, const char **name, char *err, size_t cap)
{
    return entry_name(in, name, err, cap);
}

const struct api_route api_intention_routes[] = {
    /* Consul checks intentions:read/write on the destination (a service
     * rule's `intentions` field); cairn checks mesh (which falls back to
     * operator): coarser and stricter (docs/consul-compat.md). */
    {"/v1/connect/intentions", false, API_GET | API_POST, r_list, h_create, API_FIXED(MESH, READ),
     API_FIXED(MESH, WRITE)},
    {"/v1/connect/intentions/", true, API_GET | API_PUT | API_DELETE, r_specific, h_specific,
     API_FIXED(MESH, READ), API_FIXED(MESH, WRITE)},
    {NULL, false, 0, NULL, NULL, 0, 0},
};
