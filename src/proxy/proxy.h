/* proxy/proxy.h: `cairn connect proxy`, Connect's built-in sidecar proxy
 * (docs/connect-proxy.md). One libuv loop: it follows the local agent's HTTP
 * API with blocking queries (its leaf certificate, the CA roots, the
 * intentions, each upstream's healthy proxies), accepts mutual-TLS
 * connections on its public port for the local application after checking
 * the caller's SPIFFE ID with /v1/agent/connect/authorize, and for each
 * upstream listens locally and dials a healthy instance with mutual TLS. */
#ifndef CN_PROXY_H
#define CN_PROXY_H

#include <stddef.h>

#define PX_MAX_UPSTREAMS 32

struct px_upstream_opt {
    char name[256];
    char bind_addr[64];
    int bind_port;
    unsigned connect_ms; /* dial + handshake; 0: PX_UPSTREAM_CONNECT_MS (pconf.h) */
};

struct px_opts {
    const char *http_addr;    /* the agent's HTTP address: "127.0.0.1:8500", "http://..." */
    const char *token;        /* X-Consul-Token, or "" */
    const char *sidecar_for;  /* the service ID whose sidecar registration configures us */
    const char *service;      /* else: the identity */
    const char *service_addr; /* the local application (host:port) for the public side */
    const char *listen;       /* the public listener (host:port), or "": none */
    struct px_upstream_opt ups[PX_MAX_UPSTREAMS];
    size_t nups;
};

/* Run until SIGINT/SIGTERM. 0, or 1 with the reason written to stderr. */
int px_run(const struct px_opts *o);

#endif
