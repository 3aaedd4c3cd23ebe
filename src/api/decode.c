/* api/decode.c: JSON bodies of the agent and catalog write endpoints into
 * state structs. Validation texts follow Consul's (agent/agent_endpoint.go,
 * agent/structs/check_type.go Validate, agent/consul/catalog_endpoint.go,
 * agent/structs/structs.go ValidateServiceMetadata/ValidateWeights). */
#include "api/decode.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/dur.h"
#include "base/err.h"
#include "base/json.h"
#include "base/mem.h"

#define DECODE_FAILED "Request decode failed: "

static int fail(char *err, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t cap, const char *fmt, ...)
{
    if (err && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return CN_EINVAL;
}

static int oom(char *err, size_t cap)
{
    if (err && cap)
        snprintf(err, cap, "out of memory");
    return CN_ENOMEM;
}

/* ---- typed field helpers ---------------------------------------------------
 * Each returns 0, CN_EINVAL (message written) or CN_ENOMEM. */

static const char *type_name(struct json_object *v)
{
    switch (json_object_get_type(v)) {
    case json_type_null:
        return "null";
    case json_type_boolean:
        return "bool";
    case json_type_double:
    case json_type_int:
        return "number";
    case json_type_object:
        return "object";
    case json_type_array:
        return "array";
    case json_type_string:
        return "string";
    }
    return "value";
}

/* Optional string: absent or null -> "" (or NULL when null_ok). */
static int get_str(struct json_object *o, const char *key, char **dst, bool null_ok, char *err,
                   size_t cap)
{
    struct json_object *v = cn_json_get(o, key);
    *dst = NULL;
    if (!v) {
        if (null_ok)
            return 0;
        *dst = cn_strdup("");
        return *dst ? 0 : oom(err, cap);
    }
    if (!json_object_is_type(v, json_type_string))
        return fail(err, cap, DECODE_FAILED "%s: cannot use %s as string", key, type_name(v));
    *dst = cn_strndup(json_object_get_string(v), (size_t)json_object_get_string_len(v));
    return *dst ? 0 : oom(err, cap);
}

static int get_bool(struct json_object *o, const char *key, bool *dst, char *err, size_t cap)
{
    int b = 0;
    int rc = cn_json_get_bool(o, key, &b);
    if (rc < 0)
        return fail(err, cap, DECODE_FAILED "%s: cannot use %s as bool", key,
                    type_name(cn_json_get(o, key)));
    if (rc == 1)
        *dst = b != 0;
    return 0;
}

static int get_int(struct json_object *o, const char *key, int64_t lo, int64_t hi, int64_t *dst,
                   char *err, size_t cap)
{
    int64_t x = 0;
    int rc = cn_json_get_i64(o, key, &x);
    if (rc < 0)
        return fail(err, cap, DECODE_FAILED "%s: cannot use %s as integer", key,
                    type_name(cn_json_get(o, key)));
    if (rc == 1) {
        if (x < lo || x > hi)
            return fail(err, cap, "Invalid %s: %lld is out of range [%lld, %lld]", key,
                        (long long)x, (long long)lo, (long long)hi);
        *dst = x;
    }
    return 0;
}

static int get_dur(struct json_object *o, const char *key, int64_t *ns, char *err, size_t cap)
{
    int rc = cn_json_get_dur(o, key, ns);
    if (rc < 0) {
        struct json_object *v = cn_json_get(o, key);
        if (json_object_is_type(v, json_type_string))
            return fail(err, cap, DECODE_FAILED "%s: time: invalid duration \"%s\"", key,
                        json_object_get_string(v));
        return fail(err, cap, DECODE_FAILED "%s: cannot use %s as duration", key, type_name(v));
    }
    return 0;
}

static void free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cn_free(v[i]);
    cn_free(v);
}

static int get_strv(struct json_object *o, const char *key, char ***dst, size_t *n, char *err,
                    size_t cap)
{
    struct json_object *v = cn_json_get(o, key);
    *dst = NULL;
    *n = 0;
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_array))
        return fail(err, cap, DECODE_FAILED "%s: cannot use %s as array of strings", key,
                    type_name(v));
    size_t len = json_object_array_length(v);
    if (!len)
        return 0;
    char **arr = cn_calloc(len, sizeof(*arr));
    if (!arr)
        return oom(err, cap);
    for (size_t i = 0; i < len; i++) {
        struct json_object *e = json_object_array_get_idx(v, i);
        if (!e || !json_object_is_type(e, json_type_string)) {
            free_strv(arr, i);
            return fail(err, cap, DECODE_FAILED "%s[%zu]: cannot use %s as string", key, i,
                        e ? type_name(e) : "null");
        }
        arr[i] = cn_strndup(json_object_get_string(e), (size_t)json_object_get_string_len(e));
        if (!arr[i]) {
            free_strv(arr, i);
            return oom(err, cap);
        }
    }
    *dst = arr;
    *n = len;
    return 0;
}

