/* connect/ca.h: the built-in CA's certificate work (OpenSSL), and SPIFFE IDs.
 *
 * Consul's built-in provider (agent/connect/ca/provider_consul.go): an ECDSA
 * P-256 root per trust domain ("<cluster id>.consul"), leaf certificates for
 * services carrying the service's SPIFFE ID as a URI SAN
 * (spiffe://<trust domain>/ns/default/dc/<dc>/svc/<service>), and on rotation
 * the new root cross-signed by the old one so leaves of either chain to both.
 * Everything here is a pure function of its inputs and the randomness it
 * draws (keys, serials); no I/O. Times are Unix seconds. */
#ifndef CN_CONNECT_CA_H
#define CN_CONNECT_CA_H

#include <stddef.h>
#include <stdint.h>

/* A certificate (and, when this code made it, its private key). */
struct connect_cert {
    char *cert_pem;
    char *key_pem;           /* NULL when only a certificate was parsed */
    char id[64];             /* SHA-1 of the DER, colon hex: a root's ID */
    char serial_hex[64];     /* colon hex (a leaf's SerialNumber) */
    uint64_t serial;         /* the low 64 bits */
    char signing_key_id[96]; /* the subject key identifier, colon hex */
    int64_t not_before, not_after;
};
void connect_cert_clear(struct connect_cert *c);

/* A new self-signed root for trust_domain, valid ttl_s from now (minus one
 * minute of clock skew): CN "pri-<rand>.consul.ca.<8 hex of domain>.consul",
 * URI SAN spiffe://<trust_domain>, CA:true, certSign|cRLSign|digitalSignature.
 * 0, CN_ENOMEM or CN_EIO (OpenSSL failed: err says why). */
int connect_ca_new_root(const char *trust_domain, int64_t now, int64_t ttl_s,
                        struct connect_cert *out, char *err, size_t cap);

/* A leaf for uri (and dns names, may be none) signed by the CA, valid ttl_s:
 * serverAuth+clientAuth, digitalSignature|keyEncipherment|keyAgreement, a fresh
 * P-256 key. 0, CN_EINVAL (CA certificate or key unusable), CN_ENOMEM, CN_EIO. */
int connect_ca_sign_leaf(const char *ca_cert_pem, const char *ca_key_pem, const char *uri,
                         const char *cn, int64_t now, int64_t ttl_s, struct connect_cert *out,
                         char *err, size_t cap);

/* The new root's certificate re-issued by the old CA (same subject and key),
 * for the new root's IntermediateCerts during a rotation. *out_pem owned. */
int connect_ca_cross_sign(const char *old_cert_pem, const char *old_key_pem,
                          const char *new_cert_pem, int64_t now, char **out_pem, char *err,
                          size_t cap);

/* Parse a PEM certificate (a root given in the CA configuration) into out
 * (key_pem NULL); check key_pem, when given, is its private key and is EC
 * P-256. 0 or CN_EINVAL with the reason. */
int connect_ca_parse(const char *cert_pem, const char *key_pem, struct connect_cert *out, char *err,
                     size_t cap);

/* ---- SPIFFE IDs ------------------------------------------------------------ */
struct connect_spiffe {
    char trust_domain[256];
    char ns[128], dc[128], service[256]; /* a service ID */
    char agent_node[256];                /* an agent ID (…/agent/client/dc/<dc>/id/<node>) */
    int kind;                            /* 1 service, 2 agent */
};
/* Parse spiffe://<domain>/ns/<ns>/dc/<dc>/svc/<service> or
 * spiffe://<domain>/agent/client/dc/<dc>/id/<node> (percent-escapes decoded):
 * 0 or CN_EINVAL with the reason. */
int connect_spiffe_parse(const char *uri, struct connect_spiffe *out, char *err, size_t cap);
/* spiffe://<domain>/ns/default/dc/<dc>/svc/<service> into out. 0 or CN_ERANGE. */
int connect_spiffe_service(char *out, size_t cap, const char *trust_domain, const char *dc,
                           const char *service);

#endif
