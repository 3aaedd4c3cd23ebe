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

/* ---- Connect ---------------------------------------------------------------------------- */

/* What cairn does not build of Consul's mesh is refused, never stored and
 * ignored (docs/consul-compat.md). */
static int refuse_keys(struct json_object *o, const char *where, const char *const *keys, char *err,
                       size_t cap)
{
    for (size_t i = 0; keys[i]; i++)
        if (meaningful(cn_json_get(o, keys[i])))
            return api__fail(err, cap, "Invalid service: %s%s is not supported by cairn", where,
                             keys[i]);
    return 0;
}

static bool default_or_empty(struct json_object *o, const char *key)
{
    const char *v = NULL;
    return cn_json_get_str(o, key, &v) != 1 || !*v || !strcmp(v, "default");
}

/* An opaque Config map (Proxy's, an upstream's) as JSON text into *out: ""
 * when absent or empty; a non-object refused as Go's decoder does. */
static int config_text(struct json_object *o, const char *what, char **out, char *err, size_t cap)
{
    struct json_object *cfg = cn_json_get(o, "Config");
    const char *txt = "";
    if (cfg && json_object_is_type(cfg, json_type_object)) {
        if (json_object_object_length(cfg))
            txt = json_object_to_json_string_ext(cfg, JSON_C_TO_STRING_PLAIN |
                                                          JSON_C_TO_STRING_NOSLASHESCAPE);
    } else if (cfg) {
        return api__fail(err, cap, API_DECODE_FAILED "%s: cannot use %s as map", what,
                         api__type_name(cfg));
    }
    if (!txt || !(*out = cn_strdup(txt)))
        return api__oom(err, cap);
    return 0;
}

static int get_upstream(struct json_object *o, size_t i, struct state_upstream *u, char *err,
                        size_t cap)
{
    static const char *const unsup[] = {"LocalBindSocketPath", "LocalBindSocketMode", "MeshGateway",
                                        "CentrallyConfigured", "DestinationPeer",     NULL};
    int rc;
    int64_t port = 0;
    if (!o || !json_object_is_type(o, json_type_object))
        return api__fail(err, cap,
                         API_DECODE_FAILED "Proxy.Upstreams[%zu]: cannot use %s as object", i,
                         o ? api__type_name(o) : "null");
    if ((rc = refuse_keys(o, "Proxy.Upstreams[].", unsup, err, cap)))
        return rc;
    if (!default_or_empty(o, "DestinationNamespace") ||
        !default_or_empty(o, "DestinationPartition"))
        return api__fail(err, cap,
                         "Invalid service: upstream namespaces and partitions are not supported "
                         "by cairn (only \"default\")");
    if ((rc = api__get_str(o, "DestinationType", &u->dest_type, false, err, cap)) ||
        (rc = api__get_str(o, "DestinationName", &u->dest_name, false, err, cap)) ||
        (rc = api__get_str(o, "Datacenter", &u->datacenter, false, err, cap)) ||
        (rc = api__get_str(o, "LocalBindAddress", &u->local_bind_address, false, err, cap)) ||
        (rc = api__get_int(o, "LocalBindPort", 0, 65535, &port, err, cap)))
        return rc;
    u->local_bind_port = (int)port;
    if ((rc = config_text(o, "Proxy.Upstreams[].Config", &u->config, err, cap)))
        return rc;
    if (*u->dest_type && strcmp(u->dest_type, "service") != 0)
        return api__fail(err, cap,
                         "Invalid service: upstream DestinationType \"%s\" is not supported by "
                         "cairn (only \"service\")",
                         u->dest_type);
    if (!*u->dest_name)
        return api__fail(err, cap, "Invalid service: upstream destination name cannot be empty");
    if (!strcmp(u->dest_name, "*"))
        return api__fail(err, cap,
                         "Invalid service: upstream destination name cannot be a wildcard");
    if (!u->local_bind_port)
        return api__fail(err, cap, "Invalid service: upstream local bind port cannot be zero");
    return 0;
}

