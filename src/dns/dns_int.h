/* dns/dns_int.h: what the files of dns/ share. resolve.c is pure (state in,
 * message out); server.c and forward.c are the libuv shell around it. */
#ifndef CN_DNS_INT_H
#define CN_DNS_INT_H

#include "dns/dns.h"
#include "dns/wire.h"

struct state_service;
struct state_node;

struct dns__inst { /* one healthy instance of a lookup */
    const struct state_service *svc;
    const struct state_node *node;
    const char *addr; /* the service address, else the node's */
    uint16_t weight;
    uint8_t kind;   /* resolve.c's addr_kind of addr */
    uint8_t ip[16]; /* addr parsed, when an IP */
};

struct dns__target { /* an instance's SRV target */
    struct dns_name name;
    bool ok, is_node;
};

/* The healthy instances of one (service, tag) lookup, kept while the state
 * has not moved (its last applied index is the same): the pointers into the
 * state stay valid until the next apply (state/state.h), and a query that
 * repeats skips the catalog walk. */
#define DNS__CACHE 16
struct dns__cache_ent {
    const struct state *st;
    uint64_t index; /* state_last_index when filled; 0: empty */
    char name[64], tag[64];
    struct dns__inst *inst;
    size_t n, cap;
};

/* The resolver's configuration (its own copies) and its scratch, reused by
 * every query so the hot path allocates nothing once warmed up. */
#define DNS__DC_MAX 64

struct dns_resolver {
    struct dns_name domain, alt;
    bool has_alt;
    struct dns_name sfx[3][2]; /* "node|addr|service.DC.DOMAIN" for the domain, the alt */
    bool sfx_ok[3][2];
    char *dc;
    char *node_name;
    char *node_addr;
    uint32_t node_ttl;
    struct dns_service_ttl *service_ttl; /* names owned */
    size_t nservice_ttl;
    bool only_passing, order_by_weight, node_meta_txt, enable_truncate;
    unsigned udp_answer_limit;
    uint32_t soa_refresh, soa_retry, soa_expire, soa_min_ttl;
    bool recursors;            /* any configured: forward instead of REFUSED */
    dns_query_exec query_exec; /* prepared queries (NULL: none) */
    void *query_arg;
    bool dc_remote;             /* names of other datacenters are asked of them */
    char other_dc[DNS__DC_MAX]; /* DNS__OTHER_DC: the datacenter named */
    bool query_failover;        /* an empty prepared query with a Failover: DNS__QUERY_FAILOVER */
    bool query_any_dc; /* NAME.query.DC: any DC is this one (a definition sent by another) */
    char fo_key[DNS_NAME_MAX + 1]; /* DNS__QUERY_FAILOVER: the query's name or ID */
    bool (*acl_may)(void *arg, bool is_node, const char *name); /* NULL: all */
    uint64_t rng;
    struct dns__inst *inst;
    size_t ninst, capinst;
    struct dns__target *tgt; /* SRV targets, parallel to inst */
    size_t captgt;
    struct dns__cache_ent cache[DNS__CACHE];
    unsigned cache_next;
};

/* DNS__OTHER_DC: a service, node or prepared query of another datacenter
 * (r->other_dc), to be asked of it (dcremote.c). DNS__QUERY_FAILOVER: a
 * prepared query (r->fo_key) with no instance here and a Failover (the
 * agent's query_exec says so; r->query_failover set): the other
 * datacenters are asked (dcremote.c). */
enum dns__action { DNS__ANSWER = 0, DNS__FORWARD = 1, DNS__OTHER_DC = 2, DNS__QUERY_FAILOVER = 3 };

/* Copy what the resolver needs from o. 0, CN_EINVAL (bad domain: err) or
 * CN_ENOMEM. */
int dns__resolver_init(struct dns_resolver *r, const struct dns_options *o, uint64_t seed,
                       char *err, size_t errcap);
void dns__resolver_free(struct dns_resolver *r);

/* Answer q into buf (cap bytes, the message at most `limit`) from st.
 * `small_udp`: a UDP query without EDNS, where udp_answer_limit applies.
 * `serial`: the SOA serial (the caller's clock, Unix seconds). Returns the
 * message length with *action = DNS__ANSWER, or 0 with *action =
 * DNS__FORWARD when the query belongs to the recursors, DNS__OTHER_DC when
 * it names a service, node or query of another datacenter (r->dc_remote
 * set), or DNS__QUERY_FAILOVER (see above). */
size_t dns__resolve(struct dns_resolver *r, const struct state *st, const struct dns_query *q,
                    uint8_t *buf, size_t cap, size_t limit, bool small_udp, uint32_t serial,
                    int *action);

#endif

/* ---- the shell (server.c, forward.c) ------------------------------------------- */

struct dns__conn;
struct dns__fwd;
struct dns__rq;
struct dns__dcq;
struct sreq;

