#include "base/json.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/dur.h"
#include "base/err.h"

/* json-c 0.16 accepts single-quoted strings even in strict mode; JSON (and
 * Go's encoding/json, which Consul uses) does not. Find a quote outside a
 * double-quoted string. Returns its offset or -1. */
static long stray_single_quote(const char *p, size_t n)
{
    int in_str = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '\'') {
            return (long)i;
        }
    }
    return -1;
}

struct json_object *cn_json_parse(const char *p, size_t n, char *err, size_t errcap)
{
    if (n > INT32_MAX) {
        snprintf(err, errcap, "JSON body too large");
        return NULL;
    }
    long q = stray_single_quote(p, n);
    if (q >= 0) {
        snprintf(err, errcap, "invalid JSON at offset %ld: unexpected single quote", q);
        return NULL;
    }
    struct json_tokener *tok = json_tokener_new_ex(64);
    if (!tok) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    struct json_object *o = json_tokener_parse_ex(tok, p, (int)n);
    enum json_tokener_error je = json_tokener_get_error(tok);
    size_t off = json_tokener_get_parse_end(tok);
    if (!o && je == json_tokener_continue) {
        /* Feed an explicit end so a bare number like "12" completes. */
        o = json_tokener_parse_ex(tok, "", 1);
        je = json_tokener_get_error(tok);
        if (!o && je == json_tokener_continue)
            je = json_tokener_error_parse_eof;
    }
    if (!o) {
        if (je == json_tokener_success)
            snprintf(err, errcap, "invalid JSON at offset %zu: empty body", off);
        else
            snprintf(err, errcap, "invalid JSON at offset %zu: %s", off,
                     json_tokener_error_desc(je));
        json_tokener_free(tok);
        return NULL;
    }
    for (size_t i = off; i < n; i++) {
        if (!isspace((unsigned char)p[i]) && p[i] != '\0') {
            snprintf(err, errcap, "invalid JSON at offset %zu: trailing data after value", i);
            json_object_put(o);
            json_tokener_free(tok);
            return NULL;
        }
    }
    json_tokener_free(tok);
    return o;
}

static int skip(char c)
{
    return c == '_' || c == '-';
}

int cn_json_key_eq(const char *a, const char *b)
{
    for (;;) {
        while (skip(*a))
            a++;
        while (skip(*b))
            b++;
        if (!*a || !*b)
            return !*a && !*b;
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
            return 0;
        a++, b++;
    }
}

struct json_object *cn_json_get(struct json_object *obj, const char *name)
{
    if (!obj || !json_object_is_type(obj, json_type_object))
        return NULL;
    struct json_object *v;
    if (json_object_object_get_ex(obj, name, &v))
        return v;
    json_object_object_foreach(obj, key, val)
    {
        if (cn_json_key_eq(key, name))
            return val;
    }
    return NULL;
}

int cn_json_get_str(struct json_object *obj, const char *name, const char **out)
{
    struct json_object *v = cn_json_get(obj, name);
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_string))
        return CN_EINVAL;
    *out = json_object_get_string(v);
    return 1;
}

int cn_json_get_u64(struct json_object *obj, const char *name, uint64_t *out)
{
    struct json_object *v = cn_json_get(obj, name);
    if (!v)
        return 0;
    if (json_object_is_type(v, json_type_int)) {
        if (json_object_get_int64(v) < 0)
            return CN_EINVAL;
        *out = json_object_get_uint64(v);
        return 1;
    }
    if (json_object_is_type(v, json_type_double)) {
        double d = json_object_get_double(v);
        if (d < 0 || d > 1.8e19 || d != (double)(uint64_t)d)
            return CN_EINVAL;
        *out = (uint64_t)d;
        return 1;
    }
    return CN_EINVAL;
}

int cn_json_get_i64(struct json_object *obj, const char *name, int64_t *out)
{
    struct json_object *v = cn_json_get(obj, name);
    if (!v)
        return 0;
    if (json_object_is_type(v, json_type_int)) {
        errno = 0;
        int64_t x = json_object_get_int64(v);
        if (x == INT64_MAX && json_object_get_uint64(v) != (uint64_t)INT64_MAX)
            return CN_EINVAL;
        *out = x;
        return 1;
    }
    if (json_object_is_type(v, json_type_double)) {
        double d = json_object_get_double(v);
        if (d < -9.2e18 || d > 9.2e18 || d != (double)(int64_t)d)
            return CN_EINVAL;
        *out = (int64_t)d;
        return 1;
    }
    return CN_EINVAL;
}

int cn_json_get_bool(struct json_object *obj, const char *name, int *out)
{
    struct json_object *v = cn_json_get(obj, name);
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_boolean))
        return CN_EINVAL;
    *out = json_object_get_boolean(v);
    return 1;
}

int cn_json_get_dur(struct json_object *obj, const char *name, int64_t *ns)
{
    struct json_object *v = cn_json_get(obj, name);
    if (!v)
        return 0;
    if (json_object_is_type(v, json_type_string)) {
        const char *s = json_object_get_string(v);
        if (!*s)
            return 0; /* Consul treats "" as unset */
        return cn_dur_parse(s, ns) ? CN_EINVAL : 1;
    }
    if (json_object_is_type(v, json_type_int)) {
        *ns = json_object_get_int64(v);
        return 1;
    }
    return CN_EINVAL;
}