static int pair_cmp(const void *a, const void *b)
{
    return strcmp(((const struct state_pair *)a)->k, ((const struct state_pair *)b)->k);
}

/* Object of strings -> sorted state_map. */
static int get_map(struct json_object *o, const char *key, struct state_map *m, char *err,
                   size_t cap)
{
    struct json_object *v = cn_json_get(o, key);
    m->n = 0;
    m->items = NULL;
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_object))
        return fail(err, cap, DECODE_FAILED "%s: cannot use %s as map of strings", key,
                    type_name(v));
    size_t len = (size_t)json_object_object_length(v);
    if (!len)
        return 0;
    m->items = cn_calloc(len, sizeof(*m->items));
    if (!m->items)
        return oom(err, cap);
    json_object_object_foreach(v, k, val)
    {
        if (!val || !json_object_is_type(val, json_type_string)) {
            state_map_clear(m);
            return fail(err, cap, DECODE_FAILED "%s[\"%s\"]: cannot use %s as string", key, k,
                        val ? type_name(val) : "null");
        }
        struct state_pair *p = &m->items[m->n];
        p->k = cn_strdup(k);
        p->v = cn_strndup(json_object_get_string(val), (size_t)json_object_get_string_len(val));
        m->n++;
        if (!p->k || !p->v) {
            state_map_clear(m);
            return oom(err, cap);
        }
    }
    qsort(m->items, m->n, sizeof(*m->items), pair_cmp);
    return 0;
}

/* agent/structs/structs.go validateMetaPair: what Consul accepts as metadata. */
#define META_MAX_PAIRS 64
#define META_MAX_KEY 128
#define META_MAX_VALUE 512

static int validate_meta(const struct state_map *m, bool node, char *err, size_t cap)
{
    const char *what = node ? "Node" : "Service";
    const char *pfx = node ? "Invalid node metadata: " : "Invalid Service Meta: ";
    if (m->n > META_MAX_PAIRS)
        return fail(err, cap, "%s%s metadata cannot contain more than %d key/value pairs", pfx,
                    what, META_MAX_PAIRS);
    for (size_t i = 0; i < m->n; i++) {
        const char *k = m->items[i].k, *v = m->items[i].v;
        const char *why = NULL;
        if (!*k)
            why = "Key cannot be blank";
        else if (strlen(k) > META_MAX_KEY)
            why = "Key is too long (limit: 128 characters)";
        else if (!strncmp(k, "consul-", 7) && !(node && !strcmp(k, "consul-network-segment")))
            why = "Key prefix 'consul-' is reserved for internal use";
        else if (strlen(v) > META_MAX_VALUE)
            why = "Value is too long (limit: 512 characters)";
        else
            for (const char *c = k; *c; c++)
                if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-') {
                    why = "Key contains invalid characters";
                    break;
                }
        if (why)
            return fail(err, cap, "%sCouldn't load metadata pair ('%.128s', '%.64s'): %s", pfx, k,
                        v, why);
    }
    return 0;
}

/* "0.0.0.0", "::", "[::]": ipaddr.IsAny, refused as a service address. */
static bool is_any_addr(const char *a)
{
    return !strcmp(a, "0.0.0.0") || !strcmp(a, "::") || !strcmp(a, "[::]");
}

/* ---- service pieces ------------------------------------------------------- */

static int taddr_cmp(const void *a, const void *b)
{
    return strcmp(((const struct state_taddr *)a)->name, ((const struct state_taddr *)b)->name);
}

/* Service TaggedAddresses: name -> {"Address","Port"} (docs show lower-case
 * keys too; cn_json_get matches either). */
