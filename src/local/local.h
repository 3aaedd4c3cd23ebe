/* local/local.h: the agent's local state (Consul's agent/local): the services
 * and checks registered through /v1/agent/..., keyed by ID, plus the TTL
 * timers of TTL checks and this node's own registration (node row, the
 * "serfHealth" node check, and on servers the "consul" service).
 *
 * Consul keeps local state and syncs it to the catalog by anti-entropy. cairn's
 * agent runs inside the server, so every mutation here is written through at
 * once: it proposes a catalog command for this node (srv_propose) and changes
 * the local maps only after that command is applied, then answers through the
 * caller's callback. The local maps therefore mirror what the catalog holds for
 * this node (minus serfHealth and the "consul" service, which belong to the
 * node, not to the agent's registrations), except that a connect-proxy is
 * kept as registered while the catalog gets it merged with the central
 * configuration (local_set_merge); a restart rebuilds them from the catalog
 * (local_start), merged form included.
 *
 * All on the loop thread. Owns its timers. Sits below api/ and agent/ (both
 * use it) and above server/ and state/: it must not include api/ or agent/,
 * parse JSON or touch HTTP. */
#ifndef CN_LOCAL_H
#define CN_LOCAL_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "server/server.h"
#include "state/state.h"

struct local;

/* An agent service definition (/v1/agent/service/register body, decoded by
 * api/decode.h): the service and its checks. svc.node is "" (the agent fills
 * its node name); svc.id defaults to the name. checks[] carry ids
 * ("service:<id>" for one, "service:<id>:<n>" 1-based for several, unless
 * given), service_id = svc.id, service_name = svc.service, a name, a status
 * and a type. Owns every string and the checks array. */
struct local_svc_def {
    struct state_service svc;
    struct state_check *checks;
    size_t nchecks;
    /* Connect: the sidecar expanded from Connect.SidecarService (api/
     * fills every default it can; the agent allocates a port when it is 0
     * and adds Consul's default checks when there are none). NULL: none. */
    struct local_svc_def *sidecar;
    bool is_sidecar; /* this definition is such a sidecar */
};
/* "<id>-sidecar-proxy", "<name>-sidecar-proxy" (structs.SidecarProxySuffix) */
#define LOCAL_SIDECAR_SUFFIX "-sidecar-proxy"
/* Consul's sidecar_min_port / sidecar_max_port defaults. */
#define LOCAL_SIDECAR_MIN_PORT 21000
#define LOCAL_SIDECAR_MAX_PORT 21255
/* Free what d owns and zero it. NULL ok. */
void local_svc_def_free(struct local_svc_def *d);

/* Check ID prefixes/names Consul uses (agent/agent.go). */
#define LOCAL_SERF_CHECK_ID "serfHealth"
#define LOCAL_SERVICE_MAINT_PREFIX "_service_maintenance:"
#define LOCAL_NODE_MAINT_CHECK_ID "_node_maintenance"

/* Strings are copied. NULL on out of memory. Nothing is proposed yet. */
struct local *local_new(uv_loop_t *loop, struct srv *srv, const char *node, const char *node_id,
                        const char *address, const char *dc);
/* Optional, before local_start: the server RPC port. When > 0 the node
 * also registers the "consul" service on it, as Consul servers do (tools list
 * /v1/catalog/services and expect "consul" there). */
void local_set_server_port(struct local *l, int port);
/* Optional: the range sidecar ports are allocated from (inclusive; Consul's
 * sidecar_min_port / sidecar_max_port, 21000-21255 by default; 0 disables). */
void local_set_sidecar_ports(struct local *l, int min, int max);
/* Optional: run script checks (Args/ScriptArgs) registered through the HTTP
 * API (-enable-local-script-checks). Off: they are refused with Consul's
 * message. */
void local_set_script_checks(struct local *l, bool enable);
/* ACLs: before the agent writes this node's own registration (at start and
 * in anti-entropy) it asks `may` whether its agent token has node:write;
 * when not, it logs Consul's "Node info update blocked by ACLs" and writes
 * nothing. NULL (the default): always allowed. */
typedef bool (*local_acl_cb)(void *arg, const char *node, char *accessor, size_t cap);
void local_set_acl(struct local *l, local_acl_cb may, void *arg);
/* Central service configuration (Consul's service manager): the local maps
 * keep each service as registered, and every write of a connect-proxy to the
 * catalog (registration, re-sync, anti-entropy) carries the Proxy.Config and
 * the upstreams' Config `merge` returns for it (struct local_merged: each
 * NULL where the registration's own stands, else an owned JSON text); 0, or
 * CN_EAGAIN when it does not know yet (a write goes as given, and
 * anti-entropy and local_remerge leave the catalog's row as it is until
 * local_remerge runs again); or another error (the write fails with it).
 * NULL (the default): services go as registered. The callback must not
 * change the local state; out is zero on entry and freed by the caller
 * (local_merged_free) whatever it returns. */
struct local_merged {
    char *config;                   /* Proxy.Config */
    char **ups;                     /* NULL, or nups entries: Proxy.Upstreams[i].Config */
    size_t nups;                    /* given->proxy.nups when ups is set */
    struct state_upstream *tmp_ups; /* local/'s: the merged upstreams' copy */
};
void local_merged_free(struct local_merged *m);
typedef int (*local_merge_cb)(void *arg, const struct state_service *given,
                              struct local_merged *out);
void local_set_merge(struct local *l, local_merge_cb merge, void *arg);
/* What `merge` answers changed (a config entry, or a client agent's resolved
 * configuration): re-register every connect-proxy whose merged form differs
 * from the catalog's row (on a client, its mirror). Returns the writes
 * started. NULL ok. */
