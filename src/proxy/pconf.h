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

#include "proxy/proxy.h"

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

/* Everything the proxy runs by: its identity, the public listener, the
 * application, the two public timeouts and the upstreams. From a sidecar
 * registration (px_sidecar_config) or from the command line. */
struct px_cfg {
    char service[256]; /* the identity: Proxy.DestinationServiceName */
    char listen[300];  /* the public listener's host:port ("[v6]:port"), "": none */
    char app[300];     /* host:port of the application, "": none */
    uint32_t local_connect_ms, handshake_ms;
    struct px_upstream_opt ups[PX_MAX_UPSTREAMS]; /* bind_addr never empty */
    size_t nups;
};

/* svc: an AgentService (/v1/agent/service/:id, or a value of
 * /v1/agent/services) of Kind connect-proxy. 0 with out filled, or
 * CN_EINVAL with the reason in err: not a connect-proxy, no
 * DestinationServiceName, a key of the wrong type or out of range, an
 * upstream without a name or a port, more than PX_MAX_UPSTREAMS upstreams,
 * two listeners on one address. The public listener is on when the
 * registration names an application (LocalServicePort or
 * Config.local_service_address). */
int px_sidecar_config(struct json_object *svc, struct px_cfg *out, char *err, size_t cap);

/* An upstream's listener address, "host:port" ("[v6]:port"). */
void px_upstream_addr(const struct px_upstream_opt *u, char *dst, size_t cap);

/* One entry of Proxy.Upstreams: its Config.connect_timeout_ms (Consul's
 * built-in proxy's one upstream key), else PX_UPSTREAM_CONNECT_MS. 0, or
 * CN_EINVAL with the reason in err. */
int px_upstream_config(struct json_object *up, uint32_t *connect_ms, char *err, size_t cap);

#endif
