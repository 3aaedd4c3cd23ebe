/* api/query_def.c: a prepared query's definition (website/content/api-docs/
 * query.mdx; agent/consul/prepared_query_endpoint.go parseQuery, and
 * prepared_query/template.go for templates): decoding and validating a body,
 * the canonical stored form, Consul's JSON, and rendering a
 * name_prefix_match template for a name.
 *
 * What cairn refuses with 400 rather than pretends (docs/consul-compat.md):
 * failover to peers (Failover.Targets: no cluster peering), Connect (no
 * service mesh), namespaces, partitions, peers and sameness groups (Consul
 * Enterprise or peering features). Failover.Datacenters and NearestN fail
 * over to other datacenters of the WAN pool (api/query_failover.c); Near
 * leaves the order shuffled without coordinates, as Consul does for a node
 * without them. */
#include <regex.h>
#include <stdio.h>
#include <string.h>

#include "api/api_int.h"
#include "api/decode_int.h"
#include "api/query.h"
#include "base/regex.h"
#include "base/dur.h"
#include "base/err.h"
#include "base/json.h"
#include "base/mem.h"

void api__pq_clear(struct api_pq *q)
{
    if (!q)
        return;
    cn_free(q->name);
    cn_free(q->session);
    cn_free(q->token);
    cn_free(q->tmpl_type);
    cn_free(q->tmpl_regexp);
    cn_free(q->service);
    api__free_strv(q->dcs, q->ndcs);
    api__free_strv(q->ignore, q->nignore);
    cn_free(q->near);
    api__free_strv(q->tags, q->ntags);
    state_map_clear(&q->node_meta);
    state_map_clear(&q->service_meta);
    cn_free(q->dns_ttl);
    memset(q, 0, sizeof(*q));
}

/* A sub-object; NULL when absent; CN_EINVAL when not an object. */
static int get_obj(struct json_object *o, const char *key, struct json_object **out, char *err,
                   size_t cap)
{
    struct json_object *v = cn_json_get(o, key);
    *out = NULL;
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_object))
        return api__fail(err, cap, API_DECODE_FAILED "%s: cannot use %s as object", key,
                         api__type_name(v));
    *out = v;
    return 0;
}

static int refuse(int *status, char *err, size_t cap, const char *msg)
{
    *status = 400;
    return api__fail(err, cap, "%s", msg);
}

static int non_default(struct json_object *o, const char *key, const char *what, int *status,
                       char *err, size_t cap)
{
    const char *v = NULL;
    if (cn_json_get_str(o, key, &v) == 1 && *v && strcmp(v, "default") != 0) {
        *status = 400;
        return api__fail(err, cap, "%s is a Consul Enterprise feature", what);
    }
    return 0;
}

static int decode_service(struct json_object *s, const char *local_dc, struct api_pq *q,
                          int *status, char *err, size_t cap)
{
    struct json_object *fo = NULL;
    CN_TRY(api__get_str(s, "Service", &q->service, false, err, cap));
    CN_TRY(get_obj(s, "Failover", &fo, err, cap));
    if (fo) {
        int64_t nn = 0;
        CN_TRY(api__get_int(fo, "NearestN", INT32_MIN, INT32_MAX, &nn, err, cap));
        q->nearest_n = nn;
        /* Other datacenters are tried in order when this one has no healthy
         * instance (api/query_failover.c, WAN federation); the local one and
         * unknown ones are skipped at execution, as Consul does. */
        CN_TRY(api__get_strv(fo, "Datacenters", &q->dcs, &q->ndcs, err, cap));
        (void)local_dc;
        struct json_object *t = cn_json_get(fo, "Targets");
        if (t && (!json_object_is_type(t, json_type_array) || json_object_array_length(t) > 0))
            return refuse(status, err, cap,
                          "Failover.Targets is not supported: cairn has no cluster peering "
                          "(list datacenters in Failover.Datacenters)");
    }
    CN_TRY(api__get_bool(s, "OnlyPassing", &q->only_passing, err, cap));
    CN_TRY(api__get_strv(s, "IgnoreCheckIDs", &q->ignore, &q->nignore, err, cap));
    CN_TRY(api__get_str(s, "Near", &q->near, false, err, cap));
    CN_TRY(api__get_strv(s, "Tags", &q->tags, &q->ntags, err, cap));
    CN_TRY(api__get_map(s, "NodeMeta", &q->node_meta, err, cap));
    CN_TRY(api__get_map(s, "ServiceMeta", &q->service_meta, err, cap));
    bool connect = false;
    CN_TRY(api__get_bool(s, "Connect", &connect, err, cap));
    if (connect)
        return refuse(status, err, cap,
                      "Connect is not supported in prepared queries by cairn yet (use "
                      "/v1/health/connect/:service)");
    const char *v = NULL;
    if (cn_json_get_str(s, "Peer", &v) == 1 && *v)
        return refuse(status, err, cap, "Peer is not supported: cairn has no cluster peering yet");
    if (cn_json_get_str(s, "SamenessGroup", &v) == 1 && *v)
        return refuse(status, err, cap, "SamenessGroup is a Consul Enterprise feature");
    CN_TRY(non_default(s, "Namespace", "Namespace", status, err, cap));
    return non_default(s, "Partition", "Partition", status, err, cap);
}

