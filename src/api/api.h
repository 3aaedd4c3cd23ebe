/* api/api.h: Consul-compatible HTTP endpoints (/v1/...). JSON in and out,
 * query parameters, consistency modes, blocking queries, Consul's error codes.
 * Sits on top of http/ (transport) and server/ (state + write path); never
 * reaches into storage or raft internals. */
#ifndef CN_API_H
#define CN_API_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "coord/coord.h"
#include "http/http.h"
#include "server/server.h"

struct api;
struct local;

/* Called once the server has left the cluster through PUT /v1/agent/leave,
 * right after the 200 answer is queued (it still has to be written). */
typedef void (*api_leave_cb)(void *arg);
/* PUT /v1/agent/reload: re-read the configuration files. Returns 0, or an
 * error with the message (every problem found) in err; the running
 * configuration is then untouched. */
typedef int (*api_reload_cb)(void *arg, char *err, size_t errcap);

/* Every request header api/ reads (http_options.keep_headers: a complete
 * request keeps only the headers its handlers read): the token
 * (acl_authz.c, query_failover.c), namespace and partition (router.c),
 * what a client agent forwards (forward.c), the client's node on a server
 * (remote.c), Accept (metrics.c). A new http_req_header name goes here:
 * debug builds abort on a name missing from the list. */
#define API_HTTP_HEADERS                                                                           \
    "X-Consul-Token", "Authorization", "X-Consul-Namespace", "X-Consul-Partition", "Content-Type", \
        "Cache-Control", "X-Consul-Index", "X-Cairn-Agent-Node", "Accept"

/* PUT /v1/snapshot carries a whole archive in its body (api/snapshot.c). */
#define API_SNAPSHOT_PATH "/v1/snapshot"
#define API_SNAPSHOT_MAX_BODY ((size_t)4 << 30)
struct gossip_net;
/* Consul's `acl { ... }` block (agent/config). Strings may be NULL. */
struct api_acl_config {
    bool enabled;
    bool default_deny;       /* default_policy = "deny" */
    const char *down_policy; /* a client agent's tokens when no server answers (acl_authz.c) */
    int64_t token_ttl_ns;    /* a client agent's resolved tokens: 0 = Consul's 30 s */
    bool token_persistence;  /* enable_token_persistence: /v1/agent/token writes to data_dir */
    const char *data_dir;    /* where acl-tokens.json lives (persistence) */
    const char *initial_management;             /* tokens.initial_management (SecretID) */
    const char *agent_token;                    /* tokens.agent */
    const char *default_token;                  /* tokens.default */
    const char *agent_recovery;                 /* tokens.agent_recovery */
    int64_t token_min_ttl_ns, token_max_ttl_ns; /* 0: Consul's 1m and 24h */
    /* Replication (api/acl_repl.c): the authoritative datacenter ("" or this
     * one: this is the primary), the token a secondary's leader replicates
     * with, and whether global tokens are replicated too. */
    const char *primary_datacenter;
    const char *replication_token;
    bool token_replication;
};

struct api_config {
    const char *node_name;      /* this agent's node */
    const char *node_id;        /* UUID */
    const char *datacenter;     /* "dc1" */
    const char *advertise_addr; /* node address, e.g. "127.0.0.1" */
    int server_port;            /* raft/server RPC port, for /status/leader (8300) */
    int serf_lan_port;          /* for /agent/members (8301) */
    const char *version;
    uint64_t kv_max_value_size; /* 0 = 512 KiB */
    uint64_t txn_max_req_len;   /* 0 = 512 KiB */
    uint64_t default_query_ms;  /* 0 = 5 min */
    uint64_t max_query_ms;      /* 0 = 10 min */
    const char *config_json;    /* the effective config, for /agent/self (may be NULL) */
    /* Consul's agent shuts down after a graceful leave: the owner of the API
     * stops itself from here (NULL: nothing happens after the answer). */
    api_leave_cb on_leave;
    void *on_leave_arg;
    /* connect.enabled: this server initialises and serves the built-in CA,
     * this agent issues leaf certificates (Consul: off unless -dev). */
    bool connect_enabled;
    /* connect.test_only_min_leaf_cert_ttl (cairn-only, for tests): the
     * shortest LeafCertTTL the CA configuration accepts; 0: Consul's 1h. */
    int64_t connect_min_leaf_ttl_s;
    api_reload_cb on_reload; /* NULL: /v1/agent/reload answers 500 */
    void *on_reload_arg;
    /* The LAN gossip pool (gossip/net.h): /v1/agent/members, join and
     * force-leave act on it. NULL (gossip disabled): members lists this agent. */
    struct gossip_net *gossip;
    struct api_acl_config acl;
    /* Bytes of encoded catalog/health answers kept (api/cache.c); 0: no
     * cache. */
    uint64_t http_cache_bytes;
    /* Network coordinates (api/coordinate.c): the agent sends its gossip
     * coordinate every max(sync_interval_min_ms, members / rate) plus a
     * random stagger (Consul's sendCoordinate); a server writes what it
     * received to the log every update_period_ms (Consul's batchUpdate).
     * Zeros: Consul's 15 s, 64/s, 5 s. disabled: 401 on /v1/coordinate/. */
    struct {
        bool disabled;
        uint64_t sync_interval_min_ms;
        uint64_t sync_rate_target;
        uint64_t update_period_ms;
    } coord;
};