#define DNS__MAX_RECURSORS 8
#define DNS__UDP_BATCH 16 /* datagrams per recvmmsg */

struct dns_server {
    uv_loop_t *loop;
    uv_udp_t udp;
    uv_tcp_t tcp;
    bool udp_open, tcp_open;
    struct dns_resolver res;
    struct state *(*state)(void *arg);
    uint64_t (*last_contact_ms)(void *arg);
    uint64_t max_stale_ms;
    void *state_arg;
    /* metrics: consul.dns.domain_query / ptr_query {node} (NULL: off) */
    struct mx_series *mx_domain, *mx_ptr;
    struct sockaddr_storage rec[DNS__MAX_RECURSORS];
    size_t nrec;
    uint32_t rec_timeout_ms;
    uint32_t tcp_idle_ms, tcp_read_ms;
    struct dns__conn *conns; /* open TCP connections (a list) */
    size_t nconns;
    struct dns__fwd *fwds; /* forwards in flight */
    size_t nfwds;
    /* remote.c: a client agent's queries, resolved by a server */
    int (*remote)(void *arg, const char *body, size_t len, void *query, uint64_t *handle);
    void (*remote_cancel)(void *arg, uint64_t handle);
    void *remote_arg;
    uint32_t remote_timeout_ms;
    char *remote_opts;   /* the "Options" object of every request (JSON) */
    struct dns__rq *rqs; /* in flight */
    size_t nrqs;
    struct dns__dcq *dcqs; /* questions to other datacenters in flight (dcremote.c) */
    dns_dc_remote_fn dc_remote;
    dns_dc_cancel_fn dc_cancel;
    void *dc_arg;
    dns_query_failover_fn query_failover;
    dns_dc_cancel_fn qf_cancel;
    void *qf_arg;
    uint16_t next_id;
    int port;
    int pending_close; /* handles whose close callback has not run */
    bool stopping;
    void (*done)(void *arg);
    void *done_arg;
    bool rbuf_busy;
    bool in_batch;          /* answering a recvmmsg slice: queue, sendmmsg follows */
    struct sreq *sreq_free; /* server.c's pool of UDP send requests */
    void *sreq_pool;
    uint8_t *rbuf; /* the UDP receive buffer: DNS__UDP_BATCH slices of 64 KiB */
    size_t rbuf_len;
    uint8_t wbuf[DNS_TCP_MAX + 2]; /* every answer is written here first */
};

/* forward.c: send q (len bytes, as the client sent it) to the recursors and
 * answer the client with what comes back (its id restored), or SERVFAIL.
 * The client is a UDP address (addr) or a TCP connection (conn, addr NULL). */
void dns__forward(struct dns_server *s, const uint8_t *q, size_t len, const struct sockaddr *addr,
                  struct dns__conn *conn);
/* The connection closes: forwards for it answer nobody. */
void dns__forward_detach(struct dns_server *s, struct dns__conn *conn);
/* Stop every forward (dns_server_stop). */
void dns__forward_stop_all(struct dns_server *s);

/* remote.c (a client agent): the "Options" JSON of o (cn_malloc'ed into
 * *out), 0 or CN_ENOMEM; send q to a server and answer the client with what
 * it resolved (or forward to the recursors, or SERVFAIL); a closing TCP
 * connection; stop everything in flight. */
int dns__remote_opts(const struct dns_options *o, char **out);
void dns__remote(struct dns_server *s, const uint8_t *msg, size_t len, const struct dns_query *q,
                 const struct sockaddr *addr, struct dns__conn *conn);
void dns__remote_detach(struct dns_server *s, struct dns__conn *conn);
void dns__remote_stop_all(struct dns_server *s);
/* dcremote.c: ask datacenter dc (through the agent's dns_options.dc_remote) and
 * answer the client with what it answers (SERVFAIL on failure). */
void dns__dc_ask(struct dns_server *s, const char *dc, const uint8_t *q, size_t len, size_t limit,
                 bool small_udp, const struct sockaddr *addr, struct dns__conn *conn);
/* dcremote.c: a prepared query's failover (r->fo_key) through the agent's
 * dns_options.query_failover; answered as dns__dc_ask does. */
void dns__qf_ask(struct dns_server *s, const char *key, const uint8_t *q, size_t len, size_t limit,
                 bool small_udp, const struct sockaddr *addr, struct dns__conn *conn);
/* The connection closes: its questions answer nobody. */
void dns__dc_detach(struct dns_server *s, struct dns__conn *conn);
/* Cancel every question in flight (dns_server_stop). */
void dns__dc_stop_all(struct dns_server *s);

/* server.c: send an answer to a client (UDP address or TCP connection). */
void dns__reply(struct dns_server *s, const uint8_t *msg, size_t len, const struct sockaddr *addr,
                struct dns__conn *conn);
/* A handle of s closed (the stop sequence counts them). */
void dns__handle_closed(struct dns_server *s);
