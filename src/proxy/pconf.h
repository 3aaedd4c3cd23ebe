/* proxy/pconf.h: the public listener's configuration of `cairn connect proxy
 * -sidecar-for`, read from its sidecar registration as Consul's built-in
 * proxy reads it (connect/proxy/config.go PublicListenerConfig): the
 * registration's port and Proxy.LocalServiceAddress/Port are the defaults,
 * and Proxy.Config (the agent shows it resolved from the proxy-defaults and
 * service-defaults config entries) sets bind_address, bind_port and
 * local_service_address over them. Pure. */
#ifndef CN_PROXY_PCONF_H
#define CN_PROXY_PCONF_H

#include <stddef.h>
#include <stdint.h>

struct json_object;

/* Consul's built-in proxy's defaults (connect/proxy/config.go). */
#define PX_LOCAL_CONNECT_MS 1000u     /* dialing the local application */
#define PX_HANDSHAKE_MS 10000u        /* an inbound mutual-TLS handshake */
#define PX_UPSTREAM_CONNECT_MS 10000u /* dialing an upstream and its handshake */
#define PX_TIMEOUT_MAX_MS 86400000u   /* a day: more is a mistake */

struct px_public_cfg {
    char bind_addr[64];        /* "0.0.0.0" unless Config.bind_address */
    int bind_port;             /* the registration's Port unless Config.bind_port */
    char app[300];             /* host:port of the application, "" when the registration has none */
    uint32_t local_connect_ms; /* Config.local_connect_timeout_ms, else PX_LOCAL_CONNECT_MS */
    uint32_t handshake_ms;     /* Config.handshake_timeout_ms, else PX_HANDSHAKE_MS */
};

/* svc: an AgentService object of Kind connect-proxy. 0, or CN_EINVAL with
 * the reason in err: a key of the wrong type or out of range. */
int px_public_config(struct json_object *svc, struct px_public_cfg *out, char *err, size_t cap);

/* One entry of Proxy.Upstreams: its Config.connect_timeout_ms (Consul's
 * built-in proxy's one upstream key), else PX_UPSTREAM_CONNECT_MS. 0, or
 * CN_EINVAL with the reason in err. */
int px_upstream_config(struct json_object *up, uint32_t *connect_ms, char *err, size_t cap);

#endif