static int get_taddrs(struct json_object *o, struct state_service *s, char *err, size_t cap)
{
    struct json_object *v = cn_json_get(o, "TaggedAddresses");
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_object))
        return fail(err, cap, DECODE_FAILED "TaggedAddresses: cannot use %s as map", type_name(v));
    size_t len = (size_t)json_object_object_length(v);
    if (!len)
        return 0;
    s->taddrs = cn_calloc(len, sizeof(*s->taddrs));
    if (!s->taddrs)
        return oom(err, cap);
    json_object_object_foreach(v, k, val)
    {
        if (!val || !json_object_is_type(val, json_type_object))
            return fail(err, cap, DECODE_FAILED "TaggedAddresses[\"%s\"]: cannot use %s as object",
                        k, val ? type_name(val) : "null");
        struct state_taddr *t = &s->taddrs[s->ntaddrs];
        int64_t port = 0;
        int rc;
        t->name = cn_strdup(k);
        s->ntaddrs++;
        if (!t->name)
            return oom(err, cap);
        if ((rc = get_str(val, "Address", &t->address, false, err, cap)))
            return rc;
        if ((rc = get_int(val, "Port", 0, 65535, &port, err, cap)))
            return rc;
        t->port = (int)port;
        if (is_any_addr(t->address))
            return fail(err, cap, "Invalid tagged address: %s", k);
    }
    qsort(s->taddrs, s->ntaddrs, sizeof(*s->taddrs), taddr_cmp);
    return 0;
}

/* Weights {Passing, Warning}; default 1/1. structs.ValidateWeights. */
static int get_weights(struct json_object *o, struct state_service *s, char *err, size_t cap)
{
    s->weight_passing = 1;
    s->weight_warning = 1;
    struct json_object *v = cn_json_get(o, "Weights");
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_object))
        return fail(err, cap, DECODE_FAILED "Weights: cannot use %s as object", type_name(v));
    int64_t p = 0, w = 0;
    int rc;
    if ((rc = get_int(v, "Passing", INT32_MIN, INT32_MAX, &p, err, cap)) ||
        (rc = get_int(v, "Warning", INT32_MIN, INT32_MAX, &w, err, cap)))
        return rc;
    if (p < 1)
        return fail(err, cap, "Invalid Weights: Passing must be greater than 0");
    if (w < 0)
        return fail(err, cap, "Invalid Weights: Warning must be greater or equal than 0");
    s->weight_passing = (int)p;
    s->weight_warning = (int)w;
    return 0;
}

/* Fields common to the agent's ServiceDefinition and the catalog's
 * NodeService; the name is under `name_key` ("Name" / "Service"). */
static int decode_service_common(struct json_object *o, const char *name_key,
                                 struct state_service *s, char *err, size_t cap)
{
    int rc;
    int64_t port = 0;
    memset(s, 0, sizeof(*s));
    if ((rc = get_str(o, "Kind", &s->kind, false, err, cap)) ||
        (rc = get_str(o, "ID", &s->id, false, err, cap)) ||
        (rc = get_str(o, name_key, &s->service, false, err, cap)) ||
        (rc = get_strv(o, "Tags", &s->tags, &s->ntags, err, cap)) ||
        (rc = get_str(o, "Address", &s->address, false, err, cap)) ||
        (rc = get_map(o, "Meta", &s->meta, err, cap)) ||
        (rc = get_int(o, "Port", 0, 65535, &port, err, cap)) ||
        (rc = get_bool(o, "EnableTagOverride", &s->enable_tag_override, err, cap)) ||
        (rc = get_taddrs(o, s, err, cap)) || (rc = get_weights(o, s, err, cap)))
        return rc;
    s->port = (int)port;
    s->node = cn_strdup("");
    if (!s->node)
        return oom(err, cap);
    if (is_any_addr(s->address))
        return fail(err, cap, "Invalid service address");
    return validate_meta(&s->meta, false, err, cap);
}

/* ---- checks ----------------------------------------------------------------- */

static int set_str(char **dst, const char *v, char *err, size_t cap)
{
    char *n = cn_strdup(v ? v : "");
    if (!n)
        return oom(err, cap);
    cn_free(*dst);
    *dst = n;
    return 0;
}

/* Header: map[string][]string, kept as compact JSON for the check runner and
 * for echoing in Definition. */
static int get_header(struct json_object *o, char **dst, char *err, size_t cap)
{
    struct json_object *v = cn_json_get(o, "Header");
    if (!v)
        return set_str(dst, "", err, cap);
    if (!json_object_is_type(v, json_type_object))
        return fail(err, cap, DECODE_FAILED "Header: cannot use %s as map of string arrays",
                    type_name(v));
    json_object_object_foreach(v, k, val)
    {
        bool ok = val && json_object_is_type(val, json_type_array);
        for (size_t i = 0; ok && i < json_object_array_length(val); i++) {
            struct json_object *e = json_object_array_get_idx(val, i);
            ok = e && json_object_is_type(e, json_type_string);
        }
        if (!ok)
            return fail(err, cap, DECODE_FAILED "Header[\"%s\"]: must be an array of strings", k);
    }
    if (json_object_object_length(v) == 0)
        return set_str(dst, "", err, cap);
    return set_str(
        dst,
        json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
        err, cap);
}

