/* api/api_int.h: shared among the api module files only.
 *
 * Every endpoint is a row in a route table. Two kinds of handlers:
 *
 *  - READ handlers are pure functions of the state: they fill a struct
 *    api_read (status, JSON body, X-Consul-Index, and the watch that covers
 *    what they read). The framework (blocking.c) runs them, and for a blocking
 *    query (?index=N, N>0) parks the request on that watch until the result's
 *    index passes N or ?wait runs out, re-running the handler on every wake
 *    (Consul's blockingQuery loop). A read handler may be run many times for
 *    one request: it must not keep state between runs.
 *
 *  - WRITE/OTHER handlers (api_handler_fn) do their own thing and answer with
 *    api_reply_* exactly once, typically after api_propose's callback.
 *
 * Errors are Consul's: plain-text bodies, 400/404/405/413/500, sent by
 * api_error(). */
#ifndef CN_API_INT_H
#define CN_API_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "acl/acl.h"
#include "api/api.h"
#include "base/buf.h"
#include "base/jsonw.h"
#include "filter/filter.h"
#include "state/state.h"

enum api_consistency { API_CONS_DEFAULT = 0, API_CONS_STALE, API_CONS_CONSISTENT };

struct api_acl; /* acl_authz.c */

struct api {
    struct api_acl *acl; /* NULL when ACLs are off */
    uv_loop_t *loop;
    struct srv *srv;
    struct local *local;
    struct api_config cfg;        /* strings owned (copied) */
    uint64_t rng;                 /* xorshift state for query jitter */
    struct api_sess *sess;        /* session_ttl.c */
    struct api_connect *connect;  /* connect_ca.c */
    struct api_remote *remote;    /* remote.c: client agents' requests served here */
    struct api_cache *cache;      /* cache.c; NULL when disabled */
    api_dns_remote_fn dns_remote; /* dns_remote.c: client agents' DNS queries (servers) */
    void *dns_remote_arg;
    struct api_wan wan;           /* other datacenters (forward.c); route NULL: none */
    api_dns_answer_fn dns_answer; /* POST /v1/internal/dns (forward.c) */
    void *dns_arg;
    api_dns_answer_exec_fn dns_answer_exec; /* POST /v1/internal/dns/query (query_failover.c) */
    void *dns_exec_arg;
    struct api_coord *coord;       /* coordinate.c: sending and batching coordinates */
    struct api_acl_repl *acl_repl; /* acl_repl.c: ACL replication; NULL when ACLs are off */
    struct api_svcmgr *svcmgr;     /* svc_config.c: central service configuration */
};

/* ---- client agents (forward.c: on a client; remote.c: on a server) ------ */
/* Paths a client agent answers itself (its own endpoints). */
bool api__client_local(const char *path);
/* Forward req to a server; its answer is sent back as it came. */
void api__forward(struct api *a, struct http_req *req);
/* The node a request speaks for: a client agent's request run here names its
 * node (X-Cairn-Agent-Node, set by the client's forward.c and honoured on
 * virtual requests only), else this agent's. Consul's client agent answers
 * these from its own view: a prepared query's Near "_agent", the event
 * filters of /v1/event/list. */
struct api_ctx;
const char *api__agent_node(struct api_ctx *c);
/* ?dc=: forward req to a server of datacenter dc through the WAN router
 * (answers 500 "No path to datacenter" when there is none). */
void api__forward_dc(struct api *a, struct http_req *req, const char *dc);
/* ?limit= (512..65535, default 512) and ?small_udp of the internal DNS
 * endpoints (forward.c, query.c); false with a 400 answered. */
bool api__dns_params(struct api_ctx *c, uint64_t *limit, bool *small);
/* dns_remote.c: ask other datacenters for a DNS answer (fo: a prepared
 * query's failover, or fo->other_dc: that datacenter's DNS), the request
 * parked meanwhile; the answer relayed as ctype; none: fallback(c) answers
 * (this datacenter's own answer). */
struct api_dns_failover;
void api__dns_ask_other(struct api_ctx *c, const struct api_dns_failover *fo, const char *ctype,
                        void (*fallback)(struct api_ctx *c));
/* May ?dc= name another datacenter on this path (forwarded)? */
bool api__dc_route(const char *path);
struct api_ctx;
/* GET /v1/query/:id/execute with no healthy instance here and a Failover
 * the WAN routes can serve: taken (answered later, query_failover.c);
 * false: the usual read answers. */
bool api__query_failover(struct api_ctx *c);
/* Abort every client request served here; stop serving them. */
void api__remote_free(struct api *a);

struct api_ctx; /* one per request, freed when answered */

