/* api/decode_service.c: service definitions: the fields common to the
 * agent's ServiceDefinition and the catalog's NodeService (tagged addresses,
 * weights, meta), and the /v1/agent/service/register body with its checks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/decode_int.h"
#include "base/err.h"
#include "base/json.h"
#include "base/mem.h"

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
        return api__fail(err, cap, API_DECODE_FAILED "TaggedAddresses: cannot use %s as map",
                         api__type_name(v));
    size_t len = (size_t)json_object_object_length(v);
    if (!len)
        return 0;
    s->taddrs = cn_calloc(len, sizeof(*s->taddrs));
    if (!s->taddrs)
        return api__oom(err, cap);
    json_object_object_foreach(v, k, val)
    {
        if (!val || !json_object_is_type(val, json_type_object))
            return api__fail(err, cap,
                             API_DECODE_FAILED "TaggedAddresses[\"%s\"]: cannot use %s as object",
                             k, val ? api__type_name(val) : "null");
        struct state_taddr *t = &s->taddrs[s->ntaddrs];
        int64_t port = 0;
        int rc;
        t->name = cn_strdup(k);
        s->ntaddrs++;
        if (!t->name)
            return api__oom(err, cap);
        if ((rc = api__get_str(val, "Address", &t->address, false, err, cap)))
            return rc;
        if ((rc = api__get_int(val, "Port", 0, 65535, &port, err, cap)))
            return rc;
        t->port = (int)port;
        if (api__is_any_addr(t->address))
            return api__fail(err, cap, "Invalid tagged address: %s", k);
    }
    qsort(s->taddrs, s->ntaddrs, sizeof(*s->taddrs), taddr_cmp);
    return 0;
}

/* Weights {Passing, Warning}; default 1/1. structs.ValidateWeights. The
 * agent endpoint refuses invalid weights; the catalog's (`lenient`) takes
 * them and keeps the default, as NodeService.ToServiceNode does: the Go
 * client sends {"Passing":0,"Warning":0} on every catalog registration. */
static int get_weights(struct json_object *o, struct state_service *s, bool lenient, char *err,
                       size_t cap)
{
    s->weight_passing = 1;
    s->weight_warning = 1;
    struct json_object *v = cn_json_get(o, "Weights");
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_object))
        return api__fail(err, cap, API_DECODE_FAILED "Weights: cannot use %s as object",
                         api__type_name(v));
    int64_t p = 0, w = 0;
    int rc;
    if ((rc = api__get_int(v, "Passing", INT32_MIN, INT32_MAX, &p, err, cap)) ||
        (rc = api__get_int(v, "Warning", INT32_MIN, INT32_MAX, &w, err, cap)))
        return rc;
    if (lenient && (p < 1 || w < 0))
        return 0;
    if (p < 1)
        return api__fail(err, cap, "Invalid Weights: Passing must be greater than 0");
    if (w < 0)
        return api__fail(err, cap, "Invalid Weights: Warning must be greater or equal than 0");
    s->weight_passing = (int)p;
    s->weight_warning = (int)w;
    return 0;
}

/* Does a JSON value say something? null, false, 0, "", {} and [] do not, nor
 * an object of only such values ({"Native":false}). */
static bool meaningful(struct json_object *v)
{
    if (!v)
        return false;
    switch (json_object_get_type(v)) {
    case json_type_null:
        return false;
    case json_type_boolean:
        return json_object_get_boolean(v);
    case json_type_int:
        return json_object_get_int64(v) != 0;
    case json_type_double:
        return json_object_get_double(v) != 0;
    case json_type_string:
        return json_object_get_string_len(v) != 0;
    case json_type_array:
        return json_object_array_length(v) != 0;
    case json_type_object: {
        json_object_object_foreach(v, k, val)
        {
            (void)k;
            if (meaningful(val))
                return true;
        }
        return false;
    }
    }
    return true;
}

/* cairn has no service mesh: a proxy, a gateway, Connect-native services and
 * sidecars are refused rather than stored and ignored (docs/consul-compat.md). */
static int refuse_mesh(struct json_object *o, char *err, size_t cap)
{
    struct json_object *kind = cn_json_get(o, "Kind");
    if (kind && json_object_is_type(kind, json_type_string) && json_object_get_string_len(kind))
        return api__fail(err, cap,
                         "Invalid service: Kind \"%s\" is not supported: cairn has no service "
                         "mesh (only typical services)",
                         json_object_get_string(kind));
    static const char *const keys[] = {"Proxy", "Connect"};
    for (size_t i = 0; i < 2; i++)
        if (meaningful(cn_json_get(o, keys[i])))
            return api__fail(err, cap,
                             "Invalid service: %s is not supported: cairn has no service mesh",
                             keys[i]);
    return 0;
}

/* Fields common to the agent's ServiceDefinition and the catalog's
 * NodeService; the name is under `name_key` ("Name" / "Service"). */