/* What a check definition carried besides the state fields, for validation. */
struct chk_extra {
    bool script; /* ScriptArgs/Args/Script */
    bool other;  /* GRPC/UDP/H2PING/Docker/OSService: not run by cairn */
    const char *other_name;
    bool alias;
    bool meaningful; /* anything set at all (Consul drops empty checks) */
};

/* The check-type fields shared by agent CheckDefinition/CheckType and the
 * catalog's HealthCheckDefinition; `o` is the object holding them. */
static int decode_check_type(struct json_object *o, struct state_check *c, struct chk_extra *x,
                             char *err, size_t cap)
{
    int rc;
    char **args = NULL;
    size_t nargs = 0;
    char *script = NULL;
    if ((rc = get_str(o, "HTTP", &c->http, false, err, cap)) ||
        (rc = get_str(o, "Method", &c->method, false, err, cap)) ||
        (rc = get_str(o, "TCP", &c->tcp, false, err, cap)) ||
        (rc = get_str(o, "Body", &c->body, false, err, cap)) ||
        (rc = get_header(o, &c->header_json, err, cap)) ||
        (rc = get_bool(o, "TLSSkipVerify", &c->tls_skip_verify, err, cap)) ||
        (rc = get_dur(o, "Interval", &c->interval_ns, err, cap)) ||
        (rc = get_dur(o, "Timeout", &c->timeout_ns, err, cap)) ||
        (rc = get_dur(o, "TTL", &c->ttl_ns, err, cap)) ||
        (rc = get_dur(o, "DeregisterCriticalServiceAfter", &c->deregister_after_ns, err, cap)))
        return rc;
    /* The Go client sends ScriptArgs; config files and older docs use Args. */
    const char *akey = cn_json_get(o, "ScriptArgs") ? "ScriptArgs" : "Args";
    if ((rc = get_strv(o, akey, &args, &nargs, err, cap)))
        return rc;
    free_strv(args, nargs);
    if ((rc = get_str(o, "Script", &script, false, err, cap)))
        return rc;
    x->script = nargs > 0 || *script;
    cn_free(script);
    static const char *const others[] = {"GRPC", "UDP", "H2PING", "DockerContainerID", "OSService"};
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        struct json_object *v = cn_json_get(o, others[i]);
        if (v && (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v))) {
            x->other = true;
            x->other_name = others[i];
        }
    }
    for (const char *const *k = (const char *const[]){"AliasNode", "AliasService", NULL}; *k; k++) {
        struct json_object *v = cn_json_get(o, *k);
        if (v && (!json_object_is_type(v, json_type_string) || json_object_get_string_len(v)))
            x->alias = true;
    }
    if (*c->http || *c->tcp || c->interval_ns || c->ttl_ns || x->script || x->other || x->alias)
        x->meaningful = true;
    return 0;
}

static const char *derive_type(const struct state_check *c, const struct chk_extra *x)
{
    if (*c->http)
        return STATE_CHECK_HTTP;
    if (*c->tcp)
        return STATE_CHECK_TCP;
    if (x->script)
        return STATE_CHECK_SCRIPT;
    if (c->ttl_ns > 0)
        return STATE_CHECK_TTL;
    return "";
}

/* structs.CheckType.Validate, then what cairn cannot run. Message without the
 * "Invalid check: " prefix. */
static const char *validate_check_type(const struct state_check *c, const struct chk_extra *x)
{
    bool interval_check = x->script || *c->http || *c->tcp || x->other;
    if (c->interval_ns > 0 && c->ttl_ns > 0)
        return "Interval and TTL cannot both be specified";
    if (interval_check && c->interval_ns <= 0)
        return "Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks";
    if (interval_check && x->alias)
        return "Interval cannot be set for Alias checks";
    if (x->alias && c->ttl_ns > 0)
        return "TTL must be not be set for Alias checks";
    if (!interval_check && !x->alias && c->ttl_ns <= 0)
        return "TTL must be > 0 for TTL checks";
    if (x->alias)
        return "Alias checks are not supported by cairn";
    if (x->other)
        return "only TTL, HTTP, TCP and script checks are supported by cairn";
    if (*c->http && *c->tcp)
        return "HTTP and TCP cannot both be specified";
    return NULL;
}