struct api_read {
    int status;                /* 200 (default) or 404 */
    struct cn_buf body;        /* response body */
    const char *content_type;  /* default "application/json"; NULL-able for raw */
    const char *extra_headers; /* "Name: value\r\n" lines (static or extra_buf), or NULL */
    char extra_buf[64];        /* room for a computed line (X-Consul-Contenthash) */
    uint64_t index;            /* X-Consul-Index; forced >= 1 */
    /* No X-Consul-Index/KnownLeader/LastContact/Effective-Consistency: the
     * endpoint is not a blocking query in Consul (no setMeta), e.g.
     * /v1/catalog/datacenters. Such a read never parks. */
    bool no_meta;
    /* Park even without ?index (hash-based blocking: the read saw the
     * client's ?hash unchanged); needs the watch set. */
    bool park;
    /* What the result depends on, for blocking. Unset (wt_set false) means the
     * query cannot block (answers immediately). */
    bool wt_set;
    enum state_table wt;
    char *wkey;   /* NULL = any change in wt; owned by the read (cn_free'd) */
    bool wprefix; /* wkey is a KV prefix */
    /* The index is not monotonic (user events: derived from an event ID):
     * a blocking query waits while it equals ?index, not while it is <=. */
    bool index_ne;
    /* The read gave what it gave on its previous run for this request
     * (Consul's errNotChanged, spurious wakeup suppression): a parked query
     * parks again whatever the index. */
    bool unchanged;
};

/* Sets the watch spec; key copied (may be NULL). */
void api_read_watch(struct api_read *r, enum state_table t, const char *key, bool prefix);

typedef void (*api_read_fn)(struct api_ctx *c, struct api_read *r);
typedef void (*api_handler_fn)(struct api_ctx *c);

/* Method bits for a route. */
#define API_GET (1u << HTTP_M_GET)
#define API_PUT (1u << HTTP_M_PUT)
#define API_POST (1u << HTTP_M_POST)
#define API_DELETE (1u << HTTP_M_DELETE)

/* The ACL column of a route (Consul's endpoint docs, "ACL Required"): what
 * a GET (acl_get) and every other method (acl_set) need. API_ACL(res, access,
 * how): how the name checked is found —
 *   ARG:     the path remainder (c->arg): /v1/kv/<key>, /v1/catalog/service/<s>
 *   SELF:    this agent's node name (agent:read on /v1/agent/self)
 *   FIXED:   no name (operator, acl, keyring: single-valued resources)
 *   HANDLER: the handler checks (names in the body, per-item list filtering,
 *            several resources); it must call api_acl_* itself
 * API_ACL_OPEN: anyone (Consul requires nothing: /v1/status/leader). A row
 * with 0 is undeclared: tests/unit/api/test_acl_routes.c fails on it. The
 * router enforces ARG, SELF and FIXED before the handler runs. */
enum api_acl_how { API_ACL_ARG = 1, API_ACL_SELF, API_ACL_FIXED, API_ACL_HANDLER, API_ACL_NOCHECK };
#define API_ACL(res, acc, how) ((uint16_t)((res) | ((acc) << 5) | ((how) << 8)))
#define API_ACL_OPEN API_ACL(ACL_R_NONE, 0, API_ACL_NOCHECK)
#define API_ARG(r, a) API_ACL(ACL_R_##r, ACL_A_##a, API_ACL_ARG)
#define API_SELF(r, a) API_ACL(ACL_R_##r, ACL_A_##a, API_ACL_SELF)
#define API_FIXED(r, a) API_ACL(ACL_R_##r, ACL_A_##a, API_ACL_FIXED)
#define API_HANDLER API_ACL(ACL_R_NONE, 0, API_ACL_HANDLER)
#define API_ACL_RES(d) ((enum acl_res)((d)&31))
#define API_ACL_ACC(d) ((enum acl_access)(((d) >> 5) & 7))
#define API_ACL_HOW(d) ((enum api_acl_how)((d) >> 8))

struct api_route {
    const char *path;      /* "/v1/kv/" */
    bool prefix;           /* true: path is a prefix, the rest is c->arg */
    unsigned methods;      /* allowed methods (405 otherwise) */
    api_read_fn read;      /* GET handler (blocking-capable), or NULL */
    api_handler_fn handle; /* every other method (and GET when read is NULL) */
    uint16_t acl_get;      /* ACL column for GET/HEAD */
    uint16_t acl_set;      /* ACL column for the other methods */
};

/* Route tables, each terminated by a row with path == NULL. */
extern const struct api_route api_kv_routes[];  /* kv.c: /v1/kv/ */
extern const struct api_route api_txn_routes[]; /* txn.c: /v1/txn */
extern const struct api_route
    api_status_routes[]; /* status.c: /v1/status/..., operator raft config */