/* structs.ConnectProxyConfig: the fields cairn's built-in proxy uses. */
static int get_proxy(struct json_object *o, struct state_proxy *p, char *err, size_t cap)
{
    static const char *const unsup[] = {
        "TransparentProxy",       "MeshGateway", "Expose", "AccessLogs", "EnvoyExtensions",
        "LocalServiceSocketPath", NULL};
    int rc;
    int64_t port = 0;
    if (!json_object_is_type(o, json_type_object))
        return api__fail(err, cap, API_DECODE_FAILED "Proxy: cannot use %s as object",
                         api__type_name(o));
    if ((rc = refuse_keys(o, "Proxy.", unsup, err, cap)))
        return rc;
    const char *mode = NULL;
    if (cn_json_get_str(o, "Mode", &mode) == 1 && *mode && strcmp(mode, "direct") != 0)
        return api__fail(err, cap,
                         "Invalid service: Proxy.Mode \"%s\" is not supported by cairn (only "
                         "\"direct\")",
                         mode);
    if ((rc = api__get_str(o, "DestinationServiceName", &p->dest_name, false, err, cap)) ||
        (rc = api__get_str(o, "DestinationServiceID", &p->dest_id, false, err, cap)) ||
        (rc = api__get_str(o, "LocalServiceAddress", &p->local_address, false, err, cap)) ||
        (rc = api__get_int(o, "LocalServicePort", 0, 65535, &port, err, cap)))
        return rc;
    p->local_port = (int)port;
    if ((rc = config_text(o, "Proxy.Config", &p->config, err, cap)))
        return rc;
    struct json_object *ups = cn_json_get(o, "Upstreams");
    if (!ups)
        return 0;
    /* An HCL file's single `upstreams { }` block arrives as one object. */
    bool one = json_object_is_type(ups, json_type_object);
    if (!one && !json_object_is_type(ups, json_type_array))
        return api__fail(err, cap, API_DECODE_FAILED "Proxy.Upstreams: cannot use %s as array",
                         api__type_name(ups));
    size_t n = one ? 1 : json_object_array_length(ups);
    if (!n)
        return 0;
    if (!(p->ups = cn_calloc(n, sizeof(*p->ups))))
        return api__oom(err, cap);
    for (size_t i = 0; i < n; i++) {
        p->nups = i + 1;
        if ((rc = get_upstream(one ? ups : json_object_array_get_idx(ups, i), i, &p->ups[i], err,
                               cap)))
            return rc;
        for (size_t k = 0; k < i; k++)
            if (!strcmp(p->ups[k].local_bind_address, p->ups[i].local_bind_address) &&
                p->ups[k].local_bind_port == p->ups[i].local_bind_port)
                return api__fail(err, cap, "Invalid service: upstreams %s and %s both bind port %d",
                                 p->ups[k].dest_name, p->ups[i].dest_name,
                                 p->ups[i].local_bind_port);
    }
    return 0;
}

/* Kind, Proxy and Connect.Native (structs.NodeService.Validate's rules for
 * them). `sidecar`: the nested SidecarService of an agent definition, whose
 * port the agent may still allocate. */
static int get_mesh(struct json_object *o, struct state_service *s, bool sidecar, char *err,
                    size_t cap)
{
    int rc;
    if ((rc = api__get_str(o, "Kind", &s->kind, false, err, cap)))
        return rc;
    bool proxy = !strcmp(s->kind, STATE_KIND_CONNECT_PROXY);
    if (*s->kind && !proxy)
        return api__fail(err, cap,
                         "Invalid service: Kind \"%s\" is not supported: cairn has no gateways "
                         "(only typical services and \"connect-proxy\")",
                         s->kind);
    struct json_object *p = cn_json_get(o, "Proxy");
    if (meaningful(p) && !proxy && !sidecar)
        return api__fail(err, cap,
                         "Invalid service: Proxy is only valid on a service of Kind "
                         "\"connect-proxy\"");
    if (p && json_object_get_type(p) != json_type_null && (rc = get_proxy(p, &s->proxy, err, cap)))
        return rc;
    struct json_object *c = cn_json_get(o, "Connect");
    if (c && json_object_get_type(c) != json_type_null) {
        static const char *const unsup[] = {"Proxy", "PeerMeta", NULL};
        if (!json_object_is_type(c, json_type_object))
            return api__fail(err, cap, API_DECODE_FAILED "Connect: cannot use %s as object",
                             api__type_name(c));
        if ((rc = refuse_keys(c, "Connect.", unsup, err, cap)) ||
            (rc = api__get_bool(c, "Native", &s->connect_native, err, cap)))
            return rc;
    }
    if ((proxy || sidecar) && s->connect_native)
        return api__fail(err, cap,
                         "Invalid service: A Proxy cannot also be Connect Native, only typical "
                         "services");
    if (proxy && !sidecar && (!s->proxy.dest_name || !*s->proxy.dest_name))
        return api__fail(err, cap,
                         "Invalid service: Proxy.DestinationServiceName must be non-empty for "
                         "Connect proxy services");
    return 0;
}

