/* api/config_defaults.c: the proxy-defaults and service-defaults config
 * entries' bodies (website/content/docs/connect/config-entries/
 * proxy-defaults.mdx, service-defaults.mdx; agent/structs/config_entry.go
 * ProxyConfigEntry and ServiceConfigEntry, their Normalize and Validate).
 * Pure: decode and validate a body into the entry's canonical JSON (the
 * bytes state/config.c keeps), and write a stored entry with its indexes.
 *
 * Keys match as Consul's decoder does (any case, with or without '_':
 * "LocalConnectTimeoutMs", "local_connect_timeout_ms"); the keys of Config
 * and Meta are kept as written. Accepted and stored: what cairn honours or
 * what Consul itself only hands to the proxy as data (Config, Protocol,
 * BalanceInboundConnections, LocalConnectTimeoutMs, Meta, the default
 * modes). Refused with 400
 * naming the field: what would change traffic and cairn cannot do (a
 * transparent proxy, mesh gateways, exposed paths, per-upstream overrides,
 * external destinations, connection limits and timeouts its built-in proxy
 * does not apply, Envoy extensions, rate limits, another namespace or
 * partition). docs/consul-compat.md lists the choice field by field. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_int.h"
#include "api/decode_int.h"
#include "base/assert.h"
#include "base/err.h"
#include "base/json.h"
#include "base/mem.h"

#define META_MAX_PAIRS 64 /* structs.metaMaxKeyPairs */
#define META_KEY_MAX 128  /* metaKeyMaxLength */
#define META_VALUE_MAX 512

static bool key_in(const char *k, const char *const *keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (cn_json_key_eq(k, keys[i]))
            return true;
    return false;
}

static bool empty_value(struct json_object *v)
{
    return !v || json_object_is_type(v, json_type_null) ||
           (json_object_is_type(v, json_type_string) && !json_object_get_string_len(v)) ||
           (json_object_is_type(v, json_type_array) && !json_object_array_length(v)) ||
           (json_object_is_type(v, json_type_object) && !json_object_object_length(v)) ||
           (json_object_is_type(v, json_type_int) && json_object_get_int64(v) == 0) ||
           (json_object_is_type(v, json_type_boolean) && !json_object_get_boolean(v));
}

static int refuse(char *err, size_t cap, const char *field, const char *why)
{
    return api__fail(err, cap, "%s is not supported: %s", field, why);
}

/* Namespace and Partition: absent, "" or "default". */
static int only_default(struct json_object *o, const char *key, char *err, size_t cap)
{
    struct json_object *v = cn_json_get(o, key);
    if (!v || json_object_is_type(v, json_type_null))
        return 0;
    if (!json_object_is_type(v, json_type_string))
        return api__fail(err, cap, "%s: cannot use %s as string", key, api__type_name(v));
    const char *s = json_object_get_string(v);
    if (*s && strcmp(s, "default") != 0)
        return api__fail(err, cap, "%s \"%s\" is not supported: cairn has only default", key, s);
    return 0;
}

/* Mode: "" (Consul's default) or "direct" (what cairn's proxies do). */
static int mode(struct json_object *o, char **out, char *err, size_t cap)
{
    CN_TRY(api__get_str(o, "Mode", out, false, err, cap));
    if (!**out || !strcmp(*out, "direct"))
        return 0;
    if (!strcmp(*out, "transparent"))
        return refuse(err, cap, "Mode \"transparent\"",
                      "cairn has no transparent proxy (use \"direct\" or leave it empty)");
    return api__fail(err, cap, "Mode: invalid proxy mode \"%s\"", *out);
}

