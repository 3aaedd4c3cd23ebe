/* api/decode.h: JSON request bodies -> state structs, for the agent and
 * catalog write endpoints (and the agent's local state, agent/local.c).
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
 * *_free function. On error nothing is left allocated (the output is zeroed),
 * and err holds the message. Pure: no I/O, allocation through cn_malloc only. */
#ifndef CN_API_DECODE_H
#define CN_API_DECODE_H

#include <stdbool.h>
#include <stddef.h>

#include "state/state.h"

/* Check types Consul knows that cairn records; the decoder refuses the rest
 * (gRPC, Docker, UDP, H2PING, alias, OS service) with a 400 rather than
 * storing a check nothing will ever run. */
#define API_CHECK_TTL "ttl"
#define API_CHECK_HTTP "http"
#define API_CHECK_TCP "tcp"
#define API_CHECK_SCRIPT "script" /* decoded, but the agent refuses it (scripts disabled) */

/* An agent service definition (/v1/agent/service/register body).
 * svc.node is "" (the agent fills its node name); svc.id defaults to the name.
 * checks[] are the service's Check/Checks with ids assigned ("service:<id>"
 * for one, "service:<id>:<n>" 1-based for several, unless given), service_id
 * = svc.id, service_name = svc.service, name defaulted to
 * "Service '<name>' check", status defaulted to "critical", type set. */
struct api_svc_def {
    struct state_service svc;
    struct state_check *checks;
    size_t nchecks;
};
int api_decode_service_def(const char *body, size_t len, struct api_svc_def *out, char *err,
                           size_t errcap);
void api_svc_def_free(struct api_svc_def *d);

/* An agent check definition (/v1/agent/check/register body): Name required
 * ("Missing check name"), ID/CheckID defaults to Name, Status defaults to
 * "critical". node and service_name are "" (the agent fills them). */
int api_decode_check_def(const char *body, size_t len, struct state_check *out, char *err,
                         size_t errcap);

/* Release the strings of a check filled by a decoder (not the struct itself). */
void api_check_clear(struct state_check *c);
/* Release the strings/arrays of a service filled by a decoder. */
void api_service_clear(struct state_service *s);
/* Deep copies (all strings duplicated, NULL strings become ""). 0 or CN_ENOMEM;
 * on error dst is zeroed. */
int api_check_copy(struct state_check *dst, const struct state_check *src);
int api_service_copy(struct state_service *dst, const struct state_service *src);

/* A /v1/catalog/register body -> a register command's input. Node required
 * ("Must provide node"); Address required unless SkipNodeUpdate; a non-empty
 * ID must be a UUID; Service.ID defaults to Service.Service; Check + Checks
 * are merged (CheckID defaults to Name; Status defaults to "critical"). */
int api_decode_catalog_register(const char *body, size_t len, struct state_register *out,
                                char *err, size_t errcap);
void api_register_free(struct state_register *r);

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
 * API_CHECK_OUTPUT_MAX bytes the way Consul does. Strings owned by the caller
 * (cn_free). */
#define API_CHECK_OUTPUT_MAX 4096
int api_decode_check_update(const char *body, size_t len, char **status, char **output,
                            char *err, size_t errcap);

/* ---- query filters shared by catalog.c and health.c (defined in catalog.c) ---- */
struct api_ctx;
/* ?node-meta=k:v, repeatable: node n (may be NULL) carries every pair. */
bool api_node_meta_match(struct api_ctx *c, const struct state_node *n);
/* ?tag=t, repeatable: the instance carries every tag (case-insensitive). */
bool api_tags_match(struct api_ctx *c, const struct state_service *s);

/* True for "passing", "warning", "critical". */
bool api_valid_status(const char *s);

/* Consul's output cap (agent/check.go CheckBufSize): longer output becomes
 * "<first 4096 bytes> ... (captured 4096 of N bytes)". Returns a new string
 * (cn_free) or NULL on OOM. */
char *api_truncate_output(const char *s);

#endif