size_t local_remerge(struct local *l);
/* Whether the last attempt to write this node's registration was blocked. */
bool local_acl_blocked(const struct local *l);
/* HTTP, gRPC and H2PING checks verify TLS servers against the CA
 * certificates in this PEM file (copied path) instead of the system's
 * (Consul's enable_agent_tls_for_checks with ca_file). 0 or CN_ENOMEM. */
int local_set_check_ca_file(struct local *l, const char *path);
/* After the server has recovered: rebuild the local services/checks from this
 * node's catalog entries (re-arming TTL timers with their full TTL), then
 * propose this node's registration (node row + serfHealth, passing, "Agent
 * alive and reachable"). Returns 0, CN_ENOMEM or the srv_propose error; the
 * registration itself completes asynchronously (failures are logged). */
int local_start(struct local *l);
/* Anti-entropy, on demand: remove this node's catalog services and checks the
 * agent does not know (except "consul" and serfHealth), then write this node's
 * registration (node row, serfHealth, the "consul" service) and every local
 * service and check back to the catalog. Consul's agent does this
 * periodically (agent/ae); cairn writes through, so this is needed only after
 * someone changed this node's catalog entries behind the agent's back
 * (PUT /v1/catalog/register or deregister naming this node). Failures are
 * logged. NULL ok. */
void local_resync(struct local *l);
/* Anti-entropy by difference (a client agent, after srv_client_refresh put
 * the server's view of this node in srv_state): deregister this node's
 * catalog services and checks the agent does not hold; re-register the node
 * (with a passing serfHealth) when its row differs or is missing; re-register
 * each service whose catalog copy is missing or differs, or one of whose
 * checks is missing or has another status, output, name or notes (with its
 * checks); the same for node-level checks. Consul's agent/local
 * updateSyncState + syncChanges. Returns the writes started. NULL ok. */
size_t local_sync(struct local *l);
/* Stop the timers and forget everything. Safe before or after srv_close:
 * callbacks of writes still in flight run later and find the local state
 * closing (they then only answer their caller with CN_ESHUTDOWN and free).
 * The memory is released once every timer handle has closed and every
 * in-flight write has called back, so the loop must run afterwards. NULL ok. */
void local_free(struct local *l);

/* ---- mutations ---------------------------------------------------------------
 * Each calls `cb` exactly once, possibly before returning, with rc:
 *   0            done (applied to the catalog);
 *   CN_EINVAL    bad request       -> the caller answers 400 with msg;
 *   CN_ENOTFOUND unknown ID        -> 404 with msg (Consul's text);
 *   other        server failure    -> 500 with msg.
 * msg is valid during the call only (never NULL). */
typedef void (*local_done_cb)(void *arg, int rc, const char *msg);

/* Register (or replace) a service with its checks; takes ownership of *def
 * (it is zeroed). With replace_checks, checks of this service that the new
 * definition does not list are removed (?replace-existing-checks). A check
 * that already exists keeps its current status and output (Consul carries
 * check state over a re-registration). Script checks are refused unless
 * local_set_script_checks enabled them (Consul's default: disabled).
 * HTTP, TCP, script and alias checks run as soon as they are applied (first
 * run after a random stagger within the interval); only a status change, or
 * an output change after 5 minutes, is written. A critical check with
 * DeregisterCriticalServiceAfter removes its service once critical that long. */
void local_add_service(struct local *l, struct local_svc_def *def, bool replace_checks,
                       local_done_cb cb, void *arg);
/* Remove a service and its checks. Unknown ID -> CN_ENOTFOUND. */
void local_remove_service(struct local *l, const char *id, local_done_cb cb, void *arg);
/* Register a check; takes ownership of *chk's strings (it is zeroed). A
 * service_id must name a local service ("ServiceID \"x\" does not exist" -> 500). */
void local_add_check(struct local *l, struct state_check *chk, local_done_cb cb, void *arg);
/* Remove a check. Unknown ID -> CN_ENOTFOUND. */
void local_remove_check(struct local *l, const char *id, local_done_cb cb, void *arg);
/* TTL check update (/agent/check/pass|warn|fail|update): resets the TTL timer
 * and writes the new status/output only if either changed. status must be
 * passing/warning/critical; output is truncated to 4 KiB. Unknown ID ->
 * CN_ENOTFOUND; a check without TTL -> 500 "CheckID \"x\" does not have
 * associated TTL". */
void local_update_ttl(struct local *l, const char *id, const char *status, const char *output,
                      local_done_cb cb, void *arg);
/* Service maintenance: enable adds the critical check
 * "_service_maintenance:<id>" (Notes = reason or Consul's default text);
 * disable removes it. Unknown service -> CN_ENOTFOUND
 * ("No service registered with ID \"x\""). Idempotent. */
void local_service_maintenance(struct local *l, const char *id, bool enable, const char *reason,
                               local_done_cb cb, void *arg);
/* Node maintenance: the critical check "_node_maintenance". Idempotent. */
void local_node_maintenance(struct local *l, bool enable, const char *reason, local_done_cb cb,
                            void *arg);

/* ---- reads (borrowed, valid until the next mutation is applied) ---------------- */
const struct state_service *local_service(const struct local *l, const char *id);
const struct state_check *local_check(const struct local *l, const char *id);
/* In ID order (Go marshals map keys sorted). cb returns nonzero to stop. */
void local_services_foreach(const struct local *l, state_service_cb cb, void *arg);
void local_checks_foreach(const struct local *l, state_check_cb cb, void *arg);
size_t local_service_count(const struct local *l);
size_t local_check_count(const struct local *l);
const char *local_node(const struct local *l);

#endif