static int decode_common(struct json_object *o, const char *name_key, struct state_service *s,
                         bool sidecar, char *err, size_t cap)
{
    int rc;
    int64_t port = 0;
    memset(s, 0, sizeof(*s));
    /* the catalog's NodeService names its service "Service" */
    bool catalog = !strcmp(name_key, "Service");
    if ((rc = get_mesh(o, s, sidecar, err, cap)) ||
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
    if (!sidecar && !strcmp(s->kind, STATE_KIND_CONNECT_PROXY) && !s->port)
        return api__fail(err, cap, "Invalid service: Port must be set for a Connect proxy");
    if (catalog) {
        struct json_object *c = cn_json_get(o, "Connect");
        if (c && json_object_is_type(c, json_type_object) && cn_json_get(c, "SidecarService") &&
            json_object_get_type(cn_json_get(c, "SidecarService")) != json_type_null)
            return api__fail(err, cap,
                             "Invalid service: Connect.SidecarService is expanded only by an "
                             "agent (/v1/agent/service/register), not in the catalog");
    }
    s->node = cn_strdup("");
    if (!s->node)
        return api__oom(err, cap);
    if (api__is_any_addr(s->address))
        return api__fail(err, cap, "Invalid service address");
    return api__validate_meta(&s->meta, false, err, cap);
}

/* Fields common to the agent's ServiceDefinition and the catalog's
 * NodeService; the name is under `name_key` ("Name" / "Service"). */
int api__decode_service_common(struct json_object *o, const char *name_key, struct state_service *s,
                               char *err, size_t cap)
{
    return decode_common(o, name_key, s, false, err, cap);
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

/* A copy of src's entries into an empty dst. */
static int copy_strv(char ***dst, size_t *ndst, char *const *src, size_t n)
{
    if (!n)
        return 0;
    if (!(*dst = cn_calloc(n, sizeof(char *))))
        return CN_ENOMEM;
    for (size_t i = 0; i < n; i++, ++*ndst)
        if (!((*dst)[i] = cn_strdup(src[i])))
            return CN_ENOMEM;
    return 0;
}

static int copy_map(struct state_map *dst, const struct state_map *src)
{
    if (!src->n)
        return 0;
    if (!(dst->items = cn_calloc(src->n, sizeof(*dst->items))))
        return CN_ENOMEM;
    for (size_t i = 0; i < src->n; i++, dst->n++)
        if (!(dst->items[i].k = cn_strdup(src->items[i].k)) ||
            !(dst->items[i].v = cn_strdup(src->items[i].v)))
            return CN_ENOMEM;
    return 0;
}

/* Consul's sidecarServiceFromNodeService: the defaults a SidecarService
 * takes from its parent (the port and the default checks are the agent's:
 * local/sidecar.c). */
static int sidecar_defaults(struct state_service *sc, const struct state_service *parent, char *err,
                            size_t cap)
{
    char buf[600];
    int rc;
    snprintf(buf, sizeof(buf), "%.500s" LOCAL_SIDECAR_SUFFIX, parent->id);
    if ((rc = api__set_str(&sc->id, buf, err, cap)))
        return rc;
    if (!*sc->service) {
        snprintf(buf, sizeof(buf), "%.500s" LOCAL_SIDECAR_SUFFIX, parent->service);
        if ((rc = api__set_str(&sc->service, buf, err, cap)))
            return rc;
    }
    if (!*sc->kind && (rc = api__set_str(&sc->kind, STATE_KIND_CONNECT_PROXY, err, cap)))
        return rc;
    if (!sc->meta.n && copy_map(&sc->meta, &parent->meta))
        return api__oom(err, cap);
    if (!sc->ntags && copy_strv(&sc->tags, &sc->ntags, parent->tags, parent->ntags))
        return api__oom(err, cap);
    if (!*sc->address && (rc = api__set_str(&sc->address, parent->address, err, cap)))
        return rc;
    struct state_proxy *p = &sc->proxy;
    if ((!p->dest_name || !*p->dest_name) &&
        (rc = api__set_str(&p->dest_name, parent->service, err, cap)))
        return rc;
    if ((!p->dest_id || !*p->dest_id) && (rc = api__set_str(&p->dest_id, parent->id, err, cap)))
        return rc;
    if (!p->local_address || !*p->local_address || p->local_port < 1) {
        if ((!p->local_address || !*p->local_address) &&
            (rc = api__set_str(&p->local_address, "127.0.0.1", err, cap)))
            return rc;
        if (p->local_port < 1)
            p->local_port = parent->port;
    }
    if (!p->config && (rc = api__set_str(&p->config, "", err, cap)))
        return rc;
    return 0;
}

static int decode_def(struct json_object *o, struct local_svc_def *out,
                      const struct state_service *parent, char *err, size_t errcap);

/* Connect.SidecarService of an agent definition: a definition of its own,
 * completed from the parent's (out->svc). */
static int decode_sidecar(struct json_object *o, struct local_svc_def *out, char *err,
                          size_t errcap)
{
    struct json_object *c = cn_json_get(o, "Connect");
    struct json_object *sc =
        c && json_object_is_type(c, json_type_object) ? cn_json_get(c, "SidecarService") : NULL;
    if (!sc || json_object_get_type(sc) == json_type_null)
        return 0;
    if (!json_object_is_type(sc, json_type_object))
        return api__fail(err, errcap,
                         API_DECODE_FAILED "Connect.SidecarService: cannot use %s as object",
                         api__type_name(sc));
    if (!strcmp(out->svc.kind, STATE_KIND_CONNECT_PROXY))
        return api__fail(err, errcap,
                         "Invalid service: A SidecarService cannot be added to a Connect proxy");
    if (out->svc.connect_native)
        return api__fail(err, errcap,
                         "Invalid service: A SidecarService cannot be added to a Connect native "
                         "service");
    const char *id = NULL;
    if (cn_json_get_str(sc, "ID", &id) == 1 && *id)
        return api__fail(err, errcap, "Invalid service: SidecarService cannot specify an ID");
    struct json_object *nested = cn_json_get(sc, "Connect");
    if (nested && json_object_is_type(nested, json_type_object) &&
        cn_json_get(nested, "SidecarService") &&
        json_object_get_type(cn_json_get(nested, "SidecarService")) != json_type_null)
        return api__fail(err, errcap,
                         "Invalid service: A SidecarService cannot have a nested SidecarService");
    if (!(out->sidecar = cn_calloc(1, sizeof(*out->sidecar))))
        return api__oom(err, errcap);
    int rc = decode_def(sc, out->sidecar, &out->svc, err, errcap);
    if (rc)
        return rc;
    if (strcmp(out->sidecar->svc.kind, STATE_KIND_CONNECT_PROXY) != 0)
        return api__fail(err, errcap,
                         "Invalid service: a SidecarService must be of Kind \"connect-proxy\"");
    out->sidecar->is_sidecar = true;
    return 0;
}

/* One agent ServiceDefinition (parent: the service of which o is the
 * SidecarService, else NULL). */
static int decode_def(struct json_object *o, struct local_svc_def *out,
                      const struct state_service *parent, char *err, size_t errcap)
{
    int rc;
    memset(out, 0, sizeof(*out));
    if ((rc = decode_common(o, "Name", &out->svc, parent != NULL, err, errcap)))
        return rc;
    if (parent && (rc = sidecar_defaults(&out->svc, parent, err, errcap)))
        return rc;
    if (!*out->svc.service)
        return api__fail(err, errcap, "Missing service name");
    if (!*out->svc.id && (rc = api__set_str(&out->svc.id, out->svc.service, err, errcap)))
        return rc;
    if (!parent && (rc = decode_sidecar(o, out, err, errcap)))
        return rc;

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
    return 0;
fail:
    return rc;
}

int api_decode_service_def(const char *body, size_t len, struct local_svc_def *out, char *err,
                           size_t errcap)
{
    memset(out, 0, sizeof(*out));
    struct json_object *o = api__parse_object(body, len, err, errcap);
    if (!o)
        return CN_EINVAL;
    int rc = decode_def(o, out, NULL, err, errcap);
    if (rc)
        local_svc_def_free(out);
    json_object_put(o);
    return rc;
}
