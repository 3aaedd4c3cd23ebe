/* proxy/pconf.c: the public listener's configuration from a sidecar
 * registration (pconf.h). */
#include "proxy/pconf.h"

#include <stdio.h>
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
    if (lport > 0)
        snprintf(out->app, sizeof(out->app), "%s:%d", laddr && *laddr ? laddr : "127.0.0.1",
                 (int)lport);
    struct json_object *cfg = cn_json_get(p, "Config");
    if (!cfg || !json_object_is_type(cfg, json_type_object))
        return 0;
    static const char *const unsupported[] = {"local_connect_timeout_ms", "handshake_timeout_ms"};
    for (size_t i = 0; i < 2; i++)
        if (key(cfg, unsupported[i])) {
            snprintf(err, cap,
                     "Proxy.Config.%s is not supported by cairn's built-in proxy (it has no such "
                     "timeout); remove it from the registration or the proxy-defaults and "
                     "service-defaults config entries",
                     unsupported[i]);
            return CN_EINVAL;
        }
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
