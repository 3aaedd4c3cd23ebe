/* dns/dns.h: Consul's DNS interface (website/content/docs/services/discovery/
 * dns-static-lookups.mdx) over UDP and TCP on the agent's loop.
 *
 * Answers come from the local state (the agent's replica: stale reads, as
 * Consul's default allow_stale), through a getter the agent hands in, so dns/
 * depends on state/ and base/ only. Names outside the domain are refused, or
 * forwarded to the configured recursors. The module owns its sockets and
 * frees everything in dns_server_stop. docs/dns.md describes the behaviour. */
#ifndef CN_DNS_H
#define CN_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct state;
struct state_service;
struct dns_server;
struct cn_buf;

/* A prepared query's execution (NAME.query[.DC].DOMAIN): the instances its
 * filters kept (OnlyPassing, IgnoreCheckIDs, Tags, NodeMeta, ServiceMeta),
 * in its order, borrowed from the state for the duration of the visit. */
struct dns_query_answer {
    const char *service; /* the query's (rendered) service name */
    const char *ttl;     /* its DNS.TTL as written ("" = none: service_ttl applies) */
    const struct state_service *const *inst;
    size_t ninst;
    /* The query has a Failover with a datacenter to try (NearestN or
     * Datacenters) and this agent can reach other datacenters: with no
     * instance the answer comes from dns_options.query_failover. */
    bool failover;
};
typedef void (*dns_query_visit)(void *varg, const struct dns_query_answer *a);
/* Execute prepared query `name_or_id` over st and call visit once with the
 * result before returning. Returns 0 (visited), CN_ENOTFOUND (no such query:
 * NXDOMAIN), anything else (SERVFAIL). The definition's decoding and its
 * templates live in api/, above dns/, so the agent hands this in (as it
 * hands the state getter): dns/ never includes api/. */
typedef int (*dns_query_exec)(void *arg, const struct state *st, const char *name_or_id,
                              dns_query_visit visit, void *varg);

/* Names of another datacenter (SERVICE.service.DC.DOMAIN, NODE.node.DC.DOMAIN)
 * are asked of that datacenter: the agent sends the query as the client sent
 * it over its WAN route, and that datacenter's DNS interface answers it from
 * its state (dns_server_answer, with `limit` and `small_udp` as here). 0 and
 * *handle, then done(ctx, 0, answer, n) or done(ctx, rc, NULL, 0) (SERVFAIL)
 * exactly once, later, unless cancelled (then never); or CN_ENOTFOUND at
 * once: no such datacenter (NXDOMAIN), another code: SERVFAIL. */
typedef void (*dns_dc_done)(void *ctx, int rc, const uint8_t *answer, size_t n);
typedef int (*dns_dc_remote_fn)(void *arg, const char *dc, const uint8_t *q, size_t len,
                                size_t limit, bool small_udp, dns_dc_done done, void *ctx,
                                uint64_t *handle);
typedef void (*dns_dc_cancel_fn)(void *arg, uint64_t handle);

/* A prepared query with no instance here and a Failover (its
 * dns_query_answer.failover): the agent tries the query's datacenters in
 * Consul's order (api/query_failover.c), each answering the query message q
 * (as the client sent it, `limit`, `small_udp`) from the definition this
 * datacenter sends (dns_server_answer_exec there), and calls done as
 * dns_dc_remote_fn does with the first answer that is not NXDOMAIN, or
 * done(ctx, CN_ENOTFOUND, NULL, 0) when none has instances (then this
 * server's own NXDOMAIN is given). Returns 0 and *handle, CN_ENOTFOUND at
 * once (nothing to try: NXDOMAIN here), or another code (SERVFAIL). */
typedef int (*dns_query_failover_fn)(void *arg, const char *name_or_id, const uint8_t *q,
                                     size_t len, size_t limit, bool small_udp, dns_dc_done done,
                                     void *ctx, uint64_t *handle);

/* dns_config.service_ttl: a name, or a prefix ending in '*' ("*" = all). */
struct dns_service_ttl {
    const char *name;
    uint32_t ttl;
};