/* TransparentProxy, MeshGateway, Expose: only their defaults. */
static int mesh_fields(struct json_object *o, char **mgw, char *err, size_t cap)
{
    struct json_object *v = cn_json_get(o, "TransparentProxy");
    if (v && !json_object_is_type(v, json_type_null) && !json_object_is_type(v, json_type_object))
        return api__fail(err, cap, "TransparentProxy: cannot use %s as object", api__type_name(v));
    if (v && json_object_is_type(v, json_type_object)) {
        json_object_object_foreach(v, tk, tv)
        {
            if (!cn_json_key_eq(tk, "OutboundListenerPort") &&
                !cn_json_key_eq(tk, "DialedDirectly"))
                return api__fail(err, cap, "TransparentProxy: invalid config key \"%s\"", tk);
            if (!empty_value(tv))
                return refuse(err, cap, "TransparentProxy", "cairn has no transparent proxy");
        }
    }
    v = cn_json_get(o, "MeshGateway");
    if (v && !json_object_is_type(v, json_type_null) && !json_object_is_type(v, json_type_object))
        return api__fail(err, cap, "MeshGateway: cannot use %s as object", api__type_name(v));
    if (v && json_object_is_type(v, json_type_object)) {
        json_object_object_foreach(v, mk, mv)
        {
            (void)mv;
            if (!cn_json_key_eq(mk, "Mode"))
                return api__fail(err, cap, "MeshGateway: invalid config key \"%s\"", mk);
        }
        CN_TRY(api__get_str(v, "Mode", mgw, false, err, cap));
        /* any mode names gateways ("none" too: the registrations' decoder
         * refuses every MeshGateway, so a merged one could not be shown) */
        if (**mgw) {
            if (strcmp(*mgw, "none") != 0 && strcmp(*mgw, "local") != 0 &&
                strcmp(*mgw, "remote") != 0)
                return api__fail(err, cap, "MeshGateway.Mode: invalid mesh gateway mode \"%s\"",
                                 *mgw);
            return api__fail(err, cap,
                             "MeshGateway.Mode \"%s\" is not supported: cairn has no mesh "
                             "gateways (leave it empty)",
                             *mgw);
        }
    } else if (!(*mgw = cn_strdup(""))) {
        return api__oom(err, cap);
    }
    v = cn_json_get(o, "Expose");
    if (v && !json_object_is_type(v, json_type_null) && !json_object_is_type(v, json_type_object))
        return api__fail(err, cap, "Expose: cannot use %s as object", api__type_name(v));
    if (v && json_object_is_type(v, json_type_object)) {
        json_object_object_foreach(v, ek, ev)
        {
            if (!cn_json_key_eq(ek, "Checks") && !cn_json_key_eq(ek, "Paths"))
                return api__fail(err, cap, "Expose: invalid config key \"%s\"", ek);
            if (!empty_value(ev))
                return refuse(err, cap,
                              cn_json_key_eq(ek, "Checks") ? "Expose.Checks" : "Expose.Paths",
                              "cairn's built-in proxy exposes no HTTP paths");
        }
    }
    return 0;
}

/* Meta: strings, within Consul's limits (validateConfigEntryMeta); a copy
 * into *out (NULL when absent). */
static int meta(struct json_object *o, struct json_object **out, char *err, size_t cap)
{
    *out = NULL;
    struct json_object *v = cn_json_get(o, "Meta");
    if (!v || json_object_is_type(v, json_type_null))
        return 0;
    if (!json_object_is_type(v, json_type_object))
        return api__fail(err, cap, "Meta: cannot use %s as map", api__type_name(v));
    if (json_object_object_length(v) > META_MAX_PAIRS)
        return api__fail(err, cap, "Meta exceeds maximum element count %d", META_MAX_PAIRS);
    json_object_object_foreach(v, k, mv)
    {
        if (!json_object_is_type(mv, json_type_string))
            return api__fail(err, cap, "Meta[%s]: cannot use %s as string", k, api__type_name(mv));
        if (strlen(k) > META_KEY_MAX)
            return api__fail(err, cap, "Meta key \"%s\" exceeds maximum length %d", k,
                             META_KEY_MAX);
        if ((size_t)json_object_get_string_len(mv) > META_VALUE_MAX)
            return api__fail(err, cap, "Meta value for key \"%s\" exceeds maximum length %d", k,
                             META_VALUE_MAX);
    }
    if (json_object_object_length(v) && json_object_deep_copy(v, out, NULL))
        return api__oom(err, cap);
    return 0;
}

static const char *const common_keys[] = {
    "Kind",        "Name",   "Namespace", "Partition",   "Mode",        "TransparentProxy",
    "MeshGateway", "Expose", "Meta",      "CreateIndex", "ModifyIndex", "Hash"};
static const char *const proxy_keys[] = {
    "Config",         "AccessLogs",           "EnvoyExtensions",
    "FailoverPolicy", "PrioritizeByLocality", "MutualTLSMode"};
static const char *const service_keys[] = {"Protocol",
                                           "ExternalSNI",
                                           "UpstreamConfig",
                                           "Destination",
                                           "MaxInboundConnections",
                                           "LocalConnectTimeoutMs",
                                           "LocalRequestTimeoutMs",
                                           "BalanceInboundConnections",
                                           "EnvoyExtensions",
                                           "RateLimits",
                                           "MutualTLSMode"};