/* Every "${...}" names a variable a template may use. */
static int check_vars(const char *s, char *err, size_t cap);

static int check_strv(char **v, size_t n, char *err, size_t cap)
{
    for (size_t i = 0; i < n; i++)
        CN_TRY(check_vars(v[i], err, cap));
    return 0;
}

/* parseQuery, parseService, parseDNS and the template compile of Consul's
 * PreparedQuery.Apply: errors the RPC returns, answered 500. */
static int validate(struct api_pq *q, char *err, size_t cap)
{
    if (!*q->name && !*q->tmpl_type && !*q->session)
        return api__fail(err, cap, "Must be bound to a session");
    if (!strcmp(q->token, "<hidden>"))
        return api__fail(err, cap,
                         "Bad Token '%s', it looks like a query definition with a redacted "
                         "token was submitted",
                         q->token);
    if (!*q->service)
        return api__fail(err, cap, "Must provide a Service name to query");
    if (q->nearest_n < 0)
        return api__fail(err, cap, "Bad NearestN '%lld', must be >= 0", (long long)q->nearest_n);
    CN_TRY(api__validate_meta(&q->node_meta, true, err, cap));
    if (*q->dns_ttl) {
        int64_t ns;
        if (cn_dur_parse(q->dns_ttl, &ns))
            return api__fail(err, cap, "Bad DNS TTL '%s': time: invalid duration \"%s\"",
                             q->dns_ttl, q->dns_ttl);
        if (ns < 0)
            return api__fail(err, cap, "DNS TTL '%lld', must be >=0", (long long)ns);
    }
    if (*q->tmpl_type) {
        if (strcmp(q->tmpl_type, "name_prefix_match") != 0)
            return api__fail(err, cap, "Bad Template.Type '%s'", q->tmpl_type);
        if (*q->tmpl_regexp) {
            regex_t re;
            char why[128];
            if (cn_regcomp(&re, q->tmpl_regexp, REG_EXTENDED, why, sizeof(why)))
                return api__fail(err, cap, "Bad Regexp: %s", why);
            regfree(&re);
        }
        CN_TRY(check_vars(q->service, err, cap));
        CN_TRY(check_vars(q->near, err, cap));
        CN_TRY(check_strv(q->tags, q->ntags, err, cap));
        CN_TRY(check_strv(q->ignore, q->nignore, err, cap));
        CN_TRY(check_strv(q->dcs, q->ndcs, err, cap));
        for (size_t i = 0; i < q->node_meta.n; i++)
            CN_TRY(check_vars(q->node_meta.items[i].v, err, cap));
        for (size_t i = 0; i < q->service_meta.n; i++)
            CN_TRY(check_vars(q->service_meta.items[i].v, err, cap));
    }
    return 0;
}

