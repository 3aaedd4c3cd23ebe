/* api/decode_json.c: the JSON side of the body decoders: parsing a body
 * into an object, typed field getters with Go's error texts, and the
 * metadata/address rules shared by node and service decoding. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/decode_int.h"
#include "base/err.h"
#include "base/json.h"
#include "base/mem.h"

int api__fail(char *err, size_t cap, const char *fmt, ...)
{
    if (err && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, cap, fmt, ap);
        va_end(ap);
    }
    return CN_EINVAL;
}

int api__oom(char *err, size_t cap)
{
    if (err && cap)
        snprintf(err, cap, "out of memory");
    return CN_ENOMEM;
}

/* ---- typed field helpers ---------------------------------------------------
 * Each returns 0, CN_EINVAL (message written) or CN_ENOMEM. */

const char *api__type_name(struct json_object *v)
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
int api__get_str(struct json_object *o, const char *key, char **dst, bool null_ok, char *err,
                 size_t cap)
{
    struct json_object *v = cn_json_get(o, key);
    *dst = NULL;
    if (!v) {
        if (null_ok)
            return 0;
        *dst = cn_strdup("");
        return *dst ? 0 : api__oom(err, cap);
    }
    if (!json_object_is_type(v, json_type_string))
        return api__fail(err, cap, API_DECODE_FAILED "%s: cannot use %s as string", key,
                         api__type_name(v));
    *dst = cn_strndup(json_object_get_string(v), (size_t)json_object_get_string_len(v));
    return *dst ? 0 : api__oom(err, cap);
}

int api__get_bool(struct json_object *o, const char *key, bool *dst, char *err, size_t cap)
{
    int b = 0;
    int rc = cn_json_get_bool(o, key, &b);
    if (rc < 0)
        return api__fail(err, cap, API_DECODE_FAILED "%s: cannot use %s as bool", key,
                         api__type_name(cn_json_get(o, key)));
    if (rc == 1)
        *dst = b != 0;
    return 0;
}

int api__get_int(struct json_object *o, const char *key, int64_t lo, int64_t hi, int64_t *dst,
                 char *err, size_t cap)
{
    int64_t x = 0;
    int rc = cn_json_get_i64(o, key, &x);
    if (rc < 0)
        return api__fail(err, cap, API_DECODE_FAILED "%s: cannot use %s as integer", key,
                         api__type_name(cn_json_get(o, key)));
    if (rc == 1) {
        if (x < lo || x > hi)
            return api__fail(err, cap, "Invalid %s: %lld is out of range [%lld, %lld]", key,
                             (long long)x, (long long)lo, (long long)hi);
        *dst = x;
    }
    return 0;
}

int api__get_dur(struct json_object *o, const char *key, int64_t *ns, char *err, size_t cap)
{
    int rc = cn_json_get_dur(o, key, ns);
    if (rc < 0) {
        struct json_object *v = cn_json_get(o, key);
        if (json_object_is_type(v, json_type_string))
            return api__fail(err, cap, API_DECODE_FAILED "%s: time: invalid duration \"%s\"", key,
                             json_object_get_string(v));
        return api__fail(err, cap, API_DECODE_FAILED "%s: cannot use %s as duration", key,
                         api__type_name(v));
    }
    return 0;
}

void api__free_strv(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cn_free(v[i]);
    cn_free(v);
}