/* Build the API. Strings in cfg are copied. local may be NULL in unit tests
 * (agent endpoints then answer 500). */
int api_new(uv_loop_t *loop, struct srv *srv, struct local *local, const struct api_config *cfg,
            struct api **out);
void api_free(struct api *a);
/* Replace the effective configuration shown by /v1/agent/self (copied), after
 * a reload. Returns 0 or CN_ENOMEM (the old one kept). */
int api_set_config_json(struct api *a, const char *config_json);
/* Stop the API's own timers and watches (the leader's session TTL clocks):
 * call before srv_close. Requests are not served any more after it. */
void api_stop(struct api *a);
/* On a server: serve client agents' API requests (api/remote.c) through
 * this API. 0 or CN_ENOMEM. */
int api_serve_clients(struct api *a);
/* Client requests being served now (parked blocking queries included). */
size_t api_remote_count(const struct api *a);
/* The cache of encoded answers (api/cache.c): counters since start. */
struct api_cache_stats {
    uint64_t entries, bytes, cap_bytes; /* now: answers kept, their bytes, the cap */
    uint64_t hits, misses;              /* lookups of cacheable requests */
    uint64_t stores;                    /* answers encoded and kept */
    uint64_t evictions;                 /* dropped for room (LRU) */
    uint64_t invalidations;             /* dropped because what they read changed */
    uint64_t mismatches;                /* CAIRN_HTTP_CACHE_CHECK: hits that differed */
};
void api_cache_stats(const struct api *a, struct api_cache_stats *out);
/* ---- other datacenters (WAN federation; the agent's agent/wan.c) -------------
 * A request with ?dc= naming another datacenter, on an endpoint that goes
 * through a datacenter's servers (catalog, health, KV, sessions, txn,
 * prepared queries, events, coordinates; not /v1/agent/...), is forwarded
 * whole (api/forward.c, as a client agent's) through the srv `route` gives;
 * without a router every other datacenter has no path (500). */
#define API_DC_MAX 64 /* a datacenter name's bytes, NUL included */
struct api_coord_server;
struct api_wan {
    /* The srv (client mode) reaching `dc`: 0 and *out, or CN_ENOTFOUND (an
     * unknown datacenter, or none of its servers alive in the WAN pool),
     * CN_EAGAIN (its servers were unreachable at the last try and none is
     * connected since). */
    int (*route)(void *arg, const char *dc, struct srv **out);
    /* The outcome of a forwarded request: 0 (answered), CN_EAGAIN (no server
     * of dc took it), CN_EIO (lost in flight). */
    void (*report)(void *arg, const char *dc, int rc);
    /* Known datacenters, local first, then in wan_datacenters() order; the
     * count (may exceed cap). */
    size_t (*datacenters)(void *arg, char (*out)[API_DC_MAX], size_t cap);
    /* The WAN coordinates of datacenter dc's servers (not left, coordinate
     * known; node names without ".dc"), sorted by node; the count (may
     * exceed cap). /v1/coordinate/datacenters. */
    size_t (*dc_coords)(void *arg, const char *dc, struct api_coord_server *out, size_t cap);
    /* A DNS query (as a client sent it) answered by datacenter dc's DNS
     * interface (as dns_dc_remote_fn: 0 and *handle then done exactly once
     * unless cancelled; CN_ENOTFOUND: no such datacenter; another code: a
     * failure). A client agent's name of another datacenter. */
    int (*dns_remote)(void *arg, const char *dc, const uint8_t *q, size_t len, size_t limit,
                      bool small_udp, void (*done)(void *ctx, int rc, const uint8_t *ans, size_t n),
                      void *ctx, uint64_t *handle);
    void (*dns_cancel)(void *arg, uint64_t handle);
    void *arg;
    struct gossip_net *gossip; /* the WAN pool: members ?wan, join ?wan, force-leave ?wan */
};
/* Install the router (copied; NULL: none). */
void api_set_wan(struct api *a, const struct api_wan *w);
/* POST /v1/internal/dns (another datacenter's DNS interface asking this
 * one, agent/wan.c): fn answers a raw query from this server's DNS
 * interface (dns_server_answer); NULL: 404-like refusal. With fo (NULL:
 * none), a prepared query of this datacenter with a Failover and no
 * instance here returns 0 with fo->key set (its name or ID): the handler
 * runs the failover as this server's own DNS would (Consul executes
 * NAME.query.DC in that datacenter, failover included). */