static int decode_obj(struct json_object *o, const char *local_dc, bool check, struct api_pq *q,
                      int *status, char *err, size_t cap)
{
    struct json_object *t = NULL, *s = NULL, *d = NULL;
    CN_TRY(api__get_str(o, "Name", &q->name, false, err, cap));
    CN_TRY(api__get_str(o, "Session", &q->session, false, err, cap));
    CN_TRY(api__get_str(o, "Token", &q->token, false, err, cap));
    CN_TRY(get_obj(o, "Template", &t, err, cap));
    CN_TRY(api__get_str(t, "Type", &q->tmpl_type, false, err, cap));
    CN_TRY(api__get_str(t, "Regexp", &q->tmpl_regexp, false, err, cap));
    CN_TRY(api__get_bool(t, "RemoveEmptyTags", &q->remove_empty_tags, err, cap));
    CN_TRY(get_obj(o, "Service", &s, err, cap));
    if (s)
        CN_TRY(decode_service(s, check ? local_dc : NULL, q, status, err, cap));
    else
        CN_TRY(api__get_str(NULL, "Service", &q->service, false, err, cap));
    CN_TRY(get_obj(o, "DNS", &d, err, cap));
    CN_TRY(api__get_str(d, "TTL", &q->dns_ttl, false, err, cap));
    *status = 500;
    return check ? validate(q, err, cap) : 0;
}

static int decode(const char *body, size_t len, const char *local_dc, struct api_pq *q, int *status,
                  char *err, size_t cap)
{
    memset(q, 0, sizeof(*q));
    *status = 400;
    struct json_object *o = api__parse_object(body, len, err, cap);
    if (!o)
        return strcmp(err, "out of memory") ? CN_EINVAL : CN_ENOMEM;
    int rc = decode_obj(o, local_dc, local_dc != NULL, q, status, err, cap);
    json_object_put(o);
    if (rc == CN_ENOMEM)
        *status = 500;
    if (rc)
        api__pq_clear(q);
    return rc;
}

/* ---- output ------------------------------------------------------------------ */

static void strv(struct cn_jsonw *w, const char *k, char **v, size_t n)
{
    cn_jsonw_key(w, k);
    if (!n) {
        cn_jsonw_null(w);
        return;
    }
    cn_jsonw_arr_open(w);
    for (size_t i = 0; i < n; i++)
        cn_jsonw_str(w, v[i]);
    cn_jsonw_arr_close(w);
}

static void map(struct cn_jsonw *w, const char *k, const struct state_map *m)
{
    cn_jsonw_key(w, k);
    if (!m->n)
        cn_jsonw_null(w);
    else
        api_json_map(w, m);
}

/* Token, Template, Service, DNS in Consul's field order. */
static void body_fields(struct cn_jsonw *w, const struct api_pq *q)
{
    cn_jsonw_kstr(w, "Token", q->token);
    cn_jsonw_key(w, "Template");
    cn_jsonw_obj_open(w);
    cn_jsonw_kstr(w, "Type", q->tmpl_type);
    cn_jsonw_kstr(w, "Regexp", q->tmpl_regexp);
    cn_jsonw_kbool(w, "RemoveEmptyTags", q->remove_empty_tags);
    cn_jsonw_obj_close(w);
    cn_jsonw_key(w, "Service");
    cn_jsonw_obj_open(w);
    cn_jsonw_kstr(w, "Service", q->service);
    cn_jsonw_key(w, "Failover");
    cn_jsonw_obj_open(w);
    cn_jsonw_ki64(w, "NearestN", q->nearest_n);
    strv(w, "Datacenters", q->dcs, q->ndcs);
    cn_jsonw_obj_close(w);
    cn_jsonw_kbool(w, "OnlyPassing", q->only_passing);
    strv(w, "IgnoreCheckIDs", q->ignore, q->nignore);
    cn_jsonw_kstr(w, "Near", q->near);
    strv(w, "Tags", q->tags, q->ntags);
    map(w, "NodeMeta", &q->node_meta);
    map(w, "ServiceMeta", &q->service_meta);
    cn_jsonw_kbool(w, "Connect", 0);
    cn_jsonw_obj_close(w);
    cn_jsonw_key(w, "DNS");
    cn_jsonw_obj_open(w);
    cn_jsonw_kstr(w, "TTL", q->dns_ttl);
    cn_jsonw_obj_close(w);
}

int api__pq_decode(const char *body, size_t len, const char *local_dc, struct api_pq *q,
                   int *status, char *err, size_t cap)
{
    return decode(body, len, local_dc ? local_dc : "", q, status, err, cap);
}

int api__pq_decode_def(const char *body, size_t len, struct api_pq *q, int *status, char *err,
                       size_t cap)
{
    return decode(body, len, NULL, q, status, err, cap);
}