int api__get_strv(struct json_object *o, const char *key, char ***dst, size_t *n, char *err,
                  size_t cap)
{
    struct json_object *v = cn_json_get(o, key);
    *dst = NULL;
    *n = 0;
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_array))
        return api__fail(err, cap, API_DECODE_FAILED "%s: cannot use %s as array of strings", key,
                         api__type_name(v));
    size_t len = json_object_array_length(v);
    if (!len)
        return 0;
    char **arr = cn_calloc(len, sizeof(*arr));
    if (!arr)
        return api__oom(err, cap);
    for (size_t i = 0; i < len; i++) {
        struct json_object *e = json_object_array_get_idx(v, i);
        if (!e || !json_object_is_type(e, json_type_string)) {
            api__free_strv(arr, i);
            return api__fail(err, cap, API_DECODE_FAILED "%s[%zu]: cannot use %s as string", key, i,
                             e ? api__type_name(e) : "null");
        }
        arr[i] = cn_strndup(json_object_get_string(e), (size_t)json_object_get_string_len(e));
        if (!arr[i]) {
            api__free_strv(arr, i);
            return api__oom(err, cap);
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
int api__get_map(struct json_object *o, const char *key, struct state_map *m, char *err, size_t cap)
{
    struct json_object *v = cn_json_get(o, key);
    m->n = 0;
    m->items = NULL;
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_object))
        return api__fail(err, cap, API_DECODE_FAILED "%s: cannot use %s as map of strings", key,
                         api__type_name(v));
    size_t len = (size_t)json_object_object_length(v);
    if (!len)
        return 0;
    m->items = cn_calloc(len, sizeof(*m->items));
    if (!m->items)
        return api__oom(err, cap);
    json_object_object_foreach(v, k, val)
    {
        if (!val || !json_object_is_type(val, json_type_string)) {
            state_map_clear(m);
            return api__fail(err, cap, API_DECODE_FAILED "%s[\"%s\"]: cannot use %s as string", key,
                             k, val ? api__type_name(val) : "null");
        }
        struct state_pair *p = &m->items[m->n];
        p->k = cn_strdup(k);
        p->v = cn_strndup(json_object_get_string(val), (size_t)json_object_get_string_len(val));
        m->n++;
        if (!p->k || !p->v) {
            state_map_clear(m);
            return api__oom(err, cap);
        }
    }
    qsort(m->items, m->n, sizeof(*m->items), pair_cmp);
    return 0;
}

/* agent/structs/structs.go validateMetaPair: what Consul accepts as metadata. */
#define META_MAX_PAIRS 64
#define META_MAX_KEY 128
#define META_MAX_VALUE 512

int api__validate_meta(const struct state_map *m, bool node, char *err, size_t cap)
{
    const char *what = node ? "Node" : "Service";
    const char *pfx = node ? "Invalid node metadata: " : "Invalid Service Meta: ";
    if (m->n > META_MAX_PAIRS)
        return api__fail(err, cap, "%s%s metadata cannot contain more than %d key/value pairs", pfx,
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
            return api__fail(err, cap, "%sCouldn't load metadata pair ('%.128s', '%.64s'): %s", pfx,
                             k, v, why);
    }
    return 0;
}

/* "0.0.0.0", "::", "[::]": ipaddr.IsAny, refused as a service address. */
bool api__is_any_addr(const char *a)
{
    return !strcmp(a, "0.0.0.0") || !strcmp(a, "::") || !strcmp(a, "[::]");
}

int api__set_str(char **dst, const char *v, char *err, size_t cap)
{
    char *n = cn_strdup(v ? v : "");
    if (!n)
        return api__oom(err, cap);
    cn_free(*dst);
    *dst = n;
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

struct json_object *api__parse_object(const char *body, size_t len, char *err, size_t cap)
{
    char jerr[160];
    long nul = body ? nul_escape_at(body, len) : -1;
    if (nul >= 0) {
        api__fail(err, cap, API_DECODE_FAILED "invalid JSON at offset %ld: NUL character in string",
                  nul);
        return NULL;
    }
    struct json_object *o = cn_json_parse(body ? body : "", body ? len : 0, jerr, sizeof(jerr));
    if (!o) {
        api__fail(err, cap, API_DECODE_FAILED "%s", jerr);
        return NULL;
    }
    if (!json_object_is_type(o, json_type_object)) {
        api__fail(err, cap, API_DECODE_FAILED "cannot use %s as object", api__type_name(o));
        json_object_put(o);
        return NULL;
    }
    return o;
}
