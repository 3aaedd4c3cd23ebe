/* agent/tls.h: the agent's TLS settings resolved as Consul resolves them
 * (docs/tls.md): each interface (tls.https, tls.internal_rpc) takes a value
 * from its own block, else from tls.defaults, else from Consul's deprecated
 * top-level key (verify_incoming_rpc / verify_incoming_https before
 * verify_incoming); verify_server_hostname implies verify_outgoing. The
 * contexts are built here, so a missing file, a key that does not match its
 * certificate or TLSv1_1 stop the agent at start (and fail a reload, which
 * then changes nothing). */
#ifndef CN_AGENT_TLS_H
#define CN_AGENT_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "agent/config.h"

struct agent_tls {
    SSL_CTX *https; /* NULL: no HTTPS listener */
    SSL_CTX *rpc;   /* NULL: server RPC in plaintext */
    bool rpc_incoming, rpc_outgoing, rpc_server_hostname;
    char rpc_server_name[300]; /* server.<datacenter>.<domain> */
};

/* Returns 0, or CN_EINVAL / CN_ENOMEM with the reason in err; out is
 * zeroed on error (nothing to free). */
int agent_tls_load(const struct agent_config *c, struct agent_tls *out, char *err, size_t errcap);
void agent_tls_free(struct agent_tls *t);

#endif