struct api_dns_failover;
typedef size_t (*api_dns_answer_fn)(void *arg, const uint8_t *q, size_t len, size_t limit,
                                    bool small_udp, char *fo_key, size_t fo_cap, uint8_t *out,
                                    size_t cap);
void api_set_dns_answer(struct api *a, api_dns_answer_fn fn, void *arg);

/* Prepared-query failover for DNS (api/query_failover.c).
 * POST /v1/internal/dns/query?limit=N[&small_udp=1]&msg=HEX, body a
 * definition in the stored form: another datacenter's DNS failover; fn
 * answers the query message msg from this server's DNS interface with
 * prepared queries executed by run(run_arg, st, x) (x's inputs set by fn:
 * agent node, rng; run fills the outputs as api_query_execute does), as
 * dns_server_answer_exec. */
struct api_query_exec;
typedef int (*api_pq_run_fn)(void *run_arg, const struct state *st, struct api_query_exec *x);
typedef size_t (*api_dns_answer_exec_fn)(void *arg, const uint8_t *q, size_t len, size_t limit,
                                         bool small_udp, api_pq_run_fn run, void *run_arg,
                                         uint8_t *out, size_t cap);
void api_set_dns_answer_exec(struct api *a, api_dns_answer_exec_fn fn, void *arg);
/* Does prepared query `query_id` fail over to another datacenter (a
 * Failover with NearestN or Datacenters, and this server has WAN routes)? */
bool api_query_fails_over(struct api *a, const struct state *st, const char *query_id);
/* The local DNS found no instance for prepared query name_or_id: try its
 * Failover datacenters in Consul's order (as GET /v1/query/:id/execute),
 * sending each the DNS message q with the rendered definition over its WAN
 * route; done(ctx, 0, answer, n) with the first answer that is not
 * NXDOMAIN, done(ctx, CN_ENOTFOUND, NULL, 0) when none has instances
 * (possibly before this returns, after *handle is set). Returns 0, or
 * CN_ENOTFOUND at once (nothing to try), or another code. token: the
 * client agent's (its default token), NULL: this agent's default token
 * (Consul's DNS reads with it). */
int api_query_failover_dns(struct api *a, const char *name_or_id, const uint8_t *q, size_t len,
                           size_t limit, bool small_udp, const char *token,
                           void (*done)(void *ctx, int rc, const uint8_t *answer, size_t n),
                           void *ctx, uint64_t *handle);
/* Stop one in flight (done is never called). */
void api_query_failover_dns_cancel(struct api *a, uint64_t handle);

/* This datacenter's servers with a coordinate in the catalog (their LAN
 * coordinates, segment ""), sorted by node name: what
 * /v1/coordinate/datacenters lists for the local datacenter, for a WAN
 * pool to use. Returns how many (may exceed cap: then cap were written);
 * 0 on a client agent. */
struct api_coord_server {
    char node[129];
    struct coord c;
};
size_t api_coord_local_servers(struct api *a, struct api_coord_server *out, size_t cap);
/* The http_handler_cb: pass `api` as handler_arg. */
void api_handle(void *api, struct http_req *req);

/* ---- ACLs for the agent's own writes and DNS (api/acl_authz.c) -------------
 * With ACLs on: may the agent token (acl.tokens.agent, else default, else
 * anonymous) write node `node`'s registration, or (svc non-NULL) service
 * `svc`? *accessor (may be NULL) gets the token's AccessorID for a log line.
 * True when ACLs are off. */
bool api_acl_agent_may(struct api *a, const char *node, const char *svc, char *accessor,
                       size_t cap);
