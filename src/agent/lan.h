/* agent/lan.h: the agent's LAN gossip pool (gossip/net.h): its tags, joins
 * (-join once at start, -retry-join until one answers), the servers found
 * through gossip handed to the server's Raft discovery (srv_join), and the
 * leader's reconciliation of members into the catalog (agent/reconcile.c). */
#ifndef CN_AGENT_LAN_H
#define CN_AGENT_LAN_H

#include <stdbool.h>

#include <uv.h>

#include "agent/config.h"
#include "gossip/net.h"
#include "server/server.h"

struct agent_lan;

struct agent_lan_options {
    const struct agent_config *cfg;
    struct srv *srv; /* the server (NULL on a client agent) */
    const char *node_id;
    const char *advertise;
    int server_port;             /* the RPC port the server listens on */
    void (*on_fatal)(void *arg); /* -join: none of the addresses answered */
    void *fatal_arg;
};

/* NULL with *rc = 0 when gossip is disabled (-serf-lan-port=-1 or -dev);
 * NULL with *rc < 0 and err on failure. */
/* A pool's keyring at start (Consul's setupBaseKeyrings): `encrypt` and/or
 * DATA_DIR/<file> ("serf/local.keyring", "serf/remote.keyring"); *path gets
 * the file kept ("" none). pool names the pool in log lines ("LAN", "WAN"). */
int agent_gossip_keyring(const struct agent_config *c, const char *file, const char *pool,
                         struct gossip_keyring *kr, char *path, size_t pathcap, char *err,
                         size_t errcap);

/* What differs between the LAN and the WAN pool when one starts. */
struct agent_pool {
    const char *pool;         /* "LAN", "WAN": log lines and errors */
    const char *knobs;        /* "gossip_lan", "gossip_wan": the timings' config block */
    const char *keyring_file; /* GOSSIP_KEYRING_PATH, GOSSIP_WAN_KEYRING_PATH */
    const char *bind;
    int port;
    const char *advertise, *node_name, *cluster;
    const uint8_t *tags;
    size_t tags_len;
    int64_t gossip_nodes, retransmit_mult, suspicion_mult;
    const char *gossip_interval, *probe_interval, *probe_timeout; /* Go durations */
    struct gossip_config tune; /* the rest: gossip_config_default and the pool's own */
};

/* Start a pool: its keyring (agent_gossip_keyring, encrypt_verify_*), its
 * timings (each at least 1 ms, else CN_EINVAL), gossip_net_start. 0 and
 * *out, *nkeys (the keyring's size); or an error code with err set. */
int agent_gossip_open(uv_loop_t *loop, const struct agent_config *c, struct agent_pool *p,
                      struct gossip_net **out, size_t *nkeys, char *err, size_t errcap);

struct agent_lan *agent_lan_start(uv_loop_t *loop, const struct agent_lan_options *o, int *rc,
                                  char *err, size_t errcap);
void agent_lan_stop(struct agent_lan *l);              /* NULL ok */
struct gossip_net *agent_lan_net(struct agent_lan *l); /* NULL ok -> NULL */
/* Graceful leave: cb once it was announced (or after 2 s). NULL l: cb at once. */
void agent_lan_leave(struct agent_lan *l, void (*cb)(void *arg), void *arg);

/* agent/reconcile.c: on the leader, gossip members into the catalog (Consul's
 * leader.go reconcileMember): alive -> node with serfHealth passing,
 * failed -> serfHealth critical (sessions on it invalidated by the state),
 * left/reaped -> node deregistered; everything again on becoming leader and
 * every 60 s. */
struct agent_reconcile;
struct agent_reconcile *agent_reconcile_start(uv_loop_t *loop, struct srv *srv,
                                              struct gossip_net *net, const char *self_node);
void agent_reconcile_stop(struct agent_reconcile *r); /* NULL ok */

#endif
