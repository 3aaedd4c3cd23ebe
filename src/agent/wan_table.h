/* agent/wan_table.h: the routing table of other datacenters, pure: which
 * WAN gossip members are servers of which datacenter (Consul's WAN Serf tags:
 * role=consul, dc, port; member names NODE.DC), which of them are alive, and
 * the order datacenters are listed and tried in (wan_datacenters). No I/O,
 * no clock: agent/wan.c feeds it the WAN pool's members. */
#ifndef CN_AGENT_WAN_TABLE_H
#define CN_AGENT_WAN_TABLE_H

#include <stdbool.h>
#include <stddef.h>

#include "gossip/gossip.h"

#define WAN_DC_MAX 64 /* a datacenter name's bytes, NUL included */

struct wan_server {
    char node[GOSSIP_NAME_MAX + 1]; /* NODE of NODE.DC */
    char dc[WAN_DC_MAX];
    char addr[GOSSIP_HOST_MAX + 8]; /* "host:port" of its server RPC port */
    bool alive;                     /* alive or suspect (Serf shows a suspect alive) */
    bool left;                      /* left (gracefully or forced) */
    double rtt_s; /* estimated round trip from this server (WAN coordinates), < 0: unknown */
};

/* A WAN member as a server of a datacenter. 0, or CN_EINVAL when it is not
 * one: no role=consul tag, no dc tag, a name other than NODE.<its dc tag>,
 * or a port tag that is not 1..65535. */
int wan_server_of(const struct gossip_member *m, struct wan_server *out);

/* The datacenters known (a server in any state but left), `local` first
 * (always, even with no member), then by estimated round trip as Consul's
 * router.GetDatacentersByDistance: the median of the RTTs to a datacenter's
 * servers whose coordinate is known (sorted, the element at n/2); one with
 * none known goes after every known one; ties by name. Each once. This is
 * the one place that orders datacenters: /v1/catalog/datacenters lists them
 * so and prepared-query NearestN failover tries them so. Returns the count
 * (may exceed cap). */
size_t wan_datacenters(const struct wan_server *sv, size_t n, const char *local,
                       char (*out)[WAN_DC_MAX], size_t cap);

/* The RPC addresses of dc's alive servers (borrowed from sv), sorted.
 * Returns the count (may exceed cap). */
size_t wan_dc_servers(const struct wan_server *sv, size_t n, const char *dc, const char **addrs,
                      size_t cap);

/* Consul's flood joiner (router.FloodJoins): a LAN member that should be in
 * the WAN pool, joined there by this server. 0 with *wan_name = NODE.DC and
 * *addr = "host:port" of its WAN gossip port (its LAN address and its
 * wan_join_port tag), when it is alive (or suspect), a server (role=consul)
 * of local_dc and tags a wan_join_port of 1..65535; CN_EINVAL otherwise. */
int wan_flood_target(const struct gossip_member *lan_m, const char *local_dc, char *wan_name,
                     size_t namecap, char *addr, size_t addrcap);

/* Is dc known at all (a server in any state but left)? */
bool wan_dc_known(const struct wan_server *sv, size_t n, const char *dc);

#endif