/* An agent-style check object (CheckDefinition or a service's CheckType).
 * Leaves defaults for the caller (ID/Name depend on context). */
static int decode_agent_check(struct json_object *o, struct state_check *c, struct chk_extra *x,
                              char *err, size_t cap)
{
    int rc;
    memset(c, 0, sizeof(*c));
    memset(x, 0, sizeof(*x));
    if (!json_object_is_type(o, json_type_object))
        return fail(err, cap, DECODE_FAILED "check: cannot use %s as object", type_name(o));
    /* Both ID and CheckID are in use (CheckDefinition.ID, CheckType.CheckID). */
    const char *idkey = cn_json_get(o, "CheckID") ? "CheckID" : "ID";
    if ((rc = get_str(o, idkey, &c->check_id, false, err, cap)) ||
        (rc = get_str(o, "Name", &c->name, false, err, cap)) ||
        (rc = get_str(o, "Status", &c->status, false, err, cap)) ||
        (rc = get_str(o, "Notes", &c->notes, false, err, cap)) ||
        (rc = get_str(o, "ServiceID", &c->service_id, false, err, cap)) ||
        (rc = decode_check_type(o, c, x, err, cap)))
        return rc;
    if (*c->check_id || *c->name || *c->status || *c->notes || *c->service_id)
        x->meaningful = true;
    if ((rc = set_str(&c->node, "", err, cap)) || (rc = set_str(&c->output, "", err, cap)) ||
        (rc = set_str(&c->service_name, "", err, cap)) ||
        (rc = set_str(&c->type, derive_type(c, x), err, cap)))
        return rc;
    return 0;
}

/* Offset of a "\u0000" escape inside a JSON string of p[0..n), or -1. json-c
 * decodes it into the string (and cuts object keys at it), so the C strings
 * built from the tree would silently lose everything after it: a node
 * "a\u0000b" would be registered as "a". Refuse such bodies instead. */
static long nul_escape_at(const char *p, size_t n)
{
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        if (!in_str) {
            in_str = p[i] == '"';
        } else if (p[i] == '"') {
            in_str = false;
        } else if (p[i] == '\\' && i + 1 < n) {
            if (p[i + 1] == 'u' && i + 5 < n && !memcmp(p + i + 2, "0000", 4))
                return (long)i;
            i++; /* the escaped character */
        }
    }
    return -1;
}

static struct json_object *parse_object(const char *body, size_t len, char *err, size_t cap)
{
    char jerr[160];
    long nul = body ? nul_escape_at(body, len) : -1;
    if (nul >= 0) {
        fail(err, cap, DECODE_FAILED "invalid JSON at offset %ld: NUL character in string", nul);
        return NULL;
    }
    struct json_object *o = cn_json_parse(body ? body : "", body ? len : 0, jerr, sizeof(jerr));
    if (!o) {
        fail(err, cap, DECODE_FAILED "%s", jerr);
        return NULL;
    }
    if (!json_object_is_type(o, json_type_object)) {
        fail(err, cap, DECODE_FAILED "cannot use %s as object", type_name(o));
        json_object_put(o);
        return NULL;
    }
    return o;
}

int api_decode_check_def(const char *body, size_t len, struct state_check *out, char *err,
                         size_t errcap)
{
    struct chk_extra x;
    int rc;
    memset(out, 0, sizeof(*out));
    struct json_object *o = parse_object(body, len, err, errcap);
    if (!o)
        return CN_EINVAL;
    if ((rc = decode_agent_check(o, out, &x, err, errcap)))
        goto fail;
    /* agent_endpoint.go AgentRegisterCheck */
    if (!*out->name) {
        rc = fail(err, errcap, "Missing check name");
        goto fail;
    }
    if (*out->status && !state_check_status_valid(out->status)) {
        rc = fail(err, errcap, "Bad check status");
        goto fail;
    }
    const char *why = validate_check_type(out, &x);
    if (why) {
        rc = fail(err, errcap, "Invalid check: %s", why);
        goto fail;
    }
    if ((!*out->check_id && (rc = set_str(&out->check_id, out->name, err, errcap))) ||
        (!*out->status && (rc = set_str(&out->status, "critical", err, errcap))))
        goto fail;
    json_object_put(o);
    return 0;
fail:
    state_check_clear(out);
    json_object_put(o);
    return rc;
}

/* ---- service definition ------------------------------------------------------ */

/* Decode one service check (CheckType) into d->checks[d->nchecks]; `multi`
 * selects the "service:<id>:<n>" id form. Empty checks are dropped. */
