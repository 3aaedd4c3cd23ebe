/* api/query.h: prepared queries inside api/ (query_def.c, query_exec.c,
 * query.c). A definition is decoded from a request body into struct api_pq,
 * validated with Consul's rules, and kept in the state as its canonical JSON
 * (opaque bytes there, state/query.c), which decodes back the same way.
 * api.h exports the execution for the DNS interface (api_query_execute). */
#ifndef CN_API_QUERY_H
#define CN_API_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/jsonw.h"
#include "state/state.h"

struct api_query_exec; /* api/api.h */

/* Consul's structs.PreparedQuery, as cairn supports it (docs/consul-compat.md):
 * every string owned (cn_malloc'd, never NULL after a successful decode). */
struct api_pq {
    char *name, *session, *token;
    char *tmpl_type, *tmpl_regexp; /* "" = not a template */
    bool remove_empty_tags;
    char *service;
    int64_t nearest_n;
    char **dcs; /* Failover.Datacenters, tried in order (query_failover.c) */
    size_t ndcs;
    bool only_passing;
    char **ignore; /* IgnoreCheckIDs */
    size_t nignore;
    char *near;
    char **tags; /* "!tag" = must not carry tag */
    size_t ntags;
    struct state_map node_meta, service_meta;
    char *dns_ttl;
};

void api__pq_clear(struct api_pq *q);
/* Decode and validate a body (or a stored definition). `local_dc` is this
 * datacenter (Failover.Datacenters may name only it). Returns 0; CN_EINVAL
 * with err = the message and *status = the HTTP status Consul answers (400
 * for a body that does not decode or a feature cairn refuses, 500 for
 * Consul's Apply-time validation errors); CN_ENOMEM. On error q is cleared. */
int api__pq_decode(const char *body, size_t len, const char *local_dc, struct api_pq *q,
                   int *status, char *err, size_t cap);
/* Decode a definition in the stored form sent by another datacenter's
 * failover: decoded as strictly, without Apply's rules (a name or session,
 * which the stored form does not carry). Returns as api__pq_decode. */
int api__pq_decode_def(const char *body, size_t len, struct api_pq *q, int *status, char *err,
                       size_t cap);
/* The canonical stored form (Token, Template, Service, DNS). 0 or CN_ENOMEM. */
int api__pq_encode_def(const struct api_pq *q, struct cn_buf *out);
/* Fill q from a stored query (its def and the state's ID-side fields). */
int api__pq_from_state(const struct state_query *sq, struct api_pq *q);
/* Consul's PreparedQuery JSON: ID, Name, Session, Token, Template, Service,
 * DNS, CreateIndex, ModifyIndex. */
void api__pq_json(struct cn_jsonw *w, const struct state_query *sq, const struct api_pq *q);
/* A template rendered for `name` (name_prefix_match: ${name.full},
 * ${name.prefix}, ${name.suffix}, ${match(N)}, ${agent.segment}) into out
 * (a new definition; q untouched). 0, CN_EINVAL (err), CN_ENOMEM. */
int api__pq_render(const struct api_pq *q, const char *name, struct api_pq *out, char *err,
                   size_t cap);

/* Run a definition (already rendered) against st, as api_query_execute does
 * after resolving a name: x's inputs (agent_node, near, limit, rng, acl) used,
 * its outputs filled (query_id left NULL). 0, CN_ENOMEM, or x->acl's error
 * (CN_ENOTFOUND: the definition's Token is no token). */
int api__query_run(const struct state *st, struct api_query_exec *x, const struct api_pq *q);
/* The execute answer (Service, Nodes, DNS, Datacenter, Failovers). */
void api__query_exec_json(struct cn_jsonw *w, struct state *st, const struct api_query_exec *x,
                          const char *dc, int failovers);
/* ?near= sorting (coordinate.c; Consul's sortNodesByDistanceFrom): a
 * stable order of n items by the estimated round trip from `source`'s
 * coordinate (segment "") to the coordinate of node[i] (none: last; the
 * source itself first); perm gets the order. False (perm untouched) when source has no coordinate:
 * the order stays. */
bool api__near_order(const struct state *st, const char *source, const char *const *node, size_t n,
                     size_t *perm);

#endif