extern const struct api_route api_catalog_routes[];  /* catalog.c */
extern const struct api_route api_health_routes[];   /* health.c */
extern const struct api_route api_agent_routes[];    /* agent.c (uses local/local.h) */
extern const struct api_route api_operator_routes[]; /* operator.c: raft peers, join, leave */
/* operator_keyring.c: /v1/operator/keyring (gossip keyring queries) */
extern const struct api_route api_keyring_routes[];
/* The entries (Consul's KeyringResponse objects, every field, typed) another
 * datacenter's /v1/internal/keyring answered: 0 and *out (an owned JSON
 * array), or CN_EINVAL. Fuzzed (fuzz_keyring_entries). */
struct json_object;
int api__keyring_entries_parse(const void *body, size_t len, struct json_object **out);
extern const struct api_route api_session_routes[]; /* session.c */

/* coordinate.c: /v1/coordinate/; event.c: /v1/event/; query.c: /v1/query */
extern const struct api_route api_coordinate_routes[];
/* The agent's coordinate sender and a server's batcher (coordinate.c). */
int api__coord_new(struct api *a);
void api__coord_stop(struct api *a);
/* Decode and validate a PUT /v1/coordinate/update body as the endpoint
 * does: 0 with *node, *segment (borrowed from *root, which the caller
 * puts) and *out; else the status (400, 500) with Consul's text in err.
 * For the fuzz target too. */
struct json_object;
struct coord;
/* coordinate.Coordinate's JSON (Vec, Error, Adjustment, Height). */
void api__json_coord(struct cn_jsonw *w, const struct coord *c);
int api__coord_update_decode(const char *body, size_t len, struct json_object **root,
                             const char **node, const char **segment, struct coord *out, char *err,
                             size_t cap);
/* api__near_order (coordinate.c) is declared in api/query.h. */
/* The same over a JSON array being written: api__near_begin after the
 * array's opening (NULL-safe, does nothing without ?near= or a source
 * coordinate), api__near_item around each element (start = buffer length
 * before it, after api_filter_keep), api__near_end before the array closes
 * reorders the elements in the buffer. */
struct api_near;
struct api_near *api__near_begin(struct api_ctx *c, struct cn_jsonw *w);
void api__near_item(struct api_near *nr, const char *node, size_t start);
void api__near_end(struct api_near *nr, struct cn_jsonw *w);
extern const struct api_route api_event_routes[];
extern const struct api_route api_query_routes[];
extern const struct api_route api_wan_routes[];       /* forward.c: /v1/internal/dns */
extern const struct api_route api_intention_routes[]; /* intention.c: /v1/connect/intentions */
/* The intention deciding source => destination in st: the first match in
 * evaluation order, or NULL (the default decides); *err CN_ENOMEM. */
const struct state_intention *api__intention_match(struct state *st, const char *source,
                                                   const char *destination, int *err);
extern const struct api_route api_connect_routes[]; /* connect_ca.c: CA, leaf, authorize */
/* connect_ca.c: the leader's CA duties (initialise the CA when Connect is
 * enabled and there is none) and the agent's leaf certificates. */
int api__connect_new(struct api *a);
/* The cluster's trust domain ("<cluster id>.consul") into out: 0,
 * CN_ENOTFOUND before the leader set the CA up, CN_ECORRUPT. */
int api__connect_trust_domain(struct api *a, char *out, size_t cap);
void api__connect_stop(struct api *a);
void api__connect_free(struct api *a);
/* Decode and validate an intention body (exact_only: the PUT .../exact form)
 * as the endpoints do: 0, CN_EINVAL with Consul's text in err, CN_ENOMEM. For
 * the fuzz target. */
int api__ixn_check_body(const char *body, size_t len, bool exact_only, char *err, size_t cap);
/* "name" or "default/name" (a match entry, ?source=, ?destination=): 0 with
 * *name pointing into in, or CN_EINVAL with the reason. */
int api__ixn_entry_name(const char *in, const char **name, char *err, size_t cap);
/* intention.c's writers, for config_entry.c: Go's time.Time text of ns, and
 * an intention's Meta (its stored JSON text). */
void api__json_go_time(struct cn_jsonw *w, const char *k, int64_t ns);
void api__json_ixn_meta(struct cn_jsonw *w, const char *meta);
/* config_entry.c: /v1/config: service-intentions entries over the
 * intentions, proxy-defaults and service-defaults entries stored
 * (state/config.c, config_defaults.c). */
extern const struct api_route api_config_routes[];
/* discovery_chain.c: GET and POST /v1/discovery-chain/:service (dchain.h). */
extern const struct api_route api_dchain_routes[];
#define API_CONFIG_INTENTIONS "service-intentions"
#define API_CONFIG_PROXY_DEFAULTS "proxy-defaults"
#define API_CONFIG_SERVICE_DEFAULTS "service-defaults"
/* A decoded entry (strings owned): a service-intentions entry's sources, or
 * another kind's canonical JSON (data). */