static int add_service_check(struct local_svc_def *d, struct json_object *o, size_t ordinal,
                             bool multi, char *err, size_t cap)
{
    struct state_check *c = &d->checks[d->nchecks];
    struct chk_extra x;
    int rc = decode_agent_check(o, c, &x, err, cap);
    if (rc)
        goto fail;
    if (!x.meaningful) {
        state_check_clear(c);
        return 0;
    }
    d->nchecks++;
    if (*c->status && !state_check_status_valid(c->status))
        return fail(err, cap, "Status for checks must 'passing', 'warning', 'critical'");
    const char *why = validate_check_type(c, &x);
    if (why)
        return fail(err, cap, "Invalid check: %s", why);
    if (!*c->check_id) {
        char id[600];
        if (multi)
            snprintf(id, sizeof(id), "service:%.500s:%zu", d->svc.id, ordinal);
        else
            snprintf(id, sizeof(id), "service:%.500s", d->svc.id);
        if ((rc = set_str(&c->check_id, id, err, cap)))
            return rc;
    }
    if (!*c->name) {
        char name[600];
        snprintf(name, sizeof(name), "Service '%.500s' check", d->svc.service);
        if ((rc = set_str(&c->name, name, err, cap)))
            return rc;
    }
    if ((!*c->status && (rc = set_str(&c->status, "critical", err, cap))) ||
        (rc = set_str(&c->service_id, d->svc.id, err, cap)) ||
        (rc = set_str(&c->service_name, d->svc.service, err, cap)))
        return rc;
    return 0;
fail:
    state_check_clear(c);
    return rc;
}

/* The body's "Check" (*one) and "Checks" array (*many, *nmany entries), and a
 * when there are any, a zeroed array with room for all of them in *checks. */
static int check_list(struct json_object *o, struct json_object **one, struct json_object **many,
                      size_t *nmany, struct state_check **checks, char *err, size_t errcap)
{
    *one = cn_json_get(o, "Check");
    *many = cn_json_get(o, "Checks");
    if (*many && !json_object_is_type(*many, json_type_array))
        return fail(err, errcap, DECODE_FAILED "Checks: cannot use %s as array", type_name(*many));
    *nmany = *many ? json_object_array_length(*many) : 0;
    size_t total = (*one ? 1 : 0) + *nmany;
    if (total && !(*checks = cn_calloc(total, sizeof(**checks))))
        return oom(err, errcap);
    return 0;
}

int api_decode_service_def(const char *body, size_t len, struct local_svc_def *out, char *err,
                           size_t errcap)
{
    int rc;
    memset(out, 0, sizeof(*out));
    struct json_object *o = parse_object(body, len, err, errcap);
    if (!o)
        return CN_EINVAL;
    if ((rc = decode_service_common(o, "Name", &out->svc, err, errcap)))
        goto fail;
    if (!*out->svc.service) {
        rc = fail(err, errcap, "Missing service name");
        goto fail;
    }
    if (!*out->svc.id && (rc = set_str(&out->svc.id, out->svc.service, err, errcap)))
        goto fail;

    struct json_object *one, *many;
    size_t nmany;
    if ((rc = check_list(o, &one, &many, &nmany, &out->checks, err, errcap)))
        goto fail;
    size_t total = (one ? 1 : 0) + nmany;
    /* ServiceDefinition.CheckTypes: Check first, then Checks; ids number all
     * of them from 1 when there is more than one. */
    bool multi = total > 1;
    size_t ord = 0;
    if (one && (rc = add_service_check(out, one, ++ord, multi, err, errcap)))
        goto fail;
    for (size_t i = 0; i < nmany; i++) {
        struct json_object *e = json_object_array_get_idx(many, i);
        if (!e) {
            rc = fail(err, errcap, DECODE_FAILED "Checks[%zu]: cannot use null as object", i);
            goto fail;
        }
        if ((rc = add_service_check(out, e, ++ord, multi, err, errcap)))
            goto fail;
    }
    /* Two checks with one id would silently overwrite each other. */
    for (size_t i = 0; i < out->nchecks; i++)
        for (size_t j = i + 1; j < out->nchecks; j++)
            if (!strcmp(out->checks[i].check_id, out->checks[j].check_id)) {
                rc = fail(err, errcap, "Invalid check: duplicate check ID \"%s\"",
                          out->checks[i].check_id);
                goto fail;
            }
    json_object_put(o);
    return 0;
fail:
    local_svc_def_free(out);
    json_object_put(o);
    return rc;
}