struct dns_options {
    const char *host;       /* an IPv4 or IPv6 literal */
    int port;               /* 0: any free port (tests) */
    const char *domain;     /* "consul." */
    const char *alt_domain; /* NULL or "" for none */
    const char *datacenter;
    const char *node_name; /* this agent: the NS record's target */
    const char *node_addr;
    uint32_t node_ttl; /* seconds */
    const struct dns_service_ttl *service_ttl;
    size_t nservice_ttl;
    bool only_passing;
    bool order_by_weight;      /* cairn: SRV/A answers by descending weight, not shuffled */
    bool node_meta_txt;        /* TXT node meta in the additional section */
    unsigned udp_answer_limit; /* 0: none; else non-EDNS UDP answers keep this many */
    bool enable_truncate;      /* TC also when udp_answer_limit trimmed */
    uint32_t soa_refresh, soa_retry, soa_expire, soa_min_ttl;
    const char *const *recursors; /* "ip" or "ip:port" */
    size_t nrecursors;
    uint32_t recursor_timeout_ms;
    uint32_t tcp_idle_ms; /* between queries on a TCP connection */
    uint32_t tcp_read_ms; /* to receive the rest of a query once it started */
    /* dns_config.max_stale: when last_contact_ms (ms since this server last
     * heard from a leader, 0 on the leader) passes max_stale_ms, answers
     * are SERVFAIL instead of possibly stale. 0 / NULL: no bound. */
    uint64_t max_stale_ms;
    uint64_t (*last_contact_ms)(void *arg);
    struct state *(*state)(void *arg); /* both called with state_arg */
    void *state_arg;
    /* Prepared queries; NULL: .query. names are NXDOMAIN. */
    dns_query_exec query_exec;
    void *query_arg;
    /* ACLs (Consul: DNS answers with the agent's default token): may a
     * service (is_node false) or node be shown? NULL: everything. Called
     * with query_arg. */
    bool (*acl_may)(void *arg, bool is_node, const char *name);
    /* A client agent (no replicated state): when `remote` is set, `state`,
     * `last_contact_ms`, `query_exec` and `acl_may` are unused and every
     * query is resolved by a server (dns/remote.c): remote(remote_arg, body,
     * len, query, &handle) sends the request body (dns_remote_answer's
     * input) to one and calls dns_remote_done(query, ...) once with its
     * answer, unless remote_cancel(remote_arg, handle) ran first. remote
     * returns 0, or an error (dns_remote_done never called: the query is
     * answered SERVFAIL). No answer within remote_timeout_ms (0: 2000) is
     * SERVFAIL too. */
    int (*remote)(void *arg, const char *body, size_t len, void *query, uint64_t *handle);
    void (*remote_cancel)(void *arg, uint64_t handle);
    void *remote_arg;
    uint32_t remote_timeout_ms;
    /* Other datacenters (NULL: their names are NXDOMAIN); dc_arg. */
    dns_dc_remote_fn dc_remote;
    dns_dc_cancel_fn dc_cancel;
    void *dc_arg;
    /* Prepared-query failover to other datacenters (NULL: an empty query
     * is NXDOMAIN); query_failover_cancel and qf_arg as dc_cancel/dc_arg. */
    dns_query_failover_fn query_failover;
    dns_dc_cancel_fn query_failover_cancel;
    void *qf_arg;
};

/* The server's answer to a remote query: rc 0 and the HTTP status and body
 * of POST /v1/internal/cairn/dns (200: the message; 204: for the
 * recursors), or rc != 0 (no answer: SERVFAIL). msg is borrowed. */
void dns_remote_done(void *query, int rc, int status, const void *msg, size_t len);

/* ---- a client agent's query, resolved on a server (dns/remote.c) ---------------------
 * The request body is JSON: the query message (base64), how it came (UDP
 * without EDNS, the answer's size limit) and the asking agent's resolver
 * options, so the answer is the one the client's own configuration gives:
 *   {"Query":"<base64>","SmallUDP":bool,"Limit":n,"Options":{"Domain":..,
 *    "AltDomain":..,"Datacenter":..,"NodeName":..,"NodeAddr":..,"NodeTTL":n,
 *    "ServiceTTL":[{"Name":..,"TTL":n}],"OnlyPassing":b,"OrderByWeight":b,
 *    "NodeMetaTXT":b,"UDPAnswerLimit":n,"EnableTruncate":b,"SOARefresh":n,
 *    "SOARetry":n,"SOAExpire":n,"SOAMinTTL":n,"Recursors":b,"MaxStaleMs":n}}
 * Unknown keys are refused. */
