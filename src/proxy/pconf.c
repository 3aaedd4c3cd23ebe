/* proxy/pconf.c: the public listener's configuration from a sidecar
 * registration (pconf.h). */
#include "proxy/pconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "base/err.h"
#include "base/json.h"

/* Config's keys match exactly, as Go's map decoding by mapstructure tag. */
static struct json_object *key(struct json_object *cfg, const char *k)
{
    struct json_object *v = NULL;
    return cfg && json_object_object_get_ex(cfg, k, &v) ? v : NULL;
}

/* A port: a number, or a string of digits (mapstructure's weak decoding). */
static int port_of(struct json_object *v, int *out)
{
    int64_t n = -1;
    if (json_object_is_type(v, json_type_int)) {
        n = json_object_get_int64(v);
    } else if (json_object_is_type(v, json_type_double)) {
        double d = json_object_get_double(v);
        n = d == (double)(int64_t)d ? (int64_t)d : -1;
    } else if (json_object_is_type(v, json_type_string)) {
        const char *s = json_object_get_string(v);
        char *end;
        long long x = strtoll(s, &end, 10);
        n = *s && !*end ? x : -1;
    }
    if (n < 0 || n > 65535)
        return CN_EINVAL;
    *out = (int)n;
    return 0;
}

/* Milliseconds: a number or a string of digits; 0 (Go's zero value) is
 * the default, as Consul's applyDefaults. */
static int ms_of(struct json_object *cfg, const char *k, uint32_t dflt, uint32_t *out, char *err,
                 size_t cap)
{
    struct json_object *v = key(cfg, k);
    *out = dflt;
    if (!v)
        return 0;
    int64_t n = -1;
    if (json_object_is_type(v, json_type_int)) {
        n = json_object_get_int64(v);
    } else if (json_object_is_type(v, json_type_double)) {
        double d = json_object_get_double(v);
        n = d >= 0 && d <= (double)PX_TIMEOUT_MAX_MS && d == (double)(int64_t)d ? (int64_t)d : -1;
    } else if (json_object_is_type(v, json_type_string)) {
        const char *s = json_object_get_string(v);
        char *end;
        long long x = strtoll(s, &end, 10);
        n = *s && !*end ? x : -1;
    }
    if (n < 0 || n > (int64_t)PX_TIMEOUT_MAX_MS) {
        snprintf(err, cap, "Proxy.Config.%s: want milliseconds (0-%u)", k, PX_TIMEOUT_MAX_MS);
        return CN_EINVAL;
    }
    if (n > 0)
        *out = (uint32_t)n;
    return 0;
}

int px_upstream_config(struct json_object *up, uint32_t *connect_ms, char *err, size_t cap)
{
    struct json_object *cfg = cn_json_get(up, "Config");
    *connect_ms = PX_UPSTREAM_CONNECT_MS;
    if (!cfg || !json_object_is_type(cfg, json_type_object))
        return 0;
    if (ms_of(cfg, "connect_timeout_ms", PX_UPSTREAM_CONNECT_MS, connect_ms, err, cap)) {
        snprintf(err, cap, "Proxy.Upstreams[].Config.connect_timeout_ms: want milliseconds (0-%u)",
                 PX_TIMEOUT_MAX_MS);
        return CN_EINVAL;
    }
    return 0;
}

int px_public_config(struct json_object *svc, struct px_public_cfg *out, char *err, size_t cap)
{
    memset(out, 0, sizeof(*out));
    struct json_object *p = cn_json_get(svc, "Proxy");
    const char *laddr = "";
    int64_t lport = 0, port = 0;
    cn_json_get_str(p, "LocalServiceAddress", &laddr);
    cn_json_get_i64(p, "LocalServicePort", &lport);
    cn_json_get_i64(svc, "Port", &port);
    if (port < 0 || port > 65535 || lport < 0 || lport > 65535) {
        snprintf(err, cap, "the registration's Port or Proxy.LocalServicePort is out of range");
        return CN_EINVAL;
    }
    snprintf(out->bind_addr, sizeof(out->bind_addr), "0.0.0.0");
    out->bind_port = (int)port;
    out->local_connect_ms = PX_LOCAL_CONNECT_MS;
    out->handshake_ms = PX_HANDSHAKE_MS;
    if (lport > 0)
        snprintf(out->app, sizeof(out->app), "%s:%d", laddr && *laddr ? laddr : "127.0.0.1",
                 (int)lport);
    struct json_object *cfg = cn_json_get(p, "Config");
    if (!cfg || !json_object_is_type(cfg, json_type_object))
        return 0;
    if (ms_of(cfg, "local_connect_timeout_ms", PX_LOCAL_CONNECT_MS, &out->local_connect_ms, err,
              cap) ||
        ms_of(cfg, "handshake_timeout_ms", PX_HANDSHAKE_MS, &out->handshake_ms, err, cap))
        return CN_EINVAL;
    struct json_object *v = key(cfg, "bind_address");
    if (v) {
        if (!json_object_is_type(v, json_type_string) || !json_object_get_string_len(v) ||
            (size_t)json_object_get_string_len(v) >= sizeof(out->bind_addr)) {
            snprintf(err, cap, "Proxy.Config.bind_address: want an IP address");
            return CN_EINVAL;
        }
        snprintf(out->bind_addr, sizeof(out->bind_addr), "%s", json_object_get_string(v));
    }
    if ((v = key(cfg, "bind_port")) && port_of(v, &out->bind_port)) {
        snprintf(err, cap, "Proxy.Config.bind_port: want a port number (0-65535)");
        return CN_EINVAL;
    }
    if ((v = key(cfg, "local_service_address"))) {
        const char *s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : "";
        if (!*s || !strchr(s, ':') || strlen(s) >= sizeof(out->app)) {
            snprintf(err, cap, "Proxy.Config.local_service_address: want host:port");
            return CN_EINVAL;
        }
        snprintf(out->app, sizeof(out->app), "%s", s);
    }
    return 0;
}