struct api_config_entry {
    char *kind; /* one of the API_CONFIG_* */
    char *name;
    struct state_ixn_source *src;
    size_t n;
    struct cn_buf data;
};
/* Decode and validate a PUT /v1/config body: 0, CN_EINVAL with the reason
 * (another kind, an unknown key, a field cairn refuses...), CN_ENOMEM. Pure:
 * for the endpoint and the fuzz target. */
int api__config_entry_decode(const char *body, size_t len, struct api_config_entry *e, char *err,
                             size_t cap);
void api__config_entry_clear(struct api_config_entry *e);
/* 0 for a kind cairn has; CN_EINVAL naming a kind cairn lacks or does not
 * know. */
int api__config_kind_check(const char *kind, char *err, size_t cap);
/* config_defaults.c: a proxy-defaults or service-defaults body (o, its Kind
 * checked) into *name (owned) and its canonical JSON appended to canon; 0,
 * CN_EINVAL with Consul's text or cairn's refusal, CN_ENOMEM. Pure. */
struct json_object;
int api__config_defaults_decode(struct json_object *o, const char *kind, char **name,
                                struct cn_buf *canon, char *err, size_t cap);
/* A stored entry as Consul's JSON, with CreateIndex and ModifyIndex. */
void api__config_defaults_json(struct cn_jsonw *w, const struct state_config_entry *e);
/* config_resolve.c (pure): the defaults the entries give a proxy whose
 * destination is service (NULL: none): proxy-defaults' Config, then
 * service-defaults' Protocol, BalanceInboundConnections and
 * LocalConnectTimeoutMs as Config keys. *out: an owned object, or NULL when
 * nothing applies. 0 or CN_ENOMEM. */
int api__config_resolve_defaults(const struct state *st, const char *service,
                                 struct json_object **out);
/* The config an upstream of service gets (ResolveServiceConfig's per-upstream
 * config): {"protocol": its service-defaults' Protocol, else proxy-defaults'
 * Config "protocol"}; *out NULL when neither sets one. 0 or CN_ENOMEM. */
int api__config_resolve_upstream(const struct state *st, const char *service,
                                 struct json_object **out);
/* A registration's Config (JSON text; NULL or "": none) with def's keys added
 * where it has none (MergeServiceConfig: the registration's keys win). *out:
 * an owned JSON text, or NULL when def adds nothing to merge (own stands).
 * 0 or CN_ENOMEM. */
int api__config_merge(const char *own, const struct json_object *def, char **out);
/* The effective Proxy.Config of s (a connect-proxy), the resolved defaults
 * of its destination merged under its own keys, and each upstream's Config,
 * its resolved upstream config merged under its own (out->config, out->ups[i]
 * as api__config_merge: NULL where the registration's own stands; all NULL
 * when s is not a proxy). 0 or CN_ENOMEM (out partly filled: the caller
 * frees it). */
struct local_merged;
int api__config_resolve_proxy(const struct state *st, const struct state_service *s,
                              struct local_merged *out);
/* What GET /v1/internal/cairn/service-config/:service answers:
 * {"ProxyConfig":{..},"UpstreamConfig":{..}} (each {} when empty). 0 or
 * CN_ENOMEM. */
int api__config_resolve_json(const struct state *st, const char *service, struct cn_jsonw *w);
/* svc_config.c: the agent's service manager: what the agent writes to the
 * catalog for its connect-proxies (local_set_merge), re-merged when the
 * entries change (servers) or the resolved configuration a client agent
 * follows on its servers changes. */
int api__svcmgr_new(struct api *a);
void api__svcmgr_stop(struct api *a);
/* A client agent's registration of a connect-proxy (or of a service with a
 * sidecar) whose destination's configuration it has not resolved yet: the
 * request is parked, the servers asked, and then go(c, def, replace) runs
 * (with the configuration, or without it when no server answered). True
 * when it took *def (zeroed); false: register at once. */
struct local_svc_def;
typedef void (*api_svcmgr_go)(struct api_ctx *c, struct local_svc_def *def, bool replace);
bool api__svcmgr_before_register(struct api_ctx *c, struct local_svc_def *def, bool replace,
                                 api_svcmgr_go go);
extern const struct api_route api_svccfg_routes[]; /* svc_config.c: the internal endpoint */
/* A client agent's reading of a server's answer to that endpoint: 0 and *out
 * (its ProxyConfig, an owned object; NULL when empty) and *ups (its
 * UpstreamConfig, likewise), or CN_EINVAL (not an object with both objects).
 * Pure; fuzzed (fuzz_svccfg_answer). */