/* Fields cairn refuses when set, and why. */
struct refused {
    const char *key, *why;
};
static const struct refused proxy_refused[] = {
    {"AccessLogs", "cairn's built-in proxy writes no access logs"},
    {"EnvoyExtensions", "cairn has no Envoy"},
    {"FailoverPolicy", "cairn has no cluster peering or sameness groups"},
    {"PrioritizeByLocality", "cairn has no locality-aware routing"},
    {"MutualTLSMode", "cairn's proxies always require mutual TLS"},
};
static const struct refused service_refused[] = {
    {"ExternalSNI", "cairn has no terminating gateways"},
    {"UpstreamConfig", "cairn's built-in proxy applies no per-upstream configuration"},
    {"Destination", "cairn has no transparent proxy to reach external destinations"},
    {"MaxInboundConnections", "cairn's built-in proxy limits no inbound connections"},
    {"LocalRequestTimeoutMs", "cairn's built-in proxy is an L4 proxy (no requests)"},
    {"EnvoyExtensions", "cairn has no Envoy"},
    {"RateLimits", "cairn's built-in proxy limits no request rates"},
    {"MutualTLSMode", "cairn's proxies always require mutual TLS"},
};

static int add_str(struct json_object *o, const char *k, const char *v)
{
    struct json_object *s = json_object_new_string(v);
    return !s || json_object_object_add(o, k, s) ? CN_ENOMEM : 0;
}

static int add_obj(struct json_object *o, const char *k, struct json_object *v)
{
    if (!v || json_object_object_add(o, k, v)) {
        json_object_put(v);
        return CN_ENOMEM;
    }
    return 0;
}

/* The canonical JSON of a decoded entry into canon. */
static int build(bool proxy, const char *name, const char *protocol, const char *mode_s,
                 const char *mgw, const char *balance, int64_t local_connect_ms,
                 struct json_object *config, struct json_object *meta_o, struct cn_buf *canon)
{
    struct json_object *c = json_object_new_object();
    int rc = c ? 0 : CN_ENOMEM;
    rc = rc ? rc
            : add_str(c, "Kind", proxy ? API_CONFIG_PROXY_DEFAULTS : API_CONFIG_SERVICE_DEFAULTS);
    rc = rc ? rc : add_str(c, "Name", name);
    if (!rc && proxy) {
        struct json_object *cfg = NULL;
        if (config && json_object_deep_copy(config, &cfg, NULL))
            rc = CN_ENOMEM;
        else if (json_object_object_add(c, "Config", cfg)) /* NULL: null, as Consul's nil map */
            rc = CN_ENOMEM;
    }
    if (!rc && !proxy)
        rc = add_str(c, "Protocol", protocol);
    if (!rc && *mode_s)
        rc = add_str(c, "Mode", mode_s);
    rc = rc ? rc : add_obj(c, "TransparentProxy", json_object_new_object());
    if (!rc) {
        struct json_object *g = json_object_new_object();
        rc = g && *mgw ? add_str(g, "Mode", mgw) : g ? 0 : CN_ENOMEM;
        if (rc)
            json_object_put(g);
        rc = rc ? rc : add_obj(c, "MeshGateway", g);
    }
    rc = rc ? rc : add_obj(c, "Expose", json_object_new_object());
    if (!rc && !proxy && local_connect_ms > 0)
        rc = add_obj(c, "LocalConnectTimeoutMs", json_object_new_int64(local_connect_ms));
    if (!rc && !proxy && *balance)
        rc = add_str(c, "BalanceInboundConnections", balance);
    if (!rc && meta_o) {
        struct json_object *m = NULL;
        rc = json_object_deep_copy(meta_o, &m, NULL) ? CN_ENOMEM : add_obj(c, "Meta", m);
    }
    const char *text = rc ? NULL : json_object_to_json_string_ext(c, JSON_C_TO_STRING_PLAIN);
    if (!rc && (!text || cn_buf_puts(canon, text)))
        rc = CN_ENOMEM;
    json_object_put(c);
    return rc;
}