/* "host:port", IPv6 hosts in brackets. */
static void hostport(char *dst, size_t cap, const char *host, int port)
{
    snprintf(dst, cap, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
}

void px_upstream_addr(const struct px_upstream_opt *u, char *dst, size_t cap)
{
    hostport(dst, cap, u->bind_addr, u->bind_port);
}

static int upstream_of(struct json_object *u, size_t i, struct px_upstream_opt *uo, char *err,
                       size_t cap)
{
    const char *name = "", *ba = "";
    int64_t bp = 0;
    if (!u || !json_object_is_type(u, json_type_object)) {
        snprintf(err, cap, "Proxy.Upstreams[%zu]: want an object", i);
        return CN_EINVAL;
    }
    cn_json_get_str(u, "DestinationName", &name);
    cn_json_get_str(u, "LocalBindAddress", &ba);
    cn_json_get_i64(u, "LocalBindPort", &bp);
    if (!*name || strlen(name) >= sizeof(uo->name)) {
        snprintf(err, cap, "Proxy.Upstreams[%zu]: no DestinationName", i);
        return CN_EINVAL;
    }
    if (bp < 1 || bp > 65535) {
        snprintf(err, cap, "Proxy.Upstreams[%zu] (%s): LocalBindPort: want a port (1-65535)", i,
                 name);
        return CN_EINVAL;
    }
    if (strlen(ba) >= sizeof(uo->bind_addr)) {
        snprintf(err, cap, "Proxy.Upstreams[%zu] (%s): LocalBindAddress: want an IP address", i,
                 name);
        return CN_EINVAL;
    }
    uint32_t cms;
    if (px_upstream_config(u, &cms, err, cap))
        return CN_EINVAL;
    snprintf(uo->name, sizeof(uo->name), "%s", name);
    snprintf(uo->bind_addr, sizeof(uo->bind_addr), "%s", *ba ? ba : "127.0.0.1");
    uo->bind_port = (int)bp;
    uo->connect_ms = cms;
    return 0;
}

int px_sidecar_config(struct json_object *svc, struct px_cfg *out, char *err, size_t cap)
{
    memset(out, 0, sizeof(*out));
    const char *kind = "", *dest = "";
    struct json_object *p = cn_json_get(svc, "Proxy");
    cn_json_get_str(svc, "Kind", &kind);
    if (strcmp(kind, "connect-proxy") != 0 || !p || !json_object_is_type(p, json_type_object)) {
        snprintf(err, cap, "the registration is not a connect-proxy");
        return CN_EINVAL;
    }
    cn_json_get_str(p, "DestinationServiceName", &dest);
    if (!*dest || strlen(dest) >= sizeof(out->service)) {
        snprintf(err, cap, "Proxy.DestinationServiceName: want a service name");
        return CN_EINVAL;
    }
    snprintf(out->service, sizeof(out->service), "%s", dest);
    struct px_public_cfg pc;
    if (px_public_config(svc, &pc, err, cap))
        return CN_EINVAL;
    out->local_connect_ms = pc.local_connect_ms;
    out->handshake_ms = pc.handshake_ms;
    if (*pc.app) {
        snprintf(out->app, sizeof(out->app), "%s", pc.app);
        hostport(out->listen, sizeof(out->listen), pc.bind_addr, pc.bind_port);
    }
    struct json_object *ups = cn_json_get(p, "Upstreams");
    if (ups && !json_object_is_type(ups, json_type_array)) {
        snprintf(err, cap, "Proxy.Upstreams: want an array");
        return CN_EINVAL;
    }
    size_t n = ups ? json_object_array_length(ups) : 0;
    if (n > PX_MAX_UPSTREAMS) {
        snprintf(err, cap, "Proxy.Upstreams: %zu upstreams, the built-in proxy runs at most %d", n,
                 PX_MAX_UPSTREAMS);
        return CN_EINVAL;
    }
    for (size_t i = 0; i < n; i++) {
        struct px_upstream_opt *uo = &out->ups[i];
        if (upstream_of(json_object_array_get_idx(ups, i), i, uo, err, cap))
            return CN_EINVAL;
        char a[300], b[300];
        px_upstream_addr(uo, a, sizeof(a));
        if (*out->listen && !strcmp(a, out->listen)) {
            snprintf(err, cap, "upstream %s and the public listener both on %s", uo->name, a);
            return CN_EINVAL;
        }
        for (size_t j = 0; j < i; j++) {
            px_upstream_addr(&out->ups[j], b, sizeof(b));
            if (!strcmp(a, b)) {
                snprintf(err, cap, "upstreams %s and %s both on %s", out->ups[j].name, uo->name, a);
                return CN_EINVAL;
            }
        }
    }
    out->nups = n;
    return 0;
}