int api__svccfg_answer_parse(const void *body, size_t len, struct json_object **out,
                             struct json_object **ups);
extern const struct api_route api_snapshot_routes[]; /* snapshot.c: /v1/snapshot */
extern const struct api_route api_monitor_routes[];  /* monitor.c: /v1/agent/monitor */
/* metrics.c: /v1/agent/metrics */
extern const struct api_route api_metrics_routes[];

/* ---- metrics (metrics.c) ---------------------------------------------------
 * Tag a routed request for consul.api.http (a no-op with metrics off); record
 * a tagged request as it is answered; record a write's apply time by route. */
void api__metrics_tag(struct http_req *req, const struct api_route *r);
void api__metrics_observe(struct http_req *req);
struct api_ctx;
void api__metrics_applied(struct api_ctx *c);
extern const struct api_route api_acl_routes[]; /* acl.c: /v1/acl/..., /v1/agent/token/ */
/* Every route table, NULL-terminated (router.c), for the route checks. */
extern const struct api_route *const api__route_tables[];
/* ui_internal.c: /v1/internal/ui/services and /nodes (the web UI's lists) */
extern const struct api_route api_ui_routes[];
extern const struct api_route api_dns_remote_routes[]; /* dns_remote.c */

/* A random UUID (36 chars + NUL) into out (cap >= 37): 0 or CN_EIO
 * (session.c). */
int api__uuid(char *out, size_t cap);
/* Consul's uuidToUint64 (event.c): a user event ID folded to the 64-bit
 * index /v1/event/list reports. */
uint64_t api__event_index(const char *id);

/* ---- sessions (session_ttl.c) ----------------------------------------------- */
/* The leader's TTL clocks and the lock-delay clock; NULL-safe when absent. */
int api__sess_new(struct api *a);
void api__sess_free(struct api *a);
/* A renewal answered by this server (the leader): restart v's clock. */
void api__sess_renewed(struct api *a, const struct state_session *v);
/* Milliseconds of lock-delay left for key (0: none). */
uint64_t api__sess_lock_delay_ms(struct api *a, const char *key);

/* This request's ACL view, resolved by the router before any handler runs
 * when ACLs are on (all zero when off). Anything that caches answers across
 * requests (encoded discovery answers) must key on it or bypass it: an
 * answer built for one token may show what another may not see. `authz`
 * NULL means ACLs are off: everything allowed. */
struct api_acl_view {
    struct acl_authz *authz; /* a reference, dropped with the ctx */
    char accessor[40];       /* the token's AccessorID (never its secret) */
    bool filtered;           /* a list dropped items: X-Consul-Results-Filtered-By-ACLs */
};

struct api_ctx {
    struct api *api;
    struct http_req *req;
    struct api_acl_view acl;
    const struct api_route *route;
    const char *arg; /* path remainder after a prefix route ("" if none), decoded */
    /* common query parameters, parsed by the router */
    uint64_t min_index; /* ?index */
    uint64_t wait_ms;   /* ?wait, clamped, 0 if absent */
    enum api_consistency cons;
    bool pretty;
    bool cached; /* ?cached (agent caching; answered as a cache miss) */
    /* blocking state (blocking.c) */
    struct srv_watch watch;
    uint64_t deadline_ms;
    void *user; /* handler scratch (owned and freed by the handler) */
    /* When set, frees `user` if the ctx is freed with it still set (a write
     * that failed before its done callback ran: no leader, shutdown). */
    void (*user_free)(void *);
    /* continuation of api_propose */
    void (*propose_done)(struct api_ctx *c, int rc, const struct state_result *res);
    bool timed_out;      /* blocking: the wait ran out; answer whatever the read gives */
    uint64_t propose_ns; /* api_propose's start (metrics: kvs.apply, ...) */
};

/* ---- query parameters (http_req_param wrappers) ---------------------------- */
/* Presence-based boolean, Consul style: absent -> false; "?x", "?x=" -> true;
 * otherwise Go's strconv.ParseBool ("1","t","T","true","TRUE","True" /
 * "0","f",...). Returns 0/1, or -1 for garbage (caller answers 400). */
int api_flag(struct api_ctx *c, const char *name);
/* Value of ?name or NULL. */
const char *api_param(struct api_ctx *c, const char *name);
/* Unsigned integer parameter: 0 absent, 1 ok, -1 invalid. */
int api_param_u64(struct api_ctx *c, const char *name, uint64_t *out);

/* ---- replies (each frees the ctx; call exactly once) --------------------- */
/* http_respond with the headers Consul puts on every answer
 * (X-Consul-Default-Acl-Policy) before hdrs. Does not touch any ctx. */