int api__decode_service_common(struct json_object *o, const char *name_key, struct state_service *s,
                               char *err, size_t cap)
{
    int rc;
    int64_t port = 0;
    memset(s, 0, sizeof(*s));
    /* the catalog's NodeService names its service "Service" */
    bool catalog = !strcmp(name_key, "Service");
    if ((rc = refuse_mesh(o, err, cap)))
        return rc;
    if ((rc = api__get_str(o, "Kind", &s->kind, false, err, cap)) ||
        (rc = api__get_str(o, "ID", &s->id, false, err, cap)) ||
        (rc = api__get_str(o, name_key, &s->service, false, err, cap)) ||
        (rc = api__get_strv(o, "Tags", &s->tags, &s->ntags, err, cap)) ||
        (rc = api__get_str(o, "Address", &s->address, false, err, cap)) ||
        (rc = api__get_map(o, "Meta", &s->meta, err, cap)) ||
        (rc = api__get_int(o, "Port", 0, 65535, &port, err, cap)) ||
        (rc = api__get_bool(o, "EnableTagOverride", &s->enable_tag_override, err, cap)) ||
        (rc = get_taddrs(o, s, err, cap)) || (rc = get_weights(o, s, catalog, err, cap)))
        return rc;
    s->port = (int)port;
    s->node = cn_strdup("");
    if (!s->node)
        return api__oom(err, cap);
    if (api__is_any_addr(s->address))
        return api__fail(err, cap, "Invalid service address");
    return api__validate_meta(&s->meta, false, err, cap);
}

/* ---- service definition ------------------------------------------------------ */

/* Decode one service check (CheckType) into d->checks[d->nchecks]; `multi`
 * selects the "service:<id>:<n>" id form. Empty checks are dropped. */
static int add_service_check(struct local_svc_def *d, struct json_object *o, size_t ordinal,
                             bool multi, char *err, size_t cap)
{
    struct state_check *c = &d->checks[d->nchecks];
    struct api__chk_extra x;
    int rc = api__decode_agent_check(o, c, &x, err, cap);
    if (rc)
        goto fail;
    if (!x.meaningful) {
        state_check_clear(c);
        return 0;
    }
    d->nchecks++;
    if (*c->status && !state_check_status_valid(c->status))
        return api__fail(err, cap, "Status for checks must 'passing', 'warning', 'critical'");
    const char *why = api__validate_check_type(c, &x);
    if (why)
        return api__fail(err, cap, "Invalid check: %s", why);
    if (!*c->check_id) {
        char id[600];
        if (multi)
            snprintf(id, sizeof(id), "service:%.500s:%zu", d->svc.id, ordinal);
        else
            snprintf(id, sizeof(id), "service:%.500s", d->svc.id);
        if ((rc = api__set_str(&c->check_id, id, err, cap)))
            return rc;
    }
    if (!*c->name) {
        char name[600];
        snprintf(name, sizeof(name), "Service '%.500s' check", d->svc.service);
        if ((rc = api__set_str(&c->name, name, err, cap)))
            return rc;
    }
    if ((!*c->status && (rc = api__set_str(&c->status, "critical", err, cap))) ||
        (rc = api__set_str(&c->service_id, d->svc.id, err, cap)) ||
        (rc = api__set_str(&c->service_name, d->svc.service, err, cap)))
        return rc;
    return 0;
fail:
    state_check_clear(c);
    return rc;
}

/* The body's "Check" (*one) and "Checks" array (*many, *nmany entries), and a
 * when there are any, a zeroed array with room for all of them in *checks. */
int api__check_list(struct json_object *o, struct json_object **one, struct json_object **many,
                    size_t *nmany, struct state_check **checks, char *err, size_t errcap)
{
    *one = cn_json_get(o, "Check");
    *many = cn_json_get(o, "Checks");
    if (*many && !json_object_is_type(*many, json_type_array))
        return api__fail(err, errcap, API_DECODE_FAILED "Checks: cannot use %s as array",
                         api__type_name(*many));
    *nmany = *many ? json_object_array_length(*many) : 0;
    size_t total = (*one ? 1 : 0) + *nmany;
    if (total && !(*checks = cn_calloc(total, sizeof(**checks))))
        return api__oom(err, errcap);
    return 0;
}

int api_decode_service_def(const char *body, size_t len, struct local_svc_def *out, char *err,
                           size_t errcap)
{
    int rc;
    memset(out, 0, sizeof(*out));
    struct json_object *o = api__parse_object(body, len, err, errcap);
    if (!o)
        return CN_EINVAL;
    if ((rc = api__decode_service_common(o, "Name", &out->svc, err, errcap)))
        goto fail;
    if (!*out->svc.service) {
        rc = api__fail(err, errcap, "Missing service name");
        goto fail;
    }
    if (!*out->svc.id && (rc = api__set_str(&out->svc.id, out->svc.service, err, errcap)))
        goto fail;

    struct json_object *one, *many;
    size_t nmany;
    if ((rc = api__check_list(o, &one, &many, &nmany, &out->checks, err, errcap)))
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
            rc = api__fail(err, errcap, API_DECODE_FAILED "Checks[%zu]: cannot use null as object",
                           i);
            goto fail;
        }
        if ((rc = add_service_check(out, e, ++ord, multi, err, errcap)))
            goto fail;
    }
    /* Two checks with one id would silently overwrite each other. */
    for (size_t i = 0; i < out->nchecks; i++)
        for (size_t j = i + 1; j < out->nchecks; j++)
            if (!strcmp(out->checks[i].check_id, out->checks[j].check_id)) {
                rc = api__fail(err, errcap, "Invalid check: duplicate check ID \"%s\"",
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