int api__pq_encode_def(const struct api_pq *q, struct cn_buf *out)
{
    struct cn_jsonw w;
    cn_jsonw_init(&w, out, 0);
    cn_jsonw_obj_open(&w);
    body_fields(&w, q);
    cn_jsonw_obj_close(&w);
    return w.err ? CN_ENOMEM : 0;
}

int api__pq_from_state(const struct state_query *sq, struct api_pq *q)
{
    char err[256];
    int status;
    /* A stored definition decoded before; only running out of memory (or a
     * definition written by a later version) fails here. */
    int rc = decode((const char *)sq->def, sq->def_len, NULL, q, &status, err, sizeof(err));
    if (rc)
        return rc;
    if (api__set_str(&q->name, sq->name, err, sizeof(err)) ||
        api__set_str(&q->session, sq->session, err, sizeof(err))) {
        api__pq_clear(q);
        return CN_ENOMEM;
    }
    return 0;
}

void api__pq_json(struct cn_jsonw *w, const struct state_query *sq, const struct api_pq *q)
{
    cn_jsonw_obj_open(w);
    cn_jsonw_kstr(w, "ID", sq->id);
    cn_jsonw_kstr(w, "Name", q->name);
    cn_jsonw_kstr(w, "Session", q->session);
    body_fields(w, q);
    cn_jsonw_ku64(w, "CreateIndex", sq->create_index);
    cn_jsonw_ku64(w, "ModifyIndex", sq->modify_index);
    cn_jsonw_obj_close(w);
}

/* ---- templates ---------------------------------------------------------------- */

struct vars {
    const char *full, *prefix, *suffix;
    const char *subject; /* for match(N) */
    regmatch_t m[10];
    size_t nm; /* 0: the regexp did not match (or none) */
};

/* The value of variable v[0..n) appended to out; -1 when unknown. */
static int var(const struct vars *x, const char *v, size_t n, struct cn_buf *out)
{
#define IS(lit) (n == sizeof(lit) - 1 && !memcmp(v, lit, n))
    if (IS("name.full"))
        return cn_buf_puts(out, x->full) ? -2 : 0;
    if (IS("name.prefix"))
        return cn_buf_puts(out, x->prefix) ? -2 : 0;
    if (IS("name.suffix"))
        return cn_buf_puts(out, x->suffix) ? -2 : 0;
    if (IS("agent.segment"))
        return 0;
#undef IS
    if (n > 7 && !memcmp(v, "match(", 6) && v[n - 1] == ')') {
        size_t idx = 0;
        for (size_t i = 6; i < n - 1; i++) {
            if (v[i] < '0' || v[i] > '9' || idx > 1000)
                return -1;
            idx = idx * 10 + (size_t)(v[i] - '0');
        }
        if (idx < x->nm && x->m[idx].rm_so >= 0)
            return cn_buf_append(out, x->subject + x->m[idx].rm_so,
                                 (size_t)(x->m[idx].rm_eo - x->m[idx].rm_so))
                       ? -2
                       : 0;
        return 0; /* Consul: an invalid index or no match gives "" */
    }
    return -1;
}

/* Interpolate s; x NULL only checks the variables. Returns 0, CN_EINVAL, CN_ENOMEM. */
static int interp(const struct vars *x, const char *s, char **out, char *err, size_t cap)
{
    struct cn_buf b = CN_BUF_INIT;
    struct vars dummy = {"", "", "", "", {{0, 0}}, 0};
    const struct vars *vx = x ? x : &dummy;
    const char *p = s;
    int rc = 0;
    while (!rc && *p) {
        const char *d = strstr(p, "${");
        if (!d) {
            rc = cn_buf_puts(&b, p) ? CN_ENOMEM : 0;
            break;
        }
        const char *e = strchr(d + 2, '}');
        if (!e) {
            rc = api__fail(err, cap, "Failed to parse template: unterminated \"${\" in \"%s\"", s);
            break;
        }
        if (cn_buf_append(&b, p, (size_t)(d - p))) {
            rc = CN_ENOMEM;
            break;
        }
        const char *v = d + 2;
        size_t n = (size_t)(e - v);
        while (n && *v == ' ')
            v++, n--;
        while (n && v[n - 1] == ' ')
            n--;
        int vr = var(vx, v, n, &b);
        if (vr == -1)
            rc = api__fail(err, cap, "Failed to parse template: unknown variable \"%.*s\"", (int)n,
                           v);
        else if (vr)
            rc = CN_ENOMEM;
        p = e + 1;
    }
    if (!rc && out) {
        if (cn_buf_append(&b, "", 1))
            rc = CN_ENOMEM;
        else {
            *out = b.p;
            b.p = NULL;
        }
    }
    if (rc == CN_ENOMEM)
        api__oom(err, cap);
    cn_buf_free(&b);
    return rc;
}

