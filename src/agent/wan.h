/* agent/wan.h: WAN federation on a server (Consul's WAN Serf pool and its
 * router): a second gossip pool (gossip/net.h) of every datacenter's
 * servers on the serf_wan port (8302) with memberlist's WAN timings, members
 * named NODE.DC and tagged with their datacenter, role and RPC port; its
 * joins (-join-wan once, -retry-join-wan until one answers); and the routes
 * to other datacenters (api/api.h's api_wan): per datacenter one
 * client-mode srv (server/server.h, the client agents' transport and server
 * manager) dialing that datacenter's alive servers, through which
 * ?dc= requests are forwarded. The routing table itself is pure
 * (agent/wan_table.h). */
#ifndef CN_AGENT_WAN_H
#define CN_AGENT_WAN_H

#include <stdbool.h>

#include <uv.h>

#include "agent/config.h"
#include "api/api.h"
#include "gossip/net.h"

struct ssl_ctx_st;
struct agent_wan;

struct agent_wan_options {
    const struct agent_config *cfg;
    const char *node_id;
    const char *advertise;
    int server_port; /* this server's RPC port (the port tag) */
    /* server RPC TLS, as the agent's own transport dials */
    struct ssl_ctx_st *tls;
    bool tls_outgoing;
    bool tls_verify_hostname;    /* then server.<remote dc>.<domain> */
    void (*on_fatal)(void *arg); /* -join-wan: none of the addresses answered */
    void *fatal_arg;
    /* The LAN pool (NULL: none): its servers of this datacenter are joined
     * into the WAN pool (Consul's flood joiner), on each LAN server event
     * and every WAN_FLOOD_MS. */
    struct gossip_net *lan;
};

/* How long a request to another datacenter waits for one of its servers to
 * take it before 500 "No path to datacenter" (the client-mode srv's hold). */
#define AGENT_WAN_HOLD_MS 2000
/* A new route's first requests wait as Consul's rpc_hold_timeout does: a SYN
 * or hello lost on a lossy link is resent within it. */
#define AGENT_WAN_HOLD_FIRST_MS 7000

/* NULL with *rc = 0 when there is no WAN pool (a client agent, -dev,
 * serf_wan -1, or serf_lan -1: no gossip at all); NULL with *rc < 0 and err on failure. */
struct agent_wan *agent_wan_start(uv_loop_t *loop, const struct agent_wan_options *o, int *rc,
                                  char *err, size_t errcap);
/* Close the pool and every route (requests in flight fail with
 * CN_ESHUTDOWN). NULL ok. */
void agent_wan_stop(struct agent_wan *w);
struct gossip_net *agent_wan_net(struct agent_wan *w); /* NULL ok -> NULL */
/* Graceful leave of the WAN pool: cb once announced (or after 2 s). NULL w:
 * cb at once. */
void agent_wan_leave(struct agent_wan *w, void (*cb)(void *arg), void *arg);
/* dns_options.dc_remote / dc_cancel (arg: the agent_wan): a DNS query for
 * another datacenter sent over its route as POST /v1/internal/dns.
 * CN_ENOTFOUND: a datacenter the WAN pool does not know. */
int agent_wan_dns_remote(void *arg, const char *dc, const uint8_t *q, size_t len, size_t limit,
                         bool small_udp,
                         void (*done)(void *ctx, int rc, const uint8_t *answer, size_t n),
                         void *ctx, uint64_t *handle);
void agent_wan_dns_cancel(void *arg, uint64_t handle);
/* The router for api_set_wan (w may be NULL: no other datacenter). */
void agent_wan_api(struct agent_wan *w, struct api_wan *out);

#endif
