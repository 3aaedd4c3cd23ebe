/* api/config_resolve.c: central service configuration, as Consul's agent
 * does with enable_central_service_config (its default, true), in two steps
 * (agent/configentry/resolve.go, then MergeServiceConfig):
 *
 *  1. resolve, for one service name, what the entries give (a server's
 *     ConfigEntry.ResolveServiceConfig): as a proxy's destination, the
 *     proxy-defaults entry's Config, then what the service's service-defaults
 *     entry sets (Protocol as "protocol", BalanceInboundConnections as
 *     "balance_inbound_connections", LocalConnectTimeoutMs as
 *     "local_connect_timeout_ms"); as an upstream, "protocol" from its own
 *     service-defaults, else the proxy-defaults Config's;
 *  2. merge into a registration: the defaults go under its own keys, which
 *     win (exact keys, as Go's maps).
 *
 * Pure: functions of the state and the registration. svc_config.c is the
 * agent's side (what it writes to the catalog, the client's cache). */
#include <string.h>

#include <json-c/json.h>
#include <uv.h>

#include "api/api_int.h"
#include "base/err.h"
#include "base/json.h"
#include "base/mem.h"
#include "local/local.h"
#include "server/server.h"

/* ---- the merge (pure) ------------------------------------------------------------------- */

static struct json_object *entry_object(const struct state *st, const char *kind, const char *name)
{
    const struct state_config_entry *e = state_config_entry_get(st, kind, name);
    return e ? cn_json_parse((const char *)e->data, e->len, NULL, 0) : NULL;
}

/* dst[k] = a copy of v unless dst has k. */
static int add_default(struct json_object *dst, const char *k, struct json_object *v)
{
    if (json_object_object_get_ex(dst, k, NULL)) /* exact keys, as Go's map */
        return 0;
    struct json_object *c = NULL;
    if (v && json_object_deep_copy(v, &c, NULL))
        return CN_ENOMEM;
    if (json_object_object_add(dst, k, c)) {
        json_object_put(c);
        return CN_ENOMEM;
    }
    return 0;
}

int api__config_resolve_defaults(const struct state *st, const char *service,
                                 struct json_object **out)
{
    *out = NULL;
    struct json_object *pd = entry_object(st, API_CONFIG_PROXY_DEFAULTS, "global");
    struct json_object *sd =
        service ? entry_object(st, API_CONFIG_SERVICE_DEFAULTS, service) : NULL;
    if (!pd && !sd)
        return 0;
    struct json_object *r = json_object_new_object();
    int rc = r ? 0 : CN_ENOMEM;
    struct json_object *pc = pd ? cn_json_get(pd, "Config") : NULL;
    if (!rc && pc && json_object_is_type(pc, json_type_object)) {
        json_object_object_foreach(pc, k, v)
        {
            struct json_object *c = NULL;
            if ((v && json_object_deep_copy(v, &c, NULL)) || json_object_object_add(r, k, c)) {
                json_object_put(c);
                rc = CN_ENOMEM;
                break;
            }
        }
    }
    /* service-defaults over proxy-defaults (computeResolvedServiceConfig) */
    static const char *const from_sd[][2] = {
        {"Protocol", "protocol"}, {"BalanceInboundConnections", "balance_inbound_connections"}};
    for (size_t i = 0; !rc && sd && i < sizeof(from_sd) / sizeof(from_sd[0]); i++) {
        const char *v = NULL;
        if (cn_json_get_str(sd, from_sd[i][0], &v) == 1 && v && *v) {
            struct json_object *s = json_object_new_string(v);
            if (!s || json_object_object_add(r, from_sd[i][1], s)) {
                json_object_put(s);
                rc = CN_ENOMEM;
            }
        }
    }
    int64_t lct = 0; /* LocalConnectTimeoutMs > 0 (computeResolvedServiceConfig) */
    if (!rc && sd && cn_json_get_i64(sd, "LocalConnectTimeoutMs", &lct) == 1 && lct > 0) {
        struct json_object *n = json_object_new_int64(lct);
        if (!n || json_object_object_add(r, "local_connect_timeout_ms", n)) {
            json_object_put(n);
            rc = CN_ENOMEM;
        }
    }
    json_object_put(pd);
    json_object_put(sd);
    if (rc || !json_object_object_length(r)) {
        json_object_put(r);
        return rc;
    }
    *out = r;
    return 0;
}

