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

struct json_object;

struct px_public_cfg {
    char bind_addr[64]; /* "0.0.0.0" unless Config.bind_address */
    int bind_port;      /* the registration's Port unless Config.bind_port */
    char app[300];      /* host:port of the application, "" when the registration has none */
};

/* svc: an AgentService object of Kind connect-proxy. 0, or CN_EINVAL with
 * the reason in err: a key of the wrong type or out of range, or a key
 * Consul's built-in proxy honours and cairn's does not (the connect and
 * handshake timeouts: starting without them would silently ignore them). */
int px_public_config(struct json_object *svc, struct px_public_cfg *out, char *err, size_t cap);

#endif