#define DNS_REMOTE_KEY_MAX 256
#define DNS_REMOTE_QUERY_MAX 1024
struct dns_remote_failover;
struct dns_remote_env { /* the server's side of the resolution */
    const struct state *st;
    uint64_t last_contact_ms; /* ms since this server heard from a leader */
    uint64_t seed;            /* shuffling */
    uint32_t serial;          /* SOA serial (Unix seconds) */
    /* Prepared queries, as dns_query_exec with the asking agent's node name
     * (a query's Near "_agent"); NULL: .query. names are NXDOMAIN. */
    int (*query_exec)(void *arg, const struct state *st, const char *agent_node,
                      const char *name_or_id, dns_query_visit visit, void *varg);
    void *query_arg;                                            /* also acl_may's */
    bool (*acl_may)(void *arg, bool is_node, const char *name); /* NULL: all */
    /* NULL: an empty prepared query is NXDOMAIN and names of other
     * datacenters too; else one with a Failover
     * (dns_query_answer.failover) gives DNS_REMOTE_FAILOVER with this
     * filled: the server then asks other datacenters (dns_query_failover_fn's
     * contract) and, when none has instances, answers again without it. */
    struct dns_remote_failover *failover;
};
struct dns_remote_failover {
    /* false: key is the prepared query's name or ID (its Failover); true:
     * key is the datacenter the name is of (DNS__OTHER_DC), asked the query
     * over its WAN route */
    bool other_dc;
    char key[DNS_REMOTE_KEY_MAX];
    uint8_t q[DNS_REMOTE_QUERY_MAX]; /* the client's query message */
    size_t qlen;
    size_t limit; /* the answer's size limit */
    bool small_udp;
};
enum dns_remote_result {
    DNS_REMOTE_ANSWER = 0,   /* out holds the answer message */
    DNS_REMOTE_FORWARD = 1,  /* the name is for the client's recursors */
    DNS_REMOTE_FAILOVER = 2, /* env->failover filled: ask other datacenters */
    DNS_REMOTE_OTHER_DC = 3, /* env->failover filled (other_dc): ask that one */
};
/* Resolve a client's request. Returns DNS_REMOTE_ANSWER,
 * DNS_REMOTE_FORWARD, DNS_REMOTE_FAILOVER or DNS_REMOTE_OTHER_DC (only with
 * env->failover), CN_EINVAL (a bad request: err says why) or
 * CN_ENOMEM. A query the resolver cannot answer (or a max_stale passed)
 * is answered SERVFAIL in out, as the client's own DNS would. */
int dns_remote_answer(const void *body, size_t len, const struct dns_remote_env *env,
                      struct cn_buf *out, char *err, size_t errcap);

/* Bind UDP and TCP on host:port and start answering. Strings of o are
 * copied. Returns 0, CN_EINVAL (a bad option: err says which) or CN_EIO
 * (cannot bind: err has the reason); nothing is left open on error. */
int dns_server_start(uv_loop_t *loop, const struct dns_options *o, struct dns_server **out,
                     char *err, size_t errcap);
/* Answer a query (as a client sent it) from this server's state, as a
 * client of another datacenter's agent asked it (dns_options.dc_remote): the
 * message at most `limit` bytes, udp_answer_limit applied when small_udp.
 * Names this server would forward (recursors, another datacenter) answer
 * SERVFAIL. Returns the answer's length (0: not a query: nothing to say). */
size_t dns_server_answer(struct dns_server *s, const uint8_t *q, size_t len, size_t limit,
                         bool small_udp, uint8_t *out, size_t cap);
/* dns_server_answer, and for a prepared query of this datacenter with a
 * Failover and no instance here (when this server can fail over): 0 with
 * its name or ID in fo_key (fo_cap > 0; fo_key "" otherwise), for the
 * caller to run the failover (dns_options.query_failover's work). */
size_t dns_server_answer_fo(struct dns_server *s, const uint8_t *q, size_t len, size_t limit,
                            bool small_udp, char *fo_key, size_t fo_cap, uint8_t *out, size_t cap);
/* As dns_server_answer, but prepared queries (NAME.query[.DC].DOMAIN, any DC
 * taken as this one) are executed by exec (another datacenter's failover
 * sends its definition: exec runs it here), and an empty one is NXDOMAIN
 * (no failover from here: Consul's ExecuteRemote fails over no further). */
size_t dns_server_answer_exec(struct dns_server *s, const uint8_t *q, size_t len, size_t limit,
                              bool small_udp, dns_query_exec exec, void *exec_arg, uint8_t *out,
                              size_t cap);
/* The bound port (the UDP one; TCP is bound to the same). */
int dns_server_port(const struct dns_server *s);
/* Close every socket, connection and forward; `done` (may be NULL) runs once
 * all handles are closed and s is freed. */
void dns_server_stop(struct dns_server *s, void (*done)(void *arg), void *arg);

#endif
