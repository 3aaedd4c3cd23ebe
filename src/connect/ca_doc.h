/* connect/ca_doc.h: the built-in CA as the state keeps it (state/ca.c holds
 * the bytes; this is their meaning): the cluster's trust domain, the CA
 * configuration, and the roots, the active one with its private key. The bytes
 * are JSON (cairn's own layout, docs/format-state.md), written canonically.
 *
 * The leader builds a document (connect_ca_doc_initial, _rotate) and proposes
 * it whole (CA_SET); readers decode it. A root's create index is the record's
 * modify index when it first appeared: 0 in a document being proposed, fixed
 * when the next document is built from the applied one. */
#ifndef CN_CONNECT_CA_DOC_H
#define CN_CONNECT_CA_DOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define CONNECT_CA_MAX_ROOTS 8

struct connect_ca_root {
    char *id;             /* SHA-1 fingerprint, colon hex */
    char *name;           /* "Consul CA Primary Cert" */
    uint64_t serial;      /* SerialNumber (low 64 bits) */
    char *signing_key_id; /* colon hex */
    int64_t not_before, not_after;
    char *cert_pem;
    char *intermediates_pem; /* "" or PEM certificates (the cross-signed root) */
    char *key_pem;           /* the active root's key; "" for an old root */
    bool active;
    uint64_t create_index; /* 0: the record's modify index */
};

struct connect_ca_doc {
    char cluster_id[40];          /* a UUID */
    char trust_domain[64];        /* "<cluster_id>.consul" */
    int64_t leaf_ttl_s;           /* LeafCertTTL, default 72h */
    int64_t rotation_s;           /* RotationPeriod, default 2160h (reported only) */
    int64_t intermediate_ttl_s;   /* IntermediateCertTTL, default 8760h (reported only) */
    int64_t root_ttl_s;           /* RootCertTTL, default 87600h */
    uint64_t config_create_index; /* 0: the record's modify index */
    struct connect_ca_root roots[CONNECT_CA_MAX_ROOTS];
    size_t nroots;
};

void connect_ca_doc_clear(struct connect_ca_doc *d);
/* 0, CN_ECORRUPT (err says why), CN_ENOMEM. */
int connect_ca_doc_decode(const void *p, size_t n, struct connect_ca_doc *d, char *err, size_t cap);
int connect_ca_doc_encode(const struct connect_ca_doc *d, struct cn_buf *out);
/* The active root, or NULL. */
const struct connect_ca_root *connect_ca_doc_active(const struct connect_ca_doc *d);

/* A first CA: a new cluster ID and trust domain, the default configuration
 * and a new root. 0, CN_ENOMEM or CN_EIO (err). */
int connect_ca_doc_initial(int64_t now, struct connect_ca_doc *d, char *err, size_t cap);

/* What a PUT /v1/connect/ca/configuration asks for (Consul's built-in
 * provider keys); unset durations are 0 (keep), key/cert NULL (generate). */
struct connect_ca_config {
    int64_t leaf_ttl_s, rotation_s, intermediate_ttl_s, root_ttl_s;
    const char *private_key, *root_cert; /* both or neither */
    bool rotate;                         /* a new root: key/cert given, or forced */
};
/* Parse the request's Config map (json text of the object): Consul's keys
 * (LeafCertTTL, RotationPeriod, IntermediateCertTTL, RootCertTTL,
 * PrivateKey, RootCert, PrivateKeyType "ec", PrivateKeyBits 256,
 * CSRMaxPerSecond, CSRMaxConcurrent accepted); anything else is refused with
 * a message. Strings in c borrow from the parsed object *keep (put it). */
int connect_ca_config_parse(const char *json, size_t n, struct connect_ca_config *c, void **keep,
                            char *err, size_t cap);
/* next = cur with the configuration applied, indexes fixed (record_modify:
 * the applied record's modify index); a rotation adds a new active root (the
 * given one, or generated) cross-signed by the old active one, which stays
 * as a trusted, inactive root (its key dropped). 0, CN_EINVAL, CN_ENOMEM,
 * CN_EIO (err). */
int connect_ca_doc_update(const struct connect_ca_doc *cur, uint64_t record_modify,
                          const struct connect_ca_config *c, int64_t now,
                          struct connect_ca_doc *next, char *err, size_t cap);

#endif