/* May the DNS interface (the default token) read service or node `name`
 * (is_node)? True when ACLs are off. */
bool api_acl_dns_may(struct api *a, bool is_node, const char *name);
/* acl.tokens.default as set now (config or PUT /v1/agent/token/default), or
 * NULL (none, or ACLs off). Borrowed until the next token change. */
const char *api_acl_default_token(const struct api *a);
/* The same with token `secret` (NULL or "": the default token): a client
 * agent's DNS query resolved here carries the client's default token. */
bool api_acl_dns_may_as(struct api *a, const char *secret, bool is_node, const char *name);

#define API_DNS_QUERY_MAX 1024 /* the longest DNS query message a failover sends (bytes) */

/* ---- client agents' DNS queries (api/dns_remote.c) ----------------------------
 * On a server: POST /v1/internal/cairn/dns (a client agent's DNS query, sent
 * by its dns/remote.c through the client-agent RPC) is answered by fn(arg,
 * token, body, len, out, err, errcap): 0 with the answer message in out
 * (200, application/dns-message), 1 when the name is for the client's
 * recursors (204), CN_EINVAL (400 with err) or another error (500). Without
 * fn (a client agent) the path is 404. */
struct cn_buf;
/* fo (NULL: none) asks for prepared-query failover: fn returns 2 with fo
 * filled when a query with a Failover has no instance here; the handler
 * then runs api_query_failover_dns with it, and when no datacenter has
 * instances calls fn again with fo NULL (this datacenter's answer). fo also
 * asks for names of other datacenters: fn returns 3 with fo filled
 * (other_dc, key the datacenter); the handler asks that datacenter over the
 * WAN route (api_wan.dns_remote); no such datacenter: fn again with fo
 * NULL (NXDOMAIN); a failure: 500 (the client answers SERVFAIL). */
struct api_dns_failover {
    bool other_dc; /* key is a datacenter (fn returned 3), not a query */
    char key[256];
    uint8_t q[API_DNS_QUERY_MAX];
    size_t qlen, limit;
    bool small_udp;
};
typedef int (*api_dns_remote_fn)(void *arg, const char *token, const void *body, size_t len,
                                 struct api_dns_failover *fo, struct cn_buf *out, char *err,
                                 size_t errcap);
void api_set_dns_remote(struct api *a, api_dns_remote_fn fn, void *arg);

/* ---- prepared queries, for the DNS interface (NAME.query.consul) -------------
 * Execute prepared query `name_or_id` (an ID, a query's exact name, or a name
 * a name_prefix_match template matches: longest prefix wins) against st, as
 * GET /v1/query/:id/execute does (api/query_exec.c): instances of the query's
 * service with no critical check (no non-passing one with OnlyPassing; checks
 * in IgnoreCheckIDs ignored), matching NodeMeta, ServiceMeta and Tags ("!t"
 * excludes), shuffled, the `near` node (or the query's Near; "_agent" = this
 * agent's node) moved first when among the first ten, then cut to `limit`
 * (0 = all). */
struct acl_authz;
struct api_query_exec {
    /* in */
    const char *name_or_id;
    const char *agent_node; /* this agent's node name, for "_agent" */
    const char *near;       /* the request's ?near=, or NULL */
    size_t limit;
    uint64_t rng; /* shuffle seed, advanced (xorshift64; 0 = no shuffle) */
    /* ACLs (NULL = none): called once the query is found with its captured
     * Token ("" = none); sets *z to the authorizer whose node:read and
     * service:read filter the instances (before the limit), a reference the
     * execution drops, or NULL for no filter; nonzero fails the execution
     * with that code (err "ACL not found" for CN_ENOTFOUND). */
    int (*acl)(void *arg, const char *query_token, struct acl_authz **z);
    void *acl_arg;
    bool filtered; /* out: the ACL filter dropped an instance */
    /* out: instances borrowed from st (valid until its next change); the
     * array and strings are owned (api_query_exec_free) */
    const struct state_service **inst;
    size_t ninst;
    char *service; /* the (rendered) service name */
    char *dns_ttl; /* DNS.TTL as given ("" = none) */
    char *query_id;
};
/* 0; CN_ENOTFOUND (err "Query not found": no such query); CN_EINVAL (a
 * template that does not render, err says why); CN_ENOMEM. On error x's
 * outputs are freed. */
int api_query_execute(const struct state *st, struct api_query_exec *x, char *err, size_t cap);
void api_query_exec_free(struct api_query_exec *x);

#endif