int api__config_resolve_upstream(const struct state *st, const char *service,
                                 struct json_object **out)
{
    *out = NULL;
    struct json_object *pd = entry_object(st, API_CONFIG_PROXY_DEFAULTS, "global");
    struct json_object *sd =
        service ? entry_object(st, API_CONFIG_SERVICE_DEFAULTS, service) : NULL;
    const char *proto = NULL;
    if (cn_json_get_str(sd, "Protocol", &proto) != 1 || !proto || !*proto) {
        struct json_object *pc = pd ? cn_json_get(pd, "Config") : NULL;
        struct json_object *p =
            pc && json_object_is_type(pc, json_type_object) ? cn_json_get(pc, "protocol") : NULL;
        proto = p && json_object_is_type(p, json_type_string) ? json_object_get_string(p) : NULL;
    }
    int rc = 0;
    if (proto && *proto) {
        struct json_object *r = json_object_new_object();
        struct json_object *v = r ? json_object_new_string(proto) : NULL;
        if (!v || json_object_object_add(r, "protocol", v)) {
            json_object_put(v);
            json_object_put(r);
            rc = CN_ENOMEM;
        } else {
            *out = r;
        }
    }
    json_object_put(pd);
    json_object_put(sd);
    return rc;
}

int api__config_merge(const char *own, const struct json_object *def, char **out)
{
    *out = NULL;
    if (!def || !json_object_is_type(def, json_type_object) || !json_object_object_length(def))
        return 0;
    struct json_object *m = own && *own ? cn_json_parse(own, strlen(own), NULL, 0) : NULL;
    if (own && *own && (!m || !json_object_is_type(m, json_type_object))) {
        /* the stored Config is always an object; anything else stands as it is */
        json_object_put(m);
        return 0;
    }
    if (!m && !(m = json_object_new_object()))
        return CN_ENOMEM;
    int rc = 0;
    json_object_object_foreach((struct json_object *)def, k, v)
    {
        if ((rc = add_default(m, k, v)))
            break;
    }
    const char *text = rc ? NULL
                          : json_object_to_json_string_ext(m, JSON_C_TO_STRING_PLAIN |
                                                                  JSON_C_TO_STRING_NOSLASHESCAPE);
    if (!rc && !(text && (*out = cn_strdup(text))))
        rc = CN_ENOMEM;
    json_object_put(m);
    return rc;
}

int api__config_resolve_proxy(const struct state *st, const struct state_service *s,
                              struct local_merged *out)
{
    if (!s->kind || strcmp(s->kind, STATE_KIND_CONNECT_PROXY) != 0)
        return 0;
    struct json_object *def = NULL;
    CN_TRY(api__config_resolve_defaults(st, s->proxy.dest_name, &def));
    int rc = api__config_merge(s->proxy.config, def, &out->config);
    json_object_put(def);
    if (rc || !s->proxy.nups)
        return rc;
    if (!(out->ups = cn_calloc(s->proxy.nups, sizeof(*out->ups))))
        return CN_ENOMEM;
    out->nups = s->proxy.nups;
    for (size_t i = 0; i < s->proxy.nups && !rc; i++) {
        const struct state_upstream *u = &s->proxy.ups[i];
        struct json_object *ud = NULL;
        rc = api__config_resolve_upstream(st, u->dest_name, &ud);
        if (!rc)
            rc = api__config_merge(u->config, ud, &out->ups[i]);
        json_object_put(ud);
    }
    return rc;
}

static void raw_obj(struct cn_jsonw *w, const char *k, struct json_object *o)
{
    const char *t = o ? json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                              JSON_C_TO_STRING_NOSLASHESCAPE)
                      : "{}";
    cn_jsonw_key(w, k);
    if (!t)
        w->err = CN_ENOMEM;
    else
        cn_jsonw_raw(w, t, strlen(t));
}

int api__config_resolve_json(const struct state *st, const char *service, struct cn_jsonw *w)
{
    struct json_object *p = NULL, *u = NULL;
    int rc = api__config_resolve_defaults(st, service, &p);
    if (!rc)
        rc = api__config_resolve_upstream(st, service, &u);
    if (!rc) {
        cn_jsonw_obj_open(w);
        raw_obj(w, "ProxyConfig", p);
        raw_obj(w, "UpstreamConfig", u);
        cn_jsonw_obj_close(w);
        rc = w->err;
    }
    json_object_put(p);
    json_object_put(u);
    return rc;
}