static int check_vars(const char *s, char *err, size_t cap)
{
    return interp(NULL, s, NULL, err, cap);
}

static int interp_strv(const struct vars *x, char **in, size_t n, char ***out, size_t *nout,
                       bool drop_empty, char *err, size_t cap)
{
    *out = NULL;
    *nout = 0;
    if (!n)
        return 0;
    char **v = cn_calloc(n, sizeof(*v));
    if (!v)
        return api__oom(err, cap);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char *s = NULL;
        int rc = interp(x, in[i], &s, err, cap);
        if (rc) {
            api__free_strv(v, k);
            return rc;
        }
        if (drop_empty && !*s)
            cn_free(s);
        else
            v[k++] = s;
    }
    *out = v;
    *nout = k;
    return 0;
}

static int copy_map(const struct vars *x, const struct state_map *in, struct state_map *out,
                    char *err, size_t cap)
{
    out->n = 0;
    out->items = in->n ? cn_calloc(in->n, sizeof(*out->items)) : NULL;
    if (in->n && !out->items)
        return api__oom(err, cap);
    for (size_t i = 0; i < in->n; i++) {
        struct state_pair *p = &out->items[i];
        p->k = cn_strdup(in->items[i].k);
        out->n++;
        if (!p->k)
            return api__oom(err, cap);
        CN_TRY(interp(x, in->items[i].v, &p->v, err, cap));
    }
    return 0;
}

static int render(const struct api_pq *q, const struct vars *x, struct api_pq *o, char *err,
                  size_t cap)
{
    if (api__set_str(&o->name, q->name, err, cap) ||
        api__set_str(&o->session, q->session, err, cap) ||
        api__set_str(&o->token, q->token, err, cap) ||
        api__set_str(&o->tmpl_type, q->tmpl_type, err, cap) ||
        api__set_str(&o->tmpl_regexp, q->tmpl_regexp, err, cap) ||
        api__set_str(&o->dns_ttl, q->dns_ttl, err, cap))
        return CN_ENOMEM;
    o->remove_empty_tags = q->remove_empty_tags;
    o->nearest_n = q->nearest_n;
    o->only_passing = q->only_passing;
    CN_TRY(interp(x, q->service, &o->service, err, cap));
    CN_TRY(interp(x, q->near, &o->near, err, cap));
    CN_TRY(interp_strv(x, q->dcs, q->ndcs, &o->dcs, &o->ndcs, false, err, cap));
    CN_TRY(interp_strv(x, q->ignore, q->nignore, &o->ignore, &o->nignore, false, err, cap));
    CN_TRY(interp_strv(x, q->tags, q->ntags, &o->tags, &o->ntags, q->remove_empty_tags, err, cap));
    CN_TRY(copy_map(x, &q->node_meta, &o->node_meta, err, cap));
    return copy_map(x, &q->service_meta, &o->service_meta, err, cap);
}

int api__pq_render(const struct api_pq *q, const char *name, struct api_pq *out, char *err,
                   size_t cap)
{
    memset(out, 0, sizeof(*out));
    size_t plen = strlen(q->name);
    struct vars x = {name, q->name,  strncmp(name, q->name, plen) ? "" : name + plen,
                     name, {{0, 0}}, 0};
    regex_t re;
    bool have_re = false;
    if (*q->tmpl_regexp) {
        char why[128];
        if (cn_regcomp(&re, q->tmpl_regexp, REG_EXTENDED, why, sizeof(why)))
            return api__fail(err, cap, "Bad Regexp: %s", why);
        have_re = true;
        if (regexec(&re, name, 10, x.m, 0) == 0)
            x.nm = 10;
    }
    int rc = render(q, &x, out, err, cap);
    if (have_re)
        regfree(&re);
    if (rc)
        api__pq_clear(out);
    return rc;
}