int api__config_defaults_decode(struct json_object *o, const char *kind, char **name_out,
                                struct cn_buf *canon, char *err, size_t cap)
{
    bool proxy = !strcmp(kind, API_CONFIG_PROXY_DEFAULTS);
    CN_ASSERT(proxy || !strcmp(kind, API_CONFIG_SERVICE_DEFAULTS));
    *name_out = NULL;
    const char *const *own = proxy ? proxy_keys : service_keys;
    size_t nown = proxy ? sizeof(proxy_keys) / sizeof(*proxy_keys)
                        : sizeof(service_keys) / sizeof(*service_keys);
    json_object_object_foreach(o, k, v)
    {
        (void)v;
        if (!key_in(k, common_keys, sizeof(common_keys) / sizeof(*common_keys)) &&
            !key_in(k, own, nown))
            return api__fail(err, cap, "Request decoding failed: invalid config key \"%s\"", k);
    }
    const struct refused *rf = proxy ? proxy_refused : service_refused;
    size_t nrf = proxy ? sizeof(proxy_refused) / sizeof(*proxy_refused)
                       : sizeof(service_refused) / sizeof(*service_refused);
    for (size_t i = 0; i < nrf; i++)
        if (!empty_value(cn_json_get(o, rf[i].key)))
            return refuse(err, cap, rf[i].key, rf[i].why);
    CN_TRY(only_default(o, "Namespace", err, cap));
    CN_TRY(only_default(o, "Partition", err, cap));
    char *name = NULL, *mode_s = NULL, *mgw = NULL, *protocol = NULL, *balance = NULL;
    struct json_object *meta_o = NULL, *config = NULL;
    int64_t local_connect_ms = 0;
    int rc = api__get_str(o, "Name", &name, false, err, cap);
    if (!rc && proxy) {
        /* Normalize: an empty name is "global"; Validate: nothing else */
        if (!*name) {
            cn_free(name);
            name = cn_strdup("global");
            rc = name ? 0 : api__oom(err, cap);
        } else if (strcmp(name, "global") != 0) {
            rc = api__fail(err, cap, "invalid name (\"%s\"), only \"global\" is supported", name);
        }
    } else if (!rc) {
        if (!*name)
            rc = api__fail(err, cap, "Name is required");
        else if (!strcmp(name, "*"))
            rc = api__fail(err, cap,
                           "service-defaults name must be the name of a service, and not a "
                           "wildcard");
    }
    if (!rc && strchr(name, '/'))
        rc = api__fail(err, cap, "Name: \"/\" is not allowed in a config entry name");
    rc = rc ? rc : mode(o, &mode_s, err, cap);
    rc = rc ? rc : mesh_fields(o, &mgw, err, cap);
    rc = rc ? rc : meta(o, &meta_o, err, cap);
    if (!rc && proxy) {
        config = cn_json_get(o, "Config");
        if (config && json_object_is_type(config, json_type_null))
            config = NULL;
        if (config && !json_object_is_type(config, json_type_object))
            rc = api__fail(err, cap, "Config: cannot use %s as map", api__type_name(config));
    }
    if (!rc && !proxy) {
        rc = api__get_str(o, "Protocol", &protocol, false, err, cap);
        for (char *p = protocol; !rc && *p; p++) /* Normalize lower-cases it */
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
        rc = rc ? rc : api__get_str(o, "BalanceInboundConnections", &balance, false, err, cap);
        /* isValidConnectionBalance; one loop takes every connection, so
         * "exact_balance" is what the built-in proxy does anyway */
        if (!rc && *balance && strcmp(balance, "exact_balance") != 0)
            rc = api__fail(err, cap, "invalid value for balance_inbound_connections: %s", balance);
        /* the built-in proxy's local_connect_timeout_ms (resolved into the
         * proxies' Config); what it accepts, milliseconds up to a day */
        rc =
            rc ? rc
               : api__get_int(o, "LocalConnectTimeoutMs", 0, 86400000, &local_connect_ms, err, cap);
    }
    if (!rc && (rc = build(proxy, name, protocol ? protocol : "", mode_s, mgw,
                           balance ? balance : "", local_connect_ms, config, meta_o, canon)))
        api__oom(err, cap);
    json_object_put(meta_o);
    cn_free(mode_s);
    cn_free(mgw);
    cn_free(protocol);
    cn_free(balance);
    if (rc)
        cn_free(name);
    else
        *name_out = name;
    return rc;
}

void api__config_defaults_json(struct cn_jsonw *w, const struct state_config_entry *e)
{
    struct json_object *o = cn_json_parse((const char *)e->data, e->len, NULL, 0);
    cn_jsonw_obj_open(w);
    if (o) { /* the bytes this file wrote: an object */
        json_object_object_foreach(o, k, v)
        {
            cn_jsonw_key(w, k);
            const char *t = v ? json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN) : "null";
            cn_jsonw_raw(w, t, strlen(t));
        }
    }
    cn_jsonw_ku64(w, "CreateIndex", e->create_index);
    cn_jsonw_ku64(w, "ModifyIndex", e->modify_index);
    cn_jsonw_obj_close(w);
    json_object_put(o);
}
