/* api/config_resolve.c: central service configuration, as Consul's agent
 * does with enable_central_service_config (its default, true): a
 * connect-proxy registration's effective Proxy.Config is the proxy-defaults
 * entry's Config, then what the destination's service-defaults entry sets
 * (Protocol as "protocol", BalanceInboundConnections as
 * "balance_inbound_connections"; agent/configentry/resolve.go), then the
 * registration's own keys, which win (MergeServiceConfig). The agent
 * endpoints show it (/v1/agent/services, /v1/agent/service/:id).
 *
 * The merge is computed when the agent answers, from the entries in the
 * state, so it is always current; the agent's hash-blocking queries on
 * /v1/agent/service/:id (which watch this node's catalog rows) are woken
 * when an entry changes: a watch on the config entries' table fires, and
 * from the next loop turn the node's rows' watchers are touched. */
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

int api__config_resolve_proxy(const struct state *st, const struct state_service *s, char **out)
{
    *out = NULL;
    if (!s->kind || strcmp(s->kind, STATE_KIND_CONNECT_PROXY) != 0)
        return 0;
    struct json_object *def = NULL;
    CN_TRY(api__config_resolve_defaults(st, s->proxy.dest_name, &def));
    if (!def)
        return 0;
    const char *own = s->proxy.config;
    struct json_object *m = own && *own ? cn_json_parse(own, strlen(own), NULL, 0) : NULL;
    if (own && *own && (!m || !json_object_is_type(m, json_type_object))) {
        /* the stored Config is always an object; anything else stands as it is */
        json_object_put(m);
        json_object_put(def);
        return 0;
    }
    if (!m && !(m = json_object_new_object())) {
        json_object_put(def);
        return CN_ENOMEM;
    }
    int rc = 0;
    json_object_object_foreach(def, k, v)
    {
        if ((rc = add_default(m, k, v)))
            break;
    }
    const char *text = rc ? NULL : json_object_to_json_string_ext(m, JSON_C_TO_STRING_PLAIN);
    if (!rc && !(text && (*out = cn_strdup(text))))
        rc = CN_ENOMEM;
    json_object_put(m);
    json_object_put(def);
    return rc;
}

/* ---- waking the agent's hash-blocking queries ------------------------------------------- */

struct api_cfgwake {
    struct api *api;
    struct srv_watch w;
    uv_timer_t t;
};

static void arm(struct api_cfgwake *k);

static void on_timer(uv_timer_t *t)
{
    struct api_cfgwake *k = t->data;
    arm(k);
    if (k->api->local)
        srv_watch_touch(k->api->srv, STATE_T_NODES, local_node(k->api->local));
}

static void on_change(struct srv_watch *w, uint64_t index)
{
    (void)index;
    struct api_cfgwake *k = w->data;
    uv_timer_start(&k->t, on_timer, 0, 0); /* no touch from inside a watch callback */
}

static void arm(struct api_cfgwake *k)
{
    if (srv_watch_arm(k->api->srv, &k->w, STATE_T_CONFIG, NULL, false, on_change, k))
        uv_timer_start(&k->t, on_timer, 1000, 0); /* out of memory: try again */
}

int api__cfgwake_new(struct api *a)
{
    if (!a->srv || !a->loop)
        return 0;
    struct api_cfgwake *k = cn_calloc(1, sizeof(*k));
    if (!k)
        return CN_ENOMEM;
    k->api = a;
    uv_timer_init(a->loop, &k->t);
    k->t.data = k;
    uv_unref((uv_handle_t *)&k->t);
    a->cfgwake = k;
    arm(k);
    return 0;
}

static void on_closed(uv_handle_t *h)
{
    cn_free(h->data);
}

void api__cfgwake_stop(struct api *a)
{
    struct api_cfgwake *k = a->cfgwake;
    if (!k)
        return;
    a->cfgwake = NULL;
    srv_watch_disarm(a->srv, &k->w);
    uv_close((uv_handle_t *)&k->t, on_closed);
}