/* ---- catalog register / deregister ----------------------------------------------- */

/* 8-4-4-4-12 hex, as go-uuid ParseUUID wants. */
static bool is_uuid(const char *s)
{
    if (strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!isxdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}

/* A catalog HealthCheck object: Node, CheckID, Name, Status, Notes, Output,
 * ServiceID, Type, Definition{...} (and the flat Interval/Timeout strings
 * newer Consul also carries). */
static int decode_catalog_check(struct json_object *o, struct state_check *c, char *err, size_t cap)
{
    int rc;
    struct chk_extra x;
    memset(c, 0, sizeof(*c));
    memset(&x, 0, sizeof(x));
    if (!json_object_is_type(o, json_type_object))
        return fail(err, cap, DECODE_FAILED "Check: cannot use %s as object", type_name(o));
    const char *idkey = cn_json_get(o, "CheckID") ? "CheckID" : "ID";
    if ((rc = get_str(o, "Node", &c->node, false, err, cap)) ||
        (rc = get_str(o, idkey, &c->check_id, false, err, cap)) ||
        (rc = get_str(o, "Name", &c->name, false, err, cap)) ||
        (rc = get_str(o, "Status", &c->status, false, err, cap)) ||
        (rc = get_str(o, "Notes", &c->notes, false, err, cap)) ||
        (rc = get_str(o, "Output", &c->output, false, err, cap)) ||
        (rc = get_str(o, "ServiceID", &c->service_id, false, err, cap)) ||
        (rc = get_str(o, "Type", &c->type, false, err, cap)))
        return rc;
    struct json_object *def = cn_json_get(o, "Definition");
    if (def && !json_object_is_type(def, json_type_object))
        return fail(err, cap, DECODE_FAILED "Check.Definition: cannot use %s as object",
                    type_name(def));
    if ((rc = decode_check_type(def ? def : o, c, &x, err, cap)))
        return rc;
    if (def && !c->interval_ns && (rc = get_dur(o, "Interval", &c->interval_ns, err, cap)))
        return rc;
    if (def && !c->timeout_ns && (rc = get_dur(o, "Timeout", &c->timeout_ns, err, cap)))
        return rc;
    if (!*c->type && (rc = set_str(&c->type, derive_type(c, &x), err, cap)))
        return rc;
    if ((rc = set_str(&c->service_name, "", err, cap)))
        return rc;
    /* checkPreApply: CheckID defaults to Name. */
    if (!*c->check_id && (rc = set_str(&c->check_id, c->name, err, cap)))
        return rc;
    if (!*c->check_id)
        return fail(err, cap, "Missing check ID or name");
    if (!*c->status && (rc = set_str(&c->status, "critical", err, cap)))
        return rc;
    if (!state_check_status_valid(c->status))
        return fail(err, cap, "Invalid check status: '%s'", c->status);
    char *t = state_check_output_truncate(c->output);
    if (!t)
        return oom(err, cap);
    cn_free(c->output);
    c->output = t;
    return 0;
}

int api_decode_catalog_register(const char *body, size_t len, struct state_register *out, char *err,
                                size_t errcap)
{
    int rc;
    memset(out, 0, sizeof(*out));
    struct json_object *o = parse_object(body, len, err, errcap);
    if (!o)
        return CN_EINVAL;
    if ((rc = get_str(o, "Node", &out->node.name, false, err, errcap)) ||
        (rc = get_str(o, "ID", &out->node.id, false, err, errcap)) ||
        (rc = get_str(o, "Address", &out->node.address, false, err, errcap)) ||
        (rc = get_map(o, "TaggedAddresses", &out->node.tagged_addresses, err, errcap)) ||
        (rc = get_map(o, "NodeMeta", &out->node.meta, err, errcap)) ||
        (rc = get_bool(o, "SkipNodeUpdate", &out->skip_node_update, err, errcap)))
        goto fail;
    /* agent/consul/catalog_endpoint.go Register / nodePreApply */
    if (!*out->node.name) {
        rc = fail(err, errcap, "Must provide node");
        goto fail;
    }
    if (*out->node.id && !is_uuid(out->node.id)) {
        rc = fail(err, errcap, "Bad node ID: uuid string is wrong length or improperly formatted");
        goto fail;
    }
    if (!*out->node.address && !out->skip_node_update) {
        rc = fail(err, errcap, "Must provide address if SkipNodeUpdate is not set");
        goto fail;
    }
    if ((rc = validate_meta(&out->node.meta, true, err, errcap)))
        goto fail;

    struct json_object *sv = cn_json_get(o, "Service");
    if (sv) {
        if (!json_object_is_type(sv, json_type_object)) {
            rc = fail(err, errcap, DECODE_FAILED "Service: cannot use %s as object", type_name(sv));
            goto fail;
        }
        out->service = cn_calloc(1, sizeof(*out->service));
        if (!out->service) {
            rc = oom(err, errcap);
            goto fail;
        }
        if ((rc = decode_service_common(sv, "Service", out->service, err, errcap)))
            goto fail;
        /* servicePreApply: ID defaults to the name; an ID needs a name. */
        if (!*out->service->service) {
            rc = fail(err, errcap, "Must provide service name (Service.Service) with ID");
            goto fail;
        }
        if (!*out->service->id &&
            (rc = set_str(&out->service->id, out->service->service, err, errcap)))
            goto fail;
        if ((rc = set_str(&out->service->node, out->node.name, err, errcap)))
            goto fail;
    }

    struct json_object *one, *many;
    size_t nmany;
    if ((rc = check_list(o, &one, &many, &nmany, &out->checks, err, errcap)))
        goto fail;
    size_t total = (one ? 1 : 0) + nmany;
    for (size_t i = 0; i < total; i++) {
        struct json_object *e = one ? (i == 0 ? one : json_object_array_get_idx(many, i - 1))
                                    : json_object_array_get_idx(many, i);
        if (!e) {
            rc = fail(err, errcap, DECODE_FAILED "Checks: cannot use null as object");
            goto fail;
        }
        rc = decode_catalog_check(e, &out->checks[out->nchecks], err, errcap);
        out->nchecks++;
        if (rc)
            goto fail;
        struct state_check *c = &out->checks[out->nchecks - 1];
        if (*c->node && strcmp(c->node, out->node.name)) {
            rc = fail(err, errcap, "Check node '%s' does not match register node '%s'", c->node,
                      out->node.name);
            goto fail;
        }
        if ((rc = set_str(&c->node, out->node.name, err, errcap)))
            goto fail;
    }
    json_object_put(o);
    return 0;
fail:
    state_register_clear(out);
    json_object_put(o);
    return rc;
}

void api_catalog_dereg_free(struct api_catalog_dereg *d)
{
    if (!d)
        return;
    cn_free(d->node);
    cn_free(d->service_id);
    cn_free(d->check_id);
    memset(d, 0, sizeof(*d));
}

int api_decode_catalog_deregister(const char *body, size_t len, struct api_catalog_dereg *out,
                                  char *err, size_t errcap)
{
    int rc;
    memset(out, 0, sizeof(*out));
    struct json_object *o = parse_object(body, len, err, errcap);
    if (!o)
        return CN_EINVAL;
    if ((rc = get_str(o, "Node", &out->node, false, err, errcap)) ||
        (rc = get_str(o, "ServiceID", &out->service_id, true, err, errcap)) ||
        (rc = get_str(o, "CheckID", &out->check_id, true, err, errcap)))
        goto fail;
    if (!*out->node) {
        rc = fail(err, errcap, "Must provide node");
        goto fail;
    }
    /* "" means absent, as in Go. */
    if (out->service_id && !*out->service_id) {
        cn_free(out->service_id);
        out->service_id = NULL;
    }
    if (out->check_id && !*out->check_id) {
        cn_free(out->check_id);
        out->check_id = NULL;
    }
    json_object_put(o);
    return 0;
fail:
    api_catalog_dereg_free(out);
    json_object_put(o);
    return rc;
}

int api_decode_check_update(const char *body, size_t len, char **status, char **output, char *err,
                            size_t errcap)
{
    int rc;
    char *st = NULL, *out = NULL;
    *status = *output = NULL;
    struct json_object *o = parse_object(body, len, err, errcap);
    if (!o)
        return CN_EINVAL;
    if ((rc = get_str(o, "Status", &st, false, err, errcap)) ||
        (rc = get_str(o, "Output", &out, false, err, errcap)))
        goto fail;
    if (!state_check_status_valid(st)) {
        rc = fail(err, errcap, "Invalid check status: '%.200s'", st);
        goto fail;
    }
    char *t = state_check_output_truncate(out);
    if (!t) {
        rc = oom(err, errcap);
        goto fail;
    }
    cn_free(out);
    *status = st;
    *output = t;
    json_object_put(o);
    return 0;
fail:
    cn_free(st);
    cn_free(out);
    json_object_put(o);
    return rc;
}