void api_respond_raw(struct http_req *req, int status, const char *ctype, const char *hdrs,
                     size_t hlen, const void *body, size_t len);
/* api_respond_raw with a's X-Consul-Default-Acl-Policy (after the ctx is
 * gone). */
void api__respond_api(const struct api *a, struct http_req *req, int status, const char *ctype,
                      const void *body, size_t len);
/* Plain-text error, Consul style. */
void api_error(struct api_ctx *c, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* 200 with a JSON body (application/json), with no index headers (writes). */
void api_reply_json(struct api_ctx *c, int status, const struct cn_buf *body);
/* A body of any content type (copied). */
void api_reply_raw(struct api_ctx *c, int status, const char *ctype, const void *body, size_t len);
/* Convenience for the literal `true`/`false` answers of writes. */
void api_reply_bool(struct api_ctx *c, bool v);
/* 200 with an empty body. */
void api_reply_empty(struct api_ctx *c);
/* Free the ctx without answering: the caller took the request over (a
 * streamed answer, api/snapshot.c). */
void api__ctx_detach(struct api_ctx *c);
/* A read answer with X-Consul-Index/KnownLeader/LastContact/
 * Effective-Consistency headers (used by blocking.c; also by non-blocking
 * reads that still want the headers). */
void api_reply_read(struct api_ctx *c, struct api_read *r);
/* Turn a read into a plain-text error: body = msg, status (for a read
 * handler to return; api_reply_read sends it). */
void api_read_error(struct api_read *r, int status, const char *msg);

/* Pretty-aware JSON writer on a buffer. */
void api_jsonw(struct api_ctx *c, struct cn_jsonw *w, struct cn_buf *b);
/* Finish an answer written with api_jsonw: 500 "out of memory" if the writer
 * failed, else `status` with the JSON body. Frees b either way. */
void api_reply_jsonw(struct api_ctx *c, int status, const struct cn_jsonw *w, struct cn_buf *b);

/* ---- writes --------------------------------------------------------------- */
/* Propose an encoded command; `done` runs once on the loop thread with the
 * state_apply outcome (rc) and result. If the client has gone away meanwhile,
 * done still runs (reply functions then just free). On CN_EIO/CN_ESHUTDOWN
 * the framework answers 500 itself and `done` is not called. */
typedef void (*api_done_fn)(struct api_ctx *c, int rc, const struct state_result *res);
void api_propose(struct api_ctx *c, struct cn_buf *cmd, api_done_fn done);
/* api_propose if encoding the command succeeded (rc == 0), else answer 500
 * with cn_strerror(rc). Frees cmd either way. */
void api_propose_rc(struct api_ctx *c, int rc, struct cn_buf *cmd, api_done_fn done);

/* ---- shared JSON encoders (encode.c) -------------------------------------- */
void api_json_kv(struct cn_jsonw *w, const struct state_kv *kv);
void api_json_kv_copy(struct cn_jsonw *w, const struct state_kv_copy *kv);
void api_json_node(struct cn_jsonw *w, const struct state_node *n, const char *dc);
/* NodeService shape (structs.NodeService, as /v1/health/service and
 * /v1/catalog/node/:node send it): Kind, ID, Service, Tags, Address,
 * TaggedAddresses, Meta, Port, Weights, EnableTagOverride, Proxy, Connect,
 * CreateIndex, ModifyIndex. dc is unused (NodeService has no Datacenter). */
void api_json_service(struct cn_jsonw *w, const struct state_service *svc, const char *dc);
/* HealthCheck shape; svc_tags from the owning service (may be NULL). */
void api_json_check(struct cn_jsonw *w, const struct state_check *chk,
                    const struct state_service *svc);
void api_json_map(struct cn_jsonw *w, const struct state_map *m);
/* AgentService shape of /v1/agent/services and /v1/agent/service/:id
 * (agent_endpoint.go buildAgentService): no Raft indexes, Datacenter;
 * content_hash (may be NULL) is /v1/agent/service/:id's ContentHash. */
void api_json_agent_service(struct cn_jsonw *w, const struct state_service *svc, const char *dc,
                            const char *content_hash);
/* A service's TaggedAddresses as {"name":{"Address","Port"}}. */
void api_json_taddrs(struct cn_jsonw *w, const struct state_service *svc);
/* Connect: structs.ConnectProxyConfig and structs.ServiceConnect of svc. */
void api_json_proxy(struct cn_jsonw *w, const struct state_service *svc);
void api_json_connect(struct cn_jsonw *w, const struct state_service *svc);
bool api_service_is_proxy(const struct state_service *svc);

/* ---- ?filter= (filter.c) -------------------------------------------------- */
/* Selector schemas, one per item type (Consul's struct of each endpoint). */
extern const struct filter_field api_filter_node[];               /* structs.Node */
extern const struct filter_field api_filter_service[];            /* NodeService, AgentService */
extern const struct filter_field api_filter_service_node[];       /* structs.ServiceNode */
extern const struct filter_field api_filter_check[];              /* structs.HealthCheck */
extern const struct filter_field api_filter_check_service_node[]; /* CheckServiceNode */
/* Compile ?filter= against schema: 0 with *out (NULL when there is no
 * filter), or -1 with r set to Consul's 400 (500 on OOM). *out is the
 * caller's (filter_free). */
int api_filter_open(struct api_ctx *c, const struct filter_field *schema, struct filter **out,
                    struct api_read *r);
/* Filtering items as they are written: mark the writer before an item (its
 * key, for a map), write it, then api_filter_keep(value_at = the buffer
 * length where its value starts) rolls the writer back to the mark when the
 * item does not match. f NULL keeps everything. */
struct api_fmark {
    size_t len;
    uint8_t comma, after_key;
};
void api_filter_mark(const struct cn_jsonw *w, struct api_fmark *m);
bool api_filter_keep(const struct filter *f, struct cn_jsonw *w, const struct api_fmark *m,
                     size_t value_at);
/* Does the JSON value in p[0..n) (leading separators skipped) match f? */
bool api_filter_test(const struct filter *f, const char *p, size_t n);

/* ---- host facts (host.c) ------------------------------------------------ */
/* /v1/agent/host's HostInfo (gopsutil shapes: Memory, CPU, Host, Disk,
 * CollectionTime, Errors) read from /proc, uname and statvfs. */
void api__host_json(struct cn_jsonw *w);
const char *api__host_arch(void);
uint64_t api__host_ncpu(void);

/* ---- ACL checks (acl_authz.c) ----------------------------------------------- */
/* May this request have `a` on (r, name)? True when ACLs are off. */
static inline bool api_acl_ok(const struct api_ctx *c, enum acl_res r, const char *name,
                              enum acl_access a)
{
    return !c->acl.authz || acl_allowed(c->acl.authz, r, name, a);
}
/* Check; when denied answer 403 with Consul's text and return false. */
bool api_acl_require(struct api_ctx *c, enum acl_res r, const char *name, enum acl_access a);
/* What no rule decides: true with ACLs off or default_policy "allow" (also
 * the intentions' default, as Consul's IntentionDefaultAllow). */
bool api_acl_default_allow(const struct api *a);
/* The same for a read handler: fills r with the 403. */
bool api_acl_read_require(struct api_ctx *c, struct api_read *r, enum acl_res res, const char *name,
                          enum acl_access a);
/* Consul's "Permission denied: ..." text for a denial into buf. */
void api_acl_denied_text(const struct api_ctx *c, enum acl_res r, const char *name,
                         enum acl_access a, char *buf, size_t cap);
/* A list item check that records the drop (X-Consul-Results-Filtered-By-ACLs). */
static inline bool api_acl_keep(struct api_ctx *c, enum acl_res r, const char *name)
{
    if (api_acl_ok(c, r, name, ACL_A_READ))
        return true;
    c->acl.filtered = true;
    return false;
}
/* Router: resolve the token and enforce the route's column; false when it
 * answered (403, or 403 "ACL not found") or, on a client agent, parked the
 * request to resolve the token through a server (it then goes on with
 * api__route_run itself). */
bool api__acl_enter(struct api_ctx *c);
/* The route's read or handler, once the ACL check passed (router.c). */
void api__route_run(struct api_ctx *c);
/* GET /v1/internal/acl/resolve (cairn's own): the request's token as a
 * client agent compiles it — AccessorID, ExpirationTime (unix ns, 0 =
 * never), Management, and the Rules of every policy that applies here. */
void api__acl_h_resolve(struct api_ctx *c);
/* Free a ctx (its watch, user data, ACL reference); every path that frees a
 * ctx goes through it. */
void api__ctx_free(struct api_ctx *c);
int api__acl_new(struct api *a);
void api__acl_stop(struct api *a);
void api__acl_free(struct api *a);
/* Token text of the request (X-Consul-Token, Authorization: Bearer, ?token=),
 * or NULL. */
const char *api__acl_token_of(struct api_ctx *c);
/* Resolve a secret (NULL/"" = the default token, else anonymous) to a
 * referenced authorizer. 0, CN_ENOTFOUND (unknown or expired), CN_ENOMEM. */
int api__acl_resolve(struct api *a, const char *secret, struct acl_authz **z, char *accessor,
                     size_t cap);
/* /v1/agent/token/:type: set (and persist) a token; CN_ENOTFOUND for an
 * unknown type. */
int api__acl_set_agent_token(struct api *a, const char *type, const char *tok);
/* tokens.agent (as set now), or NULL: a client agent's own requests. */
const char *api__acl_agent_token(const struct api *a);
/* The leader's builtins (acl.c): which 0 = global-management policy, 1 =
 * anonymous token, 2 = initial management token with `secret` (a BOOTSTRAP
 * when never bootstrapped). */
int api__acl_builtin_cmd(struct api *a, int which, const char *secret, struct cn_buf *cmd);
/* acl.token_min_expiration_ttl / token_max_expiration_ttl. */
void api__acl_ttl_bounds(const struct api *a, int64_t *min_ns, int64_t *max_ns);
/* "X-Consul-Default-Acl-Policy: allow|deny\r\n" */
const char *api__acl_policy_hdr(const struct api *a);
/* ---- ACL replication between datacenters (acl_repl.c) ---- */
struct api_acl_repl;
/* Made and stopped by api__acl_new / api__acl_stop. */
int api__acl_repl_new(struct api *a, const struct api_acl_config *cfg);
void api__acl_repl_stop(struct api *a);
/* This server is in a secondary datacenter (primary_datacenter names
 * another one). */
bool api__acl_secondary(const struct api *a);
/* A secondary's server that resolves tokens by asking the primary (token
 * replication off, or not run yet): acl_authz.c. */
bool api__acl_remote_mode(struct api *a);
/* acl.tokens.replication as set now (config, PUT /v1/agent/token/replication,
 * or the persisted file), or NULL. */
const char *api__acl_replication_token(const struct api *a);
/* acl.enable_token_replication (in a secondary). */
bool api__acl_repl_tokens(const struct api *a);
/* The route to a server of the primary datacenter: 0 and *to, or an error
 * (not a secondary, no route now). */
int api__acl_primary_route(struct api *a, struct srv **to);
/* Router, after the common parameters: in a secondary, a write of a
 * policy, role or global token (and bootstrap) is forwarded to the primary
 * datacenter; true when it was (c is then freed). */
bool api__acl_repl_forward(struct api_ctx *c);
/* GET /v1/internal/acl/replicate (what a secondary copies) and GET
 * /v1/acl/replication (the status). */
void api__acl_r_replicate(struct api_ctx *c, struct api_read *r);
void api__acl_h_replication(struct api_ctx *c);
/* Builtins (acl_objs.c). */
#define API_ACL_GM_ID "00000000-0000-0000-0000-000000000001"
#define API_ACL_ANON_ID "00000000-0000-0000-0000-000000000002"
/* ---- encoded answers (cache.c) ------------------------------------------- */
#define API_CACHE_KEY_MAX 2048 /* longer keys are not cached */
struct api_cache_key {
    char buf[API_CACHE_KEY_MAX];
    size_t len;
    uint64_t hash;
    bool ok; /* a miss that api__cache_store may fill */
};
struct api_cache_hit { /* borrowed from the cache: valid until the next change */
    const char *body;
    size_t len;
    uint64_t index;
    enum state_table wt;
    const char *wkey;
    bool wprefix;
    void *ent; /* for api__cache_hold */
};
/* Keep a hit's body alive past the next change (one reference); the
 * returned function drops it: http_respond_ref's release. */
void api__cache_hold(void *ent);
void api__cache_release(void *ent);
int api__cache_new(struct api *a, size_t cap_bytes); /* cap 0: no cache */
void api__cache_free(struct api *a);
/* May this request be answered from the cache (and fill it)? The one place
 * ACL filtering plugs in (see cache.c). */
bool api__cache_allowed(const struct api_ctx *c);
/* Hit: h filled, true. Miss: key filled for api__cache_store. */
bool api__cache_get(struct api_ctx *c, struct api_cache_key *key, struct api_cache_hit *h);
/* Keep r's answer under key (a no-op unless key->ok and r qualifies). */
void api__cache_store(struct api_ctx *c, const struct api_cache_key *key, const struct api_read *r);
/* CAIRN_HTTP_CACHE_CHECK (tests): every hit is compared with a fresh read. */
bool api__cache_checking(const struct api *a);
void api__cache_mismatch(struct api_ctx *c);
/* api_reply_read with a borrowed body (r->body unused and left alone);
 * release(arg) (may be NULL) once the body is no longer needed
 * (http_respond_ref). */
void api__reply_read_bytes(struct api_ctx *c, const struct api_read *r, const char *body,
                           size_t len, void (*release)(void *), void *arg);
void api__respond_raw_ref(struct http_req *req, int status, const char *ctype, const char *hdrs,
                          size_t hlen, const void *body, size_t len, void (*release)(void *),
                          void *arg);

/* ---- blocking framework (blocking.c) -------------------------------------- */
void api_run_read(struct api_ctx *c);

#endif
