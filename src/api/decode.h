/* api/decode.h: JSON request bodies -> state structs, for the agent and
 * catalog write endpoints.
 *
 * Rules every decoder follows (Consul's, see docs/consul-api-notes.md §0 and §2.0):
 *  - object keys match case-insensitively and snake_case matches CamelCase
 *    (cn_json_get); "ScriptArgs"/"Args" are aliases;
 *  - durations are Go duration strings ("10s", "1m30s") or integer ns;
 *  - every error is a one-line message meant for a 400 body, matching
 *    Consul's text where Consul has one ("Missing service name",
 *    "Invalid check: TTL must be > 0 for TTL checks", "Request decode failed: ...").
 *
 * Ownership: on success the output struct owns everything it points to (all
 * strings are non-NULL, "" when absent) and must be released with the matching
 * *_free (or state_*_clear) function. On error nothing is left allocated (the output is zeroed),
 * and err holds the message. Pure: no I/O, allocation through cn_malloc only. */
#ifndef CN_API_DECODE_H
#define CN_API_DECODE_H

#include <stdbool.h>
#include <stddef.h>

#include "local/local.h"
#include "state/state.h"

/* An agent service definition (/v1/agent/service/register body) into *out
 * (see struct local_svc_def; released with local_svc_def_free). Checks get
 * their ids, names ("Service '<name>' check"), status ("critical" unless
 * given) and type. */
int api_decode_service_def(const char *body, size_t len, struct local_svc_def *out, char *err,
                           size_t errcap);

/* An agent check definition (/v1/agent/check/register body): Name required
 * ("Missing check name"), ID/CheckID defaults to Name, Status defaults to
 * "critical". node and service_name are "" (the agent fills them). */
int api_decode_check_def(const char *body, size_t len, struct state_check *out, char *err,
                         size_t errcap);

/* A /v1/catalog/register body -> a register command's input. Node required
 * ("Must provide node"); Address required unless SkipNodeUpdate; a non-empty
 * ID must be a UUID; Service.ID defaults to Service.Service; Check + Checks
 * are merged (CheckID defaults to Name; Status defaults to "critical").
 * Released with state_register_clear. */
int api_decode_catalog_register(const char *body, size_t len, struct state_register *out, char *err,
                                size_t errcap);

/* A /v1/catalog/deregister body. service_id/check_id NULL when absent. */
struct api_catalog_dereg {
    char *node;
    char *service_id;
    char *check_id;
};
int api_decode_catalog_deregister(const char *body, size_t len, struct api_catalog_dereg *out,
                                  char *err, size_t errcap);
void api_catalog_dereg_free(struct api_catalog_dereg *d);

/* A /v1/agent/check/update body {"Status","Output"}: status must be passing,
 * warning or critical ("Invalid check status: '<s>'"). Output is truncated to
 * STATE_CHECK_OUTPUT_MAX bytes the way Consul does. Strings owned by the caller
 * (cn_free). */
int api_decode_check_update(const char *body, size_t len, char **status, char **output, char *err,
                            size_t errcap);

/* ---- query filters shared by catalog.c and health.c (defined in catalog.c) ---- */
struct api_ctx;
/* ?node-meta=k:v, repeatable: node n (may be NULL) carries every pair. */
bool api_node_meta_match(struct api_ctx *c, const struct state_node *n);
/* ?tag=t, repeatable: the instance carries every tag (case-insensitive). */
bool api_tags_match(struct api_ctx *c, const struct state_service *s);
/* The highest index of the nodes, services and checks tables: the index of an
 * answer that shows fields of all three (health/state, ui/services). */
uint64_t api_catalog_index(const struct state *st);

#endif
